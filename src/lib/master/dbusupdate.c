/* SPDX-License-Identifier: MIT */
#include "umc/dbusupdate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "umc/log.h"
#include "umc/util.h"

#define PENDING_MAX 8
#define WHY_MAX 512

struct umc_dbus_update {
        struct umc_dbus *dbus;        /* borrowed */
        struct umc_update *update;    /* borrowed, NULL: no cloud */
        sd_bus_slot *slot;
        sd_bus_message *pending[PENDING_MAX]; /* CheckForUpdates calls waiting for the answer */
        size_t n_pending;
        const char *sent_state;
        uint32_t sent_percent;
};

static int append_offer(sd_bus_message *m, const struct umc_update_offer *o) {
        char hex[2 * UMC_HASH_LEN + 1] = "";
        int r;

        if (o)
                umc_hex_encode(o->hash, UMC_HASH_LEN, hex);
        r = sd_bus_message_append(m, "ss", o ? o->version : "", hex);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sss)");
        for (size_t i = 0; r >= 0 && o && i < o->n_targets; i++)
                r = sd_bus_message_append(m, "(sss)", o->targets[i].target, o->targets[i].current,
                                          o->targets[i].offered);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* ---- events from the update ---- */

static void on_changed(void *ud) {
        struct umc_dbus_update *du = ud;
        const char *state = umc_update_state_to_string(umc_update_get_state(du->update));
        uint32_t pct = umc_update_download_percent(du->update);
        int r;

        if (state == du->sent_state && pct == du->sent_percent)
                return;
        du->sent_state = state;
        du->sent_percent = pct;
        r = sd_bus_emit_properties_changed(umc_dbus_get_bus(du->dbus), UMC_DBUS_PATH,
                                           UMC_DBUS_INTERFACE, "UpdateState", "DownloadProgress",
                                           NULL);
        if (r < 0)
                (void)log_warning_errno(r, "D-Bus: failed to announce UpdateState: %m");
}

static const char *error_name(enum umc_reason reason) {
        return (reason & 0xff00) == 0x0700 || reason == UMC_REASON_IMAGE_HASH_MISMATCH
                       ? UMC_DBUS_ERROR_BAD_PACKAGE
                       : UMC_DBUS_ERROR_CLOUD;
}

static void reply_pending(struct umc_dbus_update *du, int error, enum umc_reason reason,
                          const char *why, const struct umc_update_offer *offer) {
        char buf[WHY_MAX];

        for (size_t i = 0; i < du->n_pending; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                sd_bus_message *call = du->pending[i];
                int r;

                if (error < 0)
                        r = sd_bus_reply_method_errorf(call, error_name(reason), "%s",
                                                       umc_dbus_ascii_text(why, buf, sizeof(buf)));
                else {
                        r = sd_bus_message_new_method_return(call, &reply);
                        if (r >= 0)
                                r = sd_bus_message_append(reply, "b", offer != NULL);
                        if (r >= 0)
                                r = append_offer(reply, offer);
                        if (r >= 0)
                                r = sd_bus_send(NULL, reply, NULL);
                }
                if (r < 0)
                        (void)log_warning_errno(r, "D-Bus: cannot answer CheckForUpdates: %m");
                sd_bus_message_unref(call);
        }
        du->n_pending = 0;
}

static void on_checked(void *ud, int error, enum umc_reason reason, const char *why,
                       const struct umc_update_offer *offer) {
        struct umc_dbus_update *du = ud;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        sd_bus *bus = umc_dbus_get_bus(du->dbus);
        int r = 0;

        if (offer) {
                r = sd_bus_message_new_signal(bus, &sig, UMC_DBUS_PATH, UMC_DBUS_INTERFACE,
                                              "UpdateAvailable");
                if (r >= 0)
                        r = append_offer(sig, offer);
                if (r >= 0)
                        r = sd_bus_send(bus, sig, NULL);
        }
        if (r < 0)
                (void)log_warning_errno(r, "D-Bus: failed to emit UpdateAvailable: %m");
        reply_pending(du, error, reason, why, offer);
}

static void on_finished(void *ud, bool success, enum umc_reason reason, const char *message) {
        struct umc_dbus_update *du = ud;
        char buf[WHY_MAX];
        int r;

        on_changed(du);
        r = sd_bus_emit_signal(umc_dbus_get_bus(du->dbus), UMC_DBUS_PATH, UMC_DBUS_INTERFACE,
                               "UpdateFinished", "bqs", (int)success,
                               (uint16_t)(success ? UMC_REASON_OK : reason),
                               umc_dbus_ascii_text(message, buf, sizeof(buf)));
        if (r < 0)
                (void)log_warning_errno(r, "D-Bus: failed to emit UpdateFinished: %m");
}

/* ---- methods ---- */

static int need_cloud(struct umc_dbus_update *du, sd_bus_message *m, sd_bus_error *error) {
        int r = umc_dbus_check_operator(du->dbus, m, error);

        if (r < 0)
                return r;
        if (!du->update)
                return sd_bus_error_setf(error, UMC_DBUS_ERROR_NO_CLOUD,
                                         "No cloud is configured: umcd.conf has no [Cloud] BaseUrl=");
        return 0;
}

static int method_check(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct umc_dbus_update *du = userdata;
        char why[WHY_MAX] = "", buf[WHY_MAX];
        int r;

        r = need_cloud(du, m, error);
        if (r >= 0)
                r = umc_dbus_read_no_options(m, error);
        if (r < 0)
                return r;
        if (du->n_pending == PENDING_MAX)
                return sd_bus_error_setf(error, UMC_DBUS_ERROR_BUSY,
                                         "Refused: %d callers already wait for this check",
                                         PENDING_MAX);
        /* Queued first: a check that fails at once answers it. A check under way answers it too. */
        du->pending[du->n_pending++] = sd_bus_message_ref(m);
        if (umc_update_get_state(du->update) == UMC_UPDATE_CHECKING)
                return 1;
        r = umc_update_check(du->update, why, sizeof(why));
        if (r < 0) {
                sd_bus_message_unref(du->pending[--du->n_pending]);
                return sd_bus_error_setf(error, UMC_DBUS_ERROR_BUSY, "Refused: %s",
                                         umc_dbus_ascii_text(why, buf, sizeof(buf)));
        }
        return 1;
}

static int method_install_update(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct umc_dbus_update *du = userdata;
        char why[WHY_MAX] = "", buf[WHY_MAX];
        uint8_t hash[UMC_HASH_LEN];
        const char *hex;
        int r;

        r = need_cloud(du, m, error);
        if (r >= 0)
                r = sd_bus_message_read(m, "s", &hex);
        if (r < 0)
                return r;
        if (umc_hex_decode(hex, strnlen(hex, 2 * UMC_HASH_LEN + 1), hash, sizeof(hash)) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "manifest_hash must be %d hex digits", 2 * UMC_HASH_LEN);
        r = umc_dbus_read_no_options(m, error);
        if (r < 0)
                return r;
        r = umc_update_install(du->update, hash, why, sizeof(why));
        if (r == -EBUSY)
                return sd_bus_error_setf(error, UMC_DBUS_ERROR_BUSY, "Refused: %s",
                                         umc_dbus_ascii_text(why, buf, sizeof(buf)));
        if (r == -ENOENT || r == -ESTALE)
                return sd_bus_error_setf(error, UMC_DBUS_ERROR_NOT_OFFERED, "%s",
                                         umc_dbus_ascii_text(why, buf, sizeof(buf)));
        if (r < 0)
                return sd_bus_error_setf(error, UMC_DBUS_ERROR_CLOUD, "%s",
                                         umc_dbus_ascii_text(why[0] ? why : strerror(-r), buf,
                                                             sizeof(buf)));
        return sd_bus_reply_method_return(m, NULL);
}

static int property_state(sd_bus *bus, const char *path, const char *interface,
                          const char *property, sd_bus_message *reply, void *userdata,
                          sd_bus_error *error) {
        struct umc_dbus_update *du = userdata;

        return sd_bus_message_append(reply, "s",
                                     du->update ? umc_update_state_to_string(
                                                          umc_update_get_state(du->update))
                                                : "unconfigured");
}

static int property_progress(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        struct umc_dbus_update *du = userdata;

        return sd_bus_message_append(reply, "u", umc_update_download_percent(du->update));
}

/* UNPRIVILEGED for sd-bus, as dbus.c's methods: the operator check is ours. */
static const sd_bus_vtable update_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("CheckForUpdates", SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_RESULT("b", available, "s", version, "s", manifest_hash,
                                              "a(sss)", targets),
                                method_check, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("InstallUpdate", SD_BUS_ARGS("s", manifest_hash, "a{sv}", options),
                                SD_BUS_NO_RESULT, method_install_update,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("UpdateState", "s", property_state, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DownloadProgress", "u", property_progress, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_SIGNAL_WITH_ARGS("UpdateAvailable",
                                SD_BUS_ARGS("s", version, "s", manifest_hash, "a(sss)", targets),
                                0),
        SD_BUS_SIGNAL_WITH_ARGS("UpdateFinished",
                                SD_BUS_ARGS("b", success, "q", reason, "s", message), 0),
        SD_BUS_VTABLE_END,
};

int umc_dbus_update_attach(struct umc_dbus *d, struct umc_update *u,
                           struct umc_dbus_update **ret) {
        struct umc_dbus_update *du;
        int r;

        if (!d || !ret)
                return -EINVAL;
        du = calloc(1, sizeof(*du));
        if (!du)
                return -ENOMEM;
        du->dbus = d;
        du->update = u;
        r = sd_bus_add_object_vtable(umc_dbus_get_bus(d), &du->slot, UMC_DBUS_PATH,
                                     UMC_DBUS_INTERFACE, update_vtable, du);
        if (r < 0) {
                free(du);
                return r;
        }
        umc_update_set_events(u, &(struct umc_update_events){ .changed = on_changed,
                                                              .checked = on_checked,
                                                              .finished = on_finished,
                                                              .userdata = du });
        umc_dbus_set_update(d, u);
        *ret = du;
        return 0;
}

void umc_dbus_update_free(struct umc_dbus_update *du) {
        if (!du)
                return;
        umc_update_set_events(du->update, NULL);
        umc_dbus_set_update(du->dbus, NULL);
        for (size_t i = 0; i < du->n_pending; i++)
                sd_bus_message_unref(du->pending[i]);
        sd_bus_slot_unref(du->slot);
        free(du);
}
