/* SPDX-License-Identifier: MIT */
#include "umc/signedpkg.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "umc/fs.h"
#include "umc/names.h"
#include "umc/sig.h"
#include "umc/util.h"

#define LINE_MAX_BYTES (UMC_CONFIG_TARGET_NAME_MAX + 1 + 20 + 1)
#define VERSIONS_MAX_BYTES (UMC_CONFIG_TARGETS_MAX * LINE_MAX_BYTES)
#define WHY_MAX 512

/* ---- the security versions file ---- */

/* The number after "target=" in text (NAME=NUMBER lines), or -ENOENT. */
static int versions_find(const char *text, const char *target, uint64_t *ret) {
        size_t n = strlen(target);

        for (const char *line = text; *line;) {
                const char *nl = strchr(line, '\n');

                if (!nl)
                        return -EBADMSG;
                if (strncmp(line, target, n) == 0 && line[n] == '=') {
                        char *end;
                        unsigned long long v;

                        errno = 0;
                        v = strtoull(line + n + 1, &end, 10);
                        if (errno || end != nl || end == line + n + 1 ||
                            v > UMC_PACKAGE_SECURITY_VERSION_MAX)
                                return -EBADMSG;
                        *ret = v;
                        return 0;
                }
                line = nl + 1;
        }
        return -ENOENT;
}

int umc_signedpkg_installed(int state_fd, const char *target, uint64_t *ret) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        if (state_fd < 0 || !umc_name_target_valid(target) || !ret)
                return -EINVAL;
        r = umc_fs_read_file(state_fd, UMC_SIGNEDPKG_VERSIONS_FILE, VERSIONS_MAX_BYTES, &text,
                             &len);
        if (r == -ENOENT) {
                *ret = 0;
                return 0;
        }
        if (r < 0)
                return r;
        if (strlen(text) != len)
                return -EBADMSG;
        r = versions_find(text, target, ret);
        if (r == -ENOENT) {
                *ret = 0;
                return 0;
        }
        return r;
}

/* Copy text's lines except target's into out, then target's new line. */
static int versions_rewrite(const char *text, const char *target, uint64_t v, char *out,
                            size_t size) {
        size_t n = strlen(target), len = 0;
        int w;

        for (const char *line = text; line && *line;) {
                const char *nl = strchr(line, '\n');
                size_t l;

                if (!nl)
                        return -EBADMSG;
                l = (size_t)(nl - line) + 1;
                if (!(strncmp(line, target, n) == 0 && line[n] == '=')) {
                        if (len + l >= size)
                                return -ENOBUFS;
                        memcpy(out + len, line, l);
                        len += l;
                }
                line = nl + 1;
        }
        w = snprintf(out + len, size - len, "%s=%" PRIu64 "\n", target, v);
        if (w < 0 || (size_t)w >= size - len)
                return -ENOBUFS;
        return (int)(len + (size_t)w);
}

int umc_signedpkg_record(int state_fd, const char *target, uint64_t v) {
        _cleanup_free_ char *text = NULL, *out = NULL;
        size_t len = 0;
        int r;

        if (state_fd < 0 || !umc_name_target_valid(target) || v > UMC_PACKAGE_SECURITY_VERSION_MAX)
                return -EINVAL;
        r = umc_fs_read_file(state_fd, UMC_SIGNEDPKG_VERSIONS_FILE, VERSIONS_MAX_BYTES, &text,
                             &len);
        if (r < 0 && r != -ENOENT)
                return r;
        out = malloc(VERSIONS_MAX_BYTES + LINE_MAX_BYTES);
        if (!out)
                return -ENOMEM;
        r = versions_rewrite(r < 0 ? "" : text, target, v, out, VERSIONS_MAX_BYTES + LINE_MAX_BYTES);
        if (r < 0)
                return r;
        return umc_fs_write_atomic(state_fd, UMC_SIGNEDPKG_VERSIONS_FILE, out, (size_t)r, 0600);
}

/* ---- the checks ---- */

static enum umc_reason check_factory(const struct umc_daemon_config *c,
                                     const struct umc_package *p, char *why, size_t why_size) {
        return umc_package_check_factory(p, c->vehicle_model, c->hw_revision, why, why_size);
}

/* Each image names a configured target whose ECU ID and hardware ID it carries. */
static enum umc_reason check_targets(const struct umc_daemon_config *c,
                                     const struct umc_package *p, char *why, size_t why_size) {
        for (size_t k = 0; k < p->n_images; k++) {
                const struct umc_package_image *img = &p->images[k];
                const struct umc_ecu *ecu = NULL;
                enum umc_reason reason;

                for (size_t i = 0; i < c->n_targets && !ecu; i++)
                        if (strcmp(c->ecus[i].name, img->target) == 0)
                                ecu = &c->ecus[i];
                if (!ecu) {
                        (void)umc_why(why, why_size, 0, "image %s is for target '%s', which "
                                      "is not configured", img->file, img->target);
                        return UMC_REASON_PKG_NO_TARGET;
                }
                if (img->ecu_id != ecu->ecu_id) {
                        (void)umc_why(why, why_size, 0, "image %s names ECU ID 0x%" PRIx32
                                      " for target '%s', whose ECU ID is 0x%" PRIx32, img->file,
                                      img->ecu_id, img->target, ecu->ecu_id);
                        return UMC_REASON_PKG_NO_TARGET;
                }
                reason = umc_package_check_ecu(p, ecu->ecu_id, ecu->hw_id, NULL, why, why_size);
                if (reason != UMC_REASON_OK)
                        return reason;
        }
        return UMC_REASON_OK;
}

static enum umc_reason check_versions(int state_fd, const struct umc_package *p, char *why,
                                      size_t why_size) {
        for (size_t k = 0; k < p->n_images; k++) {
                const struct umc_package_image *img = &p->images[k];
                enum umc_reason reason;
                uint64_t installed;
                int r = umc_signedpkg_installed(state_fd, img->target, &installed);

                if (r < 0) {
                        /* Fail closed: without the floor, a downgrade would pass. */
                        (void)umc_why(why, why_size, 0, "cannot read the installed security "
                                      "version of '%s' (" UMC_SIGNEDPKG_VERSIONS_FILE "): %s",
                                      img->target, strerror(-r));
                        return UMC_REASON_PKG_ROLLBACK;
                }
                reason = umc_package_check_rollback(p, img, installed, why, why_size);
                if (reason != UMC_REASON_OK)
                        return reason;
        }
        return UMC_REASON_OK;
}

enum umc_reason umc_signedpkg_check(const struct umc_daemon_config *c, int state_fd,
                                    const struct umc_package *p, char *why, size_t why_size) {
        for (size_t i = 0; i < c->checks.n; i++) {
                enum umc_reason reason = UMC_REASON_OK;

                switch (c->checks.order[i]) {
                case UMC_PKG_CHECK_SIGNATURE: /* done by umc_package_load() or the cloud client */
                        break;
                case UMC_PKG_CHECK_FACTORY:
                        reason = check_factory(c, p, why, why_size);
                        break;
                case UMC_PKG_CHECK_TARGET:
                        reason = check_targets(c, p, why, why_size);
                        break;
                case UMC_PKG_CHECK_VERSION:
                        reason = check_versions(state_fd, p, why, why_size);
                        break;
                case UMC_PKG_CHECK_FEATURE_CODE:
                        reason = umc_package_check_feature(p, c->feature_key, c->feature_code, why,
                                                           why_size);
                        break;
                default:
                        reason = UMC_REASON_INTERNAL;
                        break;
                }
                if (reason != UMC_REASON_OK)
                        return reason;
        }
        return UMC_REASON_OK;
}

/* ---- loading ---- */

/* Does dfd hold a signature file? 1, 0, or a negative errno other than ENOENT. */
static int has_signature(int dfd) {
        static const char *const names[] = { UMC_PACKAGE_SIGNATURE, UMC_PACKAGE_SIGNATURE_SM2 };

        for (size_t i = 0; i < UMC_ELEMENTSOF(names); i++) {
                struct stat st;

                if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
                        return 1;
                if (errno != ENOENT)
                        return -errno;
        }
        return 0;
}

/* "0x0705 PKG_CERT_UNTRUSTED: detail" into why; -EBADMSG. */
static int refused(enum umc_reason reason, const char *detail, enum umc_reason *ret_reason,
                   char *why, size_t why_size) {
        char code[UMC_REASON_FORMAT_MAX];

        *ret_reason = reason;
        return umc_why(why, why_size, -EBADMSG, "%s: %s", umc_reason_format(reason, code), detail);
}

static int load_signed(const struct umc_daemon_config *c, int state_fd, int dfd,
                       int64_t now, struct umc_package *ret, enum umc_reason *ret_reason,
                       char *why, size_t why_size) {
        _cleanup_(umc_sig_trust_freep) struct umc_sig_trust *trust = NULL;
        enum umc_reason reason = UMC_REASON_OK;
        char detail[WHY_MAX] = "";
        struct umc_package p = {};
        int r;

        if (!c->trust_anchor)
                return refused(UMC_REASON_PKG_CERT_UNTRUSTED,
                               "signed package, but umcd.conf names no [Package] TrustAnchor=",
                               ret_reason, why, why_size);
        r = umc_sig_trust_load(c->trust_anchor, c->crl_file, &trust, detail, sizeof(detail));
        if (r < 0)
                return umc_why(why, why_size, r, "cannot load the trust anchor: %s", detail);
        r = umc_package_load_at(dfd, trust, now, &p, NULL, &reason, detail, sizeof(detail));
        if (r == -EBADMSG)
                return refused(reason, detail, ret_reason, why, why_size);
        if (r < 0)
                return umc_why(why, why_size, r, "%s", detail[0] ? detail : strerror(-r));
        reason = umc_signedpkg_check(c, state_fd, &p, detail, sizeof(detail));
        if (reason != UMC_REASON_OK) {
                umc_package_free(&p);
                return refused(reason, detail, ret_reason, why, why_size);
        }
        *ret = p;
        return 0;
}

int umc_signedpkg_load(const struct umc_daemon_config *c, int state_fd, const char *dir,
                       int64_t now, struct umc_manifest *ret, struct umc_signedpkg_info *ret_info,
                       enum umc_reason *ret_reason, char *why, size_t why_size) {
        _cleanup_close_ int dfd = -1;
        int r;

        if (!c || !dir || !ret || !ret_info)
                return -EINVAL;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                return umc_why(why, why_size, r, "%s: %s", dir, strerror(-r));
        }
        return umc_signedpkg_load_at(c, state_fd, dfd, dir, now, ret, ret_info, ret_reason, why,
                                     why_size);
}

int umc_signedpkg_load_at(const struct umc_daemon_config *c, int state_fd, int dfd,
                          const char *dir, int64_t now, struct umc_manifest *ret,
                          struct umc_signedpkg_info *ret_info, enum umc_reason *ret_reason,
                          char *why, size_t why_size) {
        struct umc_package p = {};
        enum umc_reason reason = UMC_REASON_OK;
        int r;

        if (!c || dfd < 0 || !dir || !ret || !ret_info)
                return -EINVAL;
        r = has_signature(dfd);
        if (r < 0)
                return umc_why(why, why_size, r, "%s: %s", dir, strerror(-r));
        if (r == 0 && c->require_signature)
                return refused(UMC_REASON_PKG_UNSIGNED,
                               "the package has no manifest.json.p7s and umcd.conf has [Package] "
                               "RequireSignature=yes", ret_reason ? ret_reason : &reason, why,
                               why_size);
        if (r == 0) {
                *ret_info = (struct umc_signedpkg_info){ .is_signed = false };
                return 0;
        }
        r = load_signed(c, state_fd, dfd, now, &p, ret_reason ? ret_reason : &reason, why,
                        why_size);
        if (r < 0)
                return r;
        r = umc_package_to_manifest(&p, ret);
        if (r >= 0)
                *ret_info = (struct umc_signedpkg_info){ .is_signed = true,
                                                         .security_version = p.security_version };
        umc_package_free(&p);
        return r < 0 ? r : 1;
}
