#!/usr/bin/env bash
# Scenario 7: poison events mixed into a backlog: updated_at in the year 10000,
# a deletion's timestamp in the year 10000, invalid UTF-8, a number where a
# string belongs, and a NUL in unsafe_metadata. Goals: the contract's 400s at
# the door (invalid UTF-8, wrong type); every never-applicable event that got
# in archived on its first try, never retried, never in the mirror; the NUL
# stored as U+FFFD; the rest of the backlog exact.
SCENARIO=poison
TITLE="poison events mixed into a backlog"
source "$(dirname "$0")/lib.sh"

USERS=${FAULTS_USERS:-600}
PER_KIND=${FAULTS_POISON_PER_KIND:-4}
pg_start
redis_start
migrate
cs_start serve serve

say "queueing $USERS users' histories with $PER_KIND poison events of each kind among them (no worker yet)"
send_bg backlog -prefix pz -users "$USERS" -seed 7 -dup 0.3 -concurrency 16 -url "$(url serve)"
"$FAULTLOAD" poison -per-kind "$PER_KIND" -retry-for 30s -url "$(url serve)" -out "$OUT/poison.json" >"$OUT/poison.txt" 2>&1 || true
send_wait
started=$(now)
cs_start work work
d=$(drain backlog -timeout 2m -ignore-retry -since "$started")
sleep 3 # let a first retry of a poison task, if any, show
p=$OUT/poisoncheck.txt
"$FAULTLOAD" poisoncheck -ledger "$OUT/poison.json" >"$p" 2>&1 || true
"$FAULTLOAD" queue >"$OUT/queue.txt"

fig "backlog: sends / 2xx" "$(get "$OUT/backlog.txt" sends) / $(get "$OUT/backlog.txt" sends_2xx)"
fig "backlog drained (retries aside), s after the worker started" "$(get "$d" drained_s)"
for k in year10000_updated_at year10000_deleted invalid_utf8 number_for_string nul_metadata; do
  pre=poison_${k}_
  line="sent $(getn "$p" "${pre}sent"): 400 $(getn "$p" "${pre}refused_400"), 2xx $(getn "$p" "${pre}answered_2xx");"
  line+=" archived 1st try $(getn "$p" "${pre}archived_first_try"), after retries $(getn "$p" "${pre}archived_after_retries"),"
  line+=" retrying $(getn "$p" "${pre}retrying"), completed $(getn "$p" "${pre}completed"), in mirror $(getn "$p" "${pre}in_mirror")"
  [ "$k" = nul_metadata ] && line+=", stored with U+FFFD $(getn "$p" "${pre}stored_with_fffd")"
  fig "$k" "$line"
done
fig "queue: archived / waiting to retry" "$(get "$OUT/queue.txt" archived) / $(get "$OUT/queue.txt" retry)"
warns=$(grep -c '"msg":"sync failed"' "$OUT/work.log" || true)
fig "worker 'sync failed' lines" "$warns"
if [ -z "$(get "$p" goal_door_400)" ]; then fig "poisoncheck failed" "$(tail -n1 "$p")"; fi
goal "invalid UTF-8 and wrong-type events refused at the door (400)" "$(get "$p" goal_door_400)" \
  "400: $(getn "$p" poison_invalid_utf8_refused_400) + $(getn "$p" poison_number_for_string_refused_400) of $((2 * PER_KIND))"
goal "never-applicable events refused or archived at once, never retried" "$(get "$p" goal_archived_at_once)" \
  "retrying: $(($(getn "$p" poison_year10000_updated_at_retrying) + $(getn "$p" poison_year10000_deleted_retrying) + $(getn "$p" poison_invalid_utf8_retrying) + $(getn "$p" poison_number_for_string_retrying)))"
goal "NUL in unsafe_metadata applied as U+FFFD" "$(get "$p" goal_nul_fffd)" \
  "$(getn "$p" poison_nul_metadata_stored_with_fffd) of $PER_KIND"
check_mirror "rest of the backlog" "$OUT/backlog.json"
finish
