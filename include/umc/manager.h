/* SPDX-License-Identifier: MIT */
/*
 * The umcd manager: owns the sd-event loop and every event source, the
 * configuration, the targets' state and the one installation that may run
 * at a time. The D-Bus layer (dbus.h) is a thin view on it: it calls the
 * operations below and forwards the events to signals and properties.
 *
 * Ownership: umc_manager_new() takes a loaded config (moved in: the caller
 * zeroes its copy); umc_manager_free() releases everything and accepts
 * NULL or a half-built manager. Strings returned through status structs
 * point into the manager and stay valid until the next loop iteration.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "umc/config.h"
#include "umc/manifest.h"
#include "umc/reason.h"
#include "umc/rotation.h"

enum umc_operation {
        UMC_OP_IDLE = 0,
        UMC_OP_VERIFYING,   /* checking the package's images against the manifest */
        UMC_OP_INSTALLING,
        UMC_OP_CANCELLING,
};

enum umc_phase {
        UMC_PHASE_IDLE = 0,
        UMC_PHASE_WAITING,        /* queued in this installation */
        UMC_PHASE_CONNECTING,
        UMC_PHASE_RETRYING,       /* the ECU refused or did not answer; trying again after a wait */
        UMC_PHASE_AUTHENTICATING,
        UMC_PHASE_TRANSFERRING,
        UMC_PHASE_VERIFYING,      /* TRANSPORT sent, the ECU checks the whole image */
        UMC_PHASE_DONE,
        UMC_PHASE_FAILED,
        UMC_PHASE_CANCELLED,
};

struct umc_target_status {
        const char *name;
        uint32_t ecu_id;
        const char *channel;      /* "tcp" */
        const char *address;      /* "10.0.0.2:4500" */
        /*
         * The version in the ECU's active slot as its agent reported it (not
         * through a gateway); else the last version umcd installed; "" when
         * neither is known.
         */
        const char *version;
        enum umc_phase phase;
        uint64_t bytes_done;      /* acknowledged by the ECU */
        uint64_t bytes_total;
        uint64_t rate;            /* bytes/s over the last seconds */
        uint32_t percent;         /* 0..100 */
        enum umc_suite_id suite;  /* current rotating suite, NONE when idle */
        uint16_t key_id;
        double load_percent;      /* measured load of the channel */
        enum umc_load_class load_class;
        enum umc_reason last_reason; /* why it failed, OK otherwise */
        unsigned attempt;         /* connection attempts of the current delivery, 0 before */
        /* Frames from the target's side dropped since umcd started: they failed authentication. */
        uint64_t rejected_frames;
};

/*
 * A target's slots as its agent reported them (STATUS, asked after
 * authentication in every delivery), like `rauc status`. After the ECU
 * confirmed an image, umcd applies what the agent does (the image went to
 * the inactive slot, which became active; the old active slot is kept for
 * rollback when it held an image; no partial image) until the next report.
 */
struct umc_target_slots {
        const char *name;
        bool reported;            /* false until the agent answered once since umcd started */
        bool gateway;             /* a gateway's store for the ECU, not the ECU's own slots */
        char active;              /* 'a' or 'b' */
        char previous;            /* rollback slot, 0 when none */
        const char *version_a, *version_b; /* "" for an empty slot */
        bool partial;             /* a partial image is kept for resume */
        const char *partial_version;
        uint64_t partial_offset, partial_len;
        uint64_t partial_age_sec; /* since its last checkpoint, as of now */
        uint64_t reported_usec;   /* CLOCK_REALTIME of the report, 0 when none */
};

/* What the D-Bus layer (or a test) is told; any callback may be NULL. */
struct umc_manager_events {
        void (*changed)(void *ud);   /* operation, progress or a target's status changed */
        void (*progress)(void *ud, const struct umc_target_status *t);
        void (*alarm)(void *ud, const char *target, enum umc_reason reason, const char *text);
        void (*rotation)(void *ud, const char *target, enum umc_suite_id suite, uint16_t key_id,
                         enum umc_rotation_cause cause);
        /* Sent once for every installation that started, on success, failure or cancel. */
        void (*completed)(void *ud, bool success, enum umc_reason reason, const char *message);
        void *userdata;
};

struct umc_manager;

/*
 * Create the manager on event (a reference is taken): open (create) the
 * config's StateDirectory=, read the installed versions, enable the
 * watchdog (sd_event_set_watchdog(); a no-op without WATCHDOG_USEC) and
 * restart an installation that a stop or crash interrupted, when its resume
 * records (delivery.h) name a package that is still there with the same
 * manifest hash (other records are dropped). On success *config is zeroed
 * (moved in); on failure it is untouched. Errors: -EINVAL, -ENOMEM, the
 * state directory's errno, sd-event's.
 */
int umc_manager_new(struct umc_daemon_config *config, sd_event *event,
                    struct umc_manager **ret);
void umc_manager_free(struct umc_manager *m);

void umc_manager_set_events(struct umc_manager *m, const struct umc_manager_events *ev);
sd_event *umc_manager_get_event(struct umc_manager *m);

/* Targets, in config order. */
size_t umc_manager_n_targets(const struct umc_manager *m);
int umc_manager_target_status(const struct umc_manager *m, size_t i,
                              struct umc_target_status *ret);

/* Target i's slot report (strings owned by m, valid until the next loop iteration). */
int umc_manager_target_slots(const struct umc_manager *m, size_t i, struct umc_target_slots *ret);

enum umc_operation umc_manager_operation(const struct umc_manager *m);
uint32_t umc_manager_percent(const struct umc_manager *m);
const char *umc_manager_last_error(const struct umc_manager *m); /* "" when none */

/*
 * The running installation's package directory (borrowed, as install or
 * a resume after a restart named it) and manifest hash. -ENOENT when idle.
 */
int umc_manager_current_package(const struct umc_manager *m, const char **ret_dir,
                                uint8_t ret_hash[UMC_HASH_LEN]);

/*
 * What install would check before it sends a byte, without reading any
 * image: package_dir must resolve (realpath(3)) to a directory at or below
 * one of the config's PackageDirectory= (else -EACCES with why saying so),
 * its manifest must parse and name only configured targets, and every
 * image file must be present, a regular file (no symbolic link) and of
 * the manifest's size (umc_manifest_check_files()). The images' SHA-256 is
 * not computed here: install verifies it. Bounded work (one manifest of at
 * most UMC_MANIFEST_MAX_BYTES, one fstatat() per image), so the loop does
 * not stall. ret is the caller's to free (umc_manifest_free). -EINVAL with
 * why (why_size bytes) naming the defect, -ENOMEM.
 */
int umc_manager_inspect(struct umc_manager *m, const char *package_dir,
                        struct umc_manifest *ret, char *why, size_t why_size);

/*
 * Start installing package_dir. When manifest_hash is not NULL the
 * manifest must hash to exactly it (what the HMI showed the user).
 * targets (NULL = all in the manifest) restricts the set. Returns 0 once
 * started (completion comes through events), -EBUSY while another
 * operation runs, -EINVAL with why.
 */
int umc_manager_install(struct umc_manager *m, const char *package_dir,
                        const uint8_t *manifest_hash, const char *const *targets, char *why,
                        size_t why_size);

/*
 * Cancel the running installation: done targets stay done, the one in
 * flight keeps its old image; if its session is authenticated its agent
 * is told and deletes its partial image (umc_delivery_cancel()). The
 * operation turns CANCELLING and the completed event (success false,
 * UMC_REASON_CANCELLED) follows from the loop: at the next iteration, or
 * once that agent closed (at most UMC_DELIVERY_LINGER_USEC). -ENOENT when
 * idle, -EALREADY while a cancel is under way.
 */
int umc_manager_cancel(struct umc_manager *m);

/*
 * Replace the configuration (SIGHUP) while idle: config is moved in as by
 * umc_manager_new() and zeroed on success; on failure it is untouched and
 * the old configuration stays. -EBUSY while an operation runs, or the
 * error of opening the new state directory.
 */
int umc_manager_reload(struct umc_manager *m, struct umc_daemon_config *config);

/* The configuration in force (borrowed; valid until the next reload). */
const struct umc_daemon_config *umc_manager_config(const struct umc_manager *m);

const char *umc_operation_to_string(enum umc_operation op);
const char *umc_phase_to_string(enum umc_phase p);
