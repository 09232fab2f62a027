/* SPDX-License-Identifier: MIT */
/*
 * project: what umc framing costs on a CAN bus, computed, not measured.
 * For a 1 MiB image it counts every CAN frame that a delivery puts on the
 * bus (both directions) under the ISO-TP segmentation rules, prices each
 * frame with the library's bit model (umc_busload_frame_bits(), worst-case
 * stuffing, ISO 11898-1:2015 model, 11-bit IDs) and prints the bus time
 * next to two lower bounds: the same image as raw ISO-TP PDUs of the same
 * size without umc framing, and the bare 1 MiB at the bitrate.
 *
 *   project [--chunk BYTES] [--verify-every N]
 *   project --constants
 *
 * --chunk: data bytes per DATA frame; default: what one 4095-byte PDU
 * holds (the 12-bit FF_DL of ISO 15765-2:2004, which every kernel takes).
 * --verify-every: DATA frames per VERIFY; default (or 0): the sender's own
 * rule, umc_xfer_auto_verify_every().
 *
 * What a delivery sends, per docs/protocol.md and src/lib/proto/xfer.c:
 * BEGIN -> FEEDBACK, DATA x N -> VERIFY -> FEEDBACK ..., TRANSPORT ->
 * FEEDBACK(COMPLETE); every frame is a 28-byte header plus its sealed body
 * (body + 16-byte AES-128-GCM tag) and travels as one ISO-TP PDU. The AUTH
 * exchange is left out: it opens a session, not an image.
 *
 * ISO-TP (ISO 15765-2:2016, normal addressing, as the kernel sends it):
 * single frame when the PDU fits (1-byte PCI up to 7 bytes, 2-byte escape
 * PCI beyond that on CAN FD); otherwise a first frame (2-byte PCI, or the
 * 6-byte escape above 4095 bytes), one flow control frame back (BS 0: one
 * per PDU) and consecutive frames with a 1-byte PCI. Classic frames are
 * padded to 8 bytes; CAN FD frames carry up to 64 bytes with BRS, a short
 * last frame padded to the next valid length (12, 16, 20, 24, 32, 48, 64),
 * flow control frames to 8 bytes. Bus time counts frames back to back
 * (STmin 0, no frame gap): a bound, not a forecast.
 *
 * A self-check compares the model with the sample values of
 * can-utils' canframelen.c (docs/busload.md) and with segmentations
 * worked out by hand; the program exits 1 when they disagree.
 * Exit status: 0, 1 on a failed self-check, 2 on a usage error.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "umc/busload.h"
#include "umc/cipher.h"
#include "umc/delivery.h"
#include "umc/frame.h"
#include "umc/msg.h"
#include "umc/xfer.h"

#define IMAGE_LEN (UINT64_C(1) << 20)
#define DEFAULT_PDU 4095 /* ISO 15765-2:2004 FF_DL is 12 bits */
#define FF_DL_12BIT_MAX 4095 /* above: FF_DL = 0 and a 32-bit length (escape) */
#define CAN_ID 0x7e0     /* ISO 15765-4 physical request ID; any 11-bit ID costs the same */
#define FC_LEN 3         /* flow control: FS, BS, STmin */
#define SUITE UMC_SUITE_AES_128_GCM
/* BEGIN carries the version string; a dated one like "2026.12.01". */
#define VERSION_LEN 10

struct bus {
        const char *name;
        bool fd;
        uint64_t bitrate, data_bitrate; /* bit/s; data_bitrate only with FD + BRS */
};

/* Everything put on the bus, as counted by add_pdu(). */
struct tally {
        uint64_t pdus, pdu_bytes;   /* ISO-TP PDUs and their bytes */
        uint64_t frames;            /* CAN frames, flow control included */
        uint64_t field_bytes;       /* CAN data-field bytes: PCI, data, padding */
        uint64_t arb_bits, data_bits; /* at the nominal and at the data bitrate */
};

/* The CAN FD data lengths (ISO 11898-1 DLC 9..15) above 8. */
static unsigned fd_padlen(unsigned n) {
        static const unsigned lens[] = { 8, 12, 16, 20, 24, 32, 48, 64 };

        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
                if (n <= lens[i])
                        return lens[i];
        return 0; /* caller's bug: above 64 */
}

/* Length of the frame that carries n bytes of PCI + data, padding included. */
static unsigned frame_len(const struct bus *b, unsigned n) {
        return b->fd ? fd_padlen(n) : 8;
}

static int add_frame(const struct bus *b, unsigned n, struct tally *t) {
        struct umc_can_frame f = {
                .id = CAN_ID, .fd = b->fd, .brs = b->fd, .len = (uint8_t)frame_len(b, n),
        };
        unsigned total = 0, data = 0;
        int r;

        r = umc_busload_frame_bits(&f, UMC_STUFF_WORST, UMC_BITMODEL_ISO, &total, &data);
        if (r < 0)
                return r;
        t->frames++;
        t->field_bytes += f.len;
        t->arb_bits += total - data;
        t->data_bits += data;
        return 0;
}

/* One PDU of len bytes, segmented as ISO 15765-2 does (see the top comment). */
static int add_pdu(const struct bus *b, uint64_t len, struct tally *t) {
        unsigned tx_dl = b->fd ? 64 : 8, ff_pci = len > FF_DL_12BIT_MAX ? 6 : 2;
        uint64_t left;
        int r;

        if (len == 0)
                return -EINVAL;
        t->pdus++;
        t->pdu_bytes += len;
        /* Single frame: SF_DL in the PCI byte up to 7, else the escape byte (FD only). */
        if (len <= 7)
                return add_frame(b, (unsigned)len + 1, t);
        if (b->fd && len <= tx_dl - 2)
                return add_frame(b, (unsigned)len + 2, t);

        r = add_frame(b, tx_dl, t); /* first frame, full */
        if (r < 0)
                return r;
        r = add_frame(b, FC_LEN, t); /* flow control back, BS 0: the only one */
        if (r < 0)
                return r;
        for (left = len - (tx_dl - ff_pci); left > 0;) {
                unsigned n = left < tx_dl - 1 ? (unsigned)left : tx_dl - 1;

                r = add_frame(b, n + 1, t);
                if (r < 0)
                        return r;
                left -= n;
        }
        return 0;
}

struct plan {
        uint32_t chunk, verify_every, n_data, n_verify;
        size_t tag;
        uint64_t umc_bytes;  /* all umc PDUs */
        uint64_t data_pdu;   /* a full DATA frame */
        bool constants;      /* --constants: print the sizes and exit */
};

static size_t sealed(const struct plan *p, size_t body) {
        return UMC_FRAME_HEADER_LEN + body + p->tag;
}

/* A whole delivery of the image: every frame of both directions as a PDU. */
static int add_delivery(const struct bus *b, const struct plan *p, struct tally *t) {
        uint64_t off;
        int r = 0;

        r = add_pdu(b, sealed(p, UMC_MSG_BEGIN_FIXED_LEN + VERSION_LEN), t);
        if (r >= 0)
                r = add_pdu(b, sealed(p, UMC_MSG_FEEDBACK_LEN), t); /* resume offset */
        for (off = 0; r >= 0 && off < IMAGE_LEN; off += p->chunk) {
                uint64_t n = IMAGE_LEN - off < p->chunk ? IMAGE_LEN - off : p->chunk;

                r = add_pdu(b, sealed(p, UMC_MSG_DATA_HEADER_LEN + n), t);
        }
        for (uint32_t i = 0; r >= 0 && i < p->n_verify; i++) {
                r = add_pdu(b, sealed(p, UMC_MSG_VERIFY_LEN), t);
                if (r >= 0)
                        r = add_pdu(b, sealed(p, UMC_MSG_FEEDBACK_LEN), t); /* checkpoint */
        }
        if (r >= 0)
                r = add_pdu(b, sealed(p, UMC_MSG_TRANSPORT_LEN), t);
        if (r >= 0)
                r = add_pdu(b, sealed(p, UMC_MSG_FEEDBACK_LEN), t); /* COMPLETE */
        return r;
}

/* The same image as raw PDUs of at most max_pdu bytes: ISO-TP and nothing else. */
static int add_raw(const struct bus *b, uint64_t max_pdu, struct tally *t) {
        int r = 0;

        for (uint64_t off = 0; r >= 0 && off < IMAGE_LEN; off += max_pdu)
                r = add_pdu(b, IMAGE_LEN - off < max_pdu ? IMAGE_LEN - off : max_pdu, t);
        return r;
}

static double bus_seconds(const struct bus *b, const struct tally *t) {
        return (double)t->arb_bits / (double)b->bitrate +
               (b->fd ? (double)t->data_bits / (double)b->data_bitrate : 0.0);
}

static double pct(double part, double whole) {
        return whole > 0 ? 100.0 * part / whole : 0.0;
}

/* ---- self-check ---- */

static int fails;

static void check(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "project: self-check failed: %s\n", what);
                fails++;
        }
}

static bool bits_are(bool fd, unsigned len, enum umc_stuffing mode, enum umc_bitmodel model,
                     unsigned want_total, unsigned want_data) {
        struct umc_can_frame f = { .id = CAN_ID, .fd = fd, .brs = fd, .len = (uint8_t)len };
        unsigned total = 0, data = 0;

        return umc_busload_frame_bits(&f, mode, model, &total, &data) == 0 &&
               total == want_total && data == want_data;
}

static bool pdu_is(bool fd, uint64_t len, uint64_t want_frames, uint64_t want_field_bytes) {
        struct bus b = { .fd = fd, .bitrate = 500000, .data_bitrate = 2000000 };
        struct tally t = {};

        return add_pdu(&b, len, &t) == 0 && t.frames == want_frames &&
               t.field_bytes == want_field_bytes;
}

static int self_check(void) {
        /* canframelen.c: 11-bit 8-byte frame 111 (ignore) / 135 (worst), both models. */
        check(bits_are(false, 8, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, 111, 0), "classic 8 B ignore 111");
        check(bits_are(false, 8, UMC_STUFF_WORST, UMC_BITMODEL_ISO, 135, 0), "classic 8 B worst 135");
        check(bits_are(false, 8, UMC_STUFF_WORST, UMC_BITMODEL_CANBUSLOAD, 135, 0),
              "classic 8 B worst 135 (canbusload)");
        /* canframelen.c: FD 64 B BRS 562 (539) ignore, 702 (673) worst, canbusload's model. */
        check(bits_are(true, 64, UMC_STUFF_IGNORE, UMC_BITMODEL_CANBUSLOAD, 562, 539),
              "FD 64 B BRS ignore 562 (539) (canbusload)");
        check(bits_are(true, 64, UMC_STUFF_WORST, UMC_BITMODEL_CANBUSLOAD, 702, 673),
              "FD 64 B BRS worst 702 (673) (canbusload)");
        /* docs/busload.md: the ISO model, which this program uses: 712 (680), 147 (115). */
        check(bits_are(true, 64, UMC_STUFF_WORST, UMC_BITMODEL_ISO, 712, 680), "FD 64 B BRS worst 712 (680)");
        check(bits_are(true, 8, UMC_STUFF_WORST, UMC_BITMODEL_ISO, 147, 115), "FD 8 B BRS worst 147 (115)");

        /*
         * Segmentations by hand. Classic 4095: FF 6 + 585 CF x 7 = 4101 >= 4095,
         * + FC = 587 frames of 8 bytes. Classic 4100 (escape): FF 2 + 586 CF
         * (585 x 7 = 4095 < 4098) + FC = 588. FD 4095: FF 62, 4033 left = 64 x
         * 63 + 1, so 65 CF, the last 2 bytes padded to 8, + FC 8: 67 frames,
         * 64 + 8 + 64 x 64 + 8 = 4176 bytes. FD 5000 (escape): FF 58, 4942 =
         * 78 x 63 + 28: 79 CF, the last 29 bytes padded to 32: 64 + 8 + 78 x
         * 64 + 32 = 5096. Single frames: FD 60 -> 62 -> 64; FD 44 -> 46 -> 48;
         * classic 44: FF 6, 38 = 5 x 7 + 3: 6 CF + FC = 8 frames.
         */
        check(pdu_is(false, 4095, 587, 587 * 8), "classic 4095-byte PDU");
        check(pdu_is(false, 4100, 588, 588 * 8), "classic 4100-byte PDU (FF_DL escape)");
        check(pdu_is(true, 4095, 67, 4176), "FD 4095-byte PDU");
        check(pdu_is(true, 5000, 81, 5096), "FD 5000-byte PDU (FF_DL escape)");
        check(pdu_is(true, 60, 1, 64), "FD 60-byte single frame");
        check(pdu_is(true, 44, 1, 48), "FD 44-byte single frame");
        check(pdu_is(false, 44, 8, 64), "classic 44-byte PDU");
        check(pdu_is(false, 7, 1, 8), "classic 7-byte single frame");

        /* The sender's rule for 1 MiB in 4043-byte chunks: 260 DATA frames, VERIFY every 5. */
        check(umc_xfer_auto_verify_every(IMAGE_LEN, 4043) == 5, "auto VERIFY spacing 5");
        return fails ? -1 : 0;
}

/* ---- main ---- */

/* The sizes bench/can/run needs, as shell assignments, so the script never
 * repeats a C constant: a CAN delivery's DATA chunk and the PDU it makes. */
static int print_constants(const struct plan *p) {
        printf("CHUNK=%u\nPDU=%zu\n", (unsigned)UMC_DELIVERY_CAN_CHUNK,
               (size_t)UMC_FRAME_HEADER_LEN + UMC_MSG_DATA_HEADER_LEN + UMC_DELIVERY_CAN_CHUNK + p->tag);
        return 0;
}

static int usage(void) {
        fprintf(stderr, "usage: project [--chunk BYTES] [--verify-every N] | --constants\n");
        return 2;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret) {
        unsigned long long v;
        char *end;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
                return -EINVAL;
        *ret = (uint32_t)v;
        return 0;
}

static int parse_args(int argc, char **argv, struct plan *p) {
        static const struct option opts[] = {
                { "chunk", required_argument, NULL, 'c' },
                { "verify-every", required_argument, NULL, 'v' },
                { "constants", no_argument, NULL, 'k' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        /* The largest body a frame holds, less DATA's 8-byte offset. */
        uint32_t chunk_max = (uint32_t)(UMC_FRAME_MAX_PAYLOAD - p->tag - UMC_MSG_DATA_HEADER_LEN);
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        if (parse_u32(optarg, 1, chunk_max, &p->chunk) < 0) {
                                fprintf(stderr, "project: --chunk must be 1..%" PRIu32 "\n", chunk_max);
                                return -EINVAL;
                        }
                        break;
                case 'v':
                        if (parse_u32(optarg, 0, UINT32_MAX, &p->verify_every) < 0) {
                                fprintf(stderr, "project: --verify-every must be a number (0: auto)\n");
                                return -EINVAL;
                        }
                        break;
                case 'k':
                        p->constants = true;
                        break;
                default:
                        return -EINVAL;
                }
        }
        return optind == argc ? 0 : -EINVAL;
}

static void plan_finish(struct plan *p) {
        if (p->chunk == 0)
                p->chunk = (uint32_t)(DEFAULT_PDU - UMC_FRAME_HEADER_LEN - p->tag - UMC_MSG_DATA_HEADER_LEN);
        if (p->verify_every == 0)
                p->verify_every = umc_xfer_auto_verify_every(IMAGE_LEN, p->chunk);
        p->n_data = (uint32_t)((IMAGE_LEN + p->chunk - 1) / p->chunk);
        p->n_verify = (p->n_data + p->verify_every - 1) / p->verify_every;
        p->data_pdu = sealed(p, UMC_MSG_DATA_HEADER_LEN + p->chunk);
}

static void print_plan(const struct plan *p, uint64_t umc_bytes) {
        uint64_t over = umc_bytes - IMAGE_LEN;

        printf("image %" PRIu64 " bytes, suite %s (tag %zu bytes), 11-bit IDs, worst-case stuffing, ISO model\n",
               IMAGE_LEN, umc_suite_by_id(SUITE)->name, p->tag);
        printf("DATA: %" PRIu32 " frames of %" PRIu32 " data bytes, PDU %" PRIu64 " bytes (28 header + 8 offset + data + %zu tag)\n",
               p->n_data, p->chunk, p->data_pdu, p->tag);
        printf("VERIFY every %" PRIu32 " DATA frames: %" PRIu32 " VERIFY PDUs of %zu bytes, each answered by a FEEDBACK of %zu\n",
               p->verify_every, p->n_verify, sealed(p, UMC_MSG_VERIFY_LEN), sealed(p, UMC_MSG_FEEDBACK_LEN));
        printf("umc PDUs: %" PRIu64 " bytes in all, %" PRIu64 " of them framing (%.2f %% of the PDU bytes)\n",
               umc_bytes, over, pct((double)over, (double)umc_bytes));
        if (p->data_pdu > DEFAULT_PDU)
                printf("note: DATA PDUs above 4095 bytes need a kernel that takes them (umc_isotp_probe_max_pdu())\n");
}

static void print_row(const char *what, const struct bus *b, const struct tally *t) {
        double s = bus_seconds(b, t);

        printf("  %-26s %7" PRIu64 " %8" PRIu64 " %12" PRIu64 " %10" PRIu64 " %8.2f s %7.1f kB/s\n", what,
               t->frames, t->field_bytes, t->arb_bits, t->data_bits, s, (double)IMAGE_LEN / s / 1000.0);
}

static int project_bus(const struct bus *b, const struct plan *p) {
        struct tally umc = {}, raw = {};
        double bare, s_umc, s_raw;
        int r;

        r = add_delivery(b, p, &umc);
        if (r >= 0)
                r = add_raw(b, p->data_pdu, &raw);
        if (r < 0)
                return r;
        bare = (double)IMAGE_LEN * 8 / (double)(b->fd ? b->data_bitrate : b->bitrate);
        s_umc = bus_seconds(b, &umc);
        s_raw = bus_seconds(b, &raw);

        printf("\n%s\n", b->name);
        printf("  %-26s %7s %8s %12s %10s %10s %12s\n", "", "frames", "bytes", "nominal bits",
               "data bits", "bus time", "image rate");
        print_row("umc over ISO-TP", b, &umc);
        print_row("raw ISO-TP, same PDU size", b, &raw);
        printf("  %-26s %7s %8s %12s %10s %8.2f s %7.1f kB/s\n", "bare 1 MiB at the bitrate", "", "",
               "", "", bare, (double)IMAGE_LEN / bare / 1000.0);
        printf("  umc framing: %.2f %% of the bytes on the bus, %.2f %% of the bits, %.2f %% of the bus time\n",
               pct((double)(umc.field_bytes - raw.field_bytes), (double)umc.field_bytes),
               pct((double)(umc.arb_bits + umc.data_bits - raw.arb_bits - raw.data_bits),
                   (double)(umc.arb_bits + umc.data_bits)),
               pct(s_umc - s_raw, s_umc));
        printf("  umc over ISO-TP takes %.2fx the raw ISO-TP time and %.2fx the bare time\n", s_umc / s_raw,
               s_umc / bare);
        return 0;
}

int main(int argc, char **argv) {
        static const struct bus buses[] = {
                { "classic CAN, 500 kbit/s, 8-byte frames padded", false, 500000, 0 },
                { "CAN FD, 500 kbit/s / 2 Mbit/s with BRS, 64-byte frames", true, 500000, 2000000 },
        };
        struct plan p = { .tag = umc_suite_by_id(SUITE)->tag_len };
        struct tally count = {};
        int r;

        if (parse_args(argc, argv, &p) < 0)
                return usage();
        if (p.constants)
                return print_constants(&p);
        if (self_check() < 0)
                return 1;
        printf("self-check: bit model and segmentation agree with the reference values\n");

        plan_finish(&p);
        /* The PDU bytes do not depend on the bus: count them once, on either. */
        r = add_delivery(&buses[0], &p, &count);
        if (r < 0) {
                fprintf(stderr, "project: cannot model the delivery: %s\n", strerror(-r));
                return 1;
        }
        print_plan(&p, count.pdu_bytes);
        for (size_t i = 0; i < sizeof(buses) / sizeof(buses[0]); i++) {
                r = project_bus(&buses[i], &p);
                if (r < 0) {
                        fprintf(stderr, "project: cannot model %s: %s\n", buses[i].name, strerror(-r));
                        return 1;
                }
        }
        return 0;
}
