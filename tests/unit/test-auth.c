/* SPDX-License-Identifier: MIT */
/* The AUTH MACs, the session salt and the whole AUTH frames, against known answers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "umc/auth.h"
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

static void fill(uint8_t *p, size_t n, uint8_t start) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)(start + i);
}

/* ---- AUTH MACs and salt ---- */

struct auth_vec {
        uint8_t key[UMC_MASTER_KEY_LEN];
        uint8_t nonce_m[UMC_MSG_NONCE_LEN], nonce_e[UMC_MSG_NONCE_LEN];
        uint8_t hdr_resp[UMC_FRAME_HEADER_LEN], hdr_conf[UMC_FRAME_HEADER_LEN];
};

static struct auth_vec sample_auth(void) {
        struct auth_vec v;
        struct umc_frame_header h = {
                .type = UMC_FRAME_AUTH_RESPONSE,
                .session_id = UINT64_C(0x0102030405060708),
                .seq = 0,
                .ecu_id = 0x42,
                .payload_len = UMC_MSG_AUTH_RESPONSE_FIXED_LEN + 7,
        };

        fill(v.key, sizeof(v.key), 0x00);
        fill(v.nonce_m, sizeof(v.nonce_m), 0x20);
        fill(v.nonce_e, sizeof(v.nonce_e), 0x40);
        umc_frame_header_encode(&h, v.hdr_resp);
        h.type = UMC_FRAME_AUTH_CONFIRM;
        h.seq = 1;
        h.payload_len = UMC_MSG_AUTH_CONFIRM_LEN;
        umc_frame_header_encode(&h, v.hdr_conf);
        return v;
}

static void hex_to(const char *hex, uint8_t out[32]) {
        assert_int_equal(umc_hex_decode(hex, strlen(hex), out, 32), 0);
}

static void test_auth_macs_and_salt_match_known_answers(void **state) {
        /* Computed independently (Python hmac) from the definitions in docs/protocol.md. */
        struct auth_vec v = sample_auth();
        uint8_t mac[32], want[32];

        assert_int_equal(umc_auth_response_mac(v.key, v.hdr_resp, v.nonce_m, v.nonce_e,
                                               "HW-1234", mac), 0);
        hex_to("92b02f9b05236317ebec3dd415531494e02ad4232a445ed1822cd588368b62d5", want);
        assert_memory_equal(mac, want, 32);

        assert_int_equal(umc_auth_confirm_mac(v.key, v.hdr_conf, v.nonce_m, v.nonce_e, mac), 0);
        hex_to("93d9447e0d852eade9f38870f350afb258e1fe2a07599d700da4ec5a670f767c", want);
        assert_memory_equal(mac, want, 32);

        assert_int_equal(umc_auth_session_salt(v.key, v.nonce_m, v.nonce_e, mac), 0);
        hex_to("f799b9e3fd6694ace48e92dbc99b214639379367ad2c34da1b5809d1cfe08b6e", want);
        assert_memory_equal(mac, want, 32);
}

static void test_auth_mac_matches_openssl_hmac_over_documented_concatenation(void **state) {
        struct auth_vec v = sample_auth();
        uint8_t msg[256], want[32], mac[32];
        unsigned int want_len = 0;
        size_t n = 0;

        memcpy(msg + n, "umc1 auth-response", 18), n += 18;
        memcpy(msg + n, v.hdr_resp, 28), n += 28;
        memcpy(msg + n, v.nonce_m, 32), n += 32;
        memcpy(msg + n, v.nonce_e, 32), n += 32;
        memcpy(msg + n, "ECU_body-7", 10), n += 10;
        assert_non_null(HMAC(EVP_sha256(), v.key, 32, msg, n, want, &want_len));
        assert_int_equal(want_len, 32);
        assert_int_equal(umc_auth_response_mac(v.key, v.hdr_resp, v.nonce_m, v.nonce_e,
                                               "ECU_body-7", mac), 0);
        assert_memory_equal(mac, want, 32);
}

static void test_tampering_any_mac_input_changes_the_mac(void **state) {
        struct auth_vec v = sample_auth();
        uint8_t ref_r[32], ref_c[32], ref_s[32], mac[32];
        char hw[] = "HW-1234";
        struct {
                uint8_t *p;
                size_t n;
        } inputs[] = {
                { v.key, sizeof(v.key) },
                { v.nonce_m, sizeof(v.nonce_m) },
                { v.nonce_e, sizeof(v.nonce_e) },
                { v.hdr_resp, sizeof(v.hdr_resp) },
                { v.hdr_conf, sizeof(v.hdr_conf) },
                { (uint8_t *)hw, strlen(hw) },
        };

        assert_int_equal(umc_auth_response_mac(v.key, v.hdr_resp, v.nonce_m, v.nonce_e, hw, ref_r), 0);
        assert_int_equal(umc_auth_confirm_mac(v.key, v.hdr_conf, v.nonce_m, v.nonce_e, ref_c), 0);
        assert_int_equal(umc_auth_session_salt(v.key, v.nonce_m, v.nonce_e, ref_s), 0);
        assert_memory_not_equal(ref_r, ref_c, 32);
        assert_memory_not_equal(ref_r, ref_s, 32);

        for (size_t i = 0; i < UMC_ELEMENTSOF(inputs); i++)
                for (size_t j = 0; j < inputs[i].n; j++) {
                        bool in_resp = inputs[i].p != v.hdr_conf;
                        bool in_conf = inputs[i].p != v.hdr_resp && inputs[i].p != (uint8_t *)hw;
                        bool in_salt = in_conf && inputs[i].p != v.hdr_conf;

                        inputs[i].p[j] ^= 0x01; /* '4' -> '5' etc.: hw stays printable */
                        assert_int_equal(umc_auth_response_mac(v.key, v.hdr_resp, v.nonce_m,
                                                               v.nonce_e, hw, mac), 0);
                        assert_int_equal(memcmp(mac, ref_r, 32) != 0, in_resp);
                        assert_int_equal(umc_auth_confirm_mac(v.key, v.hdr_conf, v.nonce_m,
                                                              v.nonce_e, mac), 0);
                        assert_int_equal(memcmp(mac, ref_c, 32) != 0, in_conf);
                        assert_int_equal(umc_auth_session_salt(v.key, v.nonce_m, v.nonce_e, mac), 0);
                        assert_int_equal(memcmp(mac, ref_s, 32) != 0, in_salt);
                        inputs[i].p[j] ^= 0x01;
                }

        /* The nonces are not interchangeable. */
        assert_int_equal(umc_auth_session_salt(v.key, v.nonce_e, v.nonce_m, mac), 0);
        assert_memory_not_equal(mac, ref_s, 32);
}

static void test_auth_mac_refuses_bad_hw_id(void **state) {
        struct auth_vec v = sample_auth();
        uint8_t mac[32];
        char long_id[UMC_MSG_HW_ID_MAX + 2];

        memset(mac, SENTINEL, sizeof(mac));
        assert_int_equal(umc_auth_response_mac(v.key, v.hdr_resp, v.nonce_m, v.nonce_e, "", mac), -EINVAL);
        assert_int_equal(umc_auth_response_mac(v.key, v.hdr_resp, v.nonce_m, v.nonce_e, "a\tb", mac), -EINVAL);
        memset(long_id, 'i', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        assert_int_equal(umc_auth_response_mac(v.key, v.hdr_resp, v.nonce_m, v.nonce_e, long_id, mac), -EINVAL);
        assert_true(all_bytes(mac, sizeof(mac), SENTINEL));
        long_id[UMC_MSG_HW_ID_MAX] = '\0';
        assert_int_equal(umc_auth_response_mac(v.key, v.hdr_resp, v.nonce_m, v.nonce_e, long_id, mac), 0);
}

/* ---- Whole AUTH frames: the exchange as both peers run it ---- */

static void test_auth_exchange_verifies_only_with_the_right_key(void **state) {
        struct auth_vec v = sample_auth();
        struct umc_frame_header h = { .session_id = 77, .seq = 0, .ecu_id = 0x42 }, got;
        uint8_t frame[256], wrong_key[UMC_MASTER_KEY_LEN], salt_m[32], salt_e[32];
        struct umc_msg_auth_challenge ch;
        struct umc_msg_auth_response resp;
        struct umc_msg_auth_confirm conf;
        const uint8_t *payload;
        enum umc_reason why;
        int n;

        memcpy(wrong_key, v.key, sizeof(wrong_key));
        wrong_key[31] ^= 0x80;

        /* Master -> ECU: challenge. */
        n = umc_auth_challenge_frame(&h, v.nonce_m, frame, sizeof(frame));
        assert_int_equal(n, UMC_FRAME_HEADER_LEN + UMC_MSG_AUTH_CHALLENGE_LEN);
        assert_int_equal(umc_frame_parse(frame, (size_t)n, 4096, &got, &payload, &why), 0);
        assert_int_equal(got.type, UMC_FRAME_AUTH_CHALLENGE);
        assert_int_equal(got.suite, UMC_SUITE_NONE);
        assert_int_equal(umc_msg_auth_challenge_decode(payload, got.payload_len, &ch), 0);
        assert_memory_equal(ch.nonce_m, v.nonce_m, 32);

        /* ECU -> master: response. */
        h.seq = 0;
        n = umc_auth_response_frame(v.key, &h, ch.nonce_m, v.nonce_e, "HW-1234", frame, sizeof(frame));
        assert_int_equal(n, UMC_FRAME_HEADER_LEN + UMC_MSG_AUTH_RESPONSE_FIXED_LEN + 7);
        assert_int_equal(umc_frame_parse(frame, (size_t)n, 4096, &got, &payload, &why), 0);
        assert_int_equal(got.type, UMC_FRAME_AUTH_RESPONSE);
        assert_int_equal(got.payload_len, UMC_MSG_AUTH_RESPONSE_FIXED_LEN + 7);
        assert_int_equal(umc_msg_auth_response_decode(payload, got.payload_len, &resp), 0);
        assert_string_equal(resp.hw_id, "HW-1234");
        assert_int_equal(umc_auth_response_verify(v.key, frame, v.nonce_m, &resp), 0);
        assert_int_equal(umc_auth_response_verify(wrong_key, frame, v.nonce_m, &resp), -EBADMSG);
        /* A replayed response to a different challenge fails. */
        v.nonce_m[0] ^= 1;
        assert_int_equal(umc_auth_response_verify(v.key, frame, v.nonce_m, &resp), -EBADMSG);
        v.nonce_m[0] ^= 1;
        /* The header is bound: a changed session ID, ECU ID or sequence fails. */
        static const size_t hdr_bytes[] = { 3, 7, 15, 19, 23, 27 };
        for (size_t i = 0; i < UMC_ELEMENTSOF(hdr_bytes); i++) {
                frame[hdr_bytes[i]] ^= 0x04;
                assert_int_equal(umc_auth_response_verify(v.key, frame, v.nonce_m, &resp), -EBADMSG);
                frame[hdr_bytes[i]] ^= 0x04;
        }
        resp.mac[5] ^= 0x10;
        assert_int_equal(umc_auth_response_verify(v.key, frame, v.nonce_m, &resp), -EBADMSG);

        /* Master -> ECU: confirm. */
        h.seq = 1;
        n = umc_auth_confirm_frame(v.key, &h, v.nonce_m, resp.nonce_e, frame, sizeof(frame));
        assert_int_equal(n, UMC_FRAME_HEADER_LEN + UMC_MSG_AUTH_CONFIRM_LEN);
        assert_int_equal(umc_frame_parse(frame, (size_t)n, 4096, &got, &payload, &why), 0);
        assert_int_equal(got.type, UMC_FRAME_AUTH_CONFIRM);
        assert_int_equal(got.seq, 1);
        assert_int_equal(umc_msg_auth_confirm_decode(payload, got.payload_len, &conf), 0);
        assert_int_equal(umc_auth_confirm_verify(v.key, frame, v.nonce_m, v.nonce_e, &conf), 0);
        assert_int_equal(umc_auth_confirm_verify(wrong_key, frame, v.nonce_m, v.nonce_e, &conf), -EBADMSG);
        assert_int_equal(umc_auth_confirm_verify(v.key, frame, v.nonce_e, v.nonce_m, &conf), -EBADMSG);
        frame[8] ^= 1;
        assert_int_equal(umc_auth_confirm_verify(v.key, frame, v.nonce_m, v.nonce_e, &conf), -EBADMSG);

        /* Both sides derive the same salt, and only with the same key. */
        assert_int_equal(umc_auth_session_salt(v.key, v.nonce_m, v.nonce_e, salt_m), 0);
        assert_int_equal(umc_auth_session_salt(v.key, ch.nonce_m, resp.nonce_e, salt_e), 0);
        assert_memory_equal(salt_m, salt_e, 32);
        assert_int_equal(umc_auth_session_salt(wrong_key, v.nonce_m, v.nonce_e, salt_e), 0);
        assert_memory_not_equal(salt_m, salt_e, 32);
}

static void test_auth_frame_builders_check_buffer_and_hw_id(void **state) {
        struct auth_vec v = sample_auth();
        struct umc_frame_header h = { .type = UMC_FRAME_DATA, .suite = 1, .payload_len = 999 };
        uint8_t frame[UMC_FRAME_HEADER_LEN + UMC_MSG_AUTH_RESPONSE_MAX_LEN];
        struct umc_frame_header got;

        for (size_t size = 0; size < UMC_FRAME_HEADER_LEN + 32; size++) {
                assert_int_equal(umc_auth_challenge_frame(&h, v.nonce_m, frame, size), -ENOBUFS);
                assert_int_equal(umc_auth_confirm_frame(v.key, &h, v.nonce_m, v.nonce_e, frame, size), -ENOBUFS);
        }
        for (size_t size = 0; size < UMC_FRAME_HEADER_LEN + UMC_MSG_AUTH_RESPONSE_FIXED_LEN + 3; size++)
                assert_int_equal(umc_auth_response_frame(v.key, &h, v.nonce_m, v.nonce_e, "abc",
                                                         frame, size), -ENOBUFS);
        assert_int_equal(umc_auth_response_frame(v.key, &h, v.nonce_m, v.nonce_e, "",
                                                 frame, sizeof(frame)), -EINVAL);
        /* Type, suites and length come from the builder, not from the template. */
        assert_int_equal(umc_auth_response_frame(v.key, &h, v.nonce_m, v.nonce_e, "abc",
                                                 frame, sizeof(frame)),
                         UMC_FRAME_HEADER_LEN + UMC_MSG_AUTH_RESPONSE_FIXED_LEN + 3);
        assert_int_equal(umc_frame_header_parse(frame, sizeof(frame), 4096, &got, NULL), 0);
        assert_int_equal(got.type, UMC_FRAME_AUTH_RESPONSE);
        assert_int_equal(got.suite, UMC_SUITE_NONE);
        assert_int_equal(got.payload_len, UMC_MSG_AUTH_RESPONSE_FIXED_LEN + 3);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_auth_macs_and_salt_match_known_answers),
                cmocka_unit_test(test_auth_mac_matches_openssl_hmac_over_documented_concatenation),
                cmocka_unit_test(test_tampering_any_mac_input_changes_the_mac),
                cmocka_unit_test(test_auth_mac_refuses_bad_hw_id),
                cmocka_unit_test(test_auth_exchange_verifies_only_with_the_right_key),
                cmocka_unit_test(test_auth_frame_builders_check_buffer_and_hw_id),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
