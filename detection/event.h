/*
 * event: the flat, borrowed view of one normalized event.
 *
 * This is all the rule sees of an event: a handful of string slices and two
 * numbers. The slices borrow memory owned by whoever built the view (a JSON
 * tree, an XML scratch buffer); they are valid only until that owner
 * parses the next event. An absent or empty field is {NULL, 0}.
 */
#ifndef RX_EVENT_H
#define RX_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rx_str {
    const char *p; /* not NUL-terminated in general */
    size_t n;
};

/* The string fields of SPEC section 2, in the order of the alert row. */
#define RX_FIELD_MAP(X)                                                      \
    X(COMPUTER, "Computer")                                                  \
    X(USER, "User")                                                          \
    X(IMAGE, "Image")                                                        \
    X(COMMAND_LINE, "CommandLine")                                           \
    X(PARENT_IMAGE, "ParentImage")                                           \
    X(DEST_HOST, "DestinationHostname")                                      \
    X(PROVIDER, "Provider")

enum rx_field {
#define RX_FIELD_ENUM(id, name) RX_F_##id,
    RX_FIELD_MAP(RX_FIELD_ENUM)
#undef RX_FIELD_ENUM
        RX_F_COUNT
};

struct rx_event_view {
    long event_id;    /* -1 when absent or not a whole number */
    bool has_time;    /* _messageTime was found and parsed */
    int64_t time_ms;  /* ms since the Unix epoch, UTC */
    struct rx_str f[RX_F_COUNT];
};

/* Returns the field's SPEC name ("Computer", ...). */
const char *rx_field_name(enum rx_field field);

/* Resets every field to absent. */
void rx_event_view_clear(struct rx_event_view *v);

#endif
