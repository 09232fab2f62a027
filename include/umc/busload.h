/* SPDX-License-Identifier: MIT */
/*
 * Bus-load model.
 *
 * Frame bit lengths for CAN 2.0 (11- and 29-bit IDs) and CAN FD
 * (arbitration and data phase separately), in three stuffing modes. Two
 * models: UMC_BITMODEL_CANBUSLOAD reproduces can-utils canbusload exactly
 * (for side-by-side comparison); UMC_BITMODEL_ISO follows ISO 11898-1:2015
 * for CAN FD (stuff count, fixed stuff bits, CRC-17/21). For classic CAN the
 * two are identical (but for remote frames, see umc_busload_frame_bits()).
 * docs/busload.md gives the formulas and differences.
 *
 * Windowed load: frames (or Ethernet byte counters) are added with a
 * timestamp; each fixed window closes into a load percentage, kept in a
 * history that feeds the NORMAL / MUTATION / ABNORMAL classification
 * (loadclass.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/loadclass.h"

enum umc_stuffing {
        UMC_STUFF_IGNORE = 0,
        UMC_STUFF_WORST = 1,
        UMC_STUFF_EXACT = 2,
};

enum umc_bitmodel {
        UMC_BITMODEL_ISO = 0,
        UMC_BITMODEL_CANBUSLOAD = 1,
};

struct umc_can_frame {
        uint32_t id;        /* 11 or 29 bits */
        bool eff;           /* 29-bit ID */
        bool rtr;           /* classic remote frame (no data on the wire) */
        bool fd;            /* CAN FD frame */
        bool brs;           /* FD bit-rate switch: data phase at the data bitrate */
        uint8_t len;        /* data length in bytes: 0..8, FD 0..8,12,16,20,24,32,48,64 */
        const uint8_t *data; /* len bytes; needed by UMC_STUFF_EXACT only */
};

/*
 * Bits of f on the wire including the 3-bit interframe space.
 * *ret_data_bits gets the part sent at the data bitrate (FD with BRS),
 * 0 otherwise. -EINVAL for an invalid frame (bad length, ID out of range,
 * FD with RTR, exact mode without data), BRS on a classic frame, an unknown
 * mode or model, a NULL f or ret_total_bits (ret_data_bits may be NULL).
 * A remote frame's len is its DLC: UMC_BITMODEL_ISO sends no data bits for
 * it, UMC_BITMODEL_CANBUSLOAD counts len bytes as canbusload does (the one
 * classic-CAN difference between the models). CAN FD exact mode under
 * UMC_BITMODEL_CANBUSLOAD gives 0 and 0, as canbusload does. Pure function.
 */
int umc_busload_frame_bits(const struct umc_can_frame *f, enum umc_stuffing mode,
                           enum umc_bitmodel model, unsigned *ret_total_bits,
                           unsigned *ret_data_bits);

/* A frame as UMC_BITMODEL_ISO sends it (exact mode), for inspection and tests. */
struct umc_can_wire {
        unsigned total_bits;       /* = umc_busload_frame_bits(EXACT, ISO) */
        unsigned data_bits;        /* part at the data bitrate (FD with BRS) */
        unsigned stuff_bits;       /* dynamic stuff bits */
        unsigned stuff_bits_data;  /* of which in the data phase */
        unsigned fixed_stuff_bits; /* CAN FD: in the CRC field */
        unsigned crc_len;          /* 15, 17 or 21 */
        uint32_t crc;              /* the CRC sequence sent */
        uint8_t stuff_count;       /* CAN FD: Gray-coded count mod 8 << 1 | parity */
};

/*
 * Build f's real bitstream (classic: as canbusload's exact mode; CAN FD:
 * ISO 11898-1:2015 with an error-active transmitter, ESI dominant) and
 * describe it in *ret. f->data must hold f->len bytes unless len is 0 or
 * f is a remote frame. -EINVAL as umc_busload_frame_bits().
 */
int umc_busload_frame_wire(const struct umc_can_frame *f, struct umc_can_wire *ret);

/*
 * CRC of nbits bits of buf, most significant bit of buf[0] first, with the
 * CAN generator polynomial of that width (ISO 11898-1:2015: 15 -> 0x4599,
 * 17 -> 0x1685B, 21 -> 0x102899), no reflection or final XOR, register
 * starting at init. Returns 0, or -EINVAL for another width, an init wider
 * than the CRC, or a NULL buf or ret_crc.
 */
int umc_busload_crc(unsigned width, uint32_t init, const uint8_t *buf, size_t nbits,
                    uint32_t *ret_crc);

struct umc_busload {
        struct umc_load_cfg cfg;
        uint64_t bitrate, data_bitrate; /* bit/s; data_bitrate = bitrate without FD */
        enum umc_stuffing stuffing;
        enum umc_bitmodel model;
        uint64_t window_start;
        uint64_t arb_bits, data_bits;   /* accumulated in the open window */
        struct umc_load_history history; /* closed windows */
        double percent;                 /* last closed window */
        enum umc_load_class cls;        /* classification of that window */
        uint64_t n_windows;
        uint64_t last_counter;          /* Ethernet: previous byte+overhead total */
        bool have_counter;
        uint64_t last_bytes, last_packets; /* Ethernet: the counters behind last_counter */
        uint64_t last_counter_usec;     /* Ethernet: when last_counter was read */
        bool link;                      /* an Ethernet link, fed by counters, not frames */
};

/*
 * A CAN bus: bitrate and data bitrate in bit/s (data_bitrate 0 = classic).
 * Windows are [start, start + window) from now_usec on. -EINVAL for an
 * invalid cfg, mode or model, a bitrate outside 1..1000000 or a data
 * bitrate above 8000000 (canbusload's limits).
 */
int umc_busload_init_can(struct umc_busload *b, const struct umc_load_cfg *cfg, uint64_t bitrate,
                         uint64_t data_bitrate, enum umc_stuffing mode, enum umc_bitmodel model,
                         uint64_t now_usec);
/* An Ethernet link of link_bps bit/s. -EINVAL for an invalid cfg or link_bps 0. */
int umc_busload_init_link(struct umc_busload *b, const struct umc_load_cfg *cfg, uint64_t link_bps,
                          uint64_t now_usec);

/*
 * Count one CAN frame seen at ts_usec (closes any windows that ended before ts).
 * A frame at exactly a window's end belongs to the next window. A frame
 * stamped before the open window (read after the tick that closed its
 * window) counts in the open window: it did use the bus. -EINVAL for an
 * Ethernet b or an invalid frame (see umc_busload_frame_bits()); b is then
 * unchanged.
 */
int umc_busload_add_frame(struct umc_busload *b, const struct umc_can_frame *f, uint64_t ts_usec);

/*
 * Ethernet: feed the link's cumulative byte and packet counters (e.g. the
 * sum of tx and rx from /sys/class/net/IF/statistics). Each packet adds 24
 * bytes of preamble, SFD, FCS and interframe gap that the counters omit.
 * The first call only sets the baseline. Later calls spread the bits since
 * the previous call over the windows in between, in proportion to time, so
 * sample at least once per window, ideally just before umc_busload_tick().
 * A counter that went backwards is read as a 32-bit wrap, else as a reset
 * to zero, whichever first gives no more than the link could carry in the
 * time since the last reading plus one window; if neither does, or after a
 * gap longer than the whole history, b re-bases without counting anything:
 * no spike either way. -EINVAL for a CAN b, -ERANGE for counters whose
 * total or bit count does not fit 64 bits (b unchanged).
 */
int umc_busload_add_link_counters(struct umc_busload *b, uint64_t bytes, uint64_t packets,
                                  uint64_t ts_usec);

/*
 * Close every window that ended at or before now; returns how many closed
 * (>= 0, capped at INT_MAX), -EINVAL for a NULL b.
 */
int umc_busload_tick(struct umc_busload *b, uint64_t now_usec);

static inline double umc_busload_percent(const struct umc_busload *b) { return b->percent; }

/*
 * The load that arb_bits at b's bitrate and data_bits at its data bitrate
 * make over one of b's windows, in percent (how a window's load is
 * computed; for a part of the traffic, e.g. one sender's).
 */
double umc_busload_bits_percent(const struct umc_busload *b, uint64_t arb_bits, uint64_t data_bits);
static inline enum umc_load_class umc_busload_class(const struct umc_busload *b) { return b->cls; }
