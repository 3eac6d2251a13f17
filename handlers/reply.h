/*
 * reply: one HTTP answer being built (status, body, the few extra headers
 * repoexfil sends), the SPEC's JSON error shape, and THE table that maps
 * RX_E* codes to HTTP statuses (nowhere else does that).
 *
 * Routes fill a reply; server/http.c turns it into an MHD response. A
 * reply has one owner at a time (the HTTP thread, or the worker running
 * its batch). No I/O.
 */
#ifndef RX_REPLY_H
#define RX_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

struct rx_reply {
    int status;                   /* HTTP status; 0 until set */
    const char *content_type;     /* static string */
    struct rx_buf body;           /* owned, capped */
    const void *static_body;      /* borrowed static bytes, used instead of
                                     body when not NULL */
    size_t static_len;            /* bytes in static_body */
    const char *allow;            /* static "Allow" value for 405, or NULL */
    int retry_after;              /* "Retry-After" seconds, 0: none */
    const char *www_authenticate; /* static header value, or NULL */
    bool close;                   /* send "Connection: close" */
};

/* Initializes an empty reply whose body may hold at most cap bytes. */
void rx_reply_init(struct rx_reply *r, size_t cap);
void rx_reply_cleanup(struct rx_reply *r);

/* Replaces the reply with {"error":{"code","message"[,"line","column"]}}
 * (line and column only when line > 0). code and message are borrowed. */
void rx_reply_error(struct rx_reply *r, int status, const char *code,
                    const char *message, int line, int column);

/* The one table: the HTTP status for an RX_E* code (500 if unmapped). */
int rx_reply_status_for(int rx_error);

/* rx_reply_error for an RX_E* code: its status, its contract name as
 * "code" (bad_json, body_too_large, ...), the
 * detail's message (or rx_strerror) and position. detail may be NULL. */
void rx_reply_from_error(struct rx_reply *r, int rx_error,
                         const struct rx_error_detail *detail);

/* Replaces the reply with a JSON body already formatted (borrowed). */
void rx_reply_json(struct rx_reply *r, int status, const char *json,
                   size_t len);

#endif
