/*
 * hmac: HMAC-SHA256 as lowercase hex, for signing outgoing webhook bodies
 * (X-Signature-256) and checking incoming request signatures.
 *
 * It only computes the digest; comparing a received signature must be
 * done in constant time by the caller (rx_hmac_equal helps).
 */
#ifndef RX_HMAC_H
#define RX_HMAC_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Writes the HMAC-SHA256 of data[0..len) under key[0..keylen) as 64
 * lowercase hex digits plus a NUL into out. Borrows key and data. Returns 0,
 * or RX_EIO if libcrypto fails (out is then the empty string). Thread-safe. */
int rx_hmac_sha256_hex(const void *key, size_t keylen, const void *data,
                       size_t len, char out[65]) RX_WUR;

/* Writes the SHA-256 of data[0..len) as 64 lowercase hex digits plus a NUL.
 * Returns 0 or RX_EIO. Thread-safe. */
int rx_sha256_hex(const void *data, size_t len, char out[65]) RX_WUR;

/* Compares a[0..alen) and b[0..blen) in time that depends only on the
 * lengths, not on the contents. Thread-safe. */
bool rx_hmac_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
