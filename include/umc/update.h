/* SPDX-License-Identifier: MIT */
/*
 * Updates from the cloud in umcd: owns the cloud client (cloud.h) built
 * from umc_daemon_config's [Cloud] keys, and runs one update at a time:
 *
 *   check     inside an upgrade window (Windows=, local time, at a
 *             per-device offset) or when the HMI asks: flush queued
 *             reports, authenticate, ask the backend, fetch and verify
 *             the signed manifest (signature and expiry), then run the
 *             checks of [Package] CheckOrder= (signedpkg.h). A refusal
 *             stops everything and is reported to the backend. A package
 *             that passes becomes the offer: version, manifest hash and
 *             per target its current and offered version.
 *   install   only with the offer's manifest hash (the user's consent):
 *             fetch the images (resumable; nothing is fetched before),
 *             then hand the package folder to umc_manager_install() with
 *             that hash, which verifies it all again. Each target's
 *             result goes to the backend (queued on disk when it is down).
 *
 * The offset: HMAC-SHA256(secret, "umc window offset:" || device ID),
 * first 8 bytes big-endian, modulo RandomDelaySec= + 1, then modulo the
 * window's length: a fleet spreads over the window, one device is stable
 * across restarts, and an outsider cannot predict it without the secret.
 *
 * The manager tells the end of an installation to whoever set its events
 * (dbus.c); that code calls umc_update_install_completed(). Like
 * manager.c, this is umcd's own module and logs each step; the outcome
 * reaches callers through the events. Strings in struct umc_update_offer
 * are borrowed until the next check. An installation of the cloud folder
 * that the manager resumed after a restart (manager.h) is followed by the
 * umc_update_new() that comes after it, so its results are reported too.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "umc/config.h"
#include "umc/hash.h"
#include "umc/manager.h"
#include "umc/reason.h"

enum umc_update_state {
        UMC_UPDATE_IDLE = 0,
        UMC_UPDATE_CHECKING,      /* authent, check, manifest, the handshake checks */
        UMC_UPDATE_AVAILABLE,     /* an offer waits for consent (InstallUpdate) */
        UMC_UPDATE_DOWNLOADING,
        UMC_UPDATE_INSTALLING,    /* the manager delivers to the targets */
        _UMC_UPDATE_STATE_MAX,
};

struct umc_update_target {
        char target[UMC_CONFIG_TARGET_NAME_MAX + 1];
        char current[UMC_MANIFEST_NAME_MAX + 1]; /* "" when unknown */
        char offered[UMC_MANIFEST_NAME_MAX + 1];
};

struct umc_update_offer {
        char version[UMC_MANIFEST_NAME_MAX + 1];
        uint8_t hash[UMC_HASH_LEN];              /* SHA-256 of the signed manifest */
        struct umc_update_target *targets;
        size_t n_targets;
};

struct umc_update_events {
        void (*changed)(void *ud);  /* state or download progress */
        /*
         * Every check ends here: error 0 with offer (NULL: no update), or a
         * negative errno with reason and why (already reported to the backend).
         */
        void (*checked)(void *ud, int error, enum umc_reason reason, const char *why,
                        const struct umc_update_offer *offer);
        /* The end of InstallUpdate: download failure, refusal, or the installation's outcome. */
        void (*finished)(void *ud, bool success, enum umc_reason reason, const char *message);
        void *userdata;
};

struct umc_update;

/*
 * Build the cloud client from m's config ([Cloud] BaseUrl= must be set:
 * else -ENOENT), in STATE/cloud, and arm the window timer. ret owned by
 * the caller (umc_update_free()). The config's strings are copied: a
 * reload of the manager does not change the cloud (restart umcd).
 * 0, -ENOENT, -EINVAL with why, -ENOMEM.
 */
int umc_update_new(struct umc_manager *m, struct umc_update **ret, char *why, size_t why_size);
void umc_update_free(struct umc_update *u);
void umc_update_set_events(struct umc_update *u, const struct umc_update_events *ev);

/* Check now (the HMI asked). -EBUSY while another step runs (why says which). */
int umc_update_check(struct umc_update *u, char *why, size_t why_size);

/*
 * Consent to the offer whose manifest hashes to hash: download, then
 * install. -ENOENT when nothing is offered, -ESTALE when hash is not the
 * offer's, -EBUSY while another step runs; why says so.
 */
int umc_update_install(struct umc_update *u, const uint8_t hash[UMC_HASH_LEN], char *why,
                       size_t why_size);

/* The manager's completed event, forwarded. Ignored unless an update is installing. */
void umc_update_install_completed(struct umc_update *u, bool success, enum umc_reason reason,
                                  const char *message);

enum umc_update_state umc_update_get_state(const struct umc_update *u);
const char *umc_update_state_to_string(enum umc_update_state s);
uint32_t umc_update_download_percent(const struct umc_update *u);
/* The standing offer, or NULL. */
const struct umc_update_offer *umc_update_get_offer(const struct umc_update *u);
/* The next scheduled check, seconds since the epoch; 0 when no window is configured. */
int64_t umc_update_next_check(const struct umc_update *u);

/* ---- the window math, pure ---- */

/* The device's offset in seconds, 0..max_sec (see above). */
uint64_t umc_update_offset_sec(const char *device_id, const uint8_t secret[UMC_MASTER_KEY_LEN],
                               uint64_t max_sec);

/*
 * The next check: for each window, its start in local time plus
 * offset_sec modulo its length, the earliest after now; a window that is
 * open now and whose check time passed is due at now + 1 (umcd started
 * inside it). Window instances that end at or before done_until had their
 * check and are skipped. *ret_end: the end of the chosen instance (the
 * caller's next done_until). -EINVAL when n is 0 or a window is empty.
 */
int umc_update_next_window(const struct umc_config_window *w, size_t n, uint64_t offset_sec,
                           time_t now, time_t done_until, time_t *ret, time_t *ret_end);
