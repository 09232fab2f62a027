/* SPDX-License-Identifier: MIT */
/*
 * service.c: what both daemons tell systemd around the loop, read from a
 * real NOTIFY_SOCKET (an AF_UNIX datagram socket, as systemd's), with real
 * signals sent to this process.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "test-helpers.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "umc/service.h"

struct fx {
        char dir[64];
        char path[96];
        int fd;             /* our end of NOTIFY_SOCKET */
        sd_event *e;
        unsigned reloads;
        int reload_result;
        char during[256];   /* what systemd had been told when the reload ran */
};

/* The next notice on the socket, or "" when none is waiting. */
static void next_notice(struct fx *f, char *buf, size_t size) {
        ssize_t n = recv(f->fd, buf, size - 1, MSG_DONTWAIT);

        if (n < 0) {
                assert_int_equal(errno, EAGAIN);
                n = 0;
        }
        buf[n] = '\0';
}

static int setup(void **state) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct fx *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        (void)close(scratch_dir("service", f->dir, sizeof(f->dir)));
        (void)snprintf(f->path, sizeof(f->path), "%s/notify", f->dir);
        f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(f->fd >= 0);
        (void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
        assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(setenv("NOTIFY_SOCKET", f->path, 1), 0);
        assert_int_equal(sd_event_new(&f->e), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fx *f = *state;

        (void)unsetenv("NOTIFY_SOCKET");
        sd_event_unref(f->e);
        (void)close(f->fd);
        rm_tree(f->dir);
        free(f);
        return 0;
}

static int on_reload(void *userdata) {
        struct fx *f = userdata;

        f->reloads++;
        next_notice(f, f->during, sizeof(f->during));
        return f->reload_result;
}

/* Dispatch what is pending (the signal's source) without blocking. */
static void pump(struct fx *f) {
        for (int i = 0; i < 10; i++)
                assert_true(sd_event_run(f->e, 10 * 1000) >= 0);
}

static void test_sighup_tells_reloading_with_the_clock_then_ready(void **state) {
        struct fx *f = *state;
        char buf[256];
        uint64_t before, stamp;
        int used = 0;

        assert_int_equal(umc_service_handle_signals(f->e, on_reload, f), 0);
        before = umc_now_monotonic_usec();
        assert_int_equal(kill(getpid(), SIGHUP), 0);
        pump(f);
        assert_int_equal(f->reloads, 1);
        /* sd_notify(3): Type=notify-reload wants MONOTONIC_USEC= with RELOADING=1. */
        assert_int_equal(sscanf(f->during, "RELOADING=1\nMONOTONIC_USEC=%" SCNu64 "%n", &stamp, &used),
                         1);
        assert_int_equal((size_t)used, strlen(f->during));
        assert_true(stamp >= before && stamp <= umc_now_monotonic_usec());
        next_notice(f, buf, sizeof(buf));
        assert_string_equal(buf, "READY=1");

        /* A refused reload: the old configuration runs on, so READY=1 again. */
        f->reload_result = -EINVAL;
        assert_int_equal(kill(getpid(), SIGHUP), 0);
        pump(f);
        assert_int_equal(f->reloads, 2);
        assert_non_null(strstr(f->during, "RELOADING=1\n"));
        next_notice(f, buf, sizeof(buf));
        assert_string_equal(buf, "READY=1");
        next_notice(f, buf, sizeof(buf));
        assert_string_equal(buf, "");
}

/*
 * A stop signal (SIGTERM, SIGINT) ends the run: systemd hears READY=1 then
 * STOPPING=1, and no reload ran.
 */
static void stops_on(struct fx *f, int sig) {
        char buf[256];

        assert_int_equal(umc_service_handle_signals(f->e, on_reload, f), 0);
        assert_int_equal(kill(getpid(), sig), 0);
        assert_int_equal(umc_service_run(f->e), 0);
        assert_int_equal(f->reloads, 0);
        next_notice(f, buf, sizeof(buf));
        assert_string_equal(buf, "READY=1");
        next_notice(f, buf, sizeof(buf));
        assert_string_equal(buf, "STOPPING=1");
}

static void test_sigterm_ends_run_with_ready_then_stopping(void **state) {
        stops_on(*state, SIGTERM);
}

static void test_sigint_stops_like_sigterm(void **state) {
        stops_on(*state, SIGINT);
}

static void test_signals_twice_on_one_loop_are_refused(void **state) {
        struct fx *f = *state;

        assert_int_equal(umc_service_handle_signals(f->e, on_reload, f), 0);
        assert_int_equal(umc_service_handle_signals(f->e, on_reload, f), -EBUSY);
        assert_int_equal(umc_service_handle_signals(f->e, NULL, f), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_sighup_tells_reloading_with_the_clock_then_ready,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_sigterm_ends_run_with_ready_then_stopping, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_sigint_stops_like_sigterm, setup, teardown),
                cmocka_unit_test_setup_teardown(test_signals_twice_on_one_loop_are_refused, setup,
                                                teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
