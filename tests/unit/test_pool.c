/* Unit tests of server/pool.c: reservations against the bounded queue,
 * every queued job run before the drain returns, the abort flag at the
 * deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "pool.h"

/* A job that waits for a gate (or the abort flag) before finishing. */
struct job {
    atomic_bool *gate;
    atomic_int *done;
    atomic_int *aborted;
};

static void run(struct rx_worker *w, void *p)
{
    struct job *j = p;
    while (!atomic_load(j->gate)) {
        if (atomic_load(w->abort)) {
            atomic_fetch_add(j->aborted, 1);
            break;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    /* No cmocka assert here: it must not longjmp from a worker thread. */
    if (!w->ingest || !w->scratch)
        abort();
    atomic_fetch_add(j->done, 1);
}

static void wait_busy(struct rx_pool *p, size_t n)
{
    for (int i = 0; i < 5000 && rx_pool_busy(p) != n; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(rx_pool_busy(p), n);
}

static void test_bounded_and_drained(void **state)
{
    (void)state;
    atomic_bool gate = false;
    atomic_int done = 0, aborted = 0;
    struct job j = {&gate, &done, &aborted};
    struct rx_pool *p = rx_pool_new(1, 2, run);
    assert_non_null(p);
    assert_true(rx_pool_running(p));
    assert_true(rx_pool_reserve(p));
    rx_pool_push(p, &j);
    wait_busy(p, 1);
    assert_true(rx_pool_reserve(p));
    assert_true(rx_pool_reserve(p));
    assert_false(rx_pool_reserve(p)); /* two slots, both held */
    rx_pool_push(p, &j);
    rx_pool_push(p, &j);
    assert_int_equal(rx_pool_depth(p), 2);
    assert_int_equal(rx_pool_capacity(p), 2);
    atomic_store(&gate, true);
    rx_pool_drain(p, rx_pool_now_ms() + 10000);
    assert_int_equal(atomic_load(&done), 3);
    assert_int_equal(atomic_load(&aborted), 0);
    assert_false(rx_pool_running(p));
    assert_false(rx_pool_reserve(p));
    rx_pool_free(p);
}

static void test_abort_at_deadline(void **state)
{
    (void)state;
    atomic_bool gate = false; /* never opens: only abort ends the jobs */
    atomic_int done = 0, aborted = 0;
    struct job j = {&gate, &done, &aborted};
    struct rx_pool *p = rx_pool_new(2, 4, run);
    for (int i = 0; i < 4; i++) {
        assert_true(rx_pool_reserve(p));
        rx_pool_push(p, &j);
    }
    int64_t t0 = rx_pool_now_ms();
    rx_pool_drain(p, t0 + 100);
    int64_t took = rx_pool_now_ms() - t0;
    assert_true(took >= 90 && took < 5000);
    assert_int_equal(atomic_load(&done), 4);
    assert_int_equal(atomic_load(&aborted), 4);
    rx_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounded_and_drained),
        cmocka_unit_test(test_abort_at_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
