/*
 * route_metrics: GET /metrics, the Prometheus text exposition of the
 * service's registry followed by the dispatcher's. Open without auth.
 */
#ifndef RX_ROUTE_METRICS_H
#define RX_ROUTE_METRICS_H

#include "app.h"
#include "reply.h"

/* Borrows app; fills reply. */
void rx_route_metrics_handle(struct rx_app *app, struct rx_reply *reply);

#endif
