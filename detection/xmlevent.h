/*
 * xmlevent: reads one Windows Event XML <Event> element with expat.
 *
 * Takes values from <Data Name='F'>v</Data> and from element-style fields
 * <F>v</F>, and from the System attributes TimeCreated@SystemTime and
 * Provider@Name. Entities are decoded by expat; namespace prefixes are
 * ignored; a DOCTYPE (and so any entity declaration) is refused, which
 * shuts out entity expansion and external entities. For each field the
 * first non-empty value wins.
 *
 * One struct rx_xml_event per thread; the values it returns borrow its
 * buffers and are valid until the next parse.
 */
#ifndef RX_XMLEVENT_H
#define RX_XMLEVENT_H

#include <stddef.h>

#include "error.h"
#include "event.h"

#define RX_XML_FIELD_MAP(X)                                                  \
    X(EVENT_ID, "EventID")                                                   \
    X(IMAGE, "Image")                                                        \
    X(COMMAND_LINE, "CommandLine")                                           \
    X(PARENT_IMAGE, "ParentImage")                                           \
    X(USER, "User")                                                          \
    X(COMPUTER, "Computer")                                                  \
    X(DEST_HOST, "DestinationHostname")                                      \
    X(UTC_TIME, "UtcTime")                                                   \
    X(CHANNEL, "Channel")                                                    \
    X(SYSTEM_TIME, "TimeCreated@SystemTime")                                 \
    X(PROVIDER_NAME, "Provider@Name")

enum rx_xml_field {
#define RX_XML_FIELD_ENUM(id, name) RX_XF_##id,
    RX_XML_FIELD_MAP(RX_XML_FIELD_ENUM)
#undef RX_XML_FIELD_ENUM
        RX_XF_COUNT
};

struct rx_xml_event;

/* Returns an owned reader (free with rx_xmlevent_free). */
struct rx_xml_event *rx_xmlevent_new(void);
void rx_xmlevent_free(struct rx_xml_event *x);

/* Parses xml[0..len), which must be one <Event> element. Returns 0, or
 * RX_EBADXML with a message in err. */
int rx_xmlevent_parse(struct rx_xml_event *x, const char *xml, size_t len,
                      char *err, size_t errsize) RX_WUR;

/* After a failed parse: the 1-based line and column of the error within
 * the text given to rx_xmlevent_parse. */
void rx_xmlevent_error_position(const struct rx_xml_event *x, int *line,
                                int *column);

/* The value of field f from the last successful parse ({NULL,0} if none).
 * Borrowed until the next parse. */
struct rx_str rx_xmlevent_get(const struct rx_xml_event *x,
                              enum rx_xml_field f);

#endif
