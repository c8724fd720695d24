#!/usr/bin/env bash
# make faults: runs the fault scenarios, each with its own Postgres and Redis
# on free loopback ports, and prints a final table of every goal.
#   SCENARIO=name[,name...]  run only those (names below)
#   FAULTS_LONG=1            also run Postgres down 300 s (about 8 more minutes)
# The default run (Postgres down 60 s only) takes about 12 minutes here.
set -uo pipefail
cd "$(dirname "$0")/../.."

ALL=(redis-outage postgres-outage kill9 redis-restart replay-storm scale-out poison flood)
if [ -n "${SCENARIO:-}" ]; then
  IFS=, read -r -a RUN <<<"$SCENARIO"
else
  RUN=("${ALL[@]}")
  [ "${FAULTS_LONG:-0}" = 1 ] && RUN+=(postgres-outage-300)
fi

export FAULTS_OUT=${FAULTS_OUT:-$PWD/tmp/faults}
export FAULTS_RESULTS=$FAULTS_OUT/results.tsv
mkdir -p "$FAULTS_OUT" && : >"$FAULTS_RESULTS"
start=$(date +%s)
status=0
for name in "${RUN[@]}"; do
  case $name in
    postgres-outage-300) script=scripts/faults/postgres-outage.sh; extra=(env FAULTS_PG_DOWN=300) ;;
    *) script=scripts/faults/$name.sh; extra=(env) ;;
  esac
  if [ ! -f "$script" ]; then
    echo "faults: no scenario $name (have: ${ALL[*]} postgres-outage-300)" >&2
    exit 2
  fi
  "${extra[@]}" bash "$script" || status=1
done

echo
echo "==== make faults: $(( $(date +%s) - start )) s ===="
[ "${FAULTS_LONG:-0}" = 1 ] || [ -n "${SCENARIO:-}" ] || echo "(Postgres down 60 s only; FAULTS_LONG=1 adds the 300 s outage)"
awk -F'\t' '{printf "  %-22s %-4s  %-62s %s\n", $1, $2, $3, $4}' "$FAULTS_RESULTS"
pass=$(awk -F'\t' '$2 == "PASS"' "$FAULTS_RESULTS" | wc -l)
fail=$(awk -F'\t' '$2 == "FAIL"' "$FAULTS_RESULTS" | wc -l)
echo "goals: $pass passed, $fail failed"
exit "$status"
