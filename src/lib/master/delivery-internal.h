/* SPDX-License-Identifier: MIT */
/*
 * Private to the delivery (delivery.h), which is five files in
 * src/lib/master/: delivery.c (the state machine, its public API, the slot
 * overview and the cancel), resume.c (resume records), pacing.c (the load
 * tick and the token bucket), dlvcan.c (the CAN channel) and connect.c (TCP
 * connect with retry and backoff, the Ethernet ACL, the ECU's
 * authentication). This header is the state they share, struct
 * umc_delivery, and the calls they make into each other; nothing outside
 * these files includes it.
 *
 * Ownership is the delivery's (delivery.h): every event source, the
 * socket or stream, the session and the sender belong to struct
 * umc_delivery and are released by umc_delivery_disconnect() and
 * umc_delivery_free() in delivery.c. The functions below borrow d.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "umc/auth.h"
#include "umc/busload.h"
#include "umc/canbus.h"
#include "umc/cipher.h"
#include "umc/delivery.h"
#include "umc/frame.h"
#include "umc/linkload.h"
#include "umc/retry.h"
#include "umc/util.h"
#include "umc/xfer.h"

/* Longest frame the sender produces: header, DATA offset, one chunk, two tags (layered mode). */
#define TX_FRAME_MAX                                                                      \
        (UMC_FRAME_HEADER_LEN + UMC_MSG_DATA_HEADER_LEN + UMC_DELIVERY_CHUNK + 2 * UMC_TAG_MAX)
/* Load windows the rate is averaged over. */
#define RATE_SAMPLES 4
#define ADDRESS_STRING_MAX UMC_DELIVERY_ADDRESS_MAX
/*
 * Slack of the load timer: sd-event's default (250 ms) would let windows
 * close late; 1 ms still lets the kernel coalesce wake-ups.
 */
#define TICK_ACCURACY_USEC USEC_PER_MSEC
/*
 * CAN: load windows the bus is watched for before the ISO-TP channel
 * opens (unknown IDs and rates out of tolerance refuse the start).
 */
#define CAN_PRECHECK_WINDOWS 2
/* The shortest wait a retried attempt gets when the retry budget is nearly spent. */
#define RETRY_WAIT_MIN_USEC (100 * USEC_PER_MSEC)
/*
 * The same for a retried AUTH_CHALLENGE on CAN: the kernel's ISO-TP waits
 * 1 s for flow control (N_Bs, ISO 15765-2; net/can/isotp.c), so a shorter
 * wait would end the attempt before it could even fail.
 */
#define CAN_AUTH_WAIT_MIN_USEC USEC_PER_SEC

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
         * Attempts to reach the ECU (retry.h): on TCP a refused or
         * unanswered connect(), on CAN an AUTH_CHALLENGE without flow
         * control or AUTH_RESPONSE is tried again after the backoff
         * (doubled each time, at most ConnectBackoffMaxSec=) until
         * ConnectRetrySec= after the first. auth_wait: how long the
         * current AUTH may take (CAN: capped by the budget left).
         */
        struct umc_retry retry;
        uint64_t auth_wait;

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

/*
 * The channel's load, last closed window: the egress link's counters on
 * TCP, the bus monitor on CAN. link_bps is what percentages are of (the
 * CAN bitrate, arbitration phase). have is false before the first window.
 */
struct umc_pacing_view {
        bool have, nominal;
        double percent;
        enum umc_load_class cls;
        uint64_t link_bps;
};

static inline const char *target_name(const struct umc_delivery *d) {
        return d->ecu->name;
}

static inline uint64_t now_usec(void) {
        return umc_now_monotonic_usec();
}

/* delivery.c: the state machine. */

/* End with an alarm. Always returns 0: the event source that got here stays healthy. */
int umc_delivery_fail(struct umc_delivery *d, enum umc_reason reason, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Close the connection and stop every source; safe to call twice. */
void umc_delivery_disconnect(struct umc_delivery *d);
void umc_delivery_emit_progress(struct umc_delivery *d);
int umc_delivery_arm_timeout(struct umc_delivery *d, uint64_t at);
bool umc_delivery_running(const struct umc_delivery *d);
/* Produce frames while the queue has room for the largest one and the pacing allows. */
int umc_delivery_pump(struct umc_delivery *d);
/* Write what is queued; a vanished peer may have said why first, so read before failing. */
int umc_delivery_flush(struct umc_delivery *d);
/* STATUS_QUERY, sealed with the rotation's first key, as BEGIN will be. */
int umc_delivery_queue_status_query(struct umc_delivery *d);
int umc_delivery_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);
int umc_delivery_on_timeout(sd_event_source *s, uint64_t usec, void *userdata);

/* pacing.c: the load and the token bucket. */

void umc_pacing_view(const struct umc_delivery *d, struct umc_pacing_view *ret);
/* Streaming begins: pace from the ceiling less the traffic seen so far (none measured: the ceiling). */
void umc_pacing_start(struct umc_delivery *d, uint64_t now);
/* True when a frame may go now; else the pace timer is armed for when one may. */
int umc_pacing_admit(struct umc_delivery *d, uint64_t now, bool *ret_admit);
/* A frame of len bytes was queued: count its bytes on the wire, take its tokens. */
void umc_pacing_charge(struct umc_delivery *d, size_t len);
/* TCP: sample the egress link of the connection once per load window from now on. */
void umc_pacing_start_load_sampling(struct umc_delivery *d);
/* The load timer: one tick per load window, from connecting (CAN) or authenticating (TCP) on. */
int umc_pacing_on_tick(sd_event_source *s, uint64_t usec, void *userdata);

/* dlvcan.c: the CAN channel. */

/*
 * Target on CAN: watch the bus (load, CAN IDs) from now on; the channel
 * opens once CAN_PRECHECK_WINDOWS windows passed without a violation.
 */
int umc_dlvcan_start(struct umc_delivery *d);
/* Read what the monitor's socket holds, close due windows. Returns the windows closed. */
int umc_dlvcan_sample(struct umc_delivery *d);
/* The bus stayed clean for the pre-check: open the ISO-TP channel and authenticate. */
int umc_dlvcan_open_channel(struct umc_delivery *d);
/*
 * The ECU did not answer the AUTH_CHALLENGE (err: -ECOMM, no flow control;
 * -ETIMEDOUT, no AUTH_RESPONSE): close the channel and open a fresh one
 * after the backoff while ConnectRetrySec= lasts (phase retrying), else
 * fail with the hint. Always returns 0, like umc_delivery_fail().
 */
int umc_dlvcan_retry(struct umc_delivery *d, int err);

/* connect.c: TCP connect and the ECU's authentication. */

/* One connection attempt on TCP; a local error (socket(), event sources) leaves nothing pending. */
int umc_connect_tcp(struct umc_delivery *d);
/*
 * An attempt to reach the ECU failed (reason, what: for the alarm and the
 * log), on either channel: the next one after the backoff while
 * ConnectRetrySec= lasts (phase retrying), else fail. Returns 0 like
 * umc_delivery_fail().
 */
int umc_connect_retry_later(struct umc_delivery *d, enum umc_reason reason, const char *what);
/* connect() failed with err (positive) or timed out: umc_connect_retry_later(). */
int umc_connect_failed(struct umc_delivery *d, int err);
int umc_connect_again(struct umc_delivery *d);
/* The socket turned writable: connected or refused; then the ACL, then AUTH. */
int umc_connect_on_connected(struct umc_delivery *d);
/* The channel is up (and on TCP allowed by the ACL): challenge the ECU. */
int umc_connect_begin_auth(struct umc_delivery *d);
/* AUTH_RESPONSE: confirm, key the session and the sender, ask for the slots. */
int umc_connect_on_auth_response(struct umc_delivery *d, const uint8_t *frame, size_t len);
