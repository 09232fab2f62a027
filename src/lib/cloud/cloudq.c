/* SPDX-License-Identifier: MIT */
#include "umc/cloudq.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "umc/fs.h"
#include "umc/parse.h"
#include "umc/util.h"

#define PREFIX "report-"
#define SUFFIX ".json"

/* "report-" 20 digits ".json": its sequence, or -1 for any other name. */
static int64_t seq_of(const char *name) {
        uint64_t v = 0;

        if (strlen(name) != strlen(PREFIX) + 20 + strlen(SUFFIX) ||
            strncmp(name, PREFIX, strlen(PREFIX)) != 0 ||
            strcmp(name + strlen(PREFIX) + 20, SUFFIX) != 0)
                return -1;
        if (umc_parse_uint(name + strlen(PREFIX), 20, INT64_MAX, &v) < 0)
                return -1;
        return (int64_t)v;
}

struct scan {
        int count;
        int64_t oldest, newest;
};

static int scan(int dirfd, struct scan *ret) {
        struct scan s = { 0, -1, -1 };
        struct dirent *de;
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        while ((de = readdir(d))) {
                int64_t q = seq_of(de->d_name);

                if (q < 0)
                        continue;
                s.count++;
                if (s.oldest < 0 || q < s.oldest)
                        s.oldest = q;
                if (q > s.newest)
                        s.newest = q;
        }
        closedir(d);
        *ret = s;
        return 0;
}

static void name_of(int64_t seq, char name[UMC_CLOUDQ_NAME_MAX]) {
        snprintf(name, UMC_CLOUDQ_NAME_MAX, PREFIX "%020" PRId64 SUFFIX, seq);
}

int umc_cloudq_push(int dirfd, const void *data, size_t len, unsigned *ret_dropped) {
        char name[UMC_CLOUDQ_NAME_MAX];
        unsigned dropped = 0;
        struct scan s;
        int r;

        if (!data || len == 0 || len > UMC_CLOUDQ_REPORT_MAX)
                return -EINVAL;
        r = scan(dirfd, &s);
        if (r < 0)
                return r;
        if (s.count >= UMC_CLOUDQ_MAX) {
                name_of(s.oldest, name);
                if (unlinkat(dirfd, name, 0) < 0)
                        return -errno;
                dropped = 1;
        }
        name_of(s.newest + 1, name);
        r = umc_fs_write_atomic(dirfd, name, data, len, 0600);
        if (r < 0)
                return r;
        if (ret_dropped)
                *ret_dropped = dropped;
        return 0;
}

int umc_cloudq_peek(int dirfd, char name[UMC_CLOUDQ_NAME_MAX], char **ret, size_t *ret_len) {
        char n[UMC_CLOUDQ_NAME_MAX];
        struct scan s;
        int r = scan(dirfd, &s);

        if (r < 0)
                return r;
        if (s.count == 0)
                return -ENOENT;
        name_of(s.oldest, n);
        r = umc_fs_read_file(dirfd, n, UMC_CLOUDQ_REPORT_MAX, ret, ret_len);
        if (r < 0)
                return r;
        memcpy(name, n, sizeof(n));
        return 0;
}

int umc_cloudq_remove(int dirfd, const char *name) {
        if (!name || seq_of(name) < 0)
                return -EINVAL;
        if (unlinkat(dirfd, name, 0) < 0)
                return -errno;
        return umc_fs_fsync_dir(dirfd);
}

int umc_cloudq_count(int dirfd) {
        struct scan s;
        int r = scan(dirfd, &s);

        return r < 0 ? r : s.count;
}
