"""Float32 as Matlab's single: the precision rule, agreement with float64 and torch float32.

Matlab computes in single when an operand is single (``k - alpha * dk`` of
a double k and a single dk is single); the port follows that rule
(``netlayout.working_dtype``): a float32 x, y or net makes every map, delta
and gradient float32, and the weights after a step.  All-float64 input keeps
today's numbers bit for bit (tests/test_reference.py, tests/test_replay.py).
"""

import importlib
import re

import numpy as np
import pytest

from cnntoolbox import (cnnapplygrads, cnnbp, cnnff, cnnnumgradcheck, cnnsetup, cnntest,
                        cnntrain)
from cnntoolbox.layerops import maxpool_forward
from cnntoolbox.netlayout import SINGLE, cast_net, parse_layers, stack_net, unstack_net
from cnntoolbox.training import parallel

from helpers import beyond_problem, max_rel_error, rel_error, torch_peer_or_skip

predict_module = importlib.import_module("cnntoolbox.cnnpredict")

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
#: Fields ``cnnff`` and ``cnnbp`` compute, top level and per layer.
COMPUTED = ("fv", "o", "e", "od", "fvd", "dffW", "dffb")
COMPUTED_LAYER = ("a", "d", "dk", "db")


def as_single(net):
    """The net with every array field float32 (the package's own cast)."""
    return unstack_net(cast_net(stack_net(net), SINGLE))


def dtypes(net, fields=COMPUTED, layer_fields=COMPUTED_LAYER):
    """``{path: dtype}`` of the given fields of a public net (every cell of a layer field)."""
    found = {field: np.asarray(net[field]).dtype for field in fields if field in net}
    for l, layer in enumerate(net["layers"]):
        for field in layer_fields:
            for i, value in enumerate(_leaves(layer.get(field, []))):
                found[f"layers[{l}].{field}[{i}]"] = np.asarray(value).dtype
    return found


def _leaves(value):
    """The arrays and numbers of a (nested) list, in order."""
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def small_problem(seed=0, m=8, onum=3):
    rng = np.random.default_rng(seed)
    x = rng.random((12, 12, m))
    y = rng.random((onum, m))
    net = cnnsetup({"layers": parse_layers("2c3-2s-3c3-1s")}, x, y, rng=rng)
    return net, x, y


def test_float32_x_makes_every_map_delta_and_gradient_float32():
    net, x, y = small_problem()
    after_ff = cnnff(net, x.astype(np.float32))
    after_bp = cnnbp(after_ff, y)
    found = dtypes(after_bp)
    assert found and set(found.values()) == {F32}, found
    # cnnff.m does not assign the weights: they stay double, as Matlab keeps them
    weights = dtypes(after_ff, ("ffW", "ffb"), ("k",))
    assert set(weights.values()) == {F64}, weights
    assert all(isinstance(b, float) for b in after_ff["layers"][1]["b"])
    assert isinstance(after_bp["L"], float)


def test_float32_y_after_a_float64_forward_pass_gives_float32_deltas():
    net, x, y = small_problem()
    after_bp = cnnbp(cnnff(net, x), y.astype(np.float32))
    assert set(dtypes(after_bp).values()) == {F32}


def test_float64_everywhere_stays_float64():
    net, x, y = small_problem()
    assert set(dtypes(cnnbp(cnnff(net, x), y)).values()) == {F64}


def test_applygrads_of_single_gradients_makes_single_weights():
    """``k - alpha * dk`` with a double k and a single dk is single(k) - single(alpha) * dk."""
    net, x, y = small_problem()
    after_bp = cnnbp(cnnff(net, x.astype(np.float32)), y)
    stepped = cnnapplygrads(after_bp, {"alpha": 0.3})
    assert set(dtypes(stepped, ("ffW", "ffb"), ("k", "b")).values()) == {F32}
    expected = np.float32(net["ffW"]) - np.float32(0.3) * after_bp["dffW"]
    assert stepped["ffW"].tobytes() == expected.tobytes()
    assert isinstance(stepped["layers"][1]["b"][0], np.float32)


@pytest.mark.parametrize("single", ["x", "y", "net"])
def test_training_with_any_float32_operand_is_the_same_float32_training(single):
    """A float32 x, y or net: the same float32 run, bit for bit (x, y, net cast once)."""
    net, x, y = small_problem(m=16)
    opts = {"alpha": 1.0, "batchsize": 8, "numepochs": 2}
    reference = cnntrain(as_single(net), x.astype(np.float32), y.astype(np.float32), opts,
                         rng=3, verbose=False)
    args = {"x": x, "y": y, "net": net}
    args[single] = as_single(net) if single == "net" else args[single].astype(np.float32)
    trained = cnntrain(args["net"], args["x"], args["y"], opts, rng=3, verbose=False)
    found = dtypes(trained, COMPUTED + ("ffW", "ffb"), COMPUTED_LAYER + ("k", "b"))
    assert set(found.values()) == {F32}, found
    assert trained["rL"].dtype == F64                       # the exception: rL, L stay double
    error, where = max_rel_error(reference, trained)
    assert error == 0, where


def test_cnntest_of_a_float32_net_on_float64_x_computes_in_float32(monkeypatch):
    net, x, y = small_problem(m=40)
    net32 = as_single(net)
    seen = []
    real_ff = predict_module.ff

    def spy(stacked, batch):
        seen.append((batch.dtype, stacked["ffW"].dtype, stacked["layers"][1]["k"].dtype))
        return real_ff(stacked, batch)

    monkeypatch.setattr(predict_module, "ff", spy)
    er, bad = cnntest(net32, x, y)
    assert seen and set(seen) == {(F32, F32, F32)}
    er32, bad32 = cnntest(net32, x.astype(np.float32), y)
    assert er == er32 and np.array_equal(bad, bad32)


def test_cnntest_of_float32_labels_alone_computes_in_float64(monkeypatch):
    """cnntest.m's y only picks the labels: it takes no part in the forward pass."""
    net, x, y = small_problem(m=10)
    seen = []
    real_ff = predict_module.ff

    def spy(stacked, batch):
        seen.append((batch.dtype, stacked["ffW"].dtype))
        return real_ff(stacked, batch)

    monkeypatch.setattr(predict_module, "ff", spy)
    cnntest(net, x, y.astype(np.float32))
    assert seen and set(seen) == {(F64, F64)}


def test_maxpool_selects_the_same_maxima_in_float32():
    """The selection by bits (float32 as int32) picks what float64's does, ties and -0.0 too."""
    rng = np.random.default_rng(5)
    A = rng.integers(-3, 4, size=(2, 6, 6, 5)).astype(np.float64)    # many ties
    A[0, 0, 0, 0], A[0, 0, 1, 0] = -0.0, 0.0
    pooled64, where64 = maxpool_forward(A, 2)
    pooled32, where32 = maxpool_forward(A.astype(np.float32), 2)
    assert pooled32.dtype == F32
    assert np.array_equal(where32, where64)
    assert pooled32.astype(np.float64).tobytes() == pooled64.tobytes()


def test_softmax_labels_in_float32_are_accepted_within_float32_roundoff():
    net, x, _ = small_problem(onum=10)
    net["output"] = "softmax"
    rng = np.random.default_rng(1)
    p = rng.random((10, x.shape[-1]))
    y = (p / p.sum(axis=0)).astype(np.float32)               # sums to 1 within ~1e-7
    assert np.abs(y.sum(axis=0) - 1).max() > 1e-10
    result = cnnbp(cnnff(net, x.astype(np.float32)), y)
    assert result["od"].dtype == F32
    y[0, 0] += 1e-3
    with pytest.raises(ValueError, match="sum to 1"):
        cnnbp(cnnff(net, x.astype(np.float32)), y)


def test_numgradcheck_refuses_float32_with_the_reason():
    net, x, y = small_problem(m=2)
    after = cnnbp(cnnff(net, x.astype(np.float32)), y)
    with pytest.raises(TypeError, match="needs float64.*epsilon 0.0001"):
        cnnnumgradcheck(after, x.astype(np.float32), y)


def test_memory_estimate_counts_4_bytes_a_value_in_float32():
    specs = parse_layers("6c5-2s-12c5-2s")
    sizes = [(28, 28, 1), (24, 24, 6), (12, 12, 6), (8, 8, 12), (4, 4, 12)]
    double = parallel.sample_bytes(specs, sizes, 10)
    single = parallel.sample_bytes(specs, sizes, 10, itemsize=4)
    assert single == (double[0] // 2, double[1] // 2)


def mnist_batch(m=50):
    from cnntoolbox.datasets.mnist import load_mnist, prepare_data
    train_x, train_y, _, _ = prepare_data(load_mnist(), limit=1000 + m)
    net = cnnsetup({"layers": parse_layers("6c5-2s-12c5-2s")}, train_x, train_y, rng=0)
    return net, train_x, train_y


#: Agreement of float32 with float64 on the MNIST net, relative to each array's largest value.
AGREEMENT = 1e-4


@pytest.mark.parametrize("trained", [False, True], ids=["initial", "after 20 batches"])
def test_float32_agrees_with_float64_on_the_mnist_net(trained):
    """o, L and every gradient (and map, delta) within 1e-4 of float64's (measured: <= 1e-5)."""
    net, train_x, train_y = mnist_batch()
    if trained:
        net = cnntrain(net, train_x[..., :1000], train_y[:, :1000],
                       {"alpha": 1.0, "batchsize": 50, "numepochs": 1}, rng=1, verbose=False)
        net = {key: value for key, value in net.items() if key != "rL"}
    x, y = train_x[..., 1000:], train_y[:, 1000:]
    double = cnnbp(cnnff(net, x), y)
    single = cnnbp(cnnff(net, x.astype(np.float32)), y.astype(np.float32))
    assert single["dffW"].dtype == F32
    errors = {}
    for field in ("o", "L", "fv", "od", "dffW", "dffb"):
        errors[field] = rel_error(double[field], single[field])
    for l in (1, 2, 3, 4):
        for field in COMPUTED_LAYER:
            if field in double["layers"][l]:
                errors[f"{field}{l}"] = rel_error(double["layers"][l][field],
                                                  single["layers"][l][field])
    print("float32 vs float64, MNIST net:", ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    assert max(errors.values()) <= AGREEMENT, errors


#: Torch float32 against the port's float32, relative to each field's largest value: sums
#: of different order, a few float32 roundings (eps 1.2e-7) each (measured: at most 3.3e-6).
TORCH_TOLERANCE = 2e-5


def _torch32(torch_peer, net, x, y):
    import torch
    params = torch_peer.params_from_net(net, torch.float32)
    xt = torch_peer.x_to_torch(x, torch.float32)
    output, trace = net.get("output", "sigm"), {}
    o = torch_peer.forward(params, net["layers"], xt, output, trace)
    L = torch_peer.loss(o, torch_peer.y_to_torch(y, torch.float32), output)
    L.backward()
    grads = torch_peer.grads_as_net(params)
    conv = [l for l, layer in enumerate(net["layers"]) if layer["type"] == "c"]
    return {"o": o.detach().numpy().T, "L": float(L.detach()),
            "fv": trace["fv"].detach().numpy().T,
            "dk": dict(zip(conv, grads["dk"])), "db": dict(zip(conv, grads["db"])),
            "dffW": grads["dffW"], "dffb": grads["dffb"]}


CROSS = [("fixed", 1000 + i, kinds) for i, kinds in
         enumerate(["cs", "ccs", "css", "scc", "ssc", "cscs", "c", "c", "", ""])]
CROSS += [("seed", s, None) for s in range(30)]


def test_float32_agrees_with_torch_float32_on_the_crosscheck_nets():
    """The random nets of tests/test_torch_crosscheck.py, in float32 on both sides."""
    torch_peer = torch_peer_or_skip("float32 results")
    worst = {}
    for which, seed, kinds in CROSS:
        net, x, y = beyond_problem(seed, kinds, m=4) if which == "fixed" else \
            beyond_problem(seed, m=4)
        net, x, y = as_single(net), x.astype(np.float32), y.astype(np.float32)
        ours = cnnbp(cnnff(net, x), y)
        assert ours["dffW"].dtype == F32
        ref = _torch32(torch_peer, net, x, y)
        errors = {field: max_rel_error(np.asarray(ref[field], dtype=float),
                                       np.asarray(ours[field], dtype=float))[0]
                  for field in ("o", "L", "fv", "dffW", "dffb")}
        for l, layer in enumerate(ours["layers"]):
            if layer["type"] == "c":
                for field in ("dk", "db"):
                    errors[f"{field}"] = max(errors.get(field, 0), max_rel_error(
                        np.asarray(ref[field][l], dtype=float),
                        np.array(layer[field], dtype=float))[0])
        for field, error in errors.items():
            worst[field] = max(worst.get(field, 0.0), error)
    print("worst relative error against torch float32:",
          ", ".join(f"{k} {v:.1e}" for k, v in sorted(worst.items())))
    assert max(worst.values()) <= TORCH_TOLERANCE, worst


def test_float32_training_steps_agree_with_torch_float32():
    """cnntrain in float32 against the peer's plain SGD in float32, the fixed nets, 4 steps."""
    torch_peer = torch_peer_or_skip("float32 results")
    import torch
    worst = 0.0
    for _, seed, kinds in CROSS[:10]:
        net, x, y = beyond_problem(seed, kinds, m=4)
        net, x, y = as_single(net), x.astype(np.float32), y.astype(np.float32)
        trained = cnntrain(net, x, y, {"alpha": 0.5, "batchsize": 1, "numepochs": 1},
                           kk=[np.arange(4)], verbose=False)
        assert trained["ffW"].dtype == F32
        params = torch_peer.params_from_net(net, torch.float32)
        torch_peer.train_epoch(params, net["layers"], torch_peer.x_to_torch(x, torch.float32),
                               torch_peer.y_to_torch(y, torch.float32), 0.5, 1,
                               perm=np.arange(4), output=net.get("output", "sigm"))
        ours = torch_peer.net_weights(trained)
        theirs = torch_peer.as_net(params)
        for field in ("k", "b", "ffW", "ffb"):                 # relative to the field's largest
            mine = np.concatenate([np.ravel(v) for v in _leaves(ours[field])] or [[]])
            peer = np.concatenate([np.ravel(v) for v in _leaves(theirs[field])] or [[]])
            worst = max(worst, rel_error(peer, mine))
    print(f"worst relative error of the weights after 4 float32 steps against torch: {worst:.1e}")
    assert worst <= TORCH_TOLERANCE


@pytest.mark.parametrize("version", ["7", "7.3"])
def test_a_float32_net_round_trips_as_single(tmp_path, version):
    """Saved as MATLAB single (the file says so), loaded back float32, biases too."""
    import h5py
    import scipy.io

    from cnntoolbox.matfile import loadmat, savemat
    from cnntoolbox.matfile.netshape import as_net
    from cnntoolbox.reference.compare import compare

    net, x, y = small_problem(m=16)
    trained = cnntrain(net, x.astype(np.float32), y, {"alpha": 1.0, "batchsize": 8,
                                                     "numepochs": 1}, rng=0, verbose=False)
    path = tmp_path / "net.mat"
    savemat(path, {"net": trained}, format=version)
    if version == "7":
        raw = scipy.io.loadmat(path, squeeze_me=False)["net"][0, 0]
        bias = raw["layers"][1, 0][0, 0]["b"][0, 0]
        assert raw["ffW"].dtype == F32 and bias.dtype == F32 and bias.shape == (1, 1)
        assert raw["L"].dtype == F64                                 # L stays double
    else:
        with h5py.File(path, "r") as f:
            assert f["net/ffW"].attrs["MATLAB_class"] == b"single"
            second_layer = f[f["net/layers"][()].ravel()[1]]
            first_b = f[second_layer["b"][()].ravel()[0]]
            assert first_b.attrs["MATLAB_class"] == b"single"
    loaded = as_net(loadmat(path)["net"])
    assert loaded["ffW"].dtype == F32 and loaded["layers"][1]["k"][0][0].dtype == F32
    assert all(isinstance(b, np.float32) for b in loaded["layers"][1]["b"])
    assert compare(trained, loaded, rtol=0).passed
    # and it trains on in float32, on float64 data too
    again = cnntrain(loaded, x, y, {"alpha": 1.0, "batchsize": 8, "numepochs": 1}, rng=0,
                     verbose=False)
    assert again["ffW"].dtype == F32


def test_compare_tells_single_from_double():
    from cnntoolbox.reference.compare import compare

    net, _, _ = small_problem()
    result = compare(net, as_single(net), rtol=1e-3)
    assert not result.passed
    notes = [row.note for row in result.failures]
    assert any("ffW: single (float32) vs reference float64" in note for note in notes), notes
    assert any("b{1}: single (float32) vs reference float64" in note for note in notes), notes
    assert compare(as_single(net), as_single(net), rtol=0).passed


def test_a_checkpoint_keeps_float32_and_refuses_another_precision(tmp_path):
    from cnntoolbox.training.checkpoint import CheckpointError

    net, x, y = small_problem(m=16)
    x32 = x.astype(np.float32)
    opts = {"alpha": 1.0, "batchsize": 8, "numepochs": 2}
    whole = cnntrain(net, x32, y, opts, rng=0, verbose=False)
    path = tmp_path / "run.npz"
    cnntrain(net, x32, y, dict(opts, numepochs=1), rng=0, verbose=False, checkpoint=path)
    with np.load(path) as saved:
        assert saved["net.ffW"].dtype == F32 and saved["layers.1.k"].dtype == F32
    resumed = cnntrain(net, x32, y, opts, rng=0, verbose=False, checkpoint=path)
    assert resumed["ffW"].dtype == F32
    assert max_rel_error(whole, resumed)[0] == 0
    # the same values in float64 (data, initial weights): only the precision differs, which the
    # data's fingerprint tells apart
    net64 = unstack_net(cast_net(stack_net(as_single(net)), F64))
    with pytest.raises(CheckpointError, match="other training data .* their precision, float32 or float64"):
        cnntrain(net64, x32.astype(F64), y.astype(F32).astype(F64), dict(opts, numepochs=3), rng=0,
                 verbose=False, checkpoint=path)


def test_the_command_trains_in_single_precision(tmp_path, capsys):
    """`--precision single`: trained and tested in float32; the saved net is MATLAB single."""
    from cnntoolbox.__main__ import main
    from cnntoolbox.datasets.mnist import load_mnist, prepare_data
    from cnntoolbox.matfile import loadmat

    net_file = tmp_path / "net.mat"
    assert main(["--limit", "200", "--batchsize", "50", "--precision", "single",
                 "--save", str(net_file)]) == 0
    out = capsys.readouterr().out
    assert "200 test samples in single precision (float32)" in out
    printed = int(re.search(r"test error: \S+ \((\d+) of 200 wrong\)", out)[1])
    net = loadmat(net_file)["cnn"]
    assert net["ffW"].dtype == F32 and net["rL"].dtype == F64
    _, _, test_x, test_y = prepare_data(load_mnist(), limit=200)
    assert len(cnntest(net, test_x, test_y)[1]) == printed
    assert main(["--replay", "x.mat", "--precision", "single"]) == 2
    assert "drop --precision" in capsys.readouterr().err


def test_a_float32_batch_runs_in_one_piece_and_float64_in_one_per_core(monkeypatch):
    """float32: one piece, the BLAS's threads share it (faster on 2 cores, bench/README.md);
    float64 keeps one piece per core, whose sums give its bits."""
    from cnntoolbox.netlayout import map_sizes
    monkeypatch.setattr(parallel, "core_count", lambda: 2)
    monkeypatch.setattr(parallel, "PARTS", None)
    net, x, _ = small_problem(m=16)
    for dtype, count in ((F32, 1), (F64, 2)):
        stacked = cast_net(stack_net(net), dtype)
        sizes = map_sizes(stacked["layers"], x.shape[0], x.shape[1])
        assert parallel.BatchParallel(stacked, 16, sizes).count == count
