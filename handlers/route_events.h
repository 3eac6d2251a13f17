/*
 * route_events: POST /events, run on a worker thread. Verifies the body
 * signature when one was sent, reads the body in any envelope (ingest),
 * scores each event (batch), writes SPEC section 3's answer, and hands the
 * alert rows to the dispatcher unless notify=false.
 *
 * It never waits for alert delivery. It gives up with 503 when the job's
 * deadline passes or the pool drains past its deadline.
 */
#ifndef RX_ROUTE_EVENTS_H
#define RX_ROUTE_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "ingest.h"
#include "pool.h"
#include "reply.h"

struct rx_events_request {
    const char *body;          /* borrowed raw body */
    size_t len;                /* bytes in body */
    enum rx_content_type type; /* reader chosen from Content-Type */
    const char *request_id;    /* borrowed, for the answer and alerts */
    bool notify;               /* false: dry run (notify=false) */
    bool include_results;      /* false: view=alerts */
    const char *signature;     /* X-Signature-256 to verify, or NULL */
    int64_t deadline_ms;       /* CLOCK_MONOTONIC ms, see rx_pool_now_ms */
};

/* What the request log line and metrics need. */
struct rx_events_stats {
    size_t received, evaluated, errors, alerts; /* events */
    size_t dropped; /* alert rows the dispatcher queue refused */
};

/* Fills reply (status and body) and stats. Borrows everything. */
void rx_route_events_handle(struct rx_app *app, struct rx_worker *w,
                            const struct rx_events_request *req,
                            struct rx_reply *reply,
                            struct rx_events_stats *stats);

#endif
