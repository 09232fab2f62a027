/* SPDX-License-Identifier: MIT */
#include "umc/keyfile.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "umc/util.h"

/* 64 hex digits and a newline fit; anything much larger is not a key file. */
#define KEYFILE_SIZE_MAX 128
#define KEYFILE_HEX_LEN (2 * UMC_MASTER_KEY_LEN)

static int fail(const char **ret_why, const char *why, int r) {
        if (ret_why)
                *ret_why = why;
        return r;
}

/* The checks on the opened file itself (fstat: no race with a renamed path). */
static int check_stat(int fd, const char **ret_why) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return fail(ret_why, "cannot stat the key file", -errno);
        if (!S_ISREG(st.st_mode))
                return fail(ret_why, "the key file is not a regular file", -ENOTSUP);
        if (st.st_mode & 077)
                return fail(ret_why,
                            "the key file has group or other permission bits (use mode 0600 or 0400)",
                            -EPERM);
        if (st.st_uid != geteuid() && st.st_uid != 0)
                return fail(ret_why, "the key file is owned by another user (not us, not root)",
                            -EPERM);
        if (st.st_size > KEYFILE_SIZE_MAX)
                return fail(ret_why, "the key file is larger than 128 bytes", -EFBIG);
        return 0;
}

/* Read up to size bytes; *ret_len > KEYFILE_SIZE_MAX means the file grew past the limit. */
static int read_all(int fd, char *buf, size_t size, size_t *ret_len) {
        size_t len = 0;

        while (len < size) {
                ssize_t n = read(fd, buf + len, size - len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        *ret_len = len;
        return 0;
}

static int parse_key(const char *buf, size_t len, uint8_t key[UMC_MASTER_KEY_LEN],
                     const char **ret_why) {
        if (len == KEYFILE_HEX_LEN + 1 && buf[KEYFILE_HEX_LEN] == '\n')
                len--;
        if (len != KEYFILE_HEX_LEN)
                return fail(ret_why,
                            "the key file must hold exactly 64 hex digits and an optional newline",
                            -EINVAL);
        if (umc_hex_decode(buf, len, key, UMC_MASTER_KEY_LEN) < 0)
                return fail(ret_why, "the key file holds a character that is not a hex digit",
                            -EINVAL);
        return 0;
}

int umc_keyfile_load(const char *path, uint8_t ret[UMC_MASTER_KEY_LEN], const char **ret_why) {
        _cleanup_close_ int fd = -1;
        char buf[KEYFILE_SIZE_MAX + 1];
        uint8_t key[UMC_MASTER_KEY_LEN];
        size_t len = 0;
        int r;

        if (!path || !ret)
                return fail(ret_why, "no key file path or output", -EINVAL);

        /* O_NOFOLLOW: a symlink is refused (ELOOP); O_NONBLOCK: a FIFO cannot hang us. */
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                return fail(ret_why,
                            r == -ELOOP ? "the key file is a symbolic link"
                                        : "cannot open the key file",
                            r);
        }
        r = check_stat(fd, ret_why);
        if (r < 0)
                return r;

        r = read_all(fd, buf, sizeof(buf), &len);
        if (r < 0) {
                r = fail(ret_why, "cannot read the key file", r);
                goto finish;
        }
        if (len > KEYFILE_SIZE_MAX) {
                r = fail(ret_why, "the key file is larger than 128 bytes", -EFBIG);
                goto finish;
        }
        r = parse_key(buf, len, key, ret_why);
        if (r < 0)
                goto finish;
        memcpy(ret, key, UMC_MASTER_KEY_LEN);
finish:
        umc_memzero(buf, sizeof(buf));
        umc_memzero(key, sizeof(key));
        return r;
}
