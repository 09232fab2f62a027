/* SPDX-License-Identifier: MIT */
#include "umc/cloud.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "umc/cloudq.h"
#include "umc/fs.h"
#include "umc/util.h"

enum op {
        OP_NONE,
        OP_CHECK,
        OP_MANIFEST,
        OP_IMAGES,
        OP_REPORT,
};

struct umc_cloud {
        sd_event *event;
        struct umc_curlev *ev;
        struct umc_cloud_config cfg;  /* strings owned, except net's and trust */
        const struct umc_cloud_backend *backend;
        void *bstate;
        char *pkg_dir;
        int pkg_fd, reports_fd;

        enum op op;
        void *userdata;
        union {
                umc_cloud_check_fn check;
                umc_cloud_manifest_fn manifest;
                umc_cloud_images_fn images;
                umc_cloud_done_fn report;
        } done;

        struct umc_cloudmsg_offer offer;  /* of the verified package */
        struct umc_package pkg;
        bool have_pkg;

        /* OP_IMAGES */
        size_t img;
        struct umc_fetch_file *file;
        struct umc_fetch_stats stats;
        umc_cloud_progress_fn progress;
        uint64_t total_size, total_done;

        /* OP_REPORT */
        char report_name[UMC_CLOUDQ_NAME_MAX];
};

/* The reason into why, nothing returned. */
#define say(why, why_size, ...) (void)umc_why(why, why_size, 0, __VA_ARGS__)

struct umc_curlev *umc_cloud_curlev(struct umc_cloud *c) {
        return c->ev;
}

const struct umc_cloud_config *umc_cloud_config(struct umc_cloud *c) {
        return &c->cfg;
}

const char *umc_cloud_package_dir(const struct umc_cloud *c) {
        return c->pkg_dir;
}

static int open_sub(const char *state, const char *sub, char **ret_path, int *ret_fd) {
        char *path;
        int r, fd;

        if (asprintf(&path, "%s/%s", state, sub) < 0)
                return -ENOMEM;
        r = umc_fs_mkdir_p(path, 0700);
        fd = r < 0 ? -1 : open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r >= 0 && fd < 0)
                r = -errno;
        if (r < 0 || !ret_path)
                free(path);
        if (r < 0)
                return r;
        if (ret_path)
                *ret_path = path;
        *ret_fd = fd;
        return 0;
}

static int copy_str(const char *src, const char **dst) {
        char *s = strdup(src);

        if (!s)
                return -ENOMEM;
        *dst = s;
        return 0;
}

/* A check of the input failed: the reason into why, -EINVAL back. */
#define bad(why, why_size, ...) umc_why(why, why_size, -EINVAL, __VA_ARGS__)

static int check_config(const struct umc_cloud_config *cfg, char *why, size_t why_size) {
        bool secure = false;

        if (!cfg->url || umc_cloudmsg_check_url(cfg->url, &secure) < 0 ||
            cfg->url[strlen(cfg->url) - 1] == '/')
                return bad(why, why_size, "backend URL \"%s\" is not an absolute URL without a "
                           "trailing '/'", cfg->url ? cfg->url : "");
        if (!secure && !cfg->net.allow_insecure)
                return bad(why, why_size, "backend URL \"%s\" is not https and plain transport "
                           "is not allowed", cfg->url);
        if (umc_cloudmsg_check_id(cfg->device_id) < 0)
                return bad(why, why_size, "device ID is not 1..64 of [A-Za-z0-9._-]");
        if (!cfg->company || !cfg->product || !*cfg->company || !*cfg->product)
                return bad(why, why_size, "company and product are required");
        if (!cfg->state_dir || cfg->state_dir[0] != '/')
                return bad(why, why_size, "state directory must be an absolute path");
        if (!cfg->trust)
                return bad(why, why_size, "no trust anchor for manifests");
        return 0;
}

static int copy_config(struct umc_cloud *c, const struct umc_cloud_config *cfg) {
        int r;

        /* Owned copies only: umc_cloud_free() frees what got copied so far. */
        c->cfg = *cfg;
        c->cfg.url = c->cfg.device_id = c->cfg.company = c->cfg.product = c->cfg.state_dir = NULL;
        r = copy_str(cfg->url, &c->cfg.url);
        if (r >= 0)
                r = copy_str(cfg->device_id, &c->cfg.device_id);
        if (r >= 0)
                r = copy_str(cfg->company, &c->cfg.company);
        if (r >= 0)
                r = copy_str(cfg->product, &c->cfg.product);
        if (r >= 0)
                r = copy_str(cfg->state_dir, &c->cfg.state_dir);
        return r;
}

int umc_cloud_new(sd_event *event, const struct umc_cloud_config *config,
                  const struct umc_cloud_backend *backend, struct umc_cloud **ret, char *why,
                  size_t why_size) {
        struct umc_cloud *c;
        int r;

        if (!event || !config || !backend || !ret)
                return -EINVAL;
        r = check_config(config, why, why_size);
        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->pkg_fd = c->reports_fd = -1;
        c->event = sd_event_ref(event);
        r = copy_config(c, config);
        if (r >= 0)
                r = umc_fs_mkdir_p(config->state_dir, 0700);
        if (r >= 0)
                r = open_sub(config->state_dir, "package", &c->pkg_dir, &c->pkg_fd);
        if (r >= 0)
                r = open_sub(config->state_dir, "reports", NULL, &c->reports_fd);
        if (r >= 0)
                r = umc_curlev_new(event, &c->ev);
        if (r >= 0) {
                c->backend = backend;
                r = backend->attach(c, &c->bstate);
        }
        if (r < 0) {
                say(why, why_size, "cannot set up the cloud client in %s: %s", config->state_dir,
                    strerror(-r));
                umc_cloud_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

void umc_cloud_free(struct umc_cloud *c) {
        if (!c)
                return;
        umc_cloud_cancel(c);
        if (c->backend && c->bstate)
                c->backend->detach(c->bstate);
        umc_curlev_free(c->ev);
        umc_package_free(&c->pkg);
        umc_closep(&c->pkg_fd);
        umc_closep(&c->reports_fd);
        free(c->pkg_dir);
        free((char *)c->cfg.url);
        free((char *)c->cfg.device_id);
        free((char *)c->cfg.company);
        free((char *)c->cfg.product);
        free((char *)c->cfg.state_dir);
        umc_memzero(c->cfg.secret, sizeof(c->cfg.secret));
        sd_event_unref(c->event);
        free(c);
}

void umc_cloud_cancel(struct umc_cloud *c) {
        if (!c)
                return;
        if (c->backend && c->bstate)
                c->backend->cancel(c->bstate);
        umc_fetch_file_cancel(c->file);
        c->file = NULL;
        c->op = OP_NONE;
}

static int begin(struct umc_cloud *c, enum op op, void *userdata) {
        if (!c)
                return -EINVAL;
        if (c->op != OP_NONE)
                return -EBUSY;
        c->op = op;
        c->userdata = userdata;
        return 0;
}

/* ---- check ---- */

static void on_checked(struct umc_cloud *c, int error, const struct umc_cloudmsg_offer *offer,
                       const char *why, void *userdata) {
        umc_cloud_check_fn done = c->done.check;

        c->op = OP_NONE;
        done(c, error, offer, why, c->userdata);
}

int umc_cloud_check(struct umc_cloud *c, const struct umc_cloudmsg_version *v, size_t n,
                    umc_cloud_check_fn done, void *userdata) {
        int r = begin(c, OP_CHECK, userdata);

        if (r < 0)
                return r;
        c->done.check = done;
        r = c->backend->check(c->bstate, v, n, on_checked, NULL);
        if (r < 0)
                c->op = OP_NONE;
        return r;
}

/* ---- manifest ---- */

static bool keep_file(const struct umc_package *p, const char *name) {
        char hex[2 * UMC_HASH_LEN + 1], part[2 * UMC_HASH_LEN + 6];

        for (size_t i = 0; p && i < p->n_images; i++) {
                umc_hex_encode(p->images[i].sha256, UMC_HASH_LEN, hex);
                snprintf(part, sizeof(part), "%s.part", hex);
                if (strcmp(name, p->images[i].file) == 0 || strcmp(name, part) == 0)
                        return true;
        }
        return false;
}

/* Delete every regular file in the package folder that p does not need. */
static int clean_package_dir(struct umc_cloud *c, const struct umc_package *p) {
        int fd = openat(c->pkg_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dirent *de;
        DIR *d;

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        while ((de = readdir(d)))
                if (de->d_type != DT_DIR && !keep_file(p, de->d_name))
                        (void)unlinkat(c->pkg_fd, de->d_name, 0);
        closedir(d);
        return umc_fs_fsync_dir(c->pkg_fd);
}

static int verify_sig(struct umc_cloud *c, const char *m, size_t ml, const char *s, size_t sl,
                      enum umc_reason *reason, char *why, size_t why_size) {
        int64_t now = (int64_t)time(NULL);

        if (c->offer.signature_format == UMC_CLOUDMSG_SIG_SM2)
                return umc_sig_verify_sm2(c->cfg.trust, m, ml, s, sl, now, NULL, reason, why,
                                          why_size);
        return umc_sig_verify(c->cfg.trust, m, ml, s, sl, now, NULL, reason, why, why_size);
}

static int verify_manifest(struct umc_cloud *c, const char *m, size_t ml, const char *s,
                           size_t sl, struct umc_package *p, enum umc_reason *reason, char *why,
                           size_t why_size) {
        int r = verify_sig(c, m, ml, s, sl, reason, why, why_size);

        if (r < 0)
                return r;
        /* Parsed only once its signature verified: untrusted JSON is never acted on. */
        r = umc_package_parse(m, ml, p, why, why_size);
        if (r < 0) {
                *reason = UMC_REASON_PKG_MALFORMED;
                return r == -EINVAL ? -EBADMSG : r;
        }
        *reason = umc_package_check_expiry(p, (int64_t)time(NULL), why, why_size);
        if (*reason != UMC_REASON_OK) {
                umc_package_free(p);
                return -EBADMSG;
        }
        return 0;
}

static int store_manifest(struct umc_cloud *c, const struct umc_package *p, const char *m,
                          size_t ml, const char *s, size_t sl) {
        bool sm2 = c->offer.signature_format == UMC_CLOUDMSG_SIG_SM2;
        int r = clean_package_dir(c, p);

        if (r >= 0)
                r = umc_fs_write_atomic(c->pkg_fd,
                                        sm2 ? UMC_PACKAGE_SIGNATURE_SM2 : UMC_PACKAGE_SIGNATURE,
                                        s, sl, 0600);
        if (r >= 0)
                r = umc_fs_write_atomic(c->pkg_fd, UMC_PACKAGE_MANIFEST, m, ml, 0600);
        return r;
}

static void manifest_end(struct umc_cloud *c, int error, enum umc_reason reason,
                         const char *why) {
        umc_cloud_manifest_fn done = c->done.manifest;

        c->op = OP_NONE;
        done(c, error, reason, error < 0 ? NULL : &c->pkg, why, c->userdata);
}

static void on_manifest(struct umc_cloud *c, int error, const char *m, size_t ml, const char *s,
                        size_t sl, const char *bwhy, void *userdata) {
        enum umc_reason reason = UMC_REASON_OK;
        struct umc_package p = {};
        char why[UMC_CLOUD_WHY_MAX] = "";
        int r;

        if (error < 0) {
                manifest_end(c, error, UMC_REASON_IO_ERROR, bwhy);
                return;
        }
        r = verify_manifest(c, m, ml, s, sl, &p, &reason, why, sizeof(why));
        if (r < 0) {
                manifest_end(c, r, reason, why);
                return;
        }
        r = store_manifest(c, &p, m, ml, s, sl);
        if (r < 0) {
                umc_package_free(&p);
                say(why, sizeof(why), "cannot store the manifest in %s: %s", c->pkg_dir,
                    strerror(-r));
                manifest_end(c, r, UMC_REASON_IO_ERROR, why);
                return;
        }
        umc_package_free(&c->pkg);
        c->pkg = p;
        c->have_pkg = true;
        manifest_end(c, 0, UMC_REASON_OK, "");
}

int umc_cloud_fetch_manifest(struct umc_cloud *c, const struct umc_cloudmsg_offer *offer,
                             umc_cloud_manifest_fn done, void *userdata) {
        int r;

        if (!offer || !offer->update || !done)
                return -EINVAL;
        r = begin(c, OP_MANIFEST, userdata);
        if (r < 0)
                return r;
        c->done.manifest = done;
        c->offer = *offer;
        c->have_pkg = false;
        r = c->backend->fetch_manifest(c->bstate, &c->offer, on_manifest, NULL);
        if (r < 0)
                c->op = OP_NONE;
        return r;
}

/* ---- images ---- */

static void images_end(struct umc_cloud *c, int error, enum umc_reason reason, const char *why) {
        umc_cloud_images_fn done = c->done.images;

        c->file = NULL;
        c->op = OP_NONE;
        /* A package that failed a check is deleted: nothing of it may reach a target. */
        if (error == -EBADMSG) {
                (void)clean_package_dir(c, NULL);
                c->have_pkg = false;
        }
        done(c, error, reason, why, &c->stats, c->userdata);
}

static void add_stats(struct umc_fetch_stats *to, const struct umc_fetch_stats *s) {
        to->received += s->received;
        to->resumed_from += s->resumed_from;
        to->attempts += s->attempts;
        to->ranges += s->ranges;
}

static int next_image(struct umc_cloud *c);

static void on_image(struct umc_fetch_file *f, int error, enum umc_reason reason,
                     const char *why, const struct umc_fetch_stats *stats, void *userdata) {
        struct umc_cloud *c = userdata;
        char w[UMC_CLOUD_WHY_MAX];
        int r;

        c->file = NULL;
        add_stats(&c->stats, stats);
        if (error < 0) {
                images_end(c, error, reason, why);
                return;
        }
        c->total_done += c->pkg.images[c->img].size;
        c->img++;
        r = next_image(c);
        if (r < 0) {
                say(w, sizeof(w), "cannot fetch %s: %s", c->pkg.images[c->img].file,
                    strerror(-r));
                images_end(c, r, UMC_REASON_IO_ERROR, w);
        }
}

static void on_progress(uint64_t have, uint64_t size, void *userdata) {
        struct umc_cloud *c = userdata;
        struct umc_cloud_progress p = { c->img, have, size, c->total_done + have,
                                        c->total_size };

        if (c->progress)
                c->progress(c, &p, c->userdata);
}

/* An image complete from an earlier run: kept when it checks out, deleted otherwise. */
static bool already_there(struct umc_cloud *c, const struct umc_package_image *img) {
        enum umc_reason reason;

        if (umc_package_check_image_file(c->pkg_fd, img, &reason, NULL, 0) >= 0 &&
            reason == UMC_REASON_OK)
                return true;
        (void)unlinkat(c->pkg_fd, img->file, 0);
        return false;
}

static int next_image(struct umc_cloud *c) {
        const struct umc_package_image *img;
        _cleanup_free_ char *url = NULL;
        int r;

        while (c->img < c->pkg.n_images && already_there(c, &c->pkg.images[c->img]))
                c->total_done += c->pkg.images[c->img++].size;
        if (c->img == c->pkg.n_images) {
                c->op = OP_NONE;
                c->done.images(c, 0, UMC_REASON_OK, "", &c->stats, c->userdata);
                return 0;
        }
        img = &c->pkg.images[c->img];
        r = c->backend->image_url(c->bstate, &c->offer, img->file, &url);
        if (r < 0)
                return r;
        return umc_fetch_file_start(c->ev, c->event, &c->cfg.net,
                                    &(struct umc_fetch_file_args){
                                            .url = url,
                                            .dirfd = c->pkg_fd,
                                            .final_name = img->file,
                                            .size = img->size,
                                            .sha256 = img->sha256,
                                            .done = on_image,
                                            .progress = on_progress,
                                            .userdata = c,
                                    },
                                    &c->file);
}

static int on_images_start(sd_event_source *s, void *userdata) {
        struct umc_cloud *c = userdata;
        char w[UMC_CLOUD_WHY_MAX];
        int r = next_image(c);

        sd_event_source_disable_unref(s);
        if (r < 0) {
                say(w, sizeof(w), "cannot fetch %s: %s", c->pkg.images[c->img].file,
                    strerror(-r));
                images_end(c, r, UMC_REASON_IO_ERROR, w);
        }
        return 0;
}

int umc_cloud_fetch_images(struct umc_cloud *c, umc_cloud_progress_fn progress,
                           umc_cloud_images_fn done, void *userdata) {
        int r;

        if (!c || !done)
                return -EINVAL;
        if (!c->have_pkg)
                return -ENOENT;
        r = begin(c, OP_IMAGES, userdata);
        if (r < 0)
                return r;
        c->done.images = done;
        c->progress = progress;
        c->img = 0;
        c->stats = (struct umc_fetch_stats){};
        c->total_done = c->total_size = 0;
        for (size_t i = 0; i < c->pkg.n_images; i++)
                c->total_size += c->pkg.images[i].size;
        /* Started from the loop: the callback never runs inside this call. */
        r = sd_event_add_defer(c->event, NULL, on_images_start, c);
        if (r < 0)
                c->op = OP_NONE;
        return r;
}

/* ---- reports ---- */

static int send_next(struct umc_cloud *c);

static void report_end(struct umc_cloud *c, int error, const char *why) {
        umc_cloud_done_fn done = c->done.report;

        c->op = OP_NONE;
        done(c, error, why, c->userdata);
}

static void on_reported(struct umc_cloud *c, int error, const char *why, void *userdata) {
        char w[UMC_CLOUD_WHY_MAX];
        int r;

        if (error < 0) {
                report_end(c, error, why);
                return;
        }
        r = umc_cloudq_remove(c->reports_fd, c->report_name);
        if (r >= 0)
                r = send_next(c);
        if (r == -ENOENT) {
                report_end(c, 0, "");
        } else if (r < 0) {
                say(w, sizeof(w), "report queue: %s", strerror(-r));
                report_end(c, r, w);
        }
}

/* -ENOENT: the queue is empty. */
static int send_next(struct umc_cloud *c) {
        _cleanup_free_ char *body = NULL;
        size_t len;
        int r = umc_cloudq_peek(c->reports_fd, c->report_name, &body, &len);

        if (r < 0)
                return r;
        return c->backend->report(c->bstate, body, len, on_reported, NULL);
}

static int on_flush_start(sd_event_source *s, void *userdata) {
        struct umc_cloud *c = userdata;
        char w[UMC_CLOUD_WHY_MAX];
        int r = send_next(c);

        sd_event_source_disable_unref(s);
        if (r == -ENOENT) {
                report_end(c, 0, "");
        } else if (r < 0) {
                say(w, sizeof(w), "cannot send a queued report: %s", strerror(-r));
                report_end(c, r, w);
        }
        return 0;
}

int umc_cloud_flush_reports(struct umc_cloud *c, umc_cloud_done_fn done, void *userdata) {
        int r;

        if (!done)
                return -EINVAL;
        r = begin(c, OP_REPORT, userdata);
        if (r < 0)
                return r;
        c->done.report = done;
        r = sd_event_add_defer(c->event, NULL, on_flush_start, c);
        if (r < 0)
                c->op = OP_NONE;
        return r;
}

int umc_cloud_report(struct umc_cloud *c, const struct umc_cloudmsg_report *report,
                     umc_cloud_done_fn done, void *userdata) {
        _cleanup_free_ char *body = NULL;
        size_t len;
        int r;

        if (!c || !report || !done)
                return -EINVAL;
        if (c->op != OP_NONE)
                return -EBUSY;
        r = umc_cloudmsg_report_json(c->cfg.device_id, report, &body, &len);
        if (r >= 0)
                r = umc_cloudq_push(c->reports_fd, body, len, NULL);
        if (r < 0)
                return r;
        return umc_cloud_flush_reports(c, done, userdata);
}

int umc_cloud_queued_reports(struct umc_cloud *c) {
        return c ? umc_cloudq_count(c->reports_fd) : -EINVAL;
}
