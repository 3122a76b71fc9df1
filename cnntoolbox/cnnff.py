"""cnnff: the forward pass (CNN/cnnff.m)."""

import numpy as np

from .checks import check_weights, check_x, map_sizes
from .layerops import conv_forward, maps_to_fv, pool_forward, sigm
from .stacked import stack_net, unstack_net


def cnnff(net, x):
    """Feed a batch forward through the net.

    Parameters
    ----------
    net : dict
        A net with the layer specs, ``k``, ``b``, ``ffW`` and ``ffb``
        (from ``cnnsetup``, training, or a Matlab file).
    x : ndarray, shape (rows, cols, m)
        The batch; a single 2-D image is a batch of one.

    Returns
    -------
    dict
        A new net with ``a[j]`` (rows, cols, m) of every layer, ``fv``
        (fvnum, m) and ``o`` (onum, m).
    """
    x = check_x(x)
    stacked = stack_net(net)
    check_weights(stacked, map_sizes(stacked["layers"], x.shape[0], x.shape[1]))
    ff(stacked, images_to_maps(x))
    return unstack_net(stacked)


def images_to_maps(x):
    """A batch (rows, cols, m) as the input layer's stacked maps (m, rows, cols, 1)."""
    return np.ascontiguousarray(x.transpose(2, 0, 1))[:, :, :, np.newaxis]


def ff(net, X):
    """cnnff.m on a stacked net, in place.

    Parameters
    ----------
    net : dict
        A checked net in the stacked layout (see ``stacked.py``).
    X : ndarray, shape (m, rows, cols, 1)
        The batch as the input layer's maps.
    """
    layers = net["layers"]
    layers[0]["a"] = X                                       # net.layers{1}.a{1} = x
    for l in range(1, len(layers)):
        layer, below = layers[l], layers[l - 1]
        if layer["type"] == "c":
            # a{j} = sigm(sum_i convn(a{i}, k{i}{j}, 'valid') + b{j}), all j at once
            layer["a"] = conv_forward(below["a"], layer["k"], layer["b"])
        elif layer["type"] == "s":
            # a{j} = mean of each scale x scale block of a{j} below
            layer["a"] = pool_forward(below["a"], layer["scale"])
    # fv = [reshape(a{1}, ...); reshape(a{2}, ...); ...]  (column-major)
    net["fv"] = maps_to_fv(layers[-1]["a"])
    # o = sigm(ffW * fv + repmat(ffb, 1, m))
    net["o"] = sigm(net["ffW"] @ net["fv"] + net["ffb"])
