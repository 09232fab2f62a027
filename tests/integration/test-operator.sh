#!/bin/bash
# What the operator sees, end to end: umcd in its namespace, two agents in
# theirs, umcctl on a private bus. Each mistake an integrator makes on the
# first day (no ACL rule, a wrong key or hardware ID, a second install, a
# target typo, a symlinked image, a umcd restart) must produce a message
# that says what is wrong and what to do; and the numbers umcctl prints
# (progress after success, rate and ETA, the reason code) must be right.
. "$(dirname "$0")/lib.sh"

itest_setup operator 2
D=$ITEST_DIR
KEY1=$(itest_key bcm)
KEY2=$(itest_key tcu)
KEY_OTHER=$(itest_key other)

# agent_conf K KEYFILE HWID [ACL_RULE] ("none": no rule at all)
agent_conf() {
        local rule=${4:-"allow proto=tcp src=10.77.$1.1/32 dport=4500"}
        mkdir -p "$D/gw$1"
        cat >"$D/gw$1/agent.conf" <<CONF
[Agent]
Listen=10.77.$1.2:4500
EcuId=0x$1$1
HardwareId=$3
KeyFile=$2
SlotDirectory=$D/gw$1/slots
RequireSignature=no
CONF
        [ "$rule" = none ] || printf '[EthernetAcl]\nRule=%s\n' "$rule" >>"$D/gw$1/agent.conf"
}

declare -A AGENT_PID
start_agent() { # K; the log is appended to: wait for this start's own line
        local n
        n=$(itest_log_count "$D/gw$1/log" "Listening")
        itest_spawn "gw$1" "$D/gw$1/log" "$AGENT" --config "$D/gw$1/agent.conf"
        AGENT_PID[$1]=$ITEST_LAST_PID
        itest_wait_for "agent $1" itest_log_grew "$D/gw$1/log" "Listening" "$n"
}
stop_agent() { itest_stop "${AGENT_PID[$1]}"; }

# umcd_conf [ACL_RULE|none] [CEILING_PERCENT]
umcd_conf() {
        local rule=${1:-"allow proto=tcp dst=10.77.0.0/16 dport=4500"}
        mkdir -p "$D/umcd-state"
        cat >"$D/umcd.conf" <<CONF
[Package]
RequireSignature=no
[Daemon]
StateDirectory=$D/umcd-state
[Load]
LinkRateMbit=100
CeilingPercent=${2:-10}
[Target bcm]
EcuId=0x11
HardwareId=HW-BCM
KeyFile=$KEY1
Address=10.77.1.2:4500
[Target tcu]
EcuId=0x22
HardwareId=HW-TCU
KeyFile=$KEY2
Address=10.77.2.2:4500
CONF
        [ "$rule" = none ] || printf '[EthernetAcl]\nRule=%s\n' "$rule" >>"$D/umcd.conf"
}

ctl() { "$UMCCTL" --bus session "$@"; }
# Run umcctl, keep stdout+stderr in $D/NAME.out and the exit status in RC.
ctl_to() { # NAME ARGS...
        local name=$1; shift
        RC=0
        ctl "$@" >"$D/$name.out" 2>&1 || RC=$?
}
has() { grep -qF -- "$2" "$D/$1.out"; } # has NAME TEXT

PKG=$D/pkg
mkdir -p "$PKG"
itest_image "$PKG/bcm.bin" 8
itest_image "$PKG/tcu.bin" 1
itest_package "$PKG" op-1 "bcm:1.0.0:bcm.bin" "tcu:1.0.0:tcu.bin"

# ---- 0. no session bus: says so, not "No medium found" ----
RC=0
env -u DBUS_SESSION_BUS_ADDRESS -u XDG_RUNTIME_DIR "$UMCCTL" --bus session status \
        >"$D/nobus.out" 2>&1 || RC=$?
itest_check "--bus session without a session bus: exit 3 (got $RC) and what to do" \
        sh -c "test $RC -eq 3 && grep -qF 'no session bus to connect to' '$D/nobus.out' &&
               ! grep -q 'No medium found' '$D/nobus.out'"

# ---- 1. --check-config warns about a target or listener no rule allows ----
umcd_conf none
agent_conf 1 "$KEY1" HW-BCM none
RC=0
"$UMCD" --config "$D/umcd.conf" --check-config >"$D/check-umcd.out" 2>&1 || RC=$?
itest_check "umcd --check-config: valid (exit 0) with warnings" test "$RC" -eq 0
itest_check "umcd --check-config names file, target and the rule to add" \
        grep -qF "$D/umcd.conf: [Target bcm] Address=10.77.1.2:4500: no [EthernetAcl] Rule= allows" \
        "$D/check-umcd.out"
itest_check "umcd --check-config suggests a rule" \
        grep -qF "'Rule=allow proto=tcp dst=10.77.1.2 dport=4500'" "$D/check-umcd.out"
itest_check "umcd --check-config counts the warnings" \
        grep -qF "valid, with 2 warnings" "$D/check-umcd.out"
RC=0
"$AGENT" --config "$D/gw1/agent.conf" --check-config >"$D/check-agent.out" 2>&1 || RC=$?
itest_check "umc-agent --check-config: exit 0 with a warning naming file and Listen=" \
        sh -c "test $RC -eq 0 && grep -qF '$D/gw1/agent.conf: [Agent] Listen=10.77.1.2:4500: no [EthernetAcl] Rule=' '$D/check-agent.out'"

# ---- 2. a denial says which side, and which file lacks the rule ----
start_agent 1
itest_check "the agent warns at start about its missing rule" \
        grep -qF "no [EthernetAcl] Rule= allows a connection to it" "$D/gw1/log"
itest_start_umcd tbox
itest_check "umcd warns at start about targets no rule allows" \
        grep -qF "[Target tcu] Address=10.77.2.2:4500: no [EthernetAcl] Rule=" "$D/umcd.log"
ctl_to deny-umcd --json install --target bcm "$PKG"
itest_check "umcd's denial: reason as \"0x0405\" with its name" \
        has deny-umcd '"reason":"0x0405","reason_name":"ETH_DEFAULT_DENY"'
itest_check "umcd's denial names umcd and its file" \
        has deny-umcd "umcd denied connection"
itest_check "... and the file" has deny-umcd "no [EthernetAcl] Rule= in $D/umcd.conf allows it"
itest_stop_umcd

umcd_conf
itest_start_umcd tbox
ctl_to deny-agent install --target bcm "$PKG"
itest_check "the agent's denial: umcctl says the agent closed before authenticating (exit $RC)" \
        sh -c "test $RC -eq 1 && grep -qF 'the agent at 10.77.1.2:4500 closed the connection before authenticating' '$D/deny-agent.out'"
itest_check "text output shows the reason as 0x0603 IO_ERROR" has deny-agent "(reason 0x0603 IO_ERROR)"
itest_check "the agent's log names itself and its file" \
        grep -qF "refused: no [EthernetAcl] Rule= in $D/gw1/agent.conf allows it" "$D/gw1/log"
stop_agent 1

# ---- 3. a wrong key and a wrong hardware ID ----
agent_conf 1 "$KEY_OTHER" HW-BCM
start_agent 1
ctl_to wrong-key install --target bcm "$PKG"
itest_check "a wrong key: the key files differ, named, said once" \
        sh -c "grep -qF 'did not prove the key: the key files differ (this target'\''s KeyFile=$KEY1 and KeyFile= in the agent'\''s umc-agent.conf)' '$D/wrong-key.out' &&
               ! grep -qF 'ECU authentication failed (ECU authentication failed)' '$D/wrong-key.out'"
itest_check "a wrong key: the agent logs why umcd closed" \
        grep -qF "umcd closed the connection after our AUTH_RESPONSE" "$D/gw1/log"
stop_agent 1
agent_conf 1 "$KEY1" HW-BCM-REV2
start_agent 1
ctl_to wrong-hw install --target bcm "$PKG"
itest_check "a hardware ID mismatch shows both values" \
        has wrong-hw "reports hardware ID 'HW-BCM-REV2', the target's HardwareId= is 'HW-BCM'"
stop_agent 1

# ---- 4. typos and links ----
agent_conf 1 "$KEY1" HW-BCM
agent_conf 2 "$KEY2" HW-TCU
start_agent 1
start_agent 2
ctl_to typo install --target engnie "$PKG"
itest_check "a target typo lists the package's targets (exit $RC)" \
        sh -c "test $RC -eq 4 && grep -qF \"no image for target 'engnie'; it has images for: bcm, tcu\" '$D/typo.out'"
LINKED=$D/pkg-linked
mkdir -p "$LINKED"
cp "$PKG/manifest.json" "$LINKED/"
ln -s "$PKG/bcm.bin" "$LINKED/bcm.bin"
cp "$PKG/tcu.bin" "$LINKED/"
ctl_to linked install "$LINKED"
itest_check "a symlinked image says why links are refused" \
        sh -c "has() { grep -qF -- \"\$1\" '$D/linked.out'; }; has 'bcm.bin (target bcm): a symbolic link, refused' && ! has 'Too many levels'"

# ---- 5. numbers: rate and ETA early, never backwards; a second install; Progress after ----
# Text output without a terminal: one line per change, stamped here as it arrives.
( ctl install "$PKG" 2>&1 | while IFS= read -r l; do printf '%s %s\n' "$(date +%s.%N)" "$l"; done \
        >"$D/numbers.out" ) &
INSTALL=$!
itest_wait_for "the first target transferring" grep -q "bcm: transferring" "$D/numbers.out"
ctl_to busy install "$PKG"
itest_check "a second install is refused (exit $RC) naming the running package" \
        sh -c "test $RC -eq 4 && grep -qF 'package op-1 from $PKG is being installed' '$D/busy.out'"
itest_check "... and suggests umcctl cancel" has busy "'umcctl cancel'"
wait "$INSTALL"
itest_check "the 9 MiB install completes" grep -q "Installation completed" "$D/numbers.out"
# From the first line with acknowledged bytes (percent above 0) on.
awk '
        / bcm: transferring / {
                match($0, /transferring [0-9]+%/); p = substr($0, RSTART + 13, RLENGTH - 14) + 0
                if (p > 0 && !t0) t0 = $1
                if (p < last) back = 1
                last = p
                if (t0 && $1 - t0 > 1.2 && ($0 ~ / 0 B\/s/ || $0 ~ /ETA --:--/)) late = late " " p "%"
                n++
        }
        END { printf "lines=%d back=%d late=[%s]\n", n, back, late }
' "$D/numbers.out" >"$D/numbers.sum"
itest_log "progress lines: $(cat "$D/numbers.sum")"
itest_check "rate and ETA show within about a second of the first acknowledged bytes" \
        grep -q "late=\[\]" "$D/numbers.sum"
itest_check "the percent never goes backwards" grep -q "back=0" "$D/numbers.sum"
# tcu's progress lines: before its first transferring line "no session" and
# no key; from then on its suite and key.
awk '
        / tcu: [a-z]+ [0-9]+%/ {
                if ($0 ~ / tcu: transferring /) s = 1
                if (!s) { pre++; if ($0 !~ /, no session$/ || $0 ~ / key [0-9]/) bad = bad " [" $0 "]" }
                else if ($0 ~ / key [1-9][0-9]*$/) keyed++
        }
        END { printf "pre=%d keyed=%d bad=%s\n", pre, keyed, bad }
' "$D/numbers.out" >"$D/session.sum"
itest_log "tcu's session column: $(cat "$D/session.sum")"
itest_check "a target shows 'no session' and no key until it has a session" \
        grep -qE "^pre=[1-9][0-9]* keyed=[1-9][0-9]* bad=$" "$D/session.sum"
ctl_to status status
itest_check "status after success: Progress 100% (last installation)" \
        has status "Progress:   100% (last installation)"

# ---- 6. monitor --json sees an installation start ----
itest_spawn host "$D/monitor.json" "$UMCCTL" --bus session --json monitor
MON=$ITEST_LAST_PID
sleep 0.5
itest_image "$PKG/tcu.bin" 1
itest_package "$PKG" op-2 "bcm:1.0.0:bcm.bin" "tcu:2.0.0:tcu.bin"
ctl_to second --json install --target tcu "$PKG"
sleep 0.5
itest_stop "$MON"
itest_check "monitor --json emits started" grep -q '"event":"started"' "$D/monitor.json"
itest_check "... before any other event" \
        sh -c "grep -m 1 '\"event\"' '$D/monitor.json' | grep -q '\"event\":\"started\"'"

# ---- 7. umcd killed mid-transfer: umcctl says it resumes, umcd says resuming ----
umcd_conf "" 20
itest_stop_umcd
itest_start_umcd tbox
itest_image "$PKG/bcm.bin" 8
itest_package "$PKG" op-3 "bcm:3.0.0:bcm.bin"
( rc=0; ctl install "$PKG" >"$D/killed.out" 2>&1 || rc=$?; echo "rc=$rc" >>"$D/killed.out" ) &
INSTALL=$!
itest_wait_for "the transfer to bcm" sh -c "'$UMCCTL' --bus session status | grep -q '^bcm .*transferring'"
sleep 1
kill -9 "$ITEST_UMCD_PID"
wait "$ITEST_UMCD_PID" 2>/dev/null || true
itest_forget "$ITEST_UMCD_PID"
wait "$INSTALL" || true
itest_check "umcctl exits 3 when umcd leaves" grep -q "^rc=3" "$D/killed.out"
itest_check "... and says the installation resumes by itself" \
        has killed "the installation is not lost: when umcd starts again it resumes by itself"
itest_start_umcd tbox
itest_check "umcd's log says resuming, not verifying first" \
        grep -q "Resuming the interrupted installation of op-3" "$D/umcd.log"
for i in $(seq 1 300); do
        ctl status | grep -q "Operation:  idle" && break
        sleep 0.1
done
itest_check "the resumed image arrives byte-identical" \
        cmp -s "$PKG/bcm.bin" "$D/gw1/slots/$(tr -d '\n' <"$D/gw1/slots/active")/image"
itest_check "the agent resumed rather than started over" grep -q "resum" "$D/gw1/log"

itest_summary
