/* SPDX-License-Identifier: MIT */
/*
 * umcctl: a thin client of io.umc.Manager1 (busapi.h). Parses the command
 * line, talks to umcd over the system (or session) bus, prints text for
 * people or one JSON object per line for scripts (--json), and turns the
 * outcome into a documented exit code (man/umcctl.1). install and monitor
 * run their own sd-event loop for the daemon's signals (watch.c).
 *
 * Ownership: struct umc_ctl_args owns the strings it holds;
 * umc_ctl_args_free() releases them and accepts a zeroed struct.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <systemd/sd-bus.h>

#include "umc/hash.h"

/* Exit codes, as man/umcctl.1 documents them. */
enum umc_ctl_exit {
        UMC_CTL_EXIT_OK = 0,
        UMC_CTL_EXIT_FAILED = 1,       /* the installation completed with a failure or an alarm */
        UMC_CTL_EXIT_USAGE = 2,        /* bad command line (or arguments the daemon refused as invalid) */
        UMC_CTL_EXIT_UNREACHABLE = 3,  /* no bus, no umcd on it, or umcd left mid-operation */
        UMC_CTL_EXIT_REFUSED = 4,      /* busy, access denied, bad package, nothing to cancel */
        UMC_CTL_EXIT_INTERRUPTED = 130, /* SIGINT/SIGTERM while waiting for an installation */
};

enum umc_ctl_command {
        UMC_CTL_STATUS = 0,
        UMC_CTL_TARGETS,
        UMC_CTL_INSPECT,
        UMC_CTL_INSTALL,
        UMC_CTL_CANCEL,
        UMC_CTL_MONITOR,
        UMC_CTL_CHECK,                 /* ctlcloud.c */
        UMC_CTL_UPDATE,                /* ctlcloud.c */
        UMC_CTL_HELP,
        UMC_CTL_VERSION,
};

struct umc_ctl_args {
        enum umc_ctl_command command;
        bool session_bus;              /* --bus session; default: the system bus */
        bool json;                     /* --json: one JSON object per line */
        char *package;                 /* owned, absolute: inspect and install */
        char manifest_hash[2 * UMC_HASH_LEN + 1]; /* "" when --manifest-hash is not given */
        char **targets;                /* owned, NULL-terminated; NULL when no --target */
        size_t n_targets;
        bool yes;                      /* update --yes: consent without asking */
};

/*
 * Parse argv into *ret (written only on success; free with
 * umc_ctl_args_free()). A relative PACKAGE is made absolute against the
 * working directory. Options are checked as the daemon would (hash: 64 hex
 * digits; target names: 1..31 of A-Z a-z 0-9 _ -), so mistakes fail here.
 * Returns 0, -EINVAL after writing what is wrong to err, or -ENOMEM.
 */
int umc_ctl_parse_args(int argc, char *argv[], struct umc_ctl_args *ret, FILE *err);

/* Release what a owns and zero it. Accepts NULL and zeroed structs. */
void umc_ctl_args_free(struct umc_ctl_args *a);

/*
 * The cloud update (ctlcloud.c): `check` asks umcd to check now and prints
 * the offer; `update` does the same, asks for consent (or takes --yes),
 * calls InstallUpdate with the offer's manifest hash and follows the
 * download and the installation to the end. Exit codes as above.
 */
int umc_ctl_cloud_check(const struct umc_ctl_args *a, sd_bus *bus, FILE *out, FILE *err);
int umc_ctl_cloud_update(const struct umc_ctl_args *a, sd_bus *bus, FILE *in, FILE *out, FILE *err);

/* The --help text. */
void umc_ctl_help(FILE *out);

/*
 * Open the bus a names (the system bus, or the session bus; sd-bus honours
 * DBUS_SYSTEM_BUS_ADDRESS and DBUS_SESSION_BUS_ADDRESS). Returns 0 and a
 * connection the caller closes with sd_bus_flush_close_unref(), or a
 * negative errno.
 */
int umc_ctl_connect(const struct umc_ctl_args *a, sd_bus **ret);

/*
 * Say why umc_ctl_connect() failed with r, in terms of what to do (no
 * session bus: leave out --bus session; no system bus: start dbus), on
 * err. Returns UMC_CTL_EXIT_UNREACHABLE.
 */
int umc_ctl_connect_failed(const struct umc_ctl_args *a, int r, FILE *err);

/*
 * Run a's command over bus; results go to out, diagnostics to err. The
 * return value is the process exit code (enum umc_ctl_exit), not an errno.
 * install and monitor block SIGINT and SIGTERM and receive them through
 * the loop.
 */
int umc_ctl_run(const struct umc_ctl_args *a, sd_bus *bus, FILE *out, FILE *err);
