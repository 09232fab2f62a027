/* SPDX-License-Identifier: MIT */
/*
 * Provisioned master keys. A key file holds exactly 64 hex digits (32 bytes)
 * and an optional trailing newline. It must be a regular file, owned by the
 * calling user or root, with no group or other permission bits
 * (mode 0600 or 0400): a key others can read is refused.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "umc/kdf.h"

/*
 * Load path into ret (written only on success). The file is opened with
 * O_NOFOLLOW|O_NONBLOCK and every check is made on the open descriptor
 * (fstat), so a path swapped after the check cannot slip through. The read
 * buffer is cleansed. Errors:
 *   -ENOENT, -EACCES  cannot be opened (errno of open(2));
 *   -ELOOP            the last path component is a symbolic link (refused);
 *   -ENOTSUP          not a regular file (directory, FIFO, device, ...);
 *   -EPERM            group/other permission bits set, or owned by neither
 *                     the effective user nor root;
 *   -EFBIG            larger than 128 bytes;
 *   -EINVAL           not exactly 64 hex digits and an optional single
 *                     "\n", or a NULL path/ret.
 * On failure why (see umc_why(); may be NULL) names what was wrong, e.g.
 * "the key file is a symbolic link".
 */
int umc_keyfile_load(const char *path, uint8_t ret[UMC_MASTER_KEY_LEN], char *why,
                     size_t why_size);
