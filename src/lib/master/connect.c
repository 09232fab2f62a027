/* SPDX-License-Identifier: MIT */
/*
 * The delivery's way in: on TCP the non-blocking connect() with its retry
 * and backoff (ConnectRetrySec=, ConnectBackoffMaxSec=, retry.h; CAN
 * retries its challenge in dlvcan.c) and the Ethernet
 * ACL on the connection's 5-tuple; on both channels the ECU's
 * authentication (AUTH, master side) and the session and sender it keys.
 */
#include "delivery-internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "umc/hint.h"
#include "umc/log.h"
#include "umc/netinfo.h"
#include "umc/session.h"
#include "umc/stream.h"

/* Bytes of every suite in CipherOrder=: what the session may seal and open. */
static uint32_t allowed_suites(const struct umc_rotation_cfg *c) {
        uint32_t bits = 0;

        for (size_t i = 0; i < c->n_order; i++)
                bits |= 1u << c->order[i];
        return bits;
}

static int setup_session(struct umc_delivery *d, const uint8_t salt[UMC_SALT_LEN]) {
        const struct umc_daemon_config *c = d->p.config;
        struct umc_session_params sp = {
                .session_id = d->auth.session_id,
                .ecu_id = d->ecu->ecu_id,
                .tx_dir = UMC_DIR_MASTER_TO_ECU,
                .allowed_suites = allowed_suites(&c->rotation),
                .inner_suite = c->inner_suite,
                .replay_window = c->replay_window,
                .max_payload = UMC_FRAME_MAX_PAYLOAD,
        };
        struct umc_sender_params xp = {
                .image_fd = d->p.image_fd,
                .image_len = d->p.image_len,
                .hash_alg = c->image_hash,
                .chunk_len = d->chunk,
                .verify_every = c->verify_every,
                .manifest = d->p.manifest,
        };
        if (d->can) {
                uint32_t n = c->verify_every ? c->verify_every
                                             : umc_xfer_auto_verify_every(d->p.image_len, d->chunk);
                /* In-flight PDUs must fit the receiver's socket buffer (delivery.h). */
                xp.verify_every = n < UMC_DELIVERY_CAN_VERIFY_MAX ? n : UMC_DELIVERY_CAN_VERIFY_MAX;
        }
        int r;

        memcpy(sp.master_key, d->target->master_key, UMC_MASTER_KEY_LEN);
        memcpy(sp.salt, salt, UMC_SALT_LEN);
        r = umc_session_new(&sp, &d->session);
        umc_memzero(&sp, sizeof(sp));
        if (r < 0)
                return r;
        r = umc_rotation_init(&d->rotation, &c->rotation, now_usec());
        if (r < 0)
                return r;
        memcpy(xp.image_hash, d->p.image_hash, UMC_HASH_LEN);
        memcpy(xp.image_id, d->image_id, UMC_MSG_IMAGE_ID_LEN);
        memcpy(xp.version, d->p.version, sizeof(xp.version));
        r = umc_sender_new(&xp, d->session, &d->rotation, &d->sender);
        if (r < 0)
                return r;
        umc_sender_set_reject_limit(d->sender, c->max_rejected_frames);
        return 0;
}

int umc_connect_on_auth_response(struct umc_delivery *d, const uint8_t *frame, size_t len) {
        enum umc_reason why = UMC_REASON_OK;
        uint8_t salt[UMC_SALT_LEN];
        size_t out_len = 0;
        int r;

        r = umc_auth_master_response(&d->auth, frame, len, d->txbuf, sizeof(d->txbuf), &out_len,
                                     salt, &why);
        if (r == -EBADMSG) {
                struct umc_hint_auth h = { .ecu_id = d->ecu->ecu_id, .key_file = d->ecu->key_file,
                                           .want_hw_id = d->ecu->hw_id,
                                           .got_hw_id = d->auth.peer_hw_id };
                char text[UMC_MSG_ALARM_TEXT_MAX + 1];

                return umc_delivery_fail(d, why, "%s",
                                         umc_hint_auth_refused(text, sizeof(text), why, &h));
        }
        if (r < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "ECU authentication: %s",
                                         strerror(-r));
        r = setup_session(d, salt);
        umc_memzero(salt, sizeof(salt));
        umc_auth_master_clear(&d->auth);
        if (r < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot set up the session: %s",
                                         strerror(-r));
        r = umc_stream_queue(d->stream, d->txbuf, out_len);
        umc_memzero(d->txbuf, out_len);
        if (r < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot queue AUTH_CONFIRM: %s",
                                         strerror(-r));
        if (!d->no_query) {
                r = umc_delivery_queue_status_query(d);
                if (r < 0)
                        return umc_delivery_fail(d, UMC_REASON_INTERNAL,
                                                 "cannot queue STATUS_QUERY: %s", strerror(-r));
        }
        log_debug("%s: ECU 0x%" PRIx32 " authenticated", target_name(d), d->ecu->ecu_id);
        d->state = UMC_DELIVERY_TRANSFERRING;
        d->deadline = 0;
        umc_pacing_start(d, now_usec());
        /* The STATUS is due like an AUTH_RESPONSE (on ISO-TP an older agent just says nothing). */
        if (umc_delivery_arm_timeout(d, d->last_activity +
                                                (d->querying ? d->p.config->auth_timeout_usec
                                                             : d->p.config->idle_timeout_usec)) < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot arm the timeout");
        umc_delivery_emit_progress(d);
        return 0;
}

static const char *config_file(const struct umc_delivery *d) {
        return d->p.config->path ? d->p.config->path : "umcd.conf";
}

/* The Ethernet ACL, before a single byte goes out. */
static int check_acl(struct umc_delivery *d) {
        const struct umc_config_eth_acl *acl = &d->p.config->eth_acl;
        char tuple[UMC_NETINFO_TUPLE_STRING_MAX];
        struct umc_eth_tuple t;
        enum umc_reason why;
        size_t idx = 0;
        int r;

        r = umc_netinfo_tuple(d->fd, true, &t);
        if (r < 0) {
                /* Fail closed: a connection we cannot describe is one we cannot allow. */
                (void)umc_delivery_fail(d, UMC_REASON_ETH_DEFAULT_DENY,
                                        "cannot determine the 5-tuple of the connection to %s: %s",
                                        d->address, strerror(-r));
                return -EPERM;
        }
        (void)umc_netinfo_tuple_to_string(&t, tuple, sizeof(tuple));
        why = umc_eth_acl_check(acl->rules, acl->n_rules, &t, &idx);
        if (why != UMC_REASON_OK) {
                /* Say which side refused and where the rule is missing (docs/reasons.md). */
                if (idx < acl->n_rules)
                        (void)umc_delivery_fail(
                                d, why,
                                "umcd denied connection %s: [EthernetAcl] Rule= number "
                                "%zu of %s",
                                tuple, idx + 1, config_file(d));
                else
                        (void)umc_delivery_fail(
                                d, why,
                                "umcd denied connection %s: no [EthernetAcl] Rule= in "
                                "%s allows it",
                                tuple, config_file(d));
                return -EPERM;
        }
        log_debug("%s: connection %s allowed by Ethernet ACL rule %zu", target_name(d), tuple,
                  idx + 1);
        return 0;
}

int umc_connect_on_connected(struct umc_delivery *d) {
        socklen_t sl = sizeof(int);
        int err = 0, r;

        if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
                err = errno;
        if (err != 0)
                return umc_connect_failed(d, err);
        if (check_acl(d) < 0)
                return 0;

        r = umc_stream_new(d->fd, UMC_DELIVERY_RX_PAYLOAD_MAX, UMC_DELIVERY_QUEUE_MAX, &d->stream);
        if (r < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot set up the stream: %s",
                                         strerror(-r));
        d->fd = -1; /* the stream's now */
        umc_pacing_start_load_sampling(d);
        return umc_connect_begin_auth(d);
}

/* The channel is up (and on TCP allowed by the ACL): challenge the ECU. */
int umc_connect_begin_auth(struct umc_delivery *d) {
        size_t len = 0;
        int r;

        r = umc_auth_master_start(&d->auth, d->target->master_key, d->ecu->ecu_id, d->ecu->hw_id,
                                  d->txbuf, sizeof(d->txbuf), &len);
        if (r >= 0)
                r = umc_stream_queue(d->stream, d->txbuf, len);
        if (r < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot start AUTH: %s",
                                         strerror(-r));

        d->state = UMC_DELIVERY_AUTHENTICATING;
        d->last_activity = now_usec();
        d->auth_wait = d->p.config->auth_timeout_usec;
        /* On CAN the challenge is what is retried: a later one waits what the budget has left. */
        if (d->can)
                d->auth_wait = umc_retry_attempt_wait(&d->retry, d->last_activity, d->auth_wait,
                                                      CAN_AUTH_WAIT_MIN_USEC);
        if (umc_delivery_arm_timeout(d, d->last_activity + d->auth_wait) < 0 ||
            (!d->tick && sd_event_add_time_relative(
                                 d->event, &d->tick, CLOCK_MONOTONIC, d->p.config->load.window_usec,
                                 TICK_ACCURACY_USEC, umc_pacing_on_tick, d) < 0) ||
            sd_event_source_set_enabled(d->tick, SD_EVENT_ON) < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot set up the timers");
        umc_delivery_emit_progress(d);
        return umc_delivery_flush(d);
}

static int on_connect_later(sd_event_source *s, void *userdata);

/*
 * One connection attempt on TCP: socket, watch, connect(). A connect()
 * that fails at once (no route, refused on loopback) goes the way of one
 * that fails later, through umc_connect_failed(), from the loop. Returns a
 * local error (socket(), event sources) after which nothing is pending.
 */
int umc_connect_tcp(struct umc_delivery *d) {
        const struct umc_daemon_config *c = d->p.config;
        _cleanup_close_ int fd = -1;
        uint64_t now = now_usec(), deadline;
        int r;

        fd = socket(d->target->address.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    IPPROTO_TCP);
        if (fd < 0)
                return -errno;
        r = sd_event_add_io(d->event, &d->io, fd, EPOLLOUT, umc_delivery_on_io, d);
        if (r < 0)
                return r;
        d->retry.attempt++;
        /* A retried attempt waits no longer than the retry budget has left (but 100 ms). */
        deadline = now + umc_retry_attempt_wait(&d->retry, now, c->connect_timeout_usec,
                                                RETRY_WAIT_MIN_USEC);
        r = umc_delivery_arm_timeout(d, deadline);
        if (r < 0) {
                d->retry.attempt--;
                d->io = sd_event_source_disable_unref(d->io);
                return r;
        }
        d->fd = TAKE_FD(fd);
        d->state = UMC_DELIVERY_CONNECTING;
        d->last_activity = now;
        log_debug("%s: connecting to %s (attempt %u)", target_name(d), d->address,
                  d->retry.attempt);
        if (connect(d->fd, &d->target->address.sa, d->target->address.len) < 0 &&
            errno != EINPROGRESS) {
                d->later_reason = UMC_REASON_IO_ERROR;
                d->later_errno = errno;
                /* Reported from the loop: the caller may be umc_delivery_start(). */
                (void)sd_event_source_set_enabled(d->io, SD_EVENT_OFF);
                r = sd_event_add_defer(d->event, &d->later, on_connect_later, d);
                if (r < 0) {
                        umc_delivery_disconnect(d);
                        return r;
                }
        }
        return 0;
}

/*
 * An attempt to reach the ECU failed, for the reason and with the text
 * given (what the alarm and the log say): the next one after the backoff
 * while the retry budget lasts (phase retrying), else the target fails.
 * Both channels: a connect() on TCP, a challenge on CAN (dlvcan.c).
 */
int umc_connect_retry_later(struct umc_delivery *d, enum umc_reason reason, const char *what) {
        uint64_t now = now_usec(), at = 0;

        if (d->retry.until == 0)
                return umc_delivery_fail(d, reason, "%s", what);
        if (!umc_retry_next(&d->retry, now, &at))
                return umc_delivery_fail(
                        d, reason,
                        "%s; gave up after %u attempts in %" PRIu64 " s (ConnectRetrySec=%" PRIu64
                        ")",
                        what, d->retry.attempt,
                        (now - d->retry.first + USEC_PER_SEC / 2) / USEC_PER_SEC,
                        d->p.config->connect_retry_usec / USEC_PER_SEC);
        log_info("%s: %s; attempt %u in %" PRIu64 " ms", target_name(d), what,
                 d->retry.attempt + 1, (at - now) / USEC_PER_MSEC);
        if (umc_delivery_arm_timeout(d, at) < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot arm the retry timer");
        d->state = UMC_DELIVERY_RETRYING;
        umc_delivery_emit_progress(d);
        return 0;
}

/* A connect() that failed (err, positive), or did not complete in time. */
int umc_connect_failed(struct umc_delivery *d, int err) {
        char what[UMC_MSG_ALARM_TEXT_MAX + 1];

        d->io = sd_event_source_disable_unref(d->io);
        d->later = sd_event_source_disable_unref(d->later);
        umc_closep(&d->fd);
        d->fd = -1;
        (void)snprintf(what, sizeof(what), "cannot connect to %s: %s", d->address, strerror(err));
        return umc_connect_retry_later(
                d, err == ETIMEDOUT ? UMC_REASON_TIMEOUT : UMC_REASON_IO_ERROR, what);
}

int umc_connect_again(struct umc_delivery *d) {
        int r = umc_connect_tcp(d);

        if (r < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot connect to %s: %s",
                                         d->address, strerror(-r));
        umc_delivery_emit_progress(d);
        return 0;
}

static int on_connect_later(sd_event_source *s, void *userdata) {
        struct umc_delivery *d = userdata;

        return umc_connect_failed(d, d->later_errno);
}
