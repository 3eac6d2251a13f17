/*
 * log: JSON lines on stderr, one object per line.
 *
 * Every line has "time" (RFC 3339, UTC, ms), "level" and "msg", then the
 * caller's fields. Callers must never pass a token, secret, routing key or
 * webhook URL. Thread-safe: each line is formatted in a local buffer and
 * written with one write(2), so lines from threads never interleave.
 */
#ifndef RX_LOG_H
#define RX_LOG_H

#include <stdbool.h>

enum rx_log_level { RX_LOG_DEBUG, RX_LOG_INFO, RX_LOG_WARN, RX_LOG_ERROR };

/* Sets the least level written (default info). Call before threads start. */
void rx_log_set_level(enum rx_log_level level);
/* Parses "debug", "info", "warn", "error". Returns false on anything else. */
bool rx_log_parse_level(const char *s, enum rx_log_level *out);

/* Writes one line. fields_fmt, if not NULL, formats extra JSON members
 * written after "msg" (e.g. "\"status\":%d,\"route\":\"/events\""); the
 * caller is responsible for them being valid JSON (use rx_log_str for
 * strings). msg is JSON-escaped here. */
void rx_log(enum rx_log_level level, const char *msg, const char *fields_fmt,
            ...) __attribute__((format(printf, 3, 4)));

/* JSON-escapes s into out (quotes included), truncating to fit outsize.
 * Returns out, for use as a "%s" argument to rx_log. */
const char *rx_log_str(char *out, unsigned long outsize, const char *s);

#endif
