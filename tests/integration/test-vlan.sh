#!/bin/bash
# The 802.1Q part of the Ethernet ACL, end to end: umcd in the T-Box's
# network namespace, two agents in a gateway's, joined by one veth pair
# that carries VLAN 42 (10.42.0.0/24) and VLAN 43 (10.43.0.0/24). Both
# ACLs allow TCP to 10.0.0.0/8 port 4500 on VLAN 42 only, so the two
# targets differ in nothing but their VLAN: the one on VLAN 42 installs,
# the one on VLAN 43 is refused with an alarm and its slot stays as it was.
#
# Linux is a weak host: it accepts a packet for any of its addresses on any
# interface. So a third agent listens on a second VLAN 42 address,
# 10.42.0.3, and the T-Box routes that address through VLAN 43: the agent
# must judge the connection by the interface it arrived on (v43) and refuse
# it, and accept the same peer once the route goes through VLAN 42 again.
# A fourth agent is bound to v42 with BindInterface=: the routed peer never
# reaches it, the direct one does.
#
# Needs a kernel with 802.1Q: where the running one has none, the test runs
# itself in a guest through tests/vm/run (which sets UMC_VM).
HERE=$(dirname "$(readlink -f "$0")")
if [ -z "${UMC_VM:-}" ]; then
        exec "$HERE/../vm/run" --need vlan --timeout 300 "$HERE/test-vlan.sh" "$@"
fi
. "$HERE/lib.sh"

itest_setup vlan 1
D=$ITEST_DIR
T="u${ITEST_TAG}t1" # the T-Box end of the veth pair
G="u${ITEST_TAG}g1" # the gateway end
KEY42=$(itest_key v42)
KEY43=$(itest_key v43)
KEYR=$(itest_key r42)
KEYB=$(itest_key b42)
ACL_42="allow proto=tcp dst=10.0.0.0/8 dport=4500 vlan=42"

vlan_if() { # NS PARENT ID ADDRESS
        itest_ns "$1" ip link add link "$2" name "v$3" type vlan id "$3"
        itest_ns "$1" ip addr add "$4/24" dev "v$3"
        itest_ns "$1" ip link set "v$3" up
}
vlan_if tbox "$T" 42 10.42.0.1
vlan_if tbox "$T" 43 10.43.0.1
vlan_if gw1 "$G" 42 10.42.0.2
vlan_if gw1 "$G" 43 10.43.0.2
is_vlan() { itest_ns "$1" ip -d link show "v$2" | grep -q "vlan protocol 802.1Q id $2 "; }
vlans_ok() { is_vlan tbox 42 && is_vlan tbox 43 && is_vlan gw1 42 && is_vlan gw1 43; }
itest_check "v42 and v43 are 802.1Q interfaces on both sides" vlans_ok

itest_ns gw1 ip addr add 10.42.0.3/24 dev v42 # the routed peer's way in

# One agent per address (Listen= takes one), the same ACL on each.
start_agent_as() { # NAME LISTEN ECU KEYFILE ACL_RULE [EXTRA [Agent] LINE]
        local a="$D/a$1" n
        mkdir -p "$a"
        cat >"$a/agent.conf" <<CONF
[Agent]
Mode=endpoint
Listen=$2
${6:-}
EcuId=0x$3
HardwareId=HW-V$3
KeyFile=$4
SlotDirectory=$a/slots
RequireSignature=no
LogLevel=debug
[EthernetAcl]
Rule=$5
CONF
        n=$(itest_log_count "$a/log" "Listening")
        itest_spawn gw1 "$a/log" "$AGENT" --config "$a/agent.conf"
        itest_wait_for "agent $1" itest_log_grew "$a/log" "Listening" "$n"
}
start_agent() { start_agent_as "$1" "10.$1.0.2:4500" "$1" "$2" "${3:-$ACL_42}"; } # VLAN KEYFILE [RULE]

umcd_conf() { # ACL_RULE
        mkdir -p "$D/umcd-state"
        cat >"$D/umcd.conf" <<CONF
[Package]
RequireSignature=no
[Daemon]
StateDirectory=$D/umcd-state
LogLevel=debug
[EthernetAcl]
Rule=$1
[Target v42]
EcuId=0x42
HardwareId=HW-V42
KeyFile=$KEY42
Channel=tcp
Address=10.42.0.2:4500
[Target v43]
EcuId=0x43
HardwareId=HW-V43
KeyFile=$KEY43
Channel=tcp
Address=10.43.0.2:4500
[Target r42]
EcuId=0x142
HardwareId=HW-V142
KeyFile=$KEYR
Channel=tcp
Address=10.42.0.3:4500
[Target b42]
EcuId=0x242
HardwareId=HW-V242
KeyFile=$KEYB
Channel=tcp
Address=10.42.0.3:4501
CONF
}

start_umcd() { umcd_conf "$1"; itest_start_umcd tbox; }
stop_umcd() { itest_stop_umcd; }
slot_state() { itest_slot_state "$D/a$1/slots"; } # VLAN

make_package() { # NAME VERSION
        local p="$D/pkg-$1"
        mkdir -p "$p"
        itest_image "$p/v42.bin" 1
        itest_image "$p/v43.bin" 1
        itest_image "$p/r42.bin" 1
        itest_image "$p/b42.bin" 1
        itest_package "$p" "$1" "v42:$2:v42.bin" "v43:$2:v43.bin" "r42:$2:r42.bin" "b42:$2:b42.bin"
        echo "$p"
}

install() { itest_install "$@"; }

start_agent 42 "$KEY42"
start_agent 43 "$KEY43"
start_agent_as r42 10.42.0.3:4500 142 "$KEYR" "$ACL_42"
start_agent_as b42 0.0.0.0:4501 242 "$KEYB" "allow proto=tcp dport=4501 vlan=any" "BindInterface=v42"
itest_check "BindInterface=v42: the agent says where it listens" \
        grep -q "Listening on 0.0.0.0:4501 on v42" "$D/ab42/log"
start_umcd "$ACL_42"

# ---- 1. the target on VLAN 42 is allowed ----
PKG1=$(make_package p1 1.0.0)
rc=0
install ok-42 v42 "$PKG1" || rc=$?
itest_check "VLAN 42: install succeeds (exit $rc)" test "$rc" -eq 0
itest_check "VLAN 42: completed signal says success" \
        grep -q '"event":"completed","time":[0-9]*,"success":true' "$D/ok-42.json"
itest_check "VLAN 42: image arrives byte-identical" \
        test "$(slot_state 42 | cut -d' ' -f3)" = "$(sha256sum <"$PKG1/v42.bin" | cut -d' ' -f1)"
itest_check "VLAN 42: version recorded" test "$(slot_state 42 | cut -d' ' -f2)" = 1.0.0
itest_check "VLAN 42: umcd saw the connection on VLAN 42" \
        grep -q 'v42: connection tcp 10.42.0.1:[0-9]* -> 10.42.0.2:4500 vlan 42 allowed' "$D/umcd.log"
itest_check "VLAN 42: the agent saw it on VLAN 42 too" \
        grep -q 'tcp 10.42.0.1:[0-9]* -> 10.42.0.2:4500 vlan 42: accepted' "$D/a42/log"

# ---- 2. the target on VLAN 43: umcd's ACL refuses, nothing is sent ----
before=$(slot_state 43)
rc=0
install deny-43 v43 "$PKG1" || rc=$?
itest_check "VLAN 43: install fails (exit $rc)" test "$rc" -eq 1
itest_check "VLAN 43: alarm on D-Bus names the ACL and VLAN 43" \
        grep -Eq '"event":"alarm".*"target":"v43".*umcd denied connection .*vlan 43: no \[EthernetAcl\] Rule= in .* allows it' \
        "$D/deny-43.json"
itest_check "VLAN 43: completed signal says failure" \
        grep -q '"event":"completed","time":[0-9]*,"success":false' "$D/deny-43.json"
itest_check "VLAN 43: the agent's slot is untouched ($before)" test "$(slot_state 43)" = "$before"
itest_check "VLAN 43: the agent received no transfer" bash -c "! grep -q 'receiving version' '$D/a43/log'"
itest_check "VLAN 43: the agent's ACL refused the connection on its side too" \
        grep -q 'ALARM tcp 10.43.0.1:[0-9]* -> 10.43.0.2:4500 vlan 43: refused: no \[EthernetAcl\]' "$D/a43/log"
itest_check "VLAN 42: still at 1.0.0" test "$(slot_state 42 | cut -d' ' -f2)" = 1.0.0

# ---- 3. umcd allows any VLAN: the agent's own VLAN rule still refuses 43 ----
stop_umcd
start_umcd "allow proto=tcp dst=10.0.0.0/8 vlan=any"
n_alarms=$(grep -c 'vlan 43: refused' "$D/a43/log" || true)
PKG2=$(make_package p2 2.0.0)
rc=0
install agent-43 v43 "$PKG2" || rc=$?
itest_check "agent ACL: install to VLAN 43 fails (exit $rc)" test "$rc" -eq 1
itest_check "agent ACL: umcd raised an alarm for v43" grep -q '"event":"alarm".*"target":"v43"' "$D/agent-43.json"
itest_check "agent ACL: the agent refused VLAN 43 once more" \
        test "$(grep -c 'vlan 43: refused' "$D/a43/log" || true)" -gt "$n_alarms"
itest_check "agent ACL: the agent's slot is untouched ($before)" test "$(slot_state 43)" = "$before"

# ---- 4. a peer on VLAN 43 routed to the VLAN 42 address: judged by where it arrives ----
itest_ns tbox ip route add 10.42.0.3/32 via 10.43.0.2 dev v43 src 10.43.0.1
rbefore=$(slot_state r42)
rc=0
install routed-r42 r42 "$PKG2" || rc=$?
itest_check "routed via VLAN 43: install fails (exit $rc)" test "$rc" -eq 1
itest_check "routed via VLAN 43: the agent judged VLAN 43, where the packets arrived" \
        grep -q 'ALARM tcp 10.43.0.1:[0-9]* -> 10.42.0.3:4500 vlan 43: refused: no \[EthernetAcl\]' "$D/ar42/log"
itest_check "routed via VLAN 43: the agent never took it for VLAN 42" \
        bash -c "! grep -q 'tcp 10.43.0.1:[0-9]* -> 10.42.0.3:4500 vlan 42' '$D/ar42/log'"
itest_check "routed via VLAN 43: the slot is untouched ($rbefore)" test "$(slot_state r42)" = "$rbefore"
bbefore=$(slot_state b42)
rc=0
install routed-b42 b42 "$PKG2" || rc=$?
itest_check "BindInterface=v42, routed via VLAN 43: install fails (exit $rc)" test "$rc" -eq 1
itest_check "BindInterface=v42, routed via VLAN 43: the connection never reached the agent" \
        bash -c "! grep -q 'tcp 10.43.0.1:[0-9]* -> 10.42.0.3:4501' '$D/ab42/log'"
itest_check "BindInterface=v42: the slot is untouched ($bbefore)" test "$(slot_state b42)" = "$bbefore"

itest_ns tbox ip route del 10.42.0.3/32
rc=0
install direct-r42 r42 "$PKG2" || rc=$?
itest_check "direct on VLAN 42: the same agent and address install (exit $rc)" test "$rc" -eq 0
itest_check "direct on VLAN 42: the agent saw VLAN 42" \
        grep -q 'tcp 10.42.0.1:[0-9]* -> 10.42.0.3:4500 vlan 42: accepted' "$D/ar42/log"
itest_check "direct on VLAN 42: version 2.0.0 recorded" test "$(slot_state r42 | cut -d' ' -f2)" = 2.0.0
rc=0
install direct-b42 b42 "$PKG2" || rc=$?
itest_check "BindInterface=v42, direct: install succeeds (exit $rc)" test "$rc" -eq 0
itest_check "BindInterface=v42, direct: version 2.0.0 recorded" \
        test "$(slot_state b42 | cut -d' ' -f2)" = 2.0.0

# ---- 5. an untagged-only rule refuses the tagged VLAN 42 ----
stop_umcd
start_umcd "allow proto=tcp dst=10.0.0.0/8 dport=4500 vlan=none"
rc=0
install untagged-42 v42 "$PKG2" || rc=$?
itest_check "vlan=none: install to VLAN 42 fails (exit $rc)" test "$rc" -eq 1
itest_check "vlan=none: alarm names VLAN 42 and the ACL" \
        grep -Eq '"event":"alarm".*"target":"v42".*umcd denied connection .*vlan 42: no \[EthernetAcl\] Rule= in .* allows it' \
        "$D/untagged-42.json"
itest_check "vlan=none: VLAN 42 still at 1.0.0" test "$(slot_state 42 | cut -d' ' -f2)" = 1.0.0
stop_umcd

itest_summary
