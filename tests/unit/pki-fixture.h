/* SPDX-License-Identifier: MIT */
/*
 * A test PKI made in C at test time (test-sig.c, test-package.c,
 * test-pack.c): a root CA, an intermediate, code-signing leaves (ECDSA
 * P-256 and RSA-PSS), an expired, a not-yet-valid, a revoked one with the
 * CRLs, a wrong-purpose one, one without EKU, a CA as signer, a P-384
 * one, and a second, untrusted root with its own signer. test-sig.c adds
 * an SM2 root and SM2 leaves through pki_cert() and pki_leaf(). Written as PEM
 * files under a temporary directory; nothing is read from the system.
 * Include after <cmocka.h>. Fixture code asserts: a PKI that cannot be
 * built fails the test loudly.
 */
#pragma once

#include <ftw.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "umc/util.h"

#define DAY 86400L

struct pki_id {
        EVP_PKEY *key;
        X509 *cert;
        char cert_path[160], key_path[160];
};

struct pki {
        char dir[64];
        struct pki_id root, inter, ec, rsa, expired, future, revoked, server, noeku, ca_signer,
                p384, other_root, other;
        char anchor[160], other_anchor[160], chain[160];
        char crl[160], crl_inter_only[160], crl_expired[160];
};

static EVP_PKEY *pki_key_ec(const char *curve) {
        EVP_PKEY *k = EVP_EC_gen(curve);

        assert_non_null(k);
        return k;
}

static EVP_PKEY *pki_key_rsa(void) {
        EVP_PKEY *k = EVP_RSA_gen(2048);

        assert_non_null(k);
        return k;
}

static void pki_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
        X509V3_CTX ctx;
        X509_EXTENSION *ext;

        X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        assert_non_null(ext);
        assert_int_equal(X509_add_ext(cert, ext, -1), 1);
        X509_EXTENSION_free(ext);
}

/* A certificate for key, issued by (issuer, issuer_key) or self-signed when issuer is NULL. */
static X509 *pki_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                      bool ca, const char *eku, long from, long to, long serial) {
        X509 *x = X509_new();
        X509_NAME *name = X509_NAME_new();

        assert_non_null(x);
        assert_int_equal(X509_set_version(x, 2), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                    (const unsigned char *)cn, -1, -1, 0), 1);
        assert_int_equal(X509_set_subject_name(x, name), 1);
        assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name), 1);
        X509_NAME_free(name);
        assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), from));
        assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), to));
        assert_int_equal(X509_set_pubkey(x, key), 1);
        pki_ext(x, issuer ? issuer : x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
        pki_ext(x, issuer ? issuer : x, NID_key_usage,
                ca ? "critical,keyCertSign,cRLSign,digitalSignature" : "critical,digitalSignature");
        pki_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
        pki_ext(x, issuer ? issuer : x, NID_authority_key_identifier, "keyid:always");
        if (eku)
                pki_ext(x, issuer ? issuer : x, NID_ext_key_usage, eku);
        /* SM2 certificates are signed over SM3 (SM2-with-SM3). */
        assert_true(X509_sign(x, issuer_key ? issuer_key : key,
                              EVP_PKEY_is_a(issuer_key ? issuer_key : key, "SM2") ? EVP_sm3()
                                                                                   : EVP_sha256()) > 0);
        return x;
}

static void pki_write(const char *path, X509 *cert, EVP_PKEY *key, X509_CRL *crl) {
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        if (cert)
                assert_int_equal(PEM_write_X509(f, cert), 1);
        if (key)
                assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
        if (crl)
                assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
        assert_int_equal(fclose(f), 0);
}

static void pki_save(struct pki *p, struct pki_id *id, const char *name) {
        (void)snprintf(id->cert_path, sizeof(id->cert_path), "%s/%s.pem", p->dir, name);
        (void)snprintf(id->key_path, sizeof(id->key_path), "%s/%s.key", p->dir, name);
        pki_write(id->cert_path, id->cert, NULL, NULL);
        pki_write(id->key_path, NULL, id->key, NULL);
}

static void pki_leaf(struct pki *p, struct pki_id *id, const char *name, EVP_PKEY *key,
                     struct pki_id *issuer, bool ca, const char *eku, long from, long to,
                     long serial) {
        id->key = key;
        id->cert = pki_cert(name, key, issuer->cert, issuer->key, ca, eku, from, to, serial);
        pki_save(p, id, name);
}

/* A CRL of issuer listing the serials (0-terminated), valid from..to seconds from now. */
static X509_CRL *pki_crl(struct pki_id *issuer, const long *serials, long from, long to) {
        X509_CRL *crl = X509_CRL_new();
        ASN1_TIME *t = ASN1_TIME_new();

        assert_non_null(crl);
        assert_int_equal(X509_CRL_set_version(crl, 1), 1);
        assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer->cert)), 1);
        assert_non_null(X509_gmtime_adj(t, from));
        assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
        assert_non_null(X509_gmtime_adj(t, to));
        assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
        for (size_t i = 0; serials && serials[i]; i++) {
                X509_REVOKED *rev = X509_REVOKED_new();
                ASN1_INTEGER *s = ASN1_INTEGER_new();

                assert_int_equal(ASN1_INTEGER_set(s, serials[i]), 1);
                assert_int_equal(X509_REVOKED_set_serialNumber(rev, s), 1);
                assert_non_null(X509_gmtime_adj(t, -DAY));
                assert_int_equal(X509_REVOKED_set_revocationDate(rev, t), 1);
                assert_int_equal(X509_CRL_add0_revoked(crl, rev), 1);
                ASN1_INTEGER_free(s);
        }
        ASN1_TIME_free(t);
        assert_int_equal(X509_CRL_sort(crl), 1);
        assert_true(X509_CRL_sign(crl, issuer->key, EVP_sha256()) > 0);
        return crl;
}

static void pki_crls(struct pki *p) {
        static const long revoked[] = { 105, 0 };
        X509_CRL *root = pki_crl(&p->root, NULL, -DAY, 30 * DAY);
        X509_CRL *inter = pki_crl(&p->inter, revoked, -DAY, 30 * DAY);
        X509_CRL *stale = pki_crl(&p->inter, NULL, -10 * DAY, -DAY);
        FILE *f;

        (void)snprintf(p->crl, sizeof(p->crl), "%s/crl.pem", p->dir);
        (void)snprintf(p->crl_inter_only, sizeof(p->crl_inter_only), "%s/crl-inter.pem", p->dir);
        (void)snprintf(p->crl_expired, sizeof(p->crl_expired), "%s/crl-expired.pem", p->dir);
        f = fopen(p->crl, "w");
        assert_non_null(f);
        assert_int_equal(PEM_write_X509_CRL(f, root), 1);
        assert_int_equal(PEM_write_X509_CRL(f, inter), 1);
        assert_int_equal(fclose(f), 0);
        pki_write(p->crl_inter_only, NULL, NULL, inter);
        f = fopen(p->crl_expired, "w");
        assert_non_null(f);
        assert_int_equal(PEM_write_X509_CRL(f, root), 1);
        assert_int_equal(PEM_write_X509_CRL(f, stale), 1);
        assert_int_equal(fclose(f), 0);
        X509_CRL_free(root);
        X509_CRL_free(inter);
        X509_CRL_free(stale);
}

/* The whole PKI; RSA keys are slow to make, so one RSA key serves two roles. */
static void pki_build(struct pki *p) {
        EVP_PKEY *rsa = pki_key_rsa();

        (void)snprintf(p->dir, sizeof(p->dir), "/tmp/umc-pki-XXXXXX");
        assert_non_null(mkdtemp(p->dir));
        p->root.key = pki_key_ec("P-256");
        p->root.cert = pki_cert("umc test root", p->root.key, NULL, NULL, true, NULL, -DAY,
                                3650 * DAY, 1);
        pki_save(p, &p->root, "root");
        pki_leaf(p, &p->inter, "umc test intermediate", pki_key_ec("P-256"), &p->root, true,
                 NULL, -DAY, 1000 * DAY, 2);
        pki_leaf(p, &p->ec, "ec signer", pki_key_ec("P-256"), &p->inter, false, "codeSigning",
                 -DAY, 365 * DAY, 101);
        pki_leaf(p, &p->rsa, "rsa signer", rsa, &p->inter, false, "codeSigning", -DAY,
                 365 * DAY, 102);
        pki_leaf(p, &p->expired, "expired signer", pki_key_ec("P-256"), &p->inter, false,
                 "codeSigning", -30 * DAY, -DAY, 103);
        pki_leaf(p, &p->future, "future signer", pki_key_ec("P-256"), &p->inter, false,
                 "codeSigning", 10 * DAY, 30 * DAY, 104);
        pki_leaf(p, &p->revoked, "revoked signer", pki_key_ec("P-256"), &p->inter, false,
                 "codeSigning", -DAY, 365 * DAY, 105);
        pki_leaf(p, &p->server, "tls server", pki_key_ec("P-256"), &p->inter, false,
                 "serverAuth", -DAY, 365 * DAY, 106);
        pki_leaf(p, &p->noeku, "no eku", pki_key_ec("P-256"), &p->inter, false, NULL, -DAY,
                 365 * DAY, 107);
        pki_leaf(p, &p->ca_signer, "ca signer", pki_key_ec("P-256"), &p->inter, true,
                 "codeSigning", -DAY, 365 * DAY, 108);
        pki_leaf(p, &p->p384, "p384 signer", pki_key_ec("P-384"), &p->inter, false,
                 "codeSigning", -DAY, 365 * DAY, 109);
        p->other_root.key = pki_key_ec("P-256");
        p->other_root.cert = pki_cert("other root", p->other_root.key, NULL, NULL, true, NULL,
                                      -DAY, 3650 * DAY, 1);
        pki_save(p, &p->other_root, "other-root");
        pki_leaf(p, &p->other, "other signer", pki_key_ec("P-256"), &p->other_root, false,
                 "codeSigning", -DAY, 365 * DAY, 201);
        memcpy(p->anchor, p->root.cert_path, sizeof(p->anchor));
        memcpy(p->other_anchor, p->other_root.cert_path, sizeof(p->other_anchor));
        memcpy(p->chain, p->inter.cert_path, sizeof(p->chain));
        pki_crls(p);
}

static void pki_id_free(struct pki_id *id) {
        X509_free(id->cert);
        EVP_PKEY_free(id->key);
}

static int pki_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void pki_free(struct pki *p) {
        struct pki_id *ids[] = { &p->root, &p->inter, &p->ec, &p->expired, &p->future,
                                 &p->revoked, &p->server, &p->noeku, &p->ca_signer, &p->p384,
                                 &p->other_root, &p->other };

        for (size_t i = 0; i < UMC_ELEMENTSOF(ids); i++)
                pki_id_free(ids[i]);
        X509_free(p->rsa.cert); /* the RSA key is shared; freed once here */
        EVP_PKEY_free(p->rsa.key);
        (void)nftw(p->dir, pki_rm, 8, FTW_DEPTH | FTW_PHYS);
}

/*
 * A detached SignedData made directly with OpenSSL, bypassing the checks
 * of umc_sig_sign(): for signatures a device must refuse. extra, when not
 * NULL, adds intermediates; flags add to CMS_DETACHED | CMS_BINARY.
 */
_unused_ static size_t pki_cms_sign(const struct pki_id *id, X509 *extra, const void *data, size_t len,
                           unsigned flags, const EVP_MD *md, bool pss, uint8_t **ret) {
        STACK_OF(X509) *chain = sk_X509_new_null();
        BIO *b = BIO_new_mem_buf(data, (int)len);
        CMS_ContentInfo *cms;
        CMS_SignerInfo *si;
        uint8_t *der = NULL;
        int n;

        if (extra)
                assert_int_equal(sk_X509_push(chain, extra), 1);
        cms = CMS_sign(NULL, NULL, chain, NULL, CMS_DETACHED | CMS_BINARY | CMS_PARTIAL | flags);
        assert_non_null(cms);
        si = CMS_add1_signer(cms, id->cert, id->key, md, CMS_BINARY | CMS_KEY_PARAM);
        assert_non_null(si);
        if (pss)
                assert_true(EVP_PKEY_CTX_set_rsa_padding(CMS_SignerInfo_get0_pkey_ctx(si),
                                                         RSA_PKCS1_PSS_PADDING) > 0);
        assert_int_equal(CMS_final(cms, b, NULL, CMS_DETACHED | CMS_BINARY | flags), 1);
        n = i2d_CMS_ContentInfo(cms, &der);
        assert_true(n > 0);
        *ret = malloc((size_t)n);
        assert_non_null(*ret);
        memcpy(*ret, der, (size_t)n);
        OPENSSL_free(der);
        CMS_ContentInfo_free(cms);
        BIO_free(b);
        sk_X509_free(chain);
        return (size_t)n;
}
