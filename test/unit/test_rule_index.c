/*
 * test_rule_index.c — guard groups in the rule index: rules of one type whose
 * first test compares the same field with a literal are selected together by
 * bisection. Checked against the model that matters: every rule whose `when`
 * holds for an event is selected, in rule order, and rules whose guard fails
 * are left out.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ioc/diag.h"
#include "ioc/event.h"
#include "ioc/expr.h"
#include "ioc/rule.h"
#include "test.h"
#include "../../engine/rule_int.h"

static char attrs_store[256];

/* A sensor event as the decoder lifts it; depth < 0 leaves attrs out, and
 * depth_text gives attrs.depth as text instead of a number. */
static struct ioc_event reading(double value, int has_value, const char *device, double depth,
                                int depth_text, char *raw, size_t rawn)
{
    struct ioc_event ev;
    memset(&ev, 0, offsetof(struct ioc_event, inline_store));
    ev.id = "e1";
    ev.source = IOC_SRC_SENSOR;
    ev.type = "water_level";
    ev.ts = 1770742800000;
    ev.device = device;
    ev.zone = "Z03";
    ev.value = value;
    ev.has = has_value ? IOC_HAS_VALUE : 0;
    if (depth >= 0) {
        snprintf(raw, rawn, depth_text ? "{\"attrs\": {\"depth\": \"%g\"}}" : "{\"attrs\": {\"depth\": %g}}",
                 depth);
        ev.raw = raw;
        ev.raw_len = strlen(raw);
        ev.store = attrs_store;
        ev.attrs = strchr(strstr(raw, "\"attrs\":"), '{');
        ev.attrs_len = (size_t)(strrchr(raw, '}') - ev.attrs);
    }
    return ev;
}

static void rule(FILE *f, int *n, const char *when)
{
    fprintf(f,
            "  - id: t.r%03d\n    title: rule %d\n    when: '%s'\n    key: [device]\n"
            "    grade: 3\n",
            *n, *n, when);
    (*n)++;
}

/* Guards of every kind, literals on either side, equal literals, rules that
 * share nothing, and a rule with a resolve `when` (always visited). */
static int write_rules(const char *path)
{
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    int n = 0;
    char w[200];
    const char *base = "source == \"sensor\" && type == \"water_level\"";
    fprintf(f, "rules:\n");
    for (int i = 0; i < 24; i++) {
        const char *op = i % 3 == 0 ? ">=" : ">";
        if (i % 4 == 1) {
            snprintf(w, sizeof w, "%s && %g < value && zone == \"Z03\"", base, i * 0.5);
        } else {
            snprintf(w, sizeof w, "%s && value %s %g", base, op, (i % 12) * 0.5);
        }
        rule(f, &n, w);
        if (i % 5 == 0) {
            snprintf(w, sizeof w, "%s && (value > 3 || device == \"F1\")", base);
            rule(f, &n, w);
        }
    }
    for (int i = 0; i < 10; i++) {
        snprintf(w, sizeof w, "%s && value %s %g", base, i % 2 ? "<" : "<=", i * 0.75);
        rule(f, &n, w);
    }
    for (int i = 0; i < 8; i++) {
        snprintf(w, sizeof w, "%s && %g == value", base, (double)(i % 4));
        rule(f, &n, w);
    }
    for (int i = 0; i < 12; i++) {
        snprintf(w, sizeof w, "%s && device == \"F%d\" && value > %d", base, i % 5, i % 3);
        rule(f, &n, w);
    }
    for (int i = 0; i < 6; i++) {
        snprintf(w, sizeof w, "%s && attrs.depth >= %g", base, i * 0.4);
        rule(f, &n, w);
    }
    /* Too few to group: visited one by one. */
    snprintf(w, sizeof w, "%s && unit == \"m\"", base);
    rule(f, &n, w);
    snprintf(w, sizeof w, "%s", base);
    rule(f, &n, w);
    fprintf(f,
            "  - id: t.resolving\n    title: resolving\n    when: '%s && value > 100'\n"
            "    key: [device]\n    grade: 2\n    resolve: {when: 'value < 1', for: 1m}\n",
            base);
    n++;
    fclose(f);
    return n;
}

TEST(guarded_rules_are_selected_exactly_when_they_may_match)
{
    char dir[] = "/tmp/ioc-ruleidx-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/rules.yaml", dir);
    int nrules = write_rules(path);

    struct ioc_diag diag;
    ioc_diag_init(&diag);
    struct ioc_ruleset *rs = NULL;
    const char *paths[] = {path};
    int rc = ioc_ruleset_load(paths, 1, &rs, &diag);
    if (rc != 0) {
        ioc_diag_print(&diag, stderr);
    }
    REQUIRE(rc == 0);
    CHECK_EQ_INT((int)rs->n, nrules);

    /* The list of sensor/water_level has groups: value above, value below,
     * value ==, device ==, attrs.depth above. */
    const struct ioc_rule_list *l = ioc_map_get(&rs->by_type[IOC_SRC_SENSOR], "water_level", 11);
    REQUIRE(l != NULL);
    CHECK_EQ_INT((int)l->n, nrules);
    CHECK_EQ_INT((int)l->n_groups, 5);

    static const char *devices[] = {"F0", "F1", "F4", "F9"};
    char raw[96];
    size_t events = 0, pruned = 0;
    for (int vi = -4; vi <= 16; vi++) {
        for (int has = 0; has < 2; has++) {
            for (size_t d = 0; d < 4; d++) {
                for (int depth = -1; depth < 6; depth++) {
                    struct ioc_event ev = reading(vi * 0.25, has,
                                                  devices[d], depth * 0.4, depth == 5, raw,
                                                  sizeof raw);
                    const uint32_t *sel;
                    size_t k = ioc__ruleset_select(rs, &ev, &sel);
                    events++;
                    pruned += k < (size_t)nrules;
                    /* In rule order (no inhibitors here), each rule once. */
                    for (size_t i = 1; i < k; i++) {
                        CHECK(sel[i - 1] < sel[i]);
                    }
                    /* Every rule whose `when` holds is among them. */
                    size_t j = 0;
                    for (uint32_t r = 0; r < rs->n; r++) {
                        while (j < k && sel[j] < r) {
                            j++;
                        }
                        bool selected = j < k && sel[j] == r;
                        if (ioc_expr_eval(rs->rules[r].when, &ev) && !selected) {
                            fprintf(stderr, "rule %s holds for value %g (has %d) device %s "
                                    "depth %d but was not selected\n",
                                    rs->rules[r].id, ev.value, has, ev.device, depth);
                            CHECK(selected);
                        }
                        /* The resolving rule is visited whatever the value. */
                        if (rs->rules[r].resolve_when) {
                            CHECK(selected);
                        }
                    }
                }
            }
        }
    }
    /* The guards left rules out for most events. */
    CHECK(pruned > events / 2);

    ioc_ruleset_free(rs);
    ioc_diag_close(&diag);
    unlink(path);
    rmdir(dir);
}
