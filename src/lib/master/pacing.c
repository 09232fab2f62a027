/* SPDX-License-Identifier: MIT */
/*
 * The delivery's load and pacing (delivery.h, "Pacing"): the load tick
 * (the link's counters on TCP, the bus monitor on CAN), the rate shown in
 * the progress, and the token bucket that holds the frames to the
 * ceiling.
 */
#include "delivery-internal.h"

#include <inttypes.h>
#include <net/if.h>

#include "umc/isotp.h"
#include "umc/log.h"
#include "umc/netinfo.h"
#include "umc/stream.h"

/* Slack of the pacing timer: a burst waits no longer than its tokens take. */
#define PACE_ACCURACY_USEC 1

void umc_pacing_view(const struct umc_delivery *d, struct umc_pacing_view *ret) {
        *ret = (struct umc_pacing_view){ .cls = UMC_LOAD_NORMAL };
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
void umc_pacing_start(struct umc_delivery *d, uint64_t now) {
        const struct umc_daemon_config *c = d->p.config;
        uint64_t measured = 0;
        struct umc_pacing_view v;

        if (c->ceiling_percent == 0)
                return;
        d->paced = true;
        umc_pacing_view(d, &v);
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
int umc_pacing_admit(struct umc_delivery *d, uint64_t now, bool *ret_admit) {
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

void umc_pacing_charge(struct umc_delivery *d, size_t len) {
        uint64_t wire = d->can ? can_wire_bytes(d, len) : umc_delivery_wire_bytes(len);

        d->wire_sent += wire;
        if (d->paced)
                d->tokens -= (int64_t)(wire * USEC_PER_SEC);
}

int umc_pacing_on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        struct umc_delivery *d = userdata;
        uint64_t now = now_usec(), window = d->p.config->load.window_usec, sent, next;
        size_t oldest;
        int r = 1; /* without a sampler every tick stands for a window */

        if (d->can) {
                r = umc_dlvcan_sample(d);
                if (d->state == UMC_DELIVERY_CONNECTING && d->clean_windows >= CAN_PRECHECK_WINDOWS)
                        (void)umc_dlvcan_open_channel(d);
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
                        (void)umc_delivery_pump(d);
                        if (!umc_delivery_running(d))
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
        umc_delivery_emit_progress(d);
        /*
         * The load may have turned: a waiting sender picks the class up with its
         * next frame. The next tick is due one window after this one was, not
         * after now: ticks that drift away from the sampler's window
         * boundaries would mix two windows' traffic into the pacing's view.
         */
        /* CAN watches the bus from connecting on, also between two challenges. */
        if (!umc_delivery_running(d) && d->state != UMC_DELIVERY_CONNECTING &&
            !(d->can && d->state == UMC_DELIVERY_RETRYING))
                return 0;
        next = usec + window;
        if (next <= now)
                next = now + window - (now - usec) % window; /* fell behind: the next boundary */
        if (sd_event_source_set_time(s, next) < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot re-arm the load timer");
        return 0;
}

/* The pacing let enough tokens back in: produce again. */
static int on_pace(sd_event_source *s, uint64_t usec, void *userdata) {
        struct umc_delivery *d = userdata;

        if (d->state != UMC_DELIVERY_TRANSFERRING)
                return 0;
        /* Waiting on purpose is not idleness: the idle timeout counts from here. */
        d->last_activity = now_usec();
        return umc_delivery_pump(d);
}

/* Against the interface's speed, its nominal fallback, or LinkRateMbit= when set. */
static int linkload_init(struct umc_delivery *d, const char *ifname, uint64_t now) {
        const struct umc_daemon_config *c = d->p.config;

        return umc_linkload_init(&d->load, ifname, &c->load, c->link_rate_bps, now);
}

void umc_pacing_start_load_sampling(struct umc_delivery *d) {
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
