#!/bin/bash
# README.md's "Getting started", taken at its word: every file it shows
# and every command of its steps 2 to 7, with its paths moved under a
# scratch root. Asserts:
#  - the key and PKI commands run, and the certificates they make are what
#    a device takes (umc-pack create signs with them);
#  - both agents' files and umcd's pass --check-config without a warning
#    (an ACL that allows nothing would warn);
#  - the package step builds a package that umc-pack verify accepts for
#    umcd.conf's factory parameters and both ECUs;
#  - with the two agents and umcd started on those files (in a network
#    namespace of their own, on a private bus), umcctl inspect and
#    umcctl install --manifest-hash install it on both ECUs: each active
#    slot holds its image;
#  - umcd(8)'s format-1 manifest, with the images it says how to make, is
#    refused with 0x0712 by that umcd and inspected by one with
#    RequireSignature=no.
# The users umc and umc-agent exist only on an installed system
# (test-systemd.sh's guest): here the files stay root's, which every key
# file check accepts too, and runuser's wrapping is dropped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/readme.sh"
ITEST_NAME=readme
itest_require
[ -x "$BUILD/umc-pack" ] || itest_die "missing $BUILD/umc-pack: run make first"
ITEST_DIR=$(mktemp -d /tmp/umc-itest-readme-XXXXXX)
trap itest_cleanup EXIT
R=$ITEST_DIR/fs
mkdir -p "$R/etc/umc" "$R/var/lib" "$R/root"

# The README's absolute paths (at the start of a word or a value), under $R.
relocate() { sed "s#\(^\|[ =:]\)\(/etc/umc\|/var/lib/\|/root/\)#\1$R\2#g"; }

# Run the commands of README step STEP (relocated), output in LOG.
run_step() { # STEP LOG
        local prelude
        # install -o and chown name users this host lacks; the build's
        # binaries stand for the installed ones.
        prelude=$(cat <<PRE
install() { local a=(); while [ \$# -gt 0 ]; do
        case \$1 in -o) shift 2 ;; *) a+=("\$1"); shift ;; esac; done; command install "\${a[@]}"; }
chown() { shift; command chown root "\$@"; }
runuser() { while [ "\$1" != -- ]; do shift; done; shift; "\$@"; }
umc-pack() { "$BUILD/umc-pack" "\$@"; }
umcd() { "$BUILD/umcd" "\$@"; }
umc-agent() { "$BUILD/umc-agent" "\$@"; }
PRE
)
        bash -euo pipefail -c "$prelude
$(readme_block "step=$1" | relocate)" >"$2" 2>&1
}

# ---- steps 2 and 3: keys and the signing PKI ----
if run_step keys "$ITEST_DIR/keys.log"; then
        n=0
        for k in "$R"/etc/umc/keys/*.key "$R"/etc/umc/agent-*.key; do
                grep -qx '[0-9a-f]\{64\}' "$k" && [ "$(stat -c %a "$k")" -le 600 ] && n=$((n + 1))
        done
        [ "$n" -eq 4 ] && cmp -s "$R/etc/umc/keys/bcm.key" "$R/etc/umc/agent-bcm.key" &&
                cmp -s "$R/etc/umc/keys/tcu.key" "$R/etc/umc/agent-tcu.key" &&
                itest_pass "step 2: four key files of 64 hex digits, mode 0600 or stricter; umcd's and each agent's copy agree" ||
                itest_fail "step 2: $n good key files ($(ls -l "$R"/etc/umc/keys "$R"/etc/umc/*.key 2>&1 | tr '\n' ' '))"
else
        itest_fail "step 2 fails: $(tail -3 "$ITEST_DIR/keys.log")"
fi
if run_step pki "$ITEST_DIR/pki.log"; then
        openssl verify -CAfile "$R/etc/umc/package-ca.pem" -purpose any "$R/root/umc-bench/signer.pem" \
                >>"$ITEST_DIR/pki.log" 2>&1 &&
                ext=$(openssl x509 -in "$R/root/umc-bench/signer.pem" -noout \
                        -ext extendedKeyUsage,basicConstraints 2>&1) &&
                grep -q 'Code Signing' <<<"$ext" && grep -q 'CA:FALSE' <<<"$ext" &&
                itest_pass "step 3: a P-256 CA and a code-signing certificate under it, not a CA" ||
                itest_fail "step 3: the signer does not chain or lacks codeSigning ($ITEST_DIR/pki.log)"
else
        itest_fail "step 3 fails: $(tail -3 "$ITEST_DIR/pki.log")"
fi

# ---- steps 4 and 5: the configuration files, checked ----
for f in $(readme_files); do
        mkdir -p "$(dirname "$R$f")"
        readme_block "file=$f" | relocate >"$R$f"
done
[ -s "$R/etc/umc/umcd.conf" ] && [ -s "$R/etc/umc/umc-agent-bcm.conf" ] &&
        [ -s "$R/etc/umc/umc-agent-tcu.conf" ] || itest_die "README.md lacks one of the three files"
check_one() { # BINARY FILE
        local out rc=0
        out=$("$1" --config="$2" --check-config 2>&1) || rc=$?
        if [ $rc -eq 0 ] && ! printf '%s\n' "$out" | grep -qi '^<4>\|warning'; then
                itest_pass "$(basename "$1") --check-config takes README's $(basename "$2") without a warning"
        else
                itest_fail "$(basename "$1") --check-config on README's $(basename "$2"): exit $rc: $out"
        fi
}
check_one "$AGENT" "$R/etc/umc/umc-agent-bcm.conf"
check_one "$AGENT" "$R/etc/umc/umc-agent-tcu.conf"
check_one "$UMCD" "$R/etc/umc/umcd.conf"
# The step's own check commands are these three, and they pass as written.
grep -c -- '--check-config' <(readme_block step=start) | grep -qx 3 &&
        itest_pass "step 5 checks all three files with --check-config" ||
        itest_fail "step 5 does not check each of the three files"

# ---- step 6: the package ----
if run_step pack "$ITEST_DIR/pack.log"; then
        PKG=$R/var/lib/umc/packages/demo-2.0.0
        "$BUILD/umc-pack" verify --trust-anchor "$R/etc/umc/package-ca.pem" --vehicle-model X1 \
                --hw-revision B2 --ecu 0x10,HW-BCM-0001 --ecu 0x20,HW-TCU-0001 "$PKG" \
                >"$ITEST_DIR/verify.log" 2>&1 &&
                grep -qx 'VehicleModel=X1' "$R/etc/umc/umcd.conf" &&
                grep -qx 'HardwareRevision=B2' "$R/etc/umc/umcd.conf" &&
                itest_pass "step 6: umc-pack create made a package umcd.conf's device and both ECUs accept" ||
                itest_fail "step 6: umc-pack verify: $(cat "$ITEST_DIR/verify.log")"
else
        itest_fail "step 6 fails: $(tail -3 "$ITEST_DIR/pack.log")"
fi

# ---- step 7: both agents and umcd on README's files, umcctl install ----
# Loopback addresses as README has them, in a namespace of this run's own.
ip netns add "${ITEST_NS_PREFIX}-tbox"
ip -n "${ITEST_NS_PREFIX}-tbox" link set lo up
itest_start_bus
# umcd's state where the relocated defaults would be.
cp "$R/etc/umc/umcd.conf" "$ITEST_DIR/umcd.conf"
printf '[Daemon]\nStateDirectory=%s\nPackageDirectory=%s\n' "$R/var/lib/umc" \
        "$R/var/lib/umc/packages" >>"$ITEST_DIR/umcd.conf"
for t in bcm tcu; do
        itest_spawn tbox "$ITEST_DIR/agent-$t.log" "$AGENT" --config="$R/etc/umc/umc-agent-$t.conf"
        itest_wait_for "agent $t" grep -q Listening "$ITEST_DIR/agent-$t.log"
done
itest_start_umcd tbox
ctl() { "$UMCCTL" --bus session "$@"; }
run_install_step() {
        local line hash
        while IFS= read -r line; do
                case $line in
                umcctl\ inspect\ *)
                        ctl inspect "$(printf '%s\n' "${line#umcctl inspect }" | relocate)" \
                                >"$ITEST_DIR/inspect.out" 2>&1 || return 1
                        hash=$(grep -o '[0-9a-f]\{64\}' "$ITEST_DIR/inspect.out" | head -n 1) ;;
                umcctl\ install\ *)
                        line=${line#umcctl install }
                        line=$(printf '%s\n' "${line/<hash>/$hash}" | relocate)
                        # shellcheck disable=SC2086 # the README's words
                        ctl install $line >"$ITEST_DIR/install.out" 2>&1 || return 1 ;;
                umcctl\ status)
                        ctl status >"$ITEST_DIR/status.out" 2>&1 || return 1 ;;
                *) echo "step 7 has a command this test does not know: $line" >&2; return 1 ;;
                esac
        done < <(readme_commands install)
        [ -n "$hash" ]
}
if run_install_step; then
        ok=1
        for t in bcm tcu; do
                have=$(itest_slot_state "$R/var/lib/umc-agent-$t/slots")
                want=$(sha256sum <"$R/root/umc-bench/$t.bin" | cut -d' ' -f1)
                [ "$have" = "a $t-2.0.0 $want" ] || [ "$have" = "b $t-2.0.0 $want" ] ||
                        { ok=0; itest_log "$t: slot store $have, want $t-2.0.0 $want"; }
        done
        [ $ok = 1 ] && itest_pass "step 7: umcctl inspect and install put both images in their ECU's active slot" ||
                itest_fail "step 7: the slots do not hold the images ($(tail -5 "$ITEST_DIR/install.out"))"
else
        itest_fail "step 7: umcctl failed: $(cat "$ITEST_DIR"/inspect.out "$ITEST_DIR"/install.out 2>/dev/null | tail -5)"
fi

# ---- umcd(8): the format-1 manifest ----
U=$R/var/lib/umc/packages/unsigned
mkdir -p "$U"
sed -n '/^\.SS Unsigned packages/,/^\.SS /p' "$ITEST_ROOT/man/umcd.8" |
        sed -n '/^\.EX/,/^\.EE/p' | sed '1d;$d; s/\\-/-/g' >"$U/manifest.json"
# Its images as the page says to make them: "head -c SIZE /dev/zero >FILE".
sed -n '/^\.SS Unsigned packages/,/^\.SS /p' "$ITEST_ROOT/man/umcd.8" |
        grep -o 'head \\-c [0-9]*M /dev/zero >[a-z]*\.bin' |
        while read -r _ _ size _ file; do head -c "$size" /dev/zero >"$U/${file#>}"; done
[ -s "$U/manifest.json" ] && [ -f "$U/bcm.bin" ] && [ -f "$U/tcu.bin" ] ||
        itest_die "umcd(8) has no format-1 example with the commands for its images"
out=$(ctl inspect "$U" 2>&1) && rc=0 || rc=$?
[ $rc -ne 0 ] && printf '%s\n' "$out" | grep -q 0x0712 &&
        itest_pass "umcd(8)'s format-1 package is refused with 0x0712 while RequireSignature=yes" ||
        itest_fail "the format-1 package with RequireSignature=yes: exit $rc: $out"
itest_stop_umcd
sed -i 's/^\[Package\]$/[Package]\nRequireSignature=no/' "$ITEST_DIR/umcd.conf"
itest_start_umcd tbox
want=$(sha256sum <"$U/manifest.json" | cut -d' ' -f1)
out=$(ctl inspect "$U" 2>&1) && rc=0 || rc=$?
[ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q "$want" &&
        itest_pass "umcd(8)'s format-1 package is complete: inspected with RequireSignature=no, hash $want" ||
        itest_fail "the format-1 package with RequireSignature=no: exit $rc: $out"

itest_summary
