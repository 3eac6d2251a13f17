/*
 * ingest: request bodies and files in, normalized event views out.
 *
 * Reads every envelope of SPEC section 2 (JSON array, events/results
 * arrays or strings holding one, Splunk result, Elasticsearch hits,
 * Wazuh all_fields, Graylog backlog, a single object, NDJSON, Windows
 * Event XML) and every event shape of its field table, and hands each
 * event, in input order, to a callback: a view when the event could be
 * read, an error text when it could not. A per-event problem never fails
 * the body; only a body that cannot be read at all does.
 *
 * Thread-safety: one struct rx_ingest per thread. It owns the scratch the
 * views borrow, so a view is valid only during its callback. No I/O.
 */
#ifndef RX_INGEST_H
#define RX_INGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "event.h"

enum rx_content_type {
    RX_CT_SNIFF,  /* missing, text/plain, application/octet-stream */
    RX_CT_JSON,   /* application/json (and +json) */
    RX_CT_NDJSON, /* application/x-ndjson, application/jsonl, ... */
    RX_CT_XML,    /* application/xml, text/xml */
    RX_CT_UNSUPPORTED
};

/* Maps a Content-Type header value (parameters ignored, case-insensitive;
 * NULL or empty means missing) to the reader to use. */
enum rx_content_type rx_ingest_content_type(const char *header);

/* Called once per event, in input order. Exactly one of view and error is
 * non-NULL. Both are borrowed for the call. A non-zero return stops the
 * ingest, which then returns that value. */
typedef int (*rx_event_fn)(void *ctx, const struct rx_event_view *view,
                           const char *error);

struct rx_ingest;

/* Returns an owned reader (free with rx_ingest_free). */
struct rx_ingest *rx_ingest_new(void);
void rx_ingest_free(struct rx_ingest *in);

/* Turns the tree-less reader for flat NDJSON events on (the default) or
 * off. Off, every event takes the full jansson path: the reference the
 * differential test compares the fast path with. */
void rx_ingest_set_fast_path(struct rx_ingest *in, bool on);

/* Events this reader has read on the tree-less fast path so far (the
 * others took the full path). For tests and benchmarks. */
size_t rx_ingest_fast_events(const struct rx_ingest *in);

/* Reads body[0..len) as ct and calls fn for each event. max_events (0: no
 * limit) is checked before any event is handed on where the count is
 * known up front (JSON arrays, XML); an NDJSON body is counted as it is
 * read, so the events before the one past the limit have been handed on
 * when RX_ETOOMANY comes back. Returns 0, the callback's non-zero value, or
 * RX_EBADJSON / RX_EBADXML / RX_EBADBODY / RX_EEMPTY / RX_ETOOMANY with
 * detail (line and column for JSON). */
int rx_ingest_body(struct rx_ingest *in, const char *body, size_t len,
                   enum rx_content_type ct, size_t max_events, rx_event_fn fn,
                   void *ctx, struct rx_error_detail *detail) RX_WUR;

/* Reads one NDJSON line (lineno is 1-based, for messages) as one event;
 * a blank line is skipped (fn not called, returns 0). For callers that
 * stream large files line by line. */
int rx_ingest_ndjson_line(struct rx_ingest *in, const char *line, size_t len,
                          long lineno, rx_event_fn fn, void *ctx) RX_WUR;

#endif
