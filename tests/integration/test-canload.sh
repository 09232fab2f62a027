#!/bin/bash
# The live CAN monitor (src/lib/link/canbus.c) on a real SocketCAN interface,
# next to can-utils canbusload: deterministic traffic from cangen (fixed
# IDs, lengths and incrementing data) on a vcan, both tools measuring the
# same frames, and the loads must agree within 1 percentage point in
# each stuffing mode (canbusload -i, its default worst case, -e) for
# 11-bit, 29-bit and mixed traffic (a burst of the same frames seen whole by
# both). Then the ID checks on the bus: an
# unlisted ID injected with cansend is CAN_ID_UNKNOWN, an ID sent at twice
# its nominal rate is CAN_RATE_HIGH. CAN FD frames with BRS and the own
# channel's bits are checked against hand-counted bits, and the monitor
# must ride out its interface going down and up.
#
# canbusload (can-utils 2020.11 here) prints per second and interface:
#   " IF@BITRATE FRAMES BITS PAYLOAD_BITS PERCENT%"
# with PERCENT truncated to an integer, so its mean is taken from BITS.
# It reads classic frames only, hence no CAN FD traffic in the comparison
# (tests/unit/test-busload.c checks the CAN FD bit counts of canbusload's
# model against its formulas).
#
# Needs vcan: where the running kernel has none, the test runs itself in a
# guest through tests/vm/run (which sets UMC_VM). About 60 s of guest time.
HERE=$(dirname "$(readlink -f "$0")")
if [ -z "${UMC_VM:-}" ]; then
        exec "$HERE/../vm/run" --need can --timeout 300 "$HERE/test-canload.sh" "$@"
fi
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"

# shellcheck disable=SC2034 # read by lib.sh
ITEST_NAME=canload
CANLOAD=$BUILD/tests/tools/umc-canload
IF="umccl${ITEST_TAG}"
IF=${IF:0:15} # IFNAMSIZ - 1
BITRATE=250000
SECONDS_PER_RUN=8
BURST=400 # frames per generator and comparison: 1.6 to 3.6 s at the gaps below

[ "$(id -u)" -eq 0 ] || itest_die "must run as root (creates a vcan interface)"
[ -x "$CANLOAD" ] || itest_die "missing $CANLOAD: run make tools first"
for t in canbusload cangen cansend; do
        command -v "$t" >/dev/null || itest_die "$t is missing: install can-utils"
done

D=$(mktemp -d /tmp/umc-itest-canload-XXXXXX)
PIDS=()
cleanup() {
        local p
        for p in "${PIDS[@]:-}"; do
                if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
        done
        ip link del "$IF" 2>/dev/null || true
        rm -rf "$D"
}
trap cleanup EXIT

ip link add dev "$IF" type vcan || itest_die "cannot create vcan interface $IF"
ip link set "$IF" mtu 72
ip link set "$IF" up

traffic_start() { # cangen arguments...
        cangen "$IF" "$@" &
        PIDS+=($!)
}
traffic_stop() {
        local p
        for p in "${PIDS[@]:-}"; do
                if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
        done
        for p in "${PIDS[@]:-}"; do
                if [ -n "$p" ]; then wait "$p" 2>/dev/null || true; fi
        done
        PIDS=()
}

# Mean of canbusload's per-second BITS as a percentage of the bitrate.
canbusload_mean() { # LOG
        awk -v br="$BITRATE" '$1 ~ /@/ { n++; bits += $3 }
                END { if (n == 0) exit 1; printf "%.2f\n", bits / n * 100 / br }' "$1"
}
frames_cb() { # LOG
        awk '$1 ~ /@/ { n++; f += $2 } END { if (n) printf "%.1f\n", f / n }' "$1"
}
frames_umc() { # LOG
        awk '$1 == "load" { n++; f += $4 } END { if (n) printf "%.1f\n", f / n }' "$1"
}
umc_mean() { # LOG
        sed -n 's/^mean load \([0-9.]*\)% .*/\1/p' "$1" | grep .
}

# One traffic mix, all three stuffing modes at once: 3 umc-canload and 3
# canbusload watch the bus from before a finite burst of frames (cangen -n)
# until after it, so both count exactly the same frames whatever rate the
# generators reach under emulation (it follows the CPU left to them, and
# windows that are not aligned would measure different seconds); both are
# stopped with SIGINT once the burst is over, never by a fixed duration that
# a loaded machine could outrun. The load of a tool is then its bits over
# SECONDS_PER_RUN, which must agree within 1 percentage point; the frame
# counts must be equal (nothing dropped).
compare() { # NAME "CANGEN ARGS"...
        local name=$1 m flag pids=() gens=() ok=0 cb um f_cb f_um i spec
        shift
        for m in ignore worst exact; do
                case $m in ignore) flag=-i ;; worst) flag=-w ;; exact) flag=-e ;; esac
                "$CANLOAD" $flag -m canbusload "$IF@$BITRATE" \
                        >"$D/$name.$m.umc" 2>"$D/$name.$m.umc.err" &
                pids+=($!)
        done
        for i in $(seq 1 200); do
                [ "$(cat "$D/$name".*.umc.err | grep -c ' bitrate ')" -eq 3 ] && break
                sleep 0.05
        done
        for m in ignore worst exact; do
                case $m in ignore) flag=-i ;; worst) flag= ;; exact) flag=-e ;; esac
                # shellcheck disable=SC2086 # no flag is canbusload's worst case
                canbusload $flag "$IF@$BITRATE" \
                        >"$D/$name.$m.cb" 2>&1 &
                pids+=($!)
        done
        sleep 1 # canbusload is reading
        for spec in "$@"; do
                # shellcheck disable=SC2086 # spec is a list of arguments
                cangen "$IF" $spec -n "$BURST" &
                gens+=($!)
        done
        for p in "${gens[@]}"; do wait "$p" || true; done
        # Both tools print whole windows of 1 s only: 2 s after the last
        # frame every frame is in a printed window, whatever the load of the
        # machine made of the burst's duration.
        sleep 2
        for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
        for p in "${pids[@]}"; do wait "$p" || true; done
        for m in ignore worst exact; do
                cb=$(awk '$1 ~ /@/ { b += $3 } END { print b + 0 }' "$D/$name.$m.cb")
                f_cb=$(awk '$1 ~ /@/ { f += $2 } END { print f + 0 }' "$D/$name.$m.cb")
                um=$(awk '$1 == "load" { b += $6 } END { print b + 0 }' "$D/$name.$m.umc")
                f_um=$(awk '$1 == "load" { f += $4 } END { print f + 0 }' "$D/$name.$m.umc")
                itest_log "$name, $m: canbusload $f_cb frames $cb bits, umc-canload $f_um frames $um bits over $SECONDS_PER_RUN s at $BITRATE bit/s"
                [ "${ITEST_VERBOSE:-0}" != 1 ] || cat "$D/$name.$m.cb" "$D/$name.$m.umc" >&2
                if ! awk -v a="$cb" -v b="$um" -v fa="$f_cb" -v fb="$f_um" -v n="$(($# * BURST))" \
                        -v t="$SECONDS_PER_RUN" -v br="$BITRATE" 'BEGIN {
                        d = (a - b) * 100 / (br * t); if (d < 0) d = -d
                        printf "  loads %.2f%% and %.2f%%, %d frames sent\n", a * 100 / (br * t), b * 100 / (br * t), n
                        exit !(d <= 1.0 && fa == n && fb == n) }' >&2; then
                        itest_log "$name, $m: the loads differ by more than 1 point, or frames were missed"
                        cat "$D/$name.$m.cb" "$D/$name.$m.umc" "$D/$name.$m.umc.err" >&2
                        ok=1
                fi
        done
        return $ok
}

itest_check "11-bit traffic: umc-canload agrees with canbusload within 1 point (-i, worst, -e)" \
        compare sff "-I 123 -L 8 -D i -g 4"
itest_check "29-bit traffic: umc-canload agrees with canbusload within 1 point (-i, worst, -e)" \
        compare eff "-e -I 18DAF110 -L 8 -D i -g 4"
itest_check "mixed traffic: umc-canload agrees with canbusload within 1 point (-i, worst, -e)" \
        compare mixed "-I 123 -L 8 -D i -g 6" "-e -I 18DAF110 -L 3 -D i -g 7" "-I 7E0 -L 1 -D i -g 9"

# CAN FD with BRS on the socket (canbusload 2020.11 reads no FD frames, so
# by hand): canbusload's model, ignore mode, 64 bytes is 562 bits of which
# 539 at the data bitrate, so each frame is 23 / 250000 + 539 / 1000000 of
# a second: 0.0631 % per frame per window.
fd_brs() {
        traffic_start -f -b -I 123 -L 64 -D i -g 10
        "$CANLOAD" -i -t 2 "$IF@$BITRATE,1000000" >"$D/fd.log" 2>&1 || true
        traffic_stop
        cat "$D/fd.log"
        awk '$1 == "load" { n++; p = $2 + 0
                if ($4 == 0 || $6 != $4 * 562) bad++
                d = p - $4 * 0.0631; if (d < 0) d = -d; if (d > 0.006) bad++ }
             END { exit !(n == 2 && bad == 0) }' "$D/fd.log"
}
itest_check "CAN FD frames with BRS count 562 bits, 539 of them at the data bitrate" fd_brs

# Own channel: 7E0/7E8 registered, 100 is someone else's (8 bytes, 111 bits ignoring stuffing).
own_channel() {
        traffic_start -I 7E0 -L 8 -D i -g 10
        traffic_start -I 7E8 -L 3 -D i -g 10
        traffic_start -I 100 -L 8 -D i -g 10
        "$CANLOAD" -i -o 7E0:7E8 -t 2 "$IF@$BITRATE" >"$D/own.log" 2>&1 || true
        traffic_stop
        cat "$D/own.log"
        awk '$1 == "load" { n++
                if ($10 == 0 || $8 >= $6 || $6 - $8 != ($4 - $10) * 111) bad++ }
             END { exit !(n == 2 && bad == 0) }' "$D/own.log"
}
itest_check "bits of the registered own channel are summed apart from other traffic" own_channel

# The interface goes down and up under the monitor: the read says so
# (ENETDOWN), the socket stays bound, windows go on and frames come back.
down_up() {
        local pid
        traffic_start -I 123 -L 8 -D i -g 10
        "$CANLOAD" -i -t 4 "$IF@$BITRATE" >"$D/down.log" 2>&1 &
        pid=$!
        sleep 1.3
        ip link set "$IF" down
        traffic_stop # cangen gives up on a network that is down
        sleep 0.5
        ip link set "$IF" up
        traffic_start -I 123 -L 8 -D i -g 10
        wait "$pid" || true
        traffic_stop
        cat "$D/down.log"
        grep -q 'went down, waiting for it' "$D/down.log" &&
                [ "$(grep -c '^load' "$D/down.log")" -eq 4 ] &&
                tail -n 2 "$D/down.log" | grep -q '^load .* frames [1-9]'
}
itest_check "the monitor survives its interface going down and up (ENETDOWN)" down_up

# An unlisted ID: 123 is listed (aperiodic), 555 is injected once.
unknown_id() {
        local pid
        traffic_start -I 123 -L 8 -D i -g 10
        "$CANLOAD" -t 3 -c 123 "$IF@$BITRATE" >"$D/unknown.log" 2>&1 &
        pid=$!
        sleep 1.5
        cansend "$IF" 555#DEADBEEF
        wait "$pid" || true
        traffic_stop
        cat "$D/unknown.log"
        grep -q '^load .* verdict CAN_ID_UNKNOWN id 555 ' "$D/unknown.log" &&
                [ "$(grep -c 'verdict CAN_ID_UNKNOWN' "$D/unknown.log")" -eq 1 ] &&
                grep -q '^load .* verdict OK' "$D/unknown.log"
}
itest_check "an ID injected with cansend and not on the whitelist is CAN_ID_UNKNOWN" unknown_id

# Twice the nominal rate: 124 listed with a 20 ms period, sent every 10 ms.
rate_high() {
        traffic_start -I 124 -L 8 -D i -g 10
        "$CANLOAD" -t 3 -c 124:20 "$IF@$BITRATE" >"$D/rate.log" 2>&1 || true
        traffic_stop
        cat "$D/rate.log"
        grep -q '^load .* verdict CAN_RATE_HIGH id 124 nominal 20000us' "$D/rate.log" &&
                ! grep -q 'verdict CAN_ID_UNKNOWN\|verdict CAN_RATE_LOW' "$D/rate.log"
}
itest_check "an ID sent at twice its nominal rate (cangen -g 10, period 20 ms) is CAN_RATE_HIGH" rate_high

itest_summary
