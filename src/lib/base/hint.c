/* SPDX-License-Identifier: MIT */
#include "umc/hint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A peer's string for a log line: printable ASCII, the rest '?', cut to 64 bytes. */
static const char *printable(const char *s, char buf[static 65]) {
        size_t o = 0;

        for (; s && *s && o < 64; s++)
                buf[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
        buf[o] = '\0';
        return buf;
}

const char *umc_hint_auth_refused(char *buf, size_t size, enum umc_reason why,
                                  const struct umc_hint_auth *a) {
        char want[65], got[65];

        switch (why) {
        case UMC_REASON_ECU_AUTH_FAILED:
                (void)snprintf(buf, size,
                               "ECU 0x%" PRIx32 " did not prove the key: the key files differ "
                               "(this target's KeyFile=%s and KeyFile= in the agent's "
                               "umc-agent.conf)",
                               a->ecu_id, a->key_file ? a->key_file : "?");
                break;
        case UMC_REASON_ECU_HW_MISMATCH:
                (void)snprintf(buf, size,
                               "ECU 0x%" PRIx32 " reports hardware ID '%s', the target's "
                               "HardwareId= is '%s'",
                               a->ecu_id, a->got_hw_id && *a->got_hw_id ? printable(a->got_hw_id, got) : "?",
                               printable(a->want_hw_id, want));
                break;
        case UMC_REASON_ECU_UNKNOWN:
                (void)snprintf(buf, size,
                               "the agent answered for another ECU than 0x%" PRIx32
                               ": check EcuId= of the target and of the agent",
                               a->ecu_id);
                break;
        default:
                (void)snprintf(buf, size, "AUTH_RESPONSE of ECU 0x%" PRIx32 " refused: %s",
                               a->ecu_id, umc_reason_to_string((uint16_t)why));
        }
        return buf;
}

const char *umc_hint_channel_error(char *buf, size_t size, const char *address, bool can,
                                   uint32_t tx_id, uint32_t rx_id, bool eff, int err) {
        int w = eff ? 8 : 3;

        if (can && err == -ECOMM)
                (void)snprintf(buf, size,
                               "no ISO-TP flow control from the ECU on %0*" PRIX32 "/%0*" PRIX32
                               ": is it listening?",
                               w, tx_id, w, rx_id);
        else
                (void)snprintf(buf, size, "connection to %s lost: %s", address, strerror(-err));
        return buf;
}

const char *umc_hint_auth_timeout(char *buf, size_t size, uint64_t secs, bool can, uint32_t tx_id,
                                  uint32_t rx_id, bool eff) {
        int w = eff ? 8 : 3;

        if (can)
                (void)snprintf(buf, size,
                               "no AUTH_RESPONSE within %" PRIu64 " s from the ECU on %0*" PRIX32
                               "/%0*" PRIX32 ": is it listening?",
                               secs, w, tx_id, w, rx_id);
        else
                (void)snprintf(buf, size, "no AUTH_RESPONSE within %" PRIu64 " s", secs);
        return buf;
}

const char *umc_hint_join(char *buf, size_t size, const char *const *names, size_t n) {
        size_t o = 0;

        if (size == 0)
                return buf;
        buf[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                int k = snprintf(buf + o, size - o, "%s%s", i ? ", " : "", names[i]);

                if (k < 0 || (size_t)k >= size - o) {
                        /* Cut at the last whole name and say there is more. */
                        if (size - o < 4)
                                o = size >= 4 ? size - 4 : 0;
                        (void)snprintf(buf + o, size - o, "...");
                        break;
                }
                o += (size_t)k;
        }
        return buf;
}
