/* SPDX-License-Identifier: MIT */
/*
 * Helpers every unit test may use, written once: include after <cmocka.h>.
 * Header-only, each helper static and _unused_ so a test takes what it needs.
 */
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>

#include "umc/fs.h"
#include "umc/hash.h"
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

/* Create or replace path with len bytes of data and exactly mode (fchmod: no umask); fails the test on error. */
_unused_ static void write_file(const char *path, const void *data, size_t len, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        assert_true(fd >= 0);
        assert_int_equal(fchmod(fd, mode), 0);
        assert_int_equal(umc_fs_write_all(fd, data, len), 0);
        assert_int_equal(close(fd), 0);
}

_unused_ static void write_text(const char *path, const char *text, mode_t mode) {
        write_file(path, text, strlen(text), mode);
}

/* write_file() of dir/name. */
_unused_ static void write_file_in(const char *dir, const char *name, const void *data, size_t len,
                                   mode_t mode) {
        char path[512];

        assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path));
        write_file(path, data, len, mode);
}

_unused_ static void write_text_in(const char *dir, const char *name, const char *text, mode_t mode) {
        write_file_in(dir, name, text, strlen(text), mode);
}

/* Deterministic image bytes that differ per seed (xorshift32), so a mixed-up image shows. */
_unused_ static void fill_image(uint8_t *buf, size_t len, uint32_t seed) {
        uint32_t x = seed * 2654435761u + 1;

        for (size_t i = 0; i < len; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf[i] = (uint8_t)x;
        }
}

/* Write an image's len bytes to fd (at its position) and its SHA-256 into hash. */
_unused_ static void write_image(int fd, const uint8_t *image, size_t len, uint8_t hash[UMC_HASH_LEN]) {
        assert_true(fd >= 0);
        assert_int_equal(umc_fs_write_all(fd, image, len), 0);
        assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, image, len, hash), 0);
}

_unused_ static bool flag_is_set(const void *flag) {
        return *(const bool *)flag;
}

/*
 * Run the loop e until done(userdata), failing the test after limit_usec.
 * sd_event_exit() would end the loop for good (an exited sd_event cannot
 * run again), so the tests iterate.
 */
_unused_ static void run_until_done(sd_event *e, bool (*done)(const void *userdata),
                                    const void *userdata, uint64_t limit_usec) {
        uint64_t limit = umc_now_monotonic_usec() + limit_usec;

        while (!done(userdata)) {
                assert_true(sd_event_run(e, 100 * USEC_PER_MSEC) >= 0);
                if (umc_now_monotonic_usec() > limit)
                        fail_msg("nothing happened within %" PRIu64 " s", limit_usec / USEC_PER_SEC);
        }
}
