/*
 * engine.h — the engine as a library.
 *
 * One engine owns one libuv loop's worth of work: its inputs and outputs
 * (plugins), the event decoder, the rule set, the incident table and the
 * store. iocd, `ioc replay --local`, `ioc test` and the tests all drive this
 * same code; nothing is evaluated two ways.
 *
 * Threads: everything here runs on the loop thread, except the store's writer
 * thread, which the store hides.
 */
#ifndef IOC_ENGINE_H
#define IOC_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "ioc/config.h"
#include "ioc/diag.h"

struct ioc_engine;

struct ioc_engine_stats {
    uint64_t received;   /* messages handed to the engine */
    uint64_t accepted;   /* valid, on time, not duplicates */
    uint64_t duplicates; /* dropped: same (source, id) */
    uint64_t rejected;   /* all reasons below together */
    uint64_t rejected_json, rejected_schema, rejected_source, rejected_size, rejected_encoding;
    uint64_t rejected_late;
    uint64_t matches;    /* rule matches */
    uint64_t opened;     /* incidents opened */
    uint64_t changes;    /* incident changes recorded (opened, updated, graded ...) */
    uint64_t inhibited;  /* changes recorded but not published (inhibits) */
    uint64_t resolved;   /* incidents resolved by their rule */
    uint64_t silenced;   /* changes recorded but not published (silences) */
    uint64_t escalations; /* escalation levels notified */
    uint64_t refused;     /* control commands refused */
    uint64_t refused_connections; /* handshakes the ZAP handler refused (CURVE) */
    uint64_t published;  /* changes handed to outputs after commit */
    uint64_t incidents_open;
    uint64_t shed;          /* dropped at an ingest socket while overloaded (counted, not rejected) */
    uint64_t dropped_nomem; /* events dropped because memory ran out while processing them */
    int overloaded;         /* the store is full: reliable inputs wait, the ingest socket sheds */
    int rules;           /* rules loaded */
    int64_t watermark;   /* event time, ms */
};

/* Builds an engine from a config: loads the rules (errors into diag), opens
 * the store, creates the plugin instances. Nothing runs until start. */
int ioc_engine_create(const struct ioc_config *cfg, uv_loop_t *loop, struct ioc_engine **out,
                      struct ioc_diag *diag);
/* Starts outputs then inputs. */
int ioc_engine_start(struct ioc_engine *e);
/* Stops inputs, commits what is pending, waits for the store, stops outputs.
 * The loop then ends once its handles have closed. Safe to call twice. When
 * every input is finite, the engine calls this itself after the last one ends. */
void ioc_engine_stop(struct ioc_engine *e);
/* Frees everything; call after the loop has returned. Accepts NULL. */
void ioc_engine_destroy(struct ioc_engine *e);

/* Loads the configured rule files again. A set with any error is refused
 * whole (errors into diag, the old rules keep running). Rules whose id and
 * definition are unchanged keep their windows; changed rules start fresh;
 * removed rules stop matching and their open incidents stay open. Every
 * attempt is recorded in rule_sets with actor and outcome. */
int ioc_engine_reload(struct ioc_engine *e, const char *actor, struct ioc_diag *diag);

void ioc_engine_get_stats(const struct ioc_engine *e, struct ioc_engine_stats *out);

/* Runs the engine in-process over one JSON-lines file until its end, with no
 * outputs, as `ioc replay --local` does. cfg is modified (inputs, outputs). */
int ioc_engine_run_file(struct ioc_config *cfg, const char *file, struct ioc_engine_stats *stats,
                        double *seconds, struct ioc_diag *diag);

#endif
