/*
 * The table-driven detection test: every case of tests/data/cases/ (each .json file)
 * (format in that folder's README) through ingest -> rule -> answer.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "batch.h"
#include "buf.h"
#include "ingest.h"
#include "rule.h"
#include "rules.h"

static const char *const error_names[] = {
    [-RX_EBADJSON] = "BADJSON", [-RX_EBADXML] = "BADXML",
    [-RX_EBADBODY] = "BADBODY", [-RX_ETOOBIG] = "TOOBIG",
    [-RX_ETOOMANY] = "TOOMANY", [-RX_EBADTYPE] = "BADTYPE",
    [-RX_EEMPTY] = "EMPTY",
};

static int failures;

static void fail_case(const char *file, const char *name, const char *fmt,
                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s: %s: ", file, name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    failures++;
}

/* Every member of want must equal the same member of got. */
static int subset_mismatch(json_t *want, json_t *got, const char **key)
{
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v)
    {
        json_t *g = json_object_get(got, k);
        if (strcmp(k, "error") == 0 && json_is_true(v)) {
            if (!json_is_string(g)) {
                *key = k;
                return 1;
            }
            continue;
        }
        if (g == NULL || !json_equal(v, g)) {
            *key = k;
            return 1;
        }
    }
    return 0;
}

static void check_list(const char *file, const char *name, const char *what,
                       json_t *want, json_t *got)
{
    if (want == NULL)
        return;
    if (!json_is_array(got) || json_array_size(got) != json_array_size(want)) {
        fail_case(file, name, "%s: want %zu entries, got %zu", what,
                  json_array_size(want), json_array_size(got));
        return;
    }
    for (size_t i = 0; i < json_array_size(want); i++) {
        const char *key = NULL;
        if (subset_mismatch(json_array_get(want, i), json_array_get(got, i),
                            &key)) {
            char *w = json_dumps(json_array_get(want, i), JSON_COMPACT);
            char *g = json_dumps(json_array_get(got, i), JSON_COMPACT);
            fail_case(file, name, "%s[%zu].%s: want %s, got %s", what, i, key,
                      w, g);
            free(w);
            free(g);
        }
    }
}

static void run_case(const char *file, json_t *c, struct rx_ingest *in,
                     struct rx_rule_scratch *scratch)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    if (name == NULL) {
        fail_case(file, "?", "case without a name");
        return;
    }
    struct rx_rules rules;
    assert_int_equal(rx_rules_init_defaults(&rules), 0);
    json_t *over = json_object_get(c, "rules");
    if (over) {
        char *text = json_dumps(over, JSON_COMPACT);
        struct rx_error_detail d;
        if (rx_rules_load(&rules, text, strlen(text), "case", &d) != 0)
            fail_case(file, name, "rules rejected: %s", d.message);
        free(text);
    }
    char *body;
    size_t len;
    json_t *bt = json_object_get(c, "body_text");
    if (json_is_string(bt)) {
        len = json_string_length(bt);
        body = malloc(len + 1);
        memcpy(body, json_string_value(bt), len + 1);
    } else {
        body = json_dumps(json_object_get(c, "body"),
                          JSON_COMPACT | JSON_ENCODE_ANY);
        len = body ? strlen(body) : 0;
    }
    const char *ct = json_string_value(json_object_get(c, "content_type"));
    struct rx_batch *b = rx_batch_new(&rules, scratch, 0);
    struct rx_error_detail d = {{0}, 0, 0};
    int rc = rx_ingest_body(in, body ? body : "", len,
                            rx_ingest_content_type(ct), 0, rx_batch_add, b,
                            &d);
    const char *want_err =
        json_string_value(json_object_get(c, "batch_error"));
    if (want_err) {
        const char *got = rc < 0 && -rc < (int)(sizeof(error_names) /
                                                sizeof(error_names[0]))
                              ? error_names[-rc]
                              : "none";
        if (got == NULL || strcmp(got, want_err) != 0)
            fail_case(file, name, "batch_error: want %s, got %s (%s)",
                      want_err, got ? got : "?", d.message);
    } else if (rc != 0) {
        fail_case(file, name, "body rejected: %s (%s)", rx_strerror(rc),
                  d.message);
    } else {
        struct rx_buf out;
        rx_buf_init(&out, 0);
        assert_int_equal(rx_batch_write_answer(b, NULL, true, &out), 0);
        json_error_t jerr;
        json_t *ans = json_loadb(out.data, out.len, 0, &jerr);
        if (ans == NULL) {
            fail_case(file, name, "answer is not JSON: %s", jerr.text);
        } else {
            const char *key = NULL;
            json_t *expect = json_object_get(c, "expect");
            if (expect && subset_mismatch(expect, ans, &key)) {
                char *g = json_dumps(json_object_get(ans, key),
                                     JSON_ENCODE_ANY);
                fail_case(file, name, "expect.%s: got %s", key, g);
                free(g);
            }
            check_list(file, name, "results", json_object_get(c, "results"),
                       json_object_get(ans, "results"));
            check_list(file, name, "alerts", json_object_get(c, "alerts"),
                       json_object_get(ans, "alerts"));
            json_decref(ans);
        }
        rx_buf_cleanup(&out);
    }
    rx_batch_free(b);
    free(body);
    rx_rules_cleanup(&rules);
}

static void test_all_cases(void **state)
{
    (void)state;
    const char *dir = RX_TEST_DATA "/cases";
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    struct rx_ingest *in = rx_ingest_new();
    struct rx_rule_scratch *scratch = rx_rule_scratch_new();
    struct dirent *de;
    int files = 0, cases = 0;
    while ((de = readdir(dp)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        json_error_t jerr;
        json_t *list = json_load_file(path, 0, &jerr);
        if (!json_is_array(list)) {
            fail_case(de->d_name, "-", "not a JSON array: %s", jerr.text);
            json_decref(list);
            continue;
        }
        files++;
        size_t i;
        json_t *c;
        json_array_foreach(list, i, c)
        {
            run_case(de->d_name, c, in, scratch);
            cases++;
        }
        json_decref(list);
    }
    closedir(dp);
    rx_ingest_free(in);
    rx_rule_scratch_free(scratch);
    fprintf(stderr, "%d cases in %d files, %d failures\n", cases, files,
            failures);
    assert_true(files > 0);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
