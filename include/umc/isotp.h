/* SPDX-License-Identifier: MIT */
/*
 * ISO-TP channel (ISO 15765-2) over the kernel's CAN_ISOTP sockets
 * (mainline since 5.10). One write() is one PDU is one of our frames
 * (frame.h); one read() is one PDU. The kernel does segmentation, flow
 * control, padding and timing; this module only configures a socket
 * correctly and moves whole PDUs without blocking.
 *
 * Every socket option must be set before bind(): afterwards the kernel
 * answers EISCONN. All of them are checked.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "umc/busload.h"

/* CAN identifiers: 11 bits (base format) or 29 bits (extended), ISO 11898-1. */
#define UMC_ISOTP_SFF_MAX 0x7ffu
#define UMC_ISOTP_EFF_MAX 0x1fffffffu

/*
 * The PDU lengths umc_isotp_probe_max_pdu() tries, largest first: 66000
 * (kernels from 5.18 without a lower max_pdu_size), 8300 (the default of
 * the later max_pdu_size module parameter), 8200 (5.10 to 5.17) and 4095
 * (the 12-bit FF_DL of ISO 15765-2:2004, which every kernel accepts).
 */
#define UMC_ISOTP_PROBE_SIZES { 66000, 8300, 8200, 4095 }
/* Receive buffer asked for on every ISO-TP socket (capped by net.core.rmem_max). */
#define UMC_ISOTP_RCVBUF (1024 * 1024)
/* How long the probe waits for one PDU to come round on the interface. */
#define UMC_ISOTP_PROBE_TIMEOUT_MSEC 20000

struct umc_isotp_opts {
        uint32_t tx_id;         /* CAN ID we send on */
        uint32_t rx_id;         /* CAN ID we listen on */
        bool eff;               /* 29-bit IDs */
        bool fd;                /* CAN FD: link MTU 72, 64-byte frames */
        bool brs;               /* with fd: bit rate switch in the data phase */
        bool padding;           /* pad every frame to its full length ... */
        uint8_t pad_byte;       /* ... with this byte (tx and expected on rx) */
        uint8_t block_size;     /* BS we advertise in our flow control; 0 = no limit */
        /*
         * STmin we ask the peer for in our flow control, as the wire byte of
         * ISO 15765-2 (0x00-0x7f: ms, 0xf1-0xf9: 100-900 us); anything else
         * is rejected.
         */
        uint8_t stmin;
        /*
         * Gap between the consecutive frames we send, in ns (the kernel's
         * frame_txtime). 0 means really no gap: from 5.18 the kernel reads
         * 0 as "keep the default of 50 us" and wants
         * CAN_ISOTP_FRAME_TXTIME_ZERO for zero, which we pass; kernels
         * before 5.18 take 0 as zero and are given 0.
         */
        uint32_t frame_gap_ns;
};

/* Sets the defaults: classic CAN, no padding (pad byte 0xcc), BS 0, STmin 0, no gap. */
void umc_isotp_opts_default(struct umc_isotp_opts *o);

/*
 * Check opts: IDs in range for eff and different from each other, BRS only
 * with FD, STmin a valid wire value. Returns 0 or -EINVAL.
 */
int umc_isotp_opts_check(const struct umc_isotp_opts *o);

/*
 * Open a non-blocking ISO-TP socket on interface ifname with opts, bound
 * to its tx/rx IDs. The caller owns *ret_fd (close it). Returns 0;
 * -EINVAL for bad opts or a bad interface name, -ENODEV when there is no
 * such interface, or the errno of socket/setsockopt/bind
 * (-EAFNOSUPPORT / -EPROTONOSUPPORT when the kernel has no CAN or ISO-TP).
 */
int umc_isotp_open(const char *ifname, const struct umc_isotp_opts *opts, int *ret_fd);

/*
 * Close fd (an ISO-TP socket) without stalling the event loop. The
 * kernel's close() waits until the PDU in flight has left, up to the
 * flow-control timeout when the peer no longer answers (1.2 s measured in
 * the guest). When nothing is in flight (the socket is writable) fd is
 * closed at once; otherwise a floating source on event closes it once the
 * socket turns writable, which the kernel reports when the PDU went or
 * timed out. fd is the function's in every case; returns 0, or the error
 * of sd-event after closing fd the blocking way.
 */
int umc_isotp_close_later(sd_event *event, int fd);

/*
 * Send one PDU (one whole frame) on a socket from umc_isotp_open(). Returns
 * 0 once the kernel took it; -EAGAIN while a previous PDU is still in
 * flight (poll for POLLOUT); -EMSGSIZE / -EINVAL when len is above the
 * kernel's PDU limit or 0; other errnos of write().
 */
int umc_isotp_send(int fd, const void *buf, size_t len);

/*
 * Receive one PDU into buf. Returns 0 with *ret_len; -EAGAIN when none is
 * waiting; -EMSGSIZE when the PDU was longer than size (it is dropped,
 * never handed on cut short); other errnos of recvmsg() (-ECOMM, -EILSEQ,
 * -ETIMEDOUT ... are the kernel's protocol errors on the connection).
 */
int umc_isotp_recv(int fd, void *buf, size_t size, size_t *ret_len);

/*
 * Find the largest PDU the running kernel moves on ifname: for each of
 * UMC_ISOTP_PROBE_SIZES, largest first, write a PDU of that length on a
 * scratch pair of sockets (two free CAN IDs, CAN FD when the interface's
 * MTU allows it, so the probe is quick) and read it back on the other one
 * within UMC_ISOTP_PROBE_TIMEOUT_MSEC. The first length that arrives
 * whole and intact is the limit. Puts test traffic on the bus: for vcan
 * and bench set-ups, not for a vehicle bus.
 * Returns 0 with *ret_max_pdu; -ENOTSUP when no size went through,
 * -ETIMEDOUT when one was accepted but never arrived, or the errors of
 * umc_isotp_open().
 */
int umc_isotp_probe_max_pdu(const char *ifname, size_t *ret_max_pdu);

/*
 * The largest frame payload (frame.h payload_len) that fits one PDU of
 * max_pdu bytes: max_pdu minus the 28-byte frame header, capped at
 * UMC_FRAME_MAX_PAYLOAD. 0 when max_pdu cannot hold a header.
 */
size_t umc_isotp_max_payload(size_t max_pdu);

/*
 * The running kernel's largest PDU without putting anything on a bus: the
 * can_isotp module's max_pdu_size parameter where the kernel has one
 * (/sys/module/can_isotp/parameters/max_pdu_size, later kernels), else by
 * kernel release: 66000 from 5.18, 8200 before (linux net/can/isotp.c, MAX_MSG_LENGTH). Daemons
 * use this; umc_isotp_probe_max_pdu() is the test bed's cross-check.
 * Always succeeds with a value >= 4095.
 */
size_t umc_isotp_kernel_max_pdu(void);

/*
 * The rule behind umc_isotp_kernel_max_pdu(), a pure function: param is
 * the text of the max_pdu_size module parameter (NULL when the kernel has
 * none), release the kernel release ("6.1.0-57-amd64"). A parameter that
 * is not a number of at least 4095 is ignored; an unreadable release
 * counts as a current kernel.
 */
size_t umc_isotp_max_pdu_for(const char *param, const char *release);

/* What one PDU costs on the bus (umc_isotp_pdu_wire()). */
struct umc_isotp_wire {
        uint64_t frames;     /* CAN frames: first/single, consecutive and flow control */
        uint64_t arb_bits;   /* bits at the (arbitration) bitrate, interframe space included */
        uint64_t data_bits;  /* bits at the data bitrate (CAN FD with BRS) */
};

/*
 * The CAN frames that carry a PDU of len bytes (1..66000) with opts, as
 * ISO 15765-2 segments it: a single frame when it fits (1-byte PCI, or the
 * 2-byte CAN FD escape above 7 bytes), else a first frame (2-byte PCI, or
 * 6 bytes above 4095), consecutive frames with a 1-byte PCI, and the
 * receiver's flow control frame(s): one after the first frame and one per
 * block_size consecutive frames. Classic frames with padding are 8 bytes;
 * CAN FD frames are rounded up to the next valid length (the kernel pads
 * them). Bits from umc_busload_frame_bits() with mode and model; the
 * exact mode needs the data, so it is taken as worst case here (an upper
 * bound). Pure function. -EINVAL for bad opts, len or mode.
 */
int umc_isotp_pdu_wire(size_t len, const struct umc_isotp_opts *opts, enum umc_stuffing mode,
                       enum umc_bitmodel model, struct umc_isotp_wire *ret);
