/* SPDX-License-Identifier: MIT */
/*
 * The umcd manager. An installation runs in three steps, all on the loop:
 *
 *  1. install(): the manifest is parsed and checked against the config and
 *     the caller's manifest hash, every image is opened (no symlinks) and its
 *     size checked; nothing slow happens in the call itself.
 *  2. VERIFYING: a low-priority defer source hashes the images, at most
 *     VERIFY_CHUNK bytes per loop iteration, against the manifest's SHA-256
 *     (and, when ImageHash=sm3, computes the SM3 digest TRANSPORT carries).
 *     One bad image refuses the whole package before any target is touched.
 *     The open descriptors are kept: the bytes delivered are the ones
 *     verified, and the agent checks them again end to end.
 *  3. INSTALLING: the targets are delivered one after another, in manifest
 *     order. One at a time keeps the vehicle network's load and the T-Box's
 *     memory flat, and makes a cancel leave at most one target interrupted
 *     (on its old image). A target that fails raises its alarm and the next
 *     one goes on.
 *
 * State directory: "versions" (NAME=VERSION lines: what umcd installed last
 * per target) and one resume record per target of a running installation
 * (delivery.h). Records are written for every target when delivery starts,
 * updated at each acknowledged checkpoint and removed when the target is
 * done, failed or cancelled. umc_manager_new() restarts an installation
 * whose records it finds, if the package is still there and its manifest
 * still hashes to the recorded value (the agents resume where their last
 * checkpoint was); other records are removed.
 */
#include "umc/manager.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "umc/delivery.h"
#include "umc/fs.h"
#include "umc/hash.h"
#include "umc/hint.h"
#include "umc/log.h"
#include "umc/mfload.h"
#include "umc/msg.h"
#include "umc/names.h"
#include "umc/signedpkg.h"
#include "umc/statefile.h"
#include "umc/util.h"

/* Bytes hashed per loop iteration while verifying: a few milliseconds of SHA-256. */
#define VERIFY_CHUNK (1024 * 1024)
#define VERSIONS_FILE "versions"
#define VERSIONS_MAX                                                                        \
        (UMC_CONFIG_TARGETS_MAX * (UMC_CONFIG_TARGET_NAME_MAX + UMC_MANIFEST_NAME_MAX + 2))
#define ADDRESS_MAX UMC_DELIVERY_ADDRESS_MAX
#define ERROR_MAX 256

/* The agent's last STATUS (delivery.h), and when it came. */
struct slot_report {
        bool reported;
        struct umc_msg_status st;
        uint64_t realtime_usec, monotonic_usec;
};

struct target_state {
        char address[ADDRESS_MAX];
        struct slot_report slots;
        char version[UMC_MANIFEST_NAME_MAX + 1]; /* installed last by umcd, "" unknown */
        enum umc_phase phase;
        uint64_t bytes_done, bytes_total, rate;
        uint32_t percent;
        enum umc_suite_id suite;
        uint16_t key_id;
        double load_percent;
        enum umc_load_class load_class;
        enum umc_reason last_reason;
        unsigned attempt;
        uint64_t rejected_frames;       /* since start: finished deliveries' and the current one's */
        uint64_t rejected_base;         /* of them before the current delivery */
};

enum job_result { JOB_PENDING = 0, JOB_DONE, JOB_FAILED, JOB_CANCELLED };

/* One image of the installation. */
struct job {
        size_t target;                          /* config index */
        const struct umc_manifest_image *image; /* into install->manifest */
        int fd;
        uint8_t hash[UMC_HASH_LEN];             /* whole image, config's ImageHash= */
        enum job_result result;
};

struct install {
        char *package_dir;
        struct umc_manifest manifest;
        struct umc_mfbuf signed_mf;      /* manifest.json and its signature, for the ECUs */
        struct umc_signed_manifest signed_view; /* NULL manifest: the package is unsigned */
        struct job *jobs;
        size_t n_jobs, current;
        uint64_t bytes_total;

        uint64_t verify_off, verify_done;
        struct umc_hash sha, alt;
        bool hashing;
        uint8_t *buf;

        sd_event_source *work;
        struct umc_delivery *delivery;
        bool delivery_ended, delivery_success;
        enum umc_reason delivery_reason;

        unsigned n_done, n_failed;
        enum umc_reason first_reason;
        char first_error[ERROR_MAX];
        bool refused;       /* verification failed: nothing was delivered */
        struct umc_signedpkg_info sig; /* signed: its security version is recorded per target */
};

struct umc_manager {
        sd_event *event;
        struct umc_daemon_config config;
        struct umc_manager_events ev;
        int state_fd;
        struct target_state *targets;
        enum umc_operation op;
        struct install *inst;
        char last_error[ERROR_MAX];
        char status[ERROR_MAX];
        uint32_t last_percent;      /* Progress of the last installation, shown while idle */
        bool resuming;              /* install() called to restart an interrupted installation */
};

static const char *const operation_names[] = {
        [UMC_OP_IDLE] = "idle",
        [UMC_OP_VERIFYING] = "verifying",
        [UMC_OP_INSTALLING] = "installing",
        [UMC_OP_CANCELLING] = "cancelling",
};

static const char *const phase_names[] = {
        [UMC_PHASE_IDLE] = "idle",
        [UMC_PHASE_WAITING] = "waiting",
        [UMC_PHASE_CONNECTING] = "connecting",
        [UMC_PHASE_RETRYING] = "retrying",
        [UMC_PHASE_AUTHENTICATING] = "authenticating",
        [UMC_PHASE_TRANSFERRING] = "transferring",
        [UMC_PHASE_VERIFYING] = "verifying",
        [UMC_PHASE_DONE] = "done",
        [UMC_PHASE_FAILED] = "failed",
        [UMC_PHASE_CANCELLED] = "cancelled",
};

const char *umc_operation_to_string(enum umc_operation op) {
        return (unsigned)op < UMC_ELEMENTSOF(operation_names) ? operation_names[op] : NULL;
}

const char *umc_phase_to_string(enum umc_phase p) {
        return (unsigned)p < UMC_ELEMENTSOF(phase_names) ? phase_names[p] : NULL;
}

#define refuse umc_why

/* snprintf() for texts that may be cut: alarm and status lines have a fixed room. */
static void text_format(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void text_format(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(buf, size, fmt, ap);
        va_end(ap);
}

static const char *target_name(const struct umc_manager *m, size_t i) {
        return m->config.ecus[i].name;
}

static size_t target_index(const struct umc_manager *m, const char *name) {
        for (size_t i = 0; i < m->config.n_targets; i++)
                if (strcmp(m->config.ecus[i].name, name) == 0)
                        return i;
        return SIZE_MAX;
}

/* ---- events and STATUS= ---- */

static void emit_changed(struct umc_manager *m) {
        if (m->ev.changed)
                m->ev.changed(m->ev.userdata);
}

static void emit_progress(struct umc_manager *m, size_t i) {
        struct umc_target_status t;

        if (m->ev.progress && umc_manager_target_status(m, i, &t) >= 0)
                m->ev.progress(m->ev.userdata, &t);
}

static void emit_alarm(struct umc_manager *m, size_t i, enum umc_reason reason, const char *text) {
        char code[UMC_REASON_FORMAT_MAX];

        log_warning("%s: alarm: %s (reason %s)", target_name(m, i), text,
                    umc_reason_format(reason, code));
        m->targets[i].last_reason = reason;
        (void)snprintf(m->last_error, sizeof(m->last_error), "%s: %s", target_name(m, i), text);
        if (m->ev.alarm)
                m->ev.alarm(m->ev.userdata, target_name(m, i), reason, text);
}

static void format_status(const struct umc_manager *m, char *buf, size_t size) {
        const struct install *in = m->inst;
        const struct job *j;

        switch (m->op) {
        case UMC_OP_VERIFYING:
                (void)snprintf(buf, size, "Verifying package %s: %" PRIu32 "%%", in->manifest.name,
                               umc_manager_percent(m));
                return;
        case UMC_OP_INSTALLING:
                j = &in->jobs[in->current < in->n_jobs ? in->current : in->n_jobs - 1];
                (void)snprintf(buf, size, "Installing %s %s: %" PRIu32 "%%",
                               target_name(m, j->target), j->image->version,
                               m->targets[j->target].percent);
                return;
        case UMC_OP_CANCELLING:
                (void)snprintf(buf, size, "Cancelling the installation of %s", in->manifest.name);
                return;
        default:
                if (m->last_error[0])
                        text_format(buf, size, "Idle; last error: %s", m->last_error);
                else
                        (void)snprintf(buf, size, "Idle");
        }
}

/* Tell systemd what we do, once per change of the text. */
static void update_status(struct umc_manager *m) {
        char status[ERROR_MAX];

        format_status(m, status, sizeof(status));
        if (strcmp(status, m->status) == 0)
                return;
        memcpy(m->status, status, sizeof(status));
        (void)sd_notifyf(false, "STATUS=%s", status);
}

/* ---- versions file ---- */

/* One NAME=VERSION line into the targets; unknown names are skipped (config changed). */
static int versions_line(const char *name, const char *version, void *userdata) {
        struct umc_manager *m = userdata;
        size_t i;

        if (!umc_name_target_valid(name) || !umc_name_version_valid(version))
                return -EBADMSG;
        i = target_index(m, name);
        if (i != SIZE_MAX)
                memcpy(m->targets[i].version, version, strlen(version) + 1);
        return 0;
}

static void versions_load(struct umc_manager *m) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = umc_fs_read_file(m->state_fd, VERSIONS_FILE, VERSIONS_MAX, &text, &len);
        if (r == -ENOENT)
                return;
        if (r >= 0)
                r = umc_statefile_parse(text, len, versions_line, m);
        if (r < 0) {
                /* Informational only: a bad file costs the "current version" column, nothing else. */
                (void)log_warning_errno(r, "Ignoring %s/" VERSIONS_FILE ": %m",
                                        m->config.state_directory);
                for (size_t i = 0; i < m->config.n_targets; i++)
                        m->targets[i].version[0] = '\0';
        }
}

static int versions_save(struct umc_manager *m) {
        _cleanup_free_ char *text = malloc(VERSIONS_MAX);
        size_t len = 0;

        if (!text)
                return -ENOMEM;
        for (size_t i = 0; i < m->config.n_targets; i++) {
                int n;

                if (!m->targets[i].version[0])
                        continue;
                n = snprintf(text + len, VERSIONS_MAX - len, "%s=%s\n", target_name(m, i),
                             m->targets[i].version);
                if (n < 0 || (size_t)n >= VERSIONS_MAX - len)
                        return -ENOBUFS;
                len += (size_t)n;
        }
        return umc_fs_write_atomic(m->state_fd, VERSIONS_FILE, text, len, 0600);
}

/* ---- state directory and targets ---- */

static int open_state_directory(const char *path, int *ret_fd) {
        int fd, r;

        if (!path || path[0] != '/')
                return -EINVAL;
        r = umc_fs_mkdir_p(path, 0700);
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        (void)umc_fs_remove_temp_files(fd, VERSIONS_FILE);
        *ret_fd = fd;
        return 0;
}

static struct target_state *targets_new(const struct umc_daemon_config *c) {
        struct target_state *t = calloc(c->n_targets ? c->n_targets : 1, sizeof(*t));

        if (!t)
                return NULL;
        for (size_t i = 0; i < c->n_targets; i++)
                umc_delivery_target_address(&c->targets[i], t[i].address, sizeof(t[i].address));
        return t;
}

/* ---- status ---- */

size_t umc_manager_n_targets(const struct umc_manager *m) {
        return m->config.n_targets;
}

/* What the ECU runs: its own report when there is one, else what umcd installed last. */
static const char *reported_version(const struct target_state *t) {
        const struct umc_msg_status *st = &t->slots.st;

        if (!t->slots.reported || (st->flags & UMC_MSG_STATUS_GATEWAY))
                return t->version;
        return st->active == 'a' ? st->version_a : st->version_b;
}

int umc_manager_target_slots(const struct umc_manager *m, size_t i, struct umc_target_slots *ret) {
        const struct slot_report *r;
        const struct umc_msg_status *st;
        uint64_t now = umc_now_monotonic_usec();

        if (!m || !ret || i >= m->config.n_targets)
                return -EINVAL;
        r = &m->targets[i].slots;
        st = &r->st;
        *ret = (struct umc_target_slots){
                .name = m->config.ecus[i].name,
                .reported = r->reported,
                .gateway = r->reported && (st->flags & UMC_MSG_STATUS_GATEWAY),
                .active = r->reported ? st->active : 0,
                .previous = st->previous,
                .version_a = st->version_a,
                .version_b = st->version_b,
                .partial = st->flags & UMC_MSG_STATUS_PARTIAL,
                .partial_version = st->partial_version,
                .partial_offset = st->partial_offset,
                .partial_len = st->partial_len,
                .reported_usec = r->realtime_usec,
        };
        if (ret->partial)
                ret->partial_age_sec = st->partial_age_sec +
                                       (now > r->monotonic_usec ? now - r->monotonic_usec : 0) /
                                               USEC_PER_SEC;
        return 0;
}

int umc_manager_target_status(const struct umc_manager *m, size_t i,
                              struct umc_target_status *ret) {
        const struct target_state *t;

        if (!m || !ret || i >= m->config.n_targets)
                return -EINVAL;
        t = &m->targets[i];
        *ret = (struct umc_target_status){
                .name = m->config.ecus[i].name,
                .ecu_id = m->config.ecus[i].ecu_id,
                .channel = m->config.targets[i].channel == UMC_CHANNEL_CAN ? "can" : "tcp",
                .address = t->address,
                .version = reported_version(t),
                .phase = t->phase,
                .bytes_done = t->bytes_done,
                .bytes_total = t->bytes_total,
                .rate = t->rate,
                .percent = t->percent,
                .suite = t->suite,
                .key_id = t->key_id,
                .load_percent = t->load_percent,
                .load_class = t->load_class,
                .last_reason = t->last_reason,
                .attempt = t->attempt,
                .rejected_frames = t->rejected_frames,
        };
        return 0;
}

enum umc_operation umc_manager_operation(const struct umc_manager *m) {
        return m->op;
}

uint32_t umc_manager_percent(const struct umc_manager *m) {
        const struct install *in = m->inst;
        uint64_t done = 0;

        if (!in)
                return m->last_percent;
        if (in->bytes_total == 0)
                return 0;
        if (m->op == UMC_OP_VERIFYING)
                done = in->verify_done;
        else
                for (size_t k = 0; k < in->n_jobs; k++) {
                        const struct job *j = &in->jobs[k];
                        if (j->result != JOB_PENDING)
                                done += j->image->size;
                        else if (k == in->current)
                                done += m->targets[j->target].bytes_done;
                }
        return (uint32_t)(done * 100 / in->bytes_total);
}

int umc_manager_current_package(const struct umc_manager *m, const char **ret_dir,
                                uint8_t ret_hash[UMC_HASH_LEN]) {
        if (!m || !m->inst)
                return -ENOENT;
        *ret_dir = m->inst->package_dir;
        memcpy(ret_hash, m->inst->manifest.hash, UMC_HASH_LEN);
        return 0;
}

const char *umc_manager_last_error(const struct umc_manager *m) {
        return m->last_error;
}

void umc_manager_set_events(struct umc_manager *m, const struct umc_manager_events *ev) {
        if (ev)
                m->ev = *ev;
        else
                m->ev = (struct umc_manager_events){};
}

sd_event *umc_manager_get_event(struct umc_manager *m) {
        return m->event;
}

const struct umc_daemon_config *umc_manager_config(const struct umc_manager *m) {
        return &m->config;
}

/* ---- installation lifetime ---- */

static void install_free(struct install *in) {
        if (!in)
                return;
        in->work = sd_event_source_disable_unref(in->work);
        umc_delivery_free(in->delivery);
        if (in->hashing) {
                umc_hash_done(&in->sha);
                umc_hash_done(&in->alt);
        }
        for (size_t k = 0; k < in->n_jobs; k++)
                umc_closep(&in->jobs[k].fd);
        free(in->jobs);
        umc_manifest_free(&in->manifest);
        umc_mfbuf_free(&in->signed_mf);
        free(in->package_dir);
        free(in->buf);
        free(in);
}

static void set_phase(struct umc_manager *m, size_t i, enum umc_phase phase) {
        m->targets[i].phase = phase;
        emit_progress(m, i);
}

static void remove_record(struct umc_manager *m, size_t target) {
        int r = umc_delivery_record_remove(m->state_fd, target_name(m, target));
        if (r < 0)
                (void)log_warning_errno(r, "%s: cannot remove the resume record: %m",
                                        target_name(m, target));
}

/*
 * What Progress says once the installation is over: the share of its
 * bytes now installed (100 on success), not the bytes processed, so a
 * failed target does not count as progress.
 */
static uint32_t installed_percent(const struct install *in) {
        uint64_t done = 0;

        if (in->bytes_total == 0)
                return 0;
        for (size_t k = 0; k < in->n_jobs; k++)
                if (in->jobs[k].result == JOB_DONE)
                        done += in->jobs[k].image->size;
        return (uint32_t)(done * 100 / in->bytes_total);
}

/* The end of every installation that started: one completed event, back to idle. */
static void install_complete(struct umc_manager *m) {
        struct install *in = m->inst;
        bool cancelled = m->op == UMC_OP_CANCELLING;
        bool success = !cancelled && in->n_failed == 0 && !in->refused;
        enum umc_reason reason = cancelled ? UMC_REASON_CANCELLED : in->first_reason;
        char message[ERROR_MAX + 64];

        if (cancelled)
                text_format(message, sizeof(message), "installation of %s cancelled",
                               in->manifest.name);
        else if (in->refused)
                text_format(message, sizeof(message), "package %s refused: %s",
                               in->manifest.name, in->first_error);
        else if (success)
                text_format(message, sizeof(message), "%s installed on %u target%s",
                               in->manifest.name, in->n_done, in->n_done == 1 ? "" : "s");
        else
                text_format(message, sizeof(message), "%u of %zu targets failed; first: %s",
                               in->n_failed, in->n_jobs, in->first_error);
        if (success)
                log_info("%s", message);
        else
                log_warning("%s", message);
        if (!success)
                text_format(m->last_error, sizeof(m->last_error), "%s", message);

        m->last_percent = installed_percent(in);
        m->inst = NULL;
        m->op = UMC_OP_IDLE;
        install_free(in);
        update_status(m);
        emit_changed(m);
        if (m->ev.completed)
                m->ev.completed(m->ev.userdata, success, success ? UMC_REASON_OK : reason, message);
}

static void note_failure(struct install *in, enum umc_reason reason, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void note_failure(struct install *in, enum umc_reason reason, const char *fmt, ...) {
        va_list ap;

        if (in->first_reason != UMC_REASON_OK)
                return;
        in->first_reason = reason;
        va_start(ap, fmt);
        (void)vsnprintf(in->first_error, sizeof(in->first_error), fmt, ap);
        va_end(ap);
}

static int schedule_work(struct umc_manager *m, int enabled) {
        return sd_event_source_set_enabled(m->inst->work, enabled);
}

/* ---- delivery of one job ---- */

static enum umc_phase phase_of(enum umc_delivery_state s) {
        switch (s) {
        case UMC_DELIVERY_CONNECTING:
                return UMC_PHASE_CONNECTING;
        case UMC_DELIVERY_RETRYING:
                return UMC_PHASE_RETRYING;
        case UMC_DELIVERY_AUTHENTICATING:
                return UMC_PHASE_AUTHENTICATING;
        case UMC_DELIVERY_TRANSFERRING:
                return UMC_PHASE_TRANSFERRING;
        case UMC_DELIVERY_VERIFYING:
                return UMC_PHASE_VERIFYING;
        case UMC_DELIVERY_DONE:
                return UMC_PHASE_DONE;
        case UMC_DELIVERY_FAILED:
                return UMC_PHASE_FAILED;
        default:
                return UMC_PHASE_WAITING;
        }
}

static size_t current_target(const struct umc_manager *m) {
        return m->inst->jobs[m->inst->current].target;
}

static void on_delivery_progress(void *ud, const struct umc_delivery_progress *p) {
        struct umc_manager *m = ud;
        struct target_state *t = &m->targets[current_target(m)];

        if (m->op == UMC_OP_CANCELLING)
                return; /* the phase stays "cancelled" */

        t->phase = phase_of(p->state);
        t->bytes_done = p->bytes_acked;
        t->bytes_total = p->bytes_total;
        t->rate = p->rate;
        t->percent = p->bytes_total ? (uint32_t)(p->bytes_acked * 100 / p->bytes_total) : 0;
        t->suite = p->suite;
        t->key_id = p->key_id;
        t->load_percent = p->load_percent;
        t->load_class = p->load_class;
        if (p->attempt != t->attempt && p->attempt > 1)
                log_info("%s: connection attempt %u", target_name(m, current_target(m)),
                         p->attempt);
        t->attempt = p->attempt;
        t->rejected_frames = t->rejected_base + p->rejected_frames;
        emit_progress(m, current_target(m));
        update_status(m);
        emit_changed(m);
}

static void on_delivery_rotation(void *ud, enum umc_suite_id suite, uint16_t key_id,
                                 enum umc_rotation_cause cause) {
        struct umc_manager *m = ud;
        size_t i = current_target(m);
        const struct umc_suite *s = umc_suite_by_id(suite);

        log_info("%s: rotated to %s, key ID %u (%s)", target_name(m, i), s ? s->name : "?",
                 (unsigned)key_id, umc_rotation_cause_to_string(cause));
        m->targets[i].suite = suite;
        m->targets[i].key_id = key_id;
        if (m->ev.rotation)
                m->ev.rotation(m->ev.userdata, target_name(m, i), suite, key_id, cause);
        emit_changed(m);
}

/* Wall-clock time of a report, for people: when did the ECU say so. */
static uint64_t now_realtime_usec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

static void on_delivery_status(void *ud, const struct umc_msg_status *st) {
        struct umc_manager *m = ud;
        size_t i = current_target(m);
        struct slot_report *r = &m->targets[i].slots;
        const char *active = st->active == 'a' ? st->version_a : st->version_b;

        r->reported = true;
        r->st = *st;
        r->realtime_usec = now_realtime_usec();
        r->monotonic_usec = umc_now_monotonic_usec();
        log_info("%s: %s slot %c active (%s), slot a %s, slot b %s%s%s", target_name(m, i),
                 (st->flags & UMC_MSG_STATUS_GATEWAY) ? "gateway store:" : "ECU reports",
                 st->active, active[0] ? active : "empty", st->version_a[0] ? st->version_a : "empty",
                 st->version_b[0] ? st->version_b : "empty",
                 (st->flags & UMC_MSG_STATUS_PARTIAL) ? ", a partial image of " : "",
                 (st->flags & UMC_MSG_STATUS_PARTIAL) ? st->partial_version : "");
        emit_changed(m);
}

/* The ECU confirmed version: what its agent did to the slots (slot.h), until it reports again. */
static void slots_after_install(struct slot_report *r, const char *version) {
        struct umc_msg_status *st = &r->st;
        char next = st->active == 'a' ? 'b' : 'a';
        char *old = st->active == 'a' ? st->version_a : st->version_b;
        char *nv = next == 'a' ? st->version_a : st->version_b;

        if (!r->reported || (st->flags & UMC_MSG_STATUS_GATEWAY))
                return;
        st->previous = old[0] ? st->active : 0;
        (void)snprintf(nv, sizeof(st->version_a), "%s", version);
        st->active = next;
        st->flags &= (uint8_t)~UMC_MSG_STATUS_PARTIAL;
        st->partial_version[0] = '\0';
        st->partial_len = st->partial_offset = 0;
        st->partial_age_sec = 0;
}

static void on_delivery_alarm(void *ud, enum umc_reason reason, const char *text) {
        struct umc_manager *m = ud;

        emit_alarm(m, current_target(m), reason, text);
}

static void on_delivery_finished(void *ud, bool success, enum umc_reason reason) {
        struct umc_manager *m = ud;
        struct install *in = m->inst;

        /* The delivery is still on the stack: conclude from the next iteration. */
        in->delivery_ended = true;
        in->delivery_success = success;
        in->delivery_reason = reason;
        if (schedule_work(m, SD_EVENT_ONESHOT) < 0)
                log_error("Cannot schedule the next target: the installation is stuck");
}

static int job_start(struct umc_manager *m) {
        struct install *in = m->inst;
        struct job *j = &in->jobs[in->current];
        struct umc_delivery_params p = {
                .config = &m->config,
                .target = j->target,
                .image_fd = j->fd,
                .image_len = j->image->size,
                .state_dir_fd = m->state_fd,
                .package_dir = in->package_dir,
        };
        struct umc_delivery_events ev = {
                .progress = on_delivery_progress,
                .rotation = on_delivery_rotation,
                .alarm = on_delivery_alarm,
                .status = on_delivery_status,
                .finished = on_delivery_finished,
                .userdata = m,
        };
        struct target_state *t = &m->targets[j->target];
        int r;

        memcpy(p.image_hash, j->hash, UMC_HASH_LEN);
        memcpy(p.manifest_hash, in->manifest.hash, UMC_HASH_LEN);
        (void)snprintf(p.version, sizeof(p.version), "%s", j->image->version);
        p.manifest = in->signed_view.manifest ? &in->signed_view : NULL; /* the ECU checks it */
        in->delivery_ended = false;
        t->rejected_base = t->rejected_frames;
        t->bytes_done = 0;
        t->bytes_total = j->image->size;
        t->percent = 0;
        log_info("Installing %s %s on %s (%s)", j->image->file, j->image->version,
                 target_name(m, j->target), t->address);
        r = umc_delivery_new(m->event, &p, &ev, &in->delivery);
        if (r >= 0)
                r = umc_delivery_start(in->delivery);
        if (r < 0)
                return r;
        set_phase(m, j->target, UMC_PHASE_CONNECTING);
        update_status(m);
        emit_changed(m);
        return 0;
}

/* The current job ended (delivery_ended, or it could not start): record it, go on. */
static void job_conclude(struct umc_manager *m, bool success, enum umc_reason reason) {
        struct install *in = m->inst;
        struct job *j = &in->jobs[in->current];
        struct target_state *t = &m->targets[j->target];
        int r;

        umc_delivery_free(in->delivery);
        in->delivery = NULL;
        remove_record(m, j->target);
        if (success) {
                j->result = JOB_DONE;
                in->n_done++;
                t->phase = UMC_PHASE_DONE;
                t->last_reason = UMC_REASON_OK;
                t->bytes_done = t->bytes_total;
                t->percent = 100;
                (void)snprintf(t->version, sizeof(t->version), "%s", j->image->version);
                slots_after_install(&t->slots, j->image->version);
                r = versions_save(m);
                if (r < 0)
                        (void)log_warning_errno(r, "Cannot record the installed versions: %m");
                r = in->sig.is_signed ? umc_signedpkg_record(m->state_fd, target_name(m, j->target),
                                                             in->sig.security_version) : 0;
                if (r < 0)
                        (void)log_warning_errno(r, "Cannot record the security version: %m");
                log_info("%s: %s %s installed", target_name(m, j->target), j->image->file,
                         j->image->version);
        } else {
                j->result = JOB_FAILED;
                in->n_failed++;
                t->phase = UMC_PHASE_FAILED;
                t->last_reason = reason;
                /* The delivery's alarm, just before, set last_error to "target: text". */
                if (m->last_error[0])
                        note_failure(in, reason, "%s", m->last_error);
                else
                        note_failure(in, reason, "%s: %s", target_name(m, j->target),
                                     umc_reason_to_string(reason));
        }
        emit_progress(m, j->target);
        in->current++;
}

/* Start jobs until one runs or none is left; then complete. */
static void jobs_advance(struct umc_manager *m) {
        struct install *in = m->inst;

        while (in->current < in->n_jobs) {
                size_t i = in->jobs[in->current].target;
                char text[UMC_MSG_ALARM_TEXT_MAX + 1];
                int r = job_start(m);

                if (r >= 0)
                        return;
                umc_delivery_free(in->delivery);
                in->delivery = NULL;
                (void)snprintf(text, sizeof(text), "cannot start the delivery: %s", strerror(-r));
                emit_alarm(m, i, UMC_REASON_INTERNAL, text);
                job_conclude(m, false, UMC_REASON_INTERNAL);
        }
        install_complete(m);
}

/* Verification passed: record every target for resume, then deliver. */
static void deliveries_begin(struct umc_manager *m) {
        struct install *in = m->inst;

        m->op = UMC_OP_INSTALLING;
        /* From now on the work source runs once per finished delivery. */
        (void)schedule_work(m, SD_EVENT_OFF);
        for (size_t k = 0; k < in->n_jobs; k++) {
                const char *name = target_name(m, in->jobs[k].target);
                struct umc_delivery_record *rec = calloc(1, sizeof(*rec));
                int r = -ENOMEM;

                if (rec) {
                        /* Keep a matching record: its offset says how far the last run got. */
                        r = umc_delivery_record_read(m->state_fd, name, rec);
                        if (r < 0 || strcmp(rec->package_dir, in->package_dir) != 0 ||
                            memcmp(rec->manifest_hash, in->manifest.hash, UMC_HASH_LEN) != 0) {
                                memset(rec, 0, sizeof(*rec));
                                (void)snprintf(rec->package_dir, sizeof(rec->package_dir), "%s",
                                               in->package_dir);
                                memcpy(rec->manifest_hash, in->manifest.hash, UMC_HASH_LEN);
                                (void)snprintf(rec->target, sizeof(rec->target), "%s", name);
                                r = umc_delivery_record_write(m->state_fd, rec);
                        }
                        free(rec);
                }
                if (r < 0)
                        (void)log_warning_errno(r, "%s: cannot write the resume record: %m", name);
        }
        in->current = 0;
        update_status(m);
        emit_changed(m);
        jobs_advance(m);
}

/* ---- verification ---- */

static int verify_open_hashes(struct umc_manager *m) {
        struct install *in = m->inst;
        int r;

        r = umc_hash_init(&in->sha, UMC_HASH_SHA256);
        if (r >= 0 && m->config.image_hash != UMC_HASH_SHA256)
                r = umc_hash_init(&in->alt, m->config.image_hash);
        if (r < 0) {
                umc_hash_done(&in->sha);
                return r;
        }
        in->hashing = true;
        return 0;
}

/* Finish one image: compare with the manifest, keep the digest TRANSPORT will carry. */
static int verify_close(struct umc_manager *m, struct job *j) {
        struct install *in = m->inst;
        uint8_t sha[UMC_HASH_LEN], alt[UMC_HASH_LEN];
        int r;

        in->hashing = false;
        r = umc_hash_final(&in->sha, sha);
        if (m->config.image_hash != UMC_HASH_SHA256) {
                int q = umc_hash_final(&in->alt, alt);
                if (r >= 0)
                        r = q;
        } else
                memcpy(alt, sha, sizeof(alt));
        if (r < 0)
                return r;
        if (!umc_memeq_ct(sha, j->image->sha256, UMC_HASH_LEN))
                return -EBADMSG;
        memcpy(j->hash, alt, UMC_HASH_LEN);
        return 0;
}

static void verify_refuse(struct umc_manager *m, struct job *j, enum umc_reason reason,
                          const char *text) {
        struct install *in = m->inst;

        in->refused = true;
        note_failure(in, reason, "%s: %s", j->image->file, text);
        emit_alarm(m, j->target, reason, text);
        for (size_t k = 0; k < in->n_jobs; k++)
                set_phase(m, in->jobs[k].target, k == in->current ? UMC_PHASE_FAILED : UMC_PHASE_IDLE);
        install_complete(m);
}

static void verify_step(struct umc_manager *m) {
        struct install *in = m->inst;
        struct job *j = &in->jobs[in->current];
        uint64_t left = j->image->size - in->verify_off;
        size_t n = left < VERIFY_CHUNK ? (size_t)left : VERIFY_CHUNK;
        char text[UMC_MSG_ALARM_TEXT_MAX + 1];
        uint32_t before = umc_manager_percent(m);
        ssize_t got;
        int r = 0;

        if (!in->hashing && (r = verify_open_hashes(m)) < 0)
                goto fail;
        got = n ? pread(j->fd, in->buf, n, (off_t)in->verify_off) : 0;
        if (got < 0 && errno == EINTR)
                return;
        if (got < 0 || (size_t)got != n) {
                r = got < 0 ? -errno : -EIO; /* the file shrank under us */
                goto fail;
        }
        r = umc_hash_update(&in->sha, in->buf, n);
        if (r >= 0 && m->config.image_hash != UMC_HASH_SHA256)
                r = umc_hash_update(&in->alt, in->buf, n);
        if (r < 0)
                goto fail;
        in->verify_off += n;
        in->verify_done += n;
        if (in->verify_off == j->image->size) {
                r = verify_close(m, j);
                if (r == -EBADMSG) {
                        verify_refuse(m, j, UMC_REASON_IMAGE_HASH_MISMATCH,
                                      "image does not match the manifest's SHA-256");
                        return;
                }
                if (r < 0)
                        goto fail;
                log_debug("%s: verified against the manifest", j->image->file);
                in->current++;
                in->verify_off = 0;
                if (in->current == in->n_jobs) {
                        deliveries_begin(m);
                        return;
                }
        }
        if (umc_manager_percent(m) != before) {
                update_status(m);
                emit_changed(m);
        }
        return;
fail:
        (void)snprintf(text, sizeof(text), "cannot verify %s: %s", j->image->file, strerror(-r));
        verify_refuse(m, j, UMC_REASON_IO_ERROR, text);
}

static int on_work(sd_event_source *s, void *userdata) {
        struct umc_manager *m = userdata;
        struct install *in = m->inst;

        switch (m->op) {
        case UMC_OP_VERIFYING:
                verify_step(m);
                break;
        case UMC_OP_INSTALLING:
                if (in->delivery && in->delivery_ended) {
                        job_conclude(m, in->delivery_success, in->delivery_reason);
                        jobs_advance(m);
                }
                break;
        case UMC_OP_CANCELLING:
                /* The ECU confirmed its image before it read the cancel: it is installed. */
                if (in->delivery && in->delivery_ended && in->delivery_success)
                        job_conclude(m, true, UMC_REASON_OK);
                install_complete(m);
                break;
        default:
                break;
        }
        return 0;
}

/* ---- install, inspect, cancel ---- */

static int check_manifest_targets(const struct umc_manager *m, const struct umc_manifest *mf,
                                  char *why, size_t why_size) {
        if (mf->n_images == 0)
                return refuse(why, why_size, -EINVAL, "the manifest lists no image");
        for (size_t k = 0; k < mf->n_images; k++)
                if (target_index(m, mf->images[k].target) == SIZE_MAX) {
                        const char *names[UMC_CONFIG_TARGETS_MAX];
                        char list[256];

                        for (size_t i = 0; i < m->config.n_targets; i++)
                                names[i] = target_name(m, i);
                        return refuse(why, why_size, -EINVAL,
                                      "image %s is for target '%s', which is not configured "
                                      "(configured: %s)",
                                      mf->images[k].file, mf->images[k].target,
                                      m->config.n_targets ? umc_hint_join(list, sizeof(list), names,
                                                                          m->config.n_targets)
                                                          : "none");
                }
        return 0;
}

/*
 * The manifest of the package open as dfd; package_dir only names it in
 * messages: every file is read through dfd, so what is verified here is
 * what the caller opened (and, for InspectPackage, checked).
 */
static int load_manifest(const struct umc_manager *m, int dfd, const char *package_dir,
                         struct umc_manifest *ret, struct umc_signedpkg_info *ret_sig, char *why,
                         size_t why_size) {
        struct umc_signedpkg_info sig = {};
        struct umc_manifest mf = {};
        char detail[512] = "";
        int r;

        /* A signed package is verified (signature, CheckOrder=) before anything else reads it. */
        r = umc_signedpkg_load_at(&m->config, m->state_fd, dfd, package_dir, (int64_t)time(NULL),
                                  &mf, &sig, NULL, detail, sizeof(detail));
        if (r < 0)
                return refuse(why, why_size, r == -ENOMEM ? r : -EINVAL, "package refused: %s",
                              detail);
        if (ret_sig)
                *ret_sig = sig;
        if (r == 0)
                r = umc_manifest_load_at(dfd, &mf, detail, sizeof(detail));
        if (r == -ELOOP && !detail[0])
                return refuse(why, why_size, -EINVAL, "%s/manifest.json: " UMC_MANIFEST_LINK_REFUSED,
                              package_dir);
        if (r < 0)
                return refuse(why, why_size, r == -ENOMEM ? r : -EINVAL, "%s/manifest.json: %s",
                              package_dir, detail[0] ? detail : strerror(-r));
        r = check_manifest_targets(m, &mf, why, why_size);
        if (r < 0) {
                umc_manifest_free(&mf);
                return r;
        }
        *ret = mf;
        return 0;
}

static int refuse_path(const char *package_dir, char *why, size_t why_size) {
        return refuse(why, why_size, -EINVAL,
                      "%s: package path must be absolute, printable and shorter than %d bytes",
                      package_dir, PATH_MAX);
}

/* Install's package: the directory the operator names, opened once for every read. */
static int open_package(const char *package_dir, int *ret_fd, char *why, size_t why_size) {
        int fd;

        if (!umc_name_path_valid(package_dir))
                return refuse_path(package_dir, why, why_size);
        fd = open(package_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return refuse(why, why_size, errno == ENOMEM ? -ENOMEM : -EINVAL, "%s: %m",
                              package_dir);
        *ret_fd = fd;
        return 0;
}

/* resolved below d (both as realpath(3) gives them): the rest, "." for d itself; else NULL. */
static const char *path_below(const char *resolved, const char *d) {
        size_t n = strlen(d);

        if (n == 1) /* "/" */
                return resolved[1] ? resolved + 1 : ".";
        if (strncmp(resolved, d, n) != 0 || (resolved[n] != '/' && resolved[n] != '\0'))
                return NULL;
        return resolved[n] ? resolved + n + 1 : ".";
}

/*
 * Open rel below base and never above it, through no symbolic link: one
 * component at a time with O_NOFOLLOW (a link in the way is ENOTDIR or
 * ELOOP). Not openat2(RESOLVE_BENEATH): under the unit's system-call
 * filter (systemd 252, Debian 12) it failed with ENOSYS. rel
 * came from realpath(3) and holds no link and no "..", so one met now was
 * put there after the check: -ELOOP or -EXDEV, and nothing is opened.
 */
static int open_beneath(int base, const char *rel, int *ret_fd) {
        _cleanup_close_ int cur = fcntl(base, F_DUPFD_CLOEXEC, 3);
        char name[NAME_MAX + 1];
        int fd;

        if (cur < 0)
                return -errno;
        for (const char *p = rel; *p;) {
                size_t n = strcspn(p, "/");

                if (n > NAME_MAX)
                        return -ENAMETOOLONG;
                memcpy(name, p, n);
                name[n] = '\0';
                p += n + (p[n] == '/');
                if (n == 0 || strcmp(name, ".") == 0)
                        continue;
                if (strcmp(name, "..") == 0)
                        return -EXDEV;
                fd = openat(cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return errno == ENOTDIR || errno == ELOOP ? -ELOOP : -errno;
                umc_closep(&cur);
                cur = fd;
        }
        fd = openat(cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

/* 1 and *ret_fd when resolved lies in the PackageDirectory= dir, 0 when not, or -errno. */
static int open_in_package_dir(const char *dir, const char *resolved, int *ret_fd) {
        _cleanup_free_ char *d = realpath(dir, NULL);
        _cleanup_close_ int base = -1;
        const char *rel;
        int r;

        if (!d)
                return 0; /* a directory that does not exist holds no package */
        rel = path_below(resolved, d);
        if (!rel)
                return 0;
        /* O_PATH: only a starting point for the walk, nothing is read from it. */
        base = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (base < 0)
                return -errno;
        r = open_beneath(base, rel, ret_fd);
        return r < 0 ? r : 1;
}

/*
 * InspectPackage's package: the directory, with links and ".." resolved,
 * must lie in a PackageDirectory=, and *ret_fd is that very directory,
 * opened below the package directory's own fd. A rename or a planted link
 * after the check cannot redirect a read: every read goes through the fd.
 */
static int open_package_checked(const struct umc_manager *m, const char *package_dir,
                                int *ret_fd, char *why, size_t why_size) {
        static const char *const fallback[] = { UMC_CONFIG_PACKAGE_DIRECTORY_DEFAULT };
        const char *const *dirs = (const char *const *)m->config.package_dirs;
        size_t n = m->config.n_package_dirs;
        _cleanup_free_ char *resolved = NULL;
        int r;

        if (!umc_name_path_valid(package_dir))
                return refuse_path(package_dir, why, why_size);
        resolved = realpath(package_dir, NULL);
        if (!resolved)
                return refuse(why, why_size, errno == ENOMEM ? -ENOMEM : -EINVAL, "%s: %m",
                              package_dir);
        if (n == 0) {
                dirs = fallback;
                n = 1;
        }
        for (size_t i = 0; i < n; i++) {
                r = open_in_package_dir(dirs[i], resolved, ret_fd);
                if (r > 0)
                        return 0;
                if (r == -ELOOP || r == -EXDEV)
                        return refuse(why, why_size, -EACCES,
                                      "%s changed while umcd checked it (a symbolic link or a "
                                      "move on the way to %s): refused", package_dir, resolved);
                if (r < 0)
                        return refuse(why, why_size, r == -ENOMEM ? r : -EINVAL, "%s: %s",
                                      package_dir, strerror(-r));
        }
        return refuse(why, why_size, -EACCES,
                      "%s is not in a package directory: umcd inspects only packages below "
                      "PackageDirectory= (%s%s)", package_dir, dirs[0], n > 1 ? ", ..." : "");
}

int umc_manager_inspect(struct umc_manager *m, const char *package_dir,
                        struct umc_manifest *ret, char *why, size_t why_size) {
        _cleanup_close_ int dfd = -1;
        struct umc_manifest mf = {};
        int r;

        if (!m || !ret)
                return -EINVAL;
        r = open_package_checked(m, package_dir, &dfd, why, why_size);
        if (r < 0)
                return r;
        r = load_manifest(m, dfd, package_dir, &mf, NULL, why, why_size);
        if (r < 0)
                return r;
        r = umc_manifest_check_files(dfd, &mf, why, why_size);
        if (r < 0) {
                umc_manifest_free(&mf);
                return r;
        }
        *ret = mf;
        return 0;
}

/* Which manifest images to install: all, or the named ones (each once, each in the manifest). */
static int select_images(const struct umc_manifest *mf, const char *const *targets, bool *sel,
                         char *why, size_t why_size) {
        if (!targets) {
                for (size_t k = 0; k < mf->n_images; k++)
                        sel[k] = true;
                return 0;
        }
        if (!targets[0])
                return refuse(why, why_size, -EINVAL, "no target selected");
        for (size_t t = 0; targets[t]; t++) {
                const struct umc_manifest_image *img = umc_manifest_find(mf, targets[t]);
                size_t k;

                if (!img) {
                        const char *names[UMC_CONFIG_TARGETS_MAX];
                        char list[256];

                        for (size_t i = 0; i < mf->n_images && i < UMC_CONFIG_TARGETS_MAX; i++)
                                names[i] = mf->images[i].target;
                        return refuse(why, why_size, -EINVAL,
                                      "the package has no image for target '%.*s'; it has images "
                                      "for: %s",
                                      UMC_CONFIG_TARGET_NAME_MAX, targets[t],
                                      umc_hint_join(list, sizeof(list), names,
                                                    mf->n_images < UMC_CONFIG_TARGETS_MAX
                                                            ? mf->n_images
                                                            : UMC_CONFIG_TARGETS_MAX));
                }
                k = (size_t)(img - mf->images);
                if (sel[k])
                        return refuse(why, why_size, -EINVAL, "target '%s' named twice",
                                      targets[t]);
                sel[k] = true;
        }
        return 0;
}

/* Open every selected image of dfd (no symlinks, regular, the manifest's size) into jobs. */
static int open_images(struct umc_manager *m, struct install *in, int dfd, const bool *sel,
                       char *why, size_t why_size) {
        int r;

        for (size_t k = 0; k < in->manifest.n_images; k++) {
                const struct umc_manifest_image *img = &in->manifest.images[k];
                struct job *j = &in->jobs[in->n_jobs];
                struct stat st;

                if (!sel[k])
                        continue;
                j->fd = openat(dfd, img->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
                if (j->fd < 0 && errno == ELOOP) /* O_NOFOLLOW met a link */
                        return refuse(why, why_size, -EINVAL, "%s (target %s): %s", img->file,
                                      img->target, UMC_MANIFEST_LINK_REFUSED);
                if (j->fd < 0)
                        return refuse(why, why_size, -EINVAL, "%s: %m", img->file);
                in->n_jobs++;
                if (fstat(j->fd, &st) < 0)
                        return refuse(why, why_size, -EINVAL, "%s: %m", img->file);
                r = umc_manifest_check_image_stat(img, &st, why, why_size);
                if (r < 0)
                        return r;
                j->target = target_index(m, img->target);
                j->image = img;
                in->bytes_total += img->size;
        }
        return 0;
}

/*
 * A signed package's manifest.json and signature, as bytes for the ECUs
 * (MANIFEST frames): each endpoint verifies them itself. None: unsigned.
 * The files are read a second time here, so the manifest must still hash to
 * what umcd verified: an ECU never gets a manifest umcd did not check.
 */
static int load_signed_manifest(struct install *in, int dfd, const char *package_dir, char *why,
                                size_t why_size) {
        uint8_t hash[UMC_HASH_LEN];
        char detail[256] = "";
        int r;

        if (!in->sig.is_signed)
                return 0;
        r = umc_mfbuf_load_at(dfd, &in->signed_mf, detail, sizeof(detail));
        if (r == -ENOENT)
                (void)snprintf(detail, sizeof(detail), "its signature file is gone");
        if (r < 0)
                return refuse(why, why_size, r == -ENOMEM ? r : -EINVAL,
                              "%s: signed manifest cannot be passed on: %s", package_dir,
                              detail[0] ? detail : strerror(-r));
        r = umc_hash_oneshot(UMC_HASH_SHA256, in->signed_mf.manifest, in->signed_mf.manifest_len,
                             hash);
        if (r < 0)
                return r;
        if (!umc_memeq_ct(hash, in->manifest.hash, UMC_HASH_LEN))
                return refuse(why, why_size, -EINVAL,
                              "%s/manifest.json changed after it was verified", package_dir);
        umc_mfbuf_view(&in->signed_mf, &in->signed_view);
        return 0;
}

static int install_new(struct umc_manager *m, int dfd, const char *package_dir,
                       struct umc_manifest *mf, const struct umc_signedpkg_info *sig,
                       const char *const *targets, struct install **ret, char *why,
                       size_t why_size) {
        struct install *in;
        _cleanup_free_ bool *sel = NULL;
        int r;

        in = calloc(1, sizeof(*in));
        if (!in)
                return -ENOMEM;
        in->manifest = *mf;
        *mf = (struct umc_manifest){};
        in->sig = *sig;
        sel = calloc(in->manifest.n_images, sizeof(*sel));
        in->jobs = calloc(in->manifest.n_images, sizeof(*in->jobs));
        in->package_dir = strdup(package_dir);
        in->buf = malloc(VERIFY_CHUNK);
        if (!sel || !in->jobs || !in->package_dir || !in->buf) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t k = 0; k < in->manifest.n_images; k++)
                in->jobs[k].fd = -1;
        r = select_images(&in->manifest, targets, sel, why, why_size);
        if (r >= 0)
                r = load_signed_manifest(in, dfd, package_dir, why, why_size);
        if (r >= 0)
                r = open_images(m, in, dfd, sel, why, why_size);
        if (r >= 0)
                r = sd_event_add_defer(m->event, &in->work, on_work, m);
        if (r >= 0)
                r = sd_event_source_set_priority(in->work, SD_EVENT_PRIORITY_IDLE);
        if (r < 0)
                goto fail;
        *ret = in;
        return 0;
fail:
        install_free(in);
        return r;
}

int umc_manager_install(struct umc_manager *m, const char *package_dir,
                        const uint8_t *manifest_hash, const char *const *targets, char *why,
                        size_t why_size) {
        struct umc_signedpkg_info sig = {};
        _cleanup_close_ int dfd = -1;
        struct umc_manifest mf = {};
        struct install *in = NULL;
        int r;

        if (!m)
                return -EINVAL;
        if (m->op != UMC_OP_IDLE)
                return refuse(why, why_size, -EBUSY,
                              "package %s from %s is being installed (%s, %" PRIu32 "%%); "
                              "follow it with 'umcctl monitor' or stop it with 'umcctl cancel'",
                              m->inst->manifest.name, m->inst->package_dir,
                              umc_operation_to_string(m->op), umc_manager_percent(m));
        /* One fd for every read: the directory verified is the one whose images are sent. */
        r = open_package(package_dir, &dfd, why, why_size);
        if (r < 0)
                return r;
        r = load_manifest(m, dfd, package_dir, &mf, &sig, why, why_size);
        if (r < 0)
                return r;
        if (manifest_hash && !umc_memeq_ct(manifest_hash, mf.hash, UMC_HASH_LEN)) {
                umc_manifest_free(&mf);
                return refuse(why, why_size, -EINVAL,
                              "the manifest does not have the expected hash: the package changed");
        }
        r = install_new(m, dfd, package_dir, &mf, &sig, targets, &in, why, why_size);
        umc_manifest_free(&mf);
        if (r < 0)
                return r;

        r = sd_event_source_set_enabled(in->work, SD_EVENT_ON);
        if (r < 0) {
                install_free(in);
                return r;
        }
        m->inst = in;
        m->op = UMC_OP_VERIFYING;
        m->last_error[0] = '\0';
        for (size_t i = 0; i < m->config.n_targets; i++) {
                struct target_state *t = &m->targets[i];
                t->phase = UMC_PHASE_IDLE;
                t->bytes_done = t->bytes_total = t->rate = 0;
                t->percent = 0;
                t->suite = UMC_SUITE_NONE;
                t->key_id = 0;
                t->last_reason = UMC_REASON_OK;
        }
        for (size_t k = 0; k < in->n_jobs; k++) {
                m->targets[in->jobs[k].target].bytes_total = in->jobs[k].image->size;
                set_phase(m, in->jobs[k].target, UMC_PHASE_WAITING);
        }
        if (m->resuming)
                log_info("Resuming the interrupted installation of %s from %s on %zu target%s: "
                         "checking the images again, then each agent goes on from its last "
                         "checkpoint", in->manifest.name, in->package_dir, in->n_jobs,
                         in->n_jobs == 1 ? "" : "s");
        else
                log_info("Installing package %s from %s: %zu image%s, verifying first",
                         in->manifest.name, in->package_dir, in->n_jobs, in->n_jobs == 1 ? "" : "s");
        update_status(m);
        emit_changed(m);
        return 0;
}

int umc_manager_cancel(struct umc_manager *m) {
        bool lingering = false;
        struct install *in;

        if (!m)
                return -EINVAL;
        if (m->op == UMC_OP_IDLE)
                return -ENOENT;
        if (m->op == UMC_OP_CANCELLING)
                return -EALREADY;
        in = m->inst;
        if (in->delivery && in->delivery_ended) {
                /* It ended before the cancel: its result stands. */
                job_conclude(m, in->delivery_success, in->delivery_reason);
        } else if (in->delivery) {
                /*
                 * Authenticated: the agent is told (an ALARM under the session
                 * key) and deletes its partial image; the delivery's finished
                 * event completes the cancel. Before that it is closed without
                 * a word, and the agent keeps what it has (within its bounds).
                 */
                lingering = umc_delivery_cancel(in->delivery) == 0;
                if (!lingering) {
                        umc_delivery_free(in->delivery);
                        in->delivery = NULL;
                }
        }
        for (size_t k = 0; k < in->n_jobs; k++) {
                struct job *j = &in->jobs[k];

                if (j->result != JOB_PENDING)
                        continue;
                j->result = JOB_CANCELLED;
                m->targets[j->target].last_reason = UMC_REASON_CANCELLED;
                remove_record(m, j->target);
                set_phase(m, j->target, UMC_PHASE_CANCELLED);
        }
        log_info("Cancelling the installation of %s", in->manifest.name);
        m->op = UMC_OP_CANCELLING;
        update_status(m);
        emit_changed(m);
        /* completed comes from the loop, after the caller's reply (and the ECU's end). */
        if (!lingering && schedule_work(m, SD_EVENT_ONESHOT) < 0)
                install_complete(m);
        return 0;
}

/* ---- restart of an interrupted installation ---- */

struct resume_set {
        struct umc_delivery_record rec; /* the first valid record: package and hash */
        const char *targets[UMC_CONFIG_TARGETS_MAX + 1];
        size_t n;
};

static void drop_record(struct umc_manager *m, const char *target, const char *why) {
        log_notice("Dropping the resume record of %s: %s", target, why);
        (void)umc_delivery_record_remove(m->state_fd, target);
}

static int resume_collect(struct umc_manager *m, struct resume_set *set) {
        size_t plen = strlen(UMC_DELIVERY_RECORD_PREFIX);
        struct umc_delivery_record *rec;
        struct dirent *de;
        DIR *dir;
        int fd;

        rec = malloc(sizeof(*rec));
        if (!rec)
                return -ENOMEM;
        fd = openat(m->state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        dir = fd >= 0 ? fdopendir(fd) : NULL;
        if (!dir) {
                int r = -errno;
                umc_closep(&fd);
                free(rec);
                return r;
        }
        while ((de = readdir(dir))) {
                const char *target = de->d_name + plen;
                size_t i;

                if (strncmp(de->d_name, UMC_DELIVERY_RECORD_PREFIX, plen) != 0 ||
                    !umc_name_target_valid(target))
                        continue;
                i = target_index(m, target);
                if (i == SIZE_MAX) {
                        drop_record(m, target, "not a configured target");
                        continue;
                }
                (void)umc_fs_remove_temp_files(m->state_fd, de->d_name);
                if (umc_delivery_record_read(m->state_fd, target, rec) < 0) {
                        drop_record(m, target, "malformed");
                        continue;
                }
                if (set->n == 0)
                        set->rec = *rec;
                else if (strcmp(rec->package_dir, set->rec.package_dir) != 0 ||
                         memcmp(rec->manifest_hash, set->rec.manifest_hash, UMC_HASH_LEN) != 0) {
                        drop_record(m, target, "another package than the other records");
                        continue;
                }
                /* Point into the config: the dirent is gone after the next readdir(). */
                set->targets[set->n++] = target_name(m, i);
                if (set->n == UMC_CONFIG_TARGETS_MAX)
                        break;
        }
        (void)closedir(dir);
        free(rec);
        return 0;
}

static void resume_interrupted(struct umc_manager *m) {
        _cleanup_free_ struct resume_set *set = calloc(1, sizeof(*set));
        char why[512] = "";
        int r;

        if (!set)
                return;
        r = resume_collect(m, set);
        if (r < 0) {
                (void)log_warning_errno(r, "Cannot look for interrupted installations: %m");
                return;
        }
        if (set->n == 0)
                return;
        m->resuming = true;
        r = umc_manager_install(m, set->rec.package_dir, set->rec.manifest_hash, set->targets, why,
                                sizeof(why));
        m->resuming = false;
        if (r >= 0)
                return;
        log_warning("Cannot restart the installation of %s: %s", set->rec.package_dir,
                    why[0] ? why : strerror(-r));
        for (size_t k = 0; k < set->n; k++)
                drop_record(m, set->targets[k], "its package is gone or changed");
}

/* ---- lifetime ---- */

int umc_manager_new(struct umc_daemon_config *config, sd_event *event, struct umc_manager **ret) {
        struct umc_manager *m;
        int r;

        if (!config || !event || !ret)
                return -EINVAL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->state_fd = -1;
        m->event = sd_event_ref(event);
        r = open_state_directory(config->state_directory, &m->state_fd);
        if (r < 0)
                goto fail;
        m->targets = targets_new(config);
        if (!m->targets) {
                r = -ENOMEM;
                goto fail;
        }
        /* Only a watchdog when systemd asked for one (WATCHDOG_USEC): a no-op otherwise. */
        r = sd_event_set_watchdog(event, true);
        if (r < 0)
                goto fail;
        m->config = *config;
        *config = (struct umc_daemon_config){};
        versions_load(m);
        update_status(m);
        resume_interrupted(m);
        *ret = m;
        return 0;
fail:
        m->config = (struct umc_daemon_config){}; /* still the caller's */
        umc_manager_free(m);
        return r;
}

void umc_manager_free(struct umc_manager *m) {
        if (!m)
                return;
        /* Resume records stay: a stop is not a cancel, the next start goes on. */
        install_free(m->inst);
        free(m->targets);
        umc_closep(&m->state_fd);
        umc_daemon_config_free(&m->config);
        sd_event_unref(m->event);
        free(m);
}

int umc_manager_reload(struct umc_manager *m, struct umc_daemon_config *config) {
        struct target_state *targets;
        int fd = -1, r;

        if (!m || !config)
                return -EINVAL;
        if (m->op != UMC_OP_IDLE)
                return -EBUSY;
        r = open_state_directory(config->state_directory, &fd);
        if (r < 0)
                return r;
        targets = targets_new(config);
        if (!targets) {
                umc_closep(&fd);
                return -ENOMEM;
        }
        umc_closep(&m->state_fd);
        m->state_fd = fd;
        free(m->targets);
        m->targets = targets;
        umc_daemon_config_free(&m->config);
        m->config = *config;
        *config = (struct umc_daemon_config){};
        versions_load(m);
        update_status(m);
        emit_changed(m);
        return 0;
}
