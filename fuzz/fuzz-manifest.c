/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the package manifest parser, umc_manifest_parse(),
 * on any bytes (a package comes from the cloud or a USB stick). Properties,
 * beyond no crash or leak under ASan/UBSan:
 *  - it returns 0, -EINVAL with a message, or -E2BIG;
 *  - an accepted manifest has 1..256 images, each with a valid target,
 *    version and plain file name, a size of 1..2^40, no target twice;
 *  - an accepted text holds no NUL or control character but JSON
 *    whitespace, and stops being accepted when anything but whitespace
 *    follows it (the parser differential it must not have);
 *  - its hash is the SHA-256 of the exact bytes.
 */
#include <string.h>

#include "common.h"
#include "umc/manifest.h"
#include "umc/names.h"

static void check_manifest(const struct umc_manifest *m, const uint8_t *data, size_t size) {
        uint8_t h[UMC_HASH_LEN];

        CHECK(m->n_images >= 1 && m->n_images <= UMC_MANIFEST_MAX_IMAGES);
        CHECK(strlen(m->name) >= 1 && strlen(m->name) <= UMC_MANIFEST_NAME_MAX);
        for (size_t i = 0; i < m->n_images; i++) {
                const struct umc_manifest_image *img = &m->images[i];

                CHECK(umc_name_target_valid(img->target));
                CHECK(umc_name_version_valid(img->version));
                CHECK(img->file[0] != '.' && !strchr(img->file, '/'));
                CHECK(img->size >= 1 && img->size <= UMC_MANIFEST_IMAGE_MAX_SIZE);
                CHECK(umc_manifest_find(m, img->target) == img);
        }
        for (size_t i = 0; i < size; i++)
                CHECK(data[i] >= 0x20 || data[i] == '\t' || data[i] == '\n' || data[i] == '\r');
        CHECK(umc_hash_oneshot(UMC_HASH_SHA256, data, size, h) == 0);
        CHECK(memcmp(h, m->hash, sizeof(h)) == 0);
}

/* The same text followed by a second document must be refused. */
static void check_trailer(const uint8_t *data, size_t size) {
        static const char tail[] = " {\"name\":\"EVIL\"}";
        struct umc_manifest m = {};
        char *buf = malloc(size + sizeof(tail));
        char why[256];

        CHECK(buf);
        memcpy(buf, data, size);
        memcpy(buf + size, tail, sizeof(tail) - 1);
        CHECK(umc_manifest_parse(buf, size + sizeof(tail) - 1, &m, why, sizeof(why)) == -EINVAL);
        free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct umc_manifest m = {};
        char why[256] = "";
        int r;

        r = umc_manifest_parse((const char *)data, size, &m, why, sizeof(why));
        CHECK(r == 0 || r == -EINVAL || r == -E2BIG);
        if (r == -EINVAL)
                CHECK(why[0] != '\0' && strnlen(why, sizeof(why)) < sizeof(why));
        if (r < 0) {
                CHECK(m.images == NULL);
                return 0;
        }
        check_manifest(&m, data, size);
        umc_manifest_free(&m);
        if (size + 32 <= UMC_MANIFEST_MAX_BYTES)
                check_trailer(data, size);
        return 0;
}
