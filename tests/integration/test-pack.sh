#!/bin/bash
# umc-pack as a backend uses it, with a test PKI made by the stock openssl
# CLI: create -> verify passes every check; a package signed by the stock
# `openssl cms -sign` verifies too (the backend needs no umc code to sign);
# then each tampering is refused with its reason code and exit status 1:
# a changed manifest byte, a re-hashed manifest (image swapped and its
# hash updated, signature left), a swapped image, a manifest from another
# package, an untrusted root, a revoked signer (CRL), a wrong-purpose
# certificate, an expired package. SM2: umc-pack's SM2 format, and the
# same made with the stock CLI (with, and refused without, the standard
# distinguishing ID). The feature code: sealed by create, checked by verify
# with the device's code and its class's key, shown by inspect as present
# but not its value; another code, another key, none, and one lifted into
# another validly signed package are each refused with 0x0715. The
# original package stays intact.
# Needs no root and no namespaces.
HERE=$(dirname "$(readlink -f "$0")")
. "$HERE/lib.sh"

ITEST_NAME=pack
PACK=$BUILD/umc-pack
[ -x "$PACK" ] || itest_die "missing $PACK: run make first"
command -v openssl >/dev/null || itest_die "openssl CLI missing"
ITEST_DIR=$(mktemp -d /tmp/umc-itest-pack-XXXXXX)
trap itest_cleanup EXIT
D=$ITEST_DIR
cd "$D"

# ---- a PKI: root -> intermediate -> signers; another root; a CRL revoking one signer ----
ossl() { itest_ossl "$@"; }
# sign.ext: the code-signing leaf's extensions, for the RSA and SM2 signers below.
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' >sign.ext
itest_ca root "itest root"
itest_subca inter "itest intermediate" root
itest_cert signer "itest signer" inter "extendedKeyUsage=codeSigning"
itest_cert revoked "itest revoked signer" inter "extendedKeyUsage=codeSigning"
itest_cert server "itest tls server" inter "extendedKeyUsage=serverAuth"
itest_ca other "other root"
itest_cert stranger "stranger" other "extendedKeyUsage=codeSigning"
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key
ossl req -new -key rsa.key -subj "/CN=itest rsa signer" -out rsa.csr
ossl x509 -req -in rsa.csr -CA inter.pem -CAkey inter.key -CAcreateserial -days 365 \
        -extfile sign.ext -out rsa.pem
# CRLs need a CA database: a minimal one for root and for the intermediate.
crl() { # CA [REVOKE_PEM]
        mkdir -p "db-$1"; : >"db-$1/index.txt"
        printf '[ca]\ndefault_ca=c\n[c]\ndatabase=db-%s/index.txt\ndefault_md=sha256\ndefault_crl_days=30\n' \
                "$1" >"db-$1/cnf"
        [ -z "${2:-}" ] || ossl ca -config "db-$1/cnf" -cert "$1.pem" -keyfile "$1.key" -revoke "$2"
        ossl ca -config "db-$1/cnf" -cert "$1.pem" -keyfile "$1.key" -gencrl -out "$1.crl"
}
crl root
crl inter revoked.pem
cat root.crl inter.crl >all.crl
[ -s all.crl ] && [ -s signer.pem ] && [ -s rsa.pem ] || itest_die "could not build the test PKI (openssl.log)"

# ---- a package ----
head -c 300000 /dev/urandom >bcm.bin
head -c 70000 /dev/urandom >gw.bin
openssl rand -hex 32 >gw.key && chmod 600 gw.key
cat >desc.ini <<EOD
[Package]
Name=itest $(date -u +%Y.%m)
Version=1.0.0
SecurityVersion=5
ValidDays=30
VehicleModel=X1
HardwareRevision=B2

[Image bcm]
EcuId=0x10
HardwareId=BCM-HW-3
Version=1.2.3
File=bcm.bin

[Image gw]
EcuId=0x20
HardwareId=GW-HW-1
Version=4.0
File=gw.bin
EncryptKeyFile=gw.key
EOD

verify() { # DIR [options...]: umc-pack verify's exit status; output in verify.out
        local dir=$1 rc=0; shift
        "$PACK" verify --trust-anchor "${ANCHOR:-root.pem}" --vehicle-model "${MODEL:-X1}" --hw-revision B2 \
                --ecu "0x10,BCM-HW-3,5" --ecu "0x20,GW-HW-1,5,gw.key" "$@" "$dir" \
                >verify.out 2>&1 || rc=$?
        cat verify.out >&2
        return $rc
}
refused() { # WHAT CODE DIR [options...]: exit 1 and a REFUSED line with CODE
        local what=$1 code=$2 dir=$3 rc=0; shift 3
        verify "$dir" "$@" || rc=$?
        if [ "$rc" -eq 1 ] && grep -q "REFUSED $code " verify.out; then
                itest_pass "$what: refused with $code"
        else
                itest_fail "$what: exit $rc, expected 1 and $code: $(tail -n 1 verify.out)"
        fi
}

itest_check "umc-pack create (ECDSA P-256, chain, one image encrypted)" \
        "$PACK" create --description desc.ini --cert signer.pem --key signer.key \
        --chain inter.pem --output pkg
itest_check "the package passes every check, the encrypted image decrypts" verify pkg
grep -q '^decrypt: ok' verify.out && itest_pass "decrypt line ok" || itest_fail "no decrypt ok line"
itest_check "umc-pack create with RSA (signs with PSS)" \
        "$PACK" create --description desc.ini --cert rsa.pem --key rsa.key --chain inter.pem \
        --output pkg-rsa
itest_check "the RSA-PSS package verifies" verify pkg-rsa
grep -q 'RSA-PSS-SHA256' verify.out && itest_pass "algorithm shown as RSA-PSS-SHA256" ||
        itest_fail "algorithm not RSA-PSS-SHA256"
itest_check "verify with the CRL configured" verify pkg --crl all.crl
rc=0; "$PACK" create --description desc.ini --cert signer.pem --key signer.key --output pkg \
        2>create.err || rc=$?
[ "$rc" -eq 3 ] && grep -q "exists (refusing to overwrite)" create.err &&
        itest_pass "create refuses to overwrite an existing package" ||
        itest_fail "create over an existing package: exit $rc"

# A backend without umc code: the stock CLI signs the manifest umc-pack wrote.
cp -r pkg pkg-cli
openssl cms -sign -binary -md sha256 -in pkg-cli/manifest.json -signer signer.pem \
        -inkey signer.key -certfile inter.pem -outform DER -out pkg-cli/manifest.json.p7s
itest_check "a signature made by 'openssl cms -sign' verifies" verify pkg-cli

# ---- tampering ----
cp -r pkg t1 && sed -i 's/"security_version":5/"security_version":6/' t1/manifest.json
refused "security version raised in the manifest" 0x0704 t1
cp -r pkg t2 && head -c 300000 /dev/urandom >t2/bcm.img
new=$(sha256sum t2/bcm.img | cut -d' ' -f1)
sed -i "s/\"sha256\":\"[0-9a-f]*\"/\"sha256\":\"$new\"/" t2/manifest.json
refused "image swapped and re-hashed in the manifest" 0x0704 t2
cp -r pkg t3 && head -c 300000 /dev/urandom >t3/bcm.img
refused "image swapped" 0x0303 t3
cp -r pkg t4 && head -c 299999 t3/bcm.img >t4/bcm.img
refused "image truncated" 0x0710 t4
"$PACK" create --description desc.ini --cert signer.pem --key signer.key --chain inter.pem \
        --output other-pkg >/dev/null
cp -r pkg t5 && cp other-pkg/manifest.json t5/manifest.json
refused "the manifest of another package with this signature" 0x0704 t5
cp -r pkg t6 && cp other-pkg/gw.img.enc t6/gw.img.enc
refused "an encrypted image from another package" 0x0303 t6
"$PACK" create --description desc.ini --cert stranger.pem --key stranger.key --output t7 >/dev/null
refused "signed under an untrusted root" 0x0705 t7
"$PACK" create --description desc.ini --cert revoked.pem --key revoked.key --chain inter.pem \
        --output t8 >/dev/null
itest_check "the revoked signer's package passes without a CRL" verify t8
refused "revoked signer with the CRL" 0x0707 t8 --crl all.crl
refused "CRL of the intermediate only (the root's missing)" 0x0709 pkg --crl inter.crl
cp -r pkg t9
openssl cms -sign -binary -md sha256 -in t9/manifest.json -signer server.pem -inkey server.key \
        -certfile inter.pem -outform DER -out t9/manifest.json.p7s
refused "signed with a TLS server certificate" 0x0708 t9
refused "expired package" 0x070b pkg --time "$(date -u -d '+40 days' +%Y-%m-%dT%H:%M:%SZ)"
MODEL=X9 refused "another vehicle model" 0x070c pkg
refused "rolled back below the installed security version" 0x070d pkg --ecu "0x10,BCM-HW-3,6"
openssl rand -hex 32 >wrong.key && chmod 600 wrong.key
refused "another ECU's package key" 0x0711 pkg --ecu "0x20,GW-HW-1,5,wrong.key"
# ---- SM2: its own format, the same chain rules ----
ossl genpkey -algorithm SM2 -out sm2root.key
ossl req -x509 -new -key sm2root.key -sm3 -subj "/CN=itest sm2 root" -days 3650 -out sm2root.pem \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
ossl genpkey -algorithm SM2 -out sm2.key
ossl req -new -key sm2.key -sm3 -subj "/CN=itest sm2 signer" -out sm2.csr
ossl x509 -req -in sm2.csr -CA sm2root.pem -CAkey sm2root.key -sm3 -CAcreateserial -days 365 \
        -extfile sign.ext -out sm2.pem
itest_check "umc-pack create with an SM2 key" \
        "$PACK" create --description desc.ini --cert sm2.pem --key sm2.key --output pkg-sm2
[ -f pkg-sm2/manifest.json.sm2 ] && [ ! -e pkg-sm2/manifest.json.p7s ] &&
        itest_pass "an SM2 package carries manifest.json.sm2" || itest_fail "no manifest.json.sm2"
ANCHOR=sm2root.pem itest_check "the SM2 package verifies" verify pkg-sm2
be32() { printf "$(printf '\\%03o' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"; }
sm2_by_cli() { # DIR [dgst options]: the signature file a backend makes with the stock CLI
        local dir=$1; shift
        openssl dgst -sm3 -sign sm2.key "$@" -out sm2.sig "$dir/manifest.json"
        { printf 'UMC-SM2\n'; be32 "$(stat -c %s sm2.sig)"; cat sm2.sig
          openssl x509 -in sm2.pem -outform DER; } >"$dir/manifest.json.sm2"
}
cp -r pkg-sm2 sm2-cli && sm2_by_cli sm2-cli -sigopt distid:1234567812345678
ANCHOR=sm2root.pem itest_check \
        "an SM2 file made by 'openssl dgst -sm3 -sign -sigopt distid:…' verifies" verify sm2-cli
cp -r pkg-sm2 sm2-noid && sm2_by_cli sm2-noid
ANCHOR=sm2root.pem refused "SM2 signed without the standard distinguishing ID" 0x0704 sm2-noid
cp -r pkg-sm2 sm2-both && cp pkg/manifest.json.p7s sm2-both/
ANCHOR=sm2root.pem refused "both a CMS and an SM2 signature" 0x0702 sm2-both

# ---- the feature code: sealed for a device class, bound to this package ----
openssl rand -hex 32 >feature.key && chmod 600 feature.key
openssl rand -hex 32 >feature-other.key && chmod 600 feature-other.key
itest_check "umc-pack create with a feature code" \
        "$PACK" create --description desc.ini --cert signer.pem --key signer.key --chain inter.pem \
        --feature-code OPT-A7 --feature-key feature.key --feature-key-id x1-opt --output pkg-fc
itest_check "verify with the device's feature code and key" \
        verify pkg-fc --feature-code OPT-A7 --feature-key feature.key
grep -q '^feature code: ok' verify.out && itest_pass "feature code line ok" ||
        itest_fail "no 'feature code: ok' line"
! grep -q 'OPT-A7' pkg-fc/manifest.json && itest_pass "the code is not in the manifest in clear" ||
        itest_fail "the feature code is readable in the manifest"
"$PACK" inspect pkg-fc >inspect.out 2>&1
grep -q '^feature_code: present (sealed, key ID x1-opt' inspect.out && ! grep -q OPT-A7 inspect.out &&
        itest_pass "inspect shows a feature code is present, not its value" ||
        itest_fail "inspect: $(grep feature_code inspect.out)"
"$PACK" inspect pkg | grep -q '^feature_code: none' && itest_pass "inspect: none without one" ||
        itest_fail "inspect of a package without a feature code"
verify pkg-fc && grep -q '^feature code: not checked (present' verify.out &&
        itest_pass "verify without --feature-code says it was not checked" ||
        itest_fail "verify without --feature-code: $(grep 'feature code' verify.out)"
refused "another device's feature code" 0x0715 pkg-fc --feature-code OPT-B1 --feature-key feature.key
refused "another device class's feature key" 0x0715 pkg-fc --feature-code OPT-A7 \
        --feature-key feature-other.key
refused "no feature code in the manifest, and the device checks it" 0x0715 pkg \
        --feature-code OPT-A7 --feature-key feature.key
# Lifted: the backend's own signature over another package's manifest that carries this
# package's sealed code (the AAD binds it to name and version, so it does not open there).
sed 's/^Version=1.0.0/Version=1.0.1/' desc.ini >desc2.ini
"$PACK" create --description desc2.ini --cert signer.pem --key signer.key --chain inter.pem \
        --feature-code OPT-B1 --feature-key feature.key --feature-key-id x1-opt --output lift >/dev/null
python3 - pkg-fc/manifest.json lift/manifest.json <<'EOP'
import json, sys
src = json.load(open(sys.argv[1]))
dst = json.load(open(sys.argv[2]))
dst["feature_code"] = src["feature_code"]
open(sys.argv[2], "w").write(json.dumps(dst, separators=(",", ":")))
EOP
openssl cms -sign -binary -md sha256 -in lift/manifest.json -signer signer.pem -inkey signer.key \
        -certfile inter.pem -outform DER -out lift/manifest.json.p7s
refused "a feature code lifted into another (validly signed) package" 0x0715 lift \
        --feature-code OPT-A7 --feature-key feature.key
rc=0; "$PACK" verify --trust-anchor root.pem --feature-code OPT-A7 pkg-fc 2>usage.err || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--feature-code and --feature-key together" usage.err &&
        itest_pass "--feature-code without --feature-key is a usage error" ||
        itest_fail "--feature-code alone: exit $rc"
cp feature.key feature644.key && chmod 644 feature644.key
rc=0; "$PACK" create --description desc.ini --cert signer.pem --key signer.key \
        --feature-code OPT-A7 --feature-key feature644.key --output pkg-fc644 2>create.err || rc=$?
[ "$rc" -eq 3 ] && grep -q "feature644.key" create.err && [ ! -e pkg-fc644 ] &&
        itest_pass "a feature key others can read is refused, nothing written" ||
        itest_fail "feature key 0644: exit $rc: $(cat create.err)"

itest_check "the original package still verifies" verify pkg
itest_summary
