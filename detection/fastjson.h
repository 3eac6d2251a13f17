/*
 * fastjson: the hot path for the common case, a flat Sysmon event object
 * (NXLog, Sumo Logic JSON, OTRF, flattened XML) on one NDJSON line.
 *
 * It reads the object in one pass without building a tree: it validates
 * the whole text as strictly as jansson does, copies nothing it does not
 * need, and keeps only the fields of SPEC section 2's table. Anything it
 * does not handle alone (nested or dotted sources, raw messages,
 * _source/all_fields, malformed text, rare numbers or escapes) makes it
 * decline, and the caller takes the full jansson path, which stays the
 * reference: the differential test requires both to give the same
 * answer on every event.
 *
 * One struct rx_fastjson per thread; no allocation per event once its
 * buffers have grown. The view borrows the text and these buffers.
 */
#ifndef RX_FASTJSON_H
#define RX_FASTJSON_H

#include <stdbool.h>
#include <stddef.h>

#include "event.h"

struct rx_fastjson;

/* Returns an owned reader (free with rx_fastjson_free). */
struct rx_fastjson *rx_fastjson_new(void);
void rx_fastjson_free(struct rx_fastjson *f);

/* Reads text[0..n), which must hold exactly one JSON value (white space
 * around it allowed). Returns true and fills v when it is a flat event
 * this reader handles; false when the caller must use the full path. */
bool rx_fastjson_view(struct rx_fastjson *f, const char *text, size_t n,
                      struct rx_event_view *v);

/* Reads the NDJSON line that starts at text (n: the bytes left in the
 * body, this line and those after it) without looking for its end first:
 * the object must end the line (a newline or the end of text, after
 * optional spaces, tabs and CRs). Returns true, fills v and sets
 * *line_len (the line's length without its newline) for a flat event;
 * false when the caller must find the line's end itself and take the
 * full path. */
bool rx_fastjson_line(struct rx_fastjson *f, const char *text, size_t n,
                      struct rx_event_view *v, size_t *line_len);

#endif
