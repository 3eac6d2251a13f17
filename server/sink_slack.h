/*
 * sink_slack: the Slack incoming-webhook message for one batch of alerts,
 * and the verdict on Slack's answer.
 *
 * One message per batch: "text" (the notification fallback) and "blocks":
 * a header, one mrkdwn section per alert (host, user, signal, score,
 * image, command line or destination; & < > escaped, backticks turned
 * into apostrophes so no value can open a code span, long values cut),
 * and, past the block limit, a context block saying "and N more". Pure:
 * no I/O. The dispatcher sends it and paces it (about 1 message/s).
 */
#ifndef RX_SINK_SLACK_H
#define RX_SINK_SLACK_H

#include <jansson.h>
#include <stddef.h>

#include "sink.h"

#define RX_SLACK_MAX_BLOCKS 50          /* Slack's limit per message */
#define RX_SLACK_MAX_SECTION_CHARS 3000 /* Slack's limit per section text */
#define RX_SLACK_MAX_HEADER_CHARS 150   /* Slack's limit per header text */

/* Builds the message for rows (a JSON array of alert rows, borrowed; rows
 * with no fields still produce a section). request_id (borrowed, may be
 * NULL) goes into the last context block. Returns owned JSON text (free
 * with free()), or NULL when rows is not a non-empty array. */
char *rx_slack_build(const json_t *rows, const char *request_id);

/* Classifies one attempt: 200 with body "ok" is sent; 400, 403, 404, 410
 * and other 4xx are permanent; 429 waits for Retry-After; 5xx and broken
 * transfers may have posted (RETRY_UNSURE); no connection is RETRY. body
 * (borrowed, may be NULL) is the answer's body, len its length. */
enum rx_sink_verdict rx_slack_classify(enum rx_sink_net net, long status,
                                       const char *body, size_t len);

#endif
