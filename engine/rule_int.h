/*
 * rule_int.h — the compiled form of rules, shared by rule.c (which builds
 * it) and engine.c (which runs it). Not a public header: plugins and tools
 * see rules only through rule.h.
 */
#ifndef IOC_RULE_INT_H
#define IOC_RULE_INT_H

#include <stdint.h>

#include "ioc/event.h"
#include "ioc/expr.h"
#include "ioc/map.h"
#include "ioc/rule.h"
#include "ioc/window.h"

enum ioc_band_op { IOC_BAND_GE, IOC_BAND_GT, IOC_BAND_LE, IOC_BAND_LT };

struct ioc_band {
    enum ioc_band_op op;
    double v;
    int grade;
};

enum ioc_grade_by { IOC_BY_FIXED, IOC_BY_FIELD, IOC_BY_COUNT, IOC_BY_AGG };

struct ioc_grade_spec {
    enum ioc_grade_by by;
    int fixed;               /* IOC_BY_FIXED */
    struct ioc_fieldref ref; /* IOC_BY_FIELD */
    struct ioc_band *bands;
    size_t n_bands;
};

/* A title template: literal text and ${...} placeholders, split at load. */
enum ioc_tpl_kind { IOC_TPL_TEXT, IOC_TPL_FIELD, IOC_TPL_COUNT, IOC_TPL_AGG };

struct ioc_tpl_part {
    enum ioc_tpl_kind kind;
    char *text; /* IOC_TPL_TEXT */
    size_t len;
    struct ioc_fieldref ref; /* IOC_TPL_FIELD */
};

/* A reference to another rule by id, kept with its position so an unknown
 * id is reported where it was written. */
struct ioc_rule_ref {
    char *id;
    int line, col;
    uint32_t idx;
};

/* The correlation clause of a rule (at most one). */
enum ioc_corr_kind {
    IOC_CORR_NONE,
    IOC_CORR_COUNT,
    IOC_CORR_AGGREGATE,
    IOC_CORR_SEQUENCE,
    IOC_CORR_ABSENT,
    IOC_CORR_ALL,
};

/* A member of an `all` clause: an expression (with how many of its events
 * are needed within the window), or another rule's open incident, with an
 * optional bound on its grade. */
struct ioc_member {
    struct ioc_expr *when;
    int64_t count;
    bool is_incident;
    struct ioc_rule_ref incident;
    bool has_bound;
    struct ioc_band bound; /* op and value; grade unused */
};

/* Where a rule's incidents feed an `all` clause: rule index and member. */
struct ioc_feed {
    uint32_t rule, member;
};

/* One step of a sequence. */
struct ioc_step {
    struct ioc_expr *when;
};

struct ioc_corr {
    enum ioc_corr_kind kind;
    int64_t window_ms; /* count/aggregate window, sequence `within`, absent `for` */
    int64_t min;                  /* count: events (or distinct values) needed to open */
    bool has_distinct;            /* count: distinct values of this field */
    struct ioc_fieldref distinct;
    enum ioc_agg_fn fn;           /* aggregate */
    struct ioc_fieldref field;    /* aggregate: the number it folds */
};

/* What a match knows besides the event: the count (window count under a
 * count clause, the incident's matches otherwise) and the aggregate. */
struct ioc_match {
    int64_t count;
    double agg;
    bool has_agg;
};

/* A template with its parts (titles, warning headlines). */
struct ioc_tpl {
    struct ioc_tpl_part *parts;
    size_t n;
};

/* A rule's public warning (CAP 1.2), published only after approval. */
struct ioc_warning_spec {
    bool enabled;
    char **approve; /* roles that may approve */
    size_t n_approve;
    struct ioc_tpl headline, description;
    char *urgency, *certainty, *language;
    double radius_km; /* the circle around loc, when the incident has one */
};

struct ioc_rule {
    uint32_t index;    /* position in the set */
    uint64_t def_hash; /* hash of its definition: a reload keeps state when unchanged */
    char *id;
    char *file; /* where it was defined */
    int line;
    char *category;
    struct ioc_tpl title;
    struct ioc_warning_spec pw;
    struct ioc_expr *when;
    struct ioc_fieldref *keys;
    char **key_names;
    size_t n_keys;
    struct ioc_grade_spec grade;
    struct ioc_corr corr;
    struct ioc_step *steps; /* sequence */
    size_t n_steps;
    struct ioc_member *members; /* all */
    size_t n_members;
    double near_m;            /* all: members within this many metres (0: anywhere) */
    struct ioc_feed *feeds;   /* the all clauses this rule's incidents take part in */
    size_t n_feeds;
    /* resolve: {quiet} resolves after no match for quiet_ms; {when, for}
     * resolves once `when` held on the key's events for for_ms. */
    int64_t resolve_quiet_ms;
    struct ioc_expr *resolve_when;
    int64_t resolve_for_ms;
    /* inhibits: rule ids, their positions, and once the set is loaded their
     * indices. */
    struct ioc_rule_ref *inhibits;
    size_t n_inhibits;
    bool inhibited_by_any; /* some rule inhibits this one */
    char **sop;
    size_t n_sop;
    char *escalation;
};

/* Rules of one candidate list whose first test (ioc_expr_guard) compares the
 * same field the same way: they are decided together by the event's value
 * of that field, by bisection over their literals, instead of one by one. */
enum guard_kind { GUARD_ABOVE, GUARD_BELOW, GUARD_NUM_EQ, GUARD_STR_EQ };
struct guard_entry {
    uint32_t pos; /* position in the list's idx: candidate order */
    uint8_t op;   /* enum ioc_guard_op */
    double num;
    const char *str;
    size_t len;
};
struct guard_group {
    const struct ioc_fieldref *field;
    enum guard_kind kind;
    struct guard_entry *e; /* sorted by literal: ascending, or descending for BELOW */
    size_t n;
};

/* Candidate rules for one (source, type): indices into rules, in the order
 * they are visited (inhibitors first, then file order). When some of them
 * form guard groups, `plain` holds the positions of the others. */
struct ioc_rule_list {
    uint32_t *idx;
    size_t n;
    uint32_t *plain;
    size_t n_plain;
    struct guard_group *groups;
    size_t n_groups;
};

struct ioc_ruleset {
    struct ioc_rule *rules;
    size_t n;
    struct ioc_literal *list_items; /* storage of all lists' items */
    struct ioc_list *lists;
    size_t n_lists;
    char **files;
    size_t n_files;
    char hash[17];
    char *files_json;
    /* The index: for each source, type -> struct ioc_rule_list*, and the
     * list for types no rule names. */
    struct ioc_map by_type[IOC_SRC__COUNT];
    struct ioc_rule_list any_type[IOC_SRC__COUNT];
    /* Room for one selection (ioc__ruleset_select): a ruleset serves one
     * engine, on its loop thread. */
    uint32_t *select_buf;
};

/* The rules that may match an event, in the order to visit them: those of
 * its source and type, less the guarded ones whose guard fails for it.
 * Returns their count and sets *idx (valid until the next call). */
size_t ioc__ruleset_select(struct ioc_ruleset *rs, const struct ioc_event *ev,
                           const uint32_t **idx);

/* The grade a match gives under a rule's grade spec: 1..4, or 0 when no
 * band holds. */
int ioc__rule_grade(const struct ioc_rule *r, const struct ioc_event *ev,
                    const struct ioc_match *m);

/* Renders a template into buf (NUL-terminated, truncated to n). */
void ioc__tpl_render(const struct ioc_tpl *t, const struct ioc_event *ev,
                     const struct ioc_match *m, char *buf, size_t n);

/* Renders the title into buf (NUL-terminated, truncated to n). */
void ioc__rule_title(const struct ioc_rule *r, const struct ioc_event *ev,
                     const struct ioc_match *m, char *buf, size_t n);

#endif
