/*
 * policy.h — escalation policies and operators, from the configuration.
 *
 * escalation_policies:
 *   flood:                                  # a list of levels ...
 *     - {after: 0m,  notify: [duty_operator]}
 *     - {after: 10m, notify: [shift_supervisor]}
 *   fire:                                   # ... or levels and a repeat
 *     levels: [{after: 0m, notify: [duty_operator]}, {after: 5m, notify: [fire_chief]}]
 *     repeat: 10m                           # the last level again, while unacknowledged
 * operators:
 *   - {name: op1, role: operator}           # ack, comment
 *   - {name: sup1, role: supervisor}        # and resolve, silence, unsilence, reload
 *   - {name: mayor, role: mayor}            # approve, where a rule's public_warning names it
 *   - {name: op2, role: operator, key: keys/op2.pub}   # with CURVE: the key is the identity
 *
 * Parsed once into plain structs; errors are positioned like every other
 * config error.
 */
#ifndef IOC_POLICY_H
#define IOC_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "ioc/config.h"
#include "ioc/diag.h"

struct ioc_esc_level {
    int64_t after_ms; /* from the incident's opening */
    char **notify;
    size_t n_notify;
};

struct ioc_policy {
    char *name;
    struct ioc_esc_level *levels; /* ascending after_ms */
    size_t n;
    int64_t repeat_ms; /* 0: no repeat */
};

struct ioc_operator {
    char *name;
    char *role;
};

struct ioc_policies {
    struct ioc_policy *p;
    size_t n;
    struct ioc_operator *ops;
    size_t n_ops;
};

/* Reads the escalation_policies and operators sections. Every error goes to
 * diag; returns IOC_ECONFIG when there was any. */
int ioc_policies_load(const struct ioc_config *c, struct ioc_policies *out,
                      struct ioc_diag *diag);
void ioc_policies_close(struct ioc_policies *p);

struct ioc_ruleset;
/* Every rule's `escalation` must name a policy of the configuration: one that
 * does not goes to diag at the rule's line. IOC_ECONFIG when any, else 0. iocd
 * refuses to start on such a pair, and `ioc check iocd.yaml` says so first. */
int ioc_policies_check_rules(const struct ioc_policies *p, const struct ioc_ruleset *rs,
                             struct ioc_diag *diag);

const struct ioc_policy *ioc_policy_find(const struct ioc_policies *p, const char *name);
/* The role of an operator, or NULL when the name is unknown. */
const char *ioc_operator_role(const struct ioc_policies *p, const char *name);

#endif
