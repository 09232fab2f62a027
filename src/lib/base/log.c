/* SPDX-License-Identifier: MIT */
#include "umc/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int max_level = LOG_INFO;
static bool with_prefix = true;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void umc_log_set_max_level(int prio) {
        if (prio >= LOG_EMERG && prio <= LOG_DEBUG)
                max_level = prio;
}

int umc_log_get_max_level(void) {
        return max_level;
}

int umc_log_level_from_string(const char *s) {
        for (int i = LOG_EMERG; i <= LOG_DEBUG; i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return i;
        return -EINVAL;
}

void umc_log_set_prefix(bool on) {
        with_prefix = on;
}

int umc_log_internal(int prio, int error, const char *fmt, ...) {
        int saved = errno;
        char line[2048];
        va_list ap;

        error = abs(error);
        if (prio > max_level)
                goto out;

        /* Format into one buffer so the line reaches stderr in a single write. */
        errno = error;
        va_start(ap, fmt);
        (void)vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (with_prefix)
                (void)fprintf(stderr, "<%d>%s\n", prio, line);
        else
                (void)fprintf(stderr, "%s\n", line);
out:
        errno = saved;
        return error ? -error : 0;
}
