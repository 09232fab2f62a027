/* SPDX-License-Identifier: MIT */
/*
 * umcd's gate for signed packages (docs/package.md): before the install
 * path (manager.c) sees a manifest, a package directory that holds
 * manifest.json.p7s (or .sm2) is verified against [Package] TrustAnchor=
 * (and Crl=), and then passes the checks of [Package] CheckOrder= in
 * that order: factory parameters against [Device], each image's ECU and
 * hardware ID against its [Target NAME], anti-rollback against the
 * security version umcd recorded for the target, and the sealed feature
 * code against [Device] FeatureCode= (opened with FeatureKeyFile=; a
 * manifest without one is refused when the check is listed). The first failure stops
 * the rest. A directory without a signature is a format-1 package: it is
 * refused (PKG_UNSIGNED) under RequireSignature=yes, else left to the
 * format-1 loader.
 *
 * Installed security versions live in STATE/security-versions, one
 * "NAME=NUMBER" line per target, written atomically (fs.h) when a target
 * completes. The cloud client (update.c) runs the same checks on a
 * manifest it fetched. Nothing here logs; nothing is kept between calls.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/config.h"
#include "umc/manifest.h"
#include "umc/package.h"
#include "umc/reason.h"

#define UMC_SIGNEDPKG_VERSIONS_FILE "security-versions"

/* What the install path needs to know of an accepted package. */
struct umc_signedpkg_info {
        bool is_signed;
        uint64_t security_version;      /* signed packages only */
};

/*
 * Load the package directory dir for install at time now (seconds since
 * the epoch). Returns 1 when it is signed and passed every check: *ret
 * holds its format-1 view (umc_package_to_manifest(); the caller frees
 * it) and *ret_info says so. Returns 0 for a directory without a
 * signature file when unsigned packages are allowed: *ret untouched, the
 * caller loads format 1. Returns -EBADMSG when refused, with *ret_reason
 * and why ("0x0705 PKG_CERT_UNTRUSTED: ..."); another negative errno when
 * a file cannot be read (why names it). state_fd: the StateDirectory=.
 */
int umc_signedpkg_load(const struct umc_daemon_config *c, int state_fd, const char *dir,
                       int64_t now, struct umc_manifest *ret, struct umc_signedpkg_info *ret_info,
                       enum umc_reason *ret_reason, char *why, size_t why_size);

/*
 * The same from the package directory already open as dirfd
 * (O_RDONLY|O_DIRECTORY; borrowed), so that what is verified is the
 * directory the caller checked; dir only names it in messages.
 */
int umc_signedpkg_load_at(const struct umc_daemon_config *c, int state_fd, int dirfd,
                          const char *dir, int64_t now, struct umc_manifest *ret,
                          struct umc_signedpkg_info *ret_info, enum umc_reason *ret_reason,
                          char *why, size_t why_size);

/*
 * The checks after the signature, in c->checks order, on a package whose
 * signature verified. OK, or the first refusal with why.
 */
enum umc_reason umc_signedpkg_check(const struct umc_daemon_config *c, int state_fd,
                                    const struct umc_package *p, char *why, size_t why_size);

/* The security version recorded for target; 0 when none is (nothing signed installed yet). */
int umc_signedpkg_installed(int state_fd, const char *target, uint64_t *ret);

/*
 * Record that target now runs an image of security version v: what it
 * runs, so after a signed downgrade v is lower (docs/package.md,
 * "Anti-rollback"). 0 or a negative errno; the file is replaced atomically.
 */
int umc_signedpkg_record(int state_fd, const char *target, uint64_t v);
