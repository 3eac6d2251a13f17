#include "ingest.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fastjson.h"
#include "jsonevent.h"
#include "xalloc.h"
#include "xmlevent.h"

struct rx_ingest {
    struct rx_xml_event *xml;
    struct rx_json_event *json;
    struct rx_fastjson *fast;
    bool use_fast; /* try the tree-less reader first */
    size_t fast_events; /* events read by the fast path */
    struct rx_event_view view;
};

struct rx_ingest *rx_ingest_new(void)
{
    struct rx_ingest *in = rx_xcalloc(1, sizeof(*in));
    in->xml = rx_xmlevent_new();
    in->json = rx_jsonevent_new(in->xml);
    in->fast = rx_fastjson_new();
    in->use_fast = true;
    return in;
}

void rx_ingest_free(struct rx_ingest *in)
{
    if (in == NULL)
        return;
    rx_fastjson_free(in->fast);
    rx_jsonevent_free(in->json);
    rx_xmlevent_free(in->xml);
    free(in);
}

void rx_ingest_set_fast_path(struct rx_ingest *in, bool on)
{
    in->use_fast = on;
}

size_t rx_ingest_fast_events(const struct rx_ingest *in)
{
    return in->fast_events;
}

enum rx_content_type rx_ingest_content_type(const char *header)
{
    if (header == NULL)
        return RX_CT_SNIFF;
    while (*header == ' ' || *header == '\t')
        header++;
    size_t n = strcspn(header, ";");
    while (n && (header[n - 1] == ' ' || header[n - 1] == '\t'))
        n--;
    if (n == 0)
        return RX_CT_SNIFF;
    static const struct {
        const char *name;
        enum rx_content_type ct;
    } types[] = {
        {"application/json", RX_CT_JSON},
        {"text/json", RX_CT_JSON},
        {"application/x-ndjson", RX_CT_NDJSON},
        {"application/ndjson", RX_CT_NDJSON},
        {"application/jsonl", RX_CT_NDJSON},
        {"application/x-jsonl", RX_CT_NDJSON},
        {"application/jsonlines", RX_CT_NDJSON},
        {"application/json-seq", RX_CT_NDJSON},
        {"application/xml", RX_CT_XML},
        {"text/xml", RX_CT_XML},
        {"text/plain", RX_CT_SNIFF},
        {"application/octet-stream", RX_CT_SNIFF},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strlen(types[i].name) == n &&
            strncasecmp(header, types[i].name, n) == 0)
            return types[i].ct;
    /* Structured-syntax suffixes (RFC 6839): application/vnd.x+json. */
    if (n > 5 && strncasecmp(header + n - 5, "+json", 5) == 0)
        return RX_CT_JSON;
    if (n > 4 && strncasecmp(header + n - 4, "+xml", 4) == 0)
        return RX_CT_XML;
    return RX_CT_UNSUPPORTED;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skips white space and a UTF-8 byte order mark. */
static size_t skip_space(const char *s, size_t n, size_t i)
{
    if (i == 0 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < n && is_space(s[i]))
        i++;
    return i;
}

static int emit_error(rx_event_fn fn, void *ctx, const char *msg)
{
    return fn(ctx, NULL, msg);
}

static int emit_xml_event(struct rx_ingest *in, const char *s, size_t n,
                          rx_event_fn fn, void *ctx)
{
    char err[320];
    if (rx_xmlevent_parse(in->xml, s, n, err, sizeof(err)) != 0)
        return emit_error(fn, ctx, err);
    rx_jsonevent_view_from_xml(in->xml, &in->view);
    return fn(ctx, &in->view, NULL);
}

/* One event as JSON: an object, or a string holding Event XML. */
static int emit_json_event(struct rx_ingest *in, json_t *ev, rx_event_fn fn,
                           void *ctx)
{
    if (json_is_object(ev)) {
        char err[320];
        if (rx_jsonevent_view(in->json, ev, &in->view, err, sizeof(err)) != 0)
            return emit_error(fn, ctx, err);
        return fn(ctx, &in->view, NULL);
    }
    if (json_is_string(ev)) {
        const char *s = json_string_value(ev);
        size_t n = json_string_length(ev);
        size_t i = skip_space(s, n, 0);
        if (i < n && s[i] == '<')
            return emit_xml_event(in, s + i, n - i, fn, ctx);
        return emit_error(fn, ctx,
                          "event is a string but not Windows Event XML");
    }
    return emit_error(fn, ctx, "event is not a JSON object");
}

/* Is count over max_events (0: no limit)? One message for every reader,
 * whether the count is known up front or reached while reading. */
static int check_count(size_t count, size_t max_events,
                       struct rx_error_detail *d)
{
    if (max_events && count > max_events)
        return rx_error_set(d, RX_ETOOMANY, 0, 0,
                            "more than the limit of %zu events", max_events);
    return 0;
}

static int emit_array(struct rx_ingest *in, json_t *arr, size_t max_events,
                      rx_event_fn fn, void *ctx, struct rx_error_detail *d)
{
    int rc = check_count(json_array_size(arr), max_events, d);
    size_t i;
    json_t *ev;
    json_array_foreach(arr, i, ev)
    {
        if (rc)
            break;
        rc = emit_json_event(in, ev, fn, ctx);
    }
    return rc;
}

/* The envelopes of SPEC section 2, in its order. */
static int emit_envelope(struct rx_ingest *in, json_t *root,
                         size_t max_events, rx_event_fn fn, void *ctx,
                         struct rx_error_detail *d)
{
    if (json_is_array(root))
        return emit_array(in, root, max_events, fn, ctx, d);
    if (!json_is_object(root)) {
        if (json_is_string(root))
            return emit_json_event(in, root, fn, ctx);
        return rx_error_set(d, RX_EBADBODY, 0, 0,
                            "the body is a JSON %s; expected an array of "
                            "events, an envelope object or one event",
                            json_is_number(root) ? "number"
                            : json_is_null(root) ? "null"
                                                 : "boolean");
    }
    static const char *const list_keys[] = {"events", "results"};
    for (int k = 0; k < 2; k++) {
        json_t *list = json_object_get(root, list_keys[k]);
        if (json_is_array(list))
            return emit_array(in, list, max_events, fn, ctx, d);
        if (json_is_string(list)) {
            /* Sumo Logic templates often quote {{ResultsJson}}. */
            /* Sumo Logic templates often quote {{ResultsJson}}; with one
             * result it renders as one object, so that is taken too. */
            json_error_t jerr;
            json_t *inner = json_loadb(json_string_value(list),
                                       json_string_length(list), 0, &jerr);
            if (!json_is_array(inner) && !json_is_object(inner)) {
                json_decref(inner);
                return rx_error_set(
                    d, RX_EBADBODY, 0, 0,
                    "\"%s\" is a string that does not hold a JSON array of "
                    "events or one event%s%s",
                    list_keys[k], inner ? "" : ": ", inner ? "" : jerr.text);
            }
            int rc = json_is_array(inner)
                         ? emit_array(in, inner, max_events, fn, ctx, d)
                         : emit_json_event(in, inner, fn, ctx);
            json_decref(inner);
            return rc;
        }
    }
    json_t *result = json_object_get(root, "result");
    if (json_is_object(result)) /* Splunk webhook */
        return emit_json_event(in, result, fn, ctx);
    json_t *hits = json_object_get(root, "hits");
    if (json_is_object(hits) && json_is_array(json_object_get(hits, "hits")))
        return emit_array(in, json_object_get(hits, "hits"), max_events, fn,
                          ctx, d);
    if (json_is_array(hits)) /* a Kibana body of {"hits": {{context.hits}}} */
        return emit_array(in, hits, max_events, fn, ctx, d);
    if (json_is_object(json_object_get(root, "all_fields"))) /* Wazuh */
        return emit_json_event(in, root, fn, ctx);
    json_t *backlog = json_object_get(root, "backlog");
    if (json_is_array(backlog)) { /* Graylog notification */
        int rc = check_count(json_array_size(backlog), max_events, d);
        size_t i;
        json_t *entry;
        json_array_foreach(backlog, i, entry)
        {
            if (rc)
                break;
            json_t *fields = json_object_get(entry, "fields");
            rc = json_is_object(fields)
                     ? emit_json_event(in, fields, fn, ctx)
                     : emit_error(fn, ctx,
                                  "Graylog backlog entry has no \"fields\" "
                                  "object");
        }
        return rc;
    }
    return emit_json_event(in, root, fn, ctx);
}

/* One NDJSON line through the full jansson path (blank: skipped). */
static int ndjson_line_full(struct rx_ingest *in, const char *line,
                            size_t len, long lineno, rx_event_fn fn, void *ctx)
{
    size_t i = skip_space(line, len, 0);
    size_t end = len;
    while (end > i && is_space(line[end - 1]))
        end--;
    if (i == end)
        return 0;
    json_error_t jerr;
    json_t *ev = json_loadb(line + i, end - i, JSON_DECODE_ANY, &jerr);
    if (ev == NULL) {
        char msg[320];
        snprintf(msg, sizeof(msg), "line %ld: malformed JSON: %s at column %d",
                 lineno, jerr.text, jerr.column + (int)i);
        return emit_error(fn, ctx, msg);
    }
    json_t *inner = json_object_get(ev, "_source");
    int rc = emit_json_event(in, json_is_object(inner) ? inner : ev, fn, ctx);
    json_decref(ev);
    return rc;
}

int rx_ingest_ndjson_line(struct rx_ingest *in, const char *line, size_t len,
                          long lineno, rx_event_fn fn, void *ctx)
{
    if (in->use_fast && rx_fastjson_view(in->fast, line, len, &in->view)) {
        in->fast_events++;
        return fn(ctx, &in->view, NULL);
    }
    return ndjson_line_full(in, line, len, lineno, fn, ctx);
}

static int ingest_ndjson(struct rx_ingest *in, const char *body, size_t len,
                         size_t max_events, rx_event_fn fn, void *ctx,
                         struct rx_error_detail *d)
{
    /* One pass: the fast reader finds where a flat event's line ends as
     * it parses it, so most lines are never searched for their newline.
     * Events are counted as they come; the one past max_events stops the
     * body (the events before it were read for nothing, which is cheap
     * next to counting every line of every body first). */
    long lineno = 0;
    size_t events = 0;
    for (size_t pos = 0; pos < len;) {
        lineno++;
        size_t line_len;
        if (in->use_fast && rx_fastjson_line(in->fast, body + pos, len - pos,
                                             &in->view, &line_len)) {
            int rc = check_count(++events, max_events, d);
            if (rc)
                return rc;
            in->fast_events++;
            rc = fn(ctx, &in->view, NULL);
            if (rc)
                return rc;
            pos += line_len + 1;
            continue;
        }
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len;
        size_t i = skip_space(body + pos, end - pos, 0);
        int rc = i < end - pos ? check_count(++events, max_events, d) : 0;
        if (rc == 0)
            rc = ndjson_line_full(in, body + pos, end - pos, lineno, fn, ctx);
        if (rc)
            return rc;
        pos = end + 1;
    }
    return 0;
}

/* Finds the next "<Event" (with any namespace prefix) that opens an Event
 * element, not EventData, EventID or Events. */
static const char *find_event_open(const char *s, const char *end)
{
    for (const char *p = s; p < end; p++) {
        p = memchr(p, '<', (size_t)(end - p));
        if (p == NULL)
            return NULL;
        const char *q = p + 1;
        const char *name = q;
        while (q < end && (is_space(*q) == false) && *q != '>' && *q != '/')
            q++;
        /* local name is after the last ':' of the tag name */
        const char *local = name;
        for (const char *c = name; c < q; c++)
            if (*c == ':')
                local = c + 1;
        if (q - local == 5 && memcmp(local, "Event", 5) == 0)
            return p;
    }
    return NULL;
}

static int ingest_xml(struct rx_ingest *in, const char *body, size_t len,
                      size_t max_events, rx_event_fn fn, void *ctx,
                      struct rx_error_detail *d)
{
    const char *end = body + len;
    const char *first = find_event_open(body, end);
    if (first == NULL)
        return rx_error_set(d, RX_EBADXML, 0, 0,
                            "no <Event> element in the XML body");
    /* A DTD could declare entities (billion laughs, external files):
     * none is accepted, before or inside an event. */
    if (memmem(body, (size_t)(first - body), "<!DOCTYPE", 9) != NULL)
        return rx_error_set(d, RX_EBADXML, 0, 0,
                            "DOCTYPE is not allowed (no DTDs, entity "
                            "declarations or external entities)");
    if (max_events) {
        size_t count = 0;
        for (const char *p = first; p; p = find_event_open(p + 1, end))
            count++;
        int rc = check_count(count, max_events, d);
        if (rc)
            return rc;
    }
    /* Each <Event> is read on its own: a body may be a bare sequence of
     * events (one per line, as exported), which is no single document. */
    size_t index = 0;
    for (const char *p = first; p;) {
        const char *next = find_event_open(p + 1, end);
        const char *stop = next ? next : end;
        /* Cut after the last </...Event> so a closing </Events> or
         * trailing text is not part of the event. */
        const char *cut = stop;
        for (const char *q = stop; q > p + 7; q--) {
            if (q[-1] == '>' && memcmp(q - 6, "Event>", 6) == 0) {
                const char *lt = q - 6;
                while (lt > p && *lt != '<')
                    lt--;
                if (lt[0] == '<' && lt[1] == '/') {
                    cut = q;
                    break;
                }
            }
        }
        char err[320];
        if (rx_xmlevent_parse(in->xml, p, (size_t)(cut - p), err,
                              sizeof(err)) != 0) {
            /* An XML body is one document: like malformed JSON, malformed
             * XML rejects the body, with the position in the body. */
            int line, col;
            rx_xmlevent_error_position(in->xml, &line, &col);
            int body_line = 1;
            const char *line_start = body;
            for (const char *q = body; q < p; q++)
                if (*q == '\n') {
                    body_line++;
                    line_start = q + 1;
                }
            if (line == 1)
                col += (int)(p - line_start);
            return rx_error_set(d, RX_EBADXML, body_line + line - 1, col,
                                "event %zu: %s", index, err);
        }
        rx_jsonevent_view_from_xml(in->xml, &in->view);
        int rc = fn(ctx, &in->view, NULL);
        if (rc)
            return rc;
        index++;
        p = next;
    }
    return 0;
}

static int ingest_json(struct rx_ingest *in, const char *body, size_t len,
                       size_t start, size_t max_events, rx_event_fn fn,
                       void *ctx, struct rx_error_detail *d)
{
    json_error_t jerr;
    json_t *root = json_loadb(body + start, len - start,
                              JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &jerr);
    if (root == NULL)
        return rx_error_set(d, RX_EBADJSON, jerr.line, jerr.column,
                            "malformed JSON: %s", jerr.text);
    size_t after = skip_space(body, len, start + jerr.position);
    if (after < len) {
        /* More than one top-level value: NDJSON, whatever the label said
         * (log shippers often send NDJSON as application/json). */
        json_decref(root);
        return ingest_ndjson(in, body, len, max_events, fn, ctx, d);
    }
    int rc = emit_envelope(in, root, max_events, fn, ctx, d);
    json_decref(root);
    return rc;
}

int rx_ingest_body(struct rx_ingest *in, const char *body, size_t len,
                   enum rx_content_type ct, size_t max_events, rx_event_fn fn,
                   void *ctx, struct rx_error_detail *d)
{
    if (ct == RX_CT_UNSUPPORTED)
        return rx_error_set(d, RX_EBADTYPE, 0, 0,
                            "unsupported content type; use application/json, "
                            "application/x-ndjson or application/xml");
    size_t start = skip_space(body, len, 0);
    if (start >= len)
        return rx_error_set(d, RX_EEMPTY, 0, 0, "the body is empty");
    switch (ct) {
    case RX_CT_JSON:
        return ingest_json(in, body, len, start, max_events, fn, ctx, d);
    case RX_CT_NDJSON:
        return ingest_ndjson(in, body, len, max_events, fn, ctx, d);
    case RX_CT_XML:
        return ingest_xml(in, body, len, max_events, fn, ctx, d);
    default:
        break;
    }
    if (body[start] == '<')
        return ingest_xml(in, body, len, max_events, fn, ctx, d);
    if (body[start] == '[' || body[start] == '{')
        return ingest_json(in, body, len, start, max_events, fn, ctx, d);
    return rx_error_set(d, RX_EBADBODY, 1, 1,
                        "cannot tell the body's format: it starts with "
                        "neither '[', '{' nor '<'");
}
