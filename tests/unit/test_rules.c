/* Unit tests of detection/rules.c: defaults, loading and its errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rules.h"

static void test_defaults(void **state)
{
    (void)state;
    struct rx_rules r;
    assert_int_equal(rx_rules_init_defaults(&r), 0);
    assert_int_equal(r.threshold, 2);
    assert_int_equal(r.lists[RX_L_REPO_DOMAINS_NETWORK].count, 6);
    assert_int_equal(r.lists[RX_L_NETWORK_IMAGES].count, 9);
    assert_int_equal(r.lists[RX_L_UPLOAD_MARKERS].count, 8);
    assert_string_equal(r.lists[RX_L_UPLOAD_MARKERS].lower[4],
                        "invoke-restmethod");
    assert_string_equal(r.lists[RX_L_UPLOAD_MARKERS].items[4],
                        "Invoke-RestMethod");
    json_t *j = rx_rules_to_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "threshold")), 2);
    assert_int_equal(json_array_size(json_object_get(j, "git_images")), 1);
    assert_non_null(json_object_get(j, "ci_system_regex"));
    json_decref(j);
    rx_rules_cleanup(&r);
}

/* Loads text; expects failure with a message containing each of the
 * given fragments, and the rules unchanged. */
static void expect_error(const char *text, const char *frag1,
                         const char *frag2)
{
    struct rx_rules r;
    assert_int_equal(rx_rules_init_defaults(&r), 0);
    struct rx_error_detail d;
    memset(&d, 0, sizeof(d));
    int rc = rx_rules_load(&r, text, strlen(text), "rules.json", &d);
    assert_int_equal(rc, RX_EBADRULES);
    if (strstr(d.message, frag1) == NULL || (frag2 && !strstr(d.message, frag2)))
        fail_msg("message \"%s\" lacks \"%s\"/\"%s\"", d.message, frag1,
                 frag2 ? frag2 : "");
    assert_int_equal(r.lists[RX_L_GIT_IMAGES].count, 1);
    assert_int_equal(r.threshold, 2);
    rx_rules_cleanup(&r);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("{\"git_images\": [\"x\"],\n \"bogus\": 1}", "\"bogus\"",
                 "rules.json:2:2");
    expect_error("{\"git_images\": []}", "git_images", "must not be empty");
    expect_error("{\"git_images\": \"git.exe\"}", "git_images", "array");
    expect_error("{\"git_images\": [1]}", "git_images", "entry 0");
    expect_error("{\"git_images\": [\"\"]}", "git_images", "non-empty");
    expect_error("{\"ci_system_regex\": \"(unclosed\"}", "ci_system_regex",
                 "offset");
    expect_error("{\"known_ide_regex\": 5}", "known_ide_regex", NULL);
    expect_error("{\"threshold\": 4}", "threshold", "1, 2 or 3");
    expect_error("{\"threshold\": \"2\"}", "threshold", NULL);
    expect_error("{\"git_images\": [\"a\"] ", "malformed JSON", "rules.json:1");
    expect_error("[1,2]", "JSON object", NULL);
    expect_error("{\"threshold\": 1, \"threshold\": 2}", "malformed JSON",
                 "duplicate");
}

static void test_load_replaces_only_named(void **state)
{
    (void)state;
    struct rx_rules r;
    assert_int_equal(rx_rules_init_defaults(&r), 0);
    const char *t = "{\"repo_domains_network\": [\"Example.ORG.\"],"
                    "\"known_ide_regex\": \"vim\", \"threshold\": 3}";
    struct rx_error_detail d;
    assert_int_equal(rx_rules_load(&r, t, strlen(t), "f", &d), 0);
    assert_int_equal(r.lists[RX_L_REPO_DOMAINS_NETWORK].count, 1);
    assert_string_equal(r.lists[RX_L_REPO_DOMAINS_NETWORK].lower[0],
                        "example.org");
    assert_string_equal(r.lists[RX_L_REPO_DOMAINS_NETWORK].items[0],
                        "Example.ORG.");
    assert_int_equal(r.lists[RX_L_GIT_IMAGES].count, 1);
    assert_string_equal(r.known_ide_regex, "vim");
    assert_int_equal(r.threshold, 3);
    assert_int_equal(rx_rules_set_threshold(&r, 0, &d), RX_EBADRULES);
    assert_int_equal(rx_rules_set_threshold(&r, 1, &d), 0);
    assert_int_equal(r.threshold, 1);
    rx_rules_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_load_replaces_only_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
