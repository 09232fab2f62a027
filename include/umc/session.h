/* SPDX-License-Identifier: MIT */
/*
 * Secure session: seals and opens frames for one authenticated peer.
 *
 * A session knows the peer's master key and the salt from the AUTH
 * exchange, derives one key per (key ID, suite, direction, layer) with
 * HKDF (kdf.h), and numbers the frames it sends per key ID from 0. The
 * sender moves to a new key ID whenever the rotation policy says so, and
 * must move before the sequence space of a key runs out (umc_session_seal
 * answers -ERANGE then), so a (key, nonce) pair is never used twice.
 *
 * The receiver looks each frame's key up by key ID: IDs it has seen (the
 * last UMC_SESSION_RX_KEYS of them), or a new one at most
 * UMC_SESSION_KEY_ID_AHEAD ahead of the newest; the suite in the header
 * must match the one first seen for that ID and be allowed. A per-key-ID
 * replay window rejects repeats. A key is cached and the window moved only
 * after the frame authenticated, so forged frames change nothing.
 *
 * The session owns all key material and cleanses it in umc_session_free().
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "umc/cipher.h"
#include "umc/frame.h"
#include "umc/kdf.h"
#include "umc/reason.h"

#define UMC_SESSION_RX_KEYS 4
#define UMC_SESSION_KEY_ID_AHEAD 8

struct umc_session_params {
        uint8_t master_key[UMC_MASTER_KEY_LEN];
        uint8_t salt[UMC_SALT_LEN];
        uint64_t session_id;
        uint32_t ecu_id;
        enum umc_direction tx_dir;    /* direction of what we seal; we open the other */
        uint32_t allowed_suites;      /* bit (1u << suite ID) for each suite we accept */
        enum umc_suite_id inner_suite; /* layered mode's first layer; NONE = single layer */
        unsigned replay_window;       /* 1..UMC_REPLAY_WINDOW_MAX */
        size_t max_payload;           /* channel ceiling, <= UMC_FRAME_MAX_PAYLOAD */
        uint32_t seq_limit;           /* last sequence number a key may use; 0 = UINT32_MAX */
};

struct umc_session;

/* Copies params (the caller cleanses its copy). -EINVAL on bad params, -ENOMEM. */
int umc_session_new(const struct umc_session_params *params, struct umc_session **ret);

/* Cleanses and frees; accepts NULL. */
void umc_session_free(struct umc_session *s);

/*
 * Switch what we seal to (key_id, suite), sequence restarting at 0.
 * key_id must be above every key ID this session sealed with before
 * (-EINVAL otherwise: a key is never reused), suite must be allowed.
 */
int umc_session_set_tx_key(struct umc_session *s, uint16_t key_id, enum umc_suite_id suite);

/*
 * Build a frame of type (not AUTH_*) around body into out. Returns 0 with
 * *ret_len = 28 + payload length; -ENOKEY before umc_session_set_tx_key,
 * -ERANGE when the current key's sequence space is used up (rotate first),
 * -EMSGSIZE when the sealed payload would exceed max_payload, -ENOBUFS when
 * out_size is too small, -EIO on a crypto failure.
 */
int umc_session_seal(struct umc_session *s, enum umc_frame_type type, const uint8_t *body,
                     size_t body_len, uint8_t *out, size_t out_size, size_t *ret_len);

/*
 * Check, authenticate and decrypt one whole frame. The body is written to
 * out (out_size >= the frame's payload length), *ret_body_len set. On
 * -EBADMSG *ret_reason names the defect (frame parse reasons, WRONG_SESSION,
 * WRONG_ECU, SUITE_NOT_ALLOWED, UNKNOWN_KEY_ID, KEY_ID_SUITE_MISMATCH,
 * REPLAYED, SEQ_TOO_OLD, TAG_MISMATCH); out then holds no plaintext.
 * -ENOBUFS when out is too small.
 */
int umc_session_open(struct umc_session *s, const uint8_t *frame, size_t len,
                     struct umc_frame_header *ret_hdr, uint8_t *out, size_t out_size,
                     size_t *ret_body_len, enum umc_reason *ret_reason);

/* Bytes a body of body_len grows by when sealed (header + tags) with suite. */
size_t umc_session_overhead(const struct umc_session *s, enum umc_suite_id suite);

uint16_t umc_session_tx_key_id(const struct umc_session *s);
enum umc_suite_id umc_session_tx_suite(const struct umc_session *s);
