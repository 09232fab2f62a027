/* SPDX-License-Identifier: MIT */
/*
 * A/B slot store for the ECU endpoint. A firmware image arrives chunk by
 * chunk into a partial file, is checkpointed so a transfer survives
 * SIGKILL or power loss, and is committed to the INACTIVE slot only when
 * complete. The active slot and its version change only through
 * umc_slots_activate() and umc_slots_rollback(), each a single atomic
 * rename, so the ECU is never left half-flashed.
 *
 * Layout under DIR (directories 0700, files 0600, nothing followed through
 * a symlink below DIR):
 *
 *     DIR/a/image, DIR/a/version      slot A
 *     DIR/b/image, DIR/b/version      slot B
 *     DIR/active                      "a\n" or "b\n"; absent means "a"
 *     DIR/previous                    "a\n" or "b\n": slot to roll back to
 *     DIR/incoming/image.part         the transfer in progress
 *     DIR/incoming/progress           the transfer's last checkpoint
 *     DIR/incoming/image.plain        a replacement of the partial being
 *                                     written (umc_slots_replace_partial())
 *     DIR/security_version            anti-rollback: the security version of
 *                                     the last signed image installed
 *
 * A version file is one line: 1..UMC_SLOT_VERSION_MAX printable ASCII
 * characters (0x20..0x7e) and "\n". A slot without one is empty: it holds
 * no image that may be booted or rolled back to. The progress file is four
 * "key=value\n" lines (statefile.h), each key once, in any order:
 *
 *     image_id=<64 hex digits>    the caller's ID of the image (BEGIN's image_id)
 *     version=<version>
 *     image_len=<decimal bytes, > 0>
 *     offset=<decimal bytes made durable, <= image_len>
 *
 * Invariants that make every crash point valid (reasoned per step in
 * slot.c): a version is written only after its image is in place and
 * removed before the image is replaced; previous, when present, names the
 * inactive slot and is removed before that slot is overwritten; progress
 * never counts bytes that were not fdatasync()ed first; a partial without
 * progress is garbage and removed at open.
 *
 * One struct umc_slots per DIR: umc_slots_open() takes an exclusive
 * flock(2) on DIR, held until umc_slots_close(). Not thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UMC_SLOT_IMAGE_ID_SIZE 32
#define UMC_SLOT_VERSION_MAX 64
/* Security versions stay exact in a JSON number: 2^53 - 1, as the manifest's. */
#define UMC_SLOT_SECURITY_VERSION_MAX ((UINT64_C(1) << 53) - 1)

/* Flags umc_slots_open() reports; each worth a log line, none an error. */
enum {
        /* A progress file that was malformed or did not match its partial
         * (missing, shorter than its offset) was dropped together with the
         * partial; the next umc_slots_begin() starts at 0. */
        UMC_SLOTS_DISCARDED_PROGRESS = 1u << 0,
};

struct umc_slots;

/* True when version is 1..UMC_SLOT_VERSION_MAX printable ASCII characters. */
bool umc_slots_version_valid(const char *version);

/*
 * Open the store in dir, creating dir and its subdirectories (0700) as
 * needed, and validate the state on disk. An active, previous or version
 * file that is not exactly as documented above (or a version without its
 * image) is refused with -EBADMSG; a symlink where a state file or slot
 * directory belongs with -ELOOP or -ENOTDIR. A bad progress file is not
 * fatal: see UMC_SLOTS_DISCARDED_PROGRESS, reported in *ret_flags (may be
 * NULL). Leftovers of a crash (temporary files, a partial without progress,
 * a rollback record already carried out) are removed. -EBUSY when another
 * umc_slots holds dir. *ret_slots is owned by the caller
 * (umc_slots_close()). Outputs are written only on success.
 */
int umc_slots_open(const char *dir, struct umc_slots **ret_slots, unsigned *ret_flags);

/*
 * Release s (NULL is fine) and its lock. Changes nothing on disk: a
 * transfer not yet committed resumes from its last checkpoint, exactly as
 * after a crash.
 */
void umc_slots_close(struct umc_slots *s);

static inline void umc_slots_closep(struct umc_slots **s) {
        umc_slots_close(*s);
}

/*
 * The active slot ('a' or 'b') and its version, NULL when the slot is
 * empty (factory state). The string is owned by s and valid until the next
 * call that changes slots. Either output may be NULL. -EINVAL if s is NULL.
 */
int umc_slots_active(const struct umc_slots *s, char *ret_slot, const char **ret_version);

/*
 * The slot umc_slots_rollback() would return to and its version (owned by
 * s). -ENOENT when there is none.
 */
int umc_slots_previous(const struct umc_slots *s, char *ret_slot, const char **ret_version);

/* What the store holds, for a status report (umc_slots_status()). */
struct umc_slots_status {
        char active;                   /* 'a' or 'b' */
        char previous;                 /* slot umc_slots_rollback() returns to, 0 when none */
        char version[2][UMC_SLOT_VERSION_MAX + 1]; /* slot a, slot b; "" when empty */
        bool partial;                  /* a transfer's record is on disk (resumable) */
        char partial_version[UMC_SLOT_VERSION_MAX + 1];
        uint64_t partial_len;          /* the image's announced length */
        uint64_t partial_durable;      /* bytes made durable by the last checkpoint */
        int64_t partial_saved_sec;     /* CLOCK_REALTIME of that checkpoint (the record's mtime) */
};

/*
 * Fill *ret from what s loaded or wrote since (no I/O). -EINVAL for NULL.
 */
int umc_slots_status(const struct umc_slots *s, struct umc_slots_status *ret);

/*
 * Start or resume receiving an image of image_len bytes (> 0). If the last
 * checkpoint names the same image_id, version and image_len and its
 * partial is intact, the partial is cut back to the checkpointed offset
 * (bytes written after it are not trusted) and that offset is returned in
 * *ret_resume_offset: the caller re-hashes [0, offset) through
 * umc_slots_partial_fd() and asks the sender to continue there. Otherwise
 * any old partial is replaced and 0 is returned. Slots are untouched.
 * -EINVAL for a bad version or zero length, -EFBIG when image_len does not
 * fit an off_t, or the negative errno of the failing file operation.
 */
int umc_slots_begin(struct umc_slots *s, const uint8_t image_id[UMC_SLOT_IMAGE_ID_SIZE],
                    const char *version, uint64_t image_len, uint64_t *ret_resume_offset);

/*
 * Append len bytes at offset, which must be the current end of the
 * partial (-EINVAL otherwise: no holes, no rewrites); -EFBIG when the
 * bytes would go past image_len; -ENOENT without umc_slots_begin(). On an
 * I/O error the end does not move: the same chunk can be written again.
 * The bytes count after a crash only once checkpointed.
 */
int umc_slots_write(struct umc_slots *s, uint64_t offset, const void *data, size_t len);

/*
 * A read/write fd of the partial (use pread(2)), owned by s and valid until
 * the next begin, commit, abort or close. -ENOENT without a transfer.
 */
int umc_slots_partial_fd(const struct umc_slots *s);

/*
 * Make every byte written so far durable (fdatasync), then record the
 * offset in progress atomically. -ENOENT without a transfer.
 */
int umc_slots_checkpoint(struct umc_slots *s);

/*
 * Move the complete partial into the INACTIVE slot as its image, with the
 * transfer's version, and remove progress. Does not switch the active
 * slot. The rollback record is dropped first, since it named the slot now
 * overwritten. -EINVAL before all image_len bytes are written, -ENOENT
 * without a transfer. If it fails after the partial was moved, the
 * inactive slot is left empty and the transfer is gone.
 */
int umc_slots_commit(struct umc_slots *s);

/*
 * Point active at the slot committed by this s (one atomic rename) and
 * record the previously active slot for umc_slots_rollback(), if it holds
 * an image. -ENOENT when nothing was committed since open or the last
 * activation; after a crash between commit and activate the committed slot
 * stays inactive and the image must be transferred again. On an error, s
 * may no longer match the disk: close and reopen.
 */
int umc_slots_activate(struct umc_slots *s);

/*
 * Point active back at the previous slot and forget the record, so a
 * second rollback cannot return to the image that failed. The image rolled
 * away from stays in its slot (for diagnosis) but cannot be activated
 * without a new commit. -ENOENT when there is no previous slot.
 */
int umc_slots_rollback(struct umc_slots *s);

/*
 * Keep the transfer but forget what came after its last checkpoint: the
 * partial is cut back to the recorded offset and the next write goes
 * there; progress is untouched. For a session that ended without a
 * verdict on the image (umc_slots_begin() would cut the same bytes, this
 * makes the disk say so at once). -ENOENT without a transfer, or the
 * errno of ftruncate().
 */
int umc_slots_rewind(struct umc_slots *s);

/*
 * Drop the transfer: progress first, then the partial. The slots are
 * untouched. 0 also when nothing was in progress.
 */
int umc_slots_abort(struct umc_slots *s);

/*
 * Replace the complete partial with other content of the same image (the
 * ECU's decryption of an image sealed for it, ecucheck.c), so that
 * umc_slots_commit() installs that instead. umc_slots_replacement_open()
 * creates an empty DIR/incoming/image.plain (0600, replacing any old one)
 * and returns a read/write fd the caller owns. umc_slots_replace_partial()
 * takes fd over in every case (closed on failure): it checks that the file
 * holds exactly len bytes (> 0), fsyncs it, drops the progress record (it
 * counts bytes of the old content), and renames image.plain over
 * image.part; the transfer then stands complete at len bytes. The slots
 * are untouched. -ENOENT without a transfer, -EINVAL before all image_len
 * bytes are written or when the file's size is not len. A crash at any
 * point leaves either the old transfer or a partial without record, and
 * open removes image.plain and such a partial. umc_slots_replacement_discard()
 * removes image.plain (0 when absent): call it when the replacement failed.
 */
int umc_slots_replacement_open(struct umc_slots *s, int *ret_fd);
int umc_slots_replace_partial(struct umc_slots *s, int fd, uint64_t len);
int umc_slots_replacement_discard(struct umc_slots *s);

/*
 * Anti-rollback (ecucheck.h): the security version of the last image a
 * signed manifest installed, one line of canonical decimal and "\n" in
 * DIR/security_version, 0 when the file is absent (nothing signed
 * installed yet). A file not exactly so is -EBADMSG, never 0. The setter
 * writes it atomically (umc_fs_write_atomic()); the agent calls it after
 * commit and before activate, so that an image is never active with a
 * record older than its own. -EINVAL above UMC_SLOT_SECURITY_VERSION_MAX.
 */
int umc_slots_security_version(const struct umc_slots *s, uint64_t *ret);
int umc_slots_set_security_version(struct umc_slots *s, uint64_t v);
