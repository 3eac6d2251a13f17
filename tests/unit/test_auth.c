/* Unit tests of server/auth.c: bearer tokens, query tokens and the
 * X-Signature-256 HMAC check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "xalloc.h"

static void setup_config(struct rx_config *c)
{
    rx_config_init(c);
    c->api_tokens = rx_xcalloc(2, sizeof(char *));
    c->api_tokens[0] = rx_xstrdup("old-token");
    c->api_tokens[1] = rx_xstrdup("new-token");
    c->api_token_count = 2;
    c->hmac_secret = rx_xstrdup("key");
}

static void test_bearer(void **state)
{
    (void)state;
    struct rx_config c;
    setup_config(&c);
    assert_true(rx_auth_required(&c));
    assert_true(rx_auth_bearer_ok(&c, "Bearer old-token"));
    assert_true(rx_auth_bearer_ok(&c, "bearer  new-token "));
    assert_false(rx_auth_bearer_ok(&c, "Bearer new-toke"));
    assert_false(rx_auth_bearer_ok(&c, "Bearer new-tokenx"));
    assert_false(rx_auth_bearer_ok(&c, "Basic new-token"));
    assert_false(rx_auth_bearer_ok(&c, "Bearer "));
    assert_false(rx_auth_bearer_ok(&c, NULL));
    assert_true(rx_auth_token_ok(&c, "new-token"));
    assert_false(rx_auth_token_ok(&c, ""));
    assert_false(rx_auth_token_ok(&c, NULL));
    rx_config_cleanup(&c);
}

static void test_signature(void **state)
{
    (void)state;
    struct rx_config c;
    setup_config(&c);
    /* RFC 4231-style known answer: HMAC-SHA256("key", the fox). */
    const char msg[] = "The quick brown fox jumps over the lazy dog";
    const char good[] = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a1494"
                        "6175997479dbc2d1a3cd8";
    assert_true(rx_auth_signature_ok(&c, good, msg, strlen(msg)));
    assert_true(rx_auth_signature_ok(&c,
                                     "SHA256=F7BC83F430538424B13298E6AA"
                                     "6FB143EF4D59A14946175997479DBC2D1"
                                     "A3CD8",
                                     msg, strlen(msg)));
    assert_false(rx_auth_signature_ok(&c, good, msg, strlen(msg) - 1));
    assert_false(rx_auth_signature_ok(&c, "sha256=00", msg, strlen(msg)));
    assert_false(rx_auth_signature_ok(&c, "sha1=f7bc", msg, strlen(msg)));
    assert_false(rx_auth_signature_ok(&c, NULL, msg, strlen(msg)));
    free(c.hmac_secret);
    c.hmac_secret = NULL;
    assert_false(rx_auth_signature_ok(&c, good, msg, strlen(msg)));
    rx_config_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_signature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
