/* SPDX-License-Identifier: MIT */
/*
 * Helpers every unit test may use, written once: include after <cmocka.h>.
 * Header-only, each helper static and _unused_ so a test takes what it needs.
 */
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "umc/util.h"

static int test_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

/* Remove the folder dir and everything below it, links not followed; fails the test on error. */
_unused_ static void rm_tree(const char *dir) {
        assert_int_equal(nftw(dir, test_rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* A fresh folder /tmp/umc-test-NAME-XXXXXX, its path into path; returns an O_DIRECTORY fd on it. */
_unused_ static int scratch_dir(const char *name, char *path, size_t size) {
        int fd;

        assert_true((size_t)snprintf(path, size, "/tmp/umc-test-%s-XXXXXX", name) < size);
        assert_non_null(mkdtemp(path));
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        return fd;
}
