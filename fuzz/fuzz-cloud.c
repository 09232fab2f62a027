/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the cloud client's parsers of backend replies
 * (cloudmsg.h): authent, check (the offer) and error bodies. Beyond "no
 * crash" (ASan/UBSan) it checks properties that must hold for any input:
 *  - a reply is accepted (0) or refused with -EINVAL and a text naming why;
 *  - an accepted authent with state "ok" carries a ticket of 16..128
 *    characters of [A-Za-z0-9_-] and 1..86400 seconds of validity, any
 *    other state no ticket; the ticket always makes a token;
 *  - an accepted offer with an update has URLs the client accepts,
 *    an images URL without a trailing '/', a date that formats back;
 *  - parsing the same bytes twice gives the same result.
 * Seeds: fuzz/corpus/cloud/. See fuzz/README.md for building and running.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "umc/cloudmsg.h"
#include "umc/package.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

static void fuzz_authent(const char *s, size_t size) {
        static const uint8_t secret[UMC_CLOUDMSG_SECRET_LEN];
        struct umc_cloudmsg_authent a, b;
        char why[256] = "", token[UMC_CLOUDMSG_TOKEN_MAX + 1];
        int r = umc_cloudmsg_parse_authent(s, size, &a, why, sizeof(why));

        if (r < 0) {
                CHECK(r == -EINVAL && why[0]);
                return;
        }
        if (a.state == UMC_CLOUDMSG_OK) {
                size_t n = strlen(a.ticket);

                CHECK(n >= UMC_CLOUDMSG_TICKET_MIN && n <= UMC_CLOUDMSG_TICKET_MAX);
                CHECK(a.expires_in >= 1 && a.expires_in <= UMC_CLOUDMSG_WAIT_MAX);
                CHECK(umc_cloudmsg_token(secret, "dev-1", a.ticket, false, token) == 0);
                CHECK(strlen(token) == 64);
        } else {
                CHECK(a.ticket[0] == '\0');
        }
        CHECK(umc_cloudmsg_parse_authent(s, size, &b, NULL, 0) == 0);
        CHECK(memcmp(&a, &b, sizeof(a)) == 0);
}

static void fuzz_offer(const char *s, size_t size) {
        struct umc_cloudmsg_offer *o = calloc(2, sizeof(*o));
        char why[256] = "", t[21];
        int r;

        CHECK(o);
        r = umc_cloudmsg_parse_offer(s, size, &o[0], why, sizeof(why));
        if (r < 0) {
                CHECK(r == -EINVAL && why[0]);
                free(o);
                return;
        }
        if (o[0].update) {
                size_t n = strlen(o[0].images_url);

                CHECK(umc_cloudmsg_check_url(o[0].manifest_url, NULL) == 0);
                CHECK(umc_cloudmsg_check_url(o[0].signature_url, NULL) == 0);
                CHECK(n > 0 && o[0].images_url[n - 1] != '/');
                CHECK(o[0].package_version[0] != '\0');
                CHECK(umc_package_time_format(o[0].date, t) == 0);
        }
        CHECK(umc_cloudmsg_parse_offer(s, size, &o[1], NULL, 0) == 0);
        CHECK(memcmp(&o[0], &o[1], sizeof(*o)) == 0);
        free(o);
}

static void fuzz_error(const char *s, size_t size) {
        struct umc_cloudmsg_error e;
        char why[256] = "";
        int r = umc_cloudmsg_parse_error(s, size, &e, why, sizeof(why));

        CHECK(r == 0 || (r == -EINVAL && why[0]));
        CHECK(r < 0 || e.error[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_authent((const char *)data, size);
        fuzz_offer((const char *)data, size);
        fuzz_error((const char *)data, size);
        return 0;
}
