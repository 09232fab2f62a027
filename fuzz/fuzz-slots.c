/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the A/B slot store's state files, read by
 * umc_slots_open() when the agent starts: what a crash, a power loss or a
 * damaged flash may leave in active, previous, a/version, b/version and
 * incoming/progress (slot.h gives their format). The store lives on tmpfs
 * (/dev/shm/umc-fuzz-slots-XXXXXX, this process's own), rebuilt from each input:
 *   byte 0      which files exist (one bit each, in the order above, then
 *               a/image, b/image, incoming/image.part)
 *   2 bytes     the size of incoming/image.part
 *   then each existing state file as a 2-byte length and its bytes.
 * Properties, beyond no crash or leak under ASan/UBSan:
 *  - umc_slots_open() returns 0 or -EBADMSG for damage, nothing else;
 *  - an open store names slot a or b as active, with a valid version or
 *    none, and a previous slot only if it is the other one;
 *  - a second open of the same store after the first (and its repairs)
 *    gives the same answer: the repairs converge.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "umc/slot.h"
#include "umc/util.h"

static const char *store; /* /dev/shm/umc-fuzz-slots-XXXXXX (fuzz_scratch_dir()) */

static const char *const files[] = { "active", "previous", "a/version", "b/version",
                                     "incoming/progress" };
static const char *const dirs[] = { "a", "b", "incoming" };
static const char *const images[] = { "a/image", "b/image", "incoming/image.part" };

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        store = fuzz_scratch_dir("/dev/shm/umc-fuzz-slots");
        return 0;
}

static void write_at(const char *name, const uint8_t *data, size_t size, off_t length) {
        char path[128];
        int fd;

        (void)snprintf(path, sizeof(path), "%s/%s", store, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        CHECK(write(fd, data, size) == (ssize_t)size);
        if (length > 0)
                CHECK(ftruncate(fd, length) == 0);
        (void)close(fd);
}

static void remove_at(const char *name) {
        char path[128];

        (void)snprintf(path, sizeof(path), "%s/%s", store, name);
        (void)unlink(path);
}

static void build(struct fuzz_cursor *c) {
        uint8_t mask = fuzz_u8(c);
        off_t part = fuzz_u16(c);

        /* open creates the directories; a fresh store gets them here. */
        for (size_t i = 0; i < UMC_ELEMENTSOF(dirs); i++) {
                char path[128];

                (void)snprintf(path, sizeof(path), "%s/%s", store, dirs[i]);
                (void)mkdir(path, 0700);
        }
        for (size_t i = 0; i < 5; i++) {
                const uint8_t *p;
                size_t n;

                if (!(mask & (1u << i))) {
                        remove_at(files[i]);
                        continue;
                }
                n = fuzz_bytes(c, fuzz_u16(c), &p);
                write_at(files[i], p, n, 0);
        }
        for (size_t i = 0; i < 3; i++) {
                if (mask & (1u << (5 + i)))
                        write_at(images[i], NULL, 0, i == 2 ? part : 1);
                else
                        remove_at(images[i]);
        }
}

struct view {
        int r;
        char active, previous;
        char version[UMC_SLOT_VERSION_MAX + 1];
};

static struct view open_store(void) {
        struct umc_slots *s = NULL;
        struct view v = { .previous = '-' };
        const char *version = NULL;
        char slot = 0;

        v.r = umc_slots_open(store, &s, NULL);
        CHECK(v.r == 0 || v.r == -EBADMSG);
        if (v.r < 0)
                return v;
        CHECK(umc_slots_active(s, &slot, &version) == 0);
        CHECK(slot == 'a' || slot == 'b');
        v.active = slot;
        if (version) {
                CHECK(umc_slots_version_valid(version));
                (void)snprintf(v.version, sizeof(v.version), "%s", version);
        }
        if (umc_slots_previous(s, &slot, &version) == 0) {
                CHECK(slot != v.active && (slot == 'a' || slot == 'b'));
                v.previous = slot;
        }
        umc_slots_close(s);
        return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct fuzz_cursor c = { data, size };
        struct view first, second;

        build(&c);
        first = open_store();
        second = open_store();
        CHECK(first.r == second.r && first.active == second.active &&
              first.previous == second.previous && strcmp(first.version, second.version) == 0);
        return 0;
}
