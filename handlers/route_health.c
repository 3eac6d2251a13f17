#include "route_health.h"

#include <string.h>

void rx_route_health_live(struct rx_reply *reply)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    rx_reply_json(reply, 200, ok, strlen(ok));
}

void rx_route_health_ready(struct rx_app *app, struct rx_reply *reply)
{
    int state = atomic_load(&app->state);
    const char *body;
    int status = 503;
    if (state == RX_APP_DRAINING)
        body = "{\"status\":\"draining\"}";
    else if (state != RX_APP_READY)
        body = "{\"status\":\"starting\"}";
    else if (!rx_pool_running(app->pool) ||
             (app->dispatcher && !rx_dispatcher_running(app->dispatcher)))
        body = "{\"status\":\"starting\"}"; /* the contract's word for
                                                "not running yet" */
    else {
        body = "{\"status\":\"ready\"}";
        status = 200;
    }
    rx_reply_json(reply, status, body, strlen(body));
    if (status == 503)
        reply->retry_after = 1;
}
