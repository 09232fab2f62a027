/* SPDX-License-Identifier: MIT */
/*
 * libcurl's multi interface in sd-event (curlev.c) and the transfers on it
 * (fetch.c), against a small HTTP server in the same loop on a real
 * loopback socket: a GET into memory, the answer cap, the insecure-URL
 * refusal, an image download whose connection is cut halfway and resumes
 * with a Range request, and a server that ignores the range.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "umc/curlev.h"
#include "umc/fetch.h"
#include "umc/hash.h"
#include "umc/util.h"

#define IMG 60000

struct srv {
        sd_event *event;
        int lfd;
        uint16_t port;
        uint8_t img[IMG];
        unsigned requests, ranges;
        bool cut_first;      /* send half of the first full answer, then close */
        bool ignore_range;   /* answer 200 with everything to a range */
        char reply_body[256];
};

static void respond(struct srv *s, int fd, const char *req) {
        const char *r = strstr(req, "Range: bytes=");
        char head[256];
        long from = 0;
        size_t n;

        s->requests++;
        if (strncmp(req, "GET /doc ", 9) == 0) {
                n = (size_t)snprintf(head, sizeof(head),
                                     "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                                     strlen(s->reply_body), s->reply_body);
                assert_int_equal(write(fd, head, n), (ssize_t)n);
                return;
        }
        if (r) {
                s->ranges++;
                from = strtol(r + 13, NULL, 10);
        }
        if (r && !s->ignore_range)
                n = (size_t)snprintf(head, sizeof(head),
                                     "HTTP/1.1 206 Partial Content\r\nContent-Length: %ld\r\n"
                                     "Content-Range: bytes %ld-%d/%d\r\n\r\n",
                                     IMG - from, from, IMG - 1, IMG);
        else
                n = (size_t)snprintf(head, sizeof(head),
                                     "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", IMG);
        if (!r || s->ignore_range)
                from = 0;
        assert_int_equal(write(fd, head, n), (ssize_t)n);
        n = IMG - (size_t)from;
        if (s->cut_first && !r) {
                s->cut_first = false;
                n /= 2;
        }
        assert_int_equal(write(fd, s->img + from, n), (ssize_t)n);
}

static int on_client(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        char req[2048];
        ssize_t n = read(fd, req, sizeof(req) - 1);

        if (n > 0) {
                req[n] = '\0';
                respond(userdata, fd, req);
        }
        /* One request per connection: closing ends it (a cut answer too). */
        sd_event_source_disable_unref(es);
        close(fd);
        return 0;
}

static int on_accept(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        struct srv *s = userdata;
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

        if (c >= 0)
                assert_int_equal(sd_event_add_io(s->event, NULL, c, EPOLLIN, on_client, s), 0);
        return 0;
}

static int setup(void **state) {
        struct srv *s = calloc(1, sizeof(*s));
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof(a);

        assert_non_null(s);
        assert_int_equal(sd_event_new(&s->event), 0);
        s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s->lfd >= 0);
        assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(s->lfd, 8), 0);
        assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
        s->port = ntohs(a.sin_port);
        assert_int_equal(sd_event_add_io(s->event, NULL, s->lfd, EPOLLIN, on_accept, s), 0);
        for (size_t i = 0; i < IMG; i++)
                s->img[i] = (uint8_t)(i * 7 + (i >> 9));
        *state = s;
        return 0;
}

static int teardown(void **state) {
        struct srv *s = *state;

        close(s->lfd);
        sd_event_unref(s->event);
        free(s);
        return 0;
}

static const struct umc_fetch_net insecure = { .allow_insecure = true, .retries = 3,
                                               .backoff_usec = 10000, .request_timeout_sec = 5 };

struct got {
        struct srv *s;
        int error;
        long status;
        char body[256];
        enum umc_reason reason;
        struct umc_fetch_stats stats;
};

static void on_mem(struct umc_fetch_mem *m, const struct umc_fetch_reply *r, void *userdata) {
        struct got *g = userdata;

        g->error = r->error;
        g->status = r->status;
        snprintf(g->body, sizeof(g->body), "%s", r->body);
        (void)sd_event_exit(g->s->event, 0);
}

static void url(struct srv *s, const char *path, char out[128]) {
        snprintf(out, 128, "http://127.0.0.1:%u%s", s->port, path);
}

static void get_into_memory_through_the_loop(void **state) {
        struct srv *s = *state;
        struct umc_curlev *ev = NULL;
        struct got g = { .s = s };
        char u[128];

        strcpy(s->reply_body, "{\"state\":\"ok\"}");
        assert_int_equal(umc_curlev_new(s->event, &ev), 0);
        url(s, "/doc", u);
        assert_int_equal(umc_fetch_mem_start(ev, &insecure, u, NULL, 0, 1024, on_mem, &g, NULL), 0);
        assert_int_equal(umc_curlev_running(ev), 1);
        assert_int_equal(sd_event_loop(s->event), 0);
        assert_int_equal(g.error, 0);
        assert_int_equal(g.status, 200);
        assert_string_equal(g.body, "{\"state\":\"ok\"}");
        assert_int_equal(umc_curlev_running(ev), 0);
        umc_curlev_free(ev);
}

static void answer_above_the_cap_is_refused(void **state) {
        struct srv *s = *state;
        struct umc_curlev *ev = NULL;
        struct got g = { .s = s };
        char u[128];

        strcpy(s->reply_body, "0123456789abcdef0123456789abcdef");
        assert_int_equal(umc_curlev_new(s->event, &ev), 0);
        url(s, "/doc", u);
        assert_int_equal(umc_fetch_mem_start(ev, &insecure, u, NULL, 0, 16, on_mem, &g, NULL), 0);
        assert_int_equal(sd_event_loop(s->event), 0);
        assert_int_equal(g.error, -EFBIG);
        umc_curlev_free(ev);
}

static void plain_http_needs_the_option(void **state) {
        struct umc_fetch_net secure = { .ca_file = "/nonexistent" };
        CURL *e = NULL;

        assert_int_equal(umc_fetch_easy_new(&secure, "http://127.0.0.1/x", &e), -EPERM);
        assert_int_equal(umc_fetch_easy_new(&secure, "file:///etc/passwd", &e), -EINVAL);
        assert_int_equal(umc_fetch_easy_new(&secure, "ftp://127.0.0.1/x", &e), 0);
        curl_easy_cleanup(e);
}

static void on_file(struct umc_fetch_file *f, int error, enum umc_reason reason, const char *why,
                    const struct umc_fetch_stats *stats, void *userdata) {
        struct got *g = userdata;

        g->error = error;
        g->reason = reason;
        g->stats = *stats;
        (void)sd_event_exit(g->s->event, 0);
}

static void fetch_image(struct srv *s, struct got *g) {
        char dir[] = "/tmp/umc-test-curlev-XXXXXX", u[128];
        uint8_t sha[UMC_HASH_LEN];
        struct umc_curlev *ev = NULL;
        struct stat st;
        int dfd;

        assert_non_null(mkdtemp(dir));
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, s->img, IMG, sha), 0);
        assert_int_equal(umc_curlev_new(s->event, &ev), 0);
        url(s, "/img", u);
        assert_int_equal(umc_fetch_file_start(ev, s->event, &insecure,
                                              &(struct umc_fetch_file_args){
                                                      .url = u, .dirfd = dfd, .final_name = "img",
                                                      .size = IMG, .sha256 = sha,
                                                      .done = on_file, .userdata = g },
                                              NULL),
                         0);
        assert_int_equal(sd_event_loop(s->event), 0);
        umc_curlev_free(ev);
        assert_int_equal(g->error, 0);
        assert_int_equal(fstatat(dfd, "img", &st, 0), 0);
        assert_int_equal(st.st_size, IMG);
        (void)unlinkat(dfd, "img", 0);
        close(dfd);
        assert_int_equal(rmdir(dir), 0);
}

static void cut_connection_resumes_with_a_range(void **state) {
        struct srv *s = *state;
        struct got g = { .s = s };

        s->cut_first = true;
        fetch_image(s, &g);
        assert_int_equal(g.stats.attempts, 2);
        assert_int_equal(g.stats.ranges, 1);
        assert_int_equal(s->ranges, 1);
        /* Half, then the other half: not the whole image twice. */
        assert_int_equal(g.stats.received, IMG);
}

static void server_ignoring_the_range_starts_over(void **state) {
        struct srv *s = *state;
        struct got g = { .s = s };

        s->cut_first = true;
        s->ignore_range = true;
        fetch_image(s, &g);
        /* Cut; a range answered 200 (curl stops: CURLE_RANGE_ERROR); from 0. */
        assert_int_equal(g.stats.attempts, 3);
        assert_int_equal(g.stats.ranges, 1);
        assert_int_equal(g.stats.received, IMG / 2 + IMG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(get_into_memory_through_the_loop, setup, teardown),
                cmocka_unit_test_setup_teardown(answer_above_the_cap_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(plain_http_needs_the_option, setup, teardown),
                cmocka_unit_test_setup_teardown(cut_connection_resumes_with_a_range, setup, teardown),
                cmocka_unit_test_setup_teardown(server_ignoring_the_range_starts_over, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
