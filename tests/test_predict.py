"""cnnpredict: the labels cnntest compares (issue 20), as nnpredict.m gives them for the NN part."""

import copy
import importlib
from pathlib import Path

import numpy as np
import pytest

import cnntoolbox
from cnntoolbox import cnnbp, cnnff, cnnpredict, cnnsetup, cnntest, load_mnist
from cnntoolbox.cnnpredict import CHUNK, labels

from helpers import compare, parse_layers, random_net


def mnist_sized(seed, m):
    """The toolbox's MNIST net with random kernels, on m MNIST test digits, and their labels.

    At random weights every digit gets the same largest output; ffW and ffb
    are set to the nearest class mean of the feature vectors (scaled by 100)
    so that the labels vary: ffW = (mu_c - mu)', ffb = -(ffW mu + |mu_c - mu|^2 / 2).
    """
    _, _, x, y = load_mnist(layout="toolbox", limit=m)
    net = cnnsetup({"layers": parse_layers("6c5-2s-12c5-2s")}, x, y, rng=seed)
    fv = cnnff(net, x)["fv"]
    mu = fv.mean(axis=1, keepdims=True)
    w = (fv @ y.T / y.sum(axis=1) - mu).T
    net["ffW"] = 100 * w
    net["ffb"] = -100 * (w @ mu + 0.5 * (w ** 2).sum(axis=1, keepdims=True))
    return net, x, y


@pytest.mark.parametrize("seed", [0, 1])
def test_labels_are_the_largest_outputs_and_give_cnntests_er_and_bad(seed):
    m = 2 * CHUNK + 37                                    # across the forward passes' slices
    net, x, y = mnist_sized(seed, m)
    predicted = cnnpredict(net, x)
    assert predicted.shape == (m,) and np.issubdtype(predicted.dtype, np.integer)
    o = cnnff(net, x)["o"]                                # one forward pass, not sliced
    assert np.array_equal(predicted, np.argmax(o, axis=0))
    assert len(np.unique(predicted)) == 10
    er, bad = cnntest(net, x, y)
    assert np.array_equal(bad, np.flatnonzero(predicted != np.argmax(y, axis=0)))
    assert er == len(bad) / m and 0 < er < 0.5
    er, bad = cnntest(net, x, np.eye(10)[predicted].T)   # the predictions as labels: none bad
    assert er == 0 and bad.size == 0


def test_one_sample():
    net, x, _ = mnist_sized(2, 100)
    x = x[:, :, :5]
    batch = cnnpredict(net, x)
    for j in range(5):
        assert cnnpredict(net, x[:, :, j]).tolist() == [batch[j]]           # one 2-D image
        assert cnnpredict(net, x[:, :, j:j + 1]).tolist() == [batch[j]]     # (28, 28, 1)


def test_one_output_is_cnntests_binary_decision():
    net, x, _ = random_net("2c5-2s", 12, 12, 40, 1, seed=4)
    o = cnnff(net, x)["o"][0]
    net["ffb"] = np.array([[np.log(1 / np.median(o) - 1)]])   # half the outputs on each side
    o = cnnff(net, x)["o"][0]
    predicted = cnnpredict(net, x)
    assert predicted.tolist() == [int(v > 0.5) for v in o]
    assert 0 < predicted.sum() < 40
    y = np.random.default_rng(5).integers(0, 2, (1, 40)).astype(float)
    er, bad = cnntest(net, x, y)
    assert np.array_equal(bad, np.flatnonzero(predicted != y[0]))


def test_ties_go_to_the_first_row_as_matlabs_max():
    o = np.array([[0.2, 0.7, 0.1],
                  [0.7, 0.7, 0.1],
                  [0.7, 0.1, 0.1]])
    assert labels(o).tolist() == [1, 0, 0]
    assert labels(np.array([[0.5, 0.500001, 0.2]])).tolist() == [0, 1, 0]


def test_the_callers_net_is_unchanged_and_testing_is_set_on_a_copy(monkeypatch):
    net, x, y = random_net("2c5-2s-2c3", 16, 16, 6, 3, seed=6)
    net = cnnbp(cnnff(net, x), y)                         # with the last batch's fields
    before = copy.deepcopy(net)
    arrays = [net["ffW"], net["o"], net["layers"][1]["a"][0], net["layers"][1]["k"][0][0]]
    seen = []
    module = importlib.import_module("cnntoolbox.cnnpredict")  # the package's name is the routine
    forward = module.ff

    def recording_ff(stacked, batch):
        seen.append(stacked.get("testing"))
        return forward(stacked, batch)

    monkeypatch.setattr(module, "ff", recording_ff)
    cnnpredict(net, x)
    cnntest(net, x, y)
    assert seen == [True, True]                           # nnpredict.m: nn.testing = 1
    assert "testing" not in net
    assert compare(before, net, 0.0).passed
    assert all(a is b for a, b in zip(arrays, [net["ffW"], net["o"], net["layers"][1]["a"][0],
                                                net["layers"][1]["k"][0][0]]))


def test_exported_and_named_in_the_readme():
    assert "cnnpredict" in cnntoolbox.__all__
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "labels = cnnpredict(net, x)" in readme
