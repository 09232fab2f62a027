/* SPDX-License-Identifier: MIT */
/*
 * Transfers for the cloud client on a umc_curlev loop: the network policy
 * every transfer gets (TLS 1.2 or newer, the server verified against the
 * configured CA file only, an optional client certificate, no redirects,
 * proxy and timeouts from configuration), small documents fetched into
 * memory, and image files fetched into a partial file (partial.h) with
 * resumption by range request and bounded retries with exponential
 * backoff (docs/cloud-api.md, "Downloads"). Nothing here logs.
 */
#pragma once

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/curlev.h"
#include "umc/partial.h"
#include "umc/reason.h"

#define UMC_FETCH_WHY_MAX 256

struct umc_fetch_net {
        const char *ca_file;          /* PEM trust anchors for servers; required for TLS */
        const char *cert_file;        /* client certificate (PEM), NULL: none */
        const char *key_file;         /* its key (PEM) */
        const char *proxy;            /* "" or NULL: none (the environment is ignored) */
        bool allow_insecure;          /* plain http:// and ftp:// without TLS */
        long connect_timeout_sec;     /* 0: curl's default (300 s) */
        long low_speed_limit;         /* bytes/s below which ... */
        long low_speed_time_sec;      /* ... for this long the transfer is dropped (0: never) */
        long request_timeout_sec;     /* small documents: whole request (0: none) */
        uint64_t max_recv_speed;      /* bytes/s, 0: no cap (images only) */
        unsigned retries;             /* image: attempts after the first on a transient error */
        uint64_t backoff_usec;        /* first retry delay, doubled each time, capped at 64x */
        uint64_t space_margin;        /* bytes kept free beyond the image */
};

/*
 * A new easy handle for url with the policy of net applied. -EPERM for a
 * plain http:// URL when net->allow_insecure is false, -EINVAL for a URL
 * umc does not accept (cloudmsg.h), -ENOMEM, -EIO. ftp:// asks for TLS
 * (explicit FTPS, AUTH TLS, RFC 4217) and requires it unless
 * allow_insecure; ftps:// is implicit FTPS.
 */
int umc_fetch_easy_new(const struct umc_fetch_net *net, const char *url, CURL **ret);

/* ---- small documents into memory ---- */

struct umc_fetch_mem;

struct umc_fetch_reply {
        int error;                    /* 0, or a negative errno: no answer (why says why) */
        long status;                  /* HTTP status when error is 0 */
        const char *body;             /* NUL-terminated, len bytes; borrowed for the callback */
        size_t len;
        char why[UMC_FETCH_WHY_MAX];
};

typedef void (*umc_fetch_mem_fn)(struct umc_fetch_mem *m, const struct umc_fetch_reply *reply,
                                 void *userdata);

/*
 * GET url, or POST body (len bytes, application/json) when body is not
 * NULL; keep at most max bytes of the answer (more is an error, -EFBIG).
 * done runs once; the transfer is freed right after it returns.
 * 0 with *ret (may be NULL) for umc_fetch_mem_cancel(), or as
 * umc_fetch_easy_new().
 */
int umc_fetch_mem_start(struct umc_curlev *ev, const struct umc_fetch_net *net, const char *url,
                        const char *body, size_t len, size_t max, umc_fetch_mem_fn done,
                        void *userdata, struct umc_fetch_mem **ret);

/* Stop and free without calling done. Accepts NULL. */
void umc_fetch_mem_cancel(struct umc_fetch_mem *m);

/* ---- image files ---- */

struct umc_fetch_file;

struct umc_fetch_stats {
        uint64_t received;            /* body bytes over the network, every attempt */
        uint64_t resumed_from;        /* bytes found in the partial file at the start */
        unsigned attempts;
        unsigned ranges;              /* attempts that asked for a range */
};

/*
 * error 0: the file is complete, verified and renamed. -EBADMSG: refused
 * (reason PKG_IMAGE_SIZE or IMAGE_HASH_MISMATCH) and the partial deleted.
 * -ENOSPC: not enough free space (reason NO_SPACE), nothing fetched.
 * Other negative errnos: the transfer failed after its retries (reason
 * IO_ERROR or TIMEOUT); the partial file stays for a later resume.
 */
typedef void (*umc_fetch_file_fn)(struct umc_fetch_file *f, int error, enum umc_reason reason,
                                  const char *why, const struct umc_fetch_stats *stats,
                                  void *userdata);
typedef void (*umc_fetch_progress_fn)(uint64_t have, uint64_t size, void *userdata);

struct umc_fetch_file_args {
        const char *url;
        int dirfd;                    /* the state directory, borrowed */
        const char *final_name;       /* name in dirfd once verified */
        uint64_t size;                /* signed */
        const uint8_t *sha256;        /* signed, 32 bytes */
        umc_fetch_file_fn done;
        umc_fetch_progress_fn progress; /* may be NULL */
        void *userdata;
};

/*
 * Fetch args->url into dirfd's partial file for (size, sha256), resuming
 * from what it holds. The first attempt starts on the next loop
 * iteration; done runs once, then the transfer is freed. sd_event is the
 * loop of ev. 0 with *ret (may be NULL), -EINVAL, -ENOMEM, or the
 * negative errno of opening the partial file.
 */
int umc_fetch_file_start(struct umc_curlev *ev, sd_event *event, const struct umc_fetch_net *net,
                         const struct umc_fetch_file_args *args, struct umc_fetch_file **ret);

/* Stop without calling done; the partial file stays. Accepts NULL. */
void umc_fetch_file_cancel(struct umc_fetch_file *f);
