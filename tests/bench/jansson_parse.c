/*
 * jansson_parse: the "full tree" baseline for tests/bench/run.sh.
 *
 * REPEAT times: reads an NDJSON file into one reused buffer (each time,
 * as `repoexfil scan` must read its input) and gives every non-blank line to json_loadb (building jansson's full tree, as the
 * original hot path did) and frees it. Nothing is read out of the tree:
 * this is a parse-only pass, the cheapest thing a tree-building reader can
 * do per event. Prints "events=N bad=M" on stdout; the caller measures the
 * CPU time of the process.
 *
 * usage: jansson_parse FILE [REPEAT]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the whole file into *buf (grown as needed); returns its length. */
static size_t slurp(const char *path, char **buf, size_t *cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t n = 0, got;
    for (;;) {
        if (n == *cap) {
            *cap = *cap ? *cap * 2 : 1 << 20;
            *buf = realloc(*buf, *cap);
            if (!*buf) {
                fputs("out of memory\n", stderr);
                exit(2);
            }
        }
        got = fread(*buf + n, 1, *cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: jansson_parse FILE [REPEAT]\n", stderr);
        return 2;
    }
    long repeat = argc > 2 ? atol(argv[2]) : 1;
    unsigned long events = 0, bad = 0;
    char *buf = NULL;
    size_t cap = 0;
    for (long r = 0; r < repeat; r++) {
        size_t len = slurp(argv[1], &buf, &cap);
        const char *p = buf, *end = buf + len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *eol = nl ? nl : end;
            if (eol > p && !(eol - p == 1 && *p == '\r')) {
                json_error_t err;
                json_t *v = json_loadb(p, (size_t)(eol - p), 0, &err);
                if (v)
                    events++;
                else
                    bad++;
                json_decref(v);
            }
            p = eol + 1;
        }
    }
    free(buf);
    printf("events=%lu bad=%lu\n", events, bad);
    return 0;
}
