/*
 * ioc.c — the `ioc` command line: finds the subcommand and hands it the rest
 * of argv.
 *
 * The table below is the one list of subcommands: `ioc --help` prints it and
 * dispatch searches it, so a new command is one row plus its own file. Each
 * subcommand owns its usage text and prints it for --help; `ioc help CMD`
 * simply runs "CMD --help", so there is one text per command, not two.
 */
#include <stdio.h>
#include <string.h>

#include "ioc_cmd.h"

struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

static const struct cli_command commands[] = {
    {"check", "validate rule and config files (file:line:column for each error)", cli_cmd_check},
    {"test", "run rule tests: events in, the expected incidents out (rules/tests/)",
     cli_cmd_test},
    {"replay", "send a recorded .jsonl stream to an engine, or run it in-process (--local)",
     cli_cmd_replay},
    {"send", "send JSON-lines events from standard input to a running engine", cli_cmd_send},
    {"console", "watch incident changes live as the engine publishes them", cli_cmd_console},
    {"incidents", "list the incidents recorded in a database (table or JSON lines)",
     cli_cmd_incidents},
    {"report", "MTTA, MTTR, SLA breaches, escalations per grade, rule and shift", cli_cmd_report},
    {"reload", "make a running engine load its rule files again", cli_cmd_reload},
    {"status", "show a running engine's state and counters", cli_cmd_status},
    {"silence", "mute a rule, key or zone on a running engine for a bounded time",
     cli_cmd_silence},
    {"unsilence", "end a silence now", cli_cmd_unsilence},
    {"ack", "acknowledge an incident (its escalation stops)", cli_cmd_ack},
    {"comment", "add a comment to an incident's log", cli_cmd_comment},
    {"resolve", "resolve an incident (supervisors)", cli_cmd_resolve},
    {"approve", "approve an incident's public warning (CAP 1.2)", cli_cmd_approve},
    {"keygen", "make CURVE key pairs for the engine, publishers and operators", cli_cmd_keygen},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *out)
{
    fputs("usage: ioc <command> [options]\n"
          "\n"
          "The command line of the IOC event-correlation engine: check rule files,\n"
          "feed and replay events, watch and query incidents.\n"
          "\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "  %-10s %s\n", "version", "print the version");
    fprintf(out, "  %-10s %s\n", "help", "show the help of a command: ioc help CMD");
    fputs("\n"
          "Every command takes --help. Exit status: 0 success, 1 failure, 2 misuse.\n"
          "\n"
          "example:\n"
          "  ioc check rules/ && ioc replay test/data/city-day.jsonl --local --db /tmp/day.db\n",
          out);
}

static const struct cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

static int unknown_command(const char *name)
{
    fprintf(stderr, "ioc: unknown command '%s'\nsee 'ioc --help'\n", name);
    return CLI_USAGE;
}

static int run_help(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stdout);
        return CLI_OK;
    }
    if (argc > 2) {
        fprintf(stderr, "ioc help: one command at a time\nsee 'ioc --help'\n");
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "help") == 0) {
        print_usage(stdout);
        return CLI_OK;
    }
    const struct cli_command *cmd = find_command(argv[1]);
    if (!cmd) {
        return unknown_command(argv[1]);
    }
    char help[] = "--help";
    char *sub_argv[] = {argv[1], help, NULL};
    return cmd->run(2, sub_argv);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("ioc %s\n", IOC_VERSION);
        return CLI_OK;
    }
    if (strcmp(name, "help") == 0) {
        return run_help(argc - 1, argv + 1);
    }
    if (name[0] == '-') {
        fprintf(stderr, "ioc: unknown option '%s'\nsee 'ioc --help'\n", name);
        return CLI_USAGE;
    }
    const struct cli_command *cmd = find_command(name);
    if (!cmd) {
        return unknown_command(name);
    }
    /* The subcommand sees its own name as argv[0], so getopt and its
     * messages work as if it were a program of its own. */
    return cmd->run(argc - 1, argv + 1);
}
