/* SPDX-License-Identifier: MIT */
/*
 * ECU authentication: the three AUTH frames that open every session.
 *
 *   master -> ECU  AUTH_CHALLENGE  nonce_m (fresh session ID in the header)
 *   ECU -> master  AUTH_RESPONSE   nonce_e, hardware ID, MAC(K, ...)
 *   master -> ECU  AUTH_CONFIRM    MAC(K, ...)
 *
 * K is the ECU's provisioned master key: membership in the ECU list is not
 * enough, the peer must prove it holds K, and the master proves it too.
 * Both sides then derive the session salt (umc_auth_session_salt()) and
 * build their umc_session from it. This module also computes the MACs and
 * the salt and builds the whole AUTH frames; msg.h encodes and decodes
 * their bodies. MACs are compared in constant time; key copies and nonces
 * are cleansed by umc_auth_*_clear().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/kdf.h"
#include "umc/msg.h"
#include "umc/reason.h"

/* MAC and salt labels (ASCII, no terminator on the wire). */
#define UMC_AUTH_LABEL_RESPONSE "umc1 auth-response"
#define UMC_AUTH_LABEL_CONFIRM "umc1 auth-confirm"
#define UMC_AUTH_LABEL_SALT "umc1 salt"

/*
 * AUTH MACs, HMAC-SHA256 keyed with the ECU's 32-byte master key, over
 * the label, the 28 encoded header bytes of the frame that carries the MAC
 * (payload length included), and the nonces:
 *   response: "umc1 auth-response" || header || nonce_m || nonce_e || hw_id
 *   confirm:  "umc1 auth-confirm"  || header || nonce_m || nonce_e
 * hw_id is NUL-terminated, 1..64 printable bytes (-EINVAL otherwise).
 * ret_mac is written only on success; errors from umc_hmac().
 */
int umc_auth_response_mac(const uint8_t key[UMC_MASTER_KEY_LEN],
                          const uint8_t header[UMC_FRAME_HEADER_LEN],
                          const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                          const uint8_t nonce_e[UMC_MSG_NONCE_LEN], const char *hw_id,
                          uint8_t ret_mac[UMC_MSG_MAC_LEN]);
int umc_auth_confirm_mac(const uint8_t key[UMC_MASTER_KEY_LEN],
                         const uint8_t header[UMC_FRAME_HEADER_LEN],
                         const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                         const uint8_t nonce_e[UMC_MSG_NONCE_LEN],
                         uint8_t ret_mac[UMC_MSG_MAC_LEN]);

/*
 * Check a received AUTH_RESPONSE / AUTH_CONFIRM: header is the frame's first
 * 28 bytes as received, m its decoded body. Constant-time comparison.
 * Returns 0 when the MAC is right, -EBADMSG when not, other errors from
 * the MAC computation.
 */
int umc_auth_response_verify(const uint8_t key[UMC_MASTER_KEY_LEN],
                             const uint8_t header[UMC_FRAME_HEADER_LEN],
                             const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                             const struct umc_msg_auth_response *m);
int umc_auth_confirm_verify(const uint8_t key[UMC_MASTER_KEY_LEN],
                            const uint8_t header[UMC_FRAME_HEADER_LEN],
                            const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                            const uint8_t nonce_e[UMC_MSG_NONCE_LEN],
                            const struct umc_msg_auth_confirm *m);

/*
 * Session salt both sides derive after the exchange, the HKDF salt of every
 * frame key (kdf.h): HMAC-SHA256(K, "umc1 salt" || nonce_m || nonce_e).
 * The caller cleanses ret_salt. Errors from umc_hmac().
 */
int umc_auth_session_salt(const uint8_t key[UMC_MASTER_KEY_LEN],
                         const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                         const uint8_t nonce_e[UMC_MSG_NONCE_LEN],
                         uint8_t ret_salt[UMC_SALT_LEN]);

/*
 * Whole AUTH frames: header fields (key ID, session ID, sequence, ECU ID)
 * from h; type, suites (NONE) and payload length are set here, so the MAC
 * covers exactly the header that is sent. Returns the frame length
 * (28 + body), -ENOBUFS, -EINVAL for a bad hw_id, or a MAC error; out is
 * cleared on failure.
 */
int umc_auth_challenge_frame(const struct umc_frame_header *h,
                             const uint8_t nonce_m[UMC_MSG_NONCE_LEN], uint8_t *out,
                             size_t out_size);
int umc_auth_response_frame(const uint8_t key[UMC_MASTER_KEY_LEN],
                            const struct umc_frame_header *h,
                            const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                            const uint8_t nonce_e[UMC_MSG_NONCE_LEN], const char *hw_id,
                            uint8_t *out, size_t out_size);
int umc_auth_confirm_frame(const uint8_t key[UMC_MASTER_KEY_LEN],
                           const struct umc_frame_header *h,
                           const uint8_t nonce_m[UMC_MSG_NONCE_LEN],
                           const uint8_t nonce_e[UMC_MSG_NONCE_LEN], uint8_t *out,
                           size_t out_size);

struct umc_auth_master {
        uint8_t key[UMC_MASTER_KEY_LEN];
        uint32_t ecu_id;
        char hw_id[UMC_MSG_HW_ID_MAX + 1];   /* expected hardware identity */
        /* What an ECU that proved the key reported instead, for the alarm; "" otherwise. */
        char peer_hw_id[UMC_MSG_HW_ID_MAX + 1];
        uint64_t session_id;
        uint8_t nonce_m[UMC_MSG_NONCE_LEN];
        uint8_t nonce_e[UMC_MSG_NONCE_LEN];
        int state;
};

/*
 * Start: pick a random session ID and nonce, write AUTH_CHALLENGE to out.
 * key and hw_id are copied. -EINVAL for a bad hw_id, -ENOBUFS, -EIO when
 * the random generator fails.
 */
int umc_auth_master_start(struct umc_auth_master *a, const uint8_t key[UMC_MASTER_KEY_LEN],
                          uint32_t ecu_id, const char *hw_id, uint8_t *out, size_t out_size,
                          size_t *ret_len);

/*
 * Check the AUTH_RESPONSE (right session and ECU ID, MAC under K, hardware
 * ID as configured) and write AUTH_CONFIRM to out and the salt to ret_salt.
 * -EBADMSG with *ret_reason: a frame parse reason, WRONG_SESSION,
 * ECU_UNKNOWN (another ECU ID answered), ECU_AUTH_FAILED (MAC),
 * ECU_HW_MISMATCH, BODY_MALFORMED. -EPROTO when called out of turn.
 */
int umc_auth_master_response(struct umc_auth_master *a, const uint8_t *frame, size_t len,
                             uint8_t *out, size_t out_size, size_t *ret_len,
                             uint8_t ret_salt[UMC_SALT_LEN], enum umc_reason *ret_reason);

void umc_auth_master_clear(struct umc_auth_master *a);

/* How the ECU side finds its identity for the ECU ID a challenge names. */
typedef int (*umc_auth_lookup_fn)(void *userdata, uint32_t ecu_id,
                                  uint8_t ret_key[UMC_MASTER_KEY_LEN],
                                  char ret_hw_id[UMC_MSG_HW_ID_MAX + 1]);

struct umc_auth_ecu {
        umc_auth_lookup_fn lookup;
        void *userdata;
        uint8_t key[UMC_MASTER_KEY_LEN];
        uint32_t ecu_id;
        uint64_t session_id;
        uint8_t nonce_m[UMC_MSG_NONCE_LEN];
        uint8_t nonce_e[UMC_MSG_NONCE_LEN];
        int state;
};

void umc_auth_ecu_init(struct umc_auth_ecu *a, umc_auth_lookup_fn lookup, void *userdata);

/*
 * Answer an AUTH_CHALLENGE with AUTH_RESPONSE. -EBADMSG with ECU_UNKNOWN
 * when lookup does not know the ECU ID (lookup returns -ENOENT), or a
 * frame/body reason. -EPROTO out of turn.
 */
int umc_auth_ecu_challenge(struct umc_auth_ecu *a, const uint8_t *frame, size_t len,
                           uint8_t *out, size_t out_size, size_t *ret_len,
                           enum umc_reason *ret_reason);

/*
 * Check AUTH_CONFIRM: the master holds K too. Then ret_salt, and the
 * session ID / ECU ID / key for the session are in *a.
 * -EBADMSG with ECU_AUTH_FAILED, WRONG_SESSION or a frame/body reason.
 */
int umc_auth_ecu_confirm(struct umc_auth_ecu *a, const uint8_t *frame, size_t len,
                         uint8_t ret_salt[UMC_SALT_LEN], enum umc_reason *ret_reason);

void umc_auth_ecu_clear(struct umc_auth_ecu *a);
