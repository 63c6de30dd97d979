#!/bin/sh
# make demo: iocd on its embedded default (shipped rules, loopback sockets,
# var/ioc.db), the recorded city day replayed fast into it, incident changes
# shown as they are published, then a summary from the database. Ends by
# itself and leaves var/ioc.db behind.
set -eu
BUILD=${1:-build}
IOCD="$BUILD/iocd"
IOC="$BUILD/ioc"
DAY=test/data/city-day.jsonl
DB=var/ioc.db
LOG=var/iocd.log

mkdir -p var
rm -f "$DB" "$DB-wal" "$DB-shm"

cleanup() {
    [ -n "${CONSOLE:-}" ] && kill "$CONSOLE" 2>/dev/null || true
    [ -n "${IOCD_PID:-}" ] && kill "$IOCD_PID" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "== starting iocd on its embedded default (log: $LOG)"
"$IOCD" >"$LOG" 2>&1 &
IOCD_PID=$!
i=0
until grep -q "ready" "$LOG" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$IOCD_PID" 2>/dev/null; then
        echo "iocd did not start:" >&2
        cat "$LOG" >&2
        exit 1
    fi
    sleep 0.1
done

echo "== live incident changes (ioc console)"
"$IOC" console --idle-exit 3 &
CONSOLE=$!
sleep 0.5 # let the subscription reach the PUB socket before events flow

echo "== replaying $DAY at full speed"
"$IOC" replay "$DAY" --max

wait "$CONSOLE" || true
CONSOLE=
kill -TERM "$IOCD_PID"
wait "$IOCD_PID"
IOCD_PID=

echo
echo "== summary from $DB"
sqlite3 "$DB" "SELECT 'events archived:   ' || count(*) FROM events;"
sqlite3 "$DB" "SELECT 'rejected (' || reason || '): ' || count(*) FROM rejects GROUP BY reason;"
sqlite3 "$DB" "SELECT 'incidents, grade ' || grade || ':  ' || count(*) FROM incidents GROUP BY grade ORDER BY grade;"
echo
echo "== grade 1 and 2 incidents (ioc incidents --db $DB --grade-max 2)"
"$IOC" incidents --db "$DB" --grade-max 2 --format table
echo
echo "== the shift report (ioc report --db $DB)"
"$IOC" report --db "$DB"
echo
echo "The database is left at $DB; try: $IOC incidents --db $DB --format json"
