/* SPDX-License-Identifier: MIT */
#include "umc/service.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>

#include <systemd/sd-daemon.h>

#include "umc/log.h"
#include "umc/util.h"

struct reload_ctx {
        umc_service_reload_fn reload;
        void *userdata;
};

/* MONOTONIC_USEC= lets systemd match the reload to this notice (Type=notify-reload needs it). */
static void notify_reloading(void) {
        (void)sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, umc_now_monotonic_usec());
}

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_info("Received %s, stopping", si->ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct reload_ctx *ctx = userdata;
        int r;

        log_info("Received SIGHUP, reloading");
        notify_reloading();
        r = ctx->reload(ctx->userdata);
        if (r < 0)
                log_debug_errno(r, "Reload failed, the running configuration stays: %m");
        (void)sd_notify(false, "READY=1");
        return 0;
}

/* SIGHUP's source owns its context: the loop frees both together. */
static int add_reload(sd_event *event, umc_service_reload_fn reload, void *userdata) {
        sd_event_source *src = NULL;
        struct reload_ctx *ctx;
        int r;

        ctx = malloc(sizeof(*ctx));
        if (!ctx)
                return -ENOMEM;
        *ctx = (struct reload_ctx){ .reload = reload, .userdata = userdata };
        r = sd_event_add_signal(event, &src, SIGHUP, on_reload, ctx);
        if (r < 0) {
                free(ctx);
                return r;
        }
        r = sd_event_source_set_destroy_callback(src, free);
        if (r < 0) {
                free(ctx);
                (void)sd_event_source_disable_unref(src);
                return r;
        }
        r = sd_event_source_set_floating(src, true);
        if (r < 0) {
                (void)sd_event_source_disable_unref(src); /* frees ctx */
                return r;
        }
        sd_event_source_unref(src); /* floating: the loop holds it now */
        return 0;
}

int umc_service_handle_signals(sd_event *event, umc_service_reload_fn reload, void *userdata) {
        sigset_t mask;
        int r;

        if (!event || !reload)
                return -EINVAL;
        /* Blocked, they wait in the signalfd for the loop: no work in a handler. */
        if (sigemptyset(&mask) < 0 || sigaddset(&mask, SIGTERM) < 0 ||
            sigaddset(&mask, SIGINT) < 0 || sigaddset(&mask, SIGHUP) < 0 ||
            sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        r = sd_event_add_signal(event, NULL, SIGTERM, on_terminate, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, on_terminate, NULL);
        if (r >= 0)
                r = add_reload(event, reload, userdata);
        return r < 0 ? r : 0;
}

int umc_service_run(sd_event *event) {
        int r;

        if (!event)
                return -EINVAL;
        r = sd_event_set_watchdog(event, true);
        if (r < 0)
                log_warning_errno(r, "Cannot enable the watchdog: %m");
        (void)sd_notify(false, "READY=1");
        r = sd_event_loop(event);
        (void)sd_notify(false, "STOPPING=1");
        return r;
}
