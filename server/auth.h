/*
 * auth: the optional credentials of SPEC section 3: bearer tokens
 * (several, for rotation), ?token= when allowed, and an HMAC-SHA256
 * signature of the raw body in "X-Signature-256: sha256=<hex>".
 *
 * Every secret comparison is constant-time (CRYPTO_memcmp over SHA-256
 * digests, so not even the length leaks). Nothing here logs. Pure
 * functions of the read-only config: thread-safe.
 */
#ifndef RX_AUTH_H
#define RX_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* True when any credential is configured (tokens or an HMAC secret). */
bool rx_auth_required(const struct rx_config *c);

/* Checks an Authorization header value ("Bearer <token>", scheme
 * case-insensitive) against the configured tokens. NULL: false. */
bool rx_auth_bearer_ok(const struct rx_config *c, const char *authorization);

/* Checks a raw token (from ?token=) against the configured tokens. */
bool rx_auth_token_ok(const struct rx_config *c, const char *token);

/* Checks "sha256=<64 hex>" against HMAC-SHA256(hmac_secret, body). False
 * when no secret is configured or the header is NULL or malformed. */
bool rx_auth_signature_ok(const struct rx_config *c, const char *header,
                          const void *body, size_t len);

#endif
