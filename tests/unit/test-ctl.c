/* SPDX-License-Identifier: MIT */
/*
 * umcctl's logic: argument parsing on its own, then whole commands run in
 * a forked child against a real manager exported on a private dbus-daemon
 * (this process serves it; update's cloud half is a stand-in), checking
 * output and exit codes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cJSON.h>
#include <stdio.h>

#include "bus-fixture.h"
#include "umc/busapi.h"
#include "umc/ctl.h"
#include "umc/reason.h"

#define OUT_MAX 16384

/* ---- parsing ------------------------------------------------------------------ */

/* Parse a NULL-terminated argument list; the message for errors goes to a scratch stream. */
static int parse(struct umc_ctl_args *ret, char *err_text, size_t err_size, ...) {
        char *argv[16];
        int argc = 0, r;
        FILE *err = fmemopen(err_text, err_size, "w");
        va_list ap;

        assert_non_null(err);
        va_start(ap, err_size);
        while ((argv[argc] = va_arg(ap, char *)) != NULL)
                assert_true(++argc < (int)UMC_ELEMENTSOF(argv));
        va_end(ap);
        r = umc_ctl_parse_args(argc, argv, ret, err);
        fclose(err);
        return r;
}

static void test_global_options_are_taken_before_and_after_the_command(void **state) {
        struct umc_ctl_args a;
        char err[256] = "";

        assert_int_equal(parse(&a, err, sizeof(err), "umcctl", "--json", "status", "--bus", "session", NULL), 0);
        assert_int_equal(a.command, UMC_CTL_STATUS);
        assert_true(a.json);
        assert_true(a.session_bus);
        assert_null(a.package);
        umc_ctl_args_free(&a);

        assert_int_equal(parse(&a, err, sizeof(err), "umcctl", "monitor", NULL), 0);
        assert_int_equal(a.command, UMC_CTL_MONITOR);
        assert_false(a.json);
        assert_false(a.session_bus);
        umc_ctl_args_free(&a);
}

static void test_relative_package_is_made_absolute(void **state) {
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        struct umc_ctl_args a;
        char err[256] = "", want[PATH_MAX + 16];

        assert_non_null(cwd);
        assert_int_equal(parse(&a, err, sizeof(err), "umcctl", "inspect", "pkg/x", NULL), 0);
        snprintf(want, sizeof(want), "%s/pkg/x", cwd);
        assert_string_equal(a.package, want);
        umc_ctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "umcctl", "inspect", "/abs/pkg", NULL), 0);
        assert_string_equal(a.package, "/abs/pkg");
        umc_ctl_args_free(&a);
}

static void test_install_collects_hash_and_targets(void **state) {
        struct umc_ctl_args a;
        char err[256] = "";

        assert_int_equal(parse(&a, err, sizeof(err), "umcctl", "install", "/p", "--target", "bcm",
                               "--manifest-hash",
                               "ABCDEF0000000000000000000000000000000000000000000000000000000001",
                               "--target", "gw-2", NULL),
                         0);
        assert_int_equal(a.command, UMC_CTL_INSTALL);
        /* Upper case is accepted and sent in the canonical lower case. */
        assert_string_equal(a.manifest_hash,
                            "abcdef0000000000000000000000000000000000000000000000000000000001");
        assert_int_equal(a.n_targets, 2);
        assert_string_equal(a.targets[0], "bcm");
        assert_string_equal(a.targets[1], "gw-2");
        assert_null(a.targets[2]);
        umc_ctl_args_free(&a);
}

static void test_update_takes_yes(void **state) {
        struct umc_ctl_args a;
        char err[256] = "";

        assert_int_equal(parse(&a, err, sizeof(err), "umcctl", "update", "--yes", NULL), 0);
        assert_int_equal(a.command, UMC_CTL_UPDATE);
        assert_true(a.yes);
        umc_ctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "umcctl", "check", NULL), 0);
        assert_int_equal(a.command, UMC_CTL_CHECK);
        assert_false(a.yes);
        umc_ctl_args_free(&a);
}

static void test_help_and_version_need_no_command(void **state) {
        struct umc_ctl_args a;
        char err[256] = "";

        assert_int_equal(parse(&a, err, sizeof(err), "umcctl", "-h", NULL), 0);
        assert_int_equal(a.command, UMC_CTL_HELP);
        umc_ctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "umcctl", "--version", NULL), 0);
        assert_int_equal(a.command, UMC_CTL_VERSION);
        umc_ctl_args_free(&a);
}

static void test_bad_command_lines_are_usage_errors(void **state) {
        static const char *const rows[][6] = {
                { "umcctl", NULL },
                { "umcctl", "frobnicate", NULL },
                { "umcctl", "install", NULL },
                { "umcctl", "status", "extra", NULL },
                { "umcctl", "--bus", "user", "status", NULL },
                { "umcctl", "--force", "status", NULL },
                { "umcctl", "install", "/p", "--manifest-hash", "abc", NULL },
                { "umcctl", "install", "/p", "--manifest-hash", "zz", NULL },
                { "umcctl", "install", "/p", "--target", "a/b", NULL },
                { "umcctl", "install", "/p", "--target", "", NULL },
                { "umcctl", "status", "--target", "bcm", NULL },
                { "umcctl", "install", "/p", "--target", NULL },
                { "umcctl", "check", "--yes", NULL },
                { "umcctl", "update", "extra", NULL },
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(rows); i++) {
                struct umc_ctl_args a = { .command = UMC_CTL_STATUS };
                char err[256] = "";
                char *argv[8];
                int argc = 0;
                FILE *f = fmemopen(err, sizeof(err), "w");

                while (rows[i][argc])
                        argv[argc] = (char *)rows[i][argc], argc++;
                argv[argc] = NULL;
                assert_int_equal(umc_ctl_parse_args(argc, argv, &a, f), -EINVAL);
                fclose(f);
                if (strncmp(err, "umcctl: ", 8) != 0)
                        fail_msg("row %zu: no message, got '%s'", i, err);
                /* Nothing was handed out. */
                assert_null(a.package);
                assert_null(a.targets);
        }
}

static void test_a_second_manifest_hash_is_refused(void **state) {
        struct umc_ctl_args a = { .command = UMC_CTL_STATUS };
        char err[256] = "";

        assert_int_equal(parse(&a, err, sizeof(err), "umcctl", "install", "/p", "--manifest-hash",
                               "0000000000000000000000000000000000000000000000000000000000000000",
                               "--manifest-hash",
                               "0000000000000000000000000000000000000000000000000000000000000000", NULL),
                         -EINVAL);
        assert_non_null(strstr(err, "twice"));
}

/* ---- commands against a daemon ------------------------------------------------ */

struct ctl_run {
        const char *address;
        const char *argv[12];
};

/* In a child: parse, connect to the private bus (as the session bus), run; exit with the code. */
static void child_ctl(const void *arg, int fd) {
        const struct ctl_run *c = arg;
        struct umc_ctl_args a = { .command = UMC_CTL_STATUS };
        sd_bus *bus = NULL;
        char *argv[12];
        int argc = 0, code;
        FILE *out = fdopen(fd, "w");

        if (!out)
                _exit(120);
        while (c->argv[argc])
                argv[argc] = (char *)c->argv[argc], argc++;
        argv[argc] = NULL;
        if (setenv("DBUS_SESSION_BUS_ADDRESS", c->address, 1) < 0)
                _exit(121);
        if (umc_ctl_parse_args(argc, argv, &a, out) < 0)
                _exit(UMC_CTL_EXIT_USAGE);
        if (umc_ctl_connect(&a, &bus) < 0)
                _exit(UMC_CTL_EXIT_UNREACHABLE);
        code = umc_ctl_run(&a, bus, out, out);
        sd_bus_flush_close_unref(bus);
        umc_ctl_args_free(&a);
        fclose(out);
        _exit(code);
}

static int ctl(struct fixture *f, const struct bus_daemon *bus, char *out, ...) {
        struct ctl_run c = { .address = bus->address };
        va_list ap;
        size_t n = 0;

        va_start(ap, out);
        c.argv[n++] = "umcctl";
        c.argv[n++] = "--bus";
        c.argv[n++] = "session";
        while ((c.argv[n] = va_arg(ap, const char *)) != NULL)
                assert_true(++n < UMC_ELEMENTSOF(c.argv));
        va_end(ap);
        return run_child(f, child_ctl, &c, out, OUT_MAX);
}

/* The first line of out that is a JSON object with "event" == event, or NULL. */
static cJSON *json_line(const char *out, const char *event) {
        const char *p = out;

        while (p && *p) {
                const char *nl = strchr(p, '\n');
                _cleanup_free_ char *line = strndup(p, nl ? (size_t)(nl - p) : strlen(p));
                cJSON *o = line ? cJSON_Parse(line) : NULL;
                const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "event");

                if (o && (!event || (cJSON_IsString(e) && strcmp(e->valuestring, event) == 0)))
                        return o;
                cJSON_Delete(o);
                p = nl ? nl + 1 : NULL;
        }
        return NULL;
}

static void test_status_json_reports_the_idle_daemon(void **state) {
        struct fixture *f = *state;
        char out[OUT_MAX];
        const cJSON *targets, *t;
        cJSON *o;

        assert_int_equal(ctl(f, f->bus, out, "--json", "status", NULL), UMC_CTL_EXIT_OK);
        o = json_line(out, NULL);
        if (!o)
                fail_msg("not JSON: %s", out);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "operation")->valuestring, "idle");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "version")->valuestring, UMC_VERSION);
        targets = cJSON_GetObjectItemCaseSensitive(o, "targets");
        assert_int_equal(cJSON_GetArraySize(targets), 1);
        t = cJSON_GetArrayItem(targets, 0);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring, "bcm");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(t, "suite")->valuestring, "none");
        /* One object, one line. */
        assert_non_null(strchr(out, '\n'));
        assert_string_equal(strchr(out, '\n'), "\n");
        cJSON_Delete(o);
}

static void test_targets_prints_a_table_row_per_target(void **state) {
        struct fixture *f = *state;
        char out[OUT_MAX], addr[64];

        assert_int_equal(ctl(f, f->bus, out, "targets", NULL), UMC_CTL_EXIT_OK);
        snprintf(addr, sizeof(addr), "127.0.0.1:%u", W->closed_port);
        assert_non_null(strstr(out, "TARGET"));
        assert_non_null(strstr(out, "bcm"));
        assert_non_null(strstr(out, addr));
        assert_non_null(strstr(out, "0x00000010"));
        /* The slot overview follows the table: nothing reported from a port that refuses. */
        assert_non_null(strstr(out, "bcm: slots not reported yet"));
        assert_int_equal(ctl(f, f->bus, out, "status", NULL), UMC_CTL_EXIT_OK);
        assert_non_null(strstr(out, "bcm: slots not reported yet"));
        assert_int_equal(ctl(f, f->bus, out, "--json", "targets", NULL), UMC_CTL_EXIT_OK);
        assert_non_null(strstr(out, "{\"target\":\"bcm\",\"slots\":{\"reported\":false"));
}

static void test_inspect_json_gives_the_manifest_hash(void **state) {
        struct fixture *f = *state;
        char out[OUT_MAX];
        cJSON *o;

        assert_int_equal(ctl(f, f->bus, out, "--json", "inspect", W->package, NULL), UMC_CTL_EXIT_OK);
        o = json_line(out, NULL);
        if (!o)
                fail_msg("not JSON: %s", out);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "manifest_hash")->valuestring,
                            W->manifest_hash);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "images")), 1);
        cJSON_Delete(o);
}

static void test_check_without_cloud_exits_refused(void **state) {
        struct fixture *f = *state;
        char out[OUT_MAX];

        assert_int_equal(ctl(f, f->bus, out, "check", NULL), UMC_CTL_EXIT_REFUSED);
        assert_non_null(strstr(out, "[Cloud] BaseUrl="));
        assert_int_equal(ctl(f, f->bus, out, "update", "--yes", NULL), UMC_CTL_EXIT_REFUSED);
}

static void test_cancel_when_idle_exits_refused(void **state) {
        struct fixture *f = *state;
        char out[OUT_MAX];

        assert_int_equal(ctl(f, f->bus, out, "cancel", NULL), UMC_CTL_EXIT_REFUSED);
        assert_non_null(strstr(out, "No installation is running"));
}

static void test_install_with_another_manifest_hash_exits_refused(void **state) {
        struct fixture *f = *state;
        char out[OUT_MAX], other[2 * UMC_HASH_LEN + 1];

        strcpy(other, W->manifest_hash);
        other[63] = other[63] == 'a' ? 'b' : 'a';
        assert_int_equal(ctl(f, f->bus, out, "install", W->package, "--manifest-hash", other, NULL),
                         UMC_CTL_EXIT_REFUSED);
        assert_non_null(strstr(out, "hash"));
}

static void test_install_that_fails_exits_failed_after_completed(void **state) {
        struct fixture *f = *state;
        char out[OUT_MAX];
        const cJSON *success;
        cJSON *o;

        /* The target refuses connections: an alarm, then Completed(false). */
        assert_int_equal(ctl(f, f->bus, out, "--json", "install", W->package, "--manifest-hash",
                             W->manifest_hash, "--target", "bcm", NULL),
                         UMC_CTL_EXIT_FAILED);
        o = json_line(out, "started");
        assert_non_null(o);
        cJSON_Delete(o);
        o = json_line(out, "alarm");
        if (!o)
                fail_msg("no alarm in: %s", out);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "target")->valuestring, "bcm");
        cJSON_Delete(o);
        o = json_line(out, "completed");
        assert_non_null(o);
        success = cJSON_GetObjectItemCaseSensitive(o, "success");
        assert_true(cJSON_IsFalse(success));
        cJSON_Delete(o);
}

/*
 * monitor in a child; a grandchild installs through umcctl after 300 ms
 * (the monitor has subscribed by then) and ends the monitor with SIGTERM
 * once that install is over.
 */
static void child_monitor_while_installing(const void *arg, int fd) {
        const struct ctl_run *c = arg;
        pid_t monitor = getpid(), pid = fork();

        if (pid < 0)
                _exit(122);
        if (pid == 0) {
                struct umc_ctl_args a = { .command = UMC_CTL_STATUS };
                char *argv[] = { "umcctl", "--bus", "session", "--json", "install", W->package, NULL };
                sd_bus *bus = NULL;
                FILE *devnull = fopen("/dev/null", "we");

                (void)usleep(300 * 1000);
                if (!devnull || setenv("DBUS_SESSION_BUS_ADDRESS", c->address, 1) < 0 ||
                    umc_ctl_parse_args(6, argv, &a, devnull) < 0 || umc_ctl_connect(&a, &bus) < 0)
                        _exit(123);
                (void)umc_ctl_run(&a, bus, devnull, devnull);
                (void)usleep(300 * 1000);
                (void)kill(monitor, SIGTERM);
                _exit(0);
        }
        child_ctl(arg, fd);
}

static void test_monitor_json_emits_started_and_the_reason_form(void **state) {
        struct fixture *f = *state;
        struct ctl_run c = { .address = f->bus->address,
                             .argv = { "umcctl", "--bus", "session", "--json", "monitor", NULL } };
        char out[OUT_MAX];
        cJSON *o;

        assert_int_equal(run_child(f, child_monitor_while_installing, &c, out, OUT_MAX),
                         UMC_CTL_EXIT_OK);
        /* started is the first event: before the targets' waiting and every other step. */
        o = json_line(out, NULL);
        if (!o)
                fail_msg("monitor printed nothing: %s", out);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "event")->valuestring, "started");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "operation")->valuestring, "verifying");
        cJSON_Delete(o);
        o = json_line(out, "progress");
        if (!o)
                fail_msg("no progress in: %s", out);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "phase")->valuestring, "waiting");
        cJSON_Delete(o);
        /* The alarm's reason as docs/reasons.md writes it: hex string and name. */
        o = json_line(out, "alarm");
        if (!o)
                fail_msg("no alarm in: %s", out);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "reason")->valuestring, "0x0603");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "reason_name")->valuestring, "IO_ERROR");
        cJSON_Delete(o);
        o = json_line(out, "completed");
        assert_non_null(o);
        cJSON_Delete(o);
}

/* monitor in a child, ended with SIGTERM by a grandchild after 800 ms. */
static void child_monitor_for_a_while(const void *arg, int fd) {
        pid_t monitor = getpid(), pid = fork();

        if (pid < 0)
                _exit(122);
        if (pid == 0) {
                (void)usleep(800 * 1000);
                (void)kill(monitor, SIGTERM);
                _exit(0);
        }
        child_ctl(arg, fd);
}

/*
 * A target's steps as umcd signals them, from the daemon's connection,
 * 300 ms in (the monitor has subscribed by then): a key ID arrives while
 * the target is still authenticating, which is no session yet.
 */
static int emit_session_steps(sd_event_source *s, uint64_t usec, void *userdata) {
        struct fixture *f = userdata;
        static const char *const phases[] = { "waiting", "connecting", NULL, "authenticating",
                                              "transferring" };

        for (size_t i = 0; i < UMC_ELEMENTSOF(phases); i++) {
                if (!phases[i])
                        assert_true(sd_bus_emit_signal(f->server, UMC_DBUS_PATH, UMC_DBUS_INTERFACE,
                                                       "Rotation", "ssqs", "bcm", "aes-128-gcm",
                                                       3, "initial") >= 0);
                else
                        assert_true(sd_bus_emit_signal(f->server, UMC_DBUS_PATH, UMC_DBUS_INTERFACE,
                                                       "Progress", "sutts", "bcm", i == 4 ? 10 : 0,
                                                       (uint64_t)(i == 4 ? 409 : 0), (uint64_t)0,
                                                       phases[i]) >= 0);
        }
        return 0;
}

/* The line of out that holds needle, as its own string (empty when none). */
static void line_with(const char *out, const char *needle, char line[static 256]) {
        const char *p = strstr(out, needle), *start, *end;

        line[0] = '\0';
        if (!p)
                return;
        for (start = p; start > out && start[-1] != '\n'; start--)
                ;
        end = strchrnul(p, '\n');
        snprintf(line, 256, "%.*s", (int)(end - start), start);
}

static void test_monitor_text_shows_no_session_until_the_target_has_one(void **state) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *timer = NULL;
        struct fixture *f = *state;
        struct ctl_run c = { .address = f->bus->address,
                             .argv = { "umcctl", "--bus", "session", "monitor", NULL } };
        char out[OUT_MAX], line[256];

        assert_true(sd_event_add_time_relative(f->event, &timer, CLOCK_MONOTONIC, 300 * USEC_PER_MSEC,
                                               0, emit_session_steps, f) >= 0);
        assert_int_equal(run_child(f, child_monitor_for_a_while, &c, out, OUT_MAX), UMC_CTL_EXIT_OK);
        for (size_t i = 0; i < 3; i++) {
                static const char *const before[] = { "bcm: waiting 0%", "bcm: connecting 0%",
                                                      "bcm: authenticating 0%" };

                line_with(out, before[i], line);
                if (!line[0])
                        fail_msg("no '%s' line in: %s", before[i], out);
                if (!strstr(line, ", no session") || strstr(line, "key"))
                        fail_msg("before its session: %s", line);
        }
        assert_non_null(strstr(out, "bcm: rotated to aes-128-gcm, key 3 (initial)"));
        line_with(out, "bcm: transferring 10%", line);
        if (!strstr(line, ", aes-128-gcm key 3"))
                fail_msg("in its session: '%s' in: %s", line, out);
}

/*
 * The cloud half of io.umc.Manager1 as a stand-in (a real one needs an
 * HTTPS backend: tests/integration/test-update.sh runs that): it offers
 * one update and answers InstallUpdate with UpdateFinished. The rest of
 * the object (Progress) is the real manager's.
 */
struct stand_in_update {
        sd_bus_slot *slot;
        bool success;
        uint16_t reason;
        const char *message;
        char installed_hash[2 * UMC_HASH_LEN + 1];
};

static struct stand_in_update stand_in;

static int stand_in_check(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "bssa(sss)", 1, "2.0.0", W->manifest_hash, 1, "bcm",
                                          "1.0.0", "2.0.0");
}

static int stand_in_install(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *hash;
        int r;

        r = sd_bus_message_read(m, "s", &hash);
        if (r < 0)
                return r;
        snprintf(stand_in.installed_hash, sizeof(stand_in.installed_hash), "%s", hash);
        r = sd_bus_reply_method_return(m, NULL);
        if (r < 0)
                return r;
        return sd_bus_emit_signal(sd_bus_message_get_bus(m), UMC_DBUS_PATH, UMC_DBUS_INTERFACE,
                                  "UpdateFinished", "bqs", (int)stand_in.success, stand_in.reason,
                                  stand_in.message);
}

static int stand_in_property(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        if (strcmp(property, "UpdateState") == 0)
                return sd_bus_message_append(reply, "s", "downloading");
        return sd_bus_message_append(reply, "u", 50);
}

static const sd_bus_vtable stand_in_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("CheckForUpdates", "a{sv}", "bssa(sss)", stand_in_check,
                      SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("InstallUpdate", "sa{sv}", "", stand_in_install, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("UpdateState", "s", stand_in_property, 0, 0),
        SD_BUS_PROPERTY("DownloadProgress", "u", stand_in_property, 0, 0),
        SD_BUS_SIGNAL("UpdateFinished", "bqs", 0),
        SD_BUS_VTABLE_END,
};

static int setup_stand_in_update(void **state) {
        struct fixture *f;

        assert_int_equal(setup_open(state), 0);
        f = *state;
        umc_dbus_update_free(f->dbus_update); /* the NotConfigured half goes */
        f->dbus_update = NULL;
        stand_in = (struct stand_in_update){};
        assert_true(sd_bus_add_object_vtable(f->server, &stand_in.slot, UMC_DBUS_PATH,
                                             UMC_DBUS_INTERFACE, stand_in_vtable, NULL) >= 0);
        return 0;
}

static int teardown_stand_in_update(void **state) {
        stand_in.slot = sd_bus_slot_unref(stand_in.slot);
        return teardown(state);
}

/* The finished event's reason in the form install and monitor use: hex string and name. */
static void test_update_json_finished_gives_the_reason_form(void **state) {
        struct fixture *f = *state;
        char out[OUT_MAX];
        cJSON *o;

        stand_in.reason = UMC_REASON_IMAGE_HASH_MISMATCH;
        stand_in.message = "bcm: image hash mismatch";
        assert_int_equal(ctl(f, f->bus, out, "--json", "update", "--yes", NULL), UMC_CTL_EXIT_FAILED);
        assert_string_equal(stand_in.installed_hash, W->manifest_hash);
        o = json_line(out, "finished");
        if (!o)
                fail_msg("no finished event in: %s", out);
        assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "success")));
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "reason")));
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "reason")->valuestring, "0x0303");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "reason_name")->valuestring,
                            "IMAGE_HASH_MISMATCH");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "message")->valuestring,
                            "bcm: image hash mismatch");
        cJSON_Delete(o);

        stand_in.success = true;
        stand_in.reason = UMC_REASON_OK;
        stand_in.message = "2.0.0 on every target";
        assert_int_equal(ctl(f, f->bus, out, "--json", "update", "--yes", NULL), UMC_CTL_EXIT_OK);
        o = json_line(out, "finished");
        if (!o)
                fail_msg("no finished event in: %s", out);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "success")));
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "reason")->valuestring, "0x0000");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "reason_name")->valuestring, "OK");
        cJSON_Delete(o);
        /* A success completes both bars before it. */
        assert_non_null(strstr(out, "{\"event\":\"installing\",\"percent\":100}\n{\"event\":\"finished\""));
}

/* Text: a failure names its reason as the alarms do, once. */
static void test_update_text_failure_names_the_reason_once(void **state) {
        struct fixture *f = *state;
        char out[OUT_MAX];

        stand_in.reason = UMC_REASON_IO_ERROR;
        stand_in.message = "1 of 1 targets failed; first: bcm: connection refused";
        assert_int_equal(ctl(f, f->bus, out, "update", "--yes", NULL), UMC_CTL_EXIT_FAILED);
        if (!strstr(out, "umcctl: update failed: 1 of 1 targets failed; first: bcm: connection "
                         "refused (reason 0x0603 IO_ERROR)\n"))
                fail_msg("no reason in: %s", out);
        /* A refused download's message begins with the reason: not said twice. */
        stand_in.reason = UMC_REASON_IMAGE_HASH_MISMATCH;
        stand_in.message = "0x0303 IMAGE_HASH_MISMATCH: bcm.bin: SHA-256 differs";
        assert_int_equal(ctl(f, f->bus, out, "update", "--yes", NULL), UMC_CTL_EXIT_FAILED);
        if (!strstr(out, "umcctl: update failed: 0x0303 IMAGE_HASH_MISMATCH: bcm.bin: SHA-256 "
                         "differs\n"))
                fail_msg("reason not once in: %s", out);
}

static void test_no_session_bus_says_what_to_do(void **state) {
        struct umc_ctl_args a = { .session_bus = true };
        char err[512] = "";
        FILE *f = fmemopen(err, sizeof(err), "w");

        assert_non_null(f);
        assert_int_equal(umc_ctl_connect_failed(&a, -ENOMEDIUM, f), UMC_CTL_EXIT_UNREACHABLE);
        fclose(f);
        assert_non_null(strstr(err, "no session bus"));
        assert_non_null(strstr(err, "leave out --bus session"));
        assert_null(strstr(err, "No medium found"));
}

static void test_status_without_daemon_exits_unreachable(void **state) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        struct fixture *f = *state;
        char out[OUT_MAX];

        /* Take io.umc off the bus: the object is gone, the bus is still there. */
        umc_dbus_update_free(f->dbus_update); /* borrows f->dbus: goes first */
        f->dbus_update = NULL;
        f->dbus = umc_dbus_free(f->dbus);
        /* Asked on the same connection, so the broker has handled the release before. */
        assert_true(sd_bus_call_method(f->server, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetNameOwner", &error, NULL, "s",
                                       UMC_DBUS_NAME) < 0);
        assert_true(sd_bus_error_has_name(&error, SD_BUS_ERROR_NAME_HAS_NO_OWNER));
        assert_int_equal(ctl(f, f->bus, out, "status", NULL), UMC_CTL_EXIT_UNREACHABLE);
        assert_non_null(strstr(out, "umcctl: "));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_global_options_are_taken_before_and_after_the_command),
                cmocka_unit_test(test_relative_package_is_made_absolute),
                cmocka_unit_test(test_install_collects_hash_and_targets),
                cmocka_unit_test(test_help_and_version_need_no_command),
                cmocka_unit_test(test_update_takes_yes),
                cmocka_unit_test(test_bad_command_lines_are_usage_errors),
                cmocka_unit_test(test_a_second_manifest_hash_is_refused),
                cmocka_unit_test_setup_teardown(test_status_json_reports_the_idle_daemon, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_targets_prints_a_table_row_per_target, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_inspect_json_gives_the_manifest_hash, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_check_without_cloud_exits_refused, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_when_idle_exits_refused, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_install_with_another_manifest_hash_exits_refused, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_install_that_fails_exits_failed_after_completed, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_status_without_daemon_exits_unreachable, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_monitor_json_emits_started_and_the_reason_form, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_monitor_text_shows_no_session_until_the_target_has_one,
                                                setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_update_json_finished_gives_the_reason_form,
                                                setup_stand_in_update, teardown_stand_in_update),
                cmocka_unit_test_setup_teardown(test_update_text_failure_names_the_reason_once,
                                                setup_stand_in_update, teardown_stand_in_update),
                cmocka_unit_test(test_no_session_bus_says_what_to_do),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
