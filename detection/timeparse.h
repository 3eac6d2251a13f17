/*
 * timeparse: turns the time texts events carry into ms since the epoch.
 *
 * Pure arithmetic (no libc time zone state, no clocks), so it is safe on
 * any thread. Accepts ISO 8601 / RFC 3339 date-times ("T" or a space
 * between date and time, optional fraction of any length, "Z", "+hh:mm",
 * "+hhmm" or no zone meaning UTC) and Sysmon's UtcTime
 * ("YYYY-MM-DD hh:mm:ss.fff"). Fractions below a millisecond are truncated.
 */
#ifndef RX_TIMEPARSE_H
#define RX_TIMEPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses s[0..n). Returns true and sets *ms, or false if s is not a
 * date-time this module understands. */
bool rx_time_parse_iso(const char *s, size_t n, int64_t *ms);

/* Parses a whole, optionally signed, decimal integer (no spaces, no
 * fraction). Returns false on anything else or on overflow. */
bool rx_time_parse_int(const char *s, size_t n, int64_t *out);

/* Writes ms as "YYYY-MM-DDThh:mm:ss.fffZ" into out (at least 32 bytes). */
void rx_time_format_iso(int64_t ms, char out[32]);

#endif
