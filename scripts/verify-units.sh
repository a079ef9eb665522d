#!/usr/bin/env bash
# Verifies the systemd unit of scripts/deploy with `systemd-analyze verify`,
# in a staged root: the distribution's units (for the targets it orders
# itself against), and the unit's commands where it runs them
# (/usr/sbin/coretakeover is the CLI; /sbin/modprobe). Any complaint fails:
# systemd-analyze exits 0 even for an unknown key, so its output must be
# empty. A unit with a planted mistake must be caught, or the check itself
# is broken.
#   scripts/verify-units.sh CLI-BINARY
set -euo pipefail
. "$(dirname "$0")/common.sh"
cli=${1:?the coretakeover binary}
units=/usr/lib/systemd/system
[ -d "$units" ] || die "$units missing (apt install systemd)"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd" "$root/usr/sbin" "$root/sbin"
cp -a "$units" "$root/usr/lib/systemd/"
cp "$cli" "$root/usr/sbin/coretakeover"
ln -s /usr/sbin/coretakeover "$root/sbin/modprobe"

verify() {
    systemd-analyze verify --root="$root" "$units/$1" 2>&1
}

failed=0
# Every unit first: they name each other (the agent requires the boot service).
cp "$CT_ROOT"/scripts/deploy/*.service "$root$units/"
for unit in "$CT_ROOT"/scripts/deploy/*.service; do
    name=${unit##*/}
    if out=$(verify "$name") && [ -z "$out" ]; then
        echo "verify-units: $name: ok"
    else
        echo "verify-units: $name: ${out:-systemd-analyze failed}"
        failed=1
    fi
    # The check catches a mistake: an unknown key, then a missing command.
    sed 's/^Type=/Typ=/' "$unit" > "$root$units/planted-$name"
    [ -n "$(verify "planted-$name" || true)" ] || { echo "verify-units: a planted unknown key went unnoticed"; failed=1; }
    sed 's|^ExecStart=/usr/sbin/coretakeover |ExecStart=/usr/sbin/coretakeoverx |' "$unit" > "$root$units/planted-$name"
    [ -n "$(verify "planted-$name" || true)" ] || { echo "verify-units: a planted missing command went unnoticed"; failed=1; }
    rm -f "$root$units/planted-$name"
done
exit $failed
