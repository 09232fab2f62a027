/* SPDX-License-Identifier: MIT */
/*
 * The delivery's state machine and public API (delivery.h): the frames in
 * and out once authenticated, the slot overview, the timeouts and the
 * cancel. Its other parts: resume.c (resume records), pacing.c (load and
 * token bucket), dlvcan.c (the CAN channel), connect.c (TCP connect and
 * ECU authentication); delivery-internal.h is the state they share.
 */
#include "delivery-internal.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "umc/hint.h"
#include "umc/isotp.h"
#include "umc/log.h"
#include "umc/names.h"
#include "umc/session.h"
#include "umc/stream.h"

#define IMAGE_ID_LABEL "umc1 image-id"
/* The smallest DATA chunk a PDU limit may leave on CAN (MaxPdu= too small to be useful). */
#define CAN_CHUNK_MIN 64

static const char *const state_names[] = {
        [UMC_DELIVERY_NEW] = "new",
        [UMC_DELIVERY_CONNECTING] = "connecting",
        [UMC_DELIVERY_RETRYING] = "retrying",
        [UMC_DELIVERY_AUTHENTICATING] = "authenticating",
        [UMC_DELIVERY_TRANSFERRING] = "transferring",
        [UMC_DELIVERY_VERIFYING] = "verifying",
        [UMC_DELIVERY_DONE] = "done",
        [UMC_DELIVERY_FAILED] = "failed",
};

const char *umc_delivery_state_to_string(enum umc_delivery_state s) {
        if ((unsigned)s >= UMC_ELEMENTSOF(state_names))
                return NULL;
        return state_names[s];
}

int umc_delivery_image_id(const uint8_t manifest_hash[UMC_HASH_LEN], const char *target,
                          uint8_t ret_id[UMC_MSG_IMAGE_ID_LEN]) {
        struct umc_hash h = {};
        uint8_t id[UMC_HASH_LEN];
        int r;

        if (!manifest_hash || !ret_id || !umc_name_target_valid(target))
                return -EINVAL;
        r = umc_hash_init(&h, UMC_HASH_SHA256);
        if (r >= 0)
                r = umc_hash_update(&h, IMAGE_ID_LABEL, strlen(IMAGE_ID_LABEL));
        if (r >= 0)
                r = umc_hash_update(&h, manifest_hash, UMC_HASH_LEN);
        if (r >= 0)
                r = umc_hash_update(&h, target, strlen(target));
        if (r >= 0)
                r = umc_hash_final(&h, id);
        umc_hash_done(&h);
        if (r < 0)
                return r;
        memcpy(ret_id, id, UMC_MSG_IMAGE_ID_LEN);
        return 0;
}

/* ---- the delivery ---- */

void umc_delivery_target_address(const struct umc_target *t, char *buf, size_t size) {
        char host[INET6_ADDRSTRLEN] = "?";
        int w = t->can.isotp.eff ? 8 : 3;

        if (t->channel == UMC_CHANNEL_CAN) {
                (void)snprintf(buf, size, "%s %0*" PRIX32 ">%0*" PRIX32, t->can.ifname, w,
                               t->can.isotp.tx_id, w, t->can.isotp.rx_id);
        } else if (t->address.sa.sa_family == AF_INET6) {
                (void)inet_ntop(AF_INET6, &t->address.in6.sin6_addr, host, sizeof(host));
                (void)snprintf(buf, size, "[%s]:%u", host, ntohs(t->address.in6.sin6_port));
        } else {
                (void)inet_ntop(AF_INET, &t->address.in.sin_addr, host, sizeof(host));
                (void)snprintf(buf, size, "%s:%u", host, ntohs(t->address.in.sin_port));
        }
}

/*
 * DATA bytes per frame: UMC_DELIVERY_CHUNK on TCP; on CAN
 * UMC_DELIVERY_CAN_CHUNK, or less where the kernel's PDU limit or MaxPdu=
 * leave less room after the header, the DATA header and two tags (layered
 * mode). 0 when that leaves less than CAN_CHUNK_MIN.
 */
static size_t chunk_for(const struct umc_daemon_config *c, const struct umc_target *t) {
        size_t pdu, payload;

        if (t->channel != UMC_CHANNEL_CAN)
                return UMC_DELIVERY_CHUNK;
        pdu = umc_isotp_kernel_max_pdu();
        if (c->can.max_pdu > 0 && c->can.max_pdu < pdu)
                pdu = c->can.max_pdu;
        payload = umc_isotp_max_payload(pdu);
        if (payload < UMC_MSG_DATA_HEADER_LEN + 2 * UMC_TAG_MAX + CAN_CHUNK_MIN)
                return 0;
        payload -= UMC_MSG_DATA_HEADER_LEN + 2 * UMC_TAG_MAX;
        return payload < UMC_DELIVERY_CAN_CHUNK ? payload : UMC_DELIVERY_CAN_CHUNK;
}

int umc_delivery_new(sd_event *event, const struct umc_delivery_params *p,
                     const struct umc_delivery_events *ev, struct umc_delivery **ret) {
        struct umc_delivery *d;
        size_t chunk;
        int r;

        if (!event || !p || !ret || !p->config || p->target >= p->config->n_targets)
                return -EINVAL;
        chunk = chunk_for(p->config, &p->config->targets[p->target]); /* reads sysfs: once */
        if (
            p->image_fd < 0 || p->image_len == 0 || p->image_len > UMC_XFER_MAX_IMAGE ||
            (p->state_dir_fd >= 0 && !umc_name_path_valid(p->package_dir)) ||
            (p->config->targets[p->target].channel != UMC_CHANNEL_TCP &&
             p->config->targets[p->target].channel != UMC_CHANNEL_CAN) ||
            chunk == 0 ||
            p->config->connect_timeout_usec == 0 || p->config->auth_timeout_usec == 0 ||
            p->config->idle_timeout_usec == 0 || p->config->final_timeout_usec == 0 ||
            p->config->ceiling_percent > 100)
                return -EINVAL;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->fd = -1;
        d->p = *p;
        d->p.package_dir = NULL;
        if (p->package_dir) {
                d->package_dir = strdup(p->package_dir);
                if (!d->package_dir) {
                        free(d);
                        return -ENOMEM;
                }
        }
        if (ev)
                d->ev = *ev;
        d->ecu = &p->config->ecus[p->target];
        d->target = &p->config->targets[p->target];
        d->can = d->target->channel == UMC_CHANNEL_CAN;
        d->chunk = chunk;
        umc_delivery_target_address(d->target, d->address, sizeof(d->address));
        r = umc_delivery_image_id(p->manifest_hash, d->ecu->name, d->image_id);
        if (r < 0) {
                umc_delivery_free(d);
                return r;
        }
        d->event = sd_event_ref(event);
        d->state = UMC_DELIVERY_NEW;
        *ret = d;
        return 0;
}

/* Close the connection and stop every source; safe to call twice. */
void umc_delivery_disconnect(struct umc_delivery *d) {
        d->io = sd_event_source_disable_unref(d->io);
        d->tick = sd_event_source_disable_unref(d->tick);
        d->timeout = sd_event_source_disable_unref(d->timeout);
        d->later = sd_event_source_disable_unref(d->later);
        d->pace_timer = sd_event_source_disable_unref(d->pace_timer);
        d->pace_waiting = false;
        d->bus_io = sd_event_source_disable_unref(d->bus_io);
        umc_canbus_free(d->bus);
        d->bus = NULL;
        /*
         * A PDU still in flight would make close() wait for it: not in the
         * loop. The next delivery to this target opens its channel only after
         * the two-window bus check, by when this socket is gone.
         */
        if (d->can && d->stream)
                (void)umc_isotp_close_later(d->event, umc_stream_take_fd(d->stream));
        umc_stream_free(d->stream);
        d->stream = NULL;
        umc_closep(&d->fd);
        d->fd = -1;
        umc_auth_master_clear(&d->auth);
}

void umc_delivery_free(struct umc_delivery *d) {
        if (!d)
                return;
        umc_delivery_disconnect(d);
        umc_sender_free(d->sender);
        umc_session_free(d->session);
        free(d->package_dir);
        sd_event_unref(d->event);
        umc_memzero(d, sizeof(*d));
        free(d);
}

void umc_delivery_get_progress(const struct umc_delivery *d, struct umc_delivery_progress *ret) {
        struct umc_pacing_view v;

        umc_pacing_view(d, &v);
        *ret = (struct umc_delivery_progress){
                .state = d->state,
                .bytes_total = d->p.image_len,
                .bytes_sent = d->sender ? umc_sender_bytes_sent(d->sender) : 0,
                .bytes_acked = d->sender ? umc_sender_bytes_acked(d->sender) : 0,
                .resume_offset = d->sender ? umc_sender_resume_offset(d->sender) : 0,
                .rate = d->rate,
                /* The rotation decides the key the sender seals with (from BEGIN on). */
                .suite = d->sender ? umc_rotation_suite(&d->rotation) : UMC_SUITE_NONE,
                .key_id = d->sender ? d->rotation.key_id : 0,
                .load_percent = v.percent,
                .load_class = v.cls,
                .load_nominal = v.nominal,
                .paced_bps = d->paced ? d->pace_bps : 0,
                .attempt = d->retry.attempt,
                .rejected_frames = d->rejected_early,
        };
        if (d->sender) {
                struct umc_xfer_rejects rj;
                umc_sender_get_rejects(d->sender, &rj);
                ret->rejected_frames += rj.total;
        }
        if (d->state == UMC_DELIVERY_DONE)
                ret->bytes_acked = d->p.image_len;
}

enum umc_delivery_state umc_delivery_state(const struct umc_delivery *d) {
        return d->state;
}

void umc_delivery_emit_progress(struct umc_delivery *d) {
        struct umc_delivery_progress p;

        if (!d->ev.progress)
                return;
        umc_delivery_get_progress(d, &p);
        d->ev.progress(d->ev.userdata, &p);
}

static void finish(struct umc_delivery *d, bool success, enum umc_reason reason) {
        umc_delivery_disconnect(d);
        d->state = success ? UMC_DELIVERY_DONE : UMC_DELIVERY_FAILED;
        umc_delivery_emit_progress(d);
        if (d->ev.finished)
                d->ev.finished(d->ev.userdata, success, reason);
}

/* End with an alarm. Always returns 0: the event source that got here stays healthy. */
int umc_delivery_fail(struct umc_delivery *d, enum umc_reason reason, const char *fmt, ...) {
        char text[UMC_MSG_ALARM_TEXT_MAX + 1];
        va_list ap;

        if (d->state == UMC_DELIVERY_DONE || d->state == UMC_DELIVERY_FAILED)
                return 0;
        if (reason == UMC_REASON_OK)
                reason = UMC_REASON_INTERNAL;
        va_start(ap, fmt);
        (void)vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        if (d->sender)
                umc_sender_abort(d->sender, reason);
        umc_delivery_disconnect(d);
        d->state = UMC_DELIVERY_FAILED;
        if (d->ev.alarm)
                d->ev.alarm(d->ev.userdata, reason, text);
        finish(d, false, reason);
        return 0;
}

/*
 * The channel failed with r: on CAN an ECU that never answers shows as
 * -ECOMM (hint.h); before it authenticated, that is tried again.
 */
static int fail_channel(struct umc_delivery *d, int r) {
        const struct umc_isotp_opts *o = &d->target->can.isotp;
        char text[UMC_MSG_ALARM_TEXT_MAX + 1];

        if (d->can && r == -ECOMM && d->state == UMC_DELIVERY_AUTHENTICATING)
                return umc_dlvcan_retry(d, r);

        return umc_delivery_fail(d, UMC_REASON_IO_ERROR, "%s",
                                 umc_hint_channel_error(text, sizeof(text), d->address, d->can,
                                                        o->tx_id, o->rx_id, o->eff, r));
}

int umc_delivery_arm_timeout(struct umc_delivery *d, uint64_t at) {
        int r = sd_event_source_set_time(d->timeout, at);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->timeout, SD_EVENT_ONESHOT);
        return r;
}

static int update_io_events(struct umc_delivery *d) {
        uint32_t events = EPOLLIN;

        /*
         * EPOLLOUT also when the queue drained but the sender stopped for room:
         * the next writable socket produces more (one queue's worth per dispatch,
         * so D-Bus and the other sources get their turn).
         */
        if (umc_stream_queued(d->stream) > 0 || d->queue_full)
                events |= EPOLLOUT;
        return sd_event_source_set_io_events(d->io, events);
}

static void record_checkpoint(struct umc_delivery *d, uint64_t offset) {
        _cleanup_free_ struct umc_delivery_record *rec = NULL;
        int r;

        if (d->p.state_dir_fd < 0)
                return;
        rec = calloc(1, sizeof(*rec));
        if (!rec) {
                (void)log_warning_errno(ENOMEM, "%s: cannot record the checkpoint: %m", target_name(d));
                return;
        }
        memcpy(rec->package_dir, d->package_dir, strlen(d->package_dir) + 1);
        memcpy(rec->manifest_hash, d->p.manifest_hash, UMC_HASH_LEN);
        memcpy(rec->target, d->ecu->name, strlen(d->ecu->name) + 1);
        rec->offset = offset;
        /* Resume is a convenience: the agent knows the real offset, so a failure here is not fatal. */
        r = umc_delivery_record_write(d->p.state_dir_fd, rec);
        if (r < 0)
                (void)log_warning_errno(r, "%s: cannot record checkpoint at %" PRIu64 ": %m",
                                        target_name(d), offset);
}

static void check_acked(struct umc_delivery *d) {
        uint64_t acked = umc_sender_bytes_acked(d->sender);

        if (acked == d->last_acked)
                return;
        d->last_acked = acked;
        record_checkpoint(d, acked);
        umc_delivery_emit_progress(d);
        if (d->interference)
                (void)umc_delivery_fail(d, d->interference_reason,
                                        "interference: %s; stopped at byte %" PRIu64,
                                        d->interference_text, acked);
}

static int read_frames(struct umc_delivery *d);

/* Produce frames while the queue has room for the largest one and the pacing allows. */
int umc_delivery_pump(struct umc_delivery *d) {
        d->queue_full = false;
        while (d->state == UMC_DELIVERY_TRANSFERRING && !d->querying) {
                struct umc_pacing_view v;
                enum umc_rotation_cause cause = UMC_ROTATE_NONE;
                uint64_t now = now_usec();
                bool admit = false;
                size_t len = 0;
                int r;

                umc_pacing_view(d, &v);
                if (umc_stream_queue_space(d->stream) < TX_FRAME_MAX) {
                        d->queue_full = true;
                        break;
                }
                r = umc_pacing_admit(d, now, &admit);
                if (r < 0)
                        return umc_delivery_fail(d, UMC_REASON_INTERNAL,
                                                 "cannot arm the pacing timer: %s", strerror(-r));
                if (!admit)
                        break;
                r = umc_sender_next(d->sender, now, v.cls, d->txbuf, sizeof(d->txbuf), &len,
                                    &cause);
                if (r == -EAGAIN || r == -ESHUTDOWN)
                        break;
                if (r < 0)
                        return umc_delivery_fail(d, umc_sender_reason(d->sender),
                                                 "cannot produce a frame: %s", strerror(-r));
                if (cause != UMC_ROTATE_NONE && d->ev.rotation)
                        d->ev.rotation(d->ev.userdata, umc_rotation_suite(&d->rotation),
                                       d->rotation.key_id, cause);
                r = umc_stream_queue(d->stream, d->txbuf, len);
                if (r < 0)
                        return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot queue a frame: %s",
                                                 strerror(-r));
                umc_pacing_charge(d, len);
                if (umc_sender_state(d->sender) == UMC_SENDER_WAIT_COMPLETE) {
                        d->state = UMC_DELIVERY_VERIFYING;
                        d->deadline = now_usec() + d->p.config->final_timeout_usec;
                        if (umc_delivery_arm_timeout(d, d->deadline) < 0)
                                return umc_delivery_fail(d, UMC_REASON_INTERNAL,
                                                         "cannot arm the timeout");
                        umc_delivery_emit_progress(d);
                }
        }
        return umc_delivery_flush(d);
}

/* Write what is queued; a vanished peer may have said why first, so read before failing. */
int umc_delivery_flush(struct umc_delivery *d) {
        size_t before;
        int r;

        if (!d->stream)
                return 0;
        before = umc_stream_queued(d->stream);
        r = umc_stream_flush(d->stream);
        if (umc_stream_queued(d->stream) != before)
                d->last_activity = now_usec();
        if (r == 0 || r == -EAGAIN)
                return update_io_events(d) < 0 ? umc_delivery_fail(d, UMC_REASON_INTERNAL, "epoll")
                                               : 0;
        (void)read_frames(d);
        if (!umc_delivery_running(d))
                return 0; /* the ECU's last words ended it, or it starts over */
        return fail_channel(d, r);
}

/* ---- slot overview ---- */

static int cancel_done(struct umc_delivery *d);

/* STATUS_QUERY, sealed with the rotation's first key, as BEGIN will be. */
int umc_delivery_queue_status_query(struct umc_delivery *d) {
        struct umc_msg_status_query q = { .what = UMC_MSG_STATUS_QUERY_SLOTS };
        uint8_t body[UMC_MSG_STATUS_QUERY_LEN];
        size_t len = 0;
        int n, r;

        r = umc_session_set_tx_key(d->session, d->rotation.key_id,
                                   umc_rotation_suite(&d->rotation));
        if (r < 0)
                return r;
        n = umc_msg_status_query_encode(&q, body, sizeof(body));
        if (n < 0)
                return n;
        r = umc_session_seal(d->session, UMC_FRAME_STATUS_QUERY, body, (size_t)n, d->txbuf,
                             sizeof(d->txbuf), &len);
        if (r < 0)
                return r;
        r = umc_stream_queue(d->stream, d->txbuf, len);
        if (r < 0)
                return r;
        d->querying = true;
        return 0;
}

/*
 * An older agent knows no STATUS_QUERY: it refused the frame type with
 * FEEDBACK(STOP, FRAME_BAD_TYPE) and closed. Start over without the query,
 * on a new connection (a new session: the old one is gone with it).
 */
static int restart_without_query(struct umc_delivery *d) {
        int r;

        log_notice("%s: the agent does not report its slots (it refused STATUS_QUERY, an older "
                   "agent); delivering without the overview", target_name(d));
        d->no_query = true;
        d->querying = false;
        umc_sender_free(d->sender);
        d->sender = NULL;
        umc_session_free(d->session);
        d->session = NULL;
        umc_delivery_disconnect(d);
        d->have_load = false;
        d->have_win = false;
        d->clean_windows = 0;
        d->state = UMC_DELIVERY_NEW;
        d->retry.attempt = 0;
        if (d->can)
                r = umc_dlvcan_start(d);
        else {
                r = sd_event_add_time_relative(d->event, &d->timeout, CLOCK_MONOTONIC,
                                               d->p.config->connect_timeout_usec, 0,
                                               umc_delivery_on_timeout, d);
                if (r >= 0)
                        r = umc_connect_tcp(d);
        }
        if (r < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot connect again: %s",
                                         strerror(-r));
        umc_delivery_emit_progress(d);
        return 0;
}

/*
 * The answer to STATUS_QUERY. Returns 0 when handled (or failed), 1 when
 * the frame is not a STATUS and goes to the sender as any other frame
 * (which refuses what does not open, and ends on a STOP or ALARM).
 */
static int on_status_frame(struct umc_delivery *d, const uint8_t *frame, size_t len) {
        enum umc_reason why = UMC_REASON_OK;
        struct umc_msg_feedback fb = { .code = UMC_FEEDBACK_CONTINUE };
        struct umc_msg_status st;
        struct umc_frame_header h;
        uint8_t plain[UMC_DELIVERY_RX_PAYLOAD_MAX];
        size_t plen = 0;
        int r;

        r = umc_session_open(d->session, frame, len, &h, plain, sizeof(plain), &plen, &why);
        if (r < 0)
                return 1;
        d->last_activity = now_usec();
        if (h.type == UMC_FRAME_FEEDBACK && umc_msg_feedback_decode(plain, plen, &fb) < 0)
                return umc_delivery_fail(d, UMC_REASON_BODY_MALFORMED,
                                         "malformed FEEDBACK from the ECU");
        if (h.type == UMC_FRAME_FEEDBACK && fb.code == UMC_FEEDBACK_STOP &&
            fb.reason == UMC_REASON_FRAME_BAD_TYPE && !d->no_query)
                return restart_without_query(d);
        if (h.type != UMC_FRAME_STATUS) {
                /* Already opened, so not through the sender again (a replay to it): end here. */
                if (h.type == UMC_FRAME_ALARM) {
                        struct umc_msg_alarm a;
                        why = umc_msg_alarm_decode(plain, plen, &a) < 0 ? UMC_REASON_BODY_MALFORMED
                                                                         : a.reason;
                        return umc_delivery_fail(d, why, "stopped by the ECU: %s",
                                                 umc_reason_to_string(why));
                }
                if (h.type == UMC_FRAME_FEEDBACK && fb.code == UMC_FEEDBACK_STOP)
                        return umc_delivery_fail(d, fb.reason, "stopped by the ECU: %s",
                                                 umc_reason_to_string(fb.reason));
                return umc_delivery_fail(d, UMC_REASON_OUT_OF_ORDER,
                                         "the ECU sent %s instead of STATUS",
                                         umc_frame_type_to_string(h.type));
        }
        if (umc_msg_status_decode(plain, plen, &st) < 0)
                return umc_delivery_fail(d, UMC_REASON_BODY_MALFORMED,
                                         "malformed STATUS from the ECU");
        d->querying = false;
        if (umc_delivery_arm_timeout(d, d->last_activity + d->p.config->idle_timeout_usec) < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot arm the timeout");
        if (d->ev.status)
                d->ev.status(d->ev.userdata, &st);
        return umc_delivery_pump(d);
}

/* ---- frames from the ECU, timeouts ---- */

/*
 * A frame from the ECU's side that failed authentication (or a PDU that is
 * no frame): dropped, counted, shown; it is no sign of life (the idle
 * timeout runs on). Past the limit per checkpoint window the delivery ends;
 * the ECU keeps its last checkpoint, so the next install resumes there.
 */
static int on_rejected(struct umc_delivery *d, int r, enum umc_reason why) {
        struct umc_xfer_rejects rj;

        umc_sender_get_rejects(d->sender, &rj);
        if (r == -EKEYREJECTED)
                return umc_delivery_fail(
                        d, UMC_REASON_REJECTED_FRAMES,
                        "more than %" PRIu32 " frames from the ECU failed authentication since "
                        "the last checkpoint (the last: %s); stopped at byte %" PRIu64,
                        rj.limit, umc_reason_to_string((uint16_t)rj.last),
                        umc_sender_bytes_acked(d->sender));
        log_warning("%s: dropped a frame from the ECU that failed authentication: %s "
                    "(%" PRIu32 " of at most %" PRIu32 " since the last checkpoint)",
                    target_name(d), umc_reason_to_string((uint16_t)why), rj.window, rj.limit);
        umc_delivery_emit_progress(d);
        return 0;
}

static int on_transfer_frame(struct umc_delivery *d, const uint8_t *frame, size_t len) {
        enum umc_reason why = UMC_REASON_OK;
        int r;

        if (d->querying) {
                r = on_status_frame(d, frame, len);
                if (r <= 0)
                        return r;
        }
        r = umc_sender_input(d->sender, frame, len, &why);
        if (r == UMC_XFER_DROPPED || r == -EKEYREJECTED)
                return on_rejected(d, r, why);
        d->last_activity = now_usec();
        if (r == -ECANCELED)
                return umc_delivery_fail(d, why, "stopped by the ECU: %s",
                                         umc_reason_to_string(why));
        if (r == -EBADMSG)
                return umc_delivery_fail(d, why, "refused a frame from the ECU: %s",
                                         umc_reason_to_string(why));
        if (r < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL,
                                         "cannot process a frame from the ECU: %s", strerror(-r));
        check_acked(d);
        if (umc_sender_state(d->sender) == UMC_SENDER_DONE)
                finish(d, true, UMC_REASON_OK);
        return 0;
}

bool umc_delivery_running(const struct umc_delivery *d) {
        return d->state == UMC_DELIVERY_AUTHENTICATING || d->state == UMC_DELIVERY_TRANSFERRING ||
               d->state == UMC_DELIVERY_VERIFYING;
}

/* A PDU from the ECU's CAN ID that is no frame: counted like a frame that fails to open. */
static int read_bad_pdu(struct umc_delivery *d, enum umc_reason why) {
        if (!d->sender) {
                d->rejected_early++;
                log_warning("%s: dropped a PDU that is no frame: %s", target_name(d),
                            umc_reason_to_string((uint16_t)why));
                return 0;
        }
        return on_rejected(d, umc_sender_reject(d->sender, why), why);
}

static int read_frames(struct umc_delivery *d) {
        while (umc_delivery_running(d)) {
                enum umc_reason why = UMC_REASON_OK;
                const uint8_t *frame;
                size_t len;
                int r;

                r = umc_stream_read(d->stream, &frame, &len, &why);
                if (r == -EAGAIN)
                        return 0;
                /* On ISO-TP a bad PDU costs only itself (stream.h); on TCP the stream is lost. */
                if (r == -EBADMSG && d->can) {
                        r = read_bad_pdu(d, why);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (r == -EBADMSG)
                        return umc_delivery_fail(d, why, "malformed frame header from the ECU: %s",
                                                 umc_reason_to_string(why));
                if (r == -ECONNRESET && d->querying && !d->no_query)
                        /* An older agent closes on the frame type it does not know. */
                        return restart_without_query(d);
                if (r == -ECONNRESET && d->state == UMC_DELIVERY_AUTHENTICATING)
                        /* The agent closes without a word when its own checks refuse us. */
                        return umc_delivery_fail(
                                d, UMC_REASON_IO_ERROR,
                                "the agent at %s closed the connection before authenticating: "
                                "its log says why (no [EthernetAcl] Rule= in umc-agent.conf "
                                "allows umcd, or it serves no ECU 0x%" PRIx32 ")",
                                d->address, d->ecu->ecu_id);
                if (r == -ECONNRESET)
                        return umc_delivery_fail(d, UMC_REASON_IO_ERROR,
                                                 "connection closed by the ECU while %s",
                                                 umc_delivery_state_to_string(d->state));
                if (r < 0)
                        return fail_channel(d, r);
                if (d->state == UMC_DELIVERY_AUTHENTICATING) {
                        d->last_activity = now_usec();
                        r = umc_connect_on_auth_response(d, frame, len);
                } else {
                        r = on_transfer_frame(d, frame, len);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

int umc_delivery_on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        struct umc_delivery *d = userdata;
        const struct umc_daemon_config *c = d->p.config;
        uint64_t now = now_usec(), at;

        if (d->cancelling) {
                log_info("%s: the ECU did not close within %" PRIu64 " ms of the cancel; closing",
                         target_name(d), UMC_DELIVERY_LINGER_USEC / USEC_PER_MSEC);
                return cancel_done(d);
        }
        switch (d->state) {
        case UMC_DELIVERY_CONNECTING:
                if (d->can)
                        return umc_delivery_fail(
                                d, UMC_REASON_TIMEOUT, "no connection to %s within %" PRIu64 " s",
                                d->address, c->connect_timeout_usec / USEC_PER_SEC);
                return umc_connect_failed(d, ETIMEDOUT);
        case UMC_DELIVERY_RETRYING:
                return d->can ? umc_dlvcan_open_channel(d) : umc_connect_again(d);
        case UMC_DELIVERY_AUTHENTICATING: {
                const struct umc_isotp_opts *o = &d->target->can.isotp;
                char text[UMC_MSG_ALARM_TEXT_MAX + 1];

                if (d->can)
                        return umc_dlvcan_retry(d, -ETIMEDOUT);
                return umc_delivery_fail(d, UMC_REASON_TIMEOUT, "%s",
                                         umc_hint_auth_timeout(text, sizeof(text),
                                                               c->auth_timeout_usec / USEC_PER_SEC,
                                                               d->can, o->tx_id, o->rx_id, o->eff));
        }
        case UMC_DELIVERY_VERIFYING:
                return umc_delivery_fail(d, UMC_REASON_TIMEOUT,
                                         "no final verdict within %" PRIu64 " s",
                                         c->final_timeout_usec / USEC_PER_SEC);
        case UMC_DELIVERY_TRANSFERRING:
                if (d->querying && !d->no_query) {
                        log_info("%s: no STATUS within %" PRIu64 " s", target_name(d),
                                 c->auth_timeout_usec / USEC_PER_SEC);
                        return restart_without_query(d);
                }
                at = d->last_activity + c->idle_timeout_usec;
                if (now >= at)
                        return umc_delivery_fail(d, UMC_REASON_TIMEOUT,
                                                 "no progress for %" PRIu64 " s",
                                                 c->idle_timeout_usec / USEC_PER_SEC);
                if (umc_delivery_arm_timeout(d, at) < 0)
                        return umc_delivery_fail(d, UMC_REASON_INTERNAL,
                                                 "cannot re-arm the timeout");
                return 0;
        default:
                return 0;
        }
}

static int on_later(sd_event_source *s, void *userdata) {
        struct umc_delivery *d = userdata;

        return umc_delivery_fail(d, d->later_reason, "%s", d->later_text);
}

/* Report a failure met inside a umc_delivery_*() call from the next loop iteration. */
static int fail_later(struct umc_delivery *d, enum umc_reason reason, const char *text) {
        d->later_reason = reason;
        (void)snprintf(d->later_text, sizeof(d->later_text), "%s", text);
        return sd_event_add_defer(d->event, &d->later, on_later, d);
}

/* ---- cancel ---- */

/* The cancel is told, or the ECU went away, or the linger bound passed: the end. */
static int cancel_done(struct umc_delivery *d) {
        bool installed = d->cancel_completed;

        d->cancelling = false;
        umc_delivery_disconnect(d);
        d->state = installed ? UMC_DELIVERY_DONE : UMC_DELIVERY_FAILED;
        if (installed)
                log_notice("%s: the ECU confirmed the image before it read the cancel: installed",
                           target_name(d));
        if (d->ev.finished)
                d->ev.finished(d->ev.userdata, installed,
                               installed ? UMC_REASON_OK : UMC_REASON_CANCELLED);
        return 0;
}

/*
 * Read what the ECU still sends: its STOP, or, when the cancel came while
 * it checked the whole image (it reads nothing then), its COMPLETE: the
 * image is installed, the cancel too late for it (cancel_completed). True
 * at the ECU's end of file, or on any error.
 */
static bool cancel_drain(struct umc_delivery *d) {
        uint8_t plain[UMC_DELIVERY_RX_PAYLOAD_MAX];

        for (;;) {
                struct umc_msg_feedback fb;
                struct umc_frame_header h;
                const uint8_t *f;
                size_t len, plen = 0;
                int r = umc_stream_read(d->stream, &f, &len, NULL);

                if (r == -EAGAIN)
                        return false;
                if (r < 0)
                        return true;
                if (umc_session_open(d->session, f, len, &h, plain, sizeof(plain), &plen, NULL) >= 0 &&
                    h.type == UMC_FRAME_FEEDBACK && umc_msg_feedback_decode(plain, plen, &fb) >= 0 &&
                    fb.code == UMC_FEEDBACK_COMPLETE)
                        d->cancel_completed = true;
                umc_memzero(plain, plen);
        }
}

static int cancel_io(struct umc_delivery *d) {
        int r;

        if (d->cancel_len > 0 && umc_stream_queue(d->stream, d->txbuf, d->cancel_len) >= 0) {
                umc_memzero(d->txbuf, d->cancel_len);
                d->cancel_len = 0;
        }
        r = umc_stream_flush(d->stream);
        if (r < 0 && r != -EAGAIN)
                return cancel_done(d);
        if (d->cancel_len == 0 && umc_stream_queued(d->stream) == 0) {
                /* ISO-TP: the last PDU may still be in flight; the close waits for it. */
                if (d->can) {
                        (void)cancel_drain(d);
                        return cancel_done(d);
                }
                if (!d->write_shut) {
                        (void)shutdown(umc_stream_fd(d->stream), SHUT_WR);
                        d->write_shut = true;
                }
                if (cancel_drain(d))
                        return cancel_done(d);
        }
        if (sd_event_source_set_io_events(d->io, umc_stream_queued(d->stream) > 0 ||
                                                         d->cancel_len > 0
                                                 ? EPOLLIN | EPOLLOUT
                                                 : EPOLLIN) < 0)
                return cancel_done(d);
        return 0;
}

/* ALARM(CANCELLED), sealed with the session's key of the moment, into txbuf. */
static int cancel_seal(struct umc_delivery *d, size_t *ret_len) {
        struct umc_msg_alarm a = { .reason = UMC_REASON_CANCELLED };
        uint8_t body[UMC_MSG_ALARM_MAX_LEN];
        int n, r;

        (void)snprintf(a.text, sizeof(a.text), "installation cancelled by the master");
        /* Nothing sealed yet (BEGIN not produced): take the rotation's first key, as BEGIN would. */
        if (umc_session_tx_key_id(d->session) == 0) {
                r = umc_session_set_tx_key(d->session, d->rotation.key_id,
                                           umc_rotation_suite(&d->rotation));
                if (r < 0)
                        return r;
        }
        n = umc_msg_alarm_encode(&a, body, sizeof(body));
        if (n < 0)
                return n;
        return umc_session_seal(d->session, UMC_FRAME_ALARM, body, (size_t)n, d->txbuf,
                                sizeof(d->txbuf), ret_len);
}

int umc_delivery_cancel(struct umc_delivery *d) {
        size_t len = 0;
        int r;

        if (!d || d->state == UMC_DELIVERY_DONE || d->state == UMC_DELIVERY_FAILED)
                return -EALREADY;
        if (d->cancelling)
                return 0;
        if (!d->session || !d->stream ||
            (d->state != UMC_DELIVERY_TRANSFERRING && d->state != UMC_DELIVERY_VERIFYING)) {
                umc_delivery_abort(d, UMC_REASON_CANCELLED);
                return -ENOTCONN;
        }
        r = cancel_seal(d, &len);
        if (r >= 0)
                r = umc_delivery_arm_timeout(d, now_usec() + UMC_DELIVERY_LINGER_USEC);
        if (r < 0) {
                umc_delivery_abort(d, UMC_REASON_CANCELLED);
                return r;
        }
        if (d->sender)
                umc_sender_abort(d->sender, UMC_REASON_CANCELLED);
        /* Nothing but the connection's end is of interest now. */
        d->tick = sd_event_source_disable_unref(d->tick);
        d->later = sd_event_source_disable_unref(d->later);
        d->pace_timer = sd_event_source_disable_unref(d->pace_timer);
        d->pace_waiting = false;
        d->bus_io = sd_event_source_disable_unref(d->bus_io);
        umc_canbus_free(d->bus);
        d->bus = NULL;
        d->cancelling = true;
        d->cancel_len = len;
        log_info("%s: cancelling: telling the ECU (ALARM, cancelled)", target_name(d));
        (void)sd_event_source_set_enabled(d->io, SD_EVENT_ON);
        return cancel_io(d) < 0 ? -EIO : 0;
}

/* ---- the socket, start and abort ---- */

int umc_delivery_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct umc_delivery *d = userdata;
        int r;

        if (d->cancelling)
                return cancel_io(d);
        if (d->state == UMC_DELIVERY_CONNECTING)
                return umc_connect_on_connected(d);
        if (!umc_delivery_running(d))
                return 0;
        r = umc_delivery_flush(d);
        if (r >= 0 && umc_delivery_running(d))
                r = read_frames(d);
        if (r >= 0 && umc_delivery_running(d))
                r = umc_delivery_pump(d);
        return r;
}

int umc_delivery_start(struct umc_delivery *d) {
        const struct umc_daemon_config *c;
        int r;

        if (!d)
                return -EINVAL;
        if (d->state != UMC_DELIVERY_NEW)
                return -EALREADY;
        if (d->can) {
                r = umc_dlvcan_start(d);
                if (r < 0) {
                        char text[UMC_MSG_ALARM_TEXT_MAX + 1];

                        /* No CAN in the kernel, no such interface: an alarm like any failure. */
                        umc_delivery_disconnect(d);
                        (void)snprintf(text, sizeof(text), "cannot watch the bus %s: %s",
                                       d->target->can.ifname, strerror(-r));
                        r = fail_later(d, UMC_REASON_IO_ERROR, text);
                        if (r < 0)
                                return r;
                        d->state = UMC_DELIVERY_CONNECTING;
                }
                return 0;
        }
        c = d->p.config;
        umc_retry_start(&d->retry, now_usec(), c->connect_retry_usec, c->connect_backoff_usec,
                        c->connect_backoff_max_usec);
        r = sd_event_add_time_relative(d->event, &d->timeout, CLOCK_MONOTONIC,
                                       c->connect_timeout_usec, 0, umc_delivery_on_timeout, d);
        if (r < 0)
                return r;
        r = umc_connect_tcp(d);
        if (r < 0) {
                d->timeout = sd_event_source_disable_unref(d->timeout);
                d->state = UMC_DELIVERY_NEW;
        }
        return r;
}

void umc_delivery_abort(struct umc_delivery *d, enum umc_reason reason) {
        if (!d || d->state == UMC_DELIVERY_DONE || d->state == UMC_DELIVERY_FAILED)
                return;
        d->cancelling = false;
        if (d->sender)
                umc_sender_abort(d->sender, reason);
        umc_delivery_disconnect(d);
        d->state = UMC_DELIVERY_FAILED;
}
