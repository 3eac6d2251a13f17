#include "route_rules.h"

#include <stdlib.h>
#include <string.h>

void rx_route_rules_handle(struct rx_app *app, struct rx_reply *reply)
{
    json_t *o = rx_rules_to_json(&app->config->rules);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) {
        rx_reply_error(reply, 500, "internal", "cannot render the rules", 0, 0);
        return;
    }
    rx_reply_json(reply, 200, text, strlen(text));
    free(text);
}
