/* SPDX-License-Identifier: MIT */
/*
 * Frames over a non-blocking socket: a stream (TCP; AF_UNIX in tests), or
 * in packet mode a datagram socket that keeps message boundaries (a kernel
 * ISO-TP socket, isotp.h; AF_UNIX SOCK_SEQPACKET in tests).
 *
 * On a stream, frames follow each other back to back and the 28-byte header's
 * payload length is the only delimiter (frame.h). The reader keeps a buffer
 * of exactly one maximal frame (28 + max_payload bytes), reads as much as
 * fits, and hands out complete frames one at a time; the header is checked
 * as soon as its 28 bytes are in, so a peer cannot make us wait for (or
 * buffer) more than one frame. A bad header cannot be skipped: with the
 * length untrusted there is no next frame boundary, the connection must be
 * closed.
 *
 * The writer has a bounded queue (a ring of queue_max bytes): a frame that
 * does not fit is refused with -ENOBUFS, so the caller stops producing until
 * EPOLLOUT lets umc_stream_flush() drain it. Memory is therefore fixed per
 * connection whatever is sent over it.
 *
 * Packet mode (umc_stream_new_packet()) carries one frame per datagram:
 * one recv() is one PDU is one frame, one sendmsg() per queued frame. A PDU
 * is never split across frames nor two frames merged into one PDU, so
 * there is no reassembly: a PDU must be exactly 28 + payload length bytes
 * (shorter: FRAME_TRUNCATED, longer: FRAME_TRAILING_BYTES, longer than any
 * frame of max_payload: FRAME_TOO_LONG) and is otherwise refused like a bad
 * header, -EBADMSG, but for that PDU only: the boundaries survive it, so the
 * next read hands out the next PDU. (On a bus anyone can send a PDU to our
 * ID; a bad one says nothing about the peer we talk to.) ISO-TP takes
 * one PDU at a time: while the previous one is still in flight, flush
 * returns -EAGAIN with the frame still queued, and POLLOUT says when the
 * next may go (kernels without the 2023 isotp_poll() fix report POLLOUT
 * from the socket buffer alone: flush then just says -EAGAIN again; the
 * Debian 6.1 guest kernel reports it exactly when the PDU is done).
 * The kernel's asynchronous ISO-TP errors (-ECOMM for a missing flow
 * control, -ETIMEDOUT, -EILSEQ ...) surface on the next read; its -EBADMSG
 * for bad padding is returned as -EPROTO, so that -EBADMSG keeps meaning
 * "a frame was refused, here is the reason".
 *
 * The stream owns the fd from umc_stream_new*() on and closes it in
 * umc_stream_free(). No function blocks; none is thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/reason.h"

struct umc_stream;

/*
 * Take fd (a connected stream socket, set O_NONBLOCK here) with a read
 * buffer for frames of up to max_payload payload bytes (1..
 * UMC_FRAME_MAX_PAYLOAD) and a write queue of queue_max bytes (at least one
 * maximal frame, so every valid frame can be queued once the queue drained).
 * On success *ret owns fd; on failure fd is left open and still the
 * caller's. -EINVAL for a bad fd or size, -ENOMEM, or the errno of fcntl().
 */
int umc_stream_new(int fd, size_t max_payload, size_t queue_max, struct umc_stream **ret);

/*
 * The same in packet mode (see above) for fd, a connected SOCK_DGRAM
 * (ISO-TP) or SOCK_SEQPACKET socket whose PDUs can hold 28 + max_payload
 * bytes. Ownership and sizes as for umc_stream_new(); -EINVAL also for a
 * stream socket, -ENOTSOCK (the errno of getsockopt()) for no socket at all.
 */
int umc_stream_new_packet(int fd, size_t max_payload, size_t queue_max, struct umc_stream **ret);

/* Close the fd and free everything; queued bytes are dropped. Accepts NULL. */
void umc_stream_free(struct umc_stream *s);

static inline void umc_stream_freep(struct umc_stream **s) {
        umc_stream_free(*s);
}

/*
 * Hand the fd over to the caller (who closes it) and forget it: for an
 * ISO-TP socket, whose close() may wait for a PDU in flight
 * (umc_isotp_close_later()). Returns the fd, or -EBADF when s has none.
 */
int umc_stream_take_fd(struct umc_stream *s);

/* The fd, still owned by s (for event sources, getsockname(), shutdown()). */
int umc_stream_fd(const struct umc_stream *s);

/*
 * Hand out the next complete frame: *ret_frame points into s's buffer and
 * stays valid until the next call of umc_stream_read() or
 * umc_stream_free(); *ret_len = 28 + payload length. The frame's header
 * passed umc_frame_header_parse() (nothing more: authenticating it is the
 * session's job). Reads from the fd only when the buffer holds no complete
 * frame. Returns 0 with a frame; -EAGAIN when more bytes are needed and the
 * socket has none (wait for EPOLLIN); -EBADMSG with *ret_reason (may be
 * NULL) naming the header's defect, after which every call fails the same
 * way; -ECONNRESET on end of file (or a reset), also when part of a frame
 * was buffered; another negative errno of read(). Outputs are written only
 * on success (and *ret_reason only on -EBADMSG).
 * Packet mode: one recv() per call, a frame is handed out only when the
 * whole PDU is exactly that frame (above), else -EBADMSG for that PDU alone
 * (the next call reads the next one); -ECONNRESET for a 0-byte read (EOF on
 * SOCK_SEQPACKET); -EPROTO for the kernel's EBADMSG.
 */
int umc_stream_read(struct umc_stream *s, const uint8_t **ret_frame, size_t *ret_len,
                    enum umc_reason *ret_reason);

/*
 * The bytes received but not yet handed out as a frame (after a -EBADMSG:
 * starting with the bad header, at least 28 bytes). *ret points into s's
 * buffer, valid until the next umc_stream_read(). Returns their number.
 * Packet mode: 0 except right after -EBADMSG, when it is the refused PDU as
 * received (fewer than 28 bytes if it was truncated inside the header; at
 * most 28 + max_payload + 1 if it was too long).
 */
size_t umc_stream_peek(const struct umc_stream *s, const uint8_t **ret);

/*
 * Copy len bytes (one whole frame, 1..queue_max) to the end of the write
 * queue. Nothing is written to the fd here: call umc_stream_flush().
 * -ENOBUFS when they do not fit now (nothing queued: flush and retry after
 * EPOLLOUT), -EMSGSIZE when they could never fit, -EINVAL for len 0.
 * Packet mode: also -EINVAL unless len is exactly 28 + the payload length
 * in the frame's header, because flush finds each frame's end from its
 * header (no second list of lengths to size and keep in step).
 */
int umc_stream_queue(struct umc_stream *s, const void *frame, size_t len);

/*
 * Write queued bytes until the queue is empty or the socket is full.
 * Returns 0 when the queue is empty, -EAGAIN when bytes remain (wait for
 * EPOLLOUT and call again), -EPIPE or -ECONNRESET when the peer is gone,
 * another negative errno of the write. Never raises SIGPIPE.
 * Packet mode: one whole frame per sendmsg(); -EAGAIN leaves it queued
 * whole (ISO-TP: previous PDU still in flight, or socket buffer full);
 * -EMSGSIZE / -EINVAL (ISO-TP) when a frame is above the socket's PDU
 * limit; -EIO if the socket ever took part of a frame, which a datagram
 * socket cannot do (the link is then unusable: close it).
 */
int umc_stream_flush(struct umc_stream *s);

/* Bytes waiting in the write queue, and room left in it. */
size_t umc_stream_queued(const struct umc_stream *s);
size_t umc_stream_queue_space(const struct umc_stream *s);
