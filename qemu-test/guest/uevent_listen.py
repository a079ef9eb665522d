# Listens for kernel uevents on a NETLINK_KOBJECT_UEVENT socket, as udev
# does, and prints coretakeover's change uevents as JSON lines (the header
# "ACTION@DEVPATH" and every variable), until one carries VALUE or the time
# is up.
#   uevent_listen.py SECONDS READY-FILE VALUE
import json, socket, sys, time

timeout, ready, until = float(sys.argv[1]), sys.argv[2], sys.argv[3]
NETLINK_KOBJECT_UEVENT = 15
sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
sock.bind((0, 1))  # multicast group 1: the kernel's own uevents
open(ready, "w").close()
deadline = time.monotonic() + timeout
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        sys.exit("no uevent with value %r within %s s" % (until, timeout))
    sock.settimeout(left)
    try:
        fields = sock.recv(65536).split(b"\0")
    except socket.timeout:
        continue
    env = dict(f.decode().split("=", 1) for f in fields[1:] if b"=" in f)
    if "CORETAKEOVER_ATTRIBUTE" not in env:
        continue
    print(json.dumps({"header": fields[0].decode(), **env}), flush=True)
    if env.get("CORETAKEOVER_VALUE") == until:
        break
