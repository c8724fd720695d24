#!/usr/bin/env bash
# Scenario 6: two receivers and two workers on one Redis and one Postgres.
# Deliveries alternate between the receivers (a retry of one lands on the
# other), both workers take tasks from the shared queue; the mirror must be
# exact.
SCENARIO=scale-out
TITLE="serve x2 and work x2 on one Redis and Postgres"
source "$(dirname "$0")/lib.sh"

USERS=${FAULTS_USERS:-600}
pg_start
redis_start
migrate
cs_start serve1 serve
cs_start serve2 serve
cs_start work1 work
cs_start work2 work

say "sending $USERS users' histories through both receivers (30% sent twice)"
"$FAULTLOAD" send -prefix scale -users "$USERS" -seed 6 -dup 0.3 -concurrency 32 \
  -url "$(url serve1),$(url serve2)" -out "$OUT/send.json" >"$OUT/send.txt" 2>&1 || true
d=$(drain after-send -timeout 3m)

fig "events / sends" "$(get "$OUT/send.txt" events) / $(get "$OUT/send.txt" sends)"
fig "sends answered 2xx (first try)" "$(get "$OUT/send.txt" sends_2xx) ($(get "$OUT/send.txt" sends_2xx_first_try))"
fig "duplicates answered" "$(get "$OUT/send.txt" outcome_duplicate)"
fig "send rate (sends/s)" "$(get "$OUT/send.txt" sends_per_second)"
fig "queue drained after the send (s)" "$(get "$d" drained_s)"
w1=$(metric work1 'outcome="(applied|stale|deleted)"' clerksync_worker_applies_total)
w2=$(metric work2 'outcome="(applied|stale|deleted)"' clerksync_worker_applies_total)
fig "events applied by work1 / work2" "$w1 / $w2"
fig "archived" "$(get "$d" final_archived)"
goal "every send answered 2xx" "$(num_eq "$(get "$OUT/send.txt" sends_never_2xx)" 0)" "never 2xx: $(get "$OUT/send.txt" sends_never_2xx)"
goal "both workers took tasks" "$(awk -v a="$w1" -v b="$w2" 'BEGIN {print (a > 0 && b > 0) ? 1 : 0}')" "$w1 / $w2"
check_mirror "mirror" "$OUT/send.json"
finish
