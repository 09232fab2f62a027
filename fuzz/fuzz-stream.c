/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the stream reader: umc_stream_read() on a TCP
 * connection, where a man in the middle decides every byte and where the
 * pieces arrive in (umcd reading an agent, the agent reading umcd). The
 * harness writes the input into one end of an AF_UNIX SOCK_STREAM socket
 * pair, which like TCP keeps no message boundaries, and the reader reads
 * the other end.
 *
 * Input: one mode byte, then steps. Mode bits 0-1 pick the reader's
 * max_payload (1024: umcd's delivery; 64 KiB: the agent; 4067: one
 * classic ISO-TP PDU; 64: small enough that an oversize length is
 * easy to reach); bit 2 ends the byte stream (shutdown(SHUT_WR), end of
 * file at the reader) after the last step. Each step is a 2-byte
 * big-endian word and bytes: bits 0-14 the number of bytes (fewer at the
 * end of the input), written as one send(); bit 15 clear: then read every
 * frame the reader has, until it answers anything but 0; set: write the
 * next step first, so that several frames or pieces of them wait in the
 * socket for one read().
 *
 * The harness keeps every byte it sent and where the next frame starts in
 * them. Properties, beyond no crash or leak under ASan/UBSan:
 *  - a frame handed out is exactly the next 28 + payload length bytes
 *    sent (nothing skipped, merged or invented), and its header passes
 *    umc_frame_header_parse() under the reader's max_payload;
 *  - -EAGAIN only when the socket is empty and what is buffered, which is
 *    exactly the rest of what was sent, holds no complete frame and no bad
 *    header; -ECONNRESET the same, and only after the end of file;
 *  - -EBADMSG only when the next 28 bytes sent are a header that
 *    umc_frame_header_parse() refuses, with its 0x01xx reason;
 *  - a refusal leaves what it must alone: no output but the reason is
 *    written (-EAGAIN and -ECONNRESET write none), the bytes before it are
 *    still the ones handed out, and once broken the stream answers every
 *    later call with the same reason, shows the same bytes through
 *    umc_stream_peek() and reads nothing more from the socket.
 */
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "umc/frame.h"
#include "umc/stream.h"

#define HOLD 0x8000u
#define STEP_LEN 0x7fffu
#define MODE_EOF 0x04u
#define QUEUE_MAX (UMC_FRAME_HEADER_LEN + UMC_FRAME_MAX_PAYLOAD)
/* Written where the reader must not write: a changed one is a broken contract. */
#define SENTINEL_REASON ((enum umc_reason)0x7777)

static const size_t max_payloads[4] = { 1024, UMC_FRAME_MAX_PAYLOAD, 4095 - UMC_FRAME_HEADER_LEN, 64 };
static const uint8_t sentinel_byte;
#define SENTINEL_FRAME (&sentinel_byte)
#define SENTINEL_LEN ((size_t)0x5e5e5e5e)

/* What the harness sent, and what the reader made of it so far. */
struct model {
        struct umc_stream *s;
        int tx;                /* the peer's end */
        size_t max_payload;
        uint8_t *sent;
        size_t total;          /* bytes sent */
        size_t off;            /* where the next frame starts in sent */
        bool eof;              /* the peer shut its side down */
        bool broken;           /* the reader said -EBADMSG */
        enum umc_reason broken_reason;
        size_t broken_peek;    /* what umc_stream_peek() showed then */
        int broken_inq;        /* and what the socket held */
};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

static int inq(const struct model *m) {
        int n = -1;

        CHECK(ioctl(umc_stream_fd(m->s), FIONREAD, &n) == 0);
        return n;
}

/* umc_stream_peek() shows the bytes sent from where the next frame starts. */
static size_t check_peek(const struct model *m) {
        const uint8_t *p;
        size_t n = umc_stream_peek(m->s, &p);

        CHECK(n <= m->total - m->off);
        CHECK(n == 0 || memcmp(p, m->sent + m->off, n) == 0);
        return n;
}

static void check_frame(struct model *m, const uint8_t *f, size_t len) {
        struct umc_frame_header h;
        enum umc_reason why;

        CHECK(len >= UMC_FRAME_HEADER_LEN && len <= UMC_FRAME_HEADER_LEN + m->max_payload);
        CHECK(len <= m->total - m->off);
        CHECK(memcmp(f, m->sent + m->off, len) == 0);
        CHECK(umc_frame_header_parse(f, len, m->max_payload, &h, &why) == 0);
        CHECK(UMC_FRAME_HEADER_LEN + (size_t)h.payload_len == len);
        m->off += len;
        (void)check_peek(m);
}

/* -EAGAIN or -ECONNRESET: all that was sent is buffered and holds no frame yet. */
static void check_waiting(const struct model *m) {
        size_t rest = m->total - m->off;
        struct umc_frame_header h;
        enum umc_reason why;

        CHECK(inq(m) == 0);
        CHECK(check_peek(m) == rest);
        if (rest < UMC_FRAME_HEADER_LEN)
                return;
        CHECK(umc_frame_header_parse(m->sent + m->off, rest, m->max_payload, &h, &why) == 0);
        CHECK(UMC_FRAME_HEADER_LEN + (size_t)h.payload_len > rest);
}

static void check_refused(struct model *m, enum umc_reason why) {
        size_t rest = m->total - m->off;
        enum umc_reason expect = UMC_REASON_OK;

        CHECK(why != SENTINEL_REASON && (why & 0xff00) == 0x0100);
        if (m->broken) {
                /* Stuck: the same answer, the same bytes, nothing more read. */
                CHECK(why == m->broken_reason);
                CHECK(check_peek(m) == m->broken_peek);
                CHECK(inq(m) == m->broken_inq);
                return;
        }
        CHECK(rest >= UMC_FRAME_HEADER_LEN);
        CHECK(umc_frame_header_parse(m->sent + m->off, rest, m->max_payload, NULL, &expect) == -EBADMSG);
        CHECK(why == expect);
        m->broken = true;
        m->broken_reason = why;
        m->broken_peek = check_peek(m);
        CHECK(m->broken_peek >= UMC_FRAME_HEADER_LEN);
        m->broken_inq = inq(m);
}

/* One umc_stream_read() and its checks; returns its result. */
static int read_one(struct model *m) {
        const uint8_t *f = SENTINEL_FRAME;
        size_t len = SENTINEL_LEN;
        enum umc_reason why = SENTINEL_REASON;
        int r = umc_stream_read(m->s, &f, &len, &why);

        if (r == 0) {
                CHECK(!m->broken && why == SENTINEL_REASON);
                check_frame(m, f, len);
                return 0;
        }
        CHECK(f == SENTINEL_FRAME && len == SENTINEL_LEN);
        if (r == -EBADMSG) {
                check_refused(m, why);
                return r;
        }
        CHECK(r == -EAGAIN || (r == -ECONNRESET && m->eof));
        CHECK(!m->broken && why == SENTINEL_REASON);
        check_waiting(m);
        return r;
}

/* Read until the reader has no frame; a final answer must hold when asked again. */
static void drain(struct model *m) {
        int r;

        do
                r = read_one(m);
        while (r == 0);
        if (r != -EAGAIN)
                CHECK(read_one(m) == r);
}

static void send_step(struct model *m, const uint8_t *p, size_t n) {
        ssize_t k;

        if (n == 0 || m->eof)
                return;
        k = send(m->tx, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        /* A full socket (the reader broken, or held steps) takes part or nothing. */
        CHECK(k > 0 || (k < 0 && errno == EAGAIN));
        if (k <= 0)
                return;
        memcpy(m->sent + m->total, p, (size_t)k);
        m->total += (size_t)k;
        if (m->broken)
                m->broken_inq += (int)k; /* the reader must leave them there */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct fuzz_cursor c = { .p = data, .left = size };
        uint8_t mode = fuzz_u8(&c);
        struct model m = { .max_payload = max_payloads[mode & 3] };
        int sv[2];

        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        CHECK(umc_stream_new(sv[1], m.max_payload, QUEUE_MAX, &m.s) == 0);
        m.tx = sv[0];
        m.sent = malloc(size + 1);
        CHECK(m.sent);
        while (c.left > 0) {
                uint16_t w = fuzz_u16(&c);
                const uint8_t *p;
                size_t n = fuzz_bytes(&c, w & STEP_LEN, &p);

                send_step(&m, p, n);
                if (!(w & HOLD))
                        drain(&m);
        }
        if (mode & MODE_EOF) {
                CHECK(shutdown(m.tx, SHUT_WR) == 0);
                m.eof = true;
        }
        drain(&m);
        if (m.eof)
                CHECK(m.broken || m.total - m.off == check_peek(&m));
        umc_stream_free(m.s); /* closes sv[1] */
        (void)close(m.tx);
        free(m.sent);
        return 0;
}
