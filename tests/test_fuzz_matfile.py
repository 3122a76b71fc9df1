"""The .mat loader against hostile files: a short fuzz run, the fuzzer's finds, crafted bombs.

The long run (100,000+ inputs) is ``fuzz/fuzz_matfile.py``; see fuzz/README.md.
"""

import importlib.util
import json
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


def test_v73_damaged_global_heap_does_not_hang_hdf5(tmp_path):
    # a struct's MATLAB_fields live in a global heap; a wrong object size there sent HDF5
    # into an endless loop (found by fuzzing): run in a child so a regression cannot hang CI
    matfile.savemat(tmp_path / "s.mat", {"s": {"a": 1.0, "b": 2.0}}, format="7.3")
    data = bytearray((tmp_path / "s.mat").read_bytes())
    heap = data.index(b"GCOL\x01")
    assert struct.unpack_from("<H6xQ", data, heap + 16) == (1, 1)   # object 1: "a", 1 byte
    data[heap + 24] = 9
    (tmp_path / "s.mat").write_bytes(bytes(data))
    code = ("import sys\nfrom cnntoolbox.matfile import loadmat, MatFileError\n"
            "try:\n    loadmat(sys.argv[1])\nexcept MatFileError as error:\n    print(error)\n")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.mat")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert "a damaged global heap" in run.stdout, run.stdout + run.stderr


# --- nothing in a file is ever run ------------------------------------------------------------

LOADER = sorted((ROOT / "cnntoolbox" / "matfile").glob("*.py"))


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
