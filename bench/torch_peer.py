"""The toolbox's CNN written in PyTorch: the peer the benchmark times against.

The same network and the same training as ``cnntrain``:

* input (m, channels, rows, cols): Matlab's ``x(:, :, k)`` is ``x[k, 0]``
  (a 4-D toolbox x, rows x cols x channels x m, gives the channels);
* a ``c`` layer is ``sigmoid(conv2d(a, W) + b)`` with no padding and stride 1.
  ``convn`` in ``cnnff.m`` is a true convolution, ``conv2d`` a correlation,
  so ``W[j, i]`` is the toolbox's ``k[i][j]`` turned by 180 degrees;
* an ``s`` layer is the mean over scale x scale blocks (``avg_pool2d``);
* the opt-in kinds (README, "Beyond the original"): a ``c`` layer's
  ``activation`` relu/tanh/linear, an ``s`` layer's ``method`` max
  (``max_pool2d``), ``output`` softmax with the cross-entropy loss
  ``-sum(y * log(o)) / m`` and ``output`` linear (``o = ffW fv + ffb``);
* ``fv`` stacks the last layer's maps one after another, each map read
  column-major like Matlab's ``reshape`` (hence the permute before flatten);
* the opt-in fully connected ``f`` layers after the maps: ``a = f(W a_below + b)``
  (``F.linear``), fv into the first, the last into ``ffW``;
* ``o = sigmoid(ffW @ fv + ffb)``, loss ``L = 1/2 * sum(e^2) / m``;
* plain SGD, ``p -= alpha * dL/dp``, on batches taken from a fresh
  ``randperm`` every epoch.

Autograd of that loss gives exactly the toolbox's ``dk``, ``db``, ``dffW``,
``dffb`` (``cnnbp.m`` divides by m in the same places), which
``tests/test_bench_smoke.py`` checks against the package's ``cnnbp``.

torch is not a dependency of cnntoolbox: this module is only imported by the
benchmark and by tests that skip when torch is absent.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F


def layer_specs(layers):
    """Normalise layer dicts to tuples: type, sizes, activation or method.

    Parameters
    ----------
    layers : list of dict
        The toolbox's layer specs, e.g. ``{"type": "c", "outputmaps": 6,
        "kernelsize": 5}``; only ``type``, ``outputmaps``, ``kernelsize``,
        ``scale``, ``activation`` and ``method`` are read.

    Returns
    -------
    list of tuple
        ``("i",)``, ``("c", outputmaps, kernelsize, activation)``,
        ``("s", scale, method)`` or ``("f", size, activation)``; activation
        "sigm" and method "mean" when the layer has no such key (the original).
    """
    specs = []
    for n, layer in enumerate(layers):
        kind = layer.get("type")
        if kind == "i":
            specs.append(("i",))
        elif kind == "c":
            specs.append(("c", int(layer["outputmaps"]), int(layer["kernelsize"]),
                          layer.get("activation", "sigm")))
        elif kind == "s":
            specs.append(("s", int(layer["scale"]), layer.get("method", "mean")))
        elif kind == "f":
            specs.append(("f", int(layer["size"]), layer.get("activation", "sigm")))
        else:
            raise ValueError(f"layers[{n}]['type'] must be 'i', 'c', 's' or 'f', got {kind!r}")
    return specs


def init_params(layers, mapsize, onum, generator=None, dtype=torch.float64):
    """Random weights drawn from the same distributions as ``cnnsetup.m``.

    Kernels uniform in +-sqrt(6 / ((inmaps + outmaps) * ks^2)), ``ffW``
    uniform in +-sqrt(6 / (onum + fvnum)), biases zero.

    Parameters
    ----------
    layers : list of dict
        Layer specs as in :func:`layer_specs`.
    mapsize : (int, int)
        Rows and columns of one input image.
    onum : int
        Number of outputs.
    generator : torch.Generator, optional
    dtype : torch.dtype

    Returns
    -------
    dict
        ``"W"``: list of (outmaps, inmaps, ks, ks) tensors, one per ``c``
        layer; ``"b"``: list of (outmaps,) tensors; with ``f`` layers,
        ``"fW"`` (size, inputs) and ``"fb"`` (size,) per layer; ``"ffW"``
        (onum, fvnum or the last ``f`` layer's size); ``"ffb"`` (onum,). All
        with ``requires_grad``.
    """
    rows, cols = mapsize
    inmaps = 1
    W, b, fW, fb = [], [], [], []
    for spec in layer_specs(layers):
        if spec[0] == "c":
            outmaps, ks = spec[1], spec[2]
            bound = math.sqrt(6 / ((inmaps + outmaps) * ks * ks))
            W.append((torch.rand(outmaps, inmaps, ks, ks, generator=generator, dtype=dtype) - 0.5)
                     * 2 * bound)
            b.append(torch.zeros(outmaps, dtype=dtype))
            rows, cols, inmaps = rows - ks + 1, cols - ks + 1, outmaps
        elif spec[0] == "s":
            if rows % spec[1] or cols % spec[1]:
                raise ValueError(f"map size {rows}x{cols} is not divisible by scale {spec[1]}")
            rows, cols = rows // spec[1], cols // spec[1]
        elif spec[0] == "f":
            inputs, size = rows * cols * inmaps, spec[1]
            bound = math.sqrt(6 / (size + inputs))
            fW.append((torch.rand(size, inputs, generator=generator, dtype=dtype) - 0.5)
                      * 2 * bound)
            fb.append(torch.zeros(size, dtype=dtype))
            rows, cols, inmaps = 1, 1, size
    fvnum = rows * cols * inmaps
    bound = math.sqrt(6 / (onum + fvnum))
    params = {"W": W, "b": b,
              "ffW": (torch.rand(onum, fvnum, generator=generator, dtype=dtype) - 0.5) * 2 * bound,
              "ffb": torch.zeros(onum, dtype=dtype)}
    if fW:
        params.update(fW=fW, fb=fb)
    return require_grad(params)


def params_from_net(net, dtype=torch.float64):
    """The weights of a toolbox net (after ``cnnsetup``) as peer parameters.

    Parameters
    ----------
    net : dict
        A toolbox net with ``k``, ``b`` per ``c`` layer and ``ffW``, ``ffb``.
    dtype : torch.dtype

    Returns
    -------
    dict
        As :func:`init_params`; ``W[j, i]`` is ``k[i][j]`` turned by 180
        degrees, because ``conv2d`` correlates where ``convn`` convolves.
    """
    W, b, fW, fb = [], [], [], []
    for layer in net["layers"]:
        if layer["type"] == "f":
            fW.append(torch.tensor(np.asarray(layer["W"], dtype=np.float64), dtype=dtype))
            fb.append(torch.tensor(np.asarray(layer["b"], dtype=np.float64).reshape(-1),
                                   dtype=dtype))
        if layer["type"] == "c":
            k = np.array([[np.asarray(kij, dtype=np.float64) for kij in ki] for ki in layer["k"]])
            # .copy(): ascontiguousarray keeps the negative strides of a 1x1 kernel
            W.append(torch.tensor(k.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1].copy(), dtype=dtype))
            b.append(torch.tensor([float(bj) for bj in layer["b"]], dtype=dtype))
    ffb = np.asarray(net["ffb"], dtype=np.float64).reshape(-1)
    params = {"W": W, "b": b,
              "ffW": torch.tensor(np.asarray(net["ffW"], dtype=np.float64), dtype=dtype),
              "ffb": torch.tensor(ffb, dtype=dtype)}
    if fW:
        params.update(fW=fW, fb=fb)
    return require_grad(params)


def as_net(params):
    """Peer tensors in the toolbox's layout, the inverse of :func:`params_from_net`.

    Parameters
    ----------
    params : dict
        As :func:`init_params`, or any tensors of those shapes (gradients,
        velocities, optimiser buffers; see :func:`unflatten`).

    Returns
    -------
    dict
        ``"k"``: per ``c`` layer a list [i] of lists [j] of (ks, ks)
        arrays (``k[i][j]`` is ``W[j, i]`` turned by 180 degrees); ``"b"``:
        per ``c`` layer a list of floats; ``"ffW"`` (onum, fvnum); ``"ffb"``
        (onum, 1); with ``f`` layers ``"fW"`` (size, inputs) and ``"fb"``
        (size, 1) per layer. numpy float64.
    """
    k, b = [], []
    for W, bias in zip(params["W"], params["b"]):
        g = W.detach().double().numpy()[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        k.append([[g[i, j].copy() for j in range(g.shape[1])] for i in range(g.shape[0])])
        b.append([float(v) for v in bias.detach()])
    net = {"k": k, "b": b,
           "ffW": params["ffW"].detach().double().numpy().copy(),
           "ffb": params["ffb"].detach().double().numpy().reshape(-1, 1).copy()}
    if params.get("fW"):
        net["fW"] = [w.detach().double().numpy().copy() for w in params["fW"]]
        net["fb"] = [v.detach().double().numpy().reshape(-1, 1).copy() for v in params["fb"]]
    return net


def grads_as_net(params):
    """The gradients after ``backward`` in the toolbox's layout.

    Returns
    -------
    dict
        ``"dk"``, ``"db"``, ``"dffW"``, ``"dffb"``, laid out as the fields
        of :func:`as_net`.
    """
    grads = unflatten([p.grad for p in parameters(params)], params)
    return {"d" + field: value for field, value in as_net(grads).items()}


def net_weights(net, velocity=False):
    """A toolbox net's weights (with ``velocity``, its momentum velocities) laid out as :func:`as_net`."""
    prefix = "v" if velocity else ""
    conv = [layer for layer in net["layers"] if layer["type"] == "c"]
    full = [layer for layer in net["layers"] if layer["type"] == "f"]
    weights = {"k": [layer[prefix + "k"] for layer in conv],
               "b": [layer[prefix + "b"] for layer in conv],
               "ffW": net[prefix + "ffW"], "ffb": net[prefix + "ffb"]}
    if full:
        weights["fW"] = [layer[prefix + "W"] for layer in full]
        weights["fb"] = [layer[prefix + "b"] for layer in full]
    return weights


def x_to_torch(x, dtype=torch.float64):
    """Toolbox images (rows, cols, m) or (rows, cols, channels, m) -> (m, channels, rows, cols)."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, :, np.newaxis]
    if x.ndim != 4:
        raise ValueError(f"x must be (rows, cols, m) or (rows, cols, channels, m), got shape {x.shape}")
    return torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1))).to(dtype)


def y_to_torch(y, dtype=torch.float64):
    """Toolbox targets (onum, m) -> contiguous (m, onum) tensor."""
    y = np.asarray(y)
    if y.ndim != 2:
        raise ValueError(f"y must be (onum, m), got shape {y.shape}")
    return torch.from_numpy(np.ascontiguousarray(y.T)).to(dtype)


#: A 'c' layer's activation in torch.
ACTIVATIONS = {"sigm": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh,
               "linear": lambda u: u}


def forward(params, layers, x, output="sigm", trace=None, masks=None):
    """Output of the net, ``cnnff.m`` in PyTorch.

    Parameters
    ----------
    params : dict
        As :func:`init_params`.
    layers : list of dict or of tuples from :func:`layer_specs`
    x : torch.Tensor
        (m, channels, rows, cols).
    output : str
        ``"sigm"`` (the original), ``"softmax"`` (over the outputs of each sample)
        or ``"linear"`` (o = u).
    trace : dict, optional
        When given (the tests' cross-check; the benchmark passes none), it
        receives the intermediate tensors of the same graph: ``"a"``, per
        layer its (m, maps, rows, cols) maps, the input first; ``"u"``, per
        layer the tensor whose gradient times m is the toolbox's delta
        ``d`` (x for the input, the pre-activation ``conv2d(a, W) + b`` of
        a ``c`` layer, the pooled maps of an ``s`` layer); ``"fv"``
        (m, fvnum); ``"fa"`` and ``"fu"``, per ``f`` layer its (m, size)
        output and pre-activation.
    masks : list of torch.Tensor, optional
        Dropout (NN's ``dropoutFraction``): the 0/1 masks of fv (m, fvnum)
        and of each ``f`` layer's output (m, size), multiplied in (no
        rescaling, unlike ``torch.nn.Dropout``); or a float 1 - p, by which
        fv and every ``f`` output are multiplied (testing).

    Returns
    -------
    torch.Tensor
        ``o`` as (m, onum).
    """
    specs = layers if layers and isinstance(layers[0], tuple) else layer_specs(layers)
    a = x
    c = f = 0
    if trace is not None:
        trace.update(a=[x], u=[x])
    for spec in specs:
        if spec[0] == "c":
            u = F.conv2d(a, params["W"][c], params["b"][c])
            a = ACTIVATIONS[spec[3]](u)
            c += 1
        elif spec[0] == "s":
            u = a = (F.max_pool2d if spec[2] == "max" else F.avg_pool2d)(a, spec[1])
        else:
            continue                         # 'i', and the 'f' layers after fv below
        if trace is not None:
            trace["a"].append(a)
            trace["u"].append(u)
    fv = a.transpose(2, 3).flatten(1)        # column-major per map, maps one after another
    drop = (lambda v, n: v) if masks is None else (
        (lambda v, n: v * masks) if isinstance(masks, float) else (lambda v, n: v * masks[n]))
    fv = drop(fv, 0)
    if trace is not None:
        trace.update(fv=fv, fa=[], fu=[])
    for spec in specs:
        if spec[0] == "f":
            u = F.linear(fv, params["fW"][f], params["fb"][f])
            fv = drop(ACTIVATIONS[spec[2]](u), f + 1)
            f += 1
            if trace is not None:
                trace["fa"].append(fv)
                trace["fu"].append(u)
    u = F.linear(fv, params["ffW"], params["ffb"])
    if output == "linear":
        return u
    return torch.softmax(u, dim=1) if output == "softmax" else torch.sigmoid(u)


def loss(o, y, output="sigm"):
    """``cnnbp.m``'s loss: 1/2 * sum(e^2) / m, with o and y as (m, onum);
    for ``output="softmax"`` the cross-entropy ``-sum(y * log(o)) / m`` (the squared error
    for "linear" too)."""
    if output == "softmax":
        return -(y * torch.log(o)).sum() / o.shape[0]
    return 0.5 * ((o - y) ** 2).sum() / o.shape[0]


def train_epoch(params, layers, x, y, alpha=1.0, batchsize=50, perm=None, generator=None,
                output="sigm"):
    """One epoch of ``cnntrain.m``: randperm, then per batch ff, bp, applygrads.

    Parameters
    ----------
    params : dict
        As :func:`init_params`; updated in place.
    layers : list of dict
    x : torch.Tensor
        (m, channels, rows, cols).
    y : torch.Tensor
        (m, onum).
    alpha : float
        Learning rate of the plain SGD step.
    batchsize : int
        Must divide m.
    perm : sequence of int, optional
        0-based order of the samples; default ``torch.randperm(m)``.
    generator : torch.Generator, optional
        For the permutation.
    output : str
        As in :func:`forward` and :func:`loss`.

    Returns
    -------
    list of float
        The loss ``L`` of every batch.
    """
    specs = layer_specs(layers)
    m = x.shape[0]
    if m % batchsize:
        raise ValueError("numbatches not integer")
    kk = torch.randperm(m, generator=generator) if perm is None else torch.as_tensor(perm)
    flat = parameters(params)
    losses = []
    for start in range(0, m, batchsize):
        idx = kk[start:start + batchsize]
        L = loss(forward(params, specs, x[idx], output), y[idx], output)
        grads = torch.autograd.grad(L, flat)
        with torch.no_grad():
            for p, g in zip(flat, grads):
                p.add_(g, alpha=-alpha)
        losses.append(L.item())
    return losses


def running_loss(losses):
    """``cnntrain.m``'s ``rL`` from the batch losses: ``rL(end+1) = 0.99 * rL(end) + 0.01 * L``.

    ``rL`` starts with the first batch's loss, so it is one longer than ``losses``.
    """
    rl = [losses[0]]
    for L in losses:
        rl.append(0.99 * rl[-1] + 0.01 * L)
    return np.array(rl)


def predict_error(params, layers, x, y):
    """``cnntest.m``: fraction of samples whose largest output is not the label's."""
    with torch.no_grad():
        o = forward(params, layers, x)
    return float((o.argmax(1) != y.argmax(1)).double().mean())


def parameters(params):
    """The tensors of ``params`` in a fixed order: W, b of every c layer, fW, fb of every f
    layer, ffW, ffb."""
    return [*params["W"], *params["b"], *params.get("fW", []), *params.get("fb", []),
            params["ffW"], params["ffb"]]


def unflatten(flat, like):
    """The inverse of :func:`parameters`: a list in that order as a dict shaped like ``like``."""
    nc, nf = len(like["W"]), len(like.get("fW", []))
    if len(flat) != 2 * nc + 2 * nf + 2:
        raise ValueError(f"expected {2 * nc + 2 * nf + 2} tensors (W, b of {nc} c layers, fW, "
                         f"fb of {nf} f layers, ffW, ffb), got {len(flat)}")
    params = {"W": list(flat[:nc]), "b": list(flat[nc:2 * nc]), "ffW": flat[-2], "ffb": flat[-1]}
    if nf:
        params.update(fW=list(flat[2 * nc:2 * nc + nf]), fb=list(flat[2 * nc + nf:-2]))
    return params


def require_grad(params):
    """Mark every tensor of ``params`` as requiring gradients; return ``params``."""
    for p in parameters(params):
        p.requires_grad_(True)
    return params
