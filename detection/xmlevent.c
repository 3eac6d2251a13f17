#include "xmlevent.h"

#include <expat.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"

/* Names matched against element names and Data/@Name values; the last
 * two come from attributes only. */
static const char *const xml_names[RX_XF_COUNT] = {
#define RX_XML_FIELD_NAME(id, name) name,
    RX_XML_FIELD_MAP(RX_XML_FIELD_NAME)
#undef RX_XML_FIELD_NAME
};
#define RX_XF_ELEMENT_COUNT RX_XF_SYSTEM_TIME

struct rx_xml_event {
    XML_Parser parser;
    struct rx_buf value[RX_XF_COUNT];
    bool have[RX_XF_COUNT];
    struct rx_buf text;  /* the element text being captured */
    int capture;         /* field being captured, or -1 */
    int capture_depth;   /* depth of the element being captured */
    int depth;
    bool root_seen;
    char error[160];     /* set by handlers that stop the parser */
};

static const char *local_name(const char *name)
{
    const char *colon = strrchr(name, ':');
    return colon ? colon + 1 : name;
}

static int field_by_name(const char *name)
{
    for (int f = 0; f < RX_XF_ELEMENT_COUNT; f++)
        if (strcmp(name, xml_names[f]) == 0)
            return f;
    return -1;
}

static void set_value(struct rx_xml_event *x, int f, const char *s, size_t n)
{
    if (x->have[f] || n == 0)
        return;
    rx_buf_reset(&x->value[f]);
    if (rx_buf_append(&x->value[f], s, n) == 0)
        x->have[f] = true;
}

static void stop(struct rx_xml_event *x, const char *why)
{
    snprintf(x->error, sizeof(x->error), "%s", why);
    XML_StopParser(x->parser, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name,
                             const XML_Char **atts)
{
    struct rx_xml_event *x = ud;
    const char *local = local_name(name);
    x->depth++;
    if (x->depth == 1) {
        x->root_seen = true;
        if (strcmp(local, "Event") != 0) {
            char why[160];
            snprintf(why, sizeof(why), "root element is <%.60s>, not <Event>",
                     local);
            stop(x, why);
            return;
        }
    }
    if (x->capture >= 0)
        return; /* nested markup inside a captured value: keep its text */
    int f = -1;
    if (strcmp(local, "Data") == 0) {
        for (int i = 0; atts[i]; i += 2)
            if (strcmp(local_name(atts[i]), "Name") == 0)
                f = field_by_name(atts[i + 1]);
    } else if (strcmp(local, "TimeCreated") == 0) {
        for (int i = 0; atts[i]; i += 2)
            if (strcmp(local_name(atts[i]), "SystemTime") == 0)
                set_value(x, RX_XF_SYSTEM_TIME, atts[i + 1],
                          strlen(atts[i + 1]));
    } else if (strcmp(local, "Provider") == 0) {
        for (int i = 0; atts[i]; i += 2)
            if (strcmp(local_name(atts[i]), "Name") == 0)
                set_value(x, RX_XF_PROVIDER_NAME, atts[i + 1],
                          strlen(atts[i + 1]));
    } else {
        f = field_by_name(local);
    }
    if (f >= 0 && !x->have[f]) {
        x->capture = f;
        x->capture_depth = x->depth;
        rx_buf_reset(&x->text);
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct rx_xml_event *x = ud;
    (void)name;
    if (x->capture >= 0 && x->depth == x->capture_depth) {
        set_value(x, x->capture, x->text.data ? x->text.data : "",
                  x->text.len);
        x->capture = -1;
    }
    x->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct rx_xml_event *x = ud;
    if (x->capture >= 0 && len > 0 &&
        rx_buf_append(&x->text, s, (size_t)len) != 0)
        stop(x, "a value is too large");
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name,
                               const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    stop(ud, "DOCTYPE is not allowed (no DTDs, entity declarations or "
             "external entities)");
}

struct rx_xml_event *rx_xmlevent_new(void)
{
    struct rx_xml_event *x = rx_xcalloc(1, sizeof(*x));
    x->parser = XML_ParserCreate("UTF-8");
    if (x->parser == NULL)
        abort();
    for (int f = 0; f < RX_XF_COUNT; f++)
        rx_buf_init(&x->value[f], 0);
    rx_buf_init(&x->text, 0);
    return x;
}

void rx_xmlevent_free(struct rx_xml_event *x)
{
    if (x == NULL)
        return;
    XML_ParserFree(x->parser);
    for (int f = 0; f < RX_XF_COUNT; f++)
        rx_buf_cleanup(&x->value[f]);
    rx_buf_cleanup(&x->text);
    free(x);
}

int rx_xmlevent_parse(struct rx_xml_event *x, const char *xml, size_t len,
                      char *err, size_t errsize)
{
    /* Reset rather than re-create: no allocation per event. The encoding
     * is forced to UTF-8 because the text reached us as UTF-8 (JSON or a
     * UTF-8 body) whatever its declaration says. */
    XML_ParserReset(x->parser, "UTF-8");
    XML_SetUserData(x->parser, x);
    XML_SetElementHandler(x->parser, on_start, on_end);
    XML_SetCharacterDataHandler(x->parser, on_text);
    XML_SetStartDoctypeDeclHandler(x->parser, on_doctype);
    memset(x->have, 0, sizeof(x->have));
    x->capture = -1;
    x->depth = 0;
    x->root_seen = false;
    x->error[0] = '\0';

    if (len > (size_t)INT32_MAX) {
        snprintf(err, errsize, "malformed XML: event too large");
        return RX_EBADXML;
    }
    enum XML_Status st = XML_Parse(x->parser, xml, (int)len, XML_TRUE);
    if (st != XML_STATUS_OK) {
        if (x->error[0])
            snprintf(err, errsize, "malformed XML: %s", x->error);
        else
            snprintf(err, errsize,
                     "malformed XML: %s at line %lu column %lu",
                     XML_ErrorString(XML_GetErrorCode(x->parser)),
                     (unsigned long)XML_GetCurrentLineNumber(x->parser),
                     (unsigned long)XML_GetCurrentColumnNumber(x->parser) + 1);
        memset(x->have, 0, sizeof(x->have));
        return RX_EBADXML;
    }
    return 0;
}

void rx_xmlevent_error_position(const struct rx_xml_event *x, int *line,
                                int *column)
{
    *line = (int)XML_GetCurrentLineNumber(x->parser);
    *column = (int)XML_GetCurrentColumnNumber(x->parser) + 1;
}

struct rx_str rx_xmlevent_get(const struct rx_xml_event *x,
                              enum rx_xml_field f)
{
    struct rx_str s = {NULL, 0};
    if ((unsigned)f < RX_XF_COUNT && x->have[f]) {
        s.p = x->value[f].data;
        s.n = x->value[f].len;
    }
    return s;
}
