"""cnnnumgradcheck: compare the gradients of cnnbp with central differences (CNN/cnnnumgradcheck.m)."""

import numpy as np

from .checks import check_x, check_y
from .netlayout import (MASK, SINGLE, check_dropout, check_gradients, check_masks, check_output,
                        full_layers, is_testing, stack_for_input, working_dtype)
from .cnnbp import bp
from .cnnff import ff
from .errors import GradientCheckError

EPSILON = 1e-4      # cnnnumgradcheck.m: epsilon
TOLERANCE = 1e-8    # cnnnumgradcheck.m: er


def cnnnumgradcheck(net: dict, x: np.ndarray, y: np.ndarray) -> None:
    """Check every analytic gradient of ``net`` against a central difference.

    For each weight w the numerical derivative is
    ``(L(w + epsilon) - L(w - epsilon)) / (2 * epsilon)`` with epsilon = 1e-4,
    each L from a fresh ``cnnff`` and ``cnnbp``; it must be within 1e-8
    (absolute) of the analytic gradient stored in the net.  The weights are
    visited in the order of cnnnumgradcheck.m's loops, so that of two wrong
    gradients the one named is the one the original stops at: ``ffb(j)``,
    ``ffW(i, u)`` row by row, then each 'c' layer from the last, and in it,
    for each output map j, ``b{j}`` and then ``k{i}{j}(u, v)`` for each
    input map i (u down the rows, v along them); an 'f' layer (an opt-in,
    above the 'c' layers) its ``b(i)`` and then ``W(i, u)`` row by row.

    The same check covers the opt-in kinds (README, "Beyond the original").
    Where the loss has a kink within epsilon of a weight's value (a ReLU
    input near 0, a max-pool block whose two largest inputs are within about
    epsilon of each other) the central difference is not the derivative and
    the check can fail there without a wrong gradient.

    With dropout (an opt-in) every loss is computed with the masks the net
    holds (``dropOutMask``, from the ``cnnff`` the gradients came from).

    Parameters
    ----------
    net : dict
        A net after ``cnnff(net, x)`` and ``cnnbp(net, y)``: its ``dffb``,
        ``dffW``, ``db`` and ``dk`` (``db``, ``dW`` of 'f' layers) are the
        gradients checked.
    x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
    y : ndarray, shape (onum, m)

    Float32 (Matlab's ``single``) is refused: the .m's epsilon and tolerance
    are float64 numbers (a float32 loss has about 7 significant digits, so
    ``(L(w + 1e-4) - L(w - 1e-4)) / 2e-4`` carries errors near 1e-3 * L).

    Raises
    ------
    TypeError
        x, y or a field of the net is float32.
    GradientCheckError
        At the first gradient off by more than the tolerance, naming it in
        Matlab notation with both values.
    """
    x = check_x(x, y)
    stacked = stack_for_input(net, x)
    y = check_y(y, x.shape[-1], stacked["ffW"].shape[0], check_output(stacked))
    check_gradients(stacked)
    if working_dtype(stacked, x, y) == SINGLE:
        raise TypeError(
            "cnnnumgradcheck needs float64 (Matlab's double): x, y or a field of the net is "
            "float32, whose loss is only good to about 1e-7 of itself, so a difference "
            f"quotient with epsilon {EPSILON:g} is only good to about 1e-3 of the loss, far "
            f"from the tolerance {TOLERANCE:g}; check the float64 net on float64 data "
            "(the gradients agree with float32's to float32's precision)")
    masks = None
    if check_dropout(stacked) and not is_testing(stacked):
        # the masks of the pass the gradients came from, kept fixed (the loss differs per mask)
        check_masks(stacked, x.shape[-1])
        masks = [stacked[MASK]] + [stacked["layers"][l][MASK]
                                   for l in full_layers(stacked["layers"])]

    def loss():
        bp(stacked, y, ff(stacked, x, masks))
        return stacked["L"]

    for name, weights, analytic, index in _matlab_order(stacked):
        original = weights[index]
        weights[index] = original + EPSILON
        loss_plus = loss()
        weights[index] = original - EPSILON
        loss_minus = loss()
        weights[index] = original
        numerical = (loss_plus - loss_minus) / (2 * EPSILON)
        if abs(numerical - analytic[index]) > TOLERANCE:
            raise GradientCheckError(
                f"numerical gradient checking failed at {_matlab_name(name, index)}: "
                f"numerical {numerical:.12g}, analytic {analytic[index]:.12g}, "
                f"difference {abs(numerical - analytic[index]):.3g} > {TOLERANCE:g}")


def _matlab_order(stacked):
    """(name, weights, analytic gradient, index) of every weight, in cnnnumgradcheck.m's order.

    ``ffb(j)`` (lines 5-16), ``ffW(i, u)`` row by row (lines 18-31), then
    for l = n down to 2, each 'c' layer's output maps j: ``b{j}`` (lines
    36-45), then ``k{i}{j}(u, v)`` for i, u, v (lines 46-60); an 'f' layer
    (an opt-in) its ``b(i)``, then ``W(i, u)`` row by row, as ``ffW``.  The analytic
    gradients are copies taken here, before the first loss evaluation
    rewrites the net's gradient fields.
    """
    visits = []
    for name in ("ffb", "ffW"):
        weights, analytic = stacked[name], stacked["d" + name].copy()
        visits += [(name, weights, analytic, index) for index in np.ndindex(*weights.shape)]
    layers = stacked["layers"]
    for l in range(len(layers) - 1, 0, -1):
        layer = layers[l]
        if layer["type"] == "f":                      # an opt-in: b, then W row by row as ffW
            for name in ("b", "W"):
                weights, analytic = layer[name], layer["d" + name].copy()
                visits += [(f"layers{{{l + 1}}}.{name}", weights, analytic, index)
                           for index in np.ndindex(*weights.shape)]
        if layer["type"] != "c":
            continue
        k, b = layer["k"], layer["b"]                 # k: (inmaps, outmaps, ks, ks), b: (outmaps,)
        dk, db = layer["dk"].copy(), layer["db"].copy()
        inmaps, outmaps, rows, cols = k.shape
        for j in range(outmaps):
            visits.append((f"layers{{{l + 1}}}.b", b, db, (j,)))
            visits += [(f"layers{{{l + 1}}}.k", k, dk, (i, j, u, v))
                       for i in range(inmaps) for u in range(rows) for v in range(cols)]
    return visits


def _matlab_name(name, index):
    """``layers{4}.k{1}{2}(3,5)`` style name of one weight (1-based)."""
    if len(index) == 4:
        i, j, u, v = index
        return f"{name}{{{i + 1}}}{{{j + 1}}}({u + 1},{v + 1})"
    if name.endswith(".b") and len(index) == 1:
        return f"{name}{{{index[0] + 1}}}"
    return f"{name}({','.join(str(v + 1) for v in index)})"
