/* SPDX-License-Identifier: MIT */
/*
 * Signed package manifests (format 2): strict parsing with every defect
 * named, the device's checks with their reasons, and loading a package
 * directory, where the signature is checked before the JSON is parsed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>

#include "pki-fixture.h"
#include "umc/fs.h"
#include "umc/package.h"

#define SHA "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define SALT "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define NONCE "a0a1a2a3a4a5a6a7a8a9aaab"
#define CT17 "00112233445566778899aabbccddeeff00"
#define HEAD "\"format\":2,\"name\":\"demo 2026.12\",\"package_version\":\"2026.12.1\"," \
             "\"security_version\":7,\"expires\":\"2030-01-01T00:00:00Z\"," \
             "\"vehicle\":{\"model\":\"X1\",\"hw_revision\":\"B2\"}"
#define IMG_BCM "{\"target\":\"bcm\",\"ecu_id\":16,\"hw_id\":\"BCM-HW-3\",\"version\":\"1.2.3\"," \
                "\"file\":\"bcm.img\",\"size\":5,\"sha256\":\"" SHA "\""
#define IMG_GW "{\"target\":\"gw\",\"ecu_id\":32,\"hw_id\":\"GW HW 1\",\"version\":\"4.0\"," \
               "\"file\":\"gw.img.enc\",\"size\":1016,\"sha256\":\"" SHA "\""
#define ENC "\"encryption\":{\"aead\":\"AES-256-GCM\",\"kdf\":\"HKDF-SHA256\"," \
            "\"segment_size\":65536,\"salt\":\"" SALT "\",\"plain_size\":1000," \
            "\"plain_sha256\":\"" SHA "\"}"

static const char good[] = "{" HEAD ",\"images\":[" IMG_BCM ",\"downgrade_max\":9,"
                           "\"post_flash\":{\"timeout_sec\":120,\"material\":\"00ff\"}},"
                           IMG_GW "," ENC "}]}";

static const int64_t T2030 = 1893456000; /* 2030-01-01T00:00:00Z */

static void parse_ok(const char *json, struct umc_package *p) {
        char why[256] = "";

        if (umc_package_parse(json, strlen(json), p, why, sizeof(why)) != 0)
                fail_msg("refused: %s", why);
}

static void test_valid_manifest_fills_every_field(void **state) {
        struct umc_package p;
        const struct umc_package_image *bcm, *gw;
        uint8_t h[32];

        parse_ok(good, &p);
        assert_string_equal(p.name, "demo 2026.12");
        assert_string_equal(p.package_version, "2026.12.1");
        assert_int_equal(p.security_version, 7);
        assert_int_equal(p.expires, T2030);
        assert_string_equal(p.vehicle_model, "X1");
        assert_string_equal(p.hw_revision, "B2");
        assert_int_equal(p.n_images, 2);
        bcm = umc_package_find(&p, "bcm");
        gw = umc_package_find_ecu(&p, 32);
        assert_non_null(bcm);
        assert_ptr_equal(gw, umc_package_find(&p, "gw"));
        assert_null(umc_package_find_ecu(&p, 33));
        assert_int_equal(bcm->ecu_id, 16);
        assert_string_equal(bcm->hw_id, "BCM-HW-3");
        assert_true(bcm->has_downgrade);
        assert_int_equal(bcm->downgrade_max, 9);
        assert_true(bcm->has_post_flash);
        assert_int_equal(bcm->post_flash_timeout_sec, 120);
        assert_int_equal(bcm->material_len, 2);
        assert_int_equal(bcm->material[1], 0xff);
        assert_false(bcm->encrypted);
        assert_true(gw->encrypted);
        assert_int_equal(gw->plain_size, 1000);
        assert_int_equal(gw->salt[31], 0x1f);
        assert_false(gw->has_downgrade);
        assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, good, strlen(good), h), 0);
        assert_memory_equal(p.hash, h, 32);
        umc_package_free(&p);
        umc_package_free(&p); /* idempotent */
}

struct bad_row {
        const char *json;
        const char *why; /* expected prefix of the message */
};

#define ONE(img) "{" HEAD ",\"images\":[" img "]}"
#define BCM_WITH(fields) ONE(IMG_BCM "," fields "}")
#define HEAD_WITHOUT(x) "{\"format\":2," x "\"images\":[" IMG_BCM "}]}"

static const struct bad_row bad_rows[] = {
        { "{", "manifest: not valid JSON" },
        { "[]", "manifest: top level must be an object" },
        { ONE(IMG_BCM "}") " ", "manifest: 1 bytes after the JSON document" },
        { ONE(IMG_BCM "}") "\n", "manifest: 1 bytes after the JSON document" },
        { ONE(IMG_BCM "}") "{}", "manifest: 2 bytes after the JSON document" },
        { "{\"format\":1,\"name\":\"n\",\"images\":[]}", "manifest: format 1 is not supported here" },
        { "{\"format\":2,\"format\":2}", "manifest: key \"format\" repeated" },
        { "{" HEAD ",\"images\":[" IMG_BCM "}],\"extra\":1}", "manifest: unknown key \"extra\"" },
        { HEAD_WITHOUT(""), "manifest: \"name\" is missing" },
        { "{" HEAD "}", "manifest: \"images\" is missing" },
        { "{" HEAD ",\"images\":{}}", "manifest: \"images\" must be an array" },
        { "{" HEAD ",\"images\":[]}", "manifest: \"images\" must hold 1..256 entries" },
        { "{\"format\":2,\"name\":\"\"}", "manifest: \"name\" must be 1..64 printable" },
        { "{\"format\":2,\"name\":\"a\",\"package_version\":\"1 2\"}", "manifest: \"package_version\" must be 1..64 printable ASCII characters without spaces" },
        { "{\"format\":2,\"name\":\"a\",\"package_version\":\"1\",\"security_version\":-1}", "manifest: \"security_version\" must be an integer 0..9007199254740991" },
        { "{\"format\":2,\"name\":\"a\",\"package_version\":\"1\",\"security_version\":1.5}", "manifest: \"security_version\" must be an integer" },
        { "{\"format\":2,\"name\":\"a\",\"package_version\":\"1\",\"security_version\":\"1\"}", "manifest: \"security_version\" must be a number" },
        { "{\"format\":2,\"name\":\"a\",\"package_version\":\"1\",\"security_version\":1e300}", "manifest: \"security_version\" must be an integer" },
        { "{\"format\":2,\"name\":\"a\",\"package_version\":\"1\",\"security_version\":1,\"expires\":\"2030-01-01 00:00:00\"}", "manifest: \"expires\" must be a UTC time" },
        { "{\"format\":2,\"name\":\"a\",\"package_version\":\"1\",\"security_version\":1,\"expires\":\"2030-02-30T00:00:00Z\"}", "manifest: \"expires\" must be a UTC time" },
        { "{\"format\":2,\"name\":\"a\",\"package_version\":\"1\",\"security_version\":1,\"expires\":\"2030-01-01T00:00:00Z\"}", "manifest: \"vehicle\" is missing" },
        { "{\"format\":2,\"name\":\"a\",\"package_version\":\"1\",\"security_version\":1,\"expires\":\"2030-01-01T00:00:00Z\",\"vehicle\":{\"model\":\"X\",\"hw_revision\":\"B\",\"trim\":1}}", "manifest.vehicle: unknown key \"trim\"" },
        { "{\"format\":2,\"name\":\"a\",\"package_version\":\"1\",\"security_version\":1,\"expires\":\"2030-01-01T00:00:00Z\",\"vehicle\":{\"model\":\"X\"}}", "manifest.vehicle: \"hw_revision\" is missing" },
        { ONE("1"), "images[0]: must be an object" },
        { BCM_WITH("\"x\":1"), "images[0]: unknown key \"x\"" },
        { ONE("{\"target\":\"b/c\",\"ecu_id\":1,\"hw_id\":\"h\",\"version\":\"1\",\"file\":\"f\",\"size\":1,\"sha256\":\"" SHA "\"}"), "images[0]: \"target\" must be 1..31 of" },
        { ONE("{\"target\":\"b\",\"ecu_id\":4294967296,\"hw_id\":\"h\",\"version\":\"1\",\"file\":\"f\",\"size\":1,\"sha256\":\"" SHA "\"}"), "images[0]: \"ecu_id\" must be an integer 0..4294967295" },
        { ONE("{\"target\":\"b\",\"ecu_id\":1,\"hw_id\":\"\",\"version\":\"1\",\"file\":\"f\",\"size\":1,\"sha256\":\"" SHA "\"}"), "images[0]: \"hw_id\" must be 1..64" },
        { ONE("{\"target\":\"b\",\"ecu_id\":1,\"hw_id\":\"h\",\"version\":\"1\",\"file\":\"../f\",\"size\":1,\"sha256\":\"" SHA "\"}"), "images[0]: \"file\" must be a plain name" },
        { ONE("{\"target\":\"b\",\"ecu_id\":1,\"hw_id\":\"h\",\"version\":\"1\",\"file\":\".f\",\"size\":1,\"sha256\":\"" SHA "\"}"), "images[0]: \"file\" must be a plain name" },
        { ONE("{\"target\":\"b\",\"ecu_id\":1,\"hw_id\":\"h\",\"version\":\"1\",\"file\":\"manifest.json.p7s\",\"size\":1,\"sha256\":\"" SHA "\"}"), "images[0]: \"file\" must be a plain name" },
        { ONE("{\"target\":\"b\",\"ecu_id\":1,\"hw_id\":\"h\",\"version\":\"1\",\"file\":\"f\",\"size\":0,\"sha256\":\"" SHA "\"}"), "images[0]: \"size\" must be an integer 1..1099511627776" },
        { ONE("{\"target\":\"b\",\"ecu_id\":1,\"hw_id\":\"h\",\"version\":\"1\",\"file\":\"f\",\"size\":1099511627777,\"sha256\":\"" SHA "\"}"), "images[0]: \"size\" must be an integer" },
        { ONE("{\"target\":\"b\",\"ecu_id\":1,\"hw_id\":\"h\",\"version\":\"1\",\"file\":\"f\",\"size\":1,\"sha256\":\"abc\"}"), "images[0]: \"sha256\" must be 64 hex digits" },
        { BCM_WITH("\"downgrade_max\":7"), "images[0]: \"downgrade_max\" must be above the security version 7" },
        { BCM_WITH("\"post_flash\":1"), "images[0]: \"post_flash\" must be an object" },
        { BCM_WITH("\"post_flash\":{\"timeout_sec\":0}"), "images[0].post_flash: \"timeout_sec\" must be an integer 1..86400" },
        { BCM_WITH("\"post_flash\":{\"material\":\"abc\"}"), "images[0].post_flash: \"material\" must be 2..2048 hex digits" },
        { BCM_WITH("\"post_flash\":{\"what\":1}"), "images[0].post_flash: unknown key \"what\"" },
        { ONE(IMG_GW ",\"encryption\":{\"aead\":\"AES-128-GCM\",\"kdf\":\"HKDF-SHA256\",\"segment_size\":65536,\"salt\":\"" SALT "\",\"plain_size\":1000,\"plain_sha256\":\"" SHA "\"}}"), "images[0].encryption: \"aead\" must be \"AES-256-GCM\"" },
        { ONE(IMG_GW ",\"encryption\":{\"aead\":\"AES-256-GCM\",\"kdf\":\"HKDF-SHA256\",\"segment_size\":4096,\"salt\":\"" SALT "\",\"plain_size\":1000,\"plain_sha256\":\"" SHA "\"}}"), "images[0].encryption: \"segment_size\" must be 65536" },
        { ONE(IMG_GW ",\"encryption\":{\"aead\":\"AES-256-GCM\",\"kdf\":\"HKDF-SHA256\",\"segment_size\":65536,\"salt\":\"" SALT "\",\"plain_size\":1001,\"plain_sha256\":\"" SHA "\"}}"), "images[0].encryption: \"plain_size\" 1001 does not seal to \"size\" 1016" },
        { ONE(IMG_GW ",\"encryption\":{\"aead\":\"AES-256-GCM\",\"kdf\":\"HKDF-SHA256\",\"segment_size\":65536,\"salt\":\"00\",\"plain_size\":1000,\"plain_sha256\":\"" SHA "\"}}"), "images[0].encryption: \"salt\" must be 64 hex digits" },
        { "{" HEAD ",\"images\":[" IMG_BCM "}," IMG_BCM "}]}", "images[1]: target \"bcm\" listed twice" },
        { "{" HEAD ",\"feature_code\":1,\"images\":[" IMG_BCM "}]}", "manifest: \"feature_code\" must be an object" },
        { "{" HEAD ",\"feature_code\":{\"key_id\":\"k\",\"nonce\":\"" NONCE "\",\"ciphertext\":\"" CT17 "\",\"x\":1},\"images\":[" IMG_BCM "}]}", "manifest.feature_code: unknown key \"x\"" },
        { "{" HEAD ",\"feature_code\":{\"nonce\":\"" NONCE "\",\"ciphertext\":\"" CT17 "\"},\"images\":[" IMG_BCM "}]}", "manifest.feature_code: \"key_id\" is missing" },
        { "{" HEAD ",\"feature_code\":{\"key_id\":\"a/b\",\"nonce\":\"" NONCE "\",\"ciphertext\":\"" CT17 "\"},\"images\":[" IMG_BCM "}]}", "manifest.feature_code: \"key_id\" must be 1..64 of [A-Za-z0-9._-]" },
        { "{" HEAD ",\"feature_code\":{\"key_id\":\"k\",\"nonce\":\"00\",\"ciphertext\":\"" CT17 "\"},\"images\":[" IMG_BCM "}]}", "manifest.feature_code: \"nonce\" must be 24 hex digits" },
        { "{" HEAD ",\"feature_code\":{\"key_id\":\"k\",\"nonce\":\"" NONCE "\",\"ciphertext\":\"00112233445566778899aabbccddeeff\"},\"images\":[" IMG_BCM "}]}", "manifest.feature_code: \"ciphertext\" must be 34..160 hex digits" },
        { "{" HEAD ",\"feature_code\":{\"key_id\":\"k\",\"nonce\":\"" NONCE "\",\"ciphertext\":\"" CT17 "0\"},\"images\":[" IMG_BCM "}]}", "manifest.feature_code: \"ciphertext\" must be 34..160 hex digits" },
        { "{" HEAD ",\"feature_code\":{\"key_id\":\"k\",\"nonce\":\"" NONCE "\",\"ciphertext\":\"" CT17 "zz\"},\"images\":[" IMG_BCM "}]}", "manifest.feature_code: \"ciphertext\" must be 34..160 hex digits" },
        { "{" HEAD ",\"images\":[" IMG_BCM "},{\"target\":\"b2\",\"ecu_id\":16,\"hw_id\":\"h\",\"version\":\"1\",\"file\":\"f\",\"size\":1,\"sha256\":\"" SHA "\"}]}", "images[1]: ecu_id 16 listed twice" },
        { "{" HEAD ",\"images\":[" IMG_BCM "},{\"target\":\"b2\",\"ecu_id\":17,\"hw_id\":\"h\",\"version\":\"1\",\"file\":\"bcm.img\",\"size\":1,\"sha256\":\"" SHA "\"}]}", "images[1]: file \"bcm.img\" listed twice" },
};

static void test_each_defect_is_refused_with_its_name(void **state) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(bad_rows); i++) {
                struct umc_package p = { .n_images = 99 };
                char why[256] = "";
                int r = umc_package_parse(bad_rows[i].json, strlen(bad_rows[i].json), &p, why,
                                          sizeof(why));

                if (r != -EINVAL || strncmp(why, bad_rows[i].why, strlen(bad_rows[i].why)) != 0)
                        fail_msg("row %zu: r=%d why=\"%s\", expected \"%s\"", i, r, why,
                                 bad_rows[i].why);
                assert_int_equal(p.n_images, 99); /* untouched on failure */
        }
}

static void test_nul_byte_and_size_limit(void **state) {
        char buf[sizeof(good)], why[128] = "";
        struct umc_package p;
        char *big;

        memcpy(buf, good, sizeof(good));
        buf[20] = '\0';
        assert_int_equal(umc_package_parse(buf, strlen(good), &p, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "manifest: NUL byte at offset 20");
        assert_int_equal(umc_package_parse(good, 0, &p, why, sizeof(why)), -EINVAL);
        big = calloc(1, UMC_PACKAGE_MAX_BYTES + 1);
        assert_non_null(big);
        assert_int_equal(umc_package_parse(big, UMC_PACKAGE_MAX_BYTES + 1, &p, why, sizeof(why)),
                         -E2BIG);
        free(big);
}

static void test_time_parse_and_format(void **state) {
        int64_t t;
        char out[21];

        assert_int_equal(umc_package_time_parse("1970-01-01T00:00:00Z", &t), 0);
        assert_int_equal(t, 0);
        assert_int_equal(umc_package_time_parse("2028-02-29T23:59:59Z", &t), 0);
        assert_int_equal(umc_package_time_format(t, out), 0);
        assert_string_equal(out, "2028-02-29T23:59:59Z");
        assert_int_equal(umc_package_time_parse("2027-02-29T00:00:00Z", &t), -EINVAL);
        assert_int_equal(umc_package_time_parse("2027-01-01T24:00:00Z", &t), -EINVAL);
        assert_int_equal(umc_package_time_parse("2027-01-01T00:00:00+01:00", &t), -EINVAL);
        assert_int_equal(umc_package_time_parse("2027-01-01t00:00:00Z", &t), -EINVAL);
        assert_int_equal(umc_package_time_parse("1969-12-31T23:59:59Z", &t), -EINVAL);
        assert_int_equal(umc_package_time_parse("+027-01-01T00:00:00Z", &t), -EINVAL);
}

static void test_checks_name_their_reason(void **state) {
        const struct umc_package_image *img = NULL;
        struct umc_package p;
        uint8_t sha[32];
        char why[256];

        parse_ok(good, &p);
        assert_int_equal(umc_package_check_expiry(&p, T2030 - 1, why, sizeof(why)), UMC_REASON_OK);
        assert_int_equal(umc_package_check_expiry(&p, T2030, why, sizeof(why)),
                         UMC_REASON_PKG_EXPIRED);
        assert_string_equal(why, "package demo 2026.12 expired at 2030-01-01T00:00:00Z "
                                 "(now 2030-01-01T00:00:00Z)");
        assert_int_equal(umc_package_check_factory(&p, "X1", "B2", why, sizeof(why)), UMC_REASON_OK);
        assert_int_equal(umc_package_check_factory(&p, "X2", "B2", why, sizeof(why)),
                         UMC_REASON_PKG_FACTORY_MISMATCH);
        assert_string_equal(why, "package is for vehicle model \"X1\", this is \"X2\"");
        assert_int_equal(umc_package_check_factory(&p, "X1", "b2", why, sizeof(why)),
                         UMC_REASON_PKG_FACTORY_MISMATCH);
        assert_int_equal(umc_package_check_factory(&p, NULL, "B2", why, sizeof(why)),
                         UMC_REASON_PKG_FACTORY_MISMATCH);

        assert_int_equal(umc_package_check_ecu(&p, 16, "BCM-HW-3", &img, why, sizeof(why)),
                         UMC_REASON_OK);
        assert_string_equal(img->target, "bcm");
        assert_int_equal(umc_package_check_ecu(&p, 17, "BCM-HW-3", NULL, why, sizeof(why)),
                         UMC_REASON_PKG_NO_TARGET);
        assert_string_equal(why, "package has no image for ECU 0x11");
        assert_int_equal(umc_package_check_ecu(&p, 16, "BCM-HW-4", NULL, why, sizeof(why)),
                         UMC_REASON_PKG_HW_MISMATCH);
        assert_int_equal(umc_package_check_ecu(&p, 16, "BCM-HW-3 ", NULL, why, sizeof(why)),
                         UMC_REASON_PKG_HW_MISMATCH);
        assert_int_equal(umc_package_check_ecu(&p, 16, "", NULL, why, sizeof(why)),
                         UMC_REASON_PKG_HW_MISMATCH);
        assert_int_equal(umc_package_check_ecu(&p, 16, NULL, NULL, why, sizeof(why)),
                         UMC_REASON_PKG_HW_MISMATCH);

        assert_int_equal(umc_hex_decode(SHA, 64, sha, 32), 0);
        assert_int_equal(umc_package_check_image(img, 5, sha, why, sizeof(why)), UMC_REASON_OK);
        assert_int_equal(umc_package_check_image(img, 6, sha, why, sizeof(why)),
                         UMC_REASON_PKG_IMAGE_SIZE);
        assert_string_equal(why, "bcm.img: 6 bytes, the manifest says 5");
        sha[31] ^= 1;
        assert_int_equal(umc_package_check_image(img, 5, sha, why, sizeof(why)),
                         UMC_REASON_IMAGE_HASH_MISMATCH);
        umc_package_free(&p);
}

/* A manifest of good's head (its name and version) with the sealed object fc as "feature_code". */
static void parse_with_feature(const char *name, const struct umc_featcode_sealed *fc,
                               struct umc_package *p) {
        char nonce[2 * UMC_NONCE_LEN + 1], ct[2 * UMC_FEATCODE_CT_MAX + 1], json[1024];

        umc_hex_encode(fc->nonce, sizeof(fc->nonce), nonce);
        umc_hex_encode(fc->ct, fc->ct_len, ct);
        (void)snprintf(json, sizeof(json), "{\"format\":2,\"name\":\"%s\",\"package_version\":"
                       "\"2026.12.1\",\"security_version\":7,\"expires\":\"2030-01-01T00:00:00Z\","
                       "\"vehicle\":{\"model\":\"X1\",\"hw_revision\":\"B2\"},\"feature_code\":"
                       "{\"key_id\":\"%s\",\"nonce\":\"%s\",\"ciphertext\":\"%s\"},\"images\":["
                       IMG_BCM "}]}", name, fc->key_id, nonce, ct);
        parse_ok(json, p);
}

static void test_feature_code_check(void **state) {
        uint8_t key[UMC_FEATCODE_KEY_LEN], other[UMC_FEATCODE_KEY_LEN];
        struct umc_featcode_sealed fc;
        struct umc_package p, q;
        char why[256];

        for (size_t i = 0; i < sizeof(key); i++)
                key[i] = (uint8_t)i, other[i] = (uint8_t)~i;
        assert_int_equal(umc_featcode_seal(key, "x1-opt", "demo 2026.12", "2026.12.1", "OPT-A7",
                                           &fc), 0);
        parse_with_feature("demo 2026.12", &fc, &p);
        assert_true(p.has_feature_code);
        assert_string_equal(p.feature_code.key_id, "x1-opt");
        assert_int_equal(p.feature_code.ct_len, 6 + 16);
        assert_memory_equal(p.feature_code.ct, fc.ct, fc.ct_len);
        assert_int_equal(umc_package_check_feature(&p, key, "OPT-A7", why, sizeof(why)),
                         UMC_REASON_OK);

        /* Another device's code: the why never shows the decrypted one. */
        assert_int_equal(umc_package_check_feature(&p, key, "OPT-B1", why, sizeof(why)),
                         UMC_REASON_PKG_FEATURE_MISMATCH);
        assert_string_equal(why, "package demo 2026.12 2026.12.1 is for another feature code "
                                 "than this device's");
        assert_null(strstr(why, "OPT-A7"));
        assert_int_equal(umc_package_check_feature(&p, key, "OPT-A", why, sizeof(why)),
                         UMC_REASON_PKG_FEATURE_MISMATCH);
        /* Another device class's key. */
        assert_int_equal(umc_package_check_feature(&p, other, "OPT-A7", why, sizeof(why)),
                         UMC_REASON_PKG_FEATURE_MISMATCH);
        assert_non_null(strstr(why, "does not decrypt and authenticate"));
        /* Lifted into another package (its name differs): does not open. */
        parse_with_feature("demo 2026.13", &fc, &q);
        assert_int_equal(umc_package_check_feature(&q, key, "OPT-A7", why, sizeof(why)),
                         UMC_REASON_PKG_FEATURE_MISMATCH);
        assert_non_null(strstr(why, "does not decrypt and authenticate"));
        umc_package_free(&q);
        /* Tampered ciphertext. */
        p.feature_code.ct[0] ^= 1;
        assert_int_equal(umc_package_check_feature(&p, key, "OPT-A7", why, sizeof(why)),
                         UMC_REASON_PKG_FEATURE_MISMATCH);
        umc_package_free(&p);
        /* A manifest without one, on a device that checks it. */
        parse_ok(good, &p);
        assert_false(p.has_feature_code);
        assert_int_equal(umc_package_check_feature(&p, key, "OPT-A7", why, sizeof(why)),
                         UMC_REASON_PKG_FEATURE_MISMATCH);
        assert_non_null(strstr(why, "carries no feature code"));
        /* A device without its code or key never passes. */
        assert_int_equal(umc_package_check_feature(&p, NULL, "OPT-A7", NULL, 0),
                         UMC_REASON_PKG_FEATURE_MISMATCH);
        umc_package_free(&p);
}

static void test_rollback_needs_a_signed_permission(void **state) {
        const struct umc_package_image *bcm, *gw;
        struct umc_package p;
        char why[256];

        parse_ok(good, &p); /* security version 7; bcm may go down from up to 9, gw not */
        bcm = umc_package_find(&p, "bcm");
        gw = umc_package_find(&p, "gw");
        assert_int_equal(umc_package_check_rollback(&p, gw, 0, why, sizeof(why)), UMC_REASON_OK);
        assert_int_equal(umc_package_check_rollback(&p, gw, 7, why, sizeof(why)), UMC_REASON_OK);
        assert_int_equal(umc_package_check_rollback(&p, gw, 8, why, sizeof(why)),
                         UMC_REASON_PKG_ROLLBACK);
        assert_string_equal(why, "gw: security version 7 is below the installed 8 and the "
                                 "package carries no downgrade permission for it");
        assert_int_equal(umc_package_check_rollback(&p, bcm, 8, why, sizeof(why)), UMC_REASON_OK);
        assert_int_equal(umc_package_check_rollback(&p, bcm, 9, why, sizeof(why)), UMC_REASON_OK);
        assert_int_equal(umc_package_check_rollback(&p, bcm, 10, why, sizeof(why)),
                         UMC_REASON_PKG_ROLLBACK);
        assert_non_null(strstr(why, "covers only up to 9"));
        umc_package_free(&p);
}

static void test_format1_view_for_the_delivery_path(void **state) {
        struct umc_package p;
        struct umc_manifest m;

        parse_ok(good, &p);
        assert_int_equal(umc_package_to_manifest(&p, &m), 0);
        assert_int_equal(m.n_images, 2);
        assert_string_equal(m.name, "demo 2026.12");
        assert_memory_equal(m.hash, p.hash, 32);
        assert_string_equal(m.images[1].file, "gw.img.enc");
        assert_int_equal(m.images[1].size, 1016);
        assert_non_null(umc_manifest_find(&m, "bcm"));
        umc_manifest_free(&m);
        umc_package_free(&p);
}

/* ---- package directories, signed with the test PKI ---- */

static struct pki P;

/* DIR/manifest.json = json, signed by id; an image bcm.img of 5 bytes "hello". */
static void write_package(const char *dir, const char *json, const struct pki_id *id) {
        _cleanup_close_ int dfd = -1;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = pki_cms_sign(id, P.inter.cert, json, strlen(json), 0, EVP_sha256(), false,
                                  &sig);

        assert_int_equal(umc_fs_mkdir_p(dir, 0700), 0);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(umc_fs_write_atomic(dfd, UMC_PACKAGE_MANIFEST, json, strlen(json), 0644), 0);
        assert_int_equal(umc_fs_write_atomic(dfd, UMC_PACKAGE_SIGNATURE, sig, len, 0644), 0);
        assert_int_equal(umc_fs_write_atomic(dfd, "bcm.img", "hello", 5, 0644), 0);
}

/* "hello" has the SHA-256 below. */
#define HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
static char signed_json[1024];
static int64_t expiry; /* of signed_json: in ten days, inside the signers' validity */

static void make_signed_json(void) {
        char exp[21];

        expiry = (int64_t)time(NULL) + 10 * DAY;
        assert_int_equal(umc_package_time_format(expiry, exp), 0);
        (void)snprintf(signed_json, sizeof(signed_json), "{\"format\":2,\"name\":\"demo\","
                       "\"package_version\":\"1\",\"security_version\":7,\"expires\":\"%s\","
                       "\"vehicle\":{\"model\":\"X1\",\"hw_revision\":\"B2\"},\"images\":["
                       "{\"target\":\"bcm\",\"ecu_id\":16,\"hw_id\":\"BCM-HW-3\",\"version\":"
                       "\"1.2.3\",\"file\":\"bcm.img\",\"size\":5,\"sha256\":\"" HELLO "\"}]}",
                       exp);
}

static int group_setup(void **state) {
        pki_build(&P);
        make_signed_json();
        return 0;
}

static int group_teardown(void **state) {
        pki_free(&P);
        return 0;
}

static enum umc_reason load(const char *dir, int64_t now, struct umc_package *p, char *why,
                            size_t why_size) {
        struct umc_sig_trust *t = NULL;
        enum umc_reason reason = 0xffff;
        struct umc_package local;
        int r;

        assert_int_equal(umc_sig_trust_load(P.anchor, NULL, &t, NULL, 0), 0);
        r = umc_package_load(dir, t, now, p ? p : &local, NULL, &reason, why, why_size);
        umc_sig_trust_free(t);
        assert_true(r == 0 || r == -EBADMSG);
        assert_int_equal(r == 0, reason == UMC_REASON_OK);
        if (r == 0 && !p)
                umc_package_free(&local);
        return reason;
}

static void test_signed_package_loads_and_its_image_checks(void **state) {
        char dir[200], why[256] = "";
        struct umc_package p;
        enum umc_reason reason = 0xffff;
        _cleanup_close_ int dfd = -1;

        (void)snprintf(dir, sizeof(dir), "%s/pkg-good", P.dir);
        write_package(dir, signed_json, &P.ec);
        assert_int_equal(load(dir, time(NULL), &p, why, sizeof(why)), UMC_REASON_OK);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(umc_package_check_image_file(dfd, &p.images[0], &reason, why,
                                                      sizeof(why)), 0);
        assert_int_equal(reason, UMC_REASON_OK);
        /* A longer image is found without reading past size + 1. */
        assert_int_equal(umc_fs_write_atomic(dfd, "bcm.img", "hello!", 6, 0644), 0);
        assert_int_equal(umc_package_check_image_file(dfd, &p.images[0], &reason, why,
                                                      sizeof(why)), 0);
        assert_int_equal(reason, UMC_REASON_PKG_IMAGE_SIZE);
        assert_int_equal(umc_fs_write_atomic(dfd, "bcm.img", "hellO", 5, 0644), 0);
        assert_int_equal(umc_package_check_image_file(dfd, &p.images[0], &reason, why,
                                                      sizeof(why)), 0);
        assert_int_equal(reason, UMC_REASON_IMAGE_HASH_MISMATCH);
        assert_int_equal(unlinkat(dfd, "bcm.img", 0), 0);
        assert_int_equal(symlinkat("/etc/hostname", dfd, "bcm.img"), 0);
        assert_int_equal(umc_package_check_image_file(dfd, &p.images[0], &reason, why,
                                                      sizeof(why)), -ELOOP);
        umc_package_free(&p);
}

static void test_load_refuses_in_the_devices_order(void **state) {
        char dir[200], why[256] = "";
        _cleanup_close_ int dfd = -1;

        (void)snprintf(dir, sizeof(dir), "%s/pkg-order", P.dir);
        /* Expired: signature and syntax fine, then the expiry refuses. */
        write_package(dir, signed_json, &P.ec);
        assert_int_equal(load(dir, expiry, NULL, why, sizeof(why)), UMC_REASON_PKG_EXPIRED);
        assert_int_equal(load(dir, expiry - 1, NULL, why, sizeof(why)), UMC_REASON_OK);
        /* Validly signed garbage: the parser runs only after the signature, and refuses. */
        write_package(dir, "{\"format\":2}", &P.ec);
        assert_int_equal(load(dir, time(NULL), NULL, why, sizeof(why)), UMC_REASON_PKG_MALFORMED);
        assert_string_equal(why, "manifest: \"name\" is missing");
        /* Signed by an untrusted key. */
        write_package(dir, signed_json, &P.other);
        assert_int_equal(load(dir, time(NULL), NULL, why, sizeof(why)),
                         UMC_REASON_PKG_CERT_UNTRUSTED);
        /* Tampered after signing (even re-hashed: the hash is inside the signed bytes). */
        write_package(dir, signed_json, &P.ec);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        {
                /* A raised security version: valid JSON, the very change an attacker wants. */
                char *copy = strdup(signed_json);
                strstr(copy, "\"security_version\":7")[19] = '9';
                assert_int_equal(umc_fs_write_atomic(dfd, UMC_PACKAGE_MANIFEST, copy,
                                                     strlen(copy), 0644), 0);
                free(copy);
        }
        assert_int_equal(load(dir, time(NULL), NULL, why, sizeof(why)),
                         UMC_REASON_PKG_SIG_MISMATCH);
}

static void test_load_file_errors(void **state) {
        struct umc_sig_trust *t = NULL;
        enum umc_reason reason = 0xffff;
        struct umc_package p;
        char dir[200], why[256] = "";
        _cleanup_close_ int dfd = -1;

        assert_int_equal(umc_sig_trust_load(P.anchor, NULL, &t, NULL, 0), 0);
        (void)snprintf(dir, sizeof(dir), "%s/pkg-files", P.dir);
        write_package(dir, signed_json, &P.ec);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        /* Two signatures: which one counts would be a choice; refused. */
        assert_int_equal(umc_fs_write_atomic(dfd, UMC_PACKAGE_SIGNATURE_SM2, "UMC-SM2\n", 8, 0644),
                         0);
        assert_int_equal(umc_package_load(dir, t, time(NULL), &p, NULL, &reason, why,
                                          sizeof(why)), -EBADMSG);
        assert_int_equal(reason, UMC_REASON_PKG_SIG_MALFORMED);
        assert_string_equal(why, "both manifest.json.p7s and manifest.json.sm2: a package has "
                                 "one signature");
        assert_int_equal(unlinkat(dfd, UMC_PACKAGE_SIGNATURE_SM2, 0), 0);
        {
                /* Larger than any signature: refused unread, as a malformed signature. */
                char *big = calloc(1, UMC_SIG_MAX_BYTES + 1);
                assert_int_equal(umc_fs_write_atomic(dfd, UMC_PACKAGE_SIGNATURE, big,
                                                     UMC_SIG_MAX_BYTES + 1, 0644), 0);
                free(big);
        }
        assert_int_equal(umc_package_load(dir, t, time(NULL), &p, NULL, &reason, why,
                                          sizeof(why)), -EBADMSG);
        assert_int_equal(reason, UMC_REASON_PKG_SIG_MALFORMED);
        assert_int_equal(unlinkat(dfd, UMC_PACKAGE_SIGNATURE, 0), 0);
        assert_int_equal(umc_package_load(dir, t, time(NULL), &p, NULL, &reason, why,
                                          sizeof(why)), -ENOENT);
        assert_string_equal(why, "manifest.json.p7s: No such file or directory");
        assert_int_equal(symlinkat(UMC_PACKAGE_MANIFEST, dfd, UMC_PACKAGE_SIGNATURE), 0);
        assert_int_equal(umc_package_load(dir, t, time(NULL), &p, NULL, &reason, why,
                                          sizeof(why)), -ELOOP);
        assert_int_equal(umc_package_load("/nonexistent", t, time(NULL), &p, NULL, &reason, why,
                                          sizeof(why)), -ENOENT);
        umc_sig_trust_free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_manifest_fills_every_field),
                cmocka_unit_test(test_each_defect_is_refused_with_its_name),
                cmocka_unit_test(test_nul_byte_and_size_limit),
                cmocka_unit_test(test_time_parse_and_format),
                cmocka_unit_test(test_checks_name_their_reason),
                cmocka_unit_test(test_feature_code_check),
                cmocka_unit_test(test_rollback_needs_a_signed_permission),
                cmocka_unit_test(test_format1_view_for_the_delivery_path),
                cmocka_unit_test(test_signed_package_loads_and_its_image_checks),
                cmocka_unit_test(test_load_refuses_in_the_devices_order),
                cmocka_unit_test(test_load_file_errors),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
