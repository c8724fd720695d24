#!/usr/bin/env bash
# Scenario 4: Redis killed (kill -9: a crash, the harder case than a clean
# restart) right after a burst of deliveries was answered 2xx, with no worker
# running, so that every task is still in Redis; then restarted on the same
# data directory. Three settings:
#   aof-always    appendonly yes, appendfsync always
#   aof-everysec  appendonly yes, appendfsync everysec (the README's advice)
#   none          no AOF, no RDB: every queued task is lost, and clerksync
#                 should have warned at start that Redis persists nothing
# With AOF nothing 2xx'd may be lost. A process crash loses nothing under
# everysec either: the written AOF is in the page cache; only a machine crash
# (power, kernel) loses up to the last second, which no script here can cause.
# The cost of each setting is the receiver's rate and latency in the burst.
SCENARIO=redis-restart
TITLE="Redis kill -9 and restart: AOF always, AOF everysec, no persistence"
source "$(dirname "$0")/lib.sh"

USERS=${FAULTS_USERS:-1000}
pg_start

mode() {
  local name=$1; shift
  # Each setting gets its own database and an empty Redis.
  psql -qX -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE ${name//-/_}" >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/${name//-/_}?sslmode=disable"
  [ -n "$REDIS_PID" ] && redis_kill9
  rm -rf "$WORK/redis" && mkdir -p "$WORK/redis"
  redis_start "$@"
  # The fsync's own cost, without clerksync: SETs of 4 KB, as a task is a few KB.
  redis-benchmark -p "$REDIS_PORT" -t set -d 4096 -n 20000 -c 32 -q 2>/dev/null | tr '\r' '\n' |
    grep -o 'SET: [0-9.]* requests per second' | awk '{printf "%.0f", $2}' >"$OUT/$name-bench.txt" || true
  redis-cli -p "$REDIS_PORT" del key:__rand_int__ >/dev/null 2>&1 || true
  migrate
  cs_start "serve-$name" serve
  say "$name: queueing $USERS users' histories with no worker, then kill -9 of Redis"
  "$FAULTLOAD" send -prefix "r${name//-/}" -users "$USERS" -seed 4 -dup 0.3 -concurrency 32 -retry-for 0 \
    -url "$(url "serve-$name")" -out "$OUT/$name.json" >"$OUT/$name.txt" 2>&1 || true
  local before after s=$OUT/$name.txt
  before=$(qlen pending)
  redis_kill9
  redis_start "$@"
  after=$(qlen pending)
  cs_start "work-$name" work
  local d
  d=$(drain "$name" -timeout 3m)
  fig "$name: sends 2xx / never 2xx" "$(get "$s" sends_2xx) / $(get "$s" sends_never_2xx)"
  fig "$name: receiver rate (sends/s), 2xx latency p50 / p99 ms" "$(get "$s" sends_per_second), $(get "$s" latency_2xx_p50_ms) / $(get "$s" latency_2xx_p99_ms)"
  fig "$name: redis-benchmark SET 4 KB, 32 clients (ops/s)" "$(cat "$OUT/$name-bench.txt")"
  fig "$name: tasks in Redis before the kill / after restart" "$before / $after"
  fig "$name: tasks lost" "$((before - after))"
  fig "$name: queue drained after restart (s)" "$(get "$d" drained_s)"
  local warned
  warned=$(grep -iE '"msg":"[^"]*(persist|appendonly|append-only|aof|rdb)' "$OUT/serve-$name.log" | grep -vc '"msg":"clerk webhook"' || true)
  fig "$name: serve's start-up lines about persistence" "$warned"
  case $name in
    none)
      goal "$name: every queued task lost (counted)" "$(num_eq "$after" 0)" "$((before - after)) of $before lost"
      goal "$name: clerksync warns at start that Redis persists nothing" "$(num_ge "$warned" 1)" "$warned warning lines"
      ;;
    *)
      goal "$name: nothing lost" "$(num_eq "$after" "$before")" "$before before, $after after"
      check_mirror "$name: mirror" "$OUT/$name.json"
      goal "$name: no persistence warning" "$(num_eq "$warned" 0)" "$warned warning lines"
      ;;
  esac
  cs_stop "serve-$name"
  cs_stop "work-$name"
}

mode aof-always --appendonly yes --appendfsync always --save ""
mode aof-everysec --appendonly yes --appendfsync everysec --save ""
mode none --appendonly no --save ""
finish
