#include "route_alerts_test.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

void rx_route_alerts_test_handle(struct rx_app *app, struct rx_worker *w,
                                 const char *signature, const char *body,
                                 size_t len, struct rx_reply *reply)
{
    const struct rx_config *c = app->config;
    if (atomic_load(w->abort) || !app->dispatcher) {
        rx_reply_error(reply, 503, "draining", "the service is shutting down",
                       0, 0);
        reply->retry_after = 1;
        return;
    }
    if (signature && !rx_auth_signature_ok(c, signature, body, len)) {
        rx_reply_error(reply, 401, "unauthorized",
                       "missing or invalid credentials", 0, 0);
        reply->www_authenticate = "Bearer realm=\"repoexfil\"";
        return;
    }
    /* Wait a little longer than one delivery attempt may take, so a sink
     * that times out is reported as such by the dispatcher. */
    long timeout =
        c->dispatch.connect_timeout_ms > c->dispatch.request_timeout_ms
            ? c->dispatch.connect_timeout_ms
            : c->dispatch.request_timeout_ms;
    json_t *o = rx_dispatcher_test(app->dispatcher, timeout + 500);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) {
        rx_reply_error(reply, 500, "internal", "cannot run the test", 0, 0);
        return;
    }
    rx_reply_json(reply, 200, text, strlen(text));
    free(text);
}
