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
 * Both sides then derive the session salt (msg.h) and build their
 * umc_session from it. MACs are compared in constant time; key copies and
 * nonces are cleansed by umc_auth_*_clear().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/msg.h"
#include "umc/reason.h"

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
