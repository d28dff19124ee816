#!/usr/bin/env bash
# The example alerting rules pass `promtool check rules`, and `promtool test rules` shows that
# they fire on what they say and stay silent otherwise (alert_rules_test.yml): p95 spawn
# latency, free pages that survive a day, evidence over its limits, a tool of the daily job
# without a success for 26 h, its series absent, a stale metrics file.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

require_command promtool "package prometheus"

rules=$source_dir/examples/prometheus/spec-hygiene.rules.yml
check "promtool check rules accepts the rules" promtool check rules "$rules"

cp -- "$rules" "$(dirname "$0")/alert_rules_test.yml" "$scratch/"
check "the rules fire as alert_rules_test.yml expects" \
    promtool test rules "$scratch/alert_rules_test.yml"

finish
