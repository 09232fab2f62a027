/* SPDX-License-Identifier: MIT */
/*
 * Live monitor of one CAN interface while a transfer runs.
 *
 * A struct umc_canbus owns a CAN_RAW socket bound to the interface, a load
 * model (busload.h) and an ID/rate monitor (canid.h), and feeds every frame
 * seen on the bus to both: frames from other hosts and, through the
 * kernel's default loopback, frames our own ISO-TP sockets send. The bits
 * of the caller's own ISO-TP channels are also summed on their own, so the
 * pacing can tell its own share from other traffic.
 *
 * Ownership: umc_canbus_new() allocates; umc_canbus_free() releases the
 * object and closes the socket (NULL and a half-built object are fine).
 * The CAN ID rules in the params are borrowed and must outlive the
 * object; ifname is copied.
 *
 * Clock: the kernel stamps received frames with CLOCK_REALTIME
 * (SO_TIMESTAMPNS), so every now_usec and ts_usec given here must come
 * from CLOCK_REALTIME too (umc_canbus_now()). A step of the wall clock
 * backwards counts the frames into the open window (the ID monitor skips
 * each ID's frames until the clock passes its last one again); a step
 * forwards closes the windows in between as idle.
 *
 * Unit tests use the object without a socket: umc_canbus_new() then
 * umc_canbus_feed(); umcd and umc-agent call umc_canbus_open() as well and
 * drain umc_canbus_fd() with umc_canbus_read().
 */
#pragma once

#include <linux/can.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/busload.h"
#include "umc/canid.h"

/* Own ISO-TP channels (tx and rx ID each) one monitor can tell apart. */
#define UMC_CANBUS_CHANNELS_MAX 8

struct umc_canbus_params {
        const char *ifname;                 /* copied */
        struct umc_load_cfg load;           /* see umc_load_cfg_validate() */
        enum umc_stuffing stuffing;
        enum umc_bitmodel model;
        /*
         * Used when the interface reports no bit timing (vcan; also before
         * umc_canbus_open()): bit/s, 1..1000000; data bitrate 0 = the same
         * as bitrate, else up to 8000000.
         */
        uint64_t nominal_bitrate;
        uint64_t nominal_data_bitrate;
        /*
         * The whitelist with nominal periods and tolerances (borrowed).
         * rules == NULL with n_rules == 0 turns the ID check off (load
         * only); a non-NULL rules with n_rules == 0 makes every ID unknown.
         */
        const struct umc_canid_rule *rules;
        size_t n_rules;
        unsigned min_periods;               /* >= 1, UMC_CANMON_MIN_PERIODS_DEFAULT */
};

/* One closed load window, as umc_canbus_tick() reports it. */
struct umc_canbus_window {
        uint64_t start_usec;        /* the window is [start, start + window) */
        double percent;             /* bus load, as umc_busload_percent() */
        enum umc_load_class cls;
        double own_percent;         /* the part of percent our own channels used */
        uint64_t bits, own_bits;    /* bits on the wire, both bitrates together */
        uint64_t frames, own_frames;
        uint64_t error_frames;      /* CAN_ERR_FLAG frames: not load */
        uint64_t dropped;           /* frames the kernel dropped (SO_RXQ_OVFL) */
        /*
         * First ID check violation among the windows closed since the
         * previous umc_canbus_tick() (reason OK when none, or when the ID
         * check is off).
         */
        struct umc_canid_verdict verdict;
};

struct umc_canbus_status {
        char ifname[IF_NAMESIZE];
        bool open;                  /* umc_canbus_open() succeeded */
        bool fd;                    /* interface MTU 72: CAN FD frames are read */
        uint64_t bitrate, data_bitrate;
        bool nominal;               /* the bitrates are the configured ones (vcan) */
        bool have_state;            /* state and berr below come from the controller */
        int state;                  /* enum can_state (linux/can/netlink.h) */
        uint16_t txerr, rxerr;      /* bus error counters */
        uint64_t frames;            /* bus frames counted as load, since new */
        uint64_t error_frames;
        uint64_t invalid;           /* frames the kernel gave that fail the frame checks */
        uint64_t dropped;           /* kernel drops since open */
        uint64_t unknown_ids;       /* frames with an unlisted ID */
        uint64_t windows;           /* load windows closed */
        double percent;             /* last closed window */
        enum umc_load_class cls;
};

struct umc_canbus;

/* Microseconds of CLOCK_REALTIME, the clock of the kernel's frame timestamps. */
uint64_t umc_canbus_now(void);

/*
 * A monitor without a socket: load windows start at now_usec, measured
 * against the nominal bitrates (status .nominal set) until
 * umc_canbus_open(). -EINVAL for a NULL argument, an invalid ifname,
 * load cfg, stuffing, model or bitrate, n_rules > 0 without rules, or an
 * invalid rule table or min_periods (when the ID check is on); -ENOMEM.
 * *ret is written only on success; free with umc_canbus_free().
 */
int umc_canbus_new(const struct umc_canbus_params *p, uint64_t now_usec, struct umc_canbus **ret);

/* Close the socket and free. Accepts NULL. */
void umc_canbus_free(struct umc_canbus *b);
static inline void umc_canbus_freep(struct umc_canbus **b) { umc_canbus_free(*b); }

/*
 * Open the CAN_RAW socket on the interface (non-blocking, CLOEXEC, with
 * CAN FD frames when its MTU is 72, kernel timestamps and drop counts)
 * and take the bitrates from the controller, or keep the nominal ones if
 * it reports none. The load model restarts at the current time with the
 * bitrates found. -EAFNOSUPPORT where the kernel has no CAN, -ENODEV for
 * no such interface, -EALREADY when open, else the errno of the failing
 * call. b is unchanged on failure.
 */
int umc_canbus_open(struct umc_canbus *b);

/* The socket to poll for input, or -EBADF before umc_canbus_open(). */
int umc_canbus_fd(const struct umc_canbus *b);

/*
 * Count one frame seen at ts_usec: fd_frame says whether f is a CAN FD
 * frame (read as CANFD_MTU bytes) or a classic one (len is then the DLC of
 * a remote frame). Error frames (CAN_ERR_FLAG) are counted as such, not
 * as load or IDs. May close load windows, which the next
 * umc_canbus_tick() reports. -EINVAL for a NULL argument or a frame the
 * load model refuses (length, ID range, BRS on a classic frame); b is then
 * unchanged.
 */
int umc_canbus_feed(struct umc_canbus *b, const struct canfd_frame *f, bool fd_frame,
                    uint64_t ts_usec);

/*
 * Read and feed the frames pending on the socket (recvmsg with the kernel
 * timestamp and drop count), at most 4096 per call so that a saturated bus
 * leaves the event loop's other sources a turn (the socket then stays
 * readable). Returns how many frames were read (0 when none was pending), -EBADF when not open, -ENETDOWN when the
 * interface went down (recoverable: the socket stays bound and frames
 * resume when it comes up again), or another -errno. A frame of a wrong
 * size or that the model refuses is counted in status .invalid and
 * skipped.
 */
int umc_canbus_read(struct umc_canbus *b);

/*
 * Close the load windows that ended at or before now_usec, judge the ID
 * rates when one closed, and report: returns how many windows closed since
 * the previous call (frames may have closed some), 0 if none, -EINVAL for
 * a NULL b or ret. With a positive return *ret gets the last closed window
 * (its figures; earlier windows of the same batch are only in the load
 * history, so tick at least once per window).
 */
int umc_canbus_tick(struct umc_canbus *b, uint64_t now_usec, struct umc_canbus_window *ret);

/*
 * Register an own ISO-TP channel (tx and rx ID of one format) whose bits
 * are summed separately from the next frame on. -EINVAL for an ID out of
 * range, -ENOSPC when UMC_CANBUS_CHANNELS_MAX are registered.
 */
int umc_canbus_add_channel(struct umc_canbus *b, uint32_t tx_id, uint32_t rx_id, bool eff);
/* Forget every own channel (the transfer ended). */
void umc_canbus_clear_channels(struct umc_canbus *b);

/*
 * Refresh the controller state and error counters (libsocketcan). 0 on
 * success; -ENODATA when the interface has none (vcan), else -errno. The
 * status keeps .have_state false until one succeeds.
 */
int umc_canbus_refresh_state(struct umc_canbus *b);

/* Copy the current status into *ret (no I/O). -EINVAL for NULL. */
int umc_canbus_status(const struct umc_canbus *b, struct umc_canbus_status *ret);

/*
 * Restart a controller in BUS-OFF (libsocketcan can_do_restart(), which
 * needs CAP_NET_ADMIN). -ENODATA when the interface reports no state (vcan:
 * nothing to restart), -EALREADY when it is not in BUS-OFF, else -errno
 * (-EIO when libsocketcan gives no errno).
 */
int umc_canbus_restart(struct umc_canbus *b);

/*
 * What the kernel says about a link, from one RTM_GETLINK query.
 * libsocketcan 0.0.12 has no getter for the CAN FD data bit timing, so we
 * ask rtnetlink for IFLA_CAN_DATA_BITTIMING ourselves; the link kind also
 * tells a CAN controller from vcan before libsocketcan is asked (it prints
 * "no ... data found" to stderr for every interface without CAN data).
 */
struct umc_canbus_link {
        bool can;                /* IFLA_INFO_KIND "can": a CAN controller */
        uint64_t data_bitrate;   /* IFLA_CAN_DATA_BITTIMING, bit/s; 0 = none */
};

/*
 * Query ifname. -ENODEV for no such interface, -EINVAL for a bad name or
 * NULL ret, -EPROTO for an answer that does not parse, else -errno.
 * *ret is written only on success.
 */
int umc_canbus_query_link(const char *ifname, struct umc_canbus_link *ret);

/*
 * Parse the kernel's answer in buf[0..len) (the parser behind
 * umc_canbus_query_link(), public for tests): the first message must be an
 * RTM_NEWLINK, whose attributes are length-checked, or an NLMSG_ERROR,
 * whose negative errno is returned. -EPROTO for anything malformed or
 * truncated, -EINVAL for NULL. *ret is written only on success.
 */
int umc_canbus_parse_link_reply(const void *buf, size_t len, struct umc_canbus_link *ret);

/* "error-active", "bus-off", ...; "unknown" for other values. */
const char *umc_canbus_state_to_string(int state);
