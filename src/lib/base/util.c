/* SPDX-License-Identifier: MIT */
#include "umc/util.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <time.h>

void umc_memzero(void *p, size_t n) {
        if (p && n)
                OPENSSL_cleanse(p, n);
}

bool umc_memeq_ct(const void *a, const void *b, size_t n) {
        return CRYPTO_memcmp(a, b, n) == 0;
}

int umc_hex_digit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int umc_hex_decode(const char *s, size_t slen, uint8_t *out, size_t out_len) {
        if (slen != out_len * 2)
                return -EINVAL;
        for (size_t i = 0; i < slen; i++)
                if (umc_hex_digit(s[i]) < 0)
                        return -EINVAL;
        for (size_t i = 0; i < out_len; i++)
                out[i] = (uint8_t)(umc_hex_digit(s[2 * i]) << 4 | umc_hex_digit(s[2 * i + 1]));
        return 0;
}

void umc_hex_encode(const uint8_t *in, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 0xf];
        }
        out[2 * n] = '\0';
}

uint64_t umc_now_monotonic_usec(void) {
        struct timespec ts;
        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

void umc_vwhy(char *why, size_t why_size, const char *fmt, va_list ap) {
        if (why && why_size > 0)
                (void)vsnprintf(why, why_size, fmt, ap);
}

int umc_why(char *why, size_t why_size, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        umc_vwhy(why, why_size, fmt, ap);
        va_end(ap);
        return r;
}
