#include "event.h"

#include <string.h>

static const char *const field_names[RX_F_COUNT] = {
#define RX_FIELD_NAME(id, name) name,
    RX_FIELD_MAP(RX_FIELD_NAME)
#undef RX_FIELD_NAME
};

const char *rx_field_name(enum rx_field field)
{
    return (unsigned)field < RX_F_COUNT ? field_names[field] : "?";
}

void rx_event_view_clear(struct rx_event_view *v)
{
    memset(v, 0, sizeof(*v));
    v->event_id = -1;
}
