/* SPDX-License-Identifier: MIT */
/*
 * A download's partial file: the bytes of one image as they arrive,
 * capped at the size the signed manifest gives and hashed as they are
 * written, kept in the state directory so that a dropped connection or a
 * restart resumes where it stopped (docs/cloud-api.md, "Downloads").
 *
 * The partial file is named after the image's signed SHA-256
 * ("<64 hex>.part"), so only the same image ever resumes from it. At
 * open, the bytes already there are hashed again (they were written by
 * us, but a crash may have left any prefix; the final hash covers them),
 * and a partial longer than the signed size is discarded. On finish the
 * size and SHA-256 are compared with the manifest's; a match is fsynced and
 * renamed to its final name (then the directory fsynced), a mismatch
 * deletes the partial file. Nothing here logs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "umc/hash.h"
#include "umc/reason.h"

struct umc_partial {
        int dirfd;                   /* borrowed */
        int fd;                      /* owned */
        char name[2 * UMC_HASH_LEN + 6];
        uint64_t size;               /* signed size */
        uint64_t have;               /* bytes in the file and in the hash */
        uint8_t sha256[UMC_HASH_LEN];/* signed hash */
        struct umc_hash hash;
        bool overflow;               /* a write went past size: refused */
};

/*
 * Open (or create, mode 0600) the partial file for an image of size bytes
 * with SHA-256 sha256 in dirfd and hash what it holds. 0 with *p ready;
 * -EINVAL (size 0), or the negative errno of the file calls.
 */
int umc_partial_open(int dirfd, uint64_t size, const uint8_t sha256[UMC_HASH_LEN],
                     struct umc_partial *p);

/* Close without deleting. Accepts a zeroed or closed p. */
void umc_partial_close(struct umc_partial *p);

/* Start over: truncate to 0 and reset the hash (a server that ignored a range). */
int umc_partial_restart(struct umc_partial *p);

/*
 * Append len bytes. -EFBIG (and nothing written, p->overflow set) when
 * they would pass the signed size; the negative errno of write(2).
 */
int umc_partial_write(struct umc_partial *p, const void *buf, size_t len);

/*
 * Bytes of free space needed to finish: 0 when enough is free in the
 * file system of dirfd (statvfs, blocks available to unprivileged users,
 * plus margin bytes), else -ENOSPC; the negative errno of fstatvfs.
 */
int umc_partial_check_space(const struct umc_partial *p, uint64_t margin);

/*
 * The download says it is complete. Compare size and hash with the signed
 * ones: on a match fsync, rename to dirfd/final_name, fsync dirfd and
 * return 0 with *ret_reason OK. On a mismatch the partial file is deleted
 * and -EBADMSG returned with *ret_reason PKG_IMAGE_SIZE or
 * IMAGE_HASH_MISMATCH. p is closed either way. Other negative errnos
 * for file calls.
 */
int umc_partial_finish(struct umc_partial *p, const char *final_name,
                       enum umc_reason *ret_reason);

/* Close p and delete its file (a package that failed). */
void umc_partial_discard(struct umc_partial *p);
