#!/bin/sh
# Runs the harness's commands, one per line, read from /dev/ttyS1. After each
# command it writes "@@CT-DONE <exit status>" on a line of its own.
. /ct/lib.sh
exec 3<>/dev/ttyS1
stty -F /dev/ttyS1 raw -echo
echo "coretakeover-guest: ready role=$1"
while IFS= read -r line <&3; do
    ( eval "$line" ) </dev/null >&3 2>&3
    echo "@@CT-DONE $?" >&3
done
echo "coretakeover-guest: command channel closed"
poweroff -f
