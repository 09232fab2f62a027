/* SPDX-License-Identifier: MIT */
#include "umc/statefile.h"

#include <errno.h>
#include <string.h>

int umc_statefile_parse(char *text, size_t len, umc_statefile_line_fn fn, void *userdata) {
        char *line, *end;

        if (!text || !fn)
                return -EINVAL;
        if (memchr(text, '\0', len))
                return -EBADMSG;
        end = text + len;
        for (line = text; line < end;) {
                char *nl = memchr(line, '\n', (size_t)(end - line));
                char *eq = nl ? memchr(line, '=', (size_t)(nl - line)) : NULL;
                int r;

                if (!eq)
                        return -EBADMSG;
                *nl = '\0';
                *eq = '\0';
                r = fn(line, eq + 1, userdata);
                if (r < 0)
                        return r;
                line = nl + 1;
        }
        return 0;
}

int umc_statefile_key(const char *key, const char *const *keys, size_t n, unsigned *seen) {
        if (!key || !keys || !seen || n > 32)
                return -EINVAL;
        for (size_t k = 0; k < n; k++) {
                if (strcmp(key, keys[k]) != 0)
                        continue;
                if (*seen & (1u << k))
                        return -EBADMSG;
                *seen |= 1u << k;
                return (int)k;
        }
        return -EBADMSG;
}
