# Subscribes to coretakeover's netlink events with the kernel tree's own YNL
# library (tools/net/ynl), a client nobody here wrote, and prints what
# arrives within SECONDS as JSON lines.
#   ynl_events.py YNL-DIR SPEC SECONDS READY-FILE   (YNL-DIR: tools/net/ynl)
import json, sys, time

ynl_dir, spec, seconds, ready = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
sys.path.insert(0, ynl_dir)
from lib import YnlFamily  # noqa: E402

ynl = YnlFamily(spec, schema="")
ynl.ntf_subscribe("events")
open(ready, "w").close()
deadline = time.time() + seconds
while time.time() < deadline:
    time.sleep(0.2)
    ynl.check_ntf()
    while ynl.async_msg_queue:
        msg = ynl.async_msg_queue.pop(0)
        print(json.dumps({"name": msg["name"], "msg": msg["msg"]}), flush=True)
