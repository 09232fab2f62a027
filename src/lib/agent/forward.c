/* SPDX-License-Identifier: MIT */
#include "umc/forward.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "umc/cipher.h"
#include "umc/delivery.h"
#include "umc/log.h"
#include "umc/mfload.h"
#include "umc/util.h"

struct umc_forwarder {
        sd_event *event;
        struct umc_daemon_config config;
};

struct umc_forward_job {
        struct umc_forwarder *f;
        struct umc_delivery *delivery;
        int image_fd;
        size_t target;
        umc_forward_done_fn done;
        void *userdata;
        char text[UMC_MSG_ALARM_TEXT_MAX + 1]; /* the last alarm, for done() */
        unsigned last_decile;                  /* progress logged every 10% */
        struct umc_mfbuf manifest;             /* passed on to the ECU as it came */
        struct umc_signed_manifest manifest_view;
};

int umc_forwarder_new(const char *path, sd_event *event, struct umc_forwarder **ret,
                      struct umc_config_error *err) {
        struct umc_forwarder *f;
        int r;

        if (!path || !event || !ret)
                return -EINVAL;
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        r = umc_daemon_config_load(path, &f->config, err);
        if (r < 0) {
                free(f);
                return r;
        }
        if (f->config.n_targets == 0) {
                if (err)
                        (void)snprintf(err->msg, sizeof(err->msg),
                                       "%s: no [Target] section: a gateway forwards to at least one ECU",
                                       path);
                umc_daemon_config_free(&f->config);
                free(f);
                return -EINVAL;
        }
        f->event = sd_event_ref(event);
        *ret = f;
        return 0;
}

void umc_forwarder_free(struct umc_forwarder *f) {
        if (!f)
                return;
        umc_daemon_config_free(&f->config);
        sd_event_unref(f->event);
        free(f);
}

static int find_index(const struct umc_forwarder *f, uint32_t ecu_id, size_t *ret) {
        for (size_t i = 0; i < f->config.n_targets; i++)
                if (f->config.ecus[i].ecu_id == ecu_id) {
                        *ret = i;
                        return 0;
                }
        return -ENOENT;
}

const struct umc_ecu *umc_forwarder_find(const struct umc_forwarder *f, uint32_t ecu_id) {
        size_t i;

        if (!f || ecu_id == 0 || find_index(f, ecu_id, &i) < 0)
                return NULL;
        return &f->config.ecus[i];
}

size_t umc_forwarder_n_targets(const struct umc_forwarder *f) {
        return f ? f->config.n_targets : 0;
}

static const char *job_name(const struct umc_forward_job *j) {
        return j->f->config.ecus[j->target].name;
}

static void on_progress(void *ud, const struct umc_delivery_progress *p) {
        struct umc_forward_job *j = ud;
        unsigned decile;

        if (p->bytes_total == 0)
                return;
        decile = (unsigned)(p->bytes_acked * 10 / p->bytes_total);
        if (decile <= j->last_decile)
                return;
        j->last_decile = decile;
        log_info("forward to %s: %u%% acknowledged, %" PRIu64 " bytes/s, load %.1f%%", job_name(j),
                 decile * 10, p->rate, p->load_percent);
}

static void on_rotation(void *ud, enum umc_suite_id suite, uint16_t key_id,
                        enum umc_rotation_cause cause) {
        struct umc_forward_job *j = ud;
        const struct umc_suite *s = umc_suite_by_id(suite);

        log_info("forward to %s: rotated to %s, key ID %u (%s)", job_name(j), s ? s->name : "?",
                 (unsigned)key_id, umc_rotation_cause_to_string(cause));
}

static void on_alarm(void *ud, enum umc_reason reason, const char *text) {
        struct umc_forward_job *j = ud;

        (void)snprintf(j->text, sizeof(j->text), "%s", text);
        log_warning("forward to %s: alarm: %s (%s)", job_name(j), text,
                    umc_reason_to_string(reason));
}

static void on_finished(void *ud, bool success, enum umc_reason reason) {
        struct umc_forward_job *j = ud;

        if (success) {
                log_notice("forward to %s: the ECU confirmed the image", job_name(j));
                j->done(j->userdata, UMC_REASON_OK, "");
                return;
        }
        if (reason == UMC_REASON_OK)
                reason = UMC_REASON_INTERNAL;
        if (j->text[0] == '\0')
                (void)snprintf(j->text, sizeof(j->text), "%s", umc_reason_to_string(reason));
        j->done(j->userdata, reason, j->text);
}

int umc_forward_start(struct umc_forwarder *f, const struct umc_forward_params *p,
                      umc_forward_done_fn done, void *userdata, struct umc_forward_job **ret) {
        _cleanup_close_ int fd = p ? p->image_fd : -1;
        struct umc_forward_job *j;
        struct umc_delivery_params dp = {};
        struct umc_delivery_events ev = {
                .progress = on_progress,
                .rotation = on_rotation,
                .alarm = on_alarm,
                .finished = on_finished,
        };
        int r;

        if (!f || !p || !done || !ret || fd < 0)
                return -EINVAL;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->f = f;
        j->done = done;
        j->userdata = userdata;
        j->image_fd = -1;
        r = find_index(f, p->ecu_id, &j->target);
        if (r < 0)
                goto fail;
        /* The upstream hash is passed on as is: the downstream must check the same one. */
        if (p->hash_alg != f->config.image_hash) {
                r = -EINVAL;
                goto fail;
        }
        dp = (struct umc_delivery_params){
                .config = &f->config,
                .target = j->target,
                .image_fd = fd,
                .image_len = p->image_len,
                .state_dir_fd = -1, /* the gateway's store is the resume record */
        };
        memcpy(dp.image_hash, p->image_hash, UMC_HASH_LEN);
        /* The upstream image ID is the manifest hash: a retry resumes on the ECU. */
        memcpy(dp.manifest_hash, p->image_id, UMC_HASH_LEN);
        memcpy(dp.version, p->version, sizeof(dp.version));
        /* The ECU checks the backend's signature itself: pass the manifest on unchanged. */
        if (p->manifest) {
                r = umc_mfbuf_copy(p->manifest, &j->manifest);
                if (r < 0)
                        goto fail;
                umc_mfbuf_view(&j->manifest, &j->manifest_view);
                dp.manifest = &j->manifest_view;
        }
        ev.userdata = j;
        r = umc_delivery_new(f->event, &dp, &ev, &j->delivery);
        if (r < 0)
                goto fail;
        j->image_fd = TAKE_FD(fd);
        r = umc_delivery_start(j->delivery);
        if (r < 0)
                goto fail;
        log_info("forward to %s: delivering version %s, %" PRIu64 " bytes", job_name(j), p->version,
                 p->image_len);
        *ret = j;
        return 0;
fail:
        umc_forward_job_free(j);
        return r;
}

void umc_forward_job_free(struct umc_forward_job *j) {
        if (!j)
                return;
        if (j->delivery)
                umc_delivery_abort(j->delivery, UMC_REASON_CANCELLED);
        umc_delivery_free(j->delivery);
        umc_closep(&j->image_fd);
        umc_mfbuf_free(&j->manifest);
        free(j);
}
