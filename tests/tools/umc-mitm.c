/* SPDX-License-Identifier: MIT */
/*
 * umc-mitm: a man in the middle for the integration tests. It relays TCP
 * between umcd and an agent and, on command, sabotages the first
 * connection (frames are delimited with the frame header; numbered from 0
 * per direction, AUTH frames included), so a retry can show recovery:
 *
 *   flip|drop|replay|rewrite-key-id N   master-to-ECU frame N: flip a
 *                                       payload byte, drop it, send it
 *                                       twice, or rewrite its key ID
 *   forge-up|forge-down|forge-both N    from frame 3 on, before every N-th
 *                                       frame of that direction, insert a
 *                                       forged one: its clear header
 *                                       copied, junk for a payload
 *   burst-up|burst-down N K             K such forgeries before frame N
 *
 *   umc-mitm LISTEN_IP:PORT TARGET_IP:PORT [SABOTAGE N [K]]
 *
 * The forgeries are what anyone on the path can make without the keys;
 * the count inserted is printed on stderr when the connection ends.
 * A test tool: blocking sockets and poll() are fine here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "umc/frame.h"
#include "umc/util.h"

enum sabotage { NONE, FLIP, DROP, REPLAY, REWRITE_KEY_ID, FORGE, BURST };

/* Frames before this one are the AUTH exchange: forgeries start after it. */
#define FORGE_FROM 3

static int parse_addr(const char *s, struct sockaddr_in *ret) {
        char host[64];
        const char *colon = strrchr(s, ':');

        if (!colon || (size_t)(colon - s) >= sizeof(host))
                return -EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        memset(ret, 0, sizeof(*ret));
        ret->sin_family = AF_INET;
        ret->sin_port = htons((uint16_t)atoi(colon + 1));
        return inet_pton(AF_INET, host, &ret->sin_addr) == 1 ? 0 : -EINVAL;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -1;
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

struct relay {
        uint8_t buf[UMC_FRAME_HEADER_LEN + UMC_FRAME_MAX_PAYLOAD];
        size_t len;
        unsigned index;
        enum sabotage what;  /* this direction's */
        unsigned at, count;
        unsigned forged;
};

/* Forgeries due before frame r->index. */
static unsigned forgeries_due(const struct relay *r) {
        if (r->what == BURST)
                return r->index == r->at ? r->count : 0;
        if (r->what == FORGE)
                return r->index >= FORGE_FROM && (r->index - FORGE_FROM) % r->at == 0;
        return 0;
}

/* The frame in r->buf with its payload replaced by junk, written n times. */
static int forge(struct relay *r, int out, size_t flen, unsigned n) {
        static uint8_t fake[UMC_FRAME_HEADER_LEN + UMC_FRAME_MAX_PAYLOAD];

        for (unsigned i = 0; i < n; i++) {
                memcpy(fake, r->buf, flen);
                for (size_t k = UMC_FRAME_HEADER_LEN; k < flen; k++)
                        fake[k] = (uint8_t)(k * 31 + r->forged);
                if (write_all(out, fake, flen) < 0)
                        return -1;
                r->forged++;
        }
        return 0;
}

/* Forward every complete frame in r to out, sabotaging as r says. */
static int forward_frames(struct relay *r, int out) {
        enum sabotage what = r->what;
        unsigned at = r->at;

        for (;;) {
                size_t flen;
                if (r->len < UMC_FRAME_HEADER_LEN)
                        return 0;
                flen = UMC_FRAME_HEADER_LEN + umc_get_be32(r->buf + 24);
                if (flen > sizeof(r->buf))
                        return -1;
                if (r->len < flen)
                        return 0;
                if (forge(r, out, flen, forgeries_due(r)) < 0)
                        return -1;
                if (what != NONE && what != FORGE && what != BURST && r->index == at) {
                        fprintf(stderr, "umc-mitm: sabotaging frame %u (type %u, %zu bytes)\n",
                                r->index, r->buf[3], flen);
                        if (what == FLIP)
                                r->buf[flen - 1 - (flen - UMC_FRAME_HEADER_LEN) / 2] ^= 0x20;
                        if (what == REWRITE_KEY_ID)
                                umc_put_be16(r->buf + 6, (uint16_t)(umc_get_be16(r->buf + 6) + 1));
                        if (what == REPLAY && write_all(out, r->buf, flen) < 0)
                                return -1;
                }
                if (!(what == DROP && r->index == at) && write_all(out, r->buf, flen) < 0)
                        return -1;
                r->index++;
                memmove(r->buf, r->buf + flen, r->len - flen);
                r->len -= flen;
        }
}

static void serve(int client, const struct sockaddr_in *target, const struct relay *up_cmd,
                  const struct relay *down_cmd) {
        static struct relay up, down;
        int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        up = *up_cmd;
        down = *down_cmd;
        if (server < 0 || connect(server, (const struct sockaddr *)target, sizeof(*target)) < 0) {
                perror("umc-mitm: connect");
                goto out;
        }
        for (;;) {
                struct pollfd p[2] = { { client, POLLIN, 0 }, { server, POLLIN, 0 } };
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        break;
                if (p[0].revents) {
                        ssize_t n = read(client, up.buf + up.len, sizeof(up.buf) - up.len);
                        if (n <= 0)
                                break;
                        up.len += (size_t)n;
                        if (forward_frames(&up, server) < 0)
                                break;
                }
                if (p[1].revents) {
                        ssize_t n = read(server, down.buf + down.len, sizeof(down.buf) - down.len);
                        if (n <= 0)
                                break;
                        down.len += (size_t)n;
                        if (forward_frames(&down, client) < 0)
                                break;
                }
        }
        if (up.forged || down.forged)
                fprintf(stderr, "umc-mitm: forged %u frame(s) to the ECU, %u to the master\n",
                        up.forged, down.forged);
out:
        if (server >= 0)
                close(server);
        close(client);
}

static int parse_sabotage(int argc, char **argv, struct relay *up, struct relay *down) {
        static const struct {
                const char *name;
                enum sabotage what;
                bool up, down;
        } table[] = {
                { "flip", FLIP, true, false },          { "drop", DROP, true, false },
                { "replay", REPLAY, true, false },      { "rewrite-key-id", REWRITE_KEY_ID, true, false },
                { "forge-up", FORGE, true, false },     { "forge-down", FORGE, false, true },
                { "forge-both", FORGE, true, true },    { "burst-up", BURST, true, false },
                { "burst-down", BURST, false, true },
        };

        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
                struct relay cmd = {};

                if (strcmp(argv[3], table[i].name) != 0)
                        continue;
                cmd.what = table[i].what;
                cmd.at = (unsigned)atoi(argv[4]);
                cmd.count = argc == 6 ? (unsigned)atoi(argv[5]) : 0;
                if ((cmd.what == FORGE && cmd.at == 0) || (cmd.what == BURST) != (argc == 6))
                        return -EINVAL;
                if (table[i].up)
                        *up = cmd;
                if (table[i].down)
                        *down = cmd;
                return 0;
        }
        return -EINVAL;
}

int main(int argc, char **argv) {
        struct sockaddr_in listen_addr, target;
        struct relay up = {}, down = {};
        const struct relay none = {};
        int one = 1, fd;

        if (argc != 3 && argc != 5 && argc != 6) {
                fprintf(stderr, "usage: umc-mitm LISTEN_IP:PORT TARGET_IP:PORT [SABOTAGE N [K]]\n");
                return 2;
        }
        if (parse_addr(argv[1], &listen_addr) < 0 || parse_addr(argv[2], &target) < 0) {
                fprintf(stderr, "umc-mitm: bad address\n");
                return 2;
        }
        if (argc >= 5 && parse_sabotage(argc, argv, &up, &down) < 0) {
                fprintf(stderr, "umc-mitm: bad sabotage '%s'\n", argv[3]);
                return 2;
        }
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) < 0 || listen(fd, 4) < 0) {
                perror("umc-mitm: listen");
                return 1;
        }
        for (;;) {
                int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("umc-mitm: accept");
                        return 1;
                }
                serve(c, &target, &up, &down);
                up = down = none; /* only the first connection is attacked */
        }
}
