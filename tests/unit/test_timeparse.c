/* Unit tests of detection/timeparse.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "timeparse.h"

static int64_t P(const char *s)
{
    int64_t ms = -42;
    if (!rx_time_parse_iso(s, strlen(s), &ms))
        return INT64_MIN;
    return ms;
}

static void test_iso(void **state)
{
    (void)state;
    assert_int_equal(P("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(P("2023-11-14T22:13:20.123Z"), 1700000000123LL);
    assert_int_equal(P("2023-11-14T22:13:20.1239999Z"), 1700000000123LL);
    assert_int_equal(P("2023-11-14T22:13:20.123456789Z"), 1700000000123LL);
    assert_int_equal(P("2023-11-14 22:13:20.123"), 1700000000123LL);
    assert_int_equal(P("2023-11-15T00:13:20.123+02:00"), 1700000000123LL);
    assert_int_equal(P("2023-11-14T17:13:20.123-0500"), 1700000000123LL);
    assert_int_equal(P("2023-11-14T22:13:20.5Z"), 1700000000500LL);
    assert_int_equal(P("2023-11-14T22:13"), 1699999980000LL);
    assert_int_equal(P("2024-02-29T00:00:00Z"), 1709164800000LL);
    assert_int_equal(P("1969-12-31T23:59:59.999Z"), -1);
    assert_int_equal(P("not a time"), INT64_MIN);
    assert_int_equal(P("2023-13-01T00:00:00Z"), INT64_MIN);
    assert_int_equal(P("2023-11-14T22:13:20Zjunk"), INT64_MIN);
    assert_int_equal(P("2023-11-14"), INT64_MIN);
    assert_int_equal(P(""), INT64_MIN);
}

static void test_int(void **state)
{
    (void)state;
    int64_t v;
    assert_true(rx_time_parse_int("1700000000123", 13, &v));
    assert_int_equal(v, 1700000000123LL);
    assert_false(rx_time_parse_int("17x", 3, &v));
    assert_false(rx_time_parse_int("", 0, &v));
    assert_false(rx_time_parse_int("99999999999999999999", 20, &v));
}

static void test_format(void **state)
{
    (void)state;
    char out[32];
    rx_time_format_iso(1700000000123LL, out);
    assert_string_equal(out, "2023-11-14T22:13:20.123Z");
    rx_time_format_iso(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
