/* SPDX-License-Identifier: MIT */
#include "umc/auth.h"

#include <openssl/rand.h>

#include "umc/cipher.h"
#include "umc/hash.h"
#include "umc/util.h"

/* ---- AUTH MACs and session salt ---- */

#define LABEL_PART(s) { .base = (s), .len = sizeof(s) - 1 }

static int hmac_into(const uint8_t key[UMC_MASTER_KEY_LEN], const struct umc_iovec *parts,
                     size_t n, uint8_t ret[UMC_HASH_LEN]) {
        uint8_t out[UMC_HASH_LEN];
        int r;

        r = umc_hmac(UMC_HASH_SHA256, key, UMC_MASTER_KEY_LEN, parts, n, out);
        if (r >= 0) {
                memcpy(ret, out, sizeof(out));
                r = 0;
        }
        umc_memzero(out, sizeof(out));
        return r;
}

int umc_auth_response_mac(const uint8_t key[UMC_MASTER_KEY_LEN],
                          const uint8_t header[UMC_FRAME_HEADER_LEN],
                          const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                          const uint8_t nonce_e[UMC_MSG_NONCE_LEN], const char *hw_id,
                          uint8_t ret_mac[UMC_MSG_MAC_LEN]) {
        int n;

        if (!key || !header || !nonce_m || !nonce_e || !hw_id || !ret_mac)
                return -EINVAL;
        n = umc_msg_hw_id_len(hw_id);
        if (n < 0)
                return n;
        /* hw_id needs no length prefix: the header's payload length fixes it. */
        const struct umc_iovec parts[] = {
                LABEL_PART(UMC_AUTH_LABEL_RESPONSE),
                { header, UMC_FRAME_HEADER_LEN },
                { nonce_m, UMC_MSG_NONCE_LEN },
                { nonce_e, UMC_MSG_NONCE_LEN },
                { hw_id, (size_t)n },
        };
        return hmac_into(key, parts, UMC_ELEMENTSOF(parts), ret_mac);
}

int umc_auth_confirm_mac(const uint8_t key[UMC_MASTER_KEY_LEN],
                         const uint8_t header[UMC_FRAME_HEADER_LEN],
                         const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                         const uint8_t nonce_e[UMC_MSG_NONCE_LEN],
                         uint8_t ret_mac[UMC_MSG_MAC_LEN]) {
        if (!key || !header || !nonce_m || !nonce_e || !ret_mac)
                return -EINVAL;
        const struct umc_iovec parts[] = {
                LABEL_PART(UMC_AUTH_LABEL_CONFIRM),
                { header, UMC_FRAME_HEADER_LEN },
                { nonce_m, UMC_MSG_NONCE_LEN },
                { nonce_e, UMC_MSG_NONCE_LEN },
        };
        return hmac_into(key, parts, UMC_ELEMENTSOF(parts), ret_mac);
}

int umc_auth_session_salt(const uint8_t key[UMC_MASTER_KEY_LEN],
                         const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                         const uint8_t nonce_e[UMC_MSG_NONCE_LEN],
                         uint8_t ret_salt[UMC_SALT_LEN]) {
        if (!key || !nonce_m || !nonce_e || !ret_salt)
                return -EINVAL;
        const struct umc_iovec parts[] = {
                LABEL_PART(UMC_AUTH_LABEL_SALT),
                { nonce_m, UMC_MSG_NONCE_LEN },
                { nonce_e, UMC_MSG_NONCE_LEN },
        };
        return hmac_into(key, parts, UMC_ELEMENTSOF(parts), ret_salt);
}

int umc_auth_response_verify(const uint8_t key[UMC_MASTER_KEY_LEN],
                             const uint8_t header[UMC_FRAME_HEADER_LEN],
                             const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                             const struct umc_msg_auth_response *m) {
        uint8_t mac[UMC_MSG_MAC_LEN];
        int r;

        if (!m)
                return -EINVAL;
        r = umc_auth_response_mac(key, header, nonce_m, m->nonce_e, m->hw_id, mac);
        if (r < 0)
                return r;
        return umc_memeq_ct(mac, m->mac, UMC_MSG_MAC_LEN) ? 0 : -EBADMSG;
}

int umc_auth_confirm_verify(const uint8_t key[UMC_MASTER_KEY_LEN],
                            const uint8_t header[UMC_FRAME_HEADER_LEN],
                            const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                            const uint8_t nonce_e[UMC_MSG_NONCE_LEN],
                            const struct umc_msg_auth_confirm *m) {
        uint8_t mac[UMC_MSG_MAC_LEN];
        int r;

        if (!m)
                return -EINVAL;
        r = umc_auth_confirm_mac(key, header, nonce_m, nonce_e, mac);
        if (r < 0)
                return r;
        return umc_memeq_ct(mac, m->mac, UMC_MSG_MAC_LEN) ? 0 : -EBADMSG;
}

/* ---- Whole AUTH frames ---- */

/* Write the clear-text header for an AUTH body of body_len bytes. */
static int auth_header(const struct umc_frame_header *h, enum umc_frame_type type,
                       size_t body_len, uint8_t *out, size_t out_size) {
        struct umc_frame_header fh;

        if (!h || !out)
                return -EINVAL;
        if (out_size < UMC_FRAME_HEADER_LEN + body_len)
                return -ENOBUFS;
        fh = *h;
        fh.type = (uint8_t)type;
        fh.suite = UMC_SUITE_NONE;
        fh.inner_suite = UMC_SUITE_NONE;
        fh.payload_len = (uint32_t)body_len;
        umc_frame_header_encode(&fh, out);
        return 0;
}

static int auth_frame_fail(uint8_t *out, size_t out_size, size_t frame_len, int r) {
        if (out)
                umc_memzero(out, out_size < frame_len ? out_size : frame_len);
        return r;
}

int umc_auth_challenge_frame(const struct umc_frame_header *h,
                             const uint8_t nonce_m[UMC_MSG_NONCE_LEN], uint8_t *out,
                             size_t out_size) {
        struct umc_msg_auth_challenge m;
        int r;

        if (!nonce_m)
                return -EINVAL;
        r = auth_header(h, UMC_FRAME_AUTH_CHALLENGE, UMC_MSG_AUTH_CHALLENGE_LEN, out, out_size);
        if (r < 0)
                return r;
        memcpy(m.nonce_m, nonce_m, UMC_MSG_NONCE_LEN);
        r = umc_msg_auth_challenge_encode(&m, out + UMC_FRAME_HEADER_LEN,
                                          out_size - UMC_FRAME_HEADER_LEN);
        if (r < 0)
                return auth_frame_fail(out, out_size, UMC_FRAME_HEADER_LEN, r);
        return UMC_FRAME_HEADER_LEN + r;
}

int umc_auth_response_frame(const uint8_t key[UMC_MASTER_KEY_LEN],
                            const struct umc_frame_header *h,
                            const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                            const uint8_t nonce_e[UMC_MSG_NONCE_LEN], const char *hw_id,
                            uint8_t *out, size_t out_size) {
        struct umc_msg_auth_response m = {};
        size_t body_len;
        int n, r;

        if (!key || !nonce_m || !nonce_e || !hw_id)
                return -EINVAL;
        n = umc_msg_hw_id_len(hw_id);
        if (n < 0)
                return n;
        body_len = UMC_MSG_AUTH_RESPONSE_FIXED_LEN + (size_t)n;
        r = auth_header(h, UMC_FRAME_AUTH_RESPONSE, body_len, out, out_size);
        if (r < 0)
                return r;

        memcpy(m.nonce_e, nonce_e, UMC_MSG_NONCE_LEN);
        memcpy(m.hw_id, hw_id, (size_t)n);
        r = umc_auth_response_mac(key, out, nonce_m, nonce_e, hw_id, m.mac);
        if (r < 0)
                return auth_frame_fail(out, out_size, UMC_FRAME_HEADER_LEN, r);
        r = umc_msg_auth_response_encode(&m, out + UMC_FRAME_HEADER_LEN,
                                         out_size - UMC_FRAME_HEADER_LEN);
        if (r < 0)
                return auth_frame_fail(out, out_size, UMC_FRAME_HEADER_LEN + body_len, r);
        return UMC_FRAME_HEADER_LEN + r;
}

int umc_auth_confirm_frame(const uint8_t key[UMC_MASTER_KEY_LEN],
                           const struct umc_frame_header *h,
                           const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                           const uint8_t nonce_e[UMC_MSG_NONCE_LEN], uint8_t *out,
                           size_t out_size) {
        struct umc_msg_auth_confirm m;
        int r;

        if (!key || !nonce_m || !nonce_e)
                return -EINVAL;
        r = auth_header(h, UMC_FRAME_AUTH_CONFIRM, UMC_MSG_AUTH_CONFIRM_LEN, out, out_size);
        if (r < 0)
                return r;
        r = umc_auth_confirm_mac(key, out, nonce_m, nonce_e, m.mac);
        if (r < 0)
                return auth_frame_fail(out, out_size, UMC_FRAME_HEADER_LEN, r);
        r = umc_msg_auth_confirm_encode(&m, out + UMC_FRAME_HEADER_LEN,
                                        out_size - UMC_FRAME_HEADER_LEN);
        if (r < 0)
                return auth_frame_fail(out, out_size, UMC_FRAME_HEADER_LEN, r);
        return UMC_FRAME_HEADER_LEN + r;
}

/* ---- The exchange ---- */

enum {
        AUTH_IDLE = 0,
        AUTH_CHALLENGED,  /* master: challenge sent; ECU: response sent */
        AUTH_DONE,
};

static int refuse(enum umc_reason why, enum umc_reason *ret_reason) {
        *ret_reason = why;
        return -EBADMSG;
}

static int random_bytes(void *p, size_t n) {
        return RAND_bytes(p, (int)n) == 1 ? 0 : -EIO;
}

/* Parse an AUTH frame of the expected type; its body is the payload. */
static int parse_auth(const uint8_t *frame, size_t len, enum umc_frame_type type,
                      struct umc_frame_header *h, const uint8_t **body,
                      enum umc_reason *ret_reason) {
        int r = umc_frame_parse(frame, len, UMC_FRAME_MAX_PAYLOAD, h, body, ret_reason);
        if (r < 0)
                return r;
        if (h->type != type)
                return refuse(UMC_REASON_OUT_OF_ORDER, ret_reason);
        return 0;
}

int umc_auth_master_start(struct umc_auth_master *a, const uint8_t key[UMC_MASTER_KEY_LEN],
                          uint32_t ecu_id, const char *hw_id, uint8_t *out, size_t out_size,
                          size_t *ret_len) {
        struct umc_frame_header h = { .ecu_id = ecu_id };
        int r;

        umc_auth_master_clear(a);
        if (!hw_id || strlen(hw_id) == 0 || strlen(hw_id) > UMC_MSG_HW_ID_MAX)
                return -EINVAL;
        memcpy(a->key, key, sizeof(a->key));
        strcpy(a->hw_id, hw_id);
        a->ecu_id = ecu_id;
        if (random_bytes(&a->session_id, sizeof(a->session_id)) < 0 ||
            random_bytes(a->nonce_m, sizeof(a->nonce_m)) < 0)
                return -EIO;
        h.session_id = a->session_id;
        r = umc_auth_challenge_frame(&h, a->nonce_m, out, out_size);
        if (r < 0)
                return r;
        *ret_len = (size_t)r;
        a->state = AUTH_CHALLENGED;
        return 0;
}

int umc_auth_master_response(struct umc_auth_master *a, const uint8_t *frame, size_t len,
                             uint8_t *out, size_t out_size, size_t *ret_len,
                             uint8_t ret_salt[UMC_SALT_LEN], enum umc_reason *ret_reason) {
        struct umc_msg_auth_response resp;
        struct umc_frame_header h;
        const uint8_t *body;
        size_t hw_len;
        int r;

        if (a->state != AUTH_CHALLENGED)
                return -EPROTO;
        r = parse_auth(frame, len, UMC_FRAME_AUTH_RESPONSE, &h, &body, ret_reason);
        if (r < 0)
                return r;
        if (h.session_id != a->session_id)
                return refuse(UMC_REASON_WRONG_SESSION, ret_reason);
        if (h.ecu_id != a->ecu_id)
                return refuse(UMC_REASON_ECU_UNKNOWN, ret_reason);
        if (umc_msg_auth_response_decode(body, h.payload_len, &resp) < 0)
                return refuse(UMC_REASON_BODY_MALFORMED, ret_reason);
        /* Key first: an impostor learns nothing about the expected hardware ID. */
        r = umc_auth_response_verify(a->key, frame, a->nonce_m, &resp);
        if (r == -EBADMSG)
                return refuse(UMC_REASON_ECU_AUTH_FAILED, ret_reason);
        if (r < 0)
                return r;
        hw_len = strlen(a->hw_id);
        if (strlen(resp.hw_id) != hw_len || !umc_memeq_ct(resp.hw_id, a->hw_id, hw_len)) {
                /* Shown to the operator: the key verified, so it is the ECU's own word. */
                memcpy(a->peer_hw_id, resp.hw_id, sizeof(a->peer_hw_id));
                return refuse(UMC_REASON_ECU_HW_MISMATCH, ret_reason);
        }

        memcpy(a->nonce_e, resp.nonce_e, sizeof(a->nonce_e));
        h = (struct umc_frame_header){ .session_id = a->session_id, .ecu_id = a->ecu_id, .seq = 1 };
        r = umc_auth_confirm_frame(a->key, &h, a->nonce_m, a->nonce_e, out, out_size);
        if (r < 0)
                return r;
        *ret_len = (size_t)r;
        r = umc_auth_session_salt(a->key, a->nonce_m, a->nonce_e, ret_salt);
        if (r < 0)
                return r;
        a->state = AUTH_DONE;
        *ret_reason = UMC_REASON_OK;
        return 0;
}

void umc_auth_master_clear(struct umc_auth_master *a) {
        umc_memzero(a, sizeof(*a));
}

void umc_auth_ecu_init(struct umc_auth_ecu *a, umc_auth_lookup_fn lookup, void *userdata) {
        umc_memzero(a, sizeof(*a));
        a->lookup = lookup;
        a->userdata = userdata;
}

int umc_auth_ecu_challenge(struct umc_auth_ecu *a, const uint8_t *frame, size_t len,
                           uint8_t *out, size_t out_size, size_t *ret_len,
                           enum umc_reason *ret_reason) {
        struct umc_msg_auth_challenge ch;
        struct umc_frame_header h;
        char hw_id[UMC_MSG_HW_ID_MAX + 1];
        const uint8_t *body;
        int r;

        if (a->state != AUTH_IDLE)
                return -EPROTO;
        r = parse_auth(frame, len, UMC_FRAME_AUTH_CHALLENGE, &h, &body, ret_reason);
        if (r < 0)
                return r;
        if (umc_msg_auth_challenge_decode(body, h.payload_len, &ch) < 0)
                return refuse(UMC_REASON_BODY_MALFORMED, ret_reason);
        r = a->lookup(a->userdata, h.ecu_id, a->key, hw_id);
        if (r == -ENOENT)
                return refuse(UMC_REASON_ECU_UNKNOWN, ret_reason);
        if (r < 0)
                return r;
        a->ecu_id = h.ecu_id;
        a->session_id = h.session_id;
        memcpy(a->nonce_m, ch.nonce_m, sizeof(a->nonce_m));
        if (random_bytes(a->nonce_e, sizeof(a->nonce_e)) < 0)
                return -EIO;

        h = (struct umc_frame_header){ .session_id = a->session_id, .ecu_id = a->ecu_id };
        r = umc_auth_response_frame(a->key, &h, a->nonce_m, a->nonce_e, hw_id, out,
                                    out_size);
        umc_memzero(hw_id, sizeof(hw_id));
        if (r < 0)
                return r;
        *ret_len = (size_t)r;
        a->state = AUTH_CHALLENGED;
        *ret_reason = UMC_REASON_OK;
        return 0;
}

int umc_auth_ecu_confirm(struct umc_auth_ecu *a, const uint8_t *frame, size_t len,
                         uint8_t ret_salt[UMC_SALT_LEN], enum umc_reason *ret_reason) {
        struct umc_msg_auth_confirm c;
        struct umc_frame_header h;
        const uint8_t *body;
        int r;

        if (a->state != AUTH_CHALLENGED)
                return -EPROTO;
        r = parse_auth(frame, len, UMC_FRAME_AUTH_CONFIRM, &h, &body, ret_reason);
        if (r < 0)
                return r;
        if (h.session_id != a->session_id || h.ecu_id != a->ecu_id)
                return refuse(UMC_REASON_WRONG_SESSION, ret_reason);
        if (umc_msg_auth_confirm_decode(body, h.payload_len, &c) < 0)
                return refuse(UMC_REASON_BODY_MALFORMED, ret_reason);
        r = umc_auth_confirm_verify(a->key, frame, a->nonce_m, a->nonce_e, &c);
        if (r == -EBADMSG)
                return refuse(UMC_REASON_ECU_AUTH_FAILED, ret_reason);
        if (r < 0)
                return r;
        r = umc_auth_session_salt(a->key, a->nonce_m, a->nonce_e, ret_salt);
        if (r < 0)
                return r;
        a->state = AUTH_DONE;
        *ret_reason = UMC_REASON_OK;
        return 0;
}

void umc_auth_ecu_clear(struct umc_auth_ecu *a) {
        umc_auth_lookup_fn lookup = a->lookup;
        void *userdata = a->userdata;

        umc_memzero(a, sizeof(*a));
        a->lookup = lookup;
        a->userdata = userdata;
}
