#!/bin/bash
# The CAN channel end to end, on a real kernel CAN stack: umcd and
# umc-agents (Channel=can, endpoint mode) on one vcan interface, our frames
# in kernel ISO-TP PDUs, the bus watched by both sides (load and CAN IDs).
#
#  1. 1 MiB over classic ISO-TP (8-byte frames, padded) and 8 MiB over CAN
#     FD ISO-TP (64-byte frames, BRS): byte-identical, with rotations; the
#     same again through a gateway agent (TCP in from umcd, CAN out).
#  2. An unlisted CAN ID on the bus before the start: refused, target
#     untouched; a whitelisted periodic ID sent at twice its rate mid-transfer:
#     stopped at the next checkpoint with an alarm, target untouched.
#  3. A cangen flood of a whitelisted aperiodic ID mid-transfer: the load
#     class turns ABNORMAL/MUTATION, the suite rotates at once, the pacing
#     backs off, and the transfer completes after the flood.
#  4. umcd, then the agent, killed with SIGKILL mid-transfer: the next run
#     resumes from the agent's last checkpoint, the image byte-identical.
#  5. Replayed, tampered and truncated PDUs injected on the bus under umcd's
#     CAN ID mid-transfer: the ECU drops and counts them, and the transfer
#     completes byte-identical. A burst of more than MaxRejectedFrames= (32)
#     in one checkpoint window: the session ends, the ECU's resume point
#     survives, and the next install resumes from it.
#  6. The same PDUs the other way, from the ECU's CAN ID towards umcd
#     mid-transfer: umcd drops and counts them (RejectedFrames on D-Bus),
#     the transfer completes byte-identical; a burst past the bound ends
#     umcd's delivery with an alarm, and the next install resumes from the
#     ECU's checkpoint.
#  7. An ECU whose agent is down when the install begins (classic: no flow
#     control; CAN FD: no AUTH_RESPONSE): umcd challenges it again with the
#     TCP retry keys' backoff (phase retrying) and completes once the agent
#     is back; an agent that never comes back fails the install after about
#     ConnectRetrySec=, with the hint.
#
# Needs vcan and CAN_ISOTP: where the running kernel has none, the test runs
# itself in a guest through tests/vm/run (which sets UMC_VM). Sizes follow
# the guest's speed under emulation (tests/vm/README.md).
HERE=$(dirname "$(readlink -f "$0")")
if [ -z "${UMC_VM:-}" ]; then
        exec "$HERE/../vm/run" --need can --timeout 1500 "$HERE/test-can.sh" "$@"
fi
. "$HERE/lib.sh"

ITEST_NAME=can
[ "${ITEST_TRACE:-0}" = 1 ] && set -x
itest_require
command -v cangen >/dev/null || itest_die "cangen is missing: install can-utils"
ITEST_DIR=$(mktemp -d /tmp/umc-itest-can-XXXXXX)
IF="umcc${ITEST_TAG}"
IF=${IF:0:15}
cleanup() {
        if [ "$ITEST_FAILS" -gt 0 ] || [ "${ITEST_VERBOSE:-0}" = 1 ]; then
                for f in "$D"/umcd.log "$D"/a*/log; do
                        [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; } >&2
                done
        fi
        itest_cleanup
        ip link del "$IF" 2>/dev/null || true
}
trap cleanup EXIT
D=$ITEST_DIR
ip link add dev "$IF" type vcan || itest_die "cannot create vcan interface $IF"
ip link set "$IF" mtu 72
ip link set "$IF" up
itest_start_bus

KEY1=$(itest_key ecu1)
KEY2=$(itest_key ecu2)
KEY3=$(itest_key ecu3)
KEY4=$(itest_key ecu4)
KEYGW=$(itest_key gw) # the hop umcd -> gateway
# The upgrade channels' IDs, a periodic vehicle signal (100 ms) and an
# aperiodic diagnostic ID the flood uses: the same list on both sides.
# cangen -g 100 sends ID 123 every ~110 ms under emulation, with pauses:
# judged over 20 periods at 40%, twice the rate (55 ms) is still caught.
CANIDS="TolerancePercent=40
MinPeriods=20
Id=7E0
Id=7E8
Id=7E1
Id=7E9
Id=7E2
Id=7EA
Id=7E3
Id=7EB
Id=123:110
Id=600"

start_agent() { # N EXTRA_KEYS...
        local n=$1 a="$D/a$1" key before
        shift
        key="$D/ecu$n.key"
        mkdir -p "$a"
        {
                cat <<CONF
[Agent]
Mode=endpoint
Channel=can
Interface=$IF
EcuId=0x$n
HardwareId=HW-CAN$n
KeyFile=$key
SlotDirectory=$a/slots
RequireSignature=no
LogLevel=debug
CONF
                printf '%s\n' "$@"
                printf '[CanIds]\n%s\n' "$CANIDS"
        } >"$a/agent.conf"
        # The log is appended to across restarts: wait for one more "Serving".
        before=$(grep -c "Serving ISO-TP channel" "$a/log" 2>/dev/null || true)
        itest_spawn host "$a/log" "$AGENT" --config "$a/agent.conf"
        eval "AGENT${n}_PID=$ITEST_LAST_PID"
        itest_wait_for "agent $n" bash -c \
                "[ \$(grep -c 'Serving ISO-TP channel' '$a/log') -gt ${before:-0} ]"
}

umcd_conf() {
        mkdir -p "$D/umcd-state"
        cat >"$D/umcd.conf" <<CONF
[Package]
RequireSignature=no
[Daemon]
StateDirectory=$D/umcd-state
LogLevel=debug
IdleTimeoutSec=30
${UMCD_DAEMON:-}
[Security]
RotationIntervalSec=${ITEST_CAN_ROTATE:-5}
RotationHoldoffSec=2
[Load]
CeilingPercent=${CEILING:-0}
[CanIds]
$CANIDS
[Target ecu1]
EcuId=0x1
HardwareId=HW-CAN1
KeyFile=$KEY1
Channel=can
Interface=$IF
TxId=7E0
RxId=7E8
[Target ecu2]
EcuId=0x2
HardwareId=HW-CAN2
KeyFile=$KEY2
Channel=can
Interface=$IF
TxId=7E1
RxId=7E9
Fd=yes
BitRateSwitch=yes
[EthernetAcl]
Rule=allow proto=tcp dst=127.0.0.1 dport=4510
[Target ecu3]
EcuId=0x3
HardwareId=HW-CAN3
KeyFile=$KEYGW
Channel=tcp
Address=127.0.0.1:4510
[Target ecu4]
EcuId=0x4
HardwareId=HW-CAN4
KeyFile=$KEYGW
Channel=tcp
Address=127.0.0.1:4510
CONF
}

# The gateway: umcd's TCP in, the ECUs 3 and 4 on CAN out (forward.conf).
start_gateway() {
        local g="$D/gw"
        mkdir -p "$g"
        cat >"$g/forward.conf" <<CONF
[Daemon]
StateDirectory=$g
LogLevel=debug
ConnectRetrySec=3
[Security]
RotationIntervalSec=${ITEST_CAN_ROTATE:-5}
RotationHoldoffSec=2
[CanIds]
$CANIDS
[Target ecu3]
EcuId=0x3
HardwareId=HW-CAN3
KeyFile=$KEY3
Channel=can
Interface=$IF
TxId=7E2
RxId=7EA
[Target ecu4]
EcuId=0x4
HardwareId=HW-CAN4
KeyFile=$KEY4
Channel=can
Interface=$IF
TxId=7E3
RxId=7EB
Fd=yes
BitRateSwitch=yes
CONF
        cat >"$g/agent.conf" <<CONF
[Agent]
Mode=gateway
Listen=127.0.0.1:4510
EcuId=0x90
HardwareId=HW-GW
KeyFile=$KEYGW
SlotDirectory=$g/store
RequireSignature=no
ForwardConfig=$g/forward.conf
LogLevel=debug
[EthernetAcl]
Rule=allow proto=tcp src=127.0.0.1
CONF
        itest_spawn host "$g/log" "$AGENT" --config "$g/agent.conf"
        itest_wait_for "the gateway" grep -q "as a gateway to 2 ECU" "$g/log"
}

start_umcd() { umcd_conf; itest_start_umcd host; }
stop_umcd() { itest_stop_umcd; }
slot_state() { itest_slot_state "$D/a$1/slots"; }

make_package() { # NAME TARGET VERSION KIB
        local p="$D/pkg-$1"
        mkdir -p "$p"
        head -c "$(($4 * 1024))" /dev/urandom >"$p/$2.bin"
        itest_package "$p" "$1" "$2:$3:$2.bin"
        echo "$p"
}

install() { itest_install "$@"; }

start_agent 1 TxId=7E8 RxId=7E0 Padding=yes
start_agent 2 TxId=7E9 RxId=7E1 Fd=yes BitRateSwitch=yes
start_agent 3 TxId=7EA RxId=7E2
start_agent 4 TxId=7EB RxId=7E3 Fd=yes BitRateSwitch=yes
start_gateway

start_umcd

refused_install() { ! install "$@"; }
same_image() { # N FILE
        [ "$(slot_state "$1" | cut -d' ' -f3)" = "$(sha256sum <"$2" | cut -d' ' -f1)" ]
}
rotations() { # OUT TARGET [CAUSE-REGEX] -> count
        grep -Ec "\"event\":\"rotation\".*\"target\":\"$2\".*\"cause\":\"${3:-[a-z-]+}\"" "$D/$1.json" || true
}

# ---- 1. deliveries ----
P1=$(make_package classic ecu1 1.0.0 "${ITEST_CAN_CLASSIC_KIB:-1024}")
itest_check "classic ISO-TP: install of $(du -h "$P1/ecu1.bin" | cut -f1) succeeds" install classic ecu1 "$P1"
itest_check "classic ISO-TP: the image arrives byte-identical" same_image 1 "$P1/ecu1.bin"
n=$(rotations classic ecu1)
itest_check "classic ISO-TP: at least one rotation mid-transfer (saw $n)" test "$n" -ge 1

P2=$(make_package fd ecu2 2.0.0 "${ITEST_CAN_FD_KIB:-8192}")
itest_check "CAN FD ISO-TP: install of $(du -h "$P2/ecu2.bin" | cut -f1) succeeds" install fd ecu2 "$P2"
itest_check "CAN FD ISO-TP: the image arrives byte-identical" same_image 2 "$P2/ecu2.bin"
n=$(rotations fd ecu2)
itest_check "CAN FD ISO-TP: at least one rotation mid-transfer (saw $n)" test "$n" -ge 1

gw_rotations() { grep -c "forward to $1: rotated" "$D/gw/log" || true; }
P1G=$(make_package gw-classic ecu3 3.0.0 "${ITEST_CAN_CLASSIC_KIB:-1024}")
itest_check "gateway, classic CAN out: install succeeds" install gw-classic ecu3 "$P1G"
itest_check "gateway, classic CAN out: the image arrives byte-identical on the ECU" \
        same_image 3 "$P1G/ecu3.bin"
n=$(gw_rotations ecu3)
itest_check "gateway, classic CAN out: at least one rotation on the CAN leg (saw $n)" test "$n" -ge 1
itest_check "gateway, classic CAN out: the ECU's confirmation reached umcd through the gateway" \
        grep -q "ECU 0x00000003 confirmed the forwarded image" "$D/gw/log"

P2G=$(make_package gw-fd ecu4 4.0.0 "${ITEST_CAN_FD_KIB:-8192}")
itest_check "gateway, CAN FD out: install succeeds" install gw-fd ecu4 "$P2G"
itest_check "gateway, CAN FD out: the image arrives byte-identical on the ECU" \
        same_image 4 "$P2G/ecu4.bin"
n=$(gw_rotations ecu4)
itest_check "gateway, CAN FD out: at least one rotation on the CAN leg (saw $n)" test "$n" -ge 1

# A refusal on the CAN leg travels back: agent 4 is stopped, the gateway's
# delivery to it fails, and umcd hears the reason through the gateway.
itest_stop "$AGENT4_PID"
P3G=$(make_package gw-down ecu4 4.1.0 64)
itest_check "gateway, ECU gone: the install fails" refused_install gw-down ecu4 "$P3G"
itest_check "gateway, ECU gone: umcd's alarm carries the CAN leg's failure" \
        grep -q '"event":"alarm".*"target":"ecu4".*stopped by the ECU' "$D/gw-down.json"
# On CAN FD the challenge fits one frame (no flow control): then it is the
# authentication timeout that asks; on classic CAN the missing flow control.
itest_check "gateway, ECU gone: the gateway asks whether the ECU on its IDs listens" \
        grep -q "from the ECU on [0-9A-F]*/[0-9A-F]*: is it listening?" "$D/gw/log"
has_version() { slot_state "$1" | grep -q " $2 "; }
itest_check "gateway, ECU gone: ecu4 keeps version 4.0.0" has_version 4 4.0.0

# ---- 2. CAN ID checks, with vehicle traffic on the bus ----
# The transfer paced to 30% of the bus, so that the vehicle signal keeps its
# rhythm in the guest's one emulated CPU.
stop_umcd
CEILING=30 start_umcd
itest_spawn host "$D/cangen-123.log" cangen "$IF" -I 123 -L 8 -D i -g 100
VEHICLE_PID=$ITEST_LAST_PID
v1=$(slot_state 1)

P3=$(make_package unknown ecu1 1.1.0 256)
( for _ in $(seq 1 40); do cansend "$IF" 321#DEADBEEF; sleep 0.1; done ) &
INTRUDER=$!
itest_check "unlisted ID 321 on the bus: the install is refused" refused_install unknown ecu1 "$P3"
wait "$INTRUDER" || true
itest_check "unlisted ID 321: the alarm names the ID and [CanIds]" \
        grep -q '"event":"alarm".*CAN ID 321 on .* is not in \[CanIds\]' "$D/unknown.json"
itest_check "unlisted ID 321: refused before the channel opened (nothing received)" \
        bash -c "[ \$(grep -c 'receiving version' '$D/a1/log') -eq 1 ]"
itest_check "unlisted ID 321: the agent raised its own alarm" grep -q "ALARM .*CAN ID 321" "$D/a1/log"
itest_check "unlisted ID 321: ecu1's slot is untouched" test "$(slot_state 1)" = "$v1"

P4=$(make_package rate ecu1 1.2.0 256)
"$UMCCTL" --bus session --json install --target ecu1 "$P4" >"$D/rate.json" 2>&1 &
INSTALL=$!
itest_wait_for "the rate transfer to start" grep -q '"phase":"transferring"' "$D/rate.json"
sleep 1
itest_spawn host "$D/cangen-123b.log" cangen "$IF" -I 123 -L 8 -D i -g 100
DOUBLE_PID=$ITEST_LAST_PID
rc=0
wait "$INSTALL" || rc=$?
itest_stop "$DOUBLE_PID"
itest_check "ID 123 at twice its rate mid-transfer: the install fails (exit $rc)" test "$rc" -ne 0
itest_check "ID 123 at twice its rate: the alarm says too frequent, stopped at a checkpoint" \
        grep -q '"event":"alarm".*CAN ID 123 .*too frequent.*stopped at byte' "$D/rate.json"
itest_check "ID 123 at twice its rate: ecu1's active slot is untouched" test "$(slot_state 1)" = "$v1"
itest_stop "$VEHICLE_PID"

# ---- 3. a flood mid-transfer: load classes, rotation, pacing ----
stop_umcd
CEILING=50 ITEST_CAN_ROTATE=3600 start_umcd
P5=$(make_package flood ecu2 2.1.0 "${ITEST_CAN_FLOOD_KIB:-2048}")
"$UMCCTL" --bus session --json install --target ecu2 "$P5" >"$D/flood.json" 2>&1 &
INSTALL=$!
itest_wait_for "the flood transfer to start" grep -q '"phase":"transferring"' "$D/flood.json"
sleep 4
flood_start=$(date +%s)
timeout 5 cangen "$IF" -I 600 -L 8 -D i -g 0 -i >/dev/null 2>&1 || true
flood_end=$(date +%s)
rc=0
wait "$INSTALL" || rc=$?
itest_check "flood: the install still completes (exit $rc)" test "$rc" -eq 0
itest_check "flood: the image arrives byte-identical" same_image 2 "$P5/ecu2.bin"
load_rotation() {
        local t
        for t in $(grep -E '"event":"rotation".*"cause":"load-(abnormal|mutation)"' "$D/flood.json" |
                   sed -n 's/.*"time":\([0-9]*\).*/\1/p'); do
                [ "$t" -ge "$flood_start" ] && [ "$t" -le $((flood_end + 3)) ] && return 0
        done
        return 1
}
itest_check "flood: an immediate load rotation while the flood ran" load_rotation
backed_off() { # a pacing line with much other traffic and a rate below the ceiling's 250 kbit/s
        grep -E 'ecu2: pacing at [0-9]+ kbit/s: .*other traffic [0-9]+ kbit/s' "$D/umcd.log" |
                awk '{ for (i = 1; i <= NF; i++) { if ($i == "at") r = $(i+1); if ($i == "traffic") o = $(i+1) } }
                     o + 0 > 200 && r + 0 < 100 { found = 1 } END { exit !found }'
}
itest_check "flood: the pacing backed off while the flood ran" backed_off

# ---- 4. SIGKILL of umcd mid-transfer over CAN, then resume ----
# ISO-TP has no end of connection: the agent learns of the new umcd from its
# AUTH_CHALLENGE, keeps the partial image and resumes from its checkpoint.
stop_umcd
CEILING=30 start_umcd
P6=$(make_package resume ecu1 1.5.0 256)
"$UMCCTL" --bus session --json install --target ecu1 "$P6" >"$D/resume.json" 2>&1 &
INSTALL=$!
itest_wait_for "a checkpoint on ecu1" bash -c "grep -q 'offset=[1-9]' '$D/umcd-state/resume-ecu1' 2>/dev/null"
kill -9 "$ITEST_UMCD_PID"
wait "$INSTALL" 2>/dev/null || true
# Restarted as it ran (paced): it resumes the interrupted installation by itself.
CEILING=30 start_umcd
for _ in $(seq 1 600); do has_version 1 1.5.0 && break; sleep 0.1; done
itest_check "after SIGKILL of umcd the CAN image still arrives byte-identical" same_image 1 "$P6/ecu1.bin"
itest_check "the agent on CAN resumed from its checkpoint instead of starting over" \
        grep -q "receiving version 1.5.0, .* from byte [1-9]" "$D/a1/log"

# The agent killed mid-transfer: umcd's delivery fails (no flow control
# answers its PDUs); the next install resumes where the agent's last
# checkpoint was.
P7=$(make_package resume-agent ecu1 1.6.0 256)
# The resumed installation over (its resume record gone), so the checkpoint
# waited for below is the new one's.
for _ in $(seq 1 300); do [ -e "$D/umcd-state/resume-ecu1" ] || break; sleep 0.1; done
"$UMCCTL" --bus session --json install --target ecu1 "$P7" >"$D/kill-agent.json" 2>&1 &
INSTALL=$!
itest_wait_for "a checkpoint on ecu1" bash -c "grep -q 'offset=[1-9]' '$D/umcd-state/resume-ecu1' 2>/dev/null"
kill -9 "$AGENT1_PID"
killed_at=$(sed -n 's/^offset=//p' "$D/a1/slots/incoming/progress" 2>/dev/null)
rc=0
wait "$INSTALL" || rc=$?
itest_check "SIGKILL of the agent on CAN (at byte ${killed_at:-none}): the install fails (exit $rc)" test "$rc" -ne 0
itest_check "SIGKILL of the agent on CAN: ecu1 still runs 1.5.0" has_version 1 1.5.0
itest_forget "$AGENT1_PID"
start_agent 1 TxId=7E8 RxId=7E0 Padding=yes
itest_check "after SIGKILL of the agent, installing again succeeds" install kill-agent-2 ecu1 "$P7"
itest_check "after SIGKILL of the agent, the image arrives byte-identical" same_image 1 "$P7/ecu1.bin"
itest_check "the restarted agent resumed from its checkpoint" \
        grep -q "receiving version 1.6.0, .* from byte [1-9]" "$D/a1/log"
v1=$(slot_state 1)

# ---- 5. tampered, replayed and truncated PDUs on the bus ----
# umc-canpdu listens (without flow control of its own) for BEGIN, the
# fourth PDU umcd sends (after AUTH_CHALLENGE, AUTH_CONFIRM and
# STATUS_QUERY), then sends an altered copy from umcd's CAN ID while
# the bus is quiet: the transfer is paced to 5% so that it is quiet often.
# Anyone on the bus can send such a PDU: the ECU drops it and counts it
# (docs/protocol.md section 5), and the transfer goes on.
stop_umcd
CEILING=5 start_umcd
drops() { grep -c "dropped a frame that failed authentication" "$D/a1/log" || true; }
inject() { # NAME LABEL INDEX umc-canpdu-send-options...: PDU number INDEX from umcd, altered
        local name=$1 label=$2 index=$3 rc=0 before
        shift 3
        before=$(drops)
        local p; p=$(make_package "$name" ecu1 "1.9.$RANDOM" 64)
        "$CANPDU" capture "$IF" 7E0 7E8 "$index" "$D/$name.pdu" --timeout 30 >"$D/$name.cap" 2>&1 &
        local cap=$!
        "$UMCCTL" --bus session --json install --target ecu1 "$p" >"$D/$name.json" 2>&1 &
        local inst=$!
        wait "$cap" || { itest_fail "$name: no BEGIN captured: $(cat "$D/$name.cap")"; kill "$inst"; wait "$inst"; return; }
        sleep 1
        "$CANPDU" send "$IF" 7E0 7E8 "$D/$name.pdu" --idle-ms 300 "$@" >>"$D/$name.cap" 2>&1 ||
                itest_fail "$name: cannot inject: $(cat "$D/$name.cap")"
        wait "$inst" || rc=$?
        itest_check "$name PDU mid-transfer: the install completes (exit $rc)" test "$rc" -eq 0
        itest_check "$name PDU: the image arrives byte-identical" same_image 1 "$p/ecu1.bin"
        [ -z "$label" ] && return
        itest_check "$name PDU: the ECU dropped it ($label)" \
                grep -Eq "dropped a frame that failed authentication: ($label)" "$D/a1/log"
        itest_check "$name PDU: one drop logged for the one PDU ($(( $(drops) - before )))" \
                test "$(( $(drops) - before ))" -eq 1
}
CANPDU=$BUILD/tests/tools/umc-canpdu
inject replayed "replayed sequence number|sequence number behind replay window|unknown key ID" 3
inject tampered "frame authentication tag mismatch" 3 --seq-add 100 --flip 40
inject truncated "frame truncated" 3 --truncate 60
# umcd's AUTH_CHALLENGE replayed mid-session: the ECU answers it aside and
# the session goes on (no confirmation can follow without the key).
inject challenge "" 0
itest_check "challenge PDU: the ECU answered it aside and kept the session" \
        grep -q "a new AUTH_CHALLENGE during the session: answered; the session goes on" "$D/a1/log"
itest_check "challenge PDU: umcd dropped the stray AUTH_RESPONSE" \
        grep -q "ecu1: dropped a frame from the ECU that failed authentication: unknown or unexpected frame type" "$D/umcd.log"

# A burst of 40 single-frame PDUs (7 bytes: no frame) once a checkpoint is
# acknowledged: the 33rd ends the session; the partial image stays, cut back
# to its checkpoint, and the next install resumes there.
agent_offset() { sed -n 's/^offset=//p' "$D/a1/slots/incoming/progress" 2>/dev/null; }
agent_part() { stat -c %s "$D/a1/slots/incoming/image.part" 2>/dev/null || echo none; }
v1=$(slot_state 1)
PB=$(make_package burst ecu1 1.10.0 128)
"$UMCCTL" --bus session --json install --target ecu1 "$PB" >"$D/burst.json" 2>&1 &
INSTALL=$!
# Paced to 5%, the first checkpoint takes longer than itest_wait_for's 10 s.
for _ in $(seq 1 600); do grep -q 'offset=[1-9]' "$D/umcd-state/resume-ecu1" 2>/dev/null && break; sleep 0.1; done
"$CANPDU" send "$IF" 7E0 7E8 "$D/replayed.pdu" --idle-ms 300 --truncate 7 --count 40 \
        >"$D/burst.cap" 2>&1 || itest_fail "burst: cannot inject: $(cat "$D/burst.cap")"
rc=0
wait "$INSTALL" || rc=$?
itest_check "burst of 40 bad PDUs: the install stops (exit $rc)" test "$rc" -ne 0
itest_check "burst: umcd's alarm says too many frames failed authentication" \
        grep -q '"event":"alarm".*too many frames failed authentication' "$D/burst.json"
itest_check "burst: the agent's alarm names the bound" \
        grep -q "ALARM .*more than 32 frames failed authentication since the last checkpoint" "$D/a1/log"
off=$(agent_offset)
itest_check "burst: the resume point survives (offset=${off:-none}, image.part $(agent_part) bytes)" \
        test "${off:-0}" -gt 0 -a "${off:-0}" = "$(agent_part)"
itest_check "burst: ecu1's active slot is untouched" test "$(slot_state 1)" = "$v1"
itest_check "burst: installing again succeeds" install burst-2 ecu1 "$PB"
itest_check "burst: the image arrives byte-identical" same_image 1 "$PB/ecu1.bin"
itest_check "burst: the agent resumed from byte $off, not from 0" \
        grep -q "receiving version 1.10.0, .* from byte $off\$" "$D/a1/log"

# ---- 6. forged PDUs from the ECU's CAN ID, towards umcd ----
# The same attacker the other way: PDUs sent from the ECU's ID 7E8 (umcd's
# ISO-TP socket answers their flow control on 7E0), copies of the STATUS,
# the second PDU the ECU sends (after AUTH_RESPONSE). umcd drops and counts
# them (RejectedFrames on D-Bus), and the transfer goes on.
stop_umcd
CEILING=5 start_umcd
CANPDU=$BUILD/tests/tools/umc-canpdu
umcd_drops() {
        grep -c "ecu1: dropped a frame from the ECU that failed authentication" "$D/umcd.log" || true
}
rejected_on_dbus() { # TARGET -> frames dropped for it, from the RejectedFrames property
        busctl --address="$DBUS_SESSION_BUS_ADDRESS" get-property io.umc /io/umc/Manager \
                io.umc.Manager1 RejectedFrames |
                tr ' ' '\n' | grep -A1 -x "\"$1\"" | tail -1
}
inject_up() { # NAME LABEL umc-canpdu-send-options...: the ECU's STATUS PDU, altered, to umcd
        local name=$1 label=$2 rc=0 before dbus_before
        shift 2
        before=$(umcd_drops)
        dbus_before=$(rejected_on_dbus ecu1)
        local p; p=$(make_package "$name" ecu1 "1.9.$RANDOM" 64)
        "$CANPDU" capture "$IF" 7E8 7E0 1 "$D/$name.pdu" --timeout 30 >"$D/$name.cap" 2>&1 &
        local cap=$!
        "$UMCCTL" --bus session --json install --target ecu1 "$p" >"$D/$name.json" 2>&1 &
        local inst=$!
        wait "$cap" || { itest_fail "$name: no STATUS captured: $(cat "$D/$name.cap")"; kill "$inst"; wait "$inst"; return; }
        sleep 1
        "$CANPDU" send "$IF" 7E8 7E0 "$D/$name.pdu" --idle-ms 300 "$@" >>"$D/$name.cap" 2>&1 ||
                itest_fail "$name: cannot inject: $(cat "$D/$name.cap")"
        wait "$inst" || rc=$?
        itest_check "$name PDU to umcd mid-transfer: the install completes (exit $rc)" test "$rc" -eq 0
        itest_check "$name PDU to umcd: the image arrives byte-identical" same_image 1 "$p/ecu1.bin"
        itest_check "$name PDU to umcd: umcd dropped it ($label)" \
                grep -Eq "ecu1: dropped a frame from the ECU that failed authentication: ($label)" "$D/umcd.log"
        itest_check "$name PDU to umcd: one drop logged for the one PDU ($(( $(umcd_drops) - before )))" \
                test "$(( $(umcd_drops) - before ))" -eq 1
        local now; now=$(rejected_on_dbus ecu1)
        itest_check "$name PDU to umcd: RejectedFrames of ecu1 on D-Bus rose by one (${dbus_before:-none} -> ${now:-none})" \
                test "${now:-0}" -eq $(( ${dbus_before:-0} + 1 ))
}
inject_up replayed-up "replayed sequence number|sequence number behind replay window"
inject_up tampered-up "frame authentication tag mismatch" --seq-add 100 --flip 40
inject_up truncated-up "frame truncated" --truncate 40

# A burst of 40 single-frame PDUs (7 bytes: no frame) from the ECU's ID once
# a checkpoint is acknowledged: the 33rd ends umcd's delivery with an alarm.
# umcd leaves the ECU's partial image alone: the next install resumes from
# the ECU's last checkpoint.
v1=$(slot_state 1)
dbus_before=$(rejected_on_dbus ecu1)
PU=$(make_package burst-up ecu1 1.11.0 128)
"$UMCCTL" --bus session --json install --target ecu1 "$PU" >"$D/burst-up.json" 2>&1 &
INSTALL=$!
for _ in $(seq 1 600); do grep -q 'offset=[1-9]' "$D/umcd-state/resume-ecu1" 2>/dev/null && break; sleep 0.1; done
"$CANPDU" send "$IF" 7E8 7E0 "$D/replayed-up.pdu" --idle-ms 300 --truncate 7 --count 40 \
        >"$D/burst-up.cap" 2>&1 || itest_fail "burst to umcd: cannot inject: $(cat "$D/burst-up.cap")"
rc=0
wait "$INSTALL" || rc=$?
itest_check "burst of 40 bad PDUs to umcd: the install stops (exit $rc)" test "$rc" -ne 0
itest_check "burst to umcd: the alarm says more than 32 frames from the ECU failed authentication" \
        grep -q '"event":"alarm".*more than 32 frames from the ECU failed authentication' "$D/burst-up.json"
n=$(( $(rejected_on_dbus ecu1) - ${dbus_before:-0} ))
itest_check "burst to umcd: RejectedFrames of ecu1 on D-Bus counts the 33 up to the bound (rose by $n)" \
        test "$n" -ge 33
sleep 2 # what was in flight when umcd stopped
off=$(agent_offset)
itest_check "burst to umcd: the ECU's resume point survives (offset=${off:-none}, image.part $(agent_part) bytes)" \
        test "${off:-0}" -gt 0 -a "$(agent_part)" != none
itest_check "burst to umcd: ecu1's active slot is untouched" test "$(slot_state 1)" = "$v1"
itest_check "burst to umcd: installing again succeeds" install burst-up-2 ecu1 "$PU"
itest_check "burst to umcd: the image arrives byte-identical" same_image 1 "$PU/ecu1.bin"
itest_check "burst to umcd: the agent resumed from byte $off, not from 0" \
        grep -q "receiving version 1.11.0, .* from byte $off\$" "$D/a1/log"

# ---- 7. an ECU briefly unreachable on CAN ----
# Its agent down when the install begins: the challenge gets no flow
# control, umcd sends a new one on a fresh socket after the backoff (phase
# retrying, as a refused connect on TCP) and reaches the agent once it is
# back. Never back: the install fails once ConnectRetrySec= is spent.
stop_umcd
UMCD_DAEMON="ConnectRetrySec=20
ConnectBackoffMSec=250
ConnectBackoffMaxSec=1
AuthTimeoutSec=3" start_umcd
itest_stop "$AGENT1_PID"
PR=$(make_package retry ecu1 1.12.0 64)
"$UMCCTL" --bus session --json install --target ecu1 "$PR" >"$D/retry.json" 2>&1 &
INSTALL=$!
retry_start=$(date +%s)
for _ in $(seq 1 300); do grep -q '"phase":"retrying"' "$D/retry.json" && break; sleep 0.1; done
itest_check "agent down: the target's phase turns retrying" grep -q '"phase":"retrying"' "$D/retry.json"
sleep 1
start_agent 1 TxId=7E8 RxId=7E0 Padding=yes
rc=0
wait "$INSTALL" || rc=$?
itest_check "agent back after $(( $(date +%s) - retry_start )) s: the install completes (exit $rc)" test "$rc" -eq 0
itest_check "agent back: the image arrives byte-identical" same_image 1 "$PR/ecu1.bin"
n=$(grep -c "ecu1: no ISO-TP flow control from the ECU on 7E0/7E8: is it listening?; attempt" "$D/umcd.log" || true)
itest_check "agent back: umcd logged the unanswered challenges ($n) and the next attempt" \
        grep -q "ecu1: no ISO-TP flow control from the ECU on 7E0/7E8: is it listening?; attempt [2-9] in [0-9]* ms" "$D/umcd.log"

# On CAN FD the challenge fits one frame, which needs no flow control:
# there the missing AUTH_RESPONSE (AuthTimeoutSec=3) is what asks again.
itest_stop "$AGENT2_PID"
PF=$(make_package retry-fd ecu2 2.2.0 256)
"$UMCCTL" --bus session --json install --target ecu2 "$PF" >"$D/retry-fd.json" 2>&1 &
INSTALL=$!
retry_start=$(date +%s)
for _ in $(seq 1 300); do grep -q '"phase":"retrying"' "$D/retry-fd.json" && break; sleep 0.1; done
itest_check "FD agent down: the target's phase turns retrying" grep -q '"phase":"retrying"' "$D/retry-fd.json"
sleep 1
start_agent 2 TxId=7E9 RxId=7E1 Fd=yes BitRateSwitch=yes
rc=0
wait "$INSTALL" || rc=$?
itest_check "FD agent back after $(( $(date +%s) - retry_start )) s: the install completes (exit $rc)" test "$rc" -eq 0
itest_check "FD agent back: the image arrives byte-identical" same_image 2 "$PF/ecu2.bin"
itest_check "FD agent back: umcd logged the unanswered challenge and the next attempt" \
        grep -q "ecu2: no AUTH_RESPONSE within 3 s from the ECU on 7E1/7E9: is it listening?; attempt [2-9] in [0-9]* ms" "$D/umcd.log"

stop_umcd
UMCD_DAEMON="ConnectRetrySec=6
ConnectBackoffMSec=250
ConnectBackoffMaxSec=1" start_umcd
itest_stop "$AGENT1_PID"
v1=$(slot_state 1)
PN=$(make_package never ecu1 1.13.0 64)
t0=$(date +%s)
rc=0
install never ecu1 "$PN" || rc=$?
elapsed=$(( $(date +%s) - t0 ))
# The budget counts from the first challenge, after the 2 s bus pre-check.
itest_check "agent never back: the install fails (exit $rc)" test "$rc" -ne 0
itest_check "agent never back: it fails after about ConnectRetrySec=6 (${elapsed} s)" \
        test "$elapsed" -ge 6 -a "$elapsed" -le 14
gave_up=$(grep -o 'gave up after [0-9]* attempts in [0-9]* s' "$D/never.json" | head -1)
itest_check "agent never back: the alarm asks whether the ECU listens and names the budget (${gave_up:-no such text})" \
        grep -q '"event":"alarm".*no ISO-TP flow control from the ECU on 7E0/7E8: is it listening?; gave up after [0-9]* attempts in [0-9]* s (ConnectRetrySec=6)' "$D/never.json"
itest_check "agent never back: the phase was retrying meanwhile" grep -q '"phase":"retrying"' "$D/never.json"
itest_check "agent never back: ecu1's slot is untouched" test "$(slot_state 1)" = "$v1"

itest_summary
