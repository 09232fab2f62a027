/* SPDX-License-Identifier: MIT */
/*
 * What a daemon does around its sd-event loop, written once for umcd and
 * umc-agent so that both main()s have the same steps and tell systemd the
 * same things (sd_notify(3)):
 *
 *   SIGTERM, SIGINT  log, stop the loop with exit code 0
 *   SIGHUP           RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC now>,
 *                    the daemon's reload function, READY=1 (also when the
 *                    reload was refused: the old configuration runs on)
 *   run              the watchdog (WATCHDOG_USEC), READY=1, the loop,
 *                    STOPPING=1 once it has ended
 *
 * Signals arrive as event sources (sd_event_add_signal(3)), never as work
 * in a handler. The sources belong to the event loop and go with it.
 */
#pragma once

#include <systemd/sd-event.h>

/*
 * The daemon's reload, called on SIGHUP between RELOADING=1 and READY=1.
 * It is the daemon's main() code: it logs its own outcome (what was
 * reloaded, or why the running configuration stays). Its result is only
 * passed on to the log at debug level.
 */
typedef int (*umc_service_reload_fn)(void *userdata);

/*
 * Block SIGTERM, SIGINT and SIGHUP in the calling thread and add them to
 * event as above; reload(userdata) runs on SIGHUP. Errors of
 * sigprocmask() and sd_event_add_signal() (-EBUSY when event already
 * handles one of them), -ENOMEM.
 */
int umc_service_handle_signals(sd_event *event, umc_service_reload_fn reload, void *userdata);

/*
 * Enable the watchdog when systemd asked for one (a failure is logged,
 * not fatal), tell READY=1, run the loop until it exits, tell STOPPING=1.
 * Returns the loop's exit code (0 after SIGTERM/SIGINT) or a negative
 * errno.
 */
int umc_service_run(sd_event *event);
