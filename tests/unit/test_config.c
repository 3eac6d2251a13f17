/* Unit tests of server/config.c: defaults, flag and environment forms,
 * precedence, validation messages naming the setting, rules and
 * threshold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "config.h"

static int parse(struct rx_config *c, struct rx_error_detail *d, int argc,
                 char **argv)
{
    rx_config_init(c);
    memset(d, 0, sizeof(*d));
    return rx_config_parse(c, argc, argv, d);
}

static void clear_env(void)
{
    static const char *const names[] = {
        "REPOEXFIL_LISTEN",     "REPOEXFIL_WORKERS",
        "REPOEXFIL_THRESHOLD",  "REPOEXFIL_RULES",
        "REPOEXFIL_API_TOKENS", "REPOEXFIL_ALLOW_QUERY_TOKEN",
        "REPOEXFIL_MAX_EVENTS", "REPOEXFIL_HMAC_SECRET"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
}

static void test_defaults(void **state)
{
    (void)state;
    clear_env();
    struct rx_config c;
    struct rx_error_detail d;
    char *argv[] = {"serve"};
    assert_int_equal(parse(&c, &d, 1, argv), 0);
    assert_string_equal(c.listen, "0.0.0.0:8080");
    struct sockaddr_in *v4 = (struct sockaddr_in *)&c.listen_addr;
    assert_int_equal(v4->sin_family, AF_INET);
    assert_int_equal(ntohs(v4->sin_port), 8080);
    assert_true(c.workers >= 1);
    assert_int_equal(c.threshold, 2);
    assert_int_equal(c.rules.threshold, 2);
    assert_int_equal(c.max_body_bytes, 16777216);
    assert_int_equal(c.max_events, 100000);
    assert_int_equal(c.api_token_count, 0);
    assert_null(c.hmac_secret);
    assert_false(c.allow_query_token);
    assert_int_equal(c.drain_seconds, 20);
    assert_int_equal(c.dispatch.alert_queue, 10000);
    assert_int_equal(c.dispatch.suppress_seconds, 600);
    assert_int_equal(c.log_level, RX_LOG_INFO);
    rx_config_cleanup(&c);
}

static void test_forms_and_precedence(void **state)
{
    (void)state;
    clear_env();
    struct rx_config c;
    struct rx_error_detail d;
    setenv("REPOEXFIL_WORKERS", "5", 1);
    setenv("REPOEXFIL_MAX_EVENTS", "7", 1);
    char *argv[] = {"serve",
                    "--workers",
                    "3",
                    "--listen=[::1]:0",
                    "--allow-query-token",
                    "--api-tokens",
                    " a1 ,b2,, c3 ",
                    "--log-level=debug"};
    assert_int_equal(parse(&c, &d, 8, argv), 0);
    assert_int_equal(c.workers, 3);    /* the flag wins */
    assert_int_equal(c.max_events, 7); /* the environment applies */
    assert_int_equal(c.listen_addr.ss_family, AF_INET6);
    assert_true(c.allow_query_token);
    assert_int_equal(c.api_token_count, 3);
    assert_string_equal(c.api_tokens[0], "a1");
    assert_string_equal(c.api_tokens[1], "b2");
    assert_string_equal(c.api_tokens[2], "c3");
    assert_int_equal(c.log_level, RX_LOG_DEBUG);
    rx_config_cleanup(&c);

    char *argv2[] = {"serve", "--allow-query-token", "false", "--drain-seconds",
                     "9"};
    assert_int_equal(parse(&c, &d, 5, argv2), 0);
    assert_false(c.allow_query_token);
    assert_int_equal(c.drain_seconds, 9);
    assert_int_equal(c.dispatch.drain_seconds, 9);
    rx_config_cleanup(&c);
    clear_env();
}

static void expect_error(char **argv, int argc, const char *name)
{
    struct rx_config c;
    struct rx_error_detail d;
    int rc = parse(&c, &d, argc, argv);
    assert_true(rc < 0);
    if (!strstr(d.message, name))
        fail_msg("message \"%s\" does not name %s", d.message, name);
    rx_config_cleanup(&c);
}

static void test_errors_name_the_setting(void **state)
{
    (void)state;
    clear_env();
    char *a1[] = {"serve", "--workers", "0"};
    expect_error(a1, 3, "--workers");
    char *a2[] = {"serve", "--threshold=9"};
    expect_error(a2, 2, "threshold");
    char *a3[] = {"serve", "--listen", "example.com:80"};
    expect_error(a3, 3, "--listen");
    char *a4[] = {"serve", "--listen", "127.0.0.1:70000"};
    expect_error(a4, 3, "--listen");
    char *a5[] = {"serve", "--bogus"};
    expect_error(a5, 2, "--bogus");
    char *a6[] = {"serve", "--max-body-bytes"};
    expect_error(a6, 2, "--max-body-bytes");
    char *a7[] = {"serve", "stray"};
    expect_error(a7, 2, "stray");
    char *a8[] = {"serve", "--allow-query-token"};
    expect_error(a8, 2, "--allow-query-token");
    char *a9[] = {"serve", "--rules", "/nonexistent/rules.json"};
    expect_error(a9, 3, "--rules");
    char *a10[] = {"serve", "--slack-min-score", "4"};
    expect_error(a10, 3, "--slack-min-score");
    setenv("REPOEXFIL_WORKERS", "many", 1);
    char *a11[] = {"serve"};
    expect_error(a11, 1, "REPOEXFIL_WORKERS");
    clear_env();
}

static void test_rules_and_threshold(void **state)
{
    (void)state;
    clear_env();
    char path[] = "/tmp/rx-test-rules-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "{\"threshold\": 3, \"git_images\": [\"g.exe\"]}";
    assert_int_equal(write(fd, text, sizeof(text) - 1),
                     (ssize_t)(sizeof(text) - 1));
    close(fd);
    struct rx_config c;
    struct rx_error_detail d;
    char *a1[] = {"serve", "--rules", path};
    assert_int_equal(parse(&c, &d, 3, a1), 0);
    assert_int_equal(c.threshold, 3);
    assert_int_equal(c.rules.lists[RX_L_GIT_IMAGES].count, 1);
    rx_config_cleanup(&c);
    /* --threshold wins over the file, whatever the order. */
    char *a2[] = {"serve", "--threshold", "1", "--rules", path};
    assert_int_equal(parse(&c, &d, 5, a2), 0);
    assert_int_equal(c.threshold, 1);
    assert_int_equal(c.rules.threshold, 1);
    rx_config_cleanup(&c);
    unlink(path);
}

static void test_to_json_hides_secrets(void **state)
{
    (void)state;
    clear_env();
    struct rx_config c;
    struct rx_error_detail d;
    char *argv[] = {"serve", "--api-tokens", "topsecret1", "--hmac-secret",
                    "topsecret2"};
    assert_int_equal(parse(&c, &d, 5, argv), 0);
    json_t *j = rx_config_to_json(&c);
    assert_non_null(j);
    char *s = json_dumps(j, 0);
    assert_null(strstr(s, "topsecret"));
    assert_non_null(strstr(s, "\"hmac_secret\": \"set\""));
    free(s);
    json_decref(j);
    rx_config_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_forms_and_precedence),
        cmocka_unit_test(test_errors_name_the_setting),
        cmocka_unit_test(test_rules_and_threshold),
        cmocka_unit_test(test_to_json_hides_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
