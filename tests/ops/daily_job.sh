#!/usr/bin/env bash
# The installed daily job (what the service runs) runs evidence-prune, db-vacuum --auto and
# metrics-report in that order, each even when the one before failed, and exits with the first
# failure's status so that the unit fails honestly. The tools are replaced by stand-ins that
# record their arguments and exit with a chosen status.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

prefix=$scratch/prefix
install_into "$prefix"
daily=$prefix/libexec/spec-hygiene/daily
calls=$scratch/calls

for tool in evidence-prune db-vacuum metrics-report; do
    rm -f -- "$prefix/bin/$tool"
    cat >"$prefix/bin/$tool" <<STAND_IN
#!/bin/sh
echo "$tool\${*:+ \$*}" >>"$calls"
exit \${EXIT_${tool//-/_}:-0}
STAND_IN
    chmod +x "$prefix/bin/$tool"
done

# run_daily [NAME=VALUE...]: runs the daily job with those variables; sets status.
status=0
run_daily() {
    rm -f -- "$calls"
    env SPEC_HYGIENE_PROM_FILE="$scratch/spec_hygiene.prom" "$@" "$daily" >/dev/null 2>"$scratch/stderr"
    status=$?
}

expected_calls="evidence-prune
db-vacuum --auto
metrics-report --format prometheus --output $scratch/spec_hygiene.prom"

run_daily
check "all steps succeed: exit 0" [ "$status" -eq 0 ]
check "the three steps run in order" [ "$(cat -- "$calls")" = "$expected_calls" ]

run_daily EXIT_evidence_prune=75
check "prune fails: vacuum and metrics still run" [ "$(cat -- "$calls")" = "$expected_calls" ]
check "prune fails with 75: the job exits 75" [ "$status" -eq 75 ]
check "the failing step is named on stderr" \
    grep -qx "spec-hygiene-daily: evidence-prune exited with status 75" "$scratch/stderr"

run_daily EXIT_db_vacuum=65 EXIT_metrics_report=73
check "two steps fail: every step runs" [ "$(cat -- "$calls")" = "$expected_calls" ]
check "two steps fail: the job exits with the first failure's status" [ "$status" -eq 65 ]

run_daily EXIT_metrics_report=74
check "only the last step fails: the job fails" [ "$status" -eq 74 ]

finish
