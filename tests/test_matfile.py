"""cnntoolbox.matfile: MATLAB-written files load to their documented values; round trips."""

from pathlib import Path

import numpy as np
import pytest

from cnntoolbox.matfile import MatFileError, loadmat, savemat

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
