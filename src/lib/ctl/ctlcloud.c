/* SPDX-License-Identifier: MIT */
/*
 * umcctl check and umcctl update: the cloud update over io.umc.Manager1
 * (docs/io.umc.Manager1.xml, dbusupdate.h). update follows the download
 * and the installation by reading UpdateState, DownloadProgress and
 * Progress every POLL_USEC until UpdateFinished arrives: a missed
 * PropertiesChanged cannot leave the bar behind.
 */
#include "ctl-internal.h"

#include <cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "umc/busapi.h"
#include "umc/reason.h"
#include "umc/util.h"

#define CHECK_TIMEOUT_USEC (15 * 60 * USEC_PER_SEC) /* the backend's retries, a slow manifest */
#define POLL_USEC (200 * USEC_PER_MSEC)
#define BAR_WIDTH 24
#define TARGETS_MAX 256

struct offer_row {
        const char *target, *current, *offered;
};

struct offer {
        int available;
        const char *version, *hash;
        struct offer_row rows[TARGETS_MAX];
        size_t n;
};

/*
 * As umc_ctl_call_failed(), but a package the cloud offered and umcd
 * refused (BadPackage: signature, expiry, rollback, ...) is an update that
 * failed (1), not a refused request (4): umcctl(1), check.
 */
static int failed(FILE *err, const char *what, const sd_bus_error *e, int r) {
        int code = umc_ctl_call_failed(err, what, e, r);

        if (e && sd_bus_error_has_name(e, UMC_DBUS_ERROR_BAD_PACKAGE))
                return UMC_CTL_EXIT_FAILED;
        return code;
}

static int read_offer(sd_bus_message *m, struct offer *o) {
        int r;

        r = sd_bus_message_read(m, "bss", &o->available, &o->version, &o->hash);
        if (r >= 0)
                r = sd_bus_message_enter_container(m, 'a', "(sss)");
        while (r >= 0 && o->n < TARGETS_MAX) {
                struct offer_row *w = &o->rows[o->n];

                r = sd_bus_message_read(m, "(sss)", &w->target, &w->current, &w->offered);
                if (r <= 0)
                        break;
                o->n++;
        }
        return r < 0 ? r : 0;
}

static void print_offer_json(FILE *out, const struct offer *o) {
        cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "targets");
        char *s;

        cJSON_AddStringToObject(j, "event", "check");
        cJSON_AddBoolToObject(j, "available", o->available);
        cJSON_AddStringToObject(j, "version", o->version);
        cJSON_AddStringToObject(j, "manifest_hash", o->hash);
        for (size_t i = 0; i < o->n; i++) {
                cJSON *t = cJSON_CreateObject();

                cJSON_AddStringToObject(t, "target", o->rows[i].target);
                cJSON_AddStringToObject(t, "current", o->rows[i].current);
                cJSON_AddStringToObject(t, "offered", o->rows[i].offered);
                cJSON_AddItemToArray(arr, t);
        }
        s = cJSON_PrintUnformatted(j);
        if (s)
                fprintf(out, "%s\n", s);
        free(s);
        cJSON_Delete(j);
}

static void print_offer(const struct umc_ctl_args *a, FILE *out, const struct offer *o) {
        char b1[TEXT_MAX], b2[TEXT_MAX], b3[TEXT_MAX];

        if (a->json) {
                print_offer_json(out, o);
                return;
        }
        if (!o->available) {
                fprintf(out, "No update.\n");
                return;
        }
        fprintf(out, "Update %s available (manifest SHA-256 %s):\n", umc_ctl_clean(o->version, b1),
                umc_ctl_clean(o->hash, b2));
        for (size_t i = 0; i < o->n; i++)
                fprintf(out, "  %-16s %s -> %s\n", umc_ctl_clean(o->rows[i].target, b1),
                        o->rows[i].current[0] ? umc_ctl_clean(o->rows[i].current, b2) : "(unknown)",
                        umc_ctl_clean(o->rows[i].offered, b3));
}

/* Call CheckForUpdates; *ret_reply holds the strings o points into. */
static int check(sd_bus *bus, struct offer *o, sd_bus_message **ret_reply, FILE *err) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &call, UMC_DBUS_NAME, UMC_DBUS_PATH,
                                           UMC_DBUS_INTERFACE, "CheckForUpdates");
        if (r >= 0)
                r = sd_bus_message_append(call, "a{sv}", 0);
        if (r < 0)
                return failed(err, "CheckForUpdates", NULL, r);
        r = sd_bus_call(bus, call, CHECK_TIMEOUT_USEC, &e, &reply);
        if (r < 0)
                return failed(err, "check for updates", &e, r);
        r = read_offer(reply, o);
        if (r < 0) {
                fprintf(err, "umcctl: check for updates: unexpected answer from umcd: %s\n",
                        strerror(-r));
                return UMC_CTL_EXIT_UNREACHABLE;
        }
        *ret_reply = TAKE_PTR(reply);
        return UMC_CTL_EXIT_OK;
}

int umc_ctl_cloud_check(const struct umc_ctl_args *a, sd_bus *bus, FILE *out, FILE *err) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct offer o = {};
        int rc = check(bus, &o, &reply, err);

        if (rc != UMC_CTL_EXIT_OK)
                return rc;
        print_offer(a, out, &o);
        return UMC_CTL_EXIT_OK;
}

/* ---- update: consent, then follow ---- */

static int consent(const struct umc_ctl_args *a, FILE *in, FILE *out, FILE *err) {
        char line[16];

        if (a->yes)
                return 0;
        if (!isatty(fileno(in))) {
                fprintf(err, "umcctl: no terminal to ask for consent: give --yes to install it\n");
                return -EINVAL;
        }
        fprintf(out, "Install it? [y/N] ");
        fflush(out);
        if (!fgets(line, sizeof(line), in) || (line[0] != 'y' && line[0] != 'Y')) {
                fprintf(out, "Not installed.\n");
                return -ECANCELED;
        }
        return 0;
}

struct follow {
        bool done, success;
        uint16_t reason;
        char message[TEXT_MAX];
        char shown[64];
};

static int on_finished(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct follow *f = userdata;
        const char *msg = "";
        int ok = 0;

        if (sd_bus_message_read(m, "bqs", &ok, &f->reason, &msg) < 0)
                return 0;
        f->done = true;
        f->success = ok;
        umc_ctl_clean(msg, f->message);
        return 0;
}

static void draw(const struct umc_ctl_args *a, FILE *out, struct follow *f, const char *state,
                 uint32_t pct) {
        char line[64], bar[BAR_WIDTH + 1];
        size_t fill = (size_t)(pct > 100 ? 100 : pct) * BAR_WIDTH / 100;

        /* Non-terminals get a line per 10 %, a terminal a redrawn bar. */
        (void)snprintf(line, sizeof(line), "%s %u", state, a->json || !isatty(fileno(out))
                                                                   ? pct / 10 * 10 : pct);
        if (strcmp(line, f->shown) == 0)
                return;
        memcpy(f->shown, line, sizeof(line));
        if (a->json) {
                fprintf(out, "{\"event\":\"%s\",\"percent\":%u}\n", state, pct);
                fflush(out);
                return;
        }
        memset(bar, '#', fill);
        memset(bar + fill, '.', BAR_WIDTH - fill);
        bar[BAR_WIDTH] = '\0';
        fprintf(out, isatty(fileno(out)) ? "\r%-12s [%s] %3u%%" : "%-12s [%s] %3u%%\n", state, bar,
                pct);
        fflush(out);
}

/* One look at the properties; -errno when umcd cannot be asked. */
static int poll_state(const struct umc_ctl_args *a, sd_bus *bus, FILE *out, struct follow *f) {
        _cleanup_free_ char *state = NULL;
        uint32_t pct = 0;
        int r;

        r = sd_bus_get_property_string(bus, UMC_DBUS_NAME, UMC_DBUS_PATH, UMC_DBUS_INTERFACE,
                                       "UpdateState", NULL, &state);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, UMC_DBUS_NAME, UMC_DBUS_PATH,
                                                UMC_DBUS_INTERFACE,
                                                strcmp(state, "installing") == 0
                                                        ? "Progress" : "DownloadProgress",
                                                NULL, 'u', &pct);
        if (r < 0)
                return r;
        if (strcmp(state, "downloading") == 0 || strcmp(state, "installing") == 0)
                draw(a, out, f, state, pct);
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* The reason as install and monitor give it (umcctl(1), REASON CODES). */
static void print_finished_json(FILE *out, FILE *err, const struct follow *f) {
        cJSON *o = cJSON_CreateObject();
        bool ok = o && json_str(o, "event", "finished") &&
                  cJSON_AddBoolToObject(o, "success", f->success) &&
                  umc_ctl_json_reason(o, f->reason) && json_str(o, "message", f->message);

        if (umc_ctl_json_emit(out, o, ok) < 0)
                fprintf(err, "umcctl: cannot print the finished event: %s\n", strerror(ENOMEM));
}

/*
 * The reason as the alarms show it, "0x0303 IMAGE_HASH_MISMATCH", unless
 * umcd's message already begins with it (a refused download does).
 */
static void print_failed(FILE *err, const struct follow *f) {
        char code[UMC_REASON_FORMAT_MAX];

        (void)umc_reason_format(f->reason, code);
        if (strncmp(f->message, code, strlen(code)) == 0)
                fprintf(err, "umcctl: update failed: %s\n", f->message);
        else
                fprintf(err, "umcctl: update failed: %s (reason %s)\n", f->message, code);
}

/* Process the bus until UpdateFinished, polling the state for the bar. */
static int follow(const struct umc_ctl_args *a, sd_bus *bus, struct follow *f, FILE *out,
                  FILE *err) {
        uint64_t next = 0;
        int r;

        while (!f->done) {
                r = sd_bus_process(bus, NULL);
                if (r > 0)
                        continue;
                if (r >= 0 && now_usec() >= next) {
                        r = poll_state(a, bus, out, f);
                        next = now_usec() + POLL_USEC;
                }
                if (r >= 0)
                        r = sd_bus_wait(bus, POLL_USEC);
                if (r < 0) {
                        fprintf(err, "\numcctl: lost umcd while following the update: %s\n",
                                strerror(-r));
                        return UMC_CTL_EXIT_UNREACHABLE;
                }
        }
        /* A fast phase may fall between two polls: a success completes both bars. */
        if (f->success && strncmp(f->shown, "installing", 10) != 0)
                draw(a, out, f, "downloading", 100);
        if (f->success)
                draw(a, out, f, "installing", 100);
        if (!a->json && isatty(fileno(out)))
                fputc('\n', out);
        if (a->json)
                print_finished_json(out, err, f);
        else if (f->success)
                fprintf(out, "Update installed: %s\n", f->message);
        else
                print_failed(err, f);
        return f->success ? UMC_CTL_EXIT_OK : UMC_CTL_EXIT_FAILED;
}

static int install_update(sd_bus *bus, const char *hash, FILE *err) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &call, UMC_DBUS_NAME, UMC_DBUS_PATH,
                                           UMC_DBUS_INTERFACE, "InstallUpdate");
        if (r >= 0)
                r = sd_bus_message_append(call, "sa{sv}", hash, 0);
        if (r >= 0)
                r = sd_bus_call(bus, call, 0, &e, NULL);
        if (r < 0)
                return failed(err, "install the update", &e, r);
        return UMC_CTL_EXIT_OK;
}

int umc_ctl_cloud_update(const struct umc_ctl_args *a, sd_bus *bus, FILE *in, FILE *out,
                         FILE *err) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        struct follow f = {};
        struct offer o = {};
        int rc, r;

        rc = check(bus, &o, &reply, err);
        if (rc != UMC_CTL_EXIT_OK)
                return rc;
        print_offer(a, out, &o);
        if (!o.available)
                return UMC_CTL_EXIT_OK;
        r = consent(a, in, out, err);
        if (r < 0)
                return r == -ECANCELED ? UMC_CTL_EXIT_OK : UMC_CTL_EXIT_USAGE;
        /* The match before the call: UpdateFinished cannot come first. */
        r = sd_bus_match_signal(bus, &slot, UMC_DBUS_NAME, UMC_DBUS_PATH, UMC_DBUS_INTERFACE,
                                "UpdateFinished", on_finished, &f);
        if (r < 0)
                return failed(err, "watch UpdateFinished", NULL, r);
        rc = install_update(bus, o.hash, err);
        if (rc != UMC_CTL_EXIT_OK)
                return rc;
        return follow(a, bus, &f, out, err);
}
