/*
 * rules: the effective detection rules (SPEC section 1's list table, the
 * two regexes and the threshold): built-in defaults, a JSON rules file
 * that replaces any of them, validation, and a JSON rendering.
 *
 * Regexes are compiled (and JIT-compiled where PCRE2 supports it) once,
 * here. After loading, a struct rx_rules is read-only and may be shared by
 * every thread; the per-thread match data lives in struct rx_rule_scratch
 * (rule.h). No I/O: the caller reads the file and passes its text.
 */
#ifndef RX_RULES_H
#define RX_RULES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "error.h"

#define RX_LIST_MAP(X)                                                       \
    X(REPO_DOMAINS_NETWORK, "repo_domains_network")                          \
    X(REPO_DOMAINS_PUSH, "repo_domains_push")                                \
    X(REPO_API_HOSTS, "repo_api_hosts")                                      \
    X(NETWORK_IMAGES, "network_images")                                      \
    X(GIT_IMAGES, "git_images")                                              \
    X(UPLOAD_IMAGES, "upload_images")                                        \
    X(PUSH_MARKERS, "push_markers")                                          \
    X(UPLOAD_MARKERS, "upload_markers")

enum rx_list {
#define RX_LIST_ENUM(id, name) RX_L_##id,
    RX_LIST_MAP(RX_LIST_ENUM)
#undef RX_LIST_ENUM
        RX_L_COUNT
};

/* Caps on a rules file, so a rules file cannot make matching unbounded. */
#define RX_RULES_MAX_ITEMS 1024      /* entries in one list */
#define RX_RULES_MAX_ITEM_LEN 1024   /* bytes in one entry */
#define RX_RULES_MAX_REGEX_LEN 4096  /* bytes in one regex */
#define RX_RULES_MATCH_LIMIT 100000  /* PCRE2 match limit per match */
#define RX_RULES_DEPTH_LIMIT 10000   /* PCRE2 depth limit per match */

struct rx_strlist {
    size_t count;
    char **items; /* owned, as given (for display) */
    char **lower; /* owned, ASCII lower-cased; domains without final dot */
    size_t *lens; /* length of each lower[i] */
};

struct rx_rules {
    struct rx_strlist lists[RX_L_COUNT];
    char *ci_system_regex;      /* owned pattern text */
    char *known_ide_regex;      /* owned pattern text */
    pcre2_code *ci_code;        /* owned, compiled ci_system_regex */
    pcre2_code *ide_code;       /* owned, compiled known_ide_regex */
    int threshold;              /* alert when score >= threshold (1..3) */
};

/* Initializes r with SPEC section 1's defaults. Returns 0 (the defaults
 * always compile). Free with rx_rules_cleanup. */
int rx_rules_init_defaults(struct rx_rules *r) RX_WUR;

/* Replaces what the JSON rules text (text[0..len)) names. source names the
 * file in messages. On error r is unchanged and detail names the key and
 * the line:column where it stands. */
int rx_rules_load(struct rx_rules *r, const char *text, size_t len,
                  const char *source, struct rx_error_detail *detail) RX_WUR;

/* Sets the threshold after checking it is 1..3. */
int rx_rules_set_threshold(struct rx_rules *r, long threshold,
                           struct rx_error_detail *detail) RX_WUR;

/* Returns owned JSON of the effective rules, keys as in SPEC section 1. */
json_t *rx_rules_to_json(const struct rx_rules *r);

/* Returns the SPEC name of a list ("repo_domains_network", ...). */
const char *rx_rules_list_name(enum rx_list list);

void rx_rules_cleanup(struct rx_rules *r);

#endif
