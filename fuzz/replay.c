/* SPDX-License-Identifier: MIT */
/*
 * main() for replaying a target's corpus without libFuzzer: built with gcc
 * and ASan/UBSan by `make fuzz-replay`, it feeds every file named on the
 * command line (a directory: every regular file in it, in name order) to
 * LLVMFuzzerTestOneInput() once. A sanitizer report or a broken CHECK
 * aborts; otherwise it prints how many inputs it replayed and exits 0.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"

static int replay_file(const char *path) {
        struct stat st;
        uint8_t *buf;
        size_t got = 0;
        FILE *f;

        f = fopen(path, "re");
        if (!f || fstat(fileno(f), &st) < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        /* One byte more than needed: malloc(0) may return NULL. */
        buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                abort();
        got = fread(buf, 1, (size_t)st.st_size, f);
        (void)fclose(f);
        /* A copy of exactly the input's size, so ASan sees a read past its end. */
        uint8_t *exact = malloc(got ? got : 1);
        if (!exact)
                abort();
        memcpy(exact, buf, got);
        free(buf);
        (void)LLVMFuzzerTestOneInput(exact, got);
        free(exact);
        return 0;
}

static int name_cmp(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_path(const char *path, unsigned *count) {
        struct dirent **names;
        struct stat st;
        int n, r = 0;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
                r = replay_file(path);
                *count += r == 0;
                return r;
        }
        n = scandir(path, &names, NULL, name_cmp);
        if (n < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        for (int i = 0; i < n; i++) {
                char sub[4096];

                if (names[i]->d_name[0] != '.') {
                        (void)snprintf(sub, sizeof(sub), "%s/%s", path, names[i]->d_name);
                        if (replay_file(sub) < 0)
                                r = -1;
                        else
                                (*count)++;
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv) {
        unsigned count = 0;
        int r = 0;

        (void)LLVMFuzzerInitialize(&argc, &argv);
        for (int i = 1; i < argc; i++)
                if (replay_path(argv[i], &count) < 0)
                        r = 1;
        printf("%s: %u inputs replayed\n", argv[0], count);
        return r;
}
