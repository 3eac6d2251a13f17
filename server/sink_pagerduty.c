#include "sink_pagerduty.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

const char *rx_pagerduty_severity(long long score)
{
    if (score >= 3)
        return "critical";
    if (score == 2)
        return "warning";
    return "info";
}

void rx_pagerduty_summary(const json_t *row, char *out, size_t outsize)
{
    const char *signal = rx_sink_row_str(row, "Signal");
    const char *host = rx_sink_row_str(row, "Computer");
    const char *user = rx_sink_row_str(row, "User");
    const char *cmd = rx_sink_row_str(row, "CommandLine");
    const char *dest = rx_sink_row_str(row, "DestinationHostname");
    const char *image = rx_sink_file_name(rx_sink_row_str(row, "Image"));

    struct rx_buf b;
    rx_buf_init(&b, 0);
    int rc = rx_buf_printf(&b, "%s on %s", signal ? signal : "Alert",
                           host ? host : "unknown host");
    if (user)
        rc |= rx_buf_printf(&b, " by %s", user);
    if (cmd) {
        rc |= rx_buf_printf(&b, ": %s", cmd);
    } else if (dest) {
        rc |= rx_buf_printf(&b, ": %s to %s", image ? image : "process", dest);
    } else if (image) {
        rc |= rx_buf_printf(&b, ": %s", image);
    }
    (void)rc; /* no cap on b: appends cannot fail */

    /* Cut on a code point boundary, leaving room for "…". */
    size_t chars = rx_sink_utf8_len(b.data, b.len);
    size_t keep = b.len;
    bool cut = chars > RX_PAGERDUTY_MAX_SUMMARY;
    if (cut)
        keep = rx_sink_utf8_prefix(b.data, b.len, RX_PAGERDUTY_MAX_SUMMARY - 1);
    size_t need = keep + (cut ? 3 : 0) + 1;
    if (outsize == 0) {
        rx_buf_cleanup(&b);
        return;
    }
    if (need > outsize) {
        /* A caller's short buffer: cut further, still on a boundary. */
        keep = rx_sink_utf8_prefix(
            b.data, keep < outsize - 1 ? keep : outsize - 1, (size_t)-1);
        cut = false;
    }
    memcpy(out, b.data, keep);
    if (cut)
        memcpy(out + keep, "\xe2\x80\xa6", 3);
    out[keep + (cut ? 3 : 0)] = '\0';
    rx_buf_cleanup(&b);
}

char *rx_pagerduty_build(const json_t *row, const char *routing_key)
{
    if (!json_is_object(row))
        return NULL;
    char dedup[65];
    if (rx_sink_dedup_key(row, dedup) != 0)
        return NULL;
    char summary[RX_PAGERDUTY_MAX_SUMMARY * 4 + 4];
    rx_pagerduty_summary(row, summary, sizeof(summary));

    json_t *payload = json_object();
    json_object_set_new(payload, "summary", json_string(summary));
    const char *host = rx_sink_row_str(row, "Computer");
    json_object_set_new(payload, "source",
                        json_string(host ? host : "unknown"));
    json_object_set_new(payload, "severity",
                        json_string(rx_pagerduty_severity(
                            rx_sink_row_int(row, "SuspicionScore", 0))));
    json_t *t = json_object_get(row, "_messageTime");
    char iso[32];
    if (json_is_integer(t) && rx_sink_iso8601(json_integer_value(t), iso))
        json_object_set_new(payload, "timestamp", json_string(iso));
    const char *image = rx_sink_file_name(rx_sink_row_str(row, "Image"));
    if (image)
        json_object_set_new(payload, "component", json_string(image));
    const char *signal = rx_sink_row_str(row, "Signal");
    if (signal)
        json_object_set_new(payload, "class", json_string(signal));
    json_object_set_new(payload, "custom_details",
                        json_deep_copy((json_t *)row));

    json_t *ev = json_object();
    json_object_set_new(ev, "routing_key", json_string(routing_key));
    json_object_set_new(ev, "event_action", json_string("trigger"));
    json_object_set_new(ev, "dedup_key", json_string(dedup));
    json_object_set_new(ev, "client", json_string("repoexfil"));
    json_object_set_new(ev, "payload", payload);
    char *out = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return out;
}

enum rx_sink_verdict rx_pagerduty_classify(enum rx_sink_net net, long status,
                                           const char *body, size_t len)
{
    (void)body;
    (void)len;
    return rx_sink_classify_http(net, status);
}
