/* SPDX-License-Identifier: MIT */
/*
 * umc-agent: receives firmware images from umcd over TCP or CAN and
 * installs them into this ECU's A/B slot store. main() is a list of steps,
 * the same as umcd's; the agent itself lives in libumc (src/lib/agent/),
 * signals, reload notices and the loop in service.c. man/umc-agent.8
 * documents options, signals and files.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "umc/agent.h"
#include "umc/config.h"
#include "umc/log.h"
#include "umc/service.h"
#include "umc/version.h"

/* Exit status, as umc-agent(8) lists them. */
enum {
        EXIT_OK = 0,
        EXIT_FAIL = 1,  /* bad configuration, or a failure at start or while running */
        EXIT_USAGE = 2, /* bad command line */
};

struct args {
        const char *config_path;
        bool check_only;
};

struct daemon {
        const char *config_path;
        sd_event *event;
        struct umc_agent *agent;
};

static void help(void) {
        printf("Usage: umc-agent [OPTIONS]\n"
               "\n"
               "Receive firmware images from umcd and install them into the slot store.\n"
               "\n"
               "  -c, --config=PATH   configuration file (default %s)\n"
               "      --check-config  validate the configuration and exit\n"
               "  -h, --help          show this help and exit\n"
               "      --version       show the version and exit\n",
               UMC_AGENT_CONFIG_PATH);
}

/* Returns 1 to go on, 0 to exit successfully (help, version), -EINVAL on a usage error. */
static int parse_args(int argc, char **argv, struct args *ret) {
        enum { ARG_CHECK_CONFIG = 0x100, ARG_VERSION };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        struct args a = { .config_path = UMC_AGENT_CONFIG_PATH };
        int c;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        if (optarg[0] == '\0') {
                                log_error("--config needs a path");
                                return -EINVAL;
                        }
                        a.config_path = optarg;
                        break;
                case ARG_CHECK_CONFIG:
                        a.check_only = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("umc-agent %s\n", UMC_VERSION);
                        return 0;
                default:
                        return -EINVAL; /* getopt_long() has said what was wrong */
                }
        }
        if (optind < argc) {
                log_error("Unexpected argument '%s'; see --help", argv[optind]);
                return -EINVAL;
        }
        *ret = a;
        return 1;
}

/*
 * The agent holds its ECU key for its whole life: no core dump may carry it
 * to disk (systemd-coredump, or a core_pattern file) and no process of the
 * same user may read its memory (/proc/PID/mem, ptrace). Non-dumpable does
 * both (prctl(2), ptrace(2) "ptrace access mode checking"); the unit adds
 * LimitCORE=0. Done first, before the key is read.
 */
static int make_undumpable(void) {
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return log_error_errno(errno, "Cannot make the process non-dumpable: %m");
        return 0;
}

static void warn_config(void *userdata, const char *text) {
        log_warning("%s", text);
}

static int load_config(const char *path, struct umc_agent_config *ret) {
        struct umc_config_error err = {};
        char why[UMC_WHY_MAX];
        int r;

        r = umc_agent_config_load(path, ret, &err);
        if (r < 0)
                return log_error_errno(r, "%s", err.msg[0] ? err.msg : path);
        r = umc_agent_config_check(ret, why, sizeof(why));
        if (r < 0) {
                umc_agent_config_free(ret);
                return log_error_errno(r, "%s: %s", path, why);
        }
        /* Valid, but perhaps refusing every master: say so at --check-config and at start. */
        (void)umc_agent_config_warnings(ret, warn_config, NULL);
        return 0;
}

/* Gateway: the forward file is part of the configuration, so check it too. */
static int check_forward_file(const struct umc_agent_config *c) {
        struct umc_daemon_config fwd = {};
        struct umc_config_error err = {};
        int r;

        if (c->mode != UMC_AGENT_GATEWAY)
                return 0;
        r = umc_daemon_config_load(c->forward_config, &fwd, &err);
        if (r < 0)
                return log_error_errno(r, "ForwardConfig=: %s", err.msg[0] ? err.msg : c->forward_config);
        if (fwd.n_targets == 0)
                r = log_error_errno(-EINVAL, "%s: no [Target] section: a gateway forwards to at "
                                             "least one ECU", c->forward_config);
        else {
                (void)umc_daemon_config_warnings(&fwd, warn_config, NULL);
                log_info("%s: forward file is valid, %zu ECU(s)", c->forward_config, fwd.n_targets);
        }
        umc_daemon_config_free(&fwd);
        return r;
}

static int setup_event(struct daemon *d) {
        int r = sd_event_default(&d->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");
        return 0;
}

static int create_agent(struct daemon *d, struct umc_agent_config *config) {
        char why[512] = "";
        int r;

        r = umc_agent_new(config, d->event, &d->agent, why, sizeof(why));
        if (r < 0 && why[0] != '\0')
                return log_error_errno(r, "%s", why);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the agent: %m");
        return 0;
}

/* SIGHUP: a new config only when it is valid and usable; else the old one stays. */
static int on_reload(void *userdata) {
        struct daemon *d = userdata;
        struct umc_agent_config config = {};
        char why[512] = "";
        int level, r;

        r = load_config(d->config_path, &config);
        if (r < 0) {
                log_error("Reload refused, keeping the running configuration");
                return r;
        }
        level = config.log_level;
        r = umc_agent_reload(d->agent, &config, why, sizeof(why));
        umc_agent_config_free(&config); /* moved in on success: then already empty */
        if (r < 0)
                return log_error_errno(r, "Reload refused, keeping the running configuration: %s",
                                       why[0] != '\0' ? why : strerror(-r));
        umc_log_set_max_level(level);
        return 0;
}

static int handle_signals(struct daemon *d) {
        int r = umc_service_handle_signals(d->event, on_reload, d);
        if (r < 0)
                return log_error_errno(r, "Cannot set up signal handling: %m");
        return 0;
}

static int run(struct daemon *d) {
        int r = umc_service_run(d->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}

static void daemon_done(struct daemon *d) {
        umc_agent_free(d->agent);
        d->agent = NULL;
        d->event = sd_event_unref(d->event);
}

/* --check-config: the file, its warnings, a gateway's forward file; nothing is opened. */
static int check_config(const struct args *args, struct umc_agent_config *config) {
        int r = check_forward_file(config);
        if (r >= 0)
                log_info("%s: configuration is valid", args->config_path);
        umc_agent_config_free(config);
        return r;
}

int main(int argc, char **argv) {
        struct umc_agent_config config = {};
        struct daemon d = {};
        struct args args;
        int r;

        /* journald reads the "<N>" prefixes; a terminal gets plain lines. */
        umc_log_set_prefix(!isatty(STDERR_FILENO));
        r = parse_args(argc, argv, &args);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_OK;
        d.config_path = args.config_path;

        r = make_undumpable();
        if (r >= 0)
                r = load_config(args.config_path, &config);
        if (r < 0)
                return EXIT_FAIL;
        if (args.check_only)
                return check_config(&args, &config) < 0 ? EXIT_FAIL : EXIT_OK;
        umc_log_set_max_level(config.log_level);

        r = setup_event(&d);
        if (r >= 0)
                r = create_agent(&d, &config);
        if (r >= 0)
                r = handle_signals(&d);
        if (r >= 0)
                r = run(&d);

        daemon_done(&d);
        umc_agent_config_free(&config); /* only still set when the agent was not created */
        return r < 0 ? EXIT_FAIL : EXIT_OK;
}
