#include "rule.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static const char *const signal_names[RX_SIG_COUNT] = {
#define RX_SIGNAL_NAME(id, name) name,
    RX_SIGNAL_MAP(RX_SIGNAL_NAME)
#undef RX_SIGNAL_NAME
};

struct rx_rule_scratch {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
};

const char *rx_signal_name(int signal)
{
    return signal >= 0 && signal < RX_SIG_COUNT ? signal_names[signal] : NULL;
}

struct rx_rule_scratch *rx_rule_scratch_new(void)
{
    struct rx_rule_scratch *s = rx_xcalloc(1, sizeof(*s));
    /* One ovector pair is enough: the rule only asks whether it matches. */
    s->md = pcre2_match_data_create(1, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    if (s->md == NULL || s->mctx == NULL)
        abort();
    pcre2_set_match_limit(s->mctx, RX_RULES_MATCH_LIMIT);
    pcre2_set_depth_limit(s->mctx, RX_RULES_DEPTH_LIMIT);
    return s;
}

void rx_rule_scratch_free(struct rx_rule_scratch *s)
{
    if (s == NULL)
        return;
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    free(s);
}

static inline unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

bool rx_rule_contains(struct rx_str hay, const char *needle, size_t nlen)
{
    if (nlen == 0 || hay.n < nlen)
        return false;
    const unsigned char *h = (const unsigned char *)hay.p;
    const unsigned char *nd = (const unsigned char *)needle;
    unsigned char first = nd[0];
    size_t last = hay.n - nlen;
    for (size_t i = 0; i <= last; i++) {
        if (lower(h[i]) != first)
            continue;
        size_t k = 1;
        while (k < nlen && lower(h[i + k]) == nd[k])
            k++;
        if (k == nlen)
            return true;
    }
    return false;
}

static bool equal_ci(const char *a, const char *lower_b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != (unsigned char)lower_b[i])
            return false;
    return true;
}

bool rx_rule_host_in_domain(struct rx_str host, const char *domain,
                            size_t dlen)
{
    size_t n = host.n;
    if (n > 0 && host.p[n - 1] == '.')
        n--;
    if (dlen == 0 || n < dlen)
        return false;
    if (!equal_ci(host.p + n - dlen, domain, dlen))
        return false;
    return n == dlen || host.p[n - dlen - 1] == '.';
}

struct rx_str rx_rule_file_name(struct rx_str image)
{
    if (image.n == 0) {
        struct rx_str none = {NULL, 0};
        return none;
    }
    size_t i = image.n;
    while (i > 0 && image.p[i - 1] != '\\' && image.p[i - 1] != '/')
        i--;
    struct rx_str out = {image.p + i, image.n - i};
    return out;
}

static bool name_in(struct rx_str name, const struct rx_strlist *l)
{
    if (name.n == 0)
        return false;
    for (size_t i = 0; i < l->count; i++)
        if (l->lens[i] == name.n && equal_ci(name.p, l->lower[i], name.n))
            return true;
    return false;
}

static bool contains_any(struct rx_str hay, const struct rx_strlist *l)
{
    if (hay.n == 0)
        return false;
    for (size_t i = 0; i < l->count; i++)
        if (rx_rule_contains(hay, l->lower[i], l->lens[i]))
            return true;
    return false;
}

static bool host_in_any(struct rx_str host, const struct rx_strlist *l)
{
    if (host.n == 0)
        return false;
    for (size_t i = 0; i < l->count; i++)
        if (rx_rule_host_in_domain(host, l->lower[i], l->lens[i]))
            return true;
    return false;
}

/* A failed match, including one stopped by the match limit, counts as no
 * match: a pathological configured pattern must not stall a worker. */
static bool regex_search(const pcre2_code *code, struct rx_rule_scratch *s,
                         struct rx_str subject)
{
    if (subject.n == 0)
        return false;
    int rc = pcre2_match(code, (PCRE2_SPTR)subject.p, subject.n, 0, 0, s->md,
                         s->mctx);
    return rc >= 0;
}

void rx_rule_evaluate(const struct rx_rules *rules,
                      struct rx_rule_scratch *scratch,
                      const struct rx_event_view *v, struct rx_verdict *out)
{
    memset(out, 0, sizeof(*out));
    out->signal = -1;
    out->is_ci_system = regex_search(rules->ci_code, scratch,
                                     v->f[RX_F_COMPUTER]);
    out->is_known_ide = regex_search(rules->ide_code, scratch,
                                     v->f[RX_F_PARENT_IMAGE]);

    /* The provider gate: an event that names a provider or channel other
     * than Sysmon is not Sysmon telemetry (the query's _sourceCategory). */
    struct rx_str prov = v->f[RX_F_PROVIDER];
    bool gated = prov.n > 0 && !rx_rule_contains(prov, "sysmon", 6);

    if (!gated && (v->event_id == 1 || v->event_id == 3)) {
        struct rx_str file = rx_rule_file_name(v->f[RX_F_IMAGE]);
        const struct rx_strlist *L = rules->lists;
        struct rx_str cmd = v->f[RX_F_COMMAND_LINE];
        if (v->event_id == 3) {
            if (host_in_any(v->f[RX_F_DEST_HOST],
                            &L[RX_L_REPO_DOMAINS_NETWORK]) &&
                name_in(file, &L[RX_L_NETWORK_IMAGES]))
                out->signals |= 1u << RX_SIG_NETWORK;
        } else {
            if (name_in(file, &L[RX_L_GIT_IMAGES]) &&
                contains_any(cmd, &L[RX_L_PUSH_MARKERS]) &&
                contains_any(cmd, &L[RX_L_REPO_DOMAINS_PUSH]))
                out->signals |= 1u << RX_SIG_GITPUSH;
            if (name_in(file, &L[RX_L_UPLOAD_IMAGES]) &&
                contains_any(cmd, &L[RX_L_REPO_API_HOSTS]) &&
                contains_any(cmd, &L[RX_L_UPLOAD_MARKERS]))
                out->signals |= 1u << RX_SIG_APIUPLOAD;
        }
    }

    /* The query's nested if: CI scores 0; otherwise push and upload score
     * 3, a network connection 1 from a known IDE and 2 otherwise. The
     * first signal (table order) holding the top score names the event. */
    for (int sig = 0; sig < RX_SIG_COUNT; sig++) {
        if (!(out->signals & (1u << sig)))
            continue;
        int score;
        if (out->is_ci_system)
            score = 0;
        else if (sig == RX_SIG_NETWORK)
            score = out->is_known_ide ? 1 : 2;
        else
            score = 3;
        if (out->signal < 0 || score > out->score) {
            out->score = score;
            out->signal = sig;
        }
    }
    out->alert = out->score >= rules->threshold;
}
