/* Unit tests of detection/rule.c: the matching helpers and scoring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rule.h"
#include "rules.h"

static struct rx_str S(const char *s)
{
    struct rx_str r = {s, s ? strlen(s) : 0};
    return r;
}

static void test_contains(void **state)
{
    (void)state;
    assert_true(rx_rule_contains(S("curl -x post API.GitHub.com"),
                                 "api.github.com", 14));
    assert_true(rx_rule_contains(S("push"), "push", 4));
    assert_false(rx_rule_contains(S("pus"), "push", 4));
    assert_false(rx_rule_contains(S(""), "push", 4));
    assert_false(rx_rule_contains(S("abc"), "", 0));
}

static void test_host_in_domain(void **state)
{
    (void)state;
    assert_true(rx_rule_host_in_domain(S("github.com"), "github.com", 10));
    assert_true(rx_rule_host_in_domain(S("GitHub.COM."), "github.com", 10));
    assert_true(rx_rule_host_in_domain(S("lb-140-82-113-4-iad.github.com"),
                                       "github.com", 10));
    assert_false(rx_rule_host_in_domain(S("github.com.attacker.net"),
                                        "github.com", 10));
    assert_false(rx_rule_host_in_domain(S("notgithub.com"), "github.com",
                                        10));
    assert_false(rx_rule_host_in_domain(S("gitlab.company.internal"),
                                        "gitlab.com", 10));
    assert_false(rx_rule_host_in_domain(S("."), "github.com", 10));
    assert_false(rx_rule_host_in_domain(S(""), "github.com", 10));
}

static void test_file_name(void **state)
{
    (void)state;
    struct rx_str f = rx_rule_file_name(S("C:\\Program Files\\Git\\git.exe"));
    assert_int_equal(f.n, 7);
    assert_memory_equal(f.p, "git.exe", 7);
    f = rx_rule_file_name(S("/usr/bin/curl.exe"));
    assert_memory_equal(f.p, "curl.exe", 8);
    f = rx_rule_file_name(S("git.exe"));
    assert_int_equal(f.n, 7);
    f = rx_rule_file_name(S("C:\\dir\\"));
    assert_int_equal(f.n, 0);
}

static struct rx_event_view view(long id, const char *image, const char *cmd,
                                 const char *dest, const char *computer,
                                 const char *parent, const char *provider)
{
    struct rx_event_view v;
    rx_event_view_clear(&v);
    v.event_id = id;
    v.f[RX_F_IMAGE] = S(image);
    v.f[RX_F_COMMAND_LINE] = S(cmd);
    v.f[RX_F_DEST_HOST] = S(dest);
    v.f[RX_F_COMPUTER] = S(computer);
    v.f[RX_F_PARENT_IMAGE] = S(parent);
    v.f[RX_F_PROVIDER] = S(provider);
    return v;
}

static void test_scores(void **state)
{
    (void)state;
    struct rx_rules r;
    assert_int_equal(rx_rules_init_defaults(&r), 0);
    struct rx_rule_scratch *s = rx_rule_scratch_new();
    struct rx_verdict vd;
    struct rx_event_view v;

    v = view(3, "C:\\x\\pwsh.exe", NULL, "codeberg.org", "WS1", NULL, NULL);
    rx_rule_evaluate(&r, s, &v, &vd);
    assert_int_equal(vd.score, 2);
    assert_int_equal(vd.signal, RX_SIG_NETWORK);
    assert_true(vd.alert);

    v = view(3, "C:\\x\\pwsh.exe", NULL, "codeberg.org", "WS1",
             "C:\\JetBrains\\idea64.exe", NULL);
    rx_rule_evaluate(&r, s, &v, &vd);
    assert_int_equal(vd.score, 1);
    assert_true(vd.is_known_ide);
    assert_false(vd.alert);

    v = view(1, "git.exe", "git push origin https://dev.azure.com/o/p",
             NULL, "TeamCity-Agent7", NULL, "Microsoft-Windows-Sysmon");
    rx_rule_evaluate(&r, s, &v, &vd);
    assert_int_equal(vd.score, 0);
    assert_true(vd.is_ci_system);
    assert_int_equal(vd.signal, RX_SIG_GITPUSH);
    assert_int_equal(vd.signals, 1u << RX_SIG_GITPUSH);

    /* The provider gate. */
    v = view(1, "git.exe", "git push https://github.com/a", NULL, "WS", NULL,
             "Microsoft-Windows-Security-Auditing");
    rx_rule_evaluate(&r, s, &v, &vd);
    assert_int_equal(vd.score, 0);
    assert_int_equal(vd.signal, -1);
    assert_int_equal(vd.signals, 0);

    /* mygit.exe is not git.exe. */
    v = view(1, "C:\\mygit.exe", "git push https://github.com/a", NULL, NULL,
             NULL, NULL);
    rx_rule_evaluate(&r, s, &v, &vd);
    assert_int_equal(vd.signals, 0);

    /* Wrong event id. */
    v = view(22, "git.exe", "git push https://github.com/a", "github.com",
             NULL, NULL, NULL);
    rx_rule_evaluate(&r, s, &v, &vd);
    assert_int_equal(vd.signals, 0);

    rx_rule_scratch_free(s);
    rx_rules_cleanup(&r);
}

static void test_two_signals_custom_lists(void **state)
{
    (void)state;
    struct rx_rules r;
    assert_int_equal(rx_rules_init_defaults(&r), 0);
    const char *rules = "{\"upload_images\":[\"git.exe\"],"
                        "\"repo_api_hosts\":[\"github.com\"],"
                        "\"upload_markers\":[\"push\"]}";
    struct rx_error_detail d;
    assert_int_equal(rx_rules_load(&r, rules, strlen(rules), "t", &d), 0);
    struct rx_rule_scratch *s = rx_rule_scratch_new();
    struct rx_event_view v = view(1, "git.exe", "git push https://github.com",
                                  NULL, NULL, NULL, NULL);
    struct rx_verdict vd;
    rx_rule_evaluate(&r, s, &v, &vd);
    assert_int_equal(vd.signals,
                     (1u << RX_SIG_GITPUSH) | (1u << RX_SIG_APIUPLOAD));
    assert_int_equal(vd.signal, RX_SIG_GITPUSH);
    assert_int_equal(vd.score, 3);
    rx_rule_scratch_free(s);
    rx_rules_cleanup(&r);
}

static void test_catastrophic_regex_is_bounded(void **state)
{
    (void)state;
    struct rx_rules r;
    assert_int_equal(rx_rules_init_defaults(&r), 0);
    const char *rules = "{\"ci_system_regex\":\"(a+)+$\"}";
    struct rx_error_detail d;
    assert_int_equal(rx_rules_load(&r, rules, strlen(rules), "t", &d), 0);
    struct rx_rule_scratch *s = rx_rule_scratch_new();
    char host[4096];
    memset(host, 'a', sizeof(host) - 2);
    host[sizeof(host) - 2] = '!';
    host[sizeof(host) - 1] = '\0';
    struct rx_event_view v = view(3, "git.exe", NULL, "github.com", host,
                                  NULL, NULL);
    struct rx_verdict vd;
    rx_rule_evaluate(&r, s, &v, &vd); /* returns: the match limit holds */
    assert_false(vd.is_ci_system);
    assert_int_equal(vd.score, 2);
    rx_rule_scratch_free(s);
    rx_rules_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contains),
        cmocka_unit_test(test_host_in_domain),
        cmocka_unit_test(test_file_name),
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_two_signals_custom_lists),
        cmocka_unit_test(test_catastrophic_regex_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
