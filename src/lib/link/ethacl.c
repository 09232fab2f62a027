/* SPDX-License-Identifier: MIT */
#include "umc/ethacl.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "umc/parse.h"
#include "umc/util.h"

#define IPPROTO_TCP_NUM 6  /* IANA protocol numbers */
#define IPPROTO_UDP_NUM 17
#define VLAN_ID_MAX 4094   /* IEEE 802.1Q: 0 and 4095 are reserved */
#define WHY_ECHO_MAX 48    /* characters of the offending text quoted in a message */

static bool token_is(const char *s, size_t len, const char *word) {
        return strlen(word) == len && memcmp(s, word, len) == 0;
}


/* ---- Ethernet 5-tuple + VLAN ACL ---- */

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

static int eth_parse_proto(const char *v, size_t len, uint8_t *ret, char *why, size_t why_size) {
        if (token_is(v, len, "tcp"))
                *ret = IPPROTO_TCP_NUM;
        else if (token_is(v, len, "udp"))
                *ret = IPPROTO_UDP_NUM;
        else if (token_is(v, len, "any"))
                *ret = 0;
        else
                return umc_why(why, why_size, -EINVAL, "proto: must be tcp, udp or any");
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
                          uint8_t ret_addr[static 16], uint8_t *ret_prefix, char *why,
                          size_t why_size) {
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
                if (r == -ERANGE)
                        return umc_why(why, why_size, -EINVAL, "%s: prefix above %u for %s", key,
                                       max_prefix, family == AF_INET ? "IPv4" : "IPv6");
                if (r < 0)
                        return umc_why(why, why_size, -EINVAL,
                                       "%s: prefix length is not a number", key);
        }
        if (!host_bits_clear(addr, (unsigned)prefix, max_prefix / 8))
                return umc_why(why, why_size, -EINVAL, "%s: %s has host bits set", key,
                               why_echo(v, len, echo));

        *ret_family = family;
        memcpy(ret_addr, addr, 16);
        *ret_prefix = (uint8_t)prefix;
        return 0;

bad_address:
        return umc_why(why, why_size, -EINVAL,
                       "%s: '%s' is not an IPv4 or IPv6 address, CIDR or any", key,
                       why_echo(v, len, echo));
}

static int eth_parse_ports(const char *key, const char *v, size_t len, uint16_t *ret_lo,
                           uint16_t *ret_hi, char *why, size_t why_size) {
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
        if (r == -ERANGE)
                return umc_why(why, why_size, -EINVAL, "%s: port above 65535", key);
        if (r < 0)
                return umc_why(why, why_size, -EINVAL, "%s: not a port, N-M range or any", key);
        if (lo > hi)
                return umc_why(why, why_size, -EINVAL, "%s: range start above its end", key);
        *ret_lo = (uint16_t)lo;
        *ret_hi = (uint16_t)hi;
        return 0;
}

static int eth_parse_vlan(const char *v, size_t len, int *ret, char *why, size_t why_size) {
        uint64_t id;

        if (token_is(v, len, "any")) {
                *ret = UMC_VLAN_ANY;
                return 0;
        }
        if (token_is(v, len, "none")) {
                *ret = UMC_VLAN_UNTAGGED;
                return 0;
        }
        if (umc_parse_uint(v, len, VLAN_ID_MAX, &id) < 0 || id < 1)
                return umc_why(why, why_size, -EINVAL, "vlan: must be an ID 1..4094, none or any");
        *ret = (int)id;
        return 0;
}

static int eth_parse_field(enum eth_key k, const char *v, size_t len, struct umc_eth_rule *rule,
                           int family[static 2], char *why, size_t why_size) {
        switch (k) {
        case ETH_KEY_PROTO:
                return eth_parse_proto(v, len, &rule->proto, why, why_size);
        case ETH_KEY_SRC:
                return eth_parse_cidr("src", v, len, &family[0], rule->src, &rule->src_prefix,
                                      why, why_size);
        case ETH_KEY_DST:
                return eth_parse_cidr("dst", v, len, &family[1], rule->dst, &rule->dst_prefix,
                                      why, why_size);
        case ETH_KEY_SPORT:
                return eth_parse_ports("sport", v, len, &rule->sport_lo, &rule->sport_hi, why,
                                       why_size);
        case ETH_KEY_DPORT:
                return eth_parse_ports("dport", v, len, &rule->dport_lo, &rule->dport_hi, why,
                                       why_size);
        case ETH_KEY_VLAN:
                return eth_parse_vlan(v, len, &rule->vlan, why, why_size);
        default:
                return umc_why(why, why_size, -EINVAL, "internal error: unhandled key");
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

static int eth_rule_parse_impl(const char *s, struct umc_eth_rule *ret, char *why,
                               size_t why_size) {
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
        if (!tok)
                return umc_why(why, why_size, -EINVAL, "empty rule");
        if (token_is(tok, len, "allow"))
                rule.allow = true;
        else if (!token_is(tok, len, "deny"))
                return umc_why(why, why_size, -EINVAL, "rule must start with allow or deny");

        while ((tok = next_token(&p, &len))) {
                const char *eq = memchr(tok, '=', len);
                size_t klen = eq ? (size_t)(eq - tok) : len;
                int k;

                if (!eq)
                        return umc_why(why, why_size, -EINVAL, "'%s' is not key=value",
                                       why_echo(tok, len, echo));
                k = eth_key_lookup(tok, klen);
                if (k < 0)
                        return umc_why(why, why_size, -EINVAL, "unknown key '%s'",
                                       why_echo(tok, klen, echo));
                if (seen[k])
                        return umc_why(why, why_size, -EINVAL, "key '%s' given twice",
                                       eth_key_names[k]);
                seen[k] = true;
                if (klen + 1 == len)
                        return umc_why(why, why_size, -EINVAL, "%s: empty value", eth_key_names[k]);
                if (eth_parse_field((enum eth_key)k, eq + 1, len - klen - 1, &rule, family, why,
                                    why_size) < 0)
                        return -EINVAL;
        }

        if (family[0] && family[1] && family[0] != family[1])
                return umc_why(why, why_size, -EINVAL, "src and dst address families differ");
        rule.family = family[0] ? family[0] : family[1];
        *ret = rule;
        return 0;
}

int umc_eth_rule_parse(const char *s, struct umc_eth_rule *ret, char *why, size_t why_size) {
        if (!s || !ret)
                return umc_why(why, why_size, -EINVAL, "empty rule");
        return eth_rule_parse_impl(s, ret, why, why_size);
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

