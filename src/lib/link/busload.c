/* SPDX-License-Identifier: MIT */
#include "umc/busload.h"

#include <limits.h>

#include "umc/util.h"

/* ISO 11898-1:2015 frame fields, in bits. */
#define ID_BASE_BITS 11
#define ID_EXT_BITS 18
#define DLC_BITS 4
#define STUFF_COUNT_BITS 4 /* 3-bit Gray-coded count + parity (10.4.2.6) */
#define STUFF_RUN 5        /* a stuff bit follows five equal bits (10.5) */
#define FIXED_STUFF_EVERY 4
/* CRC delimiter, ACK slot, ACK delimiter, EOF (7) and intermission (3). */
#define TRAILER_BITS 13

#define CAN_SFF_MAX UINT32_C(0x7FF)
#define CAN_EFF_MAX UINT32_C(0x1FFFFFFF)
#define CAN_MAX_DLEN 8
/* CAN FD uses CRC-21 above 16 data bytes (ISO 11898-1:2015 10.4.2.6). */
#define CANFD_CRC17_MAX_DLEN 16

/* canbusload's accepted bitrates. */
#define CAN_BITRATE_MAX UINT64_C(1000000)
#define CANFD_DATA_BITRATE_MAX UINT64_C(8000000)

/* Ethernet per-packet overhead the byte counters omit: preamble 7, SFD 1, FCS 4, IFG 12 (IEEE 802.3). */
#define ETH_OVERHEAD_BYTES 24

/* Longest bitstream built: FD extended, 64 bytes, plus stuff bits, with room to spare. */
#define WIRE_MAX 1024

struct bits {
        uint8_t v[WIRE_MAX]; /* one bit per byte, in wire order */
        unsigned n;
};

static void put_bits(struct bits *b, uint32_t value, unsigned width) {
        for (unsigned i = width; i-- > 0;)
                b->v[b->n++] = (value >> i) & 1;
}

static void put_bytes(struct bits *b, const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                put_bits(b, p[i], 8);
}

/* Generator polynomials of ISO 11898-1:2015 (10.4.2.6), without the x^width term. */
static uint32_t crc_poly(unsigned width) {
        switch (width) {
        case 15:
                return 0x4599;
        case 17:
                return 0x1685B;
        case 21:
                return 0x102899;
        }
        return 0;
}

static uint32_t crc_bit(uint32_t crc, unsigned width, uint32_t poly, unsigned bit) {
        uint32_t top = (crc >> (width - 1)) & 1;

        crc = (crc << 1) & ((UINT32_C(1) << width) - 1);
        if (top ^ (bit & 1))
                crc ^= poly;
        return crc;
}

static uint32_t crc_over(uint32_t crc, unsigned width, const uint8_t *v, unsigned n) {
        uint32_t poly = crc_poly(width);

        for (unsigned i = 0; i < n; i++)
                crc = crc_bit(crc, width, poly, v[i]);
        return crc;
}

int umc_busload_crc(unsigned width, uint32_t init, const uint8_t *buf, size_t nbits,
                    uint32_t *ret_crc) {
        uint32_t poly = crc_poly(width), crc = init;

        if (poly == 0 || !buf || !ret_crc || init >> width)
                return -EINVAL;
        for (size_t i = 0; i < nbits; i++)
                crc = crc_bit(crc, width, poly, buf[i / 8] >> (7 - i % 8));
        *ret_crc = crc;
        return 0;
}

static bool fd_len_valid(uint8_t len) {
        switch (len) {
        case 12: case 16: case 20: case 24: case 32: case 48: case 64:
                return true;
        }
        return len <= CAN_MAX_DLEN;
}

/* ISO 11898-1:2015 table 5: DLC 9..15 stand for 12..64 bytes in FD frames. */
static unsigned fd_dlc(uint8_t len) {
        static const uint8_t dlc_len[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64 };

        for (unsigned d = 0; d < 16; d++)
                if (dlc_len[d] == len)
                        return d;
        return 0; /* unreachable for a validated frame */
}

static int frame_validate(const struct umc_can_frame *f) {
        if (!f)
                return -EINVAL;
        if (f->id > (f->eff ? CAN_EFF_MAX : CAN_SFF_MAX))
                return -EINVAL;
        if (f->fd) {
                if (f->rtr || !fd_len_valid(f->len))
                        return -EINVAL;
        } else if (f->brs || f->len > CAN_MAX_DLEN)
                return -EINVAL;
        return 0;
}

/* Bytes of data the model puts on the wire: none for a remote frame, except in canbusload's count. */
static unsigned wire_len(const struct umc_can_frame *f, enum umc_bitmodel model) {
        if (f->rtr && model == UMC_BITMODEL_ISO)
                return 0;
        return f->len;
}

static unsigned crc_len_fd(unsigned len) {
        return len > CANFD_CRC17_MAX_DLEN ? 21 : 17;
}

/*
 * Upper bound on dynamic stuff bits over n stuffed bits: the first after
 * bit 5, then one every 4 bits since a stuff bit starts the next run.
 */
static unsigned worst_stuff(unsigned n) {
        return n ? (n - 1) / 4 : 0;
}

/* Classic frames: SOF, ID (+ SRR, IDE, ext ID), RTR, IDE/r1, r0, DLC, data, CRC-15. */
static unsigned classic_stuffed_len(const struct umc_can_frame *f, unsigned n_data) {
        return f->eff ? 54 + 8 * n_data : 34 + 8 * n_data;
}

static void classic_formula(const struct umc_can_frame *f, enum umc_stuffing mode,
                            enum umc_bitmodel model, unsigned *ret_total) {
        unsigned n = classic_stuffed_len(f, wire_len(f, model));

        /* n + 13 is canbusload's 47 + 8n / 67 + 8n; with worst_stuff() its 55 + 10n / 80 + 10n. */
        *ret_total = n + TRAILER_BITS + (mode == UMC_STUFF_WORST ? worst_stuff(n) : 0);
}

/* can-utils canframelen.c for CAN FD: its field sizes, CRC-21 from 16 bytes on, 5/4 for the worst case. */
static void canbusload_fd(const struct umc_can_frame *f, enum umc_stuffing mode, unsigned *ret_total,
                          unsigned *ret_data) {
        unsigned crc = f->len >= 16 ? 21 : 17;
        unsigned total = 1 + (f->eff ? 29 : 11) + crc + 5 + 12 + 8u * f->len;
        unsigned data = f->brs ? 1 + 1 + 4 + crc + 8u * f->len : 0;

        switch (mode) {
        case UMC_STUFF_IGNORE:
                break;
        case UMC_STUFF_WORST:
                total = total * 5 / 4;
                data = data * 5 / 4;
                break;
        case UMC_STUFF_EXACT:
                /* canbusload has no exact model for CAN FD and reports nothing. */
                total = data = 0;
                break;
        }
        *ret_total = total;
        *ret_data = data;
}

/* Stuff count field: fixed stuff bit, 3-bit Gray code, parity; CRC; then one fixed stuff bit every 4 bits. */
static unsigned fd_fixed_stuff_bits(unsigned crc_len) {
        return 1 + (STUFF_COUNT_BITS + crc_len - 1) / FIXED_STUFF_EVERY;
}

static unsigned fd_crc_field_len(unsigned crc_len) {
        return STUFF_COUNT_BITS + crc_len + fd_fixed_stuff_bits(crc_len);
}

/* SOF through the res bit: the part of an FD frame before BRS, dynamically stuffed at the nominal rate. */
static unsigned fd_arb_header_len(const struct umc_can_frame *f) {
        /* SOF, base ID, [SRR, IDE, ext ID,] RRS, [IDE,] FDF, res */
        return f->eff ? 1 + ID_BASE_BITS + 2 + ID_EXT_BITS + 3 : 1 + ID_BASE_BITS + 4;
}

/*
 * Data phase with BRS: ESI, DLC, data, SC field and CRC, plus one bit for
 * the BRS / CRC delimiter pair. BRS runs at the nominal rate up to its
 * sample point and the CRC delimiter at the data rate up to its own, so the
 * pair takes exactly one nominal and one data bit time when both sample
 * points sit at the same fraction of the bit.
 */
static unsigned fd_data_phase_len(unsigned len) {
        return 1 + 1 + DLC_BITS + 8 * len + fd_crc_field_len(crc_len_fd(len));
}

static void iso_fd_formula(const struct umc_can_frame *f, enum umc_stuffing mode, unsigned *ret_total,
                           unsigned *ret_data) {
        unsigned arb = fd_arb_header_len(f);
        unsigned dyn = arb + 1 + 1 + DLC_BITS + 8u * f->len; /* SOF .. end of data */
        unsigned total = dyn + fd_crc_field_len(crc_len_fd(f->len)) + TRAILER_BITS;
        unsigned data = f->brs ? fd_data_phase_len(f->len) : 0;

        if (mode == UMC_STUFF_WORST) {
                unsigned s = worst_stuff(dyn), s_arb = worst_stuff(arb);

                total += s;
                if (f->brs)
                        data += s - s_arb;
        }
        *ret_total = total;
        *ret_data = data;
}

/*
 * Dynamic stuffing of raw into out: after STUFF_RUN equal bits insert the
 * complement, which starts the next run. With tail false no stuff bit
 * follows the last raw bit (CAN FD: the fixed stuff bit takes its place and
 * it is not counted). Stuff bits after raw bit split or later are counted in
 * *ret_after_split.
 */
static void stuff(const struct bits *raw, bool tail, unsigned split, struct bits *out,
                  unsigned *ret_stuffed, unsigned *ret_after_split) {
        unsigned run = 0, stuffed = 0, after = 0;
        uint8_t last = 2;

        out->n = 0;
        for (unsigned i = 0; i < raw->n; i++) {
                uint8_t bit = raw->v[i];

                out->v[out->n++] = bit;
                run = bit == last ? run + 1 : 1;
                last = bit;
                if (run < STUFF_RUN || (!tail && i + 1 == raw->n))
                        continue;
                last = !bit;
                out->v[out->n++] = last;
                run = 1;
                stuffed++;
                if (i >= split)
                        after++;
        }
        *ret_stuffed = stuffed;
        *ret_after_split = after;
}

static void classic_header(struct bits *b, const struct umc_can_frame *f) {
        put_bits(b, 0, 1); /* SOF */
        if (f->eff) {
                put_bits(b, f->id >> ID_EXT_BITS, ID_BASE_BITS);
                put_bits(b, 3, 2); /* SRR, IDE recessive */
                put_bits(b, f->id, ID_EXT_BITS);
                put_bits(b, f->rtr, 1);
                put_bits(b, 0, 2); /* r1, r0 */
        } else {
                put_bits(b, f->id, ID_BASE_BITS);
                put_bits(b, f->rtr, 1);
                put_bits(b, 0, 2); /* IDE, r0 */
        }
        put_bits(b, f->len, DLC_BITS);
}

/*
 * Classic CAN as sent: CRC-15 over the unstuffed SOF..data, stuffing over
 * SOF..CRC including a stuff bit after the last CRC bit (what can-utils'
 * exact mode counts too).
 */
static void classic_wire(const struct umc_can_frame *f, unsigned n_data, struct umc_can_wire *w) {
        struct bits raw = {}, out;
        unsigned stuffed, unused;
        uint32_t crc;

        classic_header(&raw, f);
        put_bytes(&raw, f->data, n_data);
        crc = crc_over(0, 15, raw.v, raw.n);
        put_bits(&raw, crc, 15);
        stuff(&raw, true, UINT_MAX, &out, &stuffed, &unused);

        *w = (struct umc_can_wire){
                .total_bits = out.n + TRAILER_BITS,
                .stuff_bits = stuffed,
                .crc_len = 15,
                .crc = crc,
        };
}

static void fd_header(struct bits *b, const struct umc_can_frame *f, unsigned *ret_brs_index) {
        put_bits(b, 0, 1); /* SOF */
        if (f->eff) {
                put_bits(b, f->id >> ID_EXT_BITS, ID_BASE_BITS);
                put_bits(b, 3, 2); /* SRR, IDE recessive */
                put_bits(b, f->id, ID_EXT_BITS);
                put_bits(b, 0, 1); /* RRS */
        } else {
                put_bits(b, f->id, ID_BASE_BITS);
                put_bits(b, 0, 2); /* RRS, IDE */
        }
        put_bits(b, 2, 2); /* FDF recessive, res dominant */
        *ret_brs_index = b->n;
        put_bits(b, f->brs, 1);
        put_bits(b, 0, 1); /* ESI: error active */
        put_bits(b, fd_dlc(f->len), DLC_BITS);
}

/* ISO 11898-1:2015 10.4.2.6: stuff count mod 8 in Gray code, then even parity over those 3 bits. */
static uint8_t fd_stuff_count(unsigned stuffed) {
        static const uint8_t gray[8] = { 0, 1, 3, 2, 6, 7, 5, 4 };
        uint8_t g = gray[stuffed % 8];
        uint8_t parity = (g ^ (g >> 1) ^ (g >> 2)) & 1;

        return (uint8_t)(g << 1 | parity);
}

/*
 * CAN FD as ISO 11898-1:2015 sends it: dynamic stuffing over SOF..data, the
 * CRC (register preset to 1 followed by zeros) over that stuffed stream and
 * the stuff count field, the fixed stuff bits left out of the CRC.
 */
static void fd_wire(const struct umc_can_frame *f, struct umc_can_wire *w) {
        struct bits raw = {}, out;
        unsigned brs_index, stuffed, stuffed_data, crc_len = crc_len_fd(f->len);
        uint32_t crc = UINT32_C(1) << (crc_len - 1);
        uint8_t sc;

        fd_header(&raw, f, &brs_index);
        put_bytes(&raw, f->data, f->len);
        stuff(&raw, false, brs_index, &out, &stuffed, &stuffed_data);
        sc = fd_stuff_count(stuffed);
        crc = crc_over(crc, crc_len, out.v, out.n);
        for (unsigned i = STUFF_COUNT_BITS; i-- > 0;)
                crc = crc_bit(crc, crc_len, crc_poly(crc_len), (sc >> i) & 1);

        *w = (struct umc_can_wire){
                .total_bits = out.n + fd_crc_field_len(crc_len) + TRAILER_BITS,
                .stuff_bits = stuffed,
                .fixed_stuff_bits = fd_fixed_stuff_bits(crc_len),
                .crc_len = crc_len,
                .crc = crc,
                .stuff_count = sc,
        };
        if (f->brs) {
                w->stuff_bits_data = stuffed_data;
                w->data_bits = fd_data_phase_len(f->len) + stuffed_data;
        }
}

static bool data_missing(const struct umc_can_frame *f, enum umc_bitmodel model) {
        return wire_len(f, model) > 0 && !f->data;
}

int umc_busload_frame_wire(const struct umc_can_frame *f, struct umc_can_wire *ret) {
        struct umc_can_wire w;
        int r;

        r = frame_validate(f);
        if (r < 0)
                return r;
        if (!ret || data_missing(f, UMC_BITMODEL_ISO))
                return -EINVAL;
        if (f->fd)
                fd_wire(f, &w);
        else
                classic_wire(f, wire_len(f, UMC_BITMODEL_ISO), &w);
        *ret = w;
        return 0;
}

int umc_busload_frame_bits(const struct umc_can_frame *f, enum umc_stuffing mode,
                           enum umc_bitmodel model, unsigned *ret_total_bits,
                           unsigned *ret_data_bits) {
        unsigned total = 0, data = 0;
        struct umc_can_wire w;
        int r;

        r = frame_validate(f);
        if (r < 0)
                return r;
        if (!ret_total_bits || (unsigned)mode > UMC_STUFF_EXACT ||
            (unsigned)model > UMC_BITMODEL_CANBUSLOAD)
                return -EINVAL;
        if (mode == UMC_STUFF_EXACT && data_missing(f, model))
                return -EINVAL;

        if (f->fd && model == UMC_BITMODEL_CANBUSLOAD)
                canbusload_fd(f, mode, &total, &data);
        else if (mode != UMC_STUFF_EXACT) {
                if (f->fd)
                        iso_fd_formula(f, mode, &total, &data);
                else
                        classic_formula(f, mode, model, &total);
        } else {
                if (f->fd)
                        fd_wire(f, &w);
                else
                        classic_wire(f, wire_len(f, model), &w);
                total = w.total_bits;
                data = w.data_bits;
        }

        *ret_total_bits = total;
        if (ret_data_bits)
                *ret_data_bits = data;
        return 0;
}

static int busload_init(struct umc_busload *b, const struct umc_load_cfg *cfg, uint64_t now_usec) {
        int r;

        if (!b)
                return -EINVAL;
        r = umc_load_cfg_validate(cfg);
        if (r < 0)
                return r;
        *b = (struct umc_busload){
                .cfg = *cfg,
                .window_start = now_usec,
                .cls = UMC_LOAD_NORMAL,
        };
        return 0;
}

int umc_busload_init_can(struct umc_busload *b, const struct umc_load_cfg *cfg, uint64_t bitrate,
                         uint64_t data_bitrate, enum umc_stuffing mode, enum umc_bitmodel model,
                         uint64_t now_usec) {
        int r;

        if (bitrate == 0 || bitrate > CAN_BITRATE_MAX || data_bitrate > CANFD_DATA_BITRATE_MAX)
                return -EINVAL;
        if ((unsigned)mode > UMC_STUFF_EXACT || (unsigned)model > UMC_BITMODEL_CANBUSLOAD)
                return -EINVAL;
        r = busload_init(b, cfg, now_usec);
        if (r < 0)
                return r;
        b->bitrate = bitrate;
        b->data_bitrate = data_bitrate ? data_bitrate : bitrate;
        b->stuffing = mode;
        b->model = model;
        return 0;
}

int umc_busload_init_link(struct umc_busload *b, const struct umc_load_cfg *cfg, uint64_t link_bps,
                          uint64_t now_usec) {
        int r;

        if (link_bps == 0)
                return -EINVAL;
        r = busload_init(b, cfg, now_usec);
        if (r < 0)
                return r;
        b->bitrate = b->data_bitrate = link_bps;
        b->link = true;
        return 0;
}

/* Bits per second over the window, as a percentage of each phase's bitrate. */
double umc_busload_bits_percent(const struct umc_busload *b, uint64_t arb_bits, uint64_t data_bits) {
        double seconds = (double)b->cfg.window_usec / (double)USEC_PER_SEC;

        return ((double)arb_bits * 100.0 / (double)b->bitrate +
                (double)data_bits * 100.0 / (double)b->data_bitrate) / seconds;
}

static double window_percent(const struct umc_busload *b) {
        return umc_busload_bits_percent(b, b->arb_bits, b->data_bits);
}

static void close_window(struct umc_busload *b) {
        double percent = window_percent(b);

        b->cls = umc_load_classify(&b->cfg, &b->history, percent);
        b->percent = percent;
        umc_load_history_push(&b->history, percent);
        b->arb_bits = b->data_bits = 0;
        b->window_start += b->cfg.window_usec;
        b->n_windows++;
}

/* Close every window that ends at or before t; returns how many. */
static uint64_t close_until(struct umc_busload *b, uint64_t t) {
        uint64_t n, i;

        if (t < b->window_start)
                return 0;
        n = (t - b->window_start) / b->cfg.window_usec;
        /*
         * After a full history of idle windows everything is 0 % and NORMAL
         * (min_delta > 0), and further idle windows change nothing but the
         * counters: skip them instead of looping over a long gap.
         */
        for (i = 0; i < n && i <= UMC_LOAD_HISTORY_MAX; i++)
                close_window(b);
        if (i < n) {
                b->window_start += (n - i) * b->cfg.window_usec;
                b->n_windows += n - i;
        }
        return n;
}

int umc_busload_tick(struct umc_busload *b, uint64_t now_usec) {
        uint64_t n;

        if (!b)
                return -EINVAL;
        n = close_until(b, now_usec);
        return n > INT_MAX ? INT_MAX : (int)n;
}

int umc_busload_add_frame(struct umc_busload *b, const struct umc_can_frame *f, uint64_t ts_usec) {
        unsigned total, data;
        int r;

        if (!b || b->link)
                return -EINVAL;
        r = umc_busload_frame_bits(f, b->stuffing, b->model, &total, &data);
        if (r < 0)
                return r;
        (void)close_until(b, ts_usec);
        b->arb_bits += total - data;
        b->data_bits += data;
        return 0;
}

/* part = bits * num / den without overflow; num <= den, den > 0. */
static uint64_t share(uint64_t bits, uint64_t num, uint64_t den) {
        return (uint64_t)((unsigned __int128)bits * num / den);
}

/*
 * bits were sent between from and to: give each window its share by time.
 * Time before the open window (already closed) falls to the open window.
 */
static void spread_bits(struct umc_busload *b, uint64_t bits, uint64_t from, uint64_t to) {
        if (from < b->window_start)
                from = b->window_start;
        while (to >= b->window_start && to - b->window_start >= b->cfg.window_usec) {
                uint64_t end = b->window_start + b->cfg.window_usec;
                uint64_t part = bits;

                if (to > from && end < to)
                        part = share(bits, end > from ? end - from : 0, to - from);
                b->arb_bits += part;
                bits -= part;
                if (from < end)
                        from = end;
                close_window(b);
        }
        b->arb_bits += bits;
}

/* Bytes the link can carry from the last reading to ts, plus one window of slack for late counters. */
static uint64_t link_capacity_bytes(const struct umc_busload *b, uint64_t ts_usec) {
        uint64_t dt = ts_usec > b->last_counter_usec ? ts_usec - b->last_counter_usec : 0;
        unsigned __int128 cap = (unsigned __int128)b->bitrate * ((unsigned __int128)dt + b->cfg.window_usec) /
                                (8 * USEC_PER_SEC);

        return cap > UINT64_MAX ? UINT64_MAX : (uint64_t)cap;
}

static uint64_t since_reset(uint64_t old, uint64_t now) {
        return now < old ? now : now - old;
}

/*
 * Bytes (with overhead) since the last reading when a counter went
 * backwards: a 32-bit wrap if that is plausible, else a restart from zero
 * if that is, else nothing.
 */
static uint64_t backwards_delta(const struct umc_busload *b, uint64_t bytes, uint64_t packets,
                                uint64_t ts_usec) {
        uint64_t cap = link_capacity_bytes(b, ts_usec), d;

        if ((b->last_bytes | b->last_packets | bytes | packets) <= UINT32_MAX) {
                d = ((bytes - b->last_bytes) & UINT32_MAX) +
                    ((packets - b->last_packets) & UINT32_MAX) * ETH_OVERHEAD_BYTES;
                if (d <= cap)
                        return d;
        }
        /* Each part is at most its counter, and bytes + 24 * packets fits. */
        d = since_reset(b->last_bytes, bytes) + since_reset(b->last_packets, packets) * ETH_OVERHEAD_BYTES;
        return d <= cap ? d : 0;
}

int umc_busload_add_link_counters(struct umc_busload *b, uint64_t bytes, uint64_t packets,
                                  uint64_t ts_usec) {
        uint64_t total, delta = 0, from;
        bool rebase;

        if (!b || !b->link)
                return -EINVAL;
        if (packets > (UINT64_MAX - bytes) / ETH_OVERHEAD_BYTES)
                return -ERANGE;
        total = bytes + packets * ETH_OVERHEAD_BYTES;

        from = b->last_counter_usec;
        rebase = !b->have_counter;
        /* A gap longer than the history says nothing about any one window. */
        if (!rebase && ts_usec > from &&
            (ts_usec - from) / b->cfg.window_usec > UMC_LOAD_HISTORY_MAX)
                rebase = true;
        if (!rebase) {
                if (bytes >= b->last_bytes && packets >= b->last_packets)
                        delta = (bytes - b->last_bytes) + (packets - b->last_packets) * ETH_OVERHEAD_BYTES;
                else
                        delta = backwards_delta(b, bytes, packets, ts_usec);
        }
        if (delta > UINT64_MAX / 8)
                return -ERANGE;

        if (rebase)
                (void)close_until(b, ts_usec);
        else
                spread_bits(b, delta * 8, from, ts_usec);
        b->last_counter = total;
        b->last_bytes = bytes;
        b->last_packets = packets;
        b->last_counter_usec = ts_usec;
        b->have_counter = true;
        return 0;
}
