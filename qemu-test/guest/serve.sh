#!/bin/sh
# Runs the harness's commands, one per line, read from /dev/ttyS1. After each
# command it writes "@@CT-DONE <exit status>" on a line of its own. Each line
# is "<length> <command>": a line whose length does not match (bytes lost on
# the serial line) is not run; "@@CT-GARBLED" asks for it again.
. /ct/lib.sh
exec 3<>/dev/ttyS1
stty -F /dev/ttyS1 raw -echo
echo "coretakeover-guest: ready role=$1"
while IFS= read -r line <&3; do
    n=${line%% *}
    line=${line#* }
    if [ "${#line}" != "$n" ]; then
        echo "@@CT-GARBLED" >&3
        continue
    fi
    ( eval "$line" ) </dev/null >&3 2>&3
    echo "@@CT-DONE $?" >&3
done
echo "coretakeover-guest: command channel closed"
poweroff -f
