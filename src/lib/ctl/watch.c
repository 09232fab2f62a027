/* SPDX-License-Identifier: MIT */
/*
 * umcctl install and monitor (ctl.h): subscribe to io.umc.Manager1's
 * signals, start the installation (install), and follow Progress,
 * Rotation, Alarm and Completed in an sd-event loop of our own, as a
 * redrawn TTY line, one text line per step, or one JSON object per event,
 * until the installation ends, umcd leaves the bus or SIGINT/SIGTERM.
 */
#include "ctl-internal.h"

#include <cJSON.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "umc/busapi.h"
#include "umc/meter.h"
#include "umc/names.h"
#include "umc/reason.h"
#include "umc/util.h"

/* A TTY progress line is redrawn at most this often, unless its phase changes. */
#define REDRAW_USEC (100 * USEC_PER_MSEC)
#define BAR_WIDTH 24

/* Seconds as m:ss or h:mm:ss; "--:--" for UMC_METER_ETA_UNKNOWN. */
static void format_eta_s(uint64_t s, char buf[static 16]) {
        if (s == UMC_METER_ETA_UNKNOWN) {
                snprintf(buf, 16, "--:--");
                return;
        }
        if (s >= 100 * 3600)
                snprintf(buf, 16, ">99h");
        else if (s >= 3600)
                snprintf(buf, 16, "%u:%02u:%02u", (unsigned)(s / 3600), (unsigned)(s / 60 % 60),
                         (unsigned)(s % 60));
        else
                snprintf(buf, 16, "%u:%02u", (unsigned)(s / 60), (unsigned)(s % 60));
}

struct track {
        char name[UMC_NAME_TARGET_MAX + 1];
        char phase[16];
        char suite[24];
        uint64_t done, total, rate;
        uint32_t percent;
        uint16_t key_id;
        bool channel_asked;            /* Channels was fetched once it started transferring */
        struct umc_meter meter;        /* its acknowledged bytes over time: rate */
};

struct watch {
        const struct umc_ctl_args *args;
        sd_bus *bus;
        sd_event *event;
        FILE *out, *err;
        bool tty;
        bool install;                  /* install (else monitor) */
        bool started;                  /* Install answered: signals from now on are ours */
        bool alarm_seen;
        bool line_open;                /* a TTY progress line is on screen */
        char operation[16];            /* monitor: the Operation last announced, "" unknown */
        uint64_t last_draw_usec;
        struct umc_meter meter;        /* the whole installation: percent and ETA shown */
        char current[UMC_NAME_TARGET_MAX + 1];
        struct track tracks[UMC_DBUS_TARGETS_MAX];
        size_t n_tracks;
};

static struct track *track_get(struct watch *w, const char *name) {
        for (size_t i = 0; i < w->n_tracks; i++)
                if (strcmp(w->tracks[i].name, name) == 0)
                        return &w->tracks[i];
        if (w->n_tracks >= UMC_ELEMENTSOF(w->tracks) || !umc_name_target_valid(name))
                return NULL;
        w->tracks[w->n_tracks] = (struct track){ .suite = "none" };
        snprintf(w->tracks[w->n_tracks].name, sizeof(w->tracks[0].name), "%s", name);
        return &w->tracks[w->n_tracks++];
}

static void finish(struct watch *w, int code) {
        (void)sd_event_exit(w->event, code);
}

/* Take the TTY progress line off the screen before printing something else. */
static void clear_line(struct watch *w) {
        if (w->line_open) {
                fputs("\r\033[K", w->out);
                fflush(w->out);
                w->line_open = false;
        }
}

/* An event for --json: "event" and "time" first, the rest from the caller. */
static cJSON *json_event(const char *event) {
        cJSON *o = cJSON_CreateObject();

        if (o && (!json_str(o, "event", event) || !json_num(o, "time", (double)time(NULL)))) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}

static void text_event(struct watch *w, FILE *f, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void text_event(struct watch *w, FILE *f, const char *fmt, ...) {
        char stamp[16] = "";
        struct tm tm;
        time_t now = time(NULL);
        va_list ap;

        clear_line(w);
        if (!w->install && localtime_r(&now, &tm))
                strftime(stamp, sizeof(stamp), "%H:%M:%S ", &tm);
        fputs(stamp, f);
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        fputc('\n', f);
        fflush(f);
}

/*
 * Sum over the installation's targets: bytes done, total, and the rate of
 * those transferring, from their meters (acknowledged bytes over time, so
 * it shows from the first checkpoint); the daemon's own rate until then.
 */
static void totals(const struct watch *w, uint64_t *done, uint64_t *total, uint64_t *rate) {
        *done = *total = *rate = 0;
        for (size_t i = 0; i < w->n_tracks; i++) {
                const struct track *t = &w->tracks[i];
                uint64_t r;

                *done += t->done;
                *total += t->total;
                if (strcmp(t->phase, "transferring") != 0)
                        continue;
                r = umc_meter_rate(&t->meter);
                *rate += r ? r : t->rate;
        }
}

/* A session exists (suite and key ID mean something) only from authentication on. */
static bool has_session(const char *phase) {
        return strcmp(phase, "transferring") == 0 || strcmp(phase, "verifying") == 0 ||
               strcmp(phase, "done") == 0;
}

/* "aes-128-gcm key 3", or "no session" for a target not (or no longer) authenticated. */
static const char *session_text(const struct track *t, char buf[static TEXT_MAX]) {
        char b[TEXT_MAX];

        if (!has_session(t->phase) || t->key_id == 0)
                snprintf(buf, TEXT_MAX, "no session");
        else
                snprintf(buf, TEXT_MAX, "%s key %u", umc_ctl_clean(t->suite, b), t->key_id);
        return buf;
}

static void draw_progress(struct watch *w, const struct track *t, bool changed_phase) {
        uint64_t done, total, rate, now = umc_now_monotonic_usec();
        char bar[BAR_WIDTH + 1], rate_s[16], eta[16], b1[TEXT_MAX], b2[TEXT_MAX], b3[TEXT_MAX];
        uint32_t pct;
        size_t fill;

        totals(w, &done, &total, &rate);
        pct = umc_meter_percent(&w->meter, done, total, t->percent);
        umc_ctl_format_bytes(rate, rate_s);
        format_eta_s(umc_meter_eta(&w->meter, now, total > done ? total - done : 0, rate), eta);

        if (!w->tty) {
                /* ETA only when the totals are known (install asks for them, monitor does not). */
                text_event(w, w->out, "%s: %s %" PRIu32 "%%, %s/s%s%s, %s",
                           umc_ctl_clean(t->name, b1), umc_ctl_clean(t->phase, b2), t->percent,
                           rate_s, total > 0 ? ", ETA " : "", total > 0 ? eta : "",
                           session_text(t, b3));
                return;
        }
        if (!changed_phase && w->line_open && now - w->last_draw_usec < REDRAW_USEC)
                return;
        w->last_draw_usec = now;
        fill = (size_t)pct * BAR_WIDTH / 100;
        for (size_t i = 0; i < BAR_WIDTH; i++)
                bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        fprintf(w->out, "\r\033[K[%s] %3" PRIu32 "%%  %10s/s  ETA %-8s %s %s  %s", bar, pct, rate_s,
                eta, umc_ctl_clean(t->name, b1), umc_ctl_clean(t->phase, b2), session_text(t, b3));
        fflush(w->out);
        w->line_open = true;
}

static int on_channels_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct watch *w = userdata;
        struct umc_busapi_channel c;

        /* Only a nicety for the display: a failure leaves the suite unknown. */
        if (sd_bus_message_is_method_error(m, NULL) ||
            sd_bus_message_enter_container(m, 'v', "a" UMC_BUSAPI_CHANNEL_SIG) < 0 ||
            sd_bus_message_enter_container(m, 'a', UMC_BUSAPI_CHANNEL_SIG) < 0)
                return 0;
        while (umc_busapi_read_channel(m, &c) > 0) {
                struct track *t = track_get(w, c.name);

                /* A Rotation signal that came first is newer: keep it. */
                if (t && t->key_id == 0) {
                        snprintf(t->suite, sizeof(t->suite), "%s", c.suite);
                        t->key_id = c.key_id;
                }
        }
        return 0;
}

static void ask_channels(struct watch *w) {
        int r = sd_bus_call_method_async(w->bus, NULL, UMC_DBUS_NAME, UMC_DBUS_PATH,
                                         "org.freedesktop.DBus.Properties", "Get",
                                         on_channels_reply, w, "ss", UMC_DBUS_INTERFACE, "Channels");
        if (r < 0)
                fprintf(w->err, "umcctl: cannot ask for the channels: %s\n", strerror(-r));
}

static int on_progress(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct watch *w = userdata;
        const char *target, *phase;
        uint64_t bytes, rate;
        struct track *t;
        bool changed;
        uint32_t pct;
        int r;

        if (w->install && !w->started)
                return 0;
        r = sd_bus_message_read(m, "sutts", &target, &pct, &bytes, &rate, &phase);
        if (r < 0 || !(t = track_get(w, target)))
                return 0;
        changed = strcmp(t->phase, phase) != 0 || t->percent != pct || strcmp(w->current, target) != 0;
        if (strcmp(phase, "waiting") == 0 || strcmp(phase, "connecting") == 0) {
                /* A new attempt: what an earlier session used says nothing about this one. */
                snprintf(t->suite, sizeof(t->suite), "none");
                t->key_id = 0;
                t->channel_asked = false;
        }
        if (strcmp(phase, "transferring") == 0 && strcmp(t->phase, "transferring") != 0)
                umc_meter_start(&t->meter, bytes);
        else
                umc_meter_add(&t->meter, umc_now_monotonic_usec(), bytes);
        snprintf(t->phase, sizeof(t->phase), "%s", phase);
        t->percent = pct;
        t->done = bytes;
        t->rate = rate;
        if (t->total > 0 && t->done > t->total)
                t->done = t->total;
        snprintf(w->current, sizeof(w->current), "%s", target);
        if (!t->channel_asked && strcmp(phase, "transferring") == 0) {
                t->channel_asked = true;
                ask_channels(w);
        }
        if (w->args->json) {
                cJSON *o = json_event("progress");
                bool ok = o && json_str(o, "target", target) && json_num(o, "percent", pct) &&
                          json_num(o, "bytes", (double)bytes) && json_num(o, "rate", (double)rate) &&
                          json_str(o, "phase", phase);

                (void)umc_ctl_json_emit(w->out, o, ok);
                return 0;
        }
        /* Without a TTY, one line per step in phase or percent; a TTY redraws its bar. */
        if (w->tty || changed)
                draw_progress(w, t, changed);
        return 0;
}

static int on_alarm(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct watch *w = userdata;
        char b1[TEXT_MAX], b2[TEXT_MAX], rbuf[UMC_REASON_FORMAT_MAX];
        const char *target, *text;
        uint16_t reason;

        if (w->install && !w->started)
                return 0;
        if (sd_bus_message_read(m, "sqs", &target, &reason, &text) < 0)
                return 0;
        w->alarm_seen = true;
        if (w->args->json) {
                cJSON *o = json_event("alarm");
                bool ok = o && json_str(o, "target", target) && umc_ctl_json_reason(o, reason) &&
                          json_str(o, "text", text);

                (void)umc_ctl_json_emit(w->out, o, ok);
        } else
                text_event(w, w->install ? w->err : w->out, "ALARM %s: %s (reason %s)",
                           umc_ctl_clean(target, b1), umc_ctl_clean(text, b2),
                           umc_reason_format(reason, rbuf));
        return 0;
}

static int on_rotation(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct watch *w = userdata;
        const char *target, *suite, *cause;
        char b1[TEXT_MAX], b2[TEXT_MAX], b3[TEXT_MAX];
        struct track *t;
        uint16_t key_id;

        if (w->install && !w->started)
                return 0;
        if (sd_bus_message_read(m, "ssqs", &target, &suite, &key_id, &cause) < 0)
                return 0;
        t = track_get(w, target);
        if (t) {
                snprintf(t->suite, sizeof(t->suite), "%s", umc_ctl_clean(suite, b1));
                t->key_id = key_id;
        }
        if (w->args->json) {
                cJSON *o = json_event("rotation");
                bool ok = o && json_str(o, "target", target) && json_str(o, "suite", suite) &&
                          json_num(o, "key_id", key_id) && json_str(o, "cause", cause);

                (void)umc_ctl_json_emit(w->out, o, ok);
        } else if (!w->install || !w->tty)
                text_event(w, w->out, "%s: rotated to %s, key %u (%s)", umc_ctl_clean(target, b1),
                           umc_ctl_clean(suite, b2), key_id, umc_ctl_clean(cause, b3));
        else if (t)
                draw_progress(w, t, true);
        return 0;
}

static int on_completed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct watch *w = userdata;
        char b1[TEXT_MAX];
        const char *result;
        int success;

        if (w->install && !w->started)
                return 0;
        if (sd_bus_message_read(m, "bs", &success, &result) < 0)
                return 0;
        if (w->args->json) {
                cJSON *o = json_event("completed");
                bool ok = o && cJSON_AddBoolToObject(o, "success", success) &&
                          json_str(o, "result", result);

                (void)umc_ctl_json_emit(w->out, o, ok);
        } else
                text_event(w, success ? w->out : w->err, "%s: %s",
                           success ? "Installation completed" : "Installation failed",
                           umc_ctl_clean(result, b1));
        if (w->install)
                finish(w, success && !w->alarm_seen ? UMC_CTL_EXIT_OK : UMC_CTL_EXIT_FAILED);
        return 0;
}

/*
 * Whether umcd resumes this installation when it starts again: it keeps a
 * resume record per target once delivery began (after verification), not
 * before.
 */
static bool delivery_began(const struct watch *w) {
        for (size_t i = 0; i < w->n_tracks; i++)
                if (w->tracks[i].phase[0] && strcmp(w->tracks[i].phase, "waiting") != 0 &&
                    strcmp(w->tracks[i].phase, "idle") != 0)
                        return true;
        return false;
}

static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct watch *w = userdata;
        const char *name, *old_owner, *new_owner;
        bool resumes;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
            strcmp(name, UMC_DBUS_NAME) != 0)
                return 0;
        resumes = w->install && w->started && delivery_began(w);
        if (w->args->json) {
                cJSON *o = json_event(*new_owner ? "daemon-started" : "daemon-stopped");
                bool ok = o != NULL;

                if (ok && w->install && !*new_owner)
                        ok = cJSON_AddBoolToObject(o, "resumes_on_restart", resumes) != NULL;
                (void)umc_ctl_json_emit(w->out, o, ok);
        } else
                text_event(w, w->install ? w->err : w->out, "umcd %s the bus",
                           *new_owner ? "joined" : "left");
        if (w->install && !*new_owner) {
                if (!w->args->json && resumes)
                        fprintf(w->err, "umcctl: the installation is not lost: when umcd starts "
                                        "again it resumes by itself from each target's last "
                                        "checkpoint ('umcctl monitor' follows it)\n");
                else if (!w->args->json && w->started)
                        fprintf(w->err, "umcctl: umcd was still verifying the package, which it "
                                        "does not resume: install again once umcd is back\n");
                finish(w, UMC_CTL_EXIT_UNREACHABLE);
        }
        return 0;
}

/* monitor: an installation started (by anybody) when Operation leaves idle. */
static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct watch *w = userdata;
        const char *iface, *name, *op = NULL;

        if (sd_bus_message_read(m, "s", &iface) < 0 || strcmp(iface, UMC_DBUS_INTERFACE) != 0 ||
            sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
                return 0;
        while (!op && sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &name) < 0)
                        return 0;
                if (strcmp(name, "Operation") == 0) {
                        if (sd_bus_message_read(m, "v", "s", &op) < 0)
                                return 0;
                } else if (sd_bus_message_skip(m, "v") < 0 || sd_bus_message_exit_container(m) < 0)
                        return 0;
        }
        if (!op)
                return 0;
        /* Verification always comes first, but a throttled announcement may skip it. */
        if ((strcmp(op, "verifying") == 0 && strcmp(w->operation, "verifying") != 0) ||
            (strcmp(op, "installing") == 0 && strcmp(w->operation, "idle") == 0)) {
                if (w->args->json) {
                        cJSON *o = json_event("started");

                        (void)umc_ctl_json_emit(w->out, o, o && json_str(o, "operation", op));
                } else
                        text_event(w, w->out, "Installation started (%s)", op);
        }
        snprintf(w->operation, sizeof(w->operation), "%s", op);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct watch *w = userdata;

        clear_line(w);
        if (!w->install) {
                finish(w, UMC_CTL_EXIT_OK);
                return 0;
        }
        fprintf(w->err, "umcctl: interrupted; the installation goes on in umcd "
                        "('umcctl cancel' stops it)\n");
        finish(w, UMC_CTL_EXIT_INTERRUPTED);
        return 0;
}

static int on_targets_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct watch *w = userdata;
        const char *name, *channel, *address, *version, *phase;
        uint64_t done, total, rate;
        uint32_t ecu, pct;

        /* Totals make the ETA; without them it falls back to the target's percent. */
        if (sd_bus_message_is_method_error(m, NULL) ||
            sd_bus_message_enter_container(m, 'a', "(sussssuttt)") < 0)
                return 0;
        while (sd_bus_message_read(m, "(sussssuttt)", &name, &ecu, &channel, &address, &version,
                                   &phase, &pct, &done, &total, &rate) > 0) {
                struct track *t;

                /* Targets outside this installation stay idle. */
                if (strcmp(phase, "idle") == 0 || !(t = track_get(w, name)))
                        continue;
                t->total = total;
                if (t->done == 0)
                        t->done = done;
                if (!t->phase[0])
                        snprintf(t->phase, sizeof(t->phase), "%s", phase);
        }
        return 0;
}

static int on_install_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct watch *w = userdata;
        char b1[TEXT_MAX];
        int r;

        if (sd_bus_message_is_method_error(m, NULL)) {
                finish(w, umc_ctl_call_failed(w->err, "Failed to start the installation",
                                              sd_bus_message_get_error(m), -EIO));
                return 0;
        }
        w->started = true;
        if (w->args->json) {
                cJSON *o = json_event("started");

                (void)umc_ctl_json_emit(w->out, o, o && json_str(o, "package", w->args->package));
        } else
                text_event(w, w->out, "Installing %s", umc_ctl_clean(w->args->package, b1));
        r = sd_bus_call_method_async(w->bus, NULL, UMC_DBUS_NAME, UMC_DBUS_PATH, UMC_DBUS_INTERFACE,
                                     "ListTargets", on_targets_reply, w, NULL);
        if (r < 0)
                fprintf(w->err, "umcctl: cannot list the targets: %s\n", strerror(-r));
        return 0;
}

static int add_matches(struct watch *w) {
        static const struct {
                const char *member;
                sd_bus_message_handler_t handler;
        } signals[] = {
                { "Progress", on_progress },
                { "Alarm", on_alarm },
                { "Rotation", on_rotation },
                { "Completed", on_completed },
        };
        int r;

        for (size_t i = 0; i < UMC_ELEMENTSOF(signals); i++) {
                r = sd_bus_match_signal(w->bus, NULL, UMC_DBUS_NAME, UMC_DBUS_PATH,
                                        UMC_DBUS_INTERFACE, signals[i].member, signals[i].handler, w);
                if (r < 0)
                        return r;
        }
        if (!w->install) {
                r = sd_bus_match_signal(w->bus, NULL, UMC_DBUS_NAME, UMC_DBUS_PATH,
                                        "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                        on_properties_changed, w);
                if (r < 0)
                        return r;
        }
        return sd_bus_add_match(w->bus, NULL,
                                "type='signal',sender='org.freedesktop.DBus',"
                                "path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',"
                                "member='NameOwnerChanged',arg0='" UMC_DBUS_NAME "'",
                                on_owner_changed, w);
}

static int start_install(struct watch *w) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        const struct umc_ctl_args *a = w->args;
        int r;

        r = sd_bus_message_new_method_call(w->bus, &m, UMC_DBUS_NAME, UMC_DBUS_PATH,
                                           UMC_DBUS_INTERFACE, "Install");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", a->package);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        if (a->manifest_hash[0]) {
                r = sd_bus_message_append(m, "{sv}", "manifest-hash", "s", a->manifest_hash);
                if (r < 0)
                        return r;
        }
        if (a->n_targets > 0) {
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", "targets");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', "as");
                if (r >= 0)
                        r = sd_bus_message_append_strv(m, a->targets);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        /* No timeout: the answer comes once the daemon has checked and started. */
        return sd_bus_call_async(w->bus, NULL, m, on_install_reply, w, 0);
}

/*
 * install and monitor: subscribe to the signals first (so nothing between
 * the Install call and its answer is missed), then run the loop until
 * Completed, the daemon leaving (install) or SIGINT/SIGTERM.
 */
int umc_ctl_watch_run(const struct umc_ctl_args *a, sd_bus *bus, FILE *out, FILE *err,
                      bool install) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_free_ struct watch *w = calloc(1, sizeof(*w));
        sigset_t mask;
        int r, code;

        if (!w)
                return umc_ctl_call_failed(err, "Failed to start", NULL, -ENOMEM);
        *w = (struct watch){ .args = a, .bus = bus, .out = out, .err = err, .install = install,
                             .tty = isatty(fileno(out)) == 1 && !a->json };
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        r = sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ? -errno : 0;
        if (r >= 0)
                r = sd_event_new(&event);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, on_signal, w);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, on_signal, w);
        if (r >= 0)
                r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return umc_ctl_call_failed(err, "Failed to set up the event loop", NULL, r);
        w->event = event;

        r = add_matches(w);
        if (r < 0)
                return umc_ctl_call_failed(err, "Failed to subscribe to umcd's signals", NULL, r);
        if (install) {
                r = start_install(w);
                if (r < 0)
                        return umc_ctl_call_failed(err, "Failed to call Install", NULL, r);
        } else if (!a->json)
                text_event(w, out, "Monitoring umcd; Ctrl-C ends.");

        code = sd_event_loop(event);
        clear_line(w);
        (void)sd_bus_detach_event(bus);
        if (code < 0)
                return umc_ctl_call_failed(err, "Lost the bus", NULL, code);
        return code;
}
