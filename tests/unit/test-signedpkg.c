/* SPDX-License-Identifier: MIT */
/*
 * umcd's gate for signed packages (signedpkg.c): a package signed with the
 * test PKI (pki-fixture.h) passes with its format-1 view; every refusal
 * names its reason code first; CheckOrder= decides which refusal comes
 * first; the security versions file keeps the other targets' lines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>

#include "pki-fixture.h"
#include "test-helpers.h"
#include "umc/fs.h"
#include "umc/signedpkg.h"

#define HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static struct pki P;
static char json[1024];
static int64_t expiry;

struct fixture {
        char dir[64], pkg[128];
        int state_fd;
        struct umc_daemon_config c;
};

static void write_package(const char *dir, const struct pki_id *id, bool sign) {
        _cleanup_close_ int dfd = -1;
        _cleanup_free_ uint8_t *sig = NULL;

        assert_int_equal(umc_fs_mkdir_p(dir, 0700), 0);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(umc_fs_write_atomic(dfd, "manifest.json", json, strlen(json), 0644), 0);
        assert_int_equal(umc_fs_write_atomic(dfd, "bcm.img", "hello", 5, 0644), 0);
        if (sign) {
                size_t len = pki_cms_sign(id, P.inter.cert, json, strlen(json), 0, EVP_sha256(),
                                          false, &sig);
                assert_int_equal(umc_fs_write_atomic(dfd, "manifest.json.p7s", sig, len, 0644), 0);
        }
}

static int group_setup(void **state) {
        char exp[21];

        pki_build(&P);
        expiry = (int64_t)time(NULL) + 10 * DAY;
        assert_int_equal(umc_package_time_format(expiry, exp), 0);
        (void)snprintf(json, sizeof(json), "{\"format\":2,\"name\":\"demo\","
                       "\"package_version\":\"1\",\"security_version\":7,\"expires\":\"%s\","
                       "\"vehicle\":{\"model\":\"X1\",\"hw_revision\":\"B2\"},\"images\":["
                       "{\"target\":\"bcm\",\"ecu_id\":16,\"hw_id\":\"BCM-HW-3\",\"version\":"
                       "\"1.2.3\",\"file\":\"bcm.img\",\"size\":5,\"sha256\":\"" HELLO "\"}]}",
                       exp);
        return 0;
}

static int group_teardown(void **state) {
        pki_free(&P);
        return 0;
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->state_fd = scratch_dir("signedpkg", f->dir, sizeof(f->dir));
        (void)snprintf(f->pkg, sizeof(f->pkg), "%s/pkg", f->dir);
        assert_int_equal(umc_daemon_config_init(&f->c), 0);
        f->c.trust_anchor = strdup(P.anchor);
        snprintf(f->c.vehicle_model, sizeof(f->c.vehicle_model), "X1");
        snprintf(f->c.hw_revision, sizeof(f->c.hw_revision), "B2");
        f->c.ecus = calloc(1, sizeof(*f->c.ecus));
        f->c.targets = calloc(1, sizeof(*f->c.targets));
        assert_non_null(f->c.ecus);
        assert_non_null(f->c.targets);
        f->c.n_targets = 1;
        f->c.ecus[0] = (struct umc_ecu){ .ecu_id = 0x10, .name = "bcm", .hw_id = "BCM-HW-3" };
        write_package(f->pkg, &P.ec, true);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        umc_daemon_config_free(&f->c);
        close(f->state_fd);
        rm_tree(f->dir);
        free(f);
        return 0;
}

/* Load f->pkg at now; the reason (OK when it passed) and why. */
static enum umc_reason load(struct fixture *f, int64_t now, char *why, size_t why_size) {
        struct umc_signedpkg_info info = {};
        struct umc_manifest mf = {};
        enum umc_reason reason = 0xffff;
        int r = umc_signedpkg_load(&f->c, f->state_fd, f->pkg, now, &mf, &info, &reason, why,
                                   why_size);

        if (r == 1) {
                assert_true(info.is_signed);
                assert_int_equal(info.security_version, 7);
                assert_int_equal(mf.n_images, 1);
                assert_string_equal(mf.images[0].target, "bcm");
                umc_manifest_free(&mf);
                return UMC_REASON_OK;
        }
        assert_int_equal(r, -EBADMSG);
        return reason;
}

static void test_signed_package_passes_with_its_format1_view(void **state) {
        struct fixture *f = *state;
        char why[512] = "";

        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_OK);
}

static void test_unsigned_package_refused_unless_allowed(void **state) {
        struct fixture *f = *state;
        struct umc_signedpkg_info info = { .is_signed = true };
        struct umc_manifest mf = {};
        char why[512] = "";

        (void)snprintf(f->pkg, sizeof(f->pkg), "%s/plain", f->dir);
        write_package(f->pkg, NULL, false);
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_UNSIGNED);
        assert_non_null(strstr(why, "0x0712 PKG_UNSIGNED: "));
        assert_non_null(strstr(why, "RequireSignature=yes"));
        f->c.require_signature = false;
        assert_int_equal(umc_signedpkg_load(&f->c, f->state_fd, f->pkg, time(NULL), &mf, &info,
                                            NULL, why, sizeof(why)), 0);
        assert_false(info.is_signed);
        assert_int_equal(mf.n_images, 0); /* untouched: the format-1 loader's job */
}

static void test_refusals_name_their_reason_first(void **state) {
        struct fixture *f = *state;
        char why[512] = "";

        assert_int_equal(load(f, expiry + 1, why, sizeof(why)), UMC_REASON_PKG_EXPIRED);
        assert_non_null(strstr(why, "0x070b PKG_EXPIRED: "));

        write_package(f->pkg, &P.other, true);
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_CERT_UNTRUSTED);
        assert_true(strncmp(why, "0x0705 PKG_CERT_UNTRUSTED: ", 27) == 0);

        write_package(f->pkg, &P.ec, true);
        free(f->c.trust_anchor);
        f->c.trust_anchor = NULL;
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_CERT_UNTRUSTED);
        assert_non_null(strstr(why, "TrustAnchor="));
}

static void test_device_checks_refuse(void **state) {
        struct fixture *f = *state;
        char why[512] = "";

        snprintf(f->c.vehicle_model, sizeof(f->c.vehicle_model), "Y9");
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_FACTORY_MISMATCH);
        snprintf(f->c.vehicle_model, sizeof(f->c.vehicle_model), "X1");

        snprintf(f->c.ecus[0].hw_id, sizeof(f->c.ecus[0].hw_id), "BCM-HW-4");
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_HW_MISMATCH);
        snprintf(f->c.ecus[0].hw_id, sizeof(f->c.ecus[0].hw_id), "BCM-HW-3");

        f->c.ecus[0].ecu_id = 0x11;
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_NO_TARGET);
        assert_non_null(strstr(why, "whose ECU ID is 0x11"));
        f->c.ecus[0].ecu_id = 0x10;

        snprintf(f->c.ecus[0].name, sizeof(f->c.ecus[0].name), "gw");
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_NO_TARGET);
        assert_non_null(strstr(why, "not configured"));
}

static void test_anti_rollback_uses_the_recorded_version(void **state) {
        struct fixture *f = *state;
        char why[512] = "";
        uint64_t v = 99;

        assert_int_equal(umc_signedpkg_installed(f->state_fd, "bcm", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(umc_signedpkg_record(f->state_fd, "gw", 3), 0);
        assert_int_equal(umc_signedpkg_record(f->state_fd, "bcm", 8), 0);
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_ROLLBACK);
        assert_non_null(strstr(why, "0x070d PKG_ROLLBACK"));
        assert_int_equal(umc_signedpkg_record(f->state_fd, "bcm", 7), 0);
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_OK);
        assert_int_equal(umc_signedpkg_installed(f->state_fd, "gw", &v), 0);
        assert_int_equal(v, 3);
        assert_int_equal(umc_signedpkg_installed(f->state_fd, "bcm", &v), 0);
        assert_int_equal(v, 7);
        /* A damaged file fails closed. */
        assert_int_equal(umc_fs_write_atomic(f->state_fd, UMC_SIGNEDPKG_VERSIONS_FILE, "bcm=x\n", 6,
                                             0600), 0);
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_ROLLBACK);
        assert_non_null(strstr(why, "cannot read the installed security version"));
}

static void test_check_order_decides_the_first_refusal(void **state) {
        struct fixture *f = *state;
        char why[512] = "";

        /* Both the factory check and the version check would refuse. */
        snprintf(f->c.hw_revision, sizeof(f->c.hw_revision), "C3");
        assert_int_equal(umc_signedpkg_record(f->state_fd, "bcm", 8), 0);
        f->c.checks = (struct umc_config_checks){
                .order = { UMC_PKG_CHECK_SIGNATURE, UMC_PKG_CHECK_VERSION, UMC_PKG_CHECK_FACTORY },
                .n = 3 };
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_ROLLBACK);
        f->c.checks = (struct umc_config_checks){
                .order = { UMC_PKG_CHECK_SIGNATURE, UMC_PKG_CHECK_FACTORY, UMC_PKG_CHECK_VERSION },
                .n = 3 };
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_FACTORY_MISMATCH);
        /* A check left out is not run; the signature always is. */
        f->c.checks = (struct umc_config_checks){ .order = { UMC_PKG_CHECK_SIGNATURE }, .n = 1 };
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_OK);
        write_package(f->pkg, &P.other, true);
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_CERT_UNTRUSTED);
}

/* json with a "feature_code" sealed under key for package "demo" version "1", then signed. */
static void write_with_feature(struct fixture *f, const uint8_t key[32], const char *code) {
        char saved[sizeof(json)], nonce[25], ct[2 * UMC_FEATCODE_CT_MAX + 1], obj[256];
        struct umc_featcode_sealed fc;
        char *at;

        assert_int_equal(umc_featcode_seal(key, "x1", "demo", "1", code, &fc), 0);
        umc_hex_encode(fc.nonce, sizeof(fc.nonce), nonce);
        umc_hex_encode(fc.ct, fc.ct_len, ct);
        (void)snprintf(obj, sizeof(obj), "\"feature_code\":{\"key_id\":\"x1\",\"nonce\":\"%s\","
                       "\"ciphertext\":\"%s\"},", nonce, ct);
        memcpy(saved, json, sizeof(json));
        at = strstr(json, "\"images\"");
        assert_non_null(at);
        (void)snprintf(at, sizeof(json) - (size_t)(at - json), "%s%s", obj,
                       strstr(saved, "\"images\""));
        rm_tree(f->pkg);
        write_package(f->pkg, &P.ec, true);
        memcpy(json, saved, sizeof(json));
}

static void test_feature_code_check_runs_in_its_place(void **state) {
        struct fixture *f = *state;
        uint8_t other[32];
        char why[512] = "";

        for (int i = 0; i < 32; i++)
                f->c.feature_key[i] = (uint8_t)i, other[i] = (uint8_t)(0x40 + i);
        snprintf(f->c.feature_code, sizeof(f->c.feature_code), "OPT-A7");
        f->c.checks = (struct umc_config_checks){
                .order = { UMC_PKG_CHECK_SIGNATURE, UMC_PKG_CHECK_FEATURE_CODE }, .n = 2 };
        /* Configured, and the manifest has none: refused with the reason. */
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_FEATURE_MISMATCH);
        assert_non_null(strstr(why, "0x0715 PKG_FEATURE_MISMATCH"));
        assert_non_null(strstr(why, "carries no feature code"));

        write_with_feature(f, f->c.feature_key, "OPT-A7");
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_OK);
        /* Another device's code, sealed under our key. */
        write_with_feature(f, f->c.feature_key, "OPT-B1");
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_FEATURE_MISMATCH);
        assert_non_null(strstr(why, "another feature code"));
        /* Our code under another class's key. */
        write_with_feature(f, other, "OPT-A7");
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_FEATURE_MISMATCH);
        assert_non_null(strstr(why, "does not decrypt"));
        /* The order decides: the factory check listed first refuses first. */
        snprintf(f->c.hw_revision, sizeof(f->c.hw_revision), "C3");
        f->c.checks = (struct umc_config_checks){
                .order = { UMC_PKG_CHECK_SIGNATURE, UMC_PKG_CHECK_FACTORY,
                           UMC_PKG_CHECK_FEATURE_CODE }, .n = 3 };
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_FACTORY_MISMATCH);
        f->c.checks = (struct umc_config_checks){
                .order = { UMC_PKG_CHECK_SIGNATURE, UMC_PKG_CHECK_FEATURE_CODE,
                           UMC_PKG_CHECK_FACTORY }, .n = 3 };
        assert_int_equal(load(f, time(NULL), why, sizeof(why)), UMC_REASON_PKG_FEATURE_MISMATCH);
}

int main(void) {
        const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
                T(test_signed_package_passes_with_its_format1_view),
                T(test_unsigned_package_refused_unless_allowed),
                T(test_refusals_name_their_reason_first),
                T(test_device_checks_refuse),
                T(test_anti_rollback_uses_the_recorded_version),
                T(test_check_order_decides_the_first_refusal),
                T(test_feature_code_check_runs_in_its_place),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
