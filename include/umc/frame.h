/* SPDX-License-Identifier: MIT */
/*
 * Transport frames: the unit that crosses CAN (one frame = one ISO-TP PDU)
 * and TCP (frames back to back, delimited by the header's payload length).
 * docs/protocol.md describes every byte.
 *
 * Header (28 bytes, big-endian), authenticated as AEAD associated data:
 *   0 magic "UM" | 2 version | 3 type | 4 suite | 5 inner suite |
 *   6 key ID (16) | 8 session ID (64) | 16 sequence (32) | 20 ECU ID (32) |
 *   24 payload length (32)
 * The payload is the sealed body (ciphertext + tag), or for AUTH_* frames
 * the clear body, whose own HMAC covers the header.
 *
 * Parsing never allocates and never reads past len: the parsed view points
 * into the caller's buffer.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "umc/reason.h"

#define UMC_FRAME_MAGIC0 0x55 /* 'U' */
#define UMC_FRAME_MAGIC1 0x4d /* 'M' */
#define UMC_FRAME_VERSION 1
#define UMC_FRAME_HEADER_LEN 28
/* Protocol ceiling on the payload; a channel may set a lower one (ISO-TP). */
#define UMC_FRAME_MAX_PAYLOAD (64 * 1024)
/* Where the header keeps the payload length (see above), for code that finds frame ends. */
#define UMC_FRAME_PAYLOAD_LEN_OFFSET 24

enum umc_frame_type {
        UMC_FRAME_DATA = 1,
        UMC_FRAME_VERIFY = 2,
        UMC_FRAME_TRANSPORT = 3,
        UMC_FRAME_FEEDBACK = 4,
        UMC_FRAME_AUTH_CHALLENGE = 5,
        UMC_FRAME_AUTH_RESPONSE = 6,
        UMC_FRAME_AUTH_CONFIRM = 7,
        UMC_FRAME_ALARM = 8,
        UMC_FRAME_BEGIN = 9,
        UMC_FRAME_STATUS_QUERY = 10, /* master -> ECU, sealed: what do your slots hold? */
        UMC_FRAME_STATUS = 11,       /* ECU -> master, sealed: the answer */
        UMC_FRAME_MANIFEST = 12,     /* master -> ECU, sealed: a piece of the signed manifest (mfmsg.h) */
        _UMC_FRAME_TYPE_MAX,
};

struct umc_frame_header {
        uint8_t type;        /* enum umc_frame_type */
        uint8_t suite;       /* enum umc_suite_id; NONE only on AUTH_* */
        uint8_t inner_suite; /* layered mode's first suite; NONE = single layer */
        uint16_t key_id;
        uint64_t session_id;
        uint32_t seq;
        uint32_t ecu_id;
        uint32_t payload_len;
};

/* True for AUTH_CHALLENGE/RESPONSE/CONFIRM, the only clear-text types. */
int umc_frame_type_is_auth(unsigned type);
const char *umc_frame_type_to_string(unsigned type);

/* Write the 28-byte header. Does not validate (the sealer builds it). */
void umc_frame_header_encode(const struct umc_frame_header *h, uint8_t out[UMC_FRAME_HEADER_LEN]);

/*
 * Parse and validate a header from the first bytes of buf (len >= 28
 * needed; the payload need not be present yet, so a stream reader can learn
 * how much more to read). max_payload is the channel's ceiling
 * (<= UMC_FRAME_MAX_PAYLOAD). Checks magic, version, type, suite and inner
 * suite against the type, payload length against max_payload and against
 * the suites' tag lengths.
 * Returns 0, or -EBADMSG with *ret_reason naming the first defect.
 * ret is written only on success.
 */
int umc_frame_header_parse(const uint8_t *buf, size_t len, size_t max_payload,
                           struct umc_frame_header *ret, enum umc_reason *ret_reason);

/*
 * Parse a whole frame: header as above, then len must equal
 * 28 + payload_len exactly (TRUNCATED / TRAILING_BYTES otherwise).
 * *ret_payload points into buf.
 */
int umc_frame_parse(const uint8_t *buf, size_t len, size_t max_payload,
                    struct umc_frame_header *ret_hdr, const uint8_t **ret_payload,
                    enum umc_reason *ret_reason);
