#include "hmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static void to_hex(const unsigned char *md, unsigned n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

int rx_hmac_sha256_hex(const void *key, size_t keylen, const void *data,
                       size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    /* HMAC() with a NULL key pointer and zero length is legal in OpenSSL 3,
     * but an empty non-NULL key avoids relying on that. */
    static const unsigned char empty = 0;
    out[0] = '\0';
    if (HMAC(EVP_sha256(), keylen ? key : &empty, (int)keylen,
             len ? data : &empty, len, md, &mdlen) == NULL ||
        mdlen != 32)
        return RX_EIO;
    to_hex(md, mdlen, out);
    return 0;
}

int rx_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    static const unsigned char empty = 0;
    out[0] = '\0';
    if (EVP_Digest(len ? data : &empty, len, md, &mdlen, EVP_sha256(), NULL) !=
            1 ||
        mdlen != 32)
        return RX_EIO;
    to_hex(md, mdlen, out);
    return 0;
}

bool rx_hmac_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    if (alen == 0)
        return true;
    return CRYPTO_memcmp(a, b, alen) == 0;
}
