#!/usr/bin/env bash
# Scenario 3: kill -9, twice. First a `work` in the middle of a backlog:
# another `work` must finish it (figure: seconds from the kill to a drained
# queue; the tasks the dead worker held come back only when their lease
# expires). Then `run` in the middle of a send: restarted on the same port,
# it must lose nothing that was answered 2xx.
SCENARIO=kill9
TITLE="kill -9 of work mid-backlog, and of run mid-send"
source "$(dirname "$0")/lib.sh"

USERS=${FAULTS_USERS:-2000}
# What Asynq v0.26 allows: a dead worker's lease (30 s) must expire and its recoverer
# only takes tasks whose lease expired over 30 s ago; the worker checks every 15 s, so 60-75 s.
KILL_GOAL=${FAULTS_KILL_GOAL:-75}
pg_start
redis_start
migrate

# --- work, mid-backlog ---
cs_start serve serve
say "queueing a backlog of $USERS users' histories (no worker yet)"
"$FAULTLOAD" send -prefix kwork -users "$USERS" -seed 3 -dup 0.3 -concurrency 32 -url "$(url serve)" \
  -out "$OUT/backlog.json" >"$OUT/backlog.txt" 2>&1 || true
backlog=$(qlen pending)
cs_start work1 work
for _ in $(seq 1 100); do
  [ "$(qlen pending)" -le $((backlog * 7 / 10)) ] && break
  sleep 0.05
done
cs_kill9 work1
killed=$(now)
held=$(qlen active)
left=$(qlen pending)
say "work1 killed with $held tasks active and $left pending; starting work2"
cs_start work2 work
d=$(drain work -since "$killed" -timeout 4m)
"$FAULTLOAD" queue >"$OUT/queue-work.txt"
fig "work: backlog / pending at the kill / held by the dead worker" "$backlog / $left / $held"
fig "work: half the tasks left done, s after the kill" "$(get "$d" half_s)"
fig "work: queue drained, s after the kill" "$(get "$d" drained_s)"
fig "work: tasks retried (lease expired) / archived" "$(get "$OUT/queue-work.txt" retried_tasks) / $(get "$OUT/queue-work.txt" archived)"
goal "work: another worker finishes the backlog" "$(get "$d" drained)" "$(get "$d" drained_s) s after the kill"
goal "work: finished within ${KILL_GOAL} s of the kill" "$(awk -v s="$(get "$d" drained_s)" -v g="$KILL_GOAL" 'BEGIN {print (s >= 0 && s <= g) ? 1 : 0}')" \
  "$(get "$d" drained_s) s"
cs_stop serve
cs_stop work2

# --- run, mid-send ---
port=$(freeport)
cs_start run1 run "$port"
say "sending 500 users to run at 150/s; kill -9 of run after 5 s, restarted 2 s later"
send_bg runsend -prefix krun -users 500 -seed 33 -dup 0.3 -rate 150 -retry-for 90s -url "$(url run1)"
sleep 5
cs_kill9 run1
killed=$(now)
held=$(qlen active)
sleep 2
cs_start run2 run "$port"
restarted=$(now)
send_wait
d=$(drain run -since "$restarted" -timeout 4m)
"$FAULTLOAD" window -ledger "$OUT/runsend.json" -from "$killed" -to "$restarted" >"$OUT/window-run.txt"
s=$OUT/runsend.txt
fig "run: sends / 2xx / never 2xx" "$(get "$s" sends) / $(get "$s" sends_2xx) / $(get "$s" sends_never_2xx)"
fig "run: tasks held by the killed run" "$held"
fig "run: attempts while it was dead (no answer / 503)" "$(get "$OUT/window-run.txt" attempts) ($(get "$OUT/window-run.txt" no_answer) / $(get "$OUT/window-run.txt" answers_503))"
fig "run: restart to first 2xx (s)" "$(get "$OUT/window-run.txt" first_2xx_after_s)"
fig "run: queue drained, s after the restart" "$(get "$d" drained_s)"
goal "run: every delivery 2xx'd in the end (Svix-like retries)" "$(num_eq "$(get "$s" sends_never_2xx)" 0)" "never 2xx: $(get "$s" sends_never_2xx)"
goal "run: the restarted run finishes" "$(get "$d" drained)" "$(get "$d" drained_s) s after the restart"
"$FAULTLOAD" queue >"$OUT/queue.txt"
fig "archived tasks" "$(get "$OUT/queue.txt" archived)"
check_mirror "mirror" "$OUT/backlog.json" "$OUT/runsend.json"
finish
