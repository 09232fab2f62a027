/* SPDX-License-Identifier: MIT */
/*
 * The download's partial file, on real files in a private directory
 * under /tmp: resume from what a killed run left, cap at the signed size,
 * delete on a wrong hash, commit atomically.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test-helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "umc/hash.h"
#include "umc/partial.h"
#include "umc/util.h"

struct tmp {
        char path[64];
        int fd;
        uint8_t data[300000];
        uint8_t sha[UMC_HASH_LEN];
};

static int setup(void **state) {
        struct tmp *t = calloc(1, sizeof(*t));

        assert_non_null(t);
        t->fd = scratch_dir("partial", t->path, sizeof(t->path));
        for (size_t i = 0; i < sizeof(t->data); i++)
                t->data[i] = (uint8_t)(i * 131 + (i >> 8));
        assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, t->data, sizeof(t->data), t->sha), 0);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        struct tmp *t = *state;

        (void)close(t->fd);
        rm_tree(t->path);
        free(t);
        return 0;
}

static bool exists(int dirfd, const char *name) {
        return faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static void whole_download_commits(void **state) {
        struct tmp *t = *state;
        struct umc_partial p;
        enum umc_reason reason;

        assert_int_equal(umc_partial_open(t->fd, sizeof(t->data), t->sha, &p), 0);
        assert_int_equal(p.have, 0);
        assert_int_equal(umc_partial_write(&p, t->data, 1000), 0);
        assert_int_equal(umc_partial_write(&p, t->data + 1000, sizeof(t->data) - 1000), 0);
        assert_int_equal(umc_partial_finish(&p, "img", &reason), 0);
        assert_int_equal(reason, UMC_REASON_OK);
        assert_true(exists(t->fd, "img"));
        assert_false(exists(t->fd, p.name));
}

static void reopen_resumes_and_hashes_the_prefix(void **state) {
        struct tmp *t = *state;
        struct umc_partial p;
        enum umc_reason reason;

        /* A killed run left 123456 bytes. */
        assert_int_equal(umc_partial_open(t->fd, sizeof(t->data), t->sha, &p), 0);
        assert_int_equal(umc_partial_write(&p, t->data, 123456), 0);
        umc_partial_close(&p);
        assert_int_equal(umc_partial_open(t->fd, sizeof(t->data), t->sha, &p), 0);
        assert_int_equal(p.have, 123456);
        assert_int_equal(umc_partial_write(&p, t->data + 123456, sizeof(t->data) - 123456), 0);
        assert_int_equal(umc_partial_finish(&p, "img", &reason), 0);
        assert_int_equal(reason, UMC_REASON_OK);
}

static void one_byte_past_the_signed_size_is_refused(void **state) {
        struct tmp *t = *state;
        struct umc_partial p;

        assert_int_equal(umc_partial_open(t->fd, 1000, t->sha, &p), 0);
        assert_int_equal(umc_partial_write(&p, t->data, 999), 0);
        assert_int_equal(umc_partial_write(&p, t->data, 2), -EFBIG);
        assert_true(p.overflow);
        assert_int_equal(p.have, 999);
        umc_partial_discard(&p);
        assert_false(exists(t->fd, p.name));
}

static void wrong_hash_deletes_the_partial(void **state) {
        struct tmp *t = *state;
        struct umc_partial p;
        enum umc_reason reason;
        uint8_t bad[300000];

        memcpy(bad, t->data, sizeof(bad));
        bad[777] ^= 1;
        assert_int_equal(umc_partial_open(t->fd, sizeof(bad), t->sha, &p), 0);
        assert_int_equal(umc_partial_write(&p, bad, sizeof(bad)), 0);
        assert_int_equal(umc_partial_finish(&p, "img", &reason), -EBADMSG);
        assert_int_equal(reason, UMC_REASON_IMAGE_HASH_MISMATCH);
        assert_false(exists(t->fd, "img"));
        assert_false(exists(t->fd, p.name));
}

static void short_download_is_a_size_error(void **state) {
        struct tmp *t = *state;
        struct umc_partial p;
        enum umc_reason reason;

        assert_int_equal(umc_partial_open(t->fd, sizeof(t->data), t->sha, &p), 0);
        assert_int_equal(umc_partial_write(&p, t->data, 10), 0);
        assert_int_equal(umc_partial_finish(&p, "img", &reason), -EBADMSG);
        assert_int_equal(reason, UMC_REASON_PKG_IMAGE_SIZE);
        assert_false(exists(t->fd, p.name));
}

static void oversized_leftover_starts_over(void **state) {
        struct tmp *t = *state;
        struct umc_partial p;

        assert_int_equal(umc_partial_open(t->fd, 2000, t->sha, &p), 0);
        umc_partial_close(&p);
        /* Something longer than the signed size under our name: not resumed from. */
        int fd = openat(t->fd, p.name, O_WRONLY);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, t->data, 3000), 3000);
        close(fd);
        assert_int_equal(umc_partial_open(t->fd, 2000, t->sha, &p), 0);
        assert_int_equal(p.have, 0);
        umc_partial_discard(&p);
}

static void restart_after_ignored_range(void **state) {
        struct tmp *t = *state;
        struct umc_partial p;
        enum umc_reason reason;

        assert_int_equal(umc_partial_open(t->fd, sizeof(t->data), t->sha, &p), 0);
        assert_int_equal(umc_partial_write(&p, t->data, 5000), 0);
        assert_int_equal(umc_partial_restart(&p), 0);
        assert_int_equal(p.have, 0);
        assert_int_equal(umc_partial_write(&p, t->data, sizeof(t->data)), 0);
        assert_int_equal(umc_partial_finish(&p, "img", &reason), 0);
}

static void free_space_is_checked(void **state) {
        struct tmp *t = *state;
        struct umc_partial p;

        assert_int_equal(umc_partial_open(t->fd, 1000, t->sha, &p), 0);
        assert_int_equal(umc_partial_check_space(&p, 0), 0);
        assert_int_equal(umc_partial_check_space(&p, UINT64_MAX - 10), -ENOSPC);
        umc_partial_discard(&p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(whole_download_commits, setup, teardown),
                cmocka_unit_test_setup_teardown(reopen_resumes_and_hashes_the_prefix, setup, teardown),
                cmocka_unit_test_setup_teardown(one_byte_past_the_signed_size_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(wrong_hash_deletes_the_partial, setup, teardown),
                cmocka_unit_test_setup_teardown(short_download_is_a_size_error, setup, teardown),
                cmocka_unit_test_setup_teardown(oversized_leftover_starts_over, setup, teardown),
                cmocka_unit_test_setup_teardown(restart_after_ignored_range, setup, teardown),
                cmocka_unit_test_setup_teardown(free_space_is_checked, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
