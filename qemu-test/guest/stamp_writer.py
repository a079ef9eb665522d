# Writes stamped 4 KiB blocks to a block device with O_DIRECT, from THREADS
# threads at once (so that THREADS writes are in flight), until killed.
#   stamp_writer.py DEVICE NODE THREADS BASE
# Thread t writes its n-th block at block BASE + t * SPAN + n % SPAN; every
# block holds 128 copies of the 32-byte record b"ctstamp:" + node letter,
# thread, sequence (little-endian u8 pad u32 u64, zero-padded).
import mmap, os, struct, sys, threading

SPAN = 64
BLOCK = 4096


def write(dev, node, t, base):
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT wants
    n = 0
    while True:
        record = (b"ctstamp:" + struct.pack("<BxxxIQ", ord(node), t, n)).ljust(32, b"\0")
        buf.seek(0)
        buf.write(record * (BLOCK // 32))
        try:
            os.pwrite(fd, buf, (base + t * SPAN + n % SPAN) * BLOCK)
        except OSError as e:
            print(f"thread {t} write {n}: {e}", flush=True)
            return
        n += 1


def main():
    dev, node, threads, base = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    workers = [threading.Thread(target=write, args=(dev, node, t, base), daemon=True) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


if __name__ == "__main__":
    main()
