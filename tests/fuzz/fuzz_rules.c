/* libFuzzer target: the rules file reader and regex compiler. */
#include <stdint.h>
#include <stdlib.h>

#include "rule.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rx_rules r;
    if (rx_rules_init_defaults(&r) != 0)
        abort();
    struct rx_error_detail d;
    if (rx_rules_load(&r, (const char *)data, size, "fuzz", &d) == 0) {
        /* Whatever loaded must score an event without harm. */
        static struct rx_rule_scratch *s;
        if (s == NULL)
            s = rx_rule_scratch_new();
        struct rx_event_view v;
        rx_event_view_clear(&v);
        v.event_id = 1;
        v.f[RX_F_IMAGE].p = "C:\\git.exe";
        v.f[RX_F_IMAGE].n = 10;
        v.f[RX_F_COMMAND_LINE].p = "git push https://github.com/a/b";
        v.f[RX_F_COMMAND_LINE].n = 31;
        v.f[RX_F_COMPUTER].p = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!";
        v.f[RX_F_COMPUTER].n = 40;
        struct rx_verdict vd;
        rx_rule_evaluate(&r, s, &v, &vd);
        json_decref(rx_rules_to_json(&r));
    }
    rx_rules_cleanup(&r);
    return 0;
}
