/* SPDX-License-Identifier: MIT */
/*
 * Package manifest: which image goes to which target, at which version,
 * with which size and SHA-256. A package is (for now) a directory holding
 * manifest.json and the image files it names; signature and encryption of
 * the package arrive with the cloud pull and wrap this same manifest.
 *
 * manifest.json:
 *   { "format": 1, "name": "bcm-2026.11",
 *     "images": [ { "target": "bcm", "version": "1.2.3", "file": "bcm.bin",
 *                   "size": 1048576, "sha256": "<64 hex>" } ] }
 * Parsing is strict: unknown keys, wrong types, out-of-range values, file
 * names with a path component, duplicate targets are all refused with a
 * message naming the field. So is anything two JSON readers could read as
 * different manifests: data after the top-level object other than JSON
 * whitespace, a control character outside it, a NUL, \u0000 in a string.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "umc/hash.h"

#define UMC_MANIFEST_MAX_BYTES (1024 * 1024)
#define UMC_MANIFEST_MAX_IMAGES 256
#define UMC_MANIFEST_NAME_MAX 64
#define UMC_MANIFEST_TARGET_MAX 31
#define UMC_MANIFEST_FILE_MAX 128
#define UMC_MANIFEST_IMAGE_MAX_SIZE (UINT64_C(1) << 40)

struct umc_manifest_image {
        char target[UMC_MANIFEST_TARGET_MAX + 1];
        char version[UMC_MANIFEST_NAME_MAX + 1];
        char file[UMC_MANIFEST_FILE_MAX + 1];
        uint64_t size;
        uint8_t sha256[UMC_HASH_LEN];
};

struct umc_manifest {
        char name[UMC_MANIFEST_NAME_MAX + 1];
        uint8_t hash[UMC_HASH_LEN];   /* SHA-256 of the manifest bytes: what the HMI shows */
        struct umc_manifest_image *images; /* owned */
        size_t n_images;
};

/*
 * Parse len bytes of manifest JSON. Returns 0, -EINVAL with why (a
 * caller-provided buffer of why_size bytes, may be NULL) naming the
 * defect, -E2BIG above UMC_MANIFEST_MAX_BYTES, -ENOMEM. ret is written
 * only on success; free it with umc_manifest_free().
 */
int umc_manifest_parse(const char *json, size_t len, struct umc_manifest *ret, char *why,
                       size_t why_size);

/* Read DIR/manifest.json and parse it. I/O errors as negative errno. */
int umc_manifest_load(const char *dir, struct umc_manifest *ret, char *why, size_t why_size);

/*
 * The same from a directory already open (O_RDONLY|O_DIRECTORY; borrowed):
 * what is read is the directory the caller checked, even if its path is
 * renamed or replaced meanwhile.
 */
int umc_manifest_load_at(int dirfd, struct umc_manifest *ret, char *why, size_t why_size);

/*
 * Why a symbolic link is never an image: umcd reads packages with more
 * rights than whoever wrote them, and a link would make it read and send
 * a file outside the package (a key, another package's image) that the
 * manifest's author never had to be able to read.
 */
#define UMC_MANIFEST_LINK_REFUSED                                                            \
        "a symbolic link, refused: the files of a package must be regular files in its "     \
        "directory, so that no link can point umcd at another file; copy the file there"

/*
 * Whether an image file with status st (from fstat(), or fstatat() with
 * AT_SYMLINK_NOFOLLOW) may be installed as img: a regular file, not a
 * symbolic link, of exactly img->size bytes. -EINVAL with why naming the
 * file, its target and the defect.
 */
int umc_manifest_check_image_stat(const struct umc_manifest_image *img, const struct stat *st,
                                  char *why, size_t why_size);

/*
 * Check every image file of m in the package directory dirfd as install
 * will (present, regular, no link, the manifest's size), without opening
 * any of them and without reading or hashing their contents: the SHA-256
 * of each image is verified by install. -EINVAL with why for the first
 * image that fails, -ENOMEM.
 */
int umc_manifest_check_files(int dirfd, const struct umc_manifest *m, char *why,
                             size_t why_size);

/* Accepts NULL and zeroed structs. */
void umc_manifest_free(struct umc_manifest *m);

const struct umc_manifest_image *umc_manifest_find(const struct umc_manifest *m,
                                                   const char *target);
