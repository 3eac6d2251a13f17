/*
 * xalloc: allocation that aborts when memory runs out.
 *
 * Input can never cause an allocation failure here: every size that comes
 * from a client is checked against a cap before these are called. So a
 * failure is the machine's, and the process aborts with a message.
 */
#ifndef RX_XALLOC_H
#define RX_XALLOC_H

#include <stddef.h>

/* Returns owned memory (free with free()); never NULL. */
void *rx_xmalloc(size_t n);
void *rx_xcalloc(size_t count, size_t size);
void *rx_xrealloc(void *p, size_t n);
char *rx_xstrndup(const char *s, size_t n);
char *rx_xstrdup(const char *s);

#endif
