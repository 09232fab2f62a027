/* SPDX-License-Identifier: MIT */
/* The one rule per kind of name that every trust boundary applies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "umc/names.h"

static void test_target_names(void **state) {
        assert_true(umc_name_target_valid("bcm"));
        assert_true(umc_name_target_valid("gw-2_A"));
        assert_true(umc_name_target_valid("abcdefghijklmnopqrstuvwxyz01234")); /* 31 */
        assert_false(umc_name_target_valid("abcdefghijklmnopqrstuvwxyz012345")); /* 32 */
        assert_false(umc_name_target_valid(""));
        assert_false(umc_name_target_valid(NULL));
        assert_false(umc_name_target_valid("b/c"));
        assert_false(umc_name_target_valid("../x"));
        assert_false(umc_name_target_valid("b c"));
}

static void test_paths(void **state) {
        static char longpath[PATH_MAX + 1];

        assert_true(umc_name_path_valid("/var/lib/umc/pkg"));
        assert_false(umc_name_path_valid("relative/pkg"));
        assert_false(umc_name_path_valid(""));
        assert_false(umc_name_path_valid(NULL));
        assert_false(umc_name_path_valid("/tmp/a\nb"));
        assert_false(umc_name_path_valid("/tmp/\x7f"));
        memset(longpath, 'a', PATH_MAX);
        longpath[0] = '/';
        longpath[PATH_MAX - 1] = '\0';
        assert_true(umc_name_path_valid(longpath)); /* PATH_MAX - 1 bytes */
        longpath[PATH_MAX - 1] = 'a';
        assert_false(umc_name_path_valid(longpath));
}

static void test_interface_names(void **state) {
        assert_true(umc_name_ifname_valid("eth0"));
        assert_true(umc_name_ifname_valid("veth-umc.12"));
        assert_false(umc_name_ifname_valid(""));
        assert_false(umc_name_ifname_valid("."));
        assert_false(umc_name_ifname_valid(".."));
        assert_false(umc_name_ifname_valid("a/b"));
        assert_false(umc_name_ifname_valid("eth0:1"));
        assert_false(umc_name_ifname_valid("eth 0"));
        assert_false(umc_name_ifname_valid("sixteen-chars-xx"));
        assert_false(umc_name_ifname_valid(NULL));
}

static void test_versions(void **state) {
        char v65[66];

        assert_true(umc_name_version_valid("1.2.3-rc1+b7"));
        assert_false(umc_name_version_valid("1 2"));
        assert_false(umc_name_version_valid(""));
        assert_false(umc_name_version_valid("1.0\t"));
        memset(v65, '1', 65);
        v65[65] = '\0';
        assert_false(umc_name_version_valid(v65));
        v65[64] = '\0';
        assert_true(umc_name_version_valid(v65));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_target_names),
                cmocka_unit_test(test_paths),
                cmocka_unit_test(test_interface_names),
                cmocka_unit_test(test_versions),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
