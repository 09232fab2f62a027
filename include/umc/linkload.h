/* SPDX-License-Identifier: MIT */
/*
 * Load sampler of one Ethernet channel: the egress interface of a
 * delivery's TCP connection, measured from its cumulative byte and packet
 * counters (tx + rx, /sys/class/net/IF/statistics) against its speed. On a
 * loopback interface every byte is both sent and received, so there each
 * counts once ((tx + rx) / 2): otherwise the load shown would be twice the
 * traffic, and a transfer paced to CeilingPercent= would read double.
 *
 * The speed is /sys/class/net/IF/speed (Mbit/s). Virtual interfaces
 * (loopback, most veth and tun devices, a link that is down) report none;
 * the sampler then measures against UMC_LINKLOAD_NOMINAL_BPS and says so
 * in ->nominal, so the log can tell a measured ratio from a nominal one.
 *
 * A struct umc_linkload is a plain value (no allocation, nothing to free);
 * the caller drives it from a timer: one umc_linkload_sample() per load
 * window, which feeds the counters to the window model in busload.h and
 * closes the windows that ended.
 */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "umc/busload.h"

/*
 * Rate assumed when the interface reports no speed and no rate is
 * configured ([Load] LinkRateMbit=0): 1 Gbit/s, the usual automotive
 * Ethernet backbone (IEEE 802.3bp 1000BASE-T1).
 */
#define UMC_LINKLOAD_NOMINAL_BPS (UINT64_C(1000) * 1000 * 1000)

struct umc_linkload {
        struct umc_busload load;
        char ifname[IF_NAMESIZE];
        uint64_t link_bps;      /* what the load is measured against */
        bool nominal;           /* link_bps is UMC_LINKLOAD_NOMINAL_BPS, not the link's */
        bool loopback;          /* IFF_LOOPBACK: counters halved, see above */
        uint64_t n_samples;     /* counter readings fed, the baseline included */
};

/*
 * Read /sys/class/net/IF/speed into *ret_bps (bit/s). -EINVAL for a bad
 * ifname, -ENODATA when the interface reports no speed (read error
 * EINVAL as loopback gives, "-1", 0, a value that is not a decimal number
 * of Mbit/s up to 4000000), or the negative errno of open/read (-ENOENT
 * for no such interface). *ret_bps is written only on success.
 */
int umc_linkload_speed_bps(const char *ifname, uint64_t *ret_bps);

/*
 * Start sampling ifname at now_usec with the window model cfg, against
 * rate_bps when it is not 0 (a configured rate, ->nominal set), else the
 * speed from umc_linkload_speed_bps(), or the nominal rate when it reports
 * none (-ENODATA) or cannot be read. The counters' baseline comes with the
 * first umc_linkload_sample(). -EINVAL for a bad ifname or cfg. *ret is
 * written only on success.
 */
int umc_linkload_init(struct umc_linkload *ret, const char *ifname, const struct umc_load_cfg *cfg,
                      uint64_t rate_bps, uint64_t now_usec);

/*
 * Feed the cumulative counters read at now_usec and close the windows that
 * ended (umc_busload_add_link_counters() and umc_busload_tick()). Returns
 * how many windows closed, or -EINVAL / -ERANGE from busload.
 */
int umc_linkload_feed(struct umc_linkload *l, uint64_t bytes, uint64_t packets, uint64_t now_usec);

/* Whether ifname is a loopback interface (IFF_LOOPBACK in /sys/class/net/IF/flags); false if unknown. */
bool umc_linkload_is_loopback(const char *ifname);

/*
 * Read the interface's counters (umc_netinfo_link_counters()), halved on
 * loopback, and feed them. Returns as umc_linkload_feed(), or the error of the read (the
 * interface went away: the caller keeps the last class).
 */
int umc_linkload_sample(struct umc_linkload *l, uint64_t now_usec);

static inline double umc_linkload_percent(const struct umc_linkload *l) {
        return umc_busload_percent(&l->load);
}
static inline enum umc_load_class umc_linkload_class(const struct umc_linkload *l) {
        return umc_busload_class(&l->load);
}
