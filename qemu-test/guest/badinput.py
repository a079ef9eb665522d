#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Runs the bad-input table of Documentation/coretakeover/bad-input.rst
against the loaded module, in a test guest, as root.

    badinput.py TABLE.rst SUBST.json

Every row is one write to a sysfs knob, or one generic netlink request
(built byte by byte, so that wrong types and sizes can be sent), made as
root or as an unprivileged user (uid 65534). Each must fail with the row's
errno, leave every readable knob under /sys/kernel/coretakeover as it was,
leave every disk of SUBST as it was (the registered keys and the
reservation of each SCSI disk, asked with PERSISTENT RESERVE IN; the first
96 KiB of each, read with O_DIRECT: a coredump disk's label and both
header copies, the heartbeat block after them excepted),
and (where the row says "log") add a kernel log line naming the module,
and/or (where it says "extack") carry an extended ack message: from the
netlink layer, which rejects the request against the family's policy
before the module sees it, or from the module, which says why it refused
("log+extack").

SUBST maps placeholders in the inputs ({lun}, {coredump_own}, ...) to
device paths. Prints one JSON object per row, then a summary line
"badinput: N rows, N failed".
"""

import csv
import ctypes
import errno
import hashlib
import json
import mmap
import os
import socket
import struct
import sys

SYSFS = "/sys/kernel/coretakeover"
NETLINK_GENERIC = 16
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NETLINK_EXT_ACK = 11
NLMSGERR_ATTR_MSG = 1
NLM_F_ACK_TLVS = 0x200
NLM_F_CAPPED = 0x100
OPS = {"get-status": 1, "set-config": 2, "takeover": 3, "giveback": 4}
ATTRS = {
    "cluster-id": 3, "node-id": 4, "partner-id": 5, "service-disk": 16,
    "partner-disk": 17, "partner-dump-disk": 18, "attr-99": 99,
}
# The `disk` set, inside a nest.
DISK_ATTRS = {"path": 1, "held": 2}
NLA_F_NESTED = 0x8000
NOBODY = 65534


def rows(path):
    """The rows of the csv-table in the document."""
    lines, inside = [], False
    with open(path) as f:
        for line in f:
            if line.startswith(".. csv-table::"):
                inside = True
                continue
            if inside and line.startswith("   ") and line.strip().startswith('"'):
                lines.append(line.strip())
            elif inside and line.strip() and not line.startswith("   "):
                inside = False
    return list(csv.reader(lines, skipinitialspace=True))


def expand(text, subst):
    for key, value in subst.items():
        text = text.replace("{" + key + "}", value)
    if text.startswith("{long:") and text.endswith("}"):
        return "/" + "x" * (int(text[6:-1]) - 1)
    if text.startswith("{paths:") and text.endswith("}"):
        return " ".join(["/dev/null"] * int(text[7:-1]))
    return text


# What the module measures as it runs, not what anyone set: it may change
# between two reads by itself.
MEASURES = {"watch_gap_max_ms"}


def snapshot():
    state = {}
    for name in sorted(os.listdir(SYSFS)):
        path = os.path.join(SYSFS, name)
        if name not in MEASURES and os.stat(path).st_mode & 0o444:
            with open(path) as f:
                state[name] = f.read()
    return state


class SgIoHdr(ctypes.Structure):
    """struct sg_io_hdr of <scsi/sg.h>."""
    _fields_ = [
        ("interface_id", ctypes.c_int), ("dxfer_direction", ctypes.c_int),
        ("cmd_len", ctypes.c_ubyte), ("mx_sb_len", ctypes.c_ubyte), ("iovec_count", ctypes.c_ushort),
        ("dxfer_len", ctypes.c_uint), ("dxferp", ctypes.c_void_p), ("cmdp", ctypes.c_void_p),
        ("sbp", ctypes.c_void_p), ("timeout", ctypes.c_uint), ("flags", ctypes.c_uint),
        ("pack_id", ctypes.c_int), ("usr_ptr", ctypes.c_void_p), ("status", ctypes.c_ubyte),
        ("masked_status", ctypes.c_ubyte), ("msg_status", ctypes.c_ubyte), ("sb_len_wr", ctypes.c_ubyte),
        ("host_status", ctypes.c_ushort), ("driver_status", ctypes.c_ushort), ("resid", ctypes.c_int),
        ("duration", ctypes.c_uint), ("info", ctypes.c_uint),
    ]


SG_IO = 0x2285
LIBC = ctypes.CDLL(None, use_errno=True)


def persistent_reserve_in(fd, action):
    """PERSISTENT RESERVE IN's parameter data (READ KEYS: 0, READ
    RESERVATION: 1), or an error text. A unit attention is asked again."""
    for _ in range(4):
        data = ctypes.create_string_buffer(1024)
        sense = ctypes.create_string_buffer(32)
        cdb = (ctypes.c_ubyte * 10)(0x5E, action, 0, 0, 0, 0, 0, 4, 0, 0)
        hdr = SgIoHdr(interface_id=ord("S"), dxfer_direction=-3, cmd_len=10, mx_sb_len=32,
                      dxfer_len=1024, dxferp=ctypes.addressof(data), cmdp=ctypes.addressof(cdb),
                      sbp=ctypes.addressof(sense), timeout=10000)
        if LIBC.ioctl(fd, SG_IO, ctypes.byref(hdr)) < 0:
            return "SG_IO: errno %d" % ctypes.get_errno()
        if hdr.status == 2 and (sense.raw[2] & 0x0F) == 6:
            continue
        if hdr.status or hdr.host_status:
            return "status %#x host %#x" % (hdr.status, hdr.host_status)
        length = 8 + struct.unpack_from(">I", data.raw, 4)[0]
        return data.raw[:min(length, 1024)].hex()  # with the PR generation
    return "unit attention, four times"


def disk_state(paths):
    """Each disk's PR state and the hash of its first 96 KiB."""
    state = {}
    for path in paths:
        if not path.startswith("/dev/"):
            continue
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        try:
            buf = mmap.mmap(-1, 96 << 10)  # page-aligned, as O_DIRECT wants
            got = os.readv(fd, [buf])
            entry = {"first_96k": hashlib.sha256(buf[:got]).hexdigest()}
            if os.path.basename(os.path.realpath(path)).startswith("sd"):
                entry["keys"] = persistent_reserve_in(fd, 0)
                entry["reservation"] = persistent_reserve_in(fd, 1)
            state[path] = entry
        finally:
            os.close(fd)
    return state


class Kmsg:
    def __init__(self):
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)

    def new_lines(self):
        out = []
        while True:
            try:
                out.append(os.read(self.fd, 8192).decode(errors="replace").split(";", 1)[-1].strip())
            except BlockingIOError:
                return out
            except OSError as e:
                if e.errno == errno.EPIPE:  # overwritten records: skip on
                    continue
                raise


def nla(kind, data):
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * ((4 - length % 4) % 4)


def attributes(spec, subst, names=ATTRS, separator=";"):
    """name=type:value;... as netlink attributes, types deliberately loose;
    nest:name=type:value,... is a nest of the disk set (NLA_F_NESTED)."""
    out = b""
    for item in filter(None, spec.split(separator)):
        name, typed = item.split("=", 1)
        kind, value = typed.split(":", 1)
        if kind == "nest":
            out += nla(names[name] | NLA_F_NESTED, attributes(value, subst, DISK_ATTRS, ","))
            continue
        value = expand(value, subst)
        data = {
            "u32": lambda v: struct.pack("=I", int(v, 0)),
            "u16": lambda v: struct.pack("=H", int(v, 0)),
            "u64": lambda v: struct.pack("=Q", int(v, 0)),
            "str": lambda v: v.encode() + b"\0",
            "bytes": lambda v: v.encode(),
        }[kind](value)
        out += nla(names[name], data)
    return out


def genl_request(sock, family, cmd, payload, seq):
    body = struct.pack("=BBH", cmd, 1, 0) + payload
    sock.send(struct.pack("=IHHII", 16 + len(body), family, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body)
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset < len(data):
            length, kind, flags, _, _ = struct.unpack_from("=IHHII", data, offset)
            if kind == NLMSG_ERROR:
                code = struct.unpack_from("=i", data, offset + 16)[0]
                msg = ""
                if flags & NLM_F_ACK_TLVS:
                    # After the error code: the request's header (all of it
                    # unless capped), then TLVs.
                    inner = struct.unpack_from("=I", data, offset + 20)[0]
                    at = offset + 20 + (16 if flags & NLM_F_CAPPED else (inner + 3) & ~3)
                    while at + 4 <= offset + length:
                        alen, akind = struct.unpack_from("=HH", data, at)
                        if alen < 4:
                            break
                        if akind == NLMSGERR_ATTR_MSG:
                            msg = data[at + 4 : at + alen].split(b"\0")[0].decode()
                        at += (alen + 3) & ~3
                return -code, msg
            offset += (length + 3) & ~3


class FamilyMissing(Exception):
    """The controller does not know the family here (its errno)."""


def family_id(sock):
    body = struct.pack("=BBH", 3, 1, 0) + nla(2, b"coretakeover\0")
    sock.send(struct.pack("=IHHII", 16 + len(body), 0x10, NLM_F_REQUEST, 1, 0) + body)
    data = sock.recv(65536)
    if struct.unpack_from("=H", data, 4)[0] == 2:  # NLMSG_ERROR
        raise FamilyMissing(-struct.unpack_from("=i", data, 16)[0])
    at = 20
    while at + 4 <= len(data):
        alen, akind = struct.unpack_from("=HH", data, at)
        if akind == 1:
            return struct.unpack_from("=H", data, at + 4)[0]
        at += (alen + 3) & ~3
    raise SystemExit("badinput: the coretakeover family is not registered")


def attempt(interface, target, given, subst):
    """Makes the request; returns (errno or 0, extack message)."""
    if interface == "sysfs":
        data = expand(given, subst).encode()
        try:
            fd = os.open(os.path.join(SYSFS, target), os.O_WRONLY)
        except OSError as e:
            return e.errno, ""
        try:
            os.write(fd, data)
            return 0, ""
        except OSError as e:
            return e.errno, ""
        finally:
            os.close(fd)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    sock.setsockopt(270, NETLINK_EXT_ACK, 1)  # SOL_NETLINK
    try:
        return genl_request(sock, family_id(sock), OPS[target], attributes(given, subst), 2)
    except FamilyMissing as e:
        return e.args[0], ""
    finally:
        sock.close()


CAP_NET_ADMIN = 12
CLONE_NEWNET = 0x40000000


def become(who):
    """In a child: turns into the row's caller. nobody: uid/gid 65534, no
    capabilities. netadmin: root with CAP_NET_ADMIN alone (as a container
    given --cap-add NET_ADMIN has it, without CAP_SYS_ADMIN). netns: root in
    a network namespace of its own (a container's)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if who == "nobody":
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    elif who == "netadmin":
        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

        data = (Data * 2)()
        data[0].effective = data[0].permitted = 1 << CAP_NET_ADMIN
        if libc.capset(ctypes.byref(Header(0x20080522, 0)), data) != 0:  # _LINUX_CAPABILITY_VERSION_3
            raise SystemExit(f"badinput: capset: {os.strerror(ctypes.get_errno())}")
    elif who == "netns":
        if libc.unshare(CLONE_NEWNET) != 0:
            raise SystemExit(f"badinput: unshare: {os.strerror(ctypes.get_errno())}")
    else:
        raise SystemExit(f"badinput: unknown caller {who!r}")


def run_row(row, subst):
    who, interface, target, given, want, evidence = row[:6]
    reason = row[6] if len(row) > 6 else ""
    want_errno = getattr(errno, want)
    before = snapshot()
    disks_before = disk_state(sorted(set(subst.values())))
    kmsg = Kmsg()
    if who != "root":
        # A child turns into the caller and tries.
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            become(who)
            got = attempt(interface, target, given, subst)
            os.write(w, json.dumps(got).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            got, message = json.loads(f.read())
        os.waitpid(pid, 0)
    else:
        got, message = attempt(interface, target, given, subst)
    logged = [line for line in kmsg.new_lines() if "coretakeover" in line]
    after = snapshot()
    changed = sorted(k for k in before if before[k] != after.get(k))
    disks_after = disk_state(sorted(set(subst.values())))
    changed += sorted(f"disk {d}: {k}" for d in disks_before for k in disks_before[d] if disks_before[d][k] != disks_after[d].get(k))
    problems = []
    if got != want_errno:
        problems.append(f"errno {errno.errorcode.get(got, got) if got else 'none (accepted)'}, expected {want}")
    if changed:
        problems.append("changed " + ", ".join(changed))
    kinds = evidence.split("+")
    if "log" in kinds and not logged:
        problems.append("no kernel log line")
    if "extack" in kinds and not message:
        problems.append("no extack message")
    # The row's own reason, not just any line: a refusal for another cause
    # (an earlier check, another knob) must not pass for this one.
    said = logged + ([message] if message else [])
    if reason and not any(reason in line for line in said):
        problems.append(f"no log line or extack says {reason!r}")
    if kinds != ["perm"] and not reason:
        problems.append("the row names no reason to look for")
    return {
        "who": who, "interface": interface, "target": target, "input": given[:60],
        "errno": errno.errorcode.get(got, str(got)) if got else None, "expected": want,
        "log": logged[:1], "extack": message, "reason": reason, "ok": not problems, "problems": problems,
    }


def main():
    table, subst = sys.argv[1], json.loads(sys.argv[2])
    failed = 0
    all_rows = rows(table)
    for row in all_rows:
        result = run_row(row, subst)
        failed += not result["ok"]
        print(json.dumps(result), flush=True)
    print(f"badinput: {len(all_rows)} rows, {failed} failed")


if __name__ == "__main__":
    main()
