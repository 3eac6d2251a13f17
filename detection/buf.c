#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void rx_buf_init(struct rx_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->size = 0;
    b->cap = cap;
}

void rx_buf_cleanup(struct rx_buf *b)
{
    free(b->data);
    rx_buf_init(b, b->cap);
}

void rx_buf_reset(struct rx_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Makes room for n more bytes plus the NUL, growing geometrically so that
 * appending is amortized O(1). */
static int reserve(struct rx_buf *b, size_t n)
{
    if (b->cap && (n > b->cap || b->len > b->cap - n))
        return RX_ETOOBIG;
    size_t need = b->len + n + 1;
    if (need <= b->size)
        return 0;
    size_t size = b->size ? b->size : 256;
    while (size < need)
        size = size > SIZE_MAX / 2 ? need : size * 2;
    b->data = rx_xrealloc(b->data, size);
    b->size = size;
    return 0;
}

int rx_buf_reserve(struct rx_buf *b, size_t n)
{
    return reserve(b, n);
}

int rx_buf_append(struct rx_buf *b, const void *p, size_t n)
{
    int rc = reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int rx_buf_puts(struct rx_buf *b, const char *s)
{
    return rx_buf_append(b, s, strlen(s));
}

int rx_buf_printf(struct rx_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return RX_EIO;
    if ((size_t)n < sizeof(small))
        return rx_buf_append(b, small, (size_t)n);
    int rc = reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

size_t rx_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int rx_buf_json_string(struct rx_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start_len = b->len;
    const unsigned char *p = (const unsigned char *)s;
    int rc = rx_buf_append(b, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    size_t i = 0;
    while (rc == 0 && i < n) {
        unsigned char c = p[i];
        const char *esc = NULL;
        char ubuf[7];
        size_t adv = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == 0x7F) {
            ubuf[0] = '\\';
            ubuf[1] = 'u';
            ubuf[2] = '0';
            ubuf[3] = '0';
            ubuf[4] = hex[c >> 4];
            ubuf[5] = hex[c & 15];
            ubuf[6] = '\0';
            esc = ubuf;
        } else if (c >= 0x80) {
            adv = rx_utf8_len(p + i, n - i);
            if (adv == 0) {
                esc = "\xEF\xBF\xBD"; /* U+FFFD */
                adv = 1;
            }
        }
        if (esc) {
            rc = rx_buf_append(b, s + run, i - run);
            if (rc == 0)
                rc = rx_buf_puts(b, esc);
            run = i + adv;
        }
        i += adv;
    }
    if (rc == 0)
        rc = rx_buf_append(b, s + run, n - run);
    if (rc == 0)
        rc = rx_buf_append(b, "\"", 1);
    if (rc) {
        b->len = start_len;
        if (b->data)
            b->data[b->len] = '\0';
    }
    return rc;
}

char *rx_buf_steal(struct rx_buf *b, size_t *len)
{
    char *p = b->data ? b->data : rx_xstrdup("");
    if (len)
        *len = b->len;
    rx_buf_init(b, b->cap);
    return p;
}
