/* SPDX-License-Identifier: MIT */
#include "umc/xfer.h"

#include "umc/util.h"

/* ---- shared ---- */

/* Largest body either side seals or opens: a DATA frame of the protocol ceiling. */
#define BODY_MAX UMC_FRAME_MAX_PAYLOAD

uint32_t umc_xfer_auto_verify_every(uint64_t image_len, uint32_t chunk_len) {
        uint64_t frames, n;

        if (chunk_len == 0)
                return 4;
        frames = (image_len + chunk_len - 1) / chunk_len;
        n = (frames + 63) / 64;
        if (n < 4)
                n = 4;
        if (n > 256)
                n = 256;
        return (uint32_t)n;
}

/* ---- sender ---- */

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
        uint8_t *body;           /* BODY_MAX bytes */
};

/*
 * Count one frame that failed to open (or a PDU that was no frame at all).
 * True when the window's count has passed the limit.
 */
static bool rejects_add(struct umc_xfer_rejects *c, enum umc_reason why) {
        c->total++;
        if (c->window < UINT32_MAX)
                c->window++;
        c->last = why;
        return c->window > c->limit;
}

/* Authenticated progress (a checkpoint, the resume point): a new window. */
static void rejects_new_window(struct umc_xfer_rejects *c) {
        c->window = 0;
}

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
        x->body = malloc(BODY_MAX);
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
 * (8 + chunk_len bytes), so whatever fits the channel for DATA fits here.
 */
static int sender_manifest(struct umc_sender *x, uint8_t *out, size_t out_size,
                           size_t *ret_len) {
        size_t room = x->p.chunk_len > 5 ? x->p.chunk_len - 5 : 1, n = 0;
        int len, r;

        r = sender_first_key(x);
        if (r < 0)
                return r;
        len = umc_mfmsg_encode(x->p.manifest, x->manifest_off, room, x->body, BODY_MAX, &n);
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
        n = umc_msg_begin_encode(&b, x->body, BODY_MAX);
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

        r = umc_rotation_step(x->rotation, now, load, &cause);
        if (r < 0)
                return sender_fail(x, UMC_REASON_KEYS_EXHAUSTED, r);
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

static int read_exact(int fd, uint8_t *buf, size_t len, uint64_t off) {
        size_t got = 0;

        while (got < len) {
                ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO; /* the image shrank under us */
                got += (size_t)n;
        }
        return 0;
}

static int sender_data(struct umc_sender *x, uint8_t *out, size_t out_size, size_t *ret_len) {
        uint64_t left = x->p.image_len - x->next_off;
        size_t n = left < x->p.chunk_len ? (size_t)left : x->p.chunk_len;
        uint8_t *data = x->body + UMC_MSG_DATA_HEADER_LEN;
        struct umc_msg_data d = { .offset = x->next_off, .data = data, .data_len = n };
        int len, r;

        r = read_exact(x->p.image_fd, data, n, x->next_off);
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
        len = umc_msg_data_encode(&d, x->body, BODY_MAX);
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
        n = umc_msg_verify_encode(&v, x->body, BODY_MAX);
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
        n = umc_msg_transport_encode(&t, x->body, BODY_MAX);
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
                        rejects_new_window(&x->rejects);
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
                        rejects_new_window(&x->rejects);
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

        r = umc_session_open(x->session, frame, len, &h, x->body, BODY_MAX, &body_len,
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
        if (rejects_add(&x->rejects, why))
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

/* ---- receiver ---- */

#define READBACK_BUF (64 * 1024)

struct umc_receiver {
        struct umc_session *session;
        struct umc_sink sink;
        uint64_t max_image_len;
        enum umc_receiver_state state;
        enum umc_reason reason;

        struct umc_msg_begin begin;
        uint64_t offset;          /* next byte expected */
        uint64_t range_start;
        uint32_t range_frames;
        uint32_t checkpoint;
        uint64_t last_time;
        struct umc_hash digest;
        bool digest_open;

        struct umc_msg_transport transport;
        struct umc_hash whole;
        bool whole_open;
        uint64_t check_off;
        struct umc_xfer_rejects rejects;

        struct umc_receiver_gate gate; /* checks against the signed manifest, when set */
        bool has_gate;
        struct umc_mfasm mf;           /* MANIFEST frames received before BEGIN */
        struct umc_hash sha;           /* gate: SHA-256 of the image when hash_alg is another */
        bool sha_open;

        uint8_t *body;            /* BODY_MAX bytes */
        uint8_t *readbuf;         /* READBACK_BUF bytes */
};

int umc_receiver_new(struct umc_session *session, const struct umc_sink *sink,
                     uint64_t max_image_len, struct umc_receiver **ret) {
        struct umc_receiver *x;

        if (!session || !sink || !sink->begin || !sink->write || !sink->checkpoint ||
            !sink->read || !sink->commit || !sink->abort || max_image_len == 0)
                return -EINVAL;
        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        x->body = malloc(BODY_MAX);
        x->readbuf = malloc(READBACK_BUF);
        if (!x->body || !x->readbuf) {
                umc_receiver_free(x);
                return -ENOMEM;
        }
        x->session = session;
        x->sink = *sink;
        x->max_image_len = max_image_len < UMC_XFER_MAX_IMAGE ? max_image_len : UMC_XFER_MAX_IMAGE;
        x->rejects.limit = UMC_XFER_REJECT_LIMIT_DEFAULT;
        x->state = UMC_RECEIVER_WAIT_BEGIN;
        *ret = x;
        return 0;
}

void umc_receiver_free(struct umc_receiver *x) {
        if (!x)
                return;
        if (x->digest_open)
                umc_hash_done(&x->digest);
        if (x->whole_open)
                umc_hash_done(&x->whole);
        if (x->sha_open)
                umc_hash_done(&x->sha);
        umc_mfasm_reset(&x->mf);
        free(x->body);
        free(x->readbuf);
        free(x);
}

/* Seal a FEEDBACK with the key the sender uses now (mirrored key IDs). */
static int receiver_reply(struct umc_receiver *x, enum umc_msg_feedback_code code,
                          enum umc_reason reason, uint8_t *out, size_t out_size,
                          size_t *ret_len) {
        struct umc_msg_feedback fb = {
                .code = code,
                .reason = reason,
                .checkpoint = x->checkpoint,
                .offset = code == UMC_FEEDBACK_STOP ? x->range_start : x->offset,
        };
        uint8_t body[UMC_MSG_FEEDBACK_LEN];
        int n;

        *ret_len = 0;
        if (umc_session_tx_key_id(x->session) == 0)
                return -ENOKEY; /* nothing authenticated yet: no key to answer with */
        n = umc_msg_feedback_encode(&fb, body, sizeof(body));
        if (n < 0)
                return n;
        return umc_session_seal(x->session, UMC_FRAME_FEEDBACK, body, (size_t)n, out, out_size,
                                ret_len);
}

static int receiver_fail(struct umc_receiver *x, enum umc_reason reason, int r, uint8_t *out,
                         size_t out_size, size_t *ret_len, enum umc_reason *ret_reason) {
        bool had_image = x->state != UMC_RECEIVER_WAIT_BEGIN;

        if (x->state != UMC_RECEIVER_FAILED && x->state != UMC_RECEIVER_DONE) {
                x->state = UMC_RECEIVER_FAILED;
                x->reason = reason;
                if (had_image)
                        x->sink.abort(x->sink.userdata);
        }
        (void)receiver_reply(x, UMC_FEEDBACK_STOP, reason, out, out_size, ret_len);
        *ret_reason = reason;
        return r;
}

/*
 * End the session without a verdict on the image: what a checkpoint made
 * durable stays (the sink cuts the rest), so the next session resumes
 * there. For input that proves nothing against the image: frames that
 * failed to open, a gap left by a lost or removed frame.
 */
static int receiver_suspend(struct umc_receiver *x, enum umc_reason reason, int r, uint8_t *out,
                            size_t out_size, size_t *ret_len, enum umc_reason *ret_reason) {
        bool had_image = x->state != UMC_RECEIVER_WAIT_BEGIN;

        if (x->state != UMC_RECEIVER_FAILED && x->state != UMC_RECEIVER_DONE) {
                x->state = UMC_RECEIVER_FAILED;
                x->reason = reason;
                if (had_image && x->sink.rewind)
                        x->sink.rewind(x->sink.userdata);
        }
        (void)receiver_reply(x, UMC_FEEDBACK_STOP, reason, out, out_size, ret_len);
        *ret_reason = reason;
        return r;
}

static enum umc_reason io_reason(int r) {
        return r == -ENOSPC || r == -EDQUOT ? UMC_REASON_NO_SPACE : UMC_REASON_IO_ERROR;
}

/* The gate's verdict on BEGIN and the manifest that came before it (OK without a gate). */
static enum umc_reason receiver_gate_begin(struct umc_receiver *x, const struct umc_msg_begin *b) {
        struct umc_signed_manifest m;
        bool have = umc_mfasm_view(&x->mf, &m) >= 0;

        if (!x->has_gate)
                return UMC_REASON_OK;
        return x->gate.begin(x->gate.userdata, b, have ? &m : NULL);
}

/* A MANIFEST frame: only before BEGIN, in order, no reply. */
static int receiver_manifest(struct umc_receiver *x, size_t body_len, uint8_t *out,
                             size_t out_size, size_t *ret_len, enum umc_reason *ret_reason) {
        enum umc_reason why = UMC_REASON_BODY_MALFORMED;
        struct umc_mfmsg m;
        int r;

        if (umc_mfmsg_decode(x->body, body_len, &m) < 0)
                return receiver_fail(x, why, -EBADMSG, out, out_size, ret_len, ret_reason);
        r = umc_mfasm_add(&x->mf, &m, &why);
        if (r == -EBADMSG && why == UMC_REASON_OUT_OF_ORDER)
                return receiver_suspend(x, why, r, out, out_size, ret_len, ret_reason);
        if (r == -EBADMSG)
                return receiver_fail(x, why, r, out, out_size, ret_len, ret_reason);
        if (r < 0)
                return receiver_fail(x, UMC_REASON_INTERNAL, r, out, out_size, ret_len,
                                     ret_reason);
        *ret_len = 0;
        return 0;
}

static int receiver_begin(struct umc_receiver *x, size_t body_len, uint8_t *out,
                          size_t out_size, size_t *ret_len, enum umc_reason *ret_reason) {
        enum umc_reason verdict;
        struct umc_msg_begin b;
        uint64_t resume = 0;
        int r;

        if (umc_msg_begin_decode(x->body, body_len, &b) < 0)
                return receiver_fail(x, UMC_REASON_BODY_MALFORMED, -EBADMSG, out, out_size,
                                     ret_len, ret_reason);
        if (b.image_len > x->max_image_len)
                return receiver_fail(x, UMC_REASON_IMAGE_TOO_LARGE, -EBADMSG, out, out_size,
                                     ret_len, ret_reason);
        /* A MANIFEST chunk went missing: nothing was written yet, nothing to keep. */
        if (umc_mfasm_started(&x->mf) && !umc_mfasm_complete(&x->mf))
                return receiver_suspend(x, UMC_REASON_OUT_OF_ORDER, -EBADMSG, out, out_size,
                                        ret_len, ret_reason);
        /* The signed manifest's checks come before the sink sees anything. */
        verdict = receiver_gate_begin(x, &b);
        if (verdict != UMC_REASON_OK)
                return receiver_fail(x, verdict, -EBADMSG, out, out_size, ret_len, ret_reason);
        x->begin = b;
        r = x->sink.begin(x->sink.userdata, b.image_id, b.version, b.image_len, &resume);
        if (r < 0)
                return receiver_fail(x, io_reason(r), r, out, out_size, ret_len, ret_reason);
        if (resume > b.image_len)
                return receiver_fail(x, UMC_REASON_INTERNAL, -EIO, out, out_size, ret_len,
                                     ret_reason);
        x->state = UMC_RECEIVER_STREAM;
        x->offset = x->range_start = resume;
        rejects_new_window(&x->rejects);
        return receiver_reply(x, UMC_FEEDBACK_CONTINUE, UMC_REASON_OK, out, out_size, ret_len);
}

static int receiver_data(struct umc_receiver *x, size_t body_len, uint8_t *out,
                         size_t out_size, size_t *ret_len, enum umc_reason *ret_reason) {
        struct umc_msg_data d;
        int r;

        if (umc_msg_data_decode(x->body, body_len, &d) < 0 || d.data_len > x->begin.chunk_len)
                return receiver_fail(x, UMC_REASON_BODY_MALFORMED, -EBADMSG, out, out_size,
                                     ret_len, ret_reason);
        /*
         * A dropped, reordered or duplicated chunk shows up here. A frame
         * that was lost or refused leaves this gap too, so it costs the
         * session, not the verified part of the image.
         */
        if (d.offset != x->offset || x->range_frames >= x->begin.verify_every)
                return receiver_suspend(x, UMC_REASON_OUT_OF_ORDER, -EBADMSG, out, out_size,
                                        ret_len, ret_reason);
        if (d.data_len > x->begin.image_len - x->offset)
                return receiver_fail(x, UMC_REASON_IMAGE_TOO_LARGE, -EBADMSG, out, out_size,
                                     ret_len, ret_reason);
        if (!x->digest_open) {
                r = umc_msg_verify_digest_init(&x->digest, x->begin.hash_alg);
                if (r < 0)
                        return receiver_fail(x, UMC_REASON_INTERNAL, r, out, out_size, ret_len,
                                             ret_reason);
                x->digest_open = true;
        }
        r = umc_msg_verify_digest_update(&x->digest, d.data, d.data_len);
        if (r < 0)
                return receiver_fail(x, UMC_REASON_INTERNAL, r, out, out_size, ret_len,
                                     ret_reason);
        r = x->sink.write(x->sink.userdata, d.offset, d.data, d.data_len);
        if (r < 0)
                return receiver_fail(x, io_reason(r), r, out, out_size, ret_len, ret_reason);
        x->offset += d.data_len;
        x->range_frames++;
        *ret_len = 0;
        return 0;
}

static int receiver_verify(struct umc_receiver *x, size_t body_len, uint8_t *out,
                           size_t out_size, size_t *ret_len, enum umc_reason *ret_reason) {
        uint8_t digest[UMC_HASH_LEN];
        struct umc_msg_verify v;
        int r;

        if (umc_msg_verify_decode(x->body, body_len, &v) < 0)
                return receiver_fail(x, UMC_REASON_BODY_MALFORMED, -EBADMSG, out, out_size,
                                     ret_len, ret_reason);
        /* A range that is not what arrived: frames went missing (as for DATA above). */
        if (v.checkpoint != x->checkpoint + 1 || v.start != x->range_start ||
            v.end != x->offset || v.n_frames != x->range_frames || !x->digest_open)
                return receiver_suspend(x, UMC_REASON_OUT_OF_ORDER, -EBADMSG, out, out_size,
                                        ret_len, ret_reason);
        /* Check data is bound to the master's clock: it must move forward. */
        if (x->checkpoint > 0 && v.time_usec <= x->last_time)
                return receiver_fail(x, UMC_REASON_VERIFY_TIME, -EBADMSG, out, out_size,
                                     ret_len, ret_reason);
        r = umc_msg_verify_digest_final(&x->digest, v.time_usec, v.checkpoint, v.start, v.end,
                                        digest);
        x->digest_open = false;
        if (r < 0)
                return receiver_fail(x, UMC_REASON_INTERNAL, r, out, out_size, ret_len,
                                     ret_reason);
        if (!umc_memeq_ct(digest, v.digest, sizeof(digest)))
                return receiver_fail(x, UMC_REASON_VERIFY_MISMATCH, -EBADMSG, out, out_size,
                                     ret_len, ret_reason);
        r = x->sink.checkpoint(x->sink.userdata);
        if (r < 0)
                return receiver_fail(x, io_reason(r), r, out, out_size, ret_len, ret_reason);
        x->checkpoint = v.checkpoint;
        x->last_time = v.time_usec;
        x->range_start = x->offset;
        x->range_frames = 0;
        rejects_new_window(&x->rejects);
        return receiver_reply(x, UMC_FEEDBACK_CONTINUE, UMC_REASON_OK, out, out_size, ret_len);
}

static int receiver_transport(struct umc_receiver *x, const struct umc_frame_header *h,
                              size_t body_len, uint8_t *out, size_t out_size, size_t *ret_len,
                              enum umc_reason *ret_reason) {
        struct umc_msg_transport t;
        int r;

        if (umc_msg_transport_decode(x->body, body_len, &t) < 0)
                return receiver_fail(x, UMC_REASON_BODY_MALFORMED, -EBADMSG, out, out_size,
                                     ret_len, ret_reason);
        /* Everything received and every byte covered by a verified checkpoint. */
        if (x->offset != x->begin.image_len || x->range_frames != 0)
                return receiver_fail(x, UMC_REASON_OUT_OF_ORDER, -EBADMSG, out, out_size,
                                     ret_len, ret_reason);
        if (t.image_len != x->begin.image_len || t.hash_alg != x->begin.hash_alg ||
            t.key_id != h->key_id)
                return receiver_fail(x, UMC_REASON_BODY_MALFORMED, -EBADMSG, out, out_size,
                                     ret_len, ret_reason);
        r = umc_hash_init(&x->whole, t.hash_alg);
        if (r < 0)
                return receiver_fail(x, UMC_REASON_INTERNAL, r, out, out_size, ret_len,
                                     ret_reason);
        x->whole_open = true;
        /* The gate compares the signed SHA-256, whatever the transfer hashes with. */
        if (x->has_gate && t.hash_alg != UMC_HASH_SHA256) {
                r = umc_hash_init(&x->sha, UMC_HASH_SHA256);
                if (r < 0)
                        return receiver_fail(x, UMC_REASON_INTERNAL, r, out, out_size, ret_len,
                                             ret_reason);
                x->sha_open = true;
        }
        x->transport = t;
        x->check_off = 0;
        x->state = UMC_RECEIVER_CHECKING;
        *ret_len = 0;
        return -EINPROGRESS;
}

int umc_receiver_input(struct umc_receiver *x, const uint8_t *frame, size_t len, uint64_t now,
                       uint8_t *out, size_t out_size, size_t *ret_len,
                       enum umc_reason *ret_reason) {
        enum umc_reason why = UMC_REASON_OK;
        struct umc_frame_header h;
        size_t body_len;
        int r;

        *ret_len = 0;
        if (!ret_reason)
                ret_reason = &why;
        *ret_reason = UMC_REASON_OK;
        if (x->state != UMC_RECEIVER_WAIT_BEGIN && x->state != UMC_RECEIVER_STREAM &&
            x->state != UMC_RECEIVER_FORWARDING)
                return -ESHUTDOWN;

        r = umc_session_open(x->session, frame, len, &h, x->body, BODY_MAX, &body_len,
                             ret_reason);
        if (r == -EBADMSG)
                return umc_receiver_reject(x, *ret_reason, out, out_size, ret_len, ret_reason);
        if (r < 0)
                return receiver_fail(x, UMC_REASON_INTERNAL, r, out, out_size, ret_len,
                                     ret_reason);

        /* Answer with the key the sender uses now: key IDs only move forward. */
        if (h.key_id > umc_session_tx_key_id(x->session)) {
                r = umc_session_set_tx_key(x->session, h.key_id, h.suite);
                if (r < 0)
                        return receiver_fail(x, UMC_REASON_INTERNAL, r, out, out_size,
                                             ret_len, ret_reason);
        }

        if (h.type == UMC_FRAME_BEGIN && x->state == UMC_RECEIVER_WAIT_BEGIN)
                return receiver_begin(x, body_len, out, out_size, ret_len, ret_reason);
        if (h.type == UMC_FRAME_MANIFEST && x->state == UMC_RECEIVER_WAIT_BEGIN)
                return receiver_manifest(x, body_len, out, out_size, ret_len, ret_reason);
        if (x->state == UMC_RECEIVER_STREAM) {
                if (h.type == UMC_FRAME_DATA)
                        return receiver_data(x, body_len, out, out_size, ret_len, ret_reason);
                if (h.type == UMC_FRAME_VERIFY)
                        return receiver_verify(x, body_len, out, out_size, ret_len, ret_reason);
                if (h.type == UMC_FRAME_TRANSPORT)
                        return receiver_transport(x, &h, body_len, out, out_size, ret_len,
                                                  ret_reason);
        }
        if (h.type == UMC_FRAME_ALARM) {
                struct umc_msg_alarm a;
                enum umc_reason reason = umc_msg_alarm_decode(x->body, body_len, &a) < 0 ?
                                                 UMC_REASON_BODY_MALFORMED : a.reason;
                return receiver_fail(x, reason, -ECANCELED, out, out_size, ret_len, ret_reason);
        }
        return receiver_fail(x, UMC_REASON_OUT_OF_ORDER, -EBADMSG, out, out_size, ret_len,
                             ret_reason);
}

/*
 * The gate's verdict on the image as stored (OK without a gate): hash is
 * the transfer's whole-image hash, which is the SHA-256 when hash_alg is.
 * A reason, or a negative errno when the SHA-256 cannot be finished.
 */
static int receiver_gate_image(struct umc_receiver *x, const uint8_t hash[UMC_HASH_LEN]) {
        uint8_t sha[UMC_HASH_LEN];
        int r;

        if (!x->has_gate)
                return UMC_REASON_OK;
        if (!x->sha_open)
                return x->gate.image(x->gate.userdata, hash);
        r = umc_hash_final(&x->sha, sha);
        x->sha_open = false;
        return r < 0 ? r : (int)x->gate.image(x->gate.userdata, sha);
}

int umc_receiver_step(struct umc_receiver *x, size_t budget, uint8_t *out, size_t out_size,
                      size_t *ret_len, enum umc_reason *ret_reason) {
        uint8_t hash[UMC_HASH_LEN];
        enum umc_reason why;
        int r;

        *ret_len = 0;
        if (!ret_reason)
                ret_reason = &why;
        if (x->state != UMC_RECEIVER_CHECKING)
                return -ESHUTDOWN;

        /* Hash what is on disk, not what went by: this also catches a bad write. */
        while (budget > 0 && x->check_off < x->transport.image_len) {
                uint64_t left = x->transport.image_len - x->check_off;
                size_t n = left < READBACK_BUF ? (size_t)left : READBACK_BUF;
                if (n > budget)
                        n = budget;
                r = x->sink.read(x->sink.userdata, x->check_off, x->readbuf, n);
                if (r >= 0)
                        r = umc_hash_update(&x->whole, x->readbuf, n);
                if (r >= 0 && x->sha_open)
                        r = umc_hash_update(&x->sha, x->readbuf, n);
                if (r < 0)
                        return receiver_fail(x, UMC_REASON_IO_ERROR, r, out, out_size, ret_len,
                                             ret_reason);
                x->check_off += n;
                budget -= n;
        }
        if (x->check_off < x->transport.image_len)
                return 1;

        r = umc_hash_final(&x->whole, hash);
        x->whole_open = false;
        if (r < 0)
                return receiver_fail(x, UMC_REASON_INTERNAL, r, out, out_size, ret_len,
                                     ret_reason);
        if (!umc_memeq_ct(hash, x->transport.hash, sizeof(hash)))
                return receiver_fail(x, UMC_REASON_IMAGE_HASH_MISMATCH, -EBADMSG, out, out_size,
                                     ret_len, ret_reason);
        r = receiver_gate_image(x, hash);
        if (r < 0)
                return receiver_fail(x, UMC_REASON_INTERNAL, r, out, out_size, ret_len,
                                     ret_reason);
        if (r != UMC_REASON_OK)
                return receiver_fail(x, (enum umc_reason)r, -EBADMSG, out, out_size, ret_len,
                                     ret_reason);
        r = x->sink.commit(x->sink.userdata);
        if (r == -EINPROGRESS) {
                x->state = UMC_RECEIVER_FORWARDING;
                *ret_reason = UMC_REASON_OK;
                return r;
        }
        if (r < 0)
                return receiver_fail(x, io_reason(r), r, out, out_size, ret_len, ret_reason);
        x->state = UMC_RECEIVER_DONE;
        *ret_reason = UMC_REASON_OK;
        return receiver_reply(x, UMC_FEEDBACK_COMPLETE, UMC_REASON_OK, out, out_size, ret_len);
}

int umc_receiver_finish(struct umc_receiver *x, enum umc_reason reason, uint8_t *out,
                        size_t out_size, size_t *ret_len) {
        int r;

        *ret_len = 0;
        if (x->state != UMC_RECEIVER_FORWARDING)
                return -ESHUTDOWN;
        if (reason == UMC_REASON_OK) {
                x->state = UMC_RECEIVER_DONE;
                return receiver_reply(x, UMC_FEEDBACK_COMPLETE, UMC_REASON_OK, out, out_size,
                                      ret_len);
        }
        x->state = UMC_RECEIVER_FAILED;
        x->reason = reason;
        r = receiver_reply(x, UMC_FEEDBACK_STOP, reason, out, out_size, ret_len);
        return r < 0 ? r : -EBADMSG;
}

int umc_receiver_reject(struct umc_receiver *x, enum umc_reason why, uint8_t *out,
                        size_t out_size, size_t *ret_len, enum umc_reason *ret_reason) {
        enum umc_reason dummy;

        *ret_len = 0;
        if (!ret_reason)
                ret_reason = &dummy;
        if (x->state != UMC_RECEIVER_WAIT_BEGIN && x->state != UMC_RECEIVER_STREAM &&
            x->state != UMC_RECEIVER_FORWARDING)
                return -ESHUTDOWN;
        *ret_reason = why;
        if (!rejects_add(&x->rejects, why))
                return UMC_XFER_DROPPED;
        return receiver_suspend(x, UMC_REASON_REJECTED_FRAMES, -EKEYREJECTED, out, out_size,
                                ret_len, ret_reason);
}

int umc_receiver_suspend(struct umc_receiver *x, enum umc_reason reason, uint8_t *out,
                         size_t out_size, size_t *ret_len) {
        enum umc_reason dummy;

        *ret_len = 0;
        if (x->state != UMC_RECEIVER_WAIT_BEGIN && x->state != UMC_RECEIVER_STREAM &&
            x->state != UMC_RECEIVER_FORWARDING)
                return -ESHUTDOWN;
        return receiver_suspend(x, reason, 0, out, out_size, ret_len, &dummy);
}

void umc_receiver_set_reject_limit(struct umc_receiver *x, uint32_t limit) {
        x->rejects.limit = limit;
}

void umc_receiver_get_rejects(const struct umc_receiver *x, struct umc_xfer_rejects *ret) {
        *ret = x->rejects;
}

void umc_receiver_set_gate(struct umc_receiver *x, const struct umc_receiver_gate *gate) {
        x->has_gate = gate && gate->begin && gate->image;
        x->gate = x->has_gate ? *gate : (struct umc_receiver_gate){};
}

int umc_receiver_manifest(const struct umc_receiver *x, struct umc_signed_manifest *ret) {
        return umc_mfasm_view(&x->mf, ret);
}

enum umc_receiver_state umc_receiver_state(const struct umc_receiver *x) { return x->state; }
enum umc_reason umc_receiver_reason(const struct umc_receiver *x) { return x->reason; }
uint64_t umc_receiver_offset(const struct umc_receiver *x) { return x->offset; }
uint64_t umc_receiver_checkpoint_offset(const struct umc_receiver *x) { return x->range_start; }
const struct umc_msg_begin *umc_receiver_begin_info(const struct umc_receiver *x) {
        return &x->begin;
}

const struct umc_msg_transport *umc_receiver_transport_info(const struct umc_receiver *x) {
        return &x->transport;
}
