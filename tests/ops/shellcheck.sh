#!/usr/bin/env bash
# The project's shell scripts and the generated bash completions pass shellcheck: scripts/,
# the benchmarks, the completion generator, the daily job, the package's maintainer scripts
# and these tests.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

require_command shellcheck "package shellcheck"
cd "$source_dir" || exit 1

scripts=(completion/generate tests/ops/*.sh)
for file in scripts/* bench/*; do
    [[ -f $file && -x $file ]] && scripts+=("$file")
done
for script in "${scripts[@]}"; do
    check "$script" shellcheck -x "$script"
done
check "cron/spec-hygiene-daily.in (sh)" shellcheck -s sh cron/spec-hygiene-daily.in
for script in packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm; do
    check "$script (sh)" shellcheck -s sh "$script"
done
for tool in "${tool_names[@]}"; do
    check "the completion of $tool" shellcheck -s bash "$build_dir/completion/$tool"
done

finish
