/* SPDX-License-Identifier: MIT */
/*
 * Resume records of the delivery (delivery.h): StateDirectory/resume-TARGET,
 * written atomically at every acknowledged checkpoint, read by umcd after a
 * restart.
 */
#include "umc/delivery.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "umc/fs.h"
#include "umc/names.h"
#include "umc/parse.h"
#include "umc/statefile.h"
#include "umc/util.h"
#include "umc/xfer.h"

#define RECORD_NAME_MAX (sizeof(UMC_DELIVERY_RECORD_PREFIX) + UMC_CONFIG_TARGET_NAME_MAX)
/* package=PATH manifest=HEX target=NAME offset=N, each with its newline. */
#define RECORD_TEXT_MAX (PATH_MAX + 2 * UMC_HASH_LEN + UMC_CONFIG_TARGET_NAME_MAX + 64)

static void record_name(const char *target, char buf[RECORD_NAME_MAX]) {
        (void)snprintf(buf, RECORD_NAME_MAX, UMC_DELIVERY_RECORD_PREFIX "%s", target);
}

int umc_delivery_record_write(int dirfd, const struct umc_delivery_record *rec) {
        char name[RECORD_NAME_MAX], hex[2 * UMC_HASH_LEN + 1];
        _cleanup_free_ char *text = NULL;
        int n;

        if (!rec || !umc_name_path_valid(rec->package_dir) ||
            !umc_name_target_valid(rec->target) || rec->offset > UMC_XFER_MAX_IMAGE)
                return -EINVAL;
        text = malloc(RECORD_TEXT_MAX);
        if (!text)
                return -ENOMEM;
        umc_hex_encode(rec->manifest_hash, UMC_HASH_LEN, hex);
        n = snprintf(text, RECORD_TEXT_MAX, "package=%s\nmanifest=%s\ntarget=%s\noffset=%" PRIu64 "\n",
                     rec->package_dir, hex, rec->target, rec->offset);
        if (n < 0 || (size_t)n >= RECORD_TEXT_MAX)
                return -EINVAL;
        record_name(rec->target, name);
        return umc_fs_write_atomic(dirfd, name, text, (size_t)n, 0600);
}

static const char *const record_keys[] = { "package", "manifest", "target", "offset" };

struct record_parse {
        struct umc_delivery_record rec;
        unsigned seen;
};

/* One "key=value" line of a resume record. */
static int record_line(const char *key, const char *v, void *userdata) {
        struct record_parse *rp = userdata;
        struct umc_delivery_record *rec = &rp->rec;

        switch (umc_statefile_key(key, record_keys, UMC_ELEMENTSOF(record_keys), &rp->seen)) {
        case 0:
                if (!umc_name_path_valid(v))
                        return -EBADMSG;
                memcpy(rec->package_dir, v, strlen(v) + 1);
                return 0;
        case 1:
                return umc_hex_decode(v, strlen(v), rec->manifest_hash, UMC_HASH_LEN) < 0 ? -EBADMSG
                                                                                         : 0;
        case 2:
                if (!umc_name_target_valid(v))
                        return -EBADMSG;
                memcpy(rec->target, v, strlen(v) + 1);
                return 0;
        case 3:
                /* Decimal 0..UMC_XFER_MAX_IMAGE, digits only. */
                return umc_parse_uint(v, strlen(v), UMC_XFER_MAX_IMAGE, &rec->offset) < 0 ? -EBADMSG
                                                                                          : 0;
        default:
                return -EBADMSG;
        }
}

int umc_delivery_record_read(int dirfd, const char *target, struct umc_delivery_record *ret) {
        char name[RECORD_NAME_MAX];
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ struct record_parse *rp = NULL;
        size_t len;
        int r;

        if (!ret || !umc_name_target_valid(target))
                return -EINVAL;
        record_name(target, name);
        r = umc_fs_read_file(dirfd, name, RECORD_TEXT_MAX, &text, &len);
        if (r < 0)
                return r;
        rp = calloc(1, sizeof(*rp));
        if (!rp)
                return -ENOMEM;
        r = umc_statefile_parse(text, len, record_line, rp);
        if (r < 0)
                return r;
        if (rp->seen != 0xf || strcmp(rp->rec.target, target) != 0)
                return -EBADMSG;
        *ret = rp->rec;
        return 0;
}

int umc_delivery_record_remove(int dirfd, const char *target) {
        char name[RECORD_NAME_MAX];

        if (!umc_name_target_valid(target))
                return -EINVAL;
        record_name(target, name);
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return umc_fs_remove_temp_files(dirfd, name);
}
