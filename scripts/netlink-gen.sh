#!/usr/bin/env bash
# Generates the kernel side of the coretakeover generic netlink family (its
# policy, operations and multicast group tables) from
# Documentation/netlink/specs/coretakeover.yaml with the 6.12 tree's own
# ynl-gen-c.py, as in-tree families are made.
#   scripts/netlink-gen.sh [--check]   --check: fail if the committed files differ
set -euo pipefail
. "$(dirname "$0")/common.sh"
kdir=${KDIR:-$(ct_kernel_dir)}
python=$CT_CACHE/venv/bin/python
gen=$kdir/tools/net/ynl/ynl-gen-c.py
[ -f "$gen" ] || die "$gen missing (build the kernel first)"
# ynl looks for the schema next to the spec's directory: give it the tree's.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/Documentation/netlink/specs"
cp "$kdir/Documentation/netlink/genetlink.yaml" "$tmp/Documentation/netlink/"
# ynl-gen-c.py finds the "kernel root" by a MAINTAINERS file above the spec.
touch "$tmp/MAINTAINERS"
spec=$tmp/Documentation/netlink/specs/coretakeover.yaml
cp "$CT_ROOT/Documentation/netlink/specs/coretakeover.yaml" "$spec"
(cd "$tmp" && timeout 120 "$python" "$gen" --mode kernel --spec "$spec" --header -o nl_gen.h >/dev/null &&
    "$python" "$gen" --mode kernel --spec "$spec" --source -o nl_gen.c >/dev/null &&
    "$python" "$gen" --mode uapi --spec "$spec" --header -o coretakeover.h >/dev/null)
# The generated source includes its header and the uapi header by their
# in-tree names; point them at ours.
sed -i 's|#include "coretakeover-nl.h"|#include "netlink_gen.h"|; s|#include "nl_gen.h"|#include "netlink_gen.h"|; s|#include <uapi/linux/coretakeover.h>|#include "netlink_uapi.h"|' "$tmp/nl_gen.c" "$tmp/nl_gen.h"
# 6.12's generator makes every family netnsok. Disks are not namespaced: the
# family is there in the initial network namespace only (a container with
# its own network namespace does not see it), as the spec's doc says.
sed -i 's|^\t\.netnsok\t= true,$|\t.netnsok\t= false,|' "$tmp/nl_gen.c"
grep -q 'netnsok.*= false,' "$tmp/nl_gen.c" || die "the generated family has no netnsok line to turn off"
for f in "nl_gen.h:netlink_gen.h" "nl_gen.c:netlink_gen.c" "coretakeover.h:netlink_uapi.h"; do
    src=$tmp/${f%%:*} dst=$CT_ROOT/rust/${f##*:}
    if [ "${1:-}" = --check ]; then
        cmp -s "$src" "$dst" || die "rust/${f##*:} is not what the spec generates: run scripts/netlink-gen.sh"
    else
        cp "$src" "$dst"
    fi
done
