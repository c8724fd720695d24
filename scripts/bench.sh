#!/usr/bin/env bash
# make bench: the receiver, worker, Redis and import figures, each next to
# its anchor measured in the same run, with the ratio the goals (issue 10)
# are stated in. The machine is shared and noisy, so each Go benchmark runs
# several times and the median is reported.
#
# Sizes (environment):
#   BENCH_COUNT        runs of each receiver and drain benchmark (5)
#   BENCH_EVENTS       requests per receiver run (20000)
#   BENCH_BACKLOG      events in the drain and Redis-bytes backlogs (20000)
#   BENCH_SCALES       backlogs drained by `clerksync work` in a process of its own (10000,50000,200000)
#   BENCH_SCALE_COUNT  runs of each of those (3)
#   BENCH_IMPORT_ROWS  rows for scripts/bench-import.sh (1000000; 0 skips it)
#   BENCH_QUICK=1      a quick look: small sizes, one run each, no import
# With the defaults on this 2-core machine the whole run takes about 25
# minutes (receiver 2, drain 4, scale 12, Redis bytes 1, the older worker
# figures and pgbench 3, import 3); BENCH_QUICK=1 about 2.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${BENCH_QUICK:-}" ]; then
  : "${BENCH_COUNT:=1}" "${BENCH_EVENTS:=2000}" "${BENCH_BACKLOG:=2000}" "${BENCH_SCALES:=2000,5000,10000}"
  : "${BENCH_SCALE_COUNT:=1}" "${BENCH_IMPORT_ROWS:=0}"
fi
COUNT=${BENCH_COUNT:-5}
EVENTS=${BENCH_EVENTS:-20000}
BACKFILL_USERS=${BENCH_BACKFILL_USERS:-20000}
export BENCH_BACKLOG=${BENCH_BACKLOG:-20000}
export BENCH_SCALES=${BENCH_SCALES:-10000,50000,200000}
SCALE_COUNT=${BENCH_SCALE_COUNT:-3}
IMPORT_ROWS=${BENCH_IMPORT_ROWS:-1000000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

bash scripts/services.sh >/dev/null

gobench() { # PATTERN BENCHTIME COUNT
  go test -run '^$' -bench "$1" -benchtime="$2" -count="$3" -timeout 120m ./cmd/clerksync/ | tee -a "$out/go.txt" | grep -E '^Benchmark' || true
}
echo "== receiver: $EVENTS requests per run; drain and Redis: a backlog of $BENCH_BACKLOG events; $COUNT rounds"
# Rounds, not -count: each figure and its anchor run back to back, so that a
# burst of load from elsewhere hits both alike.
for _ in $(seq "$COUNT"); do
  gobench '^BenchmarkReceiver$' "${EVENTS}x" 1
  gobench '^BenchmarkDrain$' 1x 1
done
gobench '^BenchmarkRedisBytes$' 1x 1
gobench '^BenchmarkWorker$' "${EVENTS}x" "$COUNT"
echo "== backlogs of $BENCH_SCALES, drained by clerksync work in its own process; $SCALE_COUNT runs"
gobench '^BenchmarkBacklogScale$' 1x "$SCALE_COUNT"

echo "== backfill: $BACKFILL_USERS users from a fake Backend API, no rate limit, $COUNT runs, medians"
BENCH_BACKFILL_USERS=$BACKFILL_USERS go test -run '^$' -bench 'BenchmarkBackfill' -benchtime=1x -count="$COUNT" \
  -timeout 60m ./backfill/ | tee -a "$out/go.txt" | grep -E '^Benchmark' || true

# median NAME UNIT: the median of one reported metric over the runs, and
# the spread (min-max) in $out/spread.
median() {
  grep -E "^$1-[0-9]+ " "$out/go.txt" | awk -v unit="$2" '{for (i = 1; i < NF; i++) if ($(i+1) == unit) print $i}' |
    sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2}'
}
spread() {
  grep -E "^$1-[0-9]+ " "$out/go.txt" | awk -v unit="$2" '{for (i = 1; i < NF; i++) if ($(i+1) == unit) print $i}' |
    sort -g | awk '{v[NR] = $1} END {if (NR > 1) printf "(%s-%s)", v[1], v[NR]}'
}
# pairratio A B UNIT: the median over the rounds of A's metric / B's, each
# pair measured back to back.
pairratio() {
  paste <(grep -E "^$1-[0-9]+ " "$out/go.txt" | awk -v unit="$3" '{for (i = 1; i < NF; i++) if ($(i+1) == unit) print $i}') \
        <(grep -E "^$2-[0-9]+ " "$out/go.txt" | awk -v unit="$3" '{for (i = 1; i < NF; i++) if ($(i+1) == unit) print $i}') |
    awk 'NF == 2 && $2 > 0 {print $1 / $2}' | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else printf "%.2f", (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "n/a"}'; }
row() { printf '  %-40s %10s %-8s %s\n' "$1" "${2:-}" "${3:-}" "${4:-}"; }

# Postgres's own rate for the worker's single-event transaction (one call of
# clerksync_apply, its own transaction), from pgbench with 16 clients in a
# scratch database.
pg_tps=n/a
if command -v pgbench >/dev/null; then
  scratch="clerksync_bench_pgbench_$$"
  psql -qX -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $scratch" >/dev/null
  trap 'psql -qX -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $scratch WITH (FORCE)" >/dev/null 2>&1; rm -rf "$out"' EXIT
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$scratch?sslmode=disable" go run ./cmd/clerksync migrate >/dev/null
  go test -count=1 -run '^TestPgbenchScriptForBench$' ./db/ -args -pgbench-script="$out/pgbench.sql" >/dev/null
  for _ in 1 2 3; do
    PGOPTIONS="-c search_path=${DATABASE_SCHEMA:-clerk}" pgbench -h 127.0.0.1 -U postgres -n -c 16 -j 2 -T 15 -f "$out/pgbench.sql" "$scratch" 2>/dev/null |
      awk '/^tps/ {print $3}' >> "$out/pgbench.txt"
  done
  pg_tps=$(sort -g "$out/pgbench.txt" | awk '{v[NR] = $1} END {if (NR) printf "%.0f", v[int((NR+1)/2)]; else print "n/a"}')
fi

echo
body=$(median BenchmarkDrain/ceiling body-B)
echo "drain: a backlog of $BENCH_BACKLOG events for $((BENCH_BACKLOG / 5)) users (mean body $body B), completed tasks retained (median of $COUNT, min-max)"
c_eps=$(median BenchmarkDrain/ceiling events/s); w_eps=$(median BenchmarkDrain/worker events/s)
row "ceiling: Asynq, no-op handlers, 4 x 64" "$c_eps" "events/s" "$(spread BenchmarkDrain/ceiling events/s)"
row "worker, applied to Postgres" "$w_eps" "events/s" "$(spread BenchmarkDrain/worker events/s)  $(median BenchmarkDrain/worker events/tx) events/tx"
row "CPU per event: ceiling (Go + Redis)" "$(median BenchmarkDrain/ceiling go-cpu-us/event)" "us" "+ $(median BenchmarkDrain/ceiling redis-cpu-us/event) us"
row "CPU per event: worker (Go + Redis)" "$(median BenchmarkDrain/worker go-cpu-us/event)" "us" "+ $(median BenchmarkDrain/worker redis-cpu-us/event) us, Postgres not counted (BenchmarkDrainBreakdown)"
row "worker / ceiling" "$(ratio "$w_eps" "$c_eps")" "" "(goal: >= 0.5; median of the rounds' own ratios $(pairratio BenchmarkDrain/worker BenchmarkDrain/ceiling events/s))"

b_ups=$(median BenchmarkBackfill/backfill users/s); w_ups=$(median BenchmarkBackfill/write-path users/s)
echo "backfill, $BACKFILL_USERS users of about 2 KB, pages of 500 (median of $COUNT)"
printf '  %-34s %10s users/s   (goal: >= 5000)\n' "backfill from the fake API" "$b_ups"
printf '  %-34s %10s users/s\n' "write path alone (ApplyEvents)" "$w_ups"
printf '  %-34s %10s\n' "backfill / write path" "$(ratio "$b_ups" "$w_ups")"
printf '  %-34s %10s s   (API alone at 90 req/s: %s s)\n' "100,000 users, production limit" \
  "$(median BenchmarkBackfill/backfill s/100k-prod)" "$(median BenchmarkBackfill/backfill s/100k-prod-api-only)"
printf '  %-34s %10s s   (API alone at 9 req/s: %s s)\n' "100,000 users, development limit" \
  "$(median BenchmarkBackfill/backfill s/100k-dev)" "$(median BenchmarkBackfill/backfill s/100k-dev-api-only)"
echo "backlogs drained by clerksync work in its own process (median of $SCALE_COUNT)"
lo='' hi=''
for n in ${BENCH_SCALES//,/ }; do
  eps=$(median "BenchmarkBacklogScale/$n" events/s)
  row "$n events" "$eps" "events/s" "$(spread "BenchmarkBacklogScale/$n" events/s)  peak RSS $(median "BenchmarkBacklogScale/$n" rss-MB) MB  worker CPU $(median "BenchmarkBacklogScale/$n" worker-cpu-us/event) us/event"
  if [ "$eps" != n/a ]; then
    lo=$(awk -v a="$eps" -v b="${lo:-$eps}" 'BEGIN {print (a < b ? a : b)}')
    hi=$(awk -v a="$eps" -v b="${hi:-$eps}" 'BEGIN {print (a > b ? a : b)}')
  fi
done
row "slowest / fastest" "$(ratio "$lo" "$hi")" "" "(goal: >= 0.8, i.e. within 20%)"

echo "receiver, 32 concurrent clients, the backlog's bodies (median of $COUNT)"
v_eps=$(median BenchmarkReceiver/verify-only events/s); v_p99=$(median BenchmarkReceiver/verify-only p99-ms)
f_eps=$(median BenchmarkReceiver/floor events/s); f_p99=$(median BenchmarkReceiver/floor p99-ms)
r_eps=$(median BenchmarkReceiver/enqueue events/s); r_p99=$(median BenchmarkReceiver/enqueue p99-ms)
row "verify only, no Redis" "$v_eps" "events/s" "p99 $v_p99 ms"
row "floor: svix verify + asynq Enqueue" "$f_eps" "events/s" "p99 $f_p99 ms $(spread BenchmarkReceiver/floor events/s)"
row "receiver: verify, parse, compress, queue" "$r_eps" "events/s" "p99 $r_p99 ms $(spread BenchmarkReceiver/enqueue events/s)"
row "receiver / floor, events/s" "$(ratio "$r_eps" "$f_eps")" "" "(goal: >= 0.9; by rounds $(pairratio BenchmarkReceiver/enqueue BenchmarkReceiver/floor events/s))"
row "receiver / floor, p99" "$(ratio "$r_p99" "$f_p99")" "" "(goal: <= 1.3; by rounds $(pairratio BenchmarkReceiver/enqueue BenchmarkReceiver/floor p99-ms))"
row "CPU per request: floor, receiver" "$(median BenchmarkReceiver/floor cpu-us/req)" "us" "$(median BenchmarkReceiver/enqueue cpu-us/req) us (this process, the 32 clients included)"

echo "Redis per event, a Redis of its own, $BENCH_BACKLOG events (mean body $(median BenchmarkRedisBytes/compressed body-B) B)"
for form in raw compressed; do
  row "$form: queued" "$(median "BenchmarkRedisBytes/$form" queued-B/event)" "B/event" \
    "task hash $(median "BenchmarkRedisBytes/$form" task-hash-B) B for a $(median "BenchmarkRedisBytes/$form" payload-B) B payload, pending list $(median "BenchmarkRedisBytes/$form" pending-list-B/event) B"
  row "$form: completed, retained" "$(median "BenchmarkRedisBytes/$form" completed-B/event)" "B/event" \
    "completed zset $(median "BenchmarkRedisBytes/$form" completed-zset-B/event) B"
done
row "compressed queued event" "$(median BenchmarkRedisBytes/compressed queued-B/event)" "B" "(goal: <= 1500)"

echo "older figures: user.updated with 7 contact rows (median of $COUNT)"
s_eps=$(median BenchmarkWorker/single-event-tx events/s)
d_eps=$(median BenchmarkWorker/drain events/s)
row "pgbench, same single-event shape" "$pg_tps" "tx/s" "(median of 3 x 15 s)"
row "Go, single-event tx, prepared" "$s_eps" "events/s"
row "worker draining the queue" "$d_eps" "events/s" "$(median BenchmarkWorker/drain events/tx) events/tx"
row "worker / pgbench single-event" "$(ratio "$d_eps" "$pg_tps")"
row "worker / Go single-event" "$(ratio "$d_eps" "$s_eps")"

if [ "$IMPORT_ROWS" != 0 ] && [ -f scripts/bench-import.sh ]; then
  echo
  echo "== import: $IMPORT_ROWS rows"
  bash scripts/bench-import.sh "$IMPORT_ROWS"
fi
