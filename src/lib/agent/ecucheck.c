/* SPDX-License-Identifier: MIT */
#include "umc/ecucheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "umc/pkgenc.h"
#include "umc/sig.h"
#include "umc/util.h"

struct umc_ecucheck {
        const struct umc_agent_config *cfg; /* borrowed */
        struct umc_slots *slots;            /* borrowed */
        uint32_t ecu_id;
        char hw_id[UMC_HWID_MAX + 1];
        struct umc_package pkg;             /* the verified manifest, once BEGIN passed */
        const struct umc_package_image *img; /* this ECU's entry in pkg; NULL: unsigned */
        char why[UMC_ECUCHECK_WHY_MAX];
};

static enum umc_reason refuse(enum umc_reason reason, char *why, size_t why_size,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum umc_reason refuse(enum umc_reason reason, char *why, size_t why_size,
                              const char *fmt, ...) {
        va_list ap;

        /* umc_why() with a reason code in place of the errno. */
        va_start(ap, fmt);
        umc_vwhy(why, why_size, fmt, ap);
        va_end(ap);
        return reason;
}

/* Signature first: the JSON parser sees only bytes the backend signed. */
static enum umc_reason verify_and_parse(const struct umc_ecucheck_identity *id,
                                        const struct umc_signed_manifest *m,
                                        struct umc_package *ret, char *why, size_t why_size) {
        enum umc_reason reason = UMC_REASON_OK;
        int r;

        r = (m->format == UMC_MFMSG_SM2 ? umc_sig_verify_sm2 : umc_sig_verify)(
                id->trust, m->manifest, m->manifest_len, m->sig, m->sig_len, id->now, NULL,
                &reason, why, why_size);
        if (r == -EBADMSG)
                return reason;
        if (r < 0)
                return refuse(UMC_REASON_INTERNAL, why, why_size, "signature check failed: %s",
                              strerror(-r));
        r = umc_package_parse((const char *)m->manifest, m->manifest_len, ret, why, why_size);
        if (r == -EINVAL || r == -E2BIG)
                return UMC_REASON_PKG_MALFORMED;
        if (r < 0)
                return refuse(UMC_REASON_INTERNAL, why, why_size, "cannot parse the manifest: %s",
                              strerror(-r));
        return UMC_REASON_OK;
}

/* What the entry promises against what BEGIN announces. */
static enum umc_reason check_begin_fields(const struct umc_package_image *img,
                                          const struct umc_msg_begin *b, char *why,
                                          size_t why_size) {
        if (b->image_len != img->size)
                return refuse(UMC_REASON_PKG_IMAGE_SIZE, why, why_size,
                              "BEGIN announces %" PRIu64 " bytes, the signed manifest %" PRIu64,
                              b->image_len, img->size);
        if (strcmp(b->version, img->version) != 0)
                return refuse(UMC_REASON_PKG_VERSION_MISMATCH, why, why_size,
                              "BEGIN announces version \"%s\", the signed manifest \"%s\"",
                              b->version, img->version);
        return UMC_REASON_OK;
}

static enum umc_reason check_entry(const struct umc_ecucheck_identity *id,
                                   const struct umc_package *p, const struct umc_msg_begin *b,
                                   const struct umc_package_image **ret_img, char *why,
                                   size_t why_size) {
        const struct umc_package_image *img = NULL;
        enum umc_reason reason;

        reason = umc_package_check_expiry(p, id->now, why, why_size);
        if (reason == UMC_REASON_OK)
                reason = umc_package_check_ecu(p, id->ecu_id, id->hw_id, &img, why, why_size);
        if (reason == UMC_REASON_OK)
                reason = umc_package_check_rollback(p, img, id->installed, why, why_size);
        if (reason == UMC_REASON_OK)
                reason = check_begin_fields(img, b, why, why_size);
        if (reason == UMC_REASON_OK)
                *ret_img = img;
        return reason;
}

enum umc_reason umc_ecucheck_begin(const struct umc_ecucheck_identity *id,
                                   const struct umc_msg_begin *b,
                                   const struct umc_signed_manifest *m, struct umc_package *ret_pkg,
                                   const struct umc_package_image **ret_img, char *why,
                                   size_t why_size) {
        const struct umc_package_image *img = NULL;
        struct umc_package p = {};
        enum umc_reason reason;

        if (why && why_size > 0)
                why[0] = '\0';
        if (!m || !id->trust) {
                if (!id->require)
                        return UMC_REASON_OK; /* unsigned images allowed (RequireSignature=no) */
                return refuse(UMC_REASON_PKG_SIG_MISSING, why, why_size,
                              m ? "no trust anchor to verify the signed manifest with"
                                : "no signed manifest came before BEGIN (the master sent none)");
        }
        reason = verify_and_parse(id, m, &p, why, why_size);
        if (reason == UMC_REASON_OK)
                reason = check_entry(id, &p, b, &img, why, why_size);
        if (reason != UMC_REASON_OK) {
                umc_package_free(&p);
                return reason;
        }
        *ret_pkg = p;
        *ret_img = img;
        return UMC_REASON_OK;
}

/* ---- the gate ---- */

static enum umc_reason gate_begin(void *ud, const struct umc_msg_begin *b,
                                  const struct umc_signed_manifest *m) {
        struct umc_ecucheck *e = ud;
        struct umc_ecucheck_identity id = {
                .trust = e->cfg->trust,
                .require = e->cfg->require_signature,
                .ecu_id = e->ecu_id,
                .hw_id = e->hw_id,
                .now = (int64_t)time(NULL),
        };
        int r;

        umc_package_free(&e->pkg);
        e->img = NULL;
        /* A damaged record must refuse, not read as "nothing installed". */
        r = umc_slots_security_version(e->slots, &id.installed);
        if (r < 0)
                return refuse(UMC_REASON_IO_ERROR, e->why, sizeof(e->why),
                              "cannot read the slot store's security version: %s", strerror(-r));
        return umc_ecucheck_begin(&id, b, m, &e->pkg, &e->img, e->why, sizeof(e->why));
}

/*
 * Open the partial (ciphertext, already matched against the signed entry)
 * into out_fd. Every segment's tag is checked before its plaintext is
 * written; the plaintext must then be the size and SHA-256 the entry signed.
 */
static enum umc_reason open_sealed(struct umc_ecucheck *e, int out_fd) {
        const struct umc_package_image *img = e->img;
        struct umc_key key = {};
        uint8_t sha[UMC_HASH_LEN];
        uint64_t size = 0;
        int in_fd, r;

        in_fd = umc_slots_partial_fd(e->slots);
        if (in_fd < 0)
                return refuse(UMC_REASON_INTERNAL, e->why, sizeof(e->why),
                              "no image to decrypt: %s", strerror(-in_fd));
        /* The partial is written with pwrite(2) only: its position is ours to move. */
        if (lseek(in_fd, 0, SEEK_SET) < 0)
                return refuse(UMC_REASON_IO_ERROR, e->why, sizeof(e->why),
                              "cannot read the received image: %s", strerror(errno));
        /* ecu_id and target as the backend sealed them: the entry's, which
         * umc_package_check_ecu() matched to this ECU at BEGIN. */
        r = umc_pkgenc_derive(e->cfg->package_key, img->salt, img->ecu_id, img->target, &key);
        if (r >= 0)
                r = umc_pkgenc_open_fd(&key, in_fd, img->size, out_fd, &size, sha);
        umc_key_clear(&key);
        if (r == -EBADMSG)
                return refuse(UMC_REASON_PKG_DECRYPT_FAILED, e->why, sizeof(e->why),
                              "image \"%s\" does not decrypt and authenticate with this ECU's "
                              "package key (PackageKeyFile=): wrong key or damaged image",
                              img->target);
        if (r < 0)
                return refuse(r == -ENOMEM || r == -EINVAL ? UMC_REASON_INTERNAL
                                                           : UMC_REASON_IO_ERROR,
                              e->why, sizeof(e->why), "cannot decrypt image \"%s\": %s",
                              img->target, strerror(-r));
        if (size != img->plain_size)
                return refuse(UMC_REASON_PKG_IMAGE_SIZE, e->why, sizeof(e->why),
                              "image \"%s\" decrypts to %" PRIu64 " bytes, the signed "
                              "manifest says %" PRIu64, img->target, size, img->plain_size);
        if (!umc_memeq_ct(sha, img->plain_sha256, UMC_HASH_LEN))
                return refuse(UMC_REASON_IMAGE_HASH_MISMATCH, e->why, sizeof(e->why),
                              "image \"%s\": the decrypted image's SHA-256 differs from the "
                              "signed manifest's", img->target);
        return UMC_REASON_OK;
}

/*
 * Step 8 of the ECU's checks: decrypt into incoming/image.plain and put
 * that in the partial's place, so the commit installs the plaintext. On
 * any failure the replacement is removed and the slots stay as they were.
 */
static enum umc_reason decrypt_image(struct umc_ecucheck *e) {
        enum umc_reason reason;
        int fd = -1, r;

        if (!e->cfg->package_key_file)
                return refuse(UMC_REASON_PKG_DECRYPT_FAILED, e->why, sizeof(e->why),
                              "image \"%s\" is encrypted for this ECU but no PackageKeyFile= "
                              "is configured", e->img->target);
        r = umc_slots_replacement_open(e->slots, &fd);
        if (r < 0)
                return refuse(UMC_REASON_IO_ERROR, e->why, sizeof(e->why),
                              "cannot create the file for the decrypted image: %s", strerror(-r));
        reason = open_sealed(e, fd);
        if (reason == UMC_REASON_OK) {
                r = umc_slots_replace_partial(e->slots, fd, e->img->plain_size);
                fd = -1; /* taken over in every case */
                if (r < 0)
                        reason = refuse(UMC_REASON_IO_ERROR, e->why, sizeof(e->why),
                                        "cannot put the decrypted image in place: %s",
                                        strerror(-r));
        }
        umc_closep(&fd);
        if (reason != UMC_REASON_OK)
                (void)umc_slots_replacement_discard(e->slots);
        return reason;
}

static enum umc_reason gate_image(void *ud, const uint8_t sha256[UMC_HASH_LEN]) {
        struct umc_ecucheck *e = ud;
        enum umc_reason reason;

        if (!e->img)
                return UMC_REASON_OK; /* accepted unsigned at BEGIN */
        /* The stored size is BEGIN's image_len (TRANSPORT came only at that offset),
         * which check_begin_fields() held to the entry's: only the hash is left. */
        reason = umc_package_check_image(e->img, e->img->size, sha256, e->why, sizeof(e->why));
        /* A gateway relays the ciphertext as received: the ECU opens it. */
        if (reason != UMC_REASON_OK || !e->img->encrypted || e->cfg->mode == UMC_AGENT_GATEWAY)
                return reason;
        return decrypt_image(e);
}

int umc_ecucheck_attach(struct umc_receiver *rx, const struct umc_agent_config *cfg,
                        uint32_t ecu_id, const char *hw_id, struct umc_slots *slots,
                        struct umc_ecucheck **ret) {
        struct umc_receiver_gate gate = { .begin = gate_begin, .image = gate_image };
        struct umc_ecucheck *e;

        if (!rx || !cfg || !hw_id || !slots || !ret)
                return -EINVAL;
        *ret = NULL;
        if (!cfg->trust && !cfg->require_signature)
                return 0;
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->cfg = cfg;
        e->slots = slots;
        e->ecu_id = ecu_id;
        (void)snprintf(e->hw_id, sizeof(e->hw_id), "%s", hw_id);
        gate.userdata = e;
        umc_receiver_set_gate(rx, &gate);
        *ret = e;
        return 0;
}

void umc_ecucheck_free(struct umc_ecucheck *e) {
        if (!e)
                return;
        umc_package_free(&e->pkg);
        free(e);
}

int umc_ecucheck_record(struct umc_ecucheck *e) {
        if (!e || !e->img)
                return 0;
        return umc_slots_set_security_version(e->slots, e->pkg.security_version);
}

const char *umc_ecucheck_why(const struct umc_ecucheck *e) {
        return e ? e->why : "";
}

bool umc_ecucheck_signed(const struct umc_ecucheck *e) {
        return e && e->img;
}
