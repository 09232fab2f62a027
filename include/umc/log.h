/* SPDX-License-Identifier: MIT */
/*
 * Logging for the daemon and tools: one line per message on stderr with a
 * "<N>" syslog priority prefix, which journald turns into the entry's
 * priority (sd-daemon(3)).
 *
 * Who logs:
 *  - Pure modules (parsers, codecs, crypto, the protocol and its state
 *    machines, link checks, the slot store, the package tools) never log:
 *    they return a negative errno and say why through umc_why() (util.h),
 *    a reason code where one goes on the wire or to D-Bus, or
 *    struct umc_config_error for a config file.
 *  - The long-lived objects a daemon's loop drives (umcd: manager.c,
 *    delivery.c, dbus.c; umc-agent: agent.c, conn.c, listen.c,
 *    agentcan.c, forward.c; both: service.c) log what happens on the
 *    loop, a connection refused, a transfer lost, an image installed:
 *    no caller is there to receive it.
 *  - Their constructors (umc_*_new(), umc_dbus_attach()) and the reloads
 *    main() calls (umc_agent_reload(), umc_manager_reload()) never log
 *    their own failure: they return it with its detail, and main() logs
 *    it once, where it decides what happens next. What they set up or
 *    found and handled (the address listened on, a stale resume record
 *    dropped) they may log at info or notice.
 *  - Binaries (src/<binary>/main.c) and umcctl log or print what they
 *    were told, once.
 */
#pragma once

#include <stdbool.h>
#include <syslog.h>

/* Messages above this priority (numerically) are dropped. Default LOG_INFO. */
void umc_log_set_max_level(int prio);
int umc_log_get_max_level(void);

/* Parse "emerg".."debug" (as in umcd.conf LogLevel=); -EINVAL otherwise. */
int umc_log_level_from_string(const char *s);

/* Write the "<N>" prefix (default true: for journald) or plain text (a terminal). */
void umc_log_set_prefix(bool on);

/*
 * Log fmt at prio. When error is non-zero, errno is set to |error| for %m
 * and the function returns -|error|; otherwise it returns 0.
 */
int umc_log_internal(int prio, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) umc_log_internal(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) umc_log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) umc_log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) umc_log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) umc_log_internal(LOG_ERR, 0, __VA_ARGS__)
#define log_error_errno(r, ...) umc_log_internal(LOG_ERR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) umc_log_internal(LOG_WARNING, (r), __VA_ARGS__)
#define log_debug_errno(r, ...) umc_log_internal(LOG_DEBUG, (r), __VA_ARGS__)
