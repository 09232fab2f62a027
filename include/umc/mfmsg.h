/* SPDX-License-Identifier: MIT */
/*
 * MANIFEST frames (type 12, docs/protocol.md section 6): the signed
 * manifest of a package and its detached signature, carried from the
 * master to the ECU inside the authenticated session, before BEGIN, so
 * that the ECU checks the backend's signature itself (ecucheck.h).
 *
 * The two byte strings travel as one, manifest || signature, cut into
 * chunks small enough for a CAN DATA PDU. Every chunk repeats the format
 * and both lengths; a receiver assembles them in order (struct
 * umc_mfasm) and refuses any chunk that disagrees with the first.
 *
 * Encoding and decoding are pure. A struct umc_mfasm owns its buffer
 * (umc_mfasm_reset() frees it); struct umc_signed_manifest only borrows.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/reason.h"

/* format(1) manifest_len(4) sig_len(4) offset(4), then the data */
#define UMC_MFMSG_HEADER_LEN 13
/* Caps on what an ECU buffers before BEGIN: 64 KiB in all. */
#define UMC_MFMSG_MANIFEST_MAX (48 * 1024)
#define UMC_MFMSG_SIG_MAX (16 * 1024)
/* Data per frame: the body stays within 4000 bytes, a CAN DATA chunk's size. */
#define UMC_MFMSG_CHUNK_MAX (4000 - UMC_MFMSG_HEADER_LEN)

enum umc_mfmsg_format {
        UMC_MFMSG_CMS = 1, /* manifest.json.p7s: detached CMS SignedData, DER */
        UMC_MFMSG_SM2 = 2, /* manifest.json.sm2: the SM2 format of sig.h */
};

/* A manifest and its signature, borrowed. */
struct umc_signed_manifest {
        enum umc_mfmsg_format format;
        const uint8_t *manifest;
        size_t manifest_len;
        const uint8_t *sig;
        size_t sig_len;
};

/* One decoded MANIFEST body; data points into the decoded buffer. */
struct umc_mfmsg {
        uint8_t format;
        uint32_t manifest_len;
        uint32_t sig_len;
        uint32_t offset;       /* into manifest || signature */
        const uint8_t *data;
        size_t data_len;
};

/* True when m's format and lengths are within the caps above (both non-empty). */
bool umc_signed_manifest_valid(const struct umc_signed_manifest *m);

/*
 * Encode the chunk of m that starts at offset, at most max_data bytes
 * (capped at UMC_MFMSG_CHUNK_MAX, at least 1), into out. Returns the body
 * length, with *ret_data_len the data bytes it carries; -EINVAL for an
 * invalid m or an offset at or past the end; -ENOBUFS when out is too small.
 */
int umc_mfmsg_encode(const struct umc_signed_manifest *m, uint32_t offset, size_t max_data,
                     uint8_t *out, size_t out_size, size_t *ret_data_len);

/*
 * Decode a MANIFEST body: -EBADMSG for an unknown format, a length out of
 * its cap, no data, more than UMC_MFMSG_CHUNK_MAX bytes, or data past the
 * end of manifest || signature. ret->data points into buf.
 */
int umc_mfmsg_decode(const uint8_t *buf, size_t len, struct umc_mfmsg *ret);

/* The receiver's assembly of MANIFEST chunks. Zero-initialise it. */
struct umc_mfasm {
        uint8_t format;
        uint32_t manifest_len;
        uint32_t sig_len;
        uint32_t got;          /* bytes assembled: the next chunk's offset */
        uint8_t *buf;          /* manifest_len + sig_len, once the first chunk came */
};

/*
 * Add the next chunk. -EBADMSG with *ret_reason BODY_MALFORMED when its
 * format or lengths differ from the first chunk's, or it comes after the
 * last; OUT_OF_ORDER when its offset is not the next (a chunk went
 * missing). -ENOMEM. A refused chunk leaves a unchanged (a first chunk
 * that does not start at offset 0 allocates nothing).
 */
int umc_mfasm_add(struct umc_mfasm *a, const struct umc_mfmsg *m, enum umc_reason *ret_reason);
/* True when something arrived (complete or not). */
bool umc_mfasm_started(const struct umc_mfasm *a);
/* True when every byte of manifest || signature arrived. */
bool umc_mfasm_complete(const struct umc_mfasm *a);
/* A view of a complete assembly; -ENODATA before it is complete. */
int umc_mfasm_view(const struct umc_mfasm *a, struct umc_signed_manifest *ret);
/* Free the buffer and forget everything. */
void umc_mfasm_reset(struct umc_mfasm *a);
