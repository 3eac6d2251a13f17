#include "fastjson.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "buf.h"
#include "timeparse.h"
#include "xalloc.h"

/* The flat keys of SPEC section 2's field table. */
#define KEY_MAP(X)                                                           \
    X(EVENTID, "EventID")                                                    \
    X(EVENT_ID, "event_id")                                                  \
    X(EVENTCODE, "EventCode")                                                \
    X(COMPUTER, "Computer")                                                  \
    X(HOSTNAME, "Hostname")                                                  \
    X(USER, "User")                                                          \
    X(IMAGE, "Image")                                                        \
    X(CMD, "CommandLine")                                                    \
    X(PIMAGE, "ParentImage")                                                 \
    X(DEST, "DestinationHostname")                                           \
    X(SOURCENAME, "SourceName")                                              \
    X(PROVIDERNAME, "ProviderName")                                          \
    X(PROVIDER, "Provider")                                                  \
    X(CHANNEL, "Channel")                                                    \
    X(MSGTIME, "_messageTime")                                               \
    X(MSGTIME2, "_messagetime")                                              \
    X(TIMESTAMP, "@timestamp")                                               \
    X(UTCTIME, "UtcTime")

enum key {
#define KEY_ENUM(id, name) K_##id,
    KEY_MAP(KEY_ENUM)
#undef KEY_ENUM
        K_COUNT
};

static const char *const key_names[K_COUNT] = {
#define KEY_NAME(id, name) name,
    KEY_MAP(KEY_NAME)
#undef KEY_NAME
};
static const unsigned char key_lens[K_COUNT] = {
#define KEY_LEN(id, name) sizeof(name) - 1,
    KEY_MAP(KEY_LEN)
#undef KEY_LEN
};

/* Keys whose object value (or dotted sub-key) is a nested source, and the
 * wrappers and raw messages the full path unwraps. */
static const char *const nested_roots[] = {
    "winlog", "process", "user", "host", "destination", "event", "data",
    "_source", "all_fields", NULL};

enum vtype { V_ABSENT, V_STRING, V_INT, V_REAL, V_OTHER };

struct value {
    enum vtype type;
    const char *s; /* V_STRING: the unescaped text (borrowed) */
    size_t n;
    long long i;
    double d;
};

struct rx_fastjson {
    struct value val[K_COUNT];
    struct rx_buf unesc[K_COUNT]; /* unescaped strings that had escapes */
    struct rx_buf skip;           /* scratch for strings to inspect */
    char num[RX_F_COUNT][32];
};

struct rx_fastjson *rx_fastjson_new(void)
{
    struct rx_fastjson *f = rx_xcalloc(1, sizeof(*f));
    for (int k = 0; k < K_COUNT; k++)
        rx_buf_init(&f->unesc[k], 0);
    rx_buf_init(&f->skip, 0);
    return f;
}

void rx_fastjson_free(struct rx_fastjson *f)
{
    if (f == NULL)
        return;
    for (int k = 0; k < K_COUNT; k++)
        rx_buf_cleanup(&f->unesc[k]);
    rx_buf_cleanup(&f->skip);
    free(f);
}

struct cursor {
    const unsigned char *p, *end;
    bool one_line; /* a newline ends the text: it is no white space here */
};

static inline void ws(struct cursor *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' ||
            (*c->p == '\n' && !c->one_line)))
        c->p++;
}

static int hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Skips plain bytes (printable ASCII other than '"' and '\\'), 16 at a
 * time where SSE2 is there (every x86-64): most of an event's bytes are
 * in strings the rule never reads. Returns the first special byte. */
static inline const unsigned char *skip_plain(const unsigned char *p,
                                              const unsigned char *end)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* Signed compare: bytes >= 0x80 are negative, so "< 0x20" catches
         * both control characters and non-ASCII. */
        __m128i special = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
            _mm_cmplt_epi8(v, space));
        int mask = _mm_movemask_epi8(special);
        if (mask)
            return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80)
        p++;
    return p;
}

/* Reads a string at c->p (on its opening quote). Sets *s and *n to the text:
 * a slice of the input when it has no escapes, else the unescaped copy in
 * out (when out is NULL, escapes are only validated). Returns false on
 * anything jansson would reject. */
static bool read_string(struct cursor *c, struct rx_buf *out, const char **s,
                        size_t *n)
{
    const unsigned char *p = ++c->p, *end = c->end;
    const unsigned char *start = p;
    /* The common case: plain printable ASCII up to the closing quote. */
    p = skip_plain(p, end);
    if (p < end && *p == '"') {
        *s = (const char *)start;
        *n = (size_t)(p - start);
        c->p = p + 1;
        return true;
    }
    if (out)
        rx_buf_reset(out);
    bool escaped = false;
    const unsigned char *run = start;
    while (p < end) {
        p = skip_plain(p, end);
        if (p >= end)
            break;
        unsigned char ch = *p;
        if (ch == '"')
            break;
        if (ch < 0x20)
            return false;
        if (ch >= 0x80) {
            size_t len = rx_utf8_len(p, (size_t)(end - p));
            if (len == 0)
                return false;
            p += len;
            continue;
        }
        if (ch != '\\') {
            p++;
            continue;
        }
        escaped = true;
        if (out && rx_buf_append(out, run, (size_t)(p - run)))
            return false;
        if (end - p < 2)
            return false;
        char e = (char)p[1];
        char one = 0;
        switch (e) {
        case '"': one = '"'; break;
        case '\\': one = '\\'; break;
        case '/': one = '/'; break;
        case 'b': one = '\b'; break;
        case 'f': one = '\f'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 't': one = '\t'; break;
        case 'u': break;
        default: return false;
        }
        if (e != 'u') {
            if (out && rx_buf_append(out, &one, 1))
                return false;
            p += 2;
            run = p;
            continue;
        }
        if (end - p < 6)
            return false;
        int cp = hex4(p + 2);
        if (cp < 0)
            return false;
        p += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
                return false;
            int lo = hex4(p + 2);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
        } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
            return false; /* lone low surrogate; \u0000 (no JSON_ALLOW_NUL) */
        }
        char u[4];
        size_t ulen;
        if (cp < 0x80) {
            u[0] = (char)cp;
            ulen = 1;
        } else if (cp < 0x800) {
            u[0] = (char)(0xC0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 0x3F));
            ulen = 2;
        } else if (cp < 0x10000) {
            u[0] = (char)(0xE0 | (cp >> 12));
            u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[2] = (char)(0x80 | (cp & 0x3F));
            ulen = 3;
        } else {
            u[0] = (char)(0xF0 | (cp >> 18));
            u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
            u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[3] = (char)(0x80 | (cp & 0x3F));
            ulen = 4;
        }
        if (out && rx_buf_append(out, u, ulen))
            return false;
        run = p;
    }
    if (p >= end)
        return false;
    if (out == NULL || !escaped) {
        *s = (const char *)start;
        *n = (size_t)(p - start);
    } else {
        if (rx_buf_append(out, run, (size_t)(p - run)))
            return false;
        *s = out->data ? out->data : "";
        *n = out->len;
    }
    c->p = p + 1;
    return true;
}

/* A number, in JSON's strict grammar as jansson lexes it. Integers that
 * overflow long long and reals that overflow a double are errors there,
 * so they make this reader decline too. */
static bool read_number(struct cursor *c, struct value *v)
{
    const unsigned char *s = c->p, *p = s, *end = c->end;
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        return false;
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9')
            return false;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return false;
    }
    bool real = false;
    if (p < end && *p == '.') {
        real = true;
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return false;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = true;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return false;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    size_t len = (size_t)(p - s);
    char tmp[64];
    if (len >= sizeof(tmp))
        return false; /* rare; let jansson decide */
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (real) {
        double d = strtod(tmp, NULL);
        if (isinf(d))
            return false;
        v->type = V_REAL;
        v->d = d;
    } else {
        /* jansson reads integers with strtoll and calls ERANGE an error;
         * the same test here, so INT64_MIN (common in NXLog Keywords)
         * stays on the fast path and only a real overflow declines. */
        errno = 0;
        long long i = strtoll(tmp, NULL, 10);
        if (errno == ERANGE)
            return false;
        v->type = V_INT;
        v->i = i;
    }
    c->p = p;
    return true;
}

static bool literal(struct cursor *c, const char *word, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return false;
    c->p += n;
    return true;
}

static bool skip_value(struct rx_fastjson *f, struct cursor *c, int depth);

/* Skips an object or array (on its opening bracket), validating it. */
static bool skip_container(struct rx_fastjson *f, struct cursor *c, int depth)
{
    if (depth > 64)
        return false; /* deep nesting: jansson's limits decide */
    bool object = *c->p == '{';
    unsigned char close = object ? '}' : ']';
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return true;
    }
    for (;;) {
        if (object) {
            const char *s;
            size_t n;
            if (c->p >= c->end || *c->p != '"' ||
                !read_string(c, NULL, &s, &n))
                return false;
            if (memchr(s, '\0', n))
                return false;
            ws(c);
            if (c->p >= c->end || *c->p != ':')
                return false;
            c->p++;
            ws(c);
        }
        if (!skip_value(f, c, depth + 1))
            return false;
        ws(c);
        if (c->p >= c->end)
            return false;
        if (*c->p == ',') {
            c->p++;
            ws(c);
            continue;
        }
        if (*c->p == close) {
            c->p++;
            return true;
        }
        return false;
    }
}

static bool skip_value(struct rx_fastjson *f, struct cursor *c, int depth)
{
    if (c->p >= c->end)
        return false;
    struct value v;
    const char *s;
    size_t n;
    switch (*c->p) {
    case '"':
        return read_string(c, NULL, &s, &n);
    case '{':
    case '[':
        return skip_container(f, c, depth);
    case 't':
        return literal(c, "true", 4);
    case 'f':
        return literal(c, "false", 5);
    case 'n':
        return literal(c, "null", 4);
    default:
        return read_number(c, &v);
    }
}

static int key_index(const char *s, size_t n)
{
    for (int k = 0; k < K_COUNT; k++)
        if (key_lens[k] == n && key_names[k][0] == s[0] &&
            memcmp(key_names[k], s, n) == 0)
            return k;
    return -1;
}

/* Is this key, or its dotted head, a nested source or wrapper? */
static bool is_nested_root(const char *s, size_t n)
{
    if (n < 4 || !memchr("wpuhede_a", s[0], 9))
        return false; /* no root starts with this letter or is this short */
    for (int i = 0; nested_roots[i]; i++) {
        size_t r = strlen(nested_roots[i]);
        if (n >= r && memcmp(s, nested_roots[i], r) == 0 &&
            (n == r || s[r] == '.'))
            return true;
    }
    return false;
}

static bool starts_with_event_tag(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        n--;
    }
    return n >= 6 && memcmp(s, "<Event", 6) == 0;
}

/* The same conversions as the full path's as_text. */
static struct rx_str text_of(const struct value *v, char num[32])
{
    struct rx_str s = {NULL, 0};
    if (v->type == V_STRING && v->n) {
        s.p = v->s;
        s.n = v->n;
    } else if (v->type == V_INT) {
        s.n = (size_t)snprintf(num, 32, "%lld", v->i);
        s.p = num;
    } else if (v->type == V_REAL) {
        s.n = (size_t)snprintf(num, 32, "%.17g", v->d);
        s.p = num;
    }
    return s;
}

static struct rx_str first_of(struct rx_fastjson *f, char num[32],
                              const enum key *keys, int count)
{
    for (int i = 0; i < count; i++) {
        struct rx_str s = text_of(&f->val[keys[i]], num);
        if (s.n)
            return s;
    }
    struct rx_str none = {NULL, 0};
    return none;
}

static long digits_id(const char *p, size_t n)
{
    long id = 0;
    for (size_t k = 0; k < n; k++) {
        if (p[k] < '0' || p[k] > '9' || id > 0x7FFFFFF)
            return -1;
        id = id * 10 + (p[k] - '0');
    }
    return id;
}

static void resolve(struct rx_fastjson *f, struct rx_event_view *v)
{
    rx_event_view_clear(v);
    static const enum key id_keys[] = {K_EVENTID, K_EVENT_ID, K_EVENTCODE};
    for (int i = 0; i < 3; i++) {
        const struct value *x = &f->val[id_keys[i]];
        if (x->type == V_INT) {
            v->event_id = x->i >= 0 && x->i <= 0x7FFFFFFF ? (long)x->i : -1;
            break;
        }
        if (x->type == V_REAL) {
            double d = x->d;
            v->event_id =
                d >= 0 && d <= 0x7FFFFFFF && d == (double)(long)d ? (long)d
                                                                   : -1;
            break;
        }
        if (x->type == V_STRING && x->n) {
            v->event_id = digits_id(x->s, x->n);
            break;
        }
    }

    /* _messageTime / _messagetime: ms; @timestamp / UtcTime: ISO. */
    static const enum key ms_keys[] = {K_MSGTIME, K_MSGTIME2};
    for (int i = 0; i < 2 && !v->has_time; i++) {
        const struct value *x = &f->val[ms_keys[i]];
        if (x->type == V_INT) {
            v->time_ms = x->i;
            v->has_time = true;
        } else if (x->type == V_REAL && x->d > -9.2e18 && x->d < 9.2e18) {
            v->time_ms = (int64_t)x->d;
            v->has_time = true;
        } else if (x->type == V_STRING) {
            v->has_time = rx_time_parse_int(x->s, x->n, &v->time_ms);
        }
    }
    static const enum key iso_keys[] = {K_TIMESTAMP, K_UTCTIME};
    for (int i = 0; i < 2 && !v->has_time; i++) {
        const struct value *x = &f->val[iso_keys[i]];
        if (x->type == V_STRING)
            v->has_time = rx_time_parse_iso(x->s, x->n, &v->time_ms);
        else if (x->type == V_INT) { /* as the full path: epoch ms */
            v->time_ms = x->i;
            v->has_time = true;
        }
    }

    static const enum key computer[] = {K_COMPUTER, K_HOSTNAME};
    static const enum key user[] = {K_USER};
    static const enum key image[] = {K_IMAGE};
    static const enum key cmd[] = {K_CMD};
    static const enum key pimage[] = {K_PIMAGE};
    static const enum key dest[] = {K_DEST};
    static const enum key provider[] = {K_SOURCENAME, K_PROVIDERNAME,
                                        K_PROVIDER, K_CHANNEL};
    v->f[RX_F_COMPUTER] = first_of(f, f->num[RX_F_COMPUTER], computer, 2);
    v->f[RX_F_USER] = first_of(f, f->num[RX_F_USER], user, 1);
    v->f[RX_F_IMAGE] = first_of(f, f->num[RX_F_IMAGE], image, 1);
    v->f[RX_F_COMMAND_LINE] = first_of(f, f->num[RX_F_COMMAND_LINE], cmd, 1);
    v->f[RX_F_PARENT_IMAGE] = first_of(f, f->num[RX_F_PARENT_IMAGE], pimage,
                                       1);
    v->f[RX_F_DEST_HOST] = first_of(f, f->num[RX_F_DEST_HOST], dest, 1);
    v->f[RX_F_PROVIDER] = first_of(f, f->num[RX_F_PROVIDER], provider, 4);
}

/* Reads one object at cur->p; on success cur->p is just past it. */
static bool read_event(struct rx_fastjson *f, struct cursor *cur)
{
    struct cursor c = *cur;
    for (int k = 0; k < K_COUNT; k++)
        f->val[k].type = V_ABSENT;
    ws(&c);
    if (c.p >= c.end || *c.p != '{')
        return false;
    c.p++;
    ws(&c);
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            const char *key;
            size_t klen;
            if (c.p >= c.end || *c.p != '"' ||
                !read_string(&c, &f->skip, &key, &klen))
                return false;
            if (memchr(key, '\0', klen))
                return false;
            int k = key_index(key, klen);
            bool nested = k < 0 && is_nested_root(key, klen);
            bool raw = k < 0 && !nested &&
                       ((klen == 4 && memcmp(key, "_raw", 4) == 0) ||
                        (klen == 7 && memcmp(key, "message", 7) == 0));
            bool is_message = raw && klen == 7;
            ws(&c);
            if (c.p >= c.end || *c.p != ':')
                return false;
            c.p++;
            ws(&c);
            if (c.p >= c.end)
                return false;
            /* An object under a nested root, or a dotted key that may name
             * a nested source: the full path resolves those. A value that
             * is not an object under a bare root is ignored there too. */
            if (nested && (*c.p == '{' || memchr(key, '.', klen)))
                return false;
            if (raw && *c.p == '"') {
                const char *s;
                size_t sn;
                if (!read_string(&c, &f->skip, &s, &sn))
                    return false;
                if (!is_message || starts_with_event_tag(s, sn))
                    return false; /* a raw message to parse */
            } else if (k >= 0) {
                struct value *x = &f->val[k];
                unsigned char ch = *c.p;
                if (ch == '"') {
                    if (!read_string(&c, &f->unesc[k], &x->s, &x->n))
                        return false;
                    x->type = V_STRING;
                } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
                    if (!read_number(&c, x))
                        return false;
                } else {
                    if (!skip_value(f, &c, 1))
                        return false;
                    x->type = V_OTHER;
                }
            } else if (!skip_value(f, &c, 1)) {
                return false;
            }
            ws(&c);
            if (c.p >= c.end)
                return false;
            if (*c.p == ',') {
                c.p++;
                ws(&c);
                continue;
            }
            if (*c.p == '}') {
                c.p++;
                break;
            }
            return false;
        }
    }
    *cur = c;
    return true;
}

bool rx_fastjson_view(struct rx_fastjson *f, const char *text, size_t n,
                      struct rx_event_view *v)
{
    struct cursor c = {(const unsigned char *)text,
                       (const unsigned char *)text + n, false};
    ws(&c);
    if (!read_event(f, &c))
        return false;
    ws(&c);
    if (c.p != c.end)
        return false;
    resolve(f, v);
    return true;
}

bool rx_fastjson_line(struct rx_fastjson *f, const char *text, size_t n,
                      struct rx_event_view *v, size_t *line_len)
{
    struct cursor c = {(const unsigned char *)text,
                       (const unsigned char *)text + n, true};
    ws(&c);
    if (!read_event(f, &c))
        return false;
    ws(&c);
    if (c.p < c.end && *c.p != '\n')
        return false;
    *line_len = (size_t)(c.p - (const unsigned char *)text);
    resolve(f, v);
    return true;
}
