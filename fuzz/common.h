/* SPDX-License-Identifier: MIT */
/*
 * What every libFuzzer target in fuzz/ shares: the entry points libFuzzer
 * (or fuzz/replay.c) calls, a CHECK that aborts on a broken property, a
 * cursor that cuts an input into fields, and two ways to hand an input to
 * a loader that reads a path (a memfd for fopen(), a private 0600 file for
 * loaders that refuse symbolic links). Nothing here frees what it returns:
 * each object lives as long as the process, one per target.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(cond)                                                                  \
        do {                                                                         \
                if (!(cond)) {                                                       \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,       \
                                __LINE__, #cond);                                    \
                        abort();                                                     \
                }                                                                    \
        } while (0)

/* Reads fields off the front of an input; past its end every read gives zeros. */
struct fuzz_cursor {
        const uint8_t *p;
        size_t left;
};

uint8_t fuzz_u8(struct fuzz_cursor *c);
uint16_t fuzz_u16(struct fuzz_cursor *c);
uint32_t fuzz_u32(struct fuzz_cursor *c);
/* Up to max bytes (fewer at the end of the input) into *ret_p; returns how many. */
size_t fuzz_bytes(struct fuzz_cursor *c, size_t max, const uint8_t **ret_p);

/*
 * want (mkdir 0700) if it is a directory of ours that only we can enter,
 * else a fresh private want-XXXXXX: a directory in /tmp or /dev/shm that
 * another user made first is never used.
 */
const char *fuzz_private_dir(const char *want);

/*
 * A fresh private directory want-XXXXXX for this process alone, removed
 * with its content at exit: two fuzzers, or a fuzzer and make check's
 * replay, never share a store they rebuild on every input.
 */
const char *fuzz_scratch_dir(const char *want);

/*
 * The private directory of the fuzzers, normally /tmp/umc-fuzz, holding
 * "key": a valid key file (64 hex digits, 0600) that the config seeds name
 * as KeyFile=/tmp/umc-fuzz/key (in a fallback directory they do not find
 * it, and only the key file checks fail).
 */
#define FUZZ_DIR "/tmp/umc-fuzz"
const char *fuzz_dir(void);

/* Replace the content of one memfd with data; returns "/proc/self/fd/N" for fopen(). */
const char *fuzz_memfd_path(const uint8_t *data, size_t size);

/* Replace the content of NAME (a regular 0600 file in a private directory on tmpfs) with data; returns its path. */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);
