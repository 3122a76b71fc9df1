"""cnnff: the forward pass (CNN/cnnff.m)."""

import numpy as np

from .checks import check_x
from .layerops import (activate, conv_forward, im2col, maps_to_fv, maxpool_forward,
                       meanpool_forward, sigm, softmax)
from .netlayout import (ACTIVATION, METHOD, check_output, full_layers, last_map_layer,
                        stack_for_input, unstack_net)


def cnnff(net: dict, x: np.ndarray) -> dict:
    """Feed a batch forward through the net.

    Parameters
    ----------
    net : dict
        A net with the layer specs, ``k``, ``b``, ``ffW`` and ``ffb``
        (from ``cnnsetup``, training, or a Matlab file).
    x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
        The batch; a single 2-D image is a batch of one.  A 4-D x has
        channels: the input layer's ``a[i]`` is ``x[:, :, i, :]``.

    Returns
    -------
    dict
        A new net with ``a[j]`` (rows, cols, m) of every layer (``a``
        (size, m) of an 'f' layer), ``fv`` (fvnum, m) and ``o`` (onum, m).
    """
    x = check_x(x)
    stacked = stack_for_input(net, x)
    ff(stacked, x)
    return unstack_net(stacked)


def ff(net, x):
    """cnnff.m on a stacked net, in place; returns what ``bp`` needs beyond the net's fields.

    Parameters
    ----------
    net : dict
        A checked net in the stacked layout (see ``netlayout.py``).
    x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
        The batch.

    Returns
    -------
    cache : list, one entry per layer
        For a 'c' layer its im2col windows of the layer below, shape
        (inmaps * ks * ks, rows' * cols' * m), for the kernel gradient; for
        a max-pool 's' layer the position of each block's maximum (intp, the
        shape of its ``a``), for its delta; None for the others.  ``bp``
        takes it; ``cnnbp.forward_cache`` recomputes it from the net's ``a``.
    """
    layers = net["layers"]
    cache = [None] * len(layers)
    # net.layers{1}.a{1} = x; copied to C order when it is not, so that the m
    # samples of each pixel lie next to each other as the stacked layout wants
    # (x from loadmat or a column-major reshape has them a whole image apart,
    # which made the first im2col two to three times slower).  With channels
    # (a 4-D x, an opt-in) a{i} = x(:, :, i, :), one map per channel.
    if x.ndim == 4:
        layers[0]["a"] = np.ascontiguousarray(x.transpose(2, 0, 1, 3))
    else:
        layers[0]["a"] = np.ascontiguousarray(x)[np.newaxis]
    for l in range(1, len(layers)):
        layer, below = layers[l], layers[l - 1]
        if layer["type"] == "c":
            # a{j} = sigm(sum_i convn(a{i}, k{i}{j}, 'valid') + b{j}), all j at once
            # (or the layer's "activation"); the windows are cached for the kernel gradient
            ks = layer["kernelsize"]
            _, rows, cols, _ = below["a"].shape
            cache[l] = im2col(below["a"], ks)
            layer["a"] = conv_forward(cache[l], layer["k"], layer["b"], rows - ks + 1,
                                      cols - ks + 1, activation=layer.get(ACTIVATION, "sigm"))
        elif layer["type"] == "s" and layer.get(METHOD, "mean") == "max":
            # a{j} = maximum of each scale x scale block of a{j} below (an opt-in);
            # where it is is cached for the delta
            layer["a"], cache[l] = maxpool_forward(below["a"], layer["scale"])
        elif layer["type"] == "s":
            # a{j} = mean of each scale x scale block of a{j} below
            layer["a"] = meanpool_forward(below["a"], layer["scale"])
    # fv = [reshape(a{1}, ...); reshape(a{2}, ...); ...]  (column-major)
    net["fv"] = maps_to_fv(layers[last_map_layer(layers)]["a"])
    # the fully connected 'f' layers (an opt-in, nnff.m's hidden layers), fv into the first:
    # a = f(W * a_below + repmat(b, 1, m))
    below = net["fv"]
    for l in full_layers(layers):
        u = layers[l]["W"] @ below
        u += layers[l]["b"]
        layers[l]["a"] = below = activate(u, layers[l].get(ACTIVATION, "sigm"))
    # o = sigm(ffW * fv + repmat(ffb, 1, m)) (fv, or the last 'f' layer's a), or its softmax
    # over each column, or u itself for a linear output (opt-ins; nnff.m's output cases)
    u = net["ffW"] @ below
    u += net["ffb"]
    output = check_output(net)
    net["o"] = softmax(u) if output == "softmax" else u if output == "linear" else sigm(u)
    return cache
