/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "umc/frame.h"
#include "umc/hash.h"
#include "umc/msg.h"
#include "umc/util.h"

#define SENTINEL 0x5a

static bool all_bytes(const void *p, size_t n, uint8_t v) {
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++)
                if (b[i] != v)
                        return false;
        return true;
}

/*
 * Decode from a heap copy of exactly len bytes (ASan sees any read past it)
 * and check that a failing decoder returned -EBADMSG and left *ret alone.
 * On success, *ret is copied to out (DATA's pointer then refers to freed
 * memory: callers of dec_data look only at offset and length).
 */
#define DEFINE_DECODER(name, type)                                                       \
        static int dec_##name(const uint8_t *buf, size_t len, type *out) {               \
                type m;                                                                  \
                uint8_t *copy = malloc(len ? len : 1);                                   \
                int r;                                                                   \
                assert_non_null(copy);                                                   \
                if (len)                                                                 \
                        memcpy(copy, buf, len);                                          \
                memset(&m, SENTINEL, sizeof(m));                                         \
                r = umc_msg_##name##_decode(copy, len, &m);                              \
                if (r < 0) {                                                             \
                        assert_int_equal(r, -EBADMSG);                                   \
                        assert_true(all_bytes(&m, sizeof(m), SENTINEL));                 \
                } else {                                                                 \
                        assert_int_equal(r, 0);                                          \
                        if (out)                                                         \
                                *out = m;                                                \
                }                                                                        \
                free(copy);                                                              \
                return r;                                                                \
        }

DEFINE_DECODER(data, struct umc_msg_data)
DEFINE_DECODER(begin, struct umc_msg_begin)
DEFINE_DECODER(verify, struct umc_msg_verify)
DEFINE_DECODER(transport, struct umc_msg_transport)
DEFINE_DECODER(feedback, struct umc_msg_feedback)
DEFINE_DECODER(auth_challenge, struct umc_msg_auth_challenge)
DEFINE_DECODER(auth_response, struct umc_msg_auth_response)
DEFINE_DECODER(auth_confirm, struct umc_msg_auth_confirm)
DEFINE_DECODER(alarm, struct umc_msg_alarm)
DEFINE_DECODER(status_query, struct umc_msg_status_query)
DEFINE_DECODER(status, struct umc_msg_status)

/* Decode and, when valid, re-encode: the encoding of a valid body is canonical. */
static int decode_reencode(unsigned type, const uint8_t *buf, size_t len) {
        uint8_t out[UMC_MSG_ALARM_MAX_LEN + 512];
        int r = -EBADMSG, n = 0;

        switch (type) {
        case UMC_FRAME_DATA: {
                struct umc_msg_data m;
                r = umc_msg_data_decode(buf, len, &m);
                if (r == 0)
                        n = umc_msg_data_encode(&m, out, sizeof(out));
                break;
        }
#define CASE(T, name, type)                                                   \
        case T: {                                                             \
                type m;                                                       \
                r = dec_##name(buf, len, &m);                                 \
                if (r == 0)                                                   \
                        n = umc_msg_##name##_encode(&m, out, sizeof(out));    \
                break;                                                        \
        }
        CASE(UMC_FRAME_BEGIN, begin, struct umc_msg_begin)
        CASE(UMC_FRAME_VERIFY, verify, struct umc_msg_verify)
        CASE(UMC_FRAME_TRANSPORT, transport, struct umc_msg_transport)
        CASE(UMC_FRAME_FEEDBACK, feedback, struct umc_msg_feedback)
        CASE(UMC_FRAME_AUTH_CHALLENGE, auth_challenge, struct umc_msg_auth_challenge)
        CASE(UMC_FRAME_AUTH_RESPONSE, auth_response, struct umc_msg_auth_response)
        CASE(UMC_FRAME_AUTH_CONFIRM, auth_confirm, struct umc_msg_auth_confirm)
        CASE(UMC_FRAME_ALARM, alarm, struct umc_msg_alarm)
        CASE(UMC_FRAME_STATUS_QUERY, status_query, struct umc_msg_status_query)
        CASE(UMC_FRAME_STATUS, status, struct umc_msg_status)
#undef CASE
        default:
                fail();
        }
        if (r == 0) {
                assert_int_equal(n, (int)len);
                assert_memory_equal(out, buf, len);
        }
        return r;
}

/* ---- Valid sample bodies ---- */

static void fill(uint8_t *p, size_t n, uint8_t start) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)(start + i);
}

static struct umc_msg_begin sample_begin(void) {
        struct umc_msg_begin m = {
                .image_len = UINT64_C(0x0000000123456789),
                .hash_alg = UMC_HASH_SM3,
                .verify_every = 64,
                .chunk_len = 4000,
                .version = "2.4.1-rc3 (build 77)",
        };
        fill(m.image_id, sizeof(m.image_id), 0xa0);
        return m;
}

static struct umc_msg_verify sample_verify(void) {
        struct umc_msg_verify m = {
                .time_usec = UINT64_C(1700000000000000),
                .checkpoint = 7,
                .start = 256000,
                .end = 512000,
                .n_frames = 64,
        };
        fill(m.digest, sizeof(m.digest), 0x10);
        return m;
}

static struct umc_msg_transport sample_transport(void) {
        struct umc_msg_transport m = {
                .hash_alg = UMC_HASH_SHA256,
                .key_id = 0xbeef,
                .image_len = UINT64_C(0xfedcba9876543210),
        };
        fill(m.hash, sizeof(m.hash), 0xc0);
        return m;
}

static struct umc_msg_feedback sample_feedback(void) {
        return (struct umc_msg_feedback){
                .code = UMC_FEEDBACK_STOP,
                .reason = UMC_REASON_VERIFY_MISMATCH,
                .checkpoint = 0x01020304,
                .offset = UINT64_C(0x1122334455667788),
        };
}

static struct umc_msg_auth_response sample_response(void) {
        struct umc_msg_auth_response m = { .hw_id = "HW-1234" };

        fill(m.nonce_e, sizeof(m.nonce_e), 0x40);
        fill(m.mac, sizeof(m.mac), 0x80);
        return m;
}

static struct umc_msg_alarm sample_alarm(void) {
        return (struct umc_msg_alarm){
                .reason = UMC_REASON_CAN_ID_UNKNOWN,
                .text = "id 0x7e5 on can0",
        };
}

/* Field by field: structs have padding, whose bytes carry no meaning. */
static void assert_begin_equal(const struct umc_msg_begin *a, const struct umc_msg_begin *b) {
        assert_int_equal(a->image_len, b->image_len);
        assert_int_equal(a->hash_alg, b->hash_alg);
        assert_int_equal(a->verify_every, b->verify_every);
        assert_int_equal(a->chunk_len, b->chunk_len);
        assert_memory_equal(a->image_id, b->image_id, sizeof(a->image_id));
        assert_string_equal(a->version, b->version);
}

static void assert_verify_equal(const struct umc_msg_verify *a, const struct umc_msg_verify *b) {
        assert_int_equal(a->time_usec, b->time_usec);
        assert_int_equal(a->checkpoint, b->checkpoint);
        assert_int_equal(a->start, b->start);
        assert_int_equal(a->end, b->end);
        assert_int_equal(a->n_frames, b->n_frames);
        assert_memory_equal(a->digest, b->digest, sizeof(a->digest));
}

static void assert_transport_equal(const struct umc_msg_transport *a, const struct umc_msg_transport *b) {
        assert_int_equal(a->hash_alg, b->hash_alg);
        assert_int_equal(a->key_id, b->key_id);
        assert_int_equal(a->image_len, b->image_len);
        assert_memory_equal(a->hash, b->hash, sizeof(a->hash));
}

static void assert_feedback_equal(const struct umc_msg_feedback *a, const struct umc_msg_feedback *b) {
        assert_int_equal(a->code, b->code);
        assert_int_equal(a->reason, b->reason);
        assert_int_equal(a->checkpoint, b->checkpoint);
        assert_int_equal(a->offset, b->offset);
}

static void assert_response_equal(const struct umc_msg_auth_response *a,
                                  const struct umc_msg_auth_response *b) {
        assert_memory_equal(a->nonce_e, b->nonce_e, sizeof(a->nonce_e));
        assert_string_equal(a->hw_id, b->hw_id);
        assert_memory_equal(a->mac, b->mac, sizeof(a->mac));
}

static void assert_alarm_equal(const struct umc_msg_alarm *a, const struct umc_msg_alarm *b) {
        assert_int_equal(a->reason, b->reason);
        assert_string_equal(a->text, b->text);
}

/* ---- Round trips ---- */

static void test_data_round_trip_points_into_the_buffer(void **state) {
        uint8_t chunk[300], body[400];
        struct umc_msg_data m = { .offset = UINT64_C(0x0102030405060708), .data = chunk,
                                  .data_len = sizeof(chunk) }, got;
        int n;

        fill(chunk, sizeof(chunk), 3);
        n = umc_msg_data_encode(&m, body, sizeof(body));
        assert_int_equal(n, UMC_MSG_DATA_HEADER_LEN + sizeof(chunk));
        assert_memory_equal(body, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
        assert_int_equal(umc_msg_data_decode(body, (size_t)n, &got), 0);
        assert_int_equal(got.offset, m.offset);
        assert_int_equal(got.data_len, sizeof(chunk));
        assert_ptr_equal(got.data, body + UMC_MSG_DATA_HEADER_LEN);
        assert_memory_equal(got.data, chunk, sizeof(chunk));
}

static void test_begin_round_trip(void **state) {
        struct umc_msg_begin m = sample_begin(), got;
        uint8_t body[UMC_MSG_BEGIN_MAX_LEN];
        int n;

        n = umc_msg_begin_encode(&m, body, sizeof(body));
        assert_int_equal(n, UMC_MSG_BEGIN_FIXED_LEN + strlen(m.version));
        assert_int_equal(body[8], UMC_HASH_SM3);
        assert_int_equal(body[49], strlen(m.version));
        assert_int_equal(dec_begin(body, (size_t)n, &got), 0);
        assert_begin_equal(&got, &m);

        /* Longest version. */
        memset(m.version, '~', UMC_MSG_VERSION_MAX);
        m.version[UMC_MSG_VERSION_MAX] = '\0';
        n = umc_msg_begin_encode(&m, body, sizeof(body));
        assert_int_equal(n, UMC_MSG_BEGIN_MAX_LEN);
        assert_int_equal(dec_begin(body, (size_t)n, &got), 0);
        assert_string_equal(got.version, m.version);
}

static void test_verify_round_trip(void **state) {
        struct umc_msg_verify m = sample_verify(), got;
        uint8_t body[UMC_MSG_VERIFY_LEN];

        assert_int_equal(umc_msg_verify_encode(&m, body, sizeof(body)), UMC_MSG_VERIFY_LEN);
        assert_int_equal(umc_get_be32(body + 8), 7);
        assert_int_equal(umc_get_be64(body + 20), 512000);
        assert_int_equal(dec_verify(body, sizeof(body), &got), 0);
        assert_verify_equal(&got, &m);
}

static void test_transport_round_trip(void **state) {
        struct umc_msg_transport m = sample_transport(), got;
        uint8_t body[UMC_MSG_TRANSPORT_LEN];

        assert_int_equal(umc_msg_transport_encode(&m, body, sizeof(body)), UMC_MSG_TRANSPORT_LEN);
        assert_memory_equal(body, "\x01\xbe\xef\xfe\xdc\xba\x98\x76\x54\x32\x10\xc0", 12);
        assert_int_equal(dec_transport(body, sizeof(body), &got), 0);
        assert_transport_equal(&got, &m);
}

static void test_feedback_round_trip_for_every_code(void **state) {
        static const struct umc_msg_feedback cases[] = {
                { UMC_FEEDBACK_CONTINUE, UMC_REASON_OK, 0, 0 },
                { UMC_FEEDBACK_CONTINUE, UMC_REASON_OK, 3, 123456 },
                { UMC_FEEDBACK_STOP, UMC_REASON_VERIFY_MISMATCH, 0x01020304, UINT64_C(0x1122334455667788) },
                { UMC_FEEDBACK_COMPLETE, UMC_REASON_OK, UINT32_MAX, UINT64_MAX },
        };
        uint8_t body[UMC_MSG_FEEDBACK_LEN];
        struct umc_msg_feedback got;

        for (size_t i = 0; i < UMC_ELEMENTSOF(cases); i++) {
                assert_int_equal(umc_msg_feedback_encode(&cases[i], body, sizeof(body)),
                                 UMC_MSG_FEEDBACK_LEN);
                assert_int_equal(body[0], cases[i].code);
                assert_int_equal(dec_feedback(body, sizeof(body), &got), 0);
                assert_feedback_equal(&got, &cases[i]);
        }
        assert_string_equal(umc_msg_feedback_code_to_string(UMC_FEEDBACK_CONTINUE), "continue");
        assert_string_equal(umc_msg_feedback_code_to_string(UMC_FEEDBACK_STOP), "stop");
        assert_string_equal(umc_msg_feedback_code_to_string(UMC_FEEDBACK_COMPLETE), "complete");
        assert_string_equal(umc_msg_feedback_code_to_string(3), "unknown");
}

static void test_auth_bodies_round_trip(void **state) {
        struct umc_msg_auth_challenge ch, ch_got;
        struct umc_msg_auth_response resp = sample_response(), resp_got;
        struct umc_msg_auth_confirm conf, conf_got;
        uint8_t body[UMC_MSG_AUTH_RESPONSE_MAX_LEN];
        int n;

        fill(ch.nonce_m, sizeof(ch.nonce_m), 0x20);
        assert_int_equal(umc_msg_auth_challenge_encode(&ch, body, sizeof(body)), 32);
        assert_int_equal(dec_auth_challenge(body, 32, &ch_got), 0);
        assert_memory_equal(&ch_got, &ch, sizeof(ch));

        n = umc_msg_auth_response_encode(&resp, body, sizeof(body));
        assert_int_equal(n, UMC_MSG_AUTH_RESPONSE_FIXED_LEN + 7);
        assert_int_equal(body[32], 7);
        assert_memory_equal(body + 33, "HW-1234", 7);
        assert_memory_equal(body + 40, resp.mac, 32);
        assert_int_equal(dec_auth_response(body, (size_t)n, &resp_got), 0);
        assert_response_equal(&resp_got, &resp);

        fill(conf.mac, sizeof(conf.mac), 0x99);
        assert_int_equal(umc_msg_auth_confirm_encode(&conf, body, sizeof(body)), 32);
        assert_int_equal(dec_auth_confirm(body, 32, &conf_got), 0);
        assert_memory_equal(&conf_got, &conf, sizeof(conf));
}

static void test_alarm_round_trip_with_empty_and_longest_text(void **state) {
        struct umc_msg_alarm m = sample_alarm(), got;
        uint8_t body[UMC_MSG_ALARM_MAX_LEN];
        int n;

        n = umc_msg_alarm_encode(&m, body, sizeof(body));
        assert_int_equal(n, 3 + strlen(m.text));
        assert_memory_equal(body, "\x04\x01", 2);
        assert_int_equal(dec_alarm(body, (size_t)n, &got), 0);
        assert_alarm_equal(&got, &m);

        m.text[0] = '\0';
        assert_int_equal(umc_msg_alarm_encode(&m, body, sizeof(body)), 3);
        assert_int_equal(dec_alarm(body, 3, &got), 0);
        assert_string_equal(got.text, "");

        memset(m.text, 'x', UMC_MSG_ALARM_TEXT_MAX);
        m.text[UMC_MSG_ALARM_TEXT_MAX] = '\0';
        assert_int_equal(umc_msg_alarm_encode(&m, body, sizeof(body)), UMC_MSG_ALARM_MAX_LEN);
        assert_int_equal(dec_alarm(body, UMC_MSG_ALARM_MAX_LEN, &got), 0);
        assert_string_equal(got.text, m.text);
}

/* ---- Defects: one mutation of a valid encoding per row ---- */

struct mutation {
        const char *name;
        size_t off;      /* where to write */
        uint8_t n;       /* bytes of v to write, big-endian; 0: none */
        uint64_t v;
        int len_delta;   /* -1: drop the last byte, +1: append a printable byte */
};

static void apply_and_expect_bad(unsigned type, const uint8_t *valid, size_t len,
                                 const struct mutation *rows, size_t n_rows) {
        uint8_t buf[UMC_MSG_ALARM_MAX_LEN + 16];

        /* The unmutated body passes, so each row tests only its own defect. */
        assert_int_equal(decode_reencode(type, valid, len), 0);
        for (size_t i = 0; i < n_rows; i++) {
                size_t blen = (size_t)((long)len + rows[i].len_delta);

                print_message("row: %s\n", rows[i].name);
                assert_true(len < sizeof(buf) - 1);
                memcpy(buf, valid, len);
                buf[len] = 'A';
                for (uint8_t k = 0; k < rows[i].n; k++)
                        buf[rows[i].off + k] = (uint8_t)(rows[i].v >> (8 * (rows[i].n - 1 - k)));
                assert_int_equal(decode_reencode(type, buf, blen), -EBADMSG);
        }
}

static void test_begin_decoder_rejects_each_defect(void **state) {
        struct umc_msg_begin m = sample_begin();
        uint8_t body[UMC_MSG_BEGIN_MAX_LEN];
        int n = umc_msg_begin_encode(&m, body, sizeof(body));
        size_t vlen = strlen(m.version);
        const struct mutation rows[] = {
                { "image length 0", 0, 8, 0, 0 },
                { "hash alg 0", 8, 1, 0, 0 },
                { "hash alg 3", 8, 1, 3, 0 },
                { "hash alg 255", 8, 1, 255, 0 },
                { "verify every 0", 9, 4, 0, 0 },
                { "chunk length 0", 13, 4, 0, 0 },
                { "chunk length above any payload", 13, 4, UMC_MSG_DATA_MAX + 1, 0 },
                { "chunk length all ones", 13, 4, UINT32_MAX, 0 },
                { "declared version longer than body", 49, 1, vlen + 1, 0 },
                { "declared version shorter than body", 49, 1, vlen - 1, 0 },
                { "declared version 255", 49, 1, 255, 0 },
                { "one byte short", 0, 0, 0, -1 },
                { "one trailing byte", 0, 0, 0, +1 },
                { "version with NUL", 50, 1, 0x00, 0 },
                { "version with control character", 51, 1, 0x1f, 0 },
                { "version with DEL", 52, 1, 0x7f, 0 },
                { "version with non-ASCII byte", 53, 1, 0xc3, 0 },
        };

        assert_true(n > 0);
        apply_and_expect_bad(UMC_FRAME_BEGIN, body, (size_t)n, rows, UMC_ELEMENTSOF(rows));

        /* Exact-length bodies whose declared version length is out of range. */
        body[49] = 0;
        assert_int_equal(dec_begin(body, UMC_MSG_BEGIN_FIXED_LEN, NULL), -EBADMSG);
        uint8_t big[UMC_MSG_BEGIN_MAX_LEN + 1];
        memcpy(big, body, UMC_MSG_BEGIN_FIXED_LEN);
        memset(big + UMC_MSG_BEGIN_FIXED_LEN, 'v', UMC_MSG_VERSION_MAX + 1);
        big[49] = UMC_MSG_VERSION_MAX + 1;
        assert_int_equal(dec_begin(big, sizeof(big), NULL), -EBADMSG);
        big[49] = UMC_MSG_VERSION_MAX;
        assert_int_equal(dec_begin(big, sizeof(big) - 1, NULL), 0);
}

static void test_verify_decoder_rejects_each_defect(void **state) {
        struct umc_msg_verify m = sample_verify();
        uint8_t body[UMC_MSG_VERIFY_LEN];
        const struct mutation rows[] = {
                { "checkpoint 0", 8, 4, 0, 0 },
                { "start equals end", 12, 8, 512000, 0 },
                { "start after end", 12, 8, 512001, 0 },
                { "end 0", 20, 8, 0, 0 },
                { "no frames", 28, 4, 0, 0 },
                { "more frames than bytes", 28, 4, 512000 - 256000 + 1, 0 },
                { "one byte short", 0, 0, 0, -1 },
                { "one trailing byte", 0, 0, 0, +1 },
        };

        assert_int_equal(umc_msg_verify_encode(&m, body, sizeof(body)), UMC_MSG_VERIFY_LEN);
        apply_and_expect_bad(UMC_FRAME_VERIFY, body, sizeof(body), rows, UMC_ELEMENTSOF(rows));
        /* Boundary: one byte per frame is fine. */
        m.n_frames = (uint32_t)(m.end - m.start);
        assert_int_equal(umc_msg_verify_encode(&m, body, sizeof(body)), UMC_MSG_VERIFY_LEN);
        assert_int_equal(dec_verify(body, sizeof(body), NULL), 0);
}

static void test_transport_decoder_rejects_each_defect(void **state) {
        struct umc_msg_transport m = sample_transport();
        uint8_t body[UMC_MSG_TRANSPORT_LEN];
        const struct mutation rows[] = {
                { "hash alg 0", 0, 1, 0, 0 },
                { "hash alg 3", 0, 1, 3, 0 },
                { "image length 0", 3, 8, 0, 0 },
                { "one byte short", 0, 0, 0, -1 },
                { "one trailing byte", 0, 0, 0, +1 },
        };

        assert_int_equal(umc_msg_transport_encode(&m, body, sizeof(body)), UMC_MSG_TRANSPORT_LEN);
        apply_and_expect_bad(UMC_FRAME_TRANSPORT, body, sizeof(body), rows, UMC_ELEMENTSOF(rows));
}

static void test_feedback_decoder_rejects_each_defect(void **state) {
        struct umc_msg_feedback m = sample_feedback();
        uint8_t body[UMC_MSG_FEEDBACK_LEN];
        const struct mutation rows[] = {
                { "code 3", 0, 1, 3, 0 },
                { "code 255", 0, 1, 255, 0 },
                { "stop without reason", 1, 2, UMC_REASON_OK, 0 },
                { "stop with unknown reason", 1, 2, 0x0100, 0 },
                { "stop with reason 0xffff", 1, 2, 0xffff, 0 },
                { "continue with a reason", 0, 3, (UMC_FEEDBACK_CONTINUE << 16) | UMC_REASON_VERIFY_MISMATCH, 0 },
                { "complete with a reason", 0, 3, (UMC_FEEDBACK_COMPLETE << 16) | UMC_REASON_TIMEOUT, 0 },
                { "one byte short", 0, 0, 0, -1 },
                { "one trailing byte", 0, 0, 0, +1 },
        };

        assert_int_equal(umc_msg_feedback_encode(&m, body, sizeof(body)), UMC_MSG_FEEDBACK_LEN);
        apply_and_expect_bad(UMC_FRAME_FEEDBACK, body, sizeof(body), rows, UMC_ELEMENTSOF(rows));
}

static void test_auth_response_decoder_rejects_each_defect(void **state) {
        struct umc_msg_auth_response m = sample_response();
        uint8_t body[UMC_MSG_AUTH_RESPONSE_MAX_LEN + 1];
        int n = umc_msg_auth_response_encode(&m, body, sizeof(body));
        const struct mutation rows[] = {
                { "declared hw id longer than body", 32, 1, 8, 0 },
                { "declared hw id shorter than body", 32, 1, 6, 0 },
                { "declared hw id 0", 32, 1, 0, 0 },
                { "hw id with NUL", 33, 1, 0, 0 },
                { "hw id with newline", 34, 1, '\n', 0 },
                { "hw id with 0xff", 39, 1, 0xff, 0 },
                { "one byte short", 0, 0, 0, -1 },
                { "one trailing byte", 0, 0, 0, +1 },
        };

        assert_true(n > 0);
        apply_and_expect_bad(UMC_FRAME_AUTH_RESPONSE, body, (size_t)n, rows, UMC_ELEMENTSOF(rows));

        /* hw id length 0 and 65 with bodies of exactly the declared size. */
        memset(body, 'h', sizeof(body));
        body[32] = 0;
        assert_int_equal(dec_auth_response(body, UMC_MSG_AUTH_RESPONSE_FIXED_LEN, NULL), -EBADMSG);
        body[32] = UMC_MSG_HW_ID_MAX + 1;
        assert_int_equal(dec_auth_response(body, UMC_MSG_AUTH_RESPONSE_MAX_LEN + 1, NULL), -EBADMSG);
        body[32] = UMC_MSG_HW_ID_MAX;
        assert_int_equal(dec_auth_response(body, UMC_MSG_AUTH_RESPONSE_MAX_LEN, NULL), 0);
}

static void test_alarm_decoder_rejects_each_defect(void **state) {
        struct umc_msg_alarm m = sample_alarm();
        uint8_t body[UMC_MSG_ALARM_MAX_LEN + 1];
        int n = umc_msg_alarm_encode(&m, body, sizeof(body));
        size_t tlen = strlen(m.text);
        const struct mutation rows[] = {
                { "reason ok", 0, 2, UMC_REASON_OK, 0 },
                { "unknown reason", 0, 2, 0x0409, 0 },
                { "declared text longer than body", 2, 1, tlen + 1, 0 },
                { "declared text shorter than body", 2, 1, tlen - 1, 0 },
                { "text with tab", 3, 1, '\t', 0 },
                { "text with 0x80", 4, 1, 0x80, 0 },
                { "one byte short", 0, 0, 0, -1 },
                { "one trailing byte", 0, 0, 0, +1 },
        };

        assert_true(n > 0);
        apply_and_expect_bad(UMC_FRAME_ALARM, body, (size_t)n, rows, UMC_ELEMENTSOF(rows));

        /* 201 bytes of text, declared as such. */
        memset(body, 't', sizeof(body));
        umc_put_be16(body, UMC_REASON_TIMEOUT);
        body[2] = UMC_MSG_ALARM_TEXT_MAX + 1;
        assert_int_equal(dec_alarm(body, UMC_MSG_ALARM_MAX_LEN + 1, NULL), -EBADMSG);
        body[2] = UMC_MSG_ALARM_TEXT_MAX;
        assert_int_equal(dec_alarm(body, UMC_MSG_ALARM_MAX_LEN, NULL), 0);
}

static void test_data_decoder_rejects_empty_chunk_and_offset_overflow(void **state) {
        uint8_t body[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 'x', 'y' };

        for (size_t len = 0; len <= UMC_MSG_DATA_HEADER_LEN; len++)
                assert_int_equal(dec_data(body, len, NULL), -EBADMSG);
        /* Last byte of the chunk at offset UINT64_MAX - 1: fine; one more byte wraps. */
        assert_int_equal(dec_data(body, 9, NULL), 0);
        assert_int_equal(dec_data(body, 10, NULL), -EBADMSG);
        body[7] = 0xff;
        assert_int_equal(dec_data(body, 9, NULL), -EBADMSG);
}

static void test_fixed_bodies_accept_only_their_exact_length(void **state) {
        static const struct {
                unsigned type;
                size_t len;
        } fixed[] = {
                { UMC_FRAME_VERIFY, UMC_MSG_VERIFY_LEN },
                { UMC_FRAME_TRANSPORT, UMC_MSG_TRANSPORT_LEN },
                { UMC_FRAME_FEEDBACK, UMC_MSG_FEEDBACK_LEN },
                { UMC_FRAME_AUTH_CHALLENGE, UMC_MSG_AUTH_CHALLENGE_LEN },
                { UMC_FRAME_AUTH_CONFIRM, UMC_MSG_AUTH_CONFIRM_LEN },
        };
        uint8_t valid[UMC_MSG_VERIFY_LEN], buf[256];
        struct umc_msg_verify v = sample_verify();
        struct umc_msg_transport t = sample_transport();
        struct umc_msg_feedback f = sample_feedback();

        for (size_t i = 0; i < UMC_ELEMENTSOF(fixed); i++) {
                memset(valid, 0x33, sizeof(valid));
                switch (fixed[i].type) {
                case UMC_FRAME_VERIFY:
                        assert_int_equal(umc_msg_verify_encode(&v, valid, sizeof(valid)), 64);
                        break;
                case UMC_FRAME_TRANSPORT:
                        assert_int_equal(umc_msg_transport_encode(&t, valid, sizeof(valid)), 43);
                        break;
                case UMC_FRAME_FEEDBACK:
                        assert_int_equal(umc_msg_feedback_encode(&f, valid, sizeof(valid)), 15);
                        break;
                }
                memset(buf, 0x33, sizeof(buf));
                memcpy(buf, valid, fixed[i].len);
                for (size_t len = 0; len < sizeof(buf); len++)
                        assert_int_equal(decode_reencode(fixed[i].type, buf, len),
                                         len == fixed[i].len ? 0 : -EBADMSG);
        }
}

static void test_every_prefix_of_a_variable_body_is_rejected(void **state) {
        struct umc_msg_begin b = sample_begin();
        struct umc_msg_auth_response r = sample_response();
        struct umc_msg_alarm a = sample_alarm();
        uint8_t bb[UMC_MSG_BEGIN_MAX_LEN], rb[UMC_MSG_AUTH_RESPONSE_MAX_LEN], ab[UMC_MSG_ALARM_MAX_LEN];
        int nb = umc_msg_begin_encode(&b, bb, sizeof(bb));
        int nr = umc_msg_auth_response_encode(&r, rb, sizeof(rb));
        int na = umc_msg_alarm_encode(&a, ab, sizeof(ab));

        assert_true(nb > 0 && nr > 0 && na > 0);
        for (int k = 0; k < nb; k++)
                assert_int_equal(dec_begin(bb, (size_t)k, NULL), -EBADMSG);
        for (int k = 0; k < nr; k++)
                assert_int_equal(dec_auth_response(rb, (size_t)k, NULL), -EBADMSG);
        for (int k = 0; k < na; k++)
                assert_int_equal(dec_alarm(ab, (size_t)k, NULL), -EBADMSG);
}

static void test_stop_accepts_every_known_non_ok_reason(void **state) {
        struct umc_msg_feedback stop = sample_feedback();
        uint8_t body[UMC_MSG_FEEDBACK_LEN];
        unsigned n_ok = 0;

        for (uint32_t v = 0; v <= UINT16_MAX; v++) {
                assert_int_equal(umc_msg_feedback_encode(&stop, body, sizeof(body)), UMC_MSG_FEEDBACK_LEN);
                struct umc_msg_feedback m = sample_feedback();

                m.reason = (enum umc_reason)v;
                if (umc_msg_feedback_encode(&m, body, sizeof(body)) == UMC_MSG_FEEDBACK_LEN) {
                        assert_int_equal(dec_feedback(body, sizeof(body), NULL), 0);
                        n_ok++;
                }
                umc_put_be16(body + 1, (uint16_t)v);
                assert_int_equal(dec_feedback(body, sizeof(body), NULL),
                                 v != UMC_REASON_OK && umc_reason_is_known((uint16_t)v) ? 0 : -EBADMSG);
        }
        assert_true(n_ok > 30);
}

static void test_random_input_is_rejected_or_canonical(void **state) {
        static const unsigned types[] = {
                UMC_FRAME_DATA, UMC_FRAME_BEGIN, UMC_FRAME_VERIFY, UMC_FRAME_TRANSPORT,
                UMC_FRAME_FEEDBACK, UMC_FRAME_AUTH_CHALLENGE, UMC_FRAME_AUTH_RESPONSE,
                UMC_FRAME_AUTH_CONFIRM, UMC_FRAME_ALARM, UMC_FRAME_STATUS_QUERY, UMC_FRAME_STATUS,
        };
        uint8_t buf[300];

        srand(42);
        for (int iter = 0; iter < 3000; iter++) {
                size_t len = (size_t)rand() % sizeof(buf);

                for (size_t i = 0; i < len; i++)
                        buf[i] = (uint8_t)(0x20 + rand() % 0x60);
                for (size_t t = 0; t < UMC_ELEMENTSOF(types); t++) {
                        int r = decode_reencode(types[t], buf, len);
                        assert_true(r == 0 || r == -EBADMSG);
                }
        }
}

/* ---- STATUS_QUERY and STATUS ---- */

static struct umc_msg_status sample_status(void) {
        struct umc_msg_status m = {
                .active = 'b',
                .previous = 'a',
                .flags = UMC_MSG_STATUS_PARTIAL,
                .version_a = "1.0.0",
                .version_b = "1.1.0",
                .partial_version = "2.0.0-rc1",
                .partial_len = UINT64_C(0x0000000100000000),
                .partial_offset = 4096,
                .partial_age_sec = 86399,
        };
        return m;
}

static void test_status_round_trip_with_empty_slots_and_longest_versions(void **state) {
        struct umc_msg_status m = sample_status(), got;
        struct umc_msg_status_query q = { .what = UMC_MSG_STATUS_QUERY_SLOTS }, gq;
        uint8_t body[UMC_MSG_STATUS_MAX_LEN];
        int n;

        assert_int_equal(umc_msg_status_query_encode(&q, body, sizeof(body)), 1);
        assert_int_equal(body[0], 1);
        assert_int_equal(dec_status_query(body, 1, &gq), 0);
        assert_int_equal(gq.what, UMC_MSG_STATUS_QUERY_SLOTS);

        n = umc_msg_status_encode(&m, body, sizeof(body));
        assert_int_equal(n, 26 + 5 + 5 + 9);
        assert_memory_equal(body, "ba\x01\x05\x05\x09", 6);
        assert_int_equal(dec_status(body, (size_t)n, &got), 0);
        assert_int_equal(got.active, 'b');
        assert_int_equal(got.previous, 'a');
        assert_string_equal(got.version_b, "1.1.0");
        assert_string_equal(got.partial_version, "2.0.0-rc1");
        assert_int_equal(got.partial_len, m.partial_len);
        assert_int_equal(got.partial_offset, 4096);
        assert_int_equal(got.partial_age_sec, 86399);

        /* Factory state: slot a active and empty, nothing else. */
        m = (struct umc_msg_status){ .active = 'a' };
        assert_int_equal(umc_msg_status_encode(&m, body, sizeof(body)), UMC_MSG_STATUS_FIXED_LEN);
        assert_int_equal(dec_status(body, UMC_MSG_STATUS_FIXED_LEN, &got), 0);
        assert_string_equal(got.version_a, "");
        assert_int_equal(got.previous, 0);

        m = sample_status();
        memset(m.version_a, 'x', UMC_MSG_VERSION_MAX);
        memset(m.version_b, 'y', UMC_MSG_VERSION_MAX);
        memset(m.partial_version, 'z', UMC_MSG_VERSION_MAX);
        assert_int_equal(umc_msg_status_encode(&m, body, sizeof(body)), UMC_MSG_STATUS_MAX_LEN);
        assert_int_equal(dec_status(body, UMC_MSG_STATUS_MAX_LEN, &got), 0);
        assert_int_equal(strlen(got.partial_version), UMC_MSG_VERSION_MAX);
}

static void test_status_decoder_rejects_each_defect(void **state) {
        struct umc_msg_status m = sample_status();
        uint8_t body[UMC_MSG_STATUS_MAX_LEN + 1], q = UMC_MSG_STATUS_QUERY_SLOTS;
        int n = umc_msg_status_encode(&m, body, sizeof(body));
        const struct mutation rows[] = {
                { "active slot c", 0, 1, 'c', 0 },
                { "active slot 0", 0, 1, 0, 0 },
                { "previous is the active slot", 1, 1, 'b', 0 },
                { "previous slot c", 1, 1, 'c', 0 },
                { "unknown flag", 2, 1, 0x04, 0 },
                { "partial data without the flag", 2, 1, 0, 0 },
                { "version a longer than 64", 3, 1, 65, 0 },
                { "declared versions longer than body", 5, 1, 10, 0 },
                { "declared versions shorter than body", 5, 1, 8, 0 },
                { "partial without version", 5, 1, 0, 0 },
                { "partial of length 0", 6, 8, 0, 0 },
                { "offset beyond length", 14, 8, UINT64_C(0x0000000100000001), 0 },
                { "version with tab", 26, 1, '\t', 0 },
                { "partial version with 0x7f", 26 + 10, 1, 0x7f, 0 },
                { "one byte short", 0, 0, 0, -1 },
                { "one trailing byte", 0, 0, 0, +1 },
        };

        assert_true(n > 0);
        apply_and_expect_bad(UMC_FRAME_STATUS, body, (size_t)n, rows, UMC_ELEMENTSOF(rows));
        for (int k = 0; k < n; k++)
                assert_int_equal(dec_status(body, (size_t)k, NULL), -EBADMSG);

        /* previous naming an empty slot offers nothing to roll back to */
        m.version_a[0] = '\0';
        assert_int_equal(umc_msg_status_encode(&m, body, sizeof(body)), -EINVAL);
        m = sample_status();
        m.flags = 0;
        assert_int_equal(umc_msg_status_encode(&m, body, sizeof(body)), -EINVAL);
        m = sample_status();
        assert_int_equal(umc_msg_status_encode(&m, body, 26 + 18), -ENOBUFS);

        assert_int_equal(dec_status_query(&q, 0, NULL), -EBADMSG);
        q = 2;
        assert_int_equal(dec_status_query(&q, 1, NULL), -EBADMSG);
        assert_int_equal(umc_msg_status_query_encode(&(struct umc_msg_status_query){ .what = 2 },
                                                     body, sizeof(body)),
                         -EINVAL);
}

/* ---- Encoders ---- */

static void test_encoders_report_enobufs_for_every_short_buffer(void **state) {
        struct umc_msg_begin b = sample_begin();
        struct umc_msg_verify v = sample_verify();
        struct umc_msg_transport t = sample_transport();
        struct umc_msg_feedback f = sample_feedback();
        struct umc_msg_auth_challenge ch = {};
        struct umc_msg_auth_response r = sample_response();
        struct umc_msg_auth_confirm c = {};
        struct umc_msg_alarm a = sample_alarm();
        uint8_t chunk[10] = {};
        struct umc_msg_data d = { .offset = 1, .data = chunk, .data_len = sizeof(chunk) };
        uint8_t out[UMC_MSG_ALARM_MAX_LEN];

        for (size_t size = 0; size < sizeof(out); size++) {
#define CHECK(call, need) assert_int_equal(call, size < (size_t)(need) ? -ENOBUFS : (int)(need))
                CHECK(umc_msg_data_encode(&d, out, size), 18);
                CHECK(umc_msg_begin_encode(&b, out, size), UMC_MSG_BEGIN_FIXED_LEN + strlen(b.version));
                CHECK(umc_msg_verify_encode(&v, out, size), UMC_MSG_VERIFY_LEN);
                CHECK(umc_msg_transport_encode(&t, out, size), UMC_MSG_TRANSPORT_LEN);
                CHECK(umc_msg_feedback_encode(&f, out, size), UMC_MSG_FEEDBACK_LEN);
                CHECK(umc_msg_auth_challenge_encode(&ch, out, size), UMC_MSG_AUTH_CHALLENGE_LEN);
                CHECK(umc_msg_auth_response_encode(&r, out, size), UMC_MSG_AUTH_RESPONSE_FIXED_LEN + 7);
                CHECK(umc_msg_auth_confirm_encode(&c, out, size), UMC_MSG_AUTH_CONFIRM_LEN);
                CHECK(umc_msg_alarm_encode(&a, out, size), 3 + strlen(a.text));
#undef CHECK
        }
}

static void test_encoders_refuse_what_decoders_refuse(void **state) {
        uint8_t out[512], chunk[1] = { 0 };
        struct umc_msg_begin b;
        struct umc_msg_verify v;
        struct umc_msg_transport t;
        struct umc_msg_feedback f;
        struct umc_msg_auth_response r;
        struct umc_msg_alarm a;
        struct umc_msg_data d;

        d = (struct umc_msg_data){ .offset = 0, .data = chunk, .data_len = 0 };
        assert_int_equal(umc_msg_data_encode(&d, out, sizeof(out)), -EINVAL);
        d = (struct umc_msg_data){ .offset = UINT64_MAX, .data = chunk, .data_len = 1 };
        assert_int_equal(umc_msg_data_encode(&d, out, sizeof(out)), -EINVAL);

        b = sample_begin(), b.image_len = 0;
        assert_int_equal(umc_msg_begin_encode(&b, out, sizeof(out)), -EINVAL);
        b = sample_begin(), b.hash_alg = 7;
        assert_int_equal(umc_msg_begin_encode(&b, out, sizeof(out)), -EINVAL);
        b = sample_begin(), b.verify_every = 0;
        assert_int_equal(umc_msg_begin_encode(&b, out, sizeof(out)), -EINVAL);
        b = sample_begin(), b.chunk_len = 0;
        assert_int_equal(umc_msg_begin_encode(&b, out, sizeof(out)), -EINVAL);
        b = sample_begin(), b.version[0] = '\0';
        assert_int_equal(umc_msg_begin_encode(&b, out, sizeof(out)), -EINVAL);
        b = sample_begin(), b.version[1] = '\n';
        assert_int_equal(umc_msg_begin_encode(&b, out, sizeof(out)), -EINVAL);
        b = sample_begin(), memset(b.version, 'v', sizeof(b.version)); /* no terminator */
        assert_int_equal(umc_msg_begin_encode(&b, out, sizeof(out)), -EINVAL);

        v = sample_verify(), v.start = v.end;
        assert_int_equal(umc_msg_verify_encode(&v, out, sizeof(out)), -EINVAL);
        v = sample_verify(), v.checkpoint = 0;
        assert_int_equal(umc_msg_verify_encode(&v, out, sizeof(out)), -EINVAL);
        v = sample_verify(), v.n_frames = 0;
        assert_int_equal(umc_msg_verify_encode(&v, out, sizeof(out)), -EINVAL);

        t = sample_transport(), t.image_len = 0;
        assert_int_equal(umc_msg_transport_encode(&t, out, sizeof(out)), -EINVAL);
        t = sample_transport(), t.hash_alg = 0;
        assert_int_equal(umc_msg_transport_encode(&t, out, sizeof(out)), -EINVAL);

        f = sample_feedback(), f.reason = UMC_REASON_OK;
        assert_int_equal(umc_msg_feedback_encode(&f, out, sizeof(out)), -EINVAL);
        f = sample_feedback(), f.code = UMC_FEEDBACK_COMPLETE;
        assert_int_equal(umc_msg_feedback_encode(&f, out, sizeof(out)), -EINVAL);
        f = sample_feedback(), f.code = _UMC_FEEDBACK_MAX;
        assert_int_equal(umc_msg_feedback_encode(&f, out, sizeof(out)), -EINVAL);
        f = sample_feedback(), f.reason = 0x10000;
        assert_int_equal(umc_msg_feedback_encode(&f, out, sizeof(out)), -EINVAL);

        r = sample_response(), r.hw_id[0] = '\0';
        assert_int_equal(umc_msg_auth_response_encode(&r, out, sizeof(out)), -EINVAL);
        r = sample_response(), r.hw_id[2] = '\x7f';
        assert_int_equal(umc_msg_auth_response_encode(&r, out, sizeof(out)), -EINVAL);

        a = sample_alarm(), a.reason = UMC_REASON_OK;
        assert_int_equal(umc_msg_alarm_encode(&a, out, sizeof(out)), -EINVAL);
        a = sample_alarm(), a.reason = 0x0999;
        assert_int_equal(umc_msg_alarm_encode(&a, out, sizeof(out)), -EINVAL);
        a = sample_alarm(), a.text[0] = '\r';
        assert_int_equal(umc_msg_alarm_encode(&a, out, sizeof(out)), -EINVAL);
}

/* ---- VERIFY digest ---- */

static void test_verify_digest_matches_known_answer(void **state) {
        /* Computed independently (Python hashlib) from the layout in docs/protocol.md. */
        static const char want_hex[] =
                "cda2139a7decfd6b3f2814e2aa180fc6f17938df6b8e36db45c1c96aef34f811";
        uint8_t data[1000], digest[UMC_HASH_LEN], want[UMC_HASH_LEN];
        struct umc_hash h = {};

        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (uint8_t)i;
        assert_int_equal(umc_hex_decode(want_hex, strlen(want_hex), want, sizeof(want)), 0);
        assert_int_equal(umc_msg_verify_digest_init(&h, UMC_HASH_SHA256), 0);
        assert_int_equal(umc_msg_verify_digest_update(&h, data, sizeof(data)), 0);
        assert_int_equal(umc_msg_verify_digest_final(&h, UINT64_C(1700000000000000), 1, 0, 1000,
                                                     digest), 0);
        assert_memory_equal(digest, want, sizeof(want));
}

static void digest_of(enum umc_hash_alg alg, uint64_t time, uint32_t cp, uint64_t start,
                      uint64_t end, const uint8_t *data, size_t len, size_t split,
                      uint8_t out[UMC_HASH_LEN]) {
        struct umc_hash h = {};

        assert_int_equal(umc_msg_verify_digest_init(&h, alg), 0);
        for (size_t off = 0; off < len; off += split) {
                size_t n = len - off < split ? len - off : split;
                assert_int_equal(umc_msg_verify_digest_update(&h, data + off, n), 0);
        }
        assert_int_equal(umc_msg_verify_digest_final(&h, time, cp, start, end, out), 0);
}

static void test_verify_digest_binds_time_range_and_every_byte(void **state) {
        uint8_t data[777], ref[UMC_HASH_LEN], d[UMC_HASH_LEN];

        fill(data, sizeof(data), 9);
        digest_of(UMC_HASH_SHA256, 1000, 2, 100, 877, data, sizeof(data), sizeof(data), ref);

        /* Frames arrive in chunks of any size: the digest is the same. */
        static const size_t splits[] = { 1, 7, 64, 500 };
        for (size_t i = 0; i < UMC_ELEMENTSOF(splits); i++) {
                digest_of(UMC_HASH_SHA256, 1000, 2, 100, 877, data, sizeof(data), splits[i], d);
                assert_memory_equal(d, ref, sizeof(d));
        }

        digest_of(UMC_HASH_SHA256, 1001, 2, 100, 877, data, sizeof(data), 64, d);
        assert_memory_not_equal(d, ref, sizeof(d));
        digest_of(UMC_HASH_SHA256, 1000, 3, 100, 877, data, sizeof(data), 64, d);
        assert_memory_not_equal(d, ref, sizeof(d));
        digest_of(UMC_HASH_SHA256, 1000, 2, 101, 877, data, sizeof(data), 64, d);
        assert_memory_not_equal(d, ref, sizeof(d));
        digest_of(UMC_HASH_SHA256, 1000, 2, 100, 878, data, sizeof(data), 64, d);
        assert_memory_not_equal(d, ref, sizeof(d));
        digest_of(UMC_HASH_SM3, 1000, 2, 100, 877, data, sizeof(data), 64, d);
        assert_memory_not_equal(d, ref, sizeof(d));
        for (size_t i = 0; i < sizeof(data); i += 97) {
                data[i] ^= 0x01;
                digest_of(UMC_HASH_SHA256, 1000, 2, 100, 877, data, sizeof(data), 64, d);
                assert_memory_not_equal(d, ref, sizeof(d));
                data[i] ^= 0x01;
        }
}

static void test_verify_digest_refuses_empty_range_and_unknown_alg(void **state) {
        uint8_t d[UMC_HASH_LEN];
        struct umc_hash h = {};

        memset(d, SENTINEL, sizeof(d));
        assert_int_equal(umc_msg_verify_digest_init(&h, UMC_HASH_SHA256), 0);
        assert_int_equal(umc_msg_verify_digest_final(&h, 0, 1, 5, 5, d), -EINVAL);
        assert_int_equal(umc_msg_verify_digest_init(&h, UMC_HASH_SHA256), 0);
        assert_int_equal(umc_msg_verify_digest_final(&h, 0, 1, 6, 5, d), -EINVAL);
        assert_true(all_bytes(d, sizeof(d), SENTINEL));
        assert_int_equal(umc_msg_verify_digest_init(&h, 99), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_data_round_trip_points_into_the_buffer),
                cmocka_unit_test(test_begin_round_trip),
                cmocka_unit_test(test_verify_round_trip),
                cmocka_unit_test(test_transport_round_trip),
                cmocka_unit_test(test_feedback_round_trip_for_every_code),
                cmocka_unit_test(test_auth_bodies_round_trip),
                cmocka_unit_test(test_alarm_round_trip_with_empty_and_longest_text),
                cmocka_unit_test(test_status_round_trip_with_empty_slots_and_longest_versions),
                cmocka_unit_test(test_status_decoder_rejects_each_defect),
                cmocka_unit_test(test_begin_decoder_rejects_each_defect),
                cmocka_unit_test(test_verify_decoder_rejects_each_defect),
                cmocka_unit_test(test_transport_decoder_rejects_each_defect),
                cmocka_unit_test(test_feedback_decoder_rejects_each_defect),
                cmocka_unit_test(test_auth_response_decoder_rejects_each_defect),
                cmocka_unit_test(test_alarm_decoder_rejects_each_defect),
                cmocka_unit_test(test_data_decoder_rejects_empty_chunk_and_offset_overflow),
                cmocka_unit_test(test_fixed_bodies_accept_only_their_exact_length),
                cmocka_unit_test(test_every_prefix_of_a_variable_body_is_rejected),
                cmocka_unit_test(test_stop_accepts_every_known_non_ok_reason),
                cmocka_unit_test(test_random_input_is_rejected_or_canonical),
                cmocka_unit_test(test_encoders_report_enobufs_for_every_short_buffer),
                cmocka_unit_test(test_encoders_refuse_what_decoders_refuse),
                cmocka_unit_test(test_verify_digest_matches_known_answer),
                cmocka_unit_test(test_verify_digest_binds_time_range_and_every_byte),
                cmocka_unit_test(test_verify_digest_refuses_empty_range_and_unknown_alg),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
