"""The opt-ins named as the toolbox's NN part names them (issue 20): linear output, weightPenaltyL2.

Their agreement with PyTorch float64 is in ``tests/test_torch_crosscheck.py``;
here are the rules around them: what is refused, what is left as it was.
"""

import numpy as np
import pytest

from cnntoolbox import cnnapplygrads, cnnbp, cnnff, cnnpredict, cnnsetup, cnntest, cnntrain
from cnntoolbox.errors import UnknownKeyWarning
from cnntoolbox.training.checkpoint import CheckpointError

from helpers import assert_same_net, beyond_problem


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


# --- opts["weightPenaltyL2"] ---------------------------------------------------------

def test_the_penalty_steps_kernels_and_ffW_never_biases_and_leaves_the_gradients():
    net, x, y = beyond_problem(3, kinds="cscs", channels=1, output="sigm", m=4,
                               activations=["sigm", "relu"], methods=["mean", "max"])
    bp = cnnbp(cnnff(net, x), y)
    alpha, lam = 0.4, 0.03
    step = cnnapplygrads(bp, {"alpha": alpha, "weightPenaltyL2": lam})
    np.testing.assert_array_equal(step["ffW"], bp["ffW"] - alpha * (bp["dffW"] + lam * bp["ffW"]))
    np.testing.assert_array_equal(step["ffb"], bp["ffb"] - alpha * bp["dffb"])
    for before, after in zip(bp["layers"], step["layers"]):
        if before["type"] != "c":
            continue
        k, dk = np.array(before["k"]), np.array(before["dk"])
        np.testing.assert_array_equal(np.array(after["k"]), k - alpha * (dk + lam * k))
        b, db = np.array(before["b"]), np.array(before["db"])
        np.testing.assert_array_equal(after["b"], b - alpha * db)
        np.testing.assert_array_equal(np.array(after["dk"]), dk)        # dk excludes the penalty
    assert step["L"] == bp["L"] and np.array_equal(step["dffW"], bp["dffW"])


def test_a_zero_penalty_is_the_original_step_bit_for_bit():
    net, x, y = beyond_problem(4, kinds="cs", channels=1, output="sigm", m=4,
                               activations=["sigm"], methods=["mean"])
    bp = cnnbp(cnnff(net, x), y)
    plain = cnnapplygrads(bp, {"alpha": 0.5})
    assert_same_net(plain, cnnapplygrads(bp, {"alpha": 0.5, "weightPenaltyL2": 0}))


@pytest.mark.parametrize("value, error, match", [
    (-0.1, ValueError, r"opts\['weightPenaltyL2'\] must be >= 0"),
    (float("nan"), ValueError, "must be finite"),
    ("0.1", TypeError, "must be a real number")])
def test_a_bad_penalty_is_named(value, error, match):
    net, x, y = _regression()
    with pytest.raises(error, match=match):
        cnnapplygrads(cnnbp(cnnff(net, x), y), {"alpha": 0.1, "weightPenaltyL2": value})
    with pytest.raises(error, match=match):
        cnntrain(net, x, y, {"alpha": 0.1, "batchsize": 5, "numepochs": 1,
                             "weightPenaltyL2": value}, verbose=False)


def test_the_penalty_given_to_the_net_as_nn_keeps_it_is_named_with_its_place():
    net, x, y = _regression()
    net["weightPenaltyL2"] = 1e-4
    with pytest.warns(UnknownKeyWarning, match=r"opts\['weightPenaltyL2'\]\? it belongs in opts"):
        cnnff(net, x)
    with pytest.warns(UnknownKeyWarning, match=r"did you mean 'weightPenaltyL2'"):
        cnntrain(_regression()[0], x, y, {"alpha": 0.1, "batchsize": 5, "numepochs": 1,
                                          "weight_decay": 1e-4}, verbose=False)


def test_a_checkpoint_made_with_another_penalty_is_refused(tmp_path):
    net, x, y = _regression(m=6)
    opts = {"alpha": 0.1, "batchsize": 3, "numepochs": 2, "weightPenaltyL2": 0.01}
    path = tmp_path / "ck.npz"
    whole = cnntrain(net, x, y, opts, rng=0, verbose=False)
    cnntrain(net, x, y, dict(opts, numepochs=1), rng=0, verbose=False, checkpoint=path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"opts\['weightPenaltyL2'\] = 0.01, not 0.02"):
        cnntrain(net, x, y, dict(opts, weightPenaltyL2=0.02), rng=0, verbose=False,
                 checkpoint=path)
    assert path.read_bytes() == before
    assert_same_net(whole, cnntrain(net, x, y, opts, rng=0, verbose=False, checkpoint=path))


def test_the_command_line_passes_the_penalty_to_cnntrain(tmp_path, capsys):
    from cnntoolbox.__main__ import main
    from cnntoolbox.cli.example import run_example
    from cnntoolbox.matfile import loadmat

    argv = ["train", "--limit", "100", "--layers", "2c5-2s", "--quiet", "--weight-penalty",
            "0.05", "--save", str(tmp_path / "net.mat")]
    assert main(argv) == 0
    saved = loadmat(tmp_path / "net.mat")["cnn"]
    expected = run_example("2c5-2s", limit=100, verbose=False, weight_penalty=0.05)["net"]
    assert np.array_equal(saved["ffW"], expected["ffW"])
    plain = run_example("2c5-2s", limit=100, verbose=False)["net"]
    assert not np.array_equal(plain["ffW"], expected["ffW"])
    capsys.readouterr()
    assert main(["train", "--weight-penalty", "-1"]) == 2
    assert "--weight-penalty: expected a number >= 0, got '-1'" in capsys.readouterr().err
