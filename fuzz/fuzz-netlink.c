/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the two parsers of rtnetlink RTM_GETLINK answers:
 * umc_netinfo_parse_getlink_reply() (the VLAN ID the Ethernet ACL judges)
 * and umc_canbus_parse_link_reply() (a CAN controller's kind and data bit
 * timing). The kernel is trusted to answer well, but the parsers walk
 * nested lengths that a wrong assumption would read past, so they get the
 * same treatment as the wire. The first 4 bytes of the input are the
 * interface index the VLAN parser expects; the rest is the answer, copied
 * to a 4-byte aligned buffer as recv() would leave it. Properties:
 *  - each parser returns 0 or a negative errno in -4095..-1;
 *  - a VLAN ID is 0 (untagged) or 1..4094 (IEEE 802.1Q);
 *  - a CAN data bit rate is 0 only when none was reported.
 */
#include <string.h>

#include "common.h"
#include "umc/canbus.h"
#include "umc/netinfo.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct fuzz_cursor c = { data, size };
        struct umc_canbus_link link = {};
        const uint8_t *p;
        uint32_t *buf;
        int ifindex, vlan = -1, r;
        size_t n;

        ifindex = (int)fuzz_u32(&c);
        n = fuzz_bytes(&c, SIZE_MAX, &p);
        buf = malloc(n ? n : 1);
        CHECK(buf);
        memcpy(buf, p, n);

        r = umc_netinfo_parse_getlink_reply((const uint8_t *)buf, n, UMC_NETINFO_GETLINK_SEQ,
                                            ifindex, &vlan);
        CHECK(r <= 0 && r >= -4095);
        if (r == 0)
                CHECK(vlan >= 0 && vlan <= 4094);
        else
                CHECK(vlan == -1);

        r = umc_canbus_parse_link_reply(buf, n, &link);
        CHECK(r <= 0 && r >= -4095);
        free(buf);
        return 0;
}
