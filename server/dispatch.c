#include "dispatch.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hmac.h"
#include "log.h"
#include "sink.h"
#include "sink_pagerduty.h"
#include "sink_slack.h"
#include "sink_webhook.h"
#include "xalloc.h"

#define DEFAULT_PAGERDUTY_URL "https://events.pagerduty.com/v2/enqueue"

/* The log sink stands in when no real sink is configured, so alerts are
 * never silently lost. */
enum sink_id { SINK_SLACK, SINK_PAGERDUTY, SINK_WEBHOOK, SINK_LOG, SINK_COUNT };
static const char *const sink_names[SINK_COUNT] = {"slack", "pagerduty",
                                                   "webhook", "log"};

enum outcome {
    OUT_SENT,
    OUT_RETRIED,
    OUT_FAILED,
    OUT_DROPPED,
    OUT_SUPPRESSED,
    OUT_COUNT
};
static const char *const outcome_names[OUT_COUNT] = {
    "sent", "retried", "failed", "dropped", "suppressed"};

static const double latency_buckets[] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600};
#define NBUCKETS (sizeof(latency_buckets) / sizeof(latency_buckets[0]))

/* Slack takes one post at a time (it is paced anyway); PagerDuty and the
 * webhook may overlap a few to keep throughput when the receiver is slow. */
static const int max_inflight[SINK_COUNT] = {1, 8, 8, 0};

/* Suppression remembers at most this many keys per sink, so a flood of
 * distinct alerts cannot grow memory without bound; past it, alerts are
 * sent unsuppressed. */
#define SUPPRESS_MAX_KEYS 200000
#define SUPPRESS_BUCKETS 65536

/* Longest Retry-After honoured, seconds. */
#define MAX_RETRY_AFTER 3600

/* Bytes of an answer kept for classification (Slack's "ok"). */
#define RESP_KEEP 256

/* ---- configuration ---------------------------------------------------- */

void rx_dispatch_config_init(struct rx_dispatch_config *c)
{
    memset(c, 0, sizeof(*c));
    c->slack_min_score = -1;
    c->pagerduty_url = rx_xstrdup(DEFAULT_PAGERDUTY_URL);
    c->pagerduty_min_score = -1;
    c->pagerduty_rate_per_minute = 120;
    c->alert_queue = 10000;
    c->suppress_seconds = 600;
    c->drain_seconds = 20;
    c->connect_timeout_ms = 5000;
    c->request_timeout_ms = 10000;
    c->webhook_min_score = -1;
    c->retry_base_ms = 1000;
    c->retry_cap_ms = 60000;
    c->retry_total_ms = 600000;
    c->slack_interval_ms = 1000;
    c->slack_max_retries = 2;
    c->threshold = 2;
}

/* Secrets are wiped before they are freed so they do not linger in freed
 * heap memory. */
static void free_secret(char **p)
{
    if (*p) {
        memset(*p, 0, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

void rx_dispatch_config_cleanup(struct rx_dispatch_config *c)
{
    free_secret(&c->slack_webhook_url);
    free_secret(&c->pagerduty_routing_key);
    free_secret(&c->pagerduty_url);
    free_secret(&c->webhook_url);
    free_secret(&c->webhook_headers);
    free_secret(&c->webhook_secret);
}

/* An empty string from the environment means "not set". */
static void empty_to_null(char **p)
{
    if (*p && **p == '\0')
        free_secret(p);
}

/* Checks that url is an absolute http(s) URL with a host. The URL itself
 * never goes into the message: it may hold a secret. */
static int check_url(const char *url, const char *name,
                     struct rx_error_detail *detail)
{
    for (const char *p = url; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                                "%s: URL holds a space or control character",
                                name);
    }
    if (strncasecmp(url, "http://", 7) != 0 &&
        strncasecmp(url, "https://", 8) != 0)
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                            "%s: must be an http or https URL", name);
    CURLU *u = curl_url();
    if (u == NULL)
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0, "%s: cannot parse URL",
                            name);
    char *host = NULL;
    int rc = 0;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host ||
        !*host)
        rc = rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                          "%s: not a valid URL with a host", name);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static int resolve_score(int *score, int threshold, const char *name,
                         struct rx_error_detail *detail)
{
    if (*score == -1) {
        *score = threshold < 1 ? 1 : threshold > 3 ? 3 : threshold;
        return 0;
    }
    if (*score < 1 || *score > 3)
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                            "%s: must be 1, 2, 3 or the threshold", name);
    return 0;
}

int rx_dispatch_config_validate(struct rx_dispatch_config *c, int threshold,
                                struct rx_error_detail *detail)
{
    int rc;
    empty_to_null(&c->slack_webhook_url);
    empty_to_null(&c->pagerduty_routing_key);
    empty_to_null(&c->pagerduty_url);
    empty_to_null(&c->webhook_url);
    empty_to_null(&c->webhook_headers);
    empty_to_null(&c->webhook_secret);
    if (c->pagerduty_url == NULL)
        c->pagerduty_url = rx_xstrdup(DEFAULT_PAGERDUTY_URL);
    c->threshold = threshold;

    if (c->slack_webhook_url &&
        (rc = check_url(c->slack_webhook_url, "--slack-webhook-url", detail)) !=
            0)
        return rc;
    if ((rc = check_url(c->pagerduty_url, "--pagerduty-url", detail)) != 0)
        return rc;
    if (c->webhook_url &&
        (rc = check_url(c->webhook_url, "--webhook-url", detail)) != 0)
        return rc;
    if (c->pagerduty_routing_key) {
        size_t n = strlen(c->pagerduty_routing_key);
        if (n != RX_PAGERDUTY_KEY_LEN)
            return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                                "--pagerduty-routing-key: must be %d "
                                "characters, got %zu",
                                RX_PAGERDUTY_KEY_LEN, n);
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)c->pagerduty_routing_key[i];
            if (ch <= 0x20 || ch >= 0x7f)
                return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                                    "--pagerduty-routing-key: must be "
                                    "printable ASCII without spaces");
        }
    }
    int bad_line = 0;
    if (c->webhook_headers &&
        !rx_webhook_headers_valid(c->webhook_headers, &bad_line))
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                            "--webhook-headers: line %d is not \"Name: "
                            "value\"",
                            bad_line);
    if ((c->webhook_headers || c->webhook_secret) && !c->webhook_url)
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                            "--webhook-headers/--webhook-secret need "
                            "--webhook-url");
    if ((rc = resolve_score(&c->slack_min_score, threshold, "--slack-min-score",
                            detail)) != 0 ||
        (rc = resolve_score(&c->pagerduty_min_score, threshold,
                            "--pagerduty-min-score", detail)) != 0 ||
        (rc = resolve_score(&c->webhook_min_score, threshold,
                            "webhook min score", detail)) != 0)
        return rc;
    if (!(c->pagerduty_rate_per_minute > 0) ||
        !isfinite(c->pagerduty_rate_per_minute))
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                            "--pagerduty-rate-per-minute: must be above 0");
    if (c->alert_queue < 1 || c->alert_queue > 10000000)
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                            "--alert-queue: must be 1..10000000");
    if (c->suppress_seconds < 0)
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                            "--suppress-seconds: must be 0 or more");
    if (c->drain_seconds < 0)
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                            "--drain-seconds: must be 0 or more");
    if (c->connect_timeout_ms < 1 || c->request_timeout_ms < 1)
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                            "alert request timeouts: must be above 0");
    if (c->retry_base_ms < 1 || c->retry_cap_ms < c->retry_base_ms ||
        c->retry_total_ms < 0)
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                            "alert retry settings: base above 0, cap at "
                            "least base, total 0 or more");
    if (c->slack_interval_ms < 0 || c->slack_max_retries < 0)
        return rx_error_set(detail, RX_EBADCONFIG, 0, 0,
                            "slack pacing settings: must be 0 or more");
    return 0;
}

/* ---- clocks ----------------------------------------------------------- */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- suppression: dedup keys with the time they were first sent -------- */

struct sup_entry {
    char key[65];
    double at;               /* monotonic seconds */
    bool cancelled;          /* its alert was dropped, so never sent */
    struct sup_entry *hnext; /* hash chain */
    struct sup_entry *newer; /* insertion order = time order */
};

struct suppress {
    struct sup_entry **buckets; /* NULL when suppression is off */
    struct sup_entry *oldest, *newest;
    size_t count;
    bool full_logged;
};

static size_t sup_hash(const char *key)
{
    /* The key is already a SHA-256 in hex: its first hex digits are as
     * good a hash as any. */
    size_t h = 0;
    for (int i = 0; i < 8; i++)
        h = h * 16 + (size_t)(key[i] <= '9' ? key[i] - '0' : key[i] - 'a' + 10);
    return h % SUPPRESS_BUCKETS;
}

static void sup_unlink_oldest(struct suppress *s)
{
    struct sup_entry *e = s->oldest;
    struct sup_entry **pp = &s->buckets[sup_hash(e->key)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    s->oldest = e->newer;
    if (s->oldest == NULL)
        s->newest = NULL;
    s->count--;
    free(e);
}

static void sup_expire(struct suppress *s, double now, double window)
{
    while (s->oldest && s->oldest->at <= now - window)
        sup_unlink_oldest(s);
}

/* Returns true when key was sent within the window. */
static bool sup_seen(struct suppress *s, const char *key, double now,
                     double window)
{
    if (s->buckets == NULL)
        return false;
    sup_expire(s, now, window);
    for (struct sup_entry *e = s->buckets[sup_hash(key)]; e; e = e->hnext) {
        if (!e->cancelled && memcmp(e->key, key, 64) == 0)
            return true;
    }
    return false;
}

/* Records key as sent now. Returns the entry (to cancel it if the alert
 * is dropped after all), or NULL when suppression is off or full. */
static struct sup_entry *sup_add(struct suppress *s, const char *key,
                                 double now, const char *sink)
{
    if (s->buckets == NULL)
        return NULL;
    if (s->count >= SUPPRESS_MAX_KEYS) {
        if (!s->full_logged) {
            rx_log(RX_LOG_WARN, "suppression table full, alerts not deduped",
                   "\"sink\":\"%s\",\"keys\":%d", sink, SUPPRESS_MAX_KEYS);
            s->full_logged = true;
        }
        return NULL;
    }
    struct sup_entry *e = rx_xcalloc(1, sizeof(*e));
    memcpy(e->key, key, 65);
    e->at = now;
    size_t h = sup_hash(key);
    e->hnext = s->buckets[h];
    s->buckets[h] = e;
    if (s->newest)
        s->newest->newer = e;
    else
        s->oldest = e;
    s->newest = e;
    s->count++;
    return e;
}

static void sup_free(struct suppress *s)
{
    while (s->buckets && s->oldest)
        sup_unlink_oldest(s);
    free(s->buckets);
    s->buckets = NULL;
}

/* ---- the dispatcher's state -------------------------------------------- */

/* One rx_dispatcher_test call. Its fields are guarded by the dispatcher's
 * mutex; the caller and the dispatcher each hold a reference. */
struct test_req {
    struct test_req *next;
    int refs;
    int remaining;
    pthread_cond_t done;
    struct {
        bool wanted, finished;
        const char *outcome; /* static: sent, failed, timeout, ... */
        long status;         /* 0: no HTTP answer */
        char message[128];   /* never a URL, token or key */
    } r[SINK_COUNT];
};

/* One batch handed over by rx_dispatcher_submit. */
struct batch {
    struct batch *next;
    json_t *rows;
    char *request_id;
    double submitted;
};

/* One HTTP request to make (and remake until it succeeds or gives up). */
struct job {
    struct job *next;
    enum sink_id sink;
    char *body;
    size_t len;
    size_t alerts;    /* alert rows it carries, for the counters */
    double submitted; /* monotonic: latency, and the give-up time */
    int attempts;
    int unsure; /* failed attempts that may have arrived */
    struct test_req *test;
    CURL *easy; /* while in flight */
    struct curl_slist *headers;
    char resp[RESP_KEEP];
    size_t resp_len;
};

struct sink {
    bool enabled;
    const char *url;
    int min_score;
    struct job *head, *tail; /* waiting, oldest first */
    size_t backlog;          /* alerts waiting or in flight */
    int inflight;
    double interval;          /* pacing, seconds between starts */
    double next_start;        /* monotonic */
    double blocked_until;     /* backoff after failures */
    double retry_after_until; /* a 429's Retry-After */
    int streak;               /* failures in a row */
    struct suppress sup;
};

struct metrics {
    pthread_mutex_t mu;
    uint64_t count[SINK_COUNT][OUT_COUNT];
    uint64_t hist[SINK_COUNT][NBUCKETS];
    uint64_t observed[SINK_COUNT];
    double sum[SINK_COUNT];
    size_t backlog[SINK_COUNT];
};

struct rx_dispatcher {
    const struct rx_dispatch_config *c;
    pthread_t thread;
    atomic_bool running;

    /* Guarded by mu: the hand-over queue, test requests, stop flag. */
    pthread_mutex_t mu;
    struct batch *qhead, *qtail;
    size_t qalerts;
    struct test_req *tests;
    bool stopping;
    size_t unlogged_drops;
    double last_drop_log;

    /* Owned by the dispatcher thread alone. */
    CURLM *multi;
    struct sink sinks[SINK_COUNT];
    struct job *inflight; /* list of jobs with an easy handle */
    uint64_t rng;
    bool any_sink;

    struct metrics m;
};

static void count(struct rx_dispatcher *d, enum sink_id s, enum outcome o,
                  uint64_t n)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&d->m.mu);
    d->m.count[s][o] += n;
    pthread_mutex_unlock(&d->m.mu);
}

static void observe_latency(struct rx_dispatcher *d, enum sink_id s,
                            double seconds)
{
    pthread_mutex_lock(&d->m.mu);
    for (size_t i = 0; i < NBUCKETS; i++) {
        if (seconds <= latency_buckets[i])
            d->m.hist[s][i]++;
    }
    d->m.observed[s]++;
    d->m.sum[s] += seconds;
    pthread_mutex_unlock(&d->m.mu);
}

/* xorshift64*: jitter needs no quality, only no shared state. */
static double rng_unit(struct rx_dispatcher *d)
{
    d->rng ^= d->rng >> 12;
    d->rng ^= d->rng << 25;
    d->rng ^= d->rng >> 27;
    return (double)((d->rng * 2685821657736338717ULL) >> 11) /
           (double)(1ULL << 53);
}

/* Exponential backoff with "equal jitter": half the delay fixed, half
 * random, so retries of many alerts spread out but never come too early. */
static double backoff(struct rx_dispatcher *d, int streak)
{
    double base = (double)d->c->retry_base_ms / 1000.0;
    double cap = (double)d->c->retry_cap_ms / 1000.0;
    double delay = base;
    for (int i = 1; i < streak && delay < cap; i++)
        delay *= 2;
    if (delay > cap)
        delay = cap;
    return delay / 2 + rng_unit(d) * delay / 2;
}

static int sink_min_score(const struct rx_dispatcher *d, enum sink_id s)
{
    int v = s == SINK_SLACK       ? d->c->slack_min_score
            : s == SINK_PAGERDUTY ? d->c->pagerduty_min_score
            : s == SINK_WEBHOOK   ? d->c->webhook_min_score
                                  : 1;
    return v < 1 ? 1 : v;
}

/* ---- the test request ------------------------------------------------- */

static void test_unref_locked(struct test_req *t)
{
    if (--t->refs == 0) {
        pthread_cond_destroy(&t->done);
        free(t);
    }
}

static void test_finish(struct rx_dispatcher *d, struct test_req *t,
                        enum sink_id s, const char *outcome, long status,
                        const char *message)
{
    pthread_mutex_lock(&d->mu);
    if (t->r[s].wanted && !t->r[s].finished) {
        t->r[s].finished = true;
        t->r[s].outcome = outcome;
        t->r[s].status = status;
        snprintf(t->r[s].message, sizeof(t->r[s].message), "%s", message);
        if (--t->remaining == 0)
            pthread_cond_broadcast(&t->done);
    }
    pthread_mutex_unlock(&d->mu);
}

/* ---- jobs ------------------------------------------------------------- */

static void job_free(struct job *j)
{
    free(j->body);
    curl_slist_free_all(j->headers);
    free(j);
}

static void push_tail(struct sink *s, struct job *j)
{
    j->next = NULL;
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
}

static void push_head(struct sink *s, struct job *j)
{
    j->next = s->head;
    s->head = j;
    if (s->tail == NULL)
        s->tail = j;
}

static struct job *pop_head(struct sink *s)
{
    struct job *j = s->head;
    if (j) {
        s->head = j->next;
        if (s->head == NULL)
            s->tail = NULL;
        j->next = NULL;
    }
    return j;
}

static struct job *job_new(enum sink_id s, char *body, size_t alerts,
                           double submitted)
{
    struct job *j = rx_xcalloc(1, sizeof(*j));
    j->sink = s;
    j->body = body;
    j->len = strlen(body);
    j->alerts = alerts;
    j->submitted = submitted;
    return j;
}

/* Queues a job unless the sink's backlog is full (then it is dropped and
 * counted). A batch bigger than the whole backlog still goes in when the
 * backlog is empty, so one large request is never refused outright.
 * Returns true when queued. */
static bool enqueue(struct rx_dispatcher *d, struct job *j)
{
    struct sink *s = &d->sinks[j->sink];
    if (s->backlog > 0 && s->backlog + j->alerts > d->c->alert_queue) {
        count(d, j->sink, OUT_DROPPED, j->alerts);
        rx_log(RX_LOG_WARN, "alert backlog full, alerts dropped",
               "\"sink\":\"%s\",\"alerts\":%zu,\"backlog\":%zu",
               sink_names[j->sink], j->alerts, s->backlog);
        job_free(j);
        return false;
    }
    s->backlog += j->alerts;
    push_tail(s, j);
    return true;
}

/* Logs one alert row, with long values cut so the line stays whole. */
static void log_alert(const json_t *row, const char *request_id, bool synthetic)
{
    json_t *copy = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)row, key, v)
    {
        if (json_is_string(v) && json_string_length(v) > 600) {
            const char *sv = json_string_value(v);
            size_t keep = rx_sink_utf8_prefix(sv, json_string_length(v), 600);
            json_object_set_new(copy, key, json_stringn(sv, keep));
        } else {
            json_object_set(copy, key, v);
        }
    }
    char *text = json_dumps(copy, JSON_COMPACT);
    char rid[160];
    rx_log(RX_LOG_WARN, synthetic ? "test alert" : "alert",
           "\"sink\":\"log\",\"request_id\":%s,\"alert\":%s",
           rx_log_str(rid, sizeof(rid), request_id), text ? text : "null");
    free(text);
    json_decref(copy);
}

/* Splits one batch into jobs for each sink, after the min score and the
 * suppression window. A key is marked as sent as soon as its row passes,
 * so a repeat later in the same batch is suppressed too; when the row is
 * then dropped (backlog full) the mark is cancelled. */
static void route_batch(struct rx_dispatcher *d, struct batch *b, double now)
{
    size_t n = json_array_size(b->rows);
    char(*keys)[65] = rx_xcalloc(n ? n : 1, sizeof(*keys));
    struct sup_entry **marks = rx_xcalloc(n ? n : 1, sizeof(*marks));
    for (size_t i = 0; i < n; i++) {
        if (rx_sink_dedup_key(json_array_get(b->rows, i), keys[i]) != 0)
            keys[i][0] = '\0';
    }
    double window = (double)d->c->suppress_seconds;

    for (int si = 0; si < SINK_COUNT; si++) {
        struct sink *s = &d->sinks[si];
        if (!s->enabled)
            continue;
        json_t *pass = json_array();
        size_t suppressed = 0, m = 0;
        for (size_t i = 0; i < n; i++) {
            json_t *row = json_array_get(b->rows, i);
            if (rx_sink_row_int(row, "SuspicionScore", 0) < s->min_score)
                continue;
            if (keys[i][0] && sup_seen(&s->sup, keys[i], now, window)) {
                suppressed++;
                continue;
            }
            marks[m++] = keys[i][0]
                             ? sup_add(&s->sup, keys[i], now, sink_names[si])
                             : NULL;
            json_array_append(pass, row);
        }
        count(d, (enum sink_id)si, OUT_SUPPRESSED, suppressed);
        if (si == SINK_LOG) {
            for (size_t i = 0; i < m; i++)
                log_alert(json_array_get(pass, i), b->request_id, false);
            count(d, SINK_LOG, OUT_SENT, m);
        } else if (si == SINK_PAGERDUTY) {
            for (size_t i = 0; i < m; i++) {
                char *body = rx_pagerduty_build(json_array_get(pass, i),
                                                d->c->pagerduty_routing_key);
                bool queued = false;
                if (body == NULL)
                    count(d, SINK_PAGERDUTY, OUT_FAILED, 1);
                else
                    queued = enqueue(
                        d, job_new(SINK_PAGERDUTY, body, 1, b->submitted));
                if (!queued && marks[i])
                    marks[i]->cancelled = true;
            }
        } else if (m > 0) {
            char *body = si == SINK_SLACK
                             ? rx_slack_build(pass, b->request_id)
                             : rx_webhook_build(pass, b->request_id);
            bool queued = false;
            if (body == NULL)
                count(d, (enum sink_id)si, OUT_FAILED, m);
            else
                queued = enqueue(
                    d, job_new((enum sink_id)si, body, m, b->submitted));
            for (size_t i = 0; i < m && !queued; i++) {
                if (marks[i])
                    marks[i]->cancelled = true;
            }
        }
        json_decref(pass);
    }
    free(marks);
    free(keys);
}

static json_t *synthetic_row(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_int_t ms = (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return json_pack(
        "{s:i, s:I, s:s, s:s, s:s, s:s, s:s, s:n, s:s, s:i, s:i, s:i}", "index",
        0, "_messageTime", ms, "Computer", "repoexfil-test", "User",
        "repoexfil\\test", "Image", "C:\\Program Files\\Git\\cmd\\git.exe",
        "CommandLine",
        "git.exe push https://github.com/repoexfil/test-alert.git",
        "ParentImage", "C:\\Windows\\explorer.exe", "DestinationHostname",
        "Signal", "GitPushToExternalRepo", "IsCISystem", 0, "IsKnownIDE", 0,
        "SuspicionScore", 3);
}

/* Queues the synthetic alert at the head of every wanted sink. Test posts
 * bypass min score, suppression and the backlog cap, and are tried once. */
static void route_test(struct rx_dispatcher *d, struct test_req *t, double now)
{
    json_t *row = synthetic_row();
    json_t *rows = json_array();
    json_array_append(rows, row);
    for (int si = 0; si < SINK_COUNT; si++) {
        if (!t->r[si].wanted)
            continue;
        char *body = NULL;
        if (si == SINK_LOG) {
            log_alert(row, "test", true);
            test_finish(d, t, SINK_LOG, "sent", 0, "logged");
            continue;
        }
        if (si == SINK_SLACK)
            body = rx_slack_build(rows, "test");
        else if (si == SINK_PAGERDUTY)
            body = rx_pagerduty_build(row, d->c->pagerduty_routing_key);
        else
            body = rx_webhook_build(rows, "test");
        if (body == NULL) {
            test_finish(d, t, (enum sink_id)si, "failed", 0,
                        "cannot build the message");
            continue;
        }
        struct job *j = job_new((enum sink_id)si, body, 1, now);
        j->test = t;
        pthread_mutex_lock(&d->mu);
        t->refs++;
        pthread_mutex_unlock(&d->mu);
        d->sinks[si].backlog += 1;
        push_head(&d->sinks[si], j);
    }
    json_decref(rows);
    json_decref(row);
}

/* ---- HTTP attempts ---------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct job *j = userdata;
    size_t n = size * nmemb;
    size_t room = sizeof(j->resp) - 1 - j->resp_len;
    size_t take = n < room ? n : room;
    memcpy(j->resp + j->resp_len, ptr, take);
    j->resp_len += take;
    j->resp[j->resp_len] = '\0';
    return n; /* keep reading (and discarding) the rest */
}

static struct curl_slist *append_header(struct curl_slist *l, const char *h,
                                        size_t n)
{
    char *line = rx_xstrndup(h, n);
    struct curl_slist *nl = curl_slist_append(l, line);
    free(line);
    if (nl == NULL) {
        rx_log(RX_LOG_ERROR, "out of memory building headers", NULL);
        abort();
    }
    return nl;
}

static void add_webhook_header(const char *line, size_t len, void *ctx)
{
    struct curl_slist **l = ctx;
    *l = append_header(*l, line, len);
}

static bool start_job(struct rx_dispatcher *d, struct job *j)
{
    struct sink *s = &d->sinks[j->sink];
    CURL *e = curl_easy_init();
    if (e == NULL)
        return false;
    curl_slist_free_all(j->headers);
    j->headers = NULL;
    j->headers =
        append_header(j->headers, "Content-Type: application/json", 30);
    /* No "Expect: 100-continue" round trip for larger bodies. */
    j->headers = append_header(j->headers, "Expect:", 7);
    if (j->sink == SINK_WEBHOOK) {
        if (d->c->webhook_headers)
            rx_webhook_headers_each(d->c->webhook_headers, add_webhook_header,
                                    &j->headers);
        if (d->c->webhook_secret) {
            char sig[72], line[100];
            if (rx_webhook_signature(d->c->webhook_secret, j->body, j->len,
                                     sig) == 0) {
                int n =
                    snprintf(line, sizeof(line), "X-Signature-256: %s", sig);
                j->headers = append_header(j->headers, line, (size_t)n);
            }
        }
    }
    j->resp_len = 0;
    j->resp[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, s->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "repoexfil");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, d->c->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, d->c->request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        return false;
    }
    j->easy = e;
    j->attempts++;
    s->inflight++;
    j->next = d->inflight;
    d->inflight = j;
    return true;
}

/* Starts what each sink may start now: within its in-flight limit, its
 * pace, and not while it backs off or waits out a Retry-After. A test post
 * skips the backoff (an operator wants to see the sink answer) but not a
 * Retry-After. */
static void start_ready(struct rx_dispatcher *d, double now)
{
    for (int si = 0; si < SINK_LOG; si++) {
        struct sink *s = &d->sinks[si];
        /* At most max_inflight starts per sink per call: bounded. */
        for (int k = 0; k < max_inflight[si] && s->head; k++) {
            if (s->inflight >= max_inflight[si])
                break;
            struct job *j = s->head;
            if (now < s->retry_after_until)
                break;
            if (!j->test && now < s->blocked_until)
                break;
            if (now < s->next_start)
                break;
            pop_head(s);
            if (!start_job(d, j)) {
                push_head(s, j);
                s->blocked_until = now + backoff(d, ++s->streak);
                break;
            }
            double from = s->next_start > now - s->interval ? s->next_start
                                                            : now - s->interval;
            s->next_start = from + s->interval;
            if (s->next_start < now)
                s->next_start = now;
        }
    }
}

static void unlink_inflight(struct rx_dispatcher *d, struct job *j)
{
    for (struct job **pp = &d->inflight; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    }
    j->next = NULL;
}

/* Ends a job for good: counted, logged when it failed, freed. */
static void job_done(struct rx_dispatcher *d, struct job *j, bool sent,
                     long status, const char *error, double now)
{
    struct sink *s = &d->sinks[j->sink];
    s->backlog -= j->alerts;
    if (sent) {
        count(d, j->sink, OUT_SENT, j->alerts);
        observe_latency(d, j->sink, now - j->submitted);
    } else {
        count(d, j->sink, OUT_FAILED, j->alerts);
        char err[160];
        rx_log(RX_LOG_WARN, "alert delivery failed",
               "\"sink\":\"%s\",\"status\":%ld,\"error\":%s,\"alerts\":%zu,"
               "\"attempts\":%d",
               sink_names[j->sink], status, rx_log_str(err, sizeof(err), error),
               j->alerts, j->attempts);
    }
    job_free(j);
}

/* Appends to out the printable ASCII of s[0..n), at most max bytes: a
 * receiver's text may go into an answer, but nothing that could break it. */
static void append_printable(char *out, size_t outsize, const char *s, size_t n,
                             size_t max)
{
    size_t len = strlen(out);
    for (size_t i = 0; i < n && i < max && len + 1 < outsize; i++) {
        unsigned char c = (unsigned char)s[i];
        out[len++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
    }
    out[len] = '\0';
}

/* The outcome and message of a test post, for the /alerts/test answer.
 * The message names the HTTP status and, for Slack and PagerDuty, their
 * short error text (Slack's body, PagerDuty's "message"); a generic
 * webhook's body is not echoed, as it is nobody's documented format. */
static const char *describe_attempt(const struct job *j, enum rx_sink_verdict v,
                                    CURLcode res, long status,
                                    const struct rx_dispatch_config *c,
                                    char *msg, size_t msgsize)
{
    msg[0] = '\0';
    if (res == CURLE_OPERATION_TIMEDOUT) {
        snprintf(msg, msgsize, "no answer within %ld ms",
                 c->request_timeout_ms);
        return "timeout";
    }
    if (res != CURLE_OK) {
        snprintf(msg, msgsize, "%s", curl_easy_strerror(res));
        return "failed";
    }
    if (v == RX_VERDICT_SENT) {
        snprintf(msg, msgsize, "%s",
                 j->sink == SINK_SLACK       ? "ok"
                 : j->sink == SINK_PAGERDUTY ? "accepted"
                                             : "delivered");
        return "sent";
    }
    snprintf(msg, msgsize, "HTTP %ld", status);
    if (j->sink == SINK_SLACK && j->resp_len > 0) {
        append_printable(msg, msgsize, ": ", 2, 2);
        append_printable(msg, msgsize, j->resp, j->resp_len, 80);
    } else if (j->sink == SINK_PAGERDUTY && j->resp_len > 0) {
        json_t *o = json_loadb(j->resp, j->resp_len, 0, NULL);
        const char *m = json_string_value(json_object_get(o, "message"));
        if (m) {
            append_printable(msg, msgsize, ": ", 2, 2);
            append_printable(msg, msgsize, m, strlen(m), 80);
        }
        json_decref(o);
    }
    return "failed";
}

static void finish_attempt(struct rx_dispatcher *d, CURL *e, CURLcode res,
                           double now)
{
    struct job *j = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t retry_after = 0;
    curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &retry_after);
    curl_off_t pretransfer = 0;
    curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    curl_multi_remove_handle(d->multi, e);
    curl_easy_cleanup(e);
    j->easy = NULL;
    unlink_inflight(d, j);
    struct sink *s = &d->sinks[j->sink];
    s->inflight--;

    /* A transfer that never reached the point of sending cannot have been
     * delivered: safe to retry even for Slack. */
    enum rx_sink_net net = res == CURLE_OK    ? RX_NET_OK
                           : pretransfer == 0 ? RX_NET_CONNECT
                                              : RX_NET_UNSURE;
    const char *error = res == CURLE_OK ? NULL : curl_easy_strerror(res);
    enum rx_sink_verdict v;
    if (j->sink == SINK_SLACK)
        v = rx_slack_classify(net, status, j->resp, j->resp_len);
    else if (j->sink == SINK_PAGERDUTY)
        v = rx_pagerduty_classify(net, status, j->resp, j->resp_len);
    else
        v = rx_webhook_classify(net, status, j->resp, j->resp_len);

    if (j->test) {
        /* Test posts are tried once and reported, not counted. */
        if (v == RX_VERDICT_SENT || v == RX_VERDICT_PERMANENT)
            s->streak = 0;
        if (v == RX_VERDICT_RETRY_AFTER && retry_after > 0 &&
            now + (double)retry_after > s->retry_after_until)
            s->retry_after_until =
                now + (double)(retry_after > MAX_RETRY_AFTER ? MAX_RETRY_AFTER
                                                             : retry_after);
        char msg[128];
        const char *out =
            describe_attempt(j, v, res, status, d->c, msg, sizeof(msg));
        s->backlog -= j->alerts;
        test_finish(d, j->test, j->sink, out, status, msg);
        pthread_mutex_lock(&d->mu);
        test_unref_locked(j->test);
        pthread_mutex_unlock(&d->mu);
        job_free(j);
        return;
    }
    if (v == RX_VERDICT_SENT) {
        s->streak = 0;
        job_done(d, j, true, status, NULL, now);
        return;
    }
    if (v == RX_VERDICT_PERMANENT) {
        /* The receiver answered, so the sink is up: no backoff. */
        s->streak = 0;
        if (j->sink == SINK_SLACK && status == 200) {
            char body[96];
            rx_log(RX_LOG_WARN, "slack answered 200 without ok", "\"body\":%s",
                   rx_log_str(body, sizeof(body), j->resp));
        }
        job_done(d, j, false, status, error ? error : "rejected", now);
        return;
    }
    /* Retryable. */
    if (v == RX_VERDICT_RETRY_UNSURE && j->sink == SINK_SLACK &&
        ++j->unsure > d->c->slack_max_retries) {
        job_done(d, j, false, status, error ? error : "server error", now);
        return;
    }
    if ((now - j->submitted) * 1000.0 >= (double)d->c->retry_total_ms) {
        job_done(d, j, false, status, error ? error : "retries exhausted", now);
        return;
    }
    count(d, j->sink, OUT_RETRIED, j->alerts);
    double delay = backoff(d, ++s->streak);
    if (v == RX_VERDICT_RETRY_AFTER) {
        double ra = retry_after > 0 ? (double)(retry_after > MAX_RETRY_AFTER
                                                   ? MAX_RETRY_AFTER
                                                   : retry_after)
                                    : delay;
        if (now + ra > s->retry_after_until)
            s->retry_after_until = now + ra;
        delay = ra;
    }
    if (now + delay > s->blocked_until)
        s->blocked_until = now + delay;
    char err[160];
    rx_log(
        RX_LOG_INFO, "alert delivery will be retried",
        "\"sink\":\"%s\",\"status\":%ld,\"error\":%s,\"attempt\":%d,"
        "\"delay_ms\":%.0f",
        sink_names[j->sink], status,
        rx_log_str(err, sizeof(err), error ? error : rx_sink_verdict_name(v)),
        j->attempts, delay * 1000.0);
    push_head(s, j);
}

/* Gives up on alerts handed over more than retry_total_ms ago that still
 * wait (behind an outage, a Retry-After or the pace): stale alerts are
 * counted and logged as failed rather than delivered late, and their room
 * goes to new ones. Walks every backlog, so the loop calls it at most once
 * a second. */
static void expire_stale(struct rx_dispatcher *d, double now)
{
    double limit = (double)d->c->retry_total_ms / 1000.0;
    for (int si = 0; si < SINK_LOG; si++) {
        struct sink *s = &d->sinks[si];
        size_t alerts = 0;
        struct job *prev = NULL;
        for (struct job *j = s->head; j;) {
            struct job *next = j->next;
            if (!j->test && now - j->submitted >= limit) {
                if (prev)
                    prev->next = next;
                else
                    s->head = next;
                if (s->tail == j)
                    s->tail = prev;
                s->backlog -= j->alerts;
                alerts += j->alerts;
                job_free(j);
            } else {
                prev = j;
            }
            j = next;
        }
        if (alerts) {
            count(d, (enum sink_id)si, OUT_FAILED, alerts);
            rx_log(RX_LOG_WARN, "alerts given up, not delivered in time",
                   "\"sink\":\"%s\",\"alerts\":%zu,\"limit_ms\":%ld",
                   sink_names[si], alerts, d->c->retry_total_ms);
        }
    }
}

/* Gives up on everything still waiting or in flight (the drain deadline
 * passed): counted as failed and logged per sink. */
static void abandon_all(struct rx_dispatcher *d, double now)
{
    while (d->inflight) {
        struct job *j = d->inflight;
        d->inflight = j->next;
        curl_multi_remove_handle(d->multi, j->easy);
        curl_easy_cleanup(j->easy);
        j->easy = NULL;
        d->sinks[j->sink].inflight--;
        push_head(&d->sinks[j->sink], j);
    }
    for (int si = 0; si < SINK_COUNT; si++) {
        struct sink *s = &d->sinks[si];
        size_t alerts = 0;
        /* Each pass removes one job: bounded by the list. */
        while (s->head) {
            struct job *j = pop_head(s);
            s->backlog -= j->alerts;
            if (j->test) {
                test_finish(d, j->test, j->sink, "failed", 0,
                            "the dispatcher stopped first");
                pthread_mutex_lock(&d->mu);
                test_unref_locked(j->test);
                pthread_mutex_unlock(&d->mu);
            } else {
                alerts += j->alerts;
            }
            job_free(j);
        }
        if (alerts) {
            count(d, (enum sink_id)si, OUT_FAILED, alerts);
            rx_log(RX_LOG_ERROR, "alerts undelivered at shutdown",
                   "\"sink\":\"%s\",\"alerts\":%zu", sink_names[si], alerts);
        }
    }
    (void)now;
}

static bool all_idle(const struct rx_dispatcher *d)
{
    if (d->inflight)
        return false;
    for (int si = 0; si < SINK_COUNT; si++) {
        if (d->sinks[si].head)
            return false;
    }
    return true;
}

/* How long the loop may sleep: until the next sink may start, capped at a
 * second so the loop keeps an eye on the clock. libcurl lowers it further
 * for its own timeouts. */
static int poll_timeout_ms(const struct rx_dispatcher *d, double now,
                           bool draining, double deadline)
{
    double wake = now + 1.0;
    if (draining && deadline < wake)
        wake = deadline;
    for (int si = 0; si < SINK_LOG; si++) {
        const struct sink *s = &d->sinks[si];
        if (!s->head || s->inflight >= max_inflight[si])
            continue;
        double t = s->next_start;
        if (s->retry_after_until > t)
            t = s->retry_after_until;
        if (!s->head->test && s->blocked_until > t)
            t = s->blocked_until;
        if (t < wake)
            wake = t;
    }
    double ms = (wake - now) * 1000.0;
    if (ms < 1)
        return 1;
    return ms > 1000 ? 1000 : (int)ms + 1;
}

static void publish_backlog(struct rx_dispatcher *d)
{
    pthread_mutex_lock(&d->m.mu);
    for (int si = 0; si < SINK_COUNT; si++)
        d->m.backlog[si] = d->sinks[si].backlog;
    pthread_mutex_unlock(&d->m.mu);
}

static void *dispatcher_main(void *arg)
{
    struct rx_dispatcher *d = arg;
    bool draining = false;
    double deadline = 0;
    double next_sweep = 0;

    /* Ends when stopping and idle, or at the drain deadline. */
    for (;;) {
        pthread_mutex_lock(&d->mu);
        struct batch *batches = d->qhead;
        struct test_req *tests = d->tests;
        d->qhead = d->qtail = NULL;
        d->qalerts = 0;
        d->tests = NULL;
        bool stop = d->stopping;
        pthread_mutex_unlock(&d->mu);

        double now = mono_now();
        while (batches) {
            struct batch *b = batches;
            batches = b->next;
            route_batch(d, b, now);
            json_decref(b->rows);
            free(b->request_id);
            free(b);
        }
        while (tests) {
            struct test_req *t = tests;
            tests = t->next;
            route_test(d, t, now);
            pthread_mutex_lock(&d->mu);
            test_unref_locked(t); /* the queue's reference */
            pthread_mutex_unlock(&d->mu);
        }
        if (stop && !draining) {
            draining = true;
            deadline = now + (double)d->c->drain_seconds;
        }

        if (now >= next_sweep) {
            expire_stale(d, now);
            next_sweep = now + 1.0;
        }
        start_ready(d, now);
        int running = 0;
        curl_multi_perform(d->multi, &running);
        CURLMsg *msg;
        int left = 0;
        while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE)
                finish_attempt(d, msg->easy_handle, msg->data.result,
                               mono_now());
        }
        publish_backlog(d);

        now = mono_now();
        if (draining && all_idle(d))
            break;
        if (draining && now >= deadline) {
            abandon_all(d, now);
            publish_backlog(d);
            break;
        }
        curl_multi_poll(d->multi, NULL, 0,
                        poll_timeout_ms(d, now, draining, deadline), NULL);
    }
    atomic_store(&d->running, false);
    return NULL;
}

/* ---- public API ------------------------------------------------------- */

struct rx_dispatcher *rx_dispatcher_start(const struct rx_dispatch_config *c)
{
    struct rx_dispatcher *d = rx_xcalloc(1, sizeof(*d));
    d->c = c;
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->m.mu, NULL);
    d->multi = curl_multi_init();
    if (d->multi == NULL) {
        pthread_mutex_destroy(&d->mu);
        pthread_mutex_destroy(&d->m.mu);
        free(d);
        return NULL;
    }
    const char *urls[SINK_COUNT] = {c->slack_webhook_url,
                                    c->pagerduty_routing_key ? c->pagerduty_url
                                                             : NULL,
                                    c->webhook_url, NULL};
    for (int si = 0; si < SINK_LOG; si++) {
        d->sinks[si].enabled = urls[si] != NULL;
        d->sinks[si].url = urls[si];
        d->any_sink |= d->sinks[si].enabled;
    }
    d->sinks[SINK_LOG].enabled = !d->any_sink;
    d->sinks[SINK_SLACK].interval = (double)c->slack_interval_ms / 1000.0;
    d->sinks[SINK_PAGERDUTY].interval = 60.0 / c->pagerduty_rate_per_minute;
    for (int si = 0; si < SINK_COUNT; si++) {
        d->sinks[si].min_score = sink_min_score(d, (enum sink_id)si);
        if (d->sinks[si].enabled && c->suppress_seconds > 0)
            d->sinks[si].sup.buckets =
                rx_xcalloc(SUPPRESS_BUCKETS, sizeof(struct sup_entry *));
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    d->rng = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
             (uint64_t)(uintptr_t)d;
    if (d->rng == 0)
        d->rng = 88172645463325252ULL;
    atomic_store(&d->running, true);
    if (pthread_create(&d->thread, NULL, dispatcher_main, d) != 0) {
        curl_multi_cleanup(d->multi);
        for (int si = 0; si < SINK_COUNT; si++)
            sup_free(&d->sinks[si].sup);
        pthread_mutex_destroy(&d->mu);
        pthread_mutex_destroy(&d->m.mu);
        free(d);
        return NULL;
    }
    rx_log(RX_LOG_INFO, "alert dispatcher started",
           "\"slack\":%s,\"pagerduty\":%s,\"webhook\":%s,\"queue\":%zu,"
           "\"suppress_seconds\":%d",
           d->sinks[SINK_SLACK].enabled ? "true" : "false",
           d->sinks[SINK_PAGERDUTY].enabled ? "true" : "false",
           d->sinks[SINK_WEBHOOK].enabled ? "true" : "false", c->alert_queue,
           c->suppress_seconds);
    return d;
}

/* Counts rows [from, n) as dropped for every sink they would have reached.
 * Runs in the caller's thread on rows it still owns. */
static void count_dropped_rows(struct rx_dispatcher *d, json_t *rows,
                               size_t from)
{
    uint64_t per[SINK_COUNT] = {0};
    for (size_t i = from; i < json_array_size(rows); i++) {
        long long score =
            rx_sink_row_int(json_array_get(rows, i), "SuspicionScore", 0);
        for (int si = 0; si < SINK_COUNT; si++) {
            if (d->sinks[si].enabled && score >= d->sinks[si].min_score)
                per[si]++;
        }
    }
    for (int si = 0; si < SINK_COUNT; si++)
        count(d, (enum sink_id)si, OUT_DROPPED, per[si]);
}

size_t rx_dispatcher_submit(struct rx_dispatcher *d, json_t *rows,
                            const char *request_id)
{
    if (!json_is_array(rows) || json_array_size(rows) == 0) {
        json_decref(rows);
        return 0;
    }
    size_t n = json_array_size(rows);
    double now = mono_now();
    struct batch *b = rx_xcalloc(1, sizeof(*b));
    b->request_id = request_id ? rx_xstrdup(request_id) : NULL;
    b->submitted = now;
    json_t *gone = NULL;

    /* Everything under the lock is O(rows dropped) and allocation-light:
     * the caller never waits on the dispatcher, only on this short
     * critical section. */
    pthread_mutex_lock(&d->mu);
    size_t room = d->stopping || d->qalerts >= d->c->alert_queue
                      ? 0
                      : d->c->alert_queue - d->qalerts;
    size_t keep = n < room ? n : room;
    size_t dropped = n - keep;
    bool log_now = false;
    size_t to_log = 0;
    if (dropped) {
        gone = json_array();
        for (size_t i = keep; i < n; i++)
            json_array_append(gone, json_array_get(rows, i));
        for (size_t i = n; i-- > keep;)
            json_array_remove(rows, i);
        d->unlogged_drops += dropped;
        /* One line a second at most, so an overload does not also flood
         * the log. */
        if (now - d->last_drop_log >= 1.0) {
            log_now = true;
            to_log = d->unlogged_drops;
            d->unlogged_drops = 0;
            d->last_drop_log = now;
        }
    }
    if (keep) {
        b->rows = rows;
        d->qalerts += keep;
        if (d->qtail)
            d->qtail->next = b;
        else
            d->qhead = b;
        d->qtail = b;
    }
    pthread_mutex_unlock(&d->mu);

    if (keep) {
        curl_multi_wakeup(d->multi);
    } else {
        json_decref(rows);
        free(b->request_id);
        free(b);
    }
    if (gone) {
        /* The sinks' enabled flags and min scores are fixed after start,
         * so reading them here without the lock is safe. */
        count_dropped_rows(d, gone, 0);
        json_decref(gone);
    }
    if (log_now) {
        char rid[160];
        rx_log(RX_LOG_WARN, "alert queue full, alerts dropped",
               "\"dropped\":%zu,\"request_id\":%s", to_log,
               rx_log_str(rid, sizeof(rid), request_id));
    }
    return dropped;
}

bool rx_dispatcher_running(const struct rx_dispatcher *d)
{
    return atomic_load(&((struct rx_dispatcher *)d)->running);
}

json_t *rx_dispatcher_test(struct rx_dispatcher *d, long timeout_ms)
{
    static const char *const unset[SINK_LOG] = {
        "no webhook URL set", "no routing key set", "no webhook URL set"};
    if (timeout_ms < 0)
        timeout_ms = 0;
    struct test_req *t = rx_xcalloc(1, sizeof(*t));
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->done, &attr);
    pthread_condattr_destroy(&attr);
    /* The log sink (no real sink configured) logs the test alert too, but
     * the answer lists exactly the three real sinks. */
    for (int si = 0; si < SINK_COUNT; si++) {
        if (d->sinks[si].enabled) {
            t->r[si].wanted = true;
            t->r[si].outcome = "timeout";
            snprintf(t->r[si].message, sizeof(t->r[si].message),
                     "no outcome within %ld ms", timeout_ms);
            t->remaining++;
        } else {
            t->r[si].outcome = "not_configured";
            snprintf(t->r[si].message, sizeof(t->r[si].message), "%s",
                     si < SINK_LOG ? unset[si] : "");
        }
    }
    t->refs = 2; /* the caller's and the queue's */

    pthread_mutex_lock(&d->mu);
    bool accepted = !d->stopping;
    if (accepted) {
        t->next = d->tests;
        d->tests = t;
    } else {
        t->refs = 1;
        for (int si = 0; si < SINK_COUNT; si++) {
            if (t->r[si].wanted) {
                t->r[si].outcome = "failed";
                snprintf(t->r[si].message, sizeof(t->r[si].message),
                         "the dispatcher is stopping");
            }
        }
    }
    pthread_mutex_unlock(&d->mu);
    if (accepted)
        curl_multi_wakeup(d->multi);

    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    json_t *sinks = json_object();
    pthread_mutex_lock(&d->mu);
    /* Spurious wake-ups loop; the deadline bounds it. */
    while (accepted && t->remaining > 0) {
        if (pthread_cond_timedwait(&t->done, &d->mu, &until) != 0)
            break;
    }
    for (int si = 0; si < SINK_LOG; si++) {
        json_t *o = json_object();
        json_object_set_new(o, "outcome", json_string(t->r[si].outcome));
        json_object_set_new(o, "status",
                            t->r[si].status ? json_integer(t->r[si].status)
                                            : json_null());
        json_object_set_new(o, "message", json_string(t->r[si].message));
        json_object_set_new(sinks, sink_names[si], o);
    }
    test_unref_locked(t);
    pthread_mutex_unlock(&d->mu);
    json_t *out = json_object();
    json_object_set_new(out, "sinks", sinks);
    return out;
}

int rx_dispatcher_write_metrics(struct rx_dispatcher *d, struct rx_buf *out)
{
    pthread_mutex_lock(&d->mu);
    size_t depth = d->qalerts;
    pthread_mutex_unlock(&d->mu);

    struct metrics m;
    pthread_mutex_lock(&d->m.mu);
    memcpy(m.count, d->m.count, sizeof(m.count));
    memcpy(m.hist, d->m.hist, sizeof(m.hist));
    memcpy(m.observed, d->m.observed, sizeof(m.observed));
    memcpy(m.sum, d->m.sum, sizeof(m.sum));
    memcpy(m.backlog, d->m.backlog, sizeof(m.backlog));
    pthread_mutex_unlock(&d->m.mu);

    int rc = 0;
    rc |=
        rx_buf_puts(out, "# HELP repoexfil_notifications_total Alerts by sink "
                         "and outcome (retried counts retry attempts).\n"
                         "# TYPE repoexfil_notifications_total counter\n");
    for (int si = 0; si < SINK_COUNT; si++) {
        if (!d->sinks[si].enabled)
            continue;
        for (int o = 0; o < OUT_COUNT; o++)
            rc |= rx_buf_printf(out,
                                "repoexfil_notifications_total{sink=\"%s\","
                                "outcome=\"%s\"} %llu\n",
                                sink_names[si], outcome_names[o],
                                (unsigned long long)m.count[si][o]);
    }
    rc |= rx_buf_printf(out,
                        "# HELP repoexfil_alert_queue_depth Alerts waiting "
                        "in the dispatcher's hand-over queue.\n"
                        "# TYPE repoexfil_alert_queue_depth gauge\n"
                        "repoexfil_alert_queue_depth %zu\n"
                        "# HELP repoexfil_alert_queue_capacity Alerts the "
                        "hand-over queue holds.\n"
                        "# TYPE repoexfil_alert_queue_capacity gauge\n"
                        "repoexfil_alert_queue_capacity %zu\n",
                        depth, d->c->alert_queue);
    rc |= rx_buf_puts(out, "# HELP repoexfil_notifications_pending Alerts "
                           "waiting for delivery or in flight, by sink.\n"
                           "# TYPE repoexfil_notifications_pending gauge\n");
    for (int si = 0; si < SINK_COUNT; si++) {
        if (d->sinks[si].enabled)
            rc |= rx_buf_printf(out,
                                "repoexfil_notifications_pending{sink=\"%s\"}"
                                " %zu\n",
                                sink_names[si], m.backlog[si]);
    }
    rc |= rx_buf_puts(out, "# HELP repoexfil_notification_latency_seconds Time "
                           "from hand-over to successful delivery.\n"
                           "# TYPE repoexfil_notification_latency_seconds "
                           "histogram\n");
    for (int si = 0; si < SINK_COUNT; si++) {
        if (!d->sinks[si].enabled)
            continue;
        for (size_t i = 0; i < NBUCKETS; i++)
            rc |= rx_buf_printf(out,
                                "repoexfil_notification_latency_seconds_"
                                "bucket{sink=\"%s\",le=\"%g\"} %llu\n",
                                sink_names[si], latency_buckets[i],
                                (unsigned long long)m.hist[si][i]);
        rc |= rx_buf_printf(out,
                            "repoexfil_notification_latency_seconds_bucket{"
                            "sink=\"%s\",le=\"+Inf\"} %llu\n"
                            "repoexfil_notification_latency_seconds_sum{"
                            "sink=\"%s\"} %.6f\n"
                            "repoexfil_notification_latency_seconds_count{"
                            "sink=\"%s\"} %llu\n",
                            sink_names[si], (unsigned long long)m.observed[si],
                            sink_names[si], m.sum[si], sink_names[si],
                            (unsigned long long)m.observed[si]);
    }
    return rc ? RX_ETOOBIG : 0;
}

void rx_dispatcher_stop(struct rx_dispatcher *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    pthread_mutex_unlock(&d->mu);
    curl_multi_wakeup(d->multi);
    pthread_join(d->thread, NULL);

    /* The thread is gone: whatever a late caller queued is failed. */
    size_t late = 0;
    while (d->qhead) {
        struct batch *b = d->qhead;
        d->qhead = b->next;
        late += json_array_size(b->rows);
        json_decref(b->rows);
        free(b->request_id);
        free(b);
    }
    if (late)
        rx_log(RX_LOG_ERROR, "alerts undelivered at shutdown",
               "\"sink\":\"queue\",\"alerts\":%zu", late);
    while (d->tests) {
        struct test_req *t = d->tests;
        d->tests = t->next;
        pthread_mutex_lock(&d->mu);
        test_unref_locked(t);
        pthread_mutex_unlock(&d->mu);
    }
    curl_multi_cleanup(d->multi);
    for (int si = 0; si < SINK_COUNT; si++)
        sup_free(&d->sinks[si].sup);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->m.mu);
    free(d);
}
