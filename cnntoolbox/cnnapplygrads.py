"""cnnapplygrads: one gradient-descent step (CNN/cnnapplygrads.m), with opt-in momentum."""

import numpy as np

from .checks import check_momentum, check_penalty
from .netlayout import (LAYER_WEIGHTS, PENALISED, VELOCITY_FIELDS, as_float, cast_net,
                        check_gradients, check_keys, missing_key, stack_net, unstack_net,
                        working_dtype)


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

    With ``opts["weightPenaltyL2"]`` = lam > 0 (opt-in, NN/nnapplygrads.m's
    ``nn.weightPenaltyL2``) the step of every kernel and of ``ffW`` uses
    ``dw + lam * w`` in place of ``dw`` (never of a bias): ``w = w - alpha *
    (dw + lam * w)``, with momentum ``v = mu * v - alpha * (dw + lam * w)``.
    The stored ``dk`` and ``dffW`` stay the gradients of ``L``, which does
    not include the penalty, as in nnapplygrads.m.

    Parameters
    ----------
    net : dict
        A net after ``cnnbp`` (it needs ``dk``, ``db``, ``dffW``, ``dffb``).
    opts : dict
        Needs ``alpha``, the learning rate; ``momentum`` in [0, 1) and
        ``weightPenaltyL2`` >= 0 are optional.

    Returns
    -------
    dict
        A new net with updated ``k``, ``b`` (of 'c' layers), ``W``, ``b``
        (of 'f' layers), ``ffW`` and ``ffb`` (and, with momentum, ``vk``, ``vb``,
        ``vW``, ``vffW``, ``vffb``); float32 if a weight or gradient was (Matlab's
        ``single`` wins).
    """
    if not isinstance(opts, dict):
        raise TypeError(f"opts must be a dict, got {type(opts).__name__}")
    if "alpha" not in opts:
        raise ValueError(f"opts has no 'alpha'{missing_key(opts, 'alpha', 'opts')}")
    check_keys(opts, "opts")
    alpha = as_float(opts["alpha"], "opts['alpha']")
    momentum, penalty = check_momentum(opts), check_penalty(opts)
    stacked = stack_net(net)
    check_gradients(stacked)
    cast_net(stacked, working_dtype(stacked))     # k - alpha * dk is single if either is
    applygrads(stacked, alpha, momentum, penalty)
    return unstack_net(stacked)


def applygrads(net, alpha, momentum=0.0, penalty=0.0):
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
    penalty : float
        0 (the original) or lam > 0: kernels and ``ffW`` step along ``dw + lam * w``.
    """
    if momentum:
        _momentum_step(net, alpha, momentum, penalty)
        return
    for layer in net["layers"][1:]:
        if layer["type"] == "c":
            # k{ii}{j} = k{ii}{j} - alpha * dk{ii}{j}
            layer["k"] -= alpha * _direction(layer, "k", penalty)
            layer["b"] -= alpha * layer["db"]                 # b{j} = b{j} - alpha * db{j}
        elif layer["type"] == "f":                            # an opt-in, as nnapplygrads.m
            layer["W"] -= alpha * _direction(layer, "W", penalty)
            layer["b"] -= alpha * layer["db"]
    net["ffW"] -= alpha * _direction(net, "ffW", penalty)     # ffW = ffW - alpha * dffW
    net["ffb"] -= alpha * net["dffb"]                         # ffb = ffb - alpha * dffb


def _direction(owner, field, penalty):
    """The step direction of a weight: ``dw``, or ``dw + lam * w`` with a penalty (nnapplygrads.m).

    Biases are never penalised (``netlayout.PENALISED``).  Without a penalty
    the gradient array itself is returned, so the original's step is
    unchanged bit for bit.
    """
    if not penalty or field not in PENALISED:
        return owner["d" + field]
    return owner["d" + field] + penalty * owner[field]


def _momentum_step(net, alpha, momentum, penalty):
    """v = momentum * v - alpha * dw; w = w + v, for every weight w, in place.

    With a penalty, dw of a kernel or of ``ffW`` is ``dw + lam * w`` (``_direction``).
    """
    pairs = [(layer, field, f"layer {index + 1} (net['layers'][{index}])")
             for index, layer in enumerate(net["layers"])
             for field in LAYER_WEIGHTS.get(layer["type"], ())]
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
        velocity -= alpha * _direction(owner, field, penalty)
        owner[field] += velocity
