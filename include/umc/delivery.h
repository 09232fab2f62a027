/* SPDX-License-Identifier: MIT */
/*
 * One target's delivery over TCP, driven by the manager's sd-event loop:
 *
 *   1. non-blocking connect() to the target's Address (UMC_DELIVERY_CONNECT_TIMEOUT_USEC);
 *   2. the connection's 5-tuple and VLAN (netinfo.h) against [EthernetAcl]
 *      before a single byte is sent: a denial raises an alarm and ends the
 *      delivery;
 *   3. AUTH, master side (auth.h) with the target's key and HardwareId,
 *      within UMC_DELIVERY_AUTH_TIMEOUT_USEC; the salt it yields keys the
 *      session (tx MASTER_TO_ECU, the suites of CipherOrder=, InnerSuite=,
 *      ReplayWindow=);
 *   4. the rotation timer starts and the egress interface's load is sampled
 *      once per load window (linkload.h), its class fed to the sender;
 *   5. umc_sender frames (xfer.h) read from the image with pread(), queued
 *      while the stream's bounded write queue has room (EPOLLOUT when it is
 *      full), the ECU's FEEDBACK fed back; at every acknowledged checkpoint
 *      the resume record is rewritten (below);
 *   6. success once the ECU confirmed the whole-image hash (FEEDBACK COMPLETE).
 * Any failure (connect, ACL, authentication, a frame the session refuses,
 * STOP or ALARM from the ECU, a timeout) ends this delivery with an alarm;
 * the image on the ECU's active slot is never touched by a failure.
 *
 * Image ID (BEGIN, the agent's resume key):
 *   SHA-256("umc1 image-id" || manifest hash (32) || target name)
 * so a re-run of the same package resumes, and another package or target
 * never resumes into this image's partial.
 *
 * Resume record: StateDirectory/resume-TARGET, four "key=value" lines
 * (package=, manifest=, target=, offset=) written atomically
 * (umc_fs_write_atomic) whenever the acknowledged offset moves. umcd uses it
 * after a restart to start the interrupted installation again; the real
 * resume offset is the agent's answer to BEGIN, the recorded one is
 * informational.
 *
 * Ownership: a delivery borrows the config, the image fd and the state
 * directory fd, which must outlive it; it owns its socket, session and
 * event sources. Callbacks come from the event loop only, never from inside
 * a umc_delivery_*() call, and the delivery may not be freed from inside a
 * callback (defer that to the next loop iteration).
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "umc/config.h"
#include "umc/hash.h"
#include "umc/msg.h"
#include "umc/reason.h"
#include "umc/rotation.h"

/*
 * Timeouts and sizes. Wanted as config options ([Daemon] section):
 * ConnectTimeoutSec= (default 10, 1..600), AuthTimeoutSec= (10, 1..600),
 * IdleTimeoutSec= (60, 5..3600), FinalCheckTimeoutSec= (300, 10..86400).
 */
#define UMC_DELIVERY_CONNECT_TIMEOUT_USEC (10 * UINT64_C(1000000))
#define UMC_DELIVERY_AUTH_TIMEOUT_USEC (10 * UINT64_C(1000000))
/* No frame from the ECU and no byte written for this long while streaming. */
#define UMC_DELIVERY_IDLE_TIMEOUT_USEC (60 * UINT64_C(1000000))
/* TRANSPORT sent: the ECU reads back and hashes the whole image before it answers. */
#define UMC_DELIVERY_FINAL_TIMEOUT_USEC (300 * UINT64_C(1000000))
/* Data bytes per DATA frame on TCP: a quarter of the protocol ceiling, few syscalls per MiB. */
#define UMC_DELIVERY_CHUNK (16 * 1024)
/* Bounded write queue per connection (stream.h): about 15 DATA frames. */
#define UMC_DELIVERY_QUEUE_MAX (256 * 1024)
/* Longest frame payload accepted from an ECU: AUTH_RESPONSE, FEEDBACK and ALARM are far smaller. */
#define UMC_DELIVERY_RX_PAYLOAD_MAX 1024

#define UMC_DELIVERY_RECORD_PREFIX "resume-"

enum umc_delivery_state {
        UMC_DELIVERY_NEW = 0,
        UMC_DELIVERY_CONNECTING,
        UMC_DELIVERY_AUTHENTICATING,
        UMC_DELIVERY_TRANSFERRING,
        UMC_DELIVERY_VERIFYING,      /* TRANSPORT sent, the ECU checks the whole image */
        UMC_DELIVERY_DONE,
        UMC_DELIVERY_FAILED,
};

struct umc_delivery_params {
        const struct umc_daemon_config *config; /* borrowed: security, load, ACL, targets */
        size_t target;                   /* index into config->ecus[] and config->targets[] */
        int image_fd;                    /* borrowed, read with pread() */
        uint64_t image_len;
        uint8_t image_hash[UMC_HASH_LEN]; /* whole image, config->image_hash algorithm */
        uint8_t manifest_hash[UMC_HASH_LEN];
        char version[UMC_MSG_VERSION_MAX + 1];
        int state_dir_fd;                /* borrowed; < 0: no resume record */
        const char *package_dir;         /* copied; for the resume record */
};

struct umc_delivery_progress {
        enum umc_delivery_state state;
        uint64_t bytes_total;
        uint64_t bytes_sent;             /* handed to the socket */
        uint64_t bytes_acked;            /* covered by a checkpoint the ECU acknowledged */
        uint64_t resume_offset;          /* where the ECU resumed (0: from the start) */
        uint64_t rate;                   /* bytes/s sent over the last few load windows */
        enum umc_suite_id suite;         /* NONE before the session exists */
        uint16_t key_id;
        double load_percent;             /* egress interface, last closed window */
        enum umc_load_class load_class;
        bool load_nominal;               /* measured against UMC_LINKLOAD_NOMINAL_BPS */
};

/* Any callback may be NULL. */
struct umc_delivery_events {
        /* State changed, a checkpoint was acknowledged, or a load window closed. */
        void (*progress)(void *ud, const struct umc_delivery_progress *p);
        void (*rotation)(void *ud, enum umc_suite_id suite, uint16_t key_id,
                         enum umc_rotation_cause cause);
        /* Always followed by finished(false, reason). */
        void (*alarm)(void *ud, enum umc_reason reason, const char *text);
        /* Exactly once, unless umc_delivery_abort() came first. */
        void (*finished)(void *ud, bool success, enum umc_reason reason);
        void *userdata;
};

struct umc_delivery;

/*
 * Set up a delivery of p's image to p->config's target p->target on event
 * (a reference is taken). Nothing happens on the network before
 * umc_delivery_start(). -EINVAL for a bad target index, a zero-length
 * image or a non-TCP channel, -ENOMEM. *ret is written only on success.
 */
int umc_delivery_new(sd_event *event, const struct umc_delivery_params *p,
                     const struct umc_delivery_events *ev, struct umc_delivery **ret);

/*
 * Open the socket and start connecting. A refusal or unreachable network
 * is reported later through alarm and finished, like every failure on the
 * way; the return value is 0, -EALREADY when already started, or a local
 * error (socket(), event sources) after which nothing was started.
 */
int umc_delivery_start(struct umc_delivery *d);

/*
 * Stop now: the sender is aborted with reason, the connection closed
 * without another frame (the ECU keeps its active slot and its last
 * checkpoint), every event source disabled, the state FAILED. No callback
 * follows. Accepts a delivery that already finished.
 */
void umc_delivery_abort(struct umc_delivery *d, enum umc_reason reason);

/* Cleanses the session and keys, closes everything. Accepts NULL. */
void umc_delivery_free(struct umc_delivery *d);

void umc_delivery_get_progress(const struct umc_delivery *d, struct umc_delivery_progress *ret);
enum umc_delivery_state umc_delivery_state(const struct umc_delivery *d);

const char *umc_delivery_state_to_string(enum umc_delivery_state s);

/*
 * The image ID described above into ret_id. -EINVAL for a target name that
 * is empty or longer than UMC_CONFIG_TARGET_NAME_MAX, -EIO from the hash.
 */
int umc_delivery_image_id(const uint8_t manifest_hash[UMC_HASH_LEN], const char *target,
                          uint8_t ret_id[UMC_MSG_IMAGE_ID_LEN]);

/* ---- resume records ---- */

struct umc_delivery_record {
        char package_dir[PATH_MAX];      /* absolute, printable, no newline */
        uint8_t manifest_hash[UMC_HASH_LEN];
        char target[UMC_CONFIG_TARGET_NAME_MAX + 1];
        uint64_t offset;                 /* acknowledged bytes when written */
};

/* True for 1..UMC_CONFIG_TARGET_NAME_MAX characters of A-Z a-z 0-9 _ - (config's rule). */
bool umc_delivery_target_name_valid(const char *name);

/*
 * Write dirfd/resume-TARGET atomically (mode 0600). -EINVAL for a record
 * that would not read back (relative or unprintable package path, bad
 * target name), errors of umc_fs_write_atomic().
 */
int umc_delivery_record_write(int dirfd, const struct umc_delivery_record *rec);

/*
 * Read and check dirfd/resume-TARGET: exactly the four keys, each once,
 * every value as umc_delivery_record_write() writes it and target equal to
 * the file's. -ENOENT when absent, -EBADMSG when malformed, errors of
 * umc_fs_read_file(). *ret is written only on success.
 */
int umc_delivery_record_read(int dirfd, const char *target, struct umc_delivery_record *ret);

/* Remove dirfd/resume-TARGET and its stale temporary files; 0 also when absent. */
int umc_delivery_record_remove(int dirfd, const char *target);
