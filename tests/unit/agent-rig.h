/* SPDX-License-Identifier: MIT */
/*
 * The ECU test rig test-agent.c and test-ecucheck.c both build: a real
 * umc-agent listening on 127.0.0.1 and run on the test's own sd-event loop,
 * and a master's stream to it that lets the agent's loop run while it waits.
 * Include after test-helpers.h; each helper is static and _unused_.
 */
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "umc/agent.h"
#include "umc/config.h"
#include "umc/ethacl.h"
#include "umc/frame.h"
#include "umc/stream.h"

/* Listen on 127.0.0.1, port 0 (the kernel picks), behind the Ethernet ACL rules. */
_unused_ static void agent_rig_listen_loopback(struct umc_agent_config *c,
                                               const char *const *rules, size_t n_rules) {
        c->listen.in = (struct sockaddr_in){ .sin_family = AF_INET,
                                             .sin_addr = { htonl(INADDR_LOOPBACK) } };
        c->listen.len = sizeof(struct sockaddr_in);
        c->eth_acl.rules = calloc(n_rules + 1, sizeof(struct umc_eth_rule));
        assert_non_null(c->eth_acl.rules);
        for (size_t i = 0; i < n_rules; i++)
                assert_int_equal(umc_eth_rule_parse(rules[i], &c->eth_acl.rules[i], NULL, 0), 0);
        c->eth_acl.n_rules = n_rules;
}

/* One iteration of the loop, waiting at most 10 ms. */
_unused_ static void agent_rig_pump(sd_event *e) {
        assert_true(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
}

/* Run the loop until the agent has no connection left (bounded). */
_unused_ static void agent_rig_pump_until_idle(sd_event *e, struct umc_agent *a) {
        struct umc_agent_stats s;

        for (int i = 0; i < 1000; i++) {
                umc_agent_get_stats(a, &s);
                if (s.connections == 0)
                        break;
                agent_rig_pump(e);
        }
        umc_agent_get_stats(a, &s);
        assert_int_equal(s.connections, 0);
}

/* A master's stream to the agent listening on 127.0.0.1:port. */
_unused_ static struct umc_stream *agent_rig_connect(uint16_t port) {
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr = { htonl(INADDR_LOOPBACK) } };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct umc_stream *s = NULL;

        assert_true(fd >= 0);
        /* The kernel completes the handshake from the backlog: no accept() needed yet. */
        assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
        assert_int_equal(umc_stream_new(fd, UMC_FRAME_MAX_PAYLOAD,
                                        2 * (UMC_FRAME_HEADER_LEN + UMC_FRAME_MAX_PAYLOAD), &s),
                         0);
        return s;
}

/* Send a whole frame on s, letting the agent's loop e run while the socket is full. */
_unused_ static int agent_rig_send(sd_event *e, struct umc_stream *s, const uint8_t *f,
                                   size_t len) {
        int r;

        for (int i = 0; (r = umc_stream_queue(s, f, len)) == -ENOBUFS && i < 1000; i++)
                if (umc_stream_flush(s) == -EAGAIN)
                        agent_rig_pump(e);
        assert_int_equal(r, 0);
        for (int i = 0; i < 1000; i++) {
                r = umc_stream_flush(s);
                if (r != -EAGAIN)
                        return r;
                agent_rig_pump(e);
        }
        fail_msg("send did not complete");
        return -ETIMEDOUT;
}

/* The next frame from the agent on s; -ECONNRESET when it closed. */
_unused_ static int agent_rig_recv(sd_event *e, struct umc_stream *s, const uint8_t **f,
                                   size_t *len) {
        for (int i = 0; i < 2000; i++) {
                int r = umc_stream_read(s, f, len, NULL);
                if (r != -EAGAIN)
                        return r;
                agent_rig_pump(e);
        }
        fail_msg("no answer from the agent");
        return -ETIMEDOUT;
}
