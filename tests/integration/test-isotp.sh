#!/bin/bash
# Our frames over the kernel's ISO-TP stack: the transfer engines on two
# ISO-TP sockets on one vcan interface (tests/tools/umc-isotp-xfer), each
# frame one PDU. Probes the kernel's largest PDU, delivers a 64 KiB image
# over classic ISO-TP (with padding) and a 256 KiB image over CAN FD
# ISO-TP (64-byte frames, BRS), byte-identical, and checks that a tampered
# PDU injected on the bus with isotpsend (can-utils) is rejected.
#
# Sizes are small on purpose: under emulation the guest moves about
# 28 kB/s over classic ISO-TP and about 260 kB/s over CAN FD.
#
# Needs a kernel with vcan and CAN_ISOTP: where the running one has none,
# the test runs itself in a guest through tests/vm/run (which sets UMC_VM).
HERE=$(dirname "$(readlink -f "$0")")
if [ -z "${UMC_VM:-}" ]; then
        exec "$HERE/../vm/run" --need can --timeout 400 "$HERE/test-isotp.sh" "$@"
fi
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"

# shellcheck disable=SC2034 # read by lib.sh
ITEST_NAME=isotp
XFER=$BUILD/tests/tools/umc-isotp-xfer
IF="umcvc${ITEST_TAG}"
IF=${IF:0:15} # IFNAMSIZ - 1

[ "$(id -u)" -eq 0 ] || itest_die "must run as root (creates a vcan interface)"
[ -x "$XFER" ] || itest_die "missing $XFER: run make tools first"
command -v isotpsend >/dev/null || itest_die "isotpsend is missing: install can-utils"

D=$(mktemp -d /tmp/umc-itest-isotp-XXXXXX)
cleanup() {
        ip link del "$IF" 2>/dev/null || true
        rm -rf "$D"
}
trap cleanup EXIT

ip link add dev "$IF" type vcan || itest_die "cannot create vcan interface $IF"
ip link set "$IF" mtu 72 # CAN FD frames
ip link set "$IF" up
itest_check "$IF is a CAN FD capable vcan interface" \
        sh -c "ip -d link show '$IF' | grep -q 'mtu 72' && ip -d link show '$IF' | grep -qw vcan"

# The running kernel's largest PDU (test traffic on the scratch interface).
probe() {
        "$XFER" probe "$IF" >"$D/probe" 2>&1 || return 1
        cat "$D/probe"
        grep -q '^max PDU [0-9]* bytes' "$D/probe"
}
itest_check "the kernel's largest ISO-TP PDU is probed ($(uname -r))" probe
MAXPDU=$(sed -n 's/^max PDU \([0-9]*\) bytes.*/\1/p' "$D/probe")
MAXPDU=${MAXPDU:-4095}

deliver() { # NAME KIB [OPTIONS...]
        local name=$1 kib=$2
        shift 2
        head -c $((kib * 1024)) /dev/urandom >"$D/$name.img"
        "$XFER" xfer "$IF" "$D/$name.img" "$D/$name.out" --max-pdu "$MAXPDU" "$@" \
                >"$D/$name.log" 2>&1 || { cat "$D/$name.log" >&2; return 1; }
        cat "$D/$name.log"
        cmp "$D/$name.img" "$D/$name.out"
}
itest_check "64 KiB over classic ISO-TP (padding 0xCC) arrives byte-identical" \
        deliver classic 64 --padding
FD_CHUNK=4000
[ "$MAXPDU" -lt 16200 ] || FD_CHUNK=16000
itest_check "256 KiB over CAN FD ISO-TP (64-byte frames, BRS) arrives byte-identical" \
        deliver fd 256 --fd --chunk "$FD_CHUNK"

# A tampered PDU on the bus: the tool stops before its 4th DATA frame and
# writes that frame with one ciphertext bit flipped; isotpsend injects it
# under the master's IDs. The receiver must drop it (anyone on the bus can
# send one: it changes nothing), and the transfer completes with the real
# frame, byte-identical.
tamper() {
        local pid rc=0 _
        head -c $((32 * 1024)) /dev/urandom >"$D/t.img"
        "$XFER" xfer "$IF" "$D/t.img" "$D/t.out" --max-pdu "$MAXPDU" \
                --tamper-at 3 --tamper-file "$D/t.hex" >"$D/t.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 300); do
                grep -q TAMPER-READY "$D/t.log" && break
                sleep 0.1
        done
        grep -q TAMPER-READY "$D/t.log" || { kill "$pid"; wait "$pid" || true; cat "$D/t.log" >&2; return 1; }
        isotpsend -s 7E0 -d 7E8 "$IF" <"$D/t.hex" || { kill "$pid"; wait "$pid" || true; return 1; }
        wait "$pid" || rc=$?
        cat "$D/t.log"
        [ "$rc" -eq 0 ] && grep -q 'receiver: dropped: frame authentication tag mismatch' "$D/t.log" &&
                cmp -s "$D/t.img" "$D/t.out"
}
itest_check "a tampered PDU injected with isotpsend is dropped (tag mismatch), the image arrives byte-identical" tamper

itest_summary
