#!/bin/bash
# The ECU side an integrator meets, end to end over Ethernet (umcd and one
# agent in their own network namespaces, a private bus, umcctl):
#  1. the slot overview: nothing before the first delivery, then what the
#     agent reports (umcctl targets/status, VERSION column);
#  2. cancel mid-transfer: the agent is told (an ALARM under the session
#     key), logs the alarm and deletes its partial image;
#  3. a connection that drops mid-transfer (umcd killed): the partial is
#     kept, reported, and resumed by the next delivery;
#  4. a partial older than ResumeMaxAgeSec= is deleted at the agent's start;
#  5. an agent that starts after the install began still gets the image
#     (connection retries, phase "retrying"); one that never comes fails
#     after ConnectRetrySec= with a clear error.
. "$(dirname "$0")/lib.sh"

itest_setup ecu 1
D=$ITEST_DIR
KEY=$(itest_key bcm)
SLOTS=$D/gw1/slots

mkdir -p "$D/gw1" "$D/umcd-state"
cat >"$D/gw1/agent.conf" <<CONF
[Agent]
Listen=10.77.1.2:4500
EcuId=0x10
HardwareId=HW-GW1
KeyFile=$KEY
SlotDirectory=$SLOTS
RequireSignature=no
ResumeMaxAgeSec=86400
[EthernetAcl]
Rule=allow proto=tcp src=10.77.1.1/32 dst=10.77.1.2/32 dport=4500
CONF

AGENT_PID=
start_agent() { # the log is appended to: wait for this start's own line
        local n
        n=$(itest_log_count "$D/gw1/log" "Listening on")
        itest_spawn gw1 "$D/gw1/log" "$AGENT" --config "$D/gw1/agent.conf"
        AGENT_PID=$ITEST_LAST_PID
        itest_wait_for "the agent" itest_log_grew "$D/gw1/log" "Listening on" "$n"
}
stop_agent() { [ -z "$AGENT_PID" ] || itest_stop "$AGENT_PID"; AGENT_PID=; }

umcd_conf() { # RETRY_SEC
        cat >"$D/umcd.conf" <<CONF
[Package]
RequireSignature=no
[Daemon]
StateDirectory=$D/umcd-state
LogLevel=debug
ConnectRetrySec=$1
ConnectBackoffMSec=200
ConnectBackoffMaxSec=1
[Load]
LinkRateMbit=100
CeilingPercent=10
[EthernetAcl]
Rule=allow proto=tcp src=10.77.1.1/32 dst=10.77.1.2/32 dport=4500
[Target bcm]
EcuId=0x10
HardwareId=HW-GW1
KeyFile=$KEY
Address=10.77.1.2:4500
CONF
}

ctl() { "$UMCCTL" --bus session "$@"; }
active_version() { local s; s=$(tr -d '\n' <"$SLOTS/active" 2>/dev/null || echo a); cat "$SLOTS/$s/version" 2>/dev/null || echo none; }
make_package() { # NAME VERSION MIB
        local p="$D/pkg-$1"
        mkdir -p "$p"
        itest_image "$p/bcm.bin" "$3"
        itest_package "$p" "$1" "bcm:$2:bcm.bin"
        echo "$p"
}
incoming_empty() { [ -z "$(ls -A "$SLOTS/incoming")" ]; }
# Wait until the agent holds a durable checkpoint of VERSION.
wait_checkpoint() { # VERSION
        itest_wait_for "a checkpoint of $1" bash -c \
                "grep -q 'version=$1' '$SLOTS/incoming/progress' && grep -q 'offset=[1-9]' '$SLOTS/incoming/progress'"
}

umcd_conf 20
start_agent
itest_start_umcd tbox

# ---- 1. slot overview ----
ctl targets >"$D/targets0.txt"
itest_check "before any delivery the slots are not reported" grep -q "bcm: slots not reported yet" "$D/targets0.txt"
PKG1=$(make_package p1 1.0.0 2)
set +e
ctl --json install "$PKG1" >"$D/install1.json" 2>&1
rc=$?
set -e
itest_check "install of 1.0.0 succeeds (exit $rc)" test "$rc" -eq 0
itest_check "umcd logged the ECU's report of its factory state" grep -q "bcm: ECU reports slot a active (empty), slot a empty, slot b empty" "$D/umcd.log"
ctl targets >"$D/targets1.txt"
itest_check "targets: VERSION shows what the ECU runs" grep -Eq "^bcm .* 1\.0\.0 " "$D/targets1.txt"
itest_check "targets: slot b holds 1.0.0 and is active" grep -q "slot b: 1.0.0 (active)" "$D/targets1.txt"
itest_check "targets: slot a is empty" grep -q "slot a: empty" "$D/targets1.txt"
ctl --json targets >"$D/targets1.json"
itest_check "targets --json: the slots object" grep -q '"target":"bcm","slots":{"reported":true,"source":"ecu","active":"b","a":"","b":"1.0.0","rollback":""' "$D/targets1.json"

# ---- 2. cancel mid-transfer ----
PKG2=$(make_package p2 2.0.0 16)
ctl --json install "$PKG2" >"$D/install2.json" 2>&1 &
ctlpid=$!
wait_checkpoint 2.0.0
ctl cancel >"$D/cancel.txt" 2>&1
set +e
wait "$ctlpid"
rc=$?
set -e
itest_check "the cancelled install exits non-zero (exit $rc)" test "$rc" -ne 0
itest_check "the completed signal says cancelled" grep -q '"event":"completed".*"success":false.*cancelled' "$D/install2.json"
itest_wait_for "the agent's cancel alarm" grep -q "ALARM .*the master cancelled the transfer; partial image deleted.*reason 0x0601" "$D/gw1/log"
itest_pass "the agent logged the cancel as an alarm with reason 0x0601"
itest_check "incoming/ is empty after the cancel" incoming_empty
itest_check "the active slot is untouched by the cancel" test "$(active_version)" = 1.0.0
itest_check "umcd told the agent" grep -q "bcm: cancelling: telling the ECU" "$D/umcd.log"

# ---- 3. a dropped connection keeps the partial, which the next delivery resumes ----
PKG3=$(make_package p3 3.0.0 16)
ctl --json install "$PKG3" >"$D/install3.json" 2>&1 &
ctlpid=$!
wait_checkpoint 3.0.0
kill -9 "$ITEST_UMCD_PID"
wait "$ITEST_UMCD_PID" 2>/dev/null || true
itest_forget "$ITEST_UMCD_PID"
wait "$ctlpid" 2>/dev/null || true
itest_wait_for "the agent noticing the lost connection" grep -q "connection lost at byte .* (version 3.0.0).*kept for resume" "$D/gw1/log"
itest_check "the partial of 3.0.0 is kept after the drop" grep -q "version=3.0.0" "$SLOTS/incoming/progress"
itest_start_umcd tbox # restarts the interrupted installation by itself
for _ in $(seq 1 600); do [ "$(active_version)" = 3.0.0 ] && break; sleep 0.1; done
itest_check "3.0.0 arrives byte-identical after the drop" cmp -s "$PKG3/bcm.bin" "$SLOTS/$(tr -d '\n' <"$SLOTS/active")/image"
itest_check "the agent resumed the kept partial" grep -q "receiving version 3.0.0, .* from byte [1-9]" "$D/gw1/log"
itest_check "the ECU reported the partial before it was resumed" grep -q "ECU reports .* a partial image of 3.0.0" "$D/umcd.log"
ctl status >"$D/status3.txt"
itest_check "status: slot a 3.0.0 active, slot b 1.0.0 kept for rollback" \
        bash -c "grep -q 'slot a: 3.0.0 (active)' '$D/status3.txt' && grep -q 'slot b: 1.0.0 (rollback)' '$D/status3.txt'"

# ---- 4. a stale partial goes at the agent's start ----
PKG4=$(make_package p4 4.0.0 16)
ctl --json install "$PKG4" >"$D/install4.json" 2>&1 &
ctlpid=$!
wait_checkpoint 4.0.0
kill -9 "$ITEST_UMCD_PID"
wait "$ITEST_UMCD_PID" 2>/dev/null || true
itest_forget "$ITEST_UMCD_PID"
wait "$ctlpid" 2>/dev/null || true
itest_wait_for "the agent noticing the lost connection" grep -q "connection lost at byte .* (version 4.0.0)" "$D/gw1/log"
stop_agent
# Its last checkpoint two days ago: beyond ResumeMaxAgeSec=86400.
touch -d '2 days ago' "$SLOTS/incoming/progress"
start_agent
itest_check "the agent deleted the stale partial at start" grep -q "deleted the partial image of version 4.0.0 .*older than ResumeMaxAgeSec=" "$D/gw1/log"
itest_check "incoming/ is empty after the stale partial went" incoming_empty
rm -f "$D"/umcd-state/resume-*  # no automatic restart of 4.0.0 below
itest_start_umcd tbox

# ---- 5. an agent that comes late; one that never comes ----
stop_agent
PKG5=$(make_package p5 5.0.0 1)
start=$(date +%s)
ctl --json install "$PKG5" >"$D/install5.json" 2>&1 &
ctlpid=$!
itest_wait_for "phase retrying" bash -c "'$UMCCTL' --bus session status | grep -q '^bcm *retrying'"
itest_pass "status shows the phase retrying while the agent is away"
sleep 2
start_agent
set +e
wait "$ctlpid"
rc=$?
set -e
itest_check "the install waits for the late agent and succeeds (exit $rc)" test "$rc" -eq 0
itest_check "5.0.0 is active" test "$(active_version)" = 5.0.0
n=$(grep -c "bcm: cannot connect to 10.77.1.2:4500: Connection refused; attempt" "$D/umcd.log" || true)
itest_check "umcd retried with a backoff ($n refusals logged)" test "$n" -ge 2

stop_agent
itest_stop_umcd
umcd_conf 3
itest_start_umcd tbox
PKG6=$(make_package p6 6.0.0 1)
start=$(date +%s)
set +e
ctl --json install "$PKG6" >"$D/install6.json" 2>&1
rc=$?
set -e
took=$(( $(date +%s) - start ))
itest_check "with no agent the install fails (exit $rc)" test "$rc" -ne 0
itest_check "it gave up after the retry budget (${took} s for ConnectRetrySec=3)" test "$took" -ge 2 -a "$took" -le 8
itest_check "the alarm says what was tried and for how long" \
        grep -q '"event":"alarm".*cannot connect to 10.77.1.2:4500: Connection refused; gave up after [0-9]* attempts in [0-9]* s (ConnectRetrySec=3)' "$D/install6.json"

itest_summary
