/* SPDX-License-Identifier: MIT */
/*
 * Strict number parsers for text from configuration, state files, rule
 * strings and package descriptions: the whole input is the number (no
 * sign, no spaces, nothing after it), and the answer is a negative errno
 * a caller can turn into a message, never a value "fixed up" by strtoul()'s
 * leniency. Inputs are (pointer, length), so a field inside a longer line
 * needs no copy; the text need not be NUL-terminated. No locale, no global
 * state, no allocation.
 *
 *  - umc_parse_uint():        an integer, decimal digits only;
 *  - umc_parse_uint_or_hex(): an integer, decimal or "0x" + hex digits;
 *  - umc_parse_real():        a non-negative number with an optional
 *                             fraction ("DIGITS[.DIGITS]") as a double.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * The n characters at s as a decimal integer: at least one ASCII digit and
 * nothing else (leading zeros are accepted: "007" is 7). Returns 0 with
 * *ret set, -EINVAL when s is empty or holds a character that is not a
 * digit, -ERANGE when the value is above max (any number of digits is
 * safe: accumulation stops once above max). *ret is written only on
 * success.
 */
int umc_parse_uint(const char *s, size_t n, uint64_t max, uint64_t *ret);

/*
 * As umc_parse_uint(), or, after a "0x" or "0X" prefix, at least one hex
 * digit of either case. Never octal: "010" is ten. -EINVAL for a bare
 * "0x" or a bad digit, -ERANGE above max.
 */
int umc_parse_uint_or_hex(const char *s, size_t n, uint64_t max, uint64_t *ret);

/* Digits a umc_parse_real() input may hold: 15 decimal digits are exact in a double. */
#define UMC_PARSE_REAL_DIGITS_MAX 15

/*
 * "DIGITS[.DIGITS]" (at least one digit on each side of the dot) as a
 * double, locale-independent: all digits as one integer divided by a power
 * of ten, both exact, so the quotient is correctly rounded ("0.1" gives
 * what strtod() gives). Returns 0, -EINVAL for anything else (sign,
 * exponent, ".5", "5.", a second dot, empty), -ERANGE for more than
 * UMC_PARSE_REAL_DIGITS_MAX digits.
 */
int umc_parse_real(const char *s, size_t n, double *ret);
