/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the two rule parsers of the config files:
 * umc_canid_rule_parse() ([CanIds] Id=) and umc_eth_rule_parse()
 * ([EthernetAcl] Rule=), faster to reach here than through the loaders,
 * and for umc_eth_acl_check() with what they accept. The first byte picks
 * the parser, the rest is the value as a C string (cut at a NUL). The
 * Ethernet path then checks a tuple taken from the rest of the input.
 * Properties, beyond no crash under ASan/UBSan:
 *  - a parser returns 0 or -EINVAL with a reason;
 *  - an accepted CAN ID fits its format, a period at most one hour;
 *  - an accepted Ethernet rule has ordered port ranges, prefixes within
 *    its family and a valid VLAN, and matches the tuple made of its own
 *    lowest values (first rule decides: allow is OK, deny is DENIED);
 *  - the ACL answers every tuple with one of its three verdicts.
 */
#include <arpa/inet.h>
#include <string.h>

#include "common.h"
#include "umc/canid.h"
#include "umc/ethacl.h"
#include "umc/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

static void fuzz_canid(const char *s) {
        struct umc_canid_rule r;
        char why[UMC_WHY_MAX] = "";
        int ret = umc_canid_rule_parse(s, 5.0, &r, why, sizeof(why));

        CHECK(ret == 0 || (ret == -EINVAL && why[0]));
        if (ret == 0) {
                CHECK(r.id <= (r.eff ? UMC_CANID_EFF_MAX : UMC_CANID_SFF_MAX));
                CHECK(r.period_usec <= UINT64_C(3600000) * 1000);
                CHECK(r.tolerance_pct == 5.0);
        }
}

/* The tuple made of the rule's own lowest values, which the rule must match. */
static struct umc_eth_tuple own_tuple(const struct umc_eth_rule *r) {
        struct umc_eth_tuple t = {
                .proto = r->proto ? r->proto : 6,
                .family = r->family ? r->family : AF_INET,
                .sport = r->sport_lo,
                .dport = r->dport_lo,
                .vlan = r->vlan == UMC_VLAN_ANY ? UMC_VLAN_UNTAGGED : r->vlan,
        };

        memcpy(t.src, r->src, sizeof(t.src));
        memcpy(t.dst, r->dst, sizeof(t.dst));
        return t;
}

static void fuzz_eth(const char *s, struct fuzz_cursor *c) {
        struct umc_eth_rule r;
        struct umc_eth_tuple t = {};
        char why[UMC_WHY_MAX] = "";
        const uint8_t *p;
        enum umc_reason v;
        size_t idx = 99, n;
        int ret = umc_eth_rule_parse(s, &r, why, sizeof(why));

        CHECK(ret == 0 || (ret == -EINVAL && why[0]));
        if (ret < 0)
                return;
        CHECK(r.sport_lo <= r.sport_hi && r.dport_lo <= r.dport_hi);
        CHECK(r.family == 0 || r.family == AF_INET || r.family == AF_INET6);
        CHECK(r.src_prefix <= (r.family == AF_INET6 ? 128 : 32));
        CHECK(r.dst_prefix <= (r.family == AF_INET6 ? 128 : 32));
        CHECK(r.vlan == UMC_VLAN_ANY || (r.vlan >= 0 && r.vlan <= 4094));
        CHECK(r.proto == 0 || r.proto == 6 || r.proto == 17);
        t = own_tuple(&r);
        v = umc_eth_acl_check(&r, 1, &t, &idx);
        CHECK(v == (r.allow ? UMC_REASON_OK : UMC_REASON_ETH_DENIED_BY_RULE) && idx == 0);

        /* Any tuple at all: one of the three verdicts. */
        t.proto = fuzz_u8(c);
        t.family = fuzz_u8(c) & 1 ? AF_INET6 : AF_INET;
        n = fuzz_bytes(c, sizeof(t.src), &p);
        memcpy(t.src, p, n);
        t.sport = fuzz_u16(c);
        t.dport = fuzz_u16(c);
        t.vlan = (int)(fuzz_u16(c) % 4200);
        v = umc_eth_acl_check(&r, 1, &t, &idx);
        CHECK(v == UMC_REASON_OK || v == UMC_REASON_ETH_DENIED_BY_RULE ||
              v == UMC_REASON_ETH_DEFAULT_DENY);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct fuzz_cursor c = { data, size };
        uint8_t which = fuzz_u8(&c);
        const uint8_t *nul = memchr(c.p, '\0', c.left);
        size_t n = nul ? (size_t)(nul - c.p) : c.left;
        char *s = malloc(n + 1);

        CHECK(s);
        memcpy(s, c.p, n);
        s[n] = '\0';
        c.p += n;
        c.left -= n;
        if (which & 1)
                fuzz_eth(s, &c);
        else
                fuzz_canid(s);
        free(s);
        return 0;
}
