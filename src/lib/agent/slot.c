/* SPDX-License-Identifier: MIT */
/*
 * Crash reasoning: every function below that changes the disk lists, per
 * step, what a kill right after that step leaves and why umc_slots_open()
 * reads it as a valid state. "Durable" means fsync()ed, including the
 * directory entry.
 */
#include "umc/slot.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "umc/fs.h"
#include "umc/parse.h"
#include "umc/statefile.h"
#include "umc/util.h"

#define DIR_MODE 0700
#define FILE_MODE 0600

#define ACTIVE_FILE "active"
#define PREVIOUS_FILE "previous"
#define VERSION_FILE "version"
#define IMAGE_FILE "image"
#define INCOMING_DIR "incoming"
#define PART_FILE "image.part"
#define PLAIN_FILE "image.plain" /* a replacement for the partial, being written */
#define PROGRESS_FILE "progress"
#define SECURITY_FILE "security_version"

/* Four lines of at most 9 + 64, 8 + 64, 10 + 20 and 7 + 20 bytes: well under. */
#define PROGRESS_MAX 512

enum { SLOT_A, SLOT_B, N_SLOTS, SLOT_NONE = -1 };

static const char slot_names[N_SLOTS][2] = { "a", "b" };

struct transfer {
        bool known; /* a valid progress file on disk describes this transfer */
        int fd;     /* incoming/image.part, -1 until umc_slots_begin() */
        uint8_t image_id[UMC_SLOT_IMAGE_ID_SIZE];
        char version[UMC_SLOT_VERSION_MAX + 1];
        uint64_t image_len;
        uint64_t offset;  /* end of the bytes written */
        uint64_t durable; /* offset recorded by the last checkpoint */
        int64_t saved_sec; /* CLOCK_REALTIME when the record was last written (its mtime) */
};

struct umc_slots {
        int dir_fd; /* DIR, holds the flock */
        int slot_fd[N_SLOTS];
        int incoming_fd;
        int active;
        int previous;  /* SLOT_NONE when no rollback record */
        int committed; /* slot committed by this s, awaiting activation, or SLOT_NONE */
        char version[N_SLOTS][UMC_SLOT_VERSION_MAX + 1]; /* "" for an empty slot */
        struct transfer t;
};

static bool version_valid_n(const char *v, size_t n) {
        if (n < 1 || n > UMC_SLOT_VERSION_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (v[i] < 0x20 || v[i] > 0x7e)
                        return false;
        return true;
}

bool umc_slots_version_valid(const char *version) {
        return version && version_valid_n(version, strnlen(version, UMC_SLOT_VERSION_MAX + 1));
}

static void transfer_close(struct umc_slots *s) {
        umc_closep(&s->t.fd);
        s->t = (struct transfer){ .fd = -1 };
}

void umc_slots_close(struct umc_slots *s) {
        if (!s)
                return;
        transfer_close(s);
        for (size_t i = 0; i < N_SLOTS; i++)
                umc_closep(&s->slot_fd[i]);
        umc_closep(&s->incoming_fd);
        /* Closing the last fd of DIR's open file description drops the flock. */
        umc_closep(&s->dir_fd);
        free(s);
}

static int unlink_if_present(int dirfd, const char *name) {
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* ---- pointer files: active, previous ---- */

/* Read DIR/name, which must be "a\n" or "b\n". -ENOENT when absent. */
static int pointer_read(int dir_fd, const char *name, int *ret_slot) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = umc_fs_read_file(dir_fd, name, 2, &text, &len);
        if (r == -EFBIG)
                return -EBADMSG;
        if (r < 0)
                return r;
        if (len != 2 || text[1] != '\n')
                return -EBADMSG;
        if (text[0] == 'a')
                *ret_slot = SLOT_A;
        else if (text[0] == 'b')
                *ret_slot = SLOT_B;
        else
                return -EBADMSG;
        return 0;
}

static int pointer_write(struct umc_slots *s, const char *name, int slot) {
        char text[2] = { slot_names[slot][0], '\n' };

        return umc_fs_write_atomic(s->dir_fd, name, text, sizeof(text), FILE_MODE);
}

static int pointer_remove(struct umc_slots *s, const char *name) {
        int r = unlink_if_present(s->dir_fd, name);

        return r < 0 ? r : umc_fs_fsync_dir(s->dir_fd);
}

/* ---- slots ---- */

/* Load slot i's version; "" when the slot is empty. */
static int slot_load(struct umc_slots *s, int i) {
        _cleanup_free_ char *text = NULL;
        struct stat st;
        size_t len;
        int r;

        r = umc_fs_read_file(s->slot_fd[i], VERSION_FILE, UMC_SLOT_VERSION_MAX + 1, &text, &len);
        if (r == -ENOENT) {
                s->version[i][0] = '\0';
                return 0;
        }
        if (r == -EFBIG)
                return -EBADMSG;
        if (r < 0)
                return r;
        if (len < 2 || text[len - 1] != '\n' || !version_valid_n(text, len - 1))
                return -EBADMSG;
        /* commit writes a version only after its image is in place: one without is damage. */
        if (fstatat(s->slot_fd[i], IMAGE_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? -EBADMSG : -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        memcpy(s->version[i], text, len - 1);
        s->version[i][len - 1] = '\0';
        return 0;
}

/* ---- progress ---- */

/* Canonical decimal only (no sign, no leading zero: we write them so), at most UMC_FS_OFF_MAX. */
static int parse_len(const char *p, size_t n, uint64_t *ret) {
        if (n > 1 && p[0] == '0')
                return -EBADMSG;
        return umc_parse_uint(p, n, (uint64_t)UMC_FS_OFF_MAX, ret) < 0 ? -EBADMSG : 0;
}

static const char *const progress_keys[] = { "image_id", "version", "image_len", "offset" };

struct progress_parse {
        struct transfer t;
        unsigned seen;
};

static int progress_line(const char *key, const char *val, void *userdata) {
        struct progress_parse *pp = userdata;
        struct transfer *t = &pp->t;
        size_t vlen = strlen(val);

        switch (umc_statefile_key(key, progress_keys, UMC_ELEMENTSOF(progress_keys), &pp->seen)) {
        case 0:
                if (umc_hex_decode(val, vlen, t->image_id, sizeof(t->image_id)) < 0)
                        return -EBADMSG;
                return 0;
        case 1:
                if (!version_valid_n(val, vlen))
                        return -EBADMSG;
                memcpy(t->version, val, vlen + 1);
                return 0;
        case 2:
                if (parse_len(val, vlen, &t->image_len) < 0 || t->image_len == 0)
                        return -EBADMSG;
                return 0;
        case 3:
                return parse_len(val, vlen, &t->durable);
        default:
                return -EBADMSG;
        }
}

/* Parse the progress text strictly into *ret (fd and known untouched by the caller's copy). */
static int progress_parse(char *text, size_t len, struct transfer *ret) {
        struct progress_parse pp = { .t = { .fd = -1 } };
        int r;

        r = umc_statefile_parse(text, len, progress_line, &pp);
        if (r < 0)
                return r;
        if (pp.seen != 0xf || pp.t.durable > pp.t.image_len)
                return -EBADMSG;
        pp.t.offset = pp.t.durable;
        pp.t.known = true;
        *ret = pp.t;
        return 0;
}

static int progress_write(struct umc_slots *s, uint64_t offset) {
        char hex[2 * UMC_SLOT_IMAGE_ID_SIZE + 1], text[PROGRESS_MAX];
        int n;

        umc_hex_encode(s->t.image_id, sizeof(s->t.image_id), hex);
        n = snprintf(text, sizeof(text), "image_id=%s\nversion=%s\nimage_len=%" PRIu64 "\noffset=%" PRIu64 "\n",
                     hex, s->t.version, s->t.image_len, offset);
        if (n < 0 || (size_t)n >= sizeof(text))
                return -ENOBUFS;
        n = umc_fs_write_atomic(s->incoming_fd, PROGRESS_FILE, text, (size_t)n, FILE_MODE);
        if (n >= 0)
                s->t.saved_sec = (int64_t)time(NULL);
        return n;
}

/*
 * Forget the transfer: the record first, made durable, then the partial.
 * Killed after the record is gone: a partial without record, which open
 * removes. The partial's unlink needs no sync for the same reason.
 */
static int progress_drop(struct umc_slots *s) {
        int r;

        transfer_close(s);
        r = unlink_if_present(s->incoming_fd, PROGRESS_FILE);
        if (r < 0)
                return r;
        r = umc_fs_fsync_dir(s->incoming_fd);
        if (r < 0)
                return r;
        return unlink_if_present(s->incoming_fd, PART_FILE);
}

/* Errors that mean "this progress is unusable", as opposed to an I/O failure. */
static bool progress_unusable(int r) {
        return r == -EBADMSG || r == -EFBIG || r == -EBADFD || r == -ELOOP;
}

/* Load incoming/progress at open; drop it (and say so) when it cannot be resumed. */
static int progress_load(struct umc_slots *s, unsigned *flags) {
        _cleanup_free_ char *text = NULL;
        struct stat st;
        size_t len;
        int r;

        r = umc_fs_read_file(s->incoming_fd, PROGRESS_FILE, PROGRESS_MAX, &text, &len);
        if (r == -ENOENT)
                /* Killed inside begin (old record gone, new one not yet
                 * written) or abort: the partial is garbage. */
                return unlink_if_present(s->incoming_fd, PART_FILE);
        if (r >= 0)
                r = progress_parse(text, len, &s->t);
        if (r >= 0) {
                /* Checkpoints sync the data before the record: a shorter
                 * partial was damaged or moved away by a commit killed
                 * right after its rename. */
                if (fstatat(s->incoming_fd, PART_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        r = errno == ENOENT ? -EBADMSG : -errno;
                else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < s->t.durable)
                        r = -EBADMSG;
        }
        /* The record's age is that of its last checkpoint: the file is rewritten at each. */
        if (r >= 0 && fstatat(s->incoming_fd, PROGRESS_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0)
                s->t.saved_sec = (int64_t)st.st_mtime;
        if (r >= 0)
                return 0;
        if (!progress_unusable(r))
                return r;
        *flags |= UMC_SLOTS_DISCARDED_PROGRESS;
        return progress_drop(s);
}

/* ---- open ---- */

static int subdir_open(int dir_fd, const char *name, int *ret_fd, bool *created) {
        int fd;

        if (mkdirat(dir_fd, name, DIR_MODE) == 0)
                *created = true;
        else if (errno != EEXIST)
                return -errno;
        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

static int open_dirs(struct umc_slots *s, const char *dir) {
        bool created = false;
        int r;

        r = umc_fs_mkdir_p(dir, DIR_MODE);
        if (r < 0)
                return r;
        /* DIR itself may be a symlink (configuration); nothing below it may. */
        s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dir_fd < 0)
                return -errno;
        /* One writer per store: two would interleave checkpoints and renames. */
        if (flock(s->dir_fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;
        for (int i = 0; i < N_SLOTS; i++) {
                r = subdir_open(s->dir_fd, slot_names[i], &s->slot_fd[i], &created);
                if (r < 0)
                        return r;
        }
        r = subdir_open(s->dir_fd, INCOMING_DIR, &s->incoming_fd, &created);
        if (r < 0)
                return r;
        /* Make new subdirectories durable before anything is renamed into them. */
        return created ? umc_fs_fsync_dir(s->dir_fd) : 0;
}

/* Temporary files of a umc_fs_write_atomic() killed before its rename. */
static int remove_temp_files(struct umc_slots *s) {
        int r;

        if ((r = umc_fs_remove_temp_files(s->dir_fd, ACTIVE_FILE)) < 0 ||
            (r = umc_fs_remove_temp_files(s->dir_fd, PREVIOUS_FILE)) < 0 ||
            (r = umc_fs_remove_temp_files(s->incoming_fd, PROGRESS_FILE)) < 0 ||
            (r = umc_fs_remove_temp_files(s->dir_fd, SECURITY_FILE)) < 0)
                return r;
        for (int i = 0; i < N_SLOTS; i++) {
                r = umc_fs_remove_temp_files(s->slot_fd[i], VERSION_FILE);
                if (r < 0)
                        return r;
        }
        /* A replacement killed before it took the partial's place. */
        return unlink_if_present(s->incoming_fd, PLAIN_FILE);
}

static int pointers_load(struct umc_slots *s) {
        int r;

        r = pointer_read(s->dir_fd, ACTIVE_FILE, &s->active);
        if (r == -ENOENT)
                s->active = SLOT_A; /* factory state */
        else if (r < 0)
                return r;

        r = pointer_read(s->dir_fd, PREVIOUS_FILE, &s->previous);
        if (r == -ENOENT) {
                s->previous = SLOT_NONE;
                return 0;
        }
        if (r < 0)
                return r;
        if (s->previous == s->active) {
                /* Rollback killed between switching active and removing
                 * the record: finish it. */
                s->previous = SLOT_NONE;
                return pointer_remove(s, PREVIOUS_FILE);
        }
        return 0;
}

int umc_slots_open(const char *dir, struct umc_slots **ret_slots, unsigned *ret_flags) {
        _cleanup_(umc_slots_closep) struct umc_slots *s = NULL;
        unsigned flags = 0;
        int r;

        if (!dir || !ret_slots)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->dir_fd = s->incoming_fd = s->slot_fd[SLOT_A] = s->slot_fd[SLOT_B] = -1;
        s->t.fd = -1;
        s->previous = s->committed = SLOT_NONE;

        r = open_dirs(s, dir);
        if (r < 0)
                return r;
        r = remove_temp_files(s);
        if (r < 0)
                return r;
        r = pointers_load(s);
        if (r < 0)
                return r;
        for (int i = 0; i < N_SLOTS; i++) {
                r = slot_load(s, i);
                if (r < 0)
                        return r;
        }
        r = progress_load(s, &flags);
        if (r < 0)
                return r;

        *ret_slots = TAKE_PTR(s);
        if (ret_flags)
                *ret_flags = flags;
        return 0;
}

/* ---- queries ---- */

int umc_slots_active(const struct umc_slots *s, char *ret_slot, const char **ret_version) {
        if (!s)
                return -EINVAL;
        if (ret_slot)
                *ret_slot = slot_names[s->active][0];
        if (ret_version)
                *ret_version = s->version[s->active][0] ? s->version[s->active] : NULL;
        return 0;
}

int umc_slots_previous(const struct umc_slots *s, char *ret_slot, const char **ret_version) {
        if (!s)
                return -EINVAL;
        /* A record naming an empty slot (only by damage) offers nothing to return to. */
        if (s->previous == SLOT_NONE || !s->version[s->previous][0])
                return -ENOENT;
        if (ret_slot)
                *ret_slot = slot_names[s->previous][0];
        if (ret_version)
                *ret_version = s->version[s->previous];
        return 0;
}

int umc_slots_status(const struct umc_slots *s, struct umc_slots_status *ret) {
        struct umc_slots_status st = {};

        if (!s || !ret)
                return -EINVAL;
        st.active = slot_names[s->active][0];
        if (s->previous != SLOT_NONE && s->version[s->previous][0])
                st.previous = slot_names[s->previous][0];
        for (int i = 0; i < N_SLOTS; i++)
                memcpy(st.version[i], s->version[i], sizeof(st.version[i]));
        if (s->t.known) {
                st.partial = true;
                memcpy(st.partial_version, s->t.version, sizeof(st.partial_version));
                st.partial_len = s->t.image_len;
                st.partial_durable = s->t.durable;
                st.partial_saved_sec = s->t.saved_sec;
        }
        *ret = st;
        return 0;
}

int umc_slots_partial_fd(const struct umc_slots *s) {
        if (!s)
                return -EINVAL;
        return s->t.fd >= 0 ? s->t.fd : -ENOENT;
}

/* ---- transfer ---- */

/*
 * Reopen the partial of the loaded record and cut it back to the record's
 * offset. -ESTALE when it cannot be resumed and must start over.
 * The truncation needs no sync: after a crash, bytes beyond the record are
 * cut again here.
 */
static int transfer_resume(struct umc_slots *s) {
        struct stat st;
        int fd;

        fd = s->t.fd >= 0 ? s->t.fd :
                            openat(s->incoming_fd, PART_FILE,
                                   O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT || errno == ELOOP ? -ESTALE : -errno;
        s->t.fd = fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < s->t.durable)
                return -ESTALE;
        if (ftruncate(fd, (off_t)s->t.durable) < 0)
                return -errno;
        s->t.offset = s->t.durable;
        return 0;
}

/*
 * Replace whatever was in incoming/ with an empty partial and a record at
 * offset 0. Killed after step 1: no record, open removes the old partial.
 * After step 2: the same, with an empty partial. After step 3: a valid
 * record at 0 over an empty partial. No byte of the new image is written
 * before step 3, so no record ever describes another image's bytes.
 */
static int transfer_start(struct umc_slots *s, const uint8_t image_id[], const char *version,
                          uint64_t image_len) {
        int fd, r;

        /* 1: drop the old record and partial (unlink, not O_TRUNC: the new file is surely ours). */
        r = progress_drop(s);
        if (r < 0)
                return r;
        /* 2 */
        fd = openat(s->incoming_fd, PART_FILE,
                    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, FILE_MODE);
        if (fd < 0)
                return -errno;
        s->t = (struct transfer){ .fd = fd, .image_len = image_len };
        memcpy(s->t.image_id, image_id, sizeof(s->t.image_id));
        memcpy(s->t.version, version, strlen(version) + 1);
        /* 3: its durable directory fsync also makes the partial's entry durable. */
        r = progress_write(s, 0);
        if (r < 0) {
                transfer_close(s);
                return r;
        }
        s->t.known = true;
        return 0;
}

int umc_slots_begin(struct umc_slots *s, const uint8_t image_id[UMC_SLOT_IMAGE_ID_SIZE],
                    const char *version, uint64_t image_len, uint64_t *ret_resume_offset) {
        int r;

        if (!s || !image_id || !umc_slots_version_valid(version) || image_len == 0 ||
            !ret_resume_offset)
                return -EINVAL;
        if (image_len > (uint64_t)UMC_FS_OFF_MAX)
                return -EFBIG;

        if (s->t.known && s->t.image_len == image_len && strcmp(s->t.version, version) == 0 &&
            memcmp(s->t.image_id, image_id, sizeof(s->t.image_id)) == 0) {
                r = transfer_resume(s);
                if (r >= 0) {
                        *ret_resume_offset = s->t.offset;
                        return 0;
                }
                if (r != -ESTALE)
                        return r;
        }
        r = transfer_start(s, image_id, version, image_len);
        if (r < 0)
                return r;
        *ret_resume_offset = 0;
        return 0;
}

int umc_slots_write(struct umc_slots *s, uint64_t offset, const void *data, size_t len) {
        int r;

        if (!s || (!data && len > 0))
                return -EINVAL;
        if (s->t.fd < 0)
                return -ENOENT;
        if (offset != s->t.offset)
                return -EINVAL;
        if ((uint64_t)len > s->t.image_len - s->t.offset)
                return -EFBIG;
        if (len == 0)
                return 0;
        /* pwrite at the recorded end: a failed write leaves the end where it
         * was, and a retry overwrites whatever part of it landed. */
        r = umc_fs_pwrite_all(s->t.fd, data, len, (off_t)offset);
        if (r < 0)
                return r;
        s->t.offset += len;
        return 0;
}

/*
 * Killed after the fdatasync: the old record, a longer partial; begin cuts
 * it back. After the record: the new one, over bytes already durable.
 */
int umc_slots_checkpoint(struct umc_slots *s) {
        int r;

        if (!s)
                return -EINVAL;
        if (s->t.fd < 0)
                return -ENOENT;
        if (s->t.offset == s->t.durable)
                return 0;
        if (fdatasync(s->t.fd) < 0)
                return -errno;
        r = progress_write(s, s->t.offset);
        if (r < 0)
                return r;
        s->t.durable = s->t.offset;
        return 0;
}

/*
 * Move the partial into slot target as its image. Killed before the
 * rename: the transfer is intact and resumes at image_len. After it: the
 * record names a partial that is gone, which open discards (reported);
 * the slot has an image but no version, i.e. is empty. After the record
 * is removed: the same without the report.
 */
static int commit_image(struct umc_slots *s, int target) {
        int r;

        /* Data, size and metadata durable before the image name can point at them. */
        if (fsync(s->t.fd) < 0)
                return -errno;
        if (renameat(s->incoming_fd, PART_FILE, s->slot_fd[target], IMAGE_FILE) < 0)
                return -errno;
        transfer_close(s);
        r = umc_fs_fsync_dir(s->slot_fd[target]);
        if (r < 0)
                return r;
        r = unlink_if_present(s->incoming_fd, PROGRESS_FILE);
        if (r < 0)
                return r;
        /* Makes the partial's departure and the record's removal durable together. */
        return umc_fs_fsync_dir(s->incoming_fd);
}

int umc_slots_commit(struct umc_slots *s) {
        char version[UMC_SLOT_VERSION_MAX + 2];
        int target, r;
        struct stat st;
        size_t n;

        if (!s)
                return -EINVAL;
        if (s->t.fd < 0)
                return -ENOENT;
        if (s->t.offset != s->t.image_len)
                return -EINVAL;
        if (fstat(s->t.fd, &st) < 0)
                return -errno;
        /* Writes never pass image_len, so anything else is outside interference. */
        if ((uint64_t)st.st_size != s->t.image_len)
                return -EIO;
        target = 1 - s->active;
        n = strlen(s->t.version);
        memcpy(version, s->t.version, n);
        version[n++] = '\n';

        /* 1: the rollback record names target (previous is never the
         * active slot); drop it before that image goes. Killed after:
         * no rollback possible, which is what overwriting means anyway. */
        if (s->previous == target) {
                r = pointer_remove(s, PREVIOUS_FILE);
                if (r < 0)
                        return r;
                s->previous = SLOT_NONE;
        }
        /* 2: mark target empty before its image changes. Killed after:
         * an empty inactive slot, transfer intact. */
        s->committed = SLOT_NONE;
        r = unlink_if_present(s->slot_fd[target], VERSION_FILE);
        if (r >= 0)
                r = umc_fs_fsync_dir(s->slot_fd[target]);
        if (r < 0)
                return r;
        s->version[target][0] = '\0';
        /* 3: see commit_image(). */
        r = commit_image(s, target);
        if (r < 0)
                return r;
        /* 4: the slot is complete once its version is. Killed before the
         * rename inside: empty slot (step 3's state); after: committed. */
        r = umc_fs_write_atomic(s->slot_fd[target], VERSION_FILE, version, n, FILE_MODE);
        if (r < 0)
                return r;
        memcpy(s->version[target], version, n - 1);
        s->version[target][n - 1] = '\0';
        s->committed = target;
        return 0;
}

int umc_slots_activate(struct umc_slots *s) {
        int old, r;

        if (!s)
                return -EINVAL;
        if (s->committed == SLOT_NONE)
                return -ENOENT;
        old = s->active;
        /* 1: the switch, one rename. Killed before it: the old slot is
         * active, the new one committed; after it: the new one is active
         * without a rollback record (valid, only rollback is lost).
         * previous is absent here: commit removed it, as it named target. */
        r = pointer_write(s, ACTIVE_FILE, s->committed);
        if (r < 0)
                return r;
        s->active = s->committed;
        s->committed = SLOT_NONE;
        /* 2: keep the old image reachable, if there is one. */
        if (!s->version[old][0])
                return 0;
        r = pointer_write(s, PREVIOUS_FILE, old);
        if (r < 0)
                return r;
        s->previous = old;
        return 0;
}

int umc_slots_rollback(struct umc_slots *s) {
        int r;

        if (!s)
                return -EINVAL;
        if (s->previous == SLOT_NONE || !s->version[s->previous][0])
                return -ENOENT;
        /* 1: one rename back. Killed after: active == previous on disk,
         * which open reads as a finished rollback and removes the record. */
        r = pointer_write(s, ACTIVE_FILE, s->previous);
        if (r < 0)
                return r;
        s->active = s->previous;
        s->previous = SLOT_NONE;
        s->committed = SLOT_NONE;
        /* 2: a second rollback must not return to the image that failed. */
        return pointer_remove(s, PREVIOUS_FILE);
}

/* Killed at any point: the record is unchanged, and begin cuts the partial back anyway. */
int umc_slots_rewind(struct umc_slots *s) {
        if (!s)
                return -EINVAL;
        if (s->t.fd < 0)
                return -ENOENT;
        if (ftruncate(s->t.fd, (off_t)s->t.durable) < 0)
                return -errno;
        s->t.offset = s->t.durable;
        return 0;
}

int umc_slots_abort(struct umc_slots *s) {
        if (!s)
                return -EINVAL;
        return progress_drop(s);
}

/* ---- replacing the partial (the decrypted image) ---- */

int umc_slots_replacement_open(struct umc_slots *s, int *ret_fd) {
        int fd, r;

        if (!s || !ret_fd)
                return -EINVAL;
        if (s->t.fd < 0)
                return -ENOENT;
        r = unlink_if_present(s->incoming_fd, PLAIN_FILE);
        if (r < 0)
                return r;
        fd = openat(s->incoming_fd, PLAIN_FILE,
                    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, FILE_MODE);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

int umc_slots_replacement_discard(struct umc_slots *s) {
        if (!s)
                return -EINVAL;
        return unlink_if_present(s->incoming_fd, PLAIN_FILE);
}

/*
 * The record goes first: it counts bytes of the old partial, which the
 * new one does not hold. Killed after that: a partial without record,
 * which open removes, and the replacement, which open removes too. After
 * the rename: the same, with the new content under the partial's name.
 */
static int replace_partial(struct umc_slots *s, int fd, uint64_t len) {
        struct stat st;
        int r;

        if (s->t.fd < 0)
                return -ENOENT;
        if (s->t.offset != s->t.image_len)
                return -EINVAL;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != len)
                return -EINVAL;
        if (fsync(fd) < 0)
                return -errno;
        r = unlink_if_present(s->incoming_fd, PROGRESS_FILE);
        if (r >= 0)
                r = umc_fs_fsync_dir(s->incoming_fd);
        if (r < 0)
                return r;
        s->t.known = false;
        if (renameat(s->incoming_fd, PLAIN_FILE, s->incoming_fd, PART_FILE) < 0)
                return -errno;
        return 0;
}

int umc_slots_replace_partial(struct umc_slots *s, int fd, uint64_t len) {
        int r;

        if (!s || fd < 0 || len == 0 || len > (uint64_t)UMC_FS_OFF_MAX) {
                umc_closep(&fd);
                return -EINVAL;
        }
        r = replace_partial(s, fd, len);
        if (r < 0) {
                umc_closep(&fd);
                return r;
        }
        umc_closep(&s->t.fd);
        s->t.fd = fd;
        s->t.image_len = s->t.offset = s->t.durable = len;
        return umc_fs_fsync_dir(s->incoming_fd);
}

/* ---- anti-rollback record ---- */

int umc_slots_security_version(const struct umc_slots *s, uint64_t *ret) {
        _cleanup_free_ char *text = NULL;
        uint64_t v;
        size_t len;
        int r;

        if (!s || !ret)
                return -EINVAL;
        r = umc_fs_read_file(s->dir_fd, SECURITY_FILE, 21, &text, &len);
        if (r == -ENOENT) {
                *ret = 0; /* nothing signed installed yet */
                return 0;
        }
        if (r == -EFBIG)
                return -EBADMSG;
        if (r < 0)
                return r;
        /* A damaged record must not read as 0: that would open the door to any old image. */
        if (len < 2 || text[len - 1] != '\n' || parse_len(text, len - 1, &v) < 0 ||
            v > UMC_SLOT_SECURITY_VERSION_MAX)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int umc_slots_set_security_version(struct umc_slots *s, uint64_t v) {
        char text[24];
        int n;

        if (!s || v > UMC_SLOT_SECURITY_VERSION_MAX)
                return -EINVAL;
        n = snprintf(text, sizeof(text), "%" PRIu64 "\n", v);
        return umc_fs_write_atomic(s->dir_fd, SECURITY_FILE, text, (size_t)n, FILE_MODE);
}
