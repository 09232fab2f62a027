/* SPDX-License-Identifier: MIT */
/*
 * Reason codes: why a frame, a check or a transfer was refused. They travel
 * on the wire in FEEDBACK and ALARM bodies (16 bits, values are stable: add
 * new ones at the end of their group, never renumber) and become alarm
 * texts through umc_reason_to_string().
 *
 * People and scripts see one form everywhere: "0x0405 ETH_DEFAULT_DENY"
 * (umc_reason_format()) in text, the hex string "0x0405" and the name in
 * JSON. docs/reasons.md is the published table; a unit test keeps it equal
 * to the table in reason.c.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Room for umc_reason_format(): "0x" 4 hex digits, a space, the longest name, NUL. */
#define UMC_REASON_FORMAT_MAX 48

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
        UMC_REASON_KEYS_EXHAUSTED = 0x020a,       /* key IDs or sequence numbers used up: fails the transfer */
        UMC_REASON_REJECTED_FRAMES = 0x020b,      /* more frames failed to open than the bound allows */

        /* Transfer checks, 0x03xx */
        UMC_REASON_VERIFY_MISMATCH = 0x0301,
        UMC_REASON_VERIFY_TIME = 0x0302,
        UMC_REASON_IMAGE_HASH_MISMATCH = 0x0303,
        UMC_REASON_OUT_OF_ORDER = 0x0304,
        UMC_REASON_IMAGE_TOO_LARGE = 0x0305,

        /* Header and identity checks (canid.c, ethacl.c, ecu.c), 0x04xx */
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
        /* 0x0607 unassigned: kept for a vehicle-state lock that nothing produces yet */
        UMC_REASON_BUSY = 0x0608,          /* another transfer holds the target */

        /* Signed packages (package.c, sig.c, pkgenc.c), 0x07xx */
        UMC_REASON_PKG_MALFORMED = 0x0701,        /* manifest not as docs/package.md says */
        UMC_REASON_PKG_SIG_MALFORMED = 0x0702,    /* signature file not as specified (CMS or SM2 format) */
        UMC_REASON_PKG_SIG_ALGORITHM = 0x0703,    /* not ECDSA P-256 or RSA-PSS over SHA-256 */
        UMC_REASON_PKG_SIG_MISMATCH = 0x0704,     /* signature does not match the manifest bytes */
        UMC_REASON_PKG_CERT_UNTRUSTED = 0x0705,   /* no chain to the trust anchor */
        UMC_REASON_PKG_CERT_EXPIRED = 0x0706,     /* a certificate expired or not yet valid */
        UMC_REASON_PKG_CERT_REVOKED = 0x0707,
        UMC_REASON_PKG_CERT_PURPOSE = 0x0708,     /* signer lacks codeSigning, or is a CA */
        UMC_REASON_PKG_CRL_INVALID = 0x0709,      /* CRL missing, expired or badly signed */
        UMC_REASON_PKG_CERT_INVALID = 0x070a,     /* any other certificate defect */
        UMC_REASON_PKG_EXPIRED = 0x070b,          /* the manifest's own expiry passed */
        UMC_REASON_PKG_FACTORY_MISMATCH = 0x070c, /* vehicle model or hardware revision */
        UMC_REASON_PKG_ROLLBACK = 0x070d,         /* security version below the installed one */
        UMC_REASON_PKG_NO_TARGET = 0x070e,        /* no entry for this ECU */
        UMC_REASON_PKG_HW_MISMATCH = 0x070f,      /* entry's hardware ID is not the ECU's */
        UMC_REASON_PKG_IMAGE_SIZE = 0x0710,       /* image size differs from the manifest */
        UMC_REASON_PKG_DECRYPT_FAILED = 0x0711,   /* encrypted image fails authentication */
        UMC_REASON_PKG_UNSIGNED = 0x0712,         /* no signature, and umcd requires one */
        UMC_REASON_PKG_SIG_MISSING = 0x0713,      /* the ECU requires a signed manifest, none came */
        UMC_REASON_PKG_VERSION_MISMATCH = 0x0714, /* BEGIN's version is not the signed entry's */
        UMC_REASON_PKG_FEATURE_MISMATCH = 0x0715, /* feature code absent, not ours, or another */
};

/* Static English text for a reason; "unknown reason" for values not above. */
const char *umc_reason_to_string(uint16_t reason);

/* True when the value is one of the codes above. */
int umc_reason_is_known(uint16_t reason);

/* The code's name as in this header without UMC_REASON_ ("ETH_DEFAULT_DENY"); NULL when unknown. */
const char *umc_reason_name(uint16_t reason);

/*
 * The form shown to people: "0x0405 ETH_DEFAULT_DENY", or "0x1234" for an
 * unknown value. Writes buf and returns it.
 */
const char *umc_reason_format(uint16_t reason, char buf[static UMC_REASON_FORMAT_MAX]);

/* The table, for docs and tests: umc_reason_count() codes, umc_reason_at(0..count-1). */
size_t umc_reason_count(void);
uint16_t umc_reason_at(size_t i);
