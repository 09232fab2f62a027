/* SPDX-License-Identifier: MIT */
#include "umc/reason.h"

#include "umc/util.h"

/*
 * One row per code. A table rather than a switch so that umc_reason_is_known()
 * and the text can never disagree.
 */
static const struct {
        uint16_t code;
        const char *text;
} reason_table[] = {
        { UMC_REASON_OK, "ok" },

        { UMC_REASON_FRAME_TRUNCATED, "frame truncated" },
        { UMC_REASON_FRAME_BAD_MAGIC, "frame magic is not \"UM\"" },
        { UMC_REASON_FRAME_BAD_VERSION, "unsupported frame version" },
        { UMC_REASON_FRAME_BAD_TYPE, "unknown or unexpected frame type" },
        { UMC_REASON_FRAME_BAD_SUITE, "cipher suite invalid for frame type" },
        { UMC_REASON_FRAME_BAD_INNER_SUITE, "inner cipher suite invalid for frame type" },
        { UMC_REASON_FRAME_BAD_FLAGS, "reserved frame bits set" },
        { UMC_REASON_FRAME_TOO_LONG, "frame payload longer than allowed" },
        { UMC_REASON_FRAME_TRAILING_BYTES, "trailing bytes after frame payload" },
        { UMC_REASON_FRAME_PAYLOAD_TOO_SHORT, "frame payload shorter than its tags" },

        { UMC_REASON_TAG_MISMATCH, "frame authentication tag mismatch" },
        { UMC_REASON_UNKNOWN_KEY_ID, "unknown key ID" },
        { UMC_REASON_KEY_ID_SUITE_MISMATCH, "cipher suite differs from key ID's first suite" },
        { UMC_REASON_REPLAYED, "replayed sequence number" },
        { UMC_REASON_SEQ_TOO_OLD, "sequence number behind replay window" },
        { UMC_REASON_WRONG_SESSION, "frame for another session" },
        { UMC_REASON_WRONG_ECU, "frame for another ECU" },
        { UMC_REASON_SUITE_NOT_ALLOWED, "cipher suite not allowed" },
        { UMC_REASON_BODY_MALFORMED, "malformed frame body" },
        { UMC_REASON_KEYS_EXHAUSTED, "key ID space exhausted" },

        { UMC_REASON_VERIFY_MISMATCH, "verify digest mismatch" },
        { UMC_REASON_VERIFY_TIME, "verify timestamp out of range" },
        { UMC_REASON_IMAGE_HASH_MISMATCH, "image hash mismatch" },
        { UMC_REASON_OUT_OF_ORDER, "frame out of order" },
        { UMC_REASON_IMAGE_TOO_LARGE, "image larger than allowed" },

        { UMC_REASON_CAN_ID_UNKNOWN, "CAN ID not in whitelist" },
        { UMC_REASON_CAN_RATE_HIGH, "CAN ID rate above tolerance" },
        { UMC_REASON_CAN_RATE_LOW, "CAN ID rate below tolerance" },
        { UMC_REASON_ETH_DENIED_BY_RULE, "ethernet traffic denied by rule" },
        { UMC_REASON_ETH_DEFAULT_DENY, "ethernet traffic matched no rule" },
        { UMC_REASON_ECU_UNKNOWN, "unknown ECU" },
        { UMC_REASON_ECU_HW_MISMATCH, "ECU hardware ID mismatch" },
        { UMC_REASON_ECU_AUTH_FAILED, "ECU authentication failed" },

        { UMC_REASON_LOAD_MUTATION, "bus load changed abruptly" },
        { UMC_REASON_LOAD_ABNORMAL, "bus load above abnormal threshold" },

        { UMC_REASON_CANCELLED, "transfer cancelled" },
        { UMC_REASON_STOPPED_BY_RECEIVER, "transfer stopped by receiver" },
        { UMC_REASON_IO_ERROR, "I/O error" },
        { UMC_REASON_NO_SPACE, "no space for image" },
        { UMC_REASON_TIMEOUT, "timed out" },
        { UMC_REASON_INTERNAL, "internal error" },
        { UMC_REASON_BUSY, "another transfer to this target is in progress" },

        { UMC_REASON_PKG_MALFORMED, "package manifest malformed" },
        { UMC_REASON_PKG_SIG_MALFORMED, "package signature malformed" },
        { UMC_REASON_PKG_SIG_ALGORITHM, "package signature algorithm not allowed" },
        { UMC_REASON_PKG_SIG_MISMATCH, "package signature does not match the manifest" },
        { UMC_REASON_PKG_CERT_UNTRUSTED, "package signer not trusted" },
        { UMC_REASON_PKG_CERT_EXPIRED, "package signer certificate expired or not yet valid" },
        { UMC_REASON_PKG_CERT_REVOKED, "package signer certificate revoked" },
        { UMC_REASON_PKG_CERT_PURPOSE, "package signer certificate not for code signing" },
        { UMC_REASON_PKG_CRL_INVALID, "certificate revocation list missing, expired or invalid" },
        { UMC_REASON_PKG_CERT_INVALID, "package signer certificate invalid" },
        { UMC_REASON_PKG_EXPIRED, "package expired" },
        { UMC_REASON_PKG_FACTORY_MISMATCH, "package not for this vehicle model or hardware revision" },
        { UMC_REASON_PKG_ROLLBACK, "package security version below the installed one" },
        { UMC_REASON_PKG_NO_TARGET, "package has no image for this ECU" },
        { UMC_REASON_PKG_HW_MISMATCH, "package image is for another hardware ID" },
        { UMC_REASON_PKG_IMAGE_SIZE, "image size differs from the package manifest" },
        { UMC_REASON_PKG_DECRYPT_FAILED, "encrypted image failed authentication" },
};

static const char *reason_lookup(uint16_t reason) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(reason_table); i++)
                if (reason_table[i].code == reason)
                        return reason_table[i].text;
        return NULL;
}

const char *umc_reason_to_string(uint16_t reason) {
        const char *s = reason_lookup(reason);

        return s ? s : "unknown reason";
}

int umc_reason_is_known(uint16_t reason) {
        return reason_lookup(reason) != NULL;
}
