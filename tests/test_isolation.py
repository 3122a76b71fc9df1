"""loadmat parses every file in a limited child: a file that crashes or hangs the reader is a MatFileError.

The files are made here from what savemat writes, by byte edits (the
crafted files of issue 18); on main each killed or hung the interpreter.
"""

import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnntoolbox.matfile import MatFileError, _isolate, _wire, loadmat, savemat

FINDS = Path(__file__).resolve().parent / "data" / "fuzz"


def _v73_with_self_pointing_btree(tmp_path):
    """A savemat v7.3 file whose root group's v1 B-tree node is a level-1 node with itself as child 0."""
    path = tmp_path / "self.mat"
    savemat(path, {"a": 1.0, "c": [1.0, 2.0]}, format="7.3")
    data = bytearray(path.read_bytes())
    node = data.find(b"TREE")                       # the root group's symbol-table B-tree
    assert node > 512 and data[node + 4:node + 6] == b"\x00\x00"     # group node, level 0
    data[node + 5] = 1                                                # level 1 ...
    struct.pack_into("<Q", data, node + 32, node - 512)              # ... child 0: itself
    path.write_bytes(data)
    return path


def test_a_btree_node_pointing_at_itself_is_a_matfile_error(tmp_path):
    path = _v73_with_self_pointing_btree(tmp_path)
    probe = subprocess.run([sys.executable, "-c", f"import h5py; list(h5py.File({str(path)!r}))"],
                           capture_output=True, check=False, timeout=60)
    assert probe.returncode < 0                       # it kills a process that opens it in-process
    with pytest.raises(MatFileError, match=r"self\.mat: the HDF5 library crashed on this file "
                                           r"\(SIG[A-Z]+\)"):
        loadmat(path)


def _v73_with_shared_child_btree(path, levels, fanout=32):
    """A savemat v7.3 file whose root group's B-tree is ``levels`` levels of nodes whose
    ``fanout`` children are all one node: fanout ** levels walks down to one leaf."""
    savemat(path, {"a": 1.0, "b": 2.0}, format="7.3")
    data = bytearray(path.read_bytes())
    leaf = data.find(b"TREE")                        # the root group's B-tree: one leaf
    key0, _, key1 = struct.unpack_from("<QQQ", data, leaf + 24)
    below = leaf - 512
    for level in range(1, levels + 1):               # appended: TREE, group node, level, fanout
        node = len(data)
        data += b"TREE" + bytes([0, level]) + struct.pack("<H", fanout) + b"\xff" * 16
        data += b"".join(struct.pack("<QQ", key0, below) for _ in range(fanout))
        data += struct.pack("<Q", key1)
        below = node - 512
    old = struct.pack("<Q", leaf - 512)
    at = data.find(old, 512, leaf)
    while at >= 0:                                   # the superblock's cache and the message
        struct.pack_into("<Q", data, at, below)
        at = data.find(old, at + 8, leaf)
    data += bytes(512)
    struct.pack_into("<Q", data, 512 + 40, len(data) - 512)      # the end-of-file address
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("levels, message", [
    (3, r"a: an object read a second time"),                  # 32^3 walks, refused
    (7, r"reading it took more than 2 s of CPU time"),         # 32^7 walks: stopped
])
def test_a_btree_whose_nodes_share_one_child_is_bounded(levels, message, tmp_path, monkeypatch):
    monkeypatch.setattr(_isolate, "CPU_BASE", 2)
    monkeypatch.setattr(_isolate, "CPU_BYTES", 2 ** 62)
    path = _v73_with_shared_child_btree(tmp_path / "shared.mat", levels)
    with pytest.raises(MatFileError, match=r"shared\.mat: " + message):
        loadmat(path)


def test_a_file_that_hangs_the_reader_is_stopped_at_its_cpu_limit(monkeypatch):
    # HDF5 loops forever in C on this file's damaged global heap (a fuzzer find)
    monkeypatch.setattr(_isolate, "CPU_BASE", 1)
    monkeypatch.setattr(_isolate, "CPU_BYTES", 2 ** 62)
    path = FINDS / "v73_virtual_layout_heap_damaged.mat"
    with pytest.raises(MatFileError, match=r"v73_virtual_layout_heap_damaged\.mat: (reading it "
                                           r"took more than 1 s of CPU time|.*virtual)"):
        loadmat(path)


def test_the_child_does_not_import_from_the_users_folder(tmp_path, monkeypatch):
    user = tmp_path / "user"
    user.mkdir()
    marker = tmp_path / "ran"
    for module in ("numpy", "h5py", "scipy", "json", "cnntoolbox"):
        (user / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').write('{module}')\n")
    savemat(user / "x.mat", {"x": np.arange(3.0)}, format="7.3")
    monkeypatch.chdir(user)
    monkeypatch.setenv("PYTHONPATH", str(user))
    monkeypatch.setenv("PYTHONSTARTUP", str(user / "numpy.py"))
    assert loadmat("x.mat")["x"].tolist() == [[0.0, 1.0, 2.0]]
    assert not marker.exists()


def test_errors_name_the_file_as_the_caller_named_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    savemat("v.mat", {"a": 1.0}, format="7.3")
    with pytest.raises(MatFileError, match=r"^v\.mat: no variable 'b' \(it holds a\)$"):
        loadmat("v.mat", "b")


# --- the answer of a child the file took over is data, checked before use ----------------------

def _container(tree, payload=b""):
    text = json.dumps(tree).encode()
    return _wire.MAGIC + struct.pack("<Q", len(text)) + text + payload


@pytest.mark.parametrize("answer, message", [
    (b"\x80\x04\x95pickle", "no container"),
    (_container({"values": [["x", ["a", "|O", [1], "C"]]]}, bytes(8)), "a bad array"),
    (_container({"values": [["x", ["a", "<f8", [2 ** 40], "C"]]]}, bytes(8)), "past its end"),
    (_container({"values": [["x", ["a", "<f8", [2], "C"]]]}, bytes(8)), "past its end"),
    (_container({"values": [["x", ["a", "<f8", [1], "C"]]]}, bytes(16)), "bytes left over"),
    (_container({"values": [["x", ["f", "zz"]]]}), "a bad number"),
    (_container({"values": [["x", ["sp", [3, 3], ["a", "<f8", [1], "C"], ["a", "<i4", [1], "C"],
                                       ["a", "<i4", [4], "C"]]]]},
                bytes(8) + struct.pack("<5i", 7, 0, 0, 0, 1)), "damaged sparse|out of range"),
    (_container({"values": [["x", ["l", []]]]})[:-3], "damaged"),
    (_wire.MAGIC + struct.pack("<Q", 1 + 10 ** 6) + b"[" * (10 ** 6) + b"]", "damaged"),
])
def test_a_damaged_answer_is_refused(answer, message):
    with pytest.raises(MatFileError, match=message):
        _wire.decode(io.BytesIO(answer), len(answer))


def test_the_container_round_trips_every_value_bit_for_bit():
    import scipy.sparse
    values = {"f": float("nan"), "n": -0.0, "c": complex(1e-310, -2.5), "b": True, "s": "\udc00x",
              "a": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "e": np.zeros((0, 3), np.int8),
              "u": np.array(["ab", "cd"]), "l": [{"k": np.uint64([2 ** 64 - 1])}, []],
              "sp": scipy.sparse.csc_matrix(np.array([[0, 1.5], [2.0, 0]]))}
    buffer = io.BytesIO()
    _wire.write(buffer, values, ["f"])
    size = buffer.tell()
    buffer.seek(0)
    out, names = _wire.decode(buffer, size)
    assert names == ["f"] and list(out) == list(values)
    assert struct.pack("<d", out["f"]) == struct.pack("<d", values["f"])
    assert struct.pack("<d", out["n"]) == struct.pack("<d", -0.0)
    assert out["c"] == values["c"] and out["b"] is True and out["s"] == values["s"]
    assert out["a"].flags.f_contiguous and np.array_equal(out["a"], values["a"])
    assert out["e"].dtype == np.int8 and out["e"].shape == (0, 3)
    assert out["u"].tolist() == ["ab", "cd"] and out["l"][0]["k"].tolist() == [2 ** 64 - 1]
    assert (out["sp"] != values["sp"]).nnz == 0 and out["sp"].format == "csc"
    assert out["a"].flags.writeable


# --- one-field edits of HDF5's newer structures, checksums fixed (the crafted files of issue 18) --

def _fuzz_module():
    import importlib.util
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("fuzz_matfile", root / "fuzz" / "fuzz_matfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("signature, offset, width, value", [
    (b"BTHD", 10, 2, 0),                   # v2 B-tree record size 0 (SIGFPE in HDF5)
    (b"BTHD", 5, 1, 2),                    # tree type 5 -> 2 (SIGSEGV)
    (b"BTHD", 26, 8, None),                # total records + 1 in a dense-link index (SIGSEGV)
    (b"BTHD", 6, 4, 0xFFFFFFFF),           # node size 2^32 - 1 (gigabytes, or an abort)
    (b"FRHP", 110, 2, 0),                  # fractal heap table width 0 (SIGSEGV)
    (b"EAHD", 44, 8, 2 ** 32),             # extensible array "max index set" 2^32 (a hang)
])
def test_a_damaged_newer_structure_is_a_matfile_error(signature, offset, width, value, tmp_path,
                                                      monkeypatch):
    fz = _fuzz_module()
    monkeypatch.setattr(_isolate, "CPU_BASE", 2)
    monkeypatch.setattr(_isolate, "CPU_BYTES", 2 ** 62)
    data = bytearray(fz._latest_file())
    at = data.find(signature)
    length = fz._HEADERS[signature][0]
    assert at > 0 and struct.unpack_from("<I", data, at + length)[0] == fz.lookup3(
        bytes(data[at:at + length]))                        # the checksum is HDF5's own
    old = int.from_bytes(data[at + offset:at + offset + width], "little")
    data[at + offset:at + offset + width] = (old + 1 if value is None else value).to_bytes(
        width, "little")
    struct.pack_into("<I", data, at + length, fz.lookup3(bytes(data[at:at + length])))
    path = tmp_path / "edited.mat"
    path.write_bytes(data)
    with pytest.raises(MatFileError, match=r"edited\.mat: "):
        loadmat(path)
