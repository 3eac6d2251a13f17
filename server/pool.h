/*
 * pool: the worker threads that evaluate batches, fed through one bounded
 * queue.
 *
 * The HTTP thread first reserves a slot (rx_pool_reserve; refused when the
 * queue is full or the pool drains, so the caller answers 503 without
 * suspending), then suspends the connection, then pushes the job into the
 * slot it holds. A worker runs the job function, which must resume the
 * connection as its very last touch of the job. Each worker owns its
 * ingest reader and rule scratch, so nothing is shared but the queue.
 * The pool knows nothing of HTTP: a job is an opaque pointer.
 */
#ifndef RX_POOL_H
#define RX_POOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "rule.h"

/* What one worker thread owns; handed to each job it runs. */
struct rx_worker {
    unsigned id;                     /* 0..workers-1 */
    struct rx_ingest *ingest;        /* owned by the pool, this thread's */
    struct rx_rule_scratch *scratch; /* owned by the pool, this thread's */
    const atomic_bool *abort;        /* set when the drain deadline nears:
                                        jobs should give up at once */
};

/* Runs one job on a worker thread. The job is borrowed by the function
 * and handed back to its owner (by resuming its connection). */
typedef void (*rx_job_fn)(struct rx_worker *w, void *job);

struct rx_pool;

/* Starts workers threads and a queue of queue_depth slots. Returns owned
 * (free with rx_pool_free after rx_pool_drain), or NULL if a thread
 * could not be started. */
struct rx_pool *rx_pool_new(unsigned workers, size_t queue_depth, rx_job_fn fn);

/* Reserves a queue slot. Returns false when the queue is full or the pool
 * drains. Every true must be followed by exactly one rx_pool_push. */
bool rx_pool_reserve(struct rx_pool *p);
/* Queues a job into the slot reserved before. Borrows job until fn ends. */
void rx_pool_push(struct rx_pool *p, void *job);

size_t rx_pool_depth(struct rx_pool *p); /* jobs waiting */
size_t rx_pool_capacity(const struct rx_pool *p);
size_t rx_pool_busy(struct rx_pool *p); /* jobs running */
unsigned rx_pool_workers(const struct rx_pool *p);
bool rx_pool_running(struct rx_pool *p); /* workers up, not draining */

/* Stops taking reservations, lets the workers finish every queued and
 * reserved job, and joins them. If that is not done by abort_at_ms
 * (CLOCK_MONOTONIC ms), sets the abort flag so running jobs give up.
 * Returns when every worker has exited. */
void rx_pool_drain(struct rx_pool *p, int64_t abort_at_ms);
void rx_pool_free(struct rx_pool *p);

/* CLOCK_MONOTONIC in ms, for deadlines. */
int64_t rx_pool_now_ms(void);

#endif
