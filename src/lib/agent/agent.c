/* SPDX-License-Identifier: MIT */
#include "umc/agent.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "umc/auth.h"
#include "umc/canbus.h"
#include "umc/ecucheck.h"
#include "umc/forward.h"
#include "umc/fs.h"
#include "umc/isotp.h"
#include "umc/log.h"
#include "umc/msg.h"
#include "umc/netinfo.h"
#include "umc/session.h"
#include "umc/slot.h"
#include "umc/stream.h"
#include "umc/xfer.h"

#define LISTEN_BACKLOG 16
/* Frames handled per wake-up before other sources get a turn (4 MiB of DATA at most). */
#define FRAMES_PER_RUN 64
/* Largest frame the agent sends: FEEDBACK, ALARM or AUTH_RESPONSE with two layers of tags. */
#define REPLY_MAX 1024
/* The write queue must hold one maximal frame (umc_stream_new()); we only send small ones. */
#define QUEUE_MAX (UMC_FRAME_HEADER_LEN + UMC_AGENT_MAX_PAYLOAD)
#define ACCEPT_RETRY_USEC (1 * USEC_PER_SEC)
#define DRAIN_CHUNK 4096
/* A second transfer while the slot store is held. */
#define REASON_BUSY UMC_REASON_BUSY

enum conn_state {
        CONN_AUTH_CHALLENGE, /* waiting for AUTH_CHALLENGE */
        CONN_AUTH_CONFIRM,   /* AUTH_RESPONSE sent, waiting for AUTH_CONFIRM */
        CONN_REFUSE_NEXT,    /* authenticated but refused: answer the first sealed frame with ALARM */
        CONN_TRANSFER,       /* the receiver takes the frames */
        CONN_CHECKING,       /* the receiver hashes the image from the slot store; no input */
        CONN_FORWARDING,     /* gateway: the image goes on to its ECU; input only to notice a cancel */
        CONN_CLOSING,        /* last frame queued: flush, shut down our side, wait for the peer's */
};

struct conn {
        struct umc_agent *agent;
        struct conn *prev, *next;
        struct umc_stream *stream;
        sd_event_source *io, *timer, *work;
        char peer[UMC_NETINFO_TUPLE_STRING_MAX];
        enum conn_state state;
        bool dead;           /* free at the end of the current callback */
        bool write_shut;
        bool peer_eof;
        bool began;          /* BEGIN accepted: a lost connection is an interrupted transfer */
        bool dropped_image;  /* the receiver aborted the sink (else a partial stays) */
        bool challenge_aside; /* ISO-TP: auth answers a new challenge while the session runs */
        bool packet;         /* the ISO-TP channel (Channel=can): no end of file, no shutdown */
        uint32_t ecu_id;     /* from the challenge; 0 before */
        uint64_t idle_usec;
        struct umc_auth_ecu auth;
        struct umc_session *session;
        struct umc_slots *slots;
        struct umc_receiver *receiver;
        struct umc_sink sink;
        struct umc_ecucheck *ecucheck; /* the signed manifest's checks; NULL: none configured */
        enum umc_reason refuse_reason; /* CONN_REFUSE_NEXT */
        struct umc_forward_job *forward; /* gateway, CONN_FORWARDING */
        bool forward_done;               /* its verdict is in: */
        enum umc_reason forward_reason;
        char forward_text[UMC_MSG_ALARM_TEXT_MAX + 1];
        uint8_t out[REPLY_MAX];
};

struct umc_agent {
        struct umc_agent_config config;
        sd_event *event;
        int listen_fd;
        int lock_fd;           /* SlotDirectory=/agent.lock, flock()ed for our lifetime */
        sd_event_source *listener, *accept_retry;
        sd_event_source *sig_term, *sig_int, *sig_hup;
        bool accept_paused;
        char *config_path;
        char listen_text[INET6_ADDRSTRLEN + 8];
        struct conn *conns;
        unsigned n_conns;
        struct conn *transfer; /* the connection holding the slot store */
        struct umc_agent_stats stats;
        uint64_t handshake_usec, idle_usec;

        /*
         * Channel=can: the bus monitor (our side of the CAN ID checks), its
         * window timer, and the defer source that opens a fresh ISO-TP
         * channel whenever the previous one closed. bus_verdict is the last
         * closed window's: a violation refuses authentication until a clean
         * window follows.
         */
        struct umc_canbus *bus;
        sd_event_source *bus_io, *bus_tick, *can_reopen;
        struct umc_forwarder *forwarder; /* Mode=gateway: the ECUs behind us */
        enum umc_reason bus_verdict;
        char can_text[UMC_NETINFO_TUPLE_STRING_MAX];
        bool stopping;
        bool legacy; /* umc_agent_set_legacy() */
};

/* ---- helpers ---- */

static void sockaddr_to_text(const struct sockaddr *sa, char *buf, size_t size) {
        char a[INET6_ADDRSTRLEN] = "?";

        if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
                (void)inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
                (void)snprintf(buf, size, "[%s]:%u", a, ntohs(in6->sin6_port));
        } else {
                const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
                (void)inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
                (void)snprintf(buf, size, "%s:%u", a, ntohs(in->sin_port));
        }
}

static bool sockaddr_equal(const struct umc_sockaddr *x, const struct umc_sockaddr *y) {
        if (x->sa.sa_family != y->sa.sa_family)
                return false;
        if (x->sa.sa_family == AF_INET)
                return x->in.sin_port == y->in.sin_port &&
                       x->in.sin_addr.s_addr == y->in.sin_addr.s_addr;
        if (x->sa.sa_family == AF_INET6)
                return x->in6.sin6_port == y->in6.sin6_port &&
                       memcmp(&x->in6.sin6_addr, &y->in6.sin6_addr, sizeof(struct in6_addr)) == 0;
        return false;
}

/*
 * The one line every refusal produces: who, which ECU when known, what was
 * refused and the reason code with its text.
 */
static void agent_alarm(struct umc_agent *a, const char *peer, uint32_t ecu_id,
                        enum umc_reason reason, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

static void agent_alarm(struct umc_agent *a, const char *peer, uint32_t ecu_id,
                        enum umc_reason reason, const char *fmt, ...) {
        char what[256], ecu[24] = "", code[UMC_REASON_FORMAT_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        if (ecu_id != 0)
                (void)snprintf(ecu, sizeof(ecu), " ecu 0x%08" PRIx32, ecu_id);
        log_warning("ALARM %s%s: %s: %s (reason %s)", peer, ecu, what,
                    umc_reason_to_string((uint16_t)reason), umc_reason_format((uint16_t)reason, code));
        a->stats.refused++;
        a->stats.last_refusal = reason;
}

static void agent_status(struct umc_agent *a) {
        const struct conn *c = a->transfer;

        if (c && c->receiver && c->began) {
                const struct umc_msg_begin *b = umc_receiver_begin_info(c->receiver);
                uint64_t off = umc_receiver_offset(c->receiver);
                unsigned pct = b->image_len ? (unsigned)(off * 100 / b->image_len) : 0;
                (void)sd_notifyf(0,
                                 "STATUS=Receiving version %s for ECU 0x%08" PRIx32
                                 ": %u%% (%" PRIu64 " of %" PRIu64 " bytes)",
                                 b->version, c->ecu_id, pct, off, b->image_len);
                return;
        }
        (void)sd_notifyf(0, "STATUS=%s %s; %u connection(s); %" PRIu64
                            " image(s) installed, %" PRIu64 " refusal(s) since start",
                         a->bus ? "Serving" : "Listening on", a->bus ? a->can_text : a->listen_text,
                         a->n_conns, a->stats.completed, a->stats.refused);
}

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
        size_t got = 0;

        if (fd < 0)
                return fd;
        while (got < len) {
                ssize_t n = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(offset + got));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO; /* shorter than what was written */
                got += (size_t)n;
        }
        return 0;
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

static void agent_update_listener(struct umc_agent *a);

/*
 * The bounds on a partial image kept for resume ([Agent] ResumeMaxAgeSec=,
 * ResumeMaxSize=): it holds disk space on the ECU, and one that nobody
 * resumes would hold it until the next delivery. A partial whose last
 * checkpoint is older than the age bound (any age when the bound is 0), or
 * that holds more durable bytes than the size bound, is deleted. Checked at
 * start and when an authenticated session takes the store, never on a
 * lost connection or an unauthenticated frame: input nobody authenticated
 * deletes nothing. Returns true when it deleted one.
 */
static bool slots_prune(const struct umc_agent_config *cfg, struct umc_slots *s, const char *dir) {
        struct umc_slots_status st;
        int64_t now = (int64_t)time(NULL), age;
        const char *why;
        int r;

        if (umc_slots_status(s, &st) < 0 || !st.partial)
                return false;
        age = now > st.partial_saved_sec ? now - st.partial_saved_sec : 0;
        if (cfg->resume_max_age_usec == 0)
                why = "ResumeMaxAgeSec=0 keeps none";
        else if ((uint64_t)age > cfg->resume_max_age_usec / USEC_PER_SEC)
                why = "its last checkpoint is older than ResumeMaxAgeSec=";
        else if (st.partial_durable > cfg->resume_max_size)
                why = "it holds more than ResumeMaxSize=";
        else
                return false;
        r = umc_slots_abort(s);
        if (r < 0) {
                (void)log_warning_errno(r, "%s: cannot delete the partial image of version %s: %m",
                                        dir, st.partial_version);
                return false;
        }
        log_notice("%s: deleted the partial image of version %s (%" PRIu64 " of %" PRIu64
                   " bytes, last checkpoint %" PRIi64 " s ago): %s",
                   dir, st.partial_version, st.partial_durable, st.partial_len, age, why);
        return true;
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

static void conn_free(struct conn *c) {
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
        agent_update_listener(a);
        agent_status(a);
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
                /* Cannot happen: input stops while less than REPLY_MAX is free. */
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
                agent_alarm(a, c->peer, c->ecu_id, c->refuse_reason,
                            "refused after authentication: another transfer into the slot store "
                            "is in progress");
                return r;
        }
        if (r < 0) {
                log_error_errno(r, "%s: cannot open the slot store %s: %m", c->peer, dir);
                c->refuse_reason = UMC_REASON_IO_ERROR;
                agent_alarm(a, c->peer, c->ecu_id, c->refuse_reason,
                            "refused after authentication: the slot store is unusable");
                return r;
        }
        if (flags & UMC_SLOTS_DISCARDED_PROGRESS)
                log_notice("%s: dropped a resume record that did not match its partial image; "
                           "the next image starts from byte 0", a->config.slot_directory);
        (void)slots_prune(&a->config, c->slots, dir);
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
                agent_alarm(c->agent, c->peer, 0, c->agent->bus_verdict,
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
                agent_alarm(c->agent, c->peer, 0, why,
                            "authentication refused (challenge for ECU 0x%08" PRIx32 ")",
                            h.ecu_id);
                c->dead = true;
                return;
        }
        if (r < 0) {
                log_error_errno(r, "%s: cannot answer the challenge: %m", c->peer);
                agent_alarm(c->agent, c->peer, 0, UMC_REASON_INTERNAL, "authentication aborted");
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
                agent_alarm(c->agent, c->peer, c->ecu_id, why,
                            "authentication refused at the master's confirmation");
                c->dead = true;
                return;
        }
        if (r < 0) {
                log_error_errno(r, "%s: cannot check the confirmation: %m", c->peer);
                agent_alarm(c->agent, c->peer, c->ecu_id, UMC_REASON_INTERNAL,
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
                agent_alarm(c->agent, c->peer, c->ecu_id, UMC_REASON_INTERNAL,
                            "session setup failed");
                c->dead = true;
                return;
        }
        log_info("%s: master authenticated for ECU 0x%08" PRIx32 ", session %016" PRIx64,
                 c->peer, c->ecu_id, session_id);
        conn_arm_timer(c, c->idle_usec);
        c->state = conn_start_receiver(c) < 0 ? CONN_REFUSE_NEXT : CONN_TRANSFER;
        agent_status(c->agent);
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
                agent_alarm(c->agent, c->peer, c->ecu_id,
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

/* The session ended on unauthenticated input or a gap: the image stays up to its checkpoint. */
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
                agent_alarm(c->agent, c->peer, c->ecu_id, why,
                            "more than %" PRIu32 " frames failed authentication since the last "
                            "checkpoint (the last: %s); session ended%s",
                            rj.limit, umc_reason_to_string((uint16_t)rj.last), kept);
        } else {
                agent_alarm(c->agent, c->peer, c->ecu_id, why, "session ended%s%s%s%s",
                            why == UMC_REASON_OUT_OF_ORDER ? " (a frame is missing)" : "",
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
                        agent_status(c->agent);
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
                agent_alarm(c->agent, c->peer, c->ecu_id, why,
                            "the master cancelled the transfer; partial image deleted, active "
                            "slot untouched");
        } else if (r == -EBADMSG)
                agent_alarm(c->agent, c->peer, c->ecu_id, why,
                            "transfer stopped%s%s; image dropped, active slot untouched",
                            *umc_ecucheck_why(c->ecucheck) ? ": " : "",
                            umc_ecucheck_why(c->ecucheck));
        else {
                log_error_errno(r, "%s: transfer failed: %m", c->peer);
                agent_alarm(c->agent, c->peer, c->ecu_id, why,
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
                agent_alarm(c->agent, c->peer, c->ecu_id, UMC_REASON_BODY_MALFORMED,
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
                agent_status(c->agent);
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
                agent_alarm(c->agent, c->peer, c->ecu_id, why,
                            "image refused at the final check%s%s; active slot untouched",
                            *umc_ecucheck_why(c->ecucheck) ? ": " : "",
                            umc_ecucheck_why(c->ecucheck));
        } else {
                log_error_errno(r, "%s: final check or install failed: %m", c->peer);
                agent_alarm(c->agent, c->peer, c->ecu_id, why,
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
                agent_alarm(c->agent, c->peer, c->ecu_id, c->forward_reason,
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
        agent_alarm(c->agent, c->peer, c->ecu_id, why,
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
                        agent_alarm(c->agent, c->peer, c->ecu_id, UMC_REASON_FRAME_BAD_TYPE,
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
                if (umc_stream_queue_space(c->stream) < REPLY_MAX)
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
                conn_free(c);
                return;
        }
        in = c->state != CONN_CHECKING &&
             (c->state == CONN_CLOSING ? !c->peer_eof
                                       : umc_stream_queue_space(c->stream) >= REPLY_MAX);
        out = umc_stream_queued(c->stream) > 0;
        events = (in ? EPOLLIN : 0) | (out ? EPOLLOUT : 0);
        if (events == 0) {
                (void)sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
                return;
        }
        if (sd_event_source_set_io_events(c->io, events) < 0 ||
            sd_event_source_set_enabled(c->io, SD_EVENT_ON) < 0) {
                log_error("%s: cannot watch the socket, closing", c->peer);
                conn_free(c);
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
                agent_alarm(c->agent, c->peer, c->ecu_id, UMC_REASON_TIMEOUT,
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

static int conn_new(struct umc_agent *a, int fd, const char *peer, bool packet) {
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
        /* Linked first, so that conn_free() can undo everything from here on. */
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
                conn_free(c); /* closes fd */
                return 0;     /* fd is gone either way: report as handled */
        }
        if (packet) {
                log_debug("%s: ISO-TP channel open, waiting for a master", c->peer);
                return 0;
        }
        log_info("%s: accepted", c->peer);
        agent_status(a);
        return 0;
}

/* The 5-tuple and VLAN against [EthernetAcl], before a single byte is read or sent. */
static void agent_accept(struct umc_agent *a, int fd) {
        const struct umc_config_eth_acl *acl = &a->config.eth_acl;
        char peer[UMC_NETINFO_TUPLE_STRING_MAX];
        struct umc_eth_tuple t;
        enum umc_reason why;
        size_t idx = acl->n_rules;
        int r;

        a->stats.accepted++;
        r = umc_netinfo_tuple(fd, false, &t);
        if (r < 0) {
                struct sockaddr_storage ss = {};
                socklen_t l = sizeof(ss);
                char text[INET6_ADDRSTRLEN + 8] = "?";
                if (getpeername(fd, (struct sockaddr *)&ss, &l) == 0)
                        sockaddr_to_text((struct sockaddr *)&ss, text, sizeof(text));
                errno = -r;
                agent_alarm(a, text, 0, UMC_REASON_ETH_DEFAULT_DENY,
                            "refused: cannot determine the connection's 5-tuple and VLAN (%m)");
                (void)close(fd);
                return;
        }
        (void)umc_netinfo_tuple_to_string(&t, peer, sizeof(peer));
        why = umc_eth_acl_check(acl->rules, acl->n_rules, &t, &idx);
        if (why != UMC_REASON_OK) {
                /* Name the file: umcd only sees the connection close. */
                if (idx < acl->n_rules)
                        agent_alarm(a, peer, 0, why,
                                    "refused by [EthernetAcl] Rule= number %zu of %s (a deny rule)",
                                    idx + 1, a->config.path ? a->config.path : "umc-agent.conf");
                else
                        agent_alarm(a, peer, 0, why,
                                    "refused: no [EthernetAcl] Rule= in %s allows it (default deny)",
                                    a->config.path ? a->config.path : "umc-agent.conf");
                (void)close(fd); /* nothing sent, nothing read */
                return;
        }
        r = conn_new(a, fd, peer, false);
        if (r < 0) {
                log_error_errno(r, "%s: cannot set up the connection: %m", peer);
                (void)close(fd);
        }
}

/* ---- CAN channel (Channel=can) ---- */

/* A window closed: remember its CAN ID verdict and raise the alarm for a violation. */
static void agent_bus_window(struct umc_agent *a, const struct umc_canbus_window *w) {
        const struct umc_canid_verdict *v = &w->verdict;
        char id[16];

        if (v->reason != UMC_REASON_OK) {
                (void)snprintf(id, sizeof(id), "%0*" PRIX32, v->eff ? 8 : 3, v->id);
                if (v->reason == UMC_REASON_CAN_ID_UNKNOWN)
                        agent_alarm(a, a->can_text, 0, v->reason,
                                    "CAN ID %s on the bus is not in [CanIds]%s", id,
                                    a->transfer ? " (interference during a transfer)" : "");
                else
                        agent_alarm(a, a->can_text, 0, v->reason,
                                    "CAN ID %s every %" PRIu64 " us on average, nominal %" PRIu64
                                    " us%s", id, v->observed_usec, v->nominal_usec,
                                    a->transfer ? " (interference during a transfer)" : "");
        }
        a->bus_verdict = v->reason;
}

static int on_bus_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct umc_agent *a = userdata;

        (void)umc_canbus_read(a->bus); /* errors show as a silent bus, and in the load */
        return 0;
}

static int on_bus_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        struct umc_agent *a = userdata;
        struct umc_canbus_window w;

        (void)umc_canbus_read(a->bus);
        if (umc_canbus_tick(a->bus, umc_canbus_now(), &w) > 0)
                agent_bus_window(a, &w);
        if (sd_event_source_set_time_relative(s, UMC_AGENT_BUS_WINDOW_USEC) < 0 ||
            sd_event_source_set_enabled(s, SD_EVENT_ON) < 0)
                return sd_event_exit(a->event, -EIO);
        return 0;
}

/* A monitor of c's interface with c's [CanIds], opened; *ret is the caller's. */
static int bus_monitor_open(const struct umc_agent_config *c, struct umc_canbus **ret) {
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = NULL;
        const struct umc_isotp_opts *o = &c->can.isotp;
        struct umc_canbus_params p = {
                .ifname = c->can.ifname,
                .stuffing = UMC_STUFF_WORST,
                .model = UMC_BITMODEL_ISO,
                .nominal_bitrate = c->can_bus.bitrate,
                .nominal_data_bitrate = c->can_bus.data_bitrate,
                .rules = c->can_ids.rules,
                .n_rules = c->can_ids.n_rules,
                .min_periods = c->can_ids.min_periods,
        };
        int r;

        umc_load_cfg_default(&p.load);
        p.load.window_usec = UMC_AGENT_BUS_WINDOW_USEC;
        r = umc_canbus_new(&p, umc_canbus_now(), &b);
        if (r >= 0)
                r = umc_canbus_add_channel(b, o->tx_id, o->rx_id, o->eff);
        if (r >= 0)
                r = umc_canbus_open(b);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

/* Make bus (opened) the agent's monitor; the old one goes. */
static int agent_set_bus(struct umc_agent *a, struct umc_canbus *bus) {
        sd_event_source *io = NULL;
        int r;

        r = sd_event_add_io(a->event, &io, umc_canbus_fd(bus), EPOLLIN, on_bus_io, a);
        if (r < 0)
                return r;
        (void)sd_event_source_disable_unref(a->bus_io);
        umc_canbus_free(a->bus);
        a->bus_io = io;
        a->bus = bus;
        a->bus_verdict = UMC_REASON_OK;
        return 0;
}

/* Open a fresh ISO-TP channel: at start, and whenever the previous one closed. */
static int agent_can_open_channel(struct umc_agent *a) {
        _cleanup_close_ int fd = -1;
        int r;

        r = umc_isotp_open(a->config.can.ifname, &a->config.can.isotp, &fd);
        if (r < 0)
                return log_error_errno(r, "Cannot open the ISO-TP channel %s: %m", a->can_text);
        r = conn_new(a, fd, a->can_text, true);
        if (r < 0)
                return log_error_errno(r, "%s: cannot set up the channel: %m", a->can_text);
        TAKE_FD(fd); /* the connection's, also when conn_new() gave up after taking it */
        return 0;
}

static int on_can_reopen(sd_event_source *s, void *userdata) {
        struct umc_agent *a = userdata;
        int r;

        if (a->n_conns > 0 || a->stopping)
                return 0;
        r = agent_can_open_channel(a);
        /* Without its channel the agent is useless: exit, systemd restarts it. */
        return r < 0 ? sd_event_exit(a->event, r) : 0;
}

static void can_channel_text(const struct umc_can_channel *ch, char *buf, size_t size) {
        int w = ch->isotp.eff ? 8 : 3;

        (void)snprintf(buf, size, "%s %0*" PRIX32 ">%0*" PRIX32, ch->ifname, w, ch->isotp.tx_id, w,
                       ch->isotp.rx_id);
}

/* Channel=can at start: the bus monitor, its window timer, the channel. */
static int agent_can_start(struct umc_agent *a, const struct umc_agent_config *c) {
        struct umc_canbus *bus = NULL;
        struct umc_canbus_status st;
        int r;

        can_channel_text(&c->can, a->can_text, sizeof(a->can_text));
        r = bus_monitor_open(c, &bus);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the bus %s: %m", c->can.ifname);
        r = agent_set_bus(a, bus);
        if (r < 0) {
                umc_canbus_free(bus);
                return log_error_errno(r, "Cannot watch the bus monitor's socket: %m");
        }
        (void)umc_canbus_status(a->bus, &st);
        if (st.nominal)
                log_info("%s reports no bitrate (virtual CAN?): measuring against the configured "
                         "%" PRIu64 " bit/s", c->can.ifname, st.bitrate);
        r = sd_event_add_time_relative(a->event, &a->bus_tick, CLOCK_MONOTONIC,
                                       UMC_AGENT_BUS_WINDOW_USEC, USEC_PER_MSEC, on_bus_tick, a);
        if (r >= 0)
                r = sd_event_add_defer(a->event, &a->can_reopen, on_can_reopen, a);
        if (r >= 0)
                r = sd_event_source_set_enabled(a->can_reopen, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the bus timers: %m");
        return 0;
}

/* ---- listener ---- */

static void agent_update_listener(struct umc_agent *a) {
        bool on = !a->accept_paused && a->n_conns < a->config.max_connections;

        if (a->listener)
                (void)sd_event_source_set_enabled(a->listener, on ? SD_EVENT_ON : SD_EVENT_OFF);
}

static int on_accept_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct umc_agent *a = userdata;

        a->accept_paused = false;
        agent_update_listener(a);
        return 0;
}

/* accept() keeps failing (out of fds, memory): stop asking for a second, do not spin. */
static void agent_pause_accepting(struct umc_agent *a) {
        int r;

        a->accept_paused = true;
        agent_update_listener(a);
        if (!a->accept_retry)
                r = sd_event_add_time_relative(a->event, &a->accept_retry, CLOCK_MONOTONIC,
                                               ACCEPT_RETRY_USEC, 0, on_accept_retry, a);
        else
                r = sd_event_source_set_time_relative(a->accept_retry, ACCEPT_RETRY_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(a->accept_retry, SD_EVENT_ONESHOT);
        if (r < 0) {
                log_error_errno(r, "Cannot arm the accept retry timer: %m");
                a->accept_paused = false;
                agent_update_listener(a);
        }
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct umc_agent *a = userdata;

        while (a->n_conns < a->config.max_connections) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return 0;
                        /* accept(2): pending network errors of the new connection; try the next. */
                        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO ||
                            errno == ENETDOWN || errno == ENOPROTOOPT || errno == EHOSTDOWN ||
                            errno == ENONET || errno == EHOSTUNREACH || errno == EOPNOTSUPP ||
                            errno == ENETUNREACH)
                                continue;
                        log_warning_errno(errno, "Cannot accept connections, pausing for %" PRIu64
                                                 " ms: %m", ACCEPT_RETRY_USEC / USEC_PER_MSEC);
                        agent_pause_accepting(a);
                        return 0;
                }
                agent_accept(a, cfd);
        }
        if (a->n_conns >= a->config.max_connections)
                log_notice("%u connections open: further ones wait in the listen backlog",
                           a->n_conns);
        agent_update_listener(a);
        return 0;
}

/*
 * The listening socket on addr, bound to interface ifname unless it is "".
 * -ENODEV names a BindInterface= that does not exist; other errors are the
 * socket calls'.
 */
static int listen_open(const struct umc_sockaddr *addr, const char *ifname, int *ret_fd) {
        _cleanup_close_ int fd = -1;
        int one = 1, r;

        if (addr->sa.sa_family != AF_INET && addr->sa.sa_family != AF_INET6)
                return -EAFNOSUPPORT;
        fd = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (fd < 0)
                return -errno;
        /* Restart without waiting for TIME_WAIT of the last run's connections. */
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                return -errno;
        /* Only packets that arrive on ifname reach this socket (socket(7) SO_BINDTODEVICE). */
        if (ifname[0] != '\0' &&
            setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0)
                return -errno;
        if (bind(fd, &addr->sa, addr->len) < 0)
                return -errno;
        /* The ACL judges the interface each connection arrived on: have the kernel keep it. */
        r = umc_netinfo_listen_prepare(fd);
        if (r < 0)
                return r;
        if (listen(fd, LISTEN_BACKLOG) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* "0.0.0.0:4500" or "0.0.0.0:4500 on eth0.42" */
static void listen_where(const struct umc_agent_config *c, char *buf, size_t size) {
        char addr[INET6_ADDRSTRLEN + 8];

        sockaddr_to_text(&c->listen.sa, addr, sizeof(addr));
        if (c->bind_interface[0] != '\0')
                (void)snprintf(buf, size, "%s on %s (BindInterface=)", addr, c->bind_interface);
        else
                (void)snprintf(buf, size, "%s", addr);
}

/* Make fd (listening) the agent's listener; the old one is closed only on success. */
static int agent_set_listener(struct umc_agent *a, int fd) {
        sd_event_source *src = NULL;
        struct umc_sockaddr bound = { .len = sizeof(bound.in6) };
        int r;

        r = sd_event_add_io(a->event, &src, fd, EPOLLIN, on_accept, a);
        if (r < 0)
                return r;
        (void)sd_event_source_disable_unref(a->listener);
        if (a->listen_fd >= 0)
                (void)close(a->listen_fd);
        a->listener = src;
        a->listen_fd = fd;
        if (getsockname(fd, &bound.sa, &bound.len) == 0)
                sockaddr_to_text(&bound.sa, a->listen_text, sizeof(a->listen_text));
        agent_update_listener(a);
        return 0;
}

/* ---- public ---- */

int umc_agent_config_check(const struct umc_agent_config *c, const char **ret_why) {
        const char *why = NULL;
        int r = 0;

        if (!c) {
                why = "no configuration";
                r = -EINVAL;
        } else if (c->mode != UMC_AGENT_ENDPOINT && c->mode != UMC_AGENT_GATEWAY) {
                why = "unknown [Agent] Mode=";
                r = -EINVAL;
        } else if (c->channel != UMC_CHANNEL_TCP && c->channel != UMC_CHANNEL_CAN) {
                why = "unknown [Agent] Channel=";
                r = -EINVAL;
        } else if (c->mode == UMC_AGENT_GATEWAY &&
                   (c->channel != UMC_CHANNEL_TCP || !c->forward_config ||
                    c->forward_config[0] != '/')) {
                why = "[Agent] Mode=gateway needs Channel=tcp and an absolute ForwardConfig=";
                r = -EINVAL;
        } else if (c->channel == UMC_CHANNEL_TCP && c->listen.sa.sa_family != AF_INET &&
                   c->listen.sa.sa_family != AF_INET6) {
                why = "[Agent] Listen= is neither an IPv4 nor an IPv6 address";
                r = -EINVAL;
        } else if (!c->slot_directory || c->slot_directory[0] != '/') {
                why = "[Agent] SlotDirectory= is not an absolute path";
                r = -EINVAL;
        } else if (c->ecu_id == 0 || c->hw_id[0] == '\0') {
                why = "[Agent] EcuId= and HardwareId= must be set";
                r = -EINVAL;
        } else if (c->max_connections == 0 || c->handshake_timeout_usec == 0 ||
                   c->idle_timeout_usec == 0 || c->max_image_size == 0) {
                why = "[Agent] MaxConnections=, HandshakeTimeoutSec=, IdleTimeoutSec= and "
                      "MaxImageSize= must not be 0";
                r = -EINVAL;
        }
        if (r < 0 && ret_why)
                *ret_why = why;
        return r;
}

#define LOCK_FILE "agent.lock"

/* The PID the lock file names, or 0 when it names none. */
static pid_t lock_holder(int fd) {
        char buf[24] = "";
        ssize_t n;
        long v;
        char *end;

        n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        errno = 0;
        v = strtol(buf, &end, 10);
        if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') || v <= 0 || v > INT32_MAX)
                return 0;
        return (pid_t)v;
}

/*
 * Make sure no other umc-agent uses dir: create it if needed, then take an
 * exclusive flock(2) on dir/agent.lock, held until *ret_fd is closed (the
 * kernel drops it with the process, so a crash leaves no stale lock). The
 * file names the holder's PID for the next one's error. -EBUSY (logged,
 * with the holder when known) when another process holds it.
 */
static int slotdir_lock(const char *dir, int *ret_fd) {
        char path[PATH_MAX], pid[24];
        _cleanup_close_ int fd = -1;
        pid_t holder;
        int r, n;

        r = umc_fs_mkdir_p(dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create SlotDirectory= %s: %m", dir);
        if ((size_t)snprintf(path, sizeof(path), "%s/" LOCK_FILE, dir) >= sizeof(path))
                return log_error_errno(-ENAMETOOLONG, "SlotDirectory= %s: path too long", dir);
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open the lock file %s: %m", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK)
                        return log_error_errno(errno, "Cannot lock %s: %m", path);
                holder = lock_holder(fd);
                if (holder > 0)
                        return log_error_errno(-EBUSY, "SlotDirectory= %s is in use by another "
                                               "umc-agent (PID %d holds %s): refusing to start a "
                                               "second one on it", dir, (int)holder, path);
                return log_error_errno(-EBUSY, "SlotDirectory= %s is in use by another umc-agent "
                                       "(%s is locked): refusing to start a second one on it",
                                       dir, path);
        }
        n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
        /* Only a hint for the next one's message: the lock itself is what counts. */
        if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
                log_warning_errno(errno, "Cannot write our PID into %s: %m", path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Open and close the slot store once: a broken one is reported at start, not at the first image. */
static int slots_probe(const struct umc_agent_config *cfg, const char *dir) {
        struct umc_slots *s = NULL;
        const char *version = NULL;
        unsigned flags = 0;
        char slot = '?';
        int r;

        r = umc_slots_open(dir, &s, &flags);
        if (r < 0)
                return log_error_errno(r, "Cannot open the slot store %s: %m", dir);
        if (flags & UMC_SLOTS_DISCARDED_PROGRESS)
                log_notice("%s: dropped a resume record that did not match its partial image",
                           dir);
        (void)slots_prune(cfg, s, dir);
        (void)umc_slots_active(s, &slot, &version);
        log_info("Slot store %s: active slot %c, version %s", dir, slot,
                 version ? version : "none (factory state)");
        umc_slots_close(s);
        return 0;
}

/*
 * Mode=gateway: load the forward file (the ECUs behind us) and make sure
 * the store directory exists; each ECU's store is made on first use.
 */
static int gateway_setup(struct umc_agent *a, const struct umc_agent_config *c) {
        struct umc_config_error err = {};
        int r;

        r = umc_forwarder_new(c->forward_config, a->event, &a->forwarder, &err);
        if (r < 0)
                return log_error_errno(r, "Cannot load [Agent] ForwardConfig=: %s", err.msg);
        if (mkdir(c->slot_directory, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create the store directory %s: %m",
                                       c->slot_directory);
        return 0;
}

/* umc_agent_new() for Channel=can: the bus monitor and the ISO-TP channel instead of a listener. */
static int agent_new_can(struct umc_agent *a, struct umc_agent_config *config,
                         struct umc_agent **ret) {
        int r;

        r = agent_can_start(a, config);
        if (r < 0) {
                umc_agent_free(a);
                return r;
        }
        a->config = *config; /* the monitor borrows the [CanIds] rules, which move along */
        memset(config, 0, sizeof(*config));
        a->handshake_usec = a->config.handshake_timeout_usec;
        a->idle_usec = a->config.idle_timeout_usec;
        umc_log_set_max_level(a->config.log_level);
        r = agent_can_open_channel(a);
        if (r < 0) {
                /* Give the config back untouched, as the contract says. */
                *config = a->config;
                memset(&a->config, 0, sizeof(a->config));
                umc_agent_free(a);
                return r;
        }
        log_info("Serving ISO-TP channel %s as ECU 0x%08" PRIx32 " (%s), %zu [CanIds] rule(s)",
                 a->can_text, a->config.ecu_id, a->config.hw_id, a->config.can_ids.n_rules);
        *ret = a;
        return 0;
}

int umc_agent_new(struct umc_agent_config *config, sd_event *event, struct umc_agent **ret) {
        struct umc_agent *a;
        const char *why = NULL;
        char where[INET6_ADDRSTRLEN + 8 + IF_NAMESIZE + 24];
        int fd = -1, r;

        if (!config || !event || !ret)
                return -EINVAL;
        r = umc_agent_config_check(config, &why);
        if (r < 0)
                return log_error_errno(r, "Refusing to start: %s", why);
        a = calloc(1, sizeof(*a));
        if (!a)
                return log_error_errno(-ENOMEM, "Out of memory");
        a->listen_fd = -1;
        a->lock_fd = -1;
        a->event = sd_event_ref(event);

        if (config->mode == UMC_AGENT_GATEWAY) {
                r = gateway_setup(a, config);
                if (r < 0)
                        goto fail;
        }
        /* Before the probe, which may drop a stale resume record: the store must be ours. */
        r = slotdir_lock(config->slot_directory, &a->lock_fd);
        if (r >= 0 && config->mode == UMC_AGENT_ENDPOINT)
                r = slots_probe(config, config->slot_directory);
        if (r < 0)
                goto fail;
        if (config->channel == UMC_CHANNEL_CAN)
                return agent_new_can(a, config, ret);
        listen_where(config, where, sizeof(where));
        r = listen_open(&config->listen, config->bind_interface, &fd);
        if (r < 0) {
                log_error_errno(r, "Cannot listen on %s: %m", where);
                goto fail;
        }
        r = agent_set_listener(a, fd);
        if (r < 0) {
                (void)close(fd);
                log_error_errno(r, "Cannot watch the listening socket: %m");
                goto fail;
        }
        a->config = *config;
        memset(config, 0, sizeof(*config));
        a->handshake_usec = a->config.handshake_timeout_usec;
        a->idle_usec = a->config.idle_timeout_usec;
        agent_update_listener(a); /* MaxConnections= is known only now */
        umc_log_set_max_level(a->config.log_level);
        if (a->config.bind_interface[0] != '\0')
                (void)snprintf(where, sizeof(where), "%s on %s", a->listen_text,
                               a->config.bind_interface);
        else
                (void)snprintf(where, sizeof(where), "%s", a->listen_text);
        if (a->forwarder)
                log_info("Listening on %s as a gateway to %zu ECU(s) of %s, %zu [EthernetAcl] "
                         "rule(s)", where, umc_forwarder_n_targets(a->forwarder),
                         a->config.forward_config, a->config.eth_acl.n_rules);
        else
                log_info("Listening on %s as ECU 0x%08" PRIx32 " (%s), %zu [EthernetAcl] rule(s)",
                         where, a->config.ecu_id, a->config.hw_id, a->config.eth_acl.n_rules);
        *ret = a;
        return 0;
fail:
        umc_agent_free(a);
        return r;
}

void umc_agent_free(struct umc_agent *a) {
        if (!a)
                return;
        a->stopping = true; /* no new ISO-TP channel as the last one closes */
        while (a->conns) {
                struct conn *c = a->conns;
                if (c->began && c->receiver &&
                    umc_receiver_state(c->receiver) == UMC_RECEIVER_STREAM)
                        log_notice("%s: stopping mid-transfer; the partial image is kept for resume",
                                   c->peer);
                conn_free(c);
        }
        (void)sd_event_source_disable_unref(a->listener);
        (void)sd_event_source_disable_unref(a->accept_retry);
        (void)sd_event_source_disable_unref(a->sig_term);
        (void)sd_event_source_disable_unref(a->sig_int);
        (void)sd_event_source_disable_unref(a->sig_hup);
        (void)sd_event_source_disable_unref(a->bus_io);
        (void)sd_event_source_disable_unref(a->bus_tick);
        (void)sd_event_source_disable_unref(a->can_reopen);
        umc_canbus_free(a->bus);
        umc_forwarder_free(a->forwarder); /* after the connections, whose jobs borrow it */
        if (a->listen_fd >= 0)
                (void)close(a->listen_fd);
        if (a->lock_fd >= 0)
                (void)close(a->lock_fd); /* releases the SlotDirectory= lock */
        sd_event_unref(a->event);
        umc_agent_config_free(&a->config);
        free(a->config_path);
        free(a);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct umc_agent *a = userdata;

        if (si->ssi_signo == SIGHUP) {
                log_info("Received SIGHUP, reloading %s", a->config_path);
                (void)umc_agent_reload(a, a->config_path);
                return 0;
        }
        log_info("Received %s, stopping", si->ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        return sd_event_exit(a->event, 0);
}

int umc_agent_handle_signals(struct umc_agent *a, const char *config_path) {
        sigset_t mask;
        int r;

        if (!a || !config_path)
                return -EINVAL;
        free(a->config_path);
        a->config_path = strdup(config_path);
        if (!a->config_path)
                return -ENOMEM;
        /* Blocked, they wait in the signalfd for the loop: no work in a handler. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        if (!a->sig_term && (r = sd_event_add_signal(a->event, &a->sig_term, SIGTERM, on_signal, a)) < 0)
                return r;
        if (!a->sig_int && (r = sd_event_add_signal(a->event, &a->sig_int, SIGINT, on_signal, a)) < 0)
                return r;
        if (!a->sig_hup && (r = sd_event_add_signal(a->event, &a->sig_hup, SIGHUP, on_signal, a)) < 0)
                return r;
        return 0;
}

/* Listen= unchanged: as configured before, or the address actually bound (port 0 picked one). */
static bool listen_unchanged(const struct umc_agent *a, const struct umc_sockaddr *want) {
        struct umc_sockaddr bound = {};

        if (sockaddr_equal(want, &a->config.listen))
                return true;
        return umc_agent_local_address(a, &bound) == 0 && sockaddr_equal(want, &bound);
}

static bool can_channel_equal(const struct umc_can_channel *x, const struct umc_can_channel *y) {
        const struct umc_isotp_opts *p = &x->isotp, *q = &y->isotp;

        return strcmp(x->ifname, y->ifname) == 0 && p->tx_id == q->tx_id && p->rx_id == q->rx_id &&
               p->eff == q->eff && p->fd == q->fd && p->brs == q->brs && p->padding == q->padding &&
               p->pad_byte == q->pad_byte && p->block_size == q->block_size &&
               p->stmin == q->stmin && p->frame_gap_ns == q->frame_gap_ns;
}

/*
 * Reload with Channel=can: the channel itself stays as it is (its keys
 * need a restart); the bus monitor is rebuilt on the new [CanIds], which
 * it borrows from the new configuration.
 */
static int reload_can(struct umc_agent *a, const struct umc_agent_config *n) {
        struct umc_canbus *bus = NULL;
        int r;

        if (n->channel != a->config.channel || !can_channel_equal(&n->can, &a->config.can)) {
                log_error("Reload refused, keeping the running configuration: Channel= and the "
                          "CAN channel keys take effect at a restart");
                return -EINVAL;
        }
        r = bus_monitor_open(n, &bus);
        if (r >= 0) {
                r = agent_set_bus(a, bus);
                if (r < 0)
                        umc_canbus_free(bus);
        }
        if (r < 0)
                return log_error_errno(r, "Reload refused, keeping the running configuration: "
                                          "cannot watch %s: %m", n->can.ifname);
        return 0;
}

/*
 * Gateway: a reload re-reads the forward file too, unless an image is
 * being forwarded (its delivery borrows the loaded file). *ret is the new
 * forwarder to install, NULL for an endpoint.
 */
static int reload_forwarder(struct umc_agent *a, const struct umc_agent_config *n,
                            struct umc_forwarder **ret) {
        struct umc_config_error err = {};
        int r;

        *ret = NULL;
        if (n->mode != a->config.mode) {
                log_error("Reload refused, keeping the running configuration: Mode= takes effect "
                          "at a restart");
                return -EINVAL;
        }
        if (n->mode != UMC_AGENT_GATEWAY)
                return 0;
        for (const struct conn *c = a->conns; c; c = c->next)
                if (c->forward) {
                        log_error("Reload refused, keeping the running configuration: an image "
                                  "is being forwarded (%s)", c->peer);
                        return -EBUSY;
                }
        r = umc_forwarder_new(n->forward_config, a->event, ret, &err);
        if (r < 0)
                log_error("Reload refused, keeping the running configuration: %s", err.msg);
        return r;
}

/*
 * A reload's BindInterface= (unchanged, or refused) and SlotDirectory=: a
 * new directory is locked into *ret_lock_fd (-1 when unchanged) and
 * probed; the caller releases the old lock once the reload succeeds.
 */
static int reload_store(struct umc_agent *a, const struct umc_agent_config *n, int *ret_lock_fd) {
        _cleanup_close_ int fd = -1;
        int r;

        *ret_lock_fd = -1;
        if (strcmp(n->bind_interface, a->config.bind_interface) != 0) {
                /* A bound and an unbound socket on one address conflict: no overlap possible. */
                log_error("Reload refused, keeping the running configuration: BindInterface= "
                          "takes effect at a restart");
                return -EINVAL;
        }
        if (strcmp(n->slot_directory, a->config.slot_directory ? a->config.slot_directory : "") == 0)
                return 0;
        r = slotdir_lock(n->slot_directory, &fd);
        if (r >= 0)
                r = slots_probe(n, n->slot_directory);
        /* The probe's -EBUSY is the store's own flock, held while a transfer has it open. */
        if (r < 0 && (fd < 0 || r != -EBUSY)) {
                log_error("Reload refused, keeping the running configuration");
                return r;
        }
        *ret_lock_fd = TAKE_FD(fd);
        return 0;
}

int umc_agent_reload(struct umc_agent *a, const char *config_path) {
        struct umc_forwarder *fw = NULL;
        struct umc_agent_config n = {};
        struct umc_config_error err = {};
        const char *why = NULL;
        int fd = -1, lock_fd = -1, r;

        if (!a || !config_path)
                return -EINVAL;
        (void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, umc_now_monotonic_usec());
        r = umc_agent_config_load(config_path, &n, &err);
        if (r < 0) {
                log_error("Reload refused, keeping the running configuration: %s", err.msg);
                goto out;
        }
        r = umc_agent_config_check(&n, &why);
        if (r < 0) {
                log_error("Reload refused, keeping the running configuration: %s: %s",
                          config_path, why);
                goto out;
        }
        r = reload_store(a, &n, &lock_fd);
        if (r < 0)
                goto out;
        r = reload_forwarder(a, &n, &fw);
        if (r < 0)
                goto out;
        if (a->config.channel == UMC_CHANNEL_CAN || n.channel == UMC_CHANNEL_CAN) {
                r = reload_can(a, &n);
                if (r < 0)
                        goto out;
        } else if (!listen_unchanged(a, &n.listen)) {
                char where[INET6_ADDRSTRLEN + 8];
                sockaddr_to_text(&n.listen.sa, where, sizeof(where));
                r = listen_open(&n.listen, n.bind_interface, &fd);
                if (r >= 0) {
                        r = agent_set_listener(a, fd);
                        if (r < 0)
                                (void)close(fd);
                }
                if (r < 0) {
                        log_error_errno(r, "Reload refused, keeping the running configuration: "
                                           "cannot listen on %s: %m", where);
                        goto out;
                }
        }
        umc_agent_config_free(&a->config);
        a->config = n;
        memset(&n, 0, sizeof(n));
        if (lock_fd >= 0) {
                (void)close(a->lock_fd); /* the old SlotDirectory= is free again */
                a->lock_fd = TAKE_FD(lock_fd);
        }
        if (fw) {
                umc_forwarder_free(a->forwarder);
                a->forwarder = TAKE_PTR(fw);
        }
        a->handshake_usec = a->config.handshake_timeout_usec;
        a->idle_usec = a->config.idle_timeout_usec;
        agent_update_listener(a);
        umc_log_set_max_level(a->config.log_level);
        log_info("Reloaded %s: %s %s as ECU 0x%08" PRIx32 " (%s)", config_path,
                 a->bus ? "serving" : "listening on", a->bus ? a->can_text : a->listen_text,
                 a->config.ecu_id, a->config.hw_id);
        r = 0;
out:
        if (lock_fd >= 0)
                (void)close(lock_fd);
        umc_forwarder_free(fw);
        umc_agent_config_free(&n);
        (void)sd_notify(0, "READY=1");
        agent_status(a);
        return r;
}

int umc_agent_run(struct umc_agent *a) {
        int r;

        r = sd_event_set_watchdog(a->event, true);
        if (r < 0)
                log_warning_errno(r, "Cannot enable the watchdog: %m");
        (void)sd_notify(0, "READY=1");
        agent_status(a);
        r = sd_event_loop(a->event);
        (void)sd_notify(0, "STOPPING=1");
        return r;
}

int umc_agent_local_address(const struct umc_agent *a, struct umc_sockaddr *ret) {
        struct umc_sockaddr s = { .len = sizeof(s.in6) };

        if (!a || !ret || a->listen_fd < 0)
                return -EINVAL;
        if (getsockname(a->listen_fd, &s.sa, &s.len) < 0)
                return -errno;
        *ret = s;
        return 0;
}

void umc_agent_get_stats(const struct umc_agent *a, struct umc_agent_stats *ret) {
        *ret = a->stats;
        ret->connections = a->n_conns;
}

int umc_agent_set_timeouts(struct umc_agent *a, uint64_t handshake_usec, uint64_t idle_usec) {
        if (!a || handshake_usec == 0 || idle_usec == 0)
                return -EINVAL;
        a->handshake_usec = handshake_usec;
        a->idle_usec = idle_usec;
        return 0;
}

void umc_agent_set_legacy(struct umc_agent *a, bool legacy) {
        if (a)
                a->legacy = legacy;
}
