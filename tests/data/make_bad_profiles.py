#!/usr/bin/env python3
"""Writes tests/data/bad/: .smolder files that must each fail with one clean
error line (docs/format.md describes the layout).  Each file is valid but for
one defect, so that it reaches the check it is aimed at.  Needs the zstd CLI.
Run again only when the format changes: the files are kept in git."""
import os
import struct
import subprocess
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bad")
MAGIC = b"SMOLDER\x1a"


def uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def svarint(v):
    return uvarint((v << 1) ^ (v >> 63) if v >= 0 else ((-v) << 1) - 1)


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c", "-3", "--stream-size=%d" % len(data)], input=data, stdout=subprocess.PIPE, check=True).stdout


def chunk(ctype, raw, stored=None, raw_size=None, crc=None):
    stored = zstd(raw) if stored is None else stored
    raw_size = len(raw) if raw_size is None else raw_size
    head = struct.pack("<III", ctype, len(stored), raw_size)
    if crc is None:
        crc = zlib.crc32(head + stored) & 0xFFFFFFFF
    return head + struct.pack("<I", crc) + stored


def header(version=1):
    return MAGIC + struct.pack("<II", version, 0)


def strings(*names):
    body = uvarint(len(names))
    for n in names:
        body += uvarint(len(n)) + n
    return chunk(1, body)


VALUE_TYPES = chunk(2, uvarint(1) + uvarint(1) + uvarint(2))  # samples/count
END = chunk(11, uvarint(0))


def good_prefix():
    return header() + strings(b"", b"samples", b"count", b"main") + VALUE_TYPES


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    write("empty.smolder", b"")
    write("short-header.smolder", MAGIC + b"\x01\x00")
    write("bad-version.smolder", header(version=99) + END)
    write("header-only.smolder", header())
    p = good_prefix()
    flipped = bytearray(p)
    flipped[16 + 16 + 2] ^= 0x10  # inside the first chunk's payload
    write("bit-flip.smolder", bytes(flipped) + END)
    write("huge-raw-size.smolder", header() + chunk(1, b"\x00", raw_size=0xFFFFFFF0))
    write("raw-size-mismatch.smolder", header() + chunk(1, uvarint(1) + uvarint(0), raw_size=3))
    write("not-zstd.smolder", header() + chunk(1, b"", stored=b"\x28\xb5\x2f\xfd garbage here", raw_size=5))
    write("huge-count.smolder", header() + chunk(1, uvarint(1 << 40) + b"\x00"))
    write("huge-string.smolder", header() + chunk(1, uvarint(1) + uvarint(1 << 30) + b"x"))
    # functions naming string 1000 of 4
    write("index-past-end.smolder", p + chunk(5, uvarint(1) + svarint(1000) + svarint(0)) + END)
    # one function, one named location, and a stack whose parent lies ahead
    func = chunk(5, uvarint(1) + svarint(3) + svarint(0))
    loc = chunk(6, uvarint(1) + svarint(0) + uvarint(0))
    cycle = chunk(8, uvarint(2) + uvarint(0) + uvarint(0) + uvarint(5) + uvarint(0))
    write("stack-cycle.smolder", p + func + loc + cycle + END)
    # a sample naming stack 7 of 1
    stack = chunk(8, uvarint(1) + uvarint(0) + uvarint(0))
    bad_sample = chunk(10, uvarint(1) + svarint(8) + uvarint(1) + uvarint(0) + svarint(1))
    write("sample-stack-past-end.smolder", p + func + loc + stack + bad_sample + END)
    # samples before the value types say how many values each has
    write("samples-before-types.smolder", header() + strings(b"") + chunk(10, uvarint(0)) + END)
    # a location in a mapping that does not exist
    write("mapping-past-end.smolder", p + chunk(6, uvarint(1) + svarint(4096) + uvarint(9)) + END)
    # a chunk with bytes left over after its entries
    write("trailing-bytes.smolder", p + chunk(5, uvarint(1) + svarint(3) + svarint(0) + b"\x00\x00") + END)
    # cut inside the first chunk: no complete chunk at all
    write("cut-mid-chunk.smolder", good_prefix()[:40])
    # a location with a 100,000-frame inline chain
    lines = chunk(7, uvarint(1) + uvarint(0) + uvarint(100000) + b"\x00" * 16)
    write("inline-chain-too-long.smolder", p + func + loc + lines + END)


if __name__ == "__main__":
    main()
