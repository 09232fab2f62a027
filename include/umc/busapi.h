/* SPDX-License-Identifier: MIT */
/*
 * What umcd's D-Bus interface and its clients share: the names (bus name
 * io.umc, object /io/umc/Manager, interface io.umc.Manager1, error names),
 * the limits the daemon applies to arguments, the version, and the rows of
 * the Targets and Channels properties. docs/io.umc.Manager1.xml is the
 * interface itself. umcd's side is dbus.h; umcctl (ctl.h) includes only
 * this header, so a client builds without the daemon's headers.
 *
 * The two property rows are written by umcd (umc_busapi_append_*()) and
 * read by umcctl (umc_busapi_read_*()) with one struct and one signature
 * each, so the two sides cannot drift. Ownership: a row read from a
 * message points into it and lives as long as the message.
 */
#pragma once

#include <stdint.h>

#include <systemd/sd-bus.h>

#include "umc/version.h"

#define UMC_DBUS_NAME "io.umc"
#define UMC_DBUS_PATH "/io/umc/Manager"
#define UMC_DBUS_INTERFACE "io.umc.Manager1"

#define UMC_DBUS_ERROR_BUSY "io.umc.Error.Busy"
#define UMC_DBUS_ERROR_BAD_PACKAGE "io.umc.Error.BadPackage"
#define UMC_DBUS_ERROR_NOT_RUNNING "io.umc.Error.NotRunning"
#define UMC_DBUS_ERROR_NO_CLOUD "io.umc.Error.NotConfigured"  /* no [Cloud] in umcd.conf */
#define UMC_DBUS_ERROR_CLOUD "io.umc.Error.Cloud"             /* the check or download failed */
#define UMC_DBUS_ERROR_NOT_OFFERED "io.umc.Error.NotOffered"  /* not the update umcd offered */

/* Longest package path a method accepts: PATH_MAX less the NUL. */
#define UMC_DBUS_PATH_MAX 4095
/*
 * Most targets a call names and a per-target property lists: the config's
 * limit (UMC_CONFIG_TARGETS_MAX, config.h; dbus.c checks the two agree).
 */
#define UMC_DBUS_TARGETS_MAX 256


/* One element of the Targets property: name, percent, bytes done, bytes total, rate, phase. */
#define UMC_BUSAPI_TARGET_SIG "(suttts)"
struct umc_busapi_target {
        const char *name;
        uint32_t percent;
        uint64_t done, total, rate;    /* bytes, bytes, bytes per second */
        const char *phase;
};

/* One element of the Channels property: name, suite, key ID, load percent, load class. */
#define UMC_BUSAPI_CHANNEL_SIG "(ssqds)"
struct umc_busapi_channel {
        const char *name, *suite;
        uint16_t key_id;
        double load;                   /* percent of the link or bus */
        const char *load_class;
};

/* Append one row to m, inside the property's array. sd-bus's negative errno on failure. */
int umc_busapi_append_target(sd_bus_message *m, const struct umc_busapi_target *t);
int umc_busapi_append_channel(sd_bus_message *m, const struct umc_busapi_channel *c);

/*
 * Read the next row of the property's array (entered by the caller) into
 * *ret: 1 when a row was read, 0 at the end of the array, or sd-bus's
 * negative errno for a message that does not match the signature.
 */
int umc_busapi_read_target(sd_bus_message *m, struct umc_busapi_target *ret);
int umc_busapi_read_channel(sd_bus_message *m, struct umc_busapi_channel *ret);
