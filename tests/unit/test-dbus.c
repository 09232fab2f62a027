/* SPDX-License-Identifier: MIT */
/*
 * The D-Bus control surface over a real manager on private dbus-daemons:
 * one with an open policy (so that the object's own checks are what a test
 * sees) and one with a system-bus-like default policy plus the shipped
 * systemd/io.umc.conf (so that the policy file is what a test sees).
 * Clients and the object share one sd-event loop; calls are asynchronous
 * and the test runs the loop until the answer is in. Callers of another
 * UID are forked children that drop privileges with setresuid().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>

#include "bus-fixture.h"

#define NOBODY 65534
#define OPERATOR_GID 4242 /* any GID: the test sets it as the operator group */
#define OTHER_GID 4343    /* a group the test user database gives nobody no membership of */

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf;
        long n;

        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n > 0);
        rewind(f);
        buf = calloc(1, (size_t)n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        return buf;
}

/* ---- calls -------------------------------------------------------------------- */

static void run_until(struct fixture *f, const bool *done) {
        run_until_done(f->event, flag_is_set, done, WAIT_USEC);
}

struct pending {
        bool done;
        sd_bus_message *reply;
};

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct pending *p = userdata;

        p->reply = sd_bus_message_ref(m);
        p->done = true;
        return 0;
}

/* Send msg from the client and run the loop until its answer (reply or error) is in. */
static sd_bus_message *call(struct fixture *f, sd_bus_message *msg) {
        struct pending p = { .done = false };

        assert_true(sd_bus_call_async(f->client, NULL, msg, on_reply, &p, WAIT_USEC) >= 0);
        sd_bus_message_unref(msg);
        run_until(f, &p.done);
        return p.reply;
}

static sd_bus_message *new_call(struct fixture *f, const char *interface, const char *member) {
        sd_bus_message *m = NULL;

        assert_true(sd_bus_message_new_method_call(f->client, &m, UMC_DBUS_NAME, UMC_DBUS_PATH,
                                                        interface, member) >= 0);
        return m;
}

static void assert_ok(sd_bus_message *reply) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (e)
                fail_msg("unexpected error %s: %s", e->name, e->message);
}

/* The answer is the error name, with a message that contains part (may be NULL). */
static void assert_error(sd_bus_message *reply, const char *name, const char *part) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        assert_non_null(e);
        if (strcmp(e->name, name) != 0)
                fail_msg("expected %s, got %s: %s", name, e->name, e->message);
        if (part && (!e->message || !strstr(e->message, part)))
                fail_msg("%s: message '%s' lacks '%s'", name, e->message, part);
}

static sd_bus_message *install(struct fixture *f, const char *path, unsigned n_opts, ...) {
        sd_bus_message *m = new_call(f, UMC_DBUS_INTERFACE, "Install");
        va_list ap;

        assert_true(sd_bus_message_append(m, "s", path) >= 0);
        assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        va_start(ap, n_opts);
        for (unsigned i = 0; i < n_opts; i++) {
                const char *key = va_arg(ap, const char *);
                const char *sig = va_arg(ap, const char *);

                assert_true(sd_bus_message_open_container(m, 'e', "sv") >= 0);
                assert_true(sd_bus_message_append(m, "s", key) >= 0);
                assert_true(sd_bus_message_open_container(m, 'v', sig) >= 0);
                if (strcmp(sig, "s") == 0)
                        assert_true(sd_bus_message_append(m, "s", va_arg(ap, const char *)) >= 0);
                else if (strcmp(sig, "u") == 0)
                        assert_true(sd_bus_message_append(m, "u", va_arg(ap, unsigned)) >= 0);
                else if (strcmp(sig, "as") == 0)
                        assert_true(sd_bus_message_append_strv(m, va_arg(ap, char **)) >= 0);
                else
                        fail_msg("test helper: no signature %s", sig);
                assert_true(sd_bus_message_close_container(m) >= 0);
                assert_true(sd_bus_message_close_container(m) >= 0);
        }
        va_end(ap);
        assert_true(sd_bus_message_close_container(m) >= 0);
        return call(f, m);
}

/* ---- introspection ------------------------------------------------------------ */

/* Drop comments, whitespace between tags, and collapse any other run of whitespace. */
static char *normalise(const char *in) {
        char *out = calloc(1, strlen(in) + 1), *o = out;
        const char *p = in;

        assert_non_null(out);
        while (*p) {
                if (strncmp(p, "<!--", 4) == 0) {
                        const char *end = strstr(p, "-->");

                        assert_non_null(end);
                        p = end + 3;
                        continue;
                }
                if (strchr(" \t\r\n", *p)) {
                        while (*p && strchr(" \t\r\n", *p))
                                p++;
                        if (o > out && o[-1] != '>' && *p != '<' && *p != '/' && *p != '>' && *p)
                                *o++ = ' ';
                        continue;
                }
                *o++ = *p++;
        }
        *o = '\0';
        return out;
}

/* The <interface name="io.umc.Manager1"> element of an XML document, normalised. */
static char *interface_element(const char *xml) {
        const char *start = strstr(xml, "<interface name=\"" UMC_DBUS_INTERFACE "\">"), *end;
        char *elem, *norm;

        assert_non_null(start);
        end = strstr(start, "</interface>");
        assert_non_null(end);
        end += strlen("</interface>");
        elem = strndup(start, (size_t)(end - start));
        assert_non_null(elem);
        norm = normalise(elem);
        free(elem);
        return norm;
}

static void test_introspection_matches_interface_xml(void **state) {
        struct fixture *f = *state;
        _cleanup_free_ char *file = NULL, *want = NULL, *got = NULL;
        sd_bus_message *reply;
        char path[PATH_MAX];
        const char *xml;

        reply = call(f, new_call(f, "org.freedesktop.DBus.Introspectable", "Introspect"));
        assert_ok(reply);
        assert_int_equal(sd_bus_message_read(reply, "s", &xml), 1);
        got = interface_element(xml);
        repo_path("docs/io.umc.Manager1.xml", path, sizeof(path));
        file = read_file(path);
        want = interface_element(file);
        if (strcmp(got, want) != 0)
                fail_msg("introspection differs from docs/io.umc.Manager1.xml:\n%s\n--- file:\n%s",
                         got, want);
        sd_bus_message_unref(reply);
}

/* ---- properties and read-only methods ----------------------------------------- */

static void test_properties_are_readable(void **state) {
        struct fixture *f = *state;
        sd_bus_message *reply;
        const char *name, *phase, *suite, *cls, *target;
        uint64_t done, total, rate;
        bool version = false, operation = false, progress = false, targets = false,
             channels = false, last_error = false, rejected = false;
        uint32_t pct;
        uint16_t key_id;
        double load;

        reply = new_call(f, "org.freedesktop.DBus.Properties", "GetAll");
        assert_true(sd_bus_message_append(reply, "s", UMC_DBUS_INTERFACE) >= 0);
        reply = call(f, reply);
        assert_ok(reply);
        assert_int_equal(sd_bus_message_enter_container(reply, 'a', "{sv}"), 1);
        while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                const char *s;
                uint32_t u;

                assert_int_equal(sd_bus_message_read(reply, "s", &name), 1);
                if (strcmp(name, "Version") == 0) {
                        assert_int_equal(sd_bus_message_read(reply, "v", "s", &s), 1);
                        assert_string_equal(s, UMC_VERSION);
                        version = true;
                } else if (strcmp(name, "Operation") == 0) {
                        assert_int_equal(sd_bus_message_read(reply, "v", "s", &s), 1);
                        assert_string_equal(s, "idle");
                        operation = true;
                } else if (strcmp(name, "Progress") == 0) {
                        assert_int_equal(sd_bus_message_read(reply, "v", "u", &u), 1);
                        assert_int_equal(u, 0);
                        progress = true;
                } else if (strcmp(name, "LastError") == 0) {
                        assert_int_equal(sd_bus_message_read(reply, "v", "s", &s), 1);
                        assert_string_equal(s, "");
                        last_error = true;
                } else if (strcmp(name, "Targets") == 0) {
                        assert_int_equal(sd_bus_message_enter_container(reply, 'v', "a(suttts)"), 1);
                        assert_int_equal(sd_bus_message_read(reply, "a(suttts)", 1, &target, &pct,
                                                             &done, &total, &rate, &phase),
                                         1);
                        assert_string_equal(target, "bcm");
                        assert_int_equal(pct, 0);
                        assert_int_equal(done, 0);
                        assert_string_equal(phase, "idle");
                        assert_int_equal(sd_bus_message_exit_container(reply), 1);
                        targets = true;
                } else if (strcmp(name, "Channels") == 0) {
                        assert_int_equal(sd_bus_message_enter_container(reply, 'v', "a(ssqds)"), 1);
                        assert_int_equal(sd_bus_message_read(reply, "a(ssqds)", 1, &target, &suite,
                                                             &key_id, &load, &cls),
                                         1);
                        assert_string_equal(target, "bcm");
                        assert_string_equal(suite, "none");
                        assert_string_equal(cls, "normal");
                        assert_int_equal(sd_bus_message_exit_container(reply), 1);
                        channels = true;
                } else if (strcmp(name, "RejectedFrames") == 0) {
                        uint64_t n = 1;
                        assert_int_equal(sd_bus_message_enter_container(reply, 'v', "a(st)"), 1);
                        assert_int_equal(sd_bus_message_read(reply, "a(st)", 1, &target, &n), 1);
                        assert_string_equal(target, "bcm");
                        assert_int_equal(n, 0);
                        assert_int_equal(sd_bus_message_exit_container(reply), 1);
                        rejected = true;
                } else if (strcmp(name, "UpdateState") == 0) {
                        const char *st;
                        assert_int_equal(sd_bus_message_read(reply, "v", "s", &st), 1);
                        assert_string_equal(st, "unconfigured");
                } else if (strcmp(name, "DownloadProgress") == 0) {
                        uint32_t dp = 1;
                        assert_int_equal(sd_bus_message_read(reply, "v", "u", &dp), 1);
                        assert_int_equal(dp, 0);
                } else
                        fail_msg("unexpected property %s", name);
                assert_int_equal(sd_bus_message_exit_container(reply), 1);
        }
        assert_true(version && operation && progress && targets && channels && last_error &&
                    rejected);
        sd_bus_message_unref(reply);
}

static void test_list_targets_reports_the_configured_target(void **state) {
        struct fixture *f = *state;
        const char *name, *channel, *address, *version, *phase;
        sd_bus_message *reply;
        uint64_t done, total, rate;
        uint32_t ecu, pct;
        char want[64];

        reply = call(f, new_call(f, UMC_DBUS_INTERFACE, "ListTargets"));
        assert_ok(reply);
        assert_int_equal(sd_bus_message_read(reply, "a(sussssuttt)", 1, &name, &ecu, &channel,
                                             &address, &version, &phase, &pct, &done, &total, &rate),
                         1);
        assert_string_equal(name, "bcm");
        assert_int_equal(ecu, 0x10);
        assert_string_equal(channel, "tcp");
        snprintf(want, sizeof(want), "127.0.0.1:%u", W->closed_port);
        assert_string_equal(address, want);
        assert_string_equal(phase, "idle");
        assert_int_equal(pct, 0);
        sd_bus_message_unref(reply);
}

static void test_list_slots_says_nothing_was_reported_yet(void **state) {
        struct fixture *f = *state;
        const char *name, *source, *active, *va, *vb, *prev, *vp;
        uint64_t done, total, at;
        uint32_t age;
        int reported = -1;
        sd_bus_message *reply;

        /* The closed port never answers: no agent ever reported. */
        reply = call(f, new_call(f, UMC_DBUS_INTERFACE, "ListSlots"));
        assert_ok(reply);
        assert_int_equal(sd_bus_message_read(reply, "a(sbssssssttut)", 1, &name, &reported,
                                             &source, &active, &va, &vb, &prev, &vp, &done, &total,
                                             &age, &at),
                         1);
        assert_string_equal(name, "bcm");
        assert_false(reported);
        assert_string_equal(source, "");
        assert_string_equal(active, "");
        assert_string_equal(vp, "");
        assert_int_equal(at, 0);
        sd_bus_message_unref(reply);
}

static void test_inspect_package_reports_name_hash_and_images(void **state) {
        struct fixture *f = *state;
        const char *name, *hash, *target, *version, *file;
        sd_bus_message *m, *reply;
        uint64_t size;

        m = new_call(f, UMC_DBUS_INTERFACE, "InspectPackage");
        assert_true(sd_bus_message_append(m, "sa{sv}", W->package, 0) >= 0);
        reply = call(f, m);
        assert_ok(reply);
        assert_int_equal(sd_bus_message_read(reply, "ss", &name, &hash), 1);
        assert_string_equal(name, "demo 1");
        /* The hash the HMI shows is the SHA-256 of the manifest's exact bytes. */
        assert_string_equal(hash, W->manifest_hash);
        assert_int_equal(sd_bus_message_read(reply, "a(ssst)", 1, &target, &version, &file, &size), 1);
        assert_string_equal(target, "bcm");
        assert_string_equal(version, "1.2.3");
        assert_string_equal(file, "bcm.bin");
        assert_int_equal(size, IMAGE_LEN);
        sd_bus_message_unref(reply);
}

static void test_inspect_package_refuses_any_option(void **state) {
        struct fixture *f = *state;
        sd_bus_message *m, *reply;

        m = new_call(f, UMC_DBUS_INTERFACE, "InspectPackage");
        assert_true(sd_bus_message_append(m, "sa{sv}", W->package, 1, "verbose", "b", 1) >= 0);
        reply = call(f, m);
        assert_error(reply, SD_BUS_ERROR_INVALID_ARGS, "verbose");
        sd_bus_message_unref(reply);
}

static void test_inspect_of_a_directory_without_manifest_is_bad_package(void **state) {
        struct fixture *f = *state;
        sd_bus_message *m, *reply;

        m = new_call(f, UMC_DBUS_INTERFACE, "InspectPackage");
        assert_true(sd_bus_message_append(m, "sa{sv}", W->dir, 0) >= 0);
        reply = call(f, m);
        assert_error(reply, UMC_DBUS_ERROR_BAD_PACKAGE, NULL);
        sd_bus_message_unref(reply);
}

static void test_inspect_outside_the_package_directories_is_access_denied(void **state) {
        struct fixture *f = *state;
        sd_bus_message *m, *reply;

        /* /etc is no PackageDirectory=: umcd does not read it for a caller. */
        m = new_call(f, UMC_DBUS_INTERFACE, "InspectPackage");
        assert_true(sd_bus_message_append(m, "sa{sv}", "/etc", 0) >= 0);
        reply = call(f, m);
        assert_error(reply, SD_BUS_ERROR_ACCESS_DENIED, "PackageDirectory=");
        sd_bus_message_unref(reply);
}

static void test_inspect_refuses_what_install_would_refuse(void **state) {
        struct fixture *f = *state;
        sd_bus_message *m, *reply;
        char path[256];

        /* The image shrinks by a byte: inspect says so, as install would. */
        snprintf(path, sizeof(path), "%s/bcm.bin", W->package);
        assert_int_equal(truncate(path, IMAGE_LEN - 1), 0);
        m = new_call(f, UMC_DBUS_INTERFACE, "InspectPackage");
        assert_true(sd_bus_message_append(m, "sa{sv}", W->package, 0) >= 0);
        reply = call(f, m);
        assert_error(reply, UMC_DBUS_ERROR_BAD_PACKAGE, "the manifest says");
        sd_bus_message_unref(reply);
        assert_int_equal(truncate(path, IMAGE_LEN), 0);
}

/* ---- Install argument checks -------------------------------------------------- */

static void test_install_with_unknown_option_is_invalid_args(void **state) {
        struct fixture *f = *state;
        sd_bus_message *reply = install(f, W->package, 1, "force", "s", "yes");

        assert_error(reply, SD_BUS_ERROR_INVALID_ARGS, "'force'");
        sd_bus_message_unref(reply);
}

static void test_install_with_wrong_variant_type_is_invalid_args(void **state) {
        struct fixture *f = *state;
        char *one[] = { "bcm", NULL };
        sd_bus_message *reply;

        reply = install(f, W->package, 1, "manifest-hash", "u", 7u);
        assert_error(reply, SD_BUS_ERROR_INVALID_ARGS, "'manifest-hash'");
        sd_bus_message_unref(reply);
        reply = install(f, W->package, 1, "targets", "s", "bcm");
        assert_error(reply, SD_BUS_ERROR_INVALID_ARGS, "'targets'");
        sd_bus_message_unref(reply);
        /* The right type passes the check (and the manager then refuses the wrong hash). */
        reply = install(f, W->package, 2, "targets", "as", one, "manifest-hash", "s",
                        "0000000000000000000000000000000000000000000000000000000000000000");
        assert_error(reply, UMC_DBUS_ERROR_BAD_PACKAGE, NULL);
        sd_bus_message_unref(reply);
}

static void test_install_with_repeated_option_is_invalid_args(void **state) {
        struct fixture *f = *state;
        char *one[] = { "bcm", NULL };
        sd_bus_message *reply = install(f, W->package, 2, "targets", "as", one, "targets", "as", one);

        assert_error(reply, SD_BUS_ERROR_INVALID_ARGS, "more than once");
        sd_bus_message_unref(reply);
}

static void test_install_with_malformed_manifest_hash_is_invalid_args(void **state) {
        struct fixture *f = *state;
        const char *bad[] = {
                "",
                "00",
                "zz00000000000000000000000000000000000000000000000000000000000000",
                "00000000000000000000000000000000000000000000000000000000000000000", /* 65 */
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(bad); i++) {
                sd_bus_message *reply = install(f, W->package, 1, "manifest-hash", "s", bad[i]);

                assert_error(reply, SD_BUS_ERROR_INVALID_ARGS, "manifest-hash");
                sd_bus_message_unref(reply);
        }
}

static void test_install_with_bad_target_names_is_invalid_args(void **state) {
        struct fixture *f = *state;
        char *empty[] = { NULL };
        char *slash[] = { "../bcm", NULL };
        char *twice[] = { "bcm", "bcm", NULL };
        char *longname[] = { "a23456789012345678901234567890123", NULL };
        char **cases[] = { empty, slash, twice, longname };

        for (size_t i = 0; i < UMC_ELEMENTSOF(cases); i++) {
                sd_bus_message *reply = install(f, W->package, 1, "targets", "as", cases[i]);

                assert_error(reply, SD_BUS_ERROR_INVALID_ARGS, "'targets'");
                sd_bus_message_unref(reply);
        }
}

static void test_install_with_bad_path_is_invalid_args(void **state) {
        struct fixture *f = *state;
        char longpath[UMC_DBUS_PATH_MAX + 2];
        const char *bad[] = { "", "relative/pkg", "/tmp/a\nb", longpath };

        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = '\0';
        for (size_t i = 0; i < UMC_ELEMENTSOF(bad); i++) {
                sd_bus_message *reply = install(f, bad[i], 0);

                assert_error(reply, SD_BUS_ERROR_INVALID_ARGS, "package path");
                sd_bus_message_unref(reply);
        }
}

static void test_install_with_mismatched_manifest_hash_is_refused(void **state) {
        struct fixture *f = *state;
        char other[2 * UMC_HASH_LEN + 1];
        sd_bus_message *reply;
        const char *op;

        /* What the user consented to is not what the package holds: one digit differs. */
        strcpy(other, W->manifest_hash);
        other[0] = other[0] == '0' ? '1' : '0';
        reply = install(f, W->package, 1, "manifest-hash", "s", other);
        assert_error(reply, UMC_DBUS_ERROR_BAD_PACKAGE, NULL);
        sd_bus_message_unref(reply);

        reply = new_call(f, "org.freedesktop.DBus.Properties", "Get");
        assert_true(sd_bus_message_append(reply, "ss", UMC_DBUS_INTERFACE, "Operation") >= 0);
        reply = call(f, reply);
        assert_ok(reply);
        assert_int_equal(sd_bus_message_read(reply, "v", "s", &op), 1);
        assert_string_equal(op, "idle");
        sd_bus_message_unref(reply);
}

static void test_cancel_when_idle_is_not_running(void **state) {
        struct fixture *f = *state;
        sd_bus_message *reply = call(f, new_call(f, UMC_DBUS_INTERFACE, "Cancel"));

        assert_error(reply, UMC_DBUS_ERROR_NOT_RUNNING, NULL);
        sd_bus_message_unref(reply);
}

static void test_update_methods_without_cloud_are_not_configured(void **state) {
        struct fixture *f = *state;
        sd_bus_message *m = new_call(f, UMC_DBUS_INTERFACE, "CheckForUpdates"), *reply;

        assert_true(sd_bus_message_append(m, "a{sv}", 0) >= 0);
        reply = call(f, m);
        assert_error(reply, UMC_DBUS_ERROR_NO_CLOUD, "[Cloud] BaseUrl=");
        sd_bus_message_unref(reply);
        m = new_call(f, UMC_DBUS_INTERFACE, "InstallUpdate");
        assert_true(sd_bus_message_append(m, "sa{sv}", "00", 0) >= 0);
        reply = call(f, m);
        assert_error(reply, UMC_DBUS_ERROR_NO_CLOUD, NULL);
        sd_bus_message_unref(reply);
}

/* ---- install and signals ------------------------------------------------------ */

struct completion {
        bool done;
        int success;
        char result[256];
        unsigned n_alarms;
        unsigned n_operation_changes;
};

static int on_completed_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct completion *c = userdata;
        const char *result;

        assert_int_equal(sd_bus_message_read(m, "bs", &c->success, &result), 1);
        snprintf(c->result, sizeof(c->result), "%s", result);
        c->done = true;
        return 0;
}

static int on_alarm_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct completion *c = userdata;
        const char *target, *text;
        uint16_t reason;

        assert_int_equal(sd_bus_message_read(m, "sqs", &target, &reason, &text), 1);
        assert_string_equal(target, "bcm");
        assert_true(reason != 0);
        c->n_alarms++;
        return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct completion *c = userdata;
        const char *iface, *name;

        assert_int_equal(sd_bus_message_read(m, "s", &iface), 1);
        assert_string_equal(iface, UMC_DBUS_INTERFACE);
        assert_int_equal(sd_bus_message_enter_container(m, 'a', "{sv}"), 1);
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                assert_int_equal(sd_bus_message_read(m, "s", &name), 1);
                if (strcmp(name, "Operation") == 0)
                        c->n_operation_changes++;
                assert_int_equal(sd_bus_message_skip(m, "v"), 1);
                assert_int_equal(sd_bus_message_exit_container(m), 1);
        }
        return 0;
}

static void test_failed_install_sends_alarm_and_completed(void **state) {
        struct fixture *f = *state;
        struct completion c = { .done = false };
        sd_bus_message *reply;

        assert_true(sd_bus_match_signal(f->client, NULL, UMC_DBUS_NAME, UMC_DBUS_PATH,
                                             UMC_DBUS_INTERFACE, "Completed", on_completed_signal, &c) >= 0);
        assert_true(sd_bus_match_signal(f->client, NULL, UMC_DBUS_NAME, UMC_DBUS_PATH,
                                             UMC_DBUS_INTERFACE, "Alarm", on_alarm_signal, &c) >= 0);
        assert_true(sd_bus_match_signal(f->client, NULL, UMC_DBUS_NAME, UMC_DBUS_PATH,
                                             "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                             on_properties_changed, &c) >= 0);
        /* The consented hash matches; the target's agent refuses the connection. */
        reply = install(f, W->package, 1, "manifest-hash", "s", W->manifest_hash);
        assert_ok(reply);
        sd_bus_message_unref(reply);

        /* A second installation while the first runs is refused as busy. */
        reply = install(f, W->package, 0);
        if (!c.done)
                assert_error(reply, UMC_DBUS_ERROR_BUSY, NULL);
        sd_bus_message_unref(reply);

        run_until(f, &c.done);
        assert_false(c.success);
        assert_true(c.result[0] != '\0');
        assert_true(c.n_alarms >= 1);
        /* idle -> running -> idle, announced with PropertiesChanged. */
        assert_true(c.n_operation_changes >= 2);
}

/* ---- who may call what -------------------------------------------------------- */

struct nobody_call {
        const char *address;
        const char *member;
        const gid_t *groups;
        size_t n_groups;
};

/*
 * In a child: become uid NOBODY with the given supplementary groups,
 * connect, call the member (Install gets a valid package and no options),
 * and write "OK" or the error name and message to fd.
 */
static void child_call(const void *arg, int fd) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const struct nobody_call *c = arg;
        sd_bus *bus = NULL;
        char out[512];
        int r;

        if (setgroups(c->n_groups, c->groups) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
            setresuid(NOBODY, NOBODY, NOBODY) < 0)
                _exit(10);
        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, c->address) < 0 ||
            sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0)
                _exit(11);
        r = sd_bus_message_new_method_call(bus, &m, UMC_DBUS_NAME, UMC_DBUS_PATH,
                                           UMC_DBUS_INTERFACE, c->member);
        if (r >= 0 && (strcmp(c->member, "Install") == 0 || strcmp(c->member, "InspectPackage") == 0))
                r = sd_bus_message_append(m, "sa{sv}", W->package, 0);
        if (r >= 0 && strcmp(c->member, "InstallUpdate") == 0)
                r = sd_bus_message_append(m, "sa{sv}", "00", 0);
        if (r >= 0 && strcmp(c->member, "CheckForUpdates") == 0)
                r = sd_bus_message_append(m, "a{sv}", 0);
        if (r < 0)
                _exit(12);
        r = sd_bus_call(bus, m, WAIT_USEC, &error, &reply);
        snprintf(out, sizeof(out), "%s\n%s", r >= 0 ? "OK" : error.name,
                 r >= 0 ? "" : (error.message ? error.message : ""));
        if (write(fd, out, strlen(out)) < 0)
                _exit(13);
        sd_bus_flush_close_unref(bus);
        _exit(0);
}

/* Call member as uid NOBODY while this process serves the object; ret gets the answer. */
static void call_as_nobody(struct fixture *f, const char *member, const gid_t *groups,
                           size_t n_groups, char *ret, size_t size) {
        const struct nobody_call c = {
                .address = f->bus->address, .member = member, .groups = groups, .n_groups = n_groups,
        };

        assert_int_equal(run_child(f, child_call, &c, ret, size), 0);
        assert_true(ret[0] != '\0');
}

/* The child's answer starts with the error name (or OK) on a line of its own. */
static void assert_answer(const char *answer, const char *name) {
        size_t n = strlen(name);

        if (strncmp(answer, name, n) != 0 || answer[n] != '\n')
                fail_msg("expected %s, got: %s", name, answer);
}

static void test_non_root_caller_is_denied_by_the_daemon(void **state) {
        struct fixture *f = *state;
        char answer[512];

        /* The open bus lets everyone call: the denial below is the object's own. */
        call_as_nobody(f, "Install", NULL, 0, answer, sizeof(answer));
        assert_answer(answer, SD_BUS_ERROR_ACCESS_DENIED);
        assert_non_null(strstr(answer, "operator group"));
        call_as_nobody(f, "Cancel", NULL, 0, answer, sizeof(answer));
        assert_answer(answer, SD_BUS_ERROR_ACCESS_DENIED);
        /* Inspecting reads package files with umcd's rights: operators only. */
        call_as_nobody(f, "InspectPackage", NULL, 0, answer, sizeof(answer));
        assert_answer(answer, SD_BUS_ERROR_ACCESS_DENIED);
        assert_non_null(strstr(answer, "InspectPackage"));
        /* The cloud update is the operators' as Install is. */
        call_as_nobody(f, "CheckForUpdates", NULL, 0, answer, sizeof(answer));
        assert_answer(answer, SD_BUS_ERROR_ACCESS_DENIED);
        call_as_nobody(f, "InstallUpdate", NULL, 0, answer, sizeof(answer));
        assert_answer(answer, SD_BUS_ERROR_ACCESS_DENIED);
        /* Reading the state stays open to everyone. */
        call_as_nobody(f, "ListTargets", NULL, 0, answer, sizeof(answer));
        assert_string_equal(answer, "OK\n");
}

/*
 * The user database of the operator tests: in a mount namespace of this
 * process, /etc/passwd and /etc/group are bind mounts of files that make
 * nobody a member of OPERATOR_GID (through /etc/group, as usermod -aG
 * would) and of nothing else but its primary group. NSS reads them as it
 * reads the real ones; the host's files are untouched.
 */
static const char test_passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                                  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char test_group[] = "root:x:0:\n"
                                 "nogroup:x:65534:\n"
                                 "umc-test-ops:x:4242:daemon,nobody\n"
                                 "umc-test-other:x:4343:daemon\n";

static void bind_file(const char *name, const char *text, const char *target) {
        char path[256];

        snprintf(path, sizeof(path), "%s/%s", W->dir, name);
        write_file(path, text, strlen(text), 0644);
        if (mount(path, target, NULL, MS_BIND, NULL) < 0)
                fail_msg("bind mount of %s on %s: %s", path, target, strerror(errno));
}

static void use_test_user_db(void) {
        if (unshare(CLONE_NEWNS) < 0)
                fail_msg("unshare(CLONE_NEWNS): %s (the operator tests need root)", strerror(errno));
        assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        bind_file("passwd", test_passwd, "/etc/passwd");
        bind_file("group", test_group, "/etc/group");
}

static void drop_test_user_db(void) {
        assert_int_equal(umount2("/etc/group", MNT_DETACH), 0);
        assert_int_equal(umount2("/etc/passwd", MNT_DETACH), 0);
}

static void test_user_in_group_asks_the_user_database(void **state) {
        use_test_user_db();
        assert_int_equal(umc_dbus_user_in_group(NOBODY, OPERATOR_GID), 1); /* /etc/group member */
        assert_int_equal(umc_dbus_user_in_group(NOBODY, NOBODY), 1);       /* primary group */
        assert_int_equal(umc_dbus_user_in_group(NOBODY, OTHER_GID), 0);
        assert_int_equal(umc_dbus_user_in_group(0, 0), 1);
        assert_int_equal(umc_dbus_user_in_group(0, OPERATOR_GID), 0);
        /* A UID the database does not know is in no group. */
        assert_int_equal(umc_dbus_user_in_group(4000000, OPERATOR_GID), 0);
        drop_test_user_db();
}

static void test_operator_group_member_passes_the_daemon_check(void **state) {
        struct fixture *f = *state;
        const gid_t held[] = { OTHER_GID };
        char answer[512];

        use_test_user_db();
        /* No operator group until umcd sets the one of OperatorGroup=: members are turned away. */
        call_as_nobody(f, "Cancel", NULL, 0, answer, sizeof(answer));
        assert_answer(answer, SD_BUS_ERROR_ACCESS_DENIED);

        /* A member by /etc/group passes although its process holds no supplementary group. */
        umc_dbus_set_operator_gid(f->dbus, OPERATOR_GID);
        call_as_nobody(f, "Cancel", NULL, 0, answer, sizeof(answer));
        assert_answer(answer, UMC_DBUS_ERROR_NOT_RUNNING);
        /* So does a user whose primary group it is. */
        umc_dbus_set_operator_gid(f->dbus, NOBODY);
        call_as_nobody(f, "Cancel", NULL, 0, answer, sizeof(answer));
        assert_answer(answer, UMC_DBUS_ERROR_NOT_RUNNING);
        /* A group the process holds but the database does not give the user counts for nothing. */
        umc_dbus_set_operator_gid(f->dbus, OTHER_GID);
        call_as_nobody(f, "Cancel", held, UMC_ELEMENTSOF(held), answer, sizeof(answer));
        assert_answer(answer, SD_BUS_ERROR_ACCESS_DENIED);
        assert_non_null(strstr(answer, "operator group"));
        /* InspectPackage and Install go through the same check: the member passes both. */
        umc_dbus_set_operator_gid(f->dbus, OPERATOR_GID);
        call_as_nobody(f, "InspectPackage", NULL, 0, answer, sizeof(answer));
        assert_answer(answer, "OK");
        call_as_nobody(f, "Install", NULL, 0, answer, sizeof(answer));
        assert_string_equal(answer, "OK\n");
        drop_test_user_db();
}

static void test_operator_group_is_resolved_by_name(void **state) {
        gid_t gid = OPERATOR_GID;

        assert_int_equal(umc_dbus_resolve_group("root", &gid), 0);
        assert_int_equal(gid, 0);
        gid = OPERATOR_GID;
        /* A valid name that no group has: umcd refuses to start with it on the system bus. */
        assert_int_equal(umc_dbus_resolve_group("umc-no-such-group", &gid), -ENOENT);
        assert_int_equal(gid, OPERATOR_GID);
        assert_int_equal(umc_dbus_resolve_group("", &gid), -EINVAL);
        assert_int_equal(umc_dbus_resolve_group(NULL, &gid), -EINVAL);
        assert_int_equal(gid, OPERATOR_GID);
}

static void test_policy_file_denies_others_but_lets_them_read(void **state) {
        struct fixture *f = *state;
        char answer[512];

        /* On the policy bus the broker refuses first: the message is dbus-daemon's. */
        call_as_nobody(f, "Install", NULL, 0, answer, sizeof(answer));
        assert_answer(answer, SD_BUS_ERROR_ACCESS_DENIED);
        assert_null(strstr(answer, "operator group"));
        call_as_nobody(f, "Cancel", NULL, 0, answer, sizeof(answer));
        assert_answer(answer, SD_BUS_ERROR_ACCESS_DENIED);
        call_as_nobody(f, "ListTargets", NULL, 0, answer, sizeof(answer));
        assert_string_equal(answer, "OK\n");
}

static void test_policy_file_lets_root_control(void **state) {
        struct fixture *f = *state;
        sd_bus_message *reply = call(f, new_call(f, UMC_DBUS_INTERFACE, "Cancel"));

        /* Root got through the broker and the object: only the idle manager says no. */
        assert_error(reply, UMC_DBUS_ERROR_NOT_RUNNING, NULL);
        sd_bus_message_unref(reply);
}

static void test_second_owner_is_refused_and_first_keeps_serving(void **state) {
        struct fixture *f = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *other = bus_connect(f->bus->address);
        struct umc_dbus *d = NULL;
        sd_bus_message *reply;

        assert_int_equal(umc_dbus_attach(f->manager, other, &d), -EEXIST);
        assert_null(d);
        reply = call(f, new_call(f, UMC_DBUS_INTERFACE, "Cancel"));
        assert_error(reply, UMC_DBUS_ERROR_NOT_RUNNING, NULL);
        sd_bus_message_unref(reply);
}

/* Arguments are checked before any of them is used: nothing is registered. */
static void test_attach_refuses_missing_arguments(void **state) {
        struct fixture *f = *state;
        struct umc_dbus *d = NULL;

        assert_int_equal(umc_dbus_attach(NULL, f->server, &d), -EINVAL);
        assert_int_equal(umc_dbus_attach(f->manager, NULL, &d), -EINVAL);
        assert_int_equal(umc_dbus_attach(f->manager, f->server, NULL), -EINVAL);
        assert_null(d);
}

/* busapi.c writes the Targets and Channels rows as umcd does and reads them as umcctl does. */
static void test_busapi_rows_read_back_what_was_written(void **state) {
        struct fixture *f = *state;
        const struct umc_busapi_target tw = { .name = "bcm", .percent = 42, .done = 1u << 20,
                                              .total = UINT64_C(5) << 32, .rate = 123456,
                                              .phase = "transferring" };
        const struct umc_busapi_channel cw = { .name = "tcu", .suite = "aes-256-gcm", .key_id = 7,
                                               .load = 12.5, .load_class = "mutation" };
        struct umc_busapi_target tr;
        struct umc_busapi_channel cr;
        sd_bus_message *m = NULL;

        assert_true(sd_bus_message_new_method_call(f->client, &m, UMC_DBUS_NAME, UMC_DBUS_PATH,
                                                   UMC_DBUS_INTERFACE, "Test") >= 0);
        assert_true(sd_bus_message_open_container(m, 'a', UMC_BUSAPI_TARGET_SIG) >= 0);
        assert_true(umc_busapi_append_target(m, &tw) >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_true(sd_bus_message_open_container(m, 'a', UMC_BUSAPI_CHANNEL_SIG) >= 0);
        assert_true(umc_busapi_append_channel(m, &cw) >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_true(sd_bus_message_seal(m, 1, 0) >= 0);
        assert_true(sd_bus_message_rewind(m, 1) >= 0);

        assert_int_equal(sd_bus_message_enter_container(m, 'a', UMC_BUSAPI_TARGET_SIG), 1);
        assert_int_equal(umc_busapi_read_target(m, &tr), 1);
        assert_string_equal(tr.name, "bcm");
        assert_int_equal(tr.percent, 42);
        assert_int_equal(tr.done, 1u << 20);
        assert_int_equal(tr.total, UINT64_C(5) << 32);
        assert_int_equal(tr.rate, 123456);
        assert_string_equal(tr.phase, "transferring");
        assert_int_equal(umc_busapi_read_target(m, &tr), 0);
        assert_string_equal(tr.name, "bcm"); /* untouched at the end of the array */
        assert_int_equal(sd_bus_message_exit_container(m), 1);

        assert_int_equal(sd_bus_message_enter_container(m, 'a', UMC_BUSAPI_CHANNEL_SIG), 1);
        /* A row of the other property does not match the signature. */
        assert_true(umc_busapi_read_target(m, &tr) < 0);
        assert_int_equal(umc_busapi_read_channel(m, &cr), 1);
        assert_string_equal(cr.name, "tcu");
        assert_string_equal(cr.suite, "aes-256-gcm");
        assert_int_equal(cr.key_id, 7);
        assert_true(cr.load == 12.5);
        assert_string_equal(cr.load_class, "mutation");
        assert_int_equal(umc_busapi_read_channel(m, &cr), 0);
        sd_bus_message_unref(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_introspection_matches_interface_xml, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_properties_are_readable, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_list_targets_reports_the_configured_target, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_list_slots_says_nothing_was_reported_yet, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_inspect_package_reports_name_hash_and_images, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_inspect_package_refuses_any_option, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_inspect_of_a_directory_without_manifest_is_bad_package, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_inspect_outside_the_package_directories_is_access_denied, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_inspect_refuses_what_install_would_refuse, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_install_with_unknown_option_is_invalid_args, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_install_with_wrong_variant_type_is_invalid_args, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_install_with_repeated_option_is_invalid_args, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_install_with_malformed_manifest_hash_is_invalid_args, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_install_with_bad_target_names_is_invalid_args, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_install_with_bad_path_is_invalid_args, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_install_with_mismatched_manifest_hash_is_refused, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_when_idle_is_not_running, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_update_methods_without_cloud_are_not_configured, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_failed_install_sends_alarm_and_completed, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_non_root_caller_is_denied_by_the_daemon, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_operator_group_member_passes_the_daemon_check, setup_open, teardown),
                cmocka_unit_test(test_operator_group_is_resolved_by_name),
                cmocka_unit_test(test_user_in_group_asks_the_user_database),
                cmocka_unit_test_setup_teardown(test_policy_file_denies_others_but_lets_them_read, setup_policy, teardown),
                cmocka_unit_test_setup_teardown(test_policy_file_lets_root_control, setup_policy, teardown),
                cmocka_unit_test_setup_teardown(test_second_owner_is_refused_and_first_keeps_serving, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_attach_refuses_missing_arguments, setup_open, teardown),
                cmocka_unit_test_setup_teardown(test_busapi_rows_read_back_what_was_written, setup_open, teardown),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
