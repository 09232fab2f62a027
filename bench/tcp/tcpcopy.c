/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tcpcopy: the baseline of bench/tcp. A plain TCP copy of a file, with the
 * same I/O shape as a delivery and none of its protocol: the sender reads
 * the file and writes the socket in chunks of the DATA frame's size, the
 * receiver writes what arrives to a new file and fsyncs it once at the end,
 * as the agent makes its image durable before it answers.
 *
 *   tcpcopy recv IPV4:PORT FILE   accept one connection, store it in FILE
 *   tcpcopy send IPV4:PORT FILE   connect (retrying for 5 s), send FILE
 *
 * recv prints "listening" on standard output once it listens, and at the end
 * "BYTES bytes" (what it stored). Exit status 0 on success, 1 on an error
 * (named on standard error), 2 on a usage error. No encryption, no hashing,
 * no checkpoints: the difference to a delivery is their cost.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* UMC_DELIVERY_CHUNK (include/umc/delivery.h): one DATA frame's data. */
#define CHUNK (16 * 1024)
/* The receiver may be a moment late to listen: retry a refused connect this long. */
#define CONNECT_RETRY_MSEC 5000
#define CONNECT_RETRY_STEP_MSEC 20

static int fail(const char *what, const char *arg) {
        fprintf(stderr, "tcpcopy: %s %s: %s\n", what, arg, strerror(errno));
        return 1;
}

/* IPV4:PORT, numeric, port 1..65535; anything else is refused. */
static int parse_address(const char *s, struct sockaddr_in *ret) {
        char host[INET_ADDRSTRLEN];
        const char *colon = strrchr(s, ':');
        struct sockaddr_in sa = { .sin_family = AF_INET };
        unsigned long port;
        char *end;

        if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host))
                return -EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
                return -EINVAL;
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 || port > 65535 ||
            colon[1] == '+' || colon[1] == '-')
                return -EINVAL;
        sa.sin_port = htons((uint16_t)port);
        *ret = sa;
        return 0;
}

/* Write all of buf, through short writes and EINTR. */
static int write_all(int fd, const uint8_t *buf, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, buf, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                buf += k;
                n -= (size_t)k;
        }
        return 0;
}

static int do_recv(const struct sockaddr_in *sa, const char *addr, const char *path) {
        static uint8_t buf[CHUNK];
        uint64_t total = 0;
        int one = 1, lfd, cfd, fd, r = 1;

        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0)
                return fail("cannot create a socket for", "recv");
        if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(lfd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(lfd, 1) < 0) {
                r = fail("cannot listen on", addr);
                goto out_listen;
        }
        /* A new file, as the agent's partial image is: never through a link, never over one. */
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
                r = fail("cannot create", path);
                goto out_listen;
        }
        printf("listening\n");
        fflush(stdout);

        cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) {
                r = fail("cannot accept on", addr);
                goto out_file;
        }
        for (;;) {
                ssize_t k = read(cfd, buf, sizeof(buf));
                int w;

                if (k == 0)
                        break;
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = fail("cannot read from the connection into", path);
                        goto out_conn;
                }
                w = write_all(fd, buf, (size_t)k);
                if (w < 0) {
                        errno = -w;
                        r = fail("cannot write", path);
                        goto out_conn;
                }
                total += (uint64_t)k;
        }
        if (fsync(fd) < 0) {
                r = fail("cannot fsync", path);
                goto out_conn;
        }
        printf("%" PRIu64 " bytes\n", total);
        r = 0;
out_conn:
        (void)close(cfd);
out_file:
        if (close(fd) < 0 && r == 0)
                r = fail("cannot close", path);
out_listen:
        (void)close(lfd);
        return r;
}

static int connect_retrying(const struct sockaddr_in *sa) {
        const struct timespec step = { .tv_nsec = CONNECT_RETRY_STEP_MSEC * 1000000L };

        for (int waited = 0;; waited += CONNECT_RETRY_STEP_MSEC) {
                int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

                if (s < 0)
                        return -errno;
                if (connect(s, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
                        return s;
                e = errno;
                (void)close(s);
                if (e != ECONNREFUSED || waited >= CONNECT_RETRY_MSEC)
                        return -e;
                (void)nanosleep(&step, NULL);
        }
}

static int do_send(const struct sockaddr_in *sa, const char *addr, const char *path) {
        static uint8_t buf[CHUNK];
        int fd, s, r = 1;

        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return fail("cannot open", path);
        s = connect_retrying(sa);
        if (s < 0) {
                errno = -s;
                r = fail("cannot connect to", addr);
                goto out_file;
        }
        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));
                int w;

                if (k == 0)
                        break;
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = fail("cannot read", path);
                        goto out_sock;
                }
                w = write_all(s, buf, (size_t)k);
                if (w < 0) {
                        errno = -w;
                        r = fail("cannot send", path);
                        goto out_sock;
                }
        }
        /* Our end is done; the receiver's fsync is what the caller waits for. */
        if (shutdown(s, SHUT_WR) < 0) {
                r = fail("cannot shut down the connection after", path);
                goto out_sock;
        }
        r = 0;
out_sock:
        (void)close(s);
out_file:
        (void)close(fd);
        return r;
}

int main(int argc, char *argv[]) {
        struct sockaddr_in sa;
        bool recv_mode;

        if (argc != 4 || (strcmp(argv[1], "recv") != 0 && strcmp(argv[1], "send") != 0)) {
                fprintf(stderr, "Usage: tcpcopy recv|send IPV4:PORT FILE\n");
                return 2;
        }
        recv_mode = strcmp(argv[1], "recv") == 0;
        if (parse_address(argv[2], &sa) < 0) {
                fprintf(stderr, "tcpcopy: not a numeric IPV4:PORT: %s\n", argv[2]);
                return 2;
        }
        return recv_mode ? do_recv(&sa, argv[2], argv[3]) : do_send(&sa, argv[2], argv[3]);
}
