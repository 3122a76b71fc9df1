"""cnnbp: error, loss, deltas and gradients (CNN/cnnbp.m)."""

import numpy as np

from .checks import check_forward, check_output, check_y
from .layerops import (conv_delta_back, conv_kernel_grad, derivative, fv_to_maps, im2col,
                       maxpool_delta_back, maxpool_forward, meanpool_delta_back, pool_delta_back)
from .netfields import ACTIVATION, METHOD
from .stacked import stack_net, unstack_net


def cnnbp(net: dict, y: np.ndarray) -> dict:
    """Back-propagate the loss of the last forward pass.

    The loss is the squared error ``L = 1/2 * sum(e(:).^2) / m`` (the
    original), or with ``net["output"] = "softmax"`` the cross-entropy
    ``L = -sum(y(:) .* log(o(:))) / m``, whose delta at the output is
    ``od = o - y`` (each column of y must then sum to 1).

    Parameters
    ----------
    net : dict
        A net after ``cnnff`` (it needs ``a`` of every layer, ``fv`` and ``o``).
    y : ndarray, shape (onum, m)
        The labels of the batch given to ``cnnff``.

    Returns
    -------
    dict
        A new net with ``e``, ``L``, ``od``, ``fvd``, ``d[j]`` of every layer
        but the input, ``dk[i][j]`` and ``db[j]`` of 'c' layers, ``dffW`` and
        ``dffb``.
    """
    stacked = stack_net(net)
    check_forward(stacked)
    m = stacked["o"].shape[1]
    bp(stacked, check_y(y, m, stacked["o"].shape[0], check_output(stacked)))
    return unstack_net(stacked)


def bp(net, y, m=None):
    """cnnbp.m on a stacked net, in place.

    Parameters
    ----------
    net : dict
        A net in the stacked layout after ``ff``.
    y : ndarray, shape (onum, m_part)
    m : int, optional
        The batch size that ``L`` and the gradients are divided by: the
        columns of ``y`` (the default), or the size of the whole batch when
        ``y`` is a part of it (``parallel.py``), so that the parts add up.
    """
    layers = net["layers"]
    n = len(layers)
    if m is None:
        m = y.shape[1]

    net["e"] = net["o"] - y                                   # e = o - y
    if check_output(net) == "softmax":
        # an opt-in: o = softmax(u), L = -sum(y .* log(o)) / m.  With sum_k y_k = 1,
        # dL/du_k = sum_i y_i (o_k - [i == k]) = o_k - y_k: od = o - y = e
        _check_distributions(y)
        with np.errstate(divide="ignore"):                   # log(0) where y == 0 is not summed
            net["L"] = -float(np.sum(y * np.log(net["o"]), where=y != 0)) / m
        net["od"] = net["e"].copy()
    else:
        net["L"] = 0.5 * float(np.sum(net["e"] ** 2)) / m     # L = 1/2 * sum(e(:).^2) / m
        # output delta: od = e .* f'(u) with f'(u) = o .* (1 - o)
        net["od"] = net["e"] * (net["o"] * (1 - net["o"]))
    # feature vector delta: fvd = ffW' * od
    net["fvd"] = net["ffW"].T @ net["od"]
    if layers[-1]["type"] == "c":                             # only conv layers have a nonlinearity
        activation = layers[-1].get(ACTIVATION, "sigm")
        if activation == "sigm":
            net["fvd"] = net["fvd"] * (net["fv"] * (1 - net["fv"]))
        elif activation != "linear":
            net["fvd"] = net["fvd"] * derivative(net["fv"], activation)

    # d{j} of the last layer: fvd reshaped into maps
    _, rows, cols, _ = layers[-1]["a"].shape
    layers[-1]["d"] = fv_to_maps(net["fvd"], rows, cols)

    # The deltas below (arrays of the previous batch are written over when their
    # shapes fit: layerops.reuse).  The original has two cases, as 'c' and 's'
    # alternate there; the others are opt-ins.  In general d = dE/da_below .* f'
    # (f' = 1 for an 's' layer, which has no nonlinearity), with dE/da_below
    # given by the layer above:
    #   above 'c':        dE/da{i} = sum_j convn(d_above{j}, rot180(k_above{i}{j}), 'full')
    #                     (a{i} entered every output of the 'valid' convolution whose window
    #                     covers it, with the weight of the flipped kernel there)
    #   above 's' mean:   dE/da = expand(d_above, [scale scale 1]) / scale^2
    #                     (every input of a block has weight 1/scale^2 in its mean)
    #   above 's' max:    dE/da = d_above at each block's maximum, 0 elsewhere
    #                     (the output is that one input; ties: layerops.maxpool_forward)
    for l in range(n - 2, 0, -1):
        layer, above = layers[l], layers[l + 1]
        kind = layer["type"]
        activation = layer.get(ACTIVATION, "sigm")
        max_above = above["type"] == "s" and above.get(METHOD, "mean") == "max"
        if kind == "c" and above["type"] == "s" and activation == "sigm" and not max_above:
            # the original's 'c' case:
            # d{j} = a{j} .* (1 - a{j}) .* expand(d_above{j}, [scale scale 1]) / scale^2
            layer["d"] = pool_delta_back(layer["a"], above["d"], above["scale"],
                                         out=layer.get("d"))
            continue
        if above["type"] == "c":
            # the original's 's' case (and the opt-in 'c' below 'c'):
            # d{i} = sum_j convn(d_above{j}, rot180(k_above{i}{j}), 'full')
            _, rows, cols, _ = layer["a"].shape
            layer["d"], layer["_spread"] = conv_delta_back(
                above["d"], above["k"], rows, cols, out=layer.get("d"), spread=layer.get("_spread"))
        elif max_above:
            if "_where" not in above:                         # a net that did not come from ff
                above["_where"] = maxpool_forward(layer["a"], above["scale"])[1]
            layer["d"] = maxpool_delta_back(above["_where"], above["d"], above["scale"],
                                            out=layer.get("d"))
        else:
            layer["d"] = meanpool_delta_back(above["d"], above["scale"], out=layer.get("d"))
        if kind == "c" and activation != "linear":
            layer["d"] *= derivative(layer["a"], activation)   # .* f'(u)

    # gradients: dk{i}{j} = convn(flipall(a_below{i}), d{j}, 'valid') / m
    #            db{j} = sum(d{j}(:)) / m
    for l in range(1, n):
        layer = layers[l]
        if layer["type"] == "c":
            ks = layer["kernelsize"]
            if "_windows" not in layer:                       # a net that did not come from ff
                layer["_windows"] = im2col(layers[l - 1]["a"], ks)
            layer["dk"] = conv_kernel_grad(layer["_windows"], layer["d"], ks) / m
            layer["db"] = layer["d"].sum(axis=(1, 2, 3)) / m
    net["dffW"] = net["od"] @ net["fv"].T / m                 # dffW = od * fv' / m
    net["dffb"] = net["od"].sum(axis=1, keepdims=True) / m    # dffb = mean(od, 2)


def _check_distributions(y):
    """Refuse labels whose columns do not sum to 1: ``od = o - y`` needs them to."""
    if np.any(y < 0):
        raise ValueError("net['output'] 'softmax' needs labels y >= 0 (one-hot or "
                         f"probabilities); y holds {float(y.min()):g}")
    sums = y.sum(axis=0)
    worst = int(np.argmax(np.abs(sums - 1)))
    if abs(sums[worst] - 1) > 1e-10:
        raise ValueError(
            f"net['output'] 'softmax' needs labels whose columns sum to 1 (one-hot or "
            f"probabilities); column {worst} sums to {sums[worst]:.17g}")
