#!/usr/bin/env bash
# Scenario 1: Redis goes away in the middle of a steady send, twice: first
# stopped (a clean SHUTDOWN, so its AOF keeps what it had), then frozen
# (SIGSTOP: connections stay open, nothing answers). While it is away no
# delivery may be answered 2xx; the sender retries as Svix does, and once
# Redis is back every 2xx'd event must be in the mirror. Stopped for 10 s
# (FAULTS_REDIS_STOPPED), frozen for 20 s (FAULTS_REDIS_FROZEN): longer than
# the receiver's 10 s enqueue deadline, so that the slowest answer shows
# whether a request held by a frozen Redis is answered before Svix's 15 s.
SCENARIO=redis-outage
TITLE="Redis stopped, then frozen (SIGSTOP), mid-send"
source "$(dirname "$0")/lib.sh"

USERS=${FAULTS_USERS:-500}
STOPPED=${FAULTS_REDIS_STOPPED:-10}
FROZEN=${FAULTS_REDIS_FROZEN:-20}
RATE=${FAULTS_RATE:-150}
pg_start
redis_start --appendonly yes --appendfsync everysec --save ""
migrate
cs_start serve serve
cs_start work work

# outage NAME HOW SECONDS: a send at $RATE/s with Redis away for SECONDS from its 5th second.
outage() {
  local name=$1 how=$2 away=$3 from to l0 l1 s0 s1
  say "$name: sending $USERS users at $RATE deliveries/s; Redis $how for $away s after 5 s"
  send_bg "$name" -prefix "$name" -users "$USERS" -seed 1 -dup 0.3 -rate "$RATE" -retry-for 90s -url "$(url serve)"
  sleep 5
  l0=$(lines serve); s0=$(lines work)
  case $how in
    stopped) redis_shutdown; from=$(now); sleep "$away"; to=$(now); redis_start ;;
    frozen) kill -STOP "$REDIS_PID"; from=$(now); sleep "$away"; to=$(now); kill -CONT "$REDIS_PID" ;;
  esac
  l1=$(lines serve); s1=$(lines work)
  say "$name: Redis back; waiting for the send and the queue"
  send_wait
  local d
  d=$(drain "$name" -timeout 3m -since "$to")
  "$FAULTLOAD" window -ledger "$OUT/$name.json" -from "$from" -to "$to" >"$OUT/window-$name.txt"
  local w=$OUT/window-$name.txt s=$OUT/$name.txt
  fig "$name: sends / answered 2xx / never 2xx" "$(get "$s" sends) / $(get "$s" sends_2xx) / $(get "$s" sends_never_2xx)"
  fig "$name: attempts while Redis was away" "$(get "$w" attempts) (503: $(get "$w" answers_503), no answer: $(get "$w" no_answer), other: $(get "$w" answers_other))"
  fig "$name: answered while away (whenever sent) / 2xx" "$(get "$w" answered_inside) / $(get "$w" answered_inside_2xx)"
  fig "$name: sent while away, answered after / 2xx" "$(get "$w" held_over) / $(get "$w" held_over_2xx)"
  fig "$name: slowest answer to a request sent while away (s)" "$(get "$w" longest_s)"
  fig "$name: first 2xx after Redis was back (s)" "$(get "$w" first_2xx_after_s)"
  fig "$name: queue drained, s after Redis was back" "$(get "$d" drained_s)"
  fig "$name: log lines while away (serve / work)" "$((l1 - l0)) / $((s1 - s0))"
  "$FAULTLOAD" queue >"$OUT/queue-$name.txt" || true
  fig "$name: tasks retried so far / archived" "$(get "$OUT/queue-$name.txt" retried_tasks) / $(get "$OUT/queue-$name.txt" archived)"
  goal "$name: no 2xx while Redis was $how" "$(num_eq "$(get "$w" answers_2xx)" 0)" "2xx while away: $(get "$w" answers_2xx)"
  goal "$name: every delivery 2xx'd in the end (Svix-like retries)" "$(num_eq "$(get "$s" sends_never_2xx)" 0)" "never 2xx: $(get "$s" sends_never_2xx)"
}

outage stopped stopped "$STOPPED"
outage frozen frozen "$FROZEN"
check_mirror "mirror" "$OUT/stopped.json" "$OUT/frozen.json"
finish
