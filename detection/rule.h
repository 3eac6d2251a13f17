/*
 * rule: scores one event (SPEC section 1). Takes a flat view of the event
 * and knows nothing of JSON or XML.
 *
 * Thread-safety: rules are shared read-only; each thread owns one
 * struct rx_rule_scratch (PCRE2 match data and match context) and passes
 * it to every call. Nothing is allocated per event.
 */
#ifndef RX_RULE_H
#define RX_RULE_H

#include <stdbool.h>

#include "event.h"
#include "rules.h"

#define RX_SIGNAL_MAP(X)                                                     \
    X(NETWORK, "NetworkConnectionToCodeRepo")                                \
    X(GITPUSH, "GitPushToExternalRepo")                                      \
    X(APIUPLOAD, "CodeRepoAPIUpload")

enum rx_signal {
#define RX_SIGNAL_ENUM(id, name) RX_SIG_##id,
    RX_SIGNAL_MAP(RX_SIGNAL_ENUM)
#undef RX_SIGNAL_ENUM
        RX_SIG_COUNT
};

struct rx_verdict {
    int score;         /* 0..3 */
    int signal;        /* enum rx_signal, or -1 when no signal fired */
    unsigned signals;  /* bit (1u << sig) per fired signal */
    bool is_ci_system;
    bool is_known_ide;
    bool alert;        /* score >= rules->threshold */
};

struct rx_rule_scratch;

/* Returns an owned scratch for one thread (free with
 * rx_rule_scratch_free). */
struct rx_rule_scratch *rx_rule_scratch_new(void);
void rx_rule_scratch_free(struct rx_rule_scratch *s);

/* Scores v. Borrows everything; writes *out. */
void rx_rule_evaluate(const struct rx_rules *rules,
                      struct rx_rule_scratch *scratch,
                      const struct rx_event_view *v, struct rx_verdict *out);

/* Returns the SPEC name of a signal. */
const char *rx_signal_name(int signal);

/* Helpers the rule is made of, public so tests can pin their semantics. */
/* ASCII case-insensitive: does hay contain needle (needle lower-case)? */
bool rx_rule_contains(struct rx_str hay, const char *needle_lower,
                      size_t needle_len);
/* Is host equal to domain or a subdomain of it (one final dot ignored)? */
bool rx_rule_host_in_domain(struct rx_str host, const char *domain_lower,
                            size_t domain_len);
/* The part of an image path after the last '\' or '/'. */
struct rx_str rx_rule_file_name(struct rx_str image);

#endif
