/* SPDX-License-Identifier: MIT */
/*
 * The umcd manager end to end on one sd-event loop: real packages in a
 * private directory under /tmp, real TCP on 127.0.0.1, two real umc-agent
 * cores (agent.c) writing into real A/B slot stores. Covers installation,
 * refusals, cancel, failures of one target among several, the versions
 * record and the restart of an interrupted installation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test-helpers.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "umc/agent.h"
#include "umc/config.h"
#include "umc/delivery.h"
#include "umc/fs.h"
#include "umc/hash.h"
#include "umc/log.h"
#include "umc/manager.h"
#include "umc/mfload.h"
#include "umc/mfmsg.h"
#include "umc/slot.h"
#include "umc/util.h"

/* Only the root-certificate helpers of the test PKI are used here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "pki-fixture.h"
#pragma GCC diagnostic pop

#define KEY_BCM "4242424242424242424242424242424242424242424242424242424242424242"
#define KEY_GW "5151515151515151515151515151515151515151515151515151515151515151"
#define KEY_WRONG "4343434343434343434343434343434343434343434343434343434343434343"
#define IMAGE_LEN (2u * 1024 * 1024)
#define LOOP_LIMIT_USEC (60 * USEC_PER_SEC)
#define N_AGENTS 2

static const char *const names[N_AGENTS] = { "bcm", "gw" };

struct pkg {
        char dir[128];
        uint8_t *image[N_AGENTS];
        uint8_t hash[UMC_HASH_LEN]; /* of manifest.json */
};

struct fx {
        char dir[64];
        sd_event *event;
        struct umc_agent *agent[N_AGENTS];
        uint16_t port[N_AGENTS];
        struct umc_manager *m;
        struct pkg p1, p2;
        int state_fd;

        /* events */
        unsigned completed, alarms, rotations, changed;
        bool success;
        enum umc_reason reason;
        char message[512];
        char alarm_target[32];
        enum umc_reason alarm_reason;
        uint64_t first_transfer_done[N_AGENTS]; /* bytes_done when TRANSFERRING was first seen */
        bool seen_transfer[N_AGENTS];

        /* an action from the loop when target `act_on` passed half of its image */
        int act_on;
        sd_event_source *action;
        int (*act)(sd_event_source *s, void *userdata);
        bool acted;
};

/* ---- files ---- */

/*
 * The window between umcd's check of a package path and its reads, made
 * certain: realpath(3) here is libc's, but once armed, right after it
 * resolved swap_path it replaces that directory by a symbolic link to
 * swap_to, as someone racing umcd would. This executable's definition is
 * the one libumc.a's objects, linked into it, call.
 */
static const char *swap_path, *swap_to;

char *realpath(const char *path, char *resolved) {
        char *(*real)(const char *, char *);
        char saved[256];
        char *r;

        *(void **)&real = dlsym(RTLD_NEXT, "realpath");
        assert_non_null(real);
        r = real(path, resolved);
        if (r && swap_path && strcmp(path, swap_path) == 0) {
                (void)snprintf(saved, sizeof(saved), "%s.checked", swap_path);
                assert_int_equal(rename(swap_path, saved), 0);
                assert_int_equal(symlink(swap_to, swap_path), 0);
                swap_path = NULL;
        }
        return r;
}

/* A package directory with one image per target; extra_target adds an image for it. */
static void make_package(struct fx *f, struct pkg *p, const char *sub, const char *version,
                         uint32_t seed, const char *extra_target) {
        char json[2048], hex[2 * UMC_HASH_LEN + 1];
        size_t len = 0;

        (void)snprintf(p->dir, sizeof(p->dir), "%s/%s", f->dir, sub);
        assert_int_equal(mkdir(p->dir, 0700), 0);
        len += (size_t)snprintf(json + len, sizeof(json) - len,
                                "{\"format\":1,\"name\":\"%s\",\"images\":[", sub);
        for (int i = 0; i < N_AGENTS; i++) {
                uint8_t h[UMC_HASH_LEN];
                char file[64];

                p->image[i] = malloc(IMAGE_LEN);
                assert_non_null(p->image[i]);
                fill_image(p->image[i], IMAGE_LEN, seed * 16 + (uint32_t)i);
                (void)snprintf(file, sizeof(file), "%s.bin", names[i]);
                write_file_in(p->dir, file, p->image[i], IMAGE_LEN, 0644);
                assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, p->image[i], IMAGE_LEN, h), 0);
                umc_hex_encode(h, UMC_HASH_LEN, hex);
                len += (size_t)snprintf(json + len, sizeof(json) - len,
                                        "%s{\"target\":\"%s\",\"version\":\"%s\",\"file\":\"%s\","
                                        "\"size\":%u,\"sha256\":\"%s\"}",
                                        i ? "," : "", names[i], version, file, IMAGE_LEN, hex);
        }
        if (extra_target) {
                write_text_in(p->dir, "extra.bin", "x", 0644);
                assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, "x", 1, (uint8_t[32]){}), 0);
                len += (size_t)snprintf(json + len, sizeof(json) - len,
                                        ",{\"target\":\"%s\",\"version\":\"1\",\"file\":\"extra.bin\","
                                        "\"size\":1,\"sha256\":\"%064d\"}",
                                        extra_target, 0);
        }
        len += (size_t)snprintf(json + len, sizeof(json) - len, "]}\n");
        assert_true(len < sizeof(json));
        write_text_in(p->dir, "manifest.json", json, 0644);
        assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, json, len, p->hash), 0);
}

static void free_package(struct pkg *p) {
        for (int i = 0; i < N_AGENTS; i++)
                free(p->image[i]);
}

/* ---- agents and daemon config ---- */

/* Agent i with extra lines in [Agent] (the signature keys: unsigned by default). */
static void agent_start_with(struct fx *f, int i, const char *extra) {
        struct umc_agent_config ac = {};
        struct umc_config_error err = {};
        struct umc_sockaddr sa;
        char text[1024], keyname[32];

        (void)snprintf(keyname, sizeof(keyname), "agent-%s.key", names[i]);
        write_text_in(f->dir, keyname, i == 0 ? KEY_BCM : KEY_GW, 0600);
        (void)snprintf(text, sizeof(text),
                       "[Agent]\nListen=127.0.0.1:0\nEcuId=0x%x\nHardwareId=HW-%s\n"
                       "KeyFile=%s/%s\nSlotDirectory=%s/slots-%s\n%s"
                       "LogLevel=warning\n[EthernetAcl]\nRule=allow proto=tcp dst=127.0.0.1\n",
                       0x10 + i, names[i], f->dir, keyname, f->dir, names[i], extra);
        write_text_in(f->dir, "agent.conf", text, 0644);
        (void)snprintf(text, sizeof(text), "%s/agent.conf", f->dir);
        if (umc_agent_config_load(text, &ac, &err) < 0)
                fail_msg("agent config: %s", err.msg);
        assert_int_equal(umc_agent_new(&ac, f->event, &f->agent[i], NULL, 0), 0);
        assert_int_equal(umc_agent_local_address(f->agent[i], &sa), 0);
        f->port[i] = ntohs(sa.in.sin_port);
}

static void agent_start(struct fx *f, int i) {
        agent_start_with(f, i, "RequireSignature=no\n");
}

/* umcd.conf for both targets; bcm_key is the key umcd holds for bcm. */
static void daemon_config(struct fx *f, const char *bcm_key, const char *acl, struct umc_daemon_config *ret) {
        struct umc_config_error err = {};
        char text[2048], path[128];
        size_t len = 0;

        write_text_in(f->dir, "umcd-bcm.key", bcm_key, 0600);
        write_text_in(f->dir, "umcd-gw.key", KEY_GW, 0600);
        len += (size_t)snprintf(text + len, sizeof(text) - len,
                                "[Package]\nRequireSignature=no\n"

                                "[Daemon]\nStateDirectory=%s/state\nLogLevel=warning\n"
                                "PackageDirectory=%s\n[EthernetAcl]\n%s",
                                f->dir, f->dir, acl);
        for (int i = 0; i < N_AGENTS; i++)
                len += (size_t)snprintf(text + len, sizeof(text) - len,
                                        "[Target %s]\nEcuId=0x%x\nHardwareId=HW-%s\n"
                                        "KeyFile=%s/umcd-%s.key\nAddress=127.0.0.1:%u\n",
                                        names[i], 0x10 + i, names[i], f->dir, names[i],
                                        (unsigned)f->port[i]);
        assert_true(len < sizeof(text));
        write_text_in(f->dir, "umcd.conf", text, 0644);
        (void)snprintf(path, sizeof(path), "%s/umcd.conf", f->dir);
        *ret = (struct umc_daemon_config){};
        if (umc_daemon_config_load(path, ret, &err) < 0)
                fail_msg("daemon config: %s", err.msg);
        ret->rotation.interval_usec = 5000; /* 5 ms: rotations within a test image */
}

#define ACL_ALLOW "Rule=allow proto=tcp dst=127.0.0.1\n"

static void on_changed(void *ud) {
        ((struct fx *)ud)->changed++;
}

static void on_progress(void *ud, const struct umc_target_status *t) {
        struct fx *f = ud;
        int i = strcmp(t->name, "bcm") == 0 ? 0 : 1;

        assert_true(t->bytes_done <= t->bytes_total);
        assert_true(t->percent <= 100);
        if (t->phase == UMC_PHASE_TRANSFERRING) {
                /* The session exists from here on: its suite and key are shown. */
                assert_non_null(umc_suite_by_id(t->suite));
                assert_true(t->key_id >= 1);
        }
        if (t->phase == UMC_PHASE_TRANSFERRING && !f->seen_transfer[i] && t->bytes_done > 0) {
                f->seen_transfer[i] = true;
                f->first_transfer_done[i] = t->bytes_done;
        }
        if (f->act && !f->action && i == f->act_on && t->phase == UMC_PHASE_TRANSFERRING &&
            t->bytes_done >= t->bytes_total / 2)
                /* From the loop, as a D-Bus call or a signal would come. */
                assert_int_equal(sd_event_add_defer(f->event, &f->action, f->act, f), 0);
}

static void on_alarm(void *ud, const char *target, enum umc_reason reason, const char *text) {
        struct fx *f = ud;

        assert_true(strlen(text) > 0);
        f->alarms++;
        (void)snprintf(f->alarm_target, sizeof(f->alarm_target), "%s", target);
        f->alarm_reason = reason;
}

static void on_rotation(void *ud, const char *target, enum umc_suite_id suite, uint16_t key_id,
                        enum umc_rotation_cause cause) {
        struct fx *f = ud;

        assert_non_null(umc_suite_by_id(suite));
        assert_true(key_id > 1);
        f->rotations++;
}

static void on_completed(void *ud, bool success, enum umc_reason reason, const char *message) {
        struct fx *f = ud;

        f->completed++;
        f->success = success;
        f->reason = reason;
        (void)snprintf(f->message, sizeof(f->message), "%s", message);
}

static void manager_start(struct fx *f, struct umc_daemon_config *c) {
        struct umc_manager_events ev = {
                .changed = on_changed,
                .progress = on_progress,
                .alarm = on_alarm,
                .rotation = on_rotation,
                .completed = on_completed,
                .userdata = f,
        };

        assert_int_equal(umc_manager_new(c, f->event, &f->m), 0);
        assert_null(c->targets); /* moved in */
        umc_manager_set_events(f->m, &ev);
}

static int setup(void **state) {
        struct fx *f = calloc(1, sizeof(*f));
        struct umc_daemon_config c;
        char path[128];

        assert_non_null(f);
        strcpy(f->dir, "/tmp/umc-test-manager-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        assert_int_equal(sd_event_new(&f->event), 0);
        for (int i = 0; i < N_AGENTS; i++)
                agent_start(f, i);
        make_package(f, &f->p1, "pkg1", "1.2.3", 1, NULL);
        make_package(f, &f->p2, "pkg2", "2.0.0", 2, NULL);
        daemon_config(f, KEY_BCM, ACL_ALLOW, &c);
        manager_start(f, &c);
        (void)snprintf(path, sizeof(path), "%s/state", f->dir);
        f->state_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->state_fd >= 0);
        f->act_on = -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fx *f = *state;

        (void)sd_event_source_disable_unref(f->action);
        umc_manager_free(f->m);
        for (int i = 0; i < N_AGENTS; i++)
                umc_agent_free(f->agent[i]);
        sd_event_unref(f->event);
        (void)close(f->state_fd);
        free_package(&f->p1);
        free_package(&f->p2);
        rm_tree(f->dir);
        free(f);
        return 0;
}

/* ---- running ---- */

static bool is_completed(const void *p) {
        const struct fx *f = p;

        return f->completed > 0;
}

static bool has_acted(const void *p) {
        const struct fx *f = p;

        return f->acted;
}

static void run_for(struct fx *f, uint64_t usec) {
        uint64_t until = umc_now_monotonic_usec() + usec;

        while (umc_now_monotonic_usec() < until)
                assert_true(sd_event_run(f->event, 10 * USEC_PER_MSEC) >= 0);
}

static void install(struct fx *f, const struct pkg *p, const char *const *targets) {
        char why[512] = "";
        int r;

        f->completed = 0;
        r = umc_manager_install(f->m, p->dir, p->hash, targets, why, sizeof(why));
        if (r < 0)
                fail_msg("install: %s", why);
        assert_int_equal(umc_manager_operation(f->m), UMC_OP_VERIFYING);
}

static void target_status(struct fx *f, int i, struct umc_target_status *t) {
        assert_int_equal(umc_manager_target_status(f->m, (size_t)i, t), 0);
        assert_string_equal(t->name, names[i]);
}

/* The agent's active slot version (NULL: empty) and, if asked, a check of its image. */
static char *active_version(struct fx *f, int i, const uint8_t *expect) {
        struct umc_slots *s = NULL;
        const char *version = NULL;
        char slot = 0, path[128], *v = NULL;

        umc_agent_free(f->agent[i]); /* it holds the store while connected */
        f->agent[i] = NULL;
        (void)snprintf(path, sizeof(path), "%s/slots-%s", f->dir, names[i]);
        assert_int_equal(umc_slots_open(path, &s, NULL), 0);
        assert_int_equal(umc_slots_active(s, &slot, &version), 0);
        if (version)
                v = strdup(version);
        umc_slots_close(s);
        if (expect) {
                uint8_t *got = malloc(IMAGE_LEN + 1);
                int fd;

                assert_non_null(got);
                (void)snprintf(path, sizeof(path), "%s/slots-%s/%c/image", f->dir, names[i], slot);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                assert_true(fd >= 0);
                assert_int_equal(read(fd, got, IMAGE_LEN + 1), IMAGE_LEN);
                assert_memory_equal(got, expect, IMAGE_LEN);
                (void)close(fd);
                free(got);
        }
        return v;
}

static void assert_active(struct fx *f, int i, const char *version, const uint8_t *image) {
        char *v = active_version(f, i, image);

        if (version)
                assert_string_equal(v, version);
        else
                assert_null(v);
        free(v);
}

static bool record_exists(struct fx *f, const char *target) {
        struct umc_delivery_record rec;

        return umc_delivery_record_read(f->state_fd, target, &rec) == 0;
}

/* ---- tests ---- */

static void test_install_delivers_every_target_and_records_versions(void **state) {
        struct fx *f = *state;
        struct umc_target_slots sl;
        struct umc_target_status t;
        struct umc_daemon_config c;
        _cleanup_free_ char *versions = NULL;

        assert_int_equal(umc_manager_operation(f->m), UMC_OP_IDLE);
        install(f, &f->p1, NULL);
        target_status(f, 0, &t);
        assert_int_equal(t.phase, UMC_PHASE_WAITING);
        run_until_done(f->event, is_completed, f, LOOP_LIMIT_USEC);

        assert_int_equal(f->completed, 1);
        assert_true(f->success);
        assert_int_equal(f->reason, UMC_REASON_OK);
        assert_int_equal(f->alarms, 0);
        assert_true(f->rotations >= 2);
        assert_true(f->changed > 10);
        assert_int_equal(umc_manager_operation(f->m), UMC_OP_IDLE);
        assert_string_equal(umc_manager_last_error(f->m), "");
        for (int i = 0; i < N_AGENTS; i++) {
                target_status(f, i, &t);
                assert_int_equal(t.phase, UMC_PHASE_DONE);
                assert_int_equal(t.percent, 100);
                assert_int_equal(t.bytes_done, IMAGE_LEN);
                assert_string_equal(t.version, "1.2.3");
                assert_string_equal(t.channel, "tcp");
                assert_false(record_exists(f, names[i]));
                /* The agent reported factory state (a, empty); umcd applied the install. */
                assert_int_equal(umc_manager_target_slots(f->m, i, &sl), 0);
                assert_true(sl.reported);
                assert_false(sl.gateway);
                assert_int_equal(sl.active, 'b');
                assert_string_equal(sl.version_b, "1.2.3");
                assert_string_equal(sl.version_a, "");
                assert_int_equal(sl.previous, 0);
                assert_false(sl.partial);
                assert_true(sl.reported_usec > UINT64_C(1700000000) * USEC_PER_SEC);
        }
        assert_int_equal(umc_fs_read_file(f->state_fd, "versions", 4096, &versions, NULL), 0);
        assert_string_equal(versions, "bcm=1.2.3\ngw=1.2.3\n");

        /* A new manager (umcd restarted) knows what it installed. */
        umc_manager_free(f->m);
        f->m = NULL;
        daemon_config(f, KEY_BCM, ACL_ALLOW, &c);
        manager_start(f, &c);
        target_status(f, 1, &t);
        assert_string_equal(t.version, "1.2.3");
        assert_int_equal(t.phase, UMC_PHASE_IDLE);
        assert_int_equal(umc_manager_operation(f->m), UMC_OP_IDLE); /* nothing to resume */

        for (int i = 0; i < N_AGENTS; i++)
                assert_active(f, i, "1.2.3", f->p1.image[i]);
}

static void test_second_install_while_busy_is_refused(void **state) {
        struct fx *f = *state;
        char why[256] = "";

        install(f, &f->p1, NULL);
        assert_int_equal(umc_manager_install(f->m, f->p2.dir, NULL, NULL, why, sizeof(why)), -EBUSY);
        /* It names the running package and what to do about it. */
        assert_non_null(strstr(why, f->p1.dir));
        assert_non_null(strstr(why, "umcctl cancel"));
        run_until_done(f->event, is_completed, f, LOOP_LIMIT_USEC);
        assert_int_equal(f->completed, 1);
        assert_true(f->success);
        /* Idle after a success: Progress stays at 100, as every target shows. */
        assert_int_equal(umc_manager_operation(f->m), UMC_OP_IDLE);
        assert_int_equal(umc_manager_percent(f->m), 100);
        run_for(f, 50 * USEC_PER_MSEC);
        assert_int_equal(f->completed, 1); /* exactly once */
}

static void test_manifest_hash_mismatch_is_refused(void **state) {
        struct fx *f = *state;
        uint8_t other[UMC_HASH_LEN];
        char why[256] = "";

        memcpy(other, f->p1.hash, sizeof(other));
        other[31] ^= 1;
        assert_int_equal(umc_manager_install(f->m, f->p1.dir, other, NULL, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "hash"));
        assert_int_equal(umc_manager_operation(f->m), UMC_OP_IDLE);
        /* The hash of another package's manifest is no better. */
        assert_int_equal(umc_manager_install(f->m, f->p1.dir, f->p2.hash, NULL, why, sizeof(why)),
                         -EINVAL);
        run_for(f, 20 * USEC_PER_MSEC);
        assert_int_equal(f->completed, 0);
}

static void test_tampered_image_is_refused_before_any_delivery(void **state) {
        struct fx *f = *state;
        struct umc_agent_stats st;
        struct umc_target_status t;
        uint8_t *bad = f->p1.image[1];

        bad[IMAGE_LEN - 1] ^= 0x01; /* same size, one bit off */
        write_file_in(f->p1.dir, "gw.bin", bad, IMAGE_LEN, 0644);
        install(f, &f->p1, NULL);
        run_until_done(f->event, is_completed, f, LOOP_LIMIT_USEC);
        assert_false(f->success);
        assert_int_equal(f->reason, UMC_REASON_IMAGE_HASH_MISMATCH);
        assert_int_equal(f->alarms, 1);
        assert_string_equal(f->alarm_target, "gw");
        target_status(f, 1, &t);
        assert_int_equal(t.phase, UMC_PHASE_FAILED);
        target_status(f, 0, &t);
        assert_int_equal(t.phase, UMC_PHASE_IDLE); /* verified, but nothing went out */
        assert_non_null(strstr(umc_manager_last_error(f->m), "refused"));
        for (int i = 0; i < N_AGENTS; i++) {
                umc_agent_get_stats(f->agent[i], &st);
                assert_int_equal(st.accepted, 0);
        }
}

static void test_image_of_wrong_size_is_refused_at_once(void **state) {
        struct fx *f = *state;
        char why[256] = "";

        write_file_in(f->p1.dir, "bcm.bin", f->p1.image[0], IMAGE_LEN - 1, 0644);
        assert_int_equal(umc_manager_install(f->m, f->p1.dir, NULL, NULL, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "bcm.bin"));
        assert_int_equal(umc_manager_operation(f->m), UMC_OP_IDLE);
}

static void test_symlinked_image_is_refused(void **state) {
        struct fx *f = *state;
        char why[256] = "", path[256], target[256];

        (void)snprintf(path, sizeof(path), "%s/bcm.bin", f->p1.dir);
        (void)snprintf(target, sizeof(target), "%s/bcm.bin", f->p2.dir);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(symlink(target, path), 0);
        assert_int_equal(umc_manager_install(f->m, f->p1.dir, NULL, NULL, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "bcm.bin"));
        /* Why links are refused, not the kernel's "Too many levels of symbolic links". */
        assert_non_null(strstr(why, "a symbolic link, refused"));
        assert_null(strstr(why, "Too many levels"));
}

static void test_package_for_unknown_target_is_refused(void **state) {
        struct fx *f = *state;
        struct umc_manifest mf = {};
        struct pkg p = {};
        char why[256] = "";

        make_package(f, &p, "pkg3", "3.0.0", 3, "abs");
        assert_int_equal(umc_manager_inspect(f->m, p.dir, &mf, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "abs"));
        /* A typo is easy to see next to the valid names. */
        if (!strstr(why, "(configured: bcm, gw)"))
                fail_msg("no list of the configured targets in: %s", why);
        assert_int_equal(umc_manager_install(f->m, p.dir, NULL, NULL, why, sizeof(why)), -EINVAL);
        assert_int_equal(umc_manager_install(f->m, "relative/pkg", NULL, NULL, why, sizeof(why)),
                         -EINVAL);
        assert_int_equal(umc_manager_inspect(f->m, f->p1.dir, &mf, why, sizeof(why)), 0);
        assert_int_equal(mf.n_images, 2);
        assert_memory_equal(mf.hash, f->p1.hash, UMC_HASH_LEN);
        umc_manifest_free(&mf);
        free_package(&p);
}

/* Inspect refuses, with install's words, every package install would refuse. */
static void test_inspect_checks_the_image_files_as_install_does(void **state) {
        struct fx *f = *state;
        struct umc_manifest mf = {};
        char why[512] = "", path[256], img[256];

        (void)snprintf(img, sizeof(img), "%s/bcm.bin", f->p1.dir);
        (void)snprintf(path, sizeof(path), "%s/bcm.bin.saved", f->p1.dir);
        assert_int_equal(rename(img, path), 0);
        assert_int_equal(umc_manager_inspect(f->m, f->p1.dir, &mf, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "bcm.bin (target bcm): missing from the package"));

        /* A link to the very same bytes: refused, with the reason. */
        assert_int_equal(symlink(path, img), 0);
        assert_int_equal(umc_manager_inspect(f->m, f->p1.dir, &mf, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "symbolic link"));
        assert_non_null(strstr(why, "no link can point umcd at another file"));
        assert_int_equal(umc_manager_install(f->m, f->p1.dir, NULL, NULL, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "symbolic link")); /* install says the same, not ELOOP */
        assert_int_equal(unlink(img), 0);

        /* A FIFO: never opened (it would block), refused as not regular. */
        assert_int_equal(mkfifo(img, 0600), 0);
        assert_int_equal(umc_manager_inspect(f->m, f->p1.dir, &mf, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "bcm.bin (target bcm): not a regular file"));
        assert_int_equal(unlink(img), 0);

        /* One byte short. */
        assert_int_equal(rename(path, img), 0);
        assert_int_equal(truncate(img, IMAGE_LEN - 1), 0);
        assert_int_equal(umc_manager_inspect(f->m, f->p1.dir, &mf, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "the manifest says"));
        assert_int_equal(umc_manager_install(f->m, f->p1.dir, NULL, NULL, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "the manifest says"));
        write_file_in(f->p1.dir, "bcm.bin", f->p1.image[0], IMAGE_LEN, 0644);
        assert_int_equal(umc_manager_inspect(f->m, f->p1.dir, &mf, why, sizeof(why)), 0);
        umc_manifest_free(&mf);
}

static void test_inspect_reads_only_below_the_package_directories(void **state) {
        struct fx *f = *state;
        struct umc_manifest mf = {};
        char why[512] = "", outside[] = "/tmp/umc-test-outside-XXXXXX", link[256], dotdot[256];

        /* A copy of a good package outside PackageDirectory=. */
        assert_non_null(mkdtemp(outside));
        write_text_in(outside, "manifest.json", "{}", 0644);
        assert_int_equal(umc_manager_inspect(f->m, outside, &mf, why, sizeof(why)), -EACCES);
        assert_non_null(strstr(why, "PackageDirectory="));
        assert_non_null(strstr(why, f->dir));
        /* Neither a link inside the directory nor ".." leads out. */
        (void)snprintf(link, sizeof(link), "%s/escape", f->dir);
        assert_int_equal(symlink(outside, link), 0);
        assert_int_equal(umc_manager_inspect(f->m, link, &mf, why, sizeof(why)), -EACCES);
        (void)snprintf(dotdot, sizeof(dotdot), "%s/../%s", f->dir, outside + 5);
        assert_int_equal(umc_manager_inspect(f->m, dotdot, &mf, why, sizeof(why)), -EACCES);
        assert_int_equal(umc_manager_inspect(f->m, "/nonexistent/pkg", &mf, why, sizeof(why)),
                         -EINVAL);
        assert_non_null(strstr(why, "No such file"));
        assert_int_equal(unlink(link), 0);
        (void)snprintf(link, sizeof(link), "%s/manifest.json", outside);
        assert_int_equal(unlink(link), 0);
        assert_int_equal(rmdir(outside), 0);
}

/* A package swapped for a link to another directory after the check: nothing of it is read. */
static void test_inspect_reads_the_directory_it_checked(void **state) {
        struct fx *f = *state;
        struct umc_manifest mf = {};
        char why[512] = "", outside[] = "/tmp/umc-test-elsewhere-XXXXXX", saved[256];
        struct pkg evil = {};

        /* A valid package, named "evil", outside every PackageDirectory=. */
        assert_non_null(mkdtemp(outside));
        assert_int_equal(rmdir(outside), 0);
        make_package(f, &evil, "evil", "6.6.6", 7, NULL);
        assert_int_equal(rename(evil.dir, outside), 0);

        swap_path = f->p1.dir;
        swap_to = outside;
        assert_int_equal(umc_manager_inspect(f->m, f->p1.dir, &mf, why, sizeof(why)), -EACCES);
        assert_null(swap_path); /* the swap happened, between the check and the reads */
        if (!strstr(why, "changed while umcd checked it"))
                fail_msg("not refused as changed: %s", why);
        assert_null(strstr(why, "evil"));

        /* Put back, the same path is p1 again. */
        assert_int_equal(unlink(f->p1.dir), 0);
        (void)snprintf(saved, sizeof(saved), "%s.checked", f->p1.dir);
        assert_int_equal(rename(saved, f->p1.dir), 0);
        assert_int_equal(umc_manager_inspect(f->m, f->p1.dir, &mf, why, sizeof(why)), 0);
        assert_memory_equal(mf.hash, f->p1.hash, UMC_HASH_LEN);
        umc_manifest_free(&mf);
        rm_tree(outside);
        free_package(&evil);
}

static void test_install_restricted_to_named_targets(void **state) {
        struct fx *f = *state;
        const char *const only_gw[] = { "gw", NULL };
        const char *const twice[] = { "gw", "gw", NULL };
        const char *const unknown[] = { "abs", NULL };
        const char *const none[] = { NULL };
        struct umc_target_status t;
        char why[256];

        assert_int_equal(umc_manager_install(f->m, f->p1.dir, NULL, twice, why, sizeof(why)), -EINVAL);
        assert_int_equal(umc_manager_install(f->m, f->p1.dir, NULL, unknown, why, sizeof(why)), -EINVAL);
        if (!strstr(why, "'abs'; it has images for: bcm, gw"))
                fail_msg("no list of the package's targets in: %s", why);
        assert_int_equal(umc_manager_install(f->m, f->p1.dir, NULL, none, why, sizeof(why)), -EINVAL);
        install(f, &f->p1, only_gw);
        run_until_done(f->event, is_completed, f, LOOP_LIMIT_USEC);
        assert_true(f->success);
        target_status(f, 0, &t);
        assert_int_equal(t.phase, UMC_PHASE_IDLE);
        assert_string_equal(t.version, "");
        target_status(f, 1, &t);
        assert_int_equal(t.phase, UMC_PHASE_DONE);
        assert_active(f, 0, NULL, NULL);
        assert_active(f, 1, "1.2.3", f->p1.image[1]);
}

static void reconfigure(struct fx *f, const char *bcm_key, const char *acl) {
        struct umc_daemon_config c;

        daemon_config(f, bcm_key, acl, &c);
        assert_int_equal(umc_manager_reload(f->m, &c), 0);
        assert_null(c.targets);
}

/*
 * A signature beside the manifest is umcd's to verify before any ECU sees
 * a byte: junk is refused at Install, every slot untouched. (That the
 * bytes reach the ECUs, and that they refuse what umcd let through, is
 * test-ecucheck.c and tests/integration/test-signed.sh.)
 */
static void test_junk_signature_is_refused_before_any_ecu(void **state) {
        struct fx *f = *state;
        uint8_t junk[100];
        char why[256] = "";

        memset(junk, 0x30, sizeof(junk));
        write_file_in(f->p1.dir, "manifest.json.p7s", junk, sizeof(junk), 0644);
        assert_true(umc_manager_install(f->m, f->p1.dir, NULL, NULL, why, sizeof(why)) < 0);
        assert_non_null(strstr(why, "0x07"));
        assert_int_equal(umc_manager_operation(f->m), UMC_OP_IDLE);
        assert_null(active_version(f, 0, NULL));
        assert_null(active_version(f, 1, NULL));
}

/* What an ECU cannot buffer is refused before it is sent, naming the file. */
static void test_oversized_signature_is_refused_at_once(void **state) {
        struct fx *f = *state;
        static uint8_t big[UMC_MFMSG_SIG_MAX + 1];
        struct umc_mfbuf buf = {};
        char why[256] = "";

        write_file_in(f->p1.dir, "manifest.json.p7s", big, sizeof(big), 0644);
        assert_true(umc_mfbuf_load(f->p1.dir, &buf, why, sizeof(why)) < 0);
        assert_non_null(strstr(why, "manifest.json.p7s: larger than 16384 bytes"));
        write_file_in(f->p1.dir, "manifest.json.sm2", big, 10, 0644);
        assert_true(umc_mfbuf_load(f->p1.dir, &buf, why, sizeof(why)) < 0);
        assert_non_null(strstr(why, "a package has one signature"));
}

static void test_acl_denied_target_fails_and_the_next_goes_on(void **state) {
        struct fx *f = *state;
        struct umc_target_status t;
        char acl[128];

        (void)snprintf(acl, sizeof(acl), "Rule=deny proto=tcp dport=%u\n" ACL_ALLOW,
                       (unsigned)f->port[0]);
        reconfigure(f, KEY_BCM, acl);
        install(f, &f->p1, NULL);
        run_until_done(f->event, is_completed, f, LOOP_LIMIT_USEC);
        assert_false(f->success);
        assert_int_equal(f->reason, UMC_REASON_ETH_DENIED_BY_RULE);
        assert_int_equal(f->alarms, 1);
        assert_string_equal(f->alarm_target, "bcm");
        target_status(f, 0, &t);
        assert_int_equal(t.phase, UMC_PHASE_FAILED);
        assert_int_equal(t.last_reason, UMC_REASON_ETH_DENIED_BY_RULE);
        assert_false(record_exists(f, "bcm"));
        target_status(f, 1, &t);
        assert_int_equal(t.phase, UMC_PHASE_DONE);
        assert_non_null(strstr(umc_manager_last_error(f->m), "bcm"));
        assert_active(f, 0, NULL, NULL);
        assert_active(f, 1, "1.2.3", f->p1.image[1]);
}

static void test_wrong_key_fails_the_target_with_an_alarm(void **state) {
        struct fx *f = *state;
        struct umc_target_status t;

        reconfigure(f, KEY_WRONG, ACL_ALLOW);
        install(f, &f->p1, NULL);
        run_until_done(f->event, is_completed, f, LOOP_LIMIT_USEC);
        assert_false(f->success);
        assert_int_equal(f->alarm_reason, UMC_REASON_ECU_AUTH_FAILED);
        assert_string_equal(f->alarm_target, "bcm");
        target_status(f, 0, &t);
        assert_int_equal(t.phase, UMC_PHASE_FAILED);
        assert_string_equal(t.version, "");
        target_status(f, 1, &t);
        assert_int_equal(t.phase, UMC_PHASE_DONE);
        assert_active(f, 0, NULL, NULL);
}

static void test_sm3_image_hash_reaches_the_agent(void **state) {
        struct fx *f = *state;
        struct umc_daemon_config c;

        /* ImageHash=sm3: the manifest is still checked with SHA-256, TRANSPORT carries SM3. */
        daemon_config(f, KEY_BCM, ACL_ALLOW, &c);
        c.image_hash = UMC_HASH_SM3;
        assert_int_equal(umc_manager_reload(f->m, &c), 0);
        install(f, &f->p1, NULL);
        run_until_done(f->event, is_completed, f, LOOP_LIMIT_USEC);
        assert_true(f->success);
        for (int i = 0; i < N_AGENTS; i++)
                assert_active(f, i, "1.2.3", f->p1.image[i]);
}

static int do_cancel(sd_event_source *s, void *userdata) {
        struct fx *f = userdata;

        assert_int_equal(umc_manager_cancel(f->m), 0);
        assert_int_equal(umc_manager_operation(f->m), UMC_OP_CANCELLING);
        assert_int_equal(umc_manager_cancel(f->m), -EALREADY);
        assert_int_equal(f->completed, 0); /* comes from the loop, after the caller's reply */
        f->acted = true;
        return 0;
}

static void test_cancel_mid_transfer_keeps_active_slots(void **state) {
        struct fx *f = *state;
        struct umc_agent_stats st;
        struct umc_target_status t;
        _cleanup_free_ char *versions = NULL;

        assert_int_equal(umc_manager_cancel(f->m), -ENOENT);
        install(f, &f->p1, NULL);
        run_until_done(f->event, is_completed, f, LOOP_LIMIT_USEC);
        assert_true(f->success);

        f->act_on = 0;
        f->act = do_cancel;
        install(f, &f->p2, NULL);
        run_until_done(f->event, is_completed, f, LOOP_LIMIT_USEC);
        assert_true(f->acted);
        assert_int_equal(f->completed, 1);
        assert_false(f->success);
        assert_int_equal(f->reason, UMC_REASON_CANCELLED);
        assert_int_equal(f->alarms, 0);
        assert_int_equal(umc_manager_operation(f->m), UMC_OP_IDLE);
        assert_int_equal(umc_manager_cancel(f->m), -ENOENT);
        for (int i = 0; i < N_AGENTS; i++) {
                target_status(f, i, &t);
                assert_int_equal(t.phase, UMC_PHASE_CANCELLED);
                assert_int_equal(t.last_reason, UMC_REASON_CANCELLED);
                assert_string_equal(t.version, "1.2.3");
                assert_false(record_exists(f, names[i]));
        }
        assert_int_equal(umc_fs_read_file(f->state_fd, "versions", 4096, &versions, NULL), 0);
        assert_string_equal(versions, "bcm=1.2.3\ngw=1.2.3\n");
        run_for(f, 100 * USEC_PER_MSEC); /* the agent sees the connection go */
        /* The target in flight was told: its agent raised the cancel as an alarm. */
        umc_agent_get_stats(f->agent[0], &st);
        assert_int_equal(st.last_refusal, UMC_REASON_CANCELLED);
        for (int i = 0; i < N_AGENTS; i++)
                assert_active(f, i, "1.2.3", f->p1.image[i]);
}

static void test_cancel_while_verifying_touches_nothing(void **state) {
        struct fx *f = *state;
        struct umc_agent_stats st;

        install(f, &f->p1, NULL);
        assert_int_equal(umc_manager_cancel(f->m), 0);
        run_until_done(f->event, is_completed, f, LOOP_LIMIT_USEC);
        assert_int_equal(f->reason, UMC_REASON_CANCELLED);
        umc_agent_get_stats(f->agent[0], &st);
        assert_int_equal(st.accepted, 0);
}

static int do_stop(sd_event_source *s, void *userdata) {
        struct fx *f = userdata;

        /* umcd killed mid-transfer: the manager goes, its records stay. */
        umc_manager_free(f->m);
        f->m = NULL;
        f->acted = true;
        return 0;
}

static void test_interrupted_installation_restarts_and_resumes(void **state) {
        struct fx *f = *state;
        struct umc_delivery_record rec;
        struct umc_daemon_config c;

        f->act_on = 0;
        f->act = do_stop;
        install(f, &f->p1, NULL);
        run_until_done(f->event, has_acted, f, LOOP_LIMIT_USEC);
        assert_int_equal(f->completed, 0);
        assert_int_equal(umc_delivery_record_read(f->state_fd, "bcm", &rec), 0);
        assert_true(rec.offset >= IMAGE_LEN / 2);
        assert_string_equal(rec.package_dir, f->p1.dir);
        assert_memory_equal(rec.manifest_hash, f->p1.hash, UMC_HASH_LEN);
        assert_true(record_exists(f, "gw"));
        run_for(f, 100 * USEC_PER_MSEC); /* the agent sees the connection go */

        f->act = NULL;
        f->seen_transfer[0] = false;
        daemon_config(f, KEY_BCM, ACL_ALLOW, &c);
        manager_start(f, &c);
        assert_int_equal(umc_manager_operation(f->m), UMC_OP_VERIFYING); /* restarted by itself */
        run_until_done(f->event, is_completed, f, LOOP_LIMIT_USEC);
        assert_true(f->success);
        /* bcm went on from its last checkpoint, not from 0. */
        assert_true(f->seen_transfer[0]);
        assert_true(f->first_transfer_done[0] >= IMAGE_LEN / 2);
        assert_false(record_exists(f, "bcm"));
        assert_false(record_exists(f, "gw"));
        for (int i = 0; i < N_AGENTS; i++)
                assert_active(f, i, "1.2.3", f->p1.image[i]);
}

static void test_stale_records_are_dropped_at_start(void **state) {
        struct fx *f = *state;
        struct umc_delivery_record rec = { .offset = 4096 };
        struct umc_daemon_config c;

        umc_manager_free(f->m);
        f->m = NULL;
        /* A record whose package changed since (the hash no longer matches). */
        (void)snprintf(rec.package_dir, sizeof(rec.package_dir), "%s", f->p1.dir);
        memcpy(rec.manifest_hash, f->p2.hash, UMC_HASH_LEN);
        strcpy(rec.target, "bcm");
        assert_int_equal(umc_delivery_record_write(f->state_fd, &rec), 0);
        /* And one for a target that is no longer configured. */
        strcpy(rec.target, "old");
        assert_int_equal(umc_delivery_record_write(f->state_fd, &rec), 0);
        daemon_config(f, KEY_BCM, ACL_ALLOW, &c);
        manager_start(f, &c);
        assert_int_equal(umc_manager_operation(f->m), UMC_OP_IDLE);
        assert_false(record_exists(f, "bcm"));
        assert_false(record_exists(f, "old"));
}

static void test_reload_is_refused_while_busy(void **state) {
        struct fx *f = *state;
        struct umc_daemon_config c;

        install(f, &f->p1, NULL);
        daemon_config(f, KEY_BCM, ACL_ALLOW, &c);
        assert_int_equal(umc_manager_reload(f->m, &c), -EBUSY);
        assert_non_null(c.targets); /* still the caller's */
        run_until_done(f->event, is_completed, f, LOOP_LIMIT_USEC);
        assert_int_equal(umc_manager_reload(f->m, &c), 0);
        assert_null(c.targets);
        assert_int_equal(umc_manager_n_targets(f->m), 2);
}

static void test_percent_and_names(void **state) {
        struct fx *f = *state;

        assert_int_equal(umc_manager_percent(f->m), 0);
        assert_string_equal(umc_operation_to_string(UMC_OP_CANCELLING), "cancelling");
        assert_string_equal(umc_phase_to_string(UMC_PHASE_AUTHENTICATING), "authenticating");
        assert_null(umc_phase_to_string((enum umc_phase)99));
        assert_int_equal(umc_manager_target_status(f->m, 2, &(struct umc_target_status){}), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_install_delivers_every_target_and_records_versions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_second_install_while_busy_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_hash_mismatch_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tampered_image_is_refused_before_any_delivery, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_of_wrong_size_is_refused_at_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlinked_image_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_package_for_unknown_target_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_inspect_checks_the_image_files_as_install_does, setup, teardown),
                cmocka_unit_test_setup_teardown(test_inspect_reads_only_below_the_package_directories, setup, teardown),
                cmocka_unit_test_setup_teardown(test_inspect_reads_the_directory_it_checked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_restricted_to_named_targets, setup, teardown),
                cmocka_unit_test_setup_teardown(test_acl_denied_target_fails_and_the_next_goes_on, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_key_fails_the_target_with_an_alarm, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sm3_image_hash_reaches_the_agent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_junk_signature_is_refused_before_any_ecu,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_oversized_signature_is_refused_at_once, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_cancel_mid_transfer_keeps_active_slots, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_while_verifying_touches_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_interrupted_installation_restarts_and_resumes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stale_records_are_dropped_at_start, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reload_is_refused_while_busy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_percent_and_names, setup, teardown),
        };

        umc_log_set_prefix(false);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
