"""The blog post's worked example, step by step, checked against cnnbp.

``python -m cnntoolbox.teaching`` prints a trace of the example that the
Traditional Chinese post "Convolutional Neural Net 筆記" walks through
(``../shared/blog/`` in the project, see ``docs/walkthrough.md``):

* Part 1, the post's assumptions: three outputs of 0.5 with errors 0.4, 0.8
  and 0.16, and every C2 output 0.5 as well.  These values are imposed on a
  net after ``cnnff`` and the state is handed to ``cnnbp`` and
  ``cnnapplygrads``.
* Part 2, the same net with the outputs its forward pass really gives.
* Part 3, the post's slips and readers' questions, answered with numbers.

Every quantity is computed twice: here, by hand, with explicit loops over
the indices of Bouvrie's formulas (``u``, ``x``, ``delta``, ``f'``), and by
the package's routines; :func:`run_example` raises
:class:`StepMismatchError` when the two differ.

The example net has the post's shapes: a 14x14 input, C1 (one map, 3x3
kernel) 12x12, S1 (scale 2) 6x6, C2 (one map, 3x3 kernel) 4x4, S2 (scale 2)
2x2, so a feature vector of 4 and output weights ffW of 3x4; one sample
(m = 1), weights drawn by ``cnnsetup`` from a fixed seed.  The hand
computations cover exactly this layout (one map per layer, m = 1).

The trace's text comes from :mod:`cnntoolbox.teaching.text`, which also
writes the numbers of ``docs/walkthrough.md`` (:mod:`cnntoolbox.teaching.walkthrough`).
"""

import argparse
import copy
import sys
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

import numpy as np
from scipy.signal import correlate

from .. import literal
from ..cnnapplygrads import cnnapplygrads
from ..cnnbp import cnnbp
from ..cnnff import cnnff
from ..cnnnumgradcheck import EPSILON, TOLERANCE, cnnnumgradcheck
from ..cnnsetup import cnnsetup
from ..errors import GradientCheckError

#: Seed of the input image and of cnnsetup's weights (the post's year).
SEED = 2016
#: The example net: input -> C1 -> S1 -> C2 -> S2 -> 3 outputs.
LAYERS = ({"type": "i"},
          {"type": "c", "outputmaps": 1, "kernelsize": 3},
          {"type": "s", "scale": 2},
          {"type": "c", "outputmaps": 1, "kernelsize": 3},
          {"type": "s", "scale": 2})
IMAGE_SIZE = 14
ONUM = 3
#: The sample's class in Part 2 (0-based): labels y = [1; 0; 0].
LABEL = 0
#: The post's assumptions (section "從最後一層傳到sub層(S2)").
POST_OUTPUT = 0.5
POST_ERRORS = (0.4, 0.8, 0.16)
#: The learning rate of the toolbox's MNIST example (opts.alpha).
ALPHA = 1.0
#: Plain gradient-descent steps on the one sample for "what 0.5 hides".
TRAIN_STEPS = 100
#: Hand computation and package must agree to this, relative to the value's size.
AGREEMENT = 1e-12
#: Layer numbers (0-based) of the example.
C1, S1, C2, S2 = 1, 2, 3, 4


class StepMismatchError(AssertionError):
    """A hand-computed step of the example differs from the package's value."""


# --- what each step is -----------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One quantity of the example.

    ``formula`` is Bouvrie's notation, ``matlab`` the toolbox expression (or
    a tuple of statements) that computes it, ``python`` a piece of text (or a
    tuple) that finds the matching statement of ``literal.py``, the package's
    loop-by-loop reading of the ``.m`` files; ``field`` is where the toolbox
    keeps the value (Matlab notation).
    """

    key: str
    what: str
    field: str
    formula: str
    matlab: object
    python: object


FORWARD_STEPS = (
    Step("a_c1", "C1 output map", "net.layers{2}.a{1}",
         "x^C1 = f(u^C1),  u^C1 = conv(x^in, k, 'valid') + b",
         ("z = z + convn(net.layers{l - 1}.a{i}, net.layers{l}.k{i}{j}, 'valid')",
          "net.layers{l}.a{j} = sigm(z + net.layers{l}.b{j})"),
         ('z = z + convn(layers[l - 1]["a"][i]', 'layers[l]["a"].append(sigm(')),
    Step("a_s1", "S1 output map", "net.layers{3}.a{1}",
         "x^S1 = mean of each 2x2 block of x^C1",
         ("z = convn(net.layers{l - 1}.a{j}, ones(net.layers{l}.scale) / (net.layers{l}.scale ^ 2), 'valid')",
          "net.layers{l}.a{j} = z(1 : net.layers{l}.scale : end, 1 : net.layers{l}.scale : end, :)"),
         ('np.ones((scale, scale))', 'layers[l]["a"].append(z[')),
    Step("a_c2", "C2 output map", "net.layers{4}.a{1}",
         "x^C2 = f(u^C2),  u^C2 = conv(x^S1, k, 'valid') + b",
         ("z = z + convn(net.layers{l - 1}.a{i}, net.layers{l}.k{i}{j}, 'valid')",
          "net.layers{l}.a{j} = sigm(z + net.layers{l}.b{j})"),
         ('z = z + convn(layers[l - 1]["a"][i]', 'layers[l]["a"].append(sigm(')),
    Step("a_s2", "S2 output map", "net.layers{5}.a{1}",
         "x^S2 = mean of each 2x2 block of x^C2",
         ("z = convn(net.layers{l - 1}.a{j}, ones(net.layers{l}.scale) / (net.layers{l}.scale ^ 2), 'valid')",
          "net.layers{l}.a{j} = z(1 : net.layers{l}.scale : end, 1 : net.layers{l}.scale : end, :)"),
         ('np.ones((scale, scale))', 'layers[l]["a"].append(z[')),
    Step("fv", "feature vector", "net.fv",
         "x^fv = the S2 map read column by column",
         "net.fv = [net.fv; reshape(net.layers{n}.a{j}, sa(1) * sa(2), sa(3))]",
         'fv.append('),
    Step("o", "outputs", "net.o",
         "x^o = f(u^o),  u^o = W^o x^fv + b^o",
         "net.o = sigm(net.ffW * net.fv + repmat(net.ffb, 1, size(net.fv, 2)))",
         'net["o"] = sigm('),
)

BACKWARD_STEPS = (
    Step("e", "error", "net.e",
         "e = x^o - t  (output minus label)",
         "net.e = net.o - y",
         'net["e"] ='),
    Step("L", "loss", "net.L",
         "E = 1/2 * sum_k e_k^2, averaged over the m samples",
         "net.L = 1/2* sum(net.e(:) .^ 2) / size(net.e, 2)",
         'net["L"] ='),
    Step("fprime_o", "sigmoid derivative at the outputs", "net.o .* (1 - net.o)",
         "f'(u^o) = x^o .* (1 - x^o)",
         "net.o .* (1 - net.o)",
         'net["od"] ='),
    Step("od", "output delta", "net.od",
         "delta^o = e .* f'(u^o)",
         "net.od = net.e .* (net.o .* (1 - net.o))",
         'net["od"] ='),
    Step("fvd", "feature-vector delta", "net.fvd",
         "delta^fv = (W^o)' delta^o,  delta^fv_k = sum_i W^o_ik delta^o_i",
         "net.fvd = (net.ffW' * net.od)",
         'net["fvd"] = net["ffW"]'),
    Step("d_s2", "S2 delta: fvd reshaped into the 2x2 map", "net.layers{5}.d{1}",
         "delta^S2(r, c) = delta^fv(r + 2 (c - 1))  (column by column)",
         "reshape(net.fvd(((j - 1) * fvnum + 1) : j * fvnum, :), sa(1), sa(2), sa(3))",
         'layers[n - 1]["d"] ='),
    Step("expanded", "S2 delta spread back over its 2x2 blocks, divided by 2^2",
         "expand(net.layers{5}.d{1}, [2 2 1]) / 2 ^ 2",
         "up(delta^S2) / scale^2",
         "expand(net.layers{l + 1}.d{j}, [net.layers{l + 1}.scale net.layers{l + 1}.scale 1])"
         " / net.layers{l + 1}.scale ^ 2",
         'layers[l]["d"] = [a * (1 - a)'),
    Step("fprime_c2", "sigmoid derivative of C2", "net.layers{4}.a{1} .* (1 - net.layers{4}.a{1})",
         "f'(u^C2) = x^C2 .* (1 - x^C2)",
         "net.layers{l}.a{j} .* (1 - net.layers{l}.a{j})",
         'layers[l]["d"] = [a * (1 - a)'),
    Step("d_c2", "C2 delta", "net.layers{4}.d{1}",
         "delta^C2 = f'(u^C2) .* up(delta^S2) / scale^2",
         "net.layers{l}.d{j} = net.layers{l}.a{j} .* (1 - net.layers{l}.a{j}) .* (expand(...) / ...)",
         'layers[l]["d"] = [a * (1 - a)'),
    Step("d_s1", "S1 delta", "net.layers{3}.d{1}",
         "delta^S1_i = sum_j conv(delta^C2_j, rot180(k_ij), 'full')",
         "z = z + convn(net.layers{l + 1}.d{j}, rot180(net.layers{l + 1}.k{i}{j}), 'full')",
         'rot180(layers[l + 1]'),
    Step("d_c1", "C1 delta", "net.layers{2}.d{1}",
         "delta^C1 = f'(u^C1) .* up(delta^S1) / scale^2",
         "net.layers{l}.d{j} = net.layers{l}.a{j} .* (1 - net.layers{l}.a{j}) .* (expand(...) / ...)",
         'layers[l]["d"] = [a * (1 - a)'),
    Step("dk_c2", "C2 kernel gradient", "net.layers{4}.dk{1}{1}",
         "dE/dk_ij = rot180(corr(x^S1_i, delta^C2_j, 'valid')) / m",
         "net.layers{l}.dk{i}{j} = convn(flipall(net.layers{l - 1}.a{i}), net.layers{l}.d{j}, 'valid')"
         " / size(net.layers{l}.d{j}, 3)",
         'layers[l]["dk"][i][j] ='),
    Step("dk_c1", "C1 kernel gradient", "net.layers{2}.dk{1}{1}",
         "dE/dk_ij = rot180(corr(x^in_i, delta^C1_j, 'valid')) / m",
         "net.layers{l}.dk{i}{j} = convn(flipall(net.layers{l - 1}.a{i}), net.layers{l}.d{j}, 'valid')"
         " / size(net.layers{l}.d{j}, 3)",
         'layers[l]["dk"][i][j] ='),
    Step("dffW", "output weight gradient", "net.dffW",
         "dE/dW^o = delta^o (x^fv)' / m",
         "net.dffW = net.od * (net.fv)' / size(net.od, 2)",
         'net["dffW"] ='),
    Step("db_c2", "C2 bias gradient", "net.layers{4}.db{1}",
         "dE/db_j = sum_(u,v) delta^C2_j(u, v) / m",
         "net.layers{l}.db{j} = sum(net.layers{l}.d{j}(:)) / size(net.layers{l}.d{j}, 3)",
         'layers[l]["db"].append('),
    Step("db_c1", "C1 bias gradient", "net.layers{2}.db{1}",
         "dE/db_j = sum_(u,v) delta^C1_j(u, v) / m",
         "net.layers{l}.db{j} = sum(net.layers{l}.d{j}(:)) / size(net.layers{l}.d{j}, 3)",
         'layers[l]["db"].append('),
    Step("dffb", "output bias gradient", "net.dffb",
         "dE/db^o = delta^o, averaged over the m samples",
         "net.dffb = mean(net.od, 2)",
         'net["dffb"] ='),
)

UPDATE_STEPS = (
    Step("k_c2", "C2 kernel after the step", "net.layers{4}.k{1}{1}",
         "k <- k - alpha dE/dk",
         "net.layers{l}.k{ii}{j} = net.layers{l}.k{ii}{j} - opts.alpha * net.layers{l}.dk{ii}{j}",
         'layers[l]["k"][ii][j] ='),
    Step("b_c2", "C2 bias after the step", "net.layers{4}.b{1}",
         "b <- b - alpha dE/db",
         "net.layers{l}.b{j} = net.layers{l}.b{j} - opts.alpha * net.layers{l}.db{j}",
         'layers[l]["b"][j] ='),
    Step("k_c1", "C1 kernel after the step", "net.layers{2}.k{1}{1}",
         "k <- k - alpha dE/dk",
         "net.layers{l}.k{ii}{j} = net.layers{l}.k{ii}{j} - opts.alpha * net.layers{l}.dk{ii}{j}",
         'layers[l]["k"][ii][j] ='),
    Step("b_c1", "C1 bias after the step", "net.layers{2}.b{1}",
         "b <- b - alpha dE/db",
         "net.layers{l}.b{j} = net.layers{l}.b{j} - opts.alpha * net.layers{l}.db{j}",
         'layers[l]["b"][j] ='),
    Step("ffW", "output weights after the step", "net.ffW",
         "W^o <- W^o - alpha dE/dW^o",
         "net.ffW = net.ffW - opts.alpha * net.dffW",
         'net["ffW"] = net["ffW"]'),
    Step("ffb", "output biases after the step", "net.ffb",
         "b^o <- b^o - alpha dE/db^o",
         "net.ffb = net.ffb - opts.alpha * net.dffb",
         'net["ffb"] = net["ffb"]'),
)

STEPS = {step.key: step for step in FORWARD_STEPS + BACKWARD_STEPS + UPDATE_STEPS}


def statements(value):
    """A statement or a tuple of statements, as a tuple."""
    return (value,) if isinstance(value, str) else tuple(value)


def python_lines(step):
    """The statements of ``literal.py`` a step points at, each on one line, without comments.

    Raises
    ------
    LookupError
        A piece of text is not (or not exactly once) in ``literal.py``: the
        file changed and ``STEPS`` must follow it.
    """
    source = Path(literal.__file__).read_text(encoding="utf-8").splitlines()
    lines = []
    for needle in statements(step.python):
        hits = [n for n, line in enumerate(source) if needle in line]
        if len(hits) != 1:
            raise LookupError(f"literal.py: expected one line containing {needle!r}, "
                              f"found {len(hits)}")
        n = hits[0]
        text = source[n].split("  #")[0].strip()
        while text.count("(") + text.count("[") > text.count(")") + text.count("]"):
            n += 1
            text += " " + source[n].split("  #")[0].strip()
        lines.append(text.replace("( ", "(").replace("[ ", "["))
    return lines


# --- the example -------------------------------------------------------------------

def example_net(seed=SEED):
    """The example net after ``cnnsetup``, its input and its labels.

    Returns
    -------
    net : dict
        Set up for the layers of :data:`LAYERS` (weights drawn with ``seed``).
    x : ndarray, shape (14, 14, 1)
        A uniform random image in [0, 1).
    y : ndarray, shape (3, 1)
        One-hot labels of class :data:`LABEL`.
    """
    rng = np.random.default_rng(seed)
    x = rng.random((IMAGE_SIZE, IMAGE_SIZE, 1))
    y = np.zeros((ONUM, 1))
    y[LABEL, 0] = 1.0
    net = cnnsetup({"layers": [dict(layer) for layer in LAYERS]}, x, y, rng=rng)
    return net, x, y


def post_state(net):
    """The post's assumptions imposed on a net after ``cnnff``.

    Every C2 output is set to 0.5 (so the S2 map and the feature vector, its
    means, are 0.5 too) and every output to 0.5; the labels are chosen so
    that ``e = o - y`` is (0.4, 0.8, 0.16).

    Returns
    -------
    net : dict
        A new net: a state no weights produce, to feed ``cnnbp``.
    y : ndarray, shape (3, 1)
        ``0.5 - e``, the labels that give the post's errors.
    """
    forced = copy.deepcopy(net)
    for layer in (forced["layers"][C2], forced["layers"][S2]):
        layer["a"] = [np.full_like(a, POST_OUTPUT) for a in layer["a"]]
    forced["fv"] = np.full_like(forced["fv"], POST_OUTPUT)
    forced["o"] = np.full_like(forced["o"], POST_OUTPUT)
    y = forced["o"] - np.array(POST_ERRORS)[:, np.newaxis]
    return forced, y


# --- by hand: explicit loops over the indices ------------------------------------------

def _sigm(u):
    return 1.0 / (1.0 + np.exp(-u))


def _conv_valid(a, k):
    """u(y, x) = sum_(p,q) a(y + ks-1-p, x + ks-1-q) k(p, q): the true 'valid' convolution."""
    ks = k.shape[0]
    out = np.zeros((a.shape[0] - ks + 1, a.shape[1] - ks + 1))
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            for p in range(ks):
                for q in range(ks):
                    out[y, x] += a[y + ks - 1 - p, x + ks - 1 - q] * k[p, q]
    return out


def _mean_pool(a, scale):
    out = np.zeros((a.shape[0] // scale, a.shape[1] // scale))
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            out[r, c] = sum(a[scale * r + p, scale * c + q]
                            for p in range(scale) for q in range(scale)) / scale ** 2
    return out


def _spread_back(d, k, rows, cols):
    """dE/da(Y, X): every delta d(y, x) goes back along the weight k(p, q) it came through."""
    ks = k.shape[0]
    out = np.zeros((rows, cols))
    for y in range(d.shape[0]):
        for x in range(d.shape[1]):
            for p in range(ks):
                for q in range(ks):
                    out[y + ks - 1 - p, x + ks - 1 - q] += d[y, x] * k[p, q]
    return out


def _kernel_gradient(a, d, ks):
    """dE/dk(p, q) = sum_(y,x) d(y, x) a(y + ks-1-p, x + ks-1-q)."""
    out = np.zeros((ks, ks))
    for p in range(ks):
        for q in range(ks):
            out[p, q] = sum(d[y, x] * a[y + ks - 1 - p, x + ks - 1 - q]
                            for y in range(d.shape[0]) for x in range(d.shape[1]))
    return out


def _upsample(d, scale):
    """Each element of d repeated over a scale x scale block, divided by scale^2."""
    out = np.zeros((d.shape[0] * scale, d.shape[1] * scale))
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            out[r, c] = d[r // scale, c // scale] / scale ** 2
    return out


def hand_forward(net, x):
    """The forward pass of the example with explicit loops.

    Parameters
    ----------
    net : dict
        The example net (one map per layer).
    x : ndarray, shape (14, 14, 1)

    Returns
    -------
    dict
        ``a_c1``, ``a_s1``, ``a_c2``, ``a_s2`` (2-D maps), ``fv`` (4,), ``u_o`` and ``o`` (3,).
    """
    layers = net["layers"]
    h = {}
    h["a_c1"] = _sigm(_conv_valid(x[:, :, 0], layers[C1]["k"][0][0]) + layers[C1]["b"][0])
    h["a_s1"] = _mean_pool(h["a_c1"], layers[S1]["scale"])
    h["a_c2"] = _sigm(_conv_valid(h["a_s1"], layers[C2]["k"][0][0]) + layers[C2]["b"][0])
    h["a_s2"] = _mean_pool(h["a_c2"], layers[S2]["scale"])
    rows, cols = h["a_s2"].shape
    h["fv"] = np.array([h["a_s2"][n % rows, n // rows] for n in range(rows * cols)])
    W, b = net["ffW"], net["ffb"][:, 0]
    h["u_o"] = np.array([sum(W[i, k] * h["fv"][k] for k in range(W.shape[1])) + b[i]
                         for i in range(W.shape[0])])
    h["o"] = _sigm(h["u_o"])
    return h


def hand_backward(net, y, alpha=ALPHA):
    """Every quantity of cnnbp and cnnapplygrads for the example, with explicit loops.

    Parameters
    ----------
    net : dict
        The example net after ``cnnff`` (or :func:`post_state`), m = 1.
    y : ndarray, shape (3, 1)
    alpha : float

    Returns
    -------
    dict
        One entry per key of ``BACKWARD_STEPS`` and ``UPDATE_STEPS``
        (vectors 1-D, maps and kernels 2-D, biases floats).
    """
    layers = net["layers"]
    m = 1
    x = layers[0]["a"][0][:, :, 0]
    a_c1, a_s1, a_c2 = (layers[l]["a"][0][:, :, 0] for l in (C1, S1, C2))
    k_c1, k_c2 = layers[C1]["k"][0][0], layers[C2]["k"][0][0]
    o, t, fv, W = net["o"][:, 0], y[:, 0], net["fv"][:, 0], net["ffW"]
    onum, fvnum = W.shape
    h = {}
    h["e"] = np.array([o[i] - t[i] for i in range(onum)])
    h["L"] = 0.5 * sum(e ** 2 for e in h["e"]) / m
    h["fprime_o"] = np.array([o[i] * (1 - o[i]) for i in range(onum)])
    h["od"] = np.array([h["e"][i] * h["fprime_o"][i] for i in range(onum)])
    h["fvd"] = np.array([sum(W[i, k] * h["od"][i] for i in range(onum)) for k in range(fvnum)])
    rows, cols = layers[S2]["a"][0].shape[:2]
    h["d_s2"] = np.array([[h["fvd"][r + rows * c] for c in range(cols)] for r in range(rows)])
    h["expanded"] = _upsample(h["d_s2"], layers[S2]["scale"])
    h["fprime_c2"] = a_c2 * (1 - a_c2)
    h["d_c2"] = h["fprime_c2"] * h["expanded"]
    h["d_s1"] = _spread_back(h["d_c2"], k_c2, *a_s1.shape)
    h["d_c1"] = a_c1 * (1 - a_c1) * _upsample(h["d_s1"], layers[S1]["scale"])
    h["dk_c2"] = _kernel_gradient(a_s1, h["d_c2"], k_c2.shape[0]) / m
    h["dk_c1"] = _kernel_gradient(x, h["d_c1"], k_c1.shape[0]) / m
    h["dffW"] = np.array([[h["od"][i] * fv[k] for k in range(fvnum)] for i in range(onum)]) / m
    h["db_c2"] = float(h["d_c2"].sum()) / m
    h["db_c1"] = float(h["d_c1"].sum()) / m
    h["dffb"] = h["od"] / m
    h["k_c2"] = k_c2 - alpha * h["dk_c2"]
    h["b_c2"] = layers[C2]["b"][0] - alpha * h["db_c2"]
    h["k_c1"] = k_c1 - alpha * h["dk_c1"]
    h["b_c1"] = layers[C1]["b"][0] - alpha * h["db_c1"]
    h["ffW"] = W - alpha * h["dffW"]
    h["ffb"] = net["ffb"][:, 0] - alpha * h["dffb"]
    return h


# --- the package's values --------------------------------------------------------------

def package_forward(net):
    """The forward quantities of a net after ``cnnff``, keyed like :func:`hand_forward`."""
    layers = net["layers"]
    return {"a_c1": layers[C1]["a"][0][:, :, 0], "a_s1": layers[S1]["a"][0][:, :, 0],
            "a_c2": layers[C2]["a"][0][:, :, 0], "a_s2": layers[S2]["a"][0][:, :, 0],
            "fv": net["fv"][:, 0], "o": net["o"][:, 0]}


def package_backward(net, y, alpha=ALPHA):
    """``cnnbp`` and ``cnnapplygrads`` on the state, keyed like :func:`hand_backward`.

    The intermediate values inside one toolbox line (``o .* (1 - o)``, the
    expand, ``a .* (1 - a)``) are that line's sub-expression evaluated on
    cnnbp's own fields with the literal transcription's ``expand``.

    Returns
    -------
    values : dict
    bp : dict
        The net ``cnnbp`` returned.
    """
    bp = cnnbp(net, y)
    new = cnnapplygrads(bp, {"alpha": alpha})
    layers, updated = bp["layers"], new["layers"]
    scale = layers[S2]["scale"]
    a_c2 = layers[C2]["a"][0]
    values = {
        "e": bp["e"][:, 0], "L": bp["L"], "fprime_o": (bp["o"] * (1 - bp["o"]))[:, 0],
        "od": bp["od"][:, 0], "fvd": bp["fvd"][:, 0], "d_s2": layers[S2]["d"][0][:, :, 0],
        "expanded": (literal.expand(layers[S2]["d"][0], [scale, scale, 1]) / scale ** 2)[:, :, 0],
        "fprime_c2": (a_c2 * (1 - a_c2))[:, :, 0], "d_c2": layers[C2]["d"][0][:, :, 0],
        "d_s1": layers[S1]["d"][0][:, :, 0], "d_c1": layers[C1]["d"][0][:, :, 0],
        "dk_c2": layers[C2]["dk"][0][0], "dk_c1": layers[C1]["dk"][0][0], "dffW": bp["dffW"],
        "db_c2": layers[C2]["db"][0], "db_c1": layers[C1]["db"][0], "dffb": bp["dffb"][:, 0],
        "k_c2": updated[C2]["k"][0][0], "b_c2": updated[C2]["b"][0],
        "k_c1": updated[C1]["k"][0][0], "b_c1": updated[C1]["b"][0],
        "ffW": new["ffW"], "ffb": new["ffb"][:, 0],
    }
    return values, bp


def compare(hand, package, where):
    """Largest difference of every shared key; raises when one is too large.

    Returns
    -------
    dict
        key -> max |hand - package|.

    Raises
    ------
    StepMismatchError
        A difference above :data:`AGREEMENT` times the value's size (at least 1).
    """
    diffs = {}
    for key, value in hand.items():
        if key not in package:
            continue
        value, other = np.asarray(value, float), np.asarray(package[key], float)
        if value.shape != other.shape:
            raise StepMismatchError(f"{where}: {key} has shape {value.shape} by hand, "
                                    f"{other.shape} from the package")
        diff = float(np.max(np.abs(value - other)))
        if not diff <= AGREEMENT * max(1.0, float(np.max(np.abs(value)))):
            raise StepMismatchError(f"{where}: {key} differs by {diff:.3g} from the package's "
                                    f"{STEPS[key].field}")
        diffs[key] = diff
    return diffs


@dataclass
class State:
    """One backward pass of the example: hand values, the package's, their differences."""

    net: dict
    y: np.ndarray
    hand: dict
    package: dict
    diffs: dict
    bp: dict


def backward_state(net, y, where):
    """Run both computations on one state and compare them."""
    hand = hand_backward(net, y)
    package, bp = package_backward(net, y)
    return State(net, y, hand, package, compare(hand, package, where), bp)


# --- Part 3: the slips and questions -------------------------------------------------

def central_difference(loss, value, epsilon=EPSILON):
    """(loss(value + epsilon) - loss(value - epsilon)) / (2 epsilon)."""
    return (loss(value + epsilon) - loss(value - epsilon)) / (2 * epsilon)


def _loss_of(net, x, y, set_weight, kind="L"):
    """A function w -> loss of ``net`` with one weight set to w (a fresh cnnff and cnnbp)."""
    def loss(w):
        trial = copy.deepcopy(net)
        set_weight(trial, w)
        trial = cnnbp(cnnff(trial, x), y)
        if kind == "L":
            return trial["L"]
        return float(np.sqrt(np.mean(trial["e"] ** 2)))
    return loss


def _setter(field, index):
    """A function (net, w) -> None that sets one weight of ``field`` (see GRADIENTS) to w."""
    def set_weight(net, w):
        if field in ("ffW", "ffb"):
            net[field] = np.array(net[field], dtype=float)
            net[field][index] = w
        else:
            layer, kind = field
            if kind == "b":
                net["layers"][layer]["b"][0] = w
            else:
                kernel = np.array(net["layers"][layer]["k"][0][0], dtype=float)
                kernel[index] = w
                net["layers"][layer]["k"][0][0] = kernel
    return set_weight


def _weight(net, field, index):
    """The current value of one weight of ``field`` (see GRADIENTS)."""
    if field in ("ffW", "ffb"):
        return float(net[field][index])
    layer, kind = field
    if kind == "b":
        return float(net["layers"][layer]["b"][0])
    return float(net["layers"][layer]["k"][0][0][index])


#: The weights of the example in cnnnumgradcheck's order: Matlab name, field
#: ("ffW", "ffb" or (layer, "b" or "k")), key of the gradient.
GRADIENTS = (
    ("ffb", "ffb", "dffb"), ("ffW", "ffW", "dffW"),
    ("layers{4}.b{1}", (C2, "b"), "db_c2"), ("layers{4}.k{1}{1}", (C2, "k"), "dk_c2"),
    ("layers{2}.b{1}", (C1, "b"), "db_c1"), ("layers{2}.k{1}{1}", (C1, "k"), "dk_c1"),
)


def gradient_check(net, x, y, analytic):
    """Central differences of L for every weight, next to cnnbp's gradients.

    Returns
    -------
    dict
        name -> (numerical array, analytic array, max |difference|).
    """
    out = {}
    for name, field, key in GRADIENTS:
        grad = np.atleast_1d(np.asarray(analytic[key], dtype=float))
        if field == "ffb":
            indices = [(i, 0) for i in range(grad.size)]
        elif field == "ffW" or field[1] == "k":
            indices = list(np.ndindex(*grad.shape))
        else:
            indices = [()]
        numerical = np.zeros(grad.shape)
        for n, index in enumerate(indices):
            loss = _loss_of(net, x, y, _setter(field, index))
            numerical.flat[n] = central_difference(loss, _weight(net, field, index))
        out[name] = (numerical, grad, float(np.max(np.abs(numerical - grad))))
    return out


def identities(real):
    """The numerical identities behind rot180, flipall, expand / scale^2 and o(1 - o).

    Parameters
    ----------
    real : State
        The example's real backward pass.

    Returns
    -------
    dict
        Each identity's two sides (and what the formula without the trick gives).
    """
    net = real.net
    layers = net["layers"]
    k = np.asarray(layers[C2]["k"][0][0])
    a_s1 = layers[S1]["a"][0][:, :, 0]
    d_c2 = real.package["d_c2"]
    ks = k.shape[0]
    rows, cols = a_s1.shape
    out = {}

    # convn flips its kernel: a 'valid' convolution is a correlation with rot180(k)
    out["convn_is_corr_rot180"] = (literal.convn(a_s1, k, "valid"),
                                   correlate(a_s1, literal.rot180(k), mode="valid"))

    # the forward map a_s1 -> conv(a_s1, k, 'valid') as a matrix V (16 x 36); V' d == full conv rot180
    V = np.zeros((d_c2.size, a_s1.size))
    for n in range(a_s1.size):
        unit = np.zeros(a_s1.size)
        unit[n] = 1.0
        V[:, n] = literal.convn(unit.reshape(rows, cols), k, "valid").ravel()
    out["transpose"] = ((V.T @ d_c2.ravel()).reshape(rows, cols),
                        literal.convn(d_c2, literal.rot180(k), "full"),
                        literal.convn(d_c2, k, "full"))

    # dk: convn(flipall(a), d, 'valid') == rot180 of the correlation of a with d
    a3, d3 = layers[S1]["a"][0], real.bp["layers"][C2]["d"][0]
    out["flipall"] = (literal.convn(literal.flipall(a3), d3, "valid")[:, :, 0],
                      literal.rot180(correlate(a_s1, d_c2, mode="valid")),
                      _kernel_gradient(a_s1, d_c2, ks),
                      literal.convn(a3, d3, "valid")[:, :, 0])

    # expand / scale^2: one C2 output moved by h moves its S2 mean by h / scale^2
    scale = layers[S2]["scale"]
    a_c2 = layers[C2]["a"][0][:, :, 0]
    h = EPSILON
    bumped = a_c2.copy()
    bumped[0, 0] += h
    out["pool_slope"] = (_mean_pool(bumped, scale)[0, 0] - _mean_pool(a_c2, scale)[0, 0]) / h

    # o(1 - o) against a central difference of the sigmoid at the real u^o
    u_o = net["ffW"] @ net["fv"][:, 0] + net["ffb"][:, 0]
    o = _sigm(u_o)
    out["sigmoid"] = (u_o, o * (1 - o), (_sigm(u_o + h) - _sigm(u_o - h)) / (2 * h))
    return out


def scale_question(real, x):
    """The C2 bias gradient with and without the division by scale^2, against a central difference."""
    net, y = real.net, real.y
    scale = net["layers"][S2]["scale"]
    with_division = real.package["db_c2"]
    without = float(np.sum(real.package["fprime_c2"]
                           * literal.expand(real.package["d_s2"], [scale, scale])))
    loss = _loss_of(net, x, y, _setter((C2, "b"), ()))
    numerical = central_difference(loss, _weight(net, (C2, "b"), ()))
    return {"with": with_division, "without": without, "numerical": numerical,
            "ratio": without / with_division}


def loss_question(state):
    """The toolbox's loss next to the root-mean-square error the post names."""
    e = state.package["e"]
    return {"L": state.package["L"], "rms": float(np.sqrt(np.mean(e ** 2))),
            "half_sse": 0.5 * float(np.sum(e ** 2))}


def rms_gradient(real, x):
    """dL/dffb(1) and d(RMS)/dffb(1) by central differences, next to cnnbp's dffb(1)."""
    set_b = _setter("ffb", (0, 0))
    b = _weight(real.net, "ffb", (0, 0))
    return {"dffb": float(real.package["dffb"][0]),
            "dL": central_difference(_loss_of(real.net, x, real.y, set_b), b),
            "dRMS": central_difference(_loss_of(real.net, x, real.y, set_b, kind="rms"), b)}


def fvd_slip(state):
    """The right element formula for fvd next to the post's, which repeats od(k).

    The post writes the weights as a 4x3 matrix w (w = ffW') and
    ``fvd(k) = w_k1 od(k) + w_k2 od(k) + w_k3 od(k)``; there is no od(4).
    """
    W, od = state.net["ffW"], state.hand["od"]
    onum, fvnum = W.shape
    right = [sum(W[i, k] * od[i] for i in range(onum)) for k in range(fvnum)]
    slip = [sum(W[i, k] for i in range(onum)) * od[k] if k < onum else None for k in range(fvnum)]
    return {"right": right, "slip": slip}


def train_one_sample(net, x, y, steps=TRAIN_STEPS, alpha=ALPHA):
    """``steps`` gradient steps on the one sample; the net after the last forward pass."""
    for _ in range(steps):
        net = cnnapplygrads(cnnbp(cnnff(net, x), y), {"alpha": alpha})
    return cnnbp(cnnff(net, x), y)


@dataclass
class Example:
    """Everything the trace and the walkthrough show, computed and checked."""

    setup: dict
    x: np.ndarray
    forward_hand: dict
    forward: dict
    forward_diffs: dict
    post: State
    real: State
    extra: dict = dataclass_field(default_factory=dict)


def run_example(seed=SEED):
    """Compute and check the whole example.

    Returns
    -------
    Example

    Raises
    ------
    StepMismatchError
        A hand-computed number differs from the package's.
    cnntoolbox.GradientCheckError
        ``cnnnumgradcheck`` rejects a gradient of the real pass.
    """
    setup, x, y = example_net(seed)
    net = cnnff(setup, x)
    forward_hand = hand_forward(setup, x)
    forward = package_forward(net)
    forward_diffs = compare(forward_hand, forward, "forward pass")
    post_net, post_y = post_state(net)
    ex = Example(setup, x, forward_hand, forward, forward_diffs,
                 backward_state(post_net, post_y, "Part 1 (the post's assumptions)"),
                 backward_state(net, y, "Part 2 (real outputs)"))
    real = ex.real
    cnnnumgradcheck(real.bp, x, y)
    ex.extra["gradcheck"] = gradient_check(net, x, y, real.package)
    for name, (_, _, diff) in ex.extra["gradcheck"].items():
        if not diff <= TOLERANCE:
            raise StepMismatchError(f"central difference of {name} off by {diff:.3g}")
    ex.extra["identities"] = identities(real)
    ex.extra["scale"] = scale_question(real, x)
    ex.extra["loss"] = {"post": loss_question(ex.post), "real": loss_question(real)}
    ex.extra["rms_gradient"] = rms_gradient(real, x)
    ex.extra["slip"] = {"post": fvd_slip(ex.post), "real": fvd_slip(real)}
    ex.extra["trained"] = train_one_sample(setup, x, y)
    return ex


def main(argv=None):
    """``python -m cnntoolbox.teaching``: print the trace; exit status 1 if a check fails."""
    parser = argparse.ArgumentParser(
        prog="python -m cnntoolbox.teaching",
        description="The worked example of the blog post, step by step, "
                    "every number checked against cnnff/cnnbp/cnnapplygrads.")
    parser.parse_args(argv)
    try:
        ex = run_example()
    except (StepMismatchError, GradientCheckError) as error:
        print(f"cnntoolbox.teaching: check failed: {error}", file=sys.stderr)
        return 1
    from .text import trace

    print("\n".join(trace(ex)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
