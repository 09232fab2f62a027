#!/bin/bash
# The ECUs check the backend's signature themselves, end to end over
# Ethernet: umcd and two endpoint agents in their own network namespaces,
# and a third ECU behind a gateway agent (the gateway verifies nothing and
# passes the signed manifest on to the ECU), a test PKI made with the
# stock openssl CLI, packages made by umc-pack.
# umcd plays a compromised T-Box: it trusts a rogue CA besides the
# backend's and runs only its signature check (CheckOrder=signature,
# RequireSignature=no), so every refusal below comes from the ECUs, which
# trust the backend's CA alone:
#  1. a signed package installs on the three ECUs, which record its security
#     version (security_version in their slot stores);
#  2. a package signed by the rogue CA: each ECU refuses it
#     (0x0705 PKG_CERT_UNTRUSTED), active slots untouched;
#  3. a genuine but older package (lower security version): refused by
#     each ECU (0x070d PKG_ROLLBACK); with a signed downgrade permission
#     for one ECU, that one takes it and the others refuse;
#  4. an unsigned package: refused by each ECU (0x0713 PKG_SIG_MISSING);
#  5. images encrypted for bcm and for ECU 3 alone (their PackageKeyFile=):
#     each ECU decrypts and its slot holds the plaintext, while umcd's
#     package and the gateway's store only ever hold the ciphertext; an
#     image encrypted for gw, which has no package key, is refused there
#     (0x0711 PKG_DECRYPT_FAILED) and gw's slot stays untouched.
HERE=$(dirname "$(readlink -f "$0")")
. "$HERE/lib.sh"

PACK=$BUILD/umc-pack
[ -x "$PACK" ] || itest_die "missing $PACK: run make first"
command -v openssl >/dev/null || itest_die "openssl CLI missing"
itest_setup signed 3
D=$ITEST_DIR
cd "$D"

# ---- the PKI: the backend's root -> intermediate -> signer; a rogue root and signer ----
itest_signing_pki

# ---- two ECUs ----
ECU_ID=(0 0x10 0x20)
HW=(none HW-BCM-3 HW-GW-1)
NAME=(none bcm gw)
PKGKEY1=$(itest_key bcm-package)   # shared by the backend and bcm alone
PKGKEY3=$(itest_key ecu3-package)  # ... and ECU 3 alone (never the gateway)
PKGKEYGW=$(itest_key gw-package)   # gw is not given its key
PKGLINE=(none "PackageKeyFile=$PKGKEY1" "")
for k in 1 2; do
        mkdir -p "$D/gw$k"
        KEY[k]=$(itest_key "${NAME[k]}")
        cat >"$D/gw$k/agent.conf" <<CONF
[Agent]
Listen=10.77.$k.2:4500
EcuId=${ECU_ID[k]}
HardwareId=${HW[k]}
KeyFile=${KEY[k]}
SlotDirectory=$D/gw$k/slots
TrustAnchor=$D/root.pem
${PKGLINE[k]}
LogLevel=debug
[EthernetAcl]
Rule=allow proto=tcp src=10.77.$k.1/32 dst=10.77.$k.2/32 dport=4500
CONF
        itest_spawn "gw$k" "$D/gw$k/log" "$AGENT" --config "$D/gw$k/agent.conf"
        itest_wait_for "agent $k" grep -q "Listening on" "$D/gw$k/log"
done

# ---- a third ECU behind a gateway, both in namespace gw3 (the ECU on loopback) ----
mkdir -p "$D/gw3"
KEY[3]=$(itest_key ecu3)    # the ECU's own: the gateway's hop to it
KEYGW=$(itest_key gateway)  # umcd's hop to the gateway
cat >"$D/gw3/ecu.conf" <<CONF
[Agent]
Listen=127.0.0.1:4501
EcuId=0x30
HardwareId=HW-ECU-3
KeyFile=${KEY[3]}
SlotDirectory=$D/gw3/slots
TrustAnchor=$D/root.pem
PackageKeyFile=$PKGKEY3
LogLevel=debug
[EthernetAcl]
Rule=allow proto=tcp src=127.0.0.1/32 dst=127.0.0.1/32 dport=4501
CONF
cat >"$D/gw3/forward.conf" <<CONF
[Daemon]
StateDirectory=$D/gw3/forward-state
LogLevel=debug
[EthernetAcl]
Rule=allow proto=tcp dst=127.0.0.1/32 dport=4501
[Target ecu3]
EcuId=0x30
HardwareId=HW-ECU-3
KeyFile=${KEY[3]}
Address=127.0.0.1:4501
CONF
cat >"$D/gw3/gateway.conf" <<CONF
[Agent]
Mode=gateway
ForwardConfig=$D/gw3/forward.conf
Listen=10.77.3.2:4500
EcuId=0x3
HardwareId=HW-GATEWAY
KeyFile=$KEYGW
SlotDirectory=$D/gw3/store
LogLevel=debug
[EthernetAcl]
Rule=allow proto=tcp src=10.77.3.1/32 dst=10.77.3.2/32 dport=4500
CONF
itest_spawn gw3 "$D/gw3/log" "$AGENT" --config "$D/gw3/ecu.conf"
itest_wait_for "ECU 3" grep -q "Listening on" "$D/gw3/log"
itest_spawn gw3 "$D/gw3/gateway.log" "$AGENT" --config "$D/gw3/gateway.conf"
itest_wait_for "the gateway" grep -q "Listening on" "$D/gw3/gateway.log"

mkdir -p "$D/umcd-state"
cat >"$D/umcd.conf" <<CONF
[Daemon]
StateDirectory=$D/umcd-state
LogLevel=debug
[Package]
TrustAnchor=$D/tbox-anchors.pem
RequireSignature=no
CheckOrder=signature
[EthernetAcl]
Rule=allow proto=tcp src=10.77.0.0/16 dport=4500
[Target bcm]
EcuId=0x10
HardwareId=HW-BCM-3
KeyFile=${KEY[1]}
Address=10.77.1.2:4500
[Target gw]
EcuId=0x20
HardwareId=HW-GW-1
KeyFile=${KEY[2]}
Address=10.77.2.2:4500
[Target ecu3]
EcuId=0x30
HardwareId=HW-ECU-3
KeyFile=$KEYGW
Address=10.77.3.2:4500
CONF
# umcd must load signed packages ([Package]): say so plainly if this one cannot.
"$UMCD" --config "$D/umcd.conf" --check-config >"$D/check-umcd.out" 2>&1 ||
        itest_die "umcd refuses the configuration: $(tail -n 2 "$D/check-umcd.out")"
itest_start_umcd tbox

# ---- packages ----
head -c 300000 /dev/urandom >bcm.bin
head -c 200000 /dev/urandom >gw.bin
head -c 100000 /dev/urandom >ecu3.bin
pack() { # DIR SIGNER SECURITY_VERSION VERSION [extra line for [Image gw]] [... bcm] [... ecu3]
        cat >"$1.ini" <<EOD
[Package]
Name=itest signed
Version=$4
SecurityVersion=$3
ValidDays=30
VehicleModel=X1
HardwareRevision=B2

[Image bcm]
EcuId=0x10
HardwareId=HW-BCM-3
Version=$4
File=bcm.bin
${6:-}

[Image gw]
EcuId=0x20
HardwareId=HW-GW-1
Version=$4
File=gw.bin
${5:-}

[Image ecu3]
EcuId=0x30
HardwareId=HW-ECU-3
Version=$4
File=ecu3.bin
${7:-}
EOD
        local chain=inter.pem
        [ "$2" = signer ] || chain=
        "$PACK" create --description "$1.ini" --cert "$2.pem" --key "$2.key" \
                ${chain:+--chain "$chain"} --output "$1" >>"$D/pack.log" 2>&1 ||
                itest_die "umc-pack create $1 failed: $(tail -2 "$D/pack.log")"
}
slot() { itest_slot_state "$D/gw$1/slots"; }
secver() { cat "$D/gw$1/slots/security_version" 2>/dev/null || echo none; }
refused_by_ecu() { # K CODE NAME: the agent logged the ALARM since mark K
        tail -n +"${MARK[$1]}" "$D/gw$1/log" | grep -q "ALARM .*(reason $2 $3)"
}
mark() { for k in 1 2 3; do MARK[k]=$(($(wc -l <"$D/gw$k/log") + 1)); done; }

# ---- 1. signed: installed, security version recorded ----
pack good signer 5 1.0.0
mark
itest_check "a signed package installs on all three ECUs" itest_install_all i1 "$D/good"
for k in 1 2 3; do
        itest_check "ECU $k runs 1.0.0" grep -q "^b 1.0.0 " <(slot $k)
        itest_check "ECU $k recorded security version 5" test "$(secver $k)" = 5
done
itest_check "the gateway passed the manifest on: ECU 3 verified it" \
        grep -q "version 1.0.0 installed into slot b" "$D/gw3/log"
S1=$(slot 1) S2=$(slot 2) S3=$(slot 3)

# ---- 2. a signer only the T-Box trusts ----
pack rogue rogue-signer 9 6.6.6
mark
if itest_install_all i2 "$D/rogue"; then itest_fail "the rogue package was installed"; else itest_pass "the rogue install fails"; fi
itest_check "umcd passed it on (it trusts the rogue CA)" grep -q "Installing bcm.img 6.6.6 on bcm" "$D/umcd.log"
for k in 1 2 3; do
        itest_check "ECU $k refused it: 0x0705 PKG_CERT_UNTRUSTED" refused_by_ecu $k 0x0705 PKG_CERT_UNTRUSTED
done
itest_check "umcctl names the ECU's reason" grep -q "PKG_CERT_UNTRUSTED" "$D/i2.json"
itest_check "ECU 1's active slot untouched" test "$(slot 1)" = "$S1"
itest_check "ECU 2's active slot untouched" test "$(slot 2)" = "$S2"
itest_check "ECU 3's active slot untouched" test "$(slot 3)" = "$S3"
itest_check "security versions untouched" test "$(secver 1)$(secver 2)$(secver 3)" = 555

# ---- 3. genuine but older; then a signed downgrade for gw only ----
pack old signer 3 0.9.0
mark
if itest_install_all i3 "$D/old"; then itest_fail "the older package was installed"; else itest_pass "the older install fails"; fi
for k in 1 2 3; do
        itest_check "ECU $k refused it: 0x070d PKG_ROLLBACK" refused_by_ecu $k 0x070d PKG_ROLLBACK
done
itest_check "active slots untouched" test "$(slot 1)|$(slot 2)|$(slot 3)" = "$S1|$S2|$S3"
pack down signer 3 0.9.1 "DowngradeMax=5"
mark
if itest_install_all i4 "$D/down"; then itest_fail "bcm took a downgrade it has no permission for"; else itest_pass "the partial downgrade fails for bcm"; fi
itest_check "bcm refused it: 0x070d PKG_ROLLBACK" refused_by_ecu 1 0x070d PKG_ROLLBACK
itest_check "bcm untouched" test "$(slot 1)" = "$S1"
itest_check "ECU 3 refused it: 0x070d PKG_ROLLBACK" refused_by_ecu 3 0x070d PKG_ROLLBACK
itest_check "ECU 3 untouched" test "$(slot 3)" = "$S3"
itest_check "gw took the signed downgrade" grep -q "^a 0.9.1 " <(slot 2)
itest_check "gw's record follows it: 3" test "$(secver 2)" = 3

# ---- 4. unsigned ----
mkdir -p "$D/unsigned"
cp bcm.bin gw.bin "$D/unsigned/"
cp ecu3.bin "$D/unsigned/"
itest_package "$D/unsigned" unsigned "bcm:7.0.0:bcm.bin" "gw:7.0.0:gw.bin" "ecu3:7.0.0:ecu3.bin"
mark
if itest_install_all i5 "$D/unsigned"; then itest_fail "an unsigned package was installed"; else itest_pass "the unsigned install fails"; fi
for k in 1 2 3; do
        itest_check "ECU $k refused it: 0x0713 PKG_SIG_MISSING" refused_by_ecu $k 0x0713 PKG_SIG_MISSING
done
itest_check "bcm untouched" test "$(slot 1)" = "$S1"
itest_check "gw untouched" grep -q "^a 0.9.1 " <(slot 2)
itest_check "ECU 3 untouched" test "$(slot 3)" = "$S3"

# ---- 5. images encrypted for one ECU alone ----
holds() { # FILE PLAIN: FILE's bytes are PLAIN's
        cmp -s "$1" "$2"
}
holds_nowhere() { # DIR PLAIN: no file below DIR holds PLAIN's bytes
        local f
        # A missing DIR (a path gone wrong) holds nothing: that proves nothing.
        [ -d "$1" ] || { itest_log "holds_nowhere: no folder $1"; return 1; }
        while IFS= read -r -d '' f; do
                cmp -s "$f" "$2" && return 1
        done < <(find "$1" -type f -print0)
        return 0
}
pack sealed signer 6 2.0.0 "" "EncryptKeyFile=$PKGKEY1" "EncryptKeyFile=$PKGKEY3"
itest_check "the package holds bcm's image encrypted" test -f "$D/sealed/bcm.img.enc"
itest_check "the package holds ECU 3's image encrypted" test -f "$D/sealed/ecu3.img.enc"
mark
itest_check "a package with images encrypted for bcm and ECU 3 installs" itest_install_all i6 "$D/sealed"
for k in 1 2 3; do
        itest_check "ECU $k runs 2.0.0" grep -q " 2.0.0 " <(slot $k)
done
A1=$(tr -d '\n' <"$D/gw1/slots/active") A3=$(tr -d '\n' <"$D/gw3/slots/active")
itest_check "bcm's slot holds the plaintext" holds "$D/gw1/slots/$A1/image" bcm.bin
itest_check "ECU 3's slot holds the plaintext" holds "$D/gw3/slots/$A3/image" ecu3.bin
itest_check "bcm left no decryption file behind" test ! -e "$D/gw1/slots/incoming/image.plain"
itest_check "the gateway's store holds ECU 3's ciphertext" \
        bash -c "cmp -s '$D/gw3/store/ecu3/a/image' '$D/sealed/ecu3.img.enc' ||
                 cmp -s '$D/gw3/store/ecu3/b/image' '$D/sealed/ecu3.img.enc'"
itest_check "the gateway never held ECU 3's plaintext" holds_nowhere "$D/gw3/store" ecu3.bin
itest_check "umcd's state never held bcm's plaintext" holds_nowhere "$D/umcd-state" bcm.bin
itest_check "umcd's state never held ECU 3's plaintext" holds_nowhere "$D/umcd-state" ecu3.bin
itest_check "the package never held bcm's plaintext" holds_nowhere "$D/sealed" bcm.bin
itest_check "security versions recorded: 6" test "$(secver 1)$(secver 2)$(secver 3)" = 666
S1=$(slot 1) S2=$(slot 2) S3=$(slot 3)

pack sealed-gw signer 6 2.0.1 "EncryptKeyFile=$PKGKEYGW"
mark
if itest_install_all i7 "$D/sealed-gw"; then itest_fail "gw installed an image it has no key for"; else itest_pass "the install of an image gw cannot open fails"; fi
itest_check "gw refused it: 0x0711 PKG_DECRYPT_FAILED" refused_by_ecu 2 0x0711 PKG_DECRYPT_FAILED
itest_check "gw's log names the missing PackageKeyFile=" \
        bash -c "tail -n +${MARK[2]} '$D/gw2/log' | grep -q 'no PackageKeyFile='"
itest_check "gw untouched" test "$(slot 2)" = "$S2"
itest_check "gw left no decryption file behind" test ! -e "$D/gw2/slots/incoming/image.plain"

itest_summary
