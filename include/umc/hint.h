/* SPDX-License-Identifier: MIT */
/*
 * Operator-facing texts for the failures people meet first: each says what
 * was wrong in their terms (a file, a key, a CAN ID) and what to check,
 * instead of a raw errno text. Pure functions: they format into the
 * caller's buffer (always NUL-terminated, cut when too small) and return
 * it; the caller logs or raises the alarm. Strings that came from a peer
 * (a hardware ID) are shown with anything but printable ASCII as '?'.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/reason.h"

/* What umcd knows about a target when an ECU's AUTH_RESPONSE is refused. */
struct umc_hint_auth {
        uint32_t ecu_id;
        const char *key_file;          /* the target's KeyFile= */
        const char *want_hw_id;        /* the target's HardwareId= */
        const char *got_hw_id;         /* what the ECU reported; "" or NULL when unknown */
};

/*
 * The alarm text for a refused AUTH_RESPONSE: for ECU_AUTH_FAILED that the
 * key files of umcd and the agent differ (naming umcd's), for
 * ECU_HW_MISMATCH both hardware IDs, else the reason's text. The reason
 * code itself is not repeated: the alarm carries it.
 */
const char *umc_hint_auth_refused(char *buf, size_t size, enum umc_reason why,
                                  const struct umc_hint_auth *a);

/*
 * The alarm text for a channel that failed with err (a negative errno) at
 * address (umc_delivery_target_address()'s form). On CAN, -ECOMM is the
 * kernel's ISO-TP saying no flow control came back (ISO 15765-2 N_Bs
 * timeout): the text names the IDs and asks whether the ECU listens.
 * tx_id/rx_id/eff are only read when can is true.
 */
const char *umc_hint_channel_error(char *buf, size_t size, const char *address, bool can,
                                   uint32_t tx_id, uint32_t rx_id, bool eff, int err);

/*
 * The alarm text for an ECU that did not answer AUTH_CHALLENGE within secs
 * seconds. On CAN FD a challenge fits one frame, which needs no flow
 * control, so an ECU that does not listen shows here rather than as
 * -ECOMM: the text names the IDs and asks the same question.
 */
const char *umc_hint_auth_timeout(char *buf, size_t size, uint64_t secs, bool can, uint32_t tx_id,
                                  uint32_t rx_id, bool eff);

/*
 * Join names[0..n) as "a, b, c" into buf, for "valid targets are: ...".
 * Stops with "..." when buf is full.
 */
const char *umc_hint_join(char *buf, size_t size, const char *const *names, size_t n);
