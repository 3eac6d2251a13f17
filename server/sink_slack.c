#include "sink_slack.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Output budgets per value, in code points after escaping. Their sum plus
 * the labels stays far below RX_SLACK_MAX_SECTION_CHARS, so the section
 * never needs a second cut. */
enum {
    CUT_SHORT = 150,   /* host, user, signal */
    CUT_IMAGE = 300,   /* image path, destination */
    CUT_COMMAND = 1500 /* command line */
};

/* One header, at most this many alert sections, and one context block. */
#define MAX_SECTIONS (RX_SLACK_MAX_BLOCKS - 2)

static json_t *text_object(const char *type, const char *text)
{
    json_t *t = json_object();
    json_object_set_new(t, "type", json_string(type));
    json_object_set_new(t, "text", json_string(text));
    return t;
}

static int section_text(const json_t *row, struct rx_buf *b)
{
    long long score = rx_sink_row_int(row, "SuspicionScore", 0);
    const char *cmd = rx_sink_row_str(row, "CommandLine");
    const char *dest = rx_sink_row_str(row, "DestinationHostname");
    int rc = 0;
    rc |= rx_buf_puts(b, "*");
    rc |= rx_sink_append_cut(b, rx_sink_row_str(row, "Signal"), CUT_SHORT, true,
                             true);
    rc |= rx_buf_printf(b, "* \xe2\x80\x94 score *%lld*\n*Host:* ", score);
    rc |= rx_sink_append_cut(b, rx_sink_row_str(row, "Computer"), CUT_SHORT,
                             true, true);
    rc |= rx_buf_puts(b, "\n*User:* ");
    rc |= rx_sink_append_cut(b, rx_sink_row_str(row, "User"), CUT_SHORT, true,
                             true);
    rc |= rx_buf_puts(b, "\n*Image:* `");
    rc |= rx_sink_append_cut(b, rx_sink_row_str(row, "Image"), CUT_IMAGE, true,
                             true);
    rc |= rx_buf_puts(b, "`");
    if (cmd) {
        rc |= rx_buf_puts(b, "\n*Command line:* `");
        rc |= rx_sink_append_cut(b, cmd, CUT_COMMAND, true, true);
        rc |= rx_buf_puts(b, "`");
    }
    if (dest) {
        rc |= rx_buf_puts(b, "\n*Destination:* ");
        rc |= rx_sink_append_cut(b, dest, CUT_IMAGE, true, true);
    }
    return rc ? RX_ETOOBIG : 0;
}

char *rx_slack_build(const json_t *rows, const char *request_id)
{
    size_t n = json_array_size(rows);
    if (!json_is_array(rows) || n == 0)
        return NULL;
    long long top = 0;
    for (size_t i = 0; i < n; i++) {
        long long s =
            rx_sink_row_int(json_array_get(rows, i), "SuspicionScore", 0);
        if (s > top)
            top = s;
    }

    struct rx_buf b;
    rx_buf_init(&b, 0);
    json_t *msg = json_object();
    json_t *blocks = json_array();

    /* The fallback text shows in notifications, so it names the first
     * (highest scored) alert. */
    const json_t *first = json_array_get(rows, 0);
    int rc =
        rx_buf_printf(&b, "repoexfil: %zu exfiltration alert%s \xe2\x80\x94 ",
                      n, n == 1 ? "" : "s");
    rc |= rx_sink_append_cut(&b, rx_sink_row_str(first, "Signal"), CUT_SHORT,
                             true, true);
    rc |= rx_buf_puts(&b, " on ");
    rc |= rx_sink_append_cut(&b, rx_sink_row_str(first, "Computer"), CUT_SHORT,
                             true, true);
    rc |= rx_buf_printf(&b, " (score %lld)",
                        rx_sink_row_int(first, "SuspicionScore", 0));
    if (n > 1)
        rc |= rx_buf_printf(&b, " and %zu more", n - 1);
    json_object_set_new(msg, "text", json_string(b.data));
    rx_buf_reset(&b);

    rc |= rx_buf_printf(&b, "%zu exfiltration alert%s (max score %lld)", n,
                        n == 1 ? "" : "s", top);
    json_t *header = json_object();
    json_object_set_new(header, "type", json_string("header"));
    json_object_set_new(header, "text", text_object("plain_text", b.data));
    json_array_append_new(blocks, header);

    size_t shown = n <= MAX_SECTIONS ? n : MAX_SECTIONS;
    for (size_t i = 0; i < shown; i++) {
        rx_buf_reset(&b);
        rc |= section_text(json_array_get(rows, i), &b);
        json_t *sec = json_object();
        json_object_set_new(sec, "type", json_string("section"));
        json_object_set_new(sec, "text", text_object("mrkdwn", b.data));
        json_array_append_new(blocks, sec);
    }

    rx_buf_reset(&b);
    if (n > shown)
        rc |= rx_buf_printf(&b, "and %zu more", n - shown);
    if (request_id && *request_id) {
        if (b.len)
            rc |= rx_buf_puts(&b, " \xc2\xb7 ");
        rc |= rx_buf_puts(&b, "request ");
        rc |= rx_sink_append_cut(&b, request_id, CUT_SHORT, true, true);
    }
    if (b.len) {
        json_t *ctx = json_object();
        json_object_set_new(ctx, "type", json_string("context"));
        json_t *els = json_array();
        json_array_append_new(els, text_object("mrkdwn", b.data));
        json_object_set_new(ctx, "elements", els);
        json_array_append_new(blocks, ctx);
    }
    json_object_set_new(msg, "blocks", blocks);
    rx_buf_cleanup(&b);

    char *out = rc ? NULL : json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    return out;
}

enum rx_sink_verdict rx_slack_classify(enum rx_sink_net net, long status,
                                       const char *body, size_t len)
{
    if (net == RX_NET_CONNECT)
        return RX_VERDICT_RETRY;
    if (net == RX_NET_UNSURE)
        return RX_VERDICT_RETRY_UNSURE;
    if (status == 200) {
        /* Slack answers exactly "ok"; anything else at 200 is an error
         * message we cannot fix by sending again. */
        return (body && len == 2 && memcmp(body, "ok", 2) == 0)
                   ? RX_VERDICT_SENT
                   : RX_VERDICT_PERMANENT;
    }
    if (status == 429)
        return RX_VERDICT_RETRY_AFTER;
    if (status >= 500 && status <= 599)
        return RX_VERDICT_RETRY_UNSURE;
    return RX_VERDICT_PERMANENT;
}
