#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

/* The level is set once in main() before threads start, then only read. */
static enum rx_log_level min_level = RX_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void rx_log_set_level(enum rx_log_level level)
{
    min_level = level;
}

bool rx_log_parse_level(const char *s, enum rx_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum rx_log_level)i;
            return true;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = RX_LOG_WARN;
        return true;
    }
    return false;
}

const char *rx_log_str(char *out, unsigned long outsize, const char *s)
{
    struct rx_buf b;
    rx_buf_init(&b, 0);
    size_t n = s ? strlen(s) : 0;
    if (s == NULL || rx_buf_json_string(&b, s, n) != 0) {
        snprintf(out, outsize, "null");
    } else if (b.len < outsize) {
        memcpy(out, b.data, b.len + 1);
    } else if (outsize >= 6) {
        /* Cut inside the string, never inside an escape: re-escape a prefix
         * that surely fits. */
        rx_buf_reset(&b);
        size_t keep = (outsize - 6) / 6;
        if (rx_buf_json_string(&b, s, keep < n ? keep : n) == 0 &&
            b.len < outsize)
            memcpy(out, b.data, b.len + 1);
        else
            snprintf(out, outsize, "null");
    } else {
        snprintf(out, outsize, "null");
    }
    rx_buf_cleanup(&b);
    return out;
}

void rx_log(enum rx_log_level level, const char *msg, const char *fields_fmt,
            ...)
{
    if (level < min_level)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[8192];
    char msgq[1024];
    int n = snprintf(line, sizeof(line),
                     "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\","
                     "\"level\":\"%s\",\"msg\":%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                     level_names[level], rx_log_str(msgq, sizeof(msgq), msg));
    if (n < 0 || (size_t)n >= sizeof(line) - 2)
        return;
    if (fields_fmt && *fields_fmt) {
        line[n++] = ',';
        va_list ap;
        va_start(ap, fields_fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 2, fields_fmt,
                          ap);
        va_end(ap);
        if (m < 0 || (size_t)m >= sizeof(line) - (size_t)n - 2) {
            n--; /* fields did not fit: drop them rather than cut JSON */
        } else {
            n += m;
        }
    }
    line[n++] = '}';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
