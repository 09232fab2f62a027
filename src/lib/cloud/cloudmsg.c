/* SPDX-License-Identifier: MIT */
#include "umc/cloudmsg.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "umc/hash.h"
#include "umc/package.h"
#include "umc/util.h"

/* A check of the input failed: the reason into why, -EINVAL back. */
#define refuse(why, why_size, ...) umc_why(why, why_size, -EINVAL, __VA_ARGS__)

struct pctx {
        char *why;
        size_t why_size;
};

#define REFUSE(c, ...) refuse((c)->why, (c)->why_size, __VA_ARGS__)

static bool in_set(const char *s, const char *extra) {
        for (; *s; s++) {
                unsigned char ch = (unsigned char)*s;

                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || (ch && strchr(extra, ch))))
                        return false;
        }
        return true;
}

static bool printable(const char *s, bool spaces) {
        for (; *s; s++)
                if (*s < (spaces ? 0x20 : 0x21) || *s > 0x7e)
                        return false;
        return true;
}

/* One object, nothing after it, no NUL, bounded. */
static int parse_root(const struct pctx *c, const char *json, size_t len, cJSON **ret) {
        const char *end = NULL;
        cJSON *root;

        if (!json)
                return REFUSE(c, "no reply");
        if (len > UMC_CLOUDMSG_REPLY_MAX)
                return REFUSE(c, "reply of %zu bytes is above %d", len, UMC_CLOUDMSG_REPLY_MAX);
        if (memchr(json, '\0', len))
                return REFUSE(c, "reply holds a NUL byte");
        root = cJSON_ParseWithLengthOpts(json, len, &end, false);
        if (!root)
                return REFUSE(c, "reply is not JSON (at byte %td)",
                              end ? end - json : (ptrdiff_t)0);
        if (end != json + len) {
                cJSON_Delete(root);
                return REFUSE(c, "%td bytes after the JSON document", json + len - end);
        }
        if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                return REFUSE(c, "reply is not a JSON object");
        }
        *ret = root;
        return 0;
}

/* No key outside keys, none twice. */
static int only_keys(const struct pctx *c, const cJSON *obj, const char *const *keys) {
        for (const cJSON *i = obj->child; i; i = i->next) {
                bool known = false;

                for (const char *const *k = keys; *k; k++)
                        known = known || strcmp(*k, i->string) == 0;
                if (!known)
                        return REFUSE(c, "unknown key \"%.40s\"", i->string);
                for (const cJSON *j = obj->child; j != i; j = j->next)
                        if (strcmp(j->string, i->string) == 0)
                                return REFUSE(c, "key \"%.40s\" given twice", i->string);
        }
        return 0;
}

static const cJSON *item(const cJSON *obj, const char *key) {
        return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* A string of min..max bytes; NULL in *ret when absent and optional. */
static int get_str(const struct pctx *c, const cJSON *obj, const char *key, bool optional,
                   size_t min, size_t max, const char **ret) {
        const cJSON *i = item(obj, key);
        size_t n;

        *ret = NULL;
        if (!i)
                return optional ? 0 : REFUSE(c, "\"%s\" is missing", key);
        if (!cJSON_IsString(i))
                return REFUSE(c, "\"%s\" is not a string", key);
        n = strlen(i->valuestring);
        if (n < min || n > max)
                return REFUSE(c, "\"%s\" has %zu characters, not %zu..%zu", key, n, min, max);
        if (!printable(i->valuestring, true))
                return REFUSE(c, "\"%s\" holds a character outside printable ASCII", key);
        *ret = i->valuestring;
        return 0;
}

static int get_text(const struct pctx *c, const cJSON *obj, const char *key, bool optional,
                    char out[UMC_CLOUDMSG_TEXT_MAX + 1]) {
        const char *s;
        int r = get_str(c, obj, key, optional, 0, UMC_CLOUDMSG_TEXT_MAX, &s);

        if (r < 0)
                return r;
        snprintf(out, UMC_CLOUDMSG_TEXT_MAX + 1, "%s", s ? s : "");
        return 0;
}

/* An integer 0..max without fraction; 0 when absent and optional. */
static int get_uint(const struct pctx *c, const cJSON *obj, const char *key, bool optional,
                    uint32_t max, uint32_t *ret) {
        const cJSON *i = item(obj, key);

        *ret = 0;
        if (!i)
                return optional ? 0 : REFUSE(c, "\"%s\" is missing", key);
        if (!cJSON_IsNumber(i))
                return REFUSE(c, "\"%s\" is not a number", key);
        if (!(i->valuedouble >= 0 && i->valuedouble <= max) ||
            floor(i->valuedouble) != i->valuedouble)
                return REFUSE(c, "\"%s\" is not an integer in 0..%u", key, max);
        *ret = (uint32_t)i->valuedouble;
        return 0;
}

static const char *const authent_keys[] = { "state", "message", "ticket", "expires_in",
                                            "retry_after", NULL };

static int authent_state(const struct pctx *c, const cJSON *root,
                         struct umc_cloudmsg_authent *a) {
        const char *s;
        int r = get_str(c, root, "state", false, 1, 16, &s);

        if (r < 0)
                return r;
        if (strcmp(s, "ok") == 0)
                a->state = UMC_CLOUDMSG_OK;
        else if (strcmp(s, "denied") == 0)
                a->state = UMC_CLOUDMSG_DENIED;
        else if (strcmp(s, "retry") == 0)
                a->state = UMC_CLOUDMSG_RETRY;
        else
                return REFUSE(c, "\"state\" is \"%s\", not ok, denied or retry", s);
        return 0;
}

static int authent_ticket(const struct pctx *c, const cJSON *root,
                          struct umc_cloudmsg_authent *a) {
        const char *t;
        int r;

        if (a->state != UMC_CLOUDMSG_OK) {
                if (item(root, "ticket") || item(root, "expires_in"))
                        return REFUSE(c, "a ticket without state \"ok\"");
                return get_uint(c, root, "retry_after", true, UMC_CLOUDMSG_WAIT_MAX,
                                &a->retry_after);
        }
        if (item(root, "retry_after"))
                return REFUSE(c, "\"retry_after\" with state \"ok\"");
        r = get_str(c, root, "ticket", false, UMC_CLOUDMSG_TICKET_MIN, UMC_CLOUDMSG_TICKET_MAX,
                    &t);
        if (r < 0)
                return r;
        if (!in_set(t, "_-"))
                return REFUSE(c, "\"ticket\" holds a character outside [A-Za-z0-9_-]");
        memcpy(a->ticket, t, strlen(t) + 1);
        r = get_uint(c, root, "expires_in", false, UMC_CLOUDMSG_WAIT_MAX, &a->expires_in);
        if (r >= 0 && a->expires_in == 0)
                return REFUSE(c, "\"expires_in\" is 0");
        return r;
}

int umc_cloudmsg_parse_authent(const char *json, size_t len, struct umc_cloudmsg_authent *ret,
                               char *why, size_t why_size) {
        const struct pctx c = { why, why_size };
        struct umc_cloudmsg_authent a = {};
        cJSON *root = NULL;
        int r = parse_root(&c, json, len, &root);

        if (r >= 0)
                r = only_keys(&c, root, authent_keys);
        if (r >= 0)
                r = authent_state(&c, root, &a);
        if (r >= 0)
                r = get_text(&c, root, "message", false, a.message);
        if (r >= 0)
                r = authent_ticket(&c, root, &a);
        cJSON_Delete(root);
        if (r >= 0)
                *ret = a;
        return r;
}

static int get_url(const struct pctx *c, const cJSON *obj, const char *key, char *out) {
        const char *s;
        int r = get_str(c, obj, key, false, 1, UMC_CLOUDMSG_URL_MAX, &s);

        if (r < 0)
                return r;
        if (umc_cloudmsg_check_url(s, NULL) < 0)
                return REFUSE(c, "\"%s\" is not an https, ftps, ftp or http URL without spaces",
                              key);
        memcpy(out, s, strlen(s) + 1);
        return 0;
}

static int offer_sig(const struct pctx *c, const cJSON *root, struct umc_cloudmsg_offer *o) {
        const char *s;
        int r = get_str(c, root, "signature_format", true, 1, 8, &s);

        if (r < 0 || !s)
                return r;
        if (strcmp(s, "cms") == 0)
                o->signature_format = UMC_CLOUDMSG_SIG_CMS;
        else if (strcmp(s, "sm2") == 0)
                o->signature_format = UMC_CLOUDMSG_SIG_SM2;
        else
                return REFUSE(c, "\"signature_format\" is \"%s\", not cms or sm2", s);
        return 0;
}

static int offer_update(const struct pctx *c, const cJSON *root, struct umc_cloudmsg_offer *o) {
        const char *s;
        int r = get_str(c, root, "package_version", false, 1, UMC_CLOUDMSG_NAME_MAX, &s);

        if (r < 0)
                return r;
        if (!printable(s, false))
                return REFUSE(c, "\"package_version\" holds a space or control character");
        memcpy(o->package_version, s, strlen(s) + 1);
        r = get_str(c, root, "date", false, 20, 20, &s);
        if (r >= 0 && umc_package_time_parse(s, &o->date) < 0)
                return REFUSE(c, "\"date\" is not YYYY-MM-DDTHH:MM:SSZ");
        if (r >= 0)
                r = get_url(c, root, "manifest_url", o->manifest_url);
        if (r >= 0)
                r = get_url(c, root, "signature_url", o->signature_url);
        if (r >= 0)
                r = get_url(c, root, "images_url", o->images_url);
        if (r >= 0 && o->images_url[strlen(o->images_url) - 1] == '/')
                return REFUSE(c, "\"images_url\" ends with '/'");
        return r < 0 ? r : offer_sig(c, root, o);
}

static const char *const offer_keys[] = { "update", "message", "poll_after", "package_version",
                                          "date", "manifest_url", "signature_url",
                                          "signature_format", "images_url", NULL };

static int offer_body(const struct pctx *c, const cJSON *root, struct umc_cloudmsg_offer *o) {
        const cJSON *u = item(root, "update");
        int r;

        if (!cJSON_IsBool(u))
                return REFUSE(c, u ? "\"update\" is not true or false" : "\"update\" is missing");
        o->update = cJSON_IsTrue(u);
        r = get_text(c, root, "message", true, o->message);
        if (r >= 0)
                r = get_uint(c, root, "poll_after", true, UMC_CLOUDMSG_WAIT_MAX, &o->poll_after);
        if (r < 0)
                return r;
        if (o->update)
                return offer_update(c, root, o);
        for (const char *const *k = offer_keys + 3; *k; k++)
                if (item(root, *k))
                        return REFUSE(c, "\"%s\" without an update", *k);
        return 0;
}

int umc_cloudmsg_parse_offer(const char *json, size_t len, struct umc_cloudmsg_offer *ret,
                             char *why, size_t why_size) {
        const struct pctx c = { why, why_size };
        struct umc_cloudmsg_offer *o = calloc(1, sizeof(*o));
        cJSON *root = NULL;
        int r;

        if (!o)
                return -ENOMEM;
        r = parse_root(&c, json, len, &root);
        if (r >= 0)
                r = only_keys(&c, root, offer_keys);
        if (r >= 0)
                r = offer_body(&c, root, o);
        cJSON_Delete(root);
        if (r >= 0)
                *ret = *o;
        free(o);
        return r;
}

static const char *const error_keys[] = { "error", "message", NULL };

int umc_cloudmsg_parse_error(const char *json, size_t len, struct umc_cloudmsg_error *ret,
                             char *why, size_t why_size) {
        const struct pctx c = { why, why_size };
        struct umc_cloudmsg_error e = {};
        cJSON *root = NULL;
        const char *s = NULL;
        int r = parse_root(&c, json, len, &root);

        if (r >= 0)
                r = only_keys(&c, root, error_keys);
        if (r >= 0)
                r = get_str(&c, root, "error", false, 1, UMC_CLOUDMSG_NAME_MAX, &s);
        if (r >= 0 && !in_set(s, "_"))
                r = REFUSE(&c, "\"error\" holds a character outside [A-Za-z0-9_]");
        if (r >= 0) {
                memcpy(e.error, s, strlen(s) + 1);
                r = get_text(&c, root, "message", true, e.message);
        }
        cJSON_Delete(root);
        if (r >= 0)
                *ret = e;
        return r;
}

int umc_cloudmsg_check_id(const char *id) {
        size_t n = id ? strlen(id) : 0;

        return n >= 1 && n <= UMC_CLOUDMSG_ID_MAX && in_set(id, "._-") ? 0 : -EINVAL;
}

int umc_cloudmsg_check_url(const char *url, bool *ret_secure) {
        static const struct {
                const char *prefix;
                bool secure;
        } schemes[] = { { "https://", true }, { "ftps://", true }, { "ftp://", false },
                        { "http://", false } };
        size_t n = url ? strlen(url) : 0;

        if (n < 1 || n > UMC_CLOUDMSG_URL_MAX || !printable(url, false))
                return -EINVAL;
        for (size_t i = 0; i < UMC_ELEMENTSOF(schemes); i++) {
                size_t p = strlen(schemes[i].prefix);

                if (strncmp(url, schemes[i].prefix, p) == 0 && n > p && url[p] != '/') {
                        if (ret_secure)
                                *ret_secure = schemes[i].secure;
                        return 0;
                }
        }
        return -EINVAL;
}

static int check_ticket(const char *ticket) {
        size_t n = ticket ? strlen(ticket) : 0;

        return n >= UMC_CLOUDMSG_TICKET_MIN && n <= UMC_CLOUDMSG_TICKET_MAX && in_set(ticket, "_-")
                       ? 0
                       : -EINVAL;
}

static int md5_token(const uint8_t secret[UMC_CLOUDMSG_SECRET_LEN], const char *id,
                     const char *ticket, char out[UMC_CLOUDMSG_TOKEN_MAX + 1]) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        uint8_t d[16];
        int ok;

        if (!ctx)
                return -ENOMEM;
        ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) && EVP_DigestUpdate(ctx, id, strlen(id)) &&
             EVP_DigestUpdate(ctx, ":", 1) &&
             EVP_DigestUpdate(ctx, secret, UMC_CLOUDMSG_SECRET_LEN) &&
             EVP_DigestUpdate(ctx, ":", 1) && EVP_DigestUpdate(ctx, ticket, strlen(ticket)) &&
             EVP_DigestFinal_ex(ctx, d, NULL);
        EVP_MD_CTX_free(ctx);
        if (!ok)
                return -EIO;
        umc_hex_encode(d, sizeof(d), out);
        return 0;
}

int umc_cloudmsg_token(const uint8_t secret[UMC_CLOUDMSG_SECRET_LEN], const char *id,
                       const char *ticket, bool md5, char out[UMC_CLOUDMSG_TOKEN_MAX + 1]) {
        uint8_t mac[UMC_HASH_LEN];
        int r;

        if (!secret || !out || umc_cloudmsg_check_id(id) < 0 || check_ticket(ticket) < 0)
                return -EINVAL;
        if (md5)
                return md5_token(secret, id, ticket, out);
        r = umc_hmac(UMC_HASH_SHA256, secret, UMC_CLOUDMSG_SECRET_LEN,
                     (const struct umc_iovec[]){ { id, strlen(id) }, { ":", 1 },
                                                 { ticket, strlen(ticket) } },
                     3, mac);
        if (r < 0)
                return r;
        umc_hex_encode(mac, sizeof(mac), out);
        umc_memzero(mac, sizeof(mac));
        return 0;
}

/* ---- URLs ---- */

static int put_param(FILE *f, char sep, const char *key, const char *value) {
        char *esc = curl_easy_escape(NULL, value, 0);

        if (!esc)
                return -ENOMEM;
        fprintf(f, "%c%s=%s", sep, key, esc);
        curl_free(esc);
        return 0;
}

static int check_base(const char *base) {
        size_t n = base ? strlen(base) : 0;

        if (umc_cloudmsg_check_url(base, NULL) < 0 || n > UMC_CLOUDMSG_URL_MAX - 512 ||
            base[n - 1] == '/' || strchr(base, '?') || strchr(base, '#'))
                return -EINVAL;
        return 0;
}

/* open_memstream() sets *buf only at fclose(): read it after. */
static int close_url(FILE *f, char **buf, int r, char **ret) {
        if (fclose(f) != 0)
                r = r < 0 ? r : -ENOMEM;
        if (r < 0) {
                free(*buf);
                return r;
        }
        *ret = *buf;
        return 0;
}

int umc_cloudmsg_authent_url(const char *base, const char *id, char **ret) {
        char *buf = NULL, proto[16];
        size_t len;
        FILE *f;
        int r;

        if (check_base(base) < 0 || umc_cloudmsg_check_id(id) < 0 || !ret)
                return -EINVAL;
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        snprintf(proto, sizeof(proto), "%d", UMC_CLOUDMSG_PROTOCOL);
        fprintf(f, "%s/authent", base);
        r = put_param(f, '?', "id", id);
        if (r >= 0)
                r = put_param(f, '&', "version", proto);
        return close_url(f, &buf, r, ret);
}

static int check_name(const char *s) {
        size_t n = s ? strlen(s) : 0;

        return n >= 1 && n <= UMC_CLOUDMSG_NAME_MAX && printable(s, true) ? 0 : -EINVAL;
}

static int check_version(const struct umc_cloudmsg_version *v) {
        size_t t = v->target ? strlen(v->target) : 0, n = v->version ? strlen(v->version) : 0;

        if (t < 1 || t > 31 || !in_set(v->target, "_-") || n < 1 || n > UMC_CLOUDMSG_NAME_MAX ||
            !printable(v->version, false) || strpbrk(v->version, ",:"))
                return -EINVAL;
        return 0;
}

/* "target:version,target:version" */
static int versions_string(const struct umc_cloudmsg_version *v, size_t n, char **ret) {
        char *buf = NULL;
        size_t len;
        FILE *f;

        if (n > UMC_CLOUDMSG_TARGETS_MAX || (n && !v))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (check_version(&v[i]) < 0)
                        return -EINVAL;
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%s:%s", i ? "," : "", v[i].target, v[i].version);
        return close_url(f, &buf, 0, ret);
}

int umc_cloudmsg_check_url_build(const char *base, const char *id, const char *token,
                                 const char *company, const char *product,
                                 const struct umc_cloudmsg_version *versions, size_t n,
                                 char **ret) {
        _cleanup_free_ char *vs = NULL;
        char *buf = NULL;
        size_t len;
        FILE *f;
        int r;

        if (check_base(base) < 0 || umc_cloudmsg_check_id(id) < 0 || !token || !ret ||
            strlen(token) > UMC_CLOUDMSG_TOKEN_MAX || !in_set(token, "") ||
            check_name(company) < 0 || check_name(product) < 0)
                return -EINVAL;
        r = versions_string(versions, n, &vs);
        if (r < 0)
                return r;
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "%s/check", base);
        r = put_param(f, '?', "id", id);
        if (r >= 0)
                r = put_param(f, '&', "token", token);
        if (r >= 0)
                r = put_param(f, '&', "company", company);
        if (r >= 0)
                r = put_param(f, '&', "product", product);
        if (r >= 0)
                r = put_param(f, '&', "versions", vs);
        return close_url(f, &buf, r, ret);
}

int umc_cloudmsg_report_url(const char *base, const char *id, const char *token, char **ret) {
        char *buf = NULL;
        size_t len;
        FILE *f;
        int r;

        if (check_base(base) < 0 || umc_cloudmsg_check_id(id) < 0 || !token || !ret ||
            strlen(token) > UMC_CLOUDMSG_TOKEN_MAX || !in_set(token, ""))
                return -EINVAL;
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "%s/report", base);
        r = put_param(f, '?', "id", id);
        if (r >= 0)
                r = put_param(f, '&', "token", token);
        return close_url(f, &buf, r, ret);
}

/* ---- the report body ---- */

static const char *result_name(enum umc_cloudmsg_result r) {
        switch (r) {
        case UMC_CLOUDMSG_INSTALLED:
                return "installed";
        case UMC_CLOUDMSG_FAILED:
                return "failed";
        case UMC_CLOUDMSG_SKIPPED:
                return "skipped";
        }
        return NULL;
}

static bool text_ok(const char *s, bool optional) {
        if (!s)
                return optional;
        return strlen(s) <= UMC_CLOUDMSG_TEXT_MAX && printable(s, true);
}

static int add_target(cJSON *arr, const struct umc_cloudmsg_target_result *t, bool *all_ok) {
        cJSON *o = cJSON_CreateObject();
        const char *res = result_name(t->result);

        if (!o)
                return -ENOMEM;
        cJSON_AddItemToArray(arr, o);
        if (!res || !t->target || strlen(t->target) > 31 || !in_set(t->target, "_-") ||
            !t->target[0] || !text_ok(t->version, true) || !text_ok(t->message, true))
                return -EINVAL;
        *all_ok = *all_ok && t->result == UMC_CLOUDMSG_INSTALLED;
        if (!cJSON_AddStringToObject(o, "target", t->target) ||
            !cJSON_AddNumberToObject(o, "ecu_id", t->ecu_id) ||
            (t->version && !cJSON_AddStringToObject(o, "version", t->version)) ||
            !cJSON_AddStringToObject(o, "result", res) ||
            !cJSON_AddNumberToObject(o, "reason", t->reason) ||
            !cJSON_AddStringToObject(o, "message", t->message ? t->message : ""))
                return -ENOMEM;
        return 0;
}

static int report_head(cJSON *o, const char *id, const struct umc_cloudmsg_report *r) {
        char when[21], hex[2 * UMC_HASH_LEN + 1];

        if (umc_package_time_format(r->time, when) < 0 || !text_ok(r->message, true) ||
            (r->package_version && check_name(r->package_version) < 0))
                return -EINVAL;
        if (!cJSON_AddStringToObject(o, "id", id) || !cJSON_AddStringToObject(o, "time", when))
                return -ENOMEM;
        if (r->package_version && !cJSON_AddStringToObject(o, "package_version", r->package_version))
                return -ENOMEM;
        if (r->manifest_sha256) {
                umc_hex_encode(r->manifest_sha256, UMC_HASH_LEN, hex);
                if (!cJSON_AddStringToObject(o, "manifest_sha256", hex))
                        return -ENOMEM;
        }
        if (!cJSON_AddNumberToObject(o, "reason", r->reason) ||
            !cJSON_AddStringToObject(o, "message", r->message ? r->message : ""))
                return -ENOMEM;
        return 0;
}

static int report_build(cJSON *o, const char *id, const struct umc_cloudmsg_report *r) {
        bool all_ok = r->reason == 0;
        cJSON *arr;
        int k = report_head(o, id, r);

        if (k < 0)
                return k;
        arr = cJSON_AddArrayToObject(o, "targets");
        if (!arr)
                return -ENOMEM;
        for (size_t i = 0; i < r->n_targets; i++) {
                k = add_target(arr, &r->targets[i], &all_ok);
                if (k < 0)
                        return k;
        }
        return cJSON_AddStringToObject(o, "result", all_ok ? "success" : "failure") ? 0 : -ENOMEM;
}

int umc_cloudmsg_report_json(const char *id, const struct umc_cloudmsg_report *r, char **ret,
                             size_t *ret_len) {
        cJSON *o;
        char *s;
        int k;

        if (umc_cloudmsg_check_id(id) < 0 || !r || !ret ||
            r->n_targets > UMC_CLOUDMSG_TARGETS_MAX || (r->n_targets && !r->targets))
                return -EINVAL;
        o = cJSON_CreateObject();
        if (!o)
                return -ENOMEM;
        k = report_build(o, id, r);
        s = k < 0 ? NULL : cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (k < 0)
                return k;
        if (!s)
                return -ENOMEM;
        if (ret_len)
                *ret_len = strlen(s);
        *ret = s;
        return 0;
}
