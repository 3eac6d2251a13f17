/*
 * libFuzzer target: a request body through ingest -> rule -> answer.
 * The first byte picks the Content-Type. The answer must always be valid
 * JSON; sanitizers catch memory errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "batch.h"
#include "ingest.h"

static const char *const types[] = {NULL, "application/json",
                                    "application/x-ndjson", "application/xml",
                                    "text/plain"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rx_rules rules;
    static struct rx_rule_scratch *scratch;
    static struct rx_ingest *in;
    if (in == NULL) {
        if (rx_rules_init_defaults(&rules) != 0)
            abort();
        scratch = rx_rule_scratch_new();
        in = rx_ingest_new();
    }
    if (size < 1)
        return 0;
    const char *ct = types[data[0] % 5];
    struct rx_batch *b = rx_batch_new(&rules, scratch, 1000);
    struct rx_error_detail d;
    int rc = rx_ingest_body(in, (const char *)data + 1, size - 1,
                            rx_ingest_content_type(ct), 1000, rx_batch_add, b,
                            &d);
    if (rc == 0) {
        struct rx_buf out;
        rx_buf_init(&out, 0);
        if (rx_batch_write_answer(b, "fuzz", true, &out) != 0)
            abort();
        json_t *j = json_loadb(out.data, out.len, 0, NULL);
        if (j == NULL)
            abort(); /* the answer must be valid JSON */
        json_decref(j);
        json_decref(rx_batch_alert_rows(b));
        rx_buf_cleanup(&out);
    }
    rx_batch_free(b);
    return 0;
}
