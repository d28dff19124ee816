#!/usr/bin/env bash
# The Debian package: cpack builds it, its control fields are right (Depends names the package
# of every shared library the binaries load), `dpkg -x` into a scratch root gives binaries that
# print their version and do real work, built hardened (fortified, full RELRO, bind now); its
# maintainer scripts disable the daily job's timers on removal, leaving no timers.target.wants
# link; and `lintian --pedantic` reports nothing but the tags the README names.
set -uo pipefail
# shellcheck source=tests/ops/lib.sh
source "$(dirname "$0")/lib.sh"

require_command cpack "package cmake"
require_command dpkg-shlibdeps "package dpkg-dev: cpack computes Depends with it"
require_command lintian "package lintian"
require_command objdump "package binutils"

fixture=$build_dir/tests/fixture/spec-hygiene-fixture
[[ -x $fixture ]] || { echo "FAIL: no fixture binary at $fixture" >&2; exit 1; }

cpack --config "$build_dir/CPackConfig.cmake" -B "$scratch/package" >"$scratch/cpack.log" 2>&1 || {
    cat -- "$scratch/cpack.log" >&2
    echo "FAIL: cpack" >&2
    exit 1
}
debs=("$scratch"/package/*.deb)
[[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || { echo "FAIL: cpack made no single .deb" >&2; exit 1; }
deb=${debs[0]}
echo "built ${deb##*/}"

field() { dpkg-deb -f "$deb" "$1"; }
check "package name" [ "$(field Package)" = spec-hygiene ]
check "section admin" [ "$(field Section)" = admin ]
check "a description with an extended part" [ "$(field Description | wc -l)" -gt 2 ]

root=$scratch/root
dpkg -x "$deb" "$root"
not() { ! "$@"; }

# Every shared library a binary links against directly (its NEEDED entries: what
# dpkg-shlibdeps looks at) belongs to a package that Depends names.
mapfile -t depends < <(field Depends | tr ',' '\n' | awk '{ print $1 }')
depends_on() {
    local package
    for package in "${depends[@]}"; do
        [[ $package == "$1" ]] && return 0
    done
    return 1
}
owner_of() {
    { dpkg -S "$1" 2>/dev/null || dpkg -S "$(readlink -f "$1")" 2>/dev/null; } |
        head -n 1 | cut -d: -f1
}
# The paths of BINARY's NEEDED libraries, as the dynamic linker finds them.
needed_paths() {
    local -A path=()
    local name arrow location _
    while read -r name arrow location _; do
        [[ $arrow == "=>" && $location == /* ]] && path[$name]=$location
    done < <(ldd "$1")
    while read -r name; do
        [[ -n ${path[$name]:-} ]] && echo "${path[$name]}"
    done < <(objdump -p "$1" | awk '$1 == "NEEDED" { print $2 }')
}
for binary in "$root"/usr/bin/*; do
    while read -r library; do
        owner=$(owner_of "$library")
        if [[ -z $owner ]]; then
            fail "no package owns $library (used by ${binary##*/})"
            continue
        fi
        check "Depends names $owner (for ${library##*/}, used by ${binary##*/})" depends_on "$owner"
    done < <(needed_paths "$binary")
done

for tool in "${tool_names[@]}"; do
    check "the package ships $tool" [ -x "$root/usr/bin/$tool" ]
done
for service in system/spec-hygiene-daily@.service user/spec-hygiene-daily.service; do
    check "$service runs the packaged daily job" \
        grep -qx "ExecStart=/usr/libexec/spec-hygiene/daily" "$root/usr/lib/systemd/$service"
done
check "the package has no system unit that runs as root" \
    [ ! -e "$root/usr/lib/systemd/system/spec-hygiene-daily.service" ]
check "cron reads no file of the package's: the crontab is documentation" \
    [ -z "$(cd "$root" && find etc var/spool -path '*cron*' -type f 2>/dev/null)" ]
check "the daily job runs the packaged tools" \
    grep -qx "bindir='/usr/bin'" "$root/usr/libexec/spec-hygiene/daily"

# Each packaged binary, run from the scratch root with a configuration and state of its own.
export XDG_CONFIG_HOME=$scratch/config XDG_STATE_HOME=$scratch/state
db=$scratch/hygiene.db
evidence=$scratch/evidence
mkdir -p "$evidence"
"$fixture" db "$db" --bloat-mb 4 --toolkit >/dev/null || { echo "FAIL: fixture" >&2; exit 1; }

run_ok() {
    local output=$scratch/$1.out
    shift
    "$@" >"$output" 2>"$output.err" || {
        echo "exit $?: $*" >&2
        cat -- "$output.err" >&2
        return 1
    }
}

real_command() {
    local tool=$1 binary=$root/usr/bin/$1
    case $tool in
        db-vacuum)
            local before
            before=$(stat -c %s "$db")
            run_ok "$tool" "$binary" --db "$db" --auto --json &&
                [ "$(stat -c %s "$db")" -lt "$before" ]
            ;;
        spawn-agents)
            printf '%s\n' '{"spec_id": "SPEC-KIT-1", "stage": "validate",' \
                ' "agents": [{"name": "true", "command": ["/bin/true"]}]}' >"$scratch/batch.json"
            run_ok "$tool" "$binary" --db "$db" --evidence "$evidence" --batch "$scratch/batch.json" &&
                grep -q '"event":"batch"' "$scratch/$tool.out"
            ;;
        evidence-prune)
            run_ok "$tool" "$binary" --db "$db" --evidence "$evidence" --dry-run &&
                grep -q '"dry_run":true' "$scratch/$tool.out"
            ;;
        metrics-report)
            run_ok "$tool" "$binary" --db "$db" --format prometheus &&
                grep -q '^spec_hygiene_' "$scratch/$tool.out"
            ;;
        *)
            echo "no real command known for $tool: add one to ${BASH_SOURCE[0]}" >&2
            return 1
            ;;
    esac
}

for binary in "$root"/usr/bin/*; do
    tool=${binary##*/}
    check "$tool --version runs from the package" \
        grep -qx "$tool (spec-hygiene) [0-9.]*" <("$binary" --version)
    check "$tool does real work from the package" real_command "$tool"
done

# Hardening, as lintian's hardening checks and dpkg-buildflags mean it.
require_command readelf "package binutils"
for binary in "$root"/usr/bin/*; do
    tool=${binary##*/}
    check "$tool: full RELRO (a GNU_RELRO segment)" \
        grep -q GNU_RELRO <(readelf --wide --program-headers "$binary")
    check "$tool: bound at load time (BIND_NOW)" \
        grep -qE 'FLAGS.*(BIND_NOW|NOW)' <(readelf --wide --dynamic "$binary")
    check "$tool: fortified libc calls (_FORTIFY_SOURCE)" \
        grep -qE '__[a-z_]+_chk(@|$)' <(readelf --wide --dyn-syms "$binary")
done

# The maintainer scripts, run as dpkg runs them on removal, in a root of their own (dpkg
# exports DPKG_ROOT; empty on a live system): the timers enabled for alice (system template),
# for every user (--global) and by bob in his home are disabled; other links stay.
control=$scratch/control
dpkg-deb -e "$deb" "$control"
for script in postinst prerm postrm; do
    check "the package has an executable $script" [ -x "$control/$script" ]
done
wants=timers.target.wants
mkdir -p "$root/etc/systemd/system/$wants" "$root/etc/systemd/user/$wants" \
    "$root/home/bob/.config/systemd/user/$wants" "$root/home/carol/.config/systemd/user/$wants"
printf '%s\n' "bob:x:1000:1000::/home/bob:/bin/sh" "carol:x:1001:1001::/home/carol:/bin/sh" \
    >"$root/etc/passwd"
ln -s /usr/lib/systemd/system/spec-hygiene-daily@.timer \
    "$root/etc/systemd/system/$wants/spec-hygiene-daily@alice.timer"
ln -s /lib/systemd/system/spec-hygiene-daily@.timer \
    "$root/etc/systemd/system/$wants/spec-hygiene-daily@dave.timer"
ln -s /usr/lib/systemd/user/spec-hygiene-daily.timer \
    "$root/etc/systemd/user/$wants/spec-hygiene-daily.timer"
ln -s /usr/lib/systemd/user/spec-hygiene-daily.timer \
    "$root/home/bob/.config/systemd/user/$wants/spec-hygiene-daily.timer"
# carol's own timer of that name, and an unrelated system timer: not the package's.
ln -s /home/carol/.config/systemd/user/spec-hygiene-daily.timer \
    "$root/home/carol/.config/systemd/user/$wants/spec-hygiene-daily.timer"
ln -s /usr/lib/systemd/system/other.timer "$root/etc/systemd/system/$wants/other.timer"
check "systemd sees the template instance enabled" \
    systemctl --root="$root" --quiet is-enabled spec-hygiene-daily@alice.timer

check "postinst configure succeeds" env DPKG_ROOT="$root" "$control/postinst" configure
check "prerm remove succeeds" env DPKG_ROOT="$root" "$control/prerm" remove
check "postrm remove succeeds" env DPKG_ROOT="$root" "$control/postrm" remove
left=$(cd "$root" && find . -path "*/$wants/*" -name 'spec-hygiene-daily*' | sort)
check "removal leaves only carol's own link" \
    [ "$left" = "./home/carol/.config/systemd/user/$wants/spec-hygiene-daily.timer" ]
check "removal leaves unrelated timers" [ -L "$root/etc/systemd/system/$wants/other.timer" ]
check "systemd sees the template instance disabled" \
    not systemctl --root="$root" --quiet is-enabled spec-hygiene-daily@alice.timer

# lintian --pedantic, information tags too: no tag but the ones the README names ("Installing
# and scheduling the daily job"), each for a reason given there.
allowed_tags=(binary-has-unneeded-section)
lintian --pedantic --display-info --tag-display-limit 0 "$deb" >"$scratch/lintian.out" 2>"$scratch/lintian.err"
lintian_status=$?
cat -- "$scratch/lintian.out" "$scratch/lintian.err"
check "lintian accepts the package (exit 0)" [ "$lintian_status" -eq 0 ]
mapfile -t tags < <(awk '/^[EWIPXO]: / { print $3 }' "$scratch/lintian.out" | sort -u)
for tag in "${tags[@]}"; do
    allowed=false
    for known in "${allowed_tags[@]}"; do
        [[ $tag == "$known" ]] && allowed=true
    done
    check "lintian --pedantic: $tag is one the README names" "$allowed"
done

finish
