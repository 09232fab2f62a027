/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the signed package's parsers: the format-2
 * manifest (umc_package_parse), the detached CMS signature's container
 * (umc_sig_describe: DER, SignedData, signer, algorithm) and the manifest's
 * UTC time. Beyond "no crash" (ASan/UBSan) it checks properties that must
 * hold for any input:
 *  - a manifest is refused with -EINVAL (or -E2BIG above the size limit),
 *    and then names what was wrong; an accepted one has 1..256 images with
 *    distinct targets, ECU IDs and files, sizes in range, sealed sizes
 *    that match their plaintext, and the SHA-256 of exactly the input;
 *  - a sealed feature code has a valid key ID and a ciphertext within its
 *    bounds, and checking it with a fixed key ends in OK or
 *    PKG_FEATURE_MISMATCH, never anything else;
 *  - parsing the same bytes twice gives the same result;
 *  - a time that parses formats back to the same 20 characters;
 *  - a signature container is described (0) or refused (-EBADMSG).
 * Seeds: fuzz/corpus/package/. See fuzz/README.md for building and running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "umc/package.h"
#include "umc/sig.h"
#include "umc/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

static void check_image(const struct umc_package *p, size_t i) {
        const struct umc_package_image *img = &p->images[i];
        uint64_t sealed;

        CHECK(img->size >= 1 && img->size <= UMC_MANIFEST_IMAGE_MAX_SIZE);
        CHECK(img->target[0] && img->hw_id[0] && img->version[0] && img->file[0]);
        CHECK(img->file[0] != '.' && !strchr(img->file, '/'));
        CHECK(!img->has_downgrade || img->downgrade_max > p->security_version);
        CHECK(img->material_len <= UMC_PACKAGE_MATERIAL_MAX);
        if (img->encrypted) {
                CHECK(umc_pkgenc_sealed_size(img->plain_size, &sealed) == 0);
                CHECK(sealed == img->size);
        }
        for (size_t j = 0; j < i; j++) {
                CHECK(strcmp(p->images[j].target, img->target) != 0);
                CHECK(p->images[j].ecu_id != img->ecu_id);
                CHECK(strcmp(p->images[j].file, img->file) != 0);
        }
}

/* The test-vector key of docs/package.md ("The feature code"): 00 01 .. 1f. */
static void check_feature(const struct umc_package *p) {
        uint8_t key[UMC_FEATCODE_KEY_LEN];
        enum umc_reason reason;

        for (size_t i = 0; i < sizeof(key); i++)
                key[i] = (uint8_t)i;
        reason = umc_package_check_feature(p, key, "OPT-A7", NULL, 0);
        CHECK(reason == UMC_REASON_OK || reason == UMC_REASON_PKG_FEATURE_MISMATCH);
        CHECK(p->has_feature_code || reason != UMC_REASON_OK);
        if (!p->has_feature_code)
                return;
        CHECK(umc_featcode_key_id_valid(p->feature_code.key_id));
        CHECK(p->feature_code.ct_len >= UMC_FEATCODE_CT_MIN &&
              p->feature_code.ct_len <= UMC_FEATCODE_CT_MAX);
}

static void fuzz_manifest(const uint8_t *data, size_t size) {
        struct umc_package p = {}, q = {};
        char why[256] = "";
        uint8_t h[UMC_HASH_LEN];
        int r = umc_package_parse((const char *)data, size, &p, why, sizeof(why));

        if (r < 0) {
                CHECK(r == -EINVAL || r == -E2BIG);
                CHECK(r == -E2BIG || why[0] != '\0');
                return;
        }
        CHECK(p.n_images >= 1 && p.n_images <= UMC_PACKAGE_MAX_IMAGES);
        CHECK(p.security_version <= UMC_PACKAGE_SECURITY_VERSION_MAX);
        for (size_t i = 0; i < p.n_images; i++)
                check_image(&p, i);
        check_feature(&p);
        CHECK(umc_hash_oneshot(UMC_HASH_SHA256, data, size, h) == 0);
        CHECK(memcmp(h, p.hash, sizeof(h)) == 0);
        CHECK(umc_package_parse((const char *)data, size, &q, NULL, 0) == 0);
        CHECK(q.n_images == p.n_images && q.expires == p.expires);
        CHECK(memcmp(q.images, p.images, p.n_images * sizeof(*p.images)) == 0);
        umc_package_free(&q);
        umc_package_free(&p);
}

static void fuzz_time(const uint8_t *data, size_t size) {
        char s[32], back[21];
        int64_t t;

        if (size > 24)
                return;
        memcpy(s, data, size);
        s[size] = '\0';
        if (umc_package_time_parse(s, &t) < 0)
                return;
        CHECK(umc_package_time_format(t, back) == 0);
        CHECK(strcmp(s, back) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct umc_sig_signer s;
        int r;

        fuzz_manifest(data, size);
        fuzz_time(data, size);
        r = umc_sig_describe(data, size, &s, NULL, 0);
        CHECK(r == 0 || r == -EBADMSG);
        return 0;
}
