/* SPDX-License-Identifier: MIT */
/*
 * Detached CMS (PKCS#7, RFC 5652) signatures over a package manifest,
 * with OpenSSL 3: verification against a trust anchor and optional CRLs,
 * and signing for umc-pack.
 *
 * Accepted: one DER ContentInfo of type SignedData, detached, content type
 * id-data, exactly one SignerInfo whose certificate is in the
 * SignedData's certificates (intermediates too). Signer algorithms:
 * ECDSA on P-256 with SHA-256, or RSASSA-PSS (RFC 4055; modulus of at
 * least 2048 bits) with SHA-256 and MGF1-SHA-256. PKCS#1 v1.5, other
 * curves, other digests are refused.
 *
 * SM2 cannot travel inside CMS with OpenSSL 3.0 (signing fails), so it has
 * its own detached format (docs/package.md, "SM2"): "UMC-SM2\n" ||
 * be32(n) || an n-byte DER SM2 signature over SM3 with the distinguishing
 * ID "1234567812345678" (GM/T 0009-2012) || the DER certificates, signer
 * first, then intermediates (at most 8). The chain rules are the same.
 *
 * The signer's chain must reach a certificate of the anchor file
 * (self-signed roots; no partial chains, no system store), every
 * certificate valid at the caller's time, X509_V_FLAG_X509_STRICT. The
 * signer certificate must carry extendedKeyUsage with id-kp-codeSigning
 * (RFC 5280 4.2.1.12), keyUsage (when present) digitalSignature, and must
 * not be a CA. With a CRL file, every certificate of the chain is checked
 * against a CRL of its issuer (X509_V_FLAG_CRL_CHECK |
 * X509_V_FLAG_CRL_CHECK_ALL): the file must hold a current CRL of every
 * CA, or verification fails with PKG_CRL_INVALID.
 *
 * A struct umc_sig_trust is immutable after loading and may verify any
 * number of signatures. Nothing here logs.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "umc/reason.h"

#define UMC_SIG_MAX_BYTES (256 * 1024)
#define UMC_SIG_NAME_MAX 256

struct umc_sig_trust;

enum umc_sig_format {
        UMC_SIG_CMS = 0,   /* manifest.json.p7s */
        UMC_SIG_SM2 = 1,   /* manifest.json.sm2 */
};

/* Who signed, for logs and `umc-pack inspect`. */
struct umc_sig_signer {
        char subject[UMC_SIG_NAME_MAX];  /* RFC 2253 one-line form */
        char issuer[UMC_SIG_NAME_MAX];
        char serial[80];                 /* hex */
        char algorithm[32];              /* "ECDSA-P256-SHA256" or "RSA-PSS-SHA256" */
        int64_t not_after;               /* seconds since the epoch */
};

/*
 * Load the trust anchors (PEM, one or more self-signed CA certificates)
 * and, when crl_file is not NULL, the CRLs (PEM, one or more). A file
 * that holds nothing of its kind, or anything else, is refused. 0, -EINVAL
 * with why, -ENOENT/-EACCES (why names the file), -ENOMEM. *ret owned by
 * the caller (umc_sig_trust_free()).
 */
int umc_sig_trust_load(const char *anchor_file, const char *crl_file, struct umc_sig_trust **ret,
                       char *why, size_t why_size);

void umc_sig_trust_free(struct umc_sig_trust *t);

static inline void umc_sig_trust_freep(struct umc_sig_trust **t) {
        umc_sig_trust_free(*t);
}

/*
 * Verify sig (sig_len bytes of DER) as a detached signature over exactly
 * data (len bytes), at time now (seconds since the epoch: certificate and
 * CRL validity). 0 when it verifies (*ret_signer filled when not NULL);
 * -EBADMSG when refused, with *ret_reason one of PKG_SIG_MALFORMED,
 * PKG_SIG_ALGORITHM, PKG_SIG_MISMATCH, PKG_CERT_UNTRUSTED,
 * PKG_CERT_EXPIRED, PKG_CERT_REVOKED, PKG_CERT_PURPOSE, PKG_CRL_INVALID,
 * PKG_CERT_INVALID and why naming the certificate and the defect; -EINVAL,
 * -ENOMEM.
 */
int umc_sig_verify(const struct umc_sig_trust *t, const void *data, size_t len, const void *sig,
                   size_t sig_len, int64_t now, struct umc_sig_signer *ret_signer,
                   enum umc_reason *ret_reason, char *why, size_t why_size);

/*
 * As umc_sig_verify(), for the SM2 format: refusals as there, with
 * PKG_SIG_ALGORITHM when the signer's key is not SM2.
 */
int umc_sig_verify_sm2(const struct umc_sig_trust *t, const void *data, size_t len,
                       const void *sig, size_t sig_len, int64_t now,
                       struct umc_sig_signer *ret_signer, enum umc_reason *ret_reason, char *why,
                       size_t why_size);

/*
 * Describe the signer of sig (CMS, or SM2 by its header) WITHOUT verifying anything but its form and
 * algorithm (for `umc-pack inspect`): 0 with *ret filled, -EBADMSG with
 * why, -EINVAL, -ENOMEM.
 */
int umc_sig_describe(const void *sig, size_t sig_len, struct umc_sig_signer *ret, char *why,
                     size_t why_size);

/*
 * Sign data (len bytes) with the private key in key_file (PEM, P-256 EC
 * or RSA of at least 2048 bits, which signs with PSS, or SM2) and the
 * matching certificate in cert_file (PEM); chain_file (PEM, may be NULL)
 * adds intermediate certificates. An SM2 key makes the SM2 format, any
 * other a CMS SignedData; *ret_format (may be NULL) says which. *ret_der
 * (malloc()ed, owned by the caller) gets the bytes. 0, -EINVAL with why
 * (unreadable or mismatched key and certificate, refused algorithm),
 * -ENOMEM, -EIO.
 */
int umc_sig_sign(const void *data, size_t len, const char *cert_file, const char *key_file,
                 const char *chain_file, uint8_t **ret_der, size_t *ret_len,
                 enum umc_sig_format *ret_format, char *why, size_t why_size);
