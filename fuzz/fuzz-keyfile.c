/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the key file reader, umc_keyfile_load(), on a
 * private 0600 file holding the input (the loader refuses symbolic links,
 * so no memfd path). Properties, beyond no crash under ASan/UBSan:
 *  - a key is accepted exactly when the file is 64 hex digits with an
 *    optional single "\n", and then it is those digits decoded;
 *  - a refusal is -EINVAL or -EFBIG (over 128 bytes) with a reason, and
 *    leaves the output untouched.
 */
#include <ctype.h>
#include <string.h>

#include "common.h"
#include "umc/keyfile.h"
#include "umc/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void)fuzz_dir();
        return 0;
}

static bool well_formed(const uint8_t *data, size_t size) {
        if (size != 64 && !(size == 65 && data[64] == '\n'))
                return false;
        for (size_t i = 0; i < 64; i++)
                if (!isxdigit(data[i]))
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t key[UMC_MASTER_KEY_LEN], want[UMC_MASTER_KEY_LEN], untouched[UMC_MASTER_KEY_LEN];
        char why[UMC_WHY_MAX] = "";
        int r;

        memset(key, 0xa5, sizeof(key));
        memcpy(untouched, key, sizeof(key));
        r = umc_keyfile_load(fuzz_file("keyfile-input", data, size), key, why, sizeof(why));
        if (well_formed(data, size)) {
                CHECK(r == 0);
                CHECK(umc_hex_decode((const char *)data, 64, want, sizeof(want)) == 0);
                CHECK(memcmp(key, want, sizeof(key)) == 0);
                return 0;
        }
        CHECK(r == (size > 128 ? -EFBIG : -EINVAL));
        CHECK(why[0] != '\0');
        CHECK(memcmp(key, untouched, sizeof(key)) == 0);
        return 0;
}
