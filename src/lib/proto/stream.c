/* SPDX-License-Identifier: MIT */
#include "umc/stream.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "umc/frame.h"
#include "umc/util.h"

/* A queue larger than this is a caller's mistake, not a need: memory stays bounded. */
#define QUEUE_MAX_LIMIT (16u * 1024 * 1024)

struct umc_stream {
        int fd;
        size_t max_payload;
        bool packet;             /* one frame per datagram (umc_stream_new_packet()) */

        uint8_t *rbuf;           /* one maximal frame (packet mode: and one byte more) */
        size_t rcap;
        size_t rfill;            /* bytes in rbuf */
        size_t handed;           /* length of the frame handed out last, consumed on the next read */
        bool eof;
        bool broken;             /* a bad header was seen: no frame boundary any more */
        enum umc_reason broken_reason;

        uint8_t *wbuf;           /* ring of wcap bytes */
        size_t wcap;
        size_t whead;            /* first queued byte */
        size_t wlen;             /* queued bytes */
};

static int stream_new(int fd, size_t max_payload, size_t queue_max, bool packet,
                      struct umc_stream **ret) {
        struct umc_stream *s;
        int flags;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->fd = -1;
        /*
         * Packet mode: one byte beyond the largest frame, so that a PDU too
         * long for any frame fills the buffer and is seen, not cut short
         * into something that looks whole.
         */
        s->rcap = UMC_FRAME_HEADER_LEN + max_payload + (packet ? 1 : 0);
        s->rbuf = malloc(s->rcap);
        s->wcap = queue_max;
        s->wbuf = malloc(s->wcap);
        if (!s->rbuf || !s->wbuf) {
                umc_stream_free(s); /* fd is still -1: not closed */
                return -ENOMEM;
        }
        s->max_payload = max_payload;
        s->packet = packet;
        s->fd = fd;
        *ret = s;
        return 0;
}

static bool sizes_ok(int fd, size_t max_payload, size_t queue_max, struct umc_stream **ret) {
        return fd >= 0 && ret && max_payload > 0 && max_payload <= UMC_FRAME_MAX_PAYLOAD &&
               queue_max >= UMC_FRAME_HEADER_LEN + max_payload && queue_max <= QUEUE_MAX_LIMIT;
}

int umc_stream_new(int fd, size_t max_payload, size_t queue_max, struct umc_stream **ret) {
        if (!sizes_ok(fd, max_payload, queue_max, ret))
                return -EINVAL;
        return stream_new(fd, max_payload, queue_max, false, ret);
}

int umc_stream_new_packet(int fd, size_t max_payload, size_t queue_max, struct umc_stream **ret) {
        int type = 0;
        socklen_t tlen = sizeof(type);

        if (!sizes_ok(fd, max_payload, queue_max, ret))
                return -EINVAL;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
                return -errno;
        /* A stream socket keeps no boundaries: frames would be merged or split. */
        if (type != SOCK_DGRAM && type != SOCK_SEQPACKET)
                return -EINVAL;
        return stream_new(fd, max_payload, queue_max, true, ret);
}

int umc_stream_take_fd(struct umc_stream *s) {
        int fd;

        if (!s || s->fd < 0)
                return -EBADF;
        fd = s->fd;
        s->fd = -1;
        return fd;
}

void umc_stream_free(struct umc_stream *s) {
        if (!s)
                return;
        if (s->fd >= 0)
                (void)close(s->fd);
        /* Frames on the way in or out may carry plaintext-derived bytes (AUTH nonces). */
        if (s->rbuf)
                umc_memzero(s->rbuf, s->rcap);
        if (s->wbuf)
                umc_memzero(s->wbuf, s->wcap);
        free(s->rbuf);
        free(s->wbuf);
        free(s);
}

int umc_stream_fd(const struct umc_stream *s) {
        return s->fd;
}

/* Drop the frame handed out by the previous call: the rest moves to the front. */
static void consume_handed(struct umc_stream *s) {
        if (s->handed == 0)
                return;
        memmove(s->rbuf, s->rbuf + s->handed, s->rfill - s->handed);
        s->rfill -= s->handed;
        s->handed = 0;
}

/* Mark s broken: from now on every read fails with -EBADMSG and this reason. */
static int set_broken(struct umc_stream *s, enum umc_reason why) {
        s->broken = true;
        s->broken_reason = why;
        return -EBADMSG;
}

static int broken_result(const struct umc_stream *s, enum umc_reason *ret_reason) {
        if (ret_reason)
                *ret_reason = s->broken_reason;
        return -EBADMSG;
}

/*
 * 1 with *ret_len when rbuf starts with a complete frame, 0 when more bytes
 * are needed, -EBADMSG when its header is bad (s is then broken).
 */
static int buffered_frame(struct umc_stream *s, size_t *ret_len) {
        struct umc_frame_header h;
        enum umc_reason why;
        size_t need;

        if (s->rfill < UMC_FRAME_HEADER_LEN)
                return 0;
        if (umc_frame_header_parse(s->rbuf, s->rfill, s->max_payload, &h, &why) < 0)
                return set_broken(s, why);
        need = UMC_FRAME_HEADER_LEN + (size_t)h.payload_len;
        if (s->rfill < need)
                return 0;
        *ret_len = need;
        return 1;
}

/*
 * Packet mode: one recv() is one PDU, which must be exactly one frame. The
 * PDU stays in rbuf (rfill bytes) until the next call, for the caller and,
 * when it was bad, for umc_stream_peek().
 */
static int read_packet(struct umc_stream *s, const uint8_t **ret_frame, size_t *ret_len,
                       enum umc_reason *ret_reason) {
        enum umc_reason why = UMC_REASON_OK;
        ssize_t n;

        s->handed = 0;
        for (;;) {
                if (s->broken)
                        return broken_result(s, ret_reason);
                if (s->eof)
                        return -ECONNRESET;
                s->rfill = 0;
                n = recv(s->fd, s->rbuf, s->rcap, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return -EAGAIN;
                        /*
                         * ISO-TP reports a PDU with wrong padding as EBADMSG;
                         * ours means "a frame was bad, here is the reason".
                         */
                        if (errno == EBADMSG)
                                return -EPROTO;
                        return -errno;
                }
                if (n == 0) {
                        /* EOF on SOCK_SEQPACKET (ISO-TP has no empty PDU: SF_DL 0 is invalid). */
                        s->eof = true;
                        return -ECONNRESET;
                }
                s->rfill = (size_t)n;
                /*
                 * The length first: it needs no trust in the bytes. A bad
                 * PDU costs only itself: the next one starts a frame again.
                 */
                if (s->rfill == s->rcap)
                        why = UMC_REASON_FRAME_TOO_LONG;
                else
                        /* Header checks, then length == 28 + payload_len exactly. */
                        (void)umc_frame_parse(s->rbuf, s->rfill, s->max_payload, NULL, NULL, &why);
                if (why != UMC_REASON_OK) {
                        if (ret_reason)
                                *ret_reason = why;
                        return -EBADMSG;
                }
                s->handed = s->rfill;
                *ret_frame = s->rbuf;
                *ret_len = s->rfill;
                return 0;
        }
}

int umc_stream_read(struct umc_stream *s, const uint8_t **ret_frame, size_t *ret_len,
                    enum umc_reason *ret_reason) {
        if (s->packet)
                return read_packet(s, ret_frame, ret_len, ret_reason);
        consume_handed(s);

        for (;;) {
                size_t len = 0;
                ssize_t n;
                int r;

                if (s->broken)
                        return broken_result(s, ret_reason);
                r = buffered_frame(s, &len);
                if (r < 0)
                        continue; /* report through the broken state above */
                if (r > 0) {
                        s->handed = len;
                        *ret_frame = s->rbuf;
                        *ret_len = len;
                        return 0;
                }
                if (s->eof)
                        return -ECONNRESET;

                /*
                 * Room is left: an incomplete frame is shorter than rcap, which
                 * holds the longest frame the header check lets through.
                 */
                n = read(s->fd, s->rbuf + s->rfill, s->rcap - s->rfill);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return -EAGAIN;
                        return -errno;
                }
                if (n == 0) {
                        s->eof = true;
                        return -ECONNRESET;
                }
                s->rfill += (size_t)n;
        }
}

size_t umc_stream_peek(const struct umc_stream *s, const uint8_t **ret) {
        *ret = s->rbuf + s->handed;
        return s->rfill - s->handed;
}

/* 28 + the payload length in the header of the frame at ring offset at (may wrap). */
static size_t ring_frame_len(const struct umc_stream *s, size_t at) {
        uint8_t be[4];

        for (size_t i = 0; i < sizeof(be); i++)
                be[i] = s->wbuf[(at + UMC_FRAME_PAYLOAD_LEN_OFFSET + i) % s->wcap];
        return UMC_FRAME_HEADER_LEN + (size_t)umc_get_be32(be);
}

/* Does the header at f say that the frame is exactly len bytes? */
static bool is_one_frame(const uint8_t *f, size_t len) {
        return len >= UMC_FRAME_HEADER_LEN &&
               UMC_FRAME_HEADER_LEN + (size_t)umc_get_be32(f + UMC_FRAME_PAYLOAD_LEN_OFFSET) == len;
}

int umc_stream_queue(struct umc_stream *s, const void *frame, size_t len) {
        size_t tail, first;

        if (len == 0)
                return -EINVAL;
        /*
         * Packet mode finds frame boundaries in the ring from each header, so
         * only exactly one frame may go in.
         */
        if (s->packet && !is_one_frame(frame, len))
                return -EINVAL;
        if (len > s->wcap)
                return -EMSGSIZE;
        if (len > s->wcap - s->wlen)
                return -ENOBUFS;
        tail = (s->whead + s->wlen) % s->wcap;
        first = s->wcap - tail < len ? s->wcap - tail : len;
        memcpy(s->wbuf + tail, frame, first);
        memcpy(s->wbuf, (const uint8_t *)frame + first, len - first);
        s->wlen += len;
        return 0;
}

/*
 * A stream socket takes what fits and the rest goes later; a packet socket
 * takes one whole frame per call, as one datagram (one ISO-TP PDU) even
 * when it wraps the ring's end: two iovecs still make one datagram, and
 * ISO-TP's sendmsg accepts (ignores) MSG_NOSIGNAL, both checked on vcan in
 * the 6.1 guest.
 */
int umc_stream_flush(struct umc_stream *s) {
        while (s->wlen > 0) {
                size_t len = s->packet ? ring_frame_len(s, s->whead) : s->wlen;
                size_t first = s->wcap - s->whead < len ? s->wcap - s->whead : len;
                struct iovec iov[2] = {
                        { .iov_base = s->wbuf + s->whead, .iov_len = first },
                        { .iov_base = s->wbuf, .iov_len = len - first },
                };
                struct msghdr mh = { .msg_iov = iov, .msg_iovlen = iov[1].iov_len ? 2 : 1 };
                ssize_t n;

                /* MSG_NOSIGNAL: a vanished peer is an error to handle, not a signal. */
                n = sendmsg(s->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return -EAGAIN;
                        return -errno;
                }
                if (s->packet && (size_t)n != len)
                        return -EIO; /* a datagram socket cannot do this: do not go on */
                s->whead = (s->whead + (size_t)n) % s->wcap;
                s->wlen -= (size_t)n;
        }
        s->whead = 0;
        return 0;
}

size_t umc_stream_queued(const struct umc_stream *s) {
        return s->wlen;
}

size_t umc_stream_queue_space(const struct umc_stream *s) {
        return s->wcap - s->wlen;
}
