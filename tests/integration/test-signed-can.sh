#!/bin/bash
# The ECU's own signature check over CAN: umcd and two endpoint agents
# (Channel=can, one classic ISO-TP, one CAN FD) on one vcan interface. The
# signed manifest carries post-flash material, so that manifest and
# signature together need more than one MANIFEST PDU (at most 3987 bytes
# each): the ECUs reassemble them from kernel ISO-TP PDUs and verify.
#  1. a signed package installs on both ECUs, which record its security
#     version;
#  2. a package signed by a CA only the T-Box trusts is refused by both
#     ECUs (0x0705 PKG_CERT_UNTRUSTED), active slots untouched.
# Needs vcan and CAN_ISOTP: where the running kernel has none, the test runs
# itself in a guest through tests/vm/run (which sets UMC_VM).
HERE=$(dirname "$(readlink -f "$0")")
if [ -z "${UMC_VM:-}" ]; then
        exec "$HERE/../vm/run" --need can --timeout 900 "$HERE/test-signed-can.sh" "$@"
fi
. "$HERE/lib.sh"

ITEST_NAME=signed-can
PACK=$BUILD/umc-pack
[ -x "$PACK" ] || itest_die "missing $PACK: run make first"
command -v openssl >/dev/null || itest_die "openssl CLI missing"
itest_require
ITEST_DIR=$(mktemp -d /tmp/umc-itest-signed-can-XXXXXX)
IF="umcs${ITEST_TAG}"
IF=${IF:0:15}
cleanup() {
        if [ "$ITEST_FAILS" -gt 0 ] || [ "${ITEST_VERBOSE:-0}" = 1 ]; then
                for f in "$D"/umcd.log "$D"/a*/log; do
                        [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; } >&2
                done
        fi
        itest_cleanup
        ip link del "$IF" 2>/dev/null || true
}
trap cleanup EXIT
D=$ITEST_DIR
cd "$D"
ip link add dev "$IF" type vcan || itest_die "cannot create vcan interface $IF"
ip link set "$IF" mtu 72
ip link set "$IF" up
itest_start_bus
itest_signing_pki

CANIDS="Id=7E0
Id=7E8
Id=7E1
Id=7E9"
for n in 1 2; do
        KEY[n]=$(itest_key "ecu$n")
        mkdir -p "$D/a$n"
        fd=no
        [ "$n" = 2 ] && fd=yes
        cat >"$D/a$n/agent.conf" <<CONF
[Agent]
Channel=can
Interface=$IF
TxId=7E$((n + 7))
RxId=7E$((n - 1))
Fd=$fd
BitRateSwitch=$fd
EcuId=0x$n
HardwareId=HW-CAN$n
KeyFile=${KEY[n]}
SlotDirectory=$D/a$n/slots
TrustAnchor=$D/root.pem
LogLevel=debug
[CanIds]
$CANIDS
CONF
        itest_spawn host "$D/a$n/log" "$AGENT" --config "$D/a$n/agent.conf"
        itest_wait_for "agent $n" grep -q "Serving ISO-TP channel" "$D/a$n/log"
done

mkdir -p "$D/umcd-state"
cat >"$D/umcd.conf" <<CONF
[Daemon]
StateDirectory=$D/umcd-state
LogLevel=debug
[Package]
TrustAnchor=$D/tbox-anchors.pem
RequireSignature=no
CheckOrder=signature
[CanIds]
$CANIDS
[Target ecu1]
EcuId=0x1
HardwareId=HW-CAN1
KeyFile=${KEY[1]}
Channel=can
Interface=$IF
TxId=7E0
RxId=7E8
[Target ecu2]
EcuId=0x2
HardwareId=HW-CAN2
KeyFile=${KEY[2]}
Channel=can
Interface=$IF
TxId=7E1
RxId=7E9
Fd=yes
BitRateSwitch=yes
CONF
# umcd must load signed packages ([Package]): say so plainly if this one cannot.
"$UMCD" --config "$D/umcd.conf" --check-config >"$D/check-umcd.out" 2>&1 ||
        itest_die "umcd refuses the configuration: $(tail -n 2 "$D/check-umcd.out")"
itest_start_umcd host

head -c 40000 /dev/urandom >ecu1.bin
head -c 60000 /dev/urandom >ecu2.bin
head -c 1024 /dev/urandom >material.bin
pack() { # DIR SIGNER VERSION
        cat >"$1.ini" <<EOD
[Package]
Name=itest signed can
Version=$3
SecurityVersion=4
ValidDays=30
VehicleModel=X1
HardwareRevision=B2

[Image ecu1]
EcuId=0x1
HardwareId=HW-CAN1
Version=$3
File=ecu1.bin
PostFlashMaterialFile=material.bin

[Image ecu2]
EcuId=0x2
HardwareId=HW-CAN2
Version=$3
File=ecu2.bin
PostFlashMaterialFile=material.bin
EOD
        local chain=inter.pem
        [ "$2" = signer ] || chain=
        "$PACK" create --description "$1.ini" --cert "$2.pem" --key "$2.key" \
                ${chain:+--chain "$chain"} --output "$1" >>pack.log 2>&1 ||
                itest_die "umc-pack create $1 failed: $(tail -2 pack.log)"
}
slot() { itest_slot_state "$D/a$1/slots"; }

pack good signer 1.0.0
total=$(($(stat -c %s good/manifest.json) + $(stat -c %s good/manifest.json.p7s)))
itest_check "manifest and signature take more than one MANIFEST PDU ($total bytes)" \
        test "$total" -gt 3987
itest_check "a signed package installs over classic and FD ISO-TP" itest_install_all i1 "$D/good"
for n in 1 2; do
        itest_check "ECU $n runs 1.0.0" grep -q "^b 1.0.0 " <(slot $n)
        itest_check "ECU $n recorded security version 4" \
                test "$(cat "$D/a$n/slots/security_version" 2>/dev/null)" = 4
done
S1=$(slot 1) S2=$(slot 2)

pack rogue rogue-signer 6.6.6
if itest_install_all i2 "$D/rogue"; then itest_fail "the rogue package was installed"; else itest_pass "the rogue install fails"; fi
for n in 1 2; do
        itest_check "ECU $n refused it: 0x0705 PKG_CERT_UNTRUSTED" \
                grep -q "ALARM .*(reason 0x0705 PKG_CERT_UNTRUSTED)" "$D/a$n/log"
done
itest_check "active slots untouched" test "$(slot 1)|$(slot 2)" = "$S1|$S2"

itest_summary
