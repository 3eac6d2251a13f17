/*
 * sink_webhook: the generic webhook request for one batch of alerts (for
 * SOAR tools), its headers and signature, and the verdict on the answer.
 *
 * Body: {"source":"repoexfil","request_id":…,"alerts":[rows]}. Headers:
 * Content-Type, the configured "Name: value" lines, and, when a secret is
 * set, X-Signature-256: sha256=<hex HMAC-SHA256 of the body> — the same
 * scheme repoexfil checks on incoming requests. Pure: no I/O.
 */
#ifndef RX_SINK_WEBHOOK_H
#define RX_SINK_WEBHOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "sink.h"

/* Builds the body for rows (a JSON array, borrowed) and request_id
 * (borrowed, NULL gives null). Returns owned JSON text (free with
 * free()), or NULL when rows is not an array. */
char *rx_webhook_build(const json_t *rows, const char *request_id);

/* Writes "sha256=<64 hex>" (71 characters and a NUL) for body under
 * secret into out. Returns 0 or RX_EIO. */
int rx_webhook_signature(const char *secret, const char *body, size_t len,
                         char out[72]) RX_WUR;

/* Checks the configured header lines: each non-empty line (after
 * stripping a trailing '\r') must be "Name: value" with a token name
 * (RFC 9110) and no control characters. Returns true when all are valid;
 * otherwise writes the 1-based bad line number into *bad_line. */
bool rx_webhook_headers_valid(const char *lines, int *bad_line);

/* Calls fn(line, len, ctx) for each non-empty header line of lines (a
 * trailing '\r' left out). Borrows lines. */
void rx_webhook_headers_each(const char *lines,
                             void (*fn)(const char *line, size_t len,
                                        void *ctx),
                             void *ctx);

/* Classifies one attempt: 2xx is sent; 408, 429 and 5xx retry (429 with
 * Retry-After); network errors retry; other 4xx are permanent. */
enum rx_sink_verdict rx_webhook_classify(enum rx_sink_net net, long status,
                                         const char *body, size_t len);

#endif
