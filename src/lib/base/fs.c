/* SPDX-License-Identifier: MIT */
#include "umc/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "umc/util.h"

#define TEMP_SUFFIX_LEN 6
/* ".name.XXXXXX": leading dot, separator dot and the suffix. */
#define TEMP_EXTRA (2 + TEMP_SUFFIX_LEN)
#define TEMP_TRIES 16

/* 64 symbols, so one random byte masked to 6 bits picks one without bias. */
static const char temp_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int umc_fs_write_all(int fd, const void *buf, size_t len) {
        const uint8_t *p = buf;

        if (fd < 0 || (!buf && len > 0))
                return -EINVAL;
        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int umc_fs_pwrite_all(int fd, const void *buf, size_t len, off_t off) {
        const uint8_t *p = buf;

        if (fd < 0 || off < 0 || (!buf && len > 0))
                return -EINVAL;
        if ((uint64_t)len > (uint64_t)(UMC_FS_OFF_MAX - off))
                return -EFBIG;
        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, off);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                off += n;
                len -= (size_t)n;
        }
        return 0;
}

int umc_fs_read_all(int fd, void *buf, size_t len, size_t *ret_len) {
        uint8_t *p = buf;
        size_t got = 0;

        if (fd < 0 || (!buf && len > 0) || !ret_len)
                return -EINVAL;
        while (got < len) {
                ssize_t n = read(fd, p + got, len - got);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        *ret_len = got;
        return 0;
}

int umc_fs_pread_exact(int fd, void *buf, size_t len, off_t off) {
        uint8_t *p = buf;

        if (fd < 0 || off < 0 || (!buf && len > 0))
                return -EINVAL;
        if ((uint64_t)len > (uint64_t)(UMC_FS_OFF_MAX - off))
                return -EFBIG;
        while (len > 0) {
                ssize_t n = pread(fd, p, len, off);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO; /* the file is shorter than the caller knows it to be */
                p += n;
                off += n;
                len -= (size_t)n;
        }
        return 0;
}

int umc_fs_fsync_dir(int dirfd) {
        _cleanup_close_ int fd = -1;

        if (dirfd == AT_FDCWD) {
                fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                dirfd = fd;
        }
        if (dirfd < 0)
                return -EBADF;
        if (fsync(dirfd) < 0)
                return -errno;
        return 0;
}

static int mkdir_one(const char *path, mode_t mode) {
        struct stat st;

        if (mkdir(path, mode) == 0)
                return 0;
        if (errno != EEXIST)
                return -errno;
        if (stat(path, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int umc_fs_mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;

        if (!path || !*path)
                return -EINVAL;
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        /* Cut at each '/' after the first character (a leading '/' is the root). */
        for (char *c = p + 1;; c++) {
                char saved = *c;
                int r;

                if (saved != '/' && saved != '\0')
                        continue;
                *c = '\0';
                r = mkdir_one(p, mode);
                *c = saved;
                if (r < 0)
                        return r;
                if (saved == '\0')
                        return 0;
        }
}

/* One path component, no "." or "..": nothing that can leave the directory. */
static bool component_ok(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strnlen(name, NAME_MAX + 1);
        return n > 0 && n <= NAME_MAX && !memchr(name, '/', n) && strcmp(name, ".") != 0 &&
               strcmp(name, "..") != 0;
}

static void temp_suffix(char out[static TEMP_SUFFIX_LEN + 1]) {
        static uint64_t counter;
        uint8_t rnd[TEMP_SUFFIX_LEN];

        if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
                /*
                 * Early boot, pool not initialized. The name need not be
                 * secret: O_EXCL|O_NOFOLLOW make a guessed or planted name
                 * fail, never redirect the write. Clock, pid and a counter
                 * keep the retries distinct (splitmix64 finalizer mixes them).
                 */
                struct timespec ts;
                uint64_t x;

                (void)clock_gettime(CLOCK_MONOTONIC, &ts);
                x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 44) ^
                    (++counter * UINT64_C(0x9e3779b97f4a7c15));
                x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
                x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
                x ^= x >> 31;
                for (size_t i = 0; i < sizeof(rnd); i++)
                        rnd[i] = (uint8_t)(x >> (8 * i));
        }
        for (size_t i = 0; i < TEMP_SUFFIX_LEN; i++)
                out[i] = temp_alphabet[rnd[i] & 63];
        out[TEMP_SUFFIX_LEN] = '\0';
}

/* Create a new temporary file for name; tmp receives its name. */
static int temp_open(int dirfd, const char *name, mode_t mode, char tmp[static NAME_MAX + 1],
                     int *ret_fd) {
        for (unsigned i = 0; i < TEMP_TRIES; i++) {
                char suffix[TEMP_SUFFIX_LEN + 1];
                int fd;

                temp_suffix(suffix);
                (void)snprintf(tmp, NAME_MAX + 1, ".%s.%s", name, suffix);
                fd = openat(dirfd, tmp,
                            O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode);
                if (fd >= 0) {
                        *ret_fd = fd;
                        return 0;
                }
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

int umc_fs_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode) {
        char tmp[NAME_MAX + 1];
        _cleanup_close_ int fd = -1;
        int r;

        if (!component_ok(name) || strlen(name) > NAME_MAX - TEMP_EXTRA || (!data && len > 0))
                return -EINVAL;
        r = temp_open(dirfd, name, mode, tmp, &fd);
        if (r < 0)
                return r;

        r = umc_fs_write_all(fd, data, len);
        /* Data and size durable before the name can point at them. */
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        /* rename(2) replaces name in one step: a reader or a crash sees old or new. */
        if (r >= 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void)unlinkat(dirfd, tmp, 0);
                return r;
        }
        /* The rename itself is durable only once the directory is. */
        return umc_fs_fsync_dir(dirfd);
}

int umc_fs_read_file(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0, cap;

        if (!component_ok(name) || !ret || max >= (size_t)SSIZE_MAX)
                return -EINVAL;
        /* O_NONBLOCK: opening a planted FIFO must not hang; fstat() then rejects it. */
        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t)st.st_size > max)
                return -EFBIG;

        /* Size from fstat() is a hint only: the file may grow while read. */
        cap = (size_t)st.st_size + 1;
        buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (len == cap) {
                        size_t ncap = cap > max / 2 ? max + 1 : cap * 2;
                        char *nbuf = realloc(buf, ncap + 1);

                        if (!nbuf)
                                return -ENOMEM;
                        buf = nbuf;
                        cap = ncap;
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

/* ".name." followed by exactly TEMP_SUFFIX_LEN symbols of temp_alphabet. */
static bool is_temp_of(const char *entry, const char *name) {
        size_t n = strlen(name);

        if (strlen(entry) != n + TEMP_EXTRA || entry[0] != '.' || strncmp(entry + 1, name, n) != 0 ||
            entry[n + 1] != '.')
                return false;
        for (const char *c = entry + n + 2; *c; c++)
                if (!strchr(temp_alphabet, *c))
                        return false;
        return true;
}

int umc_fs_remove_temp_files(int dirfd, const char *name) {
        DIR *d;
        struct dirent *de;
        int fd, r = 0;

        if (!component_ok(name) || strlen(name) > NAME_MAX - TEMP_EXTRA)
                return -EINVAL;
        /* A fresh open: fdopendir() on dirfd itself would move its offset and take it over. */
        fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                (void)close(fd);
                return r;
        }
        while ((errno = 0, de = readdir(d))) {
                struct stat st;

                if (!is_temp_of(de->d_name, name))
                        continue;
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (unlinkat(dirfd, de->d_name, 0) < 0 && errno != ENOENT && r == 0)
                        r = -errno;
        }
        if (errno != 0 && r == 0)
                r = -errno;
        (void)closedir(d);
        return r;
}
