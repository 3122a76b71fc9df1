"""Opt-in momentum and learning-rate schedules of cnntrain/cnnapplygrads (issue 15).

The independent checks against PyTorch are in tests/test_torch_training.py;
here: the formula on the public routines, the schedule against epoch-by-epoch
training, checkpoints with momentum and decay, and the error messages.
"""

import numpy as np
import pytest

from cnntoolbox import cnnapplygrads, cnnbp, cnnff, cnntrain
from cnntoolbox.training.checkpoint import CheckpointError, load_checkpoint

from helpers import random_net

SPEC, ROWS, COLS, M, ONUM = "3c3-2s-4c3", 12, 12, 40, 4
OPTS = {"alpha": 0.7, "batchsize": 8}


def _weights(net):
    """Every weight and velocity of a public net, flattened to bytes by name."""
    out = {name: np.asarray(net[name]).tobytes() for name in ("ffW", "ffb", "vffW", "vffb", "rL")
           if name in net}
    for l, layer in enumerate(net["layers"]):
        for name in ("k", "b", "vk", "vb"):
            if name in layer:
                out[f"{l}.{name}"] = np.asarray(layer[name]).tobytes()
    return out


def _orders(epochs, seed=5):
    rng = np.random.default_rng(seed)
    return [rng.permutation(M) for _ in range(epochs)]


def test_zero_momentum_and_unit_decay_are_the_original_bit_for_bit():
    net, x, y = random_net(SPEC, ROWS, COLS, M, ONUM, seed=1)
    kk = _orders(2)
    plain = cnntrain(net, x, y, dict(OPTS, numepochs=2), kk=kk, verbose=False)
    for extra in ({"momentum": 0}, {"alpha_decay": 1.0}, {"alpha": [0.7, 0.7]}):
        other = cnntrain(net, x, y, dict(OPTS, numepochs=2, **extra), kk=kk, verbose=False)
        assert _weights(other) == _weights(plain), extra
        assert "vffW" not in other and "vk" not in other["layers"][1]


def test_momentum_step_is_v_equals_mu_v_minus_alpha_grad():
    net, x, y = random_net(SPEC, ROWS, COLS, M, ONUM, seed=2)
    alpha, mu = 0.3, 0.9
    places = [(None, "ffW"), (None, "ffb")] + [(l, w) for l, layer in enumerate(net["layers"])
                                               if layer["type"] == "c" for w in ("k", "b")]

    def get(owner_net, l, field):
        owner = owner_net if l is None else owner_net["layers"][l]
        return np.array(owner[field], dtype=float)

    weight = {place: get(net, *place) for place in places}
    velocity = {place: np.zeros_like(value) for place, value in weight.items()}
    step = net
    for batch in range(3):
        index = slice(10 * batch, 10 * batch + 10)
        step = cnnbp(cnnff(step, x[:, :, index]), y[:, index])
        grad = {(l, w): get(step, l, "d" + w) for l, w in places}
        step = cnnapplygrads(step, {"alpha": alpha, "momentum": mu})
        for l, w in places:
            velocity[l, w] = mu * velocity[l, w] - alpha * grad[l, w]
            weight[l, w] = weight[l, w] + velocity[l, w]
            assert np.array_equal(get(step, l, w), weight[l, w]), (batch, l, w)
            assert np.array_equal(get(step, l, "v" + w), velocity[l, w]), (batch, l, w)


def test_decay_is_the_epochs_trained_one_by_one_with_the_velocity_carried_in_the_net():
    net, x, y = random_net(SPEC, ROWS, COLS, M, ONUM, seed=3)
    kk = _orders(3)
    opts = dict(OPTS, numepochs=3, momentum=0.5, alpha_decay=0.6)
    whole = cnntrain(net, x, y, opts, kk=kk, verbose=False)
    alpha, step = OPTS["alpha"], net
    for epoch in range(3):
        step = cnntrain(step, x, y, dict(OPTS, alpha=alpha, numepochs=1, momentum=0.5),
                        kk=kk[epoch:epoch + 1], verbose=False)
        alpha *= 0.6
    listed = cnntrain(net, x, y, dict(OPTS, numepochs=3, momentum=0.5,
                                      alpha=[0.7, 0.7 * 0.6, 0.7 * 0.6 * 0.6]), kk=kk, verbose=False)
    for name, value in _weights(step).items():
        if name != "rL":
            assert _weights(whole)[name] == value, name
    assert _weights(listed) == _weights(whole)
    assert not np.array_equal(whole["ffW"], cnntrain(net, x, y, dict(OPTS, numepochs=3), kk=kk,
                                                     verbose=False)["ffW"])


class _Stop(Exception):
    pass


@pytest.mark.parametrize("extra", [{"momentum": 0.9, "alpha_decay": 0.5},
                                   {"momentum": 0.8, "alpha": [0.9, 0.5, 0.2, 0.1]}])
def test_resume_with_momentum_and_a_schedule_is_bit_identical(extra, tmp_path):
    net, x, y = random_net(SPEC, ROWS, COLS, M, ONUM, seed=4)
    opts = dict(OPTS, numepochs=4, **extra)
    full = cnntrain(net, x, y, opts, rng=7, verbose=False)
    path = tmp_path / "ck.npz"

    def stop_in_epoch_3(epoch, batch, numbatches, rl):
        if epoch == 3 and batch == 2:
            raise _Stop

    with pytest.raises(_Stop):
        cnntrain(net, x, y, opts, rng=7, verbose=False, progress=stop_in_epoch_3, checkpoint=path)
    saved = load_checkpoint(path)
    assert saved["epochs"] == 2 and "net.vffW" in saved["arrays"]
    assert any(name.endswith(".vk") for name in saved["arrays"])
    resumed = cnntrain(net, x, y, opts, rng=7, verbose=False, checkpoint=path)
    assert _weights(resumed) == _weights(full)


def test_a_checkpoint_with_other_momentum_or_rates_is_refused(tmp_path):
    net, x, y = random_net(SPEC, ROWS, COLS, M, ONUM, seed=6)
    path = tmp_path / "ck.npz"
    opts = dict(OPTS, numepochs=2, momentum=0.9, alpha_decay=0.5)
    cnntrain(net, x, y, opts, rng=0, verbose=False, checkpoint=path)
    before = path.read_bytes()
    for other, match in [({"momentum": 0.8}, r"opts\['momentum'\] = 0\.9, not 0\.8"),
                         ({"momentum": 0}, r"opts\['momentum'\] = 0\.9, not 0\.0"),
                         ({"alpha_decay": 0.4}, r"learning rates \[0\.7, 0\.35\] for its 2 epochs"),
                         ({"alpha_decay": 0.5, "alpha": 0.6}, r"learning rates")]:
        changed = {key: value for key, value in dict(opts, **other).items()
                   if not (key == "momentum" and value == 0)}
        with pytest.raises(CheckpointError, match=match):
            cnntrain(net, x, y, changed, rng=0, verbose=False, checkpoint=path)
    assert path.read_bytes() == before
    longer = cnntrain(net, x, y, dict(opts, numepochs=3), rng=0, verbose=False, checkpoint=path)
    assert len(longer["rL"]) == 3 * M // OPTS["batchsize"] + 1   # the same rates go on


@pytest.mark.parametrize("extra, error, match", [
    ({"momentum": 1.0}, ValueError, r"opts\['momentum'\] must be in \[0, 1\), got 1\.0"),
    ({"momentum": -0.1}, ValueError, r"opts\['momentum'\] must be in \[0, 1\)"),
    ({"momentum": "0.9"}, TypeError, r"opts\['momentum'\] must be a real number"),
    ({"momentum": float("nan")}, ValueError, r"opts\['momentum'\] must be finite"),
    ({"alpha_decay": 0}, ValueError, r"opts\['alpha_decay'\] must be positive, got 0\.0"),
    ({"alpha_decay": -0.5}, ValueError, r"opts\['alpha_decay'\] must be positive"),
    ({"alpha_decay": None}, TypeError, r"opts\['alpha_decay'\] must be a real number"),
    ({"alpha": [1.0]}, ValueError, r"opts\['alpha'\] holds 1 per-epoch rates but opts\['numepochs'\] is 2"),
    ({"alpha": [1.0, float("inf")]}, ValueError, r"opts\['alpha'\]\[1\] must be finite"),
    ({"alpha": [1.0, "a"]}, TypeError, r"opts\['alpha'\]\[1\] must be a real number"),
    ({"alpha": [1.0, 0.5], "alpha_decay": 0.5}, ValueError, r"both 'alpha_decay' and a sequence"),
])
def test_bad_momentum_and_schedules_are_named(extra, error, match):
    net, x, y = random_net(SPEC, ROWS, COLS, 8, ONUM, seed=0)
    with pytest.raises(error, match=match):
        cnntrain(net, x, y, dict(OPTS, numepochs=2, **extra), verbose=False)


def test_cnnapplygrads_takes_one_alpha_and_checks_the_velocity():
    net, x, y = random_net(SPEC, ROWS, COLS, 8, ONUM, seed=0)
    net = cnnbp(cnnff(net, x), y)
    with pytest.raises(TypeError, match=r"opts\['alpha'\] must be a real number"):
        cnnapplygrads(net, {"alpha": [1.0, 0.5]})
    with pytest.raises(ValueError, match=r"opts\['momentum'\] must be in \[0, 1\)"):
        cnnapplygrads(net, {"alpha": 1.0, "momentum": 2})
    bad = dict(net, vffW=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"net velocity 'vffW' has shape \(2, 2\)"):
        cnnapplygrads(bad, {"alpha": 1.0, "momentum": 0.5})
    bad = dict(net, layers=[dict(layer) for layer in net["layers"]])
    bad["layers"][3]["vb"] = [0.0]
    with pytest.raises(ValueError, match=r"layer 4 \(net\['layers'\]\[3\]\) velocity 'vb' has shape \(1,\)"):
        cnnapplygrads(bad, {"alpha": 1.0, "momentum": 0.5})
    assert np.array_equal(cnnapplygrads(dict(net, vffW=np.zeros((2, 2))), {"alpha": 1.0})["ffW"],
                          cnnapplygrads(net, {"alpha": 1.0})["ffW"])


def test_a_checkpoint_of_another_output_or_layer_kind_is_refused(tmp_path):
    net, x, y = random_net(SPEC, ROWS, COLS, M, ONUM, seed=8)
    y = y / y.sum(axis=0)                    # probabilities, as softmax needs
    path = tmp_path / "ck.npz"
    opts = dict(OPTS, numepochs=2)
    cnntrain(dict(net, output="softmax"), x, y, opts, rng=0, verbose=False, checkpoint=path)
    with pytest.raises(CheckpointError, match=r"net\['output'\] = 'softmax', not 'sigm'"):
        cnntrain(net, x, y, opts, rng=0, verbose=False, checkpoint=path)
    relu = dict(net, output="softmax", layers=[dict(layer) for layer in net["layers"]])
    relu["layers"][1]["activation"] = "relu"
    with pytest.raises(CheckpointError, match=r"made for the net i-3c3-2s-4c3, not i-3c3r-2s-4c3"):
        cnntrain(relu, x, y, opts, rng=0, verbose=False, checkpoint=path)


def _every_key_net(seed=9):
    """A net with every opt-in key, trained 2 epochs with momentum: 3 channels, relu, tanh,
    linear, max and mean pooling, 'c' after 'c', softmax, velocities."""
    from cnntoolbox import cnnsetup
    from cnntoolbox.netlayout import parse_layers

    rng = np.random.default_rng(seed)
    x = rng.random((14, 14, 3, 16))
    y = np.eye(3)[:, rng.integers(0, 3, 16)]
    net = {"layers": parse_layers("3c3r-2m-3c2t-2c2l-2s-2c1"), "output": "softmax"}
    net = cnnsetup(net, x, y, rng=rng)
    opts = {"alpha": [0.5, 0.25], "momentum": 0.9, "batchsize": 8, "numepochs": 2}
    return cnntrain(net, x, y, opts, rng=rng, verbose=False), x, y, opts


@pytest.mark.parametrize("fmt", ["7", "7.3"])
def test_every_new_key_and_velocity_round_trips_through_both_mat_formats(fmt, tmp_path):
    from test_matfile import assert_identical

    from cnntoolbox.reference.compare import compare
    from cnntoolbox.matfile import as_net, loadmat, savemat
    from cnntoolbox.matfile.netshape import toolbox_struct

    net, x, y, opts = _every_key_net()
    opts = dict(opts, alpha_decay=0.5, alpha=0.5)
    savemat(tmp_path / "net.mat", {"cnn": net, "opts": opts}, format=fmt)
    again = loadmat(tmp_path / "net.mat")
    expected = toolbox_struct(net)                           # the saved field order
    expected = as_net(dict(expected, layers=list(expected["layers"].ravel())))
    assert_identical(expected, again["cnn"], "cnn")
    assert list(again["cnn"])[-2:] == ["vffW", "vffb"]
    assert list(again["cnn"]["layers"][1])[-2:] == ["vk", "vb"]
    assert again["opts"]["momentum"] == 0.9 and again["opts"]["alpha_decay"] == 0.5
    assert again["cnn"]["output"] == "softmax" and again["cnn"]["layers"][1]["activation"] == "relu"
    assert len(again["cnn"]["layers"][1]["vk"]) == 3 and again["cnn"]["vffb"].shape == (3, 1)
    assert compare(net, again["cnn"]).passed
    # compare sees a velocity, an activation and the output that differ
    broken = as_net(again["cnn"])
    broken["layers"][3]["vk"][1][0] = broken["layers"][3]["vk"][1][0] + 1e-6
    broken["layers"][1] = dict(broken["layers"][1], activation="tanh")
    broken["output"] = "sigm"
    result = compare(net, broken)
    assert {row.name for row in result.failures} >= {"layers{4}.vk", "layers{2}.activation", "output"}
    # the loaded net and opts train on, exactly as the original objects do
    more = dict(opts, numepochs=1)
    kk = [np.arange(16)]
    a = cnntrain(net, x, y, more, kk=kk, verbose=False)
    b = cnntrain(again["cnn"], x, y, again["opts"] | {"numepochs": 1}, kk=kk, verbose=False)
    assert _weights(a) == _weights(b)


def test_resume_of_a_net_with_every_new_key_is_bit_identical(tmp_path):
    net, x, y, opts = _every_key_net()
    opts = dict(opts, alpha=[0.5, 0.3, 0.2, 0.1], numepochs=4)
    full = cnntrain(net, x, y, opts, rng=3, verbose=False)
    path = tmp_path / "ck.npz"

    def stop(epoch, batch, numbatches, rl):
        if epoch == 3:
            raise _Stop

    with pytest.raises(_Stop):
        cnntrain(net, x, y, opts, rng=3, verbose=False, progress=stop, checkpoint=path)
    assert load_checkpoint(path)["output"] == "softmax"
    resumed = cnntrain(net, x, y, opts, rng=3, verbose=False, checkpoint=path)
    assert _weights(resumed) == _weights(full)
