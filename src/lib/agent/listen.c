/* SPDX-License-Identifier: MIT */
/*
 * The agent's TCP listener (agent-internal.h): the listening socket (bound
 * to BindInterface= when set), accept() with a pause when it keeps
 * failing, MaxConnections=, and the accept-time check of the connection's
 * 5-tuple and VLAN against [EthernetAcl] before a byte is read or sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "umc/ethacl.h"
#include "umc/agent-internal.h"
#include "umc/log.h"

#define LISTEN_BACKLOG 16
#define ACCEPT_RETRY_USEC (1 * USEC_PER_SEC)

static void sockaddr_to_text(const struct sockaddr *sa, char *buf, size_t size) {
        char a[INET6_ADDRSTRLEN] = "?";

        if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
                (void)inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
                (void)snprintf(buf, size, "[%s]:%u", a, ntohs(in6->sin6_port));
        } else {
                const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
                (void)inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
                (void)snprintf(buf, size, "%s:%u", a, ntohs(in->sin_port));
        }
}

static bool sockaddr_equal(const struct umc_sockaddr *x, const struct umc_sockaddr *y) {
        if (x->sa.sa_family != y->sa.sa_family)
                return false;
        if (x->sa.sa_family == AF_INET)
                return x->in.sin_port == y->in.sin_port &&
                       x->in.sin_addr.s_addr == y->in.sin_addr.s_addr;
        if (x->sa.sa_family == AF_INET6)
                return x->in6.sin6_port == y->in6.sin6_port &&
                       memcmp(&x->in6.sin6_addr, &y->in6.sin6_addr, sizeof(struct in6_addr)) == 0;
        return false;
}


/* The 5-tuple and VLAN against [EthernetAcl], before a single byte is read or sent. */
static void agent_accept(struct umc_agent *a, int fd) {
        const struct umc_config_eth_acl *acl = &a->config.eth_acl;
        char peer[UMC_NETINFO_TUPLE_STRING_MAX];
        struct umc_eth_tuple t;
        enum umc_reason why;
        size_t idx = acl->n_rules;
        int r;

        a->stats.accepted++;
        r = umc_netinfo_tuple(fd, false, &t);
        if (r < 0) {
                struct sockaddr_storage ss = {};
                socklen_t l = sizeof(ss);
                char text[INET6_ADDRSTRLEN + 8] = "?";
                if (getpeername(fd, (struct sockaddr *)&ss, &l) == 0)
                        sockaddr_to_text((struct sockaddr *)&ss, text, sizeof(text));
                errno = -r;
                umc_agent_alarm(a, text, 0, UMC_REASON_ETH_DEFAULT_DENY,
                            "refused: cannot determine the connection's 5-tuple and VLAN (%m)");
                (void)close(fd);
                return;
        }
        (void)umc_netinfo_tuple_to_string(&t, peer, sizeof(peer));
        why = umc_eth_acl_check(acl->rules, acl->n_rules, &t, &idx);
        if (why != UMC_REASON_OK) {
                /* Name the file: umcd only sees the connection close. */
                if (idx < acl->n_rules)
                        umc_agent_alarm(a, peer, 0, why,
                                    "refused by [EthernetAcl] Rule= number %zu of %s (a deny rule)",
                                    idx + 1, a->config.path ? a->config.path : "umc-agent.conf");
                else
                        umc_agent_alarm(a, peer, 0, why,
                                    "refused: no [EthernetAcl] Rule= in %s allows it (default deny)",
                                    a->config.path ? a->config.path : "umc-agent.conf");
                (void)close(fd); /* nothing sent, nothing read */
                return;
        }
        r = umc_agent_conn_new(a, fd, peer, false);
        if (r < 0) {
                log_error_errno(r, "%s: cannot set up the connection: %m", peer);
                (void)close(fd);
        }
}

void umc_agent_listen_update(struct umc_agent *a) {
        bool on = !a->accept_paused && a->n_conns < a->config.max_connections;

        if (a->listener)
                (void)sd_event_source_set_enabled(a->listener, on ? SD_EVENT_ON : SD_EVENT_OFF);
}

static int on_accept_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct umc_agent *a = userdata;

        a->accept_paused = false;
        umc_agent_listen_update(a);
        return 0;
}

/* accept() keeps failing (out of fds, memory): stop asking for a second, do not spin. */
static void agent_pause_accepting(struct umc_agent *a) {
        int r;

        a->accept_paused = true;
        umc_agent_listen_update(a);
        if (!a->accept_retry)
                r = sd_event_add_time_relative(a->event, &a->accept_retry, CLOCK_MONOTONIC,
                                               ACCEPT_RETRY_USEC, 0, on_accept_retry, a);
        else
                r = sd_event_source_set_time_relative(a->accept_retry, ACCEPT_RETRY_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(a->accept_retry, SD_EVENT_ONESHOT);
        if (r < 0) {
                log_error_errno(r, "Cannot arm the accept retry timer: %m");
                a->accept_paused = false;
                umc_agent_listen_update(a);
        }
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct umc_agent *a = userdata;

        while (a->n_conns < a->config.max_connections) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return 0;
                        /* accept(2): pending network errors of the new connection; try the next. */
                        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO ||
                            errno == ENETDOWN || errno == ENOPROTOOPT || errno == EHOSTDOWN ||
                            errno == ENONET || errno == EHOSTUNREACH || errno == EOPNOTSUPP ||
                            errno == ENETUNREACH)
                                continue;
                        log_warning_errno(errno, "Cannot accept connections, pausing for %" PRIu64
                                                 " ms: %m", ACCEPT_RETRY_USEC / USEC_PER_MSEC);
                        agent_pause_accepting(a);
                        return 0;
                }
                agent_accept(a, cfd);
        }
        if (a->n_conns >= a->config.max_connections)
                log_notice("%u connections open: further ones wait in the listen backlog",
                           a->n_conns);
        umc_agent_listen_update(a);
        return 0;
}

/*
 * The listening socket on addr, bound to interface ifname unless it is "".
 * -ENODEV names a BindInterface= that does not exist; other errors are the
 * socket calls'.
 */
int umc_agent_listen_open(const struct umc_sockaddr *addr, const char *ifname, int *ret_fd) {
        _cleanup_close_ int fd = -1;
        int one = 1, r;

        if (addr->sa.sa_family != AF_INET && addr->sa.sa_family != AF_INET6)
                return -EAFNOSUPPORT;
        fd = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (fd < 0)
                return -errno;
        /* Restart without waiting for TIME_WAIT of the last run's connections. */
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                return -errno;
        /* Only packets that arrive on ifname reach this socket (socket(7) SO_BINDTODEVICE). */
        if (ifname[0] != '\0' &&
            setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0)
                return -errno;
        if (bind(fd, &addr->sa, addr->len) < 0)
                return -errno;
        /* The ACL judges the interface each connection arrived on: have the kernel keep it. */
        r = umc_netinfo_listen_prepare(fd);
        if (r < 0)
                return r;
        if (listen(fd, LISTEN_BACKLOG) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* "0.0.0.0:4500" or "0.0.0.0:4500 on eth0.42" */
void umc_agent_listen_where(const struct umc_agent_config *c, char *buf, size_t size) {
        char addr[INET6_ADDRSTRLEN + 8];

        sockaddr_to_text(&c->listen.sa, addr, sizeof(addr));
        if (c->bind_interface[0] != '\0')
                (void)snprintf(buf, size, "%s on %s (BindInterface=)", addr, c->bind_interface);
        else
                (void)snprintf(buf, size, "%s", addr);
}

/* Make fd (listening) the agent's listener; the old one is closed only on success. */
int umc_agent_listen_set(struct umc_agent *a, int fd) {
        sd_event_source *src = NULL;
        struct umc_sockaddr bound = { .len = sizeof(bound.in6) };
        int r;

        r = sd_event_add_io(a->event, &src, fd, EPOLLIN, on_accept, a);
        if (r < 0)
                return r;
        (void)sd_event_source_disable_unref(a->listener);
        if (a->listen_fd >= 0)
                (void)close(a->listen_fd);
        a->listener = src;
        a->listen_fd = fd;
        if (getsockname(fd, &bound.sa, &bound.len) == 0)
                sockaddr_to_text(&bound.sa, a->listen_text, sizeof(a->listen_text));
        umc_agent_listen_update(a);
        return 0;
}

/* Listen= unchanged: as configured before, or the address actually bound (port 0 picked one). */
static bool listen_unchanged(const struct umc_agent *a, const struct umc_sockaddr *want) {
        struct umc_sockaddr bound = {};

        if (sockaddr_equal(want, &a->config.listen))
                return true;
        return umc_agent_local_address(a, &bound) == 0 && sockaddr_equal(want, &bound);
}

int umc_agent_listen_reload(struct umc_agent *a, const struct umc_agent_config *n, char *why,
                            size_t why_size) {
        char where[INET6_ADDRSTRLEN + 8];
        int fd = -1, r;

        if (listen_unchanged(a, &n->listen))
                return 0;
        sockaddr_to_text(&n->listen.sa, where, sizeof(where));
        r = umc_agent_listen_open(&n->listen, n->bind_interface, &fd);
        if (r >= 0) {
                r = umc_agent_listen_set(a, fd);
                if (r < 0)
                        (void)close(fd);
        }
        if (r < 0)
                return umc_why(why, why_size, r, "cannot listen on %s: %s", where, strerror(-r));
        return 0;
}
