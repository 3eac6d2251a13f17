/*
 * libFuzzer target: the differential test as a fuzzer. Any NDJSON line
 * must give the same view (or the same error) on the tree-less fast path
 * and on the full jansson path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

struct seen {
    int calls, is_error;
    char error[512];
    struct rx_event_view v;
    char text[RX_F_COUNT][256];
};

static int record(void *ctx, const struct rx_event_view *v, const char *err)
{
    struct seen *s = ctx;
    s->calls++;
    if (v == NULL) {
        s->is_error = 1;
        snprintf(s->error, sizeof(s->error), "%s", err);
        return 0;
    }
    s->v = *v;
    for (int f = 0; f < RX_F_COUNT; f++)
        snprintf(s->text[f], sizeof(s->text[f]), "%zu:%.*s", v->f[f].n,
                 (int)(v->f[f].n > 200 ? 200 : v->f[f].n),
                 v->f[f].p ? v->f[f].p : "");
    return 0;
}

/* Up to 16 events of a body, each recorded as above. */
struct many {
    int n;
    struct seen ev[16];
};

static int record_many(void *ctx, const struct rx_event_view *v,
                       const char *err)
{
    struct many *m = ctx;
    if (m->n < 16)
        record(&m->ev[m->n], v, err);
    m->n++;
    return 0;
}

static int same(const struct seen *a, const struct seen *b)
{
    if (a->calls != b->calls || a->is_error != b->is_error)
        return 0;
    if (a->is_error)
        return strcmp(a->error, b->error) == 0;
    if (!a->calls)
        return 1;
    if (a->v.event_id != b->v.event_id || a->v.has_time != b->v.has_time ||
        (a->v.has_time && a->v.time_ms != b->v.time_ms))
        return 0;
    for (int f = 0; f < RX_F_COUNT; f++)
        if (strcmp(a->text[f], b->text[f]) != 0)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rx_ingest *fast, *slow;
    if (fast == NULL) {
        fast = rx_ingest_new();
        slow = rx_ingest_new();
        rx_ingest_set_fast_path(slow, 0);
    }
    struct seen a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    if (rx_ingest_ndjson_line(fast, (const char *)data, size, 1, record, &a) ||
        rx_ingest_ndjson_line(slow, (const char *)data, size, 1, record, &b))
        abort();
    if (!same(&a, &b))
        abort();

    /* The same input as a whole NDJSON body: the one-pass line reader. */
    static struct many ma, mb;
    memset(&ma, 0, sizeof(ma));
    memset(&mb, 0, sizeof(mb));
    struct rx_error_detail da, db;
    int ra = rx_ingest_body(fast, (const char *)data, size, RX_CT_NDJSON, 8,
                            record_many, &ma, &da);
    int rb = rx_ingest_body(slow, (const char *)data, size, RX_CT_NDJSON, 8,
                            record_many, &mb, &db);
    if (ra != rb || ma.n != mb.n)
        abort();
    for (int i = 0; i < ma.n && i < 16; i++)
        if (!same(&ma.ev[i], &mb.ev[i]))
            abort();
    return 0;
}
