/*
 * app: the one struct that holds the running service together. serve
 * builds it on its stack and passes pointers down; there are no mutable
 * globals. Everything in it is either read-only after start-up (config),
 * thread-safe by itself (metrics, pool, dispatcher) or atomic (state).
 */
#ifndef RX_APP_H
#define RX_APP_H

#include <stdatomic.h>

#include "config.h"
#include "dispatch.h"
#include "metrics.h"
#include "pool.h"

enum rx_app_state { RX_APP_STARTING, RX_APP_READY, RX_APP_DRAINING };

struct rx_app {
    const struct rx_config *config;   /* borrowed, read-only */
    struct rx_metrics *metrics;       /* owned by serve */
    struct rx_pool *pool;             /* owned by serve */
    struct rx_dispatcher *dispatcher; /* owned by serve */
    atomic_int state;                 /* enum rx_app_state */
};

#endif
