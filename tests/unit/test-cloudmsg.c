/* SPDX-License-Identifier: MIT */
/*
 * The cloud protocol's pure parts: strict reply parsers, the token
 * (known answers computed independently with Python's hmac/hashlib), the
 * request URLs and the report body.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "umc/cloudmsg.h"
#include "umc/hash.h"

#define S(x) x, strlen(x)

static const char ok_authent[] =
        "{\"state\":\"ok\",\"message\":\"\",\"ticket\":\"ABCDEFGHIJKLMNOP\",\"expires_in\":60}";

static void authent_ok_gives_the_ticket(void **state) {
        struct umc_cloudmsg_authent a;

        assert_int_equal(umc_cloudmsg_parse_authent(S(ok_authent), &a, NULL, 0), 0);
        assert_int_equal(a.state, UMC_CLOUDMSG_OK);
        assert_string_equal(a.ticket, "ABCDEFGHIJKLMNOP");
        assert_int_equal(a.expires_in, 60);
}

static void authent_denied_and_retry(void **state) {
        struct umc_cloudmsg_authent a;

        assert_int_equal(umc_cloudmsg_parse_authent(
                                 S("{\"state\":\"denied\",\"message\":\"blocked\"}"), &a, NULL, 0),
                         0);
        assert_int_equal(a.state, UMC_CLOUDMSG_DENIED);
        assert_string_equal(a.message, "blocked");
        assert_string_equal(a.ticket, "");
        assert_int_equal(umc_cloudmsg_parse_authent(
                                 S("{\"state\":\"retry\",\"message\":\"\",\"retry_after\":30}"),
                                 &a, NULL, 0),
                         0);
        assert_int_equal(a.retry_after, 30);
}

static void refused(const char *json, const char *want) {
        struct umc_cloudmsg_authent a = { .expires_in = 77 };
        char why[256] = "";

        assert_int_equal(umc_cloudmsg_parse_authent(json, strlen(json), &a, why, sizeof(why)),
                         -EINVAL);
        if (!strstr(why, want))
                fail_msg("why \"%s\" lacks \"%s\" for %s", why, want, json);
        assert_int_equal(a.expires_in, 77); /* untouched on failure */
}

static void authent_is_strict(void **state) {
        refused("{\"state\":\"ok\",\"message\":\"\",\"ticket\":\"ABCDEFGHIJKLMNOP\",\"expires_in\":60}\n",
                "1 bytes after the JSON document");
        refused("{\"state\":\"ok\",\"message\":\"\",\"ticket\":\"ABCDEFGHIJKLMNOP\",\"expires_in\":60,\"x\":1}",
                "unknown key \"x\"");
        refused("{\"state\":\"ok\",\"state\":\"ok\",\"message\":\"\",\"ticket\":\"ABCDEFGHIJKLMNOP\",\"expires_in\":60}",
                "given twice");
        refused("{\"state\":\"ok\",\"message\":\"\",\"ticket\":\"ABCDEF\",\"expires_in\":60}",
                "\"ticket\" has 6 characters");
        refused("{\"state\":\"ok\",\"message\":\"\",\"ticket\":\"ABCDEFGHIJKLMNO/\",\"expires_in\":60}",
                "outside [A-Za-z0-9_-]");
        refused("{\"state\":\"ok\",\"message\":\"\",\"ticket\":\"ABCDEFGHIJKLMNOP\",\"expires_in\":1.5}",
                "not an integer");
        refused("{\"state\":\"ok\",\"message\":\"\",\"ticket\":\"ABCDEFGHIJKLMNOP\",\"expires_in\":0}",
                "\"expires_in\" is 0");
        refused("{\"state\":\"ok\",\"message\":\"\",\"expires_in\":60}", "\"ticket\" is missing");
        refused("{\"state\":\"denied\",\"message\":\"\",\"ticket\":\"ABCDEFGHIJKLMNOP\"}",
                "a ticket without state");
        refused("{\"state\":\"maybe\",\"message\":\"\"}", "not ok, denied or retry");
        refused("{\"state\":\"ok\",\"message\":\"\\u0001\",\"ticket\":\"ABCDEFGHIJKLMNOP\",\"expires_in\":60}",
                "outside printable ASCII");
        refused("[1]", "not a JSON object");
        refused("{\"state\":", "not JSON");
}

static const char offer_json[] =
        "{\"update\":true,\"package_version\":\"1.0.0\",\"date\":\"2026-12-01T00:00:00Z\","
        "\"manifest_url\":\"https://h/p/manifest.json\",\"signature_url\":\"https://h/p/manifest.json.p7s\","
        "\"signature_format\":\"cms\",\"images_url\":\"ftp://h/p\",\"message\":\"m\",\"poll_after\":10}";

static void offer_parses(void **state) {
        struct umc_cloudmsg_offer o;

        assert_int_equal(umc_cloudmsg_parse_offer(S(offer_json), &o, NULL, 0), 0);
        assert_true(o.update);
        assert_string_equal(o.package_version, "1.0.0");
        assert_int_equal(o.date, 1796083200);
        assert_string_equal(o.images_url, "ftp://h/p");
        assert_int_equal(o.signature_format, UMC_CLOUDMSG_SIG_CMS);
        assert_int_equal(o.poll_after, 10);
        assert_int_equal(umc_cloudmsg_parse_offer(S("{\"update\":false}"), &o, NULL, 0), 0);
        assert_false(o.update);
}

static void offer_refused(const char *json, const char *want) {
        struct umc_cloudmsg_offer o;
        char why[256] = "";

        assert_int_equal(umc_cloudmsg_parse_offer(json, strlen(json), &o, why, sizeof(why)), -EINVAL);
        if (!strstr(why, want))
                fail_msg("why \"%s\" lacks \"%s\"", why, want);
}

static void offer_is_strict(void **state) {
        offer_refused("{\"update\":false,\"manifest_url\":\"https://h/m\"}",
                      "\"manifest_url\" without an update");
        offer_refused("{\"update\":1}", "not true or false");
        offer_refused("{\"update\":true,\"package_version\":\"1\",\"date\":\"2026-12-01T00:00:00Z\","
                      "\"manifest_url\":\"file:///etc/passwd\",\"signature_url\":\"https://h/s\","
                      "\"images_url\":\"https://h\"}",
                      "\"manifest_url\" is not an https");
        offer_refused("{\"update\":true,\"package_version\":\"1\",\"date\":\"2026-12-01 00:00:00\","
                      "\"manifest_url\":\"https://h/m\",\"signature_url\":\"https://h/s\","
                      "\"images_url\":\"https://h\"}",
                      "\"date\" has 19 characters");
        offer_refused("{\"update\":true,\"package_version\":\"1 2\",\"date\":\"2026-12-01T00:00:00Z\","
                      "\"manifest_url\":\"https://h/m\",\"signature_url\":\"https://h/s\","
                      "\"images_url\":\"https://h\"}",
                      "space or control");
        offer_refused("{\"update\":true,\"package_version\":\"1\",\"date\":\"2026-12-01T00:00:00Z\","
                      "\"manifest_url\":\"https://h/m\",\"signature_url\":\"https://h/s\","
                      "\"images_url\":\"https://h/\"}",
                      "ends with '/'");
        offer_refused("{\"update\":true,\"package_version\":\"1\",\"date\":\"2026-12-01T00:00:00Z\","
                      "\"manifest_url\":\"https://h/m\",\"signature_url\":\"https://h/s\","
                      "\"images_url\":\"https://h\",\"signature_format\":\"pgp\"}",
                      "not cms or sm2");
}

static void error_body_parses(void **state) {
        struct umc_cloudmsg_error e;

        assert_int_equal(umc_cloudmsg_parse_error(S("{\"error\":\"ticket_used\",\"message\":\"x\"}"),
                                                  &e, NULL, 0),
                         0);
        assert_string_equal(e.error, "ticket_used");
        assert_int_equal(umc_cloudmsg_parse_error(S("{\"error\":\"a b\"}"), &e, NULL, 0), -EINVAL);
        assert_int_equal(umc_cloudmsg_parse_error(S("<html>"), &e, NULL, 0), -EINVAL);
}

static const uint8_t secret[32] = { 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                    11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                    22, 23, 24, 25, 26, 27, 28, 29, 30, 31 };

static void token_known_answers(void **state) {
        char t[UMC_CLOUDMSG_TOKEN_MAX + 1];

        /* python3: hmac.new(bytes(range(32)), b"dev-1:ABCDEFGHIJKLMNOP", sha256) */
        assert_int_equal(umc_cloudmsg_token(secret, "dev-1", "ABCDEFGHIJKLMNOP", false, t), 0);
        assert_string_equal(t, "338041ea314b333d982b59f2483a1b80c5296b8bf697f850c9b362e360fd7f59");
        /* python3: md5(b"dev-1:" + bytes(range(32)) + b":ABCDEFGHIJKLMNOP") */
        assert_int_equal(umc_cloudmsg_token(secret, "dev-1", "ABCDEFGHIJKLMNOP", true, t), 0);
        assert_string_equal(t, "68489cb64efaf95bd7a781686c6ba47d");
        assert_int_equal(umc_cloudmsg_token(secret, "dev:1", "ABCDEFGHIJKLMNOP", false, t), -EINVAL);
        assert_int_equal(umc_cloudmsg_token(secret, "dev-1", "short", false, t), -EINVAL);
}

static void urls_are_encoded(void **state) {
        const struct umc_cloudmsg_version v[] = { { "bcm", "1.2.3" }, { "gw", "4.0+b" } };
        char *u = NULL;

        assert_int_equal(umc_cloudmsg_authent_url("https://h/api", "dev-1", &u), 0);
        assert_string_equal(u, "https://h/api/authent?id=dev-1&version=1");
        free(u);
        assert_int_equal(umc_cloudmsg_check_url_build("https://h/api", "dev-1", "ab12", "ACME Inc",
                                                      "t&box", v, 2, &u),
                         0);
        assert_string_equal(u, "https://h/api/check?id=dev-1&token=ab12&company=ACME%20Inc"
                               "&product=t%26box&versions=bcm%3A1.2.3%2Cgw%3A4.0%2Bb");
        free(u);
        assert_int_equal(umc_cloudmsg_report_url("https://h/api", "dev-1", "ab12", &u), 0);
        assert_string_equal(u, "https://h/api/report?id=dev-1&token=ab12");
        free(u);
        assert_int_equal(umc_cloudmsg_authent_url("https://h/api/", "dev-1", &u), -EINVAL);
        assert_int_equal(umc_cloudmsg_check_url_build(
                                 "https://h/api", "dev-1", "ab12", "a", "b",
                                 (const struct umc_cloudmsg_version[]){ { "bcm", "1,2" } }, 1, &u),
                         -EINVAL);
}

static void report_body(void **state) {
        uint8_t h[UMC_HASH_LEN] = { 0xab };
        const struct umc_cloudmsg_target_result t[] = {
                { "bcm", 16, "1.2.3", UMC_CLOUDMSG_INSTALLED, 0, NULL },
                { "gw", 32, NULL, UMC_CLOUDMSG_FAILED, 0x0303, "hash" },
        };
        struct umc_cloudmsg_report r = { .package_version = "1.0", .manifest_sha256 = h,
                                         .time = 1764547200, .targets = t, .n_targets = 2 };
        char *s = NULL;
        size_t len;

        assert_int_equal(umc_cloudmsg_report_json("dev-1", &r, &s, &len), 0);
        assert_int_equal(len, strlen(s));
        assert_non_null(strstr(s, "\"id\":\"dev-1\",\"time\":\"2025-12-01T00:00:00Z\""));
        assert_non_null(strstr(s, "\"manifest_sha256\":\"ab00"));
        assert_non_null(strstr(s, "{\"target\":\"gw\",\"ecu_id\":32,\"result\":\"failed\",\"reason\":771"));
        assert_non_null(strstr(s, "\"result\":\"failure\"}"));
        free(s);
        r.n_targets = 1;
        assert_int_equal(umc_cloudmsg_report_json("dev-1", &r, &s, &len), 0);
        assert_non_null(strstr(s, "\"result\":\"success\"}"));
        free(s);
        r.message = "bad\nline";
        assert_int_equal(umc_cloudmsg_report_json("dev-1", &r, &s, &len), -EINVAL);
}

static void url_schemes(void **state) {
        bool sec = false;

        assert_int_equal(umc_cloudmsg_check_url("https://a/b", &sec), 0);
        assert_true(sec);
        assert_int_equal(umc_cloudmsg_check_url("ftp://a/b", &sec), 0);
        assert_false(sec);
        assert_int_equal(umc_cloudmsg_check_url("HTTPS://a", NULL), -EINVAL);
        assert_int_equal(umc_cloudmsg_check_url("https:///a", NULL), -EINVAL);
        assert_int_equal(umc_cloudmsg_check_url("https://a b", NULL), -EINVAL);
        assert_int_equal(umc_cloudmsg_check_url("gopher://a", NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(authent_ok_gives_the_ticket),
                cmocka_unit_test(authent_denied_and_retry),
                cmocka_unit_test(authent_is_strict),
                cmocka_unit_test(offer_parses),
                cmocka_unit_test(offer_is_strict),
                cmocka_unit_test(error_body_parses),
                cmocka_unit_test(token_known_answers),
                cmocka_unit_test(urls_are_encoded),
                cmocka_unit_test(report_body),
                cmocka_unit_test(url_schemes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
