#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "app.h"
#include "build_info.h"
#include "config.h"
#include "http.h"
#include "log.h"

static void log_config_error(const struct rx_error_detail *d)
{
    char msg[4096];
    rx_log(RX_LOG_ERROR, "invalid configuration", "\"error\":%s",
           rx_log_str(msg, sizeof(msg), d->message));
}

int rx_serve_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: repoexfil [serve] [--SETTING VALUE | "
                   "--SETTING=VALUE]...\n\n"
                   "Runs the HTTP service (README: \"The HTTP service\"). "
                   "Every setting is also\nan environment variable; a flag "
                   "wins over it.\n\n");
            rx_config_print_help(stdout);
            return 0;
        }
    }

    /* Process-wide set-up, before any thread starts: every thread
     * inherits this mask, so SIGTERM and SIGINT reach only sigwait below.
     * (main() has ignored SIGPIPE and initialized libcurl.) */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    struct rx_config config;
    struct rx_error_detail detail;
    memset(&detail, 0, sizeof(detail));
    rx_config_init(&config);
    if (rx_config_parse(&config, argc, argv, &detail) != 0) {
        log_config_error(&detail);
        rx_config_cleanup(&config);
        return 2;
    }
    rx_log_set_level(config.log_level);

    struct rx_app app = {.config = &config};
    atomic_init(&app.state, RX_APP_STARTING);
    app.metrics = rx_metrics_new();
    int status = 1;
    int64_t t0 = 0; /* when the drain began */
    struct rx_http *http = NULL;
    app.dispatcher = rx_dispatcher_start(&config.dispatch);
    if (!app.dispatcher) {
        rx_log(RX_LOG_ERROR, "cannot start the alert dispatcher", NULL);
        goto out;
    }
    app.pool = rx_pool_new(config.workers, config.queue_depth, rx_http_run_job);
    if (!app.pool)
        goto out;
    http = rx_http_start(&app, &detail);
    if (!http) {
        char msg[600];
        rx_log(RX_LOG_ERROR, "cannot start the HTTP server", "\"error\":%s",
               rx_log_str(msg, sizeof(msg), detail.message));
        goto out;
    }
    atomic_store(&app.state, RX_APP_READY);
    char listen[200];
    rx_log(RX_LOG_INFO, "listening",
           "\"port\":%u,\"listen\":%s,\"workers\":%u,\"queue_depth\":%zu,"
           "\"version\":\"%s\",\"auth\":%s",
           rx_http_port(http),
           rx_log_str(listen, sizeof(listen), config.listen), config.workers,
           config.queue_depth, RX_VERSION,
           (config.api_token_count || config.hmac_secret) ? "true" : "false");

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    rx_log(RX_LOG_INFO, "draining", "\"signal\":\"%s\",\"drain_seconds\":%d",
           sig == SIGTERM ? "SIGTERM" : "SIGINT", config.drain_seconds);

    /* Drain. New batches are refused (503) and /readyz says draining;
     * requests admitted before (even those still uploading) are queued,
     * evaluated and answered. Jobs still running one second before the
     * deadline are told to give up, so their connections are resumed and
     * answered (503) before the daemon stops: MHD_stop_daemon must never
     * meet a suspended connection. */
    t0 = rx_pool_now_ms();
    int64_t deadline = t0 + (int64_t)config.drain_seconds * 1000;
    atomic_store(&app.state, RX_APP_DRAINING);
    rx_http_quiesce(http);
    rx_http_wait_idle(http, deadline - 1000);
    rx_pool_drain(app.pool, deadline - 1000);
    long left = rx_http_wait_idle(http, deadline);
    if (left > 0)
        rx_log(RX_LOG_WARN, "drain deadline reached", "\"in_flight\":%ld",
               left);
    rx_http_stop(http);
    http = NULL;
    status = 0;
out:
    rx_http_stop(http);
    if (app.pool) {
        rx_pool_drain(app.pool, 0);
        rx_pool_free(app.pool);
    }
    if (app.dispatcher)
        rx_dispatcher_stop(app.dispatcher);
    if (status == 0)
        rx_log(RX_LOG_INFO, "stopped", "\"drain_ms\":%ld",
               (long)(rx_pool_now_ms() - t0));
    rx_metrics_free(app.metrics);
    rx_config_cleanup(&config);
    return status;
}

int rx_healthcheck_main(int argc, char **argv)
{
    const char *listen = getenv("REPOEXFIL_LISTEN");
    if (!listen || !*listen)
        listen = "0.0.0.0:8080";
    long timeout = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (strncmp(a, "--listen=", 9) == 0)
            listen = a + 9;
        else if (strcmp(a, "--listen") == 0 && i + 1 < argc)
            listen = argv[++i];
        else if (strncmp(a, "--timeout=", 10) == 0)
            v = a + 10;
        else if (strcmp(a, "--timeout") == 0 && i + 1 < argc)
            v = argv[++i];
        else {
            fprintf(stderr, "repoexfil healthcheck: unknown argument %s\n", a);
            return 2;
        }
        if (v) {
            char *end;
            timeout = strtol(v, &end, 10);
            if (*end || timeout < 1 || timeout > 300) {
                fprintf(stderr, "repoexfil healthcheck: --timeout must be "
                                "1..300 seconds\n");
                return 2;
            }
        }
    }
    struct sockaddr_storage sa;
    socklen_t len;
    struct rx_error_detail d;
    if (rx_config_parse_listen(listen, &sa, &len, &d) != 0) {
        fprintf(stderr, "repoexfil healthcheck: --listen: %s\n", d.message);
        return 2;
    }
    /* A wildcard address is asked on loopback. */
    if (sa.ss_family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&sa;
        if (v4->sin_addr.s_addr == htonl(INADDR_ANY))
            v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (v4->sin_port == 0)
            goto noport;
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&sa;
        if (memcmp(&v6->sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0)
            v6->sin6_addr = in6addr_loopback;
        if (v6->sin6_port == 0)
            goto noport;
    }
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("repoexfil healthcheck: socket");
        return 1;
    }
    struct timeval tv = {timeout, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, len) != 0) {
        fprintf(stderr, "repoexfil healthcheck: cannot connect: %s\n",
                strerror(errno));
        close(fd);
        return 1;
    }
    static const char req[] = "GET /healthz HTTP/1.0\r\nHost: localhost\r\n"
                              "Connection: close\r\n\r\n";
    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) !=
        (ssize_t)(sizeof(req) - 1)) {
        fprintf(stderr, "repoexfil healthcheck: cannot send\n");
        close(fd);
        return 1;
    }
    char buf[64];
    size_t got = 0;
    while (got < sizeof(buf) - 1) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    int code = 0;
    if (sscanf(buf, "HTTP/%*d.%*d %d", &code) == 1 && code == 200) {
        printf("ok\n");
        return 0;
    }
    fprintf(stderr, "repoexfil healthcheck: /healthz answered %d\n", code);
    return 1;
noport:
    fprintf(stderr, "repoexfil healthcheck: --listen needs a real port\n");
    return 2;
}
