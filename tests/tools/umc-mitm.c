/* SPDX-License-Identifier: MIT */
/*
 * umc-mitm: a man in the middle for the integration tests. It relays TCP
 * between umcd and an agent and, on command, sabotages one frame of the
 * master-to-ECU direction (frames are delimited with the real header
 * parser): flip a byte, drop it, send it twice, or rewrite its key ID.
 * Numbered frames count from 0 on each connection (AUTH frames included).
 * Only the first connection is sabotaged, so a retry can show recovery.
 *
 *   umc-mitm LISTEN_IP:PORT TARGET_IP:PORT [flip|drop|replay|rewrite-key-id N]
 *
 * A test tool: blocking sockets and poll() are fine here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "umc/frame.h"
#include "umc/util.h"

enum sabotage { NONE, FLIP, DROP, REPLAY, REWRITE_KEY_ID };

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
};

/* Forward every complete frame in r to out, sabotaging frame number `at`. */
static int forward_frames(struct relay *r, int out, enum sabotage what, unsigned at) {
        for (;;) {
                size_t flen;
                if (r->len < UMC_FRAME_HEADER_LEN)
                        return 0;
                flen = UMC_FRAME_HEADER_LEN + umc_get_be32(r->buf + 24);
                if (flen > sizeof(r->buf))
                        return -1;
                if (r->len < flen)
                        return 0;
                if (what != NONE && r->index == at) {
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

static void serve(int client, const struct sockaddr_in *target, enum sabotage what, unsigned at) {
        static struct relay up;
        uint8_t down[65536];
        int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        up.len = 0;
        up.index = 0;
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
                        if (forward_frames(&up, server, what, at) < 0)
                                break;
                }
                if (p[1].revents) {
                        ssize_t n = read(server, down, sizeof(down));
                        if (n <= 0 || write_all(client, down, (size_t)n) < 0)
                                break;
                }
        }
out:
        if (server >= 0)
                close(server);
        close(client);
}

int main(int argc, char **argv) {
        struct sockaddr_in listen_addr, target;
        enum sabotage what = NONE;
        unsigned at = 0;
        int one = 1, fd;

        if (argc != 3 && argc != 5) {
                fprintf(stderr, "usage: umc-mitm LISTEN_IP:PORT TARGET_IP:PORT [flip|drop|replay|rewrite-key-id N]\n");
                return 2;
        }
        if (parse_addr(argv[1], &listen_addr) < 0 || parse_addr(argv[2], &target) < 0) {
                fprintf(stderr, "umc-mitm: bad address\n");
                return 2;
        }
        if (argc == 5) {
                what = !strcmp(argv[3], "flip") ? FLIP : !strcmp(argv[3], "drop") ? DROP :
                       !strcmp(argv[3], "replay") ? REPLAY :
                       !strcmp(argv[3], "rewrite-key-id") ? REWRITE_KEY_ID : NONE;
                if (what == NONE) {
                        fprintf(stderr, "umc-mitm: unknown sabotage '%s'\n", argv[3]);
                        return 2;
                }
                at = (unsigned)atoi(argv[4]);
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
                serve(c, &target, what, at);
                what = NONE; /* only the first connection is attacked */
        }
}
