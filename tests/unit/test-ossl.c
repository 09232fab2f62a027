/* SPDX-License-Identifier: MIT */
/* OpenSSL algorithms fetched once: the same object every time, NULL for what no provider has. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "umc/ossl.h"

static void test_second_call_returns_the_cached_object(void **state) {
        static struct umc_ossl_cache md, mac, kdf, cipher;
        EVP_MD *m = umc_ossl_md(&md, "SHA256");
        EVP_MAC *h = umc_ossl_mac(&mac, "HMAC");
        EVP_KDF *k = umc_ossl_kdf(&kdf, "HKDF");
        EVP_CIPHER *c = umc_ossl_cipher(&cipher, "AES-128-GCM");

        assert_non_null(m);
        assert_non_null(h);
        assert_non_null(k);
        assert_non_null(c);
        assert_ptr_equal(umc_ossl_md(&md, "SHA256"), m);
        assert_ptr_equal(umc_ossl_mac(&mac, "HMAC"), h);
        assert_ptr_equal(umc_ossl_kdf(&kdf, "HKDF"), k);
        assert_ptr_equal(umc_ossl_cipher(&cipher, "AES-128-GCM"), c);
        assert_int_equal(EVP_MD_get_size(m), 32);
}

static void test_unknown_algorithm_is_null_and_not_cached(void **state) {
        static struct umc_ossl_cache md;

        assert_null(umc_ossl_md(&md, "NO-SUCH-DIGEST"));
        /* Nothing was kept: the next call with a real name fetches it. */
        assert_non_null(umc_ossl_md(&md, "SHA512"));
        assert_int_equal(EVP_MD_get_size(umc_ossl_md(&md, "SHA512")), 64);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_second_call_returns_the_cached_object),
                cmocka_unit_test(test_unknown_algorithm_is_null_and_not_cached),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
