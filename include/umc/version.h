/* SPDX-License-Identifier: MIT */
/*
 * The one version of umc: every binary's --version (umcd, umc-agent,
 * umcctl, umc-pack) and umcd's D-Bus property Version.
 */
#pragma once

#define UMC_VERSION "0.3.0"
