/* SPDX-License-Identifier: MIT */
#include "umc/sig.h"

#include <inttypes.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "umc/util.h"

struct umc_sig_trust {
        X509_STORE *store;
};

static int say(char *why, size_t why_size, int r, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int say(char *why, size_t why_size, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        umc_vwhy(why, why_size, fmt, ap);
        va_end(ap);
        ERR_clear_error();
        return r;
}

static void bio_freep(BIO **p) {
        BIO_free(*p);
}
static void x509_freep(X509 **p) {
        X509_free(*p);
}
static void x509_stack_freep(STACK_OF(X509) **p) {
        sk_X509_pop_free(*p, X509_free);
}
static void info_stack_freep(STACK_OF(X509_INFO) **p) {
        sk_X509_INFO_pop_free(*p, X509_INFO_free);
}
static void cms_freep(CMS_ContentInfo **p) {
        CMS_ContentInfo_free(*p);
}
static void pkey_freep(EVP_PKEY **p) {
        EVP_PKEY_free(*p);
}
static void store_ctx_freep(X509_STORE_CTX **p) {
        X509_STORE_CTX_free(*p);
}
static void pss_freep(RSA_PSS_PARAMS **p) {
        RSA_PSS_PARAMS_free(*p);
}

/* ---- trust ---- */

/* Read a PEM file into X509_INFO records (certificates and CRLs, whatever it holds). */
static int read_pem(const char *path, STACK_OF(X509_INFO) **ret, char *why, size_t why_size) {
        _cleanup_(bio_freep) BIO *b = NULL;
        STACK_OF(X509_INFO) *infos;

        errno = 0;
        b = BIO_new_file(path, "r");
        if (!b) {
                int r = errno ? -errno : -EIO;
                return say(why, why_size, r, "%s: cannot open: %s", path, strerror(-r));
        }
        infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
        if (!infos)
                return say(why, why_size, -EINVAL, "%s: not PEM certificates or CRLs", path);
        *ret = infos;
        return 0;
}

static int add_anchors(X509_STORE *store, const char *path, char *why, size_t why_size) {
        _cleanup_(info_stack_freep) STACK_OF(X509_INFO) *infos = NULL;
        int r, n = 0;

        r = read_pem(path, &infos, why, why_size);
        if (r < 0)
                return r;
        for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
                X509_INFO *in = sk_X509_INFO_value(infos, i);

                if (!in->x509 || in->crl || in->x_pkey)
                        return say(why, why_size, -EINVAL,
                                   "%s: holds something other than certificates", path);
                if (!(X509_get_extension_flags(in->x509) & EXFLAG_SS))
                        return say(why, why_size, -EINVAL,
                                   "%s: certificate %d is not self-signed: anchors are roots",
                                   path, i + 1);
                if (!X509_STORE_add_cert(store, in->x509))
                        return say(why, why_size, -ENOMEM, "%s: cannot add certificate", path);
                n++;
        }
        if (n == 0)
                return say(why, why_size, -EINVAL, "%s: no certificate", path);
        return 0;
}

static int add_crls(X509_STORE *store, const char *path, char *why, size_t why_size) {
        _cleanup_(info_stack_freep) STACK_OF(X509_INFO) *infos = NULL;
        int r, n = 0;

        r = read_pem(path, &infos, why, why_size);
        if (r < 0)
                return r;
        for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
                X509_INFO *in = sk_X509_INFO_value(infos, i);

                if (!in->crl || in->x509 || in->x_pkey)
                        return say(why, why_size, -EINVAL, "%s: holds something other than CRLs",
                                   path);
                if (!X509_STORE_add_crl(store, in->crl))
                        return say(why, why_size, -ENOMEM, "%s: cannot add CRL", path);
                n++;
        }
        if (n == 0)
                return say(why, why_size, -EINVAL, "%s: no CRL", path);
        return X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL)
                       ? 0 : -ENOMEM;
}

int umc_sig_trust_load(const char *anchor_file, const char *crl_file, struct umc_sig_trust **ret,
                       char *why, size_t why_size) {
        struct umc_sig_trust *t;
        int r;

        if (!anchor_file || !ret)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->store = X509_STORE_new();
        if (!t->store)
                r = -ENOMEM;
        else
                r = add_anchors(t->store, anchor_file, why, why_size);
        if (r >= 0 && crl_file)
                r = add_crls(t->store, crl_file, why, why_size);
        if (r >= 0 && !X509_STORE_set_flags(t->store, X509_V_FLAG_X509_STRICT))
                r = -ENOMEM;
        if (r < 0) {
                umc_sig_trust_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

void umc_sig_trust_free(struct umc_sig_trust *t) {
        if (!t)
                return;
        X509_STORE_free(t->store);
        free(t);
}

/* ---- verification ---- */

struct verify {
        const struct umc_sig_trust *t;
        int64_t now;
        CMS_ContentInfo *cms;           /* owned by the caller */
        STACK_OF(X509) *certs;          /* owned by the caller */
        X509 *signer;                   /* borrowed from cms */
        EVP_PKEY *pkey;                 /* borrowed from signer */
        X509_ALGOR *dig, *sig;          /* borrowed from cms */
        struct umc_sig_signer info;
        enum umc_reason reason;
        char *why;
        size_t why_size;
};

static int refused(struct verify *v, enum umc_reason reason, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int refused(struct verify *v, enum umc_reason reason, const char *fmt, ...) {
        va_list ap;

        v->reason = reason;
        if (v->why && v->why_size) {
                va_start(ap, fmt);
                (void)vsnprintf(v->why, v->why_size, fmt, ap);
                va_end(ap);
        }
        ERR_clear_error();
        return -EBADMSG;
}

static void name_of(const X509_NAME *name, char *out, size_t size) {
        _cleanup_(bio_freep) BIO *b = BIO_new(BIO_s_mem());
        int n;

        out[0] = '\0';
        if (!b || X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0)
                return;
        n = BIO_read(b, out, (int)size - 1);
        out[n > 0 ? n : 0] = '\0';
}

static const char *subject_of(X509 *x, char buf[UMC_SIG_NAME_MAX]) {
        name_of(X509_get_subject_name(x), buf, UMC_SIG_NAME_MAX);
        return buf;
}

static int parse_cms(struct verify *v, const uint8_t *sig, size_t sig_len) {
        const uint8_t *p = sig;
        const ASN1_OBJECT *ect;

        if (sig_len == 0 || sig_len > UMC_SIG_MAX_BYTES)
                return refused(v, UMC_REASON_PKG_SIG_MALFORMED,
                               "signature: %zu bytes, expected 1..%d", sig_len, UMC_SIG_MAX_BYTES);
        v->cms = d2i_CMS_ContentInfo(NULL, &p, (long)sig_len);
        if (!v->cms)
                return refused(v, UMC_REASON_PKG_SIG_MALFORMED, "signature: not DER CMS");
        if (p != sig + sig_len)
                return refused(v, UMC_REASON_PKG_SIG_MALFORMED,
                               "signature: %td bytes after the DER ContentInfo", sig + sig_len - p);
        if (OBJ_obj2nid(CMS_get0_type(v->cms)) != NID_pkcs7_signed)
                return refused(v, UMC_REASON_PKG_SIG_MALFORMED, "signature: not SignedData");
        if (CMS_is_detached(v->cms) != 1)
                return refused(v, UMC_REASON_PKG_SIG_MALFORMED,
                               "signature: carries content (must be detached)");
        ect = CMS_get0_eContentType(v->cms);
        if (!ect || OBJ_obj2nid(ect) != NID_pkcs7_data)
                return refused(v, UMC_REASON_PKG_SIG_MALFORMED,
                               "signature: content type is not id-data");
        if (sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(v->cms)) != 1)
                return refused(v, UMC_REASON_PKG_SIG_MALFORMED,
                               "signature: %d signers, expected exactly 1",
                               sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(v->cms)));
        return 0;
}

static int find_signer(struct verify *v) {
        CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(v->cms), 0);

        v->certs = CMS_get1_certs(v->cms);
        if (!v->certs)
                return refused(v, UMC_REASON_PKG_SIG_MALFORMED,
                               "signature: carries no certificate");
        if (CMS_set1_signers_certs(v->cms, NULL, 0) < 0)
                return refused(v, UMC_REASON_PKG_SIG_MALFORMED,
                               "signature: signer certificate not found in it");
        CMS_SignerInfo_get0_algs(si, &v->pkey, &v->signer, &v->dig, &v->sig);
        if (!v->signer || !v->pkey || !v->dig || !v->sig)
                return refused(v, UMC_REASON_PKG_SIG_MALFORMED,
                               "signature: signer certificate not found in it");
        return 0;
}

/* An AlgorithmIdentifier whose parameter is a SEQUENCE holding another one (MGF1's hash). */
static int algor_nid_in(const ASN1_TYPE *param, int *ret_nid) {
        X509_ALGOR *inner;

        if (!param || param->type != V_ASN1_SEQUENCE)
                return -EINVAL;
        inner = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_ALGOR), param);
        if (!inner)
                return -EINVAL;
        *ret_nid = OBJ_obj2nid(inner->algorithm);
        X509_ALGOR_free(inner);
        return 0;
}

/* RSASSA-PSS parameters (RFC 4055 3.1): absent fields mean SHA-1, which we refuse. */
static int check_pss_params(struct verify *v) {
        _cleanup_(pss_freep) RSA_PSS_PARAMS *pss = NULL;
        int mgf_hash = NID_undef;

        if (!v->sig->parameter || v->sig->parameter->type != V_ASN1_SEQUENCE)
                return refused(v, UMC_REASON_PKG_SIG_ALGORITHM, "RSA-PSS without parameters");
        pss = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_PSS_PARAMS), v->sig->parameter);
        if (!pss)
                return refused(v, UMC_REASON_PKG_SIG_ALGORITHM, "RSA-PSS parameters malformed");
        if (!pss->hashAlgorithm || OBJ_obj2nid(pss->hashAlgorithm->algorithm) != NID_sha256)
                return refused(v, UMC_REASON_PKG_SIG_ALGORITHM, "RSA-PSS hash is not SHA-256");
        if (!pss->maskGenAlgorithm || OBJ_obj2nid(pss->maskGenAlgorithm->algorithm) != NID_mgf1 ||
            algor_nid_in(pss->maskGenAlgorithm->parameter, &mgf_hash) < 0 ||
            mgf_hash != NID_sha256)
                return refused(v, UMC_REASON_PKG_SIG_ALGORITHM, "RSA-PSS mask is not MGF1-SHA-256");
        return 0;
}

static bool key_is_p256(EVP_PKEY *k) {
        char group[32];

        return EVP_PKEY_is_a(k, "EC") &&
               EVP_PKEY_get_group_name(k, group, sizeof(group), NULL) == 1 &&
               strcmp(group, "prime256v1") == 0;
}

static bool key_is_rsa(EVP_PKEY *k) {
        return (EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "RSA-PSS")) &&
               EVP_PKEY_get_bits(k) >= 2048;
}

static int check_algorithm(struct verify *v) {
        int sig_nid = OBJ_obj2nid(v->sig->algorithm);
        int dig_nid = OBJ_obj2nid(v->dig->algorithm);

        if (dig_nid != NID_sha256)
                return refused(v, UMC_REASON_PKG_SIG_ALGORITHM, "digest %s is not SHA-256",
                               OBJ_nid2sn(dig_nid));
        if (sig_nid == NID_ecdsa_with_SHA256) {
                if (!key_is_p256(v->pkey))
                        return refused(v, UMC_REASON_PKG_SIG_ALGORITHM,
                                       "ECDSA signer key is not on P-256");
                (void)snprintf(v->info.algorithm, sizeof(v->info.algorithm), "ECDSA-P256-SHA256");
                return 0;
        }
        if (sig_nid == NID_rsassaPss) {
                if (!key_is_rsa(v->pkey))
                        return refused(v, UMC_REASON_PKG_SIG_ALGORITHM,
                                       "RSA-PSS signer key is not RSA of 2048 bits or more");
                (void)snprintf(v->info.algorithm, sizeof(v->info.algorithm), "RSA-PSS-SHA256");
                return check_pss_params(v);
        }
        return refused(v, UMC_REASON_PKG_SIG_ALGORITHM,
                       "signature algorithm %s is not ECDSA-with-SHA256 on P-256 or RSASSA-PSS",
                       OBJ_nid2sn(sig_nid));
}

static enum umc_reason reason_of(int err) {
        switch (err) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
        case X509_V_ERR_CERT_NOT_YET_VALID:
                return UMC_REASON_PKG_CERT_EXPIRED;
        case X509_V_ERR_CERT_REVOKED:
                return UMC_REASON_PKG_CERT_REVOKED;
        case X509_V_ERR_UNABLE_TO_GET_CRL:
        case X509_V_ERR_CRL_HAS_EXPIRED:
        case X509_V_ERR_CRL_NOT_YET_VALID:
        case X509_V_ERR_CRL_SIGNATURE_FAILURE:
        case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
        case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
        case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
        case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
        case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
        case X509_V_ERR_DIFFERENT_CRL_SCOPE:
        case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
                return UMC_REASON_PKG_CRL_INVALID;
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_CERT_UNTRUSTED:
        case X509_V_ERR_CERT_REJECTED:
                return UMC_REASON_PKG_CERT_UNTRUSTED;
        case X509_V_ERR_INVALID_PURPOSE:
                return UMC_REASON_PKG_CERT_PURPOSE;
        default:
                return UMC_REASON_PKG_CERT_INVALID;
        }
}

static int verify_chain(struct verify *v) {
        _cleanup_(store_ctx_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        char subject[UMC_SIG_NAME_MAX] = "?";
        X509 *bad;
        int err;

        if (!ctx || !X509_STORE_CTX_init(ctx, v->t->store, v->signer, v->certs))
                return -ENOMEM;
        X509_STORE_CTX_set_time(ctx, 0, (time_t)v->now);
        if (X509_verify_cert(ctx) == 1)
                return 0;
        err = X509_STORE_CTX_get_error(ctx);
        bad = X509_STORE_CTX_get_current_cert(ctx);
        if (bad)
                (void)subject_of(bad, subject);
        return refused(v, reason_of(err), "certificate %s (depth %d): %s", subject,
                       X509_STORE_CTX_get_error_depth(ctx), X509_verify_cert_error_string(err));
}

/* The leaf's own purpose (OpenSSL 3.0 has no code-signing purpose to ask the chain check for). */
static int leaf_purpose(X509 *x, char *why, size_t why_size) {
        uint32_t flags = X509_get_extension_flags(x);
        char subject[UMC_SIG_NAME_MAX];

        if (!(flags & EXFLAG_XKUSAGE) || !(X509_get_extended_key_usage(x) & XKU_CODE_SIGN))
                return say(why, why_size, -EPERM, "certificate %s has no extendedKeyUsage "
                           "codeSigning", subject_of(x, subject));
        if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE))
                return say(why, why_size, -EPERM, "certificate %s: keyUsage lacks "
                           "digitalSignature", subject_of(x, subject));
        if (X509_check_ca(x) != 0)
                return say(why, why_size, -EPERM, "certificate %s is a CA certificate, not a "
                           "signer", subject_of(x, subject));
        return 0;
}

static int verify_content(struct verify *v, const void *data, size_t len) {
        _cleanup_(bio_freep) BIO *b = NULL;
        unsigned long e;

        if (len > INT32_MAX)
                return -EINVAL;
        b = BIO_new_mem_buf(data, (int)len);
        if (!b)
                return -ENOMEM;
        if (CMS_verify(v->cms, NULL, NULL, b, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) == 1)
                return 0;
        e = ERR_peek_last_error();
        return refused(v, UMC_REASON_PKG_SIG_MISMATCH,
                       "signature does not match the manifest bytes (%s)",
                       e ? ERR_reason_error_string(e) : "no detail");
}

static void describe_signer(struct verify *v) {
        const ASN1_INTEGER *serial = X509_get0_serialNumber(v->signer);
        BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        struct tm tm;

        (void)subject_of(v->signer, v->info.subject);
        name_of(X509_get_issuer_name(v->signer), v->info.issuer, sizeof(v->info.issuer));
        (void)snprintf(v->info.serial, sizeof(v->info.serial), "%s", hex ? hex : "?");
        if (ASN1_TIME_to_tm(X509_get0_notAfter(v->signer), &tm) == 1)
                v->info.not_after = (int64_t)timegm(&tm);
        OPENSSL_free(hex);
        BN_free(bn);
}

int umc_sig_verify(const struct umc_sig_trust *t, const void *data, size_t len, const void *sig,
                   size_t sig_len, int64_t now, struct umc_sig_signer *ret_signer,
                   enum umc_reason *ret_reason, char *why, size_t why_size) {
        struct verify v = { .t = t, .now = now, .why = why, .why_size = why_size };
        char detail[2 * UMC_SIG_NAME_MAX];
        int r;

        if (!t || (!data && len) || !sig || !ret_reason)
                return -EINVAL;
        r = parse_cms(&v, sig, sig_len);
        if (r >= 0)
                r = find_signer(&v);
        if (r >= 0)
                r = check_algorithm(&v);
        if (r >= 0)
                r = verify_chain(&v);
        if (r >= 0 && leaf_purpose(v.signer, detail, sizeof(detail)) < 0)
                r = refused(&v, UMC_REASON_PKG_CERT_PURPOSE, "%s", detail);
        if (r >= 0)
                r = verify_content(&v, data, len);
        if (r >= 0)
                describe_signer(&v);
        sk_X509_pop_free(v.certs, X509_free);
        CMS_ContentInfo_free(v.cms);
        ERR_clear_error();
        if (r == -EBADMSG)
                *ret_reason = v.reason;
        if (r < 0)
                return r;
        *ret_reason = UMC_REASON_OK;
        if (ret_signer)
                *ret_signer = v.info;
        return 0;
}

/* ---- SM2: a raw signature and the signer's chain (docs/package.md, "SM2") ---- */

#define SM2_MAGIC "UMC-SM2\n"
#define SM2_MAGIC_LEN 8
#define SM2_HEADER_LEN (SM2_MAGIC_LEN + 4)
/* GM/T 0009-2012's default distinguishing ID: OpenSSL 3.0 uses an empty one unless told. */
#define SM2_ID "1234567812345678"
#define SM2_SIG_MIN 8
#define SM2_SIG_MAX 72   /* DER SEQUENCE of two INTEGERs of up to 33 bytes */
#define SM2_MAX_CERTS 8

static int parse_sm2_certs(struct verify *v, const uint8_t *p, const uint8_t *end) {
        v->certs = sk_X509_new_null();
        if (!v->certs)
                return -ENOMEM;
        while (p < end) {
                const uint8_t *q = p;
                X509 *x;

                if (sk_X509_num(v->certs) == SM2_MAX_CERTS)
                        return refused(v, UMC_REASON_PKG_SIG_MALFORMED,
                                       "signature: more than %d certificates", SM2_MAX_CERTS);
                x = d2i_X509(NULL, &q, end - p);
                if (!x)
                        return refused(v, UMC_REASON_PKG_SIG_MALFORMED,
                                       "signature: certificate %d is not DER",
                                       sk_X509_num(v->certs) + 1);
                if (!sk_X509_push(v->certs, x)) {
                        X509_free(x);
                        return -ENOMEM;
                }
                p = q;
        }
        if (sk_X509_num(v->certs) == 0)
                return refused(v, UMC_REASON_PKG_SIG_MALFORMED, "signature: no certificate");
        v->signer = sk_X509_value(v->certs, 0);
        v->pkey = X509_get0_pubkey(v->signer);
        return 0;
}

/* "UMC-SM2\n" || be32(n) || n bytes of DER signature || DER certificates, signer first. */
static int parse_sm2(struct verify *v, const uint8_t *sig, size_t sig_len,
                     const uint8_t **ret_value, size_t *ret_value_len) {
        size_t n;
        int r;

        if (sig_len < SM2_HEADER_LEN || sig_len > UMC_SIG_MAX_BYTES ||
            memcmp(sig, SM2_MAGIC, SM2_MAGIC_LEN) != 0)
                return refused(v, UMC_REASON_PKG_SIG_MALFORMED,
                               "signature: not an SM2 signature file (no \"UMC-SM2\" header)");
        n = umc_get_be32(sig + SM2_MAGIC_LEN);
        if (n < SM2_SIG_MIN || n > SM2_SIG_MAX || n > sig_len - SM2_HEADER_LEN)
                return refused(v, UMC_REASON_PKG_SIG_MALFORMED,
                               "signature: SM2 signature length %zu, expected %d..%d", n,
                               SM2_SIG_MIN, SM2_SIG_MAX);
        r = parse_sm2_certs(v, sig + SM2_HEADER_LEN + n, sig + sig_len);
        if (r < 0)
                return r;
        if (!v->pkey || !EVP_PKEY_is_a(v->pkey, "SM2"))
                return refused(v, UMC_REASON_PKG_SIG_ALGORITHM, "signer key is not SM2");
        (void)snprintf(v->info.algorithm, sizeof(v->info.algorithm), "SM2-SM3");
        *ret_value = sig + SM2_HEADER_LEN;
        *ret_value_len = n;
        return 0;
}

/* An SM2/SM3 signing or verifying context with the standard distinguishing ID. */
static EVP_MD_CTX *sm2_ctx(EVP_PKEY *key, bool sign) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(key, NULL);

        if (!m || !pctx || EVP_PKEY_CTX_set1_id(pctx, SM2_ID, strlen(SM2_ID)) <= 0)
                goto fail;
        EVP_MD_CTX_set_pkey_ctx(m, pctx); /* m does not take pctx: freed below via m */
        if ((sign ? EVP_DigestSignInit(m, NULL, EVP_sm3(), NULL, key)
                  : EVP_DigestVerifyInit(m, NULL, EVP_sm3(), NULL, key)) != 1)
                goto fail;
        return m;
fail:
        EVP_MD_CTX_free(m);
        EVP_PKEY_CTX_free(pctx);
        return NULL;
}

static int verify_sm2_value(struct verify *v, const void *data, size_t len,
                            const uint8_t *value, size_t value_len) {
        EVP_MD_CTX *m = sm2_ctx(v->pkey, false);
        EVP_PKEY_CTX *pctx = m ? EVP_MD_CTX_get_pkey_ctx(m) : NULL;
        int ok;

        if (!m)
                return -ENOMEM;
        ok = EVP_DigestVerify(m, value, value_len, data, len);
        EVP_MD_CTX_free(m);
        EVP_PKEY_CTX_free(pctx);
        if (ok == 1)
                return 0;
        return refused(v, UMC_REASON_PKG_SIG_MISMATCH,
                       "SM2 signature does not match the manifest bytes");
}

int umc_sig_verify_sm2(const struct umc_sig_trust *t, const void *data, size_t len,
                       const void *sig, size_t sig_len, int64_t now,
                       struct umc_sig_signer *ret_signer, enum umc_reason *ret_reason, char *why,
                       size_t why_size) {
        struct verify v = { .t = t, .now = now, .why = why, .why_size = why_size };
        char detail[2 * UMC_SIG_NAME_MAX];
        const uint8_t *value = NULL;
        size_t value_len = 0;
        int r;

        if (!t || (!data && len) || !sig || !ret_reason)
                return -EINVAL;
        r = parse_sm2(&v, sig, sig_len, &value, &value_len);
        if (r >= 0)
                r = verify_chain(&v);
        if (r >= 0 && leaf_purpose(v.signer, detail, sizeof(detail)) < 0)
                r = refused(&v, UMC_REASON_PKG_CERT_PURPOSE, "%s", detail);
        if (r >= 0)
                r = verify_sm2_value(&v, data, len, value, value_len);
        if (r >= 0)
                describe_signer(&v);
        sk_X509_pop_free(v.certs, X509_free);
        ERR_clear_error();
        if (r == -EBADMSG)
                *ret_reason = v.reason;
        if (r < 0)
                return r;
        *ret_reason = UMC_REASON_OK;
        if (ret_signer)
                *ret_signer = v.info;
        return 0;
}

int umc_sig_describe(const void *sig, size_t sig_len, struct umc_sig_signer *ret, char *why,
                     size_t why_size) {
        struct verify v = { .why = why, .why_size = why_size };
        int r;

        const uint8_t *value;
        size_t value_len;

        if (!sig || !ret)
                return -EINVAL;
        if (sig_len >= SM2_MAGIC_LEN && memcmp(sig, SM2_MAGIC, SM2_MAGIC_LEN) == 0)
                r = parse_sm2(&v, sig, sig_len, &value, &value_len);
        else {
                r = parse_cms(&v, sig, sig_len);
                if (r >= 0)
                        r = find_signer(&v);
                if (r >= 0)
                        r = check_algorithm(&v);
        }
        if (r >= 0)
                describe_signer(&v);
        sk_X509_pop_free(v.certs, X509_free);
        CMS_ContentInfo_free(v.cms);
        ERR_clear_error();
        if (r >= 0)
                *ret = v.info;
        return r;
}

/* ---- signing ---- */

static int load_cert(const char *path, X509 **ret, char *why, size_t why_size) {
        _cleanup_(bio_freep) BIO *b = BIO_new_file(path, "r");

        if (!b)
                return say(why, why_size, -EINVAL, "%s: cannot open: %s", path, strerror(errno));
        *ret = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (!*ret)
                return say(why, why_size, -EINVAL, "%s: not a PEM certificate", path);
        return 0;
}

static int load_key(const char *path, EVP_PKEY **ret, char *why, size_t why_size) {
        _cleanup_(bio_freep) BIO *b = BIO_new_file(path, "r");

        if (!b)
                return say(why, why_size, -EINVAL, "%s: cannot open: %s", path, strerror(errno));
        /* No passphrase callback: a prompt would hang a backend's batch job. */
        *ret = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"");
        if (!*ret)
                return say(why, why_size, -EINVAL,
                           "%s: not an unencrypted PEM private key", path);
        return 0;
}

static int load_chain(const char *path, STACK_OF(X509) **ret, char *why, size_t why_size) {
        _cleanup_(info_stack_freep) STACK_OF(X509_INFO) *infos = NULL;
        STACK_OF(X509) *chain;
        int r;

        r = read_pem(path, &infos, why, why_size);
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        chain = sk_X509_new_null();
        if (!chain)
                return -ENOMEM;
        for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
                X509_INFO *in = sk_X509_INFO_value(infos, i);

                if (!in->x509 || in->crl || in->x_pkey || !sk_X509_push(chain, in->x509)) {
                        sk_X509_pop_free(chain, X509_free);
                        return say(why, why_size, -EINVAL,
                                   "%s: holds something other than certificates", path);
                }
                in->x509 = NULL; /* moved into chain */
        }
        *ret = chain;
        return 0;
}

/* Only what a device accepts: refuse early rather than ship a package every ECU refuses. */
static int check_signing_key(X509 *cert, EVP_PKEY *key, const char *key_file, char *why,
                             size_t why_size) {
        if (!key_is_p256(key) && !key_is_rsa(key) && !EVP_PKEY_is_a(key, "SM2"))
                return say(why, why_size, -EINVAL, "%s: the key must be EC P-256, RSA of "
                           "2048 bits or more, or SM2", key_file);
        if (X509_check_private_key(cert, key) != 1)
                return say(why, why_size, -EINVAL, "%s: the key does not match the certificate",
                           key_file);
        return leaf_purpose(cert, why, why_size) < 0 ? -EINVAL : 0;
}

static int add_signer(CMS_ContentInfo *cms, X509 *cert, EVP_PKEY *key) {
        CMS_SignerInfo *si;
        EVP_PKEY_CTX *pctx;

        si = CMS_add1_signer(cms, cert, key, EVP_sha256(), CMS_BINARY | CMS_KEY_PARAM);
        if (!si)
                return -EIO;
        if (!key_is_rsa(key))
                return 0;
        /* RSA signs with PSS only (RFC 4055): SHA-256, MGF1-SHA-256, salt of the digest's length. */
        pctx = CMS_SignerInfo_get0_pkey_ctx(si);
        if (!pctx || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0)
                return -EIO;
        return 0;
}

/* Append the DER of x to the memory BIO b. */
static int put_cert(BIO *b, X509 *x) {
        uint8_t *der = NULL;
        int n = i2d_X509(x, &der), w;

        if (n <= 0)
                return -EIO;
        w = BIO_write(b, der, n);
        OPENSSL_free(der);
        return w == n ? 0 : -ENOMEM;
}

static int sign_sm2(const void *data, size_t len, X509 *cert, EVP_PKEY *key,
                    STACK_OF(X509) *chain, uint8_t **ret, size_t *ret_len) {
        _cleanup_(bio_freep) BIO *b = BIO_new(BIO_s_mem());
        EVP_MD_CTX *m = sm2_ctx(key, true);
        EVP_PKEY_CTX *pctx = m ? EVP_MD_CTX_get_pkey_ctx(m) : NULL;
        uint8_t value[SM2_SIG_MAX + 8], be[4];
        size_t value_len = sizeof(value);
        const char *mem;
        long n;
        int r = -EIO;

        if (b && m && EVP_DigestSign(m, value, &value_len, data, len) == 1 &&
            value_len <= SM2_SIG_MAX) {
                umc_put_be32(be, (uint32_t)value_len);
                r = BIO_write(b, SM2_MAGIC, SM2_MAGIC_LEN) == SM2_MAGIC_LEN &&
                    BIO_write(b, be, 4) == 4 && BIO_write(b, value, (int)value_len) == (int)value_len
                            ? put_cert(b, cert) : -ENOMEM;
        }
        for (int i = 0; r >= 0 && i < sk_X509_num(chain); i++)
                r = put_cert(b, sk_X509_value(chain, i));
        EVP_MD_CTX_free(m);
        EVP_PKEY_CTX_free(pctx);
        if (r < 0)
                return r;
        n = BIO_get_mem_data(b, &mem);
        *ret = malloc((size_t)n);
        if (!*ret)
                return -ENOMEM;
        memcpy(*ret, mem, (size_t)n);
        *ret_len = (size_t)n;
        return 0;
}

static int sign_der(const void *data, size_t len, X509 *cert, EVP_PKEY *key,
                    STACK_OF(X509) *chain, uint8_t **ret_der, size_t *ret_len) {
        const unsigned flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL;
        _cleanup_(cms_freep) CMS_ContentInfo *cms = NULL;
        _cleanup_(bio_freep) BIO *b = NULL;
        uint8_t *der = NULL;
        int n;

        if (len > INT32_MAX)
                return -EINVAL;
        cms = CMS_sign(NULL, NULL, chain, NULL, flags);
        b = BIO_new_mem_buf(data, (int)len);
        if (!cms || !b)
                return -ENOMEM;
        if (add_signer(cms, cert, key) < 0 || CMS_final(cms, b, NULL, flags) != 1)
                return -EIO;
        n = i2d_CMS_ContentInfo(cms, &der);
        if (n <= 0)
                return -EIO;
        *ret_der = malloc((size_t)n);
        if (!*ret_der) {
                OPENSSL_free(der);
                return -ENOMEM;
        }
        memcpy(*ret_der, der, (size_t)n);
        OPENSSL_free(der);
        *ret_len = (size_t)n;
        return 0;
}

int umc_sig_sign(const void *data, size_t len, const char *cert_file, const char *key_file,
                 const char *chain_file, uint8_t **ret_der, size_t *ret_len,
                 enum umc_sig_format *ret_format, char *why, size_t why_size) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_(x509_freep) X509 *cert = NULL;
        _cleanup_(pkey_freep) EVP_PKEY *key = NULL;
        bool sm2;
        int r;

        if ((!data && len) || !cert_file || !key_file || !ret_der || !ret_len)
                return -EINVAL;
        if ((r = load_cert(cert_file, &cert, why, why_size)) < 0 ||
            (r = load_key(key_file, &key, why, why_size)) < 0 ||
            (chain_file && (r = load_chain(chain_file, &chain, why, why_size)) < 0) ||
            (r = check_signing_key(cert, key, key_file, why, why_size)) < 0)
                return r;
        if (chain && sk_X509_num(chain) >= SM2_MAX_CERTS)
                return say(why, why_size, -EINVAL, "%s: more than %d certificates", chain_file,
                           SM2_MAX_CERTS - 1);
        sm2 = EVP_PKEY_is_a(key, "SM2");
        r = sm2 ? sign_sm2(data, len, cert, key, chain, ret_der, ret_len)
                : sign_der(data, len, cert, key, chain, ret_der, ret_len);
        if (r < 0)
                return say(why, why_size, r, "signing failed: %s",
                           ERR_reason_error_string(ERR_peek_last_error()) ?: "no detail");
        ERR_clear_error();
        if (ret_format)
                *ret_format = sm2 ? UMC_SIG_SM2 : UMC_SIG_CMS;
        return 0;
}
