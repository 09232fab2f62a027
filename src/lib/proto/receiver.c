/* SPDX-License-Identifier: MIT */
#include "umc/xfer.h"

#include "umc/util.h"

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

        uint8_t *body;            /* UMC_XFER_BODY_MAX bytes */
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
        x->body = malloc(UMC_XFER_BODY_MAX);
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
 * there. For input that proves nothing against the verified bytes: frames
 * that failed to open, a gap left by a lost or removed frame, and an
 * authenticated frame that is malformed or out of turn (a confused or
 * hostile master; each checkpoint's digest already vouched for what is
 * kept). Only receiver_fail() drops the image: an ALARM, or a check of
 * the image itself that failed.
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
                return receiver_suspend(x, why, -EBADMSG, out, out_size, ret_len, ret_reason);
        r = umc_mfasm_add(&x->mf, &m, &why);
        if (r == -EBADMSG)
                return receiver_suspend(x, why, r, out, out_size, ret_len, ret_reason);
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
                return receiver_suspend(x, UMC_REASON_BODY_MALFORMED, -EBADMSG, out, out_size,
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
        umc_xfer_rejects_new_window(&x->rejects);
        return receiver_reply(x, UMC_FEEDBACK_CONTINUE, UMC_REASON_OK, out, out_size, ret_len);
}

static int receiver_data(struct umc_receiver *x, size_t body_len, uint8_t *out,
                         size_t out_size, size_t *ret_len, enum umc_reason *ret_reason) {
        struct umc_msg_data d;
        int r;

        if (umc_msg_data_decode(x->body, body_len, &d) < 0 || d.data_len > x->begin.chunk_len)
                return receiver_suspend(x, UMC_REASON_BODY_MALFORMED, -EBADMSG, out, out_size,
                                        ret_len, ret_reason);
        /*
         * A dropped, reordered or duplicated chunk shows up here. A frame
         * that was lost or refused leaves this gap too, so it costs the
         * session, not the verified part of the image.
         */
        if (d.offset != x->offset || x->range_frames >= x->begin.verify_every)
                return receiver_suspend(x, UMC_REASON_OUT_OF_ORDER, -EBADMSG, out, out_size,
                                        ret_len, ret_reason);
        /* More than BEGIN announced: nothing of it is written. */
        if (d.data_len > x->begin.image_len - x->offset)
                return receiver_suspend(x, UMC_REASON_IMAGE_TOO_LARGE, -EBADMSG, out, out_size,
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
                return receiver_suspend(x, UMC_REASON_BODY_MALFORMED, -EBADMSG, out, out_size,
                                        ret_len, ret_reason);
        /* A range that is not what arrived: frames went missing (as for DATA above). */
        if (v.checkpoint != x->checkpoint + 1 || v.start != x->range_start ||
            v.end != x->offset || v.n_frames != x->range_frames || !x->digest_open)
                return receiver_suspend(x, UMC_REASON_OUT_OF_ORDER, -EBADMSG, out, out_size,
                                        ret_len, ret_reason);
        /*
         * Check data is bound to the master's clock: it must move forward.
         * A clock that does not says nothing against the ranges verified
         * before; this range is not, and the rewind cuts it.
         */
        if (x->checkpoint > 0 && v.time_usec <= x->last_time)
                return receiver_suspend(x, UMC_REASON_VERIFY_TIME, -EBADMSG, out, out_size,
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
        umc_xfer_rejects_new_window(&x->rejects);
        return receiver_reply(x, UMC_FEEDBACK_CONTINUE, UMC_REASON_OK, out, out_size, ret_len);
}

static int receiver_transport(struct umc_receiver *x, const struct umc_frame_header *h,
                              size_t body_len, uint8_t *out, size_t out_size, size_t *ret_len,
                              enum umc_reason *ret_reason) {
        struct umc_msg_transport t;
        int r;

        if (umc_msg_transport_decode(x->body, body_len, &t) < 0)
                return receiver_suspend(x, UMC_REASON_BODY_MALFORMED, -EBADMSG, out, out_size,
                                        ret_len, ret_reason);
        /* Everything received and every byte covered by a verified checkpoint. */
        if (x->offset != x->begin.image_len || x->range_frames != 0)
                return receiver_suspend(x, UMC_REASON_OUT_OF_ORDER, -EBADMSG, out, out_size,
                                        ret_len, ret_reason);
        /*
         * Fields that contradict BEGIN or the header: a bad TRANSPORT, not a
         * bad image. The whole-image hash, after a TRANSPORT that fits, is
         * what judges the stored bytes.
         */
        if (t.image_len != x->begin.image_len || t.hash_alg != x->begin.hash_alg ||
            t.key_id != h->key_id)
                return receiver_suspend(x, UMC_REASON_BODY_MALFORMED, -EBADMSG, out, out_size,
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

/*
 * An ALARM under the session key is the master's word: the transfer ends
 * and the image goes (a cancel means no resume). One that does not decode
 * is no such word: the session ends, the checkpoints stay.
 */
static int receiver_alarm(struct umc_receiver *x, size_t body_len, uint8_t *out,
                          size_t out_size, size_t *ret_len, enum umc_reason *ret_reason) {
        struct umc_msg_alarm a;

        if (umc_msg_alarm_decode(x->body, body_len, &a) < 0)
                return receiver_suspend(x, UMC_REASON_BODY_MALFORMED, -EBADMSG, out, out_size,
                                        ret_len, ret_reason);
        return receiver_fail(x, a.reason, -ECANCELED, out, out_size, ret_len, ret_reason);
}

/* A master's frame in the wrong state is out of order; any other type is no master's. */
static enum umc_reason out_of_turn_reason(uint8_t type) {
        switch (type) {
        case UMC_FRAME_BEGIN:
        case UMC_FRAME_MANIFEST:
        case UMC_FRAME_DATA:
        case UMC_FRAME_VERIFY:
        case UMC_FRAME_TRANSPORT:
        case UMC_FRAME_STATUS_QUERY:
                return UMC_REASON_OUT_OF_ORDER;
        default:
                return UMC_REASON_FRAME_BAD_TYPE;
        }
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

        r = umc_session_open(x->session, frame, len, &h, x->body, UMC_XFER_BODY_MAX, &body_len,
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
        if (h.type == UMC_FRAME_ALARM)
                return receiver_alarm(x, body_len, out, out_size, ret_len, ret_reason);
        return receiver_suspend(x, out_of_turn_reason(h.type), -EBADMSG, out, out_size, ret_len,
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
        if (!umc_xfer_rejects_add(&x->rejects, why))
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
