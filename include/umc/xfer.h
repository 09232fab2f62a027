/* SPDX-License-Identifier: MIT */
/*
 * Image transfer engines: the sender (umcd) and the receiver (umc-agent)
 * of one image over one authenticated session. Both are pure state
 * machines, frame in and frame out, with no socket, timer or event loop of
 * their own: the daemon and the agent drive them over TCP or ISO-TP, the
 * tests drive them back to back in memory.
 *
 * Sequence (docs/protocol.md): BEGIN -> FEEDBACK(CONTINUE, resume offset)
 * -> DATA x N -> VERIFY -> FEEDBACK(CONTINUE, checkpoint) -> ... ->
 * TRANSPORT -> FEEDBACK(COMPLETE). The sender keeps at most one VERIFY
 * unacknowledged: it streams the next N DATA frames while waiting, then
 * stops until the FEEDBACK comes, so the receiver's fsync at a checkpoint
 * overlaps with transfer and memory stays bounded.
 *
 * The receiver writes through a struct umc_sink (the endpoint's A/B slot
 * store, or the gateway's forwarder) and never touches the active image:
 * only sink->commit, after the whole-image hash matched, makes it usable. *
 * One header for the protocol's two ends; three files: xfer.c (what both
 * share: umc_xfer_*), sender.c (umc_sender_*), receiver.c (umc_receiver_*).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/hash.h"
#include "umc/mfmsg.h"
#include "umc/msg.h"
#include "umc/reason.h"
#include "umc/rotation.h"
#include "umc/session.h"
#include "umc/xferlimits.h"

/*
 * Frames that fail to open (umc_session_open(): a bad header, another
 * session or ECU, an unknown key ID, a replay, a tag mismatch) are not
 * authenticated: anyone on the bus, or in the middle of the TCP
 * connection, can make them. Both engines drop them without acting on
 * them and count them. Only past a bound does the session end: more than
 * limit such frames in one checkpoint window, the frames between two
 * pieces of authenticated progress (the resume point, then each
 * acknowledged checkpoint). The window follows the transfer, not the
 * clock, so the bound means the same on a 500 kbit/s CAN bus and on
 * gigabit Ethernet, and an attacker gets no fresh allowance by waiting
 * while the transfer stands still. Even then the receiver keeps what its
 * last checkpoint made durable: only an authenticated STOP or ALARM, or
 * a check of the image itself that fails (a VERIFY digest, the
 * whole-image hash, the gate), drops the image; an authenticated frame
 * that is malformed or out of turn only ends the session. The default
 * limit is UMC_XFER_REJECT_LIMIT_DEFAULT (xferlimits.h).
 */
/* umc_*_input() and umc_*_reject(): the frame was dropped unauthenticated and counted. */
#define UMC_XFER_DROPPED 1

struct umc_xfer_rejects {
        uint64_t total;          /* frames dropped since the engine was created */
        uint32_t window;         /* of them since the last authenticated progress */
        uint32_t limit;          /* window may reach this; one more ends the session */
        enum umc_reason last;    /* why the last one was dropped; OK before the first */
};

/*
 * Count one frame that failed to open (or a PDU that was no frame at all).
 * True when the window's count has passed the limit.
 */
bool umc_xfer_rejects_add(struct umc_xfer_rejects *c, enum umc_reason why);
/* Authenticated progress (a checkpoint, the resume point): a new window. */
void umc_xfer_rejects_new_window(struct umc_xfer_rejects *c);

/* Largest body either side seals or opens: a DATA frame of the protocol ceiling. */
#define UMC_XFER_BODY_MAX UMC_FRAME_MAX_PAYLOAD

/* ---- sender ---- */

struct umc_sender_params {
        int image_fd;            /* borrowed; read with pread(), never moved */
        uint64_t image_len;
        uint8_t image_hash[UMC_HASH_LEN]; /* of the whole image, from the verified manifest */
        enum umc_hash_alg hash_alg;       /* of image_hash and the VERIFY digests */
        uint8_t image_id[UMC_MSG_IMAGE_ID_LEN]; /* identifies the image for resume */
        char version[UMC_MSG_VERSION_MAX + 1];
        uint32_t chunk_len;      /* data bytes per DATA frame */
        uint32_t verify_every;   /* DATA frames per VERIFY; 0 = umc_xfer_auto_verify_every() */
        /*
         * The signed manifest and its signature, sent in MANIFEST frames
         * right before BEGIN; NULL sends none. Borrowed: the bytes must
         * outlive the sender.
         */
        const struct umc_signed_manifest *manifest;
};

enum umc_sender_state {
        UMC_SENDER_BEGIN,        /* BEGIN to send */
        UMC_SENDER_WAIT_RESUME,  /* BEGIN sent, waiting for the resume offset */
        UMC_SENDER_STREAM,       /* DATA / VERIFY */
        UMC_SENDER_WAIT_ACKS,    /* all data sent, waiting for the last checkpoint */
        UMC_SENDER_WAIT_COMPLETE,/* TRANSPORT sent */
        UMC_SENDER_DONE,
        UMC_SENDER_FAILED,
};

struct umc_sender;

/* VERIFY spacing for an image: about 64 checkpoints, 4..256 DATA frames each. */
uint32_t umc_xfer_auto_verify_every(uint64_t image_len, uint32_t chunk_len);

/*
 * session and rotation are borrowed and must outlive the sender; the
 * sender sets the session's tx key from the rotation and advances it as
 * the policy says. -EINVAL on bad params (zero length or chunk, chunk
 * above what fits the session's max payload).
 */
int umc_sender_new(const struct umc_sender_params *p, struct umc_session *session,
                   struct umc_rotation *rotation, struct umc_sender **ret);
void umc_sender_free(struct umc_sender *x);

/*
 * Produce the next frame at time now (microseconds, the VERIFY time and
 * the rotation clock) under load class load. Returns 0 with the frame in
 * out[0..*ret_len); -EAGAIN when nothing may be sent until a FEEDBACK
 * arrives; -ESHUTDOWN once done or failed; -EIO on a read error (the
 * sender is then FAILED); errors of umc_session_seal. *ret_cause (may be
 * NULL) tells whether the suite and key rotated before this frame.
 */
int umc_sender_next(struct umc_sender *x, uint64_t now, enum umc_load_class load, uint8_t *out,
                    size_t out_size, size_t *ret_len, enum umc_rotation_cause *ret_cause);

/*
 * Feed a frame from the receiver (sealed; opened here with the session).
 * Returns 0 when it moved the transfer on; UMC_XFER_DROPPED when it failed
 * to open (*ret_reason says why; dropped and counted, nothing else
 * changed); -EKEYREJECTED when that drop passed the limit (the sender is
 * FAILED with REJECTED_FRAMES); -ECANCELED when the receiver said STOP or
 * raised an ALARM (*ret_reason is its reason, the sender is FAILED);
 * -EBADMSG for an authenticated frame that is malformed or out of turn
 * (*ret_reason names it, the sender is FAILED).
 */
int umc_sender_input(struct umc_sender *x, const uint8_t *frame, size_t len,
                     enum umc_reason *ret_reason);

/*
 * Count a PDU from the receiver's side that never became a frame (refused
 * by the packet stream: umc_stream_read() said -EBADMSG with why) like a
 * frame that failed to open: UMC_XFER_DROPPED, or -EKEYREJECTED past the
 * limit; -ESHUTDOWN once done or failed.
 */
int umc_sender_reject(struct umc_sender *x, enum umc_reason why);

/* The window's bound (default UMC_XFER_REJECT_LIMIT_DEFAULT; 0: the first drop ends it). */
void umc_sender_set_reject_limit(struct umc_sender *x, uint32_t limit);
void umc_sender_get_rejects(const struct umc_sender *x, struct umc_xfer_rejects *ret);

/* Turn the sender FAILED with reason (cancel, timeout, alarm raised locally). */
void umc_sender_abort(struct umc_sender *x, enum umc_reason reason);

enum umc_sender_state umc_sender_state(const struct umc_sender *x);
enum umc_reason umc_sender_reason(const struct umc_sender *x);
uint64_t umc_sender_bytes_sent(const struct umc_sender *x);  /* data bytes handed out */
uint64_t umc_sender_bytes_acked(const struct umc_sender *x); /* covered by an acked VERIFY */
uint64_t umc_sender_resume_offset(const struct umc_sender *x);
uint32_t umc_sender_verify_every(const struct umc_sender *x);

/* ---- receiver ---- */

/*
 * Where received bytes go. Every callback returns 0 or a negative errno.
 * begin: prepare for image_id / version / image_len and say how many bytes
 *   are already durable from an interrupted transfer of the same image
 *   (0 to start over). write: bytes at offset, strictly sequential.
 *   checkpoint: make everything written durable (a resume point).
 *   read: read back [off, off+len) of what was written (final hash check).
 *   commit: the image is complete and verified: install it. A sink that
 *   passes the image on (the gateway forwards it to its ECU) returns
 *   -EINPROGRESS: the verdict comes later, through umc_receiver_finish().
 *   abort: the image is refused: drop it; the active image is untouched.
 *   rewind (may be NULL): the session ends without a verdict on the image:
 *   forget the bytes written after the last checkpoint and keep the rest
 *   (and the resume record) for the next session.
 */
struct umc_sink {
        int (*begin)(void *ud, const uint8_t image_id[UMC_MSG_IMAGE_ID_LEN], const char *version,
                     uint64_t image_len, uint64_t *ret_resume_offset);
        int (*write)(void *ud, uint64_t offset, const void *data, size_t len);
        int (*checkpoint)(void *ud);
        int (*read)(void *ud, uint64_t offset, void *buf, size_t len);
        int (*commit)(void *ud);
        void (*abort)(void *ud);
        void *userdata;
        void (*rewind)(void *ud);
};

enum umc_receiver_state {
        UMC_RECEIVER_WAIT_BEGIN,
        UMC_RECEIVER_STREAM,
        UMC_RECEIVER_CHECKING,   /* TRANSPORT received, hashing what was written */
        UMC_RECEIVER_FORWARDING, /* verified; the sink passes it on (commit said -EINPROGRESS) */
        UMC_RECEIVER_DONE,
        UMC_RECEIVER_FAILED,
};

struct umc_receiver;

/*
 * Optional checks against the signed manifest (the ECU's own, ecucheck.h).
 * begin: at BEGIN, before the sink sees it; m is NULL when no MANIFEST
 *   frame came, else the complete manifest and signature. image: after
 *   the whole-image hash matched TRANSPORT, before the sink's commit, with
 *   the SHA-256 of the image as stored. Each returns OK, or the reason
 *   that refuses the image: the receiver answers STOP(reason); a refusal
 *   at begin leaves the sink untouched (it never saw BEGIN), one at image
 *   aborts it. Either way the active image is untouched.
 * Without a gate, MANIFEST frames are still checked for form and order and
 *   assembled, unchecked: umc_receiver_manifest() hands them out (a gateway
 *   passes them on).
 */
struct umc_receiver_gate {
        enum umc_reason (*begin)(void *ud, const struct umc_msg_begin *b,
                                 const struct umc_signed_manifest *m);
        enum umc_reason (*image)(void *ud, const uint8_t sha256[UMC_HASH_LEN]);
        void *userdata;
};

/* session and sink are borrowed. max_image_len bounds BEGIN's image_len. */
int umc_receiver_new(struct umc_session *session, const struct umc_sink *sink,
                     uint64_t max_image_len, struct umc_receiver **ret);
void umc_receiver_free(struct umc_receiver *x);

/*
 * Feed one frame from the sender at time now. Returns 0, with a reply
 * frame in out[0..*ret_len) when *ret_len > 0 (FEEDBACK after BEGIN and
 * after each VERIFY). -EINPROGRESS after TRANSPORT: call umc_receiver_step()
 * until it returns 0, which produces the final reply.
 * A frame that fails to open is dropped and counted: UMC_XFER_DROPPED,
 * *ret_reason says why, nothing else changed (see above); the drop that
 * passes the limit returns -EKEYREJECTED (state FAILED, reason
 * REJECTED_FRAMES, the sink rewound to its last checkpoint, not aborted).
 * A gap in what arrived (a DATA offset or a VERIFY range that is not the
 * next one) ends the session the same way: -EBADMSG with OUT_OF_ORDER, the
 * sink rewound. So does an authenticated frame that is malformed or out of
 * turn (-EBADMSG with BODY_MALFORMED, IMAGE_TOO_LARGE, OUT_OF_ORDER,
 * FRAME_BAD_TYPE or VERIFY_TIME; docs/protocol.md section 5): it proves
 * nothing against the verified bytes. A refusal of BEGIN itself (its
 * image_len, the gate) returns -EBADMSG before the sink has anything. Only
 * a failed check of the image (VERIFY_MISMATCH; after TRANSPORT,
 * umc_receiver_step()) returns -EBADMSG and aborts the sink, and an
 * authenticated ALARM -ECANCELED. A
 * STOP(reason) is put in out whenever the session can still seal one
 * (*ret_len > 0). Errors of the sink are returned as they are, after a
 * STOP(IO_ERROR or NO_SPACE) reply. In state FORWARDING only drops and an
 * ALARM (the master cancels: the sink is aborted, which stops the
 * forwarding) are expected; anything else ends the session (OUT_OF_ORDER
 * or FRAME_BAD_TYPE) and leaves the stored image alone.
 */
int umc_receiver_input(struct umc_receiver *x, const uint8_t *frame, size_t len, uint64_t now,
                       uint8_t *out, size_t out_size, size_t *ret_len,
                       enum umc_reason *ret_reason);

/*
 * Do up to budget bytes of the final read-back hash. Returns 1 while more
 * remains, 0 when finished (out holds FEEDBACK COMPLETE, or STOP with
 * IMAGE_HASH_MISMATCH and -EBADMSG), -EINPROGRESS when the sink's commit
 * did (no reply yet: state FORWARDING), or a negative errno.
 */
/*
 * Count a PDU that never became a frame (refused by the packet stream)
 * like a frame that failed to open: UMC_XFER_DROPPED, or -EKEYREJECTED
 * with a STOP in out past the limit; -ESHUTDOWN when the receiver takes no
 * input.
 */
int umc_receiver_reject(struct umc_receiver *x, enum umc_reason why, uint8_t *out,
                        size_t out_size, size_t *ret_len, enum umc_reason *ret_reason);

/*
 * End the session without a verdict on the image, for a reason outside
 * the frames (a TCP stream that lost its frame boundaries): state FAILED
 * with reason, the sink rewound to its last checkpoint (not aborted), a
 * STOP(reason) in out when one can be sealed. Returns 0, -ESHUTDOWN when
 * the receiver takes no input.
 */
int umc_receiver_suspend(struct umc_receiver *x, enum umc_reason reason, uint8_t *out,
                         size_t out_size, size_t *ret_len);

void umc_receiver_set_reject_limit(struct umc_receiver *x, uint32_t limit);
/* Install gate (copied; NULL removes it). Only before the first frame. */
void umc_receiver_set_gate(struct umc_receiver *x, const struct umc_receiver_gate *gate);
/*
 * The signed manifest that came in MANIFEST frames (borrowed from x, valid
 * until umc_receiver_free()); -ENODATA when none came complete.
 */
int umc_receiver_manifest(const struct umc_receiver *x, struct umc_signed_manifest *ret);
void umc_receiver_get_rejects(const struct umc_receiver *x, struct umc_xfer_rejects *ret);

int umc_receiver_step(struct umc_receiver *x, size_t budget, uint8_t *out, size_t out_size,
                      size_t *ret_len, enum umc_reason *ret_reason);

/*
 * The verdict on a forwarded image (state FORWARDING): reason OK puts
 * FEEDBACK COMPLETE in out and returns 0 (state DONE); any other reason
 * puts FEEDBACK STOP(reason) there and returns -EBADMSG (state FAILED; the
 * sink is not aborted, it decided). -ESHUTDOWN in any other state.
 */
int umc_receiver_finish(struct umc_receiver *x, enum umc_reason reason, uint8_t *out,
                        size_t out_size, size_t *ret_len);

enum umc_receiver_state umc_receiver_state(const struct umc_receiver *x);
enum umc_reason umc_receiver_reason(const struct umc_receiver *x);
uint64_t umc_receiver_offset(const struct umc_receiver *x);
/* End of the last verified checkpoint (the resume point while none verified yet). */
uint64_t umc_receiver_checkpoint_offset(const struct umc_receiver *x);
const struct umc_msg_begin *umc_receiver_begin_info(const struct umc_receiver *x);
/* The TRANSPORT frame's content (image hash and length), valid from state CHECKING on. */
const struct umc_msg_transport *umc_receiver_transport_info(const struct umc_receiver *x);
