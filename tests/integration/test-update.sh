#!/bin/bash
# The cloud in umcd, end to end: umcd in the T-Box namespace with nginx
# (TLS 1.2+, client certificates, range requests, limit_rate) and the test
# backend tests/cloud/backend.py beside it on 127.0.0.1, two agents in
# their own namespaces, a private bus, umcctl as the HMI. Asserts:
#  - outside the upgrade window umcd fetches nothing until umcctl asks;
#  - `umcctl update --yes`: authenticate, handshake checks, offer, download
#    with one forced disconnect (resumed with a Range request: bytes
#    received < 2x the package), install of exactly the consented manifest
#    to both agents, the success report at the backend, the security
#    version recorded;
#  - umcd killed mid-download and restarted: the next update resumes from
#    the partial file (resumed_from > 0, bytes received < what was left + 1);
#  - InstallUpdate with a hash that is not the offer's: NotOffered;
#  - untrusted signer, expired manifest, rolled-back security version,
#    wrong image hash, images of another signed package (mix-and-match),
#    a feature code sealed for another device, a manifest without the
#    feature code the device checks, wrong token: each ends with a clear D-Bus error naming the reason, a
#    report at the backend (a report the backend refused is queued and
#    delivered by the next check), and no target touched;
#  - umcd killed while delivering an update: the manager resumes it after
#    the restart, and the update follows it and reports both targets;
#  - an unsigned package given to Install is refused (PKG_UNSIGNED), and so
#    is a package whose feature code is another device's (PKG_FEATURE_MISMATCH);
#  - CheckOrder= lists feature-code: every package the happy path installs
#    carries the device's sealed feature code and passes the check;
#  - a window that opens now makes umcd check by itself.
# Needs root (namespaces), nginx-light, python3, openssl, curl, busctl.
. "$(dirname "$0")/lib.sh"

PACK=$BUILD/umc-pack
[ -x "$PACK" ] || itest_die "missing $PACK: run make"
export PATH=$PATH:/usr/sbin
for c in nginx python3 openssl curl busctl; do
        command -v "$c" >/dev/null || itest_die "$c is missing (make deps installs it)"
done
itest_setup update 2
D=$ITEST_DIR
chmod 755 "$D"
cd "$D"
HTTPS_PORT=8443 BACKEND_PORT=8080 # inside the T-Box namespace: nobody else there

# ---- a PKI (lib.sh): root -> TLS server, TLS client, code signer; another root -> stranger ----
itest_pki dev-1
itest_ca other "other root"
itest_cert stranger "stranger" other "extendedKeyUsage=codeSigning"
[ -s stranger.pem ] || itest_die "could not build the stranger's certificate (openssl.log)"
chmod 644 ./*.pem
(umask 077; openssl rand -hex 32 >feature.key) # the device class's feature key

# ---- packages ----
mkdir -p www tmp src
head -c 300000 /dev/urandom >src/bcm-1.bin
head -c 1500000 /dev/urandom >src/gw-1.bin
head -c 300000 /dev/urandom >src/bcm-2.bin
head -c 1500000 /dev/urandom >src/gw-2.bin
head -c 300000 /dev/urandom >src/bcm-3.bin
head -c 1500000 /dev/urandom >src/gw-3.bin
TOTAL=1800000
# FC: the feature code sealed into the manifest (default the device's, OPT-A7; empty: none).
pack() { # OUT VERSION SECURITY IMAGE-SUFFIX SIGNER [EXPIRY-LINE]
        local fc=()
        [ -z "${FC-OPT-A7}" ] ||
                fc=(--feature-code "${FC-OPT-A7}" --feature-key feature.key --feature-key-id x1)
        cat >"desc-$1.ini" <<EOD
[Package]
Name=itest update $2
Version=$2
SecurityVersion=$3
${6:-ValidDays=30}
VehicleModel=X1
HardwareRevision=B2

[Image bcm]
EcuId=0x10
HardwareId=HW-BCM
Version=bcm-$2
File=src/bcm-$4.bin

[Image gw]
EcuId=0x20
HardwareId=HW-GW
Version=gw-$2
File=src/gw-$4.bin
EOD
        "$PACK" create --description "desc-$1.ini" --cert "$5.pem" --key "$5.key" "${fc[@]}" \
                --output "www/$1" >>pack.log 2>&1 || itest_die "umc-pack create $1 failed (pack.log)"
}
pack good 1.0.0 5 1 signer
pack v2 2.0.0 6 2 signer
pack v3 3.0.0 7 3 signer
pack untrusted 9.0.0 9 3 stranger
pack expired 9.1.0 9 3 signer "Expires=2026-01-01T00:00:00Z"
FC=OPT-B1 pack otherdev 9.2.0 9 3 signer
FC= pack nofc 9.3.0 9 3 signer
mkdir www/bad && cp www/v3/* www/bad/ &&
        printf 'X' | dd of=www/bad/gw.img bs=1 seek=777777 conv=notrunc 2>/dev/null
chmod -R a+rX www

# ---- servers, in the T-Box namespace (lib.sh) ----
itest_start_cloud tbox "$HTTPS_PORT" "$BACKEND_PORT" 200k dev-1
mode() { itest_cloud_mode "$@"; }

# ---- two agents ----
for k in 1 2; do
        name=$([ $k = 1 ] && echo bcm || echo gw)
        id=$([ $k = 1 ] && echo 0x10 || echo 0x20)
        hw=$([ $k = 1 ] && echo HW-BCM || echo HW-GW)
        key=$(itest_key "$name")
        mkdir -p "$D/gw$k"
        cat >"$D/gw$k/agent.conf" <<CONF
[Agent]
Listen=10.77.$k.2:4500
EcuId=$id
HardwareId=$hw
KeyFile=$key
SlotDirectory=$D/gw$k/slots
TrustAnchor=$D/root.pem
[EthernetAcl]
Rule=allow proto=tcp src=10.77.$k.1/32 dst=10.77.$k.2/32 dport=4500
CONF
        cat >>"$D/targets.conf" <<CONF
[Target $name]
EcuId=$id
HardwareId=$hw
KeyFile=$key
Address=10.77.$k.2:4500
CONF
        itest_spawn "gw$k" "$D/gw$k/log" "$AGENT" --config "$D/gw$k/agent.conf"
        itest_wait_for "agent $k" grep -q "Listening on" "$D/gw$k/log"
done
active_version() { # K
        local s
        s=$(tr -d '\n' <"$D/gw$1/slots/active" 2>/dev/null || echo a)
        cat "$D/gw$1/slots/$s/version" 2>/dev/null || echo none
}

# A window that does not hold the next minutes: 12 hours from now, 1 minute long.
far=$(date -d '+12 hours' +%H:%M) far_end=$(date -d '+12 hours 1 minute' +%H:%M)
umcd_conf() { # WINDOW
        cat >"$D/umcd.conf" <<CONF
[Daemon]
StateDirectory=$D/umcd-state
PackageDirectory=$D/www
LogLevel=debug
ConnectRetrySec=5
[Package]
TrustAnchor=$D/root.pem
CheckOrder=signature feature-code factory target version
[Device]
VehicleModel=X1
HardwareRevision=B2
FeatureCode=OPT-A7
FeatureKeyFile=$D/feature.key
[Cloud]
BaseUrl=https://127.0.0.1:$HTTPS_PORT/api
DeviceId=dev-1
SecretFile=$D/secret
Company=acme
Product=tbox
CaFile=$D/root.pem
ClientCert=$D/client.pem
ClientKey=$D/client.key
ConnectTimeoutSec=5
RequestTimeoutSec=20
LowSpeedLimit=1000
LowSpeedTimeSec=3
Retries=4
Windows=$1
RandomDelaySec=0
[EthernetAcl]
Rule=allow proto=tcp src=10.77.1.1/32 dst=10.77.1.2/32 dport=4500
Rule=allow proto=tcp src=10.77.2.1/32 dst=10.77.2.2/32 dport=4500
CONF
        cat "$D/targets.conf" >>"$D/umcd.conf"
}
umcd_conf "$far-$far_end"
itest_check "umcd --check-config accepts the [Package]/[Device]/[Cloud] config" \
        "$UMCD" --config "$D/umcd.conf" --check-config
itest_start_umcd tbox
ctl() { "$UMCCTL" --bus session "$@"; }
reports() { grep -c . reports.jsonl || true; }
reports_above() { # N: more than N reports arrived (read anew at each try)
        [ "$(reports)" -gt "$1" ]
}
api_requests() { grep -c "GET /api/" backend.log || true; }

# ---- outside the window nothing is fetched unless asked ----
sleep 3
[ "$(api_requests)" -eq 0 ] && ! grep -q "GET /pkg/" nginx-access.log 2>/dev/null &&
        itest_pass "outside the window: no request to the backend in 3 s" ||
        itest_fail "outside the window: $(api_requests) requests"
itest_check "umcd logged the next scheduled check" grep -q "Cloud: next scheduled check at" umcd.log
st=$(busctl --address="$DBUS_SESSION_BUS_ADDRESS" get-property io.umc /io/umc/Manager io.umc.Manager1 UpdateState)
[ "$st" = 's "idle"' ] && itest_pass "UpdateState is idle" || itest_fail "UpdateState: $st"

# ---- check, consent, download with one forced disconnect, install ----
mode drop
ctl check >check1.txt 2>&1 && grep -q "Update 1.0.0 available" check1.txt &&
        grep -q "bcm .*(unknown) -> bcm-1.0.0" check1.txt &&
        itest_pass "umcctl check shows the offer: 1.0.0, per target current -> offered" ||
        itest_fail "umcctl check: $(cat check1.txt)"
! grep -q "GET /img/" backend.log && itest_pass "the check fetched no image byte" ||
        itest_fail "images fetched by a check"
rc=0; ctl update --yes >update1.txt 2>&1 || rc=$?
sed 's/^/  update1: /' update1.txt >&2
[ $rc -eq 0 ] && grep -q "Update installed" update1.txt && itest_pass "umcctl update --yes: installed" ||
        itest_fail "umcctl update: exit $rc"
grep -q "downloading" update1.txt && grep -q "installing" update1.txt &&
        itest_pass "the progress bar showed downloading and installing" || itest_fail "no progress shown"
line=$(grep "Cloud: download ended" umcd.log | tail -n 1)
recv=$(sed -n 's/.*: \([0-9]*\) bytes received.*/\1/p' <<<"$line")
# Restarting the cut image would fetch its first half again: 150000 bytes more.
[ -n "$recv" ] && [ "$recv" -lt $((TOTAL + 150000)) ] && grep -q "DROP after" backend.log &&
        grep -q "RANGE bytes=" backend.log &&
        itest_pass "forced disconnect resumed with a Range request: $recv bytes for $TOTAL" ||
        itest_fail "disconnect: $line"
[ "$(active_version 1)" = bcm-1.0.0 ] && [ "$(active_version 2)" = gw-1.0.0 ] &&
        itest_pass "both agents run 1.0.0" || itest_fail "agents: $(active_version 1) $(active_version 2)"
itest_wait_for "the success report" grep -q '"result":"success"' reports.jsonl
tail -n 1 reports.jsonl | grep -q '"package_version":"1.0.0"' &&
        tail -n 1 reports.jsonl | grep -q '"target":"gw"' &&
        itest_pass "the backend got the success report with each target" ||
        itest_fail "report: $(tail -n 1 reports.jsonl)"
grep -qx "bcm=5" umcd-state/security-versions && grep -qx "gw=5" umcd-state/security-versions &&
        itest_pass "security version 5 recorded for both targets" ||
        itest_fail "security-versions: $(cat umcd-state/security-versions 2>/dev/null)"
# The ECUs checked the signed manifest themselves (their own trust anchor)
# and recorded its security version before activating the image.
[ "$(tr -d '\n' <"$D/gw1/slots/security_version")" = 5 ] &&
        [ "$(tr -d '\n' <"$D/gw2/slots/security_version")" = 5 ] &&
        itest_pass "both ECUs verified the signed manifest and recorded security version 5" ||
        itest_fail "ECU security versions: $(cat "$D"/gw*/slots/security_version 2>&1)"

# ---- consent is by hash ----
mode normal pkg=v2
ctl check >check2.txt 2>&1 || true
wrong=$(printf '%064d' 0)
rc=0; busctl --address="$DBUS_SESSION_BUS_ADDRESS" call io.umc /io/umc/Manager io.umc.Manager1 \
        InstallUpdate 'sa{sv}' "$wrong" 0 >hash.txt 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "not the offered update" hash.txt &&
        itest_pass "InstallUpdate with another hash: NotOffered, nothing fetched" ||
        itest_fail "InstallUpdate with another hash: exit $rc $(cat hash.txt)"
# The hash is 64 hex digits and no option is defined: both refused by name.
rc=0; busctl --address="$DBUS_SESSION_BUS_ADDRESS" call io.umc /io/umc/Manager io.umc.Manager1 \
        InstallUpdate 'sa{sv}' "${wrong%0}x" 0 >hash2.txt 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "manifest_hash must be 64 hex digits" hash2.txt &&
        itest_pass "InstallUpdate with a non-hex hash: InvalidArgs" ||
        itest_fail "InstallUpdate with a non-hex hash: exit $rc $(cat hash2.txt)"
rc=0; busctl --address="$DBUS_SESSION_BUS_ADDRESS" call io.umc /io/umc/Manager io.umc.Manager1 \
        CheckForUpdates 'a{sv}' 1 force b true >opt.txt 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "Unknown option 'force'" opt.txt &&
        itest_pass "CheckForUpdates with an option: InvalidArgs naming it" ||
        itest_fail "CheckForUpdates with an option: exit $rc $(cat opt.txt)"

# ---- killed mid-download, restarted: resumes from the partial file ----
mode slow pkg=v2
ctl update --yes >update2a.txt 2>&1 &
ctlpid=$!
part_size() { { stat -c %s "$D"/umcd-state/cloud/package/*.part 2>/dev/null || true; } | sort -n | tail -n 1; }
for _ in $(seq 1 150); do s=$(part_size); [ -n "$s" ] && [ "$s" -gt 300000 ] && break; sleep 0.1; done
kill -9 "$ITEST_UMCD_PID"; wait "$ITEST_UMCD_PID" 2>/dev/null || true
itest_forget "$ITEST_UMCD_PID"
wait "$ctlpid" 2>/dev/null || true
before=$(part_size)
[ -n "$before" ] && [ "$before" -gt 0 ] && itest_pass "umcd killed with $before bytes in the partial file" ||
        itest_fail "no partial file after the kill"
itest_start_umcd tbox
# A check that fails (a manifest from an untrusted signer) must not delete
# the partial images of the package verified before it.
mode normal pkg=untrusted
ctl check >untrusted-mid.txt 2>&1 || true
after=$(part_size)
grep -q "0x0705 PKG_CERT_UNTRUSTED" untrusted-mid.txt && [ "$after" = "$before" ] &&
        itest_pass "a refused check keeps the partial file ($after bytes)" ||
        itest_fail "refused check mid-download: partial now '$after' (was $before): $(cat untrusted-mid.txt)"
mode normal pkg=v2
rc=0; ctl update --yes >update2.txt 2>&1 || rc=$?
line=$(grep "Cloud: download ended" umcd.log | tail -n 1)
from=$(sed -n 's/.*resumed from \([0-9]*\),.*/\1/p' <<<"$line")
[ $rc -eq 0 ] && [ -n "$from" ] && [ "$from" -ge "$before" ] &&
        itest_pass "restarted: resumed from $from bytes and installed" ||
        itest_fail "restart: exit $rc, $line"
[ "$(active_version 1)" = bcm-2.0.0 ] && [ "$(active_version 2)" = gw-2.0.0 ] &&
        itest_pass "both agents run 2.0.0" || itest_fail "agents: $(active_version 1) $(active_version 2)"
[ -z "$(find umcd-state/cloud/package -type f)" ] &&
        itest_pass "installed: the T-Box's copy of the package is deleted" ||
        itest_fail "files left after the installation: $(ls umcd-state/cloud/package)"
cmp -s "$D/gw2/slots/$(tr -d '\n' <"$D/gw2/slots/active")/image" src/gw-2.bin &&
        itest_pass "the resumed image arrived byte for byte" || itest_fail "gw image differs"

# ---- misbehaviours: a clear error, a report, no target touched ----
refused() { # WHAT CMD PATTERN REASON_DECIMAL MODE-ARGS...
        local what=$1 cmd=$2 pat=$3 code=$4 rc=0 n0; shift 4
        mode "$@"
        n0=$(reports)
        ctl $cmd >"refused-$what.txt" 2>&1 || rc=$?
        sed "s/^/  $what: /" "refused-$what.txt" >&2
        itest_wait_for "a report of $what" reports_above "$n0"
        if [ $rc -ne 0 ] && grep -q "$pat" "refused-$what.txt" &&
           tail -n 1 reports.jsonl | grep -q "\"reason\":$code," &&
           [ "$(active_version 1)" = bcm-2.0.0 ] && [ "$(active_version 2)" = gw-2.0.0 ]; then
                itest_pass "$what: refused ($pat), reported with reason $code, targets untouched"
        else
                itest_fail "$what: exit $rc, last report $(tail -n 1 reports.jsonl)"
        fi
}
refused untrusted check "0x0705 PKG_CERT_UNTRUSTED" 1797 normal pkg=untrusted
refused expired check "0x070b PKG_EXPIRED" 1803 normal pkg=expired
refused rollback check "0x070d PKG_ROLLBACK" 1805 normal pkg=good
refused wronghash "update --yes" "0x0303 IMAGE_HASH_MISMATCH" 771 normal pkg=v3 images=bad
refused mixmatch "update --yes" "0x0303 IMAGE_HASH_MISMATCH" 771 normal pkg=v3 images=v2
refused otherdevice check "0x0715 PKG_FEATURE_MISMATCH" 1813 normal pkg=otherdev
grep -q "is for another feature code than this device's" refused-otherdevice.txt &&
        ! grep -q "OPT-B1" refused-otherdevice.txt umcd.log reports.jsonl &&
        itest_pass "another device's feature code: named, its value shown nowhere" ||
        itest_fail "feature code refusal: $(cat refused-otherdevice.txt)"
refused nofeaturecode check "0x0715 PKG_FEATURE_MISMATCH" 1813 normal pkg=nofc
[ -z "$(find umcd-state/cloud/package -type f)" ] &&
        itest_pass "nothing of the refused packages is left in the cloud folder" ||
        itest_fail "files left: $(ls umcd-state/cloud/package)"

mode wrongtoken pkg=v3
n0=$(reports)
rc=0; ctl check >token.txt 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "bad_token" token.txt && itest_pass "wrong token: refused by the backend, named" ||
        itest_fail "wrong token: exit $rc $(cat token.txt)"
mode normal pkg=v3
ctl check >after-token.txt 2>&1 || true
grep -q "bad_token" reports.jsonl && [ "$(reports)" -gt "$n0" ] &&
        itest_pass "the queued wrong-token report reached the backend with the next check" ||
        itest_fail "wrong-token report not delivered"
[ "$(active_version 1)" = bcm-2.0.0 ] && [ "$(active_version 2)" = gw-2.0.0 ] &&
        itest_pass "wrong token: targets untouched" ||
        itest_fail "wrong token touched a target: $(active_version 1) $(active_version 2)"

# ---- killed mid-delivery: the resumed installation is followed and reported ----
itest_limit_link 2 4mbit # 1.5 MB to gw in about 3 s
mode normal pkg=v3
l0=$(wc -l <umcd.log)
ctl update --yes >update3a.txt 2>&1 &
ctlpid=$!
itest_wait_for "the delivery to gw" bash -c "tail -n +$((l0 + 1)) umcd.log | grep -q 'Installing gw.img gw-3.0.0'"
sleep 1
kill -9 "$ITEST_UMCD_PID"; wait "$ITEST_UMCD_PID" 2>/dev/null || true
itest_forget "$ITEST_UMCD_PID"
wait "$ctlpid" 2>/dev/null || true
[ "$(active_version 2)" = gw-2.0.0 ] && itest_pass "umcd killed while delivering to gw" ||
        itest_fail "gw already at $(active_version 2) before the kill"
itest_ns tbox tc qdisc del dev "u${ITEST_TAG}t2" root 2>/dev/null || true
# The agent holds the session until it sees the connection go (then keeps the partial).
itest_wait_for "the gw agent noticing the lost connection" grep -q "connection lost" "$D/gw2/log"
n0=$(reports)
itest_start_umcd tbox
for _ in $(seq 1 300); do [ "$(active_version 2)" = gw-3.0.0 ] && break; sleep 0.1; done
itest_wait_for "the report of the resumed installation" reports_above "$n0"
[ "$(active_version 1)" = bcm-3.0.0 ] && [ "$(active_version 2)" = gw-3.0.0 ] &&
        grep -q "Cloud: following the resumed installation of update 3.0.0" umcd.log &&
        tail -n 1 reports.jsonl | grep -q '"package_version":"3.0.0".*"result":"success"' &&
        tail -n 1 reports.jsonl | grep -q '"target":"bcm","ecu_id":16,"version":"bcm-3.0.0","result":"installed"' &&
        itest_pass "restarted: the resumed installation finished and both targets were reported installed" ||
        itest_fail "resumed installation: $(active_version 1) $(active_version 2), report $(tail -n 1 reports.jsonl)"

# ---- an unsigned package given to Install ----
mkdir -p www/plain && cp src/bcm-3.bin www/plain/bcm.bin
itest_package www/plain plain "bcm:9.9:bcm.bin"
rc=0; ctl install "$D/www/plain" >plain.txt 2>&1 || rc=$?
[ $rc -eq 4 ] && grep -q "0x0712 PKG_UNSIGNED" plain.txt &&
        itest_pass "unsigned package refused by Install with PKG_UNSIGNED (exit 4)" ||
        itest_fail "unsigned: exit $rc $(cat plain.txt)"
rc=0; ctl install "$D/www/good" >old.txt 2>&1 || rc=$?
[ $rc -eq 4 ] && grep -q "0x070d PKG_ROLLBACK" old.txt &&
        itest_pass "a signed package below the installed security version refused by Install" ||
        itest_fail "install rollback: exit $rc $(cat old.txt)"
rc=0; ctl install "$D/www/otherdev" >otherdev.txt 2>&1 || rc=$?
[ $rc -eq 4 ] && grep -q "0x0715 PKG_FEATURE_MISMATCH" otherdev.txt &&
        [ "$(active_version 2)" = gw-3.0.0 ] &&
        itest_pass "another device's feature code refused by Install, targets untouched" ||
        itest_fail "install otherdev: exit $rc $(cat otherdev.txt)"

# ---- a window that opens now: umcd checks by itself ----
itest_stop_umcd
now=$(date +%H:%M) end=$(date -d '+2 minutes' +%H:%M)
umcd_conf "$now-$end"
n0=$(api_requests) l0=$(wc -l <umcd.log)
itest_start_umcd tbox
new_log() { tail -n +"$((l0 + 1))" umcd.log; }
for _ in $(seq 1 300); do new_log | grep -q "update 3.0.0 offered" && break; sleep 0.1; done
new_log | grep -q "Cloud: scheduled check in the upgrade window" &&
        new_log | grep -q "update 3.0.0 offered" &&
        itest_pass "inside the window umcd checked by itself and has the offer" ||
        itest_fail "no scheduled check (api requests $n0 -> $(api_requests))"

itest_summary
