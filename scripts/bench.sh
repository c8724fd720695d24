#!/usr/bin/env bash
# make bench: the receiver, worker and import figures, each against its
# baseline measured in the same run. The machine is shared and noisy, so each
# Go benchmark runs COUNT times and the median is reported.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${BENCH_COUNT:-5}
EVENTS=${BENCH_EVENTS:-20000}
BACKFILL_USERS=${BENCH_BACKFILL_USERS:-20000}
IMPORT_ROWS=${BENCH_IMPORT_ROWS:-1000000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

bash scripts/services.sh >/dev/null

echo "== receiver and worker: $EVENTS events per run, $COUNT runs, medians"
go test -run '^$' -bench 'BenchmarkReceiver|BenchmarkWorker' -benchtime="${EVENTS}x" -count="$COUNT" \
  -timeout 60m ./cmd/clerksync/ | tee "$out/go.txt" | grep -E '^Benchmark' || true

echo "== backfill: $BACKFILL_USERS users from a fake Backend API, no rate limit, $COUNT runs, medians"
BENCH_BACKFILL_USERS=$BACKFILL_USERS go test -run '^$' -bench 'BenchmarkBackfill' -benchtime=1x -count="$COUNT" \
  -timeout 60m ./backfill/ | tee -a "$out/go.txt" | grep -E '^Benchmark' || true

# median NAME UNIT: the median of one reported metric over the runs.
median() {
  grep -E "^$1-[0-9]+ " "$out/go.txt" | awk -v unit="$2" '{for (i = 1; i < NF; i++) if ($(i+1) == unit) print $i}' |
    sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "n/a"}'; }

# Postgres's own rate for the worker's single-event transaction (BEGIN, the
# user's advisory lock, the snapshot statement, COMMIT), from pgbench with 16
# clients in a scratch database: the issue's yardstick for the drain.
pg_tps=n/a
if command -v pgbench >/dev/null; then
  scratch="clerksync_bench_pgbench_$$"
  psql -qX -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $scratch" >/dev/null
  trap 'psql -qX -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $scratch WITH (FORCE)" >/dev/null 2>&1; rm -rf "$out"' EXIT
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$scratch?sslmode=disable" go run ./cmd/clerksync migrate >/dev/null
  # The script is built by a db test from the store's own SQL and encoding.
  go test -count=1 -run '^TestPgbenchScriptForBench$' ./db/ -args -pgbench-script="$out/pgbench.sql" >/dev/null
  for _ in 1 2 3; do
    PGOPTIONS="-c search_path=${DATABASE_SCHEMA:-clerk}" pgbench -h 127.0.0.1 -U postgres -n -c 16 -j 2 -T 15 -f "$out/pgbench.sql" "$scratch" 2>/dev/null |
      awk '/^tps/ {print $3}' >> "$out/pgbench.txt"
  done
  pg_tps=$(sort -g "$out/pgbench.txt" | awk '{v[NR] = $1} END {if (NR) printf "%.0f", v[int((NR+1)/2)]; else print "n/a"}')
fi

v_eps=$(median BenchmarkReceiver/verify-only events/s); v_p99=$(median BenchmarkReceiver/verify-only p99-ms)
r_eps=$(median BenchmarkReceiver/enqueue events/s); r_p99=$(median BenchmarkReceiver/enqueue p99-ms)
s_eps=$(median BenchmarkWorker/single-event-tx events/s)
d_eps=$(median BenchmarkWorker/drain events/s); d_batch=$(median BenchmarkWorker/drain events/tx)

echo
echo "receiver, 32 concurrent clients, 9 KB user.created (median of $COUNT)"
printf '  %-34s %10s events/s   p99 %6s ms\n' "verify-only baseline" "$v_eps" "$v_p99"
printf '  %-34s %10s events/s   p99 %6s ms\n' "verify + parse + enqueue (Redis)" "$r_eps" "$r_p99"
printf '  %-34s %10s\n' "receiver / baseline" "$(ratio "$r_eps" "$v_eps")"
echo "worker, user.updated with 7 contact rows (median of $COUNT)"
printf '  %-34s %10s tx/s (median of 3 x 15 s)\n' "pgbench, same single-event shape" "$pg_tps"
printf '  %-34s %10s events/s\n' "Go, single-event tx, prepared" "$s_eps"
printf '  %-34s %10s events/s   %s events/tx\n' "worker draining the queue" "$d_eps" "$d_batch"
printf '  %-34s %10s   (goal: >= 1)\n' "worker / pgbench single-event" "$(ratio "$d_eps" "$pg_tps")"
printf '  %-34s %10s   (goal: >= 1)\n' "worker / Go single-event" "$(ratio "$d_eps" "$s_eps")"
b_ups=$(median BenchmarkBackfill/backfill users/s); w_ups=$(median BenchmarkBackfill/write-path users/s)
echo "backfill, $BACKFILL_USERS users of about 2 KB, pages of 500 (median of $COUNT)"
printf '  %-34s %10s users/s   (goal: >= 5000)\n' "backfill from the fake API" "$b_ups"
printf '  %-34s %10s users/s\n' "write path alone (ApplyEvents)" "$w_ups"
printf '  %-34s %10s\n' "backfill / write path" "$(ratio "$b_ups" "$w_ups")"
printf '  %-34s %10s s   (API alone at 90 req/s: %s s)\n' "100,000 users, production limit" \
  "$(median BenchmarkBackfill/backfill s/100k-prod)" "$(median BenchmarkBackfill/backfill s/100k-prod-api-only)"
printf '  %-34s %10s s   (API alone at 9 req/s: %s s)\n' "100,000 users, development limit" \
  "$(median BenchmarkBackfill/backfill s/100k-dev)" "$(median BenchmarkBackfill/backfill s/100k-dev-api-only)"

if [ -f scripts/bench-import.sh ]; then
  echo
  echo "== import: $IMPORT_ROWS rows, light and heavy exports, first import and unchanged re-import"
  bash scripts/bench-import.sh "$IMPORT_ROWS"
fi
