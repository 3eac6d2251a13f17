/*
 * dispatch: asynchronous alert delivery to Slack, PagerDuty and a generic
 * webhook (SPEC section 4).
 *
 * One dispatcher thread owns the libcurl multi handle and every sink's
 * state. Workers hand it alert rows through a bounded queue and never wait:
 * when the queue is full the alerts are dropped, logged and counted. The
 * HTTP answer never waits for delivery.
 */
#ifndef RX_DISPATCH_H
#define RX_DISPATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

/* The sink settings of SPEC section 5. Strings are owned (free with
 * rx_dispatch_config_cleanup); NULL means "not configured". */
struct rx_dispatch_config {
    char *slack_webhook_url;
    int slack_min_score;          /* 1..3, or -1: the threshold */
    char *pagerduty_routing_key;  /* 32 characters when set */
    char *pagerduty_url;          /* default Events API v2 enqueue URL */
    int pagerduty_min_score;      /* 1..3, or -1: the threshold */
    double pagerduty_rate_per_minute; /* pacing per routing key, > 0 */
    char *webhook_url;
    char *webhook_headers;        /* "Name: value" lines, '\n'-separated */
    char *webhook_secret;         /* HMAC-SHA256 key for X-Signature-256 */
    size_t alert_queue;           /* alerts the queue holds, >= 1 */
    int suppress_seconds;         /* dedup window; 0 turns it off */
    int drain_seconds;            /* delivery deadline on shutdown */
    long connect_timeout_ms;      /* per request connect timeout */
    long request_timeout_ms;      /* per request total timeout */
    /* Added for issue 4 (defaults from init; tests shorten them): */
    int webhook_min_score;        /* 1..3, or -1: the threshold */
    long retry_base_ms;           /* first backoff after a failure (1000) */
    long retry_cap_ms;            /* longest backoff (60000) */
    long retry_total_ms;          /* give an alert up this long after it
                                     was handed over (600000) */
    long slack_interval_ms;       /* least time between Slack posts (1000) */
    int slack_max_retries;        /* retries of a Slack post that may have
                                     arrived (5xx, timeout) (2) */
    int threshold;                /* set by validate: the resolved threshold */
};

/* Fills c with the defaults of SPEC section 5 (no sink configured). */
void rx_dispatch_config_init(struct rx_dispatch_config *c);
void rx_dispatch_config_cleanup(struct rx_dispatch_config *c);
/* Checks the settings once at start-up (URLs parse, key length, ranges);
 * detail names the setting. threshold resolves the -1 min scores. */
int rx_dispatch_config_validate(struct rx_dispatch_config *c, int threshold,
                                struct rx_error_detail *detail) RX_WUR;

struct rx_dispatcher;

/* Starts the dispatcher thread. Borrows c (must outlive it; validate it
 * first). curl_global_init must have run. Returns owned (stop and free with
 * rx_dispatcher_stop), or NULL when libcurl or the thread cannot start. */
struct rx_dispatcher *rx_dispatcher_start(const struct rx_dispatch_config *c);

/* Hands over the alert rows of one batch (a JSON array, taken, whatever the
 * outcome) with the request id (borrowed, copied). Never blocks. Returns
 * the number of rows dropped because the queue was full. Thread-safe.
 * (Rows a sink later drops because its own backlog, also alert_queue
 * alerts, is full are counted in the metrics and logged, not returned.) */
size_t rx_dispatcher_submit(struct rx_dispatcher *d, json_t *rows,
                            const char *request_id);

/* True while the dispatcher thread runs. Thread-safe. */
bool rx_dispatcher_running(const struct rx_dispatcher *d);

/* Sends one synthetic alert to every configured sink (bypassing min score,
 * suppression and retries), waits for the outcomes (at most timeout_ms)
 * and returns them as owned JSON {"sinks":{"slack":{"outcome":...,
 * "status":...,"message":...},"pagerduty":...,"webhook":...}}: every
 * sink, with outcome sent, failed, timeout or not_configured, status the
 * HTTP status or null, and a short message with no URL or key (the
 * AlertTestAnswer schema of openapi.yaml). Thread-safe. */
json_t *rx_dispatcher_test(struct rx_dispatcher *d, long timeout_ms);

/* Appends the dispatcher's Prometheus metrics (notifications by sink and
 * outcome, queue depth, delivery latency) to out. Thread-safe. */
int rx_dispatcher_write_metrics(struct rx_dispatcher *d,
                                struct rx_buf *out) RX_WUR;

/* Delivers what is queued within the drain deadline, logs and counts what
 * could not be delivered, stops the thread and frees d. */
void rx_dispatcher_stop(struct rx_dispatcher *d);

#endif
