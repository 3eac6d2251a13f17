#include "reply.h"

#include <string.h>

/* The mapping of SPEC section 3, with the error codes of
 * openapi/openapi.yaml's Error schema: what the client got wrong is 4xx, and
 * the rest (rules, configuration, I/O) cannot come from a request, so it
 * is a 500 if it ever does. */
static const struct {
    int code;
    int status;
    const char *name;
} status_table[] = {
    {RX_EBADJSON, 400, "bad_json"},
    {RX_EBADXML, 400, "bad_xml"},
    {RX_EBADBODY, 400, "bad_body"},
    {RX_EEMPTY, 400, "empty_body"},
    {RX_ETOOBIG, 413, "body_too_large"},
    {RX_ETOOMANY, 413, "too_many_events"},
    {RX_EBADTYPE, 415, "unsupported_media_type"},
};

#define N_STATUS_TABLE (sizeof(status_table) / sizeof(status_table[0]))

void rx_reply_init(struct rx_reply *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    rx_buf_init(&r->body, cap);
    r->content_type = "application/json";
}

void rx_reply_cleanup(struct rx_reply *r)
{
    rx_buf_cleanup(&r->body);
}

static void reset(struct rx_reply *r, int status)
{
    rx_buf_reset(&r->body);
    /* An error body is small; lift the cap so it always fits even when
     * what overflowed was the answer itself. */
    r->body.cap = 0;
    r->static_body = NULL;
    r->static_len = 0;
    r->status = status;
    r->content_type = "application/json";
}

void rx_reply_error(struct rx_reply *r, int status, const char *code,
                    const char *message, int line, int column)
{
    reset(r, status);
    int rc = rx_buf_puts(&r->body, "{\"error\":{\"code\":");
    rc |= rx_buf_json_string(&r->body, code, strlen(code));
    rc |= rx_buf_puts(&r->body, ",\"message\":");
    rc |= rx_buf_json_string(&r->body, message, strlen(message));
    if (line > 0)
        rc |=
            rx_buf_printf(&r->body, ",\"line\":%d,\"column\":%d", line, column);
    rc |= rx_buf_puts(&r->body, "}}");
    (void)rc; /* uncapped: appends cannot fail */
}

int rx_reply_status_for(int rx_error)
{
    for (size_t i = 0; i < N_STATUS_TABLE; i++)
        if (status_table[i].code == rx_error)
            return status_table[i].status;
    return 500;
}

void rx_reply_from_error(struct rx_reply *r, int rx_error,
                         const struct rx_error_detail *detail)
{
    const char *name = "internal";
    for (size_t i = 0; i < N_STATUS_TABLE; i++)
        if (status_table[i].code == rx_error)
            name = status_table[i].name;
    const char *msg =
        detail && detail->message[0] ? detail->message : rx_strerror(rx_error);
    int line = 0, column = 0;
    if (rx_error == RX_EBADJSON) {
        /* SPEC: a 400 for bad JSON always says where. */
        line = detail && detail->line > 0 ? detail->line : 1;
        column = detail && detail->column > 0 ? detail->column : 1;
    } else if (detail && detail->line > 0) {
        line = detail->line;
        column = detail->column;
    }
    rx_reply_error(r, rx_reply_status_for(rx_error), name, msg, line, column);
}

void rx_reply_json(struct rx_reply *r, int status, const char *json, size_t len)
{
    reset(r, status);
    int rc = rx_buf_append(&r->body, json, len);
    (void)rc;
}
