/*
 * The differential test: the tree-less fast path (detection/fastjson.c)
 * against the full jansson path, which is the reference. Every NDJSON line
 * of ../shared/datasets, every case body line, and deterministic
 * mutations of real lines must give identical views or identical errors.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "ingest.h"

/* A deep copy of what a callback saw. */
struct seen {
    int calls;
    int is_error;
    char error[512];
    long id;
    int has_time;
    int64_t time;
    char *field[RX_F_COUNT];
    size_t len[RX_F_COUNT];
};

static void seen_clear(struct seen *s)
{
    for (int f = 0; f < RX_F_COUNT; f++)
        free(s->field[f]);
    memset(s, 0, sizeof(*s));
}

static int record(void *ctx, const struct rx_event_view *v, const char *err)
{
    struct seen *s = ctx;
    s->calls++;
    if (v == NULL) {
        s->is_error = 1;
        snprintf(s->error, sizeof(s->error), "%s", err);
        return 0;
    }
    s->id = v->event_id;
    s->has_time = v->has_time;
    s->time = v->has_time ? v->time_ms : 0;
    for (int f = 0; f < RX_F_COUNT; f++) {
        free(s->field[f]);
        s->field[f] = NULL;
        s->len[f] = v->f[f].n;
        if (v->f[f].n) {
            s->field[f] = malloc(v->f[f].n);
            memcpy(s->field[f], v->f[f].p, v->f[f].n);
        }
    }
    return 0;
}

static struct rx_ingest *fast_in, *slow_in;
static long lines_checked, mismatches;
/* Events the fast path read, on the line route and the body route. */
static size_t line_fast, body_fast, body_events;

static int differ(const struct seen *a, const struct seen *b)
{
    if (a->calls != b->calls || a->is_error != b->is_error)
        return 1;
    if (a->is_error)
        return strcmp(a->error, b->error) != 0;
    if (a->id != b->id || a->has_time != b->has_time || a->time != b->time)
        return 1;
    for (int f = 0; f < RX_F_COUNT; f++)
        if (a->len[f] != b->len[f] ||
            (a->len[f] && memcmp(a->field[f], b->field[f], a->len[f])))
            return 1;
    return 0;
}

static void check_line(const char *where, long lineno, const char *line,
                       size_t len)
{
    struct seen a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    size_t f0 = rx_ingest_fast_events(fast_in);
    assert_int_equal(rx_ingest_ndjson_line(fast_in, line, len, lineno, record,
                                           &a), 0);
    line_fast += rx_ingest_fast_events(fast_in) - f0;
    assert_int_equal(rx_ingest_ndjson_line(slow_in, line, len, lineno, record,
                                           &b), 0);
    lines_checked++;
    if (differ(&a, &b)) {
        if (mismatches++ < 10)
            fprintf(stderr, "MISMATCH %s:%ld: fast %s / full %s: %.200s\n",
                    where, lineno, a.is_error ? a.error : "view",
                    b.is_error ? b.error : "view", line);
    }
    seen_clear(&a);
    seen_clear(&b);
}

/* xorshift: deterministic mutations, the same every run. */
static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void mutate_and_check(const char *where, long lineno, const char *line,
                             size_t len)
{
    static const char alphabet[] = "\"\\{}[],:0123456789.eE-+ntfu\x01\x80\xC3"
                                   "\xFF abcIXmage";
    char *copy = malloc(len + 8);
    for (int m = 0; m < 3; m++) {
        memcpy(copy, line, len);
        size_t n = len;
        size_t pos = len ? next_rand() % len : 0;
        switch (next_rand() % 3) {
        case 0: /* replace a byte */
            if (n)
                copy[pos] = alphabet[next_rand() % (sizeof(alphabet) - 1)];
            break;
        case 1: /* delete a byte */
            if (n) {
                memmove(copy + pos, copy + pos + 1, n - pos - 1);
                n--;
            }
            break;
        default: /* truncate */
            n = pos;
            break;
        }
        check_line(where, lineno, copy, n);
    }
    free(copy);
}

static void check_file(const char *path, int mutate_every)
{
    gzFile gz = gzopen(path, "rb");
    assert_non_null(gz);
    size_t cap = 1 << 20, len = 0;
    char *line = malloc(cap);
    long lineno = 0;
    char chunk[65536];
    for (;;) {
        len = 0;
        int got = 0;
        while (gzgets(gz, chunk, sizeof(chunk))) {
            got = 1;
            size_t n = strlen(chunk);
            if (len + n + 1 > cap) {
                cap = (len + n + 1) * 2;
                line = realloc(line, cap);
            }
            memcpy(line + len, chunk, n);
            len += n;
            if (n && chunk[n - 1] == '\n')
                break;
        }
        if (!got)
            break;
        lineno++;
        if (len && line[len - 1] == '\n')
            len--;
        check_line(path, lineno, line, len);
        if (mutate_every && lineno % mutate_every == 0)
            mutate_and_check(path, lineno, line, len);
    }
    free(line);
    gzclose(gz);
}


/* Whole NDJSON bodies: the one-pass line reader (rx_fastjson_line inside
 * rx_ingest_body) against the full path, event by event. */
struct seq {
    int n, cap;
    struct seen *items;
};

static int record_seq(void *ctx, const struct rx_event_view *v,
                      const char *err)
{
    struct seq *q = ctx;
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 256;
        q->items = realloc(q->items, (size_t)q->cap * sizeof(*q->items));
    }
    memset(&q->items[q->n], 0, sizeof(q->items[q->n]));
    record(&q->items[q->n++], v, err);
    return 0;
}

static void seq_clear(struct seq *q)
{
    for (int i = 0; i < q->n; i++)
        seen_clear(&q->items[i]);
    free(q->items);
    memset(q, 0, sizeof(*q));
}

static long bodies_checked;

static void check_body(const char *where, const char *body, size_t len)
{
    struct seq a = {0, 0, NULL}, b = {0, 0, NULL};
    struct rx_error_detail da, db;
    memset(&da, 0, sizeof(da));
    memset(&db, 0, sizeof(db));
    size_t f0 = rx_ingest_fast_events(fast_in);
    int ra = rx_ingest_body(fast_in, body, len, RX_CT_NDJSON, 0, record_seq,
                            &a, &da);
    body_fast += rx_ingest_fast_events(fast_in) - f0;
    body_events += (size_t)a.n;
    int rb = rx_ingest_body(slow_in, body, len, RX_CT_NDJSON, 0, record_seq,
                            &b, &db);
    bodies_checked++;
    int bad = ra != rb || a.n != b.n;
    for (int i = 0; !bad && i < a.n; i++)
        if (differ(&a.items[i], &b.items[i])) {
            bad = 1;
            if (mismatches < 10)
                fprintf(stderr, "MISMATCH %s body event %d: fast %s / full "
                                "%s\n", where, i,
                        a.items[i].is_error ? a.items[i].error : "view",
                        b.items[i].is_error ? b.items[i].error : "view");
        }
    if (bad) {
        if (mismatches++ < 10)
            fprintf(stderr, "MISMATCH %s body: rc %d/%d, events %d/%d\n",
                    where, ra, rb, a.n, b.n);
    }
    seq_clear(&a);
    seq_clear(&b);
}

/* Bodies of up to 300 lines from each dataset file, as they are and with
 * deterministic damage: lines joined, split, blanked, BOMs, CRs. */
static void check_file_bodies(const char *path)
{
    gzFile gz = gzopen(path, "rb");
    assert_non_null(gz);
    size_t cap = 8u << 20, len = 0;
    char *buf = malloc(cap);
    int n;
    while ((n = gzread(gz, buf + len, (unsigned)(cap - len))) > 0) {
        len += (size_t)n;
        if (len == cap)
            break; /* the first 8 MiB are plenty */
    }
    gzclose(gz);
    size_t start = 0;
    int lines = 0, body_no = 0;
    char *copy = malloc(cap + 64);
    for (size_t i = 0; i <= len; i++) {
        if (i < len && buf[i] != '\n')
            continue;
        if (++lines < 300 && i < len)
            continue;
        size_t blen = i - start;
        check_body(path, buf + start, blen);
        /* damage: every seventh body gets a few edits */
        if (body_no++ % 7 == 0 && blen > 10) {
            memcpy(copy, buf + start, blen);
            size_t clen = blen;
            for (int m = 0; m < 6; m++) {
                size_t pos = next_rand() % clen;
                switch (next_rand() % 6) {
                case 0: copy[pos] = '\n'; break;           /* split a line */
                case 1: if (copy[pos] == '\n') copy[pos] = ' '; break;
                case 2: copy[pos] = '\r'; break;
                case 3: memmove(copy + pos + 3, copy + pos, clen - pos);
                        memcpy(copy + pos, "\xEF\xBB\xBF", 3);
                        clen += 3; break;                  /* a BOM */
                case 4: copy[pos] = ' '; break;
                default: clen = pos; break;                /* truncate */
                }
                if (clen == 0)
                    break;
            }
            check_body("damaged", copy, clen);
        }
        start = i + 1;
        lines = 0;
        if (start >= len)
            break;
    }
    free(copy);
    free(buf);
}

static void walk(const char *dir, int *files)
{
    DIR *dp = opendir(dir);
    if (dp == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        size_t n = strlen(de->d_name);
        if (de->d_type == DT_DIR) {
            walk(path, files);
        } else if ((n > 7 && strcmp(de->d_name + n - 7, ".ndjson") == 0) ||
                   (n > 10 && strcmp(de->d_name + n - 10, ".ndjson.gz") == 0)) {
            check_file(path, 50);
            check_file_bodies(path);
            (*files)++;
        }
    }
    closedir(dp);
}

static void test_datasets(void **state)
{
    (void)state;
    int files = 0;
    walk(RX_DATASETS, &files);
    /* Real Sysmon NDJSON is flat: nearly every line (mutations aside)
     * must have been read by the fast path on both the line and the body
     * route, or the comparison proved nothing. */
    fprintf(stderr, "fast path: %zu of %ld lines, %zu of %zu body events\n",
            line_fast, lines_checked, body_fast, body_events);
    assert_true(line_fast > (size_t)lines_checked / 2);
    assert_true(body_fast > body_events / 2);
    fprintf(stderr, "%d files, %ld lines (with mutations) and %ld bodies "
                    "compared, %ld mismatches\n", files, lines_checked,
            bodies_checked, mismatches);
    assert_true(files >= 7);
    assert_int_equal(mismatches, 0);
}

/* Every line of every case body (NDJSON bodies line by line, JSON array
 * bodies element by element) and hand-made edge cases. */
static void test_cases_and_edges(void **state)
{
    (void)state;
    static const char *const edges[] = {
        "{\"EventID\":1,\"Image\":\"git.exe\",\"Image\":\"curl.exe\"}",
        "{\"Im\\u0061ge\":\"C:\\\\x\\\\git.exe\",\"EventID\":\"3\"}",
        "{\"Image\":\"\\ud83d\\ude00.exe\",\"EventID\":1.0}",
        "{\"Image\":\"\\ud83d.exe\"}",
        "{\"Image\":\"\\u0000\"}",
        "{\"Image\":\"a\tb\"}",
        "{\"EventID\":12345678901234567890}",
        "{\"EventID\":-0,\"_messageTime\":1.5e3}",
        "{\"EventID\":01}",
        "{\"EventID\":1e999}",
        "{\"host\":\"collector\",\"Hostname\":\"WS\",\"EventID\":3}",
        "{\"host\":{\"name\":\"H\"},\"EventID\":3}",
        "{\"process.executable\":\"x.exe\"}",
        "{\"user\":\"bob\",\"User\":\"\"}",
        "{\"message\":\"  <Event><EventID>1</EventID></Event>\"}",
        "{\"message\":\"hello\",\"Image\":\"a\"}",
        "{\"_raw\":\"plain\",\"Image\":\"a\"}",
        "{\"_source\":{\"Image\":\"a\"}}",
        "{\"_source\":\"x\",\"Image\":\"a\"}",
        "{\"UtcTime\":1700000000000,\"@timestamp\":\"bad\"}",
        "{\"_messageTime\":\"12x\",\"@timestamp\":\"2020-01-01T00:00:00Z\"}",
        "{\"Computer\":null,\"Hostname\":42,\"User\":true}",
        "{\"a\":[1,{\"b\":[[]]}],\"EventID\":\"\",\"event_id\":3}",
        "{} ",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "[1]",
        "\"<Event/>\"",
        "{\"Image\":\"\xC3\xA9\xE2\x82\xAC\"}",
        "{\"Image\":\"\xC0\xAF\"}",
        "{\"Image\":\"\xED\xA0\x80\"}",
        "{\"Image\":\"x\"}\x00",
        "{\"Provider\":{\"Name\":\"x\"},\"Channel\":\"Microsoft-Windows-Sysmon/Operational\"}",
    };
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        size_t n = strlen(edges[i]);
        if (i + 2 == sizeof(edges) / sizeof(edges[0]))
            n++; /* keep the NUL byte */
        check_line("edge", (long)i, edges[i], n);
    }
    DIR *dp = opendir(RX_TEST_DATA "/cases");
    assert_non_null(dp);
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), RX_TEST_DATA "/cases/%s", de->d_name);
        json_t *list = json_load_file(path, 0, NULL);
        size_t i;
        json_t *c;
        json_array_foreach(list, i, c)
        {
            json_t *bt = json_object_get(c, "body_text");
            json_t *body = json_object_get(c, "body");
            if (json_is_string(bt)) {
                const char *s = json_string_value(bt);
                const char *e = s + json_string_length(bt);
                long ln = 0;
                while (s < e) {
                    const char *nl = memchr(s, '\n', (size_t)(e - s));
                    const char *stop = nl ? nl : e;
                    check_line(de->d_name, ++ln, s, (size_t)(stop - s));
                    s = stop + 1;
                }
            } else if (json_is_array(body)) {
                size_t k;
                json_t *ev;
                json_array_foreach(body, k, ev)
                {
                    char *t = json_dumps(ev, JSON_COMPACT | JSON_ENCODE_ANY);
                    check_line(de->d_name, (long)k, t, strlen(t));
                    free(t);
                }
            } else if (body) {
                char *t = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
                check_line(de->d_name, 0, t, strlen(t));
                free(t);
            }
        }
        json_decref(list);
    }
    closedir(dp);
    assert_int_equal(mismatches, 0);

    /* The fast path is really taken for flat events, and only for them:
     * otherwise the comparisons above would compare the full path with
     * itself. */
    struct seen sink;
    memset(&sink, 0, sizeof(sink));
    size_t before = rx_ingest_fast_events(fast_in);
    const char *flat = "{\"EventID\":1,\"Image\":\"C:\\\\git.exe\"}";
    assert_int_equal(rx_ingest_ndjson_line(fast_in, flat, strlen(flat), 1,
                                           record, &sink), 0);
    assert_int_equal(rx_ingest_fast_events(fast_in), before + 1);
    const char *nested = "{\"winlog\":{\"event_id\":1}}";
    assert_int_equal(rx_ingest_ndjson_line(fast_in, nested, strlen(nested), 2,
                                           record, &sink), 0);
    assert_int_equal(rx_ingest_fast_events(fast_in), before + 1);
    assert_int_equal(rx_ingest_fast_events(slow_in), 0);
    seen_clear(&sink);
}

static int setup(void **state)
{
    (void)state;
    fast_in = rx_ingest_new();
    slow_in = rx_ingest_new();
    rx_ingest_set_fast_path(slow_in, false);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rx_ingest_free(fast_in);
    rx_ingest_free(slow_in);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_and_edges),
        cmocka_unit_test(test_datasets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
