/* SPDX-License-Identifier: MIT */
#include "umc/package.h"

#include <cJSON.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "umc/fs.h"
#include "umc/names.h"
#include "umc/parse.h"
#include "umc/util.h"

/* A check of the input failed: the reason into why, -EINVAL back. */
#define refuse(why, why_size, ...) umc_why(why, why_size, -EINVAL, __VA_ARGS__)

/* As refuse(), for a failure that is not the input's fault: returns r. */
#define fail umc_why

static enum umc_reason deny(enum umc_reason reason, char *why, size_t why_size, const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));

static enum umc_reason deny(enum umc_reason reason, char *why, size_t why_size, const char *fmt,
                            ...) {
        va_list ap;

        va_start(ap, fmt);
        umc_vwhy(why, why_size, fmt, ap);
        va_end(ap);
        return reason;
}

/* ---- strict JSON access ---- */

/* A parse context: where we are (for messages) and where messages go. */
struct pctx {
        const char *where;
        char *why;
        size_t why_size;
};

/* Unknown or repeated keys: cJSON keeps duplicates, and two readers could pick different ones. */
static int only_keys(const struct pctx *c, const cJSON *obj, const char *const *keys) {
        const cJSON *it, *prev;

        cJSON_ArrayForEach(it, obj) {
                bool known = false;

                for (prev = obj->child; prev != it; prev = prev->next)
                        if (strcmp(it->string, prev->string) == 0)
                                return refuse(c->why, c->why_size, "%s: key \"%s\" repeated",
                                              c->where, it->string);
                for (size_t i = 0; keys[i]; i++)
                        if (strcmp(it->string, keys[i]) == 0)
                                known = true;
                if (!known)
                        return refuse(c->why, c->why_size, "%s: unknown key \"%.64s\"", c->where,
                                      it->string);
        }
        return 0;
}

static int get_object(const struct pctx *c, const cJSON *obj, const char *key, bool optional,
                      const cJSON **ret) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

        if (!v && optional) {
                *ret = NULL;
                return 0;
        }
        if (!v)
                return refuse(c->why, c->why_size, "%s: \"%s\" is missing", c->where, key);
        if (!cJSON_IsObject(v))
                return refuse(c->why, c->why_size, "%s: \"%s\" must be an object", c->where, key);
        *ret = v;
        return 0;
}

static int get_string(const struct pctx *c, const cJSON *obj, const char *key, const char **ret) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

        if (!v)
                return refuse(c->why, c->why_size, "%s: \"%s\" is missing", c->where, key);
        if (!cJSON_IsString(v) || !v->valuestring)
                return refuse(c->why, c->why_size, "%s: \"%s\" must be a string", c->where, key);
        *ret = v->valuestring;
        return 0;
}

/* JSON numbers are doubles: accept only integers that a double holds exactly, in [min, max]. */
static int get_uint(const struct pctx *c, const cJSON *obj, const char *key, uint64_t min,
                    uint64_t max, uint64_t *ret) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
        double d;

        if (!v)
                return refuse(c->why, c->why_size, "%s: \"%s\" is missing", c->where, key);
        if (!cJSON_IsNumber(v))
                return refuse(c->why, c->why_size, "%s: \"%s\" must be a number", c->where, key);
        d = v->valuedouble;
        if (!(d >= (double)min) || d > (double)max || d != (double)(uint64_t)d)
                return refuse(c->why, c->why_size, "%s: \"%s\" must be an integer %" PRIu64
                              "..%" PRIu64, c->where, key, min, max);
        *ret = (uint64_t)d;
        return 0;
}

/* 1..max printable ASCII characters (spaces only where allowed) copied into out[max + 1]. */
static int get_text(const struct pctx *c, const cJSON *obj, const char *key, size_t max,
                    bool spaces, char *out) {
        const char *s;
        size_t n;
        int r;

        r = get_string(c, obj, key, &s);
        if (r < 0)
                return r;
        n = strlen(s);
        for (size_t i = 0; i < n && n <= max; i++)
                if (s[i] < 0x20 || s[i] > 0x7e || (!spaces && s[i] == ' '))
                        n = 0;
        if (n == 0 || n > max)
                return refuse(c->why, c->why_size, "%s: \"%s\" must be 1..%zu printable ASCII "
                              "characters%s", c->where, key, max, spaces ? "" : " without spaces");
        memcpy(out, s, n + 1);
        return 0;
}

static int get_hex(const struct pctx *c, const cJSON *obj, const char *key, uint8_t *out,
                   size_t len) {
        const char *s;
        int r;

        r = get_string(c, obj, key, &s);
        if (r < 0)
                return r;
        if (umc_hex_decode(s, strlen(s), out, len) < 0)
                return refuse(c->why, c->why_size, "%s: \"%s\" must be %zu hex digits", c->where,
                              key, 2 * len);
        return 0;
}

/* ---- time ---- */

/* A fixed-width field of decimal digits, e.g. the "05" of the month. */
static bool field(const char *s, size_t n, int *ret) {
        uint64_t v;

        if (umc_parse_uint(s, n, 9999, &v) < 0)
                return false;
        *ret = (int)v;
        return true;
}

int umc_package_time_parse(const char *s, int64_t *ret) {
        struct tm tm = {}, back;
        time_t t;

        if (!s || !ret || strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
            s[13] != ':' || s[16] != ':' || s[19] != 'Z' || !field(s, 4, &tm.tm_year) ||
            !field(s + 5, 2, &tm.tm_mon) || !field(s + 8, 2, &tm.tm_mday) ||
            !field(s + 11, 2, &tm.tm_hour) || !field(s + 14, 2, &tm.tm_min) ||
            !field(s + 17, 2, &tm.tm_sec))
                return -EINVAL;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        if (tm.tm_year < 70)
                return -EINVAL;
        back = tm;
        t = timegm(&tm);
        /* timegm() normalises 2027-02-30 into March: a date that moved was impossible. */
        if (t == (time_t)-1 || tm.tm_year != back.tm_year || tm.tm_mon != back.tm_mon ||
            tm.tm_mday != back.tm_mday || tm.tm_hour != back.tm_hour ||
            tm.tm_min != back.tm_min || tm.tm_sec != back.tm_sec)
                return -EINVAL;
        *ret = (int64_t)t;
        return 0;
}

int umc_package_time_format(int64_t t, char out[21]) {
        struct tm tm;
        time_t tt = (time_t)t;

        if (t < 0 || t > INT64_C(253402300799) || !gmtime_r(&tt, &tm))
                return -EINVAL;
        if (strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
                return -EINVAL;
        return 0;
}

/* ---- the manifest ---- */

static int parse_post_flash(const struct pctx *pc, const cJSON *obj,
                            struct umc_package_image *img) {
        static const char *const keys[] = { "timeout_sec", "material", NULL };
        const cJSON *v;
        uint64_t t;
        int r;

        if ((r = only_keys(pc, obj, keys)) < 0)
                return r;
        img->has_post_flash = true;
        if (cJSON_GetObjectItemCaseSensitive(obj, "timeout_sec")) {
                r = get_uint(pc, obj, "timeout_sec", 1, UMC_PACKAGE_TIMEOUT_MAX, &t);
                if (r < 0)
                        return r;
                img->post_flash_timeout_sec = (uint32_t)t;
        }
        v = cJSON_GetObjectItemCaseSensitive(obj, "material");
        if (v) {
                const char *s;
                size_t n;

                if ((r = get_string(pc, obj, "material", &s)) < 0)
                        return r;
                n = strlen(s);
                if (n == 0 || n % 2 || n / 2 > UMC_PACKAGE_MATERIAL_MAX ||
                    umc_hex_decode(s, n, img->material, n / 2) < 0)
                        return refuse(pc->why, pc->why_size, "%s: \"material\" must be 2..%d "
                                      "hex digits, an even number", pc->where,
                                      2 * UMC_PACKAGE_MATERIAL_MAX);
                img->material_len = n / 2;
        }
        return 0;
}

static int parse_encryption(const struct pctx *pc, const cJSON *obj,
                            struct umc_package_image *img) {
        static const char *const keys[] = { "aead", "kdf", "segment_size", "salt", "plain_size",
                                            "plain_sha256", NULL };
        const char *aead, *kdf;
        uint64_t seg, sealed;
        int r;

        if ((r = only_keys(pc, obj, keys)) < 0 || (r = get_string(pc, obj, "aead", &aead)) < 0 ||
            (r = get_string(pc, obj, "kdf", &kdf)) < 0 ||
            (r = get_uint(pc, obj, "segment_size", 0, UINT32_MAX, &seg)) < 0 ||
            (r = get_hex(pc, obj, "salt", img->salt, sizeof(img->salt))) < 0 ||
            (r = get_uint(pc, obj, "plain_size", 1, UMC_MANIFEST_IMAGE_MAX_SIZE,
                          &img->plain_size)) < 0 ||
            (r = get_hex(pc, obj, "plain_sha256", img->plain_sha256, UMC_HASH_LEN)) < 0)
                return r;
        if (strcmp(aead, "AES-256-GCM") != 0)
                return refuse(pc->why, pc->why_size, "%s: \"aead\" must be \"AES-256-GCM\"",
                              pc->where);
        if (strcmp(kdf, "HKDF-SHA256") != 0)
                return refuse(pc->why, pc->why_size, "%s: \"kdf\" must be \"HKDF-SHA256\"",
                              pc->where);
        if (seg != UMC_PKGENC_SEGMENT)
                return refuse(pc->why, pc->why_size, "%s: \"segment_size\" must be %u", pc->where,
                              UMC_PKGENC_SEGMENT);
        if (umc_pkgenc_sealed_size(img->plain_size, &sealed) < 0 || sealed != img->size)
                return refuse(pc->why, pc->why_size, "%s: \"plain_size\" %" PRIu64 " does not "
                              "seal to \"size\" %" PRIu64, pc->where, img->plain_size, img->size);
        img->encrypted = true;
        return 0;
}

/* The optional parts of an image: downgrade permission, post-flash, encryption. */
static int parse_image_options(const struct pctx *pc, const cJSON *obj, uint64_t security_version,
                               struct umc_package_image *img) {
        struct pctx sub = *pc;
        char where[64];
        const cJSON *o;
        int r;

        if (cJSON_GetObjectItemCaseSensitive(obj, "downgrade_max")) {
                r = get_uint(pc, obj, "downgrade_max", 0, UMC_PACKAGE_SECURITY_VERSION_MAX,
                             &img->downgrade_max);
                if (r < 0)
                        return r;
                if (img->downgrade_max <= security_version)
                        return refuse(pc->why, pc->why_size, "%s: \"downgrade_max\" must be above "
                                      "the security version %" PRIu64 " (else it permits nothing)",
                                      pc->where, security_version);
                img->has_downgrade = true;
        }
        sub.where = where;
        (void)snprintf(where, sizeof(where), "%s.post_flash", pc->where);
        if ((r = get_object(pc, obj, "post_flash", true, &o)) < 0 ||
            (o && (r = parse_post_flash(&sub, o, img)) < 0))
                return r;
        (void)snprintf(where, sizeof(where), "%s.encryption", pc->where);
        if ((r = get_object(pc, obj, "encryption", true, &o)) < 0 ||
            (o && (r = parse_encryption(&sub, o, img)) < 0))
                return r;
        return 0;
}

static int parse_image(const struct pctx *pc0, const cJSON *obj, size_t idx,
                       uint64_t security_version, struct umc_package_image *img) {
        static const char *const keys[] = { "target", "ecu_id", "hw_id", "version", "file",
                                            "size", "sha256", "downgrade_max", "post_flash",
                                            "encryption", NULL };
        struct pctx pc = *pc0;
        char where[32];
        uint64_t ecu_id;
        int r;

        (void)snprintf(where, sizeof(where), "images[%zu]", idx);
        pc.where = where;
        if (!cJSON_IsObject(obj))
                return refuse(pc.why, pc.why_size, "%s: must be an object", where);
        if ((r = only_keys(&pc, obj, keys)) < 0 ||
            (r = get_text(&pc, obj, "target", UMC_MANIFEST_TARGET_MAX, false, img->target)) < 0 ||
            (r = get_uint(&pc, obj, "ecu_id", 0, UINT32_MAX, &ecu_id)) < 0 ||
            (r = get_text(&pc, obj, "hw_id", UMC_HWID_MAX, true, img->hw_id)) < 0 ||
            (r = get_text(&pc, obj, "version", UMC_PACKAGE_TEXT_MAX, false, img->version)) < 0 ||
            (r = get_text(&pc, obj, "file", UMC_MANIFEST_FILE_MAX, false, img->file)) < 0 ||
            (r = get_uint(&pc, obj, "size", 1, UMC_MANIFEST_IMAGE_MAX_SIZE, &img->size)) < 0 ||
            (r = get_hex(&pc, obj, "sha256", img->sha256, UMC_HASH_LEN)) < 0)
                return r;
        img->ecu_id = (uint32_t)ecu_id;
        if (!umc_name_target_valid(img->target))
                return refuse(pc.why, pc.why_size, "%s: \"target\" must be 1..%d of [A-Za-z0-9_-]",
                              where, UMC_MANIFEST_TARGET_MAX);
        if (img->file[0] == '.' || strspn(img->file, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                          "qrstuvwxyz0123456789._-+") != strlen(img->file) ||
            strcmp(img->file, UMC_PACKAGE_MANIFEST) == 0 ||
            strcmp(img->file, UMC_PACKAGE_SIGNATURE) == 0 ||
            strcmp(img->file, UMC_PACKAGE_SIGNATURE_SM2) == 0)
                return refuse(pc.why, pc.why_size, "%s: \"file\" must be a plain name of "
                              "[A-Za-z0-9._+-], not starting with '.', not the manifest's", where);
        return parse_image_options(&pc, obj, security_version, img);
}

/* Two entries for one target, ECU or file would let two readers pick different ones. */
static int check_unique(const struct pctx *pc, const struct umc_package *p, size_t i) {
        const struct umc_package_image *a = &p->images[i];

        for (size_t j = 0; j < i; j++) {
                const struct umc_package_image *b = &p->images[j];

                if (strcmp(a->target, b->target) == 0)
                        return refuse(pc->why, pc->why_size, "images[%zu]: target \"%s\" listed "
                                      "twice", i, a->target);
                if (a->ecu_id == b->ecu_id)
                        return refuse(pc->why, pc->why_size, "images[%zu]: ecu_id %" PRIu32
                                      " listed twice", i, a->ecu_id);
                if (strcmp(a->file, b->file) == 0)
                        return refuse(pc->why, pc->why_size, "images[%zu]: file \"%s\" listed "
                                      "twice", i, a->file);
        }
        return 0;
}

static int parse_images(const struct pctx *pc, const cJSON *root, struct umc_package *p) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "images");
        int n, r;

        if (!arr)
                return refuse(pc->why, pc->why_size, "manifest: \"images\" is missing");
        if (!cJSON_IsArray(arr))
                return refuse(pc->why, pc->why_size, "manifest: \"images\" must be an array");
        n = cJSON_GetArraySize(arr);
        if (n < 1 || n > UMC_PACKAGE_MAX_IMAGES)
                return refuse(pc->why, pc->why_size, "manifest: \"images\" must hold 1..%d "
                              "entries", UMC_PACKAGE_MAX_IMAGES);
        p->images = calloc((size_t)n, sizeof(*p->images));
        if (!p->images)
                return -ENOMEM;
        for (const cJSON *it = arr->child; it; it = it->next) {
                r = parse_image(pc, it, p->n_images, p->security_version, &p->images[p->n_images]);
                if (r >= 0)
                        r = check_unique(pc, p, p->n_images);
                if (r < 0)
                        return r;
                p->n_images++;
        }
        return 0;
}

/* "feature_code": {"key_id", "nonce", "ciphertext"} (featcode.h); opened only by a device. */
static int parse_feature_code(const struct pctx *pc0, const cJSON *obj,
                              struct umc_featcode_sealed *fc) {
        static const char *const keys[] = { "key_id", "nonce", "ciphertext", NULL };
        struct pctx pc = *pc0;
        const char *key_id, *ct;
        size_t n;
        int r;

        pc.where = "manifest.feature_code";
        if ((r = only_keys(&pc, obj, keys)) < 0 ||
            (r = get_string(&pc, obj, "key_id", &key_id)) < 0 ||
            (r = get_hex(&pc, obj, "nonce", fc->nonce, sizeof(fc->nonce))) < 0 ||
            (r = get_string(&pc, obj, "ciphertext", &ct)) < 0)
                return r;
        if (!umc_featcode_key_id_valid(key_id))
                return refuse(pc.why, pc.why_size, "%s: \"key_id\" must be 1..%d of "
                              "[A-Za-z0-9._-]", pc.where, UMC_FEATCODE_KEY_ID_MAX);
        memcpy(fc->key_id, key_id, strlen(key_id) + 1);
        n = strlen(ct);
        if (n % 2 || n / 2 < UMC_FEATCODE_CT_MIN || n / 2 > UMC_FEATCODE_CT_MAX ||
            umc_hex_decode(ct, n, fc->ct, n / 2) < 0)
                return refuse(pc.why, pc.why_size, "%s: \"ciphertext\" must be %d..%d hex digits "
                              "(a 1..%d character code and its %d-byte tag), an even number",
                              pc.where, 2 * UMC_FEATCODE_CT_MIN, 2 * UMC_FEATCODE_CT_MAX,
                              UMC_FEATCODE_MAX, UMC_FEATCODE_TAG_LEN);
        fc->ct_len = n / 2;
        return 0;
}

static int parse_head(const struct pctx *pc, const cJSON *root, struct umc_package *p) {
        static const char *const keys[] = { "format", "name", "package_version",
                                            "security_version", "expires", "vehicle",
                                            "feature_code", "images", NULL };
        static const char *const vkeys[] = { "model", "hw_revision", NULL };
        struct pctx vc = *pc;
        const cJSON *vehicle, *fc;
        const char *expires;
        uint64_t format;
        int r;

        if ((r = only_keys(pc, root, keys)) < 0 ||
            (r = get_uint(pc, root, "format", 0, 1000, &format)) < 0)
                return r;
        if (format != UMC_PACKAGE_FORMAT)
                return refuse(pc->why, pc->why_size, "manifest: format %" PRIu64 " is not "
                              "supported here (expected %d)", format, UMC_PACKAGE_FORMAT);
        if ((r = get_text(pc, root, "name", UMC_PACKAGE_TEXT_MAX, true, p->name)) < 0 ||
            (r = get_text(pc, root, "package_version", UMC_PACKAGE_TEXT_MAX, false,
                          p->package_version)) < 0 ||
            (r = get_uint(pc, root, "security_version", 0, UMC_PACKAGE_SECURITY_VERSION_MAX,
                          &p->security_version)) < 0 ||
            (r = get_string(pc, root, "expires", &expires)) < 0)
                return r;
        if (umc_package_time_parse(expires, &p->expires) < 0)
                return refuse(pc->why, pc->why_size, "manifest: \"expires\" must be a UTC time "
                              "as YYYY-MM-DDTHH:MM:SSZ");
        vc.where = "manifest.vehicle";
        if ((r = get_object(pc, root, "vehicle", false, &vehicle)) < 0 ||
            (r = only_keys(&vc, vehicle, vkeys)) < 0 ||
            (r = get_text(&vc, vehicle, "model", UMC_PACKAGE_TEXT_MAX, true,
                          p->vehicle_model)) < 0 ||
            (r = get_text(&vc, vehicle, "hw_revision", UMC_PACKAGE_TEXT_MAX, true,
                          p->hw_revision)) < 0 ||
            (r = get_object(pc, root, "feature_code", true, &fc)) < 0)
                return r;
        if (!fc)
                return 0;
        p->has_feature_code = true;
        return parse_feature_code(pc, fc, &p->feature_code);
}

static void cjson_deletep(cJSON **p) {
        cJSON_Delete(*p);
}

/* Bytes cJSON would never see or would read differently: refuse them before parsing. */
static int check_bytes(const char *json, size_t len, char *why, size_t why_size) {
        const char *nul;

        if (len > UMC_PACKAGE_MAX_BYTES)
                return -E2BIG;
        if (len == 0)
                return refuse(why, why_size, "manifest: empty");
        nul = memchr(json, '\0', len);
        if (nul)
                return refuse(why, why_size, "manifest: NUL byte at offset %td", nul - json);
        return 0;
}

int umc_package_parse(const char *json, size_t len, struct umc_package *ret, char *why,
                      size_t why_size) {
        _cleanup_(cjson_deletep) cJSON *root = NULL;
        struct pctx pc = { "manifest", why, why_size };
        struct umc_package p = {};
        const char *end = NULL;
        int r;

        if (!json || !ret)
                return -EINVAL;
        r = check_bytes(json, len, why, why_size);
        if (r < 0)
                return r;
        root = cJSON_ParseWithLengthOpts(json, len, &end, false);
        if (!root)
                return refuse(why, why_size, "manifest: not valid JSON near byte %td",
                              end ? end - json : (ptrdiff_t)0);
        if (end != json + len)
                return refuse(why, why_size, "manifest: %td bytes after the JSON document",
                              json + len - end);
        if (!cJSON_IsObject(root))
                return refuse(why, why_size, "manifest: top level must be an object");
        r = parse_head(&pc, root, &p);
        if (r >= 0)
                r = parse_images(&pc, root, &p);
        if (r >= 0)
                r = umc_hash_oneshot(UMC_HASH_SHA256, json, len, p.hash);
        if (r < 0) {
                umc_package_free(&p);
                return r;
        }
        *ret = p;
        return 0;
}

void umc_package_free(struct umc_package *p) {
        if (!p)
                return;
        free(p->images);
        p->images = NULL;
        p->n_images = 0;
}

const struct umc_package_image *umc_package_find(const struct umc_package *p, const char *target) {
        for (size_t i = 0; p && target && i < p->n_images; i++)
                if (strcmp(p->images[i].target, target) == 0)
                        return &p->images[i];
        return NULL;
}

const struct umc_package_image *umc_package_find_ecu(const struct umc_package *p, uint32_t ecu_id) {
        for (size_t i = 0; p && i < p->n_images; i++)
                if (p->images[i].ecu_id == ecu_id)
                        return &p->images[i];
        return NULL;
}

/* ---- loading a package directory ---- */

static int read_part(int dfd, const char *name, size_t max, char **ret, size_t *ret_len,
                     char *why, size_t why_size) {
        int r = umc_fs_read_file(dfd, name, max, ret, ret_len);

        if (r == -EFBIG)
                (void)refuse(why, why_size, "%s: larger than %zu bytes", name, max);
        else if (r == -ELOOP)
                (void)refuse(why, why_size, "%s: is a symbolic link", name);
        else if (r == -EISDIR || r == -EBADFD)
                (void)refuse(why, why_size, "%s: not a regular file", name);
        else if (r < 0)
                (void)refuse(why, why_size, "%s: %s", name, strerror(-r));
        return r;
}

static int load_refused(enum umc_reason reason, enum umc_reason *ret_reason) {
        *ret_reason = reason;
        return -EBADMSG;
}

/* Which signature file the package has: exactly one of the two, or -EEXIST for both. */
static int signature_file(int dfd, enum umc_sig_format *ret) {
        struct stat st;
        bool cms = fstatat(dfd, UMC_PACKAGE_SIGNATURE, &st, AT_SYMLINK_NOFOLLOW) == 0;
        bool sm2 = fstatat(dfd, UMC_PACKAGE_SIGNATURE_SM2, &st, AT_SYMLINK_NOFOLLOW) == 0;

        if (cms && sm2)
                return -EEXIST;
        *ret = sm2 ? UMC_SIG_SM2 : UMC_SIG_CMS;
        return 0;
}

/* The bytes of one package: the manifest and its one signature, as read. */
struct signed_bytes {
        char *json, *sig;               /* owned */
        size_t len, sig_len;
        enum umc_sig_format format;
};

static void signed_bytes_done(struct signed_bytes *b) {
        free(b->json);
        free(b->sig);
}

/* Read both files of dfd (bounded); a refusal is -EBADMSG with *ret_reason. */
static int read_signed(int dfd, struct signed_bytes *b, enum umc_reason *ret_reason, char *why,
                       size_t why_size) {
        int r;

        if (signature_file(dfd, &b->format) < 0) {
                (void)refuse(why, why_size, "both %s and %s: a package has one signature",
                             UMC_PACKAGE_SIGNATURE, UMC_PACKAGE_SIGNATURE_SM2);
                return load_refused(UMC_REASON_PKG_SIG_MALFORMED, ret_reason);
        }
        r = read_part(dfd, UMC_PACKAGE_MANIFEST, UMC_PACKAGE_MAX_BYTES, &b->json, &b->len, why,
                      why_size);
        if (r >= 0)
                r = read_part(dfd, b->format == UMC_SIG_SM2 ? UMC_PACKAGE_SIGNATURE_SM2
                                                            : UMC_PACKAGE_SIGNATURE,
                              UMC_SIG_MAX_BYTES, &b->sig, &b->sig_len, why, why_size);
        if (r == -EFBIG)
                return load_refused(b->json ? UMC_REASON_PKG_SIG_MALFORMED
                                            : UMC_REASON_PKG_MALFORMED, ret_reason);
        return r;
}

int umc_package_load(const char *dir, const struct umc_sig_trust *trust, int64_t now,
                     struct umc_package *ret, struct umc_sig_signer *ret_signer,
                     enum umc_reason *ret_reason, char *why, size_t why_size) {
        _cleanup_close_ int dfd = -1;
        int r;

        if (!dir || !trust || !ret || !ret_reason)
                return -EINVAL;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                return fail(why, why_size, r, "%s: %s", dir, strerror(-r));
        }
        return umc_package_load_at(dfd, trust, now, ret, ret_signer, ret_reason, why, why_size);
}

int umc_package_load_at(int dfd, const struct umc_sig_trust *trust, int64_t now,
                        struct umc_package *ret, struct umc_sig_signer *ret_signer,
                        enum umc_reason *ret_reason, char *why, size_t why_size) {
        _cleanup_(signed_bytes_done) struct signed_bytes b = {};
        struct umc_sig_signer signer;
        struct umc_package p;
        enum umc_reason reason;
        int r;

        if (dfd < 0 || !trust || !ret || !ret_reason)
                return -EINVAL;
        r = read_signed(dfd, &b, ret_reason, why, why_size);
        if (r < 0)
                return r;
        /* The signature first: the JSON parser sees only authenticated bytes. */
        r = (b.format == UMC_SIG_SM2 ? umc_sig_verify_sm2 : umc_sig_verify)(
                trust, b.json, b.len, b.sig, b.sig_len, now, &signer, &reason, why, why_size);
        if (r == -EBADMSG)
                return load_refused(reason, ret_reason);
        if (r < 0)
                return r;
        if (ret_signer)
                *ret_signer = signer;
        r = umc_package_parse(b.json, b.len, &p, why, why_size);
        if (r == -EINVAL || r == -E2BIG)
                return load_refused(UMC_REASON_PKG_MALFORMED, ret_reason);
        if (r < 0)
                return r;
        reason = umc_package_check_expiry(&p, now, why, why_size);
        if (reason != UMC_REASON_OK) {
                umc_package_free(&p);
                return load_refused(reason, ret_reason);
        }
        *ret = p;
        *ret_reason = UMC_REASON_OK;
        return 0;
}

/* ---- the checks ---- */

enum umc_reason umc_package_check_expiry(const struct umc_package *p, int64_t now, char *why,
                                         size_t why_size) {
        char exp[21] = "?", at[21] = "?";

        if (now < p->expires)
                return UMC_REASON_OK;
        (void)umc_package_time_format(p->expires, exp);
        (void)umc_package_time_format(now, at);
        return deny(UMC_REASON_PKG_EXPIRED, why, why_size,
                    "package %s expired at %s (now %s)", p->name, exp, at);
}

enum umc_reason umc_package_check_factory(const struct umc_package *p, const char *model,
                                          const char *hw_revision, char *why, size_t why_size) {
        if (!model || strcmp(p->vehicle_model, model) != 0)
                return deny(UMC_REASON_PKG_FACTORY_MISMATCH, why, why_size,
                            "package is for vehicle model \"%s\", this is \"%s\"",
                            p->vehicle_model, model ? model : "(unset)");
        if (!hw_revision || strcmp(p->hw_revision, hw_revision) != 0)
                return deny(UMC_REASON_PKG_FACTORY_MISMATCH, why, why_size,
                            "package is for hardware revision \"%s\", this is \"%s\"",
                            p->hw_revision, hw_revision ? hw_revision : "(unset)");
        return UMC_REASON_OK;
}

enum umc_reason umc_package_check_feature(const struct umc_package *p,
                                          const uint8_t feature_key[UMC_FEATCODE_KEY_LEN],
                                          const char *code, char *why, size_t why_size) {
        char plain[UMC_FEATCODE_MAX + 1] = {};
        enum umc_reason reason = UMC_REASON_OK;
        int r;

        if (!p->has_feature_code)
                return deny(UMC_REASON_PKG_FEATURE_MISMATCH, why, why_size,
                            "package %s carries no feature code, and this device checks it",
                            p->name);
        if (!feature_key || !umc_featcode_valid(code))
                return deny(UMC_REASON_PKG_FEATURE_MISMATCH, why, why_size,
                            "this device has no valid feature code and key to check it with");
        r = umc_featcode_open(feature_key, p->name, p->package_version, &p->feature_code, plain);
        if (r < 0)
                reason = deny(UMC_REASON_PKG_FEATURE_MISMATCH, why, why_size,
                              "package %s %s: feature code (key ID \"%s\") does not decrypt and "
                              "authenticate with this device's feature key for this package%s",
                              p->name, p->package_version, p->feature_code.key_id,
                              r == -EBADMSG ? "" : " (internal error)");
        else if (!umc_featcode_equal(plain, code))
                reason = deny(UMC_REASON_PKG_FEATURE_MISMATCH, why, why_size,
                              "package %s %s is for another feature code than this device's",
                              p->name, p->package_version);
        umc_memzero(plain, sizeof(plain));
        return reason;
}

enum umc_reason umc_package_check_ecu(const struct umc_package *p, uint32_t ecu_id,
                                      const char *hw_id, const struct umc_package_image **ret,
                                      char *why, size_t why_size) {
        const struct umc_package_image *img = umc_package_find_ecu(p, ecu_id);
        char mine[UMC_HWID_MAX + 1] = {};

        if (!img)
                return deny(UMC_REASON_PKG_NO_TARGET, why, why_size,
                            "package has no image for ECU 0x%" PRIx32, ecu_id);
        /* Whole fixed-size buffers: the compare's time tells nothing about the ID. */
        if (hw_id && strlen(hw_id) <= UMC_HWID_MAX)
                memcpy(mine, hw_id, strlen(hw_id));
        if (!hw_id || !hw_id[0] || !umc_memeq_ct(mine, img->hw_id, sizeof(mine)))
                return deny(UMC_REASON_PKG_HW_MISMATCH, why, why_size,
                            "image %s is for hardware ID \"%s\", ECU 0x%" PRIx32 " is not",
                            img->target, img->hw_id, ecu_id);
        if (ret)
                *ret = img;
        return UMC_REASON_OK;
}

enum umc_reason umc_package_check_rollback(const struct umc_package *p,
                                           const struct umc_package_image *img,
                                           uint64_t installed, char *why, size_t why_size) {
        if (p->security_version >= installed)
                return UMC_REASON_OK;
        if (img->has_downgrade && img->downgrade_max >= installed)
                return UMC_REASON_OK;
        if (img->has_downgrade)
                return deny(UMC_REASON_PKG_ROLLBACK, why, why_size,
                            "%s: security version %" PRIu64 " is below the installed %" PRIu64
                            " and the downgrade permission covers only up to %" PRIu64,
                            img->target, p->security_version, installed, img->downgrade_max);
        return deny(UMC_REASON_PKG_ROLLBACK, why, why_size,
                    "%s: security version %" PRIu64 " is below the installed %" PRIu64
                    " and the package carries no downgrade permission for it",
                    img->target, p->security_version, installed);
}

enum umc_reason umc_package_check_image(const struct umc_package_image *img, uint64_t size,
                                        const uint8_t sha256[UMC_HASH_LEN], char *why,
                                        size_t why_size) {
        if (size != img->size)
                return deny(UMC_REASON_PKG_IMAGE_SIZE, why, why_size,
                            "%s: %" PRIu64 " bytes, the manifest says %" PRIu64, img->file, size,
                            img->size);
        if (!umc_memeq_ct(sha256, img->sha256, UMC_HASH_LEN))
                return deny(UMC_REASON_IMAGE_HASH_MISMATCH, why, why_size,
                            "%s: SHA-256 differs from the manifest's", img->file);
        return UMC_REASON_OK;
}

/* Hash at most limit bytes of fd; *ret_size says how many there were (up to limit). */
static int hash_fd(int fd, uint64_t limit, uint64_t *ret_size, uint8_t out[UMC_HASH_LEN]) {
        struct umc_hash h = {};
        uint8_t buf[65536];
        uint64_t total = 0;
        int r;

        r = umc_hash_init(&h, UMC_HASH_SHA256);
        while (r >= 0 && total < limit) {
                size_t want = limit - total < sizeof(buf) ? (size_t)(limit - total) : sizeof(buf);
                ssize_t n = read(fd, buf, want);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        r = -errno;
                else if (n == 0)
                        break;
                else
                        r = umc_hash_update(&h, buf, (size_t)n), total += (uint64_t)n;
        }
        if (r >= 0)
                r = umc_hash_final(&h, out);
        umc_hash_done(&h);
        if (r >= 0)
                *ret_size = total;
        return r;
}

static int open_image(int dirfd, const struct umc_package_image *img, char *why,
                      size_t why_size) {
        struct stat st;
        int fd, r;

        /* O_NONBLOCK: a FIFO planted as an image must not block. */
        fd = openat(dirfd, img->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                return fail(why, why_size, r, "%s: %s", img->file, strerror(-r));
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                (void)close(fd);
                return refuse(why, why_size, "%s: not a regular file", img->file);
        }
        return fd;
}

int umc_package_check_image_file(int dirfd, const struct umc_package_image *img,
                                 enum umc_reason *ret_reason, char *why, size_t why_size) {
        _cleanup_close_ int fd = -1;
        uint8_t sha[UMC_HASH_LEN];
        uint64_t size;
        int r;

        if (!img || !ret_reason)
                return -EINVAL;
        fd = open_image(dirfd, img, why, why_size);
        if (fd < 0)
                return fd;
        /* One byte past the size tells "too long" without reading an endless file. */
        r = hash_fd(fd, img->size + 1, &size, sha);
        if (r < 0)
                return fail(why, why_size, r, "%s: %s", img->file, strerror(-r));
        *ret_reason = umc_package_check_image(img, size, sha, why, why_size);
        return 0;
}

int umc_package_check_sealed_file(int dirfd, const struct umc_package_image *img,
                                  const uint8_t pkg_key[UMC_PKGENC_KEY_LEN],
                                  enum umc_reason *ret_reason, char *why, size_t why_size) {
        _cleanup_close_ int fd = -1;
        struct umc_key key = {};
        uint8_t sha[UMC_HASH_LEN];
        uint64_t size;
        int r;

        if (!img || !img->encrypted || !pkg_key || !ret_reason)
                return -EINVAL;
        fd = open_image(dirfd, img, why, why_size);
        if (fd < 0)
                return fd;
        r = umc_pkgenc_derive(pkg_key, img->salt, img->ecu_id, img->target, &key);
        if (r >= 0)
                r = umc_pkgenc_open_fd(&key, fd, img->size, -1, &size, sha);
        umc_key_clear(&key);
        if (r == -EBADMSG) {
                *ret_reason = deny(UMC_REASON_PKG_DECRYPT_FAILED, why, why_size,
                                   "%s: does not decrypt and authenticate with ECU 0x%" PRIx32
                                   "'s package key (wrong key, tampered or truncated)",
                                   img->file, img->ecu_id);
                return 0;
        }
        if (r < 0)
                return fail(why, why_size, r, "%s: %s", img->file, strerror(-r));
        if (size != img->plain_size)
                *ret_reason = deny(UMC_REASON_PKG_IMAGE_SIZE, why, why_size,
                                   "%s: decrypts to %" PRIu64 " bytes, the manifest says %" PRIu64,
                                   img->file, size, img->plain_size);
        else if (!umc_memeq_ct(sha, img->plain_sha256, UMC_HASH_LEN))
                *ret_reason = deny(UMC_REASON_IMAGE_HASH_MISMATCH, why, why_size,
                                   "%s: decrypted image's SHA-256 differs from the manifest's",
                                   img->file);
        else
                *ret_reason = UMC_REASON_OK;
        return 0;
}

int umc_package_to_manifest(const struct umc_package *p, struct umc_manifest *ret) {
        struct umc_manifest m = {};

        m.images = calloc(p->n_images, sizeof(*m.images));
        if (!m.images)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_images; i++) {
                struct umc_manifest_image *d = &m.images[i];
                const struct umc_package_image *s = &p->images[i];

                memcpy(d->target, s->target, sizeof(d->target));
                memcpy(d->version, s->version, sizeof(d->version));
                memcpy(d->file, s->file, sizeof(d->file));
                d->size = s->size;
                memcpy(d->sha256, s->sha256, UMC_HASH_LEN);
        }
        m.n_images = p->n_images;
        memcpy(m.name, p->name, sizeof(m.name));
        memcpy(m.hash, p->hash, UMC_HASH_LEN);
        *ret = m;
        return 0;
}
