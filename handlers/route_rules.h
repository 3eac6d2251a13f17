/*
 * route_rules: GET /rules, the effective rules (lists, regexes,
 * threshold) as JSON. Rules hold no secrets; the route still needs
 * credentials when auth is configured.
 */
#ifndef RX_ROUTE_RULES_H
#define RX_ROUTE_RULES_H

#include "app.h"
#include "reply.h"

/* Borrows app; fills reply. */
void rx_route_rules_handle(struct rx_app *app, struct rx_reply *reply);

#endif
