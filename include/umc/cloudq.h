/* SPDX-License-Identifier: MIT */
/*
 * The queue of reports not yet accepted by the backend: one file per
 * report in a folder of the state directory, written atomically (fs.h:
 * temporary file, fsync, rename, fsync the folder), named
 * "report-<20-digit sequence>.json" so that the oldest sorts first. A
 * report leaves the queue only when the backend has accepted it; a crash
 * leaves it queued (it may then be sent twice: the backend deduplicates by
 * its content, docs/cloud-api.md). Nothing here logs.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define UMC_CLOUDQ_MAX 256              /* reports kept; the oldest are dropped beyond */
#define UMC_CLOUDQ_REPORT_MAX (256 * 1024)
#define UMC_CLOUDQ_NAME_MAX 40

/*
 * Add len bytes as the newest report in dirfd. When UMC_CLOUDQ_MAX are
 * queued, the oldest is deleted first and *ret_dropped (may be NULL) is 1.
 * 0, -EINVAL (empty or above UMC_CLOUDQ_REPORT_MAX), or a negative errno.
 */
int umc_cloudq_push(int dirfd, const void *data, size_t len, unsigned *ret_dropped);

/*
 * The oldest queued report: its name into name (UMC_CLOUDQ_NAME_MAX
 * bytes) and its bytes into *ret (malloc()ed, NUL-terminated). 0, -ENOENT
 * when the queue is empty, or a negative errno.
 */
int umc_cloudq_peek(int dirfd, char name[UMC_CLOUDQ_NAME_MAX], char **ret, size_t *ret_len);

/* Delete the report name once the backend accepted it. 0 or a negative errno. */
int umc_cloudq_remove(int dirfd, const char *name);

/* Reports queued (files that match the name pattern), or a negative errno. */
int umc_cloudq_count(int dirfd);
