"""Every stage of every reference case against what the original toolbox computed under Octave.

The files in matlab_reference/ were written by the original DeepLearnToolbox
(see matlab_reference/README.md); the port replays each stage from the
original's own inputs, through the public routines, and every field must
match within 1e-10 relative to the field's largest magnitude.
"""

from pathlib import Path

import numpy as np
import pytest

from cnntoolbox import cnnapplygrads, cnnbp, cnnff, cnntest, cnntrain
from cnntoolbox.matfile import loadmat

REFERENCE = Path(__file__).resolve().parent.parent / "matlab_reference"
CASES = sorted(REFERENCE.glob("case_*.mat"))
TOLERANCE = 1e-10


def field_errors(expected, actual, path="net"):
    """(relative error, path) of every array or number in ``expected``; missing fields fail."""
    if isinstance(expected, dict):
        missing = set(expected) - set(actual)
        assert not missing, f"{path}: the port's net lacks {sorted(missing)}"
        return [row for key in expected for row in field_errors(expected[key], actual[key],
                                                                  f"{path}.{key}")]
    if isinstance(expected, list):
        assert len(expected) == len(actual), f"{path}: {len(expected)} != {len(actual)} entries"
        return [row for i, (e, a) in enumerate(zip(expected, actual))
                for row in field_errors(e, a, f"{path}[{i}]")]
    if isinstance(expected, str):
        assert expected == actual, path
        return []
    e, a = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    assert e.shape == a.shape, f"{path}: shape {e.shape} (original) != {a.shape} (port)"
    scale = float(np.max(np.abs(e))) if e.size else 0.0
    error = float(np.max(np.abs(e - a))) / scale if scale else float(np.max(np.abs(a), initial=0))
    return [(error, path)]


@pytest.fixture(scope="module", params=CASES, ids=[case.stem for case in CASES])
def case(request):
    return loadmat(request.param)


def check(expected, actual, stage):
    errors = field_errors(expected, actual, stage)
    worst = max(errors)
    print(f"{stage}: {len(errors)} fields, worst {worst[0]:.2e} at {worst[1]}")
    assert worst[0] <= TOLERANCE, f"{worst[1]} differs by {worst[0]:.3g} relative"


def test_cases_exist():
    assert len(CASES) >= 9
    assert REFERENCE / "case_onlyinput.mat" in CASES     # the input layer alone (issue 12)


def test_cnnff(case):
    check(case["net_ff"], cnnff(case["net_setup"], case["x"]), "cnnff")


def test_cnnbp(case):
    check(case["net_bp"], cnnbp(case["net_ff"], case["y"]), "cnnbp")


def test_cnnbp_after_our_own_cnnff(case):
    check(case["net_bp"], cnnbp(cnnff(case["net_setup"], case["x"]), case["y"]), "cnnff+cnnbp")


def test_cnnapplygrads(case):
    check(case["net_grads"], cnnapplygrads(case["net_bp"], case["opts"]), "cnnapplygrads")


def test_cnntrain_with_the_recorded_permutations(case):
    kk = [np.asarray(row, dtype=int) - 1 for row in np.atleast_2d(case["kk"])]
    trained = cnntrain(case["net_setup"], case["x"], case["y"], case["opts"], kk=kk, verbose=False)
    check(case["net_train"], trained, "cnntrain")
    assert trained["rL"].shape == np.ravel(case["net_train"]["rL"]).shape


def test_cnntest(case):
    er, bad = cnntest(case["net_train"], case["test_x"], case["test_y"])
    assert er == case["er"]
    np.testing.assert_array_equal(bad, np.ravel(case["bad"]).astype(int) - 1)
