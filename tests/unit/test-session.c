/* SPDX-License-Identifier: MIT */
/* The secure session: every frame authenticated, replay-checked, keyed by key ID. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "umc/session.h"
#include "umc/util.h"

#define ALL_SUITES ((1u << UMC_SUITE_AES_128_GCM) | (1u << UMC_SUITE_AES_256_GCM) | \
                    (1u << UMC_SUITE_CHACHA20_POLY1305) | (1u << UMC_SUITE_SM4_CTR_HMAC_SM3))

static const uint8_t body_text[] = "firmware chunk 0123456789abcdef";

struct pair {
        struct umc_session *master, *ecu;
};

static void params_fill(struct umc_session_params *p, enum umc_direction dir, uint8_t key_byte) {
        memset(p, 0, sizeof(*p));
        memset(p->master_key, key_byte, sizeof(p->master_key));
        memset(p->salt, 0x5a, sizeof(p->salt));
        p->session_id = UINT64_C(0x1122334455667788);
        p->ecu_id = 0x10;
        p->tx_dir = dir;
        p->allowed_suites = ALL_SUITES;
        p->replay_window = 64;
        p->max_payload = 4096;
}

static void pair_new(struct pair *pr, enum umc_suite_id inner, uint32_t seq_limit) {
        struct umc_session_params p;

        params_fill(&p, UMC_DIR_MASTER_TO_ECU, 0x42);
        p.inner_suite = inner;
        p.seq_limit = seq_limit;
        assert_int_equal(umc_session_new(&p, &pr->master), 0);
        p.tx_dir = UMC_DIR_ECU_TO_MASTER;
        assert_int_equal(umc_session_new(&p, &pr->ecu), 0);
}

static void pair_free(struct pair *pr) {
        umc_session_free(pr->master);
        umc_session_free(pr->ecu);
}

static size_t seal(struct umc_session *s, uint8_t *buf, size_t size) {
        size_t len = 0;
        assert_int_equal(umc_session_seal(s, UMC_FRAME_DATA, body_text, sizeof(body_text), buf,
                                          size, &len), 0);
        return len;
}

static enum umc_reason open_reason(struct umc_session *s, const uint8_t *buf, size_t len) {
        struct umc_frame_header h;
        uint8_t out[8192];
        size_t body_len;
        enum umc_reason why = UMC_REASON_OK;
        int r = umc_session_open(s, buf, len, &h, out, sizeof(out), &body_len, &why);
        if (r == 0) {
                assert_int_equal(why, UMC_REASON_OK);
                assert_int_equal(body_len, sizeof(body_text));
                assert_memory_equal(out, body_text, body_len);
        } else {
                assert_int_equal(r, -EBADMSG);
                assert_int_not_equal(why, UMC_REASON_OK);
        }
        return why;
}

static void test_every_suite_round_trips_both_directions(void **state) {
        for (unsigned suite = 1; suite < _UMC_SUITE_MAX; suite++) {
                struct pair pr;
                uint8_t buf[1024];
                size_t len;

                pair_new(&pr, UMC_SUITE_NONE, 0);
                assert_int_equal(umc_session_set_tx_key(pr.master, 1, suite), 0);
                assert_int_equal(umc_session_set_tx_key(pr.ecu, 1, suite), 0);
                len = seal(pr.master, buf, sizeof(buf));
                assert_int_equal(len, umc_session_overhead(pr.master, suite) + sizeof(body_text));
                /* The ciphertext does not contain the plaintext. */
                assert_null(memmem(buf, len, body_text, 16));
                assert_int_equal(open_reason(pr.ecu, buf, len), UMC_REASON_OK);
                len = seal(pr.ecu, buf, sizeof(buf));
                assert_int_equal(open_reason(pr.master, buf, len), UMC_REASON_OK);
                /* A frame is never accepted by the side that sealed it (direction keys). */
                len = seal(pr.master, buf, sizeof(buf));
                assert_int_equal(open_reason(pr.master, buf, len), UMC_REASON_TAG_MISMATCH);
                pair_free(&pr);
        }
}

static void test_layered_mode_peels_both_layers(void **state) {
        struct pair pr;
        struct umc_session *single;
        struct umc_session_params p;
        uint8_t buf[1024];
        size_t len;

        pair_new(&pr, UMC_SUITE_SM4_CTR_HMAC_SM3, 0);
        assert_int_equal(umc_session_set_tx_key(pr.master, 1, UMC_SUITE_AES_128_GCM), 0);
        len = seal(pr.master, buf, sizeof(buf));
        assert_int_equal(len, UMC_FRAME_HEADER_LEN + sizeof(body_text) + 16 + 32);
        assert_int_equal(buf[5], UMC_SUITE_SM4_CTR_HMAC_SM3);
        assert_int_equal(open_reason(pr.ecu, buf, len), UMC_REASON_OK);

        /* A receiver not configured for the same inner suite refuses the frame. */
        params_fill(&p, UMC_DIR_ECU_TO_MASTER, 0x42);
        assert_int_equal(umc_session_new(&p, &single), 0);
        assert_int_equal(open_reason(single, buf, len), UMC_REASON_SUITE_NOT_ALLOWED);
        umc_session_free(single);
        pair_free(&pr);
}

static void test_tampered_byte_anywhere_is_rejected(void **state) {
        struct pair pr;
        uint8_t buf[1024], copy[1024];
        size_t len;

        pair_new(&pr, UMC_SUITE_NONE, 0);
        assert_int_equal(umc_session_set_tx_key(pr.master, 1, UMC_SUITE_CHACHA20_POLY1305), 0);
        len = seal(pr.master, buf, sizeof(buf));
        /* Flip each bit position of the whole frame in turn: none is accepted. */
        for (size_t i = 0; i < len; i++) {
                memcpy(copy, buf, len);
                copy[i] ^= 0x01;
                assert_int_not_equal(open_reason(pr.ecu, copy, len), UMC_REASON_OK);
        }
        /* And the untouched frame still opens: the failures moved no state. */
        assert_int_equal(open_reason(pr.ecu, buf, len), UMC_REASON_OK);
        pair_free(&pr);
}

static void test_replayed_frame_is_rejected(void **state) {
        struct pair pr;
        uint8_t a[512], b[512];
        size_t la, lb;

        pair_new(&pr, UMC_SUITE_NONE, 0);
        assert_int_equal(umc_session_set_tx_key(pr.master, 1, UMC_SUITE_AES_256_GCM), 0);
        la = seal(pr.master, a, sizeof(a));
        lb = seal(pr.master, b, sizeof(b));
        assert_int_equal(open_reason(pr.ecu, b, lb), UMC_REASON_OK);
        assert_int_equal(open_reason(pr.ecu, a, la), UMC_REASON_OK); /* late, within window */
        assert_int_equal(open_reason(pr.ecu, a, la), UMC_REASON_REPLAYED);
        assert_int_equal(open_reason(pr.ecu, b, lb), UMC_REASON_REPLAYED);
        pair_free(&pr);
}

static void test_rewritten_key_id_is_rejected(void **state) {
        struct pair pr;
        uint8_t first[512], buf[512];
        size_t lf, len;

        pair_new(&pr, UMC_SUITE_NONE, 0);
        assert_int_equal(umc_session_set_tx_key(pr.master, 1, UMC_SUITE_AES_128_GCM), 0);
        lf = seal(pr.master, first, sizeof(first));
        assert_int_equal(open_reason(pr.ecu, first, lf), UMC_REASON_OK);
        len = seal(pr.master, buf, sizeof(buf));

        buf[7] = 2; /* key ID 1 -> 2: a new key, which does not authenticate */
        assert_int_equal(open_reason(pr.ecu, buf, len), UMC_REASON_TAG_MISMATCH);
        buf[7] = 40; /* far ahead */
        assert_int_equal(open_reason(pr.ecu, buf, len), UMC_REASON_UNKNOWN_KEY_ID);
        buf[7] = 1;
        buf[4] = UMC_SUITE_CHACHA20_POLY1305; /* suite no longer matches key ID 1 */
        assert_int_equal(open_reason(pr.ecu, buf, len), UMC_REASON_KEY_ID_SUITE_MISMATCH);
        buf[4] = UMC_SUITE_AES_128_GCM;
        assert_int_equal(open_reason(pr.ecu, buf, len), UMC_REASON_OK);
        pair_free(&pr);
}

static void test_forged_new_key_id_does_not_displace_keys(void **state) {
        struct pair pr;
        uint8_t buf[512], forged[512];
        size_t len;

        pair_new(&pr, UMC_SUITE_NONE, 0);
        assert_int_equal(umc_session_set_tx_key(pr.master, 1, UMC_SUITE_AES_128_GCM), 0);
        len = seal(pr.master, buf, sizeof(buf));
        assert_int_equal(open_reason(pr.ecu, buf, len), UMC_REASON_OK);
        /* Forge frames for key IDs 2..5 with garbage tags: none may be cached. */
        for (uint8_t k = 2; k <= 5; k++) {
                memcpy(forged, buf, len);
                forged[7] = k;
                assert_int_equal(open_reason(pr.ecu, forged, len), UMC_REASON_TAG_MISMATCH);
        }
        len = seal(pr.master, buf, sizeof(buf));
        assert_int_equal(open_reason(pr.ecu, buf, len), UMC_REASON_OK);
        pair_free(&pr);
}

static void test_wrong_master_key_session_or_ecu_is_rejected(void **state) {
        struct umc_session_params p;
        struct umc_session *tx, *rx;
        uint8_t buf[512];
        size_t len;

        params_fill(&p, UMC_DIR_MASTER_TO_ECU, 0x42);
        assert_int_equal(umc_session_new(&p, &tx), 0);
        assert_int_equal(umc_session_set_tx_key(tx, 1, UMC_SUITE_AES_128_GCM), 0);
        len = seal(tx, buf, sizeof(buf));

        params_fill(&p, UMC_DIR_ECU_TO_MASTER, 0x43); /* another ECU's key */
        assert_int_equal(umc_session_new(&p, &rx), 0);
        assert_int_equal(open_reason(rx, buf, len), UMC_REASON_TAG_MISMATCH);
        umc_session_free(rx);

        params_fill(&p, UMC_DIR_ECU_TO_MASTER, 0x42);
        p.session_id++;
        assert_int_equal(umc_session_new(&p, &rx), 0);
        assert_int_equal(open_reason(rx, buf, len), UMC_REASON_WRONG_SESSION);
        umc_session_free(rx);

        params_fill(&p, UMC_DIR_ECU_TO_MASTER, 0x42);
        p.ecu_id = 0x11;
        assert_int_equal(umc_session_new(&p, &rx), 0);
        assert_int_equal(open_reason(rx, buf, len), UMC_REASON_WRONG_ECU);
        umc_session_free(rx);

        params_fill(&p, UMC_DIR_ECU_TO_MASTER, 0x42);
        p.allowed_suites = 1u << UMC_SUITE_CHACHA20_POLY1305;
        assert_int_equal(umc_session_new(&p, &rx), 0);
        assert_int_equal(open_reason(rx, buf, len), UMC_REASON_SUITE_NOT_ALLOWED);
        umc_session_free(rx);
        umc_session_free(tx);
}

static void test_truncated_and_padded_frames_are_rejected(void **state) {
        struct pair pr;
        uint8_t buf[512];
        size_t len;

        pair_new(&pr, UMC_SUITE_NONE, 0);
        assert_int_equal(umc_session_set_tx_key(pr.master, 1, UMC_SUITE_AES_128_GCM), 0);
        len = seal(pr.master, buf, sizeof(buf));
        for (size_t cut = 0; cut < len; cut++)
                assert_int_not_equal(open_reason(pr.ecu, buf, cut), UMC_REASON_OK);
        assert_int_equal(open_reason(pr.ecu, buf, len + 1), UMC_REASON_FRAME_TRAILING_BYTES);
        assert_int_equal(open_reason(pr.ecu, buf, len), UMC_REASON_OK);
        pair_free(&pr);
}

static void test_rotation_old_keys_expire_and_jumps_are_bounded(void **state) {
        struct pair pr;
        uint8_t old[512], buf[512];
        size_t lold, len;

        pair_new(&pr, UMC_SUITE_NONE, 0);
        assert_int_equal(umc_session_set_tx_key(pr.master, 1, UMC_SUITE_AES_128_GCM), 0);
        lold = seal(pr.master, old, sizeof(old));
        assert_int_equal(open_reason(pr.ecu, old, lold), UMC_REASON_OK);
        lold = seal(pr.master, old, sizeof(old)); /* held back */

        for (uint16_t k = 2; k <= UMC_SESSION_RX_KEYS + 1; k++) {
                assert_int_equal(umc_session_set_tx_key(pr.master, k, 1 + k % 4), 0);
                len = seal(pr.master, buf, sizeof(buf));
                assert_int_equal(open_reason(pr.ecu, buf, len), UMC_REASON_OK);
        }
        /* Key ID 1 has left the receiver's cache: its late frame is refused. */
        assert_int_equal(open_reason(pr.ecu, old, lold), UMC_REASON_UNKNOWN_KEY_ID);

        /* The sender can never go back to a key ID. */
        assert_int_equal(umc_session_set_tx_key(pr.master, 3, UMC_SUITE_AES_128_GCM), -EINVAL);
        /* A step of more than UMC_SESSION_KEY_ID_AHEAD is refused by the receiver. */
        assert_int_equal(umc_session_set_tx_key(pr.master, 5 + UMC_SESSION_KEY_ID_AHEAD + 1,
                                                UMC_SUITE_AES_128_GCM), 0);
        len = seal(pr.master, buf, sizeof(buf));
        assert_int_equal(open_reason(pr.ecu, buf, len), UMC_REASON_UNKNOWN_KEY_ID);
        pair_free(&pr);
}

/* One (key, nonce) record: the key bytes and the nonce derived as the sealer does. */
struct use {
        uint8_t key[UMC_KEY_MAX];
        uint8_t nonce[UMC_NONCE_LEN];
};

static int use_cmp(const void *a, const void *b) {
        return memcmp(a, b, sizeof(struct use));
}

static void test_nonce_never_repeats_across_rotations_and_seq_wrap(void **state) {
        enum { LIMIT = 7, KEYS = 40 };
        static struct use uses[(LIMIT + 1) * KEYS];
        size_t n = 0;
        struct pair pr;
        uint8_t buf[512];
        uint8_t master[UMC_MASTER_KEY_LEN], salt[UMC_SALT_LEN];

        memset(master, 0x42, sizeof(master));
        memset(salt, 0x5a, sizeof(salt));
        pair_new(&pr, UMC_SUITE_NONE, LIMIT);
        for (uint16_t k = 1; k <= KEYS; k++) {
                /* Suites repeat across key IDs (the order cycles). */
                enum umc_suite_id suite = 1 + (k % 4);
                assert_int_equal(umc_session_set_tx_key(pr.master, k, suite), 0);
                for (;;) {
                        size_t len = 0;
                        int r = umc_session_seal(pr.master, UMC_FRAME_DATA, body_text,
                                                 sizeof(body_text), buf, sizeof(buf), &len);
                        if (r == -ERANGE)
                                break; /* sequence space used: the sender must rotate */
                        assert_int_equal(r, 0);
                        assert_int_equal(open_reason(pr.ecu, buf, len), UMC_REASON_OK);

                        uint32_t seq = umc_get_be32(buf + 16);
                        struct umc_key key;
                        uint8_t iv[UMC_NONCE_LEN];
                        assert_int_equal(umc_get_be16(buf + 6), k);
                        assert_int_equal(umc_kdf_frame_key(master, salt,
                                                           UINT64_C(0x1122334455667788), k, suite,
                                                           UMC_DIR_MASTER_TO_ECU, UMC_LAYER_OUTER,
                                                           &key, iv), 0);
                        assert_true(n < UMC_ELEMENTSOF(uses));
                        memset(&uses[n], 0, sizeof(uses[n]));
                        memcpy(uses[n].key, key.bytes, key.len);
                        umc_kdf_nonce(iv, seq, uses[n].nonce);
                        n++;
                        umc_key_clear(&key);
                }
        }
        assert_int_equal(n, (LIMIT + 1) * KEYS);
        qsort(uses, n, sizeof(uses[0]), use_cmp);
        for (size_t i = 1; i < n; i++)
                assert_int_not_equal(use_cmp(&uses[i - 1], &uses[i]), 0);
        pair_free(&pr);
}

static void test_seal_reports_missing_key_and_size_limits(void **state) {
        struct pair pr;
        static uint8_t big[8192];
        uint8_t buf[8192];
        size_t len;

        pair_new(&pr, UMC_SUITE_NONE, 0);
        assert_int_equal(umc_session_seal(pr.master, UMC_FRAME_DATA, big, 10, buf, sizeof(buf),
                                          &len), -ENOKEY);
        assert_int_equal(umc_session_set_tx_key(pr.master, 1, UMC_SUITE_AES_128_GCM), 0);
        assert_int_equal(umc_session_seal(pr.master, UMC_FRAME_DATA, big, 4096 - 15, buf,
                                          sizeof(buf), &len), -EMSGSIZE);
        assert_int_equal(umc_session_seal(pr.master, UMC_FRAME_DATA, big, 4096 - 16, buf,
                                          sizeof(buf), &len), 0);
        assert_int_equal(len, UMC_FRAME_HEADER_LEN + 4096);
        assert_int_equal(umc_session_seal(pr.master, UMC_FRAME_DATA, big, 100, buf, 100, &len),
                         -ENOBUFS);
        assert_int_equal(umc_session_seal(pr.master, UMC_FRAME_AUTH_CHALLENGE, big, 32, buf,
                                          sizeof(buf), &len), -EINVAL);
        assert_int_equal(umc_session_set_tx_key(pr.master, 2, UMC_SUITE_NONE), -EINVAL);
        pair_free(&pr);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_suite_round_trips_both_directions),
                cmocka_unit_test(test_layered_mode_peels_both_layers),
                cmocka_unit_test(test_tampered_byte_anywhere_is_rejected),
                cmocka_unit_test(test_replayed_frame_is_rejected),
                cmocka_unit_test(test_rewritten_key_id_is_rejected),
                cmocka_unit_test(test_forged_new_key_id_does_not_displace_keys),
                cmocka_unit_test(test_wrong_master_key_session_or_ecu_is_rejected),
                cmocka_unit_test(test_truncated_and_padded_frames_are_rejected),
                cmocka_unit_test(test_rotation_old_keys_expire_and_jumps_are_bounded),
                cmocka_unit_test(test_nonce_never_repeats_across_rotations_and_seq_wrap),
                cmocka_unit_test(test_seal_reports_missing_key_and_size_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
