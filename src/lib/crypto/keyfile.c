/* SPDX-License-Identifier: MIT */
#include "umc/keyfile.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "umc/fs.h"
#include "umc/util.h"

/* 64 hex digits and a newline fit; anything much larger is not a key file. */
#define KEYFILE_SIZE_MAX 128
#define KEYFILE_HEX_LEN (2 * UMC_MASTER_KEY_LEN)

static int fail(char *why, size_t why_size, const char *text, int r) {
        return umc_why(why, why_size, r, "%s", text);
}

/* The checks on the opened file itself (fstat: no race with a renamed path). */
static int check_stat(int fd, char *why, size_t why_size) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return fail(why, why_size, "cannot stat the key file", -errno);
        if (!S_ISREG(st.st_mode))
                return fail(why, why_size, "the key file is not a regular file", -ENOTSUP);
        if (st.st_mode & 077)
                return fail(why, why_size,
                            "the key file has group or other permission bits (use mode 0600 or 0400)",
                            -EPERM);
        if (st.st_uid != geteuid() && st.st_uid != 0)
                return fail(why, why_size,
                            "the key file is owned by another user (not us, not root)",
                            -EPERM);
        if (st.st_size > KEYFILE_SIZE_MAX)
                return fail(why, why_size, "the key file is larger than 128 bytes", -EFBIG);
        return 0;
}

static int parse_key(const char *buf, size_t len, uint8_t key[UMC_MASTER_KEY_LEN],
                     char *why, size_t why_size) {
        if (len == KEYFILE_HEX_LEN + 1 && buf[KEYFILE_HEX_LEN] == '\n')
                len--;
        if (len != KEYFILE_HEX_LEN)
                return fail(why, why_size,
                            "the key file must hold exactly 64 hex digits and an optional newline",
                            -EINVAL);
        if (umc_hex_decode(buf, len, key, UMC_MASTER_KEY_LEN) < 0)
                return fail(why, why_size, "the key file holds a character that is not a hex digit",
                            -EINVAL);
        return 0;
}

int umc_keyfile_load(const char *path, uint8_t ret[UMC_MASTER_KEY_LEN], char *why,
                     size_t why_size) {
        _cleanup_close_ int fd = -1;
        char buf[KEYFILE_SIZE_MAX + 1];
        uint8_t key[UMC_MASTER_KEY_LEN];
        size_t len = 0;
        int r;

        if (!path || !ret)
                return fail(why, why_size, "no key file path or output", -EINVAL);

        /* O_NOFOLLOW: a symlink is refused (ELOOP); O_NONBLOCK: a FIFO cannot hang us. */
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                return fail(why, why_size,
                            r == -ELOOP ? "the key file is a symbolic link"
                                        : "cannot open the key file",
                            r);
        }
        r = check_stat(fd, why, why_size);
        if (r < 0)
                return r;

        /* One byte past the limit tells a file that grew after the fstat(). */
        r = umc_fs_read_all(fd, buf, sizeof(buf), &len);
        if (r < 0) {
                r = fail(why, why_size, "cannot read the key file", r);
                goto finish;
        }
        if (len > KEYFILE_SIZE_MAX) {
                r = fail(why, why_size, "the key file is larger than 128 bytes", -EFBIG);
                goto finish;
        }
        r = parse_key(buf, len, key, why, why_size);
        if (r < 0)
                goto finish;
        memcpy(ret, key, UMC_MASTER_KEY_LEN);
finish:
        umc_memzero(buf, sizeof(buf));
        umc_memzero(key, sizeof(key));
        return r;
}
