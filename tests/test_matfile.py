"""cnntoolbox.matfile: MATLAB-written files load to their documented values; round trips."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cnntoolbox.matfile import MatFileError, as_net, loadmat, savemat

DATA = Path(__file__).parent / "data"
REFERENCE = Path(__file__).parent.parent / "matlab_reference"
CASES = sorted(REFERENCE.glob("case_*.mat"))


def assert_identical(expected, actual, where="value"):
    """Same Python types, same keys in the same order, arrays equal bit for bit with same dtype."""
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, dict):
        assert list(actual) == list(expected), f"{where}: fields {list(actual)}"
        for key in expected:
            assert_identical(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{where}: {len(actual)} != {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_identical(e, a, f"{where}{{{i + 1}}}")
    elif isinstance(expected, np.ndarray):
        assert actual.shape == expected.shape, f"{where}: shape {actual.shape}"
        assert actual.dtype == expected.dtype, f"{where}: dtype {actual.dtype}"
        assert actual.tobytes() == expected.tobytes(), f"{where}: values differ"
    elif isinstance(expected, float):
        assert np.float64(actual).tobytes() == np.float64(expected).tobytes(), where
    else:
        assert actual == expected, where


# --- MATLAB-written files (tests/data/NOTICE.md): the values their sources document ---

@pytest.mark.parametrize("name", ["matjl_cell_v6", "matjl_cell_v7", "matjl_cell_v73"])
def test_cell_with_a_cell_inside(name):
    # cell = {1, 2.01, 'string', {'string1', 'string2'}}
    assert loadmat(DATA / f"{name}.mat") == {
        "cell": [1.0, 2.01, "string", ["string1", "string2"]]}


@pytest.mark.parametrize("name", ["matjl_struct_v7", "matjl_struct_v73"])
def test_struct_and_struct_array(name):
    # s.a = 1, s.b = [1 2], s.c = [1 2 3]; s2 = 1x2 struct array, a = 1 and 2
    values = loadmat(DATA / f"{name}.mat")
    s = values["s"]
    assert list(s) == ["a", "b", "c"]
    assert s["a"] == 1.0
    assert_identical(np.array([[1.0, 2.0]]), s["b"])
    assert_identical(np.array([[1.0, 2.0, 3.0]]), s["c"])
    assert values["s2"] == [{"a": 1.0}, {"a": 2.0}]


def test_empty_cells_share_the_canonical_empty():
    # empty_cells = {[], 'test', []}
    cell = loadmat(DATA / "matjl_empty_cells_v73.mat")["empty_cells"]
    assert len(cell) == 3 and cell[1] == "test"
    assert_identical(np.zeros((0, 0)), cell[0])
    assert_identical(np.zeros((0, 0)), cell[2])


def test_scipy_nested_cell():
    # {1, {2, 3, {4, 5}}}
    assert loadmat(DATA / "scipy_testcellnest_7.4_GLNX86.mat") == {
        "testcellnest": [1.0, [2.0, 3.0, [4.0, 5.0]]]}


def test_scipy_nested_struct():
    # struct('one', 1, 'two', struct('three', 'number 3'))
    assert loadmat(DATA / "scipy_teststructnest_7.4_GLNX86.mat") == {
        "teststructnest": {"one": 1.0, "two": {"three": "number 3"}}}


@pytest.mark.parametrize("twin", ["matjl_cell", "matjl_struct", "pymatreader",
                                  "pymatreader_cell_struct"])
def test_v7_and_v73_twins_load_equal(twin):
    v7 = loadmat(DATA / f"{twin}_v7.mat")
    v73 = loadmat(DATA / f"{twin}_v73.mat")
    assert sorted(v7) == sorted(v73)
    for name in v7:
        assert_identical(v7[name], v73[name], name)


def test_pymatreader_workspace_types():
    values = loadmat(DATA / "pymatreader_v73.mat")
    assert values["an_empty_string"] == ""
    assert isinstance(values["a_string"], str) and len(values["a_string"]) == 10
    assert values["a_single_char"] == "b"
    assert isinstance(values["an_integer"], float) and values["an_integer"].is_integer()
    assert values["a_unit64"].dtype == np.uint64 and values["a_unit64"].shape == (1, 1)
    assert values["a_matrix"].shape == (100, 100)
    assert len(values["a_cell_array"]) == 100
    assert all(m.shape == (2, 5) for m in values["a_cell_array"])
    assert [len(c) for c in values["a_heading_cell_array"]] == [100, 100]
    nested = values["a_struct"]
    assert list(nested) == ["string", "int", "float", "matrix", "a_cell_array",
                            "a_cell_struct_array", "second_level"]
    assert all(isinstance(s, dict) for s in nested["a_cell_struct_array"])
    assert list(nested["second_level"]) == ["string", "int", "float", "matrix",
                                            "a_cell_array"]


def test_cell_of_structs_and_struct_array_have_the_same_layout():
    values = loadmat(DATA / "pymatreader_cell_struct_v73.mat")
    for name in ("a_cell_array", "a_struct_array"):
        assert len(values[name]) == 5
        assert all(list(s) == ["string", "int", "float", "matrix"] for s in values[name])


# --- nets written by the original toolbox under Octave (matlab_reference/) ---

needs_cases = pytest.mark.skipif(not CASES, reason="matlab_reference/case_*.mat not present")


@needs_cases
@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_reference_net_loads_in_the_contract_layout(case):
    values = loadmat(case)
    m = values["x"].shape[2]
    for stage in ("net_ff", "net_bp", "net_grads", "net_train"):
        net = values[stage]
        for layer in net["layers"]:
            assert isinstance(layer["type"], str)
            for a in layer.get("a", []):
                assert a.ndim == 3 and a.dtype == np.float64
            for row in layer.get("k", []):
                assert all(k.ndim == 2 and k.shape[0] == k.shape[1] for k in row)
            assert all(isinstance(b, float) for b in layer.get("b", []))
        assert net["ffb"].shape == (net["ffW"].shape[0], 1)
    assert values["net_ff"]["layers"][0]["a"][0].shape[2] == m
    assert values["net_train"]["rL"].ndim == 1
    assert all(isinstance(values["opts"][f], float) for f in ("alpha", "batchsize", "numepochs"))


@needs_cases
@pytest.mark.parametrize("fmt", ["7", "7.3"])
@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_reference_file_round_trips_bit_for_bit(case, fmt, tmp_path):
    values = loadmat(case)
    savemat(tmp_path / "copy.mat", values, format=fmt)
    again = loadmat(tmp_path / "copy.mat")
    assert sorted(again) == sorted(values)
    for name in values:
        assert_identical(values[name], again[name], name)


def test_missing_variable_is_named(tmp_path):
    savemat(tmp_path / "one.mat", {"x": 1.0})
    with pytest.raises(MatFileError, match="no variable 'net'"):
        loadmat(tmp_path / "one.mat", "net")


def test_complex_survives_scipys_mat_dtype():
    # testcomplex = cos(theta) + 1i*sin(theta), theta = pi/4*(0:8) (scipy's test_mio.py)
    theta = np.pi / 4 * np.arange(9.0).reshape(1, 9)
    value = loadmat(DATA / "scipy_testcomplex_7.4_GLNX86.mat")["testcomplex"]
    assert value.dtype == np.complex128
    np.testing.assert_allclose(value, np.cos(theta) + 1j * np.sin(theta), rtol=0, atol=1e-15)


def test_sparse_char_matrix_and_fieldless_struct():
    expected = np.zeros((3, 5))
    expected[0] = range(1, 6)
    expected[:, 0] = range(1, 4)
    sparse = loadmat(DATA / "scipy_testsparse_7.4_GLNX86.mat")["testsparse"]
    assert_identical(expected, sparse.toarray())
    rows = loadmat(DATA / "scipy_teststringarray_7.4_GLNX86.mat")["teststringarray"]
    assert rows.tolist() == ["one  ", "two  ", "three"]
    assert loadmat(DATA / "scipy_test_empty_struct.mat") == {"a": {}}


# --- nets built in Python ---

def small_net(spec, rows, cols, m, onum, seed):
    """A net after cnnff and cnnbp: every field of the contract filled."""
    from helpers import parse_layers

    from cnntoolbox import cnnbp, cnnff, cnnsetup

    rng = np.random.default_rng(seed)
    x = rng.random((rows, cols, m))
    y = rng.random((onum, m))
    net = cnnsetup({"layers": parse_layers(spec)}, x, y, rng=rng)
    return cnnbp(cnnff(net, x), y)


@pytest.mark.parametrize("fmt", ["7", "7.3"])
@pytest.mark.parametrize("spec, rows, m, onum", [
    ("2c5-2s-3c3-2s", 16, 1, 3),    # one-sample batch: MATLAB stores a{j} as 2-D
    ("1c3-2s", 8, 2, 1),            # one map everywhere, one output: ffb is a 1x1
    ("2s-2c1", 6, 1, 2),            # 1x1 kernels, 's' layer first
    ("2c3-2s-3c3", 12, 3, 2),       # last layer convolutional
])
def test_python_net_round_trips_bit_for_bit(spec, rows, m, onum, fmt, tmp_path):
    net = small_net(spec, rows, rows, m, onum, seed=len(spec) + m)
    opts = {"alpha": 0.5, "batchsize": 50.0, "numepochs": 1.0}
    savemat(tmp_path / "net.mat", {"net": net, "opts": opts}, format=fmt)
    again = loadmat(tmp_path / "net.mat")
    assert_identical(as_net(net), again["net"], "net")      # the layer's int sizes as floats
    assert_identical(opts, again["opts"], "opts")
    first_conv = next(layer for layer in again["net"]["layers"] if layer["type"] == "c")
    assert len(first_conv["k"]) == 1                         # a 1x1 cell holding a 1xN cell


def test_int_fields_come_back_as_floats(tmp_path):
    net = small_net("2c3", 5, 5, 2, 2, seed=1)
    assert net["layers"][1]["outputmaps"] == 2
    savemat(tmp_path / "net.mat", {"net": net})
    layer = loadmat(tmp_path / "net.mat")["net"]["layers"][1]
    assert type(layer["outputmaps"]) is float and layer["outputmaps"] == 2.0


# --- the v7.3 files we write, checked by independent readers ---

def test_v73_header_at_byte_zero(tmp_path):
    import h5py

    savemat(tmp_path / "x.mat", {"x": np.arange(3.0)}, format="7.3")
    head = (tmp_path / "x.mat").read_bytes()[:128]
    assert head.startswith(b"MATLAB 7.3 MAT-file, Platform: ")
    assert b"HDF5 schema 1.00 ." in head[:116]
    assert head[124:128] == b"\x00\x02IM"
    with h5py.File(tmp_path / "x.mat", "r") as h5:
        assert h5.userblock_size == 512
        assert h5["x"].attrs["MATLAB_class"] == b"double"
        assert h5["x"].shape == (3, 1)                     # MATLAB 1x3, dimensions reversed


def _plain(value):
    """A value with every array squeezed to a list and every number a float (reader-neutral)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return [_plain(item) for item in value.reshape(-1, order="F")]
        return np.squeeze(value).astype(np.float64).tolist()
    if isinstance(value, (bool, np.bool_, int, np.integer, float, np.floating)):
        return float(value)
    return value


def test_mat73_sees_the_same_v73_net(tmp_path):
    # (pymatreader 1.3 returns raw references for a 1x1 cell holding a cell, like k{1})
    import mat73

    net = small_net("2c5-2s-3c3-2s", 16, 16, 2, 3, seed=3)
    savemat(tmp_path / "net.mat", {"net": net, "name": "lenet", "empty": []}, format="7.3")
    theirs = mat73.loadmat(str(tmp_path / "net.mat"))
    ours = loadmat(tmp_path / "net.mat")
    assert theirs["name"] == "lenet"
    theirs_net, ours_net = _plain(theirs["net"]), _plain(ours["net"])
    assert sorted(theirs_net) == sorted(ours_net)
    for key in ours_net:
        if key != "layers":
            assert theirs_net[key] == ours_net[key], key
    their_layers = [row[0] for row in theirs_net["layers"]]   # mat73: the n x 1 cell as n rows
    assert len(their_layers) == len(ours_net["layers"]) == len(theirs_net["layers"])
    for l, (their_layer, our_layer) in enumerate(zip(their_layers, ours_net["layers"])):
        for key in our_layer:
            assert np.array_equal(np.squeeze(their_layer[key]), np.squeeze(our_layer[key])), \
                f"layers{{{l + 1}}}.{key}"


def test_hdf5storage_reads_our_strings_cells_and_structs(tmp_path):
    import hdf5storage

    values = {"s": {"name": "abc", "cells": [1.0, "x", [2.0, 3.0]]}, "m": np.arange(6.0).reshape(2, 3)}
    savemat(tmp_path / "v.mat", values, format="7.3")
    theirs = hdf5storage.loadmat(str(tmp_path / "v.mat"))
    assert_identical(values["m"], theirs["m"])
    s = theirs["s"].reshape(-1)[0]
    assert s["name"].item() == "abc"
    cells = s["cells"].reshape(-1)
    assert cells[0].item() == 1.0 and cells[1].item() == "x"
    assert [c.item() for c in cells[2].reshape(-1)] == [2.0, 3.0]


OCTAVE = shutil.which("octave")


@pytest.mark.skipif(OCTAVE is None, reason="GNU Octave is not installed")
def test_octave_reads_our_v7_net_as_matlab_would(tmp_path):
    net = small_net("2c3-2s", 6, 6, 1, 2, seed=5)
    savemat(tmp_path / "ours.mat", {"net": net}, format="7")
    script = ("load('ours.mat'); s = size(net.layers{2}.a{1}); "
              "assert(isequal(s, [4 4])); assert(iscell(net.layers{2}.k{1})); "
              "assert(isa(net.layers{2}.outputmaps, 'double')); "
              "save('-v7', 'octave.mat', 'net');")
    subprocess.run([OCTAVE, "-q", "--no-gui", "--eval", script], cwd=tmp_path, check=True,
                   capture_output=True, timeout=120)
    assert_identical(as_net(net), loadmat(tmp_path / "octave.mat")["net"], "net")


# --- bad files: a clear MatFileError (a ValueError), never a raw low-level exception ---

def matlab_h5(path):
    """An empty HDF5 file with MATLAB's v7.3 user block, opened for writing."""
    import h5py

    from cnntoolbox.matfile._mat73_write import header

    h5 = h5py.File(path, "w", userblock_size=512)
    h5.close()
    with open(path, "r+b") as fileobj:
        fileobj.write(header())
    return h5py.File(path, "r+")


@pytest.mark.parametrize("fmt", ["7", "7.3"])
def test_truncated_file(fmt, tmp_path):
    savemat(tmp_path / "net.mat", {"net": small_net("2c3-2s", 8, 8, 2, 2, seed=2)}, format=fmt)
    data = (tmp_path / "net.mat").read_bytes()
    for size in (len(data) // 2, 600, 130, 40):
        (tmp_path / "cut.mat").write_bytes(data[:size])
        with pytest.raises(MatFileError):
            loadmat(tmp_path / "cut.mat")


def test_not_a_mat_file(tmp_path):
    (tmp_path / "notes.mat").write_text("these are not the weights you are looking for\n" * 9)
    with pytest.raises(MatFileError, match="notes.mat"):
        loadmat(tmp_path / "notes.mat")
    (tmp_path / "empty.mat").write_bytes(b"")
    with pytest.raises(MatFileError):
        loadmat(tmp_path / "empty.mat")
    with pytest.raises(FileNotFoundError):
        loadmat(tmp_path / "absent.mat")


def test_hdf5_file_that_is_not_matlab(tmp_path):
    import h5py

    with h5py.File(tmp_path / "plain.h5", "w") as h5:
        h5["x"] = np.ones(3)
    with pytest.raises(MatFileError, match="HDF5 file without MATLAB's header"):
        loadmat(tmp_path / "plain.h5")
    with matlab_h5(tmp_path / "noclass.mat") as h5:
        h5["x"] = np.ones(3)
    with pytest.raises(MatFileError, match="x: unknown or missing MATLAB_class"):
        loadmat(tmp_path / "noclass.mat")


def test_octaves_hdf5_file_is_refused_with_the_v7_advice(tmp_path):
    # the layout Octave 7.3's save -hdf5 wrote for net.ffb = [0.5; 0.25] (seen with h5py):
    # a group per variable with OCTAVE_NEW_FORMAT, a 'type' string and a 'value'
    import h5py

    with h5py.File(tmp_path / "net.mat", "w") as h5:
        net = h5.create_group("net")
        net.attrs["OCTAVE_NEW_FORMAT"] = np.uint8(1)
        net["type"] = np.bytes_("scalar struct")
        ffb = net.create_group("value").create_group("ffb")
        ffb.attrs["OCTAVE_NEW_FORMAT"] = np.uint8(1)
        ffb["type"] = np.bytes_("matrix")
        ffb["value"] = np.array([[0.5, 0.25]])
    with pytest.raises(MatFileError, match=r"not a MAT-file; Octave's 'save -hdf5' writes such "
                                           r"files: in Octave, save it with -v7 "):
        loadmat(tmp_path / "net.mat")


def test_damaged_v7_data_and_matlab_objects():
    with pytest.raises(MatFileError, match="damaged"):
        loadmat(DATA / "scipy_corrupted_zlib_data.mat")
    with pytest.raises(MatFileError, match="testfunc: is a MATLAB function handle"):
        loadmat(DATA / "scipy_testfunc_7.4_GLNX86.mat")
    with pytest.raises(MatFileError, match="object of class 'inline'"):
        loadmat(DATA / "scipy_testobject_7.4_GLNX86.mat")


def test_v73_function_handle_and_object_are_refused(tmp_path):
    with matlab_h5(tmp_path / "f.mat") as h5:
        h5["f"] = np.zeros((1, 1), np.uint32)
        h5["f"].attrs["MATLAB_class"] = np.bytes_("function_handle")
    with pytest.raises(MatFileError, match="f: is a MATLAB function_handle"):
        loadmat(tmp_path / "f.mat")
    with matlab_h5(tmp_path / "o.mat") as h5:
        h5["o"] = np.zeros((6, 1), np.uint32)
        h5["o"].attrs["MATLAB_class"] = np.bytes_("string")
        h5["o"].attrs["MATLAB_object_decode"] = np.int32(3)
    with pytest.raises(MatFileError, match="o: is a MATLAB string"):
        loadmat(tmp_path / "o.mat")


def test_v73_reference_cycle(tmp_path):
    import h5py

    with matlab_h5(tmp_path / "cycle.mat") as h5:
        refs = h5.create_group("#refs#")
        inner = refs.create_dataset("b", shape=(1, 1), dtype=h5py.ref_dtype)
        inner.attrs["MATLAB_class"] = np.bytes_("cell")
        inner[0, 0] = inner.ref                                  # a cell that holds itself
        outer = h5.create_dataset("c", data=np.array([[inner.ref]], dtype=h5py.ref_dtype))
        outer.attrs["MATLAB_class"] = np.bytes_("cell")
    with pytest.raises(MatFileError, match="reference cycle"):
        loadmat(tmp_path / "cycle.mat")


def test_v73_absurd_size_is_refused_before_reading(tmp_path):
    with matlab_h5(tmp_path / "huge.mat") as h5:
        big = h5.create_dataset("x", shape=(10 ** 6, 10 ** 6), dtype=np.float64, chunks=(1, 1))
        big.attrs["MATLAB_class"] = np.bytes_("double")
    with pytest.raises(MatFileError, match="more memory than the limit"):
        loadmat(tmp_path / "huge.mat")


def test_v73_external_link_is_refused(tmp_path):
    import h5py

    savemat(tmp_path / "other.mat", {"secret": 1.0}, format="7.3")
    with matlab_h5(tmp_path / "link.mat") as h5:
        h5["x"] = h5py.ExternalLink(str(tmp_path / "other.mat"), "/secret")
    with pytest.raises(MatFileError, match="ExternalLink"):
        loadmat(tmp_path / "link.mat")


# --- saving: bad values are named, nothing half-written, an existing file survives ---

@pytest.mark.parametrize("value, message", [
    ({"layers": [{"type": "c", "k": [[None]]}]}, r"net.layers\{1\}.k\{1\}\{1\}: a NoneType"),
    ({"bad key": 1.0}, "not a valid MATLAB name"),
    ({"x": 2 ** 60}, "has no exact double"),
    ({"h": np.ones(2, np.float16)}, "no class for dtype float16"),
])
def test_unsavable_values_are_named(value, message, tmp_path):
    with pytest.raises((TypeError, ValueError), match=message):
        savemat(tmp_path / "x.mat", {"net": value})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["7", "7.3"])
def test_failed_save_keeps_the_old_file_and_leaves_no_temporary(fmt, tmp_path, monkeypatch):
    from cnntoolbox.matfile import _mat5, _mat73_write

    savemat(tmp_path / "net.mat", {"x": 1.0}, format=fmt)
    before = (tmp_path / "net.mat").read_bytes()

    def interrupted(fileobj, values):
        fileobj.write(b"MATLAB half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(_mat5, "write", interrupted)
    monkeypatch.setattr(_mat73_write, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        savemat(tmp_path / "net.mat", {"x": 2.0}, format=fmt)
    assert (tmp_path / "net.mat").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.mat"]
    with pytest.raises(KeyboardInterrupt):
        savemat(tmp_path / "new.mat", {"x": 2.0}, format=fmt)
    assert [p.name for p in tmp_path.iterdir()] == ["net.mat"]


def test_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="format must be '7' or '7.3'"):
        savemat(tmp_path / "x.mat", {"x": 1.0}, format="7.2")


def test_a_struct_with_layers_that_is_no_net_keeps_the_generic_mapping(tmp_path):
    other = {"layers": [{"type": 3.0, "a": "rock"}], "ffb": "x"}
    savemat(tmp_path / "geo.mat", {"other": other})
    assert loadmat(tmp_path / "geo.mat")["other"] == other


def test_v73_reads_back_data_that_looks_like_hdf5_metadata(tmp_path):
    # the heap check scanned the whole file for "GCOL" and "MATLAB_fields\0" and refused
    # files this package wrote: only the attribute messages of the objects read count now
    savemat(tmp_path / "s.mat", {"s": {"a": 1.0, "bb": 2.0}}, format="7.3")
    inner = np.frombuffer((tmp_path / "s.mat").read_bytes(), np.uint8).reshape(1, -1)
    gcol = np.frombuffer(b"GCOL\x01\0\0\0" + (2 ** 40).to_bytes(8, "little") + bytes(40),
                         np.uint8).reshape(1, -1)
    fields = np.frombuffer(b"\x01\0\x0e\0\x10\0\x10\0MATLAB_fields\0\0\0\x09\0\0\x10" + bytes(64),
                           np.uint8).reshape(1, -1)
    values = {"file": inner[:, :8000], "gcol": gcol, "fields": fields,
              "s": {"a": 1.0, "bb": 2.0}}
    savemat(tmp_path / "odd.mat", values, format="7.3")
    loaded = loadmat(tmp_path / "odd.mat")
    assert loaded["s"] == {"a": 1.0, "bb": 2.0}
    for name in ("file", "gcol", "fields"):
        assert np.array_equal(loaded[name], values[name]), name
