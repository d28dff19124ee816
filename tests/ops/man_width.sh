#!/usr/bin/env bash
# The man pages render on an 80-column terminal: `MANWIDTH=80 man -l PAGE` prints no troff
# warning and no line wider than 80 characters (a wider line wraps and breaks the layout).
# spec-hygiene(5) is not checked yet: its tables are wider.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

require_command man "package man-db"
require_command python3 "package python3: counts characters, not bytes"

widest() { python3 -c 'import sys; print(max((len(l.rstrip("\n")) for l in sys.stdin), default=0))'; }

for page in "$source_dir"/man/man1/*.1 "$source_dir"/man/man7/spec-hygiene.7; do
    name=${page#"$source_dir"/}
    MANWIDTH=80 LC_ALL=C.UTF-8 man -l "$page" >"$scratch/page" 2>"$scratch/warnings"
    check "$name renders without troff warnings" [ ! -s "$scratch/warnings" ]
    cat -- "$scratch/warnings" >&2
    width=$(widest <"$scratch/page")
    check "$name fits 80 columns (widest line: $width)" [ "$width" -le 80 ]
done

finish
