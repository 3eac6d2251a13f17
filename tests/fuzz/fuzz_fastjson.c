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
    if (a.calls != b.calls || a.is_error != b.is_error)
        abort();
    if (a.is_error && strcmp(a.error, b.error) != 0)
        abort();
    if (!a.is_error && a.calls) {
        if (a.v.event_id != b.v.event_id || a.v.has_time != b.v.has_time ||
            (a.v.has_time && a.v.time_ms != b.v.time_ms))
            abort();
        for (int f = 0; f < RX_F_COUNT; f++)
            if (strcmp(a.text[f], b.text[f]) != 0)
                abort();
    }
    return 0;
}
