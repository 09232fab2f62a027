/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the wire format: the frame parser under several
 * channel limits, every body decoder, and the replay window. Beyond "no
 * crash" (ASan/UBSan) it checks properties that must hold for any input:
 *  - a parsed frame is exactly 28 + payload_len bytes, within the limit,
 *    and its header re-encodes to the same 28 bytes;
 *  - a rejected frame names a known frame-parse reason;
 *  - a body that decodes re-encodes to the same bytes (one encoding each);
 *  - a sequence number just recorded by the replay window is refused.
 * See fuzz/README.md for how to build and run it; fuzz-msg.c covers the
 * bodies one decoder at a time, fuzz-agent-pdu.c the sealed path.
 */
#include <string.h>

#include "common.h"
#include "umc/auth.h"
#include "umc/frame.h"
#include "umc/msg.h"
#include "umc/reason.h"
#include "umc/replay.h"
#include "umc/util.h"

static uint8_t out[UMC_FRAME_MAX_PAYLOAD + UMC_FRAME_HEADER_LEN];

static void check_canonical(int r, int n, const uint8_t *buf, size_t len) {
        CHECK(r == 0 || r == -EBADMSG);
        if (r == 0) {
                CHECK(n >= 0 && (size_t)n == len);
                CHECK(memcmp(out, buf, len) == 0);
        }
}

#define DECODE_REENCODE(name, type, buf, len)                                        \
        do {                                                                         \
                type m;                                                              \
                int r_ = umc_msg_##name##_decode(buf, len, &m), n_ = 0;              \
                if (r_ == 0)                                                         \
                        n_ = umc_msg_##name##_encode(&m, out, sizeof(out));          \
                check_canonical(r_, n_, buf, len);                                   \
        } while (0)

static void fuzz_bodies(const uint8_t *buf, size_t len) {
        DECODE_REENCODE(data, struct umc_msg_data, buf, len);
        DECODE_REENCODE(begin, struct umc_msg_begin, buf, len);
        DECODE_REENCODE(verify, struct umc_msg_verify, buf, len);
        DECODE_REENCODE(transport, struct umc_msg_transport, buf, len);
        DECODE_REENCODE(feedback, struct umc_msg_feedback, buf, len);
        DECODE_REENCODE(auth_challenge, struct umc_msg_auth_challenge, buf, len);
        DECODE_REENCODE(auth_response, struct umc_msg_auth_response, buf, len);
        DECODE_REENCODE(auth_confirm, struct umc_msg_auth_confirm, buf, len);
        DECODE_REENCODE(alarm, struct umc_msg_alarm, buf, len);
}

/* A receiver checks an AUTH MAC over the header as received: no key here knows it. */
static void fuzz_auth_macs(const uint8_t *frame, const uint8_t *body, size_t len) {
        static const uint8_t key[UMC_MASTER_KEY_LEN] = { 1, 2, 3 };
        static const uint8_t nonce[UMC_MSG_NONCE_LEN] = { 4, 5, 6 };
        struct umc_msg_auth_response resp;
        struct umc_msg_auth_confirm conf;

        if (umc_msg_auth_response_decode(body, len, &resp) == 0)
                CHECK(umc_auth_response_verify(key, frame, nonce, &resp) == -EBADMSG);
        if (umc_msg_auth_confirm_decode(body, len, &conf) == 0)
                CHECK(umc_auth_confirm_verify(key, frame, nonce, nonce, &conf) == -EBADMSG);
}

/* Field by field: the struct has padding. */
static bool header_equal(const struct umc_frame_header *a, const struct umc_frame_header *b) {
        return a->type == b->type && a->suite == b->suite && a->inner_suite == b->inner_suite &&
               a->key_id == b->key_id && a->session_id == b->session_id && a->seq == b->seq &&
               a->ecu_id == b->ecu_id && a->payload_len == b->payload_len;
}

static void fuzz_frame(const uint8_t *buf, size_t len) {
        /* No limit, classic ISO-TP, kernel <= 5.17 ISO-TP, the protocol ceiling, none. */
        static const size_t limits[] = {
                0, 32, 4095 - UMC_FRAME_HEADER_LEN, 8200 - UMC_FRAME_HEADER_LEN,
                UMC_FRAME_MAX_PAYLOAD, SIZE_MAX,
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(limits); i++) {
                struct umc_frame_header h, hh;
                const uint8_t *payload = NULL;
                enum umc_reason why = (enum umc_reason)0xffff, hwhy = (enum umc_reason)0xffff;
                int r, hr;

                r = umc_frame_parse(buf, len, limits[i], &h, &payload, &why);
                hr = umc_frame_header_parse(buf, len, limits[i], &hh, &hwhy);
                if (r < 0) {
                        CHECK(r == -EBADMSG);
                        CHECK(umc_reason_is_known((uint16_t)why) && (why >> 8) == 0x01);
                        /* A header that parses fails the frame only on its length. */
                        if (hr == 0)
                                CHECK(why == UMC_REASON_FRAME_TRUNCATED ||
                                      why == UMC_REASON_FRAME_TRAILING_BYTES);
                        else
                                CHECK(hwhy == why);
                        continue;
                }
                CHECK(hr == 0 && header_equal(&h, &hh));
                CHECK(len == UMC_FRAME_HEADER_LEN + (size_t)h.payload_len);
                CHECK(h.payload_len <= limits[i] && h.payload_len <= UMC_FRAME_MAX_PAYLOAD);
                CHECK(payload == buf + UMC_FRAME_HEADER_LEN);
                umc_frame_header_encode(&h, out);
                CHECK(memcmp(out, buf, UMC_FRAME_HEADER_LEN) == 0);
                /* AUTH bodies travel in the clear: decode them as a receiver would. */
                if (umc_frame_type_is_auth(h.type)) {
                        fuzz_bodies(payload, h.payload_len);
                        fuzz_auth_macs(buf, payload, h.payload_len);
                }
        }
}

static void fuzz_replay(const uint8_t *buf, size_t len) {
        struct umc_replay w;
        enum umc_reason why;

        if (len < 2)
                return;
        CHECK(umc_replay_init(&w, 1 + (((unsigned)buf[0] << 8 | buf[1]) % UMC_REPLAY_WINDOW_MAX)) == 0);
        for (size_t i = 2; i + 4 <= len; i += 4) {
                uint32_t seq = umc_get_be32(buf + i);

                if (umc_replay_check(&w, seq, &why) == 0) {
                        umc_replay_update(&w, seq);
                        CHECK(umc_replay_check(&w, seq, &why) == -EBADMSG && why == UMC_REASON_REPLAYED);
                        CHECK(w.top >= seq);
                } else
                        CHECK(why == UMC_REASON_REPLAYED || why == UMC_REASON_SEQ_TOO_OLD);
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_frame(data, size);
        fuzz_bodies(data, size);
        fuzz_replay(data, size);
        return 0;
}
