/* Unit tests of server/metrics.c: counters, the cumulative histogram and
 * the exposition text. (promtool checks the real /metrics in
 * tests/integration/test_http_routes.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static void test_exposition(void **state)
{
    (void)state;
    struct rx_metrics *m = rx_metrics_new();
    rx_metrics_request_done(m, RX_ROUTE_EVENTS, 200, 0.0004);
    rx_metrics_request_done(m, RX_ROUTE_EVENTS, 200, 0.3);
    rx_metrics_request_done(m, RX_ROUTE_EVENTS, 413, 99.0);
    rx_metrics_request_done(m, RX_ROUTE_OTHER, 404, 0.001);
    rx_metrics_in_flight_add(m, 2);
    rx_metrics_in_flight_add(m, -1);
    size_t by_signal[RX_SIG_COUNT] = {0};
    size_t by_score[4] = {0, 0, 1, 2};
    by_signal[RX_SIG_GITPUSH] = 2;
    by_signal[RX_SIG_NETWORK] = 1;
    rx_metrics_batch_done(m, 10, 3, by_signal, by_score);
    struct rx_metrics_gauges g = {4, 64, 1, 2, 1};
    struct rx_buf out;
    rx_buf_init(&out, 1 << 20);
    assert_int_equal(rx_metrics_write(m, &g, &out), 0);
    const char *want[] = {
        "repoexfil_http_requests_total{route=\"/events\",code=\"200\"} 2\n",
        "repoexfil_http_requests_total{route=\"/events\",code=\"413\"} 1\n",
        "repoexfil_http_requests_total{route=\"other\",code=\"404\"} 1\n",
        "repoexfil_http_request_duration_seconds_bucket{route=\"/events\","
        "le=\"0.001\"} 1\n",
        "repoexfil_http_request_duration_seconds_bucket{route=\"/events\","
        "le=\"0.5\"} 2\n",
        "repoexfil_http_request_duration_seconds_bucket{route=\"/events\","
        "le=\"30\"} 2\n",
        "repoexfil_http_request_duration_seconds_bucket{route=\"/events\","
        "le=\"+Inf\"} 3\n",
        "repoexfil_http_request_duration_seconds_count{route=\"/events\"} "
        "3\n",
        "repoexfil_http_requests_in_flight 1\n",
        "repoexfil_events_received_total 10\n",
        "repoexfil_events_evaluated_total 7\n",
        "repoexfil_event_errors_total 3\n",
        "repoexfil_alerts_total{signal=\"GitPushToExternalRepo\"} 2\n",
        "repoexfil_alerts_by_score_total{score=\"3\"} 2\n",
        "repoexfil_worker_queue_depth 4\n",
        "repoexfil_build_info{version=\"",
        "# TYPE repoexfil_http_request_duration_seconds histogram\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(out.data, want[i]))
            fail_msg("missing: %s\nin:\n%s", want[i], out.data);
    /* A route with no request writes no histogram. */
    assert_null(strstr(out.data, "duration_seconds_count{route=\"/rules\"}"));
    rx_buf_cleanup(&out);
    /* A full buffer is an error, not a cut exposition. */
    rx_buf_init(&out, 100);
    assert_int_equal(rx_metrics_write(m, &g, &out), RX_ETOOBIG);
    rx_buf_cleanup(&out);
    rx_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
