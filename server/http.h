/*
 * http: the libmicrohttpd daemon. One internal epoll thread reads
 * requests, answers the cheap routes itself and hands each POST /events
 * batch to the worker pool (suspending the connection until a worker
 * resumes it). It enforces the limits: body size (413 before the body is
 * read when Content-Length says so), connection count, per-connection
 * memory and an idle timeout. Every answer carries X-Request-ID; every
 * request is logged once and counted in the metrics.
 *
 * It does not parse events, score them or deliver alerts: handlers/ and
 * the dispatcher do.
 */
#ifndef RX_HTTP_H
#define RX_HTTP_H

#include <stdint.h>

#include "app.h"
#include "error.h"

struct rx_http;

/* The job function to give rx_pool_new: runs one POST /events batch on a
 * worker and resumes its connection. */
void rx_http_run_job(struct rx_worker *w, void *job);

/* Starts the daemon on app->config's address. app (and its pool, metrics
 * and config) are borrowed and must outlive the daemon. Returns owned, or
 * NULL with detail. */
struct rx_http *rx_http_start(struct rx_app *app,
                              struct rx_error_detail *detail);

/* The port actually bound (useful with port 0). */
unsigned rx_http_port(const struct rx_http *h);

/* Stops accepting connections (MHD_quiesce_daemon); open ones are still
 * served. */
void rx_http_quiesce(struct rx_http *h);

/* Waits until no request is in flight or until deadline_ms
 * (CLOCK_MONOTONIC); requests whose upload has stalled for a second are
 * not waited for. Returns the number still in flight. */
long rx_http_wait_idle(struct rx_http *h, int64_t deadline_ms);

/* Stops the daemon and frees h. The pool must have been drained first, so
 * that no connection is still suspended (MHD 0.9.75 aborts otherwise). */
void rx_http_stop(struct rx_http *h);

#endif
