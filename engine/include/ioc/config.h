/*
 * config.h — iocd.yaml: the engine's configuration.
 *
 * The embedded default (engine/default.yaml, compiled into the binary) is
 * loaded first; a config file then replaces whole top-level sections, so any
 * section a file leaves out keeps its default. Every key of every section is
 * declared once in an option table; unknown keys are errors naming
 * file:line:column and the allowed keys. Relative paths in a file resolve
 * against the file's directory; in the embedded default, against the data
 * directory (IOC_DATADIR, overridable by the environment variable of the same
 * name).
 */
#ifndef IOC_CONFIG_H
#define IOC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "ioc/curve.h"
#include "ioc/diag.h"

struct ioc_ynode;

struct ioc_engine_conf {
    long long lateness_ms;
    long long dedup_window_ms; /* how long (event time) an id is remembered */
    long long reopen_within_ms;
    char *cap_sender;
    char *timezone;
    long long max_event_bytes;
    long long batch_max; /* records per store batch before it is handed over */
    /* system.overload opens once pressure has lasted this long (or at the
     * first shed event) and resolves once it has been normal this long. */
    long long overload_after_ms, overload_clear_ms;
};

struct ioc_store_conf {
    char *path;
    bool archive_events;
    char *synchronous;
    long long queue_max;
    long long hold_max; /* batches held in memory: in flight plus refused */
};

struct ioc_control_conf {
    char *bind;
};

/* One plugin instance as the config declares it. */
struct ioc_plugin_conf {
    char *plugin;                  /* "zmq", "file", "zmq_pub" */
    const struct ioc_ynode *node;  /* its mapping (borrowed from the config's trees) */
};

struct ioc_grade_conf {
    int grade;
    char *name;
    long long ack_within_ms; /* 0 = no SLA */
    char *cap_severity;
};

struct ioc_config {
    char *file; /* the file it came from; NULL for the embedded default only */
    struct ioc_engine_conf engine;
    struct ioc_store_conf store;
    struct ioc_control_conf control;
    struct ioc_plugin_conf *inputs;
    size_t n_inputs;
    struct ioc_plugin_conf *outputs;
    size_t n_outputs;
    char **rules; /* rule files or directories, resolved paths */
    size_t n_rules;
    struct ioc_grade_conf grades[5]; /* [1..4]; [0] unused */
    /* security: and the operators' keys, read from their files at load.
     * Without security.server_key, every bind must be loopback. */
    struct ioc_security_conf security;
    /* Trees the config was read from (owned): plugin nodes point into them. */
    struct ioc_ynode **trees;
    size_t n_trees;
    /* Where shifts start, in minutes after local midnight (engine.timezone),
     * ascending and distinct: shifts: ["06:00", "14:00", "22:00"]. A shift
     * runs to the next start; the last one runs past midnight to the first. */
    int *shifts;
    size_t n_shifts;
};

/* Loads the embedded default, then path over it (path NULL: default only).
 * Every error goes into diag; returns IOC_ECONFIG (or IOC_EYAML/IOC_ENOENT)
 * when there was any, with *out NULL. */
int ioc_config_load(const char *path, struct ioc_config **out, struct ioc_diag *diag);
void ioc_config_free(struct ioc_config *c);

/* Replaces the rule paths (used by --rules). Takes copies. */
int ioc_config_set_rules(struct ioc_config *c, const char *const *paths, size_t n);
/* Replaces the inputs by one plugin with a synthetic mapping {plugin: name, key: value}. */
int ioc_config_set_input(struct ioc_config *c, const char *plugin, const char *key,
                         const char *value);
/* Removes all outputs. */
void ioc_config_clear_outputs(struct ioc_config *c);
/* Sets a string option (store.path) to a copy. */
int ioc_config_set_str(char **slot, const char *value);

/* The effective node of a top-level section (the file's, else the
 * default's), or NULL; borrowed from the config. */
const struct ioc_ynode *ioc_config_section(const struct ioc_config *c, const char *name);

/* The data directory: $IOC_DATADIR or the compiled-in source tree. */
const char *ioc_datadir(void);

#endif
