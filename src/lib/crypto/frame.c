/* SPDX-License-Identifier: MIT */
#include "umc/frame.h"

#include "umc/cipher.h"
#include "umc/util.h"

/* Byte offsets of the header fields; docs/protocol.md has the table. */
enum {
        OFF_MAGIC = 0,
        OFF_VERSION = 2,
        OFF_TYPE = 3,
        OFF_SUITE = 4,
        OFF_INNER_SUITE = 5,
        OFF_KEY_ID = 6,
        OFF_SESSION_ID = 8,
        OFF_SEQ = 16,
        OFF_ECU_ID = 20,
        OFF_PAYLOAD_LEN = UMC_FRAME_PAYLOAD_LEN_OFFSET,
};

int umc_frame_type_is_auth(unsigned type) {
        return type == UMC_FRAME_AUTH_CHALLENGE || type == UMC_FRAME_AUTH_RESPONSE ||
               type == UMC_FRAME_AUTH_CONFIRM;
}

const char *umc_frame_type_to_string(unsigned type) {
        static const char *const names[_UMC_FRAME_TYPE_MAX] = {
                [UMC_FRAME_DATA] = "data",
                [UMC_FRAME_VERIFY] = "verify",
                [UMC_FRAME_TRANSPORT] = "transport",
                [UMC_FRAME_FEEDBACK] = "feedback",
                [UMC_FRAME_AUTH_CHALLENGE] = "auth-challenge",
                [UMC_FRAME_AUTH_RESPONSE] = "auth-response",
                [UMC_FRAME_AUTH_CONFIRM] = "auth-confirm",
                [UMC_FRAME_ALARM] = "alarm",
                [UMC_FRAME_BEGIN] = "begin",
                [UMC_FRAME_STATUS_QUERY] = "status-query",
                [UMC_FRAME_STATUS] = "status",
                [UMC_FRAME_MANIFEST] = "manifest",
        };

        if (type >= _UMC_FRAME_TYPE_MAX || !names[type])
                return "unknown";
        return names[type];
}

void umc_frame_header_encode(const struct umc_frame_header *h, uint8_t out[UMC_FRAME_HEADER_LEN]) {
        out[OFF_MAGIC] = UMC_FRAME_MAGIC0;
        out[OFF_MAGIC + 1] = UMC_FRAME_MAGIC1;
        out[OFF_VERSION] = UMC_FRAME_VERSION;
        out[OFF_TYPE] = h->type;
        out[OFF_SUITE] = h->suite;
        out[OFF_INNER_SUITE] = h->inner_suite;
        umc_put_be16(out + OFF_KEY_ID, h->key_id);
        umc_put_be64(out + OFF_SESSION_ID, h->session_id);
        umc_put_be32(out + OFF_SEQ, h->seq);
        umc_put_be32(out + OFF_ECU_ID, h->ecu_id);
        umc_put_be32(out + OFF_PAYLOAD_LEN, h->payload_len);
}

static int reject(enum umc_reason why, enum umc_reason *ret_reason) {
        if (ret_reason)
                *ret_reason = why;
        return -EBADMSG;
}

/*
 * Suites against the type. Returns the reason, and for sealed types the
 * total tag length the payload must at least hold.
 */
static enum umc_reason check_suites(uint8_t type, uint8_t suite, uint8_t inner,
                                    size_t *ret_tags) {
        const struct umc_suite *outer_s, *inner_s = NULL;

        /* AUTH_* travel in the clear: a suite there would be a lie about the payload. */
        if (umc_frame_type_is_auth(type)) {
                if (suite != UMC_SUITE_NONE)
                        return UMC_REASON_FRAME_BAD_SUITE;
                if (inner != UMC_SUITE_NONE)
                        return UMC_REASON_FRAME_BAD_INNER_SUITE;
                *ret_tags = 0;
                return UMC_REASON_OK;
        }

        outer_s = umc_suite_by_id(suite);
        if (!outer_s)
                return UMC_REASON_FRAME_BAD_SUITE;
        if (inner != UMC_SUITE_NONE) {
                inner_s = umc_suite_by_id(inner);
                if (!inner_s)
                        return UMC_REASON_FRAME_BAD_INNER_SUITE;
        }
        *ret_tags = outer_s->tag_len + (inner_s ? inner_s->tag_len : 0);
        return UMC_REASON_OK;
}

int umc_frame_header_parse(const uint8_t *buf, size_t len, size_t max_payload,
                           struct umc_frame_header *ret, enum umc_reason *ret_reason) {
        struct umc_frame_header h;
        enum umc_reason why;
        size_t tags;

        /* Checked first: every later check reads only the first 28 bytes. */
        if (len < UMC_FRAME_HEADER_LEN)
                return reject(UMC_REASON_FRAME_TRUNCATED, ret_reason);
        if (buf[OFF_MAGIC] != UMC_FRAME_MAGIC0 || buf[OFF_MAGIC + 1] != UMC_FRAME_MAGIC1)
                return reject(UMC_REASON_FRAME_BAD_MAGIC, ret_reason);
        if (buf[OFF_VERSION] != UMC_FRAME_VERSION)
                return reject(UMC_REASON_FRAME_BAD_VERSION, ret_reason);
        if (buf[OFF_TYPE] < 1 || buf[OFF_TYPE] >= _UMC_FRAME_TYPE_MAX)
                return reject(UMC_REASON_FRAME_BAD_TYPE, ret_reason);

        h = (struct umc_frame_header){
                .type = buf[OFF_TYPE],
                .suite = buf[OFF_SUITE],
                .inner_suite = buf[OFF_INNER_SUITE],
                .key_id = umc_get_be16(buf + OFF_KEY_ID),
                .session_id = umc_get_be64(buf + OFF_SESSION_ID),
                .seq = umc_get_be32(buf + OFF_SEQ),
                .ecu_id = umc_get_be32(buf + OFF_ECU_ID),
                .payload_len = umc_get_be32(buf + OFF_PAYLOAD_LEN),
        };

        why = check_suites(h.type, h.suite, h.inner_suite, &tags);
        if (why != UMC_REASON_OK)
                return reject(why, ret_reason);
        if (h.payload_len > max_payload || h.payload_len > UMC_FRAME_MAX_PAYLOAD)
                return reject(UMC_REASON_FRAME_TOO_LONG, ret_reason);
        if (h.payload_len < tags)
                return reject(UMC_REASON_FRAME_PAYLOAD_TOO_SHORT, ret_reason);

        if (ret)
                *ret = h;
        if (ret_reason)
                *ret_reason = UMC_REASON_OK;
        return 0;
}

int umc_frame_parse(const uint8_t *buf, size_t len, size_t max_payload,
                    struct umc_frame_header *ret_hdr, const uint8_t **ret_payload,
                    enum umc_reason *ret_reason) {
        struct umc_frame_header h;
        int r;

        r = umc_frame_header_parse(buf, len, max_payload, &h, ret_reason);
        if (r < 0)
                return r;
        /* payload_len <= UMC_FRAME_MAX_PAYLOAD here, so the sum cannot overflow. */
        if (len < UMC_FRAME_HEADER_LEN + (size_t)h.payload_len)
                return reject(UMC_REASON_FRAME_TRUNCATED, ret_reason);
        if (len > UMC_FRAME_HEADER_LEN + (size_t)h.payload_len)
                return reject(UMC_REASON_FRAME_TRAILING_BYTES, ret_reason);

        if (ret_hdr)
                *ret_hdr = h;
        if (ret_payload)
                *ret_payload = buf + UMC_FRAME_HEADER_LEN;
        return 0;
}
