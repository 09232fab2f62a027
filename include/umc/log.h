/* SPDX-License-Identifier: MIT */
/*
 * Logging for the daemon and tools: one line per message on stderr with a
 * "<N>" syslog priority prefix, which journald turns into the entry's
 * priority (sd-daemon(3)). Library modules return errors instead of
 * logging; binaries log them once, where they are handled.
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
