/* SPDX-License-Identifier: MIT */
#include "umc/reason.h"

#include <sys/types.h>

#include "umc/util.h"

#include <stdio.h>

/*
 * One row per code. A table rather than a switch so that umc_reason_is_known(),
 * the name and the text can never disagree; R() spells the name from the
 * enum so the two cannot drift either. docs/reasons.md publishes this table
 * (tests/unit/test-reason.c compares the two).
 */
#define R(id, txt) { UMC_REASON_##id, #id, txt }
static const struct {
        uint16_t code;
        const char *name;
        const char *text;
} reason_table[] = {
        R(OK, "ok"),

        R(FRAME_TRUNCATED, "frame truncated"),
        R(FRAME_BAD_MAGIC, "frame magic is not \"UM\""),
        R(FRAME_BAD_VERSION, "unsupported frame version"),
        R(FRAME_BAD_TYPE, "unknown or unexpected frame type"),
        R(FRAME_BAD_SUITE, "cipher suite invalid for frame type"),
        R(FRAME_BAD_INNER_SUITE, "inner cipher suite invalid for frame type"),
        R(FRAME_BAD_FLAGS, "reserved frame bits set"),
        R(FRAME_TOO_LONG, "frame payload longer than allowed"),
        R(FRAME_TRAILING_BYTES, "trailing bytes after frame payload"),
        R(FRAME_PAYLOAD_TOO_SHORT, "frame payload shorter than its tags"),

        R(TAG_MISMATCH, "frame authentication tag mismatch"),
        R(UNKNOWN_KEY_ID, "unknown key ID"),
        R(KEY_ID_SUITE_MISMATCH, "cipher suite differs from key ID's first suite"),
        R(REPLAYED, "replayed sequence number"),
        R(SEQ_TOO_OLD, "sequence number behind replay window"),
        R(WRONG_SESSION, "frame for another session"),
        R(WRONG_ECU, "frame for another ECU"),
        R(SUITE_NOT_ALLOWED, "cipher suite not allowed"),
        R(BODY_MALFORMED, "malformed frame body"),
        R(KEYS_EXHAUSTED, "key ID space exhausted"),
        R(REJECTED_FRAMES, "too many frames failed authentication"),

        R(VERIFY_MISMATCH, "verify digest mismatch"),
        R(VERIFY_TIME, "verify timestamp out of range"),
        R(IMAGE_HASH_MISMATCH, "image hash mismatch"),
        R(OUT_OF_ORDER, "frame out of order"),
        R(IMAGE_TOO_LARGE, "image larger than allowed"),

        R(CAN_ID_UNKNOWN, "CAN ID not in whitelist"),
        R(CAN_RATE_HIGH, "CAN ID rate above tolerance"),
        R(CAN_RATE_LOW, "CAN ID rate below tolerance"),
        R(ETH_DENIED_BY_RULE, "ethernet traffic denied by rule"),
        R(ETH_DEFAULT_DENY, "ethernet traffic matched no rule"),
        R(ECU_UNKNOWN, "unknown ECU"),
        R(ECU_HW_MISMATCH, "ECU hardware ID mismatch"),
        R(ECU_AUTH_FAILED, "ECU authentication failed"),

        R(LOAD_MUTATION, "bus load changed abruptly"),
        R(LOAD_ABNORMAL, "bus load above abnormal threshold"),

        R(CANCELLED, "transfer cancelled"),
        R(STOPPED_BY_RECEIVER, "transfer stopped by receiver"),
        R(IO_ERROR, "I/O error"),
        R(NO_SPACE, "no space for image"),
        R(TIMEOUT, "timed out"),
        R(INTERNAL, "internal error"),
        R(BUSY, "another transfer to this target is in progress"),

        R(PKG_MALFORMED, "package manifest malformed"),
        R(PKG_SIG_MALFORMED, "package signature malformed"),
        R(PKG_SIG_ALGORITHM, "package signature algorithm not allowed"),
        R(PKG_SIG_MISMATCH, "package signature does not match the manifest"),
        R(PKG_CERT_UNTRUSTED, "package signer not trusted"),
        R(PKG_CERT_EXPIRED, "package signer certificate expired or not yet valid"),
        R(PKG_CERT_REVOKED, "package signer certificate revoked"),
        R(PKG_CERT_PURPOSE, "package signer certificate not for code signing"),
        R(PKG_CRL_INVALID, "certificate revocation list missing, expired or invalid"),
        R(PKG_CERT_INVALID, "package signer certificate invalid"),
        R(PKG_EXPIRED, "package expired"),
        R(PKG_FACTORY_MISMATCH, "package not for this vehicle model or hardware revision"),
        R(PKG_ROLLBACK, "package security version below the installed one"),
        R(PKG_NO_TARGET, "package has no image for this ECU"),
        R(PKG_HW_MISMATCH, "package image is for another hardware ID"),
        R(PKG_IMAGE_SIZE, "image size differs from the package manifest"),
        R(PKG_DECRYPT_FAILED, "encrypted image failed authentication"),
        R(PKG_UNSIGNED, "package not signed"),
        R(PKG_SIG_MISSING, "signed manifest required but none sent"),
        R(PKG_VERSION_MISMATCH, "image version differs from the signed manifest"),
        R(PKG_FEATURE_MISMATCH, "package feature code does not match this device"),
};

#undef R

static ssize_t reason_index(uint16_t reason) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(reason_table); i++)
                if (reason_table[i].code == reason)
                        return (ssize_t)i;
        return -1;
}

const char *umc_reason_to_string(uint16_t reason) {
        ssize_t i = reason_index(reason);

        return i >= 0 ? reason_table[i].text : "unknown reason";
}

int umc_reason_is_known(uint16_t reason) {
        return reason_index(reason) >= 0;
}

const char *umc_reason_name(uint16_t reason) {
        ssize_t i = reason_index(reason);

        return i >= 0 ? reason_table[i].name : NULL;
}

const char *umc_reason_format(uint16_t reason, char buf[static UMC_REASON_FORMAT_MAX]) {
        const char *name = umc_reason_name(reason);

        if (name)
                (void)snprintf(buf, UMC_REASON_FORMAT_MAX, "0x%04x %s", reason, name);
        else
                (void)snprintf(buf, UMC_REASON_FORMAT_MAX, "0x%04x", reason);
        return buf;
}

size_t umc_reason_count(void) {
        return UMC_ELEMENTSOF(reason_table);
}

uint16_t umc_reason_at(size_t i) {
        return i < UMC_ELEMENTSOF(reason_table) ? reason_table[i].code : UMC_REASON_OK;
}
