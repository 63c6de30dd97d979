/*
 * rule.h — SOP rule files: loading, compiling and indexing.
 *
 * A rule set is every rule of a list of files and directories (*.yaml,
 * *.yml, read in name order), compiled at load time: expressions become
 * ioc_expr, key fields become field references, titles become templates.
 * Loading reports every error of every file as file:line:column and refuses
 * the whole set when there is any, so a set is either fully valid or absent.
 *
 * Rules are indexed by source and type, so the cost of an event does not
 * grow with the rules that cannot match it.
 *
 * Threads: a loaded set is immutable and may be read from any thread.
 */
#ifndef IOC_RULE_H
#define IOC_RULE_H

#include <stddef.h>

#include "ioc/diag.h"

struct ioc_ruleset;

/* Loads rule files (a path may be a directory). Every error goes to diag;
 * returns IOC_ERULE (or IOC_EYAML, IOC_ENOENT) with *out NULL when there was
 * any. */
int ioc_ruleset_load(const char *const *paths, size_t n, struct ioc_ruleset **out,
                     struct ioc_diag *diag);
void ioc_ruleset_free(struct ioc_ruleset *rs);

size_t ioc_ruleset_count(const struct ioc_ruleset *rs);
/* SHA-256-free content hash (hex, 16 chars) of the files' bytes, in load order. */
const char *ioc_ruleset_hash(const struct ioc_ruleset *rs);
/* JSON array of the files read. */
const char *ioc_ruleset_files_json(const struct ioc_ruleset *rs);

#endif
