/* SPDX-License-Identifier: MIT */
/*
 * Reason codes: why a frame, a check or a transfer was refused. They travel
 * on the wire in FEEDBACK and ALARM bodies (16 bits, values are stable: add
 * new ones at the end of their group, never renumber) and become alarm
 * texts through umc_reason_to_string().
 */
#pragma once

#include <stdint.h>

enum umc_reason {
        UMC_REASON_OK = 0,

        /* Frame parsing (umc_frame_parse), 0x01xx */
        UMC_REASON_FRAME_TRUNCATED = 0x0101,      /* shorter than header, or than header + payload length */
        UMC_REASON_FRAME_BAD_MAGIC = 0x0102,
        UMC_REASON_FRAME_BAD_VERSION = 0x0103,
        UMC_REASON_FRAME_BAD_TYPE = 0x0104,
        UMC_REASON_FRAME_BAD_SUITE = 0x0105,      /* unknown suite ID, or none on a type that needs one */
        UMC_REASON_FRAME_BAD_INNER_SUITE = 0x0106,
        UMC_REASON_FRAME_BAD_FLAGS = 0x0107,      /* reserved bits set */
        UMC_REASON_FRAME_TOO_LONG = 0x0108,       /* payload length above the protocol or channel limit */
        UMC_REASON_FRAME_TRAILING_BYTES = 0x0109, /* buffer longer than header + payload length */
        UMC_REASON_FRAME_PAYLOAD_TOO_SHORT = 0x010a, /* shorter than the suite's tag */

        /* Secure session (umc_session_open), 0x02xx */
        UMC_REASON_TAG_MISMATCH = 0x0201,
        UMC_REASON_UNKNOWN_KEY_ID = 0x0202,
        UMC_REASON_KEY_ID_SUITE_MISMATCH = 0x0203,
        UMC_REASON_REPLAYED = 0x0204,
        UMC_REASON_SEQ_TOO_OLD = 0x0205,
        UMC_REASON_WRONG_SESSION = 0x0206,
        UMC_REASON_WRONG_ECU = 0x0207,
        UMC_REASON_SUITE_NOT_ALLOWED = 0x0208,
        UMC_REASON_BODY_MALFORMED = 0x0209,
        UMC_REASON_KEYS_EXHAUSTED = 0x020a,       /* key ID space used up: re-authenticate */
        UMC_REASON_REJECTED_FRAMES = 0x020b,      /* more frames failed to open than the bound allows */

        /* Transfer checks, 0x03xx */
        UMC_REASON_VERIFY_MISMATCH = 0x0301,
        UMC_REASON_VERIFY_TIME = 0x0302,
        UMC_REASON_IMAGE_HASH_MISMATCH = 0x0303,
        UMC_REASON_OUT_OF_ORDER = 0x0304,
        UMC_REASON_IMAGE_TOO_LARGE = 0x0305,

        /* Header and identity checks (acl.c), 0x04xx */
        UMC_REASON_CAN_ID_UNKNOWN = 0x0401,
        UMC_REASON_CAN_RATE_HIGH = 0x0402,
        UMC_REASON_CAN_RATE_LOW = 0x0403,
        UMC_REASON_ETH_DENIED_BY_RULE = 0x0404,
        UMC_REASON_ETH_DEFAULT_DENY = 0x0405,
        UMC_REASON_ECU_UNKNOWN = 0x0406,
        UMC_REASON_ECU_HW_MISMATCH = 0x0407,
        UMC_REASON_ECU_AUTH_FAILED = 0x0408,

        /* Load, 0x05xx */
        UMC_REASON_LOAD_MUTATION = 0x0501,
        UMC_REASON_LOAD_ABNORMAL = 0x0502,

        /* Operation, 0x06xx */
        UMC_REASON_CANCELLED = 0x0601,
        UMC_REASON_STOPPED_BY_RECEIVER = 0x0602,
        UMC_REASON_IO_ERROR = 0x0603,
        UMC_REASON_NO_SPACE = 0x0604,
        UMC_REASON_TIMEOUT = 0x0605,
        UMC_REASON_INTERNAL = 0x0606,
        UMC_REASON_OTA_LOCKED = 0x0607,
        UMC_REASON_BUSY = 0x0608,          /* another transfer holds the target */
};

/* Static English text for a reason; "unknown reason" for values not above. */
const char *umc_reason_to_string(uint16_t reason);

/* True when the value is one of the codes above. */
int umc_reason_is_known(uint16_t reason);
