/* SPDX-License-Identifier: MIT */
/*
 * Configuration files: /etc/umc/umcd.conf (the master, umcd) and
 * /etc/umc/umc-agent.conf (the agent on a target ECU), INI syntax read with
 * libinih. man/umcd.conf.5 documents every key.
 *
 * A loader parses the whole file, range-checks each value, then runs a
 * validation pass (cross-field rules, required keys) and loads the master
 * key files; it does no other I/O. On any error it fills a
 * struct umc_config_error with one line:
 *
 *     FILE:LINE: Section.Key: what is wrong
 *     FILE: [Section]: what is missing
 *
 * and leaves *ret untouched. A loaded config owns every array, string and
 * master key in it; umc_*_config_free() releases them and cleanses the keys.
 */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "umc/busload.h"
#include "umc/canid.h"
#include "umc/cipher.h"
#include "umc/ecu.h"
#include "umc/ethacl.h"
#include "umc/hash.h"
#include "umc/isotp.h"
#include "umc/kdf.h"
#include "umc/rotation.h"

#define UMC_DAEMON_CONFIG_PATH "/etc/umc/umcd.conf"
#define UMC_AGENT_CONFIG_PATH "/etc/umc/umc-agent.conf"
#define UMC_AGENT_PORT_DEFAULT 4500 /* [Agent] Listen= default 0.0.0.0:4500 */
#define UMC_CONFIG_GROUP_NAME_MAX 31 /* [Daemon] OperatorGroup=, as useradd(8) portably allows */

/* Sane limits on repeated entries: each is refused with a clear error. */
#define UMC_CONFIG_CAN_IDS_MAX 4096
#define UMC_CONFIG_ETH_RULES_MAX 1024
#define UMC_CONFIG_PACKAGE_DIRS_MAX 16
#define UMC_CONFIG_PACKAGE_DIRECTORY_DEFAULT "/var/lib/umc/packages"
#define UMC_CONFIG_TARGETS_MAX 256
#define UMC_CONFIG_TARGET_NAME_MAX 31 /* fits struct umc_ecu.name */

/* [Can] defaults and limits (man/umcd.conf.5). */
#define UMC_CONFIG_CAN_BITRATE_DEFAULT 500000      /* BitRate=, 1..1000000 (ISO 11898-1: 1 Mbit/s max) */
#define UMC_CONFIG_CAN_BITRATE_MAX 1000000
#define UMC_CONFIG_CAN_DATA_BITRATE_DEFAULT 2000000 /* DataBitRate=, 0..8000000 */
#define UMC_CONFIG_CAN_DATA_BITRATE_MAX 8000000
#define UMC_CONFIG_CAN_MAX_PDU_MIN 256             /* MaxPdu=: 0 or 256..66000: room for a DATA chunk */
#define UMC_CONFIG_CAN_MAX_PDU_MAX 66000           /* the kernel's largest, from 5.18 */
#define UMC_CONFIG_CAN_FRAME_GAP_NS_MAX 100000000  /* FrameGapNSec=: 0..100 ms */

/* [Cloud] Windows=: at most this many; [Package] CheckOrder=: the checks a package passes. */
#define UMC_CONFIG_WINDOWS_MAX 8
#define UMC_CONFIG_TEXT_MAX 64         /* VehicleModel=, HardwareRevision=, Company=, Product= */

/*
 * The device's checks of a signed package, in the order CheckOrder= names
 * them (docs/package.md, "The checks"). SIGNATURE (with the manifest's
 * expiry) is always there and always first: every other check reads
 * manifest fields, which mean nothing until the signature says who wrote
 * them.
 */
enum umc_pkg_check {
        UMC_PKG_CHECK_SIGNATURE = 0,   /* signature, trust chain, CRL, manifest syntax, expiry */
        UMC_PKG_CHECK_FACTORY,         /* vehicle model and hardware revision */
        UMC_PKG_CHECK_TARGET,          /* per image: a configured target, its ECU and hardware ID */
        UMC_PKG_CHECK_VERSION,         /* per image: anti-rollback on the security version */
        UMC_PKG_CHECK_FEATURE_CODE,    /* the sealed feature code against [Device] FeatureCode= */
        _UMC_PKG_CHECK_MAX,
};

struct umc_config_checks {
        enum umc_pkg_check order[_UMC_PKG_CHECK_MAX];
        size_t n;
};

/* One upgrade window in local time, minutes after midnight; end < start crosses midnight. */
struct umc_config_window {
        uint16_t start_min, end_min;
};

/* One refusal, formatted as described above; always NUL-terminated. */
struct umc_config_error {
        char msg[512];
};

/* A numeric socket address, ready for bind()/connect(). */
struct umc_sockaddr {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        };
        socklen_t len;
};

/* [CanIds]: the CAN ID whitelist with nominal periods. */
struct umc_config_can_ids {
        double tolerance_pct;          /* applied to every rule */
        unsigned min_periods;          /* for umc_canmon_init() */
        struct umc_canid_rule *rules;  /* owned, in file order, (id, eff) unique */
        size_t n_rules;
};

/* [EthernetAcl]: first match wins, no match denies. */
struct umc_config_eth_acl {
        struct umc_eth_rule *rules;    /* owned, in file order */
        size_t n_rules;
};

enum umc_channel_kind {
        UMC_CHANNEL_TCP = 0,           /* Channel=tcp: an IP address and port */
        UMC_CHANNEL_CAN = 1,           /* Channel=can: ISO-TP on a CAN interface */
};

/* One ISO-TP channel on a CAN interface. */
struct umc_can_channel {
        char ifname[IFNAMSIZ];         /* Interface= */
        struct umc_isotp_opts isotp;   /* TxId= RxId= (eff from the ID width), Fd=, BitRateSwitch=,
                                        * Padding=, PadByte=, BlockSize=, STmin=, FrameGapNSec= */
};

/* [Can]: the buses, in umcd.conf and umc-agent.conf alike. */
struct umc_config_can {
        uint64_t bitrate;              /* BitRate=: nominal, used when the interface reports none (vcan) */
        uint64_t data_bitrate;         /* DataBitRate=: nominal CAN FD data phase, 0 = none configured */
        size_t max_pdu;                /* MaxPdu=: 0 = the kernel's limit, else a cap 256..66000 */
};

/* The per-target fields that struct umc_ecu has no room for. */
struct umc_target {
        enum umc_channel_kind channel;
        struct umc_sockaddr address;   /* valid when channel == UMC_CHANNEL_TCP */
        struct umc_can_channel can;    /* valid when channel == UMC_CHANNEL_CAN */
        uint8_t master_key[UMC_MASTER_KEY_LEN]; /* from the ECU's KeyFile=; cleansed by free */
};

struct umc_daemon_config {
        char *path;                    /* owned: the file it was loaded from, for messages; NULL if none */

        /* [Daemon] */
        char *state_directory;         /* owned, absolute */
        int log_level;                 /* LOG_EMERG..LOG_DEBUG */
        uint64_t connect_timeout_usec; /* ConnectTimeoutSec=: TCP connect to a target */
        uint64_t auth_timeout_usec;    /* AuthTimeoutSec=: connected to authenticated */
        uint64_t idle_timeout_usec;    /* IdleTimeoutSec=: no progress while streaming */
        uint64_t final_timeout_usec;   /* FinalCheckTimeoutSec=: TRANSPORT sent to verdict */
        /*
         * ConnectRetrySec=: how long a target that refuses or does not
         * answer a connection is tried again (0 = fail at the first
         * refusal); ConnectBackoffMSec= the first wait, doubled after each
         * attempt up to ConnectBackoffMaxSec= (never above it).
         */
        uint64_t connect_retry_usec;
        uint64_t connect_backoff_usec;
        uint64_t connect_backoff_max_usec;
        /*
         * OperatorGroup=: owned, a syntactically valid group name (1..
         * UMC_CONFIG_GROUP_NAME_MAX). Only its form is checked here: umcd
         * resolves it when it starts (the parser does no lookups).
         */
        char *operator_group;
        /*
         * PackageDirectory= (repeatable): owned absolute paths, in file
         * order. InspectPackage reads packages only below one of them; none
         * given means UMC_CONFIG_PACKAGE_DIRECTORY_DEFAULT.
         */
        char **package_dirs;
        size_t n_package_dirs;

        /* [Security] */
        struct umc_rotation_cfg rotation; /* CipherOrder=, RotationIntervalSec=, RotationHoldoffSec= */
        enum umc_suite_id inner_suite; /* UMC_SUITE_NONE = single layer */
        unsigned replay_window;        /* 1..UMC_REPLAY_WINDOW_MAX */
        /* MaxRejectedFrames=: frames that fail to open per checkpoint window, 0..65535 (xfer.h) */
        unsigned max_rejected_frames;
        unsigned verify_every;         /* 0 = auto, else 1..65535 */
        enum umc_hash_alg image_hash;

        /* [Load] */
        struct umc_load_cfg load;      /* passed umc_load_cfg_validate() */
        enum umc_stuffing can_stuffing;
        enum umc_bitmodel can_bit_model;
        /*
         * LinkRateMbit=, in bit/s: the egress link's nominal rate, which the
         * load and the pacing are measured against; 0 = the interface's
         * reported speed (UMC_LINKLOAD_NOMINAL_BPS when it reports none).
         */
        uint64_t link_rate_bps;
        unsigned ceiling_percent;      /* CeilingPercent=: 0 = no pacing, else 1..100 */

        struct umc_config_can can;     /* [Can] */
        struct umc_config_can_ids can_ids;
        struct umc_config_eth_acl eth_acl;

        /* [Package]: signed packages (docs/package.md) */
        char *trust_anchor;            /* TrustAnchor=: owned PEM path, NULL: none */
        char *crl_file;                /* Crl=: owned PEM path, NULL: no revocation check */
        bool require_signature;        /* RequireSignature=: refuse unsigned format-1 packages */
        struct umc_config_checks checks; /* CheckOrder= */

        /* [Device]: the factory parameters a package must name */
        char vehicle_model[UMC_CONFIG_TEXT_MAX + 1];   /* VehicleModel=, "" unset */
        char hw_revision[UMC_CONFIG_TEXT_MAX + 1];     /* HardwareRevision=, "" unset */
        char feature_code[UMC_CONFIG_TEXT_MAX + 1];    /* FeatureCode=, "" unset */
        char *feature_key_file;        /* FeatureKeyFile=: owned, keyfile.h rules; NULL unset */
        uint8_t feature_key[UMC_MASTER_KEY_LEN]; /* loaded from it; cleansed by free */

        /* [Cloud]: the update client (docs/cloud-api.md); url NULL = no cloud */
        char *cloud_url;               /* BaseUrl=: owned, no trailing '/' */
        char *device_id;               /* DeviceId= */
        char *secret_file;             /* SecretFile=: the provisioned secret, keyfile.h rules */
        uint8_t cloud_secret[UMC_MASTER_KEY_LEN]; /* loaded from it; cleansed by free */
        char company[UMC_CONFIG_TEXT_MAX + 1];   /* Company= */
        char product[UMC_CONFIG_TEXT_MAX + 1];   /* Product= */
        char *ca_file;                 /* CaFile=: servers' trust anchors (PEM) */
        char *client_cert, *client_key; /* ClientCert=, ClientKey=: mutual TLS, both or none */
        char *proxy;                   /* Proxy=, NULL: none */
        bool allow_insecure;           /* AllowInsecure=: plain http:// and ftp:// */
        bool token_md5;                /* TokenMd5=: the weak compatibility token */
        uint64_t cloud_connect_timeout_sec; /* ConnectTimeoutSec= */
        uint64_t cloud_request_timeout_sec; /* RequestTimeoutSec= */
        uint64_t low_speed_limit;      /* LowSpeedLimit=: bytes/s ... */
        uint64_t low_speed_time_sec;   /* LowSpeedTimeSec=: ... for this long drops a transfer */
        uint64_t rate_limit;           /* RateLimit=: bytes/s, 0 = none */
        unsigned retries;              /* Retries= */
        struct umc_config_window windows[UMC_CONFIG_WINDOWS_MAX]; /* Windows= */
        size_t n_windows;              /* 0: no scheduled check, only on request */
        uint64_t random_delay_usec;    /* RandomDelaySec=: the largest per-device offset */

        /*
         * [Target NAME] sections in file order: ecus[i] (for umc_ecu_check())
         * and targets[i] describe the same ECU. EcuId and name are unique.
         */
        struct umc_ecu *ecus;          /* owned, key_file strings too */
        struct umc_target *targets;    /* owned */
        size_t n_targets;
};

enum umc_agent_mode {
        UMC_AGENT_ENDPOINT = 0,        /* updates itself */
        UMC_AGENT_GATEWAY = 1,         /* relays to ECUs behind it */
};

struct umc_sig_trust;

struct umc_agent_config {
        char *path;                    /* owned: the file it was loaded from, for messages; NULL if none */

        /* [Agent] */
        enum umc_agent_mode mode;
        struct umc_sockaddr listen;    /* port 0: the kernel picks a free one */
        char bind_interface[IF_NAMESIZE]; /* BindInterface=: "" = any interface */
        uint32_t ecu_id;
        char hw_id[UMC_HWID_MAX + 1];
        char *key_file;                /* owned, absolute */
        uint8_t master_key[UMC_MASTER_KEY_LEN]; /* cleansed by free */
        char *slot_directory;          /* owned, absolute */
        int log_level;
        unsigned max_connections;      /* MaxConnections=: served at once, 1..64 */
        uint64_t handshake_timeout_usec; /* HandshakeTimeoutSec=: accept() to AUTH_CONFIRM */
        uint64_t idle_timeout_usec;    /* IdleTimeoutSec=: silence of an authenticated master */
        uint64_t max_image_size;       /* MaxImageSize=: bytes a BEGIN may announce, 1..2^40 */
        /*
         * A partial image left by a lost connection is deleted once its last
         * checkpoint is older than ResumeMaxAgeSec= (0: never kept), and is
         * not kept at all when it holds more than ResumeMaxSize= bytes.
         */
        uint64_t resume_max_age_usec;
        uint64_t resume_max_size;
        /*
         * Channel=: how umcd reaches this agent. With UMC_CHANNEL_CAN, can
         * holds the agent's side (isotp.tx_id is what the AGENT sends on,
         * umcd's RxId) and listen is unused.
         */
        enum umc_channel_kind channel;
        struct umc_can_channel can;
        /*
         * ForwardConfig=: owned, absolute; set exactly when mode is
         * UMC_AGENT_GATEWAY. A umcd.conf-format file describing the ECUs
         * behind the gateway; only its path is checked here.
         */
        char *forward_config;
        /*
         * The ECU's own check of the backend's signature (ecucheck.h):
         * TrustAnchor= and Crl= (owned, absolute; NULL when not set) are
         * loaded into trust at validation, RequireSignature= (default yes)
         * refuses an image that comes without a signed manifest.
         */
        char *trust_anchor;
        char *crl;
        bool require_signature;
        struct umc_sig_trust *trust;   /* owned; NULL without TrustAnchor= */
        /*
         * PackageKeyFile= (owned, absolute; NULL when not set): the ECU's
         * package key (pkgenc.h), loaded into package_key at validation.
         * An endpoint opens an image the backend sealed for it alone with
         * it; a gateway relays ciphertext and refuses the key.
         */
        char *package_key_file;
        uint8_t package_key[UMC_MASTER_KEY_LEN]; /* cleansed by free */

        /* [Security] */
        unsigned allowed_suites;       /* bit (1u << enum umc_suite_id) per suite */
        enum umc_suite_id inner_suite; /* UMC_SUITE_NONE = single layer */
        unsigned replay_window;
        unsigned max_rejected_frames;  /* MaxRejectedFrames=, as umcd's */

        struct umc_config_can can_bus; /* [Can] */
        struct umc_config_can_ids can_ids;
        struct umc_config_eth_acl eth_acl;
};

static inline bool umc_agent_suite_allowed(const struct umc_agent_config *c, enum umc_suite_id id) {
        return id > UMC_SUITE_NONE && id < _UMC_SUITE_MAX && (c->allowed_suites & (1u << id));
}

/*
 * Fill ret with the defaults (the values man/umcd.conf.5 lists): no
 * targets, no CAN IDs, no Ethernet rules, no master key, [Can] at
 * 500000/2000000 bit/s with MaxPdu 0. The caller frees
 * it with umc_daemon_config_free(). Returns 0 or -ENOMEM (ret untouched).
 */
int umc_daemon_config_init(struct umc_daemon_config *ret);

/*
 * Parse and validate the umcd.conf at path, load every target's key file,
 * and on success overwrite *ret (without freeing what it held) with a
 * config the caller frees with umc_daemon_config_free(). On failure *ret is
 * untouched and err (may be NULL) holds the message. Returns 0, -EINVAL for
 * a bad file, -ENOMEM, a negative errno when the file cannot be read, or
 * umc_keyfile_load()'s error for a bad key file.
 */
int umc_daemon_config_load(const char *path, struct umc_daemon_config *ret,
                           struct umc_config_error *err);

/* Release everything c owns, cleanse master keys, zero c. Accepts NULL and zeroed structs. */
void umc_daemon_config_free(struct umc_daemon_config *c);

/*
 * As umc_daemon_config_init(), for umc-agent.conf: ecu_id 0, no key file
 * yet, Channel=tcp (the CAN channel's options at their defaults, padded),
 * no ForwardConfig=.
 */
int umc_agent_config_init(struct umc_agent_config *ret);

/*
 * As umc_daemon_config_load(), for umc-agent.conf. [Agent] EcuId=,
 * HardwareId= and KeyFile= are required; Interface=, TxId= and RxId= with
 * Channel=can; ForwardConfig= with Mode=gateway (only its form is checked).
 */
int umc_agent_config_load(const char *path, struct umc_agent_config *ret,
                          struct umc_config_error *err);

/* Release everything c owns, cleanse the master key, zero c. Accepts NULL and zeroed structs. */
void umc_agent_config_free(struct umc_agent_config *c);

/*
 * Warnings about a configuration that is valid but cannot work as meant:
 * today a TCP channel that no [EthernetAcl] Rule= can ever allow (no allow
 * rule matches it, or a deny rule that matches every connection to it
 * comes first), which would refuse every install at run time. Each warning
 * is one line naming the file, the section and what to add, passed to
 * warn(userdata, text); the return value is their number. The daemon's
 * check looks at each TCP [Target]'s Address=, the agent's at its Listen=
 * (with Channel=tcp). No I/O.
 */
typedef void (*umc_config_warn_fn)(void *userdata, const char *text);
size_t umc_daemon_config_warnings(const struct umc_daemon_config *c, umc_config_warn_fn warn,
                                  void *userdata);
size_t umc_agent_config_warnings(const struct umc_agent_config *c, umc_config_warn_fn warn,
                                 void *userdata);
