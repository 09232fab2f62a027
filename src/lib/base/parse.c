/* SPDX-License-Identifier: MIT */
#include "umc/parse.h"

#include <errno.h>
#include <stdbool.h>

#include "umc/util.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

int umc_parse_uint(const char *s, size_t n, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;
        bool over = false;

        if (!s || n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                uint64_t d = (uint64_t)(s[i] - '0');

                if (!is_digit(s[i]))
                        return -EINVAL;
                /* Keep checking digits after an overflow: junk is -EINVAL, not -ERANGE. */
                if (!over) {
                        over = v > (max - d) / 10 || d > max;
                        v = v * 10 + d;
                }
        }
        if (over)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int parse_hex(const char *s, size_t n, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;
        bool over = false;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                int d = umc_hex_digit(s[i]);

                if (d < 0)
                        return -EINVAL;
                if (!over) {
                        over = v > (max - (uint64_t)d) >> 4 || (uint64_t)d > max;
                        v = v << 4 | (uint64_t)d;
                }
        }
        if (over)
                return -ERANGE;
        *ret = v;
        return 0;
}

int umc_parse_uint_or_hex(const char *s, size_t n, uint64_t max, uint64_t *ret) {
        if (s && n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
                return parse_hex(s + 2, n - 2, max, ret);
        return umc_parse_uint(s, n, max, ret);
}

int umc_parse_real(const char *s, size_t n, double *ret) {
        uint64_t mant = 0;
        unsigned digits = 0, frac = 0;
        bool dot = false;
        double v;

        if (!s || n == 0 || !is_digit(s[0]))
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '.' && !dot) {
                        dot = true;
                        if (i + 1 == n || !is_digit(s[i + 1]))
                                return -EINVAL;
                        continue;
                }
                if (!is_digit(s[i]))
                        return -EINVAL;
                if (++digits > UMC_PARSE_REAL_DIGITS_MAX)
                        return -ERANGE;
                mant = mant * 10 + (uint64_t)(s[i] - '0');
                if (dot)
                        frac++;
        }
        v = (double)mant;
        if (frac > 0) {
                double p10 = 1;
                for (unsigned i = 0; i < frac; i++)
                        p10 *= 10;
                v /= p10;
        }
        *ret = v;
        return 0;
}
