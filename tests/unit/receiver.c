#include "receiver.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct answer {
    int status;
    char body[128];
    int retry_after;
};

struct rx_receiver {
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t mu;
    pthread_cond_t changed;
    struct answer dflt;
    struct answer next;
    int next_left;
    bool hang;
    bool quitting;
    struct rx_received *reqs;
    size_t count, cap;
};

/* One request's upload in progress. */
struct upload {
    char *body;
    size_t len, cap;
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct rx_receiver *r = cls;
    (void)method;
    (void)version;
    struct upload *up = *con_cls;
    if (up == NULL) {
        up = calloc(1, sizeof(*up));
        *con_cls = up;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (up->len + *upload_data_size + 1 > up->cap) {
            size_t cap = (up->len + *upload_data_size + 1) * 2;
            up->body = realloc(up->body, cap);
            up->cap = cap;
        }
        memcpy(up->body + up->len, upload_data, *upload_data_size);
        up->len += *upload_data_size;
        up->body[up->len] = '\0';
        *upload_data_size = 0;
        return MHD_YES;
    }

    struct rx_received q = {0};
    q.path = strdup(url);
    q.content_type = dup_or_null(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"));
    q.signature = dup_or_null(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Signature-256"));
    q.custom = dup_or_null(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Custom"));
    q.body = up->body ? up->body : strdup("");
    q.body_len = up->len;
    up->body = NULL;
    q.at = mono();

    pthread_mutex_lock(&r->mu);
    struct answer a = r->dflt;
    if (r->next_left > 0) {
        a = r->next;
        r->next_left--;
    }
    bool hang = r->hang;
    q.answered = hang ? 0 : a.status;
    if (r->count == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->reqs = realloc(r->reqs, r->cap * sizeof(*r->reqs));
    }
    r->reqs[r->count++] = q;
    pthread_cond_broadcast(&r->changed);
    /* Hang: hold this connection's thread until released, bounded by 60 s
     * so a broken test cannot hang forever; then close without answer. */
    if (hang) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 60;
        while (r->hang && !r->quitting) {
            if (pthread_cond_timedwait(&r->changed, &r->mu, &until) != 0)
                break;
        }
        a.status = 0;
    }
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->mu);

    if (a.status == 0)
        return MHD_NO; /* close the connection without an answer */
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(a.body), a.body, MHD_RESPMEM_MUST_COPY);
    if (a.retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", a.retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    MHD_add_response_header(resp, "Content-Type", "text/plain");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)a.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct upload *up = *con_cls;
    if (up) {
        free(up->body);
        free(up);
        *con_cls = NULL;
    }
}

static struct MHD_Daemon *listen_on(struct rx_receiver *r, int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A thread per connection lets a handler block to "hang". */
    return MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
        (uint16_t)port, NULL, NULL, handle, r, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U, MHD_OPTION_NOTIFY_COMPLETED,
        completed, r, MHD_OPTION_CONNECTION_TIMEOUT, 120U, MHD_OPTION_END);
}

struct rx_receiver *rx_receiver_start(int status, const char *body)
{
    struct rx_receiver *r = calloc(1, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->changed, NULL);
    rx_receiver_answer(r, status, body, 0);
    r->daemon = listen_on(r, 0);
    if (r->daemon == NULL) {
        rx_receiver_free(r);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
    r->port = info ? info->port : 0;
    return r;
}

static void stop_daemon(struct rx_receiver *r)
{
    if (r->daemon == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->quitting = true;
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->mu);
    MHD_stop_daemon(r->daemon);
    r->daemon = NULL;
    pthread_mutex_lock(&r->mu);
    r->quitting = false;
    pthread_mutex_unlock(&r->mu);
}

void rx_receiver_free(struct rx_receiver *r)
{
    if (r == NULL)
        return;
    stop_daemon(r);
    for (size_t i = 0; i < r->count; i++)
        rx_received_cleanup(&r->reqs[i]);
    free(r->reqs);
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int rx_receiver_port(const struct rx_receiver *r)
{
    return r->port;
}

void rx_receiver_url(const struct rx_receiver *r, const char *path, char *out,
                     size_t outsize)
{
    snprintf(out, outsize, "http://127.0.0.1:%d%s", r->port, path);
}

static void set_answer(struct answer *a, int status, const char *body,
                       int retry_after)
{
    a->status = status;
    snprintf(a->body, sizeof(a->body), "%s", body ? body : "");
    a->retry_after = retry_after;
}

void rx_receiver_answer(struct rx_receiver *r, int status, const char *body,
                        int retry_after)
{
    pthread_mutex_lock(&r->mu);
    set_answer(&r->dflt, status, body, retry_after);
    pthread_mutex_unlock(&r->mu);
}

void rx_receiver_answer_next(struct rx_receiver *r, int n, int status,
                             const char *body, int retry_after)
{
    pthread_mutex_lock(&r->mu);
    set_answer(&r->next, status, body, retry_after);
    r->next_left = n;
    pthread_mutex_unlock(&r->mu);
}

void rx_receiver_hang(struct rx_receiver *r, bool hang)
{
    pthread_mutex_lock(&r->mu);
    r->hang = hang;
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->mu);
}

void rx_receiver_down(struct rx_receiver *r)
{
    stop_daemon(r);
}

bool rx_receiver_up(struct rx_receiver *r)
{
    if (r->daemon)
        return true;
    /* The old socket may linger briefly; try for up to 5 s. */
    for (int i = 0; i < 100 && r->daemon == NULL; i++) {
        r->daemon = listen_on(r, r->port);
        if (r->daemon == NULL)
            usleep(50000);
    }
    return r->daemon != NULL;
}

size_t rx_receiver_count(struct rx_receiver *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->count;
    pthread_mutex_unlock(&r->mu);
    return n;
}

bool rx_receiver_get(struct rx_receiver *r, size_t i, struct rx_received *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&r->mu);
    bool ok = i < r->count;
    if (ok) {
        const struct rx_received *q = &r->reqs[i];
        out->path = dup_or_null(q->path);
        out->content_type = dup_or_null(q->content_type);
        out->signature = dup_or_null(q->signature);
        out->custom = dup_or_null(q->custom);
        out->body = malloc(q->body_len + 1);
        memcpy(out->body, q->body, q->body_len + 1);
        out->body_len = q->body_len;
        out->at = q->at;
        out->answered = q->answered;
    }
    pthread_mutex_unlock(&r->mu);
    return ok;
}

void rx_received_cleanup(struct rx_received *q)
{
    free(q->path);
    free(q->content_type);
    free(q->signature);
    free(q->custom);
    free(q->body);
    memset(q, 0, sizeof(*q));
}

bool rx_receiver_wait(struct rx_receiver *r, size_t n, long timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    while (r->count < n) {
        if (pthread_cond_timedwait(&r->changed, &r->mu, &until) != 0)
            break;
    }
    bool ok = r->count >= n;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

void rx_receiver_clear(struct rx_receiver *r)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->count; i++)
        rx_received_cleanup(&r->reqs[i]);
    r->count = 0;
    pthread_mutex_unlock(&r->mu);
}
