#!/usr/bin/env bash
# The installed units pass `systemd-analyze verify`: the user service and timer (for
# `systemctl --user`) and the system template and its timer (spec-hygiene-daily@USER). The
# unit files parse, each timer's service exists, ExecStart names an executable file and the
# man page in Documentation= is installed. No unit runs the tools as root.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

require_command systemd-analyze "package systemd"
require_command man "package man-db: systemd-analyze checks Documentation= with it"

prefix=$scratch/prefix
install_into "$prefix"
system_units=$prefix/lib/systemd/system
user_units=$prefix/lib/systemd/user
# A user manager's runtime folder, which systemd-analyze --user needs even offline.
export XDG_RUNTIME_DIR=$scratch/runtime
mkdir -m 0700 -- "$XDG_RUNTIME_DIR"

# verify FOLDER [--user] UNIT...: systemd-analyze verify on the units in FOLDER, silent and 0.
verify() {
    local folder=$1 output status
    shift
    output=$(cd "$folder" && MANPATH=$prefix/share/man systemd-analyze verify "$@" 2>&1)
    status=$?
    [[ -z $output ]] || printf '%s\n' "$output" >&2
    ((status == 0)) && [[ -z $output ]]
}
verify_user() {
    local folder=$1 output status
    shift
    output=$(cd "$folder" && MANPATH=$prefix/share/man systemd-analyze --user verify "$@" 2>&1)
    status=$?
    [[ -z $output ]] || printf '%s\n' "$output" >&2
    ((status == 0)) && [[ -z $output ]]
}

check "systemd-analyze verify passes on the system template's instance" \
    verify "$system_units" spec-hygiene-daily@alice.service spec-hygiene-daily@alice.timer
check "systemd-analyze --user verify passes on the user units" \
    verify_user "$user_units" spec-hygiene-daily.service spec-hygiene-daily.timer

# No system unit without User=: a service the system manager runs as root.
check "no system service but the template" \
    [ "$(cd "$system_units" && echo spec-hygiene*)" = \
        "spec-hygiene-daily@.service spec-hygiene-daily@.timer" ]
value_of() { sed -n "s/^$1=//p" "$2"; }
check "the template runs as the user it is named after" \
    [ "$(value_of User "$system_units/spec-hygiene-daily@.service")" = "%i" ]
check "the user service runs as its manager's user (no User=)" \
    [ -z "$(value_of User "$user_units/spec-hygiene-daily.service")" ]

for service in "$system_units/spec-hygiene-daily@.service" "$user_units/spec-hygiene-daily.service"; do
    name=${service#"$prefix"/lib/systemd/}
    check "$name is a oneshot" [ "$(value_of Type "$service")" = oneshot ]
    check "$name runs the installed daily job" \
        [ "$(value_of ExecStart "$service")" = "$prefix/libexec/spec-hygiene/daily" ]
    for setting in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=read-only \
        PrivateNetwork=yes RestrictAddressFamilies=AF_UNIX CapabilityBoundingSet= \
        MemoryDenyWriteExecute=yes SystemCallFilter=@system-service; do
        check "$name sets $setting" grep -qx "$setting" "$service"
    done
    check "$name may write the textfile collector's folder" \
        grep -qE '^ReadWritePaths=(.* )?-/var/lib/prometheus/node-exporter( |$)' "$service"
done
check "the user service may write the user's state folder" \
    grep -qE '^ReadWritePaths=(.* )?-%h/.local/state/spec-hygiene( |$)' \
    "$user_units/spec-hygiene-daily.service"
check "the template may write its user's state folder" \
    grep -qE '^ReadWritePaths=(.* )?-/home/%i/.local/state/spec-hygiene( |$)' \
    "$system_units/spec-hygiene-daily@.service"

for timer in "$system_units/spec-hygiene-daily@.timer" "$user_units/spec-hygiene-daily.timer"; do
    name=${timer#"$prefix"/lib/systemd/}
    check "$name fires daily at 02:00" [ "$(value_of OnCalendar "$timer")" = "*-*-* 02:00:00" ]
    check "$name catches up on missed runs" [ "$(value_of Persistent "$timer")" = true ]
    check "$name spreads a fleet's runs" [ -n "$(value_of RandomizedDelaySec "$timer")" ]
    check "$name is enabled into timers.target" \
        [ "$(value_of WantedBy "$timer")" = timers.target ]
done

# verify must catch a service whose program is not where the unit says.
for service in "$system_units/spec-hygiene-daily@.service" "$user_units/spec-hygiene-daily.service"; do
    sed -i "s|^ExecStart=.*|ExecStart=$prefix/libexec/spec-hygiene/missing|" "$service"
done
rejected() { ! "$@" 2>/dev/null; }
check "verify fails when the template's ExecStart names a missing program" \
    rejected verify "$system_units" spec-hygiene-daily@alice.service
check "verify --user fails when the user service's ExecStart names a missing program" \
    rejected verify_user "$user_units" spec-hygiene-daily.service

finish
