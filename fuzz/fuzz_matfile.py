"""Mutation fuzzer for ``cnntoolbox.matfile.loadmat`` against hostile MAT-files.

Every input is a mutant of a real MATLAB file (``tests/data``), an Octave
net (``matlab_reference``), a small file this package writes, or a random
HDF5 / v5 layout built from scratch, or a seed whose HDF5 structures
(B-trees, heaps, array indices) were edited field by field.  Each is written
to a RAM-backed folder and loaded by what ``loadmat`` runs, the reader
child's parse included, in this process (:func:`parse_as_loadmat`); the
outcome is one of

* ``ok``                    loaded;
* ``MatFileError`` (etc.)   a documented exception: a ValueError subclass;
* ``contained:<what>``      the parse crashed (a signal), hung or ran out of
                            memory, and the real, isolated ``loadmat`` then
                            turned the same input into a ``MatFileError``;
* ``crash:<type>``          any other exception (a failure);
* ``escaped:<type>``        an input on which the isolated ``loadmat`` did not
                            end in a ``MatFileError`` (a failure);
* ``leak``                  a result holding bytes of another file (a failure).

Run (see fuzz/README.md)::

    nice -n 19 python fuzz/fuzz_matfile.py --family v5 --inputs 50000 --seed 1
"""

import argparse
import collections
import io
import json
import os
import random
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import tracemalloc
import zlib
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnntoolbox import matfile
from cnntoolbox.matfile import _values
from cnntoolbox.matfile._mat73_write import header as v73_header

#: Address-space limit of a fuzzing process: a runaway allocation fails instead of swapping.
ADDRESS_SPACE = 2 * 2 ** 30

#: Wall-clock seconds without a word from a worker after which it counts as deadlocked.
WALL = 600

#: Largest resident size a load may raise a worker to (C allocations escape tracemalloc).
RESIDENT = 2 ** 30

_INTERESTING = [0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000,
                0xFFFFFFFF, 10 ** 9, 2 ** 31 - 8, 2 ** 63 - 1, 10 ** 18]


class Timeout(BaseException):
    """The per-input time budget ran out (a BaseException so no handler swallows it)."""


# --- seeds ----------------------------------------------------------------------------------

def seed_files(root=ROOT, big=True):
    """(label, bytes) of the committed MAT-files, plus small files this package writes."""
    paths = sorted((root / "tests" / "data").glob("*.mat"))
    if big:
        paths += sorted((root / "matlab_reference").glob("*.mat"))
    seeds = [(path.name, path.read_bytes()) for path in paths]
    with tempfile.TemporaryDirectory(dir=_scratch()) as folder:
        for name, fmt, value in _written_values():
            target = Path(folder) / f"{name}.mat"
            matfile.savemat(target, value, format=fmt)
            seeds.append((f"written_{name}", target.read_bytes()))
    seeds.append(("written_v4", _v4_file()))
    seeds.append(("written_latest_v73", _latest_file()))
    seeds += [(f"{label}_uncompressed", _uncompress_v5(data)) for label, data in list(seeds)
              if _is_v5(data)]
    return seeds


def _written_values():
    from cnntoolbox import cnnsetup

    rng = np.random.default_rng(5)
    net = {"layers": [{"type": "i"}, {"type": "c", "outputmaps": 2, "kernelsize": 3},
                      {"type": "s", "scale": 2}]}
    net = cnnsetup(net, rng.random((8, 8, 2)), rng.random((2, 2)), rng=np.random.default_rng(1))
    misc = {"s": {"a": 1.0, "b": "text", "c": [1.0, "x", [2.0]], "d": np.arange(6).reshape(2, 3),
                  "e": np.zeros((0, 3)), "f": np.array([1 + 2j]), "g": True},
            "sa": [{"k": 1.0}, {"k": np.int8([1, 2])}]}
    out = []
    for fmt in ("7", "7.3"):
        tag = fmt.replace(".", "")
        out += [(f"net_v{tag}", fmt, {"net": net}), (f"misc_v{tag}", fmt, misc)]
    return out


def _latest_file():
    """A v7.3 file in HDF5's newest format: a struct of 40 fields (dense links: a fractal heap and
    v2 B-trees), chunked arrays indexed by an extensible array and a fixed array, v2 headers."""
    with tempfile.TemporaryDirectory(dir=_scratch()) as folder:
        path = os.path.join(folder, "latest.mat")
        with h5py.File(path, "w", userblock_size=512, libver="latest") as h5:
            group = h5.create_group("s")
            group.attrs["MATLAB_class"] = np.bytes_("struct")
            for i in range(40):
                group[f"f{i:02d}"] = np.full((1, 1), float(i))
                group[f"f{i:02d}"].attrs["MATLAB_class"] = np.bytes_("double")
            for name, maxshape in (("grow", (None, 4)), ("fixed", (64, 4))):
                h5.create_dataset(name, data=np.arange(256.0).reshape(64, 4), chunks=(4, 4),
                                  maxshape=maxshape)
                h5[name].attrs["MATLAB_class"] = np.bytes_("double")
        with open(path, "r+b") as fileobj:
            fileobj.write(v73_header())
        return Path(path).read_bytes()


def _v4_file():
    import scipy.io
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"a": np.arange(12.0).reshape(3, 4), "t": "text"}, format="4")
    return buffer.getvalue()


def _is_v5(data):
    return len(data) >= 128 and data[126:128] in (b"IM", b"MI") and data[124:126] in (
        b"\x00\x01", b"\x01\x00")


def _v5_elements(data):
    """(start, end, type, payload) of the top-level elements of a v5 file (best effort)."""
    order = "<" if data[126:128] == b"IM" else ">"
    pos, out = 128, []
    while pos + 8 <= len(data):
        kind, nbytes = struct.unpack(order + "II", data[pos:pos + 8])
        end = min(len(data), pos + 8 + nbytes)
        out.append((pos, end, kind, data[pos + 8:end]))
        pos = end
    return order, out


def _uncompress_v5(data):
    """The same v5 file with every compressed variable stored uncompressed."""
    elements = _v5_elements(data)[1]
    parts = [data[:128]]
    for start, end, kind, payload in elements:
        if kind == 15:
            try:
                parts.append(zlib.decompress(payload))
                continue
            except zlib.error:
                pass
        parts.append(data[start:end])
    return b"".join(parts)


def _scratch():
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


#: Files outside the fuzzed file: no load may ever return their bytes (a "leak" failure).
CANARY_BYTES = b"CNNTOOLBOX-CANARY-7f3a" * 64
CANARY = CANARY_H5 = None


def make_canaries(folder):
    """Write the canary files in ``folder``: raw bytes, and an HDF5 file whose 'x' holds them."""
    global CANARY, CANARY_H5
    CANARY = os.path.join(folder, "canary.bin")
    CANARY_H5 = os.path.join(folder, "canary.h5")
    Path(CANARY).write_bytes(CANARY_BYTES)
    with h5py.File(CANARY_H5, "w") as h5:
        h5["x"] = np.frombuffer(CANARY_BYTES, np.uint8)
        h5["x"].attrs["MATLAB_class"] = np.bytes_("uint8")


def holds_canary(value):
    """Whether a loaded value holds any part of the canary's bytes."""
    mark = CANARY_BYTES[:16]
    if isinstance(value, dict):
        return any(holds_canary(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(holds_canary(item) for item in value)
    if isinstance(value, np.ndarray) and value.dtype == object:
        return any(holds_canary(item) for item in value.flat)
    if isinstance(value, np.ndarray):
        return mark in value.tobytes() or mark.decode() in str(value)
    return mark.decode() in str(value)


# --- byte mutations -------------------------------------------------------------------------

def mutate_bytes(rng, data):
    """One to four random byte-level damages of ``data``: flips, runs, sizes, cuts, headers."""
    data = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 4))):
        if not data:
            break
        op = rng.randrange(9)
        at = rng.randrange(len(data))
        if op == 0:                                  # bit flips
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif op == 1:                                # a run of one byte value
            run = rng.randint(1, 64)
            data[at:at + run] = bytes([rng.choice((0, 0xFF, rng.randrange(256)))]) * run
        elif op == 2:                                # an interesting integer (a size, a count)
            width, fmt = rng.choice(((4, "I"), (8, "Q"), (2, "H")))
            at -= at % width
            value = rng.choice(_INTERESTING) % (2 ** (8 * width))
            data[at:at + width] = struct.pack(rng.choice("<>") + fmt, value)
        elif op == 3:                                # truncation
            del data[rng.randrange(len(data)):]
        elif op == 4:                                # header damage
            head = rng.randrange(min(len(data), 136))
            data[head] = rng.randrange(256)
        elif op == 5:                                # random bytes
            run = rng.randint(1, 256)
            data[at:at + run] = rng.randbytes(min(run, len(data) - at))
        elif op == 6:                                # a duplicated block
            run = rng.randint(1, 512)
            data[at:at] = data[at:at + run]
        elif op == 7:                                # a deleted block
            del data[at:at + rng.randint(1, 512)]
        else:                                        # a copied block elsewhere
            run = rng.randint(8, 256)
            src = rng.randrange(len(data))
            data[at:at + run] = data[src:src + run]
    return bytes(data)


def mutate_v5_inside(rng, data):
    """Damage the decompressed contents of one compressed v5 variable, then recompress it."""
    order, elements = _v5_elements(data)
    compressed = [e for e in elements if e[2] == 15]
    if not compressed:
        return mutate_bytes(rng, data)
    start, end, _, payload = rng.choice(compressed)
    try:
        inner = zlib.decompress(payload)
    except zlib.error:
        return mutate_bytes(rng, data)
    inner = mutate_bytes(rng, inner)
    packed = zlib.compress(inner)
    return data[:start] + struct.pack(order + "II", 15, len(packed)) + packed + data[end:]


# --- HDF5 structures, edited field by field -----------------------------------------------

def lookup3(data, initval=0):
    """Bob Jenkins' lookup3 ``hashlittle`` of ``data``: the checksum of HDF5's metadata."""
    def rot(x, k):
        return ((x << k) | (x >> (32 - k))) & 0xFFFFFFFF

    def word(at):
        return int.from_bytes(data[at:at + 4].ljust(4, b"\0"), "little")

    mask = 0xFFFFFFFF
    a = b = c = (0xDEADBEEF + len(data) + initval) & mask
    at, left = 0, len(data)
    while left > 12:
        a, b, c = (a + word(at)) & mask, (b + word(at + 4)) & mask, (c + word(at + 8)) & mask
        a = ((a - c) & mask) ^ rot(c, 4); c = (c + b) & mask
        b = ((b - a) & mask) ^ rot(a, 6); a = (a + c) & mask
        c = ((c - b) & mask) ^ rot(b, 8); b = (b + a) & mask
        a = ((a - c) & mask) ^ rot(c, 16); c = (c + b) & mask
        b = ((b - a) & mask) ^ rot(a, 19); a = (a + c) & mask
        c = ((c - b) & mask) ^ rot(b, 4); b = (b + a) & mask
        at, left = at + 12, left - 12
    if left == 0:
        return c
    tail = data[at:at + left].ljust(12, b"\0")          # the missing bytes add nothing
    a = (a + int.from_bytes(tail[0:4], "little")) & mask
    b = (b + int.from_bytes(tail[4:8], "little")) & mask
    c = (c + int.from_bytes(tail[8:12], "little")) & mask
    c ^= b; c = (c - rot(b, 14)) & mask
    a ^= c; a = (a - rot(c, 11)) & mask
    b ^= a; b = (b - rot(a, 25)) & mask
    c ^= b; c = (c - rot(b, 16)) & mask
    a ^= c; a = (a - rot(c, 4)) & mask
    b ^= a; b = (b - rot(a, 14)) & mask
    c ^= b; c = (c - rot(b, 24)) & mask
    return c


#: Checksummed HDF5 headers (8-byte addresses and lengths): signature -> (bytes before the
#: checksum, the fields worth editing as (offset, width)).
_HEADERS = {
    b"BTHD": (34, [(5, 1), (6, 4), (10, 2), (12, 2), (16, 8), (24, 2), (26, 8)]),
    b"FRHP": (142, [(5, 2), (10, 4), (62, 8), (70, 8), (78, 8), (110, 2), (112, 8), (120, 8),
                    (128, 2), (130, 2), (132, 8), (140, 2)]),
    b"EAHD": (68, [(6, 1), (7, 1), (8, 1), (9, 1), (10, 1), (11, 1), (12, 8), (20, 8), (28, 8),
                   (36, 8), (44, 8), (52, 8), (60, 8)]),
    b"FAHD": (24, [(5, 1), (6, 1), (7, 1), (8, 8), (16, 8)]),
}


def _signatures(data, names):
    """(position, signature) of every occurrence of the signatures ``names`` in ``data``."""
    found = []
    for name in names:
        at = data.find(name)
        while at >= 0:
            found.append((at, name))
            at = data.find(name, at + 1)
    return found


def mutate_hdf5_structure(rng, data):
    """Edit one HDF5 structure of ``data`` where its meaning is: B-trees, heaps, array indices.

    * a v1 B-tree node (``TREE``): made a level-1..7 node whose children are
      itself or all one other node (a shared child), or given more entries;
    * a checksummed header (v2 B-tree ``BTHD``, fractal heap ``FRHP``,
      extensible array ``EAHD``, fixed array ``FAHD``): one field set to an
      interesting value (0, 1, all ones, +1, 2^32, ...), the checksum fixed
      after the edit so that HDF5 goes on to use the field;
    * a v2 object header (``OHDR``): one byte of its messages changed, the
      checksum fixed.

    Files without such a structure get byte damage instead.
    """
    data = bytearray(data)
    found = _signatures(data, [b"TREE", b"OHDR", *_HEADERS])
    if not found:
        return mutate_bytes(rng, bytes(data))
    at, name = rng.choice(found)
    if name == b"TREE" and at + 40 <= len(data):
        nodes = [position for position, kind in found if kind == b"TREE" and position != at]
        used = struct.unpack_from("<H", data, at + 6)[0]
        roll = rng.random()
        if roll < 0.15:
            struct.pack_into("<H", data, at + 6, rng.choice((used + 1, 64, 0xFFFF)))
        else:
            data[at + 5] = rng.randint(1, 7)
            child = at - 512 if roll < 0.55 or not nodes else rng.choice(nodes) - 512
            key = 8 if data[at + 4] == 0 else 8 + 8 * rng.randint(1, 3)    # group / chunk keys
            for index in range(max(1, used)):
                pos = at + 24 + key + index * (key + 8)
                if pos + 8 <= len(data):
                    struct.pack_into("<Q", data, pos, child)
        return bytes(data)
    if name == b"OHDR":
        flags = data[at + 5]
        start = at + 6 + 16 * bool(flags & 0x20) + 4 * bool(flags & 0x10)
        width = 1 << (flags & 3)
        size = int.from_bytes(data[start:start + width], "little")
        end = start + width + size
        if end + 4 > len(data) or size == 0:
            return mutate_bytes(rng, bytes(data))
        data[rng.randrange(start + width, end)] = rng.randrange(256)
        struct.pack_into("<I", data, end, lookup3(bytes(data[at:end])))
        return bytes(data)
    length, fields = _HEADERS[name]
    if at + length + 4 > len(data):
        return mutate_bytes(rng, bytes(data))
    for _ in range(rng.choice((1, 1, 2))):
        offset, width = rng.choice(fields)
        old = int.from_bytes(data[at + offset:at + offset + width], "little")
        value = rng.choice((0, 1, old + 1, old - 1, old * 2, 2 ** 32, 2 ** 31 - 1,
                            2 ** (8 * width) - 1, rng.randrange(2 ** (8 * width))))
        data[at + offset:at + offset + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
    struct.pack_into("<I", data, at + length, lookup3(bytes(data[at:at + length])))
    return bytes(data)


# --- v5 from scratch ------------------------------------------------------------------------

def _tag(kind, payload, order="<"):
    pad = (-len(payload)) % 8
    return struct.pack(order + "II", kind, len(payload)) + payload + bytes(pad)


def _matrix(cls, dims, name=b"x", body=b"", order="<", flags=0, declared=None):
    content = (_tag(6, struct.pack(order + "II", cls | flags, 0), order)
               + _tag(5, struct.pack(order + f"{len(dims)}i", *dims), order)
               + _tag(1, name, order) + body)
    if declared is None:
        declared = len(content)
    return struct.pack(order + "II", 14, declared) + content


def v5_header(order="<"):
    mark = b"IM" if order == "<" else b"MI"
    version = struct.pack(order + "H", 0x0100)
    return b"MATLAB 5.0 MAT-file, fuzz".ljust(116, b" ") + bytes(8) + version + mark


def random_v5(rng):
    """A v5 file built from scratch with absurd declared sizes, bombs and odd classes."""
    order = rng.choice("<<>")
    big = rng.choice((2 ** 31 - 1, 10 ** 9, 65536, 2 ** 20, 3))
    kind = rng.randrange(10)
    if kind == 0:                      # cell declaring a huge number of elements
        body = _matrix(6, [1, 1], b"", _tag(9, bytes(8), order), order)
        var = _matrix(1, [big, big], b"c", body, order)
    elif kind == 1:                    # struct declaring a huge struct array
        body = _tag(5, struct.pack(order + "i", 32), order) + _tag(1, b"a".ljust(32, b"\0"), order)
        var = _matrix(2, [big, rng.choice((1, big))], b"s", body, order)
    elif kind == 2:                    # numeric data tag declaring more bytes than there are
        body = struct.pack(order + "II", 9, rng.choice((2 ** 32 - 8, 2 ** 31, 10 ** 9))) + bytes(16)
        var = _matrix(6, [big, 1], b"x", body, order)
    elif kind == 3:                    # a compressed bomb: zeros that inflate far beyond the file
        inflated = rng.choice((2 ** 24, 2 ** 27, 2 ** 28 + 2 ** 27))
        var = _matrix(6, [inflated // 8, 1], b"z", struct.pack(order + "II", 9, inflated),
                      order, declared=rng.choice((None, 64 + inflated)))
        return v5_header(order) + _tag(15, _zero_bomb(var, inflated), order)
    elif kind == 4:                    # sparse with huge dims and nzmax
        body = _tag(5, struct.pack(order + "i", 0), order) * 2 + _tag(9, b"", order)
        var = _matrix(5, [big, big], b"p", body, order)
    elif kind == 5:                    # function handle, object, opaque
        cls = rng.choice((3, 16, 17))
        body = _tag(1, b"inline", order) + _tag(5, struct.pack(order + "i", 8), order)
        var = _matrix(cls, [1, 1], b"f", body + _matrix(1, [big, 1], b"", b"", order), order)
    elif kind == 6:                    # many dimensions
        var = _matrix(6, [big] * rng.randint(3, 40), b"d", _tag(9, bytes(8), order), order)
    elif kind == 7:                    # struct with field-name length zero or huge
        body = (_tag(5, struct.pack(order + "i", rng.choice((0, 1, 2 ** 31 - 1))), order)
                + _tag(1, b"ab", order))
        var = _matrix(2, [1, 1], b"s", body, order)
    elif kind == 8:                    # nested cells deeper than anyone needs
        var = _matrix(6, [0, 0], b"", b"", order)
        for _ in range(rng.choice((50, 500, 5000))):
            var = _matrix(1, [1, 1], b"", var, order)
    else:                              # a char array declaring big dims, utf variants
        body = _tag(rng.choice((4, 16, 17, 18)), b"\xff\xfe\x00\xd8abc", order)
        var = _matrix(4, [1, rng.choice((3, big))], b"t", body, order)
    if rng.random() < 0.5:
        var = _tag(15, zlib.compress(var), order)
    return v5_header(order) + var


_BOMBS = {}


def _zero_bomb(prefix, inflated):
    """zlib stream of ``prefix`` then ``inflated`` zero bytes (cached: compressing is slow)."""
    key = (prefix, inflated)
    if key not in _BOMBS:
        packer = zlib.compressobj(9)
        parts = [packer.compress(prefix)]
        block = bytes(2 ** 22)
        for _ in range(inflated // len(block)):
            parts.append(packer.compress(block))
        parts.append(packer.flush())
        _BOMBS[key] = b"".join(parts)
    return _BOMBS[key]


# --- v7.3 from scratch ----------------------------------------------------------------------

_CLASSES = ["double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
            "uint64", "logical", "char", "cell", "struct", "function_handle", "string", "",
            "canonical empty", "double\0junk", "containers.Map", "sparse"]


def random_h5(rng, path):
    """Write at ``path`` a random MATLAB-looking HDF5 layout: odd classes, links, references."""
    with h5py.File(path, "w", userblock_size=512, libver=rng.choice(("earliest", "latest"))) as h5:
        refs = h5.create_group("#refs#")
        pool = [refs.create_dataset("a", data=np.array([0, 0], np.uint64))]
        pool[0].attrs["MATLAB_class"] = np.bytes_("canonical empty")
        pool[0].attrs["MATLAB_empty"] = np.uint8(1)
        for i in range(rng.randint(1, 12)):
            parent = rng.choice([h5, refs] + [o for o in pool if isinstance(o, h5py.Group)])
            name = rng.choice("abcdefghij") + str(i)
            pool.append(_random_object(rng, h5, parent, name, pool))
    with open(path, "r+b") as fileobj:
        fileobj.write(v73_header())


def _random_object(rng, h5, parent, name, pool):
    kind = rng.randrange(19)
    cls = rng.choice(_CLASSES)
    if kind == 0:                                    # references, to anything (even itself)
        shape = rng.choice(((1, 1), (1, 3), (2, 2), (0, 1)))
        obj = parent.create_dataset(name, shape=shape, dtype=h5py.ref_dtype)
        targets = pool + [obj, h5, parent]
        for index in np.ndindex(shape):
            obj[index] = rng.choice(targets).ref if rng.random() < 0.9 else h5py.Reference()
        cls = rng.choice(("cell", "cell", None, "struct"))
    elif kind == 1:                                  # a struct group, fields matching or not
        obj = parent.create_group(name)
        members = rng.sample("xyzw", rng.randint(0, 4))
        for member in members:
            child = obj.create_dataset(member, data=rng.random())
            child.attrs["MATLAB_class"] = np.bytes_("double")
        listed = rng.choice((members, members[:1], list("xq"), []))
        vlen = h5py.vlen_dtype(np.dtype("S1"))
        fields = np.empty(len(listed), dtype=vlen)
        for i, field in enumerate(listed):
            fields[i] = np.array(list(field), dtype="S1")
        if rng.random() < 0.8:
            obj.attrs.create("MATLAB_fields", fields, dtype=vlen)
        cls = rng.choice(("struct", "struct", "cell", None))
    elif kind == 2:                                  # MATLAB_empty with absurd dims
        dims = rng.choice(([10 ** 18, 0], [10 ** 18, 10 ** 18], [2 ** 64 - 1, 1], [0] * 40,
                           [-1, 0], [0]))
        dtype = rng.choice((np.uint64, np.int64, np.float64))
        with np.errstate(invalid="ignore"):
            dims = np.array(dims, dtype=object).astype(np.float64).astype(dtype)
        obj = parent.create_dataset(name, data=dims)
        obj.attrs["MATLAB_empty"] = rng.choice((np.uint8(1), np.int64(5), np.array([1, 1])))
    elif kind == 3:                                  # a huge declared shape, never written
        shape = rng.choice(((10 ** 6, 10 ** 6), (2 ** 31, 1), (10 ** 5, 10 ** 4), (1000, 1000)))
        obj = parent.create_dataset(name, shape=shape, dtype=np.float64,
                                    chunks=tuple(min(n, 64) for n in shape),
                                    fillvalue=rng.choice((0.0, 1.5)))
    elif kind == 4:                                  # a compressed bomb within HDF5
        n = rng.choice((2 ** 20, 2 ** 24, 2 ** 25))
        chunk = rng.choice((n // 4, 128))            # 128: chunks that inflate beyond their size
        obj = parent.create_dataset(name, shape=(n, 1), dtype=np.float64, chunks=(chunk, 1),
                                    compression="gzip")
        packed = _zero_bomb(b"", n * 2)
        for start in range(0, n, chunk)[:4]:
            obj.id.write_direct_chunk((start, 0), packed)
    elif kind == 5:                                  # wrong dtypes
        data = rng.choice((np.array([b"text"]), np.array([1.5], np.float16),
                           np.array([(1.0, 2.0)], dtype=[("re", "f8"), ("im", "f8")]),
                           np.array([(1.0, 2.0, 3.0)], dtype=[("real", "f8"), ("imag", "f8"),
                                                             ("x", "f8")]),
                           np.array([True]), np.zeros((2, 2, 2, 2)), np.array(7, np.int8),
                           np.array([1 + 2j])))
        obj = parent.create_dataset(name, data=data)
        if rng.random() < 0.3:
            obj.attrs["MATLAB_int_decode"] = np.int32(rng.randrange(-2, 5))
    elif kind == 6:                                  # soft links, loops, external links
        target = rng.choice(("/" + name, "/nowhere", f"/{name}/x", "/#refs#/a"))
        if rng.random() < 0.5:
            parent[name] = h5py.SoftLink(target)
        else:
            parent[name] = h5py.ExternalLink(rng.choice(("/etc/passwd", "other.mat", name)),
                                             target)
        return parent
    elif kind == 7:                                  # a hard link loop (a group inside itself)
        obj = parent.create_group(name)
        obj["self"] = obj
        obj["up"] = parent
    elif kind == 8:                                  # sparse groups with broken parts
        obj = parent.create_group(name)
        obj.attrs["MATLAB_sparse"] = rng.choice((np.uint64(3), np.uint64(2 ** 63),
                                                 np.int64(-1), np.array([], np.uint64)))
        obj["jc"] = np.array(rng.choice(([0, 1, 2], [0, 10 ** 9], [5, 0], [])), np.uint64)
        obj["ir"] = np.array(rng.choice(([0, 1], [9, 9], [])), np.uint64)
        obj["data"] = np.array(rng.choice(([1.0, 2.0], [1.0], [])))
        cls = rng.choice(("double", "logical", "int8"))
    elif kind == 9:                                  # char with odd data
        data = rng.choice((np.array([[0xD800, 0xDC00, 65]], np.uint16),
                           np.array([[-1, 2 ** 40]], np.int64), np.array([[65.5]]),
                           np.zeros((3, 2, 2), np.uint16)))
        obj = parent.create_dataset(name, data=data)
        cls = "char"
    elif kind == 10:                                 # an attribute with a huge dataspace
        obj = parent.create_dataset(name, data=np.ones((1, 1)))
        space = h5py.h5s.create_simple((rng.choice((10 ** 6, 2 ** 24)),))
        aid = h5py.h5a.create(obj.id, b"MATLAB_fields", h5py.h5t.NATIVE_UINT8, space)
        aid.close()
    elif kind == 11:                                 # a reference bomb: one big array many times
        big = parent.create_dataset(name + "_big", data=np.zeros((256, 256)),
                                    compression="gzip")
        big.attrs["MATLAB_class"] = np.bytes_("double")
        obj = parent.create_dataset(name, data=np.array([[big.ref] * 2048], h5py.ref_dtype))
        cls = "cell"
    elif kind == 13:                                 # external raw storage: the canary file
        size, dtype = os.path.getsize(CANARY), rng.choice((np.uint8, np.float64))
        obj = parent.create_dataset(name, shape=(1, size // np.dtype(dtype).itemsize),
                                    dtype=dtype, external=[(CANARY, 0, size)])
        cls = rng.choice(("uint8", "double", "char"))
    elif kind == 14:                                 # a virtual dataset over the canary HDF5
        layout = h5py.VirtualLayout(shape=(len(CANARY_BYTES),), dtype=np.uint8)
        layout[:] = h5py.VirtualSource(CANARY_H5, "x", shape=(len(CANARY_BYTES),))
        obj = parent.create_virtual_dataset(name, layout)
        cls = rng.choice(("uint8", "char"))
    elif kind == 15:                                 # external links into the canary HDF5
        parent[name] = h5py.ExternalLink(CANARY_H5, rng.choice(("/x", "/")))
        return parent
    elif kind == 16:                                 # a shared-reference bomb: 10^3-10^6 refs
        count = rng.choice((1000, 2 ** 16, 2 ** 19 + 1, 10 ** 6))
        target = h5["#refs#"]["a"] if rng.random() < 0.8 else rng.choice(pool)
        obj = parent.create_dataset(name, shape=(1, count), dtype=h5py.ref_dtype,
                                    chunks=(1, min(count, 2 ** 16)), compression="gzip")
        obj[0, :] = np.array([target.ref] * count, dtype=h5py.ref_dtype)
        cls = "cell"
    elif kind == 17:                                 # nested bombs: cells of many shared refs
        inner = []
        for i in range(rng.choice((4, 64, 160))):
            cell = parent.create_dataset(f"{name}_{i}", shape=(1, 4096), dtype=h5py.ref_dtype,
                                         chunks=(1, 4096), compression="gzip")
            cell[0, :] = np.array([h5["#refs#"]["a"].ref] * 4096, dtype=h5py.ref_dtype)
            cell.attrs["MATLAB_class"] = np.bytes_("cell")
            inner.append(cell.ref)
        obj = parent.create_dataset(name, data=np.array([inner], dtype=h5py.ref_dtype))
        cls = "cell"
    elif kind == 18:                                 # a filter MATLAB never uses (lzf)
        obj = parent.create_dataset(name, data=np.frombuffer(CANARY_BYTES, np.uint8)
                                    .reshape(1, -1), compression="lzf")
        cls = rng.choice(("uint8", "double"))
    elif kind == 12:                                 # region and odd references
        base = parent.create_dataset(name + "_r", data=np.ones((4, 4)))
        obj = parent.create_dataset(name, shape=(1, 1), dtype=h5py.regionref_dtype)
        obj[0, 0] = base.regionref[0:2, 0:2]
        cls = "cell"
    else:                                            # a plain numeric array
        obj = parent.create_dataset(name, data=np.random.default_rng(rng.randrange(99))
                                    .random((rng.randint(0, 3), rng.randint(1, 4))))
    if cls is not None:
        value = rng.choice((np.bytes_(cls), cls, np.array([cls.encode()] * 2), np.int32(3)))
        obj.attrs["MATLAB_class"] = value
    if rng.random() < 0.05:
        obj.attrs["MATLAB_object_decode"] = np.int32(3)
    return obj


# --- running one input ----------------------------------------------------------------------

def _on_alarm(signum, frame):
    raise Timeout()


def budget_of(size):
    """The loader's memory budget for a file of ``size`` bytes (see matfile.loadmat)."""
    return max(_values.MIN_BUDGET, 1024 * size)


def parse_as_loadmat(path):
    """What ``loadmat(path)`` returns, with its reader run in this process, not in a child.

    The same steps: the checks of the path, the version from the header,
    the in-child parser (``_child.parse``), the data-only container written
    and decoded (``_wire``), the nets reconciled; only the child process
    is left out, so that a long run needs no new interpreter per input.
    An input that kills or hangs this is run again through the real
    ``loadmat`` by the supervisor (:func:`confirm_contained`).
    """
    from cnntoolbox.matfile import _child, _dispatch, _wire
    _dispatch.check_readable(path)
    version = _dispatch._version(path)
    values, _ = _child.parse(path, version, None, _values.memory_budget(os.path.getsize(path)))
    buffer = io.BytesIO()
    _wire.write(buffer, values)
    size = buffer.tell()
    buffer.seek(0)
    values, _ = _wire.decode(buffer, size)
    return {name: _dispatch._reconcile(value, name) for name, value in values.items()}


def run_one(path, size, seconds, trace=True):
    """Load ``path`` once (:func:`parse_as_loadmat`); return (outcome, traced peak bytes, detail).

    A ``MemoryError`` or a traced peak above the budget is ``contained:memory``:
    the reader child runs under an address-space limit, so ``loadmat``
    turns it into a ``MatFileError``.
    """
    if trace:
        tracemalloc.start()
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        loaded = parse_as_loadmat(path)
        outcome, detail = "ok", ""
        if holds_canary(loaded):
            outcome, detail = "leak", "the result holds bytes of another file"
    except Timeout:
        outcome, detail = "timeout", ""
    except ValueError as error:
        detail = str(error)
        outcome = type(error).__name__
        if "MemoryError" in detail or isinstance(error.__context__, MemoryError):
            outcome = "contained:memory"
    except MemoryError:
        outcome, detail = "contained:memory", ""
    except FileNotFoundError as error:
        outcome, detail = "FileNotFoundError", str(error)
    except BaseException as error:          # classifying every failure is the point
        if isinstance(error, KeyboardInterrupt):
            raise
        outcome, detail = f"crash:{type(error).__name__}", traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if peak > 2 * budget_of(size) + 2 ** 26 and not outcome.startswith("crash"):
            outcome, detail = "contained:memory", f"traced peak {peak} bytes"
    return outcome, peak, detail


def confirm_contained(path, what):
    """The outcome of the real ``loadmat`` on an input that ``what`` (killed, hung) a worker.

    ``contained:<what>`` when loadmat ended it with a ``MatFileError`` (or a
    load), else ``escaped:<type>``, a failure: the isolation did not hold.
    """
    try:
        matfile.loadmat(path)
    except matfile.MatFileError as error:
        text = str(error)
        for mark, kind in (("crashed on this file (", None), ("CPU time", "cpu"),
                           ("longer than", "wall"), ("memory", "memory")):
            if mark in text:
                what = text.split(mark)[1].split(")")[0] if kind is None else kind
                break
        return f"contained:{what}"
    except BaseException as error:  # noqa: BLE001 - classifying every failure is the point
        if isinstance(error, KeyboardInterrupt):
            raise
        return f"escaped:{type(error).__name__}"
    return f"contained:{what}(loaded)"


def family_pool(seeds, family):
    """The seeds of one family ('v5': v4/v6/v7, 'v73'), each with its weight."""
    pool = [(label, data) for label, data in seeds
            if (len(data) > 520 and data[512:520] == b"\x89HDF\r\n\x1a\n") == (family == "v73")]
    # loads cost about the file's size: favour the small seeds
    return pool, [1.0 / (1 + len(data) / 20000) for _, data in pool]


def make_input(rng, pool, weights, family, path):
    """Write one mutant of ``family`` at ``path``; return how it was made."""
    roll = rng.random()
    if family == "v73" and roll < 0.35:
        random_h5(rng, path)
        if rng.random() < 0.3:
            Path(path).write_bytes(mutate_bytes(rng, Path(path).read_bytes()))
            return "h5_layout:bytes"
        return "h5_layout"
    if family == "v5" and roll < 0.15:
        Path(path).write_bytes(random_v5(rng))
        return "v5_layout"
    label, data = rng.choices(pool, weights)[0]
    if roll > 0.93:                                  # truncated, as a full disk leaves a file
        cut = rng.randrange(len(data))
        Path(path).write_bytes(data[:cut])
        if rng.random() < 0.5:                       # the size kept, the rest a hole of zeros
            os.truncate(path, len(data))
            return f"{label}:hole"
        return f"{label}:truncated"
    if family == "v5" and _is_v5(data) and rng.random() < 0.5:
        data, how = mutate_v5_inside(rng, data), "inside"
    elif family == "v73" and rng.random() < 0.5:
        data, how = mutate_hdf5_structure(rng, data), "structure"
    else:
        data, how = mutate_bytes(rng, data), "bytes"
    Path(path).write_bytes(data)
    return f"{label}:{how}"


def work(family, seed, start, stop, seconds, trace_every, folder, crash_dir, big=True,
         out=sys.stdout):
    """Worker: run inputs ``start`` .. ``stop - 1``, one line per input on ``out``.

    ``B i label`` before loading input ``i`` (at ``folder/mutant_<family>.mat``),
    ``E i outcome traced-peak rss`` after (rss: the process's peak resident
    size if this load raised it, else 0); a failing input is kept in ``crash_dir``.
    """
    rng = random.Random(f"{seed}:{start}")
    make_canaries(folder)
    pool, weights = family_pool(seed_files(big=big), family)
    path = os.path.join(folder, f"mutant_{family}.mat")
    for i in range(start, stop):
        try:
            label = make_input(rng, pool, weights, family, path)
        except Exception:  # noqa: BLE001 - h5py refusing to build a random layout
            print(f"E {i} skipped(generator) 0 0", file=out, flush=True)
            continue
        print(f"B {i} {label}", file=out, flush=True)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        trace = bool(trace_every) and i % trace_every == 0
        outcome, peak, detail = run_one(path, os.path.getsize(path), seconds, trace)
        if outcome in ("timeout", "contained:memory"):     # the isolated loadmat must end it
            outcome = confirm_contained(path, outcome.rsplit(":", 1)[-1])
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss = after * 1024 if after > before else 0       # a new peak that the load made
        if rss > RESIDENT and not is_failure(outcome):
            outcome, detail = "memory", f"resident size {rss} bytes"
        if is_failure(outcome):
            keep(path, crash_dir, f"{family}_{seed}_{i}", f"{label}\n{outcome}\n{detail}\n")
        print(f"E {i} {outcome} {peak} {rss}", file=out, flush=True)


def is_failure(outcome):
    return outcome.startswith(("crash", "escaped")) or outcome in ("timeout", "memory", "leak")


def keep(path, crash_dir, stem, text):
    """Move a failing input and its story to ``crash_dir``."""
    if crash_dir is None or not os.path.exists(path):
        return
    os.makedirs(crash_dir, exist_ok=True)
    shutil.move(path, os.path.join(crash_dir, stem + ".mat"))
    Path(crash_dir, stem + ".txt").write_text(text)


def fuzz(family, count, seed, seconds=10.0, trace_every=1, crash_dir=None, big=True, report=None,
         hang=None, keep_contained=False):
    """Run ``count`` inputs of one family in a supervised worker; return the counts.

    The worker runs under an address-space limit; one that spends ``hang``
    seconds of CPU time on one input (stuck in C, where its alarm cannot
    reach), or stops answering for ``WALL`` seconds (a deadlock), is killed;
    one that dies (a segfault) too; either way its input is run again
    through the real, isolated ``loadmat`` (:func:`confirm_contained`),
    which must end it with a ``MatFileError``, and a new worker goes on with
    the next input (``keep_contained``: keep such inputs in ``crash_dir``).  Time is
    CPU time, so that a worker at nice 19 on a busy machine is not timed out
    for waiting its turn.
    """
    hang = hang or 2 * seconds + 5
    counts = collections.Counter()
    started = time.monotonic()
    max_peak, max_rss = 0, (0, "")
    done = 0
    with tempfile.TemporaryDirectory(dir=_scratch()) as folder:
        while done < count:
            command = [sys.executable, __file__, "--worker", "--family", family,
                       "--seed", str(seed), "--start", str(done), "--inputs", str(count),
                       "--seconds", str(seconds), "--folder", folder,
                       "--crashes", crash_dir or "", "--trace-every", str(trace_every)] \
                + ([] if big else ["--small"])
            worker = subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                                      stderr=subprocess.DEVNULL)
            current = None
            while True:
                line = _next_line(worker, hang)
                if not line:
                    break
                word, index, *rest = line.split(maxsplit=2)
                if word == "B":
                    current = (int(index), rest[0].strip() if rest else "")
                    continue
                outcome, peak, rss = rest[0].split()
                counts[outcome] += 1
                counts["failures"] += is_failure(outcome)
                max_peak = max(max_peak, int(peak))
                if int(rss) > max_rss[0]:
                    max_rss = (int(rss), current[1] if current else "generator")
                done, current = int(index) + 1, None
                if report and done % report == 0:
                    print(json.dumps(_summary(family, seed, done, counts, started, max_peak, max_rss)),
                          flush=True)
            if worker.poll() is None:
                worker.kill()
            code = worker.wait()
            worker.stdout.close()
            if current is not None:              # stuck or died while loading an input
                mutant = os.path.join(folder, f"mutant_{family}.mat")
                outcome = confirm_contained(mutant, "hang" if line is None else f"exit{code}")
                counts[outcome] += 1
                counts["failures"] += is_failure(outcome)
                if is_failure(outcome) or keep_contained:
                    keep(mutant, crash_dir, f"{family}_{seed}_{current[0]}",
                         f"{current[1]}\n{outcome}\n")
                done = current[0] + 1
            elif done < count and line is None:
                done += 1                         # stuck building an input: skip it
                counts["skipped(generator)"] += 1
            elif done < count:
                raise RuntimeError(f"fuzz worker exited with {code} between inputs")
    return _summary(family, seed, count, counts, started, max_peak, max_rss)


def _next_line(worker, hang):
    """The worker's next line; None once it spent ``hang`` CPU seconds or WALL seconds without."""
    cpu, wall = _cpu_seconds(worker.pid), time.monotonic()
    while True:
        ready, _, _ = select.select([worker.stdout], [], [], 1.0)
        if ready:
            return worker.stdout.readline()
        if (_cpu_seconds(worker.pid) - cpu > hang or time.monotonic() - wall > WALL):
            return None


def _cpu_seconds(pid):
    """CPU time (user + system) a process has used, from /proc; wall time elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return time.monotonic()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _summary(family, seed, count, counts, started, max_peak, max_rss):
    return {"family": family, "seed": seed, "inputs": count,
            "seconds": round(time.monotonic() - started, 1),
            "max_traced_peak_MiB": round(max_peak / 2 ** 20, 1),
            "max_rss_MiB_by_a_load": round(max_rss[0] / 2 ** 20, 1), "max_rss_input": max_rss[1],
            "counts": dict(sorted(counts.items()))}


def limit_address_space(nbytes=ADDRESS_SPACE):
    """Cap this process's address space so that a runaway allocation fails fast."""
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard == resource.RLIM_INFINITY or hard > nbytes:
        resource.setrlimit(resource.RLIMIT_AS, (nbytes, hard))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", choices=("v5", "v73"), required=True)
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="CPU time budget per input")
    parser.add_argument("--trace-every", type=int, default=1, metavar="N",
                        help="measure the traced memory peak of every Nth input (0: never); "
                             "tracemalloc makes a load about 4x slower")
    parser.add_argument("--small", action="store_true", help="leave out the large seeds")
    parser.add_argument("--crashes", default="fuzz/crashes", help="folder for failing inputs")
    parser.add_argument("--report", type=int, default=1000, help="print counts every N inputs")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        limit_address_space()
        signal.signal(signal.SIGPROF, _on_alarm)
        work(args.family, args.seed, args.start, args.inputs, args.seconds, args.trace_every,
             args.folder, args.crashes or None, big=not args.small)
        return 0
    summary = fuzz(args.family, args.inputs, args.seed, args.seconds, args.trace_every,
                   args.crashes, big=not args.small, report=args.report)
    print(json.dumps(summary), flush=True)
    return 1 if summary["counts"].get("failures") else 0


if __name__ == "__main__":
    sys.exit(main())
