/* SPDX-License-Identifier: MIT */
/*
 * umcd: the OTA upgrade master. main() is a list of steps, the same as
 * umc-agent's; everything else lives in libumc (manager.c, delivery.c,
 * dbus.c; signals, reload notices and the loop in service.c). See umcd(8).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "umc/config.h"
#include "umc/dbus.h"
#include "umc/dbusupdate.h"
#include "umc/log.h"
#include "umc/manager.h"
#include "umc/update.h"
#include "umc/service.h"
#include "umc/util.h"
#include "umc/version.h"

enum bus_kind { BUS_SYSTEM, BUS_SESSION };

struct args {
        const char *config_path;
        bool check_config;
        enum bus_kind bus;
};

struct daemon {
        const char *config_path;
        enum bus_kind bus_kind;
        gid_t operator_gid;             /* [Daemon] OperatorGroup=, (gid_t)-1 when none */
        sd_event *event;
        struct umc_manager *manager;
        sd_bus *bus;
        struct umc_dbus *dbus;
        struct umc_update *update;      /* NULL without [Cloud] BaseUrl= */
        struct umc_dbus_update *dbus_update;
};

static void help(void) {
        printf("Usage: umcd [OPTIONS]\n"
               "\n"
               "OTA upgrade master: delivers firmware packages to ECUs over secure sessions.\n"
               "\n"
               "  -c, --config PATH    Configuration file (default " UMC_DAEMON_CONFIG_PATH ")\n"
               "      --check-config   Validate the configuration and exit\n"
               "      --bus BUS        D-Bus to serve on: system (default) or session\n"
               "  -h, --help           Show this help\n"
               "      --version        Show the version\n");
}

/* 1 to run, 0 to exit successfully (help, version), -EINVAL on a usage error. */
static int parse_argv(int argc, char *argv[], struct args *a) {
        enum { ARG_CHECK_CONFIG = 0x100, ARG_BUS, ARG_VERSION };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                { "bus", required_argument, NULL, ARG_BUS },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;

        *a = (struct args){ .config_path = UMC_DAEMON_CONFIG_PATH, .bus = BUS_SYSTEM };
        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        if (optarg[0] == '\0')
                                return log_error_errno(EINVAL, "--config needs a path");
                        a->config_path = optarg;
                        break;
                case ARG_CHECK_CONFIG:
                        a->check_config = true;
                        break;
                case ARG_BUS:
                        if (strcmp(optarg, "system") == 0)
                                a->bus = BUS_SYSTEM;
                        else if (strcmp(optarg, "session") == 0)
                                a->bus = BUS_SESSION;
                        else
                                return log_error_errno(EINVAL,
                                                       "--bus must be 'system' or 'session', not '%s'",
                                                       optarg);
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("umcd " UMC_VERSION "\n");
                        return 0;
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc)
                return log_error_errno(EINVAL, "Unexpected argument '%s'", argv[optind]);
        return 1;
}

/*
 * umcd holds every target's key for its whole life: no core dump may carry
 * them to disk (systemd-coredump, or a core_pattern file) and no process of
 * the same user may read its memory (/proc/PID/mem, ptrace). Non-dumpable
 * does both (prctl(2), ptrace(2) "ptrace access mode checking"); the unit
 * adds LimitCORE=0. Done first, before any key is read.
 */
static int make_undumpable(void) {
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return log_error_errno(errno, "Cannot make the process non-dumpable: %m");
        return 0;
}

static void warn_config(void *userdata, const char *text) {
        log_warning("%s", text);
}

/* Returns the number of warnings (a valid file that cannot work as meant), or a negative errno. */
static int load_config(const char *path, struct umc_daemon_config *ret) {
        struct umc_config_error err = {};
        int r;

        r = umc_daemon_config_load(path, ret, &err);
        if (r < 0)
                return log_error_errno(r, "%s", err.msg[0] ? err.msg : "Cannot load the configuration");
        return (int)umc_daemon_config_warnings(ret, warn_config, NULL);
}

/*
 * [Daemon] OperatorGroup= to a GID. On the system bus a group that does not
 * exist is an error: the policy file and the daemon's own check would
 * disagree about who may control it. On the session bus (tests,
 * development) there is no policy file; without the group only root and
 * umcd's own UID may control it, as the D-Bus layer does by default.
 */
static int resolve_operator_group(const struct umc_daemon_config *c, enum bus_kind kind,
                                  gid_t *ret_gid) {
        int r = umc_dbus_resolve_group(c->operator_group, ret_gid);

        if (r == -ENOENT && kind == BUS_SESSION) {
                log_notice("Operator group '%s' ([Daemon] OperatorGroup=) does not exist: only "
                           "root and this user may call Install and Cancel", c->operator_group);
                *ret_gid = (gid_t)-1;
                return 0;
        }
        if (r == -ENOENT)
                return log_error_errno(r, "Operator group '%s' ([Daemon] OperatorGroup=) does not "
                                          "exist", c->operator_group);
        if (r < 0)
                return log_error_errno(r, "Cannot look up the operator group '%s' ([Daemon] "
                                          "OperatorGroup=): %m", c->operator_group);
        return 0;
}

static int setup_event(struct daemon *d) {
        int r = sd_event_default(&d->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");
        return 0;
}

static int create_manager(struct daemon *d, struct umc_daemon_config *config) {
        int r = umc_manager_new(config, d->event, &d->manager);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the manager: %m");
        return 0;
}

static int attach_bus(struct daemon *d, enum bus_kind kind) {
        int r;

        r = kind == BUS_SYSTEM ? sd_bus_open_system(&d->bus) : sd_bus_open_user(&d->bus);
        if (r < 0)
                return log_error_errno(r, "Cannot connect to the %s bus: %m",
                                       kind == BUS_SYSTEM ? "system" : "session");
        r = umc_dbus_attach(d->manager, d->bus, &d->dbus);
        if (r == -EEXIST)
                return log_error_errno(r, "Another process owns " UMC_DBUS_NAME);
        if (r < 0)
                return log_error_errno(r, "Cannot serve " UMC_DBUS_NAME ": %m");
        /* Before the loop runs: no call is served without the operator group in place. */
        umc_dbus_set_operator_gid(d->dbus, d->operator_gid);
        return 0;
}

static void log_next_check(int64_t t) {
        time_t tt = (time_t)t;
        struct tm tm;
        char buf[64];

        if (localtime_r(&tt, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", &tm) > 0)
                log_info("Cloud: next scheduled check at %s (local time)", buf);
}

/* The cloud client, when [Cloud] names a backend; its D-Bus part either way. */
static int setup_cloud(struct daemon *d) {
        const struct umc_daemon_config *c = umc_manager_config(d->manager);
        char why[512] = "";
        int r = 0;

        if (c->cloud_url) {
                r = umc_update_new(d->manager, &d->update, why, sizeof(why));
                if (r < 0)
                        return log_error_errno(r, "Cannot set up the cloud client: %s",
                                               why[0] ? why : "%m");
                if (c->allow_insecure)
                        log_warning("[Cloud] AllowInsecure=yes: plain http:// and ftp:// are "
                                    "allowed, and only the package signature protects what they "
                                    "carry");
                if (umc_update_next_check(d->update) > 0)
                        log_next_check(umc_update_next_check(d->update));
                else
                        log_info("Cloud: no upgrade window: checks only when asked over D-Bus");
        }
        r = umc_dbus_update_attach(d->dbus, d->update, &d->dbus_update);
        if (r < 0)
                return log_error_errno(r, "Cannot serve the update methods: %m");
        return 0;
}

/* SIGHUP: a new config only when idle and only when it is valid; else the old one stays. */
static int on_reload(void *userdata) {
        struct daemon *d = userdata;
        struct umc_daemon_config config = {};
        gid_t gid;
        int r;

        if (umc_manager_operation(d->manager) != UMC_OP_IDLE) {
                log_warning("Not reloading %s while an installation runs", d->config_path);
                return -EBUSY;
        }
        r = load_config(d->config_path, &config);
        if (r >= 0)
                r = resolve_operator_group(&config, d->bus_kind, &gid);
        if (r < 0) {
                log_warning("Keeping the running configuration");
                umc_daemon_config_free(&config);
                return r;
        }
        r = umc_manager_reload(d->manager, &config);
        if (r < 0) {
                umc_daemon_config_free(&config);
                return log_warning_errno(r, "Keeping the running configuration: %m");
        }
        d->operator_gid = gid;
        umc_dbus_set_operator_gid(d->dbus, gid);
        umc_log_set_max_level(umc_manager_config(d->manager)->log_level);
        log_info("Reloaded %s", d->config_path);
        return 0;
}

static int handle_signals(struct daemon *d) {
        int r = umc_service_handle_signals(d->event, on_reload, d);
        if (r < 0)
                return log_error_errno(r, "Cannot set up signal handling: %m");
        return 0;
}

static int run(struct daemon *d) {
        int r;

        log_info("umcd " UMC_VERSION " running");
        r = umc_service_run(d->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}

static void daemon_done(struct daemon *d) {
        umc_dbus_update_free(d->dbus_update);
        umc_update_free(d->update);
        d->dbus = umc_dbus_free(d->dbus);
        d->bus = sd_bus_flush_close_unref(d->bus);
        umc_manager_free(d->manager);
        d->manager = NULL;
        d->event = sd_event_unref(d->event);
}

int main(int argc, char *argv[]) {
        struct umc_daemon_config config = {};
        struct daemon d = {};
        struct args args;
        int r;

        umc_log_set_prefix(!isatty(STDERR_FILENO));
        r = parse_argv(argc, argv, &args);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        d.config_path = args.config_path;
        d.bus_kind = args.bus;

        if (make_undumpable() < 0)
                return EXIT_FAILURE;
        r = load_config(args.config_path, &config);
        if (args.check_config) {
                if (r > 0)
                        printf("%s: valid, with %d warning%s (above)\n", args.config_path, r,
                               r == 1 ? "" : "s");
                else if (r == 0)
                        printf("%s: valid\n", args.config_path);
                umc_daemon_config_free(&config);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (r < 0)
                return EXIT_FAILURE;
        umc_log_set_max_level(config.log_level);

        r = resolve_operator_group(&config, d.bus_kind, &d.operator_gid);
        if (r >= 0)
                r = setup_event(&d);
        if (r >= 0)
                r = create_manager(&d, &config);
        if (r >= 0)
                r = attach_bus(&d, args.bus);
        if (r >= 0)
                r = setup_cloud(&d);
        if (r >= 0)
                r = handle_signals(&d);
        if (r >= 0)
                r = run(&d);

        daemon_done(&d);
        umc_daemon_config_free(&config); /* only still set when the manager was not created */
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
