/* SPDX-License-Identifier: MIT */
/*
 * umcctl: control umcd over D-Bus. The logic is in src/lib/ctl/ (ctl.c, watch.c); this is
 * the list of steps. Exit codes: see enum umc_ctl_exit and umcctl(1).
 */
#include <stdio.h>
#include <string.h>

#include "umc/ctl.h"
#include "umc/util.h"

int main(int argc, char *argv[]) {
        _cleanup_(umc_ctl_args_free) struct umc_ctl_args args = { .command = UMC_CTL_STATUS };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = umc_ctl_parse_args(argc, argv, &args, stderr);
        if (r == -ENOMEM) {
                fprintf(stderr, "umcctl: out of memory\n");
                return UMC_CTL_EXIT_FAILED;
        }
        if (r < 0)
                return UMC_CTL_EXIT_USAGE;

        if (args.command == UMC_CTL_HELP || args.command == UMC_CTL_VERSION)
                return umc_ctl_run(&args, NULL, stdout, stderr);

        r = umc_ctl_connect(&args, &bus);
        if (r < 0)
                return umc_ctl_connect_failed(&args, r, stderr);

        return umc_ctl_run(&args, bus, stdout, stderr);
}
