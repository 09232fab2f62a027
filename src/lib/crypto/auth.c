/* SPDX-License-Identifier: MIT */
#include "umc/auth.h"

#include <openssl/rand.h>

#include "umc/util.h"

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
        r = umc_msg_auth_challenge_frame(&h, a->nonce_m, out, out_size);
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
        r = umc_msg_auth_response_verify(a->key, frame, a->nonce_m, &resp);
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
        r = umc_msg_auth_confirm_frame(a->key, &h, a->nonce_m, a->nonce_e, out, out_size);
        if (r < 0)
                return r;
        *ret_len = (size_t)r;
        r = umc_msg_session_salt(a->key, a->nonce_m, a->nonce_e, ret_salt);
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
        r = umc_msg_auth_response_frame(a->key, &h, a->nonce_m, a->nonce_e, hw_id, out,
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
        r = umc_msg_auth_confirm_verify(a->key, frame, a->nonce_m, a->nonce_e, &c);
        if (r == -EBADMSG)
                return refuse(UMC_REASON_ECU_AUTH_FAILED, ret_reason);
        if (r < 0)
                return r;
        r = umc_msg_session_salt(a->key, a->nonce_m, a->nonce_e, ret_salt);
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
