/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "umc/cipher.h"
#include "umc/frame.h"
#include "umc/util.h"

static size_t tag_of(unsigned suite) {
        const struct umc_suite *s = umc_suite_by_id(suite);

        assert_non_null(s);
        return s->tag_len;
}

static struct umc_frame_header sample_header(uint8_t type) {
        bool auth = umc_frame_type_is_auth(type);

        return (struct umc_frame_header){
                .type = type,
                .suite = auth ? UMC_SUITE_NONE : UMC_SUITE_AES_128_GCM,
                .inner_suite = UMC_SUITE_NONE,
                .key_id = 0x0102,
                .session_id = UINT64_C(0x0304050607080910),
                .seq = 0x11121314,
                .ecu_id = 0x15161718,
                .payload_len = auth ? 32 : (uint32_t)tag_of(UMC_SUITE_AES_128_GCM),
        };
}

/* Parse a copy in a heap block of exactly len bytes, so ASan catches any read past len. */
static int parse_exact(const uint8_t *buf, size_t len, size_t max_payload, bool whole,
                       struct umc_frame_header *ret, enum umc_reason *ret_reason) {
        uint8_t *copy = malloc(len ? len : 1);
        const uint8_t *payload = NULL;
        int r;

        assert_non_null(copy);
        if (len)
                memcpy(copy, buf, len);
        if (whole) {
                r = umc_frame_parse(copy, len, max_payload, ret, &payload, ret_reason);
                if (r == 0)
                        assert_ptr_equal(payload, copy + UMC_FRAME_HEADER_LEN);
        } else
                r = umc_frame_header_parse(copy, len, max_payload, ret, ret_reason);
        free(copy);
        return r;
}

static void assert_header_equal(const struct umc_frame_header *a, const struct umc_frame_header *b) {
        assert_int_equal(a->type, b->type);
        assert_int_equal(a->suite, b->suite);
        assert_int_equal(a->inner_suite, b->inner_suite);
        assert_int_equal(a->key_id, b->key_id);
        assert_int_equal(a->session_id, b->session_id);
        assert_int_equal(a->seq, b->seq);
        assert_int_equal(a->ecu_id, b->ecu_id);
        assert_int_equal(a->payload_len, b->payload_len);
}

static void test_encoding_is_the_documented_big_endian_layout(void **state) {
        struct umc_frame_header h = sample_header(UMC_FRAME_DATA);
        uint8_t out[UMC_FRAME_HEADER_LEN];
        const uint8_t want[UMC_FRAME_HEADER_LEN] = {
                0x55, 0x4d, 0x01, 0x01, 0x01, 0x00, 0x01, 0x02,
                0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x10,
                0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                0x00, 0x00, 0x00, 0x10,
        };

        umc_frame_header_encode(&h, out);
        assert_memory_equal(out, want, sizeof(want));
}

static void test_every_type_round_trips(void **state) {
        for (unsigned t = 1; t < _UMC_FRAME_TYPE_MAX; t++) {
                struct umc_frame_header h = sample_header((uint8_t)t), got;
                uint8_t frame[UMC_FRAME_HEADER_LEN + 64] = {};
                enum umc_reason why;

                umc_frame_header_encode(&h, frame);
                assert_int_equal(parse_exact(frame, UMC_FRAME_HEADER_LEN + h.payload_len, 4096,
                                             true, &got, &why), 0);
                assert_int_equal(why, UMC_REASON_OK);
                assert_header_equal(&got, &h);
        }
}

static void test_extreme_field_values_round_trip(void **state) {
        struct umc_frame_header h = {
                .type = UMC_FRAME_BEGIN,
                .suite = UMC_SUITE_SM4_CTR_HMAC_SM3,
                .inner_suite = UMC_SUITE_CHACHA20_POLY1305,
                .key_id = UINT16_MAX,
                .session_id = UINT64_MAX,
                .seq = UINT32_MAX,
                .ecu_id = UINT32_MAX,
                .payload_len = UMC_FRAME_MAX_PAYLOAD,
        }, got;
        uint8_t buf[UMC_FRAME_HEADER_LEN];

        umc_frame_header_encode(&h, buf);
        assert_int_equal(umc_frame_header_parse(buf, sizeof(buf), UMC_FRAME_MAX_PAYLOAD, &got, NULL), 0);
        assert_header_equal(&got, &h);
}

static void test_every_suite_and_layered_pair_is_accepted(void **state) {
        for (unsigned s = 1; s < _UMC_SUITE_MAX; s++)
                for (unsigned in = 0; in < _UMC_SUITE_MAX; in++) {
                        struct umc_frame_header h = sample_header(UMC_FRAME_VERIFY), got;
                        uint8_t buf[UMC_FRAME_HEADER_LEN];

                        h.suite = (uint8_t)s;
                        h.inner_suite = (uint8_t)in;
                        /* The least a sealed payload can be: both tags around an empty body. */
                        h.payload_len = (uint32_t)(tag_of(s) + (in ? tag_of(in) : 0));
                        umc_frame_header_encode(&h, buf);
                        assert_int_equal(umc_frame_header_parse(buf, sizeof(buf), 4096, &got, NULL), 0);
                        assert_header_equal(&got, &h);
                }
}

/* One mutation of an otherwise valid header per row, and the reason it must produce. */
struct defect_row {
        const char *name;
        uint8_t type, suite, inner;
        uint32_t payload_len;  /* UINT32_MAX - 1: outer tag - 1, UINT32_MAX - 2: both tags - 1 */
        int off;               /* byte to overwrite after encoding, -1: none */
        uint8_t val;
        size_t max_payload;
        enum umc_reason want;
};

#define TAGS_MINUS_ONE (UINT32_MAX - 1)
#define BOTH_TAGS_MINUS_ONE (UINT32_MAX - 2)

static const struct defect_row defects[] = {
        { "first magic byte", UMC_FRAME_DATA, 1, 0, 16, 0, 'u', 4096, UMC_REASON_FRAME_BAD_MAGIC },
        { "second magic byte", UMC_FRAME_DATA, 1, 0, 16, 1, 'm', 4096, UMC_REASON_FRAME_BAD_MAGIC },
        { "version 0", UMC_FRAME_DATA, 1, 0, 16, 2, 0, 4096, UMC_REASON_FRAME_BAD_VERSION },
        { "version 2", UMC_FRAME_DATA, 1, 0, 16, 2, 2, 4096, UMC_REASON_FRAME_BAD_VERSION },
        { "version 255", UMC_FRAME_DATA, 1, 0, 16, 2, 0xff, 4096, UMC_REASON_FRAME_BAD_VERSION },
        { "type 0", UMC_FRAME_DATA, 1, 0, 16, 3, 0, 4096, UMC_REASON_FRAME_BAD_TYPE },
        { "type past the last", UMC_FRAME_DATA, 1, 0, 16, 3, _UMC_FRAME_TYPE_MAX, 4096, UMC_REASON_FRAME_BAD_TYPE },
        { "type 255", UMC_FRAME_DATA, 1, 0, 16, 3, 0xff, 4096, UMC_REASON_FRAME_BAD_TYPE },
        { "sealed type without suite", UMC_FRAME_DATA, 1, 0, 16, 4, UMC_SUITE_NONE, 4096, UMC_REASON_FRAME_BAD_SUITE },
        { "suite past the last", UMC_FRAME_FEEDBACK, 1, 0, 16, 4, _UMC_SUITE_MAX, 4096, UMC_REASON_FRAME_BAD_SUITE },
        { "suite 255", UMC_FRAME_ALARM, 1, 0, 16, 4, 0xff, 4096, UMC_REASON_FRAME_BAD_SUITE },
        { "inner suite past the last", UMC_FRAME_DATA, 1, 0, 16, 5, _UMC_SUITE_MAX, 4096, UMC_REASON_FRAME_BAD_INNER_SUITE },
        { "inner suite 255", UMC_FRAME_TRANSPORT, 1, 0, 16, 5, 0xff, 4096, UMC_REASON_FRAME_BAD_INNER_SUITE },
        { "challenge with a suite", UMC_FRAME_AUTH_CHALLENGE, 0, 0, 32, 4, UMC_SUITE_AES_128_GCM, 4096, UMC_REASON_FRAME_BAD_SUITE },
        { "response with a suite", UMC_FRAME_AUTH_RESPONSE, 0, 0, 66, 4, UMC_SUITE_SM4_CTR_HMAC_SM3, 4096, UMC_REASON_FRAME_BAD_SUITE },
        { "confirm with an inner suite", UMC_FRAME_AUTH_CONFIRM, 0, 0, 32, 5, UMC_SUITE_AES_256_GCM, 4096, UMC_REASON_FRAME_BAD_INNER_SUITE },
        { "payload above channel limit", UMC_FRAME_DATA, 1, 0, 4096, -1, 0, 4095, UMC_REASON_FRAME_TOO_LONG },
        { "payload above protocol limit", UMC_FRAME_DATA, 1, 0, UMC_FRAME_MAX_PAYLOAD + 1, -1, 0, SIZE_MAX, UMC_REASON_FRAME_TOO_LONG },
        { "payload length high byte set", UMC_FRAME_DATA, 1, 0, 16, 24, 0xff, SIZE_MAX, UMC_REASON_FRAME_TOO_LONG },
        { "auth payload above channel limit", UMC_FRAME_AUTH_CHALLENGE, 0, 0, 33, -1, 0, 32, UMC_REASON_FRAME_TOO_LONG },
        { "payload shorter than tag", UMC_FRAME_DATA, 1, 0, TAGS_MINUS_ONE, -1, 0, 4096, UMC_REASON_FRAME_PAYLOAD_TOO_SHORT },
        { "empty sealed payload", UMC_FRAME_FEEDBACK, 3, 0, 0, -1, 0, 4096, UMC_REASON_FRAME_PAYLOAD_TOO_SHORT },
        { "layered payload without room for inner tag", UMC_FRAME_DATA, 2, 4, BOTH_TAGS_MINUS_ONE, -1, 0, 4096, UMC_REASON_FRAME_PAYLOAD_TOO_SHORT },
};

static uint32_t row_payload_len(const struct defect_row *row) {
        if (row->payload_len == TAGS_MINUS_ONE)
                return (uint32_t)tag_of(row->suite) - 1;
        if (row->payload_len == BOTH_TAGS_MINUS_ONE)
                return (uint32_t)(tag_of(row->suite) + tag_of(row->inner)) - 1;
        return row->payload_len;
}

static void test_each_header_defect_has_its_reason(void **state) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(defects); i++) {
                const struct defect_row *row = &defects[i];
                struct umc_frame_header h = sample_header(row->type), got;
                uint8_t buf[UMC_FRAME_HEADER_LEN];
                enum umc_reason why = UMC_REASON_OK;

                print_message("row: %s\n", row->name);
                h.suite = row->suite;
                h.inner_suite = row->inner;
                h.payload_len = row_payload_len(row);
                umc_frame_header_encode(&h, buf);

                /* Without the mutation the row's header is valid: the row tests one thing. */
                if (row->off >= 0) {
                        assert_int_equal(umc_frame_header_parse(buf, sizeof(buf), row->max_payload,
                                                                &got, NULL), 0);
                        buf[row->off] = row->val;
                }

                memset(&got, 0xa5, sizeof(got));
                assert_int_equal(parse_exact(buf, sizeof(buf), row->max_payload, false, &got, &why),
                                 -EBADMSG);
                assert_int_equal(why, row->want);
                /* Outputs are written only on success. */
                assert_int_equal(got.type, 0xa5);
                assert_int_equal(got.payload_len, 0xa5a5a5a5);
        }
}

static void test_first_defect_in_check_order_is_reported(void **state) {
        struct umc_frame_header h = sample_header(UMC_FRAME_DATA);
        uint8_t buf[UMC_FRAME_HEADER_LEN];
        enum umc_reason why;

        h.suite = 0xee;
        h.inner_suite = 0xee;
        h.payload_len = UINT32_MAX;
        umc_frame_header_encode(&h, buf);
        buf[0] = 0;
        buf[2] = 9;
        buf[3] = 0;
        static const enum umc_reason order[] = {
                UMC_REASON_FRAME_BAD_MAGIC,      UMC_REASON_FRAME_BAD_VERSION,
                UMC_REASON_FRAME_BAD_TYPE,       UMC_REASON_FRAME_BAD_SUITE,
                UMC_REASON_FRAME_BAD_INNER_SUITE, UMC_REASON_FRAME_TOO_LONG,
        };
        /* Repair one defect at a time: the next one in the order shows up. */
        for (size_t i = 0; i < UMC_ELEMENTSOF(order); i++) {
                assert_int_equal(umc_frame_header_parse(buf, sizeof(buf), 4096, NULL, &why), -EBADMSG);
                assert_int_equal(why, order[i]);
                switch (i) {
                case 0: buf[0] = UMC_FRAME_MAGIC0; break;
                case 1: buf[2] = UMC_FRAME_VERSION; break;
                case 2: buf[3] = UMC_FRAME_DATA; break;
                case 3: buf[4] = UMC_SUITE_AES_128_GCM; break;
                case 4: buf[5] = UMC_SUITE_AES_256_GCM; break;
                case 5: umc_put_be32(buf + 24, 1); break;
                }
        }
        assert_int_equal(umc_frame_header_parse(buf, sizeof(buf), 4096, NULL, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_FRAME_PAYLOAD_TOO_SHORT);
}

static void test_truncated_at_every_length_below_header(void **state) {
        struct umc_frame_header h = sample_header(UMC_FRAME_AUTH_CONFIRM), got;
        uint8_t buf[UMC_FRAME_HEADER_LEN + 32] = {};

        umc_frame_header_encode(&h, buf);
        for (size_t len = 0; len < UMC_FRAME_HEADER_LEN; len++) {
                enum umc_reason why = UMC_REASON_OK;

                memset(&got, 0x5a, sizeof(got));
                assert_int_equal(parse_exact(buf, len, 4096, false, &got, &why), -EBADMSG);
                assert_int_equal(why, UMC_REASON_FRAME_TRUNCATED);
                why = UMC_REASON_OK;
                assert_int_equal(parse_exact(buf, len, 4096, true, &got, &why), -EBADMSG);
                assert_int_equal(why, UMC_REASON_FRAME_TRUNCATED);
                assert_int_equal(got.seq, 0x5a5a5a5a);
        }
}

static void test_truncated_mid_payload(void **state) {
        struct umc_frame_header h = sample_header(UMC_FRAME_DATA), got;
        uint8_t buf[UMC_FRAME_HEADER_LEN + 100] = {};

        h.payload_len = 100;
        umc_frame_header_encode(&h, buf);
        for (size_t len = UMC_FRAME_HEADER_LEN; len < sizeof(buf); len++) {
                enum umc_reason why = UMC_REASON_OK;

                /* A stream reader learns the length from the header alone... */
                assert_int_equal(parse_exact(buf, len, 4096, false, &got, &why), 0);
                assert_int_equal(got.payload_len, 100);
                /* ...but the whole frame is not there yet. */
                assert_int_equal(parse_exact(buf, len, 4096, true, &got, &why), -EBADMSG);
                assert_int_equal(why, UMC_REASON_FRAME_TRUNCATED);
        }
        assert_int_equal(parse_exact(buf, sizeof(buf), 4096, true, &got, NULL), 0);
}

static void test_trailing_bytes_are_rejected(void **state) {
        struct umc_frame_header h = sample_header(UMC_FRAME_DATA);
        uint8_t buf[UMC_FRAME_HEADER_LEN + 40] = {};
        enum umc_reason why;

        h.payload_len = 20;
        umc_frame_header_encode(&h, buf);
        for (size_t extra = 1; extra <= 20; extra++) {
                why = UMC_REASON_OK;
                assert_int_equal(parse_exact(buf, UMC_FRAME_HEADER_LEN + 20 + extra, 4096, true,
                                             NULL, &why), -EBADMSG);
                assert_int_equal(why, UMC_REASON_FRAME_TRAILING_BYTES);
        }
}

static void test_channel_limit_is_inclusive(void **state) {
        struct umc_frame_header h = sample_header(UMC_FRAME_DATA);
        uint8_t buf[UMC_FRAME_HEADER_LEN];
        enum umc_reason why;

        /* Classic ISO-TP: 4095-byte PDUs, so at most 4095 - 28 bytes of payload. */
        h.payload_len = 4095 - UMC_FRAME_HEADER_LEN;
        umc_frame_header_encode(&h, buf);
        assert_int_equal(umc_frame_header_parse(buf, sizeof(buf), 4095 - UMC_FRAME_HEADER_LEN, NULL, &why), 0);
        h.payload_len++;
        umc_frame_header_encode(&h, buf);
        assert_int_equal(umc_frame_header_parse(buf, sizeof(buf), 4095 - UMC_FRAME_HEADER_LEN, NULL, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_FRAME_TOO_LONG);
        /* A channel limit above the protocol ceiling does not raise the ceiling. */
        h.payload_len = UMC_FRAME_MAX_PAYLOAD + 1;
        umc_frame_header_encode(&h, buf);
        assert_int_equal(umc_frame_header_parse(buf, sizeof(buf), SIZE_MAX, NULL, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_FRAME_TOO_LONG);
}

static void test_auth_frames_need_no_tag_room(void **state) {
        struct umc_frame_header h = sample_header(UMC_FRAME_AUTH_CHALLENGE), got;
        uint8_t buf[UMC_FRAME_HEADER_LEN];

        /* Clear-text payloads may be any length; the body decoder judges them. */
        h.payload_len = 0;
        umc_frame_header_encode(&h, buf);
        assert_int_equal(umc_frame_parse(buf, sizeof(buf), 4096, &got, NULL, NULL), 0);
        assert_int_equal(got.payload_len, 0);
}

static void test_type_names_and_auth_classification(void **state) {
        unsigned n_auth = 0;

        for (unsigned t = 1; t < _UMC_FRAME_TYPE_MAX; t++) {
                assert_string_not_equal(umc_frame_type_to_string(t), "unknown");
                for (unsigned u = 1; u < t; u++)
                        assert_string_not_equal(umc_frame_type_to_string(t), umc_frame_type_to_string(u));
                n_auth += !!umc_frame_type_is_auth(t);
        }
        assert_int_equal(n_auth, 3);
        assert_true(umc_frame_type_is_auth(UMC_FRAME_AUTH_RESPONSE));
        assert_false(umc_frame_type_is_auth(UMC_FRAME_DATA));
        assert_false(umc_frame_type_is_auth(0));
        assert_string_equal(umc_frame_type_to_string(0), "unknown");
        assert_string_equal(umc_frame_type_to_string(_UMC_FRAME_TYPE_MAX), "unknown");
        assert_string_equal(umc_frame_type_to_string(UINT32_MAX), "unknown");
        assert_string_equal(umc_frame_type_to_string(UMC_FRAME_VERIFY), "verify");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_encoding_is_the_documented_big_endian_layout),
                cmocka_unit_test(test_every_type_round_trips),
                cmocka_unit_test(test_extreme_field_values_round_trip),
                cmocka_unit_test(test_every_suite_and_layered_pair_is_accepted),
                cmocka_unit_test(test_each_header_defect_has_its_reason),
                cmocka_unit_test(test_first_defect_in_check_order_is_reported),
                cmocka_unit_test(test_truncated_at_every_length_below_header),
                cmocka_unit_test(test_truncated_mid_payload),
                cmocka_unit_test(test_trailing_bytes_are_rejected),
                cmocka_unit_test(test_channel_limit_is_inclusive),
                cmocka_unit_test(test_auth_frames_need_no_tag_room),
                cmocka_unit_test(test_type_names_and_auth_classification),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
