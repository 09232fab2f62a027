/* SPDX-License-Identifier: MIT */
/*
 * umc-canpdu: an attacker on the CAN bus, for tests/integration/test-can.sh.
 *
 *   umc-canpdu capture IF SRC_ID DST_ID INDEX OUTFILE [--fd] [--timeout SEC]
 *       Listen (CAN_ISOTP_LISTEN_MODE: no flow control of our own, the
 *       transfer is not disturbed) to the PDUs SRC_ID sends to DST_ID and
 *       write the INDEX-th (from 0) to OUTFILE, raw. Prints "CAPTURED LEN".
 *   umc-canpdu send IF TX_ID RX_ID FILE [--fd] [--seq-add N] [--flip OFF]
 *                   [--truncate LEN] [--idle-ms MS] [--count N]
 *       Send FILE as one PDU from TX_ID (flow control on RX_ID), after
 *       adding N to the frame header's sequence number (bytes 16..19, big
 *       endian), flipping the bits of byte OFF and/or cutting it to LEN bytes.
 *       --idle-ms: first wait until the bus was silent for MS ms, so
 *       the PDU goes between the real sender's PDUs instead of through one
 *       (which would garble both and test the kernel, not umc).
 *       --count: send it N times back to back (a burst; a PDU of at most 7
 *       bytes is one CAN frame, so a burst of them is over in a moment).
 *
 * IDs are hex, 3 digits (11-bit) or 8 (29-bit). Exit status 0 on success,
 * 1 on failure (said on stderr), 2 for a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/can.h>
#include <linux/can/isotp.h>
#include <linux/can/raw.h>

#include "umc/frame.h"
#include "umc/isotp.h"
#include "umc/util.h"

#define PDU_MAX 66000

static int usage(void) {
        fprintf(stderr, "usage: umc-canpdu capture IF SRC_ID DST_ID INDEX OUTFILE [--fd] [--timeout SEC]\n"
                        "       umc-canpdu send IF TX_ID RX_ID FILE [--fd] [--seq-add N] [--flip OFF] "
                        "[--truncate LEN] [--idle-ms MS] [--count N]\n");
        return 2;
}

static int parse_id(const char *s, uint32_t *ret_id, bool *ret_eff) {
        size_t n = strlen(s);
        char *end;
        unsigned long v;

        if (n != 3 && n != 8)
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 16);
        if (errno || *end || v > (n == 3 ? UMC_ISOTP_SFF_MAX : UMC_ISOTP_EFF_MAX))
                return -EINVAL;
        *ret_id = (uint32_t)v;
        *ret_eff = n == 8;
        return 0;
}

/* A listen-mode ISO-TP socket: the raw API, since umc_isotp_open() never listens only. */
static int open_listener(const char *ifname, uint32_t src, uint32_t dst, bool eff, bool fd) {
        struct can_isotp_options o = { .flags = CAN_ISOTP_LISTEN_MODE };
        struct sockaddr_can a = { .can_family = AF_CAN };
        int s;

        a.can_ifindex = (int)if_nametoindex(ifname);
        if (a.can_ifindex == 0)
                return -ENODEV;
        s = socket(PF_CAN, SOCK_DGRAM | SOCK_CLOEXEC, CAN_ISOTP);
        if (s < 0)
                return -errno;
        if (setsockopt(s, SOL_CAN_ISOTP, CAN_ISOTP_OPTS, &o, sizeof(o)) < 0)
                goto fail;
        if (fd) {
                struct can_isotp_ll_options ll = { .mtu = CANFD_MTU, .tx_dl = CANFD_MAX_DLEN };
                if (setsockopt(s, SOL_CAN_ISOTP, CAN_ISOTP_LL_OPTS, &ll, sizeof(ll)) < 0)
                        goto fail;
        }
        /* We receive what src sends: our rx_id is src, our (unused) tx_id dst. */
        a.can_addr.tp.rx_id = src | (eff ? CAN_EFF_FLAG : 0);
        a.can_addr.tp.tx_id = dst | (eff ? CAN_EFF_FLAG : 0);
        if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0)
                goto fail;
        return s;
fail:
        {
                int e = -errno;
                (void)close(s);
                return e;
        }
}

static int capture(int argc, char **argv) {
        uint32_t src, dst;
        bool eff, eff2, fd = false;
        long index, timeout = 60;
        static uint8_t buf[PDU_MAX];
        time_t deadline;
        int s, out;

        if (argc < 7 || parse_id(argv[3], &src, &eff) < 0 || parse_id(argv[4], &dst, &eff2) < 0 ||
            eff != eff2)
                return usage();
        index = strtol(argv[5], NULL, 10);
        for (int i = 7; i < argc; i++) {
                if (strcmp(argv[i], "--fd") == 0)
                        fd = true;
                else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
                        timeout = strtol(argv[++i], NULL, 10);
                else
                        return usage();
        }
        s = open_listener(argv[2], src, dst, eff, fd);
        if (s < 0) {
                fprintf(stderr, "umc-canpdu: cannot listen on %s: %s\n", argv[2], strerror(-s));
                return 1;
        }
        deadline = time(NULL) + timeout;
        for (long seen = 0;;) {
                struct pollfd p = { .fd = s, .events = POLLIN };
                ssize_t n;

                if (time(NULL) >= deadline) {
                        fprintf(stderr, "umc-canpdu: only %ld PDUs within %ld s\n", seen, timeout);
                        return 1;
                }
                if (poll(&p, 1, 1000) <= 0)
                        continue;
                n = read(s, buf, sizeof(buf));
                if (n <= 0)
                        continue; /* a protocol error on someone else's PDU: not ours to judge */
                if (seen++ < index)
                        continue;
                out = open(argv[6], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (out < 0 || write(out, buf, (size_t)n) != n || close(out) < 0) {
                        fprintf(stderr, "umc-canpdu: cannot write %s: %m\n", argv[6]);
                        return 1;
                }
                printf("CAPTURED %zd\n", n);
                return 0;
        }
}

/* Wait until the bus was silent for idle_ms (CAN_RAW sees the kernel's loopback too). */
static int wait_idle(const char *ifname, long idle_ms) {
        struct sockaddr_can addr = { .can_family = AF_CAN };
        struct canfd_frame f;
        int s, one = 1;

        addr.can_ifindex = (int)if_nametoindex(ifname);
        s = socket(PF_CAN, SOCK_RAW | SOCK_CLOEXEC, CAN_RAW);
        if (s < 0 || addr.can_ifindex == 0)
                return -ENODEV;
        (void)setsockopt(s, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, &one, sizeof(one));
        if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
                (void)close(s);
                return -errno;
        }
        for (int rounds = 0; rounds < 600; rounds++) {
                struct pollfd p = { .fd = s, .events = POLLIN };

                if (poll(&p, 1, (int)idle_ms) == 0)
                        break; /* quiet for idle_ms */
                if (read(s, &f, sizeof(f)) < 0 && errno != EAGAIN && errno != EINTR)
                        break;
        }
        (void)close(s);
        return 0;
}

static int send_pdu(int argc, char **argv) {
        struct umc_isotp_opts o;
        static uint8_t buf[PDU_MAX];
        long seq_add = 0, flip = -1, truncate_to = -1, idle_ms = 0, count = 1;
        bool eff2;
        ssize_t n;
        int in, s, r;

        umc_isotp_opts_default(&o);
        o.padding = true;
        if (argc < 6 || parse_id(argv[3], &o.tx_id, &o.eff) < 0 ||
            parse_id(argv[4], &o.rx_id, &eff2) < 0 || o.eff != eff2)
                return usage();
        for (int i = 6; i < argc; i++) {
                if (strcmp(argv[i], "--fd") == 0)
                        o.fd = o.brs = true;
                else if (strcmp(argv[i], "--seq-add") == 0 && i + 1 < argc)
                        seq_add = strtol(argv[++i], NULL, 10);
                else if (strcmp(argv[i], "--flip") == 0 && i + 1 < argc)
                        flip = strtol(argv[++i], NULL, 10);
                else if (strcmp(argv[i], "--truncate") == 0 && i + 1 < argc)
                        truncate_to = strtol(argv[++i], NULL, 10);
                else if (strcmp(argv[i], "--idle-ms") == 0 && i + 1 < argc)
                        idle_ms = strtol(argv[++i], NULL, 10);
                else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
                        count = strtol(argv[++i], NULL, 10);
                else
                        return usage();
        }
        in = open(argv[5], O_RDONLY | O_CLOEXEC);
        n = in < 0 ? -1 : read(in, buf, sizeof(buf));
        if (in >= 0)
                (void)close(in);
        if (n < UMC_FRAME_HEADER_LEN) {
                fprintf(stderr, "umc-canpdu: %s is not a frame\n", argv[5]);
                return 1;
        }
        if (seq_add != 0) {
                uint32_t seq = ((uint32_t)buf[16] << 24 | (uint32_t)buf[17] << 16 |
                                (uint32_t)buf[18] << 8 | buf[19]) + (uint32_t)seq_add;
                buf[16] = (uint8_t)(seq >> 24);
                buf[17] = (uint8_t)(seq >> 16);
                buf[18] = (uint8_t)(seq >> 8);
                buf[19] = (uint8_t)seq;
        }
        if (flip >= 0 && flip < n)
                buf[flip] ^= 0xff;
        if (truncate_to > 0 && truncate_to < n)
                n = truncate_to;
        if (idle_ms > 0 && wait_idle(argv[2], idle_ms) < 0) {
                fprintf(stderr, "umc-canpdu: cannot watch %s\n", argv[2]);
                return 1;
        }
        r = umc_isotp_open(argv[2], &o, &s);
        if (r < 0) {
                fprintf(stderr, "umc-canpdu: cannot open ISO-TP on %s: %s\n", argv[2], strerror(-r));
                return 1;
        }
        for (long k = 0; k < count; k++) {
                r = -EAGAIN;
                for (int tries = 0; tries < 1000 && r == -EAGAIN; tries++) {
                        r = umc_isotp_send(s, buf, (size_t)n);
                        if (r == -EAGAIN)
                                (void)poll(&(struct pollfd){ .fd = s, .events = POLLOUT }, 1, 10);
                }
                if (r < 0) {
                        fprintf(stderr, "umc-canpdu: cannot send: %s\n", strerror(-r));
                        (void)close(s);
                        return 1;
                }
        }
        /* Closing waits for the PDU to leave (the kernel's isotp_release()). */
        (void)close(s);
        printf("SENT %ld x %zd\n", count, n);
        return 0;
}

int main(int argc, char **argv) {
        if (argc >= 2 && strcmp(argv[1], "capture") == 0)
                return capture(argc, argv);
        if (argc >= 2 && strcmp(argv[1], "send") == 0)
                return send_pdu(argc, argv);
        return usage();
}
