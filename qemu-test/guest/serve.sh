#!/bin/sh
# Runs the harness's commands, one per line, read from /dev/ttyS1. Each line
# is "<length> <command>": a line whose length does not match (bytes lost on
# the serial line) is not run; "@@CT-GARBLED" asks for it again. After each
# command it writes "@@CT-DONE <exit status> <bytes>" on a line of its own,
# <bytes> being how many bytes of output it sent, so that the harness knows
# the reply arrived whole. The output goes out as it comes (tee), counted on
# its way (wc -c); the exit status is the command's (pipefail).
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
    sent=$(set -o pipefail; ( eval "$line" ) </dev/null 2>&1 | tee /dev/ttyS1 | wc -c)
    echo "@@CT-DONE $? $sent" >&3
done
echo "coretakeover-guest: command channel closed"
poweroff -f
