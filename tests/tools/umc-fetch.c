/* SPDX-License-Identifier: MIT */
/*
 * umc-fetch: the cloud client (cloud.h) on its own sd-event loop, for
 * tests/integration/test-cloud.sh and for trying a backend by hand.
 *
 *   umc-fetch [OPTIONS] run     authenticate, check, fetch and verify the
 *                               manifest, fetch the images, verify the package
 *                               folder as umcd would (umc_package_load and
 *                               every image's size and SHA-256), report
 *   umc-fetch [OPTIONS] check   authenticate and check only
 *   umc-fetch [OPTIONS] flush   send the queued reports
 *
 * Options: --url BASE --id ID --secret-file F [--md5-token] --company C
 * --product P --state-dir DIR --trust-anchor PEM [--crl PEM] --ca-file PEM
 * [--cert PEM --key PEM] [--proxy URL] [--allow-insecure]
 * [--connect-timeout S] [--low-speed-limit B/S --low-speed-time S]
 * [--timeout S] [--rate B/S] [--retries N] [--backoff-ms MS]
 * [--version TARGET:VERSION]...
 *
 * The test tool installs nothing: after a successful run it reports every
 * target as installed (the delivery that umcd runs at that point is not
 * part of this tool). Prints "STATS received=N resumed_from=N attempts=N
 * ranges=N" after image fetches and "QUEUED n" at the end. Exit status 0
 * on success, 1 on failure (said on stderr with the cause), 2 for a usage
 * error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "umc/cloud.h"
#include "umc/keyfile.h"
#include "umc/log.h"
#include "umc/util.h"

#define MAX_VERSIONS 32

struct tool {
        struct umc_cloud_config cfg;
        const char *secret_file, *anchor, *crl, *cmd;
        struct umc_cloudmsg_version versions[MAX_VERSIONS];
        char *version_bufs[MAX_VERSIONS];
        size_t n_versions;
        sd_event *event;
        struct umc_cloud *cloud;
        struct umc_sig_trust *trust;
        int status;
        int last_pct;

        /* for the report */
        uint16_t reason;
        char message[UMC_CLOUDMSG_TEXT_MAX + 1];
        bool have_pkg;
        const struct umc_package *pkg;  /* borrowed from the client */
        char pkg_version[UMC_PACKAGE_TEXT_MAX + 1];
        uint8_t pkg_hash[UMC_HASH_LEN];
};

static int usage(void) {
        fprintf(stderr, "usage: umc-fetch --url BASE --id ID --secret-file F --company C "
                        "--product P --state-dir DIR --trust-anchor PEM --ca-file PEM [...] "
                        "run|check|flush\n");
        return 2;
}

static int add_version(struct tool *t, const char *arg) {
        char *s, *colon;

        if (t->n_versions == MAX_VERSIONS || !(s = strdup(arg)))
                return -EINVAL;
        colon = strchr(s, ':');
        if (!colon) {
                free(s);
                return -EINVAL;
        }
        *colon = '\0';
        t->version_bufs[t->n_versions] = s;
        t->versions[t->n_versions++] = (struct umc_cloudmsg_version){ s, colon + 1 };
        return 0;
}

enum { O_URL = 256, O_ID, O_SECRET, O_MD5, O_COMPANY, O_PRODUCT, O_STATE, O_ANCHOR, O_CRL,
       O_CA, O_CERT, O_KEY, O_PROXY, O_INSECURE, O_CONNECT, O_LSL, O_LST, O_TIMEOUT, O_RATE,
       O_RETRIES, O_BACKOFF, O_VERSION };

static const struct option options[] = {
        { "url", 1, NULL, O_URL },           { "id", 1, NULL, O_ID },
        { "secret-file", 1, NULL, O_SECRET }, { "md5-token", 0, NULL, O_MD5 },
        { "company", 1, NULL, O_COMPANY },   { "product", 1, NULL, O_PRODUCT },
        { "state-dir", 1, NULL, O_STATE },   { "trust-anchor", 1, NULL, O_ANCHOR },
        { "crl", 1, NULL, O_CRL },           { "ca-file", 1, NULL, O_CA },
        { "cert", 1, NULL, O_CERT },         { "key", 1, NULL, O_KEY },
        { "proxy", 1, NULL, O_PROXY },       { "allow-insecure", 0, NULL, O_INSECURE },
        { "connect-timeout", 1, NULL, O_CONNECT }, { "low-speed-limit", 1, NULL, O_LSL },
        { "low-speed-time", 1, NULL, O_LST }, { "timeout", 1, NULL, O_TIMEOUT },
        { "rate", 1, NULL, O_RATE },         { "retries", 1, NULL, O_RETRIES },
        { "backoff-ms", 1, NULL, O_BACKOFF }, { "version", 1, NULL, O_VERSION },
        {}
};

static int number(const char *s, long max, long *ret) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < 0 || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int set_number(struct tool *t, int opt, const char *arg) {
        struct umc_fetch_net *n = &t->cfg.net;
        long v;

        if (number(arg, 1L << 40, &v) < 0)
                return -EINVAL;
        switch (opt) {
        case O_CONNECT: n->connect_timeout_sec = v; break;
        case O_LSL: n->low_speed_limit = v; break;
        case O_LST: n->low_speed_time_sec = v; break;
        case O_TIMEOUT: n->request_timeout_sec = v; break;
        case O_RATE: n->max_recv_speed = (uint64_t)v; break;
        case O_RETRIES: n->retries = (unsigned)v; break;
        case O_BACKOFF: n->backoff_usec = (uint64_t)v * USEC_PER_MSEC; break;
        }
        return 0;
}

static int set_option(struct tool *t, int opt, const char *arg) {
        switch (opt) {
        case O_URL: t->cfg.url = arg; return 0;
        case O_ID: t->cfg.device_id = arg; return 0;
        case O_SECRET: t->secret_file = arg; return 0;
        case O_MD5: t->cfg.token_md5 = true; return 0;
        case O_COMPANY: t->cfg.company = arg; return 0;
        case O_PRODUCT: t->cfg.product = arg; return 0;
        case O_STATE: t->cfg.state_dir = arg; return 0;
        case O_ANCHOR: t->anchor = arg; return 0;
        case O_CRL: t->crl = arg; return 0;
        case O_CA: t->cfg.net.ca_file = arg; return 0;
        case O_CERT: t->cfg.net.cert_file = arg; return 0;
        case O_KEY: t->cfg.net.key_file = arg; return 0;
        case O_PROXY: t->cfg.net.proxy = arg; return 0;
        case O_INSECURE: t->cfg.net.allow_insecure = true; return 0;
        case O_VERSION: return add_version(t, arg);
        default: return set_number(t, opt, arg);
        }
}

static int parse_args(struct tool *t, int argc, char **argv) {
        int opt;

        t->cfg.net.retries = 5;
        t->cfg.net.backoff_usec = 500 * USEC_PER_MSEC;
        t->cfg.net.connect_timeout_sec = 10;
        t->cfg.net.request_timeout_sec = 30;
        t->cfg.net.space_margin = 1024 * 1024;
        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0)
                if (opt == '?' || set_option(t, opt, optarg) < 0)
                        return -EINVAL;
        if (optind != argc - 1 || !t->secret_file || !t->anchor)
                return -EINVAL;
        t->cmd = argv[optind];
        return 0;
}

static int load(struct tool *t) {
        char kwhy[UMC_WHY_MAX] = "";
        char why[UMC_CLOUD_WHY_MAX] = "";
        int r = umc_keyfile_load(t->secret_file, t->cfg.secret, kwhy, sizeof(kwhy));

        if (r < 0)
                return log_error_errno(r, "Failed to load the device secret %s: %s",
                                       t->secret_file, kwhy);
        if (t->cfg.token_md5)
                log_warning("Using the MD5 token: a weak compatibility form, for old backends only");
        r = umc_sig_trust_load(t->anchor, t->crl, &t->trust, why, sizeof(why));
        if (r < 0)
                return log_error_errno(r, "Failed to load the trust anchor: %s", why);
        t->cfg.trust = t->trust;
        if (t->cfg.net.allow_insecure)
                log_warning("Plain http:// and ftp:// allowed: only the package signature "
                            "protects what they carry");
        r = umc_cloud_new(t->event, &t->cfg, &umc_cloud_backend_umc, &t->cloud, why, sizeof(why));
        if (r < 0)
                return log_error_errno(r, "Failed to set up the cloud client: %s", why);
        return 0;
}

static void quit(struct tool *t, int status) {
        t->status = status;
        (void)sd_event_exit(t->event, 0);
}

static void on_flushed(struct umc_cloud *c, int error, const char *why, void *userdata) {
        struct tool *t = userdata;

        if (error < 0) {
                log_error("Report not delivered, kept in the queue: %s", why);
                quit(t, 1);
                return;
        }
        log_info("Reports delivered");
        quit(t, strcmp(t->cmd, "flush") == 0 ? 0 : t->status);
}

static void send_report(struct tool *t, uint16_t reason, const char *message, int status) {
        struct umc_cloudmsg_target_result tr[UMC_CLOUDMSG_TARGETS_MAX];
        const struct umc_package *p = t->have_pkg ? t->pkg : NULL;
        size_t n = 0;
        int r;

        t->status = status;
        for (size_t i = 0; p && i < p->n_images && i < UMC_ELEMENTSOF(tr); i++, n++)
                tr[i] = (struct umc_cloudmsg_target_result){
                        .target = p->images[i].target, .ecu_id = p->images[i].ecu_id,
                        .version = p->images[i].version,
                        .result = reason ? UMC_CLOUDMSG_SKIPPED : UMC_CLOUDMSG_INSTALLED,
                        .reason = reason, .message = reason ? "not attempted" : "fetched and verified" };
        r = umc_cloud_report(t->cloud,
                             &(struct umc_cloudmsg_report){
                                     .package_version = t->have_pkg ? t->pkg_version : NULL,
                                     .manifest_sha256 = t->have_pkg ? t->pkg_hash : NULL,
                                     .time = (int64_t)time(NULL), .reason = reason,
                                     .message = message, .targets = tr, .n_targets = n },
                             on_flushed, t);
        if (r < 0) {
                log_error_errno(r, "Failed to queue the report: %m");
                quit(t, 1);
        }
}

/* A failure: say it, report it (queued when the backend is unreachable). */
static void failure(struct tool *t, uint16_t reason, const char *why) {
        char msg[UMC_CLOUDMSG_TEXT_MAX + 1];

        log_error("%s", why);
        snprintf(msg, sizeof(msg), "%s", why);
        for (char *p = msg; *p; p++)
                if (*p < 0x20 || *p > 0x7e)
                        *p = '?';
        send_report(t, reason ? reason : UMC_REASON_IO_ERROR, msg, 1);
}

/* umcd's view of the folder: signature, manifest, every image as shipped. */
static int verify_folder(struct tool *t, enum umc_reason *reason, char *why, size_t why_size) {
        struct umc_package p = {};
        _cleanup_close_ int dfd = -1;
        int r = umc_package_load(umc_cloud_package_dir(t->cloud), t->trust, (int64_t)time(NULL), &p,
                                 NULL, reason, why, why_size);

        if (r < 0)
                return r;
        dfd = open(umc_cloud_package_dir(t->cloud), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = dfd < 0 ? -errno : 0;
        for (size_t i = 0; r >= 0 && i < p.n_images && *reason == UMC_REASON_OK; i++)
                r = umc_package_check_image_file(dfd, &p.images[i], reason, why, why_size);
        umc_package_free(&p);
        if (r >= 0 && *reason != UMC_REASON_OK)
                r = -EBADMSG;
        return r;
}

static void on_images(struct umc_cloud *c, int error, enum umc_reason reason, const char *why,
                      const struct umc_fetch_stats *st, void *userdata) {
        struct tool *t = userdata;
        char w[UMC_CLOUD_WHY_MAX] = "";
        int r;

        printf("STATS received=%llu resumed_from=%llu attempts=%u ranges=%u\n",
               (unsigned long long)st->received, (unsigned long long)st->resumed_from,
               st->attempts, st->ranges);
        fflush(stdout);
        if (error < 0) {
                snprintf(w, sizeof(w), "Image download failed (%s): %s",
                         umc_reason_to_string(reason), why);
                failure(t, reason, w);
                return;
        }
        r = verify_folder(t, &reason, w, sizeof(w));
        if (r < 0) {
                char m[UMC_CLOUD_WHY_MAX + 64];

                snprintf(m, sizeof(m), "Package folder refused (%s): %s",
                         umc_reason_to_string(reason), w);
                failure(t, reason, m);
                return;
        }
        log_info("Package %s fetched and verified in %s", t->pkg_version,
                 umc_cloud_package_dir(c));
        send_report(t, 0, "fetched and verified", 0);
}

static void on_progress(struct umc_cloud *c, const struct umc_cloud_progress *p, void *userdata) {
        struct tool *t = userdata;
        int pct = p->total_size ? (int)(p->total_have * 100 / p->total_size) : 100;

        if (pct / 10 != t->last_pct / 10)
                log_info("Progress %d%% (%llu of %llu bytes)", pct,
                         (unsigned long long)p->total_have, (unsigned long long)p->total_size);
        t->last_pct = pct;
}

static void on_manifest(struct umc_cloud *c, int error, enum umc_reason reason,
                        const struct umc_package *p, const char *why, void *userdata) {
        struct tool *t = userdata;
        char w[UMC_CLOUD_WHY_MAX + 64];
        int r;

        if (error < 0) {
                snprintf(w, sizeof(w), "Manifest refused (%s): %s",
                         umc_reason_to_string(reason), why);
                failure(t, reason, w);
                return;
        }
        t->have_pkg = true;
        t->pkg = p;
        snprintf(t->pkg_version, sizeof(t->pkg_version), "%s", p->package_version);
        memcpy(t->pkg_hash, p->hash, UMC_HASH_LEN);
        log_info("Manifest of %s verified: %zu images", p->package_version, p->n_images);
        r = umc_cloud_fetch_images(c, on_progress, on_images, t);
        if (r < 0) {
                snprintf(w, sizeof(w), "Cannot start the image download: %s", strerror(-r));
                failure(t, UMC_REASON_IO_ERROR, w);
        }
}

static void on_check(struct umc_cloud *c, int error, const struct umc_cloudmsg_offer *o,
                     const char *why, void *userdata) {
        struct tool *t = userdata;
        char w[UMC_CLOUD_WHY_MAX + 64];
        int r;

        if (error < 0) {
                snprintf(w, sizeof(w), "Update check failed: %s", why);
                failure(t, UMC_REASON_IO_ERROR, w);
                return;
        }
        printf("UPDATE %s %s\n", o->update ? "yes" : "no", o->update ? o->package_version : "-");
        fflush(stdout);
        if (!o->update || strcmp(t->cmd, "check") == 0) {
                quit(t, 0);
                return;
        }
        r = umc_cloud_fetch_manifest(c, o, on_manifest, t);
        if (r < 0) {
                snprintf(w, sizeof(w), "Cannot fetch the manifest: %s", strerror(-r));
                failure(t, UMC_REASON_IO_ERROR, w);
        }
}

static int start(struct tool *t) {
        if (strcmp(t->cmd, "flush") == 0)
                return umc_cloud_flush_reports(t->cloud, on_flushed, t);
        if (strcmp(t->cmd, "run") == 0 || strcmp(t->cmd, "check") == 0)
                return umc_cloud_check(t->cloud, t->versions, t->n_versions, on_check, t);
        return -EINVAL;
}

static void cleanup(struct tool *t) {
        umc_cloud_free(t->cloud);
        umc_sig_trust_free(t->trust);
        sd_event_unref(t->event);
        umc_memzero(t->cfg.secret, sizeof(t->cfg.secret));
        for (size_t i = 0; i < t->n_versions; i++)
                free(t->version_bufs[i]);
}

int main(int argc, char **argv) {
        struct tool t = { .status = 1 };
        int r;

        umc_log_set_prefix(false);
        if (parse_args(&t, argc, argv) < 0)
                return usage();
        r = sd_event_default(&t.event);
        if (r >= 0)
                r = load(&t);
        if (r >= 0) {
                r = start(&t);
                if (r < 0)
                        log_error_errno(r, "Failed to start %s: %m", t.cmd);
        }
        if (r >= 0)
                r = sd_event_loop(t.event);
        if (r >= 0 && t.cloud)
                printf("QUEUED %d\n", umc_cloud_queued_reports(t.cloud));
        cleanup(&t);
        return r < 0 ? 1 : t.status;
}
