/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for umc-agent.conf: the real loader,
 * umc_agent_config_load(), on a memfd holding the input (see
 * fuzz-config-umcd.c), then umc_agent_config_check() on what loaded.
 * Properties, beyond no crash or leak under ASan/UBSan:
 *  - it returns 0 or a negative errno, and on failure a one-line message
 *    naming the file, with *ret untouched;
 *  - a loaded config has its required keys (EcuId=, HardwareId=, an
 *    absolute KeyFile=), ForwardConfig= exactly in gateway mode, at most
 *    the documented numbers of CAN IDs and Ethernet rules.
 */
#include <string.h>

#include "common.h"
#include "umc/agent.h"
#include "umc/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void)fuzz_dir();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct umc_agent_config c = { .log_level = -12345 };
        struct umc_config_error err = {};
        const char *path = fuzz_memfd_path(data, size);
        char why[UMC_WHY_MAX] = "";
        int r;

        r = umc_agent_config_load(path, &c, &err);
        CHECK(r <= 0 && r >= -4095);
        if (r < 0) {
                size_t n = strnlen(err.msg, sizeof(err.msg));

                CHECK(n > 0 && n < sizeof(err.msg) && !strchr(err.msg, '\n'));
                CHECK(strncmp(err.msg, path, strlen(path)) == 0);
                CHECK(c.log_level == -12345 && c.key_file == NULL);
                return 0;
        }
        CHECK(c.key_file && c.key_file[0] == '/');
        CHECK(c.slot_directory && c.slot_directory[0] == '/');
        CHECK(c.hw_id[0] != '\0');
        CHECK((c.mode == UMC_AGENT_GATEWAY) == (c.forward_config != NULL));
        CHECK(c.max_connections >= 1 && c.max_connections <= 64);
        CHECK(c.can_ids.n_rules <= UMC_CONFIG_CAN_IDS_MAX);
        CHECK(c.eth_acl.n_rules <= UMC_CONFIG_ETH_RULES_MAX);
        r = umc_agent_config_check(&c, why, sizeof(why));
        CHECK(r == 0 || (r < 0 && why[0] != '\0'));
        umc_agent_config_free(&c);
        return 0;
}
