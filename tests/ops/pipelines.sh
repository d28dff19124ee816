#!/usr/bin/env bash
# Every example of "How operators use it" (spec-hygiene(7), PIPELINES) runs as written there,
# with the tools on PATH and the database and evidence root in a scratch folder.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

missing=()
for tool in spawn-agents db-vacuum evidence-prune metrics-report; do
    found=false
    for name in "${tool_names[@]}"; do [[ $name == "$tool" ]] && found=true; done
    [[ $found == true ]] || missing+=("$tool")
done
((${#missing[@]} == 0)) || skip "not built yet: ${missing[*]}"

for binary in "${tool_binaries[@]}"; do
    PATH=$(dirname "$binary"):$PATH
done
export PATH
export SPEC_HYGIENE_DB=$scratch/hygiene.db SPEC_HYGIENE_EVIDENCE=$scratch/evidence
export XDG_CONFIG_HOME=$scratch/config XDG_STATE_HOME=$scratch/state
# The textfile collector's folder exists where node_exporter runs.
mkdir -p "$SPEC_HYGIENE_EVIDENCE" "$XDG_CONFIG_HOME" "$scratch/textfile"
cd "$scratch" || exit 1

# A stage of three agents that succeed.
cat >validate.json <<'BATCH'
{"spec_id": "SPEC-KIT-933", "stage": "validate",
 "agents": [{"name": "gemini", "command": ["/bin/echo", "gemini says ok"]},
            {"name": "claude", "command": ["/bin/cat"], "prompt": "review this"},
            {"name": "code", "command": ["/bin/sh", "-c", "echo code says ok"]}]}
BATCH

# example COMMAND-LINE: runs it with bash as an operator would type it; sets status and output.
status=0
example() {
    echo "\$ $1"
    output=$(bash -c "$1" 2>"$scratch/stderr")
    status=$?
    printf '%s\n' "$output"
    ((status == 0)) || echo "(exit $status) $(<"$scratch/stderr")"
}

example 'spawn-agents --batch validate.json | metrics-report --from - --format table'
check "spawn-agents | metrics-report --from -: exit 0" [ "$status" -eq 0 ]
for agent in gemini claude code; do
    check "the table has a row for $agent" grep -q "$agent" <<<"$output"
done

example 'evidence-prune --dry-run --explain'
check "evidence-prune --dry-run --explain: exit 0" [ "$status" -eq 0 ]

example 'evidence-prune'
check "the daily job: evidence-prune exits 0" [ "$status" -eq 0 ]
example 'db-vacuum --auto'
check "the daily job: db-vacuum --auto exits 0" [ "$status" -eq 0 ]
example "metrics-report --format prometheus --output $scratch/textfile/spec_hygiene.prom"
check "the daily job: metrics-report --output exits 0" [ "$status" -eq 0 ]
check "the Prometheus file is written" [ -s "$scratch/textfile/spec_hygiene.prom" ]
if command -v promtool >/dev/null; then
    check "promtool check metrics accepts it" \
        promtool check metrics <"$scratch/textfile/spec_hygiene.prom"
fi

# Within its limits the evidence passes the check, so the gate's second command runs: its
# exit status (0, or 1 for a broken gate) is the pipeline's.
example 'evidence-prune --check && metrics-report --max-p95-ms 50 --min-success-rate 0.95 >/dev/null'
check "the gate pipeline runs both commands (exit 0 or 1, not a tool error)" \
    [ "$status" -eq 0 -o "$status" -eq 1 ]
check "evidence-prune --check alone exits 0 within the limits" \
    bash -c 'evidence-prune --check >/dev/null'

finish
