# Shared by the fault scenarios (scripts/faults/*.sh; `make faults`). Source it
# after setting SCENARIO and TITLE. It gives each scenario its own Postgres and
# Redis on free loopback ports (never the shared 5432/5433/6379/638x), starts
# clerksync processes against them, collects figures and goals, and cleans
# everything up on exit, failure included.
#
# Everything a scenario sends goes to 127.0.0.1 only, and every loop in it is
# bounded in count and time.

set -euo pipefail

FAULTS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLERKSYNC=$FAULTS_ROOT/bin/clerksync
FAULTLOAD=$FAULTS_ROOT/bin/faultload
# Logs, ledgers and figures stay here after the run (tmp/ is git-ignored);
# the data directories live under a temporary directory removed at exit.
OUT=${FAULTS_OUT:-$FAULTS_ROOT/tmp/faults}/$SCENARIO
RESULTS=${FAULTS_RESULTS:-$OUT/results.tsv}
rm -rf "$OUT" && mkdir -p "$OUT"
WORK=$(mktemp -d "/tmp/clerksync-faults-$SCENARIO.XXXXXX")
chmod 755 "$WORK"

if [ -x /usr/local/bin/pg_ctl ]; then
  PG_BIN=${PG_BIN:-/usr/local/bin}
else
  PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
fi
[ -x "$PG_BIN/pg_ctl" ] || { echo "faults: no pg_ctl (set PG_BIN)" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "faults: no redis-server" >&2; exit 2; }
[ -x "$CLERKSYNC" ] && [ -x "$FAULTLOAD" ] || { echo "faults: build first (make faults does)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "faults: run as root (Postgres runs as the postgres user)" >&2; exit 2; }

# The configuration every clerksync process and faultload reads. A schema
# named explicitly, so that the checker looks where clerksync writes.
export DATABASE_SCHEMA=${FAULTS_SCHEMA:-clerk}
# A throw-away secret for these scenarios only ("faults-only-signing-secret-00000").
export CLERK_WEBHOOK_SIGNING_SECRET=whsec_ZmF1bHRzLW9ubHktc2lnbmluZy1zZWNyZXQtMDAwMDA=
export LOG_FORMAT=json LOG_LEVEL=info TASK_RETENTION=1h SHUTDOWN_TIMEOUT=10s
unset ADMIN_USER ADMIN_PASSWORD

T0=$(date +%s.%N)
now() { date +%s.%N; }
# elapsed FROM [TO]: seconds between two `now` readings, one decimal.
elapsed() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN {printf "%.1f", b - a}'; }
say() { printf '[%s %6ss] %s\n' "$SCENARIO" "$(elapsed "$T0")" "$*" >&2; }

# get FILE KEY: a value from faultload's key=value output ("" if absent).
get() { awk -F= -v k="$2" '$1 == k {v = substr($0, length(k) + 2)} END {print v}' "$1"; }

# getn FILE KEY: a count, 0 when absent.
getn() { local v; v=$(get "$1" "$2"); echo "${v:-0}"; }

# --- figures and goals -------------------------------------------------------

FIGS=()
GOALS=()
FAILED=0
# fig LABEL VALUE: one figure of the summary block.
fig() { FIGS+=("$(printf '  %-52s %s' "$1" "$2")"); }
# goal NAME OK FIGURE: a goal met (OK=1) or missed, with the figure it rests on.
goal() {
  local verdict=PASS
  if [ "$2" != 1 ]; then verdict=FAIL; FAILED=1; fi
  GOALS+=("$(printf '  %s  %-60s %s' "$verdict" "$1" "$3")")
  printf '%s\t%s\t%s\t%s\n' "$SCENARIO" "$verdict" "$1" "$3" >> "$RESULTS"
}
# num_le A B: 1 when A <= B (numbers, possibly fractional), else 0.
num_le() { awk -v a="$1" -v b="$2" 'BEGIN {print (a != "" && a + 0 <= b + 0) ? 1 : 0}'; }
num_eq() { awk -v a="$1" -v b="$2" 'BEGIN {print (a != "" && a + 0 == b + 0) ? 1 : 0}'; }
num_ge() { awk -v a="$1" -v b="$2" 'BEGIN {print (a != "" && a + 0 >= b + 0) ? 1 : 0}'; }

# check_mirror LABEL LEDGER...: the exact check, as figures and one goal.
check_mirror() {
  local label=$1; shift
  local args=() l
  for l in "$@"; do args+=(-ledger "$l"); done
  local f=$OUT/check-${label// /-}.txt
  "$FAULTLOAD" check "${args[@]}" > "$f" 2>&1 || true
  fig "$label: users checked" "$(get "$f" users)"
  fig "$label: events answered 2xx / never 2xx" "$(get "$f" events_2xx) / $(get "$f" events_never_2xx)"
  local detail="exact $(get "$f" users_exact), lost $(get "$f" users_lost), extra $(get "$f" users_extra), wrong $(get "$f" users_wrong), unexpected $(get "$f" users_unexpected)"
  fig "$label: users exact/lost/extra/wrong/unexpected" "$detail"
  local ex
  for ex in lost extra wrong unexpected; do
    if [ -n "$(get "$f" "examples_$ex")" ]; then fig "$label: e.g. $ex" "$(get "$f" "examples_$ex")"; fi
  done
  if [ -z "$(get "$f" exact)" ]; then fig "$label: checker failed" "$(tail -n1 "$f")"; fi
  goal "$label exact: every 2xx'd event applied, nothing extra" "$(get "$f" exact)" "$detail"
}

finish() {
  FINISHED=1
  {
    echo
    echo "==== $SCENARIO: $TITLE ($(elapsed "$T0") s) ===="
    local l
    for l in "${FIGS[@]}"; do echo "$l"; done
    for l in "${GOALS[@]}"; do echo "$l"; done
    echo "  (logs and ledgers: $OUT)"
  } | tee "$OUT/summary.txt"
  exit "$FAILED"
}

# --- processes ---------------------------------------------------------------

declare -A PID ADDR
HELPERS=() # background faultload processes
REDIS_PID=""
PG_DATA=""
PG_PORT=""
REDIS_PORT=""

FINISHED=0
cleanup() {
  local rc=$?
  set +e
  if [ "$FINISHED" != 1 ]; then
    # Stopped before its summary (a step failed, or Ctrl-C): a FAIL of its own.
    printf '%s\tFAIL\t%s\t%s\n' "$SCENARIO" "scenario ran to its end" "stopped early, exit $rc (see $OUT)" >>"$RESULTS"
    echo "faults: $SCENARIO stopped early (exit $rc); logs in $OUT" >&2
  fi
  local name p
  # Helpers still running (a send, a drain) when a step failed.
  for p in "${HELPERS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  [ -n "$REDIS_PID" ] && kill -CONT "$REDIS_PID" 2>/dev/null
  for name in "${!PID[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null; done
  for name in "${!PID[@]}"; do
    for _ in $(seq 1 30); do kill -0 "${PID[$name]}" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "${PID[$name]}" 2>/dev/null
  done
  [ -n "$REDIS_PID" ] && { kill -KILL "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; }
  [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ] &&
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1
  # Postgres writes its log as the postgres user, which may not reach $OUT.
  [ -f "$WORK/pg/postgres.log" ] && cp "$WORK/pg/postgres.log" "$OUT/postgres.log"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

freeport() { "$FAULTLOAD" freeport; }

# pg_start: a fresh cluster the first time, on a free port; later calls
# start the same cluster on the same port again.
pg_start() {
  if [ -z "$PG_DATA" ]; then
    # One directory the postgres user owns: the cluster, its socket, its log.
    mkdir -p "$WORK/pg" && chown postgres: "$WORK/pg"
    PG_DATA=$WORK/pg/data
    runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >"$OUT/initdb.log" 2>&1
    PG_PORT=$(freeport)
    export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
  fi
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$WORK/pg/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=64MB" start >/dev/null
}

# pg_stop [MODE]: fast (the default) ends sessions and stops cleanly.
pg_stop() { runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m "${1:-fast}" -w -t 60 stop >/dev/null; }

# redis_start [ARGS...]: Redis on a free port the first time, the same port
# and data directory after; ARGS choose persistence (none by default).
REDIS_ARGS=(--save "" --appendonly no)
redis_start() {
  if [ -z "$REDIS_PORT" ]; then
    REDIS_PORT=$(freeport)
    mkdir -p "$WORK/redis"
    export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  fi
  [ $# -gt 0 ] && REDIS_ARGS=("$@")
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --maxmemory-policy noeviction \
    "${REDIS_ARGS[@]}" >>"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    if redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.1
  done
  echo "faults: Redis did not start (see $OUT/redis.log)" >&2; return 1
}
redis_kill9() { kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=""; }
# redis_shutdown: a clean stop (SHUTDOWN writes the AOF/RDB it is configured with).
redis_shutdown() { redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=""; }

# cs_start NAME COMMAND [PORT]: a clerksync process (serve, work, run) on
# PORT or a free port, its log in $OUT/NAME.log; waits until /healthz answers.
cs_start() {
  local name=$1 cmd=$2 port=${3:-}
  [ -n "$port" ] || port=$(freeport)
  ADDR[$name]=127.0.0.1:$port
  LISTEN_ADDR=${ADDR[$name]} "$CLERKSYNC" "$cmd" >>"$OUT/$name.log" 2>&1 &
  PID[$name]=$!
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "http://${ADDR[$name]}/healthz" 2>/dev/null; then return 0; fi
    kill -0 "${PID[$name]}" 2>/dev/null || { echo "faults: clerksync $cmd ($name) exited; see $OUT/$name.log" >&2; return 1; }
    sleep 0.1
  done
  echo "faults: clerksync $cmd ($name) did not answer /healthz" >&2; return 1
}
# cs_stop NAME: SIGTERM, then wait for a graceful exit (bounded).
cs_stop() {
  local p=${PID[$1]}
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset "PID[$1]"
}
cs_kill9() { kill -KILL "${PID[$1]}" 2>/dev/null || true; wait "${PID[$1]}" 2>/dev/null || true; unset "PID[$1]"; }
url() { echo "http://${ADDR[$1]}/webhooks/clerk"; }
migrate() { "$CLERKSYNC" migrate >>"$OUT/migrate.log" 2>&1; }

# metric NAME PATTERN METRIC: the sum of a metric's samples whose line
# matches PATTERN (a grep -E on the labels), from process NAME's /metrics.
metric() {
  curl -fsS "http://${ADDR[$1]}/metrics" 2>/dev/null | grep -E "^$3[{ ]" | grep -E -- "$2" |
    awk '{s += $NF} END {printf "%d", s}'
}

# rss_kb NAME: a process's peak resident memory (VmHWM) in KiB.
rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/${PID[$1]}/status" 2>/dev/null || echo 0; }

# send_bg NAME ARGS...: faultload send in the background, ledger $OUT/NAME.json.
send_bg() {
  local name=$1; shift
  "$FAULTLOAD" send -out "$OUT/$name.json" "$@" >"$OUT/$name.txt" 2>&1 &
  SEND_PID=$!
  HELPERS+=("$SEND_PID")
}
# send_wait: wait for the background send; its figures stay in $OUT/NAME.txt.
send_wait() { wait "$SEND_PID" || true; forget "$SEND_PID"; SEND_PID=""; }
# forget PID: a helper that has been waited for, whose id may now be reused,
# is no longer one to end at exit.
forget() {
  local keep=() p
  for p in "${HELPERS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  HELPERS=("${keep[@]}")
}

# drain LABEL ARGS...: faultload drain, figures in $OUT/drain-LABEL.txt.
drain() {
  local label=$1; shift
  "$FAULTLOAD" drain "$@" >"$OUT/drain-$label.txt" 2>&1 || true
  echo "$OUT/drain-$label.txt"
}

# qlen STATE: how many tasks Redis holds in a state's list (pending, active),
# read straight from asynq's keys: cheap enough to poll.
qlen() { redis-cli -p "$REDIS_PORT" llen "asynq:{clerksync}:$1" 2>/dev/null || echo 0; }

# lines NAME: how many lines process NAME has logged so far.
lines() { if [ -f "$OUT/$1.log" ]; then wc -l < "$OUT/$1.log"; else echo 0; fi; }
# problem_lines: the lines of a log but the per-batch progress lines
# ("events applied", one info line per committed transaction).
problem_lines() { if [ -f "$OUT/$1.log" ]; then grep -vc 'events applied' "$OUT/$1.log" || true; else echo 0; fi; }
bytes() { if [ -f "$OUT/$1.log" ]; then wc -c < "$OUT/$1.log"; else echo 0; fi; }
