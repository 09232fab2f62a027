/* SPDX-License-Identifier: MIT */
#include "umc/netinfo.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>

#include "umc/fs.h"
#include "umc/names.h"
#include "umc/parse.h"
#include "umc/util.h"

/* One side of a connection, IPv4-mapped addresses already unmapped. */
struct endpoint {
        int family;
        uint8_t addr[16];
        uint16_t port;
        uint32_t scope_id; /* IPv6 link-local only */
};

static void endpoint_from_sockaddr(const struct sockaddr_storage *ss, struct endpoint *ret) {
        *ret = (struct endpoint){ .family = ss->ss_family };
        if (ss->ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
                memcpy(ret->addr, &in->sin_addr, 4);
                ret->port = ntohs(in->sin_port);
                return;
        }
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        ret->port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
                /* On the wire this is IPv4: judge it as the peer sees it. */
                ret->family = AF_INET;
                memcpy(ret->addr, in6->sin6_addr.s6_addr + 12, 4);
                return;
        }
        memcpy(ret->addr, &in6->sin6_addr, 16);
        ret->scope_id = in6->sin6_scope_id;
}

static int tcp_check(int fd) {
        int type = 0, proto = 0;
        socklen_t l = sizeof(type);

        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
                return -errno;
        l = sizeof(proto);
        if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) < 0)
                return -errno;
        if (type != SOCK_STREAM || proto != IPPROTO_TCP)
                return -EPROTONOSUPPORT;
        return 0;
}

static int endpoints_get(int fd, struct endpoint *ret_local, struct endpoint *ret_peer) {
        struct sockaddr_storage local = {}, peer = {};
        socklen_t ll = sizeof(local), pl = sizeof(peer);
        int r;

        if (getsockname(fd, (struct sockaddr *)&local, &ll) < 0)
                return -errno;
        if (local.ss_family != AF_INET && local.ss_family != AF_INET6)
                return -EAFNOSUPPORT;
        r = tcp_check(fd);
        if (r < 0)
                return r;
        if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
                return -errno;
        if (peer.ss_family != local.ss_family)
                return -EAFNOSUPPORT;
        endpoint_from_sockaddr(&local, ret_local);
        endpoint_from_sockaddr(&peer, ret_peer);
        return 0;
}

/* The address bytes of an ifaddrs entry of family, or NULL. */
static const uint8_t *sa_bytes(const struct sockaddr *sa, int family) {
        if (!sa || sa->sa_family != family)
                return NULL;
        if (family == AF_INET)
                return (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        return ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, const uint8_t *mask, size_t n) {
        bool any = false;

        for (size_t i = 0; i < n; i++) {
                if ((a[i] & mask[i]) != (b[i] & mask[i]))
                        return false;
                any |= mask[i] != 0;
        }
        return any; /* a /0 "subnet" contains everything and says nothing */
}

static int local_ifname(const struct endpoint *local, char buf[IF_NAMESIZE]) {
        size_t alen = local->family == AF_INET ? 4 : 16;
        struct ifaddrs *list = NULL;
        const char *exact = NULL, *subnet = NULL;
        int r = -ENODEV;

        if (local->family == AF_INET6 && local->scope_id != 0 &&
            IN6_IS_ADDR_LINKLOCAL((const struct in6_addr *)local->addr)) {
                /* fe80::/10 exists on every link: the scope names the one. */
                char name[IF_NAMESIZE];
                if (!if_indextoname(local->scope_id, name))
                        return -ENODEV;
                memcpy(buf, name, IF_NAMESIZE);
                return 0;
        }

        if (getifaddrs(&list) < 0)
                return -errno;
        for (struct ifaddrs *i = list; i; i = i->ifa_next) {
                const uint8_t *a = sa_bytes(i->ifa_addr, local->family);
                const uint8_t *m = sa_bytes(i->ifa_netmask, local->family);

                if (!a || !i->ifa_name || !umc_name_ifname_valid(i->ifa_name))
                        continue;
                if (memcmp(a, local->addr, alen) == 0) {
                        exact = i->ifa_name;
                        break;
                }
                if (!subnet && m && prefix_match(a, local->addr, m, alen))
                        subnet = i->ifa_name;
        }
        if (exact || subnet) {
                memset(buf, 0, IF_NAMESIZE);
                strncpy(buf, exact ? exact : subnet, IF_NAMESIZE - 1);
                r = 0;
        }
        freeifaddrs(list);
        return r;
}

int umc_netinfo_listen_prepare(int fd) {
        struct sockaddr_storage ss = {};
        socklen_t l = sizeof(ss);
        int one = 1;

        if (getsockname(fd, (struct sockaddr *)&ss, &l) < 0)
                return -errno;
        /*
         * The kernel stores the arrival interface of the packet that
         * completes the handshake in the accepted socket (net/ipv4/
         * tcp_ipv4.c tcp_v4_syn_recv_sock(): mc_index = inet_iif(skb);
         * net/ipv6/tcp_ipv6.c: mcast_oif and pktoptions), and hands it out
         * through IP_PKTOPTIONS / IPV6_2292PKTOPTIONS when the listener
         * asked for packet info. An AF_INET6 listener covers its
         * IPv4-mapped peers with the IPv6 option alone.
         */
        if (ss.ss_family == AF_INET)
                return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ? -errno : 0;
        if (ss.ss_family == AF_INET6)
                return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0
                               ? -errno : 0;
        return -EAFNOSUPPORT;
}

/* The ifindex of the one packet-info control message in buf[0..len), or 0. */
static int pktinfo_ifindex(void *buf, socklen_t len) {
        struct msghdr m = { .msg_control = buf, .msg_controllen = len };

        for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
                if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO &&
                    h->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
                        struct in_pktinfo pi;
                        memcpy(&pi, CMSG_DATA(h), sizeof(pi));
                        return pi.ipi_ifindex;
                }
                if (h->cmsg_level == IPPROTO_IPV6 && h->cmsg_type == IPV6_PKTINFO &&
                    h->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
                        struct in6_pktinfo pi;
                        memcpy(&pi, CMSG_DATA(h), sizeof(pi));
                        return (int)pi.ipi6_ifindex;
                }
        }
        return 0;
}

int umc_netinfo_arrival_ifindex(int fd, int *ret_ifindex) {
        struct sockaddr_storage ss = {};
        socklen_t l = sizeof(ss);
        union {
                struct cmsghdr align;
                uint8_t buf[512]; /* packet info plus whatever other options a peer sent */
        } c;
        socklen_t cl = sizeof(c.buf);
        int r, idx;

        if (!ret_ifindex)
                return -EINVAL;
        if (getsockname(fd, (struct sockaddr *)&ss, &l) < 0)
                return -errno;
        r = tcp_check(fd);
        if (r < 0)
                return r;
        if (ss.ss_family == AF_INET)
                r = getsockopt(fd, IPPROTO_IP, IP_PKTOPTIONS, c.buf, &cl);
        else if (ss.ss_family == AF_INET6)
                r = getsockopt(fd, IPPROTO_IPV6, IPV6_2292PKTOPTIONS, c.buf, &cl);
        else
                return -EAFNOSUPPORT;
        if (r < 0)
                return -errno;
        idx = pktinfo_ifindex(c.buf, cl);
        if (idx <= 0)
                return -ENODATA; /* the listener was not prepared, or nothing arrived yet */
        *ret_ifindex = idx;
        return 0;
}

int umc_netinfo_route_ifname(int fd, char buf[IF_NAMESIZE]) {
        struct endpoint local, peer;
        int r;

        r = endpoints_get(fd, &local, &peer);
        if (r < 0)
                return r;
        return local_ifname(&local, buf);
}

/* ---- rtnetlink ---- */

#define NL_BUF_SIZE 32768 /* a whole RTM_NEWLINK answer with stats and VF info */

/*
 * The walking lengths are int: RTA_NEXT() and NLMSG_NEXT() subtract the
 * aligned length, which exceeds what is left after an unaligned last
 * entry, and only a signed rest makes the next RTA_OK()/NLMSG_OK() stop.
 */
static int walk_len(size_t len) {
        return len > INT_MAX ? INT_MAX : (int)len;
}

/* NLMSG_OK() for an int rest, without its comparison of the u32 length to an int. */
static bool nlmsg_ok(const struct nlmsghdr *nh, int l) {
        return l >= (int)sizeof(*nh) && nh->nlmsg_len >= sizeof(*nh) && nh->nlmsg_len <= (unsigned)l;
}

/* Walk the attributes of one level; the type is masked (nested flags set by newer kernels). */
static const struct rtattr *rta_find(const struct rtattr *rta, size_t len, unsigned type) {
        int l = walk_len(len);

        for (; RTA_OK(rta, l); rta = RTA_NEXT(rta, l))
                if ((rta->rta_type & NLA_TYPE_MASK) == type)
                        return rta;
        return NULL;
}

static int vlan_from_linkinfo(const struct rtattr *linkinfo, int *ret_vlan) {
        const struct rtattr *kind, *data, *id;
        size_t kl;

        kind = rta_find(RTA_DATA(linkinfo), RTA_PAYLOAD(linkinfo), IFLA_INFO_KIND);
        if (!kind) {
                *ret_vlan = UMC_VLAN_UNTAGGED;
                return 0;
        }
        kl = RTA_PAYLOAD(kind);
        if (kl != sizeof("vlan") || memcmp(RTA_DATA(kind), "vlan", sizeof("vlan")) != 0) {
                *ret_vlan = UMC_VLAN_UNTAGGED;
                return 0;
        }
        data = rta_find(RTA_DATA(linkinfo), RTA_PAYLOAD(linkinfo), IFLA_INFO_DATA);
        if (!data)
                return -EBADMSG;
        id = rta_find(RTA_DATA(data), RTA_PAYLOAD(data), IFLA_VLAN_ID);
        if (!id || RTA_PAYLOAD(id) < sizeof(uint16_t))
                return -EBADMSG;
        uint16_t v;
        memcpy(&v, RTA_DATA(id), sizeof(v));
        /* IEEE 802.1Q: 0 and 4095 are reserved, never an interface's ID. */
        if (v < 1 || v > 4094)
                return -EBADMSG;
        *ret_vlan = v;
        return 0;
}

int umc_netinfo_parse_getlink_reply(const uint8_t *buf, size_t len, uint32_t seq, int ifindex,
                                    int *ret_vlan) {
        int l = walk_len(len);

        for (const struct nlmsghdr *nh = (const struct nlmsghdr *)buf; nlmsg_ok(nh, l);
             nh = NLMSG_NEXT(nh, l)) {
                const struct ifinfomsg *ifi;
                const struct rtattr *li;

                if (nh->nlmsg_seq != seq)
                        continue;
                if (nh->nlmsg_type == NLMSG_ERROR) {
                        const struct nlmsgerr *e = NLMSG_DATA(nh);
                        if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
                                return -EBADMSG;
                        /* A negative errno, or the answer is not one (-4095: MAX_ERRNO). */
                        if (e->error < -4095)
                                return -EBADMSG;
                        if (e->error < 0)
                                return e->error;
                        continue;
                }
                if (nh->nlmsg_type != RTM_NEWLINK || nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
                        return -EBADMSG;
                ifi = NLMSG_DATA(nh);
                if (ifi->ifi_index != ifindex)
                        return -EBADMSG;
                li = rta_find(IFLA_RTA(ifi), IFLA_PAYLOAD(nh), IFLA_LINKINFO);
                if (!li) {
                        *ret_vlan = UMC_VLAN_UNTAGGED; /* plain device: no link kind */
                        return 0;
                }
                return vlan_from_linkinfo(li, ret_vlan);
        }
        return -EBADMSG;
}

int umc_netinfo_getlink(const char *ifname, uint8_t **ret_buf, size_t *ret_len,
                        int *ret_ifindex) {
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK }, from = {};
        struct {
                struct nlmsghdr nh;
                struct ifinfomsg ifi;
        } req = {
                .nh = {
                        .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
                        .nlmsg_type = RTM_GETLINK,
                        .nlmsg_flags = NLM_F_REQUEST,
                        .nlmsg_seq = UMC_NETINFO_GETLINK_SEQ,
                },
                .ifi = { .ifi_family = AF_UNSPEC },
        };
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        socklen_t fl = sizeof(from);
        unsigned idx;
        ssize_t n;

        if (!umc_name_ifname_valid(ifname) || !ret_buf || !ret_len)
                return -EINVAL;
        idx = if_nametoindex(ifname);
        if (idx == 0)
                return -ENODEV;
        req.ifi.ifi_index = (int)idx;

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;
        buf = malloc(NL_BUF_SIZE);
        if (!buf)
                return -ENOMEM;
        if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
                return -errno;
        /*
         * rtnetlink handles the request inside sendto(), so the answer is
         * queued by now: MSG_DONTWAIT keeps this call from ever blocking.
         */
        do
                n = recvfrom(fd, buf, NL_BUF_SIZE, MSG_DONTWAIT | MSG_TRUNC,
                             (struct sockaddr *)&from, &fl);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if ((size_t)n > NL_BUF_SIZE || fl != sizeof(from) || from.nl_pid != 0)
                return -EBADMSG; /* truncated, or not from the kernel */
        *ret_buf = TAKE_PTR(buf);
        *ret_len = (size_t)n;
        if (ret_ifindex)
                *ret_ifindex = (int)idx;
        return 0;
}

int umc_netinfo_vlan_id(const char *ifname, int *ret_vlan) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        int idx = 0, vlan = 0, r;

        if (!ret_vlan)
                return -EINVAL;
        r = umc_netinfo_getlink(ifname, &buf, &len, &idx);
        if (r < 0)
                return r;
        r = umc_netinfo_parse_getlink_reply(buf, len, UMC_NETINFO_GETLINK_SEQ, idx, &vlan);
        if (r < 0)
                return r;
        *ret_vlan = vlan;
        return 0;
}

static int arrival_ifname(int fd, char buf[IF_NAMESIZE]) {
        char name[IF_NAMESIZE];
        int idx, r;

        r = umc_netinfo_arrival_ifindex(fd, &idx);
        if (r < 0)
                return r;
        if (!if_indextoname((unsigned)idx, name))
                return -ENODEV; /* the interface went away since the packet arrived */
        memcpy(buf, name, IF_NAMESIZE);
        return 0;
}

int umc_netinfo_tuple(int fd, bool we_initiated, struct umc_eth_tuple *ret) {
        struct endpoint local, peer;
        const struct endpoint *src, *dst;
        char ifname[IF_NAMESIZE];
        int vlan, r;

        if (!ret)
                return -EINVAL;
        r = endpoints_get(fd, &local, &peer);
        if (r < 0)
                return r;
        r = we_initiated ? local_ifname(&local, ifname) : arrival_ifname(fd, ifname);
        if (r < 0)
                return r;
        r = umc_netinfo_vlan_id(ifname, &vlan);
        if (r < 0)
                return r;

        src = we_initiated ? &local : &peer;
        dst = we_initiated ? &peer : &local;
        *ret = (struct umc_eth_tuple){
                .proto = IPPROTO_TCP,
                .family = local.family,
                .sport = src->port,
                .dport = dst->port,
                .vlan = vlan,
        };
        memcpy(ret->src, src->addr, sizeof(ret->src));
        memcpy(ret->dst, dst->addr, sizeof(ret->dst));
        return 0;
}

/* ---- sysfs counters ---- */

/* One counter file: decimal digits and an optional newline, nothing else. */
static int read_counter(int dir_fd, const char *name, uint64_t *ret) {
        char buf[32];
        _cleanup_close_ int fd = -1;
        uint64_t v = 0;
        size_t len;
        int r;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        r = umc_fs_read_all(fd, buf, sizeof(buf), &len);
        if (r < 0)
                return r;
        if (len == sizeof(buf))
                return -EBADMSG; /* 2^64 has 20 digits: longer is not a counter */
        if (len > 0 && buf[len - 1] == '\n')
                len--;
        r = umc_parse_uint(buf, len, UINT64_MAX, &v);
        if (r < 0)
                return r == -ERANGE ? r : -EBADMSG;
        *ret = v;
        return 0;
}

int umc_netinfo_link_counters(const char *ifname, uint64_t *ret_bytes, uint64_t *ret_packets) {
        uint64_t txb, rxb, txp, rxp;
        char path[64 + IF_NAMESIZE];
        _cleanup_close_ int dir_fd = -1;
        int r;

        if (!umc_name_ifname_valid(ifname) || !ret_bytes || !ret_packets)
                return -EINVAL;
        (void)snprintf(path, sizeof(path), "/sys/class/net/%s/statistics", ifname);
        dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return errno == ENOENT ? -ENODEV : -errno;
        if ((r = read_counter(dir_fd, "tx_bytes", &txb)) < 0 ||
            (r = read_counter(dir_fd, "rx_bytes", &rxb)) < 0 ||
            (r = read_counter(dir_fd, "tx_packets", &txp)) < 0 ||
            (r = read_counter(dir_fd, "rx_packets", &rxp)) < 0)
                return r;
        if (txb > UINT64_MAX - rxb || txp > UINT64_MAX - rxp)
                return -ERANGE;
        *ret_bytes = txb + rxb;
        *ret_packets = txp + rxp;
        return 0;
}

/* ---- formatting ---- */

static void format_endpoint(int family, const uint8_t *addr, uint16_t port, char *buf,
                            size_t size) {
        char a[INET6_ADDRSTRLEN];

        if (!inet_ntop(family, addr, a, sizeof(a)))
                (void)snprintf(a, sizeof(a), "?");
        if (family == AF_INET6)
                (void)snprintf(buf, size, "[%s]:%u", a, port);
        else
                (void)snprintf(buf, size, "%s:%u", a, port);
}

const char *umc_netinfo_tuple_to_string(const struct umc_eth_tuple *t, char *buf, size_t size) {
        char src[INET6_ADDRSTRLEN + 8], dst[INET6_ADDRSTRLEN + 8], vlan[16];
        const char *proto = t->proto == IPPROTO_TCP ? "tcp" : t->proto == IPPROTO_UDP ? "udp" : "ip";

        if (size == 0)
                return buf;
        if (t->family != AF_INET && t->family != AF_INET6) {
                (void)snprintf(buf, size, "%s (unknown address family %d)", proto, t->family);
                return buf;
        }
        format_endpoint(t->family, t->src, t->sport, src, sizeof(src));
        format_endpoint(t->family, t->dst, t->dport, dst, sizeof(dst));
        if (t->vlan == UMC_VLAN_UNTAGGED)
                (void)snprintf(vlan, sizeof(vlan), "untagged");
        else
                (void)snprintf(vlan, sizeof(vlan), "vlan %d", t->vlan);
        (void)snprintf(buf, size, "%s %s -> %s %s", proto, src, dst, vlan);
        return buf;
}
