"""The opt-ins named as the toolbox's NN part names them (issue 20): linear output,
weightPenaltyL2, fully connected 'f' layers.

Their agreement with PyTorch float64 is in ``tests/test_torch_crosscheck.py``;
here are the rules around them: what is refused, what is left as it was.
"""

import copy
import re

import numpy as np
import pytest

from cnntoolbox import (GradientCheckError, cnnapplygrads, cnnbp, cnnff, cnnnumgradcheck,
                        cnnpredict, cnnsetup, cnntest, cnntrain)
from cnntoolbox.errors import UnknownKeyWarning
from cnntoolbox.matfile import loadmat, savemat
from cnntoolbox.netlayout import format_layers, parse_layers
from cnntoolbox.reference.compare import compare
from cnntoolbox.reference.replay import replay_trained
from cnntoolbox.training.checkpoint import CheckpointError

from helpers import assert_same_net, beyond_problem, max_rel_error


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


# --- fully connected 'f' layers ------------------------------------------------------

def _full_net(seed=6, m=4, output="softmax"):
    return beyond_problem(seed, kinds="cs", channels=1, output=output, m=m,
                          activations=["sigm"], methods=["mean"], full=[(4, None), (3, "tanh")])


def test_the_layer_spec_reads_and_writes_f_layers():
    layers = parse_layers("6c5-2s-12c5-2s-100f-20ft")
    assert layers[-2:] == [{"type": "f", "size": 100},
                           {"type": "f", "size": 20, "activation": "tanh"}]
    for spec in ["6c5-2s-12c5-2s-100f", "30fr-10fl", "2m-3c3t-5f"]:
        assert format_layers(parse_layers(spec)) == spec
    for bad in ["0f", "10fx", "f10"]:
        with pytest.raises(ValueError, match=r"Nf for a fully connected layer"):
            parse_layers(bad)


@pytest.mark.parametrize("layers, error, match", [
    ([{"type": "f", "size": 3}, {"type": "c", "outputmaps": 2, "kernelsize": 3}], ValueError,
     r"layer 3 .*a 'c' layer cannot follow a fully connected 'f' layer"),
    ([{"type": "f"}], ValueError, r"layer 2 .*an 'f' layer without 'size'"),
    ([{"type": "f", "units": 3}], ValueError, r"without 'size' \(it has 'units': did you mean"),
    ([{"type": "f", "size": 3, "method": "max"}], ValueError, r"'method' belongs to 's' layers"),
    ([{"type": "f", "size": 2.5}], ValueError, r"'size' must be a positive integer"),
    ([{"type": "f", "size": 3, "activation": "swish"}], ValueError, r"'activation' must be one"),
])
def test_a_wrong_f_layer_is_named(layers, error, match):
    x, y = np.zeros((4, 4, 2)), np.eye(2)
    with pytest.raises(error, match=match):
        cnnsetup({"layers": [{"type": "i"}] + layers}, x, y, rng=0)


def test_setup_draws_W_by_the_rule_of_ffW_and_ffW_reads_the_last_f_layer():
    x, y = np.zeros((8, 8, 3)), np.eye(3)
    net = cnnsetup({"layers": parse_layers("2c3-2s-5f-4ft")}, x, y, rng=0)
    full = net["layers"][3:]
    assert full[0]["W"].shape == (5, 2 * 3 * 3) and full[1]["W"].shape == (4, 5)
    assert full[0]["b"].shape == (5, 1) and not full[0]["b"].any()
    assert net["ffW"].shape == (3, 4)
    for layer, inputs in zip(full, (18, 5)):
        bound = np.sqrt(6 / (layer["size"] + inputs))
        assert 0.5 * bound < np.abs(layer["W"]).max() <= bound
    with pytest.raises(ValueError, match=r"layer 4 .*'W' must be \(5, 18\) .*got \(5, 17\)"):
        cnnff(dict(net, layers=net["layers"][:3] + [dict(full[0], W=full[0]["W"][:, 1:])]
                   + net["layers"][4:]), x)


def test_the_gradient_check_visits_an_f_layer_b_then_W_after_ffW_from_the_last_layer():
    net, x, y = _full_net()
    bp = cnnbp(cnnff(net, x), y)
    wrong = copy.deepcopy(bp)
    wrong["layers"][4]["db"][1, 0] += 1e-3                  # the last 'f' layer's b(2)
    wrong["layers"][3]["dW"][0, 0] += 1e-3                  # and a layer below it
    wrong["layers"][1]["dk"][0][0][0, 0] += 1e-3
    with pytest.raises(GradientCheckError, match=r"at layers\{5\}\.b\(2,1\)"):
        cnnnumgradcheck(wrong, x, y)
    wrong["layers"][4]["db"][1, 0] -= 1e-3
    with pytest.raises(GradientCheckError, match=r"at layers\{4\}\.W\(1,1\)"):
        cnnnumgradcheck(wrong, x, y)
    wrong["layers"][3]["dW"][0, 0] -= 1e-3
    with pytest.raises(GradientCheckError, match=r"at layers\{2\}\.k\{1\}\{1\}\(1,1\)"):
        cnnnumgradcheck(wrong, x, y)


@pytest.mark.parametrize("fmt", ["7", "7.3"])
def test_a_trained_net_with_f_layers_round_trips_through_mat(fmt, tmp_path):
    net, x, y = _full_net()
    trained = cnntrain(net, x, y, {"alpha": 0.1, "batchsize": 2, "numepochs": 1,
                                   "momentum": 0.5}, rng=0, verbose=False)
    savemat(tmp_path / "net.mat", {"cnn": trained}, format=fmt)
    loaded = loadmat(tmp_path / "net.mat")["cnn"]
    assert [layer["type"] for layer in loaded["layers"]] == ["i", "c", "s", "f", "f"]
    for field in ("W", "b", "a", "db"):
        assert isinstance(loaded["layers"][3][field], np.ndarray)     # no per-map list
        assert loaded["layers"][3][field].shape == trained["layers"][3][field].shape, field
    assert trained["layers"][3]["b"].shape == (4, 1) and trained["layers"][3]["a"].shape == (4, 2)
    assert list(loaded["layers"][3]) == ["type", "size", "W", "b", "a", "d", "dW", "db",
                                         "vW", "vb"]
    comparison = compare(trained, loaded, rtol=0)
    assert comparison.passed, comparison.table()
    plain = cnntrain(net, x, y, {"alpha": 0.1, "batchsize": 2, "numepochs": 1}, rng=0,
                     verbose=False)
    savemat(tmp_path / "plain.mat", {"cnn": plain}, format=fmt)
    assert all(c.passed for c in replay_trained(loadmat(tmp_path / "plain.mat")["cnn"],
                                                alpha=0.1, rtol=1e-12))
    np.testing.assert_array_equal(cnnpredict(loaded, x), cnnpredict(trained, x))
    go_on = cnntrain(loaded, x, y, {"alpha": 0.1, "batchsize": 2, "numepochs": 1,
                                    "momentum": 0.5}, rng=1, verbose=False)
    assert_same_net(go_on, cnntrain(trained, x, y, {"alpha": 0.1, "batchsize": 2,
                                                    "numepochs": 1, "momentum": 0.5},
                                    rng=1, verbose=False))


def test_compare_names_a_changed_f_weight():
    net, _, _ = _full_net()
    other = copy.deepcopy(net)
    other["layers"][3]["W"][2, 1] += 1e-3
    comparison = compare(net, other)
    assert not comparison.passed
    assert any("layers{4}.W" in row.name for row in comparison.failures), comparison.table()


def test_a_checkpoint_with_f_layers_resumes_bit_for_bit(tmp_path):
    net, x, y = _full_net(m=6)
    opts = {"alpha": 0.1, "batchsize": 3, "numepochs": 2, "momentum": 0.5}
    whole = cnntrain(net, x, y, opts, rng=0, verbose=False)
    path = tmp_path / "ck.npz"
    cnntrain(net, x, y, dict(opts, numepochs=1), rng=0, verbose=False, checkpoint=path)
    assert_same_net(whole, cnntrain(net, x, y, opts, rng=0, verbose=False, checkpoint=path))
    other = copy.deepcopy(net)
    other["layers"][4]["size"] = 4
    other["layers"][4]["W"] = np.zeros((4, 4))
    other["layers"][4]["b"] = np.zeros((4, 1))
    other["ffW"] = np.zeros((net["ffW"].shape[0], 4))
    with pytest.raises(CheckpointError, match=r"for the net i-2c\d-2s-4f-3ft, not i-2c\d-2s-4f-4ft"):
        cnntrain(other, x, y, opts, rng=0, verbose=False, checkpoint=path)


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_a_batch_split_in_parts_with_f_layers_equals_the_whole(parts):
    from cnntoolbox.netlayout import image_shape, map_sizes, stack_for_input, unstack_net
    from cnntoolbox.training.parallel import BatchParallel

    net, x, y = _full_net(m=9)
    whole = cnnbp(cnnff(net, x), y)
    stacked = stack_for_input(net, x)
    with BatchParallel(stacked, 9, map_sizes(stacked["layers"], *image_shape(x)),
                       parts=parts) as parallel:
        parallel.ffbp(x, y)
    error, where = max_rel_error(whole, unstack_net(stacked))
    assert error < 1e-13, where


def test_the_command_line_trains_f_layers(tmp_path, capsys):
    from cnntoolbox.__main__ import main

    argv = ["train", "--limit", "100", "--layers", "2c5-2s-12f-8ft", "--quiet", "--save",
            str(tmp_path / "net.mat")]
    assert main(argv) == 0
    assert re.search(r"^test error: \d+\.\d\d% \(\d+ of 100 wrong\)$", capsys.readouterr().out,
                     re.M)
    net = loadmat(tmp_path / "net.mat")["cnn"]
    assert format_layers(net["layers"]) == "2c5-2s-12f-8ft"
    assert net["layers"][3]["W"].shape == (12, 2 * 12 * 12) and net["ffW"].shape == (10, 8)


# --- net["dropoutFraction"] ------------------------------------------------------------

def _dropout_net(p=0.4, m=8, seed=7):
    net, x, y = _full_net(seed=seed, m=m)
    net["dropoutFraction"] = p
    return net, x, y


def test_a_training_pass_masks_fv_and_each_f_output_and_keeps_the_masks():
    net, x, y = _dropout_net()
    plain = cnnff({k: v for k, v in net.items() if k != "dropoutFraction"}, x)
    ff = cnnff(net, x, rng=0)
    mask = ff["dropOutMask"]
    assert mask.shape == plain["fv"].shape and set(np.unique(mask)) == {0.0, 1.0}
    np.testing.assert_array_equal(ff["fv"], plain["fv"] * mask)
    rng = np.random.default_rng(0)                        # fv's mask, then each 'f' layer's
    np.testing.assert_array_equal(mask, rng.random(mask.shape) > 0.4)
    for l in (3, 4):
        np.testing.assert_array_equal(ff["layers"][l]["dropOutMask"],
                                      rng.random(ff["layers"][l]["a"].shape) > 0.4)
    assert not ff["layers"][4]["a"][ff["layers"][4]["dropOutMask"] == 0].any()
    assert_same_net(ff, cnnff(net, x, rng=0))             # a seed repeats


def test_a_testing_pass_scales_by_one_minus_p_and_draws_nothing():
    net, x, y = _dropout_net()
    plain = cnnff({k: v for k, v in net.items() if k != "dropoutFraction"}, x)
    net["testing"] = True
    ff = cnnff(net, x, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(ff["fv"], plain["fv"] * (1 - 0.4))
    assert "dropOutMask" not in ff and "dropOutMask" not in ff["layers"][3]
    with pytest.raises(ValueError, match=r"net\['testing'\] is set with net\['dropoutFraction'\]"):
        cnnbp(ff, y)


def test_cnnpredict_and_cnntest_evaluate_with_testing_set():
    net, x, y = _dropout_net()
    o = cnnff(dict(net, testing=True), x)["o"]
    np.testing.assert_array_equal(cnnpredict(net, x), np.argmax(o, axis=0))
    assert "testing" not in net
    np.testing.assert_array_equal(cnntest(net, x, y)[1],
                                  np.flatnonzero(np.argmax(o, axis=0) != np.argmax(y, axis=0)))


def test_the_gradient_check_passes_with_the_mask_of_the_pass_and_fails_with_another():
    net, x, y = _dropout_net(p=0.3, m=4)
    bp = cnnbp(cnnff(net, x, rng=2), y)
    cnnnumgradcheck(bp, x, y)
    other = copy.deepcopy(bp)
    other["layers"][3]["dropOutMask"] = 1 - other["layers"][3]["dropOutMask"]
    with pytest.raises(GradientCheckError):
        cnnnumgradcheck(other, x, y)
    del other["layers"][3]["dropOutMask"]
    with pytest.raises(ValueError, match=r"layer 4 .*'dropOutMask' must be \(4, 4\)"):
        cnnnumgradcheck(other, x, y)


def test_no_dropout_draws_nothing_and_trains_as_before():
    net, x, y = _full_net(m=8)
    opts = {"alpha": 0.3, "batchsize": 4, "numepochs": 2}
    before = cnntrain(net, x, y, opts, rng=5, verbose=False)
    zero = cnntrain(dict(net, dropoutFraction=0), x, y, opts, rng=5, verbose=False)
    assert zero.pop("dropoutFraction") == 0
    assert_same_net(before, zero)


@pytest.mark.parametrize("value, error, match", [
    (1.0, ValueError, r"net\['dropoutFraction'\] must be in \[0, 1\), got 1.0"),
    (-0.1, ValueError, r"must be in \[0, 1\)"),
    ("0.5", TypeError, r"net\['dropoutFraction'\] must be a real number")])
def test_a_bad_dropout_fraction_is_named(value, error, match):
    net, x, y = _full_net()
    with pytest.raises(error, match=match):
        cnnff(dict(net, dropoutFraction=value), x)
    spec = {"layers": [{"type": "i"}, {"type": "f", "size": 3}], "dropoutFraction": value}
    with pytest.raises(error, match=match):
        cnnsetup(spec, x, y, rng=0)


def test_a_misspelt_dropout_is_named():
    net, x, _ = _full_net()
    with pytest.warns(UnknownKeyWarning, match=r"net\['dropout'\].*did you mean 'dropoutFraction'"):
        cnnff(dict(net, dropout=0.5), x)


def test_training_with_dropout_repeats_does_not_depend_on_the_parts_and_resumes(tmp_path):
    import cnntoolbox.training.parallel as parallel

    net, x, y = _dropout_net(m=40)
    opts = {"alpha": 0.5, "batchsize": 20, "numepochs": 2}
    runs = {}
    try:
        for parts in (1, 2):
            parallel.PARTS = parts
            runs[parts] = cnntrain(net, x, y, opts, rng=3, verbose=False)
    finally:
        parallel.PARTS = None
    np.testing.assert_array_equal(runs[1]["dropOutMask"], runs[2]["dropOutMask"])
    for l in (3, 4):
        np.testing.assert_array_equal(runs[1]["layers"][l]["dropOutMask"],
                                      runs[2]["layers"][l]["dropOutMask"])
    error, where = max_rel_error(runs[1], runs[2])
    assert error < 1e-12, where                           # the sums of parts round differently
    path = tmp_path / "ck.npz"
    parallel.PARTS = 2
    try:
        whole = cnntrain(net, x, y, opts, rng=3, verbose=False)
        assert_same_net(runs[2], whole)                   # a seeded run repeats
        cnntrain(net, x, y, dict(opts, numepochs=1), rng=3, verbose=False, checkpoint=path)
        assert_same_net(whole, cnntrain(net, x, y, opts, rng=3, verbose=False,
                                        checkpoint=path))
        with pytest.raises(CheckpointError, match=r"net\['dropoutFraction'\] = 0.4, not 0.5"):
            cnntrain(dict(net, dropoutFraction=0.5), x, y, opts, rng=3, verbose=False,
                     checkpoint=path)
    finally:
        parallel.PARTS = None
    plain = cnntrain({k: v for k, v in net.items() if k != "dropoutFraction"}, x, y, opts,
                     rng=3, verbose=False)
    assert max_rel_error(plain["ffW"], whole["ffW"])[0] > 1e-3


@pytest.mark.parametrize("fmt", ["7", "7.3"])
def test_a_net_trained_with_dropout_round_trips_through_mat(fmt, tmp_path):
    net, x, y = _dropout_net()
    trained = cnntrain(net, x, y, {"alpha": 0.1, "batchsize": 4, "numepochs": 1}, rng=0,
                       verbose=False)
    savemat(tmp_path / "net.mat", {"cnn": trained}, format=fmt)
    loaded = loadmat(tmp_path / "net.mat")["cnn"]
    comparison = compare(trained, loaded, rtol=0)
    assert comparison.passed, comparison.table()
    assert loaded["dropOutMask"].shape == trained["fv"].shape
    np.testing.assert_array_equal(cnnpredict(loaded, x), cnnpredict(trained, x))
    assert all(c.passed for c in replay_trained(loaded, alpha=0.1, rtol=1e-12))


@pytest.mark.parametrize("layer, match", [
    ({"type": "c", "outputmaps": 2, "kernelsize": 3, "size": 5},
     r"layer 2 .*'size' belongs to 'f' layers, not to a 'c' layer"),
    ({"type": "s", "scale": 2, "size": 5}, r"'size' belongs to 'f' layers, not to an 's' layer"),
    ({"type": "f", "size": 5, "outputmaps": 3},
     r"'outputmaps' belongs to 'c' layers, not to an 'f' layer"),
    ({"type": "f", "size": 5, "scale": 2}, r"'scale' belongs to 's' layers")])
def test_a_number_of_another_kind_of_layer_is_refused_not_ignored(layer, match):
    with pytest.raises(ValueError, match=match):
        cnnsetup({"layers": [{"type": "i"}, layer]}, np.zeros((4, 4, 2)), np.eye(2), rng=0)


def test_the_command_line_passes_dropout_and_refuses_a_bad_one(tmp_path, capsys):
    from cnntoolbox.__main__ import main
    from cnntoolbox.cli.example import run_example

    argv = ["train", "--limit", "100", "--layers", "2c5-2s-10f", "--quiet", "--dropout", "0.3",
            "--save", str(tmp_path / "net.mat")]
    assert main(argv) == 0
    saved = loadmat(tmp_path / "net.mat")["cnn"]
    assert saved["dropoutFraction"] == 0.3 and saved["layers"][3]["dropOutMask"].shape == (10, 50)
    expected = run_example("2c5-2s-10f", limit=100, verbose=False, dropout=0.3)["net"]
    assert np.array_equal(saved["ffW"], expected["ffW"])
    capsys.readouterr()
    assert main(["train", "--dropout", "1"]) == 2
    assert "--dropout: expected a number in [0, 1), got '1'" in capsys.readouterr().err
