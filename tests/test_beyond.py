"""The opt-in keys beyond the original: each fast operation against its naive loop,
the gradient check on every new kind, the max-pool tie rule, channels, defaults
given explicitly, and .mat round trips.  (PyTorch: tests/test_torch_crosscheck.py.)
"""

import copy
import importlib
from pathlib import Path

import numpy as np
import pytest

from cnntoolbox import (GradientCheckError, cnnapplygrads, cnnbp, cnnff, cnnnumgradcheck,
                        cnnsetup, cnntest, cnntrain, layerops, literal)
from cnntoolbox.reference.compare import compare
from cnntoolbox.reference.replay import replay_trained
from cnntoolbox.matfile import loadmat, savemat

from helpers import ACTIVATIONS, beyond_problem, max_rel_error

REFERENCE = Path(__file__).resolve().parent.parent / "matlab_reference"


# --- each fast operation against the naive loop in literal.py ------------------------

def _stack(maps):
    return np.ascontiguousarray(np.stack(maps))


@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_activation_and_derivative_against_literal(kind):
    u = np.random.default_rng(1).normal(size=(3, 4, 5, 2))
    a = layerops.activate(u.copy(), kind)
    np.testing.assert_allclose(a, literal.activation(u, kind), rtol=1e-15, atol=0)
    fprime = layerops.derivative(a, kind)
    expected = literal.fprime(a, kind)
    if kind == "linear":
        assert fprime is None and np.all(expected == 1)
    else:
        np.testing.assert_allclose(fprime, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("scale", [1, 2, 3])
@pytest.mark.parametrize("with_ties", [False, True])
def test_maxpool_forward_and_back_against_literal(scale, with_ties):
    rng = np.random.default_rng(scale)
    A = rng.normal(size=(2, 3 * scale, 2 * scale, 3))
    if with_ties:                                    # few values: many blocks with tied maxima
        A = np.round(A)
    pooled, where = layerops.maxpool_forward(A, scale)
    D = rng.normal(size=pooled.shape)
    back = layerops.maxpool_delta_back(where, D, scale)
    for j in range(A.shape[0]):
        np.testing.assert_array_equal(pooled[j], literal.maxpool(A[j], scale))
        np.testing.assert_array_equal(back[j], literal.maxpool_back(A[j], D[j], scale))


def test_meanpool_delta_back_against_literal():
    D = np.random.default_rng(2).normal(size=(2, 3, 4, 5))
    back = layerops.meanpool_delta_back(D, 3)
    for j in range(2):
        np.testing.assert_allclose(back[j], literal.expand(D[j], [3, 3, 1]) / 9, rtol=1e-15)


def test_softmax_and_cross_entropy_against_literal():
    u = np.random.default_rng(3).normal(scale=30, size=(4, 6))
    o = layerops.softmax(u.copy())
    np.testing.assert_allclose(o, np.exp(u) / np.exp(u).sum(axis=0), rtol=1e-13)
    assert np.all(np.isfinite(layerops.softmax(np.array([[1000.0], [-1000.0]]))))


PROBLEMS = [dict(kinds="cs", channels=3, output="softmax", activations=["relu"], methods=["max"]),
            dict(kinds="ccs", channels=2, output="sigm", activations=["tanh", "linear"],
                 methods=["mean"]),
            dict(kinds="cssc", channels=1, output="softmax", activations=["sigm", "relu"],
                 methods=["max", "mean"]),
            dict(kinds="scc", channels=3, output="sigm", activations=["linear", "tanh"],
                 methods=["max"]),
            dict(kinds="", channels=2, output="softmax", activations=[], methods=[]),
            dict(kinds="cs", channels=2, output="linear", activations=["tanh"], methods=["max"])]


@pytest.mark.parametrize("seed", range(12))
def test_fast_routines_equal_literal_on_random_architectures(seed):
    kwargs = PROBLEMS[seed] if seed < len(PROBLEMS) else {}
    net, x, y = beyond_problem(100 + seed, m=3, **kwargs)
    opts = {"alpha": 0.3}
    fast = cnnapplygrads(cnnbp(cnnff(net, x), y), opts)
    slow = literal.cnnapplygrads(literal.cnnbp(literal.cnnff(net, x), y), opts)
    error, where = max_rel_error(slow, fast)
    assert error < 1e-13, where
    assert set(slow) == set(fast)


# --- the gradient check on each new kind ---------------------------------------------

GRADCHECK = {
    "channels": dict(kinds="cs", channels=3, output="sigm", activations=["sigm"],
                     methods=["mean"]),
    "c after c": dict(kinds="cc", channels=1, output="sigm", activations=["sigm", "sigm"]),
    "s after s": dict(kinds="css", channels=1, output="sigm", activations=["sigm"],
                      methods=["mean", "mean"]),
    "relu": dict(kinds="cs", channels=1, output="sigm", activations=["relu"], methods=["mean"]),
    "tanh": dict(kinds="cc", channels=2, output="sigm", activations=["tanh", "tanh"]),
    "linear": dict(kinds="cs", channels=1, output="sigm", activations=["linear"],
                   methods=["mean"]),
    "max": dict(kinds="cs", channels=1, output="sigm", activations=["sigm"], methods=["max"]),
    "max after max": dict(kinds="css", channels=2, output="sigm", activations=["tanh"],
                          methods=["max", "max"]),
    "softmax": dict(kinds="cs", channels=1, output="softmax", activations=["sigm"],
                    methods=["mean"]),
    "linear output": dict(kinds="cs", channels=2, output="linear", activations=["sigm"],
                          methods=["mean"]),
    "f layers": dict(kinds="cs", channels=1, output="sigm", activations=["sigm"],
                     methods=["mean"], full=[(4, None), (3, "tanh")]),
    "f after c, softmax": dict(kinds="c", channels=2, output="softmax", activations=["tanh"],
                               full=[(3, "linear")]),
    "mlp, linear output": dict(kinds="", channels=1, output="linear", full=[(5, "sigm")]),
    "input alone": dict(kinds="", channels=1, output="sigm"),
    "input alone, softmax": dict(kinds="", channels=3, output="softmax"),
    "all": dict(kinds="cscs", channels=3, output="softmax", activations=["relu", "tanh"],
                methods=["max", "mean"]),
}
MARGIN = 1e-3       # ten times the check's epsilon


def _far_from_kinks(net):
    """Whether no ReLU input and no max-pool block is within MARGIN of a kink.

    The central difference with epsilon 1e-4 is exact only where the loss is
    smooth: a ReLU's u or a block's two largest values closer than that to
    each other would cross the kink.
    """
    layers = net["layers"]
    for below, layer in zip(layers, layers[1:]):
        if layer.get("activation") == "relu":
            A = np.stack(layer["a"])
            if np.any((A > 0) & (A < MARGIN)):
                return False
        if layer.get("method") == "max":
            s = int(layer["scale"])
            A = np.stack(below["a"])
            maps, rows, cols, m = A.shape
            blocks = np.sort(A.reshape(maps, rows // s, s, cols // s, s, m)
                             .transpose(0, 1, 3, 5, 2, 4).reshape(maps, rows // s, cols // s, m, -1))
            if s > 1 and np.any(blocks[..., -1] - blocks[..., -2] < MARGIN):
                return False
    return True


@pytest.mark.parametrize("name", GRADCHECK)
def test_cnnnumgradcheck_passes_on_each_new_kind(name):
    for seed in range(50):                           # the first draw away from every kink
        net, x, y = beyond_problem(200 + seed, m=3, **GRADCHECK[name])
        bp = cnnbp(cnnff(net, x), y)
        if _far_from_kinks(bp):
            break
    else:
        pytest.fail("no draw away from the kinks")
    cnnnumgradcheck(bp, x, y)                      # raises GradientCheckError on a wrong gradient


def test_cnnnumgradcheck_catches_a_wrong_max_routing(monkeypatch):
    """The check is not blind to the new kinds: the max's delta sent to the wrong place fails it."""
    net, x, y = beyond_problem(7, m=3, **GRADCHECK["max"])
    real = layerops.maxpool_delta_back

    def wrong(where, D, scale):
        return real((where + 1) % (scale * scale), D, scale)

    monkeypatch.setattr(importlib.import_module("cnntoolbox.cnnbp"), "maxpool_delta_back", wrong)
    with pytest.raises(GradientCheckError):
        cnnnumgradcheck(cnnbp(cnnff(net, x), y), x, y)


# --- max-pool ties ---------------------------------------------------------------------

def test_max_pool_ties_send_the_delta_to_the_first_maximum_in_column_major_order():
    """README: the first maximum going down the block's first column, then the next.

    Block [[0, 5], [5, 0]]: column-major order visits (1,1)=0, (2,1)=5, (1,2)=5, (2,2)=0, so
    the delta goes to (2,1); PyTorch (row-major) would pick (1,2).  A block of equal values
    sends it to (1,1).
    """
    x = np.array([[0.0, 5.0, 2.0, 2.0],
                  [5.0, 0.0, 2.0, 2.0]])[:, :, np.newaxis]
    net = {"layers": [{"type": "i"}, {"type": "c", "outputmaps": 1, "kernelsize": 1,
                                      "activation": "linear"},
                      {"type": "s", "scale": 2, "method": "max"}]}
    net = cnnsetup(net, x, np.zeros((2, 1)), rng=0)
    net["layers"][1]["k"] = [[np.ones((1, 1))]]                 # the 'c' layer passes x through
    net["ffW"] = np.array([[1.0, 0.0], [0.0, 1.0]])
    bp = cnnbp(cnnff(net, x), np.zeros((2, 1)))
    assert bp["layers"][2]["a"][0][:, :, 0].tolist() == [[5.0, 2.0]]
    d_pool = bp["layers"][2]["d"][0][:, :, 0]
    d_conv = bp["layers"][1]["d"][0][:, :, 0]
    expected = np.zeros((2, 4))
    expected[1, 0] = d_pool[0, 0]                                # (2,1) in Matlab's terms
    expected[0, 2] = d_pool[0, 1]                                # (1,1) of the second block
    np.testing.assert_array_equal(d_conv, expected)
    assert d_pool[0, 0] != 0 and d_pool[0, 1] != 0


# --- channels and defaults ------------------------------------------------------------

def test_a_4d_x_of_one_channel_is_the_3d_x():
    rng = np.random.default_rng(4)
    x, y = rng.random((12, 12, 6)), rng.random((3, 6))
    layers = {"layers": [{"type": "i"}, {"type": "c", "outputmaps": 2, "kernelsize": 3},
                         {"type": "s", "scale": 2}]}
    three = cnnsetup(layers, x, y, rng=5)
    four = cnnsetup(layers, x[:, :, np.newaxis, :], y, rng=5)
    assert max_rel_error(three, four)[0] == 0
    a = cnnbp(cnnff(three, x), y)
    b = cnnbp(cnnff(three, x[:, :, np.newaxis, :]), y)
    assert max_rel_error(a, b)[0] == 0


def test_channels_count_in_the_fan_in_and_every_channel_is_pooled():
    rng = np.random.default_rng(5)
    x, y = rng.random((8, 8, 3, 4)), rng.random((2, 4))
    net = cnnsetup({"layers": [{"type": "i"}, {"type": "c", "outputmaps": 4, "kernelsize": 3}]},
                   x, y, rng=rng)
    k = np.array(net["layers"][1]["k"])
    assert k.shape == (3, 4, 3, 3)
    assert np.max(np.abs(k)) <= np.sqrt(6 / (3 * 9 + 4 * 9))
    pooled = cnnsetup({"layers": [{"type": "i"}, {"type": "s", "scale": 2}]}, x, y, rng=rng)
    assert len(pooled["layers"][1]["b"]) == 3 and pooled["ffW"].shape == (2, 3 * 4 * 4)
    ff = cnnff(pooled, x)
    assert len(ff["layers"][0]["a"]) == 3
    np.testing.assert_array_equal(ff["layers"][0]["a"][2], x[:, :, 2, :])
    np.testing.assert_allclose(ff["layers"][1]["a"][1][0, 0], x[:2, :2, 1, :].mean(axis=(0, 1)))


@pytest.mark.parametrize("case", ["mnist", "sfirst", "lastconv"])
def test_the_defaults_given_explicitly_are_the_original_bit_for_bit(case):
    data = loadmat(REFERENCE / f"case_{case}.mat")
    net = copy.deepcopy(data["net_setup"])
    explicit = copy.deepcopy(net)
    explicit["output"] = "sigm"
    for layer in explicit["layers"]:
        if layer["type"] == "c":
            layer["activation"] = "sigm"
        elif layer["type"] == "s":
            layer["method"] = "mean"
    kk = [np.asarray(row, dtype=int) - 1 for row in np.atleast_2d(data["kk"])]
    a = cnntrain(net, data["x"], data["y"], data["opts"], kk=kk, verbose=False)
    b = cnntrain(explicit, data["x"], data["y"], data["opts"], kk=kk, verbose=False)
    assert max_rel_error(a, b)[0] == 0
    assert b["output"] == "sigm" and "output" not in a


def test_cnntest_with_channels_and_softmax():
    net, x, y = beyond_problem(9, kinds="cs", channels=3, output="softmax", m=7,
                               activations=["relu"], methods=["max"])
    er, bad = cnntest(net, x, y)
    o = cnnff(net, x)["o"]
    wrong = np.flatnonzero(np.argmax(o, axis=0) != np.argmax(y, axis=0))
    np.testing.assert_array_equal(bad, wrong)
    assert er == len(wrong) / 7
    np.testing.assert_allclose(o.sum(axis=0), 1, rtol=1e-15)


# --- .mat round trips --------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["7", "7.3"])
def test_a_trained_net_with_every_new_kind_round_trips_through_mat(fmt, tmp_path):
    net, x, y = beyond_problem(11, kinds="cscs", channels=3, output="softmax", m=4,
                               activations=["relu", "tanh"], methods=["max", "mean"])
    trained = cnntrain(net, x, y, {"alpha": 0.1, "batchsize": 2, "numepochs": 1}, rng=0,
                       verbose=False)
    savemat(tmp_path / "net.mat", {"cnn": trained}, format=fmt)
    loaded = loadmat(tmp_path / "net.mat")["cnn"]
    assert loaded["output"] == "softmax"
    assert [layer.get("activation") for layer in loaded["layers"]] == [None, "relu", None, "tanh", None]
    assert [layer.get("method") for layer in loaded["layers"]] == [None, None, "max", None, "mean"]
    comparison = compare(trained, loaded, rtol=0)
    assert comparison.passed, comparison.table()
    assert all(c.passed for c in replay_trained(loaded, alpha=0.1, rtol=1e-12))
    (er_loaded, bad_loaded), (er, bad) = cnntest(loaded, x, y), cnntest(trained, x, y)
    assert er_loaded == er
    np.testing.assert_array_equal(bad_loaded, bad)


def test_compare_names_a_changed_key():
    net, _, _ = beyond_problem(12, kinds="cs", channels=1, output="softmax",
                               activations=["relu"], methods=["max"])
    other = copy.deepcopy(net)
    other["layers"][1]["activation"] = "tanh"
    comparison = compare(net, other)
    assert not comparison.passed
    assert any("activation" in row.name for row in comparison.failures), comparison.table()


@pytest.mark.parametrize("seed", [0, 1])
def test_a_batch_split_in_parts_with_the_new_keys_equals_the_whole(seed):
    """parallel.py's parts carry the keys (output, activation, method) and the channels."""
    from cnntoolbox.netlayout import check_layers, image_shape, map_sizes
    from cnntoolbox.training.parallel import BatchParallel
    from cnntoolbox.netlayout import stack_for_input, unstack_net

    net, x, y = beyond_problem(300 + seed, kinds="cscs", channels=3, output="softmax", m=10,
                               activations=["relu", "tanh"], methods=["max", "mean"])
    whole = cnnbp(cnnff(net, x), y)
    stacked = stack_for_input(net, x)
    sizes = map_sizes(check_layers(net["layers"]), *image_shape(x))
    with BatchParallel(stacked, 10, sizes, parts=2) as parallel:
        parallel.ffbp(x, y)
    error, where = max_rel_error(whole, unstack_net(stacked))
    assert error < 1e-13, where
