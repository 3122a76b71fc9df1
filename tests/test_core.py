"""The net contract, the training loop and the bad inputs of issue 2."""

import copy
import re
import sys

import numpy as np
import pytest

from cnntoolbox import (GradientCheckError, cnnapplygrads, cnnbp, cnnff, cnnnumgradcheck,
                        cnnsetup, cnntest, cnntrain)
from cnntoolbox.netlayout import check_layers, map_sizes

from helpers import max_rel_error, parse_layers, random_net

OPTS = {"alpha": 1.0, "batchsize": 5, "numepochs": 2}


def test_contract_shapes():
    net, x, y = random_net("6c5-2s-12c5-2s", 28, 28, 4, 10)
    net = cnnbp(cnnff(net, x), y)
    layers = net["layers"]
    assert [len(layer["a"]) for layer in layers] == [1, 6, 6, 12, 12]
    assert layers[1]["a"][0].shape == (24, 24, 4) and layers[4]["d"][11].shape == (4, 4, 4)
    assert len(layers[3]["k"]) == 6 and len(layers[3]["k"][0]) == 12
    assert layers[3]["k"][5][11].shape == (5, 5) and layers[3]["dk"][5][11].shape == (5, 5)
    assert isinstance(layers[3]["b"][0], float) and isinstance(layers[3]["db"][0], float)
    assert net["fv"].shape == net["fvd"].shape == (192, 4)
    assert net["o"].shape == net["e"].shape == net["od"].shape == (10, 4)
    assert net["ffW"].shape == net["dffW"].shape == (10, 192)
    assert net["ffb"].shape == net["dffb"].shape == (10, 1)
    assert isinstance(net["L"], float)


def test_fv_is_column_major_per_map():
    net, x, y = random_net("2c5-2s", 12, 12, 3, 2)
    net = cnnff(net, x)
    a = net["layers"][2]["a"]
    expected = np.concatenate([m.reshape(16, 3, order="F") for m in a])
    np.testing.assert_array_equal(net["fv"], expected)


def test_no_routine_modifies_its_input():
    net, x, y = random_net("2c5-2s-2c5-2s", 28, 28, 10, 10)
    for step in (lambda n: cnnff(n, x), lambda n: cnnbp(cnnff(n, x), y),
                 lambda n: cnntrain(n, x, y, OPTS, verbose=False, rng=0)):
        before = copy.deepcopy(net)
        after = step(net)
        assert max_rel_error(before, net)[0] == 0 and net.keys() == before.keys()
        assert after is not net
    trained = cnnbp(cnnff(net, x), y)
    before = copy.deepcopy(trained)
    cnnapplygrads(trained, OPTS)
    assert max_rel_error(before, trained)[0] == 0


def test_batch_of_one_matches_the_same_sample_in_a_batch():
    net, x, y = random_net("2c5-2s-2c5-2s", 28, 28, 6, 10)
    full = cnnbp(cnnff(net, x), y)
    one = cnnbp(cnnff(net, x[:, :, 3:4]), y[:, 3:4])
    np.testing.assert_allclose(one["o"][:, 0], full["o"][:, 3], rtol=1e-13)
    np.testing.assert_allclose(one["layers"][2]["d"][1][:, :, 0], full["layers"][2]["d"][1][:, :, 3],
                               rtol=1e-12)
    assert one["layers"][1]["a"][0].shape == (24, 24, 1)
    single_image = cnnff(net, x[:, :, 3])                 # a 2-D image is a batch of one
    np.testing.assert_array_equal(single_image["o"], one["o"])
    cnnnumgradcheck(one, x[:, :, 3:4], y[:, 3:4])


def test_training_records_rL_and_replays_given_permutations():
    net, x, y = random_net("2c5-2s-2c5-2s", 28, 28, 10, 10)
    kk = [np.arange(10)[::-1], np.arange(10)]
    a = cnntrain(net, x, y, OPTS, kk=kk, verbose=False)
    b = cnntrain(net, x, y, OPTS, kk=kk, verbose=False)
    assert a["rL"].shape == (2 * 2 + 1,)
    np.testing.assert_array_equal(a["rL"], b["rL"])
    # by hand: the same four steps through the public routines
    manual = net
    losses = []
    for order in kk:
        for batch in (order[:5], order[5:]):
            manual = cnnapplygrads(cnnbp(cnnff(manual, x[:, :, batch]), y[:, batch]), OPTS)
            losses.append(manual["L"])
    rL = [losses[0]]
    for loss in losses:
        rL.append(0.99 * rL[-1] + 0.01 * loss)
    np.testing.assert_allclose(a["rL"], rL, rtol=1e-13)
    assert max_rel_error(manual["ffW"], a["ffW"])[0] < 1e-13


def test_training_prints_epochs(capsys):
    net, x, y = random_net("2c5-2s", 12, 12, 10, 2)
    cnntrain(net, x, y, OPTS, rng=0)
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out and "Elapsed time is" in out


def test_cnntest_counts_argmax_misses():
    net, x, _ = random_net("2c5-2s-2c5-2s", 28, 28, 8, 4)
    o = cnnff(net, x)["o"]
    y = np.zeros((4, 8))
    predicted = np.argmax(o, axis=0)
    truth = predicted.copy()
    truth[[1, 6]] = (truth[[1, 6]] + 1) % 4
    y[truth, np.arange(8)] = 1
    er, bad = cnntest(net, x, y)
    assert er == 0.25 and bad.tolist() == [1, 6] and isinstance(er, float)


def test_cnntest_with_one_output_is_a_binary_decision():
    net, x, _ = random_net("2c5-2s", 12, 12, 6, 1)
    o = cnnff(net, x)["o"][0]
    y = (o > 0.5).astype(float)[np.newaxis, :]
    y[0, 2] = 1 - y[0, 2]
    er, bad = cnntest(net, x, y)
    assert bad.tolist() == [2] and er == pytest.approx(1 / 6)


@pytest.mark.parametrize("spec,rows,cols", [("2c5-2s-2c5-2s", 28, 28), ("3c3-2s-2c3", 12, 10),
                                            ("2s-2c3-2s", 16, 16), ("2c4-3s", 12, 15)])
def test_numgradcheck_passes(spec, rows, cols):
    net, x, y = random_net(spec, rows, cols, 3, 4, seed=7)
    cnnnumgradcheck(cnnbp(cnnff(net, x), y), x, y)


@pytest.mark.parametrize("where", ["dffb", "dffW", "db", "dk"])
def test_numgradcheck_fails_on_a_corrupted_gradient(where):
    net, x, y = random_net("2c5-2s-2c5-2s", 28, 28, 3, 10, seed=3)
    net = cnnbp(cnnff(net, x), y)
    if where in ("dffb", "dffW"):
        net[where] = net[where].copy()
        net[where][0, -1] += 1e-6
        name = where[1:]
    elif where == "db":
        net["layers"][1]["db"][1] += 1e-6
        name = "layers{2}.b{2}"
    else:
        net["layers"][3]["dk"][1][0] = net["layers"][3]["dk"][1][0] + 1e-6
        name = "layers{4}.k{2}{1}"
    with pytest.raises(GradientCheckError, match=r"numerical gradient checking failed at " +
                       name.replace("{", r"\{").replace("}", r"\}")):
        cnnnumgradcheck(net, x, y)


# Two wrong gradients: the check names the one cnnnumgradcheck.m visits first (ffb, ffW row by
# row, then the 'c' layers from the last; per output map j, b{j} and then k{i}{j} for each i).
@pytest.mark.parametrize("planted,first", [
    ([(3, "db", (1,)), (3, "dk", (0, 0, 0, 0))], "layers{4}.k{1}{1}(1,1)"),
    ([(3, "db", (1,)), (3, "dk", (1, 0, 2, 2))], "layers{4}.k{2}{1}(3,3)"),
    ([(3, "dk", (0, 1, 0, 0)), (3, "dk", (1, 0, 0, 0))], "layers{4}.k{2}{1}(1,1)"),
    ([(1, "db", (0,)), (3, "dk", (1, 1, 1, 0))], "layers{4}.k{2}{2}(2,1)"),
    ([(None, "dffW", (1, 0)), (None, "dffW", (0, 2))], "ffW(1,3)"),
])
def test_numgradcheck_names_the_first_wrong_gradient_in_the_m_files_order(planted, first):
    net, x, y = random_net("2c3-2s-2c3-2s", 14, 14, 2, 2, seed=5)
    net = cnnbp(cnnff(net, x), y)
    for layer, field, index in planted:
        if layer is None:
            net[field] = net[field].copy()
            net[field][index] += 1e-6
        elif field == "db":
            net["layers"][layer]["db"][index[0]] += 1e-6
        else:
            i, j, u, v = index
            kernel = net["layers"][layer]["dk"][i][j] = net["layers"][layer]["dk"][i][j].copy()
            kernel[u, v] += 1e-6
    with pytest.raises(GradientCheckError, match=r"failed at " + re.escape(first) + ":"):
        cnnnumgradcheck(net, x, y)


def test_integer_valued_floats_are_accepted():
    layers = [{"type": "i"}, {"type": "c", "outputmaps": 2.0, "kernelsize": 5.0},
              {"type": "s", "scale": 2.0}]
    x = np.random.default_rng(0).random((12, 12, 4))
    y = np.eye(2)[:, [0, 1, 0, 1]]
    net = cnnsetup({"layers": layers}, x, y, rng=0)
    net = cnntrain(net, x, y, {"alpha": 1, "batchsize": 2.0, "numepochs": 1.0}, verbose=False)
    assert net["rL"].shape == (3,)


# --- bad input ----------------------------------------------------------------

X = np.random.default_rng(0).random((28, 28, 4))
Y = np.random.default_rng(1).random((10, 4))


@pytest.mark.parametrize("layers,message", [
    ([{"type": "c", "outputmaps": 2, "kernelsize": 5}], "input layer"),
    ([{"type": "i"}, {"type": "x"}], "layer 2.*unknown type 'x'"),
    ([{"type": "i"}, {"type": "c", "kernelsize": 5}], "layer 2.*without 'outputmaps'"),
    ([{"type": "i"}, {"type": "c", "outputmaps": 2}], "layer 2.*without 'kernelsize'"),
    ([{"type": "i"}, {"type": "c", "outputmaps": 0, "kernelsize": 5}], "layer 2.*outputmaps"),
    ([{"type": "i"}, {"type": "c", "outputmaps": 2, "kernelsize": 2.5}], "layer 2.*kernelsize"),
    ([{"type": "i"}, {"type": "s", "scale": -2}], "layer 2.*scale"),
    ([{"type": "i"}, {"type": "s"}], "layer 2.*without 'scale'"),
    ([{"type": "i"}, {"type": "c", "outputmaps": 2, "kernelsize": 29}], "layer 2.*larger"),
    ([{"type": "i"}, {"type": "i"}], "layer 2"),
    ([], "needs an input layer"),
])
def test_bad_architectures(layers, message):
    with pytest.raises(ValueError, match=message):
        cnnsetup({"layers": layers}, X, Y)


def test_scale_must_divide_with_the_toolbox_message():
    layers = parse_layers("2c5-5s")
    with pytest.raises(ValueError, match=r"^Layer 3 size must be integer. Actual: 4.8 4.8$"):
        cnnsetup({"layers": layers}, X, Y)


def test_batchsize_must_divide_m():
    net, x, y = random_net("2c5-2s", 12, 12, 10, 2)
    with pytest.raises(ValueError, match=r"^numbatches not integer: m / batchsize = 10 / 3 = "
                                         r"3\.33333; the batch size must divide"):
        cnntrain(net, x, y, {"alpha": 1, "batchsize": 3, "numepochs": 1})


@pytest.mark.parametrize("x,y,message", [
    (np.zeros((28, 28, 2, 2, 1)), np.zeros((10, 1)), "x must be 3-D"),
    (np.zeros(28), np.zeros((10, 1)), "x must be 3-D"),
    (X, np.zeros((10, 3)), "y has 3 columns but x has m = 4"),
    (np.where(X > 0.5, np.nan, X), Y, "x contains NaN"),
    (X, np.full((10, 4), np.inf), "y contains NaN or Inf"),
    (X, np.zeros((9, 4)), "y has 9 rows but the net has 10 outputs"),
])
def test_bad_batches(x, y, message):
    net, _, _ = random_net("2c5-2s-2c5-2s", 28, 28, 4, 10)
    with pytest.raises(ValueError, match=message):
        cnntest(net, x, y) if y.shape[0] != 10 else cnnbp(cnnff(net, x), y)


def test_a_hand_built_net_runs_in_cnnff():
    net, x, _ = random_net("2c5-2s", 12, 12, 2, 3)
    hand = {"layers": [dict(layer) for layer in net["layers"]], "ffW": net["ffW"], "ffb": net["ffb"]}
    assert cnnff(hand, x)["o"].shape == (3, 2)
    hand["ffW"] = net["ffW"][:, :-1]
    with pytest.raises(ValueError, match=r"net\['ffW'\] must be \(onum, 32\)"):
        cnnff(hand, x)


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_training_with_the_batch_split_in_parts_matches_the_routines_one_by_one(parts, monkeypatch):
    """Batches of 24 run in ``parts`` parts (parallel.py), forced even on a one-core machine."""
    from cnntoolbox.training.parallel import BatchParallel

    cnntrain_module = sys.modules["cnntoolbox.cnntrain"]      # the name cnntrain is the function

    made = []

    class Forced(BatchParallel):
        def __init__(self, net, batchsize, sizes):
            super().__init__(net, batchsize, sizes, parts=parts)
            made.append(self)

    monkeypatch.setattr(cnntrain_module, "BatchParallel", Forced)
    net, x, y = random_net("2c5-2s-3c3-2s", 20, 20, 48, 4, seed=11)
    opts = {"alpha": 0.8, "batchsize": 24, "numepochs": 2}
    kk = [np.random.default_rng(1).permutation(48), np.random.default_rng(2).permutation(48)]
    trained = cnntrain(net, x, y, opts, kk=kk, verbose=False)
    assert [len(instance.parts) for instance in made] == [parts]
    manual, losses = net, []
    for order in kk:
        for batch in (order[:24], order[24:]):
            before = cnnbp(cnnff(manual, x[:, :, batch]), y[:, batch])
            manual = cnnapplygrads(before, opts)
            losses.append(manual["L"])
    rL = [losses[0]]
    for loss in losses:
        rL.append(0.99 * rL[-1] + 0.01 * loss)
    np.testing.assert_allclose(trained["rL"], rL, rtol=1e-13)
    error, where = max_rel_error(manual, trained)
    assert error < 1e-12, where
    assert trained["layers"][1]["a"][0].shape == (16, 16, 24)


def test_each_part_runs_its_own_samples():
    """Two parts of a batch of 10: 5 samples each, gradients summing to the whole batch's."""
    from cnntoolbox.training.parallel import BatchParallel
    from cnntoolbox.netlayout import stack_for_input, unstack_net

    net, x, y = random_net("2c3-2s", 10, 10, 10, 3, seed=4)
    whole = cnnbp(cnnff(net, x), y)
    stacked = stack_for_input(net, x)
    sizes = map_sizes(check_layers(net["layers"]), 10, 10)
    with BatchParallel(stacked, 10, sizes, parts=2) as parallel:
        parallel.ffbp(x, y)
        assert [part["o"].shape for part in parallel.parts] == [(3, 5), (3, 5)]
    error, where = max_rel_error(whole, unstack_net(stacked))
    assert error < 1e-13, where
    for parts in (0, 11):
        with pytest.raises(ValueError, match="parts must be between 1 and the batch size 10"):
            BatchParallel(stacked, 10, sizes, parts=parts)


def test_a_stacked_net_run_again_gets_fresh_results_and_no_scratch_fields():
    """ff hands bp its cache explicitly: nothing of a batch leaks into the next through the net.

    No field of the net or of a layer starts with ``_`` (before issue 21 ``ff`` kept its
    windows in ``_windows`` and bp read them back; this test failed on that).
    """
    from cnntoolbox.cnnbp import bp
    from cnntoolbox.cnnff import ff
    from cnntoolbox.netlayout import stack_for_input, unstack_net

    net, x, y = random_net("3c5-2m-4c3-2s", 20, 16, 6, 3, seed=5)
    rng = np.random.default_rng(6)
    x2, y2 = rng.random(x.shape), rng.random(y.shape)
    stacked = stack_for_input(net, x)
    bp(stacked, y, ff(stacked, x))
    bp(stacked, y2, ff(stacked, x2))
    fields = list(stacked) + [key for layer in stacked["layers"] for key in layer]
    assert not [key for key in fields if key.startswith("_")]
    fresh = cnnbp(cnnff(net, x2), y2)
    error, where = max_rel_error(fresh, unstack_net(stacked))
    assert error == 0.0, where
