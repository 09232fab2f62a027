/* SPDX-License-Identifier: MIT */
/*
 * Connection 5-tuples, interface lookup and link counters on real loopback
 * sockets.
 *
 * Only the untagged case runs here: the host kernel that runs the unit
 * tests has no 802.1Q module, so no VLAN interface can be created. The
 * tagged path of umc_netinfo_vlan_id() (IFLA_INFO_KIND "vlan" ->
 * IFLA_VLAN_ID) and the arrival interface of a peer routed in over the
 * wrong VLAN are exercised in a guest kernel by
 * tests/integration/test-vlan.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "umc/ethacl.h"
#include "umc/netinfo.h"
#include "umc/util.h"

struct conn {
        int listener, client, server;
        uint16_t port;
};

/* A connected TCP pair over the loopback address addr of family; prepare: as umc-agent's listener. */
static void conn_open_as(struct conn *c, int family, const char *listen_addr,
                         const char *connect_addr, bool prepare) {
        struct sockaddr_storage ss = {};
        socklen_t len;
        int off = 0;

        c->listener = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(c->listener >= 0);
        if (family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *)&ss;
                in->sin_family = AF_INET;
                assert_int_equal(inet_pton(AF_INET, listen_addr, &in->sin_addr), 1);
                len = sizeof(*in);
        } else {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
                in6->sin6_family = AF_INET6;
                assert_int_equal(inet_pton(AF_INET6, listen_addr, &in6->sin6_addr), 1);
                len = sizeof(*in6);
                /* Dual stack, so a v4 client can reach [::] as a v4-mapped peer. */
                assert_int_equal(setsockopt(c->listener, IPPROTO_IPV6, IPV6_V6ONLY, &off,
                                            sizeof(off)), 0);
        }
        assert_int_equal(bind(c->listener, (struct sockaddr *)&ss, len), 0);
        if (prepare)
                assert_int_equal(umc_netinfo_listen_prepare(c->listener), 0);
        assert_int_equal(listen(c->listener, 4), 0);
        len = sizeof(ss);
        assert_int_equal(getsockname(c->listener, (struct sockaddr *)&ss, &len), 0);
        c->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                          : ((struct sockaddr_in6 *)&ss)->sin6_port);

        if (strchr(connect_addr, ':')) {
                struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_port = htons(c->port) };
                assert_int_equal(inet_pton(AF_INET6, connect_addr, &to.sin6_addr), 1);
                c->client = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
                assert_int_equal(connect(c->client, (struct sockaddr *)&to, sizeof(to)), 0);
        } else {
                struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(c->port) };
                assert_int_equal(inet_pton(AF_INET, connect_addr, &to.sin_addr), 1);
                c->client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                assert_int_equal(connect(c->client, (struct sockaddr *)&to, sizeof(to)), 0);
        }
        c->server = accept4(c->listener, NULL, NULL, SOCK_CLOEXEC);
        assert_true(c->server >= 0);
}

static void conn_open(struct conn *c, int family, const char *listen_addr,
                      const char *connect_addr) {
        conn_open_as(c, family, listen_addr, connect_addr, true);
}

static void conn_close(struct conn *c) {
        close(c->client);
        close(c->server);
        close(c->listener);
}

static uint16_t local_port(int fd) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
        return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                             : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Both ends build the same tuple, and one rule decides it for both. */
static void check_both_ends(struct conn *c, int family, const char *src_cidr) {
        struct umc_eth_tuple from_client, from_server;
        struct umc_eth_rule rule;
        char text[128];

        assert_int_equal(umc_netinfo_tuple(c->client, true, &from_client), 0);
        assert_int_equal(umc_netinfo_tuple(c->server, false, &from_server), 0);
        assert_memory_equal(&from_client, &from_server, sizeof(from_client));
        assert_int_equal(from_client.proto, IPPROTO_TCP);
        assert_int_equal(from_client.family, family);
        assert_int_equal(from_client.dport, c->port);
        assert_int_equal(from_client.sport, local_port(c->client));
        assert_int_equal(from_client.vlan, UMC_VLAN_UNTAGGED);

        (void)snprintf(text, sizeof(text), "allow proto=tcp src=%s dport=%u vlan=none", src_cidr,
                       c->port);
        assert_int_equal(umc_eth_rule_parse(text, &rule, NULL, 0), 0);
        assert_int_equal(umc_eth_acl_check(&rule, 1, &from_client, NULL), UMC_REASON_OK);
        assert_int_equal(umc_eth_acl_check(&rule, 1, &from_server, NULL), UMC_REASON_OK);
        /* The reversed orientation would not match: src is the initiator. */
        assert_int_equal(umc_netinfo_tuple(c->server, true, &from_server), 0);
        assert_int_equal(umc_eth_acl_check(&rule, 1, &from_server, NULL),
                         UMC_REASON_ETH_DEFAULT_DENY);
}

static void test_loopback_v4_tuple_is_the_same_from_both_ends(void **state) {
        struct conn c;
        uint8_t lo[4] = { 127, 0, 0, 1 };
        struct umc_eth_tuple t;

        conn_open(&c, AF_INET, "127.0.0.1", "127.0.0.1");
        check_both_ends(&c, AF_INET, "127.0.0.1");
        assert_int_equal(umc_netinfo_tuple(c.client, true, &t), 0);
        assert_memory_equal(t.src, lo, 4);
        assert_memory_equal(t.dst, lo, 4);
        conn_close(&c);
}

static void test_loopback_v6_tuple_is_the_same_from_both_ends(void **state) {
        struct conn c;
        struct umc_eth_tuple t;

        conn_open(&c, AF_INET6, "::1", "::1");
        check_both_ends(&c, AF_INET6, "::1");
        assert_int_equal(umc_netinfo_tuple(c.server, false, &t), 0);
        assert_memory_equal(t.src, in6addr_loopback.s6_addr, 16);
        conn_close(&c);
}

static void test_v4_peer_of_dual_stack_listener_is_ipv4(void **state) {
        struct conn c;
        struct umc_eth_tuple t;

        conn_open(&c, AF_INET6, "::", "127.0.0.1");
        assert_int_equal(umc_netinfo_tuple(c.server, false, &t), 0);
        assert_int_equal(t.family, AF_INET); /* not ::ffff:127.0.0.1 */
        check_both_ends(&c, AF_INET, "127.0.0.1");
        conn_close(&c);
}

static void test_address_in_a_subnet_finds_its_interface(void **state) {
        struct conn c;
        char name[IF_NAMESIZE];
        struct umc_eth_tuple t;

        /* 127.0.0.2 is not assigned anywhere, but lo's 127.0.0.1/8 holds it. */
        conn_open(&c, AF_INET, "127.0.0.2", "127.0.0.2");
        assert_int_equal(umc_netinfo_route_ifname(c.server, name), 0);
        assert_string_equal(name, "lo");
        assert_int_equal(umc_netinfo_tuple(c.server, false, &t), 0);
        assert_int_equal(t.dst[3], 2);
        conn_close(&c);
}

static void test_arrival_interface_of_loopback_peers_is_lo(void **state) {
        static const char *const pairs[][3] = {
                { "4", "127.0.0.1", "127.0.0.1" },
                { "6", "::1", "::1" },
                { "6", "::", "127.0.0.1" }, /* IPv4-mapped on a dual-stack listener */
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(pairs); i++) {
                struct conn c;
                int idx = -1;

                conn_open(&c, pairs[i][0][0] == '4' ? AF_INET : AF_INET6, pairs[i][1], pairs[i][2]);
                assert_int_equal(umc_netinfo_arrival_ifindex(c.server, &idx), 0);
                assert_int_equal(idx, (int)if_nametoindex("lo"));
                conn_close(&c);
        }
}

static void test_unprepared_listener_gives_no_arrival_interface(void **state) {
        struct umc_eth_tuple t = { .vlan = 77 };
        struct conn c;
        int idx = -1;

        conn_open_as(&c, AF_INET, "127.0.0.1", "127.0.0.1", false);
        assert_int_equal(umc_netinfo_arrival_ifindex(c.server, &idx), -ENODATA);
        assert_int_equal(umc_netinfo_tuple(c.server, false, &t), -ENODATA);
        assert_int_equal(idx, -1);
        assert_int_equal(t.vlan, 77);
        /* The initiator's side does not need it. */
        assert_int_equal(umc_netinfo_tuple(c.client, true, &t), 0);
        conn_close(&c);
}

static int sh(const char *fmt, ...) {
        char cmd[512];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        return system(cmd) == 0 ? 0 : -1;
}

static int tcp_fd(const char *addr, bool listener) {
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(4500) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || inet_pton(AF_INET, addr, &in.sin_addr) != 1)
                return -1;
        if (!listener)
                return connect(fd, (struct sockaddr *)&in, sizeof(in)) == 0 ? fd : -1;
        if (bind(fd, (struct sockaddr *)&in, sizeof(in)) < 0 ||
            umc_netinfo_listen_prepare(fd) < 0 || listen(fd, 4) < 0)
                return -1;
        return fd;
}

/*
 * Two namespaces joined by two veth pairs, segment 1 (10.9.1.0/24, s1-c1)
 * and segment 2 (10.9.2.0/24, s2-c2). The client routes the server's
 * segment-1 address through segment 2. Returns 0 or the number of the
 * failed step; 100 when there is no namespace to be had.
 */
static int weak_host_steps(int sfd, pid_t keeper) {
        char owner[IF_NAMESIZE] = "";
        int cfd, lfd, client, server, idx = -1;

        if (unshare(CLONE_NEWNET) < 0)
                return 1;
        cfd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (cfd < 0 ||
            sh("ip link add c1 type veth peer name s1 netns %d && "
               "ip link add c2 type veth peer name s2 netns %d && "
               "ip addr add 10.9.1.2/24 dev c1 && ip addr add 10.9.2.2/24 dev c2 && "
               "ip link set c1 up && ip link set c2 up && "
               "ip route add 10.9.1.1/32 via 10.9.2.1 dev c2", (int)keeper, (int)keeper) < 0)
                return 2;
        if (setns(sfd, CLONE_NEWNET) < 0 ||
            sh("ip addr add 10.9.1.1/24 dev s1 && ip addr add 10.9.2.1/24 dev s2 && "
               "ip link set s1 up && ip link set s2 up") < 0)
                return 3;
        lfd = tcp_fd("10.9.1.1", true);
        if (lfd < 0 || setns(cfd, CLONE_NEWNET) < 0)
                return 4;
        client = tcp_fd("10.9.1.1", false);
        if (client < 0 || setns(sfd, CLONE_NEWNET) < 0)
                return 5;
        server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (server < 0)
                return 6;
        if (umc_netinfo_route_ifname(server, owner) < 0 || strcmp(owner, "s1") != 0)
                return 7; /* the address's interface */
        if (umc_netinfo_arrival_ifindex(server, &idx) < 0 || idx != (int)if_nametoindex("s2"))
                return 8; /* the interface the peer really came in on */
        return 0;
}

/*
 * Two namespaces joined by two veth pairs, segment 1 (10.9.1.0/24, s1-c1)
 * and segment 2 (10.9.2.0/24, s2-c2). The client routes the server's
 * segment-1 address through segment 2. Returns 0 or the number of the
 * failed step; 100 when there is no namespace to be had.
 */
static int weak_host_child(void) {
        pid_t keeper;
        int sfd, r;

        if (unshare(CLONE_NEWNET) < 0)
                return 100;
        sfd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (sfd < 0)
                return 1;
        keeper = fork(); /* holds the server's namespace for ip(8)'s "netns PID" */
        if (keeper < 0)
                return 1;
        if (keeper == 0) {
                pause();
                _exit(0);
        }
        r = weak_host_steps(sfd, keeper);
        (void)kill(keeper, SIGKILL);
        (void)waitpid(keeper, NULL, 0);
        return r;
}

/*
 * Linux is a weak host: a peer on segment 2 that routes to the server's
 * segment-1 address is served. The interface holding that address (s1)
 * and the one the packets came in on (s2) differ; the listener gets s2.
 */
static void test_arrival_interface_is_not_the_address_owner(void **state) {
        int status = 0;
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(weak_host_child());
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 100)
                fail_msg("unshare(CLONE_NEWNET) failed: this test needs root (CAP_SYS_ADMIN)");
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_loopback_is_untagged(void **state) {
        struct conn c;
        char name[IF_NAMESIZE];
        int vlan = -5;

        conn_open(&c, AF_INET, "127.0.0.1", "127.0.0.1");
        assert_int_equal(umc_netinfo_route_ifname(c.client, name), 0);
        assert_string_equal(name, "lo");
        conn_close(&c);
        assert_int_equal(umc_netinfo_vlan_id("lo", &vlan), 0);
        assert_int_equal(vlan, UMC_VLAN_UNTAGGED);
}

/* Parse a copy of exactly len bytes, so that ASan sees any read past the answer. */
static int parse_exact(const void *answer, size_t len, int ifindex, int *ret_vlan) {
        void *copy = malloc(len);
        int r;

        assert_non_null(copy);
        memcpy(copy, answer, len);
        r = umc_netinfo_parse_getlink_reply(copy, len, UMC_NETINFO_GETLINK_SEQ, ifindex, ret_vlan);
        free(copy);
        return r;
}

static void put_rta(uint8_t *buf, size_t *at, unsigned short type, const void *data, size_t len) {
        struct rtattr rta = { .rta_len = (unsigned short)RTA_LENGTH(len), .rta_type = type };

        memcpy(buf + *at, &rta, sizeof(rta));
        memcpy(buf + *at + RTA_LENGTH(0), data, len);
        *at += RTA_ALIGN(rta.rta_len);
}

static void test_getlink_answers_are_parsed_within_their_length(void **state) {
        uint8_t buf[256] = {};
        struct nlmsghdr nh = { .nlmsg_type = RTM_NEWLINK, .nlmsg_seq = UMC_NETINFO_GETLINK_SEQ };
        struct ifinfomsg ifi = { .ifi_index = 7 };
        uint16_t id = 42;
        size_t at = NLMSG_LENGTH(sizeof(ifi)), li, data;
        int vlan = -5;

        /* IFLA_LINKINFO { KIND "vlan", DATA { VLAN_ID 42 } } */
        li = at;
        at += RTA_LENGTH(0);
        put_rta(buf, &at, IFLA_INFO_KIND, "vlan", 5);
        data = at;
        at += RTA_LENGTH(0);
        put_rta(buf, &at, IFLA_VLAN_ID, &id, sizeof(id));
        ((struct rtattr *)(buf + data))->rta_len = (unsigned short)(at - data);
        ((struct rtattr *)(buf + data))->rta_type = IFLA_INFO_DATA;
        ((struct rtattr *)(buf + li))->rta_len = (unsigned short)(at - li);
        ((struct rtattr *)(buf + li))->rta_type = IFLA_LINKINFO;
        nh.nlmsg_len = (uint32_t)at;
        memcpy(buf, &nh, sizeof(nh));
        memcpy(NLMSG_DATA((struct nlmsghdr *)buf), &ifi, sizeof(ifi));
        assert_int_equal(parse_exact(buf, at, 7, &vlan), 0);
        assert_int_equal(vlan, 42);
        assert_int_equal(parse_exact(buf, at, 8, &vlan), -EBADMSG);

        /* A last attribute of unaligned length ends the answer: no VLAN, no read past it. */
        at = NLMSG_LENGTH(sizeof(ifi));
        put_rta(buf, &at, IFLA_MTU, "x", 1);
        at -= 3;
        nh.nlmsg_len = (uint32_t)at;
        memcpy(buf, &nh, sizeof(nh));
        vlan = -5;
        assert_int_equal(parse_exact(buf, at, 7, &vlan), 0);
        assert_int_equal(vlan, UMC_VLAN_UNTAGGED);

        /* A message of another sequence with an unaligned length, last in the answer. */
        nh = (struct nlmsghdr){ .nlmsg_len = 17, .nlmsg_type = RTM_NEWLINK, .nlmsg_seq = 2 };
        memcpy(buf, &nh, sizeof(nh));
        assert_int_equal(parse_exact(buf, 17, 7, &vlan), -EBADMSG);

        /* NLMSG_ERROR: its errno, unless it is none. */
        struct { struct nlmsghdr nh; struct nlmsgerr e; } err = {
                .nh = { .nlmsg_len = sizeof(err), .nlmsg_type = NLMSG_ERROR,
                        .nlmsg_seq = UMC_NETINFO_GETLINK_SEQ },
                .e = { .error = -ENODEV },
        };
        assert_int_equal(parse_exact(&err, sizeof(err), 7, &vlan), -ENODEV);
        err.e.error = INT32_MIN;
        assert_int_equal(parse_exact(&err, sizeof(err), 7, &vlan), -EBADMSG);
        assert_int_equal(vlan, UMC_VLAN_UNTAGGED);
}

static void test_bad_or_missing_interface_names_are_refused(void **state) {
        uint64_t b = 1, p = 1;
        int vlan = -5;

        assert_int_equal(umc_netinfo_vlan_id("umc-nonexist0", &vlan), -ENODEV);
        assert_int_equal(umc_netinfo_vlan_id("", &vlan), -EINVAL);
        assert_int_equal(umc_netinfo_vlan_id("../lo", &vlan), -EINVAL);
        assert_int_equal(umc_netinfo_vlan_id("0123456789abcdef", &vlan), -EINVAL);
        assert_int_equal(vlan, -5);
        assert_int_equal(umc_netinfo_link_counters("..", &b, &p), -EINVAL);
        assert_int_equal(umc_netinfo_link_counters("lo/../eth0", &b, &p), -EINVAL);
        assert_int_equal(umc_netinfo_link_counters("umc-nonexist0", &b, &p), -ENODEV);
        assert_int_equal(b, 1);
        assert_int_equal(p, 1);
}

static void test_non_tcp_sockets_are_refused(void **state) {
        struct umc_eth_tuple t;
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9),
                                  .sin_addr = { htonl(INADDR_LOOPBACK) } };
        int udp, unx, tcp;

        udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(udp, (struct sockaddr *)&to, sizeof(to)), 0);
        assert_int_equal(umc_netinfo_tuple(udp, true, &t), -EPROTONOSUPPORT);
        unx = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(umc_netinfo_tuple(unx, true, &t), -EAFNOSUPPORT);
        tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(umc_netinfo_tuple(tcp, true, &t), -ENOTCONN);
        close(udp);
        close(unx);
        close(tcp);
}

static void test_counters_increase_after_traffic(void **state) {
        static uint8_t buf[200000];
        uint64_t b0, p0, b1, p1;
        size_t got = 0;
        struct conn c;

        assert_int_equal(umc_netinfo_link_counters("lo", &b0, &p0), 0);
        conn_open(&c, AF_INET, "127.0.0.1", "127.0.0.1");
        memset(buf, 0x5a, sizeof(buf));
        assert_int_equal(write(c.client, buf, sizeof(buf)), (ssize_t)sizeof(buf));
        while (got < sizeof(buf)) {
                ssize_t n = read(c.server, buf, sizeof(buf) - got);
                assert_true(n > 0);
                got += (size_t)n;
        }
        conn_close(&c);
        assert_int_equal(umc_netinfo_link_counters("lo", &b1, &p1), 0);
        /* lo counts every byte twice, as sent and as received. */
        assert_true(b1 - b0 >= 2 * sizeof(buf));
        assert_true(p1 - p0 >= 2);
}

static void test_tuple_text_names_both_ends_and_the_vlan(void **state) {
        struct umc_eth_tuple t = { .proto = IPPROTO_TCP, .family = AF_INET, .sport = 40312,
                                   .dport = 4500, .vlan = 12 };
        char buf[UMC_NETINFO_TUPLE_STRING_MAX], small[12];

        memcpy(t.src, (uint8_t[]){ 10, 0, 0, 1 }, 4);
        memcpy(t.dst, (uint8_t[]){ 10, 0, 0, 2 }, 4);
        assert_string_equal(umc_netinfo_tuple_to_string(&t, buf, sizeof(buf)),
                            "tcp 10.0.0.1:40312 -> 10.0.0.2:4500 vlan 12");
        t.family = AF_INET6;
        t.vlan = 0;
        memset(t.src, 0, 16);
        t.src[0] = 0xfd;
        t.src[15] = 1;
        memcpy(t.dst, in6addr_loopback.s6_addr, 16);
        assert_string_equal(umc_netinfo_tuple_to_string(&t, buf, sizeof(buf)),
                            "tcp [fd00::1]:40312 -> [::1]:4500 untagged");
        assert_int_equal(strlen(umc_netinfo_tuple_to_string(&t, small, sizeof(small))),
                         sizeof(small) - 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_loopback_v4_tuple_is_the_same_from_both_ends),
                cmocka_unit_test(test_loopback_v6_tuple_is_the_same_from_both_ends),
                cmocka_unit_test(test_v4_peer_of_dual_stack_listener_is_ipv4),
                cmocka_unit_test(test_address_in_a_subnet_finds_its_interface),
                cmocka_unit_test(test_arrival_interface_of_loopback_peers_is_lo),
                cmocka_unit_test(test_unprepared_listener_gives_no_arrival_interface),
                cmocka_unit_test(test_arrival_interface_is_not_the_address_owner),
                cmocka_unit_test(test_loopback_is_untagged),
                cmocka_unit_test(test_getlink_answers_are_parsed_within_their_length),
                cmocka_unit_test(test_bad_or_missing_interface_names_are_refused),
                cmocka_unit_test(test_non_tcp_sockets_are_refused),
                cmocka_unit_test(test_counters_increase_after_traffic),
                cmocka_unit_test(test_tuple_text_names_both_ends_and_the_vlan),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
