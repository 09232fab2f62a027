/* SPDX-License-Identifier: MIT */
/*
 * The device's cloud client: ask the backend for an update, fetch and
 * verify the signed manifest before a single image byte, fetch the images
 * (sizes and hashes from the signed manifest, resumable), and send each
 * outcome as a report, queued on disk until the backend accepts it
 * (docs/cloud-api.md).
 *
 * The backend is reached through struct umc_cloud_backend, a small table
 * of functions (after SWUpdate's suricatta): check, fetch manifest, image
 * URL, report. umc_cloud_backend_umc implements the umc protocol
 * (authent/check/report with a one-time ticket); a second backend (e.g.
 * Eclipse hawkBit's DDI API) adds a table without touching the rest.
 *
 * State directory layout (created as needed, mode 0700):
 *   STATE/package/           the package being fetched: manifest.json, its
 *                            signature, the images, "<sha256>.part" files
 *   STATE/reports/           the report queue (cloudq.h)
 *
 * A struct umc_cloud owns its loop sources, transfers, the verified
 * package and the config strings it copied. One operation at a time:
 * another gives -EBUSY. Callbacks run from the loop, never from inside the
 * call that started them. Nothing here logs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "umc/cloudmsg.h"
#include "umc/curlev.h"
#include "umc/fetch.h"
#include "umc/package.h"
#include "umc/reason.h"
#include "umc/sig.h"

#define UMC_CLOUD_WHY_MAX 512

struct umc_cloud_config {
        const char *url;              /* backend base URL, no trailing '/' */
        const char *device_id;        /* cloudmsg.h's set */
        uint8_t secret[UMC_CLOUDMSG_SECRET_LEN]; /* provisioned device secret */
        bool token_md5;               /* weak compatibility token: off unless configured */
        const char *company;
        const char *product;
        const char *state_dir;
        const struct umc_sig_trust *trust; /* borrowed; verifies manifests */
        struct umc_fetch_net net;     /* strings borrowed */
};

struct umc_cloud;

/* ---- the backend interface ---- */

typedef void (*umc_cloud_check_fn)(struct umc_cloud *c, int error,
                                   const struct umc_cloudmsg_offer *offer, const char *why,
                                   void *userdata);
/* manifest and sig borrowed for the call. */
typedef void (*umc_cloud_bytes_fn)(struct umc_cloud *c, int error, const char *manifest,
                                   size_t manifest_len, const char *sig, size_t sig_len,
                                   const char *why, void *userdata);
typedef void (*umc_cloud_done_fn)(struct umc_cloud *c, int error, const char *why,
                                  void *userdata);

struct umc_cloud_backend {
        const char *name;
        /* Private state of this backend for client c. */
        int (*attach)(struct umc_cloud *c, void **ret_state);
        void (*detach)(void *state);
        /* Is there an update for these installed versions? */
        int (*check)(void *state, const struct umc_cloudmsg_version *v, size_t n,
                     umc_cloud_check_fn done, void *userdata);
        /* The manifest's and its signature's exact bytes. */
        int (*fetch_manifest)(void *state, const struct umc_cloudmsg_offer *offer,
                              umc_cloud_bytes_fn done, void *userdata);
        /* Where one image file is (malloc()ed into *ret). */
        int (*image_url)(void *state, const struct umc_cloudmsg_offer *offer, const char *file,
                         char **ret);
        /* Deliver one report body; done's error 0 means the backend accepted it. */
        int (*report)(void *state, const char *body, size_t len, umc_cloud_done_fn done,
                      void *userdata);
        /* Stop whatever runs, without callbacks. */
        void (*cancel)(void *state);
};

extern const struct umc_cloud_backend umc_cloud_backend_umc;

/* For backends: what they need of the client. */
struct umc_curlev *umc_cloud_curlev(struct umc_cloud *c);
const struct umc_cloud_config *umc_cloud_config(struct umc_cloud *c);

/* ---- the client ---- */

/*
 * Copy config (its strings too, except net's and trust), create the state
 * folders. 0, -EINVAL (a value outside its set: why says which), -ENOMEM,
 * or the negative errno of creating the folders.
 */
int umc_cloud_new(sd_event *event, const struct umc_cloud_config *config,
                  const struct umc_cloud_backend *backend, struct umc_cloud **ret, char *why,
                  size_t why_size);
void umc_cloud_free(struct umc_cloud *c);

static inline void umc_cloud_freep(struct umc_cloud **c) {
        umc_cloud_free(*c);
}

int umc_cloud_check(struct umc_cloud *c, const struct umc_cloudmsg_version *v, size_t n,
                    umc_cloud_check_fn done, void *userdata);

/*
 * reason says which check refused (sig.h's and package.h's codes) when
 * error is -EBADMSG; package is borrowed from c until the next fetch.
 */
typedef void (*umc_cloud_manifest_fn)(struct umc_cloud *c, int error, enum umc_reason reason,
                                      const struct umc_package *package, const char *why,
                                      void *userdata);

/*
 * Fetch the offer's manifest and signature, verify the signature (trust
 * at the current time), parse the manifest, check its expiry, and keep
 * both in STATE/package/. Files there from another package are deleted;
 * partial and complete images of this one stay (a restart resumes).
 */
int umc_cloud_fetch_manifest(struct umc_cloud *c, const struct umc_cloudmsg_offer *offer,
                             umc_cloud_manifest_fn done, void *userdata);

struct umc_cloud_progress {
        size_t image;                 /* index in the package */
        uint64_t have, size;          /* this image */
        uint64_t total_have, total_size;
};
typedef void (*umc_cloud_progress_fn)(struct umc_cloud *c, const struct umc_cloud_progress *p,
                                      void *userdata);
typedef void (*umc_cloud_images_fn)(struct umc_cloud *c, int error, enum umc_reason reason,
                                    const char *why, const struct umc_fetch_stats *stats,
                                    void *userdata);

/*
 * Fetch every image of the verified package into STATE/package/, one
 * after another; an image already complete and correct is kept. A
 * refusal (-EBADMSG: size or hash) deletes the package folder's
 * contents. stats adds up every image's.
 */
int umc_cloud_fetch_images(struct umc_cloud *c, umc_cloud_progress_fn progress,
                           umc_cloud_images_fn done, void *userdata);

/* The package folder (STATE/package), for umc_package_load() and delivery. */
const char *umc_cloud_package_dir(const struct umc_cloud *c);

/*
 * Queue the report (atomically, on disk) and then send the queue, oldest
 * first. done's error is 0 when the queue is empty afterwards; otherwise
 * the reports stay queued for umc_cloud_flush_reports().
 */
int umc_cloud_report(struct umc_cloud *c, const struct umc_cloudmsg_report *report,
                     umc_cloud_done_fn done, void *userdata);
int umc_cloud_flush_reports(struct umc_cloud *c, umc_cloud_done_fn done, void *userdata);

/* Reports waiting in the queue, or a negative errno. */
int umc_cloud_queued_reports(struct umc_cloud *c);

/* Stop the running operation without its callback. */
void umc_cloud_cancel(struct umc_cloud *c);
