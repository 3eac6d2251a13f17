/*
 * sink_pagerduty: the PagerDuty Events API v2 "trigger" event for one
 * alert, and the verdict on PagerDuty's answer.
 *
 * One event per alert: routing_key, event_action "trigger", dedup_key (the
 * stable rx_sink_dedup_key, so repeats fold into one incident), client
 * "repoexfil", and a payload with summary (at most 1024 characters),
 * source (Computer), severity (critical/warning/info for score 3/2/1),
 * timestamp (ISO 8601 from _messageTime), component (the image's file
 * name), class (Signal) and custom_details (the alert row). Pure: no I/O.
 */
#ifndef RX_SINK_PAGERDUTY_H
#define RX_SINK_PAGERDUTY_H

#include <jansson.h>
#include <stddef.h>

#include "sink.h"

#define RX_PAGERDUTY_KEY_LEN 32        /* an integration (routing) key */
#define RX_PAGERDUTY_MAX_SUMMARY 1024  /* characters */
#define RX_PAGERDUTY_MAX_DEDUP_KEY 255 /* characters */

/* Returns the static severity name for a score: "critical" for 3 (or
 * more), "warning" for 2, "info" otherwise. */
const char *rx_pagerduty_severity(long long score);

/* Writes the summary for row into out (owned by the caller, NUL-ended),
 * e.g. "GitPushToExternalRepo on WS01 by CORP\al: git.exe push https://…",
 * at most RX_PAGERDUTY_MAX_SUMMARY code points. out must hold at least
 * RX_PAGERDUTY_MAX_SUMMARY * 4 + 1 bytes. */
void rx_pagerduty_summary(const json_t *row, char *out, size_t outsize);

/* Builds the trigger event for row (borrowed) with routing_key (borrowed).
 * Returns owned JSON text (free with free()), or NULL when row is not an
 * object or the dedup key cannot be computed. */
char *rx_pagerduty_build(const json_t *row, const char *routing_key);

/* Classifies one attempt: 2xx (PagerDuty answers 202) is sent; 400 and
 * other 4xx are permanent; 429 waits (Retry-After when given, else
 * backoff); 5xx and network errors retry (PagerDuty folds repeats by
 * dedup_key, so retrying is safe). body is unused but kept for symmetry. */
enum rx_sink_verdict rx_pagerduty_classify(enum rx_sink_net net, long status,
                                           const char *body, size_t len);

#endif
