/*
 * receiver: a real HTTP server on 127.0.0.1 for the alert tests. It
 * records every request (path, selected headers, body, arrival time) and
 * answers as told: a status with a body (200 "ok", 202, 400, 500, 429 with
 * Retry-After), a scripted answer for the next N requests, hanging until
 * released, or being down (connections refused) and back up on the same
 * port.
 *
 * Thread-safe: libmicrohttpd answers on its own threads; the test thread
 * configures and reads through these functions.
 */
#ifndef RX_TEST_RECEIVER_H
#define RX_TEST_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>

struct rx_receiver;

/* One recorded request. Strings are owned by the receiver. */
struct rx_received {
    char *path;
    char *content_type;
    char *signature; /* X-Signature-256, or NULL */
    char *custom;    /* X-Custom, or NULL (header-passing tests) */
    char *body;
    size_t body_len;
    double at;    /* CLOCK_MONOTONIC seconds when the body was in */
    int answered; /* the status it got (0: hung and was dropped) */
};

/* Starts on 127.0.0.1 at a free port answering status with body. Returns
 * owned (free with rx_receiver_free), or NULL. */
struct rx_receiver *rx_receiver_start(int status, const char *body);
void rx_receiver_free(struct rx_receiver *r);

int rx_receiver_port(const struct rx_receiver *r);
/* Writes "http://127.0.0.1:<port><path>" into out. */
void rx_receiver_url(const struct rx_receiver *r, const char *path, char *out,
                     size_t outsize);

/* Sets the default answer. retry_after > 0 adds Retry-After (seconds). */
void rx_receiver_answer(struct rx_receiver *r, int status, const char *body,
                        int retry_after);
/* The next n requests get this answer, then the default again. */
void rx_receiver_answer_next(struct rx_receiver *r, int n, int status,
                             const char *body, int retry_after);
/* While hang is on, requests are held without an answer (until the client
 * gives up, hang is turned off, or the receiver stops). */
void rx_receiver_hang(struct rx_receiver *r, bool hang);

/* Stops listening (connections are refused) / listens again on the same
 * port. up returns false when the port cannot be bound again. */
void rx_receiver_down(struct rx_receiver *r);
bool rx_receiver_up(struct rx_receiver *r);

/* Requests recorded so far (complete bodies only). */
size_t rx_receiver_count(struct rx_receiver *r);
/* Copies request i into out (owned copies; free with
 * rx_received_cleanup). Returns false when i is out of range. */
bool rx_receiver_get(struct rx_receiver *r, size_t i, struct rx_received *out);
void rx_received_cleanup(struct rx_received *q);
/* Waits until at least n requests were recorded, up to timeout_ms. */
bool rx_receiver_wait(struct rx_receiver *r, size_t n, long timeout_ms);
/* Forgets the recorded requests. */
void rx_receiver_clear(struct rx_receiver *r);

#endif
