#!/usr/bin/env bash
# The installed crontab runs the daily job (the script the units run, tested by daily_job.sh)
# at 02:00 under `flock -n -E 75`: while a run is still going, the next one exits 75 instead
# of running twice. Its command line is run here as cron would, with a stand-in for the job.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

require_command flock "package util-linux"
[[ -d /run/lock && -w /run/lock ]] || skip "/run/lock is not a writable folder"

prefix=$scratch/prefix
install_into "$prefix"
crontab=$prefix/share/doc/spec-hygiene/spec-hygiene.cron
daily=$prefix/libexec/spec-hygiene/daily
calls=$scratch/calls

mapfile -t entries < <(grep -vE '^[[:space:]]*(#|$)' "$crontab")
check "the crontab has one entry" [ "${#entries[@]}" -eq 1 ]
read -r minute hour day month weekday command <<<"${entries[0]}"
check "it runs daily at 02:00" [ "$minute $hour $day $month $weekday" = "0 2 * * *" ]
check "it runs the installed daily job" grep -q " $daily " <<<" $command "

rm -f -- "$daily"
cat >"$daily" <<STAND_IN
#!/bin/sh
echo "daily\${*:+ \$*}" >>"$calls"
exit \${EXIT_daily:-0}
STAND_IN
chmod +x "$daily"

# A lock under a name of this test's own, removed at the end.
export LOGNAME=spec-hygiene-test-$$
lock=/run/lock/spec-hygiene-daily.$LOGNAME.lock
trap 'rm -f -- "$lock"; rm -rf -- "$scratch"' EXIT

# run_entry [NAME=VALUE...]: runs the entry's command as cron would (sh -c); sets status.
status=0
run_entry() {
    rm -f -- "$calls"
    env "$@" sh -c "$command" >/dev/null 2>&1
    status=$?
}

run_entry
check "the job runs once" [ "$(cat -- "$calls" 2>/dev/null)" = daily ]
check "the job's success is the entry's" [ "$status" -eq 0 ]
check "it takes a lock of the user's own" [ -e "$lock" ]

run_entry EXIT_daily=65
check "the job's failure is the entry's (cron mails it)" [ "$status" -eq 65 ]

# A run still going from the day before holds the lock: today's is skipped with 75. This
# shell holds it on a descriptor of its own, as that run's flock would.
exec 8>"$lock"
flock -n 8 || fail "could not take $lock"
run_entry
check "a held lock: the job does not run" [ ! -e "$calls" ]
check "a held lock: the entry exits 75" [ "$status" -eq 75 ]
exec 8>&-

finish
