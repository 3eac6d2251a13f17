#include "rules.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static const char *const list_names[RX_L_COUNT] = {
#define RX_LIST_NAME(id, name) name,
    RX_LIST_MAP(RX_LIST_NAME)
#undef RX_LIST_NAME
};

/* SPEC section 1's defaults, exactly the seed query's lists. */
static const char *const def_repo_domains_network[] = {
    "github.com", "gitlab.com", "bitbucket.org", "dev.azure.com",
    "codeberg.org", "gist.github.com", NULL};
static const char *const def_repo_domains_push[] = {
    "github.com", "gitlab.com", "bitbucket.org", "dev.azure.com", NULL};
static const char *const def_repo_api_hosts[] = {
    "api.github.com", "api.gitlab.com", "gist.github.com", NULL};
static const char *const def_network_images[] = {
    "git.exe", "curl.exe", "wget.exe", "python.exe", "python3.exe",
    "powershell.exe", "pwsh.exe", "node.exe", "ruby.exe", NULL};
static const char *const def_git_images[] = {"git.exe", NULL};
static const char *const def_upload_images[] = {
    "curl.exe", "wget.exe", "python.exe", "python3.exe", "powershell.exe",
    "pwsh.exe", "node.exe", "ruby.exe", NULL};
static const char *const def_push_markers[] = {"push", NULL};
static const char *const def_upload_markers[] = {
    "-X PUT", "-X POST", "contents", "gists", "Invoke-RestMethod",
    "requests.put", "requests.post", "upload", NULL};

static const char *const *const def_lists[RX_L_COUNT] = {
    def_repo_domains_network, def_repo_domains_push, def_repo_api_hosts,
    def_network_images,       def_git_images,        def_upload_images,
    def_push_markers,         def_upload_markers};

static const char def_ci_regex[] =
    "jenkins|gitlab-runner|ci[-_]|build[-_]|deploy|devops|runner|bamboo|"
    "teamcity";
static const char def_ide_regex[] =
    "code\\.exe|idea64\\.exe|pycharm|devenv\\.exe|sourcetree|gitkraken|"
    "fork\\.exe|tower\\.exe";

const char *rx_rules_list_name(enum rx_list list)
{
    return (unsigned)list < RX_L_COUNT ? list_names[list] : "?";
}

static bool is_domain_list(enum rx_list l)
{
    return l == RX_L_REPO_DOMAINS_NETWORK;
}

static void strlist_cleanup(struct rx_strlist *sl)
{
    for (size_t i = 0; i < sl->count; i++) {
        free(sl->items[i]);
        free(sl->lower[i]);
    }
    free(sl->items);
    free(sl->lower);
    free(sl->lens);
    memset(sl, 0, sizeof(*sl));
}

/* Builds a list from count strings. Domain lists drop one final dot so
 * that "github.com." configured or seen matches "github.com". */
static void strlist_build(struct rx_strlist *sl, enum rx_list l,
                          const char *const *items, const size_t *lens,
                          size_t count)
{
    sl->count = count;
    sl->items = rx_xcalloc(count, sizeof(char *));
    sl->lower = rx_xcalloc(count, sizeof(char *));
    sl->lens = rx_xcalloc(count, sizeof(size_t));
    for (size_t i = 0; i < count; i++) {
        sl->items[i] = rx_xstrndup(items[i], lens[i]);
        size_t n = lens[i];
        if (is_domain_list(l) && n > 0 && items[i][n - 1] == '.')
            n--;
        sl->lower[i] = rx_xstrndup(items[i], n);
        for (size_t k = 0; k < n; k++)
            sl->lower[i][k] = (char)tolower((unsigned char)sl->lower[i][k]);
        sl->lens[i] = n;
    }
}

/* Compiles pattern caselessly and JIT-compiles it where supported. On
 * error returns NULL and writes PCRE2's message and offset. */
static pcre2_code *compile_regex(const char *pattern, size_t len,
                                 char *msg, size_t msgsize, size_t *offset)
{
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_CASELESS | PCRE2_UTF |
                      PCRE2_MATCH_INVALID_UTF, &errcode, &erroff, NULL);
    if (code == NULL) {
        pcre2_get_error_message(errcode, (PCRE2_UCHAR *)msg, msgsize);
        *offset = erroff;
        return NULL;
    }
    /* JIT is an optimization: where it is unavailable the interpreter runs
     * with the same match limits. */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    return code;
}

int rx_rules_init_defaults(struct rx_rules *r)
{
    memset(r, 0, sizeof(*r));
    for (int l = 0; l < RX_L_COUNT; l++) {
        size_t count = 0, lens[16];
        while (def_lists[l][count]) {
            lens[count] = strlen(def_lists[l][count]);
            count++;
        }
        strlist_build(&r->lists[l], (enum rx_list)l, def_lists[l], lens,
                      count);
    }
    char msg[256];
    size_t off;
    r->ci_system_regex = rx_xstrdup(def_ci_regex);
    r->known_ide_regex = rx_xstrdup(def_ide_regex);
    r->ci_code = compile_regex(def_ci_regex, strlen(def_ci_regex), msg,
                               sizeof(msg), &off);
    r->ide_code = compile_regex(def_ide_regex, strlen(def_ide_regex), msg,
                                sizeof(msg), &off);
    if (r->ci_code == NULL || r->ide_code == NULL)
        abort(); /* the built-in patterns are constants that compile */
    r->threshold = 2;
    return 0;
}

void rx_rules_cleanup(struct rx_rules *r)
{
    for (int l = 0; l < RX_L_COUNT; l++)
        strlist_cleanup(&r->lists[l]);
    free(r->ci_system_regex);
    free(r->known_ide_regex);
    pcre2_code_free(r->ci_code);
    pcre2_code_free(r->ide_code);
    memset(r, 0, sizeof(*r));
}

/* jansson keeps no positions for members, so the position of a key is
 * found in the text: the first occurrence of the quoted key. Good enough
 * to point a person at the right line of a small file. */
static void key_position(const char *text, size_t len, const char *key,
                         int *line, int *col)
{
    size_t klen = strlen(key);
    *line = 0;
    *col = 0;
    int l = 1, c = 1;
    for (size_t i = 0; i + klen + 2 <= len; i++) {
        if (text[i] == '"' && memcmp(text + i + 1, key, klen) == 0 &&
            text[i + 1 + klen] == '"') {
            *line = l;
            *col = c;
            return;
        }
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
}

static int key_error(struct rx_error_detail *d, const char *text, size_t len,
                     const char *source, const char *key, const char *what)
{
    int line, col;
    key_position(text, len, key, &line, &col);
    if (line)
        return rx_error_set(d, RX_EBADRULES, line, col, "%s:%d:%d: \"%s\": %s",
                            source, line, col, key, what);
    return rx_error_set(d, RX_EBADRULES, 0, 0, "%s: \"%s\": %s", source, key,
                        what);
}

int rx_rules_set_threshold(struct rx_rules *r, long threshold,
                           struct rx_error_detail *detail)
{
    if (threshold < 1 || threshold > 3)
        return rx_error_set(detail, RX_EBADRULES, 0, 0,
                            "threshold must be 1, 2 or 3 (scores are 0..3), "
                            "got %ld", threshold);
    r->threshold = (int)threshold;
    return 0;
}

int rx_rules_load(struct rx_rules *r, const char *text, size_t len,
                  const char *source, struct rx_error_detail *detail)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return rx_error_set(detail, RX_EBADRULES, jerr.line, jerr.column,
                            "%s:%d:%d: malformed JSON: %s", source, jerr.line,
                            jerr.column, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return rx_error_set(detail, RX_EBADRULES, 1, 1,
                            "%s: the rules file must be a JSON object", source);
    }

    /* Validate everything into a new rules value first, so a bad file
     * leaves r untouched. */
    struct rx_rules next;
    memset(&next, 0, sizeof(next));
    next.threshold = r->threshold;
    bool set_list[RX_L_COUNT] = {false};
    int rc = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        int l;
        for (l = 0; l < RX_L_COUNT; l++)
            if (strcmp(key, list_names[l]) == 0)
                break;
        if (l < RX_L_COUNT) {
            if (!json_is_array(val)) {
                rc = key_error(detail, text, len, source, key,
                               "must be an array of strings");
                break;
            }
            size_t n = json_array_size(val);
            if (n == 0 || n > RX_RULES_MAX_ITEMS) {
                rc = key_error(detail, text, len, source, key,
                               n == 0 ? "must not be empty"
                                      : "has too many entries (max 1024)");
                break;
            }
            const char **items = rx_xcalloc(n, sizeof(char *));
            size_t *lens = rx_xcalloc(n, sizeof(size_t));
            for (size_t i = 0; i < n && rc == 0; i++) {
                json_t *it = json_array_get(val, i);
                char what[96];
                if (!json_is_string(it)) {
                    snprintf(what, sizeof(what),
                             "entry %zu must be a string", i);
                    rc = key_error(detail, text, len, source, key, what);
                } else if (json_string_length(it) == 0 ||
                           json_string_length(it) > RX_RULES_MAX_ITEM_LEN ||
                           strlen(json_string_value(it)) !=
                               json_string_length(it)) {
                    snprintf(what, sizeof(what),
                             "entry %zu must be a non-empty string of at most "
                             "1024 bytes without NUL", i);
                    rc = key_error(detail, text, len, source, key, what);
                } else {
                    items[i] = json_string_value(it);
                    lens[i] = json_string_length(it);
                }
            }
            if (rc == 0) {
                strlist_build(&next.lists[l], (enum rx_list)l, items, lens, n);
                set_list[l] = true;
            }
            free(items);
            free(lens);
            if (rc)
                break;
        } else if (strcmp(key, "ci_system_regex") == 0 ||
                   strcmp(key, "known_ide_regex") == 0) {
            bool ci = key[0] == 'c';
            if (!json_is_string(val) || json_string_length(val) == 0 ||
                json_string_length(val) > RX_RULES_MAX_REGEX_LEN) {
                rc = key_error(detail, text, len, source, key,
                               "must be a non-empty string (a PCRE2 regex) "
                               "of at most 4096 bytes");
                break;
            }
            char msg[256], what[400];
            size_t off = 0;
            pcre2_code *code =
                compile_regex(json_string_value(val), json_string_length(val),
                              msg, sizeof(msg), &off);
            if (code == NULL) {
                snprintf(what, sizeof(what), "bad regex at offset %zu: %s",
                         off, msg);
                rc = key_error(detail, text, len, source, key, what);
                break;
            }
            char *copy = rx_xstrndup(json_string_value(val),
                                     json_string_length(val));
            if (ci) {
                pcre2_code_free(next.ci_code);
                free(next.ci_system_regex);
                next.ci_code = code;
                next.ci_system_regex = copy;
            } else {
                pcre2_code_free(next.ide_code);
                free(next.known_ide_regex);
                next.ide_code = code;
                next.known_ide_regex = copy;
            }
        } else if (strcmp(key, "threshold") == 0) {
            if (!json_is_integer(val) || json_integer_value(val) < 1 ||
                json_integer_value(val) > 3) {
                rc = key_error(detail, text, len, source, key,
                               "must be the integer 1, 2 or 3");
                break;
            }
            next.threshold = (int)json_integer_value(val);
        } else {
            rc = key_error(detail, text, len, source, key,
                           "unknown key (known: repo_domains_network, "
                           "repo_domains_push, repo_api_hosts, "
                           "network_images, git_images, upload_images, "
                           "push_markers, upload_markers, ci_system_regex, "
                           "known_ide_regex, threshold)");
            break;
        }
    }
    json_decref(root);
    if (rc) {
        rx_rules_cleanup(&next);
        return rc;
    }
    /* Commit: move what the file set into r. */
    for (int l = 0; l < RX_L_COUNT; l++) {
        if (set_list[l]) {
            strlist_cleanup(&r->lists[l]);
            r->lists[l] = next.lists[l];
        }
    }
    if (next.ci_code) {
        pcre2_code_free(r->ci_code);
        free(r->ci_system_regex);
        r->ci_code = next.ci_code;
        r->ci_system_regex = next.ci_system_regex;
    }
    if (next.ide_code) {
        pcre2_code_free(r->ide_code);
        free(r->known_ide_regex);
        r->ide_code = next.ide_code;
        r->known_ide_regex = next.known_ide_regex;
    }
    r->threshold = next.threshold;
    return 0;
}

json_t *rx_rules_to_json(const struct rx_rules *r)
{
    json_t *o = json_object();
    for (int l = 0; l < RX_L_COUNT; l++) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->lists[l].count; i++)
            json_array_append_new(a, json_string(r->lists[l].items[i]));
        json_object_set_new(o, list_names[l], a);
    }
    json_object_set_new(o, "ci_system_regex",
                        json_string(r->ci_system_regex));
    json_object_set_new(o, "known_ide_regex",
                        json_string(r->known_ide_regex));
    json_object_set_new(o, "threshold", json_integer(r->threshold));
    return o;
}
