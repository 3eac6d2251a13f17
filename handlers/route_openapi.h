/*
 * route_openapi: GET /openapi.yaml, the contract compiled into the binary
 * (CMake embeds openapi/openapi.yaml). Open without auth.
 */
#ifndef RX_ROUTE_OPENAPI_H
#define RX_ROUTE_OPENAPI_H

#include "reply.h"

void rx_route_openapi_handle(struct rx_reply *reply);

#endif
