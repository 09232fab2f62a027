/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "umc/keyfile.h"
#include "umc/util.h"

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

struct fixture {
        char dir[64];
        char path[128];
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/umc-test-keyfile-XXXXXX");
        if (!mkdtemp(f->dir)) {
                free(f);
                return -1;
        }
        *state = f;
        return 0;
}

/* Remove everything the test made: files, links, FIFOs and one level of directories. */
static int teardown(void **state) {
        struct fixture *f = *state;
        DIR *d = opendir(f->dir);
        struct dirent *de;

        if (d) {
                while ((de = readdir(d))) {
                        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                                continue;
                        if (unlinkat(dirfd(d), de->d_name, 0) < 0)
                                (void)unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
                }
                closedir(d);
        }
        (void)rmdir(f->dir);
        free(f);
        return 0;
}

static const char *at(struct fixture *f, const char *name) {
        int n = snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);

        assert_true(n > 0 && (size_t)n < sizeof(f->path));
        return f->path;
}

/* Write content to dir/name with exactly this mode (umask does not apply: fchmod). */
static const char *put(struct fixture *f, const char *name, const char *content, size_t len,
                       mode_t mode) {
        const char *path = at(f, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, len), (ssize_t)len);
        assert_int_equal(fchmod(fd, mode), 0);
        assert_int_equal(close(fd), 0);
        return path;
}

static const char *put_str(struct fixture *f, const char *name, const char *content, mode_t mode) {
        return put(f, name, content, strlen(content), mode);
}

static void expected_key(uint8_t out[UMC_MASTER_KEY_LEN]) {
        for (int i = 0; i < UMC_MASTER_KEY_LEN; i++)
                out[i] = (uint8_t)i;
}

/* Load must fail with r, give a reason, and leave ret untouched. */
static void expect_refused(const char *path, int r) {
        uint8_t key[UMC_MASTER_KEY_LEN];
        char why[UMC_WHY_MAX] = "";

        memset(key, 0xee, sizeof(key));
        assert_int_equal(umc_keyfile_load(path, key, why, sizeof(why)), r);
        assert_true(why[0] != '\0');
        for (size_t i = 0; i < sizeof(key); i++)
                assert_int_equal(key[i], 0xee);
}

static void test_good_key_file_loads_with_or_without_newline(void **state) {
        struct fixture *f = *state;
        uint8_t expect[UMC_MASTER_KEY_LEN], key[UMC_MASTER_KEY_LEN];
        char why[UMC_WHY_MAX] = "";

        expected_key(expect);
        assert_int_equal(umc_keyfile_load(put_str(f, "nl", KEY_HEX "\n", 0600), key, why,
                                          sizeof(why)), 0);
        assert_memory_equal(key, expect, sizeof(key));
        assert_string_equal(why, "");

        memset(key, 0, sizeof(key));
        assert_int_equal(umc_keyfile_load(put_str(f, "bare", KEY_HEX, 0400), key, NULL, 0), 0);
        assert_memory_equal(key, expect, sizeof(key));
}

static void test_upper_case_hex_is_accepted(void **state) {
        struct fixture *f = *state;
        uint8_t key[UMC_MASTER_KEY_LEN];
        char upper[] = KEY_HEX "\n";

        for (char *p = upper; *p; p++)
                if (*p >= 'a' && *p <= 'f')
                        *p = (char)(*p - 'a' + 'A');
        assert_int_equal(umc_keyfile_load(put_str(f, "upper", upper, 0600), key, NULL, 0), 0);
        assert_int_equal(key[10], 0x0a);
        assert_int_equal(key[31], 0x1f);
}

static void test_group_or_other_permission_bits_are_eperm(void **state) {
        static const mode_t modes[] = { 0640, 0604, 0620, 0602, 0610, 0601, 0644, 0660, 0666 };
        struct fixture *f = *state;

        for (size_t i = 0; i < UMC_ELEMENTSOF(modes); i++) {
                char name[16];

                snprintf(name, sizeof(name), "m%o", (unsigned)modes[i]);
                expect_refused(put_str(f, name, KEY_HEX "\n", modes[i]), -EPERM);
        }
}

/*
 * Ownership: a file of another ordinary user is refused. Building one
 * needs chown(2), i.e. root (as in CI's containers); root-owned files are
 * accepted, which only root can set up as well.
 */
static void test_file_owned_by_another_user_is_eperm(void **state) {
        struct fixture *f = *state;
        uint8_t key[UMC_MASTER_KEY_LEN];
        const char *path = put_str(f, "owner", KEY_HEX, 0600);

        if (geteuid() != 0) {
                /* Giving a file away needs root: say so rather than pass without checking. */
                skip();
        }
        assert_int_equal(chown(path, 4242, 4242), 0);
        expect_refused(path, -EPERM);
        assert_int_equal(chown(path, 0, 0), 0);
        assert_int_equal(umc_keyfile_load(path, key, NULL, 0), 0);
}

static void test_malformed_contents_are_einval(void **state) {
        static const char *const bad[] = {
                "",
                "\n",
                /* 63 and 65 digits */
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",
                KEY_HEX "0",
                /* a non-hex digit */
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
                "0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                KEY_HEX "\n\n",
                KEY_HEX "\r\n",
                KEY_HEX " ",
                " " KEY_HEX,
                "\n" KEY_HEX,
        };
        struct fixture *f = *state;

        for (size_t i = 0; i < UMC_ELEMENTSOF(bad); i++) {
                char name[16];

                snprintf(name, sizeof(name), "bad%zu", i);
                expect_refused(put_str(f, name, bad[i], 0600), -EINVAL);
        }
        /* A NUL inside: the length is right, the content is not. */
        char nul[] = KEY_HEX;
        nul[20] = '\0';
        expect_refused(put(f, "nul", nul, 64, 0600), -EINVAL);
}

static void test_file_larger_than_128_bytes_is_efbig(void **state) {
        struct fixture *f = *state;
        char big[129];

        memset(big, '0', sizeof(big));
        expect_refused(put(f, "big", big, sizeof(big), 0600), -EFBIG);
        /* 128 bytes is not too big, merely not a key. */
        expect_refused(put(f, "128", big, 128, 0600), -EINVAL);
}

static void test_missing_file_is_enoent(void **state) {
        struct fixture *f = *state;

        expect_refused(at(f, "does-not-exist"), -ENOENT);
}

static void test_directory_is_enotsup(void **state) {
        struct fixture *f = *state;
        const char *path = at(f, "subdir");

        assert_int_equal(mkdir(path, 0700), 0);
        expect_refused(path, -ENOTSUP);
}

static void test_fifo_is_enotsup_without_blocking(void **state) {
        struct fixture *f = *state;
        const char *path = at(f, "fifo");

        /* With no writer, a blocking open would hang here forever. */
        assert_int_equal(mkfifo(path, 0600), 0);
        expect_refused(path, -ENOTSUP);
}

static void test_symlink_is_refused_with_eloop(void **state) {
        struct fixture *f = *state;
        char target[128];

        snprintf(target, sizeof(target), "%s", put_str(f, "real", KEY_HEX "\n", 0600));
        assert_int_equal(symlink(target, at(f, "link")), 0);
        /* O_NOFOLLOW: the link itself is refused, even though its target is a good key. */
        expect_refused(at(f, "link"), -ELOOP);
}

static void test_null_arguments_are_einval(void **state) {
        uint8_t key[UMC_MASTER_KEY_LEN];

        assert_int_equal(umc_keyfile_load(NULL, key, NULL, 0), -EINVAL);
        assert_int_equal(umc_keyfile_load("/nonexistent", NULL, NULL, 0), -EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_good_key_file_loads_with_or_without_newline),
                T(test_upper_case_hex_is_accepted),
                T(test_group_or_other_permission_bits_are_eperm),
                T(test_file_owned_by_another_user_is_eperm),
                T(test_malformed_contents_are_einval),
                T(test_file_larger_than_128_bytes_is_efbig),
                T(test_missing_file_is_enoent),
                T(test_directory_is_enotsup),
                T(test_fifo_is_enotsup_without_blocking),
                T(test_symlink_is_refused_with_eloop),
                cmocka_unit_test(test_null_arguments_are_einval),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
