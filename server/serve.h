/*
 * serve: the `serve` and `healthcheck` sub-commands.
 *
 * rx_serve_main parses the settings, builds the one struct rx_app, starts
 * the dispatcher, the worker pool and the HTTP daemon, waits for SIGTERM
 * or SIGINT with sigwait (the signals are blocked before any thread
 * starts, so no work happens in a signal handler), then drains: /readyz
 * turns 503, no new connections, in-flight batches finish and are
 * answered, every suspended connection is resumed, the daemon stops and
 * the dispatcher drains its queue. Exit status 0 after a clean drain, 1
 * when start-up fails, 2 on a configuration error.
 *
 * rx_healthcheck_main asks the local /healthz over a plain socket.
 */
#ifndef RX_SERVE_H
#define RX_SERVE_H

/* argv[0] is "serve" (or the program name when no sub-command was
 * given). --help prints the settings table. Returns the process exit
 * status. */
int rx_serve_main(int argc, char **argv);

/* argv[0] is "healthcheck". Flags: --listen (or REPOEXFIL_LISTEN), the
 * address the service listens on (0.0.0.0 and :: are asked on loopback),
 * and --timeout seconds (default 5). Returns 0 when /healthz answers 200,
 * else 1 (2 on a bad flag). */
int rx_healthcheck_main(int argc, char **argv);

#endif
