/* SPDX-License-Identifier: MIT */
/*
 * umcd.conf and umc-agent.conf. libinih splits lines into (section, key,
 * value); the rest is ours:
 *  - a reader in front of inih sees every raw line first. It strips leading
 *    whitespace, so inih's Python-style continuation lines never happen; it
 *    refuses over-long lines (inih would split them), control characters,
 *    "Key: value" and junk after a section header; it opens each section
 *    itself, so an empty [Target x] or unknown [Foo] is still seen; and it
 *    flags inline comments, which inih would silently cut off a value;
 *  - one table per file kind maps (section, key) to a parser and the offset
 *    of the field it fills;
 *  - a validation pass checks cross-field rules and required keys and loads
 *    the master key files (the only I/O besides reading the file).
 * The first error stops the parse; the message names file, line, section
 * and key.
 */
#include "umc/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "umc/cloudmsg.h"
#include "umc/keyfile.h"
#include "umc/log.h"
#include "umc/replay.h"
#include "umc/names.h"
#include "umc/parse.h"
#include "umc/sig.h"
#include "umc/util.h"
#include "umc/xferlimits.h"

#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define SECTIONS_MAX 12
#define ITEMS_MAX 32
#define TOKEN_MAX 64

/* canid.h: "flags rates outside the tolerance (default +-10%)". */
#define CAN_TOLERANCE_PCT_DEFAULT 10.0
#define DAEMON_STATE_DIRECTORY_DEFAULT "/var/lib/umc"
/* The group systemd/io.umc.conf names and systemd/umc.sysusers.conf creates. */
#define DAEMON_OPERATOR_GROUP_DEFAULT "umc-operators"
#define DAEMON_CONNECT_TIMEOUT_DEFAULT (10 * USEC_PER_SEC)
#define DAEMON_AUTH_TIMEOUT_DEFAULT (10 * USEC_PER_SEC)
#define DAEMON_IDLE_TIMEOUT_DEFAULT (60 * USEC_PER_SEC)
/* The ECU reads back and hashes the whole image before it answers TRANSPORT. */
#define DAEMON_FINAL_TIMEOUT_DEFAULT (300 * USEC_PER_SEC)
/* A target that refuses or does not answer a connection is tried again, for up to a minute. */
#define DAEMON_CONNECT_RETRY_DEFAULT (60 * USEC_PER_SEC)
#define DAEMON_CONNECT_BACKOFF_DEFAULT (250 * USEC_PER_MSEC)
#define DAEMON_CONNECT_BACKOFF_MAX_DEFAULT (8 * USEC_PER_SEC)
#define AGENT_SLOT_DIRECTORY_DEFAULT "/var/lib/umc-agent/slots"
#define AGENT_MAX_CONNECTIONS_DEFAULT 4
#define AGENT_HANDSHAKE_TIMEOUT_DEFAULT (10 * USEC_PER_SEC)
#define AGENT_IDLE_TIMEOUT_DEFAULT (60 * USEC_PER_SEC)
#define AGENT_MAX_IMAGE_SIZE_DEFAULT (UINT64_C(32) << 30)
/* A partial image from a lost connection is kept a week, and at most as large as an image. */
#define AGENT_RESUME_MAX_AGE_DEFAULT (7 * 86400 * USEC_PER_SEC)
#define AGENT_RESUME_MAX_AGE_MAX_SEC (366 * 86400)
/* MaxImageSize= at most 1T: the largest image the transfer protocol carries. */
#define AGENT_MAX_IMAGE_SIZE_MAX (UINT64_C(1) << 40)
_Static_assert(AGENT_MAX_IMAGE_SIZE_MAX == UMC_XFER_MAX_IMAGE, "MaxImageSize= limit");
#define MBIT (UINT64_C(1000) * 1000) /* bit/s per Mbit/s */
#define CLOUD_CONNECT_TIMEOUT_DEFAULT 10  /* s */
#define CLOUD_REQUEST_TIMEOUT_DEFAULT 30  /* s, small documents */
#define CLOUD_LOW_SPEED_LIMIT_DEFAULT 100 /* bytes/s ... */
#define CLOUD_LOW_SPEED_TIME_DEFAULT 60   /* ... for 60 s drops a transfer */
#define CLOUD_RETRIES_DEFAULT 5
#define CLOUD_RANDOM_DELAY_DEFAULT (1800 * USEC_PER_SEC)

/* Enum fields are written through int: make sure that is their size. */
_Static_assert(sizeof(enum umc_hash_alg) == sizeof(int), "enum size");
_Static_assert(sizeof(enum umc_stuffing) == sizeof(int), "enum size");
_Static_assert(sizeof(enum umc_bitmodel) == sizeof(int), "enum size");
_Static_assert(sizeof(enum umc_agent_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum umc_channel_kind) == sizeof(int), "enum size");
_Static_assert(_UMC_SUITE_MAX <= 32, "allowed_suites is a 32-bit mask");

struct parser;
struct item;

/* Parse value into field; on error return fail_item()'s result. */
typedef int (*parse_fn)(struct parser *p, const struct item *it, const char *value, void *field);

enum {
        ITEM_REPEATABLE = 1 << 0,
        ITEM_ECU = 1 << 1,           /* [Target]: the field is in struct umc_ecu, not umc_target */
        ITEM_MIN_EXCLUSIVE = 1 << 2, /* decimals: value must be > dmin */
        ITEM_PORT_ZERO = 1 << 3,     /* addresses: port 0 (the kernel picks one) is allowed */
        ITEM_CAN = 1 << 4,           /* a CAN channel key: only with Channel=can */
        ITEM_CAN_RX = 1 << 5,        /* RxId= (else TxId=) */
};

struct keyword {
        const char *name;
        int value;
};

struct item {
        const char *key;
        parse_fn parse;
        size_t offset;               /* of the field within the section's struct */
        unsigned flags;
        uint64_t min, max;           /* integers, in the file's unit */
        uint64_t scale;              /* file unit -> field unit (s -> usec); 0 means 1 */
        double dmin, dmax;           /* decimals */
        const struct keyword *keywords; /* NULL-name terminated */
};

struct section {
        const char *name;
        const struct item *items;
        size_t n_items;
        size_t offset;               /* of the section's struct within the config */
        bool target;                 /* "[Target NAME]": one instance per header */
};

struct target_state {
        unsigned line;               /* of the [Target NAME] header */
        unsigned seen[ITEMS_MAX];
};

struct parser {
        const char *path;
        FILE *f;
        char *buf;
        size_t buf_size;
        unsigned line;
        bool inline_comment;         /* the current line has " ;" or " #" */

        const struct section *sections;
        size_t n_sections;
        const struct section *cur;   /* NULL before the first header */
        char cur_name[64];           /* header text, for messages */
        unsigned *cur_seen;          /* line of each key of cur, 0 = not given */
        unsigned seen[SECTIONS_MAX][ITEMS_MAX];

        void *root;                  /* struct umc_daemon_config or umc_agent_config */
        struct target_state *targets; /* daemon: parallel to root's ecus[]/targets[] */

        struct umc_config_error *err;
        int r;                       /* first error, sticky */
};

/* ---- error messages ---- */

/*
 * Record the first error as "FILE[:LINE]: [Section.Key: | [Section]: ]text".
 * line 0 omits the line, key NULL gives the "[Section]" form, section NULL
 * neither. Returns r.
 */
_printf_(6, 0) static int failv(struct parser *p, int r, unsigned line, const char *section,
                                const char *key, const char *fmt, va_list ap) {
        char where[32] = "";
        char *m;
        size_t size;
        int n;

        if (p->r < 0)
                return p->r;
        p->r = r;
        if (!p->err)
                return r;

        m = p->err->msg;
        size = sizeof(p->err->msg);
        if (line > 0)
                (void)snprintf(where, sizeof(where), ":%u", line);
        if (section && key)
                n = snprintf(m, size, "%s%s: %s.%s: ", p->path, where, section, key);
        else if (section)
                n = snprintf(m, size, "%s%s: [%s]: ", p->path, where, section);
        else
                n = snprintf(m, size, "%s%s: ", p->path, where);
        if (n >= 0 && (size_t)n < size)
                (void)vsnprintf(m + n, size - (size_t)n, fmt, ap);
        return r;
}

_printf_(6, 7) static int fail_at(struct parser *p, int r, unsigned line, const char *section,
                                  const char *key, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        r = failv(p, r, line, section, key, fmt, ap);
        va_end(ap);
        return r;
}

/* The usual case: the key on the current line is wrong. */
_printf_(3, 4) static int fail_item(struct parser *p, const struct item *it, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = failv(p, -EINVAL, p->line, p->cur_name, it->key, fmt, ap);
        va_end(ap);
        return r;
}

static int fail_oom(struct parser *p) {
        return fail_at(p, -ENOMEM, 0, NULL, NULL, "out of memory");
}

/* ---- small helpers ---- */

/*
 * Make room for element n of an array whose capacity is implied by its
 * count (8, 16, 32, ...), so the config structs need no capacity fields.
 * Master keys are loaded only after the last append, so no realloc() ever
 * leaves key bytes behind in freed memory.
 */
static int grow_array(void **array, size_t n, size_t elem_size) {
        size_t cap;
        void *q;

        if (n != 0 && (n < 8 || (n & (n - 1)) != 0))
                return 0;
        cap = n == 0 ? 8 : 2 * n;
        q = reallocarray(*array, cap, elem_size);
        if (!q)
                return -ENOMEM;
        *array = q;
        return 0;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/*
 * Next entry of a list separated by whitespace and/or single commas.
 * Returns 1 with the entry in tok, 0 at the end, -EINVAL for an empty entry
 * (",," or a leading/trailing comma), -E2BIG for an over-long entry.
 */
static int list_next(const char **cursor, char tok[TOKEN_MAX]) {
        const char *s = *cursor;
        size_t n;

        s += strspn(s, " \t");
        if (*s == '\0')
                return 0;
        if (*s == ',')
                return -EINVAL;
        n = strcspn(s, " \t,");
        if (n >= TOKEN_MAX)
                return -E2BIG;
        memcpy(tok, s, n);
        tok[n] = '\0';
        s += n;
        s += strspn(s, " \t");
        if (*s == ',') {
                s++;
                s += strspn(s, " \t");
                if (*s == '\0' || *s == ',')
                        return -EINVAL;
        }
        *cursor = s;
        return 1;
}

static int list_error(struct parser *p, const struct item *it, int r) {
        if (r == -E2BIG)
                return fail_item(p, it, "list entry longer than %d characters", TOKEN_MAX - 1);
        return fail_item(p, it, "empty list entry (stray ',')");
}

/* ", "-separated names of every suite, for error messages. */
static void suite_names(char *buf, size_t size) {
        size_t len = 0;

        buf[0] = '\0';
        for (unsigned id = 1; id < _UMC_SUITE_MAX; id++) {
                const struct umc_suite *s = umc_suite_by_id(id);
                int n;

                if (!s)
                        continue;
                n = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", s->name);
                if (n < 0 || (size_t)n >= size - len)
                        return;
                len += (size_t)n;
        }
}

/* Look up one suite name; legacy ciphers are refused with the cipher module's reason. */
static int lookup_suite(struct parser *p, const struct item *it, const char *name,
                        enum umc_suite_id *ret) {
        const struct umc_suite *suite = NULL;
        char why[UMC_WHY_MAX] = "";
        char known[128];
        int r;

        r = umc_suite_from_name(name, &suite, why, sizeof(why));
        if (r == -EPERM)
                return fail_item(p, it, "'%s' is refused: %s", name, why);
        if (r < 0 || !suite) {
                suite_names(known, sizeof(known));
                return fail_item(p, it, "unknown cipher suite '%s' (known: %s)", name, known);
        }
        *ret = suite->id;
        return 0;
}

/*
 * "IPV4:PORT" or "[IPV6]:PORT", numeric only (inet_pton, no name lookup),
 * port 1..65535, or 0..65535 with port0 (a listener: the kernel picks a
 * free port). why (see umc_why()) names the defect.
 */
static int parse_sockaddr(const char *s, bool port0, struct umc_sockaddr *ret, char *why,
                          size_t why_size) {
        struct umc_sockaddr a = {};
        char host[INET6_ADDRSTRLEN];
        const char *port_s;
        uint64_t port;
        size_t n;
        bool v6 = s[0] == '[';

        if (v6) {
                const char *end = strchr(s, ']');

                if (!end || end[1] != ':')
                        return umc_why(why, why_size, -EINVAL, "expected [IPV6]:PORT");
                s++;
                n = (size_t)(end - s);
                port_s = end + 2;
        } else {
                const char *colon = strrchr(s, ':');

                if (!colon)
                        return umc_why(why, why_size, -EINVAL,
                                       "expected IPV4:PORT or [IPV6]:PORT");
                n = (size_t)(colon - s);
                port_s = colon + 1;
                if (memchr(s, ':', n))
                        return umc_why(why, why_size, -EINVAL,
                                       "an IPv6 address needs brackets: [IPV6]:PORT");
        }
        if (n == 0 || n >= sizeof(host))
                return umc_why(why, why_size, -EINVAL, "missing or over-long address");
        memcpy(host, s, n);
        host[n] = '\0';

        if (umc_parse_uint(port_s, strlen(port_s), 65535, &port) < 0 || port < (port0 ? 0 : 1))
                return umc_why(why, why_size, -EINVAL, "port must be a number in %d..65535",
                               port0 ? 0 : 1);

        if (v6) {
                a.in6.sin6_family = AF_INET6;
                a.in6.sin6_port = htons((uint16_t)port);
                if (inet_pton(AF_INET6, host, &a.in6.sin6_addr) != 1)
                        return umc_why(why, why_size, -EINVAL, "not a numeric IPv6 address");
                a.len = sizeof(a.in6);
        } else {
                a.in.sin_family = AF_INET;
                a.in.sin_port = htons((uint16_t)port);
                if (inet_pton(AF_INET, host, &a.in.sin_addr) != 1)
                        return umc_why(why, why_size, -EINVAL,
                                       "not a numeric IPv4 address (dotted quad)");
                a.len = sizeof(a.in);
        }
        *ret = a;
        return 0;
}

/* ---- value parsers (parse_fn) ---- */

/* Absolute, without "." or ".." components: the path means what it says. */
static int parse_path(struct parser *p, const struct item *it, const char *value, void *field) {
        char **s = field;
        char *copy;

        if (value[0] != '/')
                return fail_item(p, it, "'%s' is not an absolute path", value);
        for (const char *c = value; *c; c++) {
                size_t n;

                if (*c != '/')
                        continue;
                n = strcspn(c + 1, "/");
                if ((n == 1 && c[1] == '.') || (n == 2 && c[1] == '.' && c[2] == '.'))
                        return fail_item(p, it, "'%s' has a '.' or '..' component", value);
        }
        if (strlen(value) >= PATH_MAX)
                return fail_item(p, it, "path longer than %d bytes", PATH_MAX - 1);
        copy = strdup(value);
        if (!copy)
                return fail_oom(p);
        free(*s);
        *s = copy;
        return 0;
}

/* PackageDirectory=: one more absolute path, as parse_path() takes it. */
static int parse_package_dir(struct parser *p, const struct item *it, const char *value,
                             void *field) {
        struct umc_daemon_config *c = field;
        char *path = NULL;
        int r;

        if (c->n_package_dirs >= UMC_CONFIG_PACKAGE_DIRS_MAX)
                return fail_item(p, it, "too many package directories (at most %d)",
                                 UMC_CONFIG_PACKAGE_DIRS_MAX);
        r = parse_path(p, it, value, &path);
        if (r < 0)
                return r;
        if (grow_array((void **)&c->package_dirs, c->n_package_dirs, sizeof(char *)) < 0) {
                free(path);
                return fail_oom(p);
        }
        c->package_dirs[c->n_package_dirs++] = path;
        return 0;
}

static int parse_log_level(struct parser *p, const struct item *it, const char *value, void *field) {
        int level = umc_log_level_from_string(value);

        if (level < 0)
                return fail_item(p, it, "unknown log level '%s' (expected emerg, alert, crit, err, "
                                        "warning, notice, info or debug)", value);
        *(int *)field = level;
        return 0;
}

static int parse_keyword(struct parser *p, const struct item *it, const char *value, void *field) {
        char expected[128] = "";
        size_t len = 0;

        for (const struct keyword *k = it->keywords; k->name; k++)
                if (strcasecmp(value, k->name) == 0) {
                        *(int *)field = k->value;
                        return 0;
                }
        for (const struct keyword *k = it->keywords; k->name; k++) {
                int n = snprintf(expected + len, sizeof(expected) - len, "%s%s", len ? "|" : "",
                                 k->name);
                if (n < 0 || (size_t)n >= sizeof(expected) - len)
                        break;
                len += (size_t)n;
        }
        return fail_item(p, it, "unknown value '%s' (expected %s)", value, expected);
}

/* Integer in [min, max] of the file's unit, stored times scale. */
static int parse_range(struct parser *p, const struct item *it, const char *value, uint64_t *ret) {
        uint64_t v;
        int r;

        r = umc_parse_uint(value, strlen(value), UINT64_MAX, &v);
        if (r == -EINVAL)
                return fail_item(p, it, "'%s' is not a decimal number", value);
        if (r < 0 || v < it->min || v > it->max)
                return fail_item(p, it, "%s is out of range %" PRIu64 "..%" PRIu64, value, it->min,
                                 it->max);
        *ret = v * (it->scale ? it->scale : 1);
        return 0;
}

static int parse_unsigned(struct parser *p, const struct item *it, const char *value, void *field) {
        uint64_t v = 0;
        int r;

        _Static_assert(sizeof(unsigned) == 4, "ranges assume 32-bit unsigned");
        r = parse_range(p, it, value, &v);
        if (r < 0)
                return r;
        *(unsigned *)field = (unsigned)v;
        return 0;
}

static int parse_usec(struct parser *p, const struct item *it, const char *value, void *field) {
        return parse_range(p, it, value, field);
}

static int parse_u64(struct parser *p, const struct item *it, const char *value, void *field) {
        return parse_range(p, it, value, field);
}

/* A size for messages: "1T" when it is a whole number of K, M, G or T, else bytes. */
static void format_size(uint64_t v, char buf[32]) {
        static const char suffixes[] = "TGMK";

        for (unsigned i = 0; i < 4; i++) {
                unsigned shift = 10 * (4 - i);

                if (v != 0 && (v & ((UINT64_C(1) << shift) - 1)) == 0) {
                        (void)snprintf(buf, 32, "%" PRIu64 "%c", v >> shift, suffixes[i]);
                        return;
                }
        }
        (void)snprintf(buf, 32, "%" PRIu64, v);
}

/*
 * Bytes: DIGITS with an optional suffix K, M, G or T for 2^10, 2^20, 2^30
 * or 2^40 (the binary multiples of IEC 80000-13, as systemd reads sizes),
 * in [min, max] bytes.
 */
static int parse_size(struct parser *p, const struct item *it, const char *value, void *field) {
        static const char suffixes[] = "KMGT";
        size_t n = strlen(value);
        const char *suffix = n > 0 ? strchr(suffixes, value[n - 1]) : NULL;
        unsigned shift = 0;
        char lo[32], hi[32];
        uint64_t v;
        int r;

        if (suffix) {
                shift = 10 * (unsigned)(suffix - suffixes + 1);
                n--;
        }
        r = umc_parse_uint(value, n, UINT64_MAX, &v);
        if (r == -EINVAL)
                return fail_item(p, it, "'%s' is not a size (a number of bytes, optionally followed "
                                        "by K, M, G or T)", value);
        if (r == 0 && v <= UINT64_MAX >> shift && v << shift >= it->min && v << shift <= it->max) {
                *(uint64_t *)field = v << shift;
                return 0;
        }
        format_size(it->min, lo);
        format_size(it->max, hi);
        return fail_item(p, it, "%s is out of range %s..%s", value, lo, hi);
}

/*
 * A group name as shadow-utils' useradd(8) accepts it portably: a letter or
 * '_', then letters, digits, '_', '-' and '.', at most
 * UMC_CONFIG_GROUP_NAME_MAX characters. Whether the group exists is umcd's
 * question at start-up: a parser does no lookups.
 */
static int parse_group_name(struct parser *p, const struct item *it, const char *value,
                            void *field) {
        static const char first[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";
        static const char rest[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789-.";
        size_t n = strlen(value);
        char **s = field, *copy;

        if (n > UMC_CONFIG_GROUP_NAME_MAX)
                return fail_item(p, it, "longer than %d characters", UMC_CONFIG_GROUP_NAME_MAX);
        if (!strchr(first, value[0]) || strspn(value, rest) != n)
                return fail_item(p, it, "'%s' is not a group name (letters, digits, '_', '-' and "
                                        "'.', starting with a letter or '_')", value);
        copy = strdup(value);
        if (!copy)
                return fail_oom(p);
        free(*s);
        *s = copy;
        return 0;
}

/* "auto" (stored as 0) or an integer in range. */
static int parse_unsigned_or_auto(struct parser *p, const struct item *it, const char *value,
                                  void *field) {
        if (strcasecmp(value, "auto") == 0) {
                *(unsigned *)field = 0;
                return 0;
        }
        if (!is_digit(value[0]))
                return fail_item(p, it, "expected auto or a number in %" PRIu64 "..%" PRIu64,
                                 it->min, it->max);
        return parse_unsigned(p, it, value, field);
}

static int parse_double(struct parser *p, const struct item *it, const char *value, void *field) {
        bool low;
        double v;
        int r;

        r = umc_parse_real(value, strlen(value), &v);
        if (r == -EINVAL)
                return fail_item(p, it, "'%s' is not a decimal number (DIGITS[.DIGITS])", value);
        low = it->flags & ITEM_MIN_EXCLUSIVE ? v <= it->dmin : v < it->dmin;
        if (r < 0 || low || v > it->dmax) {
                if (it->flags & ITEM_MIN_EXCLUSIVE)
                        return fail_item(p, it, "%s is out of range: must be greater than %g and "
                                                "at most %g", value, it->dmin, it->dmax);
                return fail_item(p, it, "%s is out of range %g..%g", value, it->dmin, it->dmax);
        }
        *(double *)field = v;
        return 0;
}

/* CipherOrder=: 1..UMC_SUITE_ORDER_MAX suites, repeats allowed (rotation.h). */
static int parse_suite_order(struct parser *p, const struct item *it, const char *value, void *field) {
        struct umc_rotation_cfg *cfg = field;
        enum umc_suite_id order[UMC_SUITE_ORDER_MAX];
        const char *cursor = value;
        char tok[TOKEN_MAX];
        size_t n = 0;
        int r;

        while ((r = list_next(&cursor, tok)) > 0) {
                if (n >= UMC_SUITE_ORDER_MAX)
                        return fail_item(p, it, "more than %d suites", UMC_SUITE_ORDER_MAX);
                r = lookup_suite(p, it, tok, &order[n]);
                if (r < 0)
                        return r;
                n++;
        }
        if (r < 0)
                return list_error(p, it, r);
        memcpy(cfg->order, order, n * sizeof(order[0]));
        cfg->n_order = n;
        return 0;
}

/* AllowedSuites=: a set, each suite at most once. */
static int parse_suite_set(struct parser *p, const struct item *it, const char *value, void *field) {
        const char *cursor = value;
        char tok[TOKEN_MAX];
        unsigned set = 0;
        int r;

        while ((r = list_next(&cursor, tok)) > 0) {
                enum umc_suite_id id;

                r = lookup_suite(p, it, tok, &id);
                if (r < 0)
                        return r;
                if (set & (1u << id))
                        return fail_item(p, it, "'%s' is listed twice", tok);
                set |= 1u << id;
        }
        if (r < 0)
                return list_error(p, it, r);
        *(unsigned *)field = set;
        return 0;
}

static int parse_suite_or_none(struct parser *p, const struct item *it, const char *value,
                               void *field) {
        enum umc_suite_id id = UMC_SUITE_NONE;

        if (strcasecmp(value, "none") != 0) {
                int r = lookup_suite(p, it, value, &id);
                if (r < 0)
                        return r;
        }
        *(enum umc_suite_id *)field = id;
        return 0;
}

static int parse_ecu_id(struct parser *p, const struct item *it, const char *value, void *field) {
        uint64_t v = 0;
        int r;

        r = umc_parse_uint_or_hex(value, strlen(value), UINT64_MAX, &v);
        if (r == -EINVAL)
                return fail_item(p, it, "'%s' is not a decimal or 0x-prefixed hex number", value);
        if (r < 0 || v < 1 || v > UINT32_MAX)
                return fail_item(p, it, "%s is out of range 1..0xffffffff", value);
        *(uint32_t *)field = (uint32_t)v;
        return 0;
}

static int parse_hw_id(struct parser *p, const struct item *it, const char *value, void *field) {
        size_t n = strlen(value);

        if (n > UMC_HWID_MAX)
                return fail_item(p, it, "longer than %d characters", UMC_HWID_MAX);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)value[i] < 0x21 || (unsigned char)value[i] > 0x7e)
                        return fail_item(p, it, "only printable ASCII without spaces is allowed");
        memcpy(field, value, n + 1);
        return 0;
}

static int parse_address(struct parser *p, const struct item *it, const char *value, void *field) {
        char why[UMC_WHY_MAX] = "";

        if (parse_sockaddr(value, it->flags & ITEM_PORT_ZERO, field, why, sizeof(why)) < 0)
                return fail_item(p, it, "'%s': %s", value, why);
        return 0;
}

/* "7E0" or "18DAF110": how [CanIds] and can-utils write IDs, for messages. */
static void format_can_id(uint32_t id, bool eff, char buf[16]) {
        (void)snprintf(buf, 16, eff ? "%08" PRIX32 : "%03" PRIX32, id);
}

/* Line where key was given in the current section (this [Target NAME]), 0 if not yet. */
static unsigned cur_seen_line(const struct parser *p, const char *key) {
        for (size_t j = 0; j < p->cur->n_items; j++)
                if (strcmp(p->cur->items[j].key, key) == 0)
                        return p->cur_seen[j];
        return 0;
}

static int parse_bool(struct parser *p, const struct item *it, const char *value, void *field) {
        if (strcasecmp(value, "yes") == 0)
                *(bool *)field = true;
        else if (strcasecmp(value, "no") == 0)
                *(bool *)field = false;
        else
                return fail_item(p, it, "unknown value '%s' (expected yes|no)", value);
        return 0;
}

static int parse_u8(struct parser *p, const struct item *it, const char *value, void *field) {
        uint64_t v = 0;
        int r;

        /* The tables give it->max <= UINT8_MAX. */
        r = parse_range(p, it, value, &v);
        if (r < 0)
                return r;
        *(uint8_t *)field = (uint8_t)v;
        return 0;
}

/* Exactly two hex digits, no "0x": one byte as ISO-TP tools write it. */
static int parse_hex2(const char *s, uint8_t *ret) {
        return umc_hex_decode(s, strlen(s), ret, 1);
}

/* PadByte=: the byte frames are padded with, sent and expected. */
static int parse_pad_byte(struct parser *p, const struct item *it, const char *value, void *field) {
        if (parse_hex2(value, field) < 0)
                return fail_item(p, it, "'%s' is not a byte in two hex digits (such as CC)", value);
        return 0;
}

/*
 * STmin=: the flow-control byte of ISO 15765-2 (9.6.5.4), 00-7F = 0-127 ms,
 * F1-F9 = 100-900 us; 80-F0 and FA-FF are reserved, and a peer may read a
 * reserved value as 127 ms, so they are refused rather than sent.
 */
static int parse_stmin(struct parser *p, const struct item *it, const char *value, void *field) {
        uint8_t v;

        if (parse_hex2(value, &v) < 0)
                return fail_item(p, it, "'%s' is not two hex digits (00-7F: 0-127 ms, F1-F9: "
                                        "100-900 us)", value);
        if (v > 0x7f && (v < 0xf1 || v > 0xf9))
                return fail_item(p, it, "%s is reserved in ISO 15765-2: use 00-7F (0-127 ms) or "
                                        "F1-F9 (100-900 us)", value);
        *(uint8_t *)field = v;
        return 0;
}

/* Interface=: only its form; whether it exists is the channel's question when it opens. */
static int parse_ifname(struct parser *p, const struct item *it, const char *value, void *field) {
        if (!umc_name_ifname_valid(value))
                return fail_item(p, it, "'%s' is not an interface name (1..%d characters, no '/', "
                                        "':' or white space)", value, IFNAMSIZ - 1);
        memcpy(field, value, strlen(value) + 1);
        return 0;
}

/*
 * TxId= and RxId= (field: the struct umc_isotp_opts): an ID as [CanIds]
 * writes it, without a period. Its width sets eff, so both must have the
 * same one: an ISO-TP socket binds a pair in one format.
 */
static int parse_isotp_id(struct parser *p, const struct item *it, const char *value, void *field) {
        struct umc_isotp_opts *o = field;
        bool rx = it->flags & ITEM_CAN_RX;
        const char *other = rx ? "TxId" : "RxId";
        struct umc_canid_rule rule;
        char why[UMC_WHY_MAX] = "";
        unsigned line;

        if (strchr(value, ':'))
                return fail_item(p, it, "'%s': a channel ID takes no period", value);
        if (umc_canid_rule_parse(value, CAN_TOLERANCE_PCT_DEFAULT, &rule, why, sizeof(why)) < 0)
                return fail_item(p, it, "'%s': %s", value, why);
        line = cur_seen_line(p, other);
        if (line > 0 && rule.eff != o->eff)
                return fail_item(p, it, "'%s' is %s ID but %s= (line %u) is %s: both must have "
                                        "the same width", value, rule.eff ? "a 29-bit" : "an 11-bit",
                                 other, line, o->eff ? "29-bit" : "11-bit");
        if (rx)
                o->rx_id = rule.id;
        else
                o->tx_id = rule.id;
        o->eff = rule.eff;
        return 0;
}

/* MaxPdu=: 0 (whatever the kernel takes) or a cap that still holds a frame header and some data. */
static int parse_max_pdu(struct parser *p, const struct item *it, const char *value, void *field) {
        uint64_t v = 0;
        int r;

        r = parse_range(p, it, value, &v); /* 0..UMC_CONFIG_CAN_MAX_PDU_MAX */
        if (r < 0)
                return r;
        if (v != 0 && v < UMC_CONFIG_CAN_MAX_PDU_MIN)
                return fail_item(p, it, "%s is out of range: 0 (the kernel's limit) or %d..%d",
                                 value, UMC_CONFIG_CAN_MAX_PDU_MIN, UMC_CONFIG_CAN_MAX_PDU_MAX);
        *(size_t *)field = (size_t)v;
        return 0;
}

/* Id= (repeatable): the final tolerance is applied by the validation pass. */
static int parse_can_id(struct parser *p, const struct item *it, const char *value, void *field) {
        struct umc_config_can_ids *ids = field;
        struct umc_canid_rule rule;
        char why[UMC_WHY_MAX] = "";

        if (ids->n_rules >= UMC_CONFIG_CAN_IDS_MAX)
                return fail_item(p, it, "too many IDs (at most %d)", UMC_CONFIG_CAN_IDS_MAX);
        if (umc_canid_rule_parse(value, ids->tolerance_pct, &rule, why, sizeof(why)) < 0)
                return fail_item(p, it, "'%s': %s", value, why);
        if (umc_canid_find(ids->rules, ids->n_rules, rule.id, rule.eff))
                return fail_item(p, it, "'%s': ID listed twice", value);
        if (grow_array((void **)&ids->rules, ids->n_rules, sizeof(*ids->rules)) < 0)
                return fail_oom(p);
        ids->rules[ids->n_rules++] = rule;
        return 0;
}

/* Rule= (repeatable): kept in file order, first match wins. */
static int parse_eth_rule(struct parser *p, const struct item *it, const char *value, void *field) {
        struct umc_config_eth_acl *acl = field;
        struct umc_eth_rule rule;
        char why[UMC_WHY_MAX] = "";

        if (acl->n_rules >= UMC_CONFIG_ETH_RULES_MAX)
                return fail_item(p, it, "too many rules (at most %d)", UMC_CONFIG_ETH_RULES_MAX);
        if (umc_eth_rule_parse(value, &rule, why, sizeof(why)) < 0)
                return fail_item(p, it, "'%s': %s", value, why);
        if (grow_array((void **)&acl->rules, acl->n_rules, sizeof(*acl->rules)) < 0)
                return fail_oom(p);
        acl->rules[acl->n_rules++] = rule;
        return 0;
}

/* ---- tables ---- */

static const struct keyword hash_keywords[] = {
        { "sha256", UMC_HASH_SHA256 },
        { "sm3", UMC_HASH_SM3 },
        {},
};

static const struct keyword stuffing_keywords[] = {
        { "worst", UMC_STUFF_WORST },
        { "ignore", UMC_STUFF_IGNORE },
        { "exact", UMC_STUFF_EXACT },
        {},
};

static const struct keyword bitmodel_keywords[] = {
        { "iso", UMC_BITMODEL_ISO },
        { "canbusload", UMC_BITMODEL_CANBUSLOAD },
        {},
};

static const struct keyword channel_keywords[] = {
        { "tcp", UMC_CHANNEL_TCP },
        { "can", UMC_CHANNEL_CAN },
        {},
};

static const struct keyword mode_keywords[] = {
        { "endpoint", UMC_AGENT_ENDPOINT },
        { "gateway", UMC_AGENT_GATEWAY },
        {},
};

/* Printable ASCII without spaces, 1..UMC_CONFIG_TEXT_MAX: factory parameters, company, product. */
static int parse_text(struct parser *p, const struct item *it, const char *value, void *field) {
        size_t n = strlen(value);

        if (n > UMC_CONFIG_TEXT_MAX)
                return fail_item(p, it, "longer than %d characters", UMC_CONFIG_TEXT_MAX);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)value[i] < 0x21 || (unsigned char)value[i] > 0x7e)
                        return fail_item(p, it, "only printable ASCII without spaces is allowed");
        memcpy(field, value, n + 1);
        return 0;
}

/* BaseUrl= and Proxy=: an absolute URL as cloudmsg.h takes it; no trailing '/' on BaseUrl=. */
static int parse_url(struct parser *p, const struct item *it, const char *value, void *field) {
        char **s = field, *copy;
        size_t n = strlen(value);

        if (umc_cloudmsg_check_url(value, NULL) < 0 && strncmp(value, "socks5://", 9) != 0)
                return fail_item(p, it, "'%s' is not an absolute https://, ftps://, ftp:// or "
                                        "http:// URL of printable characters", value);
        if (strcmp(it->key, "BaseUrl") == 0 && value[n - 1] == '/')
                return fail_item(p, it, "'%s' ends in '/': give the base without it", value);
        copy = strdup(value);
        if (!copy)
                return fail_oom(p);
        free(*s);
        *s = copy;
        return 0;
}

static int parse_device_id(struct parser *p, const struct item *it, const char *value,
                           void *field) {
        char **s = field, *copy;

        if (umc_cloudmsg_check_id(value) < 0)
                return fail_item(p, it, "'%s' is not 1..%d characters A-Z a-z 0-9 . _ -", value,
                                 UMC_CLOUDMSG_ID_MAX);
        copy = strdup(value);
        if (!copy)
                return fail_oom(p);
        free(*s);
        *s = copy;
        return 0;
}

static const struct keyword check_keywords[] = {
        { "signature", UMC_PKG_CHECK_SIGNATURE },
        { "factory", UMC_PKG_CHECK_FACTORY },
        { "target", UMC_PKG_CHECK_TARGET },
        { "version", UMC_PKG_CHECK_VERSION },
        { "feature-code", UMC_PKG_CHECK_FEATURE_CODE },
        {},
};

static int check_order_add(struct parser *p, const struct item *it, struct umc_config_checks *c,
                           const char *tok) {
        for (const struct keyword *k = check_keywords; k->name; k++) {
                if (strcasecmp(tok, k->name) != 0)
                        continue;
                for (size_t i = 0; i < c->n; i++)
                        if ((int)c->order[i] == k->value)
                                return fail_item(p, it, "'%s' named twice", tok);
                if (c->n == 0 && k->value != UMC_PKG_CHECK_SIGNATURE)
                        return fail_item(p, it, "'signature' must come first: the other checks "
                                                "read manifest fields, which only the signature "
                                                "vouches for");
                c->order[c->n++] = (enum umc_pkg_check)k->value;
                return 0;
        }
        return fail_item(p, it, "unknown check '%s' (expected signature, factory, target, version, "
                                "feature-code)", tok);
}

/* CheckOrder=: "signature factory target version feature-code", signature first, each once. */
static int parse_check_order(struct parser *p, const struct item *it, const char *value,
                             void *field) {
        struct umc_config_checks c = {};
        const char *cur = value;
        char tok[TOKEN_MAX];
        int r;

        while ((r = list_next(&cur, tok)) > 0)
                if (check_order_add(p, it, &c, tok) < 0)
                        return p->r;
        if (r < 0)
                return list_error(p, it, r);
        *(struct umc_config_checks *)field = c;
        return 0;
}

/* "HH:MM" into minutes after midnight. */
static int parse_hhmm(const char *s, size_t n, uint16_t *ret) {
        uint64_t h, m;

        if (n != 5 || s[2] != ':' || umc_parse_uint(s, 2, 23, &h) < 0 ||
            umc_parse_uint(s + 3, 2, 59, &m) < 0)
                return -EINVAL;
        *ret = (uint16_t)(h * 60 + m);
        return 0;
}

/* Windows=: "HH:MM-HH:MM" entries, space separated; repeatable, adds to the list. */
static int parse_windows(struct parser *p, const struct item *it, const char *value, void *field) {
        struct umc_daemon_config *c = field;
        const char *cur = value;
        char tok[TOKEN_MAX];
        int r;

        while ((r = list_next(&cur, tok)) > 0) {
                struct umc_config_window w;
                const char *dash = strchr(tok, '-');

                if (!dash || parse_hhmm(tok, (size_t)(dash - tok), &w.start_min) < 0 ||
                    parse_hhmm(dash + 1, strlen(dash + 1), &w.end_min) < 0)
                        return fail_item(p, it, "'%s' is not a window HH:MM-HH:MM (local time)",
                                         tok);
                if (w.start_min == w.end_min)
                        return fail_item(p, it, "'%s' is empty: start and end are the same", tok);
                if (c->n_windows >= UMC_CONFIG_WINDOWS_MAX)
                        return fail_item(p, it, "too many windows (at most %d)",
                                         UMC_CONFIG_WINDOWS_MAX);
                c->windows[c->n_windows++] = w;
        }
        if (r < 0)
                return list_error(p, it, r);
        return 0;
}

#define D(field) offsetof(struct umc_daemon_config, field)
#define A(field) offsetof(struct umc_agent_config, field)

static const struct item daemon_items[] = {
        { .key = "StateDirectory", .parse = parse_path, .offset = D(state_directory) },
        { .key = "LogLevel", .parse = parse_log_level, .offset = D(log_level) },
        { .key = "ConnectTimeoutSec", .parse = parse_usec, .offset = D(connect_timeout_usec),
          .min = 1, .max = 600, .scale = USEC_PER_SEC },
        { .key = "AuthTimeoutSec", .parse = parse_usec, .offset = D(auth_timeout_usec),
          .min = 1, .max = 600, .scale = USEC_PER_SEC },
        { .key = "IdleTimeoutSec", .parse = parse_usec, .offset = D(idle_timeout_usec),
          .min = 5, .max = 3600, .scale = USEC_PER_SEC },
        { .key = "FinalCheckTimeoutSec", .parse = parse_usec, .offset = D(final_timeout_usec),
          .min = 10, .max = 86400, .scale = USEC_PER_SEC },
        { .key = "ConnectRetrySec", .parse = parse_usec, .offset = D(connect_retry_usec),
          .min = 0, .max = 3600, .scale = USEC_PER_SEC },
        { .key = "ConnectBackoffMSec", .parse = parse_usec, .offset = D(connect_backoff_usec),
          .min = 10, .max = 60000, .scale = USEC_PER_MSEC },
        { .key = "ConnectBackoffMaxSec", .parse = parse_usec,
          .offset = D(connect_backoff_max_usec), .min = 1, .max = 600, .scale = USEC_PER_SEC },
        { .key = "OperatorGroup", .parse = parse_group_name, .offset = D(operator_group) },
        { .key = "PackageDirectory", .parse = parse_package_dir, .offset = 0,
          .flags = ITEM_REPEATABLE },
};

static const struct item package_items[] = {
        { .key = "TrustAnchor", .parse = parse_path, .offset = D(trust_anchor) },
        { .key = "Crl", .parse = parse_path, .offset = D(crl_file) },
        { .key = "RequireSignature", .parse = parse_bool, .offset = D(require_signature) },
        { .key = "CheckOrder", .parse = parse_check_order, .offset = D(checks) },
};

static const struct item device_items[] = {
        { .key = "VehicleModel", .parse = parse_text, .offset = D(vehicle_model) },
        { .key = "HardwareRevision", .parse = parse_text, .offset = D(hw_revision) },
        { .key = "FeatureCode", .parse = parse_text, .offset = D(feature_code) },
        { .key = "FeatureKeyFile", .parse = parse_path, .offset = D(feature_key_file) },
};

static const struct item cloud_items[] = {
        { .key = "BaseUrl", .parse = parse_url, .offset = D(cloud_url) },
        { .key = "DeviceId", .parse = parse_device_id, .offset = D(device_id) },
        { .key = "SecretFile", .parse = parse_path, .offset = D(secret_file) },
        { .key = "Company", .parse = parse_text, .offset = D(company) },
        { .key = "Product", .parse = parse_text, .offset = D(product) },
        { .key = "CaFile", .parse = parse_path, .offset = D(ca_file) },
        { .key = "ClientCert", .parse = parse_path, .offset = D(client_cert) },
        { .key = "ClientKey", .parse = parse_path, .offset = D(client_key) },
        { .key = "Proxy", .parse = parse_url, .offset = D(proxy) },
        { .key = "AllowInsecure", .parse = parse_bool, .offset = D(allow_insecure) },
        { .key = "TokenMd5", .parse = parse_bool, .offset = D(token_md5) },
        { .key = "ConnectTimeoutSec", .parse = parse_u64, .offset = D(cloud_connect_timeout_sec),
          .min = 1, .max = 600 },
        { .key = "RequestTimeoutSec", .parse = parse_u64, .offset = D(cloud_request_timeout_sec),
          .min = 1, .max = 3600 },
        { .key = "LowSpeedLimit", .parse = parse_u64, .offset = D(low_speed_limit), .min = 0,
          .max = UINT64_C(1) << 30 },
        { .key = "LowSpeedTimeSec", .parse = parse_u64, .offset = D(low_speed_time_sec), .min = 0,
          .max = 3600 },
        { .key = "RateLimit", .parse = parse_u64, .offset = D(rate_limit), .min = 0,
          .max = UINT64_C(1) << 40 },
        { .key = "Retries", .parse = parse_unsigned, .offset = D(retries), .min = 0, .max = 100 },
        { .key = "Windows", .parse = parse_windows, .offset = 0, .flags = ITEM_REPEATABLE },
        { .key = "RandomDelaySec", .parse = parse_usec, .offset = D(random_delay_usec), .min = 0,
          .max = 86400, .scale = USEC_PER_SEC },
};

/* MaxRejectedFrames=: frames that failed authentication per checkpoint window (xferlimits.h). */
#define REJECTED_FRAMES_MAX 65535

static const struct item daemon_security_items[] = {
        { .key = "CipherOrder", .parse = parse_suite_order, .offset = D(rotation) },
        { .key = "InnerSuite", .parse = parse_suite_or_none, .offset = D(inner_suite) },
        { .key = "RotationIntervalSec", .parse = parse_usec, .offset = D(rotation.interval_usec),
          .min = 1, .max = 86400, .scale = USEC_PER_SEC },
        { .key = "RotationHoldoffSec", .parse = parse_usec, .offset = D(rotation.holdoff_usec),
          .min = 0, .max = 3600, .scale = USEC_PER_SEC },
        { .key = "ReplayWindow", .parse = parse_unsigned, .offset = D(replay_window),
          .min = 1, .max = UMC_REPLAY_WINDOW_MAX },
        { .key = "MaxRejectedFrames", .parse = parse_unsigned, .offset = D(max_rejected_frames),
          .min = 0, .max = REJECTED_FRAMES_MAX },
        { .key = "VerifyEvery", .parse = parse_unsigned_or_auto, .offset = D(verify_every),
          .min = 1, .max = 65535 },
        { .key = "ImageHash", .parse = parse_keyword, .offset = D(image_hash),
          .keywords = hash_keywords },
};

static const struct item daemon_load_items[] = {
        { .key = "WindowMSec", .parse = parse_usec, .offset = D(load.window_usec),
          .min = 10, .max = 60000, .scale = USEC_PER_MSEC },
        { .key = "MutationWindowSec", .parse = parse_usec, .offset = D(load.mutation_window_usec),
          .min = 1, .max = 3600, .scale = USEC_PER_SEC },
        { .key = "MutationFactor", .parse = parse_double, .offset = D(load.mutation_factor),
          .flags = ITEM_MIN_EXCLUSIVE, .dmin = 1, .dmax = 100 },
        { .key = "MutationMinDeltaPercent", .parse = parse_double,
          .offset = D(load.mutation_min_delta), .dmin = 0, .dmax = 100 },
        { .key = "AbnormalPercent", .parse = parse_double, .offset = D(load.abnormal_percent),
          .dmin = 1, .dmax = 1000 },
        { .key = "CanStuffing", .parse = parse_keyword, .offset = D(can_stuffing),
          .keywords = stuffing_keywords },
        { .key = "CanBitModel", .parse = parse_keyword, .offset = D(can_bit_model),
          .keywords = bitmodel_keywords },
        /* 100 Gbit/s: IEEE 802.3ba, far above any in-vehicle link. */
        { .key = "LinkRateMbit", .parse = parse_u64, .offset = D(link_rate_bps),
          .min = 0, .max = 100000, .scale = MBIT },
        { .key = "CeilingPercent", .parse = parse_unsigned, .offset = D(ceiling_percent),
          .min = 0, .max = 100 },
};

/* [Can], relative to struct umc_config_can: shared by both files. */
static const struct item can_bus_items[] = {
        { .key = "BitRate", .parse = parse_u64, .offset = offsetof(struct umc_config_can, bitrate),
          .min = 1, .max = UMC_CONFIG_CAN_BITRATE_MAX },
        { .key = "DataBitRate", .parse = parse_u64,
          .offset = offsetof(struct umc_config_can, data_bitrate),
          .min = 0, .max = UMC_CONFIG_CAN_DATA_BITRATE_MAX },
        { .key = "MaxPdu", .parse = parse_max_pdu, .offset = offsetof(struct umc_config_can, max_pdu),
          .min = 0, .max = UMC_CONFIG_CAN_MAX_PDU_MAX },
};

/*
 * The keys of one ISO-TP channel, for [Target NAME] and [Agent]: base is
 * the offset of the struct umc_can_channel in the section's struct.
 */
#define CH_OPT(base, f) ((base) + offsetof(struct umc_can_channel, isotp) + offsetof(struct umc_isotp_opts, f))
#define CAN_CHANNEL_ITEMS(base)                                                                    \
        { .key = "Interface", .parse = parse_ifname,                                               \
          .offset = (base) + offsetof(struct umc_can_channel, ifname), .flags = ITEM_CAN },        \
        { .key = "TxId", .parse = parse_isotp_id,                                                  \
          .offset = (base) + offsetof(struct umc_can_channel, isotp), .flags = ITEM_CAN },         \
        { .key = "RxId", .parse = parse_isotp_id,                                                  \
          .offset = (base) + offsetof(struct umc_can_channel, isotp),                              \
          .flags = ITEM_CAN | ITEM_CAN_RX },                                                       \
        { .key = "Fd", .parse = parse_bool, .offset = CH_OPT(base, fd), .flags = ITEM_CAN },       \
        { .key = "BitRateSwitch", .parse = parse_bool, .offset = CH_OPT(base, brs),                \
          .flags = ITEM_CAN },                                                                     \
        { .key = "Padding", .parse = parse_bool, .offset = CH_OPT(base, padding),                  \
          .flags = ITEM_CAN },                                                                     \
        { .key = "PadByte", .parse = parse_pad_byte, .offset = CH_OPT(base, pad_byte),             \
          .flags = ITEM_CAN },                                                                     \
        { .key = "BlockSize", .parse = parse_u8, .offset = CH_OPT(base, block_size),               \
          .flags = ITEM_CAN, .min = 0, .max = 255 },                                               \
        { .key = "STmin", .parse = parse_stmin, .offset = CH_OPT(base, stmin), .flags = ITEM_CAN }, \
        { .key = "FrameGapNSec", .parse = parse_unsigned, .offset = CH_OPT(base, frame_gap_ns),    \
          .flags = ITEM_CAN, .min = 0, .max = UMC_CONFIG_CAN_FRAME_GAP_NS_MAX }

/* Offsets relative to struct umc_config_can_ids / umc_config_eth_acl: shared by both files. */
static const struct item can_id_items[] = {
        { .key = "TolerancePercent", .parse = parse_double,
          .offset = offsetof(struct umc_config_can_ids, tolerance_pct), .dmin = 0.1, .dmax = 100 },
        { .key = "MinPeriods", .parse = parse_unsigned,
          .offset = offsetof(struct umc_config_can_ids, min_periods), .min = 1, .max = 10000 },
        { .key = "Id", .parse = parse_can_id, .offset = 0, .flags = ITEM_REPEATABLE },
};

static const struct item eth_acl_items[] = {
        { .key = "Rule", .parse = parse_eth_rule, .offset = 0, .flags = ITEM_REPEATABLE },
};

static const struct item target_items[] = {
        { .key = "EcuId", .parse = parse_ecu_id, .offset = offsetof(struct umc_ecu, ecu_id),
          .flags = ITEM_ECU },
        { .key = "HardwareId", .parse = parse_hw_id, .offset = offsetof(struct umc_ecu, hw_id),
          .flags = ITEM_ECU },
        { .key = "KeyFile", .parse = parse_path, .offset = offsetof(struct umc_ecu, key_file),
          .flags = ITEM_ECU },
        { .key = "Channel", .parse = parse_keyword, .offset = offsetof(struct umc_target, channel),
          .keywords = channel_keywords },
        { .key = "Address", .parse = parse_address, .offset = offsetof(struct umc_target, address) },
        CAN_CHANNEL_ITEMS(offsetof(struct umc_target, can)),
};

static const struct item agent_items[] = {
        { .key = "Mode", .parse = parse_keyword, .offset = A(mode), .keywords = mode_keywords },
        { .key = "Listen", .parse = parse_address, .offset = A(listen), .flags = ITEM_PORT_ZERO },
        { .key = "BindInterface", .parse = parse_ifname, .offset = A(bind_interface) },
        { .key = "EcuId", .parse = parse_ecu_id, .offset = A(ecu_id) },
        { .key = "HardwareId", .parse = parse_hw_id, .offset = A(hw_id) },
        { .key = "KeyFile", .parse = parse_path, .offset = A(key_file) },
        { .key = "SlotDirectory", .parse = parse_path, .offset = A(slot_directory) },
        { .key = "LogLevel", .parse = parse_log_level, .offset = A(log_level) },
        { .key = "MaxConnections", .parse = parse_unsigned, .offset = A(max_connections),
          .min = 1, .max = 64 },
        { .key = "HandshakeTimeoutSec", .parse = parse_usec, .offset = A(handshake_timeout_usec),
          .min = 1, .max = 300, .scale = USEC_PER_SEC },
        { .key = "IdleTimeoutSec", .parse = parse_usec, .offset = A(idle_timeout_usec),
          .min = 5, .max = 3600, .scale = USEC_PER_SEC },
        { .key = "MaxImageSize", .parse = parse_size, .offset = A(max_image_size),
          .min = 1, .max = AGENT_MAX_IMAGE_SIZE_MAX },
        { .key = "ResumeMaxAgeSec", .parse = parse_usec, .offset = A(resume_max_age_usec),
          .min = 0, .max = AGENT_RESUME_MAX_AGE_MAX_SEC, .scale = USEC_PER_SEC },
        { .key = "ResumeMaxSize", .parse = parse_size, .offset = A(resume_max_size),
          .min = 0, .max = AGENT_MAX_IMAGE_SIZE_MAX },
        { .key = "ForwardConfig", .parse = parse_path, .offset = A(forward_config) },
        { .key = "TrustAnchor", .parse = parse_path, .offset = A(trust_anchor) },
        { .key = "Crl", .parse = parse_path, .offset = A(crl) },
        { .key = "RequireSignature", .parse = parse_bool, .offset = A(require_signature) },
        { .key = "PackageKeyFile", .parse = parse_path, .offset = A(package_key_file) },
        { .key = "Channel", .parse = parse_keyword, .offset = A(channel), .keywords = channel_keywords },
        CAN_CHANNEL_ITEMS(A(can)),
};

static const struct item agent_security_items[] = {
        { .key = "AllowedSuites", .parse = parse_suite_set, .offset = A(allowed_suites) },
        { .key = "InnerSuite", .parse = parse_suite_or_none, .offset = A(inner_suite) },
        { .key = "ReplayWindow", .parse = parse_unsigned, .offset = A(replay_window),
          .min = 1, .max = UMC_REPLAY_WINDOW_MAX },
        { .key = "MaxRejectedFrames", .parse = parse_unsigned, .offset = A(max_rejected_frames),
          .min = 0, .max = REJECTED_FRAMES_MAX },
};

#define SECTION(n, t, off) { .name = (n), .items = (t), .n_items = UMC_ELEMENTSOF(t), .offset = (off) }

static const struct section daemon_sections[] = {
        SECTION("Daemon", daemon_items, 0),
        SECTION("Security", daemon_security_items, 0),
        SECTION("Load", daemon_load_items, 0),
        SECTION("Can", can_bus_items, D(can)),
        SECTION("CanIds", can_id_items, D(can_ids)),
        SECTION("EthernetAcl", eth_acl_items, D(eth_acl)),
        SECTION("Package", package_items, 0),
        SECTION("Device", device_items, 0),
        SECTION("Cloud", cloud_items, 0),
        { .name = "Target", .items = target_items, .n_items = UMC_ELEMENTSOF(target_items),
          .target = true },
};

static const struct section agent_sections[] = {
        SECTION("Agent", agent_items, 0),
        SECTION("Security", agent_security_items, 0),
        SECTION("Can", can_bus_items, A(can_bus)),
        SECTION("CanIds", can_id_items, A(can_ids)),
        SECTION("EthernetAcl", eth_acl_items, A(eth_acl)),
};

_Static_assert(UMC_CONFIG_CAN_FRAME_GAP_NS_MAX <= UINT32_MAX, "FrameGapNSec= fits frame_gap_ns");
_Static_assert(UMC_ELEMENTSOF(daemon_sections) <= SECTIONS_MAX, "seen[] too small");
_Static_assert(UMC_ELEMENTSOF(agent_sections) <= SECTIONS_MAX, "seen[] too small");
_Static_assert(UMC_ELEMENTSOF(daemon_items) <= ITEMS_MAX, "seen[] too small");
_Static_assert(UMC_ELEMENTSOF(daemon_security_items) <= ITEMS_MAX, "seen[] too small");
_Static_assert(UMC_ELEMENTSOF(daemon_load_items) <= ITEMS_MAX, "seen[] too small");
_Static_assert(UMC_ELEMENTSOF(agent_items) <= ITEMS_MAX, "seen[] too small");
_Static_assert(UMC_ELEMENTSOF(target_items) <= ITEMS_MAX, "seen[] too small");
_Static_assert(UMC_ELEMENTSOF(cloud_items) <= ITEMS_MAX, "seen[] too small");

/* ---- sections ---- */

/* umc_isotp_opts_default(), but padded: most ECUs expect padded frames (ISO 15765-2 leaves it open). */
static void can_channel_default(struct umc_can_channel *ch) {
        *ch = (struct umc_can_channel){};
        umc_isotp_opts_default(&ch->isotp);
        ch->isotp.padding = true;
}

/* [Target NAME]: append one target (ecus[], targets[] and our per-target state). */
static int target_begin(struct parser *p, const char *name) {
        struct umc_daemon_config *c = p->root;
        size_t n = c->n_targets;

        if (!umc_name_target_valid(name))
                return fail_at(p, -EINVAL, p->line, p->cur_name, NULL,
                               "a target needs a name of 1..%d characters A-Z a-z 0-9 _ -: "
                               "[Target NAME]", UMC_CONFIG_TARGET_NAME_MAX);
        for (size_t i = 0; i < n; i++)
                if (strcmp(c->ecus[i].name, name) == 0)
                        return fail_at(p, -EINVAL, p->line, p->cur_name, NULL,
                                       "duplicate target name (first at line %u)", p->targets[i].line);
        if (n >= UMC_CONFIG_TARGETS_MAX)
                return fail_at(p, -EINVAL, p->line, p->cur_name, NULL, "too many targets (at most %d)",
                               UMC_CONFIG_TARGETS_MAX);
        if (grow_array((void **)&c->ecus, n, sizeof(*c->ecus)) < 0 ||
            grow_array((void **)&c->targets, n, sizeof(*c->targets)) < 0 ||
            grow_array((void **)&p->targets, n, sizeof(*p->targets)) < 0)
                return fail_oom(p);

        c->ecus[n] = (struct umc_ecu){};
        (void)snprintf(c->ecus[n].name, sizeof(c->ecus[n].name), "%s", name);
        c->targets[n] = (struct umc_target){ .channel = UMC_CHANNEL_TCP };
        can_channel_default(&c->targets[n].can);
        p->targets[n] = (struct target_state){ .line = p->line };
        c->n_targets = n + 1;
        p->cur_seen = p->targets[n].seen;
        return 0;
}

static int section_begin(struct parser *p, const char *name) {
        char known[128];
        size_t len = 0;

        (void)snprintf(p->cur_name, sizeof(p->cur_name), "%s", name);
        p->cur = NULL;
        p->cur_seen = NULL;
        for (size_t i = 0; i < p->n_sections; i++) {
                const struct section *s = &p->sections[i];

                if (s->target) {
                        size_t n = strlen(s->name);

                        if (strncmp(name, s->name, n) != 0 || (name[n] != '\0' && name[n] != ' '))
                                continue;
                        p->cur = s;
                        return target_begin(p, name[n] ? name + n + 1 : "");
                }
                if (strcmp(name, s->name) == 0) {
                        p->cur = s;
                        p->cur_seen = p->seen[i];
                        return 0;
                }
        }

        known[0] = '\0';
        for (size_t i = 0; i < p->n_sections; i++) {
                int n = snprintf(known + len, sizeof(known) - len, "%s[%s%s]", len ? ", " : "",
                                 p->sections[i].name, p->sections[i].target ? " NAME" : "");
                if (n < 0 || (size_t)n >= sizeof(known) - len)
                        break;
                len += (size_t)n;
        }
        return fail_at(p, -EINVAL, p->line, p->cur_name, NULL, "unknown section (known: %s)", known);
}

/* ---- the inih reader and handler ---- */

/* The n characters before '=': a name of letters, digits and '_', then optional blanks. */
static bool key_name_valid(const char *s, size_t n) {
        size_t name = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");

        if (name == 0 || name > n)
                return false;
        while (name < n && is_blank(s[name]))
                name++;
        return name == n;
}

/*
 * fgets()-style reader for ini_parse_stream(): hands inih one checked line
 * at a time, at most num - 2 characters (room for a newline and the NUL,
 * as fgets() would need), and NULL to stop after the first error.
 */
static char *read_line(char *str, int num, void *stream) {
        struct parser *p = stream;
        size_t max = num > 2 ? (size_t)num - 2 : 0;
        char *s, *eq;
        ssize_t n;

        if (p->r < 0)
                return NULL;
        errno = 0;
        n = getline(&p->buf, &p->buf_size, p->f);
        if (n < 0) {
                if (ferror(p->f)) {
                        int r = errno > 0 ? -errno : -EIO;
                        (void)fail_at(p, r, 0, NULL, NULL, "cannot read: %s", strerror(-r));
                }
                return NULL;
        }
        p->line++;
        p->inline_comment = false;
        s = p->buf;

        if ((size_t)n != strlen(s)) {
                (void)fail_at(p, -EINVAL, p->line, NULL, NULL, "line contains a NUL byte");
                return NULL;
        }
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
                s[--n] = '\0';
        for (ssize_t i = 0; i < n; i++)
                if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
                        (void)fail_at(p, -EINVAL, p->line, NULL, NULL,
                                      "line contains a control character");
                        return NULL;
                }
        if (p->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
                s += 3; /* UTF-8 byte order mark */
        s += strspn(s, " \t");

        /* Blank line or full-line comment: inih needs nothing of it. */
        if (*s == '\0' || *s == ';' || *s == '#') {
                str[0] = '\0';
                return str;
        }
        if (strlen(s) > max) {
                (void)fail_at(p, -EINVAL, p->line, NULL, NULL,
                              "line too long (at most %zu characters)", max);
                return NULL;
        }

        if (*s == '[') {
                char *end = strchr(s, ']');
                char name[64];

                if (!end) {
                        (void)fail_at(p, -EINVAL, p->line, NULL, NULL, "section header lacks ']'");
                        return NULL;
                }
                (void)snprintf(name, sizeof(name), "%.*s", (int)(end - s - 1), s + 1);
                if (end[1 + strspn(end + 1, " \t")] != '\0') {
                        (void)fail_at(p, -EINVAL, p->line, name, NULL, "text after ']'");
                        return NULL;
                }
                if (section_begin(p, name) < 0)
                        return NULL;
        } else {
                /* inih also splits at ':' (configparser style): we allow only '='. */
                eq = strpbrk(s, "=:");
                if (!eq || *eq == ':' || !key_name_valid(s, (size_t)(eq - s))) {
                        (void)fail_at(p, -EINVAL, p->line, NULL, NULL,
                                      "expected Key=Value, a [Section] header or a comment");
                        return NULL;
                }
                for (const char *c = s + 1; *c; c++)
                        if ((*c == ';' || *c == '#') && is_blank(c[-1]))
                                p->inline_comment = true;
        }
        memcpy(str, s, strlen(s) + 1);
        return str;
}

static void *item_field(struct parser *p, const struct item *it) {
        if (p->cur->target) {
                struct umc_daemon_config *c = p->root;
                size_t i = c->n_targets - 1;

                if (it->flags & ITEM_ECU)
                        return (char *)&c->ecus[i] + it->offset;
                return (char *)&c->targets[i] + it->offset;
        }
        return (char *)p->root + p->cur->offset + it->offset;
}

static int handle_key(struct parser *p, const char *name, const char *value) {
        const struct item *it = NULL;
        char known[400];
        size_t idx, len = 0;

        if (!p->cur)
                return fail_at(p, -EINVAL, p->line, NULL, NULL, "%s: key outside of any section",
                               name);

        for (idx = 0; idx < p->cur->n_items; idx++)
                if (strcmp(name, p->cur->items[idx].key) == 0) {
                        it = &p->cur->items[idx];
                        break;
                }
        if (!it) {
                known[0] = '\0';
                for (size_t i = 0; i < p->cur->n_items; i++) {
                        int n = snprintf(known + len, sizeof(known) - len, "%s%s", len ? ", " : "",
                                         p->cur->items[i].key);
                        if (n < 0 || (size_t)n >= sizeof(known) - len)
                                break;
                        len += (size_t)n;
                }
                return fail_at(p, -EINVAL, p->line, p->cur_name, name,
                               "unknown key (known in this section: %s)", known);
        }
        if (p->inline_comment)
                return fail_item(p, it, "inline comments are not supported: put the comment on a "
                                        "line of its own");
        if (!(it->flags & ITEM_REPEATABLE) && p->cur_seen[idx] > 0)
                return fail_item(p, it, "given twice (first at line %u)", p->cur_seen[idx]);
        if (value[0] == '\0')
                return fail_item(p, it, "empty value");
        if (it->parse(p, it, value, item_field(p, it)) < 0)
                return p->r;
        if (p->cur_seen[idx] == 0)
                p->cur_seen[idx] = p->line;
        return 0;
}

/* ini_handler: nonzero means success. */
static int handle(void *user, const char *section, const char *name, const char *value) {
        struct parser *p = user;

        (void)section; /* p->cur, set by read_line(), is the same section */
        if (p->r < 0)
                return 0;
        return handle_key(p, name, value) >= 0;
}

/* ---- validation ---- */

/* Line where key was given in the (non-target) section, 0 if not given. */
static unsigned seen_line(const struct parser *p, const char *section, const char *key) {
        for (size_t i = 0; i < p->n_sections; i++) {
                if (strcmp(p->sections[i].name, section) != 0)
                        continue;
                for (size_t j = 0; j < p->sections[i].n_items; j++)
                        if (strcmp(p->sections[i].items[j].key, key) == 0)
                                return p->seen[i][j];
        }
        return 0;
}

static unsigned target_seen_line(const struct parser *p, size_t t, const char *key) {
        for (size_t j = 0; j < UMC_ELEMENTSOF(target_items); j++)
                if (strcmp(target_items[j].key, key) == 0)
                        return p->targets[t].seen[j];
        return 0;
}

static int load_key(struct parser *p, const char *path, uint8_t key[UMC_MASTER_KEY_LEN],
                    unsigned line, const char *section) {
        char why[UMC_WHY_MAX] = "";
        int r;

        r = umc_keyfile_load(path, key, why, sizeof(why));
        if (r < 0)
                return fail_at(p, r, line, section, "KeyFile", "%s: %s", path, why);
        return 0;
}

static int load_feature_key(struct parser *p, struct umc_daemon_config *c) {
        char why[UMC_WHY_MAX] = "";
        int r;

        if (!c->feature_key_file)
                return 0;
        r = umc_keyfile_load(c->feature_key_file, c->feature_key, why, sizeof(why));
        if (r < 0)
                return fail_at(p, r, seen_line(p, "Device", "FeatureKeyFile"), "Device",
                               "FeatureKeyFile", "%s: %s", c->feature_key_file,
                               why[0] ? why : strerror(-r));
        return 0;
}

static void apply_can_tolerance(struct umc_config_can_ids *ids) {
        for (size_t i = 0; i < ids->n_rules; i++)
                ids->rules[i].tolerance_pct = ids->tolerance_pct;
}

/*
 * Where a section instance's keys were given: [Target NAME] has its own
 * seen[] per target, the other sections one each in the parser.
 */
struct where {
        const char *section;         /* "Target NAME" or "Agent", for messages */
        const struct item *items;
        size_t n_items;
        const unsigned *seen;        /* parallel to items */
};

static unsigned where_line(const struct where *w, const char *key) {
        for (size_t j = 0; j < w->n_items; j++)
                if (strcmp(w->items[j].key, key) == 0)
                        return w->seen[j];
        return 0;
}

static struct where target_where(const struct parser *p, size_t t, const char *section) {
        return (struct where){
                .section = section,
                .items = target_items,
                .n_items = UMC_ELEMENTSOF(target_items),
                .seen = p->targets[t].seen,
        };
}

static struct where section_where(const struct parser *p, const char *section) {
        for (size_t i = 0; i < p->n_sections; i++)
                if (strcmp(p->sections[i].name, section) == 0)
                        return (struct where){
                                .section = section,
                                .items = p->sections[i].items,
                                .n_items = p->sections[i].n_items,
                                .seen = p->seen[i],
                        };
        return (struct where){ .section = section };
}

static int require_keys(struct parser *p, const struct where *w, const char *const keys[], size_t n) {
        for (size_t i = 0; i < n; i++)
                if (where_line(w, keys[i]) == 0)
                        return fail_at(p, -EINVAL, 0, w->section, NULL, "missing required key %s=",
                                       keys[i]);
        return 0;
}

/* One channel ID must be in the section's [CanIds]: the monitor would flag our own traffic. */
static int check_whitelisted(struct parser *p, const struct where *w, const char *key, uint32_t id,
                             bool eff, const struct umc_config_can_ids *ids) {
        char s[16];

        if (umc_canid_find(ids->rules, ids->n_rules, id, eff))
                return 0;
        format_can_id(id, eff, s);
        return fail_at(p, -EINVAL, where_line(w, key), w->section, key,
                       "%s is not in [CanIds]: the upgrade traffic must be whitelisted too (add "
                       "Id=%s)", s, s);
}

/*
 * The channel keys of one [Target NAME] or of [Agent]: with tcp none of the
 * CAN keys; with can no IP address (ip_key), Interface=, TxId=, RxId=
 * given, options umc_isotp_opts_check() accepts, and both IDs whitelisted.
 */
static int validate_channel(struct parser *p, const struct where *w, enum umc_channel_kind channel,
                            const char *ip_key, const struct umc_can_channel *ch,
                            const struct umc_config_can_ids *ids) {
        static const char *const required[] = { "Interface", "TxId", "RxId" };
        const struct umc_isotp_opts *o = &ch->isotp;
        unsigned line;
        char s[16];
        int r;

        if (channel != UMC_CHANNEL_CAN) {
                for (size_t j = 0; j < w->n_items; j++)
                        if ((w->items[j].flags & ITEM_CAN) && w->seen[j] > 0)
                                return fail_at(p, -EINVAL, w->seen[j], w->section, w->items[j].key,
                                               "only for Channel=can, and this channel is tcp");
                return 0;
        }

        line = where_line(w, ip_key);
        if (line > 0)
                return fail_at(p, -EINVAL, line, w->section, ip_key,
                               "not with Channel=can: the channel is Interface= with TxId= and "
                               "RxId=");
        r = require_keys(p, w, required, UMC_ELEMENTSOF(required));
        if (r < 0)
                return r;
        if (o->tx_id == o->rx_id) {
                format_can_id(o->rx_id, o->eff, s);
                return fail_at(p, -EINVAL, where_line(w, "RxId"), w->section, "RxId",
                               "%s is also the TxId: the two directions need different IDs", s);
        }
        if (o->brs && !o->fd)
                return fail_at(p, -EINVAL, where_line(w, "BitRateSwitch"), w->section,
                               "BitRateSwitch", "yes needs Fd=yes: the bit rate switches only "
                               "in CAN FD frames");
        /* isotp.c has the last word on what a socket accepts. */
        if (umc_isotp_opts_check(o) < 0)
                return fail_at(p, -EINVAL, 0, w->section, NULL,
                               "the ISO-TP channel refuses this combination of values");
        r = check_whitelisted(p, w, "TxId", o->tx_id, o->eff, ids);
        if (r < 0)
                return r;
        return check_whitelisted(p, w, "RxId", o->rx_id, o->eff, ids);
}

/*
 * Two targets on one interface must not share any ID: each ISO-TP socket
 * would also take the other's frames. That covers one's TxId being the
 * other's RxId too.
 */
static int check_can_ids_unique(struct parser *p, const struct umc_daemon_config *c, size_t t,
                                const struct where *w) {
        static const char *const keys[] = { "TxId", "RxId" };
        const struct umc_can_channel *ch = &c->targets[t].can;
        uint32_t ids[2] = { ch->isotp.tx_id, ch->isotp.rx_id };

        for (size_t u = 0; u < t; u++) {
                const struct umc_can_channel *other = &c->targets[u].can;
                uint32_t other_ids[2] = { other->isotp.tx_id, other->isotp.rx_id };

                if (c->targets[u].channel != UMC_CHANNEL_CAN ||
                    strcmp(other->ifname, ch->ifname) != 0 || other->isotp.eff != ch->isotp.eff)
                        continue;
                for (size_t k = 0; k < 2; k++)
                        for (size_t m = 0; m < 2; m++) {
                                char s[16];

                                if (ids[k] != other_ids[m])
                                        continue;
                                format_can_id(ids[k], ch->isotp.eff, s);
                                return fail_at(p, -EINVAL, where_line(w, keys[k]), w->section,
                                               keys[k], "%s on %s is already [Target %s]'s %s: "
                                               "targets on one interface need IDs of their own",
                                               s, ch->ifname, c->ecus[u].name, keys[m]);
                        }
        }
        return 0;
}

/* [Can] against the channels that use it: BRS needs a data-phase bit rate. */
static int validate_can_bus(struct parser *p, const struct umc_config_can *bus, bool brs,
                            const char *user) {
        if (brs && bus->data_bitrate == 0)
                return fail_at(p, -EINVAL, seen_line(p, "Can", "DataBitRate"), "Can", "DataBitRate",
                               "0 (none), but [%s] has BitRateSwitch=yes: give the data phase's "
                               "bit rate", user);
        return 0;
}

static int validate_targets(struct parser *p, struct umc_daemon_config *c) {
        static const char *const required[] = { "EcuId", "HardwareId", "KeyFile" };
        static const char *const required_tcp[] = { "Address" };

        for (size_t t = 0; t < c->n_targets; t++) {
                const struct umc_target *target = &c->targets[t];
                char section[64];
                struct where w;
                int r;

                (void)snprintf(section, sizeof(section), "Target %s", c->ecus[t].name);
                w = target_where(p, t, section);
                r = require_keys(p, &w, required, UMC_ELEMENTSOF(required));
                if (r < 0)
                        return r;
                r = validate_channel(p, &w, target->channel, "Address", &target->can, &c->can_ids);
                if (r < 0)
                        return r;
                if (target->channel == UMC_CHANNEL_TCP) {
                        r = require_keys(p, &w, required_tcp, UMC_ELEMENTSOF(required_tcp));
                        if (r < 0)
                                return r;
                }
                for (size_t u = 0; u < t; u++)
                        if (c->ecus[u].ecu_id == c->ecus[t].ecu_id)
                                return fail_at(p, -EINVAL, where_line(&w, "EcuId"), section, "EcuId",
                                               "0x%08" PRIx32 " is already used by [Target %s]",
                                               c->ecus[t].ecu_id, c->ecus[u].name);
                if (target->channel == UMC_CHANNEL_CAN) {
                        r = check_can_ids_unique(p, c, t, &w);
                        if (r < 0)
                                return r;
                        r = validate_can_bus(p, &c->can, target->can.isotp.brs, section);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* The load classifier's cross-field rules in the file's terms; loadclass.c has the last word. */
static int validate_load(struct parser *p, const struct umc_load_cfg *load) {
        unsigned line = seen_line(p, "Load", "MutationWindowSec");
        const char *key = "MutationWindowSec";

        if (line == 0) {
                line = seen_line(p, "Load", "WindowMSec");
                key = "WindowMSec";
        }
        if (load->mutation_window_usec < load->window_usec)
                return fail_at(p, -EINVAL, line, "Load", key,
                               "MutationWindowSec (%" PRIu64 " s) is shorter than one window "
                               "(WindowMSec=%" PRIu64 ")", load->mutation_window_usec / USEC_PER_SEC,
                               load->window_usec / USEC_PER_MSEC);
        if (load->mutation_window_usec > UMC_LOAD_HISTORY_MAX * load->window_usec)
                return fail_at(p, -EINVAL, line, "Load", key,
                               "MutationWindowSec (%" PRIu64 " s) spans more than %d windows of "
                               "WindowMSec=%" PRIu64, load->mutation_window_usec / USEC_PER_SEC,
                               UMC_LOAD_HISTORY_MAX, load->window_usec / USEC_PER_MSEC);
        if (umc_load_cfg_validate(load) < 0)
                return fail_at(p, -EINVAL, 0, "Load", NULL,
                               "the bus-load model refuses this combination of values");
        return 0;
}

static bool checks_have(const struct umc_config_checks *c, enum umc_pkg_check check) {
        for (size_t i = 0; i < c->n; i++)
                if (c->order[i] == check)
                        return true;
        return false;
}

/* [Device] FeatureCode= and FeatureKeyFile=: both, exactly when CheckOrder= has feature-code. */
static int validate_feature(struct parser *p, const struct umc_daemon_config *c) {
        bool listed = checks_have(&c->checks, UMC_PKG_CHECK_FEATURE_CODE);

        if (listed && (!c->feature_code[0] || !c->feature_key_file))
                return fail_at(p, -EINVAL, seen_line(p, "Package", "CheckOrder"), "Device", NULL,
                               "FeatureCode= and FeatureKeyFile= are required: CheckOrder= has "
                               "feature-code, which opens each signed package's feature code "
                               "with the key and compares it with the code");
        if (!listed && (c->feature_code[0] || c->feature_key_file))
                return fail_at(p, -EINVAL,
                               seen_line(p, "Device", c->feature_code[0] ? "FeatureCode"
                                                                         : "FeatureKeyFile"),
                               "Device", c->feature_code[0] ? "FeatureCode" : "FeatureKeyFile",
                               "set, but [Package] CheckOrder= does not list feature-code: it "
                               "would never be checked");
        return 0;
}

/* [Cloud]: what a configured backend needs; [Package]: what signed packages need. */
static int validate_cloud(struct parser *p, struct umc_daemon_config *c) {
        static const char *const required[] = { "DeviceId", "SecretFile", "Company", "Product",
                                                "CaFile", "TrustAnchor" };
        char why[256] = "";
        bool secure = false;
        int r;

        if (c->crl_file && !c->trust_anchor)
                return fail_at(p, -EINVAL, seen_line(p, "Package", "Crl"), "Package", "Crl",
                               "a CRL needs TrustAnchor= (the CAs whose revocations it lists)");
        for (size_t i = 0; c->trust_anchor && i < c->checks.n; i++)
                if (c->checks.order[i] == UMC_PKG_CHECK_FACTORY &&
                    (!c->vehicle_model[0] || !c->hw_revision[0]))
                        return fail_at(p, -EINVAL, 0, "Device", NULL,
                                       "VehicleModel= and HardwareRevision= are required: "
                                       "CheckOrder= checks the factory parameters of signed "
                                       "packages against them");
        if (!c->cloud_url) {
                if (seen_line(p, "Cloud", "DeviceId") || seen_line(p, "Cloud", "SecretFile"))
                        return fail_at(p, -EINVAL, 0, "Cloud", NULL, "BaseUrl= is missing");
                return 0;
        }
        for (size_t i = 0; i < UMC_ELEMENTSOF(required); i++) {
                const char *sec = strcmp(required[i], "TrustAnchor") == 0 ? "Package" : "Cloud";

                if (!seen_line(p, sec, required[i]))
                        return fail_at(p, -EINVAL, 0, sec, NULL,
                                       "%s= is required with [Cloud] BaseUrl=%s", required[i],
                                       strcmp(sec, "Package") == 0
                                               ? " (every package from the cloud is signed)" : "");
        }
        if (!c->client_cert != !c->client_key)
                return fail_at(p, -EINVAL, seen_line(p, "Cloud", c->client_cert ? "ClientCert"
                                                                                : "ClientKey"),
                               "Cloud", c->client_cert ? "ClientCert" : "ClientKey",
                               "ClientCert= and ClientKey= go together");
        (void)umc_cloudmsg_check_url(c->cloud_url, &secure);
        if (!secure && !c->allow_insecure)
                return fail_at(p, -EINVAL, seen_line(p, "Cloud", "BaseUrl"), "Cloud", "BaseUrl",
                               "'%s' is not TLS: use https:// or set AllowInsecure=yes",
                               c->cloud_url);
        r = umc_keyfile_load(c->secret_file, c->cloud_secret, why, sizeof(why));
        if (r < 0)
                return fail_at(p, r, seen_line(p, "Cloud", "SecretFile"), "Cloud", "SecretFile",
                               "%s: %s", c->secret_file, why[0] ? why : strerror(-r));
        return 0;
}

static int validate_daemon(struct parser *p) {
        struct umc_daemon_config *c = p->root;
        int r;

        r = validate_targets(p, c);
        if (r < 0)
                return r;

        if (c->rotation.holdoff_usec > c->rotation.interval_usec) {
                unsigned line = seen_line(p, "Security", "RotationHoldoffSec");
                const char *key = "RotationHoldoffSec";

                if (line == 0) {
                        line = seen_line(p, "Security", "RotationIntervalSec");
                        key = "RotationIntervalSec";
                }
                return fail_at(p, -EINVAL, line, "Security", key,
                               "RotationHoldoffSec=%" PRIu64 " exceeds RotationIntervalSec=%" PRIu64,
                               c->rotation.holdoff_usec / USEC_PER_SEC,
                               c->rotation.interval_usec / USEC_PER_SEC);
        }

        if (c->connect_backoff_usec > c->connect_backoff_max_usec) {
                unsigned line = seen_line(p, "Daemon", "ConnectBackoffMSec");
                const char *key = "ConnectBackoffMSec";

                if (line == 0) {
                        line = seen_line(p, "Daemon", "ConnectBackoffMaxSec");
                        key = "ConnectBackoffMaxSec";
                }
                return fail_at(p, -EINVAL, line, "Daemon", key,
                               "ConnectBackoffMSec=%" PRIu64 " exceeds ConnectBackoffMaxSec=%" PRIu64
                               " (the first wait may not be longer than the longest)",
                               c->connect_backoff_usec / USEC_PER_MSEC,
                               c->connect_backoff_max_usec / USEC_PER_SEC);
        }

        r = validate_load(p, &c->load);
        if (r < 0)
                return r;

        apply_can_tolerance(&c->can_ids);

        r = validate_feature(p, c);
        if (r < 0)
                return r;
        /* Last: no key is read until the whole file is known good. */
        r = validate_cloud(p, c);
        if (r < 0)
                return r;
        r = load_feature_key(p, c);
        if (r < 0)
                return r;
        for (size_t t = 0; t < c->n_targets; t++) {
                char section[64];

                (void)snprintf(section, sizeof(section), "Target %s", c->ecus[t].name);
                r = load_key(p, c->ecus[t].key_file, c->targets[t].master_key,
                             target_seen_line(p, t, "KeyFile"), section);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Mode= and ForwardConfig=: a gateway needs the file of the ECUs behind it, and reaches umcd over IP. */
static int validate_agent_mode(struct parser *p, const struct umc_agent_config *c,
                               const struct where *w) {
        unsigned line = where_line(w, "ForwardConfig");

        if (c->mode != UMC_AGENT_GATEWAY) {
                if (line > 0)
                        return fail_at(p, -EINVAL, line, "Agent", "ForwardConfig",
                                       "only for Mode=gateway: an endpoint forwards nothing");
                return 0;
        }
        if (line == 0)
                return fail_at(p, -EINVAL, 0, "Agent", NULL,
                               "missing required key ForwardConfig= (Mode=gateway)");
        if (c->channel != UMC_CHANNEL_TCP)
                return fail_at(p, -EINVAL, where_line(w, "Channel"), "Agent", "Channel",
                               "Mode=gateway needs Channel=tcp: umcd reaches a gateway over IP, "
                               "and the gateway forwards on CAN");
        return 0;
}

/*
 * The ECU's trust anchor: loaded here, like the key, so that a bad file
 * stops the start (and --check-config) rather than the first delivery.
 */
static int validate_agent_trust(struct parser *p, struct umc_agent_config *c,
                                const struct where *w) {
        char why[256] = "";
        int r;

        /* Endpoints must check the backend's signature; a gateway may (default no). */
        if (c->mode == UMC_AGENT_GATEWAY && where_line(w, "RequireSignature") == 0)
                c->require_signature = false;
        if (c->crl && !c->trust_anchor)
                return fail_at(p, -EINVAL, where_line(w, "Crl"), "Agent", "Crl",
                               "needs TrustAnchor=: a CRL is checked against the anchor's chain");
        if (!c->trust_anchor) {
                if (!c->require_signature)
                        return 0;
                return fail_at(p, -EINVAL, where_line(w, "RequireSignature"), "Agent",
                               "RequireSignature", "yes (the default) needs TrustAnchor=, the "
                               "certificate that signed manifests must chain to; set "
                               "RequireSignature=no to accept images without a signed manifest");
        }
        r = umc_sig_trust_load(c->trust_anchor, c->crl, &c->trust, why, sizeof(why));
        if (r < 0) {
                /* why names the file; point at the key that named it. */
                const char *key = c->crl && strstr(why, c->crl) ? "Crl" : "TrustAnchor";
                return fail_at(p, r, where_line(w, key), "Agent", key, "%s", why);
        }
        return 0;
}

/*
 * The key an endpoint opens images sealed for it with. A gateway relays
 * ciphertext it must not be able to read, so it gets no key.
 */
static int validate_agent_package_key(struct parser *p, struct umc_agent_config *c,
                                      const struct where *w) {
        unsigned line = where_line(w, "PackageKeyFile");
        char why[UMC_WHY_MAX] = "";
        int r;

        if (!c->package_key_file)
                return 0;
        if (c->mode == UMC_AGENT_GATEWAY)
                return fail_at(p, -EINVAL, line, "Agent", "PackageKeyFile",
                               "not with Mode=gateway: a gateway relays the ciphertext of "
                               "images sealed for the ECUs behind it and never opens them");
        r = umc_keyfile_load(c->package_key_file, c->package_key, why, sizeof(why));
        if (r < 0)
                return fail_at(p, r, line, "Agent", "PackageKeyFile", "%s: %s",
                               c->package_key_file, why[0] ? why : strerror(-r));
        return 0;
}

static int validate_agent(struct parser *p) {
        static const char *const required[] = { "EcuId", "HardwareId", "KeyFile" };
        struct umc_agent_config *c = p->root;
        struct where w = section_where(p, "Agent");
        int r;

        r = require_keys(p, &w, required, UMC_ELEMENTSOF(required));
        if (r < 0)
                return r;
        r = validate_agent_mode(p, c, &w);
        if (r < 0)
                return r;
        r = validate_channel(p, &w, c->channel, "Listen", &c->can, &c->can_ids);
        if (r < 0)
                return r;
        if (c->channel == UMC_CHANNEL_CAN && where_line(&w, "BindInterface") > 0)
                return fail_at(p, -EINVAL, where_line(&w, "BindInterface"), "Agent",
                               "BindInterface", "not with Channel=can: it binds the TCP "
                               "listener, and the CAN channel has Interface=");
        if (c->channel == UMC_CHANNEL_CAN) {
                r = validate_can_bus(p, &c->can_bus, c->can.isotp.brs, "Agent");
                if (r < 0)
                        return r;
        }

        apply_can_tolerance(&c->can_ids);
        r = load_key(p, c->key_file, c->master_key, where_line(&w, "KeyFile"), "Agent");
        if (r < 0)
                return r;
        r = validate_agent_package_key(p, c, &w);
        if (r < 0)
                return r;
        return validate_agent_trust(p, c, &w);
}

/* ---- loading ---- */

static int parse_file(const char *path, const struct section *sections, size_t n_sections,
                      void *root, int (*validate)(struct parser *p), struct umc_config_error *err) {
        struct parser p = {
                .path = path,
                .sections = sections,
                .n_sections = n_sections,
                .root = root,
                .err = err,
        };
        int r;

        p.f = fopen(path, "re");
        if (!p.f) {
                r = -errno;
                return fail_at(&p, r, 0, NULL, NULL, "cannot open: %s", strerror(-r));
        }

        r = ini_parse_stream(read_line, &p, handle, &p);
        if (p.r == 0 && r > 0)
                /* read_line() pre-checks every line, so inih should never get here first. */
                (void)fail_at(&p, -EINVAL, (unsigned)r, NULL, NULL, "syntax error");
        else if (p.r == 0 && r < 0)
                (void)fail_at(&p, r == -2 ? -ENOMEM : -EIO, 0, NULL, NULL, "parser failure (%d)", r);
        if (p.r == 0)
                (void)validate(&p);

        (void)fclose(p.f);
        free(p.buf);
        free(p.targets);
        return p.r;
}

#define CAN_BUS_DEFAULT                                                                            \
        {                                                                                          \
                .bitrate = UMC_CONFIG_CAN_BITRATE_DEFAULT,                                         \
                .data_bitrate = UMC_CONFIG_CAN_DATA_BITRATE_DEFAULT,                               \
                .max_pdu = 0,                                                                      \
        }

int umc_daemon_config_init(struct umc_daemon_config *ret) {
        struct umc_daemon_config c = {
                .log_level = LOG_INFO,
                .connect_timeout_usec = DAEMON_CONNECT_TIMEOUT_DEFAULT,
                .auth_timeout_usec = DAEMON_AUTH_TIMEOUT_DEFAULT,
                .idle_timeout_usec = DAEMON_IDLE_TIMEOUT_DEFAULT,
                .final_timeout_usec = DAEMON_FINAL_TIMEOUT_DEFAULT,
                .connect_retry_usec = DAEMON_CONNECT_RETRY_DEFAULT,
                .connect_backoff_usec = DAEMON_CONNECT_BACKOFF_DEFAULT,
                .connect_backoff_max_usec = DAEMON_CONNECT_BACKOFF_MAX_DEFAULT,
                .inner_suite = UMC_SUITE_NONE,
                .replay_window = UMC_REPLAY_WINDOW_DEFAULT,
                .max_rejected_frames = UMC_XFER_REJECT_LIMIT_DEFAULT,
                .verify_every = 0,
                .image_hash = UMC_HASH_SHA256,
                .can_stuffing = UMC_STUFF_WORST,
                .can_bit_model = UMC_BITMODEL_ISO,
                .can = CAN_BUS_DEFAULT,
                .can_ids = {
                        .tolerance_pct = CAN_TOLERANCE_PCT_DEFAULT,
                        .min_periods = UMC_CANMON_MIN_PERIODS_DEFAULT,
                },
                .require_signature = true,
                .checks = { .order = { UMC_PKG_CHECK_SIGNATURE, UMC_PKG_CHECK_FACTORY,
                                       UMC_PKG_CHECK_TARGET, UMC_PKG_CHECK_VERSION },
                            .n = 4 },
                .cloud_connect_timeout_sec = CLOUD_CONNECT_TIMEOUT_DEFAULT,
                .cloud_request_timeout_sec = CLOUD_REQUEST_TIMEOUT_DEFAULT,
                .low_speed_limit = CLOUD_LOW_SPEED_LIMIT_DEFAULT,
                .low_speed_time_sec = CLOUD_LOW_SPEED_TIME_DEFAULT,
                .retries = CLOUD_RETRIES_DEFAULT,
                .random_delay_usec = CLOUD_RANDOM_DELAY_DEFAULT,
        };

        umc_rotation_cfg_default(&c.rotation);
        umc_load_cfg_default(&c.load);
        c.state_directory = strdup(DAEMON_STATE_DIRECTORY_DEFAULT);
        c.operator_group = strdup(DAEMON_OPERATOR_GROUP_DEFAULT);
        if (!c.state_directory || !c.operator_group) {
                umc_daemon_config_free(&c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

int umc_agent_config_init(struct umc_agent_config *ret) {
        struct umc_agent_config c = {
                .mode = UMC_AGENT_ENDPOINT,
                .listen = {
                        .in = {
                                .sin_family = AF_INET,
                                .sin_port = htons(UMC_AGENT_PORT_DEFAULT),
                                .sin_addr = { .s_addr = htonl(INADDR_ANY) },
                        },
                        .len = sizeof(struct sockaddr_in),
                },
                .log_level = LOG_INFO,
                .max_connections = AGENT_MAX_CONNECTIONS_DEFAULT,
                .handshake_timeout_usec = AGENT_HANDSHAKE_TIMEOUT_DEFAULT,
                .idle_timeout_usec = AGENT_IDLE_TIMEOUT_DEFAULT,
                .max_image_size = AGENT_MAX_IMAGE_SIZE_DEFAULT,
                .resume_max_age_usec = AGENT_RESUME_MAX_AGE_DEFAULT,
                .resume_max_size = AGENT_MAX_IMAGE_SIZE_DEFAULT,
                .inner_suite = UMC_SUITE_NONE,
                .replay_window = UMC_REPLAY_WINDOW_DEFAULT,
                .max_rejected_frames = UMC_XFER_REJECT_LIMIT_DEFAULT,
                .require_signature = true,
                .channel = UMC_CHANNEL_TCP,
                .can_bus = CAN_BUS_DEFAULT,
                .can_ids = {
                        .tolerance_pct = CAN_TOLERANCE_PCT_DEFAULT,
                        .min_periods = UMC_CANMON_MIN_PERIODS_DEFAULT,
                },
        };

        can_channel_default(&c.can);
        for (unsigned id = 1; id < _UMC_SUITE_MAX; id++)
                c.allowed_suites |= 1u << id;
        c.slot_directory = strdup(AGENT_SLOT_DIRECTORY_DEFAULT);
        if (!c.slot_directory) {
                umc_agent_config_free(&c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

static void set_error(struct umc_config_error *err, const char *path, int r) {
        if (err)
                (void)snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(-r));
}

int umc_daemon_config_load(const char *path, struct umc_daemon_config *ret,
                           struct umc_config_error *err) {
        struct umc_daemon_config c;
        int r;

        if (err)
                err->msg[0] = '\0';
        r = umc_daemon_config_init(&c);
        if (r < 0) {
                set_error(err, path, r);
                return r;
        }
        r = parse_file(path, daemon_sections, UMC_ELEMENTSOF(daemon_sections), &c, validate_daemon,
                       err);
        if (r >= 0 && !(c.path = strdup(path))) {
                r = -ENOMEM;
                set_error(err, path, r);
        }
        if (r < 0) {
                umc_daemon_config_free(&c);
                return r;
        }
        *ret = c;
        umc_memzero(&c, sizeof(c)); /* holds no keys (they are on the heap), but cheap */
        return 0;
}

int umc_agent_config_load(const char *path, struct umc_agent_config *ret,
                          struct umc_config_error *err) {
        struct umc_agent_config c;
        int r;

        if (err)
                err->msg[0] = '\0';
        r = umc_agent_config_init(&c);
        if (r < 0) {
                set_error(err, path, r);
                return r;
        }
        r = parse_file(path, agent_sections, UMC_ELEMENTSOF(agent_sections), &c, validate_agent,
                       err);
        if (r >= 0 && !(c.path = strdup(path))) {
                r = -ENOMEM;
                set_error(err, path, r);
        }
        if (r < 0) {
                umc_agent_config_free(&c);
                return r;
        }
        *ret = c;
        umc_memzero(&c, sizeof(c)); /* the master key must not stay on the stack */
        return 0;
}

void umc_daemon_config_free(struct umc_daemon_config *c) {
        if (!c)
                return;
        free(c->path);
        free(c->state_directory);
        free(c->operator_group);
        for (size_t i = 0; i < c->n_package_dirs; i++)
                free(c->package_dirs[i]);
        free(c->package_dirs);
        free(c->can_ids.rules);
        free(c->eth_acl.rules);
        free(c->trust_anchor);
        free(c->crl_file);
        free(c->feature_key_file);
        free(c->cloud_url);
        free(c->device_id);
        free(c->secret_file);
        free(c->ca_file);
        free(c->client_cert);
        free(c->client_key);
        free(c->proxy);
        if (c->ecus)
                for (size_t i = 0; i < c->n_targets; i++)
                        free(c->ecus[i].key_file);
        free(c->ecus);
        if (c->targets)
                umc_memzero(c->targets, c->n_targets * sizeof(*c->targets));
        free(c->targets);
        umc_memzero(c, sizeof(*c));
}

void umc_agent_config_free(struct umc_agent_config *c) {
        if (!c)
                return;
        free(c->path);
        free(c->key_file);
        free(c->package_key_file);
        free(c->slot_directory);
        free(c->forward_config);
        free(c->trust_anchor);
        free(c->crl);
        umc_sig_trust_free(c->trust);
        free(c->can_ids.rules);
        free(c->eth_acl.rules);
        umc_memzero(c, sizeof(*c)); /* cleanses master_key */
}

/* ---- warnings: valid, but cannot work ---- */

/*
 * The TCP connections an ACL check will see on one channel: the protocol,
 * family and destination port are known; the destination address is
 * known unless the agent listens on a wildcard; source, source port and
 * VLAN are never known in advance.
 */
struct acl_reach {
        int family;                    /* AF_INET or AF_INET6 */
        uint8_t dst[16];
        bool dst_any;                  /* a wildcard listener: any local address */
        uint16_t dport;                /* 0 with a listener on a kernel-picked port: any */
        char host[INET6_ADDRSTRLEN];   /* dst as text */
};

static bool prefix_contains(const uint8_t *net, unsigned prefix, const uint8_t *addr) {
        unsigned bytes = prefix / 8, bits = prefix % 8;

        if (memcmp(net, addr, bytes) != 0)
                return false;
        return bits == 0 || ((net[bytes] ^ addr[bytes]) & (uint8_t)(0xff << (8 - bits))) == 0;
}

/* Whether some connection of ch can match rule e; *ret_all: whether every one does. */
static bool acl_rule_may_match(const struct umc_eth_rule *e, const struct acl_reach *ch,
                               bool *ret_all) {
        bool dst_all = e->dst_prefix == 0, port_all = e->dport_lo == 0 && e->dport_hi == 65535;

        if ((e->proto != 0 && e->proto != 6) || (e->family != 0 && e->family != ch->family))
                return false;
        if (!ch->dst_any && !dst_all && !prefix_contains(e->dst, e->dst_prefix, ch->dst))
                return false;
        if (ch->dport != 0 && (ch->dport < e->dport_lo || ch->dport > e->dport_hi))
                return false;
        *ret_all = e->src_prefix == 0 && e->sport_lo == 0 && e->sport_hi == 65535 &&
                   e->vlan == UMC_VLAN_ANY && (!ch->dst_any || dst_all) && (ch->dport != 0 || port_all);
        return true;
}

/*
 * First match wins (ethacl.h): the channel is unreachable when no allow rule
 * can match before a deny rule that matches all of it, or at all. Returns
 * true when some connection may be allowed; else *ret_rule is the deny
 * rule's index, or n for the default deny.
 */
static bool acl_may_allow(const struct umc_config_eth_acl *acl, const struct acl_reach *ch,
                          size_t *ret_rule) {
        for (size_t i = 0; i < acl->n_rules; i++) {
                bool all = false;

                if (!acl_rule_may_match(&acl->rules[i], ch, &all))
                        continue;
                if (acl->rules[i].allow)
                        return true;
                if (all) {
                        *ret_rule = i;
                        return false;
                }
        }
        *ret_rule = acl->n_rules;
        return false;
}

static void reach_from_sockaddr(const struct umc_sockaddr *a, struct acl_reach *ret, char *text,
                                size_t size) {
        *ret = (struct acl_reach){ .family = a->sa.sa_family, .host = "?" };
        if (a->sa.sa_family == AF_INET6) {
                memcpy(ret->dst, &a->in6.sin6_addr, 16);
                ret->dst_any = IN6_IS_ADDR_UNSPECIFIED(&a->in6.sin6_addr);
                ret->dport = ntohs(a->in6.sin6_port);
                (void)inet_ntop(AF_INET6, &a->in6.sin6_addr, ret->host, sizeof(ret->host));
                (void)snprintf(text, size, "[%s]:%u", ret->host, ret->dport);
        } else {
                memcpy(ret->dst, &a->in.sin_addr, 4);
                ret->dst_any = a->in.sin_addr.s_addr == htonl(INADDR_ANY);
                ret->dport = ntohs(a->in.sin_port);
                (void)inet_ntop(AF_INET, &a->in.sin_addr, ret->host, sizeof(ret->host));
                (void)snprintf(text, size, "%s:%u", ret->host, ret->dport);
        }
}

static void warnf(umc_config_warn_fn warn, void *userdata, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void warnf(umc_config_warn_fn warn, void *userdata, const char *fmt, ...) {
        char text[512];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        if (warn)
                warn(userdata, text);
}

/* The deny that blocks a channel, as words: "Rule= number 2 denies ..." or "no Rule= allows ...". */
static const char *acl_blocker(const struct umc_config_eth_acl *acl, size_t rule, char *buf,
                               size_t size) {
        if (rule < acl->n_rules)
                (void)snprintf(buf, size, "[EthernetAcl] Rule= number %zu denies every connection "
                                          "to it before any rule allows one", rule + 1);
        else
                (void)snprintf(buf, size, "no [EthernetAcl] Rule= allows a connection to it%s",
                               acl->n_rules == 0 ? " (the file has no Rule= at all)" : "");
        return buf;
}

size_t umc_daemon_config_warnings(const struct umc_daemon_config *c, umc_config_warn_fn warn,
                                  void *userdata) {
        size_t n = 0;

        for (size_t i = 0; c && i < c->n_targets; i++) {
                char addr[INET6_ADDRSTRLEN + 8], why[160];
                struct acl_reach ch;
                size_t rule;

                if (c->targets[i].channel != UMC_CHANNEL_TCP)
                        continue;
                reach_from_sockaddr(&c->targets[i].address, &ch, addr, sizeof(addr));
                if (acl_may_allow(&c->eth_acl, &ch, &rule))
                        continue;
                warnf(warn, userdata,
                      "%s: [Target %s] Address=%s: %s, so umcd refuses every install to it; "
                      "add e.g. 'Rule=allow proto=tcp dst=%s dport=%u' to [EthernetAcl]%s",
                      c->path ? c->path : "umcd.conf", c->ecus[i].name, addr,
                      acl_blocker(&c->eth_acl, rule, why, sizeof(why)), ch.host, ch.dport,
                      rule < c->eth_acl.n_rules ? " before that rule" : "");
                n++;
        }
        return n;
}

size_t umc_agent_config_warnings(const struct umc_agent_config *c, umc_config_warn_fn warn,
                                 void *userdata) {
        char addr[INET6_ADDRSTRLEN + 8], why[160], port[16] = "";
        struct acl_reach ch;
        size_t rule;

        if (!c || c->channel != UMC_CHANNEL_TCP)
                return 0;
        reach_from_sockaddr(&c->listen, &ch, addr, sizeof(addr));
        if (acl_may_allow(&c->eth_acl, &ch, &rule))
                return 0;
        if (ch.dport != 0)
                (void)snprintf(port, sizeof(port), " dport=%u", ch.dport);
        warnf(warn, userdata,
              "%s: [Agent] Listen=%s: %s, so the agent refuses umcd; add e.g. "
              "'Rule=allow proto=tcp src=UMCD-ADDRESS%s' to [EthernetAcl]%s",
              c->path ? c->path : "umc-agent.conf", addr,
              acl_blocker(&c->eth_acl, rule, why, sizeof(why)), port,
              rule < c->eth_acl.n_rules ? " before that rule" : "");
        return 1;
}
