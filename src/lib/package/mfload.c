/* SPDX-License-Identifier: MIT */
#include "umc/mfload.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "umc/fs.h"
#include "umc/package.h"
#include "umc/util.h"

static int refuse(char *why, size_t why_size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int refuse(char *why, size_t why_size, const char *fmt, ...) {
        va_list ap;

        if (why && why_size > 0) {
                va_start(ap, fmt);
                (void)vsnprintf(why, why_size, fmt, ap);
                va_end(ap);
        }
        return -EBADMSG;
}

static bool present(int dfd, const char *name) {
        struct stat st;

        return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* One file, non-empty and at most max bytes (the wire's cap, not the package format's). */
static int read_capped(int dfd, const char *name, size_t max, uint8_t **ret, size_t *ret_len,
                       char *why, size_t why_size) {
        char *text = NULL;
        size_t len = 0;
        int r;

        r = umc_fs_read_file(dfd, name, max, &text, &len);
        if (r == -EFBIG)
                return refuse(why, why_size, "%s: larger than %zu bytes, the most a MANIFEST "
                              "frame sequence carries to an ECU", name, max);
        if (r < 0) {
                (void)refuse(why, why_size, "%s: %s", name, strerror(-r));
                return r;
        }
        if (len == 0) {
                free(text);
                return refuse(why, why_size, "%s: empty", name);
        }
        *ret = (uint8_t *)text;
        *ret_len = len;
        return 0;
}

int umc_mfbuf_load(const char *dir, struct umc_mfbuf *ret, char *why, size_t why_size) {
        _cleanup_close_ int dfd = -1;

        if (!dir || !ret)
                return -EINVAL;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        return umc_mfbuf_load_at(dfd, ret, why, why_size);
}

int umc_mfbuf_load_at(int dfd, struct umc_mfbuf *ret, char *why, size_t why_size) {
        struct umc_mfbuf b = {};
        bool cms, sm2;
        int r;

        if (dfd < 0 || !ret)
                return -EINVAL;
        cms = present(dfd, UMC_PACKAGE_SIGNATURE);
        sm2 = present(dfd, UMC_PACKAGE_SIGNATURE_SM2);
        if (!cms && !sm2)
                return -ENOENT;
        if (cms && sm2)
                return refuse(why, why_size, "both %s and %s: a package has one signature",
                              UMC_PACKAGE_SIGNATURE, UMC_PACKAGE_SIGNATURE_SM2);
        b.format = sm2 ? UMC_MFMSG_SM2 : UMC_MFMSG_CMS;
        r = read_capped(dfd, UMC_PACKAGE_MANIFEST, UMC_MFMSG_MANIFEST_MAX, &b.manifest,
                        &b.manifest_len, why, why_size);
        if (r >= 0)
                r = read_capped(dfd, sm2 ? UMC_PACKAGE_SIGNATURE_SM2 : UMC_PACKAGE_SIGNATURE,
                                UMC_MFMSG_SIG_MAX, &b.sig, &b.sig_len, why, why_size);
        if (r < 0) {
                umc_mfbuf_free(&b);
                return r;
        }
        *ret = b;
        return 0;
}

int umc_mfbuf_copy(const struct umc_signed_manifest *m, struct umc_mfbuf *ret) {
        struct umc_mfbuf b = {};

        if (!umc_signed_manifest_valid(m) || !ret)
                return -EINVAL;
        b.format = m->format;
        b.manifest = malloc(m->manifest_len);
        b.sig = malloc(m->sig_len);
        if (!b.manifest || !b.sig) {
                umc_mfbuf_free(&b);
                return -ENOMEM;
        }
        memcpy(b.manifest, m->manifest, m->manifest_len);
        memcpy(b.sig, m->sig, m->sig_len);
        b.manifest_len = m->manifest_len;
        b.sig_len = m->sig_len;
        *ret = b;
        return 0;
}

void umc_mfbuf_view(const struct umc_mfbuf *b, struct umc_signed_manifest *ret) {
        *ret = (struct umc_signed_manifest){
                .format = b->format,
                .manifest = b->manifest,
                .manifest_len = b->manifest_len,
                .sig = b->sig,
                .sig_len = b->sig_len,
        };
}

void umc_mfbuf_free(struct umc_mfbuf *b) {
        if (!b)
                return;
        free(b->manifest);
        free(b->sig);
        *b = (struct umc_mfbuf){};
}
