#!/usr/bin/env bash
# Benchmarks `clerksync import` against `psql \copy` of the same generated
# Clerk Dashboard export into a flat, unindexed table, for two shapes of
# export at ROWS users (default 1000000):
#
#   light  listed by creation time (ids ascending), ~1.3 emails, ~0.2 phones a user
#   heavy  ids in random order, ~2 emails, ~0.5 phones a user
#
# Each shape runs REPEAT times (BENCH_IMPORT_REPEAT, default 3) in a fresh
# database: psql \copy, the first import, then the same file imported again
# (nothing changes). It prints the medians, the import/psql ratio, the
# re-import/first-import ratio, the spread of the import times (the machine
# is shared: read the noise), and the peak RSS (the largest of the runs);
# then ROWS/4 and ROWS/2 of the light shape once each, for linearity.
# Goals: import/psql at most 8x on the heavy shape, in at most 100 MB; an
# unchanged re-import no slower than the first import.
#
#   bash scripts/bench-import.sh [ROWS]
#
# It starts services only through scripts/services.sh, works in scratch
# databases named clerksync_bench_<random>_... that it drops afterwards, and
# writes its files to a temporary directory it removes.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-1000000}
REPEAT=${BENCH_IMPORT_REPEAT:-3}
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
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
spread() { sort -g | awk '{v[NR] = $1} END {printf "%.1f-%.1f", v[1], v[NR]}'; }

# import_run FILE OUT: runs one import, appending its seconds to OUT.times
# and its peak RSS (kB) to OUT.rss; prints the summary's "imported" line.
import_run() {
  local file=$1 out=$2 t0 t1
  t0=$(now)
  /usr/bin/time -v bin/clerksync import --rejects "$work/rejects.csv" "$file" >"$work/summary.txt" 2>"$work/time.txt" || {
    echo "bench-import: the import of $file failed:" >&2; cat "$work/summary.txt" "$work/time.txt" >&2; exit 1; }
  t1=$(now)
  secs "$t0" "$t1" >>"$out.times"; echo >>"$out.times"
  sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt" >>"$out.rss"
  grep '^imported' "$work/summary.txt"
}

# bench SHAPE N REPEAT: prints one result line, the medians of REPEAT runs.
bench() {
  local shape=$1 n=$2 repeat=$3 file="$work/users-$1-$2.csv" flags=""
  [ "$shape" = heavy ] && flags=-heavy
  "$work/gencsv" -rows "$n" -seed 1 $flags -o "$file" 2>"$work/gen.txt"
  local good
  good=$(sed -n 's/.*(\([0-9]*\) good.*/\1/p' "$work/gen.txt")
  rm -f "$work"/run.*
  for r in $(seq 1 "$repeat"); do
    local db="clerksync_bench_${run_id}_${shape}_${n}_$r"
    dbs+=("$db")
    psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null

    # The baseline: the same file into a flat table of 13 text columns.
    psql -qX -d "$db" -c "CREATE TABLE flat (id text, first_name text, last_name text, username text,
      primary_email_address text, primary_phone_number text, verified_email_addresses text,
      unverified_email_addresses text, verified_phone_numbers text, unverified_phone_numbers text,
      totp_secret text, password_digest text, password_hasher text)"
    local t0 t1
    t0=$(now)
    psql -qX -d "$db" -c "\\copy flat FROM '$file' WITH (FORMAT csv, HEADER true)"
    t1=$(now)
    psql -qX -d "$db" -c "DROP TABLE flat" -c "CHECKPOINT" >/dev/null 2>&1 || true
    secs "$t0" "$t1" >>"$work/run.copy.times"; echo >>"$work/run.copy.times"

    # The import into a freshly migrated mirror, then the same file again.
    export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$db?sslmode=disable"
    bin/clerksync migrate >/dev/null
    import_run "$file" "$work/run.first" >/dev/null
    local loaded
    loaded=$(psql -qXtA -d "$db" -c "SELECT count(*) FROM ${DATABASE_SCHEMA:-clerk}.users")
    if [ "$loaded" != "$good" ]; then
      echo "bench-import: $loaded users in the mirror, want $good" >&2; exit 1
    fi
    psql -qX -d "$db" -c "CHECKPOINT" >/dev/null
    local again
    again=$(import_run "$file" "$work/run.again")
    if [ "$again" != "imported    $good (new 0, updated 0, unchanged $good)" ]; then
      echo "bench-import: the re-import said: $again" >&2; exit 1
    fi
    psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  done
  local copy_s first_s again_s rss_kb first_spread
  copy_s=$(grep . "$work/run.copy.times" | median)
  first_s=$(grep . "$work/run.first.times" | median)
  again_s=$(grep . "$work/run.again.times" | median)
  first_spread=$(grep . "$work/run.first.times" | spread)
  rss_kb=$(cat "$work/run.first.rss" "$work/run.again.rss" | sort -g | tail -n1)
  awk -v s="$shape" -v n="$n" -v c="$copy_s" -v i="$first_s" -v a="$again_s" -v r="$rss_kb" -v sp="$first_spread" 'BEGIN {
    printf "%-6s %8d  %7.2f  %8.2f  %6.1fx  %9s  %8.2f  %6.2fx  %7.1f  %8.0f  %7.1f\n",
      s, n, c, i, i / c, sp, a, a / i, i * 1e6 / n, n / i, r / 1024 }' | tee -a "$work/results.txt"
  rm -f "$file"
}

echo "clerksync import vs psql \\copy (generated Clerk exports, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "(full size: medians of $REPEAT runs; 'spread' is the fastest-slowest first import; RSS is the peak of all runs)"
printf "%-6s %8s  %7s  %8s  %7s  %9s  %8s  %7s  %7s  %8s  %7s\n" \
  shape rows "psql s" "import s" ratio spread "again s" again/1 "us/row" "rows/s" "RSS MB"
bench light "$ROWS" "$REPEAT"
bench heavy "$ROWS" "$REPEAT"
bench light $((ROWS / 4)) 1
bench light $((ROWS / 2)) 1

# The verdicts: the heavy shape against the goals, re-imports against first
# imports, and linearity (cost per row at ROWS against ROWS/4, light shape).
awk -v goal="$GOAL_RATIO" -v rss="$GOAL_RSS_MB" '
  NR == 1 { light_ratio = $5 + 0; light_us = $9; light_again = $8 + 0; light_rss = $11 + 0 }
  NR == 2 { heavy_ratio = $5 + 0; heavy_again = $8 + 0; heavy_rss = $11 + 0; n = $2 }
  NR == 3 { quarter_us = $9; quarter = $2 }
  END {
    printf "at %d rows: heavy shape %.1fx psql \\copy (goal <= %dx): %s; light shape %.1fx\n",
      n, heavy_ratio, goal, (heavy_ratio <= goal ? "met" : "NOT met"), light_ratio
    m = (heavy_rss > light_rss ? heavy_rss : light_rss)
    printf "peak RSS %.1f MB (goal <= %d MB): %s\n", m, rss, (m <= rss ? "met" : "NOT met")
    printf "unchanged re-import / first import: light %.2f, heavy %.2f (goal <= 1): %s\n",
      light_again, heavy_again, (light_again <= 1 && heavy_again <= 1 ? "met" : "NOT met")
    printf "cost per row at %d rows %.2fx that at %d rows (linear: ~1)\n", n, light_us / quarter_us, quarter
  }' "$work/results.txt"
