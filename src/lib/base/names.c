/* SPDX-License-Identifier: MIT */
#include "umc/names.h"

#include <limits.h>
#include <net/if.h>
#include <string.h>

bool umc_name_target_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, UMC_NAME_TARGET_MAX + 1);
        if (n == 0 || n > UMC_NAME_TARGET_MAX)
                return false;
        return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

bool umc_name_path_valid(const char *s) {
        size_t n;

        if (!s || s[0] != '/')
                return false;
        n = strnlen(s, PATH_MAX);
        if (n >= PATH_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        return false;
        return true;
}

bool umc_name_ifname_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, IF_NAMESIZE);
        if (n == 0 || n >= IF_NAMESIZE || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] == '/' || s[i] == ':' || (unsigned char)s[i] <= ' ' || s[i] == 0x7f)
                        return false;
        return true;
}

bool umc_name_version_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, UMC_NAME_VERSION_MAX + 1);
        if (n == 0 || n > UMC_NAME_VERSION_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= ' ' || s[i] > '~')
                        return false;
        return true;
}
