/* SPDX-License-Identifier: MIT */
/*
 * A/B slot store on real files: transfers, checkpoints, resume after a
 * "crash" (close without commit), activation, rollback and damaged state.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test-helpers.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "umc/fs.h"
#include "umc/slot.h"
#include "umc/util.h"

#define IMAGE_LEN 10000
#define CHUNK 1024

struct fixture {
        char root[64];  /* mkdtemp directory */
        char store[96]; /* root/store: created by umc_slots_open() */
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        strcpy(f->root, "/tmp/umc-test-slot-XXXXXX");
        assert_non_null(mkdtemp(f->root));
        snprintf(f->store, sizeof(f->store), "%s/store", f->root);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        rm_tree(f->root);
        free(f);
        return 0;
}

static void image_fill(uint8_t *buf, size_t len, uint8_t seed) {
        for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)(seed + i * 31 + (i >> 8));
}

static void id_fill(uint8_t id[UMC_SLOT_IMAGE_ID_SIZE], uint8_t seed) {
        memset(id, seed, UMC_SLOT_IMAGE_ID_SIZE);
}

static struct umc_slots *store_open(const struct fixture *f, unsigned *ret_flags) {
        struct umc_slots *s = NULL;
        unsigned flags = 0xdead;

        assert_int_equal(umc_slots_open(f->store, &s, &flags), 0);
        assert_non_null(s);
        if (ret_flags)
                *ret_flags = flags;
        else
                assert_int_equal(flags, 0);
        return s;
}

/* Open a directory below the store ("." for the store itself). */
static int sub_open(const struct fixture *f, const char *sub) {
        char path[160];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", f->store, sub);
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        return fd;
}

/* Content of store/sub/name, or NULL with errno set. */
static char *slurp(const struct fixture *f, const char *sub, const char *name, size_t *ret_len) {
        _cleanup_close_ int fd = sub_open(f, sub);
        char *text = NULL;
        int r;

        r = umc_fs_read_file(fd, name, 1 << 20, &text, ret_len);
        if (r < 0) {
                errno = -r;
                return NULL;
        }
        return text;
}

static void put(const struct fixture *f, const char *sub, const char *name, const char *content) {
        _cleanup_close_ int fd = sub_open(f, sub);

        assert_int_equal(umc_fs_write_atomic(fd, name, content, strlen(content), 0600), 0);
}

static bool exists(const struct fixture *f, const char *sub, const char *name) {
        _cleanup_close_ int fd = sub_open(f, sub);
        struct stat st;

        return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void assert_file(const struct fixture *f, const char *sub, const char *name, const void *want,
                        size_t want_len) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;

        text = slurp(f, sub, name, &len);
        assert_non_null(text);
        assert_int_equal(len, want_len);
        assert_memory_equal(text, want, want_len);
}

static void assert_active(struct umc_slots *s, char want_slot, const char *want_version) {
        const char *version = (const char *)1;
        char slot = 0;

        assert_int_equal(umc_slots_active(s, &slot, &version), 0);
        assert_int_equal(slot, want_slot);
        if (want_version)
                assert_string_equal(version, want_version);
        else
                assert_null(version);
}

/* Write image[from, to) in CHUNK pieces, checkpointing after each. */
static void send_range(struct umc_slots *s, const uint8_t *image, size_t from, size_t to) {
        for (size_t off = from; off < to; off += CHUNK) {
                size_t n = to - off < CHUNK ? to - off : CHUNK;

                assert_int_equal(umc_slots_write(s, off, image + off, n), 0);
                assert_int_equal(umc_slots_checkpoint(s), 0);
        }
}

/* A whole transfer, committed and activated. */
static void install(struct umc_slots *s, uint8_t seed, const char *version, uint8_t *image) {
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];
        uint64_t resume = 1;

        image_fill(image, IMAGE_LEN, seed);
        id_fill(id, seed);
        assert_int_equal(umc_slots_begin(s, id, version, IMAGE_LEN, &resume), 0);
        assert_int_equal(resume, 0);
        send_range(s, image, 0, IMAGE_LEN);
        assert_int_equal(umc_slots_commit(s), 0);
        assert_int_equal(umc_slots_activate(s), 0);
}

static void test_fresh_store_is_slot_a_and_empty(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        struct stat st;
        char path[160];

        assert_active(s, 'a', NULL);
        assert_int_equal(umc_slots_previous(s, NULL, NULL), -ENOENT);
        assert_int_equal(umc_slots_partial_fd(s), -ENOENT);
        assert_false(exists(f, ".", "active"));
        snprintf(path, sizeof(path), "%s/incoming", f->store);
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 0077, 0);
}

static void test_transfers_alternate_slots_and_keep_previous(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        static uint8_t img1[IMAGE_LEN], img2[IMAGE_LEN], img3[IMAGE_LEN];
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];
        const char *version = NULL;
        uint64_t resume;
        struct stat st;
        char slot = 0;

        install(s, 1, "1.0.0", img1);
        assert_active(s, 'b', "1.0.0");
        /* The factory slot was empty: nothing to roll back to. */
        assert_int_equal(umc_slots_previous(s, NULL, NULL), -ENOENT);
        assert_false(exists(f, ".", "previous"));
        assert_file(f, ".", "active", "b\n", 2);
        assert_file(f, "b", "image", img1, IMAGE_LEN);
        assert_file(f, "b", "version", "1.0.0\n", 6);
        assert_false(exists(f, "incoming", "progress"));
        assert_false(exists(f, "incoming", "image.part"));

        install(s, 2, "2.0.0", img2);
        assert_active(s, 'a', "2.0.0");
        assert_int_equal(umc_slots_previous(s, &slot, &version), 0);
        assert_int_equal(slot, 'b');
        assert_string_equal(version, "1.0.0");
        assert_file(f, "a", "image", img2, IMAGE_LEN);
        assert_file(f, "b", "image", img1, IMAGE_LEN);
        assert_file(f, ".", "previous", "b\n", 2);

        /* Committing over slot b drops the record that pointed at it. */
        image_fill(img3, IMAGE_LEN, 3);
        id_fill(id, 3);
        assert_int_equal(umc_slots_begin(s, id, "3.0.0", IMAGE_LEN, &resume), 0);
        send_range(s, img3, 0, IMAGE_LEN);
        assert_int_equal(umc_slots_commit(s), 0);
        assert_int_equal(umc_slots_previous(s, NULL, NULL), -ENOENT);
        assert_false(exists(f, ".", "previous"));
        assert_active(s, 'a', "2.0.0");
        assert_int_equal(umc_slots_activate(s), 0);
        assert_active(s, 'b', "3.0.0");
        assert_int_equal(umc_slots_previous(s, &slot, &version), 0);
        assert_int_equal(slot, 'a');
        assert_string_equal(version, "2.0.0");
        assert_file(f, "b", "image", img3, IMAGE_LEN);
        assert_file(f, "a", "image", img2, IMAGE_LEN);

        /* State files are private. */
        assert_int_equal(stat(f->store, &st), 0);
        assert_int_equal(st.st_mode & 0077, 0);
        umc_slots_close(TAKE_PTR(s));

        /* And it all survives a reopen. */
        s = store_open(f, NULL);
        assert_active(s, 'b', "3.0.0");
        assert_int_equal(umc_slots_previous(s, &slot, NULL), 0);
        assert_int_equal(slot, 'a');
}

static void test_commit_does_not_switch_active(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        static uint8_t img[IMAGE_LEN];
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];
        uint64_t resume;

        image_fill(img, IMAGE_LEN, 7);
        id_fill(id, 7);
        assert_int_equal(umc_slots_begin(s, id, "7", IMAGE_LEN, &resume), 0);
        send_range(s, img, 0, IMAGE_LEN);
        assert_int_equal(umc_slots_commit(s), 0);
        assert_active(s, 'a', NULL);
        assert_false(exists(f, ".", "active"));
        assert_file(f, "b", "version", "7\n", 2);
        assert_int_equal(umc_slots_partial_fd(s), -ENOENT);
        assert_int_equal(umc_slots_commit(s), -ENOENT);
}

static void test_abort_leaves_active_and_version_byte_identical(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        static uint8_t img1[IMAGE_LEN], img2[IMAGE_LEN];
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];
        uint64_t resume;

        install(s, 1, "1.0.0", img1);
        image_fill(img2, IMAGE_LEN, 2);
        id_fill(id, 2);
        assert_int_equal(umc_slots_begin(s, id, "2.0.0", IMAGE_LEN, &resume), 0);
        send_range(s, img2, 0, IMAGE_LEN / 2);
        assert_true(exists(f, "incoming", "image.part"));
        assert_int_equal(umc_slots_abort(s), 0);

        assert_active(s, 'b', "1.0.0");
        assert_file(f, ".", "active", "b\n", 2);
        assert_file(f, "b", "version", "1.0.0\n", 6);
        assert_file(f, "b", "image", img1, IMAGE_LEN);
        assert_false(exists(f, "a", "version"));
        assert_false(exists(f, "incoming", "progress"));
        assert_false(exists(f, "incoming", "image.part"));
        assert_int_equal(umc_slots_write(s, IMAGE_LEN / 2, img2, 1), -ENOENT);
        assert_int_equal(umc_slots_abort(s), 0);
        umc_slots_close(TAKE_PTR(s));

        /* The aborted transfer does not come back. */
        s = store_open(f, NULL);
        assert_int_equal(umc_slots_begin(s, id, "2.0.0", IMAGE_LEN, &resume), 0);
        assert_int_equal(resume, 0);
}

/* Bytes written but not checkpointed. */
static void write_unsynced(struct umc_slots *s, const uint8_t *image, size_t from, size_t to) {
        for (size_t off = from; off < to; off += CHUNK)
                assert_int_equal(umc_slots_write(s, off, image + off, CHUNK), 0);
}

static void test_rewind_cuts_back_to_the_checkpoint_and_keeps_progress(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        static uint8_t img[IMAGE_LEN];
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];
        _cleanup_free_ char *progress = NULL;
        uint64_t resume;
        struct stat st;
        size_t len;

        assert_int_equal(umc_slots_rewind(s), -ENOENT); /* nothing in progress */
        image_fill(img, IMAGE_LEN, 9);
        id_fill(id, 9);
        assert_int_equal(umc_slots_begin(s, id, "9.0", IMAGE_LEN, &resume), 0);
        send_range(s, img, 0, 3 * CHUNK);
        assert_int_equal(umc_slots_checkpoint(s), 0);
        progress = slurp(f, "incoming", "progress", &len);
        write_unsynced(s, img, 3 * CHUNK, 5 * CHUNK);

        assert_int_equal(umc_slots_rewind(s), 0);
        assert_int_equal(fstat(umc_slots_partial_fd(s), &st), 0);
        assert_int_equal(st.st_size, 3 * CHUNK);
        assert_file(f, "incoming", "progress", progress, len); /* untouched */
        assert_file(f, "incoming", "image.part", img, 3 * CHUNK);
        /* The next write goes at the checkpoint; anything else is a gap. */
        assert_int_equal(umc_slots_write(s, 5 * CHUNK, img + 5 * CHUNK, CHUNK), -EINVAL);
        send_range(s, img, 3 * CHUNK, IMAGE_LEN);
        assert_int_equal(umc_slots_commit(s), 0);
        assert_file(f, "b", "image", img, IMAGE_LEN);
        umc_slots_close(TAKE_PTR(s));

        /* After a rewind and close, the next begin resumes at the same point. */
        s = store_open(f, NULL);
        id_fill(id, 10);
        assert_int_equal(umc_slots_begin(s, id, "10.0", IMAGE_LEN, &resume), 0);
        send_range(s, img, 0, 2 * CHUNK);
        assert_int_equal(umc_slots_checkpoint(s), 0);
        write_unsynced(s, img, 2 * CHUNK, 4 * CHUNK);
        assert_int_equal(umc_slots_rewind(s), 0);
        umc_slots_close(TAKE_PTR(s));
        s = store_open(f, NULL);
        assert_int_equal(umc_slots_begin(s, id, "10.0", IMAGE_LEN, &resume), 0);
        assert_int_equal(resume, 2 * CHUNK);
}

static void test_resume_after_crash_returns_checkpoint_and_truncates(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        static uint8_t img[IMAGE_LEN], back[IMAGE_LEN];
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];
        uint64_t resume = 1;
        struct stat st;
        int fd;

        image_fill(img, IMAGE_LEN, 9);
        id_fill(id, 9);
        assert_int_equal(umc_slots_begin(s, id, "9.1", IMAGE_LEN, &resume), 0);
        assert_int_equal(resume, 0);
        assert_int_equal(umc_slots_write(s, 0, img, 4000), 0);
        assert_int_equal(umc_slots_checkpoint(s), 0);
        assert_int_equal(umc_slots_write(s, 4000, img + 4000, 1000), 0); /* never checkpointed */
        umc_slots_close(TAKE_PTR(s));                                       /* "crash" */

        s = store_open(f, NULL);
        assert_int_equal(umc_slots_begin(s, id, "9.1", IMAGE_LEN, &resume), 0);
        assert_int_equal(resume, 4000);
        fd = umc_slots_partial_fd(s);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_size, 4000);
        assert_int_equal(pread(fd, back, 4000, 0), 4000);
        assert_memory_equal(back, img, 4000);

        /* The un-checkpointed chunk must be sent again, from 4000. */
        assert_int_equal(umc_slots_write(s, 5000, img + 5000, 10), -EINVAL);
        send_range(s, img, 4000, IMAGE_LEN);
        assert_int_equal(umc_slots_commit(s), 0);
        assert_int_equal(umc_slots_activate(s), 0);
        assert_active(s, 'b', "9.1");
        assert_file(f, "b", "image", img, IMAGE_LEN);
}

static void test_begin_twice_resumes_at_checkpoint(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        static uint8_t img[IMAGE_LEN];
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];
        uint64_t resume = 1;

        image_fill(img, IMAGE_LEN, 4);
        id_fill(id, 4);
        assert_int_equal(umc_slots_begin(s, id, "4", IMAGE_LEN, &resume), 0);
        send_range(s, img, 0, 2 * CHUNK);
        assert_int_equal(umc_slots_write(s, 2 * CHUNK, img + 2 * CHUNK, 10), 0);
        assert_int_equal(umc_slots_begin(s, id, "4", IMAGE_LEN, &resume), 0);
        assert_int_equal(resume, 2 * CHUNK);
}

static void test_begin_with_other_id_version_or_length_starts_over(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        static uint8_t img[IMAGE_LEN];
        uint8_t id1[UMC_SLOT_IMAGE_ID_SIZE], id2[UMC_SLOT_IMAGE_ID_SIZE];
        uint64_t resume = 1;
        struct stat st;

        image_fill(img, IMAGE_LEN, 5);
        id_fill(id1, 5);
        id_fill(id2, 6);
        assert_int_equal(umc_slots_begin(s, id1, "5", IMAGE_LEN, &resume), 0);
        send_range(s, img, 0, 3 * CHUNK);
        umc_slots_close(TAKE_PTR(s));

        /* Different image id. */
        s = store_open(f, NULL);
        assert_int_equal(umc_slots_begin(s, id2, "5", IMAGE_LEN, &resume), 0);
        assert_int_equal(resume, 0);
        assert_int_equal(fstat(umc_slots_partial_fd(s), &st), 0);
        assert_int_equal(st.st_size, 0);
        send_range(s, img, 0, 3 * CHUNK);
        umc_slots_close(TAKE_PTR(s));

        /* Same id, different length. */
        s = store_open(f, NULL);
        resume = 1;
        assert_int_equal(umc_slots_begin(s, id2, "5", IMAGE_LEN - 1, &resume), 0);
        assert_int_equal(resume, 0);
        send_range(s, img, 0, 3 * CHUNK);
        umc_slots_close(TAKE_PTR(s));

        /* Same id and length, different version. */
        s = store_open(f, NULL);
        resume = 1;
        assert_int_equal(umc_slots_begin(s, id2, "5b", IMAGE_LEN - 1, &resume), 0);
        assert_int_equal(resume, 0);
        assert_int_equal(fstat(umc_slots_partial_fd(s), &st), 0);
        assert_int_equal(st.st_size, 0);
        assert_active(s, 'a', NULL);
}

static void test_write_with_gap_rewrite_or_past_end_is_refused(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        static uint8_t img[IMAGE_LEN];
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];
        uint64_t resume;

        image_fill(img, IMAGE_LEN, 8);
        id_fill(id, 8);
        assert_int_equal(umc_slots_write(s, 0, img, 10), -ENOENT);
        assert_int_equal(umc_slots_checkpoint(s), -ENOENT);
        assert_int_equal(umc_slots_begin(s, id, "8", 100, &resume), 0);
        assert_int_equal(umc_slots_write(s, 1, img, 10), -EINVAL);  /* hole */
        assert_int_equal(umc_slots_write(s, 0, img, 50), 0);
        assert_int_equal(umc_slots_write(s, 0, img, 10), -EINVAL);  /* rewrite */
        assert_int_equal(umc_slots_write(s, 40, img, 10), -EINVAL); /* overlap */
        assert_int_equal(umc_slots_write(s, 50, img, 51), -EFBIG);  /* past image_len */
        assert_int_equal(umc_slots_write(s, 50, img + 50, 50), 0);
        assert_int_equal(umc_slots_write(s, 100, img, 1), -EFBIG);
        assert_int_equal(umc_slots_write(s, UINT64_MAX, img, 1), -EINVAL);
}

static void test_commit_before_end_is_refused(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        static uint8_t img[IMAGE_LEN];
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];
        uint64_t resume;

        image_fill(img, IMAGE_LEN, 3);
        id_fill(id, 3);
        assert_int_equal(umc_slots_commit(s), -ENOENT);
        assert_int_equal(umc_slots_begin(s, id, "3", IMAGE_LEN, &resume), 0);
        send_range(s, img, 0, IMAGE_LEN - 1);
        assert_int_equal(umc_slots_commit(s), -EINVAL);
        assert_false(exists(f, "b", "image"));
        assert_false(exists(f, "b", "version"));
        assert_int_equal(umc_slots_activate(s), -ENOENT);
        /* The transfer is still usable. */
        send_range(s, img, IMAGE_LEN - 1, IMAGE_LEN);
        assert_int_equal(umc_slots_commit(s), 0);
}

static void test_rollback_after_activate_restores_old_slot(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        static uint8_t img1[IMAGE_LEN], img2[IMAGE_LEN];

        assert_int_equal(umc_slots_rollback(s), -ENOENT);
        install(s, 1, "1.0", img1);
        assert_int_equal(umc_slots_rollback(s), -ENOENT); /* slot a was empty */
        install(s, 2, "2.0", img2);
        assert_active(s, 'a', "2.0");

        assert_int_equal(umc_slots_rollback(s), 0);
        assert_active(s, 'b', "1.0");
        assert_file(f, ".", "active", "b\n", 2);
        assert_false(exists(f, ".", "previous"));
        assert_int_equal(umc_slots_previous(s, NULL, NULL), -ENOENT);
        /* Neither a second rollback nor an activation returns to the failed image. */
        assert_int_equal(umc_slots_rollback(s), -ENOENT);
        assert_int_equal(umc_slots_activate(s), -ENOENT);
        assert_file(f, "b", "image", img1, IMAGE_LEN);
        umc_slots_close(TAKE_PTR(s));

        s = store_open(f, NULL);
        assert_active(s, 'b', "1.0");
}

static void test_corrupt_active_is_refused(void **state) {
        static const char *const bad[] = { "c\n", "a", "ab\n", "\n", "", "b\n\n", "A\n" };
        struct fixture *f = *state;
        struct umc_slots *s = store_open(f, NULL);

        umc_slots_close(s);
        for (size_t i = 0; i < UMC_ELEMENTSOF(bad); i++) {
                s = NULL;
                put(f, ".", "active", bad[i]);
                assert_int_equal(umc_slots_open(f->store, &s, NULL), -EBADMSG);
                assert_null(s);
        }
        put(f, ".", "active", "a\n");
        put(f, ".", "previous", "x\n");
        assert_int_equal(umc_slots_open(f->store, &s, NULL), -EBADMSG);
}

static void test_damaged_slot_version_is_refused(void **state) {
        struct fixture *f = *state;
        struct umc_slots *s = store_open(f, NULL);

        umc_slots_close(s);
        s = NULL;
        /* A version without its image. */
        put(f, "a", "version", "1.0\n");
        assert_int_equal(umc_slots_open(f->store, &s, NULL), -EBADMSG);
        /* A version that is not one printable line. */
        put(f, "a", "image", "img");
        put(f, "a", "version", "1.0");
        assert_int_equal(umc_slots_open(f->store, &s, NULL), -EBADMSG);
        put(f, "a", "version", "1.\x01\n");
        assert_int_equal(umc_slots_open(f->store, &s, NULL), -EBADMSG);
        put(f, "a", "version", "\n");
        assert_int_equal(umc_slots_open(f->store, &s, NULL), -EBADMSG);
        assert_null(s);

        put(f, "a", "version", "1.0\n");
        s = store_open(f, NULL);
        assert_active(s, 'a', "1.0");
        umc_slots_close(s);
}

static void test_symlinks_in_store_are_refused(void **state) {
        struct fixture *f = *state;
        struct umc_slots *s = store_open(f, NULL);
        char path[160], target[160];

        umc_slots_close(s);
        s = NULL;
        snprintf(target, sizeof(target), "%s/elsewhere", f->root);
        assert_int_equal(mkdir(target, 0700), 0);

        snprintf(path, sizeof(path), "%s/active", f->store);
        assert_int_equal(symlink("b/version", path), 0);
        assert_int_equal(umc_slots_open(f->store, &s, NULL), -ELOOP);
        assert_int_equal(unlink(path), 0);

        snprintf(path, sizeof(path), "%s/b", f->store);
        assert_int_equal(rmdir(path), 0);
        assert_int_equal(symlink(target, path), 0);
        assert_true(umc_slots_open(f->store, &s, NULL) < 0);
        assert_null(s);
}

/* Anti-rollback record: absent is 0, written atomically, anything but canonical decimal refused. */
static void test_security_version_round_trip_and_damage(void **state) {
        static const char *const bad[] = { "07\n", "7", "\n", "-1\n", "7 \n", "9007199254740992\n",
                                           "123456789012345678901\n" };
        struct fixture *f = *state;
        struct umc_slots *s = store_open(f, NULL);
        uint64_t v = 99;

        assert_int_equal(umc_slots_security_version(s, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(umc_slots_set_security_version(s, 7), 0);
        assert_file(f, ".", "security_version", "7\n", 2);
        assert_int_equal(umc_slots_set_security_version(s, (UINT64_C(1) << 53)), -EINVAL);
        assert_int_equal(umc_slots_set_security_version(s, (UINT64_C(1) << 53) - 1), 0);
        umc_slots_close(s);
        s = store_open(f, NULL);
        assert_int_equal(umc_slots_security_version(s, &v), 0);
        assert_int_equal(v, (UINT64_C(1) << 53) - 1);
        for (size_t i = 0; i < UMC_ELEMENTSOF(bad); i++) {
                put(f, ".", "security_version", bad[i]);
                v = 5;
                assert_int_equal(umc_slots_security_version(s, &v), -EBADMSG);
                assert_int_equal(v, 5); /* untouched */
        }
        umc_slots_close(s);
        /* A temporary file left by a crash mid-write goes at the next open. */
        put(f, ".", ".security_version.AbCdEf", "8\n");
        s = store_open(f, NULL);
        assert_false(exists(f, ".", ".security_version.AbCdEf"));
        umc_slots_close(s);
}

static void test_second_open_is_busy(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        struct umc_slots *other = NULL;

        assert_int_equal(umc_slots_open(f->store, &other, NULL), -EBUSY);
        assert_null(other);
}

/* Leave a checkpointed transfer of 3 chunks behind, as a crash would. */
static void crash_mid_transfer(const struct fixture *f, const uint8_t *id) {
        struct umc_slots *s = store_open(f, NULL);
        static uint8_t img[IMAGE_LEN];
        uint64_t resume;

        image_fill(img, IMAGE_LEN, 11);
        assert_int_equal(umc_slots_begin(s, id, "11", IMAGE_LEN, &resume), 0);
        send_range(s, img, 0, 3 * CHUNK);
        umc_slots_close(s);
}

static void test_corrupt_progress_is_discarded_and_reported(void **state) {
        struct fixture *f = *state;
        static const char *const bad[] = {
                "image_id=zz\nversion=11\nimage_len=10000\noffset=0\n",
                /* truncated line */
                "image_id=0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b\nversion=11\nimage_len=10000\noffset=0",
                /* duplicate key */
                "image_id=0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b\nversion=11\nversion=11\nimage_len=10000\noffset=0\n",
                /* unknown key */
                "image_id=0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b\nversion=11\nimage_len=10000\noffset=0\nextra=1\n",
                /* offset past image_len */
                "image_id=0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b\nversion=11\nimage_len=10\noffset=11\n",
                /* offset past the partial's end */
                "image_id=0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b\nversion=11\nimage_len=10000\noffset=9999\n",
                /* non-canonical number */
                "image_id=0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b\nversion=11\nimage_len=+10000\noffset=0\n",
                /* missing key */
                "image_id=0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b\nimage_len=10000\noffset=0\n",
        };
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];

        id_fill(id, 11);
        for (size_t i = 0; i < UMC_ELEMENTSOF(bad); i++) {
                _cleanup_(umc_slots_closep) struct umc_slots *s = NULL;
                unsigned flags = 0;
                uint64_t resume = 1;

                crash_mid_transfer(f, id);
                put(f, "incoming", "progress", bad[i]);
                s = store_open(f, &flags);
                assert_int_equal(flags, UMC_SLOTS_DISCARDED_PROGRESS);
                assert_false(exists(f, "incoming", "progress"));
                assert_false(exists(f, "incoming", "image.part"));
                assert_int_equal(umc_slots_begin(s, id, "11", IMAGE_LEN, &resume), 0);
                assert_int_equal(resume, 0);
                assert_active(s, 'a', NULL);
        }
}

static void test_well_formed_progress_is_resumed(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = NULL;
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];
        uint64_t resume = 0;

        /* The checkpoint this module writes, in another key order and upper-case hex. */
        id_fill(id, 11);
        crash_mid_transfer(f, id);
        put(f, "incoming", "progress",
            "offset=2048\nimage_len=10000\nversion=11\n"
            "image_id=0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B\n");
        s = store_open(f, NULL);
        assert_int_equal(umc_slots_begin(s, id, "11", IMAGE_LEN, &resume), 0);
        assert_int_equal(resume, 2048);
}

static void test_progress_without_partial_is_discarded(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = NULL;
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];
        unsigned flags = 0;
        _cleanup_close_ int fd = -1;

        /* What a commit killed right after its rename leaves. */
        id_fill(id, 11);
        crash_mid_transfer(f, id);
        fd = sub_open(f, "incoming");
        assert_int_equal(unlinkat(fd, "image.part", 0), 0);
        s = store_open(f, &flags);
        assert_int_equal(flags, UMC_SLOTS_DISCARDED_PROGRESS);
        assert_false(exists(f, "incoming", "progress"));
}

static void test_crash_leftovers_are_cleaned_at_open(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        static uint8_t img1[IMAGE_LEN], img2[IMAGE_LEN];

        install(s, 1, "1.0", img1);
        install(s, 2, "2.0", img2);
        umc_slots_close(TAKE_PTR(s));

        /* A partial without progress (begin or abort killed halfway), a
         * temporary file of a killed atomic write, and a rollback killed
         * between switching active and removing the record. */
        put(f, "incoming", "image.part", "junk");
        put(f, ".", ".active.Ab12_-", "b\n");
        put(f, ".", "active", "b\n");
        s = store_open(f, NULL);
        assert_active(s, 'b', "1.0");
        assert_int_equal(umc_slots_previous(s, NULL, NULL), -ENOENT);
        assert_false(exists(f, ".", "previous"));
        assert_false(exists(f, "incoming", "image.part"));
        assert_false(exists(f, ".", ".active.Ab12_-"));
}

/*
 * A complete partial replaced by other content (the ECU's decryption):
 * the commit installs the replacement; a replacement of the wrong size is
 * refused and consumed; a crash after the replacement leaves nothing that
 * open would resume or install.
 */
static void test_replaced_partial_is_what_the_commit_installs(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        static uint8_t img[IMAGE_LEN], plain[IMAGE_LEN / 2];
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];
        uint64_t resume;
        unsigned flags;
        int fd = -1;

        image_fill(img, IMAGE_LEN, 4);
        image_fill(plain, sizeof(plain), 9);
        id_fill(id, 4);
        assert_int_equal(umc_slots_replacement_open(s, &fd), -ENOENT); /* no transfer */
        assert_int_equal(umc_slots_begin(s, id, "4", IMAGE_LEN, &resume), 0);
        send_range(s, img, 0, IMAGE_LEN - 1);
        assert_int_equal(umc_slots_replacement_open(s, &fd), 0);
        assert_true(exists(f, "incoming", "image.plain"));
        assert_int_equal(umc_slots_replace_partial(s, fd, 1), -EINVAL); /* not complete */
        assert_int_equal(umc_slots_replacement_discard(s), 0);
        assert_false(exists(f, "incoming", "image.plain"));
        send_range(s, img, IMAGE_LEN - 1, IMAGE_LEN);

        assert_int_equal(umc_slots_replacement_open(s, &fd), 0);
        assert_int_equal(write(fd, plain, sizeof(plain)), (ssize_t)sizeof(plain));
        assert_int_equal(umc_slots_replace_partial(s, fd, sizeof(plain) + 1), -EINVAL);
        assert_int_equal(umc_slots_replacement_discard(s), 0);
        /* Refused before it changed anything: the received image and its record stay. */
        assert_true(exists(f, "incoming", "progress"));
        assert_file(f, "incoming", "image.part", img, IMAGE_LEN);
        assert_false(exists(f, "incoming", "image.plain"));

        assert_int_equal(umc_slots_replacement_open(s, &fd), 0);
        assert_int_equal(write(fd, plain, sizeof(plain)), (ssize_t)sizeof(plain));
        assert_int_equal(umc_slots_replace_partial(s, fd, sizeof(plain)), 0);
        assert_false(exists(f, "incoming", "image.plain"));
        assert_false(exists(f, "incoming", "progress")); /* it counted the old bytes */
        assert_file(f, "incoming", "image.part", plain, sizeof(plain));

        /* Crash here: nothing to resume, the replacement is not installed. */
        umc_slots_close(TAKE_PTR(s));
        put(f, "incoming", "image.plain", "leftover");
        s = store_open(f, &flags);
        assert_false(exists(f, "incoming", "image.part"));
        assert_false(exists(f, "incoming", "image.plain"));
        assert_false(exists(f, "b", "image"));
        assert_active(s, 'a', NULL);

        /* Again without the crash: the commit installs the replacement. */
        assert_int_equal(umc_slots_begin(s, id, "4", IMAGE_LEN, &resume), 0);
        assert_int_equal(resume, 0);
        send_range(s, img, 0, IMAGE_LEN);
        assert_int_equal(umc_slots_replacement_open(s, &fd), 0);
        assert_int_equal(write(fd, plain, sizeof(plain)), (ssize_t)sizeof(plain));
        assert_int_equal(umc_slots_replace_partial(s, fd, sizeof(plain)), 0);
        assert_int_equal(umc_slots_commit(s), 0);
        assert_int_equal(umc_slots_activate(s), 0);
        assert_active(s, 'b', "4");
        assert_file(f, "b", "image", plain, sizeof(plain));
}

static void test_invalid_begin_arguments_are_refused(void **state) {
        struct fixture *f = *state;
        _cleanup_(umc_slots_closep) struct umc_slots *s = store_open(f, NULL);
        uint8_t id[UMC_SLOT_IMAGE_ID_SIZE];
        char longv[UMC_SLOT_VERSION_MAX + 2];
        uint64_t resume = 77;

        id_fill(id, 1);
        memset(longv, 'v', sizeof(longv) - 1);
        longv[sizeof(longv) - 1] = '\0';
        assert_int_equal(umc_slots_begin(s, id, "", 10, &resume), -EINVAL);
        assert_int_equal(umc_slots_begin(s, id, longv, 10, &resume), -EINVAL);
        assert_int_equal(umc_slots_begin(s, id, "1.0\n", 10, &resume), -EINVAL);
        assert_int_equal(umc_slots_begin(s, id, "1.0\x7f", 10, &resume), -EINVAL);
        assert_int_equal(umc_slots_begin(s, id, NULL, 10, &resume), -EINVAL);
        assert_int_equal(umc_slots_begin(s, id, "1.0", 0, &resume), -EINVAL);
        assert_int_equal(umc_slots_begin(s, id, "1.0", UINT64_MAX, &resume), -EFBIG);
        assert_int_equal(resume, 77);
        assert_false(exists(f, "incoming", "progress"));

        longv[UMC_SLOT_VERSION_MAX] = '\0';
        assert_true(umc_slots_version_valid(longv));
        assert_true(umc_slots_version_valid("1.0 rc1"));
        assert_int_equal(umc_slots_begin(s, id, longv, 10, &resume), 0);
        assert_int_equal(resume, 0);
}

static void test_status_reports_slots_rollback_and_partial_with_its_age(void **state) {
        struct fixture *f = *state;
        struct umc_slots *s = store_open(f, NULL);
        uint8_t image[IMAGE_LEN], id[UMC_SLOT_IMAGE_ID_SIZE];
        struct umc_slots_status st;
        struct timespec old[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
        uint64_t resume = 1;
        int fd;

        assert_int_equal(umc_slots_status(s, &st), 0);
        assert_int_equal(st.active, 'a');
        assert_int_equal(st.previous, 0);
        assert_false(st.partial);
        assert_string_equal(st.version[0], "");

        install(s, 1, "1.0", image);
        install(s, 2, "2.0", image);
        id_fill(id, 3);
        assert_int_equal(umc_slots_begin(s, id, "3.0-rc", IMAGE_LEN, &resume), 0);
        image_fill(image, IMAGE_LEN, 3);
        send_range(s, image, 0, 2 * CHUNK);
        assert_int_equal(umc_slots_status(s, &st), 0);
        assert_int_equal(st.active, 'a');
        assert_int_equal(st.previous, 'b');
        assert_string_equal(st.version[0], "2.0");
        assert_string_equal(st.version[1], "1.0");
        assert_true(st.partial);
        assert_string_equal(st.partial_version, "3.0-rc");
        assert_int_equal(st.partial_len, IMAGE_LEN);
        assert_int_equal(st.partial_durable, 2 * CHUNK);
        assert_true(llabs((long long)(st.partial_saved_sec - (int64_t)time(NULL))) <= 2);
        umc_slots_close(s);

        /* After a restart the age is the record's: its mtime, the last checkpoint. */
        fd = sub_open(f, "incoming");
        assert_int_equal(utimensat(fd, "progress", old, AT_SYMLINK_NOFOLLOW), 0);
        (void)close(fd);
        s = store_open(f, NULL);
        assert_int_equal(umc_slots_status(s, &st), 0);
        assert_true(st.partial);
        assert_int_equal(st.partial_saved_sec, 1000000000);
        assert_int_equal(st.partial_durable, 2 * CHUNK);

        /* Gone with an abort. */
        assert_int_equal(umc_slots_abort(s), 0);
        assert_int_equal(umc_slots_status(s, &st), 0);
        assert_false(st.partial);
        assert_int_equal(umc_slots_status(NULL, &st), -EINVAL);
        umc_slots_close(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
                T(test_fresh_store_is_slot_a_and_empty),
                T(test_security_version_round_trip_and_damage),
                T(test_transfers_alternate_slots_and_keep_previous),
                T(test_commit_does_not_switch_active),
                T(test_abort_leaves_active_and_version_byte_identical),
                T(test_rewind_cuts_back_to_the_checkpoint_and_keeps_progress),
                T(test_resume_after_crash_returns_checkpoint_and_truncates),
                T(test_begin_twice_resumes_at_checkpoint),
                T(test_begin_with_other_id_version_or_length_starts_over),
                T(test_write_with_gap_rewrite_or_past_end_is_refused),
                T(test_commit_before_end_is_refused),
                T(test_rollback_after_activate_restores_old_slot),
                T(test_corrupt_active_is_refused),
                T(test_damaged_slot_version_is_refused),
                T(test_symlinks_in_store_are_refused),
                T(test_second_open_is_busy),
                T(test_corrupt_progress_is_discarded_and_reported),
                T(test_well_formed_progress_is_resumed),
                T(test_progress_without_partial_is_discarded),
                T(test_crash_leftovers_are_cleaned_at_open),
                T(test_replaced_partial_is_what_the_commit_installs),
                T(test_invalid_begin_arguments_are_refused),
                T(test_status_reports_slots_rollback_and_partial_with_its_age),
#undef T
        };

        /* Mode assertions expect the usual umask to leave 0600/0700 alone. */
        (void)umask(0022);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
