/* SPDX-License-Identifier: MIT */
/*
 * Writes the binary seeds of the fuzz targets, built with the library
 * itself so that each one is a real frame, body, PDU list or kernel
 * answer: `make fuzz-seeds` runs it from the repository root and writes
 * fuzz/corpus/NAME/seed-* (the text seeds, config files, manifests and
 * key files, are committed as they are). Layouts are those the targets'
 * header comments describe.
 */
#include <errno.h>
#include <linux/can.h>
#include <linux/can/netlink.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "umc/auth.h"
#include "umc/frame.h"
#include "umc/msg.h"
#include "umc/netinfo.h"
#include "umc/session.h"
#include "umc/util.h"

#define DIE(...) do { fprintf(stderr, "fuzz-seeds: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)
#define MAX_PAYLOAD (4095 - UMC_FRAME_HEADER_LEN)

static const uint8_t key[UMC_MASTER_KEY_LEN] = { 0x11, 0x22, 0x33 }; /* fuzz-agent-pdu.c's */

static void put(const char *target, const char *name, const void *data, size_t len) {
        char path[256];
        FILE *f;

        (void)snprintf(path, sizeof(path), "fuzz/corpus/%s/seed-%s", target, name);
        f = fopen(path, "we");
        if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
                DIE("%s: %s", path, strerror(errno));
}

struct buf {
        uint8_t b[16384];
        size_t n;
};

static void add(struct buf *b, const void *p, size_t n) {
        if (b->n + n > sizeof(b->b))
                DIE("seed too large");
        memcpy(b->b + b->n, p, n);
        b->n += n;
}

static void add_u8(struct buf *b, uint8_t v) {
        add(b, &v, 1);
}

static void add_be16(struct buf *b, uint16_t v) {
        uint8_t p[2] = { (uint8_t)(v >> 8), (uint8_t)v };
        add(b, p, 2);
}

static void add_be32(struct buf *b, uint32_t v) {
        add_be16(b, (uint16_t)(v >> 16));
        add_be16(b, (uint16_t)v);
}

/* A length-prefixed PDU, as fuzz-agent-pdu.c reads them. */
static void add_pdu(struct buf *b, const void *p, size_t n) {
        add_be16(b, (uint16_t)n);
        add(b, p, n);
}

/* ---- bodies ---- */

struct bodies {
        uint8_t b[9][512];
        int n[9];
};

static void make_bodies(struct bodies *x) {
        struct umc_msg_data d = { .offset = 4096, .data = (const uint8_t *)"image bytes", .data_len = 11 };
        struct umc_msg_begin bg = { .image_len = 8192, .hash_alg = UMC_HASH_SHA256, .verify_every = 4,
                                    .chunk_len = 1024, .image_id = { 0xab }, .version = "1.2.3" };
        struct umc_msg_verify v = { .time_usec = 1000, .checkpoint = 1, .start = 0, .end = 4096,
                                    .n_frames = 4, .digest = { 1 } };
        struct umc_msg_transport t = { .hash_alg = UMC_HASH_SM3, .key_id = 1, .image_len = 8192,
                                       .hash = { 2 } };
        struct umc_msg_feedback fb = { .code = UMC_FEEDBACK_STOP, .reason = UMC_REASON_TAG_MISMATCH,
                                       .checkpoint = 3, .offset = 12288 };
        struct umc_msg_auth_challenge ch = { .nonce_m = { 3 } };
        struct umc_msg_auth_response rs = { .nonce_e = { 4 }, .hw_id = "ECU-7", .mac = { 5 } };
        struct umc_msg_auth_confirm cf = { .mac = { 6 } };
        struct umc_msg_alarm al = { .reason = UMC_REASON_REPLAYED, .text = "replayed frame" };

        x->n[0] = umc_msg_data_encode(&d, x->b[0], sizeof(x->b[0]));
        x->n[1] = umc_msg_begin_encode(&bg, x->b[1], sizeof(x->b[1]));
        x->n[2] = umc_msg_verify_encode(&v, x->b[2], sizeof(x->b[2]));
        x->n[3] = umc_msg_transport_encode(&t, x->b[3], sizeof(x->b[3]));
        x->n[4] = umc_msg_feedback_encode(&fb, x->b[4], sizeof(x->b[4]));
        x->n[5] = umc_msg_auth_challenge_encode(&ch, x->b[5], sizeof(x->b[5]));
        x->n[6] = umc_msg_auth_response_encode(&rs, x->b[6], sizeof(x->b[6]));
        x->n[7] = umc_msg_auth_confirm_encode(&cf, x->b[7], sizeof(x->b[7]));
        x->n[8] = umc_msg_alarm_encode(&al, x->b[8], sizeof(x->b[8]));
        for (int i = 0; i < 9; i++)
                if (x->n[i] < 0)
                        DIE("body %d: %d", i, x->n[i]);
}

/* fuzz-msg's selectors 9 and 10: STATUS_QUERY, and STATUS with and without a partial image. */
static void seeds_msg_status(void) {
        struct umc_msg_status_query q = { .what = UMC_MSG_STATUS_QUERY_SLOTS };
        struct umc_msg_status st[2] = {
                { .active = 'b', .previous = 'a', .version_a = "1.0", .version_b = "1.1" },
                { .active = 'a', .flags = UMC_MSG_STATUS_PARTIAL | UMC_MSG_STATUS_GATEWAY,
                  .version_a = "2.0", .partial_version = "2.1", .partial_len = 8192,
                  .partial_offset = 4096, .partial_age_sec = 30 },
        };
        static const char *const names[2] = { "status", "status-partial" };
        struct buf b = {};
        int n;

        add_u8(&b, 9);
        n = umc_msg_status_query_encode(&q, b.b + 1, sizeof(b.b) - 1);
        if (n < 0)
                DIE("status query: %d", n);
        put("msg", "status-query", b.b, 1 + (size_t)n);
        for (int i = 0; i < 2; i++) {
                b.b[0] = 10;
                n = umc_msg_status_encode(&st[i], b.b + 1, sizeof(b.b) - 1);
                if (n < 0)
                        DIE("status %d: %d", i, n);
                put("msg", names[i], b.b, 1 + (size_t)n);
        }
}

/* fuzz-msg: a selector byte (fuzz-msg.c's decoder order) and the body. */
static void seeds_msg(const struct bodies *x) {
        static const char *const names[] = { "data", "begin", "verify", "transport", "feedback",
                                             "challenge", "response", "confirm", "alarm" };
        for (int i = 0; i < 9; i++) {
                struct buf b = {};
                add_u8(&b, (uint8_t)i);
                add(&b, x->b[i], (size_t)x->n[i]);
                put("msg", names[i], b.b, b.n);
        }
        seeds_msg_status();
}

/* ---- frames ---- */

static struct umc_session *session(enum umc_direction dir, enum umc_suite_id suite) {
        struct umc_session_params p = {
                .salt = { 0x5a }, .session_id = 2, .ecu_id = 7, .tx_dir = dir,
                .allowed_suites = 0x1e, .replay_window = 64, .max_payload = MAX_PAYLOAD,
        };
        struct umc_session *s;

        memcpy(p.master_key, key, sizeof(key));
        if (umc_session_new(&p, &s) < 0 || umc_session_set_tx_key(s, 1, suite) < 0)
                DIE("session");
        return s;
}

static size_t auth_frames(uint8_t f[3][512], size_t n[3]) {
        struct umc_frame_header h = { .session_id = 1, .ecu_id = 7 };
        static const uint8_t nm[UMC_MSG_NONCE_LEN] = { 9 }, ne[UMC_MSG_NONCE_LEN] = { 10 };
        int r[3];

        r[0] = umc_auth_challenge_frame(&h, nm, f[0], 512);
        r[1] = umc_auth_response_frame(key, &h, nm, ne, "ECU-7", f[1], 512);
        r[2] = umc_auth_confirm_frame(key, &h, nm, ne, f[2], 512);
        for (int i = 0; i < 3; i++) {
                if (r[i] < 0)
                        DIE("auth frame %d", i);
                n[i] = (size_t)r[i];
        }
        return 3;
}

static void seeds_frame(const struct bodies *x) {
        static const uint8_t types[9] = { UMC_FRAME_DATA, UMC_FRAME_BEGIN, UMC_FRAME_VERIFY,
                                          UMC_FRAME_TRANSPORT, UMC_FRAME_FEEDBACK };
        uint8_t af[3][512], f[1024];
        size_t an[3], n;
        char name[32];

        auth_frames(af, an);
        put("frame", "auth-challenge", af[0], an[0]);
        put("frame", "auth-response", af[1], an[1]);
        put("frame", "auth-confirm", af[2], an[2]);
        for (int suite = 1; suite <= 4; suite++) {
                struct umc_session *s = session(UMC_DIR_MASTER_TO_ECU, (enum umc_suite_id)suite);

                for (int i = 0; i < 5; i++) {
                        if (umc_session_seal(s, types[i], x->b[i], (size_t)x->n[i], f, sizeof(f), &n) < 0)
                                DIE("seal");
                        (void)snprintf(name, sizeof(name), "suite%d-type%d", suite, types[i]);
                        put("frame", name, f, n);
                }
                umc_session_free(s);
        }
        /* The replay window part: a window size and sequence numbers. */
        struct buf b = {};
        add_be16(&b, 64);
        for (uint32_t seq = 1; seq < 80; seq += 7)
                add_be32(&b, seq);
        put("frame", "replay-window", b.b, b.n);
}

/* ---- agent PDUs ---- */

static void seeds_agent(const struct bodies *x) {
        uint8_t af[3][512], f[1024], chunk[1 + 8 + 1024];
        struct umc_msg_begin bg = { .image_len = 3000, .hash_alg = UMC_HASH_SHA256, .verify_every = 2,
                                    .chunk_len = 1024, .image_id = { 0xcd }, .version = "2.0" };
        struct umc_msg_verify v = { .time_usec = 5, .checkpoint = 1, .start = 0, .end = 2048, .n_frames = 2 };
        struct umc_msg_transport t = { .hash_alg = UMC_HASH_SHA256, .key_id = 1, .image_len = 3000 };
        struct buf b = {};
        size_t an[3], n;
        int bn;

        /* Unauthenticated: the AUTH exchange as a master would start it, then a sealed DATA. */
        auth_frames(af, an);
        add_u8(&b, 0);
        add_pdu(&b, af[0], an[0]);
        add_pdu(&b, af[2], an[2]);
        struct umc_session *s = session(UMC_DIR_MASTER_TO_ECU, UMC_SUITE_AES_128_GCM);
        if (umc_session_seal(s, UMC_FRAME_DATA, x->b[0], (size_t)x->n[0], f, sizeof(f), &n) < 0)
                DIE("seal");
        umc_session_free(s);
        add_pdu(&b, f, n);
        put("agent-pdu", "unauthenticated", b.b, b.n);

        /* Authenticated: a whole 3000-byte transfer, digests and hash fixed by the harness. */
        b.n = 0;
        add_u8(&b, 1);
        add_u8(&b, 0); /* AES-128-GCM */
        chunk[0] = UMC_FRAME_BEGIN;
        bn = umc_msg_begin_encode(&bg, chunk + 1, sizeof(chunk) - 1);
        add_pdu(&b, chunk, 1 + (size_t)bn);
        for (uint64_t off = 0; off < 3000; off += 1024) {
                uint8_t data[1024];
                struct umc_msg_data d = { .offset = off, .data = data,
                                          .data_len = off + 1024 > 3000 ? 3000 - off : 1024 };

                memset(data, (int)(off / 1024 + 'a'), sizeof(data));
                chunk[0] = UMC_FRAME_DATA;
                bn = umc_msg_data_encode(&d, chunk + 1, sizeof(chunk) - 1);
                add_pdu(&b, chunk, 1 + (size_t)bn);
                if (off == 1024) {
                        chunk[0] = 0x80 | UMC_FRAME_VERIFY;
                        bn = umc_msg_verify_encode(&v, chunk + 1, sizeof(chunk) - 1);
                        add_pdu(&b, chunk, 1 + (size_t)bn);
                }
        }
        v = (struct umc_msg_verify){ .time_usec = 9, .checkpoint = 2, .start = 2048, .end = 3000, .n_frames = 1 };
        chunk[0] = 0x80 | UMC_FRAME_VERIFY;
        bn = umc_msg_verify_encode(&v, chunk + 1, sizeof(chunk) - 1);
        add_pdu(&b, chunk, 1 + (size_t)bn);
        chunk[0] = 0x80 | UMC_FRAME_TRANSPORT;
        bn = umc_msg_transport_encode(&t, chunk + 1, sizeof(chunk) - 1);
        add_pdu(&b, chunk, 1 + (size_t)bn);
        put("agent-pdu", "authenticated-transfer", b.b, b.n);
}

/* ---- the stream reader ---- */

/* fuzz-stream: one step, bytes written as one send(); hold: no read after it. */
static void add_step(struct buf *b, const void *p, size_t n, bool hold) {
        add_be16(b, (uint16_t)(n | (hold ? 0x8000u : 0)));
        add(b, p, n);
}

/* Three frames back to back, as a peer sends them: AUTH_CHALLENGE, AUTH_RESPONSE, a sealed DATA. */
static size_t stream_bytes(const struct bodies *x, uint8_t *out, size_t cap, size_t ends[3]) {
        uint8_t af[3][512], f[1024];
        size_t an[3], n, len = 0;
        struct umc_session *s = session(UMC_DIR_ECU_TO_MASTER, UMC_SUITE_CHACHA20_POLY1305);

        auth_frames(af, an);
        if (umc_session_seal(s, UMC_FRAME_DATA, x->b[0], (size_t)x->n[0], f, sizeof(f), &n) < 0)
                DIE("seal");
        umc_session_free(s);
        if (an[0] + an[1] + n > cap)
                DIE("stream seed too large");
        memcpy(out, af[0], an[0]);
        memcpy(out + an[0], af[1], an[1]);
        memcpy(out + an[0] + an[1], f, n);
        for (int i = 0; i < 3; i++)
                ends[i] = len += i == 0 ? an[0] : i == 1 ? an[1] : n;
        return len;
}

/* The stream cut at the offsets in cuts (ascending, 0-terminated), one step each. */
static void stream_split(const char *name, uint8_t mode, const uint8_t *s, size_t len, const size_t *cuts) {
        struct buf b = {};
        size_t at = 0;

        add_u8(&b, mode);
        for (; *cuts && *cuts < len; cuts++) {
                add_step(&b, s + at, *cuts - at, false);
                at = *cuts;
        }
        add_step(&b, s + at, len - at, false);
        put("stream", name, b.b, b.n);
}

static void seeds_stream(const struct bodies *x) {
        uint8_t s[2048], bad[UMC_FRAME_HEADER_LEN];
        size_t e[3], len = stream_bytes(x, s, sizeof(s), e);
        const size_t in_headers[] = { 1, 27, e[0], e[0] + 24, e[0] + 28, e[1] + 1, len - 1, 0 };
        const size_t at_ends[] = { e[0], e[1], 0 };
        struct buf b = {};

        /* Mode 0: umcd's 1024-byte limit; 1: the agent's 64 KiB; 3: 64 bytes; +4: end of file. */
        stream_split("split-in-headers", 0, s, len, in_headers);
        stream_split("frame-per-send", 1, s, len, at_ends);
        stream_split("several-in-one-read", 0, s, len, (const size_t[]){ 0 });
        stream_split("eof-after-frames", 4, s, len, at_ends);
        stream_split("eof-mid-frame", 4, s, e[1] + 30, at_ends);
        stream_split("eof-mid-header", 4 | 1, s, e[0] + 13, (const size_t[]){ 0 });
        stream_split("oversize-for-channel", 3, s, len, at_ends);

        /* Held steps: every byte waits in the socket until the last step reads them all. */
        add_u8(&b, 0);
        for (size_t i = 0; i < e[0]; i++)
                add_step(&b, s + i, 1, true);
        add_step(&b, s + e[0], len - e[0], false);
        put("stream", "held-bytes", b.b, b.n);

        /* A frame, then headers no length can be trusted from. */
        memcpy(bad, s, sizeof(bad));
        umc_put_be32(bad + UMC_FRAME_PAYLOAD_LEN_OFFSET, 0xffffffffu);
        b.n = 0;
        add_u8(&b, 1);
        add_step(&b, s, e[0], true);
        add_step(&b, bad, sizeof(bad), false);
        add_step(&b, s, len, false);
        put("stream", "oversize-length", b.b, b.n);
        umc_put_be32(bad + UMC_FRAME_PAYLOAD_LEN_OFFSET, 0);
        b.n = 0;
        add_u8(&b, 4);
        add_step(&b, bad, sizeof(bad), false);
        put("stream", "zero-length", b.b, b.n);
        bad[0] ^= 0xff;
        b.n = 0;
        add_u8(&b, 0);
        add_step(&b, s, e[1], false);
        add_step(&b, bad, sizeof(bad), false);
        put("stream", "bad-magic-after-frames", b.b, b.n);
}

/* ---- netlink ---- */

static void put_rta(struct buf *b, unsigned short type, const void *data, size_t len) {
        struct rtattr rta = { .rta_len = (unsigned short)RTA_LENGTH(len), .rta_type = type };
        static const uint8_t pad[4];

        add(b, &rta, sizeof(rta));
        add(b, data, len);
        add(b, pad, RTA_ALIGN(len) - len);
}

/* nested attribute: start it, fill it, close it with its length */
static size_t nest_start(struct buf *b, unsigned short type) {
        struct rtattr rta = { .rta_type = type };
        size_t at = b->n;

        add(b, &rta, sizeof(rta));
        return at;
}

static void nest_end(struct buf *b, size_t at) {
        ((struct rtattr *)(b->b + at))->rta_len = (unsigned short)(b->n - at);
}

static void crafted_link(const char *name, const char *kind, uint16_t vlan, uint32_t dbitrate) {
        struct buf b = {};
        struct nlmsghdr nh = { .nlmsg_type = RTM_NEWLINK, .nlmsg_seq = UMC_NETINFO_GETLINK_SEQ };
        struct ifinfomsg ifi = { .ifi_index = 5 };
        size_t li, data;

        add_be32(&b, 5);
        add(&b, &nh, sizeof(nh));
        add(&b, &ifi, sizeof(ifi));
        put_rta(&b, IFLA_IFNAME, name, strlen(name) + 1);
        li = nest_start(&b, IFLA_LINKINFO);
        put_rta(&b, IFLA_INFO_KIND, kind, strlen(kind) + 1);
        data = nest_start(&b, IFLA_INFO_DATA);
        if (vlan)
                put_rta(&b, IFLA_VLAN_ID, &vlan, sizeof(vlan));
        if (dbitrate) {
                struct can_bittiming bt = { .bitrate = dbitrate, .sample_point = 750 };
                put_rta(&b, IFLA_CAN_DATA_BITTIMING, &bt, sizeof(bt));
        }
        nest_end(&b, data);
        nest_end(&b, li);
        ((struct nlmsghdr *)(b.b + 4))->nlmsg_len = (uint32_t)(b.n - 4);
        put("netlink", name, b.b, b.n);
}

static void seeds_netlink(void) {
        uint8_t *answer = NULL;
        size_t len = 0;
        int idx = 0;
        struct buf b = {};
        struct { struct nlmsghdr nh; struct nlmsgerr e; } err = {
                .nh = { .nlmsg_len = sizeof(err), .nlmsg_type = NLMSG_ERROR,
                        .nlmsg_seq = UMC_NETINFO_GETLINK_SEQ },
                .e = { .error = -ENODEV },
        };

        /* The kernel's own answer about lo. */
        if (umc_netinfo_getlink("lo", &answer, &len, &idx) < 0)
                DIE("RTM_GETLINK lo");
        add_be32(&b, (uint32_t)idx);
        add(&b, answer, len);
        free(answer);
        put("netlink", "lo-kernel-answer", b.b, b.n);
        crafted_link("eth0.12", "vlan", 12, 0);
        crafted_link("can0", "can", 0, 2000000);
        b.n = 0;
        add_be32(&b, 5);
        add(&b, &err, sizeof(err));
        put("netlink", "nlmsg-error", b.b, b.n);
}

/* ---- canbus ---- */

static void add_record(struct buf *b, uint8_t what, uint16_t dt, uint32_t can_id, uint8_t len, uint8_t flags) {
        add_u8(b, what);
        add_be16(b, dt);
        add_be32(b, can_id);
        add_u8(b, len);
        add_u8(b, flags);
}

static void seeds_canbus(void) {
        struct buf b = {};

        /* worst-case stuffing, ISO model, ID check on, own channel 7E0/7E8; rules 7E0 10 ms, 18DAF110 aperiodic */
        add_u8(&b, 1 | 1 << 3 | 1 << 4);
        add_u8(&b, 2);
        add_be32(&b, 0x7e0);
        add_be16(&b, 10);
        add_u8(&b, 5);
        add_be32(&b, 0x80000000u | 0x18daf110);
        add_be16(&b, 0);
        add_u8(&b, 5);
        for (int i = 0; i < 40; i++) {
                add_record(&b, 0, 10000, 0x7e0, 8, 0);
                add_record(&b, 1, 100, 0x18daf110 | CAN_EFF_FLAG, 64, CANFD_BRS);
                if (i % 10 == 9)
                        add_record(&b, 2, 0, 0, 0, 0);
        }
        add_record(&b, 0, 5, 0x123, 2, 0);                 /* unknown ID */
        add_record(&b, 0, 5, CAN_ERR_FLAG | 0x4, 8, 0);    /* error frame */
        add_record(&b, 3, 2000, 0, 0, 0);                  /* clock back 2 s */
        add_record(&b, 4, 3, 0, 0, 0);                     /* clock forward 3 s */
        add_record(&b, 2, 1000, 0, 0, 0);
        put("canbus", "periodic-ids", b.b, b.n);
}

/* ---- slot store ---- */

static void add_file(struct buf *b, const char *text) {
        add_be16(b, (uint16_t)strlen(text));
        add(b, text, strlen(text));
}

static void seeds_slots(void) {
        static const char progress[] =
                "image_id=abababababababababababababababababababababababababababababababab\n"
                "version=2.1\nimage_len=8192\noffset=4096\n";
        struct buf b = {};

        add_u8(&b, 0); /* factory state: nothing yet */
        add_be16(&b, 0);
        put("slots", "factory", b.b, b.n);

        /* B active after an update from A, a transfer resuming at 4096 */
        b.n = 0;
        add_u8(&b, 0xff);
        add_be16(&b, 6000);
        add_file(&b, "b\n");
        add_file(&b, "a\n");
        add_file(&b, "1.0\n");
        add_file(&b, "2.0\n");
        add_file(&b, progress);
        put("slots", "updated-resuming", b.b, b.n);

        /* a rollback killed before it removed its record; a partial shorter than its offset */
        b.n = 0;
        add_u8(&b, 0x01 | 0x02 | 0x04 | 0x10 | 0x20 | 0x80);
        add_be16(&b, 100);
        add_file(&b, "a\n");
        add_file(&b, "a\n");
        add_file(&b, "1.0\n");
        add_file(&b, progress);
        put("slots", "rollback-killed", b.b, b.n);
}

int main(void) {
        struct bodies x;

        make_bodies(&x);
        seeds_msg(&x);
        seeds_frame(&x);
        seeds_agent(&x);
        seeds_stream(&x);
        seeds_netlink();
        seeds_canbus();
        seeds_slots();
        return 0;
}
