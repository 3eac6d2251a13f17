/* Unit tests of the alert sinks' payloads (server/sink*.c), the HMAC helper
 * (server/hmac.c) and the dispatcher's configuration checks: every field
 * of every body, checked against SPEC section 4 and issue 4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dispatch.h"
#include "hmac.h"
#include "sink.h"
#include "sink_pagerduty.h"
#include "sink_slack.h"
#include "sink_webhook.h"

static json_t *row_full(int index, const char *computer, const char *user,
                        const char *image, const char *cmd, const char *dest,
                        const char *signal, int score, json_int_t ms)
{
    json_t *r = json_object();
    json_object_set_new(r, "index", json_integer(index));
    json_object_set_new(r, "_messageTime",
                        ms >= 0 ? json_integer(ms) : json_null());
    json_object_set_new(r, "Computer",
                        computer ? json_string(computer) : json_null());
    json_object_set_new(r, "User", user ? json_string(user) : json_null());
    json_object_set_new(r, "Image", image ? json_string(image) : json_null());
    json_object_set_new(r, "CommandLine", cmd ? json_string(cmd) : json_null());
    json_object_set_new(r, "ParentImage",
                        json_string("C:\\Windows\\explorer.exe"));
    json_object_set_new(r, "DestinationHostname",
                        dest ? json_string(dest) : json_null());
    json_object_set_new(r, "Signal", json_string(signal));
    json_object_set_new(r, "IsCISystem", json_integer(0));
    json_object_set_new(r, "IsKnownIDE", json_integer(0));
    json_object_set_new(r, "SuspicionScore", json_integer(score));
    return r;
}

static json_t *row_push(void)
{
    return row_full(0, "WS01", "CORP\\al",
                    "C:\\Program Files\\Git\\cmd\\git.exe",
                    "git.exe push https://github.com/acme/secret.git", NULL,
                    "GitPushToExternalRepo", 3, 1700000000123LL);
}

static json_t *row_net(void)
{
    return row_full(1, "WS02", "CORP\\bo", "C:\\Python\\python.exe", NULL,
                    "lb-140-82-113-4-iad.github.com",
                    "NetworkConnectionToCodeRepo", 2, 1700000000000LL);
}

static size_t u8len(const char *s)
{
    return rx_sink_utf8_len(s, strlen(s));
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (j == NULL)
        fail_msg("invalid JSON: %s", e.text);
    return j;
}

/* ---- HMAC ---------------------------------------------------------------*/

static void test_hmac_vectors(void **state)
{
    (void)state;
    char out[65];
    /* RFC 4231 test case 2. */
    assert_int_equal(
        rx_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, out),
        0);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739"
                             "839dec58b964ec3843");
    assert_int_equal(rx_sha256_hex("abc", 3, out), 0);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a"
                             "9cb410ff61f20015ad");
    assert_int_equal(rx_hmac_sha256_hex("", 0, "", 0, out), 0);
    assert_string_equal(out, "b613679a0814d9ec772f95d778c35fc5ff1697c4937156"
                             "53c6c712144292c5ad");
    assert_true(rx_hmac_equal("abc", 3, "abc", 3));
    assert_false(rx_hmac_equal("abc", 3, "abd", 3));
    assert_false(rx_hmac_equal("abc", 3, "abcd", 4));
}

/* ---- shared helpers --------------------------------------------------- */

static void test_cut_and_escape(void **state)
{
    (void)state;
    struct rx_buf b;
    rx_buf_init(&b, 0);
    assert_int_equal(rx_sink_append_cut(&b, "a & b <c> `x`", 100, true, true),
                     0);
    assert_string_equal(b.data, "a &amp; b &lt;c&gt; 'x'");
    rx_buf_reset(&b);
    assert_int_equal(rx_sink_append_cut(&b, "`x`", 100, true, false), 0);
    assert_string_equal(b.data, "`x`");
    rx_buf_reset(&b);
    /* Cut: 10 code points at most, the last being the ellipsis. */
    assert_int_equal(rx_sink_append_cut(&b, "0123456789abc", 10, false, false),
                     0);
    assert_string_equal(b.data, "012345678\xe2\x80\xa6");
    assert_int_equal(u8len(b.data), 10);
    rx_buf_reset(&b);
    /* An entity is never split: "&amp;" does not fit in the last 3. */
    assert_int_equal(rx_sink_append_cut(&b, "abcdef&ghij", 10, true, false), 0);
    assert_string_equal(b.data, "abcdef\xe2\x80\xa6");
    rx_buf_reset(&b);
    /* Multi-byte characters are never split. */
    assert_int_equal(rx_sink_append_cut(&b, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                                        3, false, false),
                     0);
    assert_string_equal(b.data, "\xc3\xa9\xc3\xa9\xe2\x80\xa6");
    rx_buf_reset(&b);
    assert_int_equal(rx_sink_append_cut(&b, NULL, 3, true, false), 0);
    assert_string_equal(b.data, "-");
    rx_buf_cleanup(&b);

    assert_string_equal(rx_sink_file_name("C:\\a\\b\\git.exe"), "git.exe");
    assert_string_equal(rx_sink_file_name("/usr/bin/curl"), "curl");
    assert_string_equal(rx_sink_file_name("git.exe"), "git.exe");
    assert_null(rx_sink_file_name("C:\\dir\\"));
    assert_null(rx_sink_file_name(NULL));

    char iso[32];
    assert_true(rx_sink_iso8601(1700000000123LL, iso));
    assert_string_equal(iso, "2023-11-14T22:13:20.123Z");
    assert_true(rx_sink_iso8601(0, iso));
    assert_string_equal(iso, "1970-01-01T00:00:00.000Z");
}

static void test_dedup_key(void **state)
{
    (void)state;
    json_t *a = row_push();
    json_t *b = row_push();
    char ka[65], kb[65];
    assert_int_equal(rx_sink_dedup_key(a, ka), 0);
    assert_int_equal(strlen(ka), 64);
    for (int i = 0; i < 64; i++)
        assert_non_null(strchr("0123456789abcdef", ka[i]));
    /* index, time, user and score are not part of the key. */
    json_object_set_new(b, "index", json_integer(7));
    json_object_set_new(b, "_messageTime", json_integer(1));
    json_object_set_new(b, "User", json_string("CORP\\other"));
    json_object_set_new(b, "SuspicionScore", json_integer(2));
    assert_int_equal(rx_sink_dedup_key(b, kb), 0);
    assert_string_equal(ka, kb);
    /* Each member of the key changes it. */
    const char *fields[] = {"Signal", "Computer", "Image", "CommandLine"};
    for (int i = 0; i < 4; i++) {
        json_t *c = json_deep_copy(a);
        json_object_set_new(c, fields[i], json_string("changed"));
        char kc[65];
        assert_int_equal(rx_sink_dedup_key(c, kc), 0);
        assert_string_not_equal(ka, kc);
        json_decref(c);
    }
    /* Without a command line, the destination is used. */
    json_t *n1 = row_net();
    json_t *n2 = row_net();
    json_object_set_new(n2, "DestinationHostname", json_string("gitlab.com"));
    char k1[65], k2[65];
    assert_int_equal(rx_sink_dedup_key(n1, k1), 0);
    assert_int_equal(rx_sink_dedup_key(n2, k2), 0);
    assert_string_not_equal(k1, k2);
    /* Shifting text between fields does not collide. */
    json_t *s1 = row_full(0, "a|b", NULL, "c", "d", NULL, "S", 3, 0);
    json_t *s2 = row_full(0, "a", NULL, "b|c", "d", NULL, "S", 3, 0);
    assert_int_equal(rx_sink_dedup_key(s1, k1), 0);
    assert_int_equal(rx_sink_dedup_key(s2, k2), 0);
    assert_string_not_equal(k1, k2);
    /* Known value: pins the key so a change is noticed (it would reopen
     * PagerDuty incidents). */
    char expect[65];
    const char tuple[] = "21:GitPushToExternalRepo;4:WS01;"
                         "32:C:\\Program Files\\Git\\cmd\\git.exe;"
                         "47:git.exe push https://github.com/acme/secret.git;";
    assert_int_equal(rx_sha256_hex(tuple, sizeof(tuple) - 1, expect), 0);
    assert_string_equal(ka, expect);
    json_decref(a);
    json_decref(b);
    json_decref(n1);
    json_decref(n2);
    json_decref(s1);
    json_decref(s2);
}

/* ---- Slack ------------------------------------------------------------ */

static const char *block_text(json_t *msg, size_t i)
{
    json_t *blk = json_array_get(json_object_get(msg, "blocks"), i);
    const char *type = json_string_value(json_object_get(blk, "type"));
    if (type && strcmp(type, "context") == 0)
        blk = json_array_get(json_object_get(blk, "elements"), 0);
    else
        blk = json_object_get(blk, "text");
    return json_string_value(json_object_get(blk, "text"));
}

static void test_slack_fields(void **state)
{
    (void)state;
    json_t *rows = json_array();
    json_array_append_new(rows, row_push());
    json_array_append_new(rows, row_net());
    char *text = rx_slack_build(rows, "req-1");
    assert_non_null(text);
    json_t *m = parse(text);
    const char *fallback = json_string_value(json_object_get(m, "text"));
    assert_non_null(fallback);
    assert_non_null(strstr(fallback, "2 exfiltration alerts"));
    assert_non_null(strstr(fallback, "GitPushToExternalRepo on WS01"));
    assert_non_null(strstr(fallback, "and 1 more"));

    json_t *blocks = json_object_get(m, "blocks");
    assert_int_equal(json_array_size(blocks), 4); /* header, 2, context */
    json_t *h = json_array_get(blocks, 0);
    assert_string_equal(json_string_value(json_object_get(h, "type")),
                        "header");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(h, "text"), "type")),
        "plain_text");
    assert_string_equal(block_text(m, 0),
                        "2 exfiltration alerts (max score 3)");

    json_t *s1 = json_array_get(blocks, 1);
    assert_string_equal(json_string_value(json_object_get(s1, "type")),
                        "section");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(s1, "text"), "type")),
        "mrkdwn");
    assert_string_equal(block_text(m, 1),
                        "*GitPushToExternalRepo* \xe2\x80\x94 score *3*\n"
                        "*Host:* WS01\n*User:* CORP\\al\n"
                        "*Image:* `C:\\Program Files\\Git\\cmd\\git.exe`\n"
                        "*Command line:* "
                        "`git.exe push https://github.com/acme/secret.git`");
    assert_string_equal(block_text(m, 2),
                        "*NetworkConnectionToCodeRepo* \xe2\x80\x94 score *2*\n"
                        "*Host:* WS02\n*User:* CORP\\bo\n"
                        "*Image:* `C:\\Python\\python.exe`\n"
                        "*Destination:* lb-140-82-113-4-iad.github.com");
    assert_string_equal(block_text(m, 3), "request req-1");
    free(text);
    json_decref(m);

    /* Without a request id and few rows there is no context block. */
    json_t *one = json_array();
    json_array_append_new(one, row_push());
    text = rx_slack_build(one, NULL);
    m = parse(text);
    assert_int_equal(json_array_size(json_object_get(m, "blocks")), 2);
    assert_string_equal(block_text(m, 0), "1 exfiltration alert (max score 3)");
    free(text);
    json_decref(m);
    json_decref(one);

    /* Nothing to send gives no message. */
    json_t *empty = json_array();
    assert_null(rx_slack_build(empty, "x"));
    json_decref(empty);
    json_decref(rows);
}

static void test_slack_escaping_and_cuts(void **state)
{
    (void)state;
    /* Hostile values: mrkdwn control characters and huge fields. */
    char *big = malloc(20001);
    for (int i = 0; i < 20000; i++)
        big[i] = "a&<>`"[i % 5];
    big[20000] = '\0';
    json_t *rows = json_array();
    json_array_append_new(rows, row_full(0, "<!channel>", "a&b", big, big, big,
                                         "GitPushToExternalRepo", 3, -1));
    char *text = rx_slack_build(rows, "<@U123>");
    json_t *m = parse(text);
    size_t nb = json_array_size(json_object_get(m, "blocks"));
    for (size_t i = 0; i < nb; i++) {
        const char *t = block_text(m, i);
        assert_true(u8len(t) <= RX_SLACK_MAX_SECTION_CHARS);
        /* Every < and > is escaped: no mention or link can be forged. */
        assert_null(strchr(t, '<'));
        assert_null(strchr(t, '>'));
        /* Every & starts an entity. */
        for (const char *p = strchr(t, '&'); p; p = strchr(p + 1, '&'))
            assert_true(strncmp(p, "&amp;", 5) == 0 ||
                        strncmp(p, "&lt;", 4) == 0 ||
                        strncmp(p, "&gt;", 4) == 0);
    }
    const char *sec = block_text(m, 1);
    assert_non_null(strstr(sec, "*Host:* &lt;!channel&gt;\n"));
    assert_non_null(strstr(sec, "*User:* a&amp;b\n"));
    assert_non_null(strstr(sec, "\xe2\x80\xa6`")); /* cut values end in … */
    /* Inside code spans, backticks cannot close the span early: exactly
     * the four span delimiters remain. */
    int ticks = 0;
    for (const char *p = sec; *p; p++)
        ticks += *p == '`';
    assert_int_equal(ticks, 4);
    assert_non_null(strstr(block_text(m, 2), "request &lt;@U123&gt;"));
    assert_null(strchr(json_string_value(json_object_get(m, "text")), '<'));
    free(text);
    json_decref(m);
    json_decref(rows);
    free(big);

    /* Multi-byte values are cut on character boundaries (json_loads would
     * reject invalid UTF-8). */
    char *wide = malloc(2 * 3000 + 1);
    for (int i = 0; i < 3000; i++)
        memcpy(wide + 2 * i, "\xc3\xa9", 2);
    wide[6000] = '\0';
    rows = json_array();
    json_array_append_new(rows, row_full(0, wide, wide, wide, wide, NULL,
                                         "CodeRepoAPIUpload", 3, -1));
    text = rx_slack_build(rows, NULL);
    m = parse(text);
    assert_true(u8len(block_text(m, 1)) <= RX_SLACK_MAX_SECTION_CHARS);
    assert_true(u8len(block_text(m, 0)) <= RX_SLACK_MAX_HEADER_CHARS);
    free(text);
    json_decref(m);
    json_decref(rows);
    free(wide);
}

static void check_block_cap(size_t n, size_t want_blocks, const char *more)
{
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++) {
        char host[32];
        snprintf(host, sizeof(host), "WS%zu", i);
        json_array_append_new(rows, row_full((int)i, host, "u", "git.exe",
                                             "git push github.com", NULL,
                                             "GitPushToExternalRepo", 3, 0));
    }
    char *text = rx_slack_build(rows, "r");
    json_t *m = parse(text);
    json_t *blocks = json_object_get(m, "blocks");
    assert_int_equal(json_array_size(blocks), want_blocks);
    assert_true(json_array_size(blocks) <= RX_SLACK_MAX_BLOCKS);
    const char *last = block_text(m, json_array_size(blocks) - 1);
    if (more) {
        assert_non_null(strstr(last, more));
    } else {
        assert_null(strstr(last, "more"));
    }
    /* The sections shown are the first rows, in order. */
    assert_non_null(strstr(block_text(m, 1), "*Host:* WS0\n"));
    free(text);
    json_decref(m);
    json_decref(rows);
}

static void test_slack_block_cap(void **state)
{
    (void)state;
    check_block_cap(1, 3, NULL);
    check_block_cap(48, 50, NULL);
    check_block_cap(49, 50, "and 1 more");
    check_block_cap(100, 50, "and 52 more");
    check_block_cap(1000, 50, "and 952 more");
}

static void test_slack_classify(void **state)
{
    (void)state;
    assert_int_equal(rx_slack_classify(RX_NET_OK, 200, "ok", 2),
                     RX_VERDICT_SENT);
    assert_int_equal(rx_slack_classify(RX_NET_OK, 200, "invalid_payload", 15),
                     RX_VERDICT_PERMANENT);
    int permanent[] = {400, 403, 404, 410, 401, 413};
    for (size_t i = 0; i < sizeof(permanent) / sizeof(permanent[0]); i++)
        assert_int_equal(rx_slack_classify(RX_NET_OK, permanent[i], "x", 1),
                         RX_VERDICT_PERMANENT);
    assert_int_equal(rx_slack_classify(RX_NET_OK, 429, "", 0),
                     RX_VERDICT_RETRY_AFTER);
    assert_int_equal(rx_slack_classify(RX_NET_OK, 500, "", 0),
                     RX_VERDICT_RETRY_UNSURE);
    assert_int_equal(rx_slack_classify(RX_NET_OK, 503, "", 0),
                     RX_VERDICT_RETRY_UNSURE);
    assert_int_equal(rx_slack_classify(RX_NET_UNSURE, 0, NULL, 0),
                     RX_VERDICT_RETRY_UNSURE);
    assert_int_equal(rx_slack_classify(RX_NET_CONNECT, 0, NULL, 0),
                     RX_VERDICT_RETRY);
}

/* ---- PagerDuty -------------------------------------------------------- */

#define KEY32 "0123456789abcdef0123456789abcdef"

static void test_pagerduty_fields(void **state)
{
    (void)state;
    json_t *row = row_push();
    char *text = rx_pagerduty_build(row, KEY32);
    json_t *ev = parse(text);
    assert_string_equal(json_string_value(json_object_get(ev, "routing_key")),
                        KEY32);
    assert_string_equal(json_string_value(json_object_get(ev, "event_action")),
                        "trigger");
    assert_string_equal(json_string_value(json_object_get(ev, "client")),
                        "repoexfil");
    char key[65];
    assert_int_equal(rx_sink_dedup_key(row, key), 0);
    const char *dk = json_string_value(json_object_get(ev, "dedup_key"));
    assert_string_equal(dk, key);
    assert_true(strlen(dk) <= RX_PAGERDUTY_MAX_DEDUP_KEY);
    json_t *p = json_object_get(ev, "payload");
    assert_string_equal(json_string_value(json_object_get(p, "summary")),
                        "GitPushToExternalRepo on WS01 by CORP\\al: git.exe "
                        "push https://github.com/acme/secret.git");
    assert_string_equal(json_string_value(json_object_get(p, "source")),
                        "WS01");
    assert_string_equal(json_string_value(json_object_get(p, "severity")),
                        "critical");
    assert_string_equal(json_string_value(json_object_get(p, "timestamp")),
                        "2023-11-14T22:13:20.123Z");
    assert_string_equal(json_string_value(json_object_get(p, "component")),
                        "git.exe");
    assert_string_equal(json_string_value(json_object_get(p, "class")),
                        "GitPushToExternalRepo");
    assert_true(json_equal(json_object_get(p, "custom_details"), row));
    /* Exactly these members, nothing else (PagerDuty rejects unknowns). */
    assert_int_equal(json_object_size(ev), 5);
    assert_int_equal(json_object_size(p), 7);
    free(text);
    json_decref(ev);
    json_decref(row);

    /* A network alert: destination in the summary, warning severity. */
    row = row_net();
    text = rx_pagerduty_build(row, KEY32);
    ev = parse(text);
    p = json_object_get(ev, "payload");
    assert_string_equal(json_string_value(json_object_get(p, "summary")),
                        "NetworkConnectionToCodeRepo on WS02 by CORP\\bo: "
                        "python.exe to lb-140-82-113-4-iad.github.com");
    assert_string_equal(json_string_value(json_object_get(p, "severity")),
                        "warning");
    free(text);
    json_decref(ev);
    json_decref(row);

    /* Missing Computer, user and time: source "unknown", no timestamp. */
    row = row_full(0, NULL, NULL, NULL, "curl -X POST api.github.com", NULL,
                   "CodeRepoAPIUpload", 1, -1);
    text = rx_pagerduty_build(row, KEY32);
    ev = parse(text);
    p = json_object_get(ev, "payload");
    assert_string_equal(json_string_value(json_object_get(p, "source")),
                        "unknown");
    assert_string_equal(json_string_value(json_object_get(p, "severity")),
                        "info");
    assert_null(json_object_get(p, "timestamp"));
    assert_null(json_object_get(p, "component"));
    assert_string_equal(json_string_value(json_object_get(p, "summary")),
                        "CodeRepoAPIUpload on unknown host: curl -X POST "
                        "api.github.com");
    free(text);
    json_decref(ev);
    json_decref(row);

    assert_string_equal(rx_pagerduty_severity(3), "critical");
    assert_string_equal(rx_pagerduty_severity(2), "warning");
    assert_string_equal(rx_pagerduty_severity(1), "info");
    assert_null(rx_pagerduty_build(NULL, KEY32));
}

static void test_pagerduty_summary_cut(void **state)
{
    (void)state;
    char *big = malloc(3 * 5000 + 1);
    for (int i = 0; i < 5000; i++)
        memcpy(big + 3 * i, "\xe2\x82\xac", 3); /* € */
    big[15000] = '\0';
    json_t *row = row_full(0, "WS01", "u", "git.exe", big, NULL,
                           "GitPushToExternalRepo", 3, 0);
    char *text = rx_pagerduty_build(row, KEY32);
    json_t *ev = parse(text); /* valid UTF-8 or json_loads fails */
    const char *s = json_string_value(
        json_object_get(json_object_get(ev, "payload"), "summary"));
    assert_int_equal(u8len(s), RX_PAGERDUTY_MAX_SUMMARY);
    assert_int_equal(strcmp(s + strlen(s) - 3, "\xe2\x80\xa6"), 0);
    assert_true(strncmp(s, "GitPushToExternalRepo on WS01 by u: ", 36) == 0);
    /* custom_details keeps the whole row. */
    assert_int_equal(
        json_string_length(json_object_get(
            json_object_get(json_object_get(ev, "payload"), "custom_details"),
            "CommandLine")),
        15000);
    free(text);
    json_decref(ev);
    json_decref(row);
    free(big);
}

static void test_pagerduty_classify(void **state)
{
    (void)state;
    assert_int_equal(rx_pagerduty_classify(RX_NET_OK, 202, NULL, 0),
                     RX_VERDICT_SENT);
    assert_int_equal(rx_pagerduty_classify(RX_NET_OK, 400, NULL, 0),
                     RX_VERDICT_PERMANENT);
    assert_int_equal(rx_pagerduty_classify(RX_NET_OK, 404, NULL, 0),
                     RX_VERDICT_PERMANENT);
    assert_int_equal(rx_pagerduty_classify(RX_NET_OK, 429, NULL, 0),
                     RX_VERDICT_RETRY_AFTER);
    assert_int_equal(rx_pagerduty_classify(RX_NET_OK, 500, NULL, 0),
                     RX_VERDICT_RETRY);
    assert_int_equal(rx_pagerduty_classify(RX_NET_OK, 502, NULL, 0),
                     RX_VERDICT_RETRY);
    assert_int_equal(rx_pagerduty_classify(RX_NET_UNSURE, 0, NULL, 0),
                     RX_VERDICT_RETRY);
    assert_int_equal(rx_pagerduty_classify(RX_NET_CONNECT, 0, NULL, 0),
                     RX_VERDICT_RETRY);
}

/* ---- generic webhook -------------------------------------------------- */

static void test_webhook_body_and_signature(void **state)
{
    (void)state;
    json_t *rows = json_array();
    json_array_append_new(rows, row_push());
    json_array_append_new(rows, row_net());
    char *text = rx_webhook_build(rows, "req-9");
    json_t *o = parse(text);
    assert_int_equal(json_object_size(o), 3);
    assert_string_equal(json_string_value(json_object_get(o, "source")),
                        "repoexfil");
    assert_string_equal(json_string_value(json_object_get(o, "request_id")),
                        "req-9");
    assert_true(json_equal(json_object_get(o, "alerts"), rows));

    char sig[72];
    assert_int_equal(rx_webhook_signature("s3cret", text, strlen(text), sig),
                     0);
    assert_true(strncmp(sig, "sha256=", 7) == 0);
    assert_int_equal(strlen(sig), 71);
    /* Independently: OpenSSL's HMAC over the exact body bytes. */
    unsigned char md[32];
    unsigned mdlen = 0;
    HMAC(EVP_sha256(), "s3cret", 6, (const unsigned char *)text, strlen(text),
         md, &mdlen);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    assert_string_equal(sig + 7, hex);
    free(text);
    json_decref(o);

    text = rx_webhook_build(rows, NULL);
    o = parse(text);
    assert_true(json_is_null(json_object_get(o, "request_id")));
    free(text);
    json_decref(o);
    json_decref(rows);
}

static void collect(const char *line, size_t len, void *ctx)
{
    struct rx_buf *b = ctx;
    assert_int_equal(rx_buf_append(b, line, len), 0);
    assert_int_equal(rx_buf_puts(b, "|"), 0);
}

static void test_webhook_headers(void **state)
{
    (void)state;
    int bad = -1;
    assert_true(
        rx_webhook_headers_valid("X-A: 1\nAuthorization: Bearer t\n", &bad));
    assert_int_equal(bad, 0);
    assert_true(rx_webhook_headers_valid("X-A: 1\r\n\r\nX-B:two", &bad));
    assert_false(rx_webhook_headers_valid("no colon here", &bad));
    assert_int_equal(bad, 1);
    assert_false(rx_webhook_headers_valid("X-A: 1\nBad Name: v", &bad));
    assert_int_equal(bad, 2);
    assert_false(rx_webhook_headers_valid(": v", &bad));
    assert_false(rx_webhook_headers_valid("X-A: a\x01", &bad));
    struct rx_buf b;
    rx_buf_init(&b, 0);
    rx_webhook_headers_each("X-A: 1\r\n\nX-B: 2", collect, &b);
    assert_string_equal(b.data, "X-A: 1|X-B: 2|");
    rx_buf_cleanup(&b);

    assert_int_equal(rx_webhook_classify(RX_NET_OK, 200, NULL, 0),
                     RX_VERDICT_SENT);
    assert_int_equal(rx_webhook_classify(RX_NET_OK, 204, NULL, 0),
                     RX_VERDICT_SENT);
    assert_int_equal(rx_webhook_classify(RX_NET_OK, 400, NULL, 0),
                     RX_VERDICT_PERMANENT);
    assert_int_equal(rx_webhook_classify(RX_NET_OK, 429, NULL, 0),
                     RX_VERDICT_RETRY_AFTER);
    assert_int_equal(rx_webhook_classify(RX_NET_OK, 503, NULL, 0),
                     RX_VERDICT_RETRY);
    assert_int_equal(rx_webhook_classify(RX_NET_CONNECT, 0, NULL, 0),
                     RX_VERDICT_RETRY);
}

/* ---- configuration ---------------------------------------------------- */

static void set(char **field, const char *v)
{
    free(*field);
    *field = v ? strdup(v) : NULL;
}

static void test_config_validate(void **state)
{
    (void)state;
    struct rx_dispatch_config c;
    struct rx_error_detail d;
    rx_dispatch_config_init(&c);
    assert_string_equal(c.pagerduty_url,
                        "https://events.pagerduty.com/v2/enqueue");
    assert_int_equal(c.alert_queue, 10000);
    assert_int_equal(c.suppress_seconds, 600);
    assert_int_equal(c.drain_seconds, 20);
    assert_true(c.pagerduty_rate_per_minute == 120);
    assert_int_equal(rx_dispatch_config_validate(&c, 2, &d), 0);
    /* -1 resolves to the threshold. */
    assert_int_equal(c.slack_min_score, 2);
    assert_int_equal(c.pagerduty_min_score, 2);
    assert_int_equal(c.webhook_min_score, 2);

    set(&c.pagerduty_routing_key, "short");
    assert_int_equal(rx_dispatch_config_validate(&c, 2, &d), RX_EBADCONFIG);
    assert_non_null(strstr(d.message, "--pagerduty-routing-key"));
    assert_null(strstr(d.message, "short")); /* never echo the key */
    set(&c.pagerduty_routing_key, KEY32);
    assert_int_equal(rx_dispatch_config_validate(&c, 2, &d), 0);

    const char *bad_urls[] = {"ftp://example.com/x", "hooks.slack.com/x",
                              "http://", "https://exa mple.com/"};
    for (size_t i = 0; i < 4; i++) {
        set(&c.slack_webhook_url, bad_urls[i]);
        assert_int_equal(rx_dispatch_config_validate(&c, 2, &d), RX_EBADCONFIG);
        assert_non_null(strstr(d.message, "--slack-webhook-url"));
        assert_null(strstr(d.message, "://"));
    }
    set(&c.slack_webhook_url, "https://hooks.slack.com/services/T/B/X");
    assert_int_equal(rx_dispatch_config_validate(&c, 2, &d), 0);
    set(&c.slack_webhook_url, "");
    assert_int_equal(rx_dispatch_config_validate(&c, 2, &d), 0);
    assert_null(c.slack_webhook_url); /* empty means unset */

    set(&c.webhook_url, "http://127.0.0.1:9/hook");
    set(&c.webhook_headers, "X-A: 1\nbroken");
    assert_int_equal(rx_dispatch_config_validate(&c, 2, &d), RX_EBADCONFIG);
    assert_non_null(strstr(d.message, "line 2"));
    set(&c.webhook_headers, "X-A: 1");
    assert_int_equal(rx_dispatch_config_validate(&c, 2, &d), 0);

    c.slack_min_score = 4;
    assert_int_equal(rx_dispatch_config_validate(&c, 2, &d), RX_EBADCONFIG);
    assert_non_null(strstr(d.message, "--slack-min-score"));
    c.slack_min_score = 3;
    c.alert_queue = 0;
    assert_int_equal(rx_dispatch_config_validate(&c, 2, &d), RX_EBADCONFIG);
    assert_non_null(strstr(d.message, "--alert-queue"));
    c.alert_queue = 1;
    c.pagerduty_rate_per_minute = 0;
    assert_int_equal(rx_dispatch_config_validate(&c, 2, &d), RX_EBADCONFIG);
    assert_non_null(strstr(d.message, "--pagerduty-rate-per-minute"));
    c.pagerduty_rate_per_minute = 1;
    assert_int_equal(rx_dispatch_config_validate(&c, 3, &d), 0);
    rx_dispatch_config_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_vectors),
        cmocka_unit_test(test_cut_and_escape),
        cmocka_unit_test(test_dedup_key),
        cmocka_unit_test(test_slack_fields),
        cmocka_unit_test(test_slack_escaping_and_cuts),
        cmocka_unit_test(test_slack_block_cap),
        cmocka_unit_test(test_slack_classify),
        cmocka_unit_test(test_pagerduty_fields),
        cmocka_unit_test(test_pagerduty_summary_cut),
        cmocka_unit_test(test_pagerduty_classify),
        cmocka_unit_test(test_webhook_body_and_signature),
        cmocka_unit_test(test_webhook_headers),
        cmocka_unit_test(test_config_validate),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
