/*
 * scan: the `repoexfil scan` and `repoexfil check-config` sub-commands.
 *
 * scan reads events from files (JSON, NDJSON or XML, gzip-compressed or
 * not) or stdin, scores them as one batch and prints the same answer as
 * POST /events. It never notifies anyone.
 */
#ifndef RX_SCAN_H
#define RX_SCAN_H

/* argv[0] is "scan". Returns the exit status: 0, 1 (--fail-on-alert and
 * an alert fired) or 2 (usage or unreadable input). */
int rx_scan_main(int argc, char **argv);

/* argv[0] is "check-config". Returns 0 when the configuration and rules
 * are valid (and prints the effective rules), else 2 with a message. */
int rx_check_config_main(int argc, char **argv);

#endif
