/* SPDX-License-Identifier: MIT */
/*
 * isotpcopy: the kernel's own ISO-TP ceiling, the baseline of bench/can.
 * One process opens two ISO-TP sockets on one CAN interface with the
 * library's umc_isotp_open(), so with exactly the settings a delivery uses
 * (padding 0xCC, BS 0, STmin 0, no frame gap, the same receive buffer, CAN
 * FD with BRS when asked): the sender's (TX 0x7e0, RX 0x7e8) and the
 * receiver's (TX 0x7e8, RX 0x7e0). It cuts FILE into PDUs of --pdu bytes,
 * writes them back to back and stores what arrives in OUTFILE, fsynced
 * once at the end. No umc framing, no encryption, no checkpoints: raw
 * bytes, one PDU in flight at a time, as a delivery has.
 *
 *   isotpcopy IF FILE OUTFILE [--pdu BYTES] [--fd]
 *
 * Prints "isotpcopy: BYTES bytes in PDUS PDUs of N bytes in S s (R kB/s)"
 * (first write to the fsync of the last byte). Exit status 0 when every
 * byte arrived in order, 1 on an error (named on standard error), 2 on a
 * usage error. The caller compares OUTFILE with FILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "umc/isotp.h"
#include "umc/util.h"

#define SENDER_ID 0x7e0   /* ISO 15765-4 physical request ID, as in bench/can/run */
#define RECEIVER_ID 0x7e8 /* ... and its response ID */
#define PDU_MAX 66000     /* the largest PDU any kernel takes (isotp.h) */
/* umc's DATA PDU with AES-128-GCM: 28 header + 8 offset + 4000 data + 16 tag. */
#define PDU_DEFAULT 4052
/* Give up when nothing moves for this long: a lost PDU never comes back. */
#define STALL_MSEC 20000

struct args {
        const char *ifname, *image, *outfile;
        size_t pdu;
        bool fd;
};

struct copy {
        int img, out, tx, rx;
        uint64_t len, sent, received, pdus;
        size_t pending; /* bytes of txbuf waiting for the socket */
        uint8_t txbuf[PDU_MAX], rxbuf[PDU_MAX + 1];
};

static uint64_t now_msec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int usage(void) {
        fprintf(stderr, "usage: isotpcopy IF FILE OUTFILE [--pdu BYTES] [--fd]\n");
        return 2;
}

static int parse_args(int argc, char **argv, struct args *a) {
        *a = (struct args){ .pdu = PDU_DEFAULT };
        if (argc < 4)
                return -EINVAL;
        a->ifname = argv[1];
        a->image = argv[2];
        a->outfile = argv[3];
        for (int i = 4; i < argc; i++) {
                if (strcmp(argv[i], "--fd") == 0) {
                        a->fd = true;
                } else if (strcmp(argv[i], "--pdu") == 0 && i + 1 < argc) {
                        char *end;
                        unsigned long v;

                        errno = 0;
                        v = strtoul(argv[++i], &end, 10);
                        if (errno != 0 || *end != '\0' || argv[i][0] == '-' || v < 1 || v > PDU_MAX)
                                return -EINVAL;
                        a->pdu = v;
                } else {
                        return -EINVAL;
                }
        }
        return 0;
}

static int open_pair(const struct args *a, struct copy *c) {
        struct umc_isotp_opts o;
        int r;

        /* Padding as umcd's and the agent's default (Padding=yes, PadByte=CC). */
        umc_isotp_opts_default(&o);
        o.padding = true;
        o.fd = o.brs = a->fd;
        o.tx_id = SENDER_ID;
        o.rx_id = RECEIVER_ID;
        r = umc_isotp_open(a->ifname, &o, &c->tx);
        if (r < 0)
                return r;
        o.tx_id = RECEIVER_ID;
        o.rx_id = SENDER_ID;
        return umc_isotp_open(a->ifname, &o, &c->rx);
}

/* Hand the next PDU to the sender's socket. 1 when something moved. */
static int send_step(struct copy *c, size_t pdu) {
        int r;

        if (c->pending == 0 && c->sent < c->len) {
                size_t n = c->len - c->sent < pdu ? (size_t)(c->len - c->sent) : pdu;
                ssize_t k = pread(c->img, c->txbuf, n, (off_t)c->sent);

                if (k < 0)
                        return -errno;
                if ((size_t)k != n)
                        return -EIO; /* the file shrank under us */
                c->pending = n;
        }
        if (c->pending == 0)
                return 0;
        r = umc_isotp_send(c->tx, c->txbuf, c->pending);
        if (r == -EAGAIN)
                return 0; /* the previous PDU is still on the bus */
        if (r < 0)
                return r;
        c->sent += c->pending;
        c->pending = 0;
        return 1;
}

/* Take one PDU off the receiver's socket. 1 when something moved. */
static int recv_step(struct copy *c, size_t pdu) {
        uint64_t want = c->len - c->received < pdu ? c->len - c->received : pdu;
        size_t got = 0;
        ssize_t k;
        int r;

        r = umc_isotp_recv(c->rx, c->rxbuf, sizeof(c->rxbuf), &got);
        if (r == -EAGAIN)
                return 0;
        if (r < 0)
                return r;
        /* PDUs arrive whole and in order: any other length is a lost or foreign one. */
        if (got != want)
                return -EBADMSG;
        k = pwrite(c->out, c->rxbuf, got, (off_t)c->received);
        if (k < 0)
                return -errno;
        if ((size_t)k != got)
                return -EIO;
        c->received += got;
        c->pdus++;
        return 1;
}

static int copy_loop(struct copy *c, size_t pdu) {
        uint64_t last_move = now_msec();

        while (c->received < c->len) {
                struct pollfd p[2] = {
                        { .fd = c->tx, .events = POLLOUT },
                        { .fd = c->rx, .events = POLLIN },
                };
                int s, r;

                s = send_step(c, pdu);
                if (s < 0)
                        return s;
                r = recv_step(c, pdu);
                if (r < 0)
                        return r;
                if (s > 0 || r > 0) {
                        last_move = now_msec();
                        continue;
                }
                if (now_msec() - last_move > STALL_MSEC)
                        return -ETIMEDOUT;
                /* Wait for the socket that can move next; the timeout only bounds a missed wake-up. */
                if (poll(c->pending > 0 ? p : p + 1, c->pending > 0 ? 2 : 1, 1000) < 0 && errno != EINTR)
                        return -errno;
        }
        return fsync(c->out) < 0 ? -errno : 0;
}

int main(int argc, char **argv) {
        static struct copy c = { .img = -1, .out = -1, .tx = -1, .rx = -1 };
        _cleanup_close_ int img = -1, out = -1, tx = -1, rx = -1;
        struct args a;
        struct stat st;
        uint64_t t0;
        double secs;
        int r;

        if (parse_args(argc, argv, &a) < 0)
                return usage();
        img = open(a.image, O_RDONLY | O_CLOEXEC);
        if (img < 0 || fstat(img, &st) < 0) {
                fprintf(stderr, "isotpcopy: cannot read %s: %m\n", a.image);
                return 1;
        }
        if (st.st_size == 0) {
                fprintf(stderr, "isotpcopy: %s is empty\n", a.image);
                return 1;
        }
        out = open(a.outfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (out < 0) {
                fprintf(stderr, "isotpcopy: cannot create %s: %m\n", a.outfile);
                return 1;
        }
        c.img = img;
        c.out = out;
        c.len = (uint64_t)st.st_size;
        r = open_pair(&a, &c);
        tx = c.tx;
        rx = c.rx;
        if (r < 0) {
                fprintf(stderr, "isotpcopy: cannot open ISO-TP sockets on %s: %s\n", a.ifname, strerror(-r));
                return 1;
        }

        t0 = now_msec();
        r = copy_loop(&c, a.pdu);
        if (r < 0) {
                fprintf(stderr, "isotpcopy: stopped after %" PRIu64 " of %" PRIu64 " bytes: %s\n", c.received,
                        c.len, strerror(-r));
                return 1;
        }
        secs = (double)(now_msec() - t0) / 1000.0;
        if (secs <= 0)
                secs = 0.001;
        printf("isotpcopy: %" PRIu64 " bytes in %" PRIu64 " PDUs of %zu bytes in %.2f s (%.1f kB/s)\n", c.len,
               c.pdus, a.pdu, secs, (double)c.len / secs / 1000.0);
        return 0;
}
