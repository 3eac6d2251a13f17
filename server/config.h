/*
 * config: every setting of SPEC section 5, from flags and REPOEXFIL_*
 * environment variables (a flag wins over the environment), with safe
 * defaults, validated once with a message that names the setting.
 *
 * rx_config_parse reads the rules file (--rules) and applies --threshold,
 * so struct rx_config holds the effective rules too. It starts nothing (no
 * thread, socket or log level change): `serve` and `check-config` both
 * call it. After parsing, the struct is read-only and may be shared by
 * every thread. Secrets (tokens, HMAC secret, routing key, webhook URLs)
 * live here and must never be logged; rx_config_to_json redacts them.
 */
#ifndef RX_CONFIG_H
#define RX_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "dispatch.h"
#include "error.h"
#include "log.h"
#include "rules.h"

/* Caps on what settings may ask for. */
#define RX_CONFIG_MAX_WORKERS 256
#define RX_CONFIG_MAX_TOKENS 16
#define RX_CONFIG_MAX_TOKEN_LEN 1024
#define RX_CONFIG_MAX_RULES_FILE (4u << 20) /* bytes */

struct rx_config {
    char listen[128];                    /* --listen as given, for logs */
    struct sockaddr_storage listen_addr; /* parsed address and port */
    socklen_t listen_addr_len;           /* bytes used in listen_addr */
    unsigned workers;                    /* worker threads, 1..256 */
    size_t queue_depth;                  /* jobs waiting for a worker, >= 1 */
    int threshold;                       /* alert score, 1..3 (= rules') */
    char *rules_path;                    /* owned; NULL: built-in rules */
    size_t max_body_bytes;               /* bytes per request body */
    size_t max_events;                   /* events per request */
    char **api_tokens;                   /* owned array of owned tokens */
    size_t api_token_count;              /* entries in api_tokens */
    char *hmac_secret;                   /* owned; NULL: no signature check */
    bool allow_query_token;              /* accept ?token= on POST /events */
    int drain_seconds;                   /* shutdown deadline, seconds */
    enum rx_log_level log_level;         /* least level logged */
    unsigned max_connections;            /* open HTTP connections */
    unsigned connection_timeout;         /* idle seconds before closing */
    size_t connection_memory;            /* bytes MHD may use per connection
                                            (headers and read buffer) */
    unsigned job_timeout;                /* seconds a batch may wait + run */
    size_t inline_max_bytes;             /* bodies up to this many bytes are
                                            scored on the HTTP thread,
                                            sparing the hand-off to a worker
                                            (0: all go to workers) */
    struct rx_dispatch_config dispatch;  /* alert sinks (SPEC section 4) */
    struct rx_rules rules;               /* the effective rules */
};

/* Fills c with the defaults (built-in rules, no auth, no sinks). Free
 * with rx_config_cleanup. */
void rx_config_init(struct rx_config *c);

/* Reads REPOEXFIL_* variables, then argv[1..argc) (argv[0] is the
 * sub-command name and skipped): "--name value" or "--name=value"; a
 * boolean flag alone means true. Loads --rules, applies --threshold,
 * validates everything. Returns 0 or RX_EBADCONFIG / RX_EBADRULES /
 * RX_EIO with detail naming the setting. argv is borrowed. */
int rx_config_parse(struct rx_config *c, int argc, char **argv,
                    struct rx_error_detail *detail) RX_WUR;

/* Returns owned JSON of the effective settings, secrets shown only as
 * "set" (never their value), the rules under "rules". */
json_t *rx_config_to_json(const struct rx_config *c);

/* Prints the settings table (flag, environment variable, default). */
void rx_config_print_help(FILE *out);

void rx_config_cleanup(struct rx_config *c);

/* Parses "host:port", "[v6]:port" or ":port" (any address). Used by
 * healthcheck too. Returns 0 or RX_EBADCONFIG with detail. */
int rx_config_parse_listen(const char *text, struct sockaddr_storage *out,
                           socklen_t *len,
                           struct rx_error_detail *detail) RX_WUR;

#endif
