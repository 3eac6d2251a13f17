/*
 * error: the one list of repoexfil's error codes and their texts.
 *
 * Fallible functions return 0 or a negative RX_E* code. A nullable
 * struct rx_error_detail carries a human message and, for parse errors,
 * a 1-based line and column. This module does not map codes to HTTP
 * statuses; handlers/ does that in exactly one table.
 */
#ifndef RX_ERROR_H
#define RX_ERROR_H

#include <stddef.h>

#define RX_ERRNO_MAP(X)                                                      \
    X(OK, 0, "success")                                                      \
    X(BADJSON, -1, "malformed JSON")                                         \
    X(BADXML, -2, "malformed XML")                                           \
    X(BADBODY, -3, "malformed request body")                                 \
    X(TOOBIG, -4, "too large")                                               \
    X(TOOMANY, -5, "too many events")                                        \
    X(BADTYPE, -6, "unsupported content type")                               \
    X(BADRULES, -7, "invalid rules")                                         \
    X(BADCONFIG, -8, "invalid configuration")                                \
    X(IO, -9, "input/output error")                                          \
    X(EMPTY, -10, "empty body")

enum rx_errno {
#define RX_ERRNO_ENUM(name, val, text) RX_E##name = (val),
    RX_ERRNO_MAP(RX_ERRNO_ENUM)
#undef RX_ERRNO_ENUM
};

/* Detail for an error: message (NUL-terminated, possibly truncated) and a
 * 1-based position (0 when not known). */
struct rx_error_detail {
    char message[512];
    int line;
    int column;
};

/* Returns a static text for code (never NULL). Thread-safe. */
const char *rx_strerror(int code);

/* Fills detail (if not NULL) with a printf-style message and position;
 * returns code so callers can write `return rx_error_set(d, RX_EX, ...)`. */
int rx_error_set(struct rx_error_detail *detail, int code, int line,
                 int column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define RX_WUR __attribute__((warn_unused_result))

#endif
