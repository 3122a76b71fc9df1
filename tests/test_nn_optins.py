"""The opt-ins named as the toolbox's NN part names them (issue 20): linear output, weightPenaltyL2.

Their agreement with PyTorch float64 is in ``tests/test_torch_crosscheck.py``;
here are the rules around them: what is refused, what is left as it was.
"""

import numpy as np
import pytest

from cnntoolbox import cnnbp, cnnff, cnnpredict, cnnsetup, cnntest

from helpers import beyond_problem


def _regression(seed=0, m=5):
    """A linear-output net and targets that are no class scores."""
    net, x, _ = beyond_problem(seed, kinds="cs", channels=1, output="linear", m=m,
                               activations=["sigm"], methods=["mean"])
    y = np.random.default_rng(seed).normal(scale=3, size=net["ffb"].shape[:1] + (m,))
    return net, x, y


def test_linear_output_is_u_and_its_delta_is_e():
    net, x, y = _regression()
    bp = cnnbp(cnnff(net, x), y)
    np.testing.assert_array_equal(bp["o"], net["ffW"] @ bp["fv"] + net["ffb"])
    np.testing.assert_array_equal(bp["od"], bp["o"] - y)
    assert bp["L"] == 0.5 * np.sum((bp["o"] - y) ** 2) / x.shape[-1]


@pytest.mark.parametrize("routine", ["cnnpredict", "cnntest"])
def test_a_linear_output_net_has_no_labels(routine):
    net, x, y = _regression()
    with pytest.raises(ValueError, match=r"'linear'.*cnnff\(net, x\)\['o'\]") as caught:
        cnnpredict(net, x) if routine == "cnnpredict" else cnntest(net, x, y)
    assert routine in str(caught.value)


def test_a_linear_output_takes_any_targets_even_one_row_of_integers():
    """Class labels in one row are refused for a bounded output; a regression target may be one."""
    x = np.random.default_rng(1).random((4, 4, 6))
    y = np.array([[0.0, 3, 7, 2, 9, 5]])
    net = cnnsetup({"layers": [{"type": "i"}, {"type": "s", "scale": 2}], "output": "linear"},
                   x, y, rng=0)
    assert cnnff(net, x)["o"].shape == (1, 6)
    with pytest.raises(ValueError, match="class labels"):
        cnnsetup({"layers": [{"type": "i"}, {"type": "s", "scale": 2}]}, x, y, rng=0)
