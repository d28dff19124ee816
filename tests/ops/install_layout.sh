#!/usr/bin/env bash
# cmake --install lays out every tool's binary, man page and completion, the man pages of
# sections 5 and 7, the systemd units, the daily job, the crontab and the examples, and what it
# renders names the binaries under the prefix it was installed to.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

prefix=$scratch/prefix
install_into "$prefix"

installed() {
    [[ -f $prefix/$1 ]] || {
        echo "missing: $prefix/$1" >&2
        return 1
    }
}
executable() { installed "$1" && [[ -x $prefix/$1 ]]; }

for tool in "${tool_names[@]}"; do
    check "bin/$tool" executable "bin/$tool"
    check "man page of $tool" installed "share/man/man1/$tool.1.gz"
    check "completion of $tool" installed "share/bash-completion/completions/$tool"
done
check "spec-hygiene(5)" installed share/man/man5/spec-hygiene.5.gz
check "spec-hygiene(7)" installed share/man/man7/spec-hygiene.7.gz
check "man pages are gzip files" gzip -t "$prefix"/share/man/man*/*.gz
check "daily job" executable libexec/spec-hygiene/daily
check "user service unit" installed lib/systemd/user/spec-hygiene-daily.service
check "user timer unit" installed lib/systemd/user/spec-hygiene-daily.timer
check "system service template" installed lib/systemd/system/spec-hygiene-daily@.service
check "system timer template" installed lib/systemd/system/spec-hygiene-daily@.timer
check "crontab" installed share/doc/spec-hygiene/spec-hygiene.cron
check "copyright" installed share/doc/spec-hygiene/copyright
if [[ -d $source_dir/examples/agents ]]; then
    for agent in "$source_dir"/examples/agents/*; do
        check "example agent ${agent##*/}" installed "share/doc/spec-hygiene/examples/agents/${agent##*/}"
    done
fi

for service in user/spec-hygiene-daily.service system/spec-hygiene-daily@.service; do
    check "$service runs the installed daily job" \
        grep -qx "ExecStart=$prefix/libexec/spec-hygiene/daily" "$prefix/lib/systemd/$service"
done
for tool in evidence-prune db-vacuum metrics-report; do
    check "the daily job runs $tool from the prefix" \
        grep -qE "^ *step \"[\$]bindir/$tool\"" "$prefix/libexec/spec-hygiene/daily"
done
check "the crontab runs the installed daily job" \
    grep -q " $prefix/libexec/spec-hygiene/daily " "$prefix/share/doc/spec-hygiene/spec-hygiene.cron"
check "the daily job's bindir is the prefix's" \
    grep -qx "bindir='$prefix/bin'" "$prefix/libexec/spec-hygiene/daily"

manifest=$build_dir/install_manifest.txt
check "the rendered files are in the install manifest" \
    grep -qx "$prefix/lib/systemd/system/spec-hygiene-daily@.service" "$manifest"

finish
