#include "route_events.h"

#include <stdatomic.h>
#include <string.h>

#include "auth.h"
#include "batch.h"
#include "log.h"

/* Returned by on_event (positive, so never an RX_E* code) when the job
 * must stop: its deadline passed or the pool is aborting jobs. */
#define STOP_DEADLINE 1
#define STOP_ABORT 2

struct run {
    struct rx_batch *batch;
    int64_t deadline_ms;
    const atomic_bool *abort;
    unsigned long seen;
};

/* Wraps rx_batch_add to look at the clock every 512 events: cheap, and a
 * huge batch still stops within a few ms of its deadline. */
static int on_event(void *ctx, const struct rx_event_view *view,
                    const char *error)
{
    struct run *run = ctx;
    int rc = rx_batch_add(run->batch, view, error);
    if (rc != 0)
        return rc;
    if ((++run->seen & 511) == 0) {
        if (atomic_load_explicit(run->abort, memory_order_relaxed))
            return STOP_ABORT;
        if (rx_pool_now_ms() > run->deadline_ms)
            return STOP_DEADLINE;
    }
    return 0;
}

static void unavailable(struct rx_reply *reply, const char *code,
                        const char *message)
{
    rx_reply_error(reply, 503, code, message, 0, 0);
    reply->retry_after = 1;
}

void rx_route_events_handle(struct rx_app *app, struct rx_worker *w,
                            const struct rx_events_request *req,
                            struct rx_reply *reply,
                            struct rx_events_stats *stats)
{
    const struct rx_config *c = app->config;
    memset(stats, 0, sizeof(*stats));
    if (atomic_load(w->abort)) {
        unavailable(reply, "draining", "the service is shutting down");
        return;
    }
    if (rx_pool_now_ms() > req->deadline_ms) {
        unavailable(reply, "overloaded",
                    "the batch waited in the queue past its deadline");
        return;
    }
    /* The signature is checked here, not on the HTTP thread: hashing a
     * 16 MB body takes tens of ms that would stall every connection. */
    if (req->signature &&
        !rx_auth_signature_ok(c, req->signature, req->body, req->len)) {
        rx_reply_error(reply, 401, "unauthorized",
                       "missing or invalid credentials", 0, 0);
        reply->www_authenticate = "Bearer realm=\"repoexfil\"";
        return;
    }

    struct rx_batch *batch = rx_batch_new(&c->rules, w->scratch, c->max_events);
    struct run run = {batch, req->deadline_ms, w->abort, 0};
    struct rx_error_detail detail;
    memset(&detail, 0, sizeof(detail));
    int rc = rx_ingest_body(w->ingest, req->body, req->len, req->type,
                            c->max_events, on_event, &run, &detail);
    if (rc == STOP_ABORT) {
        unavailable(reply, "draining", "the service is shutting down");
    } else if (rc == STOP_DEADLINE) {
        unavailable(reply, "overloaded", "the batch ran past its deadline");
    } else if (rc != 0) {
        if (rc == RX_ETOOMANY && !detail.message[0])
            rx_error_set(&detail, RX_ETOOMANY, 0, 0,
                         "more than max_events (%zu) events", c->max_events);
        rx_reply_from_error(reply, rc, &detail);
    } else {
        /* The answer is bounded by the events allowed and the body they
         * came from (strings are copied into alert rows, escaped at worst
         * six times over). */
        rx_buf_reset(&reply->body);
        reply->body.cap = c->max_events * 512 + req->len * 8 + 65536;
        rc = rx_batch_write_answer(batch, req->request_id, req->include_results,
                                   &reply->body);
        if (rc != 0) {
            rx_reply_from_error(reply, rc, NULL);
        } else {
            reply->status = 200;
            reply->content_type = "application/json";
            stats->received = rx_batch_received(batch);
            stats->errors = rx_batch_errors(batch);
            stats->evaluated = stats->received - stats->errors;
            stats->alerts = rx_batch_alert_count(batch);
            size_t by_signal[RX_SIG_COUNT] = {0}, by_score[4] = {0};
            rx_batch_alert_tally(batch, by_signal, by_score);
            rx_metrics_batch_done(app->metrics, stats->received, stats->errors,
                                  by_signal, by_score);
            if (req->notify && stats->alerts > 0 && app->dispatcher) {
                json_t *rows = rx_batch_alert_rows(batch);
                stats->dropped = rx_dispatcher_submit(app->dispatcher, rows,
                                                      req->request_id);
            }
        }
    }
    rx_batch_free(batch);
}
