#include "jsonevent.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "timeparse.h"
#include "xalloc.h"

/* The JSON sources of each string field, in SPEC section 2's order. A
 * dotted name means nested objects or a literal dotted key. The ECS
 * user.domain + user.name pair is handled in code. */
static const char *const src_computer[] = {
    "Computer", "Hostname", "winlog.computer_name", "host.name",
    "host.hostname", "data.win.system.computer", NULL};
static const char *const src_user_before[] = {
    "User", "winlog.event_data.User", NULL};
static const char *const src_user_after[] = {"data.win.eventdata.user", NULL};
static const char *const src_image[] = {
    "Image", "winlog.event_data.Image", "process.executable",
    "data.win.eventdata.image", NULL};
static const char *const src_command_line[] = {
    "CommandLine", "winlog.event_data.CommandLine", "process.command_line",
    "data.win.eventdata.commandLine", NULL};
static const char *const src_parent_image[] = {
    "ParentImage", "winlog.event_data.ParentImage",
    "process.parent.executable", "data.win.eventdata.parentImage", NULL};
static const char *const src_dest_host[] = {
    "DestinationHostname", "winlog.event_data.DestinationHostname",
    "destination.domain", "data.win.eventdata.destinationHostname", NULL};
static const char *const src_provider[] = {
    "SourceName", "ProviderName", "Provider", "winlog.provider_name",
    "event.provider", "data.win.system.providerName", "Channel",
    "winlog.channel", NULL};
/* EventCode (Splunk's name for it) is not in SPEC's table: it comes last,
 * so it never overrides a listed source. */
static const char *const src_event_id[] = {
    "EventID", "event_id", "winlog.event_id", "event.code",
    "data.win.system.eventID", "EventCode", NULL};

struct rx_json_event {
    struct rx_xml_event *xml;  /* borrowed */
    char num[RX_F_COUNT][32];  /* decimal text of numbers given as fields */
    struct rx_buf user;        /* user.domain\user.name */
    json_t *raw_obj;           /* owned: a raw message that was JSON */
    bool raw_xml;              /* xml holds a parsed raw message */
};

struct rx_json_event *rx_jsonevent_new(struct rx_xml_event *xml)
{
    struct rx_json_event *s = rx_xcalloc(1, sizeof(*s));
    s->xml = xml;
    rx_buf_init(&s->user, 0);
    return s;
}

void rx_jsonevent_free(struct rx_json_event *s)
{
    if (s == NULL)
        return;
    json_decref(s->raw_obj);
    rx_buf_cleanup(&s->user);
    free(s);
}

/* Finds path in obj: the literal key first, then every split at a dot
 * into an object member and the rest, so {"a":{"b.c":1}}, {"a.b":{"c":1}}
 * and {"a":{"b":{"c":1}}} all answer "a.b.c". */
static json_t *lookup(json_t *obj, const char *path, size_t n)
{
    if (!json_is_object(obj))
        return NULL;
    json_t *v = json_object_getn(obj, path, n);
    if (v)
        return v;
    for (size_t i = 0; i < n; i++) {
        if (path[i] != '.')
            continue;
        json_t *child = json_object_getn(obj, path, i);
        if (json_is_object(child)) {
            v = lookup(child, path + i + 1, n - i - 1);
            if (v)
                return v;
        }
    }
    return NULL;
}

static json_t *lookup_path(json_t *obj, const char *path)
{
    return lookup(obj, path, strlen(path));
}

/* A usable string field: a non-empty string, or a number as its decimal
 * text (written into numbuf). Anything else is absent. */
static struct rx_str as_text(json_t *v, char numbuf[32])
{
    struct rx_str s = {NULL, 0};
    if (json_is_string(v)) {
        if (json_string_length(v) > 0) {
            s.p = json_string_value(v);
            s.n = json_string_length(v);
        }
    } else if (json_is_integer(v)) {
        s.n = (size_t)snprintf(numbuf, 32, "%" JSON_INTEGER_FORMAT,
                               json_integer_value(v));
        s.p = numbuf;
    } else if (json_is_real(v)) {
        s.n = (size_t)snprintf(numbuf, 32, "%.17g", json_real_value(v));
        s.p = numbuf;
    }
    return s;
}

static struct rx_str first_text(json_t *obj, const char *const *srcs,
                                char numbuf[32])
{
    struct rx_str none = {NULL, 0};
    if (obj == NULL)
        return none;
    for (int i = 0; srcs[i]; i++) {
        struct rx_str s = as_text(lookup_path(obj, srcs[i]), numbuf);
        if (s.n)
            return s;
    }
    return none;
}

/* ECS: user.domain + "\" + user.name, or user.name alone. */
static struct rx_str ecs_user(struct rx_json_event *s, json_t *obj)
{
    struct rx_str none = {NULL, 0};
    char nb1[32], nb2[32];
    struct rx_str name = as_text(lookup_path(obj, "user.name"), nb1);
    if (name.n == 0)
        return none;
    struct rx_str dom = as_text(lookup_path(obj, "user.domain"), nb2);
    rx_buf_reset(&s->user);
    if ((dom.n && (rx_buf_append(&s->user, dom.p, dom.n) ||
                   rx_buf_append(&s->user, "\\", 1))) ||
        rx_buf_append(&s->user, name.p, name.n))
        return none;
    struct rx_str out = {s->user.data, s->user.len};
    return out;
}

static struct rx_str user_from(struct rx_json_event *s, json_t *obj)
{
    struct rx_str v = first_text(obj, src_user_before, s->num[RX_F_USER]);
    if (v.n == 0 && obj)
        v = ecs_user(s, obj);
    if (v.n == 0)
        v = first_text(obj, src_user_after, s->num[RX_F_USER]);
    return v;
}

/* EventID: a whole number, or a string of digits. The first source with
 * a value decides; a value that is neither leaves the id unknown (-1). */
static bool event_id_from(json_t *obj, long *out)
{
    if (obj == NULL)
        return false;
    for (int i = 0; src_event_id[i]; i++) {
        json_t *v = lookup_path(obj, src_event_id[i]);
        if (json_is_integer(v)) {
            json_int_t n = json_integer_value(v);
            *out = n >= 0 && n <= 0x7FFFFFFF ? (long)n : -1;
            return true;
        }
        if (json_is_real(v)) {
            double d = json_real_value(v);
            *out = d >= 0 && d <= 0x7FFFFFFF && d == (double)(long)d
                       ? (long)d
                       : -1;
            return true;
        }
        if (json_is_string(v) && json_string_length(v) > 0) {
            const char *p = json_string_value(v);
            size_t n = json_string_length(v);
            long id = 0;
            for (size_t k = 0; k < n; k++) {
                if (p[k] < '0' || p[k] > '9' || id > 0x7FFFFFF) {
                    id = -1;
                    break;
                }
                id = id * 10 + (p[k] - '0');
            }
            *out = id;
            return true;
        }
    }
    return false;
}

static long event_id_from_text(struct rx_str s)
{
    long id = 0;
    if (s.n == 0)
        return -1;
    for (size_t k = 0; k < s.n; k++) {
        if (s.p[k] < '0' || s.p[k] > '9' || id > 0x7FFFFFF)
            return -1;
        id = id * 10 + (s.p[k] - '0');
    }
    return id;
}

/* _messageTime: ms as a number or a string of digits. */
static bool ms_value(json_t *v, int64_t *ms)
{
    if (json_is_integer(v)) {
        *ms = json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d > -9.2e18 && d < 9.2e18) {
            *ms = (int64_t)d;
            return true;
        }
        return false;
    }
    if (json_is_string(v))
        return rx_time_parse_int(json_string_value(v), json_string_length(v),
                                 ms);
    return false;
}

static bool iso_value(json_t *v, int64_t *ms)
{
    if (json_is_string(v))
        return rx_time_parse_iso(json_string_value(v), json_string_length(v),
                                 ms);
    /* Elasticsearch may render @timestamp as epoch_millis. */
    if (json_is_integer(v)) {
        *ms = json_integer_value(v);
        return true;
    }
    return false;
}

/* Times, in SPEC order; a value that does not parse passes to the next
 * source rather than losing the time altogether. */
static bool time_from(json_t *obj, int64_t *ms)
{
    if (obj == NULL)
        return false;
    return ms_value(lookup_path(obj, "_messageTime"), ms) ||
           ms_value(lookup_path(obj, "_messagetime"), ms) ||
           iso_value(lookup_path(obj, "@timestamp"), ms) ||
           iso_value(lookup_path(obj, "data.win.system.systemTime"), ms) ||
           iso_value(lookup_path(obj, "UtcTime"), ms) ||
           iso_value(lookup_path(obj, "winlog.event_data.UtcTime"), ms);
}

static bool time_from_xml(const struct rx_xml_event *x, int64_t *ms)
{
    struct rx_str st = rx_xmlevent_get(x, RX_XF_SYSTEM_TIME);
    struct rx_str ut = rx_xmlevent_get(x, RX_XF_UTC_TIME);
    return (st.n && rx_time_parse_iso(st.p, st.n, ms)) ||
           (ut.n && rx_time_parse_iso(ut.p, ut.n, ms));
}

static struct rx_str xml_provider(const struct rx_xml_event *x)
{
    struct rx_str p = rx_xmlevent_get(x, RX_XF_PROVIDER_NAME);
    return p.n ? p : rx_xmlevent_get(x, RX_XF_CHANNEL);
}

void rx_jsonevent_view_from_xml(const struct rx_xml_event *x,
                                struct rx_event_view *v)
{
    rx_event_view_clear(v);
    v->event_id = event_id_from_text(rx_xmlevent_get(x, RX_XF_EVENT_ID));
    v->has_time = time_from_xml(x, &v->time_ms);
    v->f[RX_F_COMPUTER] = rx_xmlevent_get(x, RX_XF_COMPUTER);
    v->f[RX_F_USER] = rx_xmlevent_get(x, RX_XF_USER);
    v->f[RX_F_IMAGE] = rx_xmlevent_get(x, RX_XF_IMAGE);
    v->f[RX_F_COMMAND_LINE] = rx_xmlevent_get(x, RX_XF_COMMAND_LINE);
    v->f[RX_F_PARENT_IMAGE] = rx_xmlevent_get(x, RX_XF_PARENT_IMAGE);
    v->f[RX_F_DEST_HOST] = rx_xmlevent_get(x, RX_XF_DEST_HOST);
    v->f[RX_F_PROVIDER] = xml_provider(x);
}

/* Parses a raw message, if the object carries one: Sumo Logic and Splunk
 * put the original event text in _raw; some shippers put the XML in
 * message. Text that is neither XML nor JSON is not an event rendering
 * (a plain syslog line, say) and is ignored. */
static int load_raw(struct rx_json_event *s, json_t *obj, char *err,
                    size_t errsize)
{
    json_t *raw = json_object_get(obj, "_raw");
    bool from_message = false;
    if (!json_is_string(raw)) {
        raw = json_object_get(obj, "message");
        from_message = true;
        if (!json_is_string(raw))
            return 0;
    }
    const char *p = json_string_value(raw);
    size_t n = json_string_length(raw);
    while (n && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
        n--;
    }
    if (from_message && (n < 6 || memcmp(p, "<Event", 6) != 0))
        return 0;
    const char *which = from_message ? "message" : "_raw";
    if (n && *p == '<') {
        char xerr[256];
        if (rx_xmlevent_parse(s->xml, p, n, xerr, sizeof(xerr)) != 0) {
            snprintf(err, errsize, "%s: %s", which, xerr);
            return RX_EBADXML;
        }
        s->raw_xml = true;
    } else if (n && *p == '{') {
        json_error_t jerr;
        s->raw_obj = json_loadb(p, n, 0, &jerr);
        if (s->raw_obj == NULL) {
            snprintf(err, errsize, "%s: malformed JSON: %s at column %d",
                     which, jerr.text, jerr.column);
            return RX_EBADJSON;
        }
    }
    return 0;
}

int rx_jsonevent_view(struct rx_json_event *s, json_t *obj,
                      struct rx_event_view *v, char *err, size_t errsize)
{
    rx_event_view_clear(v);
    json_decref(s->raw_obj);
    s->raw_obj = NULL;
    s->raw_xml = false;

    json_t *inner = json_object_get(obj, "_source");
    if (json_is_object(inner))
        obj = inner;
    inner = json_object_get(obj, "all_fields");
    if (json_is_object(inner))
        obj = inner;

    int rc = load_raw(s, obj, err, errsize);
    if (rc)
        return rc;
    json_t *raw = s->raw_obj; /* NULL unless the raw message was JSON */
    const struct rx_xml_event *rx = s->raw_xml ? s->xml : NULL;

    if (!event_id_from(obj, &v->event_id) && !event_id_from(raw, &v->event_id)
        && rx)
        v->event_id = event_id_from_text(rx_xmlevent_get(rx, RX_XF_EVENT_ID));
    v->has_time = time_from(obj, &v->time_ms) || time_from(raw, &v->time_ms) ||
                  (rx && time_from_xml(rx, &v->time_ms));

    static const char *const *const srcs[RX_F_COUNT] = {
        [RX_F_COMPUTER] = src_computer,
        [RX_F_IMAGE] = src_image,
        [RX_F_COMMAND_LINE] = src_command_line,
        [RX_F_PARENT_IMAGE] = src_parent_image,
        [RX_F_DEST_HOST] = src_dest_host,
        [RX_F_PROVIDER] = src_provider,
    };
    static const int xml_of[RX_F_COUNT] = {
        [RX_F_COMPUTER] = RX_XF_COMPUTER,
        [RX_F_USER] = RX_XF_USER,
        [RX_F_IMAGE] = RX_XF_IMAGE,
        [RX_F_COMMAND_LINE] = RX_XF_COMMAND_LINE,
        [RX_F_PARENT_IMAGE] = RX_XF_PARENT_IMAGE,
        [RX_F_DEST_HOST] = RX_XF_DEST_HOST,
        [RX_F_PROVIDER] = -1,
    };
    for (int f = 0; f < RX_F_COUNT; f++) {
        struct rx_str val;
        if (f == RX_F_USER) {
            val = user_from(s, obj);
            if (val.n == 0 && raw)
                val = user_from(s, raw);
        } else {
            val = first_text(obj, srcs[f], s->num[f]);
            if (val.n == 0)
                val = first_text(raw, srcs[f], s->num[f]);
        }
        if (val.n == 0 && rx)
            val = f == RX_F_PROVIDER ? xml_provider(rx)
                                     : rx_xmlevent_get(rx, xml_of[f]);
        v->f[f] = val;
    }
    return 0;
}
