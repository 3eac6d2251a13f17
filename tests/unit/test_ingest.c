/* Unit tests of detection/ingest.c, jsonevent.c and xmlevent.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest.h"
#include "xmlevent.h"

#define MAXEV 16

/* Records what ingest hands on: copies of views' fields, or errors. */
struct seen {
    int count;
    long id[MAXEV];
    char err[MAXEV][256];
    char field[MAXEV][RX_F_COUNT][128];
    int64_t time[MAXEV];
    int has_time[MAXEV];
};

static int record(void *ctx, const struct rx_event_view *v, const char *err)
{
    struct seen *s = ctx;
    int i = s->count++;
    if (i >= MAXEV)
        return 0;
    if (v == NULL) {
        snprintf(s->err[i], sizeof(s->err[i]), "%s", err);
        return 0;
    }
    s->id[i] = v->event_id;
    s->has_time[i] = v->has_time;
    s->time[i] = v->time_ms;
    for (int f = 0; f < RX_F_COUNT; f++)
        snprintf(s->field[i][f], sizeof(s->field[i][f]), "%.*s",
                 (int)v->f[f].n, v->f[f].p ? v->f[f].p : "");
    return 0;
}

static int run(const char *body, const char *ct, size_t max, struct seen *s,
               struct rx_error_detail *d)
{
    static struct rx_ingest *in;
    if (in == NULL)
        in = rx_ingest_new();
    memset(s, 0, sizeof(*s));
    memset(d, 0, sizeof(*d));
    if (body == NULL) { /* teardown */
        rx_ingest_free(in);
        in = NULL;
        return 0;
    }
    return rx_ingest_body(in, body, strlen(body), rx_ingest_content_type(ct),
                          max, record, s, d);
}

static void test_content_types(void **state)
{
    (void)state;
    assert_int_equal(rx_ingest_content_type(NULL), RX_CT_SNIFF);
    assert_int_equal(rx_ingest_content_type(""), RX_CT_SNIFF);
    assert_int_equal(rx_ingest_content_type("Application/JSON; charset=utf-8"),
                     RX_CT_JSON);
    assert_int_equal(rx_ingest_content_type("application/x-ndjson"),
                     RX_CT_NDJSON);
    assert_int_equal(rx_ingest_content_type("application/jsonl"),
                     RX_CT_NDJSON);
    assert_int_equal(rx_ingest_content_type("text/xml"), RX_CT_XML);
    assert_int_equal(rx_ingest_content_type("application/xml"), RX_CT_XML);
    assert_int_equal(rx_ingest_content_type("text/plain"), RX_CT_SNIFF);
    assert_int_equal(rx_ingest_content_type("application/octet-stream"),
                     RX_CT_SNIFF);
    assert_int_equal(rx_ingest_content_type("application/vnd.x+json"),
                     RX_CT_JSON);
    assert_int_equal(rx_ingest_content_type("image/png"), RX_CT_UNSUPPORTED);
    assert_int_equal(rx_ingest_content_type("application/jsonx"),
                     RX_CT_UNSUPPORTED);
}

static void test_max_events(void **state)
{
    (void)state;
    struct seen s;
    struct rx_error_detail d;
    assert_int_equal(run("[{},{},{}]", "application/json", 2, &s, &d),
                     RX_ETOOMANY);
    assert_int_equal(s.count, 0); /* refused before any event */
    assert_int_equal(run("{}\n{}\n\n{}\n", "application/x-ndjson", 2, &s, &d),
                     RX_ETOOMANY);
    assert_int_equal(s.count, 2); /* NDJSON is counted as it is read */
    assert_int_equal(run("{}\n{\"a\":{}}\n\n[1]\n", "application/x-ndjson", 2,
                         &s, &d),
                     RX_ETOOMANY); /* the same on the full path */
    assert_int_equal(run("<Event/><Event/><Event/>", "text/xml", 2, &s, &d),
                     RX_ETOOMANY);
    assert_int_equal(run("{}\n{}\n\n", "application/x-ndjson", 2, &s, &d), 0);
    assert_int_equal(s.count, 2);
}

static void test_body_errors(void **state)
{
    (void)state;
    struct seen s;
    struct rx_error_detail d;
    assert_int_equal(run("  \n", "application/json", 0, &s, &d), RX_EEMPTY);
    assert_int_equal(run("[{\"a\":1},\n {\"b\" 2}]", "application/json", 0,
                         &s, &d),
                     RX_EBADJSON);
    assert_int_equal(d.line, 2);
    assert_true(d.column > 0);
    assert_int_equal(run("hello", NULL, 0, &s, &d), RX_EBADBODY);
    assert_int_equal(run("<foo/>", "application/xml", 0, &s, &d), RX_EBADXML);
    assert_int_equal(run("{}", "image/png", 0, &s, &d), RX_EBADTYPE);
    assert_int_equal(run("{\"events\":\"[1,\"}", "application/json", 0, &s,
                         &d),
                     RX_EBADBODY);
}

static void test_xml_hostile(void **state)
{
    (void)state;
    struct seen s;
    struct rx_error_detail d;
    const char *laughs =
        "<?xml version='1.0'?><!DOCTYPE Event [<!ENTITY a 'aaaaaaaaaa'>"
        "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>]>"
        "<Event><EventData><Data Name='Image'>&b;</Data></EventData></Event>";
    assert_int_equal(run(laughs, "application/xml", 0, &s, &d), RX_EBADXML);
    assert_int_equal(s.count, 0);
    assert_non_null(strstr(d.message, "DOCTYPE"));
    /* The same inside a JSON string event: that event's error. */
    const char *in_json =
        "[\"<!DOCTYPE Event [<!ENTITY a 'aaaa'>]><Event>&a;</Event>\"]";
    assert_int_equal(run(in_json, "application/json", 0, &s, &d), 0);
    assert_int_equal(s.count, 1);
    assert_non_null(strstr(s.err[0], "DOCTYPE"));
    const char *xxe =
        "<!DOCTYPE Event [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
        "<Event><EventData><Data Name='Image'>&x;</Data></EventData></Event>";
    assert_int_equal(run(xxe, "application/xml", 0, &s, &d), RX_EBADXML);
    assert_non_null(strstr(d.message, "DOCTYPE"));
}

static void test_xml_events(void **state)
{
    (void)state;
    struct seen s;
    struct rx_error_detail d;
    const char *body =
        "<?xml version=\"1.0\" encoding=\"utf-16\"?>\n"
        "<e:Events xmlns:e='http://schemas.microsoft.com/win/2004/08/events/"
        "event'>\n"
        "<e:Event><e:System><e:Provider Name='Microsoft-Windows-Sysmon'/>"
        "<e:EventID Qualifiers=''>3</e:EventID>"
        "<e:TimeCreated SystemTime='2019-05-12T17:20:01.9805740Z'/>"
        "<e:Computer>PC1</e:Computer></e:System><e:EventData>"
        "<e:Data Name='Image'>C:\\a&amp;b\\git.exe</e:Data>"
        "<e:Data Name='DestinationHostname'>&#x67;ithub.com</e:Data>"
        "<e:Data Name='User'/></e:EventData></e:Event>\n"
        "<e:Event><Image>C:\\x\\curl.exe</Image><EventID>1</EventID>"
        "<CommandLine>a &lt;b&gt; &quot;c&quot; &apos;d&apos;</CommandLine>"
        "</e:Event>\n"
        "</e:Events>\n";
    assert_int_equal(run(body, "text/xml", 0, &s, &d), 0);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.id[0], 3);
    assert_string_equal(s.field[0][RX_F_IMAGE], "C:\\a&b\\git.exe");
    assert_string_equal(s.field[0][RX_F_DEST_HOST], "github.com");
    assert_string_equal(s.field[0][RX_F_COMPUTER], "PC1");
    assert_string_equal(s.field[0][RX_F_PROVIDER], "Microsoft-Windows-Sysmon");
    assert_string_equal(s.field[0][RX_F_USER], "");
    assert_true(s.has_time[0]);
    assert_int_equal(s.time[0], 1557681601980LL);
    assert_int_equal(s.id[1], 1);
    assert_string_equal(s.field[1][RX_F_COMMAND_LINE], "a <b> \"c\" 'd'");

    /* A malformed event rejects the XML body, with its position. */
    const char *broken = "<Events>\n<Event><EventID>1</EventID></Event>\n"
                         "<Event><System><EventID>1</System></Event>\n"
                         "</Events>";
    assert_int_equal(run(broken, "text/xml", 0, &s, &d), RX_EBADXML);
    assert_int_equal(d.line, 3);
    assert_int_equal(d.column, 28); /* expat points at the tag name */
    assert_non_null(strstr(d.message, "event 1: malformed XML"));
}

static void test_json_shapes(void **state)
{
    (void)state;
    struct seen s;
    struct rx_error_detail d;
    const char *body =
        "[{\"process.executable\":\"a.exe\",\"user\":{\"name\":\"bob\"},"
        "\"host\":{\"hostname\":\"H\"},\"event.code\":\"1\"},"
        "{\"winlog\":{\"event_data.Image\":\"b.exe\"},\"user.domain\":\"D\","
        "\"user.name\":\"u\",\"Hostname\":7,\"EventID\":\"x1\","
        "\"UtcTime\":\"2020-01-01 00:00:00.250\"},"
        "{\"_source\":{\"EventID\":3.0,\"_messagetime\":\"123\"}},"
        "{\"_raw\":\"{\\\"Image\\\":\\\"raw.exe\\\",\\\"EventID\\\":1}\","
        "\"Image\":\"own.exe\"},"
        "{\"_raw\":\"plain syslog text\",\"Image\":\"c.exe\"},"
        "{\"message\":\"<Event><EventID>1</EventID><Image>m.exe</Image>"
        "</Event>\"},"
        "{\"_raw\":\"<Event><broken\"},"
        "{\"Image\":\"\",\"winlog\":{\"event_data\":{\"Image\":\"second.exe\"}}}"
        "]";
    assert_int_equal(run(body, "application/json", 0, &s, &d), 0);
    assert_int_equal(s.count, 8);
    assert_string_equal(s.field[0][RX_F_IMAGE], "a.exe");
    assert_string_equal(s.field[0][RX_F_USER], "bob");
    assert_string_equal(s.field[0][RX_F_COMPUTER], "H");
    assert_int_equal(s.id[0], 1);
    assert_string_equal(s.field[1][RX_F_IMAGE], "b.exe");
    assert_string_equal(s.field[1][RX_F_USER], "D\\u");
    assert_string_equal(s.field[1][RX_F_COMPUTER], "7");
    assert_int_equal(s.id[1], -1);
    assert_int_equal(s.time[1], 1577836800250LL);
    assert_int_equal(s.id[2], 3);
    assert_int_equal(s.time[2], 123);
    assert_string_equal(s.field[3][RX_F_IMAGE], "own.exe"); /* own first */
    assert_int_equal(s.id[3], 1);                           /* from _raw */
    assert_string_equal(s.field[4][RX_F_IMAGE], "c.exe");
    assert_string_equal(s.field[5][RX_F_IMAGE], "m.exe");
    assert_non_null(strstr(s.err[6], "_raw: malformed XML"));
    assert_string_equal(s.field[7][RX_F_IMAGE], "second.exe");
    run(NULL, NULL, 0, &s, &d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_max_events),
        cmocka_unit_test(test_body_errors),
        cmocka_unit_test(test_xml_hostile),
        cmocka_unit_test(test_xml_events),
        cmocka_unit_test(test_json_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
