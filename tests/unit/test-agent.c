/* SPDX-License-Identifier: MIT */
/*
 * The agent in-process on its own sd_event, over real TCP on 127.0.0.1,
 * with a temporary slot store. The test plays umcd with the real master
 * engines (umc_auth_master, umc_session, umc_sender) and drives the
 * agent's loop one iteration at a time whenever it waits for an answer:
 * one thread, no sleeps beyond the loop's own wait.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test-helpers.h"
#include "agent-rig.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "umc/agent.h"
#include "umc/auth.h"
#include "umc/config.h"
#include "umc/hash.h"
#include "umc/log.h"
#include "umc/msg.h"
#include "umc/rotation.h"
#include "umc/service.h"
#include "umc/session.h"
#include "umc/slot.h"
#include "umc/stream.h"
#include "umc/xfer.h"

#define ECU_ID 0x10
#define HW_ID "HW-BCM-0001"
#define KEY_BYTE 0x42
#define IMAGE_LEN (2u * 1024 * 1024)
#define VERSION "2.0.1"
#define FRAME_MAX (UMC_FRAME_HEADER_LEN + UMC_FRAME_MAX_PAYLOAD)
#define ALL_SUITES ((1u << UMC_SUITE_AES_128_GCM) | (1u << UMC_SUITE_AES_256_GCM) | \
                    (1u << UMC_SUITE_CHACHA20_POLY1305) | (1u << UMC_SUITE_SM4_CTR_HMAC_SM3))

struct rig {
        char dir[64];
        char slots[128];
        sd_event *e;
        struct umc_agent *agent;
        uint16_t port;
        uint8_t *image;
        int image_fd;
        uint8_t hash[UMC_HASH_LEN];
        const char *conf;  /* reloaded on SIGHUP */
        unsigned reloads;  /* SIGHUPs seen */
};

/* ---- the agent under test ---- */

static void config_fill(struct rig *g, struct umc_agent_config *c, const char *const *rules,
                        size_t n_rules) {
        assert_int_equal(umc_agent_config_init(c), 0);
        c->ecu_id = ECU_ID;
        strcpy(c->hw_id, HW_ID);
        memset(c->master_key, KEY_BYTE, sizeof(c->master_key));
        free(c->slot_directory);
        c->slot_directory = strdup(g->slots);
        assert_non_null(c->slot_directory);
        c->log_level = LOG_NOTICE; /* alarms (warnings) and installs show, chatter does not */
        c->require_signature = false; /* unsigned images; the signed ones: test-ecucheck.c */
        agent_rig_listen_loopback(c, rules, n_rules);
}

static void make_image(struct rig *g) {
        char path[128];

        g->image = malloc(IMAGE_LEN);
        assert_non_null(g->image);
        fill_image(g->image, IMAGE_LEN, 1);
        (void)snprintf(path, sizeof(path), "%s/image.bin", g->dir);
        g->image_fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        write_image(g->image_fd, g->image, IMAGE_LEN, g->hash);
}

static void rig_start_rules(struct rig *g, const char *const *rules, size_t n_rules) {
        struct umc_agent_config c;
        struct umc_sockaddr bound;

        memset(g, 0, sizeof(*g));
        strcpy(g->dir, "/tmp/umc-test-agent-XXXXXX");
        assert_non_null(mkdtemp(g->dir));
        (void)snprintf(g->slots, sizeof(g->slots), "%s/slots", g->dir);
        make_image(g);
        assert_int_equal(sd_event_new(&g->e), 0);
        config_fill(g, &c, rules, n_rules);
        assert_int_equal(umc_agent_new(&c, g->e, &g->agent, NULL, 0), 0);
        assert_int_equal(c.ecu_id, 0); /* moved in */
        assert_int_equal(umc_agent_local_address(g->agent, &bound), 0);
        g->port = ntohs(bound.in.sin_port);
        assert_true(g->port != 0);
}

static void rig_start(struct rig *g) {
        static const char *const allow_loopback[] = { "allow proto=tcp src=127.0.0.1 vlan=none" };
        rig_start_rules(g, allow_loopback, 1);
}

static void rig_stop(struct rig *g) {
        umc_agent_free(g->agent);
        sd_event_unref(g->e);
        close(g->image_fd);
        free(g->image);
        rm_tree(g->dir);
}

static struct umc_agent_stats stats(struct rig *g) {
        struct umc_agent_stats s;
        umc_agent_get_stats(g->agent, &s);
        return s;
}

static void pump(struct rig *g) {
        agent_rig_pump(g->e);
}

static void pump_until_idle(struct rig *g) {
        agent_rig_pump_until_idle(g->e, g->agent);
}

/* ---- the master side over TCP ---- */

struct client {
        struct rig *g;
        struct umc_stream *s;
};

static void client_connect(struct rig *g, struct client *c) {
        c->s = agent_rig_connect(g->port);
        c->g = g;
}

static void client_close(struct client *c) {
        umc_stream_free(c->s);
        c->s = NULL;
}

static int client_send(struct client *c, const uint8_t *f, size_t len) {
        return agent_rig_send(c->g->e, c->s, f, len);
}

static int client_recv(struct client *c, const uint8_t **f, size_t *len) {
        return agent_rig_recv(c->g->e, c->s, f, len);
}

struct master {
        struct client cl;
        struct umc_auth_master auth;
        struct umc_session *session;
        struct umc_rotation rot;
        struct umc_sender *tx;
        uint8_t buf[FRAME_MAX];
        unsigned frames;
        unsigned rotations;
        /* Forged frames sent ahead of real ones: inject_n before frame inject_at, ... */
        unsigned inject_at, inject_n;
        unsigned inject_every; /* ... and one before every inject_every-th from there (0: none) */
        unsigned inject_final; /* ... and this many once TRANSPORT is out (a gateway forwards) */
        unsigned injected;
};

static void master_free(struct master *m) {
        umc_sender_free(m->tx);
        umc_session_free(m->session);
        umc_auth_master_clear(&m->auth);
        if (m->cl.s)
                client_close(&m->cl);
        free(m);
}

static struct master *master_new(struct rig *g) {
        struct master *m = calloc(1, sizeof(*m));
        assert_non_null(m);
        client_connect(g, &m->cl);
        return m;
}

/* The AUTH exchange as umcd does it; returns the master's verdict. */
static int master_auth(struct master *m, uint8_t key_byte, uint32_t ecu_id, enum umc_reason *why) {
        uint8_t key[UMC_MASTER_KEY_LEN], salt[UMC_SALT_LEN];
        struct umc_session_params p = {
                .ecu_id = ecu_id, .tx_dir = UMC_DIR_MASTER_TO_ECU, .allowed_suites = ALL_SUITES,
                .replay_window = 64, .max_payload = UMC_FRAME_MAX_PAYLOAD,
        };
        const uint8_t *f;
        size_t len, flen;
        int r;

        memset(key, key_byte, sizeof(key));
        assert_int_equal(umc_auth_master_start(&m->auth, key, ecu_id, HW_ID, m->buf,
                                               sizeof(m->buf), &len), 0);
        assert_int_equal(client_send(&m->cl, m->buf, len), 0);
        r = client_recv(&m->cl, &f, &flen);
        if (r < 0)
                return r;
        r = umc_auth_master_response(&m->auth, f, flen, m->buf, sizeof(m->buf), &len, salt, why);
        if (r < 0)
                return r;
        assert_int_equal(client_send(&m->cl, m->buf, len), 0);
        memcpy(p.master_key, key, sizeof(key));
        memcpy(p.salt, salt, sizeof(salt));
        p.session_id = m->auth.session_id;
        assert_int_equal(umc_session_new(&p, &m->session), 0);
        return 0;
}

static void master_sender(struct rig *g, struct master *m, uint64_t rotation_usec) {
        struct umc_rotation_cfg rc;
        struct umc_sender_params sp = {
                .image_fd = g->image_fd, .image_len = IMAGE_LEN, .hash_alg = UMC_HASH_SHA256,
                .chunk_len = 60000, .verify_every = 0,
        };

        umc_rotation_cfg_default(&rc);
        rc.interval_usec = rotation_usec;
        assert_int_equal(umc_rotation_init(&m->rot, &rc, umc_now_monotonic_usec()), 0);
        memcpy(sp.image_hash, g->hash, sizeof(sp.image_hash));
        memcpy(sp.image_id, g->hash, sizeof(sp.image_id));
        strcpy(sp.version, VERSION);
        assert_int_equal(umc_sender_new(&sp, m->session, &m->rot, &m->tx), 0);
}

/*
 * What anyone in the middle can add: the clear header of the frame about
 * to go copied, junk for a payload. Returns how many went out.
 */
static int master_inject(struct master *m, size_t len) {
        static uint8_t fake[FRAME_MAX];
        unsigned count = 0;
        int r;

        if (m->inject_n && m->frames == m->inject_at)
                count = m->inject_n;
        if (m->inject_every && m->frames >= m->inject_at &&
            (m->frames - m->inject_at) % m->inject_every == 0)
                count++;
        for (unsigned i = 0; i < count; i++) {
                memcpy(fake, m->buf, len);
                for (size_t k = UMC_FRAME_HEADER_LEN; k < len; k++)
                        fake[k] = (uint8_t)(k + m->injected);
                r = client_send(&m->cl, fake, len);
                if (r < 0)
                        return r;
                m->injected++;
        }
        return 0;
}

/* What a man in the middle does to the frame numbered at (0 = BEGIN). */
enum tamper { TAMPER_NONE, TAMPER_FLIP, TAMPER_BAD_HEADER };

/*
 * Stream the image until done (0), the agent stops it (the sender's error,
 * *why its reason), the connection ends (-ECONNRESET), or stop_after
 * frames were sent (1).
 */
static int master_run(struct master *m, unsigned stop_after, enum tamper tamper, unsigned at,
                      enum umc_reason *why) {
        for (;;) {
                enum umc_rotation_cause cause = UMC_ROTATE_NONE;
                const uint8_t *f;
                size_t len;
                int r;

                r = umc_sender_next(m->tx, umc_now_monotonic_usec(), UMC_LOAD_NORMAL, m->buf,
                                    sizeof(m->buf), &len, &cause);
                if (r == 0) {
                        if (cause != UMC_ROTATE_NONE)
                                m->rotations++;
                        if (tamper == TAMPER_FLIP && m->frames == at)
                                m->buf[len - 5] ^= 0x20;
                        if (tamper == TAMPER_BAD_HEADER && m->frames == at) {
                                m->buf[0] = 'X';
                                len = UMC_FRAME_HEADER_LEN; /* and the stream has nothing to skip by */
                        }
                        r = master_inject(m, len);
                        if (r >= 0)
                                r = client_send(&m->cl, m->buf, len);
                        if (r < 0)
                                return r;
                        if (++m->frames == stop_after)
                                return 1;
                        continue;
                }
                if (r == -ESHUTDOWN)
                        return umc_sender_state(m->tx) == UMC_SENDER_DONE ? 0 : -EIO;
                assert_int_equal(r, -EAGAIN);
                if (m->inject_final && umc_sender_state(m->tx) == UMC_SENDER_WAIT_COMPLETE) {
                        m->inject_n = m->inject_final;
                        m->inject_at = m->frames;
                        m->inject_final = 0;
                        r = master_inject(m, UMC_FRAME_HEADER_LEN + umc_get_be32(m->buf + 24));
                        if (r < 0)
                                return r;
                }
                r = client_recv(&m->cl, &f, &len);
                if (r < 0)
                        return r;
                r = umc_sender_input(m->tx, f, len, why);
                if (r < 0)
                        return r;
        }
}

/* ---- checks on the slot store ---- */

static void expect_active(struct rig *g, const char *want_version) {
        struct umc_slots *s = NULL;
        const char *version = NULL;
        char slot = 0;

        assert_int_equal(umc_slots_open(g->slots, &s, NULL), 0);
        assert_int_equal(umc_slots_active(s, &slot, &version), 0);
        if (!want_version) {
                assert_null(version);
        } else {
                char path[192];
                uint8_t *got = malloc(IMAGE_LEN + 1);
                int fd;

                assert_non_null(version);
                assert_string_equal(version, want_version);
                (void)snprintf(path, sizeof(path), "%s/%c/image", g->slots, slot);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                assert_true(fd >= 0);
                assert_int_equal(read(fd, got, IMAGE_LEN + 1), (ssize_t)IMAGE_LEN);
                assert_memory_equal(got, g->image, IMAGE_LEN);
                close(fd);
                free(got);
        }
        umc_slots_close(s);
}

static bool progress_exists(struct rig *g) {
        char path[192];
        (void)snprintf(path, sizeof(path), "%s/incoming/progress", g->slots);
        return access(path, F_OK) == 0;
}

/* The resume point on disk: progress's offset, and image.part cut back to exactly it. */
static uint64_t durable_offset(struct rig *g) {
        char path[192], text[512], *p;
        uint64_t offset;
        struct stat st;
        ssize_t n;
        int fd;

        (void)snprintf(path, sizeof(path), "%s/incoming/progress", g->slots);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        n = read(fd, text, sizeof(text) - 1);
        close(fd);
        assert_true(n > 0);
        text[n] = '\0';
        p = strstr(text, "offset=");
        assert_non_null(p);
        offset = strtoull(p + 7, NULL, 10);
        (void)snprintf(path, sizeof(path), "%s/incoming/image.part", g->slots);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal((uint64_t)st.st_size, offset);
        return offset;
}

/* A new master resumes from offset and the image arrives whole. */
static void resume_and_complete(struct rig *g, uint64_t offset) {
        enum umc_reason why = UMC_REASON_OK;
        struct master *m = master_new(g);

        assert_int_equal(master_auth(m, KEY_BYTE, ECU_ID, &why), 0);
        master_sender(g, m, 3600 * USEC_PER_SEC);
        assert_int_equal(master_run(m, 0, TAMPER_NONE, 0, &why), 0);
        assert_int_equal(umc_sender_resume_offset(m->tx), offset);
        master_free(m);
        pump_until_idle(g);
        expect_active(g, VERSION);
}

/* ---- tests ---- */

static void test_image_arrives_byte_identical_in_the_active_slot(void **state) {
        enum umc_reason why = UMC_REASON_OK;
        struct rig g;
        struct master *m;

        rig_start(&g);
        expect_active(&g, NULL);
        m = master_new(&g);
        assert_int_equal(master_auth(m, KEY_BYTE, ECU_ID, &why), 0);
        master_sender(&g, m, 1); /* a new suite and key ID whenever a microsecond passed */
        assert_int_equal(master_run(m, 0, TAMPER_NONE, 0, &why), 0);
        assert_int_equal(umc_sender_bytes_acked(m->tx), IMAGE_LEN);
        assert_true(m->rotations >= 2);
        master_free(m);
        pump_until_idle(&g);

        expect_active(&g, VERSION);
        assert_false(progress_exists(&g));
        assert_int_equal(stats(&g).completed, 1);
        assert_int_equal(stats(&g).refused, 0);
        rig_stop(&g);
}

static void test_wrong_master_key_is_refused_and_the_slot_untouched(void **state) {
        enum umc_reason why = UMC_REASON_OK;
        uint8_t wrong[UMC_MASTER_KEY_LEN], salt[UMC_SALT_LEN];
        struct umc_msg_auth_response resp;
        struct umc_frame_header h;
        const uint8_t *f;
        size_t len, flen;
        struct master *m;
        struct rig g;
        int n;

        rig_start(&g);
        m = master_new(&g);
        memset(wrong, KEY_BYTE + 1, sizeof(wrong));
        assert_int_equal(umc_auth_master_start(&m->auth, wrong, ECU_ID, HW_ID, m->buf,
                                               sizeof(m->buf), &len), 0);
        assert_int_equal(client_send(&m->cl, m->buf, len), 0);
        assert_int_equal(client_recv(&m->cl, &f, &flen), 0);
        /* A real master sees that the ECU's proof does not match its key... */
        assert_int_equal(umc_auth_master_response(&m->auth, f, flen, m->buf, sizeof(m->buf),
                                                  &len, salt, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_ECU_AUTH_FAILED);
        /* ...and an impostor that confirms anyway is refused by the agent. */
        assert_int_equal(umc_msg_auth_response_decode(f + UMC_FRAME_HEADER_LEN,
                                                      flen - UMC_FRAME_HEADER_LEN, &resp), 0);
        h = (struct umc_frame_header){ .session_id = m->auth.session_id, .ecu_id = ECU_ID,
                                       .seq = 1 };
        n = umc_auth_confirm_frame(wrong, &h, m->auth.nonce_m, resp.nonce_e, m->buf,
                                   sizeof(m->buf));
        assert_true(n > 0);
        assert_int_equal(client_send(&m->cl, m->buf, (size_t)n), 0);
        assert_int_equal(client_recv(&m->cl, &f, &flen), -ECONNRESET);
        master_free(m);
        pump_until_idle(&g);

        assert_int_equal(stats(&g).last_refusal, UMC_REASON_ECU_AUTH_FAILED);
        assert_int_equal(stats(&g).refused, 1);
        expect_active(&g, NULL);
        assert_false(progress_exists(&g));
        rig_stop(&g);
}

static void expect_closed_silently(struct rig *g, enum umc_reason want) {
        enum umc_reason why = UMC_REASON_OK;
        const uint8_t *rest;
        struct master *m = master_new(g);

        assert_int_equal(master_auth(m, KEY_BYTE, ECU_ID, &why), -ECONNRESET);
        assert_int_equal(umc_stream_peek(m->cl.s, &rest), 0); /* not a single byte came back */
        master_free(m);
        pump_until_idle(g);
        assert_int_equal(stats(g).last_refusal, want);
        expect_active(g, NULL);
}

static void test_acl_deny_closes_the_connection_with_nothing_sent(void **state) {
        static const char *const deny_first[] = {
                "deny proto=tcp src=127.0.0.0/8",
                "allow",
        };
        struct rig g;

        rig_start_rules(&g, deny_first, UMC_ELEMENTSOF(deny_first));
        expect_closed_silently(&g, UMC_REASON_ETH_DENIED_BY_RULE);
        assert_int_equal(stats(&g).refused, 1);
        rig_stop(&g);

        /* No rule at all: default deny. */
        rig_start_rules(&g, NULL, 0);
        expect_closed_silently(&g, UMC_REASON_ETH_DEFAULT_DENY);
        rig_stop(&g);

        /* A rule for another VLAN does not match an untagged connection. */
        static const char *const vlan_only[] = { "allow proto=tcp vlan=12" };
        rig_start_rules(&g, vlan_only, 1);
        expect_closed_silently(&g, UMC_REASON_ETH_DEFAULT_DENY);
        rig_stop(&g);
}

static void test_unknown_ecu_id_is_refused(void **state) {
        enum umc_reason why = UMC_REASON_OK;
        struct master *m;
        struct rig g;

        rig_start(&g);
        m = master_new(&g);
        assert_int_equal(master_auth(m, KEY_BYTE, ECU_ID + 1, &why), -ECONNRESET);
        master_free(m);
        pump_until_idle(&g);
        assert_int_equal(stats(&g).last_refusal, UMC_REASON_ECU_UNKNOWN);
        expect_active(&g, NULL);
        rig_stop(&g);
}

static void test_second_transfer_is_refused_with_an_alarm_while_one_runs(void **state) {
        enum umc_reason why = UMC_REASON_OK;
        struct master *m1, *m2;
        struct rig g;

        rig_start(&g);
        m1 = master_new(&g);
        assert_int_equal(master_auth(m1, KEY_BYTE, ECU_ID, &why), 0);
        master_sender(&g, m1, 3600 * USEC_PER_SEC);
        assert_int_equal(master_run(m1, 10, TAMPER_NONE, 0, &why), 1);

        m2 = master_new(&g);
        assert_int_equal(master_auth(m2, KEY_BYTE, ECU_ID, &why), 0); /* authenticates fine */
        master_sender(&g, m2, 3600 * USEC_PER_SEC);
        why = UMC_REASON_OK;
        assert_int_equal(master_run(m2, 0, TAMPER_NONE, 0, &why), -ECANCELED);
        assert_int_equal(why, UMC_REASON_BUSY);
        master_free(m2);

        /* The first one is unaffected. */
        assert_int_equal(master_run(m1, 0, TAMPER_NONE, 0, &why), 0);
        master_free(m1);
        pump_until_idle(&g);
        expect_active(&g, VERSION);
        assert_int_equal(stats(&g).completed, 1);
        assert_int_equal(stats(&g).refused, 1);
        rig_stop(&g);
}

static void test_lost_connection_keeps_the_partial_and_resumes(void **state) {
        enum umc_reason why = UMC_REASON_OK;
        struct master *m;
        uint64_t acked;
        struct rig g;

        rig_start(&g);
        m = master_new(&g);
        assert_int_equal(master_auth(m, KEY_BYTE, ECU_ID, &why), 0);
        master_sender(&g, m, 3600 * USEC_PER_SEC);
        assert_int_equal(master_run(m, 20, TAMPER_NONE, 0, &why), 1);
        acked = umc_sender_bytes_acked(m->tx);
        assert_true(acked > 0 && acked < IMAGE_LEN);
        master_free(m); /* the master vanishes mid-stream */
        pump_until_idle(&g);
        assert_int_equal(stats(&g).interrupted, 1);
        assert_true(progress_exists(&g));
        expect_active(&g, NULL);

        m = master_new(&g);
        assert_int_equal(master_auth(m, KEY_BYTE, ECU_ID, &why), 0);
        master_sender(&g, m, 3600 * USEC_PER_SEC);
        assert_int_equal(master_run(m, 0, TAMPER_NONE, 0, &why), 0);
        assert_true(umc_sender_resume_offset(m->tx) >= acked);
        assert_true(umc_sender_resume_offset(m->tx) > 0);
        master_free(m);
        pump_until_idle(&g);
        expect_active(&g, VERSION);
        assert_int_equal(stats(&g).completed, 1);
        rig_stop(&g);
}

static void test_tampered_frame_is_dropped_and_the_gap_keeps_the_checkpoint(void **state) {
        enum umc_reason why = UMC_REASON_OK;
        struct master *m;
        uint64_t kept;
        struct rig g;

        rig_start(&g);
        m = master_new(&g);
        assert_int_equal(master_auth(m, KEY_BYTE, ECU_ID, &why), 0);
        master_sender(&g, m, 3600 * USEC_PER_SEC);
        /* Frame 9, a DATA of the second range, fails its tag: dropped; VERIFY 2 then has a gap. */
        assert_int_equal(master_run(m, 0, TAMPER_FLIP, 9, &why), -ECANCELED);
        assert_int_equal(why, UMC_REASON_OUT_OF_ORDER);
        master_free(m);
        pump_until_idle(&g);
        assert_int_equal(stats(&g).rejected_frames, 1);
        assert_int_equal(stats(&g).last_refusal, UMC_REASON_OUT_OF_ORDER);
        /* A frame that failed to open drops nothing: checkpoint 1 stays, cut back to it. */
        assert_true(progress_exists(&g));
        kept = durable_offset(&g);
        assert_int_equal(kept, 4 * 60000);
        expect_active(&g, NULL);
        resume_and_complete(&g, kept);
        rig_stop(&g);
}

/* A NOTIFY_SOCKET as systemd's (an AF_UNIX datagram socket) at path; our end. */
static int notify_socket(char *path, size_t size) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_true((size_t)snprintf(path, size, "/tmp/umc-test-agent-notify-%d", (int)getpid()) <
                    size);
        (void)unlink(path);
        assert_true(strlen(path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
        return fd;
}

/* The last STATUS= the agent sent (the notices waiting on fd), into buf. */
static void last_status(int fd, char *buf, size_t size) {
        char msg[1024];
        ssize_t n;

        buf[0] = '\0';
        while ((n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT)) > 0) {
                msg[n] = '\0';
                if (strncmp(msg, "STATUS=", 7) == 0)
                        (void)snprintf(buf, size, "%s", msg + 7);
        }
}

static void test_forged_frames_mid_transfer_are_dropped_and_the_image_arrives(void **state) {
        enum umc_reason why = UMC_REASON_OK;
        char path[108], status[1024], want[64];
        unsigned injected;
        struct master *m;
        struct rig g;
        int nfd;

        rig_start(&g);
        m = master_new(&g);
        assert_int_equal(master_auth(m, KEY_BYTE, ECU_ID, &why), 0);
        master_sender(&g, m, 3600 * USEC_PER_SEC);
        m->inject_at = 1;
        m->inject_every = 2;
        assert_int_equal(master_run(m, 0, TAMPER_NONE, 0, &why), 0);
        injected = m->injected;
        assert_true(injected >= 15);
        /* Only now: a notice per checkpoint would fill the socket's queue, and nobody reads it. */
        nfd = notify_socket(path, sizeof(path));
        master_free(m);
        pump_until_idle(&g);
        expect_active(&g, VERSION);
        assert_int_equal(stats(&g).completed, 1);
        assert_int_equal(stats(&g).rejected_frames, injected);
        /* systemctl status shows the count too. */
        last_status(nfd, status, sizeof(status));
        (void)snprintf(want, sizeof(want), "%u frame(s) dropped (failed authentication)", injected);
        if (!strstr(status, want))
                fail_msg("STATUS= without \"%s\": %s", want, status);
        (void)unsetenv("NOTIFY_SOCKET");
        (void)close(nfd);
        (void)unlink(path);
        rig_stop(&g);
}

static void test_forged_frames_past_the_limit_end_the_session_keeping_the_checkpoint(
        void **state) {
        enum umc_reason why = UMC_REASON_OK;
        struct master *m;
        uint64_t kept;
        struct rig g;

        rig_start(&g);
        m = master_new(&g);
        assert_int_equal(master_auth(m, KEY_BYTE, ECU_ID, &why), 0);
        master_sender(&g, m, 3600 * USEC_PER_SEC);
        /* Before frame 13 (a DATA of the third range): 33 forged, one past the default 32. */
        m->inject_at = 13;
        m->inject_n = UMC_XFER_REJECT_LIMIT_DEFAULT + 1;
        assert_int_equal(master_run(m, 0, TAMPER_NONE, 0, &why), -ECANCELED);
        assert_int_equal(why, UMC_REASON_REJECTED_FRAMES);
        master_free(m);
        pump_until_idle(&g);
        assert_int_equal(stats(&g).last_refusal, UMC_REASON_REJECTED_FRAMES);
        assert_int_equal(stats(&g).rejected_frames, UMC_XFER_REJECT_LIMIT_DEFAULT + 1);
        assert_true(progress_exists(&g));
        kept = durable_offset(&g);
        assert_true(kept >= 4 * 60000);
        expect_active(&g, NULL);
        resume_and_complete(&g, kept);
        rig_stop(&g);
}

static void test_bad_header_mid_transfer_is_answered_with_stop(void **state) {
        enum umc_reason why = UMC_REASON_OK;
        const uint8_t *f;
        struct master *m;
        struct rig g;
        size_t len;

        rig_start(&g);
        m = master_new(&g);
        assert_int_equal(master_auth(m, KEY_BYTE, ECU_ID, &why), 0);
        master_sender(&g, m, 3600 * USEC_PER_SEC);
        assert_int_equal(master_run(m, 3, TAMPER_BAD_HEADER, 2, &why), 1);
        /* BEGIN was answered inside master_run(); now the STOP, then the end. */
        assert_int_equal(client_recv(&m->cl, &f, &len), 0);
        assert_int_equal(umc_sender_input(m->tx, f, len, &why), -ECANCELED);
        assert_int_equal(why, UMC_REASON_FRAME_BAD_MAGIC);
        assert_int_equal(client_recv(&m->cl, &f, &len), -ECONNRESET);
        master_free(m);
        pump_until_idle(&g);
        assert_int_equal(stats(&g).last_refusal, UMC_REASON_FRAME_BAD_MAGIC);
        assert_int_equal(stats(&g).rejected_frames, 1);
        /* The stream is lost, the partial is not: it resumes from its (first) checkpoint. */
        assert_true(progress_exists(&g));
        assert_int_equal(durable_offset(&g), 0);
        expect_active(&g, NULL);
        resume_and_complete(&g, 0);
        rig_stop(&g);
}

static void test_silent_connection_times_out_in_the_handshake(void **state) {
        struct client c;
        const uint8_t *f;
        size_t len;
        struct rig g;

        rig_start(&g);
        assert_int_equal(umc_agent_set_timeouts(g.agent, 50 * USEC_PER_MSEC, USEC_PER_SEC), 0);
        assert_int_equal(umc_agent_set_timeouts(g.agent, 0, USEC_PER_SEC), -EINVAL);
        client_connect(&g, &c);
        assert_int_equal(client_recv(&c, &f, &len), -ECONNRESET);
        client_close(&c);
        pump_until_idle(&g);
        assert_int_equal(stats(&g).last_refusal, UMC_REASON_TIMEOUT);
        rig_stop(&g);
}

static void test_handshake_timeout_comes_from_the_config(void **state) {
        struct umc_agent_config c;
        struct client cl;
        const uint8_t *f;
        size_t len;
        struct rig g;
        uint64_t t0;

        rig_start(&g);
        umc_agent_free(g.agent);
        config_fill(&g, &c, (const char *const[]){ "allow proto=tcp src=127.0.0.1" }, 1);
        /* Below the file's 1 s minimum, which only the struct can say: a quick test. */
        c.handshake_timeout_usec = 50 * USEC_PER_MSEC;
        c.listen.in.sin_port = htons(g.port);
        assert_int_equal(umc_agent_new(&c, g.e, &g.agent, NULL, 0), 0);
        t0 = umc_now_monotonic_usec();
        client_connect(&g, &cl);
        assert_int_equal(client_recv(&cl, &f, &len), -ECONNRESET);
        assert_true(umc_now_monotonic_usec() - t0 < 5 * USEC_PER_SEC); /* not the default 10 s */
        client_close(&cl);
        pump_until_idle(&g);
        assert_int_equal(stats(&g).last_refusal, UMC_REASON_TIMEOUT);
        rig_stop(&g);
}

/* MaxConnections= of the running config: c_max connections served, one more waits. */
static void expect_connection_limit(struct rig *g, unsigned c_max) {
        struct client c[8];

        assert_true(c_max + 1 <= UMC_ELEMENTSOF(c));
        for (unsigned i = 0; i <= c_max; i++)
                client_connect(g, &c[i]);
        for (int i = 0; i < 20; i++)
                pump(g);
        assert_int_equal(stats(g).accepted, c_max);
        assert_int_equal(stats(g).connections, c_max);
        client_close(&c[0]);
        for (int i = 0; i < 200 && stats(g).accepted == c_max; i++)
                pump(g);
        assert_int_equal(stats(g).accepted, c_max + 1); /* the waiting one got in */
        for (unsigned i = 1; i <= c_max; i++)
                client_close(&c[i]);
        pump_until_idle(g);
}

static void test_connections_beyond_the_limit_wait_in_the_backlog(void **state) {
        struct rig g;

        rig_start(&g);
        expect_connection_limit(&g, 4); /* the default MaxConnections= */
        rig_stop(&g);
}

static void test_max_connections_comes_from_the_config(void **state) {
        struct umc_agent_config c;
        struct rig g;

        rig_start(&g);
        umc_agent_free(g.agent);
        config_fill(&g, &c, (const char *const[]){ "allow proto=tcp src=127.0.0.1" }, 1);
        c.max_connections = 2;
        c.listen.in.sin_port = htons(g.port);
        assert_int_equal(umc_agent_new(&c, g.e, &g.agent, NULL, 0), 0);
        expect_connection_limit(&g, 2);
        rig_stop(&g);
}

static void test_image_larger_than_max_image_size_is_refused(void **state) {
        enum umc_reason why = UMC_REASON_OK;
        struct umc_agent_config c;
        struct master *m;
        struct rig g;

        rig_start(&g);
        umc_agent_free(g.agent);
        config_fill(&g, &c, (const char *const[]){ "allow proto=tcp src=127.0.0.1" }, 1);
        c.max_image_size = IMAGE_LEN - 1;
        c.listen.in.sin_port = htons(g.port);
        assert_int_equal(umc_agent_new(&c, g.e, &g.agent, NULL, 0), 0);

        m = master_new(&g);
        assert_int_equal(master_auth(m, KEY_BYTE, ECU_ID, &why), 0);
        master_sender(&g, m, 3600 * USEC_PER_SEC);
        assert_int_equal(master_run(m, 0, TAMPER_NONE, 0, &why), -ECANCELED);
        assert_int_equal(why, UMC_REASON_IMAGE_TOO_LARGE);
        master_free(m);
        pump_until_idle(&g);
        assert_int_equal(stats(&g).last_refusal, UMC_REASON_IMAGE_TOO_LARGE);
        expect_active(&g, NULL);
        rig_stop(&g);
}

static void test_config_check_refuses_zero_limits(void **state) {
        struct umc_agent_config c;
        char why[UMC_WHY_MAX] = "";
        struct rig g;

        rig_start(&g);
        config_fill(&g, &c, NULL, 0);
        assert_int_equal(umc_agent_config_check(&c, why, sizeof(why)), 0);
        c.max_connections = 0;
        assert_int_equal(umc_agent_config_check(&c, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "MaxConnections="));
        c.max_connections = 1;
        c.max_image_size = 0;
        assert_int_equal(umc_agent_config_check(&c, why, sizeof(why)), -EINVAL);
        umc_agent_config_free(&c);
        rig_stop(&g);
}

static void write_agent_conf(struct rig *g, const char *path, const char *key_path,
                             uint32_t ecu_id, const char *mode) {
        char text[1024];

        (void)snprintf(text, sizeof(text),
                       "[Agent]\nEcuId=0x%" PRIx32 "\nHardwareId=" HW_ID "\nKeyFile=%s\n"
                       "Mode=%s\nListen=127.0.0.1:%u\nSlotDirectory=%s\nLogLevel=notice\n"
                       "RequireSignature=no\n"
                       "%s[EthernetAcl]\nRule=allow proto=tcp src=127.0.0.1\n",
                       ecu_id, key_path, mode, g->port, g->slots,
                       strcmp(mode, "gateway") == 0 ? "ForwardConfig=/etc/umc/forward.conf\n" : "");
        write_text(path, text, 0600);
}

static int auth_once(struct rig *g, uint32_t ecu_id) {
        enum umc_reason why = UMC_REASON_OK;
        struct master *m = master_new(g);
        int r = master_auth(m, KEY_BYTE, ecu_id, &why);

        master_free(m);
        pump_until_idle(g);
        return r;
}

/* What umc-agent's main() does on SIGHUP: load the file, hand it to the agent. */
static int reload_file(struct rig *g, const char *path, char *why, size_t why_size) {
        struct umc_agent_config c = {};
        struct umc_config_error err = {};
        int r;

        r = umc_agent_config_load(path, &c, &err);
        if (r < 0)
                return umc_why(why, why_size, r, "%s", err.msg);
        r = umc_agent_reload(g->agent, &c, why, why_size);
        umc_agent_config_free(&c);
        return r;
}

static int on_sighup(void *userdata) {
        struct rig *g = userdata;
        g->reloads++;
        return reload_file(g, g->conf, NULL, 0);
}

static void test_sighup_reloads_a_good_config_and_keeps_the_old_on_a_bad_one(void **state) {
        char conf[128], key[128], hex[2 * UMC_MASTER_KEY_LEN + 2], why[512] = "";
        struct rig g;

        rig_start(&g);
        (void)snprintf(conf, sizeof(conf), "%s/umc-agent.conf", g.dir);
        (void)snprintf(key, sizeof(key), "%s/agent.key", g.dir);
        memset(hex, 0, sizeof(hex));
        for (int i = 0; i < UMC_MASTER_KEY_LEN; i++)
                (void)snprintf(hex + 2 * i, 3, "%02x", KEY_BYTE);
        hex[2 * UMC_MASTER_KEY_LEN] = '\n';
        write_text(key, hex, 0600);
        write_text(conf, "[Agent]\nEcuId=not-a-number\n", 0600);
        g.conf = conf;
        assert_int_equal(umc_service_handle_signals(g.e, on_sighup, &g), 0);

        /* A bad file: refused, the agent goes on as it was. */
        assert_int_equal(kill(getpid(), SIGHUP), 0);
        pump(&g);
        assert_int_equal(g.reloads, 1);
        assert_int_equal(auth_once(&g, ECU_ID), 0);

        /* Gateway mode is not something to switch to by a reload. */
        write_agent_conf(&g, conf, key, 0x20, "gateway");
        assert_int_equal(reload_file(&g, conf, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "Mode= takes effect at a restart");
        assert_int_equal(auth_once(&g, ECU_ID), 0);

        /* A good file with another identity: the old ECU ID is now unknown. */
        write_agent_conf(&g, conf, key, 0x20, "endpoint");
        assert_int_equal(kill(getpid(), SIGHUP), 0);
        pump(&g);
        assert_int_equal(g.reloads, 2);
        assert_int_equal(auth_once(&g, ECU_ID), -ECONNRESET);
        assert_int_equal(stats(&g).last_refusal, UMC_REASON_ECU_UNKNOWN);
        assert_int_equal(auth_once(&g, 0x20), 0);

        /* SIGTERM ends the loop that umc_service_run() drives, with exit code 0. */
        assert_int_equal(kill(getpid(), SIGTERM), 0);
        assert_int_equal(umc_service_run(g.e), 0);
        rig_stop(&g);
}

static void test_gateway_mode_needs_a_forward_file(void **state) {
        struct umc_agent_config c;
        struct umc_agent *a = NULL;
        char why[UMC_WHY_MAX] = "";
        char fail[512] = "";
        struct rig g;

        rig_start(&g);
        config_fill(&g, &c, NULL, 0);
        c.mode = UMC_AGENT_GATEWAY;
        assert_int_equal(umc_agent_config_check(&c, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "[Agent] Mode=gateway needs Channel=tcp and an absolute ForwardConfig=");
        c.forward_config = strdup("/nonexistent/forward.conf");
        assert_non_null(c.forward_config);
        assert_int_equal(umc_agent_new(&c, g.e, &a, fail, sizeof(fail)), -ENOENT);
        assert_null(a);
        assert_non_null(strstr(fail, "Cannot load [Agent] ForwardConfig="));
        assert_int_equal(c.ecu_id, ECU_ID); /* not taken on failure */
        /* A gateway relays images encrypted for the ECUs: it holds no package key. */
        c.package_key_file = strdup("/etc/umc/package.key");
        assert_non_null(c.package_key_file);
        assert_int_equal(umc_agent_config_check(&c, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "PackageKeyFile= is for an endpoint"));
        umc_agent_config_free(&c);
        rig_stop(&g);
}

static void test_second_agent_on_the_same_slot_directory_is_refused(void **state) {
        struct umc_agent_config c;
        struct umc_agent *a = NULL;
        char path[160], text[32] = "", want[32], why[512] = "";
        int fd;

        struct rig g_rig;

        rig_start(&g_rig);
        /* The first agent wrote its PID into the lock file for the next one's message. */
        (void)snprintf(path, sizeof(path), "%s/agent.lock", g_rig.slots);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_true(read(fd, text, sizeof(text) - 1) > 0);
        close(fd);
        (void)snprintf(want, sizeof(want), "%d\n", (int)getpid());
        assert_string_equal(text, want);

        config_fill(&g_rig, &c, NULL, 0);
        assert_int_equal(umc_agent_new(&c, g_rig.e, &a, why, sizeof(why)), -EBUSY);
        assert_null(a);
        (void)snprintf(want, sizeof(want), "(PID %d holds ", (int)getpid());
        assert_non_null(strstr(why, want)); /* the holder, named for the operator */
        assert_int_equal(c.ecu_id, ECU_ID); /* not taken on failure */
        /* The lock goes with its holder: once the first agent is gone, the next one starts. */
        umc_agent_free(g_rig.agent);
        g_rig.agent = NULL;
        assert_int_equal(umc_agent_new(&c, g_rig.e, &a, NULL, 0), 0);
        umc_agent_free(a);
        rig_stop(&g_rig);
}

static void test_bind_interface_binds_the_listener_or_refuses_to_start(void **state) {
        struct umc_agent_config c;
        struct umc_agent *a = NULL;
        struct umc_sockaddr bound;
        char why[512] = "";
        struct rig g;

        rig_start(&g);
        umc_agent_free(g.agent); /* the rig's own agent holds the slot directory */
        g.agent = NULL;
        config_fill(&g, &c, (const char *const[]){ "allow proto=tcp src=127.0.0.1 vlan=none" }, 1);
        strcpy(c.bind_interface, "umc-nonexist0");
        assert_int_equal(umc_agent_new(&c, g.e, &a, why, sizeof(why)), -ENODEV);
        assert_null(a);
        assert_non_null(strstr(why, "umc-nonexist0"));
        strcpy(c.bind_interface, "lo");
        assert_int_equal(umc_agent_new(&c, g.e, &a, NULL, 0), 0);
        g.agent = a;
        assert_int_equal(umc_agent_local_address(a, &bound), 0);
        g.port = ntohs(bound.in.sin_port);
        /* Bound to lo, the listener still serves a master on 127.0.0.1. */
        assert_int_equal(auth_once(&g, ECU_ID), 0);
        rig_stop(&g);
}

/* A reload to another SlotDirectory= moves the lock; one that changes BindInterface= is refused. */
static void test_reload_moves_the_slot_directory_lock(void **state) {
        char conf[128], key[128], hex[2 * UMC_MASTER_KEY_LEN + 2], old_slots[128];
        char text[1024], bound[1100], why[512] = "";
        struct umc_agent_config c;
        struct umc_agent *a = NULL;
        struct rig g;
        ssize_t n;
        int fd;

        rig_start(&g);
        (void)snprintf(conf, sizeof(conf), "%s/umc-agent.conf", g.dir);
        (void)snprintf(key, sizeof(key), "%s/agent.key", g.dir);
        for (int i = 0; i < UMC_MASTER_KEY_LEN; i++)
                (void)snprintf(hex + 2 * i, 3, "%02x", KEY_BYTE);
        hex[2 * UMC_MASTER_KEY_LEN] = '\n';
        hex[2 * UMC_MASTER_KEY_LEN + 1] = '\0';
        write_text(key, hex, 0600);

        /* BindInterface= differs from the running "" (any): refused, nothing changes. */
        write_agent_conf(&g, conf, key, ECU_ID, "endpoint");
        fd = open(conf, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        n = read(fd, text, sizeof(text) - 1);
        assert_true(n > 0);
        close(fd);
        text[n] = '\0';
        assert_int_equal(strncmp(text, "[Agent]\n", 8), 0);
        (void)snprintf(bound, sizeof(bound), "[Agent]\nBindInterface=lo\n%s", text + 8);
        write_text(conf, bound, 0600);
        assert_int_equal(reload_file(&g, conf, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "BindInterface= takes effect at a restart");
        assert_int_equal(auth_once(&g, ECU_ID), 0);

        /* Another slot directory: locked by us now, the old one free. */
        (void)snprintf(old_slots, sizeof(old_slots), "%s", g.slots);
        (void)snprintf(g.slots, sizeof(g.slots), "%s/slots2", g.dir);
        write_agent_conf(&g, conf, key, ECU_ID, "endpoint");
        assert_int_equal(reload_file(&g, conf, NULL, 0), 0);
        config_fill(&g, &c, NULL, 0); /* slot directory: slots2 */
        assert_int_equal(umc_agent_new(&c, g.e, &a, NULL, 0), -EBUSY);
        free(c.slot_directory);
        c.slot_directory = strdup(old_slots);
        assert_non_null(c.slot_directory);
        assert_int_equal(umc_agent_new(&c, g.e, &a, NULL, 0), 0);
        umc_agent_free(a);
        rig_stop(&g);
}

/* ---- gateway mode: master -> gateway (TCP) -> endpoint (TCP here, CAN in the guest test) ---- */

#define GW_ECU_ID 0x99
#define GW_KEY_BYTE 0x77 /* the hop between the master and the gateway */

/*
 * A gateway agent on g's loop that forwards ECU_ID to the rig's endpoint
 * agent, whose key it holds as ecu_key_byte (KEY_BYTE: the right one).
 */
static struct umc_agent *gateway_start(struct rig *g, const char *name, uint8_t ecu_key_byte,
                                       uint16_t *ret_port) {
        char fwd[160], key[160], text[1024], hex[2 * UMC_MASTER_KEY_LEN + 2] = "";
        struct umc_agent_config c;
        struct umc_agent *a = NULL;
        struct umc_sockaddr bound;

        (void)snprintf(key, sizeof(key), "%s/%s-ecu.key", g->dir, name);
        for (int i = 0; i < UMC_MASTER_KEY_LEN; i++)
                (void)snprintf(hex + 2 * i, 3, "%02x", ecu_key_byte);
        hex[2 * UMC_MASTER_KEY_LEN] = '\n';
        write_text(key, hex, 0600);
        (void)snprintf(fwd, sizeof(fwd), "%s/%s-forward.conf", g->dir, name);
        (void)snprintf(text, sizeof(text),
                       "[Daemon]\nStateDirectory=%s\nLogLevel=notice\n"
                       "[Security]\nRotationIntervalSec=1\nRotationHoldoffSec=0\n"
                       "[EthernetAcl]\nRule=allow proto=tcp dst=127.0.0.1\n"
                       "[Target bcm]\nEcuId=0x%x\nHardwareId=" HW_ID "\nKeyFile=%s\n"
                       "Channel=tcp\nAddress=127.0.0.1:%u\n%s",
                       g->dir, ECU_ID, key, g->port,
                       /* Paced (4 Mbit/s: 2 MiB in about 4 s) so that the forged frames
                        * surely arrive while the ECU's leg runs, on any machine. */
                       strcmp(name, "forged") == 0 ? "[Load]\nLinkRateMbit=8\nCeilingPercent=50\n" : "");
        write_text(fwd, text, 0600);

        config_fill(g, &c, (const char *const[]){ "allow proto=tcp src=127.0.0.1" }, 1);
        c.mode = UMC_AGENT_GATEWAY;
        c.ecu_id = GW_ECU_ID;
        memset(c.master_key, GW_KEY_BYTE, sizeof(c.master_key));
        c.forward_config = strdup(fwd);
        free(c.slot_directory);
        (void)snprintf(text, sizeof(text), "%s/%s-store", g->dir, name);
        c.slot_directory = strdup(text);
        assert_non_null(c.forward_config);
        assert_non_null(c.slot_directory);
        assert_int_equal(umc_agent_new(&c, g->e, &a, NULL, 0), 0);
        assert_int_equal(umc_agent_local_address(a, &bound), 0);
        *ret_port = ntohs(bound.in.sin_port);
        return a;
}

/*
 * Send the rig's image through the gateway at gw_port, with forge_final
 * forged frames once TRANSPORT is out (while the gateway forwards); the
 * master's verdict.
 */
static int deliver_via_forging(struct rig *g, uint16_t gw_port, unsigned forge_final,
                               enum umc_reason *why) {
        uint16_t endpoint_port = g->port;
        struct master *m;
        int r;

        g->port = gw_port;
        m = master_new(g);
        g->port = endpoint_port;
        m->inject_final = forge_final;
        /* The gateway answers for ECU_ID behind it, with its own key and the ECU's hardware ID. */
        r = master_auth(m, GW_KEY_BYTE, ECU_ID, why);
        if (r == 0) {
                master_sender(g, m, 1);
                r = master_run(m, 0, TAMPER_NONE, 0, why);
        }
        master_free(m);
        return r;
}

static int deliver_via(struct rig *g, uint16_t gw_port, enum umc_reason *why) {
        return deliver_via_forging(g, gw_port, 0, why);
}

static void test_gateway_forwards_and_passes_the_ecu_verdict_back(void **state) {
        enum umc_reason why = UMC_REASON_OK;
        struct umc_agent *gw;
        uint16_t port;
        struct rig g;

        rig_start(&g);
        gw = gateway_start(&g, "good", KEY_BYTE, &port);
        assert_int_equal(deliver_via(&g, port, &why), 0);
        expect_active(&g, VERSION); /* on the endpoint behind the gateway */
        assert_int_equal(stats(&g).completed, 1);
        umc_agent_free(gw);
        rig_stop(&g);
}

static void test_gateway_drops_forged_frames_while_forwarding_and_the_leg_goes_on(void **state) {
        enum umc_reason why = UMC_REASON_OK;
        struct umc_agent_stats st;
        struct umc_agent *gw;
        uint16_t port;
        struct rig g;

        rig_start(&g);
        gw = gateway_start(&g, "forged", KEY_BYTE, &port);
        assert_int_equal(deliver_via_forging(&g, port, 5, &why), 0);
        expect_active(&g, VERSION); /* the ECU's leg was not stopped */
        umc_agent_get_stats(gw, &st);
        assert_int_equal(st.rejected_frames, 5);
        assert_int_equal(st.completed, 1);
        umc_agent_free(gw);
        rig_stop(&g);
}

static void test_gateway_reports_the_ecu_refusal_and_the_ecu_is_untouched(void **state) {
        enum umc_reason why = UMC_REASON_OK;
        struct umc_agent *gw;
        uint16_t port;
        struct rig g;

        rig_start(&g);
        /* The gateway holds a wrong key for the ECU: the hop to it fails authentication. */
        gw = gateway_start(&g, "badkey", 0x13, &port);
        assert_int_equal(deliver_via(&g, port, &why), -ECANCELED);
        assert_int_equal(why, UMC_REASON_ECU_AUTH_FAILED);
        expect_active(&g, NULL);
        assert_int_equal(stats(&g).completed, 0);
        umc_agent_free(gw);
        rig_stop(&g);
}

static void test_gateway_refuses_an_ecu_it_does_not_forward_to(void **state) {
        enum umc_reason why = UMC_REASON_OK;
        struct umc_agent *gw;
        struct master *m;
        uint16_t port, endpoint_port;
        struct rig g;

        rig_start(&g);
        gw = gateway_start(&g, "unknown", KEY_BYTE, &port);
        endpoint_port = g.port;
        g.port = port;
        m = master_new(&g);
        g.port = endpoint_port;
        assert_int_equal(master_auth(m, GW_KEY_BYTE, 0x55, &why), -ECONNRESET);
        master_free(m);
        umc_agent_free(gw);
        rig_stop(&g);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_image_arrives_byte_identical_in_the_active_slot),
                cmocka_unit_test(test_wrong_master_key_is_refused_and_the_slot_untouched),
                cmocka_unit_test(test_acl_deny_closes_the_connection_with_nothing_sent),
                cmocka_unit_test(test_unknown_ecu_id_is_refused),
                cmocka_unit_test(test_second_transfer_is_refused_with_an_alarm_while_one_runs),
                cmocka_unit_test(test_lost_connection_keeps_the_partial_and_resumes),
                cmocka_unit_test(test_tampered_frame_is_dropped_and_the_gap_keeps_the_checkpoint),
                cmocka_unit_test(test_forged_frames_mid_transfer_are_dropped_and_the_image_arrives),
                cmocka_unit_test(test_forged_frames_past_the_limit_end_the_session_keeping_the_checkpoint),
                cmocka_unit_test(test_bad_header_mid_transfer_is_answered_with_stop),
                cmocka_unit_test(test_silent_connection_times_out_in_the_handshake),
                cmocka_unit_test(test_connections_beyond_the_limit_wait_in_the_backlog),
                cmocka_unit_test(test_max_connections_comes_from_the_config),
                cmocka_unit_test(test_handshake_timeout_comes_from_the_config),
                cmocka_unit_test(test_image_larger_than_max_image_size_is_refused),
                cmocka_unit_test(test_config_check_refuses_zero_limits),
                cmocka_unit_test(test_sighup_reloads_a_good_config_and_keeps_the_old_on_a_bad_one),
                cmocka_unit_test(test_gateway_mode_needs_a_forward_file),
                cmocka_unit_test(test_second_agent_on_the_same_slot_directory_is_refused),
                cmocka_unit_test(test_bind_interface_binds_the_listener_or_refuses_to_start),
                cmocka_unit_test(test_reload_moves_the_slot_directory_lock),
                cmocka_unit_test(test_gateway_forwards_and_passes_the_ecu_verdict_back),
                cmocka_unit_test(test_gateway_drops_forged_frames_while_forwarding_and_the_leg_goes_on),
                cmocka_unit_test(test_gateway_reports_the_ecu_refusal_and_the_ecu_is_untouched),
                cmocka_unit_test(test_gateway_refuses_an_ecu_it_does_not_forward_to),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
