"""The .mat loader against hostile files: a short fuzz run, the fuzzer's finds, crafted bombs.

The long run (100,000+ inputs) is ``fuzz/fuzz_matfile.py``; see fuzz/README.md.
"""

import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from cnntoolbox import matfile
from cnntoolbox.matfile import _values
from cnntoolbox.matfile import MatFileError, loadmat

ROOT = Path(__file__).resolve().parent.parent
FINDS = ROOT / "tests" / "data" / "fuzz"

_spec = importlib.util.spec_from_file_location("fuzz_matfile", ROOT / "fuzz" / "fuzz_matfile.py")
fz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fz)


@pytest.mark.parametrize("family, count", [("v5", 250), ("v73", 200)])
def test_short_fuzz_run_has_no_crash_hang_or_memory_blowup(family, count, tmp_path):
    summary = fz.fuzz(family, count, seed=7, seconds=10.0, trace_every=4,
                      crash_dir=str(tmp_path), big=False)
    counts = summary["counts"]
    assert counts.get("failures", 0) == 0, (summary, sorted(p.name for p in tmp_path.iterdir()))
    loaded = sum(n for outcome, n in counts.items() if outcome != "failures")
    assert loaded == count
    assert counts.get("ok", 0) > 0 and counts.get("MatFileError", 0) > count // 4


def test_fuzzer_finds_load_or_are_refused_cleanly():
    # in a child process: two of these crashed scipy's reader with a segmentation fault
    code = ("import json, sys\nfrom cnntoolbox.matfile import loadmat\nout = {}\n"
            "for path in sys.argv[1:]:\n"
            "    try:\n        loadmat(path)\n        out[path] = 'ok'\n"
            "    except Exception as error:\n"
            "        out[path] = [type(error).__name__, str(error)]\n"
            "print(json.dumps(out))\n")
    paths = sorted(str(path) for path in FINDS.glob("*.mat"))
    assert len(paths) >= 4
    run = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    for path, outcome in json.loads(run.stdout).items():
        if Path(path).name == "v5_fieldless_struct_2e31x0.mat":
            assert outcome == "ok"                 # a valid, empty struct array
        else:
            assert outcome[0] == "MatFileError", (path, outcome)
            assert Path(path).name in outcome[1]                 # names the file


# --- v5: crafted declared sizes ---------------------------------------------------------------

def v5_file(tmp_path, variable, compress=False):
    if compress:
        variable = fz._tag(15, zlib.compress(variable))
    path = tmp_path / "crafted.mat"
    path.write_bytes(fz.v5_header() + variable)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_v5_cell_declaring_4e18_elements(compress, tmp_path):
    element = fz._matrix(6, [1, 1], b"", fz._tag(9, bytes(8)))
    path = v5_file(tmp_path, fz._matrix(1, [2 ** 31 - 1, 2 ** 31 - 1], b"c", element), compress)
    with pytest.raises(MatFileError, match=r"c: declares 4611686014132420609 elements"):
        loadmat(path)


def test_v5_struct_array_declaring_1e18_elements(tmp_path):
    body = fz._tag(5, struct.pack("<i", 32)) + fz._tag(1, b"a".ljust(32, b"\0"))
    path = v5_file(tmp_path, fz._matrix(2, [10 ** 9, 10 ** 9], b"s", body))
    with pytest.raises(MatFileError, match="more memory than the limit|declares|more than 524288 cell"):
        loadmat(path)


def test_v5_data_declaring_more_than_the_file(tmp_path):
    body = struct.pack("<II", 9, 2 ** 32 - 8) + bytes(16)
    path = v5_file(tmp_path, fz._matrix(6, [2 ** 29 - 1, 1], b"x", body))
    with pytest.raises(MatFileError, match="x: an element declares 4294967288 bytes"):
        loadmat(path)


def test_v5_compression_bomb_is_stopped_at_the_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(_values, "MIN_BUDGET", 2 ** 20)
    inflated = 2 ** 26                      # 64 MiB of zeros from a file of about 64 KiB
    path = tmp_path / "bomb.mat"
    for declared, message in [(inflated + 64, "z: the file asks for more memory than the limit"),
                              (None, "z: damaged compressed data .* longer than the 64 bytes")]:
        head = fz._matrix(6, [inflated // 8, 1], b"z", struct.pack("<II", 9, inflated),
                          declared=declared)
        path.write_bytes(fz.v5_header() + fz._tag(15, fz._zero_bomb(head, inflated)))
        assert path.stat().st_size * 1024 < inflated
        with pytest.raises(MatFileError, match=message):
            loadmat(path)


def test_v5_deep_nesting_function_handles_and_field_names(tmp_path):
    deep = fz._matrix(6, [0, 0], b"", b"")
    for _ in range(150):
        deep = fz._matrix(1, [1, 1], b"", deep)
    with pytest.raises(MatFileError, match="nested deeper than 100"):
        loadmat(v5_file(tmp_path, deep))
    for cls in (16, 17):
        with pytest.raises(MatFileError, match="f: is a MATLAB function handle or opaque"):
            loadmat(v5_file(tmp_path, fz._matrix(cls, [1, 1], b"f", fz._tag(1, b"x"))))
    body = fz._tag(5, struct.pack("<i", 0)) + fz._tag(1, b"ab")
    with pytest.raises(MatFileError, match="s: damaged field names"):
        loadmat(v5_file(tmp_path, fz._matrix(2, [1, 1], b"s", body)))


# --- v7.3: crafted layouts --------------------------------------------------------------------

def matlab_h5(path, libver="earliest"):
    with h5py.File(path, "w", userblock_size=512, libver=libver) as h5:
        h5.create_group("#refs#")
    with open(path, "r+b") as fileobj:
        fileobj.write(fz.v73_header())
    return h5py.File(path, "r+", libver=libver)


def test_v73_reference_bomb(tmp_path):
    with matlab_h5(tmp_path / "bomb.mat") as h5:
        big = h5["#refs#"].create_dataset("b", data=np.zeros((64, 64)), compression="gzip")
        big.attrs["MATLAB_class"] = np.bytes_("double")
        cell = h5.create_dataset("c", data=np.array([[big.ref] * 50], dtype=h5py.ref_dtype))
        cell.attrs["MATLAB_class"] = np.bytes_("cell")
    with pytest.raises(MatFileError, match=r"c\{2,1\}: an object read a second time"):
        loadmat(tmp_path / "bomb.mat")


def test_v73_data_the_file_does_not_store(tmp_path):
    with matlab_h5(tmp_path / "fill.mat") as h5:
        never = h5.create_dataset("x", shape=(4000, 4000), dtype=np.float64, chunks=(100, 100))
        never.attrs["MATLAB_class"] = np.bytes_("double")
    with pytest.raises(MatFileError, match="x: declares 128000000 bytes of data, the file "
                                           "stores 0"):
        loadmat(tmp_path / "fill.mat")
    with matlab_h5(tmp_path / "part.mat") as h5:
        part = h5.create_dataset("y", shape=(100, 100), dtype=np.float64, chunks=(10, 10),
                                 compression="gzip")
        part[:60] = 1.0
        part.attrs["MATLAB_class"] = np.bytes_("double")
    with pytest.raises(MatFileError, match="y: data partly missing"):
        loadmat(tmp_path / "part.mat")


def test_v73_huge_attribute_and_absurd_empty(tmp_path):
    with matlab_h5(tmp_path / "attr.mat", libver="latest") as h5:     # dense attributes
        h5.create_dataset("x", data=np.ones((1, 1)))
        space = h5py.h5s.create_simple((2 ** 21,))
        h5py.h5a.create(h5["x"].id, b"MATLAB_class", h5py.h5t.NATIVE_UINT8, space).close()
    with pytest.raises(MatFileError, match="x: a damaged MATLAB_class attribute"):
        loadmat(tmp_path / "attr.mat")
    with matlab_h5(tmp_path / "empty.mat") as h5:
        h5["e"] = np.array([10 ** 18, 10 ** 18], np.uint64)
        h5["e"].attrs["MATLAB_class"] = np.bytes_("double")
        h5["e"].attrs["MATLAB_empty"] = np.uint8(1)
    with pytest.raises(MatFileError, match="e: marked empty but sized"):
        loadmat(tmp_path / "empty.mat")


def _quick_limits(monkeypatch):
    """Give the reader child 2 s of CPU time, so that a file HDF5 loops on is stopped soon."""
    from cnntoolbox.matfile import _isolate
    monkeypatch.setattr(_isolate, "CPU_BASE", 2)
    monkeypatch.setattr(_isolate, "CPU_BYTES", 2 ** 62)


#: What loadmat says of a file whose reader child it had to stop or that died.
_CONTAINED = (r"(reading it took more than 2 s of CPU time|the HDF5 library crashed on this file "
              r"\(SIG|damaged)")


def test_v73_damaged_global_heap_is_a_matfile_error(tmp_path, monkeypatch):
    # a struct's MATLAB_fields live in a global heap; a wrong object size there sent HDF5
    # into an endless loop (found by fuzzing); the reader child is stopped at its CPU limit
    _quick_limits(monkeypatch)
    matfile.savemat(tmp_path / "s.mat", {"s": {"a": 1.0, "b": 2.0}}, format="7.3")
    data = bytearray((tmp_path / "s.mat").read_bytes())
    heap = data.index(b"GCOL\x01")
    assert struct.unpack_from("<H6xQ", data, heap + 16) == (1, 1)   # object 1: "a", 1 byte
    data[heap + 24] = 9
    (tmp_path / "s.mat").write_bytes(bytes(data))
    with pytest.raises(MatFileError, match=r"s\.mat: " + _CONTAINED):
        loadmat(tmp_path / "s.mat")


def test_v73_virtual_dataset_over_a_damaged_heap_is_a_matfile_error(monkeypatch):
    # found by the long fuzz run: opening the virtual dataset 'a0' (group['a0']) makes HDF5 read
    # the global heap holding its source list; a free-space entry of size 0 there made HDF5
    # loop forever, in C; the reader child is stopped at its CPU limit
    _quick_limits(monkeypatch)
    with pytest.raises(MatFileError, match=r"v73_virtual_layout_heap_damaged\.mat: (" + _CONTAINED
                       + r"|a0: a virtual dataset)"):
        loadmat(FINDS / "v73_virtual_layout_heap_damaged.mat")


def test_v73_object_header_continuation_loop_is_a_matfile_error(tmp_path, monkeypatch):
    _quick_limits(monkeypatch)
    with matlab_h5(tmp_path / "loop.mat") as h5:
        y = h5.create_dataset("y", data=np.ones((2, 2)))
        y.attrs["MATLAB_class"] = np.bytes_("double")
        for i in range(20):                      # enough to need a continuation block
            y.attrs[f"pad{i:02d}"] = np.arange(20.0)
        address = h5.id.links.get_info(b"y").u
    data = bytearray((tmp_path / "loop.mat").read_bytes())
    header = 512 + address
    assert data[header] == 1                     # version 1, as MATLAB writes
    size, pos = struct.unpack_from("<I", data, header + 8)[0], header + 16
    while struct.unpack_from("<H", data, pos)[0] != 0x10:      # find the continuation
        pos += 8 + struct.unpack_from("<H", data, pos + 2)[0]
    struct.pack_into("<QQ", data, pos + 8, address + 16, size)  # ... and point it at chunk 0
    (tmp_path / "loop.mat").write_bytes(bytes(data))
    with pytest.raises(MatFileError, match=r"loop\.mat: " + _CONTAINED):
        loadmat(tmp_path / "loop.mat")


def test_v73_version_2_object_headers_load(tmp_path):
    # h5py's libver="latest" writes version 2 ("OHDR") headers; the header walk read their
    # first block as a continuation and refused every struct of such a file
    with matlab_h5(tmp_path / "v2.mat", libver="latest") as h5:
        group = h5.create_group("s")
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        group.attrs["MATLAB_fields"] = np.array(
            [np.frombuffer(b"ab", "S1"), np.frombuffer(b"c", "S1")],
            dtype=h5py.vlen_dtype(np.dtype("S1")))
        for name, value in (("ab", 1.0), ("c", 2.0)):
            group.create_dataset(name, data=np.full((1, 1), value))
            group[name].attrs["MATLAB_class"] = np.bytes_("double")
        address = h5.id.links.get_info(b"s").u
    assert (tmp_path / "v2.mat").read_bytes()[512 + address:][:4] == b"OHDR"
    assert loadmat(tmp_path / "v2.mat") == {"s": {"ab": 1.0, "c": 2.0}}


# --- nothing in a file is ever run ------------------------------------------------------------

LOADER = sorted(path for path in (ROOT / "cnntoolbox" / "matfile").glob("*.py")
                if path.name != "_isolate.py")


def test_the_only_process_started_is_the_isolated_reader():
    # _isolate starts the reader child: this interpreter, isolated (-I), on _boot.py, nothing else
    source = (ROOT / "cnntoolbox" / "matfile" / "_isolate.py").read_text()
    assert re.findall(r"subprocess\.\w+\(", source) == ["subprocess.Popen("]
    assert '[sys.executable, "-I", _BOOT, _ROOT, json.dumps(request)]' in source


def test_loader_has_no_code_execution_path():
    forbidden = re.compile(r"\b(pickle|marshal|shelve|eval|exec|compile|__import__|importlib|"
                           r"allow_pickle|subprocess|os\.system|getattr)\b(?<!re\.compile)")
    assert len(LOADER) >= 7, LOADER
    for path in LOADER:
        name = path.name
        source = path.read_text()
        code = "\n".join(line.split("#")[0] for line in source.splitlines())
        assert not forbidden.search(code), (name, forbidden.search(code).group())


def test_fieldless_struct_array_of_no_elements_loads_empty():
    assert loadmat(FINDS / "v5_fieldless_struct_2e31x0.mat") == {"a": []}


# --- v7.3: reading only the named file ---------------------------------------------------------

CANARY = b"CANARY-7f3a-never-to-be-read-" * 8


@pytest.fixture
def canary(tmp_path):
    """A file of known bytes outside the MAT-file, and an HDF5 file whose 'x' holds them."""
    raw = tmp_path / "canary.bin"
    raw.write_bytes(CANARY)
    with h5py.File(tmp_path / "canary.h5", "w") as h5:
        h5["x"] = np.frombuffer(CANARY, np.uint8)
        h5["x"].attrs["MATLAB_class"] = np.bytes_("uint8")
    return raw, tmp_path / "canary.h5"


def _refused_without_canary(path, match, names=None):
    try:
        result = loadmat(path, names)
    except MatFileError as error:
        assert re.search(match, str(error)), str(error)
        assert b"CANARY" not in str(error).encode()
        return
    raise AssertionError(f"loaded (the canary's bytes, read through the file): {result!r:.200}")


@pytest.mark.parametrize("cls", ["uint8", "char", "double"])
def test_v73_external_storage_is_refused_before_reading(cls, tmp_path, canary):
    # it loaded the bytes of any file the process could read (the password file, in the issue)
    with matlab_h5(tmp_path / "ext.mat") as h5:
        dtype = np.float64 if cls == "double" else np.uint8
        x = h5.create_dataset("x", shape=(1, len(CANARY) // np.dtype(dtype).itemsize),
                              dtype=dtype, external=[(str(canary[0]), 0, len(CANARY))])
        x.attrs["MATLAB_class"] = np.bytes_(cls)
        cell = h5.create_dataset("c", data=np.array([[x.ref]], dtype=h5py.ref_dtype))
        cell.attrs["MATLAB_class"] = np.bytes_("cell")
    for names in (["x"], ["c"], None):
        _refused_without_canary(tmp_path / "ext.mat", r"stored in another file \(HDF5 external "
                                                     r"storage\)", names)


def test_v73_virtual_dataset_and_external_links_are_refused(tmp_path, canary):
    with matlab_h5(tmp_path / "vds.mat") as h5:
        layout = h5py.VirtualLayout(shape=(len(CANARY),), dtype=np.uint8)
        layout[:] = h5py.VirtualSource(str(canary[1]), "x", shape=(len(CANARY),))
        h5.create_virtual_dataset("v", layout).attrs["MATLAB_class"] = np.bytes_("uint8")
    _refused_without_canary(tmp_path / "vds.mat", "v: a virtual dataset")
    with matlab_h5(tmp_path / "link.mat") as h5:
        h5["x"] = h5py.ExternalLink(str(canary[1]), "/x")
    _refused_without_canary(tmp_path / "link.mat", "x: is a ExternalLink")


def test_v73_filters_matlab_never_uses_are_refused(tmp_path):
    # lzf is built into h5py; any other filter id would make HDF5 look for a plugin library
    with matlab_h5(tmp_path / "lzf.mat") as h5:
        x = h5.create_dataset("x", data=np.frombuffer(CANARY, np.uint8).reshape(1, -1),
                              compression="lzf")
        x.attrs["MATLAB_class"] = np.bytes_("uint8")
    _refused_without_canary(tmp_path / "lzf.mat", "x: stored through HDF5 filter 32000")
    with matlab_h5(tmp_path / "gzip.mat") as h5:       # MATLAB's own filters still load
        x = h5.create_dataset("x", data=np.arange(4096.0).reshape(1, -1), compression="gzip",
                              shuffle=True, fletcher32=True)
        x.attrs["MATLAB_class"] = np.bytes_("double")
    assert np.array_equal(loadmat(tmp_path / "gzip.mat")["x"], np.arange(4096.0).reshape(-1, 1))


@pytest.mark.parametrize("driver", ["split", "family"])
def test_v73_files_of_other_hdf5_drivers_are_refused(driver, tmp_path):
    # the split and family drivers keep the data in other files: only sec2 is used to open
    kwargs = {"memb_size": 2048} if driver == "family" else {}
    name = "net%d.mat" if driver == "family" else "net"
    with h5py.File(tmp_path / name, "w", driver=driver, userblock_size=512, **kwargs) as h5:
        h5["x"] = np.frombuffer(CANARY, np.uint8)
        h5["x"].attrs["MATLAB_class"] = np.bytes_("uint8")
    first = sorted(tmp_path.iterdir())[0]
    with open(first, "r+b") as fileobj:
        fileobj.write(fz.v73_header())
    _refused_without_canary(first, "damaged v7.3 MAT-file")


def test_v73_variable_length_attributes_are_refused(tmp_path):
    with matlab_h5(tmp_path / "vlen.mat") as h5:
        h5["x"] = np.ones((1, 1))
        h5["x"].attrs.create("MATLAB_class", "double", dtype=h5py.string_dtype())
    with pytest.raises(MatFileError, match="x: a MATLAB_class attribute of a type MATLAB never"):
        loadmat(tmp_path / "vlen.mat")


# --- v7.3: shared-reference bombs --------------------------------------------------------------

def _shared_empty_cell(path, count, chunk=2 ** 16):
    with matlab_h5(path) as h5:
        empty = h5["#refs#"].create_dataset("a", data=np.array([0, 0], np.uint64))
        empty.attrs["MATLAB_class"] = np.bytes_("canonical empty")
        empty.attrs["MATLAB_empty"] = np.uint8(1)
        cell = h5.create_dataset("c", shape=(1, count), dtype=h5py.ref_dtype,
                                 chunks=(1, min(count, chunk)), compression="gzip")
        block = np.array([empty.ref] * min(count, chunk), dtype=h5py.ref_dtype)
        for start in range(0, count, chunk):
            cell[0, start:start + chunk] = block[:count - start]
        cell.attrs["MATLAB_class"] = np.bytes_("cell")


def test_v73_shared_reference_bomb_is_refused_fast_in_bounded_memory(tmp_path):
    # 10^6 references to one empty array: the old loader reached 10 GB in 40 s, or ran
    # for minutes; now refused from the dataset's shape, before any reference is followed
    # (CPU seconds, so that a loaded machine does not fail it; the peak is VmHWM, which
    # starts afresh at exec, where ru_maxrss keeps the forking pytest process's peak)
    path = tmp_path / "bomb.mat"
    _shared_empty_cell(path, 10 ** 6)
    assert path.stat().st_size < 200_000
    code = ("import sys, time\nfrom cnntoolbox.matfile import loadmat\n"
            "start = time.process_time()\n"
            "try:\n    loadmat(sys.argv[1])\n    print('loaded')\n"
            "except ValueError as error:\n    print(type(error).__name__, error)\n"
            "print(time.process_time() - start,"
            " int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) * 1024)\n")
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    verdict, numbers = run.stdout.strip().splitlines()
    assert verdict.startswith("MatFileError") and "c: more than 524288 cell or struct" in verdict
    seconds, peak = map(float, numbers.split())
    assert seconds < 10 and peak < 2 ** 29, (seconds, peak)


def test_v73_many_references_to_one_empty_array_load_as_separate_values(tmp_path):
    # MATLAB's cell(1, n) is n references to its canonical empty: read once, n new values
    _shared_empty_cell(tmp_path / "cells.mat", 100_000)
    cells = loadmat(tmp_path / "cells.mat")["c"]
    assert len(cells) == 100_000 and all(value.shape == (0, 0) for value in cells)
    assert len({id(value) for value in cells}) == 100_000          # no aliasing
    matfile.savemat(tmp_path / "mine.mat", {"c": [np.zeros((0, 0))] * 3000}, format="7.3")
    mine = loadmat(tmp_path / "mine.mat")["c"]
    assert len(mine) == 3000 and len({id(value) for value in mine}) == 3000


def test_v73_nested_shared_reference_bomb_is_stopped_by_the_element_count(tmp_path):
    with matlab_h5(tmp_path / "nested.mat") as h5:
        empty = h5["#refs#"].create_dataset("a", data=np.array([0, 0], np.uint64))
        empty.attrs["MATLAB_class"] = np.bytes_("canonical empty")
        empty.attrs["MATLAB_empty"] = np.uint8(1)
        inner = []
        for i in range(200):                                 # 200 x 4096 > 2^19 elements
            cell = h5["#refs#"].create_dataset(f"c{i}", shape=(1, 4096), dtype=h5py.ref_dtype,
                                               chunks=(1, 4096), compression="gzip")
            cell[0, :] = np.array([empty.ref] * 4096, dtype=h5py.ref_dtype)
            cell.attrs["MATLAB_class"] = np.bytes_("cell")
            inner.append(cell.ref)
        outer = h5.create_dataset("c", data=np.array([inner], dtype=h5py.ref_dtype))
        outer.attrs["MATLAB_class"] = np.bytes_("cell")
    with pytest.raises(MatFileError, match=r"c\{128,1\}: more than 524288 cell or struct"):
        loadmat(tmp_path / "nested.mat")


# --- v7.3: truncated files ---------------------------------------------------------------------

_LOAD_EACH = ("import sys\nfrom cnntoolbox.matfile import loadmat, MatFileError\n"
              "for path in sys.argv[1:]:\n"
              "    try:\n        loadmat(path)\n        print('ok')\n"
              "    except MatFileError as error:\n        print('MatFileError', error)\n")


def test_truncated_and_holed_v73_files_are_refused_not_crashed(tmp_path):
    # what a full disk leaves: a cut file, or one whose end is a hole of zeros
    net = {"ffW": np.random.default_rng(0).random((10, 3000)), "s": {"a": 1.0, "b": "x"},
           "c": [np.ones((2, 2)), "y"]}
    matfile.savemat(tmp_path / "whole.mat", net, format="7.3")
    data = (tmp_path / "whole.mat").read_bytes()
    paths = []
    for cut in (600, 2048, len(data) // 3, len(data) // 2, len(data) - 100):
        for hole in (False, True):
            path = tmp_path / f"cut{cut}{'hole' if hole else ''}.mat"
            path.write_bytes(data[:cut])
            if hole:
                os.truncate(path, len(data))
            paths.append(str(path))
    run = subprocess.run([sys.executable, "-c", _LOAD_EACH, *paths], capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    lines = run.stdout.splitlines()
    assert len(lines) == len(paths) and all(line.startswith("MatFileError") for line in lines), \
        run.stdout


def test_a_holed_v73_file_on_a_full_filesystem_is_refused_not_sigbus(tmp_path):
    # the heap check mapped the file: reading a hole on a full tmpfs killed it (SIGBUS, rc 135)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder = tmp_path / "full"
    folder.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                           capture_output=True, text=True, check=False)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        matfile.savemat(tmp_path / "s.mat", {"s": {"a": 1.0, "b": 2.0}}, format="7.3")
        data = (tmp_path / "s.mat").read_bytes()
        path = folder / "s.mat"
        path.write_bytes(data[:1024])
        os.truncate(path, 64 * 2 ** 20)                    # a hole far beyond the disk
        try:
            with open(folder / "filler", "wb", buffering=0) as filler:
                filler.write(b"x" * 2 ** 21)
        except OSError:
            pass
        run = subprocess.run([sys.executable, "-c", _LOAD_EACH, str(path)],
                             capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
        assert run.stdout.startswith("MatFileError"), run.stdout
    finally:
        subprocess.run(["umount", str(folder)], check=False)


# --- one set of limits for both formats --------------------------------------------------------

def test_the_limits_live_once_and_both_formats_use_them(tmp_path):
    sources = {path.name: path.read_text() for path in LOADER}
    for limit in ("MAX_DEPTH =", "MIN_BUDGET =", "MAX_ELEMENTS =", "ELEMENT_COST ="):
        assert [name for name, text in sources.items() if limit in text] == ["_values.py"], limit
    # a v5 cell of 2^19 + 1 empty elements (a 600 KB file): the same element limit as v7.3
    element = fz._matrix(6, [0, 0], b"", b"")
    count = _values.MAX_ELEMENTS + 1
    path = v5_file(tmp_path, fz._matrix(1, [1, count], b"c", element * count), compress=True)
    with pytest.raises(MatFileError, match=r"c: more than 524288 cell or struct elements"):
        loadmat(path)


def test_v73_unknown_filter_never_loads_an_hdf5_plugin(tmp_path):
    # HDF5 looks for a filter it lacks as a shared library in HDF5_PLUGIN_PATH (or its default
    # plugin folder) and loads it: running that library's code.  The old loader did (seen by
    # glibc's LD_DEBUG); now the filter is refused before HDF5 reads the data.
    if not sys.platform.startswith("linux"):
        pytest.skip("uses glibc's LD_DEBUG to see which libraries are loaded")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "libcanary_filter.so").write_bytes(b"not a library")
    with matlab_h5(tmp_path / "f.mat") as h5:
        x = h5.create_dataset("x", data=np.arange(1000.0).reshape(1, -1), compression="lzf")
        x.attrs["MATLAB_class"] = np.bytes_("double")
    data = (tmp_path / "f.mat").read_bytes()
    assert data.count(struct.pack("<H", 32000)) >= 1
    (tmp_path / "f.mat").write_bytes(data.replace(struct.pack("<H", 32000),
                                                  struct.pack("<H", 32099)))
    run = subprocess.run([sys.executable, "-c", _LOAD_EACH, str(tmp_path / "f.mat")],
                         capture_output=True, text=True, timeout=120, check=False,
                         env={**os.environ, "HDF5_PLUGIN_PATH": str(plugins),
                              "LD_DEBUG": "files"})
    assert "dynamically loaded" in run.stderr          # LD_DEBUG works here
    assert "libcanary_filter" not in run.stderr
    assert run.stdout.startswith("MatFileError") and "filter 32099" in run.stdout, run.stdout
