/* SPDX-License-Identifier: MIT */
/*
 * umc-pack, the backend's tool: build a signed package from a short
 * description, verify one with exactly the checks a device makes
 * (package.h gives their order), and show what one holds. man/umc-pack.1
 * documents the command line and the description file; docs/package.md
 * the package itself.
 *
 * Ownership: struct umc_pack_args owns its strings and its ecus array;
 * umc_pack_args_free() releases them and accepts a zeroed struct.
 * Results go to the out stream, diagnostics to err.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "umc/ecu.h"

/* Exit codes, as man/umc-pack.1 documents them. */
enum umc_pack_exit {
        UMC_PACK_EXIT_OK = 0,
        UMC_PACK_EXIT_REFUSED = 1,   /* verify: a check refused the package */
        UMC_PACK_EXIT_USAGE = 2,     /* bad command line */
        UMC_PACK_EXIT_FAILED = 3,    /* bad input file, I/O error: nothing was written */
};

enum umc_pack_command {
        UMC_PACK_HELP = 0,
        UMC_PACK_CREATE,
        UMC_PACK_VERIFY,
        UMC_PACK_INSPECT,
        UMC_PACK_VERSION, /* --version */
};

/* One --ecu: the identity an ECU checks the package against. */
struct umc_pack_ecu {
        uint32_t ecu_id;
        char hw_id[UMC_HWID_MAX + 1];
        uint64_t installed;          /* installed security version (0: factory) */
        char *key_file;              /* owned; NULL: do not decrypt */
};

/*
 * create: the feature code to seal into the manifest (featcode.h) under
 * the device class's feature key; verify: the device's code and key the
 * sealed one must match. Strings borrowed.
 */
struct umc_pack_feature {
        const char *code;
        const char *key_file;
        const char *key_id;          /* create only; NULL: UMC_PACK_FEATURE_KEY_ID_DEFAULT */
};

#define UMC_PACK_FEATURE_KEY_ID_DEFAULT "default"

struct umc_pack_args {
        enum umc_pack_command command;
        /* create */
        char *description, *cert, *key, *chain, *output;
        /* verify, inspect */
        char *package;
        char *anchor, *crl;
        int64_t now;                 /* --time, else the clock */
        char *vehicle_model, *hw_revision;
        /* create and verify: --feature-code, --feature-key; create: --feature-key-id */
        char *feature_code, *feature_key, *feature_key_id;
        struct umc_pack_ecu *ecus;   /* owned */
        size_t n_ecus;
};

/*
 * Parse argv into *ret (written only on success). Returns 0, -EINVAL after
 * writing what is wrong to err, or -ENOMEM.
 */
int umc_pack_parse_args(int argc, char *argv[], struct umc_pack_args *ret, FILE *err);

void umc_pack_args_free(struct umc_pack_args *a);

void umc_pack_help(FILE *out);

/* Run a's command. Returns the exit code (enum umc_pack_exit), not an errno. */
int umc_pack_run(const struct umc_pack_args *a, FILE *out, FILE *err);

/*
 * Build the package the description file describes into the directory
 * output, which must not exist: everything is written into a temporary
 * sibling directory, synced, checked by parsing it back, and renamed to
 * output last, so output is complete or absent. feature (may be NULL:
 * none) adds a sealed "feature_code". 0, or a negative errno with why
 * naming the file, section and key at fault.
 */
int umc_pack_create(const char *description, const char *cert, const char *key, const char *chain,
                    const struct umc_pack_feature *feature, const char *output, char *why,
                    size_t why_size);
