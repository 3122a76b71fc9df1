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
from cnntoolbox.reference.compare import compare
from cnntoolbox.matfile import loadmat

REFERENCE = Path(__file__).resolve().parent.parent / "matlab_reference"
CASES = sorted(REFERENCE.glob("case_*.mat"))
TOLERANCE = 1e-10


@pytest.fixture(scope="module", params=CASES, ids=[case.stem for case in CASES])
def case(request):
    return loadmat(request.param)


def check(expected, actual, stage):
    """Every array of ``expected`` within TOLERANCE relative to its own largest magnitude.

    A missing field, a shape change, NaN or Inf fails (``compare``'s rules).
    """
    result = compare(expected, actual, TOLERANCE, per="array", title=stage)
    error, where = result.worst()
    print(f"{stage}: {len(result.rows)} fields, worst {error:.2e} at {where}")
    assert result.passed, result.verdict()


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
