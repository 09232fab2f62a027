/* SPDX-License-Identifier: MIT */
/* The operator-facing texts of hint.c: what was wrong, in the operator's terms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "umc/hint.h"
#include "umc/msg.h"
#include "umc/util.h"

static const struct umc_hint_auth engine = {
        .ecu_id = 0x10,
        .key_file = "/etc/umc/keys/engine.key",
        .want_hw_id = "ECU-ENG-0001",
        .got_hw_id = "",
};

static void test_wrong_key_says_the_key_files_differ_once(void **state) {
        char buf[UMC_MSG_ALARM_TEXT_MAX + 1];
        const char *s = umc_hint_auth_refused(buf, sizeof(buf), UMC_REASON_ECU_AUTH_FAILED, &engine);

        assert_ptr_equal(s, buf);
        assert_non_null(strstr(s, "ECU 0x10"));
        assert_non_null(strstr(s, "key files differ"));
        /* Both files named, and no key shown as if its value were missing. */
        assert_string_equal(s, "ECU 0x10 did not prove the key: the key files differ (this "
                               "target's KeyFile=/etc/umc/keys/engine.key and KeyFile= in the "
                               "agent's umc-agent.conf)");
        /* The alarm carries the reason; the text does not repeat it. */
        assert_null(strstr(s, umc_reason_to_string(UMC_REASON_ECU_AUTH_FAILED)));
        assert_true(strlen(s) <= UMC_MSG_ALARM_TEXT_MAX);
}

static void test_hardware_mismatch_shows_both_values(void **state) {
        struct umc_hint_auth a = engine;
        char buf[UMC_MSG_ALARM_TEXT_MAX + 1];

        a.got_hw_id = "BCM-0007\x1b[2J";
        umc_hint_auth_refused(buf, sizeof(buf), UMC_REASON_ECU_HW_MISMATCH, &a);
        assert_string_equal(buf, "ECU 0x10 reports hardware ID 'BCM-0007?[2J', the target's "
                                 "HardwareId= is 'ECU-ENG-0001'");
}

static void test_other_auth_reasons_keep_their_text(void **state) {
        char buf[UMC_MSG_ALARM_TEXT_MAX + 1];

        umc_hint_auth_refused(buf, sizeof(buf), UMC_REASON_WRONG_SESSION, &engine);
        assert_string_equal(buf, "AUTH_RESPONSE of ECU 0x10 refused: frame for another session");
        umc_hint_auth_refused(buf, sizeof(buf), UMC_REASON_ECU_UNKNOWN, &engine);
        assert_non_null(strstr(buf, "EcuId="));
}

static void test_no_flow_control_on_can_asks_whether_the_ecu_listens(void **state) {
        char buf[UMC_MSG_ALARM_TEXT_MAX + 1];

        umc_hint_channel_error(buf, sizeof(buf), "vcan0 7E0>7E8", true, 0x7e0, 0x7e8, false, -ECOMM);
        assert_string_equal(buf, "no ISO-TP flow control from the ECU on 7E0/7E8: is it listening?");
        umc_hint_channel_error(buf, sizeof(buf), "vcan0 18DA10F1>18DAF110", true, 0x18da10f1,
                               0x18daf110, true, -ECOMM);
        assert_string_equal(buf,
                            "no ISO-TP flow control from the ECU on 18DA10F1/18DAF110: is it listening?");
        /* Other errors, and ECOMM off CAN, keep the errno text. */
        umc_hint_channel_error(buf, sizeof(buf), "vcan0 7E0>7E8", true, 0x7e0, 0x7e8, false, -ENETDOWN);
        assert_string_equal(buf, "connection to vcan0 7E0>7E8 lost: Network is down");
        umc_hint_channel_error(buf, sizeof(buf), "10.0.0.1:4500", false, 0, 0, false, -ECOMM);
        assert_non_null(strstr(buf, "connection to 10.0.0.1:4500 lost: "));
}

static void test_auth_timeout_on_can_asks_whether_the_ecu_listens(void **state) {
        char buf[UMC_MSG_ALARM_TEXT_MAX + 1];

        umc_hint_auth_timeout(buf, sizeof(buf), 10, true, 0x7e0, 0x7e8, false);
        assert_string_equal(buf, "no AUTH_RESPONSE within 10 s from the ECU on 7E0/7E8: is it listening?");
        umc_hint_auth_timeout(buf, sizeof(buf), 1, false, 0, 0, false);
        assert_string_equal(buf, "no AUTH_RESPONSE within 1 s");
}

static void test_join_lists_names_and_says_when_cut(void **state) {
        const char *names[] = { "engine", "body", "gateway" };
        char buf[64], small[16];

        assert_string_equal(umc_hint_join(buf, sizeof(buf), names, 3), "engine, body, gateway");
        assert_string_equal(umc_hint_join(buf, sizeof(buf), names, 0), "");
        assert_string_equal(umc_hint_join(small, sizeof(small), names, 3), "engine, body...");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_wrong_key_says_the_key_files_differ_once),
                cmocka_unit_test(test_hardware_mismatch_shows_both_values),
                cmocka_unit_test(test_other_auth_reasons_keep_their_text),
                cmocka_unit_test(test_no_flow_control_on_can_asks_whether_the_ecu_listens),
                cmocka_unit_test(test_auth_timeout_on_can_asks_whether_the_ecu_listens),
                cmocka_unit_test(test_join_lists_names_and_says_when_cut),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
