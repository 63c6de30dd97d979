/*
 * fuzz_control.c — the control socket's request path: bytes as one request
 * frame -> the real ioc_control module -> a test-double handler -> the reply.
 *
 * control.c has no pure request parser to call: the strict JSON scanner, the
 * cJSON parse, the envelope and "op" checks and the reply fix-up (answer(),
 * json_fault(), finish_reply()) are static and take a ZeroMQ message. Rather
 * than fuzz a copy of them, this harness drives the module itself, unchanged:
 * ioc_control_start() on a private libuv loop bound to an ephemeral loopback
 * port, and a DEALER client in the same thread that sends each input as one
 * frame and turns the loop until the reply arrives (the way
 * test/integration/test_control.c does). So every input goes through exactly
 * what a console's request goes through, including the cJSON print of the
 * reply.
 *
 * The handler stands in for the engine's (operate.c, not fuzzed here: it needs
 * a whole engine): it echoes the request back, fails with and without a
 * message, contradicts its own return code, and refuses unknown ops, so every
 * branch of the reply contract is reached. Checked for every input, from the
 * reply alone (control.h): it is one JSON object whose first member is a
 * boolean "ok"; when ok is false there is a non-empty "error"; the handler
 * ran only for a JSON object with a string "op"; a refusal's byte offset is
 * inside the input; and the module never answers "out of memory", which it
 * would if its scanner passed text that cJSON then refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <uv.h>
#include <zmq.h>

#include "ioc/control.h"
#include "ioc/error.h"

#include "fuzz.h"

/* A reply is due at once; this only turns a hang into a reported crash. */
#define REPLY_DEADLINE_MS 10000

static struct {
    bool ready;
    uv_loop_t loop;
    struct ioc_control *ctl;
    void *zctx;
    void *client;
    unsigned long handled; /* calls of the handler so far */
} F;

static int handler(void *arg, const cJSON *req, cJSON *reply)
{
    (void)arg;
    const char *op = cJSON_GetObjectItemCaseSensitive(req, "op")->valuestring;
    F.handled++;
    if (strcmp(op, "echo") == 0) {
        cJSON_AddItemToObject(reply, "request", cJSON_Duplicate(req, 1));
        return 0;
    }
    if (strcmp(op, "fail") == 0) {
        cJSON_AddStringToObject(reply, "error", "failed as asked");
        return IOC_EINVAL;
    }
    if (strcmp(op, "fail_plain") == 0) {
        return IOC_ESTATE; /* no error text: the module names the code */
    }
    if (strcmp(op, "ok_but_fail") == 0) {
        cJSON_AddBoolToObject(reply, "ok", true); /* contradicted by the code */
        cJSON_AddStringToObject(reply, "error", "");
        return IOC_EINVAL;
    }
    if (strcmp(op, "says_not_ok") == 0) {
        cJSON_AddBoolToObject(reply, "ok", false); /* and no error text */
        cJSON_AddBoolToObject(reply, "ok", true);  /* a second "ok" must not survive */
        return 0;
    }
    if (strcmp(op, "status") == 0) {
        /* Fields read the way the engine's handler reads them. */
        const cJSON *who = cJSON_GetObjectItemCaseSensitive(req, "operator");
        const cJSON *inc = cJSON_GetObjectItemCaseSensitive(req, "incident");
        cJSON_AddStringToObject(reply, "operator", cJSON_IsString(who) ? who->valuestring : "");
        cJSON_AddNumberToObject(reply, "incident", cJSON_IsNumber(inc) ? inc->valuedouble : -1);
        cJSON_AddItemToObject(reply, "store", cJSON_CreateObject());
        return 0;
    }
    char text[128];
    snprintf(text, sizeof text, "unknown op '%.40s'", op);
    cJSON_AddStringToObject(reply, "error", text);
    return IOC_EINVAL;
}

static void setup(void)
{
    char err[256] = "";
    int linger = 0;
    IOC_FUZZ_ASSERT(uv_loop_init(&F.loop) == 0, "uv_loop_init");
    int rc =
        ioc_control_start(&F.loop, "tcp://127.0.0.1:*", handler, NULL, &F.ctl, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "fuzz_control: %s\n", err);
    }
    IOC_FUZZ_ASSERT(rc == 0 && F.ctl, "cannot start the control socket");
    F.zctx = zmq_ctx_new();
    IOC_FUZZ_ASSERT(F.zctx != NULL, "zmq_ctx_new");
    F.client = zmq_socket(F.zctx, ZMQ_DEALER);
    IOC_FUZZ_ASSERT(F.client != NULL, "zmq_socket");
    zmq_setsockopt(F.client, ZMQ_LINGER, &linger, sizeof linger);
    IOC_FUZZ_ASSERT(zmq_connect(F.client, ioc_control_endpoint(F.ctl)) == 0, "zmq_connect");
    F.ready = true;
}

void ioc_fuzz__control_teardown(void)
{
    if (!F.ready) {
        return;
    }
    ioc_control_stop(F.ctl);
    uv_run(&F.loop, UV_RUN_DEFAULT); /* the close callbacks free the module */
    IOC_FUZZ_ASSERT(uv_loop_close(&F.loop) == 0, "the loop did not close clean");
    zmq_close(F.client);
    zmq_ctx_term(F.zctx);
    memset(&F, 0, sizeof F);
}

/* Turns the loop until the client holds the reply; the reply is put in m. */
static void await_reply(zmq_msg_t *m)
{
    uint64_t start = uv_hrtime();
    for (;;) {
        uv_run(&F.loop, UV_RUN_NOWAIT);
        if (zmq_msg_recv(m, F.client, ZMQ_DONTWAIT) >= 0) {
            return;
        }
        IOC_FUZZ_ASSERT(zmq_errno() == EAGAIN || zmq_errno() == EINTR, "client receive failed");
        IOC_FUZZ_ASSERT((uv_hrtime() - start) / 1000000 < REPLY_DEADLINE_MS, "no reply in time");
        /* Sleep until either side has something: the loop's backend fd wakes
         * for the control socket, the client for its reply. The loop's own
         * timeout is 0 while its idle handle still has work queued. */
        int timeout = uv_backend_timeout(&F.loop);
        zmq_pollitem_t items[2] = {{F.client, 0, ZMQ_POLLIN, 0},
                                   {NULL, uv_backend_fd(&F.loop), ZMQ_POLLIN, 0}};
        zmq_poll(items, 2, timeout < 0 || timeout > 100 ? 100 : timeout);
    }
}

/* "invalid JSON at byte N": N must be inside the input or at its end. */
static void check_offset(const char *error, size_t size)
{
    unsigned long at;
    if (sscanf(error, "invalid JSON at byte %lu", &at) == 1) {
        IOC_FUZZ_ASSERT(at <= size, "a JSON fault offset past the end");
    }
}

int ioc_fuzz_control(const uint8_t *data, size_t size)
{
    if (!F.ready) {
        setup();
    }
    unsigned long handled = F.handled;
    IOC_FUZZ_ASSERT(zmq_send(F.client, data, size, 0) == (int)size, "client send failed");
    zmq_msg_t m;
    zmq_msg_init(&m);
    await_reply(&m);
    IOC_FUZZ_ASSERT(!zmq_msg_more(&m), "a reply of more than one frame");

    const char *text = zmq_msg_data(&m);
    size_t len = zmq_msg_size(&m);
    cJSON *reply = cJSON_ParseWithLength(text, len);
    IOC_FUZZ_ASSERT(cJSON_IsObject(reply), "the reply is not a JSON object");
    const cJSON *ok = reply->child;
    IOC_FUZZ_ASSERT(ok && ok->string && strcmp(ok->string, "ok") == 0 && cJSON_IsBool(ok),
                    "the reply does not start with a boolean \"ok\"");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(reply, "error");
    if (cJSON_IsFalse(ok)) {
        IOC_FUZZ_ASSERT(cJSON_IsString(error) && error->valuestring[0],
                        "a refusal without an error");
        IOC_FUZZ_ASSERT(strcmp(error->valuestring, "out of memory") != 0,
                        "\"out of memory\": the module could not parse what it had accepted");
        check_offset(error->valuestring, size);
    }
    if (F.handled != handled) {
        /* The module judged it a command: it must be one. */
        cJSON *req = cJSON_ParseWithLength((const char *)data, size);
        IOC_FUZZ_ASSERT(cJSON_IsObject(req) &&
                            cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "op")),
                        "the handler got something that is not a command");
        cJSON_Delete(req);
    }
    cJSON_Delete(reply);
    zmq_msg_close(&m);
    return 0;
}
