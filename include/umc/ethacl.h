/* SPDX-License-Identifier: MIT */
/*
 * The Ethernet access list checked before and during a transfer: rules
 * over the 5-tuple plus VLAN ID, first match wins, default deny. A check
 * answers with an enum umc_reason (UMC_REASON_OK = pass). Rule tables are
 * plain arrays owned by the caller (the config). No I/O, no global state.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/reason.h"

#define UMC_VLAN_ANY (-1)
#define UMC_VLAN_UNTAGGED 0

struct umc_eth_rule {
        bool allow;
        uint8_t proto;            /* 0 any, 6 tcp, 17 udp */
        int family;               /* 0 any, AF_INET, AF_INET6 (from the addresses) */
        uint8_t src[16], dst[16]; /* network byte order; IPv4 in the first 4 bytes */
        uint8_t src_prefix, dst_prefix; /* 0 = any address */
        uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
        int vlan;                 /* UMC_VLAN_ANY, UMC_VLAN_UNTAGGED or 1..4094 */
};

struct umc_eth_tuple {
        uint8_t proto;
        int family;
        uint8_t src[16], dst[16];
        uint16_t sport, dport;
        int vlan;                 /* UMC_VLAN_UNTAGGED or 1..4094 */
};

/*
 * Parse one rule: "allow|deny [proto=tcp|udp|any] [src=CIDR|any]
 * [sport=N|N-M|any] [dst=CIDR|any] [dport=...] [vlan=ID|none|any]",
 * omitted fields meaning any. Tokens are separated by spaces or tabs; the
 * keys may come in any order, each at most once; words are lower case.
 * CIDR is an IPv4 ("10.0.0.0/24", a plain address meaning /32) or IPv6
 * ("fd00::/64", plain meaning /128) address as inet_pton() reads it, with
 * a decimal prefix length 0..32 or 0..128 and no host bits set beyond it.
 * Ports are 0..65535, a range N-M needs N <= M. VLAN IDs are 1..4094
 * (IEEE 802.1Q reserves 0 and 4095); "none" means untagged only.
 * family is taken from the addresses; src and dst of different families
 * are refused. Returns 0 with *ret filled, or -EINVAL with why (see
 * umc_why(); may be NULL) naming the field and what was wrong, e.g.
 * "unknown key 'prot'", "key 'src' given twice", "src: 10.0.0.1/24 has
 * host bits set" (quoted input is cut at 48 characters, non-printables
 * shown as '?'). *ret is written only on success, why only on failure.
 */
int umc_eth_rule_parse(const char *s, struct umc_eth_rule *ret, char *why, size_t why_size);

/*
 * First matching rule decides: an allow rule gives UMC_REASON_OK, a deny
 * rule UMC_REASON_ETH_DENIED_BY_RULE; no match is
 * UMC_REASON_ETH_DEFAULT_DENY. A rule matches when every field matches:
 *  - proto 0 matches any protocol;
 *  - a rule with a family (it names an address) matches only tuples of
 *    that family: an IPv4-mapped IPv6 address is AF_INET6 and does not
 *    match an IPv4 rule;
 *  - a port restriction (anything narrower than 0-65535) matches only TCP
 *    and UDP tuples, as other protocols have no ports;
 *  - vlan UMC_VLAN_ANY matches tagged and untagged, UMC_VLAN_UNTAGGED only
 *    untagged, an ID only that ID.
 * A malformed tuple (family not AF_INET/AF_INET6, vlan outside 0..4094) is
 * denied as UMC_REASON_ETH_DEFAULT_DENY without looking at the rules.
 * *ret_index (may be NULL) gets the deciding rule's index, or n.
 */
enum umc_reason umc_eth_acl_check(const struct umc_eth_rule *rules, size_t n,
                                  const struct umc_eth_tuple *t, size_t *ret_index);
