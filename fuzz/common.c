/* SPDX-License-Identifier: MIT */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

uint8_t fuzz_u8(struct fuzz_cursor *c) {
        uint8_t v = 0;

        if (c->left > 0) {
                v = c->p[0];
                c->p++;
                c->left--;
        }
        return v;
}

uint16_t fuzz_u16(struct fuzz_cursor *c) {
        return (uint16_t)(fuzz_u8(c) << 8 | fuzz_u8(c));
}

uint32_t fuzz_u32(struct fuzz_cursor *c) {
        return (uint32_t)fuzz_u16(c) << 16 | fuzz_u16(c);
}

size_t fuzz_bytes(struct fuzz_cursor *c, size_t max, const uint8_t **ret_p) {
        size_t n = max < c->left ? max : c->left;

        *ret_p = c->p;
        c->p += n;
        c->left -= n;
        return n;
}

static void die(const char *what) {
        fprintf(stderr, "fuzz: %s: %s\n", what, strerror(errno));
        abort();
}

static void write_all(int fd, const uint8_t *data, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, data, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        die("write");
                data += n;
                size -= (size_t)n;
        }
}

/* A key file as umc_keyfile_load() wants it: 64 hex digits, a newline, 0600. */
static void make_key(const char *dir) {
        static const char hex[] = "000102030405060708090a0b0c0d0e0f"
                                  "101112131415161718191a1b1c1d1e1f\n";
        char path[256];
        int fd;

        (void)snprintf(path, sizeof(path), "%s/key", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || fchmod(fd, 0600) < 0)
                die(path);
        write_all(fd, (const uint8_t *)hex, strlen(hex));
        (void)close(fd);
}

const char *fuzz_private_dir(const char *want) {
        char *dir;
        struct stat st;

        if (mkdir(want, 0700) < 0 && errno != EEXIST)
                die(want);
        /* /tmp and /dev/shm are shared: use want only if it is ours and private. */
        if (lstat(want, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
            !(st.st_mode & 077))
                return want;
        if (asprintf(&dir, "%s-XXXXXX", want) < 0 || !mkdtemp(dir))
                die(want);
        return dir; /* lives as long as the process */
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static char *scratch[4];

static void remove_scratch(void) {
        for (size_t i = 0; i < sizeof(scratch) / sizeof(scratch[0]) && scratch[i]; i++)
                (void)nftw(scratch[i], rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_scratch_dir(const char *want) {
        size_t i = 0;

        while (i < sizeof(scratch) / sizeof(scratch[0]) && scratch[i])
                i++;
        if (i == sizeof(scratch) / sizeof(scratch[0]))
                die("too many scratch directories");
        if (asprintf(&scratch[i], "%s-XXXXXX", want) < 0 || !mkdtemp(scratch[i]))
                die(want);
        if (i == 0)
                (void)atexit(remove_scratch);
        return scratch[i];
}

const char *fuzz_dir(void) {
        static const char *dir;

        if (!dir) {
                dir = fuzz_private_dir(FUZZ_DIR);
                make_key(dir);
        }
        return dir;
}

const char *fuzz_memfd_path(const uint8_t *data, size_t size) {
        static char path[64];
        static int fd = -1;

        if (fd < 0) {
                fd = memfd_create("umc-fuzz", MFD_CLOEXEC);
                if (fd < 0)
                        die("memfd_create");
                (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        }
        if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
                die("ftruncate");
        write_all(fd, data, size);
        return path;
}

const char *fuzz_file(const char *name, const uint8_t *data, size_t size) {
        static const char *dir;
        static char path[256];
        int fd;

        /* tmpfs: rewriting a file on every input costs a journal commit on disk. */
        if (!dir)
                dir = fuzz_scratch_dir("/dev/shm/umc-fuzz");
        (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                die(path);
        write_all(fd, data, size);
        (void)close(fd);
        return path;
}
