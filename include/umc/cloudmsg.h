/* SPDX-License-Identifier: MIT */
/*
 * The umc cloud protocol's messages (docs/cloud-api.md) as pure
 * functions: strict parsers of the backend's JSON answers, the device
 * token, the request URLs and the report body. No I/O, nothing logs.
 *
 * Parsers are strict: at most UMC_CLOUDMSG_REPLY_MAX bytes, no NUL byte,
 * one JSON object and nothing after it (not even white space), no unknown
 * or repeated key, every type, length and character set as the document
 * says. A refused reply gives -EINVAL and why names the defect; the
 * output is written only on success.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UMC_CLOUDMSG_PROTOCOL 1
#define UMC_CLOUDMSG_REPLY_MAX (64 * 1024)
#define UMC_CLOUDMSG_ID_MAX 64          /* device ID: [A-Za-z0-9._-] */
#define UMC_CLOUDMSG_TICKET_MIN 16
#define UMC_CLOUDMSG_TICKET_MAX 128     /* ticket: [A-Za-z0-9_-] */
#define UMC_CLOUDMSG_TEXT_MAX 256       /* message: printable ASCII */
#define UMC_CLOUDMSG_URL_MAX 2048
#define UMC_CLOUDMSG_NAME_MAX 64        /* company, product, package version, error code */
#define UMC_CLOUDMSG_SECRET_LEN 32
#define UMC_CLOUDMSG_TOKEN_MAX 64       /* hex digits */
#define UMC_CLOUDMSG_TARGETS_MAX 256
#define UMC_CLOUDMSG_WAIT_MAX 86400     /* retry_after, poll_after, expires_in: seconds */

enum umc_cloudmsg_state {
        UMC_CLOUDMSG_OK = 0,     /* ticket issued */
        UMC_CLOUDMSG_DENIED = 1, /* this device may not authenticate: stop, report, no retry */
        UMC_CLOUDMSG_RETRY = 2,  /* backend busy: try again after retry_after seconds */
};

struct umc_cloudmsg_authent {
        enum umc_cloudmsg_state state;
        char message[UMC_CLOUDMSG_TEXT_MAX + 1];
        char ticket[UMC_CLOUDMSG_TICKET_MAX + 1]; /* "" unless state is OK */
        uint32_t expires_in;                      /* seconds the ticket stays valid; OK only */
        uint32_t retry_after;                     /* RETRY only, 0 when not given */
};

enum umc_cloudmsg_sig_format {
        UMC_CLOUDMSG_SIG_CMS = 0, /* manifest.json.p7s */
        UMC_CLOUDMSG_SIG_SM2 = 1, /* manifest.json.sm2 */
};

struct umc_cloudmsg_offer {
        bool update;
        uint32_t poll_after;                      /* 0 when not given */
        char message[UMC_CLOUDMSG_TEXT_MAX + 1];  /* may be "" */
        /* The rest only when update: */
        char package_version[UMC_CLOUDMSG_NAME_MAX + 1];
        int64_t date;                             /* release date, seconds since the epoch */
        char manifest_url[UMC_CLOUDMSG_URL_MAX + 1];
        char signature_url[UMC_CLOUDMSG_URL_MAX + 1];
        enum umc_cloudmsg_sig_format signature_format;
        char images_url[UMC_CLOUDMSG_URL_MAX + 1]; /* folder of the image files, no trailing '/' */
};

struct umc_cloudmsg_error {
        char error[UMC_CLOUDMSG_NAME_MAX + 1];     /* e.g. "ticket_used" */
        char message[UMC_CLOUDMSG_TEXT_MAX + 1];
};

int umc_cloudmsg_parse_authent(const char *json, size_t len, struct umc_cloudmsg_authent *ret,
                               char *why, size_t why_size);
int umc_cloudmsg_parse_offer(const char *json, size_t len, struct umc_cloudmsg_offer *ret,
                             char *why, size_t why_size);
int umc_cloudmsg_parse_error(const char *json, size_t len, struct umc_cloudmsg_error *ret,
                             char *why, size_t why_size);

/* 0 when id is 1..64 of [A-Za-z0-9._-], else -EINVAL. */
int umc_cloudmsg_check_id(const char *id);

/*
 * An absolute URL of 1..2048 printable, space-free ASCII characters whose
 * scheme is https, ftps, ftp or http (lower case). *ret_secure (may be
 * NULL) is false for ftp and http: FTP may still be upgraded to TLS (see
 * docs/cloud-api.md), but nothing guarantees it. 0 or -EINVAL.
 */
int umc_cloudmsg_check_url(const char *url, bool *ret_secure);

/*
 * The device's token for ticket, in lower-case hex (65 bytes with NUL):
 *   HMAC-SHA256(key = secret (32 bytes), data = id || ":" || ticket)
 * or, when md5 (a weak compatibility form), 32 hex digits of
 *   MD5(id || ":" || secret (32 bytes) || ":" || ticket).
 * 0, -EINVAL (id or ticket outside their character sets), -EIO.
 */
int umc_cloudmsg_token(const uint8_t secret[UMC_CLOUDMSG_SECRET_LEN], const char *id,
                       const char *ticket, bool md5, char out[UMC_CLOUDMSG_TOKEN_MAX + 1]);

/* One installed version, for the check request. */
struct umc_cloudmsg_version {
        const char *target;  /* [A-Za-z0-9_-], 1..31 */
        const char *version; /* printable ASCII, no space, ',' or ':', 1..64 */
};

/*
 * Request URLs, malloc()ed into *ret (owned by the caller): base is the
 * backend's URL without a trailing '/'. Every query value is
 * percent-encoded (RFC 3986). 0, -EINVAL (a value outside its set), -ENOMEM.
 */
int umc_cloudmsg_authent_url(const char *base, const char *id, char **ret);
int umc_cloudmsg_check_url_build(const char *base, const char *id, const char *token,
                                 const char *company, const char *product,
                                 const struct umc_cloudmsg_version *versions, size_t n,
                                 char **ret);
int umc_cloudmsg_report_url(const char *base, const char *id, const char *token, char **ret);

enum umc_cloudmsg_result {
        UMC_CLOUDMSG_INSTALLED = 0,
        UMC_CLOUDMSG_FAILED = 1,
        UMC_CLOUDMSG_SKIPPED = 2, /* not attempted: an earlier step refused the package */
};

struct umc_cloudmsg_target_result {
        const char *target;
        uint32_t ecu_id;
        const char *version;      /* may be NULL */
        enum umc_cloudmsg_result result;
        uint16_t reason;          /* include/umc/reason.h, 0 when installed */
        const char *message;      /* may be NULL */
};

struct umc_cloudmsg_report {
        const char *package_version;  /* may be NULL when the package never verified */
        const uint8_t *manifest_sha256; /* 32 bytes or NULL */
        int64_t time;                 /* when the outcome was known, seconds since the epoch */
        uint16_t reason;              /* the package's reason, 0 when every target installed */
        const char *message;          /* may be NULL */
        const struct umc_cloudmsg_target_result *targets;
        size_t n_targets;
};

/*
 * The report body (compact JSON, no trailing newline) for device id.
 * "result" is "success" when reason is 0 and every target installed,
 * else "failure". *ret malloc()ed. 0, -EINVAL (a text outside its set or
 * length), -ENOMEM.
 */
int umc_cloudmsg_report_json(const char *id, const struct umc_cloudmsg_report *r, char **ret,
                             size_t *ret_len);
