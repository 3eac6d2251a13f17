/*
 * sink: what the three alert sinks (Slack, PagerDuty, generic webhook)
 * share: reading alert rows, the dedup key, cutting text on UTF-8
 * boundaries, and the verdict a sink gives on one delivery attempt.
 *
 * Pure functions: no I/O, no clocks, no threads. The dispatcher decides
 * what to do with a verdict (each sink has its own retry policy there).
 */
#ifndef RX_SINK_H
#define RX_SINK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

/* What a transport attempt looked like before any HTTP status. */
enum rx_sink_net {
    RX_NET_OK,      /* an HTTP answer was received */
    RX_NET_CONNECT, /* no connection: the request surely was not sent */
    RX_NET_UNSURE,  /* timeout or broken transfer: it may have arrived */
};

/* A sink's verdict on one attempt. */
enum rx_sink_verdict {
    RX_VERDICT_SENT,         /* delivered */
    RX_VERDICT_RETRY,        /* not delivered, safe to retry with backoff */
    RX_VERDICT_RETRY_UNSURE, /* maybe delivered (5xx, timeout): retry if the
                                sink's posts are idempotent or within limit */
    RX_VERDICT_RETRY_AFTER,  /* rate limited (429): wait Retry-After */
    RX_VERDICT_PERMANENT,    /* rejected: log, count, never retry */
};

/* Returns a static name for v ("sent", "retry", ...). */
const char *rx_sink_verdict_name(enum rx_sink_verdict v);

/* The common reading of an HTTP answer for a JSON API sink: 2xx sent; 429
 * retry after Retry-After; 5xx and network errors retried; any other
 * status permanent. */
enum rx_sink_verdict rx_sink_classify_http(enum rx_sink_net net, long status);

/* Returns the string member key of row, or NULL when it is absent, null,
 * empty or not a string. Borrows row; the result lives as long as row. */
const char *rx_sink_row_str(const json_t *row, const char *key);
/* Returns the integer member key of row, or dflt. */
long long rx_sink_row_int(const json_t *row, const char *key, long long dflt);
/* Returns the part of path after the last '\\' or '/', or NULL when path
 * is NULL or that part is empty. Borrows path. */
const char *rx_sink_file_name(const char *path);

/* Writes the dedup key of row: SHA-256 hex of Signal, Computer, Image and
 * CommandLine (or DestinationHostname when CommandLine is missing), each
 * length-prefixed so no two different tuples share a key. 64 characters.
 * Returns 0 or RX_EIO. */
int rx_sink_dedup_key(const json_t *row, char out[65]) RX_WUR;

/* Returns how many Unicode code points the UTF-8 string s[0..n) holds. */
size_t rx_sink_utf8_len(const char *s, size_t n);
/* Returns the byte length of the longest prefix of s[0..n) holding at most
 * max_chars code points, never splitting a code point. */
size_t rx_sink_utf8_prefix(const char *s, size_t n, size_t max_chars);

/* Appends s to out, escaped for Slack mrkdwn when escape is set (& < >
 * become entities; in_code also turns backticks into apostrophes so a
 * code span cannot be closed early), using at most max_chars output code
 * points: when s does not fit it is cut on a code point boundary and "…"
 * appended. A NULL s appends "-". Returns 0 or RX_ETOOBIG from out. */
int rx_sink_append_cut(struct rx_buf *out, const char *s, size_t max_chars,
                       bool escape, bool in_code) RX_WUR;

/* Writes ms since the Unix epoch as ISO 8601 UTC with milliseconds
 * ("2023-11-14T22:13:20.123Z") into out. Returns false when ms is out of
 * range. */
bool rx_sink_iso8601(long long ms, char out[32]);

#endif
