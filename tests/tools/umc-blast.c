/* SPDX-License-Identifier: MIT */
/*
 * umc-blast: load generator for the integration tests. Sends UDP datagrams
 * to IP:PORT at about RATE megabit/s for SECONDS, so the link's byte
 * counters jump while a delivery runs (the load-jump rotation test). The
 * receiver need not listen: the bytes cross the link either way.
 *
 *   umc-blast IP:PORT MBIT SECONDS
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
        static uint8_t payload[1400];
        struct sockaddr_in to = { .sin_family = AF_INET };
        char host[64];
        const char *colon;
        double rate, seconds, start, sent = 0;
        int fd;

        if (argc != 4 || !(colon = strrchr(argv[1], ':')) || (size_t)(colon - argv[1]) >= sizeof(host)) {
                fprintf(stderr, "usage: umc-blast IP:PORT MBIT SECONDS\n");
                return 2;
        }
        memcpy(host, argv[1], (size_t)(colon - argv[1]));
        host[colon - argv[1]] = '\0';
        to.sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &to.sin_addr) != 1) {
                fprintf(stderr, "umc-blast: bad address\n");
                return 2;
        }
        rate = atof(argv[2]) * 1e6 / 8; /* bytes per second */
        seconds = atof(argv[3]);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                perror("umc-blast: socket");
                return 1;
        }
        start = now();
        while (now() - start < seconds) {
                /* Stay on the rate line: send while behind, sleep briefly when ahead. */
                if (sent < rate * (now() - start)) {
                        if (sendto(fd, payload, sizeof(payload), 0, (struct sockaddr *)&to,
                                   sizeof(to)) > 0)
                                sent += sizeof(payload);
                        else if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
                                perror("umc-blast: sendto");
                } else {
                        usleep(200);
                }
        }
        printf("umc-blast: %.1f MB in %.1f s\n", sent / 1e6, now() - start);
        return 0;
}
