/* SPDX-License-Identifier: MIT */
/*
 * What the kernel knows about a TCP connection and its interface: the
 * 5-tuple and 802.1Q VLAN ID the Ethernet ACL (ethacl.h) judges, the
 * interface that carries the connection, and that interface's byte and
 * packet counters for load sampling (busload.h).
 *
 * The tuple is oriented by who opened the connection: src is the side that
 * called connect(), dst the listener. umcd (initiator) and umc-agent
 * (listener) thus build the same tuple for the same connection and judge
 * it by the same rule. An IPv4-mapped IPv6 address (a v4 peer on a
 * dual-stack socket) is reported as the AF_INET address it is on the wire.
 *
 * The interface depends on the side:
 *  - the listener (umc-agent) judges the interface the connection's
 *    packets arrived on, as the kernel recorded it for the accepted socket
 *    (umc_netinfo_arrival_ifindex()). Linux is a weak host: it accepts a
 *    packet for any of its addresses on any interface, so the interface
 *    that holds the local address says nothing about where a peer is;
 *  - the initiator (umcd) judges the interface holding the connection's
 *    local address (getifaddrs(3)): exact address first, else the one whose
 *    subnet contains it (127.0.0.2 on lo), and for IPv6 link-local
 *    addresses the socket's scope. The route that chose that source address
 *    normally leaves by that interface.
 * Its VLAN ID comes from rtnetlink (RTM_GETLINK: IFLA_LINKINFO ->
 * IFLA_INFO_KIND "vlan" -> IFLA_INFO_DATA -> IFLA_VLAN_ID); any other
 * interface kind is untagged (0). The kernel answers RTM_GETLINK within the
 * request, so the lookup does not wait on the network. Nothing here keeps
 * state or allocates memory the caller must free.
 */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/ethacl.h"

/* "tcp 10.0.0.1:40312 -> 10.0.0.2:4500 vlan 12" ("[fd00::1]:40312", "untagged"). */
#define UMC_NETINFO_TUPLE_STRING_MAX 128

/*
 * Ask the kernel to record, for every connection the listening TCP socket
 * fd (AF_INET or AF_INET6) accepts from now on, the interface its packets
 * arrived on (IP_PKTINFO, IPV6_RECVPKTINFO; an AF_INET6 socket covers
 * IPv4-mapped peers too). Call it before listen(). -EAFNOSUPPORT for
 * another family, else the negative errno of setsockopt().
 */
int umc_netinfo_listen_prepare(int fd);

/*
 * The index of the interface the accepted TCP connection fd arrived on,
 * read with IP_PKTOPTIONS (AF_INET) or IPV6_2292PKTOPTIONS (AF_INET6):
 * the interface of the packet that completed the handshake (IPv4), or of
 * the latest packet in order (IPv6). Read it before any data. -ENODATA when
 * the kernel gives none (the listener was not prepared with
 * umc_netinfo_listen_prepare()), -EPROTONOSUPPORT when fd is not TCP,
 * -EAFNOSUPPORT for another family, other negative errnos of the socket.
 */
int umc_netinfo_arrival_ifindex(int fd, int *ret_ifindex);

/*
 * Fill *ret for the connected TCP socket fd (AF_INET or AF_INET6):
 * addresses and ports from getsockname()/getpeername(), oriented as above
 * (we_initiated: this side called connect()), proto 6, and the VLAN ID of
 * the interface chosen as above: the arrival interface when
 * !we_initiated (fd must come from a prepared listener), the local
 * address's when we_initiated. -EAFNOSUPPORT for another family,
 * -EPROTONOSUPPORT when fd is not TCP, -ENOTCONN when it has no peer,
 * -ENODATA when an accepted fd carries no arrival interface, -ENODEV when
 * no interface holds the local address or the arrival interface is gone,
 * other negative errnos of the socket, getifaddrs or netlink calls. *ret
 * is written only on success.
 */
int umc_netinfo_tuple(int fd, bool we_initiated, struct umc_eth_tuple *ret);

/*
 * The name of the interface holding fd's local address (see above) into
 * buf (IF_NAMESIZE bytes). Errors as umc_netinfo_tuple(); buf is written
 * only on success.
 */
int umc_netinfo_route_ifname(int fd, char buf[IF_NAMESIZE]);

/* The sequence number of umc_netinfo_getlink()'s request, for parsers that check it. */
#define UMC_NETINFO_GETLINK_SEQ 1

/*
 * Ask rtnetlink about interface ifname (one RTM_GETLINK) and hand back the
 * kernel's whole answer in *ret_buf (malloc'ed, the caller frees) of
 * *ret_len bytes, and the interface index in *ret_ifindex (may be NULL).
 * The answer came from the kernel and was not truncated; its messages are
 * the caller's to parse. -EINVAL for a bad name, -ENODEV when there is no
 * such interface, -EBADMSG for a truncated or foreign answer, other
 * negative errnos of the netlink socket. Outputs only on success.
 */
int umc_netinfo_getlink(const char *ifname, uint8_t **ret_buf, size_t *ret_len,
                        int *ret_ifindex);

/*
 * 802.1Q VLAN ID (1..4094) of interface ifname, or 0 when it is not a VLAN
 * interface, in *ret_vlan. -EINVAL for a name that is empty, too long or
 * contains '/', -ENODEV when there is no such interface, -EBADMSG for a
 * netlink answer that does not parse or a VLAN ID outside 1..4094, other
 * negative errnos of the netlink socket.
 */
int umc_netinfo_vlan_id(const char *ifname, int *ret_vlan);

/*
 * The parser behind umc_netinfo_vlan_id(), public for the fuzzer: the
 * VLAN ID (or 0) of interface ifindex from the messages of sequence seq in
 * a kernel answer buf[0..len). Returns the negative errno of an
 * NLMSG_ERROR, -EBADMSG for anything malformed, truncated or about another
 * interface. *ret_vlan is written only on success.
 */
int umc_netinfo_parse_getlink_reply(const uint8_t *buf, size_t len, uint32_t seq, int ifindex,
                                    int *ret_vlan);

/*
 * Cumulative tx + rx bytes and packets of ifname, read from
 * /sys/class/net/IFNAME/statistics/{tx,rx}_{bytes,packets}: the input of
 * umc_busload_add_link_counters(). -EINVAL for a bad name (as above),
 * -ENODEV when the interface does not exist, -EBADMSG when a counter is not
 * a decimal number, -ERANGE when a sum overflows. Outputs are written only
 * on success.
 */
int umc_netinfo_link_counters(const char *ifname, uint64_t *ret_bytes, uint64_t *ret_packets);

/*
 * Format t as in UMC_NETINFO_TUPLE_STRING_MAX's example into buf
 * (size bytes, always NUL-terminated when size > 0). Returns buf.
 */
const char *umc_netinfo_tuple_to_string(const struct umc_eth_tuple *t, char *buf, size_t size);
