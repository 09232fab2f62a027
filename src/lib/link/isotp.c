/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/can.h>
#include <linux/can/isotp.h>

#include "umc/frame.h"
#include "umc/isotp.h"
#include "umc/parse.h"
#include "umc/util.h"

/* Scratch IDs for the probe: high in the 11-bit range, away from diagnostics (0x7df-0x7ef). */
#define PROBE_ID_A 0x6f0
#define PROBE_ID_B 0x6f1

void umc_isotp_opts_default(struct umc_isotp_opts *o) {
        *o = (struct umc_isotp_opts){ .pad_byte = 0xcc };
}

/* ISO 15765-2 STmin: 0x00-0x7f ms, 0xf1-0xf9 100-900 us, the rest reserved. */
static bool stmin_valid(uint8_t v) {
        return v <= 0x7f || (v >= 0xf1 && v <= 0xf9);
}

int umc_isotp_opts_check(const struct umc_isotp_opts *o) {
        uint32_t max;

        if (!o)
                return -EINVAL;
        max = o->eff ? UMC_ISOTP_EFF_MAX : UMC_ISOTP_SFF_MAX;
        if (o->tx_id > max || o->rx_id > max || o->tx_id == o->rx_id)
                return -EINVAL;
        if (o->brs && !o->fd)
                return -EINVAL;
        if (!stmin_valid(o->stmin))
                return -EINVAL;
        return 0;
}

/* frame_txtime semantics changed in 5.18 (linux net/can/isotp.c: since 5.18 a value of 0 means "unchanged" and every consecutive frame waits 50 us by default): is the running kernel older? */
static bool release_before_5_18(const char *release) {
        unsigned major = 0, minor = 0;

        if (!release || sscanf(release, "%u.%u", &major, &minor) != 2)
                return false; /* assume a current kernel */
        return major < 5 || (major == 5 && minor < 18);
}

static bool kernel_before_5_18(void) {
        struct utsname u;

        return uname(&u) == 0 && release_before_5_18(u.release);
}

static int setopt(int fd, int name, const void *v, socklen_t len) {
        if (setsockopt(fd, SOL_CAN_ISOTP, name, v, len) < 0)
                return -errno;
        return 0;
}

int umc_isotp_open(const char *ifname, const struct umc_isotp_opts *opts, int *ret_fd) {
        _cleanup_close_ int fd = -1;
        struct can_isotp_options io = {};
        struct can_isotp_fc_options fc = {};
        struct sockaddr_can addr = {};
        unsigned ifindex;
        int r;

        if (!ifname || !opts || !ret_fd)
                return -EINVAL;
        if (ifname[0] == '\0' || strnlen(ifname, IFNAMSIZ) >= IFNAMSIZ)
                return -EINVAL;
        r = umc_isotp_opts_check(opts);
        if (r < 0)
                return r;
        ifindex = if_nametoindex(ifname);
        if (ifindex == 0)
                return -ENODEV;

        fd = socket(PF_CAN, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, CAN_ISOTP);
        if (fd < 0)
                return -errno;

        /*
         * A PDU the socket has no room for is dropped, whatever flow control
         * said (it does not look at the socket): ask for room for a few
         * checkpoints' worth. The kernel caps it at net.core.rmem_max; the
         * senders bound what is in flight (delivery.h), so this is margin.
         */
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){ UMC_ISOTP_RCVBUF }, sizeof(int));

        /* All options before bind(): after it the kernel says EISCONN. */
        if (opts->padding) {
                io.flags |= CAN_ISOTP_TX_PADDING | CAN_ISOTP_RX_PADDING;
                io.txpad_content = opts->pad_byte;
                io.rxpad_content = opts->pad_byte;
        }
        if (opts->frame_gap_ns != 0)
                io.frame_txtime = opts->frame_gap_ns;
        else
                io.frame_txtime = kernel_before_5_18() ? 0 : CAN_ISOTP_FRAME_TXTIME_ZERO;
        r = setopt(fd, CAN_ISOTP_OPTS, &io, sizeof(io));
        if (r < 0)
                return r;

        fc.bs = opts->block_size;
        fc.stmin = opts->stmin;
        fc.wftmax = 0; /* we never send FC.WAIT, nor accept it */
        r = setopt(fd, CAN_ISOTP_RECV_FC, &fc, sizeof(fc));
        if (r < 0)
                return r;

        if (opts->fd) {
                struct can_isotp_ll_options ll = {
                        .mtu = CANFD_MTU,
                        .tx_dl = CANFD_MAX_DLEN,
                        .tx_flags = opts->brs ? CANFD_BRS : 0,
                };
                r = setopt(fd, CAN_ISOTP_LL_OPTS, &ll, sizeof(ll));
                if (r < 0)
                        return r;
        }

        addr.can_family = AF_CAN;
        addr.can_ifindex = (int)ifindex;
        addr.can_addr.tp.tx_id = opts->tx_id | (opts->eff ? CAN_EFF_FLAG : 0);
        addr.can_addr.tp.rx_id = opts->rx_id | (opts->eff ? CAN_EFF_FLAG : 0);
        if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
                return -errno;

        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int on_close_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        /*
         * Not floating means the loop's reference goes: it was the last, so
         * the source is freed and closes fd, which it owns, without waiting now.
         */
        (void)sd_event_source_set_floating(s, false);
        return 0;
}

int umc_isotp_close_later(sd_event *event, int fd) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        sd_event_source *s = NULL;
        int r;

        if (fd < 0)
                return -EBADF;
        if (!event || (poll(&p, 1, 0) == 1 && (p.revents & POLLOUT))) {
                (void)close(fd);
                return 0;
        }
        r = sd_event_add_io(event, &s, fd, EPOLLOUT, on_close_ready, NULL);
        if (r < 0) {
                (void)close(fd);
                return r;
        }
        r = sd_event_source_set_io_fd_own(s, true);
        if (r < 0) {
                sd_event_source_disable_unref(s);
                (void)close(fd);
                return r;
        }
        r = sd_event_source_set_floating(s, true);
        if (r < 0) {
                sd_event_source_disable_unref(s); /* closes fd, which it owns */
                return r;
        }
        sd_event_source_unref(s); /* the loop holds it now */
        return 0;
}

int umc_isotp_send(int fd, const void *buf, size_t len) {
        ssize_t n;

        if (fd < 0 || !buf || len == 0)
                return -EINVAL;
        n = write(fd, buf, len);
        if (n < 0)
                return -errno;
        /* ISO-TP takes a PDU whole or not at all. */
        if ((size_t)n != len)
                return -EIO;
        return 0;
}

int umc_isotp_recv(int fd, void *buf, size_t size, size_t *ret_len) {
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (fd < 0 || !buf || size == 0 || !ret_len)
                return -EINVAL;
        n = recvmsg(fd, &mh, MSG_DONTWAIT);
        if (n < 0)
                return -errno;
        if (mh.msg_flags & MSG_TRUNC)
                return -EMSGSIZE;
        *ret_len = (size_t)n;
        return 0;
}

static uint64_t now_msec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Does ifname carry CAN FD frames (MTU 72)? */
static bool iface_is_fd(const char *ifname) {
        _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr = {};

        if (s < 0)
                return false;
        memcpy(ifr.ifr_name, ifname, strnlen(ifname, IFNAMSIZ - 1));
        if (ioctl(s, SIOCGIFMTU, &ifr) < 0)
                return false;
        return ifr.ifr_mtu == CANFD_MTU;
}

/*
 * Move one PDU of len from tx to rx. 1 when it arrived intact, 0 when the
 * kernel refused the length, negative errno otherwise.
 */
static int probe_one(int tx, int rx, uint8_t *out, uint8_t *in, size_t len) {
        uint64_t deadline = now_msec() + UMC_ISOTP_PROBE_TIMEOUT_MSEC;
        size_t got;
        int r;

        for (size_t i = 0; i < len; i++)
                out[i] = (uint8_t)(i * 31 + (i >> 8));
        r = umc_isotp_send(tx, out, len);
        if (r == -EINVAL || r == -EMSGSIZE)
                return 0;
        if (r < 0)
                return r;
        for (;;) {
                struct pollfd p = { .fd = rx, .events = POLLIN };
                uint64_t now = now_msec();

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int)(deadline - now));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0)
                        continue;
                r = umc_isotp_recv(rx, in, len + 1, &got);
                if (r == -EAGAIN)
                        continue;
                if (r < 0)
                        return r;
                return got == len && memcmp(in, out, len) == 0 ? 1 : -EIO;
        }
}

int umc_isotp_probe_max_pdu(const char *ifname, size_t *ret_max_pdu) {
        static const size_t sizes[] = UMC_ISOTP_PROBE_SIZES;
        _cleanup_close_ int a = -1, b = -1;
        _cleanup_free_ uint8_t *out = NULL, *in = NULL;
        struct umc_isotp_opts o;
        int r;

        if (!ifname || !ret_max_pdu)
                return -EINVAL;
        umc_isotp_opts_default(&o);
        o.fd = o.brs = iface_is_fd(ifname);
        o.tx_id = PROBE_ID_A;
        o.rx_id = PROBE_ID_B;
        r = umc_isotp_open(ifname, &o, &a);
        if (r < 0)
                return r;
        o.tx_id = PROBE_ID_B;
        o.rx_id = PROBE_ID_A;
        r = umc_isotp_open(ifname, &o, &b);
        if (r < 0)
                return r;
        out = malloc(sizes[0]);
        in = malloc(sizes[0] + 1);
        if (!out || !in)
                return -ENOMEM;

        for (size_t i = 0; i < UMC_ELEMENTSOF(sizes); i++) {
                r = probe_one(a, b, out, in, sizes[i]);
                if (r < 0)
                        return r;
                if (r > 0) {
                        *ret_max_pdu = sizes[i];
                        return 0;
                }
        }
        return -ENOTSUP;
}

size_t umc_isotp_max_payload(size_t max_pdu) {
        /* A PDU carries one frame: the 28-byte header, then the payload. */
        if (max_pdu <= UMC_FRAME_HEADER_LEN)
                return 0;
        max_pdu -= UMC_FRAME_HEADER_LEN;
        return max_pdu < UMC_FRAME_MAX_PAYLOAD ? max_pdu : UMC_FRAME_MAX_PAYLOAD;
}

#define MODULE_MAX_PDU "/sys/module/can_isotp/parameters/max_pdu_size"

size_t umc_isotp_max_pdu_for(const char *param, const char *release) {
        uint64_t v = 0;

        if (param) {
                size_t n = strcspn(param, "\n");

                /* The text as sysfs has it: decimal digits, then at most a newline. */
                if (strlen(param) - n <= 1 && umc_parse_uint(param, n, SIZE_MAX, &v) == 0 &&
                    v >= 4095)
                        return (size_t)v;
        }
        return release_before_5_18(release) ? 8200 : 66000;
}

size_t umc_isotp_kernel_max_pdu(void) {
        char param[32] = "";
        struct utsname u;
        FILE *f = fopen(MODULE_MAX_PDU, "re");
        bool have = false;

        if (f) {
                have = fgets(param, sizeof(param), f) != NULL;
                (void)fclose(f);
        }
        return umc_isotp_max_pdu_for(have ? param : NULL, uname(&u) == 0 ? u.release : NULL);
}

/* CAN FD data lengths above 8 (ISO 11898-1:2015 DLC 9..15). */
static unsigned fd_len(unsigned n) {
        static const unsigned lens[] = { 12, 16, 20, 24, 32, 48, 64 };

        if (n <= 8)
                return n;
        for (size_t i = 0; i < UMC_ELEMENTSOF(lens); i++)
                if (n <= lens[i])
                        return lens[i];
        return 64;
}

/* Add count frames of n bytes (PCI included) on the bus. */
static int add_frames(const struct umc_isotp_opts *o, unsigned n, uint64_t count,
                      enum umc_stuffing mode, enum umc_bitmodel model, struct umc_isotp_wire *w) {
        struct umc_can_frame f = { .eff = o->eff, .fd = o->fd, .brs = o->brs };
        unsigned total = 0, data = 0;
        int r;

        if (count == 0)
                return 0;
        f.len = (uint8_t)(o->fd ? fd_len(n) : o->padding ? 8 : n);
        if (o->fd && o->padding && n <= 8)
                f.len = 8;
        r = umc_busload_frame_bits(&f, mode, model, &total, &data);
        if (r < 0)
                return r;
        w->frames += count;
        w->arb_bits += count * (total - data);
        w->data_bits += count * data;
        return 0;
}

int umc_isotp_pdu_wire(size_t len, const struct umc_isotp_opts *opts, enum umc_stuffing mode,
                       enum umc_bitmodel model, struct umc_isotp_wire *ret) {
        struct umc_isotp_wire w = {};
        unsigned dl, ff_pci, ff_data;
        uint64_t cf, rest, fc;
        int r;

        if (!opts || !ret || len == 0 || len > 66000 || umc_isotp_opts_check(opts) < 0)
                return -EINVAL;
        if (mode == UMC_STUFF_EXACT)
                mode = UMC_STUFF_WORST;
        dl = opts->fd ? 64 : 8;
        /* Single frame: 1-byte PCI up to 7 bytes; CAN FD escapes to 2 bytes up to dl - 2. */
        if (len <= 7 || (opts->fd && len <= dl - 2)) {
                r = add_frames(opts, (unsigned)len + (len <= 7 ? 1 : 2), 1, mode, model, &w);
                if (r < 0)
                        return r;
                *ret = w;
                return 0;
        }
        ff_pci = len <= 4095 ? 2 : 6;
        ff_data = dl - ff_pci;
        r = add_frames(opts, dl, 1, mode, model, &w);
        if (r < 0)
                return r;
        rest = len - ff_data;
        cf = rest / (dl - 1);
        r = add_frames(opts, dl, cf, mode, model, &w);
        if (r >= 0 && rest % (dl - 1) != 0) {
                cf++;
                r = add_frames(opts, (unsigned)(rest % (dl - 1)) + 1, 1, mode, model, &w);
        }
        if (r < 0)
                return r;
        /* Flow control: after the first frame, then after every block of block_size CFs. */
        fc = 1 + (opts->block_size ? (cf - 1) / opts->block_size : 0);
        r = add_frames(opts, 3, fc, mode, model, &w);
        if (r < 0)
                return r;
        *ret = w;
        return 0;
}
