/* SPDX-License-Identifier: MIT */
/*
 * One connection's protocol on the agent's side (agent-internal.h): AUTH as
 * the ECU, the session, the image receiver writing into the slot store
 * through a sink, STATUS_QUERY, the final read-back check in bounded steps,
 * and on a gateway the hand-over to the forwarder. TCP and the ISO-TP
 * channel alike; a refusal is one ALARM line (umc_agent_alarm()).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "umc/agent-internal.h"
#include "umc/ecucheck.h"
#include "umc/fs.h"
#include "umc/log.h"

/* Frames handled per wake-up before other sources get a turn (4 MiB of DATA at most). */
#define FRAMES_PER_RUN 64
/* The write queue must hold one maximal frame (umc_stream_new()); we only send small ones. */
#define QUEUE_MAX (UMC_FRAME_HEADER_LEN + UMC_AGENT_MAX_PAYLOAD)
#define DRAIN_CHUNK 4096
/* A second transfer while the slot store is held. */
#define REASON_BUSY UMC_REASON_BUSY

/* ---- slot store sink ---- */

static int sink_begin(void *ud, const uint8_t image_id[UMC_MSG_IMAGE_ID_LEN], const char *version,
                      uint64_t image_len, uint64_t *ret_resume_offset) {
        struct conn *c = ud;
        return umc_slots_begin(c->slots, image_id, version, image_len, ret_resume_offset);
}

static int sink_write(void *ud, uint64_t offset, const void *data, size_t len) {
        struct conn *c = ud;
        return umc_slots_write(c->slots, offset, data, len);
}

static int sink_checkpoint(void *ud) {
        struct conn *c = ud;
        return umc_slots_checkpoint(c->slots);
}

static int sink_read(void *ud, uint64_t offset, void *buf, size_t len) {
        struct conn *c = ud;
        int fd = umc_slots_partial_fd(c->slots);

        if (fd < 0)
                return fd;
        /* -EIO when the partial is shorter than what was written. */
        return umc_fs_pread_exact(fd, buf, len, (off_t)offset);
}

static void on_forward_done(void *ud, enum umc_reason reason, const char *text);

/*
 * Gateway: keep the verified image in the ECU's store (committed, never
 * activated: the gateway runs no image) and start passing it on; the
 * receiver answers umcd once the ECU has (umc_receiver_finish()). The fd
 * is taken before the commit renames the partial: same file, still open.
 */
static int sink_forward(struct conn *c) {
        const struct umc_msg_begin *b = umc_receiver_begin_info(c->receiver);
        const struct umc_msg_transport *t = umc_receiver_transport_info(c->receiver);
        struct umc_forward_params p = {
                .ecu_id = c->ecu_id,
                .image_len = b->image_len,
                .hash_alg = t->hash_alg,
        };
        struct umc_signed_manifest mf;
        int r;

        p.image_fd = fcntl(umc_slots_partial_fd(c->slots), F_DUPFD_CLOEXEC, 3);
        if (p.image_fd < 0)
                return -errno;
        r = umc_slots_commit(c->slots);
        if (r < 0) {
                (void)close(p.image_fd);
                return r;
        }
        memcpy(p.image_hash, t->hash, UMC_HASH_LEN);
        memcpy(p.image_id, b->image_id, UMC_MSG_IMAGE_ID_LEN);
        memcpy(p.version, b->version, sizeof(p.version));
        if (umc_receiver_manifest(c->receiver, &mf) >= 0)
                p.manifest = &mf; /* the job copies it */
        c->forward_done = false;
        r = umc_forward_start(c->agent->forwarder, &p, on_forward_done, c, &c->forward);
        if (r == -EINVAL)
                log_error("%s: cannot forward: the forward file's ImageHash= differs from the "
                          "master's", c->peer);
        return r < 0 ? r : -EINPROGRESS;
}

static int sink_commit(void *ud) {
        struct conn *c = ud;
        int r;

        if (c->agent->forwarder)
                return sink_forward(c);
        r = umc_slots_commit(c->slots);
        if (r >= 0) /* the signed security version, before the image becomes active */
                r = umc_ecucheck_record(c->ecucheck);
        if (r < 0)
                return r;
        return umc_slots_activate(c->slots);
}

/* The session ended without a verdict: keep the partial up to its last checkpoint. */
static void sink_rewind(void *ud) {
        struct conn *c = ud;
        int r = umc_slots_rewind(c->slots);

        if (r < 0 && r != -ENOENT) /* ENOENT: nothing in progress (committed, forwarding) */
                log_warning_errno(r, "%s: cannot cut the partial image back to its checkpoint "
                                     "(the next transfer does): %m", c->peer);
}

static void sink_abort(void *ud) {
        struct conn *c = ud;

        c->dropped_image = true;
        /* Gateway: the ECU keeps its active image; our copy stays for a retry. */
        umc_forward_job_free(c->forward);
        c->forward = NULL;
        (void)umc_slots_abort(c->slots);
}

/* ---- connections ---- */

static int agent_lookup(void *userdata, uint32_t ecu_id, uint8_t ret_key[UMC_MASTER_KEY_LEN],
                        char ret_hw_id[UMC_MSG_HW_ID_MAX + 1]) {
        const struct umc_agent *a = userdata;
        const struct umc_ecu *e;

        /*
         * A gateway answers for the ECUs behind it, with its own key: the
         * Ethernet hop is keyed with the gateway's key, the hop to the ECU
         * with the ECU's (forward.h).
         */
        if (a->forwarder) {
                e = umc_forwarder_find(a->forwarder, ecu_id);
                if (!e)
                        return -ENOENT;
                memcpy(ret_key, a->config.master_key, UMC_MASTER_KEY_LEN);
                (void)snprintf(ret_hw_id, UMC_MSG_HW_ID_MAX + 1, "%s", e->hw_id);
                return 0;
        }
        if (ecu_id == 0 || ecu_id != a->config.ecu_id)
                return -ENOENT;
        memcpy(ret_key, a->config.master_key, UMC_MASTER_KEY_LEN);
        (void)snprintf(ret_hw_id, UMC_MSG_HW_ID_MAX + 1, "%s", a->config.hw_id);
        return 0;
}

/* The session's count of dropped frames, once, when it ends. */
static void conn_log_rejects(const struct conn *c) {
        struct umc_xfer_rejects rj;

        if (!c->receiver)
                return;
        umc_receiver_get_rejects(c->receiver, &rj);
        if (rj.total > 0)
                log_warning("%s: %" PRIu64 " frame(s) that failed authentication were dropped "
                            "during this session (the last: %s)",
                            c->peer, rj.total, umc_reason_to_string((uint16_t)rj.last));
}

/*
 * Drop receiver, slot store (a partial stays for resume, cut back to its
 * last checkpoint: nothing after it was verified) and session.
 */
static void conn_release_transfer(struct conn *c) {
        conn_log_rejects(c);
        if (c->receiver && umc_receiver_state(c->receiver) == UMC_RECEIVER_STREAM)
                sink_rewind(c);
        umc_forward_job_free(c->forward); /* upstream gone: stop the ECU's delivery too */
        c->forward = NULL;
        umc_receiver_free(c->receiver);
        c->receiver = NULL;
        umc_ecucheck_free(c->ecucheck);
        c->ecucheck = NULL;
        umc_slots_close(c->slots);
        c->slots = NULL;
        umc_session_free(c->session);
        c->session = NULL;
        if (c->agent->transfer == c)
                c->agent->transfer = NULL;
}

void umc_agent_conn_free(struct conn *c) {
        struct umc_agent *a;

        if (!c)
                return;
        a = c->agent;
        if (c->prev)
                c->prev->next = c->next;
        else
                a->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        a->n_conns--;
        conn_release_transfer(c);
        umc_auth_ecu_clear(&c->auth);
        (void)sd_event_source_disable_unref(c->io);
        (void)sd_event_source_disable_unref(c->timer);
        (void)sd_event_source_disable_unref(c->work);
        /*
         * On ISO-TP, close() waits for our last PDU if it is still in flight
         * (up to the flow-control timeout when the master vanished). That
         * wait stays here, unlike umcd's (umc_isotp_close_later()): the
         * channel reopens at once on the same IDs, and two sockets bound to
         * them would both answer the master's next first frame.
         */
        umc_stream_free(c->stream);
        umc_memzero(c, sizeof(*c));
        free(c);
        umc_agent_listen_update(a);
        umc_agent_notify_status(a);
        if (a->can_reopen && !a->stopping)
                (void)sd_event_source_set_enabled(a->can_reopen, SD_EVENT_ONESHOT);
}

static void conn_schedule_work(struct conn *c) {
        if (sd_event_source_set_enabled(c->work, SD_EVENT_ONESHOT) < 0) {
                log_error("%s: cannot schedule work, closing", c->peer);
                c->dead = true;
        }
}

static void conn_arm_timer(struct conn *c, uint64_t usec) {
        if (sd_event_source_set_time_relative(c->timer, usec) < 0 ||
            sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT) < 0) {
                log_error("%s: cannot arm a timer, closing", c->peer);
                c->dead = true;
        }
}

static void conn_queue(struct conn *c, const uint8_t *frame, size_t len) {
        int r = umc_stream_queue(c->stream, frame, len);
        if (r < 0) {
                /* Cannot happen: input stops while less than UMC_AGENT_REPLY_MAX is free. */
                log_error_errno(r, "%s: cannot queue a %zu-byte frame: %m", c->peer, len);
                c->dead = true;
        }
}

/* Our last word is queued (or there is none): let the peer read it, then close. */
static void conn_close_after_reply(struct conn *c) {
        c->state = CONN_CLOSING;
        conn_release_transfer(c);
        conn_arm_timer(c, UMC_AGENT_LINGER_USEC);
}

static void conn_lost(struct conn *c, int error) {
        if (c->state == CONN_CLOSING) {
                c->dead = true;
                return;
        }
        if (c->began && c->receiver && umc_receiver_state(c->receiver) == UMC_RECEIVER_STREAM) {
                const struct umc_msg_begin *b = umc_receiver_begin_info(c->receiver);
                log_warning("%s: connection lost at byte %" PRIu64 " of %" PRIu64
                            " (version %s): %s; the partial image is kept for resume",
                            c->peer, umc_receiver_offset(c->receiver), b->image_len, b->version,
                            error == -ECONNRESET ? "closed by the master" : strerror(-error));
                c->agent->stats.interrupted++;
        } else if (c->state == CONN_AUTH_CONFIRM && error == -ECONNRESET) {
                /* umcd sends nothing when it refuses our proof: say what it means here. */
                log_warning("%s: umcd closed the connection after our AUTH_RESPONSE for ECU 0x%08" PRIx32
                            " instead of confirming: it did not accept our proof, so the key files "
                            "differ (KeyFile= here, the target's KeyFile= in umcd.conf) or the "
                            "HardwareId= does; umcd's alarm says which",
                            c->peer, c->ecu_id);
        } else {
                log_info("%s: connection closed (%s)", c->peer,
                         error == -ECONNRESET ? "by the peer" : strerror(-error));
        }
        c->dead = true;
}

static void conn_flush(struct conn *c) {
        int r = umc_stream_flush(c->stream);

        if (r == -EAGAIN)
                return;
        if (r < 0) {
                conn_lost(c, r);
                return;
        }
        if (c->state == CONN_CLOSING && c->packet) {
                c->dead = true; /* our last PDU is with the kernel, which finishes sending it */
                return;
        }
        if (c->state == CONN_CLOSING && !c->write_shut) {
                (void)shutdown(umc_stream_fd(c->stream), SHUT_WR);
                c->write_shut = true;
        }
        if (c->state == CONN_CLOSING && c->peer_eof)
                c->dead = true;
}

/* CLOSING: read and drop whatever the peer still sends until it closes. */
static void conn_drain(struct conn *c) {
        uint8_t scratch[DRAIN_CHUNK];

        for (unsigned i = 0; i < FRAMES_PER_RUN; i++) {
                ssize_t n = read(umc_stream_fd(c->stream), scratch, sizeof(scratch));
                if (n > 0)
                        continue;
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;
                c->peer_eof = true; /* end of file, or an error: nothing more to read */
                if (c->write_shut || n < 0)
                        c->dead = true;
                return;
        }
}

static int conn_new_session(struct conn *c, const uint8_t salt[UMC_SALT_LEN]) {
        const struct umc_agent_config *cfg = &c->agent->config;
        struct umc_session_params p = {
                .session_id = c->auth.session_id,
                .ecu_id = c->auth.ecu_id,
                .tx_dir = UMC_DIR_ECU_TO_MASTER,
                .allowed_suites = cfg->allowed_suites,
                .inner_suite = cfg->inner_suite,
                .replay_window = cfg->replay_window,
                .max_payload = UMC_AGENT_MAX_PAYLOAD,
        };
        int r;

        memcpy(p.master_key, c->auth.key, sizeof(p.master_key));
        memcpy(p.salt, salt, sizeof(p.salt));
        r = umc_session_new(&p, &c->session);
        umc_memzero(&p, sizeof(p));
        return r;
}

/* Endpoint mode: take the slot store and set up the receiver, or say why not. */
/*
 * The store an image goes to: SlotDirectory= on an endpoint; on a gateway
 * a store per ECU behind it, SlotDirectory=/NAME (made on first use), so
 * that images for different ECUs neither collide nor wait for each other.
 */
static int store_dir(const struct conn *c, char *buf, size_t size) {
        const struct umc_agent *a = c->agent;
        const struct umc_ecu *e;
        int n;

        if (!a->forwarder) {
                n = snprintf(buf, size, "%s", a->config.slot_directory);
                return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
        }
        e = umc_forwarder_find(a->forwarder, c->ecu_id);
        if (!e)
                return -ENOENT;
        n = snprintf(buf, size, "%s/%s", a->config.slot_directory, e->name);
        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* The hardware ID the session answered with: the ECU's own, or on a gateway its entry's. */
static const char *conn_hw_id(const struct conn *c) {
        const struct umc_ecu *e = c->agent->forwarder
                                          ? umc_forwarder_find(c->agent->forwarder, c->ecu_id)
                                          : NULL;
        return e ? e->hw_id : c->agent->config.hw_id;
}

static int conn_start_receiver(struct conn *c) {
        struct umc_agent *a = c->agent;
        char dir[PATH_MAX];
        unsigned flags = 0;
        int r;

        r = store_dir(c, dir, sizeof(dir));
        if (r >= 0)
                r = umc_slots_open(dir, &c->slots, &flags);
        if (r == -EBUSY) {
                c->refuse_reason = REASON_BUSY;
                umc_agent_alarm(a, c->peer, c->ecu_id, c->refuse_reason,
                            "refused after authentication: another transfer into the slot store "
                            "is in progress");
                return r;
        }
        if (r < 0) {
                log_error_errno(r, "%s: cannot open the slot store %s: %m", c->peer, dir);
                c->refuse_reason = UMC_REASON_IO_ERROR;
                umc_agent_alarm(a, c->peer, c->ecu_id, c->refuse_reason,
                            "refused after authentication: the slot store is unusable");
                return r;
        }
        if (flags & UMC_SLOTS_DISCARDED_PROGRESS)
                log_notice("%s: dropped a resume record that did not match its partial image; "
                           "the next image starts from byte 0", a->config.slot_directory);
        (void)umc_agent_slots_prune(&a->config, c->slots, dir);
        c->sink = (struct umc_sink){
                .begin = sink_begin, .write = sink_write, .checkpoint = sink_checkpoint,
                .read = sink_read, .commit = sink_commit, .abort = sink_abort, .userdata = c,
                .rewind = sink_rewind,
        };
        r = umc_receiver_new(c->session, &c->sink, a->config.max_image_size, &c->receiver);
        if (r >= 0)
                umc_receiver_set_reject_limit(c->receiver, a->config.max_rejected_frames);
        if (r >= 0)
                r = umc_ecucheck_attach(c->receiver, &a->config, c->ecu_id, conn_hw_id(c),
                                        c->slots, &c->ecucheck);
        if (r < 0) {
                umc_receiver_free(c->receiver);
                c->receiver = NULL;
                umc_slots_close(c->slots);
                c->slots = NULL;
                c->refuse_reason = UMC_REASON_INTERNAL;
                log_error_errno(r, "%s: cannot create the receiver: %m", c->peer);
                return r;
        }
        a->transfer = c;
        return 0;
}

static void conn_auth_challenge(struct conn *c, const uint8_t *f, size_t len) {
        enum umc_reason why = UMC_REASON_OK;
        size_t olen = 0;
        int r;

        if (c->packet && c->agent->bus_verdict != UMC_REASON_OK) {
                umc_agent_alarm(c->agent, c->peer, 0, c->agent->bus_verdict,
                            "authentication refused: the last bus window broke the CAN ID checks");
                c->dead = true;
                return;
        }
        if (c->packet)
                conn_arm_timer(c, c->agent->handshake_usec);
        r = umc_auth_ecu_challenge(&c->auth, f, len, c->out, sizeof(c->out), &olen, &why);
        if (r == -EBADMSG) {
                struct umc_frame_header h = {};
                /* The stream checked the header already: name the ECU ID it asked for. */
                (void)umc_frame_header_parse(f, len, UMC_AGENT_MAX_PAYLOAD, &h, NULL);
                umc_agent_alarm(c->agent, c->peer, 0, why,
                            "authentication refused (challenge for ECU 0x%08" PRIx32 ")",
                            h.ecu_id);
                c->dead = true;
                return;
        }
        if (r < 0) {
                log_error_errno(r, "%s: cannot answer the challenge: %m", c->peer);
                umc_agent_alarm(c->agent, c->peer, 0, UMC_REASON_INTERNAL, "authentication aborted");
                c->dead = true;
                return;
        }
        c->ecu_id = c->auth.ecu_id;
        conn_queue(c, c->out, olen);
        c->state = CONN_AUTH_CONFIRM;
}

static void conn_authenticated(struct conn *c, uint8_t salt[UMC_SALT_LEN]);

static void conn_auth_confirm(struct conn *c, const uint8_t *f, size_t len) {
        enum umc_reason why = UMC_REASON_OK;
        uint8_t salt[UMC_SALT_LEN];
        int r;

        r = umc_auth_ecu_confirm(&c->auth, f, len, salt, &why);
        if (r == -EBADMSG) {
                umc_agent_alarm(c->agent, c->peer, c->ecu_id, why,
                            "authentication refused at the master's confirmation");
                c->dead = true;
                return;
        }
        if (r < 0) {
                log_error_errno(r, "%s: cannot check the confirmation: %m", c->peer);
                umc_agent_alarm(c->agent, c->peer, c->ecu_id, UMC_REASON_INTERNAL,
                            "authentication aborted");
                c->dead = true;
                return;
        }
        conn_authenticated(c, salt);
}

/* The master proved the key (salt from its confirmation, cleansed here): session and receiver. */
static void conn_authenticated(struct conn *c, uint8_t salt[UMC_SALT_LEN]) {
        uint64_t session_id;
        int r;

        session_id = c->auth.session_id;
        r = conn_new_session(c, salt);
        umc_memzero(salt, UMC_SALT_LEN);
        umc_auth_ecu_clear(&c->auth);
        if (r < 0) {
                log_error_errno(r, "%s: cannot create the session: %m", c->peer);
                umc_agent_alarm(c->agent, c->peer, c->ecu_id, UMC_REASON_INTERNAL,
                            "session setup failed");
                c->dead = true;
                return;
        }
        log_info("%s: master authenticated for ECU 0x%08" PRIx32 ", session %016" PRIx64,
                 c->peer, c->ecu_id, session_id);
        conn_arm_timer(c, c->idle_usec);
        c->state = conn_start_receiver(c) < 0 ? CONN_REFUSE_NEXT : CONN_TRANSFER;
        umc_agent_notify_status(c->agent);
}

/* Answer the first sealed frame with ALARM(refuse_reason): it gives us the key to seal with. */
static void conn_refuse_frame(struct conn *c, const uint8_t *f, size_t len) {
        struct umc_msg_alarm m = { .reason = c->refuse_reason };
        enum umc_reason why = UMC_REASON_OK;
        uint8_t body[UMC_MSG_ALARM_MAX_LEN];
        _cleanup_free_ uint8_t *plain = NULL;
        struct umc_frame_header h;
        size_t plen = 0, olen = 0;
        int n, r;

        plain = malloc(UMC_AGENT_MAX_PAYLOAD);
        if (!plain) {
                c->dead = true;
                return;
        }
        r = umc_session_open(c->session, f, len, &h, plain, UMC_AGENT_MAX_PAYLOAD, &plen, &why);
        umc_memzero(plain, plen);
        if (r < 0) {
                umc_agent_alarm(c->agent, c->peer, c->ecu_id,
                            r == -EBADMSG ? why : UMC_REASON_INTERNAL,
                            "frame refused after authentication");
                c->dead = true;
                return;
        }
        /* Mirror the master's key, as the receiver does: it accepts only keys it uses. */
        if (h.key_id > umc_session_tx_key_id(c->session))
                r = umc_session_set_tx_key(c->session, h.key_id, (enum umc_suite_id)h.suite);
        (void)snprintf(m.text, sizeof(m.text), "%s",
                       c->refuse_reason == REASON_BUSY
                               ? "another transfer into the slot store is in progress"
                               : "the slot store is unusable");
        n = r < 0 ? r : umc_msg_alarm_encode(&m, body, sizeof(body));
        if (n >= 0)
                r = umc_session_seal(c->session, UMC_FRAME_ALARM, body, (size_t)n, c->out,
                                     sizeof(c->out), &olen);
        else
                r = n;
        if (r < 0)
                log_warning_errno(r, "%s: cannot seal the ALARM, closing without it: %m", c->peer);
        else
                conn_queue(c, c->out, olen);
        conn_close_after_reply(c);
}

/*
 * A frame that failed to open was dropped (not acted on, and no sign of
 * life: the idle timer runs on). One line each; the limit per checkpoint
 * window bounds how many.
 */
static void conn_log_drop(struct conn *c, enum umc_reason why) {
        struct umc_xfer_rejects rj;
        char code[UMC_REASON_FORMAT_MAX];

        umc_receiver_get_rejects(c->receiver, &rj);
        c->agent->stats.rejected_frames++;
        log_warning("%s: dropped a frame that failed authentication: %s (reason %s); "
                    "%" PRIu32 " of at most %" PRIu32 " since the last checkpoint, %" PRIu64
                    " in this session",
                    c->peer, umc_reason_to_string((uint16_t)why),
                    umc_reason_format((uint16_t)why, code), rj.window, rj.limit, rj.total);
}

/*
 * The session ended on unauthenticated input, a gap, or an authenticated
 * frame that is malformed or out of turn: the image stays up to its
 * checkpoint.
 */
static void conn_suspended(struct conn *c, int r, enum umc_reason why) {
        struct umc_xfer_rejects rj;
        char kept[96] = "";

        umc_receiver_get_rejects(c->receiver, &rj);
        if (c->began) {
                (void)snprintf(kept, sizeof(kept),
                               "; the partial image is kept up to byte %" PRIu64 " for resume",
                               umc_receiver_checkpoint_offset(c->receiver));
                c->agent->stats.interrupted++;
        }
        if (r == -EKEYREJECTED) {
                c->agent->stats.rejected_frames++;
                umc_agent_alarm(c->agent, c->peer, c->ecu_id, why,
                            "more than %" PRIu32 " frames failed authentication since the last "
                            "checkpoint (the last: %s); session ended%s",
                            rj.limit, umc_reason_to_string((uint16_t)rj.last), kept);
        } else {
                umc_agent_alarm(c->agent, c->peer, c->ecu_id, why, "session ended%s%s%s%s",
                                why == UMC_REASON_OUT_OF_ORDER
                                        ? " (a frame is missing or out of turn)"
                                        : "",
                                *umc_ecucheck_why(c->ecucheck) ? ": " : "",
                                umc_ecucheck_why(c->ecucheck), kept);
        }
}

static void conn_transfer_result(struct conn *c, int r, enum umc_reason why, size_t olen);

static void conn_transfer_frame(struct conn *c, const uint8_t *f, size_t len) {
        enum umc_reason why = UMC_REASON_OK;
        size_t olen = 0;
        int r;

        c->dropped_image = false;
        r = umc_receiver_input(c->receiver, f, len, umc_now_monotonic_usec(), c->out,
                               sizeof(c->out), &olen, &why);
        if (olen > 0)
                conn_queue(c, c->out, olen);
        conn_transfer_result(c, r, why, olen);
}

static void conn_transfer_result(struct conn *c, int r, enum umc_reason why, size_t olen) {
        if (r == UMC_XFER_DROPPED) {
                conn_log_drop(c, why);
                return;
        }
        if (r == 0) {
                conn_arm_timer(c, c->idle_usec);
                if (!c->began && umc_receiver_state(c->receiver) == UMC_RECEIVER_STREAM) {
                        const struct umc_msg_begin *b = umc_receiver_begin_info(c->receiver);
                        c->began = true;
                        log_info("%s: receiving version %s, %" PRIu64 " bytes, from byte %" PRIu64,
                                 c->peer, b->version, b->image_len,
                                 umc_receiver_offset(c->receiver));
                }
                if (olen > 0)
                        umc_agent_notify_status(c->agent);
                return;
        }
        if (r == -EINPROGRESS) {
                (void)sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                c->state = CONN_CHECKING;
                log_info("%s: all %" PRIu64 " bytes received, checking the whole image", c->peer,
                         umc_receiver_offset(c->receiver));
                conn_schedule_work(c);
                return;
        }
        if (r == -EKEYREJECTED || (r == -EBADMSG && !c->dropped_image)) {
                conn_suspended(c, r, why);
        } else if (r == -ECANCELED) {
                /*
                 * An ALARM that opened under the session key: only the master
                 * holds it, so this is the master's word, and a cancel means
                 * no resume. Before BEGIN the receiver had no image to drop:
                 * a partial kept from an earlier session goes too.
                 */
                sink_abort(c);
                umc_agent_alarm(c->agent, c->peer, c->ecu_id, why,
                            "the master cancelled the transfer; partial image deleted, active "
                            "slot untouched");
        } else if (r == -EBADMSG)
                umc_agent_alarm(c->agent, c->peer, c->ecu_id, why,
                                "transfer stopped%s%s; image dropped, active slot untouched",
                                *umc_ecucheck_why(c->ecucheck) ? ": " : "",
                                umc_ecucheck_why(c->ecucheck));
        else {
                log_error_errno(r, "%s: transfer failed: %m", c->peer);
                umc_agent_alarm(c->agent, c->peer, c->ecu_id, why,
                            "transfer failed; active slot untouched");
        }
        conn_close_after_reply(c);
}

/* What the store holds, for the master: the slot overview of STATUS. */
static void status_fill(const struct conn *c, struct umc_msg_status *ret) {
        struct umc_slots_status st;
        int64_t age;

        *ret = (struct umc_msg_status){ .active = 'a' };
        if (umc_slots_status(c->slots, &st) < 0)
                return;
        ret->active = st.active;
        ret->previous = st.previous;
        /* Slot versions are at most UMC_SLOT_VERSION_MAX = UMC_MSG_VERSION_MAX characters. */
        memcpy(ret->version_a, st.version[0], sizeof(ret->version_a));
        memcpy(ret->version_b, st.version[1], sizeof(ret->version_b));
        if (c->agent->forwarder)
                ret->flags |= UMC_MSG_STATUS_GATEWAY;
        if (!st.partial)
                return;
        ret->flags |= UMC_MSG_STATUS_PARTIAL;
        memcpy(ret->partial_version, st.partial_version, sizeof(ret->partial_version));
        ret->partial_len = st.partial_len;
        ret->partial_offset = st.partial_durable;
        age = (int64_t)time(NULL) - st.partial_saved_sec;
        ret->partial_age_sec = age <= 0 ? 0 : age > UINT32_MAX ? UINT32_MAX : (uint32_t)age;
}

/*
 * STATUS_QUERY, after authentication and before BEGIN: answer with the slot
 * overview. Returns false when the frame is not one to answer here (not a
 * query, or one that does not open under the session): the receiver takes
 * it then, and refuses it as it refuses any frame out of turn or unopened.
 */
static bool conn_status_query(struct conn *c, const uint8_t *f, size_t len) {
        enum umc_reason why = UMC_REASON_OK;
        struct umc_msg_status_query q;
        struct umc_msg_status st;
        struct umc_frame_header h;
        uint8_t plain[256], body[UMC_MSG_STATUS_MAX_LEN];
        size_t plen = 0, olen = 0;
        int n, r;

        if (umc_receiver_state(c->receiver) != UMC_RECEIVER_WAIT_BEGIN ||
            umc_frame_header_parse(f, len, UMC_AGENT_MAX_PAYLOAD, &h, NULL) < 0 ||
            h.type != UMC_FRAME_STATUS_QUERY ||
            umc_session_open(c->session, f, len, &h, plain, sizeof(plain), &plen, &why) < 0)
                return false;
        r = umc_msg_status_query_decode(plain, plen, &q);
        umc_memzero(plain, sizeof(plain));
        if (r < 0) {
                umc_agent_alarm(c->agent, c->peer, c->ecu_id, UMC_REASON_BODY_MALFORMED,
                            "malformed STATUS_QUERY; closing");
                c->dead = true;
                return true;
        }
        /* Answer with the master's key, as the receiver does: it accepts only keys it uses. */
        r = h.key_id > umc_session_tx_key_id(c->session)
                    ? umc_session_set_tx_key(c->session, h.key_id, (enum umc_suite_id)h.suite)
                    : 0;
        status_fill(c, &st);
        n = r < 0 ? r : umc_msg_status_encode(&st, body, sizeof(body));
        r = n < 0 ? n
                  : umc_session_seal(c->session, UMC_FRAME_STATUS, body, (size_t)n, c->out,
                                     sizeof(c->out), &olen);
        if (r < 0) {
                log_error_errno(r, "%s: cannot answer STATUS_QUERY: %m", c->peer);
                c->dead = true;
                return true;
        }
        conn_queue(c, c->out, olen);
        conn_arm_timer(c, c->idle_usec);
        log_debug("%s: reported the slots: active %c, a \"%s\", b \"%s\"%s", c->peer, st.active,
                  st.version_a, st.version_b,
                  (st.flags & UMC_MSG_STATUS_PARTIAL) ? ", a partial image" : "");
        return true;
}

static void conn_check_step(struct conn *c) {
        enum umc_reason why = UMC_REASON_OK;
        const char *version = NULL;
        size_t olen = 0;
        char slot = '?';
        int r;

        r = umc_receiver_step(c->receiver, UMC_AGENT_STEP_BUDGET, c->out, sizeof(c->out), &olen,
                              &why);
        if (r == 1) {
                conn_schedule_work(c);
                return;
        }
        if (r == -EINPROGRESS) {
                c->state = CONN_FORWARDING;
                log_info("%s: image verified, forwarding it to ECU 0x%08" PRIx32, c->peer,
                         c->ecu_id);
                umc_agent_notify_status(c->agent);
                /*
                 * Input was not read while checking, and what arrived then may
                 * already sit in the stream's buffer, where no EPOLLIN will
                 * announce it: read it now (a cancel must not wait for the
                 * next byte from umcd).
                 */
                conn_schedule_work(c);
                return;
        }
        if (olen > 0)
                conn_queue(c, c->out, olen);
        if (r == 0) {
                (void)umc_slots_active(c->slots, &slot, &version);
                log_notice("%s: version %s installed into slot %c and activated", c->peer,
                           version ? version : "?", slot);
                c->agent->stats.completed++;
        } else if (r == -EBADMSG) {
                umc_agent_alarm(c->agent, c->peer, c->ecu_id, why,
                                "image refused at the final check%s%s; active slot untouched",
                                *umc_ecucheck_why(c->ecucheck) ? ": " : "",
                                umc_ecucheck_why(c->ecucheck));
        } else {
                log_error_errno(r, "%s: final check or install failed: %m", c->peer);
                umc_agent_alarm(c->agent, c->peer, c->ecu_id, why,
                            "image not installed; active slot untouched");
        }
        conn_close_after_reply(c);
}

static void on_forward_done(void *ud, enum umc_reason reason, const char *text) {
        struct conn *c = ud;

        /* Called from the job's delivery: finish from the loop, where the job may be freed. */
        c->forward_done = true;
        c->forward_reason = reason;
        (void)snprintf(c->forward_text, sizeof(c->forward_text), "%s", text);
        conn_schedule_work(c);
}

/* The ECU's verdict becomes ours: COMPLETE, or STOP with the ECU's reason. */
static void conn_forward_finish(struct conn *c) {
        size_t olen = 0;
        int r;

        umc_forward_job_free(c->forward);
        c->forward = NULL;
        r = umc_receiver_finish(c->receiver, c->forward_reason, c->out, sizeof(c->out), &olen);
        if (olen > 0)
                conn_queue(c, c->out, olen);
        if (r == 0) {
                log_notice("%s: ECU 0x%08" PRIx32 " confirmed the forwarded image", c->peer,
                           c->ecu_id);
                c->agent->stats.completed++;
        } else {
                umc_agent_alarm(c->agent, c->peer, c->ecu_id, c->forward_reason,
                            "forwarding to the ECU failed: %s", c->forward_text);
        }
        conn_close_after_reply(c);
}

/*
 * A PDU or header that is no frame at all: unauthenticated input like a
 * frame that fails to open. On ISO-TP the next PDU is a frame again, so it
 * is dropped and counted (past the limit the session ends). On TCP the
 * stream has no frame boundary any more: the session ends, and the partial
 * image is kept up to its last checkpoint. Returns true when the caller
 * may read on.
 */
static bool conn_bad_header(struct conn *c, enum umc_reason why) {
        bool receiving = c->receiver && (c->state == CONN_TRANSFER || c->state == CONN_FORWARDING);
        size_t olen = 0;
        int r;

        if (c->packet && !receiving) {
                char code[UMC_REASON_FORMAT_MAX];

                log_notice("%s: dropped a PDU that is no frame: %s (reason %s)", c->peer,
                           umc_reason_to_string((uint16_t)why), umc_reason_format((uint16_t)why, code));
                return true;
        }
        if (c->packet) {
                c->dropped_image = false;
                r = umc_receiver_reject(c->receiver, why, c->out, sizeof(c->out), &olen, &why);
                if (olen > 0)
                        conn_queue(c, c->out, olen);
                conn_transfer_result(c, r, why, olen);
                return r == UMC_XFER_DROPPED;
        }
        if (receiving) {
                if (umc_receiver_reject(c->receiver, why, c->out, sizeof(c->out), &olen, NULL) ==
                    UMC_XFER_DROPPED)
                        (void)umc_receiver_suspend(c->receiver, why, c->out, sizeof(c->out),
                                                   &olen);
                c->agent->stats.rejected_frames++;
                if (olen > 0)
                        conn_queue(c, c->out, olen);
                if (c->began)
                        c->agent->stats.interrupted++;
        }
        umc_agent_alarm(c->agent, c->peer, c->ecu_id, why,
                    "bad frame header, the stream cannot be resynchronized; closing%s",
                    c->began ? " (the partial image is kept up to its last checkpoint)" : "");
        if (olen > 0)
                conn_close_after_reply(c);
        else
                c->dead = true;
        return false;
}

/*
 * ISO-TP has no end of connection: a master that gave up (a CAN ID alarm,
 * a timeout, a restart after SIGKILL) just starts over with a new
 * AUTH_CHALLENGE. Before a session is authenticated, that restarts the
 * handshake. While one runs, anyone on the bus could send a challenge, so
 * it must not end the session: it is answered aside (a second handshake in
 * c->auth) and the session goes on; only when the master's AUTH_CONFIRM
 * verifies does the new session replace it (the partial image stays for
 * resume, as after a lost connection on TCP). A confirmation that fails is
 * dropped and counted like any frame that fails to open.
 */
static bool conn_restart_for_challenge(struct conn *c) {
        if (c->state != CONN_AUTH_CONFIRM && c->state != CONN_REFUSE_NEXT)
                return false;
        log_info("%s: a new AUTH_CHALLENGE: the master started over", c->peer);
        conn_release_transfer(c);
        umc_auth_ecu_clear(&c->auth);
        umc_auth_ecu_init(&c->auth, agent_lookup, c->agent);
        c->began = false;
        c->ecu_id = 0;
        c->state = CONN_AUTH_CHALLENGE;
        return true;
}

static void conn_challenge_aside(struct conn *c, const uint8_t *f, size_t len) {
        enum umc_reason why = UMC_REASON_OK;
        size_t olen = 0;
        int r;

        c->challenge_aside = false;
        if (c->agent->bus_verdict != UMC_REASON_OK) {
                log_notice("%s: a new AUTH_CHALLENGE during the session left unanswered: the last "
                           "bus window broke the CAN ID checks", c->peer);
                return;
        }
        umc_auth_ecu_clear(&c->auth);
        umc_auth_ecu_init(&c->auth, agent_lookup, c->agent);
        r = umc_auth_ecu_challenge(&c->auth, f, len, c->out, sizeof(c->out), &olen, &why);
        if (r < 0) {
                log_notice("%s: a new AUTH_CHALLENGE during the session refused: %s", c->peer,
                           r == -EBADMSG ? umc_reason_to_string((uint16_t)why) : strerror(-r));
                umc_auth_ecu_clear(&c->auth);
                return;
        }
        conn_queue(c, c->out, olen);
        c->challenge_aside = true;
        log_info("%s: a new AUTH_CHALLENGE during the session: answered; the session goes on "
                 "until the master confirms", c->peer);
}

static void conn_confirm_aside(struct conn *c, const uint8_t *f, size_t len) {
        enum umc_reason why = UMC_REASON_OK;
        uint8_t salt[UMC_SALT_LEN];
        size_t olen = 0;
        int r;

        c->challenge_aside = false;
        r = umc_auth_ecu_confirm(&c->auth, f, len, salt, &why);
        if (r < 0) {
                umc_auth_ecu_clear(&c->auth);
                c->dropped_image = false;
                r = umc_receiver_reject(c->receiver, r == -EBADMSG ? why : UMC_REASON_INTERNAL,
                                        c->out, sizeof(c->out), &olen, &why);
                if (olen > 0)
                        conn_queue(c, c->out, olen);
                conn_transfer_result(c, r, why, olen);
                return;
        }
        if (c->began && umc_receiver_state(c->receiver) == UMC_RECEIVER_STREAM) {
                log_warning("%s: the master started over at byte %" PRIu64 "; the partial image "
                            "is kept for resume", c->peer, umc_receiver_offset(c->receiver));
                c->agent->stats.interrupted++;
        } else {
                log_info("%s: the master started over", c->peer);
        }
        conn_release_transfer(c);
        c->began = false;
        c->ecu_id = c->auth.ecu_id;
        conn_authenticated(c, salt);
}

/* ISO-TP, a session running: AUTH frames for a handshake aside. True when handled. */
static bool conn_session_auth_frame(struct conn *c, const uint8_t *f, size_t len) {
        struct umc_frame_header h;

        if (!c->packet || umc_frame_header_parse(f, len, UMC_AGENT_MAX_PAYLOAD, &h, NULL) < 0)
                return false;
        if (h.type == UMC_FRAME_AUTH_CHALLENGE && conn_restart_for_challenge(c))
                return false; /* answered as the first frame of a connection */
        if (c->state != CONN_TRANSFER && c->state != CONN_FORWARDING)
                return false;
        if (h.type == UMC_FRAME_AUTH_CHALLENGE) {
                conn_challenge_aside(c, f, len);
                return true;
        }
        if (h.type == UMC_FRAME_AUTH_CONFIRM && c->challenge_aside) {
                conn_confirm_aside(c, f, len);
                return true;
        }
        return false; /* the receiver drops it: no AUTH frame opens in a session */
}

static bool is_status_query(const uint8_t *f, size_t len) {
        struct umc_frame_header h;

        return umc_frame_header_parse(f, len, UMC_AGENT_MAX_PAYLOAD, &h, NULL) >= 0 &&
               h.type == UMC_FRAME_STATUS_QUERY;
}

static void conn_frame(struct conn *c, const uint8_t *f, size_t len) {
        if (conn_session_auth_frame(c, f, len))
                return;
        switch (c->state) {
        case CONN_AUTH_CHALLENGE:
                conn_auth_challenge(c, f, len);
                break;
        case CONN_AUTH_CONFIRM:
                conn_auth_confirm(c, f, len);
                break;
        case CONN_REFUSE_NEXT:
                conn_refuse_frame(c, f, len);
                break;
        case CONN_TRANSFER:
                if (c->agent->legacy && is_status_query(f, len)) {
                        /* What an agent of before STATUS_QUERY does: a bad frame type. */
                        umc_agent_alarm(c->agent, c->peer, c->ecu_id, UMC_REASON_FRAME_BAD_TYPE,
                                    "bad frame header, the stream cannot be resynchronized; "
                                    "closing");
                        c->dead = true;
                } else if (!conn_status_query(c, f, len))
                        conn_transfer_frame(c, f, len);
                break;
        case CONN_FORWARDING: /* nothing is due now: the receiver stops, which stops the ECU's leg */
                conn_transfer_frame(c, f, len);
                break;
        case CONN_CHECKING:
        case CONN_CLOSING:
                break;
        }
}

static void conn_input(struct conn *c) {
        if (c->state == CONN_CLOSING) {
                conn_drain(c);
                return;
        }
        if (c->state == CONN_CHECKING)
                return;

        for (unsigned n = 0; n < FRAMES_PER_RUN; n++) {
                enum umc_reason why = UMC_REASON_OK;
                const uint8_t *f;
                size_t len;
                int r;

                /* Backpressure: read on only when a reply is sure to fit. */
                if (umc_stream_queue_space(c->stream) < UMC_AGENT_REPLY_MAX)
                        return;
                r = umc_stream_read(c->stream, &f, &len, &why);
                if (r == -EAGAIN)
                        return;
                if (r == -EBADMSG) {
                        if (!conn_bad_header(c, why))
                                return;
                        continue;
                }
                if (r < 0) {
                        conn_lost(c, r);
                        return;
                }
                conn_frame(c, f, len);
                if (c->dead || c->state == CONN_CHECKING || c->state == CONN_CLOSING)
                        return;
        }
        /* Budget used up: frames may wait in the buffer, where EPOLLIN does not see them. */
        conn_schedule_work(c);
}

/* After every callback: free a dead connection, else watch what it waits for. */
static void conn_settle(struct conn *c) {
        bool in, out;
        uint32_t events;

        /* Flushing an empty queue in CLOSING shuts our side down. */
        if (!c->dead && (umc_stream_queued(c->stream) > 0 ||
                         (c->state == CONN_CLOSING && !c->write_shut)))
                conn_flush(c);
        if (c->state == CONN_CLOSING && c->write_shut && c->peer_eof)
                c->dead = true;
        if (c->dead) {
                umc_agent_conn_free(c);
                return;
        }
        in = c->state != CONN_CHECKING &&
             (c->state == CONN_CLOSING ? !c->peer_eof
                                       : umc_stream_queue_space(c->stream) >= UMC_AGENT_REPLY_MAX);
        out = umc_stream_queued(c->stream) > 0;
        events = (in ? EPOLLIN : 0) | (out ? EPOLLOUT : 0);
        if (events == 0) {
                (void)sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
                return;
        }
        if (sd_event_source_set_io_events(c->io, events) < 0 ||
            sd_event_source_set_enabled(c->io, SD_EVENT_ON) < 0) {
                log_error("%s: cannot watch the socket, closing", c->peer);
                umc_agent_conn_free(c);
        }
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct conn *c = userdata;

        if (revents & EPOLLOUT)
                conn_flush(c);
        /*
         * Also after EPOLLOUT alone: input may have stopped for lack of
         * queue room while whole frames wait in the stream's buffer.
         */
        if (!c->dead)
                conn_input(c);
        conn_settle(c);
        return 0;
}

static int on_conn_work(sd_event_source *s, void *userdata) {
        struct conn *c = userdata;

        if (c->state == CONN_CHECKING)
                conn_check_step(c);
        else if (c->state == CONN_FORWARDING && c->forward_done)
                conn_forward_finish(c);
        else
                conn_input(c);
        conn_settle(c);
        return 0;
}

static int on_conn_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct conn *c = userdata;

        switch (c->state) {
        case CONN_AUTH_CHALLENGE:
        case CONN_AUTH_CONFIRM:
                umc_agent_alarm(c->agent, c->peer, c->ecu_id, UMC_REASON_TIMEOUT,
                            "no authentication within %" PRIu64 " ms",
                            c->agent->handshake_usec / USEC_PER_MSEC);
                break;
        case CONN_REFUSE_NEXT:
        case CONN_TRANSFER:
                if (c->began && c->receiver &&
                    umc_receiver_state(c->receiver) == UMC_RECEIVER_STREAM)
                        c->agent->stats.interrupted++;
                log_warning("%s: no frame for %" PRIu64 " ms, closing%s", c->peer,
                            c->idle_usec / USEC_PER_MSEC,
                            c->began ? "; the partial image is kept for resume" : "");
                break;
        case CONN_CHECKING:
        case CONN_FORWARDING:
                return 0; /* disarmed: umcd's FinalCheckTimeoutSec= bounds these */
        case CONN_CLOSING:
                log_debug("%s: peer did not close in time", c->peer);
                break;
        }
        c->dead = true;
        conn_settle(c);
        return 0;
}

int umc_agent_conn_new(struct umc_agent *a, int fd, const char *peer, bool packet) {
        struct conn *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->agent = a;
        c->idle_usec = a->idle_usec;
        (void)snprintf(c->peer, sizeof(c->peer), "%s", peer);
        umc_auth_ecu_init(&c->auth, agent_lookup, a);
        c->packet = packet;
        if (packet)
                r = umc_stream_new_packet(fd, UMC_AGENT_MAX_PAYLOAD, QUEUE_MAX, &c->stream);
        else
                r = umc_stream_new(fd, UMC_AGENT_MAX_PAYLOAD, QUEUE_MAX, &c->stream);
        if (r < 0) {
                free(c);
                return r;
        }
        /* Linked first, so that umc_agent_conn_free() can undo everything from here on. */
        c->next = a->conns;
        if (a->conns)
                a->conns->prev = c;
        a->conns = c;
        a->n_conns++;

        r = sd_event_add_io(a->event, &c->io, fd, EPOLLIN, on_conn_io, c);
        if (r >= 0)
                r = sd_event_add_time_relative(a->event, &c->timer, CLOCK_MONOTONIC,
                                               a->handshake_usec, 0, on_conn_timer, c);
        if (r >= 0)
                r = sd_event_add_defer(a->event, &c->work, on_conn_work, c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->work, SD_EVENT_OFF);
        /* An ISO-TP channel waits for a master as long as it takes: the clock starts at a challenge. */
        if (r >= 0 && packet)
                r = sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        if (r < 0) {
                umc_agent_conn_free(c); /* closes fd */
                return 0;     /* fd is gone either way: report as handled */
        }
        if (packet) {
                log_debug("%s: ISO-TP channel open, waiting for a master", c->peer);
                return 0;
        }
        log_info("%s: accepted", c->peer);
        umc_agent_notify_status(a);
        return 0;
}
