"""cnnnumgradcheck: compare the gradients of cnnbp with central differences (CNN/cnnnumgradcheck.m)."""

import numpy as np

from .checks import check_x, check_y
from .netlayout import check_gradients, stack_for_input
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
    (absolute) of the analytic gradient stored in the net.  The order is the
    Matlab one: ``ffb``, ``ffW``, then each 'c' layer from the last, ``b``
    before ``k``.

    The same check covers the opt-in kinds (README, "Beyond the original").
    Where the loss has a kink within epsilon of a weight's value (a ReLU
    input near 0, a max-pool block whose two largest inputs are within about
    epsilon of each other) the central difference is not the derivative and
    the check can fail there without a wrong gradient.

    Parameters
    ----------
    net : dict
        A net after ``cnnff(net, x)`` and ``cnnbp(net, y)``: its ``dffb``,
        ``dffW``, ``db`` and ``dk`` are the gradients checked.
    x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
    y : ndarray, shape (onum, m)

    Raises
    ------
    GradientCheckError
        At the first gradient off by more than the tolerance, naming it in
        Matlab notation with both values.
    """
    x = check_x(x, y)
    stacked = stack_for_input(net, x)
    y = check_y(y, x.shape[-1], stacked["ffW"].shape[0])
    check_gradients(stacked)

    def loss():
        bp(stacked, y, ff(stacked, x))
        return stacked["L"]

    checks = [("ffb", stacked, "ffb", stacked["dffb"]), ("ffW", stacked, "ffW", stacked["dffW"])]
    for l in range(len(stacked["layers"]) - 1, 0, -1):
        layer = stacked["layers"][l]
        if layer["type"] == "c":
            checks.append((f"layers{{{l + 1}}}.b", layer, "b", layer["db"]))
            checks.append((f"layers{{{l + 1}}}.k", layer, "k", layer["dk"]))
    for name, owner, field, analytic in checks:
        weights = owner[field]
        analytic = analytic.copy()
        for index in _matlab_order(weights.shape):
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


def _matlab_order(shape):
    """Indices in the order the .m loops visit them.

    ffb (j), ffW (i, u) row by row, b (j), and k as i, then u, then v per
    output map j: ``for j, for i, for u, for v``.
    """
    if len(shape) == 4:                                   # k: (inmaps, outmaps, ks, ks)
        return [(i, j, u, v) for j in range(shape[1]) for i in range(shape[0])
                for u in range(shape[2]) for v in range(shape[3])]
    return list(np.ndindex(*shape))


def _matlab_name(name, index):
    """``layers{4}.k{1}{2}(3,5)`` style name of one weight (1-based)."""
    if len(index) == 4:
        i, j, u, v = index
        return f"{name}{{{i + 1}}}{{{j + 1}}}({u + 1},{v + 1})"
    if name.endswith(".b"):
        return f"{name}{{{index[0] + 1}}}"
    return f"{name}({','.join(str(v + 1) for v in index)})"
