/* SPDX-License-Identifier: MIT */
#include "umc/delivery.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <linux/can/netlink.h>

#include "umc/auth.h"
#include "umc/canbus.h"
#include "umc/fs.h"
#include "umc/hint.h"
#include "umc/isotp.h"
#include "umc/linkload.h"
#include "umc/log.h"
#include "umc/netinfo.h"
#include "umc/session.h"
#include "umc/stream.h"
#include "umc/names.h"
#include "umc/util.h"
#include "umc/xfer.h"

#define IMAGE_ID_LABEL "umc1 image-id"
/* Longest frame the sender produces: header, DATA offset, one chunk, two tags (layered mode). */
#define TX_FRAME_MAX                                                                      \
        (UMC_FRAME_HEADER_LEN + UMC_MSG_DATA_HEADER_LEN + UMC_DELIVERY_CHUNK + 2 * UMC_TAG_MAX)
/* Load windows the rate is averaged over. */
#define RATE_SAMPLES 4
#define ADDRESS_STRING_MAX UMC_DELIVERY_ADDRESS_MAX
#define RECORD_NAME_MAX (sizeof(UMC_DELIVERY_RECORD_PREFIX) + UMC_CONFIG_TARGET_NAME_MAX)
/* package=PATH manifest=HEX target=NAME offset=N, each with its newline. */
#define RECORD_TEXT_MAX (PATH_MAX + 2 * UMC_HASH_LEN + UMC_CONFIG_TARGET_NAME_MAX + 64)
/*
 * Slack of the load and pacing timers: sd-event's default (250 ms) would
 * let windows close late and bursts wait long; 1 ms still lets the kernel
 * coalesce wake-ups.
 */
#define TICK_ACCURACY_USEC USEC_PER_MSEC
#define PACE_ACCURACY_USEC 1
/*
 * CAN: load windows the bus is watched for before the ISO-TP channel
 * opens (unknown IDs and rates out of tolerance refuse the start), and the
 * smallest DATA chunk a PDU limit may leave (MaxPdu= too small to be useful).
 */
#define CAN_PRECHECK_WINDOWS 2
#define CAN_CHUNK_MIN 64

struct umc_delivery {
        sd_event *event;
        struct umc_delivery_params p;
        char *package_dir;              /* owned copy of p.package_dir */
        struct umc_delivery_events ev;
        const struct umc_ecu *ecu;      /* borrowed from the config */
        const struct umc_target *target;
        char address[ADDRESS_STRING_MAX];
        uint8_t image_id[UMC_MSG_IMAGE_ID_LEN];

        enum umc_delivery_state state;
        int fd;                         /* owned while connecting; then the stream's */
        struct umc_stream *stream;
        sd_event_source *io, *tick, *timeout, *later;
        uint64_t last_activity;         /* CLOCK_MONOTONIC usec */
        uint64_t deadline;              /* of the current phase; idle phases add last_activity */

        struct umc_auth_master auth;
        struct umc_session *session;
        struct umc_rotation rotation;
        struct umc_sender *sender;

        struct umc_linkload load;
        bool have_load;
        bool load_error_logged;

        /*
         * CAN (target Channel=can): the bus monitor (load, own bits, CAN ID
         * checks) and its last closed window; chunk is the DATA size a PDU
         * holds. interference is a CAN ID violation seen mid-transfer: the
         * delivery stops at the next acknowledged checkpoint.
         */
        bool can;
        struct umc_canbus *bus;
        sd_event_source *bus_io;
        struct umc_canbus_window win;
        bool have_win;
        unsigned clean_windows;
        size_t chunk;
        bool interference;
        bool bus_off_logged;            /* one warning (and restart) per BUS-OFF episode */
        enum umc_reason interference_reason;
        char interference_text[UMC_MSG_ALARM_TEXT_MAX + 1];

        /*
         * Pacing (delivery.h). Tokens are bytes on the wire times USEC_PER_SEC,
         * so that a rate in bit/s times microseconds / 8 adds whole tokens; a
         * frame may take them below zero, the next waits until they are back.
         */
        bool paced;
        bool pace_waiting;              /* out of tokens: pace_timer is armed */
        uint64_t pace_link_bps;         /* the rate CeilingPercent= is a share of */
        uint64_t pace_bps;              /* allowed now */
        int64_t tokens, tokens_max;
        uint64_t tokens_at;             /* last refill, CLOCK_MONOTONIC usec */
        uint64_t wire_sent;             /* bytes on the wire of every frame produced */
        uint64_t wire_at_window;        /* wire_sent when the last load window closed */
        uint64_t window_at;             /* when that was */
        double own_carry_bits;          /* ours, not yet seen by the counters (pace_window()) */
        sd_event_source *pace_timer;

        bool queue_full;                /* the sender has frames but the queue had no room */
        uint64_t last_acked;
        uint64_t rate;
        uint64_t rate_t[RATE_SAMPLES], rate_b[RATE_SAMPLES];
        size_t rate_n, rate_head;

        uint64_t rejected_early;        /* PDUs dropped before the sender existed (CAN) */

        /*
         * umc_delivery_cancel(): the ALARM for the ECU (cancel_len bytes in
         * txbuf while the queue has no room for it), then flush, shut down
         * and wait for the ECU's end, at most UMC_DELIVERY_LINGER_USEC.
         */
        bool cancelling;
        bool cancel_completed;          /* the ECU's COMPLETE came in after all */
        bool write_shut;
        size_t cancel_len;

        /*
         * Connection attempts on TCP: a refused or unanswered connect() is
         * tried again after backoff (doubled each time, at most
         * ConnectBackoffMaxSec=) until ConnectRetrySec= after the first.
         */
        unsigned attempt;               /* 1 for the first connect() */
        uint64_t backoff;
        uint64_t retry_until;           /* CLOCK_MONOTONIC usec; 0 = no retry */
        uint64_t first_attempt;

        /*
         * The slot overview (STATUS_QUERY after AUTH, before BEGIN): querying
         * while the answer is due, no_query once the ECU said it does not
         * know the message (an older agent: the delivery starts over without).
         */
        bool querying;
        bool no_query;

        enum umc_reason later_reason;   /* a failure to report from the loop */
        int later_errno;                /* a connect() that failed at once */
        char later_text[UMC_MSG_ALARM_TEXT_MAX + 1];

        uint8_t txbuf[TX_FRAME_MAX];
};

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

/* ---- resume records ---- */

static void record_name(const char *target, char buf[RECORD_NAME_MAX]) {
        (void)snprintf(buf, RECORD_NAME_MAX, UMC_DELIVERY_RECORD_PREFIX "%s", target);
}

int umc_delivery_record_write(int dirfd, const struct umc_delivery_record *rec) {
        char name[RECORD_NAME_MAX], hex[2 * UMC_HASH_LEN + 1];
        _cleanup_free_ char *text = NULL;
        int n;

        if (!rec || !umc_name_path_valid(rec->package_dir) ||
            !umc_name_target_valid(rec->target) || rec->offset > UMC_XFER_MAX_IMAGE)
                return -EINVAL;
        text = malloc(RECORD_TEXT_MAX);
        if (!text)
                return -ENOMEM;
        umc_hex_encode(rec->manifest_hash, UMC_HASH_LEN, hex);
        n = snprintf(text, RECORD_TEXT_MAX, "package=%s\nmanifest=%s\ntarget=%s\noffset=%" PRIu64 "\n",
                     rec->package_dir, hex, rec->target, rec->offset);
        if (n < 0 || (size_t)n >= RECORD_TEXT_MAX)
                return -EINVAL;
        record_name(rec->target, name);
        return umc_fs_write_atomic(dirfd, name, text, (size_t)n, 0600);
}

/* Decimal 0..UMC_XFER_MAX_IMAGE, digits only. */
static int parse_offset(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (*s == '\0')
                return -EBADMSG;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EBADMSG;
                v = v * 10 + (uint64_t)(*s - '0');
                if (v > UMC_XFER_MAX_IMAGE)
                        return -EBADMSG;
        }
        *ret = v;
        return 0;
}

/* One "key=value" line into rec; *seen collects the keys met. */
static int record_line(char *line, struct umc_delivery_record *rec, unsigned *seen) {
        static const char *const keys[] = { "package", "manifest", "target", "offset" };
        char *eq = strchr(line, '=');
        const char *v;
        size_t k;

        if (!eq)
                return -EBADMSG;
        *eq = '\0';
        v = eq + 1;
        for (k = 0; k < UMC_ELEMENTSOF(keys); k++)
                if (strcmp(line, keys[k]) == 0)
                        break;
        if (k == UMC_ELEMENTSOF(keys) || (*seen & (1u << k)))
                return -EBADMSG;
        *seen |= 1u << k;
        switch (k) {
        case 0:
                if (!umc_name_path_valid(v))
                        return -EBADMSG;
                memcpy(rec->package_dir, v, strlen(v) + 1);
                return 0;
        case 1:
                return umc_hex_decode(v, strlen(v), rec->manifest_hash, UMC_HASH_LEN) < 0 ? -EBADMSG
                                                                                         : 0;
        case 2:
                if (!umc_name_target_valid(v))
                        return -EBADMSG;
                memcpy(rec->target, v, strlen(v) + 1);
                return 0;
        default:
                return parse_offset(v, &rec->offset);
        }
}

int umc_delivery_record_read(int dirfd, const char *target, struct umc_delivery_record *ret) {
        char name[RECORD_NAME_MAX];
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ struct umc_delivery_record *rec = NULL;
        unsigned seen = 0;
        size_t len;
        char *line;
        int r;

        if (!ret || !umc_name_target_valid(target))
                return -EINVAL;
        record_name(target, name);
        r = umc_fs_read_file(dirfd, name, RECORD_TEXT_MAX, &text, &len);
        if (r < 0)
                return r;
        if (strlen(text) != len || len == 0 || text[len - 1] != '\n')
                return -EBADMSG;
        rec = calloc(1, sizeof(*rec));
        if (!rec)
                return -ENOMEM;
        line = text;
        while (*line) {
                char *nl = strchr(line, '\n');

                *nl = '\0';
                r = record_line(line, rec, &seen);
                if (r < 0)
                        return r;
                line = nl + 1;
        }
        if (seen != 0xf || strcmp(rec->target, target) != 0)
                return -EBADMSG;
        *ret = *rec;
        return 0;
}

int umc_delivery_record_remove(int dirfd, const char *target) {
        char name[RECORD_NAME_MAX];

        if (!umc_name_target_valid(target))
                return -EINVAL;
        record_name(target, name);
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return umc_fs_remove_temp_files(dirfd, name);
}

/* ---- the delivery ---- */

static const char *target_name(const struct umc_delivery *d) {
        return d->ecu->name;
}

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
static void disconnect(struct umc_delivery *d) {
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
        disconnect(d);
        umc_sender_free(d->sender);
        umc_session_free(d->session);
        free(d->package_dir);
        sd_event_unref(d->event);
        umc_memzero(d, sizeof(*d));
        free(d);
}

/*
 * The channel's load, last closed window: the egress link's counters on
 * TCP, the bus monitor on CAN. link_bps is what percentages are of (the
 * CAN bitrate, arbitration phase). have is false before the first window.
 */
struct load_view {
        bool have, nominal;
        double percent;
        enum umc_load_class cls;
        uint64_t link_bps;
};

static void load_view(const struct umc_delivery *d, struct load_view *ret) {
        *ret = (struct load_view){ .cls = UMC_LOAD_NORMAL };
        if (d->can && d->bus) {
                struct umc_canbus_status st;

                (void)umc_canbus_status(d->bus, &st);
                ret->link_bps = st.bitrate;
                ret->nominal = st.nominal;
                if (d->have_win) {
                        ret->have = true;
                        ret->percent = d->win.percent;
                        ret->cls = d->win.cls;
                }
        } else if (!d->can && d->have_load) {
                ret->link_bps = d->load.link_bps;
                ret->nominal = d->load.nominal;
                ret->have = d->load.load.n_windows > 0;
                ret->percent = umc_linkload_percent(&d->load);
                ret->cls = umc_linkload_class(&d->load);
        }
}

void umc_delivery_get_progress(const struct umc_delivery *d, struct umc_delivery_progress *ret) {
        struct load_view v;

        load_view(d, &v);
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
                .attempt = d->attempt,
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

static void emit_progress(struct umc_delivery *d) {
        struct umc_delivery_progress p;

        if (!d->ev.progress)
                return;
        umc_delivery_get_progress(d, &p);
        d->ev.progress(d->ev.userdata, &p);
}

static void finish(struct umc_delivery *d, bool success, enum umc_reason reason) {
        disconnect(d);
        d->state = success ? UMC_DELIVERY_DONE : UMC_DELIVERY_FAILED;
        emit_progress(d);
        if (d->ev.finished)
                d->ev.finished(d->ev.userdata, success, reason);
}

/* End with an alarm. Always returns 0: the event source that got here stays healthy. */
static int fail(struct umc_delivery *d, enum umc_reason reason, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int fail(struct umc_delivery *d, enum umc_reason reason, const char *fmt, ...) {
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
        disconnect(d);
        d->state = UMC_DELIVERY_FAILED;
        if (d->ev.alarm)
                d->ev.alarm(d->ev.userdata, reason, text);
        finish(d, false, reason);
        return 0;
}

/* The channel failed with r: on CAN an ECU that never answers shows as -ECOMM (hint.h). */
static int fail_channel(struct umc_delivery *d, int r) {
        const struct umc_isotp_opts *o = &d->target->can.isotp;
        char text[UMC_MSG_ALARM_TEXT_MAX + 1];

        return fail(d, UMC_REASON_IO_ERROR, "%s",
                    umc_hint_channel_error(text, sizeof(text), d->address, d->can, o->tx_id, o->rx_id,
                                           o->eff, r));
}

static uint64_t now_usec(void) {
        return umc_now_monotonic_usec();
}

static int arm_timeout(struct umc_delivery *d, uint64_t at) {
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

/* Bytes of every suite in CipherOrder=: what the session may seal and open. */
static uint32_t allowed_suites(const struct umc_rotation_cfg *c) {
        uint32_t bits = 0;

        for (size_t i = 0; i < c->n_order; i++)
                bits |= 1u << c->order[i];
        return bits;
}

/* ---- pacing ---- */

uint64_t umc_delivery_pace_bps(uint64_t link_bps, unsigned ceiling_percent, uint64_t measured_bps,
                               uint64_t own_bps) {
        uint64_t ceiling, floor, other, allowed;

        if (link_bps == 0 || ceiling_percent == 0 || ceiling_percent > 100)
                return 0;
        /* Split so that no product overflows whatever link_bps is. */
        ceiling = link_bps / 100 * ceiling_percent + link_bps % 100 * ceiling_percent / 100;
        floor = link_bps / 100 > 0 ? link_bps / 100 : 1;
        other = measured_bps > own_bps ? measured_bps - own_bps : 0;
        allowed = ceiling > other ? ceiling - other : 0;
        return allowed > floor ? allowed : floor;
}

uint64_t umc_delivery_wire_bytes(uint64_t len) {
        uint64_t overhead = len / UMC_DELIVERY_WIRE_SEGMENT * UMC_DELIVERY_WIRE_OVERHEAD +
                            (len % UMC_DELIVERY_WIRE_SEGMENT * UMC_DELIVERY_WIRE_OVERHEAD +
                             UMC_DELIVERY_WIRE_SEGMENT - 1) / UMC_DELIVERY_WIRE_SEGMENT;

        return len > UINT64_MAX - overhead ? UINT64_MAX : len + overhead;
}

/* Tokens earned since the last refill, up to the bucket's size. */
static void pace_refill(struct umc_delivery *d, uint64_t now) {
        uint64_t dt, room, full;

        if (now <= d->tokens_at)
                return;
        dt = now - d->tokens_at;
        d->tokens_at = now;
        if (d->tokens >= d->tokens_max)
                return;
        room = (uint64_t)(d->tokens_max - d->tokens);
        /* Time to fill the bucket: past it the bucket is full, before it bps * dt cannot overflow. */
        full = room / (d->pace_bps / 8 + 1) + 1;
        if (dt >= full)
                d->tokens = d->tokens_max;
        else
                d->tokens += (int64_t)(d->pace_bps * dt / 8);
        if (d->tokens > d->tokens_max)
                d->tokens = d->tokens_max;
}

/* Make bps the allowed rate from now on: the bucket holds one window's worth, at most the burst. */
static void pace_set(struct umc_delivery *d, uint64_t now, uint64_t bps, uint64_t other_bps) {
        uint64_t window = d->p.config->load.window_usec, burst;

        pace_refill(d, now); /* what was earned at the old rate */
        if (bps != d->pace_bps)
                log_debug("%s: pacing at %" PRIu64 " kbit/s: ceiling %u%% of %" PRIu64
                          " kbit/s, other traffic %" PRIu64 " kbit/s", target_name(d), bps / 1000,
                          d->p.config->ceiling_percent, d->pace_link_bps / 1000, other_bps / 1000);
        d->pace_bps = bps;
        /* bps <= 100 Gbit/s (config) and window <= 60 s: the product fits. */
        burst = bps / 8 * window / USEC_PER_SEC;
        if (burst > UMC_DELIVERY_PACE_BURST_MAX)
                burst = UMC_DELIVERY_PACE_BURST_MAX;
        if (burst == 0)
                burst = 1; /* tokens must be able to turn positive */
        d->tokens_max = (int64_t)(burst * USEC_PER_SEC);
        if (d->tokens > d->tokens_max)
                d->tokens = d->tokens_max;
}

/* Streaming begins: pace from the ceiling less the traffic seen so far (none measured: the ceiling). */
static void pace_start(struct umc_delivery *d, uint64_t now) {
        const struct umc_daemon_config *c = d->p.config;
        uint64_t measured = 0;
        struct load_view v;

        if (c->ceiling_percent == 0)
                return;
        d->paced = true;
        load_view(d, &v);
        if (v.link_bps > 0)
                d->pace_link_bps = v.link_bps;
        else
                d->pace_link_bps = c->link_rate_bps > 0 ? c->link_rate_bps : UMC_LINKLOAD_NOMINAL_BPS;
        if (v.have)
                measured = (uint64_t)(v.percent / 100.0 * (double)v.link_bps);
        d->tokens_at = now;
        d->window_at = now;
        d->wire_at_window = d->wire_sent;
        pace_set(d, now, umc_delivery_pace_bps(d->pace_link_bps, c->ceiling_percent, measured, 0),
                 measured);
        d->tokens = d->tokens_max;
}

/*
 * A load window closed (or, without a sampler, a tick passed): the other
 * traffic is what the link carried in it less what we put on the wire
 * since the previous window. Our bytes queued late in a window may reach
 * the counters only in the next one (Nagle holds a segment's tail until
 * the ACK, the socket buffer drains later): what the counters have not
 * shown of our bytes yet is carried into the next window, at most one
 * window's own bytes, instead of letting one window see too little of us
 * and the next too much (phantom other traffic).
 */
static void pace_window_can(struct umc_delivery *d, uint64_t now);

static void pace_window(struct umc_delivery *d, uint64_t now) {
        double window = (double)d->p.config->load.window_usec / (double)USEC_PER_SEC;
        double measured = 0.0, sent, own, missing;

        if (!d->paced || now <= d->window_at)
                return;
        if (d->can) {
                pace_window_can(d, now);
                return;
        }
        if (d->have_load)
                measured = umc_linkload_percent(&d->load) / 100.0 * (double)d->load.link_bps * window;
        /* linkload counts each byte once, on loopback too: so do we. */
        sent = (double)(d->wire_sent - d->wire_at_window) * 8.0;
        d->wire_at_window = d->wire_sent;
        d->window_at = now;
        /* In bits over the window; the rule itself works on rates. */
        own = sent + d->own_carry_bits;
        missing = own - measured;
        d->own_carry_bits = missing <= 0.0 ? 0.0 : missing < sent ? missing : sent;
        pace_set(d, now,
                 umc_delivery_pace_bps(d->pace_link_bps, d->p.config->ceiling_percent,
                                       (uint64_t)(measured / window), (uint64_t)(own / window)),
                 measured > own ? (uint64_t)((measured - own) / window) : 0);
}

/*
 * CAN: the bus monitor sees every frame with its kernel timestamp, ours
 * included (they loop back to its CAN_RAW socket), and tells our bits
 * apart by CAN ID: no carry-over guesswork as on a link's counters.
 */
static void pace_window_can(struct umc_delivery *d, uint64_t now) {
        double link = (double)d->pace_link_bps, measured = 0.0, own = 0.0;

        d->wire_at_window = d->wire_sent;
        d->window_at = now;
        if (d->have_win) {
                measured = d->win.percent / 100.0 * link;
                own = d->win.own_percent / 100.0 * link;
        }
        pace_set(d, now,
                 umc_delivery_pace_bps(d->pace_link_bps, d->p.config->ceiling_percent,
                                       (uint64_t)measured, (uint64_t)own),
                 measured > own ? (uint64_t)(measured - own) : 0);
}

static int on_pace(sd_event_source *s, uint64_t usec, void *userdata);

/* True when a frame may go now; else the pace timer is armed for when one may. */
static int pace_admit(struct umc_delivery *d, uint64_t now, bool *ret_admit) {
        uint64_t wait;
        int r;

        d->pace_waiting = false;
        if (!d->paced) {
                *ret_admit = true;
                return 0;
        }
        pace_refill(d, now);
        if (d->tokens > 0) {
                *ret_admit = true;
                return 0;
        }
        /* Tokens come at pace_bps / 8 bytes per second, i.e. bps / 8 per microsecond in our unit. */
        wait = ((uint64_t)(-d->tokens) * 8 + d->pace_bps) / d->pace_bps;
        if (!d->pace_timer) {
                r = sd_event_add_time(d->event, &d->pace_timer, CLOCK_MONOTONIC, now + wait,
                                      PACE_ACCURACY_USEC, on_pace, d);
                if (r < 0)
                        return r;
        } else {
                r = sd_event_source_set_time(d->pace_timer, now + wait);
                if (r >= 0)
                        r = sd_event_source_set_enabled(d->pace_timer, SD_EVENT_ONESHOT);
                if (r < 0)
                        return r;
        }
        d->pace_waiting = true;
        *ret_admit = false;
        return 0;
}

/*
 * CAN: the bus time of one PDU (its frames, flow control included, with
 * the configured stuffing and bit model) as bytes at the arbitration
 * bitrate, the unit the pacing counts in. The data phase of CAN FD with
 * BRS runs faster and costs proportionally less.
 */
static uint64_t can_wire_bytes(const struct umc_delivery *d, size_t len) {
        const struct umc_daemon_config *c = d->p.config;
        struct umc_isotp_wire w;
        struct umc_canbus_status st;
        uint64_t bits;

        if (umc_isotp_pdu_wire(len, &d->target->can.isotp, c->can_stuffing, c->can_bit_model, &w) < 0)
                return umc_delivery_wire_bytes(len); /* cannot happen for a checked config */
        (void)umc_canbus_status(d->bus, &st);
        bits = w.arb_bits;
        if (w.data_bits > 0 && st.data_bitrate > 0)
                bits += w.data_bits * st.bitrate / st.data_bitrate;
        else
                bits += w.data_bits;
        return (bits + 7) / 8;
}

static void pace_charge(struct umc_delivery *d, size_t len) {
        uint64_t wire = d->can ? can_wire_bytes(d, len) : umc_delivery_wire_bytes(len);

        d->wire_sent += wire;
        if (d->paced)
                d->tokens -= (int64_t)(wire * USEC_PER_SEC);
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
        emit_progress(d);
        if (d->interference)
                (void)fail(d, d->interference_reason, "interference: %s; stopped at byte %" PRIu64,
                           d->interference_text, acked);
}

/* Write what is queued; a vanished peer may have said why first, so read before failing. */
static int flush(struct umc_delivery *d);

static int read_frames(struct umc_delivery *d);
static bool running(const struct umc_delivery *d);

/* Produce frames while the queue has room for the largest one and the pacing allows. */
static int pump(struct umc_delivery *d) {
        d->queue_full = false;
        while (d->state == UMC_DELIVERY_TRANSFERRING && !d->querying) {
                struct load_view v;
                enum umc_rotation_cause cause = UMC_ROTATE_NONE;
                uint64_t now = now_usec();
                bool admit = false;
                size_t len = 0;
                int r;

                load_view(d, &v);
                if (umc_stream_queue_space(d->stream) < TX_FRAME_MAX) {
                        d->queue_full = true;
                        break;
                }
                r = pace_admit(d, now, &admit);
                if (r < 0)
                        return fail(d, UMC_REASON_INTERNAL, "cannot arm the pacing timer: %s",
                                    strerror(-r));
                if (!admit)
                        break;
                r = umc_sender_next(d->sender, now, v.cls, d->txbuf, sizeof(d->txbuf), &len,
                                    &cause);
                if (r == -EAGAIN || r == -ESHUTDOWN)
                        break;
                if (r < 0)
                        return fail(d, umc_sender_reason(d->sender), "cannot produce a frame: %s",
                                    strerror(-r));
                if (cause != UMC_ROTATE_NONE && d->ev.rotation)
                        d->ev.rotation(d->ev.userdata, umc_rotation_suite(&d->rotation),
                                       d->rotation.key_id, cause);
                r = umc_stream_queue(d->stream, d->txbuf, len);
                if (r < 0)
                        return fail(d, UMC_REASON_INTERNAL, "cannot queue a frame: %s",
                                    strerror(-r));
                pace_charge(d, len);
                if (umc_sender_state(d->sender) == UMC_SENDER_WAIT_COMPLETE) {
                        d->state = UMC_DELIVERY_VERIFYING;
                        d->deadline = now_usec() + d->p.config->final_timeout_usec;
                        if (arm_timeout(d, d->deadline) < 0)
                                return fail(d, UMC_REASON_INTERNAL, "cannot arm the timeout");
                        emit_progress(d);
                }
        }
        return flush(d);
}

static int flush(struct umc_delivery *d) {
        size_t before;
        int r;

        if (!d->stream)
                return 0;
        before = umc_stream_queued(d->stream);
        r = umc_stream_flush(d->stream);
        if (umc_stream_queued(d->stream) != before)
                d->last_activity = now_usec();
        if (r == 0 || r == -EAGAIN)
                return update_io_events(d) < 0 ? fail(d, UMC_REASON_INTERNAL, "epoll") : 0;
        (void)read_frames(d);
        if (!running(d))
                return 0; /* the ECU's last words ended it, or it starts over */
        return fail_channel(d, r);
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

/* ---- slot overview ---- */

static int tcp_connect(struct umc_delivery *d);
static int can_start(struct umc_delivery *d);
static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata);

/* STATUS_QUERY, sealed with the rotation's first key, as BEGIN will be. */
static int queue_status_query(struct umc_delivery *d) {
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
        disconnect(d);
        d->have_load = false;
        d->have_win = false;
        d->clean_windows = 0;
        d->state = UMC_DELIVERY_NEW;
        d->attempt = 0;
        if (d->can)
                r = can_start(d);
        else {
                r = sd_event_add_time_relative(d->event, &d->timeout, CLOCK_MONOTONIC,
                                               d->p.config->connect_timeout_usec, 0, on_timeout, d);
                if (r >= 0)
                        r = tcp_connect(d);
        }
        if (r < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot connect again: %s", strerror(-r));
        emit_progress(d);
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
                return fail(d, UMC_REASON_BODY_MALFORMED, "malformed FEEDBACK from the ECU");
        if (h.type == UMC_FRAME_FEEDBACK && fb.code == UMC_FEEDBACK_STOP &&
            fb.reason == UMC_REASON_FRAME_BAD_TYPE && !d->no_query)
                return restart_without_query(d);
        if (h.type != UMC_FRAME_STATUS) {
                /* Already opened, so not through the sender again (a replay to it): end here. */
                if (h.type == UMC_FRAME_ALARM) {
                        struct umc_msg_alarm a;
                        why = umc_msg_alarm_decode(plain, plen, &a) < 0 ? UMC_REASON_BODY_MALFORMED
                                                                         : a.reason;
                        return fail(d, why, "stopped by the ECU: %s", umc_reason_to_string(why));
                }
                if (h.type == UMC_FRAME_FEEDBACK && fb.code == UMC_FEEDBACK_STOP)
                        return fail(d, fb.reason, "stopped by the ECU: %s",
                                    umc_reason_to_string(fb.reason));
                return fail(d, UMC_REASON_OUT_OF_ORDER, "the ECU sent %s instead of STATUS",
                            umc_frame_type_to_string(h.type));
        }
        if (umc_msg_status_decode(plain, plen, &st) < 0)
                return fail(d, UMC_REASON_BODY_MALFORMED, "malformed STATUS from the ECU");
        d->querying = false;
        if (arm_timeout(d, d->last_activity + d->p.config->idle_timeout_usec) < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot arm the timeout");
        if (d->ev.status)
                d->ev.status(d->ev.userdata, &st);
        return pump(d);
}

static int on_auth_response(struct umc_delivery *d, const uint8_t *frame, size_t len) {
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

                return fail(d, why, "%s", umc_hint_auth_refused(text, sizeof(text), why, &h));
        }
        if (r < 0)
                return fail(d, UMC_REASON_INTERNAL, "ECU authentication: %s", strerror(-r));
        r = setup_session(d, salt);
        umc_memzero(salt, sizeof(salt));
        umc_auth_master_clear(&d->auth);
        if (r < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot set up the session: %s", strerror(-r));
        r = umc_stream_queue(d->stream, d->txbuf, out_len);
        umc_memzero(d->txbuf, out_len);
        if (r < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot queue AUTH_CONFIRM: %s", strerror(-r));
        if (!d->no_query) {
                r = queue_status_query(d);
                if (r < 0)
                        return fail(d, UMC_REASON_INTERNAL, "cannot queue STATUS_QUERY: %s",
                                    strerror(-r));
        }
        log_debug("%s: ECU 0x%" PRIx32 " authenticated", target_name(d), d->ecu->ecu_id);
        d->state = UMC_DELIVERY_TRANSFERRING;
        d->deadline = 0;
        pace_start(d, now_usec());
        /* The STATUS is due like an AUTH_RESPONSE (on ISO-TP an older agent just says nothing). */
        if (arm_timeout(d, d->last_activity + (d->querying ? d->p.config->auth_timeout_usec
                                                           : d->p.config->idle_timeout_usec)) < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot arm the timeout");
        emit_progress(d);
        return 0;
}

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
                return fail(d, UMC_REASON_REJECTED_FRAMES,
                            "more than %" PRIu32 " frames from the ECU failed authentication since "
                            "the last checkpoint (the last: %s); stopped at byte %" PRIu64,
                            rj.limit, umc_reason_to_string((uint16_t)rj.last),
                            umc_sender_bytes_acked(d->sender));
        log_warning("%s: dropped a frame from the ECU that failed authentication: %s "
                    "(%" PRIu32 " of at most %" PRIu32 " since the last checkpoint)",
                    target_name(d), umc_reason_to_string((uint16_t)why), rj.window, rj.limit);
        emit_progress(d);
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
                return fail(d, why, "stopped by the ECU: %s", umc_reason_to_string(why));
        if (r == -EBADMSG)
                return fail(d, why, "refused a frame from the ECU: %s", umc_reason_to_string(why));
        if (r < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot process a frame from the ECU: %s",
                            strerror(-r));
        check_acked(d);
        if (umc_sender_state(d->sender) == UMC_SENDER_DONE)
                finish(d, true, UMC_REASON_OK);
        return 0;
}

static bool running(const struct umc_delivery *d) {
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
        while (running(d)) {
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
                        return fail(d, why, "malformed frame header from the ECU: %s",
                                    umc_reason_to_string(why));
                if (r == -ECONNRESET && d->querying && !d->no_query)
                        /* An older agent closes on the frame type it does not know. */
                        return restart_without_query(d);
                if (r == -ECONNRESET && d->state == UMC_DELIVERY_AUTHENTICATING)
                        /* The agent closes without a word when its own checks refuse us. */
                        return fail(d, UMC_REASON_IO_ERROR,
                                    "the agent at %s closed the connection before authenticating: "
                                    "its log says why (no [EthernetAcl] Rule= in umc-agent.conf "
                                    "allows umcd, or it serves no ECU 0x%" PRIx32 ")",
                                    d->address, d->ecu->ecu_id);
                if (r == -ECONNRESET)
                        return fail(d, UMC_REASON_IO_ERROR, "connection closed by the ECU while %s",
                                    umc_delivery_state_to_string(d->state));
                if (r < 0)
                        return fail_channel(d, r);
                if (d->state == UMC_DELIVERY_AUTHENTICATING) {
                        d->last_activity = now_usec();
                        r = on_auth_response(d, frame, len);
                } else {
                        r = on_transfer_frame(d, frame, len);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- CAN ---- */

static int begin_auth(struct umc_delivery *d);
static int cancel_done(struct umc_delivery *d);
static int connect_failed(struct umc_delivery *d, int err);
static int connect_again(struct umc_delivery *d);
static int on_connect_later(sd_event_source *s, void *userdata);
static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata);
static int on_tick(sd_event_source *s, uint64_t usec, void *userdata);
static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* One line naming what the CAN ID check found, for the alarm. */
static void format_verdict(const struct umc_delivery *d, const struct umc_canid_verdict *v,
                           char *buf, size_t size) {
        const char *ifname = d->target->can.ifname;
        char id[16];

        (void)snprintf(id, sizeof(id), "%0*" PRIX32, v->eff ? 8 : 3, v->id);
        if (v->reason == UMC_REASON_CAN_ID_UNKNOWN)
                (void)snprintf(buf, size, "CAN ID %s on %s is not in [CanIds]", id, ifname);
        else
                (void)snprintf(buf, size,
                               "CAN ID %s on %s every %" PRIu64 " us on average, nominal %" PRIu64
                               " us (too %s)",
                               id, ifname, v->observed_usec, v->nominal_usec,
                               v->reason == UMC_REASON_CAN_RATE_HIGH ? "frequent" : "rare");
}

/*
 * A load window closed with a CAN ID verdict. Before the transfer (the
 * pre-check and authentication) a violation refuses the start; while
 * streaming, the transfer stops at the next acknowledged checkpoint, so
 * that the ECU keeps a consistent partial image to resume from.
 */
static void can_verdict(struct umc_delivery *d, const struct umc_canid_verdict *v) {
        char text[sizeof(d->interference_text)];

        if (v->reason == UMC_REASON_OK) {
                d->clean_windows++;
                return;
        }
        d->clean_windows = 0;
        format_verdict(d, v, text, sizeof(text));
        if (d->state == UMC_DELIVERY_CONNECTING || d->state == UMC_DELIVERY_AUTHENTICATING) {
                (void)fail(d, v->reason, "refusing to start: %s", text);
                return;
        }
        if (d->state != UMC_DELIVERY_TRANSFERRING || d->interference)
                return;
        log_warning("%s: interference on the bus, %s; stopping at the next checkpoint",
                    target_name(d), text);
        d->interference = true;
        d->interference_reason = v->reason;
        memcpy(d->interference_text, text, sizeof(d->interference_text));
}

/*
 * The controller's state, once per window (libsocketcan; vcan has none).
 * BUS-OFF: nothing we send gets through; ask libsocketcan to restart the
 * controller (it needs CAP_NET_ADMIN, which umcd's unit does not grant:
 * then the kernel's restart-ms, "ip link set can0 type can restart-ms 100",
 * is what brings it back, and the log says so).
 */
static void can_check_controller(struct umc_delivery *d) {
        struct umc_canbus_status st;
        int r;

        if (umc_canbus_refresh_state(d->bus) < 0 || umc_canbus_status(d->bus, &st) < 0)
                return;
        if (st.state != CAN_STATE_BUS_OFF) {
                d->bus_off_logged = false;
                return;
        }
        if (d->bus_off_logged)
                return;
        d->bus_off_logged = true;
        r = umc_canbus_restart(d->bus);
        if (r < 0)
                (void)log_warning_errno(r, "%s: %s is bus-off (tx errors %u, rx errors %u) and "
                                           "cannot be restarted from here (%m): set its "
                                           "restart-ms",
                                        target_name(d), st.ifname, st.txerr, st.rxerr);
        else
                log_warning("%s: %s was bus-off (tx errors %u, rx errors %u): controller restarted",
                            target_name(d), st.ifname, st.txerr, st.rxerr);
}

/* Read what the monitor's socket holds, close due windows. Returns the windows closed. */
static int can_sample(struct umc_delivery *d) {
        struct umc_canbus_window w;
        int r;

        r = umc_canbus_read(d->bus);
        if (r < 0 && r != -EAGAIN && !d->load_error_logged) {
                (void)log_warning_errno(r, "%s: cannot read the bus monitor: %m", target_name(d));
                d->load_error_logged = true;
        }
        r = umc_canbus_tick(d->bus, umc_canbus_now(), &w);
        if (r <= 0)
                return r;
        log_debug("%s: %s window closed: load %.1f%% (ours %.1f%%), %" PRIu64 " frames, CAN IDs %s",
                  target_name(d), d->target->can.ifname, w.percent, w.own_percent, w.frames,
                  umc_reason_to_string(w.verdict.reason));
        can_check_controller(d);
        d->win = w;
        d->have_win = true;
        can_verdict(d, &w.verdict);
        return r;
}

static int on_bus_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct umc_delivery *d = userdata;
        int r = umc_canbus_read(d->bus);

        if (r < 0 && r != -EAGAIN && !d->load_error_logged) {
                (void)log_warning_errno(r, "%s: cannot read the bus monitor: %m", target_name(d));
                d->load_error_logged = true;
        }
        return 0;
}

/* The bus stayed clean for the pre-check: open the ISO-TP channel and authenticate. */
static int can_open_channel(struct umc_delivery *d) {
        _cleanup_close_ int fd = -1;
        int r;

        r = umc_isotp_open(d->target->can.ifname, &d->target->can.isotp, &fd);
        if (r < 0)
                return fail(d, UMC_REASON_IO_ERROR, "cannot open the ISO-TP channel %s: %s",
                            d->address, strerror(-r));
        r = umc_stream_new_packet(fd, UMC_DELIVERY_RX_PAYLOAD_MAX, UMC_DELIVERY_QUEUE_MAX,
                                  &d->stream);
        if (r < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot set up the channel: %s", strerror(-r));
        r = sd_event_add_io(d->event, &d->io, fd, EPOLLIN, on_io, d);
        TAKE_FD(fd); /* the stream's now */
        if (r < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot watch the channel: %s", strerror(-r));
        log_debug("%s: bus clean for %u windows, ISO-TP channel %s open", target_name(d),
                  d->clean_windows, d->address);
        return begin_auth(d);
}

/*
 * Target on CAN: watch the bus (load, CAN IDs) from now on; the channel
 * opens once CAN_PRECHECK_WINDOWS windows passed without a violation.
 */
static int can_start(struct umc_delivery *d) {
        const struct umc_daemon_config *c = d->p.config;
        const struct umc_isotp_opts *o = &d->target->can.isotp;
        struct umc_canbus_params bp = {
                .ifname = d->target->can.ifname,
                .load = c->load,
                .stuffing = c->can_stuffing,
                .model = c->can_bit_model,
                .nominal_bitrate = c->can.bitrate,
                .nominal_data_bitrate = c->can.data_bitrate,
                .rules = c->can_ids.rules,
                .n_rules = c->can_ids.n_rules,
                .min_periods = c->can_ids.min_periods,
        };
        struct umc_canbus_status st;
        uint64_t window = c->load.window_usec;
        int r;

        r = umc_canbus_new(&bp, umc_canbus_now(), &d->bus);
        if (r >= 0)
                r = umc_canbus_add_channel(d->bus, o->tx_id, o->rx_id, o->eff);
        if (r >= 0)
                r = umc_canbus_open(d->bus);
        if (r < 0)
                return r;
        (void)umc_canbus_status(d->bus, &st);
        log_info("%s: watching %s at %" PRIu64 " bit/s (data phase %" PRIu64 " bit/s%s) for %u s "
                 "before the transfer",
                 target_name(d), d->target->can.ifname, st.bitrate, st.data_bitrate,
                 st.nominal ? ", the configured nominal rates: the interface reports none" : "",
                 (unsigned)(CAN_PRECHECK_WINDOWS * window / USEC_PER_SEC));
        r = sd_event_add_io(d->event, &d->bus_io, umc_canbus_fd(d->bus), EPOLLIN, on_bus_io, d);
        if (r >= 0)
                r = sd_event_add_time_relative(d->event, &d->timeout, CLOCK_MONOTONIC,
                                               c->connect_timeout_usec +
                                                       (CAN_PRECHECK_WINDOWS + 1) * window,
                                               0, on_timeout, d);
        /*
         * From the clock now, not sd_event_now(): that is when this loop
         * iteration began, maybe before a package was hashed, and a tick
         * before the monitor's first window ends closes nothing.
         */
        if (r >= 0)
                r = sd_event_add_time(d->event, &d->tick, CLOCK_MONOTONIC, now_usec() + window,
                                      TICK_ACCURACY_USEC, on_tick, d);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->tick, SD_EVENT_ON);
        if (r < 0)
                return r;
        d->state = UMC_DELIVERY_CONNECTING;
        d->last_activity = now_usec();
        emit_progress(d);
        return 0;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        struct umc_delivery *d = userdata;
        uint64_t now = now_usec(), window = d->p.config->load.window_usec, sent, next;
        size_t oldest;
        int r = 1; /* without a sampler every tick stands for a window */

        if (d->can) {
                r = can_sample(d);
                if (d->state == UMC_DELIVERY_CONNECTING && d->clean_windows >= CAN_PRECHECK_WINDOWS)
                        (void)can_open_channel(d);
                if (d->state == UMC_DELIVERY_DONE || d->state == UMC_DELIVERY_FAILED)
                        return 0;
        } else if (d->have_load) {
                r = umc_linkload_sample(&d->load, now);
                if (r < 0 && !d->load_error_logged) {
                        (void)log_warning_errno(r, "%s: cannot sample the load of %s: %m",
                                                target_name(d), d->load.ifname);
                        d->load_error_logged = true;
                }
        }
        if (r > 0 && d->state == UMC_DELIVERY_TRANSFERRING) {
                pace_window(d, now);
                /* Waiting for tokens at the old rate: ask again at the new one. */
                if (d->pace_waiting) {
                        (void)pump(d);
                        if (!running(d))
                                return 0;
                }
        }
        sent = d->sender ? umc_sender_bytes_sent(d->sender) : 0;
        d->rate_t[d->rate_head] = now;
        d->rate_b[d->rate_head] = sent;
        d->rate_head = (d->rate_head + 1) % RATE_SAMPLES;
        if (d->rate_n < RATE_SAMPLES)
                d->rate_n++;
        oldest = (d->rate_head + RATE_SAMPLES - d->rate_n) % RATE_SAMPLES;
        if (d->rate_n > 1 && now > d->rate_t[oldest] && sent >= d->rate_b[oldest])
                d->rate = (sent - d->rate_b[oldest]) * USEC_PER_SEC / (now - d->rate_t[oldest]);
        emit_progress(d);
        /*
         * The load may have turned: a waiting sender picks the class up with its
         * next frame. The next tick is due one window after this one was, not
         * after now: ticks that drift away from the sampler's window
         * boundaries would mix two windows' traffic into the pacing's view.
         */
        if (!running(d) && d->state != UMC_DELIVERY_CONNECTING)
                return 0;
        next = usec + window;
        if (next <= now)
                next = now + window - (now - usec) % window; /* fell behind: the next boundary */
        if (sd_event_source_set_time(s, next) < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot re-arm the load timer");
        return 0;
}

/* The pacing let enough tokens back in: produce again. */
static int on_pace(sd_event_source *s, uint64_t usec, void *userdata) {
        struct umc_delivery *d = userdata;

        if (d->state != UMC_DELIVERY_TRANSFERRING)
                return 0;
        /* Waiting on purpose is not idleness: the idle timeout counts from here. */
        d->last_activity = now_usec();
        return pump(d);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
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
                        return fail(d, UMC_REASON_TIMEOUT, "no connection to %s within %" PRIu64
                                    " s", d->address, c->connect_timeout_usec / USEC_PER_SEC);
                return connect_failed(d, ETIMEDOUT);
        case UMC_DELIVERY_RETRYING:
                return connect_again(d);
        case UMC_DELIVERY_AUTHENTICATING: {
                const struct umc_isotp_opts *o = &d->target->can.isotp;
                char text[UMC_MSG_ALARM_TEXT_MAX + 1];

                return fail(d, UMC_REASON_TIMEOUT, "%s",
                            umc_hint_auth_timeout(text, sizeof(text), c->auth_timeout_usec / USEC_PER_SEC,
                                                  d->can, o->tx_id, o->rx_id, o->eff));
        }
        case UMC_DELIVERY_VERIFYING:
                return fail(d, UMC_REASON_TIMEOUT, "no final verdict within %" PRIu64 " s",
                            c->final_timeout_usec / USEC_PER_SEC);
        case UMC_DELIVERY_TRANSFERRING:
                if (d->querying && !d->no_query) {
                        log_info("%s: no STATUS within %" PRIu64 " s", target_name(d),
                                 c->auth_timeout_usec / USEC_PER_SEC);
                        return restart_without_query(d);
                }
                at = d->last_activity + c->idle_timeout_usec;
                if (now >= at)
                        return fail(d, UMC_REASON_TIMEOUT, "no progress for %" PRIu64 " s",
                                    c->idle_timeout_usec / USEC_PER_SEC);
                if (arm_timeout(d, at) < 0)
                        return fail(d, UMC_REASON_INTERNAL, "cannot re-arm the timeout");
                return 0;
        default:
                return 0;
        }
}

static int on_later(sd_event_source *s, void *userdata) {
        struct umc_delivery *d = userdata;

        return fail(d, d->later_reason, "%s", d->later_text);
}

/* Report a failure met inside a umc_delivery_*() call from the next loop iteration. */
static int fail_later(struct umc_delivery *d, enum umc_reason reason, const char *text) {
        d->later_reason = reason;
        (void)snprintf(d->later_text, sizeof(d->later_text), "%s", text);
        return sd_event_add_defer(d->event, &d->later, on_later, d);
}

/* Against the interface's speed, its nominal fallback, or LinkRateMbit= when set. */
static int linkload_init(struct umc_delivery *d, const char *ifname, uint64_t now) {
        const struct umc_daemon_config *c = d->p.config;

        return umc_linkload_init(&d->load, ifname, &c->load, c->link_rate_bps, now);
}

static void start_load_sampling(struct umc_delivery *d) {
        const char *against;
        char ifname[IF_NAMESIZE];
        int fd = umc_stream_fd(d->stream), r;

        r = umc_netinfo_route_ifname(fd, ifname);
        if (r >= 0)
                r = linkload_init(d, ifname, now_usec());
        if (r < 0) {
                (void)log_warning_errno(r, "%s: cannot sample the link load, assuming normal: %m",
                                        target_name(d));
                return;
        }
        d->have_load = true;
        if (d->p.config->link_rate_bps > 0)
                against = "the configured rate of";
        else
                against = d->load.nominal ? "a nominal rate of" : "its speed,";
        log_info("%s: sampling the load of %s against %s %" PRIu64 " Mbit/s", target_name(d),
                 ifname, against, d->load.link_bps / 1000000);
        (void)umc_linkload_sample(&d->load, now_usec()); /* the counters' baseline */
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
                (void)fail(d, UMC_REASON_ETH_DEFAULT_DENY,
                           "cannot determine the 5-tuple of the connection to %s: %s", d->address,
                           strerror(-r));
                return -EPERM;
        }
        (void)umc_netinfo_tuple_to_string(&t, tuple, sizeof(tuple));
        why = umc_eth_acl_check(acl->rules, acl->n_rules, &t, &idx);
        if (why != UMC_REASON_OK) {
                /* Say which side refused and where the rule is missing (docs/reasons.md). */
                if (idx < acl->n_rules)
                        (void)fail(d, why, "umcd denied connection %s: [EthernetAcl] Rule= number "
                                   "%zu of %s", tuple, idx + 1, config_file(d));
                else
                        (void)fail(d, why, "umcd denied connection %s: no [EthernetAcl] Rule= in "
                                   "%s allows it", tuple, config_file(d));
                return -EPERM;
        }
        log_debug("%s: connection %s allowed by Ethernet ACL rule %zu", target_name(d), tuple,
                  idx + 1);
        return 0;
}

static int on_connected(struct umc_delivery *d) {
        socklen_t sl = sizeof(int);
        int err = 0, r;

        if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
                err = errno;
        if (err != 0)
                return connect_failed(d, err);
        if (check_acl(d) < 0)
                return 0;

        r = umc_stream_new(d->fd, UMC_DELIVERY_RX_PAYLOAD_MAX, UMC_DELIVERY_QUEUE_MAX, &d->stream);
        if (r < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot set up the stream: %s", strerror(-r));
        d->fd = -1; /* the stream's now */
        start_load_sampling(d);
        return begin_auth(d);
}

/* The channel is up (and on TCP allowed by the ACL): challenge the ECU. */
static int begin_auth(struct umc_delivery *d) {
        size_t len = 0;
        int r;

        r = umc_auth_master_start(&d->auth, d->target->master_key, d->ecu->ecu_id, d->ecu->hw_id,
                                  d->txbuf, sizeof(d->txbuf), &len);
        if (r >= 0)
                r = umc_stream_queue(d->stream, d->txbuf, len);
        if (r < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot start AUTH: %s", strerror(-r));

        d->state = UMC_DELIVERY_AUTHENTICATING;
        d->last_activity = now_usec();
        if (arm_timeout(d, d->last_activity + d->p.config->auth_timeout_usec) < 0 ||
            (!d->tick && sd_event_add_time_relative(d->event, &d->tick, CLOCK_MONOTONIC,
                                                    d->p.config->load.window_usec,
                                                    TICK_ACCURACY_USEC, on_tick, d) < 0) ||
            sd_event_source_set_enabled(d->tick, SD_EVENT_ON) < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot set up the timers");
        emit_progress(d);
        return flush(d);
}

/* ---- cancel ---- */

/* The cancel is told, or the ECU went away, or the linger bound passed: the end. */
static int cancel_done(struct umc_delivery *d) {
        bool installed = d->cancel_completed;

        d->cancelling = false;
        disconnect(d);
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
                r = arm_timeout(d, now_usec() + UMC_DELIVERY_LINGER_USEC);
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

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct umc_delivery *d = userdata;
        int r;

        if (d->cancelling)
                return cancel_io(d);
        if (d->state == UMC_DELIVERY_CONNECTING)
                return on_connected(d);
        if (!running(d))
                return 0;
        r = flush(d);
        if (r >= 0 && running(d))
                r = read_frames(d);
        if (r >= 0 && running(d))
                r = pump(d);
        return r;
}

/*
 * One connection attempt on TCP: socket, watch, connect(). A connect()
 * that fails at once (no route, refused on loopback) goes the way of one
 * that fails later, through connect_failed(), from the loop. Returns a
 * local error (socket(), event sources) after which nothing is pending.
 */
static int tcp_connect(struct umc_delivery *d) {
        const struct umc_daemon_config *c = d->p.config;
        _cleanup_close_ int fd = -1;
        uint64_t now = now_usec(), deadline = now + c->connect_timeout_usec;
        int r;

        fd = socket(d->target->address.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    IPPROTO_TCP);
        if (fd < 0)
                return -errno;
        r = sd_event_add_io(d->event, &d->io, fd, EPOLLOUT, on_io, d);
        if (r < 0)
                return r;
        /* A retried attempt waits no longer than the retry budget has left (but 100 ms). */
        if (d->attempt > 0 && d->retry_until > now && deadline > d->retry_until)
                deadline = d->retry_until > now + 100 * USEC_PER_MSEC ? d->retry_until
                                                                    : now + 100 * USEC_PER_MSEC;
        r = arm_timeout(d, deadline);
        if (r < 0) {
                d->io = sd_event_source_disable_unref(d->io);
                return r;
        }
        d->fd = TAKE_FD(fd);
        d->state = UMC_DELIVERY_CONNECTING;
        d->last_activity = now;
        d->attempt++;
        log_debug("%s: connecting to %s (attempt %u)", target_name(d), d->address, d->attempt);
        if (connect(d->fd, &d->target->address.sa, d->target->address.len) < 0 &&
            errno != EINPROGRESS) {
                d->later_reason = UMC_REASON_IO_ERROR;
                d->later_errno = errno;
                /* Reported from the loop: the caller may be umc_delivery_start(). */
                (void)sd_event_source_set_enabled(d->io, SD_EVENT_OFF);
                r = sd_event_add_defer(d->event, &d->later, on_connect_later, d);
                if (r < 0) {
                        disconnect(d);
                        return r;
                }
        }
        return 0;
}

/*
 * A connect() that failed (err, positive), or did not complete in time:
 * try again after the backoff while the retry budget lasts, else fail.
 */
static int connect_failed(struct umc_delivery *d, int err) {
        const struct umc_daemon_config *c = d->p.config;
        uint64_t now = now_usec(), at = now + d->backoff;

        d->io = sd_event_source_disable_unref(d->io);
        d->later = sd_event_source_disable_unref(d->later);
        umc_closep(&d->fd);
        d->fd = -1;
        if (d->retry_until == 0)
                return fail(d, UMC_REASON_IO_ERROR, "cannot connect to %s: %s", d->address,
                            strerror(err));
        if (at >= d->retry_until)
                return fail(d, err == ETIMEDOUT ? UMC_REASON_TIMEOUT : UMC_REASON_IO_ERROR,
                            "cannot connect to %s: %s; gave up after %u attempts in %" PRIu64
                            " s (ConnectRetrySec=%" PRIu64 ")",
                            d->address, strerror(err), d->attempt,
                            (now - d->first_attempt + USEC_PER_SEC / 2) / USEC_PER_SEC,
                            c->connect_retry_usec / USEC_PER_SEC);
        log_info("%s: cannot connect to %s: %s; attempt %u in %" PRIu64 " ms", target_name(d),
                 d->address, strerror(err), d->attempt + 1, d->backoff / USEC_PER_MSEC);
        if (arm_timeout(d, at) < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot arm the retry timer");
        d->backoff = d->backoff * 2 < c->connect_backoff_max_usec ? d->backoff * 2
                                                                  : c->connect_backoff_max_usec;
        d->state = UMC_DELIVERY_RETRYING;
        emit_progress(d);
        return 0;
}

static int connect_again(struct umc_delivery *d) {
        int r = tcp_connect(d);

        if (r < 0)
                return fail(d, UMC_REASON_INTERNAL, "cannot connect to %s: %s", d->address,
                            strerror(-r));
        emit_progress(d);
        return 0;
}

static int on_connect_later(sd_event_source *s, void *userdata) {
        struct umc_delivery *d = userdata;

        return connect_failed(d, d->later_errno);
}

int umc_delivery_start(struct umc_delivery *d) {
        const struct umc_daemon_config *c;
        int r;

        if (!d)
                return -EINVAL;
        if (d->state != UMC_DELIVERY_NEW)
                return -EALREADY;
        if (d->can) {
                r = can_start(d);
                if (r < 0) {
                        char text[UMC_MSG_ALARM_TEXT_MAX + 1];

                        /* No CAN in the kernel, no such interface: an alarm like any failure. */
                        disconnect(d);
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
        d->first_attempt = now_usec();
        d->backoff = c->connect_backoff_usec;
        d->retry_until = c->connect_retry_usec > 0 ? d->first_attempt + c->connect_retry_usec : 0;
        r = sd_event_add_time_relative(d->event, &d->timeout, CLOCK_MONOTONIC,
                                       c->connect_timeout_usec, 0, on_timeout, d);
        if (r < 0)
                return r;
        r = tcp_connect(d);
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
        disconnect(d);
        d->state = UMC_DELIVERY_FAILED;
}
