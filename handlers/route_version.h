/*
 * route_version: GET /version: name, version, git revision, build time
 * and the versions of the libraries linked in. Open without auth.
 */
#ifndef RX_ROUTE_VERSION_H
#define RX_ROUTE_VERSION_H

#include "reply.h"

void rx_route_version_handle(struct rx_reply *reply);

#endif
