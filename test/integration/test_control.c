/*
 * test_control.c — the control socket on a real libuv loop, with real REQ and
 * DEALER clients, and `ioc reload` / `ioc status` against it.
 *
 * The test owns the loop and turns it in small steps (UV_RUN_NOWAIT) while its
 * clients, in the same thread, send and wait for replies, every wait bounded
 * by a deadline. The handler below stands in for the engine's: "echo" returns
 * the request, "fail" refuses, "vanish" closes the asking client before its
 * reply goes out, "stop" stops the control socket from inside a command, and
 * "reload"/"status" answer as the engine's handler is meant to. Every case
 * ends by stopping the socket and checking that the loop closes clean.
 */
#include <uv.h>

#include "ioc/control.h"
#include "ioc/error.h"

#include "harness.h"
#include "support.h"

#define WAIT_MS 10000

struct fixture {
    uv_loop_t loop;
    struct ioc_control *ctl;
    char endpoint[64];
    void *zctx;
    void *vanish_sock; /* the client "vanish" closes */
    int handled;
    char operator_name[64]; /* of the last reload */
};

static int test_handler(void *arg, const cJSON *req, cJSON *reply)
{
    struct fixture *f = arg;
    const char *op = cJSON_GetObjectItemCaseSensitive(req, "op")->valuestring;
    f->handled++;
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
        return IOC_EINVAL;
    }
    if (strcmp(op, "says_not_ok") == 0) {
        cJSON_AddBoolToObject(reply, "ok", false); /* and no error text */
        return 0;
    }
    if (strcmp(op, "vanish") == 0) {
        int linger = 0;
        zmq_setsockopt(f->vanish_sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(f->vanish_sock);
        f->vanish_sock = NULL;
        return 0;
    }
    if (strcmp(op, "stop") == 0) {
        ioc_control_stop(f->ctl);
        f->ctl = NULL;
        return 0;
    }
    if (strcmp(op, "reload") == 0) {
        const cJSON *who = cJSON_GetObjectItemCaseSensitive(req, "operator");
        snprintf(f->operator_name, sizeof f->operator_name, "%s",
                 cJSON_IsString(who) ? who->valuestring : "(none)");
        if (strcmp(f->operator_name, "breaker") == 0) {
            cJSON_AddStringToObject(reply, "error",
                                    "rules.yaml:3:5: unknown field 'vlaue'\n"
                                    "rules.yaml:9:1: rule id 'flood.level' is used twice");
            return IOC_ERULE;
        }
        cJSON_AddNumberToObject(reply, "rules", 3);
        cJSON_AddStringToObject(reply, "hash", "3f9a1c0de2b4");
        return 0;
    }
    if (strcmp(op, "status") == 0) {
        cJSON_AddNumberToObject(reply, "received", 42);
        cJSON_AddNumberToObject(reply, "rules", 3);
        cJSON *store = cJSON_AddObjectToObject(reply, "store");
        cJSON_AddStringToObject(store, "path", "ioc.db");
        cJSON_AddNumberToObject(store, "queue", 0);
        return 0;
    }
    char text[128];
    snprintf(text, sizeof text, "unknown op '%s'", op);
    cJSON_AddStringToObject(reply, "error", text);
    return IOC_EINVAL;
}

static void fixture_start(struct fixture *f)
{
    char err[256] = "";
    memset(f, 0, sizeof *f);
    REQUIRE(uv_loop_init(&f->loop) == 0);
    snprintf(f->endpoint, sizeof f->endpoint, "tcp://127.0.0.1:%d", h_free_port());
    int rc = ioc_control_start(&f->loop, f->endpoint, test_handler, f, &f->ctl, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "start: %s\n", err);
    }
    REQUIRE(rc == 0 && f->ctl);
    CHECK_STR(ioc_control_endpoint(f->ctl), f->endpoint);
    f->zctx = zmq_ctx_new();
    REQUIRE(f->zctx);
}

/* Stops the control socket, runs the loop out and checks it closed clean. */
static void fixture_end(struct fixture *f)
{
    ioc_control_stop(f->ctl);
    f->ctl = NULL;
    CHECK_EQ_INT(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(uv_loop_close(&f->loop), 0);
    if (f->vanish_sock) {
        zmq_close(f->vanish_sock);
    }
    zmq_ctx_term(f->zctx);
}

static void *client(struct fixture *f, int type)
{
    int linger = 0;
    void *s = zmq_socket(f->zctx, type);
    REQUIRE(s);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    REQUIRE(zmq_connect(s, f->endpoint) == 0);
    return s;
}

static void send_text(void *sock, const char *text)
{
    REQUIRE(zmq_send(sock, text, strlen(text), 0) == (int)strlen(text));
}

/* Turns the loop until sock has a message, then returns its last frame as a
 * string (caller frees) and the number of frames in *frames (may be NULL);
 * NULL at the deadline. */
static char *await_reply(struct fixture *f, void *sock, int *frames, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, 1) <= 0) {
            continue;
        }
        zmq_msg_t m;
        zmq_msg_init(&m);
        char *last = NULL;
        int n = 0;
        do {
            REQUIRE(zmq_msg_recv(&m, sock, 0) >= 0);
            free(last);
            last = strndup(zmq_msg_data(&m), zmq_msg_size(&m));
            n++;
        } while (zmq_msg_more(&m));
        zmq_msg_close(&m);
        if (frames) {
            *frames = n;
        }
        return last;
    }
    return NULL;
}

/* The reply to text sent on a fresh REQ, parsed (caller deletes). */
static cJSON *ask(struct fixture *f, const char *text)
{
    void *req = client(f, ZMQ_REQ);
    send_text(req, text);
    char *raw = await_reply(f, req, NULL, WAIT_MS);
    REQUIRE(raw);
    /* ok is the first member of every reply. */
    CHECK(strncmp(raw, "{\"ok\":", 6) == 0);
    cJSON *j = cJSON_Parse(raw);
    REQUIRE(cJSON_IsObject(j));
    REQUIRE(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "ok")));
    free(raw);
    zmq_close(req);
    return j;
}

static bool is_ok(const cJSON *j)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok"));
}

static const char *error_of(const cJSON *j)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    return cJSON_IsString(e) ? e->valuestring : NULL;
}

/* ---- Round trips ------------------------------------------------------------ */

TEST(req_round_trip)
{
    struct fixture f;
    fixture_start(&f);
    cJSON *j = ask(&f, "{\"op\":\"echo\",\"x\":1,\"text\":\"น้ำท่วม\"}");
    CHECK(is_ok(j));
    const cJSON *echoed = cJSON_GetObjectItemCaseSensitive(j, "request");
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(echoed, "x")->valuedouble, 1);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(echoed, "text")->valuestring, "น้ำท่วม");
    CHECK(!cJSON_GetObjectItemCaseSensitive(j, "error"));
    cJSON_Delete(j);

    /* A REQ takes several commands in turn on one connection. */
    void *req = client(&f, ZMQ_REQ);
    for (int i = 0; i < 5; i++) {
        char text[64];
        snprintf(text, sizeof text, "{\"op\":\"echo\",\"i\":%d}", i);
        send_text(req, text);
        char *raw = await_reply(&f, req, NULL, WAIT_MS);
        REQUIRE(raw);
        snprintf(text, sizeof text, "\"i\":%d", i);
        CHECK_CONTAINS(raw, text);
        free(raw);
    }
    zmq_close(req);

    struct ioc_control_stats st;
    ioc_control_get_stats(f.ctl, &st);
    CHECK_EQ_INT(st.requests, 6);
    CHECK_EQ_INT(st.handled, 6);
    CHECK_EQ_INT(st.replies, 6);
    CHECK_EQ_INT(st.refused, 0);
    CHECK_EQ_INT(st.dropped, 0);
    fixture_end(&f);
}

TEST(dealer_round_trip)
{
    struct fixture f;
    fixture_start(&f);
    void *d = client(&f, ZMQ_DEALER);
    int frames = 0;

    /* A DEALER without a delimiter gets its reply without one. */
    send_text(d, "{\"op\":\"echo\",\"n\":7}");
    char *raw = await_reply(&f, d, &frames, WAIT_MS);
    REQUIRE(raw);
    CHECK_EQ_INT(frames, 1);
    CHECK(strncmp(raw, "{\"ok\":true,", 11) == 0);
    CHECK_CONTAINS(raw, "\"n\":7");
    free(raw);

    /* A DEALER that speaks like a REQ (empty delimiter first) gets it back. */
    REQUIRE(zmq_send(d, "", 0, ZMQ_SNDMORE) == 0);
    send_text(d, "{\"op\":\"echo\",\"n\":8}");
    zmq_msg_t m;
    zmq_msg_init(&m);
    int64_t deadline = h_now_ms() + WAIT_MS;
    zmq_pollitem_t it = {.socket = d, .events = ZMQ_POLLIN};
    while (h_now_ms() < deadline && zmq_poll(&it, 1, 0) == 0) {
        uv_run(&f.loop, UV_RUN_NOWAIT);
        zmq_poll(&it, 1, 1);
    }
    REQUIRE(zmq_msg_recv(&m, d, ZMQ_DONTWAIT) == 0); /* the delimiter */
    CHECK(zmq_msg_more(&m));
    REQUIRE(zmq_msg_recv(&m, d, ZMQ_DONTWAIT) > 0);
    CHECK(!zmq_msg_more(&m));
    char *body = strndup(zmq_msg_data(&m), zmq_msg_size(&m));
    CHECK_CONTAINS(body, "\"n\":8");
    free(body);
    zmq_msg_close(&m);

    zmq_close(d);
    fixture_end(&f);
}

/* ---- Requests the module answers by itself ------------------------------------ */

TEST(invalid_json_names_the_byte)
{
    struct fixture f;
    fixture_start(&f);
    static const struct {
        const char *body;
        size_t len;
        const char *error;
    } cases[] = {
        {"not json", 8, "invalid JSON at byte 1"}, /* "n" could still be null */
        {"? json", 6, "invalid JSON at byte 0"},
        {"", 0, "invalid JSON at byte 0"},
        {"{\"op\":\"echo\"} x", 15, "invalid JSON at byte 14"},
        {"{\"op\":\"echo\",}", 14, "invalid JSON at byte 13"},
        {"{\"op\":\0\"echo\"}", 14, "invalid JSON at byte 6"},
        {"{op:1}", 6, "invalid JSON at byte 1"},
        {"{\"op\":\"ec", 9, "invalid JSON at byte 9"},
        {"{\"op\":\"echo\",\"n\":01}", 20, "invalid JSON at byte 18"},
        {"{\"op\":\"a\x01\"}", 11, "invalid JSON at byte 8"},
        {"{\"op\":\"a\\u0000b\"}", 16, "invalid JSON at byte 10"},
        {"{\"op\":\"a\\x\"}", 12, "invalid JSON at byte 9"},
        {"{\"op\":\"echo\"}\n\t ", 16, NULL}, /* trailing blanks are fine */
    };
    void *d = client(&f, ZMQ_DEALER);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        REQUIRE(zmq_send(d, cases[i].body, cases[i].len, 0) == (int)cases[i].len);
        char *raw = await_reply(&f, d, NULL, WAIT_MS);
        REQUIRE(raw);
        cJSON *j = cJSON_Parse(raw);
        if (cases[i].error) {
            CHECK(!is_ok(j));
            CHECK_STR(error_of(j), cases[i].error);
        } else {
            CHECK(is_ok(j));
        }
        cJSON_Delete(j);
        free(raw);
    }

    /* Nesting deeper than a command needs stops at the bracket too deep. */
    char deep[200];
    memset(deep, '[', sizeof deep);
    REQUIRE(zmq_send(d, deep, sizeof deep, 0) == (int)sizeof deep);
    char *raw = await_reply(&f, d, NULL, WAIT_MS);
    CHECK_CONTAINS(raw, "invalid JSON at byte 64");
    free(raw);
    zmq_close(d);
    CHECK_EQ_INT(f.handled, 1);
    fixture_end(&f);
}

TEST(command_needs_an_op)
{
    struct fixture f;
    fixture_start(&f);
    const char *bodies[] = {"{}", "[1,2]", "\"op\"", "{\"op\":3}", "{\"op\":null}", "42"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        cJSON *j = ask(&f, bodies[i]);
        CHECK(!is_ok(j));
        CHECK_STR(error_of(j), "a command is a JSON object with \"op\"");
        cJSON_Delete(j);
    }
    CHECK_EQ_INT(f.handled, 0);
    struct ioc_control_stats st;
    ioc_control_get_stats(f.ctl, &st);
    CHECK_EQ_INT(st.refused, 6);
    fixture_end(&f);
}

TEST(too_large_and_multiframe_are_refused)
{
    struct fixture f;
    fixture_start(&f);
    size_t n = IOC_CONTROL_MAX_BYTES + 1;
    char *big = malloc(n + 1);
    REQUIRE(big);
    /* Valid JSON, so only the size can be the reason. */
    memset(big, ' ', n);
    memcpy(big, "{\"op\":\"echo\"}", 13);
    big[n] = '\0';
    cJSON *j = ask(&f, big);
    CHECK(!is_ok(j));
    CHECK_CONTAINS(error_of(j), "too large");
    cJSON_Delete(j);

    /* At the limit it is still a command. */
    big[n - 1] = '\0';
    j = ask(&f, big);
    CHECK(is_ok(j));
    cJSON_Delete(j);
    free(big);

    void *d = client(&f, ZMQ_DEALER);
    REQUIRE(zmq_send(d, "{\"op\":\"echo\"}", 13, ZMQ_SNDMORE) == 13);
    REQUIRE(zmq_send(d, "{\"op\":\"echo\"}", 13, 0) == 13);
    char *raw = await_reply(&f, d, NULL, WAIT_MS);
    REQUIRE(raw);
    CHECK_CONTAINS(raw, "one frame");
    free(raw);
    zmq_close(d);
    CHECK_EQ_INT(f.handled, 1);
    fixture_end(&f);
}

TEST(handler_failure)
{
    struct fixture f;
    fixture_start(&f);
    cJSON *j = ask(&f, "{\"op\":\"fail\"}");
    CHECK(!is_ok(j));
    CHECK_STR(error_of(j), "failed as asked");
    cJSON_Delete(j);

    j = ask(&f, "{\"op\":\"fail_plain\"}");
    CHECK(!is_ok(j));
    CHECK_STR(error_of(j), ioc_strerror(IOC_ESTATE));
    cJSON_Delete(j);

    /* The return code wins over an "ok": true the handler wrote. */
    j = ask(&f, "{\"op\":\"ok_but_fail\"}");
    CHECK(!is_ok(j));
    CHECK_STR(error_of(j), ioc_strerror(IOC_EINVAL));
    cJSON_Delete(j);

    /* A handler may refuse by setting ok itself; an error text is added. */
    j = ask(&f, "{\"op\":\"says_not_ok\"}");
    CHECK(!is_ok(j));
    CHECK(error_of(j) && error_of(j)[0]);
    cJSON_Delete(j);

    j = ask(&f, "{\"op\":\"frobnicate\"}");
    CHECK(!is_ok(j));
    CHECK_STR(error_of(j), "unknown op 'frobnicate'");
    cJSON_Delete(j);
    CHECK_EQ_INT(f.handled, 5);
    fixture_end(&f);
}

/* ---- Load and misbehaving clients ------------------------------------------ */

TEST(thousand_requests_from_four_dealers)
{
    enum { CLIENTS = 4, EACH = 250 };
    struct fixture f;
    fixture_start(&f);
    void *d[CLIENTS];
    int next[CLIENTS] = {0}, got = 0;
    for (int k = 0; k < CLIENTS; k++) {
        d[k] = client(&f, ZMQ_DEALER);
        for (int i = 0; i < EACH; i++) {
            char text[64];
            snprintf(text, sizeof text, "{\"op\":\"echo\",\"c\":%d,\"i\":%d}", k, i);
            send_text(d[k], text);
        }
    }
    int64_t deadline = h_now_ms() + 30000;
    while (got < CLIENTS * EACH && h_now_ms() < deadline) {
        uv_run(&f.loop, UV_RUN_NOWAIT);
        zmq_pollitem_t it[CLIENTS];
        for (int k = 0; k < CLIENTS; k++) {
            it[k] = (zmq_pollitem_t){.socket = d[k], .events = ZMQ_POLLIN};
        }
        if (zmq_poll(it, CLIENTS, 1) <= 0) {
            continue;
        }
        for (int k = 0; k < CLIENTS; k++) {
            char buf[256];
            int n;
            while ((n = zmq_recv(d[k], buf, sizeof buf - 1, ZMQ_DONTWAIT)) >= 0) {
                buf[n < (int)sizeof buf - 1 ? n : (int)sizeof buf - 1] = '\0';
                cJSON *j = cJSON_Parse(buf);
                const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "request");
                CHECK(is_ok(j));
                /* One client's replies come back in the order it asked. */
                CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(r, "c")->valuedouble, k);
                CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(r, "i")->valuedouble, next[k]);
                next[k]++;
                got++;
                cJSON_Delete(j);
            }
        }
    }
    CHECK_EQ_INT(got, CLIENTS * EACH);
    for (int k = 0; k < CLIENTS; k++) {
        CHECK_EQ_INT(next[k], EACH);
        zmq_close(d[k]);
    }
    struct ioc_control_stats st;
    ioc_control_get_stats(f.ctl, &st);
    CHECK_EQ_INT(st.handled, CLIENTS * EACH);
    CHECK_EQ_INT(st.replies, CLIENTS * EACH);
    fixture_end(&f);
}

TEST(vanished_client_does_not_break_the_next)
{
    struct fixture f;
    fixture_start(&f);
    /* The handler closes the asking client, so its reply goes to nobody. */
    f.vanish_sock = client(&f, ZMQ_REQ);
    send_text(f.vanish_sock, "{\"op\":\"vanish\"}");
    int64_t deadline = h_now_ms() + WAIT_MS;
    while (f.vanish_sock && h_now_ms() < deadline) {
        uv_run(&f.loop, UV_RUN_NOWAIT);
        zmq_poll(NULL, 0, 1);
    }
    REQUIRE(!f.vanish_sock);

    /* A DEALER that sends requests and leaves before any reply: its socket
     * lingers only to put the requests on the wire. */
    void *gone = client(&f, ZMQ_DEALER);
    int linger = 2000;
    zmq_setsockopt(gone, ZMQ_LINGER, &linger, sizeof linger);
    for (int i = 0; i < 20; i++) {
        send_text(gone, "{\"op\":\"echo\"}");
    }
    zmq_close(gone);
    void *probe = client(&f, ZMQ_REQ);
    send_text(probe, "{\"op\":\"echo\",\"probe\":1}");
    char *raw = await_reply(&f, probe, NULL, WAIT_MS);
    REQUIRE(raw);
    free(raw);

    /* The next clients are answered as if nothing happened. */
    for (int i = 0; i < 3; i++) {
        cJSON *j = ask(&f, "{\"op\":\"echo\"}");
        CHECK(is_ok(j));
        cJSON_Delete(j);
    }
    send_text(probe, "{\"op\":\"echo\",\"probe\":2}");
    raw = await_reply(&f, probe, NULL, WAIT_MS);
    CHECK_CONTAINS(raw, "\"probe\":2");
    free(raw);
    zmq_close(probe);
    fixture_end(&f);
}

/* ---- Start and stop ------------------------------------------------------------ */

TEST(stop_closes_clean)
{
    struct fixture f;
    fixture_start(&f);
    cJSON *j = ask(&f, "{\"op\":\"echo\"}");
    CHECK(is_ok(j));
    cJSON_Delete(j);
    ioc_control_stop(NULL); /* accepted */
    /* A request still queued at the stop is dropped with the socket. */
    void *d = client(&f, ZMQ_DEALER);
    send_text(d, "{\"op\":\"echo\"}");
    zmq_close(d);
    fixture_end(&f); /* checks uv_run and uv_loop_close */
}

TEST(stop_from_inside_the_handler)
{
    struct fixture f;
    fixture_start(&f);
    void *d = client(&f, ZMQ_DEALER);
    send_text(d, "{\"op\":\"stop\"}");
    send_text(d, "{\"op\":\"echo\"}");
    int64_t deadline = h_now_ms() + WAIT_MS;
    while (f.ctl && h_now_ms() < deadline) {
        uv_run(&f.loop, UV_RUN_NOWAIT);
        zmq_poll(NULL, 0, 1);
    }
    REQUIRE(!f.ctl);
    CHECK_EQ_INT(f.handled, 1); /* nothing after the stop */
    zmq_close(d);
    fixture_end(&f);
}

TEST(start_errors)
{
    uv_loop_t loop;
    struct ioc_control *a = NULL, *b = (struct ioc_control *)&loop;
    char err[256] = "";
    char ep[64];
    REQUIRE(uv_loop_init(&loop) == 0);

    CHECK(ioc_control_start(&loop, "nonsense://x", test_handler, NULL, &b, err, sizeof err) < 0);
    CHECK(b == NULL);
    CHECK_CONTAINS(err, "nonsense://x");

    CHECK_EQ_INT(ioc_control_start(&loop, "tcp://127.0.0.1:*", NULL, NULL, &b, err, sizeof err),
                 IOC_EINVAL);

    /* Port taken: the second bind fails, the first keeps working. */
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_free_port());
    REQUIRE(ioc_control_start(&loop, ep, test_handler, NULL, &a, err, sizeof err) == 0);
    err[0] = '\0';
    CHECK(ioc_control_start(&loop, ep, test_handler, NULL, &b, err, sizeof err) < 0);
    CHECK(b == NULL);
    CHECK_CONTAINS(err, "cannot bind");

    /* A "*" port is reported as the one chosen. */
    REQUIRE(ioc_control_start(&loop, "tcp://127.0.0.1:*", test_handler, NULL, &b, err,
                              sizeof err) == 0);
    CHECK(strncmp(ioc_control_endpoint(b), "tcp://127.0.0.1:", 16) == 0);
    CHECK(strchr(ioc_control_endpoint(b), '*') == NULL);

    ioc_control_stop(a);
    ioc_control_stop(b);
    CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* ---- ioc reload and ioc status ------------------------------------------------ */

/* Runs the ioc program while turning the loop, so the control socket answers
 * it from this thread; returns when the program has exited. */
static void run_cli(struct fixture *f, struct run_result *r, char *const argv[])
{
    struct child c;
    REQUIRE(child_spawn(&c, argv, NULL, 0) == 0);
    int64_t deadline = h_now_ms() + 30000;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        /* WNOWAIT leaves the child for child_wait to reap and collect. */
        if (waitid(P_PID, (id_t)c.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid) {
            break;
        }
        if (h_now_ms() >= deadline) {
            break; /* child_wait kills it */
        }
        uv_run(&f->loop, UV_RUN_NOWAIT);
        zmq_poll(NULL, 0, 1);
    }
    child_wait(&c, 5, r);
}

#define CLI(f, r, ...) run_cli((f), (r), (char *[]){IOC_BIN, __VA_ARGS__, NULL})

TEST(cli_reload_ok)
{
    struct fixture f;
    fixture_start(&f);
    struct run_result r;
    CLI(&f, &r, "reload", "--endpoint", f.endpoint, "--operator", "sup1");
    if (r.status != 0) {
        run_result_dump("reload", &r);
    }
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(r.out, "reloaded: 3 rules (set 3f9a1c0de2b4)\n");
    CHECK_STR(f.operator_name, "sup1");
    run_result_free(&r);

    /* The operator defaults to $USER, else "cli". */
    const char *user = getenv("USER");
    CLI(&f, &r, "reload", "-e", f.endpoint);
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(f.operator_name, user && user[0] ? user : "cli");
    run_result_free(&r);

    CLI(&f, &r, "reload", "--endpoint", f.endpoint, "--json");
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(r.out, "{\"ok\":true,\"rules\":3,\"hash\":\"3f9a1c0de2b4\"}\n");
    run_result_free(&r);
    fixture_end(&f);
}

TEST(cli_reload_refused)
{
    struct fixture f;
    fixture_start(&f);
    struct run_result r;
    CLI(&f, &r, "reload", "--endpoint", f.endpoint, "--operator", "breaker");
    CHECK_EQ_INT(r.status, 1);
    CHECK_STR(r.out, "");
    /* Every diagnostic on a line of its own, position first. */
    CHECK(has_position(r.err, "rules.yaml"));
    CHECK_CONTAINS(r.err, "rules.yaml:3:5: unknown field 'vlaue'\n");
    CHECK_CONTAINS(r.err, "rules.yaml:9:1: rule id 'flood.level' is used twice\n");
    CHECK_CONTAINS(r.err, "ioc reload: refused");
    run_result_free(&r);

    CLI(&f, &r, "reload", "--endpoint", f.endpoint, "--operator", "breaker", "--json");
    CHECK_EQ_INT(r.status, 1);
    cJSON *j = cJSON_Parse(r.out);
    CHECK(j && !is_ok(j));
    CHECK_CONTAINS(error_of(j), "unknown field");
    cJSON_Delete(j);
    run_result_free(&r);
    fixture_end(&f);
}

TEST(cli_status_prints_key_value_lines)
{
    struct fixture f;
    fixture_start(&f);
    struct run_result r;
    CLI(&f, &r, "status", "--endpoint", f.endpoint);
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(r.out, "received: 42\nrules: 3\nstore.path: ioc.db\nstore.queue: 0\n");
    run_result_free(&r);

    CLI(&f, &r, "status", "--endpoint", f.endpoint, "--json");
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "{\"ok\":true,\"received\":42,");
    run_result_free(&r);
    fixture_end(&f);
}

TEST(cli_no_engine_times_out)
{
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_free_port());
    struct run_result r;
    int64_t t0 = h_now_ms();
    RUN(&r, 30, IOC_BIN, "status", "--endpoint", ep, "--timeout", "0.3");
    CHECK_EQ_INT(r.status, 1);
    char want[160];
    snprintf(want, sizeof want, "no answer from %s within 0.3 s — is iocd running?", ep);
    CHECK_CONTAINS(r.err, want);
    CHECK(h_now_ms() - t0 < 10000);
    run_result_free(&r);

    RUN(&r, 30, IOC_BIN, "reload", "--endpoint", ep, "--timeout", "0.2");
    CHECK_EQ_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "no answer from");
    run_result_free(&r);
}

TEST(cli_help_and_misuse)
{
    const char *cmds[] = {"reload", "status"};
    for (size_t i = 0; i < 2; i++) {
        struct run_result r;
        char usage[64], help[64];
        snprintf(usage, sizeof usage, "usage: ioc %s", cmds[i]);
        snprintf(help, sizeof help, "see 'ioc %s --help'", cmds[i]);
        RUN(&r, 30, IOC_BIN, (char *)cmds[i], "--help");
        CHECK_EQ_INT(r.status, 0);
        CHECK_CONTAINS(r.out, usage);
        CHECK_CONTAINS(r.out, "example");
        run_result_free(&r);

        RUN(&r, 30, IOC_BIN, (char *)cmds[i], "--timeout", "soon");
        CHECK_EQ_INT(r.status, 2);
        CHECK_CONTAINS(r.err, "soon");
        CHECK_CONTAINS(r.err, help);
        run_result_free(&r);

        RUN(&r, 30, IOC_BIN, (char *)cmds[i], "extra");
        CHECK_EQ_INT(r.status, 2);
        CHECK_CONTAINS(r.err, help);
        run_result_free(&r);

        RUN(&r, 30, IOC_BIN, (char *)cmds[i], "--endpoint", "nonsense://x");
        CHECK_EQ_INT(r.status, 2);
        CHECK_CONTAINS(r.err, "nonsense://x");
        run_result_free(&r);
    }
    struct run_result r;
    RUN(&r, 30, IOC_BIN, "status", "--operator", "x");
    CHECK_EQ_INT(r.status, 2);
    run_result_free(&r);
    RUN(&r, 30, IOC_BIN, "--help");
    CHECK_CONTAINS(r.out, "reload");
    CHECK_CONTAINS(r.out, "status");
    run_result_free(&r);
}
