/* SPDX-License-Identifier: MIT */
#include "umc/manifest.h"

#include <cJSON.h>
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "umc/fs.h"
#include "umc/names.h"
#include "umc/util.h"

/* A check of the input failed: the reason into why, -EINVAL back. */
#define refuse(why, why_size, ...) umc_why(why, why_size, -EINVAL, __VA_ARGS__)

static bool printable(const char *s, size_t max, bool allow_space) {
        size_t n = strlen(s);

        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c > 0x7e || (!allow_space && c == ' '))
                        return false;
        }
        return true;
}

/* A plain file name inside the package: no path, no hidden files, no "..". */
static bool valid_file(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > UMC_MANIFEST_FILE_MAX || s[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr("._-+", s[i]))
                        return false;
        return true;
}

/* Unknown or repeated keys: cJSON keeps duplicates, and two readers could pick different ones. */
static bool only_keys(const cJSON *obj, const char *const *keys, const char **ret_bad) {
        const cJSON *it, *prev;

        cJSON_ArrayForEach(it, obj) {
                for (prev = obj->child; prev != it; prev = prev->next)
                        if (it->string && prev->string && strcmp(it->string, prev->string) == 0) {
                                *ret_bad = it->string;
                                return false;
                        }
                bool known = false;
                for (size_t i = 0; keys[i]; i++)
                        if (it->string && strcmp(it->string, keys[i]) == 0)
                                known = true;
                if (!known) {
                        *ret_bad = it->string ? it->string : "";
                        return false;
                }
        }
        return true;
}

static int get_string(const cJSON *obj, const char *key, const char *ctx, const char **ret,
                      char *why, size_t why_size) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

        if (!v)
                return refuse(why, why_size, "%s: \"%s\" is missing", ctx, key);
        if (!cJSON_IsString(v) || !v->valuestring)
                return refuse(why, why_size, "%s: \"%s\" must be a string", ctx, key);
        *ret = v->valuestring;
        return 0;
}

/* JSON numbers are doubles: accept only integers that a double holds exactly. */
static int get_u64(const cJSON *obj, const char *key, const char *ctx, uint64_t max,
                   uint64_t *ret, char *why, size_t why_size) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
        double d;

        if (!v)
                return refuse(why, why_size, "%s: \"%s\" is missing", ctx, key);
        if (!cJSON_IsNumber(v))
                return refuse(why, why_size, "%s: \"%s\" must be a number", ctx, key);
        d = v->valuedouble;
        if (!(d >= 0) || d > (double)max || d != (double)(uint64_t)d)
                return refuse(why, why_size, "%s: \"%s\" must be an integer 0..%llu", ctx, key,
                              (unsigned long long)max);
        *ret = (uint64_t)d;
        return 0;
}

static int parse_image(const cJSON *obj, size_t idx, struct umc_manifest_image *img, char *why,
                       size_t why_size) {
        static const char *const keys[] = { "target", "version", "file", "size", "sha256", NULL };
        const char *target, *version, *file, *sha, *bad;
        char ctx[32];
        int r;

        (void)snprintf(ctx, sizeof(ctx), "images[%zu]", idx);
        if (!cJSON_IsObject(obj))
                return refuse(why, why_size, "%s: must be an object", ctx);
        if (!only_keys(obj, keys, &bad))
                return refuse(why, why_size, "%s: unknown or repeated key \"%s\"", ctx, bad);
        if ((r = get_string(obj, "target", ctx, &target, why, why_size)) < 0 ||
            (r = get_string(obj, "version", ctx, &version, why, why_size)) < 0 ||
            (r = get_string(obj, "file", ctx, &file, why, why_size)) < 0 ||
            (r = get_string(obj, "sha256", ctx, &sha, why, why_size)) < 0 ||
            (r = get_u64(obj, "size", ctx, UMC_MANIFEST_IMAGE_MAX_SIZE, &img->size, why,
                         why_size)) < 0)
                return r;
        if (!umc_name_target_valid(target))
                return refuse(why, why_size, "%s: target must be 1..%d of [A-Za-z0-9_-]", ctx,
                              UMC_MANIFEST_TARGET_MAX);
        if (!umc_name_version_valid(version))
                return refuse(why, why_size, "%s: version must be 1..%d printable characters without spaces",
                              ctx, UMC_MANIFEST_NAME_MAX);
        if (!valid_file(file))
                return refuse(why, why_size,
                              "%s: file must be a plain name of [A-Za-z0-9._+-], not starting with '.'", ctx);
        if (img->size == 0)
                return refuse(why, why_size, "%s: size must not be 0", ctx);
        if (umc_hex_decode(sha, strlen(sha), img->sha256, sizeof(img->sha256)) < 0)
                return refuse(why, why_size, "%s: sha256 must be 64 hex digits", ctx);
        strcpy(img->target, target);
        strcpy(img->version, version);
        strcpy(img->file, file);
        return 0;
}

static int parse_images(const cJSON *arr, struct umc_manifest *m, char *why, size_t why_size) {
        int n, r;

        if (!cJSON_IsArray(arr))
                return refuse(why, why_size, "\"images\" must be an array");
        n = cJSON_GetArraySize(arr);
        if (n < 1 || n > UMC_MANIFEST_MAX_IMAGES)
                return refuse(why, why_size, "\"images\" must hold 1..%d entries",
                              UMC_MANIFEST_MAX_IMAGES);
        m->images = calloc((size_t)n, sizeof(*m->images));
        if (!m->images)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                r = parse_image(cJSON_GetArrayItem(arr, i), (size_t)i, &m->images[i], why, why_size);
                if (r < 0)
                        return r;
                for (int j = 0; j < i; j++)
                        if (strcmp(m->images[j].target, m->images[i].target) == 0)
                                return refuse(why, why_size, "images[%d]: target \"%s\" listed twice",
                                              i, m->images[i].target);
                m->n_images++;
        }
        return 0;
}

static bool json_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool only_whitespace(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!json_space(s[i]))
                        return false;
        return true;
}

/*
 * What cJSON lets through but RFC 8259 does not, and where two readers
 * would then see different manifests: a control character outside the
 * JSON whitespace (cJSON skips any byte <= 0x20 between tokens and keeps
 * raw ones in strings), and \u0000 in a string (cJSON's C string ends
 * there, "bcm\u0000x" is "bcm" to us and not to others).
 */
static int text_check(const char *json, size_t len, char *why, size_t why_size) {
        bool in_string = false;

        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)json[i];

                if (c < 0x20 && !json_space((char)c))
                        return refuse(why, why_size, "control character at byte %zu", i);
                if (c == '"')
                        in_string = !in_string;
                else if (c == '\\' && in_string && i + 1 < len) {
                        if (len - i >= 6 && memcmp(json + i + 1, "u0000", 5) == 0)
                                return refuse(why, why_size, "\\u0000 in a string at byte %zu", i);
                        i++; /* the escaped character, which may be a quote or a backslash */
                }
        }
        return 0;
}

static void cjson_deletep(cJSON **p) {
        cJSON_Delete(*p);
}

int umc_manifest_parse(const char *json, size_t len, struct umc_manifest *ret, char *why,
                       size_t why_size) {
        static const char *const keys[] = { "format", "name", "images", NULL };
        _cleanup_(cjson_deletep) cJSON *root = NULL;
        struct umc_manifest m = {};
        const char *name, *bad, *end = NULL;
        uint64_t format;
        int r;

        if (len > UMC_MANIFEST_MAX_BYTES)
                return -E2BIG;
        r = text_check(json, len, why, why_size);
        if (r < 0)
                return r;
        root = cJSON_ParseWithLengthOpts(json, len, &end, false);
        if (!root)
                return refuse(why, why_size, "not valid JSON near byte %td",
                              end ? end - json : (ptrdiff_t)0);
        /*
         * cJSON stops after the first value; what follows must be JSON
         * whitespace (RFC 8259, section 2), else a second reader could take
         * the other document as the manifest.
         */
        if (!only_whitespace(end, (size_t)(json + len - end)))
                return refuse(why, why_size, "data after the JSON document at byte %td",
                              end - json);
        if (!cJSON_IsObject(root))
                return refuse(why, why_size, "top level must be an object");
        if (!only_keys(root, keys, &bad))
                return refuse(why, why_size, "unknown or repeated key \"%s\"", bad);
        r = get_u64(root, "format", "manifest", 1000, &format, why, why_size);
        if (r < 0)
                return r;
        if (format != 1)
                return refuse(why, why_size, "format %llu is not supported (expected 1)",
                              (unsigned long long)format);
        r = get_string(root, "name", "manifest", &name, why, why_size);
        if (r < 0)
                return r;
        if (!printable(name, UMC_MANIFEST_NAME_MAX, true))
                return refuse(why, why_size, "name must be 1..%d printable characters",
                              UMC_MANIFEST_NAME_MAX);
        strcpy(m.name, name);
        r = parse_images(cJSON_GetObjectItemCaseSensitive(root, "images"), &m, why, why_size);
        if (r == -EINVAL && !cJSON_GetObjectItemCaseSensitive(root, "images"))
                r = refuse(why, why_size, "\"images\" is missing");
        if (r < 0)
                goto fail;
        r = umc_hash_oneshot(UMC_HASH_SHA256, json, len, m.hash);
        if (r < 0)
                goto fail;
        *ret = m;
        return 0;
fail:
        umc_manifest_free(&m);
        return r;
}

int umc_manifest_load(const char *dir, struct umc_manifest *ret, char *why, size_t why_size) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dfd < 0)
                return -errno;
        return umc_manifest_load_at(dfd, ret, why, why_size);
}

int umc_manifest_load_at(int dfd, struct umc_manifest *ret, char *why, size_t why_size) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t got = 0;
        int r;

        /* O_NONBLOCK: a FIFO planted as manifest.json must not block the loop. */
        fd = openat(dfd, "manifest.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return refuse(why, why_size, "manifest.json is not a regular file");
        if (st.st_size > UMC_MANIFEST_MAX_BYTES)
                return -E2BIG;
        buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        r = umc_fs_read_all(fd, buf, (size_t)st.st_size, &got);
        if (r < 0)
                return r;
        return umc_manifest_parse(buf, got, ret, why, why_size);
}

/* ---- image files: what install needs before it reads a byte ---- */

int umc_manifest_check_image_stat(const struct umc_manifest_image *img, const struct stat *st,
                                  char *why, size_t why_size) {
        if (S_ISLNK(st->st_mode))
                return refuse(why, why_size, "%s (target %s): %s", img->file, img->target,
                              UMC_MANIFEST_LINK_REFUSED);
        if (!S_ISREG(st->st_mode))
                return refuse(why, why_size, "%s (target %s): not a regular file", img->file,
                              img->target);
        if ((uint64_t)st->st_size != img->size)
                return refuse(why, why_size, "%s (target %s): %" PRIu64 " bytes, the manifest "
                              "says %" PRIu64, img->file, img->target, (uint64_t)st->st_size,
                              img->size);
        return 0;
}

int umc_manifest_check_files(int dirfd, const struct umc_manifest *m, char *why,
                             size_t why_size) {
        for (size_t i = 0; i < m->n_images; i++) {
                const struct umc_manifest_image *img = &m->images[i];
                struct stat st;
                int r;

                /* Not opened: a FIFO or a device must not be touched, a link not followed. */
                if (fstatat(dirfd, img->file, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        if (r == -ENOMEM)
                                return r;
                        return refuse(why, why_size, "%s (target %s): %s", img->file,
                                      img->target, r == -ENOENT ? "missing from the package"
                                                                : strerror(-r));
                }
                r = umc_manifest_check_image_stat(img, &st, why, why_size);
                if (r < 0)
                        return r;
        }
        return 0;
}

void umc_manifest_free(struct umc_manifest *m) {
        if (!m)
                return;
        free(m->images);
        m->images = NULL;
        m->n_images = 0;
}

const struct umc_manifest_image *umc_manifest_find(const struct umc_manifest *m,
                                                   const char *target) {
        for (size_t i = 0; i < m->n_images; i++)
                if (strcmp(m->images[i].target, target) == 0)
                        return &m->images[i];
        return NULL;
}
