#!/bin/sh
# Runs the harness's commands, one per line, read from /dev/ttyS1. Each line
# is "<length> <command>": a line whose length does not match (bytes lost on
# the serial line) is not run; "@@CT-GARBLED" asks for it again. After each
# command it writes "@@CT-DONE <exit status> <bytes>" on a line of its own,
# <bytes> being how many bytes of output it sent, so that the harness knows
# the reply arrived whole.
#
# The output goes to a file first, then to the port: not through a pipe,
# which a background job started by the command could hold open (busybox
# sh keeps a shell function's saved stdout, above fd 10, open in what the
# function runs), so that the end of the output would never come.
. /ct/lib.sh
exec 3<>/dev/ttyS1
stty -F /dev/ttyS1 raw -echo
out=/tmp/.ct-serve.out
echo "coretakeover-guest: ready role=$1"
while IFS= read -r line <&3; do
    n=${line%% *}
    line=${line#* }
    if [ "${#line}" != "$n" ]; then
        echo "@@CT-GARBLED" >&3
        continue
    fi
    ( eval "$line" ) </dev/null >"$out" 2>&1
    status=$?
    cat "$out" >&3
    echo "@@CT-DONE $status $(wc -c < "$out")" >&3
done
echo "coretakeover-guest: command channel closed"
poweroff -f
