/* SPDX-License-Identifier: MIT */
/*
 * The signed manifest of a package as bytes to pass on (MANIFEST frames,
 * mfmsg.h): manifest.json and its detached signature read from a package
 * directory, or copied from what a receiver assembled (a gateway passes
 * on what it received). Nothing here verifies: the ECU does (ecucheck.h),
 * and umcd's own check of signed packages is package.h's.
 *
 * A struct umc_mfbuf owns its two buffers (umc_mfbuf_free()).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/mfmsg.h"

struct umc_mfbuf {
        enum umc_mfmsg_format format;
        uint8_t *manifest;
        size_t manifest_len;
        uint8_t *sig;
        size_t sig_len;
};

/*
 * Read DIR/manifest.json and DIR/manifest.json.p7s (or .sm2) as regular
 * files, not through a symlink. -ENOENT when the directory has neither
 * signature file (an unsigned package); -EBADMSG when it has both, or
 * when a file is empty or above the wire caps of mfmsg.h (why says which);
 * a negative errno when a file cannot be read. ret written only on success.
 */
int umc_mfbuf_load(const char *dir, struct umc_mfbuf *ret, char *why, size_t why_size);

/* The same from a directory already open (O_RDONLY|O_DIRECTORY; borrowed). */
int umc_mfbuf_load_at(int dirfd, struct umc_mfbuf *ret, char *why, size_t why_size);
/* Copy m (which must be valid) into ret. 0, -EINVAL, -ENOMEM. */
int umc_mfbuf_copy(const struct umc_signed_manifest *m, struct umc_mfbuf *ret);
/* A borrowed view of b for umc_sender_params.manifest. */
void umc_mfbuf_view(const struct umc_mfbuf *b, struct umc_signed_manifest *ret);
/* Accepts NULL and zeroed structs. */
void umc_mfbuf_free(struct umc_mfbuf *b);
