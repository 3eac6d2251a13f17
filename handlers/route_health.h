/*
 * route_health: GET /healthz (liveness: 200 while the process runs) and
 * GET /readyz (200 while workers and dispatcher run and the service is
 * not draining; 503 while starting or draining). Open without auth.
 */
#ifndef RX_ROUTE_HEALTH_H
#define RX_ROUTE_HEALTH_H

#include "app.h"
#include "reply.h"

void rx_route_health_live(struct rx_reply *reply);
/* Borrows app; fills reply. */
void rx_route_health_ready(struct rx_app *app, struct rx_reply *reply);

#endif
