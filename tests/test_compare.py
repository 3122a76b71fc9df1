"""cnntoolbox.reference.compare, the one comparison, and the `compare` command (replay.replay_file)."""

import copy
from pathlib import Path

import numpy as np
import pytest

from cnntoolbox.__main__ import main as cnntoolbox_main
from cnntoolbox.reference.compare import compare
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


# --- every comparison helper fails on NaN, Inf, a missing field and a shape change ----------

def _defective(net, defect):
    """A copy of ``net`` with one defect in ``ffW`` or in a conv layer's kernels."""
    net = copy.deepcopy(net)
    if defect == "nan":
        net["ffW"][1, 2] = np.nan
    elif defect == "inf":
        net["layers"][1]["k"][0][1][2, 0] = np.inf
    elif defect == "-inf in ffb":
        net["ffb"][0, 0] = -np.inf
    elif defect == "missing field":
        del net["ffW"]
    elif defect == "missing layer field":
        del net["layers"][1]["dk"]
    elif defect == "shape change":
        net["ffW"] = net["ffW"][:, :-1]
    elif defect == "map shape":
        net["layers"][2]["a"][0] = net["layers"][2]["a"][0][:, :-1]
    elif defect == "one kernel fewer":
        net["layers"][1]["k"][0] = net["layers"][1]["k"][0][:-1]
    return net


DEFECTS = ["nan", "inf", "-inf in ffb", "missing field", "missing layer field", "shape change",
           "map shape", "one kernel fewer"]


@pytest.fixture(scope="module")
def trained_net():
    from cnntoolbox import cnnbp, cnnff

    from helpers import random_net

    net, x, y = random_net("2c3-2s", 8, 8, 3, 4, seed=5)
    return cnnbp(cnnff(net, x), y)


def _helpers():
    """Every comparison the package and the tests use: name -> (reference, net) -> passed."""
    from test_reference import check

    from helpers import max_rel_error

    def checked(reference, net):
        try:
            check(reference, net, "stage")
        except AssertionError:
            return False
        return True

    return {
        "compare per field": lambda reference, net: compare(reference, net).passed,
        "compare per array": lambda reference, net: compare(reference, net, per="array").passed,
        "tests/helpers.max_rel_error": lambda reference, net: max_rel_error(reference, net)[0] < 1e-13,
        "tests/test_reference.check": checked,
    }


@pytest.mark.parametrize("helper", list(_helpers()))
@pytest.mark.parametrize("defect", DEFECTS)
def test_every_helper_fails_on_the_defect(helper, defect, trained_net):
    judge = _helpers()[helper]
    assert judge(trained_net, copy.deepcopy(trained_net))
    assert not judge(trained_net, _defective(trained_net, defect))


@pytest.mark.parametrize("defect", ["nan", "inf", "missing", "shape change"])
def test_the_replay_verdict_fails_on_the_defect(defect, trained_net):
    from cnntoolbox.reference.replay import compare_replay

    net = dict(copy.deepcopy(trained_net), rL=np.array([0.5, 0.4, 0.3]))
    reference = {"net_final": copy.deepcopy(net), "rL": net["rL"].copy(), "er": 0.25,
                 "bad": np.array([0, 2])}
    assert all(c.passed for c in compare_replay(reference, net, 0.25, np.array([0, 2])))
    assert all(c.passed for c in compare_replay(reference, dict(net, rL=net["rL"][:2])))
    if defect == "nan":
        bad = [(dict(net, rL=np.array([0.5, np.nan, 0.3])), 0.25, [0, 2]),
               (net, np.nan, [0, 2])]
    elif defect == "inf":
        bad = [(dict(net, ffb=np.full_like(net["ffb"], np.inf)), 0.25, [0, 2]),
               (net, np.inf, [0, 2])]
    elif defect == "missing":
        bad = [({key: value for key, value in net.items() if key != "ffW"}, 0.25, [0, 2])]
    else:
        bad = [(dict(net, ffW=net["ffW"][:1]), 0.25, [0, 2]), (net, 0.25, [0, 2, 3]),
               (net, 0.25, [0])]
    for got, er, wrong in bad:
        assert not all(c.passed for c in compare_replay(reference, got, er, np.array(wrong)))
    if defect in ("nan", "inf"):              # the partial replay compares rL alone
        prefix = dict(net, rL=np.array([0.5, np.nan if defect == "nan" else np.inf]))
        assert not all(c.passed for c in compare_replay(reference, prefix))


def test_a_non_finite_reference_value_must_be_matched():
    reference = {"v": np.array([1.0, np.nan, np.inf, -np.inf])}
    assert compare(reference, {"v": np.array([1.0, np.nan, np.inf, -np.inf])}).passed
    for got in ([1.0, 0.0, np.inf, -np.inf], [1.0, np.nan, 1e300, -np.inf],
                [1.0, np.nan, -np.inf, -np.inf], [1.0, np.inf, np.inf, -np.inf]):
        row = compare(reference, {"v": np.array(got)}).rows[0]
        assert not row.passed and row.max_abs == np.inf, got


def test_a_field_only_in_the_result_is_reported_and_does_not_fail(trained_net):
    net = dict(copy.deepcopy(trained_net), extra=np.ones(2))
    net["layers"][1]["note"] = "x"
    result = compare(trained_net, net)
    assert result.passed
    assert result.only_in_net == ["layers{2}.note", "extra"]
    assert "only in the net (not compared): layers{2}.note, extra" in result.table()


def test_a_missing_field_is_a_failing_row(trained_net):
    result = compare(trained_net, _defective(trained_net, "missing layer field"))
    assert [row.name for row in result.failures] == ["layers{2}.dk"]
    assert "missing here" in result.failures[0].note
    assert result.worst() == (np.inf, result.failures[0].note)
    # ... unless the comparison is asked for other fields only
    assert compare(trained_net, _defective(trained_net, "missing layer field"),
                   fields={"k", "ffW"}).passed
