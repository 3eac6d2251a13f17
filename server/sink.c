#include "sink.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hmac.h"

const char *rx_sink_verdict_name(enum rx_sink_verdict v)
{
    switch (v) {
    case RX_VERDICT_SENT:
        return "sent";
    case RX_VERDICT_RETRY:
        return "retry";
    case RX_VERDICT_RETRY_UNSURE:
        return "retry_unsure";
    case RX_VERDICT_RETRY_AFTER:
        return "retry_after";
    case RX_VERDICT_PERMANENT:
        return "permanent";
    }
    return "unknown";
}

const char *rx_sink_row_str(const json_t *row, const char *key)
{
    json_t *v = json_object_get(row, key);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return NULL;
    return json_string_value(v);
}

long long rx_sink_row_int(const json_t *row, const char *key, long long dflt)
{
    json_t *v = json_object_get(row, key);
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    if (json_is_true(v))
        return 1;
    if (json_is_false(v))
        return 0;
    return dflt;
}

const char *rx_sink_file_name(const char *path)
{
    if (path == NULL)
        return NULL;
    const char *name = path;
    for (const char *p = path; *p; p++) {
        if (*p == '\\' || *p == '/')
            name = p + 1;
    }
    return *name ? name : NULL;
}

/* Each field is written as "<length>:<bytes>;" (or "-;" when missing), so
 * "a|b","c" and "a","b|c" cannot collide as they would with a plain
 * separator. */
static int key_field(struct rx_buf *b, const char *s)
{
    if (s == NULL)
        return rx_buf_puts(b, "-;");
    if (rx_buf_printf(b, "%zu:", strlen(s)) != 0 || rx_buf_puts(b, s) != 0)
        return RX_ETOOBIG;
    return rx_buf_puts(b, ";");
}

int rx_sink_dedup_key(const json_t *row, char out[65])
{
    const char *detail = rx_sink_row_str(row, "CommandLine");
    if (detail == NULL)
        detail = rx_sink_row_str(row, "DestinationHostname");
    struct rx_buf b;
    rx_buf_init(&b, 0);
    int rc = 0;
    if (key_field(&b, rx_sink_row_str(row, "Signal")) != 0 ||
        key_field(&b, rx_sink_row_str(row, "Computer")) != 0 ||
        key_field(&b, rx_sink_row_str(row, "Image")) != 0 ||
        key_field(&b, detail) != 0)
        rc = RX_EIO;
    if (rc == 0)
        rc = rx_sha256_hex(b.data, b.len, out);
    rx_buf_cleanup(&b);
    return rc;
}

/* Length of the UTF-8 sequence starting with byte c (1 for stray bytes,
 * which jansson strings never hold anyway). */
static size_t seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        return 2;
    if ((c & 0xf0) == 0xe0)
        return 3;
    if ((c & 0xf8) == 0xf0)
        return 4;
    return 1;
}

size_t rx_sink_utf8_len(const char *s, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; chars++) {
        size_t k = seq_len((unsigned char)s[i]);
        i += k <= n - i ? k : n - i;
    }
    return chars;
}

size_t rx_sink_utf8_prefix(const char *s, size_t n, size_t max_chars)
{
    size_t i = 0;
    for (size_t chars = 0; i < n && chars < max_chars; chars++) {
        size_t k = seq_len((unsigned char)s[i]);
        if (k > n - i)
            break;
        i += k;
    }
    return i;
}

/* The escaped form of the code point starting at s (length k), and how many
 * output code points it takes. */
static const char *escaped(const char *s, size_t k, bool escape, bool in_code,
                           size_t *out_len, size_t *out_chars)
{
    if (escape && k == 1) {
        const char *e = NULL;
        switch (*s) {
        case '&':
            e = "&amp;";
            break;
        case '<':
            e = "&lt;";
            break;
        case '>':
            e = "&gt;";
            break;
        case '`':
            e = in_code ? "'" : NULL;
            break;
        default:
            break;
        }
        if (e) {
            *out_len = strlen(e);
            *out_chars = *out_len;
            return e;
        }
    }
    *out_len = k;
    *out_chars = 1;
    return s;
}

int rx_sink_append_cut(struct rx_buf *out, const char *s, size_t max_chars,
                       bool escape, bool in_code)
{
    if (s == NULL)
        return rx_buf_puts(out, "-");
    size_t n = strlen(s);
    /* First pass: does the whole escaped string fit? */
    size_t total = 0;
    for (size_t i = 0; i < n;) {
        size_t k = seq_len((unsigned char)s[i]);
        if (k > n - i)
            k = n - i;
        size_t len, chars;
        escaped(s + i, k, escape, in_code, &len, &chars);
        total += chars;
        i += k;
    }
    bool cut = total > max_chars;
    size_t budget = cut ? (max_chars > 0 ? max_chars - 1 : 0) : max_chars;
    size_t used = 0;
    for (size_t i = 0; i < n;) {
        size_t k = seq_len((unsigned char)s[i]);
        if (k > n - i)
            k = n - i;
        size_t len, chars;
        const char *e = escaped(s + i, k, escape, in_code, &len, &chars);
        if (used + chars > budget)
            break;
        if (rx_buf_append(out, e, len) != 0)
            return RX_ETOOBIG;
        used += chars;
        i += k;
    }
    if (cut && max_chars > 0)
        return rx_buf_puts(out, "\xe2\x80\xa6"); /* U+2026 */
    return 0;
}

bool rx_sink_iso8601(long long ms, char out[32])
{
    /* Years 0000..9999 only. */
    if (ms < -62167219200000LL || ms > 253402300799999LL)
        return false;
    long long sec = ms / 1000;
    long long rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return false;
    /* strftime keeps the compiler sure of the length, unlike %d. */
    size_t len = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (len == 0 || len > 19)
        return false;
    out[len++] = '.';
    out[len++] = (char)('0' + rem / 100);
    out[len++] = (char)('0' + rem / 10 % 10);
    out[len++] = (char)('0' + rem % 10);
    out[len++] = 'Z';
    out[len] = '\0';
    return true;
}

enum rx_sink_verdict rx_sink_classify_http(enum rx_sink_net net, long status)
{
    if (net != RX_NET_OK)
        return RX_VERDICT_RETRY;
    if (status >= 200 && status <= 299)
        return RX_VERDICT_SENT;
    if (status == 429)
        return RX_VERDICT_RETRY_AFTER;
    if (status >= 500 && status <= 599)
        return RX_VERDICT_RETRY;
    return RX_VERDICT_PERMANENT;
}
