/* SPDX-License-Identifier: MIT */
/*
 * umc-pack: build, verify and inspect signed packages. The logic is in
 * src/lib/package/pack.c; this is the list of steps. Exit codes: enum
 * umc_pack_exit and umc-pack(1).
 */
#include <stdio.h>

#include "umc/pack.h"
#include "umc/util.h"

int main(int argc, char *argv[]) {
        _cleanup_(umc_pack_args_free) struct umc_pack_args args = {};
        int r;

        r = umc_pack_parse_args(argc, argv, &args, stderr);
        if (r == -ENOMEM) {
                fprintf(stderr, "umc-pack: out of memory\n");
                return UMC_PACK_EXIT_FAILED;
        }
        if (r < 0)
                return UMC_PACK_EXIT_USAGE;
        return umc_pack_run(&args, stdout, stderr);
}
