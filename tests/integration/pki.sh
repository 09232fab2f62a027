# shellcheck shell=bash
# A test PKI made with the stock openssl CLI, for the signed-package tests
# (test-signed.sh, test-signed-can.sh): in the current folder,
#   root.pem/.key          the backend's root CA
#   inter.pem/.key         its intermediate
#   signer.pem/.key        a code-signing leaf under it (ECDSA P-256)
#   rogue.pem/.key         a root only a compromised T-Box trusts
#   rogue-signer.pem/.key  a code-signing leaf under it
#   tbox-anchors.pem       root.pem and rogue.pem together
# openssl's chatter goes to openssl.log. Needs lib.sh (itest_die).
itest_pki() {
        ossl() { openssl "$@" 2>>openssl.log; }
        printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n' >ca.ext
        printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' >sign.ext
        ec() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }
        root() { # NAME CN
                ec "$1"
                ossl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 3650 -out "$1.pem" \
                        -addext "basicConstraints=critical,CA:TRUE" \
                        -addext "keyUsage=critical,keyCertSign,cRLSign"
        }
        issue() { # NAME CN ISSUER EXTFILE
                ec "$1"
                ossl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
                ossl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
                        -days 365 -extfile "$4" -out "$1.pem"
        }
        root root "backend root"
        issue inter "backend intermediate" root ca.ext
        issue signer "backend signer" inter sign.ext
        root rogue "rogue root"
        issue rogue-signer "rogue signer" rogue sign.ext
        [ -s signer.pem ] && [ -s rogue-signer.pem ] ||
                itest_die "could not build the test PKI (openssl.log)"
        cat root.pem rogue.pem >tbox-anchors.pem
}
