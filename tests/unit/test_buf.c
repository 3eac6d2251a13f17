/* Unit tests of detection/buf.c: caps and JSON string writing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"

static void test_cap(void **state)
{
    (void)state;
    struct rx_buf b;
    rx_buf_init(&b, 10);
    assert_int_equal(rx_buf_puts(&b, "0123456789"), 0);
    assert_int_equal(rx_buf_puts(&b, "x"), RX_ETOOBIG);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "0123456789");
    rx_buf_reset(&b);
    assert_int_equal(rx_buf_printf(&b, "%d-%s", 42, "abc"), 0);
    assert_string_equal(b.data, "42-abc");
    assert_int_equal(rx_buf_printf(&b, "%s", "too long for it"), RX_ETOOBIG);
    rx_buf_cleanup(&b);
}

static void test_json_string(void **state)
{
    (void)state;
    struct rx_buf b;
    rx_buf_init(&b, 0);
    const char in[] = "a\"b\\c\n\t\x01 \xC3\xA9 \xFF end";
    assert_int_equal(rx_buf_json_string(&b, in, sizeof(in) - 1), 0);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001 \xC3\xA9 "
                                "\xEF\xBF\xBD end\"");
    json_error_t e;
    json_t *j = json_loads(b.data, JSON_DECODE_ANY, &e);
    assert_non_null(j); /* always valid JSON, even from invalid UTF-8 */
    json_decref(j);
    size_t len;
    char *s = rx_buf_steal(&b, &len);
    assert_int_equal(len, strlen(s));
    free(s);
    assert_null(b.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_json_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
