/* SPDX-License-Identifier: MIT */
/*
 * The cloud update's part of io.umc.Manager1 (docs/io.umc.Manager1.xml):
 * a second vtable on the same object and interface, so the update
 * (update.h) stays out of dbus.c. Methods CheckForUpdates and
 * InstallUpdate (operator-only, like Install), signals UpdateAvailable and
 * UpdateFinished, properties UpdateState and DownloadProgress.
 *
 * CheckForUpdates answers when the check ends (umcctl waits for it);
 * several callers during one check share its answer. A struct
 * umc_dbus_update borrows d and u, which must outlive it; it sets u's
 * events. umc_dbus_update_free() accepts NULL.
 */
#pragma once

#include "umc/dbus.h"
#include "umc/update.h"


struct umc_dbus_update;

/* u may be NULL (no [Cloud]): the methods then answer NotConfigured. */
int umc_dbus_update_attach(struct umc_dbus *d, struct umc_update *u,
                           struct umc_dbus_update **ret);
void umc_dbus_update_free(struct umc_dbus_update *du);
