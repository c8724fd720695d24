#!/usr/bin/env bash
# Scenario 2: Postgres goes down for FAULTS_PG_DOWN seconds (60; 300 with
# FAULTS_LONG=1 in `make faults`) while the worker drains a backlog. The
# receiver keeps queueing meanwhile (it needs only Redis). Figures: how soon
# the drain starts again once Postgres is back (goal: within 10 s), the time
# to converge (goal: 60 s), retry counts (goal: unchanged by the outage), archived tasks
# (goal: none) and the worker's log lines during the outage (goal: one
# "unavailable" and one "back").
DOWN=${FAULTS_PG_DOWN:-60}
SCENARIO=postgres-outage-${DOWN}s
TITLE="Postgres down ${DOWN} s mid-backlog"
source "$(dirname "$0")/lib.sh"

USERS=${FAULTS_USERS:-2500}
CONVERGE=${FAULTS_CONVERGE_TIMEOUT:-$((DOWN < 120 ? 240 : 600))}
# At full speed the backlog left drains in well under 30 s here; 60 s allows
# for a slow, shared machine.
CONVERGE_GOAL=${FAULTS_CONVERGE_GOAL:-60}
pg_start
redis_start
migrate
cs_start serve serve

say "queueing a backlog of $USERS users' histories (no worker yet)"
"$FAULTLOAD" send -prefix pgout -users "$USERS" -seed 2 -dup 0.3 -concurrency 32 -url "$(url serve)" \
  -out "$OUT/backlog.json" >"$OUT/backlog.txt" 2>&1 || true
"$FAULTLOAD" queue -prefix before_ >"$OUT/queue-before.txt"
backlog=$(get "$OUT/queue-before.txt" before_pending)

cs_start work work
# Stop Postgres once the worker has taken a bite of the backlog (bounded wait).
for _ in $(seq 1 100); do
  [ "$(qlen pending)" -le $((backlog * 8 / 10)) ] && break
  sleep 0.05
done
left=$(qlen pending)
l0=$(problem_lines work)
pg_stop fast
stopped=$(now)
say "Postgres stopped with $left of $backlog tasks pending; down for $DOWN s, sending more meanwhile"
send_bg during -prefix pgdur -users 200 -seed 22 -dup 0.3 -rate 50 -retry-for 30s -url "$(url serve)"
sleep "$DOWN"
send_wait
back=$(now)
pg_start
say "Postgres back; waiting for the queue to drain (at most $CONVERGE s)"
"$FAULTLOAD" drain -since "$back" -timeout "${CONVERGE}s" >"$OUT/drain.txt" 2>&1 &
drain_pid=$!
HELPERS+=("$drain_pid")
sleep 10
l1=$(problem_lines work)
wait "$drain_pid" || true
forget "$drain_pid"
d=$OUT/drain.txt
"$FAULTLOAD" queue -prefix after_ >"$OUT/queue-after.txt"
a=$OUT/queue-after.txt

window_msgs=$(sed -n "$((l0 + 1)),${l1}p" "$OUT/work.log" | grep -o '"msg":"[^"]*"' | sort | uniq -c | sort -rn | head -n 3 |
  awk '{c = $1; $1 = ""; sub(/^ "msg":/, ""); printf "%s%s x%d", sep, $0, c; sep = ", "}')
first=$(get "$d" first_progress_s)
drained=$(get "$d" drained_s)
total=$(awk -v a="$stopped" -v b="$back" -v d="$drained" 'BEGIN {if (d < 0) print "n/a (not drained)"; else printf "%.1f", b - a + d}')
fig "backlog queued / pending when Postgres stopped" "$backlog / $left"
fig "queued while Postgres was down: 2xx / never 2xx" "$(get "$OUT/during.txt" sends_2xx) / $(get "$OUT/during.txt" sends_never_2xx)"
fig "drain resumed, s after Postgres back" "$first"
fig "half the tasks left done, s after Postgres back" "$(get "$d" half_s)"
fig "queue drained, s after Postgres back" "$drained"
fig "outage start to converged (s)" "$total"
fig "tasks retried (before -> after)" "$(get "$OUT/queue-before.txt" before_retried_tasks) -> $(get "$a" after_retried_tasks)"
fig "retries summed over tasks (before -> after)" "$(get "$OUT/queue-before.txt" before_retried_sum) -> $(get "$a" after_retried_sum)"
fig "tasks still waiting to retry / archived" "$(get "$a" after_retry) / $(get "$a" after_archived)"
fig "worker log lines but progress, stop to 10 s after back" "$((l1 - l0))"
fig "  most frequent" "${window_msgs:-none}"
goal "drain resumes within 10 s of Postgres back" "$(awk -v f="$first" 'BEGIN {print (f >= 0 && f <= 10) ? 1 : 0}')" "${first} s"
goal "converged within ${CONVERGE_GOAL} s of Postgres back" "$(awk -v s="$drained" -v g="$CONVERGE_GOAL" 'BEGIN {print (s >= 0 && s <= g) ? 1 : 0}')" "${drained} s"
goal "receiver kept queueing while Postgres was down" "$(num_eq "$(get "$OUT/during.txt" sends_never_2xx)" 0)" "never 2xx: $(get "$OUT/during.txt" sends_never_2xx)"
goal "nothing archived" "$(num_eq "$(get "$a" after_archived)" 0)" "archived: $(get "$a" after_archived)"
goal "retry counts unchanged by the outage" "$(num_eq "$(get "$a" after_retried_sum)" "$(get "$OUT/queue-before.txt" before_retried_sum)")" \
  "retries summed: $(get "$OUT/queue-before.txt" before_retried_sum) -> $(get "$a" after_retried_sum)"
goal "worker logs the outage in 2 lines (unavailable, back)" "$(num_le "$((l1 - l0))" 2)" "$((l1 - l0)) lines"
check_mirror "mirror" "$OUT/backlog.json" "$OUT/during.json"
finish
