/* SPDX-License-Identifier: MIT */
/*
 * Updates from the cloud in umcd (update.h). One step at a time, all on
 * the loop: CHECKING (flush the report queue, check, fetch the manifest,
 * handshake checks) -> AVAILABLE (the offer) -> DOWNLOADING (after
 * consent only) -> INSTALLING (the manager) -> IDLE. A failure at any step
 * sends a report and returns to IDLE; a report goes out after the
 * installation with each target's result.
 *
 * What a kill leaves: the cloud folder keeps the verified manifest and the
 * partial images (cloud.h). Killed while downloading: nothing resumes by
 * itself (consent is not stored); the next check of the same package
 * offers it again and its download resumes from the partial files. Killed
 * while installing: the manager resumes the installation from its records
 * (consent was given), and adopt_resumed_install() follows it to report.
 */
#include "umc/update.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "umc/cloud.h"
#include "umc/fs.h"
#include "umc/log.h"
#include "umc/signedpkg.h"
#include "umc/util.h"

#define CLOUD_FOLDER "cloud"
#define WHY_MAX UMC_CLOUD_WHY_MAX
#define OFFSET_LABEL "umc window offset:"
#define BACKOFF_USEC (500 * USEC_PER_MSEC)
#define SPACE_MARGIN (1024 * 1024)

struct umc_update {
        struct umc_manager *manager;     /* borrowed */
        sd_event *event;                 /* a reference */
        struct umc_update_events ev;
        struct umc_cloud *cloud;
        int state_fd;                    /* the manager's StateDirectory= */

        /* Copies of the [Cloud] config the client borrows. */
        char *url, *device_id, *ca_file, *cert, *key, *proxy, *cloud_dir;
        struct umc_config_window windows[UMC_CONFIG_WINDOWS_MAX];
        size_t n_windows;
        uint64_t offset_sec;
        sd_event_source *timer;
        int64_t next_check;
        time_t next_end;                 /* end of the window instance next_check is in */
        time_t done_until;               /* window instances ending by then had their check */

        enum umc_update_state state;
        bool reporting;                  /* a report is being sent: the client is busy */
        bool check_queued;               /* a check waits for that report */
        struct umc_sig_trust *trust;
        struct umc_update_offer offer;
        bool have_offer;
        uint64_t total_have, total_size;
};

static const char *const state_names[] = {
        [UMC_UPDATE_IDLE] = "idle",
        [UMC_UPDATE_CHECKING] = "checking",
        [UMC_UPDATE_AVAILABLE] = "available",
        [UMC_UPDATE_DOWNLOADING] = "downloading",
        [UMC_UPDATE_INSTALLING] = "installing",
};

const char *umc_update_state_to_string(enum umc_update_state s) {
        return (unsigned)s < UMC_ELEMENTSOF(state_names) ? state_names[s] : NULL;
}

/* ---- the window math ---- */

uint64_t umc_update_offset_sec(const char *device_id, const uint8_t secret[UMC_MASTER_KEY_LEN],
                               uint64_t max_sec) {
        const struct umc_iovec parts[] = {
                { OFFSET_LABEL, strlen(OFFSET_LABEL) },
                { device_id, strlen(device_id) },
        };
        uint8_t mac[UMC_HASH_LEN];
        uint64_t v = 0;

        if (max_sec == 0 || umc_hmac(UMC_HASH_SHA256, secret, UMC_MASTER_KEY_LEN, parts, 2, mac) < 0)
                return 0;
        for (size_t i = 0; i < 8; i++)
                v = v << 8 | mac[i];
        umc_memzero(mac, sizeof(mac));
        return v % (max_sec + 1);
}

/* Local midnight of the day of now shifted by days, plus minutes; -1 on a mktime() failure. */
static time_t local_time_of(time_t now, int days, unsigned minutes) {
        struct tm tm;

        if (!localtime_r(&now, &tm))
                return (time_t)-1;
        tm.tm_mday += days;
        tm.tm_hour = (int)(minutes / 60);
        tm.tm_min = (int)(minutes % 60);
        tm.tm_sec = 0;
        tm.tm_isdst = -1; /* let mktime() find summer time for that day */
        return mktime(&tm);
}

/* One window on day d: when its check is due after now, unless it ended by done_until. */
static bool window_due(const struct umc_config_window *w, int d, uint64_t offset_sec, time_t now,
                       time_t done_until, time_t *ret, time_t *ret_end) {
        unsigned len = (unsigned)((w->end_min + 1440 - w->start_min) % 1440);
        time_t start = local_time_of(now, d, w->start_min), end, t;

        if (start == (time_t)-1)
                return false;
        end = start + (time_t)len * 60;
        t = start + (time_t)(offset_sec % ((uint64_t)len * 60));
        if (end <= done_until || end <= now)
                return false;
        /* Started inside a window whose check time passed: check now, once. */
        *ret = t > now ? t : now + 1;
        *ret_end = end;
        return true;
}

int umc_update_next_window(const struct umc_config_window *w, size_t n, uint64_t offset_sec,
                           time_t now, time_t done_until, time_t *ret, time_t *ret_end) {
        time_t best = 0, best_end = 0;

        if (!w || n == 0 || !ret || !ret_end)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (w[i].start_min == w[i].end_min)
                        return -EINVAL;
                /* Yesterday's window may cross midnight into today. */
                for (int d = -1; d <= 1; d++) {
                        time_t t, end;

                        if (window_due(&w[i], d, offset_sec, now, done_until, &t, &end) &&
                            (best == 0 || t < best)) {
                                best = t;
                                best_end = end;
                        }
                }
        }
        if (best == 0)
                return -EINVAL;
        *ret = best;
        *ret_end = best_end;
        return 0;
}

/* ---- small helpers ---- */

static void set_state(struct umc_update *u, enum umc_update_state s) {
        u->state = s;
        if (u->ev.changed)
                u->ev.changed(u->ev.userdata);
}

/* Report texts are printable ASCII of at most UMC_CLOUDMSG_TEXT_MAX bytes (cloudmsg.h). */
static void report_text(char out[UMC_CLOUDMSG_TEXT_MAX + 1], const char *in) {
        size_t o = 0;

        for (; in && *in && o < UMC_CLOUDMSG_TEXT_MAX; in++)
                out[o++] = (*in >= 0x20 && *in < 0x7f) ? *in : '?';
        out[o] = '\0';
}

static void start_check_or_flush(struct umc_update *u);

static void on_reported(struct umc_cloud *c, int error, const char *why, void *userdata) {
        struct umc_update *u = userdata;

        u->reporting = false;
        if (error < 0)
                log_warning("Cloud: report kept in the queue (%d queued): %s",
                            umc_cloud_queued_reports(c), why);
        else
                log_info("Cloud: report delivered");
        if (u->check_queued) {
                u->check_queued = false;
                start_check_or_flush(u);
        }
}

/* Queue and send a report; tr may be NULL (n 0). */
static void send_report(struct umc_update *u, const struct umc_package *p, enum umc_reason reason,
                        const char *message, const struct umc_cloudmsg_target_result *tr,
                        size_t n) {
        char text[UMC_CLOUDMSG_TEXT_MAX + 1];
        int r;

        report_text(text, message);
        r = umc_cloud_report(u->cloud,
                             &(struct umc_cloudmsg_report){
                                     .package_version = p ? p->package_version : NULL,
                                     .manifest_sha256 = p ? p->hash : NULL,
                                     .time = (int64_t)time(NULL), .reason = (uint16_t)reason,
                                     .message = text, .targets = tr, .n_targets = n },
                             on_reported, u);
        if (r < 0)
                (void)log_warning_errno(r, "Cloud: cannot queue the report: %m");
        else
                u->reporting = true;
}

/* Delete the files of the package folder: a refused package leaves nothing behind. */
static void discard_package(struct umc_update *u) {
        _cleanup_close_ int dfd = open(umc_cloud_package_dir(u->cloud),
                                       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;
        struct dirent *e;

        if (dfd < 0)
                return;
        d = fdopendir(dup(dfd));
        if (!d)
                return;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        (void)unlinkat(dfd, e->d_name, 0);
        closedir(d);
}

static void offer_clear(struct umc_update *u) {
        free(u->offer.targets);
        u->offer = (struct umc_update_offer){};
        u->have_offer = false;
}

/* A check failed: report it (each target of a verified manifest skipped), tell the caller. */
static void check_failed(struct umc_update *u, const struct umc_package *p, enum umc_reason reason,
                         const char *why) {
        struct umc_cloudmsg_target_result tr[UMC_CLOUDMSG_TARGETS_MAX];
        char code[UMC_REASON_FORMAT_MAX], msg[WHY_MAX + 32];
        size_t n = 0;

        (void)snprintf(msg, sizeof(msg), "%s: %s", umc_reason_format(reason, code), why);
        log_warning("Cloud: update check failed: %s", msg);
        for (; p && n < p->n_images && n < UMC_ELEMENTSOF(tr); n++)
                tr[n] = (struct umc_cloudmsg_target_result){
                        .target = p->images[n].target, .ecu_id = p->images[n].ecu_id,
                        .version = p->images[n].version, .result = UMC_CLOUDMSG_SKIPPED,
                        .reason = (uint16_t)reason, .message = "not attempted" };
        send_report(u, p, reason, msg, tr, n);
        if (p)
                discard_package(u);
        offer_clear(u);
        set_state(u, UMC_UPDATE_IDLE);
        if (u->ev.checked)
                u->ev.checked(u->ev.userdata, -EBADMSG, reason, msg, NULL);
}

/* ---- check ---- */

static const char *current_version(struct umc_update *u, const char *target) {
        size_t n = umc_manager_n_targets(u->manager);

        for (size_t i = 0; i < n; i++) {
                struct umc_target_status st;

                if (umc_manager_target_status(u->manager, i, &st) >= 0 &&
                    strcmp(st.name, target) == 0)
                        return st.version ? st.version : "";
        }
        return "";
}

static int offer_build(struct umc_update *u, const struct umc_package *p) {
        struct umc_update_target *t = calloc(p->n_images ? p->n_images : 1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        offer_clear(u);
        for (size_t k = 0; k < p->n_images; k++) {
                (void)snprintf(t[k].target, sizeof(t[k].target), "%s", p->images[k].target);
                (void)snprintf(t[k].current, sizeof(t[k].current), "%s",
                               current_version(u, p->images[k].target));
                (void)snprintf(t[k].offered, sizeof(t[k].offered), "%s", p->images[k].version);
        }
        (void)snprintf(u->offer.version, sizeof(u->offer.version), "%s", p->package_version);
        memcpy(u->offer.hash, p->hash, UMC_HASH_LEN);
        u->offer.targets = t;
        u->offer.n_targets = p->n_images;
        u->have_offer = true;
        return 0;
}

static void on_manifest(struct umc_cloud *c, int error, enum umc_reason reason,
                        const struct umc_package *p, const char *why, void *userdata) {
        struct umc_update *u = userdata;
        char w[WHY_MAX] = "";
        int r;

        /* Nothing of this answer was kept (the client stores a manifest only once it
         * verified): the folder still holds the last verified package and its partial
         * images, which a failed fetch or a forged answer must not delete. */
        if (error < 0) {
                check_failed(u, NULL, reason ? reason : UMC_REASON_IO_ERROR, why);
                return;
        }
        reason = umc_signedpkg_check(umc_manager_config(u->manager), u->state_fd, p, w, sizeof(w));
        if (reason != UMC_REASON_OK) {
                check_failed(u, p, reason, w);
                return;
        }
        r = offer_build(u, p);
        if (r < 0) {
                check_failed(u, p, UMC_REASON_INTERNAL, strerror(-r));
                return;
        }
        log_info("Cloud: update %s offered (%zu target%s), waiting for consent", p->package_version,
                 p->n_images, p->n_images == 1 ? "" : "s");
        set_state(u, UMC_UPDATE_AVAILABLE);
        if (u->ev.checked)
                u->ev.checked(u->ev.userdata, 0, UMC_REASON_OK, "", &u->offer);
}

static void on_check(struct umc_cloud *c, int error, const struct umc_cloudmsg_offer *o,
                     const char *why, void *userdata) {
        struct umc_update *u = userdata;
        int r;

        if (error < 0) {
                check_failed(u, NULL, UMC_REASON_IO_ERROR, why);
                return;
        }
        if (!o->update) {
                log_info("Cloud: no update");
                offer_clear(u);
                set_state(u, UMC_UPDATE_IDLE);
                if (u->ev.checked)
                        u->ev.checked(u->ev.userdata, 0, UMC_REASON_OK, "", NULL);
                return;
        }
        r = umc_cloud_fetch_manifest(c, o, on_manifest, u);
        if (r < 0)
                check_failed(u, NULL, UMC_REASON_IO_ERROR, strerror(-r));
}

#define VERSIONS_MAX UMC_CONFIG_TARGETS_MAX

static void start_check(struct umc_update *u) {
        struct umc_cloudmsg_version v[VERSIONS_MAX];
        size_t n = 0, nt = umc_manager_n_targets(u->manager);
        int r;

        /* Only known versions: the backend learns nothing from a guess. */
        for (size_t i = 0; i < nt && n < VERSIONS_MAX; i++) {
                struct umc_target_status st;

                if (umc_manager_target_status(u->manager, i, &st) >= 0 && st.version &&
                    st.version[0])
                        v[n++] = (struct umc_cloudmsg_version){ st.name, st.version };
        }
        r = umc_cloud_check(u->cloud, v, n, on_check, u);
        if (r < 0)
                check_failed(u, NULL, UMC_REASON_IO_ERROR, strerror(-r));
}

static void on_flushed(struct umc_cloud *c, int error, const char *why, void *userdata) {
        struct umc_update *u = userdata;

        if (error < 0)
                log_warning("Cloud: queued reports not delivered yet: %s", why);
        start_check(u);
}

static int busy(const struct umc_update *u, char *why, size_t why_size) {
        if (u->state == UMC_UPDATE_CHECKING || u->state == UMC_UPDATE_DOWNLOADING ||
            u->state == UMC_UPDATE_INSTALLING)
                return umc_why(why, why_size, -EBUSY, "the update is %s",
                               umc_update_state_to_string(u->state));
        return 0;
}

int umc_update_check(struct umc_update *u, char *why, size_t why_size) {
        int r;

        if (!u)
                return -EINVAL;
        r = busy(u, why, why_size);
        if (r < 0)
                return r;
        set_state(u, UMC_UPDATE_CHECKING);
        /* The client does one thing at a time: a report on its way goes first. */
        if (u->reporting)
                u->check_queued = true;
        else
                start_check_or_flush(u);
        return 0;
}

static void start_check_or_flush(struct umc_update *u) {
        if (umc_cloud_queued_reports(u->cloud) > 0 &&
            umc_cloud_flush_reports(u->cloud, on_flushed, u) >= 0)
                return;
        start_check(u);
}

/* ---- install ---- */

/* What a report needs of the offered package: its version and manifest hash. */
static const struct umc_package *offer_package(const struct umc_update *u, struct umc_package *p) {
        *p = (struct umc_package){};
        (void)snprintf(p->package_version, sizeof(p->package_version), "%s", u->offer.version);
        memcpy(p->hash, u->offer.hash, UMC_HASH_LEN);
        return p;
}

static void install_failed(struct umc_update *u, enum umc_reason reason, const char *why) {
        struct umc_cloudmsg_target_result tr[UMC_CLOUDMSG_TARGETS_MAX];
        char code[UMC_REASON_FORMAT_MAX], msg[WHY_MAX + 32];
        const struct umc_update_offer *o = &u->offer;
        struct umc_package p;
        size_t n = 0;

        (void)snprintf(msg, sizeof(msg), "%s: %s", umc_reason_format(reason, code), why);
        log_warning("Cloud: update %s failed: %s", o->version, msg);
        for (; n < o->n_targets && n < UMC_ELEMENTSOF(tr); n++)
                tr[n] = (struct umc_cloudmsg_target_result){
                        .target = o->targets[n].target, .version = o->targets[n].offered,
                        .result = UMC_CLOUDMSG_SKIPPED, .reason = (uint16_t)reason,
                        .message = "not attempted" };
        send_report(u, offer_package(u, &p), reason, msg, tr, n);
        offer_clear(u);
        set_state(u, UMC_UPDATE_IDLE);
        if (u->ev.finished)
                u->ev.finished(u->ev.userdata, false, reason, msg);
}

static void on_progress(struct umc_cloud *c, const struct umc_cloud_progress *p, void *userdata) {
        struct umc_update *u = userdata;
        uint32_t before = umc_update_download_percent(u);

        u->total_have = p->total_have;
        u->total_size = p->total_size;
        if (umc_update_download_percent(u) != before && u->ev.changed)
                u->ev.changed(u->ev.userdata);
}

static void on_images(struct umc_cloud *c, int error, enum umc_reason reason, const char *why,
                      const struct umc_fetch_stats *st, void *userdata) {
        struct umc_update *u = userdata;
        char w[WHY_MAX] = "";
        int r;

        log_info("Cloud: download ended: %" PRIu64 " bytes received, resumed from %" PRIu64
                 ", %u attempts, %u ranges", st->received, st->resumed_from, st->attempts,
                 st->ranges);
        if (error < 0) {
                install_failed(u, reason ? reason : UMC_REASON_IO_ERROR, why);
                return;
        }
        set_state(u, UMC_UPDATE_INSTALLING);
        r = umc_manager_install(u->manager, umc_cloud_package_dir(c), u->offer.hash, NULL, w,
                                sizeof(w));
        if (r < 0) {
                if (r != -EBUSY) /* busy is for now: the verified download stays for a retry */
                        discard_package(u);
                install_failed(u, r == -EBUSY ? UMC_REASON_BUSY : UMC_REASON_PKG_MALFORMED,
                               w[0] ? w : strerror(-r));
        }
}

int umc_update_install(struct umc_update *u, const uint8_t hash[UMC_HASH_LEN], char *why,
                       size_t why_size) {
        int r;

        if (!u || !hash)
                return -EINVAL;
        r = busy(u, why, why_size);
        if (r < 0)
                return r;
        if (u->reporting)
                return umc_why(why, why_size, -EBUSY, "a report to the backend is being sent");
        if (!u->have_offer)
                return umc_why(why, why_size, -ENOENT, "no update is offered: check first");
        if (!umc_memeq_ct(hash, u->offer.hash, UMC_HASH_LEN))
                return umc_why(why, why_size, -ESTALE, "the manifest hash is not the offered "
                               "update's: check again and consent to what it shows");
        if (umc_manager_operation(u->manager) != UMC_OP_IDLE)
                return umc_why(why, why_size, -EBUSY, "an installation is running");
        u->total_have = u->total_size = 0;
        r = umc_cloud_fetch_images(u->cloud, on_progress, on_images, u);
        if (r < 0)
                return umc_why(why, why_size, r, "cannot start the download: %s", strerror(-r));
        log_info("Cloud: downloading update %s", u->offer.version);
        set_state(u, UMC_UPDATE_DOWNLOADING);
        return 0;
}

/* One offered target's result: its phase in this installation, else what it runs now. */
static struct umc_cloudmsg_target_result target_result(struct umc_update *u,
                                                       const struct umc_update_target *t) {
        struct umc_cloudmsg_target_result r = { .target = t->target, .version = t->offered,
                                                .result = UMC_CLOUDMSG_SKIPPED,
                                                .message = "not installed by this installation" };
        size_t n = umc_manager_n_targets(u->manager);

        for (size_t i = 0; i < n; i++) {
                struct umc_target_status st;

                if (umc_manager_target_status(u->manager, i, &st) < 0 || strcmp(st.name, t->target))
                        continue;
                r.ecu_id = st.ecu_id;
                if (st.phase == UMC_PHASE_FAILED)
                        r = (struct umc_cloudmsg_target_result){
                                .target = t->target, .ecu_id = st.ecu_id, .version = t->offered,
                                .result = UMC_CLOUDMSG_FAILED, .reason = (uint16_t)st.last_reason };
                /* Done now, or before a restart of umcd resumed the others. */
                else if (st.phase == UMC_PHASE_DONE || (st.version && !strcmp(st.version, t->offered)))
                        r = (struct umc_cloudmsg_target_result){
                                .target = t->target, .ecu_id = st.ecu_id, .version = t->offered,
                                .result = UMC_CLOUDMSG_INSTALLED, .message = "installed" };
        }
        return r;
}

void umc_update_install_completed(struct umc_update *u, bool success, enum umc_reason reason,
                                  const char *message) {
        struct umc_cloudmsg_target_result tr[UMC_CLOUDMSG_TARGETS_MAX];
        struct umc_package p;
        size_t n = 0;

        if (!u || u->state != UMC_UPDATE_INSTALLING)
                return;
        for (; n < u->offer.n_targets && n < UMC_ELEMENTSOF(tr); n++)
                tr[n] = target_result(u, &u->offer.targets[n]);
        send_report(u, offer_package(u, &p), success ? UMC_REASON_OK : reason, message, tr, n);
        /* Installed: the images are on the ECUs, the T-Box's copy only takes space. A
         * failed installation keeps it: the next offer of it needs no download. */
        if (success)
                discard_package(u);
        offer_clear(u);
        set_state(u, UMC_UPDATE_IDLE);
        if (u->ev.finished)
                u->ev.finished(u->ev.userdata, success, reason, message);
}

/*
 * umcd restarted while it installed an update: the manager resumed the
 * installation of the cloud folder (manager.h). Follow it, so its
 * targets' results are reported, if the folder still holds that manifest.
 */
static void adopt_resumed_install(struct umc_update *u) {
        _cleanup_(umc_package_free) struct umc_package p = {};
        uint8_t hash[UMC_HASH_LEN];
        enum umc_reason reason;
        char why[WHY_MAX];
        const char *dir;

        if (umc_manager_current_package(u->manager, &dir, hash) < 0 ||
            strcmp(dir, umc_cloud_package_dir(u->cloud)) != 0)
                return;
        if (umc_package_load(dir, u->trust, (int64_t)time(NULL), &p, NULL, &reason, why,
                             sizeof(why)) < 0 ||
            !umc_memeq_ct(p.hash, hash, UMC_HASH_LEN) || offer_build(u, &p) < 0)
                return;
        u->state = UMC_UPDATE_INSTALLING;
        log_info("Cloud: following the resumed installation of update %s", p.package_version);
}

/* ---- the window timer ---- */

static int arm_timer(struct umc_update *u);

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct umc_update *u = userdata;
        char why[WHY_MAX] = "";
        int r;

        u->done_until = u->next_end;
        r = umc_update_check(u, why, sizeof(why));
        if (r < 0)
                log_info("Cloud: scheduled check skipped: %s", why);
        else
                log_info("Cloud: scheduled check in the upgrade window");
        r = arm_timer(u);
        if (r < 0)
                (void)log_warning_errno(r, "Cloud: cannot schedule the next check: %m");
        return 0;
}

static int arm_timer(struct umc_update *u) {
        time_t next;
        int r;

        if (u->n_windows == 0)
                return 0;
        r = umc_update_next_window(u->windows, u->n_windows, u->offset_sec, time(NULL),
                                   u->done_until, &next, &u->next_end);
        if (r < 0)
                return r;
        u->next_check = (int64_t)next;
        if (!u->timer)
                return sd_event_add_time(u->event, &u->timer, CLOCK_REALTIME,
                                         (uint64_t)next * USEC_PER_SEC, USEC_PER_SEC, on_timer, u);
        r = sd_event_source_set_time(u->timer, (uint64_t)next * USEC_PER_SEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(u->timer, SD_EVENT_ONESHOT);
        return r;
}

/* ---- life cycle ---- */

static int copy_config(struct umc_update *u, const struct umc_daemon_config *c) {
        const char *const src[] = { c->cloud_url, c->device_id, c->ca_file, c->client_cert,
                                    c->client_key, c->proxy };
        char **dst[] = { &u->url, &u->device_id, &u->ca_file, &u->cert, &u->key, &u->proxy };

        for (size_t i = 0; i < UMC_ELEMENTSOF(src); i++)
                if (src[i] && !(*dst[i] = strdup(src[i])))
                        return -ENOMEM;
        if (asprintf(&u->cloud_dir, "%s/" CLOUD_FOLDER, c->state_directory) < 0) {
                u->cloud_dir = NULL;
                return -ENOMEM;
        }
        memcpy(u->windows, c->windows, sizeof(u->windows));
        u->n_windows = c->n_windows;
        u->offset_sec = umc_update_offset_sec(c->device_id, c->cloud_secret,
                                              c->random_delay_usec / USEC_PER_SEC);
        return 0;
}

static void net_from_config(struct umc_update *u, const struct umc_daemon_config *c,
                            struct umc_fetch_net *n) {
        *n = (struct umc_fetch_net){
                .ca_file = u->ca_file, .cert_file = u->cert, .key_file = u->key, .proxy = u->proxy,
                .allow_insecure = c->allow_insecure,
                .connect_timeout_sec = (long)c->cloud_connect_timeout_sec,
                .low_speed_limit = (long)c->low_speed_limit,
                .low_speed_time_sec = (long)c->low_speed_time_sec,
                .request_timeout_sec = (long)c->cloud_request_timeout_sec,
                .max_recv_speed = c->rate_limit, .retries = c->retries,
                .backoff_usec = BACKOFF_USEC, .space_margin = SPACE_MARGIN,
        };
}

static int cloud_new(struct umc_update *u, const struct umc_daemon_config *c, char *why,
                     size_t why_size) {
        struct umc_cloud_config cc = {
                .url = u->url, .device_id = u->device_id, .token_md5 = c->token_md5,
                .company = c->company, .product = c->product, .state_dir = u->cloud_dir,
        };
        int r;

        r = umc_sig_trust_load(c->trust_anchor, c->crl_file, &u->trust, why, why_size);
        if (r < 0)
                return r;
        cc.trust = u->trust;
        memcpy(cc.secret, c->cloud_secret, sizeof(cc.secret));
        net_from_config(u, c, &cc.net);
        r = umc_cloud_new(u->event, &cc, &umc_cloud_backend_umc, &u->cloud, why, why_size);
        umc_memzero(cc.secret, sizeof(cc.secret));
        return r;
}

int umc_update_new(struct umc_manager *m, struct umc_update **ret, char *why, size_t why_size) {
        const struct umc_daemon_config *c = umc_manager_config(m);
        struct umc_update *u;
        int r;

        if (!c->cloud_url)
                return umc_why(why, why_size, -ENOENT, "no [Cloud] BaseUrl= configured");
        u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;
        u->manager = m;
        u->event = sd_event_ref(umc_manager_get_event(m));
        u->state_fd = open(c->state_directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = u->state_fd < 0 ? umc_why(why, why_size, -errno, "%s: %m", c->state_directory) : 0;
        if (r >= 0)
                r = copy_config(u, c);
        if (r >= 0)
                r = cloud_new(u, c, why, why_size);
        if (r >= 0)
                r = arm_timer(u);
        if (r < 0) {
                umc_update_free(u);
                return r;
        }
        adopt_resumed_install(u);
        *ret = u;
        return 0;
}

void umc_update_free(struct umc_update *u) {
        if (!u)
                return;
        sd_event_source_disable_unref(u->timer);
        umc_cloud_free(u->cloud);
        umc_sig_trust_free(u->trust);
        offer_clear(u);
        if (u->state_fd >= 0)
                close(u->state_fd);
        free(u->url);
        free(u->device_id);
        free(u->ca_file);
        free(u->cert);
        free(u->key);
        free(u->proxy);
        free(u->cloud_dir);
        sd_event_unref(u->event);
        free(u);
}

void umc_update_set_events(struct umc_update *u, const struct umc_update_events *ev) {
        if (u)
                u->ev = ev ? *ev : (struct umc_update_events){};
}

enum umc_update_state umc_update_get_state(const struct umc_update *u) {
        return u ? u->state : UMC_UPDATE_IDLE;
}

uint32_t umc_update_download_percent(const struct umc_update *u) {
        if (!u || u->total_size == 0)
                return 0;
        return (uint32_t)(u->total_have * 100 / u->total_size);
}

const struct umc_update_offer *umc_update_get_offer(const struct umc_update *u) {
        return u && u->have_offer ? &u->offer : NULL;
}

int64_t umc_update_next_check(const struct umc_update *u) {
        return u ? u->next_check : 0;
}
