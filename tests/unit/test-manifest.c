/* SPDX-License-Identifier: MIT */
/* Package manifest: strict parsing, every defect named. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "umc/manifest.h"
#include "umc/util.h"

#define SHA "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static const char good[] =
        "{\"format\":1,\"name\":\"demo 2026.11\",\"images\":["
        "{\"target\":\"bcm\",\"version\":\"1.2.3\",\"file\":\"bcm.bin\",\"size\":1048576,\"sha256\":\"" SHA "\"},"
        "{\"target\":\"gw-2\",\"version\":\"7\",\"file\":\"gw_2.img\",\"size\":1,\"sha256\":\"" SHA "\"}]}";

static void test_valid_manifest_fills_every_field(void **state) {
        struct umc_manifest m;
        uint8_t sha[32], h[32];

        assert_int_equal(umc_manifest_parse(good, strlen(good), &m, NULL, 0), 0);
        assert_string_equal(m.name, "demo 2026.11");
        assert_int_equal(m.n_images, 2);
        assert_string_equal(m.images[0].target, "bcm");
        assert_string_equal(m.images[0].version, "1.2.3");
        assert_string_equal(m.images[0].file, "bcm.bin");
        assert_int_equal(m.images[0].size, 1048576);
        assert_int_equal(umc_hex_decode(SHA, 64, sha, 32), 0);
        assert_memory_equal(m.images[1].sha256, sha, 32);
        assert_non_null(umc_manifest_find(&m, "gw-2"));
        assert_null(umc_manifest_find(&m, "gw"));
        /* The manifest hash is the SHA-256 of its exact bytes. */
        assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, good, strlen(good), h), 0);
        assert_memory_equal(m.hash, h, 32);
        umc_manifest_free(&m);
}

struct bad_row {
        const char *json;
        const char *why; /* expected prefix of the message */
};

#define IMG(fields) "{\"format\":1,\"name\":\"n\",\"images\":[{" fields "}]}"
#define OKIMG "\"target\":\"bcm\",\"version\":\"1\",\"file\":\"a.bin\",\"size\":5,\"sha256\":\"" SHA "\""

static const struct bad_row bad_rows[] = {
        { "{", "not valid JSON" },
        { "[]", "top level must be an object" },
        { "{\"format\":2,\"name\":\"n\",\"images\":[]}", "format 2 is not supported" },
        { "{\"format\":1,\"format\":1,\"name\":\"n\",\"images\":[]}", "unknown or repeated key \"format\"" },
        { "{\"format\":1,\"name\":\"n\",\"images\":[],\"extra\":1}", "unknown or repeated key \"extra\"" },
        { "{\"format\":1,\"images\":[]}", "manifest: \"name\" is missing" },
        { "{\"format\":1,\"name\":\"n\"}", "\"images\" is missing" },
        { "{\"format\":1,\"name\":\"n\",\"images\":[]}", "\"images\" must hold 1..256 entries" },
        { "{\"format\":1.5,\"name\":\"n\",\"images\":[]}", "manifest: \"format\" must be an integer" },
        { IMG(OKIMG ",\"x\":1"), "images[0]: unknown or repeated key \"x\"" },
        { IMG("\"target\":\"b/c\",\"version\":\"1\",\"file\":\"a\",\"size\":5,\"sha256\":\"" SHA "\""), "images[0]: target must be" },
        { IMG("\"target\":\"bcm\",\"version\":\"1 2\",\"file\":\"a\",\"size\":5,\"sha256\":\"" SHA "\""), "images[0]: version must be" },
        { IMG("\"target\":\"bcm\",\"version\":\"1\",\"file\":\"../etc/passwd\",\"size\":5,\"sha256\":\"" SHA "\""), "images[0]: file must be a plain name" },
        { IMG("\"target\":\"bcm\",\"version\":\"1\",\"file\":\"a/b\",\"size\":5,\"sha256\":\"" SHA "\""), "images[0]: file must be a plain name" },
        { IMG("\"target\":\"bcm\",\"version\":\"1\",\"file\":\".hidden\",\"size\":5,\"sha256\":\"" SHA "\""), "images[0]: file must be a plain name" },
        { IMG("\"target\":\"bcm\",\"version\":\"1\",\"file\":\"a\",\"size\":-1,\"sha256\":\"" SHA "\""), "images[0]: \"size\" must be an integer" },
        { IMG("\"target\":\"bcm\",\"version\":\"1\",\"file\":\"a\",\"size\":0,\"sha256\":\"" SHA "\""), "images[0]: size must not be 0" },
        { IMG("\"target\":\"bcm\",\"version\":\"1\",\"file\":\"a\",\"size\":\"5\",\"sha256\":\"" SHA "\""), "images[0]: \"size\" must be a number" },
        { IMG("\"target\":\"bcm\",\"version\":\"1\",\"file\":\"a\",\"size\":5,\"sha256\":\"abc\""), "images[0]: sha256 must be 64 hex digits" },
        { IMG("\"target\":\"bcm\",\"version\":\"1\",\"file\":\"a\",\"size\":5"), "images[0]: \"sha256\" is missing" },
        { "{\"format\":1,\"name\":\"n\",\"images\":[{" OKIMG "},{" OKIMG "}]}", "images[1]: target \"bcm\" listed twice" },
};

static void test_each_defect_is_refused_with_its_name(void **state) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(bad_rows); i++) {
                struct umc_manifest m = {};
                char why[256] = "";
                int r = umc_manifest_parse(bad_rows[i].json, strlen(bad_rows[i].json), &m, why,
                                           sizeof(why));
                if (r != -EINVAL || strncmp(why, bad_rows[i].why, strlen(bad_rows[i].why)) != 0)
                        fail_msg("row %zu: r=%d why=\"%s\", expected \"%s\"", i, r, why,
                                 bad_rows[i].why);
                assert_null(m.images);
        }
}

static int parse_n(const char *json, size_t len, char *why, size_t why_size) {
        struct umc_manifest m = {};
        int r = umc_manifest_parse(json, len, &m, why, why_size);

        if (r == 0)
                umc_manifest_free(&m);
        else
                assert_null(m.images);
        return r;
}

static int parse_with(const char *prefix, const char *suffix, char *why, size_t why_size) {
        char buf[1024];
        int n = snprintf(buf, sizeof(buf), "%s%s%s", prefix, good, suffix);

        assert_true(n > 0 && (size_t)n < sizeof(buf));
        return parse_n(buf, (size_t)n, why, why_size);
}

static void assert_why_at(const char *why, const char *what, size_t at) {
        char want[128];

        (void)snprintf(want, sizeof(want), "%s at byte %zu", what, at);
        assert_string_equal(why, want);
}

/* Two readers must see one manifest: nothing may hide after it or inside a string. */
static void test_only_whitespace_may_follow_the_document(void **state) {
        static const char evil[] = "{\"format\":1,\"name\":\"EVIL\",\"images\":[]}";
        const size_t end = strlen(good);
        char why[256] = "", buf[1024];
        int n;

        assert_int_equal(parse_with(" \t\r\n", " \n\t\r  ", why, sizeof(why)), 0);
        assert_int_equal(parse_with("", evil, why, sizeof(why)), -EINVAL);
        assert_why_at(why, "data after the JSON document", end);
        assert_int_equal(parse_with("", " junk", why, sizeof(why)), -EINVAL);
        assert_why_at(why, "data after the JSON document", end);
        assert_int_equal(parse_with("", "\n]", why, sizeof(why)), -EINVAL);
        /* cJSON would skip these as whitespace; RFC 8259 does not. */
        assert_int_equal(parse_with("\x01", "", why, sizeof(why)), -EINVAL);
        assert_why_at(why, "control character", 0);
        assert_int_equal(parse_with("", "\f", why, sizeof(why)), -EINVAL);
        assert_why_at(why, "control character", end);
        /* A NUL would end the text for a C reader only. */
        n = snprintf(buf, sizeof(buf), "%s", good);
        buf[n] = '\0';
        assert_int_equal(parse_n(buf, (size_t)n + 1, why, sizeof(why)), -EINVAL);
        assert_why_at(why, "control character", end);
}

#define U0000_TARGET IMG("\"target\":\"bcm\\u0000x\",\"version\":\"1\",\"file\":\"a\",\"size\":5,\"sha256\":\"" SHA "\"")
#define ESCAPED_BACKSLASH IMG("\"target\":\"bcm\",\"version\":\"1\\\\u0000\",\"file\":\"a\",\"size\":5,\"sha256\":\"" SHA "\"")

static void test_u0000_in_a_string_is_refused(void **state) {
        char why[256] = "";

        /* cJSON's "bcm\u0000x" is the C string "bcm": another reader sees "bcm\0x". */
        assert_int_equal(parse_n(U0000_TARGET, strlen(U0000_TARGET), why, sizeof(why)), -EINVAL);
        assert_why_at(why, "\\u0000 in a string", strlen("{\"format\":1,\"name\":\"n\",\"images\":[{\"target\":\"bcm"));
        /* An escaped backslash before "u0000" is two characters, not an escape. */
        assert_int_equal(parse_n(ESCAPED_BACKSLASH, strlen(ESCAPED_BACKSLASH), why, sizeof(why)), 0);
}

static void test_oversized_manifest_is_refused(void **state) {
        size_t n = UMC_MANIFEST_MAX_BYTES + 1;
        char *big = malloc(n);
        struct umc_manifest m;

        assert_non_null(big);
        memset(big, ' ', n);
        assert_int_equal(umc_manifest_parse(big, n, &m, NULL, 0), -E2BIG);
        free(big);
}

static void test_load_reads_manifest_json_from_a_package_dir(void **state) {
        char dir[] = "/tmp/umc-test-manifest-XXXXXX", path[64];
        struct umc_manifest m;
        FILE *f;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(umc_manifest_load(dir, &m, NULL, 0), -ENOENT);
        (void)snprintf(path, sizeof(path), "%s/manifest.json", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(good, f);
        fclose(f);
        assert_int_equal(umc_manifest_load(dir, &m, NULL, 0), 0);
        assert_int_equal(m.n_images, 2);
        umc_manifest_free(&m);
        umc_manifest_free(NULL);
        unlink(path);
        rmdir(dir);
}

static void test_fifo_manifest_does_not_block(void **state) {
        char dir[] = "/tmp/umc-test-manifest-XXXXXX", path[64];
        struct umc_manifest m;
        char why[128] = "";

        assert_non_null(mkdtemp(dir));
        (void)snprintf(path, sizeof(path), "%s/manifest.json", dir);
        assert_int_equal(mkfifo(path, 0600), 0);
        /* Without O_NONBLOCK this open would wait for a writer forever. */
        assert_int_equal(umc_manifest_load(dir, &m, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "manifest.json is not a regular file");
        unlink(path);
        rmdir(dir);
}

static void make_sized(int dfd, const char *name, off_t size) {
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, size), 0);
        close(fd);
}

/* The good manifest's two images: bcm.bin (1 MiB) and gw_2.img (1 byte). */
static void test_check_files_names_each_defect_of_an_image(void **state) {
        char dir[] = "/tmp/umc-test-manifest-XXXXXX", why[256] = "";
        struct umc_manifest m;
        int dfd;

        assert_non_null(mkdtemp(dir));
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(umc_manifest_parse(good, strlen(good), &m, NULL, 0), 0);

        assert_int_equal(umc_manifest_check_files(dfd, &m, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "bcm.bin (target bcm): missing from the package");
        make_sized(dfd, "bcm.bin", 1048576);
        assert_int_equal(umc_manifest_check_files(dfd, &m, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "gw_2.img (target gw-2): missing from the package");
        make_sized(dfd, "gw_2.img", 2);
        assert_int_equal(umc_manifest_check_files(dfd, &m, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "gw_2.img (target gw-2): 2 bytes, the manifest says 1");
        assert_int_equal(unlinkat(dfd, "gw_2.img", 0), 0);
        assert_int_equal(mkdirat(dfd, "gw_2.img", 0700), 0);
        assert_int_equal(umc_manifest_check_files(dfd, &m, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "gw_2.img (target gw-2): not a regular file");
        assert_int_equal(unlinkat(dfd, "gw_2.img", AT_REMOVEDIR), 0);
        make_sized(dfd, "real.img", 1);
        assert_int_equal(symlinkat("real.img", dfd, "gw_2.img"), 0);
        assert_int_equal(umc_manifest_check_files(dfd, &m, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "gw_2.img (target gw-2): " UMC_MANIFEST_LINK_REFUSED);
        assert_int_equal(unlinkat(dfd, "gw_2.img", 0), 0);
        assert_int_equal(renameat(dfd, "real.img", dfd, "gw_2.img"), 0);
        assert_int_equal(umc_manifest_check_files(dfd, &m, why, sizeof(why)), 0);

        umc_manifest_free(&m);
        (void)unlinkat(dfd, "bcm.bin", 0);
        (void)unlinkat(dfd, "gw_2.img", 0);
        close(dfd);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_manifest_fills_every_field),
                cmocka_unit_test(test_each_defect_is_refused_with_its_name),
                cmocka_unit_test(test_only_whitespace_may_follow_the_document),
                cmocka_unit_test(test_u0000_in_a_string_is_refused),
                cmocka_unit_test(test_oversized_manifest_is_refused),
                cmocka_unit_test(test_load_reads_manifest_json_from_a_package_dir),
                cmocka_unit_test(test_check_files_names_each_defect_of_an_image),
                cmocka_unit_test(test_fifo_manifest_does_not_block),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
