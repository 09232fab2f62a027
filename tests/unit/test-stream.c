/* SPDX-License-Identifier: MIT */
/*
 * The frame stream over a real socketpair: frames cut at every byte
 * boundary, several frames in one read, bad and oversize headers, end of
 * file, the bounded write queue and partial writes.
 *
 * Packet mode runs over AF_UNIX SOCK_SEQPACKET socketpairs: the closest real
 * datagram socket this host has (its kernel has no CAN, so no ISO-TP). Like
 * ISO-TP it keeps message boundaries, takes a message whole or not at all
 * and cuts a message read into a shorter buffer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <sys/socket.h>

#include "umc/cipher.h"
#include "umc/frame.h"
#include "umc/stream.h"
#include "umc/util.h"

#define BIG_QUEUE (2 * (UMC_FRAME_HEADER_LEN + UMC_FRAME_MAX_PAYLOAD))

/* A frame whose header passes umc_frame_header_parse(): DATA, AES-128-GCM. */
static size_t make_frame(uint8_t *out, uint32_t seq, uint32_t payload_len) {
        struct umc_frame_header h = {
                .type = UMC_FRAME_DATA, .suite = UMC_SUITE_AES_128_GCM, .key_id = 1,
                .session_id = 0x1122334455667788, .seq = seq, .ecu_id = 7,
                .payload_len = payload_len,
        };

        umc_frame_header_encode(&h, out);
        for (uint32_t i = 0; i < payload_len; i++)
                out[UMC_FRAME_HEADER_LEN + i] = (uint8_t)(seq * 31 + i * 7);
        return UMC_FRAME_HEADER_LEN + payload_len;
}

struct pair {
        struct umc_stream *s; /* the side under test */
        int peer;             /* the raw other end */
};

static void pair_new(struct pair *p, size_t max_payload, size_t queue_max) {
        int sv[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(umc_stream_new(sv[0], max_payload, queue_max, &p->s), 0);
        p->peer = sv[1];
}

static void pair_free(struct pair *p) {
        umc_stream_free(p->s);
        if (p->peer >= 0)
                close(p->peer);
}

static void peer_write(struct pair *p, const uint8_t *buf, size_t len) {
        assert_int_equal(write(p->peer, buf, len), (ssize_t)len);
}

static void expect_frame(struct pair *p, const uint8_t *want, size_t want_len) {
        const uint8_t *f = NULL;
        size_t len = 0;

        assert_int_equal(umc_stream_read(p->s, &f, &len, NULL), 0);
        assert_int_equal(len, want_len);
        assert_memory_equal(f, want, want_len);
}

static void expect_again(struct pair *p) {
        const uint8_t *f;
        size_t len;

        assert_int_equal(umc_stream_read(p->s, &f, &len, NULL), -EAGAIN);
}

static void test_frame_split_at_every_byte_boundary_is_reassembled(void **state) {
        uint8_t frame[UMC_FRAME_HEADER_LEN + 100];
        size_t len = make_frame(frame, 1, 100);
        struct pair p;

        pair_new(&p, 1000, BIG_QUEUE);
        for (size_t cut = 1; cut < len; cut++) {
                peer_write(&p, frame, cut);
                expect_again(&p);
                peer_write(&p, frame + cut, len - cut);
                expect_frame(&p, frame, len);
                expect_again(&p);
        }
        /* And one byte per read. */
        for (size_t i = 0; i < len; i++) {
                expect_again(&p);
                peer_write(&p, frame + i, 1);
        }
        expect_frame(&p, frame, len);
        expect_again(&p);
        pair_free(&p);
}

static void test_several_frames_in_one_read_come_out_one_at_a_time(void **state) {
        static uint8_t all[3 * (UMC_FRAME_HEADER_LEN + 700)];
        size_t l1, l2, l3;
        struct pair p;

        l1 = make_frame(all, 1, 700);
        l2 = make_frame(all + l1, 2, 16); /* just the tag */
        l3 = make_frame(all + l1 + l2, 3, 300);
        pair_new(&p, 1000, BIG_QUEUE);
        peer_write(&p, all, l1 + l2 + l3);
        expect_frame(&p, all, l1);
        expect_frame(&p, all + l1, l2);
        expect_frame(&p, all + l1 + l2, l3);
        expect_again(&p);
        pair_free(&p);
}

static void test_frames_straddling_the_buffer_end_are_kept(void **state) {
        /* Each frame is nearly the buffer size: every read ends inside the next frame. */
        static uint8_t all[4 * (UMC_FRAME_HEADER_LEN + 1000)];
        size_t off = 0, lens[4];
        struct pair p;

        for (int i = 0; i < 4; i++) {
                lens[i] = make_frame(all + off, (uint32_t)i, 900 + (uint32_t)i * 30);
                off += lens[i];
        }
        pair_new(&p, 1000, BIG_QUEUE);
        peer_write(&p, all, off);
        off = 0;
        for (int i = 0; i < 4; i++) {
                expect_frame(&p, all + off, lens[i]);
                off += lens[i];
        }
        expect_again(&p);
        pair_free(&p);
}

static void test_bad_header_is_rejected_and_the_stream_stays_broken(void **state) {
        uint8_t frame[UMC_FRAME_HEADER_LEN + 64];
        size_t len = make_frame(frame, 1, 64);
        enum umc_reason why = UMC_REASON_OK;
        const uint8_t *f, *rest;
        struct pair p;

        frame[0] = 'X';
        pair_new(&p, 1000, BIG_QUEUE);
        peer_write(&p, frame, len);
        assert_int_equal(umc_stream_read(p.s, &f, &len, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_FRAME_BAD_MAGIC);
        /* No resync: the next good frame is not reached either. */
        len = make_frame(frame, 2, 64);
        peer_write(&p, frame, len);
        why = UMC_REASON_OK;
        assert_int_equal(umc_stream_read(p.s, &f, &len, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_FRAME_BAD_MAGIC);
        assert_true(umc_stream_peek(p.s, &rest) >= UMC_FRAME_HEADER_LEN);
        assert_int_equal(rest[0], 'X');
        pair_free(&p);
}

static void test_oversize_header_is_rejected_before_its_payload(void **state) {
        uint8_t frame[UMC_FRAME_HEADER_LEN];
        enum umc_reason why = UMC_REASON_OK;
        struct umc_frame_header h = {
                .type = UMC_FRAME_DATA, .suite = UMC_SUITE_AES_128_GCM, .key_id = 1,
                .payload_len = 1001,
        };
        const uint8_t *f;
        size_t len;
        struct pair p;

        umc_frame_header_encode(&h, frame);
        pair_new(&p, 1000, BIG_QUEUE);
        /* Only the header is sent: the stream must not wait for 1001 more bytes. */
        peer_write(&p, frame, sizeof(frame));
        assert_int_equal(umc_stream_read(p.s, &f, &len, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_FRAME_TOO_LONG);
        pair_free(&p);
}

static void test_short_payload_for_the_suite_is_rejected(void **state) {
        uint8_t frame[UMC_FRAME_HEADER_LEN + 8];
        enum umc_reason why = UMC_REASON_OK;
        size_t len = make_frame(frame, 1, 8); /* below the 16-byte GCM tag */
        const uint8_t *f;
        struct pair p;

        pair_new(&p, 1000, BIG_QUEUE);
        peer_write(&p, frame, len);
        assert_int_equal(umc_stream_read(p.s, &f, &len, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_FRAME_PAYLOAD_TOO_SHORT);
        pair_free(&p);
}

static void test_end_of_file_is_connreset_after_buffered_frames(void **state) {
        uint8_t frames[2 * (UMC_FRAME_HEADER_LEN + 50)];
        size_t l1 = make_frame(frames, 1, 50);
        size_t l2 = make_frame(frames + l1, 2, 50);
        const uint8_t *f;
        size_t len;
        struct pair p;

        pair_new(&p, 1000, BIG_QUEUE);
        /* A whole frame, then half of the next one, then the peer leaves. */
        peer_write(&p, frames, l1 + l2 / 2);
        close(p.peer);
        p.peer = -1;
        expect_frame(&p, frames, l1);
        assert_int_equal(umc_stream_read(p.s, &f, &len, NULL), -ECONNRESET);
        assert_int_equal(umc_stream_read(p.s, &f, &len, NULL), -ECONNRESET);
        pair_free(&p);
}

static void test_full_queue_refuses_and_takes_frames_again_after_flush(void **state) {
        const size_t qmax = UMC_FRAME_HEADER_LEN + 1000;
        uint8_t frame[UMC_FRAME_HEADER_LEN + 600], big[UMC_FRAME_HEADER_LEN + 1001];
        size_t len = make_frame(frame, 1, 600);
        struct pair p;

        pair_new(&p, 1000, qmax);
        assert_int_equal(umc_stream_queue(p.s, frame, len), 0);
        assert_int_equal(umc_stream_queued(p.s), len);
        assert_int_equal(umc_stream_queue(p.s, frame, len), -ENOBUFS);
        assert_int_equal(umc_stream_queued(p.s), len); /* nothing half-queued */
        assert_int_equal(umc_stream_queue_space(p.s), qmax - len);
        assert_int_equal(umc_stream_queue(p.s, big, sizeof(big)), -EMSGSIZE);
        assert_int_equal(umc_stream_queue(p.s, frame, 0), -EINVAL);
        assert_int_equal(umc_stream_flush(p.s), 0);
        assert_int_equal(umc_stream_queued(p.s), 0);
        assert_int_equal(umc_stream_queue(p.s, frame, len), 0);
        assert_int_equal(umc_stream_flush(p.s), 0);
        pair_free(&p);
}

/* Read everything the peer can take now into a second stream, collecting frames. */
static void drain_into(struct umc_stream *rx, uint8_t *got, size_t *got_len) {
        const uint8_t *f;
        size_t len;

        while (umc_stream_read(rx, &f, &len, NULL) == 0) {
                memcpy(got + *got_len, f, len);
                *got_len += len;
        }
}

static void test_partial_writes_resume_in_order_across_the_ring_end(void **state) {
        enum { N = 12, PAYLOAD = 20000 };
        static uint8_t sent[N * (UMC_FRAME_HEADER_LEN + PAYLOAD)];
        static uint8_t got[sizeof(sent)];
        size_t frame_len = UMC_FRAME_HEADER_LEN + PAYLOAD, got_len = 0, queued_frames = 0;
        struct umc_stream *rx = NULL;
        int small = 4096, sv[2], r;
        bool saw_partial = false;
        struct pair p;

        for (size_t i = 0; i < N; i++)
                (void)make_frame(sent + i * frame_len, (uint32_t)i, PAYLOAD);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
        assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
        /* A queue of 3.5 frames: later frames wrap around its end. */
        assert_int_equal(umc_stream_new(sv[0], PAYLOAD, frame_len * 7 / 2, &p.s), 0);
        assert_int_equal(umc_stream_new(sv[1], PAYLOAD, frame_len, &rx), 0);
        p.peer = -1;

        for (unsigned round = 0; round < 10000 && got_len < sizeof(sent); round++) {
                while (queued_frames < N &&
                       umc_stream_queue(p.s, sent + queued_frames * frame_len, frame_len) == 0)
                        queued_frames++;
                r = umc_stream_flush(p.s);
                assert_true(r == 0 || r == -EAGAIN);
                if (r == -EAGAIN && umc_stream_queued(p.s) % frame_len != 0)
                        saw_partial = true;
                drain_into(rx, got, &got_len);
        }
        assert_int_equal(queued_frames, N);
        assert_int_equal(got_len, sizeof(sent));
        assert_memory_equal(got, sent, sizeof(sent));
        assert_true(saw_partial);
        umc_stream_free(rx);
        pair_free(&p);
}

static void test_flush_to_a_vanished_peer_fails_without_sigpipe(void **state) {
        uint8_t frame[UMC_FRAME_HEADER_LEN + 64];
        size_t len = make_frame(frame, 1, 64);
        struct pair p;
        int r;

        pair_new(&p, 1000, BIG_QUEUE);
        close(p.peer);
        p.peer = -1;
        assert_int_equal(umc_stream_queue(p.s, frame, len), 0);
        r = umc_stream_flush(p.s);
        assert_true(r == -EPIPE || r == -ECONNRESET);
        pair_free(&p);
}

static void test_new_refuses_bad_sizes_and_leaves_the_fd_open(void **state) {
        struct umc_stream *s = NULL;
        int sv[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(umc_stream_new(sv[0], 0, BIG_QUEUE, &s), -EINVAL);
        assert_int_equal(umc_stream_new(sv[0], UMC_FRAME_MAX_PAYLOAD + 1, BIG_QUEUE, &s), -EINVAL);
        assert_int_equal(umc_stream_new(sv[0], 1000, 1000, &s), -EINVAL); /* below one frame */
        assert_int_equal(umc_stream_new(-1, 1000, BIG_QUEUE, &s), -EINVAL);
        assert_null(s);
        assert_int_equal(write(sv[0], "x", 1), 1); /* still open */
        assert_int_equal(umc_stream_new(sv[0], 1000, BIG_QUEUE, &s), 0);
        assert_int_equal(umc_stream_fd(s), sv[0]);
        umc_stream_free(s);
        close(sv[1]);
}

/* ---- Packet mode ---- */

static void packet_pair_new(struct pair *p, size_t max_payload, size_t queue_max) {
        int sv[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(umc_stream_new_packet(sv[0], max_payload, queue_max, &p->s), 0);
        p->peer = sv[1];
}

/* The peer's next datagram, whole: its length is what one recv() returned. */
static size_t peer_recv(struct pair *p, uint8_t *buf, size_t size) {
        ssize_t n = recv(p->peer, buf, size, MSG_DONTWAIT);

        assert_true(n >= 0);
        return (size_t)n;
}

static void expect_bad(struct pair *p, enum umc_reason want) {
        enum umc_reason why = UMC_REASON_OK;
        const uint8_t *f;
        size_t len;

        assert_int_equal(umc_stream_read(p->s, &f, &len, &why), -EBADMSG);
        assert_int_equal(why, want);
}

static void test_packet_frames_go_out_one_whole_pdu_per_write(void **state) {
        /* Sizes that do not add up to the queue: later frames wrap around the ring end. */
        static const uint32_t plen[] = { 16, 700, 333, 1000, 17, 999, 512 };
        enum { N = sizeof(plen) / sizeof(plen[0]) };
        static uint8_t sent[N][UMC_FRAME_HEADER_LEN + 1000];
        static uint8_t got[UMC_FRAME_HEADER_LEN + 2000];
        const size_t qmax = 2 * (UMC_FRAME_HEADER_LEN + 1000) + 100;
        size_t lens[N], next = 0, done = 0;
        struct pair p;

        for (size_t i = 0; i < N; i++)
                lens[i] = make_frame(sent[i], (uint32_t)i, plen[i]);
        packet_pair_new(&p, 1000, qmax);
        while (done < N) {
                while (next < N && umc_stream_queue(p.s, sent[next], lens[next]) == 0)
                        next++;
                assert_int_equal(umc_stream_flush(p.s), 0);
                assert_int_equal(umc_stream_queued(p.s), 0);
                /* One recv() per frame, each exactly that frame: never split, never merged. */
                for (; done < next; done++) {
                        assert_int_equal(peer_recv(&p, got, sizeof(got)), lens[done]);
                        assert_memory_equal(got, sent[done], lens[done]);
                }
        }
        assert_int_equal(recv(p.peer, got, sizeof(got), MSG_DONTWAIT), -1);
        assert_int_equal(errno, EAGAIN);
        pair_free(&p);
}

static void test_packet_frames_come_in_one_per_pdu(void **state) {
        static uint8_t frames[4][UMC_FRAME_HEADER_LEN + 1000];
        size_t lens[4];
        struct pair p;

        packet_pair_new(&p, 1000, BIG_QUEUE);
        expect_again(&p);
        for (size_t i = 0; i < 4; i++) {
                /* 1000 is exactly max_payload: the largest frame still fits. */
                lens[i] = make_frame(frames[i], (uint32_t)i, i == 3 ? 1000 : 16 + (uint32_t)i * 200);
                peer_write(&p, frames[i], lens[i]);
        }
        for (size_t i = 0; i < 4; i++)
                expect_frame(&p, frames[i], lens[i]);
        expect_again(&p);
        /* Nothing is left over between frames. */
        {
                const uint8_t *rest;

                assert_int_equal(umc_stream_peek(p.s, &rest), 0);
        }
        pair_free(&p);
}

static void test_packet_shorter_than_its_header_says_is_truncated(void **state) {
        uint8_t frame[UMC_FRAME_HEADER_LEN + 100];
        size_t len = make_frame(frame, 1, 100);
        const uint8_t *rest;
        struct pair p;

        packet_pair_new(&p, 1000, BIG_QUEUE);
        peer_write(&p, frame, len - 1);
        expect_bad(&p, UMC_REASON_FRAME_TRUNCATED);
        /* peek shows the refused PDU as it came. */
        assert_int_equal(umc_stream_peek(p.s, &rest), len - 1);
        assert_memory_equal(rest, frame, len - 1);
        pair_free(&p);

        /* Cut inside the header: still truncated, and peek has those few bytes. */
        packet_pair_new(&p, 1000, BIG_QUEUE);
        peer_write(&p, frame, 10);
        expect_bad(&p, UMC_REASON_FRAME_TRUNCATED);
        assert_int_equal(umc_stream_peek(p.s, &rest), 10);
        pair_free(&p);
}

static void test_packet_longer_than_its_header_says_has_trailing_bytes(void **state) {
        uint8_t frame[UMC_FRAME_HEADER_LEN + 100 + 1];
        size_t len = make_frame(frame, 1, 100);
        struct pair p;

        frame[len] = 0xaa;
        packet_pair_new(&p, 1000, BIG_QUEUE);
        peer_write(&p, frame, len + 1);
        expect_bad(&p, UMC_REASON_FRAME_TRAILING_BYTES);
        pair_free(&p);
}

static void test_packet_longer_than_any_frame_is_too_long(void **state) {
        static uint8_t pdu[UMC_FRAME_HEADER_LEN + 5000];
        const uint8_t *rest;
        struct pair p;

        /*
         * A valid header of a 100-byte payload, but a PDU one byte longer than
         * the largest frame: the length alone refuses it.
         */
        (void)make_frame(pdu, 1, 100);
        packet_pair_new(&p, 1000, BIG_QUEUE);
        peer_write(&p, pdu, UMC_FRAME_HEADER_LEN + 1000 + 1);
        expect_bad(&p, UMC_REASON_FRAME_TOO_LONG);
        /* Never more than the buffer: the rest of the PDU was dropped by the kernel. */
        assert_int_equal(umc_stream_peek(p.s, &rest), UMC_FRAME_HEADER_LEN + 1000 + 1);
        pair_free(&p);

        /* Far longer than the buffer, header saying so too. */
        packet_pair_new(&p, 1000, BIG_QUEUE);
        peer_write(&p, pdu, make_frame(pdu, 2, 5000));
        expect_bad(&p, UMC_REASON_FRAME_TOO_LONG);
        pair_free(&p);

        /* Whole and consistent, but above this channel's max_payload. */
        packet_pair_new(&p, 1000, BIG_QUEUE);
        peer_write(&p, pdu, make_frame(pdu, 3, 1001) - 1);
        expect_bad(&p, UMC_REASON_FRAME_TOO_LONG);
        pair_free(&p);
}

static void test_packet_stream_skips_a_bad_pdu_and_reads_on(void **state) {
        uint8_t bad[UMC_FRAME_HEADER_LEN + 64], good[UMC_FRAME_HEADER_LEN + 64];
        size_t blen = make_frame(bad, 1, 64), glen = make_frame(good, 2, 64);
        const uint8_t *f, *rest;
        size_t len;
        struct pair p;

        bad[0] = 'X';
        packet_pair_new(&p, 1000, BIG_QUEUE);
        peer_write(&p, good, glen);
        peer_write(&p, bad, blen);
        peer_write(&p, good, glen);
        expect_frame(&p, good, glen);
        expect_bad(&p, UMC_REASON_FRAME_BAD_MAGIC);
        /* The refused PDU is there to look at until the next read ... */
        assert_int_equal(umc_stream_peek(p.s, &rest), blen);
        assert_int_equal(rest[0], 'X');
        /* ... which hands out the good PDU behind it: boundaries survive a bad PDU. */
        expect_frame(&p, good, glen);
        assert_int_equal(umc_stream_read(p.s, &f, &len, NULL), -EAGAIN);
        pair_free(&p);
}

static void test_packet_end_of_file_is_connreset(void **state) {
        uint8_t frame[UMC_FRAME_HEADER_LEN + 50];
        size_t flen = make_frame(frame, 1, 50);
        const uint8_t *f;
        size_t len;
        struct pair p;

        packet_pair_new(&p, 1000, BIG_QUEUE);
        peer_write(&p, frame, flen);
        close(p.peer);
        p.peer = -1;
        expect_frame(&p, frame, flen);
        assert_int_equal(umc_stream_read(p.s, &f, &len, NULL), -ECONNRESET);
        assert_int_equal(umc_stream_read(p.s, &f, &len, NULL), -ECONNRESET);
        pair_free(&p);
}

static void test_packet_queue_takes_only_whole_frames_and_refuses_when_full(void **state) {
        const size_t qmax = UMC_FRAME_HEADER_LEN + 1000;
        uint8_t frame[UMC_FRAME_HEADER_LEN + 600 + 1];
        size_t len = make_frame(frame, 1, 600);
        struct pair p;

        packet_pair_new(&p, 1000, qmax);
        /* Not exactly one frame by its header: refused, nothing queued. */
        assert_int_equal(umc_stream_queue(p.s, frame, len - 1), -EINVAL);
        assert_int_equal(umc_stream_queue(p.s, frame, len + 1), -EINVAL);
        assert_int_equal(umc_stream_queue(p.s, frame, 20), -EINVAL);
        assert_int_equal(umc_stream_queued(p.s), 0);
        assert_int_equal(umc_stream_queue(p.s, frame, len), 0);
        assert_int_equal(umc_stream_queue(p.s, frame, len), -ENOBUFS);
        assert_int_equal(umc_stream_queued(p.s), len);
        assert_int_equal(umc_stream_flush(p.s), 0);
        assert_int_equal(umc_stream_queue(p.s, frame, len), 0);
        assert_int_equal(umc_stream_flush(p.s), 0);
        assert_int_equal(peer_recv(&p, frame, sizeof(frame)), len);
        assert_int_equal(peer_recv(&p, frame, sizeof(frame)), len);
        pair_free(&p);
}

static void test_packet_flush_says_eagain_when_the_peer_is_full_and_resumes(void **state) {
        enum { N = 40, PAYLOAD = 3000 };
        static uint8_t sent[N][UMC_FRAME_HEADER_LEN + PAYLOAD];
        static uint8_t got[UMC_FRAME_HEADER_LEN + PAYLOAD + 1];
        const size_t flen = UMC_FRAME_HEADER_LEN + PAYLOAD;
        size_t next = 0, done = 0, eagains = 0;
        int small = 8192;
        struct pair p;

        for (size_t i = 0; i < N; i++)
                (void)make_frame(sent[i], (uint32_t)i, PAYLOAD);
        /* A queue of 5.5 frames, so whole frames wrap around its end. */
        packet_pair_new(&p, PAYLOAD, flen * 11 / 2);
        assert_int_equal(setsockopt(umc_stream_fd(p.s), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);

        for (unsigned round = 0; round < 1000 && done < N; round++) {
                int r;

                while (next < N && umc_stream_queue(p.s, sent[next], flen) == 0)
                        next++;
                r = umc_stream_flush(p.s);
                if (r == -EAGAIN) {
                        eagains++;
                        /* Whatever is still queued is whole frames, none half sent. */
                        assert_int_equal(umc_stream_queued(p.s) % flen, 0);
                        assert_true(umc_stream_queued(p.s) > 0);
                } else {
                        assert_int_equal(r, 0);
                }
                /* Drain only a little: the peer stays behind, so the sender fills up. */
                for (int k = 0; k < 2 && done < next; k++) {
                        ssize_t n = recv(p.peer, got, sizeof(got), MSG_DONTWAIT);

                        if (n < 0) {
                                assert_int_equal(errno, EAGAIN);
                                break;
                        }
                        assert_int_equal(n, (ssize_t)flen);
                        assert_memory_equal(got, sent[done], flen);
                        done++;
                }
        }
        assert_int_equal(done, N);
        assert_int_equal(umc_stream_queued(p.s), 0);
        assert_true(eagains > 0);
        pair_free(&p);
}

static void test_packet_flush_to_a_vanished_peer_fails_without_sigpipe(void **state) {
        uint8_t frame[UMC_FRAME_HEADER_LEN + 64];
        size_t len = make_frame(frame, 1, 64);
        struct pair p;
        int r;

        packet_pair_new(&p, 1000, BIG_QUEUE);
        close(p.peer);
        p.peer = -1;
        assert_int_equal(umc_stream_queue(p.s, frame, len), 0);
        r = umc_stream_flush(p.s); /* SIGPIPE would kill the test here */
        assert_true(r == -EPIPE || r == -ECONNRESET);
        assert_int_equal(umc_stream_queued(p.s), len);
        pair_free(&p);
}

static void test_packet_mode_needs_a_socket_that_keeps_boundaries(void **state) {
        struct umc_stream *s = NULL;
        int sv[2], pfd[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(umc_stream_new_packet(sv[0], 1000, BIG_QUEUE, &s), -EINVAL);
        assert_null(s);
        assert_int_equal(write(sv[0], "x", 1), 1); /* left open */
        close(sv[0]);
        close(sv[1]);

        assert_int_equal(pipe(pfd), 0);
        assert_int_equal(umc_stream_new_packet(pfd[1], 1000, BIG_QUEUE, &s), -ENOTSOCK);
        assert_int_equal(write(pfd[1], "x", 1), 1);
        close(pfd[0]);
        close(pfd[1]);

        assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(umc_stream_new_packet(sv[0], 0, BIG_QUEUE, &s), -EINVAL);
        assert_int_equal(umc_stream_new_packet(sv[0], 1000, 1000, &s), -EINVAL);
        assert_int_equal(umc_stream_new_packet(-1, 1000, BIG_QUEUE, &s), -EINVAL);
        assert_null(s);
        assert_int_equal(umc_stream_new_packet(sv[0], 1000, BIG_QUEUE, &s), 0);
        assert_int_equal(umc_stream_fd(s), sv[0]);
        umc_stream_free(s);
        close(sv[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_frame_split_at_every_byte_boundary_is_reassembled),
                cmocka_unit_test(test_several_frames_in_one_read_come_out_one_at_a_time),
                cmocka_unit_test(test_frames_straddling_the_buffer_end_are_kept),
                cmocka_unit_test(test_bad_header_is_rejected_and_the_stream_stays_broken),
                cmocka_unit_test(test_oversize_header_is_rejected_before_its_payload),
                cmocka_unit_test(test_short_payload_for_the_suite_is_rejected),
                cmocka_unit_test(test_end_of_file_is_connreset_after_buffered_frames),
                cmocka_unit_test(test_full_queue_refuses_and_takes_frames_again_after_flush),
                cmocka_unit_test(test_partial_writes_resume_in_order_across_the_ring_end),
                cmocka_unit_test(test_flush_to_a_vanished_peer_fails_without_sigpipe),
                cmocka_unit_test(test_new_refuses_bad_sizes_and_leaves_the_fd_open),
                cmocka_unit_test(test_packet_frames_go_out_one_whole_pdu_per_write),
                cmocka_unit_test(test_packet_frames_come_in_one_per_pdu),
                cmocka_unit_test(test_packet_shorter_than_its_header_says_is_truncated),
                cmocka_unit_test(test_packet_longer_than_its_header_says_has_trailing_bytes),
                cmocka_unit_test(test_packet_longer_than_any_frame_is_too_long),
                cmocka_unit_test(test_packet_stream_skips_a_bad_pdu_and_reads_on),
                cmocka_unit_test(test_packet_end_of_file_is_connreset),
                cmocka_unit_test(test_packet_queue_takes_only_whole_frames_and_refuses_when_full),
                cmocka_unit_test(test_packet_flush_says_eagain_when_the_peer_is_full_and_resumes),
                cmocka_unit_test(test_packet_flush_to_a_vanished_peer_fails_without_sigpipe),
                cmocka_unit_test(test_packet_mode_needs_a_socket_that_keeps_boundaries),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
