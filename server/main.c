/*
 * repoexfil: the one binary. Dispatches to the sub-commands; the service
 * itself lives in serve.c, the scanner in scan.c.
 */
#include <curl/curl.h>
#include <expat.h>
#include <jansson.h>
#include <malloc.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "build_info.h"
#include "scan.h"
#include "serve.h"

static const char usage[] =
    "repoexfil " RX_VERSION " - detects exfiltration to code repositories\n"
    "(MITRE ATT&CK T1567.001) in Windows Sysmon events.\n"
    "\n"
    "usage: repoexfil [COMMAND] [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  serve          run the HTTP service (the default)\n"
    "  scan [FILE..]  score events from files or stdin, print the answer\n"
    "  check-config   validate settings and rules, print the rules\n"
    "  healthcheck    ask the local service's /healthz (exit 0 if healthy)\n"
    "  version        print the version\n"
    "\n"
    "Run 'repoexfil COMMAND --help' for a command's options.\n";

static void print_version(void)
{
    char pcre2[64];
    pcre2_config(PCRE2_CONFIG_VERSION, pcre2);
    printf("repoexfil %s (git %s, built %s)\n", RX_VERSION, RX_GIT_REVISION,
           RX_BUILD_TIME);
    printf("jansson %s, pcre2 %s, %s, libmicrohttpd %s, libcurl %s, %s, "
           "zlib %s\n",
           JANSSON_VERSION, pcre2, XML_ExpatVersion(), MHD_get_version(),
           curl_version_info(CURLVERSION_NOW)->version,
           OpenSSL_version(OPENSSL_VERSION), zlibVersion());
}

static int run(int argc, char **argv);

int main(int argc, char **argv)
{
    /* Process-wide setup before any thread starts: a closed peer must be
     * an error return, not a signal; libcurl's global state (the alert
     * dispatcher's) is set up once, here. */
    signal(SIGPIPE, SIG_IGN);
    /* Bodies and answers are large, short-lived blocks allocated on
     * several threads. With glibc's default arena per thread a 5-minute
     * soak kept ~4.5 MiB/min of freed memory while the live heap stayed
     * flat at ~2 MB; one arena holds it (tests/bench/soak.sh). A fixed
     * 128 KiB mmap threshold would too, but then every batch's buffers
     * are mapped and faulted in afresh: 1000-event posts lost a quarter of
     * their throughput. Allocation is rare on the hot path, so one arena
     * costs no contention worth measuring. */
    mallopt(M_ARENA_MAX, 1);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "repoexfil: cannot initialize libcurl\n");
        return 1;
    }
    int status = run(argc, argv);
    curl_global_cleanup();
    return status;
}

static int run(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "serve";
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 ||
        strcmp(cmd, "version") == 0) {
        print_version();
        return 0;
    }
    if (strcmp(cmd, "scan") == 0)
        return rx_scan_main(argc - 1, argv + 1);
    if (strcmp(cmd, "check-config") == 0)
        return rx_check_config_main(argc - 1, argv + 1);
    if (strcmp(cmd, "healthcheck") == 0)
        return rx_healthcheck_main(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return rx_serve_main(argc - 1, argv + 1);
    if (cmd[0] == '-') {
        /* Flags without a command: serve with them. argv[0] stands in for
         * the command name rx_serve_main skips. */
        return rx_serve_main(argc, argv);
    }
    fprintf(stderr, "repoexfil: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
