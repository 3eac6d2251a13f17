/*
 * route_alerts_test: POST /alerts/test, run on a worker thread (it waits
 * for the sinks' answers, bounded by the dispatcher's request timeout):
 * sends one synthetic alert to every configured sink and answers each
 * sink's outcome. Credentials as for POST /events; the body is ignored
 * except for the signature, which covers it.
 */
#ifndef RX_ROUTE_ALERTS_TEST_H
#define RX_ROUTE_ALERTS_TEST_H

#include <stddef.h>

#include "app.h"
#include "pool.h"
#include "reply.h"

/* signature: the X-Signature-256 value to verify over body, or NULL.
 * Borrows everything; fills reply. */
void rx_route_alerts_test_handle(struct rx_app *app, struct rx_worker *w,
                                 const char *signature, const char *body,
                                 size_t len, struct rx_reply *reply);

#endif
