"""The blog post's worked example, computed and checked.

``python -m cnntoolbox.teaching`` prints it (:func:`.text.trace`), and
``docs/walkthrough*.md`` shows it (:mod:`.walkthrough`).  The example net
has the post's shapes: a 14x14 input, C1 (one map, 3x3 kernel) 12x12, S1
(scale 2) 6x6, C2 (one map, 3x3 kernel) 4x4, S2 (scale 2) 2x2, so a
feature vector of 4 and output weights ffW of 3x4; one sample (m = 1).
``cnnsetup`` draws the weights from a fixed seed, rounded to multiples of
1/1024 so that the sums of Part 1 are exact.

* Part 1, the post's assumptions, built from real weights: the same kernels
  and output weights, a constant input of 0.5 and every bias set to
  ``-0.5 * sum(k(:))`` (``ffb``: ``-0.5`` times each row sum of ``ffW``), so
  that every ``u`` is exactly 0 and every map, the feature vector and the
  outputs are exactly 0.5.  Only the labels are forced: ``y = 0.5 - e``
  with the post's errors (0.4, 0.8, 0.16), which no sigmoid can produce.
  Its backward pass is also computed in exact fractions (:func:`hand.backward`
  with ``exact=True``, the labels as the post's decimals): those are the
  values shown, so no digit depends on the order a BLAS kernel adds in.
* Part 2, the same kernels and output weights with zero biases, a random
  image and the label of class 1.

Each state goes through ``cnnbp`` and ``cnnapplygrads``; the chain rule of
:mod:`.hand` must agree with them, ``literal.py`` must agree with
``cnnff``, and ``cnnnumgradcheck`` must accept both states' gradients.
"""

import copy
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from fractions import Fraction

import numpy as np

from .. import literal
from ..cnnapplygrads import cnnapplygrads
from ..cnnbp import cnnbp
from ..cnnff import cnnff
from ..cnnnumgradcheck import cnnnumgradcheck
from ..cnnsetup import cnnsetup
from ..reference.compare import compare
from . import hand
from .hand import C1, C2, S1, S2

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
#: Weights are rounded to multiples of this (exact sums in Part 1).
GRID = 1 / 1024
#: The learning rate of the toolbox's MNIST example (opts.alpha).
ALPHA = 1.0
#: Plain gradient-descent steps on the one sample for "what 0.5 hides".
TRAIN_STEPS = 100
#: The outputs of the "saturated and wrong" column: the net is sure of class 2, the label is class 1.
SATURATED = (0.01, 0.99, 0.01)
#: Chain rule and package must agree to this, relative to each field's largest magnitude.
AGREEMENT = 1e-12


class StepMismatchError(AssertionError):
    """A hand-computed step of the example differs from the package's value."""


def example_net(seed=SEED):
    """The example net after ``cnnsetup`` (weights on the 1/1024 grid), its image and labels.

    Returns
    -------
    net : dict
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
    for l in (C1, C2):
        net["layers"][l]["k"] = [[np.round(k / GRID) * GRID for k in row]
                                 for row in net["layers"][l]["k"]]
    net["ffW"] = np.round(net["ffW"] / GRID) * GRID
    return net, x, y


def post_net(net):
    """The post's state from real weights: input 0.5, biases that make every ``u`` exactly 0.

    Returns
    -------
    net : dict
        A copy of ``net`` with ``b = -0.5 * sum(k(:))`` in C1 and C2 and
        ``ffb = -0.5 * sum(ffW, 2)``.
    x : ndarray, shape (14, 14, 1)
        Every pixel 0.5.
    y : ndarray, shape (3, 1)
        ``0.5 - e`` for the post's errors ``e``.
    """
    post = copy.deepcopy(net)
    for l in (C1, C2):
        post["layers"][l]["b"] = [-POST_OUTPUT * float(np.sum(post["layers"][l]["k"][0][0]))]
    post["ffb"] = -POST_OUTPUT * np.sum(post["ffW"], axis=1, keepdims=True)
    x = np.full((IMAGE_SIZE, IMAGE_SIZE, 1), POST_OUTPUT)
    y = POST_OUTPUT - np.array(POST_ERRORS)[:, np.newaxis]
    return post, x, y


def post_labels_exact():
    """Part 1's labels ``0.5 - e`` as exact Fractions of the post's decimal errors, shape (3, 1)."""
    half = Fraction(1, 2)
    return np.array([[half - Fraction(repr(e))] for e in POST_ERRORS], dtype=object)


def with_outputs(net, x, outputs):
    """``net`` with ``ffb`` set so that its outputs on ``x`` are ``outputs`` (up to rounding).

    ``ffb = logit(outputs) - ffW * fv``: real weights, so the state can be
    gradient-checked.
    """
    fv = cnnff(net, x)["fv"]
    target = np.asarray(outputs, dtype=float)[:, np.newaxis]
    shifted = copy.deepcopy(net)
    shifted["ffb"] = np.log(target / (1 - target)) - net["ffW"] @ fv
    return shifted


def package_forward(net):
    """The forward quantities of a net after ``cnnff``, keyed like ``steps.FORWARD_STEPS``."""
    layers = net["layers"]
    return {"a_c1": layers[C1]["a"][0][:, :, 0], "a_s1": layers[S1]["a"][0][:, :, 0],
            "a_c2": layers[C2]["a"][0][:, :, 0], "a_s2": layers[S2]["a"][0][:, :, 0],
            "fv": net["fv"][:, 0], "o": net["o"][:, 0]}


def package_backward(net, y, alpha=ALPHA):
    """``cnnbp`` and ``cnnapplygrads`` on a state, keyed like :func:`hand.backward`.

    The values inside one toolbox line (``o .* (1 - o)``, the expand,
    ``a .* (1 - a)``) are that line's sub-expression evaluated on cnnbp's
    own fields with ``literal.expand``.

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


def agree(reference, other, where):
    """``cnntoolbox.reference.compare`` of two dicts of values at :data:`AGREEMENT`; raises on a failure.

    Returns
    -------
    cnntoolbox.reference.compare.Comparison

    Raises
    ------
    StepMismatchError
        A field beyond the tolerance, missing on one side, NaN or Inf.
    """
    result = compare(reference, other, rtol=AGREEMENT, title=where)
    if not result.passed or result.only_in_net:
        raise StepMismatchError(result.table())
    return result


def as_floats(values):
    """A dict of Fractions (or object arrays of them) as floats, for :func:`agree`."""
    return {key: np.asarray(value, dtype=float) if np.ndim(value) else float(value)
            for key, value in values.items()}


@dataclass
class State:
    """One state of the example: input, labels, the chain rule's values, the package's.

    ``shown`` holds the values the text prints: the exact ones (Fractions)
    where the state is built to be exact, else the package's.
    """

    net: dict
    x: np.ndarray
    y: np.ndarray
    hand: dict
    package: dict
    comparison: object
    bp: dict
    shown: dict


def backward_state(net, x, y, where, exact_y=None):
    """Run ``cnnff``, then the chain rule and ``cnnbp``/``cnnapplygrads``; compare; gradient-check.

    With ``exact_y`` (the labels as Fractions) the chain rule also runs in
    exact fractions; the package must agree with it too, and it is what
    ``shown`` holds.

    Raises
    ------
    StepMismatchError
        The chain rule and the package differ.
    cnntoolbox.GradientCheckError
        ``cnnnumgradcheck`` rejects a gradient of ``cnnbp``.
    """
    net = cnnff(net, x)
    values = hand.backward(net, y, ALPHA)
    package, bp = package_backward(net, y)
    comparison = agree(package, values, where)
    shown = package
    if exact_y is not None:
        shown = hand.backward(net, exact_y, ALPHA, exact=True)
        agree(package, as_floats(shown), where + ", exact fractions")
    cnnnumgradcheck(bp, x, y)
    return State(net, x, y, values, package, comparison, bp, shown)


def train_one_sample(net, x, y, steps=TRAIN_STEPS, alpha=ALPHA):
    """``steps`` gradient steps on the one sample; the net after the last forward and backward pass."""
    for _ in range(steps):
        net = cnnapplygrads(cnnbp(cnnff(net, x), y), {"alpha": alpha})
    return cnnbp(cnnff(net, x), y)


@dataclass
class Example:
    """Everything the trace and the walkthrough show, computed and checked."""

    setup: dict
    forward: dict
    forward_comparison: object
    post: State
    real: State
    columns: dict = dataclass_field(default_factory=dict)


def run_example(seed=SEED):
    """Compute and check the whole example.

    Returns
    -------
    Example
        ``columns`` holds the nets of "what the 0.5 hides": ``"o = e"`` (the
        post's errors with y = 0), ``"trained"`` (Part 2 after
        :data:`TRAIN_STEPS` steps) and ``"saturated"`` (outputs
        :data:`SATURATED`, label class 1), each after ``cnnbp``.

    Raises
    ------
    StepMismatchError
    cnntoolbox.GradientCheckError
    """
    setup, x, y = example_net(seed)
    net = cnnff(setup, x)
    forward_comparison = agree(literal.cnnff(setup, x), net, "forward pass: literal.py == cnnff")
    post, post_x, post_y = post_net(setup)
    ex = Example(setup, package_forward(net), forward_comparison,
                 backward_state(post, post_x, post_y, "Part 1 (the post's assumptions)",
                                post_labels_exact()),
                 backward_state(setup, x, y, "Part 2 (real outputs)"))
    zeros = np.zeros_like(y)
    for name, state_net, state_x, labels in (
            ("o = e", with_outputs(post, post_x, POST_ERRORS), post_x, zeros),
            ("saturated", with_outputs(setup, x, SATURATED), x, y)):
        checked = cnnbp(cnnff(state_net, state_x), labels)
        cnnnumgradcheck(checked, state_x, labels)
        ex.columns[name] = checked
    ex.columns["trained"] = train_one_sample(setup, x, y)
    return ex
