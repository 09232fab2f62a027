/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for umcd.conf (and the gateway's ForwardConfig=, which
 * has the same format): the real loader, umc_daemon_config_load(), on a
 * memfd holding the input, so the file is read the way umcd reads it
 * (fopen, getline, inih, the table of keys, the validation pass, the key
 * files). Seeds name /tmp/umc-fuzz/key, a valid key file made at start.
 * Properties, beyond no crash or leak under ASan/UBSan:
 *  - it returns 0 or a negative errno, and on failure a one-line message
 *    naming the file, with *ret untouched;
 *  - a loaded config holds at most the documented numbers of targets,
 *    CAN IDs and Ethernet rules, with unique ECU IDs.
 */
#include <string.h>

#include "common.h"
#include "umc/config.h"
#include "umc/delivery.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void)fuzz_dir();
        return 0;
}

static void check_error(const struct umc_config_error *err, const char *path) {
        size_t n = strnlen(err->msg, sizeof(err->msg));

        CHECK(n > 0 && n < sizeof(err->msg));
        CHECK(strncmp(err->msg, path, strlen(path)) == 0);
        CHECK(!strchr(err->msg, '\n'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct umc_daemon_config c = { .log_level = -12345 };
        struct umc_config_error err = {};
        const char *path = fuzz_memfd_path(data, size);
        int r;

        r = umc_daemon_config_load(path, &c, &err);
        CHECK(r <= 0 && r >= -4095);
        if (r < 0) {
                check_error(&err, path);
                CHECK(c.log_level == -12345 && c.ecus == NULL && c.targets == NULL);
                return 0;
        }
        CHECK(c.n_targets <= UMC_CONFIG_TARGETS_MAX);
        CHECK(c.can_ids.n_rules <= UMC_CONFIG_CAN_IDS_MAX);
        CHECK(c.eth_acl.n_rules <= UMC_CONFIG_ETH_RULES_MAX);
        CHECK(c.state_directory && c.state_directory[0] == '/');
        for (size_t i = 0; i < c.n_targets; i++)
                for (size_t j = 0; j < i; j++)
                        CHECK(c.ecus[i].ecu_id != c.ecus[j].ecu_id);
        umc_daemon_config_free(&c);
        return 0;
}
