/* SPDX-License-Identifier: MIT */
/*
 * Per-ECU image encryption (STREAM over AES-256-GCM): known answers
 * computed independently (Python's "cryptography" package: HKDF and
 * AESGCM), round trips at every segment boundary, and every way a sealed
 * file can be cut, reordered, extended or opened with the wrong key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <sys/mman.h>

#include "umc/fs.h"
#include "umc/pkgenc.h"
#include "umc/util.h"

static uint8_t pkg_key[32], salt[32];

static int setup(void **state) {
        for (int i = 0; i < 32; i++) {
                pkg_key[i] = (uint8_t)i;
                salt[i] = (uint8_t)(32 + i);
        }
        return 0;
}

static struct umc_key derive(uint32_t ecu_id, const char *target) {
        struct umc_key k;

        assert_int_equal(umc_pkgenc_derive(pkg_key, salt, ecu_id, target, &k), 0);
        return k;
}

static int memfd(const void *data, size_t len) {
        int fd = memfd_create("pkgenc", MFD_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(umc_fs_write_all(fd, data, len), 0);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

static uint8_t *slurp(int fd, size_t *ret_len) {
        off_t end = lseek(fd, 0, SEEK_END);
        uint8_t *buf = malloc((size_t)end + 1);

        assert_non_null(buf);
        assert_int_equal(pread(fd, buf, (size_t)end, 0), end);
        *ret_len = (size_t)end;
        return buf;
}

static void test_known_answers(void **state) {
        struct umc_key k = derive(0x10, "bcm");
        uint8_t want_key[32], want_ct[21], nonce[12], out[21];
        uint8_t big_sha[32], want_big[32];
        _cleanup_close_ int in = -1, out_fd = -1;
        uint8_t *big = malloc(65537);
        uint64_t plain, sealed;

        assert_int_equal(umc_hex_decode("819c5afbccdeba0be5a53eb4d4521be1394b6fad77aa81e4ba55124894693dd7",
                                        64, want_key, 32), 0);
        assert_memory_equal(k.bytes, want_key, 32);
        assert_int_equal(k.suite, UMC_SUITE_AES_256_GCM);
        umc_pkgenc_nonce(0, true, nonce);
        assert_int_equal(umc_cipher_seal(&k, nonce, NULL, 0, (const uint8_t *)"hello", 5, out), 0);
        assert_int_equal(umc_hex_decode("9d5b53c3a406fd38033045f1880851c9cf7f2d19dd", 42, want_ct,
                                        21), 0);
        assert_memory_equal(out, want_ct, 21);
        /* Two segments: 65536 x 'a' then "b", whole file's SHA-256. */
        memset(big, 'a', 65536);
        big[65536] = 'b';
        in = memfd(big, 65537);
        out_fd = memfd_create("sealed", MFD_CLOEXEC);
        assert_int_equal(umc_pkgenc_seal_fd(&k, in, out_fd, UINT64_MAX, &plain, NULL, &sealed,
                                            big_sha), 0);
        assert_int_equal(plain, 65537);
        assert_int_equal(sealed, 65569);
        assert_int_equal(umc_hex_decode("ea2717291e51ad8a237b400ecba2a5cbec92d4695d0147c7020db63bbcbd8757",
                                        64, want_big, 32), 0);
        assert_memory_equal(big_sha, want_big, 32);
        free(big);
        umc_key_clear(&k);
}

static void test_sizes(void **state) {
        uint64_t v;

        assert_int_equal(umc_pkgenc_sealed_size(1, &v), 0);
        assert_int_equal(v, 17);
        assert_int_equal(umc_pkgenc_sealed_size(65536, &v), 0);
        assert_int_equal(v, 65552);
        assert_int_equal(umc_pkgenc_sealed_size(65537, &v), 0);
        assert_int_equal(v, 65569);
        assert_int_equal(umc_pkgenc_sealed_size(0, &v), -EINVAL);
        assert_int_equal(umc_pkgenc_sealed_size(UINT64_MAX, &v), -EOVERFLOW);
        assert_int_equal(umc_pkgenc_plain_size(65569, &v), 0);
        assert_int_equal(v, 65537);
        assert_int_equal(umc_pkgenc_plain_size(65552, &v), 0);
        assert_int_equal(v, 65536);
        /* A last segment of only a tag, or less, is no sealed length. */
        assert_int_equal(umc_pkgenc_plain_size(65552 + 16, &v), -EINVAL);
        assert_int_equal(umc_pkgenc_plain_size(16, &v), -EINVAL);
        assert_int_equal(umc_pkgenc_plain_size(0, &v), -EINVAL);
}

/* Seal n bytes of a pattern; return the sealed file's bytes. */
static uint8_t *seal(const struct umc_key *k, size_t n, size_t *ret_len, uint8_t plain_sha[32]) {
        uint8_t *pt = malloc(n);
        _cleanup_close_ int in = -1, out = -1;
        uint64_t plain, sealed;

        for (size_t i = 0; i < n; i++)
                pt[i] = (uint8_t)(i * 7 + i / 251);
        in = memfd(pt, n);
        out = memfd_create("sealed", MFD_CLOEXEC);
        assert_int_equal(umc_pkgenc_seal_fd(k, in, out, UINT64_MAX, &plain, plain_sha, &sealed,
                                            NULL), 0);
        assert_int_equal(plain, n);
        free(pt);
        {
                uint8_t *buf = slurp(out, ret_len);
                assert_int_equal(*ret_len, sealed);
                return buf;
        }
}

static int open_buf(const struct umc_key *k, const uint8_t *buf, size_t len, uint64_t announced,
                    uint8_t sha[32]) {
        _cleanup_close_ int in = memfd(buf, len);
        uint64_t plain;

        return umc_pkgenc_open_fd(k, in, announced, -1, &plain, sha);
}

static void test_round_trip_at_segment_boundaries(void **state) {
        static const size_t sizes[] = { 1, 15, 16, 17, 65535, 65536, 65537, 131072, 200000 };
        struct umc_key k = derive(7, "gw");

        for (size_t i = 0; i < UMC_ELEMENTSOF(sizes); i++) {
                uint8_t psha[32], osha[32];
                _cleanup_close_ int in = -1, out = -1;
                size_t len, back_len;
                uint8_t *buf = seal(&k, sizes[i], &len, psha), *back;
                uint64_t expect, plain;

                assert_int_equal(umc_pkgenc_sealed_size(sizes[i], &expect), 0);
                assert_int_equal(len, expect);
                in = memfd(buf, len);
                out = memfd_create("plain", MFD_CLOEXEC);
                assert_int_equal(umc_pkgenc_open_fd(&k, in, len, out, &plain, osha), 0);
                assert_int_equal(plain, sizes[i]);
                assert_memory_equal(psha, osha, 32);
                back = slurp(out, &back_len);
                assert_int_equal(back_len, sizes[i]);
                assert_int_equal(back[back_len - 1], (uint8_t)((sizes[i] - 1) * 7 + (sizes[i] - 1) / 251));
                free(back);
                free(buf);
        }
        umc_key_clear(&k);
}

static void test_every_manipulation_fails_authentication(void **state) {
        struct umc_key k = derive(7, "gw"), other_ecu = derive(8, "gw"), other_target = derive(7, "gx");
        uint8_t sha[32];
        size_t len;
        uint8_t *buf = seal(&k, 3 * 65536 + 100, &len, sha), *copy = malloc(len + 1);
        const size_t seg = 65552;

        assert_int_equal(open_buf(&k, buf, len, len, sha), 0);
        /* One flipped bit anywhere: first segment, last tag. */
        memcpy(copy, buf, len);
        copy[10] ^= 1;
        assert_int_equal(open_buf(&k, copy, len, len, sha), -EBADMSG);
        memcpy(copy, buf, len);
        copy[len - 1] ^= 0x80;
        assert_int_equal(open_buf(&k, copy, len, len, sha), -EBADMSG);
        /* Cut at a segment boundary: the new last segment lacks the last flag. */
        assert_int_equal(open_buf(&k, buf, 3 * seg, 3 * seg, sha), -EBADMSG);
        /* Segments 0 and 1 swapped. */
        memcpy(copy, buf + seg, seg);
        memcpy(copy + seg, buf, seg);
        memcpy(copy + 2 * seg, buf + 2 * seg, len - 2 * seg);
        assert_int_equal(open_buf(&k, copy, len, len, sha), -EBADMSG);
        /* A byte beyond the announced size, or the file shorter than announced. */
        memcpy(copy, buf, len);
        copy[len] = 0;
        assert_int_equal(open_buf(&k, copy, len + 1, len, sha), -EBADMSG);
        assert_int_equal(open_buf(&k, buf, len - 1, len, sha), -EBADMSG);
        /* Another ECU's or another target's key. */
        assert_int_equal(open_buf(&other_ecu, buf, len, len, sha), -EBADMSG);
        assert_int_equal(open_buf(&other_target, buf, len, len, sha), -EBADMSG);
        free(copy);
        free(buf);
        umc_key_clear(&k);
        umc_key_clear(&other_ecu);
        umc_key_clear(&other_target);
}

static void test_seal_limits(void **state) {
        struct umc_key k = derive(7, "gw");
        uint8_t data[100] = {};
        _cleanup_close_ int empty = memfd(data, 0), in = memfd(data, 100), out = -1;

        out = memfd_create("sealed", MFD_CLOEXEC);
        assert_int_equal(umc_pkgenc_seal_fd(&k, empty, out, UINT64_MAX, NULL, NULL, NULL, NULL),
                         -EINVAL);
        assert_int_equal(umc_pkgenc_seal_fd(&k, in, out, 99, NULL, NULL, NULL, NULL), -EFBIG);
        assert_int_equal(umc_pkgenc_derive(pkg_key, salt, 1, "", &k), -EINVAL);
        umc_key_clear(&k);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_known_answers),
                cmocka_unit_test(test_sizes),
                cmocka_unit_test(test_round_trip_at_segment_boundaries),
                cmocka_unit_test(test_every_manipulation_fails_authentication),
                cmocka_unit_test(test_seal_limits),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
