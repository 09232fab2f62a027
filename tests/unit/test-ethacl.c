/* SPDX-License-Identifier: MIT */
/* The Ethernet rule parser and the 5-tuple + VLAN access list. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "umc/ethacl.h"
#include "umc/util.h"

/* ---- Ethernet rules ---- */

static void test_eth_parse_fills_fields(void **state) {
        struct umc_eth_rule r;
        char why[UMC_WHY_MAX] = "";
        uint8_t v6[16];

        assert_int_equal(umc_eth_rule_parse("allow", &r, why, sizeof(why)), 0);
        assert_true(r.allow);
        assert_int_equal(r.proto, 0);
        assert_int_equal(r.family, 0);
        assert_int_equal(r.src_prefix, 0);
        assert_int_equal(r.dst_prefix, 0);
        assert_int_equal(r.sport_lo, 0);
        assert_int_equal(r.sport_hi, 65535);
        assert_int_equal(r.dport_lo, 0);
        assert_int_equal(r.dport_hi, 65535);
        assert_int_equal(r.vlan, UMC_VLAN_ANY);

        assert_int_equal(umc_eth_rule_parse("deny  proto=udp\tdport=5000-5010 src=10.1.0.0/16 "
                                            "vlan=none sport=53 dst=10.2.3.4",
                                            &r, why, sizeof(why)),
                         0);
        assert_false(r.allow);
        assert_int_equal(r.proto, 17);
        assert_int_equal(r.family, AF_INET);
        assert_memory_equal(r.src, ((uint8_t[]){ 10, 1, 0, 0 }), 4);
        assert_int_equal(r.src_prefix, 16);
        assert_memory_equal(r.dst, ((uint8_t[]){ 10, 2, 3, 4 }), 4);
        assert_int_equal(r.dst_prefix, 32);
        assert_int_equal(r.sport_lo, 53);
        assert_int_equal(r.sport_hi, 53);
        assert_int_equal(r.dport_lo, 5000);
        assert_int_equal(r.dport_hi, 5010);
        assert_int_equal(r.vlan, UMC_VLAN_UNTAGGED);

        assert_int_equal(umc_eth_rule_parse("allow proto=tcp dst=fd00::1 src=any vlan=4094 dport=0", &r,
                                            why, sizeof(why)),
                         0);
        assert_int_equal(r.family, AF_INET6);
        assert_int_equal(inet_pton(AF_INET6, "fd00::1", v6), 1);
        assert_memory_equal(r.dst, v6, 16);
        assert_int_equal(r.dst_prefix, 128);
        assert_int_equal(r.src_prefix, 0);
        assert_int_equal(r.vlan, 4094);
        assert_int_equal(r.dport_lo, 0);
        assert_int_equal(r.dport_hi, 0);

        assert_int_equal(umc_eth_rule_parse("allow src=0.0.0.0/0 dst=fd00::/8", &r, why, sizeof(why)), -EINVAL);
        assert_int_equal(umc_eth_rule_parse("allow src=0.0.0.0/0", &r, why, sizeof(why)), 0);
        assert_int_equal(r.family, AF_INET);
        assert_int_equal(r.src_prefix, 0);
}

struct eth_bad_row {
        const char *s;
        const char *why;
};

static void test_eth_parse_refuses_with_exact_reason(void **state) {
        static const char *const vlan = "vlan: must be an ID 1..4094, none or any";
        static const struct eth_bad_row rows[] = {
                { "", "empty rule" },
                { "   ", "empty rule" },
                { "permit", "rule must start with allow or deny" },
                { "Allow", "rule must start with allow or deny" },
                { "proto=tcp allow", "rule must start with allow or deny" },
                { "allow tcp", "'tcp' is not key=value" },
                { "allow prot=tcp", "unknown key 'prot'" },
                { "allow =tcp", "unknown key ''" },
                { "allow src=any dport=1 src=any", "key 'src' given twice" },
                { "allow vlan=1 vlan=1", "key 'vlan' given twice" },
                { "allow src=", "src: empty value" },
                { "allow proto=icmp", "proto: must be tcp, udp or any" },
                { "allow proto=TCP", "proto: must be tcp, udp or any" },
                { "allow src=10.0.0.1/24", "src: 10.0.0.1/24 has host bits set" },
                { "allow src=10.0.0.64/25", "src: 10.0.0.64/25 has host bits set" },
                { "allow src=10.0.0.127/25", "src: 10.0.0.127/25 has host bits set" },
                { "allow src=10.0.0.0/0", "src: 10.0.0.0/0 has host bits set" },
                { "allow dst=fd00::1/64", "dst: fd00::1/64 has host bits set" },
                { "allow src=10.0.0.0/33", "src: prefix above 32 for IPv4" },
                { "allow src=fd00::/129", "src: prefix above 128 for IPv6" },
                { "allow src=10.0.0.0/", "src: prefix length is not a number" },
                { "allow src=10.0.0.0/-1", "src: prefix length is not a number" },
                { "allow src=10.0.0.0/+8", "src: prefix length is not a number" },
                { "allow src=10.0.0.0/24/8", "src: prefix length is not a number" },
                { "allow src=10.0.0.256", "src: '10.0.0.256' is not an IPv4 or IPv6 address, CIDR or any" },
                { "allow src=10.0.0", "src: '10.0.0' is not an IPv4 or IPv6 address, CIDR or any" },
                { "allow dst=/24", "dst: '/24' is not an IPv4 or IPv6 address, CIDR or any" },
                { "allow dst=fd00:::1", "dst: 'fd00:::1' is not an IPv4 or IPv6 address, CIDR or any" },
                { "allow dst=fe80::1%eth0", "dst: 'fe80::1%eth0' is not an IPv4 or IPv6 address, CIDR or any" },
                { "allow src=10.0.0.0/24 dst=fd00::/64", "src and dst address families differ" },
                { "allow sport=65536", "sport: port above 65535" },
                { "allow dport=1-70000", "dport: port above 65535" },
                { "allow dport=90-80", "dport: range start above its end" },
                { "allow dport=80-", "dport: not a port, N-M range or any" },
                { "allow dport=-80", "dport: not a port, N-M range or any" },
                { "allow dport=+80", "dport: not a port, N-M range or any" },
                { "allow dport=1-2-3", "dport: not a port, N-M range or any" },
                { "allow dport=http", "dport: not a port, N-M range or any" },
                { "allow vlan=0", vlan },
                { "allow vlan=4095", vlan },
                { "allow vlan=-1", vlan },
                { "allow vlan=untagged", vlan },
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(rows); i++) {
                struct umc_eth_rule r, before;
                char why[UMC_WHY_MAX] = "";

                print_message("'%s'\n", rows[i].s);
                memset(&r, 0x5A, sizeof(r));
                before = r;
                assert_int_equal(umc_eth_rule_parse(rows[i].s, &r, why, sizeof(why)), -EINVAL);
                assert_true(why[0] != '\0');
                assert_string_equal(why, rows[i].why);
                assert_memory_equal(&r, &before, sizeof(r));
        }
}

static void test_eth_parse_quotes_unknown_key_safely(void **state) {
        struct umc_eth_rule r;
        char why[UMC_WHY_MAX] = "";
        char rule[200] = "allow ";

        /* Long keys are cut, control characters shown as '?'. */
        memset(rule + 6, 'k', 100);
        strcpy(rule + 106, "=1");
        assert_int_equal(umc_eth_rule_parse(rule, &r, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "unknown key 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...'");
        assert_int_equal(umc_eth_rule_parse("allow a\x1b[2Jb=1", &r, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "unknown key 'a?[2Jb'");
        assert_int_equal(umc_eth_rule_parse(NULL, &r, NULL, 0), -EINVAL);
}

/* ---- Ethernet ACL matching ---- */

static struct umc_eth_rule rule_of(const char *s) {
        struct umc_eth_rule r;
        char why[UMC_WHY_MAX] = "";

        if (umc_eth_rule_parse(s, &r, why, sizeof(why)) < 0)
                fail_msg("'%s': %s", s, why);
        return r;
}

static struct umc_eth_tuple tuple_of(const char *proto, const char *src, uint16_t sport, const char *dst,
                                     uint16_t dport, int vlan) {
        struct umc_eth_tuple t = {
                .proto = strcmp(proto, "tcp") == 0 ? 6 : strcmp(proto, "udp") == 0 ? 17 : 1,
                .family = strchr(src, ':') ? AF_INET6 : AF_INET,
                .sport = sport,
                .dport = dport,
                .vlan = vlan,
        };

        assert_int_equal(inet_pton(t.family, src, t.src), 1);
        assert_int_equal(inet_pton(t.family, dst, t.dst), 1);
        return t;
}

struct match_row {
        const char *proto, *src;
        uint16_t sport;
        const char *dst;
        uint16_t dport;
        int vlan;
        enum umc_reason reason;
        size_t index;
};

static const char *const acl_rules[] = {
        /* 0 */ "deny proto=tcp src=10.0.0.66 dport=22",
        /* 1 */ "allow proto=tcp src=10.0.0.0/24 dport=22",
        /* 2 */ "allow proto=udp dst=10.1.0.0/16 dport=5000-5010 vlan=100",
        /* 3 */ "allow proto=tcp src=fd00::/64 dport=443 vlan=none",
        /* 4 */ "deny dst=fd00:1::/48",
        /* 5 */ "allow dst=fd00::/16 sport=1024-65535",
        /* 6 */ "allow proto=tcp dport=8080 vlan=any",
};

static void test_acl_allows_and_denies_v4_and_v6(void **state) {
        static const struct match_row rows[] = {
                /* v4 SSH from the subnet, except the denied host */
                { "tcp", "10.0.0.5", 40000, "10.9.9.9", 22, 0, UMC_REASON_OK, 1 },
                { "tcp", "10.0.0.66", 40000, "10.9.9.9", 22, 0, UMC_REASON_ETH_DENIED_BY_RULE, 0 },
                { "tcp", "10.0.1.5", 40000, "10.9.9.9", 22, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "udp", "10.0.0.5", 40000, "10.9.9.9", 22, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "tcp", "10.0.0.5", 40000, "10.9.9.9", 23, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                /* v4 port range 5000-5010 on VLAN 100 */
                { "udp", "192.0.2.1", 1, "10.1.200.3", 5000, 100, UMC_REASON_OK, 2 },
                { "udp", "192.0.2.1", 1, "10.1.200.3", 5010, 100, UMC_REASON_OK, 2 },
                { "udp", "192.0.2.1", 1, "10.1.200.3", 4999, 100, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "udp", "192.0.2.1", 1, "10.1.200.3", 5011, 100, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "udp", "192.0.2.1", 1, "10.1.200.3", 5005, 101, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "udp", "192.0.2.1", 1, "10.1.200.3", 5005, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "udp", "192.0.2.1", 1, "10.2.0.1", 5005, 100, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                /* v6 HTTPS from fd00::/64, untagged only */
                { "tcp", "fd00::abcd", 50000, "2001:db8::1", 443, 0, UMC_REASON_OK, 3 },
                { "tcp", "fd00::abcd", 50000, "2001:db8::1", 443, 7, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "tcp", "fd00:0:0:1::abcd", 50000, "2001:db8::1", 443, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                /* v6 deny of a /48 before a broader allow */
                { "udp", "2001:db8::1", 2000, "fd00:1:0:ff::1", 53, 0, UMC_REASON_ETH_DENIED_BY_RULE, 4 },
                { "udp", "2001:db8::1", 2000, "fd00:2::1", 53, 0, UMC_REASON_OK, 5 },
                { "udp", "2001:db8::1", 1023, "fd00:2::1", 53, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                /* port restriction on a protocol without ports never matches */
                { "icmp", "2001:db8::1", 2000, "fd00:2::1", 0, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                /* family-free rule matches both families, tagged or not */
                { "tcp", "192.0.2.1", 1, "192.0.2.2", 8080, 0, UMC_REASON_OK, 6 },
                { "tcp", "2001:db8::1", 1, "2001:db8::2", 8080, 4094, UMC_REASON_OK, 6 },
        };
        struct umc_eth_rule rules[UMC_ELEMENTSOF(acl_rules)];

        for (size_t i = 0; i < UMC_ELEMENTSOF(acl_rules); i++)
                rules[i] = rule_of(acl_rules[i]);
        for (size_t i = 0; i < UMC_ELEMENTSOF(rows); i++) {
                const struct match_row *w = &rows[i];
                struct umc_eth_tuple t = tuple_of(w->proto, w->src, w->sport, w->dst, w->dport, w->vlan);
                size_t index = 999;

                print_message("row %zu\n", i);
                assert_int_equal(umc_eth_acl_check(rules, UMC_ELEMENTSOF(rules), &t, &index), w->reason);
                assert_int_equal(index, w->index);
        }
}

static void test_acl_first_match_wins_so_order_matters(void **state) {
        struct umc_eth_rule deny_first[] = { rule_of("deny src=10.0.0.66"), rule_of("allow src=10.0.0.0/24") };
        struct umc_eth_rule allow_first[] = { rule_of("allow src=10.0.0.0/24"), rule_of("deny src=10.0.0.66") };
        struct umc_eth_tuple t = tuple_of("tcp", "10.0.0.66", 1, "10.0.0.1", 2, 0);
        size_t index;

        assert_int_equal(umc_eth_acl_check(deny_first, 2, &t, &index), UMC_REASON_ETH_DENIED_BY_RULE);
        assert_int_equal(index, 0);
        assert_int_equal(umc_eth_acl_check(allow_first, 2, &t, &index), UMC_REASON_OK);
        assert_int_equal(index, 0);
}

static void test_acl_without_match_is_default_deny(void **state) {
        struct umc_eth_rule rules[] = { rule_of("allow proto=udp") };
        struct umc_eth_tuple t = tuple_of("tcp", "10.0.0.1", 1, "10.0.0.2", 2, 0);
        size_t index = 999;

        assert_int_equal(umc_eth_acl_check(NULL, 0, &t, &index), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(index, 0);
        assert_int_equal(umc_eth_acl_check(rules, 1, &t, &index), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(index, 1);
        assert_int_equal(umc_eth_acl_check(rules, 1, &t, NULL), UMC_REASON_ETH_DEFAULT_DENY);
}

static void test_acl_vlan_any_none_and_id(void **state) {
        struct umc_eth_rule any[] = { rule_of("allow vlan=any") };
        struct umc_eth_rule none[] = { rule_of("allow vlan=none") };
        struct umc_eth_rule id[] = { rule_of("allow vlan=42") };
        struct umc_eth_tuple untagged = tuple_of("udp", "10.0.0.1", 1, "10.0.0.2", 2, UMC_VLAN_UNTAGGED);
        struct umc_eth_tuple tagged42 = tuple_of("udp", "10.0.0.1", 1, "10.0.0.2", 2, 42);
        struct umc_eth_tuple tagged43 = tuple_of("udp", "10.0.0.1", 1, "10.0.0.2", 2, 43);

        assert_int_equal(umc_eth_acl_check(any, 1, &untagged, NULL), UMC_REASON_OK);
        assert_int_equal(umc_eth_acl_check(any, 1, &tagged42, NULL), UMC_REASON_OK);
        assert_int_equal(umc_eth_acl_check(none, 1, &untagged, NULL), UMC_REASON_OK);
        assert_int_equal(umc_eth_acl_check(none, 1, &tagged42, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(umc_eth_acl_check(id, 1, &tagged42, NULL), UMC_REASON_OK);
        assert_int_equal(umc_eth_acl_check(id, 1, &tagged43, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(umc_eth_acl_check(id, 1, &untagged, NULL), UMC_REASON_ETH_DEFAULT_DENY);
}

static void test_acl_family_rule_needs_the_same_family(void **state) {
        struct umc_eth_rule v4[] = { rule_of("allow src=10.0.0.0/8") };
        struct umc_eth_rule v4_any[] = { rule_of("allow dst=0.0.0.0/0") };
        struct umc_eth_tuple t6 = tuple_of("tcp", "a00::", 1, "::1", 2, 0);
        struct umc_eth_tuple mapped = tuple_of("tcp", "::ffff:10.0.0.1", 1, "::ffff:10.0.0.2", 2, 0);
        struct umc_eth_tuple t4 = tuple_of("tcp", "10.0.0.1", 1, "10.0.0.2", 2, 0);

        /* The v6 source starts with byte 10, as 10/8 does: still no match. */
        assert_int_equal(t6.src[0], 10);
        assert_int_equal(umc_eth_acl_check(v4, 1, &t6, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(umc_eth_acl_check(v4, 1, &mapped, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(umc_eth_acl_check(v4_any, 1, &t6, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(umc_eth_acl_check(v4, 1, &t4, NULL), UMC_REASON_OK);
        assert_int_equal(umc_eth_acl_check(v4_any, 1, &t4, NULL), UMC_REASON_OK);
}

static void test_acl_prefix_off_byte_boundary_matches_its_bits_only(void **state) {
        struct umc_eth_rule v4[] = { rule_of("allow src=10.0.0.128/25") };
        struct umc_eth_rule v6[] = { rule_of("allow dst=fd00:0:0:fffe::/63") };
        struct umc_eth_tuple t;

        t = tuple_of("udp", "10.0.0.200", 1, "10.0.0.2", 2, 0);
        assert_int_equal(umc_eth_acl_check(v4, 1, &t, NULL), UMC_REASON_OK);
        t = tuple_of("udp", "10.0.0.127", 1, "10.0.0.2", 2, 0);
        assert_int_equal(umc_eth_acl_check(v4, 1, &t, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        t = tuple_of("udp", "::1", 1, "fd00:0:0:ffff::9", 2, 0);
        assert_int_equal(umc_eth_acl_check(v6, 1, &t, NULL), UMC_REASON_OK);
        t = tuple_of("udp", "::1", 1, "fd00:0:0:fffd::9", 2, 0);
        assert_int_equal(umc_eth_acl_check(v6, 1, &t, NULL), UMC_REASON_ETH_DEFAULT_DENY);
}

static void test_acl_denies_malformed_tuple(void **state) {
        struct umc_eth_rule all[] = { rule_of("allow") };
        struct umc_eth_tuple t = tuple_of("tcp", "10.0.0.1", 1, "10.0.0.2", 2, 0);
        size_t index = 999;

        assert_int_equal(umc_eth_acl_check(all, 1, &t, &index), UMC_REASON_OK);
        t.vlan = 4095;
        assert_int_equal(umc_eth_acl_check(all, 1, &t, &index), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(index, 1);
        t.vlan = -1;
        assert_int_equal(umc_eth_acl_check(all, 1, &t, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        t.vlan = 0;
        t.family = AF_UNIX;
        assert_int_equal(umc_eth_acl_check(all, 1, &t, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(umc_eth_acl_check(all, 1, NULL, NULL), UMC_REASON_ETH_DEFAULT_DENY);
}


int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_eth_parse_fills_fields),
                cmocka_unit_test(test_eth_parse_refuses_with_exact_reason),
                cmocka_unit_test(test_eth_parse_quotes_unknown_key_safely),
                cmocka_unit_test(test_acl_allows_and_denies_v4_and_v6),
                cmocka_unit_test(test_acl_first_match_wins_so_order_matters),
                cmocka_unit_test(test_acl_without_match_is_default_deny),
                cmocka_unit_test(test_acl_vlan_any_none_and_id),
                cmocka_unit_test(test_acl_family_rule_needs_the_same_family),
                cmocka_unit_test(test_acl_prefix_off_byte_boundary_matches_its_bits_only),
                cmocka_unit_test(test_acl_denies_malformed_tuple),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
