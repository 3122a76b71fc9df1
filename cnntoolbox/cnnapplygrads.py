"""cnnapplygrads: one gradient-descent step (CNN/cnnapplygrads.m), with opt-in momentum."""

import numpy as np

from .checks import check_momentum
from .netlayout import (VELOCITY_FIELDS, as_float, cast_net, check_gradients, check_keys,
                        missing_key, stack_net, unstack_net, working_dtype)


def cnnapplygrads(net: dict, opts: dict) -> dict:
    """Subtract ``opts["alpha"]`` times each gradient from its weight.

    With ``opts["momentum"]`` = mu > 0 (opt-in; the original has none) each
    weight w moves by its velocity v instead::

        v = mu * v - alpha * dw        (v starts at 0)
        w = w + v

    and the velocities are kept in the net: ``vk``, ``vb`` (per 'c' layer,
    shaped like ``k`` and ``b``), ``vffW`` and ``vffb``.  PyTorch's SGD keeps
    ``buf = mu * buf + dw`` and does ``w -= lr * buf``: the same steps
    while alpha is constant, but under a changing alpha PyTorch scales the
    whole accumulated velocity by the current rate, whereas here each
    gradient keeps the alpha of the step that added it.

    Parameters
    ----------
    net : dict
        A net after ``cnnbp`` (it needs ``dk``, ``db``, ``dffW``, ``dffb``).
    opts : dict
        Needs ``alpha``, the learning rate; ``momentum`` in [0, 1) is optional.

    Returns
    -------
    dict
        A new net with updated ``k``, ``b`` (of 'c' layers), ``ffW`` and
        ``ffb`` (and, with momentum, ``vk``, ``vb``, ``vffW``, ``vffb``);
        float32 if a weight or gradient was (Matlab's ``single`` wins).
    """
    if not isinstance(opts, dict):
        raise TypeError(f"opts must be a dict, got {type(opts).__name__}")
    if "alpha" not in opts:
        raise ValueError(f"opts has no 'alpha'{missing_key(opts, 'alpha', 'opts')}")
    check_keys(opts, "opts")
    alpha = as_float(opts["alpha"], "opts['alpha']")
    momentum = check_momentum(opts)
    stacked = stack_net(net)
    check_gradients(stacked)
    cast_net(stacked, working_dtype(stacked))     # k - alpha * dk is single if either is
    applygrads(stacked, alpha, momentum)
    return unstack_net(stacked)


def applygrads(net, alpha, momentum=0.0):
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
    momentum : float
        0 (the original's step) or mu in (0, 1): the velocity step of
        :func:`cnnapplygrads`, velocities created as zeros where missing.
    """
    if momentum:
        _momentum_step(net, alpha, momentum)
        return
    for layer in net["layers"][1:]:
        if layer["type"] == "c":
            layer["k"] -= alpha * layer["dk"]                 # k{ii}{j} = k{ii}{j} - alpha * dk{ii}{j}
            layer["b"] -= alpha * layer["db"]                 # b{j} = b{j} - alpha * db{j}
    net["ffW"] -= alpha * net["dffW"]                         # ffW = ffW - alpha * dffW
    net["ffb"] -= alpha * net["dffb"]                         # ffb = ffb - alpha * dffb


def _momentum_step(net, alpha, momentum):
    """v = momentum * v - alpha * dw; w = w + v, for every weight w, in place."""
    pairs = [(layer, field, f"layer {index + 1} (net['layers'][{index}])")
             for index, layer in enumerate(net["layers"]) if layer["type"] == "c"
             for field in ("k", "b")]
    pairs += [(net, "ffW", "net"), (net, "ffb", "net")]
    for owner, field, where in pairs:
        name = VELOCITY_FIELDS[field]
        velocity = owner.get(name)
        if velocity is None:
            velocity = owner[name] = np.zeros_like(owner[field])
        elif velocity.shape != owner[field].shape:
            raise ValueError(f"{where} velocity '{name}' has shape {velocity.shape}, "
                             f"not {owner[field].shape} like '{field}'")
        velocity *= momentum
        velocity -= alpha * owner["d" + field]
        owner[field] += velocity
