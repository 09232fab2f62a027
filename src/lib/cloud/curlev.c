/* SPDX-License-Identifier: MIT */
#include "umc/curlev.h"

#include <errno.h>
#include <stdlib.h>

#include "umc/util.h"

/* One per added easy handle, in its CURLOPT_PRIVATE. */
struct xfer {
        struct umc_curlev *owner;
        CURL *easy;
        struct xfer *next, **prevp;  /* the owner's list, for umc_curlev_free() */
        umc_curlev_done_fn done;
        void *userdata;
};

struct umc_curlev {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        sd_event_source *kick;
        struct xfer *xfers;
        unsigned running;
};

static void unlink_xfer(struct xfer *x) {
        *x->prevp = x->next;
        if (x->next)
                x->next->prevp = x->prevp;
        x->owner->running--;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static struct xfer *xfer_of(CURL *easy) {
        char *p = NULL;

        if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK)
                return NULL;
        return (struct xfer *)p;
}

/* Hand every finished transfer to its owner: removed first, then told. */
static void drain(struct umc_curlev *c) {
        CURLMsg *m;
        int left;

        while ((m = curl_multi_info_read(c->multi, &left))) {
                CURL *easy = m->easy_handle;
                CURLcode result = m->data.result;
                struct xfer *x;

                if (m->msg != CURLMSG_DONE)
                        continue;
                x = xfer_of(easy);
                (void)curl_multi_remove_handle(c->multi, easy);
                (void)curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
                if (x) {
                        unlink_xfer(x);
                        umc_curlev_done_fn done = x->done;
                        void *ud = x->userdata;

                        free(x);
                        done(easy, result, ud);
                }
        }
}

static void action(struct umc_curlev *c, curl_socket_t fd, int ev_bitmask) {
        int still;

        (void)curl_multi_socket_action(c->multi, fd, ev_bitmask, &still);
        drain(c);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct umc_curlev *c = userdata;
        int mask = 0;

        if (revents & EPOLLIN)
                mask |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                mask |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                mask |= CURL_CSELECT_ERR;
        action(c, fd, mask);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        action(userdata, CURL_SOCKET_TIMEOUT, 0);
        return 0;
}

#define KICK_USEC (100 * USEC_PER_MSEC)

/*
 * libcurl 7.88 (Debian 12) drops the FTP control socket from its watch
 * list while the data connection is set up (CURL_POLL_REMOVE on it, seen
 * with FTPS against vsftpd), then sends TYPE and SIZE on it and waits for
 * an answer nobody tells it about: the transfer hangs unless a timer
 * happens to run it. A socket curl forgot cannot be handed back to
 * curl_multi_socket_action() (it ignores sockets it does not watch), so
 * while transfers run, every KICK_USEC curl_multi_socket_all() lets every
 * transfer look at its sockets. It is deprecated, not removed (curl keeps
 * it for exactly this: a caller that may have missed an event).
 */
static int on_kick(sd_event_source *s, uint64_t usec, void *userdata) {
        struct umc_curlev *c = userdata;
        int still;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        (void)curl_multi_socket_all(c->multi, &still);
#pragma GCC diagnostic pop
        drain(c);
        if (c->running && sd_event_source_set_time_relative(s, KICK_USEC) >= 0)
                (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static uint32_t epoll_events(int what) {
        switch (what) {
        case CURL_POLL_IN:
                return EPOLLIN;
        case CURL_POLL_OUT:
                return EPOLLOUT;
        default:
                return EPOLLIN | EPOLLOUT;
        }
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-aim or forget one socket. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        struct umc_curlev *c = userp;
        sd_event_source *src = socketp;

        if (what == CURL_POLL_REMOVE) {
                if (src) {
                        (void)curl_multi_assign(c->multi, fd, NULL);
                        sd_event_source_disable_unref(src);
                }
                return 0;
        }
        if (src) {
                if (sd_event_source_set_io_events(src, epoll_events(what)) < 0)
                        return -1;
                return 0;
        }
        if (sd_event_add_io(c->event, &src, fd, epoll_events(what), on_io, c) < 0)
                return -1;
        if (curl_multi_assign(c->multi, fd, src) != CURLM_OK) {
                sd_event_source_disable_unref(src);
                return -1;
        }
        return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 disarms, 0 fires on the next loop iteration. */
static int on_timeout(CURLM *multi, long timeout_ms, void *userp) {
        struct umc_curlev *c = userp;
        uint64_t now;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(c->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        if (sd_event_now(c->event, CLOCK_MONOTONIC, &now) < 0)
                return -1;
        if (sd_event_source_set_time(c->timer, now + (uint64_t)timeout_ms * USEC_PER_MSEC) < 0 ||
            sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

static int setup_multi(struct umc_curlev *c) {
        if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timeout) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK)
                return -EIO;
        return 0;
}

int umc_curlev_new(sd_event *event, struct umc_curlev **ret) {
        struct umc_curlev *c;
        int r;

        if (!event || !ret)
                return -EINVAL;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -EIO;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->multi = curl_multi_init();
        r = c->multi ? setup_multi(c) : -ENOMEM;
        if (r >= 0)
                /* Accuracy 1 us: 0 would mean sd-event's default slack of 250 ms. */
                r = sd_event_add_time(event, &c->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_timer,
                                      c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time_relative(event, &c->kick, CLOCK_MONOTONIC, KICK_USEC,
                                               USEC_PER_MSEC, on_kick, c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->kick, SD_EVENT_OFF);
        if (r < 0) {
                umc_curlev_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static void remove_all(struct umc_curlev *c) {
        while (c->xfers)
                (void)umc_curlev_remove(c, c->xfers->easy);
}

void umc_curlev_free(struct umc_curlev *c) {
        if (!c)
                return;
        if (c->multi) {
                remove_all(c);
                (void)curl_multi_cleanup(c->multi);
        }
        sd_event_source_disable_unref(c->timer);
        sd_event_source_disable_unref(c->kick);
        sd_event_unref(c->event);
        free(c);
}

int umc_curlev_add(struct umc_curlev *c, CURL *easy, umc_curlev_done_fn done, void *userdata) {
        struct xfer *x;

        if (!c || !easy || !done)
                return -EINVAL;
        if (xfer_of(easy))
                return -EBUSY;
        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        *x = (struct xfer){ .owner = c, .easy = easy, .done = done, .userdata = userdata };
        if (curl_easy_setopt(easy, CURLOPT_PRIVATE, x) != CURLE_OK)
                goto fail;
        /* Adding arms the timer with 0: the transfer starts on the next iteration. */
        if (curl_multi_add_handle(c->multi, easy) != CURLM_OK) {
                (void)curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
                goto fail;
        }
        x->next = c->xfers;
        x->prevp = &c->xfers;
        if (c->xfers)
                c->xfers->prevp = &x->next;
        c->xfers = x;
        c->running++;
        if (sd_event_source_set_time_relative(c->kick, KICK_USEC) >= 0)
                (void)sd_event_source_set_enabled(c->kick, SD_EVENT_ONESHOT);
        return 0;
fail:
        free(x);
        return -EIO;
}

int umc_curlev_remove(struct umc_curlev *c, CURL *easy) {
        struct xfer *x;

        if (!c || !easy)
                return -EINVAL;
        x = xfer_of(easy);
        if (!x || x->owner != c)
                return -ENOENT;
        (void)curl_multi_remove_handle(c->multi, easy);
        (void)curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        unlink_xfer(x);
        free(x);
        return 0;
}

unsigned umc_curlev_running(const struct umc_curlev *c) {
        return c ? c->running : 0;
}
