/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "umc/rotation.h"
#include "umc/util.h"

#define SEC USEC_PER_SEC
#define INTERVAL UMC_ROTATION_INTERVAL_DEFAULT /* 120 s */
#define HOLDOFF UMC_ROTATION_HOLDOFF_DEFAULT   /* 10 s */

/* The injected clock: plain microsecond values that only the test moves. */
static uint64_t fake_now;

static void init_default(struct umc_rotation *r) {
        struct umc_rotation_cfg cfg;

        fake_now = 1000 * SEC; /* not 0: the policy must use differences, not absolute time */
        umc_rotation_cfg_default(&cfg);
        assert_int_equal(umc_rotation_init(r, &cfg, fake_now), 0);
}

/* One step at time t; returns the cause, failing the test on an error. */
static enum umc_rotation_cause step_at(struct umc_rotation *r, uint64_t t, enum umc_load_class load) {
        enum umc_rotation_cause cause = (enum umc_rotation_cause)0x5a;

        assert_int_equal(umc_rotation_step(r, t, load, &cause), 0);
        return cause;
}

static void test_default_config_starts_at_first_suite_with_key_id_1(void **state) {
        struct umc_rotation r;

        init_default(&r);
        assert_int_equal(r.cfg.interval_usec, 120 * SEC);
        assert_int_equal(r.cfg.holdoff_usec, 10 * SEC);
        assert_int_equal(r.cfg.n_order, 4);
        assert_int_equal(r.cfg.order[0], UMC_SUITE_AES_128_GCM);
        assert_int_equal(r.cfg.order[1], UMC_SUITE_CHACHA20_POLY1305);
        assert_int_equal(r.cfg.order[2], UMC_SUITE_AES_256_GCM);
        assert_int_equal(r.cfg.order[3], UMC_SUITE_SM4_CTR_HMAC_SM3);
        assert_int_equal(umc_rotation_suite(&r), UMC_SUITE_AES_128_GCM);
        assert_int_equal(r.key_id, 1);
        assert_int_equal(r.n_rotations, 0);
}

static void test_invalid_configs_are_rejected(void **state) {
        struct umc_rotation_cfg cfg;
        struct umc_rotation r;

        umc_rotation_cfg_default(&cfg);
        cfg.interval_usec = 0;
        assert_int_equal(umc_rotation_init(&r, &cfg, 0), -EINVAL);

        umc_rotation_cfg_default(&cfg);
        cfg.n_order = 0;
        assert_int_equal(umc_rotation_init(&r, &cfg, 0), -EINVAL);

        umc_rotation_cfg_default(&cfg);
        cfg.n_order = UMC_SUITE_ORDER_MAX + 1;
        assert_int_equal(umc_rotation_init(&r, &cfg, 0), -EINVAL);

        umc_rotation_cfg_default(&cfg);
        cfg.order[2] = UMC_SUITE_NONE;
        assert_int_equal(umc_rotation_init(&r, &cfg, 0), -EINVAL);

        umc_rotation_cfg_default(&cfg);
        cfg.order[3] = _UMC_SUITE_MAX;
        assert_int_equal(umc_rotation_init(&r, &cfg, 0), -EINVAL);

        umc_rotation_cfg_default(&cfg);
        cfg.order[0] = (enum umc_suite_id)200;
        assert_int_equal(umc_rotation_init(&r, &cfg, 0), -EINVAL);

        umc_rotation_cfg_default(&cfg);
        assert_int_equal(umc_rotation_init(NULL, &cfg, 0), -EINVAL);
        assert_int_equal(umc_rotation_init(&r, NULL, 0), -EINVAL);
}

static void test_edge_configs_are_accepted(void **state) {
        struct umc_rotation_cfg cfg;
        struct umc_rotation r;

        /* One suite, repeated suites and a full-length order are all legal. */
        umc_rotation_cfg_default(&cfg);
        cfg.n_order = 1;
        assert_int_equal(umc_rotation_init(&r, &cfg, 0), 0);
        assert_int_equal(step_at(&r, INTERVAL, UMC_LOAD_NORMAL), UMC_ROTATE_SCHEDULED);
        assert_int_equal(umc_rotation_suite(&r), UMC_SUITE_AES_128_GCM);
        assert_int_equal(r.key_id, 2);

        for (size_t i = 0; i < UMC_SUITE_ORDER_MAX; i++)
                cfg.order[i] = UMC_SUITE_CHACHA20_POLY1305;
        cfg.n_order = UMC_SUITE_ORDER_MAX;
        assert_int_equal(umc_rotation_init(&r, &cfg, 0), 0);
}

static void test_no_rotation_before_interval(void **state) {
        struct umc_rotation r;

        init_default(&r);
        assert_int_equal(step_at(&r, fake_now, UMC_LOAD_NORMAL), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, fake_now + INTERVAL / 2, UMC_LOAD_NORMAL), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, fake_now + INTERVAL - 1, UMC_LOAD_NORMAL), UMC_ROTATE_NONE);
        assert_int_equal(r.key_id, 1);
        assert_int_equal(umc_rotation_suite(&r), UMC_SUITE_AES_128_GCM);
        assert_int_equal(r.n_rotations, 0);
}

static void test_scheduled_rotation_fires_exactly_at_interval(void **state) {
        struct umc_rotation r;

        init_default(&r);
        assert_int_equal(step_at(&r, fake_now + INTERVAL - 1, UMC_LOAD_NORMAL), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, fake_now + INTERVAL, UMC_LOAD_NORMAL), UMC_ROTATE_SCHEDULED);
        assert_int_equal(r.key_id, 2);
        assert_int_equal(umc_rotation_suite(&r), UMC_SUITE_CHACHA20_POLY1305);
        assert_int_equal(r.last_usec, fake_now + INTERVAL);
        assert_int_equal(r.n_rotations, 1);
}

static void test_scheduled_rotation_restarts_the_timer(void **state) {
        struct umc_rotation r;
        uint64_t t0;

        init_default(&r);
        /* A late step (interval + 7 s): the next one counts from the rotation, not from the old schedule. */
        t0 = fake_now + INTERVAL + 7 * SEC;
        assert_int_equal(step_at(&r, t0, UMC_LOAD_NORMAL), UMC_ROTATE_SCHEDULED);
        assert_int_equal(step_at(&r, fake_now + 2 * INTERVAL, UMC_LOAD_NORMAL), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, t0 + INTERVAL - 1, UMC_LOAD_NORMAL), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, t0 + INTERVAL, UMC_LOAD_NORMAL), UMC_ROTATE_SCHEDULED);
        assert_int_equal(r.key_id, 3);
}

static void test_mutation_edge_rotates_at_once(void **state) {
        struct umc_rotation r;

        init_default(&r);
        assert_int_equal(step_at(&r, fake_now + 1 * SEC, UMC_LOAD_NORMAL), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, fake_now + 2 * SEC, UMC_LOAD_MUTATION), UMC_ROTATE_MUTATION);
        assert_int_equal(r.key_id, 2);
        assert_int_equal(umc_rotation_suite(&r), UMC_SUITE_CHACHA20_POLY1305);
        assert_int_equal(r.last_usec, fake_now + 2 * SEC);
}

static void test_abnormal_edge_rotates_at_once_right_after_a_rotation(void **state) {
        struct umc_rotation r;

        init_default(&r);
        assert_int_equal(step_at(&r, fake_now + INTERVAL, UMC_LOAD_NORMAL), UMC_ROTATE_SCHEDULED);
        /* 1 µs after a scheduled rotation: the edge still fires, holdoff only spaces repeats. */
        assert_int_equal(step_at(&r, fake_now + INTERVAL + 1, UMC_LOAD_ABNORMAL), UMC_ROTATE_ABNORMAL);
        assert_int_equal(r.key_id, 3);
}

static void test_sustained_abnormal_rotates_once_then_after_holdoff(void **state) {
        struct umc_rotation r;
        uint64_t t0;

        init_default(&r);
        t0 = fake_now + 3 * SEC;
        assert_int_equal(step_at(&r, t0, UMC_LOAD_ABNORMAL), UMC_ROTATE_ABNORMAL);
        for (uint64_t t = t0 + SEC / 2; t < t0 + HOLDOFF; t += SEC / 2)
                assert_int_equal(step_at(&r, t, UMC_LOAD_ABNORMAL), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, t0 + HOLDOFF - 1, UMC_LOAD_ABNORMAL), UMC_ROTATE_NONE);
        assert_int_equal(r.key_id, 2);

        assert_int_equal(step_at(&r, t0 + HOLDOFF, UMC_LOAD_ABNORMAL), UMC_ROTATE_ABNORMAL);
        assert_int_equal(r.key_id, 3);
        assert_int_equal(step_at(&r, t0 + 2 * HOLDOFF - 1, UMC_LOAD_ABNORMAL), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, t0 + 2 * HOLDOFF, UMC_LOAD_ABNORMAL), UMC_ROTATE_ABNORMAL);
        assert_int_equal(r.key_id, 4);
        assert_int_equal(r.n_rotations, 3);
}

static void test_mutation_then_abnormal_escalates_at_once(void **state) {
        struct umc_rotation r;
        uint64_t t0;

        init_default(&r);
        t0 = fake_now + 5 * SEC;
        assert_int_equal(step_at(&r, t0, UMC_LOAD_MUTATION), UMC_ROTATE_MUTATION);
        assert_int_equal(step_at(&r, t0 + 1 * SEC, UMC_LOAD_MUTATION), UMC_ROTATE_NONE);
        /* Escalation within the holdoff still rotates. */
        assert_int_equal(step_at(&r, t0 + 2 * SEC, UMC_LOAD_ABNORMAL), UMC_ROTATE_ABNORMAL);
        assert_int_equal(r.key_id, 3);
        assert_int_equal(step_at(&r, t0 + 3 * SEC, UMC_LOAD_ABNORMAL), UMC_ROTATE_NONE);
        /* Falling back to MUTATION is no edge: it waits for the holdoff like any sustained load. */
        assert_int_equal(step_at(&r, t0 + 4 * SEC, UMC_LOAD_MUTATION), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, t0 + 2 * SEC + HOLDOFF - 1, UMC_LOAD_MUTATION), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, t0 + 2 * SEC + HOLDOFF, UMC_LOAD_MUTATION), UMC_ROTATE_MUTATION);
        assert_int_equal(r.key_id, 4);
}

static void test_no_scheduled_rotation_under_non_normal_load(void **state) {
        struct umc_rotation_cfg cfg;
        struct umc_rotation r;

        /* Holdoff longer than the interval, so only rule 2 could fire in between. */
        umc_rotation_cfg_default(&cfg);
        cfg.holdoff_usec = 300 * SEC;
        assert_int_equal(umc_rotation_init(&r, &cfg, 0), 0);
        assert_int_equal(step_at(&r, 1 * SEC, UMC_LOAD_MUTATION), UMC_ROTATE_MUTATION);
        assert_int_equal(step_at(&r, 1 * SEC + INTERVAL, UMC_LOAD_MUTATION), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, 1 * SEC + 2 * INTERVAL, UMC_LOAD_MUTATION), UMC_ROTATE_NONE);
        assert_int_equal(r.key_id, 2);
        assert_int_equal(step_at(&r, 301 * SEC, UMC_LOAD_MUTATION), UMC_ROTATE_MUTATION);
        assert_int_equal(r.key_id, 3);
}

static void test_normal_after_abnormal_restarts_the_schedule(void **state) {
        struct umc_rotation r;
        uint64_t t0;

        init_default(&r);
        t0 = fake_now + 50 * SEC;
        assert_int_equal(step_at(&r, t0, UMC_LOAD_ABNORMAL), UMC_ROTATE_ABNORMAL);
        assert_int_equal(step_at(&r, t0 + 1 * SEC, UMC_LOAD_NORMAL), UMC_ROTATE_NONE);
        /* The original schedule (init + 120 s) no longer applies. */
        assert_int_equal(step_at(&r, fake_now + INTERVAL, UMC_LOAD_NORMAL), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, t0 + INTERVAL - 1, UMC_LOAD_NORMAL), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, t0 + INTERVAL, UMC_LOAD_NORMAL), UMC_ROTATE_SCHEDULED);
        assert_int_equal(r.key_id, 3);
}

static void test_new_edge_after_normal_fires_within_holdoff(void **state) {
        struct umc_rotation r;

        init_default(&r);
        assert_int_equal(step_at(&r, fake_now + 1 * SEC, UMC_LOAD_ABNORMAL), UMC_ROTATE_ABNORMAL);
        assert_int_equal(step_at(&r, fake_now + 2 * SEC, UMC_LOAD_NORMAL), UMC_ROTATE_NONE);
        assert_int_equal(step_at(&r, fake_now + 3 * SEC, UMC_LOAD_MUTATION), UMC_ROTATE_MUTATION);
        assert_int_equal(r.key_id, 3);
}

static void test_full_cycle_wraps_back_to_first_suite(void **state) {
        static const enum umc_suite_id expect[] = {
                UMC_SUITE_CHACHA20_POLY1305, UMC_SUITE_AES_256_GCM,
                UMC_SUITE_SM4_CTR_HMAC_SM3, UMC_SUITE_AES_128_GCM,
                UMC_SUITE_CHACHA20_POLY1305,
        };
        struct umc_rotation r;

        init_default(&r);
        for (size_t i = 0; i < UMC_ELEMENTSOF(expect); i++) {
                assert_int_equal(step_at(&r, fake_now + (i + 1) * INTERVAL, UMC_LOAD_NORMAL),
                                 UMC_ROTATE_SCHEDULED);
                assert_int_equal(umc_rotation_suite(&r), expect[i]);
                assert_int_equal(r.key_id, i + 2);
        }
        assert_int_equal(r.idx, 1);
}

static void test_every_cause_advances_suite_and_key(void **state) {
        struct umc_rotation r;

        init_default(&r);
        assert_int_equal(step_at(&r, fake_now + INTERVAL, UMC_LOAD_NORMAL), UMC_ROTATE_SCHEDULED);
        assert_int_equal(step_at(&r, fake_now + INTERVAL + 1, UMC_LOAD_MUTATION), UMC_ROTATE_MUTATION);
        assert_int_equal(step_at(&r, fake_now + INTERVAL + 2, UMC_LOAD_ABNORMAL), UMC_ROTATE_ABNORMAL);
        assert_int_equal(umc_rotation_suite(&r), UMC_SUITE_SM4_CTR_HMAC_SM3);
        assert_int_equal(r.key_id, 4);
        assert_int_equal(r.n_rotations, 3);
}

static void test_key_id_exhaustion_returns_erange(void **state) {
        struct umc_rotation r, before;
        enum umc_rotation_cause cause;
        uint64_t t;

        init_default(&r);
        t = fake_now;
        /* 65534 rotations take key IDs 2..65535: all of them are usable. */
        for (unsigned i = 0; i < 65534; i++) {
                t += INTERVAL;
                assert_int_equal(step_at(&r, t, UMC_LOAD_NORMAL), UMC_ROTATE_SCHEDULED);
        }
        assert_int_equal(r.key_id, 65535);
        assert_int_equal(r.n_rotations, 65534);

        /* Not due yet: still fine. */
        assert_int_equal(step_at(&r, t + 1, UMC_LOAD_NORMAL), UMC_ROTATE_NONE);

        before = r;
        cause = (enum umc_rotation_cause)0x5a;
        assert_int_equal(umc_rotation_step(&r, t + INTERVAL, UMC_LOAD_NORMAL, &cause), -ERANGE);
        assert_int_equal(cause, 0x5a);
        assert_memory_equal(&r, &before, sizeof(r));
        assert_int_equal(umc_rotation_step(&r, t + 2, UMC_LOAD_ABNORMAL, &cause), -ERANGE);
        assert_int_equal(r.key_id, 65535);
}

static void test_step_rejects_bad_arguments(void **state) {
        struct umc_rotation r;
        enum umc_rotation_cause cause;

        init_default(&r);
        assert_int_equal(umc_rotation_step(&r, fake_now, (enum umc_load_class)3, &cause), -EINVAL);
        assert_int_equal(umc_rotation_step(&r, fake_now - 1, UMC_LOAD_NORMAL, &cause), -EINVAL);
        assert_int_equal(umc_rotation_step(&r, fake_now, UMC_LOAD_NORMAL, NULL), -EINVAL);
        assert_int_equal(umc_rotation_step(NULL, fake_now, UMC_LOAD_NORMAL, &cause), -EINVAL);
        assert_int_equal(r.key_id, 1);
}

static void test_names_are_stable(void **state) {
        assert_string_equal(umc_rotation_cause_to_string(UMC_ROTATE_NONE), "none");
        assert_string_equal(umc_rotation_cause_to_string(UMC_ROTATE_SCHEDULED), "scheduled");
        assert_string_equal(umc_rotation_cause_to_string(UMC_ROTATE_MUTATION), "load-mutation");
        assert_string_equal(umc_rotation_cause_to_string(UMC_ROTATE_ABNORMAL), "load-abnormal");
        assert_null(umc_rotation_cause_to_string((enum umc_rotation_cause)4));
        assert_string_equal(umc_load_class_to_string(UMC_LOAD_NORMAL), "normal");
        assert_string_equal(umc_load_class_to_string(UMC_LOAD_MUTATION), "mutation");
        assert_string_equal(umc_load_class_to_string(UMC_LOAD_ABNORMAL), "abnormal");
        assert_null(umc_load_class_to_string((enum umc_load_class)-1));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default_config_starts_at_first_suite_with_key_id_1),
                cmocka_unit_test(test_invalid_configs_are_rejected),
                cmocka_unit_test(test_edge_configs_are_accepted),
                cmocka_unit_test(test_no_rotation_before_interval),
                cmocka_unit_test(test_scheduled_rotation_fires_exactly_at_interval),
                cmocka_unit_test(test_scheduled_rotation_restarts_the_timer),
                cmocka_unit_test(test_mutation_edge_rotates_at_once),
                cmocka_unit_test(test_abnormal_edge_rotates_at_once_right_after_a_rotation),
                cmocka_unit_test(test_sustained_abnormal_rotates_once_then_after_holdoff),
                cmocka_unit_test(test_mutation_then_abnormal_escalates_at_once),
                cmocka_unit_test(test_no_scheduled_rotation_under_non_normal_load),
                cmocka_unit_test(test_normal_after_abnormal_restarts_the_schedule),
                cmocka_unit_test(test_new_edge_after_normal_fires_within_holdoff),
                cmocka_unit_test(test_full_cycle_wraps_back_to_first_suite),
                cmocka_unit_test(test_every_cause_advances_suite_and_key),
                cmocka_unit_test(test_key_id_exhaustion_returns_erange),
                cmocka_unit_test(test_step_rejects_bad_arguments),
                cmocka_unit_test(test_names_are_stable),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
