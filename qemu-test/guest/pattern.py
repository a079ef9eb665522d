# Fills 4 MiB of locked anonymous memory with a known pattern and records the
# physical address of every page (from /proc/self/pagemap), then waits for
# the panic. Page i holds 256 copies of (0x636f726574616b65, i), little-endian.
#   pattern.py OUT.json [CPU] [--file PATH]
# With CPU, run there (its NUMA node's memory). With --file, the 4 MiB are
# the page cache of a new file PATH instead (mapped shared, locked), with the
# magic 0x6863616365676170 ("pagecach").
import ctypes, json, mmap, os, struct, sys, time

args = sys.argv[1:]
path = None
if "--file" in args:
    i = args.index("--file")
    path = args[i + 1]
    del args[i:i + 2]
if len(args) > 1 and args[1]:
    os.sched_setaffinity(0, {int(args[1])})

PAGE = 4096
SIZE = 4 << 20
MAGIC = 0x636F726574616B65 if path is None else 0x6863616365676170

if path is None:
    buf = mmap.mmap(-1, SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
else:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.ftruncate(fd, SIZE)
    buf = mmap.mmap(fd, SIZE, flags=mmap.MAP_SHARED)
addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
libc = ctypes.CDLL(None, use_errno=True)
if libc.mlock(ctypes.c_void_p(addr), ctypes.c_size_t(SIZE)) != 0:
    sys.exit("mlock failed: errno %d" % ctypes.get_errno())
for i in range(SIZE // PAGE):
    buf[i * PAGE:(i + 1) * PAGE] = struct.pack("<QQ", MAGIC, i) * (PAGE // 16)
pages = []
with open("/proc/self/pagemap", "rb") as pagemap:
    for i in range(SIZE // PAGE):
        pagemap.seek((addr // PAGE + i) * 8)
        entry = struct.unpack("<Q", pagemap.read(8))[0]
        if not entry >> 63:
            sys.exit("page %d not present" % i)
        pages.append((entry & ((1 << 55) - 1)) * PAGE)
with open(args[0] + ".tmp", "w") as out:
    json.dump({"magic": MAGIC, "pages": pages}, out)
os.rename(args[0] + ".tmp", args[0])
while True:
    time.sleep(60)
