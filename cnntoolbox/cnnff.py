"""cnnff: the forward pass (CNN/cnnff.m)."""

import numpy as np

from .checks import as_rng, check_x
from .layerops import (activate, conv_forward, im2col, maps_to_fv, maxpool_forward,
                       meanpool_forward, sigm, softmax)
from .netlayout import (ACTIVATION, MASK, METHOD, SIZE, check_dropout, check_output, full_layers,
                        image_shape, is_testing, last_map_layer, map_sizes, stack_for_input,
                        unstack_net, working_dtype)


def cnnff(net: dict, x: np.ndarray, rng: np.random.Generator | int | None = None) -> dict:
    """Feed a batch forward through the net.

    With ``net["dropoutFraction"]`` = p > 0 (an opt-in, NN's
    ``nn.dropoutFraction``) a training pass multiplies the feature vector
    and each 'f' layer's output by a 0/1 mask, 1 where a uniform draw from
    ``rng`` exceeds p, kept as ``net["dropOutMask"]`` and the layer's
    ``"dropOutMask"``; ``fv`` and ``a`` are stored masked.  With
    ``net["testing"]`` true they are multiplied by 1 - p instead.

    Parameters
    ----------
    net : dict
        A net with the layer specs, ``k``, ``b``, ``ffW`` and ``ffb``
        (from ``cnnsetup``, training, or a Matlab file).  Its weights are
        left as they are; the maps are float32 if x or a weight is
        (``netlayout.working_dtype``), else float64.
    x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
        The batch; a single 2-D image is a batch of one.  A 4-D x has
        channels: the input layer's ``a[i]`` is ``x[:, :, i, :]``.
    rng : numpy.random.Generator or int or None
        Source of the dropout masks (as ``cnnsetup`` takes it; None: fresh
        entropy); nothing is drawn without dropout or with ``testing``.

    Returns
    -------
    dict
        A new net with ``a[j]`` (rows, cols, m) of every layer (``a``
        (size, m) of an 'f' layer), ``fv`` (fvnum, m) and ``o`` (onum, m).
    """
    x = check_x(x)
    stacked = stack_for_input(net, x)
    p, masks = check_dropout(stacked), None
    if p and not is_testing(stacked):
        sizes = map_sizes(stacked["layers"], *image_shape(x))
        masks = dropout_masks(stacked["layers"], sizes, x.shape[-1], p, as_rng(rng))
    ff(stacked, x.astype(working_dtype(stacked, x), copy=False), masks)
    return unstack_net(stacked)


def dropout_masks(layers, sizes, m, p, rng):
    """The 0/1 dropout masks of a batch of m samples: ``rand(size) > p`` (NN/nnff.m).

    Drawn in this order: the feature vector's (fvnum, m), then each 'f'
    layer's (size, m) from the bottom up, each ``rng.random`` of its shape
    in C order.

    Parameters
    ----------
    layers : list of dict
        The layer specs.
    sizes : list of (int, int, int)
        ``netlayout.map_sizes`` for the input.
    m : int
    p : float
        ``net["dropoutFraction"]``.
    rng : numpy.random.Generator

    Returns
    -------
    list of ndarray of float64 (0 or 1)
        The masks, in the order ``ff`` takes them (it casts each to the
        precision of the values it multiplies: exact, 0 and 1 are single too).
    """
    rows = [int(np.prod(sizes[last_map_layer(layers)]))]
    rows += [layers[l][SIZE] for l in full_layers(layers)]
    return [(rng.random((n, m)) > p).astype(np.float64) for n in rows]


def ff(net, x, masks=None):
    """cnnff.m on a stacked net, in place; returns what ``bp`` needs beyond the net's fields.

    Parameters
    ----------
    net : dict
        A checked net in the stacked layout (see ``netlayout.py``).
    x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
        The batch, float64 or float32: every map is computed in its dtype
        (the caller casts it to ``netlayout.working_dtype``; float64
        weights and masks are cast where they meet float32 values).
    masks : list of ndarray, optional
        With dropout in a training pass, the masks of ``dropout_masks`` for
        this batch (columns of the whole batch's for a part of it).

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
    dtype = net["fv"].dtype                    # x's: float64 weights are cast to a float32 batch
    p = check_dropout(net)
    training = p and not is_testing(net)
    if training and (masks is None or len(masks) != len(full_layers(layers)) + 1
                     or any(mask is None for mask in masks)):
        raise ValueError("a training pass with net['dropoutFraction'] needs the masks of fv "
                         "and of every 'f' layer ('dropOutMask')")
    masks = iter(masks if training else ())
    if p:
        _drop(net, "fv", p, next(masks, None))
    # the fully connected 'f' layers (an opt-in, nnff.m's hidden layers), fv into the first:
    # a = f(W * a_below + repmat(b, 1, m)), then its dropout as fv's
    below = net["fv"]
    for l in full_layers(layers):
        u = layers[l]["W"].astype(dtype, copy=False) @ below
        u += layers[l]["b"].astype(dtype, copy=False)
        layers[l]["a"] = activate(u, layers[l].get(ACTIVATION, "sigm"))
        if p:
            _drop(layers[l], "a", p, next(masks, None))
        below = layers[l]["a"]
    # o = sigm(ffW * fv + repmat(ffb, 1, m)) (fv, or the last 'f' layer's a), or its softmax
    # over each column, or u itself for a linear output (opt-ins; nnff.m's output cases)
    # (in the precision of x: float64 weights are cast to a float32 batch, as Matlab does)
    u = net["ffW"].astype(dtype, copy=False) @ below
    u += net["ffb"].astype(dtype, copy=False)
    output = check_output(net)
    net["o"] = softmax(u) if output == "softmax" else u if output == "linear" else sigm(u)
    return cache


def _drop(owner, field, p, mask):
    """NN/nnff.m's dropout of ``owner[field]``: times ``mask`` (kept as ``dropOutMask``) in
    training, times 1 - p when testing (``mask`` None)."""
    if mask is None:
        owner[field] = owner[field] * (1 - p)              # a = a .* (1 - dropoutFraction)
    else:
        if mask.shape != owner[field].shape:
            raise ValueError(f"a dropout mask of shape {mask.shape} for values of shape "
                             f"{owner[field].shape}")
        mask = mask.astype(owner[field].dtype, copy=False)  # 0/1: exact in float32 too
        owner[MASK] = mask                                 # dropOutMask = rand(size(a)) > p
        owner[field] = owner[field] * mask                 # a = a .* dropOutMask
