/* SPDX-License-Identifier: MIT */
#include "umc/session.h"

#include "umc/replay.h"
#include "umc/util.h"

/* Keys for one key ID in one direction: outer layer, and inner in layered mode. */
struct keyset {
        uint16_t key_id;
        enum umc_suite_id suite;
        struct umc_key outer, inner;
        uint8_t outer_iv[UMC_NONCE_LEN], inner_iv[UMC_NONCE_LEN];
};

struct rx_slot {
        bool used;
        struct keyset ks;
        struct umc_replay window;
};

struct umc_session {
        struct umc_session_params p;
        bool have_tx;
        struct keyset tx;
        uint32_t tx_seq;          /* next sequence number to seal with */
        bool tx_exhausted;
        struct rx_slot rx[UMC_SESSION_RX_KEYS];
};

static void keyset_clear(struct keyset *ks) {
        umc_key_clear(&ks->outer);
        umc_key_clear(&ks->inner);
        umc_memzero(ks, sizeof(*ks));
}

static bool suite_allowed(const struct umc_session *s, unsigned suite) {
        return suite > UMC_SUITE_NONE && suite < _UMC_SUITE_MAX &&
               (s->p.allowed_suites & (UINT32_C(1) << suite));
}

static size_t tag_len(enum umc_suite_id id) {
        const struct umc_suite *suite = umc_suite_by_id(id);
        return suite ? suite->tag_len : 0;
}

static int keyset_derive(const struct umc_session *s, uint16_t key_id, enum umc_suite_id suite,
                         enum umc_direction dir, struct keyset *ret) {
        struct keyset ks = { .key_id = key_id, .suite = suite };
        int r;

        r = umc_kdf_frame_key(s->p.master_key, s->p.salt, s->p.session_id, key_id, suite, dir,
                              UMC_LAYER_OUTER, &ks.outer, ks.outer_iv);
        if (r < 0)
                goto fail;
        if (s->p.inner_suite != UMC_SUITE_NONE) {
                r = umc_kdf_frame_key(s->p.master_key, s->p.salt, s->p.session_id, key_id,
                                      s->p.inner_suite, dir, UMC_LAYER_INNER, &ks.inner,
                                      ks.inner_iv);
                if (r < 0)
                        goto fail;
        }
        *ret = ks;
        umc_memzero(&ks, sizeof(ks));
        return 0;
fail:
        keyset_clear(&ks);
        return r;
}

int umc_session_new(const struct umc_session_params *params, struct umc_session **ret) {
        struct umc_session *s;

        if (!params || !ret)
                return -EINVAL;
        if (params->tx_dir != UMC_DIR_MASTER_TO_ECU && params->tx_dir != UMC_DIR_ECU_TO_MASTER)
                return -EINVAL;
        if (params->replay_window < 1 || params->replay_window > UMC_REPLAY_WINDOW_MAX)
                return -EINVAL;
        if (params->max_payload == 0 || params->max_payload > UMC_FRAME_MAX_PAYLOAD)
                return -EINVAL;
        if (params->inner_suite != UMC_SUITE_NONE && !umc_suite_by_id(params->inner_suite))
                return -EINVAL;
        if ((params->allowed_suites & ~(((UINT32_C(1) << _UMC_SUITE_MAX) - 1) & ~UINT32_C(1))) ||
            params->allowed_suites == 0)
                return -EINVAL;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->p = *params;
        if (s->p.seq_limit == 0)
                s->p.seq_limit = UINT32_MAX;
        *ret = s;
        return 0;
}

void umc_session_free(struct umc_session *s) {
        if (!s)
                return;
        keyset_clear(&s->tx);
        for (size_t i = 0; i < UMC_ELEMENTSOF(s->rx); i++)
                keyset_clear(&s->rx[i].ks);
        umc_memzero(s, sizeof(*s));
        free(s);
}

int umc_session_set_tx_key(struct umc_session *s, uint16_t key_id, enum umc_suite_id suite) {
        struct keyset ks;
        int r;

        if (!suite_allowed(s, suite) || key_id == 0)
                return -EINVAL;
        /* A key ID is never sealed with twice: its sequence numbers restart at 0. */
        if (s->have_tx && key_id <= s->tx.key_id)
                return -EINVAL;

        r = keyset_derive(s, key_id, suite, s->p.tx_dir, &ks);
        if (r < 0)
                return r;
        keyset_clear(&s->tx);
        s->tx = ks;
        umc_memzero(&ks, sizeof(ks));
        s->have_tx = true;
        s->tx_seq = 0;
        s->tx_exhausted = false;
        return 0;
}

size_t umc_session_overhead(const struct umc_session *s, enum umc_suite_id suite) {
        return UMC_FRAME_HEADER_LEN + tag_len(suite) + tag_len(s->p.inner_suite);
}

int umc_session_seal(struct umc_session *s, enum umc_frame_type type, const uint8_t *body,
                     size_t body_len, uint8_t *out, size_t out_size, size_t *ret_len) {
        uint8_t nonce[UMC_NONCE_LEN];
        size_t inner_tag, payload_len;
        uint8_t *payload;
        int r;

        if (umc_frame_type_is_auth(type) || type < 1 || type >= _UMC_FRAME_TYPE_MAX)
                return -EINVAL;
        if (!s->have_tx)
                return -ENOKEY;
        if (s->tx_exhausted)
                return -ERANGE;

        inner_tag = tag_len(s->p.inner_suite);
        payload_len = body_len + inner_tag + tag_len(s->tx.suite);
        if (payload_len > s->p.max_payload)
                return -EMSGSIZE;
        if (out_size < UMC_FRAME_HEADER_LEN + payload_len)
                return -ENOBUFS;

        struct umc_frame_header h = {
                .type = (uint8_t)type,
                .suite = (uint8_t)s->tx.suite,
                .inner_suite = (uint8_t)s->p.inner_suite,
                .key_id = s->tx.key_id,
                .session_id = s->p.session_id,
                .seq = s->tx_seq,
                .ecu_id = s->p.ecu_id,
                .payload_len = (uint32_t)payload_len,
        };
        umc_frame_header_encode(&h, out);
        payload = out + UMC_FRAME_HEADER_LEN;
        if (body_len)
                memmove(payload, body, body_len);

        /* Layered mode: the inner suite seals first, the rotating suite seals its output. */
        if (s->p.inner_suite != UMC_SUITE_NONE) {
                umc_kdf_nonce(s->tx.inner_iv, h.seq, nonce);
                r = umc_cipher_seal(&s->tx.inner, nonce, out, UMC_FRAME_HEADER_LEN, payload,
                                    body_len, payload);
                if (r < 0)
                        goto fail;
        }
        umc_kdf_nonce(s->tx.outer_iv, h.seq, nonce);
        r = umc_cipher_seal(&s->tx.outer, nonce, out, UMC_FRAME_HEADER_LEN, payload,
                            body_len + inner_tag, payload);
        if (r < 0)
                goto fail;

        if (s->tx_seq == s->p.seq_limit)
                s->tx_exhausted = true;
        else
                s->tx_seq++;
        *ret_len = UMC_FRAME_HEADER_LEN + payload_len;
        return 0;
fail:
        umc_memzero(out, UMC_FRAME_HEADER_LEN + payload_len);
        return r;
}

static struct rx_slot *rx_find(struct umc_session *s, uint16_t key_id) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(s->rx); i++)
                if (s->rx[i].used && s->rx[i].ks.key_id == key_id)
                        return &s->rx[i];
        return NULL;
}

/* Newest key ID seen, and the slot a new key would replace (free, else oldest). */
static struct rx_slot *rx_victim(struct umc_session *s, int *ret_newest) {
        struct rx_slot *victim = NULL;
        int newest = -1;

        for (size_t i = 0; i < UMC_ELEMENTSOF(s->rx); i++) {
                struct rx_slot *slot = &s->rx[i];
                if (!slot->used) {
                        if (!victim || victim->used)
                                victim = slot;
                        continue;
                }
                if (slot->ks.key_id > newest)
                        newest = slot->ks.key_id;
                if (!victim || (victim->used && slot->ks.key_id < victim->ks.key_id))
                        victim = slot;
        }
        *ret_newest = newest;
        return victim;
}

static int fail_reason(enum umc_reason why, enum umc_reason *ret_reason) {
        if (ret_reason)
                *ret_reason = why;
        return -EBADMSG;
}

/* Find the cached keys for h, or derive candidates for a new key ID into *tmp. */
static int rx_lookup(struct umc_session *s, const struct umc_frame_header *h,
                     struct rx_slot **ret_slot, struct rx_slot *tmp, enum umc_reason *ret_reason) {
        struct rx_slot *slot;
        int newest, r;

        slot = rx_find(s, h->key_id);
        if (slot) {
                if (slot->ks.suite != h->suite)
                        return fail_reason(UMC_REASON_KEY_ID_SUITE_MISMATCH, ret_reason);
                *ret_slot = slot;
                return 0;
        }

        (void)rx_victim(s, &newest);
        /* Only forward, and only a small step: old IDs are gone for good. */
        if (h->key_id == 0 || (int)h->key_id <= newest ||
            h->key_id > (newest < 0 ? 0 : newest) + UMC_SESSION_KEY_ID_AHEAD)
                return fail_reason(UMC_REASON_UNKNOWN_KEY_ID, ret_reason);

        r = keyset_derive(s, h->key_id, h->suite, !s->p.tx_dir, &tmp->ks);
        if (r < 0)
                return r;
        r = umc_replay_init(&tmp->window, s->p.replay_window);
        if (r < 0)
                return r;
        tmp->used = true;
        *ret_slot = tmp;
        return 0;
}

static int rx_decrypt(const struct umc_session *s, const struct rx_slot *slot,
                      const uint8_t *frame, const struct umc_frame_header *h, uint8_t *out,
                      size_t *ret_body_len) {
        uint8_t nonce[UMC_NONCE_LEN];
        size_t mid_len;
        int r;

        umc_kdf_nonce(slot->ks.outer_iv, h->seq, nonce);
        r = umc_cipher_open(&slot->ks.outer, nonce, frame, UMC_FRAME_HEADER_LEN,
                            frame + UMC_FRAME_HEADER_LEN, h->payload_len, out);
        if (r < 0)
                return r;
        mid_len = h->payload_len - tag_len(h->suite);
        if (s->p.inner_suite != UMC_SUITE_NONE) {
                umc_kdf_nonce(slot->ks.inner_iv, h->seq, nonce);
                r = umc_cipher_open(&slot->ks.inner, nonce, frame, UMC_FRAME_HEADER_LEN, out,
                                    mid_len, out);
                if (r < 0) {
                        umc_memzero(out, mid_len);
                        return r;
                }
                mid_len -= tag_len(s->p.inner_suite);
        }
        *ret_body_len = mid_len;
        return 0;
}

int umc_session_open(struct umc_session *s, const uint8_t *frame, size_t len,
                     struct umc_frame_header *ret_hdr, uint8_t *out, size_t out_size,
                     size_t *ret_body_len, enum umc_reason *ret_reason) {
        struct rx_slot tmp = {}, *slot = NULL;
        struct umc_frame_header h;
        const uint8_t *payload;
        size_t body_len;
        int r;

        r = umc_frame_parse(frame, len, s->p.max_payload, &h, &payload, ret_reason);
        if (r < 0)
                return r;
        if (umc_frame_type_is_auth(h.type))
                return fail_reason(UMC_REASON_FRAME_BAD_TYPE, ret_reason);
        if (h.session_id != s->p.session_id)
                return fail_reason(UMC_REASON_WRONG_SESSION, ret_reason);
        if (h.ecu_id != s->p.ecu_id)
                return fail_reason(UMC_REASON_WRONG_ECU, ret_reason);
        if (!suite_allowed(s, h.suite) || h.inner_suite != s->p.inner_suite)
                return fail_reason(UMC_REASON_SUITE_NOT_ALLOWED, ret_reason);
        if (out_size < h.payload_len)
                return -ENOBUFS;

        r = rx_lookup(s, &h, &slot, &tmp, ret_reason);
        if (r < 0)
                goto out;
        r = umc_replay_check(&slot->window, h.seq, ret_reason);
        if (r < 0)
                goto out;
        r = rx_decrypt(s, slot, frame, &h, out, &body_len);
        if (r == -EBADMSG) {
                r = fail_reason(UMC_REASON_TAG_MISMATCH, ret_reason);
                goto out;
        }
        if (r < 0)
                goto out;

        /* Authenticated: only now may the frame change our state. */
        if (slot == &tmp) {
                int newest;
                struct rx_slot *victim = rx_victim(s, &newest);
                keyset_clear(&victim->ks);
                *victim = tmp;
                slot = victim;
                umc_memzero(&tmp, sizeof(tmp));
        }
        umc_replay_update(&slot->window, h.seq);
        *ret_hdr = h;
        *ret_body_len = body_len;
        if (ret_reason)
                *ret_reason = UMC_REASON_OK;
        r = 0;
out:
        keyset_clear(&tmp.ks);
        return r;
}

uint16_t umc_session_tx_key_id(const struct umc_session *s) {
        return s->have_tx ? s->tx.key_id : 0;
}

enum umc_suite_id umc_session_tx_suite(const struct umc_session *s) {
        return s->have_tx ? s->tx.suite : UMC_SUITE_NONE;
}
