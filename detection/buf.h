/*
 * buf: a growable byte buffer with a hard cap, and a JSON string writer.
 *
 * Every buffer that grows with client input has a cap set at init; an
 * append past it fails with RX_ETOOBIG and leaves the buffer as it was.
 * The contents are always NUL-terminated (the NUL is not counted in len).
 * Not thread-safe: one owner.
 */
#ifndef RX_BUF_H
#define RX_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct rx_buf {
    char *data;  /* owned; NUL-terminated when len > 0 or after init */
    size_t len;  /* bytes used, not counting the NUL */
    size_t size; /* bytes allocated */
    size_t cap;  /* most bytes len may reach; 0 means no cap */
};

/* Initializes an empty buffer that may hold at most cap bytes (0: none). */
void rx_buf_init(struct rx_buf *b, size_t cap);
void rx_buf_cleanup(struct rx_buf *b);
/* Empties the buffer and keeps its memory for reuse. */
void rx_buf_reset(struct rx_buf *b);

/* Makes room for n more bytes at once (e.g. a declared Content-Length),
 * so appending them later does not reallocate. Returns 0 or RX_ETOOBIG. */
int rx_buf_reserve(struct rx_buf *b, size_t n) RX_WUR;

/* Appends n bytes. Returns 0 or RX_ETOOBIG (nothing appended). */
int rx_buf_append(struct rx_buf *b, const void *p, size_t n) RX_WUR;
int rx_buf_puts(struct rx_buf *b, const char *s) RX_WUR;
int rx_buf_printf(struct rx_buf *b, const char *fmt, ...) RX_WUR
    __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as a JSON string literal, quotes included. Invalid UTF-8
 * bytes become U+FFFD so the output is always valid JSON. */
int rx_buf_json_string(struct rx_buf *b, const char *s, size_t n) RX_WUR;

/* Length (1-4) of the valid UTF-8 sequence at s[0..n), or 0 when it is
 * invalid as jansson judges it: no overlong forms, no surrogates, nothing
 * above U+10FFFF. */
size_t rx_utf8_len(const unsigned char *s, size_t n);

/* Returns the contents as an owned C string and re-initializes b. */
char *rx_buf_steal(struct rx_buf *b, size_t *len);

#endif
