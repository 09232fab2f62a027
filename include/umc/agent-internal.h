/* SPDX-License-Identifier: MIT */
/*
 * Private to the agent's four files (src/lib/agent/): the agent object and
 * one connection, shared between them; nothing outside the agent includes
 * this header (the public API is agent.h).
 *
 *   agent.c     lifecycle and the public API: create, free, reload, the
 *               slot store's lock and probe, the ALARM line, STATUS=
 *   conn.c      one connection's protocol: AUTH as the ECU, the session,
 *               the receiver into the slot store, STATUS_QUERY, the final
 *               check, forwarding on a gateway
 *   listen.c    the TCP listener and the accept-time [EthernetAcl] check
 *   agentcan.c  Channel=can: the bus monitor and the ISO-TP channel
 *
 * Ownership: struct umc_agent owns every connection (the list conns), the
 * listener, the bus monitor and every event source; a connection owns its
 * stream, session, receiver and open slot store. umc_agent_conn_free()
 * unlinks and frees one connection; umc_agent_free() frees everything.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "umc/agent.h"
#include "umc/auth.h"
#include "umc/canbus.h"
#include "umc/forward.h"
#include "umc/msg.h"
#include "umc/netinfo.h"
#include "umc/session.h"
#include "umc/slot.h"
#include "umc/stream.h"
#include "umc/xfer.h"

/* Largest frame the agent sends: FEEDBACK, ALARM or AUTH_RESPONSE with two layers of tags. */
#define UMC_AGENT_REPLY_MAX 1024

enum conn_state {
        CONN_AUTH_CHALLENGE, /* waiting for AUTH_CHALLENGE */
        CONN_AUTH_CONFIRM,   /* AUTH_RESPONSE sent, waiting for AUTH_CONFIRM */
        CONN_REFUSE_NEXT,    /* authenticated but refused: answer the first sealed frame with ALARM */
        CONN_TRANSFER,       /* the receiver takes the frames */
        CONN_CHECKING,       /* the receiver hashes the image from the slot store; no input */
        CONN_FORWARDING,     /* gateway: the image goes on to its ECU; input only to notice a cancel */
        CONN_CLOSING,        /* last frame queued: flush, shut down our side, wait for the peer's */
};

struct conn {
        struct umc_agent *agent;
        struct conn *prev, *next;
        struct umc_stream *stream;
        sd_event_source *io, *timer, *work;
        char peer[UMC_NETINFO_TUPLE_STRING_MAX];
        enum conn_state state;
        bool dead;           /* free at the end of the current callback */
        bool write_shut;
        bool peer_eof;
        bool began;          /* BEGIN accepted: a lost connection is an interrupted transfer */
        bool dropped_image;  /* the receiver aborted the sink (else a partial stays) */
        bool challenge_aside; /* ISO-TP: auth answers a new challenge while the session runs */
        bool packet;         /* the ISO-TP channel (Channel=can): no end of file, no shutdown */
        uint32_t ecu_id;     /* from the challenge; 0 before */
        uint64_t idle_usec;
        struct umc_auth_ecu auth;
        struct umc_session *session;
        struct umc_slots *slots;
        struct umc_receiver *receiver;
        struct umc_sink sink;
        struct umc_ecucheck *ecucheck; /* the signed manifest's checks; NULL: none configured */
        enum umc_reason refuse_reason; /* CONN_REFUSE_NEXT */
        struct umc_forward_job *forward; /* gateway, CONN_FORWARDING */
        bool forward_done;               /* its verdict is in: */
        enum umc_reason forward_reason;
        char forward_text[UMC_MSG_ALARM_TEXT_MAX + 1];
        uint8_t out[UMC_AGENT_REPLY_MAX];
};

struct umc_agent {
        struct umc_agent_config config;
        sd_event *event;
        int listen_fd;
        int lock_fd;           /* SlotDirectory=/agent.lock, flock()ed for our lifetime */
        sd_event_source *listener, *accept_retry;
        bool accept_paused;
        char listen_text[INET6_ADDRSTRLEN + 8];
        struct conn *conns;
        unsigned n_conns;
        struct conn *transfer; /* the connection holding the slot store */
        struct umc_agent_stats stats;
        uint64_t handshake_usec, idle_usec;

        /*
         * Channel=can: the bus monitor (our side of the CAN ID checks), its
         * window timer, and the defer source that opens a fresh ISO-TP
         * channel whenever the previous one closed. bus_verdict is the last
         * closed window's: a violation refuses authentication until a clean
         * window follows.
         */
        struct umc_canbus *bus;
        sd_event_source *bus_io, *bus_tick, *can_reopen;
        struct umc_forwarder *forwarder; /* Mode=gateway: the ECUs behind us */
        enum umc_reason bus_verdict;
        char can_text[UMC_NETINFO_TUPLE_STRING_MAX];
        bool stopping;
        bool legacy; /* umc_agent_set_legacy() */
};

/* ---- agent.c ---- */

/*
 * The one line every refusal produces: who, which ECU when known, what was
 * refused and the reason code with its text. Counts the refusal.
 */
void umc_agent_alarm(struct umc_agent *a, const char *peer, uint32_t ecu_id,
                     enum umc_reason reason, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/* STATUS= for systemd: the transfer's progress, or what the agent serves. */
void umc_agent_notify_status(struct umc_agent *a);

/* Delete a partial image beyond [Agent] ResumeMaxAgeSec=/ResumeMaxSize=; true when it did. */
bool umc_agent_slots_prune(const struct umc_agent_config *cfg, struct umc_slots *s,
                           const char *dir);

/* ---- conn.c ---- */

/*
 * A connection on fd from peer, linked into a's list; packet for the
 * ISO-TP channel. A negative errno (-ENOMEM, umc_stream_new()'s) means fd
 * was not taken and is still the caller's; once taken, fd is the
 * connection's, and a failure to add its event sources frees the
 * connection (closing fd) and still returns 0.
 */
int umc_agent_conn_new(struct umc_agent *a, int fd, const char *peer, bool packet);

/* Unlink c from its agent and free it (a partial image stays for resume). Accepts NULL. */
void umc_agent_conn_free(struct conn *c);

/* ---- listen.c ---- */

/* Accept only while not paused and below MaxConnections=. */
void umc_agent_listen_update(struct umc_agent *a);

/* A listening TCP socket on addr, bound to ifname unless "". -ENODEV: no such interface. */
int umc_agent_listen_open(const struct umc_sockaddr *addr, const char *ifname, int *ret_fd);

/* "0.0.0.0:4500" or "0.0.0.0:4500 on eth0.42 (BindInterface=)", for messages. */
void umc_agent_listen_where(const struct umc_agent_config *c, char *buf, size_t size);

/* Make fd (listening) the agent's listener; the old one is closed only on success. */
int umc_agent_listen_set(struct umc_agent *a, int fd);

/*
 * A reload's Listen=: a changed address is bound before the old socket is
 * closed; an unchanged one keeps the socket. On error the old one stays
 * and why says what failed.
 */
int umc_agent_listen_reload(struct umc_agent *a, const struct umc_agent_config *n, char *why,
                            size_t why_size);

/* ---- agentcan.c ---- */

/*
 * The functions below report a failure through why (umc_why()) and do not
 * log it: umc_agent_new() and umc_agent_reload() hand it to their caller.
 */

/* Channel=can at start: the bus monitor, its window timer, the reopen source. */
int umc_agent_can_start(struct umc_agent *a, const struct umc_agent_config *c, char *why,
                        size_t why_size);

/* Open a fresh ISO-TP channel: at start, and whenever the previous one closed. */
int umc_agent_can_open_channel(struct umc_agent *a, char *why, size_t why_size);

/* A reload with Channel=can: -EINVAL when the channel changed; the monitor takes n's [CanIds]. */
int umc_agent_can_reload(struct umc_agent *a, const struct umc_agent_config *n, char *why,
                         size_t why_size);
