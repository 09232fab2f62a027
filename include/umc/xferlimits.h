/* SPDX-License-Identifier: MIT */
/*
 * The transfer engines' limits (xfer.h) that the config checks its values
 * against and uses as defaults, apart so that config.c needs none of the
 * engines' own headers (msg.h, session.h, rotation.h).
 */
#pragma once

#include <stdint.h>

/*
 * Default bound on frames that fail authentication per checkpoint window
 * ([Security] MaxRejectedFrames=); xfer.h says why there is one.
 */
#define UMC_XFER_REJECT_LIMIT_DEFAULT 32

/* The largest image the transfer carries, 1 TiB (MaxImageSize= at most this). */
#define UMC_XFER_MAX_IMAGE (UINT64_C(1) << 40)
