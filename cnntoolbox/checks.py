"""Argument checks shared by the public routines.

Matlab fails deep inside ``cnnbp`` (or with an index error) on most bad
input; the port checks up front and raises ``ValueError`` (or ``TypeError``
for a wrong kind of object) with a message that names the layer, field or
argument at fault.  Matlab stores every number as a double, so an
integer-valued float (``6.0``) is accepted wherever an integer is meant.
"""

import math
import numbers

import numpy as np

from .netfields import (ACTIVATION, ACTIVATIONS, LAYER_TYPES, METHOD, OUTPUT, OUTPUTS,
                        POOL_METHODS)


def as_int(value, name):
    """Return ``value`` as a positive Python int, accepting integer-valued floats.

    Parameters
    ----------
    value : int, float, or a one-element array
    name : str
        How the error message names the value, e.g. ``"layers[2]['scale']"``.
    """
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if not -2 ** 63 < value < 2 ** 63 or value != int(value) or value < 1:   # NaN, inf, > int64
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def as_float(value, name):
    """Return ``value`` as a finite Python float (also from a one-element array)."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        result = float(value)
    except OverflowError:                   # an int beyond any float
        result = math.inf
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def as_array(value, name, ndim=None, shape=None, copy=True):
    """Return ``value`` as a finite float64 ndarray, checking its shape.

    Parameters
    ----------
    value : array_like of real numbers
    name : str
        How the error message names the value.
    ndim : int, optional
        Required number of dimensions.
    shape : tuple, optional
        Required shape.
    copy : bool
        Always copy (True), or only when ``value`` is not float64 already.
    """
    if isinstance(value, (str, bytes, dict)) or value is None:
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a numeric array: {error}") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise TypeError(f"{name} must be real, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=copy)
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {array.shape}")
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or Inf")
    return array


def as_rng(rng):
    """Return numpy's random Generator for ``rng``, naming ``rng`` if it is not one.

    Parameters
    ----------
    rng : numpy.random.Generator or int or None
        Anything ``numpy.random.default_rng`` takes: a Generator (returned
        as it is), a non-negative integer seed, or None (fresh entropy).
    """
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as error:
        raise type(error)(f"rng must be None, a non-negative integer seed or a numpy "
                          f"Generator, got {rng!r} ({error})") from None


def check_x(x, y=None):
    """Check a batch of images and return it as float64, (rows, cols, m) or (rows, cols, channels, m).

    A single 2-D image is accepted as a batch of one (m = 1); Matlab would
    drop that trailing singleton dimension and then fail.  A 4-D ``x`` is an
    input with channels (README, "Beyond the original"); a 3-D one has one
    channel, as in the original.  The batch is always the last axis.  A 2-D
    ``x`` whose first dimension is the number of samples the labels ``y``
    hold (their columns, or their rows when they have several columns) is
    Python's one-image-per-row layout (m, pixels) and is refused with the fix.
    Integer images (MNIST's uint8) are refused: the toolbox's example divides
    them by 255 first, and raw 0..255 values saturate the sigmoid of the
    first layer.
    """
    shape = _shape(x)          # before any conversion: a (60000, 784) x is not copied
    if len(shape) == 2 and shape[0] > 1 and shape[0] in _sample_counts(y):
        m, pixels = shape
        side = int(np.sqrt(pixels))
        rows, cols = (side, side) if side * side == pixels else ("rows", "cols")
        raise ValueError(
            f"x has shape {shape}, one image per row (m, pixels) for the {m} samples of y; "
            f"the toolbox's layout is (rows, cols, m): pass "
            f"x.T.reshape({rows}, {cols}, -1, order=\"F\") (as test_example_CNN.m's "
            f"reshape(train_x', {rows}, {cols}, m))")
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.integer) and x.size:
        raise ValueError(
            f"x is {x.dtype} in {x.min()}..{x.max()}; the toolbox's example divides by 255: "
            f"pass x / 255 (or x.astype(float) if you mean the raw values)")
    x = as_array(x, "x", copy=False)
    if x.ndim == 2:
        x = x[:, :, np.newaxis]
    if x.ndim not in (3, 4):
        raise ValueError(f"x must be 3-D (rows, cols, m), 4-D (rows, cols, channels, m) "
                         f"or one 2-D image, got shape {x.shape}")
    if x.shape[-1] == 0:
        raise ValueError("x holds no samples (m == 0)")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x has an empty image size {x.shape[:2]}")
    if x.ndim == 4 and x.shape[2] == 0:
        raise ValueError("x has no channels (x.shape[2] == 0)")
    return x


def image_shape(x):
    """(rows, cols, channels) of a checked batch: channels is 1 for a 3-D ``x``."""
    return x.shape[0], x.shape[1], x.shape[2] if x.ndim == 4 else 1


def check_y(y, m, onum=None):
    """Check labels against the batch size and return float64 of shape (onum, m).

    A 1-D ``y`` is accepted only for a batch of one (a column of onum labels).
    """
    y = as_array(y, "y", copy=False)
    if y.ndim == 1 and m == 1:
        y = y[:, np.newaxis]
    if y.ndim != 2:
        raise ValueError(f"y must be 2-D (onum, m), got shape {y.shape}")
    if y.shape[1] != m and y.shape[0] == m:
        raise ValueError(f"y has shape {y.shape}, one row per sample (m, onum); the toolbox's "
                         f"layout is (onum, m), one column per sample: pass y.T")
    if y.shape[1] != m:
        raise ValueError(f"y has {y.shape[1]} columns but x has m = {m} samples")
    if onum is not None and y.shape[0] != onum:
        raise ValueError(f"y has {y.shape[0]} rows but the net has {onum} outputs (rows of ffW)")
    if y.shape[0] == 0:
        raise ValueError("y has no rows (onum == 0)")
    return y


def _shape(value):
    """``numpy.shape`` of an array-like, () for ragged nested lists (``as_array`` names those)."""
    try:
        return np.shape(value)
    except ValueError:
        return ()


def _sample_counts(y):
    """The sample counts labels of ``y``'s shape could hold.

    Its columns, or its rows when it has several columns (y given as (m, onum)).
    """
    shape = _shape(y)
    if len(shape) != 2:
        return set()
    return {shape[1]} | ({shape[0]} if shape[1] > 1 else set())


def check_layers(layers):
    """Check a layer list and return the layer specs with ints for sizes.

    Layer 1 is the input layer ``i``; after it come ``c`` and ``s`` layers in
    any order, or none (the output layer then reads the pixels).  The
    original alternates them; any order and the input layer alone are
    opt-ins that its routines run too (the input alone) or fail on.

    Returns
    -------
    list of dict
        One dict per layer with ``type`` and, as ints, ``outputmaps`` and
        ``kernelsize`` (``c``) or ``scale`` (``s``); ``activation`` (``c``)
        and ``method`` (``s``) when the layer has them.
    """
    if isinstance(layers, np.ndarray) and layers.dtype == object:
        layers = list(layers.ravel())
    if not isinstance(layers, (list, tuple)):
        raise TypeError(f"net['layers'] must be a list of layer dicts, got {type(layers).__name__}")
    if len(layers) < 1:
        raise ValueError("net['layers'] needs an input layer 'i'")
    specs = []
    for index, layer in enumerate(layers):
        where = f"layer {index + 1} (net['layers'][{index}])"
        if not isinstance(layer, dict):
            raise TypeError(f"{where} must be a dict, got {type(layer).__name__}")
        if "type" not in layer:
            raise ValueError(f"{where} has no 'type'")
        kind = layer["type"]
        if not isinstance(kind, str) or kind not in LAYER_TYPES:
            raise ValueError(f"{where} has unknown type {kind!r}; expected 'i', 'c' or 's'")
        if index == 0 and kind != "i":
            raise ValueError(f"{where} must be the input layer 'i', got {kind!r}")
        if index > 0 and kind == "i":
            raise ValueError(f"{where}: only the first layer may be an input layer 'i'")
        spec = {"type": kind}
        if kind == "c":
            for field in ("outputmaps", "kernelsize"):
                if field not in layer:
                    raise ValueError(f"{where} is a 'c' layer without '{field}'")
                spec[field] = as_int(layer[field], f"{where} '{field}'")
        elif kind == "s":
            if "scale" not in layer:
                raise ValueError(f"{where} is an 's' layer without 'scale'")
            spec["scale"] = as_int(layer["scale"], f"{where} 'scale'")
        for key, owner, values in ((ACTIVATION, "c", ACTIVATIONS), (METHOD, "s", POOL_METHODS)):
            if key in layer:
                if kind != owner:
                    raise ValueError(f"{where}: '{key}' belongs to '{owner}' layers, "
                                     f"not to a '{kind}' layer")
                spec[key] = _choice(layer[key], values, f"{where} '{key}'")
        specs.append(spec)
    return specs


def _choice(value, values, name):
    """``value`` if it is one of the strings ``values``, else a ValueError naming them."""
    if not isinstance(value, str) or value not in values:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, values))}, got {value!r}")
    return value


def check_output(net, onum=None):
    """The net's output kind: ``net["output"]`` checked, "sigm" when absent (the original).

    With ``onum`` (the number of outputs), a softmax over fewer than 2 is refused.
    """
    output = _choice(net.get(OUTPUT, OUTPUTS[0]), OUTPUTS, f"net['{OUTPUT}']")
    if output == "softmax" and onum is not None and onum < 2:
        raise ValueError(f"net['{OUTPUT}'] 'softmax' needs at least 2 outputs (rows of y or "
                         f"ffW), got {onum}: the softmax of one output is always 1")
    return output


def map_sizes(specs, rows, cols, channels=1):
    """Map size and map count of every layer for an input of rows x cols x channels.

    Follows the size arithmetic of cnnsetup.m: a ``c`` layer shrinks the map
    by kernelsize - 1, an ``s`` layer divides it by scale.  The input layer
    has ``channels`` maps (1 in the original).

    Returns
    -------
    list of (int, int, int)
        (rows, cols, maps) of each layer.
    """
    sizes = [(rows, cols, channels)]
    for index, spec in enumerate(specs[1:], start=2):
        r, c, maps = sizes[-1]
        if spec["type"] == "c":
            ks = spec["kernelsize"]
            if ks > r or ks > c:
                raise ValueError(
                    f"layer {index}: kernelsize {ks} is larger than its input map {r}x{c}")
            sizes.append((r - ks + 1, c - ks + 1, spec["outputmaps"]))
        else:
            scale = spec["scale"]
            if r % scale or c % scale:
                actual = " ".join(f"{v / scale:g}" for v in (r, c))
                raise ValueError(f"Layer {index} size must be integer. Actual: {actual}")
            sizes.append((r // scale, c // scale, maps))
    return sizes


def check_opts(opts):
    """Check training options and return (alphas, batchsize, numepochs, momentum).

    Parameters
    ----------
    opts : dict
        ``alpha``, ``batchsize`` and ``numepochs`` (positive integers;
        integer-valued floats accepted), and the opt-in keys:

        - ``alpha``: the learning rate (a float, as in the original), or a
          sequence of ``numepochs`` floats, one per epoch;
        - ``alpha_decay``: a positive float; the rate of each epoch is the
          previous epoch's times ``alpha_decay`` (with a float ``alpha`` only);
        - ``momentum``: a float in [0, 1) (see ``check_momentum``).

    Returns
    -------
    alphas : tuple of float
        The learning rate of each of the ``numepochs`` epochs:
        ``alpha``, ``alpha * alpha_decay``, ``(alpha * alpha_decay) * alpha_decay``, ...
        (one rounding per epoch, as multiplying after each epoch does).
    batchsize, numepochs : int
    momentum : float
        0.0 when ``opts`` has no ``momentum``.
    """
    if not isinstance(opts, dict):
        raise TypeError(f"opts must be a dict, got {type(opts).__name__}")
    for field in ("alpha", "batchsize", "numepochs"):
        if field not in opts:
            raise ValueError(f"opts has no '{field}'")
    batchsize = as_int(opts["batchsize"], "opts['batchsize']")
    numepochs = as_int(opts["numepochs"], "opts['numepochs']")
    alpha = opts["alpha"]
    if isinstance(alpha, (list, tuple)) or isinstance(alpha, np.ndarray) and alpha.size > 1:
        if "alpha_decay" in opts:
            raise ValueError("opts has both 'alpha_decay' and a sequence of per-epoch 'alpha'; "
                             "give one of them")
        alphas = tuple(as_float(value, f"opts['alpha'][{e}]")
                       for e, value in enumerate(np.ravel(np.asarray(alpha, dtype=object))))
        if len(alphas) != numepochs:
            raise ValueError(f"opts['alpha'] holds {len(alphas)} per-epoch rates but "
                             f"opts['numepochs'] is {numepochs}")
    else:
        alphas, decay = [as_float(alpha, "opts['alpha']")], None
        if "alpha_decay" in opts:
            decay = as_float(opts["alpha_decay"], "opts['alpha_decay']")
            if decay <= 0:
                raise ValueError(f"opts['alpha_decay'] must be positive, got {decay!r}")
        while len(alphas) < numepochs:      # alpha = alpha * alpha_decay after each epoch
            alphas.append(alphas[-1] if decay is None else alphas[-1] * decay)
            if not math.isfinite(alphas[-1]):
                raise ValueError(f"opts['alpha_decay'] = {decay!r} makes the rate of epoch "
                                 f"{len(alphas)} {alphas[-1]!r}")
        alphas = tuple(alphas)
    return alphas, batchsize, numepochs, check_momentum(opts)


def check_momentum(opts):
    """``opts["momentum"]`` as a float in [0, 1); 0.0 when absent (plain gradient descent)."""
    if "momentum" not in opts:
        return 0.0
    momentum = as_float(opts["momentum"], "opts['momentum']")
    if not 0 <= momentum < 1:
        raise ValueError(f"opts['momentum'] must be in [0, 1), got {momentum!r}")
    return momentum


def check_weights(stacked, sizes):
    """Check that a stacked net holds the weights ``cnnff`` needs, with the right shapes.

    Parameters
    ----------
    stacked : dict
        A net in the stacked layout (``stacked.stack_net``).
    sizes : list of (int, int, int)
        ``map_sizes`` for the input the net is given.
    """
    for index, layer in enumerate(stacked["layers"]):
        where = f"layer {index + 1} (net['layers'][{index}])"
        if layer["type"] != "c":
            continue
        ks, outputmaps, inputmaps = layer["kernelsize"], layer["outputmaps"], sizes[index - 1][2]
        for field, shape in (("k", (inputmaps, outputmaps, ks, ks)), ("b", (outputmaps,))):
            if field not in layer:
                raise ValueError(f"{where} has no '{field}'; run cnnsetup first")
            if layer[field].shape != shape:
                hint = (f" (the input has {inputmaps} channel(s): set the net up with x of "
                        f"that many channels)" if field == "k" and index == 1 else "")
                raise ValueError(f"{where} '{field}' must hold {_describe(field, shape)}, "
                                 f"got {_describe(field, layer[field].shape)}{hint}")
    rows, cols, maps = sizes[-1]
    fvnum = rows * cols * maps
    for field in ("ffW", "ffb"):
        if field not in stacked:
            raise ValueError(f"net has no '{field}'; run cnnsetup first")
    onum = stacked["ffW"].shape[0]
    if stacked["ffW"].shape != (onum, fvnum) or onum == 0:
        raise ValueError(f"net['ffW'] must be (onum, {fvnum}) for this input "
                         f"({maps} maps of {rows}x{cols}), got {stacked['ffW'].shape}")
    if stacked["ffb"].shape != (onum, 1):
        raise ValueError(f"net['ffb'] must be ({onum}, 1), got {stacked['ffb'].shape}")
    check_output(stacked, onum)


def check_forward(stacked):
    """Check that a stacked net holds one forward pass that fits its weights, as ``cnnbp`` needs.

    Every layer needs ``a``; all of them, ``fv`` and ``o`` must come from one
    batch of m samples, with the map sizes the layer specs give for the
    images in the input layer's ``a``; ``k``, ``b``, ``ffW`` and ``ffb`` must
    fit those sizes (``check_weights``).

    Parameters
    ----------
    stacked : dict
        A net in the stacked layout, ``a`` of shape (maps, rows, cols, m).
    """
    for field in ("o", "fv", "ffW"):
        if field not in stacked:
            raise ValueError(f"net has no '{field}'; run cnnff before cnnbp")
    layers = stacked["layers"]
    for index, layer in enumerate(layers):
        if "a" not in layer:
            raise ValueError(f"layer {index + 1} has no 'a'; run cnnff before cnnbp")
    channels, rows, cols, m = layers[0]["a"].shape
    sizes = map_sizes(layers, rows, cols, channels)
    check_weights(stacked, sizes)
    for index, (layer, (r, c, maps)) in enumerate(zip(layers, sizes)):
        if layer["a"].shape != (maps, r, c, m):
            got = layer["a"].shape
            raise ValueError(
                f"layer {index + 1} (net['layers'][{index}]) 'a' must hold {maps} maps of "
                f"{(r, c, m)} for the input batch of {(rows, cols, m)}, got {got[0]} maps of "
                f"{got[1:]}; run cnnff again")
    rows, cols, maps = sizes[-1]
    for field, nrows in (("fv", rows * cols * maps), ("o", stacked["ffW"].shape[0])):
        if stacked[field].shape != (nrows, m):
            raise ValueError(f"net['{field}'] must be ({nrows}, {m}) to match the layers' 'a', "
                             f"got {stacked[field].shape}; run cnnff again")


def check_gradients(stacked):
    """Check that a stacked net holds a gradient of each weight's shape (after ``cnnbp``).

    The pairs are ``k``/``dk`` and ``b``/``db`` of every 'c' layer,
    ``ffW``/``dffW`` and ``ffb``/``dffb``.

    Parameters
    ----------
    stacked : dict
        A net in the stacked layout.
    """
    pairs = []
    for index, layer in enumerate(stacked["layers"]):
        if layer["type"] == "c":
            where = f"layer {index + 1} (net['layers'][{index}])"
            pairs += [(layer, field, where) for field in ("k", "b")]
    pairs += [(stacked, field, "net") for field in ("ffW", "ffb")]
    for owner, field, where in pairs:
        for name in (field, "d" + field):
            if name not in owner:
                raise ValueError(f"{where} has no '{name}'; run cnnff and cnnbp first")
        weight, gradient = owner[field].shape, owner["d" + field].shape
        if gradient != weight:
            if owner is stacked:
                raise ValueError(f"net['d{field}'] must be {weight} like net['{field}'], "
                                 f"got {gradient}")
            raise ValueError(f"{where} 'd{field}' must hold {_describe(field, weight)} like "
                             f"'{field}', got {_describe(field, gradient)}")


def _describe(field, shape):
    """Words for the expected nesting of a kernel or bias field, for messages."""
    if field == "k":
        inmaps, outmaps, ks, _ = shape
        return f"{inmaps} x {outmaps} kernels of {ks}x{ks}"
    return f"{shape[0]} biases"
