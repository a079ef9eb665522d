# Waits until a sysfs attribute reports a change through poll(2) and prints
# its new value: how userspace waits for coretakeover's state attributes.
#   poll_attr.py ATTRIBUTE SECONDS READY-FILE
import select, sys

path, timeout, ready = sys.argv[1], float(sys.argv[2]), sys.argv[3]
with open(path) as f:
    f.read()
    poller = select.poll()
    poller.register(f, select.POLLPRI | select.POLLERR)
    open(ready, "w").close()
    if not poller.poll(timeout * 1000):
        sys.exit("no change within %s s" % timeout)
    f.seek(0)
    print("changed:", f.read().strip())
