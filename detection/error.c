#include "error.h"

#include <stdarg.h>
#include <stdio.h>

const char *rx_strerror(int code)
{
    switch (code) {
#define RX_ERRNO_TEXT(name, val, text)                                       \
    case (val):                                                              \
        return (text);
        RX_ERRNO_MAP(RX_ERRNO_TEXT)
#undef RX_ERRNO_TEXT
    }
    return "unknown error";
}

int rx_error_set(struct rx_error_detail *detail, int code, int line,
                 int column, const char *fmt, ...)
{
    if (detail == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail->message, sizeof(detail->message), fmt, ap);
    va_end(ap);
    detail->line = line;
    detail->column = column;
    return code;
}
