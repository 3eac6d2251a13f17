#include "route_version.h"

#include <curl/curl.h>
#include <expat.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "build_info.h"
#include "rules.h" /* pcre2.h with the code unit width set */

void rx_route_version_handle(struct rx_reply *reply)
{
    char pcre2[64] = "unknown";
    if (pcre2_config(PCRE2_CONFIG_VERSION, pcre2) < 0)
        strcpy(pcre2, "unknown");
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s}}", "name",
        "repoexfil", "version", RX_VERSION, "git_revision", RX_GIT_REVISION,
        "build_time", RX_BUILD_TIME, "libraries", "libmicrohttpd",
        MHD_get_version(), "jansson", jansson_version_str(), "openssl",
        OpenSSL_version(OPENSSL_VERSION_STRING), "pcre2", pcre2, "libcurl",
        curl_version_info(CURLVERSION_NOW)->version, "expat",
        XML_ExpatVersion(), "zlib", zlibVersion());
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) {
        rx_reply_error(reply, 500, "internal", "cannot render the version", 0,
                       0);
        return;
    }
    rx_reply_json(reply, 200, text, strlen(text));
    free(text);
}
