#include "batch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "xalloc.h"

/* A compact verdict per event: the views die with their event, and a
 * batch may hold a hundred thousand of these. */
struct result {
    char *error; /* owned; NULL when the event was evaluated */
    int8_t score;
    int8_t signal;
    uint8_t signals;
    bool is_ci_system;
    bool is_known_ide;
    bool alert;
};

struct alert {
    size_t index;
    int score;
    int64_t time_ms; /* 0 when the event had no time */
    json_t *row;     /* owned */
};

struct rx_batch {
    const struct rx_rules *rules;
    struct rx_rule_scratch *scratch;
    size_t max_events;
    struct result *results;
    size_t count, size;
    size_t errors;
    struct alert *alerts;
    size_t alert_count, alert_size;
    size_t by_signal[RX_SIG_COUNT]; /* alerts by their signal */
    size_t by_score[4];             /* alerts by their score */
    bool sorted;
};

struct rx_batch *rx_batch_new(const struct rx_rules *rules,
                              struct rx_rule_scratch *scratch,
                              size_t max_events)
{
    struct rx_batch *b = rx_xcalloc(1, sizeof(*b));
    b->rules = rules;
    b->scratch = scratch;
    b->max_events = max_events;
    return b;
}

void rx_batch_free(struct rx_batch *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->count; i++)
        free(b->results[i].error);
    for (size_t i = 0; i < b->alert_count; i++)
        json_decref(b->alerts[i].row);
    free(b->results);
    free(b->alerts);
    free(b);
}

static json_t *str_or_null(struct rx_str s)
{
    if (s.n == 0)
        return json_null();
    json_t *j = json_stringn(s.p, s.n);
    return j ? j : json_null();
}

/* The query's output fields, with its names, in its order. */
static json_t *alert_row(size_t index, const struct rx_event_view *v,
                         const struct rx_verdict *vd)
{
    json_t *row = json_object();
    json_object_set_new(row, "index", json_integer((json_int_t)index));
    json_object_set_new(row, "_messageTime",
                        v->has_time ? json_integer(v->time_ms) : json_null());
    static const enum rx_field order[] = {
        RX_F_COMPUTER,     RX_F_USER,         RX_F_IMAGE,
        RX_F_COMMAND_LINE, RX_F_PARENT_IMAGE, RX_F_DEST_HOST};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        json_object_set_new(row, rx_field_name(order[i]),
                            str_or_null(v->f[order[i]]));
    json_object_set_new(row, "Signal",
                        vd->signal >= 0 ? json_string(rx_signal_name(vd->signal))
                                        : json_null());
    json_object_set_new(row, "IsCISystem", json_integer(vd->is_ci_system));
    json_object_set_new(row, "IsKnownIDE", json_integer(vd->is_known_ide));
    json_object_set_new(row, "SuspicionScore", json_integer(vd->score));
    return row;
}

int rx_batch_add(void *batch, const struct rx_event_view *view,
                 const char *error)
{
    struct rx_batch *b = batch;
    if (b->max_events && b->count >= b->max_events)
        return RX_ETOOMANY;
    if (b->count == b->size) {
        b->size = b->size ? b->size * 2 : 64;
        b->results = rx_xrealloc(b->results, b->size * sizeof(*b->results));
    }
    struct result *r = &b->results[b->count];
    memset(r, 0, sizeof(*r));
    r->signal = -1;
    size_t index = b->count++;
    if (view == NULL) {
        r->error = rx_xstrdup(error ? error : "unreadable event");
        b->errors++;
        return 0;
    }
    struct rx_verdict vd;
    rx_rule_evaluate(b->rules, b->scratch, view, &vd);
    r->score = (int8_t)vd.score;
    r->signal = (int8_t)vd.signal;
    r->signals = (uint8_t)vd.signals;
    r->is_ci_system = vd.is_ci_system;
    r->is_known_ide = vd.is_known_ide;
    r->alert = vd.alert;
    if (vd.alert) {
        if (b->alert_count == b->alert_size) {
            b->alert_size = b->alert_size ? b->alert_size * 2 : 8;
            b->alerts =
                rx_xrealloc(b->alerts, b->alert_size * sizeof(*b->alerts));
        }
        struct alert *a = &b->alerts[b->alert_count++];
        a->index = index;
        a->score = vd.score;
        a->time_ms = view->has_time ? view->time_ms : 0;
        a->row = alert_row(index, view, &vd);
        b->sorted = false;
        if (vd.signal >= 0)
            b->by_signal[vd.signal]++;
        b->by_score[vd.score & 3]++;
    }
    return 0;
}

size_t rx_batch_received(const struct rx_batch *b)
{
    return b->count;
}

size_t rx_batch_errors(const struct rx_batch *b)
{
    return b->errors;
}

size_t rx_batch_alert_count(const struct rx_batch *b)
{
    return b->alert_count;
}

void rx_batch_alert_tally(const struct rx_batch *b,
                          size_t by_signal[RX_SIG_COUNT], size_t by_score[4])
{
    memcpy(by_signal, b->by_signal, sizeof(b->by_signal));
    memcpy(by_score, b->by_score, sizeof(b->by_score));
}

/* sort by SuspicionScore desc, _messageTime desc; ties in input order. */
static int alert_cmp(const void *pa, const void *pb)
{
    const struct alert *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->time_ms != b->time_ms)
        return a->time_ms > b->time_ms ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static void sort_alerts(struct rx_batch *b)
{
    if (!b->sorted && b->alert_count > 1)
        qsort(b->alerts, b->alert_count, sizeof(*b->alerts), alert_cmp);
    b->sorted = true;
}

/* Appends the decimal digits of v. */
static int put_uint(struct rx_buf *out, size_t v)
{
    char tmp[24];
    size_t n = sizeof(tmp);
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return rx_buf_append(out, tmp + n, sizeof(tmp) - n);
}

#define PUT(lit) rx_buf_append(out, lit, sizeof(lit) - 1)

/* One result object. Written with appends rather than printf: for a
 * large batch this is most of the answer, and printf's parsing cost more
 * than the rule. */
static int write_result(struct rx_buf *out, size_t index,
                        const struct result *r)
{
    int rc = PUT("{\"index\":");
    if (rc == 0)
        rc = put_uint(out, index);
    if (rc)
        return rc;
    if (r->error) {
        rc = PUT(",\"error\":");
        if (rc == 0)
            rc = rx_buf_json_string(out, r->error, strlen(r->error));
        return rc ? rc : PUT("}");
    }
    static const char *const scores[] = {",\"score\":0", ",\"score\":1",
                                         ",\"score\":2", ",\"score\":3"};
    rc = rx_buf_puts(out, scores[r->score & 3]);
    if (rc == 0)
        rc = PUT(",\"signal\":");
    if (rc == 0 && r->signal >= 0) {
        rc = PUT("\"");
        if (rc == 0)
            rc = rx_buf_puts(out, rx_signal_name(r->signal));
        if (rc == 0)
            rc = PUT("\"");
    } else if (rc == 0) {
        rc = PUT("null");
    }
    if (rc == 0)
        rc = PUT(",\"signals\":[");
    bool first = true;
    for (int s = 0; rc == 0 && s < RX_SIG_COUNT; s++) {
        if (r->signals & (1u << s)) {
            rc = first ? 0 : PUT(",");
            if (rc == 0)
                rc = PUT("\"");
            if (rc == 0)
                rc = rx_buf_puts(out, rx_signal_name(s));
            if (rc == 0)
                rc = PUT("\"");
            first = false;
        }
    }
    if (rc == 0)
        rc = PUT("],\"is_ci_system\":");
    if (rc == 0)
        rc = r->is_ci_system ? PUT("true") : PUT("false");
    if (rc == 0)
        rc = PUT(",\"is_known_ide\":");
    if (rc == 0)
        rc = r->is_known_ide ? PUT("true") : PUT("false");
    if (rc == 0)
        rc = PUT(",\"alert\":");
    if (rc == 0)
        rc = r->alert ? PUT("true}") : PUT("false}");
    return rc;
}

#undef PUT

static int dump_cb(const char *buf, size_t size, void *data)
{
    return rx_buf_append(data, buf, size) ? -1 : 0;
}

int rx_batch_write_answer(struct rx_batch *b, const char *request_id,
                          bool include_results, struct rx_buf *out)
{
    sort_alerts(b);
    int rc = rx_buf_puts(out, "{");
    if (rc == 0 && request_id) {
        rc = rx_buf_puts(out, "\"request_id\":");
        if (rc == 0)
            rc = rx_buf_json_string(out, request_id, strlen(request_id));
        if (rc == 0)
            rc = rx_buf_puts(out, ",");
    }
    if (rc == 0)
        rc = rx_buf_printf(out,
                           "\"received\":%zu,\"evaluated\":%zu,\"errors\":%zu,"
                           "\"threshold\":%d,\"alert_count\":%zu",
                           b->count, b->count - b->errors, b->errors,
                           b->rules->threshold, b->alert_count);
    if (rc == 0 && include_results) {
        /* One allocation for the whole answer where the cap allows:
         * a scored result is about 140 bytes. */
        if (rx_buf_reserve(out, b->count * 150 + b->alert_count * 600) != 0) {
            /* Past the cap: the answer may still fit (the estimate is
             * generous); the appends below say whether it does. */
        }
        rc = rx_buf_puts(out, ",\"results\":[");
        for (size_t i = 0; rc == 0 && i < b->count; i++) {
            if (i)
                rc = rx_buf_puts(out, ",");
            if (rc == 0)
                rc = write_result(out, i, &b->results[i]);
        }
        if (rc == 0)
            rc = rx_buf_puts(out, "]");
    }
    if (rc == 0)
        rc = rx_buf_puts(out, ",\"alerts\":[");
    for (size_t i = 0; rc == 0 && i < b->alert_count; i++) {
        if (i)
            rc = rx_buf_puts(out, ",");
        if (rc == 0 && json_dump_callback(b->alerts[i].row, dump_cb, out,
                                          JSON_COMPACT) != 0)
            rc = RX_ETOOBIG;
    }
    if (rc == 0)
        rc = rx_buf_puts(out, "]}");
    return rc;
}

json_t *rx_batch_alert_rows(struct rx_batch *b)
{
    sort_alerts(b);
    json_t *rows = json_array();
    for (size_t i = 0; i < b->alert_count; i++)
        /* Deep copies: the rows go to the dispatcher thread, and jansson
         * objects are never shared between threads. */
        json_array_append_new(rows, json_deep_copy(b->alerts[i].row));
    return rows;
}
