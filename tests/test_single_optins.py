"""The precision rule (issue 22) on the opt-ins of issue 20 part B.

A fully connected 'f' layer's W, b, a, d, dW, db (and vW, vb), the dropout
masks and a linear or softmax output follow ``netlayout.working_dtype`` as
the map layers do: float32 data trains in float32 through every field, and
agrees with the same run (same permutations, same masks) in float64.
"""

import re

import numpy as np
import pytest

from cnntoolbox import cnnapplygrads, cnnbp, cnnff, cnnsetup, cnntrain
from cnntoolbox.netlayout import parse_layers

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
#: Fields that are no arrays of the precision: the loss, its running mean, the dropout setting.
NUMBER_FIELDS = ("L", "rL", "dropoutFraction")


def arrays(net):
    """``{path: array}`` of every float array or number of a public net, but NUMBER_FIELDS."""
    found = {}

    def visit(path, value):
        if isinstance(value, list):
            for i, item in enumerate(value):
                visit(f"{path}[{i}]", item)
        elif isinstance(value, (np.ndarray, np.floating)) and value.dtype.kind == "f":
            found[path] = np.asarray(value)
        elif isinstance(value, float):                     # a bias of a float64 map layer
            found[path] = np.asarray(value, F64)

    for key, value in net.items():
        if key == "layers":
            for l, layer in enumerate(value):
                for field, item in layer.items():
                    visit(f"layers[{l}].{field}", item)
        elif key not in NUMBER_FIELDS:
            visit(key, value)
    return found


def problem(output, seed=0, m=16):
    """An 'f' net (maps, then two 'f' layers) with dropout, its data and one-hot or real y."""
    rng = np.random.default_rng(seed)
    x = rng.random((10, 10, m))
    if output == "softmax":
        y = np.eye(3)[:, rng.integers(0, 3, m)]
    else:
        y = rng.random((3, m))
    spec = {"layers": parse_layers("2c3-2s-7f-5ft"), "output": output, "dropoutFraction": 0.25}
    return cnnsetup(spec, x, y, rng=rng), x, y


OPTS = {"alpha": 0.5, "batchsize": 8, "numepochs": 2, "weightPenaltyL2": 1e-3, "momentum": 0.5}


@pytest.mark.parametrize("output", ["linear", "softmax"])
def test_float32_training_of_an_f_net_is_float32_throughout_and_agrees_with_float64(output):
    net, x, y = problem(output)
    single = cnntrain(net, x.astype(np.float32), y.astype(np.float32), OPTS, rng=5,
                      verbose=False)
    double = cnntrain(net, x, y, OPTS, rng=5, verbose=False)
    found = arrays(single)
    # every map, delta, gradient, weight, velocity and mask, of 'f' layers too
    for field in ("W", "b", "a", "d", "dW", "db", "vW", "vb", "dropOutMask"):
        assert f"layers[3].{field}" in found and f"layers[4].{field}" in found, field
    assert "dropOutMask" in found and "vffW" in found
    wrong = {path: value.dtype for path, value in found.items() if value.dtype != F32}
    assert not wrong, wrong
    assert set(arrays(double)) == set(found)
    assert {value.dtype for value in arrays(double).values()} == {F64}
    # the same masks (drawn from cnntrain's generator whatever the precision) ...
    for path in ("dropOutMask", "layers[3].dropOutMask", "layers[4].dropOutMask"):
        assert np.array_equal(found[path], arrays(double)[path]), path
    # ... and the same numbers within float32's roundoff, per field relative to its largest value
    for path, reference in arrays(double).items():
        scale = np.max(np.abs(reference))
        error = np.max(np.abs(found[path].astype(F64) - reference))
        assert error <= 1e-4 * scale, (path, error, scale)
    assert abs(single["L"] - double["L"]) <= 1e-4 * abs(double["L"])
    assert np.max(np.abs(single["rL"] - double["rL"])) <= 1e-4 * np.max(np.abs(double["rL"]))


def test_public_ff_bp_cast_f_weights_and_masks_where_they_meet_float32():
    """cnnff/cnnbp leave the float64 weights as they are; W, b, ffW and the masks are cast."""
    net, x, y = problem("linear")
    after_ff = cnnff(net, x.astype(np.float32), rng=1)
    after_bp = cnnbp(after_ff, y)
    found = arrays(after_bp)
    computed = {path: value.dtype for path, value in found.items()
                if path.split(".")[-1].split("[")[0] not in ("k", "b", "W", "ffW", "ffb")}
    assert "layers[4].dW" in computed and "layers[3].dropOutMask" in computed
    assert set(computed.values()) == {F32}, computed
    for path in ("layers[3].W", "layers[3].b", "ffW", "ffb"):
        assert found[path].dtype == F64, path
    # a float64 forward pass (float64 masks) with float32 labels: float32 deltas through the masks
    after_bp = cnnbp(cnnff(net, x, rng=1), y.astype(np.float32))
    for path in ("fvd", "layers[3].d", "layers[4].d", "layers[3].dW", "dffW"):
        assert arrays(after_bp)[path].dtype == F32, path
    # a testing pass scales by 1 - p in float32
    assert cnnff(dict(net, testing=True), x.astype(np.float32))["o"].dtype == F32


def test_a_float32_f_weight_alone_makes_the_pass_float32():
    """working_dtype looks at an 'f' layer's W (single wins): o is float32, not float64."""
    net, x, _ = problem("linear")
    net["layers"][3]["W"] = net["layers"][3]["W"].astype(np.float32)
    out = cnnff(net, x, rng=1)
    assert out["o"].dtype == F32 and out["layers"][4]["a"].dtype == F32


def test_the_penalty_step_of_float32_gradients_keeps_float32():
    net, x, y = problem("softmax")
    after_bp = cnnbp(cnnff(net, x.astype(np.float32), rng=1), y)
    stepped = cnnapplygrads(after_bp, {"alpha": 0.5, "weightPenaltyL2": 1e-2, "momentum": 0.5})
    for path in ("layers[3].W", "layers[3].b", "layers[3].vW", "ffW", "vffW", "layers[1].k[0][0]"):
        assert arrays(stepped)[path].dtype == F32, path
    W, dW = np.float32(net["layers"][3]["W"]), after_bp["layers"][3]["dW"]
    expected = W - np.float32(0.5) * (dW + np.float32(1e-2) * W)     # v = 0 - alpha * (dW + lam W)
    assert stepped["layers"][3]["W"].tobytes() == expected.tobytes()


@pytest.mark.parametrize("version", ["7", "7.3"])
def test_a_float32_f_net_round_trips_as_single(tmp_path, version):
    import h5py
    import scipy.io

    from cnntoolbox.matfile import loadmat, savemat
    from cnntoolbox.matfile.netshape import as_net
    from cnntoolbox.reference.compare import compare

    net, x, y = problem("softmax")
    trained = cnntrain(net, x.astype(np.float32), y, OPTS, rng=5, verbose=False)
    path = tmp_path / "net.mat"
    savemat(path, {"net": trained}, format=version)
    if version == "7":
        layer = scipy.io.loadmat(path, squeeze_me=False)["net"][0, 0]["layers"][3, 0][0, 0]
        classes = {field: layer[field].dtype for field in ("W", "b", "a", "dW", "dropOutMask")}
        assert set(classes.values()) == {F32}, classes
    else:
        with h5py.File(path, "r") as f:
            layer = f[f["net/layers"][()].ravel()[3]]
            classes = {field: layer[field].attrs["MATLAB_class"]
                       for field in ("W", "b", "a", "dW", "dropOutMask")}
            assert set(classes.values()) == {b"single"}, classes
    loaded = as_net(loadmat(path)["net"])
    found = arrays(loaded)
    assert {found[f"layers[3].{field}"].dtype for field in ("W", "b", "a", "d", "dW", "db",
                                                           "vW", "vb", "dropOutMask")} == {F32}
    assert found["dropOutMask"].dtype == F32
    assert compare(trained, loaded, rtol=0).passed


def test_a_checkpoint_refuses_a_float64_f_weight_or_mask_in_a_float32_run(tmp_path):
    from cnntoolbox.training.checkpoint import CheckpointError

    net, x, y = problem("linear")
    x32, opts = x.astype(np.float32), dict(OPTS, numepochs=1)
    path = tmp_path / "run.npz"
    cnntrain(net, x32, y, opts, rng=5, verbose=False, checkpoint=path)
    with np.load(path) as saved:
        arrays_ = dict(saved)
    assert arrays_["layers.3.W"].dtype == F32 and arrays_["layers.3.dropOutMask"].dtype == F32
    for name in ("layers.3.dW", "layers.3.dropOutMask", "net.dropOutMask"):
        altered = dict(arrays_, **{name: arrays_[name].astype(F64)})
        np.savez(path, **altered)
        with pytest.raises(CheckpointError, match="float64, but this run trains in float32"):
            cnntrain(net, x32, y, dict(OPTS, numepochs=2), rng=5, verbose=False,
                     checkpoint=path)



def test_the_command_trains_an_f_net_with_dropout_and_penalty_in_single(tmp_path, capsys):
    """--precision single with --layers ...f, --dropout and --weight-penalty: all of them hold."""
    from cnntoolbox import cnntest
    from cnntoolbox.__main__ import main
    from cnntoolbox.datasets.mnist import load_mnist, prepare_data
    from cnntoolbox.matfile import loadmat

    net_file = tmp_path / "net.mat"
    assert main(["--limit", "200", "--batchsize", "50", "--layers", "6c5-2s-12c5-2s-20f",
                 "--precision", "single", "--dropout", "0.2", "--weight-penalty", "1e-4",
                 "--save", str(net_file)]) == 0
    out = capsys.readouterr().out
    assert "200 test samples in single precision (float32)" in out
    net = loadmat(net_file)["cnn"]
    assert net["dropoutFraction"] == 0.2 and net["layers"][5]["size"] == 20
    for value in (net["layers"][5]["W"], net["layers"][5]["dropOutMask"], net["dropOutMask"],
                  net["ffW"]):
        assert value.dtype == F32
    printed = int(re.search(r"test error: \S+ \((\d+) of 200 wrong\)", out)[1])
    _, _, test_x, test_y = prepare_data(load_mnist(), limit=200)
    assert len(cnntest(net, test_x, test_y)[1]) == printed
