/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <string.h>

#include "bus-fixture.h"
#include "umc/reason.h"
#include "umc/util.h"

/* Every code of reason.h: a new code must be added here, which the tests then check. */
static const uint16_t all_codes[] = {
        UMC_REASON_OK,
        UMC_REASON_FRAME_TRUNCATED,
        UMC_REASON_FRAME_BAD_MAGIC,
        UMC_REASON_FRAME_BAD_VERSION,
        UMC_REASON_FRAME_BAD_TYPE,
        UMC_REASON_FRAME_BAD_SUITE,
        UMC_REASON_FRAME_BAD_INNER_SUITE,
        UMC_REASON_FRAME_BAD_FLAGS,
        UMC_REASON_FRAME_TOO_LONG,
        UMC_REASON_FRAME_TRAILING_BYTES,
        UMC_REASON_FRAME_PAYLOAD_TOO_SHORT,
        UMC_REASON_TAG_MISMATCH,
        UMC_REASON_UNKNOWN_KEY_ID,
        UMC_REASON_KEY_ID_SUITE_MISMATCH,
        UMC_REASON_REPLAYED,
        UMC_REASON_SEQ_TOO_OLD,
        UMC_REASON_WRONG_SESSION,
        UMC_REASON_WRONG_ECU,
        UMC_REASON_SUITE_NOT_ALLOWED,
        UMC_REASON_BODY_MALFORMED,
        UMC_REASON_KEYS_EXHAUSTED,
        UMC_REASON_REJECTED_FRAMES,
        UMC_REASON_VERIFY_MISMATCH,
        UMC_REASON_VERIFY_TIME,
        UMC_REASON_IMAGE_HASH_MISMATCH,
        UMC_REASON_OUT_OF_ORDER,
        UMC_REASON_IMAGE_TOO_LARGE,
        UMC_REASON_CAN_ID_UNKNOWN,
        UMC_REASON_CAN_RATE_HIGH,
        UMC_REASON_CAN_RATE_LOW,
        UMC_REASON_ETH_DENIED_BY_RULE,
        UMC_REASON_ETH_DEFAULT_DENY,
        UMC_REASON_ECU_UNKNOWN,
        UMC_REASON_ECU_HW_MISMATCH,
        UMC_REASON_ECU_AUTH_FAILED,
        UMC_REASON_LOAD_MUTATION,
        UMC_REASON_LOAD_ABNORMAL,
        UMC_REASON_CANCELLED,
        UMC_REASON_STOPPED_BY_RECEIVER,
        UMC_REASON_IO_ERROR,
        UMC_REASON_NO_SPACE,
        UMC_REASON_TIMEOUT,
        UMC_REASON_INTERNAL,
        UMC_REASON_BUSY,
        UMC_REASON_PKG_MALFORMED,
        UMC_REASON_PKG_SIG_MALFORMED,
        UMC_REASON_PKG_SIG_ALGORITHM,
        UMC_REASON_PKG_SIG_MISMATCH,
        UMC_REASON_PKG_CERT_UNTRUSTED,
        UMC_REASON_PKG_CERT_EXPIRED,
        UMC_REASON_PKG_CERT_REVOKED,
        UMC_REASON_PKG_CERT_PURPOSE,
        UMC_REASON_PKG_CRL_INVALID,
        UMC_REASON_PKG_CERT_INVALID,
        UMC_REASON_PKG_EXPIRED,
        UMC_REASON_PKG_FACTORY_MISMATCH,
        UMC_REASON_PKG_ROLLBACK,
        UMC_REASON_PKG_NO_TARGET,
        UMC_REASON_PKG_HW_MISMATCH,
        UMC_REASON_PKG_IMAGE_SIZE,
        UMC_REASON_PKG_DECRYPT_FAILED,
        UMC_REASON_PKG_UNSIGNED,
        UMC_REASON_PKG_SIG_MISSING,
        UMC_REASON_PKG_VERSION_MISMATCH,
        UMC_REASON_PKG_FEATURE_MISMATCH,
};

static bool is_listed(uint16_t v) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(all_codes); i++)
                if (all_codes[i] == v)
                        return true;
        return false;
}

static void test_every_code_is_known_and_has_its_own_text(void **state) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(all_codes); i++) {
                const char *s = umc_reason_to_string(all_codes[i]);

                assert_true(umc_reason_is_known(all_codes[i]));
                assert_non_null(s);
                assert_string_not_equal(s, "unknown reason");
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(s, umc_reason_to_string(all_codes[j]));
        }
}

static void test_texts_are_short_and_start_lower_case_or_with_an_acronym(void **state) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(all_codes); i++) {
                const char *s = umc_reason_to_string(all_codes[i]);
                size_t n = strlen(s);

                assert_true(n > 1 && n <= 60);
                /* Alarm texts are fragments: no capitalised sentence, no full stop. */
                assert_int_not_equal(s[n - 1], '.');
                if (isupper((unsigned char)s[0]))
                        assert_false(islower((unsigned char)s[1]));
        }
}

static void test_specific_texts(void **state) {
        assert_string_equal(umc_reason_to_string(UMC_REASON_TAG_MISMATCH),
                            "frame authentication tag mismatch");
        assert_string_equal(umc_reason_to_string(UMC_REASON_CAN_ID_UNKNOWN),
                            "CAN ID not in whitelist");
        assert_string_equal(umc_reason_to_string(UMC_REASON_OK), "ok");
}

static void test_every_unlisted_value_is_unknown(void **state) {
        unsigned n_known = 0;

        for (uint32_t v = 0; v <= UINT16_MAX; v++) {
                bool listed = is_listed((uint16_t)v);

                assert_int_equal(!!umc_reason_is_known((uint16_t)v), listed);
                if (listed)
                        n_known++;
                else
                        assert_string_equal(umc_reason_to_string((uint16_t)v), "unknown reason");
        }
        assert_int_equal(n_known, UMC_ELEMENTSOF(all_codes));
}

static void test_wire_values_are_stable(void **state) {
        /* Codes travel in FEEDBACK and ALARM: a renumbering breaks deployed peers. */
        assert_int_equal(UMC_REASON_FRAME_TRUNCATED, 0x0101);
        assert_int_equal(UMC_REASON_FRAME_PAYLOAD_TOO_SHORT, 0x010a);
        assert_int_equal(UMC_REASON_TAG_MISMATCH, 0x0201);
        assert_int_equal(UMC_REASON_KEYS_EXHAUSTED, 0x020a);
        assert_int_equal(UMC_REASON_REJECTED_FRAMES, 0x020b);
        assert_int_equal(UMC_REASON_VERIFY_MISMATCH, 0x0301);
        assert_int_equal(UMC_REASON_CAN_ID_UNKNOWN, 0x0401);
        assert_int_equal(UMC_REASON_LOAD_ABNORMAL, 0x0502);
        assert_false(umc_reason_is_known(0x0607)); /* unassigned until something produces it */
        assert_int_equal(UMC_REASON_BUSY, 0x0608);
        assert_int_equal(UMC_REASON_PKG_MALFORMED, 0x0701);
        assert_int_equal(UMC_REASON_PKG_DECRYPT_FAILED, 0x0711);
        assert_int_equal(UMC_REASON_PKG_UNSIGNED, 0x0712);
        assert_int_equal(UMC_REASON_PKG_SIG_MISSING, 0x0713);
        assert_int_equal(UMC_REASON_PKG_VERSION_MISMATCH, 0x0714);
        assert_int_equal(UMC_REASON_PKG_FEATURE_MISMATCH, 0x0715);
}

static void test_names_and_format(void **state) {
        char buf[UMC_REASON_FORMAT_MAX];

        assert_string_equal(umc_reason_name(UMC_REASON_ETH_DEFAULT_DENY), "ETH_DEFAULT_DENY");
        assert_string_equal(umc_reason_format(UMC_REASON_ETH_DEFAULT_DENY, buf),
                            "0x0405 ETH_DEFAULT_DENY");
        assert_null(umc_reason_name(0x7777));
        assert_string_equal(umc_reason_format(0x7777, buf), "0x7777");
        assert_int_equal(umc_reason_count(), UMC_ELEMENTSOF(all_codes));
        for (size_t i = 0; i < umc_reason_count(); i++) {
                const char *name = umc_reason_name(umc_reason_at(i));
                size_t n = strlen(name);

                /* Every name is the enum's own spelling: upper case, digits and '_'. */
                assert_true(n > 1 && n + 8 < UMC_REASON_FORMAT_MAX);
                for (size_t k = 0; k < n; k++)
                        assert_true(isupper((unsigned char)name[k]) || isdigit((unsigned char)name[k]) ||
                                    name[k] == '_');
        }
}

static char *slurp(const char *rel) {
        char path[PATH_MAX];
        FILE *f;
        char *buf = calloc(1, 256 * 1024);
        size_t n;

        assert_non_null(buf);
        repo_path(rel, path, sizeof(path));
        f = fopen(path, "re");
        assert_non_null(f);
        n = fread(buf, 1, 256 * 1024 - 1, f);
        assert_true(n > 0 && n < 256 * 1024 - 1);
        fclose(f);
        return buf;
}

/* docs/reasons.md has one "| 0xNNNN | NAME | text | hint |" row per code, in table order. */
static void test_published_table_matches_the_library(void **state) {
        char *doc = slurp("docs/reasons.md"), *save = NULL;
        size_t i = 0;

        for (char *line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char want[512];
                uint16_t code;

                if (strncmp(line, "| 0x", 4) != 0)
                        continue;
                if (i >= umc_reason_count())
                        fail_msg("docs/reasons.md lists more codes than reason.c: %s", line);
                code = umc_reason_at(i++);
                snprintf(want, sizeof(want), "| 0x%04x | %s | %s | ", code, umc_reason_name(code),
                         umc_reason_to_string(code));
                if (strncmp(line, want, strlen(want)) != 0)
                        fail_msg("docs/reasons.md row differs from reason.c:\n  doc: %s\n want: %s...",
                                 line, want);
                assert_true(strlen(line) > strlen(want) + 3); /* a hint follows */
        }
        assert_int_equal(i, umc_reason_count());
        free(doc);
}

/* The D-Bus interface XML lists every code as "0xNNNN NAME  text" in its header comment. */
static void test_dbus_xml_lists_every_code(void **state) {
        char *xml = slurp("docs/io.umc.Manager1.xml");

        for (size_t i = 0; i < umc_reason_count(); i++) {
                uint16_t code = umc_reason_at(i);
                char want[256];
                const char *at;

                snprintf(want, sizeof(want), "\n    0x%04x %s", code, umc_reason_name(code));
                at = strstr(xml, want);
                if (!at)
                        fail_msg("docs/io.umc.Manager1.xml does not list%s", want);
                at += strlen(want);
                while (*at == ' ')
                        at++;
                if (strncmp(at, umc_reason_to_string(code), strlen(umc_reason_to_string(code))) != 0)
                        fail_msg("docs/io.umc.Manager1.xml:%s has another text than reason.c", want);
        }
        free(xml);
}

/* umcctl(1) has the table too, for the device that has no source tree: ".B \"0xNNNN NAME\"". */
static void test_man_page_lists_every_code(void **state) {
        char *man = slurp("man/umcctl.1");

        for (size_t i = 0; i < umc_reason_count(); i++) {
                uint16_t code = umc_reason_at(i);
                char want[128];

                snprintf(want, sizeof(want), "\n.B \"0x%04x %s\"\n", code, umc_reason_name(code));
                if (!strstr(man, want))
                        fail_msg("man/umcctl.1 does not list 0x%04x %s", code, umc_reason_name(code));
        }
        free(man);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_code_is_known_and_has_its_own_text),
                cmocka_unit_test(test_texts_are_short_and_start_lower_case_or_with_an_acronym),
                cmocka_unit_test(test_specific_texts),
                cmocka_unit_test(test_every_unlisted_value_is_unknown),
                cmocka_unit_test(test_wire_values_are_stable),
                cmocka_unit_test(test_names_and_format),
                cmocka_unit_test(test_published_table_matches_the_library),
                cmocka_unit_test(test_dbus_xml_lists_every_code),
                cmocka_unit_test(test_man_page_lists_every_code),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
