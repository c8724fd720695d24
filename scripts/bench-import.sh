#!/usr/bin/env bash
# Benchmarks `clerksync import` against `psql \copy` of the same generated
# Clerk Dashboard export into a flat, unindexed table, at ROWS/4, ROWS/2 and
# ROWS users (default ROWS: 1000000), and prints rows/s, the import/psql time
# ratio and the import's peak RSS for each. Goal (issue 3): at 1M rows, a
# ratio of at most 8 and at most 100 MB of RSS, and cost linear in rows.
#
#   bash scripts/bench-import.sh [ROWS]
#
# It starts services only through scripts/services.sh, works in scratch
# databases named clerksync_bench_<random>_<rows> that it drops afterwards,
# and writes its files to a temporary directory it removes.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-1000000}
PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER
GOAL_RATIO=8 GOAL_RSS_MB=100

bash scripts/services.sh >/dev/null

work=$(mktemp -d)
run_id=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
dbs=()
cleanup() {
  for db in "${dbs[@]}"; do
    psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

go build -o bin/clerksync ./cmd/clerksync
go build -o "$work/gencsv" ./cmd/gencsv

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

bench() { # bench N: prints one result line
  local n=$1 db="clerksync_bench_${run_id}_$1" file="$work/users-$1.csv"
  dbs+=("$db")
  "$work/gencsv" -rows "$n" -seed 1 -o "$file" 2>"$work/gen.txt"
  local good
  good=$(sed -n 's/.*(\([0-9]*\) good.*/\1/p' "$work/gen.txt")
  psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null

  # The baseline: the same file into a flat table of 13 text columns.
  psql -qX -d "$db" -c "CREATE TABLE flat (id text, first_name text, last_name text, username text,
    primary_email_address text, primary_phone_number text, verified_email_addresses text,
    unverified_email_addresses text, verified_phone_numbers text, unverified_phone_numbers text,
    totp_secret text, password_digest text, password_hasher text)"
  local t0 t1 t1b t2
  t0=$(now)
  psql -qX -d "$db" -c "\\copy flat FROM '$file' WITH (FORMAT csv, HEADER true)"
  t1=$(now)
  psql -qX -d "$db" -c "DROP TABLE flat" -c "CHECKPOINT" >/dev/null 2>&1 || true

  # The import, into a freshly migrated mirror.
  export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$db?sslmode=disable"
  bin/clerksync migrate >/dev/null
  t1b=$(now)
  /usr/bin/time -v bin/clerksync import "$file" >"$work/summary.txt" 2>"$work/time.txt" || {
    echo "bench-import: the import of $n rows failed:" >&2; cat "$work/summary.txt" "$work/time.txt" >&2; exit 1; }
  t2=$(now)
  local rss_kb loaded
  rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
  loaded=$(psql -qXtA -d "$db" -c "SELECT count(*) FROM users")
  if [ "$loaded" != "$good" ]; then
    echo "bench-import: $loaded users in the mirror, want $good" >&2; exit 1
  fi
  local copy_s import_s
  copy_s=$(secs "$t0" "$t1") import_s=$(secs "$t1b" "$t2")
  awk -v n="$n" -v c="$copy_s" -v i="$import_s" -v r="$rss_kb" 'BEGIN {
    printf "%9d  %9.2f  %9.2f  %6.1fx  %9.0f  %9.0f  %7.1f  %8.1f\n", n, c, i, i / c, n / c, n / i, i * 1e6 / n, r / 1024 }' \
    | tee -a "$work/results.txt"
  psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  rm -f "$file"
}

echo "clerksync import vs psql \\copy (generated Clerk exports, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf "%9s  %9s  %9s  %7s  %9s  %9s  %7s  %8s\n" rows "psql s" "import s" ratio "psql r/s" "import r/s" "us/row" "RSS MB"
for n in $((ROWS / 4)) $((ROWS / 2)) "$ROWS"; do
  bench "$n"
done

# The verdict on the largest size, and linearity: the cost per row at ROWS
# against ROWS/4.
paste -sd' ' <(sed -n '1p;3p' "$work/results.txt") | awk -v goal="$GOAL_RATIO" -v rss="$GOAL_RSS_MB" '{
  ratio = $12 + 0; mem = $16 + 0; lin = $15 / $7
  printf "at %d rows: ratio %.1fx (goal <= %dx): %s; peak RSS %.1f MB (goal <= %d MB): %s; cost per row %.2fx that at %d rows (linear: ~1)\n",
    $9, ratio, goal, (ratio <= goal ? "met" : "NOT met"), mem, rss, (mem <= rss ? "met" : "NOT met"), lin, $1 }'
