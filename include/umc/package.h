/* SPDX-License-Identifier: MIT */
/*
 * Signed packages: the manifest format 2 (docs/package.md), its strict
 * parser, the package directory's loader that verifies the signature
 * before a byte of JSON is parsed, and the device's checks as pure
 * functions, each returning a reason code and a text naming what was wrong.
 *
 * A signed package is today's package directory grown up:
 *
 *     DIR/manifest.json       the manifest, format 2, exactly as signed
 *     DIR/manifest.json.p7s   detached CMS SignedData over those bytes, DER,
 *  or DIR/manifest.json.sm2   the SM2 format of sig.h (exactly one of the two)
 *     DIR/<file>              one image per target, as the manifest names
 *
 * The order of the checks, the same on umcd, on the ECU and in
 * `umc-pack verify` (docs/package.md, "The checks"): signature (sig.h) →
 * manifest syntax → expiry → feature code (where a device is configured
 * for it) → factory parameters → size and SHA-256 of each
 * image file as shipped → per ECU: its entry and hardware ID →
 * anti-rollback → decryption and the plaintext's size and SHA-256 (on the
 * ECU that holds the package key).
 *
 * A struct umc_package owns its images array (umc_package_free()); the
 * rest are plain values. Nothing here logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/ecu.h"
#include "umc/featcode.h"
#include "umc/hash.h"
#include "umc/manifest.h"
#include "umc/pkgenc.h"
#include "umc/reason.h"
#include "umc/sig.h"

#define UMC_PACKAGE_FORMAT 2
#define UMC_PACKAGE_MANIFEST "manifest.json"
#define UMC_PACKAGE_SIGNATURE "manifest.json.p7s"
#define UMC_PACKAGE_SIGNATURE_SM2 "manifest.json.sm2"
#define UMC_PACKAGE_MAX_BYTES UMC_MANIFEST_MAX_BYTES
#define UMC_PACKAGE_MAX_IMAGES UMC_MANIFEST_MAX_IMAGES
#define UMC_PACKAGE_TEXT_MAX 64          /* names, versions, model, hardware revision */
#define UMC_PACKAGE_MATERIAL_MAX 1024    /* post-flash check material, bytes */
#define UMC_PACKAGE_TIMEOUT_MAX 86400    /* post-flash timeout, seconds */
/* Security versions stay exact in a JSON number (a double): 2^53 - 1. */
#define UMC_PACKAGE_SECURITY_VERSION_MAX ((UINT64_C(1) << 53) - 1)

struct umc_package_image {
        char target[UMC_MANIFEST_TARGET_MAX + 1];
        uint32_t ecu_id;
        char hw_id[UMC_HWID_MAX + 1];
        char version[UMC_PACKAGE_TEXT_MAX + 1];
        char file[UMC_MANIFEST_FILE_MAX + 1];
        uint64_t size;                  /* of the file as shipped (sealed when encrypted) */
        uint8_t sha256[UMC_HASH_LEN];   /* of the file as shipped */

        bool has_downgrade;             /* signed permission to go below an installed version */
        uint64_t downgrade_max;         /* ... from installed security versions <= this */

        bool has_post_flash;
        uint32_t post_flash_timeout_sec; /* 0: not given */
        uint8_t material[UMC_PACKAGE_MATERIAL_MAX];
        size_t material_len;

        bool encrypted;                 /* pkgenc.h: sealed for this ECU alone */
        uint8_t salt[UMC_PKGENC_SALT_LEN];
        uint64_t plain_size;            /* encrypted: the image once opened */
        uint8_t plain_sha256[UMC_HASH_LEN];
};

struct umc_package {
        char name[UMC_PACKAGE_TEXT_MAX + 1];
        char package_version[UMC_PACKAGE_TEXT_MAX + 1];
        uint64_t security_version;
        int64_t expires;                /* seconds since the epoch, UTC */
        char vehicle_model[UMC_PACKAGE_TEXT_MAX + 1];
        char hw_revision[UMC_PACKAGE_TEXT_MAX + 1];
        bool has_feature_code;          /* "feature_code" present (featcode.h) */
        struct umc_featcode_sealed feature_code;
        uint8_t hash[UMC_HASH_LEN];     /* SHA-256 of the manifest bytes */
        struct umc_package_image *images; /* owned */
        size_t n_images;
};

/*
 * Parse len bytes of format-2 manifest JSON. Strict: no NUL byte, nothing
 * after the document (not even white space), no unknown or repeated key,
 * every type, range and length as docs/package.md says. Returns 0, -EINVAL
 * with why naming the defect (why may be NULL), -E2BIG above
 * UMC_PACKAGE_MAX_BYTES, -ENOMEM. ret is written only on success.
 */
int umc_package_parse(const char *json, size_t len, struct umc_package *ret, char *why,
                      size_t why_size);

/* Accepts NULL and zeroed structs. */
void umc_package_free(struct umc_package *p);

/* Borrowed pointers into p, NULL when absent. */
const struct umc_package_image *umc_package_find(const struct umc_package *p, const char *target);
const struct umc_package_image *umc_package_find_ecu(const struct umc_package *p, uint32_t ecu_id);

/*
 * Parse "YYYY-MM-DDTHH:MM:SSZ" (RFC 3339, UTC, no fraction) into seconds
 * since the epoch. 0 or -EINVAL (any other form, an impossible date).
 */
int umc_package_time_parse(const char *s, int64_t *ret);
/* Format t as above into out (21 bytes). -EINVAL for a time outside years 1970..9999. */
int umc_package_time_format(int64_t t, char out[21]);

/*
 * Load DIR (an absolute or relative path): read manifest.json and its
 * signature (regular files, not through a symlink, bounded; both
 * signature files present is PKG_SIG_MALFORMED), verify the
 * signature with trust at time now, and only then parse the manifest and
 * check its expiry. Returns 0 with *ret filled and *ret_reason OK;
 * -EBADMSG with *ret_reason and why saying what was refused; or a
 * negative errno when a file cannot be read (why names it). *ret_signer
 * (may be NULL) is filled once the signature verified, also when a later
 * check refuses the package.
 */
int umc_package_load(const char *dir, const struct umc_sig_trust *trust, int64_t now,
                     struct umc_package *ret, struct umc_sig_signer *ret_signer,
                     enum umc_reason *ret_reason, char *why, size_t why_size);

/* The same from a directory already open (O_RDONLY|O_DIRECTORY; borrowed). */
int umc_package_load_at(int dirfd, const struct umc_sig_trust *trust, int64_t now,
                        struct umc_package *ret, struct umc_sig_signer *ret_signer,
                        enum umc_reason *ret_reason, char *why, size_t why_size);

/* The checks. Each returns OK or the reason, with why (may be NULL) saying why. */

/* PKG_EXPIRED when now is at or after the manifest's expiry. */
enum umc_reason umc_package_check_expiry(const struct umc_package *p, int64_t now, char *why,
                                         size_t why_size);

/*
 * PKG_FACTORY_MISMATCH unless the vehicle model and the hardware revision
 * are exactly the device's (case-sensitive).
 */
enum umc_reason umc_package_check_factory(const struct umc_package *p, const char *model,
                                          const char *hw_revision, char *why, size_t why_size);

/*
 * PKG_FEATURE_MISMATCH unless the manifest carries a feature code that
 * opens with feature_key for this package (featcode.h) and equals code
 * (constant-time). why never shows the decrypted code: it says which of
 * "absent", "does not open" or "another code" it was.
 */
enum umc_reason umc_package_check_feature(const struct umc_package *p,
                                          const uint8_t feature_key[UMC_FEATCODE_KEY_LEN],
                                          const char *code, char *why, size_t why_size);

/*
 * The entry for the ECU ecu_id: PKG_NO_TARGET when there is none,
 * PKG_HW_MISMATCH when its hardware ID is not hw_id (constant-time
 * compare of the whole buffer). *ret (may be NULL) set on OK.
 */
enum umc_reason umc_package_check_ecu(const struct umc_package *p, uint32_t ecu_id,
                                      const char *hw_id, const struct umc_package_image **ret,
                                      char *why, size_t why_size);

/*
 * Anti-rollback for one target with installed security version installed:
 * OK when the package's security version is at least installed, or when
 * the image carries a downgrade permission whose downgrade_max is at least
 * installed; PKG_ROLLBACK otherwise.
 */
enum umc_reason umc_package_check_rollback(const struct umc_package *p,
                                           const struct umc_package_image *img,
                                           uint64_t installed, char *why, size_t why_size);

/* PKG_IMAGE_SIZE or IMAGE_HASH_MISMATCH (constant-time) against the manifest. */
enum umc_reason umc_package_check_image(const struct umc_package_image *img, uint64_t size,
                                        const uint8_t sha256[UMC_HASH_LEN], char *why,
                                        size_t why_size);

/*
 * Hash the image file of img in the package directory dirfd (regular,
 * not through a symlink; never more than img->size + 1 bytes read) and
 * check it with umc_package_check_image(). Returns the reason in
 * *ret_reason; a negative errno when the file cannot be read.
 */
int umc_package_check_image_file(int dirfd, const struct umc_package_image *img,
                                 enum umc_reason *ret_reason, char *why, size_t why_size);

/*
 * The ECU's check of an encrypted image with its package key: open the
 * image file (as umc_package_check_image_file()), authenticate every
 * segment and compare the plaintext's size and SHA-256 with the manifest.
 * *ret_reason: OK, PKG_DECRYPT_FAILED (a segment does not authenticate:
 * wrong key, tampered or truncated file), PKG_IMAGE_SIZE or
 * IMAGE_HASH_MISMATCH for the plaintext. -EINVAL for an image that is not
 * encrypted; a negative errno when the file cannot be read.
 */
int umc_package_check_sealed_file(int dirfd, const struct umc_package_image *img,
                                  const uint8_t pkg_key[UMC_PKGENC_KEY_LEN],
                                  enum umc_reason *ret_reason, char *why, size_t why_size);

/*
 * A format-1 view of p (target, version, file, size, SHA-256 per image,
 * the manifest's name and hash) for the existing delivery path, which
 * takes struct umc_manifest. ret owned by the caller (umc_manifest_free()).
 * 0 or -ENOMEM.
 */
int umc_package_to_manifest(const struct umc_package *p, struct umc_manifest *ret);
