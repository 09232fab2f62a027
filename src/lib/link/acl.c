/* SPDX-License-Identifier: MIT */
#include "umc/acl.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>

#include "umc/parse.h"
#include "umc/util.h"

#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define IPPROTO_TCP_NUM 6  /* IANA protocol numbers */
#define IPPROTO_UDP_NUM 17
#define VLAN_ID_MAX 4094   /* IEEE 802.1Q: 0 and 4095 are reserved */
#define WHY_ECHO_MAX 48    /* characters of the offending text quoted in a message */

/* ---- small parsers over (pointer, length) ---- */

static bool token_is(const char *s, size_t len, const char *word) {
        return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* ---- CAN ID whitelist ---- */

static uint32_t canid_max(bool eff) {
        return eff ? UMC_CANID_EFF_MAX : UMC_CANID_SFF_MAX;
}

static bool tolerance_valid(double tol) {
        /* Written so that NaN fails. */
        return tol >= 0.0 && tol <= 100.0;
}

static int canid_parse_id(const char *s, size_t len, uint32_t *ret_id, bool *ret_eff,
                          const char **ret_why) {
        uint32_t id = 0;
        bool eff;

        for (size_t i = 0; i < len; i++)
                if (umc_hex_digit(s[i]) < 0) {
                        *ret_why = "ID is not hexadecimal";
                        return -EINVAL;
                }
        /* can-utils' convention (lib.c, cansend): the digit count gives the format. */
        if (len == 3)
                eff = false;
        else if (len == 8)
                eff = true;
        else {
                *ret_why = "ID must be 3 (11-bit) or 8 (29-bit) hex digits";
                return -EINVAL;
        }
        for (size_t i = 0; i < len; i++)
                id = id << 4 | (uint32_t)umc_hex_digit(s[i]);
        if (id > canid_max(eff)) {
                *ret_why = eff ? "29-bit ID above 1FFFFFFF" : "11-bit ID above 7FF";
                return -EINVAL;
        }
        *ret_id = id;
        *ret_eff = eff;
        return 0;
}

static int canid_parse_period(const char *s, size_t len, uint64_t *ret_usec, const char **ret_why) {
        uint64_t ms;
        int r;

        if (len == 0) {
                *ret_why = "period is empty";
                return -EINVAL;
        }
        r = umc_parse_uint(s, len, UMC_CANID_PERIOD_MS_MAX, &ms);
        if (r == -ERANGE) {
                *ret_why = "period above 3600000 ms";
                return -EINVAL;
        }
        if (r < 0) {
                *ret_why = "period is not a number of milliseconds";
                return -EINVAL;
        }
        *ret_usec = ms * USEC_PER_MSEC;
        return 0;
}

int umc_canid_rule_parse(const char *s, double default_tol, struct umc_canid_rule *ret,
                         const char **ret_why) {
        const char *why = NULL, *colon;
        uint64_t period_usec = 0;
        size_t id_len;
        uint32_t id = 0;
        bool eff = false;

        if (!ret) {
                why = "no result buffer";
                goto fail;
        }
        if (!tolerance_valid(default_tol)) {
                why = "tolerance must be 0..100 percent";
                goto fail;
        }
        if (!s || !*s) {
                why = "empty CAN ID";
                goto fail;
        }

        colon = strchr(s, ':');
        id_len = colon ? (size_t)(colon - s) : strlen(s);
        if (canid_parse_id(s, id_len, &id, &eff, &why) < 0)
                goto fail;
        if (colon && canid_parse_period(colon + 1, strlen(colon + 1), &period_usec, &why) < 0)
                goto fail;

        *ret = (struct umc_canid_rule){
                .id = id,
                .eff = eff,
                .period_usec = period_usec,
                .tolerance_pct = default_tol,
        };
        return 0;

fail:
        if (ret_why)
                *ret_why = why;
        return -EINVAL;
}

const struct umc_canid_rule *umc_canid_find(const struct umc_canid_rule *rules, size_t n,
                                            uint32_t id, bool eff) {
        for (size_t i = 0; i < n; i++)
                if (rules[i].id == id && rules[i].eff == eff)
                        return &rules[i];
        return NULL;
}

/* ---- CAN frequency monitor ---- */

/* Sort key: 11-bit IDs first, then 29-bit, each by ID. */
static int canid_cmp(uint32_t id_a, bool eff_a, uint32_t id_b, bool eff_b) {
        if (eff_a != eff_b)
                return eff_a ? 1 : -1;
        if (id_a != id_b)
                return id_a < id_b ? -1 : 1;
        return 0;
}

static bool canid_rule_valid(const struct umc_canid_rule *r) {
        return r->id <= canid_max(r->eff) &&
               r->period_usec <= (uint64_t)UMC_CANID_PERIOD_MS_MAX * USEC_PER_MSEC &&
               tolerance_valid(r->tolerance_pct);
}

/*
 * Insertion sort of rule indices: init runs once per configuration with at
 * most a few thousand rules, and this keeps qsort's global-context dance
 * away (qsort_r's signature differs between libcs).
 */
static void canmon_sort_index(const struct umc_canid_rule *rules, size_t *index, size_t n) {
        for (size_t i = 1; i < n; i++) {
                size_t v = index[i], j = i;

                while (j > 0 && canid_cmp(rules[index[j - 1]].id, rules[index[j - 1]].eff,
                                          rules[v].id, rules[v].eff) > 0) {
                        index[j] = index[j - 1];
                        j--;
                }
                index[j] = v;
        }
}

int umc_canmon_init(struct umc_canmon *m, const struct umc_canid_rule *rules, size_t n,
                    unsigned min_periods) {
        _cleanup_free_ struct umc_canid_stat *stats = NULL;
        _cleanup_free_ size_t *index = NULL;

        if (!m || (n > 0 && !rules) || min_periods < 1)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!canid_rule_valid(&rules[i]))
                        return -EINVAL;

        if (n > 0) {
                stats = calloc(n, sizeof(*stats));
                index = calloc(n, sizeof(*index));
                if (!stats || !index)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                index[i] = i;
        canmon_sort_index(rules, index, n);
        /* Sorted, so a duplicate sits next to its twin. */
        for (size_t i = 1; i < n; i++)
                if (canid_cmp(rules[index[i - 1]].id, rules[index[i - 1]].eff,
                              rules[index[i]].id, rules[index[i]].eff) == 0)
                        return -EINVAL;

        *m = (struct umc_canmon){
                .rules = rules,
                .n = n,
                .stats = TAKE_PTR(stats),
                .min_periods = min_periods,
                .index = TAKE_PTR(index),
        };
        return 0;
}

void umc_canmon_done(struct umc_canmon *m) {
        if (!m)
                return;
        free(m->stats);
        free(m->index);
        *m = (struct umc_canmon){};
}

/* Index of the rule for (id, eff), or m->n. */
static size_t canmon_lookup(const struct umc_canmon *m, uint32_t id, bool eff) {
        size_t lo = 0, hi = m->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const struct umc_canid_rule *r = &m->rules[m->index[mid]];
                int c = canid_cmp(r->id, r->eff, id, eff);

                if (c == 0)
                        return m->index[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return m->n;
}

enum umc_reason umc_canmon_frame(struct umc_canmon *m, uint32_t id, bool eff, uint64_t ts_usec) {
        struct umc_canid_stat *st;
        size_t i;

        i = canmon_lookup(m, id, eff);
        if (i == m->n) {
                m->n_unknown++;
                m->n_unknown_window++;
                m->last_unknown_id = id;
                m->last_unknown_eff = eff;
                return UMC_REASON_CAN_ID_UNKNOWN;
        }

        st = &m->stats[i];
        /* last_usec starts at 0 and survives new windows: the high-water mark. */
        if (ts_usec < st->last_usec)
                return UMC_REASON_OK;
        if (st->count == 0)
                st->first_usec = ts_usec;
        st->last_usec = ts_usec;
        st->count++;
        return UMC_REASON_OK;
}

/*
 * Judge one periodic rule whose window holds enough intervals. Compares
 * |mean - nominal| * 100 > tol * nominal, the header's formula with the
 * division by nominal moved across, so that whole-microsecond boundaries
 * (a mean of exactly 110 ms against 100 ms at 10%) are decided exactly.
 */
static enum umc_reason canmon_judge(const struct umc_canid_rule *r, const struct umc_canid_stat *st,
                                    uint64_t *ret_mean_usec) {
        uint64_t intervals = st->count - 1, span = st->last_usec - st->first_usec;
        double mean = (double)span / (double)intervals, nominal = (double)r->period_usec;
        double diff = mean > nominal ? mean - nominal : nominal - mean;

        *ret_mean_usec = span / intervals + (span % intervals >= (intervals + 1) / 2 ? 1 : 0);
        if (diff * 100.0 <= r->tolerance_pct * nominal)
                return UMC_REASON_OK;
        return mean < nominal ? UMC_REASON_CAN_RATE_HIGH : UMC_REASON_CAN_RATE_LOW;
}

void umc_canmon_evaluate(struct umc_canmon *m, struct umc_canid_verdict *ret) {
        struct umc_canid_verdict v = { .reason = UMC_REASON_OK };

        if (m->n_unknown_window > 0)
                v = (struct umc_canid_verdict){
                        .reason = UMC_REASON_CAN_ID_UNKNOWN,
                        .id = m->last_unknown_id,
                        .eff = m->last_unknown_eff,
                };
        m->n_unknown_window = 0;

        for (size_t i = 0; i < m->n; i++) {
                const struct umc_canid_rule *r = &m->rules[i];
                struct umc_canid_stat *st = &m->stats[i];
                enum umc_reason why;
                uint64_t mean = 0;

                if (st->count == 0)
                        continue; /* not seen: an ECU may sleep */
                if (r->period_usec == 0) {
                        st->count = 0; /* aperiodic: whitelist only */
                        continue;
                }
                if (st->count - 1 < m->min_periods)
                        continue; /* too few intervals: keep accumulating */

                why = canmon_judge(r, st, &mean);
                st->count = 0;
                if (why != UMC_REASON_OK && v.reason == UMC_REASON_OK)
                        v = (struct umc_canid_verdict){
                                .reason = why,
                                .id = r->id,
                                .eff = r->eff,
                                .nominal_usec = r->period_usec,
                                .observed_usec = mean,
                        };
        }

        if (ret)
                *ret = v;
}

/* ---- Ethernet 5-tuple + VLAN ACL ---- */

static _Thread_local char why_buf[160];

static _printf_(1, 2) const char *why_fmt(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
        va_end(ap);
        return why_buf;
}

/* Quote at most WHY_ECHO_MAX characters of untrusted text, non-printables as '?'. */
static const char *why_echo(const char *s, size_t len, char out[static WHY_ECHO_MAX + 4]) {
        size_t n = len < WHY_ECHO_MAX ? len : WHY_ECHO_MAX;

        for (size_t i = 0; i < n; i++)
                out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
        if (n < len) {
                memcpy(out + n, "...", 3);
                n += 3;
        }
        out[n] = '\0';
        return out;
}

enum eth_key {
        ETH_KEY_PROTO,
        ETH_KEY_SRC,
        ETH_KEY_SPORT,
        ETH_KEY_DST,
        ETH_KEY_DPORT,
        ETH_KEY_VLAN,
        _ETH_KEY_MAX,
};

static const char *const eth_key_names[_ETH_KEY_MAX] = {
        [ETH_KEY_PROTO] = "proto", [ETH_KEY_SRC] = "src",   [ETH_KEY_SPORT] = "sport",
        [ETH_KEY_DST] = "dst",     [ETH_KEY_DPORT] = "dport", [ETH_KEY_VLAN] = "vlan",
};

static int eth_key_lookup(const char *s, size_t len) {
        for (int k = 0; k < _ETH_KEY_MAX; k++)
                if (token_is(s, len, eth_key_names[k]))
                        return k;
        return -1;
}

static int eth_parse_proto(const char *v, size_t len, uint8_t *ret, const char **ret_why) {
        if (token_is(v, len, "tcp"))
                *ret = IPPROTO_TCP_NUM;
        else if (token_is(v, len, "udp"))
                *ret = IPPROTO_UDP_NUM;
        else if (token_is(v, len, "any"))
                *ret = 0;
        else {
                *ret_why = "proto: must be tcp, udp or any";
                return -EINVAL;
        }
        return 0;
}

/* True when no bit of addr beyond prefix bits is set. */
static bool host_bits_clear(const uint8_t addr[static 16], unsigned prefix, size_t addr_len) {
        for (size_t i = prefix / 8; i < addr_len; i++) {
                uint8_t host_mask = i == prefix / 8 ? (uint8_t)(0xff >> (prefix % 8)) : 0xff;

                if (addr[i] & host_mask)
                        return false;
        }
        return true;
}

static int eth_parse_cidr(const char *key, const char *v, size_t len, int *ret_family,
                          uint8_t ret_addr[static 16], uint8_t *ret_prefix, const char **ret_why) {
        char text[INET6_ADDRSTRLEN], echo[WHY_ECHO_MAX + 4];
        const char *slash = memchr(v, '/', len);
        size_t alen = slash ? (size_t)(slash - v) : len;
        uint8_t addr[16] = {};
        unsigned max_prefix;
        uint64_t prefix;
        int family, r;

        if (token_is(v, len, "any")) {
                *ret_family = 0;
                memset(ret_addr, 0, 16);
                *ret_prefix = 0;
                return 0;
        }

        family = memchr(v, ':', alen) ? AF_INET6 : AF_INET;
        if (alen == 0 || alen >= sizeof(text))
                goto bad_address;
        memcpy(text, v, alen);
        text[alen] = '\0';
        if (inet_pton(family, text, addr) != 1)
                goto bad_address;

        max_prefix = family == AF_INET ? 32 : 128;
        prefix = max_prefix;
        if (slash) {
                r = umc_parse_uint(slash + 1, len - alen - 1, max_prefix, &prefix);
                if (r == -ERANGE) {
                        *ret_why = why_fmt("%s: prefix above %u for %s", key, max_prefix,
                                           family == AF_INET ? "IPv4" : "IPv6");
                        return -EINVAL;
                }
                if (r < 0) {
                        *ret_why = why_fmt("%s: prefix length is not a number", key);
                        return -EINVAL;
                }
        }
        if (!host_bits_clear(addr, (unsigned)prefix, max_prefix / 8)) {
                *ret_why = why_fmt("%s: %s has host bits set", key, why_echo(v, len, echo));
                return -EINVAL;
        }

        *ret_family = family;
        memcpy(ret_addr, addr, 16);
        *ret_prefix = (uint8_t)prefix;
        return 0;

bad_address:
        *ret_why = why_fmt("%s: '%s' is not an IPv4 or IPv6 address, CIDR or any", key,
                           why_echo(v, len, echo));
        return -EINVAL;
}

static int eth_parse_ports(const char *key, const char *v, size_t len, uint16_t *ret_lo,
                           uint16_t *ret_hi, const char **ret_why) {
        const char *dash = memchr(v, '-', len);
        size_t lo_len = dash ? (size_t)(dash - v) : len;
        uint64_t lo, hi;
        int r;

        if (token_is(v, len, "any")) {
                *ret_lo = 0;
                *ret_hi = UINT16_MAX;
                return 0;
        }
        r = umc_parse_uint(v, lo_len, UINT16_MAX, &lo);
        if (r >= 0 && dash)
                r = umc_parse_uint(dash + 1, len - lo_len - 1, UINT16_MAX, &hi);
        else
                hi = lo;
        if (r == -ERANGE) {
                *ret_why = why_fmt("%s: port above 65535", key);
                return -EINVAL;
        }
        if (r < 0) {
                *ret_why = why_fmt("%s: not a port, N-M range or any", key);
                return -EINVAL;
        }
        if (lo > hi) {
                *ret_why = why_fmt("%s: range start above its end", key);
                return -EINVAL;
        }
        *ret_lo = (uint16_t)lo;
        *ret_hi = (uint16_t)hi;
        return 0;
}

static int eth_parse_vlan(const char *v, size_t len, int *ret, const char **ret_why) {
        uint64_t id;

        if (token_is(v, len, "any")) {
                *ret = UMC_VLAN_ANY;
                return 0;
        }
        if (token_is(v, len, "none")) {
                *ret = UMC_VLAN_UNTAGGED;
                return 0;
        }
        if (umc_parse_uint(v, len, VLAN_ID_MAX, &id) < 0 || id < 1) {
                *ret_why = "vlan: must be an ID 1..4094, none or any";
                return -EINVAL;
        }
        *ret = (int)id;
        return 0;
}

static int eth_parse_field(enum eth_key k, const char *v, size_t len, struct umc_eth_rule *rule,
                           int family[static 2], const char **ret_why) {
        switch (k) {
        case ETH_KEY_PROTO:
                return eth_parse_proto(v, len, &rule->proto, ret_why);
        case ETH_KEY_SRC:
                return eth_parse_cidr("src", v, len, &family[0], rule->src, &rule->src_prefix, ret_why);
        case ETH_KEY_DST:
                return eth_parse_cidr("dst", v, len, &family[1], rule->dst, &rule->dst_prefix, ret_why);
        case ETH_KEY_SPORT:
                return eth_parse_ports("sport", v, len, &rule->sport_lo, &rule->sport_hi, ret_why);
        case ETH_KEY_DPORT:
                return eth_parse_ports("dport", v, len, &rule->dport_lo, &rule->dport_hi, ret_why);
        case ETH_KEY_VLAN:
                return eth_parse_vlan(v, len, &rule->vlan, ret_why);
        default:
                *ret_why = "internal error: unhandled key";
                return -EINVAL;
        }
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* Next blank-separated token at or after *p: its start, with its length in *ret_len; NULL at the end. */
static const char *next_token(const char **p, size_t *ret_len) {
        const char *s = *p, *start;

        while (is_blank(*s))
                s++;
        if (!*s)
                return NULL;
        start = s;
        while (*s && !is_blank(*s))
                s++;
        *ret_len = (size_t)(s - start);
        *p = s;
        return start;
}

static int eth_rule_parse_impl(const char *s, struct umc_eth_rule *ret, const char **ret_why) {
        struct umc_eth_rule rule = {
                .sport_hi = UINT16_MAX,
                .dport_hi = UINT16_MAX,
                .vlan = UMC_VLAN_ANY,
        };
        char echo[WHY_ECHO_MAX + 4];
        bool seen[_ETH_KEY_MAX] = {};
        int family[2] = {};
        const char *tok, *p = s;
        size_t len;

        tok = next_token(&p, &len);
        if (!tok) {
                *ret_why = "empty rule";
                return -EINVAL;
        }
        if (token_is(tok, len, "allow"))
                rule.allow = true;
        else if (!token_is(tok, len, "deny")) {
                *ret_why = "rule must start with allow or deny";
                return -EINVAL;
        }

        while ((tok = next_token(&p, &len))) {
                const char *eq = memchr(tok, '=', len);
                size_t klen = eq ? (size_t)(eq - tok) : len;
                int k;

                if (!eq) {
                        *ret_why = why_fmt("'%s' is not key=value", why_echo(tok, len, echo));
                        return -EINVAL;
                }
                k = eth_key_lookup(tok, klen);
                if (k < 0) {
                        *ret_why = why_fmt("unknown key '%s'", why_echo(tok, klen, echo));
                        return -EINVAL;
                }
                if (seen[k]) {
                        *ret_why = why_fmt("key '%s' given twice", eth_key_names[k]);
                        return -EINVAL;
                }
                seen[k] = true;
                if (klen + 1 == len) {
                        *ret_why = why_fmt("%s: empty value", eth_key_names[k]);
                        return -EINVAL;
                }
                if (eth_parse_field((enum eth_key)k, eq + 1, len - klen - 1, &rule, family, ret_why) < 0)
                        return -EINVAL;
        }

        if (family[0] && family[1] && family[0] != family[1]) {
                *ret_why = "src and dst address families differ";
                return -EINVAL;
        }
        rule.family = family[0] ? family[0] : family[1];
        *ret = rule;
        return 0;
}

int umc_eth_rule_parse(const char *s, struct umc_eth_rule *ret, const char **ret_why) {
        const char *why = NULL;
        int r;

        if (!s || !ret) {
                if (ret_why)
                        *ret_why = "empty rule";
                return -EINVAL;
        }
        r = eth_rule_parse_impl(s, ret, &why);
        if (r < 0 && ret_why)
                *ret_why = why;
        return r;
}

static bool prefix_match(const uint8_t a[static 16], const uint8_t b[static 16], unsigned prefix) {
        size_t whole = prefix / 8;
        unsigned rest = prefix % 8;

        if (memcmp(a, b, whole) != 0)
                return false;
        if (rest == 0)
                return true;
        return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static bool port_match(uint16_t lo, uint16_t hi, uint8_t proto, uint16_t port) {
        if (lo == 0 && hi == UINT16_MAX)
                return true;
        if (proto != IPPROTO_TCP_NUM && proto != IPPROTO_UDP_NUM)
                return false; /* no ports to compare */
        return port >= lo && port <= hi;
}

static bool eth_rule_match(const struct umc_eth_rule *r, const struct umc_eth_tuple *t) {
        if (r->proto != 0 && r->proto != t->proto)
                return false;
        if (r->family != 0 && r->family != t->family)
                return false;
        if (!prefix_match(r->src, t->src, r->src_prefix) ||
            !prefix_match(r->dst, t->dst, r->dst_prefix))
                return false;
        if (!port_match(r->sport_lo, r->sport_hi, t->proto, t->sport) ||
            !port_match(r->dport_lo, r->dport_hi, t->proto, t->dport))
                return false;
        return r->vlan == UMC_VLAN_ANY || r->vlan == t->vlan;
}

static bool eth_tuple_valid(const struct umc_eth_tuple *t) {
        return (t->family == AF_INET || t->family == AF_INET6) && t->vlan >= UMC_VLAN_UNTAGGED &&
               t->vlan <= VLAN_ID_MAX;
}

static bool eth_rule_valid(const struct umc_eth_rule *r) {
        unsigned max_prefix = r->family == AF_INET ? 32 : r->family == AF_INET6 ? 128 : 0;

        return (r->family == 0 || max_prefix > 0) && r->src_prefix <= max_prefix &&
               r->dst_prefix <= max_prefix;
}

enum umc_reason umc_eth_acl_check(const struct umc_eth_rule *rules, size_t n,
                                  const struct umc_eth_tuple *t, size_t *ret_index) {
        size_t i = n;

        if (t && eth_tuple_valid(t))
                for (i = 0; i < n; i++)
                        /* A rule not built by the parser with a prefix beyond its family never matches. */
                        if (eth_rule_valid(&rules[i]) && eth_rule_match(&rules[i], t))
                                break;
        if (ret_index)
                *ret_index = i;
        if (i == n)
                return UMC_REASON_ETH_DEFAULT_DENY;
        return rules[i].allow ? UMC_REASON_OK : UMC_REASON_ETH_DENIED_BY_RULE;
}

/* ---- ECU identities ---- */

const struct umc_ecu *umc_ecu_find(const struct umc_ecu *ecus, size_t n, uint32_t ecu_id) {
        for (size_t i = 0; i < n; i++)
                if (ecus[i].ecu_id == ecu_id)
                        return &ecus[i];
        return NULL;
}

/*
 * Both strings zero-padded into equal fixed buffers and compared whole:
 * the time is the same for every content and every length up to the
 * maximum; the lengths (not secret) are compared separately.
 */
static bool hwid_equal(const char *stored, const char *offered) {
        char a[UMC_HWID_MAX] = {}, b[UMC_HWID_MAX] = {};
        size_t la = strnlen(stored, UMC_HWID_MAX + 1), lb = strnlen(offered, UMC_HWID_MAX + 1);
        bool eq;

        memcpy(a, stored, la < UMC_HWID_MAX ? la : UMC_HWID_MAX);
        memcpy(b, offered, lb < UMC_HWID_MAX ? lb : UMC_HWID_MAX);
        eq = umc_memeq_ct(a, b, sizeof(a));
        return eq && la == lb && la > 0 && la <= UMC_HWID_MAX;
}

enum umc_reason umc_ecu_check(const struct umc_ecu *ecus, size_t n, uint32_t ecu_id,
                              const char *hw_id, const struct umc_ecu **ret) {
        const struct umc_ecu *e = umc_ecu_find(ecus, n, ecu_id);

        if (!e)
                return UMC_REASON_ECU_UNKNOWN;
        if (!hw_id || !hwid_equal(e->hw_id, hw_id))
                return UMC_REASON_ECU_HW_MISMATCH;
        if (ret)
                *ret = e;
        return UMC_REASON_OK;
}
