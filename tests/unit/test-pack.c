/* SPDX-License-Identifier: MIT */
/*
 * umc-pack's logic: a package built from a description verifies with the
 * device's checks; each check refuses what it must, with its reason code
 * on its line; bad descriptions and command lines are named and leave
 * nothing behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test-helpers.h"

#include <dirent.h>
#include <fcntl.h>

#include "pki-fixture.h"
#include "umc/fs.h"
#include "umc/pack.h"
#include "umc/version.h"
#include "umc/package.h"

static struct pki P;
static char desc[200], pkg[200], key[200], wrong_key[200];

static const char good_desc[] =
        "[Package]\nName=demo 2026.12\nVersion=2026.12.1\nSecurityVersion=7\nValidDays=30\n"
        "VehicleModel=X1\nHardwareRevision=B2\n\n"
        "[Image bcm]\nEcuId=0x10\nHardwareId=BCM-HW-3\nVersion=1.2.3\nFile=bcm.bin\n"
        "DowngradeMax=9\nPostFlashTimeoutSec=120\nPostFlashMaterialFile=material.bin\n\n"
        "[Image gw]\nEcuId=32\nHardwareId=GW HW 1\nVersion=4.0\nFile=gw.bin\n"
        "EncryptKeyFile=gw.key\n";

static int group_setup(void **state) {
        char path[200];
        char *big = malloc(70001);

        pki_build(&P);
        (void)snprintf(desc, sizeof(desc), "%s/desc.ini", P.dir);
        (void)snprintf(pkg, sizeof(pkg), "%s/pkg", P.dir);
        (void)snprintf(key, sizeof(key), "%s/gw.key", P.dir);
        (void)snprintf(wrong_key, sizeof(wrong_key), "%s/wrong.key", P.dir);
        write_text(desc, good_desc, 0644);
        write_text(key, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0600);
        write_text(wrong_key, "100102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
                   0600);
        (void)snprintf(path, sizeof(path), "%s/bcm.bin", P.dir);
        write_text(path, "bcm image", 0644);
        (void)snprintf(path, sizeof(path), "%s/material.bin", P.dir);
        write_text(path, "\x01\xfe", 0644);
        (void)snprintf(path, sizeof(path), "%s/empty.bin", P.dir);
        write_text(path, "", 0644);
        memset(big, 'g', 70000);
        big[70000] = '\0';
        (void)snprintf(path, sizeof(path), "%s/gw.bin", P.dir);
        write_text(path, big, 0644);
        free(big);
        assert_int_equal(umc_pack_create(desc, P.ec.cert_path, P.ec.key_path, P.chain, NULL, pkg,
                                         NULL, 0), 0);
        return 0;
}

static int group_teardown(void **state) {
        pki_free(&P);
        return 0;
}

/* Run umc-pack with argv (NULL-terminated) and capture both streams. */
static int run(char **out, char **err, const char *first, ...) {
        char *argv[32] = { (char *)"umc-pack", (char *)first };
        struct umc_pack_args a = {};
        size_t olen, elen;
        FILE *o = open_memstream(out, &olen), *e = open_memstream(err, &elen);
        va_list ap;
        int argc = 2, rc;

        va_start(ap, first);
        while (first && (argv[argc] = va_arg(ap, char *)))
                argc++;
        va_end(ap);
        if (!first)
                argc = 1;
        rc = umc_pack_parse_args(argc, argv, &a, e) < 0 ? UMC_PACK_EXIT_USAGE
                                                           : umc_pack_run(&a, o, e);
        umc_pack_args_free(&a);
        assert_int_equal(fclose(o), 0);
        assert_int_equal(fclose(e), 0);
        return rc;
}

static void expect_line(const char *out, const char *line) {
        if (!strstr(out, line))
                fail_msg("output lacks \"%s\":\n%s", line, out);
}

static void test_created_package_passes_every_device_check(void **state) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        char ecu2[300];

        (void)snprintf(ecu2, sizeof(ecu2), "0x20,GW HW 1,7,%s", key);
        assert_int_equal(run(&out, &err, "verify", "--trust-anchor", P.anchor, "--vehicle-model",
                             "X1", "--hw-revision", "B2", "--ecu", "16,BCM-HW-3,9", "--ecu", ecu2,
                             pkg, NULL), UMC_PACK_EXIT_OK);
        expect_line(out, "signature: ok: ECDSA-P256-SHA256 by CN=ec signer\n");
        expect_line(out, "manifest: ok\n");
        expect_line(out, "factory: ok: X1, B2\n");
        expect_line(out, "image bcm: ok: bcm.img\n");
        expect_line(out, "image gw: ok: gw.img.enc\n");
        expect_line(out, "ecu 0x10: ok: bcm\n");
        expect_line(out, "rollback: ok: security version 7, installed 9 (signed downgrade permission)\n");
        expect_line(out, "decrypt bcm: not checked (not encrypted)\n");
        expect_line(out, "decrypt: ok: plaintext size and SHA-256 match\n");
        assert_string_equal(err, "");
}

struct refusal {
        const char *what;
        const char *args[8];
        const char *line;
};

static void test_each_check_refuses_with_its_reason(void **state) {
        char ecu_wrong_key[300], in40days[21];

        assert_int_equal(umc_package_time_format(time(NULL) + 40 * DAY, in40days), 0);
        (void)snprintf(ecu_wrong_key, sizeof(ecu_wrong_key), "32,GW HW 1,0,%s", wrong_key);
        const struct refusal rows[] = {
                { "untrusted", { "--trust-anchor", P.other_anchor },
                  "signature: REFUSED 0x0705 (package signer not trusted): certificate CN=umc test intermediate" },
                { "factory", { "--trust-anchor", P.anchor, "--vehicle-model", "X2", "--hw-revision", "B2" },
                  "factory: REFUSED 0x070c" },
                { "no target", { "--trust-anchor", P.anchor, "--ecu", "17,BCM-HW-3" },
                  "ecu 0x11: REFUSED 0x070e (package has no image for this ECU)" },
                { "hw id", { "--trust-anchor", P.anchor, "--ecu", "16,BCM-HW-4" },
                  "ecu 0x10: REFUSED 0x070f" },
                { "rollback", { "--trust-anchor", P.anchor, "--ecu", "32,GW HW 1,8" },
                  "rollback: REFUSED 0x070d" },
                { "wrong key", { "--trust-anchor", P.anchor, "--ecu", ecu_wrong_key },
                  "decrypt: REFUSED 0x0711" },
                { "expired", { "--trust-anchor", P.anchor, "--time", "2099-01-01T00:00:00Z" },
                  "signature: REFUSED 0x0706" },
                { "package expired, certificates valid",
                  { "--trust-anchor", P.anchor, "--time", in40days },
                  "signature: ok: ECDSA-P256-SHA256 by CN=ec signer\nmanifest: ok\n"
                  "expiry: REFUSED 0x070b (package expired): package demo 2026.12 expired at " },
                { "010 is decimal ten, not octal", { "--trust-anchor", P.anchor, "--ecu", "010,h" },
                  "ecu 0xa: REFUSED 0x070e" },
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(rows); i++) {
                _cleanup_free_ char *out = NULL, *err = NULL;
                char *argv[10] = {};
                size_t n = 0;

                while (n < 8 && rows[i].args[n])
                        argv[n] = (char *)rows[i].args[n], n++;
                argv[n] = pkg;
                assert_int_equal(run(&out, &err, "verify", argv[0], argv[1], argv[2], argv[3],
                                     argv[4], argv[5], argv[6], argv[7], argv[8], NULL),
                                 UMC_PACK_EXIT_REFUSED);
                if (!strstr(out, rows[i].line))
                        fail_msg("%s: output lacks \"%s\":\n%s", rows[i].what, rows[i].line, out);
        }
}

static void test_tampered_image_is_refused(void **state) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        char copy[200], cmd[512];
        _cleanup_close_ int dfd = -1;

        (void)snprintf(copy, sizeof(copy), "%s/pkg-tampered", P.dir);
        (void)snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", pkg, copy);
        assert_int_equal(system(cmd), 0);
        dfd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(umc_fs_write_atomic(dfd, "bcm.img", "bcm imagE", 9, 0644), 0);
        assert_int_equal(run(&out, &err, "verify", "--trust-anchor", P.anchor, copy, NULL),
                         UMC_PACK_EXIT_REFUSED);
        expect_line(out, "image bcm: REFUSED 0x0303 (image hash mismatch): bcm.img: SHA-256 "
                         "differs from the manifest's\n");
}

static void test_inspect_shows_without_verifying(void **state) {
        _cleanup_free_ char *out = NULL, *err = NULL;

        assert_int_equal(run(&out, &err, "inspect", pkg, NULL), UMC_PACK_EXIT_OK);
        expect_line(out, "name: demo 2026.12\n");
        expect_line(out, "security_version: 7\n");
        expect_line(out, "  downgrade permitted from security versions up to 9\n");
        expect_line(out, "  post_flash: timeout 120 s, 2 bytes of material\n");
        expect_line(out, "  encrypted for ECU 0x20: AES-256-GCM, 70000 bytes plain");
        expect_line(out, "signer (NOT verified; umc-pack verify checks it): CN=ec signer\n");
}

/* No directory of ours is left next to the output after a failure. */
static void assert_no_leftovers(void) {
        DIR *d = opendir(P.dir);
        struct dirent *e;

        assert_non_null(d);
        while ((e = readdir(d)))
                if (strstr(e->d_name, ".tmp-") || strcmp(e->d_name, "out") == 0)
                        fail_msg("left behind: %s", e->d_name);
        closedir(d);
}

struct desc_row {
        const char *text;
        const char *why;
};

#define PKGHEAD "[Package]\nName=n\nVersion=1\nSecurityVersion=3\nValidDays=1\nVehicleModel=X\nHardwareRevision=B\n"
#define LONG "0123456789012345678901234567890123456789012345678901234567890123456789" \
             "0123456789012345678901234567890123456789012345678901234567890123456789" \
             "0123456789012345678901234567890123456789012345678901234567890123456789"
#define IMGHEAD "[Image bcm]\nEcuId=1\nHardwareId=h\nVersion=1\nFile=bcm.bin\n"

static void test_bad_descriptions_are_named_and_leave_nothing(void **state) {
        static const struct desc_row rows[] = {
                { "[Package]\nName=n\nColour=red\n", "line 3: [Package] Colour=: unknown key" },
                { "[Package]\nName=n\nName=m\n", "[Package] Name=: given twice" },
                { "[Package]\nVersion=1 2\n", "[Package] Version=: must be 1..64 printable ASCII characters without spaces" },
                { "[Package]\nSecurityVersion=-1\n", "[Package] SecurityVersion=: must be an integer" },
                { "[Package]\nExpires=tomorrow\n", "[Package] Expires=: must be a UTC time" },
                { "[Vehicle]\nModel=X\n", "[Vehicle]: unknown section" },
                { "[Image a/b]\nEcuId=1\n", "[Image a/b]: the target name must be" },
                { PKGHEAD, "no [Image NAME] section" },
                { "[Package]\nName=n\n" IMGHEAD, "[Package] Version= is missing" },
                { "[Package]\nName=n\nVersion=1\nSecurityVersion=3\nVehicleModel=X\nHardwareRevision=B\n" IMGHEAD, "[Package]: give exactly one of Expires= and ValidDays=" },
                { PKGHEAD "[Image bcm]\nEcuId=1\n", "[Image bcm] HardwareId= is missing" },
                { PKGHEAD IMGHEAD "EcuId=2\n", "[Image bcm] EcuId=: given twice" },
                { PKGHEAD IMGHEAD "DowngradeMax=3\n", "[Image bcm] DowngradeMax=: must be above SecurityVersion=" },
                { PKGHEAD IMGHEAD "PostFlashMaterialFile=empty.bin\n", "[Image bcm] PostFlashMaterialFile=" },
                { PKGHEAD IMGHEAD "PostFlashMaterialFile=nonexistent\n", "No such file or directory" },
                { "[Package]\nName=" LONG "\n", "line 2: longer than" },
                { PKGHEAD IMGHEAD "PostFlashTimeoutSec=0\n", "[Image bcm] PostFlashTimeoutSec=: must be an integer 1..86400" },
                { PKGHEAD "[Image bcm]\nEcuId=1\nHardwareId=h\nVersion=1\nFile=missing.bin\n", "[Image bcm] File=" },
                { PKGHEAD IMGHEAD "EncryptKeyFile=desc.ini\n", "[Image bcm] EncryptKeyFile=" },
                { PKGHEAD IMGHEAD "[Image gw]\nEcuId=2\n[Image bcm]\nVersion=2\n", "[Image bcm]: section given twice" },
                { "not an ini line\n", "line 1: not a section" },
        };
        char path[200], out[200];

        (void)snprintf(path, sizeof(path), "%s/bad.ini", P.dir);
        (void)snprintf(out, sizeof(out), "%s/out", P.dir);
        for (size_t i = 0; i < UMC_ELEMENTSOF(rows); i++) {
                char why[512] = "";
                int r;

                write_text(path, rows[i].text, 0644);
                r = umc_pack_create(path, P.ec.cert_path, P.ec.key_path, P.chain, NULL, out, why,
                                    sizeof(why));
                if (r >= 0 || !strstr(why, rows[i].why))
                        fail_msg("row %zu: r=%d why=\"%s\", expected \"%s\"", i, r, why,
                                 rows[i].why);
                assert_no_leftovers();
        }
}

static void test_create_refuses_to_overwrite_and_bad_signers(void **state) {
        char why[512] = "", out[200];

        assert_int_equal(umc_pack_create(desc, P.ec.cert_path, P.ec.key_path, P.chain, NULL, pkg,
                                         why, sizeof(why)), -EEXIST);
        assert_non_null(strstr(why, "exists (refusing to overwrite)"));
        (void)snprintf(out, sizeof(out), "%s/out", P.dir);
        assert_int_equal(umc_pack_create(desc, P.server.cert_path, P.server.key_path, P.chain,
                                         NULL, out, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "no extendedKeyUsage codeSigning"));
        assert_no_leftovers();
}

/* Sealed with gw.key as the class's feature key; verify with the code and key, or refuse. */
static void test_feature_code_create_verify_inspect(void **state) {
        const struct umc_pack_feature fc = { "OPT-A7", key, "x1" };
        _cleanup_free_ char *out = NULL, *err = NULL, *o2 = NULL, *e2 = NULL, *o3 = NULL,
                            *e3 = NULL, *o4 = NULL, *e4 = NULL;
        char fpkg[220], why[512] = "";

        (void)snprintf(fpkg, sizeof(fpkg), "%s/pkg-fc", P.dir);
        assert_int_equal(umc_pack_create(desc, P.ec.cert_path, P.ec.key_path, P.chain, &fc, fpkg,
                                         why, sizeof(why)), 0);
        assert_int_equal(run(&out, &err, "verify", "--trust-anchor", P.anchor, "--feature-code",
                             "OPT-A7", "--feature-key", key, fpkg, NULL), UMC_PACK_EXIT_OK);
        expect_line(out, "feature code: ok: key ID x1, the device's code\n");
        assert_int_equal(run(&o2, &e2, "verify", "--trust-anchor", P.anchor, "--feature-code",
                             "OPT-A8", "--feature-key", key, fpkg, NULL), UMC_PACK_EXIT_REFUSED);
        expect_line(o2, "feature code: REFUSED 0x0715 (package feature code does not match this "
                        "device): package demo 2026.12 2026.12.1 is for another feature code");
        assert_int_equal(run(&o3, &e3, "verify", "--trust-anchor", P.anchor, "--feature-code",
                             "OPT-A7", "--feature-key", wrong_key, fpkg, NULL),
                         UMC_PACK_EXIT_REFUSED);
        expect_line(o3, "does not decrypt and authenticate with this device's feature key");
        assert_int_equal(run(&o4, &e4, "inspect", fpkg, NULL), UMC_PACK_EXIT_OK);
        expect_line(o4, "feature_code: present (sealed, key ID x1;");
        assert_null(strstr(o4, "OPT-A7"));

        /* A code that is not one: named, nothing written. */
        (void)snprintf(fpkg, sizeof(fpkg), "%s/pkg-fc-bad", P.dir);
        const struct umc_pack_feature bad = { "OPT A7", key, NULL };
        assert_int_equal(umc_pack_create(desc, P.ec.cert_path, P.ec.key_path, P.chain, &bad, fpkg,
                                         why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "--feature-code: must be 1..64 printable ASCII"));
        assert_int_equal(access(fpkg, F_OK), -1);
}

static void test_command_line_errors(void **state) {
        static const struct {
                const char *args[6];
                const char *why;
        } rows[] = {
                { { NULL }, "no command" },
                { { "sign" }, "unknown command 'sign'" },
                { { "create", "--output", "x" }, "create needs --description" },
                { { "verify", "x" }, "verify needs --trust-anchor" },
                { { "inspect", "--crl", "c", "x" }, "an option does not belong to this command" },
                { { "verify", "--ecu", "zz,h", "x" }, "--ecu takes ECU_ID,HW_ID" },
                { { "verify", "--time", "now", "x" }, "--time takes YYYY-MM-DDTHH:MM:SSZ" },
                { { "inspect", "a", "b" }, "inspect takes exactly one package directory" },
                { { "verify", "--bogus", "x" }, "unknown option" },
                { { "verify", "--trust-anchor", "a", "--feature-code", "OPT", "x" },
                  "give --feature-code and --feature-key together" },
                { { "inspect", "--feature-code", "OPT", "x" },
                  "an option does not belong to this command" },
                { { "verify", "--feature-key-id", "k", "x" },
                  "an option does not belong to this command" },
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(rows); i++) {
                _cleanup_free_ char *out = NULL, *err = NULL;

                assert_int_equal(run(&out, &err, rows[i].args[0], rows[i].args[1], rows[i].args[2],
                                     rows[i].args[3], rows[i].args[4], rows[i].args[5], NULL),
                                 UMC_PACK_EXIT_USAGE);
                if (!strstr(err, rows[i].why))
                        fail_msg("row %zu: \"%s\" lacks \"%s\"", i, err, rows[i].why);
        }
}

static void test_version_and_help_print_and_exit(void **state) {
        _cleanup_free_ char *out = NULL, *err = NULL, *hout = NULL, *herr = NULL;

        assert_int_equal(run(&out, &err, "--version", NULL), UMC_PACK_EXIT_OK);
        assert_string_equal(out, "umc-pack " UMC_VERSION "\n");
        assert_string_equal(err, "");
        assert_int_equal(run(&hout, &herr, "--help", NULL), UMC_PACK_EXIT_OK);
        expect_line(hout, "umc-pack --help | --version\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_created_package_passes_every_device_check),
                cmocka_unit_test(test_each_check_refuses_with_its_reason),
                cmocka_unit_test(test_tampered_image_is_refused),
                cmocka_unit_test(test_inspect_shows_without_verifying),
                cmocka_unit_test(test_bad_descriptions_are_named_and_leave_nothing),
                cmocka_unit_test(test_create_refuses_to_overwrite_and_bad_signers),
                cmocka_unit_test(test_feature_code_create_verify_inspect),
                cmocka_unit_test(test_command_line_errors),
                cmocka_unit_test(test_version_and_help_print_and_exit),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
