#!/usr/bin/env bash
# Scenario 8: a flood of forged requests (well-formed Svix headers, a wrong
# signature) at one receiver, bounded in count (FAULTS_FLOOD, 50,000) and in
# time (2 minutes), on loopback only, while genuine deliveries keep coming.
# Figures: requests/s, the answers (goal: all 401), the log lines and bytes
# the receiver wrote (goal: bounded, not one per request), its memory, and
# the genuine deliveries' latency.
SCENARIO=flood
TITLE="a flood of forged (bad-signature) requests"
source "$(dirname "$0")/lib.sh"

N=${FAULTS_FLOOD:-50000}
pg_start
redis_start
migrate
cs_start serve serve
cs_start work work

rss0=$(rss_kb serve)
l0=$(lines serve)
say "flooding serve with $N forged requests (32 at once), genuine deliveries alongside"
send_bg genuine -prefix flood -users 100 -seed 8 -dup 0 -rate 40 -retry-for 60s -url "$(url serve)"
"$FAULTLOAD" flood -n "$N" -concurrency 32 -max-duration 2m -url "$(url serve)" >"$OUT/flood.txt" 2>&1 || true
l1=$(lines serve)
# The flood's share of the log: every line but the genuine deliveries'.
sed -n "$((l0 + 1)),${l1}p" "$OUT/serve.log" | grep -vE '"outcome":"(accepted|duplicate|requeued|ignored)"' >"$OUT/flood-log.txt" || true
fl=$(wc -l <"$OUT/flood-log.txt") fb=$(wc -c <"$OUT/flood-log.txt")
rss1=$(rss_kb serve)
send_wait
d=$(drain genuine -timeout 2m)
f=$OUT/flood.txt g=$OUT/genuine.txt
answered=$(getn "$f" requests)
fig "forged requests sent / seconds / per second" "$answered / $(get "$f" seconds) / $(get "$f" requests_per_second)"
fig "answers: 401 / other" "$(getn "$f" answers_401) / $((answered - $(getn "$f" answers_401)))"
fig "receiver log lines / bytes for the flood" "$fl / $fb"
fig "receiver log lines for genuine deliveries meanwhile" "$((l1 - l0 - fl))"
fig "receiver peak RSS before / after (MiB)" "$((rss0 / 1024)) / $((rss1 / 1024))"
fig "genuine deliveries: sends / 2xx / p50 / p99 ms" "$(get "$g" sends) / $(get "$g" sends_2xx) / $(get "$g" latency_2xx_p50_ms) / $(get "$g" latency_2xx_p99_ms)"
goal "all $N forged requests answered 401" "$(num_eq "$(getn "$f" answers_401)" "$N")" "$(getn "$f" answers_401) of $N"
goal "log bounded (at most 1 line per 100 forged requests)" "$(num_le "$fl" "$((N / 100))")" "$fl lines, $fb bytes"
goal "receiver peak RSS under 256 MiB" "$(num_le "$((rss1 / 1024))" 256)" "$((rss1 / 1024)) MiB"
goal "genuine deliveries all answered 2xx during the flood" "$(num_eq "$(get "$g" sends_never_2xx)" 0)" "never 2xx: $(get "$g" sends_never_2xx)"
check_mirror "mirror" "$OUT/genuine.json"
finish
