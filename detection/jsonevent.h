/*
 * jsonevent: builds the flat view of one event given as a JSON object,
 * taking each field from the first source of SPEC section 2's field table
 * that has a non-empty value (Sysmon names, Winlogbeat, ECS with nested or
 * literal dotted keys, Wazuh data.win.*), then from a raw message
 * (_raw, or a message starting with "<Event") parsed as XML or JSON.
 * Elasticsearch hits (_source) and Wazuh alerts (all_fields) are
 * unwrapped first.
 *
 * One struct rx_json_event per thread. The view borrows the JSON object
 * and this scratch: valid until the next call or until the object dies.
 */
#ifndef RX_JSONEVENT_H
#define RX_JSONEVENT_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"
#include "event.h"
#include "xmlevent.h"

struct rx_json_event;

/* Returns an owned scratch. xml is borrowed (the caller's XML reader, used
 * for raw XML messages) and must outlive it. */
struct rx_json_event *rx_jsonevent_new(struct rx_xml_event *xml);
void rx_jsonevent_free(struct rx_json_event *s);

/* Fills v from obj (borrowed). Returns 0, or RX_EBADXML / RX_EBADJSON with
 * a message in err when a raw message cannot be read. */
int rx_jsonevent_view(struct rx_json_event *s, json_t *obj,
                      struct rx_event_view *v, char *err,
                      size_t errsize) RX_WUR;

/* Fills v from the last successful parse of xml (an XML event). */
void rx_jsonevent_view_from_xml(const struct rx_xml_event *xml,
                                struct rx_event_view *v);

#endif
