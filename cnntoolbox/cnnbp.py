"""cnnbp: error, loss, deltas and gradients (CNN/cnnbp.m)."""

import numpy as np

from .checks import check_y
from .layerops import (conv_delta_back, conv_kernel_grad, derivative, fv_to_maps, im2col,
                       maxpool_delta_back, maxpool_forward, meanpool_delta_back,
                       meanpool_sigm_delta_back)
from .netlayout import (ACTIVATION, DROPOUT, MASK, METHOD, cast_net, check_dropout,
                        check_forward, check_output, full_layers, is_testing, last_map_layer,
                        stack_net, unstack_net, working_dtype)


def cnnbp(net: dict, y: np.ndarray) -> dict:
    """Back-propagate the loss of the last forward pass.

    The loss is the squared error ``L = 1/2 * sum(e(:).^2) / m`` (the
    original), or with ``net["output"] = "softmax"`` the cross-entropy
    ``L = -sum(y(:) .* log(o(:))) / m``, whose delta at the output is
    ``od = o - y`` (each column of y must then sum to 1).  With
    ``net["output"] = "linear"`` (regression, as NN's ``nn.output =
    'linear'``) the loss is the squared error and ``od = e``.

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
        but the input, ``dk[i][j]`` and ``db[j]`` of 'c' layers, ``d``,
        ``dW`` and ``db`` of 'f' layers, ``dffW`` and ``dffb``: float32 if
        y or a field of the net is (then also its ``a``, ``fv`` and ``o``),
        else float64.  ``L`` is a Python float.
    """
    stacked = stack_net(net)
    check_forward(stacked)
    m = stacked["o"].shape[1]
    y = check_y(y, m, stacked["o"].shape[0], check_output(stacked))
    dtype = working_dtype(stacked, y)
    # the forward pass's fields in the working precision (float32 y after a float64 cnnff)
    cast_net(stacked, dtype, fields=("a", "fv", "o"))
    bp(stacked, y.astype(dtype, copy=False), forward_cache(stacked))
    return unstack_net(stacked)


def forward_cache(net):
    """What ``ff`` returned for the forward pass a net holds, recomputed from its ``a``.

    ``cnnbp.m`` takes only the net; the windows and maxima positions that
    ``ff`` hands ``bp`` inside training are not fields of it, so the public
    ``cnnbp`` recomputes them here from the documented ``a`` of every layer.

    Parameters
    ----------
    net : dict
        A stacked net after ``ff`` (checked by ``netlayout.check_forward``).

    Returns
    -------
    list
        As ``ff`` returns it: per layer the im2col windows of the layer below
        ('c'), the positions of the maxima (max-pool 's'), or None.
    """
    layers = net["layers"]
    cache = [None] * len(layers)
    for l in range(1, len(layers)):
        layer, below = layers[l], layers[l - 1]
        if layer["type"] == "c":
            cache[l] = im2col(below["a"], layer["kernelsize"])
        elif layer["type"] == "s" and layer.get(METHOD, "mean") == "max":
            cache[l] = maxpool_forward(below["a"], layer["scale"])[1]
    return cache


def bp(net, y, cache, m=None):
    """cnnbp.m on a stacked net, in place.

    Parameters
    ----------
    net : dict
        A net in the stacked layout after ``ff``.
    y : ndarray, shape (onum, m_part)
        In the precision of the net's ``o`` (``netlayout.working_dtype``):
        every delta and gradient is computed in it.
    cache : list
        What ``ff`` returned (or ``forward_cache``).
    m : int, optional
        The batch size that ``L`` and the gradients are divided by: the
        columns of ``y`` (the default), or the size of the whole batch when
        ``y`` is a part of it (``parallel.py``), so that the parts add up.
    """
    layers = net["layers"]
    n = len(layers)
    if m is None:
        m = y.shape[1]

    if check_dropout(net) and is_testing(net):
        raise ValueError(f"net['testing'] is set with net['{DROPOUT}']: a testing pass scales "
                         f"by 1 - dropoutFraction and is not trained (nnbp.m knows training "
                         f"passes only); unset net['testing'] to train (cnnpredict and cnntest "
                         f"set it on their copy only)")
    net["e"] = net["o"] - y                                   # e = o - y
    output = check_output(net)
    if output == "softmax":
        # an opt-in: o = softmax(u), L = -sum(y .* log(o)) / m.  With sum_k y_k = 1,
        # dL/du_k = sum_i y_i (o_k - [i == k]) = o_k - y_k: od = o - y = e
        _check_distributions(y)
        with np.errstate(divide="ignore"):                   # log(0) where y == 0 is not summed
            net["L"] = -float(np.sum(y * np.log(net["o"]), where=y != 0)) / m
        net["od"] = net["e"].copy()
    elif output == "linear":
        # an opt-in (nnbp.m's 'linear' case): o = u, L = 1/2 * sum(e(:).^2) / m, od = e
        net["L"] = 0.5 * float(np.sum(net["e"] ** 2)) / m
        net["od"] = net["e"].copy()
    else:
        net["L"] = 0.5 * float(np.sum(net["e"] ** 2)) / m     # L = 1/2 * sum(e(:).^2) / m
        # output delta: od = e .* f'(u) with f'(u) = o .* (1 - o)
        net["od"] = net["e"] * (net["o"] * (1 - net["o"]))
    # feature vector delta: fvd = ffW' * od (through the 'f' layers when there are any;
    # in the precision of od: a float64 ffW is cast where it meets float32 deltas)
    fulls = full_layers(layers)
    net["fvd"] = (_full_deltas(net, fulls) if fulls
                  else net["ffW"].astype(net["od"].dtype, copy=False).T @ net["od"])
    if check_dropout(net):
        net["fvd"] = _dropped_back(net, net["fvd"])        # nnbp.m: d .* dropOutMask
    top = last_map_layer(layers)                              # the layer whose maps make fv
    if layers[top]["type"] == "c":                            # only conv layers have a nonlinearity
        activation = layers[top].get(ACTIVATION, "sigm")
        if activation == "sigm":
            net["fvd"] = net["fvd"] * (net["fv"] * (1 - net["fv"]))
        elif activation != "linear":
            net["fvd"] = net["fvd"] * derivative(net["fv"], activation)

    # d{j} of the last layer: fvd reshaped into maps
    _, rows, cols, _ = layers[top]["a"].shape
    layers[top]["d"] = fv_to_maps(net["fvd"], rows, cols)

    # the deltas below, from the top down
    for l in range(top - 1, 0, -1):
        layer, above = layers[l], layers[l + 1]
        if _original_c_case(layer, above):
            # cnnbp.m's 'c' case (a sigmoid 'c' layer below a mean-pool 's' layer):
            # d{j} = a{j} .* (1 - a{j}) .* expand(d_above{j}, [scale scale 1]) / scale^2
            layer["d"] = meanpool_sigm_delta_back(layer["a"], above["d"], above["scale"])
        elif layer["type"] == "s" and above["type"] == "c":
            # cnnbp.m's 's' case (an 's' layer below a 'c' layer):
            # d{i} = sum_j convn(d_above{j}, rot180(k_above{i}{j}), 'full')
            _, rows, cols, _ = layer["a"].shape
            layer["d"] = conv_delta_back(above["d"], above["k"], rows, cols)
        else:
            # the opt-ins (README, "Beyond the original"): d = dE/da .* f'(u), f' = 1 for
            # an 's' layer (no nonlinearity), dE/da given by the layer above
            layer["d"] = _dE_da(layer, above, cache[l + 1])
            activation = layer.get(ACTIVATION, "sigm")
            if layer["type"] == "c" and activation != "linear":
                layer["d"] *= derivative(layer["a"], activation)   # .* f'(u)

    # gradients: dk{i}{j} = convn(flipall(a_below{i}), d{j}, 'valid') / m
    #            db{j} = sum(d{j}(:)) / m
    for l in range(1, n):
        layer = layers[l]
        if layer["type"] == "c":
            layer["dk"] = conv_kernel_grad(cache[l], layer["d"], layer["kernelsize"]) / m
            layer["db"] = layer["d"].sum(axis=(1, 2, 3)) / m
    # an 'f' layer's (nnbp.m): dW = d * a_below' / m, db = sum(d, 2) / m, fv below the first
    below = net["fv"]
    for l in fulls:
        layers[l]["dW"] = layers[l]["d"] @ below.T / m
        layers[l]["db"] = layers[l]["d"].sum(axis=1, keepdims=True) / m
        below = layers[l]["a"]
    net["dffW"] = net["od"] @ below.T / m                     # dffW = od * fv' / m
    net["dffb"] = net["od"].sum(axis=1, keepdims=True) / m    # dffb = mean(od, 2)


def _full_deltas(net, fulls):
    """The deltas of the 'f' layers from the top down (an opt-in); returns dE/dfv.

    For each 'f' layer, ``d = dE/da .* f'(u)`` (dE/du, as a 'c' layer's
    ``d``), with ``dE/da = ffW' * od`` for the last and ``W_above' * d_above``
    below it; ``W' * d`` of the first is what reaches ``fv``.  With
    dropout, ``d`` is multiplied by the layer's mask as in nnbp.m (f'
    written with the masked ``a`` is wrong only where the mask is 0).
    """
    layers = net["layers"]
    dtype = net["od"].dtype                # float64 weights are cast to float32 deltas
    dropout = check_dropout(net)
    dE_da = net["ffW"].astype(dtype, copy=False).T @ net["od"]
    for l in reversed(fulls):
        layer = layers[l]
        fprime = derivative(layer["a"], layer.get(ACTIVATION, "sigm"))
        layer["d"] = dE_da if fprime is None else dE_da * fprime
        if dropout:
            layer["d"] = _dropped_back(net, layer["d"], layer)
        dE_da = layer["W"].astype(dtype, copy=False).T @ layer["d"]
    return dE_da


def _dropped_back(net, delta, owner=None):
    """A delta through dropout (an opt-in): times the mask of ``owner`` (the net: fv's), as
    nnbp.m; the 0/1 mask in the delta's precision (a float64 mask keeps float32 float32)."""
    return delta * (net if owner is None else owner)[MASK].astype(delta.dtype, copy=False)


def _original_c_case(layer, above):
    """Whether cnnbp.m's 'c' case holds: a sigmoid 'c' layer below a mean-pool 's' layer."""
    return (layer["type"] == "c" and layer.get(ACTIVATION, "sigm") == "sigm"
            and above["type"] == "s" and above.get(METHOD, "mean") == "mean")


def _dE_da(layer, above, above_cache):
    """``dE/da`` of ``layer`` from the delta of the layer above, for any pair of kinds.

    * above 'c': ``sum_j convn(d_above{j}, rot180(k_above{i}{j}), 'full')`` (``a{i}``
      entered every output of the 'valid' convolution whose window covers it,
      with the weight of the flipped kernel there);
    * above mean-pool 's': ``expand(d_above, [scale scale 1]) / scale^2`` (every
      input of a block has weight 1/scale^2 in its mean);
    * above max-pool 's': ``d_above`` at each block's maximum (``above_cache``,
      from ``ff``), 0 elsewhere (the output is that one input; ties:
      ``layerops.maxpool_forward``).
    """
    if above["type"] == "c":
        _, rows, cols, _ = layer["a"].shape
        return conv_delta_back(above["d"], above["k"], rows, cols)
    if above.get(METHOD, "mean") == "max":
        return maxpool_delta_back(above_cache, above["d"], above["scale"])
    return meanpool_delta_back(above["d"], above["scale"])


def _check_distributions(y):
    """Refuse labels whose columns do not sum to 1: ``od = o - y`` needs them to.

    The tolerance is 1e-10, or ``onum`` units of roundoff of y's dtype if
    that is larger: a column of onum float32 probabilities that sum to 1
    sums to it within about onum * 1.2e-7 (float64: within 1e-10 up to
    450000 outputs).
    """
    if np.any(y < 0):
        raise ValueError("net['output'] 'softmax' needs labels y >= 0 (one-hot or "
                         f"probabilities); y holds {float(y.min()):g}")
    sums = y.sum(axis=0)
    worst = int(np.argmax(np.abs(sums - 1)))
    if abs(sums[worst] - 1) > max(1e-10, y.shape[0] * np.finfo(y.dtype).eps):
        raise ValueError(
            f"net['output'] 'softmax' needs labels whose columns sum to 1 (one-hot or "
            f"probabilities); column {worst} sums to {sums[worst]:.17g}")
