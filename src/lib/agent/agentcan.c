/* SPDX-License-Identifier: MIT */
/*
 * The agent's Channel=can (agent-internal.h): the bus monitor with its
 * window timer (our side of the [CanIds] checks: a violating window is an
 * ALARM and refuses authentication until a clean one follows), the one
 * ISO-TP channel, reopened whenever the previous one closed, and what a
 * reload may change of it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "umc/agent-internal.h"
#include "umc/isotp.h"
#include "umc/log.h"

/* A window closed: remember its CAN ID verdict and raise the alarm for a violation. */
static void agent_bus_window(struct umc_agent *a, const struct umc_canbus_window *w) {
        const struct umc_canid_verdict *v = &w->verdict;
        char id[16];

        if (v->reason != UMC_REASON_OK) {
                (void)snprintf(id, sizeof(id), "%0*" PRIX32, v->eff ? 8 : 3, v->id);
                if (v->reason == UMC_REASON_CAN_ID_UNKNOWN)
                        umc_agent_alarm(a, a->can_text, 0, v->reason,
                                    "CAN ID %s on the bus is not in [CanIds]%s", id,
                                    a->transfer ? " (interference during a transfer)" : "");
                else
                        umc_agent_alarm(a, a->can_text, 0, v->reason,
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
int umc_agent_can_open_channel(struct umc_agent *a, char *why, size_t why_size) {
        _cleanup_close_ int fd = -1;
        int r;

        r = umc_isotp_open(a->config.can.ifname, &a->config.can.isotp, &fd);
        if (r < 0)
                return umc_why(why, why_size, r, "Cannot open the ISO-TP channel %s: %s",
                               a->can_text, strerror(-r));
        r = umc_agent_conn_new(a, fd, a->can_text, true);
        if (r < 0)
                return umc_why(why, why_size, r, "%s: cannot set up the channel: %s", a->can_text,
                               strerror(-r));
        TAKE_FD(fd); /* the connection's, also when umc_agent_conn_new() gave up after taking it */
        return 0;
}

static int on_can_reopen(sd_event_source *s, void *userdata) {
        struct umc_agent *a = userdata;
        char why[256];
        int r;

        if (a->n_conns > 0 || a->stopping)
                return 0;
        r = umc_agent_can_open_channel(a, why, sizeof(why));
        if (r < 0)
                log_error_errno(r, "%s", why);
        /* Without its channel the agent is useless: exit, systemd restarts it. */
        return r < 0 ? sd_event_exit(a->event, r) : 0;
}

static void can_channel_text(const struct umc_can_channel *ch, char *buf, size_t size) {
        int w = ch->isotp.eff ? 8 : 3;

        (void)snprintf(buf, size, "%s %0*" PRIX32 ">%0*" PRIX32, ch->ifname, w, ch->isotp.tx_id, w,
                       ch->isotp.rx_id);
}

/* Channel=can at start: the bus monitor, its window timer, the channel. */
int umc_agent_can_start(struct umc_agent *a, const struct umc_agent_config *c, char *why,
                        size_t why_size) {
        struct umc_canbus *bus = NULL;
        struct umc_canbus_status st;
        int r;

        can_channel_text(&c->can, a->can_text, sizeof(a->can_text));
        r = bus_monitor_open(c, &bus);
        if (r < 0)
                return umc_why(why, why_size, r, "Cannot watch the bus %s: %s", c->can.ifname,
                               strerror(-r));
        r = agent_set_bus(a, bus);
        if (r < 0) {
                umc_canbus_free(bus);
                return umc_why(why, why_size, r, "Cannot watch the bus monitor's socket: %s",
                               strerror(-r));
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
                return umc_why(why, why_size, r, "Cannot set up the bus timers: %s", strerror(-r));
        return 0;
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
int umc_agent_can_reload(struct umc_agent *a, const struct umc_agent_config *n, char *why,
                         size_t why_size) {
        struct umc_canbus *bus = NULL;
        int r;

        if (n->channel != a->config.channel || !can_channel_equal(&n->can, &a->config.can))
                return umc_why(why, why_size, -EINVAL, "Channel= and the CAN channel keys take "
                               "effect at a restart");
        r = bus_monitor_open(n, &bus);
        if (r >= 0) {
                r = agent_set_bus(a, bus);
                if (r < 0)
                        umc_canbus_free(bus);
        }
        if (r < 0)
                return umc_why(why, why_size, r, "cannot watch %s: %s", n->can.ifname,
                               strerror(-r));
        return 0;
}
