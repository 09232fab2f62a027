/* SPDX-License-Identifier: MIT */
#include "umc/busapi.h"

int umc_busapi_append_target(sd_bus_message *m, const struct umc_busapi_target *t) {
        return sd_bus_message_append(m, UMC_BUSAPI_TARGET_SIG, t->name, t->percent, t->done,
                                     t->total, t->rate, t->phase);
}

int umc_busapi_append_channel(sd_bus_message *m, const struct umc_busapi_channel *c) {
        return sd_bus_message_append(m, UMC_BUSAPI_CHANNEL_SIG, c->name, c->suite, c->key_id,
                                     c->load, c->load_class);
}

int umc_busapi_read_target(sd_bus_message *m, struct umc_busapi_target *ret) {
        struct umc_busapi_target t = {};
        int r;

        r = sd_bus_message_read(m, UMC_BUSAPI_TARGET_SIG, &t.name, &t.percent, &t.done, &t.total,
                                &t.rate, &t.phase);
        if (r > 0)
                *ret = t;
        return r;
}

int umc_busapi_read_channel(sd_bus_message *m, struct umc_busapi_channel *ret) {
        struct umc_busapi_channel c = {};
        int r;

        r = sd_bus_message_read(m, UMC_BUSAPI_CHANNEL_SIG, &c.name, &c.suite, &c.key_id, &c.load,
                                &c.load_class);
        if (r > 0)
                *ret = c;
        return r;
}
