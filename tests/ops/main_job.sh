#!/usr/bin/env bash
# The main job (scripts/maintenance-cycle, the README's first command after bootstrap) runs twice
# on a fresh state folder and exits 0 both times; the demo database it made is compact after the
# first run and is not replaced by the second; the folder it made for it is private.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

export XDG_STATE_HOME=$scratch/state XDG_CONFIG_HOME=$scratch/config
unset SPEC_HYGIENE_DB SPEC_HYGIENE_EVIDENCE
export BUILD_DIR=$build_dir
db=$XDG_STATE_HOME/spec-hygiene/hygiene.db

run_main_job() {
    "$source_dir/scripts/maintenance-cycle" >"$scratch/run$1.log" 2>&1
    local status=$?
    ((status == 0)) || cat -- "$scratch/run$1.log" >&2
    return "$status"
}

check "the first run exits 0" run_main_job 1
check "it made the demo database" [ -f "$db" ]
check "the database's folder is private (0700), as the tools make it" \
    [ "$(stat -c %a "$(dirname "$db")")" = 700 ]
check "the database is compact afterwards (under 1 MiB)" [ "$(stat -c %s "$db")" -lt 1048576 ]
inode=$(stat -c %i "$db")
check "the second run exits 0" run_main_job 2
check "the second run kept the database" [ "$(stat -c %i "$db")" = "$inode" ]
check "each step said what it did" grep -q "^== db-vacuum --auto" "$scratch/run2.log"

finish
