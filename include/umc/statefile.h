/* SPDX-License-Identifier: MIT */
/*
 * The "key=value" state files umc keeps on disk (the agent's transfer
 * progress, umcd's resume records and reported versions): one reader, so
 * every such file follows the same rules. A file is lines "KEY=VALUE\n":
 * every line ends in '\n' (a torn last line is damage, not data), the key
 * runs to the first '=', the value to the end of the line and may hold
 * '='. No NUL, no comments, no blank lines. What keys exist and what
 * their values mean is the caller's business (its line callback); the
 * caller writes these files with umc_fs_write_atomic().
 */
#pragma once

#include <stddef.h>

/*
 * Called once per line, in file order, with the key and the value as
 * NUL-terminated strings that live in the caller's text. Returns 0 to go
 * on or a negative errno, which stops the walk and is passed through.
 */
typedef int (*umc_statefile_line_fn)(const char *key, const char *value, void *userdata);

/*
 * Walk the len bytes of text (as umc_fs_read_file() returns them:
 * writable, NUL at text[len]) line by line, overwriting each '\n' and the
 * first '=' of each line with NUL. Empty text has no lines and is 0.
 * Returns 0, -EINVAL for a NULL text or fn, -EBADMSG for a NUL inside the
 * text, a last line without '\n' or a line without '=', or the first
 * negative answer of fn. On failure text is partly overwritten.
 */
int umc_statefile_parse(char *text, size_t len, umc_statefile_line_fn fn, void *userdata);

/*
 * For files with a fixed set of keys: the index of key in keys[0..n)
 * (n <= 32), marked as seen in *seen. -EBADMSG for a key not in keys or
 * one already marked (given twice). All keys present means
 * *seen == (1u << n) - 1.
 */
int umc_statefile_key(const char *key, const char *const *keys, size_t n, unsigned *seen);
