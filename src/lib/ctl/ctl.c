/* SPDX-License-Identifier: MIT */
/*
 * umcctl's commands (ctl.h): argument parsing, the output helpers, and the
 * short commands (status, targets, inspect, cancel). install and monitor,
 * which follow the daemon's signals in a loop, are watch.c.
 */
#include "ctl-internal.h"

#include <cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "umc/busapi.h"
#include "umc/names.h"
#include "umc/reason.h"
#include "umc/util.h"
#include "umc/version.h"

static const char *const command_names[] = {
        [UMC_CTL_STATUS] = "status",   [UMC_CTL_TARGETS] = "targets",
        [UMC_CTL_INSPECT] = "inspect", [UMC_CTL_INSTALL] = "install",
        [UMC_CTL_CANCEL] = "cancel",   [UMC_CTL_MONITOR] = "monitor",
        [UMC_CTL_CHECK] = "check",     [UMC_CTL_UPDATE] = "update",
};

void umc_ctl_help(FILE *out) {
        fputs("Usage: umcctl [OPTIONS] COMMAND [ARGS]\n"
              "\n"
              "Control umcd, the OTA upgrade master, over D-Bus.\n"
              "\n"
              "Commands:\n"
              "  status                    operation, progress, targets and channels\n"
              "  targets                   configured targets and their versions\n"
              "  inspect PACKAGE           what a package would install, and its manifest hash\n"
              "  install PACKAGE           install a package and follow it to the end\n"
              "      --manifest-hash HEX   only if the manifest hashes to HEX (see inspect)\n"
              "      --target NAME         only to target NAME (repeatable)\n"
              "  cancel                    cancel the running installation\n"
              "  monitor                   print progress, rotations and alarms until interrupted\n"
              "  check                     ask the cloud for an update now and show the offer\n"
              "  update                    check, ask for consent, download and install it\n"
              "      --yes                 consent without asking\n"
              "\n"
              "Options:\n"
              "      --bus system|session  the bus umcd is on (default: system)\n"
              "      --json                one JSON object per line\n"
              "  -h, --help                show this help\n"
              "      --version             show the version\n"
              "\n"
              "Exit status: 0 ok, 1 installation failed or raised an alarm, 2 usage error,\n"
              "3 umcd not reachable, 4 refused (busy, denied, bad package, nothing to\n"
              "cancel), 130 interrupted while waiting. See umcctl(1).\n",
              out);
}

/* ---- arguments ----------------------------------------------------------------- */

static int usage_error(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(FILE *err, const char *fmt, ...) {
        va_list ap;

        fputs("umcctl: ", err);
        va_start(ap, fmt);
        vfprintf(err, fmt, ap);
        va_end(ap);
        fputs("\nTry 'umcctl --help'.\n", err);
        return -EINVAL;
}

void umc_ctl_args_free(struct umc_ctl_args *a) {
        if (!a)
                return;
        free(a->package);
        for (size_t i = 0; i < a->n_targets; i++)
                free(a->targets[i]);
        free(a->targets);
        *a = (struct umc_ctl_args){ .command = UMC_CTL_STATUS };
}

static int add_target(struct umc_ctl_args *a, const char *name, FILE *err) {
        char **t;

        if (!umc_name_target_valid(name))
                return usage_error(err, "'%s' is not a target name (1..%d of A-Z a-z 0-9 _ -)",
                                   name, UMC_NAME_TARGET_MAX);
        for (size_t i = 0; i < a->n_targets; i++)
                if (strcmp(a->targets[i], name) == 0)
                        return usage_error(err, "target '%s' given twice", name);
        if (a->n_targets >= UMC_DBUS_TARGETS_MAX)
                return usage_error(err, "more than %d targets", UMC_DBUS_TARGETS_MAX);
        t = realloc(a->targets, (a->n_targets + 2) * sizeof(*t));
        if (!t)
                return -ENOMEM;
        a->targets = t;
        t[a->n_targets] = strdup(name);
        if (!t[a->n_targets])
                return -ENOMEM;
        t[++a->n_targets] = NULL;
        return 0;
}

/* The daemon takes absolute paths only: a relative one is taken from here. */
static int absolute_package(const char *p, char **ret, FILE *err) {
        _cleanup_free_ char *cwd = NULL, *abs = NULL;

        if (p[0] == '/')
                abs = strdup(p);
        else {
                cwd = getcwd(NULL, 0);
                if (!cwd)
                        return usage_error(err, "cannot resolve '%s': %s", p, strerror(errno));
                if (asprintf(&abs, "%s/%s", cwd, p) < 0)
                        abs = NULL;
        }
        if (!abs)
                return -ENOMEM;
        if (!umc_name_path_valid(abs))
                return usage_error(err, "the package path must be at most %d bytes, "
                                        "without control characters",
                                   UMC_DBUS_PATH_MAX);
        *ret = TAKE_PTR(abs);
        return 0;
}

static int parse_command(struct umc_ctl_args *a, int argc, char *argv[], FILE *err) {
        size_t want;
        int c;

        if (optind >= argc)
                return usage_error(err, "missing command");
        for (c = 0; c < (int)UMC_ELEMENTSOF(command_names); c++)
                if (strcmp(argv[optind], command_names[c]) == 0)
                        break;
        if (c == (int)UMC_ELEMENTSOF(command_names))
                return usage_error(err, "unknown command '%s'", argv[optind]);
        a->command = (enum umc_ctl_command)c;
        want = a->command == UMC_CTL_INSPECT || a->command == UMC_CTL_INSTALL ? 1 : 0;
        if ((size_t)(argc - optind - 1) != want)
                return usage_error(err, "%s takes %s", command_names[c],
                                   want ? "one argument, PACKAGE" : "no argument");
        if (a->command != UMC_CTL_INSTALL && (a->manifest_hash[0] || a->n_targets > 0))
                return usage_error(err, "--manifest-hash and --target go with install only");
        if (a->command != UMC_CTL_UPDATE && a->yes)
                return usage_error(err, "--yes goes with update only");
        if (want)
                return absolute_package(argv[optind + 1], &a->package, err);
        return 0;
}

int umc_ctl_parse_args(int argc, char *argv[], struct umc_ctl_args *ret, FILE *err) {
        enum { ARG_BUS = 0x100, ARG_JSON, ARG_VERSION, ARG_HASH, ARG_TARGET, ARG_YES };
        static const struct option options[] = {
                { "bus", required_argument, NULL, ARG_BUS },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "manifest-hash", required_argument, NULL, ARG_HASH },
                { "target", required_argument, NULL, ARG_TARGET },
                { "yes", no_argument, NULL, ARG_YES },
                {},
        };
        _cleanup_(umc_ctl_args_free) struct umc_ctl_args a = { .command = UMC_CTL_STATUS };
        bool help = false, version = false;
        uint8_t hash[UMC_HASH_LEN];
        int c, r;

        /* 0, not 1: GNU getopt then starts afresh, so parsing twice works. */
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_BUS:
                        if (strcmp(optarg, "system") == 0)
                                a.session_bus = false;
                        else if (strcmp(optarg, "session") == 0)
                                a.session_bus = true;
                        else
                                return usage_error(err, "--bus takes system or session, not '%s'",
                                                   optarg);
                        break;
                case ARG_JSON:
                        a.json = true;
                        break;
                case 'h':
                        help = true;
                        break;
                case ARG_VERSION:
                        version = true;
                        break;
                case ARG_HASH:
                        if (a.manifest_hash[0])
                                return usage_error(err, "--manifest-hash given twice");
                        if (umc_hex_decode(optarg, strnlen(optarg, sizeof(a.manifest_hash)), hash,
                                           sizeof(hash)) < 0)
                                return usage_error(err, "--manifest-hash takes %d hex digits",
                                                   2 * UMC_HASH_LEN);
                        umc_hex_encode(hash, sizeof(hash), a.manifest_hash);
                        break;
                case ARG_TARGET:
                        r = add_target(&a, optarg, err);
                        if (r < 0)
                                return r;
                        break;
                case ARG_YES:
                        a.yes = true;
                        break;
                default:
                        return usage_error(err, "unknown option or missing argument: '%s'",
                                           argv[optind - 1]);
                }
        }
        if (help || version)
                a.command = help ? UMC_CTL_HELP : UMC_CTL_VERSION;
        else {
                r = parse_command(&a, argc, argv, err);
                if (r < 0)
                        return r;
        }
        *ret = a;
        a = (struct umc_ctl_args){ .command = UMC_CTL_STATUS };
        return 0;
}

int umc_ctl_connect(const struct umc_ctl_args *a, sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        r = a->session_bus ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        (void)sd_bus_set_description(bus, "umcctl");
        *ret = bus;
        return 0;
}

int umc_ctl_connect_failed(const struct umc_ctl_args *a, int r, FILE *err) {
        if (a->session_bus && (r == -ENOMEDIUM || r == -ENOENT || r == -ECONNREFUSED))
                /* sd-bus says ENOMEDIUM ("No medium found") when it has no address at all. */
                fprintf(err, "umcctl: no session bus to connect to (%s): umcd is on the system bus "
                             "unless it was started with --bus session, so leave out --bus session\n",
                        r == -ENOMEDIUM ? "DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR are unset"
                                        : "nobody listens at its address");
        else if (!a->session_bus && (r == -ENOENT || r == -ECONNREFUSED))
                fprintf(err, "umcctl: the system bus is not running (%s): start dbus, or point "
                             "DBUS_SYSTEM_BUS_ADDRESS at the bus umcd is on\n", strerror(-r));
        else
                fprintf(err, "umcctl: cannot connect to the %s bus: %s\n",
                        a->session_bus ? "session" : "system", strerror(-r));
        return UMC_CTL_EXIT_UNREACHABLE;
}

/* ---- output helpers ------------------------------------------------------------ */

/*
 * Copy s for a terminal: control characters (C0, DEL and the UTF-8 form of
 * C1, which some terminals obey as escapes) become '?', and the text is cut
 * at TEXT_MAX. Target names, versions and alarm texts come from the
 * daemon, and some of them from further away.
 */
const char *umc_ctl_clean(const char *s, char buf[static TEXT_MAX]) {
        size_t o = 0;

        for (size_t i = 0; s && s[i] && o < TEXT_MAX - 1; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c == 0xc2 && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f) {
                        buf[o++] = '?';
                        i++;
                } else
                        buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
        buf[o] = '\0';
        return buf;
}

void umc_ctl_format_bytes(uint64_t n, char buf[static 16]) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double)n;
        size_t u = 0;

        while (v >= 1024.0 && u + 1 < UMC_ELEMENTSOF(units)) {
                v /= 1024.0;
                u++;
        }
        if (u == 0)
                snprintf(buf, 16, "%" PRIu64 " B", n);
        else
                snprintf(buf, 16, "%.1f %s", v, units[u]);
}

/* Print o as one line and free it; -ENOMEM when building it failed somewhere (o NULL or !ok). */
int umc_ctl_json_emit(FILE *out, cJSON *o, bool ok) {
        char *s = NULL;

        if (o && ok)
                s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!s)
                return -ENOMEM;
        fprintf(out, "%s\n", s);
        cJSON_free(s);
        fflush(out);
        return 0;
}

/* A reason code as docs/reasons.md shows it: "reason":"0x0405", "reason_name":"ETH_DEFAULT_DENY". */
bool umc_ctl_json_reason(cJSON *o, uint16_t reason) {
        const char *name = umc_reason_name(reason);
        char hex[8];

        (void)snprintf(hex, sizeof(hex), "0x%04x", reason);
        return json_str(o, "reason", hex) && json_str(o, "reason_name", name ? name : "UNKNOWN");
}

/* ---- errors -------------------------------------------------------------------- */

/* Print why a call failed and return the exit code for it. */
int umc_ctl_call_failed(FILE *err, const char *what, const sd_bus_error *e, int r) {
        char buf[TEXT_MAX];

        if (e && sd_bus_error_is_set(e))
                fprintf(err, "umcctl: %s: %s\n", what,
                        umc_ctl_clean(e->message ? e->message : e->name, buf));
        else
                fprintf(err, "umcctl: %s: %s\n", what, strerror(-r));

        if (e && sd_bus_error_has_names(e, UMC_DBUS_ERROR_BUSY, UMC_DBUS_ERROR_BAD_PACKAGE,
                                        UMC_DBUS_ERROR_NOT_RUNNING, UMC_DBUS_ERROR_NO_CLOUD,
                                        UMC_DBUS_ERROR_NOT_OFFERED,
                                        SD_BUS_ERROR_ACCESS_DENIED, SD_BUS_ERROR_AUTH_FAILED,
                                        SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
                return UMC_CTL_EXIT_REFUSED;
        if (e && sd_bus_error_has_name(e, SD_BUS_ERROR_INVALID_ARGS))
                return UMC_CTL_EXIT_USAGE;
        if (e && sd_bus_error_is_set(e) &&
            !sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                    SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT,
                                    SD_BUS_ERROR_DISCONNECTED, SD_BUS_ERROR_NO_SERVER,
                                    SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE,
                                    SD_BUS_ERROR_UNKNOWN_METHOD, SD_BUS_ERROR_UNKNOWN_PROPERTY))
                return UMC_CTL_EXIT_FAILED;
        /* No umcd on the bus, an older one, or the connection went away. */
        return UMC_CTL_EXIT_UNREACHABLE;
}

static int bad_reply(FILE *err, const char *what, int r) {
        fprintf(err, "umcctl: %s: unexpected answer from umcd: %s\n", what, strerror(-r));
        return UMC_CTL_EXIT_UNREACHABLE;
}

/* ---- status -------------------------------------------------------------------- */

struct row {
        const char *name, *phase, *suite, *load_class;
        uint32_t percent;
        uint64_t done, total, rate;
        uint16_t key_id;
        double load;
};

struct status {
        const char *version, *operation, *last_error;
        uint32_t progress;
        struct row rows[UMC_DBUS_TARGETS_MAX];
        size_t n_rows;
};

static struct row *row_get(struct status *s, const char *name) {
        for (size_t i = 0; i < s->n_rows; i++)
                if (strcmp(s->rows[i].name, name) == 0)
                        return &s->rows[i];
        if (s->n_rows >= UMC_ELEMENTSOF(s->rows))
                return NULL;
        s->rows[s->n_rows] = (struct row){ .name = name, .phase = "", .suite = "none",
                                           .load_class = "" };
        return &s->rows[s->n_rows++];
}

/* A property's variant holding an array of rows: enter both, leave both. */
static int enter_row_array(sd_bus_message *m, const char *variant_sig, const char *row_sig) {
        int r = sd_bus_message_enter_container(m, 'v', variant_sig);

        return r < 0 ? r : sd_bus_message_enter_container(m, 'a', row_sig);
}

static int leave_row_array(sd_bus_message *m) {
        int r = sd_bus_message_exit_container(m);

        return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int read_targets_property(sd_bus_message *m, struct status *s) {
        struct umc_busapi_target t;
        int r;

        r = enter_row_array(m, "a" UMC_BUSAPI_TARGET_SIG, UMC_BUSAPI_TARGET_SIG);
        if (r < 0)
                return r;
        while ((r = umc_busapi_read_target(m, &t)) > 0) {
                struct row *w = row_get(s, t.name);

                if (!w)
                        return -E2BIG;
                w->percent = t.percent;
                w->done = t.done;
                w->total = t.total;
                w->rate = t.rate;
                w->phase = t.phase;
        }
        return r < 0 ? r : leave_row_array(m);
}

static int read_channels_property(sd_bus_message *m, struct status *s) {
        struct umc_busapi_channel c;
        int r;

        r = enter_row_array(m, "a" UMC_BUSAPI_CHANNEL_SIG, UMC_BUSAPI_CHANNEL_SIG);
        if (r < 0)
                return r;
        while ((r = umc_busapi_read_channel(m, &c)) > 0) {
                struct row *w = row_get(s, c.name);

                if (!w)
                        return -E2BIG;
                w->suite = c.suite;
                w->key_id = c.key_id;
                w->load = c.load;
                w->load_class = c.load_class;
        }
        return r < 0 ? r : leave_row_array(m);
}

/* Fill s from a GetAll reply; strings point into m. Unknown properties are skipped. */
static int read_status(sd_bus_message *m, struct status *s) {
        const char *name;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                if (strcmp(name, "Version") == 0)
                        r = sd_bus_message_read(m, "v", "s", &s->version);
                else if (strcmp(name, "Operation") == 0)
                        r = sd_bus_message_read(m, "v", "s", &s->operation);
                else if (strcmp(name, "LastError") == 0)
                        r = sd_bus_message_read(m, "v", "s", &s->last_error);
                else if (strcmp(name, "Progress") == 0)
                        r = sd_bus_message_read(m, "v", "u", &s->progress);
                else if (strcmp(name, "Targets") == 0)
                        r = read_targets_property(m, s);
                else if (strcmp(name, "Channels") == 0)
                        r = read_channels_property(m, s);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int print_status_json(FILE *out, const struct status *s) {
        cJSON *o = cJSON_CreateObject(), *arr = NULL;
        bool ok = o != NULL;

        ok = ok && json_str(o, "version", s->version) && json_str(o, "operation", s->operation) &&
             json_num(o, "progress", s->progress) && json_str(o, "last_error", s->last_error);
        if (ok)
                ok = (arr = cJSON_AddArrayToObject(o, "targets")) != NULL;
        for (size_t i = 0; ok && i < s->n_rows; i++) {
                const struct row *w = &s->rows[i];
                cJSON *t = cJSON_CreateObject();

                ok = t && cJSON_AddItemToArray(arr, t);
                if (!ok) {
                        cJSON_Delete(t);
                        break;
                }
                ok = json_str(t, "name", w->name) && json_str(t, "phase", w->phase) &&
                     json_num(t, "percent", w->percent) && json_num(t, "bytes_done", (double)w->done) &&
                     json_num(t, "bytes_total", (double)w->total) &&
                     json_num(t, "rate", (double)w->rate) &&
                     json_str(t, "suite", w->suite) && json_num(t, "key_id", w->key_id) &&
                     json_num(t, "load_percent", w->load) && json_str(t, "load_class", w->load_class);
        }
        return umc_ctl_json_emit(out, o, ok);
}

static void print_status_text(FILE *out, const struct status *s) {
        char b1[TEXT_MAX], b2[TEXT_MAX], b3[TEXT_MAX], b4[TEXT_MAX];

        fprintf(out, "Version:    %s\n", umc_ctl_clean(s->version, b1));
        fprintf(out, "Operation:  %s\n", umc_ctl_clean(s->operation, b1));
        /* Idle, Progress is the last installation's: say so, so 100 % does not look stuck. */
        fprintf(out, "Progress:   %" PRIu32 "%%%s\n", s->progress,
                s->operation && strcmp(s->operation, "idle") == 0 && s->progress > 0
                        ? " (last installation)" : "");
        fprintf(out, "Last error: %s\n",
                s->last_error && *s->last_error ? umc_ctl_clean(s->last_error, b1) : "none");
        if (s->n_rows == 0) {
                fprintf(out, "\nNo targets configured.\n");
                return;
        }
        fprintf(out, "\n%-16s %-15s %4s %10s %10s  %-18s %5s  %s\n", "TARGET", "PHASE", "DONE",
                "BYTES", "RATE", "SUITE", "KEY", "LOAD");
        for (size_t i = 0; i < s->n_rows; i++) {
                const struct row *w = &s->rows[i];
                char bytes[16], rate[16];

                umc_ctl_format_bytes(w->done, bytes);
                umc_ctl_format_bytes(w->rate, rate);
                fprintf(out, "%-16s %-15s %3" PRIu32 "%% %10s %8s/s  %-18s %5u  %.1f%% %s\n",
                        umc_ctl_clean(w->name, b1), umc_ctl_clean(w->phase, b2), w->percent, bytes,
                        rate, umc_ctl_clean(w->suite, b3), w->key_id, w->load,
                        umc_ctl_clean(w->load_class, b4));
        }
}

static int print_slots(const struct umc_ctl_args *a, sd_bus *bus, FILE *out, FILE *err);

static int cmd_status(const struct umc_ctl_args *a, sd_bus *bus, FILE *out, FILE *err) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ struct status *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return umc_ctl_call_failed(err, "status", NULL, -ENOMEM);
        r = sd_bus_call_method(bus, UMC_DBUS_NAME, UMC_DBUS_PATH, "org.freedesktop.DBus.Properties",
                               "GetAll", &error, &reply, "s", UMC_DBUS_INTERFACE);
        if (r < 0)
                return umc_ctl_call_failed(err, "Failed to read the status", &error, r);
        r = read_status(reply, s);
        if (r < 0)
                return bad_reply(err, "status", r);
        if (a->json) {
                r = print_status_json(out, s);
                if (r < 0)
                        return umc_ctl_call_failed(err, "status", NULL, r);
                return UMC_CTL_EXIT_OK;
        }
        print_status_text(out, s);
        r = s->n_rows > 0 ? print_slots(a, bus, out, err) : 0;
        return r != 0 ? r : UMC_CTL_EXIT_OK;
}

/* ---- slots (ListSlots) ------------------------------------------------------------ */

struct slots_row {
        const char *name, *source, *active, *va, *vb, *prev, *vp;
        int reported;
        uint64_t done, total, at;
        uint32_t age;
};

static int read_slots_row(sd_bus_message *reply, struct slots_row *w) {
        return sd_bus_message_read(reply, "(sbssssssttut)", &w->name, &w->reported, &w->source,
                                   &w->active, &w->va, &w->vb, &w->prev, &w->vp, &w->done,
                                   &w->total, &w->age, &w->at);
}

/* "a: 1.0.0 (active)": one slot line of the overview. */
static void print_slot_line(FILE *out, const struct slots_row *w, const char *slot,
                            const char *version) {
        char b[TEXT_MAX];
        const char *mark = strcmp(w->active, slot) == 0 ? " (active)"
                           : strcmp(w->prev, slot) == 0 ? " (rollback)"
                                                        : "";

        fprintf(out, "  slot %s: %s%s\n", slot, *version ? umc_ctl_clean(version, b) : "empty",
                mark);
}

static void print_slots_text(FILE *out, const struct slots_row *w) {
        char b1[TEXT_MAX], b2[TEXT_MAX], when[32] = "?";
        time_t t = (time_t)(w->at / USEC_PER_SEC);
        struct tm tm;

        if (!w->reported) {
                fprintf(out,
                        "%s: slots not reported yet (the agent tells umcd at its next "
                        "delivery)\n",
                        umc_ctl_clean(w->name, b1));
                return;
        }
        if (localtime_r(&t, &tm))
                (void)strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(out, "%s: %s, reported %s\n", umc_ctl_clean(w->name, b1),
                strcmp(w->source, "gateway") == 0 ? "the gateway's store for this ECU" : "slots",
                when);
        print_slot_line(out, w, "a", w->va);
        print_slot_line(out, w, "b", w->vb);
        if (*w->vp)
                fprintf(out,
                        "  partial: %s, %" PRIu64 " of %" PRIu64 " bytes kept for resume, "
                        "last checkpoint %" PRIu32 " s ago\n",
                        umc_ctl_clean(w->vp, b2), w->done, w->total, w->age);
}

static int print_slots_json(FILE *out, const struct slots_row *w) {
        cJSON *o = cJSON_CreateObject(), *sl = NULL;
        bool ok = o && json_str(o, "target", w->name) &&
                  (sl = cJSON_AddObjectToObject(o, "slots")) != NULL &&
                  cJSON_AddBoolToObject(sl, "reported", w->reported) &&
                  json_str(sl, "source", w->source) && json_str(sl, "active", w->active) &&
                  json_str(sl, "a", w->va) && json_str(sl, "b", w->vb) &&
                  json_str(sl, "rollback", w->prev) && json_str(sl, "partial_version", w->vp) &&
                  json_num(sl, "partial_bytes_done", (double)w->done) &&
                  json_num(sl, "partial_bytes_total", (double)w->total) &&
                  json_num(sl, "partial_age_sec", w->age) &&
                  json_num(sl, "reported_usec", (double)w->at);

        return umc_ctl_json_emit(out, o, ok);
}

/*
 * What each target's agent reported of its slots, after the target table;
 * in JSON one {"target", "slots"} object per target. A umcd without
 * ListSlots (older) shows none, which is no error. Returns 0 or an exit
 * status.
 */
static int print_slots(const struct umc_ctl_args *a, sd_bus *bus, FILE *out, FILE *err) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct slots_row w;
        bool first = true;
        int r;

        r = sd_bus_call_method(bus, UMC_DBUS_NAME, UMC_DBUS_PATH, UMC_DBUS_INTERFACE, "ListSlots",
                               &error, &reply, NULL);
        if (r < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD))
                return 0;
        if (r < 0)
                return umc_ctl_call_failed(err, "Failed to list the slots", &error, r);
        r = sd_bus_message_enter_container(reply, 'a', "(sbssssssttut)");
        while (r >= 0 && (r = read_slots_row(reply, &w)) > 0) {
                if (!a->json && first)
                        fprintf(out, "\n");
                first = false;
                if (a->json)
                        r = print_slots_json(out, &w);
                else
                        print_slots_text(out, &w);
        }
        if (r < 0)
                return bad_reply(err, "slots", r);
        return 0;
}

/* ---- targets ------------------------------------------------------------------- */

static int print_target(const struct umc_ctl_args *a, FILE *out, const char *name, uint32_t ecu,
                        const char *channel, const char *address, const char *version,
                        const char *phase, uint32_t pct, uint64_t done, uint64_t total,
                        uint64_t rate) {
        char b1[TEXT_MAX], b2[TEXT_MAX], b3[TEXT_MAX], b4[TEXT_MAX], b5[TEXT_MAX];

        if (a->json) {
                cJSON *o = cJSON_CreateObject();
                bool ok = o && json_str(o, "name", name) && json_num(o, "ecu_id", ecu) &&
                          json_str(o, "channel", channel) && json_str(o, "address", address) &&
                          json_str(o, "version", version) && json_str(o, "phase", phase) &&
                          json_num(o, "percent", pct) && json_num(o, "bytes_done", (double)done) &&
                          json_num(o, "bytes_total", (double)total) &&
                          json_num(o, "rate", (double)rate);

                return umc_ctl_json_emit(out, o, ok);
        }
        fprintf(out, "%-16s 0x%08" PRIx32 " %-7s %-22s %-16s %-15s %3" PRIu32 "%%\n",
                umc_ctl_clean(name, b1), ecu, umc_ctl_clean(channel, b2),
                umc_ctl_clean(address, b3), *version ? umc_ctl_clean(version, b4) : "-",
                umc_ctl_clean(phase, b5), pct);
        return 0;
}

static int cmd_targets(const struct umc_ctl_args *a, sd_bus *bus, FILE *out, FILE *err) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *name, *channel, *address, *version, *phase;
        uint64_t done, total, rate;
        uint32_t ecu, pct;
        size_t n = 0;
        int r;

        r = sd_bus_call_method(bus, UMC_DBUS_NAME, UMC_DBUS_PATH, UMC_DBUS_INTERFACE, "ListTargets",
                               &error, &reply, NULL);
        if (r < 0)
                return umc_ctl_call_failed(err, "Failed to list the targets", &error, r);
        r = sd_bus_message_enter_container(reply, 'a', "(sussssuttt)");
        if (r < 0)
                return bad_reply(err, "targets", r);
        if (!a->json)
                fprintf(out, "%-16s %-10s %-7s %-22s %-16s %-15s %4s\n", "TARGET", "ECU-ID",
                        "CHANNEL", "ADDRESS", "VERSION", "PHASE", "DONE");
        while ((r = sd_bus_message_read(reply, "(sussssuttt)", &name, &ecu, &channel, &address,
                                        &version, &phase, &pct, &done, &total, &rate)) > 0) {
                r = print_target(a, out, name, ecu, channel, address, version, phase, pct, done,
                                 total, rate);
                if (r < 0)
                        return umc_ctl_call_failed(err, "targets", NULL, r);
                n++;
        }
        if (r < 0)
                return bad_reply(err, "targets", r);
        if (n == 0 && !a->json)
                fprintf(out, "No targets configured.\n");
        r = n > 0 ? print_slots(a, bus, out, err) : 0;
        return r != 0 ? r : UMC_CTL_EXIT_OK;
}

/* ---- inspect ------------------------------------------------------------------- */

static int cmd_inspect(const struct umc_ctl_args *a, sd_bus *bus, FILE *out, FILE *err) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *name, *hash, *target, *version, *file;
        char b1[TEXT_MAX], b2[TEXT_MAX], b3[TEXT_MAX];
        cJSON *o = NULL, *arr = NULL;
        bool ok = true;
        uint64_t size;
        int r;

        r = sd_bus_call_method(bus, UMC_DBUS_NAME, UMC_DBUS_PATH, UMC_DBUS_INTERFACE,
                               "InspectPackage", &error, &reply, "sa{sv}", a->package, 0);
        if (r < 0)
                return umc_ctl_call_failed(err, "Failed to inspect the package", &error, r);
        r = sd_bus_message_read(reply, "ss", &name, &hash);
        if (r >= 0)
                r = sd_bus_message_enter_container(reply, 'a', "(ssst)");
        if (r < 0)
                return bad_reply(err, "inspect", r);
        if (a->json) {
                o = cJSON_CreateObject();
                ok = o && json_str(o, "name", name) && json_str(o, "manifest_hash", hash) &&
                     (arr = cJSON_AddArrayToObject(o, "images")) != NULL;
        } else
                fprintf(out, "Package:       %s\nManifest hash: %s\n\n%-16s %-16s %-24s %12s\n",
                        umc_ctl_clean(name, b1), umc_ctl_clean(hash, b2), "TARGET", "VERSION",
                        "FILE", "SIZE");
        while ((r = sd_bus_message_read(reply, "(ssst)", &target, &version, &file, &size)) > 0) {
                if (a->json) {
                        cJSON *img = cJSON_CreateObject();

                        ok = ok && img && cJSON_AddItemToArray(arr, img);
                        if (!ok) {
                                cJSON_Delete(img);
                                break;
                        }
                        ok = json_str(img, "target", target) && json_str(img, "version", version) &&
                             json_str(img, "file", file) && json_num(img, "size", (double)size);
                } else
                        fprintf(out, "%-16s %-16s %-24s %12" PRIu64 "\n", umc_ctl_clean(target, b1),
                                umc_ctl_clean(version, b2), umc_ctl_clean(file, b3), size);
        }
        if (r < 0) {
                cJSON_Delete(o);
                return bad_reply(err, "inspect", r);
        }
        if (a->json && umc_ctl_json_emit(out, o, ok) < 0)
                return umc_ctl_call_failed(err, "inspect", NULL, -ENOMEM);
        return UMC_CTL_EXIT_OK;
}

/* ---- cancel -------------------------------------------------------------------- */

static int cmd_cancel(const struct umc_ctl_args *a, sd_bus *bus, FILE *out, FILE *err) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, UMC_DBUS_NAME, UMC_DBUS_PATH, UMC_DBUS_INTERFACE, "Cancel",
                               &error, NULL, NULL);
        if (r < 0)
                return umc_ctl_call_failed(err, "Failed to cancel", &error, r);
        if (a->json) {
                cJSON *o = cJSON_CreateObject();

                if (umc_ctl_json_emit(out, o, o && json_str(o, "event", "cancel-requested")) < 0)
                        return umc_ctl_call_failed(err, "cancel", NULL, -ENOMEM);
        } else
                fprintf(out, "Cancellation requested; targets already done stay done.\n");
        return UMC_CTL_EXIT_OK;
}

int umc_ctl_run(const struct umc_ctl_args *a, sd_bus *bus, FILE *out, FILE *err) {
        switch (a->command) {
        case UMC_CTL_STATUS:
                return cmd_status(a, bus, out, err);
        case UMC_CTL_TARGETS:
                return cmd_targets(a, bus, out, err);
        case UMC_CTL_INSPECT:
                return cmd_inspect(a, bus, out, err);
        case UMC_CTL_INSTALL:
                return umc_ctl_watch_run(a, bus, out, err, true);
        case UMC_CTL_CANCEL:
                return cmd_cancel(a, bus, out, err);
        case UMC_CTL_MONITOR:
                return umc_ctl_watch_run(a, bus, out, err, false);
        case UMC_CTL_CHECK:
                return umc_ctl_cloud_check(a, bus, out, err);
        case UMC_CTL_UPDATE:
                return umc_ctl_cloud_update(a, bus, stdin, out, err);
        case UMC_CTL_HELP:
                umc_ctl_help(out);
                return UMC_CTL_EXIT_OK;
        case UMC_CTL_VERSION:
                fprintf(out, "umcctl %s\n", UMC_VERSION);
                return UMC_CTL_EXIT_OK;
        }
        return UMC_CTL_EXIT_USAGE;
}
