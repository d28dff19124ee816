#!/usr/bin/env bash
# Each tool's generated bash completion offers every long option its --help lists, and file
# names after --db.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

# complete_words TOOL WORD...: what the completion of TOOL offers for the command line
# "TOOL WORD...", one candidate a line, run in a clean bash.
complete_words() {
    local tool=$1
    shift
    bash --norc --noprofile -c '
        tool=$1 script=$2
        shift 2
        source "$script" || exit 1
        function=$(complete -p "$tool" | sed -n "s/.*-F \([^ ]*\) .*/\1/p")
        [[ -n $function ]] || exit 1
        COMP_WORDS=("$tool" "$@")
        COMP_CWORD=$#
        COMP_LINE="${COMP_WORDS[*]}"
        COMP_POINT=${#COMP_LINE}
        "$function" "$tool" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf "%s\n" "${COMPREPLY[@]}"
    ' _ "$tool" "$build_dir/completion/$tool" "$@"
}

for index in "${!tool_binaries[@]}"; do
    binary=${tool_binaries[index]}
    tool=${tool_names[index]}
    check "$tool has a generated completion" [ -f "$build_dir/completion/$tool" ]

    # The same reading of --help as the man page test: every "--name" it mentions.
    help_options=$("$binary" --help | grep -oE -- '--[a-z][a-z0-9-]*[a-z0-9]' | sort -u)
    offered=$(complete_words "$tool" -- | sort -u)
    missing=$(comm -23 <(echo "$help_options") <(echo "$offered"))
    check "$tool's completion offers every long option of --help${missing:+ (missing: $missing)}" \
        [ -z "$missing" ]
    unknown=$(comm -13 <(echo "$help_options") <(echo "$offered"))
    check "$tool's completion offers nothing --help does not list${unknown:+ (extra: $unknown)}" \
        [ -z "$unknown" ]

    if grep -q -- '--db PATH' <("$binary" --help); then
        touch "$scratch/hygiene-$tool.db"
        check "$tool completes file names after --db" \
            grep -qx "$scratch/hygiene-$tool.db" <(complete_words "$tool" --db "$scratch/hygiene-")
    fi
done

finish
