"""A literal transcription of cnnff.m, cnnbp.m and cnnapplygrads.m.

Per-map loops and ``convn`` calls exactly as in the ``.m`` files, on the
public net (Matlab's layout).  It is slow and it is not what the public
routines run: it is the teaching text to read next to the ``.m`` files, and
the oracle the tests hold the fast code to (``tests/test_literal.py``).
Indices are 0-based: Matlab's ``a{j}`` is ``a[j - 1]``.  A comment
``# teach:NAME`` names the statement below it for the walkthrough
(``cnntoolbox/teaching/steps.py`` shows it beside its ``.m`` line).

The opt-in keys beyond the original (README) are written the same naive way,
block by block and map by map, beside the original's lines: x with channels,
any order of 'c' and 's' layers, ``activation``, ``method`` "max", the
softmax and the linear output.
"""

import copy

import numpy as np
from scipy.signal import convolve


def sigm(P):
    """util/sigm.m: ``1 ./ (1 + exp(-P))``."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-P))


def convn(A, B, shape):
    """Matlab's ``convn(A, B, shape)`` for shape 'valid' or 'full' (a true convolution).

    A 2-D ``B`` on a 3-D ``A`` acts as a ks x ks x 1 kernel, as in Matlab.
    """
    if B.ndim < A.ndim:
        B = B.reshape(B.shape + (1,) * (A.ndim - B.ndim))
    return convolve(A, B, mode=shape, method="direct")


def flipall(X):
    """util/flipall.m: flip X along every dimension."""
    return X[(slice(None, None, -1),) * X.ndim]


def rot180(X):
    """cnnbp.m's rot180: flip the rows and the columns."""
    return X[::-1, ::-1]


def expand(A, S):
    """util/expand.m: repeat each element of A S[d] times along dimension d."""
    for axis, times in enumerate(S):
        A = np.repeat(A, times, axis=axis)
    return A


def activation(U, kind):
    """The nonlinearity of a 'c' layer (an opt-in beyond sigm)."""
    return {"sigm": sigm, "relu": lambda u: np.maximum(u, 0), "tanh": np.tanh,
            "linear": lambda u: u}[kind](U)


def fprime(A, kind):
    """f'(u) written with a = f(u): a(1-a), 1-a^2, 1 where a > 0, or 1."""
    return {"sigm": lambda a: a * (1 - a), "tanh": lambda a: 1 - a ** 2,
            "relu": lambda a: (a > 0) * 1.0, "linear": np.ones_like}[kind](A)


def maxpool(a, scale):
    """The maximum of every scale x scale block of a (rows, cols, m), block by block."""
    rows, cols, m = a.shape
    z = np.zeros((rows // scale, cols // scale, m))
    for r in range(rows // scale):
        for c in range(cols // scale):
            for s in range(m):
                z[r, c, s] = np.max(a[r * scale:(r + 1) * scale, c * scale:(c + 1) * scale, s])
    return z


def maxpool_back(a, d, scale):
    """d of each block placed at the block's first maximum in column-major order, 0 elsewhere."""
    out = np.zeros(a.shape)
    for r in range(d.shape[0]):
        for c in range(d.shape[1]):
            for s in range(d.shape[2]):
                block = a[r * scale:(r + 1) * scale, c * scale:(c + 1) * scale, s]
                first = int(np.argmax(block.flatten(order="F")))   # Matlab's [~, i] = max(block(:))
                out[r * scale + first % scale, c * scale + first // scale, s] = d[r, c, s]
    return out


def cross_entropy(o, y):
    """The softmax output's L = -sum(y(:) .* log(o(:))) / m and od = o - y."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(y != 0, y * np.log(o), 0.0)
    return -np.sum(terms) / y.shape[1], o - y


def cnnff(net, x):
    """cnnff.m, line by line.  x: (rows, cols, m) or (rows, cols, channels, m).  Returns a new net."""
    net = copy.deepcopy(net)
    layers = net["layers"]
    n = len(layers)
    layers[0]["a"] = [x] if x.ndim == 3 else [x[:, :, i, :] for i in range(x.shape[2])]
    inputmaps = len(layers[0]["a"])
    for l in range(1, n):
        if layers[l]["type"] == "c":
            layers[l]["a"] = []
            ks = int(layers[l]["kernelsize"])
            for j in range(int(layers[l]["outputmaps"])):
                z = np.zeros(np.array(layers[l - 1]["a"][0].shape) - [ks - 1, ks - 1, 0])
                for i in range(inputmaps):
                    # teach:ff-conv
                    z = z + convn(layers[l - 1]["a"][i], layers[l]["k"][i][j], "valid")
                if layers[l].get("activation", "sigm") == "sigm":
                    # teach:ff-sigm
                    layers[l]["a"].append(sigm(z + layers[l]["b"][j]))
                else:
                    layers[l]["a"].append(activation(z + layers[l]["b"][j], layers[l]["activation"]))
            inputmaps = int(layers[l]["outputmaps"])
        elif layers[l]["type"] == "s" and layers[l].get("method", "mean") == "max":
            scale = int(layers[l]["scale"])
            layers[l]["a"] = [maxpool(layers[l - 1]["a"][j], scale) for j in range(inputmaps)]
        elif layers[l]["type"] == "s":
            scale = int(layers[l]["scale"])
            layers[l]["a"] = []
            for j in range(inputmaps):
                # teach:ff-pool
                z = convn(layers[l - 1]["a"][j], np.ones((scale, scale)) / scale ** 2, "valid")
                # teach:ff-subsample
                layers[l]["a"].append(z[::scale, ::scale, :])
    fv = []
    for a in layers[n - 1]["a"]:
        sa = a.shape
        # teach:ff-fv
        fv.append(a.reshape(sa[0] * sa[1], sa[2], order="F"))
    net["fv"] = np.concatenate(fv, axis=0)
    if net.get("output", "sigm") == "softmax":
        u = net["ffW"] @ net["fv"] + np.tile(net["ffb"], (1, net["fv"].shape[1]))
        net["o"] = np.exp(u - u.max(axis=0)) / np.sum(np.exp(u - u.max(axis=0)), axis=0)
    elif net.get("output", "sigm") == "linear":
        net["o"] = net["ffW"] @ net["fv"] + np.tile(net["ffb"], (1, net["fv"].shape[1]))
    else:
        # teach:ff-o
        net["o"] = sigm(net["ffW"] @ net["fv"] + np.tile(net["ffb"], (1, net["fv"].shape[1])))
    return net


def cnnbp(net, y):
    """cnnbp.m, line by line.  y: (onum, m).  Returns a new net."""
    net = copy.deepcopy(net)
    layers = net["layers"]
    n = len(layers)
    # teach:bp-e
    net["e"] = net["o"] - y
    if net.get("output", "sigm") == "softmax":
        (net["L"], net["od"]) = cross_entropy(net["o"], y)
    elif net.get("output", "sigm") == "linear":
        net["L"] = 1 / 2 * np.sum(net["e"] ** 2) / net["e"].shape[1]
        net["od"] = net["e"].copy()
    else:
        # teach:bp-L
        net["L"] = 1 / 2 * np.sum(net["e"] ** 2) / net["e"].shape[1]
        # teach:bp-od
        net["od"] = net["e"] * (net["o"] * (1 - net["o"]))
    # teach:bp-fvd
    net["fvd"] = net["ffW"].T @ net["od"]
    if layers[n - 1]["type"] == "c" and layers[n - 1].get("activation", "sigm") == "sigm":
        # teach:bp-fvd-c
        net["fvd"] = net["fvd"] * (net["fv"] * (1 - net["fv"]))
    elif layers[n - 1]["type"] == "c":
        net["fvd"] = net["fvd"] * fprime(net["fv"], layers[n - 1]["activation"])
    sa = layers[n - 1]["a"][0].shape
    fvnum = sa[0] * sa[1]
    # teach:bp-reshape
    layers[n - 1]["d"] = [net["fvd"][j * fvnum:(j + 1) * fvnum, :].reshape(sa, order="F")
                          for j in range(len(layers[n - 1]["a"]))]
    for l in range(n - 2, 0, -1):
        kind, above = layers[l]["type"], layers[l + 1]
        act = layers[l].get("activation", "sigm")
        method = above.get("method", "mean")
        if kind == "c" and above["type"] == "s" and method == "mean" and act == "sigm":
            scale = int(layers[l + 1]["scale"])
            # teach:bp-c-delta
            layers[l]["d"] = [a * (1 - a) * (expand(layers[l + 1]["d"][j], [scale, scale, 1])
                                             / scale ** 2)
                              for j, a in enumerate(layers[l]["a"])]
        elif above["type"] == "c":         # the original's 's' below 'c'; opt-in: 'c' below 'c'
            layers[l]["d"] = []
            for i in range(len(layers[l]["a"])):
                z = np.zeros(layers[l]["a"][0].shape)
                for j in range(len(layers[l + 1]["a"])):
                    # teach:bp-s-delta
                    z = z + convn(layers[l + 1]["d"][j], rot180(layers[l + 1]["k"][i][j]), "full")
                layers[l]["d"].append(z if kind == "s" else z * fprime(layers[l]["a"][i], act))
        else:                              # opt-ins below an 's' layer: any activation, 's', max
            scale = int(above["scale"])
            layers[l]["d"] = []
            for j, a in enumerate(layers[l]["a"]):
                if method == "max":
                    z = maxpool_back(a, above["d"][j], scale)
                else:
                    z = expand(above["d"][j], [scale, scale, 1]) / scale ** 2
                layers[l]["d"].append(z if kind == "s" else z * fprime(a, act))
    for l in range(1, n):
        if layers[l]["type"] == "c":
            layers[l]["dk"] = [[None] * len(layers[l]["a"]) for _ in layers[l - 1]["a"]]
            layers[l]["db"] = []
            for j, d in enumerate(layers[l]["d"]):
                for i, a in enumerate(layers[l - 1]["a"]):
                    # teach:bp-dk
                    layers[l]["dk"][i][j] = convn(flipall(a), d, "valid")[:, :, 0] / d.shape[2]
                # teach:bp-db
                layers[l]["db"].append(float(np.sum(d) / d.shape[2]))
    # teach:bp-dffW
    net["dffW"] = net["od"] @ net["fv"].T / net["od"].shape[1]
    # teach:bp-dffb
    net["dffb"] = np.mean(net["od"], axis=1, keepdims=True)
    return net


def cnnapplygrads(net, opts):
    """cnnapplygrads.m, line by line.  Returns a new net."""
    net = copy.deepcopy(net)
    layers = net["layers"]
    for l in range(1, len(layers)):
        if layers[l]["type"] == "c":
            for j in range(len(layers[l]["a"])):
                for ii in range(len(layers[l - 1]["a"])):
                    # teach:apply-k
                    layers[l]["k"][ii][j] = layers[l]["k"][ii][j] - opts["alpha"] * layers[l]["dk"][ii][j]
                # teach:apply-b
                layers[l]["b"][j] = layers[l]["b"][j] - opts["alpha"] * layers[l]["db"][j]
    # teach:apply-ffW
    net["ffW"] = net["ffW"] - opts["alpha"] * net["dffW"]
    # teach:apply-ffb
    net["ffb"] = net["ffb"] - opts["alpha"] * net["dffb"]
    return net
