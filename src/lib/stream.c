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

        uint8_t *rbuf;           /* one maximal frame */
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

int umc_stream_new(int fd, size_t max_payload, size_t queue_max, struct umc_stream **ret) {
        struct umc_stream *s;
        int flags;

        if (fd < 0 || !ret || max_payload == 0 || max_payload > UMC_FRAME_MAX_PAYLOAD ||
            queue_max < UMC_FRAME_HEADER_LEN + max_payload || queue_max > QUEUE_MAX_LIMIT)
                return -EINVAL;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->fd = -1;
        s->rcap = UMC_FRAME_HEADER_LEN + max_payload;
        s->rbuf = malloc(s->rcap);
        s->wcap = queue_max;
        s->wbuf = malloc(s->wcap);
        if (!s->rbuf || !s->wbuf) {
                umc_stream_free(s); /* fd is still -1: not closed */
                return -ENOMEM;
        }
        s->max_payload = max_payload;
        s->fd = fd;
        *ret = s;
        return 0;
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
        if (umc_frame_header_parse(s->rbuf, s->rfill, s->max_payload, &h, &why) < 0) {
                s->broken = true;
                s->broken_reason = why;
                return -EBADMSG;
        }
        need = UMC_FRAME_HEADER_LEN + (size_t)h.payload_len;
        if (s->rfill < need)
                return 0;
        *ret_len = need;
        return 1;
}

int umc_stream_read(struct umc_stream *s, const uint8_t **ret_frame, size_t *ret_len,
                    enum umc_reason *ret_reason) {
        consume_handed(s);

        for (;;) {
                size_t len = 0;
                ssize_t n;
                int r;

                if (s->broken) {
                        if (ret_reason)
                                *ret_reason = s->broken_reason;
                        return -EBADMSG;
                }
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

int umc_stream_queue(struct umc_stream *s, const void *frame, size_t len) {
        size_t tail, first;

        if (len == 0)
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

int umc_stream_flush(struct umc_stream *s) {
        while (s->wlen > 0) {
                size_t first = s->wcap - s->whead < s->wlen ? s->wcap - s->whead : s->wlen;
                struct iovec iov[2] = {
                        { .iov_base = s->wbuf + s->whead, .iov_len = first },
                        { .iov_base = s->wbuf, .iov_len = s->wlen - first },
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
