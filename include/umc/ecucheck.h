/* SPDX-License-Identifier: MIT */
/*
 * The ECU's own check of a delivery against the backend's signature
 * (docs/package.md, "What the ECU checks"). umc-agent installs it as the
 * receiver's gate (xfer.h), so that a compromised T-Box or gateway alone
 * cannot install an image the backend did not sign:
 *
 *   at BEGIN      a signed manifest came (unless RequireSignature=no);
 *                 its signature verifies against TrustAnchor= (and Crl=)
 *                 at the current time; then the manifest's syntax and
 *                 expiry; its entry for this ECU ID with this hardware ID;
 *                 anti-rollback against the slot store's security version
 *                 (lower only with the entry's signed downgrade
 *                 permission); BEGIN's image_len and version equal to the
 *                 entry's size and version;
 *   before commit the SHA-256 of the image as stored equals the entry's;
 *                 then, for an entry encrypted for this ECU (pkgenc.h) on
 *                 an endpoint, the image is decrypted with PackageKeyFile=
 *                 (refused without one) into a file that must match the
 *                 entry's plain_size and plain_sha256, and that replaces
 *                 the partial (umc_slots_replace_partial()), so the commit
 *                 installs the plaintext; a gateway keeps the ciphertext;
 *   after commit  the manifest's security version is recorded in the slot
 *                 store (umc_slots_set_security_version()), before the
 *                 active slot switches.
 *
 * A struct umc_ecucheck borrows the agent's configuration (read at each
 * BEGIN, so a reload takes effect with the next image) and the slot store,
 * and owns the parsed manifest. Nothing here logs: umc_ecucheck_why()
 * says what the last refusal was about.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "umc/config.h"
#include "umc/hash.h"
#include "umc/mfmsg.h"
#include "umc/msg.h"
#include "umc/package.h"
#include "umc/reason.h"
#include "umc/slot.h"
#include "umc/xfer.h"

#define UMC_ECUCHECK_WHY_MAX 256

struct umc_ecucheck;

/* What one check needs besides the manifest. */
struct umc_ecucheck_identity {
        const struct umc_sig_trust *trust; /* NULL: cannot verify (then require must be false) */
        bool require;                      /* RequireSignature= */
        uint32_t ecu_id;
        const char *hw_id;
        uint64_t installed;                /* the slot store's security version */
        int64_t now;                       /* seconds since the epoch */
};

/*
 * The checks at BEGIN as a pure function. m NULL: no manifest came. On
 * OK with a manifest, *ret_pkg (owned by the caller, umc_package_free())
 * and *ret_img (into it) are filled; otherwise they are untouched.
 */
enum umc_reason umc_ecucheck_begin(const struct umc_ecucheck_identity *id,
                                   const struct umc_msg_begin *b,
                                   const struct umc_signed_manifest *m, struct umc_package *ret_pkg,
                                   const struct umc_package_image **ret_img, char *why,
                                   size_t why_size);

/*
 * Set up the checks for one session and install them as rx's gate, for
 * the ECU ecu_id with hardware ID hw_id (copied). *ret is NULL (and rx
 * has no gate) when cfg has neither TrustAnchor= nor RequireSignature=yes.
 * 0, -EINVAL (a NULL argument) or -ENOMEM.
 */
int umc_ecucheck_attach(struct umc_receiver *rx, const struct umc_agent_config *cfg,
                        uint32_t ecu_id, const char *hw_id, struct umc_slots *slots,
                        struct umc_ecucheck **ret);
/* Accepts NULL. */
void umc_ecucheck_free(struct umc_ecucheck *e);

/*
 * After the sink committed the image, before it activates it: record the
 * signed security version. 0 with nothing to do (NULL, no manifest), or
 * the error of umc_slots_set_security_version().
 */
int umc_ecucheck_record(struct umc_ecucheck *e);

/* The last refusal's text ("" when none; NULL e too). */
const char *umc_ecucheck_why(const struct umc_ecucheck *e);
/* True when the accepted image came with a verified manifest. */
bool umc_ecucheck_signed(const struct umc_ecucheck *e);
