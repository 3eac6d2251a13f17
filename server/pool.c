#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "xalloc.h"

struct rx_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* a job was pushed, or the pool drains */
    pthread_cond_t idle; /* a worker finished a job or exited */
    void **ring;         /* queue_depth slots */
    size_t cap, head, count;
    size_t reserved; /* slots promised to rx_pool_reserve callers */
    size_t busy;     /* jobs running */
    bool draining;
    unsigned nworkers, alive;
    rx_job_fn fn;
    atomic_bool abort;
    unsigned started; /* threads created, to join */
    pthread_t *threads;
    struct slot *slots;
};

/* A worker's own state plus the way back to its pool. */
struct slot {
    struct rx_worker w;
    struct rx_pool *pool;
};

int64_t rx_pool_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *worker_main(void *arg)
{
    struct slot *slot = arg;
    struct rx_worker *w = &slot->w;
    struct rx_pool *p = slot->pool;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        /* A worker leaves only when nothing is queued or promised, so a
         * suspended connection is never left behind. */
        while (p->count == 0 && !(p->draining && p->reserved == 0))
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->count == 0)
            break;
        void *job = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        p->busy++;
        pthread_mutex_unlock(&p->lock);
        p->fn(w, job);
        pthread_mutex_lock(&p->lock);
        p->busy--;
        pthread_cond_broadcast(&p->idle);
    }
    p->alive--;
    pthread_cond_broadcast(&p->idle);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct rx_pool *rx_pool_new(unsigned workers, size_t queue_depth, rx_job_fn fn)
{
    struct rx_pool *p = rx_xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->idle, NULL);
    p->cap = queue_depth;
    p->ring = rx_xcalloc(queue_depth, sizeof(void *));
    p->fn = fn;
    p->nworkers = workers;
    atomic_init(&p->abort, false);
    p->threads = rx_xcalloc(workers, sizeof(pthread_t));
    p->slots = rx_xcalloc(workers, sizeof(struct slot));
    for (unsigned i = 0; i < workers; i++) {
        p->slots[i].pool = p;
        p->slots[i].w.id = i;
        p->slots[i].w.ingest = rx_ingest_new();
        p->slots[i].w.scratch = rx_rule_scratch_new();
        p->slots[i].w.abort = &p->abort;
    }
    for (unsigned i = 0; i < workers; i++) {
        pthread_mutex_lock(&p->lock);
        p->alive++;
        pthread_mutex_unlock(&p->lock);
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->slots[i]) !=
            0) {
            pthread_mutex_lock(&p->lock);
            p->alive--;
            pthread_mutex_unlock(&p->lock);
            rx_log(RX_LOG_ERROR, "cannot start a worker thread", NULL);
            rx_pool_drain(p, 0);
            rx_pool_free(p);
            return NULL;
        }
        p->started++;
    }
    return p;
}

bool rx_pool_reserve(struct rx_pool *p)
{
    pthread_mutex_lock(&p->lock);
    bool ok = !p->draining && p->count + p->reserved < p->cap;
    if (ok)
        p->reserved++;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

void rx_pool_push(struct rx_pool *p, void *job)
{
    pthread_mutex_lock(&p->lock);
    /* The reservation guarantees a free slot. */
    p->ring[(p->head + p->count) % p->cap] = job;
    p->count++;
    p->reserved--;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

size_t rx_pool_depth(struct rx_pool *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->count;
    pthread_mutex_unlock(&p->lock);
    return n;
}

size_t rx_pool_capacity(const struct rx_pool *p)
{
    return p->cap;
}

size_t rx_pool_busy(struct rx_pool *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->busy;
    pthread_mutex_unlock(&p->lock);
    return n;
}

unsigned rx_pool_workers(const struct rx_pool *p)
{
    return p->nworkers;
}

bool rx_pool_running(struct rx_pool *p)
{
    pthread_mutex_lock(&p->lock);
    bool ok = !p->draining && p->alive == p->nworkers;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

void rx_pool_drain(struct rx_pool *p, int64_t abort_at_ms)
{
    pthread_mutex_lock(&p->lock);
    p->draining = true;
    pthread_cond_broadcast(&p->wake);
    while (p->alive > 0) {
        int64_t now = rx_pool_now_ms();
        if (now >= abort_at_ms) {
            atomic_store(&p->abort, true);
            pthread_cond_wait(&p->idle, &p->lock);
            continue;
        }
        /* pthread_cond_timedwait wants CLOCK_REALTIME; wait in short
         * steps instead of converting clocks. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t step = abort_at_ms - now;
        if (step > 50)
            step = 50;
        ts.tv_nsec += (long)step * 1000000;
        ts.tv_sec += ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        pthread_cond_timedwait(&p->idle, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    p->started = 0;
}

void rx_pool_free(struct rx_pool *p)
{
    if (!p)
        return;
    /* Every slot owns its reader and scratch, started or not. */
    for (unsigned i = 0; i < p->nworkers; i++) {
        rx_ingest_free(p->slots[i].w.ingest);
        rx_rule_scratch_free(p->slots[i].w.scratch);
    }
    free(p->slots);
    free(p->threads);
    free(p->ring);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
