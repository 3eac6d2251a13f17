#include "metrics.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "build_info.h"
#include "xalloc.h"

/* Upper bounds of the duration histogram, in seconds. */
static const double bucket_bounds[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define N_BUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]))
#define N_STATUS 600

static const char *const route_labels[] = {
#define RX_ROUTE_LABEL(id, label) label,
    RX_ROUTE_MAP(RX_ROUTE_LABEL)
#undef RX_ROUTE_LABEL
};

/* Every status code is its own slot (600 of them per route): simpler and
 * exact, and 40 KB is nothing next to a request body. */
struct rx_metrics {
    atomic_ulong requests[RX_ROUTE_COUNT][N_STATUS];
    atomic_ulong buckets[RX_ROUTE_COUNT][N_BUCKETS]; /* not cumulative */
    atomic_ulong duration_count[RX_ROUTE_COUNT];
    atomic_ullong duration_sum_us[RX_ROUTE_COUNT];
    atomic_long in_flight;
    atomic_ulong events_received;
    atomic_ulong events_evaluated;
    atomic_ulong event_errors;
    atomic_ulong batches;
    atomic_ulong queue_full;
    atomic_ulong alerts_by_signal[RX_SIG_COUNT];
    atomic_ulong alerts_by_score[4];
};

const char *rx_route_label(enum rx_route route)
{
    return (unsigned)route < RX_ROUTE_COUNT ? route_labels[route] : "other";
}

struct rx_metrics *rx_metrics_new(void)
{
    /* Zeroed memory is a valid initial state for C11 atomics of integer
     * type on every platform we build for. */
    return rx_xcalloc(1, sizeof(struct rx_metrics));
}

void rx_metrics_free(struct rx_metrics *m)
{
    free(m);
}

void rx_metrics_request_done(struct rx_metrics *m, enum rx_route route,
                             int status, double seconds)
{
    if ((unsigned)route >= RX_ROUTE_COUNT)
        route = RX_ROUTE_OTHER;
    if (status < 100 || status >= N_STATUS)
        status = 0;
    atomic_fetch_add_explicit(&m->requests[route][status], 1,
                              memory_order_relaxed);
    if (seconds < 0)
        seconds = 0;
    size_t b = 0;
    while (b < N_BUCKETS && seconds > bucket_bounds[b])
        b++;
    if (b < N_BUCKETS)
        atomic_fetch_add_explicit(&m->buckets[route][b], 1,
                                  memory_order_relaxed);
    atomic_fetch_add_explicit(&m->duration_count[route], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&m->duration_sum_us[route],
                              (unsigned long long)(seconds * 1e6),
                              memory_order_relaxed);
}

void rx_metrics_in_flight_add(struct rx_metrics *m, int delta)
{
    atomic_fetch_add_explicit(&m->in_flight, delta, memory_order_relaxed);
}

long rx_metrics_in_flight(const struct rx_metrics *m)
{
    return atomic_load_explicit(&m->in_flight, memory_order_relaxed);
}

void rx_metrics_batch_done(struct rx_metrics *m, size_t received, size_t errors,
                           const size_t by_signal[RX_SIG_COUNT],
                           const size_t by_score[4])
{
    atomic_fetch_add_explicit(&m->batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->events_received, received,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&m->events_evaluated, received - errors,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&m->event_errors, errors, memory_order_relaxed);
    for (int i = 0; i < RX_SIG_COUNT; i++)
        atomic_fetch_add_explicit(&m->alerts_by_signal[i], by_signal[i],
                                  memory_order_relaxed);
    for (int i = 0; i < 4; i++)
        atomic_fetch_add_explicit(&m->alerts_by_score[i], by_score[i],
                                  memory_order_relaxed);
}

void rx_metrics_queue_full(struct rx_metrics *m)
{
    atomic_fetch_add_explicit(&m->queue_full, 1, memory_order_relaxed);
}

static unsigned long load(const atomic_ulong *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static int write_counter(struct rx_buf *out, const char *name, const char *help,
                         unsigned long v)
{
    return rx_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %lu\n", name,
                         help, name, name, v);
}

int rx_metrics_write(const struct rx_metrics *m,
                     const struct rx_metrics_gauges *g, struct rx_buf *out)
{
    int rc = 0;
    rc |= rx_buf_puts(out, "# HELP repoexfil_http_requests_total HTTP "
                           "requests answered, by route and status code.\n"
                           "# TYPE repoexfil_http_requests_total counter\n");
    for (int r = 0; r < RX_ROUTE_COUNT; r++) {
        for (int s = 0; s < N_STATUS; s++) {
            unsigned long v = load(&m->requests[r][s]);
            if (v)
                rc |= rx_buf_printf(out,
                                    "repoexfil_http_requests_total{route=\"%s"
                                    "\",code=\"%d\"} %lu\n",
                                    route_labels[r], s, v);
        }
    }
    rc |=
        rx_buf_puts(out, "# HELP repoexfil_http_request_duration_seconds Time "
                         "from request start to answer queued, by route.\n"
                         "# TYPE repoexfil_http_request_duration_seconds "
                         "histogram\n");
    for (int r = 0; r < RX_ROUTE_COUNT; r++) {
        unsigned long count = load(&m->duration_count[r]);
        if (count == 0)
            continue;
        unsigned long cum = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cum += load(&m->buckets[r][b]);
            rc |= rx_buf_printf(out,
                                "repoexfil_http_request_duration_seconds_"
                                "bucket{route=\"%s\",le=\"%g\"} %lu\n",
                                route_labels[r], bucket_bounds[b], cum);
        }
        /* Read count after the buckets so +Inf is never below a bucket. */
        if (count < cum)
            count = cum;
        unsigned long long sum_us =
            atomic_load_explicit(&m->duration_sum_us[r], memory_order_relaxed);
        rc |= rx_buf_printf(
            out,
            "repoexfil_http_request_duration_seconds_bucket{route=\"%s\","
            "le=\"+Inf\"} %lu\n"
            "repoexfil_http_request_duration_seconds_sum{route=\"%s\"} "
            "%.6f\n"
            "repoexfil_http_request_duration_seconds_count{route=\"%s\"} "
            "%lu\n",
            route_labels[r], count, route_labels[r], (double)sum_us / 1e6,
            route_labels[r], count);
    }
    rc |= rx_buf_printf(out,
                        "# HELP repoexfil_http_requests_in_flight Requests "
                        "being read, queued, evaluated or answered.\n"
                        "# TYPE repoexfil_http_requests_in_flight gauge\n"
                        "repoexfil_http_requests_in_flight %ld\n",
                        rx_metrics_in_flight(m));
    rc |= write_counter(out, "repoexfil_batches_total",
                        "Event batches evaluated.", load(&m->batches));
    rc |= write_counter(out, "repoexfil_events_received_total",
                        "Events received in evaluated batches.",
                        load(&m->events_received));
    rc |=
        write_counter(out, "repoexfil_events_evaluated_total",
                      "Events scored by the rule.", load(&m->events_evaluated));
    rc |= write_counter(out, "repoexfil_event_errors_total",
                        "Events that could not be read (per-event errors).",
                        load(&m->event_errors));
    rc |= write_counter(out, "repoexfil_queue_full_total",
                        "Batches refused with 503 because the work queue "
                        "was full.",
                        load(&m->queue_full));
    rc |= rx_buf_puts(out, "# HELP repoexfil_alerts_total Events that "
                           "alerted, by signal.\n"
                           "# TYPE repoexfil_alerts_total counter\n");
    for (int i = 0; i < RX_SIG_COUNT; i++)
        rc |= rx_buf_printf(out, "repoexfil_alerts_total{signal=\"%s\"} %lu\n",
                            rx_signal_name(i), load(&m->alerts_by_signal[i]));
    rc |= rx_buf_puts(out, "# HELP repoexfil_alerts_by_score_total Events "
                           "that alerted, by suspicion score.\n"
                           "# TYPE repoexfil_alerts_by_score_total counter\n");
    for (int i = 1; i < 4; i++)
        rc |= rx_buf_printf(out,
                            "repoexfil_alerts_by_score_total{score=\"%d\"} "
                            "%lu\n",
                            i, load(&m->alerts_by_score[i]));
    rc |= rx_buf_printf(
        out,
        "# HELP repoexfil_worker_queue_depth Batches waiting for a worker.\n"
        "# TYPE repoexfil_worker_queue_depth gauge\n"
        "repoexfil_worker_queue_depth %zu\n"
        "# HELP repoexfil_worker_queue_capacity Most batches that may wait.\n"
        "# TYPE repoexfil_worker_queue_capacity gauge\n"
        "repoexfil_worker_queue_capacity %zu\n"
        "# HELP repoexfil_workers_busy Workers evaluating a batch.\n"
        "# TYPE repoexfil_workers_busy gauge\n"
        "repoexfil_workers_busy %zu\n"
        "# HELP repoexfil_workers Worker threads.\n"
        "# TYPE repoexfil_workers gauge\n"
        "repoexfil_workers %u\n"
        "# HELP repoexfil_ready 1 when the service takes batches.\n"
        "# TYPE repoexfil_ready gauge\n"
        "repoexfil_ready %d\n"
        "# HELP repoexfil_build_info Build facts; the value is always 1.\n"
        "# TYPE repoexfil_build_info gauge\n"
        "repoexfil_build_info{version=\"%s\",revision=\"%s\","
        "build_time=\"%s\"} 1\n",
        g->queue_depth, g->queue_capacity, g->workers_busy, g->workers,
        g->ready, RX_VERSION, RX_GIT_REVISION, RX_BUILD_TIME);
    return rc ? RX_ETOOBIG : 0;
}
