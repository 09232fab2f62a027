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
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-event.h>

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

static void test_pdu_wire_single_frame_classic(void **state) {
        struct umc_isotp_opts o = valid();
        struct umc_isotp_wire w;

        (void)state;
        o.padding = true;
        /* 7 bytes + 1-byte PCI: one 8-byte frame, 55 + 10 * 8 bits in worst case (can-utils canframelen.c, worst case). */
        assert_int_equal(umc_isotp_pdu_wire(7, &o, UMC_STUFF_WORST, UMC_BITMODEL_CANBUSLOAD, &w), 0);
        assert_int_equal(w.frames, 1);
        assert_int_equal(w.arb_bits, 135);
        assert_int_equal(w.data_bits, 0);
}

static void test_pdu_wire_segmented_classic_counts_flow_control(void **state) {
        struct umc_isotp_opts o = valid();
        struct umc_isotp_wire w;

        (void)state;
        o.padding = true;
        /* 4095 = 6 in the first frame + 584 full CFs of 7 + one CF of 1, padded; one FC. */
        assert_int_equal(umc_isotp_pdu_wire(4095, &o, UMC_STUFF_WORST, UMC_BITMODEL_CANBUSLOAD, &w), 0);
        assert_int_equal(w.frames, 1 + 585 + 1);
        assert_int_equal(w.arb_bits, 587 * 135);
        /* BS 8: an FC after the FF and after every 8 CFs but the last block. */
        o.block_size = 8;
        assert_int_equal(umc_isotp_pdu_wire(4095, &o, UMC_STUFF_WORST, UMC_BITMODEL_CANBUSLOAD, &w), 0);
        assert_int_equal(w.frames, 1 + 585 + 1 + 584 / 8);
        /* Unpadded: the last CF is 2 bytes and the FC 3 bytes. */
        o.block_size = 0;
        o.padding = false;
        assert_int_equal(umc_isotp_pdu_wire(4095, &o, UMC_STUFF_WORST, UMC_BITMODEL_CANBUSLOAD, &w), 0);
        assert_int_equal(w.arb_bits, 585 * 135 + (55 + 20) + (55 + 30));
}

static void test_pdu_wire_fd_brs_splits_data_phase(void **state) {
        struct umc_isotp_opts o = valid();
        struct umc_isotp_wire w, big;

        (void)state;
        o.fd = o.brs = true;
        /* 4000 = 62 in the FF + 62 CFs of 63 + a last CF of 33 (sent as 48) + one FC. */
        assert_int_equal(umc_isotp_pdu_wire(4000, &o, UMC_STUFF_IGNORE, UMC_BITMODEL_CANBUSLOAD, &w), 0);
        assert_int_equal(w.frames, 1 + 62 + 1 + 1);
        assert_true(w.data_bits > w.arb_bits);
        /* Above 4095 the first frame's PCI takes 6 bytes: 4 more data bytes go to the CFs. */
        assert_int_equal(umc_isotp_pdu_wire(8000, &o, UMC_STUFF_IGNORE, UMC_BITMODEL_CANBUSLOAD, &big), 0);
        assert_int_equal(big.frames, 1 + 127 + 1);
}

static void test_pdu_wire_rejects_bad_input(void **state) {
        struct umc_isotp_opts o = valid();
        struct umc_isotp_wire w;

        (void)state;
        assert_int_equal(umc_isotp_pdu_wire(0, &o, UMC_STUFF_WORST, UMC_BITMODEL_ISO, &w), -EINVAL);
        assert_int_equal(umc_isotp_pdu_wire(66001, &o, UMC_STUFF_WORST, UMC_BITMODEL_ISO, &w), -EINVAL);
        o.rx_id = o.tx_id;
        assert_int_equal(umc_isotp_pdu_wire(10, &o, UMC_STUFF_WORST, UMC_BITMODEL_ISO, &w), -EINVAL);
}

static void test_max_pdu_from_module_parameter_or_release(void **state) {
        (void)state;
        /* The module parameter of later kernels wins when it is a usable number. */
        assert_int_equal(umc_isotp_max_pdu_for("8300\n", "6.6.0-1-amd64"), 8300);
        assert_int_equal(umc_isotp_max_pdu_for("66000", "6.6.0"), 66000);
        /* Below the 12-bit FF_DL every kernel takes, or not a number: by release. */
        assert_int_equal(umc_isotp_max_pdu_for("100", "6.6.0"), 66000);
        assert_int_equal(umc_isotp_max_pdu_for("8300x", "5.15.0-91-generic"), 8200);
        /* By release: 8200 up to 5.17, 66000 from 5.18. */
        assert_int_equal(umc_isotp_max_pdu_for(NULL, "5.10.0-28-amd64"), 8200);
        assert_int_equal(umc_isotp_max_pdu_for(NULL, "5.17.15"), 8200);
        assert_int_equal(umc_isotp_max_pdu_for(NULL, "5.18.0"), 66000);
        assert_int_equal(umc_isotp_max_pdu_for(NULL, "6.1.0-57-amd64"), 66000);
        assert_int_equal(umc_isotp_max_pdu_for(NULL, "4.19.0"), 8200);
        /* Unreadable: a current kernel. */
        assert_int_equal(umc_isotp_max_pdu_for(NULL, NULL), 66000);
        assert_int_equal(umc_isotp_max_pdu_for(NULL, "weird"), 66000);
        /* The running kernel: one of the values above or its parameter. */
        assert_true(umc_isotp_kernel_max_pdu() >= 4095);
}

static bool fd_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

/*
 * umc_isotp_close_later() on a socket this host has: a stream socketpair
 * stands in for an ISO-TP socket with a PDU in flight (not writable until
 * the peer reads), since the host has no CAN.
 */
static void test_close_later_waits_until_writable(void **state) {
        static char junk[65536];
        sd_event *e = NULL;
        int sv[2], flags;

        (void)state;
        assert_int_equal(sd_event_new(&e), 0);
        /* Writable: closed at once. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(umc_isotp_close_later(e, sv[0]), 0);
        assert_false(fd_open(sv[0]));
        close(sv[1]);

        /* Full: still open until the peer drains it and the loop runs. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        flags = fcntl(sv[0], F_GETFL);
        assert_int_equal(fcntl(sv[0], F_SETFL, flags | O_NONBLOCK), 0);
        while (write(sv[0], junk, sizeof(junk)) > 0)
                ;
        assert_int_equal(umc_isotp_close_later(e, sv[0]), 0);
        assert_true(fd_open(sv[0]));
        assert_int_equal(sd_event_run(e, 0), 0); /* nothing ready yet */
        assert_true(fd_open(sv[0]));
        assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
        while (read(sv[1], junk, sizeof(junk)) > 0)
                ;
        assert_true(sd_event_run(e, 1000000) > 0);
        assert_false(fd_open(sv[0]));
        close(sv[1]);
        assert_int_equal(umc_isotp_close_later(e, -1), -EBADF);
        sd_event_unref(e);
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
                cmocka_unit_test(test_pdu_wire_single_frame_classic),
                cmocka_unit_test(test_pdu_wire_segmented_classic_counts_flow_control),
                cmocka_unit_test(test_pdu_wire_fd_brs_splits_data_phase),
                cmocka_unit_test(test_pdu_wire_rejects_bad_input),
                cmocka_unit_test(test_max_pdu_from_module_parameter_or_release),
                cmocka_unit_test(test_close_later_waits_until_writable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
