/* SPDX-License-Identifier: MIT */
/*
 * Gateway mode of umc-agent ([Agent] Mode=gateway): the "transit gateway"
 * between umcd on Ethernet and the ECUs behind it, usually on CAN.
 *
 * Upstream, the agent receives an image from umcd like an endpoint does
 * (authenticated with the gateway's own key, every frame checked and
 * decrypted, VERIFY checkpoints, the whole-image hash read back from disk)
 * into a per-ECU store. Then a forwarder job delivers it downstream as a
 * master (delivery.h): a new session with the ECU's own key, re-encrypted
 * with the forward file's suites and rotation, over the ECU's channel. The
 * verdict the ECU gives (COMPLETE, or STOP / ALARM with its reason) goes
 * back to umcd as the gateway's final FEEDBACK, so both directions of
 * feedback reach umcd.
 *
 * Store and forward, not cut-through: CAN is two orders of magnitude
 * slower than Ethernet, so a cut-through relay would hold umcd's session
 * for the CAN leg's whole duration anyway; storing first means not a
 * single byte reaches the ECU before the whole image verified on the
 * gateway, a CAN leg that fails can be retried from the gateway's copy,
 * and memory stays bounded (the copy is on disk, streamed with pread()).
 * umcd's FinalCheckTimeoutSec= must cover the CAN leg.
 *
 * The forward file has umcd.conf's format ([Target NAME] sections with the
 * ECUs' channels, IDs and key files, [Security], [Load], [Can], [CanIds]),
 * read with umc_daemon_config_load(). Its [Security] ImageHash= must match
 * what umcd uses, since the upstream whole-image hash is passed on as is.
 *
 * Ownership: the forwarder owns the loaded forward configuration; a job
 * borrows the forwarder (which must outlive it) and owns its delivery and
 * its image fd. done() is called from the event loop, once, never from
 * inside a umc_forward_*() call; the job may not be freed inside done().
 */
#pragma once

#include <stdint.h>

#include <systemd/sd-event.h>

#include "umc/config.h"
#include "umc/ecu.h"
#include "umc/hash.h"
#include "umc/mfmsg.h"
#include "umc/msg.h"
#include "umc/reason.h"

struct umc_forwarder;
struct umc_forward_job;

/*
 * Load the forward file at path (see above). On failure *err (may be NULL)
 * says why, as umc_daemon_config_load() does, and *ret is untouched.
 * -EINVAL also for a file without any [Target] section.
 */
int umc_forwarder_new(const char *path, sd_event *event, struct umc_forwarder **ret,
                      struct umc_config_error *err);

/* Free the configuration (master keys cleansed). Jobs must be gone. Accepts NULL. */
void umc_forwarder_free(struct umc_forwarder *f);

/* The ECU behind the gateway with this ID (borrowed), or NULL. */
const struct umc_ecu *umc_forwarder_find(const struct umc_forwarder *f, uint32_t ecu_id);

/* The number of [Target] sections, for the start-up log line. */
size_t umc_forwarder_n_targets(const struct umc_forwarder *f);

struct umc_forward_params {
        uint32_t ecu_id;                  /* a target of the forward file */
        int image_fd;                     /* taken over (closed by the job), read with pread() */
        uint64_t image_len;
        enum umc_hash_alg hash_alg;       /* of image_hash */
        uint8_t image_hash[UMC_HASH_LEN];
        uint8_t image_id[UMC_MSG_IMAGE_ID_LEN];
        char version[UMC_MSG_VERSION_MAX + 1];
        /* The signed manifest umcd sent (copied by the job); NULL: none came. */
        const struct umc_signed_manifest *manifest;
};

/* reason OK: the ECU confirmed the image; else why not, with a text for the alarm. */
typedef void (*umc_forward_done_fn)(void *userdata, enum umc_reason reason, const char *text);

/*
 * Start delivering p's image to its ECU. On success the job owns
 * p->image_fd; on failure the fd is closed too (the caller never closes
 * it). -ENOENT for an ECU ID the forward file does not list, -EINVAL for
 * a hash algorithm other than the forward file's ImageHash=, errors of
 * umc_delivery_new() / umc_delivery_start().
 */
int umc_forward_start(struct umc_forwarder *f, const struct umc_forward_params *p,
                      umc_forward_done_fn done, void *userdata, struct umc_forward_job **ret);

/* Abort the delivery if it still runs (the ECU keeps its active image) and free. Accepts NULL. */
void umc_forward_job_free(struct umc_forward_job *j);
