/* SPDX-License-Identifier: MIT */
/*
 * The D-Bus control surface of umcd: bus name io.umc, object
 * /io/umc/Manager, interface io.umc.Manager1 (docs/io.umc.Manager1.xml is
 * the interface exactly as introspection returns it, and a unit test keeps
 * the two equal). The object is a thin view on struct umc_manager: methods
 * call the manager's operations, manager events become signals and
 * PropertiesChanged.
 *
 * Who may do what: systemd/io.umc.conf lets only root (or the user umc)
 * own io.umc and lets only root and the group umc-operators call the
 * operator methods, InspectPackage, Install, Cancel, CheckForUpdates and
 * InstallUpdate; anyone may read the properties, call ListTargets and
 * ListSlots and receive the signals. The object checks the operator
 * methods again on its own: the caller's UID as the broker recorded
 * it when the caller connected is root, the daemon's own UID, or a user
 * that the user database makes a member of the operator group
 * (umc_dbus_user_in_group()), which umcd resolves from [Daemon]
 * OperatorGroup= (umc_dbus_resolve_group()) and sets with
 * umc_dbus_set_operator_gid(). Nothing is read from /proc.
 *
 * Ownership: umc_dbus_attach() takes a reference on the bus and borrows the
 * manager, which must outlive the returned object; umc_dbus_free() gives
 * both back and accepts NULL.
 *
 * The names, limits and property rows umcd shares with its clients
 * (umcctl) are busapi.h, which this header includes.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

#include "umc/busapi.h"
#include "umc/manager.h"
#include "umc/version.h"

struct umc_dbus;

/* Argument rules shared with umcctl, so it refuses what the daemon would: names.h. */

/*
 * Export m on bus: add the object and its vtable, attach the bus to the
 * manager's event loop (unless it is already attached to that loop),
 * register for the manager's events and request the name io.umc (a
 * synchronous call: done once at startup, after the object exists so that
 * no call can arrive before it). There is no operator group until
 * umc_dbus_set_operator_gid() names one: only root and the daemon's own UID
 * may change anything. Returns 0 and the object in *ret,
 * -EBUSY when the bus is attached to another event loop, -EEXIST when
 * another connection owns io.umc, or sd-bus's negative errno. On failure
 * nothing stays registered.
 */
int umc_dbus_attach(struct umc_manager *m, sd_bus *bus, struct umc_dbus **ret);

/*
 * Unregister the object and the manager events, release the name (without
 * waiting for the answer) and drop the bus reference. Returns NULL; accepts
 * NULL.
 */
struct umc_dbus *umc_dbus_free(struct umc_dbus *d);

/*
 * Make gid the operator group, whose members may call the operator methods
 * (InspectPackage, Install, Cancel, CheckForUpdates, InstallUpdate);
 * (gid_t)-1 allows nobody beyond root and the daemon's own UID. Takes
 * effect with the next call.
 */
void umc_dbus_set_operator_gid(struct umc_dbus *d, gid_t gid);

/*
 * Look the group name up in the group database (getgrnam_r(3), so NSS
 * may be asked: call it at start-up or reload, not per call) and return
 * its GID in *ret_gid. -ENOENT when there is no such group, -EINVAL for an
 * empty or NULL name, -ENOMEM, or getgrnam_r()'s error. *ret_gid is
 * written only on success.
 */
int umc_dbus_resolve_group(const char *name, gid_t *ret_gid);

/* For the update's methods (dbusupdate.h): the operator check, and the bus. */
int umc_dbus_check_operator(struct umc_dbus *d, sd_bus_message *m, sd_bus_error *error);
sd_bus *umc_dbus_get_bus(struct umc_dbus *d);
/* s as printable ASCII ('?' for anything else) in buf, cut at size - 1 bytes: a D-Bus string. */
const char *umc_dbus_ascii_text(const char *s, char *buf, size_t size);
/* Read an a{sv} of options where none is defined: any key is InvalidArgs naming it. */
int umc_dbus_read_no_options(sd_bus_message *m, sd_bus_error *error);

/* Forward the manager's completed event to the cloud update (NULL: none). */
struct umc_update;
void umc_dbus_set_update(struct umc_dbus *d, struct umc_update *u);

/*
 * Is the user uid a member of group gid by the user database: its primary
 * group (getpwuid_r(3)) or a supplementary one (getgrouplist(3)), as NSS
 * says now, whatever groups a process of that user holds? (dbus-daemon
 * judges <policy group="..."> by the groups the calling process held when
 * it connected, where the kernel reports them: SO_PEERGROUPS. A caller of
 * Install passes both.) Returns 1 when it is, 0 when it is not or when the
 * database knows no such UID, -E2BIG past NGROUPS_MAX groups, -ENOMEM, or
 * the lookup's error. May block on NSS.
 */
int umc_dbus_user_in_group(uid_t uid, gid_t gid);
