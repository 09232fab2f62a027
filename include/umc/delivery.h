/* SPDX-License-Identifier: MIT */
/*
 * One target's delivery over TCP, driven by the manager's sd-event loop:
 *
 *   1. non-blocking connect() to the target's Address (ConnectTimeoutSec=);
 *   2. the connection's 5-tuple and VLAN (netinfo.h) against [EthernetAcl]
 *      before a single byte is sent: a denial raises an alarm and ends the
 *      delivery;
 *   3. AUTH, master side (auth.h) with the target's key and HardwareId,
 *      within AuthTimeoutSec=; the salt it yields keys the
 *      session (tx MASTER_TO_ECU, the suites of CipherOrder=, InnerSuite=,
 *      ReplayWindow=);
 *   4. the rotation timer starts and the egress interface's load is sampled
 *      once per load window (linkload.h) against [Load] LinkRateMbit= or
 *      the interface's speed, its class fed to the sender;
 *   5. umc_sender frames (xfer.h) read from the image with pread(), queued
 *      while the stream's bounded write queue has room (EPOLLOUT when it is
 *      full) and the pacing (below) allows, the ECU's FEEDBACK fed back; at
 *      every acknowledged checkpoint the resume record is rewritten (below);
 *      IdleTimeoutSec= without progress fails the delivery;
 *   6. success once the ECU confirmed the whole-image hash (FEEDBACK
 *      COMPLETE) within FinalCheckTimeoutSec= of TRANSPORT.
 * Any failure (connect, ACL, authentication, STOP or ALARM from the ECU, a
 * timeout) ends this delivery with an alarm; the image on the ECU's active
 * slot is never touched by a failure. A frame from the ECU's side that
 * fails to open (or on CAN a PDU that is no frame) is dropped and counted
 * (rejected_frames in the progress), not acted on; past [Security]
 * MaxRejectedFrames= of them in one checkpoint window the delivery ends
 * with REJECTED_FRAMES (xfer.h).
 *
 * Pacing ([Load] CeilingPercent= > 0): the transfer paces itself toward the
 * ceiling, so that vehicle functions keep their bandwidth. It bounds its
 * own traffic, not the measured load: over any span it sends at most the
 * allowed rate times the span plus one burst and one frame (token debt),
 * and it reacts to other traffic one window late, so the load can exceed
 * the ceiling by that much. At every closed load window, other traffic =
 * the link's measured bits in the window less the bits this delivery put
 * on the wire in it (never below 0), and the rate allowed for the next
 * window is umc_delivery_pace_bps(): ceiling% of the link rate less the
 * other traffic, but at least 1% of the link rate so that a transfer always
 * progresses. A token bucket holding at most one window's worth (at most
 * UMC_DELIVERY_PACE_BURST_MAX bytes) enforces it on the frames, counted
 * as bytes on the wire (UMC_DELIVERY_WIRE_*); when it runs dry, no frame
 * is produced until a CLOCK_MONOTONIC timer says enough tokens are back.
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
 *
 * Code: src/lib/master/delivery.c (state machine, this API), connect.c,
 * pacing.c, dlvcan.c and resume.c; delivery-internal.h says which is which.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "umc/config.h"
#include "umc/hash.h"
#include "umc/mfmsg.h"
#include "umc/msg.h"
#include "umc/reason.h"
#include "umc/rotation.h"

/*
 * Sizes. The timeouts are the config's [Daemon] ConnectTimeoutSec=,
 * AuthTimeoutSec=, IdleTimeoutSec= and FinalCheckTimeoutSec=.
 */
/* Data bytes per DATA frame on TCP: a quarter of the protocol ceiling, few syscalls per MiB. */
#define UMC_DELIVERY_CHUNK (16 * 1024)
/*
 * CAN: data bytes per DATA frame, so that a frame is a PDU of about 4 KiB
 * (within the 4095-byte FF_DL of every ISO-TP implementation), and DATA
 * frames per VERIFY at most. The sender keeps one checkpoint unacknowledged
 * while it streams the next (xfer.h): at most 2 x 8 PDUs are in flight, which
 * the receiver's ISO-TP socket buffer holds while it fsyncs a checkpoint
 * (the kernel drops a PDU its socket has no room for, and ISO-TP flow
 * control does not look at the socket).
 */
#define UMC_DELIVERY_CAN_CHUNK 4000
#define UMC_DELIVERY_CAN_VERIFY_MAX 8
/* Bounded write queue per connection (stream.h): about 15 DATA frames. */
#define UMC_DELIVERY_QUEUE_MAX (256 * 1024)
/* Longest frame payload accepted from an ECU: AUTH_RESPONSE, FEEDBACK and ALARM are far smaller. */
#define UMC_DELIVERY_RX_PAYLOAD_MAX 1024

#define UMC_DELIVERY_RECORD_PREFIX "resume-"
/* How long a cancelled delivery waits for its ALARM to go out and the ECU to close. */
#define UMC_DELIVERY_LINGER_USEC (5 * USEC_PER_SEC)

/*
 * Bytes on the wire per full TCP segment: 1448 bytes of payload (an MSS of
 * 1460 for a 1500-byte MTU, less 12 bytes of TCP timestamps, RFC 7323)
 * travel in 1538 bytes of wire time: 66 bytes of Ethernet, IPv4 and TCP
 * headers plus the 24 bytes of preamble, SFD, FCS and interframe gap that
 * the load model adds to every packet (IEEE 802.3 clause 3 and 4).
 */
#define UMC_DELIVERY_WIRE_SEGMENT 1448
#define UMC_DELIVERY_WIRE_OVERHEAD 90
/* Largest burst the pacing lets out at once, in bytes on the wire. */
#define UMC_DELIVERY_PACE_BURST_MAX (64 * 1024)

enum umc_delivery_state {
        UMC_DELIVERY_NEW = 0,
        UMC_DELIVERY_CONNECTING,
        UMC_DELIVERY_RETRYING,       /* the last connect() failed; the next after a backoff */
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
        /* Sent in MANIFEST frames before BEGIN; borrowed, must outlive the delivery. NULL: none. */
        const struct umc_signed_manifest *manifest;
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
        bool load_nominal;               /* against LinkRateMbit= or UMC_LINKLOAD_NOMINAL_BPS,
                                          * not the interface's reported speed */
        uint64_t paced_bps;              /* bit/s on the wire the pacing allows now; 0: not paced */
        unsigned attempt;                /* to reach the ECU (retry.h), 0 before the first */
        uint64_t rejected_frames;        /* from the ECU's side, dropped: failed authentication */
};

/* Any callback may be NULL. */
struct umc_delivery_events {
        /* State changed, a checkpoint was acknowledged, or a load window closed. */
        void (*progress)(void *ud, const struct umc_delivery_progress *p);
        void (*rotation)(void *ud, enum umc_suite_id suite, uint16_t key_id,
                         enum umc_rotation_cause cause);
        /* Always followed by finished(false, reason). */
        void (*alarm)(void *ud, enum umc_reason reason, const char *text);
        /*
         * The ECU's slot overview (STATUS, the answer to the STATUS_QUERY
         * sent after authentication), before the transfer starts. Not
         * called for an older agent that does not know the query.
         */
        void (*status)(void *ud, const struct umc_msg_status *s);
        /* Exactly once, unless umc_delivery_abort() came first. */
        void (*finished)(void *ud, bool success, enum umc_reason reason);
        void *userdata;
};

struct umc_delivery;

/*
 * Set up a delivery of p's image to p->config's target p->target on event
 * (a reference is taken). Nothing happens on the network before
 * umc_delivery_start(). -EINVAL for a bad target index, a zero-length
 * image, a non-TCP channel, a zero timeout or a CeilingPercent= above 100
 * (a config the loader would not produce), -ENOMEM. *ret is written only
 * on success.
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

/*
 * Cancel, telling the ECU: once authenticated (transferring or verifying)
 * an ALARM(CANCELLED) sealed with the session goes out after the frames
 * already queued, the ECU deletes its partial image (an authenticated
 * cancel means no resume) and answers STOP; the connection is then shut
 * down. finished(false, UMC_REASON_CANCELLED) follows from the loop when
 * the ECU closed its side or UMC_DELIVERY_LINGER_USEC passed; no other
 * callback. Returns 0 then. An ECU that was checking the whole image
 * (VERIFYING) reads nothing meanwhile and may confirm it before it sees
 * the ALARM: then the image is installed, and finished(true, OK) says so. Before authentication there is no key to
 * tell the ECU with: the delivery is aborted as by umc_delivery_abort()
 * (no callback; the ECU keeps what it has) and -ENOTCONN is returned;
 * -EALREADY when it had ended, other errors after an abort likewise.
 */
int umc_delivery_cancel(struct umc_delivery *d);

/* Cleanses the session and keys, closes everything. Accepts NULL. */
void umc_delivery_free(struct umc_delivery *d);

void umc_delivery_get_progress(const struct umc_delivery *d, struct umc_delivery_progress *ret);
enum umc_delivery_state umc_delivery_state(const struct umc_delivery *d);

const char *umc_delivery_state_to_string(enum umc_delivery_state s);

/*
 * The pacing rule described above, a pure function: the bit rate a transfer
 * may use in the next window on a link of link_bps bit/s with the ceiling
 * ceiling_percent (1..100), given the link's measured rate measured_bps
 * and the transfer's own own_bps in the window that closed (both in bit/s
 * on the wire). Returns ceiling% of link_bps less the other traffic
 * (measured less own, never below 0), at least 1% of link_bps (and at
 * least 1). 0 when ceiling_percent is 0 (no pacing) or above 100, or
 * link_bps is 0.
 */
uint64_t umc_delivery_pace_bps(uint64_t link_bps, unsigned ceiling_percent, uint64_t measured_bps,
                               uint64_t own_bps);

/*
 * Bytes on the wire that len bytes of a TCP stream take: len plus
 * UMC_DELIVERY_WIRE_OVERHEAD per UMC_DELIVERY_WIRE_SEGMENT bytes, in
 * proportion and rounded up (frames follow each other in the stream and
 * share segments). Saturates at UINT64_MAX.
 */
uint64_t umc_delivery_wire_bytes(uint64_t len);

/* Longest text of umc_delivery_target_address(), with its NUL. */
#define UMC_DELIVERY_ADDRESS_MAX 64

/*
 * How the target is reached, for logs and D-Bus: "192.0.2.1:4500",
 * "[2001:db8::1]:4500", or on CAN the interface and the IDs we send and
 * listen on, "can0 7E0>7E8". Truncated to size (NUL-terminated).
 */
void umc_delivery_target_address(const struct umc_target *t, char *buf, size_t size);

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
