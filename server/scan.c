#include "scan.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "batch.h"
#include "buf.h"
#include "config.h"
#include "ingest.h"
#include "rule.h"
#include "rules.h"
#include "xalloc.h"

/* Caps for one input: a whole-document file (JSON array, XML) is read
 * into memory, so it gets a limit; NDJSON streams line by line. */
#define SCAN_MAX_DOCUMENT (1u << 30) /* bytes */
#define SCAN_MAX_LINE (256u << 20)   /* bytes in one NDJSON line */
#define SCAN_PROGRESS_EVERY 20000    /* events between progress lines */

static const char scan_usage[] =
    "usage: repoexfil scan [--rules FILE] [--threshold N] [--view alerts]\n"
    "                      [--fail-on-alert] [FILE|-]...\n"
    "\n"
    "Scores the events in the files (JSON, NDJSON or Windows Event XML,\n"
    "gzip-compressed or not; '-' or no file reads stdin) as one batch and\n"
    "prints the answer of POST /events. Never notifies anyone.\n"
    "\n"
    "  --rules FILE      rules file (JSON) replacing built-in lists\n"
    "  --threshold N     alert when score >= N (1..3; default 2)\n"
    "  --view alerts     leave \"results\" out of the answer\n"
    "  --fail-on-alert   exit 1 when an alert fired\n"
    "\n"
    "Exit status: 0; 1 with --fail-on-alert when an alert fired; 2 on a\n"
    "usage error or unreadable input.\n";

struct scan_state {
    struct rx_ingest *ingest;
    struct rx_batch *batch;
    bool progress;      /* stderr is a terminal */
    size_t next_report; /* event count of the next progress line */
};

/* Wraps rx_batch_add to show progress on long scans. */
static int scan_event(void *ctx, const struct rx_event_view *view,
                      const char *error)
{
    struct scan_state *st = ctx;
    int rc = rx_batch_add(st->batch, view, error);
    if (st->progress && rx_batch_received(st->batch) >= st->next_report) {
        fprintf(stderr, "\rscanned %zu events, %zu alerts",
                rx_batch_received(st->batch),
                rx_batch_alert_count(st->batch));
        st->next_report += SCAN_PROGRESS_EVERY;
    }
    return rc;
}

/* A buffered reader over a (possibly gzip) file. Lines are found with
 * memchr, so a NUL byte is data like any other, and lines are handed out
 * as slices of the buffer: nothing is copied per line. */
struct reader {
    gzFile gz;
    struct rx_buf buf; /* capped at SCAN_MAX_LINE + one read */
    size_t pos;        /* first byte not yet handed out */
    bool eof;
};

#define READ_CHUNK 65536

/* Reads more input after what is buffered, dropping what was handed out.
 * Returns false at the end of the input (or a read error, which
 * gzerror reports). */
static bool fill(struct reader *r)
{
    if (r->eof)
        return false;
    if (r->pos > 0) {
        memmove(r->buf.data, r->buf.data + r->pos, r->buf.len - r->pos);
        r->buf.len -= r->pos;
        r->pos = 0;
    }
    if (rx_buf_reserve(&r->buf, READ_CHUNK) != 0)
        return false;
    int n = gzread(r->gz, r->buf.data + r->buf.len, READ_CHUNK);
    if (n <= 0) {
        r->eof = true;
        return false;
    }
    r->buf.len += (size_t)n;
    return true;
}

/* The next line, without its '\n', as a slice valid until the next call.
 * Returns false at the end of the input; sets *toolong for a line over
 * SCAN_MAX_LINE. */
static bool read_line(struct reader *r, const char **line, size_t *len,
                      bool *toolong)
{
    *toolong = false;
    size_t searched = 0;
    for (;;) {
        const char *start = r->buf.data + r->pos;
        size_t avail = r->buf.len - r->pos;
        const char *nl = avail > searched
                             ? memchr(start + searched, '\n', avail - searched)
                             : NULL;
        if (nl) {
            *line = start;
            *len = (size_t)(nl - start);
            r->pos += *len + 1;
            return true;
        }
        searched = avail;
        if (avail > SCAN_MAX_LINE) {
            *toolong = true;
            return true;
        }
        if (!fill(r)) {
            if (r->buf.len == r->pos)
                return false;
            *line = r->buf.data + r->pos; /* a last line without '\n' */
            *len = r->buf.len - r->pos;
            r->pos = r->buf.len;
            return true;
        }
    }
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* Is this line one complete JSON object on its own? */
static bool whole_json_object(const char *s, size_t n)
{
    size_t i = 0;
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i >= n || s[i] != '{')
        return false;
    json_error_t err;
    json_t *v = json_loadb(s + i, n - i, 0, &err);
    json_decref(v);
    return v != NULL;
}

static int scan_one(struct scan_state *st, const char *path)
{
    bool is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : path;
    int fd = is_stdin ? dup(STDIN_FILENO) : -1;
    gzFile gz = is_stdin ? gzdopen(fd, "rb") : gzopen(path, "rb");
    if (gz == NULL) {
        fprintf(stderr, "repoexfil scan: %s: %s\n", name,
                errno ? strerror(errno) : "cannot open");
        if (fd >= 0)
            close(fd);
        return 2;
    }
    gzbuffer(gz, 1u << 17);

    /* NDJSON (a first line that is a whole object, and more text after it
     * in the first READ_CHUNK bytes) streams line by line; anything else is
     * one document read whole, which ingest sniffs (it still finds NDJSON
     * whose first line is longer than that). */
    struct reader r = {.gz = gz, .pos = 0, .eof = false};
    rx_buf_init(&r.buf, SCAN_MAX_LINE + READ_CHUNK);
    while (r.buf.len < READ_CHUNK && fill(&r))
        ;
    bool ndjson = false;
    const char *p = r.buf.data ? r.buf.data : "", *end = p + r.buf.len;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    if (nl && whole_json_object(p, (size_t)(nl - p)) &&
        !blank(nl, (size_t)(end - nl)))
        ndjson = true;

    int status = 0;
    if (ndjson) {
        const char *line;
        size_t len;
        bool toolong;
        long lineno = 0;
        int rc = 0;
        while (rc == 0 && read_line(&r, &line, &len, &toolong)) {
            lineno++;
            if (toolong) {
                fprintf(stderr, "repoexfil scan: %s: line %ld is longer "
                                "than %u bytes\n", name, lineno,
                        SCAN_MAX_LINE);
                status = 2;
                break;
            }
            rc = rx_ingest_ndjson_line(st->ingest, line, len, lineno,
                                       scan_event, st);
        }
        if (rc) {
            fprintf(stderr, "repoexfil scan: %s: %s\n", name, rx_strerror(rc));
            status = 2;
        }
    } else {
        /* What the sniff read, then the rest of the file. */
        struct rx_buf doc;
        rx_buf_init(&doc, SCAN_MAX_DOCUMENT);
        int rc = rx_buf_append(&doc, r.buf.data ? r.buf.data : "", r.buf.len);
        char chunk[READ_CHUNK];
        int n;
        while (rc == 0 && (n = gzread(gz, chunk, sizeof(chunk))) > 0)
            rc = rx_buf_append(&doc, chunk, (size_t)n);
        if (rc) {
            fprintf(stderr, "repoexfil scan: %s: larger than %u bytes; split "
                            "it or use NDJSON\n", name, SCAN_MAX_DOCUMENT);
            status = 2;
        } else if (!blank(doc.data ? doc.data : "", doc.len)) {
            struct rx_error_detail d = {{0}, 0, 0};
            rc = rx_ingest_body(st->ingest, doc.data, doc.len, RX_CT_SNIFF, 0,
                                scan_event, st, &d);
            if (rc && d.line)
                fprintf(stderr, "repoexfil scan: %s:%d:%d: %s\n", name,
                        d.line, d.column, d.message);
            else if (rc)
                fprintf(stderr, "repoexfil scan: %s: %s\n", name,
                        d.message[0] ? d.message : rx_strerror(rc));
            if (rc)
                status = 2;
        }
        rx_buf_cleanup(&doc);
    }
    int gzerr;
    const char *msg = gzerror(gz, &gzerr);
    if (status == 0 && gzerr != Z_OK && gzerr != Z_STREAM_END) {
        fprintf(stderr, "repoexfil scan: %s: %s\n", name,
                gzerr == Z_ERRNO ? strerror(errno) : msg);
        status = 2;
    }
    gzclose(gz);
    rx_buf_cleanup(&r.buf);
    return status;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "repoexfil scan: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see repoexfil scan --help)\n");
    return 2;
}

static int read_file(const char *path, struct rx_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return RX_EIO;
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = rx_buf_append(out, chunk, n);
    if (rc == 0 && ferror(f))
        rc = RX_EIO;
    fclose(f);
    return rc;
}

int rx_scan_main(int argc, char **argv)
{
    const char *rules_path = NULL, *threshold = NULL;
    bool alerts_only = false, fail_on_alert = false;
    const char **files = rx_xcalloc((size_t)argc + 1, sizeof(char *));
    int nfiles = 0;
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = NULL;
        if (!opts_done && strncmp(a, "--", 2) == 0 && a[2])
            eq = strchr(a, '=');
        size_t alen = eq ? (size_t)(eq - a) : strlen(a);
#define IS(opt) (alen == strlen(opt) && strncmp(a, opt, alen) == 0)
#define VALUE()                                                              \
    (eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL))
        if (opts_done || a[0] != '-' || strcmp(a, "-") == 0) {
            files[nfiles++] = a;
        } else if (strcmp(a, "--") == 0) {
            opts_done = true;
        } else if (IS("--help") || IS("-h")) {
            fputs(scan_usage, stdout);
            free(files);
            return 0;
        } else if (IS("--rules")) {
            if ((rules_path = VALUE()) == NULL) {
                free(files);
                return usage_error("%s needs a file", "--rules");
            }
        } else if (IS("--threshold")) {
            if ((threshold = VALUE()) == NULL) {
                free(files);
                return usage_error("%s needs a number", "--threshold");
            }
        } else if (IS("--view")) {
            const char *v = VALUE();
            if (v == NULL || strcmp(v, "alerts") != 0) {
                free(files);
                return usage_error("--view takes only \"alerts\", got %s",
                                   v ? v : "nothing");
            }
            alerts_only = true;
        } else if (IS("--fail-on-alert")) {
            fail_on_alert = true;
        } else {
            free(files);
            return usage_error("unknown option %s", a);
        }
#undef IS
#undef VALUE
    }
    if (nfiles == 0)
        files[nfiles++] = "-";

    struct rx_rules rules;
    struct rx_error_detail d = {{0}, 0, 0};
    int rc = rx_rules_init_defaults(&rules);
    if (rc == 0 && rules_path) {
        struct rx_buf text;
        rx_buf_init(&text, RX_CONFIG_MAX_RULES_FILE);
        rc = read_file(rules_path, &text);
        if (rc)
            fprintf(stderr, "repoexfil scan: --rules %s: %s\n", rules_path,
                    rc == RX_EIO ? strerror(errno) : "file too large");
        else if ((rc = rx_rules_load(&rules, text.data ? text.data : "",
                                     text.len, rules_path, &d)) != 0)
            fprintf(stderr, "repoexfil scan: %s\n", d.message);
        rx_buf_cleanup(&text);
    }
    if (rc == 0 && threshold) {
        char *end;
        errno = 0;
        long t = strtol(threshold, &end, 10);
        if (*threshold == '\0' || *end != '\0' || errno)
            t = -1;
        if ((rc = rx_rules_set_threshold(&rules, t, &d)) != 0)
            fprintf(stderr, "repoexfil scan: --threshold: %s\n", d.message);
    }
    if (rc) {
        rx_rules_cleanup(&rules);
        free(files);
        return 2;
    }

    struct rx_rule_scratch *scratch = rx_rule_scratch_new();
    struct scan_state st = {
        .ingest = rx_ingest_new(),
        .batch = rx_batch_new(&rules, scratch, 0),
        .progress = isatty(STDERR_FILENO) == 1,
        .next_report = SCAN_PROGRESS_EVERY,
    };
    int status = 0;
    for (int i = 0; i < nfiles && status == 0; i++)
        status = scan_one(&st, files[i]);
    if (st.progress && rx_batch_received(st.batch) >= SCAN_PROGRESS_EVERY)
        fputs("\r\033[K", stderr);
    if (status == 0) {
        struct rx_buf out;
        rx_buf_init(&out, 0);
        if (rx_batch_write_answer(st.batch, NULL, !alerts_only, &out) == 0 &&
            rx_buf_append(&out, "\n", 1) == 0) {
            if (fwrite(out.data, 1, out.len, stdout) != out.len ||
                fflush(stdout) != 0) {
                fprintf(stderr, "repoexfil scan: writing the answer: %s\n",
                        strerror(errno));
                status = 2;
            }
        }
        rx_buf_cleanup(&out);
        if (status == 0 && fail_on_alert && rx_batch_alert_count(st.batch))
            status = 1;
    }
    rx_batch_free(st.batch);
    rx_ingest_free(st.ingest);
    rx_rule_scratch_free(scratch);
    rx_rules_cleanup(&rules);
    free(files);
    return status;
}

int rx_check_config_main(int argc, char **argv)
{
    struct rx_config c;
    struct rx_error_detail d = {{0}, 0, 0};
    rx_config_init(&c);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: repoexfil check-config [SETTINGS...]\n\n"
                   "Validates every setting (flags and REPOEXFIL_* "
                   "environment variables, as for serve) and the rules "
                   "file, prints the effective rules as JSON and exits 0; "
                   "exits 2 with a message naming the setting on any "
                   "error.\n\n");
            rx_config_print_help(stdout);
            rx_config_cleanup(&c);
            return 0;
        }
    }
    int rc = rx_config_parse(&c, argc, argv, &d);
    if (rc) {
        fprintf(stderr, "repoexfil check-config: %s\n",
                d.message[0] ? d.message : rx_strerror(rc));
        rx_config_cleanup(&c);
        return 2;
    }
    json_t *rules = rx_rules_to_json(&c.rules);
    char *text = json_dumps(rules, JSON_INDENT(2));
    printf("%s\n", text);
    free(text);
    json_decref(rules);
    rx_config_cleanup(&c);
    return 0;
}
