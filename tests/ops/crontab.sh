#!/usr/bin/env bash
# The installed crontab runs the daily job at 02:00: evidence-prune, db-vacuum --auto and
# metrics-report in that order, each under `flock -n -E 75` and each even when the one before
# failed. Its command line is run here with stand-ins for the tools.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

require_command flock "package util-linux"
[[ -d /run/lock && -w /run/lock ]] || skip "/run/lock is not a writable folder"

prefix=$scratch/prefix
install_into "$prefix"
crontab=$prefix/share/doc/spec-hygiene/spec-hygiene.cron
calls=$scratch/calls

mapfile -t entries < <(grep -vE '^[[:space:]]*(#|$)' "$crontab")
check "the crontab has one entry" [ "${#entries[@]}" -eq 1 ]
read -r minute hour day month weekday command <<<"${entries[0]}"
check "it runs daily at 02:00" [ "$minute $hour $day $month $weekday" = "0 2 * * *" ]

for tool in evidence-prune db-vacuum metrics-report; do
    rm -f -- "$prefix/bin/$tool"
    cat >"$prefix/bin/$tool" <<STAND_IN
#!/bin/sh
echo "$tool\${*:+ \$*}" >>"$calls"
exit \${EXIT_${tool//-/_}:-0}
STAND_IN
    chmod +x "$prefix/bin/$tool"
done

# Lock files under a name of this test's own, removed at the end.
export LOGNAME=spec-hygiene-test-$$
locks=(/run/lock/spec-hygiene-{prune,vacuum,metrics}."$LOGNAME".lock)
trap 'rm -f -- "${locks[@]}"; rm -rf -- "$scratch"' EXIT

# run_entry [NAME=VALUE...]: runs the entry's command as cron would (sh -c); sets status.
status=0
run_entry() {
    rm -f -- "$calls"
    env "$@" sh -c "$command" >/dev/null 2>&1
    status=$?
}

run_entry
check "the steps run in order" [ "$(cut -d' ' -f1 "$calls" | paste -sd' ')" = \
    "evidence-prune db-vacuum metrics-report" ]
check "db-vacuum runs its --auto policy" grep -qx "db-vacuum --auto" "$calls"
check "metrics-report writes the textfile collector's file" grep -qx \
    "metrics-report --format prometheus --output /var/lib/node_exporter/textfile/spec_hygiene.prom" \
    "$calls"

run_entry EXIT_evidence_prune=1 EXIT_db_vacuum=75
check "failed steps do not stop the ones after them" [ "$(wc -l <"$calls")" -eq 3 ]

for lock in "${locks[@]}"; do
    check "each step takes its lock (${lock##*/})" [ -e "$lock" ]
done

# A step still running from the day before holds its lock: today's is skipped with 75. This
# shell holds the lock on a descriptor of its own, as that run's flock would.
exec 8>"${locks[1]}"
flock -n 8 || fail "could not take ${locks[1]}"
run_entry
check "a held lock skips only its step" [ "$(cut -d' ' -f1 "$calls" | paste -sd' ')" = \
    "evidence-prune metrics-report" ]
exec 8>&-

exec 8>"${locks[2]}"
flock -n 8 || fail "could not take ${locks[2]}"
run_entry
check "a step skipped for its lock exits 75" [ "$status" -eq 75 ]
exec 8>&-

finish
