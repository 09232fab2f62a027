/* SPDX-License-Identifier: MIT */
/*
 * umc-agent: the receiving end of a delivery, on a gateway or an ECU
 * (endpoint mode). One object owns the listening socket, every connection
 * and every event source on one sd-event loop; the binary's main() and the
 * unit tests drive the same object.
 *
 * Per accepted TCP connection, in order (docs/protocol.md):
 *  1. the 5-tuple and the VLAN of the interface the connection arrived on
 *     (netinfo.h; the listener is prepared for it, and bound to
 *     [Agent] BindInterface= when set) against [EthernetAcl]: a denied
 *     connection is closed at once, nothing is sent;
 *  2. the AUTH exchange as the ECU (auth.h) with [Agent] EcuId=,
 *     HardwareId= and the master key: an unknown ECU ID or a master that
 *     does not hold the key is refused, nothing is sent;
 *  3. the secure session and the image receiver (xfer.h) writing into the
 *     A/B slot store (slot.h). One transfer into the store at a time: a
 *     second authenticated connection gets an ALARM and is closed. Before
 *     BEGIN a STATUS_QUERY is answered with the store's slot overview
 *     (STATUS, msg.h). The final read-back hash runs in bounded steps from
 *     a defer source, so the loop never stalls on a whole image. A lost
 *     connection keeps the partial image for resume, within [Agent]
 *     ResumeMaxAgeSec= and ResumeMaxSize= (applied at start and when an
 *     authenticated session takes the store); a refused image, and one the
 *     master cancelled (an ALARM that opened under the session key), is
 *     dropped. Nothing unauthenticated deletes anything.
 * Every refusal is logged as one "ALARM" line naming the connection and
 * the reason (umc_reason_to_string()).
 * The agent tells systemd STATUS= (what it serves, a transfer's
 * progress); READY=1, RELOADING=1 and STOPPING=1 are main()'s, through
 * service.h, as in umcd.
 *
 * Limits come from [Agent] in umc-agent.conf: MaxConnections= connections
 * are served at once (further ones wait in the listen backlog),
 * HandshakeTimeoutSec= bounds accept() to a verified AUTH_CONFIRM,
 * IdleTimeoutSec= the silence of an authenticated master (the partial image
 * is kept), MaxImageSize= the image a BEGIN may announce. The constants
 * below are fixed by the protocol or the design.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "umc/config.h"
#include "umc/frame.h"
#include "umc/reason.h"
#include "umc/util.h"

/* How long a refused or finished connection may take to read our last frame and close. */
#define UMC_AGENT_LINGER_USEC (5 * USEC_PER_SEC)
/* Frame payload ceiling on TCP: the protocol's. */
#define UMC_AGENT_MAX_PAYLOAD UMC_FRAME_MAX_PAYLOAD
/* Channel=can: the bus monitor's load and CAN ID window. */
#define UMC_AGENT_BUS_WINDOW_USEC (1 * USEC_PER_SEC)
/* Bytes of the final read-back hash per loop iteration. */
#define UMC_AGENT_STEP_BUDGET (4u * 1024 * 1024)

/* What the agent has done since it started; for tests and status lines. */
struct umc_agent_stats {
        uint64_t accepted;            /* connections accepted */
        uint64_t refused;             /* refused: ACL, authentication, busy, protocol, timeout */
        uint64_t completed;           /* images committed and activated */
        uint64_t interrupted;         /* lost mid-transfer, partial kept for resume */
        uint64_t rejected_frames;     /* dropped: failed authentication (xfer.h) */
        enum umc_reason last_refusal; /* OK until the first refusal */
        unsigned connections;         /* open now */
};

struct umc_agent;

/*
 * Whether the agent can run with c (-EINVAL otherwise): a known Mode= and
 * Channel=, gateway mode only with Channel=tcp and an absolute
 * ForwardConfig=, an IPv4 or IPv6 Listen= on TCP, an absolute
 * SlotDirectory=, EcuId= and HardwareId= set, no limit of 0. No I/O.
 * why (may be NULL) says which on failure (umc_why()).
 */
int umc_agent_config_check(const struct umc_agent_config *c, char *why, size_t why_size);

/*
 * Create the agent on event (a reference is taken): check config as
 * above, take the exclusive lock of [Agent] SlotDirectory= (flock(2) on
 * SlotDirectory/agent.lock, held until umc_agent_free(); -EBUSY when
 * another process holds it), check that the slot store opens, bind and
 * listen on [Agent] Listen= (port 0 picks a free port: see
 * umc_agent_local_address()), on BindInterface= only when set (-ENODEV
 * when there is no such interface), and add the listening source
 * (Channel=can: the bus monitor and the ISO-TP channel instead). On
 * success the config is moved in (*config is zeroed; the agent frees it)
 * and *ret is the caller's (umc_agent_free()); on failure *config is
 * untouched and still the caller's. Errors: those of
 * umc_agent_config_check(), umc_slots_open(), socket()/setsockopt()/
 * bind()/listen() and sd-event, -EBUSY, -ENOMEM; why (may be NULL) says
 * what failed, naming the key or the file. A failure is not logged (the
 * caller does); what it set up is, at info.
 */
int umc_agent_new(struct umc_agent_config *config, sd_event *event, struct umc_agent **ret,
                  char *why, size_t why_size);

/*
 * Close every connection (a transfer in progress keeps its partial image
 * for resume), the listener and every event source; cleanse the config.
 * Accepts NULL.
 */
void umc_agent_free(struct umc_agent *a);

static inline void umc_agent_freep(struct umc_agent **a) {
        umc_agent_free(*a);
}

/*
 * Make config (loaded) the running configuration when it is valid and
 * usable: new connections see it (MaxConnections= applies at once, the
 * timeouts replace those of umc_agent_set_timeouts()), connections
 * already open keep what they were given; a gateway re-reads its forward
 * file (-EBUSY while an image is being forwarded). A changed Listen= is
 * bound before the old socket is closed, a changed SlotDirectory= is
 * locked before the old lock is released; a changed BindInterface=,
 * Mode= or Channel= is refused (-EINVAL: they take a restart). On success
 * config is moved in (*config is zeroed) and the reload is logged; on any
 * error the running configuration stays as it was, *config is untouched
 * and still the caller's, and the error is returned with why (may be
 * NULL) saying what was refused, not logged. The log level is the
 * caller's to set.
 */
int umc_agent_reload(struct umc_agent *a, struct umc_agent_config *config, char *why,
                     size_t why_size);

/* The address the listener is bound to (with the port the kernel picked). */
int umc_agent_local_address(const struct umc_agent *a, struct umc_sockaddr *ret);

void umc_agent_get_stats(const struct umc_agent *a, struct umc_agent_stats *ret);

/*
 * Override [Agent] HandshakeTimeoutSec= and IdleTimeoutSec= (microseconds,
 * > 0; the file's whole seconds are too coarse for tests) for connections
 * accepted from now on, until the next reload. -EINVAL for 0.
 */
int umc_agent_set_timeouts(struct umc_agent *a, uint64_t handshake_usec, uint64_t idle_usec);

/*
 * Tests only: behave as an agent from before STATUS_QUERY, which takes
 * the frame type for a bad header and closes the connection without a
 * word, so that the master's way around older agents can be tested.
 */
void umc_agent_set_legacy(struct umc_agent *a, bool legacy);
