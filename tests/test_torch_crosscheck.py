"""The opt-in keys beyond the original against PyTorch float64, an independent implementation.

The original toolbox has no channels, no 'c' after 'c' or 's' after 's', no
ReLU, tanh, linear layers, max-pooling, softmax or linear output, so nothing under Octave
can check them; PyTorch can.  For each of 30 seeded random architectures
(plus fixed ones that make sure every kind occurs), a torch model is built
from the same weights and the same batch, and the forward maps, the output,
the loss, every delta, every gradient and the weights after several SGD
steps must agree within 1e-12 relative to each field's largest magnitude.

Fully connected 'f' layers (NN's hidden layers, issue 20) are checked the
same way: their ``a``, ``d`` (dE/du, (size, m)), ``dW`` and ``db``; so is
dropout (``dropoutFraction``): the peer multiplies by the masks the port's
``cnnff`` drew (or by 1 - p with ``testing``), and in the SGD steps by the
masks ``cnntrain`` draws, drawn again here from the same seed.

The torch net is the benchmark's peer, ``bench/torch_peer.py``, built from
the net's weights with ``params_from_net`` (its docstring gives the layout:
flipped kernels, maps as (m, maps, rows, cols), fv column-major per map);
``forward(..., trace=...)`` hands back its intermediate tensors.

The toolbox's ``d`` of a 'c' layer is dE/du (before the nonlinearity), of
an 's' layer dE/da, for E the loss summed over the batch (not divided by m:
the gradients divide by m at the end); in torch these are m times the
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

from cnntoolbox import cnnbp, cnnff, cnntrain

from helpers import beyond_problem, max_rel_error, rel_error, torch_peer_or_skip

torch_peer = torch_peer_or_skip("the keys beyond the original")
import torch  # noqa: E402  (after the skip)

TOLERANCE = 1e-12

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
    ("cs", 2, "linear", ["relu"], ["max"]),           # regression: o = ffW fv + ffb (NN's 'linear')
    ("", 1, "linear", [], []),
]
#: Fixed nets with fully connected 'f' layers (NN's hidden layers): (kinds, channels, output,
#: activations, methods, full), full the (size, activation) of each 'f' layer.
FULL = [
    ("cs", 2, "sigm", ["sigm"], ["mean"], [(5, None)]),              # the original's kinds + 'f'
    ("cscs", 1, "softmax", ["relu", "tanh"], ["max", "mean"], [(6, "relu"), (4, "tanh")]),
    ("c", 3, "linear", ["tanh"], [], [(3, "linear"), (5, "sigm")]),  # the last map a 'c' layer
    ("", 1, "softmax", [], [], [(7, "tanh"), (4, None)]),           # an MLP on the pixels
    ("ss", 2, "sigm", [], ["max", "max"], [(3, "relu")]),
]
SEEDS = range(30)


def _torch_layout(a):
    """A (maps, rows, cols, m) array or a list of (rows, cols, m) maps as (m, maps, rows, cols)."""
    return (np.stack(a) if isinstance(a, list) else np.asarray(a)).transpose(3, 0, 1, 2)


def torch_model(net, x, y, masks=None):
    """The peer's forward pass, loss and backward pass, from the net's weights.

    Returns
    -------
    dict
        ``a``: per layer (m, maps, rows, cols) arrays; ``d``: per layer the
        toolbox's deltas in that layout (the input layer's is used only for
        a net of the input layer alone, where the original sets it); ``o``
        (onum, m); ``L``; ``fv`` (fvnum, m); ``dk``, ``db`` per layer index
        of a 'c' layer, ``dffW``, ``dffb``, in the toolbox's layout.
    """
    params = torch_peer.params_from_net(net)
    xt = torch_peer.x_to_torch(x).requires_grad_(True)
    output, trace = net.get("output", "sigm"), {}
    o = torch_peer.forward(params, net["layers"], xt, output, trace, masks)
    for u in trace["u"][1:]:
        u.retain_grad()
    for u in trace["fu"]:
        u.retain_grad()
    L = torch_peer.loss(o, torch_peer.y_to_torch(y), output)
    L.backward()
    m = xt.shape[0]
    grads = torch_peer.grads_as_net(params)
    conv = [l for l, layer in enumerate(net["layers"]) if layer["type"] == "c"]
    full = [l for l, layer in enumerate(net["layers"]) if layer["type"] == "f"]
    ref = {"a": [a.detach().numpy() for a in trace["a"]], "o": o.detach().numpy().T,
           "L": float(L.detach()), "fv": trace["fv"].detach().numpy().T,
           "d": [(u.grad * m).numpy() for u in trace["u"]],
           "dk": dict(zip(conv, grads["dk"])), "db": dict(zip(conv, grads["db"])),
           "dffW": grads["dffW"], "dffb": grads["dffb"]}
    for i, l in enumerate(full):                 # (size, m) as the toolbox's 'f' layers
        ref["a"].append(trace["fa"][i].detach().numpy().T)
        ref["d"].append((trace["fu"][i].grad * m).numpy().T)
        ref["dW"], ref["dfb"] = ref.get("dW", {}), ref.get("dfb", {})
        ref["dW"][l], ref["dfb"][l] = grads["dfW"][i], grads["dfb"][i]
    return ref


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


def _torch_masks(net):
    """The dropout of a net after cnnff for the peer: its masks as (m, n) tensors, 1 - p when
    testing, None without dropout."""
    p = net.get("dropoutFraction", 0)
    if not p:
        return None
    if net.get("testing"):
        return 1.0 - p
    masks = [net["dropOutMask"]] + [layer["dropOutMask"] for layer in net["layers"]
                                    if layer["type"] == "f"]
    return [torch.from_numpy(np.ascontiguousarray(mask.T)) for mask in masks]


def compare(net, x, y, worst):
    """cnnff and cnnbp of the port against torch; records the worst error per kind in ``worst``.

    A testing pass (``testing`` with dropout) is compared forward only: cnnbp refuses it.
    """
    if net.get("testing"):
        ff, ref = cnnff(net, x), torch_model(net, x, y, _torch_masks(net))
        errors = {"o": rel_error(ref["o"], ff["o"]), "fv": rel_error(ref["fv"], ff["fv"])}
        errors.update({f"a{l}": rel_error(ref["a"][l], layer["a"] if layer["type"] == "f"
                                          else _torch_layout(layer["a"]))
                       for l, layer in enumerate(ff["layers"])})
        bad = {field: error for field, error in errors.items() if not error <= TOLERANCE}
        assert not bad, f"differs from torch float64: {bad}"
        return ff
    bp = cnnbp(cnnff(net, x, rng=0), y)
    ref = torch_model(net, x, y, _torch_masks(bp))
    ties = max_ties(bp)
    errors = {"o": rel_error(ref["o"], bp["o"]), "L": rel_error(ref["L"], bp["L"]),
              "fv": rel_error(ref["fv"], bp["fv"]),
              "dffW": rel_error(ref["dffW"], bp["dffW"]),
              "dffb": rel_error(ref["dffb"], bp["dffb"])}
    for l, layer in enumerate(bp["layers"]):
        if layer["type"] == "f":
            errors[f"a{l}"] = rel_error(ref["a"][l], layer["a"])
            errors[f"d{l}"] = rel_error(ref["d"][l], layer["d"])
            errors[f"dW{l}"] = rel_error(ref["dW"][l], layer["dW"])
            errors[f"db{l}"] = rel_error(ref["dfb"][l], layer["db"])
            continue
        errors[f"a{l}"] = rel_error(ref["a"][l], _torch_layout(layer["a"]))
        if (l or len(bp["layers"]) == 1) and (layer["type"] != "s" or not ties):
            errors[f"d{l}"] = rel_error(ref["d"][l], _torch_layout(layer["d"]))
        if layer["type"] == "c":
            errors[f"dk{l}"] = rel_error(ref["dk"][l], layer["dk"])
            errors[f"db{l}"] = rel_error(ref["db"][l], layer["db"])
    for field, error in errors.items():
        kind = field.rstrip("0123456789")
        worst[kind] = max(worst.get(kind, 0.0), error)
    bad = {field: error for field, error in errors.items() if not error <= TOLERANCE}
    assert not bad, f"differs from torch float64: {bad}"
    return bp


def sgd_steps(net, x, y, alpha, steps):
    """The port's cnntrain on ``steps`` batches against the peer's plain SGD on the same batches.

    With dropout the peer takes the masks ``cnntrain`` draws from its generator (seed 7): per
    batch, fv's (fvnum, batchsize) then each 'f' layer's, ``rand > p`` in C order.
    """
    m = x.shape[-1]
    batchsize = m // steps
    trained = cnntrain(net, x, y, {"alpha": alpha, "batchsize": batchsize, "numepochs": 1},
                       kk=[np.arange(m)], rng=7, verbose=False)
    params = torch_peer.params_from_net(net)
    tx, ty = torch_peer.x_to_torch(x), torch_peer.y_to_torch(y)
    p, output = net.get("dropoutFraction", 0), net.get("output", "sigm")
    if not p:
        torch_peer.train_epoch(params, net["layers"], tx, ty, alpha, batchsize,
                               perm=np.arange(m), output=output)
    else:
        rng, flat = np.random.default_rng(7), torch_peer.parameters(params)
        full = [layer for layer in net["layers"] if layer["type"] == "f"]
        rows = [(full[0]["W"] if full else net["ffW"]).shape[1]] + [f["size"] for f in full]
        for start in range(0, m, batchsize):
            masks = [torch.from_numpy((rng.random((n, batchsize)) > p).T.astype(np.float64))
                     for n in rows]
            o = torch_peer.forward(params, net["layers"], tx[start:start + batchsize], output,
                                   masks=masks)
            L = torch_peer.loss(o, ty[start:start + batchsize], output)
            with torch.no_grad():
                for w, g in zip(flat, torch.autograd.grad(L, flat)):
                    w.add_(g, alpha=-alpha)
    error, where = max_rel_error(torch_peer.as_net(params), torch_peer.net_weights(trained))
    assert error <= TOLERANCE, f"after {steps} SGD steps, {where}: {error:.2e}"
    return error


def kinds_of(net, x):
    """The opt-in kinds a problem covers, for the coverage check."""
    found = set()
    if x.ndim == 4 and x.shape[2] > 1:
        found.add("channels")
    layers = net["layers"]
    if net.get("dropoutFraction"):
        found.add("dropout, testing" if net.get("testing") else "dropout")
    for below, layer in zip(layers, layers[1:]):
        if layer["type"] == "f":
            found.add("f " + layer.get("activation", "sigm"))
            found.add("f after " + below["type"])
            continue
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


#: Fixed nets with dropout (NN's dropoutFraction): (kinds, channels, output, activations,
#: methods, full, p, testing).
DROPOUT = [
    ("cs", 1, "sigm", [None], [None], [], 0.5, False),                # the original's kinds
    ("cs", 2, "softmax", ["relu"], ["max"], [(6, "tanh"), (4, None)], 0.3, False),
    ("c", 1, "linear", ["sigm"], [], [(5, "relu")], 0.6, False),      # fvd .* f' of the masked fv
    ("", 1, "softmax", [], [], [(8, "sigm")], 0.25, False),
    ("cs", 2, "sigm", ["tanh"], ["mean"], [(5, "sigm")], 0.4, True),   # testing: times 1 - p
]

PROBLEMS = ([("fixed", i) for i in range(len(FIXED))] + [("full", i) for i in range(len(FULL))]
            + [("dropout", i) for i in range(len(DROPOUT))] + [("seed", s) for s in SEEDS])


def make(which, number):
    if which == "fixed":
        kinds, channels, output, activations, methods = FIXED[number]
        return beyond_problem(1000 + number, kinds, channels, output, m=4,
                              activations=activations, methods=methods)
    if which == "dropout":
        kinds, channels, output, activations, methods, full, p, testing = DROPOUT[number]
        net, x, y = beyond_problem(3000 + number, kinds, channels, output, m=6,
                                   activations=activations, methods=methods, full=full)
        net["dropoutFraction"] = p
        if testing:
            net["testing"] = True
        return net, x, y
    if which == "full":
        kinds, channels, output, activations, methods, full = FULL[number]
        return beyond_problem(2000 + number, kinds, channels, output, m=4,
                              activations=activations, methods=methods, full=full)
    return beyond_problem(number, m=4)


WORST = {}


each_problem = pytest.mark.parametrize("which,number", PROBLEMS,
                                       ids=[f"{w}{n}" for w, n in PROBLEMS])


@each_problem
def test_forward_and_gradients_match_torch(which, number):
    net, x, y = make(which, number)
    compare(net, x, y, WORST)


@each_problem
def test_sgd_steps_match_torch(which, number):
    net, x, y = make(which, number)
    if net.get("testing"):
        pytest.skip("a testing pass is not trained (cnnbp refuses it)")
    error = sgd_steps(net, x, y, alpha=0.5, steps=2 if which == "seed" else 4)
    WORST["weights after SGD"] = max(WORST.get("weights after SGD", 0.0), error)


def test_every_kind_is_covered():
    covered = set()
    for which, number in PROBLEMS:
        net, x, _ = make(which, number)
        covered |= kinds_of(net, x)
    wanted = {"channels", "c after c", "s after s", "input alone", "method mean", "method max",
              "output sigm", "output softmax", "output linear",
              "f after i", "f after c", "f after s", "f after f", "dropout",
              "dropout, testing"}
    wanted |= {f"f {a}" for a in torch_peer.ACTIVATIONS} | {f"activation {a}" for a in torch_peer.ACTIVATIONS}
    assert wanted <= covered, wanted - covered


def test_report_the_worst_errors(capsys):
    """Prints the worst relative error per kind of field over the problems above (run with -s)."""
    for which, number in PROBLEMS:
        compare(*make(which, number), WORST)
    with capsys.disabled():
        print("\nworst relative error against torch float64:",
              ", ".join(f"{kind} {error:.1e}" for kind, error in sorted(WORST.items())))
    assert max(WORST.values()) <= TOLERANCE
