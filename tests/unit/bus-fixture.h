/* SPDX-License-Identifier: MIT */
/*
 * Test support for the D-Bus tests (test-dbus.c, test-ctl.c): private
 * dbus-daemons started as children, a config with one target whose agent
 * refuses connections, a package for it, and per test a real manager
 * exported on one of the buses. Include after <cmocka.h>.
 */
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "umc/config.h"
#include "umc/dbus.h"
#include "umc/dbusupdate.h"
#include "umc/hash.h"
#include "umc/manager.h"
#include "umc/util.h"

#include "test-helpers.h"

#define IMAGE_LEN 4096
#define WAIT_USEC (10 * USEC_PER_SEC)

struct bus_daemon {
        pid_t pid;
        char address[PATH_MAX + 64];
};

/* Built once for the whole group. */
struct world {
        char dir[64];
        struct bus_daemon open_bus;   /* allows everything: the object's checks decide */
        struct bus_daemon policy_bus; /* system-like defaults + systemd/io.umc.conf */
        char config[128];
        char package[128];
        char manifest_hash[2 * UMC_HASH_LEN + 1];
        int closed_fd;                /* bound, never listening: connects are refused */
        uint16_t closed_port;
};

static struct world *W;

/* One manager, its object and a client connection per test. */
struct fixture {
        sd_event *event;
        struct umc_manager *manager;
        sd_bus *server, *client;
        struct umc_dbus *dbus;
        struct umc_dbus_update *dbus_update; /* no [Cloud]: NotConfigured */
        const struct bus_daemon *bus;
};
/* ---- files -------------------------------------------------------------------- */

/* A file of the source tree: UMC_SRCDIR (set by the Makefile), else the working directory. */
_unused_ static void repo_path(const char *rel, char *out, size_t size) {
        const char *root = getenv("UMC_SRCDIR");
        char joined[PATH_MAX + 256];

        snprintf(joined, sizeof(joined), "%s/%s", root && *root ? root : ".", rel);
        assert_non_null(realpath(joined, out));
        assert_true(strlen(out) < size);
}

/* ---- private dbus-daemons ----------------------------------------------------- */

static const char open_policy[] =
        "<policy context=\"default\">"
        "<allow user=\"*\"/><allow own=\"*\"/>"
        "<allow send_type=\"method_call\"/><allow send_type=\"signal\"/>"
        "<allow send_requested_reply=\"true\" send_type=\"method_return\"/>"
        "<allow send_requested_reply=\"true\" send_type=\"error\"/>"
        "<allow receive_type=\"method_call\"/><allow receive_type=\"method_return\"/>"
        "<allow receive_type=\"error\"/><allow receive_type=\"signal\"/>"
        "</policy>";

/* The default context of Debian's system.conf, which io.umc.conf extends. */
static const char system_policy[] =
        "<policy context=\"default\">"
        "<allow user=\"*\"/><deny own=\"*\"/><deny send_type=\"method_call\"/>"
        "<allow send_type=\"signal\"/>"
        "<allow send_requested_reply=\"true\" send_type=\"method_return\"/>"
        "<allow send_requested_reply=\"true\" send_type=\"error\"/>"
        "<allow receive_type=\"method_call\"/><allow receive_type=\"method_return\"/>"
        "<allow receive_type=\"error\"/><allow receive_type=\"signal\"/>"
        "<allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>"
        "<allow send_destination=\"org.freedesktop.DBus\""
        " send_interface=\"org.freedesktop.DBus.Introspectable\"/>"
        "</policy>";

_unused_ static void bus_start(struct bus_daemon *b, const char *name, const char *policy,
                      const char *include) {
        char conf[256], log[256], text[8192], fdarg[32];
        int pipefd[2], n;
        size_t got = 0;
        pid_t pid;

        snprintf(conf, sizeof(conf), "%s/%s.conf", W->dir, name);
        snprintf(log, sizeof(log), "%s/%s.log", W->dir, name);
        n = snprintf(text, sizeof(text),
                     "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                     " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                     "<busconfig><type>session</type>"
                     "<listen>unix:path=%s/%s.sock</listen><auth>EXTERNAL</auth>%s%s%s%s</busconfig>\n",
                     W->dir, name, policy, include ? "<include>" : "", include ? include : "",
                     include ? "</include>" : "");
        assert_true(n > 0 && (size_t)n < sizeof(text));
        write_file(conf, text, (size_t)n, 0644);

        assert_int_equal(pipe(pipefd), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                sigset_t none;
                int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
                sigemptyset(&none);
                (void)sigprocmask(SIG_SETMASK, &none, NULL);
                if (logfd >= 0)
                        (void)dup2(logfd, STDERR_FILENO);
                (void)close(pipefd[0]);
                snprintf(fdarg, sizeof(fdarg), "--print-address=%d", pipefd[1]);
                snprintf(text, sizeof(text), "--config-file=%s", conf);
                execlp("dbus-daemon", "dbus-daemon", text, "--nofork", "--nopidfile", fdarg,
                       (char *)NULL);
                _exit(127);
        }
        assert_int_equal(close(pipefd[1]), 0);
        b->pid = pid;
        /* The address line tells that the bus is listening. */
        while (got < sizeof(b->address) - 1) {
                struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
                ssize_t k;

                assert_int_equal(poll(&p, 1, 10000), 1);
                k = read(pipefd[0], b->address + got, sizeof(b->address) - 1 - got);
                assert_true(k > 0);
                got += (size_t)k;
                if (memchr(b->address, '\n', got))
                        break;
        }
        b->address[got] = '\0';
        assert_non_null(strchr(b->address, '\n'));
        *strchr(b->address, '\n') = '\0';
        assert_int_equal(close(pipefd[0]), 0);
}

_unused_ static void bus_stop(struct bus_daemon *b) {
        if (b->pid <= 0)
                return;
        (void)kill(b->pid, SIGTERM);
        (void)waitpid(b->pid, NULL, 0);
        b->pid = 0;
}

_unused_ static sd_bus *bus_connect(const char *address) {
        sd_bus *bus = NULL;

        assert_true(sd_bus_new(&bus) >= 0);
        assert_true(sd_bus_set_address(bus, address) >= 0);
        assert_true(sd_bus_set_bus_client(bus, 1) >= 0);
        assert_true(sd_bus_start(bus) >= 0);
        return bus;
}

/* ---- the world: buses, a package, a config ------------------------------------ */

_unused_ static void make_package(void) {
        uint8_t image[IMAGE_LEN], sha[UMC_HASH_LEN], mhash[UMC_HASH_LEN];
        char path[256], hex[2 * UMC_HASH_LEN + 1], manifest[1024];
        int n;

        for (size_t i = 0; i < sizeof(image); i++)
                image[i] = (uint8_t)(i * 7 + 3);
        snprintf(W->package, sizeof(W->package), "%s/pkg", W->dir);
        assert_int_equal(mkdir(W->package, 0755), 0);
        snprintf(path, sizeof(path), "%s/bcm.bin", W->package);
        write_file(path, image, sizeof(image), 0644);
        assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, image, sizeof(image), sha), 0);
        umc_hex_encode(sha, sizeof(sha), hex);
        n = snprintf(manifest, sizeof(manifest),
                     "{\"format\":1,\"name\":\"demo 1\",\"images\":[{\"target\":\"bcm\","
                     "\"version\":\"1.2.3\",\"file\":\"bcm.bin\",\"size\":%d,\"sha256\":\"%s\"}]}",
                     IMAGE_LEN, hex);
        assert_true(n > 0 && (size_t)n < sizeof(manifest));
        snprintf(path, sizeof(path), "%s/manifest.json", W->package);
        write_file(path, manifest, (size_t)n, 0644);
        assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, manifest, (size_t)n, mhash), 0);
        umc_hex_encode(mhash, sizeof(mhash), W->manifest_hash);
}

_unused_ static void make_config(void) {
        static const char key[] =
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
        char path[256], text[2048];
        int n;

        snprintf(path, sizeof(path), "%s/state", W->dir);
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/bcm.key", W->dir);
        write_file(path, key, strlen(key), 0600);
        n = snprintf(text, sizeof(text),
                     /* The closed port refuses at once, and for good: no retries. */
                     "[Package]\nRequireSignature=no\n"

                     "[Daemon]\nStateDirectory=%s/state\nPackageDirectory=%s\nConnectRetrySec=0\n"
                     "[EthernetAcl]\nRule=allow proto=tcp dst=127.0.0.1/32 dport=%u\n"
                     "[Target bcm]\nEcuId=0x10\nHardwareId=HW-BCM-1\nKeyFile=%s\n"
                     "Address=127.0.0.1:%u\n",
                     W->dir, W->dir, W->closed_port, path, W->closed_port);
        assert_true(n > 0 && (size_t)n < sizeof(text));
        snprintf(W->config, sizeof(W->config), "%s/umcd.conf", W->dir);
        write_file(W->config, text, (size_t)n, 0644);
}

/* A local TCP port that refuses connections for the whole run. */
_unused_ static void reserve_closed_port(void) {
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sin);

        W->closed_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(W->closed_fd >= 0);
        assert_int_equal(bind(W->closed_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(getsockname(W->closed_fd, (struct sockaddr *)&sin, &len), 0);
        W->closed_port = ntohs(sin.sin_port);
}

_unused_ static int group_setup(void **state) {
        char policy_file[PATH_MAX];

        W = calloc(1, sizeof(*W));
        assert_non_null(W);
        strcpy(W->dir, "/tmp/umc-test-bus-XXXXXX");
        assert_non_null(mkdtemp(W->dir));
        /* Other UIDs must reach the bus sockets inside. */
        assert_int_equal(chmod(W->dir, 0755), 0);
        reserve_closed_port();
        make_package();
        make_config();
        repo_path("systemd/io.umc.conf", policy_file, sizeof(policy_file));
        bus_start(&W->open_bus, "open", open_policy, NULL);
        bus_start(&W->policy_bus, "policy", system_policy, policy_file);
        return 0;
}

_unused_ static int group_teardown(void **state) {
        bus_stop(&W->open_bus);
        bus_stop(&W->policy_bus);
        (void)close(W->closed_fd);
        rm_tree(W->dir);
        free(W);
        W = NULL;
        return 0;
}

_unused_ static int fixture_setup(void **state, const struct bus_daemon *bus) {
        struct fixture *f = calloc(1, sizeof(*f));
        struct umc_daemon_config cfg;
        struct umc_config_error err;

        assert_non_null(f);
        f->bus = bus;
        assert_true(sd_event_new(&f->event) >= 0);
        if (umc_daemon_config_load(W->config, &cfg, &err) < 0)
                fail_msg("config: %s", err.msg);
        assert_int_equal(umc_manager_new(&cfg, f->event, &f->manager), 0);
        umc_daemon_config_free(&cfg); /* moved in: what is left is zeroed */
        f->server = bus_connect(bus->address);
        assert_int_equal(umc_dbus_attach(f->manager, f->server, &f->dbus), 0);
        assert_int_equal(umc_dbus_update_attach(f->dbus, NULL, &f->dbus_update), 0);
        f->client = bus_connect(bus->address);
        assert_true(sd_bus_attach_event(f->client, f->event, SD_EVENT_PRIORITY_NORMAL) >= 0);
        *state = f;
        return 0;
}

_unused_ static int setup_open(void **state) {
        return fixture_setup(state, &W->open_bus);
}

_unused_ static int setup_policy(void **state) {
        return fixture_setup(state, &W->policy_bus);
}

_unused_ static int teardown(void **state) {
        struct fixture *f = *state;

        umc_dbus_update_free(f->dbus_update);
        f->dbus = umc_dbus_free(f->dbus);
        f->client = sd_bus_flush_close_unref(f->client);
        f->server = sd_bus_flush_close_unref(f->server);
        umc_manager_free(f->manager);
        f->event = sd_event_unref(f->event);
        free(f);
        return 0;
}
/*
 * Fork; the child runs fn(arg, fd) (which must _exit()) while this process
 * serves the object. Returns the child's exit status; what it wrote to fd
 * lands in out (NUL-terminated, out_size - 1 bytes at most).
 */
typedef void (*child_fn)(const void *arg, int fd);

_unused_ static int run_child(struct fixture *f, child_fn fn, const void *arg, char *out,
                              size_t out_size) {
        uint64_t deadline = umc_now_monotonic_usec() + WAIT_USEC;
        int pipefd[2], status = 0;
        size_t got = 0;
        pid_t pid;

        assert_int_equal(pipe(pipefd), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                (void)close(pipefd[0]);
                fn(arg, pipefd[1]);
                _exit(127);
        }
        assert_int_equal(close(pipefd[1]), 0);
        assert_int_equal(fcntl(pipefd[0], F_SETFL, O_NONBLOCK), 0);
        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                ssize_t n;

                assert_true(w >= 0);
                /* Drain as we go, so a chatty child never blocks on a full pipe. */
                while (got < out_size - 1 && (n = read(pipefd[0], out + got, out_size - 1 - got)) > 0)
                        got += (size_t)n;
                if (w == pid)
                        break;
                assert_true(umc_now_monotonic_usec() < deadline);
                assert_true(sd_event_run(f->event, 20 * USEC_PER_MSEC) >= 0);
        }
        for (ssize_t n; got < out_size - 1 && (n = read(pipefd[0], out + got, out_size - 1 - got)) > 0;)
                got += (size_t)n;
        out[got] = '\0';
        assert_int_equal(close(pipefd[0]), 0);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}
