/*
 * test_board.c — the operator board's model (board.h) and the text cells it
 * is drawn with (text.h), driven with JSON text and explicit clocks: the
 * order of the table, each kind of change, when the table must be reloaded,
 * the SLA clock, and cutting Thai text to a column.
 */
#include <cjson/cJSON.h>

#include "ioc/board.h"
#include "ioc/error.h"
#include "ioc/event.h"
#include "ioc/text.h"
#include "test.h"

#define TOPIC "incident.1.Z01"
#define T0 "2026-02-11T16:00:00+07:00"

/* An incident object as the engine sends it; times are minutes after T0. */
static char *incident(long long id, int grade, const char *state, int opened_min, int sla_min)
{
    static const char *const names[] = {"", "critical", "major", "minor", "advisory"};
    int64_t t0;
    char opened[40], due[40], buf[1024];
    REQUIRE(ioc_time_parse(T0, &t0) == 0);
    ioc_time_format(t0 + opened_min * 60000LL, opened, sizeof opened);
    ioc_time_format(t0 + sla_min * 60000LL, due, sizeof due);
    snprintf(buf, sizeof buf,
             "{\"id\":%lld,\"rule\":\"flood.level\",\"key\":{\"device\":\"F%lld\"},"
             "\"grade\":%d,\"grade_name\":\"%s\",\"state\":\"%s\",\"zone\":\"Z01\","
             "\"title\":\"Water level at F%lld\",\"opened\":\"%s\",\"updated\":\"%s\","
             "\"count\":1,\"sop\":[\"Check the sensors\",\"Call the district\"],"
             "\"sla_due\":\"%s\",\"sla_breached\":false,\"escalation_level\":-1}",
             id, id, grade, names[grade], state, id, opened, opened, due);
    return strdup(buf);
}

static enum ioc_board_step send_change(struct ioc_board *b, long long seq, const char *change,
                                       char *inc)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "{\"seq\":%lld,\"change\":\"%s\",\"at\":\"%s\",\"incident\":%s}", seq,
             change, T0, inc);
    free(inc);
    return ioc_board_receive(b, TOPIC, buf, strlen(buf), 0);
}

/* Loads a list reply made of the given incident objects (taken). */
static void load(struct ioc_board *b, long long seq, char **incs, int n)
{
    char buf[8192];
    size_t used = (size_t)snprintf(
        buf, sizeof buf, "{\"ok\":true,\"seq\":%lld,\"now\":\"%s\",\"incidents\":[", seq, T0);
    for (int i = 0; i < n; i++) {
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? "," : "", incs[i]);
        free(incs[i]);
    }
    snprintf(buf + used, sizeof buf - used, "]}");
    cJSON *reply = cJSON_Parse(buf);
    REQUIRE(reply);
    REQUIRE(ioc_board_load(b, reply, 0) == 0);
    cJSON_Delete(reply);
}

TEST(sorted_by_grade_then_oldest_first)
{
    struct ioc_board b;
    ioc_board_init(&b);
    char *incs[] = {
        incident(1, 3, "open", 0, 60),  incident(2, 1, "acknowledged", 20, 25),
        incident(3, 1, "open", 10, 15), incident(4, 4, "open", -30, 0),
        incident(5, 3, "open", -5, 55), incident(6, 2, "resolved", 0, 15),
    };
    load(&b, 10, incs, 6);
    REQUIRE(b.n == 5); /* the resolved one is not on the board */
    long long want[] = {3, 2, 5, 1, 4};
    for (size_t i = 0; i < 5; i++) {
        CHECK_EQ_INT(b.rows[i].id, want[i]);
    }
    CHECK(b.synced);
    CHECK_EQ_INT(b.list_seq, 10);
    CHECK_STR(b.rows[0].title, "Water level at F3");
    CHECK_EQ_INT(cJSON_GetArraySize(b.rows[0].sop), 2);
    ioc_board_close(&b);
}

TEST(changes_open_update_grade_ack_and_resolve)
{
    struct ioc_board b;
    ioc_board_init(&b);
    char *none[1];
    load(&b, 100, none, 0);
    CHECK_EQ_INT(b.n, 0);

    CHECK_EQ_INT(send_change(&b, 101, "opened", incident(7, 3, "open", 0, 60)), IOC_BOARD_APPLIED);
    CHECK_EQ_INT(send_change(&b, 102, "opened", incident(8, 2, "open", 5, 20)), IOC_BOARD_APPLIED);
    REQUIRE(b.n == 2);
    CHECK_EQ_INT(b.rows[0].id, 8); /* grade 2 above grade 3 */
    CHECK_STR(b.rows[0].change, "opened");

    /* An update replaces the incident whole. */
    char *upd = incident(7, 3, "open", 0, 60);
    char *p = strstr(upd, "\"count\":1");
    REQUIRE(p);
    memcpy(p, "\"count\":9", 9);
    CHECK_EQ_INT(send_change(&b, 103, "updated", upd), IOC_BOARD_APPLIED);
    CHECK_EQ_INT(b.rows[ioc_board_find(&b, 7)].count, 9);

    /* Graded up to 1: it moves to the top. */
    CHECK_EQ_INT(send_change(&b, 104, "graded", incident(7, 1, "open", 0, 5)), IOC_BOARD_APPLIED);
    CHECK_EQ_INT(b.rows[0].id, 7);
    CHECK_EQ_INT(b.rows[0].grade, 1);
    CHECK_STR(b.rows[0].grade_name, "critical");

    CHECK_EQ_INT(send_change(&b, 105, "acknowledged", incident(7, 1, "acknowledged", 0, 5)),
                 IOC_BOARD_APPLIED);
    CHECK_STR(b.rows[0].state, "acknowledged");
    CHECK_EQ_INT(b.n, 2);

    /* Resolved and closed incidents leave the board. */
    CHECK_EQ_INT(send_change(&b, 106, "resolved", incident(7, 1, "resolved", 0, 5)),
                 IOC_BOARD_APPLIED);
    CHECK_EQ_INT(b.n, 1);
    CHECK_EQ_INT(ioc_board_find(&b, 7), -1);
    CHECK_EQ_INT(send_change(&b, 107, "closed", incident(8, 2, "closed", 5, 20)),
                 IOC_BOARD_APPLIED);
    CHECK_EQ_INT(b.n, 0);
    /* A change for an incident the board never had: nothing to remove. */
    CHECK_EQ_INT(send_change(&b, 108, "resolved", incident(9, 2, "resolved", 5, 20)),
                 IOC_BOARD_APPLIED);
    CHECK_EQ_INT(b.n, 0);
    ioc_board_close(&b);
}

TEST(escalation_level_from_the_message)
{
    struct ioc_board b;
    ioc_board_init(&b);
    char *incs[] = {incident(3, 1, "open", 0, 5)};
    load(&b, 1, incs, 1);
    /* An incident object without escalation_level: the message's level counts. */
    const char *msg = "{\"seq\":2,\"change\":\"escalated\",\"escalation\":{\"level\":2,"
                      "\"notify\":[\"shift_supervisor\"]},\"incident\":{\"id\":3,\"grade\":1,"
                      "\"state\":\"open\",\"warning\":{\"state\":\"pending\","
                      "\"approve\":[\"mayor\"]}}}";
    CHECK_EQ_INT(ioc_board_receive(&b, TOPIC, msg, strlen(msg), 0), IOC_BOARD_APPLIED);
    CHECK_EQ_INT(b.rows[0].escalation_level, 2);
    CHECK_STR(b.rows[0].warning_state, "pending");
    CHECK_EQ_INT(cJSON_GetArraySize(b.rows[0].warning_approve), 1);
    ioc_board_close(&b);
}

TEST(gap_and_restart_ask_for_a_new_list)
{
    struct ioc_board b;
    ioc_board_init(&b);

    /* Before any list, changes are skipped: the list will hold them. */
    CHECK_EQ_INT(ioc_board_sequence(&b, 48), IOC_BOARD_SKIPPED);
    CHECK_EQ_INT(ioc_board_sequence(&b, 49), IOC_BOARD_SKIPPED);
    char *none[1];
    load(&b, 52, none, 0);
    /* Published while the list was answered: already in it. */
    CHECK_EQ_INT(ioc_board_sequence(&b, 50), IOC_BOARD_SKIPPED);
    CHECK_EQ_INT(ioc_board_sequence(&b, 51), IOC_BOARD_SKIPPED);
    CHECK_EQ_INT(ioc_board_sequence(&b, 52), IOC_BOARD_SKIPPED);
    CHECK_EQ_INT(ioc_board_sequence(&b, 53), IOC_BOARD_APPLIED);
    CHECK_EQ_INT(ioc_board_sequence(&b, 54), IOC_BOARD_APPLIED);
    CHECK(b.synced);

    /* A jump: three messages lost. */
    CHECK_EQ_INT(ioc_board_sequence(&b, 58), IOC_BOARD_GAP);
    CHECK_EQ_INT(b.missed, 3);
    CHECK(!b.synced);
    CHECK_EQ_INT(ioc_board_sequence(&b, 59), IOC_BOARD_SKIPPED); /* until the next list */
    load(&b, 59, none, 0);
    CHECK_EQ_INT(ioc_board_sequence(&b, 60), IOC_BOARD_APPLIED);

    /* The engine restarted: numbering begins again. */
    CHECK_EQ_INT(ioc_board_sequence(&b, 1), IOC_BOARD_RESTART);
    CHECK(!b.synced);
    load(&b, 3, none, 0);
    /* The new engine's next message applies although the stream had seen
     * higher numbers from the old one. */
    CHECK_EQ_INT(ioc_board_sequence(&b, 4), IOC_BOARD_APPLIED);
    CHECK_EQ_INT(ioc_board_sequence(&b, 5), IOC_BOARD_APPLIED);
    /* The same number twice is a restart too, never applied twice. */
    CHECK_EQ_INT(ioc_board_sequence(&b, 5), IOC_BOARD_RESTART);
    ioc_board_close(&b);
}

TEST(receive_sequences_changes_and_public_warnings)
{
    struct ioc_board b;
    ioc_board_init(&b);
    char *none[1];
    load(&b, 10, none, 0);
    /* A cap.* message takes a number too; it only becomes a notice. */
    const char *cap = "{\"seq\":11,\"alert\":{\"info\":{\"headline\":\"Flood warning\"}}}";
    CHECK_EQ_INT(ioc_board_receive(&b, "cap.Z01", cap, strlen(cap), 0), IOC_BOARD_APPLIED);
    CHECK_EQ_INT(b.n, 0);
    CHECK_EQ_INT(send_change(&b, 12, "opened", incident(1, 2, "open", 0, 15)), IOC_BOARD_APPLIED);
    CHECK_EQ_INT(b.n, 1);
    /* A lost message: the change that shows it is not applied. */
    CHECK_EQ_INT(send_change(&b, 14, "opened", incident(2, 2, "open", 0, 15)), IOC_BOARD_GAP);
    CHECK_EQ_INT(b.n, 1);
    /* Not JSON, or no incident: nothing changes, not even the sequence. */
    CHECK_EQ_INT(ioc_board_receive(&b, TOPIC, "{oops", 5, 0), IOC_BOARD_BAD);
    CHECK_EQ_INT(ioc_board_receive(&b, TOPIC, "{\"seq\":99}", 10, 0), IOC_BOARD_BAD);
    CHECK_EQ_INT(b.last, 14);
    ioc_board_close(&b);
}

TEST(a_bad_list_keeps_the_board)
{
    struct ioc_board b;
    ioc_board_init(&b);
    char *incs[] = {incident(1, 2, "open", 0, 15)};
    load(&b, 5, incs, 1);
    ioc_board_unsync(&b);
    cJSON *bad = cJSON_Parse("{\"ok\":true,\"incidents\":[]}"); /* no seq */
    CHECK_EQ_INT(ioc_board_load(&b, bad, 0), IOC_EINVAL);
    CHECK_EQ_INT(b.n, 1);
    CHECK(!b.synced);
    cJSON_Delete(bad);
    ioc_board_close(&b);
}

TEST(sla_text_counts_down_on_the_engine_clock)
{
    struct ioc_board b;
    ioc_board_init(&b);
    char *incs[] = {incident(1, 1, "open", 0, 5), incident(2, 2, "acknowledged", 0, 15),
                    incident(3, 4, "open", 0, 0)};
    load(&b, 1, incs, 3);
    char buf[32];
    int64_t t0;
    REQUIRE(ioc_time_parse(T0, &t0) == 0);
    /* The engine said T0 at mono 0; 90.5 s later 3:29.5 are left, shown rounded up. */
    CHECK_EQ_INT(ioc_board_now(&b, 90500), t0 + 90500);
    const struct ioc_board_row *r = &b.rows[ioc_board_find(&b, 1)];
    CHECK_EQ_INT(ioc_board_sla_text(r, ioc_board_now(&b, 90500), buf, sizeof buf),
                 IOC_BOARD_SLA_RUNNING);
    CHECK_STR(buf, "03:30");
    CHECK_EQ_INT(ioc_board_sla_text(r, t0 + 4 * 60000 + 1, buf, sizeof buf), IOC_BOARD_SLA_SOON);
    CHECK_STR(buf, "01:00");
    /* Past due: breached even before the engine says so. */
    CHECK_EQ_INT(ioc_board_sla_text(r, t0 + 5 * 60000, buf, sizeof buf), IOC_BOARD_SLA_BREACHED);
    CHECK_STR(buf, "BREACH -00:00");
    CHECK_EQ_INT(ioc_board_sla_text(r, t0 + 6 * 60000 + 5500, buf, sizeof buf),
                 IOC_BOARD_SLA_BREACHED);
    CHECK_STR(buf, "BREACH -01:05");
    /* Minutes past 59 stay minutes. */
    CHECK_EQ_INT(ioc_board_sla_text(r, t0 - 60 * 60000, buf, sizeof buf), IOC_BOARD_SLA_RUNNING);
    CHECK_STR(buf, "65:00");

    /* The engine says breached while our clock still sees time left. */
    struct ioc_board_row flagged = *r;
    flagged.sla_breached = true;
    CHECK_EQ_INT(ioc_board_sla_text(&flagged, t0, buf, sizeof buf), IOC_BOARD_SLA_BREACHED);
    CHECK_STR(buf, "BREACH -00:00");
    flagged.sla_due = IOC_BOARD_NO_TIME;
    CHECK_EQ_INT(ioc_board_sla_text(&flagged, t0, buf, sizeof buf), IOC_BOARD_SLA_BREACHED);
    CHECK_STR(buf, "BREACH");

    /* Acknowledged: the SLA clock has stopped. */
    r = &b.rows[ioc_board_find(&b, 2)];
    CHECK_EQ_INT(ioc_board_sla_text(r, t0, buf, sizeof buf), IOC_BOARD_SLA_NONE);
    CHECK_STR(buf, "-");
    /* No due time (a grade without an SLA). */
    struct ioc_board_row nodue = b.rows[ioc_board_find(&b, 3)];
    nodue.sla_due = IOC_BOARD_NO_TIME;
    CHECK_EQ_INT(ioc_board_sla_text(&nodue, t0, buf, sizeof buf), IOC_BOARD_SLA_NONE);
    CHECK_STR(buf, "-");
    /* Before the engine's clock is known. */
    CHECK_EQ_INT(ioc_board_sla_text(&b.rows[0], IOC_BOARD_NO_TIME, buf, sizeof buf),
                 IOC_BOARD_SLA_RUNNING);
    CHECK_STR(buf, "?");
    ioc_board_close(&b);
}

TEST(text_cells_cut_utf8_on_character_boundaries)
{
    char buf[128];
    int cols;
    /* "น้ำท่วม" (flood): 7 code points, two of them marks of no width. */
    const char *thai = "\xe0\xb8\x99\xe0\xb9\x89\xe0\xb8\xb3\xe0\xb8\x97\xe0\xb9\x88\xe0\xb8\xa7"
                       "\xe0\xb8\xa1";
    CHECK_EQ_INT(ioc_text_width(thai), 5);
    /* Fits: padded to 8 columns. */
    CHECK_EQ_INT(ioc_text_cell(buf, sizeof buf, thai, 8, 8, &cols), strlen(thai) + 3);
    CHECK_EQ_INT(cols, 8);
    CHECK_EQ_INT(ioc_text_width(buf), 8);
    /* Cut to 3 columns: NO NU with the tone mark that rides on it, SARA AM,
     * then the ellipsis. */
    ioc_text_cell(buf, sizeof buf, thai, 3, 0, &cols);
    CHECK_STR(buf, "\xe0\xb8\x99\xe0\xb9\x89\xe0\xb8\xb3\xe2\x80\xa6");
    CHECK_EQ_INT(cols, 3);
    /* A wide character never straddles the limit. */
    ioc_text_cell(buf, sizeof buf, "ab\xe6\xb0\xb4\xe6\xb0\xb4", 4, 4, &cols); /* ab水水 */
    CHECK_STR(buf, "ab\xe2\x80\xa6 ");
    CHECK_EQ_INT(cols, 4);
    /* Controls become spaces, invalid bytes '?'. */
    ioc_text_cell(buf, sizeof buf, "a\x1b[31m\n\xff", 0, 0, &cols);
    CHECK_STR(buf, "a [31m ?");
    /* A small buffer gets whole characters only, and the needed size. */
    char tiny[5];
    CHECK_EQ_INT(ioc_text_cell(tiny, sizeof tiny, thai, 0, 0, NULL), strlen(thai));
    CHECK_STR(tiny, "\xe0\xb8\x99"); /* the next character (3 bytes) did not fit */
}
