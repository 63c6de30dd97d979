/*
 * ioc_keygen.c — `ioc keygen`: makes CURVE key pairs for the engine, its
 * publishers and its operators.
 *
 * Each name gives NAME.key (both keys, mode 0600: stays with its owner) and
 * NAME.pub (the public key: goes into the engine's config). The key pair
 * comes from libzmq's zmq_curve_keypair; writing and the file format are the
 * engine library's (curve.h), so iocd reads exactly what this writes.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <zmq.h>

#include "ioc/curve.h"
#include "ioc_cmd.h"

static const char keygen_usage[] =
    "usage: ioc keygen [--out DIR] NAME...\n"
    "\n"
    "Makes a CURVE key pair per NAME: DIR/NAME.key holds both keys (mode 0600;\n"
    "it stays with its owner) and DIR/NAME.pub the public key (it goes into the\n"
    "engine's config: security.server_key names the engine's .key, and\n"
    "security.publishers, security.consoles and operators[].key name .pub files).\n"
    "Existing files are never overwritten.\n"
    "\n"
    "options:\n"
    "  -o, --out DIR        where to write (default: the current directory)\n"
    "  -h, --help           show this help\n"
    "\n"
    "example:\n"
    "  ioc keygen --out /etc/ioc/keys server gw1 op1 sup1\n";

int cli_cmd_keygen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = ".";
    char err[512];
    int c;
    cli_opt_begin();
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            dir = optarg;
            break;
        case 'h':
            fputs(keygen_usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error("keygen", c, argv);
        }
    }
    if (optind >= argc) {
        return cli_usage_error("keygen", "give the name of at least one key pair");
    }
    if (!zmq_has("curve")) {
        return cli_fail("keygen", "this libzmq is built without CURVE");
    }
    for (int i = optind; i < argc; i++) {
        if (!argv[i][0] || strchr(argv[i], '/')) {
            return cli_usage_error("keygen", "a key name is a plain file name, not '%s'", argv[i]);
        }
    }
    for (int i = optind; i < argc; i++) {
        if (ioc_curve_keygen(dir, argv[i], err, sizeof err) != 0) {
            return cli_fail("keygen", "%s", err);
        }
        printf("%s/%s.key %s/%s.pub\n", dir, argv[i], dir, argv[i]);
    }
    return CLI_OK;
}
