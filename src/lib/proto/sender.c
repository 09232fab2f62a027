/* SPDX-License-Identifier: MIT */
#include "umc/xfer.h"

#include "umc/fs.h"
#include "umc/util.h"

struct umc_sender {
        struct umc_sender_params p;
        struct umc_session *session;
        struct umc_rotation *rotation;
        enum umc_sender_state state;
        enum umc_reason reason;

        uint64_t resume;         /* where the receiver resumed */
        uint64_t next_off;       /* next data byte to send */
        uint64_t acked;          /* end of the last acknowledged checkpoint */
        uint64_t range_start;    /* first byte since the last VERIFY */
        uint32_t range_frames;
        uint32_t checkpoint;     /* number of the last VERIFY sent */
        uint32_t acked_checkpoint;
        uint64_t outstanding_end;
        uint64_t last_time;
        struct umc_hash digest;
        bool digest_open;
        struct umc_xfer_rejects rejects;
        uint32_t manifest_off;   /* MANIFEST bytes sent before BEGIN */
        uint8_t *body;           /* UMC_XFER_BODY_MAX bytes */
};

int umc_sender_new(const struct umc_sender_params *p, struct umc_session *session,
                   struct umc_rotation *rotation, struct umc_sender **ret) {
        struct umc_sender *x;

        if (!p || !session || !rotation || p->image_fd < 0 || p->image_len == 0 ||
            p->image_len > UMC_XFER_MAX_IMAGE || p->chunk_len == 0 ||
            p->chunk_len > UMC_MSG_DATA_MAX ||
            (p->hash_alg != UMC_HASH_SHA256 && p->hash_alg != UMC_HASH_SM3) ||
            (p->manifest && !umc_signed_manifest_valid(p->manifest)))
                return -EINVAL;
        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        x->body = malloc(UMC_XFER_BODY_MAX);
        if (!x->body) {
                free(x);
                return -ENOMEM;
        }
        x->p = *p;
        if (x->p.verify_every == 0)
                x->p.verify_every = umc_xfer_auto_verify_every(p->image_len, p->chunk_len);
        x->session = session;
        x->rotation = rotation;
        x->rejects.limit = UMC_XFER_REJECT_LIMIT_DEFAULT;
        x->state = UMC_SENDER_BEGIN;
        *ret = x;
        return 0;
}

void umc_sender_free(struct umc_sender *x) {
        if (!x)
                return;
        if (x->digest_open)
                umc_hash_done(&x->digest);
        free(x->body);
        free(x);
}

static int sender_fail(struct umc_sender *x, enum umc_reason reason, int r) {
        if (x->state != UMC_SENDER_FAILED) {
                x->state = UMC_SENDER_FAILED;
                x->reason = reason;
        }
        return r;
}

void umc_sender_abort(struct umc_sender *x, enum umc_reason reason) {
        if (x->state != UMC_SENDER_DONE)
                (void)sender_fail(x, reason, 0);
}

static int sender_seal(struct umc_sender *x, enum umc_frame_type type, size_t body_len,
                       uint8_t *out, size_t out_size, size_t *ret_len) {
        int r = umc_session_seal(x->session, type, x->body, body_len, out, out_size, ret_len);
        if (r == -ERANGE)
                return sender_fail(x, UMC_REASON_KEYS_EXHAUSTED, r);
        if (r < 0)
                return sender_fail(x, UMC_REASON_INTERNAL, r);
        return 0;
}

/* The first key of the transfer; the master may have sealed a STATUS_QUERY with it already. */
static int sender_first_key(struct umc_sender *x) {
        int r = umc_session_tx_key_id(x->session) == x->rotation->key_id
                        ? 0
                        : umc_session_set_tx_key(x->session, x->rotation->key_id,
                                                 umc_rotation_suite(x->rotation));
        return r < 0 ? sender_fail(x, UMC_REASON_INTERNAL, r) : 0;
}

/*
 * The next MANIFEST chunk. Its body stays within a DATA body of chunk_len
 * (8 + chunk_len bytes: its header is 5 bytes longer than DATA's), so
 * whatever fits the channel for DATA fits here; only a chunk_len below 6
 * gives a 14-byte body, as a chunk carries at least one byte.
 */
static int sender_manifest(struct umc_sender *x, uint8_t *out, size_t out_size,
                           size_t *ret_len) {
        size_t room = x->p.chunk_len > 5 ? x->p.chunk_len - 5 : 1, n = 0;
        int len, r;

        r = sender_first_key(x);
        if (r < 0)
                return r;
        len = umc_mfmsg_encode(x->p.manifest, x->manifest_off, room, x->body, UMC_XFER_BODY_MAX,
                               &n);
        if (len < 0)
                return sender_fail(x, UMC_REASON_INTERNAL, len);
        r = sender_seal(x, UMC_FRAME_MANIFEST, (size_t)len, out, out_size, ret_len);
        if (r < 0)
                return r;
        x->manifest_off += (uint32_t)n;
        return 0;
}

static bool manifest_pending(const struct umc_sender *x) {
        return x->p.manifest &&
               x->manifest_off < x->p.manifest->manifest_len + x->p.manifest->sig_len;
}

static int sender_begin(struct umc_sender *x, uint8_t *out, size_t out_size, size_t *ret_len) {
        struct umc_msg_begin b = {
                .image_len = x->p.image_len,
                .hash_alg = x->p.hash_alg,
                .verify_every = x->p.verify_every,
                .chunk_len = x->p.chunk_len,
        };
        int n, r;

        if (manifest_pending(x))
                return sender_manifest(x, out, out_size, ret_len);
        memcpy(b.image_id, x->p.image_id, sizeof(b.image_id));
        memcpy(b.version, x->p.version, sizeof(b.version));
        r = sender_first_key(x);
        if (r < 0)
                return r;
        n = umc_msg_begin_encode(&b, x->body, UMC_XFER_BODY_MAX);
        if (n < 0)
                return sender_fail(x, UMC_REASON_INTERNAL, n);
        r = sender_seal(x, UMC_FRAME_BEGIN, (size_t)n, out, out_size, ret_len);
        if (r < 0)
                return r;
        x->state = UMC_SENDER_WAIT_RESUME;
        return 0;
}

static int sender_rotate(struct umc_sender *x, uint64_t now, enum umc_load_class load,
                         enum umc_rotation_cause *ret_cause) {
        enum umc_rotation_cause cause = UMC_ROTATE_NONE;
        int r;

        /* -ERANGE: the last key ID is in use and a rotation is due; anything else is ours. */
        r = umc_rotation_step(x->rotation, now, load, &cause);
        if (r == -ERANGE)
                return sender_fail(x, UMC_REASON_KEYS_EXHAUSTED, r);
        if (r < 0)
                return sender_fail(x, UMC_REASON_INTERNAL, r);
        if (cause != UMC_ROTATE_NONE) {
                r = umc_session_set_tx_key(x->session, x->rotation->key_id,
                                           umc_rotation_suite(x->rotation));
                if (r < 0)
                        return sender_fail(x, UMC_REASON_INTERNAL, r);
        }
        if (ret_cause)
                *ret_cause = cause;
        return 0;
}

static int sender_data(struct umc_sender *x, uint8_t *out, size_t out_size, size_t *ret_len) {
        uint64_t left = x->p.image_len - x->next_off;
        size_t n = left < x->p.chunk_len ? (size_t)left : x->p.chunk_len;
        uint8_t *data = x->body + UMC_MSG_DATA_HEADER_LEN;
        struct umc_msg_data d = { .offset = x->next_off, .data = data, .data_len = n };
        int len, r;

        r = umc_fs_pread_exact(x->p.image_fd, data, n, (off_t)x->next_off);
        if (r < 0)
                return sender_fail(x, UMC_REASON_IO_ERROR, -EIO);
        if (!x->digest_open) {
                r = umc_msg_verify_digest_init(&x->digest, x->p.hash_alg);
                if (r < 0)
                        return sender_fail(x, UMC_REASON_INTERNAL, r);
                x->digest_open = true;
        }
        r = umc_msg_verify_digest_update(&x->digest, data, n);
        if (r < 0)
                return sender_fail(x, UMC_REASON_INTERNAL, r);
        /* Encoding in place: the data already sits right after the 8-byte offset. */
        len = umc_msg_data_encode(&d, x->body, UMC_XFER_BODY_MAX);
        if (len < 0)
                return sender_fail(x, UMC_REASON_INTERNAL, len);
        r = sender_seal(x, UMC_FRAME_DATA, (size_t)len, out, out_size, ret_len);
        if (r < 0)
                return r;
        x->next_off += n;
        x->range_frames++;
        return 0;
}

static int sender_verify(struct umc_sender *x, uint64_t now, uint8_t *out, size_t out_size,
                         size_t *ret_len) {
        struct umc_msg_verify v = {
                /* Strictly increasing even if the clock is coarse: the receiver checks it. */
                .time_usec = now > x->last_time ? now : x->last_time + 1,
                .checkpoint = x->checkpoint + 1,
                .start = x->range_start,
                .end = x->next_off,
                .n_frames = x->range_frames,
        };
        int n, r;

        r = umc_msg_verify_digest_final(&x->digest, v.time_usec, v.checkpoint, v.start, v.end,
                                        v.digest);
        x->digest_open = false;
        if (r < 0)
                return sender_fail(x, UMC_REASON_INTERNAL, r);
        n = umc_msg_verify_encode(&v, x->body, UMC_XFER_BODY_MAX);
        if (n < 0)
                return sender_fail(x, UMC_REASON_INTERNAL, n);
        r = sender_seal(x, UMC_FRAME_VERIFY, (size_t)n, out, out_size, ret_len);
        if (r < 0)
                return r;
        x->last_time = v.time_usec;
        x->checkpoint = v.checkpoint;
        x->outstanding_end = v.end;
        x->range_start = v.end;
        x->range_frames = 0;
        return 0;
}

static int sender_transport(struct umc_sender *x, uint8_t *out, size_t out_size,
                            size_t *ret_len) {
        struct umc_msg_transport t = {
                .hash_alg = x->p.hash_alg,
                .key_id = umc_session_tx_key_id(x->session),
                .image_len = x->p.image_len,
        };
        int n, r;

        memcpy(t.hash, x->p.image_hash, sizeof(t.hash));
        n = umc_msg_transport_encode(&t, x->body, UMC_XFER_BODY_MAX);
        if (n < 0)
                return sender_fail(x, UMC_REASON_INTERNAL, n);
        r = sender_seal(x, UMC_FRAME_TRANSPORT, (size_t)n, out, out_size, ret_len);
        if (r < 0)
                return r;
        x->state = UMC_SENDER_WAIT_COMPLETE;
        return 0;
}

static bool verify_outstanding(const struct umc_sender *x) {
        return x->checkpoint > x->acked_checkpoint;
}

int umc_sender_next(struct umc_sender *x, uint64_t now, enum umc_load_class load, uint8_t *out,
                    size_t out_size, size_t *ret_len, enum umc_rotation_cause *ret_cause) {
        bool range_full, at_end;
        int r;

        if (ret_cause)
                *ret_cause = UMC_ROTATE_NONE;
        switch (x->state) {
        case UMC_SENDER_BEGIN:
                return sender_begin(x, out, out_size, ret_len);
        case UMC_SENDER_WAIT_RESUME:
        case UMC_SENDER_WAIT_COMPLETE:
                return -EAGAIN;
        case UMC_SENDER_DONE:
        case UMC_SENDER_FAILED:
                return -ESHUTDOWN;
        case UMC_SENDER_STREAM:
        case UMC_SENDER_WAIT_ACKS:
                break;
        }

        at_end = x->next_off == x->p.image_len;
        range_full = x->range_frames == x->p.verify_every || (at_end && x->range_frames > 0);
        /* One VERIFY in flight at most: the next one waits for the previous FEEDBACK. */
        if ((range_full || at_end) && verify_outstanding(x)) {
                if (at_end && !range_full)
                        x->state = UMC_SENDER_WAIT_ACKS;
                return -EAGAIN;
        }

        r = sender_rotate(x, now, load, ret_cause);
        if (r < 0)
                return r;
        if (range_full)
                return sender_verify(x, now, out, out_size, ret_len);
        if (at_end)
                return sender_transport(x, out, out_size, ret_len);
        return sender_data(x, out, out_size, ret_len);
}

static int sender_feedback(struct umc_sender *x, const struct umc_msg_feedback *fb,
                           enum umc_reason *ret_reason) {
        bool ok;

        if (fb->code == UMC_FEEDBACK_STOP) {
                *ret_reason = fb->reason;
                return sender_fail(x, fb->reason, -ECANCELED);
        }
        switch (x->state) {
        case UMC_SENDER_WAIT_RESUME:
                ok = fb->code == UMC_FEEDBACK_CONTINUE && fb->checkpoint == 0 &&
                     fb->offset <= x->p.image_len;
                if (ok) {
                        x->resume = x->next_off = x->acked = x->range_start = fb->offset;
                        x->state = UMC_SENDER_STREAM;
                        umc_xfer_rejects_new_window(&x->rejects);
                }
                break;
        case UMC_SENDER_STREAM:
        case UMC_SENDER_WAIT_ACKS:
                ok = fb->code == UMC_FEEDBACK_CONTINUE && verify_outstanding(x) &&
                     fb->checkpoint == x->acked_checkpoint + 1 && fb->offset == x->outstanding_end;
                if (ok) {
                        x->acked_checkpoint = fb->checkpoint;
                        x->acked = fb->offset;
                        x->state = UMC_SENDER_STREAM;
                        umc_xfer_rejects_new_window(&x->rejects);
                }
                break;
        case UMC_SENDER_WAIT_COMPLETE:
                ok = fb->code == UMC_FEEDBACK_COMPLETE && fb->offset == x->p.image_len;
                if (ok) {
                        x->acked = fb->offset;
                        x->state = UMC_SENDER_DONE;
                }
                break;
        default:
                ok = false;
        }
        if (!ok) {
                *ret_reason = UMC_REASON_OUT_OF_ORDER;
                return sender_fail(x, UMC_REASON_OUT_OF_ORDER, -EBADMSG);
        }
        return 0;
}

int umc_sender_input(struct umc_sender *x, const uint8_t *frame, size_t len,
                     enum umc_reason *ret_reason) {
        enum umc_reason why = UMC_REASON_OK;
        struct umc_frame_header h;
        size_t body_len;
        int r;

        if (!ret_reason)
                ret_reason = &why;
        *ret_reason = UMC_REASON_OK;
        if (x->state == UMC_SENDER_DONE || x->state == UMC_SENDER_FAILED)
                return -ESHUTDOWN;

        r = umc_session_open(x->session, frame, len, &h, x->body, UMC_XFER_BODY_MAX, &body_len,
                             ret_reason);
        if (r == -EBADMSG)
                return umc_sender_reject(x, *ret_reason);
        if (r < 0)
                return sender_fail(x, UMC_REASON_INTERNAL, r);

        if (h.type == UMC_FRAME_ALARM) {
                struct umc_msg_alarm a;
                if (umc_msg_alarm_decode(x->body, body_len, &a) < 0) {
                        *ret_reason = UMC_REASON_BODY_MALFORMED;
                        return sender_fail(x, *ret_reason, -EBADMSG);
                }
                *ret_reason = a.reason;
                return sender_fail(x, a.reason, -ECANCELED);
        }
        if (h.type == UMC_FRAME_FEEDBACK) {
                struct umc_msg_feedback fb;
                if (umc_msg_feedback_decode(x->body, body_len, &fb) < 0) {
                        *ret_reason = UMC_REASON_BODY_MALFORMED;
                        return sender_fail(x, *ret_reason, -EBADMSG);
                }
                return sender_feedback(x, &fb, ret_reason);
        }
        *ret_reason = UMC_REASON_FRAME_BAD_TYPE;
        return sender_fail(x, *ret_reason, -EBADMSG);
}

int umc_sender_reject(struct umc_sender *x, enum umc_reason why) {
        if (x->state == UMC_SENDER_DONE || x->state == UMC_SENDER_FAILED)
                return -ESHUTDOWN;
        if (umc_xfer_rejects_add(&x->rejects, why))
                return sender_fail(x, UMC_REASON_REJECTED_FRAMES, -EKEYREJECTED);
        return UMC_XFER_DROPPED;
}

void umc_sender_set_reject_limit(struct umc_sender *x, uint32_t limit) {
        x->rejects.limit = limit;
}

void umc_sender_get_rejects(const struct umc_sender *x, struct umc_xfer_rejects *ret) {
        *ret = x->rejects;
}

enum umc_sender_state umc_sender_state(const struct umc_sender *x) { return x->state; }
enum umc_reason umc_sender_reason(const struct umc_sender *x) { return x->reason; }
uint64_t umc_sender_bytes_sent(const struct umc_sender *x) { return x->next_off; }
uint64_t umc_sender_bytes_acked(const struct umc_sender *x) { return x->acked; }
uint64_t umc_sender_resume_offset(const struct umc_sender *x) { return x->resume; }
uint32_t umc_sender_verify_every(const struct umc_sender *x) { return x->p.verify_every; }
