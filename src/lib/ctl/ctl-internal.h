/* SPDX-License-Identifier: MIT */
/*
 * Private to umcctl's library part (ctl.h), which is two files in
 * src/lib/ctl/: ctl.c (argument parsing, the output helpers below, the
 * short commands) and watch.c (install and monitor, the signal loop). The
 * helpers write to the FILE given; none of them keeps a pointer.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>
#include <systemd/sd-bus.h>

#include "umc/ctl.h"

/* Strings from the daemon shown in a terminal are cut to this many bytes. */
#define TEXT_MAX 256

/*
 * Copy s for a terminal into buf and return buf: control characters (C0,
 * DEL, UTF-8 C1) become '?', the text is cut at TEXT_MAX.
 */
const char *umc_ctl_clean(const char *s, char buf[static TEXT_MAX]);
/* n bytes as "123 B" or "1.5 MiB". */
void umc_ctl_format_bytes(uint64_t n, char buf[static 16]);
/* Print o as one line and free it; -ENOMEM when building it failed somewhere (o NULL or !ok). */
int umc_ctl_json_emit(FILE *out, cJSON *o, bool ok);
/* Add k: v to o (NULL v as ""); false when cJSON ran out of memory. */
static inline bool json_str(cJSON *o, const char *k, const char *v) {
        return cJSON_AddStringToObject(o, k, v ? v : "") != NULL;
}

static inline bool json_num(cJSON *o, const char *k, double v) {
        return cJSON_AddNumberToObject(o, k, v) != NULL;
}
/* "reason":"0x0405", "reason_name":"ETH_DEFAULT_DENY", as docs/reasons.md shows a reason. */
bool umc_ctl_json_reason(cJSON *o, uint16_t reason);
/* Print why a call failed (e: the daemon's error, if any); return the exit code for it. */
int umc_ctl_call_failed(FILE *err, const char *what, const sd_bus_error *e, int r);

/*
 * install (install true) or monitor over bus: subscribe to the signals,
 * call Install (install), run the loop until it ends. Returns the exit
 * code (enum umc_ctl_exit).
 */
int umc_ctl_watch_run(const struct umc_ctl_args *a, sd_bus *bus, FILE *out, FILE *err,
                      bool install);
