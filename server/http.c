#include "http.h"

#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "reply.h"
#include "route_alerts_test.h"
#include "route_events.h"
#include "route_health.h"
#include "route_metrics.h"
#include "route_openapi.h"
#include "route_rules.h"
#include "route_version.h"
#include "xalloc.h"

#define REQUEST_ID_MAX 128
/* Most bytes of a chunked body read and thrown away past max_body_bytes
 * before the connection is cut (see on_body). */
#define DISCARD_MAX (64u << 20)
/* An upload silent this long is not waited for when draining. */
#define STALLED_UPLOAD_MS 1000

struct rx_http {
    struct rx_app *app;
    struct MHD_Daemon *daemon;
    MHD_socket quiesced_fd; /* listen socket after quiesce, to close */
    unsigned port;
    /* For the drain: requests still reading their body, and when the
     * last body byte arrived (CLOCK_MONOTONIC ms). Written by the HTTP
     * thread, read by serve's main thread. */
    atomic_long uploading;
    atomic_llong last_body_ms;
    /* The HTTP thread's own scratch for bodies small enough to score
     * inline (inline_max_bytes): for a one-event post the hand-off to a
     * worker and back costs more than the scoring. */
    struct rx_worker inline_worker;
    atomic_bool inline_abort; /* never set: inline jobs are short */
    /* Request ids: xorshift128+ seeded once from getrandom. Ids need to
     * be unique, not secret; a system call per request was 5% of a
     * small request's cost. Used by the HTTP thread only. */
    uint64_t id_state[2];
};

enum state {
    ST_BODY,     /* reading the body */
    ST_TOOBIG,   /* body past the cap: reading and dropping the rest */
    ST_QUEUED,   /* suspended, owned by the pool until resumed */
    ST_DONE,     /* a worker filled the reply and resumed us */
    ST_ANSWERED, /* response queued */
};

enum method { M_GET, M_HEAD, M_POST, M_OTHER };

/* One request, from its first header call to the completion callback.
 * Owned by the HTTP thread, except between suspend and resume, when the
 * worker running its job owns it. */
struct request {
    struct rx_http *http;
    struct MHD_Connection *conn;
    enum state state;
    enum method method;
    enum rx_route route;
    struct timespec start;
    char request_id[REQUEST_ID_MAX + 1];
    char method_text[16];
    enum rx_content_type type;
    char *signature; /* owned copy of X-Signature-256 when it must be
                        verified, else NULL */
    bool notify;
    bool include_results;
    bool uploading;   /* counted in rx_http.uploading */
    size_t discarded; /* bytes dropped in ST_TOOBIG */
    size_t bytes_in;  /* body bytes received */
    struct rx_buf body;
    struct rx_reply reply;
    struct rx_events_stats stats;
    int64_t deadline_ms;
};

static const struct {
    const char *path;
    enum rx_route route;
} routes[] = {
    {"/events", RX_ROUTE_EVENTS},        {"/healthz", RX_ROUTE_HEALTHZ},
    {"/readyz", RX_ROUTE_READYZ},        {"/metrics", RX_ROUTE_METRICS},
    {"/version", RX_ROUTE_VERSION},      {"/rules", RX_ROUTE_RULES},
    {"/openapi.yaml", RX_ROUTE_OPENAPI}, {"/alerts/test", RX_ROUTE_ALERTS_TEST},
};

static enum rx_route find_route(const char *url)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(url, routes[i].path) == 0)
            return routes[i].route;
    return RX_ROUTE_OTHER;
}

static bool request_id_sane(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= REQUEST_ID_MAX ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
              c == '-'))
            return false;
    }
    return n > 0;
}

static void seed_request_ids(struct rx_http *h)
{
    if (getrandom(h->id_state, sizeof(h->id_state), 0) !=
        (ssize_t)sizeof(h->id_state)) {
        /* getrandom on Linux >= 3.17 does not fail for 16 bytes once the
         * pool is initialized; fall back to the clock rather than abort. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        h->id_state[0] = (uint64_t)ts.tv_sec * 1000000007u + (uint64_t)ts.tv_nsec;
        h->id_state[1] = (uint64_t)getpid() << 32 | 0x9E3779B9u;
    }
    if (h->id_state[0] == 0 && h->id_state[1] == 0)
        h->id_state[1] = 1;
}

static uint64_t next_id_bits(struct rx_http *h)
{
    uint64_t s1 = h->id_state[0];
    const uint64_t s0 = h->id_state[1];
    h->id_state[0] = s0;
    s1 ^= s1 << 23;
    h->id_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return h->id_state[1] + s0;
}

static void new_request_id(struct rx_http *h, char out[REQUEST_ID_MAX + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int half = 0; half < 2; half++) {
        uint64_t r = next_id_bits(h);
        for (int i = 0; i < 16; i++)
            out[half * 16 + i] = hex[(r >> (60 - 4 * i)) & 15];
    }
    out[32] = '\0';
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) +
           (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static const char *header(struct request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

static const char *query(struct request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result send_reply(struct request *rq)
{
    struct rx_reply *r = &rq->reply;
    struct MHD_Response *resp;
    if (r->static_body) {
        resp = MHD_create_response_from_buffer(
            r->static_len, (void *)r->static_body, MHD_RESPMEM_PERSISTENT);
    } else {
        size_t len = 0;
        char *data = rx_buf_steal(&r->body, &len);
        resp =
            MHD_create_response_from_buffer_with_free_callback(len, data, free);
        if (!resp)
            free(data);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type);
    MHD_add_response_header(resp, "X-Request-ID", rq->request_id);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->retry_after > 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    if (r->www_authenticate)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                r->www_authenticate);
    if (r->close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret =
        MHD_queue_response(rq->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES)
        rq->state = ST_ANSWERED;
    return ret;
}

/* Answers at once with an error; the body (if any) is never read and MHD
 * closes the connection after the answer. */
static enum MHD_Result refuse(struct request *rq, int status, const char *code,
                              const char *message)
{
    rx_reply_error(&rq->reply, status, code, message, 0, 0);
    if (rq->method == M_POST)
        rq->reply.close = true;
    return send_reply(rq);
}

/* notify is true unless the query says false, 0, no or off. */
static bool query_is_false(struct request *rq, const char *name)
{
    const char *v = query(rq, name);
    return v && (!strcasecmp(v, "false") || !strcmp(v, "0") ||
                 !strcasecmp(v, "no") || !strcasecmp(v, "off"));
}

static enum MHD_Result unauthorized(struct request *rq)
{
    rx_reply_error(&rq->reply, 401, "unauthorized",
                   "missing or invalid credentials", 0, 0);
    rq->reply.www_authenticate = "Bearer realm=\"repoexfil\"";
    if (rq->method == M_POST)
        rq->reply.close = true;
    return send_reply(rq);
}

/* The decisions that need only the headers, made before any body byte is
 * read: route, method, draining, credentials, type, size, query. Returns
 * MHD_YES with rq->state still ST_BODY when the request goes on. */
static enum MHD_Result on_headers(struct request *rq)
{
    struct rx_app *app = rq->http->app;
    const struct rx_config *c = app->config;
    char msg[160];
    if (rq->route == RX_ROUTE_OTHER)
        return refuse(rq, 404, "not_found", "no such route");
    bool post =
        rq->route == RX_ROUTE_EVENTS || rq->route == RX_ROUTE_ALERTS_TEST;
    if (post ? rq->method != M_POST
             : rq->method != M_GET && rq->method != M_HEAD) {
        rq->reply.allow = post ? "POST" : "GET, HEAD";
        snprintf(msg, sizeof(msg), "%s is not allowed on %s (use %s)",
                 rq->method_text, rx_route_label(rq->route), rq->reply.allow);
        return refuse(rq, 405, "method_not_allowed", msg);
    }
    if (post && atomic_load(&app->state) != RX_APP_READY) {
        rx_reply_error(&rq->reply, 503, "draining",
                       "the service is not taking batches", 0, 0);
        rq->reply.retry_after = 1;
        rq->reply.close = true;
        return send_reply(rq);
    }
    /* Only the routes that take a body need credentials; health, metrics,
     * version, rules and the contract stay open (openapi.yaml). */
    if (post && rx_auth_required(c)) {
        bool token_ok = rx_auth_bearer_ok(c, header(rq, "Authorization"));
        if (!token_ok && c->allow_query_token)
            token_ok = rx_auth_token_ok(c, query(rq, "token"));
        const char *sig = c->hmac_secret ? header(rq, "X-Signature-256") : NULL;
        /* A signature that was sent must verify, even next to a good
         * token: it says the body is exactly what the sender signed. */
        if (sig)
            rq->signature = rx_xstrdup(sig);
        else if (!token_ok)
            return unauthorized(rq);
    }
    if (!post)
        return MHD_YES;

    const char *cl = header(rq, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == ERANGE || n > c->max_body_bytes) {
            snprintf(msg, sizeof(msg),
                     "the body is over the limit of %zu bytes",
                     c->max_body_bytes);
            return refuse(rq, 413, "body_too_large", msg);
        }
        /* Sized once from the declared length (already within the cap):
         * no reallocation and copying while a large batch arrives. */
        if (end != cl && *end == '\0' && n > 0 &&
            rx_buf_reserve(&rq->body, (size_t)n) != 0)
            return refuse(rq, 413, "body_too_large", "body too large");
    }
    if (rq->route != RX_ROUTE_EVENTS)
        return MHD_YES;
    const char *ct = header(rq, "Content-Type");
    rq->type = rx_ingest_content_type(ct);
    if (rq->type == RX_CT_UNSUPPORTED) {
        char q[96];
        snprintf(msg, sizeof(msg),
                 "unsupported content type %s; use application/json, "
                 "application/x-ndjson or application/xml",
                 rx_log_str(q, sizeof(q), ct));
        return refuse(rq, 415, "unsupported_media_type", msg);
    }
    /* Unknown values are read leniently (the contract declares no error
     * for them): only notify=false/0/no is a dry run, only view=alerts
     * drops the results. */
    rq->notify = !query_is_false(rq, "notify");
    const char *view = query(rq, "view");
    rq->include_results = !(view && strcmp(view, "alerts") == 0);
    return MHD_YES;
}

static struct request *new_request(struct rx_http *h,
                                   struct MHD_Connection *conn, const char *url,
                                   const char *method)
{
    struct request *rq = rx_xcalloc(1, sizeof(*rq));
    rq->http = h;
    rq->conn = conn;
    rq->state = ST_BODY;
    clock_gettime(CLOCK_MONOTONIC, &rq->start);
    rq->route = find_route(url);
    if (strcmp(method, "GET") == 0)
        rq->method = M_GET;
    else if (strcmp(method, "HEAD") == 0)
        rq->method = M_HEAD;
    else if (strcmp(method, "POST") == 0)
        rq->method = M_POST;
    else
        rq->method = M_OTHER;
    snprintf(rq->method_text, sizeof(rq->method_text), "%s", method);
    const char *id = header(rq, "X-Request-ID");
    if (id && request_id_sane(id))
        snprintf(rq->request_id, sizeof(rq->request_id), "%s", id);
    else
        new_request_id(h, rq->request_id);
    rq->notify = true;
    rq->include_results = true;
    /* Only POST /events keeps its body; others drop what they get. */
    rx_buf_init(&rq->body, h->app->config->max_body_bytes);
    rx_reply_init(&rq->reply, 0);
    return rq;
}

static void free_request(struct request *rq)
{
    rx_buf_cleanup(&rq->body);
    rx_reply_cleanup(&rq->reply);
    free(rq->signature);
    free(rq);
}

/* Body bytes. A body over the cap with a Content-Length was refused in
 * on_headers; here only a chunked body can overflow. MHD 0.9.75 cannot
 * queue an answer while it is still reading the body, so the rest is read
 * and dropped (never stored) and 413 is answered at its end; a client
 * that sends more than DISCARD_MAX past the cap is cut off instead, so
 * an endless chunked stream cannot hold the connection forever. */
static enum MHD_Result on_body(struct request *rq, const char *data,
                               size_t *size)
{
    size_t n = *size;
    *size = 0;
    rq->bytes_in += n;
    if (rq->route != RX_ROUTE_EVENTS && rq->route != RX_ROUTE_ALERTS_TEST)
        return MHD_YES; /* a GET body is ignored */
    if (rq->state == ST_BODY && rx_buf_append(&rq->body, data, n) != 0) {
        rq->state = ST_TOOBIG;
        rx_buf_cleanup(&rq->body);
        rx_buf_init(&rq->body, 1);
    }
    if (rq->state == ST_TOOBIG) {
        rq->discarded += n;
        if (rq->discarded > DISCARD_MAX) {
            rx_log(RX_LOG_WARN, "body far past max_body_bytes: closing",
                   "\"request_id\":\"%s\"", rq->request_id);
            rq->reply.status = 413;
            return MHD_NO;
        }
    }
    return MHD_YES;
}

/* Scores the batch of rq with w's scratch and fills rq->reply. */
static void run_events(struct request *rq, struct rx_worker *w)
{
    struct rx_events_request er = {
        .body = rq->body.data ? rq->body.data : "",
        .len = rq->body.len,
        .type = rq->type,
        .request_id = rq->request_id,
        .notify = rq->notify,
        .include_results = rq->include_results,
        .signature = rq->signature,
        .deadline_ms = rq->deadline_ms,
    };
    rx_route_events_handle(rq->http->app, w, &er, &rq->reply, &rq->stats);
    /* The body is no longer needed: give its memory back now rather than
     * when the answer has been sent. */
    rx_buf_cleanup(&rq->body);
    rx_buf_init(&rq->body, 1);
}

/* The whole body is in: answer a cheap route here, or queue the batch. */
static enum MHD_Result on_complete(struct request *rq)
{
    struct rx_app *app = rq->http->app;
    const struct rx_config *c = app->config;
    if (rq->state == ST_TOOBIG) {
        char msg[96];
        snprintf(msg, sizeof(msg), "the body is over the limit of %zu bytes",
                 c->max_body_bytes);
        return refuse(rq, 413, "body_too_large", msg);
    }
    switch (rq->route) {
    case RX_ROUTE_HEALTHZ:
        rx_route_health_live(&rq->reply);
        return send_reply(rq);
    case RX_ROUTE_READYZ:
        rx_route_health_ready(app, &rq->reply);
        return send_reply(rq);
    case RX_ROUTE_METRICS:
        rx_route_metrics_handle(app, &rq->reply);
        return send_reply(rq);
    case RX_ROUTE_VERSION:
        rx_route_version_handle(&rq->reply);
        return send_reply(rq);
    case RX_ROUTE_OPENAPI:
        rx_route_openapi_handle(&rq->reply);
        return send_reply(rq);
    case RX_ROUTE_RULES:
        rx_route_rules_handle(app, &rq->reply);
        return send_reply(rq);
    case RX_ROUTE_EVENTS:
    case RX_ROUTE_ALERTS_TEST:
        break;
    default:
        return refuse(rq, 404, "not_found", "no such route");
    }
    /* A small batch is scored right here: the answer is ready sooner and
     * cheaper than a worker round trip would make it. */
    if (rq->route == RX_ROUTE_EVENTS && rq->body.len <= c->inline_max_bytes) {
        rq->deadline_ms = rx_pool_now_ms() + (int64_t)c->job_timeout * 1000;
        run_events(rq, &rq->http->inline_worker);
        return send_reply(rq);
    }
    /* A request admitted before the drain began is still taken: the pool
     * accepts work until serve has waited for in-flight requests. */
    if (!rx_pool_reserve(app->pool)) {
        bool draining = atomic_load(&app->state) != RX_APP_READY;
        if (!draining)
            rx_metrics_queue_full(app->metrics);
        rx_reply_error(&rq->reply, 503, draining ? "draining" : "overloaded",
                       draining ? "the service is shutting down"
                                : "the work queue is full, retry later",
                       0, 0);
        rq->reply.retry_after = 1;
        return send_reply(rq);
    }
    /* Suspend first, then queue: once queued, a worker may finish and
     * resume the connection at any moment. */
    rq->deadline_ms = rx_pool_now_ms() + (int64_t)c->job_timeout * 1000;
    rq->state = ST_QUEUED;
    MHD_suspend_connection(rq->conn);
    rx_pool_push(app->pool, rq);
    return MHD_YES;
}

void rx_http_run_job(struct rx_worker *w, void *job)
{
    struct request *rq = job;
    if (rq->route == RX_ROUTE_ALERTS_TEST)
        rx_route_alerts_test_handle(rq->http->app, w, rq->signature,
                                    rq->body.data ? rq->body.data : "",
                                    rq->body.len, &rq->reply);
    else
        run_events(rq, w);
    rq->state = ST_DONE;
    struct MHD_Connection *conn = rq->conn;
    /* Last touch: after this the HTTP thread owns rq again. */
    MHD_resume_connection(conn);
}

/* The request has stopped reading its body (complete, or gone). */
static void upload_done(struct request *rq)
{
    if (rq->uploading) {
        rq->uploading = false;
        atomic_fetch_sub(&rq->http->uploading, 1);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct rx_http *h = cls;
    struct request *rq = *con_cls;
    if (!rq) {
        rq = new_request(h, conn, url, method);
        *con_cls = rq;
        rx_metrics_in_flight_add(h->app->metrics, 1);
        enum MHD_Result ret = on_headers(rq);
        if (ret == MHD_YES && rq->state == ST_BODY && rq->method == M_POST) {
            rq->uploading = true;
            atomic_fetch_add(&h->uploading, 1);
        }
        return ret;
    }
    if (rq->state == ST_DONE)
        return send_reply(rq);
    if (rq->state == ST_ANSWERED || rq->state == ST_QUEUED) {
        *upload_data_size = 0; /* nothing more to do for this request */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        atomic_store_explicit(&h->last_body_ms, rx_pool_now_ms(),
                              memory_order_relaxed);
        return on_body(rq, upload_data, upload_data_size);
    }
    upload_done(rq);
    return on_complete(rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    struct rx_http *h = cls;
    struct request *rq = *con_cls;
    if (!rq)
        return;
    *con_cls = NULL;
    upload_done(rq);
    double secs = seconds_since(&rq->start);
    int status = rq->state == ST_ANSWERED ? rq->reply.status : 0;
    rx_metrics_in_flight_add(h->app->metrics, -1);
    if (status)
        rx_metrics_request_done(h->app->metrics, rq->route, status, secs);
    char id[REQUEST_ID_MAX + 8], meth[40];
    rx_log_str(id, sizeof(id), rq->request_id);
    rx_log_str(meth, sizeof(meth), rq->method_text);
    const char *how =
        toe == MHD_REQUEST_TERMINATED_COMPLETED_OK      ? "ok"
        : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout"
        : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown"
        : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT    ? "client_abort"
                                                        : "error";
    enum rx_log_level level =
        status >= 500 || status == 0 ? RX_LOG_WARN : RX_LOG_INFO;
    if (rq->route == RX_ROUTE_EVENTS)
        rx_log(level, "request",
               "\"request_id\":%s,\"method\":%s,\"route\":\"%s\","
               "\"status\":%d,\"duration_ms\":%.3f,\"bytes_in\":%zu,"
               "\"received\":%zu,\"evaluated\":%zu,\"errors\":%zu,"
               "\"alerts\":%zu,\"alerts_dropped\":%zu,\"notify\":%s,"
               "\"end\":\"%s\"",
               id, meth, rx_route_label(rq->route), status, secs * 1e3,
               rq->bytes_in, rq->stats.received, rq->stats.evaluated,
               rq->stats.errors, rq->stats.alerts, rq->stats.dropped,
               rq->notify ? "true" : "false", how);
    else
        rx_log(level, "request",
               "\"request_id\":%s,\"method\":%s,\"route\":\"%s\","
               "\"status\":%d,\"duration_ms\":%.3f,\"end\":\"%s\"",
               id, meth, rx_route_label(rq->route), status, secs * 1e3, how);
    free_request(rq);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    char q[600];
    rx_log(RX_LOG_INFO, "libmicrohttpd", "\"detail\":%s",
           rx_log_str(q, sizeof(q), msg));
}

struct rx_http *rx_http_start(struct rx_app *app,
                              struct rx_error_detail *detail)
{
    const struct rx_config *c = app->config;
    struct rx_http *h = rx_xcalloc(1, sizeof(*h));
    h->app = app;
    atomic_init(&h->uploading, 0);
    atomic_init(&h->last_body_ms, 0);
    h->quiesced_fd = MHD_INVALID_SOCKET;
    seed_request_ids(h);
    atomic_init(&h->inline_abort, false);
    h->inline_worker.id = UINT32_MAX;
    h->inline_worker.ingest = rx_ingest_new();
    h->inline_worker.scratch = rx_rule_scratch_new();
    h->inline_worker.abort = &h->inline_abort;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (c->listen_addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger goes first, so that MHD reports even option errors
     * through it. */
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, h, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)&c->listen_addr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)c->max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)c->connection_memory, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)c->connection_timeout, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, h, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_END);
    if (!h->daemon) {
        rx_error_set(detail, RX_EIO, 0, 0,
                     "cannot listen on %s (address in use, or not a local "
                     "address?)",
                     c->listen);
        rx_ingest_free(h->inline_worker.ingest);
        rx_rule_scratch_free(h->inline_worker.scratch);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    return h;
}

unsigned rx_http_port(const struct rx_http *h)
{
    return h->port;
}

/* Most connections taken from the listen backlog when the drain begins. */
#define BACKLOG_TAKE_MAX 4096

void rx_http_quiesce(struct rx_http *h)
{
    if (h->quiesced_fd != MHD_INVALID_SOCKET)
        return;
    MHD_socket fd = MHD_quiesce_daemon(h->daemon);
    if (fd == MHD_INVALID_SOCKET)
        return;
    /* Connections whose handshake the kernel completed before the drain
     * but that the daemon had not accepted yet are still in the backlog:
     * closing the listen socket would reset them without an answer. Take
     * them and hand them to the daemon (a batch on them gets 503
     * draining), then close the listen socket so that later connections
     * are refused at once instead of waiting for the end of the drain. */
    for (int i = 0; i < BACKLOG_TAKE_MAX; i++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN))
            break;
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        int c = accept4(fd, (struct sockaddr *)&sa, &len,
                        SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        /* On failure MHD_add_connection closes the socket itself. */
        (void)MHD_add_connection(h->daemon, c, (struct sockaddr *)&sa, len);
    }
    close(fd);
}

long rx_http_wait_idle(struct rx_http *h, int64_t deadline_ms)
{
    long n;
    int64_t now;
    while ((n = rx_metrics_in_flight(h->app->metrics)) > 0 &&
           (now = rx_pool_now_ms()) < deadline_ms) {
        /* Uploads that have been silent for a second are not waited for:
         * libmicrohttpd 0.9.75 may not notice a client that sent part of
         * a body and closed until the idle timeout, and such a request
         * will never be answered anyway. */
        long up = atomic_load(&h->uploading);
        int64_t last =
            atomic_load_explicit(&h->last_body_ms, memory_order_relaxed);
        if (n <= up && now - last > STALLED_UPLOAD_MS)
            break;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    return n;
}

void rx_http_stop(struct rx_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    if (h->quiesced_fd != MHD_INVALID_SOCKET)
        close(h->quiesced_fd);
    rx_ingest_free(h->inline_worker.ingest);
    rx_rule_scratch_free(h->inline_worker.scratch);
    free(h);
}
