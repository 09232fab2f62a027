/* SPDX-License-Identifier: MIT */
#include "umc/msg.h"

#include "umc/cipher.h"
#include "umc/util.h"

/*
 * Each body has one validity predicate shared by its encoder and decoder,
 * so that what we send is exactly what a peer of ours accepts.
 */

static bool is_printable(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i] < 0x20 || p[i] > 0x7e)
                        return false;
        return true;
}

/* Length of a NUL-terminated struct string if it is min..max printable bytes, else -EINVAL. */
static int str_valid(const char *s, size_t min, size_t max) {
        size_t n = strnlen(s, max + 1);

        if (n < min || n > max || !is_printable((const uint8_t *)s, n))
                return -EINVAL;
        return (int)n;
}

/* Copy a wire string of n bytes (already bounds-checked) into a NUL-terminated field. */
static int str_decode(const uint8_t *p, size_t n, size_t min, size_t max, char *out) {
        if (n < min || n > max || !is_printable(p, n))
                return -EBADMSG;
        memcpy(out, p, n);
        out[n] = '\0';
        return 0;
}

static bool hash_alg_valid(unsigned alg) {
        return alg == UMC_HASH_SHA256 || alg == UMC_HASH_SM3;
}

const char *umc_msg_feedback_code_to_string(unsigned code) {
        switch (code) {
        case UMC_FEEDBACK_CONTINUE:
                return "continue";
        case UMC_FEEDBACK_STOP:
                return "stop";
        case UMC_FEEDBACK_COMPLETE:
                return "complete";
        default:
                return "unknown";
        }
}

/* ---- DATA: offset(8) data(1..) ---- */

static bool data_valid(uint64_t offset, size_t data_len) {
        return data_len >= 1 && data_len <= UMC_MSG_DATA_MAX && offset <= UINT64_MAX - data_len;
}

int umc_msg_data_encode(const struct umc_msg_data *m, uint8_t *out, size_t out_size) {
        size_t n;

        if (!m || !out || !m->data || !data_valid(m->offset, m->data_len))
                return -EINVAL;
        n = UMC_MSG_DATA_HEADER_LEN + m->data_len;
        if (out_size < n)
                return -ENOBUFS;
        umc_put_be64(out, m->offset);
        memmove(out + UMC_MSG_DATA_HEADER_LEN, m->data, m->data_len);
        return (int)n;
}

int umc_msg_data_decode(const uint8_t *buf, size_t len, struct umc_msg_data *ret) {
        uint64_t offset;

        if (!ret)
                return -EINVAL;
        if (len <= UMC_MSG_DATA_HEADER_LEN)
                return -EBADMSG;
        offset = umc_get_be64(buf);
        if (!data_valid(offset, len - UMC_MSG_DATA_HEADER_LEN))
                return -EBADMSG;
        *ret = (struct umc_msg_data){
                .offset = offset,
                .data = buf + UMC_MSG_DATA_HEADER_LEN,
                .data_len = len - UMC_MSG_DATA_HEADER_LEN,
        };
        return 0;
}

/* ---- BEGIN: image_len(8) hash_alg(1) verify_every(4) chunk_len(4) image_id(32) vlen(1) version ---- */

enum {
        BEGIN_IMAGE_LEN = 0,
        BEGIN_HASH_ALG = 8,
        BEGIN_VERIFY_EVERY = 9,
        BEGIN_CHUNK_LEN = 13,
        BEGIN_IMAGE_ID = 17,
        BEGIN_VERSION_LEN = 49,
        BEGIN_VERSION = 50,
};

static bool begin_fields_valid(const struct umc_msg_begin *m) {
        return m->image_len >= 1 && hash_alg_valid(m->hash_alg) && m->verify_every >= 1 &&
               m->chunk_len >= 1 && m->chunk_len <= UMC_MSG_DATA_MAX;
}

int umc_msg_begin_encode(const struct umc_msg_begin *m, uint8_t *out, size_t out_size) {
        int vlen;

        if (!m || !out || !begin_fields_valid(m))
                return -EINVAL;
        vlen = str_valid(m->version, 1, UMC_MSG_VERSION_MAX);
        if (vlen < 0)
                return vlen;
        if (out_size < UMC_MSG_BEGIN_FIXED_LEN + (size_t)vlen)
                return -ENOBUFS;
        umc_put_be64(out + BEGIN_IMAGE_LEN, m->image_len);
        out[BEGIN_HASH_ALG] = (uint8_t)m->hash_alg;
        umc_put_be32(out + BEGIN_VERIFY_EVERY, m->verify_every);
        umc_put_be32(out + BEGIN_CHUNK_LEN, m->chunk_len);
        memcpy(out + BEGIN_IMAGE_ID, m->image_id, UMC_MSG_IMAGE_ID_LEN);
        out[BEGIN_VERSION_LEN] = (uint8_t)vlen;
        memcpy(out + BEGIN_VERSION, m->version, (size_t)vlen);
        return UMC_MSG_BEGIN_FIXED_LEN + vlen;
}

int umc_msg_begin_decode(const uint8_t *buf, size_t len, struct umc_msg_begin *ret) {
        struct umc_msg_begin m = {};

        if (!ret)
                return -EINVAL;
        /* The declared version length must account for every remaining byte. */
        if (len < UMC_MSG_BEGIN_FIXED_LEN || len - UMC_MSG_BEGIN_FIXED_LEN != buf[BEGIN_VERSION_LEN])
                return -EBADMSG;
        m.image_len = umc_get_be64(buf + BEGIN_IMAGE_LEN);
        m.hash_alg = buf[BEGIN_HASH_ALG];
        m.verify_every = umc_get_be32(buf + BEGIN_VERIFY_EVERY);
        m.chunk_len = umc_get_be32(buf + BEGIN_CHUNK_LEN);
        memcpy(m.image_id, buf + BEGIN_IMAGE_ID, UMC_MSG_IMAGE_ID_LEN);
        if (!begin_fields_valid(&m))
                return -EBADMSG;
        if (str_decode(buf + BEGIN_VERSION, buf[BEGIN_VERSION_LEN], 1, UMC_MSG_VERSION_MAX,
                       m.version) < 0)
                return -EBADMSG;
        *ret = m;
        return 0;
}

/* ---- VERIFY: time(8) checkpoint(4) start(8) end(8) n_frames(4) digest(32) ---- */

enum {
        VERIFY_TIME = 0,
        VERIFY_CHECKPOINT = 8,
        VERIFY_START = 12,
        VERIFY_END = 20,
        VERIFY_N_FRAMES = 28,
        VERIFY_DIGEST = 32,
};

static bool verify_valid(const struct umc_msg_verify *m) {
        /* Every DATA frame carries at least one byte of the range. */
        return m->checkpoint >= 1 && m->start < m->end && m->n_frames >= 1 &&
               m->n_frames <= m->end - m->start;
}

int umc_msg_verify_encode(const struct umc_msg_verify *m, uint8_t *out, size_t out_size) {
        if (!m || !out || !verify_valid(m))
                return -EINVAL;
        if (out_size < UMC_MSG_VERIFY_LEN)
                return -ENOBUFS;
        umc_put_be64(out + VERIFY_TIME, m->time_usec);
        umc_put_be32(out + VERIFY_CHECKPOINT, m->checkpoint);
        umc_put_be64(out + VERIFY_START, m->start);
        umc_put_be64(out + VERIFY_END, m->end);
        umc_put_be32(out + VERIFY_N_FRAMES, m->n_frames);
        memcpy(out + VERIFY_DIGEST, m->digest, UMC_HASH_LEN);
        return UMC_MSG_VERIFY_LEN;
}

int umc_msg_verify_decode(const uint8_t *buf, size_t len, struct umc_msg_verify *ret) {
        struct umc_msg_verify m;

        if (!ret)
                return -EINVAL;
        if (len != UMC_MSG_VERIFY_LEN)
                return -EBADMSG;
        m = (struct umc_msg_verify){
                .time_usec = umc_get_be64(buf + VERIFY_TIME),
                .checkpoint = umc_get_be32(buf + VERIFY_CHECKPOINT),
                .start = umc_get_be64(buf + VERIFY_START),
                .end = umc_get_be64(buf + VERIFY_END),
                .n_frames = umc_get_be32(buf + VERIFY_N_FRAMES),
        };
        memcpy(m.digest, buf + VERIFY_DIGEST, UMC_HASH_LEN);
        if (!verify_valid(&m))
                return -EBADMSG;
        *ret = m;
        return 0;
}

int umc_msg_verify_digest_init(struct umc_hash *h, enum umc_hash_alg alg) {
        if (!h)
                return -EINVAL;
        return umc_hash_init(h, alg);
}

int umc_msg_verify_digest_update(struct umc_hash *h, const void *data, size_t len) {
        return umc_hash_update(h, data, len);
}

int umc_msg_verify_digest_final(struct umc_hash *h, uint64_t time_usec, uint32_t checkpoint,
                                uint64_t start, uint64_t end, uint8_t ret_digest[UMC_HASH_LEN]) {
        uint8_t suffix[28];
        int r;

        if (!h)
                return -EINVAL;
        if (start >= end) {
                umc_hash_done(h);
                return -EINVAL;
        }
        /* The same field order and widths as the VERIFY body. */
        umc_put_be64(suffix, time_usec);
        umc_put_be32(suffix + 8, checkpoint);
        umc_put_be64(suffix + 12, start);
        umc_put_be64(suffix + 20, end);
        r = umc_hash_update(h, suffix, sizeof(suffix));
        if (r < 0) {
                umc_hash_done(h);
                return r;
        }
        return umc_hash_final(h, ret_digest);
}

/* ---- TRANSPORT: hash_alg(1) key_id(2) image_len(8) hash(32) ---- */

static bool transport_valid(const struct umc_msg_transport *m) {
        return hash_alg_valid(m->hash_alg) && m->image_len >= 1;
}

int umc_msg_transport_encode(const struct umc_msg_transport *m, uint8_t *out, size_t out_size) {
        if (!m || !out || !transport_valid(m))
                return -EINVAL;
        if (out_size < UMC_MSG_TRANSPORT_LEN)
                return -ENOBUFS;
        out[0] = (uint8_t)m->hash_alg;
        umc_put_be16(out + 1, m->key_id);
        umc_put_be64(out + 3, m->image_len);
        memcpy(out + 11, m->hash, UMC_HASH_LEN);
        return UMC_MSG_TRANSPORT_LEN;
}

int umc_msg_transport_decode(const uint8_t *buf, size_t len, struct umc_msg_transport *ret) {
        struct umc_msg_transport m;

        if (!ret)
                return -EINVAL;
        if (len != UMC_MSG_TRANSPORT_LEN)
                return -EBADMSG;
        m = (struct umc_msg_transport){
                .hash_alg = buf[0],
                .key_id = umc_get_be16(buf + 1),
                .image_len = umc_get_be64(buf + 3),
        };
        memcpy(m.hash, buf + 11, UMC_HASH_LEN);
        if (!transport_valid(&m))
                return -EBADMSG;
        *ret = m;
        return 0;
}

/* ---- FEEDBACK: code(1) reason(2) checkpoint(4) offset(8) ---- */

static bool feedback_valid(const struct umc_msg_feedback *m) {
        switch ((unsigned)m->code) {
        case UMC_FEEDBACK_CONTINUE:
        case UMC_FEEDBACK_COMPLETE:
                return m->reason == UMC_REASON_OK;
        case UMC_FEEDBACK_STOP:
                return (unsigned)m->reason <= UINT16_MAX && m->reason != UMC_REASON_OK &&
                       umc_reason_is_known((uint16_t)m->reason);
        default:
                return false;
        }
}

int umc_msg_feedback_encode(const struct umc_msg_feedback *m, uint8_t *out, size_t out_size) {
        if (!m || !out || !feedback_valid(m))
                return -EINVAL;
        if (out_size < UMC_MSG_FEEDBACK_LEN)
                return -ENOBUFS;
        out[0] = (uint8_t)m->code;
        umc_put_be16(out + 1, (uint16_t)m->reason);
        umc_put_be32(out + 3, m->checkpoint);
        umc_put_be64(out + 7, m->offset);
        return UMC_MSG_FEEDBACK_LEN;
}

int umc_msg_feedback_decode(const uint8_t *buf, size_t len, struct umc_msg_feedback *ret) {
        struct umc_msg_feedback m;

        if (!ret)
                return -EINVAL;
        if (len != UMC_MSG_FEEDBACK_LEN)
                return -EBADMSG;
        m = (struct umc_msg_feedback){
                .code = buf[0],
                .reason = umc_get_be16(buf + 1),
                .checkpoint = umc_get_be32(buf + 3),
                .offset = umc_get_be64(buf + 7),
        };
        if (!feedback_valid(&m))
                return -EBADMSG;
        *ret = m;
        return 0;
}

/* ---- AUTH_CHALLENGE: nonce_m(32) ---- */

int umc_msg_auth_challenge_encode(const struct umc_msg_auth_challenge *m, uint8_t *out,
                                  size_t out_size) {
        if (!m || !out)
                return -EINVAL;
        if (out_size < UMC_MSG_AUTH_CHALLENGE_LEN)
                return -ENOBUFS;
        memcpy(out, m->nonce_m, UMC_MSG_NONCE_LEN);
        return UMC_MSG_AUTH_CHALLENGE_LEN;
}

int umc_msg_auth_challenge_decode(const uint8_t *buf, size_t len,
                                  struct umc_msg_auth_challenge *ret) {
        if (!ret)
                return -EINVAL;
        if (len != UMC_MSG_AUTH_CHALLENGE_LEN)
                return -EBADMSG;
        memcpy(ret->nonce_m, buf, UMC_MSG_NONCE_LEN);
        return 0;
}

/* ---- AUTH_RESPONSE: nonce_e(32) hw_len(1) hw_id mac(32) ---- */

int umc_msg_auth_response_encode(const struct umc_msg_auth_response *m, uint8_t *out,
                                 size_t out_size) {
        int n;

        if (!m || !out)
                return -EINVAL;
        n = str_valid(m->hw_id, 1, UMC_MSG_HW_ID_MAX);
        if (n < 0)
                return n;
        if (out_size < UMC_MSG_AUTH_RESPONSE_FIXED_LEN + (size_t)n)
                return -ENOBUFS;
        memcpy(out, m->nonce_e, UMC_MSG_NONCE_LEN);
        out[32] = (uint8_t)n;
        memcpy(out + 33, m->hw_id, (size_t)n);
        memcpy(out + 33 + n, m->mac, UMC_MSG_MAC_LEN);
        return UMC_MSG_AUTH_RESPONSE_FIXED_LEN + n;
}

int umc_msg_auth_response_decode(const uint8_t *buf, size_t len,
                                 struct umc_msg_auth_response *ret) {
        struct umc_msg_auth_response m = {};
        size_t n;

        if (!ret)
                return -EINVAL;
        if (len < UMC_MSG_AUTH_RESPONSE_FIXED_LEN)
                return -EBADMSG;
        n = buf[32];
        if (len - UMC_MSG_AUTH_RESPONSE_FIXED_LEN != n)
                return -EBADMSG;
        memcpy(m.nonce_e, buf, UMC_MSG_NONCE_LEN);
        if (str_decode(buf + 33, n, 1, UMC_MSG_HW_ID_MAX, m.hw_id) < 0)
                return -EBADMSG;
        memcpy(m.mac, buf + 33 + n, UMC_MSG_MAC_LEN);
        *ret = m;
        return 0;
}

/* ---- AUTH_CONFIRM: mac(32) ---- */

int umc_msg_auth_confirm_encode(const struct umc_msg_auth_confirm *m, uint8_t *out,
                                size_t out_size) {
        if (!m || !out)
                return -EINVAL;
        if (out_size < UMC_MSG_AUTH_CONFIRM_LEN)
                return -ENOBUFS;
        memcpy(out, m->mac, UMC_MSG_MAC_LEN);
        return UMC_MSG_AUTH_CONFIRM_LEN;
}

int umc_msg_auth_confirm_decode(const uint8_t *buf, size_t len, struct umc_msg_auth_confirm *ret) {
        if (!ret)
                return -EINVAL;
        if (len != UMC_MSG_AUTH_CONFIRM_LEN)
                return -EBADMSG;
        memcpy(ret->mac, buf, UMC_MSG_MAC_LEN);
        return 0;
}

/* ---- ALARM: reason(2) text_len(1) text ---- */

static bool alarm_reason_valid(unsigned reason) {
        return reason != UMC_REASON_OK && reason <= UINT16_MAX &&
               umc_reason_is_known((uint16_t)reason);
}

int umc_msg_alarm_encode(const struct umc_msg_alarm *m, uint8_t *out, size_t out_size) {
        int n;

        if (!m || !out || !alarm_reason_valid(m->reason))
                return -EINVAL;
        n = str_valid(m->text, 0, UMC_MSG_ALARM_TEXT_MAX);
        if (n < 0)
                return n;
        if (out_size < UMC_MSG_ALARM_FIXED_LEN + (size_t)n)
                return -ENOBUFS;
        umc_put_be16(out, (uint16_t)m->reason);
        out[2] = (uint8_t)n;
        memcpy(out + 3, m->text, (size_t)n);
        return UMC_MSG_ALARM_FIXED_LEN + n;
}

int umc_msg_alarm_decode(const uint8_t *buf, size_t len, struct umc_msg_alarm *ret) {
        struct umc_msg_alarm m = {};

        if (!ret)
                return -EINVAL;
        if (len < UMC_MSG_ALARM_FIXED_LEN || len - UMC_MSG_ALARM_FIXED_LEN != buf[2])
                return -EBADMSG;
        m.reason = umc_get_be16(buf);
        if (!alarm_reason_valid(m.reason))
                return -EBADMSG;
        if (str_decode(buf + 3, buf[2], 0, UMC_MSG_ALARM_TEXT_MAX, m.text) < 0)
                return -EBADMSG;
        *ret = m;
        return 0;
}

/* ---- STATUS_QUERY and STATUS ---- */

int umc_msg_status_query_encode(const struct umc_msg_status_query *m, uint8_t *out,
                                size_t out_size) {
        if (!m || !out || m->what != UMC_MSG_STATUS_QUERY_SLOTS)
                return -EINVAL;
        if (out_size < UMC_MSG_STATUS_QUERY_LEN)
                return -ENOBUFS;
        out[0] = m->what;
        return UMC_MSG_STATUS_QUERY_LEN;
}

int umc_msg_status_query_decode(const uint8_t *buf, size_t len, struct umc_msg_status_query *ret) {
        if (!ret)
                return -EINVAL;
        if (len != UMC_MSG_STATUS_QUERY_LEN || buf[0] != UMC_MSG_STATUS_QUERY_SLOTS)
                return -EBADMSG;
        ret->what = buf[0];
        return 0;
}

static bool slot_valid(char c) {
        return c == 'a' || c == 'b';
}

/* The rules of struct umc_msg_status on decoded or to-be-encoded fields. */
static bool status_valid(const struct umc_msg_status *m) {
        bool partial = m->flags & UMC_MSG_STATUS_PARTIAL;
        const char *prev_version = m->previous == 'a' ? m->version_a : m->version_b;

        if (!slot_valid(m->active) || (m->flags & ~_UMC_MSG_STATUS_FLAGS))
                return false;
        if (m->previous != 0 &&
            (!slot_valid(m->previous) || m->previous == m->active || !prev_version[0]))
                return false;
        if (partial)
                return m->partial_version[0] && m->partial_len >= 1 &&
                       m->partial_offset <= m->partial_len;
        return !m->partial_version[0] && m->partial_len == 0 && m->partial_offset == 0 &&
               m->partial_age_sec == 0;
}

int umc_msg_status_encode(const struct umc_msg_status *m, uint8_t *out, size_t out_size) {
        int na, nb, np;

        if (!m || !out)
                return -EINVAL;
        na = str_valid(m->version_a, 0, UMC_MSG_VERSION_MAX);
        nb = str_valid(m->version_b, 0, UMC_MSG_VERSION_MAX);
        np = str_valid(m->partial_version, 0, UMC_MSG_VERSION_MAX);
        if (na < 0 || nb < 0 || np < 0 || !status_valid(m))
                return -EINVAL;
        if (out_size < UMC_MSG_STATUS_FIXED_LEN + (size_t)(na + nb + np))
                return -ENOBUFS;
        out[0] = (uint8_t)m->active;
        out[1] = (uint8_t)m->previous;
        out[2] = m->flags;
        out[3] = (uint8_t)na;
        out[4] = (uint8_t)nb;
        out[5] = (uint8_t)np;
        umc_put_be64(out + 6, m->partial_len);
        umc_put_be64(out + 14, m->partial_offset);
        umc_put_be32(out + 22, m->partial_age_sec);
        memcpy(out + 26, m->version_a, (size_t)na);
        memcpy(out + 26 + na, m->version_b, (size_t)nb);
        memcpy(out + 26 + na + nb, m->partial_version, (size_t)np);
        return UMC_MSG_STATUS_FIXED_LEN + na + nb + np;
}

int umc_msg_status_decode(const uint8_t *buf, size_t len, struct umc_msg_status *ret) {
        struct umc_msg_status m = {};
        size_t na, nb, np;

        if (!ret)
                return -EINVAL;
        if (len < UMC_MSG_STATUS_FIXED_LEN)
                return -EBADMSG;
        na = buf[3];
        nb = buf[4];
        np = buf[5];
        /* Each at most 64, so the sum cannot overflow; it must be exactly what follows. */
        if (na > UMC_MSG_VERSION_MAX || nb > UMC_MSG_VERSION_MAX || np > UMC_MSG_VERSION_MAX ||
            len - UMC_MSG_STATUS_FIXED_LEN != na + nb + np)
                return -EBADMSG;
        m.active = (char)buf[0];
        m.previous = (char)buf[1];
        m.flags = buf[2];
        m.partial_len = umc_get_be64(buf + 6);
        m.partial_offset = umc_get_be64(buf + 14);
        m.partial_age_sec = umc_get_be32(buf + 22);
        if (str_decode(buf + 26, na, 0, UMC_MSG_VERSION_MAX, m.version_a) < 0 ||
            str_decode(buf + 26 + na, nb, 0, UMC_MSG_VERSION_MAX, m.version_b) < 0 ||
            str_decode(buf + 26 + na + nb, np, 0, UMC_MSG_VERSION_MAX, m.partial_version) < 0 ||
            !status_valid(&m))
                return -EBADMSG;
        *ret = m;
        return 0;
}

int umc_msg_hw_id_len(const char *hw_id) {
        return hw_id ? str_valid(hw_id, 1, UMC_MSG_HW_ID_MAX) : -EINVAL;
}
