/*
 * ioc_board.c — the full-screen incident board of `ioc console`: drawing,
 * keys and the conversation with the engine. Everything that decides
 * something (the table, its order, when it is stale, how an SLA clock reads)
 * is the model in engine/board.c; this file only shows it and acts on keys.
 *
 * One thread, one loop: zmq_poll on the terminal, the SUB socket and its
 * connection monitor, with a short timeout so the SLA clocks tick every
 * second. Changes are applied as they arrive; a gap or a restart in the
 * sequence numbers, a reconnect of the SUB socket (the engine restarted), and
 * a timer every minute reload the table with the control socket's "list". A
 * failed list keeps the last table on the screen, says "engine unreachable,
 * retrying" and retries every few seconds, at once when the SUB socket
 * connects again.
 *
 * Operator actions (ack, comment, resolve) are requests on the control
 * socket; the board does not change its table on a reply, it waits for the
 * change the engine publishes, so what the board shows is always what the
 * engine recorded. Requests block for at most their timeout, while the
 * status line says what is being waited for; keys typed meanwhile wait in
 * the terminal.
 *
 * Text from events reaches the screen only through ioc_text_cell, which cuts
 * on character boundaries, keeps Thai marks with their base letter and turns
 * control characters into spaces. Every field is drawn at its own column, so
 * a terminal that measures a character differently cannot shift the others.
 *
 * No global state of ours (ncurses keeps its own screen globals).
 */
#include <errno.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include <cjson/cJSON.h>
#include <zmq.h>

#define NCURSES_WIDECHAR 1
#include <curses.h>

#include "ioc/board.h"
#include "ioc/text.h"

#include "ioc_cmd.h"

#define TICK_MS 250          /* redraw at least this often: the SLA clocks move */
#define LIST_TIMEOUT_MS 2000 /* a live engine on the same host answers in milliseconds */
#define ACTION_TIMEOUT_MS 5000
#define RETRY_MS 3000    /* engine unreachable: ask again this often */
#define REFRESH_MS 60000 /* reload even without a gap: catches anything the stream missed */
#define FRESH_MS 10000   /* a row changed this recently is shown in bold */
#define INPUT_MAX 1000   /* bytes of a comment or reason */

enum color { C_GRADE1 = 1, C_GRADE2, C_GRADE3, C_OK, C_ALERT };
enum mode { MODE_BOARD, MODE_HELP, MODE_PROMPT };
enum prompt { PROMPT_COMMENT, PROMPT_RESOLVE };
enum status_kind { ST_INFO, ST_OK, ST_ERROR };

struct board_view {
    const struct cli_board_opts *o;
    struct cli_sub *sub;
    struct ioc_board b;
    bool color;

    long long sel_id; /* the selected incident; -1 none */
    size_t sel;       /* its row, kept when the incident leaves the board */
    size_t top;       /* first row on the screen */

    enum mode mode;
    enum prompt prompt;
    long long prompt_id; /* the incident the prompt was opened for */
    char input[INPUT_MAX + 8];
    size_t input_len;

    char status[512];
    enum status_kind status_kind;
    char resync_why[128]; /* why the table is being reloaded, for the status line */

    bool ever_synced;
    bool connected;      /* the SUB socket's TCP connection is up */
    bool was_connected;  /* it has been up before: a connect is a reconnect */
    bool unreachable;    /* the last list got no answer or a refusal */
    double next_list;    /* mono ms of the next list request */
    double last_attempt; /* mono ms of the last one */
    long long bad;       /* unreadable messages, for the status line */
};

static void set_status(struct board_view *v, enum status_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_status(struct board_view *v, enum status_kind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->status, sizeof v->status, fmt, ap);
    va_end(ap);
    v->status_kind = kind;
}

/* ---- Drawing helpers ------------------------------------------------------ */

/* Text at (y, x) in at most max columns, padded to pad. */
static void cell(int y, int x, const char *s, int max, int pad)
{
    char buf[4096];
    if (max <= 0 && pad <= 0) {
        return; /* no room left on the line */
    }
    ioc_text_cell(buf, sizeof buf, s, max, pad, NULL);
    mvaddstr(y, x, buf);
}

static attr_t grade_attr(const struct board_view *v, int grade)
{
    if (!v->color) {
        return grade == 1 ? A_BOLD : A_NORMAL;
    }
    switch (grade) {
    case 1:
        return COLOR_PAIR(C_GRADE1) | A_BOLD;
    case 2:
        return COLOR_PAIR(C_GRADE2) | A_BOLD;
    case 3:
        return COLOR_PAIR(C_GRADE3);
    default:
        return A_NORMAL;
    }
}

static attr_t alert_attr(const struct board_view *v)
{
    return v->color ? COLOR_PAIR(C_GRADE1) | A_BOLD : A_BOLD | A_UNDERLINE;
}

static const char *short_state(const char *state)
{
    return strcmp(state, "acknowledged") == 0 ? "acked" : state;
}

/* ---- Layout --------------------------------------------------------------- */

/* Columns of the incident lines. */
enum { X_MARK = 0, X_GRADE = 1, X_ID = 4, X_STATE = 12, X_SLA = 18, X_ESC = 32, X_ZONE = 36 };
enum { X_TITLE = 45 };

struct layout {
    int list_y, list_h;     /* the incident lines */
    int detail_y, detail_h; /* the selected incident, under a rule line at detail_y - 1 */
    int status_y, keys_y;
};

static int detail_lines(const struct ioc_board_row *r)
{
    int n = 5; /* title; rule/key/zone; grade/state/count; times; SLA/escalation */
    if (r->warning_state) {
        n++;
    }
    if (r->sop && cJSON_GetArraySize(r->sop) > 0) {
        n += 1 + cJSON_GetArraySize(r->sop);
    }
    return n;
}

static struct layout layout(const struct board_view *v)
{
    struct layout l = {.list_y = 2, .status_y = LINES - 2, .keys_y = LINES - 1};
    int room = LINES - 4; /* header, column names, status, keys */
    /* The selection may point past the end until fix_selection runs: an
     * incident left the board. */
    size_t sel = v->sel < v->b.n ? v->sel : v->b.n - 1;
    int want = v->b.n > 0 ? detail_lines(&v->b.rows[sel]) : 0;
    /* The detail pane takes at most half the room, and only when at least
     * three incident lines are left above it. */
    int dh = want < room / 2 ? want : room / 2;
    if (room - dh - 1 < 3 || dh < 3) {
        dh = 0;
    }
    l.list_h = room - (dh ? dh + 1 : 0);
    l.detail_y = l.list_y + l.list_h + 1;
    l.detail_h = dh;
    return l;
}

/* ---- Drawing ------------------------------------------------------------- */

static void draw_header(struct board_view *v, double now_mono)
{
    int counts[5] = {0};
    for (size_t i = 0; i < v->b.n; i++) {
        int g = v->b.rows[i].grade;
        counts[g >= 1 && g <= 4 ? g : 0]++;
    }
    char left[256], when[40] = "--";
    int64_t now = ioc_board_now(&v->b, now_mono);
    if (now != IOC_BOARD_NO_TIME) {
        cli_local_time(now, when, sizeof when);
    }
    snprintf(left, sizeof left, " IOC board  %zu open  G1:%d G2:%d G3:%d G4:%d  engine %s  %s ",
             v->b.n, counts[1], counts[2], counts[3], counts[4], when, v->o->operator_name);
    const char *right = NULL;
    attr_t ra = A_REVERSE | A_BOLD;
    if (v->unreachable || !v->connected) {
        right = v->unreachable ? " ENGINE UNREACHABLE " : " DISCONNECTED ";
        ra = v->color ? COLOR_PAIR(C_ALERT) | A_BOLD : A_BOLD;
    } else if (!v->b.synced) {
        right = " reloading ";
    } else {
        right = " live ";
    }
    /* The connection state always shows; the counts give way to it. */
    int rw = ioc_text_width(right);
    attrset(A_REVERSE);
    mvhline(0, 0, ' ', COLS);
    cell(0, 0, left, COLS - rw - 1, 0);
    attrset(ra);
    cell(0, COLS - rw, right, rw, 0);

    attrset(A_BOLD | A_UNDERLINE);
    mvhline(1, 0, ' ', COLS);
    mvaddstr(1, X_GRADE, "G");
    mvaddstr(1, X_ID, "ID");
    mvaddstr(1, X_STATE, "STATE");
    mvaddstr(1, X_SLA, "SLA");
    mvaddstr(1, X_ESC, "ESC");
    mvaddstr(1, X_ZONE, "ZONE");
    if (COLS > X_TITLE) {
        mvaddstr(1, X_TITLE, "TITLE");
    }
    attrset(A_NORMAL);
}

static void draw_row(struct board_view *v, int y, size_t i, int64_t now, double now_mono)
{
    const struct ioc_board_row *r = &v->b.rows[i];
    bool selected = i == v->sel;
    bool fresh = now_mono - r->changed_mono < FRESH_MS && r->change[0];
    attr_t base = (selected ? A_REVERSE : A_NORMAL) | (fresh ? A_BOLD : A_NORMAL);
    char buf[64];

    attrset(base);
    mvhline(y, 0, ' ', COLS);
    /* A mark for a row the engine just changed, readable without colour. */
    cell(y, X_MARK, fresh ? "*" : " ", 1, 1);

    attrset(base | grade_attr(v, r->grade));
    snprintf(buf, sizeof buf, "G%d", r->grade);
    cell(y, X_GRADE, r->grade ? buf : "G?", 2, 2);
    attrset(base);
    snprintf(buf, sizeof buf, "#%lld", r->id);
    cell(y, X_ID, buf, X_STATE - X_ID - 1, 0);
    cell(y, X_STATE, short_state(r->state), X_SLA - X_STATE - 1, 0);

    enum ioc_board_sla sla = ioc_board_sla_text(r, now, buf, sizeof buf);
    if (sla == IOC_BOARD_SLA_BREACHED) {
        attrset(base | alert_attr(v));
    } else if (sla == IOC_BOARD_SLA_SOON) {
        attrset(base | grade_attr(v, 2));
    }
    cell(y, X_SLA, buf, X_ESC - X_SLA - 1, 0);
    attrset(base);

    if (r->escalation_level >= 0) {
        snprintf(buf, sizeof buf, "%d", r->escalation_level);
    } else {
        snprintf(buf, sizeof buf, "-");
    }
    cell(y, X_ESC, buf, X_ZONE - X_ESC - 1, 0);
    cell(y, X_ZONE, r->zone ? r->zone : "-", X_TITLE - X_ZONE - 1, 0);
    if (COLS > X_TITLE) {
        attrset(base | grade_attr(v, r->grade));
        cell(y, X_TITLE, r->title ? r->title : "", COLS - X_TITLE, 0);
    }
    attrset(A_NORMAL);
}

/* One "Label value" pair at (y, *x); moves *x past it. */
static void pair(int y, int *x, const char *label, const char *value, attr_t attr)
{
    int room = COLS - *x;
    if (room <= 0 || !value) {
        return;
    }
    attrset(A_BOLD);
    cell(y, *x, label, room, 0);
    *x += ioc_text_width(label) + 1;
    room = COLS - *x;
    attrset(attr);
    if (room > 0) {
        cell(y, *x, value, room, 0);
        *x += ioc_text_width(value) + 3;
    }
    attrset(A_NORMAL);
}

static void draw_detail(struct board_view *v, const struct layout *l, int64_t now)
{
    if (l->detail_h == 0 || v->b.n == 0) {
        return;
    }
    const struct ioc_board_row *r = &v->b.rows[v->sel];
    char buf[512], t1[40], t2[40];
    int y = l->detail_y, end = l->detail_y + l->detail_h, x;

    attrset(A_BOLD);
    mvhline(y - 1, 0, ACS_HLINE, COLS);
    snprintf(buf, sizeof buf, " #%lld %s ", r->id, r->rule ? r->rule : "?");
    cell(y - 1, 2, buf, COLS - 4, 0);
    attrset(A_NORMAL);

    attrset(grade_attr(v, r->grade));
    cell(y++, 1, r->title ? r->title : "", COLS - 2, 0);
    attrset(A_NORMAL);

    if (y < end) {
        x = 1;
        pair(y, &x, "Rule", r->rule ? r->rule : "?", A_NORMAL);
        pair(y, &x, "Key", cli_key_text(r->key, buf, sizeof buf), A_NORMAL);
        pair(y, &x, "Zone", r->zone, A_NORMAL);
        pair(y++, &x, "Category", r->category, A_NORMAL);
    }
    if (y < end) {
        char g[64], cnt[32], st[160];
        snprintf(g, sizeof g, "%d %s", r->grade, r->grade_name ? r->grade_name : "");
        snprintf(cnt, sizeof cnt, "%lld", r->count);
        if (r->acked_by) {
            snprintf(st, sizeof st, "%s by %s", r->state, r->acked_by);
        } else {
            snprintf(st, sizeof st, "%s", r->state);
        }
        x = 1;
        pair(y, &x, "Grade", g, grade_attr(v, r->grade));
        pair(y, &x, "State", st, A_NORMAL);
        pair(y++, &x, "Count", cnt, A_NORMAL);
    }
    if (y < end) {
        x = 1;
        pair(y, &x, "Opened",
             r->opened != IOC_BOARD_NO_TIME ? cli_local_time(r->opened, t1, sizeof t1) : "?",
             A_NORMAL);
        pair(y++, &x, "Updated",
             r->updated != IOC_BOARD_NO_TIME ? cli_local_time(r->updated, t2, sizeof t2) : "?",
             A_NORMAL);
    }
    if (y < end) {
        char sla[64], due[96], esc[128];
        enum ioc_board_sla k = ioc_board_sla_text(r, now, sla, sizeof sla);
        if (r->sla_due != IOC_BOARD_NO_TIME && k != IOC_BOARD_SLA_NONE) {
            snprintf(due, sizeof due, "%s (%s)", cli_local_time(r->sla_due, t1, sizeof t1), sla);
        } else if (r->sla_due != IOC_BOARD_NO_TIME) {
            /* No clock runs: acknowledged, in time or not. */
            snprintf(due, sizeof due, "%s%s", cli_local_time(r->sla_due, t1, sizeof t1),
                     r->sla_breached ? " (breached)" : "");
        } else {
            snprintf(due, sizeof due, "%s", r->sla_breached ? "breached" : "none");
        }
        if (r->escalation_level >= 0) {
            snprintf(esc, sizeof esc, "level %d%s%s%s", r->escalation_level,
                     r->escalation ? " (" : "", r->escalation ? r->escalation : "",
                     r->escalation ? ")" : "");
        } else {
            snprintf(esc, sizeof esc, "none%s%s%s", r->escalation ? " yet (" : "",
                     r->escalation ? r->escalation : "", r->escalation ? ")" : "");
        }
        x = 1;
        pair(y, &x, "SLA due", due, k == IOC_BOARD_SLA_BREACHED ? alert_attr(v) : A_NORMAL);
        pair(y++, &x, "Escalation", esc, A_NORMAL);
    }
    if (y < end && r->warning_state) {
        size_t used = (size_t)snprintf(buf, sizeof buf, "%s", r->warning_state);
        const cJSON *role;
        bool first = true, pending = strcmp(r->warning_state, "pending") == 0;
        /* Who must approve matters only while it waits for them. */
        const cJSON *approvers = pending ? r->warning_approve : NULL;
        cJSON_ArrayForEach(role, approvers)
        {
            if (cJSON_IsString(role) && used < sizeof buf) {
                used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s",
                                         first ? ", needs approval by " : ", ", role->valuestring);
                first = false;
            }
        }
        x = 1;
        pair(y++, &x, "Public warning", buf, pending ? grade_attr(v, 2) : A_NORMAL);
    }
    if (y < end && r->sop && cJSON_GetArraySize(r->sop) > 0) {
        attrset(A_BOLD);
        mvaddstr(y++, 1, "SOP");
        attrset(A_NORMAL);
        const cJSON *step;
        int k = 1;
        cJSON_ArrayForEach(step, r->sop)
        {
            if (y >= end) {
                break;
            }
            snprintf(buf, sizeof buf, "%2d. ", k++);
            mvaddstr(y, 2, buf);
            cell(y++, 6, cJSON_IsString(step) ? step->valuestring : "?", COLS - 7, 0);
        }
    }
}

static void draw_help(void)
{
    static const char *const lines[] = {
        "Keys",
        "",
        "  up, down, j, k    select an incident",
        "  PgUp, PgDn, g, G  page, first, last",
        "  a                 acknowledge the selected incident",
        "  c                 comment on it (type, Enter sends, Esc cancels)",
        "  r                 resolve it (asks for a reason)",
        "  Ctrl-L            redraw",
        "  ?                 this help",
        "  q                 quit",
        "",
        "Columns",
        "",
        "  G      grade: 1 critical (red), 2 major (yellow), 3 minor (cyan), 4",
        "  SLA    time left to acknowledge; BREACH -mm:ss when it has passed",
        "  ESC    escalation level reached (- none)",
        "  *      changed by the engine in the last 10 seconds",
        "",
        "Any key closes this help.",
    };
    int n = (int)(sizeof lines / sizeof lines[0]), w = 74;
    int h = n + 2, y0 = (LINES - h) / 2, x0 = (COLS - w) / 2;
    if (y0 < 0) {
        y0 = 0;
    }
    if (x0 < 0) {
        x0 = 0;
    }
    attrset(A_NORMAL);
    for (int i = 0; i < h && y0 + i < LINES; i++) {
        mvhline(y0 + i, x0, ' ', w < COLS ? w : COLS);
    }
    attrset(A_BOLD);
    if (w < COLS && h <= LINES) {
        mvaddch(y0, x0, ACS_ULCORNER);
        mvhline(y0, x0 + 1, ACS_HLINE, w - 2);
        mvaddch(y0, x0 + w - 1, ACS_URCORNER);
        mvvline(y0 + 1, x0, ACS_VLINE, h - 2);
        mvvline(y0 + 1, x0 + w - 1, ACS_VLINE, h - 2);
        mvaddch(y0 + h - 1, x0, ACS_LLCORNER);
        mvhline(y0 + h - 1, x0 + 1, ACS_HLINE, w - 2);
        mvaddch(y0 + h - 1, x0 + w - 1, ACS_LRCORNER);
    }
    attrset(A_NORMAL);
    for (int i = 0; i < n && y0 + 1 + i < LINES; i++) {
        cell(y0 + 1 + i, x0 + 2, lines[i], COLS - x0 - 3, 0);
    }
}

/* The start of the shortest tail of s that fits in cols columns. */
static const char *tail_fitting(const char *s, int cols)
{
    const char *p = s;
    while (*p && ioc_text_width(p) > cols) {
        p++;
        while ((*p & 0xc0) == 0x80) {
            p++; /* to the next character's first byte */
        }
    }
    return p;
}

static void draw_bottom(struct board_view *v, const struct layout *l)
{
    attrset(A_NORMAL);
    mvhline(l->status_y, 0, ' ', COLS);
    if (v->status[0]) {
        attr_t a = A_NORMAL;
        if (v->status_kind == ST_ERROR) {
            a = alert_attr(v);
        } else if (v->status_kind == ST_OK && v->color) {
            a = COLOR_PAIR(C_OK);
        }
        attrset(a);
        cell(l->status_y, 0, v->status, COLS - 1, 0);
        attrset(A_NORMAL);
    }
    mvhline(l->keys_y, 0, ' ', COLS);
    if (v->mode == MODE_PROMPT) {
        char label[96];
        snprintf(label, sizeof label,
                 "%s #%lld: ", v->prompt == PROMPT_COMMENT ? "comment on" : "resolve, reason for",
                 v->prompt_id);
        attrset(A_BOLD);
        cell(l->keys_y, 0, label, COLS - 1, 0);
        attrset(A_NORMAL);
        int x = ioc_text_width(label);
        /* Long text scrolls: the end being typed stays in view. */
        if (COLS - 2 - x > 0) {
            const char *shown = tail_fitting(v->input, COLS - 2 - x);
            cell(l->keys_y, x, shown, COLS - 2 - x, 0);
            move(l->keys_y, x + ioc_text_width(shown));
        }
        return;
    }
    attrset(A_REVERSE);
    cell(l->keys_y, 0, " up/down select   a ack   c comment   r resolve   ? help   q quit ",
         COLS - 1, COLS - 1);
    attrset(A_NORMAL);
}

/* Keeps the selection on its incident when rows move, or on the same line
 * when it left the board; then scrolls so the selection is visible. */
static void fix_selection(struct board_view *v, int list_h)
{
    if (v->b.n == 0) {
        v->sel = v->top = 0;
        v->sel_id = -1;
        return;
    }
    long at = v->sel_id >= 0 ? ioc_board_find(&v->b, v->sel_id) : -1;
    if (at >= 0) {
        v->sel = (size_t)at;
    } else if (v->sel >= v->b.n) {
        v->sel = v->b.n - 1;
    }
    v->sel_id = v->b.rows[v->sel].id;
    size_t h = list_h > 0 ? (size_t)list_h : 1;
    if (v->sel < v->top) {
        v->top = v->sel;
    } else if (v->sel >= v->top + h) {
        v->top = v->sel - h + 1;
    }
    if (v->top + h > v->b.n) {
        v->top = v->b.n > h ? v->b.n - h : 0;
    }
}

static void draw(struct board_view *v)
{
    double now_mono = cli_mono_ms();
    int64_t now = ioc_board_now(&v->b, now_mono);
    struct layout l = layout(v);
    fix_selection(v, l.list_h);
    l = layout(v); /* the selection decides the detail pane's height */
    fix_selection(v, l.list_h);

    erase();
    curs_set(v->mode == MODE_PROMPT ? 1 : 0);
    if (LINES < 6 || COLS < 40) {
        mvaddstr(0, 0, "terminal too small for the board");
        refresh();
        return;
    }
    draw_header(v, now_mono);
    for (int i = 0; i < l.list_h && v->top + (size_t)i < v->b.n; i++) {
        draw_row(v, l.list_y + i, v->top + (size_t)i, now, now_mono);
    }
    if (v->b.n == 0) {
        const char *msg = v->ever_synced ? "No open incidents." : "Waiting for the engine...";
        cell(l.list_y + l.list_h / 2, (COLS - ioc_text_width(msg)) / 2, msg, COLS, 0);
    }
    draw_detail(v, &l, now);
    if (v->mode == MODE_HELP) {
        draw_help();
    }
    draw_bottom(v, &l);
    refresh();
}

/* ---- Talking to the engine --------------------------------------------- */

static const char *reply_error(const cJSON *reply)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
    return cJSON_IsString(e) && e->valuestring[0] ? e->valuestring : "no reason given";
}

/* Shows what is being waited for before a request blocks the loop. */
static void show_waiting(struct board_view *v, const char *what)
{
    set_status(v, ST_INFO, "%s", what);
    draw(v);
}

/* Loads the open incidents; says so when it was a resync or a recovery. */
static void load_list(struct board_view *v)
{
    char why[sizeof v->resync_why];
    snprintf(why, sizeof why, "%s", v->resync_why);
    double now = cli_mono_ms();
    v->last_attempt = now;
    cJSON *req = cJSON_CreateObject(), *reply = NULL;
    if (!req || !cJSON_AddStringToObject(req, "op", "list")) {
        set_status(v, ST_ERROR, "out of memory; retrying");
        v->next_list = now + RETRY_MS;
        goto done;
    }
    if (!v->ever_synced || v->unreachable) {
        show_waiting(v, v->unreachable ? "engine unreachable, retrying now..."
                                       : "loading the open incidents...");
    }
    int rc = cli_control_request(v->o->control, req, &reply, LIST_TIMEOUT_MS);
    now = cli_mono_ms();
    if (rc != 0) {
        v->unreachable = true;
        v->next_list = now + RETRY_MS;
        set_status(v, ST_ERROR, "engine unreachable at %s (%s), retrying every %d s", v->o->control,
                   rc == CLI_CTL_TIMEOUT ? "no answer" : "bad reply", RETRY_MS / 1000);
        goto done;
    }
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"))) {
        v->unreachable = true;
        v->next_list = now + RETRY_MS;
        set_status(v, ST_ERROR, "the engine refused the incident list: %s; retrying",
                   reply_error(reply));
        goto done;
    }
    int lrc = ioc_board_load(&v->b, reply, now);
    if (lrc != 0) {
        v->unreachable = true;
        v->next_list = now + RETRY_MS;
        set_status(v, ST_ERROR, "unusable incident list from %s; retrying", v->o->control);
        goto done;
    }
    bool was_down = v->unreachable, first = !v->ever_synced;
    v->unreachable = false;
    v->ever_synced = true;
    v->next_list = now + REFRESH_MS;
    if (first) {
        set_status(v, ST_INFO, "%zu open incident%s; press ? for help", v->b.n,
                   v->b.n == 1 ? "" : "s");
    } else if (why[0] || was_down) {
        set_status(v, ST_INFO, "%s; reloaded: %zu open incident%s",
                   why[0] ? why : "engine reachable again", v->b.n, v->b.n == 1 ? "" : "s");
    }
    v->resync_why[0] = '\0';

done:
    cJSON_Delete(req);
    cJSON_Delete(reply);
}

/* Sends one operator action about incident id; text is the comment or the
 * reason (NULL for ack). */
static void act(struct board_view *v, const char *op, long long id, const char *text)
{
    cJSON *req = cJSON_CreateObject(), *reply = NULL;
    char waiting[128];
    bool ok = req && cJSON_AddStringToObject(req, "op", op) &&
              cJSON_AddNumberToObject(req, "incident", (double)id) &&
              cJSON_AddStringToObject(req, "operator", v->o->operator_name);
    if (ok && text) {
        ok = cJSON_AddStringToObject(req, strcmp(op, "comment") == 0 ? "text" : "reason", text);
    }
    if (!ok) {
        set_status(v, ST_ERROR, "%s #%lld: out of memory", op, id);
        goto done;
    }
    snprintf(waiting, sizeof waiting, "%s #%lld: waiting for the engine...", op, id);
    show_waiting(v, waiting);
    int rc = cli_control_request(v->o->control, req, &reply, ACTION_TIMEOUT_MS);
    if (rc == CLI_CTL_TIMEOUT) {
        set_status(v, ST_ERROR, "%s #%lld: no answer from %s within %d s; not done", op, id,
                   v->o->control, ACTION_TIMEOUT_MS / 1000);
    } else if (rc != 0) {
        set_status(v, ST_ERROR, "%s #%lld: request to %s failed", op, id, v->o->control);
    } else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"))) {
        set_status(v, ST_ERROR, "%s #%lld refused: %s", op, id, reply_error(reply));
    } else {
        static const struct {
            const char *op, *done;
        } said[] = {
            {"ack", "acknowledged"}, {"comment", "comment added to"}, {"resolve", "resolved"}};
        const char *done = op;
        for (size_t i = 0; i < sizeof said / sizeof said[0]; i++) {
            if (strcmp(said[i].op, op) == 0) {
                done = said[i].done;
            }
        }
        set_status(v, ST_OK, "%s #%lld as %s", done, id, v->o->operator_name);
    }

done:
    cJSON_Delete(req);
    cJSON_Delete(reply);
}

/* A public warning on a cap.* topic: one line in the status. */
static void notice(struct board_view *v, const char *body, size_t len)
{
    cJSON *m = cJSON_ParseWithLength(body, len);
    const cJSON *info =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "alert"), "info");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(info, "headline");
    const cJSON *area = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(info, "area"), "areaDesc");
    set_status(v, ST_INFO, "public warning published: %s%s%s%s",
               cJSON_IsString(h) ? h->valuestring : "(no headline)",
               cJSON_IsString(area) ? " (" : "", cJSON_IsString(area) ? area->valuestring : "",
               cJSON_IsString(area) ? ")" : "");
    cJSON_Delete(m);
}

/* Applies every waiting message. Returns -1 on a receive error. */
static int drain(struct board_view *v)
{
    const char *topic, *body;
    size_t len;
    int got;
    while ((got = cli_sub_recv(v->sub, &topic, &body, &len)) == 1) {
        double now = cli_mono_ms();
        switch (ioc_board_receive(&v->b, topic, body, len, now)) {
        case IOC_BOARD_APPLIED:
            if (strncmp(topic, "cap.", 4) == 0) {
                notice(v, body, len);
            }
            break;
        case IOC_BOARD_GAP:
            snprintf(v->resync_why, sizeof v->resync_why, "missed %lld message%s", v->b.missed,
                     v->b.missed == 1 ? "" : "s");
            set_status(v, ST_INFO, "%s; reloading", v->resync_why);
            v->next_list = now;
            break;
        case IOC_BOARD_RESTART:
            snprintf(v->resync_why, sizeof v->resync_why, "the engine restarted");
            set_status(v, ST_INFO, "%s; reloading", v->resync_why);
            v->next_list = now;
            break;
        case IOC_BOARD_SKIPPED:
            /* A message while the engine was unreachable: it is back, so
             * ask again soon rather than at the next retry. */
            if (!v->b.synced && v->unreachable && v->next_list > v->last_attempt + 1000) {
                v->next_list = v->last_attempt + 1000;
            }
            break;
        case IOC_BOARD_BAD:
            v->bad++;
            set_status(v, ST_ERROR, "unreadable message on '%s' (%lld so far)", topic, v->bad);
            break;
        }
    }
    return got < 0 && errno != EINTR && errno != EAGAIN ? -1 : 0;
}

/* Follows the SUB socket's connection. A reconnect means the engine (or the
 * network) went away and came back: whatever was published meanwhile is lost
 * to us, and a restarted engine may number from the start again, so the
 * table is reloaded whatever the sequence numbers say. */
static void connection_events(struct board_view *v)
{
    int ev;
    while ((ev = cli_sub_event(v->sub)) != 0) {
        double now = cli_mono_ms();
        if (ev == CLI_SUB_DISCONNECTED && v->connected) {
            v->connected = false;
            set_status(v, ST_ERROR, "lost the connection to %s; reconnecting", v->o->endpoint);
            v->next_list = now; /* find out at once whether the engine is gone */
        } else if (ev == CLI_SUB_CONNECTED) {
            bool again = v->was_connected;
            v->connected = v->was_connected = true;
            if (again) {
                ioc_board_unsync(&v->b);
                snprintf(v->resync_why, sizeof v->resync_why, "reconnected to %s", v->o->endpoint);
                set_status(v, ST_INFO, "%s; reloading", v->resync_why);
            }
            /* Also the first time when the first list came before the
             * connection: what was published in between never reached us. */
            if (again || v->unreachable || v->ever_synced) {
                v->next_list = now;
            }
        }
    }
}

/* ---- Keys ---------------------------------------------------------------- */

static void move_sel(struct board_view *v, long delta)
{
    if (v->b.n == 0) {
        return;
    }
    long s = (long)v->sel + delta;
    if (s < 0) {
        s = 0;
    }
    if (s >= (long)v->b.n) {
        s = (long)v->b.n - 1;
    }
    v->sel = (size_t)s;
    v->sel_id = v->b.rows[v->sel].id;
}

static void open_prompt(struct board_view *v, enum prompt p)
{
    if (v->b.n == 0) {
        set_status(v, ST_ERROR, "no incident selected");
        return;
    }
    v->mode = MODE_PROMPT;
    v->prompt = p;
    v->prompt_id = v->sel_id;
    v->input[0] = '\0';
    v->input_len = 0;
}

/* One key in the prompt: text, Backspace, Ctrl-U, Enter sends, Esc cancels. */
static void prompt_key(struct board_view *v, int kind, wint_t wc)
{
    bool is_key = kind == KEY_CODE_YES;
    if ((!is_key && (wc == L'\n' || wc == L'\r')) || (is_key && wc == KEY_ENTER)) {
        v->mode = MODE_BOARD;
        /* Trailing blanks are not a reason. */
        while (v->input_len > 0 && v->input[v->input_len - 1] == ' ') {
            v->input[--v->input_len] = '\0';
        }
        if (v->input_len == 0) {
            set_status(v, ST_ERROR, "%s cancelled: the text is empty",
                       v->prompt == PROMPT_COMMENT ? "comment" : "resolve");
            return;
        }
        act(v, v->prompt == PROMPT_COMMENT ? "comment" : "resolve", v->prompt_id, v->input);
        return;
    }
    if (!is_key && wc == 27) {
        v->mode = MODE_BOARD;
        set_status(v, ST_INFO, "cancelled");
        return;
    }
    if ((is_key && wc == KEY_BACKSPACE) || (!is_key && (wc == 127 || wc == 8))) {
        /* Removes the last character, not the last byte. */
        while (v->input_len > 0 && (v->input[--v->input_len] & 0xc0) == 0x80) {
        }
        v->input[v->input_len] = '\0';
        return;
    }
    if (!is_key && wc == 21) { /* Ctrl-U */
        v->input_len = 0;
        v->input[0] = '\0';
        return;
    }
    if (is_key || wc < 0x20 || wc == 0x7f) {
        return; /* other keys and controls have no place in a comment */
    }
    char mb[MB_LEN_MAX];
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t n = wcrtomb(mb, (wchar_t)wc, &st);
    if (n == (size_t)-1 || v->input_len + n > INPUT_MAX) {
        beep();
        return;
    }
    memcpy(v->input + v->input_len, mb, n);
    v->input_len += n;
    v->input[v->input_len] = '\0';
}

/* Returns true to quit. */
static bool board_key(struct board_view *v, int kind, wint_t wc, int list_h)
{
    int key = (int)wc;
    if (kind != KEY_CODE_YES && wc > 0x7f) {
        return false;
    }
    if (kind == KEY_CODE_YES) {
        switch (key) {
        case KEY_UP:
            move_sel(v, -1);
            return false;
        case KEY_DOWN:
            move_sel(v, 1);
            return false;
        case KEY_PPAGE:
            move_sel(v, -(long)(list_h > 1 ? list_h - 1 : 1));
            return false;
        case KEY_NPAGE:
            move_sel(v, list_h > 1 ? list_h - 1 : 1);
            return false;
        case KEY_HOME:
            move_sel(v, -(long)v->b.n);
            return false;
        case KEY_END:
            move_sel(v, (long)v->b.n);
            return false;
        default:
            return false; /* KEY_RESIZE and the rest: the next draw does it */
        }
    }
    switch (key) {
    case 'k':
        move_sel(v, -1);
        break;
    case 'j':
        move_sel(v, 1);
        break;
    case 'g':
        move_sel(v, -(long)v->b.n);
        break;
    case 'G':
        move_sel(v, (long)v->b.n);
        break;
    case 'a':
        if (v->b.n == 0) {
            set_status(v, ST_ERROR, "no incident selected");
        } else {
            act(v, "ack", v->sel_id, NULL);
        }
        break;
    case 'c':
        open_prompt(v, PROMPT_COMMENT);
        break;
    case 'r':
        open_prompt(v, PROMPT_RESOLVE);
        break;
    case '?':
        v->mode = MODE_HELP;
        break;
    case 12: /* Ctrl-L */
        clearok(curscr, TRUE);
        break;
    case 'q':
    case 'Q':
        return true;
    default:
        break;
    }
    return false;
}

/* Reads every waiting key. Returns true to quit. */
static bool read_keys(struct board_view *v)
{
    wint_t wc;
    int kind;
    while ((kind = get_wch(&wc)) != ERR) {
        if (v->mode == MODE_HELP) {
            v->mode = MODE_BOARD; /* any key closes the help */
            continue;
        }
        if (v->mode == MODE_PROMPT) {
            prompt_key(v, kind, wc);
            continue;
        }
        if (board_key(v, kind, wc, layout(v).list_h)) {
            return true;
        }
    }
    return false;
}

/* ---- The loop ------------------------------------------------------------ */

/* The board draws UTF-8 whatever the locale says about numbers; only the
 * character type matters, and a terminal that is not UTF-8 gets C.UTF-8. */
static void use_utf8_ctype(void)
{
    const char *set = setlocale(LC_CTYPE, "");
    if (!set || strcmp(nl_langinfo(CODESET), "UTF-8") != 0) {
        setlocale(LC_CTYPE, "C.UTF-8");
    }
}

int cli_board_run(struct cli_sub *sub, const struct cli_board_opts *o)
{
    struct board_view v = {.o = o, .sub = sub, .sel_id = -1};
    SCREEN *scr = NULL;
    int rc = CLI_FAIL;
    ioc_board_init(&v.b);

    use_utf8_ctype();
    scr = newterm(NULL, stdout, stdin);
    if (!scr) {
        const char *term = getenv("TERM");
        cli_fail("console", "cannot drive the terminal (TERM=%s); try --lines",
                 term ? term : "unset");
        goto fail;
    }
    set_term(scr);
    cbreak(); /* keys at once; Ctrl-C still stops the board through the stop flag */
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(50);
    v.color = o->color && has_colors();
    if (v.color) {
        start_color();
        use_default_colors();
        init_pair(C_GRADE1, COLOR_RED, -1);
        init_pair(C_GRADE2, COLOR_YELLOW, -1);
        init_pair(C_GRADE3, COLOR_CYAN, -1);
        init_pair(C_OK, COLOR_GREEN, -1);
        init_pair(C_ALERT, COLOR_WHITE, COLOR_RED);
    }
    set_status(&v, ST_INFO, "connecting to %s and %s as %s", o->endpoint, o->control,
               o->operator_name);
    v.next_list = cli_mono_ms();

    while (!cli_stop_requested()) {
        if (cli_mono_ms() >= v.next_list) {
            load_list(&v);
        }
        draw(&v);
        zmq_pollitem_t items[3] = {
            {.socket = NULL, .fd = STDIN_FILENO, .events = ZMQ_POLLIN},
            {.socket = cli_sub_socket(sub), .events = ZMQ_POLLIN},
            {.socket = cli_sub_monitor(sub), .events = ZMQ_POLLIN},
        };
        int nitems = items[2].socket ? 3 : 2;
        long wait = TICK_MS;
        double until_list = v.next_list - cli_mono_ms();
        if (until_list < wait) {
            wait = until_list > 0 ? (long)ceil(until_list) : 0;
        }
        if (zmq_poll(items, nitems, wait) < 0 && errno != EINTR) {
            cli_fail("console", "poll failed: %s", zmq_strerror(errno));
            goto fail;
        }
        /* Keys even after EINTR: a resize arrives as a signal and then as a key. */
        if (read_keys(&v)) {
            break;
        }
        connection_events(&v);
        if (drain(&v) < 0) {
            set_status(&v, ST_ERROR, "receive failed: %s", zmq_strerror(errno));
        }
    }
    rc = CLI_OK;

fail:
    if (scr) {
        endwin();
        delscreen(scr);
    }
    ioc_board_close(&v.b);
    return rc;
}
