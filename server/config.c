#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xalloc.h"

/*
 * Every setting is one row of this table: its flag (without "--"), its
 * environment variable, how its text is read, and where it is stored.
 * The same row serves flags and environment, so the two cannot drift.
 */
enum setting_kind {
    K_LISTEN,
    K_UINT,     /* unsigned, range checked */
    K_SIZE,     /* size_t, range checked */
    K_INT,      /* int, range checked */
    K_MINSCORE, /* "threshold" (-1) or 1..3 */
    K_DOUBLE,   /* > 0 */
    K_STR,      /* owned string; empty means unset */
    K_BOOL,
    K_TOKENS,
    K_LEVEL,
    K_THRESHOLD, /* applied after the rules file */
    K_DRAIN,     /* int seconds, copied to the dispatcher too */
};

struct setting {
    const char *flag;
    const char *env;
    enum setting_kind kind;
    size_t offset;
    unsigned long long min, max;
    const char *def; /* default, for --help */
    const char *help;
};

#define OFF(field) offsetof(struct rx_config, field)

static const struct setting settings[] = {
    {"listen", "REPOEXFIL_LISTEN", K_LISTEN, OFF(listen), 0, 0, "0.0.0.0:8080",
     "address:port to listen on (port 0: any free port)"},
    {"workers", "REPOEXFIL_WORKERS", K_UINT, OFF(workers), 1,
     RX_CONFIG_MAX_WORKERS, "number of CPUs", "worker threads"},
    {"queue-depth", "REPOEXFIL_QUEUE_DEPTH", K_SIZE, OFF(queue_depth), 1,
     100000, "64", "batches waiting for a worker before 503"},
    {"threshold", "REPOEXFIL_THRESHOLD", K_THRESHOLD, 0, 1, 3, "2",
     "alert when score >= threshold"},
    {"rules", "REPOEXFIL_RULES", K_STR, OFF(rules_path), 0, 0, "built-in",
     "JSON rules file"},
    {"max-body-bytes", "REPOEXFIL_MAX_BODY_BYTES", K_SIZE, OFF(max_body_bytes),
     1, 1ull << 30, "16777216", "largest request body, bytes"},
    {"max-events", "REPOEXFIL_MAX_EVENTS", K_SIZE, OFF(max_events), 1, 10000000,
     "100000", "most events per request"},
    {"api-tokens", "REPOEXFIL_API_TOKENS", K_TOKENS, 0, 0, 0, "none",
     "comma-separated bearer tokens"},
    {"hmac-secret", "REPOEXFIL_HMAC_SECRET", K_STR, OFF(hmac_secret), 0, 0,
     "none", "HMAC-SHA256 key for X-Signature-256"},
    {"allow-query-token", "REPOEXFIL_ALLOW_QUERY_TOKEN", K_BOOL,
     OFF(allow_query_token), 0, 0, "false", "accept ?token="},
    {"slack-webhook-url", "REPOEXFIL_SLACK_WEBHOOK_URL", K_STR,
     OFF(dispatch.slack_webhook_url), 0, 0, "none",
     "Slack incoming webhook URL"},
    {"slack-min-score", "REPOEXFIL_SLACK_MIN_SCORE", K_MINSCORE,
     OFF(dispatch.slack_min_score), 1, 3, "threshold",
     "least score sent to Slack"},
    {"pagerduty-routing-key", "REPOEXFIL_PAGERDUTY_ROUTING_KEY", K_STR,
     OFF(dispatch.pagerduty_routing_key), 0, 0, "none",
     "PagerDuty Events API v2 routing key"},
    {"pagerduty-url", "REPOEXFIL_PAGERDUTY_URL", K_STR,
     OFF(dispatch.pagerduty_url), 0, 0,
     "https://events.pagerduty.com/v2/enqueue", "PagerDuty enqueue URL"},
    {"pagerduty-min-score", "REPOEXFIL_PAGERDUTY_MIN_SCORE", K_MINSCORE,
     OFF(dispatch.pagerduty_min_score), 1, 3, "threshold",
     "least score sent to PagerDuty"},
    {"pagerduty-rate-per-minute", "REPOEXFIL_PAGERDUTY_RATE_PER_MINUTE",
     K_DOUBLE, OFF(dispatch.pagerduty_rate_per_minute), 0, 0, "120",
     "PagerDuty events per minute"},
    {"webhook-url", "REPOEXFIL_WEBHOOK_URL", K_STR, OFF(dispatch.webhook_url),
     0, 0, "none", "generic webhook URL"},
    {"webhook-min-score", "REPOEXFIL_WEBHOOK_MIN_SCORE", K_MINSCORE,
     OFF(dispatch.webhook_min_score), 1, 3, "threshold",
     "least score sent to the webhook"},
    {"webhook-headers", "REPOEXFIL_WEBHOOK_HEADERS", K_STR,
     OFF(dispatch.webhook_headers), 0, 0, "none",
     "\"Name: value\" lines added to webhook requests"},
    {"webhook-secret", "REPOEXFIL_WEBHOOK_SECRET", K_STR,
     OFF(dispatch.webhook_secret), 0, 0, "none",
     "HMAC key signing webhook bodies"},
    {"alert-queue", "REPOEXFIL_ALERT_QUEUE", K_SIZE, OFF(dispatch.alert_queue),
     1, 10000000, "10000", "alerts waiting for delivery"},
    {"suppress-seconds", "REPOEXFIL_SUPPRESS_SECONDS", K_INT,
     OFF(dispatch.suppress_seconds), 0, 86400 * 7, "600",
     "dedup window, seconds (0: off)"},
    {"drain-seconds", "REPOEXFIL_DRAIN_SECONDS", K_DRAIN, OFF(drain_seconds), 1,
     3600, "20", "shutdown deadline, seconds"},
    {"log-level", "REPOEXFIL_LOG_LEVEL", K_LEVEL, OFF(log_level), 0, 0, "info",
     "debug, info, warn or error"},
    {"max-connections", "REPOEXFIL_MAX_CONNECTIONS", K_UINT,
     OFF(max_connections), 1, 60000, "512", "open HTTP connections"},
    {"connection-timeout", "REPOEXFIL_CONNECTION_TIMEOUT", K_UINT,
     OFF(connection_timeout), 1, 3600, "30",
     "idle seconds before a connection is closed"},
    {"connection-memory", "REPOEXFIL_CONNECTION_MEMORY", K_SIZE,
     OFF(connection_memory), 16384, 16u << 20, "32768",
     "bytes per connection for headers and reads"},
    {"job-timeout", "REPOEXFIL_JOB_TIMEOUT", K_UINT, OFF(job_timeout), 1, 3600,
     "60", "seconds a batch may wait and run before 503"},
    {"inline-max-bytes", "REPOEXFIL_INLINE_MAX_BYTES", K_SIZE,
     OFF(inline_max_bytes), 0, 1u << 20, "16384",
     "bodies up to this size are scored on the HTTP thread (0: never)"},
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

void rx_config_init(struct rx_config *c)
{
    memset(c, 0, sizeof(*c));
    struct rx_error_detail d;
    int rc = rx_config_parse_listen("0.0.0.0:8080", &c->listen_addr,
                                    &c->listen_addr_len, &d);
    (void)rc; /* a constant that always parses */
    snprintf(c->listen, sizeof(c->listen), "0.0.0.0:8080");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    if (cpus > RX_CONFIG_MAX_WORKERS)
        cpus = RX_CONFIG_MAX_WORKERS;
    c->workers = (unsigned)cpus;
    c->queue_depth = 64;
    c->threshold = 2;
    c->max_body_bytes = 16777216;
    c->max_events = 100000;
    c->drain_seconds = 20;
    c->log_level = RX_LOG_INFO;
    c->max_connections = 512;
    c->connection_timeout = 30;
    c->connection_memory = 32768;
    c->inline_max_bytes = 16384;
    c->job_timeout = 60;
    rx_dispatch_config_init(&c->dispatch);
    c->dispatch.drain_seconds = c->drain_seconds;
    if (rx_rules_init_defaults(&c->rules) != 0)
        abort(); /* the defaults always compile */
}

static void free_tokens(struct rx_config *c)
{
    for (size_t i = 0; i < c->api_token_count; i++) {
        /* Wipe secrets before giving the memory back. */
        memset(c->api_tokens[i], 0, strlen(c->api_tokens[i]));
        free(c->api_tokens[i]);
    }
    free(c->api_tokens);
    c->api_tokens = NULL;
    c->api_token_count = 0;
}

void rx_config_cleanup(struct rx_config *c)
{
    free(c->rules_path);
    free_tokens(c);
    if (c->hmac_secret) {
        memset(c->hmac_secret, 0, strlen(c->hmac_secret));
        free(c->hmac_secret);
    }
    rx_dispatch_config_cleanup(&c->dispatch);
    rx_rules_cleanup(&c->rules);
    memset(c, 0, sizeof(*c));
}

int rx_config_parse_listen(const char *text, struct sockaddr_storage *out,
                           socklen_t *len, struct rx_error_detail *detail)
{
    char host[128];
    const char *port;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end || end[1] != ':' || (size_t)(end - text - 1) >= sizeof(host))
            return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                                "expected [address]:port, got \"%.64s\"", text);
        memcpy(host, text + 1, (size_t)(end - text - 1));
        host[end - text - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof(host))
            return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                                "expected address:port, got \"%.64s\"", text);
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port = colon + 1;
    }
    char *end;
    errno = 0;
    unsigned long p = strtoul(port, &end, 10);
    if (!isdigit((unsigned char)port[0]) || *end || errno || p > 65535)
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                            "port must be 0..65535, got \"%.32s\"", port);
    memset(out, 0, sizeof(*out));
    if (host[0] == '\0' || strcmp(host, "*") == 0)
        snprintf(host, sizeof(host), "0.0.0.0");
    else if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        *len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        *len = sizeof(*v6);
    } else {
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                            "\"%.64s\" is not an IP address", host);
    }
    return 0;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool parse_ull(const char *s, unsigned long long *out)
{
    if (!isdigit((unsigned char)s[0]))
        return false;
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0';
}

/* A token is printable ASCII without spaces or commas: what fits in an
 * Authorization header and a comma-separated list. */
static int set_tokens(struct rx_config *c, const char *text,
                      struct rx_error_detail *d, const char *name)
{
    free_tokens(c);
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t n = (size_t)(end - start);
        if (n == 0)
            continue;
        if (n > RX_CONFIG_MAX_TOKEN_LEN)
            return rx_error_set(d, RX_EBADCONFIG, 0, 0,
                                "%s: a token is longer than %d bytes", name,
                                RX_CONFIG_MAX_TOKEN_LEN);
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)start[i];
            if (ch <= 0x20 || ch >= 0x7f)
                return rx_error_set(d, RX_EBADCONFIG, 0, 0,
                                    "%s: token %zu has a space or a "
                                    "non-printable character",
                                    name, c->api_token_count + 1);
        }
        if (c->api_token_count == RX_CONFIG_MAX_TOKENS)
            return rx_error_set(d, RX_EBADCONFIG, 0, 0,
                                "%s: more than %d tokens", name,
                                RX_CONFIG_MAX_TOKENS);
        c->api_tokens = rx_xrealloc(c->api_tokens,
                                    (c->api_token_count + 1) * sizeof(char *));
        c->api_tokens[c->api_token_count++] = rx_xstrndup(start, n);
    }
    return 0;
}

/* What the threshold setting said, kept until the rules file is loaded. */
struct pending {
    bool threshold_set;
    long threshold;
    const char *threshold_name;
};

static int apply(struct rx_config *c, const struct setting *s, const char *name,
                 const char *v, struct pending *pend, struct rx_error_detail *d)
{
    char *base = (char *)c;
    void *field = base + s->offset;
    unsigned long long u;
    switch (s->kind) {
    case K_LISTEN:
        if (strlen(v) >= sizeof(c->listen))
            return rx_error_set(d, RX_EBADCONFIG, 0, 0, "%s: too long", name);
        if (rx_config_parse_listen(v, &c->listen_addr, &c->listen_addr_len,
                                   d) != 0) {
            char msg[sizeof(d->message)];
            snprintf(msg, sizeof(msg), "%s", d->message);
            return rx_error_set(d, RX_EBADCONFIG, 0, 0, "%s: %s", name, msg);
        }
        snprintf(c->listen, sizeof(c->listen), "%s", v);
        return 0;
    case K_UINT:
    case K_SIZE:
    case K_INT:
    case K_DRAIN:
        if (!parse_ull(v, &u) || u < s->min || u > s->max)
            return rx_error_set(d, RX_EBADCONFIG, 0, 0,
                                "%s: must be a whole number from %llu to "
                                "%llu, got \"%.64s\"",
                                name, s->min, s->max, v);
        if (s->kind == K_UINT)
            *(unsigned *)field = (unsigned)u;
        else if (s->kind == K_SIZE)
            *(size_t *)field = (size_t)u;
        else
            *(int *)field = (int)u;
        if (s->kind == K_DRAIN)
            c->dispatch.drain_seconds = (int)u;
        return 0;
    case K_MINSCORE:
        if (strcmp(v, "threshold") == 0) {
            *(int *)field = -1;
            return 0;
        }
        if (!parse_ull(v, &u) || u < 1 || u > 3)
            return rx_error_set(d, RX_EBADCONFIG, 0, 0,
                                "%s: must be 1, 2, 3 or \"threshold\", got "
                                "\"%.64s\"",
                                name, v);
        *(int *)field = (int)u;
        return 0;
    case K_DOUBLE: {
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        if (end == v || *end || errno || !(x > 0) || x > 1e6)
            return rx_error_set(d, RX_EBADCONFIG, 0, 0,
                                "%s: must be a number above 0, got "
                                "\"%.64s\"",
                                name, v);
        *(double *)field = x;
        return 0;
    }
    case K_STR: {
        char **sp = field;
        if (*sp) {
            memset(*sp, 0, strlen(*sp));
            free(*sp);
        }
        *sp = v[0] ? rx_xstrdup(v) : NULL;
        if (s->offset == OFF(dispatch.pagerduty_url) && !*sp)
            *sp = rx_xstrdup("https://events.pagerduty.com/v2/enqueue");
        return 0;
    }
    case K_BOOL:
        if (!parse_bool(v, (bool *)field))
            return rx_error_set(d, RX_EBADCONFIG, 0, 0,
                                "%s: must be true or false, got \"%.64s\"",
                                name, v);
        return 0;
    case K_TOKENS:
        return set_tokens(c, v, d, name);
    case K_LEVEL:
        if (!rx_log_parse_level(v, (enum rx_log_level *)field))
            return rx_error_set(d, RX_EBADCONFIG, 0, 0,
                                "%s: must be debug, info, warn or error, got "
                                "\"%.64s\"",
                                name, v);
        return 0;
    case K_THRESHOLD:
        if (!parse_ull(v, &u) || u < 1 || u > 3)
            return rx_error_set(d, RX_EBADCONFIG, 0, 0,
                                "%s: must be 1, 2 or 3, got \"%.64s\"", name,
                                v);
        pend->threshold_set = true;
        pend->threshold = (long)u;
        pend->threshold_name = name;
        return 0;
    }
    return 0;
}

static int load_rules(struct rx_config *c, struct rx_error_detail *d)
{
    FILE *f = fopen(c->rules_path, "rb");
    if (!f)
        return rx_error_set(d, RX_EIO, 0, 0, "--rules: cannot open %s: %s",
                            c->rules_path, strerror(errno));
    char *text = rx_xmalloc(RX_CONFIG_MAX_RULES_FILE + 1);
    size_t n = fread(text, 1, RX_CONFIG_MAX_RULES_FILE + 1, f);
    int err = ferror(f);
    fclose(f);
    int rc = 0;
    if (err)
        rc = rx_error_set(d, RX_EIO, 0, 0, "--rules: cannot read %s",
                          c->rules_path);
    else if (n > RX_CONFIG_MAX_RULES_FILE)
        rc = rx_error_set(d, RX_EBADRULES, 0, 0,
                          "--rules: %s is larger than %u bytes", c->rules_path,
                          RX_CONFIG_MAX_RULES_FILE);
    else
        rc = rx_rules_load(&c->rules, text, n, c->rules_path, d);
    free(text);
    return rc;
}

static const struct setting *find_flag(const char *name, size_t n)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (strlen(settings[i].flag) == n &&
            strncmp(settings[i].flag, name, n) == 0)
            return &settings[i];
    }
    return NULL;
}

int rx_config_parse(struct rx_config *c, int argc, char **argv,
                    struct rx_error_detail *d)
{
    struct pending pend = {0};
    int rc;
    /* Environment first, so that flags read afterwards win. */
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *v = getenv(settings[i].env);
        if (v &&
            (rc = apply(c, &settings[i], settings[i].env, v, &pend, d)) != 0)
            return rc;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return rx_error_set(d, RX_EBADCONFIG, 0, 0,
                                "unexpected argument \"%.64s\"", a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const struct setting *s = find_flag(name, n);
        if (!s)
            return rx_error_set(d, RX_EBADCONFIG, 0, 0, "unknown option --%.*s",
                                (int)(n > 64 ? 64 : n), name);
        char flag[80];
        snprintf(flag, sizeof(flag), "--%s", s->flag);
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (s->kind == K_BOOL) {
            bool b;
            if (i + 1 < argc && parse_bool(argv[i + 1], &b))
                v = argv[++i];
            else
                v = "true";
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            return rx_error_set(d, RX_EBADCONFIG, 0, 0, "%s needs a value",
                                flag);
        }
        /* apply() keeps the name only for messages made during the call,
         * except the threshold's, which must outlive it. */
        const char *keep = s->kind == K_THRESHOLD ? s->flag : flag;
        if ((rc = apply(c, s, keep, v, &pend, d)) != 0)
            return rc;
    }
    if (c->rules_path && (rc = load_rules(c, d)) != 0)
        return rc;
    if (pend.threshold_set &&
        (rc = rx_rules_set_threshold(&c->rules, pend.threshold, d)) != 0) {
        char msg[sizeof(d->message)];
        snprintf(msg, sizeof(msg), "%s", d->message);
        return rx_error_set(d, RX_EBADCONFIG, 0, 0, "threshold (%s): %s",
                            pend.threshold_name, msg);
    }
    c->threshold = c->rules.threshold;
    if (c->hmac_secret && strlen(c->hmac_secret) > 4096)
        return rx_error_set(d, RX_EBADCONFIG, 0, 0,
                            "--hmac-secret: longer than 4096 bytes");
    if (c->allow_query_token && c->api_token_count == 0)
        return rx_error_set(d, RX_EBADCONFIG, 0, 0,
                            "--allow-query-token needs --api-tokens");
    if ((rc = rx_dispatch_config_validate(&c->dispatch, c->threshold, d)) != 0)
        return rc;
    return 0;
}

json_t *rx_config_to_json(const struct rx_config *c)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    const struct rx_dispatch_config *dc = &c->dispatch;
#define SECRET(p) ((p) ? json_string("set") : json_null())
    json_t *o = json_pack(
        "{s:s, s:I, s:I, s:i, s:o, s:I, s:I, s:I, s:o, s:b, s:i, s:s, s:I, "
        "s:I, s:I, s:I, s:I}",
        "listen", c->listen, "workers", (json_int_t)c->workers, "queue_depth",
        (json_int_t)c->queue_depth, "threshold", c->threshold, "rules",
        c->rules_path ? json_string(c->rules_path) : json_null(),
        "max_body_bytes", (json_int_t)c->max_body_bytes, "max_events",
        (json_int_t)c->max_events, "api_tokens", (json_int_t)c->api_token_count,
        "hmac_secret", SECRET(c->hmac_secret), "allow_query_token",
        c->allow_query_token, "drain_seconds", c->drain_seconds, "log_level",
        levels[c->log_level], "max_connections", (json_int_t)c->max_connections,
        "connection_timeout", (json_int_t)c->connection_timeout,
        "connection_memory", (json_int_t)c->connection_memory, "job_timeout",
        (json_int_t)c->job_timeout, "inline_max_bytes",
        (json_int_t)c->inline_max_bytes);
    json_t *sinks = json_pack(
        "{s:o, s:i, s:o, s:o, s:i, s:f, s:o, s:i, s:o, s:o, s:I, s:i}",
        "slack_webhook_url", SECRET(dc->slack_webhook_url), "slack_min_score",
        dc->slack_min_score, "pagerduty_routing_key",
        SECRET(dc->pagerduty_routing_key), "pagerduty_url",
        SECRET(dc->pagerduty_url), "pagerduty_min_score",
        dc->pagerduty_min_score, "pagerduty_rate_per_minute",
        dc->pagerduty_rate_per_minute, "webhook_url", SECRET(dc->webhook_url),
        "webhook_min_score", dc->webhook_min_score, "webhook_headers",
        SECRET(dc->webhook_headers), "webhook_secret",
        SECRET(dc->webhook_secret), "alert_queue", (json_int_t)dc->alert_queue,
        "suppress_seconds", dc->suppress_seconds);
#undef SECRET
    if (o && sinks)
        json_object_set_new(o, "alerts", sinks);
    else
        json_decref(sinks);
    if (o)
        json_object_set_new(o, "effective_rules", rx_rules_to_json(&c->rules));
    return o;
}

void rx_config_print_help(FILE *out)
{
    fprintf(out, "Settings (flag, environment variable, default):\n");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const struct setting *s = &settings[i];
        fprintf(out, "  --%-27s %-36s %s\n      %s\n", s->flag, s->env, s->def,
                s->help);
    }
}
