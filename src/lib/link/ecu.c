/* SPDX-License-Identifier: MIT */
#include "umc/ecu.h"

#include <string.h>

#include "umc/util.h"

const struct umc_ecu *umc_ecu_find(const struct umc_ecu *ecus, size_t n, uint32_t ecu_id) {
        for (size_t i = 0; i < n; i++)
                if (ecus[i].ecu_id == ecu_id)
                        return &ecus[i];
        return NULL;
}

/*
 * Both strings zero-padded into equal fixed buffers and compared whole:
 * the time is the same for every content and every length up to the
 * maximum; the lengths (not secret) are compared separately.
 */
static bool hwid_equal(const char *stored, const char *offered) {
        char a[UMC_HWID_MAX] = {}, b[UMC_HWID_MAX] = {};
        size_t la = strnlen(stored, UMC_HWID_MAX + 1), lb = strnlen(offered, UMC_HWID_MAX + 1);
        bool eq;

        memcpy(a, stored, la < UMC_HWID_MAX ? la : UMC_HWID_MAX);
        memcpy(b, offered, lb < UMC_HWID_MAX ? lb : UMC_HWID_MAX);
        eq = umc_memeq_ct(a, b, sizeof(a));
        return eq && la == lb && la > 0 && la <= UMC_HWID_MAX;
}

enum umc_reason umc_ecu_check(const struct umc_ecu *ecus, size_t n, uint32_t ecu_id,
                              const char *hw_id, const struct umc_ecu **ret) {
        const struct umc_ecu *e = umc_ecu_find(ecus, n, ecu_id);

        if (!e)
                return UMC_REASON_ECU_UNKNOWN;
        if (!hw_id || !hwid_equal(e->hw_id, hw_id))
                return UMC_REASON_ECU_HW_MISMATCH;
        if (ret)
                *ret = e;
        return UMC_REASON_OK;
}
