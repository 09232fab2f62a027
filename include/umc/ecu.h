/* SPDX-License-Identifier: MIT */
/*
 * ECU identities: the known ECU IDs, each with its hardware identity and
 * key file, and the check of an identity an ECU claims. Tables are plain
 * arrays owned by the caller (the config). No I/O, no global state.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/reason.h"

#define UMC_HWID_MAX 64

struct umc_ecu {
        uint32_t ecu_id;
        char name[32];
        char hw_id[UMC_HWID_MAX + 1];
        char *key_file;           /* owned by the config */
};

/* The first ECU with ecu_id in ecus[0..n), or NULL. Borrowed pointer. */
const struct umc_ecu *umc_ecu_find(const struct umc_ecu *ecus, size_t n, uint32_t ecu_id);

/*
 * ECU_UNKNOWN when ecu_id is not listed, ECU_HW_MISMATCH when hw_id differs
 * (constant-time compare), else OK with *ret (may be NULL) set.
 * The compare covers the whole UMC_HWID_MAX buffer whatever the lengths,
 * so its time depends on neither the content nor where it differs. A
 * hw_id of another length, NULL, or longer than UMC_HWID_MAX is a
 * mismatch, and so is any hw_id against an ECU whose configured hw_id is
 * empty (an unprovisioned identity never matches).
 */
enum umc_reason umc_ecu_check(const struct umc_ecu *ecus, size_t n, uint32_t ecu_id,
                              const char *hw_id, const struct umc_ecu **ret);
