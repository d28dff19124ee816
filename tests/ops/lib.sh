# Shared by the operator tests: arguments, a scratch folder, installing, failing and skipping.
# Each test is run as: TEST BUILD_DIR SOURCE_DIR TOOL_BINARY...
# shellcheck shell=bash disable=SC2034  # the variables are for the tests that source this

build_dir=$(realpath -- "$1")
source_dir=$(realpath -- "$2")
shift 2
tool_binaries=()
for binary in "$@"; do
    tool_binaries+=("$(realpath -- "$binary")")
done
tool_names=()
for binary in "${tool_binaries[@]}"; do
    tool_names+=("${binary##*/}")
done
test_name=${0##*/}
test_name=${test_name%.sh}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/spec-hygiene-$test_name.XXXXXX")
trap 'rm -rf -- "$scratch"' EXIT

failures=0

# fail MESSAGE: records a failed check and goes on.
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# check DESCRIPTION COMMAND...: runs COMMAND, fails the check unless it exits 0.
check() {
    local description=$1
    shift
    if "$@"; then
        echo "ok: $description"
    else
        fail "$description"
    fi
}

# skip REASON: the test cannot run here; ctest shows it as skipped.
skip() {
    echo "SKIP: $*"
    exit 77
}

require_command() {
    command -v "$1" >/dev/null || skip "$1 is not installed ($2)"
}

# install_into PREFIX: cmake --install of the build folder under PREFIX.
install_into() {
    cmake --install "$build_dir" --prefix "$1" >"$scratch/install.log" 2>&1 || {
        cat -- "$scratch/install.log" >&2
        echo "FAIL: cmake --install --prefix $1" >&2
        exit 1
    }
}

finish() {
    if ((failures > 0)); then
        echo "$test_name: $failures check(s) failed" >&2
        exit 1
    fi
    echo "$test_name: all checks passed"
}
