/* SPDX-License-Identifier: MIT */
#include "umc/fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "umc/cloudmsg.h"
#include "umc/util.h"

#define SET(e, opt, val) (curl_easy_setopt((e), (opt), (val)) == CURLE_OK)

static bool tls_opts(CURL *e, const struct umc_fetch_net *net) {
        /* Only the configured CA: never the system store (CAPATH NULL). */
        bool ok = SET(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) &&
                  SET(e, CURLOPT_SSL_VERIFYPEER, 1L) && SET(e, CURLOPT_SSL_VERIFYHOST, 2L) &&
                  SET(e, CURLOPT_CAPATH, (char *)NULL) &&
                  SET(e, CURLOPT_CAINFO, net->ca_file ? net->ca_file : "/nonexistent");

        if (ok && net->cert_file)
                ok = SET(e, CURLOPT_SSLCERT, net->cert_file) &&
                     SET(e, CURLOPT_SSLKEY, net->key_file ? net->key_file : net->cert_file);
        /* ftp:// asks for AUTH TLS; only allow_insecure accepts a server without it. */
        return ok && SET(e, CURLOPT_USE_SSL,
                         (long)(net->allow_insecure ? CURLUSESSL_TRY : CURLUSESSL_ALL));
}

static bool net_opts(CURL *e, const struct umc_fetch_net *net) {
        return SET(e, CURLOPT_NOSIGNAL, 1L) &&
               SET(e, CURLOPT_PROTOCOLS_STR, "https,ftps,ftp,http") &&
               SET(e, CURLOPT_FOLLOWLOCATION, 0L) &&
               /* "" switches off the *_proxy environment variables: config decides. */
               SET(e, CURLOPT_PROXY, net->proxy ? net->proxy : "") &&
               SET(e, CURLOPT_CONNECTTIMEOUT, net->connect_timeout_sec) &&
               SET(e, CURLOPT_LOW_SPEED_LIMIT, net->low_speed_limit) &&
               SET(e, CURLOPT_LOW_SPEED_TIME, net->low_speed_time_sec) &&
               SET(e, CURLOPT_USERAGENT, "umc/1");
}

int umc_fetch_easy_new(const struct umc_fetch_net *net, const char *url, CURL **ret) {
        bool secure = false;
        CURL *e;

        if (!net || !ret || umc_cloudmsg_check_url(url, &secure) < 0)
                return -EINVAL;
        /* ftp:// is secure too: tls_opts() requires AUTH TLS on it. */
        if (!secure && !net->allow_insecure && strncmp(url, "ftp://", 6) != 0)
                return -EPERM;
        e = curl_easy_init();
        if (!e)
                return -ENOMEM;
        if (!SET(e, CURLOPT_URL, url) || !net_opts(e, net) || !tls_opts(e, net)) {
                curl_easy_cleanup(e);
                return -EIO;
        }
        *ret = e;
        return 0;
}

/* The text of a failed transfer: curl's detail when it has one. */
static void curl_why(char *why, CURLcode c, const char *errbuf) {
        snprintf(why, UMC_FETCH_WHY_MAX, "%s", errbuf[0] ? errbuf : curl_easy_strerror(c));
}

static int curl_errno(CURLcode c) {
        switch (c) {
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_USE_SSL_FAILED:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
                return -EPROTO;
        case CURLE_FILESIZE_EXCEEDED:
                return -EFBIG;
        default:
                return -EIO;
        }
}

/* ---- memory ---- */

struct umc_fetch_mem {
        struct umc_curlev *ev;
        CURL *easy;
        char *buf;
        size_t len, max;
        bool overflow;
        umc_fetch_mem_fn done;
        void *userdata;
        char errbuf[CURL_ERROR_SIZE];
};

static size_t mem_write(char *p, size_t size, size_t nmemb, void *userdata) {
        struct umc_fetch_mem *m = userdata;
        size_t n = nmemb, grow;
        char *b;

        if (m->max - m->len < n) {
                m->overflow = true;
                return 0;
        }
        grow = m->len + n + 1;
        b = realloc(m->buf, grow);
        if (!b)
                return 0;
        memcpy(b + m->len, p, n);
        m->len += n;
        b[m->len] = '\0';
        m->buf = b;
        return n;
}

static void mem_free(struct umc_fetch_mem *m) {
        if (!m)
                return;
        if (m->easy) {
                (void)umc_curlev_remove(m->ev, m->easy);
                curl_easy_cleanup(m->easy);
        }
        free(m->buf);
        free(m);
}

static void mem_done(CURL *easy, CURLcode result, void *userdata) {
        struct umc_fetch_mem *m = userdata;
        struct umc_fetch_reply r = { .body = m->buf ? m->buf : "", .len = m->len };

        if (m->overflow) {
                r.error = -EFBIG;
                snprintf(r.why, sizeof(r.why), "answer larger than %zu bytes", m->max);
        } else if (result != CURLE_OK) {
                r.error = curl_errno(result);
                curl_why(r.why, result, m->errbuf);
        } else {
                (void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
        }
        m->done(m, &r, m->userdata);
        mem_free(m);
}

static int mem_opts(struct umc_fetch_mem *m, const struct umc_fetch_net *net, const char *body,
                    size_t len) {
        bool ok = SET(m->easy, CURLOPT_WRITEFUNCTION, mem_write) &&
                  SET(m->easy, CURLOPT_WRITEDATA, m) &&
                  SET(m->easy, CURLOPT_ERRORBUFFER, m->errbuf) &&
                  SET(m->easy, CURLOPT_TIMEOUT, net->request_timeout_sec);

        if (ok && body)
                ok = SET(m->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) &&
                     SET(m->easy, CURLOPT_COPYPOSTFIELDS, body);
        return ok ? 0 : -EIO;
}

static struct curl_slist *json_headers(void) {
        return curl_slist_append(NULL, "Content-Type: application/json");
}

int umc_fetch_mem_start(struct umc_curlev *ev, const struct umc_fetch_net *net, const char *url,
                        const char *body, size_t len, size_t max, umc_fetch_mem_fn done,
                        void *userdata, struct umc_fetch_mem **ret) {
        static struct curl_slist *headers;
        struct umc_fetch_mem *m;
        int r;

        if (!ev || !done || max == 0)
                return -EINVAL;
        if (body && !headers && !(headers = json_headers()))
                return -ENOMEM;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        *m = (struct umc_fetch_mem){ .ev = ev, .max = max, .done = done, .userdata = userdata };
        r = umc_fetch_easy_new(net, url, &m->easy);
        if (r >= 0)
                r = mem_opts(m, net, body, len);
        if (r >= 0 && body && !SET(m->easy, CURLOPT_HTTPHEADER, headers))
                r = -EIO;
        if (r >= 0)
                r = umc_curlev_add(ev, m->easy, mem_done, m);
        if (r < 0) {
                mem_free(m);
                return r;
        }
        if (ret)
                *ret = m;
        return 0;
}

void umc_fetch_mem_cancel(struct umc_fetch_mem *m) {
        mem_free(m);
}

/* ---- files ---- */

struct umc_fetch_file {
        struct umc_curlev *ev;
        const struct umc_fetch_net *net;
        struct umc_fetch_file_args a;
        char *url, *final_name;
        struct umc_partial part;
        CURL *easy;
        sd_event_source *timer;
        struct umc_fetch_stats stats;
        char errbuf[CURL_ERROR_SIZE];
};

static void file_free(struct umc_fetch_file *f) {
        if (!f)
                return;
        if (f->easy) {
                (void)umc_curlev_remove(f->ev, f->easy);
                curl_easy_cleanup(f->easy);
        }
        sd_event_source_disable_unref(f->timer);
        umc_partial_close(&f->part);
        free(f->url);
        free(f->final_name);
        free(f);
}

static void file_end(struct umc_fetch_file *f, int error, enum umc_reason reason,
                     const char *why) {
        f->a.done(f, error, reason, why, &f->stats, f->a.userdata);
        file_free(f);
}

static size_t file_write(char *p, size_t size, size_t nmemb, void *userdata) {
        struct umc_fetch_file *f = userdata;

        f->stats.received += nmemb;
        /* Capped at the signed size: one byte more ends the transfer. */
        if (umc_partial_write(&f->part, p, nmemb) < 0)
                return 0;
        if (f->a.progress)
                f->a.progress(f->part.have, f->part.size, f->a.userdata);
        return nmemb;
}

static bool transient(CURLcode c, long status) {
        switch (c) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_FTP_ACCEPT_TIMEOUT:
                return true;
        case CURLE_HTTP_RETURNED_ERROR:
                return status >= 500 || status == 408 || status == 429;
        default:
                return false;
        }
}

static int schedule(struct umc_fetch_file *f, uint64_t delay_usec);

static void finish(struct umc_fetch_file *f) {
        enum umc_reason reason = UMC_REASON_OK;
        char why[UMC_FETCH_WHY_MAX] = "";
        int r = umc_partial_finish(&f->part, f->final_name, &reason);

        if (r == -EBADMSG)
                snprintf(why, sizeof(why), "%s: %s", f->a.final_name,
                         reason == UMC_REASON_PKG_IMAGE_SIZE
                                 ? "fewer bytes than the signed size"
                                 : "SHA-256 differs from the signed manifest");
        else if (r < 0)
                snprintf(why, sizeof(why), "%s: cannot keep the file: %s", f->a.final_name,
                         strerror(-r));
        file_end(f, r, r < 0 && r != -EBADMSG ? UMC_REASON_IO_ERROR : reason, why);
}

static void file_failed(struct umc_fetch_file *f, CURLcode result) {
        char why[UMC_FETCH_WHY_MAX];
        long status = 0;
        bool retry;

        (void)curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
        if (f->part.overflow) {
                umc_partial_discard(&f->part);
                snprintf(why, sizeof(why), "%s: server sent more than the signed %llu bytes",
                         f->a.final_name, (unsigned long long)f->part.size);
                file_end(f, -EBADMSG, UMC_REASON_PKG_IMAGE_SIZE, why);
                return;
        }
        curl_why(why, result, f->errbuf);
        /*
         * A server that ignores our range answers 200 with the whole file
         * and curl stops (RFC 9110 14.2 allows it): start the partial over.
         */
        retry = transient(result, status);
        if (result == CURLE_RANGE_ERROR && f->part.have > 0)
                retry = umc_partial_restart(&f->part) >= 0;
        if (retry && f->stats.attempts <= f->net->retries) {
                uint64_t shift = f->stats.attempts - 1 < 6 ? f->stats.attempts - 1 : 6;

                curl_easy_cleanup(f->easy);
                f->easy = NULL;
                if (schedule(f, f->net->backoff_usec << shift) >= 0)
                        return;
        }
        file_end(f, curl_errno(result),
                 result == CURLE_OPERATION_TIMEDOUT ? UMC_REASON_TIMEOUT : UMC_REASON_IO_ERROR,
                 why);
}

static void file_done(CURL *easy, CURLcode result, void *userdata) {
        struct umc_fetch_file *f = userdata;

        if (result != CURLE_OK) {
                file_failed(f, result);
                return;
        }
        curl_easy_cleanup(f->easy);
        f->easy = NULL;
        finish(f);
}

/*
 * libcurl 7.88 checks the rate cap only between socket events and reads
 * up to 100 buffers per event while data is pending, so a fast server
 * whose bytes already sit in the socket buffer gets 100 x 16 KiB (the
 * default buffer) through at once. A buffer of 1/400 of the cap bounds such a burst to a quarter
 * second of the cap (at least 1 KiB, curl's minimum).
 */
static long rate_buffer(uint64_t cap) {
        uint64_t b = cap / 400;

        if (b < 1024)
                return 1024;
        return b > CURL_MAX_WRITE_SIZE ? CURL_MAX_WRITE_SIZE : (long)b;
}

static int file_opts(struct umc_fetch_file *f) {
        CURL *e = f->easy;
        bool ok = SET(e, CURLOPT_WRITEFUNCTION, file_write) && SET(e, CURLOPT_WRITEDATA, f) &&
                  SET(e, CURLOPT_ERRORBUFFER, f->errbuf) &&
                  SET(e, CURLOPT_FAILONERROR, 1L) &&
                  SET(e, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)f->net->max_recv_speed) &&
                  SET(e, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)f->part.have);

        if (ok && f->net->max_recv_speed)
                ok = SET(e, CURLOPT_BUFFERSIZE, rate_buffer(f->net->max_recv_speed));
        return ok ? 0 : -EIO;
}

static int attempt(struct umc_fetch_file *f) {
        int r;

        f->errbuf[0] = '\0';
        f->stats.attempts++;
        if (f->part.have > 0)
                f->stats.ranges++;
        r = umc_fetch_easy_new(f->net, f->url, &f->easy);
        if (r >= 0)
                r = file_opts(f);
        if (r >= 0)
                r = umc_curlev_add(f->ev, f->easy, file_done, f);
        return r;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct umc_fetch_file *f = userdata;
        char why[UMC_FETCH_WHY_MAX];
        int r;

        if (f->part.have == f->part.size) {
                finish(f);
                return 0;
        }
        r = umc_partial_check_space(&f->part, f->net->space_margin);
        if (r == -ENOSPC) {
                snprintf(why, sizeof(why), "%s: not enough free space for %llu more bytes",
                         f->a.final_name, (unsigned long long)(f->part.size - f->part.have));
                file_end(f, r, UMC_REASON_NO_SPACE, why);
                return 0;
        }
        r = r < 0 ? r : attempt(f);
        if (r < 0) {
                snprintf(why, sizeof(why), "%s: cannot start the transfer: %s", f->a.final_name,
                         strerror(-r));
                file_end(f, r, UMC_REASON_IO_ERROR, why);
        }
        return 0;
}

static int schedule(struct umc_fetch_file *f, uint64_t delay_usec) {
        sd_event *e = sd_event_source_get_event(f->timer);
        uint64_t now;
        int r = sd_event_now(e, CLOCK_MONOTONIC, &now);

        if (r >= 0)
                r = sd_event_source_set_time(f->timer, now + delay_usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(f->timer, SD_EVENT_ONESHOT);
        return r;
}

static bool args_ok(const struct umc_fetch_file_args *a) {
        return a && a->url && a->final_name && a->sha256 && a->done && a->size > 0;
}

int umc_fetch_file_start(struct umc_curlev *ev, sd_event *event, const struct umc_fetch_net *net,
                         const struct umc_fetch_file_args *args, struct umc_fetch_file **ret) {
        struct umc_fetch_file *f;
        int r;

        if (!ev || !event || !net || !args_ok(args))
                return -EINVAL;
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        *f = (struct umc_fetch_file){ .ev = ev, .net = net, .a = *args, .part.fd = -1 };
        f->url = strdup(args->url);
        f->final_name = strdup(args->final_name);
        r = f->url && f->final_name ? 0 : -ENOMEM;
        if (r >= 0)
                r = umc_partial_open(args->dirfd, args->size, args->sha256, &f->part);
        if (r >= 0) {
                f->stats.resumed_from = f->part.have;
                r = sd_event_add_time(event, &f->timer, CLOCK_MONOTONIC, 0, 1, on_timer, f);
        }
        if (r >= 0)
                r = schedule(f, 0);
        if (r < 0) {
                file_free(f);
                return r;
        }
        f->a.final_name = f->final_name;
        f->a.url = f->url;
        if (ret)
                *ret = f;
        return 0;
}

void umc_fetch_file_cancel(struct umc_fetch_file *f) {
        file_free(f);
}
