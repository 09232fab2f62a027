/* SPDX-License-Identifier: MIT */
/*
 * The delivery on CAN (target Channel=can): the bus monitor watched for
 * CAN_PRECHECK_WINDOWS clean windows before the ISO-TP channel opens, the
 * channel reopened with a new challenge while an ECU does not answer, its
 * CAN ID verdicts (refusing the start, or stopping at the next checkpoint
 * while streaming) and the controller's BUS-OFF state.
 */
#include "delivery-internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/epoll.h>

#include <linux/can/netlink.h>

#include "umc/hint.h"
#include "umc/isotp.h"
#include "umc/log.h"
#include "umc/stream.h"

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
        if (d->state == UMC_DELIVERY_CONNECTING || d->state == UMC_DELIVERY_RETRYING ||
            d->state == UMC_DELIVERY_AUTHENTICATING) {
                (void)umc_delivery_fail(d, v->reason, "refusing to start: %s", text);
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
int umc_dlvcan_sample(struct umc_delivery *d) {
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

/*
 * The bus stayed clean for the pre-check (or the backoff of a retry
 * passed): open the ISO-TP channel and authenticate. The retry budget
 * counts from the first challenge.
 */
int umc_dlvcan_open_channel(struct umc_delivery *d) {
        const struct umc_daemon_config *c = d->p.config;
        _cleanup_close_ int fd = -1;
        int r;

        if (d->retry.attempt == 0)
                umc_retry_start(&d->retry, now_usec(), c->connect_retry_usec,
                                c->connect_backoff_usec, c->connect_backoff_max_usec);
        d->retry.attempt++;

        r = umc_isotp_open(d->target->can.ifname, &d->target->can.isotp, &fd);
        if (r < 0)
                return umc_delivery_fail(d, UMC_REASON_IO_ERROR,
                                         "cannot open the ISO-TP channel %s: %s", d->address,
                                         strerror(-r));
        r = umc_stream_new_packet(fd, UMC_DELIVERY_RX_PAYLOAD_MAX, UMC_DELIVERY_QUEUE_MAX,
                                  &d->stream);
        if (r < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot set up the channel: %s",
                                         strerror(-r));
        r = sd_event_add_io(d->event, &d->io, fd, EPOLLIN, umc_delivery_on_io, d);
        TAKE_FD(fd); /* the stream's now */
        if (r < 0)
                return umc_delivery_fail(d, UMC_REASON_INTERNAL, "cannot watch the channel: %s",
                                         strerror(-r));
        log_debug("%s: bus clean for %u windows, ISO-TP channel %s open (attempt %u)",
                  target_name(d), d->clean_windows, d->address, d->retry.attempt);
        return umc_connect_begin_auth(d);
}

/* The ISO-TP channel of an attempt that failed; the bus monitor and its tick stay. */
static void close_channel(struct umc_delivery *d) {
        d->io = sd_event_source_disable_unref(d->io);
        if (d->stream)
                (void)umc_isotp_close_later(d->event, umc_stream_take_fd(d->stream));
        umc_stream_free(d->stream);
        d->stream = NULL;
        umc_auth_master_clear(&d->auth);
}

/*
 * The ECU did not answer the challenge: -ECOMM (no flow control came back,
 * ISO 15765-2 N_Bs timeout) or -ETIMEDOUT (no AUTH_RESPONSE; on CAN FD a
 * challenge fits one frame, which needs no flow control). An ECU that is
 * rebooting or whose agent starts late gets a new challenge on a fresh
 * socket after the backoff, as a refused connect() on TCP does.
 */
int umc_dlvcan_retry(struct umc_delivery *d, int err) {
        const struct umc_isotp_opts *o = &d->target->can.isotp;
        char hint[UMC_MSG_ALARM_TEXT_MAX + 1];

        if (err == -ETIMEDOUT)
                (void)umc_hint_auth_timeout(hint, sizeof(hint),
                                            (d->auth_wait + USEC_PER_SEC / 2) / USEC_PER_SEC, true,
                                            o->tx_id, o->rx_id, o->eff);
        else
                (void)umc_hint_channel_error(hint, sizeof(hint), d->address, true, o->tx_id,
                                             o->rx_id, o->eff, err);
        close_channel(d);
        return umc_connect_retry_later(
                d, err == -ETIMEDOUT ? UMC_REASON_TIMEOUT : UMC_REASON_IO_ERROR, hint);
}

/*
 * Target on CAN: watch the bus (load, CAN IDs) from now on; the channel
 * opens once CAN_PRECHECK_WINDOWS windows passed without a violation.
 */
int umc_dlvcan_start(struct umc_delivery *d) {
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
                                               0, umc_delivery_on_timeout, d);
        /*
         * From the clock now, not sd_event_now(): that is when this loop
         * iteration began, maybe before a package was hashed, and a tick
         * before the monitor's first window ends closes nothing.
         */
        if (r >= 0)
                r = sd_event_add_time(d->event, &d->tick, CLOCK_MONOTONIC, now_usec() + window,
                                      TICK_ACCURACY_USEC, umc_pacing_on_tick, d);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->tick, SD_EVENT_ON);
        if (r < 0)
                return r;
        d->state = UMC_DELIVERY_CONNECTING;
        d->last_activity = now_usec();
        umc_delivery_emit_progress(d);
        return 0;
}
