"""The opt-in keys beyond the original against PyTorch float64, an independent implementation.

The original toolbox has no channels, no 'c' after 'c' or 's' after 's', no
ReLU, tanh, linear layers, max-pooling or softmax, so nothing under Octave
can check them; PyTorch can.  For each of 30 seeded random architectures
(plus fixed ones that make sure every kind occurs), a torch model is built
from the same weights and the same batch, and the forward maps, the output,
the loss, every delta, every gradient and the weights after several SGD
steps must agree within 1e-12 relative to each field's largest magnitude.

Layout mapping (the toolbox's to torch's):

* A map ``a{j}`` is (rows, cols, m), Matlab's column-major array; torch
  holds a layer as (m, maps, rows, cols).  So ``A_torch[n, j, r, c] =
  a{j}[r, c, n]``.  An input with channels, x of (rows, cols, channels, m),
  is ``x.transpose(3, 2, 0, 1)``.
* ``convn(a, k, 'valid')`` is a true convolution (the kernel rotated by
  180 degrees); torch's ``conv2d`` is a correlation.  So the torch weight is
  ``W[j, i] = rot180(k{i}{j})``, and ``dk{i}{j} = rot180(W.grad[j, i])``.
* ``fv`` is ``[a{1}(:); a{2}(:); ...]`` per sample, each map read column by
  column (Matlab's ``reshape``): row ``j * rows * cols + c * rows + r`` of
  fv is ``a{j}(r, c)``.  In torch that is the (m, maps, rows, cols) tensor
  with rows and cols swapped, flattened: ``A.transpose(2, 3).reshape(m, -1)``.
* The output layer is ``ffW @ fv + ffb`` (``torch.nn.functional.linear``
  on fv transposed), then sigmoid with L = 1/2 sum(e.^2)/m, or softmax with
  L = -sum(y .* log(o))/m (computed with ``log_softmax``).
* The toolbox's ``d`` of a 'c' layer is dE/du (before the nonlinearity), of
  an 's' layer dE/da, for E the loss summed over the batch (not divided by
  m: the gradients divide by m at the end); in torch these are m times the
  gradients of L at the retained pre-activation and pooled tensors.

Max-pooling ties: torch picks the first maximum in row-major order, the port
the first in column-major order (README); a tie moves the gradient of the
pooled layer's input.  Ties arise only from ReLU zeros here (random inputs
are continuous); there the gradient below is multiplied by ReLU's f' = 0
anyway, so ``dk``, ``db`` and everything above agree, but the delta of an
's' layer in between can differ.  Deltas are compared only where no max
layer above had a tie.  ``tests/test_beyond.py`` checks ties against the
documented rule.
"""

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is the independent reference for the keys beyond the original; "
                    "pip install torch to run this cross-check")
F = torch.nn.functional

from cnntoolbox import cnnapplygrads, cnnbp, cnnff, cnntrain  # noqa: E402

from helpers import beyond_problem  # noqa: E402

TOLERANCE = 1e-12
ACTIVATION = {"sigm": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh,
              "linear": lambda u: u}

#: Fixed architectures first, so that every kind is covered whatever the seeds draw:
#: (kinds, channels, output, activations, methods).
FIXED = [
    ("cs", 3, "softmax", ["relu"], ["max"]),          # colour input, ReLU, max-pooling, softmax
    ("ccs", 2, "sigm", ["tanh", "sigm"], ["mean"]),   # 'c' after 'c'
    ("css", 1, "softmax", ["linear"], ["mean", "max"]),  # 's' after 's'
    ("scc", 3, "sigm", ["relu", "linear"], ["mean"]),     # 's' right after a multichannel input
    ("ssc", 2, "softmax", ["tanh"], ["max", "mean"]),
    ("cscs", 1, "sigm", [None, None], [None, None]),  # the original's kind, keys absent
    ("c", 2, "softmax", ["relu"], []),                # the last layer a ReLU 'c' (fvd .* f')
    ("c", 1, "sigm", ["tanh"], []),
    ("", 3, "softmax", [], []),                       # the input layer alone, with channels
    ("", 1, "sigm", [], []),
]
SEEDS = range(30)


def _to_torch(a):
    """A stacked (maps, rows, cols, m) array or a list of (rows, cols, m) maps as (m, maps, rows, cols)."""
    return torch.tensor(np.stack(a) if isinstance(a, list) else a).permute(3, 0, 1, 2)


def torch_model(net, x, y):
    """The forward pass, loss and backward pass in torch, from the net's weights.

    Returns
    -------
    dict
        ``a``: per layer (m, maps, rows, cols) tensors; ``d``: per layer the
        tensors of the toolbox's deltas (the input layer's is used only for a
        net of the input layer alone, where the original sets it); ``o``
        (onum, m); ``L``; ``dk``, ``db`` per layer as numpy arrays in the
        toolbox's layout; ``dffW``, ``dffb``.
    """
    xt = torch.tensor(x.transpose(3, 2, 0, 1) if x.ndim == 4 else x.transpose(2, 0, 1)[:, None],
                      requires_grad=True)
    m = xt.shape[0]
    layers = net["layers"]
    a, pre, weights = [xt], [None], {}
    for l, layer in enumerate(layers[1:], start=1):
        below = a[-1]
        if layer["type"] == "c":
            k = np.array(layer["k"])                                # (inmaps, outmaps, ks, ks)
            W = torch.tensor(k[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).copy(), requires_grad=True)
            b = torch.tensor(np.array(layer["b"]), requires_grad=True)
            weights[l] = (W, b)
            u = F.conv2d(below, W, b)
            u.retain_grad()
            pre.append(u)
            a.append(ACTIVATION[layer.get("activation", "sigm")](u))
        else:
            scale = int(layer["scale"])
            pool = F.max_pool2d if layer.get("method", "mean") == "max" else F.avg_pool2d
            out = pool(below, scale)
            out.retain_grad()
            pre.append(out)
            a.append(out)
    ffW = torch.tensor(net["ffW"], requires_grad=True)
    ffb = torch.tensor(net["ffb"], requires_grad=True)
    fv = a[-1].transpose(2, 3).reshape(m, -1)                      # column-major per map
    fv.retain_grad()
    u = F.linear(fv, ffW, ffb[:, 0])
    yt = torch.tensor(y.T)
    if net.get("output", "sigm") == "softmax":
        o = torch.softmax(u, dim=1)
        L = -(yt * torch.log_softmax(u, dim=1)).sum() / m
    else:
        o = torch.sigmoid(u)
        L = 0.5 * ((o - yt) ** 2).sum() / m
    L.backward()
    result = {"a": a, "o": o.detach().numpy().T, "L": float(L.detach()), "fv": fv.detach().numpy().T,
              "dffW": ffW.grad.numpy(), "dffb": ffb.grad.numpy(), "dk": {}, "db": {},
              "d": [xt.grad * m] + [p.grad * m for p in pre[1:]]}
    for l, (W, b) in weights.items():
        result["dk"][l] = W.grad.numpy()[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        result["db"][l] = b.grad.numpy()
    return result


def max_ties(net):
    """Whether the input of any max-pool layer has a block with more than one maximum."""
    layers = net["layers"]
    for l, layer in enumerate(layers[1:], start=1):
        if layer["type"] == "s" and layer.get("method") == "max":
            s = int(layer["scale"])
            A = np.stack(layers[l - 1]["a"])                       # (maps, rows, cols, m)
            maps, rows, cols, m = A.shape
            blocks = A.reshape(maps, rows // s, s, cols // s, s, m)
            top = blocks.max(axis=(2, 4), keepdims=True)
            if np.any((blocks == top).sum(axis=(2, 4)) > 1):
                return True
    return False


def rel(expected, actual):
    """Largest error relative to the expected field's largest magnitude."""
    expected, actual = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    assert expected.shape == actual.shape, (expected.shape, actual.shape)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    diff = float(np.max(np.abs(expected - actual))) if expected.size else 0.0
    return diff / scale if scale > 0 else diff


def compare(net, x, y, worst):
    """cnnff and cnnbp of the port against torch; records the worst error per kind in ``worst``."""
    bp = cnnbp(cnnff(net, x), y)
    ref = torch_model(net, x, y)
    ties = max_ties(bp)
    errors = {"o": rel(ref["o"], bp["o"]), "L": rel(ref["L"], bp["L"]),
              "fv": rel(ref["fv"], bp["fv"]),
              "dffW": rel(ref["dffW"], bp["dffW"]), "dffb": rel(ref["dffb"], bp["dffb"])}
    for l, layer in enumerate(bp["layers"]):
        errors[f"a{l}"] = rel(ref["a"][l].detach().numpy(), _to_torch(layer["a"]).numpy())
        if (l or len(bp["layers"]) == 1) and (layer["type"] != "s" or not ties):
            errors[f"d{l}"] = rel(ref["d"][l].numpy(), _to_torch(layer["d"]).numpy())
        if layer["type"] == "c":
            errors[f"dk{l}"] = rel(ref["dk"][l], np.array(layer["dk"]))
            errors[f"db{l}"] = rel(ref["db"][l], np.array(layer["db"]))
    for field, error in errors.items():
        kind = field.rstrip("0123456789")
        worst[kind] = max(worst.get(kind, 0.0), error)
    bad = {field: error for field, error in errors.items() if not error <= TOLERANCE}
    assert not bad, f"differs from torch float64: {bad}"
    return bp


def sgd_steps(net, x, y, alpha, steps):
    """The port's cnntrain on ``steps`` batches against torch's plain SGD on the same batches."""
    m = x.shape[-1]
    kk = [np.arange(m)]
    opts = {"alpha": alpha, "batchsize": m // steps, "numepochs": 1}
    trained = cnntrain(net, x, y, opts, kk=kk, verbose=False)
    current = net
    for step in range(steps):
        index = slice(step * opts["batchsize"], (step + 1) * opts["batchsize"])
        ref = torch_model(current, x[..., index], y[:, index])
        current = {**current, "layers": [dict(layer) for layer in current["layers"]]}
        for l, layer in enumerate(current["layers"]):
            if layer["type"] == "c":
                layer["k"] = list(list(row) for row in np.array(layer["k"]) - alpha * ref["dk"][l])
                layer["b"] = list(np.array(layer["b"]) - alpha * ref["db"][l])
        current["ffW"] = current["ffW"] - alpha * ref["dffW"]
        current["ffb"] = current["ffb"] - alpha * ref["dffb"]
    errors = {"ffW": rel(current["ffW"], trained["ffW"]), "ffb": rel(current["ffb"], trained["ffb"])}
    for l, layer in enumerate(current["layers"]):
        if layer["type"] == "c":
            errors[f"k{l}"] = rel(np.array(layer["k"]), np.array(trained["layers"][l]["k"]))
            errors[f"b{l}"] = rel(np.array(layer["b"]), np.array(trained["layers"][l]["b"]))
    bad = {field: error for field, error in errors.items() if not error <= TOLERANCE}
    assert not bad, f"weights after {steps} SGD steps differ from torch's: {bad}"
    return max(errors.values())


def kinds_of(net, x):
    """The opt-in kinds a problem covers, for the coverage check."""
    found = set()
    if x.ndim == 4 and x.shape[2] > 1:
        found.add("channels")
    layers = net["layers"]
    for below, layer in zip(layers, layers[1:]):
        if layer["type"] == "c":
            found.add("activation " + layer.get("activation", "sigm"))
        else:
            found.add("method " + layer.get("method", "mean"))
        if below["type"] == layer["type"]:
            found.add(f"{below['type']} after {layer['type']}")
    if len(layers) == 1:
        found.add("input alone")
    found.add("output " + net.get("output", "sigm"))
    return found


PROBLEMS = ([("fixed", i) for i in range(len(FIXED))] + [("seed", s) for s in SEEDS])


def make(which, number):
    if which == "fixed":
        kinds, channels, output, activations, methods = FIXED[number]
        return beyond_problem(1000 + number, kinds, channels, output, m=4,
                              activations=activations, methods=methods)
    return beyond_problem(number, m=4)


WORST = {}


@pytest.mark.parametrize("which,number", PROBLEMS, ids=[f"{w}{n}" for w, n in PROBLEMS])
def test_forward_and_gradients_match_torch(which, number):
    net, x, y = make(which, number)
    compare(net, x, y, WORST)


@pytest.mark.parametrize("which,number", PROBLEMS, ids=[f"{w}{n}" for w, n in PROBLEMS])
def test_sgd_steps_match_torch(which, number):
    net, x, y = make(which, number)
    error = sgd_steps(net, x, y, alpha=0.5, steps=2 if which == "seed" else 4)
    WORST["weights after SGD"] = max(WORST.get("weights after SGD", 0.0), error)


def test_every_kind_is_covered():
    covered = set()
    for which, number in PROBLEMS:
        net, x, _ = make(which, number)
        covered |= kinds_of(net, x)
    wanted = {"channels", "c after c", "s after s", "input alone", "method mean", "method max",
              "output sigm", "output softmax"} | {f"activation {a}" for a in ACTIVATION}
    assert wanted <= covered, wanted - covered


def test_report_the_worst_errors(capsys):
    """Prints the worst relative error per kind of field over the problems above (run with -s)."""
    for which, number in PROBLEMS:
        compare(*make(which, number), WORST)
    with capsys.disabled():
        print("\nworst relative error against torch float64:",
              ", ".join(f"{kind} {error:.1e}" for kind, error in sorted(WORST.items())))
    assert max(WORST.values()) <= TOLERANCE
