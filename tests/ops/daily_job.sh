#!/usr/bin/env bash
# The installed daily job (what the units and the crontab run). With the real tools: no
# database yet is "nothing to maintain", exit 0, and nothing is created; a database is
# maintained and the Prometheus file written. With stand-ins that record their arguments and
# exit with a chosen status: evidence-prune, db-vacuum --auto and metrics-report run in that
# order, each even when the one before failed, and the job exits with the first failure's
# status so that the unit fails honestly; a missing textfile folder skips the metrics step
# without failing and is not created; as root the job refuses to run.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

prefix=$scratch/prefix
install_into "$prefix"
daily=$prefix/libexec/spec-hygiene/daily
fixture=$build_dir/tests/fixture/spec-hygiene-fixture
# The job runs as an ordinary user: as root, as nobody, in a home of its own in the scratch
# folder.
chmod 0755 -- "$scratch"
home=$scratch/home
mkdir -- "$home"
as_user=()
if (($(id -u) == 0)); then
    require_command setpriv "package util-linux"
    chown nobody: -- "$home"
    as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
fi
textfile=$home/textfile
state=$home/state/spec-hygiene

# run_daily [NAME=VALUE...]: runs the daily job as the user with those variables; sets status.
status=0
run_daily() {
    rm -f -- "$calls"
    "${as_user[@]}" env -i PATH=/usr/bin:/bin HOME="$home" XDG_STATE_HOME="$home/state" \
        XDG_CONFIG_HOME="$home/config" SPEC_HYGIENE_PROM_FILE="$textfile/spec_hygiene.prom" \
        "$@" "$daily" >"$scratch/stdout" 2>"$scratch/stderr"
    status=$?
}
# What the stand-ins below record, where the job's user may write.
calls=$home/calls

# The real tools first.
run_daily
check "no database: the job exits 0" [ "$status" -eq 0 ]
check "no database: it says there is nothing to maintain" \
    grep -qx "spec-hygiene-daily: no database at $state/hygiene.db: nothing to maintain" \
    "$scratch/stderr"
check "no database: none is created, nor its folder" [ ! -e "$home/state" ]

"$fixture" db "$state/hygiene.db" --bloat-mb 2 --toolkit >/dev/null || fail "fixture db"
chown -R nobody: -- "$home/state" 2>/dev/null
run_daily
check "a database and no textfile folder: the job exits 0" [ "$status" -eq 0 ]
check "the missing textfile folder is said" grep -qx \
    "spec-hygiene-daily: $textfile does not exist (is prometheus-node-exporter installed?): no Prometheus file written" \
    "$scratch/stderr"
check "the textfile folder is not created" [ ! -e "$textfile" ]
mkdir -- "$textfile"
chown nobody: -- "$textfile" 2>/dev/null
run_daily
check "a database and a textfile folder: the job exits 0" [ "$status" -eq 0 ]
check "the Prometheus file is written" grep -q '^spec_hygiene_' "$textfile/spec_hygiene.prom"
[[ $status -eq 0 ]] || cat -- "$scratch/stderr" >&2

# Stand-ins from here on. db-vacuum's status report (--quiet --json) is the job's probe for
# the database; PROBE=66 makes it report the database missing.
for tool in evidence-prune db-vacuum metrics-report; do
    rm -f -- "$prefix/bin/$tool"
    cat >"$prefix/bin/$tool" <<STAND_IN
#!/bin/sh
echo "$tool\${*:+ \$*}" >>"$calls"
if [ "\$*" = "--quiet --json" ]; then
    [ "\${PROBE:-0}" -ne 66 ] || echo "db-vacuum: error: no database at /db" >&2
    exit \${PROBE:-0}
fi
exit \${EXIT_${tool//-/_}:-0}
STAND_IN
    chmod +x "$prefix/bin/$tool"
done

expected_calls="db-vacuum --quiet --json
evidence-prune
db-vacuum --auto
metrics-report --format prometheus --output $textfile/spec_hygiene.prom"

run_daily
check "all steps succeed: exit 0" [ "$status" -eq 0 ]
check "the probe, then the three steps in order" [ "$(cat -- "$calls")" = "$expected_calls" ]

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

run_daily PROBE=66
check "the probe finds no database: exit 0" [ "$status" -eq 0 ]
check "the probe finds no database: no step runs" [ "$(cat -- "$calls")" = "db-vacuum --quiet --json" ]

run_daily PROBE=75
check "a busy database is not a missing one: the steps run" \
    [ "$(cat -- "$calls")" = "$expected_calls" ]

run_daily SPEC_HYGIENE_PROM_FILE=
check "an empty SPEC_HYGIENE_PROM_FILE: no metrics step" \
    [ "$(tail -n 1 -- "$calls")" = "db-vacuum --auto" ]
check "an empty SPEC_HYGIENE_PROM_FILE: exit 0" [ "$status" -eq 0 ]

# Unset: the folder Debian's prometheus-node-exporter reads.
rm -f -- "$calls"
"${as_user[@]}" env -i PATH=/usr/bin:/bin HOME="$home" "$daily" >/dev/null 2>"$scratch/stderr"
debian=/var/lib/prometheus/node-exporter
if [[ -d $debian ]]; then
    check "by default metrics go to $debian" grep -qx \
        "metrics-report --format prometheus --output $debian/spec_hygiene.prom" "$calls"
else
    check "by default metrics go to $debian (missing here: said, and skipped)" grep -q \
        "^spec-hygiene-daily: $debian does not exist" "$scratch/stderr"
fi

if (($(id -u) == 0)); then
    rm -f -- "$calls"
    env -i PATH=/usr/bin:/bin HOME="$home" "$daily" >/dev/null 2>"$scratch/stderr"
    status=$?
    check "as root: the job refuses with 77" [ "$status" -eq 77 ]
    check "as root: no tool runs" [ ! -s "$calls" ]
    check "as root: it says why" grep -q "^spec-hygiene-daily: refusing to run as root" \
        "$scratch/stderr"
fi

finish
