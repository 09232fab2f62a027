/* SPDX-License-Identifier: MIT */
#include "umc/partial.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "umc/fs.h"
#include "umc/util.h"

/* Hash the bytes already in the file (what an earlier run wrote). */
static int rehash(struct umc_partial *p, uint64_t len) {
        uint8_t buf[64 * 1024];
        uint64_t off = 0;

        while (off < len) {
                size_t want = len - off < sizeof(buf) ? (size_t)(len - off) : sizeof(buf);
                ssize_t n = pread(p->fd, buf, want, (off_t)off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                int r = umc_hash_update(&p->hash, buf, (size_t)n);
                if (r < 0)
                        return r;
                off += (uint64_t)n;
        }
        p->have = len;
        return 0;
}

static int open_file(struct umc_partial *p, uint64_t *ret_len) {
        struct stat st;

        /* O_NOFOLLOW: a planted symlink must not redirect our writes. */
        p->fd = openat(p->dirfd, p->name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (p->fd < 0)
                return -errno;
        if (fstat(p->fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        *ret_len = (uint64_t)st.st_size;
        return 0;
}

int umc_partial_open(int dirfd, uint64_t size, const uint8_t sha256[UMC_HASH_LEN],
                     struct umc_partial *p) {
        char hex[2 * UMC_HASH_LEN + 1];
        uint64_t len = 0;
        int r;

        if (!p || !sha256 || size == 0 || size > (uint64_t)UMC_FS_OFF_MAX)
                return -EINVAL;
        *p = (struct umc_partial){ .dirfd = dirfd, .fd = -1, .size = size };
        memcpy(p->sha256, sha256, UMC_HASH_LEN);
        umc_hex_encode(sha256, UMC_HASH_LEN, hex);
        snprintf(p->name, sizeof(p->name), "%s.part", hex);
        r = umc_hash_init(&p->hash, UMC_HASH_SHA256);
        if (r >= 0)
                r = open_file(p, &len);
        /* Longer than the signed size: not ours to resume from. */
        if (r >= 0 && len > size && ftruncate(p->fd, 0) < 0)
                r = -errno;
        if (r >= 0 && len <= size)
                r = rehash(p, len);
        if (r < 0)
                umc_partial_close(p);
        return r;
}

void umc_partial_close(struct umc_partial *p) {
        if (!p)
                return;
        umc_hash_done(&p->hash);
        umc_closep(&p->fd);
        p->fd = -1;
}

int umc_partial_restart(struct umc_partial *p) {
        umc_hash_done(&p->hash);
        if (ftruncate(p->fd, 0) < 0)
                return -errno;
        p->have = 0;
        p->overflow = false;
        return umc_hash_init(&p->hash, UMC_HASH_SHA256);
}

int umc_partial_write(struct umc_partial *p, const void *buf, size_t len) {
        int r;

        if (!p || p->fd < 0)
                return -EINVAL;
        if (len > p->size - p->have) {
                p->overflow = true;
                return -EFBIG;
        }
        r = umc_fs_pwrite_all(p->fd, buf, len, (off_t)p->have);
        if (r < 0)
                return r;
        r = umc_hash_update(&p->hash, buf, len);
        if (r < 0)
                return r;
        p->have += len;
        return 0;
}

int umc_partial_check_space(const struct umc_partial *p, uint64_t margin) {
        struct statvfs sv;
        uint64_t free_bytes, need = p->size - p->have;

        if (fstatvfs(p->fd, &sv) < 0)
                return -errno;
        free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
        if (need > UINT64_MAX - margin || free_bytes < need + margin)
                return -ENOSPC;
        return 0;
}

static int commit(struct umc_partial *p, const char *final_name) {
        if (fsync(p->fd) < 0)
                return -errno;
        if (renameat(p->dirfd, p->name, p->dirfd, final_name) < 0)
                return -errno;
        return umc_fs_fsync_dir(p->dirfd);
}

int umc_partial_finish(struct umc_partial *p, const char *final_name,
                       enum umc_reason *ret_reason) {
        uint8_t got[UMC_HASH_LEN];
        int r;

        if (!p || p->fd < 0 || !final_name || !*final_name || strchr(final_name, '/'))
                return -EINVAL;
        if (p->have != p->size) {
                *ret_reason = UMC_REASON_PKG_IMAGE_SIZE;
                umc_partial_discard(p);
                return -EBADMSG;
        }
        r = umc_hash_final(&p->hash, got);
        if (r < 0) {
                umc_partial_close(p);
                return r;
        }
        if (!umc_memeq_ct(got, p->sha256, UMC_HASH_LEN)) {
                *ret_reason = UMC_REASON_IMAGE_HASH_MISMATCH;
                umc_partial_discard(p);
                return -EBADMSG;
        }
        r = commit(p, final_name);
        umc_partial_close(p);
        if (r >= 0)
                *ret_reason = UMC_REASON_OK;
        return r;
}

void umc_partial_discard(struct umc_partial *p) {
        if (!p)
                return;
        umc_partial_close(p);
        (void)unlinkat(p->dirfd, p->name, 0);
}
