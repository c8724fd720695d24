#!/usr/bin/env bash
# make profile: where the CPU goes in the two goals of issue 10 that a
# 2-core machine does not meet, on services of its own so that every
# process's CPU can be counted:
#
#   drain     BenchmarkDrainBreakdown on a private Postgres (pg_stat_statements
#             preloaded) and a private Redis: CPU per event of this process,
#             Redis and every Postgres process; Redis commands per event; the
#             statements by total time; go tool pprof of the worker's drain.
#   receiver  BenchmarkReceiver's floor and real receiver under go tool pprof:
#             CPU per request of the parts of a request.
#
# It needs root (initdb runs as the postgres user) and leaves nothing behind:
# the cluster, Redis and the profiles live in a temporary directory.
#
#   bash scripts/profile.sh            # BENCH_BACKLOG (20000) events, 20000 requests
set -euo pipefail
cd "$(dirname "$0")/.."

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
export BENCH_BACKLOG=${BENCH_BACKLOG:-20000}
EVENTS=${BENCH_EVENTS:-20000}
work=$(mktemp -d)
chmod 755 "$work"
pg_data="$work/pg/data" redis_pid=""
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  [ -f "$pg_data/postmaster.pid" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

mkdir -p "$work/pg" && chown postgres: "$work/pg"
runuser -u postgres -- "$PG_BIN/initdb" -D "$pg_data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >"$work/initdb.log"
pg_port=$(freeport)
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$pg_data" -l "$work/pg/postgres.log" -w -t 60 \
  -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" start >/dev/null
psql -qX -h 127.0.0.1 -p "$pg_port" -U postgres -d template1 -c 'CREATE SCHEMA pgss' -c 'CREATE EXTENSION pg_stat_statements SCHEMA pgss'
redis_port=$(freeport)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done

go test -c -o "$work/cs.test" ./cmd/clerksync
export TEST_REDIS_ADDR=127.0.0.1:$redis_port
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"

echo "== drain: $BENCH_BACKLOG events for $((BENCH_BACKLOG / 5)) users, private Postgres and Redis"
(cd cmd/clerksync && BENCH_PG_DATA=$pg_data BENCH_CPUPROFILE=$work/drain.prof \
  "$work/cs.test" -test.run '^$' -test.bench '^BenchmarkDrainBreakdown$' -test.benchtime=1x -test.v) |
  grep -Ev '^(=== |goos|goarch|pkg|cpu|PASS|ok)' || true
echo
echo "-- go tool pprof, the worker's drain (cumulative, the parts of a task)"
go tool pprof -top -cum -nodecount=400 "$work/cs.test" "$work/drain.prof.worker" 2>/dev/null |
  grep -E 'Duration|worker\.\(\*Server\)\.handle$|parseTask|payload\.Decode|ParseEvent|DecodeUser|storable|ApplyEvents|db\.\(\*Store\)\.write|encode(Snapshots|Contacts|Deletions)|lib/pq\.\(\*conn\)\.recv|processor\)\.(exec|perform)$|RDB\)\.(Dequeue|MarkAsComplete|Done)$|privacy\)\.(record|forget|committed)|batcher\)\.(run|execute)$|runtime\.gcBgMarkWorker$|prometheus' |
  sed -n 1,40p

echo
echo "== receiver: $EVENTS requests, 32 clients, the floor and the real receiver"
for mode in floor enqueue; do
  (cd cmd/clerksync && "$work/cs.test" -test.run '^$' -test.bench "^BenchmarkReceiver\$/^$mode\$" \
    -test.benchtime="${EVENTS}x" -test.cpuprofile="$work/recv-$mode.prof") | grep -E '^Benchmark' || true
done
for mode in floor enqueue; do
  echo "-- go tool pprof, $mode: cumulative CPU of the parts of a request (the 32 clients and body generation left out)"
  go tool pprof -top -cum -nodecount=400 -ignore='clerkgen|signAll|receiverBodies' "$work/cs.test" "$work/recv-$mode.prof" 2>/dev/null |
    grep -E 'Duration|net/http\.\(\*conn\)\.serve$|floorHandler|webhooks\.\(\*Handler\)\.(ServeHTTP|verify|route|readBody|finish)$|ParseEvent$|payload\.Encode$|asynq\.\(\*Client\)\.EnqueueContext$|Enqueuer\)\.Enqueue\.func1$|svix-webhooks/go\.\(\*Webhook\)\.verify$|net/http\.\(\*response\)\.finishRequest$' |
    sed -n 1,20p
done
echo "(a function's cum / $EVENTS requests is its CPU per request)"
