/* SPDX-License-Identifier: MIT */
/*
 * The report queue, on real files in a private directory under /tmp:
 * oldest first, kept until removed, the oldest dropped beyond the cap.
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

#include "umc/cloudq.h"
#include "umc/util.h"

struct tmp {
        char path[64];
        int fd;
};

static int setup(void **state) {
        struct tmp *t = calloc(1, sizeof(*t));

        assert_non_null(t);
        t->fd = scratch_dir("cloudq", t->path, sizeof(t->path));
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

static void queue_is_oldest_first_and_durable(void **state) {
        struct tmp *t = *state;
        char name[UMC_CLOUDQ_NAME_MAX], *body = NULL;
        size_t len;

        assert_int_equal(umc_cloudq_peek(t->fd, name, &body, &len), -ENOENT);
        assert_int_equal(umc_cloudq_push(t->fd, "first", 5, NULL), 0);
        assert_int_equal(umc_cloudq_push(t->fd, "second", 6, NULL), 0);
        assert_int_equal(umc_cloudq_count(t->fd), 2);
        assert_int_equal(umc_cloudq_peek(t->fd, name, &body, &len), 0);
        assert_string_equal(body, "first");
        free(body);
        /* Not removed until the backend accepted it: peek again gives the same. */
        assert_int_equal(umc_cloudq_peek(t->fd, name, &body, &len), 0);
        assert_string_equal(body, "first");
        free(body);
        assert_int_equal(umc_cloudq_remove(t->fd, name), 0);
        assert_int_equal(umc_cloudq_peek(t->fd, name, &body, &len), 0);
        assert_string_equal(body, "second");
        free(body);
        assert_int_equal(umc_cloudq_remove(t->fd, "../x"), -EINVAL);
        assert_int_equal(umc_cloudq_push(t->fd, "", 0, NULL), -EINVAL);
}

static void queue_drops_the_oldest_beyond_its_cap(void **state) {
        struct tmp *t = *state;
        char name[UMC_CLOUDQ_NAME_MAX], *body = NULL, b[16];
        unsigned dropped = 0;
        size_t len;

        for (int i = 0; i < UMC_CLOUDQ_MAX; i++) {
                snprintf(b, sizeof(b), "r%d", i);
                assert_int_equal(umc_cloudq_push(t->fd, b, strlen(b), &dropped), 0);
                assert_int_equal(dropped, 0);
        }
        assert_int_equal(umc_cloudq_push(t->fd, "new", 3, &dropped), 0);
        assert_int_equal(dropped, 1);
        assert_int_equal(umc_cloudq_count(t->fd), UMC_CLOUDQ_MAX);
        assert_int_equal(umc_cloudq_peek(t->fd, name, &body, &len), 0);
        assert_string_equal(body, "r1");
        free(body);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(queue_is_oldest_first_and_durable, setup, teardown),
                cmocka_unit_test_setup_teardown(queue_drops_the_oldest_beyond_its_cap, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
