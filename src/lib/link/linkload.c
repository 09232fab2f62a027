/* SPDX-License-Identifier: MIT */
#include "umc/linkload.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>

#include "umc/fs.h"
#include "umc/netinfo.h"
#include "umc/names.h"
#include "umc/parse.h"
#include "umc/util.h"

/* Fastest speed believed from sysfs, Mbit/s: 4 Tbit/s, far above any NIC today. */
#define SPEED_MBIT_MAX UINT64_C(4000000)
/* sysfs attributes report a page as their size; the value itself is a few bytes. */
#define SYSFS_ATTR_MAX 4096

/* "1000\n" -> 1000; anything else (sign, spaces, "-1", empty, overflow) is refused. */
static int parse_mbit(const char *s, size_t len, uint64_t *ret) {
        uint64_t v = 0;

        if (len > 0 && s[len - 1] == '\n')
                len--;
        if (umc_parse_uint(s, len, SPEED_MBIT_MAX, &v) < 0 || v == 0)
                return -ENODATA;
        *ret = v;
        return 0;
}

int umc_linkload_speed_bps(const char *ifname, uint64_t *ret_bps) {
        char path[sizeof("/sys/class/net/") + IF_NAMESIZE];
        _cleanup_close_ int dfd = -1;
        _cleanup_free_ char *buf = NULL;
        uint64_t mbit;
        size_t len;
        int r;

        if (!umc_name_ifname_valid(ifname) || !ret_bps)
                return -EINVAL;
        (void)snprintf(path, sizeof(path), "/sys/class/net/%s", ifname);
        dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        r = umc_fs_read_file(dfd, "speed", SYSFS_ATTR_MAX, &buf, &len);
        if (r == -EINVAL)
                return -ENODATA; /* loopback and links that are down refuse the read */
        if (r < 0)
                return r;
        r = parse_mbit(buf, len, &mbit);
        if (r < 0)
                return r;
        *ret_bps = mbit * 1000 * 1000;
        return 0;
}

bool umc_linkload_is_loopback(const char *ifname) {
        char path[sizeof("/sys/class/net/") + IF_NAMESIZE];
        _cleanup_close_ int dfd = -1;
        _cleanup_free_ char *buf = NULL;
        uint64_t flags;
        size_t len;

        if (!umc_name_ifname_valid(ifname))
                return false;
        (void)snprintf(path, sizeof(path), "/sys/class/net/%s", ifname);
        dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || umc_fs_read_file(dfd, "flags", SYSFS_ATTR_MAX, &buf, &len) < 0)
                return false;
        if (len > 0 && buf[len - 1] == '\n')
                len--;
        /* "0x9\n": the kernel's net_device flags (netdev_show() prints them "%#x"). */
        return umc_parse_uint_or_hex(buf, len, UINT64_MAX, &flags) == 0 && (flags & IFF_LOOPBACK);
}

int umc_linkload_init(struct umc_linkload *ret, const char *ifname, const struct umc_load_cfg *cfg,
                      uint64_t rate_bps, uint64_t now_usec) {
        struct umc_linkload l = {};
        int r;

        if (!ret || !umc_name_ifname_valid(ifname) || !cfg)
                return -EINVAL;
        if (rate_bps > 0) {
                /* A configured rate (LinkRateMbit=) wins over what the link reports. */
                l.link_bps = rate_bps;
                l.nominal = true;
        } else if (umc_linkload_speed_bps(ifname, &l.link_bps) < 0) {
                l.link_bps = UMC_LINKLOAD_NOMINAL_BPS;
                l.nominal = true;
        }
        r = umc_busload_init_link(&l.load, cfg, l.link_bps, now_usec);
        if (r < 0)
                return r;
        memcpy(l.ifname, ifname, strlen(ifname) + 1);
        l.loopback = umc_linkload_is_loopback(ifname);
        *ret = l;
        return 0;
}

int umc_linkload_feed(struct umc_linkload *l, uint64_t bytes, uint64_t packets, uint64_t now_usec) {
        uint64_t before, closed;
        int r;

        if (!l)
                return -EINVAL;
        /* Spreading the bits over the windows in between may close some already: count them all. */
        before = l->load.n_windows;
        r = umc_busload_add_link_counters(&l->load, bytes, packets, now_usec);
        if (r >= 0)
                r = umc_busload_tick(&l->load, now_usec);
        if (r < 0)
                return r;
        l->n_samples++;
        closed = l->load.n_windows - before;
        return closed > INT_MAX ? INT_MAX : (int)closed;
}

int umc_linkload_sample(struct umc_linkload *l, uint64_t now_usec) {
        uint64_t bytes, packets;
        int r;

        if (!l)
                return -EINVAL;
        r = umc_netinfo_link_counters(l->ifname, &bytes, &packets);
        if (r < 0)
                return r;
        if (l->loopback) {
                bytes /= 2;
                packets /= 2;
        }
        return umc_linkload_feed(l, bytes, packets, now_usec);
}
