/* SPDX-License-Identifier: MIT */
/*
 * libcurl's multi interface inside an sd-event loop, after curl's
 * docs/examples/ephiperfifo.c: CURLMOPT_SOCKETFUNCTION turns each socket
 * curl wants watched into an sd-event I/O source, CURLMOPT_TIMERFUNCTION
 * into one monotonic timer (0: fire on the next iteration, -1: disarm),
 * and both call curl_multi_socket_action() and then drain
 * curl_multi_info_read(). No curl_multi_wait(), no curl_easy_perform(): a
 * slow or stalled server never blocks the loop.
 *
 * A struct umc_curlev owns the CURLM and its event sources. Easy handles
 * stay owned by the caller; while added, their CURLOPT_PRIVATE belongs to
 * this module. When a transfer ends, it is removed from the multi handle
 * first and then its done callback runs, which may free the easy handle,
 * add new transfers or remove others. Nothing here logs.
 */
#pragma once

#include <curl/curl.h>
#include <systemd/sd-event.h>

struct umc_curlev;

/* result: CURLE_OK or why the transfer failed. */
typedef void (*umc_curlev_done_fn)(CURL *easy, CURLcode result, void *userdata);

/* 0, -ENOMEM, -EIO (curl refused an option). *ret owned by the caller. */
int umc_curlev_new(sd_event *event, struct umc_curlev **ret);

/* Removes (without callbacks) any transfer still running. Accepts NULL. */
void umc_curlev_free(struct umc_curlev *c);

static inline void umc_curlev_freep(struct umc_curlev **c) {
        umc_curlev_free(*c);
}

/*
 * Start easy on the loop; done(easy, result, userdata) runs once when it
 * ends. 0, -EINVAL, -ENOMEM, -EBUSY (already added), -EIO.
 */
int umc_curlev_add(struct umc_curlev *c, CURL *easy, umc_curlev_done_fn done, void *userdata);

/* Stop easy without calling its done callback. 0, or -ENOENT when not added. */
int umc_curlev_remove(struct umc_curlev *c, CURL *easy);

/* Transfers running now. */
unsigned umc_curlev_running(const struct umc_curlev *c);
