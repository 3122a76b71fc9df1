"""cnntoolbox.compare: field-by-field comparison and the ``compare`` command."""

import copy
from pathlib import Path

import numpy as np
import pytest

from cnntoolbox.__main__ import main as cnntoolbox_main
from cnntoolbox.compare import compare
from cnntoolbox.matfile import loadmat, savemat

REFERENCE = Path(__file__).parent.parent / "matlab_reference"
CASES = sorted(REFERENCE.glob("case_*.mat"))
needs_cases = pytest.mark.skipif(not CASES, reason="matlab_reference/case_*.mat not present "
                                 "(made by matlab_reference/make_cases.m)")


def main(argv):
    """``cnntoolbox compare ARGV...``; the exit status."""
    return cnntoolbox_main(["compare", *argv])


@pytest.fixture(scope="module")
def mnist_case():
    return loadmat(REFERENCE / "case_mnist.mat")


@needs_cases
def test_a_single_corrupted_element_in_a_deep_field_is_named(mnist_case):
    reference = mnist_case["net_train"]
    net = copy.deepcopy(reference)
    net["layers"][3]["k"][1][2][0, 3] *= 1 + 1e-7
    result = compare(reference, net)
    assert not result.passed
    assert [row.name for row in result.failures] == ["layers{4}.k"]
    assert result.failures[0].worst == "layers{4}.k{2}{3}(1,4)"
    assert "layers{4}.k" in result.verdict() and "FAIL" in result.verdict()
    assert "layers{4}.k{2}{3}(1,4)" in result.table()
    assert compare(reference, reference).passed


@needs_cases
def test_tolerance_is_relative_to_the_fields_largest_magnitude(mnist_case):
    reference = mnist_case["net_train"]
    net = copy.deepcopy(reference)
    scale = np.max(np.abs(net["ffW"]))
    net["ffW"][0, 0] += 0.5e-10 * scale
    assert compare(reference, net, rtol=1e-10).passed
    net["ffW"][0, 0] += 1e-10 * scale
    row = next(row for row in compare(reference, net, rtol=1e-10).rows if row.name == "ffW")
    assert not row.passed and row.max_rel == pytest.approx(1.5e-10, rel=1e-3)


def test_shapes_are_reconciled_before_they_are_compared():
    # a MATLAB-saved one-sample net has 2-D maps and a scalar ffb; the port's are 3-D and (1, 1)
    matlab = {"layers": [{"type": "i", "a": [np.ones((4, 4))]}], "ffb": 0.5, "rL": np.ones((1, 3))}
    port = {"layers": [{"type": "i", "a": [np.ones((4, 4, 1))]}], "ffb": np.array([[0.5]]),
            "rL": np.ones(3)}
    assert compare(matlab, port).passed
    port["layers"][0]["a"] = [np.ones((4, 5, 1))]
    failure = compare(matlab, port).failures[0]
    assert failure.name == "layers{1}.a" and "shape 4x5x1 vs reference 4x4x1" in failure.note


def test_types_and_counts_that_differ_fail_with_a_note():
    reference = {"layers": [{"type": "c", "b": [0.0, 1.0]}], "L": 1.0}
    net = {"layers": [{"type": "s", "b": [0.0]}], "L": np.nan}
    failures = {row.name: row for row in compare(reference, net).failures}
    assert "'s' vs reference 'c'" in failures["layers{1}.type"].note
    assert "2 cells in the reference, 1 here" in failures["layers{1}.b"].note
    assert failures["L"].max_abs == np.inf                    # NaN where the reference has 1


@needs_cases
@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_every_stage_of_every_reference_case_passes(case, capsys):
    assert main([str(case)]) == 0
    out = capsys.readouterr().out
    assert "cnntrain(net_setup, x, y, opts, kk - 1) vs net_train: PASS" in out
    assert "vs er, bad (1-based): PASS" in out


@needs_cases
@pytest.mark.parametrize("variable", ["net_train", "net_grads"])
def test_a_trained_net_is_replayed_from_its_last_batch(variable, capsys):
    assert main([str(REFERENCE / "case_nonsquare.mat"), variable]) == 0
    out = capsys.readouterr().out
    for stage in ("cnnff", "cnnbp", "cnnapplygrads"):
        assert f"{stage} of the last batch vs {variable}: PASS" in out


@needs_cases
def test_command_fails_and_names_a_corrupted_reference_field(mnist_case, tmp_path, capsys):
    values = dict(mnist_case)
    values["net_ff"] = copy.deepcopy(values["net_ff"])
    values["net_ff"]["layers"][3]["a"][1][2, 5, 0] += 1e-3
    savemat(tmp_path / "bad.mat", values)
    assert main([str(tmp_path / "bad.mat")]) == 1
    out = capsys.readouterr().out
    assert "layers{4}.a{2}(3,6,1)" in out
    assert "cnnff(net_setup, x) vs net_ff: FAIL: 1 of" in out


@needs_cases
def test_wrong_alpha_makes_the_replay_fail(capsys):
    assert main([str(REFERENCE / "case_epochs.mat"), "net_train", "--alpha", "1"]) == 1
    assert main([str(REFERENCE / "case_epochs.mat"), "net_train", "--alpha", "0.5"]) == 0


def test_unusable_input_exits_2_with_one_line(tmp_path, capsys):
    (tmp_path / "text.mat").write_text("not a mat file at all\n" * 10)
    savemat(tmp_path / "nonet.mat", {"x": np.ones(3), "s": {"a": 1.0}})
    savemat(tmp_path / "setup.mat", {"net": {"layers": [{"type": "i"}], "ffW": np.ones((2, 3))}})
    for argv, message in [
        ([str(tmp_path / "absent.mat")], "No such file"),
        ([str(tmp_path / "text.mat")], "not a MAT-file"),
        ([str(tmp_path / "nonet.mat")], "holds no net"),
        ([str(tmp_path / "nonet.mat"), "s"], "s in"),
        ([str(tmp_path / "nonet.mat"), "missing"], "no variable 'missing'"),
        ([str(tmp_path / "setup.mat")], "no 'o'"),
        ([str(tmp_path / "setup.mat"), "--rtol", "x"], "--rtol"),
        ([], "REF.mat"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (argv, err)
