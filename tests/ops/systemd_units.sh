#!/usr/bin/env bash
# The installed service and timer pass `systemd-analyze verify`: the unit files parse, the
# timer's service exists, ExecStart names an executable file, and the man page in
# Documentation= is installed.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

require_command systemd-analyze "package systemd"
require_command man "package man-db: systemd-analyze checks Documentation= with it"

prefix=$scratch/prefix
install_into "$prefix"
units=$prefix/lib/systemd/system

verify() {
    local output
    output=$(cd "$units" && MANPATH=$prefix/share/man systemd-analyze verify "$@" 2>&1)
    local status=$?
    [[ -z $output ]] || printf '%s\n' "$output" >&2
    ((status == 0)) && [[ -z $output ]]
}

check "systemd-analyze verify passes on the installed units" \
    verify spec-hygiene-daily.service spec-hygiene-daily.timer

value_of() { sed -n "s/^$1=//p" "$units/$2"; }
check "the service is a oneshot" [ "$(value_of Type spec-hygiene-daily.service)" = oneshot ]
check "the timer fires daily at 02:00" \
    [ "$(value_of OnCalendar spec-hygiene-daily.timer)" = "*-*-* 02:00:00" ]
check "the timer catches up on missed runs" \
    [ "$(value_of Persistent spec-hygiene-daily.timer)" = true ]
check "the timer spreads a fleet's runs" \
    [ -n "$(value_of RandomizedDelaySec spec-hygiene-daily.timer)" ]
for setting in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes; do
    check "the service sets $setting" grep -qx "$setting" "$units/spec-hygiene-daily.service"
done
check "the state folder is writable" \
    grep -qE '^ReadWritePaths=(.* )?/var/lib/spec-hygiene( |$)' "$units/spec-hygiene-daily.service"

# verify must catch a service whose program is not where the unit says.
sed -i "s|^ExecStart=.*|ExecStart=$prefix/libexec/spec-hygiene/missing|" \
    "$units/spec-hygiene-daily.service"
rejected() { ! verify "$@" 2>/dev/null; }
check "systemd-analyze verify fails when ExecStart names a missing program" \
    rejected spec-hygiene-daily.service

finish
