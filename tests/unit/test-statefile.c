/* SPDX-License-Identifier: MIT */
/* The key=value state-file reader: lines, keys and what counts as damage. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "umc/statefile.h"
#include "umc/util.h"

struct seen {
        char lines[8][64];
        size_t n;
        int fail_at; /* answer -ENOSPC at this line (1-based); 0: never */
};

static int collect(const char *key, const char *value, void *userdata) {
        struct seen *s = userdata;

        if (s->n == UMC_ELEMENTSOF(s->lines))
                return -E2BIG;
        (void)snprintf(s->lines[s->n], sizeof(s->lines[0]), "%s|%s", key, value);
        s->n++;
        return (int)s->n == s->fail_at ? -ENOSPC : 0;
}

/* Parse a copy of text as umc_fs_read_file() would hand it over. */
static int parse(const char *text, size_t len, struct seen *s) {
        char buf[256];

        assert_true(len < sizeof(buf));
        memcpy(buf, text, len);
        buf[len] = '\0';
        return umc_statefile_parse(buf, len, collect, s);
}

static void test_lines_reach_the_callback_in_order(void **state) {
        static const char text[] = "offset=10\nmanifest=ab=cd\nempty=\n";
        struct seen s = {};

        assert_int_equal(parse(text, strlen(text), &s), 0);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.lines[0], "offset|10");
        assert_string_equal(s.lines[1], "manifest|ab=cd"); /* the first '=' splits */
        assert_string_equal(s.lines[2], "empty|");
        s.n = 0;
        assert_int_equal(parse("", 0, &s), 0);
        assert_int_equal(s.n, 0);
}

static void test_damaged_text_is_ebadmsg(void **state) {
        static const struct {
                const char *text;
                size_t len;
        } bad[] = {
                { "a=1\nb=2", 7 },        /* torn last line */
                { "a=1\nnoequals\n", 13 }, /* a line without '=' */
                { "a=1\n\n", 5 },          /* a blank line */
                { "a=\0001\n", 5 },        /* a NUL inside */
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(bad); i++) {
                struct seen s = {};

                assert_int_equal(parse(bad[i].text, bad[i].len, &s), -EBADMSG);
        }
}

static void test_callback_error_stops_the_walk(void **state) {
        static const char text[] = "a=1\nb=2\nc=3\n";
        struct seen s = { .fail_at = 2 };

        assert_int_equal(parse(text, strlen(text), &s), -ENOSPC);
        assert_int_equal(s.n, 2);
        assert_int_equal(umc_statefile_parse(NULL, 0, collect, &s), -EINVAL);
}

static void test_key_table_finds_marks_and_refuses_repeats(void **state) {
        static const char *const keys[] = { "package", "manifest", "target", "offset" };
        unsigned seen = 0;

        assert_int_equal(umc_statefile_key("target", keys, 4, &seen), 2);
        assert_int_equal(umc_statefile_key("package", keys, 4, &seen), 0);
        assert_int_equal(seen, 0x5);
        assert_int_equal(umc_statefile_key("target", keys, 4, &seen), -EBADMSG);
        assert_int_equal(umc_statefile_key("Target", keys, 4, &seen), -EBADMSG);
        assert_int_equal(umc_statefile_key("", keys, 4, &seen), -EBADMSG);
        assert_int_equal(seen, 0x5);
        assert_int_equal(umc_statefile_key("manifest", keys, 4, &seen), 1);
        assert_int_equal(umc_statefile_key("offset", keys, 4, &seen), 3);
        assert_int_equal(seen, 0xf);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lines_reach_the_callback_in_order),
                cmocka_unit_test(test_damaged_text_is_ebadmsg),
                cmocka_unit_test(test_callback_error_stops_the_walk),
                cmocka_unit_test(test_key_table_finds_marks_and_refuses_repeats),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
