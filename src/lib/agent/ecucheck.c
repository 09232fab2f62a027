/* SPDX-License-Identifier: MIT */
#include "umc/ecucheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

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

        if (why && why_size > 0) {
                va_start(ap, fmt);
                (void)vsnprintf(why, why_size, fmt, ap);
                va_end(ap);
        }
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

static enum umc_reason gate_image(void *ud, const uint8_t sha256[UMC_HASH_LEN]) {
        struct umc_ecucheck *e = ud;

        if (!e->img)
                return UMC_REASON_OK; /* accepted unsigned at BEGIN */
        return umc_package_check_image(e->img, e->img->size, sha256, e->why, sizeof(e->why));
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
