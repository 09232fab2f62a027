/* SPDX-License-Identifier: MIT */
#include "umc/pack.h"

#include <cJSON.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <ini.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "umc/featcode.h"
#include "umc/fs.h"
#include "umc/keyfile.h"
#include "umc/names.h"
#include "umc/package.h"
#include "umc/parse.h"
#include "umc/pkgenc.h"
#include "umc/sig.h"
#include "umc/util.h"
#include "umc/version.h"

#define say umc_why

/* ---- the description file ---- */

struct desc_image {
        char target[UMC_MANIFEST_TARGET_MAX + 1];
        uint32_t ecu_id;
        char hw_id[UMC_HWID_MAX + 1];
        char version[UMC_PACKAGE_TEXT_MAX + 1];
        char *file;                     /* owned, as written (relative to the description) */
        char *key_file;                 /* owned, NULL: not encrypted */
        bool has_downgrade;
        uint64_t downgrade_max;
        uint64_t timeout;               /* 0: none */
        char *material_file;            /* owned, NULL: no material */
        unsigned seen;                  /* one bit per key, for "given twice" */
};

struct desc {
        char name[UMC_PACKAGE_TEXT_MAX + 1];
        char version[UMC_PACKAGE_TEXT_MAX + 1];
        char model[UMC_PACKAGE_TEXT_MAX + 1];
        char hw_revision[UMC_PACKAGE_TEXT_MAX + 1];
        uint64_t security_version;
        int64_t expires;
        uint64_t valid_days;
        unsigned seen;
        unsigned line;                  /* of the description, for messages */
        struct desc_image *images;      /* owned */
        size_t n_images;
        char *why;
        size_t why_size;
        int error;                      /* first error; the handler stops at it */
};

static void desc_free(struct desc *d) {
        for (size_t i = 0; i < d->n_images; i++) {
                free(d->images[i].file);
                free(d->images[i].key_file);
                free(d->images[i].material_file);
        }
        free(d->images);
}

static int bad(struct desc *d, const char *section, const char *key, const char *what) {
        d->error = say(d->why, d->why_size, -EINVAL, "line %u: [%s] %s=: %s", d->line, section,
                       key, what);
        return 0; /* inih: stop */
}

static bool text_ok(const char *s, size_t max, bool spaces) {
        size_t n = strlen(s);

        for (size_t i = 0; i < n; i++)
                if (s[i] < 0x20 || s[i] > 0x7e || (!spaces && s[i] == ' '))
                        return false;
        return n >= 1 && n <= max;
}

/* Decimal, or hex after "0x" (never octal: "010" is ten), at most max. */
static bool parse_uint(const char *s, uint64_t max, uint64_t *ret) {
        return umc_parse_uint_or_hex(s, strlen(s), max, ret) == 0;
}

/* Mark key bit as seen in *seen; false when it was given before. */
static bool first_time(unsigned *seen, unsigned bit) {
        if (*seen & bit)
                return false;
        *seen |= bit;
        return true;
}

static int copy_text(struct desc *d, const char *section, const char *key, const char *value,
                     char *out, size_t max, bool spaces) {
        if (!text_ok(value, max, spaces)) {
                char what[96];
                (void)snprintf(what, sizeof(what), "must be 1..%zu printable ASCII characters%s",
                               max, spaces ? "" : " without spaces");
                return bad(d, section, key, what);
        }
        memcpy(out, value, strlen(value) + 1);
        return 1;
}

static int package_key(struct desc *d, const char *key, const char *value) {
        static const char *const keys[] = { "Name", "Version", "SecurityVersion", "Expires",
                                            "ValidDays", "VehicleModel", "HardwareRevision",
                                            NULL };
        unsigned bit = 0;

        for (unsigned i = 0; keys[i]; i++)
                if (strcmp(key, keys[i]) == 0)
                        bit = 1u << i;
        if (!bit)
                return bad(d, "Package", key, "unknown key");
        if (!first_time(&d->seen, bit))
                return bad(d, "Package", key, "given twice");
        if (strcmp(key, "Name") == 0)
                return copy_text(d, "Package", key, value, d->name, UMC_PACKAGE_TEXT_MAX, true);
        if (strcmp(key, "Version") == 0)
                return copy_text(d, "Package", key, value, d->version, UMC_PACKAGE_TEXT_MAX, false);
        if (strcmp(key, "VehicleModel") == 0)
                return copy_text(d, "Package", key, value, d->model, UMC_PACKAGE_TEXT_MAX, true);
        if (strcmp(key, "HardwareRevision") == 0)
                return copy_text(d, "Package", key, value, d->hw_revision, UMC_PACKAGE_TEXT_MAX,
                                 true);
        if (strcmp(key, "SecurityVersion") == 0)
                return parse_uint(value, UMC_PACKAGE_SECURITY_VERSION_MAX, &d->security_version)
                               ? 1 : bad(d, "Package", key, "must be an integer 0..2^53-1");
        if (strcmp(key, "ValidDays") == 0)
                return parse_uint(value, 3650, &d->valid_days) && d->valid_days > 0
                               ? 1 : bad(d, "Package", key, "must be an integer 1..3650");
        return umc_package_time_parse(value, &d->expires) == 0
                       ? 1 : bad(d, "Package", key, "must be a UTC time as YYYY-MM-DDTHH:MM:SSZ");
}

static int image_string(struct desc *d, const char *section, const char *key, const char *value,
                        char **out) {
        if (!value[0])
                return bad(d, section, key, "must not be empty");
        *out = strdup(value);
        if (!*out) {
                d->error = -ENOMEM;
                return 0;
        }
        return 1;
}

static int image_number(struct desc *d, const char *section, const char *key, const char *value,
                        struct desc_image *img) {
        uint64_t v;

        if (strcmp(key, "EcuId") == 0) {
                if (!parse_uint(value, UINT32_MAX, &v))
                        return bad(d, section, key, "must be an integer 0..0xffffffff");
                img->ecu_id = (uint32_t)v;
                return 1;
        }
        if (strcmp(key, "DowngradeMax") == 0) {
                if (!parse_uint(value, UMC_PACKAGE_SECURITY_VERSION_MAX, &img->downgrade_max))
                        return bad(d, section, key, "must be an integer 0..2^53-1");
                img->has_downgrade = true;
                return 1;
        }
        if (!parse_uint(value, UMC_PACKAGE_TIMEOUT_MAX, &img->timeout) || img->timeout == 0)
                return bad(d, section, key, "must be an integer 1..86400");
        return 1;
}

static int image_key(struct desc *d, const char *section, const char *key, const char *value,
                     struct desc_image *img) {
        static const char *const keys[] = { "EcuId", "HardwareId", "Version", "File",
                                            "EncryptKeyFile", "DowngradeMax",
                                            "PostFlashTimeoutSec", "PostFlashMaterialFile", NULL };
        unsigned bit = 0;

        for (unsigned i = 0; keys[i]; i++)
                if (strcmp(key, keys[i]) == 0)
                        bit = 1u << i;
        if (!bit)
                return bad(d, section, key, "unknown key");
        if (!first_time(&img->seen, bit))
                return bad(d, section, key, "given twice");
        if (strcmp(key, "HardwareId") == 0)
                return copy_text(d, section, key, value, img->hw_id, UMC_HWID_MAX, true);
        if (strcmp(key, "Version") == 0)
                return copy_text(d, section, key, value, img->version, UMC_PACKAGE_TEXT_MAX, false);
        if (strcmp(key, "File") == 0)
                return image_string(d, section, key, value, &img->file);
        if (strcmp(key, "EncryptKeyFile") == 0)
                return image_string(d, section, key, value, &img->key_file);
        if (strcmp(key, "PostFlashMaterialFile") == 0)
                return image_string(d, section, key, value, &img->material_file);
        return image_number(d, section, key, value, img);
}

/* The [Image NAME] section's entry, created on its first key. */
static struct desc_image *image_for(struct desc *d, const char *name) {
        struct desc_image *n;

        if (d->n_images && strcmp(d->images[d->n_images - 1].target, name) == 0)
                return &d->images[d->n_images - 1];
        for (size_t i = 0; i < d->n_images; i++)
                if (strcmp(d->images[i].target, name) == 0) {
                        d->error = say(d->why, d->why_size, -EINVAL,
                                       "line %u: [Image %s]: section given twice", d->line, name);
                        return NULL;
                }
        if (d->n_images >= UMC_PACKAGE_MAX_IMAGES) {
                d->error = say(d->why, d->why_size, -EINVAL, "more than %d [Image] sections",
                               UMC_PACKAGE_MAX_IMAGES);
                return NULL;
        }
        n = realloc(d->images, (d->n_images + 1) * sizeof(*n));
        if (!n) {
                d->error = -ENOMEM;
                return NULL;
        }
        d->images = n;
        n = &d->images[d->n_images++];
        *n = (struct desc_image){};
        memcpy(n->target, name, strlen(name) + 1);
        return n;
}

static int desc_handler(void *user, const char *section, const char *key, const char *value) {
        struct desc *d = user;
        struct desc_image *img;

        if (d->error)
                return 0;
        if (strcmp(section, "Package") == 0)
                return package_key(d, key, value);
        if (strncmp(section, "Image ", 6) != 0) {
                d->error = say(d->why, d->why_size, -EINVAL, "line %u: [%s]: unknown section "
                               "(expected [Package] or [Image NAME])", d->line, section);
                return 0;
        }
        if (!umc_name_target_valid(section + 6)) {
                d->error = say(d->why, d->why_size, -EINVAL, "line %u: [%s]: the target name "
                               "must be 1..%d of [A-Za-z0-9_-]", d->line, section,
                               UMC_MANIFEST_TARGET_MAX);
                return 0;
        }
        img = image_for(d, section + 6);
        return img ? image_key(d, section, key, value, img) : 0;
}

/* Everything required is there, and ValidDays= xor Expires=. */
static int desc_complete(struct desc *d, int64_t now) {
        static const char *const need[] = { "Name", "Version", "SecurityVersion", NULL, NULL,
                                            "VehicleModel", "HardwareRevision" };

        for (unsigned i = 0; i < UMC_ELEMENTSOF(need); i++)
                if (need[i] && !(d->seen & (1u << i)))
                        return say(d->why, d->why_size, -EINVAL, "[Package] %s= is missing",
                                   need[i]);
        if (!!(d->seen & (1u << 3)) == !!(d->seen & (1u << 4)))
                return say(d->why, d->why_size, -EINVAL,
                           "[Package]: give exactly one of Expires= and ValidDays=");
        if (d->valid_days)
                d->expires = now + (int64_t)d->valid_days * 86400;
        if (d->n_images == 0)
                return say(d->why, d->why_size, -EINVAL, "no [Image NAME] section");
        for (size_t i = 0; i < d->n_images; i++) {
                const struct desc_image *img = &d->images[i];
                static const char *const ineed[] = { "EcuId", "HardwareId", "Version", "File" };

                for (unsigned k = 0; k < UMC_ELEMENTSOF(ineed); k++)
                        if (!(img->seen & (1u << k)))
                                return say(d->why, d->why_size, -EINVAL,
                                           "[Image %s] %s= is missing", img->target, ineed[k]);
                if (img->has_downgrade && img->downgrade_max <= d->security_version)
                        return say(d->why, d->why_size, -EINVAL, "[Image %s] DowngradeMax=: must "
                                   "be above SecurityVersion= (else it permits nothing)",
                                   img->target);
        }
        return 0;
}

struct desc_reader {
        FILE *f;
        char *buf;                      /* owned (getline) */
        size_t size;
        struct desc *d;
};

/*
 * fgets()-style reader for ini_parse_stream(): counts lines for messages
 * and refuses a line longer than inih takes (num - 2 characters), which
 * inih would otherwise split silently or report without saying why.
 */
static char *desc_read_line(char *str, int num, void *stream) {
        struct desc_reader *rd = stream;
        size_t max = num > 2 ? (size_t)num - 2 : 0;
        ssize_t n;

        if (rd->d->error)
                return NULL;
        n = getline(&rd->buf, &rd->size, rd->f);
        if (n < 0)
                return NULL;
        rd->d->line++;
        if (n > 0 && rd->buf[n - 1] == '\n')
                rd->buf[--n] = '\0';
        if ((size_t)n > max) {
                rd->d->error = say(rd->d->why, rd->d->why_size, -EINVAL,
                                   "line %u: longer than %zu characters", rd->d->line, max);
                return NULL;
        }
        memcpy(str, rd->buf, (size_t)n + 1);
        return str;
}

static int desc_load(const char *path, int64_t now, struct desc *d) {
        struct desc_reader rd = { .d = d };
        int r;

        rd.f = fopen(path, "re");
        if (!rd.f)
                return say(d->why, d->why_size, -errno, "%s: %s", path, strerror(errno));
        r = ini_parse_stream(desc_read_line, &rd, desc_handler, d);
        if (ferror(rd.f) && !d->error)
                d->error = say(d->why, d->why_size, -EIO, "%s: cannot read", path);
        (void)fclose(rd.f);
        free(rd.buf);
        if (d->error)
                return d->error;
        if (r != 0)
                return say(d->why, d->why_size, -EINVAL, "%s: line %d: not a section, "
                           "KEY=VALUE, comment or blank line", path, r);
        return desc_complete(d, now);
}

/* ---- create ---- */

struct build {
        struct desc d;
        char *src_dir;                  /* owned: the description's directory */
        char *tmp;                      /* owned: the temporary output directory */
        int tmp_dfd;
        cJSON *root;                    /* owned */
        bool has_feature;
        struct umc_featcode_sealed feature;
        char *why;
        size_t why_size;
};

/* A relative path in the description is relative to the description's directory. */
static char *resolve(const struct build *b, const char *path) {
        char *s;

        if (path[0] == '/')
                return strdup(path);
        if (asprintf(&s, "%s/%s", b->src_dir, path) < 0)
                return NULL;
        return s;
}

static int copy_hash(int in, int out, uint64_t *ret_size, uint8_t sha[UMC_HASH_LEN]) {
        struct umc_hash h = {};
        uint8_t buf[65536];
        uint64_t total = 0;
        int r;

        r = umc_hash_init(&h, UMC_HASH_SHA256);
        while (r >= 0) {
                ssize_t n = read(in, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : 0;
                        break;
                }
                total += (uint64_t)n;
                if (total > UMC_MANIFEST_IMAGE_MAX_SIZE)
                        r = -EFBIG;
                if (r >= 0)
                        r = umc_hash_update(&h, buf, (size_t)n);
                if (r >= 0)
                        r = umc_fs_write_all(out, buf, (size_t)n);
        }
        if (r >= 0 && total == 0)
                r = -ENODATA;
        if (r >= 0)
                r = umc_hash_final(&h, sha);
        umc_hash_done(&h);
        if (r >= 0)
                *ret_size = total;
        return r;
}

struct shipped {
        uint64_t size, plain_size;
        uint8_t sha256[UMC_HASH_LEN], plain_sha256[UMC_HASH_LEN];
        uint8_t salt[UMC_PKGENC_SALT_LEN];
};

static int seal_image(struct build *b, const struct desc_image *di, int in, int out,
                      struct shipped *s) {
        _cleanup_free_ char *path = resolve(b, di->key_file);
        uint8_t pkg_key[UMC_PKGENC_KEY_LEN];
        struct umc_key key = {};
        char kwhy[UMC_WHY_MAX] = "";
        int r;

        if (!path)
                return -ENOMEM;
        r = umc_keyfile_load(path, pkg_key, kwhy, sizeof(kwhy));
        if (r < 0)
                return say(b->why, b->why_size, r, "[Image %s] EncryptKeyFile=%s: %s", di->target,
                           path, kwhy);
        if (RAND_bytes(s->salt, sizeof(s->salt)) != 1)
                r = -EIO;
        else
                r = umc_pkgenc_derive(pkg_key, s->salt, di->ecu_id, di->target, &key);
        umc_memzero(pkg_key, sizeof(pkg_key));
        if (r >= 0)
                r = umc_pkgenc_seal_fd(&key, in, out, UMC_MANIFEST_IMAGE_MAX_SIZE - (UINT64_C(1) << 29),
                                       &s->plain_size, s->plain_sha256, &s->size, s->sha256);
        umc_key_clear(&key);
        return r;
}

static int ship_image(struct build *b, const struct desc_image *di, const char *name,
                      struct shipped *s) {
        _cleanup_free_ char *path = resolve(b, di->file);
        _cleanup_close_ int in = -1, out = -1;
        struct stat st;
        int r;

        if (!path)
                return -ENOMEM;
        in = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (in < 0 || fstat(in, &st) < 0)
                return say(b->why, b->why_size, -errno, "[Image %s] File=%s: %s", di->target,
                           path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return say(b->why, b->why_size, -EINVAL, "[Image %s] File=%s: not a regular file",
                           di->target, path);
        out = openat(b->tmp_dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (out < 0)
                return say(b->why, b->why_size, -errno, "%s/%s: %s", b->tmp, name, strerror(errno));
        if (di->key_file)
                r = seal_image(b, di, in, out, s);
        else
                r = copy_hash(in, out, &s->size, s->sha256);
        if (r < 0 && b->why[0] == '\0')
                return say(b->why, b->why_size, r, "[Image %s] File=%s: %s", di->target, path,
                           r == -ENODATA ? "empty file"
                           : r == -EFBIG ? "larger than 2^40 bytes" : strerror(-r));
        if (r < 0)
                return r;
        if (fsync(out) < 0)
                return say(b->why, b->why_size, -errno, "%s/%s: %s", b->tmp, name, strerror(errno));
        return 0;
}

static bool add_hex(cJSON *o, const char *key, const uint8_t *bytes, size_t n) {
        char hex[2 * UMC_PACKAGE_MATERIAL_MAX + 1];

        umc_hex_encode(bytes, n, hex);
        return cJSON_AddStringToObject(o, key, hex) != NULL;
}

static bool add_options(cJSON *img, const struct desc_image *di, const struct shipped *s,
                        const char *material) {
        cJSON *o;
        bool ok = true;

        if (di->has_downgrade)
                ok &= !!cJSON_AddNumberToObject(img, "downgrade_max", (double)di->downgrade_max);
        if (di->timeout || material) {
                ok &= !!(o = cJSON_AddObjectToObject(img, "post_flash"));
                if (o && di->timeout)
                        ok &= !!cJSON_AddNumberToObject(o, "timeout_sec", (double)di->timeout);
                if (o && material)
                        ok &= !!cJSON_AddStringToObject(o, "material", material);
        }
        if (!di->key_file)
                return ok;
        ok &= !!(o = cJSON_AddObjectToObject(img, "encryption"));
        if (!o)
                return false;
        ok &= !!cJSON_AddStringToObject(o, "aead", "AES-256-GCM");
        ok &= !!cJSON_AddStringToObject(o, "kdf", "HKDF-SHA256");
        ok &= !!cJSON_AddNumberToObject(o, "segment_size", UMC_PKGENC_SEGMENT);
        ok &= add_hex(o, "salt", s->salt, sizeof(s->salt));
        ok &= !!cJSON_AddNumberToObject(o, "plain_size", (double)s->plain_size);
        ok &= add_hex(o, "plain_sha256", s->plain_sha256, UMC_HASH_LEN);
        return ok;
}

/* PostFlashMaterialFile=: 1..UMC_PACKAGE_MATERIAL_MAX bytes, as hex into ret (2 * max + 1). */
static int read_material(struct build *b, const struct desc_image *di, char *ret) {
        _cleanup_free_ char *path = resolve(b, di->material_file);
        uint8_t buf[UMC_PACKAGE_MATERIAL_MAX + 1];
        _cleanup_close_ int fd = -1;
        ssize_t n;

        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
        if (n < 0)
                return say(b->why, b->why_size, -errno, "[Image %s] PostFlashMaterialFile=%s: %s",
                           di->target, path, strerror(errno));
        if (n == 0 || n > UMC_PACKAGE_MATERIAL_MAX)
                return say(b->why, b->why_size, -EINVAL, "[Image %s] PostFlashMaterialFile=%s: "
                           "must hold 1..%d bytes", di->target, path, UMC_PACKAGE_MATERIAL_MAX);
        umc_hex_encode(buf, (size_t)n, ret);
        return 0;
}

static int add_image(struct build *b, cJSON *arr, const struct desc_image *di) {
        char material[2 * UMC_PACKAGE_MATERIAL_MAX + 1];
        struct shipped s = {};
        char name[UMC_MANIFEST_TARGET_MAX + 9];
        cJSON *img;
        bool ok;
        int r;

        (void)snprintf(name, sizeof(name), "%s.img%s", di->target, di->key_file ? ".enc" : "");
        if (di->material_file && (r = read_material(b, di, material)) < 0)
                return r;
        r = ship_image(b, di, name, &s);
        if (r < 0)
                return r;
        img = cJSON_CreateObject();
        if (!img)
                return -ENOMEM;
        if (!cJSON_AddItemToArray(arr, img)) {
                cJSON_Delete(img);
                return -ENOMEM;
        }
        ok = cJSON_AddStringToObject(img, "target", di->target) &&
             cJSON_AddNumberToObject(img, "ecu_id", (double)di->ecu_id) &&
             cJSON_AddStringToObject(img, "hw_id", di->hw_id) &&
             cJSON_AddStringToObject(img, "version", di->version) &&
             cJSON_AddStringToObject(img, "file", name) &&
             cJSON_AddNumberToObject(img, "size", (double)s.size) &&
             add_hex(img, "sha256", s.sha256, UMC_HASH_LEN) &&
             add_options(img, di, &s, di->material_file ? material : NULL);
        umc_memzero(&s, sizeof(s));
        return ok ? 0 : -ENOMEM;
}

static bool add_feature(cJSON *root, const struct umc_featcode_sealed *s) {
        cJSON *o = cJSON_AddObjectToObject(root, "feature_code");

        return o && cJSON_AddStringToObject(o, "key_id", s->key_id) &&
               add_hex(o, "nonce", s->nonce, sizeof(s->nonce)) &&
               add_hex(o, "ciphertext", s->ct, s->ct_len);
}

/* Seal the feature code for this package (its name and version) under the class's feature key. */
static int seal_feature(struct build *b, const struct umc_pack_feature *f) {
        const char *key_id = f->key_id ? f->key_id : UMC_PACK_FEATURE_KEY_ID_DEFAULT;
        uint8_t key[UMC_FEATCODE_KEY_LEN];
        char kwhy[UMC_WHY_MAX] = "";
        int r;

        if (!umc_featcode_valid(f->code))
                return say(b->why, b->why_size, -EINVAL, "--feature-code: must be 1..%d printable "
                           "ASCII characters without spaces", UMC_FEATCODE_MAX);
        if (!umc_featcode_key_id_valid(key_id))
                return say(b->why, b->why_size, -EINVAL, "--feature-key-id: must be 1..%d of "
                           "[A-Za-z0-9._-]", UMC_FEATCODE_KEY_ID_MAX);
        if (!f->key_file)
                return say(b->why, b->why_size, -EINVAL, "--feature-code needs --feature-key");
        r = umc_keyfile_load(f->key_file, key, kwhy, sizeof(kwhy));
        if (r < 0)
                return say(b->why, b->why_size, r, "%s: %s", f->key_file,
                           kwhy[0] ? kwhy : strerror(-r));
        r = umc_featcode_seal(key, key_id, b->d.name, b->d.version, f->code, &b->feature);
        umc_memzero(key, sizeof(key));
        if (r < 0)
                return say(b->why, b->why_size, r, "cannot seal the feature code: %s",
                           strerror(-r));
        b->has_feature = true;
        return 0;
}

static int build_json(struct build *b) {
        const struct desc *d = &b->d;
        cJSON *vehicle, *arr;
        char expires[21];
        int r;

        if (umc_package_time_format(d->expires, expires) < 0)
                return say(b->why, b->why_size, -EINVAL, "[Package]: expiry outside 1970..9999");
        b->root = cJSON_CreateObject();
        if (!b->root || !cJSON_AddNumberToObject(b->root, "format", UMC_PACKAGE_FORMAT) ||
            !cJSON_AddStringToObject(b->root, "name", d->name) ||
            !cJSON_AddStringToObject(b->root, "package_version", d->version) ||
            !cJSON_AddNumberToObject(b->root, "security_version", (double)d->security_version) ||
            !cJSON_AddStringToObject(b->root, "expires", expires) ||
            !(vehicle = cJSON_AddObjectToObject(b->root, "vehicle")) ||
            !cJSON_AddStringToObject(vehicle, "model", d->model) ||
            !cJSON_AddStringToObject(vehicle, "hw_revision", d->hw_revision) ||
            (b->has_feature && !add_feature(b->root, &b->feature)) ||
            !(arr = cJSON_AddArrayToObject(b->root, "images")))
                return -ENOMEM;
        for (size_t i = 0; i < d->n_images; i++) {
                r = add_image(b, arr, &d->images[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Sign the exact bytes, check they parse back as a device will, write both files. */
static int seal_manifest(struct build *b, const char *cert, const char *key, const char *chain) {
        _cleanup_free_ char *text = cJSON_PrintUnformatted(b->root);
        _cleanup_free_ uint8_t *der = NULL;
        enum umc_sig_format format;
        struct umc_package back;
        size_t len, der_len;
        char detail[256] = "";
        int r;

        if (!text)
                return -ENOMEM;
        len = strlen(text);
        r = umc_package_parse(text, len, &back, detail, sizeof(detail));
        if (r < 0)
                return say(b->why, b->why_size, r, "the manifest would be refused: %s", detail);
        umc_package_free(&back);
        r = umc_sig_sign(text, len, cert, key, chain, &der, &der_len, &format, b->why,
                         b->why_size);
        if (r < 0)
                return r;
        r = umc_fs_write_atomic(b->tmp_dfd, UMC_PACKAGE_MANIFEST, text, len, 0644);
        if (r >= 0)
                r = umc_fs_write_atomic(b->tmp_dfd, format == UMC_SIG_SM2
                                                            ? UMC_PACKAGE_SIGNATURE_SM2
                                                            : UMC_PACKAGE_SIGNATURE,
                                        der, der_len, 0644);
        if (r < 0)
                return say(b->why, b->why_size, r, "%s: cannot write: %s", b->tmp, strerror(-r));
        return 0;
}

/* Remove the temporary directory and what we put in it (nothing else is ours). */
static void remove_tmp(struct build *b) {
        if (!b->tmp)
                return;
        if (b->tmp_dfd >= 0) {
                for (size_t i = 0; i < b->d.n_images; i++) {
                        char name[UMC_MANIFEST_TARGET_MAX + 9];
                        (void)snprintf(name, sizeof(name), "%s.img", b->d.images[i].target);
                        (void)unlinkat(b->tmp_dfd, name, 0);
                        (void)snprintf(name, sizeof(name), "%s.img.enc", b->d.images[i].target);
                        (void)unlinkat(b->tmp_dfd, name, 0);
                }
                (void)unlinkat(b->tmp_dfd, UMC_PACKAGE_MANIFEST, 0);
                (void)unlinkat(b->tmp_dfd, UMC_PACKAGE_SIGNATURE, 0);
                (void)unlinkat(b->tmp_dfd, UMC_PACKAGE_SIGNATURE_SM2, 0);
                (void)umc_fs_remove_temp_files(b->tmp_dfd, UMC_PACKAGE_MANIFEST);
                (void)umc_fs_remove_temp_files(b->tmp_dfd, UMC_PACKAGE_SIGNATURE);
                (void)umc_fs_remove_temp_files(b->tmp_dfd, UMC_PACKAGE_SIGNATURE_SM2);
        }
        (void)rmdir(b->tmp);
}

static int make_tmp(struct build *b, const char *output) {
        struct stat st;

        if (lstat(output, &st) == 0)
                return say(b->why, b->why_size, -EEXIST, "%s: exists (refusing to overwrite)",
                           output);
        if (asprintf(&b->tmp, "%s.tmp-XXXXXX", output) < 0) {
                b->tmp = NULL;
                return -ENOMEM;
        }
        if (!mkdtemp(b->tmp)) {
                int r = -errno;
                free(b->tmp);
                b->tmp = NULL;
                return say(b->why, b->why_size, r, "%s: cannot create: %s", output, strerror(-r));
        }
        b->tmp_dfd = open(b->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return b->tmp_dfd < 0 ? -errno : 0;
}

/* Publish: sync the directory, rename it into place without replacing anything, sync the parent. */
static int publish(struct build *b, const char *output) {
        _cleanup_free_ char *copy = strdup(output);
        _cleanup_close_ int parent = -1;

        if (!copy)
                return -ENOMEM;
        if (fchmod(b->tmp_dfd, 0755) < 0 || umc_fs_fsync_dir(b->tmp_dfd) < 0)
                return say(b->why, b->why_size, -errno, "%s: %s", b->tmp, strerror(errno));
        if (renameat2(AT_FDCWD, b->tmp, AT_FDCWD, output, RENAME_NOREPLACE) < 0)
                return say(b->why, b->why_size, -errno, "%s: cannot rename into place: %s",
                           output, strerror(errno));
        free(b->tmp);
        b->tmp = NULL;
        parent = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent >= 0)
                (void)umc_fs_fsync_dir(parent);
        return 0;
}

static int src_dir_of(struct build *b, const char *description) {
        _cleanup_free_ char *copy = strdup(description);

        if (!copy)
                return -ENOMEM;
        b->src_dir = strdup(dirname(copy));
        return b->src_dir ? 0 : -ENOMEM;
}

int umc_pack_create(const char *description, const char *cert, const char *key, const char *chain,
                    const struct umc_pack_feature *feature, const char *output, char *why,
                    size_t why_size) {
        char local[512] = "";
        struct build b = { .tmp_dfd = -1, .why = why ? why : local,
                           .why_size = why ? why_size : sizeof(local) };
        int r;

        if (!description || !cert || !key || !output || b.why_size == 0)
                return -EINVAL;
        b.why[0] = '\0';
        b.d.why = b.why;
        b.d.why_size = b.why_size;
        r = src_dir_of(&b, description);
        if (r >= 0)
                r = desc_load(description, (int64_t)time(NULL), &b.d);
        if (r >= 0 && feature)
                r = seal_feature(&b, feature);
        if (r >= 0)
                r = make_tmp(&b, output);
        if (r >= 0)
                r = build_json(&b);
        if (r >= 0)
                r = seal_manifest(&b, cert, key, chain);
        if (r >= 0)
                r = publish(&b, output);
        if (r < 0)
                remove_tmp(&b);
        if (b.tmp_dfd >= 0)
                (void)close(b.tmp_dfd);
        cJSON_Delete(b.root);
        desc_free(&b.d);
        free(b.src_dir);
        free(b.tmp);
        return r;
}

/* ---- verify ---- */

/* Say what failed on err: the exit code of a command whose input was unusable. */
static int failed(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int failed(FILE *err, const char *fmt, ...) {
        va_list ap;

        fputs("umc-pack: ", err);
        va_start(ap, fmt);
        vfprintf(err, fmt, ap);
        va_end(ap);
        fputc('\n', err);
        return UMC_PACK_EXIT_FAILED;
}

struct checker {
        FILE *out;
        bool refused;
};

/* One line per check; false once one refused (a device stops at the first). */
static bool report(struct checker *c, const char *check, enum umc_reason reason,
                   const char *detail) {
        if (reason == UMC_REASON_OK)
                fprintf(c->out, "%s: ok%s%s\n", check, detail && detail[0] ? ": " : "",
                        detail ? detail : "");
        else {
                fprintf(c->out, "%s: REFUSED 0x%04x (%s): %s\n", check, (unsigned)reason,
                        umc_reason_to_string(reason), detail ? detail : "");
                c->refused = true;
        }
        return reason == UMC_REASON_OK;
}

static void report_load(struct checker *c, enum umc_reason reason, const char *why,
                        const struct umc_sig_signer *s, const struct umc_package *p) {
        char detail[2 * UMC_SIG_NAME_MAX], exp[21] = "?";
        bool sig_failed = reason != UMC_REASON_OK && reason != UMC_REASON_PKG_MALFORMED &&
                          reason != UMC_REASON_PKG_EXPIRED;

        if (sig_failed) {
                (void)report(c, "signature", reason, why);
                return;
        }
        (void)snprintf(detail, sizeof(detail), "%s by %s", s->algorithm, s->subject);
        (void)report(c, "signature", UMC_REASON_OK, detail);
        if (reason == UMC_REASON_PKG_MALFORMED) {
                (void)report(c, "manifest", reason, why);
                return;
        }
        (void)report(c, "manifest", UMC_REASON_OK, NULL);
        if (reason == UMC_REASON_PKG_EXPIRED) {
                (void)report(c, "expiry", reason, why);
                return;
        }
        (void)umc_package_time_format(p->expires, exp);
        (void)snprintf(detail, sizeof(detail), "valid until %s", exp);
        (void)report(c, "expiry", UMC_REASON_OK, detail);
}

static bool check_images(struct checker *c, int dfd, const struct umc_package *p, FILE *err) {
        for (size_t i = 0; i < p->n_images; i++) {
                const struct umc_package_image *img = &p->images[i];
                enum umc_reason reason;
                char why[512] = "", check[64];
                int r;

                (void)snprintf(check, sizeof(check), "image %s", img->target);
                r = umc_package_check_image_file(dfd, img, &reason, why, sizeof(why));
                if (r < 0) {
                        fprintf(err, "umc-pack: %s\n", why);
                        reason = UMC_REASON_IO_ERROR;
                }
                if (!report(c, check, reason, reason == UMC_REASON_OK ? img->file : why))
                        return false;
        }
        return true;
}

static bool check_decrypt(struct checker *c, int dfd, const struct umc_pack_ecu *e,
                          const struct umc_package_image *img, FILE *err) {
        uint8_t key[UMC_PKGENC_KEY_LEN];
        enum umc_reason reason = UMC_REASON_OK;
        char kwhy[UMC_WHY_MAX] = "";
        char why[512] = "";
        int r;

        if (!img->encrypted || !e->key_file) {
                fprintf(c->out, "decrypt %s: not checked (%s)\n", img->target,
                        img->encrypted ? "no key file given" : "not encrypted");
                return true;
        }
        r = umc_keyfile_load(e->key_file, key, kwhy, sizeof(kwhy));
        if (r < 0) {
                fprintf(err, "umc-pack: %s: %s\n", e->key_file, kwhy);
                c->refused = true;
                return false;
        }
        r = umc_package_check_sealed_file(dfd, img, key, &reason, why, sizeof(why));
        umc_memzero(key, sizeof(key));
        if (r < 0)
                reason = UMC_REASON_IO_ERROR;
        (void)snprintf(why + strlen(why), sizeof(why) - strlen(why), "%s",
                       reason == UMC_REASON_OK ? "plaintext size and SHA-256 match" : "");
        return report(c, "decrypt", reason, why);
}

/* What one ECU checks: its entry and hardware ID, the version rule, its image. */
static bool check_ecu(struct checker *c, int dfd, const struct umc_package *p,
                      const struct umc_pack_ecu *e, FILE *err) {
        const struct umc_package_image *img = NULL;
        enum umc_reason reason;
        char why[512] = "", check[64];

        (void)snprintf(check, sizeof(check), "ecu 0x%" PRIx32, e->ecu_id);
        reason = umc_package_check_ecu(p, e->ecu_id, e->hw_id, &img, why, sizeof(why));
        if (!report(c, check, reason, reason == UMC_REASON_OK ? img->target : why))
                return false;
        (void)snprintf(why, sizeof(why), "security version %" PRIu64 ", installed %" PRIu64 "%s",
                       p->security_version, e->installed,
                       p->security_version < e->installed ? " (signed downgrade permission)" : "");
        reason = umc_package_check_rollback(p, img, e->installed, why, sizeof(why));
        if (!report(c, "rollback", reason, why))
                return false;
        return check_decrypt(c, dfd, e, img, err);
}

/* The device's feature code check, with the code and key a device of the class holds. */
static bool check_feature(struct checker *c, const struct umc_pack_args *a,
                          const struct umc_package *p, FILE *err) {
        uint8_t key[UMC_FEATCODE_KEY_LEN];
        enum umc_reason reason;
        char kwhy[UMC_WHY_MAX] = "";
        char why[512];
        int r;

        if (!a->feature_code) {
                fprintf(c->out, "feature code: not checked (%s; no --feature-code, "
                        "--feature-key)\n", p->has_feature_code ? "present" : "none");
                return true;
        }
        r = umc_keyfile_load(a->feature_key, key, kwhy, sizeof(kwhy));
        if (r < 0) {
                fprintf(err, "umc-pack: %s: %s\n", a->feature_key, kwhy[0] ? kwhy : strerror(-r));
                c->refused = true;
                return false;
        }
        (void)snprintf(why, sizeof(why), "key ID %s, the device's code", p->feature_code.key_id);
        reason = umc_package_check_feature(p, key, a->feature_code, why, sizeof(why));
        umc_memzero(key, sizeof(key));
        return report(c, "feature code", reason, why);
}

static bool check_factory(struct checker *c, const struct umc_pack_args *a,
                          const struct umc_package *p) {
        enum umc_reason reason;
        char why[512];

        if (!a->vehicle_model && !a->hw_revision) {
                fprintf(c->out, "factory: not checked (no --vehicle-model, --hw-revision)\n");
                return true;
        }
        (void)snprintf(why, sizeof(why), "%s, %s", p->vehicle_model, p->hw_revision);
        reason = umc_package_check_factory(p, a->vehicle_model, a->hw_revision, why, sizeof(why));
        return report(c, "factory", reason, why);
}

static int run_verify(const struct umc_pack_args *a, FILE *out, FILE *err) {
        _cleanup_(umc_sig_trust_freep) struct umc_sig_trust *trust = NULL;
        _cleanup_close_ int dfd = -1;
        struct checker c = { .out = out };
        struct umc_sig_signer signer = {};
        struct umc_package p = {};
        enum umc_reason reason = UMC_REASON_OK;
        char why[1024] = "";
        bool go;
        int r;

        r = umc_sig_trust_load(a->anchor, a->crl, &trust, why, sizeof(why));
        if (r < 0)
                return failed(err, "%s", why);
        r = umc_package_load(a->package, trust, a->now, &p, &signer, &reason, why, sizeof(why));
        if (r < 0 && r != -EBADMSG)
                return failed(err, "%s", why);
        report_load(&c, reason, why, &signer, &p);
        if (r < 0)
                return UMC_PACK_EXIT_REFUSED;
        dfd = open(a->package, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                umc_package_free(&p);
                return failed(err, "%s: %s", a->package, strerror(errno));
        }
        go = check_feature(&c, a, &p, err) && check_factory(&c, a, &p) &&
             check_images(&c, dfd, &p, err);
        for (size_t i = 0; go && i < a->n_ecus; i++)
                go = check_ecu(&c, dfd, &p, &a->ecus[i], err);
        umc_package_free(&p);
        return c.refused ? UMC_PACK_EXIT_REFUSED : UMC_PACK_EXIT_OK;
}

/* ---- inspect ---- */

static void print_image(FILE *out, const struct umc_package_image *img) {
        char hex[2 * UMC_HASH_LEN + 1];

        umc_hex_encode(img->sha256, UMC_HASH_LEN, hex);
        fprintf(out, "image %s:\n  ecu_id: 0x%" PRIx32 "\n  hw_id: %s\n  version: %s\n"
                "  file: %s\n  size: %" PRIu64 "\n  sha256: %s\n", img->target, img->ecu_id,
                img->hw_id, img->version, img->file, img->size, hex);
        if (img->has_downgrade)
                fprintf(out, "  downgrade permitted from security versions up to %" PRIu64 "\n",
                        img->downgrade_max);
        if (img->has_post_flash)
                fprintf(out, "  post_flash: timeout %" PRIu32 " s, %zu bytes of material\n",
                        img->post_flash_timeout_sec, img->material_len);
        if (img->encrypted) {
                umc_hex_encode(img->plain_sha256, UMC_HASH_LEN, hex);
                fprintf(out, "  encrypted for ECU 0x%" PRIx32 ": AES-256-GCM, %" PRIu64
                        " bytes plain, plain sha256 %s\n", img->ecu_id, img->plain_size, hex);
        }
}

static void print_package(FILE *out, const struct umc_package *p) {
        char exp[21] = "?", hex[2 * UMC_HASH_LEN + 1];

        (void)umc_package_time_format(p->expires, exp);
        umc_hex_encode(p->hash, UMC_HASH_LEN, hex);
        fprintf(out, "name: %s\npackage_version: %s\nsecurity_version: %" PRIu64
                "\nexpires: %s\nvehicle: %s, hardware revision %s\nmanifest sha256: %s\n",
                p->name, p->package_version, p->security_version, exp, p->vehicle_model,
                p->hw_revision, hex);
        /* The code itself is sealed for the device class: inspect shows only that it is there. */
        if (p->has_feature_code)
                fprintf(out, "feature_code: present (sealed, key ID %s; umc-pack verify "
                        "--feature-code checks it)\n", p->feature_code.key_id);
        else
                fprintf(out, "feature_code: none\n");
        for (size_t i = 0; i < p->n_images; i++)
                print_image(out, &p->images[i]);
}

static int run_inspect(const struct umc_pack_args *a, FILE *out, FILE *err) {
        _cleanup_free_ char *json = NULL, *sig = NULL;
        _cleanup_close_ int dfd = -1;
        struct umc_sig_signer s;
        struct umc_package p;
        const char *name;
        size_t len, sig_len;
        char why[512] = "";
        int r;

        dfd = open(a->package, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return failed(err, "%s: %s", a->package, strerror(errno));
        r = umc_fs_read_file(dfd, UMC_PACKAGE_MANIFEST, UMC_PACKAGE_MAX_BYTES, &json, &len);
        if (r < 0)
                return failed(err, "%s/%s: %s", a->package, UMC_PACKAGE_MANIFEST,
                               strerror(-r));
        r = umc_package_parse(json, len, &p, why, sizeof(why));
        if (r < 0)
                return failed(err, "%s/%s: %s", a->package, UMC_PACKAGE_MANIFEST,
                               why[0] ? why : strerror(-r));
        print_package(out, &p);
        umc_package_free(&p);
        name = faccessat(dfd, UMC_PACKAGE_SIGNATURE_SM2, F_OK, AT_SYMLINK_NOFOLLOW) == 0
                       ? UMC_PACKAGE_SIGNATURE_SM2 : UMC_PACKAGE_SIGNATURE;
        r = umc_fs_read_file(dfd, name, UMC_SIG_MAX_BYTES, &sig, &sig_len);
        if (r >= 0)
                r = umc_sig_describe(sig, sig_len, &s, why, sizeof(why));
        if (r < 0)
                return failed(err, "%s/%s: %s", a->package, name,
                               r == -EBADMSG ? why : strerror(-r));
        fprintf(out, "signer (NOT verified; umc-pack verify checks it): %s\n  issuer: %s\n"
                "  serial: %s\n  algorithm: %s\n", s.subject, s.issuer, s.serial, s.algorithm);
        return UMC_PACK_EXIT_OK;
}

/* ---- command line ---- */

static int usage_error(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(FILE *err, const char *fmt, ...) {
        va_list ap;

        fputs("umc-pack: ", err);
        va_start(ap, fmt);
        vfprintf(err, fmt, ap);
        va_end(ap);
        fputs(" (see umc-pack --help)\n", err);
        return -EINVAL;
}

void umc_pack_help(FILE *out) {
        fputs("Usage:\n"
              "  umc-pack create --description FILE --cert FILE --key FILE [--chain FILE]\n"
              "                  [--feature-code CODE --feature-key FILE [--feature-key-id ID]]\n"
              "                  --output DIR\n"
              "  umc-pack verify --trust-anchor FILE [--crl FILE] [--time YYYY-MM-DDTHH:MM:SSZ]\n"
              "                  [--vehicle-model M --hw-revision R]\n"
              "                  [--feature-code CODE --feature-key FILE]\n"
              "                  [--ecu ECU_ID,HW_ID[,INSTALLED_SECURITY_VERSION[,KEY_FILE]]]... DIR\n"
              "  umc-pack inspect DIR\n"
              "  umc-pack --help | --version\n"
              "Builds, verifies and shows signed umc packages (umc-pack(1), docs/package.md).\n",
              out);
}

/* --ecu ID,HWID[,INSTALLED[,KEYFILE]] */
static int add_ecu(struct umc_pack_args *a, const char *arg, FILE *err) {
        _cleanup_free_ char *copy = strdup(arg);
        char *id, *hw, *inst, *key, *save = NULL;
        struct umc_pack_ecu e = {}, *n;
        uint64_t v;

        if (!copy)
                return -ENOMEM;
        id = strtok_r(copy, ",", &save);
        hw = strtok_r(NULL, ",", &save);
        inst = strtok_r(NULL, ",", &save);
        key = strtok_r(NULL, "", &save);
        if (!id || !hw || !parse_uint(id, UINT32_MAX, &v))
                return usage_error(err, "--ecu takes ECU_ID,HW_ID[,INSTALLED[,KEY_FILE]], not '%s'",
                                   arg);
        e.ecu_id = (uint32_t)v;
        if (!text_ok(hw, UMC_HWID_MAX, true))
                return usage_error(err, "--ecu: the hardware ID must be 1..%d printable characters",
                                   UMC_HWID_MAX);
        memcpy(e.hw_id, hw, strlen(hw) + 1);
        if (inst && !parse_uint(inst, UMC_PACKAGE_SECURITY_VERSION_MAX, &e.installed))
                return usage_error(err, "--ecu: the installed security version must be an integer");
        if (key && !(e.key_file = strdup(key)))
                return -ENOMEM;
        n = realloc(a->ecus, (a->n_ecus + 1) * sizeof(*n));
        if (!n) {
                free(e.key_file);
                return -ENOMEM;
        }
        a->ecus = n;
        a->ecus[a->n_ecus++] = e;
        return 0;
}

static int set_once(char **field, const char *opt, const char *value, FILE *err) {
        if (*field)
                return usage_error(err, "%s given twice", opt);
        if (!value[0])
                return usage_error(err, "%s takes a non-empty value", opt);
        *field = strdup(value);
        return *field ? 0 : -ENOMEM;
}

/* Which options belong to which command, so a misplaced one is an error, not ignored. */
static int check_command(struct umc_pack_args *a, unsigned given, FILE *err) {
        /* Bits: c - 0x100 of the options in umc_pack_parse_args(). */
        enum { FEATURE = 0x1800, CREATE = 0x1f | FEATURE | 0x2000, VERIFY = 0x7e0 | FEATURE };
        unsigned allowed = a->command == UMC_PACK_CREATE ? CREATE
                           : a->command == UMC_PACK_VERIFY ? VERIFY : 0;

        if (given & ~allowed)
                return usage_error(err, "an option does not belong to this command");
        if (a->command == UMC_PACK_CREATE && (!a->description || !a->cert || !a->key || !a->output))
                return usage_error(err, "create needs --description, --cert, --key and --output");
        if (a->command == UMC_PACK_VERIFY && !a->anchor)
                return usage_error(err, "verify needs --trust-anchor");
        if (a->command == UMC_PACK_VERIFY && !a->vehicle_model != !a->hw_revision)
                return usage_error(err, "give --vehicle-model and --hw-revision together");
        if (!a->feature_code != !a->feature_key)
                return usage_error(err, "give --feature-code and --feature-key together");
        if (a->feature_key_id && !a->feature_code)
                return usage_error(err, "--feature-key-id needs --feature-code and --feature-key");
        if (a->feature_code && !umc_featcode_valid(a->feature_code))
                return usage_error(err, "--feature-code must be 1..%d printable ASCII characters "
                                   "without spaces", UMC_FEATCODE_MAX);
        if (a->feature_key_id && !umc_featcode_key_id_valid(a->feature_key_id))
                return usage_error(err, "--feature-key-id must be 1..%d of [A-Za-z0-9._-]",
                                   UMC_FEATCODE_KEY_ID_MAX);
        return 0;
}

static int parse_positional(struct umc_pack_args *a, int argc, char *argv[], FILE *err) {
        const char *cmd;

        if (optind >= argc)
                return usage_error(err, "no command (create, verify, inspect)");
        cmd = argv[optind++];
        if (strcmp(cmd, "create") == 0)
                a->command = UMC_PACK_CREATE;
        else if (strcmp(cmd, "verify") == 0)
                a->command = UMC_PACK_VERIFY;
        else if (strcmp(cmd, "inspect") == 0)
                a->command = UMC_PACK_INSPECT;
        else
                return usage_error(err, "unknown command '%s'", cmd);
        if (a->command == UMC_PACK_CREATE) {
                if (optind < argc)
                        return usage_error(err, "create takes no argument '%s'", argv[optind]);
                return 0;
        }
        if (optind + 1 != argc)
                return usage_error(err, "%s takes exactly one package directory", cmd);
        a->package = strdup(argv[optind]);
        return a->package ? 0 : -ENOMEM;
}

static int parse_option(struct umc_pack_args *a, int c, FILE *err) {
        char **const fields[] = { &a->description, &a->cert, &a->key, &a->chain, &a->output,
                                  &a->anchor, &a->crl, &a->vehicle_model, &a->hw_revision };
        static const char *const names[] = { "--description", "--cert", "--key", "--chain",
                                             "--output", "--trust-anchor", "--crl",
                                             "--vehicle-model", "--hw-revision" };

        if (c >= 0x100 && c < 0x100 + (int)UMC_ELEMENTSOF(fields))
                return set_once(fields[c - 0x100], names[c - 0x100], optarg, err);
        if (c == 0x100 + (int)UMC_ELEMENTSOF(fields))
                return add_ecu(a, optarg, err);
        if (c == 0x10b)
                return set_once(&a->feature_code, "--feature-code", optarg, err);
        if (c == 0x10c)
                return set_once(&a->feature_key, "--feature-key", optarg, err);
        if (c == 0x10d)
                return set_once(&a->feature_key_id, "--feature-key-id", optarg, err);
        if (umc_package_time_parse(optarg, &a->now) < 0)
                return usage_error(err, "--time takes YYYY-MM-DDTHH:MM:SSZ, not '%s'", optarg);
        return 0;
}

int umc_pack_parse_args(int argc, char *argv[], struct umc_pack_args *ret, FILE *err) {
        static const struct option options[] = {
                { "description", required_argument, NULL, 0x100 },
                { "cert", required_argument, NULL, 0x101 },
                { "key", required_argument, NULL, 0x102 },
                { "chain", required_argument, NULL, 0x103 },
                { "output", required_argument, NULL, 0x104 },
                { "trust-anchor", required_argument, NULL, 0x105 },
                { "crl", required_argument, NULL, 0x106 },
                { "vehicle-model", required_argument, NULL, 0x107 },
                { "hw-revision", required_argument, NULL, 0x108 },
                { "ecu", required_argument, NULL, 0x109 },
                { "time", required_argument, NULL, 0x10a },
                { "feature-code", required_argument, NULL, 0x10b },
                { "feature-key", required_argument, NULL, 0x10c },
                { "feature-key-id", required_argument, NULL, 0x10d },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        _cleanup_(umc_pack_args_free) struct umc_pack_args a = { .now = (int64_t)time(NULL) };
        unsigned given = 0;
        bool help = false;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                if (c == 'h' || c == 'V') {
                        help = true;
                        a.command = c == 'h' ? UMC_PACK_HELP : UMC_PACK_VERSION;
                        continue;
                }
                if (c < 0x100)
                        return usage_error(err, "unknown option or missing argument: '%s'",
                                           argv[optind - 1]);
                given |= 1u << (c - 0x100);
                r = parse_option(&a, c, err);
                if (r < 0)
                        return r;
        }
        if (!help) {
                r = parse_positional(&a, argc, argv, err);
                if (r >= 0)
                        r = check_command(&a, given, err);
                if (r < 0)
                        return r;
        }
        *ret = a;
        a = (struct umc_pack_args){};
        return 0;
}

void umc_pack_args_free(struct umc_pack_args *a) {
        if (!a)
                return;
        free(a->description);
        free(a->cert);
        free(a->key);
        free(a->chain);
        free(a->output);
        free(a->package);
        free(a->anchor);
        free(a->crl);
        free(a->vehicle_model);
        free(a->hw_revision);
        free(a->feature_code);
        free(a->feature_key);
        free(a->feature_key_id);
        for (size_t i = 0; i < a->n_ecus; i++)
                free(a->ecus[i].key_file);
        free(a->ecus);
        *a = (struct umc_pack_args){};
}

int umc_pack_run(const struct umc_pack_args *a, FILE *out, FILE *err) {
        const struct umc_pack_feature feature = { a->feature_code, a->feature_key,
                                                  a->feature_key_id };
        char why[1024] = "";
        int r;

        switch (a->command) {
        case UMC_PACK_CREATE:
                r = umc_pack_create(a->description, a->cert, a->key, a->chain,
                                    a->feature_code ? &feature : NULL, a->output, why,
                                    sizeof(why));
                if (r < 0) {
                        fprintf(err, "umc-pack: %s\n", why[0] ? why : strerror(-r));
                        return UMC_PACK_EXIT_FAILED;
                }
                fprintf(out, "%s: created\n", a->output);
                return UMC_PACK_EXIT_OK;
        case UMC_PACK_VERIFY:
                return run_verify(a, out, err);
        case UMC_PACK_INSPECT:
                return run_inspect(a, out, err);
        case UMC_PACK_VERSION:
                fprintf(out, "umc-pack %s\n", UMC_VERSION);
                return UMC_PACK_EXIT_OK;
        default:
                umc_pack_help(out);
                return UMC_PACK_EXIT_OK;
        }
}
