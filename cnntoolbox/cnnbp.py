"""cnnbp: error, loss, deltas and gradients (CNN/cnnbp.m)."""

import numpy as np

from .checks import check_forward, check_y
from .layerops import conv_delta_back, conv_kernel_grad, fv_to_maps, im2col, pool_delta_back
from .stacked import stack_net, unstack_net


def cnnbp(net: dict, y: np.ndarray) -> dict:
    """Back-propagate the squared error of the last forward pass.

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
    bp(stacked, check_y(y, m, stacked["o"].shape[0]))
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
    net["L"] = 0.5 * float(np.sum(net["e"] ** 2)) / m         # L = 1/2 * sum(e(:).^2) / m

    # output delta: od = e .* f'(u) with f'(u) = o .* (1 - o)
    net["od"] = net["e"] * (net["o"] * (1 - net["o"]))
    # feature vector delta: fvd = ffW' * od
    net["fvd"] = net["ffW"].T @ net["od"]
    if layers[-1]["type"] == "c":                             # only conv layers have a sigmoid
        net["fvd"] = net["fvd"] * (net["fv"] * (1 - net["fv"]))

    # d{j} of the last layer: fvd reshaped into maps
    _, rows, cols, _ = layers[-1]["a"].shape
    layers[-1]["d"] = fv_to_maps(net["fvd"], rows, cols)

    for l in range(n - 2, -1, -1):
        layer, above = layers[l], layers[l + 1]
        # (arrays of the previous batch are written over when their shapes fit: layerops.reuse)
        if layer["type"] == "c":
            # d{j} = a{j} .* (1 - a{j}) .* expand(d_above{j}, [scale scale 1]) / scale^2
            layer["d"] = pool_delta_back(layer["a"], above["d"], above["scale"],
                                         out=layer.get("d"))
        elif layer["type"] == "s":
            # d{i} = sum_j convn(d_above{j}, rot180(k_above{i}{j}), 'full')
            _, rows, cols, _ = layer["a"].shape
            layer["d"], layer["_spread"] = conv_delta_back(
                above["d"], above["k"], rows, cols, out=layer.get("d"), spread=layer.get("_spread"))

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
