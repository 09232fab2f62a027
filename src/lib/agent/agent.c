/* SPDX-License-Identifier: MIT */
/*
 * The agent's lifecycle and public API (agent.h): create and free, reload,
 * the exclusive lock and the probe of the slot store, the ALARM line and
 * systemd's STATUS=. The connection protocol is in conn.c, the TCP
 * listener in listen.c, Channel=can in agentcan.c (agent-internal.h).
 */
#include "umc/agent.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "umc/agent-internal.h"
#include "umc/fs.h"
#include "umc/log.h"
#include "umc/parse.h"

/*
 * The one line every refusal produces: who, which ECU when known, what was
 * refused and the reason code with its text.
 */
void umc_agent_alarm(struct umc_agent *a, const char *peer, uint32_t ecu_id,
                     enum umc_reason reason, const char *fmt, ...) {
        char what[256], ecu[24] = "", code[UMC_REASON_FORMAT_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        if (ecu_id != 0)
                (void)snprintf(ecu, sizeof(ecu), " ecu 0x%08" PRIx32, ecu_id);
        log_warning("ALARM %s%s: %s: %s (reason %s)", peer, ecu, what,
                    umc_reason_to_string((uint16_t)reason), umc_reason_format((uint16_t)reason, code));
        a->stats.refused++;
        a->stats.last_refusal = reason;
}

void umc_agent_notify_status(struct umc_agent *a) {
        const struct conn *c = a->transfer;

        if (c && c->receiver && c->began) {
                const struct umc_msg_begin *b = umc_receiver_begin_info(c->receiver);
                uint64_t off = umc_receiver_offset(c->receiver);
                unsigned pct = b->image_len ? (unsigned)(off * 100 / b->image_len) : 0;
                (void)sd_notifyf(0,
                                 "STATUS=Receiving version %s for ECU 0x%08" PRIx32
                                 ": %u%% (%" PRIu64 " of %" PRIu64 " bytes); %" PRIu64
                                 " frame(s) dropped (failed authentication) since start",
                                 b->version, c->ecu_id, pct, off, b->image_len,
                                 a->stats.rejected_frames);
                return;
        }
        (void)sd_notifyf(0, "STATUS=%s %s; %u connection(s); %" PRIu64
                            " image(s) installed, %" PRIu64 " refusal(s), %" PRIu64
                            " frame(s) dropped (failed authentication) since start",
                         a->bus ? "Serving" : "Listening on", a->bus ? a->can_text : a->listen_text,
                         a->n_conns, a->stats.completed, a->stats.refused,
                         a->stats.rejected_frames);
}

/*
 * The bounds on a partial image kept for resume ([Agent] ResumeMaxAgeSec=,
 * ResumeMaxSize=): it holds disk space on the ECU, and one that nobody
 * resumes would hold it until the next delivery. A partial whose last
 * checkpoint is older than the age bound (any age when the bound is 0), or
 * that holds more durable bytes than the size bound, is deleted. Checked at
 * start and when an authenticated session takes the store, never on a
 * lost connection or an unauthenticated frame: input nobody authenticated
 * deletes nothing. Returns true when it deleted one.
 */
bool umc_agent_slots_prune(const struct umc_agent_config *cfg, struct umc_slots *s,
                           const char *dir) {
        struct umc_slots_status st;
        int64_t now = (int64_t)time(NULL), age;
        const char *why;
        int r;

        if (umc_slots_status(s, &st) < 0 || !st.partial)
                return false;
        age = now > st.partial_saved_sec ? now - st.partial_saved_sec : 0;
        if (cfg->resume_max_age_usec == 0)
                why = "ResumeMaxAgeSec=0 keeps none";
        else if ((uint64_t)age > cfg->resume_max_age_usec / USEC_PER_SEC)
                why = "its last checkpoint is older than ResumeMaxAgeSec=";
        else if (st.partial_durable > cfg->resume_max_size)
                why = "it holds more than ResumeMaxSize=";
        else
                return false;
        r = umc_slots_abort(s);
        if (r < 0) {
                (void)log_warning_errno(r, "%s: cannot delete the partial image of version %s: %m",
                                        dir, st.partial_version);
                return false;
        }
        log_notice("%s: deleted the partial image of version %s (%" PRIu64 " of %" PRIu64
                   " bytes, last checkpoint %" PRIi64 " s ago): %s",
                   dir, st.partial_version, st.partial_durable, st.partial_len, age, why);
        return true;
}

/* ---- public ---- */

int umc_agent_config_check(const struct umc_agent_config *c, char *why, size_t why_size) {
        const char *msg = NULL;

        if (!c) {
                msg = "no configuration";
        } else if (c->mode != UMC_AGENT_ENDPOINT && c->mode != UMC_AGENT_GATEWAY) {
                msg = "unknown [Agent] Mode=";
        } else if (c->channel != UMC_CHANNEL_TCP && c->channel != UMC_CHANNEL_CAN) {
                msg = "unknown [Agent] Channel=";
        } else if (c->mode == UMC_AGENT_GATEWAY &&
                   (c->channel != UMC_CHANNEL_TCP || !c->forward_config ||
                    c->forward_config[0] != '/')) {
                msg = "[Agent] Mode=gateway needs Channel=tcp and an absolute ForwardConfig=";
        } else if (c->mode == UMC_AGENT_GATEWAY && c->package_key_file) {
                msg = "[Agent] PackageKeyFile= is for an endpoint: a gateway relays images it "
                      "must not be able to read";
        } else if (c->channel == UMC_CHANNEL_TCP && c->listen.sa.sa_family != AF_INET &&
                   c->listen.sa.sa_family != AF_INET6) {
                msg = "[Agent] Listen= is neither an IPv4 nor an IPv6 address";
        } else if (!c->slot_directory || c->slot_directory[0] != '/') {
                msg = "[Agent] SlotDirectory= is not an absolute path";
        } else if (c->ecu_id == 0 || c->hw_id[0] == '\0') {
                msg = "[Agent] EcuId= and HardwareId= must be set";
        } else if (c->max_connections == 0 || c->handshake_timeout_usec == 0 ||
                   c->idle_timeout_usec == 0 || c->max_image_size == 0) {
                msg = "[Agent] MaxConnections=, HandshakeTimeoutSec=, IdleTimeoutSec= and "
                      "MaxImageSize= must not be 0";
        }
        return msg ? umc_why(why, why_size, -EINVAL, "%s", msg) : 0;
}

#define LOCK_FILE "agent.lock"

/* The PID the lock file names, or 0 when it names none. */
static pid_t lock_holder(int fd) {
        char buf[24] = "";
        uint64_t v;
        ssize_t n;
        size_t len;

        n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
                return 0;
        len = strcspn(buf, "\n");
        if (umc_parse_uint(buf, len, INT32_MAX, &v) < 0 || v == 0)
                return 0;
        return (pid_t)v;
}

/*
 * Make sure no other umc-agent uses dir: create it if needed, then take an
 * exclusive flock(2) on dir/agent.lock, held until *ret_fd is closed (the
 * kernel drops it with the process, so a crash leaves no stale lock). The
 * file names the holder's PID for the next one's error. -EBUSY (why names
 * the holder when known) when another process holds it.
 */
static int slotdir_lock(const char *dir, int *ret_fd, char *why, size_t why_size) {
        char path[PATH_MAX], pid[24];
        _cleanup_close_ int fd = -1;
        pid_t holder;
        int r, n;

        r = umc_fs_mkdir_p(dir, 0700);
        if (r < 0)
                return umc_why(why, why_size, r, "Cannot create SlotDirectory= %s: %s", dir,
                               strerror(-r));
        if ((size_t)snprintf(path, sizeof(path), "%s/" LOCK_FILE, dir) >= sizeof(path))
                return umc_why(why, why_size, -ENAMETOOLONG, "SlotDirectory= %s: path too long",
                               dir);
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return umc_why(why, why_size, -errno, "Cannot open the lock file %s: %m", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK)
                        return umc_why(why, why_size, -errno, "Cannot lock %s: %m", path);
                holder = lock_holder(fd);
                if (holder > 0)
                        return umc_why(why, why_size, -EBUSY, "SlotDirectory= %s is in use by "
                                       "another umc-agent (PID %d holds %s): refusing to start a "
                                       "second one on it", dir, (int)holder, path);
                return umc_why(why, why_size, -EBUSY, "SlotDirectory= %s is in use by another "
                               "umc-agent (%s is locked): refusing to start a second one on it",
                               dir, path);
        }
        n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
        /* Only a hint for the next one's message: the lock itself is what counts. */
        if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
                log_warning_errno(errno, "Cannot write our PID into %s: %m", path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Open and close the slot store once: a broken one is reported at start, not at the first image. */
static int slots_probe(const struct umc_agent_config *cfg, const char *dir, char *why,
                       size_t why_size) {
        struct umc_slots *s = NULL;
        const char *version = NULL;
        unsigned flags = 0;
        char slot = '?';
        int r;

        r = umc_slots_open(dir, &s, &flags);
        if (r < 0)
                return umc_why(why, why_size, r, "Cannot open the slot store %s: %s", dir,
                               strerror(-r));
        if (flags & UMC_SLOTS_DISCARDED_PROGRESS)
                log_notice("%s: dropped a resume record that did not match its partial image",
                           dir);
        (void)umc_agent_slots_prune(cfg, s, dir);
        (void)umc_slots_active(s, &slot, &version);
        log_info("Slot store %s: active slot %c, version %s", dir, slot,
                 version ? version : "none (factory state)");
        umc_slots_close(s);
        return 0;
}

/*
 * Mode=gateway: load the forward file (the ECUs behind us) and make sure
 * the store directory exists; each ECU's store is made on first use.
 */
static int gateway_setup(struct umc_agent *a, const struct umc_agent_config *c, char *why,
                         size_t why_size) {
        struct umc_config_error err = {};
        int r;

        r = umc_forwarder_new(c->forward_config, a->event, &a->forwarder, &err);
        if (r < 0)
                return umc_why(why, why_size, r, "Cannot load [Agent] ForwardConfig=: %s", err.msg);
        if (mkdir(c->slot_directory, 0700) < 0 && errno != EEXIST)
                return umc_why(why, why_size, -errno, "Cannot create the store directory %s: %m",
                               c->slot_directory);
        return 0;
}

/* umc_agent_new() for Channel=can: the bus monitor and the ISO-TP channel instead of a listener. */
static int agent_new_can(struct umc_agent *a, struct umc_agent_config *config,
                         struct umc_agent **ret, char *why, size_t why_size) {
        int r;

        r = umc_agent_can_start(a, config, why, why_size);
        if (r < 0) {
                umc_agent_free(a);
                return r;
        }
        a->config = *config; /* the monitor borrows the [CanIds] rules, which move along */
        memset(config, 0, sizeof(*config));
        a->handshake_usec = a->config.handshake_timeout_usec;
        a->idle_usec = a->config.idle_timeout_usec;
        r = umc_agent_can_open_channel(a, why, why_size);
        if (r < 0) {
                /* Give the config back untouched, as the contract says. */
                *config = a->config;
                memset(&a->config, 0, sizeof(a->config));
                umc_agent_free(a);
                return r;
        }
        log_info("Serving ISO-TP channel %s as ECU 0x%08" PRIx32 " (%s), %zu [CanIds] rule(s)",
                 a->can_text, a->config.ecu_id, a->config.hw_id, a->config.can_ids.n_rules);
        umc_agent_notify_status(a);
        *ret = a;
        return 0;
}

/* Listen= for umc_agent_new(): the socket and its event source. */
static int agent_new_listener(struct umc_agent *a, const struct umc_agent_config *config,
                              char *why, size_t why_size) {
        char where[INET6_ADDRSTRLEN + 8 + IF_NAMESIZE + 24];
        int fd = -1, r;

        umc_agent_listen_where(config, where, sizeof(where));
        r = umc_agent_listen_open(&config->listen, config->bind_interface, &fd);
        if (r < 0)
                return umc_why(why, why_size, r, "Cannot listen on %s: %s", where, strerror(-r));
        r = umc_agent_listen_set(a, fd);
        if (r < 0) {
                (void)close(fd);
                return umc_why(why, why_size, r, "Cannot watch the listening socket: %s",
                               strerror(-r));
        }
        return 0;
}

int umc_agent_new(struct umc_agent_config *config, sd_event *event, struct umc_agent **ret,
                  char *why, size_t why_size) {
        struct umc_agent *a;
        char check[UMC_WHY_MAX];
        char where[INET6_ADDRSTRLEN + 8 + IF_NAMESIZE + 24];
        int r;

        if (!config || !event || !ret)
                return umc_why(why, why_size, -EINVAL, "No configuration, event loop or result");
        r = umc_agent_config_check(config, check, sizeof(check));
        if (r < 0)
                return umc_why(why, why_size, r, "Refusing to start: %s", check);
        a = calloc(1, sizeof(*a));
        if (!a)
                return umc_why(why, why_size, -ENOMEM, "Out of memory");
        a->listen_fd = -1;
        a->lock_fd = -1;
        a->event = sd_event_ref(event);

        if (config->mode == UMC_AGENT_GATEWAY) {
                r = gateway_setup(a, config, why, why_size);
                if (r < 0)
                        goto fail;
        }
        /* Before the probe, which may drop a stale resume record: the store must be ours. */
        r = slotdir_lock(config->slot_directory, &a->lock_fd, why, why_size);
        if (r >= 0 && config->mode == UMC_AGENT_ENDPOINT)
                r = slots_probe(config, config->slot_directory, why, why_size);
        if (r < 0)
                goto fail;
        if (config->channel == UMC_CHANNEL_CAN)
                return agent_new_can(a, config, ret, why, why_size);
        r = agent_new_listener(a, config, why, why_size);
        if (r < 0)
                goto fail;
        a->config = *config;
        memset(config, 0, sizeof(*config));
        a->handshake_usec = a->config.handshake_timeout_usec;
        a->idle_usec = a->config.idle_timeout_usec;
        umc_agent_listen_update(a); /* MaxConnections= is known only now */
        if (a->config.bind_interface[0] != '\0')
                (void)snprintf(where, sizeof(where), "%s on %s", a->listen_text,
                               a->config.bind_interface);
        else
                (void)snprintf(where, sizeof(where), "%s", a->listen_text);
        if (a->forwarder)
                log_info("Listening on %s as a gateway to %zu ECU(s) of %s, %zu [EthernetAcl] "
                         "rule(s)", where, umc_forwarder_n_targets(a->forwarder),
                         a->config.forward_config, a->config.eth_acl.n_rules);
        else
                log_info("Listening on %s as ECU 0x%08" PRIx32 " (%s), %zu [EthernetAcl] rule(s)",
                         where, a->config.ecu_id, a->config.hw_id, a->config.eth_acl.n_rules);
        umc_agent_notify_status(a);
        *ret = a;
        return 0;
fail:
        umc_agent_free(a);
        return r;
}

void umc_agent_free(struct umc_agent *a) {
        if (!a)
                return;
        a->stopping = true; /* no new ISO-TP channel as the last one closes */
        while (a->conns) {
                struct conn *c = a->conns;
                if (c->began && c->receiver &&
                    umc_receiver_state(c->receiver) == UMC_RECEIVER_STREAM)
                        log_notice("%s: stopping mid-transfer; the partial image is kept for resume",
                                   c->peer);
                umc_agent_conn_free(c);
        }
        (void)sd_event_source_disable_unref(a->listener);
        (void)sd_event_source_disable_unref(a->accept_retry);
        (void)sd_event_source_disable_unref(a->bus_io);
        (void)sd_event_source_disable_unref(a->bus_tick);
        (void)sd_event_source_disable_unref(a->can_reopen);
        umc_canbus_free(a->bus);
        umc_forwarder_free(a->forwarder); /* after the connections, whose jobs borrow it */
        if (a->listen_fd >= 0)
                (void)close(a->listen_fd);
        if (a->lock_fd >= 0)
                (void)close(a->lock_fd); /* releases the SlotDirectory= lock */
        sd_event_unref(a->event);
        umc_agent_config_free(&a->config);
        free(a);
}

/*
 * Gateway: a reload re-reads the forward file too, unless an image is
 * being forwarded (its delivery borrows the loaded file). *ret is the new
 * forwarder to install, NULL for an endpoint.
 */
static int reload_forwarder(struct umc_agent *a, const struct umc_agent_config *n,
                            struct umc_forwarder **ret, char *why, size_t why_size) {
        struct umc_config_error err = {};
        int r;

        *ret = NULL;
        if (n->mode != a->config.mode)
                return umc_why(why, why_size, -EINVAL, "Mode= takes effect at a restart");
        if (n->mode != UMC_AGENT_GATEWAY)
                return 0;
        for (const struct conn *c = a->conns; c; c = c->next)
                if (c->forward)
                        return umc_why(why, why_size, -EBUSY, "an image is being forwarded (%s)",
                                       c->peer);
        r = umc_forwarder_new(n->forward_config, a->event, ret, &err);
        if (r < 0)
                return umc_why(why, why_size, r, "%s", err.msg);
        return 0;
}

/*
 * A reload's BindInterface= (unchanged, or refused) and SlotDirectory=: a
 * new directory is locked into *ret_lock_fd (-1 when unchanged) and
 * probed; the caller releases the old lock once the reload succeeds.
 */
static int reload_store(struct umc_agent *a, const struct umc_agent_config *n, int *ret_lock_fd,
                        char *why, size_t why_size) {
        _cleanup_close_ int fd = -1;
        int r;

        *ret_lock_fd = -1;
        /* A bound and an unbound socket on one address conflict: no overlap possible. */
        if (strcmp(n->bind_interface, a->config.bind_interface) != 0)
                return umc_why(why, why_size, -EINVAL, "BindInterface= takes effect at a restart");
        if (strcmp(n->slot_directory, a->config.slot_directory ? a->config.slot_directory : "") == 0)
                return 0;
        r = slotdir_lock(n->slot_directory, &fd, why, why_size);
        if (r >= 0)
                r = slots_probe(n, n->slot_directory, why, why_size);
        /* The probe's -EBUSY is the store's own flock, held while a transfer has it open. */
        if (r < 0 && (fd < 0 || r != -EBUSY))
                return r;
        *ret_lock_fd = TAKE_FD(fd);
        return 0;
}

int umc_agent_reload(struct umc_agent *a, struct umc_agent_config *config, char *why,
                     size_t why_size) {
        struct umc_forwarder *fw = NULL;
        int lock_fd = -1, r;

        if (!a || !config)
                return umc_why(why, why_size, -EINVAL, "No agent or configuration");
        r = umc_agent_config_check(config, why, why_size);
        if (r < 0)
                goto out;
        r = reload_store(a, config, &lock_fd, why, why_size);
        if (r < 0)
                goto out;
        r = reload_forwarder(a, config, &fw, why, why_size);
        if (r < 0)
                goto out;
        if (a->config.channel == UMC_CHANNEL_CAN || config->channel == UMC_CHANNEL_CAN)
                r = umc_agent_can_reload(a, config, why, why_size);
        else
                r = umc_agent_listen_reload(a, config, why, why_size);
        if (r < 0)
                goto out;
        umc_agent_config_free(&a->config);
        a->config = *config;
        memset(config, 0, sizeof(*config));
        if (lock_fd >= 0) {
                (void)close(a->lock_fd); /* the old SlotDirectory= is free again */
                a->lock_fd = TAKE_FD(lock_fd);
        }
        if (fw) {
                umc_forwarder_free(a->forwarder);
                a->forwarder = TAKE_PTR(fw);
        }
        a->handshake_usec = a->config.handshake_timeout_usec;
        a->idle_usec = a->config.idle_timeout_usec;
        umc_agent_listen_update(a);
        log_info("Reloaded %s: %s %s as ECU 0x%08" PRIx32 " (%s)",
                 a->config.path ? a->config.path : "the configuration",
                 a->bus ? "serving" : "listening on", a->bus ? a->can_text : a->listen_text,
                 a->config.ecu_id, a->config.hw_id);
        r = 0;
out:
        if (lock_fd >= 0)
                (void)close(lock_fd);
        umc_forwarder_free(fw);
        umc_agent_notify_status(a);
        return r;
}

int umc_agent_local_address(const struct umc_agent *a, struct umc_sockaddr *ret) {
        struct umc_sockaddr s = { .len = sizeof(s.in6) };

        if (!a || !ret || a->listen_fd < 0)
                return -EINVAL;
        if (getsockname(a->listen_fd, &s.sa, &s.len) < 0)
                return -errno;
        *ret = s;
        return 0;
}

void umc_agent_get_stats(const struct umc_agent *a, struct umc_agent_stats *ret) {
        *ret = a->stats;
        ret->connections = a->n_conns;
}

int umc_agent_set_timeouts(struct umc_agent *a, uint64_t handshake_usec, uint64_t idle_usec) {
        if (!a || handshake_usec == 0 || idle_usec == 0)
                return -EINVAL;
        a->handshake_usec = handshake_usec;
        a->idle_usec = idle_usec;
        return 0;
}

void umc_agent_set_legacy(struct umc_agent *a, bool legacy) {
        if (a)
                a->legacy = legacy;
}

