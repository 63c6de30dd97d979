/*
 * policy.c — parses escalation policies and operators (see policy.h).
 */
#include <stdlib.h>
#include <string.h>

#include "ioc/error.h"
#include "ioc/policy.h"
#include "rule_int.h"
#include "ioc/yaml.h"

static int parse_levels(const struct ioc_ynode *seq, struct ioc_policy *p, struct ioc_diag *d)
{
    int bad = 0;
    if (seq->kind != IOC_Y_SEQ || seq->n == 0) {
        ioc_diag_at(d, seq, "escalation policy '%s': expected a list of {after, notify}",
                    p->name);
        return IOC_ECONFIG;
    }
    if (!(p->levels = calloc(seq->n, sizeof *p->levels))) {
        return IOC_ENOMEM;
    }
    for (size_t i = 0; i < seq->n; i++) {
        const struct ioc_ynode *lv = seq->items[i];
        const struct ioc_ynode *after = ioc_ymap_get(lv, "after");
        const struct ioc_ynode *notify = ioc_ymap_get(lv, "notify");
        struct ioc_esc_level *l = &p->levels[p->n];
        long long ms = 0;
        if (lv->kind != IOC_Y_MAP || !after || !notify) {
            ioc_diag_at(d, lv, "escalation level: expected {after: 10m, notify: [who, ...]}");
            bad = 1;
            continue;
        }
        for (size_t k = 0; k < lv->n; k++) {
            if (strcmp(lv->keys[k]->str, "after") && strcmp(lv->keys[k]->str, "notify")) {
                ioc_diag_at(d, lv->keys[k],
                            "escalation level: unknown key '%s' (allowed: after, notify)",
                            lv->keys[k]->str);
                bad = 1;
            }
        }
        if (ioc_ynode_duration(after, &ms, d) != 0 || ms < 0) {
            bad = 1;
            continue;
        }
        if (p->n && ms < p->levels[p->n - 1].after_ms) {
            ioc_diag_at(d, after, "escalation level: 'after' must not go down from level to level");
            bad = 1;
        }
        size_t nn = notify->kind == IOC_Y_SEQ ? notify->n : 1;
        if (!(l->notify = calloc(nn, sizeof *l->notify))) {
            return IOC_ENOMEM;
        }
        for (size_t k = 0; k < nn; k++) {
            const struct ioc_ynode *t = notify->kind == IOC_Y_SEQ ? notify->items[k] : notify;
            if (t->kind != IOC_Y_SCALAR) {
                ioc_diag_at(d, t, "escalation level: notify lists names");
                bad = 1;
                continue;
            }
            if (!(l->notify[l->n_notify] = strdup(t->str))) {
                /* The level is not counted yet, so close would not free it. */
                while (l->n_notify) {
                    free(l->notify[--l->n_notify]);
                }
                free(l->notify);
                l->notify = NULL;
                return IOC_ENOMEM;
            }
            l->n_notify++;
        }
        l->after_ms = ms;
        p->n++;
    }
    return bad ? IOC_ECONFIG : 0;
}

int ioc_policies_load(const struct ioc_config *c, struct ioc_policies *out, struct ioc_diag *d)
{
    int bad = 0, rc;
    memset(out, 0, sizeof *out);
    const struct ioc_ynode *pol = ioc_config_section(c, "escalation_policies");
    if (pol && pol->kind != IOC_Y_MAP) {
        ioc_diag_at(d, pol, "escalation_policies: expected a mapping of name: levels");
        bad = 1;
    } else if (pol && pol->n) {
        if (!(out->p = calloc(pol->n, sizeof *out->p))) {
            return IOC_ENOMEM;
        }
        for (size_t i = 0; i < pol->n; i++) {
            struct ioc_policy *p = &out->p[out->n++];
            const struct ioc_ynode *v = pol->items[i], *levels = v;
            if (!(p->name = strdup(pol->keys[i]->str))) {
                return IOC_ENOMEM;
            }
            if (v->kind == IOC_Y_MAP) {
                levels = ioc_ymap_get(v, "levels");
                const struct ioc_ynode *rep = ioc_ymap_get(v, "repeat");
                long long ms;
                for (size_t k = 0; k < v->n; k++) {
                    if (strcmp(v->keys[k]->str, "levels") && strcmp(v->keys[k]->str, "repeat")) {
                        ioc_diag_at(d, v->keys[k],
                                    "escalation policy '%s': unknown key '%s' (allowed: levels, "
                                    "repeat)",
                                    p->name, v->keys[k]->str);
                        bad = 1;
                    }
                }
                if (rep && (ioc_ynode_duration(rep, &ms, d) != 0 || ms <= 0)) {
                    bad = 1;
                } else if (rep) {
                    p->repeat_ms = ms;
                }
                if (!levels) {
                    ioc_diag_at(d, v, "escalation policy '%s': 'levels' is required", p->name);
                    bad = 1;
                    continue;
                }
            }
            if ((rc = parse_levels(levels, p, d)) == IOC_ENOMEM) {
                return rc;
            }
            bad |= rc != 0;
        }
    }
    const struct ioc_ynode *ops = ioc_config_section(c, "operators");
    if (ops && ops->kind != IOC_Y_SEQ) {
        ioc_diag_at(d, ops, "operators: expected a list of {name, role}");
        bad = 1;
    } else if (ops && ops->n) {
        if (!(out->ops = calloc(ops->n, sizeof *out->ops))) {
            return IOC_ENOMEM;
        }
        for (size_t i = 0; i < ops->n; i++) {
            const struct ioc_ynode *o = ops->items[i];
            const struct ioc_ynode *name = ioc_ymap_get(o, "name"), *role = ioc_ymap_get(o, "role");
            /* key: is the operator's public key file, read by config.c. */
            size_t want = ioc_ymap_get(o, "key") ? 3 : 2;
            if (o->kind != IOC_Y_MAP || o->n != want || !name || !role ||
                name->kind != IOC_Y_SCALAR || role->kind != IOC_Y_SCALAR) {
                ioc_diag_at(d, o, "operators: each entry is {name: NAME, role: ROLE, key: FILE}, "
                                  "key only with security keys");
                bad = 1;
                continue;
            }
            if (ioc_operator_role(out, name->str)) {
                ioc_diag_at(d, name, "operators: '%s' is listed twice", name->str);
                bad = 1;
                continue;
            }
            struct ioc_operator *op = &out->ops[out->n_ops];
            if (!(op->name = strdup(name->str)) || !(op->role = strdup(role->str))) {
                free(op->name); /* not counted yet, so close would not free it */
                op->name = NULL;
                return IOC_ENOMEM;
            }
            out->n_ops++;
        }
    }
    return bad ? IOC_ECONFIG : 0;
}

void ioc_policies_close(struct ioc_policies *p)
{
    for (size_t i = 0; i < p->n; i++) {
        for (size_t j = 0; j < p->p[i].n; j++) {
            for (size_t k = 0; k < p->p[i].levels[j].n_notify; k++) {
                free(p->p[i].levels[j].notify[k]);
            }
            free(p->p[i].levels[j].notify);
        }
        free(p->p[i].levels);
        free(p->p[i].name);
    }
    free(p->p);
    for (size_t i = 0; i < p->n_ops; i++) {
        free(p->ops[i].name);
        free(p->ops[i].role);
    }
    free(p->ops);
    memset(p, 0, sizeof *p);
}

const struct ioc_policy *ioc_policy_find(const struct ioc_policies *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->p[i].name, name) == 0) {
            return &p->p[i];
        }
    }
    return NULL;
}

const char *ioc_operator_role(const struct ioc_policies *p, const char *name)
{
    for (size_t i = 0; i < p->n_ops; i++) {
        if (p->ops[i].name && strcmp(p->ops[i].name, name) == 0) {
            return p->ops[i].role;
        }
    }
    return NULL;
}

int ioc_policies_check_rules(const struct ioc_policies *p, const struct ioc_ruleset *rs,
                             struct ioc_diag *diag)
{
    int rc = 0;
    for (size_t i = 0; rs && i < rs->n; i++) {
        const struct ioc_rule *r = &rs->rules[i];
        if (r->escalation && !ioc_policy_find(p, r->escalation)) {
            ioc_diag_add(diag, r->file, r->line, 0,
                         "rule %s: escalation policy '%s' is not in the configuration", r->id,
                         r->escalation);
            rc = IOC_ECONFIG;
        }
    }
    return rc;
}
