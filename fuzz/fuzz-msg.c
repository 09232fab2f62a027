/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the frame bodies of msg.h, one decoder per input:
 * the first byte picks the body type (as the frame header's type would),
 * the rest is the body. Properties, beyond no crash under ASan/UBSan:
 *  - a decoder returns 0 or -EBADMSG, nothing else;
 *  - a body that decodes re-encodes to exactly the same bytes (one
 *    encoding per message: no second reader could see another one);
 *  - decoded strings are NUL-terminated printable ASCII of the allowed
 *    length, DATA stays inside the input;
 *  - a STATUS keeps msg.h's rules: an active slot, a rollback slot that
 *    is another, non-empty one, and the partial image's fields exactly
 *    when its flag is set;
 *  - an AUTH MAC under a key the input cannot know never verifies.
 */
#include <string.h>

#include "common.h"
#include "umc/auth.h"
#include "umc/msg.h"
#include "umc/util.h"

static uint8_t out[UMC_FRAME_MAX_PAYLOAD];

static void check_reencodes(int r, int n, const uint8_t *buf, size_t len) {
        CHECK(r == 0 || r == -EBADMSG);
        if (r == 0) {
                CHECK(n >= 0 && (size_t)n == len);
                CHECK(memcmp(out, buf, len) == 0);
        }
}

static void check_printable(const char *s, size_t min, size_t max) {
        size_t n = strnlen(s, max + 1);

        CHECK(n >= min && n <= max);
        for (size_t i = 0; i < n; i++)
                CHECK(s[i] >= 0x20 && s[i] <= 0x7e);
}

static const uint8_t key[UMC_MASTER_KEY_LEN] = { 0x5a };
static const uint8_t header[UMC_FRAME_HEADER_LEN] = { 0x55, 0x4d };
static const uint8_t nonce[UMC_MSG_NONCE_LEN] = { 7 };

static void fuzz_data(const uint8_t *b, size_t n) {
        struct umc_msg_data m;
        int r = umc_msg_data_decode(b, n, &m);

        if (r == 0) {
                CHECK(m.data == b + UMC_MSG_DATA_HEADER_LEN && m.data_len == n - UMC_MSG_DATA_HEADER_LEN);
                CHECK(m.offset + m.data_len >= m.offset);
        }
        check_reencodes(r, r == 0 ? umc_msg_data_encode(&m, out, sizeof(out)) : 0, b, n);
}

static void fuzz_begin(const uint8_t *b, size_t n) {
        struct umc_msg_begin m;
        int r = umc_msg_begin_decode(b, n, &m);

        if (r == 0)
                check_printable(m.version, 1, UMC_MSG_VERSION_MAX);
        check_reencodes(r, r == 0 ? umc_msg_begin_encode(&m, out, sizeof(out)) : 0, b, n);
}

static void fuzz_verify(const uint8_t *b, size_t n) {
        struct umc_msg_verify m;
        int r = umc_msg_verify_decode(b, n, &m);

        if (r == 0)
                CHECK(m.start < m.end && m.n_frames >= 1);
        check_reencodes(r, r == 0 ? umc_msg_verify_encode(&m, out, sizeof(out)) : 0, b, n);
}

static void fuzz_transport(const uint8_t *b, size_t n) {
        struct umc_msg_transport m;
        int r = umc_msg_transport_decode(b, n, &m);

        check_reencodes(r, r == 0 ? umc_msg_transport_encode(&m, out, sizeof(out)) : 0, b, n);
}

static void fuzz_feedback(const uint8_t *b, size_t n) {
        struct umc_msg_feedback m;
        int r = umc_msg_feedback_decode(b, n, &m);

        if (r == 0) {
                CHECK(m.code < _UMC_FEEDBACK_MAX);
                CHECK((m.code == UMC_FEEDBACK_STOP) == (m.reason != UMC_REASON_OK));
        }
        check_reencodes(r, r == 0 ? umc_msg_feedback_encode(&m, out, sizeof(out)) : 0, b, n);
}

static void fuzz_challenge(const uint8_t *b, size_t n) {
        struct umc_msg_auth_challenge m;
        int r = umc_msg_auth_challenge_decode(b, n, &m);

        check_reencodes(r, r == 0 ? umc_msg_auth_challenge_encode(&m, out, sizeof(out)) : 0, b, n);
}

static void fuzz_response(const uint8_t *b, size_t n) {
        struct umc_msg_auth_response m;
        int r = umc_msg_auth_response_decode(b, n, &m);

        if (r == 0) {
                check_printable(m.hw_id, 1, UMC_MSG_HW_ID_MAX);
                CHECK(umc_auth_response_verify(key, header, nonce, &m) == -EBADMSG);
        }
        check_reencodes(r, r == 0 ? umc_msg_auth_response_encode(&m, out, sizeof(out)) : 0, b, n);
}

static void fuzz_confirm(const uint8_t *b, size_t n) {
        struct umc_msg_auth_confirm m;
        int r = umc_msg_auth_confirm_decode(b, n, &m);

        if (r == 0)
                CHECK(umc_auth_confirm_verify(key, header, nonce, nonce, &m) == -EBADMSG);
        check_reencodes(r, r == 0 ? umc_msg_auth_confirm_encode(&m, out, sizeof(out)) : 0, b, n);
}

static void fuzz_alarm(const uint8_t *b, size_t n) {
        struct umc_msg_alarm m;
        int r = umc_msg_alarm_decode(b, n, &m);

        if (r == 0) {
                CHECK(m.reason != UMC_REASON_OK);
                check_printable(m.text, 0, UMC_MSG_ALARM_TEXT_MAX);
        }
        check_reencodes(r, r == 0 ? umc_msg_alarm_encode(&m, out, sizeof(out)) : 0, b, n);
}

static void fuzz_status_query(const uint8_t *b, size_t n) {
        struct umc_msg_status_query m;
        int r = umc_msg_status_query_decode(b, n, &m);

        if (r == 0)
                CHECK(m.what == UMC_MSG_STATUS_QUERY_SLOTS);
        check_reencodes(r, r == 0 ? umc_msg_status_query_encode(&m, out, sizeof(out)) : 0, b, n);
}

/* The rules msg.h gives for struct umc_msg_status, restated. */
static void check_status(const struct umc_msg_status *m) {
        const char *prev = m->previous == 'a' ? m->version_a : m->version_b;

        CHECK(m->active == 'a' || m->active == 'b');
        CHECK(m->previous == 0 || ((m->previous == 'a' || m->previous == 'b') &&
                                   m->previous != m->active && prev[0]));
        CHECK((m->flags & ~(UMC_MSG_STATUS_PARTIAL | UMC_MSG_STATUS_GATEWAY)) == 0);
        check_printable(m->version_a, 0, UMC_MSG_VERSION_MAX);
        check_printable(m->version_b, 0, UMC_MSG_VERSION_MAX);
        if (m->flags & UMC_MSG_STATUS_PARTIAL) {
                check_printable(m->partial_version, 1, UMC_MSG_VERSION_MAX);
                CHECK(m->partial_len >= 1 && m->partial_offset <= m->partial_len);
        } else {
                CHECK(!m->partial_version[0] && m->partial_len == 0 && m->partial_offset == 0 &&
                      m->partial_age_sec == 0);
        }
}

static void fuzz_status(const uint8_t *b, size_t n) {
        struct umc_msg_status m;
        int r = umc_msg_status_decode(b, n, &m);

        if (r == 0)
                check_status(&m);
        check_reencodes(r, r == 0 ? umc_msg_status_encode(&m, out, sizeof(out)) : 0, b, n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static void (*const decoders[])(const uint8_t *, size_t) = {
                fuzz_data, fuzz_begin, fuzz_verify, fuzz_transport, fuzz_feedback,
                fuzz_challenge, fuzz_response, fuzz_confirm, fuzz_alarm, fuzz_status_query,
                fuzz_status,
        };

        if (size < 1)
                return 0;
        decoders[data[0] % UMC_ELEMENTSOF(decoders)](data + 1, size - 1);
        return 0;
}
