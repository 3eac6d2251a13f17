/*
 * metrics: the service's Prometheus registry and its text exposition
 * (format 0.0.4): requests by route and status code, request duration
 * histogram by route, events received/evaluated/errored, alerts by signal
 * and by score, in-flight requests, worker queue depth, build info.
 *
 * Counters are C11 atomics, so any thread updates them without a lock;
 * a scrape reads each value once (a scrape is not a snapshot across
 * counters, as with every Prometheus client). It does not know about
 * HTTP, workers or the dispatcher: callers pass what it cannot count.
 */
#ifndef RX_METRICS_H
#define RX_METRICS_H

#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "rule.h"

/* The routes, with the label used in metrics and logs. */
#define RX_ROUTE_MAP(X)                                                        \
    X(EVENTS, "/events")                                                       \
    X(HEALTHZ, "/healthz")                                                     \
    X(READYZ, "/readyz")                                                       \
    X(METRICS, "/metrics")                                                     \
    X(VERSION, "/version")                                                     \
    X(RULES, "/rules")                                                         \
    X(OPENAPI, "/openapi.yaml")                                                \
    X(ALERTS_TEST, "/alerts/test")                                             \
    X(OTHER, "other")

enum rx_route {
#define RX_ROUTE_ENUM(id, label) RX_ROUTE_##id,
    RX_ROUTE_MAP(RX_ROUTE_ENUM)
#undef RX_ROUTE_ENUM
        RX_ROUTE_COUNT
};

/* Returns the route's label ("/events", ..., "other"). */
const char *rx_route_label(enum rx_route route);

struct rx_metrics;

/* Returns an owned, zeroed registry (free with rx_metrics_free). */
struct rx_metrics *rx_metrics_new(void);
void rx_metrics_free(struct rx_metrics *m);

/* Counts one finished request. status 100..599 (others count as 0). */
void rx_metrics_request_done(struct rx_metrics *m, enum rx_route route,
                             int status, double seconds);
/* One request started (+1) or finished (-1): the in-flight gauge. */
void rx_metrics_in_flight_add(struct rx_metrics *m, int delta);
long rx_metrics_in_flight(const struct rx_metrics *m);

/* Counts one evaluated batch. by_signal is indexed by enum rx_signal. */
void rx_metrics_batch_done(struct rx_metrics *m, size_t received, size_t errors,
                           const size_t by_signal[RX_SIG_COUNT],
                           const size_t by_score[4]);
/* Counts batches refused because the work queue was full. */
void rx_metrics_queue_full(struct rx_metrics *m);

/* What the registry reads from elsewhere at scrape time. */
struct rx_metrics_gauges {
    size_t queue_depth;    /* jobs waiting for a worker */
    size_t queue_capacity; /* most jobs that may wait */
    size_t workers_busy;   /* workers running a job */
    unsigned workers;      /* worker threads */
    int ready;             /* 1 when /readyz answers 200 */
};

/* Appends the exposition to out. Returns 0 or RX_ETOOBIG. Thread-safe. */
int rx_metrics_write(const struct rx_metrics *m,
                     const struct rx_metrics_gauges *g,
                     struct rx_buf *out) RX_WUR;

#endif
