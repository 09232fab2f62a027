/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test-helpers.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "umc/config.h"
#include "umc/xfer.h"
#include "umc/keyfile.h"
#include "umc/util.h"

/* Only the root-certificate helpers of the test PKI are used here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "pki-fixture.h"
#pragma GCC diagnostic pop

/*
 * Every test gets a private directory with a good key file (mode 0600,
 * bytes 00 01 .. 1f), a 0644 copy, and a config file written from a
 * template where "@KEY@" stands for the good key file's path.
 */
struct fixture {
        char dir[64];
        char key[128];
        char key644[128];
        char conf[128];
        char anchor[128];    /* a self-signed CA certificate, PEM */
};

static const char key_hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void write_anchor(struct fixture *f) {
        EVP_PKEY *key = pki_key_ec("P-256");
        X509 *root = pki_cert("test root", key, NULL, NULL, true, NULL, -DAY, 365 * DAY, 1);

        (void)snprintf(f->anchor, sizeof(f->anchor), "%s/anchor.pem", f->dir);
        pki_write(f->anchor, root, NULL, NULL);
        X509_free(root);
        EVP_PKEY_free(key);
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        strcpy(f->dir, "/tmp/umc-test-config-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        (void)snprintf(f->key, sizeof(f->key), "%s/ecu.key", f->dir);
        (void)snprintf(f->key644, sizeof(f->key644), "%s/open.key", f->dir);
        (void)snprintf(f->conf, sizeof(f->conf), "%s/test.conf", f->dir);
        write_text(f->key, key_hex, 0600);
        write_text(f->key644, key_hex, 0644);
        write_anchor(f);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        (void)unlink(f->key);
        (void)unlink(f->key644);
        (void)unlink(f->anchor);
        (void)unlink(f->conf);
        assert_int_equal(rmdir(f->dir), 0);
        free(f);
        return 0;
}

/* Write the template to f->conf, each "@KEY@" replaced by the key file's path. */
static const char *write_conf(struct fixture *f, const char *tmpl) {
        size_t cap = strlen(tmpl) * 2 + 4096, len = 0;
        char *text = malloc(cap);

        assert_non_null(text);
        for (const char *s = tmpl; *s;) {
                if (strncmp(s, "@KEY@", 5) == 0) {
                        len += (size_t)snprintf(text + len, cap - len, "%s", f->key);
                        s += 5;
                } else if (strncmp(s, "@ANCHOR@", 8) == 0) {
                        len += (size_t)snprintf(text + len, cap - len, "%s", f->anchor);
                        s += 8;
                } else
                        text[len++] = *s++;
                assert_true(len < cap);
        }
        text[len] = '\0';
        write_text(f->conf, text, 0644);
        free(text);
        return f->conf;
}

/* The message starts with "PATH:LINE: WHERE: " and contains needle. */
static void assert_message(const struct umc_config_error *err, const char *path, unsigned line,
                           const char *where, const char *needle) {
        char prefix[256];

        if (line > 0)
                (void)snprintf(prefix, sizeof(prefix), "%s:%u: %s: ", path, line, where);
        else
                (void)snprintf(prefix, sizeof(prefix), "%s: %s: ", path, where);
        if (strncmp(err->msg, prefix, strlen(prefix)) != 0 || !strstr(err->msg, needle))
                fail_msg("message '%s' lacks prefix '%s' or text '%s'", err->msg, prefix, needle);
}

static void expect_daemon_refusal(struct fixture *f, const char *tmpl, int r, unsigned line,
                                  const char *where, const char *needle) {
        struct umc_daemon_config c = {};
        struct umc_config_error err = {};
        const char *path = write_conf(f, tmpl);

        assert_int_equal(umc_daemon_config_load(path, &c, &err), r);
        assert_message(&err, path, line, where, needle);
        assert_null(c.state_directory);
}

/* The shipped files are in conf/ of the source tree: UMC_SRCDIR, else the working directory. */
static void conf_path(char *buf, size_t size, const char *name) {
        const char *top = getenv("UMC_SRCDIR");

        (void)snprintf(buf, size, "%s/conf/%s", top && top[0] ? top : ".", name);
}

static char *read_all(const char *path) {
        FILE *fp = fopen(path, "re");
        char *text;
        long n;

        assert_non_null(fp);
        assert_int_equal(fseek(fp, 0, SEEK_END), 0);
        n = ftell(fp);
        assert_true(n > 0);
        rewind(fp);
        text = calloc(1, (size_t)n + 1);
        assert_non_null(text);
        assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
        assert_int_equal(fclose(fp), 0);
        return text;
}

static void assert_key_bytes(const uint8_t key[UMC_MASTER_KEY_LEN]) {
        for (unsigned i = 0; i < UMC_MASTER_KEY_LEN; i++)
                assert_int_equal(key[i], i);
}

static void assert_sockaddr(const struct umc_sockaddr *a, int family, const char *host, uint16_t port) {
        char buf[INET6_ADDRSTRLEN];

        assert_int_equal(a->sa.sa_family, family);
        if (family == AF_INET) {
                assert_int_equal(a->len, sizeof(struct sockaddr_in));
                assert_int_equal(ntohs(a->in.sin_port), port);
                assert_non_null(inet_ntop(AF_INET, &a->in.sin_addr, buf, sizeof(buf)));
        } else {
                assert_int_equal(a->len, sizeof(struct sockaddr_in6));
                assert_int_equal(ntohs(a->in6.sin6_port), port);
                assert_non_null(inet_ntop(AF_INET6, &a->in6.sin6_addr, buf, sizeof(buf)));
        }
        assert_string_equal(buf, host);
}

/* ---- shipped files ---- */

static void test_shipped_daemon_conf_loads_with_the_defaults(void **state) {
        struct umc_daemon_config c = {}, d = {};
        struct umc_config_error err = {};
        char path[4096];

        conf_path(path, sizeof(path), "umcd.conf");
        if (umc_daemon_config_load(path, &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_int_equal(umc_daemon_config_init(&d), 0);

        /* Everything is commented out, so the result equals the built-in defaults. */
        assert_string_equal(c.state_directory, d.state_directory);
        assert_string_equal(c.state_directory, "/var/lib/umc");
        assert_int_equal(c.log_level, LOG_INFO);
        assert_int_equal(c.connect_timeout_usec, 10 * USEC_PER_SEC);
        assert_int_equal(c.auth_timeout_usec, 10 * USEC_PER_SEC);
        assert_int_equal(c.idle_timeout_usec, 60 * USEC_PER_SEC);
        assert_int_equal(c.final_timeout_usec, 300 * USEC_PER_SEC);
        assert_string_equal(c.operator_group, "umc-operators");
        assert_string_equal(c.operator_group, d.operator_group);
        assert_memory_equal(&c.rotation, &d.rotation, sizeof(c.rotation));
        assert_int_equal(c.rotation.interval_usec, 120 * USEC_PER_SEC);
        assert_int_equal(c.rotation.holdoff_usec, 10 * USEC_PER_SEC);
        assert_int_equal(c.inner_suite, UMC_SUITE_NONE);
        assert_int_equal(c.replay_window, 64);
        assert_int_equal(c.max_rejected_frames, UMC_XFER_REJECT_LIMIT_DEFAULT);
        assert_int_equal(c.verify_every, 0);
        assert_int_equal(c.image_hash, UMC_HASH_SHA256);
        assert_memory_equal(&c.load, &d.load, sizeof(c.load));
        assert_int_equal(c.can_stuffing, UMC_STUFF_WORST);
        assert_int_equal(c.can_bit_model, UMC_BITMODEL_ISO);
        assert_int_equal(c.link_rate_bps, 0);
        assert_int_equal(c.ceiling_percent, 0);
        assert_true(c.can_ids.tolerance_pct == 10.0);
        assert_int_equal(c.can_ids.min_periods, 10);
        assert_int_equal(c.can_ids.n_rules, 0);
        assert_int_equal(c.eth_acl.n_rules, 0);
        assert_int_equal(c.n_targets, 0);
        assert_int_equal(c.can.bitrate, 500000);
        assert_int_equal(c.can.data_bitrate, 2000000);
        assert_int_equal(c.can.max_pdu, 0);
        assert_memory_equal(&c.can, &d.can, sizeof(c.can));
        assert_true(c.require_signature);
        assert_null(c.trust_anchor);
        assert_int_equal(c.checks.n, 4);
        assert_int_equal(c.checks.order[0], UMC_PKG_CHECK_SIGNATURE);
        assert_int_equal(c.checks.order[3], UMC_PKG_CHECK_VERSION);
        assert_null(c.cloud_url);
        assert_int_equal(c.n_windows, 0);
        assert_int_equal(c.random_delay_usec, 1800 * USEC_PER_SEC);
        assert_int_equal(c.retries, 5);
        assert_int_equal(c.low_speed_time_sec, 60);

        umc_daemon_config_free(&c);
        umc_daemon_config_free(&d);
}

/* text with the one line old replaced by new (a fresh string). */
static char *replace_line(const char *text, const char *old, const char *new) {
        const char *at = strstr(text, old);
        char *out;

        assert_non_null(at);
        out = calloc(1, strlen(text) + strlen(new) + 1);
        assert_non_null(out);
        memcpy(out, text, (size_t)(at - text));
        strcat(out, new);
        strcat(out, at + strlen(old));
        return out;
}

static void test_shipped_agent_conf_loads_with_a_real_key_file(void **state) {
        struct fixture *f = *state;
        struct umc_agent_config c = {};
        struct umc_config_error err = {};
        char path[4096], *text, *tmpl;

        conf_path(path, sizeof(path), "umc-agent.conf");
        text = read_all(path);
        tmpl = replace_line(text, "KeyFile=/etc/umc/agent.key\n", "KeyFile=@KEY@\n");
        free(text);
        text = tmpl;
        tmpl = replace_line(text, "TrustAnchor=/etc/umc/trust-anchor.pem\n",
                            "TrustAnchor=@ANCHOR@\n");

        if (umc_agent_config_load(write_conf(f, tmpl), &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_int_equal(c.mode, UMC_AGENT_ENDPOINT);
        assert_sockaddr(&c.listen, AF_INET, "0.0.0.0", 4500);
        assert_int_equal(c.ecu_id, 1);
        assert_string_equal(c.hw_id, "UNPROVISIONED");
        assert_string_equal(c.key_file, f->key);
        assert_key_bytes(c.master_key);
        assert_string_equal(c.slot_directory, "/var/lib/umc-agent/slots");
        assert_string_equal(c.trust_anchor, f->anchor);
        assert_non_null(c.trust);
        assert_null(c.crl);
        assert_true(c.require_signature);
        assert_null(c.package_key_file); /* optional: images come unencrypted */
        assert_int_equal(c.log_level, LOG_INFO);
        assert_int_equal(c.max_connections, 4);
        assert_int_equal(c.handshake_timeout_usec, 10 * USEC_PER_SEC);
        assert_int_equal(c.idle_timeout_usec, 60 * USEC_PER_SEC);
        assert_int_equal(c.max_image_size, UINT64_C(32) << 30);
        for (unsigned id = 1; id < _UMC_SUITE_MAX; id++)
                assert_true(umc_agent_suite_allowed(&c, (enum umc_suite_id)id));
        assert_false(umc_agent_suite_allowed(&c, UMC_SUITE_NONE));
        assert_int_equal(c.inner_suite, UMC_SUITE_NONE);
        assert_int_equal(c.replay_window, 64);
        assert_int_equal(c.max_rejected_frames, UMC_XFER_REJECT_LIMIT_DEFAULT);
        assert_int_equal(c.can_ids.n_rules, 0);
        assert_int_equal(c.eth_acl.n_rules, 0);
        assert_int_equal(c.channel, UMC_CHANNEL_TCP);
        assert_null(c.forward_config);
        assert_int_equal(c.can_bus.bitrate, 500000);
        assert_int_equal(c.can_bus.data_bitrate, 2000000);
        assert_int_equal(c.can_bus.max_pdu, 0);
        assert_true(c.can.isotp.padding);
        assert_int_equal(c.can.isotp.pad_byte, 0xcc);

        umc_agent_config_free(&c);
        free(tmpl);
        free(text);
}

/* ---- full files round-trip ---- */

static const char full_daemon[] =
        "# every key, none at its default\n"
        "[Daemon]\n"
        "StateDirectory=/srv/umc/state\n"
        "LogLevel=debug\n"
        "ConnectTimeoutSec=3\n"
        "AuthTimeoutSec=4\n"
        "IdleTimeoutSec=90\n"
        "FinalCheckTimeoutSec=600\n"
        "OperatorGroup=hmi\n"
        "PackageDirectory=/srv/umc/packages\n"
        "PackageDirectory=/media/usb/umc\n"
        "\n"
        "[Security]\n"
        "CipherOrder=sm4-ctr-hmac-sm3, aes-256-gcm chacha20-poly1305,aes-256-gcm\n"
        "InnerSuite=aes-128-gcm\n"
        "RotationIntervalSec=300\n"
        "RotationHoldoffSec=30\n"
        "ReplayWindow=512\n"
        "MaxRejectedFrames=0\n"
        "VerifyEvery=16\n"
        "ImageHash=sm3\n"
        "\n"
        "[Load]\n"
        "WindowMSec=500\n"
        "MutationWindowSec=20\n"
        "MutationFactor=3.5\n"
        "MutationMinDeltaPercent=7.25\n"
        "AbnormalPercent=90\n"
        "CanStuffing=exact\n"
        "CanBitModel=canbusload\n"
        "LinkRateMbit=100\n"
        "CeilingPercent=60\n"
        "\n"
        "; IDs before the tolerance: it still applies to them\n"
        "[CanIds]\n"
        "Id=7E0\n"
        "Id=18DAF110:100\n"
        "TolerancePercent=2.5\n"
        "MinPeriods=20\n"
        "Id=123:20\n"
        "\n"
        "[EthernetAcl]\n"
        "Rule=deny proto=udp\n"
        "Rule=allow proto=tcp dst=10.0.0.0/24 dport=4500 vlan=any\n"
        "\n"
        "[Target engine]\n"
        "EcuId=0x10\n"
        "HardwareId=ECU-ENG-0001\n"
        "KeyFile=@KEY@\n"
        "Channel=tcp\n"
        "Address=10.0.0.10:4500\n"
        "\n"
        "  [Target body_2]\n"
        "  Address=[2001:db8::7]:4501\n"
        "  KeyFile=@KEY@\n"
        "  HardwareId=BCM/2.0\n"
        "  EcuId=4294967295\n";

static void test_full_daemon_file_fills_every_field(void **state) {
        struct fixture *f = *state;
        struct umc_daemon_config c = {};
        struct umc_config_error err = {};

        if (umc_daemon_config_load(write_conf(f, full_daemon), &c, &err) != 0)
                fail_msg("%s", err.msg);

        assert_string_equal(c.state_directory, "/srv/umc/state");
        assert_int_equal(c.log_level, LOG_DEBUG);
        assert_int_equal(c.connect_timeout_usec, 3 * USEC_PER_SEC);
        assert_int_equal(c.auth_timeout_usec, 4 * USEC_PER_SEC);
        assert_int_equal(c.idle_timeout_usec, 90 * USEC_PER_SEC);
        assert_int_equal(c.final_timeout_usec, 600 * USEC_PER_SEC);
        assert_string_equal(c.operator_group, "hmi");
        assert_int_equal(c.n_package_dirs, 2); /* repeatable, in file order */
        assert_string_equal(c.package_dirs[0], "/srv/umc/packages");
        assert_string_equal(c.package_dirs[1], "/media/usb/umc");

        assert_int_equal(c.rotation.n_order, 4);
        assert_int_equal(c.rotation.order[0], UMC_SUITE_SM4_CTR_HMAC_SM3);
        assert_int_equal(c.rotation.order[1], UMC_SUITE_AES_256_GCM);
        assert_int_equal(c.rotation.order[2], UMC_SUITE_CHACHA20_POLY1305);
        assert_int_equal(c.rotation.order[3], UMC_SUITE_AES_256_GCM);
        assert_int_equal(c.inner_suite, UMC_SUITE_AES_128_GCM);
        assert_int_equal(c.rotation.interval_usec, 300 * USEC_PER_SEC);
        assert_int_equal(c.rotation.holdoff_usec, 30 * USEC_PER_SEC);
        assert_int_equal(c.replay_window, 512);
        assert_int_equal(c.max_rejected_frames, 0);
        assert_int_equal(c.verify_every, 16);
        assert_int_equal(c.image_hash, UMC_HASH_SM3);

        assert_int_equal(c.load.window_usec, 500 * USEC_PER_MSEC);
        assert_int_equal(c.load.mutation_window_usec, 20 * USEC_PER_SEC);
        assert_true(c.load.mutation_factor == 3.5);
        assert_true(c.load.mutation_min_delta == 7.25);
        assert_true(c.load.abnormal_percent == 90.0);
        assert_int_equal(c.can_stuffing, UMC_STUFF_EXACT);
        assert_int_equal(c.can_bit_model, UMC_BITMODEL_CANBUSLOAD);
        assert_int_equal(c.link_rate_bps, 100 * UINT64_C(1000000));
        assert_int_equal(c.ceiling_percent, 60);

        assert_true(c.can_ids.tolerance_pct == 2.5);
        assert_int_equal(c.can_ids.min_periods, 20);
        assert_int_equal(c.can_ids.n_rules, 3);
        assert_int_equal(c.can_ids.rules[0].id, 0x7e0);
        assert_false(c.can_ids.rules[0].eff);
        assert_int_equal(c.can_ids.rules[0].period_usec, 0);
        assert_int_equal(c.can_ids.rules[1].id, 0x18daf110);
        assert_true(c.can_ids.rules[1].eff);
        assert_int_equal(c.can_ids.rules[1].period_usec, 100 * USEC_PER_MSEC);
        assert_int_equal(c.can_ids.rules[2].id, 0x123);
        assert_int_equal(c.can_ids.rules[2].period_usec, 20 * USEC_PER_MSEC);
        for (size_t i = 0; i < c.can_ids.n_rules; i++)
                assert_true(c.can_ids.rules[i].tolerance_pct == 2.5);

        /* File order is kept: the deny comes first. */
        assert_int_equal(c.eth_acl.n_rules, 2);
        assert_false(c.eth_acl.rules[0].allow);
        assert_int_equal(c.eth_acl.rules[0].proto, 17);
        assert_true(c.eth_acl.rules[1].allow);
        assert_int_equal(c.eth_acl.rules[1].proto, 6);
        assert_int_equal(c.eth_acl.rules[1].dst_prefix, 24);
        assert_int_equal(c.eth_acl.rules[1].dport_lo, 4500);
        assert_int_equal(c.eth_acl.rules[1].dport_hi, 4500);
        assert_int_equal(c.eth_acl.rules[1].vlan, UMC_VLAN_ANY);

        assert_int_equal(c.n_targets, 2);
        assert_string_equal(c.ecus[0].name, "engine");
        assert_int_equal(c.ecus[0].ecu_id, 0x10);
        assert_string_equal(c.ecus[0].hw_id, "ECU-ENG-0001");
        assert_string_equal(c.ecus[0].key_file, f->key);
        assert_int_equal(c.targets[0].channel, UMC_CHANNEL_TCP);
        assert_sockaddr(&c.targets[0].address, AF_INET, "10.0.0.10", 4500);
        assert_key_bytes(c.targets[0].master_key);

        assert_string_equal(c.ecus[1].name, "body_2");
        assert_int_equal(c.ecus[1].ecu_id, 0xffffffffu);
        assert_string_equal(c.ecus[1].hw_id, "BCM/2.0");
        assert_string_equal(c.ecus[1].key_file, f->key);
        assert_int_equal(c.targets[1].channel, UMC_CHANNEL_TCP);
        assert_sockaddr(&c.targets[1].address, AF_INET6, "2001:db8::7", 4501);
        assert_key_bytes(c.targets[1].master_key);

        /* The ECU table is usable as it is. */
        assert_int_equal(umc_ecu_check(c.ecus, c.n_targets, 0x10, "ECU-ENG-0001", NULL),
                         UMC_REASON_OK);

        umc_daemon_config_free(&c);
        assert_null(c.ecus);
        assert_int_equal(c.n_targets, 0);
}

static const char full_agent[] =
        "[Agent]\n"
        "Mode=gateway\n"
        "Listen=[::1]:4600\n"
        "EcuId=77\n"
        "HardwareId=GW-1\n"
        "KeyFile=@KEY@\n"
        "SlotDirectory=/data/slots\n"
        "LogLevel=warning\n"
        "MaxConnections=64\n"
        "HandshakeTimeoutSec=300\n"
        "IdleTimeoutSec=5\n"
        "MaxImageSize=512M\n"
        "ForwardConfig=/etc/umc/forward.conf\n"
        "[Security]\n"
        "AllowedSuites=chacha20-poly1305,sm4-ctr-hmac-sm3\n"
        "InnerSuite=sm4-ctr-hmac-sm3\n"
        "ReplayWindow=1\n"
        "MaxRejectedFrames=65535\n"
        "[CanIds]\n"
        "TolerancePercent=0.1\n"
        "MinPeriods=10000\n"
        "Id=000007E0\n"
        "Id=7E0\n"
        "[EthernetAcl]\n"
        "Rule=allow\n";

static void test_full_agent_file_fills_every_field(void **state) {
        struct fixture *f = *state;
        struct umc_agent_config c = {};
        struct umc_config_error err = {};

        if (umc_agent_config_load(write_conf(f, full_agent), &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_int_equal(c.mode, UMC_AGENT_GATEWAY);
        assert_sockaddr(&c.listen, AF_INET6, "::1", 4600);
        assert_int_equal(c.ecu_id, 77);
        assert_string_equal(c.hw_id, "GW-1");
        assert_string_equal(c.key_file, f->key);
        assert_key_bytes(c.master_key);
        assert_string_equal(c.slot_directory, "/data/slots");
        assert_int_equal(c.log_level, LOG_WARNING);
        assert_int_equal(c.max_connections, 64);
        assert_int_equal(c.handshake_timeout_usec, 300 * USEC_PER_SEC);
        assert_int_equal(c.idle_timeout_usec, 5 * USEC_PER_SEC);
        assert_int_equal(c.max_image_size, UINT64_C(512) << 20);
        assert_string_equal(c.forward_config, "/etc/umc/forward.conf");
        assert_int_equal(c.channel, UMC_CHANNEL_TCP);
        assert_int_equal(c.allowed_suites, 1u << UMC_SUITE_CHACHA20_POLY1305 |
                                                   1u << UMC_SUITE_SM4_CTR_HMAC_SM3);
        assert_false(umc_agent_suite_allowed(&c, UMC_SUITE_AES_128_GCM));
        assert_int_equal(c.inner_suite, UMC_SUITE_SM4_CTR_HMAC_SM3);
        assert_int_equal(c.replay_window, 1);
        assert_int_equal(c.max_rejected_frames, 65535);
        assert_true(c.can_ids.tolerance_pct == 0.1);
        assert_int_equal(c.can_ids.min_periods, 10000);
        /* The 29-bit and the 11-bit 0x7E0 are different IDs. */
        assert_int_equal(c.can_ids.n_rules, 2);
        assert_true(c.can_ids.rules[0].eff);
        assert_false(c.can_ids.rules[1].eff);
        assert_true(c.can_ids.rules[1].tolerance_pct == 0.1);
        assert_int_equal(c.eth_acl.n_rules, 1);
        assert_true(c.eth_acl.rules[0].allow);

        umc_agent_config_free(&c);
        assert_null(c.key_file);
        assert_null(c.forward_config);
}

/* ---- refusals: one row per class, each naming file, line, section and key ---- */

#define TARGET_HEAD "[Target a]\nEcuId=1\nHardwareId=X\nKeyFile=@KEY@\n"

struct refusal {
        const char *text;
        unsigned line;
        const char *where;
        const char *needle;
};

static const struct refusal refusals[] = {
        { "[Daemon]\nFoo=1\n", 2, "Daemon.Foo", "unknown key" },
        { "[Package]\nCheckOrder=factory signature\n", 2, "Package.CheckOrder",
          "'signature' must come first" },
        { "[Package]\nCheckOrder=signature version version\n", 2, "Package.CheckOrder",
          "'version' named twice" },
        { "[Package]\nCheckOrder=signature feature-code\n", 2, "[Device]",
          "FeatureCode= and FeatureKeyFile= are required" },
        { "[Package]\nCheckOrder=signature feature-code\n[Device]\nFeatureCode=OPT-7\n", 2,
          "[Device]", "FeatureCode= and FeatureKeyFile= are required" },
        { "[Device]\nFeatureCode=OPT-7\n", 2, "Device.FeatureCode",
          "does not list feature-code" },
        { "[Device]\nFeatureKeyFile=@KEY@\n", 2, "Device.FeatureKeyFile",
          "does not list feature-code" },
        { "[Device]\nFeatureCode=OPT 7\n", 2, "Device.FeatureCode", "without spaces" },
        { "[Device]\nFeatureKeyFile=keys/f.key\n", 2, "Device.FeatureKeyFile",
          "not an absolute path" },
        { "[Package]\nCheckOrder=signature colour\n", 2, "Package.CheckOrder",
          "unknown check 'colour'" },
        { "[Package]\nRequireSignature=maybe\n", 2, "Package.RequireSignature",
          "expected yes|no" },
        { "[Package]\nCrl=/etc/umc/crl.pem\n", 2, "Package.Crl", "needs TrustAnchor=" },
        { "[Package]\nTrustAnchor=/etc/umc/anchor.pem\n", 0, "[Device]",
          "VehicleModel= and HardwareRevision= are required" },
        { "[Device]\nVehicleModel=X 1\n", 2, "Device.VehicleModel", "without spaces" },
        { "[Cloud]\nWindows=02:00-04:00 25:00-26:00\n", 2, "Cloud.Windows",
          "'25:00-26:00' is not a window HH:MM-HH:MM" },
        { "[Cloud]\nWindows=02:00-02:00\n", 2, "Cloud.Windows", "is empty" },
        { "[Cloud]\nBaseUrl=https://backend.example/api/\n", 2, "Cloud.BaseUrl", "ends in '/'" },
        { "[Cloud]\nBaseUrl=file:///etc/passwd\n", 2, "Cloud.BaseUrl", "is not an absolute" },
        { "[Cloud]\nDeviceId=dev 1\n", 2, "Cloud.DeviceId", "is not 1..64 characters" },
        { "[Cloud]\nRandomDelaySec=86401\n", 2, "Cloud.RandomDelaySec", "out of range 0..86400" },
        { "[Cloud]\nBaseUrl=https://b.example/api\n", 0, "[Cloud]", "DeviceId= is required" },
        { "[Daemon]\nLogLevel=info\nLogLevel=debug\n", 3, "Daemon.LogLevel",
          "given twice (first at line 2)" },
        { "[Daemon]\nStateDirectory=\n", 2, "Daemon.StateDirectory", "empty value" },
        { "[Daemon]\nStateDirectory=var/lib/umc\n", 2, "Daemon.StateDirectory",
          "not an absolute path" },
        { "[Daemon]\nStateDirectory=/var/../etc\n", 2, "Daemon.StateDirectory", "'..'" },
        { "[Daemon]\nLogLevel=verbose\n", 2, "Daemon.LogLevel", "unknown log level 'verbose'" },
        { "[Daemon]\nConnectTimeoutSec=0\n", 2, "Daemon.ConnectTimeoutSec", "0 is out of range 1..600" },
        { "[Daemon]\nConnectTimeoutSec=601\n", 2, "Daemon.ConnectTimeoutSec",
          "601 is out of range 1..600" },
        { "[Daemon]\nConnectTimeoutSec=10s\n", 2, "Daemon.ConnectTimeoutSec",
          "'10s' is not a decimal number" },
        { "[Daemon]\nAuthTimeoutSec=0\n", 2, "Daemon.AuthTimeoutSec", "0 is out of range 1..600" },
        { "[Daemon]\nAuthTimeoutSec=601\n", 2, "Daemon.AuthTimeoutSec", "601 is out of range 1..600" },
        { "[Daemon]\nIdleTimeoutSec=4\n", 2, "Daemon.IdleTimeoutSec", "4 is out of range 5..3600" },
        { "[Daemon]\nIdleTimeoutSec=3601\n", 2, "Daemon.IdleTimeoutSec",
          "3601 is out of range 5..3600" },
        { "[Daemon]\nFinalCheckTimeoutSec=9\n", 2, "Daemon.FinalCheckTimeoutSec",
          "9 is out of range 10..86400" },
        { "[Daemon]\nConnectRetrySec=3601\n", 2, "Daemon.ConnectRetrySec",
          "3601 is out of range 0..3600" },
        { "[Daemon]\nConnectBackoffMSec=9\n", 2, "Daemon.ConnectBackoffMSec",
          "9 is out of range 10..60000" },
        { "[Daemon]\nConnectBackoffMaxSec=0\n", 2, "Daemon.ConnectBackoffMaxSec",
          "0 is out of range 1..600" },
        { "[Daemon]\nConnectBackoffMaxSec=2\nConnectBackoffMSec=2001\n", 3,
          "Daemon.ConnectBackoffMSec", "ConnectBackoffMSec=2001 exceeds ConnectBackoffMaxSec=2" },
        { "[Daemon]\nFinalCheckTimeoutSec=86401\n", 2, "Daemon.FinalCheckTimeoutSec",
          "86401 is out of range 10..86400" },
        { "[Daemon]\nOperatorGroup=1umc\n", 2, "Daemon.OperatorGroup",
          "'1umc' is not a group name" },
        { "[Daemon]\nPackageDirectory=packages\n", 2, "Daemon.PackageDirectory",
          "'packages' is not an absolute path" },
        { "[Daemon]\nPackageDirectory=/var/lib/umc/../../etc\n", 2, "Daemon.PackageDirectory",
          "has a '.' or '..' component" },
        { "[Daemon]\nOperatorGroup=-umc\n", 2, "Daemon.OperatorGroup",
          "'-umc' is not a group name" },
        { "[Daemon]\nOperatorGroup=umc operators\n", 2, "Daemon.OperatorGroup",
          "'umc operators' is not a group name" },
        { "[Daemon]\nOperatorGroup=umc/ops\n", 2, "Daemon.OperatorGroup", "not a group name" },
        { "[Daemon]\nOperatorGroup=abcdefghijklmnopqrstuvwxyz012345\n", 2, "Daemon.OperatorGroup",
          "longer than 31 characters" },
        { "[Security]\nReplayWindow=64x\n", 2, "Security.ReplayWindow", "not a decimal number" },
        { "[Security]\nReplayWindow=-1\n", 2, "Security.ReplayWindow", "not a decimal number" },
        { "[Security]\nReplayWindow=1025\n", 2, "Security.ReplayWindow", "out of range 1..1024" },
        { "[Security]\nMaxRejectedFrames=65536\n", 2, "Security.MaxRejectedFrames",
          "out of range 0..65535" },
        { "[Security]\nMaxRejectedFrames=many\n", 2, "Security.MaxRejectedFrames",
          "not a decimal number" },
        { "[Security]\nReplayWindow=99999999999999999999999\n", 2, "Security.ReplayWindow",
          "out of range 1..1024" },
        { "[Security]\nRotationIntervalSec=0\n", 2, "Security.RotationIntervalSec",
          "out of range 1..86400" },
        { "[Security]\nRotationHoldoffSec=3601\n", 2, "Security.RotationHoldoffSec",
          "out of range 0..3600" },
        { "[Security]\nRotationIntervalSec=5\nRotationHoldoffSec=6\n", 3,
          "Security.RotationHoldoffSec", "exceeds RotationIntervalSec=5" },
        { "[Security]\nRotationIntervalSec=5\n", 2, "Security.RotationIntervalSec",
          "RotationHoldoffSec=10 exceeds RotationIntervalSec=5" },
        { "[Security]\nVerifyEvery=0\n", 2, "Security.VerifyEvery", "out of range 1..65535" },
        { "[Security]\nVerifyEvery=sometimes\n", 2, "Security.VerifyEvery", "expected auto" },
        { "[Security]\nImageHash=md5\n", 2, "Security.ImageHash",
          "unknown value 'md5' (expected sha256|sm3)" },
        { "[Security]\nCipherOrder=aes-128-gcm rot13\n", 2, "Security.CipherOrder",
          "unknown cipher suite 'rot13'" },
        { "[Security]\nCipherOrder=aes-128-gcm,,aes-256-gcm\n", 2, "Security.CipherOrder",
          "empty list entry" },
        { "[Security]\nCipherOrder=aes-128-gcm,\n", 2, "Security.CipherOrder", "empty list entry" },
        { "[Security]\nCipherOrder=aes-128-gcm aes-128-gcm aes-128-gcm aes-128-gcm aes-128-gcm "
          "aes-128-gcm aes-128-gcm aes-128-gcm aes-128-gcm aes-128-gcm aes-128-gcm aes-128-gcm "
          "aes-128-gcm aes-128-gcm aes-128-gcm aes-128-gcm aes-128-gcm\n",
          0, NULL, "line too long" },
        { "[Security]\nCipherOrder=sm4-ctr-hmac-sm3 sm4-ctr-hmac-sm3 sm4-ctr-hmac-sm3\n"
          "InnerSuite=nonesuch\n", 3, "Security.InnerSuite", "unknown cipher suite 'nonesuch'" },
        { "[Load]\nWindowMSec=9\n", 2, "Load.WindowMSec", "out of range 10..60000" },
        { "[Load]\nMutationFactor=1\n", 2, "Load.MutationFactor", "greater than 1 and at most 100" },
        { "[Load]\nMutationFactor=1.5.2\n", 2, "Load.MutationFactor", "not a decimal number" },
        { "[Load]\nMutationFactor=nan\n", 2, "Load.MutationFactor", "not a decimal number" },
        { "[Load]\nMutationMinDeltaPercent=100.5\n", 2, "Load.MutationMinDeltaPercent",
          "out of range 0..100" },
        { "[Load]\nAbnormalPercent=0.5\n", 2, "Load.AbnormalPercent", "out of range 1..1000" },
        { "[Load]\nCanStuffing=some\n", 2, "Load.CanStuffing", "expected worst|ignore|exact" },
        { "[Load]\nCanBitModel=bosch\n", 2, "Load.CanBitModel", "expected iso|canbusload" },
        { "[Load]\nLinkRateMbit=100001\n", 2, "Load.LinkRateMbit", "100001 is out of range 0..100000" },
        { "[Load]\nLinkRateMbit=1.5\n", 2, "Load.LinkRateMbit", "'1.5' is not a decimal number" },
        { "[Load]\nLinkRateMbit=-1\n", 2, "Load.LinkRateMbit", "'-1' is not a decimal number" },
        { "[Load]\nCeilingPercent=101\n", 2, "Load.CeilingPercent", "101 is out of range 0..100" },
        { "[Load]\nCeilingPercent=50%\n", 2, "Load.CeilingPercent", "'50%' is not a decimal number" },
        { "[Load]\nWindowMSec=10\nMutationWindowSec=7\n", 3, "Load.MutationWindowSec",
          "spans more than 600 windows" },
        { "[Load]\nWindowMSec=60000\n", 2, "Load.WindowMSec", "shorter than one window" },
        { "[CanIds]\nTolerancePercent=0.05\n", 2, "CanIds.TolerancePercent", "out of range 0.1..100" },
        { "[CanIds]\nMinPeriods=10001\n", 2, "CanIds.MinPeriods", "out of range 1..10000" },
        { "[CanIds]\nId=7G0\n", 2, "CanIds.Id", "'7G0': " },
        { "[CanIds]\nId=7E0\nId=7E0:100\n", 3, "CanIds.Id", "'7E0:100': ID listed twice" },
        { "[EthernetAcl]\nRule=permit everything\n", 2, "EthernetAcl.Rule", "'permit everything': " },
        { TARGET_HEAD "Address=10.0.0.1:4500\nChannel=udp\n", 6, "Target a.Channel",
          "unknown value 'udp' (expected tcp|can)" },
        { TARGET_HEAD "Address=ecu.example:4500\n", 5, "Target a.Address", "not a numeric IPv4" },
        /* Port 0 is a listener's "any free port": a target needs a real one. */
        { TARGET_HEAD "Address=10.0.0.1:0\n", 5, "Target a.Address",
          "port must be a number in 1..65535" },
        { TARGET_HEAD "Address=10.0.0.1\n", 5, "Target a.Address", "expected IPV4:PORT" },
        { TARGET_HEAD "Address=::1:4500\n", 5, "Target a.Address", "needs brackets" },
        { TARGET_HEAD "Address=[fe80::1%eth0]:4500\n", 5, "Target a.Address", "not a numeric IPv6" },
        { "[Target a]\nEcuId=0\n", 2, "Target a.EcuId", "out of range 1..0xffffffff" },
        { "[Target a]\nEcuId=0x100000000\n", 2, "Target a.EcuId", "out of range 1..0xffffffff" },
        { "[Target a]\nEcuId=0x1g\n", 2, "Target a.EcuId", "not a decimal or 0x-prefixed hex" },
        { "[Target a]\nHardwareId=ECU 1\n", 2, "Target a.HardwareId", "printable ASCII" },
        { "[Target a]\nHardwareId=0123456789012345678901234567890123456789012345678901234567890"
          "1234\n", 2, "Target a.HardwareId", "longer than 64" },
        { "[Target a]\nKeyFile=keys/a.key\n", 2, "Target a.KeyFile", "not an absolute path" },
        { "[Target a]\nFoo=1\n", 2, "Target a.Foo", "known in this section: EcuId, HardwareId" },
        { "[Daemon]\nLogLevel=info ; chatty\n", 2, "Daemon.LogLevel", "inline comments" },
        { "[Daemon]\nLogLevel=info # chatty\n", 2, "Daemon.LogLevel", "inline comments" },
        /* Indentation is not a continuation line: the second LogLevel is a key of its own. */
        { "[Daemon]\nLogLevel=info\n    LogLevel=debug\n", 3, "Daemon.LogLevel", "given twice" },
        /* Line-level defects have no key yet: "FILE:LINE: what". */
        { "[Daemon]\nLogLevel info\n", 0, NULL, "expected Key=Value" },
        { "[Daemon]\nLogLevel: info\n", 0, NULL, "expected Key=Value" },
        { "[Daemon]\n=info\n", 0, NULL, "expected Key=Value" },
        { "[Daemon]\nLog Level=info\n", 0, NULL, "expected Key=Value" },
        { "[Daemon]\nLogLevel ;x=info\n", 0, NULL, "expected Key=Value" },
        { "[Daemon\n", 0, NULL, "lacks ']'" },
        { "[Daemon] x\n", 0, NULL, "text after ']'" },
        { "[Daemon]\nLogLevel=in\x01" "fo\n", 0, NULL, "control character" },
        { "LogLevel=info\n", 0, NULL, "key outside of any section" },
};

/* Rows without a key expect "FILE:LINE: text" on the row's last line. */
static unsigned last_line(const char *text) {
        unsigned n = 0;

        for (const char *s = text; *s; s++)
                n += *s == '\n';
        return n;
}

/*
 * Every row of table is refused by the umcd.conf (agent false) or
 * umc-agent.conf loader with -EINVAL, the config untouched, and the message
 * names file, line, Section.Key and the defect (rows without where: the
 * file's last line and the defect).
 */
static void expect_refusals(struct fixture *f, const struct refusal *table, size_t n, bool agent) {
        for (size_t i = 0; i < n; i++) {
                const struct refusal *t = &table[i];
                struct umc_daemon_config dc = {};
                struct umc_agent_config ac = {};
                struct umc_config_error err = {};
                const char *path = write_conf(f, t->text);
                char prefix[256];
                int r = agent ? umc_agent_config_load(path, &ac, &err)
                              : umc_daemon_config_load(path, &dc, &err);

                if (r != -EINVAL)
                        fail_msg("row %zu: %d: %s", i, r, err.msg);
                assert_null(agent ? (void *)ac.slot_directory : (void *)dc.state_directory);
                if (t->where) {
                        assert_message(&err, path, t->line, t->where, t->needle);
                        continue;
                }
                (void)snprintf(prefix, sizeof(prefix), "%s:%u: ", path, last_line(t->text));
                if (strncmp(err.msg, prefix, strlen(prefix)) != 0 || !strstr(err.msg, t->needle))
                        fail_msg("row %zu: '%s' lacks '%s' or '%s'", i, err.msg, prefix, t->needle);
        }
}

static void test_each_refusal_names_file_line_section_and_key(void **state) {
        expect_refusals(*state, refusals, UMC_ELEMENTSOF(refusals), false);
}

static void test_bad_values_carry_the_parsers_reason(void **state) {
        struct fixture *f = *state;
        struct umc_canid_rule rule;
        struct umc_eth_rule eth;
        char why[UMC_WHY_MAX] = "";
        char needle[UMC_WHY_MAX + 64];

        assert_int_equal(umc_canid_rule_parse("7G0", 10, &rule, why, sizeof(why)), -EINVAL);
        assert_true(why[0] != '\0');
        (void)snprintf(needle, sizeof(needle), "'7G0': %s", why);
        expect_daemon_refusal(f, "[CanIds]\nId=7G0\n", -EINVAL, 2, "CanIds.Id", needle);

        why[0] = '\0';
        assert_int_equal(umc_eth_rule_parse("allow dport=99999", &eth, why, sizeof(why)), -EINVAL);
        assert_true(why[0] != '\0');
        (void)snprintf(needle, sizeof(needle), "'allow dport=99999': %s", why);
        expect_daemon_refusal(f, "[EthernetAcl]\nRule=allow\nRule=allow dport=99999\n", -EINVAL, 3,
                              "EthernetAcl.Rule", needle);
}

static void test_legacy_cipher_is_refused_with_the_reason(void **state) {
        struct fixture *f = *state;
        const struct umc_suite *s = NULL;
        char why[UMC_WHY_MAX] = "";
        char needle[UMC_WHY_MAX + 64];

        assert_int_equal(umc_suite_from_name("3des", &s, why, sizeof(why)), -EPERM);
        assert_true(why[0] != '\0');
        (void)snprintf(needle, sizeof(needle), "'3des' is refused: %s", why);
        expect_daemon_refusal(f, "[Security]\nCipherOrder=aes-128-gcm 3des\n", -EINVAL, 2,
                              "Security.CipherOrder", needle);

        why[0] = '\0';
        assert_int_equal(umc_suite_from_name("rc4", &s, why, sizeof(why)), -EPERM);
        assert_true(why[0] != '\0');
        (void)snprintf(needle, sizeof(needle), "'rc4' is refused: %s", why);
        expect_daemon_refusal(f, "[Security]\nInnerSuite=rc4\n", -EINVAL, 2, "Security.InnerSuite",
                              needle);
}

static void test_cloud_section_loads_with_its_secret(void **state) {
        struct fixture *f = *state;
        struct umc_daemon_config c = {};
        struct umc_config_error err = {};
        const char *path = write_conf(
                f, "[Package]\nTrustAnchor=/etc/umc/ca.pem\nCheckOrder=signature version\n"
                   "[Device]\nVehicleModel=X1\nHardwareRevision=B2\n"
                   "[Cloud]\nBaseUrl=https://ota.example.com/api\nDeviceId=dev-1\n"
                   "SecretFile=@KEY@\nCompany=acme\nProduct=tbox\nCaFile=/etc/umc/ca.pem\n"
                   "Windows=02:00-04:00 23:30-00:30\nWindows=12:00-12:05\nRandomDelaySec=60\n"
                   "RateLimit=1000000\n");

        if (umc_daemon_config_load(path, &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_string_equal(c.cloud_url, "https://ota.example.com/api");
        assert_string_equal(c.device_id, "dev-1");
        assert_memory_equal(c.cloud_secret, "\x00\x01\x02\x03", 4); /* key_hex, loaded */
        assert_int_equal(c.checks.n, 2);
        assert_int_equal(c.checks.order[1], UMC_PKG_CHECK_VERSION);
        assert_int_equal(c.n_windows, 3);
        assert_int_equal(c.windows[1].start_min, 23 * 60 + 30);
        assert_int_equal(c.windows[1].end_min, 30);
        assert_int_equal(c.windows[2].end_min, 12 * 60 + 5);
        assert_int_equal(c.random_delay_usec, 60 * USEC_PER_SEC);
        assert_int_equal(c.rate_limit, 1000000);
        assert_string_equal(c.vehicle_model, "X1");
        umc_daemon_config_free(&c);

        /* Plain HTTP only with AllowInsecure=yes. */
        path = write_conf(f, "[Package]\nTrustAnchor=/a.pem\nCheckOrder=signature\n[Cloud]\n"
                             "BaseUrl=http://ota.example.com\nDeviceId=d\nSecretFile=@KEY@\n"
                             "Company=a\nProduct=b\nCaFile=/a.pem\n");
        assert_int_equal(umc_daemon_config_load(path, &c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "Cloud.BaseUrl: 'http://ota.example.com' is not TLS"));
}

static void test_unknown_sections_are_refused_even_when_empty(void **state) {
        struct fixture *f = *state;

        expect_daemon_refusal(f, "[Daemon]\n[Deamon]\n", -EINVAL, 2, "[Deamon]",
                              "unknown section (known: [Daemon], [Security], [Load], [Can], "
                              "[CanIds], [EthernetAcl], [Package], [Device], [Cloud], "
                              "[Target NAME])");
        /* [Agent] belongs to the other file. */
        expect_daemon_refusal(f, "[Agent]\n", -EINVAL, 1, "[Agent]", "unknown section");
        /* Keys and sections are case-sensitive. */
        expect_daemon_refusal(f, "[daemon]\n", -EINVAL, 1, "[daemon]", "unknown section");
        expect_daemon_refusal(f, "[Daemon]\nloglevel=info\n", -EINVAL, 2, "Daemon.loglevel",
                              "unknown key");
}

static void test_unknown_agent_keys_are_named(void **state) {
        struct fixture *f = *state;
        struct umc_agent_config c = {};
        struct umc_config_error err = {};
        const char *path;

        /* CipherOrder is umcd's, not the agent's. */
        path = write_conf(f, "[Agent]\nEcuId=1\nHardwareId=X\nKeyFile=@KEY@\n[Security]\n"
                             "CipherOrder=aes-128-gcm\n");
        assert_int_equal(umc_agent_config_load(path, &c, &err), -EINVAL);
        assert_message(&err, path, 6, "Security.CipherOrder", "unknown key");

        path = write_conf(f, "[Agent]\nMode=relay\n");
        assert_int_equal(umc_agent_config_load(path, &c, &err), -EINVAL);
        assert_message(&err, path, 2, "Agent.Mode", "expected endpoint|gateway");

        path = write_conf(f, "[Security]\nAllowedSuites=aes-128-gcm AES-128-GCM\n");
        assert_int_equal(umc_agent_config_load(path, &c, &err), -EINVAL);
        assert_message(&err, path, 2, "Security.AllowedSuites", "listed twice");

        path = write_conf(f, "[Agent]\nListen=0.0.0.0:65536\n");
        assert_int_equal(umc_agent_config_load(path, &c, &err), -EINVAL);
        assert_message(&err, path, 2, "Agent.Listen", "port must be a number in 0..65535");
        assert_null(c.key_file);
}

/* umc-agent.conf's own keys: one row per refusal, each naming file, line, section and key. */
static const struct refusal agent_refusals[] = {
        /* Resume state lives in the slot store: the agent has no StateDirectory=. */
        { "[Agent]\nStateDirectory=/var/lib/umc-agent\n", 2, "Agent.StateDirectory",
          "unknown key (known in this section: Mode, Listen, BindInterface, EcuId, HardwareId, "
          "KeyFile, "
          "SlotDirectory, LogLevel, MaxConnections, HandshakeTimeoutSec, IdleTimeoutSec, "
          "MaxImageSize, ResumeMaxAgeSec, ResumeMaxSize, ForwardConfig, TrustAnchor, Crl, RequireSignature, PackageKeyFile, Channel, Interface, TxId, RxId, Fd, BitRateSwitch, "
          "Padding, PadByte, BlockSize, STmin, FrameGapNSec)" },
        { "[Agent]\nListen=127.0.0.1:-1\n", 2, "Agent.Listen", "port must be a number in 0..65535" },
        { "[Agent]\nMaxConnections=0\n", 2, "Agent.MaxConnections", "0 is out of range 1..64" },
        { "[Agent]\nResumeMaxAgeSec=31622401\n", 2, "Agent.ResumeMaxAgeSec",
          "31622401 is out of range 0..31622400" },
        { "[Agent]\nResumeMaxSize=2T\n", 2, "Agent.ResumeMaxSize", "2T is out of range 0..1T" },
        { "[Agent]\nMaxConnections=65\n", 2, "Agent.MaxConnections", "65 is out of range 1..64" },
        { "[Agent]\nMaxConnections=four\n", 2, "Agent.MaxConnections",
          "'four' is not a decimal number" },
        { "[Agent]\nHandshakeTimeoutSec=0\n", 2, "Agent.HandshakeTimeoutSec",
          "0 is out of range 1..300" },
        { "[Agent]\nHandshakeTimeoutSec=301\n", 2, "Agent.HandshakeTimeoutSec",
          "301 is out of range 1..300" },
        { "[Agent]\nIdleTimeoutSec=4\n", 2, "Agent.IdleTimeoutSec", "4 is out of range 5..3600" },
        { "[Agent]\nIdleTimeoutSec=3601\n", 2, "Agent.IdleTimeoutSec", "3601 is out of range 5..3600" },
        { "[Agent]\nMaxImageSize=0\n", 2, "Agent.MaxImageSize", "0 is out of range 1..1T" },
        { "[Agent]\nMaxImageSize=0G\n", 2, "Agent.MaxImageSize", "0G is out of range 1..1T" },
        { "[Agent]\nMaxImageSize=2T\n", 2, "Agent.MaxImageSize", "2T is out of range 1..1T" },
        { "[Agent]\nMaxImageSize=1099511627777\n", 2, "Agent.MaxImageSize",
          "1099511627777 is out of range 1..1T" },
        { "[Agent]\nMaxImageSize=99999999999999999999T\n", 2, "Agent.MaxImageSize",
          "out of range 1..1T" },
        { "[Agent]\nMaxImageSize=16777216T\n", 2, "Agent.MaxImageSize", "out of range 1..1T" },
        { "[Agent]\nMaxImageSize=32g\n", 2, "Agent.MaxImageSize",
          "'32g' is not a size (a number of bytes, optionally followed by K, M, G or T)" },
        { "[Agent]\nMaxImageSize=32GB\n", 2, "Agent.MaxImageSize", "'32GB' is not a size" },
        { "[Agent]\nMaxImageSize=G\n", 2, "Agent.MaxImageSize", "'G' is not a size" },
        { "[Agent]\nMaxImageSize=1.5G\n", 2, "Agent.MaxImageSize", "'1.5G' is not a size" },
        { "[Agent]\nMaxImageSize=-1\n", 2, "Agent.MaxImageSize", "'-1' is not a size" },
        /* The daemon's options are not the agent's. */
        { "[Agent]\nConnectTimeoutSec=10\n", 2, "Agent.ConnectTimeoutSec", "unknown key" },
};

static void test_each_agent_refusal_names_file_line_section_and_key(void **state) {
        expect_refusals(*state, agent_refusals, UMC_ELEMENTSOF(agent_refusals), true);
}

/* The ends of every new range load, and mean what they say. */
static void test_option_limits_are_accepted(void **state) {
        static const struct {
                const char *value;
                uint64_t bytes;
        } sizes[] = {
                { "4096", 4096 },
                { "1K", 1024 },
                { "3M", UINT64_C(3) << 20 },
                { "32G", UINT64_C(32) << 30 },
                { "1048576M", UINT64_C(1) << 40 },
        };
        struct fixture *f = *state;
        struct umc_daemon_config d = {};
        struct umc_agent_config a = {};
        struct umc_config_error err = {};

        if (umc_daemon_config_load(write_conf(f, "[Daemon]\nConnectTimeoutSec=1\nAuthTimeoutSec=600\n"
                                                 "IdleTimeoutSec=5\nFinalCheckTimeoutSec=86400\n"
                                                 "OperatorGroup=_a-b.c9\n"
                                                 "[Load]\nLinkRateMbit=100000\nCeilingPercent=1\n"),
                                   &d, &err) != 0)
                fail_msg("%s", err.msg);
        assert_int_equal(d.connect_timeout_usec, USEC_PER_SEC);
        assert_int_equal(d.auth_timeout_usec, 600 * USEC_PER_SEC);
        assert_int_equal(d.idle_timeout_usec, 5 * USEC_PER_SEC);
        assert_int_equal(d.final_timeout_usec, 86400 * USEC_PER_SEC);
        assert_string_equal(d.operator_group, "_a-b.c9");
        assert_int_equal(d.link_rate_bps, 100000 * UINT64_C(1000000));
        assert_int_equal(d.ceiling_percent, 1);
        umc_daemon_config_free(&d);

        if (umc_daemon_config_load(write_conf(f, "[Daemon]\nConnectTimeoutSec=600\nAuthTimeoutSec=1\n"
                                                 "IdleTimeoutSec=3600\nFinalCheckTimeoutSec=10\n"
                                                 "OperatorGroup=abcdefghijklmnopqrstuvwxyz01234\n"
                                                 "[Load]\nLinkRateMbit=0\nCeilingPercent=100\n"),
                                   &d, &err) != 0)
                fail_msg("%s", err.msg);
        assert_int_equal(d.connect_timeout_usec, 600 * USEC_PER_SEC);
        assert_int_equal(d.auth_timeout_usec, USEC_PER_SEC);
        assert_int_equal(d.idle_timeout_usec, 3600 * USEC_PER_SEC);
        assert_int_equal(d.final_timeout_usec, 10 * USEC_PER_SEC);
        assert_int_equal(strlen(d.operator_group), 31);
        assert_int_equal(d.link_rate_bps, 0);
        assert_int_equal(d.ceiling_percent, 100);
        umc_daemon_config_free(&d);

        if (umc_agent_config_load(write_conf(f, "[Agent]\nEcuId=1\nHardwareId=X\nKeyFile=@KEY@\n"
                                                "RequireSignature=no\n"
                                                "Listen=127.0.0.1:0\nMaxConnections=1\n"
                                                "HandshakeTimeoutSec=1\nIdleTimeoutSec=3600\n"
                                                "MaxImageSize=1\n"),
                                  &a, &err) != 0)
                fail_msg("%s", err.msg);
        assert_sockaddr(&a.listen, AF_INET, "127.0.0.1", 0);
        assert_int_equal(a.max_connections, 1);
        assert_int_equal(a.handshake_timeout_usec, USEC_PER_SEC);
        assert_int_equal(a.idle_timeout_usec, 3600 * USEC_PER_SEC);
        assert_int_equal(a.max_image_size, 1);
        umc_agent_config_free(&a);

        if (umc_agent_config_load(write_conf(f, "[Agent]\nEcuId=1\nHardwareId=X\nKeyFile=@KEY@\n"
                                                "RequireSignature=no\nListen=[::]:0\n"
                                                "MaxImageSize=1T\n"),
                                  &a, &err) != 0)
                fail_msg("%s", err.msg);
        assert_sockaddr(&a.listen, AF_INET6, "::", 0);
        assert_int_equal(a.max_image_size, UINT64_C(1) << 40);
        umc_agent_config_free(&a);

        /* Each suffix is a power of 1024; no suffix is bytes. */
        for (size_t i = 0; i < UMC_ELEMENTSOF(sizes); i++) {
                char text[256];

                (void)snprintf(text, sizeof(text),
                               "[Agent]\nEcuId=1\nHardwareId=X\nKeyFile=@KEY@\nMaxImageSize=%s\n"
                               "RequireSignature=no\n",
                               sizes[i].value);
                if (umc_agent_config_load(write_conf(f, text), &a, &err) != 0)
                        fail_msg("%s: %s", sizes[i].value, err.msg);
                assert_int_equal(a.max_image_size, sizes[i].bytes);
                umc_agent_config_free(&a);
        }
}

static void test_missing_required_keys_name_the_section(void **state) {
        struct fixture *f = *state;
        struct umc_agent_config a = {};
        struct umc_config_error err = {};
        const char *path;

        expect_daemon_refusal(f, "[Target a]\n", -EINVAL, 0, "[Target a]",
                              "missing required key EcuId=");
        expect_daemon_refusal(f, TARGET_HEAD, -EINVAL, 0, "[Target a]",
                              "missing required key Address=");
        expect_daemon_refusal(f, "[Target a]\nEcuId=1\nAddress=10.0.0.1:1\nKeyFile=@KEY@\n", -EINVAL,
                              0, "[Target a]", "missing required key HardwareId=");

        path = write_conf(f, "# nothing\n");
        assert_int_equal(umc_agent_config_load(path, &a, &err), -EINVAL);
        assert_message(&err, path, 0, "[Agent]", "missing required key EcuId=");

        path = write_conf(f, "[Agent]\nEcuId=1\nHardwareId=X\n");
        assert_int_equal(umc_agent_config_load(path, &a, &err), -EINVAL);
        assert_message(&err, path, 0, "[Agent]", "missing required key KeyFile=");
}

static void test_duplicate_targets_and_ecu_ids_are_refused(void **state) {
        struct fixture *f = *state;

        expect_daemon_refusal(f, "[Target a]\n[Target a]\n", -EINVAL, 2, "[Target a]",
                              "duplicate target name (first at line 1)");
        /* 1 and 0x1 are the same ECU ID. */
        expect_daemon_refusal(f,
                              TARGET_HEAD "Address=10.0.0.1:1\n"
                              "[Target b]\nEcuId=0x1\nHardwareId=Y\nKeyFile=@KEY@\n"
                              "Address=10.0.0.2:1\n",
                              -EINVAL, 7, "Target b.EcuId", "0x00000001 is already used by [Target a]");
        expect_daemon_refusal(f, "[Target]\n", -EINVAL, 1, "[Target]", "needs a name");
        expect_daemon_refusal(f, "[Target a.b]\n", -EINVAL, 1, "[Target a.b]", "needs a name");
        expect_daemon_refusal(f, "[Target 0123456789012345678901234567890x]\n", -EINVAL, 1,
                              "[Target 0123456789012345678901234567890x]", "needs a name");
}

static void test_key_file_readable_by_others_is_refused(void **state) {
        struct fixture *f = *state;
        uint8_t key[UMC_MASTER_KEY_LEN];
        char tmpl[512], needle[512];
        char why[UMC_WHY_MAX] = "";

        assert_int_equal(umc_keyfile_load(f->key644, key, why, sizeof(why)), -EPERM);
        assert_true(why[0] != '\0');
        (void)snprintf(tmpl, sizeof(tmpl), "[Target a]\nEcuId=1\nHardwareId=X\nKeyFile=%s\n"
                                           "Address=10.0.0.1:1\n", f->key644);
        (void)snprintf(needle, sizeof(needle), "%s: %s", f->key644, why);
        expect_daemon_refusal(f, tmpl, -EPERM, 4, "Target a.KeyFile", needle);
}

static void test_feature_code_check_loads_its_key(void **state) {
        struct fixture *f = *state;
        struct umc_daemon_config c = {};
        struct umc_config_error err = {};
        char tmpl[512], needle[512];
        const char *path;
        char why[UMC_WHY_MAX] = "";
        uint8_t key[UMC_MASTER_KEY_LEN];

        path = write_conf(f, "[Package]\nCheckOrder=signature feature-code version\n"
                             "[Device]\nFeatureCode=OPT-7\nFeatureKeyFile=@KEY@\n");
        if (umc_daemon_config_load(path, &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_int_equal(c.checks.n, 3);
        assert_int_equal(c.checks.order[1], UMC_PKG_CHECK_FEATURE_CODE);
        assert_string_equal(c.feature_code, "OPT-7");
        assert_memory_equal(c.feature_key, "\x00\x01\x02\x03", 4); /* key_hex, loaded */
        umc_daemon_config_free(&c);
        assert_null(c.feature_key_file);

        /* The key file follows keyfile.h's rules: readable by others is refused at start-up. */
        assert_int_equal(umc_keyfile_load(f->key644, key, why, sizeof(why)), -EPERM);
        (void)snprintf(tmpl, sizeof(tmpl), "[Package]\nCheckOrder=signature feature-code\n"
                                           "[Device]\nFeatureCode=OPT-7\nFeatureKeyFile=%s\n",
                       f->key644);
        (void)snprintf(needle, sizeof(needle), "%s: %s", f->key644, why);
        expect_daemon_refusal(f, tmpl, -EPERM, 5, "Device.FeatureKeyFile", needle);
}

static void test_missing_key_file_returns_its_errno(void **state) {
        struct fixture *f = *state;
        struct umc_agent_config c = {};
        struct umc_config_error err = {};
        char tmpl[512];
        const char *path;

        (void)snprintf(tmpl, sizeof(tmpl), "[Agent]\nKeyFile=%s/absent.key\nEcuId=1\nHardwareId=X\n",
                       f->dir);
        path = write_conf(f, tmpl);
        assert_int_equal(umc_agent_config_load(path, &c, &err), -ENOENT);
        assert_message(&err, path, 2, "Agent.KeyFile", "absent.key");
}

static void test_missing_config_file_is_reported(void **state) {
        struct fixture *f = *state;
        struct umc_daemon_config c = {};
        struct umc_config_error err = {};
        char path[256];

        (void)snprintf(path, sizeof(path), "%s/absent.conf", f->dir);
        assert_int_equal(umc_daemon_config_load(path, &c, &err), -ENOENT);
        assert_message(&err, path, 0, "cannot open", "");
}

static void test_bad_file_leaves_ret_untouched(void **state) {
        struct fixture *f = *state;
        struct umc_daemon_config c, before;
        struct umc_agent_config a, a_before;
        struct umc_config_error err = {};

        /* memcpy, not assignment: padding bytes must compare equal too. */
        memset(&c, 0xa5, sizeof(c));
        memcpy(&before, &c, sizeof(c));
        /* Fails in the validation pass, after the parse filled a whole config. */
        assert_int_equal(umc_daemon_config_load(write_conf(f, full_daemon), &c, &err), 0);
        umc_daemon_config_free(&c);
        memset(&c, 0xa5, sizeof(c));
        assert_int_equal(umc_daemon_config_load(write_conf(f, "[Security]\nRotationIntervalSec=3\n"),
                                                &c, &err), -EINVAL);
        assert_memory_equal(&c, &before, sizeof(c));

        memset(&a, 0x5a, sizeof(a));
        memcpy(&a_before, &a, sizeof(a));
        assert_int_equal(umc_agent_config_load(write_conf(f, "[Agent]\nEcuId=1\nHardwareId=X\n"),
                                               &a, &err), -EINVAL);
        assert_memory_equal(&a, &a_before, sizeof(a));
}

static void test_counts_are_capped_with_a_clear_error(void **state) {
        struct fixture *f = *state;
        size_t cap = 64 * 5000, len = 0;
        char *text = malloc(cap);

        assert_non_null(text);

        len = (size_t)snprintf(text, cap, "[CanIds]\n");
        for (unsigned i = 0; i <= UMC_CONFIG_CAN_IDS_MAX; i++)
                len += (size_t)snprintf(text + len, cap - len, "Id=%08X\n", 0x100000 + i);
        expect_daemon_refusal(f, text, -EINVAL, UMC_CONFIG_CAN_IDS_MAX + 2, "CanIds.Id",
                              "too many IDs (at most 4096)");

        len = (size_t)snprintf(text, cap, "[EthernetAcl]\n");
        for (unsigned i = 0; i <= UMC_CONFIG_ETH_RULES_MAX; i++)
                len += (size_t)snprintf(text + len, cap - len, "Rule=allow dport=%u\n", i + 1);
        expect_daemon_refusal(f, text, -EINVAL, UMC_CONFIG_ETH_RULES_MAX + 2, "EthernetAcl.Rule",
                              "too many rules (at most 1024)");

        len = (size_t)snprintf(text, cap, "[Daemon]\n");
        for (unsigned i = 0; i <= UMC_CONFIG_PACKAGE_DIRS_MAX; i++)
                len += (size_t)snprintf(text + len, cap - len, "PackageDirectory=/p%u\n", i);
        expect_daemon_refusal(f, text, -EINVAL, UMC_CONFIG_PACKAGE_DIRS_MAX + 2,
                              "Daemon.PackageDirectory", "too many package directories (at most 16)");

        len = 0;
        for (unsigned i = 0; i <= UMC_CONFIG_TARGETS_MAX; i++)
                len += (size_t)snprintf(text + len, cap - len, "[Target t%u]\nEcuId=%u\n", i, i + 1);
        expect_daemon_refusal(f, text, -EINVAL, 2 * UMC_CONFIG_TARGETS_MAX + 1, "[Target t256]",
                              "too many targets (at most 256)");
        free(text);
}

static void test_limits_themselves_are_accepted(void **state) {
        struct fixture *f = *state;
        struct umc_daemon_config c = {};
        struct umc_config_error err = {};
        size_t cap = 64 * 5000, len = 0;
        char *text = malloc(cap);

        assert_non_null(text);
        len = (size_t)snprintf(text, cap, "[CanIds]\n");
        for (unsigned i = 0; i < UMC_CONFIG_CAN_IDS_MAX; i++)
                len += (size_t)snprintf(text + len, cap - len, "Id=%08X:%u\n", 0x100000 + i, i + 1);
        len += (size_t)snprintf(text + len, cap - len, "[EthernetAcl]\n");
        for (unsigned i = 0; i < UMC_CONFIG_ETH_RULES_MAX; i++)
                len += (size_t)snprintf(text + len, cap - len, "Rule=deny dport=%u\n", i + 1);
        for (unsigned i = 0; i < UMC_CONFIG_TARGETS_MAX; i++)
                len += (size_t)snprintf(text + len, cap - len,
                                        "[Target t%u]\nEcuId=%u\nHardwareId=H%u\nKeyFile=@KEY@\n"
                                        "Address=10.0.%u.%u:4500\n", i, i + 1, i, i / 256, i % 256);
        if (umc_daemon_config_load(write_conf(f, text), &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_int_equal(c.can_ids.n_rules, UMC_CONFIG_CAN_IDS_MAX);
        assert_int_equal(c.can_ids.rules[4095].period_usec, 4096 * USEC_PER_MSEC);
        assert_int_equal(c.eth_acl.n_rules, UMC_CONFIG_ETH_RULES_MAX);
        assert_int_equal(c.eth_acl.rules[1023].dport_lo, 1024);
        assert_int_equal(c.n_targets, UMC_CONFIG_TARGETS_MAX);
        assert_string_equal(c.ecus[255].name, "t255");
        assert_key_bytes(c.targets[255].master_key);
        umc_daemon_config_free(&c);
        free(text);
}

static void test_free_accepts_null_zeroed_and_half_filled_configs(void **state) {
        struct umc_daemon_config d = {};
        struct umc_agent_config a = {};

        umc_daemon_config_free(NULL);
        umc_agent_config_free(NULL);
        umc_daemon_config_free(&d);
        umc_agent_config_free(&a);

        /* Half-built, as a failed parse leaves it: ecus[] grown, targets[] not yet. */
        assert_int_equal(umc_daemon_config_init(&d), 0);
        d.ecus = calloc(8, sizeof(*d.ecus));
        assert_non_null(d.ecus);
        d.ecus[0].key_file = strdup("/etc/umc/a.key");
        d.n_targets = 1;
        d.can_ids.rules = calloc(1, sizeof(*d.can_ids.rules));
        umc_daemon_config_free(&d);
        assert_null(d.state_directory);
        assert_null(d.operator_group);
        assert_null(d.ecus);
        umc_daemon_config_free(&d); /* twice is harmless: free zeroes */

        assert_int_equal(umc_agent_config_init(&a), 0);
        a.key_file = strdup("/etc/umc/agent.key");
        memset(a.master_key, 0x42, sizeof(a.master_key));
        umc_agent_config_free(&a);
        for (size_t i = 0; i < sizeof(a.master_key); i++)
                assert_int_equal(a.master_key[i], 0);
        assert_null(a.slot_directory);
}

/* ---- CAN channels ---- */

#define CAN_IDS "[CanIds]\nId=7E0\nId=7E8\nId=7E1\nId=7E9\nId=18DAF110\nId=18DA10F1\n"
/* Lines 1..6; a row's own keys start at line 7. */
#define CAN_TARGET TARGET_HEAD "Channel=can\nInterface=can0\n"

static const char full_can[] =
        "[Can]\n"
        "BitRate=250000\n"
        "DataBitRate=5000000\n"
        "MaxPdu=4095\n"
        "[Target engine]\n"
        "EcuId=0x10\n"
        "HardwareId=ECU-ENG-0001\n"
        "KeyFile=@KEY@\n"
        "Channel=can\n"
        "Interface=can0\n"
        "TxId=7E0\n"
        "RxId=7E8\n"
        "Fd=no\n"
        "BitRateSwitch=no\n"
        "Padding=no\n"
        "PadByte=55\n"
        "BlockSize=8\n"
        "STmin=0A\n"
        "FrameGapNSec=50000\n"
        "[Target body]\n"
        "EcuId=0x11\n"
        "HardwareId=BCM-7\n"
        "KeyFile=@KEY@\n"
        "Channel=CAN\n"
        "Interface=vcan-body.1\n"
        "TxId=18DA10F1\n"
        "RxId=18daf110\n"
        "Fd=yes\n"
        "BitRateSwitch=YES\n"
        "Padding=yes\n"
        "PadByte=aa\n"
        "BlockSize=255\n"
        "STmin=F9\n"
        "FrameGapNSec=100000000\n"
        "[Target gw]\n"
        "EcuId=0x12\n"
        "HardwareId=GW\n"
        "KeyFile=@KEY@\n"
        "Address=10.0.0.12:4500\n"
        CAN_IDS;

static void test_can_target_loads_with_every_key(void **state) {
        struct fixture *f = *state;
        struct umc_daemon_config c = {};
        struct umc_config_error err = {};
        const struct umc_isotp_opts *o;

        if (umc_daemon_config_load(write_conf(f, full_can), &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_int_equal(c.can.bitrate, 250000);
        assert_int_equal(c.can.data_bitrate, 5000000);
        assert_int_equal(c.can.max_pdu, 4095);
        assert_int_equal(c.n_targets, 3);

        assert_int_equal(c.targets[0].channel, UMC_CHANNEL_CAN);
        assert_string_equal(c.targets[0].can.ifname, "can0");
        o = &c.targets[0].can.isotp;
        assert_int_equal(o->tx_id, 0x7e0);
        assert_int_equal(o->rx_id, 0x7e8);
        assert_false(o->eff);
        assert_false(o->fd);
        assert_false(o->brs);
        assert_false(o->padding);
        assert_int_equal(o->pad_byte, 0x55);
        assert_int_equal(o->block_size, 8);
        assert_int_equal(o->stmin, 0x0a);
        assert_int_equal(o->frame_gap_ns, 50000);
        assert_int_equal(umc_isotp_opts_check(o), 0);
        assert_key_bytes(c.targets[0].master_key);

        assert_int_equal(c.targets[1].channel, UMC_CHANNEL_CAN);
        assert_string_equal(c.targets[1].can.ifname, "vcan-body.1");
        o = &c.targets[1].can.isotp;
        assert_int_equal(o->tx_id, 0x18da10f1);
        assert_int_equal(o->rx_id, 0x18daf110);
        assert_true(o->eff);
        assert_true(o->fd);
        assert_true(o->brs);
        assert_true(o->padding);
        assert_int_equal(o->pad_byte, 0xaa);
        assert_int_equal(o->block_size, 255);
        assert_int_equal(o->stmin, 0xf9);
        assert_int_equal(o->frame_gap_ns, 100000000);
        assert_int_equal(umc_isotp_opts_check(o), 0);

        /* A TCP target next to them keeps its address. */
        assert_int_equal(c.targets[2].channel, UMC_CHANNEL_TCP);
        assert_sockaddr(&c.targets[2].address, AF_INET, "10.0.0.12", 4500);
        assert_key_bytes(c.targets[2].master_key);
        umc_daemon_config_free(&c);
}

static void test_can_target_defaults(void **state) {
        struct fixture *f = *state;
        struct umc_daemon_config c = {};
        struct umc_config_error err = {};
        const struct umc_isotp_opts *o;

        if (umc_daemon_config_load(write_conf(f, CAN_TARGET "TxId=7E0\nRxId=7E8\n" CAN_IDS), &c,
                                   &err) != 0)
                fail_msg("%s", err.msg);
        assert_int_equal(c.targets[0].channel, UMC_CHANNEL_CAN);
        assert_string_equal(c.targets[0].can.ifname, "can0");
        o = &c.targets[0].can.isotp;
        assert_false(o->eff);
        assert_false(o->fd);
        assert_false(o->brs);
        assert_true(o->padding); /* unlike umc_isotp_opts_default(): ECUs expect padded frames */
        assert_int_equal(o->pad_byte, 0xcc);
        assert_int_equal(o->block_size, 0);
        assert_int_equal(o->stmin, 0);
        assert_int_equal(o->frame_gap_ns, 0);
        assert_int_equal(c.can.bitrate, 500000);
        assert_int_equal(c.can.data_bitrate, 2000000);
        assert_int_equal(c.can.max_pdu, 0);
        umc_daemon_config_free(&c);
}

static const struct refusal can_refusals[] = {
        { CAN_TARGET "TxId=7E0\nRxId=7E8\nAddress=10.0.0.1:4500\n" CAN_IDS, 9, "Target a.Address",
          "not with Channel=can" },
        { CAN_TARGET "RxId=7E8\n" CAN_IDS, 0, "[Target a]", "missing required key TxId=" },
        { CAN_TARGET "TxId=7E0\n" CAN_IDS, 0, "[Target a]", "missing required key RxId=" },
        { TARGET_HEAD "Channel=can\nTxId=7E0\nRxId=7E8\n" CAN_IDS, 0, "[Target a]",
          "missing required key Interface=" },
        { CAN_TARGET "TxId=7E0\nRxId=18DAF110\n" CAN_IDS, 8, "Target a.RxId",
          "'18DAF110' is a 29-bit ID but TxId= (line 7) is 11-bit: both must have the same width" },
        { CAN_TARGET "RxId=18DAF110\nTxId=7E0\n" CAN_IDS, 8, "Target a.TxId",
          "'7E0' is an 11-bit ID but RxId= (line 7) is 29-bit" },
        { CAN_TARGET "TxId=7E0\nRxId=7E0\n" CAN_IDS, 8, "Target a.RxId",
          "7E0 is also the TxId: the two directions need different IDs" },
        { CAN_TARGET "TxId=18DAF110\nRxId=18DAF110\n" CAN_IDS, 8, "Target a.RxId",
          "18DAF110 is also the TxId" },
        { CAN_TARGET "TxId=7E0\nRxId=7E8\nBitRateSwitch=yes\n" CAN_IDS, 9, "Target a.BitRateSwitch",
          "yes needs Fd=yes" },
        { CAN_TARGET "STmin=80\n", 7, "Target a.STmin",
          "80 is reserved in ISO 15765-2: use 00-7F (0-127 ms) or F1-F9 (100-900 us)" },
        { CAN_TARGET "STmin=F0\n", 7, "Target a.STmin", "F0 is reserved" },
        { CAN_TARGET "STmin=FA\n", 7, "Target a.STmin", "FA is reserved" },
        { CAN_TARGET "STmin=0x80\n", 7, "Target a.STmin", "'0x80' is not two hex digits" },
        { CAN_TARGET "STmin=7\n", 7, "Target a.STmin", "'7' is not two hex digits" },
        { CAN_TARGET "PadByte=1CC\n", 7, "Target a.PadByte",
          "'1CC' is not a byte in two hex digits (such as CC)" },
        { CAN_TARGET "PadByte=G0\n", 7, "Target a.PadByte", "'G0' is not a byte" },
        { CAN_TARGET "FrameGapNSec=100000001\n", 7, "Target a.FrameGapNSec",
          "100000001 is out of range 0..100000000" },
        { CAN_TARGET "FrameGapNSec=50us\n", 7, "Target a.FrameGapNSec", "not a decimal number" },
        { CAN_TARGET "BlockSize=256\n", 7, "Target a.BlockSize", "256 is out of range 0..255" },
        { CAN_TARGET "Fd=maybe\n", 7, "Target a.Fd", "unknown value 'maybe' (expected yes|no)" },
        { CAN_TARGET "Padding=1\n", 7, "Target a.Padding", "expected yes|no" },
        { TARGET_HEAD "Channel=can\nInterface=can/0\n", 6, "Target a.Interface",
          "'can/0' is not an interface name" },
        { TARGET_HEAD "Channel=can\nInterface=can 0\n", 6, "Target a.Interface",
          "not an interface name" },
        { TARGET_HEAD "Channel=can\nInterface=0123456789abcdef\n", 6, "Target a.Interface",
          "(1..15 characters" },
        { CAN_TARGET "TxId=7E0:10\n", 7, "Target a.TxId", "'7E0:10': a channel ID takes no period" },
        { CAN_TARGET "TxId=0x7E0\n", 7, "Target a.TxId", "'0x7E0': " },
        { CAN_TARGET "TxId=800\n", 7, "Target a.TxId", "'800': " },
        { CAN_TARGET "TxId=7E0\nRxId=7EA\n" CAN_IDS, 8, "Target a.RxId",
          "7EA is not in [CanIds]: the upgrade traffic must be whitelisted too (add Id=7EA)" },
        /* Width matters: the 29-bit 000007E0 is not the whitelisted 11-bit 7E0. */
        { CAN_TARGET "TxId=000007E0\nRxId=18DAF110\n" CAN_IDS, 7, "Target a.TxId",
          "000007E0 is not in [CanIds]" },
        /* Two targets on one interface: no shared ID, in either direction. */
        { CAN_TARGET "TxId=7E0\nRxId=7E8\n"
          "[Target b]\nEcuId=2\nHardwareId=Y\nKeyFile=@KEY@\nChannel=can\nInterface=can0\n"
          "TxId=7E1\nRxId=7E8\n" CAN_IDS, 16, "Target b.RxId",
          "7E8 on can0 is already [Target a]'s RxId: targets on one interface need IDs of their own" },
        { CAN_TARGET "TxId=7E0\nRxId=7E8\n"
          "[Target b]\nEcuId=2\nHardwareId=Y\nKeyFile=@KEY@\nChannel=can\nInterface=can0\n"
          "TxId=7E8\nRxId=7E0\n" CAN_IDS, 15, "Target b.TxId", "7E8 on can0 is already [Target a]'s RxId" },
        { TARGET_HEAD "Address=10.0.0.1:4500\nTxId=7E0\n", 6, "Target a.TxId",
          "only for Channel=can, and this channel is tcp" },
        { TARGET_HEAD "Channel=tcp\nAddress=10.0.0.1:4500\nInterface=can0\n", 7, "Target a.Interface",
          "only for Channel=can" },
        { "[Can]\nMaxPdu=63\n", 2, "Can.MaxPdu", "63 is out of range: 0 (the kernel's limit) or 256..66000" },
        { "[Can]\nMaxPdu=66001\n", 2, "Can.MaxPdu", "66001 is out of range" },
        { "[Can]\nMaxPdu=4k\n", 2, "Can.MaxPdu", "'4k' is not a decimal number" },
        { "[Can]\nBitRate=0\n", 2, "Can.BitRate", "0 is out of range 1..1000000" },
        { "[Can]\nBitRate=1000001\n", 2, "Can.BitRate", "1000001 is out of range 1..1000000" },
        { "[Can]\nDataBitRate=8000001\n", 2, "Can.DataBitRate", "8000001 is out of range 0..8000000" },
        { "[Can]\nDataBitRate=0\n" CAN_TARGET "TxId=7E0\nRxId=7E8\nFd=yes\nBitRateSwitch=yes\n" CAN_IDS,
          2, "Can.DataBitRate", "0 (none), but [Target a] has BitRateSwitch=yes" },
        { "[Can]\nFoo=1\n", 2, "Can.Foo", "known in this section: BitRate, DataBitRate, MaxPdu" },
};

static void test_each_can_refusal_names_file_line_section_and_key(void **state) {
        expect_refusals(*state, can_refusals, UMC_ELEMENTSOF(can_refusals), false);
}

static void test_can_limits_and_lenient_cases_are_accepted(void **state) {
        struct fixture *f = *state;
        struct umc_daemon_config c = {};
        struct umc_config_error err = {};

        /* The same IDs on another interface, STmin's range ends, FD without BRS needs no data rate. */
        if (umc_daemon_config_load(write_conf(f, "[Can]\nBitRate=1\nDataBitRate=0\nMaxPdu=256\n"
                                                 CAN_TARGET "TxId=7E0\nRxId=7E8\nSTmin=7F\nFd=yes\n"
                                                 "[Target b]\nEcuId=2\nHardwareId=Y\nKeyFile=@KEY@\n"
                                                 "Channel=can\nInterface=012345678901234\n"
                                                 "TxId=7E0\nRxId=7E8\nSTmin=F1\n"
                                                 "[Target c]\nEcuId=3\nHardwareId=Z\nKeyFile=@KEY@\n"
                                                 "Channel=can\nInterface=can0\n"
                                                 "TxId=7E1\nRxId=7E9\nSTmin=00\n" CAN_IDS),
                                   &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_int_equal(c.can.bitrate, 1);
        assert_int_equal(c.can.data_bitrate, 0);
        assert_int_equal(c.can.max_pdu, 256);
        assert_int_equal(c.targets[0].can.isotp.stmin, 0x7f);
        assert_true(c.targets[0].can.isotp.fd);
        assert_string_equal(c.targets[1].can.ifname, "012345678901234");
        assert_int_equal(c.targets[1].can.isotp.stmin, 0xf1);
        assert_int_equal(c.targets[2].can.isotp.tx_id, 0x7e1);
        umc_daemon_config_free(&c);

        if (umc_daemon_config_load(write_conf(f, "[Can]\nBitRate=1000000\nDataBitRate=8000000\n"
                                                 "MaxPdu=66000\n"), &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_int_equal(c.can.bitrate, 1000000);
        assert_int_equal(c.can.data_bitrate, 8000000);
        assert_int_equal(c.can.max_pdu, 66000);
        umc_daemon_config_free(&c);
}

#define AGENT_HEAD "[Agent]\nEcuId=1\nHardwareId=X\nKeyFile=@KEY@\n"

/*
 * The ECU's signature keys: RequireSignature= defaults to yes on an
 * endpoint (and then needs TrustAnchor=), to no on a gateway; Crl= needs
 * TrustAnchor=; an anchor file that holds no certificate is refused at
 * load, naming the key.
 */
static void test_agent_signature_keys(void **state) {
        struct fixture *f = *state;
        struct umc_agent_config c = {};
        struct umc_config_error err = {};
        const char *path;

        path = write_conf(f, "[Agent]\nEcuId=1\nHardwareId=X\nKeyFile=@KEY@\n");
        assert_int_equal(umc_agent_config_load(path, &c, &err), -EINVAL);
        assert_message(&err, path, 0, "Agent.RequireSignature", "yes (the default) needs TrustAnchor=");

        path = write_conf(f, "[Agent]\nEcuId=1\nHardwareId=X\nKeyFile=@KEY@\nRequireSignature=no\n"
                             "Crl=@ANCHOR@\n");
        assert_int_equal(umc_agent_config_load(path, &c, &err), -EINVAL);
        assert_message(&err, path, 6, "Agent.Crl", "needs TrustAnchor=");

        path = write_conf(f, "[Agent]\nEcuId=1\nHardwareId=X\nKeyFile=@KEY@\nTrustAnchor=@KEY@\n");
        assert_int_equal(umc_agent_config_load(path, &c, &err), -EINVAL);
        assert_message(&err, path, 5, "Agent.TrustAnchor", "");

        path = write_conf(f, "[Agent]\nEcuId=1\nHardwareId=X\nKeyFile=@KEY@\nRequireSignature=maybe\n");
        assert_int_equal(umc_agent_config_load(path, &c, &err), -EINVAL);
        assert_message(&err, path, 5, "Agent.RequireSignature", "expected yes|no");

        if (umc_agent_config_load(write_conf(f, "[Agent]\nEcuId=1\nHardwareId=X\nKeyFile=@KEY@\n"
                                                "RequireSignature=no\nTrustAnchor=@ANCHOR@\n"),
                                  &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_false(c.require_signature);
        assert_non_null(c.trust);
        umc_agent_config_free(&c);
        assert_null(c.trust);

        if (umc_agent_config_load(write_conf(f, "[Agent]\nEcuId=1\nHardwareId=X\nKeyFile=@KEY@\n"
                                                "Mode=gateway\nForwardConfig=@KEY@\n"),
                                  &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_false(c.require_signature); /* a gateway may verify; it need not */
        assert_null(c.trust);
        umc_agent_config_free(&c);
}

/*
 * PackageKeyFile=: optional; loaded at start-up with the key file's rules
 * (64 hex digits, mode 0600/0400), a bad file is refused naming the key;
 * a gateway, which relays ciphertext, is refused one; free zeroizes it.
 */
static void test_agent_package_key(void **state) {
        static const uint8_t zero[UMC_MASTER_KEY_LEN];
        struct fixture *f = *state;
        struct umc_agent_config c = {};
        struct umc_config_error err = {};
        char tmpl[512];
        const char *path;

        if (umc_agent_config_load(write_conf(f, AGENT_HEAD "RequireSignature=no\n"), &c,
                                  &err) != 0)
                fail_msg("%s", err.msg);
        assert_null(c.package_key_file);
        assert_memory_equal(c.package_key, zero, sizeof(zero));
        umc_agent_config_free(&c);

        if (umc_agent_config_load(write_conf(f, AGENT_HEAD "RequireSignature=no\n"
                                                "PackageKeyFile=@KEY@\n"), &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_string_equal(c.package_key_file, f->key);
        assert_key_bytes(c.package_key);
        umc_agent_config_free(&c);
        assert_memory_equal(c.package_key, zero, sizeof(zero));

        (void)snprintf(tmpl, sizeof(tmpl), AGENT_HEAD "RequireSignature=no\nPackageKeyFile=%s\n",
                       f->key644);
        path = write_conf(f, tmpl);
        assert_int_equal(umc_agent_config_load(path, &c, &err), -EPERM);
        assert_message(&err, path, 6, "Agent.PackageKeyFile", f->key644);

        path = write_conf(f, AGENT_HEAD "RequireSignature=no\nPackageKeyFile=@ANCHOR@\n");
        assert_true(umc_agent_config_load(path, &c, &err) < 0);
        assert_message(&err, path, 6, "Agent.PackageKeyFile", f->anchor);

        path = write_conf(f, AGENT_HEAD "RequireSignature=no\nPackageKeyFile=relative.key\n");
        assert_int_equal(umc_agent_config_load(path, &c, &err), -EINVAL);
        assert_message(&err, path, 6, "Agent.PackageKeyFile", "");

        path = write_conf(f, AGENT_HEAD "Mode=gateway\nForwardConfig=@KEY@\n"
                                        "PackageKeyFile=@KEY@\n");
        assert_int_equal(umc_agent_config_load(path, &c, &err), -EINVAL);
        assert_message(&err, path, 7, "Agent.PackageKeyFile", "not with Mode=gateway");
}

static void test_agent_can_channel_loads(void **state) {
        struct fixture *f = *state;
        struct umc_agent_config c = {};
        struct umc_config_error err = {};
        const struct umc_isotp_opts *o;

        /* Seen from the agent: it sends on umcd's RxId (7E8) and listens on umcd's TxId (7E0). */
        if (umc_agent_config_load(write_conf(f, AGENT_HEAD "Channel=can\nInterface=vcan0\n"
                                                "RequireSignature=no\n"
                                                "TxId=7E8\nRxId=7E0\nFd=yes\nBitRateSwitch=yes\n"
                                                "Padding=no\nPadByte=00\nBlockSize=16\nSTmin=F5\n"
                                                "FrameGapNSec=1\n"
                                                "[Can]\nBitRate=125000\nDataBitRate=1000000\n"
                                                "MaxPdu=8200\n" CAN_IDS),
                                  &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_int_equal(c.channel, UMC_CHANNEL_CAN);
        assert_int_equal(c.mode, UMC_AGENT_ENDPOINT);
        assert_null(c.forward_config);
        assert_string_equal(c.can.ifname, "vcan0");
        o = &c.can.isotp;
        assert_int_equal(o->tx_id, 0x7e8);
        assert_int_equal(o->rx_id, 0x7e0);
        assert_false(o->eff);
        assert_true(o->fd);
        assert_true(o->brs);
        assert_false(o->padding);
        assert_int_equal(o->pad_byte, 0);
        assert_int_equal(o->block_size, 16);
        assert_int_equal(o->stmin, 0xf5);
        assert_int_equal(o->frame_gap_ns, 1);
        assert_int_equal(c.can_bus.bitrate, 125000);
        assert_int_equal(c.can_bus.data_bitrate, 1000000);
        assert_int_equal(c.can_bus.max_pdu, 8200);
        assert_key_bytes(c.master_key);
        umc_agent_config_free(&c);
}

static const struct refusal agent_can_refusals[] = {
        { AGENT_HEAD "Channel=can\nListen=0.0.0.0:4500\nInterface=can0\nTxId=7E8\nRxId=7E0\n" CAN_IDS,
          6, "Agent.Listen", "not with Channel=can" },
        { AGENT_HEAD "Channel=can\nInterface=can0\nRxId=7E0\n" CAN_IDS, 0, "[Agent]",
          "missing required key TxId=" },
        { AGENT_HEAD "Channel=can\nInterface=can0\nTxId=7E8\nRxId=7E0\n[CanIds]\nId=7E0\n", 7,
          "Agent.TxId", "7E8 is not in [CanIds]: the upgrade traffic must be whitelisted too" },
        { AGENT_HEAD "Channel=can\nInterface=can0\nTxId=7E8\nRxId=7E8\n" CAN_IDS, 8, "Agent.RxId",
          "7E8 is also the TxId" },
        { AGENT_HEAD "Channel=can\nInterface=can0\nTxId=7E8\nRxId=7E0\nFd=yes\nBitRateSwitch=yes\n"
          "[Can]\nDataBitRate=0\n" CAN_IDS, 12, "Can.DataBitRate",
          "0 (none), but [Agent] has BitRateSwitch=yes" },
        { AGENT_HEAD "STmin=05\n", 5, "Agent.STmin", "only for Channel=can, and this channel is tcp" },
        { AGENT_HEAD "Channel=tcp\nFd=no\n", 6, "Agent.Fd", "only for Channel=can" },
        { AGENT_HEAD "ForwardConfig=/etc/umc/forward.conf\n", 5, "Agent.ForwardConfig",
          "only for Mode=gateway" },
        { AGENT_HEAD "Mode=endpoint\nForwardConfig=/etc/umc/forward.conf\n", 6, "Agent.ForwardConfig",
          "only for Mode=gateway" },
        { AGENT_HEAD "Mode=gateway\nForwardConfig=forward.conf\n", 6, "Agent.ForwardConfig",
          "'forward.conf' is not an absolute path" },
        { AGENT_HEAD "Mode=gateway\nForwardConfig=/etc/umc/../forward.conf\n", 6,
          "Agent.ForwardConfig", "'..'" },
        { AGENT_HEAD "Mode=gateway\nChannel=can\nForwardConfig=/etc/umc/forward.conf\n"
          "Interface=can0\nTxId=7E8\nRxId=7E0\n" CAN_IDS, 6, "Agent.Channel",
          "Mode=gateway needs Channel=tcp" },
        { "[Agent]\nChannel=serial\n", 2, "Agent.Channel", "expected tcp|can" },
        { "[Can]\nMaxPdu=255\n", 2, "Can.MaxPdu", "255 is out of range" },
};

static void test_each_agent_can_refusal_names_file_line_section_and_key(void **state) {
        expect_refusals(*state, agent_can_refusals, UMC_ELEMENTSOF(agent_can_refusals), true);
}

static void test_gateway_needs_forward_config(void **state) {
        struct fixture *f = *state;
        struct umc_agent_config c = {};
        struct umc_config_error err = {};
        const char *path;

        path = write_conf(f, AGENT_HEAD "Mode=gateway\n");
        assert_int_equal(umc_agent_config_load(path, &c, &err), -EINVAL);
        assert_message(&err, path, 0, "[Agent]", "missing required key ForwardConfig= (Mode=gateway)");
        assert_null(c.forward_config);

        /* Only the path is checked: the file need not exist for the load. */
        path = write_conf(f, AGENT_HEAD "Mode=gateway\nForwardConfig=/nonexistent/forward.conf\n");
        if (umc_agent_config_load(path, &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_int_equal(c.mode, UMC_AGENT_GATEWAY);
        assert_string_equal(c.forward_config, "/nonexistent/forward.conf");
        umc_agent_config_free(&c);
        assert_null(c.forward_config);
}

/* ---- warnings: a valid file that cannot work ---- */

struct warnings {
        unsigned n;
        char last[512];
};

static void collect_warning(void *userdata, const char *text) {
        struct warnings *w = userdata;

        w->n++;
        (void)snprintf(w->last, sizeof(w->last), "%s", text);
}

/* Load tmpl as umcd.conf; the warnings' count, the last one in w. */
static size_t daemon_warnings(struct fixture *f, const char *tmpl, struct warnings *w) {
        struct umc_daemon_config c = {};
        struct umc_config_error err = {};
        size_t n;

        *w = (struct warnings){};
        if (umc_daemon_config_load(write_conf(f, tmpl), &c, &err) != 0)
                fail_msg("%s", err.msg);
        assert_string_equal(c.path, f->conf);
        n = umc_daemon_config_warnings(&c, collect_warning, w);
        assert_int_equal(n, w->n);
        umc_daemon_config_free(&c);
        return n;
}

static size_t agent_warnings(struct fixture *f, const char *tmpl, struct warnings *w) {
        struct umc_agent_config c = {};
        struct umc_config_error err = {};
        size_t n;

        *w = (struct warnings){};
        if (umc_agent_config_load(write_conf(f, tmpl), &c, &err) != 0)
                fail_msg("%s", err.msg);
        n = umc_agent_config_warnings(&c, collect_warning, w);
        assert_int_equal(n, w->n);
        umc_agent_config_free(&c);
        return n;
}

#define ENGINE "[Target engine]\nEcuId=0x10\nHardwareId=E\nKeyFile=@KEY@\nAddress=10.0.0.10:4500\n"
#define LISTENER "[Agent]\nEcuId=1\nHardwareId=X\nKeyFile=@KEY@\nRequireSignature=no\n" \
                 "Listen=0.0.0.0:4500\n"

static void test_target_no_rule_can_allow_is_a_warning_naming_file_and_target(void **state) {
        struct fixture *f = *state;
        struct warnings w;

        /* The shipped state: every Rule= commented out. */
        assert_int_equal(daemon_warnings(f, ENGINE, &w), 1);
        assert_non_null(strstr(w.last, f->conf));
        assert_non_null(strstr(w.last, "[Target engine] Address=10.0.0.10:4500"));
        assert_non_null(strstr(w.last, "no Rule= at all"));
        assert_non_null(strstr(w.last, "'Rule=allow proto=tcp dst=10.0.0.10 dport=4500'"));
        /* Rules for other addresses, ports or protocols do not help. */
        assert_int_equal(daemon_warnings(f, ENGINE "[EthernetAcl]\nRule=allow dst=10.0.1.0/24\n"
                                                   "Rule=allow dport=4501\nRule=allow proto=udp\n", &w), 1);
        assert_non_null(strstr(w.last, "no [EthernetAcl] Rule= allows"));
        /* A deny covering every connection to it, before the allow, is named. */
        assert_int_equal(daemon_warnings(f, ENGINE "[EthernetAcl]\nRule=allow dst=10.9.0.0/16\n"
                                                   "Rule=deny dst=10.0.0.0/8\nRule=allow proto=tcp\n", &w), 1);
        assert_non_null(strstr(w.last, "Rule= number 2 denies every connection"));
}

static void test_a_rule_that_may_allow_gives_no_warning(void **state) {
        struct fixture *f = *state;
        struct warnings w;

        assert_int_equal(daemon_warnings(f, ENGINE "[EthernetAcl]\nRule=allow proto=tcp dst=10.0.0.0/24 "
                                                   "dport=4500 vlan=any\n", &w), 0);
        assert_int_equal(daemon_warnings(f, ENGINE "[EthernetAcl]\nRule=allow\n", &w), 0);
        /* A deny that covers only some connections (one VLAN, one source) leaves the allow after it. */
        assert_int_equal(daemon_warnings(f, ENGINE "[EthernetAcl]\nRule=deny vlan=5\n"
                                                   "Rule=deny src=10.0.0.99\nRule=allow dport=4500\n", &w), 0);
        /* CAN targets do not go through the Ethernet ACL. */
        assert_int_equal(daemon_warnings(f, "[CanIds]\nId=7E0\nId=7E8\n[Target b]\nEcuId=2\n"
                                            "HardwareId=B\nKeyFile=@KEY@\nChannel=can\n"
                                            "Interface=vcan0\nTxId=7E0\nRxId=7E8\n", &w), 0);
}

static void test_agent_listener_no_rule_can_allow_is_a_warning(void **state) {
        struct fixture *f = *state;
        struct warnings w;

        assert_int_equal(agent_warnings(f, LISTENER, &w), 1);
        assert_non_null(strstr(w.last, f->conf));
        assert_non_null(strstr(w.last, "[Agent] Listen=0.0.0.0:4500"));
        assert_non_null(strstr(w.last, "dport=4500"));
        assert_int_equal(agent_warnings(f, LISTENER "[EthernetAcl]\nRule=allow dport=4600\n", &w), 1);
        /* A wildcard listener: a rule for one of its addresses may match. */
        assert_int_equal(agent_warnings(f, LISTENER "[EthernetAcl]\nRule=allow dst=10.0.0.5 dport=4500\n", &w),
                         0);
        /* ... but a deny for one address does not cover the wildcard. */
        assert_int_equal(agent_warnings(f, LISTENER "[EthernetAcl]\nRule=deny dst=10.0.0.5\n"
                                                      "Rule=allow proto=tcp\n", &w), 0);
        assert_int_equal(agent_warnings(f, LISTENER "[EthernetAcl]\nRule=deny\nRule=allow\n", &w), 1);
        assert_non_null(strstr(w.last, "Rule= number 1 denies"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_target_no_rule_can_allow_is_a_warning_naming_file_and_target, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_rule_that_may_allow_gives_no_warning, setup, teardown),
                cmocka_unit_test_setup_teardown(test_agent_listener_no_rule_can_allow_is_a_warning, setup, teardown),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(test_shipped_daemon_conf_loads_with_the_defaults),
                T(test_shipped_agent_conf_loads_with_a_real_key_file),
                T(test_agent_signature_keys),
                T(test_agent_package_key),
                T(test_full_daemon_file_fills_every_field),
                T(test_full_agent_file_fills_every_field),
                T(test_each_refusal_names_file_line_section_and_key),
                T(test_bad_values_carry_the_parsers_reason),
                T(test_legacy_cipher_is_refused_with_the_reason),
                T(test_cloud_section_loads_with_its_secret),
                T(test_unknown_sections_are_refused_even_when_empty),
                T(test_unknown_agent_keys_are_named),
                T(test_each_agent_refusal_names_file_line_section_and_key),
                T(test_option_limits_are_accepted),
                T(test_missing_required_keys_name_the_section),
                T(test_duplicate_targets_and_ecu_ids_are_refused),
                T(test_key_file_readable_by_others_is_refused),
                T(test_feature_code_check_loads_its_key),
                T(test_missing_key_file_returns_its_errno),
                T(test_missing_config_file_is_reported),
                T(test_bad_file_leaves_ret_untouched),
                T(test_counts_are_capped_with_a_clear_error),
                T(test_limits_themselves_are_accepted),
                T(test_free_accepts_null_zeroed_and_half_filled_configs),
                T(test_can_target_loads_with_every_key),
                T(test_can_target_defaults),
                T(test_each_can_refusal_names_file_line_section_and_key),
                T(test_can_limits_and_lenient_cases_are_accepted),
                T(test_agent_can_channel_loads),
                T(test_each_agent_can_refusal_names_file_line_section_and_key),
                T(test_gateway_needs_forward_config),
#undef T
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
