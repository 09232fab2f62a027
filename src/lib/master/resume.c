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

/* Decimal 0..UMC_XFER_MAX_IMAGE, digits only. */
static int parse_offset(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (*s == '\0')
                return -EBADMSG;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EBADMSG;
                v = v * 10 + (uint64_t)(*s - '0');
                if (v > UMC_XFER_MAX_IMAGE)
                        return -EBADMSG;
        }
        *ret = v;
        return 0;
}

/* One "key=value" line into rec; *seen collects the keys met. */
static int record_line(char *line, struct umc_delivery_record *rec, unsigned *seen) {
        static const char *const keys[] = { "package", "manifest", "target", "offset" };
        char *eq = strchr(line, '=');
        const char *v;
        size_t k;

        if (!eq)
                return -EBADMSG;
        *eq = '\0';
        v = eq + 1;
        for (k = 0; k < UMC_ELEMENTSOF(keys); k++)
                if (strcmp(line, keys[k]) == 0)
                        break;
        if (k == UMC_ELEMENTSOF(keys) || (*seen & (1u << k)))
                return -EBADMSG;
        *seen |= 1u << k;
        switch (k) {
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
        default:
                return parse_offset(v, &rec->offset);
        }
}

int umc_delivery_record_read(int dirfd, const char *target, struct umc_delivery_record *ret) {
        char name[RECORD_NAME_MAX];
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ struct umc_delivery_record *rec = NULL;
        unsigned seen = 0;
        size_t len;
        char *line;
        int r;

        if (!ret || !umc_name_target_valid(target))
                return -EINVAL;
        record_name(target, name);
        r = umc_fs_read_file(dirfd, name, RECORD_TEXT_MAX, &text, &len);
        if (r < 0)
                return r;
        if (strlen(text) != len || len == 0 || text[len - 1] != '\n')
                return -EBADMSG;
        rec = calloc(1, sizeof(*rec));
        if (!rec)
                return -ENOMEM;
        line = text;
        while (*line) {
                char *nl = strchr(line, '\n');

                *nl = '\0';
                r = record_line(line, rec, &seen);
                if (r < 0)
                        return r;
                line = nl + 1;
        }
        if (seen != 0xf || strcmp(rec->target, target) != 0)
                return -EBADMSG;
        *ret = *rec;
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
