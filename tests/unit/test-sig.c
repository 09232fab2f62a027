/* SPDX-License-Identifier: MIT */
/*
 * Detached CMS signatures over a manifest: what verifies, and every
 * refusal with its reason, against a test PKI made at test time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pki-fixture.h"
#include "umc/sig.h"

static struct pki P;
static const char DATA[] = "{\"format\":2,\"name\":\"signed bytes\"}";

static int group_setup(void **state) {
        pki_build(&P);
        return 0;
}

static int group_teardown(void **state) {
        pki_free(&P);
        return 0;
}

static struct umc_sig_trust *trust(const char *anchor, const char *crl) {
        struct umc_sig_trust *t = NULL;
        char why[256] = "";

        assert_int_equal(umc_sig_trust_load(anchor, crl, &t, why, sizeof(why)), 0);
        return t;
}

/* Sign DATA with umc_sig_sign() (the tool's path) as id, with the intermediate. */
static size_t sign_as(const struct pki_id *id, uint8_t **ret) {
        char why[256] = "";
        size_t len = 0;

        assert_int_equal(umc_sig_sign(DATA, strlen(DATA), id->cert_path, id->key_path, P.chain,
                                      ret, &len, NULL, why, sizeof(why)), 0);
        return len;
}

/* Verify and return the reason (OK when it verified), why copied out. */
static enum umc_reason check(const char *crl, const uint8_t *sig, size_t len, int64_t now,
                             char *why, size_t why_size) {
        struct umc_sig_trust *t = trust(P.anchor, crl);
        enum umc_reason reason = 0xffff;
        struct umc_sig_signer s;
        int r;

        r = umc_sig_verify(t, DATA, strlen(DATA), sig, len, now, &s, &reason, why, why_size);
        umc_sig_trust_free(t);
        assert_true(r == 0 || r == -EBADMSG);
        assert_int_equal(r == 0, reason == UMC_REASON_OK);
        return reason;
}

static enum umc_reason check_now(const char *crl, const uint8_t *sig, size_t len) {
        char why[512] = "";
        return check(crl, sig, len, (int64_t)time(NULL), why, sizeof(why));
}

static void test_ecdsa_p256_through_intermediate_verifies(void **state) {
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = sign_as(&P.ec, &sig);
        struct umc_sig_trust *t = trust(P.anchor, P.crl);
        struct umc_sig_signer s = {};
        enum umc_reason reason = 0xffff;

        assert_int_equal(umc_sig_verify(t, DATA, strlen(DATA), sig, len, time(NULL), &s, &reason,
                                        NULL, 0), 0);
        assert_int_equal(reason, UMC_REASON_OK);
        assert_string_equal(s.subject, "CN=ec signer");
        assert_string_equal(s.issuer, "CN=umc test intermediate");
        assert_string_equal(s.algorithm, "ECDSA-P256-SHA256");
        assert_string_equal(s.serial, "65");
        assert_true(s.not_after > time(NULL) + 300 * DAY);
        umc_sig_trust_free(t);
}

static void test_rsa_signs_with_pss_and_verifies(void **state) {
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = sign_as(&P.rsa, &sig);
        struct umc_sig_signer s = {};

        assert_int_equal(check_now(P.crl, sig, len), UMC_REASON_OK);
        assert_int_equal(umc_sig_describe(sig, len, &s, NULL, 0), 0);
        assert_string_equal(s.algorithm, "RSA-PSS-SHA256");
}

static void test_changed_byte_is_a_mismatch(void **state) {
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = sign_as(&P.ec, &sig);
        struct umc_sig_trust *t = trust(P.anchor, NULL);
        char other[sizeof(DATA)], why[256] = "";
        enum umc_reason reason = 0;

        memcpy(other, DATA, sizeof(DATA));
        other[5] ^= 1;
        assert_int_equal(umc_sig_verify(t, other, strlen(other), sig, len, time(NULL), NULL,
                                        &reason, why, sizeof(why)), -EBADMSG);
        assert_int_equal(reason, UMC_REASON_PKG_SIG_MISMATCH);
        assert_non_null(strstr(why, "does not match the manifest bytes"));
        /* One byte more (a trailing newline) is another message too. */
        assert_int_equal(umc_sig_verify(t, DATA, strlen(DATA) + 1, sig, len, time(NULL), NULL,
                                        &reason, why, sizeof(why)), -EBADMSG);
        assert_int_equal(reason, UMC_REASON_PKG_SIG_MISMATCH);
        umc_sig_trust_free(t);
}

static void test_signature_byte_flipped_is_refused(void **state) {
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = sign_as(&P.ec, &sig);

        /* The last bytes are the ECDSA signature value's. */
        sig[len - 3] ^= 0x01;
        assert_int_not_equal(check_now(NULL, sig, len), UMC_REASON_OK);
}

struct cert_row {
        const struct pki_id *id;
        const char *crl;        /* NULL or a CRL file */
        enum umc_reason reason;
        const char *why;        /* substring of the message */
};

static void test_each_certificate_defect_has_its_reason(void **state) {
        const struct cert_row rows[] = {
                { &P.other, NULL, UMC_REASON_PKG_CERT_UNTRUSTED, "CN=other signer" },
                { &P.expired, NULL, UMC_REASON_PKG_CERT_EXPIRED, "certificate has expired" },
                { &P.future, NULL, UMC_REASON_PKG_CERT_EXPIRED, "not yet valid" },
                { &P.revoked, P.crl, UMC_REASON_PKG_CERT_REVOKED, "CN=revoked signer" },
                { &P.ec, P.crl_inter_only, UMC_REASON_PKG_CRL_INVALID, "unable to get certificate CRL" },
                { &P.ec, P.crl_expired, UMC_REASON_PKG_CRL_INVALID, "CRL has expired" },
                { &P.server, NULL, UMC_REASON_PKG_CERT_PURPOSE, "no extendedKeyUsage codeSigning" },
                { &P.noeku, NULL, UMC_REASON_PKG_CERT_PURPOSE, "no extendedKeyUsage codeSigning" },
                { &P.ca_signer, NULL, UMC_REASON_PKG_CERT_PURPOSE, "is a CA certificate" },
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(rows); i++) {
                _cleanup_free_ uint8_t *sig = NULL;
                size_t len = pki_cms_sign(rows[i].id, rows[i].id == &P.other ? NULL : P.inter.cert,
                                          DATA, strlen(DATA), 0, EVP_sha256(), false, &sig);
                char why[512] = "";

                assert_int_equal(check(rows[i].crl, sig, len, time(NULL), why, sizeof(why)),
                                 rows[i].reason);
                if (!strstr(why, rows[i].why))
                        fail_msg("row %zu: \"%s\" lacks \"%s\"", i, why, rows[i].why);
        }
}

static void test_revoked_signer_passes_without_a_crl(void **state) {
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = sign_as(&P.revoked, &sig);

        /* Revocation is only known through a configured CRL: this is the control. */
        assert_int_equal(check_now(NULL, sig, len), UMC_REASON_OK);
        assert_int_equal(check_now(P.crl, sig, len), UMC_REASON_PKG_CERT_REVOKED);
}

static void test_verification_time_is_the_callers(void **state) {
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = sign_as(&P.ec, &sig);
        char why[256];

        assert_int_equal(check(NULL, sig, len, time(NULL) + 400 * DAY, why, sizeof(why)),
                         UMC_REASON_PKG_CERT_EXPIRED);
        assert_int_equal(check(NULL, sig, len, time(NULL) - 2 * DAY, why, sizeof(why)),
                         UMC_REASON_PKG_CERT_EXPIRED);
}

static void test_missing_intermediate_is_untrusted(void **state) {
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = pki_cms_sign(&P.ec, NULL, DATA, strlen(DATA), 0, EVP_sha256(), false, &sig);

        assert_int_equal(check_now(NULL, sig, len), UMC_REASON_PKG_CERT_UNTRUSTED);
}

static void test_refused_algorithms(void **state) {
        struct {
                const struct pki_id *id;
                const EVP_MD *md;
                const char *why;
        } rows[] = {
                { &P.rsa, EVP_sha256(), "rsaEncryption is not" }, /* PKCS#1 v1.5 */
                { &P.p384, EVP_sha256(), "not on P-256" },
                { &P.ec, EVP_sha384(), "digest SHA384 is not SHA-256" },
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(rows); i++) {
                _cleanup_free_ uint8_t *sig = NULL;
                size_t len = pki_cms_sign(rows[i].id, P.inter.cert, DATA, strlen(DATA), 0,
                                          rows[i].md, false, &sig);
                char why[512] = "";

                assert_int_equal(check(NULL, sig, len, time(NULL), why, sizeof(why)),
                                 UMC_REASON_PKG_SIG_ALGORITHM);
                if (!strstr(why, rows[i].why))
                        fail_msg("row %zu: \"%s\" lacks \"%s\"", i, why, rows[i].why);
        }
}

static void test_pss_made_by_plain_openssl_verifies(void **state) {
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = pki_cms_sign(&P.rsa, P.inter.cert, DATA, strlen(DATA), 0, EVP_sha256(),
                                  true, &sig);

        /* OpenSSL's defaults for PSS in CMS: MGF1 with the signing digest. */
        assert_int_equal(check_now(NULL, sig, len), UMC_REASON_OK);
}

static void test_malformed_containers(void **state) {
        _cleanup_free_ uint8_t *good = NULL, *attached = NULL, *longer = NULL;
        size_t len = sign_as(&P.ec, &good), alen;
        char why[256];

        assert_int_equal(check(NULL, (const uint8_t *)"garbage", 7, time(NULL), why, sizeof(why)),
                         UMC_REASON_PKG_SIG_MALFORMED);
        assert_int_equal(check(NULL, good, len - 1, time(NULL), why, sizeof(why)),
                         UMC_REASON_PKG_SIG_MALFORMED);
        longer = malloc(len + 1);
        assert_non_null(longer);
        memcpy(longer, good, len);
        longer[len] = 0;
        assert_int_equal(check(NULL, longer, len + 1, time(NULL), why, sizeof(why)),
                         UMC_REASON_PKG_SIG_MALFORMED);
        assert_non_null(strstr(why, "1 bytes after the DER"));
        assert_int_equal(check(NULL, good, 0, time(NULL), why, sizeof(why)),
                         UMC_REASON_PKG_SIG_MALFORMED);
        /* The content inside the signature: not what the format says, refused. */
        {
                STACK_OF(X509) *chain = sk_X509_new_null();
                BIO *b = BIO_new_mem_buf(DATA, (int)strlen(DATA));
                CMS_ContentInfo *cms = CMS_sign(P.ec.cert, P.ec.key, chain, b, CMS_BINARY);
                uint8_t *der = NULL;

                assert_non_null(cms);
                alen = (size_t)i2d_CMS_ContentInfo(cms, &der);
                attached = malloc(alen);
                memcpy(attached, der, alen);
                OPENSSL_free(der);
                CMS_ContentInfo_free(cms);
                BIO_free(b);
                sk_X509_free(chain);
        }
        assert_int_equal(check(NULL, attached, alen, time(NULL), why, sizeof(why)),
                         UMC_REASON_PKG_SIG_MALFORMED);
        assert_non_null(strstr(why, "must be detached"));
}

/* DER of a SignedData over DATA built by hand: for forms no ordinary signer produces. */
static size_t finish(CMS_ContentInfo *cms, uint8_t **ret) {
        BIO *b = BIO_new_mem_buf(DATA, (int)strlen(DATA));
        uint8_t *der = NULL;
        int n;

        assert_int_equal(CMS_final(cms, b, NULL, CMS_DETACHED | CMS_BINARY), 1);
        n = i2d_CMS_ContentInfo(cms, &der);
        assert_true(n > 0);
        *ret = malloc((size_t)n);
        memcpy(*ret, der, (size_t)n);
        OPENSSL_free(der);
        BIO_free(b);
        CMS_ContentInfo_free(cms);
        return (size_t)n;
}

static void test_two_signers_and_weak_pss_mask_are_refused(void **state) {
        const unsigned flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL;
        _cleanup_free_ uint8_t *two = NULL, *sha1_mask = NULL;
        CMS_ContentInfo *cms;
        CMS_SignerInfo *si;
        size_t len;
        char why[256] = "";

        cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
        assert_non_null(CMS_add1_signer(cms, P.ec.cert, P.ec.key, EVP_sha256(), CMS_BINARY));
        assert_non_null(CMS_add1_signer(cms, P.revoked.cert, P.revoked.key, EVP_sha256(),
                                        CMS_BINARY));
        assert_int_equal(CMS_add1_cert(cms, P.inter.cert), 1);
        len = finish(cms, &two);
        assert_int_equal(check(NULL, two, len, time(NULL), why, sizeof(why)),
                         UMC_REASON_PKG_SIG_MALFORMED);
        assert_string_equal(why, "signature: 2 signers, expected exactly 1");

        cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
        si = CMS_add1_signer(cms, P.rsa.cert, P.rsa.key, EVP_sha256(), CMS_BINARY | CMS_KEY_PARAM);
        assert_non_null(si);
        assert_true(EVP_PKEY_CTX_set_rsa_padding(CMS_SignerInfo_get0_pkey_ctx(si),
                                                 RSA_PKCS1_PSS_PADDING) > 0);
        assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(CMS_SignerInfo_get0_pkey_ctx(si), EVP_sha1()) > 0);
        assert_int_equal(CMS_add1_cert(cms, P.inter.cert), 1);
        len = finish(cms, &sha1_mask);
        assert_int_equal(check(NULL, sha1_mask, len, time(NULL), why, sizeof(why)),
                         UMC_REASON_PKG_SIG_ALGORITHM);
        assert_string_equal(why, "RSA-PSS mask is not MGF1-SHA-256");
}

static void test_trust_files_are_checked(void **state) {
        struct umc_sig_trust *t = NULL;
        char why[256] = "";

        assert_int_equal(umc_sig_trust_load(P.ec.cert_path, NULL, &t, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "not self-signed"));
        assert_int_equal(umc_sig_trust_load(P.crl, NULL, &t, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "other than certificates"));
        assert_int_equal(umc_sig_trust_load(P.anchor, P.anchor, &t, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "other than CRLs"));
        assert_int_equal(umc_sig_trust_load("/nonexistent/anchor.pem", NULL, &t, why,
                                            sizeof(why)), -ENOENT);
        assert_non_null(strstr(why, "/nonexistent/anchor.pem"));
        assert_int_equal(umc_sig_trust_load(P.ec.key_path, NULL, &t, why, sizeof(why)), -EINVAL);
        assert_null(t);
}

static void test_sign_refuses_what_a_device_would(void **state) {
        uint8_t *der = NULL;
        size_t len = 0;
        char why[256] = "";

        assert_int_equal(umc_sig_sign(DATA, 3, P.server.cert_path, P.server.key_path, NULL, &der,
                                      &len, NULL, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "codeSigning"));
        assert_int_equal(umc_sig_sign(DATA, 3, P.p384.cert_path, P.p384.key_path, NULL, &der,
                                      &len, NULL, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "P-256, RSA"));
        assert_int_equal(umc_sig_sign(DATA, 3, P.ec.cert_path, P.expired.key_path, NULL, &der,
                                      &len, NULL, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "does not match the certificate"));
        assert_int_equal(umc_sig_sign(DATA, 3, P.ec.key_path, P.ec.key_path, NULL, &der, &len,
                                      NULL, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "not a PEM certificate"));
        assert_null(der);
}

/* ---- SM2 ---- */

struct sm2_pki {
        struct pki_id root, signer, server;
};

static struct sm2_pki S;

static void sm2_build(void) {
        if (S.root.cert)
                return;
        S.root.key = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
        assert_non_null(S.root.key);
        S.root.cert = pki_cert("sm2 root", S.root.key, NULL, NULL, true, NULL, -DAY, 3650 * DAY, 1);
        pki_save(&P, &S.root, "sm2-root");
        pki_leaf(&P, &S.signer, "sm2 signer", EVP_PKEY_Q_keygen(NULL, NULL, "SM2"), &S.root,
                 false, "codeSigning", -DAY, 365 * DAY, 301);
        pki_leaf(&P, &S.server, "sm2 server", EVP_PKEY_Q_keygen(NULL, NULL, "SM2"), &S.root,
                 false, "serverAuth", -DAY, 365 * DAY, 302);
}

/* An SM2 signature file made by hand: id NULL signs with OpenSSL's default (empty) ID. */
static size_t sm2_file(const struct pki_id *id, const char *dist_id, const void *data, size_t len,
                       uint8_t **ret) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(id->key, NULL);
        uint8_t sig[80], *cert = NULL, *out;
        size_t sig_len = sizeof(sig);
        int cert_len;

        if (dist_id)
                assert_true(EVP_PKEY_CTX_set1_id(pctx, dist_id, strlen(dist_id)) > 0);
        EVP_MD_CTX_set_pkey_ctx(m, pctx);
        assert_int_equal(EVP_DigestSignInit(m, NULL, EVP_sm3(), NULL, id->key), 1);
        assert_int_equal(EVP_DigestSign(m, sig, &sig_len, data, len), 1);
        EVP_MD_CTX_free(m);
        EVP_PKEY_CTX_free(pctx);
        cert_len = i2d_X509(id->cert, &cert);
        assert_true(cert_len > 0);
        out = malloc(12 + sig_len + (size_t)cert_len);
        memcpy(out, "UMC-SM2\n", 8);
        umc_put_be32(out + 8, (uint32_t)sig_len);
        memcpy(out + 12, sig, sig_len);
        memcpy(out + 12 + sig_len, cert, (size_t)cert_len);
        OPENSSL_free(cert);
        *ret = out;
        return 12 + sig_len + (size_t)cert_len;
}

static enum umc_reason check_sm2(const char *anchor, const void *data, size_t len,
                                 const uint8_t *sig, size_t sig_len, char *why, size_t why_size) {
        struct umc_sig_trust *t = trust(anchor, NULL);
        enum umc_reason reason = 0xffff;
        int r;

        r = umc_sig_verify_sm2(t, data, len, sig, sig_len, time(NULL), NULL, &reason, why,
                               why_size);
        umc_sig_trust_free(t);
        assert_true(r == 0 || r == -EBADMSG);
        assert_int_equal(r == 0, reason == UMC_REASON_OK);
        return reason;
}

static void test_sm2_signs_and_verifies_with_the_standard_id(void **state) {
        _cleanup_free_ uint8_t *sig = NULL, *by_hand = NULL;
        enum umc_sig_format format = UMC_SIG_CMS;
        struct umc_sig_signer s = {};
        char why[256] = "";
        size_t len = 0, hand_len;

        sm2_build();
        assert_int_equal(umc_sig_sign(DATA, strlen(DATA), S.signer.cert_path, S.signer.key_path,
                                      NULL, &sig, &len, &format, why, sizeof(why)), 0);
        assert_int_equal(format, UMC_SIG_SM2);
        assert_memory_equal(sig, "UMC-SM2\n", 8);
        assert_int_equal(check_sm2(S.root.cert_path, DATA, strlen(DATA), sig, len, why,
                                   sizeof(why)), UMC_REASON_OK);
        assert_int_equal(umc_sig_describe(sig, len, &s, NULL, 0), 0);
        assert_string_equal(s.algorithm, "SM2-SM3");
        assert_string_equal(s.subject, "CN=sm2 signer");
        /* Made independently with the ID of GM/T 0009-2012: the same format. */
        hand_len = sm2_file(&S.signer, "1234567812345678", DATA, strlen(DATA), &by_hand);
        assert_int_equal(check_sm2(S.root.cert_path, DATA, strlen(DATA), by_hand, hand_len, why,
                                   sizeof(why)), UMC_REASON_OK);
}

static void test_sm2_refusals(void **state) {
        _cleanup_free_ uint8_t *good = NULL, *empty_id = NULL, *server = NULL, *copy = NULL;
        size_t len, elen, slen;
        char why[256] = "";

        sm2_build();
        len = sm2_file(&S.signer, "1234567812345678", DATA, strlen(DATA), &good);
        /* OpenSSL's default ID (empty, as `openssl dgst -sm3 -sign` without -sigopt) differs. */
        elen = sm2_file(&S.signer, NULL, DATA, strlen(DATA), &empty_id);
        assert_int_equal(check_sm2(S.root.cert_path, DATA, strlen(DATA), empty_id, elen, why,
                                   sizeof(why)), UMC_REASON_PKG_SIG_MISMATCH);
        assert_int_equal(check_sm2(S.root.cert_path, DATA, strlen(DATA) - 1, good, len, why,
                                   sizeof(why)), UMC_REASON_PKG_SIG_MISMATCH);
        assert_int_equal(check_sm2(P.anchor, DATA, strlen(DATA), good, len, why, sizeof(why)),
                         UMC_REASON_PKG_CERT_UNTRUSTED);
        slen = sm2_file(&S.server, "1234567812345678", DATA, strlen(DATA), &server);
        assert_int_equal(check_sm2(S.root.cert_path, DATA, strlen(DATA), server, slen, why,
                                   sizeof(why)), UMC_REASON_PKG_CERT_PURPOSE);
        copy = malloc(len + 1);
        memcpy(copy, good, len);
        copy[0] = 'X';
        assert_int_equal(check_sm2(S.root.cert_path, DATA, strlen(DATA), copy, len, why,
                                   sizeof(why)), UMC_REASON_PKG_SIG_MALFORMED);
        memcpy(copy, good, len);
        copy[11] = 200; /* signature length beyond any SM2 signature */
        assert_int_equal(check_sm2(S.root.cert_path, DATA, strlen(DATA), copy, len, why,
                                   sizeof(why)), UMC_REASON_PKG_SIG_MALFORMED);
        memcpy(copy, good, len);
        copy[len] = 0x30; /* a truncated extra certificate */
        assert_int_equal(check_sm2(S.root.cert_path, DATA, strlen(DATA), copy, len + 1, why,
                                   sizeof(why)), UMC_REASON_PKG_SIG_MALFORMED);
        assert_string_equal(why, "signature: certificate 2 is not DER");
        /* Not an SM2 key in the SM2 format. */
        {
                _cleanup_free_ uint8_t *ec = NULL;
                uint8_t *cert = NULL;
                int n = i2d_X509(P.ec.cert, &cert);

                ec = malloc(12 + 70 + (size_t)n);
                memcpy(ec, good, 12 + 70);
                umc_put_be32(ec + 8, 70);
                memcpy(ec + 82, cert, (size_t)n);
                OPENSSL_free(cert);
                assert_int_equal(check_sm2(P.anchor, DATA, strlen(DATA), ec, 82 + (size_t)n, why,
                                           sizeof(why)), UMC_REASON_PKG_SIG_ALGORITHM);
        }
}

static int sm2_teardown(void **state) {
        pki_id_free(&S.root);
        pki_id_free(&S.signer);
        pki_id_free(&S.server);
        return group_teardown(state);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ecdsa_p256_through_intermediate_verifies),
                cmocka_unit_test(test_rsa_signs_with_pss_and_verifies),
                cmocka_unit_test(test_changed_byte_is_a_mismatch),
                cmocka_unit_test(test_signature_byte_flipped_is_refused),
                cmocka_unit_test(test_each_certificate_defect_has_its_reason),
                cmocka_unit_test(test_revoked_signer_passes_without_a_crl),
                cmocka_unit_test(test_verification_time_is_the_callers),
                cmocka_unit_test(test_missing_intermediate_is_untrusted),
                cmocka_unit_test(test_refused_algorithms),
                cmocka_unit_test(test_pss_made_by_plain_openssl_verifies),
                cmocka_unit_test(test_malformed_containers),
                cmocka_unit_test(test_two_signers_and_weak_pss_mask_are_refused),
                cmocka_unit_test(test_trust_files_are_checked),
                cmocka_unit_test(test_sign_refuses_what_a_device_would),
                cmocka_unit_test(test_sm2_signs_and_verifies_with_the_standard_id),
                cmocka_unit_test(test_sm2_refusals),
        };
        return cmocka_run_group_tests(tests, group_setup, sm2_teardown);
}
