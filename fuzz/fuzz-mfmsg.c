/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for MANIFEST frame bodies (mfmsg.h) and their assembly
 * on the ECU. Input: a sequence of bodies, each a 2-byte big-endian length
 * and that many bytes (what the receiver gets, one body per frame, before
 * BEGIN). Properties, beyond no crash under ASan/UBSan:
 *  - umc_mfmsg_decode() returns 0 or -EBADMSG; an accepted body's data
 *    lies inside the input and inside manifest || signature, the format is
 *    known and both lengths are within their caps;
 *  - a decoded chunk re-encodes to exactly the same bytes;
 *  - umc_mfasm_add() returns 0 or -EBADMSG with BODY_MALFORMED or
 *    OUT_OF_ORDER and then changes nothing; the assembled bytes are
 *    exactly the accepted chunks' data, in order;
 *  - a complete assembly's view has the first chunk's format and lengths.
 */
#include <string.h>

#include "common.h"
#include "umc/mfmsg.h"
#include "umc/util.h"

static uint8_t shadow[UMC_MFMSG_MANIFEST_MAX + UMC_MFMSG_SIG_MAX];
static uint8_t out[UMC_MFMSG_HEADER_LEN + UMC_MFMSG_CHUNK_MAX];

/* Encoding needs the whole manifest: rebuild it around the chunk, zeros elsewhere. */
static void check_reencodes(const struct umc_mfmsg *m, const uint8_t *body, size_t len) {
        static uint8_t whole[UMC_MFMSG_MANIFEST_MAX + UMC_MFMSG_SIG_MAX];
        struct umc_signed_manifest v = {
                .format = (enum umc_mfmsg_format)m->format,
                .manifest = whole,
                .manifest_len = m->manifest_len,
                .sig = whole + m->manifest_len,
                .sig_len = m->sig_len,
        };
        size_t n = 0;
        int r;

        memset(whole, 0, sizeof(whole));
        memcpy(whole + m->offset, m->data, m->data_len);
        r = umc_mfmsg_encode(&v, m->offset, m->data_len, out, sizeof(out), &n);
        CHECK(r >= 0 && (size_t)r == len && n == m->data_len);
        CHECK(memcmp(out, body, len) == 0);
}

static void one_body(struct umc_mfasm *a, const uint8_t *body, size_t len) {
        struct umc_mfasm before = *a;
        enum umc_reason why = UMC_REASON_OK;
        struct umc_mfmsg m;
        int r = umc_mfmsg_decode(body, len, &m);

        CHECK(r == 0 || r == -EBADMSG);
        if (r < 0)
                return;
        CHECK(m.format == UMC_MFMSG_CMS || m.format == UMC_MFMSG_SM2);
        CHECK(m.manifest_len >= 1 && m.manifest_len <= UMC_MFMSG_MANIFEST_MAX);
        CHECK(m.sig_len >= 1 && m.sig_len <= UMC_MFMSG_SIG_MAX);
        CHECK(m.data == body + UMC_MFMSG_HEADER_LEN && m.data_len >= 1);
        CHECK((uint64_t)m.offset + m.data_len <= (uint64_t)m.manifest_len + m.sig_len);
        check_reencodes(&m, body, len);

        r = umc_mfasm_add(a, &m, &why);
        CHECK(r == 0 || r == -EBADMSG);
        if (r < 0) {
                CHECK(why == UMC_REASON_BODY_MALFORMED || why == UMC_REASON_OUT_OF_ORDER);
                /* A refused chunk, the first included, changes nothing. */
                CHECK(a->got == before.got && a->buf == before.buf);
                return;
        }
        memcpy(shadow + m.offset, m.data, m.data_len);
        CHECK(a->got == m.offset + m.data_len);
        CHECK(memcmp(a->buf, shadow, a->got) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct fuzz_cursor c = { .p = data, .left = size };
        struct umc_mfasm a = {};
        struct umc_signed_manifest v;

        while (c.left >= 2) {
                const uint8_t *body;
                size_t want = fuzz_u16(&c);
                size_t n = fuzz_bytes(&c, want, &body);

                one_body(&a, body, n);
        }
        if (umc_mfasm_complete(&a)) {
                CHECK(umc_mfasm_view(&a, &v) == 0);
                CHECK(v.format == a.format && v.manifest_len == a.manifest_len &&
                      v.sig_len == a.sig_len && v.sig == v.manifest + v.manifest_len);
        } else {
                CHECK(umc_mfasm_view(&a, &v) == -ENODATA);
        }
        umc_mfasm_reset(&a);
        return 0;
}
