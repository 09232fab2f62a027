/* SPDX-License-Identifier: MIT */
/*
 * The pure parts of the ISO-TP module: option checks and the payload that
 * fits one PDU. Sockets need a kernel with CAN_ISOTP, which this host lacks:
 * they are exercised for real by tests/integration/test-isotp.sh in the guest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "umc/frame.h"
#include "umc/isotp.h"

static struct umc_isotp_opts valid(void) {
        struct umc_isotp_opts o;

        umc_isotp_opts_default(&o);
        o.tx_id = 0x6f1;
        o.rx_id = 0x6f2;
        return o;
}

static void test_defaults_are_classic_unpadded_no_gap(void **state) {
        struct umc_isotp_opts o;

        (void)state;
        umc_isotp_opts_default(&o);
        assert_false(o.fd);
        assert_false(o.brs);
        assert_false(o.padding);
        assert_int_equal(o.pad_byte, 0xcc);
        assert_int_equal(o.block_size, 0);
        assert_int_equal(o.stmin, 0);
        assert_int_equal(o.frame_gap_ns, 0);
}

static void test_valid_options_pass(void **state) {
        struct umc_isotp_opts o = valid();

        (void)state;
        assert_int_equal(umc_isotp_opts_check(&o), 0);
        o.fd = o.brs = true;
        assert_int_equal(umc_isotp_opts_check(&o), 0);
}

static void test_base_ids_above_11_bits_rejected(void **state) {
        struct umc_isotp_opts o = valid();

        (void)state;
        o.tx_id = 0x800;
        assert_int_equal(umc_isotp_opts_check(&o), -EINVAL);
        o.eff = true; /* the same ID is fine as a 29-bit one */
        assert_int_equal(umc_isotp_opts_check(&o), 0);
        o.rx_id = UMC_ISOTP_EFF_MAX + 1;
        assert_int_equal(umc_isotp_opts_check(&o), -EINVAL);
}

static void test_same_tx_and_rx_id_rejected(void **state) {
        struct umc_isotp_opts o = valid();

        (void)state;
        o.rx_id = o.tx_id;
        assert_int_equal(umc_isotp_opts_check(&o), -EINVAL);
}

static void test_brs_without_fd_rejected(void **state) {
        struct umc_isotp_opts o = valid();

        (void)state;
        o.brs = true;
        assert_int_equal(umc_isotp_opts_check(&o), -EINVAL);
}

static void test_stmin_reserved_values_rejected(void **state) {
        static const uint8_t ok[] = { 0x00, 0x7f, 0xf1, 0xf9 };
        static const uint8_t bad[] = { 0x80, 0xf0, 0xfa, 0xff };
        struct umc_isotp_opts o = valid();

        (void)state;
        for (size_t i = 0; i < sizeof(ok); i++) {
                o.stmin = ok[i];
                assert_int_equal(umc_isotp_opts_check(&o), 0);
        }
        for (size_t i = 0; i < sizeof(bad); i++) {
                o.stmin = bad[i];
                assert_int_equal(umc_isotp_opts_check(&o), -EINVAL);
        }
}

static void test_null_options_rejected(void **state) {
        (void)state;
        assert_int_equal(umc_isotp_opts_check(NULL), -EINVAL);
}

static void test_max_payload_subtracts_header_and_caps(void **state) {
        (void)state;
        assert_int_equal(umc_isotp_max_payload(0), 0);
        assert_int_equal(umc_isotp_max_payload(UMC_FRAME_HEADER_LEN), 0);
        assert_int_equal(umc_isotp_max_payload(4095), 4095 - UMC_FRAME_HEADER_LEN);
        assert_int_equal(umc_isotp_max_payload(8200), 8200 - UMC_FRAME_HEADER_LEN);
        assert_int_equal(umc_isotp_max_payload(1u << 30), UMC_FRAME_MAX_PAYLOAD);
}

static void test_open_refuses_bad_interface_names(void **state) {
        struct umc_isotp_opts o = valid();
        int fd = -1;

        (void)state;
        assert_int_equal(umc_isotp_open("", &o, &fd), -EINVAL);
        assert_int_equal(umc_isotp_open("an-interface-name-too-long", &o, &fd), -EINVAL);
        assert_int_equal(umc_isotp_open("nosuchcan9", &o, &fd), -ENODEV);
        assert_int_equal(fd, -1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_are_classic_unpadded_no_gap),
                cmocka_unit_test(test_valid_options_pass),
                cmocka_unit_test(test_base_ids_above_11_bits_rejected),
                cmocka_unit_test(test_same_tx_and_rx_id_rejected),
                cmocka_unit_test(test_brs_without_fd_rejected),
                cmocka_unit_test(test_stmin_reserved_values_rejected),
                cmocka_unit_test(test_null_options_rejected),
                cmocka_unit_test(test_max_payload_subtracts_header_and_caps),
                cmocka_unit_test(test_open_refuses_bad_interface_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
