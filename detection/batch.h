/*
 * batch: collects the verdicts of one batch of events and writes the
 * answer of SPEC section 3 (received, evaluated, errors, threshold,
 * alert_count, results, alerts).
 *
 * rx_batch_add is an rx_event_fn: pass the batch as ctx to rx_ingest_*.
 * It scores each view with the rule and keeps a compact result per event
 * plus a full alert row (copied strings) per alert, so the views may die.
 * Alerts are ordered as the query's `sort by SuspicionScore desc,
 * _messageTime desc`, ties in input order.
 *
 * Thread-safety: one batch is owned by one thread. Rules are borrowed
 * read-only, the scratch is the calling thread's.
 */
#ifndef RX_BATCH_H
#define RX_BATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "event.h"
#include "rule.h"
#include "rules.h"

struct rx_batch;

/* Returns an owned, empty batch. rules and scratch are borrowed and must
 * outlive it. max_events (0: no limit) makes the event past it fail with
 * RX_ETOOMANY. */
struct rx_batch *rx_batch_new(const struct rx_rules *rules,
                              struct rx_rule_scratch *scratch,
                              size_t max_events);
void rx_batch_free(struct rx_batch *b);

/* rx_event_fn: ctx is the batch. Returns 0 or RX_ETOOMANY. */
int rx_batch_add(void *batch, const struct rx_event_view *view,
                 const char *error);

size_t rx_batch_received(const struct rx_batch *b);
size_t rx_batch_errors(const struct rx_batch *b);
size_t rx_batch_alert_count(const struct rx_batch *b);
/* Events by signal that alerted, indexed by enum rx_signal, and by score
 * (index 0..3), for metrics. */
void rx_batch_alert_tally(const struct rx_batch *b,
                          size_t by_signal[RX_SIG_COUNT], size_t by_score[4]);

/* Appends the answer object to out. request_id may be NULL (left out).
 * With include_results false, "results" is left out (view=alerts).
 * Returns 0 or RX_ETOOBIG when out's cap is reached. */
int rx_batch_write_answer(struct rx_batch *b, const char *request_id,
                          bool include_results, struct rx_buf *out) RX_WUR;

/* Returns an owned JSON array of the alert rows, in alert order (each row
 * as in the answer's "alerts"). For the alert dispatcher. */
json_t *rx_batch_alert_rows(struct rx_batch *b);

#endif
