#include "auth.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

bool rx_auth_required(const struct rx_config *c)
{
    return c->api_token_count > 0 || c->hmac_secret != NULL;
}

bool rx_auth_token_ok(const struct rx_config *c, const char *token)
{
    if (!token || c->api_token_count == 0)
        return false;
    /* Compare digests, not the tokens: equal-length inputs for
     * CRYPTO_memcmp whatever the token lengths, and every configured
     * token is tried, so timing tells nothing about which one matched. */
    unsigned char given[SHA256_DIGEST_LENGTH], want[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, strlen(token), given);
    int match = 0;
    for (size_t i = 0; i < c->api_token_count; i++) {
        SHA256((const unsigned char *)c->api_tokens[i],
               strlen(c->api_tokens[i]), want);
        match |= CRYPTO_memcmp(given, want, sizeof(want)) == 0;
    }
    return match != 0;
}

bool rx_auth_bearer_ok(const struct rx_config *c, const char *authorization)
{
    if (!authorization)
        return false;
    while (*authorization == ' ')
        authorization++;
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *t = authorization + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    if (n == 0 || n > RX_CONFIG_MAX_TOKEN_LEN)
        return false;
    char tok[RX_CONFIG_MAX_TOKEN_LEN + 1];
    memcpy(tok, t, n);
    tok[n] = '\0';
    bool ok = rx_auth_token_ok(c, tok);
    OPENSSL_cleanse(tok, sizeof(tok));
    return ok;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

bool rx_auth_signature_ok(const struct rx_config *c, const char *header,
                          const void *body, size_t len)
{
    if (!c->hmac_secret || !header)
        return false;
    while (*header == ' ')
        header++;
    if (strncasecmp(header, "sha256=", 7) != 0)
        return false;
    const char *hex = header + 7;
    size_t n = strlen(hex);
    while (n > 0 && (hex[n - 1] == ' ' || hex[n - 1] == '\t'))
        n--;
    if (n != 2 * SHA256_DIGEST_LENGTH)
        return false;
    unsigned char given[SHA256_DIGEST_LENGTH];
    for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        int hi = hexval((unsigned char)hex[2 * i]);
        int lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        given[i] = (unsigned char)(hi << 4 | lo);
    }
    unsigned char want[EVP_MAX_MD_SIZE];
    unsigned int want_len = 0;
    static const unsigned char empty[1];
    if (!HMAC(EVP_sha256(), c->hmac_secret, (int)strlen(c->hmac_secret),
              len ? body : empty, len, want, &want_len) ||
        want_len != SHA256_DIGEST_LENGTH)
        return false;
    return CRYPTO_memcmp(given, want, SHA256_DIGEST_LENGTH) == 0;
}
