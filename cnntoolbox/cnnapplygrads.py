"""cnnapplygrads: one plain gradient-descent step (CNN/cnnapplygrads.m)."""

from .checks import as_float, check_gradients
from .stacked import stack_net, unstack_net


def cnnapplygrads(net: dict, opts: dict) -> dict:
    """Subtract ``opts["alpha"]`` times each gradient from its weight.

    Parameters
    ----------
    net : dict
        A net after ``cnnbp`` (it needs ``dk``, ``db``, ``dffW``, ``dffb``).
    opts : dict
        Needs ``alpha``, the learning rate.

    Returns
    -------
    dict
        A new net with updated ``k``, ``b`` (of 'c' layers), ``ffW`` and ``ffb``.
    """
    if not isinstance(opts, dict) or "alpha" not in opts:
        raise ValueError("opts must be a dict with 'alpha'")
    alpha = as_float(opts["alpha"], "opts['alpha']")
    stacked = stack_net(net)
    check_gradients(stacked)
    applygrads(stacked, alpha)
    return unstack_net(stacked)


def applygrads(net, alpha):
    """cnnapplygrads.m on a stacked net, in place.

    The weight arrays are updated in place (``k -= alpha * dk`` rounds exactly
    like ``k = k - alpha * dk``), so that views of them, such as the parts of
    ``parallel.BatchParallel``, see the new weights.

    Parameters
    ----------
    net : dict
        A net in the stacked layout after ``bp``.
    alpha : float
        The learning rate.
    """
    for layer in net["layers"][1:]:
        if layer["type"] == "c":
            layer["k"] -= alpha * layer["dk"]                 # k{ii}{j} = k{ii}{j} - alpha * dk{ii}{j}
            layer["b"] -= alpha * layer["db"]                 # b{j} = b{j} - alpha * db{j}
    net["ffW"] -= alpha * net["dffW"]                         # ffW = ffW - alpha * dffW
    net["ffb"] -= alpha * net["dffb"]                         # ffb = ffb - alpha * dffb
