#!/usr/bin/env bash
# Scenario 5: a replay storm. Every delivery is sent 1 + FAULTS_COPIES times
# (same svix-id), all shuffled and concurrent, while the worker applies them;
# then, once the queue is drained, every delivery is replayed once more.
# Figures: how the repeats were answered (queued, duplicate, requeued) and how
# often the worker applied an event; the mirror must be exact.
SCENARIO=replay-storm
TITLE="replay storm: the same svix-ids many times, during and after"
source "$(dirname "$0")/lib.sh"

USERS=${FAULTS_USERS:-600}
COPIES=${FAULTS_COPIES:-4}
pg_start
redis_start
migrate
cs_start serve serve
cs_start work work

say "storm: $USERS users, each delivery sent $((COPIES + 1)) times, 64 at once"
"$FAULTLOAD" send -prefix storm -users "$USERS" -seed 5 -dup 0 -copies "$COPIES" -concurrency 64 \
  -url "$(url serve)" -out "$OUT/storm.json" >"$OUT/storm.txt" 2>&1 || true
d1=$(drain storm -timeout 3m)
applied1=$(metric work 'outcome="(applied|stale|deleted)"' clerksync_worker_applies_total)
say "replaying every delivery once more after completion"
"$FAULTLOAD" send -prefix storm -users "$USERS" -seed 5 -dup 0 -copies 0 -concurrency 64 \
  -url "$(url serve)" -out "$OUT/replay.json" >"$OUT/replay.txt" 2>&1 || true
d2=$(drain replay -timeout 3m)
applied2=$(metric work 'outcome="(applied|stale|deleted)"' clerksync_worker_applies_total)

s=$OUT/storm.txt r=$OUT/replay.txt
events=$(get "$s" events)
fig "events / sends in the storm" "$events / $(get "$s" sends)"
fig "storm answers: queued / duplicate / requeued" "$(getn "$s" outcome_queued) / $(getn "$s" outcome_duplicate) / $(getn "$s" outcome_requeued)"
fig "storm: sends/s, 2xx p99 ms" "$(get "$s" sends_per_second), $(get "$s" latency_2xx_p99_ms)"
fig "storm: queue drained after the send (s)" "$(get "$d1" drained_s)"
fig "storm: events the worker applied (of $events)" "$applied1"
fig "replay after completion: queued / duplicate / requeued" "$(getn "$r" outcome_queued) / $(getn "$r" outcome_duplicate) / $(getn "$r" outcome_requeued)"
fig "replay: events the worker applied again" "$((applied2 - applied1))"
fig "archived" "$(get "$d2" final_archived)"
goal "every send answered 2xx" "$(num_eq "$(($(get "$s" sends_never_2xx) + $(get "$r" sends_never_2xx)))" 0)" \
  "never 2xx: $(get "$s" sends_never_2xx) + $(get "$r" sends_never_2xx)"
check_mirror "mirror" "$OUT/storm.json" "$OUT/replay.json"
finish
