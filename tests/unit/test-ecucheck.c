/* SPDX-License-Identifier: MIT */
/*
 * The ECU checks the backend's signature itself (ecucheck.c): a real
 * umc-agent on a loopback socket, a master that authenticates and sends
 * MANIFEST frames, BEGIN and the image as umcd does, and a test PKI made
 * at test time. The master here is a compromised T-Box: it sends whatever
 * manifest, signature and image a test gives it, so nothing on the
 * master's side checks anything, and every refusal comes from the ECU.
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
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "pki-fixture.h"
#pragma GCC diagnostic pop

#include "umc/agent.h"
#include "umc/auth.h"
#include "umc/config.h"
#include "umc/ecucheck.h"
#include "umc/hash.h"
#include "umc/log.h"
#include "umc/mfmsg.h"
#include "umc/pkgenc.h"
#include "umc/rotation.h"
#include "umc/session.h"
#include "umc/sig.h"
#include "umc/slot.h"
#include "umc/stream.h"
#include "umc/xfer.h"

#define ECU_ID 0x10
#define HW_ID "HW-BCM-0001"
#define KEY_BYTE 0x42
#define IMAGE_LEN (300u * 1024 + 17)
#define VERSION "2.0.1"
#define FRAME_MAX (UMC_FRAME_HEADER_LEN + UMC_FRAME_MAX_PAYLOAD)
#define ALL_SUITES ((1u << UMC_SUITE_AES_128_GCM) | (1u << UMC_SUITE_AES_256_GCM) | \
                    (1u << UMC_SUITE_CHACHA20_POLY1305) | (1u << UMC_SUITE_SM4_CTR_HMAC_SM3))

static struct pki pki; /* built once for the file: key generation is the slow part */
static const char *const allow_loopback[] = { "allow proto=tcp src=127.0.0.1" };

/* ---- what the backend signs ---- */

struct entry {
        uint32_t ecu_id;
        const char *hw_id;
        const char *version;
        uint64_t size;
        const uint8_t *sha256;
        uint64_t security_version;
        uint64_t downgrade_max; /* 0: no permission */
        const uint8_t *salt;    /* non-NULL: sealed for the ECU (pkgenc.h) */
        uint64_t plain_size;
        const uint8_t *plain_sha256;
};

static void hex_of(const uint8_t *b, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                (void)snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static char *manifest_json(const struct entry *e) {
        char hex[2 * UMC_HASH_LEN + 1], down[48] = "", enc[320] = "", *json;

        hex_of(e->sha256, UMC_HASH_LEN, hex);
        if (e->downgrade_max)
                (void)snprintf(down, sizeof(down), ",\"downgrade_max\":%" PRIu64, e->downgrade_max);
        if (e->salt) {
                char salt[2 * UMC_PKGENC_SALT_LEN + 1], plain[2 * UMC_HASH_LEN + 1];

                hex_of(e->salt, UMC_PKGENC_SALT_LEN, salt);
                hex_of(e->plain_sha256, UMC_HASH_LEN, plain);
                (void)snprintf(enc, sizeof(enc),
                               ",\"encryption\":{\"aead\":\"AES-256-GCM\",\"kdf\":\"HKDF-SHA256\","
                               "\"segment_size\":65536,\"salt\":\"%s\",\"plain_size\":%" PRIu64
                               ",\"plain_sha256\":\"%s\"}", salt, e->plain_size, plain);
        }
        assert_true(asprintf(&json,
                             "{\"format\":2,\"name\":\"ecu test\",\"package_version\":\"1\","
                             "\"security_version\":%" PRIu64 ",\"expires\":\"2099-01-01T00:00:00Z\","
                             "\"vehicle\":{\"model\":\"X1\",\"hw_revision\":\"B2\"},\"images\":["
                             "{\"target\":\"bcm\",\"ecu_id\":%" PRIu32 ",\"hw_id\":\"%s\","
                             "\"version\":\"%s\",\"file\":\"bcm.img\",\"size\":%" PRIu64 ","
                             "\"sha256\":\"%s\"%s%s}]}",
                             e->security_version, e->ecu_id, e->hw_id, e->version, e->size, hex,
                             down, enc) > 0);
        return json;
}

struct signed_mf {
        char *json;
        uint8_t *sig;
        size_t sig_len;
        struct umc_signed_manifest view;
};

/* Sign json (taken over) with signer, chained to the test root through the intermediate. */
static void sign_with(struct signed_mf *s, char *json, const struct pki_id *signer,
                      const char *chain) {
        char why[256] = "";

        s->json = json;
        if (umc_sig_sign(json, strlen(json), signer->cert_path, signer->key_path, chain, &s->sig,
                         &s->sig_len, NULL, why, sizeof(why)) != 0)
                fail_msg("signing failed: %s", why);
        s->view = (struct umc_signed_manifest){
                .format = UMC_MFMSG_CMS,
                .manifest = (const uint8_t *)s->json,
                .manifest_len = strlen(s->json),
                .sig = s->sig,
                .sig_len = s->sig_len,
        };
}

static void signed_mf_free(struct signed_mf *s) {
        free(s->json);
        free(s->sig);
}

/* ---- the agent under test ---- */

struct image {
        uint8_t *bytes;
        int fd;
        uint8_t sha[UMC_HASH_LEN];
};

struct rig {
        char dir[64], slots[96];
        sd_event *e;
        struct umc_agent *agent;
        uint16_t port;
        uint8_t key_byte;        /* the master's key for whom it talks to */
        struct image good, evil; /* the backend's image, and one of the same size it never signed */
};

static void make_image(struct rig *g, struct image *im, uint32_t seed, const char *name) {
        char path[128];

        im->bytes = malloc(IMAGE_LEN);
        assert_non_null(im->bytes);
        for (size_t i = 0; i < IMAGE_LEN; i++)
                im->bytes[i] = (uint8_t)(((i + seed) * 2654435761u) >> 13);
        (void)snprintf(path, sizeof(path), "%s/%s", g->dir, name);
        im->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(im->fd >= 0);
        assert_int_equal(write(im->fd, im->bytes, IMAGE_LEN), (ssize_t)IMAGE_LEN);
        assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, im->bytes, IMAGE_LEN, im->sha), 0);
}

/*
 * An endpoint that requires signatures; installed: the slot store's
 * security version first; package_key: its PackageKeyFile= (NULL: none).
 */
static void rig_start_key(struct rig *g, uint64_t installed, const uint8_t *package_key) {
        struct umc_agent_config c;
        struct umc_sockaddr bound;
        char why[256];

        memset(g, 0, sizeof(*g));
        close(scratch_dir("ecucheck", g->dir, sizeof(g->dir)));
        (void)snprintf(g->slots, sizeof(g->slots), "%s/slots", g->dir);
        make_image(g, &g->good, 0, "good.img");
        make_image(g, &g->evil, 7, "evil.img");
        if (installed) {
                struct umc_slots *s = NULL;
                assert_int_equal(umc_slots_open(g->slots, &s, NULL), 0);
                assert_int_equal(umc_slots_set_security_version(s, installed), 0);
                umc_slots_close(s);
        }
        assert_int_equal(sd_event_new(&g->e), 0);
        assert_int_equal(umc_agent_config_init(&c), 0);
        c.ecu_id = ECU_ID;
        strcpy(c.hw_id, HW_ID);
        memset(c.master_key, KEY_BYTE, sizeof(c.master_key));
        free(c.slot_directory);
        c.slot_directory = strdup(g->slots);
        c.trust_anchor = strdup(pki.anchor);
        assert_non_null(c.slot_directory);
        assert_non_null(c.trust_anchor);
        assert_true(c.require_signature); /* the default */
        if (package_key) {
                c.package_key_file = strdup("/nonexistent/package.key"); /* only "set" matters */
                assert_non_null(c.package_key_file);
                memcpy(c.package_key, package_key, sizeof(c.package_key));
        }
        if (umc_sig_trust_load(pki.anchor, NULL, &c.trust, why, sizeof(why)) != 0)
                fail_msg("%s", why);
        c.log_level = LOG_NOTICE;
        agent_rig_listen_loopback(&c, allow_loopback, 1);
        assert_int_equal(umc_agent_new(&c, g->e, &g->agent, NULL, 0), 0);
        assert_int_equal(umc_agent_local_address(g->agent, &bound), 0);
        g->port = ntohs(bound.in.sin_port);
        g->key_byte = KEY_BYTE;
}

static void rig_start(struct rig *g, uint64_t installed) {
        rig_start_key(g, installed, NULL);
}

static void rig_stop(struct rig *g) {
        umc_agent_free(g->agent);
        sd_event_unref(g->e);
        close(g->good.fd);
        close(g->evil.fd);
        free(g->good.bytes);
        free(g->evil.bytes);
        rm_tree(g->dir);
}

static struct umc_agent_stats stats(struct rig *g) {
        struct umc_agent_stats s;
        umc_agent_get_stats(g->agent, &s);
        return s;
}

static void pump_until_idle(struct rig *g) {
        agent_rig_pump_until_idle(g->e, g->agent);
}

/* ---- the (compromised) master ---- */

struct master {
        struct rig *g;
        struct umc_stream *s;
        struct umc_auth_master auth;
        struct umc_session *session;
        struct umc_rotation rot;
        struct umc_sender *tx;
        uint8_t buf[FRAME_MAX];
};

static int send_frame(struct master *m, size_t len) {
        return agent_rig_send(m->g->e, m->s, m->buf, len);
}

static int recv_frame(struct master *m, const uint8_t **f, size_t *len) {
        return agent_rig_recv(m->g->e, m->s, f, len);
}

static void master_connect(struct rig *g, struct master *m) {
        m->s = agent_rig_connect(g->port);
        m->g = g;
}

static void master_auth(struct master *m) {
        uint8_t key[UMC_MASTER_KEY_LEN], salt[UMC_SALT_LEN];
        struct umc_session_params p = {
                .ecu_id = ECU_ID, .tx_dir = UMC_DIR_MASTER_TO_ECU, .allowed_suites = ALL_SUITES,
                .replay_window = 64, .max_payload = UMC_FRAME_MAX_PAYLOAD,
        };
        enum umc_reason why = UMC_REASON_OK;
        const uint8_t *f;
        size_t len, flen;

        memset(key, m->g->key_byte, sizeof(key));
        assert_int_equal(umc_auth_master_start(&m->auth, key, ECU_ID, HW_ID, m->buf,
                                               sizeof(m->buf), &len), 0);
        assert_int_equal(send_frame(m, len), 0);
        assert_int_equal(recv_frame(m, &f, &flen), 0);
        assert_int_equal(umc_auth_master_response(&m->auth, f, flen, m->buf, sizeof(m->buf), &len,
                                                  salt, &why), 0);
        assert_int_equal(send_frame(m, len), 0);
        memcpy(p.master_key, key, sizeof(key));
        memcpy(p.salt, salt, sizeof(salt));
        p.session_id = m->auth.session_id;
        assert_int_equal(umc_session_new(&p, &m->session), 0);
}

/*
 * Deliver im with version and length len (BEGIN), and mf before BEGIN
 * (NULL: none), in chunks of chunk bytes. Returns 0 when the ECU installed
 * it, else the sender's error with *why the ECU's reason.
 */
static int deliver(struct rig *g, const struct image *im, uint64_t len, const char *version,
                   const struct umc_signed_manifest *mf, uint32_t chunk, enum umc_reason *why) {
        struct master m = {};
        struct umc_rotation_cfg rc;
        struct umc_sender_params sp = {
                .image_fd = im->fd, .image_len = len, .hash_alg = UMC_HASH_SHA256,
                .chunk_len = chunk, .manifest = mf,
        };
        int r;

        *why = UMC_REASON_OK;
        master_connect(g, &m);
        master_auth(&m);
        umc_rotation_cfg_default(&rc);
        assert_int_equal(umc_rotation_init(&m.rot, &rc, umc_now_monotonic_usec()), 0);
        memcpy(sp.image_hash, im->sha, sizeof(sp.image_hash)); /* of what it sends: it passes */
        memcpy(sp.image_id, im->sha, sizeof(sp.image_id));
        (void)snprintf(sp.version, sizeof(sp.version), "%s", version);
        assert_int_equal(umc_sender_new(&sp, m.session, &m.rot, &m.tx), 0);
        for (;;) {
                const uint8_t *f;
                size_t flen;

                r = umc_sender_next(m.tx, umc_now_monotonic_usec(), UMC_LOAD_NORMAL, m.buf,
                                    sizeof(m.buf), &flen, NULL);
                if (r == 0) {
                        r = send_frame(&m, flen);
                        if (r < 0)
                                break;
                        continue;
                }
                if (r == -ESHUTDOWN) {
                        r = umc_sender_state(m.tx) == UMC_SENDER_DONE ? 0 : -EIO;
                        break;
                }
                assert_int_equal(r, -EAGAIN);
                r = recv_frame(&m, &f, &flen);
                if (r >= 0)
                        r = umc_sender_input(m.tx, f, flen, why);
                if (r < 0)
                        break;
        }
        umc_sender_free(m.tx);
        umc_session_free(m.session);
        umc_auth_master_clear(&m.auth);
        umc_stream_free(m.s);
        pump_until_idle(g);
        return r;
}

/* ---- what the ECU holds ---- */

static void expect_active(struct rig *g, const char *want_version, uint64_t want_secver) {
        struct umc_slots *s = NULL;
        const char *version = NULL;
        uint64_t secver = UINT64_MAX;
        char slot = 0;

        assert_int_equal(umc_slots_open(g->slots, &s, NULL), 0);
        assert_int_equal(umc_slots_active(s, &slot, &version), 0);
        if (want_version) {
                assert_non_null(version);
                assert_string_equal(version, want_version);
        } else {
                assert_null(version);
        }
        assert_int_equal(umc_slots_security_version(s, &secver), 0);
        assert_int_equal(secver, want_secver);
        umc_slots_close(s);
}

static struct entry good_entry(const struct rig *g) {
        return (struct entry){ .ecu_id = ECU_ID, .hw_id = HW_ID, .version = VERSION,
                               .size = IMAGE_LEN, .sha256 = g->good.sha, .security_version = 5 };
}

/* deliver() im, and expect the ECU to refuse it for want. */
static void expect_refused(struct rig *g, const struct image *im, uint64_t len, const char *version,
                           const struct umc_signed_manifest *mf, uint32_t chunk,
                           enum umc_reason want) {
        enum umc_reason why;

        assert_int_equal(deliver(g, im, len, version, mf, chunk, &why), -ECANCELED);
        assert_int_equal(why, want);
}

/* Sign e with signer (chain: its intermediates), deliver the good image, expect want. */
static void expect_refusal_by(struct rig *g, const struct entry *e, const struct pki_id *signer,
                              const char *chain, enum umc_reason want) {
        struct signed_mf s;

        sign_with(&s, manifest_json(e), signer, chain);
        expect_refused(g, &g->good, IMAGE_LEN, VERSION, &s.view, 4000, want);
        signed_mf_free(&s);
}

/* Sign e with the test PKI's ECDSA signer, deliver the good image, expect want. */
static void expect_refusal(struct rig *g, const struct entry *e, enum umc_reason want) {
        expect_refusal_by(g, e, &pki.ec, pki.chain, want);
}

/* Sign e likewise, deliver the good image as e->version: installed, recorded as want_secver. */
static void expect_installed(struct rig *g, const struct entry *e, uint64_t want_secver) {
        enum umc_reason why;
        struct signed_mf s;

        sign_with(&s, manifest_json(e), &pki.ec, pki.chain);
        assert_int_equal(deliver(g, &g->good, IMAGE_LEN, e->version, &s.view, 16000, &why), 0);
        expect_active(g, e->version, want_secver);
        signed_mf_free(&s);
}

/* ---- tests ---- */

static void test_signed_image_is_installed_and_its_security_version_recorded(void **state) {
        struct entry e;
        enum umc_reason why;
        struct signed_mf s;
        struct rig g;

        rig_start(&g, 0);
        e = good_entry(&g);
        sign_with(&s, manifest_json(&e), &pki.ec, pki.chain);
        /* 4000-byte chunks as on CAN: the manifest and signature take several MANIFEST frames. */
        assert_int_equal(deliver(&g, &g.good, IMAGE_LEN, VERSION, &s.view, 4000, &why), 0);
        expect_active(&g, VERSION, 5);
        assert_int_equal(stats(&g).completed, 1);
        assert_int_equal(stats(&g).refused, 0);
        signed_mf_free(&s);
        rig_stop(&g);
}

static void test_rsa_pss_signature_in_small_chunks_is_installed(void **state) {
        struct entry e;
        enum umc_reason why;
        struct signed_mf s;
        struct rig g;

        rig_start(&g, 0);
        e = good_entry(&g);
        sign_with(&s, manifest_json(&e), &pki.rsa, pki.chain);
        /* 100-byte chunks: the manifest crosses into the signature inside one frame. */
        assert_true(s.view.manifest_len % 95 != 0);
        assert_int_equal(deliver(&g, &g.good, IMAGE_LEN, VERSION, &s.view, 100, &why), 0);
        expect_active(&g, VERSION, 5);
        signed_mf_free(&s);
        rig_stop(&g);
}

/*
 * A compromised T-Box swaps in its own image and rewrites the manifest's
 * hash to match it (umcd's checks bypassed): the signature no longer
 * covers the bytes, and the ECU refuses before a byte is written.
 */
static void test_tampered_rehashed_manifest_is_refused_by_the_ecu(void **state) {
        struct entry e;
        struct signed_mf s;
        char *forged, hex_good[65], hex_evil[65], *at;
        struct rig g;

        rig_start(&g, 0);
        e = good_entry(&g);
        sign_with(&s, manifest_json(&e), &pki.ec, pki.chain);
        for (size_t i = 0; i < UMC_HASH_LEN; i++) {
                (void)snprintf(hex_good + 2 * i, 3, "%02x", g.good.sha[i]);
                (void)snprintf(hex_evil + 2 * i, 3, "%02x", g.evil.sha[i]);
        }
        forged = strdup(s.json);
        assert_non_null(forged);
        at = strstr(forged, hex_good);
        assert_non_null(at);
        memcpy(at, hex_evil, 64);
        s.view.manifest = (const uint8_t *)forged;
        expect_refused(&g, &g.evil, IMAGE_LEN, VERSION, &s.view, 4000, UMC_REASON_PKG_SIG_MISMATCH);
        expect_active(&g, NULL, 0);
        assert_int_equal(stats(&g).refused, 1);
        free(forged);
        signed_mf_free(&s);
        rig_stop(&g);
}

/* The signed manifest, and a different image of the same size (mix and match). */
static void test_image_other_than_the_signed_one_is_refused_at_the_final_check(void **state) {
        struct entry e;
        struct signed_mf s;
        char path[192];
        struct rig g;

        rig_start(&g, 0);
        e = good_entry(&g);
        sign_with(&s, manifest_json(&e), &pki.ec, pki.chain);
        expect_refused(&g, &g.evil, IMAGE_LEN, VERSION, &s.view, 16000,
                       UMC_REASON_IMAGE_HASH_MISMATCH);
        expect_active(&g, NULL, 0);
        /* Dropped, not kept for resume: it was refused, not interrupted. */
        (void)snprintf(path, sizeof(path), "%s/incoming/progress", g.slots);
        assert_int_equal(access(path, F_OK), -1);
        signed_mf_free(&s);
        rig_stop(&g);
}

static void test_missing_manifest_is_refused_when_required(void **state) {
        struct rig g;

        rig_start(&g, 0);
        expect_refused(&g, &g.good, IMAGE_LEN, VERSION, NULL, 16000, UMC_REASON_PKG_SIG_MISSING);
        expect_active(&g, NULL, 0);
        rig_stop(&g);
}

static void test_wrong_ecu_or_hardware_id_is_refused(void **state) {
        struct entry e;
        struct rig g;

        rig_start(&g, 0);
        e = good_entry(&g);
        e.ecu_id = ECU_ID + 1;
        expect_refusal(&g, &e, UMC_REASON_PKG_NO_TARGET);
        e = good_entry(&g);
        e.hw_id = "HW-BCM-0002";
        expect_refusal(&g, &e, UMC_REASON_PKG_HW_MISMATCH);
        expect_active(&g, NULL, 0);
        rig_stop(&g);
}

static void test_begin_that_disagrees_with_the_signed_entry_is_refused(void **state) {
        struct entry e;
        struct signed_mf s;
        struct rig g;

        rig_start(&g, 0);
        e = good_entry(&g);
        sign_with(&s, manifest_json(&e), &pki.ec, pki.chain);
        expect_refused(&g, &g.good, IMAGE_LEN - 1, VERSION, &s.view, 4000,
                       UMC_REASON_PKG_IMAGE_SIZE);
        expect_refused(&g, &g.good, IMAGE_LEN, "9.9.9", &s.view, 4000,
                       UMC_REASON_PKG_VERSION_MISMATCH);
        expect_active(&g, NULL, 0);
        signed_mf_free(&s);
        rig_stop(&g);
}

static void test_untrusted_or_expired_signer_is_refused(void **state) {
        struct entry e;
        struct rig g;

        rig_start(&g, 0);
        e = good_entry(&g);
        expect_refusal_by(&g, &e, &pki.other, NULL, UMC_REASON_PKG_CERT_UNTRUSTED);
        expect_refusal_by(&g, &e, &pki.expired, pki.chain, UMC_REASON_PKG_CERT_EXPIRED);
        expect_active(&g, NULL, 0);
        rig_stop(&g);
}

static void test_lower_security_version_is_refused_unless_a_signed_downgrade_allows(
        void **state) {
        struct entry e;
        struct rig g;

        rig_start(&g, 9); /* an image of security version 9 was installed before */
        e = good_entry(&g); /* 5 */
        expect_refusal(&g, &e, UMC_REASON_PKG_ROLLBACK);
        expect_active(&g, NULL, 9);
        e.downgrade_max = 8; /* a permission that does not reach 9 */
        expect_refusal(&g, &e, UMC_REASON_PKG_ROLLBACK);
        e.downgrade_max = 9;
        /* The record follows what is installed now: 5. */
        expect_installed(&g, &e, 5);
        rig_stop(&g);
}

static void test_equal_or_higher_security_version_is_installed(void **state) {
        struct entry e;
        struct rig g;

        rig_start(&g, 5);
        e = good_entry(&g);
        expect_installed(&g, &e, 5);
        e.security_version = 6;
        e.version = "2.0.2";
        expect_installed(&g, &e, 6);
        rig_stop(&g);
}

/* A damaged anti-rollback record refuses every image: it must never read as 0. */
static void test_damaged_security_record_refuses(void **state) {
        char path[192];
        struct entry e;
        FILE *f;
        struct rig g;

        rig_start(&g, 3);
        (void)snprintf(path, sizeof(path), "%s/security_version", g.slots);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_true(fputs("03\n", f) >= 0);
        assert_int_equal(fclose(f), 0);
        e = good_entry(&g);
        expect_refusal(&g, &e, UMC_REASON_IO_ERROR);
        rig_stop(&g);
}

/* ---- through a gateway ---- */

#define GW_ECU_ID 0x99
#define GW_KEY_BYTE 0x77 /* the hop between the master and the gateway */

/*
 * A gateway on g's loop that forwards ECU_ID to the rig's endpoint; it
 * verifies signed manifests itself when verify is set (TrustAnchor=), and
 * passes them on either way.
 */
static struct umc_agent *gateway_start(struct rig *g, bool verify, uint16_t *ret_port) {
        char fwd[160], key[160], text[1024], hex[2 * UMC_MASTER_KEY_LEN + 2] = "", why[256];
        struct umc_agent_config c;
        struct umc_agent *a = NULL;
        struct umc_sockaddr bound;

        (void)snprintf(key, sizeof(key), "%s/gw-ecu.key", g->dir);
        for (int i = 0; i < UMC_MASTER_KEY_LEN; i++)
                (void)snprintf(hex + 2 * i, 3, "%02x", KEY_BYTE);
        hex[2 * UMC_MASTER_KEY_LEN] = '\n';
        write_text(key, hex, 0600);
        (void)snprintf(fwd, sizeof(fwd), "%s/gw-forward.conf", g->dir);
        (void)snprintf(text, sizeof(text),
                       "[Daemon]\nStateDirectory=%s\nLogLevel=notice\n"
                       "[EthernetAcl]\nRule=allow proto=tcp dst=127.0.0.1\n"
                       "[Target bcm]\nEcuId=0x%x\nHardwareId=" HW_ID "\nKeyFile=%s\n"
                       "Channel=tcp\nAddress=127.0.0.1:%u\n",
                       g->dir, ECU_ID, key, g->port);
        write_text(fwd, text, 0600);
        assert_int_equal(umc_agent_config_init(&c), 0);
        c.mode = UMC_AGENT_GATEWAY;
        c.ecu_id = GW_ECU_ID;
        strcpy(c.hw_id, "HW-GW");
        memset(c.master_key, GW_KEY_BYTE, sizeof(c.master_key));
        c.forward_config = strdup(fwd);
        (void)snprintf(text, sizeof(text), "%s/gw-store", g->dir);
        free(c.slot_directory);
        c.slot_directory = strdup(text);
        assert_non_null(c.forward_config);
        assert_non_null(c.slot_directory);
        c.require_signature = false; /* a gateway's default */
        if (verify && umc_sig_trust_load(pki.anchor, NULL, &c.trust, why, sizeof(why)) != 0)
                fail_msg("%s", why);
        c.log_level = LOG_NOTICE;
        agent_rig_listen_loopback(&c, allow_loopback, 1);
        assert_int_equal(umc_agent_new(&c, g->e, &a, NULL, 0), 0);
        assert_int_equal(umc_agent_local_address(a, &bound), 0);
        *ret_port = ntohs(bound.in.sin_port);
        return a;
}

/* deliver() to the gateway at gw_port, which answers for ECU_ID with its own key. */
static int deliver_via(struct rig *g, uint16_t gw_port, const struct image *im, uint64_t len,
                       const struct umc_signed_manifest *mf, enum umc_reason *why) {
        uint16_t endpoint_port = g->port;
        uint8_t key = g->key_byte;
        int r;

        g->port = gw_port;
        g->key_byte = GW_KEY_BYTE;
        r = deliver(g, im, len, VERSION, mf, 4000, why);
        g->port = endpoint_port;
        g->key_byte = key;
        return r;
}

static void test_gateway_passes_the_signed_manifest_on_to_the_ecu(void **state) {
        struct umc_agent *gw;
        struct entry e;
        enum umc_reason why;
        struct signed_mf s;
        uint16_t port;
        struct rig g;

        rig_start(&g, 0);
        gw = gateway_start(&g, false, &port);
        e = good_entry(&g);
        sign_with(&s, manifest_json(&e), &pki.ec, pki.chain);
        assert_int_equal(deliver_via(&g, port, &g.good, IMAGE_LEN, &s.view, &why), 0);
        expect_active(&g, VERSION, 5); /* the endpoint verified and recorded it */
        /* Unsigned through the gateway: the endpoint refuses, the gateway reports its reason. */
        assert_int_equal(deliver_via(&g, port, &g.good, IMAGE_LEN, NULL, &why), -ECANCELED);
        assert_int_equal(why, UMC_REASON_PKG_SIG_MISSING);
        umc_agent_free(gw);
        signed_mf_free(&s);
        rig_stop(&g);
}

static void test_verifying_gateway_refuses_a_tampered_manifest_itself(void **state) {
        struct umc_agent_stats st;
        struct umc_agent *gw;
        struct entry e;
        enum umc_reason why;
        struct signed_mf s;
        uint16_t port;
        struct rig g;

        rig_start(&g, 0);
        gw = gateway_start(&g, true, &port);
        e = good_entry(&g);
        sign_with(&s, manifest_json(&e), &pki.ec, pki.chain);
        s.json[strlen(s.json) - 3] ^= 1; /* a byte of the hash */
        assert_int_equal(deliver_via(&g, port, &g.good, IMAGE_LEN, &s.view, &why), -ECANCELED);
        assert_int_equal(why, UMC_REASON_PKG_SIG_MISMATCH);
        umc_agent_get_stats(gw, &st);
        assert_int_equal(st.refused, 1);
        assert_int_equal(stats(&g).connections, 0); /* nothing reached the ECU */
        expect_active(&g, NULL, 0);
        umc_agent_free(gw);
        signed_mf_free(&s);
        rig_stop(&g);
}

/* ---- images sealed for the ECU alone (pkgenc.h) ---- */

#define PKG_KEY_BYTE 0x5a

struct sealed {
        struct image im;        /* the ciphertext file, as shipped */
        uint64_t len;
        uint8_t salt[UMC_PKGENC_SALT_LEN];
        uint8_t plain_sha[UMC_HASH_LEN];
        uint64_t plain_len;
};

/* Seal g's good image as the backend does for ECU_ID's target "bcm" under key_byte. */
static void seal_good(struct rig *g, uint8_t key_byte, struct sealed *out) {
        uint8_t pkg_key[UMC_PKGENC_KEY_LEN];
        struct umc_key key = {};
        char path[128];
        struct stat st;

        memset(pkg_key, key_byte, sizeof(pkg_key));
        for (size_t i = 0; i < sizeof(out->salt); i++)
                out->salt[i] = (uint8_t)(0xa0 + i);
        assert_int_equal(umc_pkgenc_derive(pkg_key, out->salt, ECU_ID, "bcm", &key), 0);
        (void)snprintf(path, sizeof(path), "%s/sealed.img", g->dir);
        out->im.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(out->im.fd >= 0);
        assert_int_equal(lseek(g->good.fd, 0, SEEK_SET), 0);
        assert_int_equal(umc_pkgenc_seal_fd(&key, g->good.fd, out->im.fd, IMAGE_LEN,
                                            &out->plain_len, out->plain_sha, &out->len,
                                            out->im.sha), 0);
        umc_key_clear(&key);
        assert_int_equal(out->plain_len, IMAGE_LEN);
        assert_memory_equal(out->plain_sha, g->good.sha, UMC_HASH_LEN);
        assert_int_equal(fstat(out->im.fd, &st), 0);
        assert_int_equal((uint64_t)st.st_size, out->len);
        assert_true(out->len > IMAGE_LEN); /* a tag per segment */
        out->im.bytes = NULL;
}

static void sign_sealed(const struct rig *g, const struct sealed *sd, struct signed_mf *s) {
        struct entry e = good_entry(g);

        e.size = sd->len;
        e.sha256 = sd->im.sha;
        e.salt = sd->salt;
        e.plain_size = sd->plain_len;
        e.plain_sha256 = sd->plain_sha;
        sign_with(s, manifest_json(&e), &pki.ec, pki.chain);
}

/* True when dir/name holds exactly len bytes equal to want. */
static bool file_is(const char *dir, const char *name, const uint8_t *want, uint64_t len) {
        char path[192];
        uint8_t *got;
        struct stat st;
        bool same;
        int fd;

        (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        assert_int_equal(fstat(fd, &st), 0);
        if ((uint64_t)st.st_size != len) {
                close(fd);
                return false;
        }
        got = malloc(len);
        assert_non_null(got);
        assert_int_equal(pread(fd, got, len, 0), (ssize_t)len);
        same = memcmp(got, want, len) == 0;
        free(got);
        close(fd);
        return same;
}

/* name below dir exists; dir itself must, or "does not exist" would prove nothing. */
static bool exists_in(const char *dir, const char *name) {
        char path[192];

        assert_int_equal(access(dir, F_OK), 0);
        assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path));
        return access(path, F_OK) == 0;
}

static void test_sealed_image_is_decrypted_and_the_slot_holds_the_plaintext(void **state) {
        uint8_t pkg_key[UMC_PKGENC_KEY_LEN];
        enum umc_reason why;
        struct signed_mf s;
        struct sealed sd;
        struct rig g;

        memset(pkg_key, PKG_KEY_BYTE, sizeof(pkg_key));
        rig_start_key(&g, 0, pkg_key);
        seal_good(&g, PKG_KEY_BYTE, &sd);
        sign_sealed(&g, &sd, &s);
        assert_int_equal(deliver(&g, &sd.im, sd.len, VERSION, &s.view, 4000, &why), 0);
        expect_active(&g, VERSION, 5);
        /* Factory state is slot a active; the first commit goes to b. */
        assert_true(file_is(g.slots, "b/image", g.good.bytes, IMAGE_LEN));
        assert_false(exists_in(g.slots, "incoming/image.plain"));
        assert_false(exists_in(g.slots, "incoming/image.part"));
        close(sd.im.fd);
        signed_mf_free(&s);
        rig_stop(&g);
}

static void test_sealed_image_under_another_key_is_refused_and_leaves_nothing(void **state) {
        uint8_t pkg_key[UMC_PKGENC_KEY_LEN];
        struct signed_mf s;
        struct sealed sd;
        struct rig g;

        memset(pkg_key, PKG_KEY_BYTE, sizeof(pkg_key));
        rig_start_key(&g, 0, pkg_key);
        seal_good(&g, PKG_KEY_BYTE ^ 1, &sd); /* for another ECU's key */
        sign_sealed(&g, &sd, &s);
        expect_refused(&g, &sd.im, sd.len, VERSION, &s.view, 4000, UMC_REASON_PKG_DECRYPT_FAILED);
        expect_active(&g, NULL, 0);
        assert_false(exists_in(g.slots, "a/image"));
        assert_false(exists_in(g.slots, "b/image"));
        assert_false(exists_in(g.slots, "incoming/image.plain"));
        assert_int_equal(stats(&g).refused, 1);
        close(sd.im.fd);
        signed_mf_free(&s);
        rig_stop(&g);
}

static void test_sealed_image_without_a_package_key_is_refused(void **state) {
        struct signed_mf s;
        struct sealed sd;
        struct rig g;

        rig_start(&g, 0);
        seal_good(&g, PKG_KEY_BYTE, &sd);
        sign_sealed(&g, &sd, &s);
        expect_refused(&g, &sd.im, sd.len, VERSION, &s.view, 4000, UMC_REASON_PKG_DECRYPT_FAILED);
        expect_active(&g, NULL, 0);
        assert_false(exists_in(g.slots, "b/image"));
        assert_false(exists_in(g.slots, "incoming/image.plain"));
        close(sd.im.fd);
        signed_mf_free(&s);
        rig_stop(&g);
}

/* The gateway keeps and relays the ciphertext; only the ECU behind it opens it. */
static void test_gateway_relays_a_sealed_image_it_cannot_read(void **state) {
        uint8_t pkg_key[UMC_PKGENC_KEY_LEN], *cipher;
        char store[128];
        struct umc_agent *gw;
        enum umc_reason why;
        struct signed_mf s;
        struct sealed sd;
        uint16_t port;
        struct rig g;

        memset(pkg_key, PKG_KEY_BYTE, sizeof(pkg_key));
        rig_start_key(&g, 0, pkg_key);
        gw = gateway_start(&g, true, &port);
        seal_good(&g, PKG_KEY_BYTE, &sd);
        sign_sealed(&g, &sd, &s);
        assert_int_equal(deliver_via(&g, port, &sd.im, sd.len, &s.view, &why), 0);
        expect_active(&g, VERSION, 5);
        assert_true(file_is(g.slots, "b/image", g.good.bytes, IMAGE_LEN));
        cipher = malloc(sd.len);
        assert_non_null(cipher);
        assert_int_equal(pread(sd.im.fd, cipher, sd.len, 0), (ssize_t)sd.len);
        (void)snprintf(store, sizeof(store), "%s/gw-store/bcm", g.dir); /* one store per ECU */
        assert_true(file_is(store, "b/image", cipher, sd.len));
        assert_false(exists_in(store, "incoming/image.plain"));
        free(cipher);
        umc_agent_free(gw);
        close(sd.im.fd);
        signed_mf_free(&s);
        rig_stop(&g);
}

/* ---- the pure check, and the MANIFEST frame body ---- */

static void test_begin_check_without_manifest_follows_require(void **state) {
        struct umc_msg_begin b = { .image_len = 1, .version = "1" };
        struct umc_ecucheck_identity id = { .require = false, .ecu_id = 1, .hw_id = "h" };
        const struct umc_package_image *img = NULL;
        struct umc_package p = {};
        char why[256];

        assert_int_equal(umc_ecucheck_begin(&id, &b, NULL, &p, &img, why, sizeof(why)),
                         UMC_REASON_OK);
        assert_null(img);
        id.require = true;
        assert_int_equal(umc_ecucheck_begin(&id, &b, NULL, &p, &img, why, sizeof(why)),
                         UMC_REASON_PKG_SIG_MISSING);
        assert_non_null(strstr(why, "no signed manifest"));
}

static void test_mfmsg_round_trip_and_refusals(void **state) {
        static const uint8_t man[] = "{\"a\":1}", sig[] = { 1, 2, 3, 4, 5 };
        struct umc_signed_manifest m = { .format = UMC_MFMSG_CMS, .manifest = man,
                                         .manifest_len = 7, .sig = sig, .sig_len = 5 };
        struct umc_signed_manifest v;
        struct umc_mfasm a = {};
        enum umc_reason why = UMC_REASON_OK;
        struct umc_mfmsg d;
        uint8_t body[64];
        size_t n;
        int len;

        /* Three chunks of 5, 5 and 2 bytes; the second straddles manifest and signature. */
        for (uint32_t off = 0; off < 12; off += (uint32_t)n) {
                len = umc_mfmsg_encode(&m, off, 5, body, sizeof(body), &n);
                assert_int_equal(len, UMC_MFMSG_HEADER_LEN + (int)n);
                assert_int_equal(umc_mfmsg_decode(body, (size_t)len, &d), 0);
                assert_false(umc_mfasm_complete(&a));
                assert_int_equal(umc_mfasm_add(&a, &d, &why), 0);
                /* A body without data is refused (the frame's length sets how much data). */
                for (int k = 0; k <= UMC_MFMSG_HEADER_LEN; k++)
                        assert_int_equal(umc_mfmsg_decode(body, (size_t)k, &d), -EBADMSG);
        }
        assert_true(umc_mfasm_complete(&a));
        assert_int_equal(umc_mfasm_view(&a, &v), 0);
        assert_memory_equal(v.manifest, man, 7);
        assert_memory_equal(v.sig, sig, 5);
        /* One more chunk after the last is malformed. */
        len = umc_mfmsg_encode(&m, 10, 5, body, sizeof(body), &n);
        assert_int_equal(umc_mfmsg_decode(body, (size_t)len, &d), 0);
        assert_int_equal(umc_mfasm_add(&a, &d, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_BODY_MALFORMED);
        umc_mfasm_reset(&a);

        /* A gap is OUT_OF_ORDER; lengths that change are malformed. */
        len = umc_mfmsg_encode(&m, 5, 5, body, sizeof(body), &n);
        assert_int_equal(umc_mfmsg_decode(body, (size_t)len, &d), 0);
        assert_int_equal(umc_mfasm_add(&a, &d, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_OUT_OF_ORDER);
        /* The refused first chunk left nothing behind: no buffer, nothing started. */
        assert_false(umc_mfasm_started(&a));
        assert_null(a.buf);
        umc_mfasm_reset(&a);
        len = umc_mfmsg_encode(&m, 0, 5, body, sizeof(body), &n);
        assert_int_equal(umc_mfmsg_decode(body, (size_t)len, &d), 0);
        assert_int_equal(umc_mfasm_add(&a, &d, &why), 0);
        len = umc_mfmsg_encode(&m, 5, 5, body, sizeof(body), &n);
        body[8] = 6; /* sig_len 5 -> 6 */
        assert_int_equal(umc_mfmsg_decode(body, (size_t)len, &d), 0);
        assert_int_equal(umc_mfasm_add(&a, &d, &why), -EBADMSG);
        assert_int_equal(why, UMC_REASON_BODY_MALFORMED);
        umc_mfasm_reset(&a);

        /* Field checks: format, zero and capped lengths, data past the end. */
        len = umc_mfmsg_encode(&m, 0, 5, body, sizeof(body), &n);
        body[0] = 3;
        assert_int_equal(umc_mfmsg_decode(body, (size_t)len, &d), -EBADMSG);
        body[0] = UMC_MFMSG_CMS;
        umc_put_be32(body + 1, 0);
        assert_int_equal(umc_mfmsg_decode(body, (size_t)len, &d), -EBADMSG);
        umc_put_be32(body + 1, UMC_MFMSG_MANIFEST_MAX + 1);
        assert_int_equal(umc_mfmsg_decode(body, (size_t)len, &d), -EBADMSG);
        umc_put_be32(body + 1, 7);
        umc_put_be32(body + 5, UMC_MFMSG_SIG_MAX + 1);
        assert_int_equal(umc_mfmsg_decode(body, (size_t)len, &d), -EBADMSG);
        umc_put_be32(body + 5, 5);
        umc_put_be32(body + 9, 8); /* 8 + 5 > 12 */
        assert_int_equal(umc_mfmsg_decode(body, (size_t)len, &d), -EBADMSG);
        umc_put_be32(body + 9, UINT32_MAX); /* no wrap-around */
        assert_int_equal(umc_mfmsg_decode(body, (size_t)len, &d), -EBADMSG);
        assert_int_equal(umc_mfmsg_decode(body, UMC_MFMSG_HEADER_LEN, &d), -EBADMSG);
        /* Encoding refuses what a receiver would. */
        m.sig_len = UMC_MFMSG_SIG_MAX + 1;
        assert_int_equal(umc_mfmsg_encode(&m, 0, 5, body, sizeof(body), &n), -EINVAL);
        m.sig_len = 5;
        assert_int_equal(umc_mfmsg_encode(&m, 12, 5, body, sizeof(body), &n), -EINVAL);
        assert_int_equal(umc_mfmsg_encode(&m, 0, 5, body, UMC_MFMSG_HEADER_LEN + 4, &n), -ENOBUFS);
}

static int group_setup(void **state) {
        pki_build(&pki);
        return 0;
}

static int group_teardown(void **state) {
        pki_free(&pki);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_signed_image_is_installed_and_its_security_version_recorded),
                cmocka_unit_test(test_rsa_pss_signature_in_small_chunks_is_installed),
                cmocka_unit_test(test_tampered_rehashed_manifest_is_refused_by_the_ecu),
                cmocka_unit_test(test_image_other_than_the_signed_one_is_refused_at_the_final_check),
                cmocka_unit_test(test_missing_manifest_is_refused_when_required),
                cmocka_unit_test(test_wrong_ecu_or_hardware_id_is_refused),
                cmocka_unit_test(test_begin_that_disagrees_with_the_signed_entry_is_refused),
                cmocka_unit_test(test_untrusted_or_expired_signer_is_refused),
                cmocka_unit_test(test_lower_security_version_is_refused_unless_a_signed_downgrade_allows),
                cmocka_unit_test(test_equal_or_higher_security_version_is_installed),
                cmocka_unit_test(test_damaged_security_record_refuses),
                cmocka_unit_test(test_gateway_passes_the_signed_manifest_on_to_the_ecu),
                cmocka_unit_test(test_verifying_gateway_refuses_a_tampered_manifest_itself),
                cmocka_unit_test(test_sealed_image_is_decrypted_and_the_slot_holds_the_plaintext),
                cmocka_unit_test(test_sealed_image_under_another_key_is_refused_and_leaves_nothing),
                cmocka_unit_test(test_sealed_image_without_a_package_key_is_refused),
                cmocka_unit_test(test_gateway_relays_a_sealed_image_it_cannot_read),
                cmocka_unit_test(test_begin_check_without_manifest_follows_require),
                cmocka_unit_test(test_mfmsg_round_trip_and_refusals),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
