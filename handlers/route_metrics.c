#include "route_metrics.h"

void rx_route_metrics_handle(struct rx_app *app, struct rx_reply *reply)
{
    struct rx_metrics_gauges g = {
        .queue_depth = rx_pool_depth(app->pool),
        .queue_capacity = rx_pool_capacity(app->pool),
        .workers_busy = rx_pool_busy(app->pool),
        .workers = rx_pool_workers(app->pool),
        .ready = atomic_load(&app->state) == RX_APP_READY,
    };
    rx_buf_reset(&reply->body);
    int rc = rx_metrics_write(app->metrics, &g, &reply->body);
    if (rc == 0 && app->dispatcher)
        rc = rx_dispatcher_write_metrics(app->dispatcher, &reply->body);
    if (rc != 0) {
        rx_reply_from_error(reply, rc, NULL);
        return;
    }
    reply->status = 200;
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
