#!/bin/sh
# run_suite.sh SUITE ARGS...: runs a Boost.Test suite with its output on stdout, and exits 77
# (the suites' SKIP_RETURN_CODE) when every case that ran passed but one was skipped for a
# failed precondition, so that ctest reports the test skipped, never passed; a failure stays a
# failure, and its failed checks are repeated at the end of the output.
output=$(mktemp) || exit 70
"$@" >"$output" 2>&1
status=$?
cat "$output"
if [ "$status" -eq 0 ] && grep -q 'is skipped because precondition failed' "$output"; then
  status=77
fi
# A failing suite's long log is often read only by its end: the failed checks again, there.
if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
  echo "failed checks:"
  sed 's/\x1b\[[0-9;]*m//g' "$output" | grep -F 'error: in "' || echo "  (none reported: the suite itself ended with $status)"
fi
rm -f "$output"
exit "$status"
