/* SPDX-License-Identifier: MIT */
/*
 * Frame bodies: the plaintext that a frame's payload carries (sealed by the
 * session for every type but AUTH_*, in the clear for AUTH_*).
 * docs/protocol.md describes every byte; auth.h computes the AUTH MACs and
 * the session salt.
 *
 * All layouts are fixed and big-endian. Decoders take the body's bytes and
 * check its exact length, every declared length and every field's range,
 * and return -EBADMSG on any defect; *ret is written only on success.
 * Encoders check the same rules (-EINVAL when a field is out of range, so
 * nothing is sent that a peer would refuse), write to out and return the
 * number of bytes written, or -ENOBUFS when out_size is too small.
 *
 * Strings (version, hardware ID, alarm text) are printable ASCII
 * (0x20..0x7e) on the wire, without terminator; in the structs they are
 * NUL-terminated copies. Nothing here allocates.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "umc/frame.h"
#include "umc/hash.h"
#include "umc/reason.h"

#define UMC_MSG_NONCE_LEN 32    /* AUTH nonces */
#define UMC_MSG_MAC_LEN 32      /* HMAC-SHA256 */
#define UMC_MSG_IMAGE_ID_LEN 32 /* SHA-256 of a label, the manifest hash and the target */
#define UMC_MSG_VERSION_MAX 64
#define UMC_MSG_HW_ID_MAX 64
#define UMC_MSG_ALARM_TEXT_MAX 200

/* Body sizes in bytes. */
#define UMC_MSG_DATA_HEADER_LEN 8 /* offset; the data follows */
#define UMC_MSG_DATA_MAX (UMC_FRAME_MAX_PAYLOAD - UMC_MSG_DATA_HEADER_LEN)
#define UMC_MSG_BEGIN_FIXED_LEN 50  /* + version, 1..64 bytes */
#define UMC_MSG_BEGIN_MAX_LEN (UMC_MSG_BEGIN_FIXED_LEN + UMC_MSG_VERSION_MAX)
#define UMC_MSG_VERIFY_LEN 64
#define UMC_MSG_TRANSPORT_LEN 43
#define UMC_MSG_FEEDBACK_LEN 15
#define UMC_MSG_AUTH_CHALLENGE_LEN 32
#define UMC_MSG_AUTH_RESPONSE_FIXED_LEN 65 /* + hardware ID, 1..64 bytes */
#define UMC_MSG_AUTH_RESPONSE_MAX_LEN (UMC_MSG_AUTH_RESPONSE_FIXED_LEN + UMC_MSG_HW_ID_MAX)
#define UMC_MSG_AUTH_CONFIRM_LEN 32
#define UMC_MSG_ALARM_FIXED_LEN 3 /* + text, 0..200 bytes */
#define UMC_MSG_ALARM_MAX_LEN (UMC_MSG_ALARM_FIXED_LEN + UMC_MSG_ALARM_TEXT_MAX)
#define UMC_MSG_STATUS_QUERY_LEN 1
#define UMC_MSG_STATUS_FIXED_LEN 26 /* + the three versions, 0..64 bytes each */
#define UMC_MSG_STATUS_MAX_LEN (UMC_MSG_STATUS_FIXED_LEN + 3 * UMC_MSG_VERSION_MAX)

/* DATA: one chunk of the plaintext image. */
struct umc_msg_data {
        uint64_t offset;     /* byte offset of data in the image */
        const uint8_t *data; /* borrowed: points into the decoded buffer */
        size_t data_len;     /* 1..UMC_MSG_DATA_MAX; offset + data_len must not overflow */
};

/* BEGIN (master -> ECU): opens an image. */
struct umc_msg_begin {
        uint64_t image_len;          /* >= 1 */
        enum umc_hash_alg hash_alg;  /* image hash and VERIFY digests */
        uint32_t verify_every;       /* DATA frames per VERIFY, >= 1 */
        uint32_t chunk_len;          /* data bytes per DATA frame, 1..UMC_MSG_DATA_MAX */
        uint8_t image_id[UMC_MSG_IMAGE_ID_LEN];
        char version[UMC_MSG_VERSION_MAX + 1]; /* 1..64 printable, NUL-terminated */
};

/* VERIFY: check data over the range covered since the previous VERIFY. */
struct umc_msg_verify {
        uint64_t time_usec;  /* master's clock */
        uint32_t checkpoint; /* 1, 2, ... */
        uint64_t start, end; /* byte range [start, end), start < end */
        uint32_t n_frames;   /* DATA frames in the range, >= 1 */
        uint8_t digest[UMC_HASH_LEN];
};

/* TRANSPORT: closes an image. */
struct umc_msg_transport {
        enum umc_hash_alg hash_alg;
        uint16_t key_id;     /* key ID in force when sent */
        uint64_t image_len;  /* >= 1 */
        uint8_t hash[UMC_HASH_LEN]; /* of the whole plaintext image */
};

enum umc_msg_feedback_code {
        UMC_FEEDBACK_CONTINUE = 0,
        UMC_FEEDBACK_STOP = 1,
        UMC_FEEDBACK_COMPLETE = 2,
        _UMC_FEEDBACK_MAX,
};

/* FEEDBACK (ECU -> master). */
struct umc_msg_feedback {
        enum umc_msg_feedback_code code;
        enum umc_reason reason; /* OK for CONTINUE/COMPLETE; a known non-OK code for STOP */
        uint32_t checkpoint;    /* last checkpoint that verified, 0 before the first */
        uint64_t offset;        /* bytes safely received: where to resume */
};

/* AUTH_CHALLENGE (master -> ECU). */
struct umc_msg_auth_challenge {
        uint8_t nonce_m[UMC_MSG_NONCE_LEN];
};

/* AUTH_RESPONSE (ECU -> master). */
struct umc_msg_auth_response {
        uint8_t nonce_e[UMC_MSG_NONCE_LEN];
        char hw_id[UMC_MSG_HW_ID_MAX + 1]; /* 1..64 printable, NUL-terminated */
        uint8_t mac[UMC_MSG_MAC_LEN];
};

/* AUTH_CONFIRM (master -> ECU). */
struct umc_msg_auth_confirm {
        uint8_t mac[UMC_MSG_MAC_LEN];
};

/* ALARM (either direction). */
struct umc_msg_alarm {
        enum umc_reason reason; /* a known code other than OK */
        char text[UMC_MSG_ALARM_TEXT_MAX + 1]; /* 0..200 printable, NUL-terminated */
};

/* STATUS_QUERY (master -> ECU): after AUTH, before BEGIN. */
enum {
        UMC_MSG_STATUS_QUERY_SLOTS = 1, /* the only query version 1 knows: the slot overview */
};

struct umc_msg_status_query {
        uint8_t what; /* UMC_MSG_STATUS_QUERY_SLOTS */
};

/* STATUS flags. */
enum {
        UMC_MSG_STATUS_PARTIAL = 1u << 0, /* a partial image is kept for resume */
        UMC_MSG_STATUS_GATEWAY = 1u << 1, /* a gateway's store for the ECU, not the ECU's slots */
        _UMC_MSG_STATUS_FLAGS = (1u << 2) - 1,
};

/*
 * STATUS (ECU -> master): the answer to STATUS_QUERY. active is 'a' or
 * 'b'; previous (the rollback slot) is 'a', 'b' or 0 for none, never the
 * active slot and never an empty one. A slot's version is "" when it is
 * empty. With UMC_MSG_STATUS_PARTIAL, partial_version is 1..64 characters,
 * partial_len >= 1 and partial_offset <= partial_len; without it the three
 * and partial_age_sec are empty/0.
 */
struct umc_msg_status {
        char active;
        char previous;
        uint8_t flags;
        char version_a[UMC_MSG_VERSION_MAX + 1];
        char version_b[UMC_MSG_VERSION_MAX + 1];
        char partial_version[UMC_MSG_VERSION_MAX + 1];
        uint64_t partial_len;     /* the image's announced length */
        uint64_t partial_offset;  /* bytes durable: where the next delivery resumes */
        uint32_t partial_age_sec; /* since its last checkpoint (saturates) */
};

const char *umc_msg_feedback_code_to_string(unsigned code);

int umc_msg_data_encode(const struct umc_msg_data *m, uint8_t *out, size_t out_size);
/* m->data points into buf: valid as long as buf is. */
int umc_msg_data_decode(const uint8_t *buf, size_t len, struct umc_msg_data *ret);

int umc_msg_begin_encode(const struct umc_msg_begin *m, uint8_t *out, size_t out_size);
int umc_msg_begin_decode(const uint8_t *buf, size_t len, struct umc_msg_begin *ret);

int umc_msg_verify_encode(const struct umc_msg_verify *m, uint8_t *out, size_t out_size);
int umc_msg_verify_decode(const uint8_t *buf, size_t len, struct umc_msg_verify *ret);

int umc_msg_transport_encode(const struct umc_msg_transport *m, uint8_t *out, size_t out_size);
int umc_msg_transport_decode(const uint8_t *buf, size_t len, struct umc_msg_transport *ret);

int umc_msg_feedback_encode(const struct umc_msg_feedback *m, uint8_t *out, size_t out_size);
int umc_msg_feedback_decode(const uint8_t *buf, size_t len, struct umc_msg_feedback *ret);

int umc_msg_auth_challenge_encode(const struct umc_msg_auth_challenge *m, uint8_t *out,
                                  size_t out_size);
int umc_msg_auth_challenge_decode(const uint8_t *buf, size_t len,
                                  struct umc_msg_auth_challenge *ret);

int umc_msg_auth_response_encode(const struct umc_msg_auth_response *m, uint8_t *out,
                                 size_t out_size);
int umc_msg_auth_response_decode(const uint8_t *buf, size_t len,
                                 struct umc_msg_auth_response *ret);

int umc_msg_auth_confirm_encode(const struct umc_msg_auth_confirm *m, uint8_t *out,
                                size_t out_size);
int umc_msg_auth_confirm_decode(const uint8_t *buf, size_t len, struct umc_msg_auth_confirm *ret);

int umc_msg_status_query_encode(const struct umc_msg_status_query *m, uint8_t *out,
                                size_t out_size);
int umc_msg_status_query_decode(const uint8_t *buf, size_t len, struct umc_msg_status_query *ret);

int umc_msg_status_encode(const struct umc_msg_status *m, uint8_t *out, size_t out_size);
int umc_msg_status_decode(const uint8_t *buf, size_t len, struct umc_msg_status *ret);

int umc_msg_alarm_encode(const struct umc_msg_alarm *m, uint8_t *out, size_t out_size);
int umc_msg_alarm_decode(const uint8_t *buf, size_t len, struct umc_msg_alarm *ret);

/*
 * VERIFY digest = hash_alg(plaintext image bytes [start, end) ||
 * time_usec(8) || checkpoint(4) || start(8) || end(8)), hash_alg from
 * BEGIN. The fields come last so that both sides can hash the DATA as it
 * goes: the receiver learns them only from the VERIFY itself.
 * init starts h (the caller must end with _final or umc_hash_done());
 * update takes the range's bytes in order, in any split; final appends
 * the fields, writes the digest and always releases h's context.
 * Errors as umc_hash_*; final: -EINVAL for start >= end.
 */
int umc_msg_verify_digest_init(struct umc_hash *h, enum umc_hash_alg alg);
int umc_msg_verify_digest_update(struct umc_hash *h, const void *data, size_t len);
int umc_msg_verify_digest_final(struct umc_hash *h, uint64_t time_usec, uint32_t checkpoint,
                                uint64_t start, uint64_t end, uint8_t ret_digest[UMC_HASH_LEN]);

/*
 * Length of hw_id when it is a hardware ID an AUTH_RESPONSE may carry
 * (NUL-terminated, 1..UMC_MSG_HW_ID_MAX printable ASCII bytes), else
 * -EINVAL (also for NULL).
 */
int umc_msg_hw_id_len(const char *hw_id);
