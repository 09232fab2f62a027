/* SPDX-License-Identifier: MIT */
/* Durable file primitives, on real files in a private directory under /tmp. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test-helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "umc/fs.h"
#include "umc/util.h"

struct tmp {
        char path[64];
        int fd;
};

static int setup(void **state) {
        struct tmp *t = calloc(1, sizeof(*t));

        assert_non_null(t);
        strcpy(t->path, "/tmp/umc-test-fs-XXXXXX");
        assert_non_null(mkdtemp(t->path));
        t->fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(t->fd >= 0);
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

static size_t count_entries(int dirfd) {
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;
        struct dirent *de;
        size_t n = 0;

        assert_true(fd >= 0);
        d = fdopendir(fd);
        assert_non_null(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static void assert_content(int dirfd, const char *name, const char *want) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;

        assert_int_equal(umc_fs_read_file(dirfd, name, 4096, &text, &len), 0);
        assert_int_equal(len, strlen(want));
        assert_string_equal(text, want);
}

static void put_file(int dirfd, const char *name, const char *content) {
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(umc_fs_write_all(fd, content, strlen(content)), 0);
        assert_int_equal(close(fd), 0);
}

static void test_write_atomic_replaces_content_and_leaves_no_temp(void **state) {
        struct tmp *t = *state;
        struct stat st;

        assert_int_equal(umc_fs_write_atomic(t->fd, "state", "one\n", 4, 0600), 0);
        assert_content(t->fd, "state", "one\n");
        assert_int_equal(umc_fs_write_atomic(t->fd, "state", "second\n", 7, 0600), 0);
        assert_content(t->fd, "state", "second\n");
        assert_int_equal(count_entries(t->fd), 1);
        assert_int_equal(fstatat(t->fd, "state", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_write_atomic_of_empty_data_creates_empty_file(void **state) {
        struct tmp *t = *state;

        assert_int_equal(umc_fs_write_atomic(t->fd, "empty", NULL, 0, 0600), 0);
        assert_content(t->fd, "empty", "");
}

static void test_write_atomic_failure_removes_temp(void **state) {
        struct tmp *t = *state;
        int sub;

        /* A non-empty directory at name: the rename must fail. */
        assert_int_equal(mkdirat(t->fd, "state", 0700), 0);
        sub = openat(t->fd, "state", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(sub >= 0);
        put_file(sub, "keep", "x");

        assert_int_equal(umc_fs_write_atomic(t->fd, "state", "new", 3, 0600), -EISDIR);
        assert_int_equal(count_entries(t->fd), 1);
        assert_int_equal(count_entries(sub), 1);
        assert_content(sub, "keep", "x");
        (void)close(sub);
}

static void test_write_atomic_replaces_symlink_without_following(void **state) {
        struct tmp *t = *state;
        struct stat st;

        put_file(t->fd, "target", "secret");
        assert_int_equal(symlinkat("target", t->fd, "link"), 0);
        assert_int_equal(umc_fs_write_atomic(t->fd, "link", "new", 3, 0600), 0);
        assert_content(t->fd, "target", "secret");
        assert_int_equal(fstatat(t->fd, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_content(t->fd, "link", "new");
}

static void test_write_atomic_rejects_names_outside_directory(void **state) {
        struct tmp *t = *state;
        char longname[NAME_MAX + 1];

        memset(longname, 'n', NAME_MAX - 7);
        longname[NAME_MAX - 7] = '\0'; /* fits NAME_MAX but not with ".", "." and the suffix */
        assert_int_equal(umc_fs_write_atomic(t->fd, "", "x", 1, 0600), -EINVAL);
        assert_int_equal(umc_fs_write_atomic(t->fd, NULL, "x", 1, 0600), -EINVAL);
        assert_int_equal(umc_fs_write_atomic(t->fd, "a/b", "x", 1, 0600), -EINVAL);
        assert_int_equal(umc_fs_write_atomic(t->fd, ".", "x", 1, 0600), -EINVAL);
        assert_int_equal(umc_fs_write_atomic(t->fd, "..", "x", 1, 0600), -EINVAL);
        assert_int_equal(umc_fs_write_atomic(t->fd, longname, "x", 1, 0600), -EINVAL);
        assert_int_equal(umc_fs_write_atomic(t->fd, "ok", NULL, 1, 0600), -EINVAL);
        assert_int_equal(count_entries(t->fd), 0);
}

static void test_read_file_refuses_more_than_max(void **state) {
        struct tmp *t = *state;
        _cleanup_free_ char *text = NULL;
        char *never = NULL;
        size_t len = 0;

        put_file(t->fd, "ten", "0123456789");
        assert_int_equal(umc_fs_read_file(t->fd, "ten", 9, &never, &len), -EFBIG);
        assert_null(never);
        assert_int_equal(umc_fs_read_file(t->fd, "ten", 10, &text, &len), 0);
        assert_int_equal(len, 10);
        assert_int_equal(text[10], '\0');
        assert_memory_equal(text, "0123456789", 10);
}

static void test_read_file_refuses_symlink_directory_and_fifo(void **state) {
        struct tmp *t = *state;
        char *never = NULL;

        put_file(t->fd, "target", "x");
        assert_int_equal(symlinkat("target", t->fd, "link"), 0);
        assert_int_equal(mkdirat(t->fd, "dir", 0700), 0);
        assert_int_equal(mkfifoat(t->fd, "fifo", 0600), 0);

        assert_int_equal(umc_fs_read_file(t->fd, "link", 16, &never, NULL), -ELOOP);
        assert_int_equal(umc_fs_read_file(t->fd, "dir", 16, &never, NULL), -EISDIR);
        assert_int_equal(umc_fs_read_file(t->fd, "fifo", 16, &never, NULL), -EBADFD);
        assert_int_equal(umc_fs_read_file(t->fd, "missing", 16, &never, NULL), -ENOENT);
        assert_int_equal(umc_fs_read_file(t->fd, "../target", 16, &never, NULL), -EINVAL);
        assert_null(never);
}

static void test_mkdir_p_creates_nested_and_accepts_existing(void **state) {
        struct tmp *t = *state;
        char path[128], file[128];
        struct stat st;

        snprintf(path, sizeof(path), "%s/x/y//z/", t->path);
        assert_int_equal(umc_fs_mkdir_p(path, 0700), 0);
        assert_int_equal(umc_fs_mkdir_p(path, 0700), 0);
        assert_int_equal(fstatat(t->fd, "x/y/z", &st, 0), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 0077, 0);

        put_file(t->fd, "plain", "x");
        snprintf(file, sizeof(file), "%s/plain/sub", t->path);
        assert_int_equal(umc_fs_mkdir_p(file, 0700), -ENOTDIR);
        assert_int_equal(umc_fs_mkdir_p("", 0700), -EINVAL);
}

static void test_pwrite_all_writes_at_offset_and_checks_range(void **state) {
        struct tmp *t = *state;
        _cleanup_close_ int fd = -1;
        char buf[16] = { 0 };

        fd = openat(t->fd, "f", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(umc_fs_write_all(fd, "hello world", 11), 0);
        assert_int_equal(umc_fs_pwrite_all(fd, "W", 1, 6), 0);
        assert_int_equal(pread(fd, buf, sizeof(buf), 0), 11);
        assert_string_equal(buf, "hello World");
        assert_int_equal(umc_fs_pwrite_all(fd, "x", 1, -1), -EINVAL);
        assert_int_equal(umc_fs_pwrite_all(fd, "xy", 2, UMC_FS_OFF_MAX), -EFBIG);
        assert_int_equal(umc_fs_write_all(-1, "x", 1), -EINVAL);
}

/* Through a pipe, so the data arrives in pieces and the loop must keep reading. */
static void test_read_all_gathers_short_reads_until_len_or_eof(void **state) {
        int p[2];
        char buf[16] = { 0 };
        size_t got = 99;

        assert_int_equal(pipe(p), 0);
        assert_int_equal(write(p[1], "abc", 3), 3);
        assert_int_equal(write(p[1], "defg", 4), 4);
        assert_int_equal(umc_fs_read_all(p[0], buf, 5, &got), 0);
        assert_int_equal(got, 5);
        assert_memory_equal(buf, "abcde", 5);
        (void)close(p[1]);
        assert_int_equal(umc_fs_read_all(p[0], buf, sizeof(buf), &got), 0);
        assert_int_equal(got, 2); /* end of file comes first */
        assert_memory_equal(buf, "fg", 2);
        (void)close(p[0]);
        assert_int_equal(umc_fs_read_all(-1, buf, 1, &got), -EINVAL);
        assert_int_equal(umc_fs_read_all(p[0], buf, 1, &got), -EBADF);
}

static void test_pread_exact_reads_at_offset_and_eio_when_short(void **state) {
        struct tmp *t = *state;
        _cleanup_close_ int fd = -1;
        char buf[8] = { 0 };

        fd = openat(t->fd, "f", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(umc_fs_write_all(fd, "hello world", 11), 0);
        assert_int_equal(umc_fs_pread_exact(fd, buf, 5, 6), 0);
        assert_string_equal(buf, "world");
        assert_int_equal(umc_fs_pread_exact(fd, buf, 6, 6), -EIO);
        assert_int_equal(umc_fs_pread_exact(fd, buf, 1, -1), -EINVAL);
        assert_int_equal(umc_fs_pread_exact(fd, buf, 2, UMC_FS_OFF_MAX), -EFBIG);
        assert_int_equal(lseek(fd, 0, SEEK_CUR), 11); /* the position is left alone */
}

static void test_fsync_dir_accepts_cwd_and_rejects_bad_fd(void **state) {
        struct tmp *t = *state;

        assert_int_equal(umc_fs_fsync_dir(t->fd), 0);
        assert_int_equal(umc_fs_fsync_dir(AT_FDCWD), 0);
        assert_int_equal(umc_fs_fsync_dir(-7), -EBADF);
}

static void test_remove_temp_files_removes_only_temporaries(void **state) {
        struct tmp *t = *state;
        struct stat st;

        put_file(t->fd, ".progress.AbC-_9", "stale");
        put_file(t->fd, "progress", "real");
        put_file(t->fd, ".progress.toolong", "other");
        put_file(t->fd, ".progress.A!CDEF", "other");
        put_file(t->fd, ".version.ABCDEF", "other");
        assert_int_equal(mkdirat(t->fd, ".progress.ZZZZZZ", 0700), 0);

        assert_int_equal(umc_fs_remove_temp_files(t->fd, "progress"), 0);
        assert_int_equal(fstatat(t->fd, ".progress.AbC-_9", &st, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(errno, ENOENT);
        assert_content(t->fd, "progress", "real");
        assert_int_equal(count_entries(t->fd), 5);
        assert_int_equal(umc_fs_remove_temp_files(t->fd, "a/b"), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
                T(test_write_atomic_replaces_content_and_leaves_no_temp),
                T(test_write_atomic_of_empty_data_creates_empty_file),
                T(test_write_atomic_failure_removes_temp),
                T(test_write_atomic_replaces_symlink_without_following),
                T(test_write_atomic_rejects_names_outside_directory),
                T(test_read_file_refuses_more_than_max),
                T(test_read_file_refuses_symlink_directory_and_fifo),
                T(test_mkdir_p_creates_nested_and_accepts_existing),
                T(test_pwrite_all_writes_at_offset_and_checks_range),
                T(test_read_all_gathers_short_reads_until_len_or_eof),
                T(test_pread_exact_reads_at_offset_and_eio_when_short),
                T(test_fsync_dir_accepts_cwd_and_rejects_bad_fd),
                T(test_remove_temp_files_removes_only_temporaries),
#undef T
        };

        /* Mode assertions expect the usual umask to leave 0600/0700 alone. */
        (void)umask(0022);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
