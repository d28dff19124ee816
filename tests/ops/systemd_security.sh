#!/usr/bin/env bash
# `systemd-analyze security --offline=yes` scores the installed services' exposure under 4
# (0 is the most confined, 10 a service with no sandboxing at all): the user service and an
# instance of the system template. The same services with their sandboxing lines removed
# score 4 or more, so that the check can fail.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

require_command systemd-analyze "package systemd"
systemd-analyze security --help 2>/dev/null | grep -q -- '--offline' ||
    skip "this systemd-analyze has no security --offline (systemd 250 or later)"

prefix=$scratch/prefix
install_into "$prefix"
export XDG_RUNTIME_DIR=$scratch/runtime
mkdir -m 0700 -- "$XDG_RUNTIME_DIR"
limit=4.0

# score FOLDER UNIT [--user]: the overall exposure systemd-analyze prints for UNIT.
score() {
    local folder=$1 unit=$2
    shift 2
    (cd "$folder" && systemd-analyze "$@" security --offline=yes --no-pager "$unit" 2>&1) |
        sed -n "s/^→ Overall exposure level for $unit: \([0-9.]*\) .*/\1/p"
}
below() { awk -v score="$1" -v limit="$2" 'BEGIN { exit !(score != "" && score < limit) }'; }
at_least() { awk -v score="$1" -v limit="$2" 'BEGIN { exit !(score != "" && score >= limit) }'; }

system_score=$(score "$prefix/lib/systemd/system" spec-hygiene-daily@alice.service)
user_score=$(score "$prefix/lib/systemd/user" spec-hygiene-daily.service --user)
echo "exposure: template instance ${system_score:-none}, user service ${user_score:-none}"
check "the system template's exposure is under $limit (${system_score:-none})" \
    below "$system_score" "$limit"
check "the user service's exposure is under $limit (${user_score:-none})" \
    below "$user_score" "$limit"

# Without its sandboxing (everything after the Type, ExecStart and User lines).
bare=$scratch/bare
mkdir -- "$bare"
grep -E '^(\[|Description|Type|ExecStart|User)' "$prefix/lib/systemd/system/spec-hygiene-daily@.service" \
    >"$bare/spec-hygiene-daily@.service"
bare_score=$(score "$bare" spec-hygiene-daily@alice.service)
check "without its sandboxing the template scores $limit or more (${bare_score:-none})" \
    at_least "$bare_score" "$limit"

finish
