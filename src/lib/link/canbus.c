/* SPDX-License-Identifier: MIT */
#include "umc/canbus.h"

#include <libsocketcan.h>
#include <limits.h>
#include <stdio.h>
#include <linux/can/netlink.h>
#include <linux/can/raw.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "umc/names.h"
#include "umc/netinfo.h"
#include "umc/util.h"

/*
 * Frames one umc_canbus_read() takes before it returns, so that a
 * saturated bus cannot starve the other event sources (the socket stays
 * readable, the loop calls again). A 1 Mbit/s bus carries under 20000
 * frames/s.
 */
#define READ_BATCH 4096

struct own_id {
        uint32_t id;
        bool eff;
};

/* What the open window has collected beyond busload's bit sums. */
struct window_acc {
        uint64_t bits, own_arb_bits, own_data_bits;
        uint64_t frames, own_frames, error_frames, dropped;
};

struct umc_canbus {
        char ifname[IF_NAMESIZE];
        int fd;
        bool fd_frames;
        struct umc_canbus_params p;   /* p.ifname points to ifname */
        struct umc_busload load;
        struct umc_canmon mon;
        bool check_ids;
        bool nominal;
        struct own_id own[2 * UMC_CANBUS_CHANNELS_MAX];
        size_t n_own;
        struct window_acc acc;
        /* Windows closed but not yet reported by umc_canbus_tick(). */
        uint64_t pending;
        struct umc_canbus_window last;
        struct umc_canid_verdict verdict;
        /* Totals and controller state. */
        uint64_t frames, error_frames, invalid, dropped;
        uint32_t ovfl;                /* the kernel's drop counter at the last read */
        bool have_state;
        int state;
        struct can_berr_counter berr;
};

uint64_t umc_canbus_now(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static bool id_valid(uint32_t id, bool eff) {
        return id <= (eff ? UMC_CANID_EFF_MAX : UMC_CANID_SFF_MAX);
}

int umc_canbus_new(const struct umc_canbus_params *p, uint64_t now_usec, struct umc_canbus **ret) {
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = NULL;
        int r;

        if (!p || !ret || !p->ifname || !umc_name_ifname_valid(p->ifname))
                return -EINVAL;
        if (!p->rules && p->n_rules > 0)
                return -EINVAL;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->fd = -1;
        (void)snprintf(b->ifname, sizeof(b->ifname), "%s", p->ifname);
        b->p = *p;
        b->p.ifname = b->ifname;
        b->nominal = true;
        r = umc_busload_init_can(&b->load, &p->load, p->nominal_bitrate, p->nominal_data_bitrate,
                                 p->stuffing, p->model, now_usec);
        if (r < 0)
                return r;
        b->check_ids = p->rules != NULL;
        if (b->check_ids) {
                r = umc_canmon_init(&b->mon, p->rules, p->n_rules, p->min_periods);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(b);
        return 0;
}

void umc_canbus_free(struct umc_canbus *b) {
        if (!b)
                return;
        umc_closep(&b->fd);
        umc_canmon_done(&b->mon);
        free(b);
}

int umc_canbus_fd(const struct umc_canbus *b) {
        if (!b || b->fd < 0)
                return -EBADF;
        return b->fd;
}

/* ---- windows ---- */

/*
 * Close the windows that ended at or before t. The accumulated counters
 * belong to the first of them; if more closed, the last one was idle.
 * The ID rates are judged once per batch: they are measured over their own
 * windows of many periods, not over load windows.
 */
static void close_windows(struct umc_canbus *b, uint64_t t) {
        struct umc_canbus_window w = {};
        int n = umc_busload_tick(&b->load, t);

        if (n <= 0)
                return;
        w.start_usec = b->load.window_start - b->load.cfg.window_usec;
        w.percent = umc_busload_percent(&b->load);
        w.cls = umc_busload_class(&b->load);
        if (n == 1) {
                w.bits = b->acc.bits;
                w.own_bits = b->acc.own_arb_bits + b->acc.own_data_bits;
                w.own_percent = umc_busload_bits_percent(&b->load, b->acc.own_arb_bits,
                                                         b->acc.own_data_bits);
                w.frames = b->acc.frames;
                w.own_frames = b->acc.own_frames;
                w.error_frames = b->acc.error_frames;
                w.dropped = b->acc.dropped;
        }
        b->last = w;
        b->acc = (struct window_acc){};
        if (b->check_ids && b->verdict.reason == UMC_REASON_OK)
                umc_canmon_evaluate(&b->mon, &b->verdict);
        else if (b->check_ids)
                umc_canmon_evaluate(&b->mon, NULL); /* an earlier violation is still unreported */
        b->pending = b->pending > UINT64_MAX - (uint64_t)n ? UINT64_MAX : b->pending + (uint64_t)n;
}

int umc_canbus_tick(struct umc_canbus *b, uint64_t now_usec, struct umc_canbus_window *ret) {
        int n;

        if (!b || !ret)
                return -EINVAL;
        close_windows(b, now_usec);
        if (b->pending == 0)
                return 0;
        n = b->pending > INT_MAX ? INT_MAX : (int)b->pending;
        *ret = b->last;
        ret->verdict = b->verdict;
        b->pending = 0;
        b->verdict = (struct umc_canid_verdict){};
        return n;
}

/* ---- frames ---- */

static bool is_own(const struct umc_canbus *b, uint32_t id, bool eff) {
        for (size_t i = 0; i < b->n_own; i++)
                if (b->own[i].id == id && b->own[i].eff == eff)
                        return true;
        return false;
}

/* The kernel's frame as the load model sees it; -EINVAL for what no bus carries. */
static int to_model(const struct canfd_frame *f, bool fd_frame, struct umc_can_frame *ret) {
        bool eff = f->can_id & CAN_EFF_FLAG;
        uint32_t id = f->can_id & (eff ? CAN_EFF_MASK : CAN_SFF_MASK);

        /* An 11-bit frame with bits set above its ID is not a frame the kernel sends. */
        if (!eff && (f->can_id & CAN_EFF_MASK) != id)
                return -EINVAL;
        if (!fd_frame && f->len > CAN_MAX_DLEN)
                return -EINVAL;
        *ret = (struct umc_can_frame){
                .id = id,
                .eff = eff,
                .rtr = f->can_id & CAN_RTR_FLAG,
                .fd = fd_frame,
                .brs = fd_frame && (f->flags & CANFD_BRS),
                .len = f->len,
                .data = f->data,
        };
        return 0;
}

int umc_canbus_feed(struct umc_canbus *b, const struct canfd_frame *f, bool fd_frame,
                    uint64_t ts_usec) {
        struct umc_can_frame cf;
        unsigned total, data;
        int r;

        if (!b || !f)
                return -EINVAL;
        if (f->can_id & CAN_ERR_FLAG) {
                /* Error frames report what the controller saw; they are not traffic. */
                close_windows(b, ts_usec);
                b->acc.error_frames++;
                b->error_frames++;
                return 0;
        }
        r = to_model(f, fd_frame, &cf);
        if (r < 0)
                return r;
        /* Check the frame first, so that a refused one changes nothing. */
        r = umc_busload_frame_bits(&cf, b->load.stuffing, b->load.model, &total, &data);
        if (r < 0)
                return r;
        close_windows(b, ts_usec);
        r = umc_busload_add_frame(&b->load, &cf, ts_usec);
        if (r < 0)
                return r;
        b->acc.bits += total;
        b->acc.frames++;
        b->frames++;
        if (is_own(b, cf.id, cf.eff)) {
                b->acc.own_arb_bits += total - data;
                b->acc.own_data_bits += data;
                b->acc.own_frames++;
        }
        if (b->check_ids)
                (void)umc_canmon_frame(&b->mon, cf.id, cf.eff, ts_usec);
        return 0;
}

int umc_canbus_add_channel(struct umc_canbus *b, uint32_t tx_id, uint32_t rx_id, bool eff) {
        if (!b || !id_valid(tx_id, eff) || !id_valid(rx_id, eff))
                return -EINVAL;
        if (b->n_own + 2 > UMC_ELEMENTSOF(b->own))
                return -ENOSPC;
        b->own[b->n_own++] = (struct own_id){ tx_id, eff };
        b->own[b->n_own++] = (struct own_id){ rx_id, eff };
        return 0;
}

void umc_canbus_clear_channels(struct umc_canbus *b) {
        if (b)
                b->n_own = 0;
}

/* ---- the socket ---- */

static int set_opt(int fd, int level, int name, int value) {
        return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;
}

static int open_socket(const char *ifname, bool *ret_fd_frames) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_can addr = { .can_family = AF_CAN };
        struct ifreq ifr = {};
        bool fd_frames;
        int r;

        /* First, so that a kernel without CAN answers -EAFNOSUPPORT whatever the name. */
        fd = socket(PF_CAN, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, CAN_RAW);
        if (fd < 0)
                return -errno;
        (void)snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
        if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
                return -errno;
        addr.can_ifindex = ifr.ifr_ifindex;
        if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
                return -errno;
        fd_frames = ifr.ifr_mtu == CANFD_MTU;
        if (fd_frames) {
                r = set_opt(fd, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, 1);
                if (r < 0)
                        return r;
        }
        r = set_opt(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
        if (r < 0)
                return r;
        r = set_opt(fd, SOL_SOCKET, SO_RXQ_OVFL, 1);
        if (r < 0)
                return r;
        /* The default loopback stays on: our ISO-TP sockets' frames use the bus too. */
        if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
                return -errno;
        *ret_fd_frames = fd_frames;
        return TAKE_FD(fd);
}

/* libsocketcan returns -1 and sometimes leaves errno alone. */
static int socketcan_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

/* The controller's bitrates, or -ENODATA for an interface without bit timing (vcan). */
static int controller_bitrates(const char *ifname, uint64_t *ret_bitrate, uint64_t *ret_dbitrate) {
        struct umc_canbus_link link;
        struct can_bittiming bt = {};
        int r;

        r = umc_canbus_query_link(ifname, &link);
        if (r < 0)
                return r;
        if (!link.can)
                return -ENODATA;
        if (can_get_bittiming(ifname, &bt) < 0 || bt.bitrate == 0)
                return -ENODATA;
        *ret_bitrate = bt.bitrate;
        *ret_dbitrate = link.data_bitrate;
        return 0;
}

int umc_canbus_open(struct umc_canbus *b) {
        _cleanup_close_ int fd = -1;
        struct umc_busload load;
        uint64_t bitrate = b ? b->p.nominal_bitrate : 0, dbitrate = b ? b->p.nominal_data_bitrate : 0;
        bool fd_frames = false, nominal = true;
        int r;

        if (!b)
                return -EINVAL;
        if (b->fd >= 0)
                return -EALREADY;
        fd = open_socket(b->ifname, &fd_frames);
        if (fd < 0)
                return fd;
        if (controller_bitrates(b->ifname, &bitrate, &dbitrate) == 0) {
                nominal = false;
                /* An FD controller that reports no data phase timing: take the configured one. */
                if (dbitrate == 0 && fd_frames && b->p.nominal_data_bitrate > 0) {
                        dbitrate = b->p.nominal_data_bitrate;
                        nominal = true;
                }
        }
        r = umc_busload_init_can(&load, &b->p.load, bitrate, dbitrate, b->p.stuffing, b->p.model,
                                 umc_canbus_now());
        if (r < 0)
                return r;
        b->load = load;
        b->acc = (struct window_acc){};
        b->nominal = nominal;
        b->fd_frames = fd_frames;
        b->ovfl = 0;
        b->fd = TAKE_FD(fd);
        (void)umc_canbus_refresh_state(b);
        return 0;
}

/* The kernel's timestamp and drop counter from one recvmsg(). */
static void parse_cmsgs(struct msghdr *msg, uint64_t *ts_usec, uint32_t *ovfl, bool *have_ovfl) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
                if (c->cmsg_level != SOL_SOCKET)
                        continue;
                if (c->cmsg_type == SCM_TIMESTAMPNS && c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
                        struct timespec ts;

                        memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                        *ts_usec = (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
                } else if (c->cmsg_type == SO_RXQ_OVFL && c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
                        memcpy(ovfl, CMSG_DATA(c), sizeof(*ovfl));
                        *have_ovfl = true;
                }
        }
}

/* One frame from the socket: 1 when fed (or counted invalid), 0 when none pending, -errno. */
static int read_one(struct umc_canbus *b) {
        struct canfd_frame frame;
        struct iovec iov = { .iov_base = &frame, .iov_len = sizeof(frame) };
        union {
                char buf[CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(uint32_t))];
                struct cmsghdr align;
        } control;
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        uint64_t ts = 0;
        uint32_t ovfl = 0;
        bool have_ovfl = false, fd_frame;
        ssize_t n;

        n = recvmsg(b->fd, &msg, MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        parse_cmsgs(&msg, &ts, &ovfl, &have_ovfl);
        if (ts == 0)
                ts = umc_canbus_now();
        fd_frame = (size_t)n == CANFD_MTU;
        if ((msg.msg_flags & MSG_TRUNC) || ((size_t)n != CAN_MTU && !(fd_frame && b->fd_frames)) ||
            umc_canbus_feed(b, &frame, fd_frame, ts) < 0)
                b->invalid++;
        if (have_ovfl && ovfl != b->ovfl) {
                /* A cumulative 32-bit counter: the difference is right across a wrap. */
                uint32_t d = ovfl - b->ovfl;

                b->ovfl = ovfl;
                b->acc.dropped += d;
                b->dropped += d;
        }
        return 1;
}

int umc_canbus_read(struct umc_canbus *b) {
        int n = 0, r;

        if (!b)
                return -EINVAL;
        if (b->fd < 0)
                return -EBADF;
        while (n < READ_BATCH) {
                r = read_one(b);
                if (r == -EINTR)
                        continue;
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                n++;
        }
        return n;
}

/* ---- controller state ---- */

int umc_canbus_refresh_state(struct umc_canbus *b) {
        struct umc_canbus_link link;
        struct can_berr_counter berr = {};
        int state, r;

        if (!b)
                return -EINVAL;
        r = umc_canbus_query_link(b->ifname, &link);
        if (r < 0)
                return r;
        if (!link.can)
                return -ENODATA;
        errno = 0;
        if (can_get_state(b->ifname, &state) < 0)
                return socketcan_errno();
        /* Not every controller has error counters (the kernel then sends none). */
        if (can_get_berr_counter(b->ifname, &berr) < 0)
                berr = (struct can_berr_counter){};
        b->have_state = true;
        b->state = state;
        b->berr = berr;
        return 0;
}

int umc_canbus_restart(struct umc_canbus *b) {
        int r;

        r = umc_canbus_refresh_state(b);
        if (r < 0)
                return r;
        if (b->state != CAN_STATE_BUS_OFF)
                return -EALREADY;
        errno = 0;
        if (can_do_restart(b->ifname) < 0)
                return socketcan_errno();
        return 0;
}

int umc_canbus_status(const struct umc_canbus *b, struct umc_canbus_status *ret) {
        if (!b || !ret)
                return -EINVAL;
        *ret = (struct umc_canbus_status){
                .open = b->fd >= 0,
                .fd = b->fd_frames,
                .bitrate = b->load.bitrate,
                .data_bitrate = b->load.data_bitrate,
                .nominal = b->nominal,
                .have_state = b->have_state,
                .state = b->state,
                .txerr = b->berr.txerr,
                .rxerr = b->berr.rxerr,
                .frames = b->frames,
                .error_frames = b->error_frames,
                .invalid = b->invalid,
                .dropped = b->dropped,
                .unknown_ids = b->check_ids ? b->mon.n_unknown : 0,
                .windows = b->load.n_windows,
                .percent = umc_busload_percent(&b->load),
                .cls = umc_busload_class(&b->load),
        };
        memcpy(ret->ifname, b->ifname, sizeof(ret->ifname));
        return 0;
}

const char *umc_canbus_state_to_string(int state) {
        static const char *const names[] = {
                [CAN_STATE_ERROR_ACTIVE] = "error-active",
                [CAN_STATE_ERROR_WARNING] = "error-warning",
                [CAN_STATE_ERROR_PASSIVE] = "error-passive",
                [CAN_STATE_BUS_OFF] = "bus-off",
                [CAN_STATE_STOPPED] = "stopped",
                [CAN_STATE_SLEEPING] = "sleeping",
        };

        if (state < 0 || (size_t)state >= UMC_ELEMENTSOF(names) || !names[state])
                return "unknown";
        return names[state];
}

/* ---- rtnetlink ---- */

/* Find the attributes of interest among rta[0..len): at most one per type below max. */
static int parse_attrs(struct rtattr *rta, size_t len, struct rtattr **tb, unsigned max) {
        int l = len > INT_MAX ? INT_MAX : (int)len;

        memset(tb, 0, sizeof(*tb) * (max + 1));
        for (; RTA_OK(rta, l); rta = RTA_NEXT(rta, l)) {
                unsigned type = rta->rta_type & ~(unsigned)NLA_F_NESTED;

                if (type <= max)
                        tb[type] = rta;
        }
        /*
         * An attribute header left that RTA_OK() refused claims more than
         * the message holds: truncated. (A negative rest is only the
         * padding of a last attribute that was within bounds.)
         */
        return l >= (int)sizeof(struct rtattr) ? -EPROTO : 0;
}

static int parse_linkinfo(struct rtattr *linkinfo, struct umc_canbus_link *link) {
        struct rtattr *info[IFLA_INFO_MAX + 1], *can[IFLA_CAN_MAX + 1];
        const char *kind;
        size_t kind_len;
        int r;

        r = parse_attrs(RTA_DATA(linkinfo), RTA_PAYLOAD(linkinfo), info, IFLA_INFO_MAX);
        if (r < 0)
                return r;
        if (!info[IFLA_INFO_KIND])
                return 0;
        kind = RTA_DATA(info[IFLA_INFO_KIND]);
        kind_len = RTA_PAYLOAD(info[IFLA_INFO_KIND]);
        /* The kind is a NUL-terminated string; the data's attribute types depend on it. */
        link->can = kind_len >= 4 && memcmp(kind, "can", 4) == 0;
        if (!link->can || !info[IFLA_INFO_DATA])
                return 0;
        r = parse_attrs(RTA_DATA(info[IFLA_INFO_DATA]), RTA_PAYLOAD(info[IFLA_INFO_DATA]), can,
                        IFLA_CAN_MAX);
        if (r < 0)
                return r;
        if (can[IFLA_CAN_DATA_BITTIMING]) {
                struct can_bittiming bt;

                if (RTA_PAYLOAD(can[IFLA_CAN_DATA_BITTIMING]) < sizeof(bt))
                        return -EPROTO;
                memcpy(&bt, RTA_DATA(can[IFLA_CAN_DATA_BITTIMING]), sizeof(bt));
                link->data_bitrate = bt.bitrate;
        }
        return 0;
}

int umc_canbus_parse_link_reply(const void *buf, size_t len, struct umc_canbus_link *ret) {
        struct umc_canbus_link link = {};
        struct rtattr *tb[IFLA_MAX + 1];
        const struct nlmsghdr *nh = buf;
        int r;

        if (!buf || !ret)
                return -EINVAL;
        if (len < sizeof(*nh) || nh->nlmsg_len < sizeof(*nh) || nh->nlmsg_len > len)
                return -EPROTO;
        if (nh->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(nh);

                if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)) || e->error >= 0 || e->error < -4095)
                        return -EPROTO;
                return e->error;
        }
        if (nh->nlmsg_type != RTM_NEWLINK || nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
                return -EPROTO;
        r = parse_attrs(IFLA_RTA(NLMSG_DATA(nh)), nh->nlmsg_len - NLMSG_LENGTH(sizeof(struct ifinfomsg)),
                        tb, IFLA_MAX);
        if (r < 0)
                return r;
        if (tb[IFLA_LINKINFO]) {
                r = parse_linkinfo(tb[IFLA_LINKINFO], &link);
                if (r < 0)
                        return r;
        }
        *ret = link;
        return 0;
}

int umc_canbus_query_link(const char *ifname, struct umc_canbus_link *ret) {
        _cleanup_free_ uint8_t *reply = NULL;
        size_t len = 0;
        int r;

        if (!ifname || !ret)
                return -EINVAL;
        r = umc_netinfo_getlink(ifname, &reply, &len, NULL);
        if (r == -EBADMSG)
                return -EPROTO; /* truncated: attributes we cannot check */
        if (r < 0)
                return r;
        return umc_canbus_parse_link_reply(reply, len, ret);
}
