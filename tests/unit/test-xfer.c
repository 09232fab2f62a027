/* SPDX-License-Identifier: MIT */
/*
 * Transfer engines back to back in memory: the sender streams a real image
 * file, the receiver writes into an in-memory sink that models durable
 * storage (only checkpointed bytes survive a "crash"). Frames that fail to
 * open are dropped and counted and change nothing; past the bound, or at
 * a gap, the session ends with what its checkpoints made durable kept.
 * Nothing is ever committed that did not verify.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test-helpers.h"

#include <stdio.h>
#include <stdlib.h>

#include "umc/auth.h"
#include "umc/slot.h"
#include "umc/xfer.h"
#include "umc/util.h"

#define ALL_SUITES ((1u << UMC_SUITE_AES_128_GCM) | (1u << UMC_SUITE_AES_256_GCM) | \
                    (1u << UMC_SUITE_CHACHA20_POLY1305) | (1u << UMC_SUITE_SM4_CTR_HMAC_SM3))
#define FRAME_MAX (UMC_FRAME_HEADER_LEN + UMC_FRAME_MAX_PAYLOAD)

/* ---- a sink with "durable" and "volatile" parts ---- */

struct memsink {
        uint8_t *buf;          /* bytes written */
        uint64_t len, cap;
        uint64_t durable;      /* bytes checkpointed */
        uint8_t image_id[32];
        bool have_image;
        bool committed, aborted, rewound;
        unsigned checkpoints;
        bool corrupt_readback;
        bool forwards;         /* commit passes the image on: -EINPROGRESS (the gateway) */
};

static int ms_begin(void *ud, const uint8_t id[32], const char *version, uint64_t image_len,
                    uint64_t *ret) {
        struct memsink *m = ud;

        if (m->have_image && memcmp(m->image_id, id, 32) == 0 && m->cap == image_len) {
                m->len = m->durable; /* un-checkpointed bytes are lost */
        } else {
                free(m->buf);
                m->buf = calloc(1, image_len);
                assert_non_null(m->buf);
                m->cap = image_len;
                m->len = m->durable = 0;
                memcpy(m->image_id, id, 32);
                m->have_image = true;
        }
        m->committed = m->aborted = m->rewound = false;
        *ret = m->len;
        return 0;
}

static int ms_write(void *ud, uint64_t off, const void *data, size_t len) {
        struct memsink *m = ud;
        assert_int_equal(off, m->len);
        assert_true(off + len <= m->cap);
        memcpy(m->buf + off, data, len);
        m->len += len;
        return 0;
}

static int ms_checkpoint(void *ud) {
        struct memsink *m = ud;
        m->durable = m->len;
        m->checkpoints++;
        return 0;
}

static int ms_read(void *ud, uint64_t off, void *buf, size_t len) {
        struct memsink *m = ud;
        memcpy(buf, m->buf + off, len);
        if (m->corrupt_readback && off == 0)
                ((uint8_t *)buf)[0] ^= 0xff; /* a bit that rotted on the way to flash */
        return 0;
}

static int ms_commit(void *ud) {
        struct memsink *m = ud;

        m->committed = true;
        return m->forwards ? -EINPROGRESS : 0;
}

static void ms_rewind(void *ud) {
        struct memsink *m = ud;
        m->rewound = true;
        m->len = m->durable; /* what the slot store's rewind does to image.part */
}

static void ms_abort(void *ud) {
        struct memsink *m = ud;
        m->aborted = true;
        m->have_image = false;
        m->len = m->durable = 0;
}

/* ---- the agent's slot store as the sink: what is on disk after a session ---- */

static int ss_begin(void *ud, const uint8_t id[32], const char *version, uint64_t image_len,
                    uint64_t *ret) {
        return umc_slots_begin(ud, id, version, image_len, ret);
}

static int ss_write(void *ud, uint64_t off, const void *data, size_t len) {
        return umc_slots_write(ud, off, data, len);
}

static int ss_checkpoint(void *ud) {
        return umc_slots_checkpoint(ud);
}

static int ss_read(void *ud, uint64_t off, void *buf, size_t len) {
        int fd = umc_slots_partial_fd(ud);
        return fd < 0 ? fd : umc_fs_pread_exact(fd, buf, len, (off_t)off);
}

static int ss_commit(void *ud) {
        int r = umc_slots_commit(ud);
        return r < 0 ? r : umc_slots_activate(ud);
}

static void ss_rewind(void *ud) {
        assert_int_equal(umc_slots_rewind(ud), 0);
}

static void ss_abort(void *ud) {
        assert_int_equal(umc_slots_abort(ud), 0);
}

/* ---- fixtures ---- */

struct rig {
        int fd;
        char path[64];
        uint8_t *image;
        size_t image_len;
        uint8_t hash[32];
        struct umc_session *master, *ecu;
        struct umc_rotation rot;
        struct umc_sender *tx;
        struct umc_receiver *rx;
        struct memsink sink;
        struct umc_sink ops;
        uint64_t now;
        unsigned rotations;
        uint16_t max_key_id_seen;
        /* Forged frames fed to the receiver before frame forge_at, forge_n of them ... */
        unsigned forge_at, forge_n;
        /* ... and one before every forge_every-th frame from forge_at on (0: none). */
        unsigned forge_every;
        unsigned forged;      /* how many went in */
        int forge_last_r;     /* the receiver's answer to the last one */
        int forge_sender_r;   /* the sender's to the receiver's reply, if any */
        enum umc_reason forge_sender_reason;
        const struct umc_signed_manifest *manifest; /* sent before BEGIN when set */
        enum umc_hash_alg alg;                      /* 0: SHA-256 */
        struct umc_slots *slots;  /* the sink when set, instead of the memsink */
        /* From frame exhaust_at on (0: never) the rotation holds the last key ID. */
        unsigned exhaust_at;
};

static void make_image(struct rig *g, size_t len) {
        g->image = malloc(len);
        assert_non_null(g->image);
        fill_image(g->image, len, 1);
        g->image_len = len;
        strcpy(g->path, "/tmp/umc-test-xfer-XXXXXX");
        g->fd = mkstemp(g->path);
        write_image(g->fd, g->image, len, g->hash);
}

static void sessions_new(struct rig *g, uint64_t session_id) {
        struct umc_session_params p = {
                .session_id = session_id, .ecu_id = 0x10, .allowed_suites = ALL_SUITES,
                .replay_window = 64, .max_payload = 8192,
        };
        memset(p.master_key, 0x42, 32);
        memset(p.salt, (int)session_id, 32);
        p.tx_dir = UMC_DIR_MASTER_TO_ECU;
        assert_int_equal(umc_session_new(&p, &g->master), 0);
        p.tx_dir = UMC_DIR_ECU_TO_MASTER;
        assert_int_equal(umc_session_new(&p, &g->ecu), 0);
}

static void engines_new(struct rig *g, uint64_t session_id, uint64_t interval_usec) {
        struct umc_rotation_cfg rc;
        struct umc_sender_params sp = {
                .image_fd = g->fd, .image_len = g->image_len,
                .hash_alg = g->alg ? g->alg : UMC_HASH_SHA256,
                .chunk_len = 4000, .verify_every = 8, .manifest = g->manifest,
        };

        sessions_new(g, session_id);
        umc_rotation_cfg_default(&rc);
        rc.interval_usec = interval_usec;
        assert_int_equal(umc_rotation_init(&g->rot, &rc, g->now), 0);
        memcpy(sp.image_hash, g->hash, 32);
        memset(sp.image_id, 0xab, 32);
        strcpy(sp.version, "2.0.1");
        assert_int_equal(umc_sender_new(&sp, g->master, &g->rot, &g->tx), 0);
        g->ops = (struct umc_sink){ ms_begin, ms_write, ms_checkpoint, ms_read, ms_commit,
                                    ms_abort, &g->sink, ms_rewind };
        if (g->slots)
                g->ops = (struct umc_sink){ ss_begin, ss_write, ss_checkpoint, ss_read, ss_commit,
                                            ss_abort, g->slots, ss_rewind };
        assert_int_equal(umc_receiver_new(g->ecu, &g->ops, 1u << 30, &g->rx), 0);
}

static void engines_free(struct rig *g) {
        umc_sender_free(g->tx);
        umc_receiver_free(g->rx);
        umc_session_free(g->master);
        umc_session_free(g->ecu);
        g->tx = NULL;
        g->rx = NULL;
        g->master = g->ecu = NULL;
}

static void rig_free(struct rig *g) {
        engines_free(g);
        free(g->sink.buf);
        free(g->image);
        close(g->fd);
        unlink(g->path);
}

/* What the man in the middle does to the n-th frame from the sender. */
enum attack { NONE, FLIP, DROP, REPLAY, REWRITE_KEY_ID, CRASH };

struct run_result {
        int next_r; /* umc_sender_next()'s failure, when it was expected (exhaust_at) */
        int sender_r, receiver_r;
        enum umc_reason sender_reason, receiver_reason;
        unsigned frames;
};

/*
 * A forged frame as anyone on the bus can make one: the clear header of a
 * real frame copied, junk for a payload; every third one also names another
 * session. Returns the receiver's answer; a reply is passed to the sender.
 */
static int forge(struct rig *g, const uint8_t *real, size_t len, enum umc_reason *why) {
        static uint8_t fake[FRAME_MAX], reply[FRAME_MAX];
        size_t rlen = 0;
        int r;

        memcpy(fake, real, len);
        for (size_t i = UMC_FRAME_HEADER_LEN; i < len; i++)
                fake[i] = (uint8_t)(i * 7 + g->forged);
        if (g->forged % 3 == 2)
                fake[15] ^= 0x55; /* session_id */
        g->forged++;
        r = umc_receiver_input(g->rx, fake, len, g->now, reply, sizeof(reply), &rlen, why);
        if (rlen > 0)
                g->forge_sender_r = umc_sender_input(g->tx, reply, rlen, &g->forge_sender_reason);
        return r;
}

/* Feed the forged frames the rig asks for before frame n; false when the receiver gave up. */
static bool forge_before(struct rig *g, unsigned n, const uint8_t *real, size_t len) {
        enum umc_reason why;
        unsigned count = 0;

        if (g->forge_n && n == g->forge_at)
                count = g->forge_n;
        if (g->forge_every && n >= g->forge_at && (n - g->forge_at) % g->forge_every == 0)
                count++;
        for (unsigned i = 0; i < count; i++) {
                g->forge_last_r = forge(g, real, len, &why);
                if (g->forge_last_r != UMC_XFER_DROPPED)
                        return false;
        }
        return true;
}

/* Drive both engines until done, failed, or the attack's crash point. */
static struct run_result run(struct rig *g, enum attack attack, unsigned at,
                             enum umc_load_class (*load)(unsigned frame)) {
        static uint8_t frame[FRAME_MAX], prev[FRAME_MAX], reply[FRAME_MAX];
        struct run_result res = {};
        size_t len = 0, prev_len = 0, rlen;

        for (unsigned n = 0; n < 100000; n++) {
                enum umc_rotation_cause cause;
                enum umc_load_class cls = load ? load(n) : UMC_LOAD_NORMAL;
                int r;

                g->now += 1000; /* 1 ms per frame on the fake clock */
                /*
                 * Skip the 65533 rotations in between (test-rotation steps
                 * through them): the policy now says the last key ID is in use.
                 */
                if (g->exhaust_at && n == g->exhaust_at)
                        g->rot.key_id = UINT16_MAX;
                len = 0;
                r = umc_sender_next(g->tx, g->now, cls, frame, sizeof(frame), &len, &cause);
                if (r == -ESHUTDOWN)
                        break;
                if (r < 0 && g->exhaust_at) {
                        assert_int_equal(len, 0); /* no frame at all: no ALARM either */
                        res.next_r = r;
                        break;
                }
                assert_int_equal(r, 0); /* the receiver answers synchronously: never -EAGAIN here */
                if (cause != UMC_ROTATE_NONE)
                        g->rotations++;
                if (umc_get_be16(frame + 6) > g->max_key_id_seen)
                        g->max_key_id_seen = umc_get_be16(frame + 6);
                res.frames++;

                if (n == at && attack == CRASH)
                        return res;
                if (n == at && attack == DROP)
                        goto keep;
                if (n == at && attack == FLIP)
                        frame[len - 20] ^= 0x04;
                if (n == at && attack == REWRITE_KEY_ID)
                        frame[7] ^= 0x01;
                if (!forge_before(g, n, frame, len)) {
                        res.receiver_r = g->forge_last_r;
                        res.sender_r = g->forge_sender_r;
                        res.sender_reason = g->forge_sender_reason;
                        break;
                }

                r = umc_receiver_input(g->rx, frame, len, g->now, reply, sizeof(reply), &rlen,
                                       &res.receiver_reason);
                if (r == -EINPROGRESS) {
                        while ((r = umc_receiver_step(g->rx, 100000, reply, sizeof(reply), &rlen,
                                                      &res.receiver_reason)) == 1)
                                ;
                }
                if (n == at && attack == REPLAY && r == 0 && prev_len) {
                        r = umc_receiver_input(g->rx, prev, prev_len, g->now, reply,
                                               sizeof(reply), &rlen, &res.receiver_reason);
                }
                res.receiver_r = r;
                if (rlen > 0) {
                        int s = umc_sender_input(g->tx, reply, rlen, &res.sender_reason);
                        res.sender_r = s;
                        if (s < 0)
                                break;
                }
                if (r < 0)
                        break;
        keep:
                memcpy(prev, frame, len);
                prev_len = len;
        }
        return res;
}

/*
 * After engines_free(): a new session (session_id) resumes at durable, the
 * sink's checkpoint, and the image arrives whole.
 */
static struct run_result resume_to_the_end(struct rig *g, uint64_t session_id, uint64_t durable) {
        struct run_result res;

        engines_new(g, session_id, 3600 * USEC_PER_SEC);
        res = run(g, NONE, 0, NULL);
        assert_int_equal(res.sender_r, 0);
        assert_int_equal(umc_sender_resume_offset(g->tx), durable);
        assert_true(g->sink.committed);
        assert_memory_equal(g->sink.buf, g->image, g->image_len);
        return res;
}

static void test_image_arrives_byte_identical_with_rotations(void **state) {
        struct rig g = {};

        make_image(&g, 300000);
        engines_new(&g, 1, 20000); /* rotate every 20 ms of fake time = every ~20 frames */
        struct run_result res = run(&g, NONE, 0, NULL);
        assert_int_equal(res.sender_r, 0);
        assert_int_equal(umc_sender_state(g.tx), UMC_SENDER_DONE);
        assert_int_equal(umc_receiver_state(g.rx), UMC_RECEIVER_DONE);
        assert_true(g.sink.committed);
        assert_int_equal(g.sink.len, g.image_len);
        assert_memory_equal(g.sink.buf, g.image, g.image_len);
        assert_true(g.rotations >= 2);
        assert_int_equal(g.max_key_id_seen, 1 + g.rotations);
        /* 75 DATA frames at 8 per VERIFY: 10 checkpoints. */
        assert_int_equal(g.sink.checkpoints, 10);
        assert_int_equal(umc_sender_bytes_acked(g.tx), g.image_len);
        rig_free(&g);
}

static enum umc_load_class jump_at_30(unsigned n) {
        return n >= 30 && n < 33 ? UMC_LOAD_MUTATION : UMC_LOAD_NORMAL;
}

static void test_load_jump_rotates_at_once(void **state) {
        struct rig g = {};

        make_image(&g, 200000);
        engines_new(&g, 2, 3600 * USEC_PER_SEC); /* no scheduled rotation */
        struct run_result res = run(&g, NONE, 0, jump_at_30);
        assert_int_equal(res.sender_r, 0);
        assert_int_equal(umc_sender_state(g.tx), UMC_SENDER_DONE);
        assert_int_equal(g.rotations, 1); /* one edge, not one per abnormal frame */
        assert_int_equal(g.max_key_id_seen, 2);
        assert_memory_equal(g.sink.buf, g.image, g.image_len);
        rig_free(&g);
}

static void check_stopped(struct rig *g, struct run_result res, enum umc_reason want) {
        assert_int_equal(res.receiver_reason, want);
        assert_int_equal(res.sender_r, -ECANCELED);
        assert_int_equal(res.sender_reason, want);
        assert_int_equal(umc_sender_state(g->tx), UMC_SENDER_FAILED);
        assert_int_equal(umc_receiver_state(g->rx), UMC_RECEIVER_FAILED);
        assert_true(g->sink.aborted);
        assert_false(g->sink.committed);
}

/* The session ended without a verdict: the sink keeps its checkpoints, nothing more. */
static void check_suspended(struct rig *g, struct run_result res, enum umc_reason want) {
        assert_int_equal(res.sender_r, -ECANCELED);
        assert_int_equal(res.sender_reason, want);
        assert_int_equal(umc_sender_state(g->tx), UMC_SENDER_FAILED);
        assert_int_equal(umc_receiver_state(g->rx), UMC_RECEIVER_FAILED);
        assert_int_equal(umc_receiver_reason(g->rx), want);
        assert_false(g->sink.aborted);
        assert_false(g->sink.committed);
        assert_true(g->sink.rewound);
        assert_true(g->sink.durable > 0);
        assert_int_equal(g->sink.len, g->sink.durable);
        assert_int_equal(umc_receiver_checkpoint_offset(g->rx), g->sink.durable);
        assert_memory_equal(g->sink.buf, g->image, g->sink.durable);
}

static void check_rejects(const struct rig *g, uint64_t total, enum umc_reason last) {
        struct umc_xfer_rejects rj;

        umc_receiver_get_rejects(g->rx, &rj);
        assert_int_equal(rj.total, total);
        assert_int_equal(rj.last, last);
}

static void test_flipped_byte_is_dropped_and_the_gap_keeps_the_checkpoint(void **state) {
        struct rig g = {};
        make_image(&g, 100000);
        engines_new(&g, 3, 3600 * USEC_PER_SEC);
        /* Frame 12 (a DATA) fails its tag: dropped; frame 13 then leaves a gap. */
        check_suspended(&g, run(&g, FLIP, 12, NULL), UMC_REASON_OUT_OF_ORDER);
        check_rejects(&g, 1, UMC_REASON_TAG_MISMATCH);
        assert_int_equal(g.sink.durable, 8 * 4000);
        rig_free(&g);
}

static void test_dropped_frame_ends_session_keeping_the_checkpoint(void **state) {
        struct rig g = {};
        make_image(&g, 100000);
        engines_new(&g, 4, 3600 * USEC_PER_SEC);
        /* Frame 5 is within the first range: nothing verified yet, 0 kept. */
        g.forge_at = 0;
        struct run_result res = run(&g, DROP, 14, NULL);
        check_suspended(&g, res, UMC_REASON_OUT_OF_ORDER);
        check_rejects(&g, 0, UMC_REASON_OK);
        rig_free(&g);
}

static void test_replayed_frame_is_dropped_and_transfer_completes(void **state) {
        struct rig g = {};
        make_image(&g, 100000);
        engines_new(&g, 5, 3600 * USEC_PER_SEC);
        struct run_result res = run(&g, REPLAY, 6, NULL);
        assert_int_equal(res.sender_r, 0);
        assert_int_equal(umc_sender_state(g.tx), UMC_SENDER_DONE);
        assert_true(g.sink.committed);
        assert_memory_equal(g.sink.buf, g.image, g.image_len);
        check_rejects(&g, 1, UMC_REASON_REPLAYED);
        rig_free(&g);
}

static void test_rewritten_key_id_is_dropped_and_the_gap_keeps_the_checkpoint(void **state) {
        struct rig g = {};
        make_image(&g, 100000);
        engines_new(&g, 6, 3600 * USEC_PER_SEC);
        struct run_result res = run(&g, REWRITE_KEY_ID, 17, NULL);
        /* Key ID 1 -> 0 is unknown to the receiver: dropped, then the gap. */
        check_suspended(&g, res, UMC_REASON_OUT_OF_ORDER);
        check_rejects(&g, 1, UMC_REASON_UNKNOWN_KEY_ID);
        rig_free(&g);
}

static void test_forged_frames_mid_transfer_are_dropped_counted_and_change_nothing(void **state) {
        struct rig g = {};
        struct umc_xfer_rejects rj;

        make_image(&g, 300000);
        engines_new(&g, 12, 20000); /* with rotations: forged key IDs of every generation */
        g.forge_at = 11;
        g.forge_every = 2; /* one before every second frame: ~5 per checkpoint window */
        struct run_result res = run(&g, NONE, 0, NULL);
        assert_int_equal(res.sender_r, 0);
        assert_int_equal(umc_sender_state(g.tx), UMC_SENDER_DONE);
        assert_int_equal(umc_receiver_state(g.rx), UMC_RECEIVER_DONE);
        assert_true(g.sink.committed);
        assert_false(g.sink.aborted);
        assert_int_equal(g.sink.len, g.image_len);
        assert_memory_equal(g.sink.buf, g.image, g.image_len);
        assert_true(g.forged > 30);
        umc_receiver_get_rejects(g.rx, &rj);
        assert_int_equal(rj.total, g.forged);
        assert_true(rj.last == UMC_REASON_TAG_MISMATCH || rj.last == UMC_REASON_WRONG_SESSION);
        assert_int_equal(rj.limit, UMC_XFER_REJECT_LIMIT_DEFAULT);
        /* Every checkpoint verified: 75 DATA frames at 8 per VERIFY. */
        assert_int_equal(g.sink.checkpoints, 10);
        rig_free(&g);
}

static void test_forged_frames_past_the_limit_end_session_and_resume_from_checkpoint(
        void **state) {
        struct rig g = {};
        struct umc_xfer_rejects rj;
        uint64_t durable;

        make_image(&g, 300000);
        engines_new(&g, 13, 3600 * USEC_PER_SEC);
        umc_receiver_set_reject_limit(g.rx, 5);
        g.forge_at = 34; /* after 3 checkpoints, with DATA of the 4th range written */
        g.forge_n = 6;
        struct run_result res = run(&g, NONE, 0, NULL);
        assert_int_equal(res.receiver_r, -EKEYREJECTED);
        assert_int_equal(g.forged, 6); /* 5 dropped, the 6th ended it */
        check_suspended(&g, res, UMC_REASON_REJECTED_FRAMES);
        umc_receiver_get_rejects(g.rx, &rj);
        assert_int_equal(rj.total, 6);
        assert_int_equal(rj.window, 6);
        durable = g.sink.durable;
        assert_int_equal(durable, 3 * 8 * 4000);

        /* The next session resumes there, and the image arrives whole. */
        engines_free(&g);
        g.forge_n = 0;
        (void)resume_to_the_end(&g, 14, durable);
        rig_free(&g);
}

static void test_reject_window_restarts_at_every_checkpoint(void **state) {
        struct rig g = {};
        struct umc_xfer_rejects rj;

        make_image(&g, 200000);
        engines_new(&g, 15, 3600 * USEC_PER_SEC);
        umc_receiver_set_reject_limit(g.rx, 2);
        g.forge_at = 1;
        g.forge_every = 5; /* 2 per 10-frame window: at the limit, never past it */
        struct run_result res = run(&g, NONE, 0, NULL);
        assert_int_equal(res.sender_r, 0);
        assert_true(g.sink.committed);
        assert_memory_equal(g.sink.buf, g.image, g.image_len);
        umc_receiver_get_rejects(g.rx, &rj);
        assert_true(rj.total > 2 * rj.limit);
        rig_free(&g);
}

static void test_sender_drops_forged_feedback_and_stops_past_the_limit(void **state) {
        static uint8_t frame[FRAME_MAX], reply[FRAME_MAX], fake[FRAME_MAX];
        enum umc_reason why = UMC_REASON_OK;
        struct umc_xfer_rejects rj;
        struct rig g = {};
        size_t len, rlen;

        make_image(&g, 200000);
        engines_new(&g, 16, 3600 * USEC_PER_SEC);
        umc_sender_set_reject_limit(g.tx, 3);
        assert_int_equal(umc_sender_next(g.tx, 1, UMC_LOAD_NORMAL, frame, sizeof(frame), &len, NULL), 0);
        assert_int_equal(umc_receiver_input(g.rx, frame, len, 1, reply, sizeof(reply), &rlen, NULL), 0);
        /* A forged resume answer ("start at the end") before the real one: dropped. */
        memcpy(fake, reply, rlen);
        fake[rlen - 1] ^= 0x80;
        assert_int_equal(umc_sender_input(g.tx, fake, rlen, &why), UMC_XFER_DROPPED);
        assert_int_equal(why, UMC_REASON_TAG_MISMATCH);
        assert_int_equal(umc_sender_state(g.tx), UMC_SENDER_WAIT_RESUME);
        /* A PDU that was no frame counts the same. */
        assert_int_equal(umc_sender_reject(g.tx, UMC_REASON_FRAME_BAD_MAGIC), UMC_XFER_DROPPED);
        assert_int_equal(umc_sender_input(g.tx, reply, rlen, &why), 0);
        assert_int_equal(umc_sender_state(g.tx), UMC_SENDER_STREAM);
        umc_sender_get_rejects(g.tx, &rj);
        assert_int_equal(rj.total, 2);
        assert_int_equal(rj.window, 0); /* the resume point was progress */
        /* Four replays of that answer: three dropped, the fourth ends the delivery. */
        for (int i = 0; i < 3; i++)
                assert_int_equal(umc_sender_input(g.tx, reply, rlen, &why), UMC_XFER_DROPPED);
        assert_int_equal(why, UMC_REASON_REPLAYED);
        assert_int_equal(umc_sender_input(g.tx, reply, rlen, &why), -EKEYREJECTED);
        assert_int_equal(umc_sender_state(g.tx), UMC_SENDER_FAILED);
        assert_int_equal(umc_sender_reason(g.tx), UMC_REASON_REJECTED_FRAMES);
        rig_free(&g);
}

static void test_wrong_image_hash_is_never_committed(void **state) {
        struct rig g = {};
        make_image(&g, 50000);
        g.hash[3] ^= 1; /* the manifest says something else than the file holds */
        engines_new(&g, 7, 3600 * USEC_PER_SEC);
        check_stopped(&g, run(&g, NONE, 0, NULL), UMC_REASON_IMAGE_HASH_MISMATCH);
        rig_free(&g);
}

/* ---- the signed manifest before BEGIN, and the gate ---- */

struct gate_probe {
        enum umc_reason begin_verdict, image_verdict;
        unsigned begins, images;
        bool had_manifest;
        uint8_t *manifest, *sig;   /* what the gate was given */
        size_t manifest_len, sig_len;
        uint8_t sha[32];
        bool sink_began;           /* the sink had seen BEGIN when the gate ran */
        struct memsink *sink;
};

static enum umc_reason gp_begin(void *ud, const struct umc_msg_begin *b,
                                const struct umc_signed_manifest *m) {
        struct gate_probe *p = ud;

        p->begins++;
        p->sink_began = p->sink->have_image;
        p->had_manifest = m != NULL;
        if (m) {
                p->manifest = malloc(m->manifest_len);
                p->sig = malloc(m->sig_len);
                assert_non_null(p->manifest);
                assert_non_null(p->sig);
                memcpy(p->manifest, m->manifest, m->manifest_len);
                memcpy(p->sig, m->sig, m->sig_len);
                p->manifest_len = m->manifest_len;
                p->sig_len = m->sig_len;
        }
        return p->begin_verdict;
}

static enum umc_reason gp_image(void *ud, const uint8_t sha256[32]) {
        struct gate_probe *p = ud;

        p->images++;
        memcpy(p->sha, sha256, 32);
        return p->image_verdict;
}

static void probe_free(struct gate_probe *p) {
        free(p->manifest);
        free(p->sig);
}

/* 9000 bytes of manifest and 3000 of signature: four MANIFEST frames at chunk 4000. */
static uint8_t mf_bytes[9000], sig_bytes[3000];
static const struct umc_signed_manifest test_mf = {
        .format = UMC_MFMSG_CMS, .manifest = mf_bytes, .manifest_len = sizeof(mf_bytes),
        .sig = sig_bytes, .sig_len = sizeof(sig_bytes),
};

static void gated_rig(struct rig *g, struct gate_probe *p, const struct umc_signed_manifest *m,
                      enum umc_hash_alg alg) {
        struct umc_receiver_gate gate = { .begin = gp_begin, .image = gp_image, .userdata = p };

        for (size_t i = 0; i < sizeof(mf_bytes); i++)
                mf_bytes[i] = (uint8_t)(i * 31 + 7);
        for (size_t i = 0; i < sizeof(sig_bytes); i++)
                sig_bytes[i] = (uint8_t)(i * 17 + 3);
        make_image(g, 100000);
        g->manifest = m;
        g->alg = alg;
        if (alg == UMC_HASH_SM3)
                assert_int_equal(umc_hash_oneshot(UMC_HASH_SM3, g->image, g->image_len, g->hash), 0);
        engines_new(g, 21, 3600 * USEC_PER_SEC);
        p->sink = &g->sink;
        umc_receiver_set_gate(g->rx, &gate);
}

static void test_manifest_frames_precede_begin_and_reach_the_gate(void **state) {
        struct gate_probe p = {};
        uint8_t frame[FRAME_MAX], sha[32];
        struct rig g = {};
        size_t len;

        gated_rig(&g, &p, &test_mf, 0);
        /* The sender's first frames: MANIFEST x 4 (UMC_MFMSG_CHUNK_MAX = 3987 data bytes
         * each at most, a 4000-byte body), then BEGIN. */
        for (int i = 0; i < 4; i++) {
                assert_int_equal(umc_sender_next(g.tx, ++g.now, UMC_LOAD_NORMAL, frame,
                                                 sizeof(frame), &len, NULL), 0);
                assert_int_equal(frame[3], UMC_FRAME_MANIFEST);
                assert_true(len <= UMC_FRAME_HEADER_LEN + UMC_MFMSG_HEADER_LEN +
                                           UMC_MFMSG_CHUNK_MAX + 16);
                assert_int_equal(umc_receiver_input(g.rx, frame, len, g.now, frame, sizeof(frame),
                                                    &len, NULL), 0);
                assert_int_equal(len, 0); /* no answer to a MANIFEST */
        }
        assert_int_equal(p.begins, 0);
        assert_int_equal(run(&g, NONE, 0, NULL).sender_r, 0);
        assert_int_equal(umc_sender_state(g.tx), UMC_SENDER_DONE);
        assert_int_equal(p.begins, 1);
        assert_false(p.sink_began); /* the gate runs before the sink sees BEGIN */
        assert_true(p.had_manifest);
        assert_int_equal(p.manifest_len, sizeof(mf_bytes));
        assert_memory_equal(p.manifest, mf_bytes, sizeof(mf_bytes));
        assert_int_equal(p.sig_len, sizeof(sig_bytes));
        assert_memory_equal(p.sig, sig_bytes, sizeof(sig_bytes));
        assert_int_equal(p.images, 1);
        assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, g.image, g.image_len, sha), 0);
        assert_memory_equal(p.sha, sha, 32);
        assert_true(g.sink.committed);
        probe_free(&p);
        rig_free(&g);
}

/*
 * A forged MANIFEST piece (one that does not open) and a replayed one, in
 * the middle of the assembly: both dropped and counted, and what the
 * authenticated frames built goes on to BEGIN intact.
 */
static void test_forged_or_replayed_manifest_piece_is_dropped_and_assembly_goes_on(
        void **state) {
        uint8_t frame[FRAME_MAX], first[FRAME_MAX], reply[FRAME_MAX];
        struct umc_xfer_rejects rj;
        struct gate_probe p = {};
        size_t len, first_len, rlen;
        struct rig g = {};

        gated_rig(&g, &p, &test_mf, 0);
        for (int i = 0; i < 4; i++) {
                assert_int_equal(umc_sender_next(g.tx, ++g.now, UMC_LOAD_NORMAL, frame,
                                                 sizeof(frame), &len, NULL), 0);
                assert_int_equal(frame[3], UMC_FRAME_MANIFEST);
                if (i == 0) {
                        memcpy(first, frame, len);
                        first_len = len;
                }
                if (i == 2) {
                        frame[len - 1] ^= 1; /* the tag no longer matches */
                        assert_int_equal(umc_receiver_input(g.rx, frame, len, g.now, reply,
                                                            sizeof(reply), &rlen, NULL),
                                         UMC_XFER_DROPPED);
                        frame[len - 1] ^= 1;
                        assert_int_equal(umc_receiver_input(g.rx, first, first_len, g.now,
                                                            reply, sizeof(reply), &rlen, NULL),
                                         UMC_XFER_DROPPED);
                        assert_int_equal(umc_receiver_state(g.rx), UMC_RECEIVER_WAIT_BEGIN);
                }
                assert_int_equal(umc_receiver_input(g.rx, frame, len, g.now, reply,
                                                    sizeof(reply), &rlen, NULL), 0);
        }
        umc_receiver_get_rejects(g.rx, &rj);
        assert_int_equal(rj.total, 2);
        assert_int_equal(run(&g, NONE, 0, NULL).sender_r, 0);
        assert_int_equal(p.begins, 1);
        assert_true(p.had_manifest);
        assert_int_equal(p.manifest_len, sizeof(mf_bytes));
        assert_memory_equal(p.manifest, mf_bytes, sizeof(mf_bytes));
        assert_memory_equal(p.sig, sig_bytes, sizeof(sig_bytes));
        assert_true(g.sink.committed);
        probe_free(&p);
        rig_free(&g);
}

static void test_gate_refusal_at_begin_stops_before_the_sink(void **state) {
        struct gate_probe p = { .begin_verdict = UMC_REASON_PKG_NO_TARGET };
        struct run_result res;
        struct rig g = {};

        gated_rig(&g, &p, &test_mf, 0);
        res = run(&g, NONE, 0, NULL);
        assert_int_equal(res.sender_r, -ECANCELED);
        assert_int_equal(res.sender_reason, UMC_REASON_PKG_NO_TARGET);
        assert_int_equal(umc_receiver_reason(g.rx), UMC_REASON_PKG_NO_TARGET);
        assert_false(g.sink.have_image); /* the sink never saw BEGIN */
        assert_false(g.sink.committed);
        assert_int_equal(p.images, 0);
        probe_free(&p);
        rig_free(&g);
}

static void test_gate_without_manifest_is_asked_with_none(void **state) {
        struct gate_probe p = { .begin_verdict = UMC_REASON_PKG_SIG_MISSING };
        struct run_result res;
        struct rig g = {};

        gated_rig(&g, &p, NULL, 0);
        res = run(&g, NONE, 0, NULL);
        assert_int_equal(p.begins, 1);
        assert_false(p.had_manifest);
        assert_int_equal(res.sender_reason, UMC_REASON_PKG_SIG_MISSING);
        rig_free(&g);
}

static void test_gate_refusal_of_the_stored_image_aborts_the_sink(void **state) {
        struct gate_probe p = { .image_verdict = UMC_REASON_IMAGE_HASH_MISMATCH };
        struct rig g = {};

        gated_rig(&g, &p, &test_mf, 0);
        check_stopped(&g, run(&g, NONE, 0, NULL), UMC_REASON_IMAGE_HASH_MISMATCH);
        assert_int_equal(p.images, 1);
        probe_free(&p);
        rig_free(&g);
}

/* The transfer hashes with SM3; the gate still gets the SHA-256 a manifest signs. */
static void test_sm3_transfer_gives_the_gate_the_sha256(void **state) {
        struct gate_probe p = {};
        struct rig g = {};
        uint8_t sha[32];

        gated_rig(&g, &p, &test_mf, UMC_HASH_SM3);
        assert_int_equal(run(&g, NONE, 0, NULL).sender_r, 0);
        assert_true(g.sink.committed);
        assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, g.image, g.image_len, sha), 0);
        assert_memory_equal(p.sha, sha, 32);
        assert_memory_not_equal(g.hash, sha, 32);
        probe_free(&p);
        rig_free(&g);
}

static void test_without_a_gate_manifest_frames_are_assembled_unchecked(void **state) {
        struct umc_signed_manifest v;
        struct rig g = {};

        make_image(&g, 100000);
        for (size_t i = 0; i < sizeof(mf_bytes); i++)
                mf_bytes[i] = (uint8_t)i;
        g.manifest = &test_mf;
        engines_new(&g, 22, 3600 * USEC_PER_SEC);
        assert_int_equal(run(&g, NONE, 0, NULL).sender_r, 0);
        assert_true(g.sink.committed);
        assert_memory_equal(g.sink.buf, g.image, g.image_len);
        /* Unchecked, but assembled: what a gateway without TrustAnchor= passes on. */
        assert_int_equal(umc_receiver_manifest(g.rx, &v), 0);
        assert_int_equal(v.manifest_len, sizeof(mf_bytes));
        assert_memory_equal(v.manifest, mf_bytes, sizeof(mf_bytes));
        assert_int_equal(v.sig_len, sizeof(sig_bytes));
        assert_memory_equal(v.sig, sig_bytes, sizeof(sig_bytes));
        rig_free(&g);
}

/* A MANIFEST chunk lost on the way: the next one's offset shows the gap. */
static void test_lost_manifest_chunk_ends_the_session_out_of_order(void **state) {
        struct gate_probe p = {};
        struct run_result res;
        struct rig g = {};

        gated_rig(&g, &p, &test_mf, 0);
        res = run(&g, DROP, 1, NULL);
        assert_int_equal(res.sender_r, -ECANCELED);
        assert_int_equal(res.sender_reason, UMC_REASON_OUT_OF_ORDER);
        assert_int_equal(p.begins, 0);
        assert_false(g.sink.have_image);
        rig_free(&g);
}

/* MANIFEST once BEGIN was answered: out of turn; the session ends, the checkpoints stay. */
static void test_manifest_after_begin_is_out_of_order(void **state) {
        uint8_t frame[FRAME_MAX], body[64], reply[FRAME_MAX];
        struct gate_probe p = {};
        enum umc_reason why;
        struct rig g = {};
        size_t len, rlen, n;
        int blen;

        gated_rig(&g, &p, &test_mf, 0);
        for (int i = 0; i < 5; i++) { /* four MANIFEST, then BEGIN */
                assert_int_equal(umc_sender_next(g.tx, ++g.now, UMC_LOAD_NORMAL, frame,
                                                 sizeof(frame), &len, NULL), 0);
                assert_int_equal(umc_receiver_input(g.rx, frame, len, g.now, reply,
                                                    sizeof(reply), &rlen, NULL), 0);
        }
        assert_int_equal(umc_receiver_state(g.rx), UMC_RECEIVER_STREAM);
        blen = umc_mfmsg_encode(&test_mf, 0, 10, body, sizeof(body), &n);
        assert_true(blen > 0);
        assert_int_equal(umc_session_seal(g.master, UMC_FRAME_MANIFEST, body, (size_t)blen, frame,
                                          sizeof(frame), &len), 0);
        assert_int_equal(umc_receiver_input(g.rx, frame, len, g.now, reply, sizeof(reply), &rlen,
                                            &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_OUT_OF_ORDER);
        assert_int_equal(umc_receiver_state(g.rx), UMC_RECEIVER_FAILED);
        assert_false(g.sink.aborted);
        assert_true(g.sink.rewound);
        assert_true(g.sink.have_image);
        probe_free(&p);
        rig_free(&g);
}

/* ---- authenticated, but malformed or out of turn: the session ends, the resume point stays ---- */

/* What the agent's store holds: progress says offset, image.part is exactly that long. */
static void check_store_kept(const char *dir, uint64_t offset) {
        char path[256], want[64], text[512] = "";
        struct stat st;
        FILE *f;

        (void)snprintf(path, sizeof(path), "%s/incoming/progress", dir);
        f = fopen(path, "re");
        assert_non_null(f);
        assert_true(fread(text, 1, sizeof(text) - 1, f) > 0);
        fclose(f);
        (void)snprintf(want, sizeof(want), "offset=%" PRIu64 "\n", offset);
        assert_non_null(strstr(text, want));
        (void)snprintf(path, sizeof(path), "%s/incoming/image.part", dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal((uint64_t)st.st_size, offset);
}

/* The active slot of the store at dir holds exactly the rig's image. */
static void check_store_active(const struct rig *g, const char *dir) {
        const char *version = NULL;
        char slot = 0, path[256];
        uint8_t *buf = malloc(g->image_len + 1);
        struct umc_slots *s = NULL;
        int fd;

        assert_non_null(buf);
        assert_int_equal(umc_slots_open(dir, &s, NULL), 0);
        assert_int_equal(umc_slots_active(s, &slot, &version), 0);
        assert_string_equal(version, "2.0.1");
        (void)snprintf(path, sizeof(path), "%s/%c/image", dir, slot);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(read(fd, buf, g->image_len + 1), (ssize_t)g->image_len);
        assert_memory_equal(buf, g->image, g->image_len);
        close(fd);
        free(buf);
        umc_slots_close(s);
}

/* Seal body as the master does (an authenticated frame) and give it to the receiver. */
static int inject_sealed(struct rig *g, enum umc_frame_type type, const uint8_t *body,
                         size_t body_len, enum umc_reason *ret_why) {
        static uint8_t frame[FRAME_MAX], reply[FRAME_MAX];
        size_t len = 0, rlen = 0;
        int r;

        assert_int_equal(umc_session_seal(g->master, type, body, body_len, frame, sizeof(frame),
                                          &len), 0);
        r = umc_receiver_input(g->rx, frame, len, g->now, reply, sizeof(reply), &rlen, ret_why);
        /* The receiver says STOP and why; the sender stops on it. */
        assert_true(rlen > 0);
        g->forge_sender_r = umc_sender_input(g->tx, reply, rlen, &g->forge_sender_reason);
        return r;
}

/*
 * 300000 bytes into a real slot store; after three checkpoints (96000
 * bytes, frame 27) and two more DATA frames written, the master sends the
 * authenticated frame (type, body): the session ends with want, nothing is
 * deleted, progress and image.part stay at the last checkpoint, and the
 * next session resumes there and installs the image.
 */
static void bad_frame_keeps_resume_point(enum umc_frame_type type, const uint8_t *body,
                                         size_t body_len, enum umc_reason want) {
        enum umc_reason why = UMC_REASON_OK;
        struct run_result res;
        struct rig g = {};
        char dir[64];

        close(scratch_dir("xfer-store", dir, sizeof(dir)));
        assert_int_equal(umc_slots_open(dir, &g.slots, NULL), 0);
        make_image(&g, 300000);
        engines_new(&g, 30, 3600 * USEC_PER_SEC);
        (void)run(&g, CRASH, 30, NULL); /* frame 30 is never delivered */
        assert_int_equal(umc_receiver_offset(g.rx), 3 * 8 * 4000 + 2 * 4000);

        assert_int_equal(inject_sealed(&g, type, body, body_len, &why), -EBADMSG);
        assert_int_equal(why, want);
        assert_int_equal(umc_receiver_state(g.rx), UMC_RECEIVER_FAILED);
        assert_int_equal(umc_receiver_reason(g.rx), want);
        assert_int_equal(g.forge_sender_r, -ECANCELED);
        assert_int_equal(g.forge_sender_reason, want);
        assert_int_equal(umc_receiver_checkpoint_offset(g.rx), 3 * 8 * 4000);
        engines_free(&g);
        umc_slots_close(g.slots);
        check_store_kept(dir, 3 * 8 * 4000);

        /* A new session (a new agent process) resumes at the checkpoint and completes. */
        assert_int_equal(umc_slots_open(dir, &g.slots, NULL), 0);
        engines_new(&g, 31, 3600 * USEC_PER_SEC);
        res = run(&g, NONE, 0, NULL);
        assert_int_equal(res.sender_r, 0);
        assert_int_equal(umc_sender_resume_offset(g.tx), 3 * 8 * 4000);
        assert_int_equal(umc_receiver_state(g.rx), UMC_RECEIVER_DONE);
        engines_free(&g);
        umc_slots_close(g.slots);
        g.slots = NULL;
        check_store_active(&g, dir);
        rig_free(&g);
        rm_tree(dir);
}

static void test_authenticated_malformed_data_ends_session_keeping_the_resume_point(
        void **state) {
        /* A DATA body is an 8-byte offset and at least one byte: 5 bytes are none. */
        static const uint8_t body[5] = { 0, 0, 0, 0, 0 };

        bad_frame_keeps_resume_point(UMC_FRAME_DATA, body, sizeof(body),
                                     UMC_REASON_BODY_MALFORMED);
}

static void test_authenticated_out_of_turn_begin_ends_session_keeping_the_resume_point(
        void **state) {
        struct umc_msg_begin b = {
                .image_len = 300000, .hash_alg = UMC_HASH_SHA256, .verify_every = 8,
                .chunk_len = 4000,
        };
        uint8_t body[128];
        int n;

        /* A well-formed BEGIN of another image, in the middle of the transfer. */
        memset(b.image_id, 0xcd, sizeof(b.image_id));
        strcpy(b.version, "6.6.6");
        n = umc_msg_begin_encode(&b, body, sizeof(body));
        assert_true(n > 0);
        bad_frame_keeps_resume_point(UMC_FRAME_BEGIN, body, (size_t)n, UMC_REASON_OUT_OF_ORDER);
}

static void test_authenticated_manifest_after_begin_ends_session_keeping_the_resume_point(
        void **state) {
        uint8_t body[64];
        size_t n = 0;
        int blen;

        for (size_t i = 0; i < sizeof(mf_bytes); i++)
                mf_bytes[i] = (uint8_t)(i * 31 + 7);
        blen = umc_mfmsg_encode(&test_mf, 0, 10, body, sizeof(body), &n);
        assert_true(blen > 0);
        bad_frame_keeps_resume_point(UMC_FRAME_MANIFEST, body, (size_t)blen,
                                     UMC_REASON_OUT_OF_ORDER);
}

static void test_authenticated_frame_of_no_master_type_ends_session_keeping_the_resume_point(
        void **state) {
        struct umc_msg_feedback fb = { .code = UMC_FEEDBACK_CONTINUE, .checkpoint = 3,
                                       .offset = 96000 };
        uint8_t body[UMC_MSG_FEEDBACK_LEN];
        int n = umc_msg_feedback_encode(&fb, body, sizeof(body));

        /* FEEDBACK is the ECU's: from the master it is the wrong type. */
        assert_true(n > 0);
        bad_frame_keeps_resume_point(UMC_FRAME_FEEDBACK, body, (size_t)n,
                                     UMC_REASON_FRAME_BAD_TYPE);
}

static void test_authenticated_malformed_alarm_is_no_cancel(void **state) {
        static const uint8_t body[1] = { 0x06 };

        bad_frame_keeps_resume_point(UMC_FRAME_ALARM, body, sizeof(body),
                                     UMC_REASON_BODY_MALFORMED);
}

/* The master's ALARM is its word: the image goes (the agent's cancel). */
static void test_authenticated_alarm_drops_the_image(void **state) {
        struct umc_msg_alarm a = { .reason = UMC_REASON_CANCELLED };
        enum umc_reason why = UMC_REASON_OK;
        uint8_t body[UMC_MSG_ALARM_MAX_LEN];
        struct rig g = {};
        int n;

        make_image(&g, 100000);
        engines_new(&g, 32, 3600 * USEC_PER_SEC);
        (void)run(&g, CRASH, 20, NULL);
        assert_true(g.sink.durable > 0);
        strcpy(a.text, "installation cancelled by the master");
        n = umc_msg_alarm_encode(&a, body, sizeof(body));
        assert_true(n > 0);
        assert_int_equal(inject_sealed(&g, UMC_FRAME_ALARM, body, (size_t)n, &why), -ECANCELED);
        assert_int_equal(why, UMC_REASON_CANCELLED);
        assert_true(g.sink.aborted);
        assert_false(g.sink.have_image);
        rig_free(&g);
}

/* ---- the sender out of key IDs ---- */

static void test_key_ids_used_up_fail_the_sender_and_the_receiver_keeps_its_checkpoint(
        void **state) {
        uint8_t frame[FRAME_MAX];
        struct run_result res;
        struct rig g = {};
        uint64_t durable;
        size_t len = 0;

        make_image(&g, 300000);
        engines_new(&g, 33, 20000); /* a scheduled rotation every 20 ms: every ~20 frames */
        g.exhaust_at = 30;
        res = run(&g, NONE, 0, NULL);
        assert_int_equal(res.next_r, -ERANGE);
        assert_int_equal(umc_sender_state(g.tx), UMC_SENDER_FAILED);
        assert_int_equal(umc_sender_reason(g.tx), UMC_REASON_KEYS_EXHAUSTED);
        assert_int_equal(umc_sender_next(g.tx, g.now + 1000, UMC_LOAD_NORMAL, frame,
                                         sizeof(frame), &len, NULL), -ESHUTDOWN);
        assert_int_equal(len, 0);
        /* The receiver heard nothing of it: its session stands, the checkpoints with it. */
        assert_int_equal(umc_receiver_state(g.rx), UMC_RECEIVER_STREAM);
        assert_false(g.sink.aborted);
        durable = g.sink.durable;
        assert_true(durable >= 3 * 8 * 4000);
        assert_int_equal(umc_receiver_checkpoint_offset(g.rx), durable);

        /* The master closes; a new install (new session, key ID 1) resumes there. */
        engines_free(&g);
        g.exhaust_at = 0;
        (void)resume_to_the_end(&g, 34, durable);
        rig_free(&g);
}

/* Any other failure of the rotation policy is the sender's own: INTERNAL, not KEYS_EXHAUSTED. */
static void test_rotation_error_other_than_exhaustion_is_internal(void **state) {
        static uint8_t frame[FRAME_MAX], reply[FRAME_MAX];
        struct rig g = { .now = 5 * USEC_PER_SEC };
        size_t len, rlen;

        make_image(&g, 100000);
        engines_new(&g, 35, 3600 * USEC_PER_SEC);
        assert_int_equal(umc_sender_next(g.tx, g.now, UMC_LOAD_NORMAL, frame, sizeof(frame), &len,
                                         NULL), 0);
        assert_int_equal(umc_receiver_input(g.rx, frame, len, g.now, reply, sizeof(reply), &rlen,
                                            NULL), 0);
        assert_int_equal(umc_sender_input(g.tx, reply, rlen, NULL), 0);
        /* A clock before the rotation's start: the policy refuses it with -EINVAL. */
        assert_int_equal(umc_sender_next(g.tx, 1, UMC_LOAD_NORMAL, frame, sizeof(frame), &len,
                                         NULL), -EINVAL);
        assert_int_equal(umc_sender_reason(g.tx), UMC_REASON_INTERNAL);
        rig_free(&g);
}

static void test_bad_readback_is_never_committed(void **state) {
        struct rig g = {};
        make_image(&g, 50000);
        engines_new(&g, 8, 3600 * USEC_PER_SEC);
        g.sink.corrupt_readback = true;
        check_stopped(&g, run(&g, NONE, 0, NULL), UMC_REASON_IMAGE_HASH_MISMATCH);
        rig_free(&g);
}

static void test_interrupted_transfer_resumes_from_checkpoint(void **state) {
        struct rig g = {};
        uint64_t durable;

        make_image(&g, 400000);
        engines_new(&g, 9, 3600 * USEC_PER_SEC);
        (void)run(&g, CRASH, 45, NULL); /* both sides vanish mid-range */
        durable = g.sink.durable;
        assert_true(durable > 0 && durable < g.image_len);
        assert_false(g.sink.committed);
        engines_free(&g);

        /* New processes, new session, same image: starts at the checkpoint. */
        struct run_result res = resume_to_the_end(&g, 10, durable);
        assert_int_equal(umc_sender_state(g.tx), UMC_SENDER_DONE);
        /* Fewer frames than a full run: 100 DATA + 13 VERIFY + BEGIN + TRANSPORT. */
        assert_true(res.frames < 100);
        rig_free(&g);
}

static void test_sender_waits_for_checkpoint_feedback(void **state) {
        static uint8_t frame[FRAME_MAX], reply[FRAME_MAX];
        struct rig g = {};
        size_t len, rlen;
        unsigned sent = 0;

        make_image(&g, 200000);
        engines_new(&g, 11, 3600 * USEC_PER_SEC);
        /* BEGIN, then the resume answer. */
        assert_int_equal(umc_sender_next(g.tx, 1, UMC_LOAD_NORMAL, frame, sizeof(frame), &len, NULL), 0);
        assert_int_equal(umc_sender_next(g.tx, 2, UMC_LOAD_NORMAL, frame, sizeof(frame), &len, NULL), -EAGAIN);
        assert_int_equal(umc_receiver_input(g.rx, frame, len, 2, reply, sizeof(reply), &rlen, NULL), 0);
        assert_int_equal(umc_sender_input(g.tx, reply, rlen, NULL), 0);
        /* Without feedback: 8 DATA + VERIFY + 8 DATA, then it must wait. */
        while (umc_sender_next(g.tx, 3 + sent, UMC_LOAD_NORMAL, frame, sizeof(frame), &len, NULL) == 0)
                sent++;
        assert_int_equal(sent, 17);
        assert_int_equal(umc_sender_bytes_acked(g.tx), 0);
        rig_free(&g);
}

static int lookup_ecu(void *ud, uint32_t ecu_id, uint8_t key[32], char hw[65]) {
        if (ecu_id != 0x10)
                return -ENOENT;
        memset(key, *(uint8_t *)ud, 32);
        strcpy(hw, "HW-BCM-0001");
        return 0;
}

/* The gateway's sink: the verdict comes later and is the ECU's, either way. */
static void forward_and_finish(enum umc_reason verdict) {
        static uint8_t reply[FRAME_MAX];
        enum umc_reason why = UMC_REASON_OK;
        struct run_result res;
        struct rig g = {};
        size_t rlen = 0;

        make_image(&g, 100000);
        engines_new(&g, 1, 120 * 1000000ull);
        g.sink.forwards = true;
        res = run(&g, NONE, 0, NULL);
        assert_int_equal(res.receiver_r, -EINPROGRESS);
        assert_int_equal(umc_receiver_state(g.rx), UMC_RECEIVER_FORWARDING);
        assert_int_equal(umc_sender_state(g.tx), UMC_SENDER_WAIT_COMPLETE); /* still waiting */
        assert_memory_equal(umc_receiver_transport_info(g.rx)->hash, g.hash, UMC_HASH_LEN);
        assert_int_equal(umc_receiver_step(g.rx, 1000, reply, sizeof(reply), &rlen, &why),
                         -ESHUTDOWN);
        /* Forged upstream frames while the ECU's leg runs: dropped, the leg goes on. */
        for (uint32_t i = 0; i < 3; i++) {
                struct umc_frame_header h = {
                        .type = UMC_FRAME_DATA, .suite = UMC_SUITE_AES_128_GCM, .key_id = 1,
                        .session_id = 1, .seq = 1000 + i, .ecu_id = 0x10, .payload_len = 64,
                };
                uint8_t fake[UMC_FRAME_HEADER_LEN + 64] = {};
                umc_frame_header_encode(&h, fake);
                assert_int_equal(umc_receiver_input(g.rx, fake, sizeof(fake), g.now, reply,
                                                    sizeof(reply), &rlen, &why),
                                 UMC_XFER_DROPPED);
                assert_int_equal(rlen, 0);
                assert_int_equal(why, UMC_REASON_TAG_MISMATCH);
        }
        assert_int_equal(umc_receiver_state(g.rx), UMC_RECEIVER_FORWARDING);

        assert_int_equal(umc_receiver_finish(g.rx, verdict, reply, sizeof(reply), &rlen),
                         verdict == UMC_REASON_OK ? 0 : -EBADMSG);
        assert_true(rlen > 0);
        if (verdict == UMC_REASON_OK) {
                assert_int_equal(umc_sender_input(g.tx, reply, rlen, &why), 0);
                assert_int_equal(umc_sender_state(g.tx), UMC_SENDER_DONE);
                assert_int_equal(umc_receiver_state(g.rx), UMC_RECEIVER_DONE);
        } else {
                assert_int_equal(umc_sender_input(g.tx, reply, rlen, &why), -ECANCELED);
                assert_int_equal(why, verdict);
                assert_int_equal(umc_receiver_state(g.rx), UMC_RECEIVER_FAILED);
                assert_false(g.sink.aborted); /* the sink decided: it is not told twice */
        }
        /* Only once. */
        assert_int_equal(umc_receiver_finish(g.rx, verdict, reply, sizeof(reply), &rlen), -ESHUTDOWN);
        rig_free(&g);
}

static void test_forwarding_sink_passes_the_ecu_confirmation_on(void **state) {
        forward_and_finish(UMC_REASON_OK);
}

static void test_forwarding_sink_passes_the_ecu_refusal_on(void **state) {
        forward_and_finish(UMC_REASON_ECU_AUTH_FAILED);
}

static void test_auth_exchange_agrees_on_salt_and_refuses_wrong_key(void **state) {
        uint8_t key[32], ch[256], resp[256], conf[256], salt_m[32], salt_e[32];
        size_t lch, lresp, lconf;
        struct umc_auth_master m;
        struct umc_auth_ecu e;
        enum umc_reason why;
        uint8_t ecu_key_byte = 0x42;

        memset(key, 0x42, 32);
        umc_auth_ecu_init(&e, lookup_ecu, &ecu_key_byte);
        assert_int_equal(umc_auth_master_start(&m, key, 0x10, "HW-BCM-0001", ch, sizeof(ch), &lch), 0);
        assert_int_equal(umc_auth_ecu_challenge(&e, ch, lch, resp, sizeof(resp), &lresp, &why), 0);
        assert_int_equal(umc_auth_master_response(&m, resp, lresp, conf, sizeof(conf), &lconf,
                                                  salt_m, &why), 0);
        assert_int_equal(umc_auth_ecu_confirm(&e, conf, lconf, salt_e, &why), 0);
        assert_memory_equal(salt_m, salt_e, 32);
        assert_int_equal(e.session_id, m.session_id);

        /* An ECU with another key: the master refuses it. */
        ecu_key_byte = 0x43;
        umc_auth_ecu_clear(&e);
        assert_int_equal(umc_auth_master_start(&m, key, 0x10, "HW-BCM-0001", ch, sizeof(ch), &lch), 0);
        assert_int_equal(umc_auth_ecu_challenge(&e, ch, lch, resp, sizeof(resp), &lresp, &why), 0);
        assert_int_equal(umc_auth_master_response(&m, resp, lresp, conf, sizeof(conf), &lconf,
                                                  salt_m, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_ECU_AUTH_FAILED);

        /* Right key, other hardware ID than configured. */
        ecu_key_byte = 0x42;
        umc_auth_ecu_clear(&e);
        assert_int_equal(umc_auth_master_start(&m, key, 0x10, "HW-BCM-0002", ch, sizeof(ch), &lch), 0);
        assert_int_equal(umc_auth_ecu_challenge(&e, ch, lch, resp, sizeof(resp), &lresp, &why), 0);
        assert_int_equal(umc_auth_master_response(&m, resp, lresp, conf, sizeof(conf), &lconf,
                                                  salt_m, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_ECU_HW_MISMATCH);

        /* An ECU ID the agent does not serve. */
        umc_auth_ecu_clear(&e);
        assert_int_equal(umc_auth_master_start(&m, key, 0x99, "HW-X", ch, sizeof(ch), &lch), 0);
        assert_int_equal(umc_auth_ecu_challenge(&e, ch, lch, resp, sizeof(resp), &lresp, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_ECU_UNKNOWN);

        /* A forged confirm (master without the key) is refused by the ECU. */
        umc_auth_ecu_clear(&e);
        assert_int_equal(umc_auth_master_start(&m, key, 0x10, "HW-BCM-0001", ch, sizeof(ch), &lch), 0);
        assert_int_equal(umc_auth_ecu_challenge(&e, ch, lch, resp, sizeof(resp), &lresp, &why), 0);
        assert_int_equal(umc_auth_master_response(&m, resp, lresp, conf, sizeof(conf), &lconf,
                                                  salt_m, &why), 0);
        conf[lconf - 1] ^= 1;
        assert_int_equal(umc_auth_ecu_confirm(&e, conf, lconf, salt_e, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_ECU_AUTH_FAILED);
        umc_auth_master_clear(&m);
        umc_auth_ecu_clear(&e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_image_arrives_byte_identical_with_rotations),
                cmocka_unit_test(test_load_jump_rotates_at_once),
                cmocka_unit_test(test_flipped_byte_is_dropped_and_the_gap_keeps_the_checkpoint),
                cmocka_unit_test(test_dropped_frame_ends_session_keeping_the_checkpoint),
                cmocka_unit_test(test_replayed_frame_is_dropped_and_transfer_completes),
                cmocka_unit_test(test_rewritten_key_id_is_dropped_and_the_gap_keeps_the_checkpoint),
                cmocka_unit_test(test_forged_frames_mid_transfer_are_dropped_counted_and_change_nothing),
                cmocka_unit_test(test_forged_frames_past_the_limit_end_session_and_resume_from_checkpoint),
                cmocka_unit_test(test_reject_window_restarts_at_every_checkpoint),
                cmocka_unit_test(test_sender_drops_forged_feedback_and_stops_past_the_limit),
                cmocka_unit_test(test_wrong_image_hash_is_never_committed),
                cmocka_unit_test(test_manifest_frames_precede_begin_and_reach_the_gate),
                cmocka_unit_test(test_gate_refusal_at_begin_stops_before_the_sink),
                cmocka_unit_test(test_gate_without_manifest_is_asked_with_none),
                cmocka_unit_test(test_gate_refusal_of_the_stored_image_aborts_the_sink),
                cmocka_unit_test(test_sm3_transfer_gives_the_gate_the_sha256),
                cmocka_unit_test(test_without_a_gate_manifest_frames_are_assembled_unchecked),
                cmocka_unit_test(test_lost_manifest_chunk_ends_the_session_out_of_order),
                cmocka_unit_test(test_manifest_after_begin_is_out_of_order),
                cmocka_unit_test(
                        test_authenticated_malformed_data_ends_session_keeping_the_resume_point),
                cmocka_unit_test(
                        test_authenticated_out_of_turn_begin_ends_session_keeping_the_resume_point),
                cmocka_unit_test(
                        test_authenticated_manifest_after_begin_ends_session_keeping_the_resume_point),
                cmocka_unit_test(
                        test_authenticated_frame_of_no_master_type_ends_session_keeping_the_resume_point),
                cmocka_unit_test(test_authenticated_malformed_alarm_is_no_cancel),
                cmocka_unit_test(test_authenticated_alarm_drops_the_image),
                cmocka_unit_test(
                        test_key_ids_used_up_fail_the_sender_and_the_receiver_keeps_its_checkpoint),
                cmocka_unit_test(test_rotation_error_other_than_exhaustion_is_internal),
                cmocka_unit_test(
                        test_forged_or_replayed_manifest_piece_is_dropped_and_assembly_goes_on),
                cmocka_unit_test(test_bad_readback_is_never_committed),
                cmocka_unit_test(test_forwarding_sink_passes_the_ecu_confirmation_on),
                cmocka_unit_test(test_forwarding_sink_passes_the_ecu_refusal_on),
                cmocka_unit_test(test_interrupted_transfer_resumes_from_checkpoint),
                cmocka_unit_test(test_sender_waits_for_checkpoint_feedback),
                cmocka_unit_test(test_auth_exchange_agrees_on_salt_and_refuses_wrong_key),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
