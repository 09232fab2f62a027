/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by every module: cleanup attributes, ownership
 * hand-off, big-endian wire access, constant-time comparison and secure
 * zeroing, hex digits, and the rule for how a failure says why (umc_why()).
 * Header-only except umc_memeq_ct(), the hex codec and umc_why().
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UMC_ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _warn_unused_ __attribute__((warn_unused_result))

/* Hand ownership out of a _cleanup_ variable (systemd's TAKE_PTR). */
#define TAKE_PTR(p)                                                            \
        ({                                                                     \
                __typeof__(p) _p_ = (p);                                       \
                (p) = NULL;                                                    \
                _p_;                                                           \
        })

#define TAKE_FD(fd)                                                            \
        ({                                                                     \
                int _fd_ = (fd);                                               \
                (fd) = -1;                                                     \
                _fd_;                                                          \
        })

static inline void umc_freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ _cleanup_(umc_freep)

static inline void umc_closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void)close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(umc_closep)

/* Zero memory in a way the compiler may not elide (OPENSSL_cleanse). */
void umc_memzero(void *p, size_t n);

/* Constant-time equality of two equal-length buffers: true when equal. */
bool umc_memeq_ct(const void *a, const void *b, size_t n);

/* The value 0..15 of one hex digit (either case), or -1. */
int umc_hex_digit(char c);

/*
 * Decode exactly out_len bytes of hex (upper or lower case) from s, which
 * must be exactly 2 * out_len hex digits. Returns 0, -EINVAL on a bad digit
 * or wrong length. out is written only on success.
 */
int umc_hex_decode(const char *s, size_t slen, uint8_t *out, size_t out_len);

/* Lower-case hex of n bytes into out (2n+1 bytes incl. NUL). */
void umc_hex_encode(const uint8_t *in, size_t n, char *out);

static inline void umc_put_be16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}
static inline void umc_put_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}
static inline void umc_put_be64(uint8_t *p, uint64_t v) {
        umc_put_be32(p, (uint32_t)(v >> 32));
        umc_put_be32(p + 4, (uint32_t)v);
}
static inline uint16_t umc_get_be16(const uint8_t *p) {
        return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t umc_get_be32(const uint8_t *p) {
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
               (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t umc_get_be64(const uint8_t *p) {
        return (uint64_t)umc_get_be32(p) << 32 | umc_get_be32(p + 4);
}

#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)
#define NSEC_PER_USEC UINT64_C(1000)

/* A clock the policy modules read through, so tests can inject time. */
typedef uint64_t (*umc_clock_fn)(void *userdata);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t umc_now_monotonic_usec(void);

/*
 * How a failure says why. Every function that can fail returns 0 or a
 * negative errno; the detail travels one of three ways, chosen by where it
 * goes:
 *
 *  1. Text for a person (a log line, a D-Bus error message, umcctl's
 *     output): a caller-owned buffer passed as "char *why, size_t why_size"
 *     (why may be NULL), filled with umc_why(). UMC_WHY_MAX is enough for
 *     any one message. No static strings handed out through a pointer, no
 *     per-thread buffers.
 *  2. A reason code (enum umc_reason *ret_reason) only where the code
 *     itself goes on the wire or to D-Bus (frame, session, replay, auth,
 *     transfer checks); a function may give both a code and a text.
 *  3. The configuration reader keeps struct umc_config_error: its messages
 *     carry file:line and Section.Key, which a flat text would lose.
 *
 * umc_why(): the printf-formatted reason goes into why (when why is not
 * NULL and why_size > 0, truncated to fit, always terminated) and r is
 * returned, so a check ends with "return umc_why(why, why_size, -EINVAL,
 * "...", ...);".
 */
#define UMC_WHY_MAX 256

int umc_why(char *why, size_t why_size, int r, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void umc_vwhy(char *why, size_t why_size, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));
