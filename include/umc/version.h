/* SPDX-License-Identifier: MIT */
/*
 * The one version of umc: what umcd reports in the D-Bus Version property
 * and what every binary prints for --version. A build may override it
 * (-DUMC_VERSION=...).
 */
#pragma once

#ifndef UMC_VERSION
#define UMC_VERSION "0.3.0"
#endif
