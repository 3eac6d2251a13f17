#include "sink_webhook.h"

#include <stdio.h>
#include <string.h>

#include "hmac.h"

char *rx_webhook_build(const json_t *rows, const char *request_id)
{
    if (!json_is_array(rows))
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "source", json_string("repoexfil"));
    json_object_set_new(o, "request_id",
                        request_id ? json_string(request_id) : json_null());
    json_object_set_new(o, "alerts", json_deep_copy((json_t *)rows));
    char *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return out;
}

int rx_webhook_signature(const char *secret, const char *body, size_t len,
                         char out[72])
{
    char hex[65];
    memcpy(out, "sha256=", 7);
    out[7] = '\0';
    if (rx_hmac_sha256_hex(secret, strlen(secret), body, len, hex) != 0)
        return RX_EIO;
    memcpy(out + 7, hex, 65);
    return 0;
}

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool line_valid(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= n || s[i] != ':')
        return false;
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* Walks the lines, giving each non-empty one (trailing '\r' cut) to fn;
 * stops early when fn returns false. Returns the line number it stopped
 * at, or 0. */
static int walk(const char *lines, bool (*fn)(const char *, size_t, void *),
                void *ctx)
{
    int no = 0;
    const char *p = lines;
    while (p && *p) {
        no++;
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        size_t m = n;
        if (m && p[m - 1] == '\r')
            m--;
        if (m && !fn(p, m, ctx))
            return no;
        p = nl ? nl + 1 : p + n;
    }
    return 0;
}

static bool check_one(const char *s, size_t n, void *ctx)
{
    (void)ctx;
    return line_valid(s, n);
}

bool rx_webhook_headers_valid(const char *lines, int *bad_line)
{
    int bad = walk(lines, check_one, NULL);
    if (bad_line)
        *bad_line = bad;
    return bad == 0;
}

struct each_ctx {
    void (*fn)(const char *, size_t, void *);
    void *ctx;
};

static bool call_one(const char *s, size_t n, void *ctx)
{
    struct each_ctx *e = ctx;
    e->fn(s, n, e->ctx);
    return true;
}

void rx_webhook_headers_each(const char *lines,
                             void (*fn)(const char *line, size_t len,
                                        void *ctx),
                             void *ctx)
{
    struct each_ctx e = {fn, ctx};
    (void)walk(lines, call_one, &e);
}

enum rx_sink_verdict rx_webhook_classify(enum rx_sink_net net, long status,
                                         const char *body, size_t len)
{
    (void)body;
    (void)len;
    /* A SOAR tool's gateway may time a request out with 408: try again. */
    if (net == RX_NET_OK && status == 408)
        return RX_VERDICT_RETRY;
    return rx_sink_classify_http(net, status);
}
