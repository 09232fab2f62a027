/* SPDX-License-Identifier: MIT */
/*
 * The umc protocol as a struct umc_cloud_backend (docs/cloud-api.md):
 * every request to the backend first asks GET authent for a one-time
 * ticket and sends the token made from it; the manifest and its
 * signature are plain downloads (their signature protects them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "umc/cloud.h"
#include "umc/util.h"

enum step {
        STEP_IDLE,
        STEP_AUTHENT,
        STEP_CHECK,
        STEP_REPORT,
        STEP_MANIFEST,
        STEP_SIGNATURE,
};

struct umc_state {
        struct umc_cloud *cloud;
        struct umc_fetch_mem *mem;
        enum step step, then;          /* then: what the ticket is for */

        struct umc_cloudmsg_version *versions; /* STEP_CHECK, owned copies */
        size_t n_versions;
        char *body;                    /* STEP_REPORT */
        size_t body_len;
        char *manifest;                /* STEP_SIGNATURE */
        size_t manifest_len;
        const struct umc_cloudmsg_offer *offer;

        umc_cloud_check_fn check_done;
        umc_cloud_bytes_fn bytes_done;
        umc_cloud_done_fn report_done;
        void *userdata;
};

static void clear(struct umc_state *s) {
        umc_fetch_mem_cancel(s->mem);
        s->mem = NULL;
        for (size_t i = 0; i < s->n_versions; i++) {
                free((char *)s->versions[i].target);
                free((char *)s->versions[i].version);
        }
        free(s->versions);
        s->versions = NULL;
        s->n_versions = 0;
        free(s->body);
        s->body = NULL;
        free(s->manifest);
        s->manifest = NULL;
        s->step = STEP_IDLE;
}

static int attach(struct umc_cloud *c, void **ret) {
        struct umc_state *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->cloud = c;
        *ret = s;
        return 0;
}

static void detach(void *state) {
        if (!state)
                return;
        clear(state);
        free(state);
}

static void cancel(void *state) {
        clear(state);
}

/* The request failed: tell whoever asked, with why. */
static void fail(struct umc_state *s, int error, const char *why) {
        enum step then = s->then;
        struct umc_cloud *c = s->cloud;
        void *ud = s->userdata;

        clear(s);
        if (then == STEP_CHECK)
                s->check_done(c, error, NULL, why, ud);
        else if (then == STEP_REPORT)
                s->report_done(c, error, why, ud);
        else
                s->bytes_done(c, error, NULL, 0, NULL, 0, why, ud);
}

static const char *step_name(enum step st) {
        static const char *const names[] = { "idle", "authent", "check", "report", "manifest",
                                             "signature" };
        return names[st];
}

static int status_errno(long status) {
        switch (status) {
        case 401:
        case 403:
                return -EACCES;
        case 404:
                return -ENOENT;
        case 429:
        case 503:
                return -EAGAIN;
        default:
                return -EPROTO;
        }
}

/*
 * A reply that is not a success: the transfer failed, or the backend
 * answered an HTTP error, whose JSON body (when well-formed) names why.
 */
static bool failed(struct umc_state *s, const struct umc_fetch_reply *r, long ok_lo, long ok_hi) {
        struct umc_cloudmsg_error e;
        char why[UMC_CLOUD_WHY_MAX];

        if (r->error < 0) {
                snprintf(why, sizeof(why), "%s: %s", step_name(s->step), r->why);
                fail(s, r->error, why);
                return true;
        }
        if (r->status >= ok_lo && r->status <= ok_hi)
                return false;
        if (umc_cloudmsg_parse_error(r->body, r->len, &e, NULL, 0) >= 0)
                snprintf(why, sizeof(why), "%s: HTTP %ld, backend says %s: %s",
                         step_name(s->step), r->status, e.error, e.message);
        else
                snprintf(why, sizeof(why), "%s: HTTP %ld", step_name(s->step), r->status);
        fail(s, status_errno(r->status), why);
        return true;
}

static void on_reply(struct umc_fetch_mem *m, const struct umc_fetch_reply *r, void *userdata);

static int start(struct umc_state *s, enum step step, const char *url, const char *body,
                 size_t len, size_t max) {
        const struct umc_cloud_config *cfg = umc_cloud_config(s->cloud);
        int r;

        s->step = step;
        r = umc_fetch_mem_start(umc_cloud_curlev(s->cloud), &cfg->net, url, body, len, max,
                                on_reply, s, &s->mem);
        if (r < 0)
                s->mem = NULL;
        return r;
}

static int start_authent(struct umc_state *s) {
        const struct umc_cloud_config *cfg = umc_cloud_config(s->cloud);
        _cleanup_free_ char *url = NULL;
        int r = umc_cloudmsg_authent_url(cfg->url, cfg->device_id, &url);

        return r < 0 ? r : start(s, STEP_AUTHENT, url, NULL, 0, UMC_CLOUDMSG_REPLY_MAX);
}

static int start_request(struct umc_state *s, const char *token) {
        const struct umc_cloud_config *cfg = umc_cloud_config(s->cloud);
        _cleanup_free_ char *url = NULL;
        int r;

        if (s->then == STEP_CHECK)
                r = umc_cloudmsg_check_url_build(cfg->url, cfg->device_id, token, cfg->company,
                                                 cfg->product, s->versions, s->n_versions,
                                                 &url);
        else
                r = umc_cloudmsg_report_url(cfg->url, cfg->device_id, token, &url);
        if (r < 0)
                return r;
        if (s->then == STEP_CHECK)
                return start(s, STEP_CHECK, url, NULL, 0, UMC_CLOUDMSG_REPLY_MAX);
        return start(s, STEP_REPORT, url, s->body, s->body_len, UMC_CLOUDMSG_REPLY_MAX);
}

static void authent_reply(struct umc_state *s, const struct umc_fetch_reply *r) {
        const struct umc_cloud_config *cfg = umc_cloud_config(s->cloud);
        struct umc_cloudmsg_authent a;
        char why[UMC_CLOUD_WHY_MAX], token[UMC_CLOUDMSG_TOKEN_MAX + 1];
        int k;

        if (failed(s, r, 200, 200))
                return;
        k = umc_cloudmsg_parse_authent(r->body, r->len, &a, why, sizeof(why));
        if (k < 0) {
                char w[UMC_CLOUD_WHY_MAX + 32];

                snprintf(w, sizeof(w), "authent: malformed answer: %s", why);
                fail(s, -EBADMSG, w);
                return;
        }
        if (a.state != UMC_CLOUDMSG_OK) {
                snprintf(why, sizeof(why), "authent: backend says %s: %s",
                         a.state == UMC_CLOUDMSG_DENIED ? "denied" : "retry later", a.message);
                fail(s, a.state == UMC_CLOUDMSG_DENIED ? -EACCES : -EAGAIN, why);
                return;
        }
        k = umc_cloudmsg_token(cfg->secret, cfg->device_id, a.ticket, cfg->token_md5, token);
        if (k >= 0)
                k = start_request(s, token);
        umc_memzero(token, sizeof(token));
        if (k < 0) {
                snprintf(why, sizeof(why), "cannot send the %s request: %s", step_name(s->then),
                         strerror(-k));
                fail(s, k, why);
        }
}

static void check_reply(struct umc_state *s, const struct umc_fetch_reply *r) {
        struct umc_cloudmsg_offer *o;
        char why[UMC_CLOUD_WHY_MAX];
        struct umc_cloud *c = s->cloud;
        umc_cloud_check_fn done = s->check_done;
        void *ud = s->userdata;

        if (failed(s, r, 200, 200))
                return;
        o = malloc(sizeof(*o));
        if (!o) {
                fail(s, -ENOMEM, "check: out of memory");
                return;
        }
        if (umc_cloudmsg_parse_offer(r->body, r->len, o, why, sizeof(why)) < 0) {
                char w[UMC_CLOUD_WHY_MAX + 32];

                snprintf(w, sizeof(w), "check: malformed answer: %s", why);
                free(o);
                fail(s, -EBADMSG, w);
                return;
        }
        clear(s);
        done(c, 0, o, "", ud);
        free(o);
}

static void report_reply(struct umc_state *s, const struct umc_fetch_reply *r) {
        struct umc_cloud *c = s->cloud;
        umc_cloud_done_fn done = s->report_done;
        void *ud = s->userdata;

        if (failed(s, r, 200, 204))
                return;
        clear(s);
        done(c, 0, "", ud);
}

static void manifest_reply(struct umc_state *s, const struct umc_fetch_reply *r) {
        const struct umc_cloudmsg_offer *o = s->offer;
        char why[UMC_CLOUD_WHY_MAX];
        int k;

        if (failed(s, r, 200, 200))
                return;
        s->manifest = malloc(r->len + 1);
        if (!s->manifest) {
                fail(s, -ENOMEM, "manifest: out of memory");
                return;
        }
        memcpy(s->manifest, r->body, r->len + 1);
        s->manifest_len = r->len;
        k = start(s, STEP_SIGNATURE, o->signature_url, NULL, 0, UMC_SIG_MAX_BYTES);
        if (k < 0) {
                snprintf(why, sizeof(why), "signature: cannot fetch %.300s: %s", o->signature_url,
                         strerror(-k));
                fail(s, k, why);
        }
}

static void signature_reply(struct umc_state *s, const struct umc_fetch_reply *r) {
        struct umc_cloud *c = s->cloud;
        umc_cloud_bytes_fn done = s->bytes_done;
        void *ud = s->userdata;
        char *m;
        size_t ml;

        if (failed(s, r, 200, 200))
                return;
        m = TAKE_PTR(s->manifest);
        ml = s->manifest_len;
        done(c, 0, m, ml, r->body, r->len, "", ud);
        free(m);
        clear(s);
}

static void on_reply(struct umc_fetch_mem *m, const struct umc_fetch_reply *r, void *userdata) {
        struct umc_state *s = userdata;

        /* The transfer frees itself after this returns. */
        s->mem = NULL;
        switch (s->step) {
        case STEP_AUTHENT:
                authent_reply(s, r);
                break;
        case STEP_CHECK:
                check_reply(s, r);
                break;
        case STEP_REPORT:
                report_reply(s, r);
                break;
        case STEP_MANIFEST:
                manifest_reply(s, r);
                break;
        case STEP_SIGNATURE:
                signature_reply(s, r);
                break;
        case STEP_IDLE:
                break;
        }
}

static int copy_versions(struct umc_state *s, const struct umc_cloudmsg_version *v, size_t n) {
        s->versions = calloc(n ? n : 1, sizeof(*v));
        if (!s->versions)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                s->versions[i].target = strdup(v[i].target ? v[i].target : "");
                s->versions[i].version = strdup(v[i].version ? v[i].version : "");
                s->n_versions = i + 1;
                if (!s->versions[i].target || !s->versions[i].version)
                        return -ENOMEM;
        }
        return 0;
}

static int check(void *state, const struct umc_cloudmsg_version *v, size_t n,
                 umc_cloud_check_fn done, void *userdata) {
        struct umc_state *s = state;
        int r;

        if (s->step != STEP_IDLE)
                return -EBUSY;
        if (n > UMC_CLOUDMSG_TARGETS_MAX || (n && !v))
                return -EINVAL;
        s->then = STEP_CHECK;
        s->check_done = done;
        s->userdata = userdata;
        r = copy_versions(s, v, n);
        if (r >= 0)
                r = start_authent(s);
        if (r < 0)
                clear(s);
        return r;
}

static int report(void *state, const char *body, size_t len, umc_cloud_done_fn done,
                  void *userdata) {
        struct umc_state *s = state;
        int r;

        if (s->step != STEP_IDLE)
                return -EBUSY;
        s->then = STEP_REPORT;
        s->report_done = done;
        s->userdata = userdata;
        s->body = malloc(len + 1);
        if (!s->body)
                return -ENOMEM;
        memcpy(s->body, body, len);
        s->body[len] = '\0';
        s->body_len = len;
        r = start_authent(s);
        if (r < 0)
                clear(s);
        return r;
}

static int fetch_manifest(void *state, const struct umc_cloudmsg_offer *offer,
                          umc_cloud_bytes_fn done, void *userdata) {
        struct umc_state *s = state;
        int r;

        if (s->step != STEP_IDLE)
                return -EBUSY;
        s->then = STEP_MANIFEST;
        s->offer = offer;
        s->bytes_done = done;
        s->userdata = userdata;
        r = start(s, STEP_MANIFEST, offer->manifest_url, NULL, 0, UMC_PACKAGE_MAX_BYTES);
        if (r < 0)
                clear(s);
        return r;
}

static int image_url(void *state, const struct umc_cloudmsg_offer *offer, const char *file,
                     char **ret) {
        char *url;

        if (asprintf(&url, "%s/%s", offer->images_url, file) < 0)
                return -ENOMEM;
        if (umc_cloudmsg_check_url(url, NULL) < 0) {
                free(url);
                return -EINVAL;
        }
        *ret = url;
        return 0;
}

const struct umc_cloud_backend umc_cloud_backend_umc = {
        .name = "umc",
        .attach = attach,
        .detach = detach,
        .check = check,
        .fetch_manifest = fetch_manifest,
        .image_url = image_url,
        .report = report,
        .cancel = cancel,
};
