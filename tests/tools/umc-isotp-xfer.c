/* SPDX-License-Identifier: MIT */
/*
 * umc-isotp-xfer: the transfer engines over real kernel ISO-TP sockets.
 * One process opens two ISO-TP sockets on one CAN interface, the master's
 * (TX 0x7e0, RX 0x7e8) and the ECU's (TX 0x7e8, RX 0x7e0), and drives a
 * umc_sender on the first and a umc_receiver on the second with poll(),
 * both non-blocking: every frame crosses the kernel's ISO-TP stack as one
 * PDU. The receiver writes the image into OUTFILE through a file sink.
 *
 *   umc-isotp-xfer probe IF
 *   umc-isotp-xfer xfer IF IMAGE OUTFILE [--fd] [--padding] [--gap NS]
 *                  [--chunk N] [--max-pdu N] [--tamper-at N --tamper-file PATH]
 *
 * --tamper-at N: take the N-th DATA frame (from 0), flip one bit of its
 * ciphertext, write it as hex bytes to PATH (for `isotpsend`), print
 * "TAMPER-READY" and stop sending: the receiver's next PDU is whatever is
 * injected on the bus. A frame the receiver drops (it fails to open:
 * "receiver: dropped: REASON") changes nothing, so the untampered frame
 * then goes out and the transfer goes on. Exit status: 0 delivered
 * byte-identical (the sink committed), 3 the receiver rejected a frame
 * (reason printed), 1 any other failure, 2 usage.
 *
 * Sessions use a fixed test key, as tests/unit/test-xfer.c does.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "umc/xfer.h"
#include "umc/util.h"

#define MASTER_ID 0x7e0 /* ISO 15765-4 physical request ID of the first ECU */
#define ECU_ID 0x7e8    /* ... and its response ID */
#define ALL_SUITES ((1u << UMC_SUITE_AES_128_GCM) | (1u << UMC_SUITE_AES_256_GCM) | \
                    (1u << UMC_SUITE_CHACHA20_POLY1305) | (1u << UMC_SUITE_SM4_CTR_HMAC_SM3))
#define FRAME_MAX (UMC_FRAME_HEADER_LEN + UMC_FRAME_MAX_PAYLOAD)
#define REPLY_QUEUE 4
#define TIMEOUT_SEC 300

static uint8_t tx_frame[FRAME_MAX], rx_buf[FRAME_MAX + 1], reply_q[REPLY_QUEUE][FRAME_MAX];
static uint8_t held[FRAME_MAX]; /* the untampered frame, while paused for an injection */
static size_t held_len;
static bool dropped;            /* the receiver dropped a frame since the last look */
static size_t reply_len[REPLY_QUEUE];
static unsigned reply_head, reply_n;

struct args {
        const char *ifname, *image, *outfile, *tamper_file;
        bool fd, padding;
        uint32_t gap_ns, chunk;
        size_t max_pdu;
        long tamper_at;
};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- a sink writing OUTFILE ---- */

struct filesink {
        int fd;
        bool committed;
};

static int fs_begin(void *ud, const uint8_t id[UMC_MSG_IMAGE_ID_LEN], const char *version,
                    uint64_t image_len, uint64_t *ret) {
        struct filesink *f = ud;
        (void)id;
        (void)version;
        if (ftruncate(f->fd, (off_t)image_len) < 0)
                return -errno;
        *ret = 0;
        return 0;
}

static int fs_write(void *ud, uint64_t off, const void *data, size_t len) {
        struct filesink *f = ud;
        ssize_t n = pwrite(f->fd, data, len, (off_t)off);
        if (n < 0)
                return -errno;
        return (size_t)n == len ? 0 : -EIO;
}

static int fs_checkpoint(void *ud) {
        return fdatasync(((struct filesink *)ud)->fd) < 0 ? -errno : 0;
}

static int fs_read(void *ud, uint64_t off, void *buf, size_t len) {
        struct filesink *f = ud;
        ssize_t n = pread(f->fd, buf, len, (off_t)off);
        if (n < 0)
                return -errno;
        return (size_t)n == len ? 0 : -EIO;
}

static int fs_commit(void *ud) {
        struct filesink *f = ud;
        if (fsync(f->fd) < 0)
                return -errno;
        f->committed = true;
        return 0;
}

static void fs_abort(void *ud) {
        /* Nothing of a refused image stays behind. */
        if (ftruncate(((struct filesink *)ud)->fd, 0) < 0)
                fprintf(stderr, "umc-isotp-xfer: cannot empty the output: %m\n");
}

/* ---- helpers ---- */

static int sessions_new(size_t max_payload, struct umc_session **m, struct umc_session **e) {
        struct umc_session_params p = {
                .session_id = 0x150, .ecu_id = 0x10, .allowed_suites = ALL_SUITES,
                .replay_window = 64, .max_payload = max_payload,
        };
        int r;

        memset(p.master_key, 0x42, sizeof(p.master_key));
        memset(p.salt, 0x15, sizeof(p.salt));
        p.tx_dir = UMC_DIR_MASTER_TO_ECU;
        r = umc_session_new(&p, m);
        if (r >= 0) {
                p.tx_dir = UMC_DIR_ECU_TO_MASTER;
                r = umc_session_new(&p, e);
        }
        umc_memzero(&p, sizeof(p));
        return r;
}

static int write_hex(const char *path, const uint8_t *b, size_t len) {
        FILE *f = fopen(path, "we");
        if (!f)
                return -errno;
        for (size_t i = 0; i < len; i++)
                fprintf(f, "%02X%c", b[i], i + 1 == len ? '\n' : ' ');
        return fclose(f) < 0 ? -errno : 0;
}

static void reply_push(const uint8_t *b, size_t len) {
        unsigned slot = (reply_head + reply_n) % REPLY_QUEUE;
        if (reply_n == REPLY_QUEUE) {
                fprintf(stderr, "umc-isotp-xfer: reply queue full\n");
                exit(1);
        }
        memcpy(reply_q[slot], b, len);
        reply_len[slot] = len;
        reply_n++;
}

/* Hand a sender frame to the receiver engine. 1 when the transfer may go on. */
static int receiver_feed(struct umc_receiver *rx, const uint8_t *b, size_t len, int *ret_rc) {
        static uint8_t reply[FRAME_MAX];
        enum umc_reason reason = 0;
        size_t rlen = 0;
        int r;

        r = umc_receiver_input(rx, b, len, now_usec(), reply, sizeof(reply), &rlen, &reason);
        if (r == UMC_XFER_DROPPED) {
                printf("receiver: dropped: %s (0x%04x)\n", umc_reason_to_string(reason), reason);
                dropped = true;
                return 1;
        }
        while (r == -EINPROGRESS || r == 1) {
                r = umc_receiver_step(rx, 1 << 20, reply, sizeof(reply), &rlen, &reason);
                if (r == 0)
                        break;
                if (r != 1 && r != -EINPROGRESS)
                        break;
        }
        if (rlen > 0)
                reply_push(reply, rlen);
        if (r < 0) {
                printf("receiver: rejected: %s (0x%04x)\n", umc_reason_to_string(reason), reason);
                *ret_rc = 3;
                return 0;
        }
        return 1;
}

static int usage(void) {
        fprintf(stderr, "usage: umc-isotp-xfer probe IF\n"
                        "       umc-isotp-xfer xfer IF IMAGE OUTFILE [--fd] [--padding] [--gap NS]\n"
                        "              [--chunk N] [--max-pdu N] [--tamper-at N --tamper-file PATH]\n");
        return 2;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 0);
        if (errno || end == s || *end || s[0] == '-' || v > max)
                return -EINVAL;
        *ret = (uint32_t)v;
        return 0;
}

static int parse_args(int argc, char **argv, struct args *a) {
        uint32_t v;

        *a = (struct args){ .chunk = 4000, .max_pdu = 8200, .tamper_at = -1 };
        if (argc < 5)
                return -EINVAL;
        a->ifname = argv[2];
        a->image = argv[3];
        a->outfile = argv[4];
        for (int i = 5; i < argc; i++) {
                const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

                if (strcmp(o, "--fd") == 0)
                        a->fd = true;
                else if (strcmp(o, "--padding") == 0)
                        a->padding = true;
                else if (val && strcmp(o, "--gap") == 0 && parse_u32(val, UINT32_MAX - 1, &v) == 0)
                        a->gap_ns = v, i++;
                else if (val && strcmp(o, "--chunk") == 0 && parse_u32(val, UMC_MSG_DATA_MAX, &v) == 0 && v)
                        a->chunk = v, i++;
                else if (val && strcmp(o, "--max-pdu") == 0 && parse_u32(val, 66000, &v) == 0 && v > 64)
                        a->max_pdu = v, i++;
                else if (val && strcmp(o, "--tamper-at") == 0 && parse_u32(val, 1u << 20, &v) == 0)
                        a->tamper_at = v, i++;
                else if (val && strcmp(o, "--tamper-file") == 0)
                        a->tamper_file = val, i++;
                else
                        return -EINVAL;
        }
        if ((a->tamper_at >= 0) != (a->tamper_file != NULL))
                return -EINVAL;
        return 0;
}

static int open_pair(const struct args *a, int *m, int *e) {
        struct umc_isotp_opts o;
        int r;

        umc_isotp_opts_default(&o);
        o.fd = o.brs = a->fd;
        o.padding = a->padding;
        o.frame_gap_ns = a->gap_ns;
        o.tx_id = MASTER_ID;
        o.rx_id = ECU_ID;
        r = umc_isotp_open(a->ifname, &o, m);
        if (r < 0)
                return r;
        o.tx_id = ECU_ID;
        o.rx_id = MASTER_ID;
        return umc_isotp_open(a->ifname, &o, e);
}

/* ---- the loop ---- */

static int run_xfer(const struct args *a) {
        _cleanup_close_ int img = -1, out = -1, m = -1, e = -1;
        struct umc_session *ms = NULL, *es = NULL;
        struct umc_sender *tx = NULL;
        struct umc_receiver *rx = NULL;
        struct umc_rotation rot;
        struct umc_rotation_cfg rcfg;
        struct umc_sender_params sp = { .hash_alg = UMC_HASH_SHA256, .verify_every = 0 };
        struct filesink sink = {};
        struct umc_sink ops = { fs_begin, fs_write, fs_checkpoint, fs_read, fs_commit, fs_abort,
                                &sink, NULL };
        struct stat st;
        size_t tx_len = 0, max_payload = umc_isotp_max_payload(a->max_pdu);
        uint64_t start = now_usec(), frames = 0, data_frames = 0;
        unsigned rotations = 0;
        bool paused = false, sender_done = false;
        int rc = 1, r;

        img = open(a->image, O_RDONLY | O_CLOEXEC);
        out = open(a->outfile, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (img < 0 || out < 0 || fstat(img, &st) < 0 || st.st_size == 0) {
                fprintf(stderr, "umc-isotp-xfer: cannot open %s / %s: %m\n", a->image, a->outfile);
                return 1;
        }
        sink.fd = out;
        r = open_pair(a, &m, &e);
        if (r < 0) {
                fprintf(stderr, "umc-isotp-xfer: ISO-TP on %s: %s\n", a->ifname, strerror(-r));
                return 1;
        }

        /* The image hash, as the verified manifest would give it. */
        {
                struct umc_hash h;
                static uint8_t buf[1 << 16];
                ssize_t n;
                off_t off = 0;

                if (umc_hash_init(&h, UMC_HASH_SHA256) < 0)
                        return 1;
                while ((n = pread(img, buf, sizeof(buf), off)) > 0) {
                        (void)umc_hash_update(&h, buf, (size_t)n);
                        off += n;
                }
                r = umc_hash_final(&h, sp.image_hash);
                umc_hash_done(&h);
                if (n < 0 || r < 0)
                        return 1;
        }
        sp.image_fd = img;
        sp.image_len = (uint64_t)st.st_size;
        sp.chunk_len = a->chunk;
        memset(sp.image_id, 0xab, sizeof(sp.image_id));
        strcpy(sp.version, "isotp-test");

        umc_rotation_cfg_default(&rcfg);
        rcfg.interval_usec = 100 * USEC_PER_MSEC; /* rotations even in short test transfers */
        if (sessions_new(max_payload, &ms, &es) < 0 || umc_rotation_init(&rot, &rcfg, now_usec()) < 0 ||
            umc_sender_new(&sp, ms, &rot, &tx) < 0 || umc_receiver_new(es, &ops, 1u << 30, &rx) < 0) {
                fprintf(stderr, "umc-isotp-xfer: cannot set up the engines (chunk %u, max payload %zu)\n",
                        a->chunk, max_payload);
                goto finish;
        }

        for (;;) {
                struct pollfd p[2] = { { .fd = m, .events = POLLIN }, { .fd = e, .events = POLLIN } };
                enum umc_reason reason = 0;
                size_t len;

                if (now_usec() - start > TIMEOUT_SEC * USEC_PER_SEC) {
                        fprintf(stderr, "umc-isotp-xfer: timed out\n");
                        goto finish;
                }
                if (umc_sender_state(tx) == UMC_SENDER_DONE && umc_receiver_state(rx) == UMC_RECEIVER_DONE &&
                    reply_n == 0)
                        break;

                /* Master: the next frame, unless one is waiting or we paused for an injection. */
                if (tx_len == 0 && !paused && !sender_done) {
                        enum umc_rotation_cause cause = UMC_ROTATE_NONE;

                        r = umc_sender_next(tx, now_usec(), UMC_LOAD_NORMAL, tx_frame, sizeof(tx_frame),
                                            &tx_len, &cause);
                        if (r == -ESHUTDOWN)
                                sender_done = true, tx_len = 0;
                        else if (r == -EAGAIN)
                                tx_len = 0;
                        else if (r < 0) {
                                fprintf(stderr, "umc-isotp-xfer: sender: %s\n", strerror(-r));
                                goto finish;
                        } else {
                                if (cause != UMC_ROTATE_NONE)
                                        rotations++;
                                if (tx_frame[3] == UMC_FRAME_DATA && (long)data_frames++ == a->tamper_at) {
                                        memcpy(held, tx_frame, tx_len);
                                        held_len = tx_len;
                                        tx_frame[tx_len - 20] ^= 0x04; /* in the ciphertext */
                                        if (write_hex(a->tamper_file, tx_frame, tx_len) < 0)
                                                goto finish;
                                        printf("TAMPER-READY %zu bytes\n", tx_len);
                                        fflush(stdout);
                                        paused = true;
                                        tx_len = 0;
                                }
                        }
                }
                if (tx_len > 0) {
                        r = umc_isotp_send(m, tx_frame, tx_len);
                        if (r == 0)
                                tx_len = 0, frames++;
                        else if (r != -EAGAIN) {
                                fprintf(stderr, "umc-isotp-xfer: send: %s\n", strerror(-r));
                                goto finish;
                        }
                }
                /* ECU: its replies, in order. */
                while (reply_n > 0) {
                        r = umc_isotp_send(e, reply_q[reply_head], reply_len[reply_head]);
                        if (r == -EAGAIN)
                                break;
                        if (r < 0) {
                                fprintf(stderr, "umc-isotp-xfer: reply: %s\n", strerror(-r));
                                goto finish;
                        }
                        reply_head = (reply_head + 1) % REPLY_QUEUE;
                        reply_n--;
                }
                if (rc == 3 && reply_n == 0)
                        goto finish; /* rejected, and the STOP went out */

                if (tx_len > 0)
                        p[0].events |= POLLOUT;
                if (reply_n > 0)
                        p[1].events |= POLLOUT;
                r = poll(p, 2, tx_len == 0 && !paused && !sender_done ? 0 : 1000);
                if (r < 0 && errno != EINTR)
                        goto finish;

                r = umc_isotp_recv(e, rx_buf, sizeof(rx_buf), &len);
                if (r == 0) {
                        if (!receiver_feed(rx, rx_buf, len, &rc) && reply_n == 0)
                                goto finish;
                        if (dropped && paused) {
                                /* The injection was dropped: now the real frame. */
                                memcpy(tx_frame, held, held_len);
                                tx_len = held_len;
                                paused = false;
                        }
                        dropped = false;
                } else if (r != -EAGAIN) {
                        fprintf(stderr, "umc-isotp-xfer: ECU recv: %s\n", strerror(-r));
                        goto finish;
                }
                r = umc_isotp_recv(m, rx_buf, sizeof(rx_buf), &len);
                if (r == 0) {
                        r = umc_sender_input(tx, rx_buf, len, &reason);
                        if (r < 0 && rc != 3) {
                                fprintf(stderr, "umc-isotp-xfer: sender stopped: %s\n",
                                        umc_reason_to_string(reason));
                                goto finish;
                        }
                } else if (r != -EAGAIN) {
                        fprintf(stderr, "umc-isotp-xfer: master recv: %s\n", strerror(-r));
                        goto finish;
                }
        }

        if (sink.committed) {
                double secs = (double)(now_usec() - start) / 1e6;
                printf("xfer: %s %llu bytes in %.2f s (%.1f kB/s), %llu frames, %u rotations, chunk %u\n",
                       a->fd ? "CAN FD" : "classic", (unsigned long long)sp.image_len, secs,
                       (double)sp.image_len / 1000.0 / secs, (unsigned long long)frames, rotations, a->chunk);
                rc = 0;
        }
finish:
        umc_sender_free(tx);
        umc_receiver_free(rx);
        umc_session_free(ms);
        umc_session_free(es);
        return rc;
}

static int run_probe(const char *ifname) {
        size_t max_pdu;
        int r = umc_isotp_probe_max_pdu(ifname, &max_pdu);

        if (r < 0) {
                fprintf(stderr, "umc-isotp-xfer: probe on %s: %s\n", ifname, strerror(-r));
                return 1;
        }
        printf("max PDU %zu bytes, max frame payload %zu bytes\n", max_pdu,
               umc_isotp_max_payload(max_pdu));
        return 0;
}

int main(int argc, char **argv) {
        struct args a;

        if (argc == 3 && strcmp(argv[1], "probe") == 0)
                return run_probe(argv[2]);
        if (argc >= 5 && strcmp(argv[1], "xfer") == 0) {
                if (parse_args(argc, argv, &a) < 0)
                        return usage();
                return run_xfer(&a);
        }
        return usage();
}
