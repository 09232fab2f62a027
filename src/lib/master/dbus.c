/* SPDX-License-Identifier: MIT */
#include "umc/dbus.h"

#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "umc/cipher.h"
#include "umc/config.h"
#include "umc/log.h"
#include "umc/msg.h"
#include "umc/names.h"
#include "umc/update.h"
#include "umc/util.h"

/* A call may name every configured target, and no more. */
_Static_assert(UMC_DBUS_TARGETS_MAX == UMC_CONFIG_TARGETS_MAX, "busapi.h and config.h disagree");

#define WHY_MAX 512
/*
 * Spacing of PropertiesChanged and of repeated Progress signals of one
 * target (a new phase or percentage always goes out at once).
 */
#define UMC_DBUS_SIGNAL_INTERVAL_USEC (250 * USEC_PER_MSEC)
/* Client strings quoted back in error messages are cut to this many bytes. */
#define QUOTE_MAX 64

/* What Targets and Channels showed last, so PropertiesChanged goes out only on a change. */
struct target_snap {
        uint32_t percent;
        uint64_t bytes_done, bytes_total, rate;
        enum umc_phase phase;
        enum umc_suite_id suite;
        uint16_t key_id;
        double load_percent;
        enum umc_load_class load_class;
        uint64_t rejected_frames;
};

/* When the last Progress signal of a target went out, for the throttle. */
struct progress_mark {
        char name[UMC_CONFIG_TARGET_NAME_MAX + 1];
        uint32_t percent;
        enum umc_phase phase;
        uint64_t usec;
};

struct umc_dbus {
        struct umc_manager *manager;   /* borrowed */
        sd_bus *bus;                   /* a reference */
        sd_bus_slot *vtable_slot;
        sd_event_source *flush_defer;  /* one-shot: emit at the next loop iteration */
        sd_event_source *flush_timer;  /* one-shot: emit once the throttle interval is over */
        bool flush_pending;
        uint64_t last_flush_usec;
        bool attached_event;           /* we attached the bus to the loop, so we detach it */
        bool events_set;
        bool name_requested;

        uid_t own_uid;
        gid_t operator_gid;            /* (gid_t)-1: no operator group */

        /* What Get returns, bound by offsetof: updated on every change of the manager. */
        const char *operation;         /* static string */
        uint32_t progress;
        char *last_error;              /* owned */
        const char *version;           /* static string */

        /* What PropertiesChanged announced last. */
        const char *sent_operation;
        uint32_t sent_progress;
        char *sent_last_error;         /* owned */
        struct target_snap *snaps;     /* owned, n_snaps entries */
        size_t n_snaps;

        struct progress_mark marks[UMC_CONFIG_TARGETS_MAX];
        size_t n_marks;

        struct umc_update *update;     /* borrowed, NULL without [Cloud] */
};

static const char *phase_name(enum umc_phase p) {
        const char *s = umc_phase_to_string(p);
        return s ? s : "unknown";
}

static const char *operation_name(enum umc_operation op) {
        const char *s = umc_operation_to_string(op);
        return s ? s : "unknown";
}

static const char *suite_name(enum umc_suite_id id) {
        const struct umc_suite *s = umc_suite_by_id(id);
        return s ? s->name : "none";
}

static const char *load_class_name(enum umc_load_class c) {
        const char *s = umc_load_class_to_string(c);
        return s ? s : "unknown";
}

static const char *cause_name(enum umc_rotation_cause c) {
        const char *s = umc_rotation_cause_to_string(c);
        return s ? s : "unknown";
}

/*
 * Texts the manager composed (alarm texts, results, refusals) may quote
 * bytes from a package or an ECU; D-Bus strings must be UTF-8, and a
 * refused string would lose the signal or the reply. Keep printable ASCII,
 * turn anything else into '?', cut at size - 1 bytes.
 */
static const char *ascii_text(const char *s, char *buf, size_t size) {
        size_t o = 0;

        for (; s && *s && o + 1 < size; s++)
                buf[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
        buf[o] = '\0';
        return buf;
}

/* ---- properties ---------------------------------------------------------------- */

/* One row of a per-target array property, in the signature of its element. */
typedef int (*row_fn)(sd_bus_message *reply, const struct umc_target_status *t);

static int row_target(sd_bus_message *reply, const struct umc_target_status *t) {
        struct umc_busapi_target row = {
                .name = t->name, .percent = t->percent, .done = t->bytes_done,
                .total = t->bytes_total, .rate = t->rate, .phase = phase_name(t->phase),
        };

        return umc_busapi_append_target(reply, &row);
}

static int row_channel(sd_bus_message *reply, const struct umc_target_status *t) {
        struct umc_busapi_channel row = {
                .name = t->name, .suite = suite_name(t->suite), .key_id = t->key_id,
                .load = t->load_percent, .load_class = load_class_name(t->load_class),
        };

        return umc_busapi_append_channel(reply, &row);
}

/* Per target: frames from its side that failed authentication and were dropped. */
static int row_rejected(sd_bus_message *reply, const struct umc_target_status *t) {
        return sd_bus_message_append(reply, "(st)", t->name, t->rejected_frames);
}

/* An array of one row per configured target, in config order. */
static int append_per_target(struct umc_dbus *d, sd_bus_message *reply, const char *element,
                             row_fn row) {
        size_t n = umc_manager_n_targets(d->manager);
        int r;

        r = sd_bus_message_open_container(reply, 'a', element);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                struct umc_target_status t;

                r = umc_manager_target_status(d->manager, i, &t);
                if (r >= 0)
                        r = row(reply, &t);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_targets(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error) {
        return append_per_target(userdata, reply, UMC_BUSAPI_TARGET_SIG, row_target);
}

static int property_get_channels(sd_bus *bus, const char *path, const char *interface,
                                 const char *property, sd_bus_message *reply, void *userdata,
                                 sd_bus_error *error) {
        return append_per_target(userdata, reply, UMC_BUSAPI_CHANNEL_SIG, row_channel);
}

static int property_get_rejected(sd_bus *bus, const char *path, const char *interface,
                                 const char *property, sd_bus_message *reply, void *userdata,
                                 sd_bus_error *error) {
        return append_per_target(userdata, reply, "(st)", row_rejected);
}

static void snap_fill(struct target_snap *s, const struct umc_target_status *t) {
        *s = (struct target_snap){
                .percent = t->percent,
                .bytes_done = t->bytes_done,
                .bytes_total = t->bytes_total,
                .rate = t->rate,
                .phase = t->phase,
                .suite = t->suite,
                .key_id = t->key_id,
                .load_percent = t->load_percent,
                .load_class = t->load_class,
                .rejected_frames = t->rejected_frames,
        };
}

static bool snap_targets_differ(const struct target_snap *a, const struct target_snap *b) {
        return a->percent != b->percent || a->bytes_done != b->bytes_done ||
               a->bytes_total != b->bytes_total || a->rate != b->rate || a->phase != b->phase;
}

static bool snap_channels_differ(const struct target_snap *a, const struct target_snap *b) {
        return a->suite != b->suite || a->key_id != b->key_id ||
               a->load_percent != b->load_percent || a->load_class != b->load_class;
}

/* Copy s into *p unless equal; true when it changed (or on -ENOMEM in *ret_r). */
static bool update_string(char **p, const char *s, int *ret_r) {
        char *copy;

        if (*p && strcmp(*p, s) == 0)
                return false;
        copy = strdup(s);
        if (!copy) {
                *ret_r = -ENOMEM;
                return false;
        }
        free(*p);
        *p = copy;
        return true;
}

/* Refresh what Get returns from the manager. */
static int update_current(struct umc_dbus *d) {
        char buf[WHY_MAX];
        int r = 0;

        d->operation = operation_name(umc_manager_operation(d->manager));
        d->progress = umc_manager_percent(d->manager);
        (void)update_string(&d->last_error,
                            ascii_text(umc_manager_last_error(d->manager), buf, sizeof(buf)), &r);
        return r;
}

/*
 * Compare the manager with what was announced last and remember the new
 * state; names (room for 7 + NULL) gets the properties that differ.
 */
static int diff_announced(struct umc_dbus *d, const char **names) {
        _cleanup_free_ struct target_snap *snaps = NULL;
        size_t n = umc_manager_n_targets(d->manager), k = 0;
        bool targets = n != d->n_snaps, channels = n != d->n_snaps, rejected = n != d->n_snaps;
        int r = 0;

        if (n > 0) {
                snaps = calloc(n, sizeof(*snaps));
                if (!snaps)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                struct umc_target_status t;

                r = umc_manager_target_status(d->manager, i, &t);
                if (r < 0)
                        return r;
                snap_fill(&snaps[i], &t);
                if (i < d->n_snaps) {
                        targets = targets || snap_targets_differ(&snaps[i], &d->snaps[i]);
                        channels = channels || snap_channels_differ(&snaps[i], &d->snaps[i]);
                        rejected = rejected ||
                                   snaps[i].rejected_frames != d->snaps[i].rejected_frames;
                }
        }
        if (update_string(&d->sent_last_error, d->last_error, &r))
                names[k++] = "LastError";
        if (r < 0)
                return r;
        if (d->sent_operation != d->operation)
                names[k++] = "Operation";
        if (d->sent_progress != d->progress)
                names[k++] = "Progress";
        if (targets)
                names[k++] = "Targets";
        if (channels)
                names[k++] = "Channels";
        if (rejected)
                names[k++] = "RejectedFrames";
        names[k] = NULL;
        d->sent_operation = d->operation;
        d->sent_progress = d->progress;
        free(d->snaps);
        d->snaps = TAKE_PTR(snaps);
        d->n_snaps = n;
        return 0;
}

/* Emit PropertiesChanged for whatever changed since the last one, now. */
static void flush_properties(struct umc_dbus *d) {
        const char *names[8];
        int r;

        d->flush_pending = false;
        d->last_flush_usec = umc_now_monotonic_usec();
        (void)sd_event_source_set_enabled(d->flush_defer, SD_EVENT_OFF);
        (void)sd_event_source_set_enabled(d->flush_timer, SD_EVENT_OFF);
        r = update_current(d);
        if (r >= 0)
                r = diff_announced(d, names);
        if (r < 0) {
                (void)log_warning_errno(r, "D-Bus: failed to read the manager's state: %m");
                return;
        }
        if (!names[0])
                return;
        r = sd_bus_emit_properties_changed_strv(d->bus, UMC_DBUS_PATH, UMC_DBUS_INTERFACE,
                                                (char **)names);
        if (r < 0)
                (void)log_warning_errno(r, "D-Bus: failed to emit PropertiesChanged: %m");
}

static int on_flush_defer(sd_event_source *s, void *userdata) {
        flush_properties(userdata);
        return 0;
}

static int on_flush_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        flush_properties(userdata);
        return 0;
}

/*
 * At most one PropertiesChanged per UMC_DBUS_SIGNAL_INTERVAL_USEC: the
 * manager reports every acknowledged checkpoint, which on a fast link is
 * far more than an HMI can use. Alarm and Completed flush at once.
 */
static int schedule_flush(struct umc_dbus *d) {
        uint64_t now = umc_now_monotonic_usec();
        uint64_t next = d->last_flush_usec + UMC_DBUS_SIGNAL_INTERVAL_USEC;
        int r;

        if (d->flush_pending)
                return 0;
        if (d->last_flush_usec == 0 || now >= next)
                r = sd_event_source_set_enabled(d->flush_defer, SD_EVENT_ONESHOT);
        else {
                r = sd_event_source_set_time(d->flush_timer, next);
                if (r >= 0)
                        r = sd_event_source_set_enabled(d->flush_timer, SD_EVENT_ONESHOT);
        }
        if (r < 0)
                return r;
        d->flush_pending = true;
        return 0;
}

/* ---- manager events -> signals ------------------------------------------------- */

static void on_changed(void *ud) {
        struct umc_dbus *d = ud;
        int r;

        /* Get answers with the new state at once; the announcement may wait a little. */
        r = update_current(d);
        if (r >= 0)
                r = schedule_flush(d);
        if (r < 0)
                (void)log_warning_errno(r, "D-Bus: failed to follow a change of the manager: %m");
}

/*
 * Whether a Progress signal for t goes out now: always on a new phase or
 * percentage, otherwise at most once per UMC_DBUS_SIGNAL_INTERVAL_USEC.
 */
static bool progress_due(struct umc_dbus *d, const struct umc_target_status *t) {
        uint64_t now = umc_now_monotonic_usec();
        struct progress_mark *p = NULL;

        for (size_t i = 0; i < d->n_marks && !p; i++)
                if (strcmp(d->marks[i].name, t->name) == 0)
                        p = &d->marks[i];
        if (!p) {
                if (d->n_marks >= UMC_ELEMENTSOF(d->marks))
                        return true;
                p = &d->marks[d->n_marks++];
                snprintf(p->name, sizeof(p->name), "%s", t->name);
        } else if (p->phase == t->phase && p->percent == t->percent &&
                   now - p->usec < UMC_DBUS_SIGNAL_INTERVAL_USEC)
                return false;
        p->phase = t->phase;
        p->percent = t->percent;
        p->usec = now;
        return true;
}

static void on_progress(void *ud, const struct umc_target_status *t) {
        struct umc_dbus *d = ud;
        int r;

        if (!progress_due(d, t))
                return;
        /*
         * A new Operation is announced before its first Progress (the
         * manager sets every target waiting as it starts): a client sees
         * an installation start before it sees its steps.
         */
        if (operation_name(umc_manager_operation(d->manager)) != d->sent_operation)
                flush_properties(d);
        r = sd_bus_emit_signal(d->bus, UMC_DBUS_PATH, UMC_DBUS_INTERFACE, "Progress", "sutts",
                               t->name, t->percent, t->bytes_done, t->rate, phase_name(t->phase));
        if (r < 0)
                (void)log_warning_errno(r, "D-Bus: failed to emit Progress: %m");
}

static void on_alarm(void *ud, const char *target, enum umc_reason reason, const char *text) {
        struct umc_dbus *d = ud;
        char buf[WHY_MAX];
        int r;


        /* Properties first, so a client reacting to the alarm reads the new state. */
        flush_properties(d);
        r = sd_bus_emit_signal(d->bus, UMC_DBUS_PATH, UMC_DBUS_INTERFACE, "Alarm", "sqs",
                               target ? target : "", (uint16_t)reason,
                               ascii_text(text && *text ? text : umc_reason_to_string((uint16_t)reason),
                                          buf, sizeof(buf)));
        if (r < 0)
                (void)log_warning_errno(r, "D-Bus: failed to emit Alarm: %m");
}

static void on_rotation(void *ud, const char *target, enum umc_suite_id suite, uint16_t key_id,
                        enum umc_rotation_cause cause) {
        struct umc_dbus *d = ud;
        int r;

        r = sd_bus_emit_signal(d->bus, UMC_DBUS_PATH, UMC_DBUS_INTERFACE, "Rotation", "ssqs",
                               target ? target : "", suite_name(suite), key_id, cause_name(cause));
        if (r < 0)
                (void)log_warning_errno(r, "D-Bus: failed to emit Rotation: %m");
}

static void on_completed(void *ud, bool success, enum umc_reason reason, const char *message) {
        struct umc_dbus *d = ud;
        char buf[WHY_MAX];
        const char *result;
        int r;

        if (message && *message)
                result = message;
        else
                result = success ? "success" : umc_reason_to_string((uint16_t)reason);
        flush_properties(d);
        r = sd_bus_emit_signal(d->bus, UMC_DBUS_PATH, UMC_DBUS_INTERFACE, "Completed", "bs",
                               (int)success, ascii_text(result, buf, sizeof(buf)));
        if (r < 0)
                (void)log_warning_errno(r, "D-Bus: failed to emit Completed: %m");
        umc_update_install_completed(d->update, success, reason, message);
}

/* ---- argument checks ----------------------------------------------------------- */

/*
 * D-Bus strings cannot carry a NUL (the wire format forbids it and sd-bus
 * refuses such a message), so the string read is the whole argument.
 */
static int check_path(const char *path, sd_bus_error *error) {
        if (!umc_name_path_valid(path))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "The package path must be absolute, 1..%d bytes, "
                                         "without control characters",
                                         UMC_DBUS_PATH_MAX);
        return 0;
}

struct option_spec {
        const char *key;
        const char *signature;  /* of the variant's contents */
        int (*parse)(sd_bus_message *m, void *ctx, sd_bus_error *error);
};

#define OPTIONS_MAX 8

/*
 * Read an a{sv} options dictionary: every key must be in specs, at most
 * once, with exactly the variant type the spec names. Anything else is
 * InvalidArgs naming the key.
 */
static int read_options(sd_bus_message *m, const struct option_spec *specs, size_t n_specs,
                        void *ctx, sd_bus_error *error) {
        bool seen[OPTIONS_MAX] = { false };
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const char *key, *contents;
                size_t idx;
                char type;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                for (idx = 0; idx < n_specs; idx++)
                        if (strcmp(specs[idx].key, key) == 0)
                                break;
                if (idx == n_specs)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Unknown option '%.*s'", QUOTE_MAX, key);
                if (seen[idx])
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option '%s' given more than once", specs[idx].key);
                seen[idx] = true;
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (type != SD_BUS_TYPE_VARIANT || !contents ||
                    strcmp(contents, specs[idx].signature) != 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option '%s' must be of type '%s', not '%.*s'",
                                                 specs[idx].key, specs[idx].signature, QUOTE_MAX,
                                                 contents ? contents : "");
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r < 0)
                        return r;
                r = specs[idx].parse(m, ctx, error);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}

int umc_dbus_read_no_options(sd_bus_message *m, sd_bus_error *error) {
        return read_options(m, NULL, 0, NULL, error);
}

struct install_options {
        uint8_t manifest_hash[UMC_HASH_LEN];
        bool have_hash;
        /* Point into the message, which outlives the call to the manager. */
        const char *targets[UMC_CONFIG_TARGETS_MAX + 1];
        size_t n_targets;
};

static int parse_manifest_hash(sd_bus_message *m, void *ctx, sd_bus_error *error) {
        struct install_options *o = ctx;
        const char *hex;
        int r;

        r = sd_bus_message_read(m, "s", &hex);
        if (r < 0)
                return r;
        if (umc_hex_decode(hex, strnlen(hex, 2 * UMC_HASH_LEN + 1), o->manifest_hash,
                           sizeof(o->manifest_hash)) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option 'manifest-hash' must be %d hex digits (SHA-256)",
                                         2 * UMC_HASH_LEN);
        o->have_hash = true;
        return 0;
}

static int parse_targets(sd_bus_message *m, void *ctx, sd_bus_error *error) {
        struct install_options *o = ctx;
        const char *name;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "s");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "s", &name)) > 0) {
                if (!umc_name_target_valid(name))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'targets': '%.*s' is not a target name "
                                                 "(1..%d of A-Z a-z 0-9 _ -)",
                                                 QUOTE_MAX, name, UMC_CONFIG_TARGET_NAME_MAX);
                if (o->n_targets >= UMC_CONFIG_TARGETS_MAX)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'targets' names more than %d targets",
                                                 UMC_CONFIG_TARGETS_MAX);
                for (size_t i = 0; i < o->n_targets; i++)
                        if (strcmp(o->targets[i], name) == 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Option 'targets' names '%s' twice", name);
                o->targets[o->n_targets++] = name;
        }
        if (r < 0)
                return r;
        if (o->n_targets == 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option 'targets' must name at least one target");
        o->targets[o->n_targets] = NULL;
        return sd_bus_message_exit_container(m);
}

static const struct option_spec install_options[] = {
        { "manifest-hash", "s", parse_manifest_hash },
        { "targets", "as", parse_targets },
};

/*
 * The operator methods (InspectPackage, Install, Cancel here;
 * CheckForUpdates and InstallUpdate in dbusupdate.c): root, the daemon's own UID (it controls the daemon
 * anyway), or a user whom the user database makes a member of the operator
 * group now (umc_dbus_user_in_group()). The EUID is the broker's:
 * dbus-daemon took it from SO_PEERCRED when the caller connected and
 * answers GetConnectionCredentials with it, so it names the connection and
 * cannot race with the reuse of a PID. No SD_BUS_CREDS_AUGMENT: nothing is
 * read from /proc, which ProtectProc=invisible hides from umcd anyway. The
 * broker has already checked the policy file's group against the groups the
 * caller's process held when it connected; this check adds that the user is
 * still a member, so removing a user from the group takes effect at once.
 * The lookup may ask NSS and blocks the loop for as long as that takes;
 * these methods are rare. Fails closed.
 */
static int check_operator(struct umc_dbus *d, sd_bus_message *m, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t euid;
        int r;

        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &euid);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Cannot tell who called %s(): the bus gave no user ID",
                                         sd_bus_message_get_member(m));
        if (euid == 0 || euid == d->own_uid)
                return 0;
        r = d->operator_gid == (gid_t)-1 ? 0 : umc_dbus_user_in_group(euid, d->operator_gid);
        if (r > 0)
                return 0;
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Cannot look up the groups of user ID %u for %s(): %s",
                                         (unsigned)euid, sd_bus_message_get_member(m),
                                         strerror(-r));
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "Only root and the operator group may call %s()",
                                 sd_bus_message_get_member(m));
}

int umc_dbus_check_operator(struct umc_dbus *d, sd_bus_message *m, sd_bus_error *error) {
        return check_operator(d, m, error);
}

const char *umc_dbus_ascii_text(const char *s, char *buf, size_t size) {
        return ascii_text(s, buf, size);
}

sd_bus *umc_dbus_get_bus(struct umc_dbus *d) {
        return d->bus;
}

void umc_dbus_set_update(struct umc_dbus *d, struct umc_update *u) {
        d->update = u;
}

/* The manager's refusal of a package, as io.umc.Error.BadPackage with its reason. */
static int package_error(int r, const char *why, sd_bus_error *error) {
        char buf[WHY_MAX];

        if (r == -ENOMEM)
                return r;
        if (r == -EACCES && why[0]) /* outside PackageDirectory= */
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "%s",
                                         ascii_text(why, buf, sizeof(buf)));
        if (r == -EINVAL && why[0])
                return sd_bus_error_setf(error, UMC_DBUS_ERROR_BAD_PACKAGE, "%s",
                                         ascii_text(why, buf, sizeof(buf)));
        if (r == -E2BIG)
                return sd_bus_error_setf(error, UMC_DBUS_ERROR_BAD_PACKAGE,
                                         "manifest.json is larger than %d bytes",
                                         UMC_MANIFEST_MAX_BYTES);
        return sd_bus_error_setf(error, UMC_DBUS_ERROR_BAD_PACKAGE, "Cannot read the package: %s",
                                 strerror(-r));
}

/* ---- methods ------------------------------------------------------------------- */

static int row_list_target(sd_bus_message *reply, const struct umc_target_status *t) {
        return sd_bus_message_append(reply, "(sussssuttt)", t->name, t->ecu_id, t->channel,
                                     t->address, t->version ? t->version : "", phase_name(t->phase),
                                     t->percent, t->bytes_done, t->bytes_total, t->rate);
}

static int method_list_targets(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = append_per_target(userdata, reply, "(sussssuttt)", row_list_target);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static const char *slot_text(char slot) {
        return slot == 'a' ? "a" : slot == 'b' ? "b" : "";
}

static int append_slots(sd_bus_message *reply, const struct umc_target_slots *s) {
        char va[UMC_MSG_VERSION_MAX + 1], vb[UMC_MSG_VERSION_MAX + 1], vp[UMC_MSG_VERSION_MAX + 1];

        /* Printable ASCII already (the STATUS decoder checked); ascii_text() costs nothing. */
        return sd_bus_message_append(reply, "(sbssssssttut)", s->name, s->reported,
                                     !s->reported ? "" : s->gateway ? "gateway" : "ecu",
                                     slot_text(s->active), ascii_text(s->version_a, va, sizeof(va)),
                                     ascii_text(s->version_b, vb, sizeof(vb)),
                                     slot_text(s->previous),
                                     s->partial ? ascii_text(s->partial_version, vp, sizeof(vp)) : "",
                                     s->partial_offset, s->partial_len,
                                     (uint32_t)(s->partial_age_sec > UINT32_MAX ? UINT32_MAX
                                                                                : s->partial_age_sec),
                                     s->reported_usec);
}

static int method_list_slots(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct umc_dbus *d = userdata;
        size_t n = umc_manager_n_targets(d->manager);
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(sbssssssttut)");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                struct umc_target_slots s;

                r = umc_manager_target_slots(d->manager, i, &s);
                if (r >= 0)
                        r = append_slots(reply, &s);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int reply_manifest(sd_bus_message *m, const struct umc_manifest *man) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char hex[2 * UMC_HASH_LEN + 1];
        int r;

        umc_hex_encode(man->hash, sizeof(man->hash), hex);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "ss", man->name, hex);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssst)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < man->n_images; i++) {
                const struct umc_manifest_image *img = &man->images[i];

                r = sd_bus_message_append(reply, "(ssst)", img->target, img->version, img->file,
                                          img->size);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_inspect_package(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(umc_manifest_free) struct umc_manifest man = { 0 };
        struct umc_dbus *d = userdata;
        char why[WHY_MAX] = "";
        const char *path;
        int r;

        /* It reads files with umcd's rights: only those who may install may look. */
        r = check_operator(d, m, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", &path);
        if (r < 0)
                return r;
        r = check_path(path, error);
        if (r < 0)
                return r;
        /* No option is defined yet: any key is refused. */
        r = read_options(m, NULL, 0, NULL, error);
        if (r < 0)
                return r;

        r = umc_manager_inspect(d->manager, path, &man, why, sizeof(why));
        if (r < 0)
                return package_error(r, why, error);
        return reply_manifest(m, &man);
}

static int method_install(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct install_options o = { .have_hash = false };
        struct umc_dbus *d = userdata;
        char why[WHY_MAX] = "", buf[WHY_MAX];
        const char *path;
        int r;

        r = check_operator(d, m, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", &path);
        if (r < 0)
                return r;
        r = check_path(path, error);
        if (r < 0)
                return r;
        r = read_options(m, install_options, UMC_ELEMENTSOF(install_options), &o, error);
        if (r < 0)
                return r;

        r = umc_manager_install(d->manager, path, o.have_hash ? o.manifest_hash : NULL,
                                o.n_targets > 0 ? o.targets : NULL, why, sizeof(why));
        if (r == -EBUSY)
                return sd_bus_error_setf(error, UMC_DBUS_ERROR_BUSY, "Refused: %s",
                                         why[0] ? ascii_text(why, buf, sizeof(buf))
                                                : "another operation is running");
        if (r < 0)
                return package_error(r, why, error);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct umc_dbus *d = userdata;
        int r;

        r = check_operator(d, m, error);
        if (r < 0)
                return r;
        r = umc_manager_cancel(d->manager);
        if (r == -ENOENT)
                return sd_bus_error_setf(error, UMC_DBUS_ERROR_NOT_RUNNING,
                                         "No installation is running");
        /* -EALREADY: a cancellation is under way, which is what the caller wants. */
        if (r < 0 && r != -EALREADY)
                return r;
        return sd_bus_reply_method_return(m, NULL);
}

/*
 * Every method is UNPRIVILEGED for sd-bus: on a bus it does not trust
 * (the system bus) sd-bus would otherwise demand CAP_SYS_ADMIN itself
 * (read from the caller's /proc entry), locking out the operator group.
 * InspectPackage, Install and Cancel (and dbusupdate.c's CheckForUpdates
 * and InstallUpdate) check the caller in check_operator() instead; the
 * policy file guards them at the broker.
 */
static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("ListTargets", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sussssuttt)", targets), method_list_targets,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListSlots", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sbssssssttut)", slots), method_list_slots,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("InspectPackage", SD_BUS_ARGS("s", path, "a{sv}", options),
                                SD_BUS_RESULT("s", name, "s", manifest_hash, "a(ssst)", images),
                                method_inspect_package, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Install", SD_BUS_ARGS("s", path, "a{sv}", options),
                                SD_BUS_NO_RESULT, method_install, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_cancel,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("Version", "s", NULL, offsetof(struct umc_dbus, version),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Operation", "s", NULL, offsetof(struct umc_dbus, operation),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Progress", "u", NULL, offsetof(struct umc_dbus, progress),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Targets", "a" UMC_BUSAPI_TARGET_SIG, property_get_targets, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Channels", "a" UMC_BUSAPI_CHANNEL_SIG, property_get_channels, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RejectedFrames", "a(st)", property_get_rejected, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastError", "s", NULL, offsetof(struct umc_dbus, last_error),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_SIGNAL_WITH_ARGS("Progress",
                                SD_BUS_ARGS("s", target, "u", percent, "t", bytes, "t", rate, "s",
                                            phase),
                                0),
        SD_BUS_SIGNAL_WITH_ARGS("Alarm", SD_BUS_ARGS("s", target, "q", reason, "s", text), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Rotation",
                                SD_BUS_ARGS("s", target, "s", suite, "q", key_id, "s", cause), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Completed", SD_BUS_ARGS("b", success, "s", result), 0),
        SD_BUS_VTABLE_END,
};

/* ---- life cycle ---------------------------------------------------------------- */

/* Group entries with many members need more than the first guess: grow up to 1 MiB. */
#define GROUP_BUF_START 4096
#define GROUP_BUF_MAX (1024 * 1024)

int umc_dbus_resolve_group(const char *name, gid_t *ret_gid) {
        size_t size = GROUP_BUF_START;

        if (!name || !name[0] || !ret_gid)
                return -EINVAL;
        for (;;) {
                _cleanup_free_ char *buf = malloc(size);
                struct group grp, *res = NULL;
                int r;

                if (!buf)
                        return -ENOMEM;
                r = getgrnam_r(name, &grp, buf, size, &res);
                if (r == ERANGE && size < GROUP_BUF_MAX) {
                        size *= 2;
                        continue;
                }
                if (r != 0)
                        return -r;
                if (!res)
                        return -ENOENT;
                *ret_gid = res->gr_gid;
                return 0;
        }
}

/* getpwuid_r() into a buffer that grows like the group one; *ret_buf backs *ret_pw. */
static int lookup_user(uid_t uid, struct passwd *ret_pw, char **ret_buf) {
        size_t size = GROUP_BUF_START;

        for (;;) {
                _cleanup_free_ char *buf = malloc(size);
                struct passwd *res = NULL;
                int r;

                if (!buf)
                        return -ENOMEM;
                r = getpwuid_r(uid, ret_pw, buf, size, &res);
                if (r == ERANGE && size < GROUP_BUF_MAX) {
                        size *= 2;
                        continue;
                }
                if (r != 0)
                        return -r;
                if (!res)
                        return -ENOENT;
                *ret_buf = TAKE_PTR(buf);
                return 0;
        }
}

int umc_dbus_user_in_group(uid_t uid, gid_t gid) {
        _cleanup_free_ char *buf = NULL;
        struct passwd pw;
        int n = 64, r;

        r = lookup_user(uid, &pw, &buf);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (pw.pw_gid == gid)
                return 1;
        for (;;) {
                _cleanup_free_ gid_t *groups = calloc((size_t)n, sizeof(*groups));
                int want = n;

                if (!groups)
                        return -ENOMEM;
                if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &want) >= 0) {
                        for (int i = 0; i < want; i++)
                                if (groups[i] == gid)
                                        return 1;
                        return 0;
                }
                /* -1: want is now the number of groups the user has. */
                if (want <= n || want > NGROUPS_MAX)
                        return -E2BIG;
                n = want;
        }
}

struct umc_dbus *umc_dbus_free(struct umc_dbus *d) {
        if (!d)
                return NULL;
        if (d->events_set)
                umc_manager_set_events(d->manager, &(struct umc_manager_events){ .userdata = NULL });
        if (d->name_requested)
                (void)sd_bus_release_name_async(d->bus, NULL, UMC_DBUS_NAME, NULL, NULL);
        sd_bus_slot_unref(d->vtable_slot);
        sd_event_source_disable_unref(d->flush_defer);
        sd_event_source_disable_unref(d->flush_timer);
        if (d->attached_event)
                (void)sd_bus_detach_event(d->bus);
        sd_bus_unref(d->bus);
        free(d->last_error);
        free(d->sent_last_error);
        free(d->snaps);
        free(d);
        return NULL;
}

static void umc_dbus_freep(struct umc_dbus **d) {
        umc_dbus_free(*d);
}

int umc_dbus_attach(struct umc_manager *m, sd_bus *bus, struct umc_dbus **ret) {
        _cleanup_(umc_dbus_freep) struct umc_dbus *d = NULL;
        sd_event *e, *be;
        const char *unused[7];
        struct umc_manager_events ev;
        int r;

        if (!m || !bus || !ret)
                return -EINVAL;
        e = umc_manager_get_event(m);
        if (!e)
                return -EINVAL;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->manager = m;
        d->bus = sd_bus_ref(bus);
        d->own_uid = geteuid();
        d->operator_gid = (gid_t)-1; /* until umcd sets [Daemon] OperatorGroup= */
        d->version = UMC_VERSION;

        be = sd_bus_get_event(bus);
        if (!be) {
                r = sd_bus_attach_event(bus, e, SD_EVENT_PRIORITY_NORMAL);
                if (r < 0)
                        return r;
                d->attached_event = true;
        } else if (be != e)
                return -EBUSY;

        /* Ahead of the bus's own source: announcements go out before the next call is served. */
        r = sd_event_add_defer(e, &d->flush_defer, on_flush_defer, d);
        if (r >= 0)
                r = sd_event_source_set_priority(d->flush_defer, SD_EVENT_PRIORITY_IMPORTANT);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->flush_defer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time(e, &d->flush_timer, CLOCK_MONOTONIC, UINT64_MAX, 0,
                                      on_flush_timer, d);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->flush_timer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        (void)sd_event_source_set_description(d->flush_defer, "dbus-properties");
        (void)sd_event_source_set_description(d->flush_timer, "dbus-properties-throttle");
        /* The announced state starts as the current one: nothing to announce yet. */
        r = update_current(d);
        if (r >= 0)
                r = diff_announced(d, unused);
        if (r < 0)
                return r;

        r = sd_bus_add_object_vtable(bus, &d->vtable_slot, UMC_DBUS_PATH, UMC_DBUS_INTERFACE,
                                     manager_vtable, d);
        if (r < 0)
                return r;

        /* The object exists before the name, so no call can find io.umc without it. */
        r = sd_bus_request_name(bus, UMC_DBUS_NAME, 0);
        if (r < 0)
                return r;
        d->name_requested = true;

        /* Last: a failure above leaves whoever listens to the manager undisturbed. */
        ev = (struct umc_manager_events){
                .changed = on_changed,
                .progress = on_progress,
                .alarm = on_alarm,
                .rotation = on_rotation,
                .completed = on_completed,
                .userdata = d,
        };
        umc_manager_set_events(m, &ev);
        d->events_set = true;

        *ret = TAKE_PTR(d);
        return 0;
}

void umc_dbus_set_operator_gid(struct umc_dbus *d, gid_t gid) {
        if (d)
                d->operator_gid = gid;
}
