/* SPDX-License-Identifier: MIT */
/*
 * Validity of the names and paths that cross a trust boundary (D-Bus
 * arguments, config values, manifests, state files, sysfs lookups). One
 * definition each, so every door applies the same rule. All accept NULL
 * (invalid) and never read more than the maximum length plus one byte.
 */
#pragma once

#include <stdbool.h>

#define UMC_NAME_TARGET_MAX 31   /* fits struct umc_ecu.name */
#define UMC_NAME_VERSION_MAX 64

/* A target name: 1..31 of [A-Za-z0-9_-] (config sections, manifests, file names). */
bool umc_name_target_valid(const char *s);

/* An absolute path shorter than PATH_MAX without control characters. */
bool umc_name_path_valid(const char *s);

/*
 * A network interface name as the kernel's dev_valid_name() accepts it:
 * 1..IFNAMSIZ-1 bytes, no '/', ':' or white space, not "." or ".." (which
 * would climb out of /sys/class/net).
 */
bool umc_name_ifname_valid(const char *s);

/* A version string: 1..64 printable ASCII characters without spaces. */
bool umc_name_version_valid(const char *s);
