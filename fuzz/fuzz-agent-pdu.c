/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for what reaches an agent over ISO-TP: PDUs from any
 * node on the bus. The input is a list of PDUs, each a 2-byte big-endian
 * length and its bytes, after one mode byte. Two paths:
 *
 * Mode bit 0 clear, the unauthenticated path: each PDU goes through a
 * SOCK_SEQPACKET socket pair (one send() is one PDU, as with CAN_ISOTP)
 * into umc_stream_read() in packet mode, and every frame it hands out into
 * the ECU side of the AUTH exchange (umc_auth_ecu_challenge/_confirm) or,
 * for the other types, a session's umc_session_open(), as the agent's
 * connection code dispatches them. A stream that refused a PDU is replaced
 * by a fresh one, so the PDUs after it are read too.
 *
 * Mode bit 0 set, the authenticated path: the harness is the master, holds
 * the session both ends derived, and seals each PDU (first byte the frame
 * type, the rest the body) before the agent's image receiver
 * (umc_receiver_input) gets it, so the fuzzer reaches every state of the
 * transfer state machine with bodies it chose. A type byte with bit 7 set
 * asks the harness to fix the digest of a VERIFY or the hash of a
 * TRANSPORT over what the sink holds, which no fuzzer could guess.
 *
 * Properties, beyond no crash or leak under ASan/UBSan:
 *  - the stream hands out only frames that pass umc_frame_parse();
 *  - nothing the fuzzer sends passes AUTH_CONFIRM or a session's tag check
 *    on the unauthenticated path (it cannot know the key);
 *  - the receiver writes strictly in order and within the announced image
 *    length, reads back only what was written, and each reply it produces
 *    opens under the master's session;
 *  - it never commits an image whose bytes do not hash to TRANSPORT's hash.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "umc/auth.h"
#include "umc/frame.h"
#include "umc/session.h"
#include "umc/stream.h"
#include "umc/util.h"
#include "umc/xfer.h"

#define ECU_ID 7
#define HW_ID "ECU-7"
#define MAX_PAYLOAD (4095 - UMC_FRAME_HEADER_LEN) /* classic ISO-TP PDU */
#define MAX_IMAGE (256 * 1024)
#define ALL_SUITES ((1u << UMC_SUITE_AES_128_GCM) | (1u << UMC_SUITE_AES_256_GCM) | \
                    (1u << UMC_SUITE_CHACHA20_POLY1305) | (1u << UMC_SUITE_SM4_CTR_HMAC_SM3))

static const uint8_t master_key[UMC_MASTER_KEY_LEN] = { 0x11, 0x22, 0x33 };
static int pair[2] = { -1, -1 }; /* [0] the bus side we send on, [1] the agent's */
static uint8_t out[UMC_FRAME_HEADER_LEN + UMC_FRAME_MAX_PAYLOAD];
static uint8_t plain[UMC_FRAME_MAX_PAYLOAD];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0);
        return 0;
}

static size_t next_pdu(struct fuzz_cursor *c, const uint8_t **ret) {
        return fuzz_bytes(c, fuzz_u16(c), ret);
}

static struct umc_session *session_new(enum umc_direction dir, uint64_t session_id) {
        struct umc_session_params p = {
                .salt = { 0x5a },
                .session_id = session_id,
                .ecu_id = ECU_ID,
                .tx_dir = dir,
                .allowed_suites = ALL_SUITES,
                .replay_window = 64,
                .max_payload = MAX_PAYLOAD,
        };
        struct umc_session *s = NULL;

        memcpy(p.master_key, master_key, sizeof(master_key));
        CHECK(umc_session_new(&p, &s) == 0);
        return s;
}

/* ---- the unauthenticated path ---- */

static int lookup(void *userdata, uint32_t ecu_id, uint8_t ret_key[UMC_MASTER_KEY_LEN],
                  char ret_hw_id[UMC_MSG_HW_ID_MAX + 1]) {
        if (ecu_id != ECU_ID)
                return -ENOENT;
        memcpy(ret_key, master_key, UMC_MASTER_KEY_LEN);
        strcpy(ret_hw_id, HW_ID);
        return 0;
}

static struct umc_stream *stream_new(void) {
        struct umc_stream *s = NULL;
        int fd = dup(pair[1]);

        CHECK(fd >= 0);
        CHECK(umc_stream_new_packet(fd, MAX_PAYLOAD, UMC_FRAME_HEADER_LEN + MAX_PAYLOAD, &s) == 0);
        return s;
}

static void dispatch(struct umc_auth_ecu *auth, struct umc_session *session, const uint8_t *f,
                     size_t len) {
        struct umc_frame_header h;
        enum umc_reason why;
        uint8_t salt[UMC_SALT_LEN];
        size_t olen;
        int r;

        CHECK(umc_frame_parse(f, len, MAX_PAYLOAD, &h, NULL, &why) == 0);
        switch (h.type) {
        case UMC_FRAME_AUTH_CHALLENGE:
                r = umc_auth_ecu_challenge(auth, f, len, out, sizeof(out), &olen, &why);
                CHECK(r == 0 || r == -EBADMSG || r == -EPROTO);
                if (r == 0)
                        CHECK(umc_frame_parse(out, olen, MAX_PAYLOAD, NULL, NULL, &why) == 0);
                break;
        case UMC_FRAME_AUTH_CONFIRM:
                r = umc_auth_ecu_confirm(auth, f, len, salt, &why);
                CHECK(r == -EBADMSG || r == -EPROTO);
                break;
        default:
                r = umc_session_open(session, f, len, &h, plain, sizeof(plain), &olen, &why);
                CHECK(r == -EBADMSG);
                break;
        }
}

static void unauthenticated(struct fuzz_cursor *c) {
        struct umc_session *session = session_new(UMC_DIR_ECU_TO_MASTER, 1);
        struct umc_stream *s = stream_new();
        struct umc_auth_ecu auth;

        umc_auth_ecu_init(&auth, lookup, NULL);
        while (c->left > 0) {
                const uint8_t *pdu, *f;
                size_t n = next_pdu(c, &pdu), len;
                enum umc_reason why;
                int r;

                /* ISO-TP has no empty PDU; a 0-byte datagram would read as end of file. */
                if (n == 0)
                        continue;
                if (send(pair[0], pdu, n, MSG_DONTWAIT) != (ssize_t)n)
                        continue; /* larger than the socket takes: the kernel would refuse it too */
                r = umc_stream_read(s, &f, &len, &why);
                if (r == 0) {
                        dispatch(&auth, session, f, len);
                        continue;
                }
                CHECK(r == -EBADMSG);
                umc_stream_free(s);
                s = stream_new();
        }
        umc_stream_free(s);
        umc_session_free(session);
        umc_auth_ecu_clear(&auth);
}

/* ---- the authenticated path ---- */

struct memsink {
        uint8_t image_id[UMC_MSG_IMAGE_ID_LEN];
        uint8_t *buf;
        uint64_t image_len, len, durable;
        bool have;
};

static int ms_begin(void *ud, const uint8_t id[UMC_MSG_IMAGE_ID_LEN], const char *version,
                    uint64_t image_len, uint64_t *ret) {
        struct memsink *m = ud;

        CHECK(image_len >= 1 && image_len <= MAX_IMAGE);
        if (m->have && memcmp(m->image_id, id, sizeof(m->image_id)) == 0 && m->image_len == image_len) {
                m->len = m->durable; /* resume from the last checkpoint */
        } else {
                free(m->buf);
                m->buf = calloc(1, image_len);
                CHECK(m->buf);
                memcpy(m->image_id, id, sizeof(m->image_id));
                m->image_len = image_len;
                m->len = m->durable = 0;
                m->have = true;
        }
        *ret = m->len;
        return 0;
}

static int ms_write(void *ud, uint64_t off, const void *data, size_t len) {
        struct memsink *m = ud;

        CHECK(m->have && off == m->len && len <= m->image_len - off);
        memcpy(m->buf + off, data, len);
        m->len += len;
        return 0;
}

static int ms_checkpoint(void *ud) {
        struct memsink *m = ud;

        m->durable = m->len;
        return 0;
}

static int ms_read(void *ud, uint64_t off, void *buf, size_t len) {
        struct memsink *m = ud;

        CHECK(m->have && off <= m->len && len <= m->len - off);
        memcpy(buf, m->buf + off, len);
        return 0;
}

static int ms_commit(void *ud) {
        struct memsink *m = ud;

        CHECK(m->have && m->len == m->image_len);
        return 0;
}

static void ms_abort(void *ud) {
        struct memsink *m = ud;

        m->have = false;
        m->len = m->durable = 0;
}

static void fix_verify(const struct memsink *m, enum umc_hash_alg alg, uint8_t *body, size_t len) {
        struct umc_msg_verify v;
        struct umc_hash h;

        if (umc_msg_verify_decode(body, len, &v) < 0 || !m->have || v.end > m->len)
                return;
        if (umc_msg_verify_digest_init(&h, alg) < 0)
                return;
        (void)umc_msg_verify_digest_update(&h, m->buf + v.start, v.end - v.start);
        if (umc_msg_verify_digest_final(&h, v.time_usec, v.checkpoint, v.start, v.end, v.digest) == 0)
                (void)umc_msg_verify_encode(&v, body, len);
}

static void fix_transport(const struct memsink *m, uint8_t *body, size_t len) {
        struct umc_msg_transport t;

        if (umc_msg_transport_decode(body, len, &t) < 0 || !m->have || t.image_len > m->len)
                return;
        if (umc_hash_oneshot(t.hash_alg, m->buf, t.image_len, t.hash) == 0)
                (void)umc_msg_transport_encode(&t, body, len);
}

struct rig {
        struct umc_session *master, *ecu;
        struct umc_receiver *rx;
        struct memsink sink;
        uint8_t body[UMC_FRAME_MAX_PAYLOAD];
};

/* A reply from the receiver must be a frame the master opens. */
static void check_reply(struct rig *g, size_t olen) {
        struct umc_frame_header h;
        enum umc_reason why;
        size_t plen;

        if (olen == 0)
                return;
        CHECK(umc_session_open(g->master, out, olen, &h, plain, sizeof(plain), &plen, &why) == 0);
        CHECK(h.type == UMC_FRAME_FEEDBACK || h.type == UMC_FRAME_ALARM);
}

static void feed_sealed(struct rig *g, const uint8_t *pdu, size_t n, uint64_t now) {
        const struct umc_msg_begin *b = umc_receiver_begin_info(g->rx);
        uint8_t type = pdu[0];
        size_t len = n - 1, flen, olen = 0;
        enum umc_reason why;
        uint8_t frame[UMC_FRAME_HEADER_LEN + MAX_PAYLOAD];
        int r;

        memcpy(g->body, pdu + 1, len);
        if ((type & 0x80) && (type & 0x7f) == UMC_FRAME_VERIFY && b)
                fix_verify(&g->sink, b->hash_alg, g->body, len);
        if ((type & 0x80) && (type & 0x7f) == UMC_FRAME_TRANSPORT)
                fix_transport(&g->sink, g->body, len);
        if (umc_session_seal(g->master, (enum umc_frame_type)(type & 0x7f), g->body, len, frame,
                             sizeof(frame), &flen) < 0)
                return;
        r = umc_receiver_input(g->rx, frame, flen, now, out, sizeof(out), &olen, &why);
        check_reply(g, olen);
        if (r == -EINPROGRESS)
                do {
                        olen = 0;
                        r = umc_receiver_step(g->rx, 64 * 1024, out, sizeof(out), &olen, &why);
                        check_reply(g, olen);
                } while (r == 1);
        if (umc_receiver_state(g->rx) == UMC_RECEIVER_DONE) {
                const struct umc_msg_transport *t = umc_receiver_transport_info(g->rx);
                uint8_t hash[UMC_HASH_LEN];

                CHECK(t && g->sink.have && t->image_len == g->sink.len);
                CHECK(umc_hash_oneshot(t->hash_alg, g->sink.buf, g->sink.len, hash) == 0);
                CHECK(memcmp(hash, t->hash, sizeof(hash)) == 0);
        }
}

static void authenticated(struct fuzz_cursor *c) {
        struct rig g = {};
        struct umc_sink ops = {
                .begin = ms_begin, .write = ms_write, .checkpoint = ms_checkpoint,
                .read = ms_read, .commit = ms_commit, .abort = ms_abort, .userdata = &g.sink,
        };
        uint64_t now = 1000000;
        uint8_t suite = fuzz_u8(c);

        g.master = session_new(UMC_DIR_MASTER_TO_ECU, 2);
        g.ecu = session_new(UMC_DIR_ECU_TO_MASTER, 2);
        CHECK(umc_session_set_tx_key(g.master, 1, (enum umc_suite_id)(1 + suite % 4)) == 0);
        CHECK(umc_session_set_tx_key(g.ecu, 1, (enum umc_suite_id)(1 + suite % 4)) == 0);
        CHECK(umc_receiver_new(g.ecu, &ops, MAX_IMAGE, &g.rx) == 0);
        while (c->left > 0) {
                const uint8_t *pdu;
                size_t n = next_pdu(c, &pdu);

                now += 1000;
                if (n > 0)
                        feed_sealed(&g, pdu, n, now);
        }
        umc_receiver_free(g.rx);
        umc_session_free(g.ecu);
        umc_session_free(g.master);
        free(g.sink.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct fuzz_cursor c = { data, size };

        if (fuzz_u8(&c) & 1)
                authenticated(&c);
        else
                unauthenticated(&c);
        return 0;
}
