"""The net's layout: its field names, its two layouts, and the checks of its fields, in one place.

The toolbox's net is a struct whose field names every routine shares; the
port keeps them as Python dict keys.  This module

* names the fields once, grouped by the shape they hold, and reads and
  writes the short layer spec used by the command line and in messages
  (``"6c5-2s-12c5-2s"``: ``NcK`` is a convolution layer of N maps with
  K x K kernels, ``Ns`` a subsampling layer of scale N; the input layer
  ``i`` comes first and may be left out; the opt-in kinds are ``NcKr``,
  ``NcKt``, ``NcKl``, ``Nm`` and the fully connected ``Nf``, see
  :func:`parse_layers`);
* normalises the values of a net's fields (``as_int``, ``as_float``,
  ``as_array``: Matlab stores every number as a double, so an
  integer-valued float ``6.0`` is accepted wherever an integer is meant;
  a float32 array stays float32, Matlab's ``single``)
* decides the precision a routine computes in (``working_dtype``,
  Matlab's rule that a ``single`` operand makes the result ``single``)
  and checks the fields against each other (``check_layers``,
  ``map_sizes``, ``check_weights``, ``check_forward``, ``check_gradients``),
  raising ``ValueError`` (or ``TypeError`` for a wrong kind of object) with
  a message naming the layer and field at fault;
* converts between the public net (Matlab's layout) and the stacked layout
  the numerical code works on, every map of a layer in one array, so that
  one matrix product covers all maps at once:

==========  ============================  ================================
field       public net (Matlab)           stacked net
==========  ============================  ================================
a, d        list of (rows, cols, m)       (maps, rows, cols, m)
k, dk       list [i] of list [j] (ks, ks) (inmaps, outmaps, ks, ks)
b, db       list of float                 (maps,)
'f' layer   W, b, a, d, dW, db matrices   the same matrices (copies)
others      as they are                   as they are (copies)
==========  ============================  ================================

With the batch as the last axis, ``a{j}`` of the public net is simply
``a[j]`` of the stacked array, a view.  ``stack_net`` copies a public net into
the stacked layout; ``unstack_net`` turns a stacked net back into a public
one whose per-map arrays are views into the stacked arrays (no copy).

Every stacked array is float64 (Matlab's ``double``) or float32 (``single``):
float32 where the public net's value was float32, float64 for anything else.
"""

import copy
import difflib
import math
import numbers
import os
import re
import sys
import warnings

import numpy as np

from .errors import UnknownKeyWarning

#: Layer types: input, convolution, subsampling, and (an opt-in, NN's layers) fully connected.
LAYER_TYPES = ("i", "c", "s", "f")

# Opt-in keys beyond the original (README, "Beyond the original"); absent means
# the original's choice, the first of each tuple of values.
#: Key of a 'c' or 'f' layer: its nonlinearity.
ACTIVATION = "activation"
#: Values of ``ACTIVATION``; "sigm" is the original's.
ACTIVATIONS = ("sigm", "relu", "tanh", "linear")
#: Key of an 's' layer: how a block is pooled.
METHOD = "method"
#: Values of ``METHOD``; "mean" is the original's.
POOL_METHODS = ("mean", "max")
#: Key of the net: the output layer and its loss.
OUTPUT = "output"
#: Values of ``OUTPUT``; "sigm" (squared error) is the original's.  "linear" (o = ffW fv +
#: ffb, squared error: regression) is NN's ``nn.output = 'linear'``.
OUTPUTS = ("sigm", "softmax", "linear")
#: Key of the net (opt-in, NN's ``nn.dropoutFraction``): the fraction p of the feature
#: vector's and each 'f' layer's values dropped in training.
DROPOUT = "dropoutFraction"
#: Key of the net and of an 'f' layer: the 0/1 mask of the last training pass (NN's name).
MASK = "dropOutMask"
#: Outputs whose values lie in [0, 1]: for them a y of class labels (integers above 1) is
#: a mistake, refused with the one-hot line (``checks.check_y``).
BOUNDED_OUTPUTS = ("sigm", "softmax")

#: Key of an 'f' layer (opt-in): its number of units N.
SIZE = "size"
#: Layer fields that describe the architecture (set by the user, not computed).
SPEC_FIELDS = ("type", "outputmaps", "kernelsize", "scale", SIZE, ACTIVATION, METHOD)
#: Layer fields holding one number.
LAYER_NUMBERS = ("outputmaps", "kernelsize", "scale", SIZE)

#: Per-layer fields that hold one entry per map: maps and deltas ``a{j}``, ``d{j}``.
MAP_FIELDS = ("a", "d")
#: Per-layer fields that hold one kernel per pair of maps ``k{i}{j}``, ``dk{i}{j}``
#: (and the opt-in momentum velocity ``vk{i}{j}``).
KERNEL_FIELDS = ("k", "dk", "vk")
#: Per-layer fields that hold one number per map ``b{j}``, ``db{j}`` (and the velocity ``vb{j}``).
BIAS_FIELDS = ("b", "db", "vb")
#: The fields of a fully connected 'f' layer (an opt-in, named as NN names them), in the order
#: the routines make them: weights ``W`` (N, inputs) and biases ``b`` (N, 1) (cnnsetup),
#: ``a`` (N, m) (cnnff), ``d`` (N, m), ``dW``, ``db`` (cnnbp), velocities ``vW``, ``vb``.  They
#: are plain arrays in both layouts: the per-map handling of MAP_FIELDS and BIAS_FIELDS, by
#: name, is for map layers only.
FULL_FIELDS = ("W", "b", "a", "d", "dW", "db", "vW", "vb", MASK)
#: Top-level arrays of the net.
ARRAY_FIELDS = ("fv", "fvd", "o", "e", "od", "ffW", "ffb", "dffW", "dffb", "vffW", "vffb", MASK)
#: Top-level fields of shape (rows, m) or (onum, fvnum).
MATRIX_FIELDS = ("fv", "fvd", "o", "e", "od", "ffW", "dffW", "vffW", MASK)
#: Top-level fields of shape (onum, 1).
COLUMN_FIELDS = ("ffb", "dffb", "vffb")
#: Top-level fields that hold one column per sample of the last batch.
SAMPLE_FIELDS = ("fv", "fvd", "o", "e", "od", MASK)
#: Top-level fields that sum over the samples of a batch (gradients and loss).
GRADIENT_FIELDS = ("dffW", "dffb", "L")
#: The weights: what ``cnnapplygrads`` changes (``W`` of 'f' layers an opt-in).
WEIGHT_FIELDS = ("k", "b", "W", "ffW", "ffb")
#: The weights of each kind of layer that has any (each with its gradient ``"d" + field``).
LAYER_WEIGHTS = {"c": ("k", "b"), "f": ("W", "b")}
#: The weights ``opts["weightPenaltyL2"]`` decays (every weight but the biases).
PENALISED = ("k", "W", "ffW")
#: The momentum velocity of each weight (opt-in: only with ``opts["momentum"]``).
VELOCITY_FIELDS = {"k": "vk", "b": "vb", "W": "vW", "ffW": "vffW", "ffb": "vffb"}
#: Key of opts: the L2 weight penalty (opt-in; NN/nnapplygrads.m's ``nn.weightPenaltyL2``).
PENALTY = "weightPenaltyL2"
#: Fields of the training options struct ``opts`` (the last three are opt-in).
OPTS_FIELDS = ("alpha", "batchsize", "numepochs", "momentum", "alpha_decay", PENALTY)

#: The order in which the toolbox's routines create the net's fields, top
#: level then per layer: cnnsetup.m (lines 34-35: ffb, ffW; k, b), cnntrain.m
#: (line 7: rL), cnnff.m (a; fv, o), cnnbp.m (e, L, od, fvd; d, dk, db;
#: dffW, dffb).  A net trained by the original has its fields in this order
#: after the ones its user made (``layers``; ``type``, ``outputmaps``,
#: ``kernelsize``, ``scale``); saved nets follow it (``matfile.netshape``).
#: The opt-in momentum velocities, made by the first step with momentum
#: (``cnnapplygrads``), come last.
TOOLBOX_ORDER = (("ffb", "ffW", "rL", "fv", "o", "e", "L", "od", "fvd", "dffW", "dffb",
                  "vffW", "vffb"),
                 ("k", "b", "a", "d", "dk", "db", "vk", "vb"))

#: Every key each level may hold, the one table of known keys: what the toolbox's
#: example and routines write (SPEC_FIELDS, TOOLBOX_ORDER, OPTS_FIELDS), the port's
#: opt-in keys and momentum velocities, and the net's ``testing`` (NN/nnpredict.m
#: sets ``nn.testing``; ``cnnpredict`` sets it on its copy).  Any other key is
#: named in a warning (``check_keys``); a new opt-in key is added here.
KNOWN_KEYS = {
    "net": ("layers",) + TOOLBOX_ORDER[0] + (OUTPUT, "testing", DROPOUT, MASK),
    "layer": SPEC_FIELDS + TOOLBOX_ORDER[1] + ("W", "dW", "vW", MASK),
    "opts": OPTS_FIELDS,
}
#: Keys a layer of each type and ``cnntrain``'s opts cannot do without (beyond a
#: layer's ``type`` and the net's ``layers``).
REQUIRED_KEYS = {
    "c": ("outputmaps", "kernelsize"),
    "s": ("scale",),
    "f": (SIZE,),
    "opts": ("alpha", "batchsize", "numepochs"),
}
#: Other names for a known key, written as ``nearest_key`` compares them (lower
#: case, without ``_`` and ``-``): the names other toolboxes and the NN part use.
KEY_SYNONYMS = {
    "learningrate": "alpha", "lr": "alpha", "eta": "alpha", "rate": "alpha",
    "epochs": "numepochs", "nepochs": "numepochs", "maxepochs": "numepochs",
    "batch": "batchsize", "minibatchsize": "batchsize", "minibatch": "batchsize",
    "mu": "momentum", "lrdecay": "alpha_decay", "learningratedecay": "alpha_decay",
    "scalinglearningrate": "alpha_decay", "decay": "alpha_decay",
    "weightdecay": PENALTY, "l2": PENALTY, "weightpenalty": PENALTY, "lambda": PENALTY,
    "maps": "outputmaps", "nmaps": "outputmaps", "filters": "outputmaps",
    "numfilters": "outputmaps", "kernel": "kernelsize", "ksize": "kernelsize",
    "filtersize": "kernelsize", "poolsize": "scale", "pool": "scale",
    "units": SIZE, "neurons": SIZE, "nunits": SIZE, "hidden": SIZE,
    "pooling": "method", "poolmethod": "method", "activationfunction": "activation",
    "nonlinearity": "activation", "act": "activation", "outputtype": "output",
    "dropout": DROPOUT, "droprate": DROPOUT, "dropoutrate": DROPOUT,
}

#: The net of the toolbox's MNIST example (tests/test_example_CNN.m, lines 15-21).
DEFAULT_LAYERS = "6c5-2s-12c5-2s"

#: Suffix of a 'c' part of the spec -> its "activation" (no suffix: the original's sigmoid).
ACTIVATION_SUFFIXES = {"r": "relu", "t": "tanh", "l": "linear"}
#: Letter of an 's' part of the spec -> its "method" ("s": the original's mean).
POOL_LETTERS = {"s": "mean", "m": "max"}

_CONV = re.compile(r"(\d+)c(\d+)([rtl]?)")
_FULL = re.compile(r"(\d+)f([rtl]?)")
_SUB = re.compile(r"(\d+)([sm])")


def parse_layers(spec: str) -> list[dict]:
    """Turn ``"6c5-2s-12c5-2s"`` into the toolbox's ``net.layers``.

    Parameters
    ----------
    spec : str
        Parts joined by ``-``, any number in any order after an optional
        leading ``i``:

        - ``NcK``: a convolution layer with N output maps and K x K kernels
          and the original's sigmoid; ``NcKr``, ``NcKt``, ``NcKl`` the same
          with ``"activation"`` ``"relu"``, ``"tanh"``, ``"linear"``;
        - ``Ns``: a subsampling layer of scale N (the original's mean);
          ``Nm`` the same with ``"method": "max"``;
        - ``Nf``: a fully connected layer of N units (an opt-in, after the
          map layers) with a sigmoid; ``Nfr``, ``Nft``, ``Nfl`` relu, tanh, linear.

        The original's kinds get no ``activation``/``method`` key, so
        ``"6c5-2s-12c5-2s"`` is exactly the toolbox's net.

    Returns
    -------
    list of dict
        ``[{"type": "i"}, {"type": "c", "outputmaps": 6, "kernelsize": 5},
        {"type": "s", "scale": 2}, ...]``.

    Raises
    ------
    TypeError
        ``spec`` is not a string.
    ValueError
        A part of the spec that is none of these forms, a zero size, or no layers.
    """
    if not isinstance(spec, str):
        raise TypeError(f"layers spec must be a string like {DEFAULT_LAYERS!r}")
    parts = spec.strip().split("-")
    if parts[0] == "i":
        parts = parts[1:]
    layers = [{"type": "i"}]
    for part in parts:
        conv, sub, full = _CONV.fullmatch(part), _SUB.fullmatch(part), _FULL.fullmatch(part)
        if full and int(full[1]) > 0:
            layers.append({"type": "f", SIZE: int(full[1])})
            if full[2]:
                layers[-1]["activation"] = ACTIVATION_SUFFIXES[full[2]]
        elif conv and int(conv[1]) > 0 and int(conv[2]) > 0:
            layers.append({"type": "c", "outputmaps": int(conv[1]), "kernelsize": int(conv[2])})
            if conv[3]:
                layers[-1]["activation"] = ACTIVATION_SUFFIXES[conv[3]]
        elif sub and int(sub[1]) > 0:
            layers.append({"type": "s", "scale": int(sub[1])})
            if sub[2] != "s":
                layers[-1]["method"] = POOL_LETTERS[sub[2]]
        else:
            raise ValueError(
                f"layers spec {spec!r}: cannot read {part!r} (expected NcK for a convolution "
                f"layer, NcKr/NcKt/NcKl for relu/tanh/linear, Ns for mean pooling or Nm for "
                f"max pooling, Nf for a fully connected layer (Nfr/Nft/Nfl), e.g. "
                f"{DEFAULT_LAYERS!r}, '6c5r-2m-12c5r-2m' or '6c5-2s-12c5-2s-100f')")
    if len(layers) == 1:
        raise ValueError(f"layers spec {spec!r} has no layers")
    return layers


def _spec_number(value):
    """A layer number for display: ``6`` for 6 or 6.0, the value itself otherwise."""
    try:
        return int(value) if float(value) == int(value) else value
    except (TypeError, ValueError, OverflowError):
        return value


def format_layers(layers: list[dict], with_input: bool = False) -> str:
    """The inverse of :func:`parse_layers`: ``net.layers`` -> ``"6c5-2s-12c5-2s"``.

    Any list of layer dicts is described, also an invalid one (for
    messages): a missing number prints as ``None``, an unknown type as
    itself, an unknown activation or method in brackets (``6c5(swish)``).

    Parameters
    ----------
    layers : list of dict
    with_input : bool
        Write the input layer too (``"i-6c5-2s"``).
    """
    suffixes = {name: letter for letter, name in ACTIVATION_SUFFIXES.items()}
    letters = {name: letter for letter, name in POOL_LETTERS.items()}
    parts = []
    for layer in layers:
        kind = layer.get("type")
        activation = layer.get("activation", "sigm")
        suffix = "" if activation == "sigm" else suffixes.get(activation, f"({activation})")
        if kind == "c":
            maps, size = (_spec_number(layer.get(key)) for key in ("outputmaps", "kernelsize"))
            parts.append(f"{maps}c{size}{suffix}")
        elif kind == "f":
            parts.append(f"{_spec_number(layer.get(SIZE))}f{suffix}")
        elif kind == "s":
            method = layer.get("method", "mean")
            parts.append(f"{_spec_number(layer.get('scale'))}{letters.get(method, f's({method})')}")
        elif kind != "i" or with_input:
            parts.append(str(kind))
    return "-".join(parts)


# --- normalisers of a field's value --------------------------------------------

#: How messages name a key of each level: ``{where}`` is the layer's place.
_KEY_NAMES = {"net": "net['{key}']", "layer": "{where} '{key}'", "opts": "opts['{key}']"}
#: The package's folder: warnings point at the first caller outside it.
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _normal(key):
    """A key as :func:`nearest_key` compares it: lower case, without ``_``, ``-`` and spaces."""
    return key.lower().replace("_", "").replace("-", "").replace(" ", "")


def nearest_key(key, level):
    """The known key that ``key`` most likely means, and the level it belongs to.

    Looked for first among ``level``'s keys (``KNOWN_KEYS``), then
    among the other levels' (``"momentum"`` given to the net belongs to
    opts): the same key but for case, ``_`` and ``-`` (``ffw`` -> ``ffW``,
    ``alphaDecay`` -> ``alpha_decay``), a name of ``KEY_SYNONYMS``
    (``learningRate`` -> ``alpha``), or a close spelling (``momentun`` ->
    ``momentum``, difflib ratio 0.75 or more).

    Parameters
    ----------
    key : str
    level : {"net", "layer", "opts"}

    Returns
    -------
    (str, str) or None
        The known key and its level; None when nothing is near.
    """
    if not isinstance(key, str):
        return None
    normal = _normal(key)
    levels = [level] + [other for other in KNOWN_KEYS if other != level]
    for match in (lambda known: _normal(known) == normal,
                  lambda known: KEY_SYNONYMS.get(normal) == known):
        for where in levels:
            for known in KNOWN_KEYS[where]:
                if match(known):
                    return known, where
    for where in levels:
        forms = {_normal(known): known for known in KNOWN_KEYS[where]}
        close = difflib.get_close_matches(normal, list(forms), n=1, cutoff=0.75)
        if close:
            return forms[close[0]], where
    return None


def _suggestion(key, level, where=""):
    """``"did you mean 'alpha'?"`` for ``key`` of ``level``; the known keys when none is near."""
    near = nearest_key(key, level)
    if near is None:
        return f"the known keys are {', '.join(map(repr, KNOWN_KEYS[level]))}"
    known, owner = near
    if owner == level:
        return f"did you mean {known!r}?"
    if owner == "layer":
        return f"did you mean {known!r}? it is a key of a layer (net['layers'][l])"
    return f"did you mean {_KEY_NAMES[owner].format(key=known, where=where)}? it belongs in {owner}"


def check_keys(owner, level, where=""):
    """Warn of every key of ``owner`` no routine reads, naming the nearest known key.

    Matlab ignores such a struct field, so a misspelt option trains silently
    without it; the port names it (``UnknownKeyWarning``), once per call site
    and key as Python's warnings filter does.

    Parameters
    ----------
    owner : dict
        The net, one layer or opts.
    level : {"net", "layer", "opts"}
        Which of them (``KNOWN_KEYS``).
    where : str
        How messages name a layer, e.g. ``"layer 2 (net['layers'][1])"``.
    """
    for key in owner:
        if key not in KNOWN_KEYS[level]:
            name = _KEY_NAMES[level].format(key=key, where=where)
            _warn(f"{name} is not a key of the toolbox and is ignored: "
                  f"{_suggestion(key, level, where)}")


def missing_key(owner, key, level):
    """The hint for a missing required ``key`` that ``owner`` misspells, else ``""``.

    `` (it has 'learningrate': did you mean 'alpha'?)``, for the message of
    a required key that is missing: an unknown key of
    ``owner`` whose nearest known key is ``key``.
    """
    for other in owner:
        if other not in KNOWN_KEYS[level] and nearest_key(other, level) == (key, level):
            return f" (it has {other!r}: did you mean {key!r}?)"
    return ""


def _warn(message):
    """``warnings.warn`` an ``UnknownKeyWarning`` at the first caller outside the package."""
    frame, level = sys._getframe(0), 1                 # level 1: this function
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UnknownKeyWarning, stacklevel=level)


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


def as_float(value, name, finite=True):
    """Return ``value`` as a Python float (also from a one-element array).

    ``finite``: refuse NaN and Inf (a ValueError); False for a loaded net,
    which may hold the loss of a run that diverged.
    """
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        result = float(value)
    except OverflowError:                   # an int beyond any float
        result = math.inf
    if finite and not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def as_array(value, name, ndim=None, shape=None, copy=True, finite=True):
    """Return ``value`` as a float ndarray, checking its shape (and that it is finite).

    A float32 array stays float32 (Matlab's ``single``); anything else
    (float64, integers, bools, float16) becomes float64.

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
        Always copy (True), or only when ``value`` is not float64 or float32 already.
    finite : bool
        Refuse NaN and Inf (a ValueError); False for a loaded net.
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
    array = array.astype(np.float32 if array.dtype == np.float32 else np.float64, copy=copy)
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {array.shape}")
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    if finite and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or Inf")
    return array


# --- the precision -------------------------------------------------------------

#: The two precisions: Matlab's ``double`` and ``single``.
DOUBLE, SINGLE = np.dtype(np.float64), np.dtype(np.float32)


def working_dtype(stacked, *arrays):
    """The precision a routine computes in: float32 if any operand is, else float64.

    Matlab's rule: an operation with a ``single`` operand gives a ``single``
    result, so a net with a float32 weight, map or gradient, or a float32 x
    or y, makes every map, delta and gradient computed from them float32
    (and the weights, after one step of ``cnnapplygrads``).

    Parameters
    ----------
    stacked : dict
        A net in the stacked layout (``stack_net`` keeps float32 fields float32).
    *arrays : ndarray
        The other operands: x, y (as ``checks.check_x``, ``check_y`` return them).

    Returns
    -------
    numpy.dtype
        ``SINGLE`` or ``DOUBLE``.
    """
    fields = [stacked.get(key) for key in ARRAY_FIELDS]
    fields += [layer.get(key) for layer in stacked["layers"] for key in layer_arrays(layer)]
    for value in list(arrays) + fields:
        if isinstance(value, np.ndarray) and value.dtype == SINGLE:
            return SINGLE
    return DOUBLE


def layer_arrays(layer):
    """The array fields a layer may hold: an 'f' layer's ``FULL_FIELDS`` (its mask among
    them), a map layer's maps, kernels and biases."""
    return FULL_FIELDS if layer["type"] == "f" else MAP_FIELDS + KERNEL_FIELDS + BIAS_FIELDS


def cast_net(stacked, dtype, fields=None):
    """Cast a stacked net's arrays to ``dtype`` in place (no copy of those that are already).

    Parameters
    ----------
    stacked : dict
        A net in the stacked layout.
    dtype : numpy.dtype
        ``SINGLE`` or ``DOUBLE`` (``working_dtype``).
    fields : tuple of str, optional
        Only these fields (of the net and of its layers); default every array
        field (maps, kernels, biases, fv, o, ffW, ...; ``rL`` is not one).

    Returns
    -------
    dict
        ``stacked``.
    """
    owners = [(stacked, ARRAY_FIELDS)]
    owners += [(layer, layer_arrays(layer)) for layer in stacked["layers"]]
    for owner, names in owners:
        for key in names:
            if key in owner and (fields is None or key in fields):
                owner[key] = owner[key].astype(dtype, copy=False)
    return stacked


# --- checks of a net's fields --------------------------------------------------

def check_net(net):
    """Check that ``net`` is a dict with valid ``layers``; return their specs (``check_layers``).

    Raises
    ------
    TypeError
        ``net`` is not a dict.
    ValueError
        It has no ``layers``.
    """
    if not isinstance(net, dict):
        raise TypeError(f"net must be a dict, got {type(net).__name__}")
    if "layers" not in net:
        raise ValueError(f"net has no 'layers' field{missing_key(net, 'layers', 'net')}")
    return check_layers(net["layers"])


def check_layers(layers):
    """Check a layer list and return the layer specs with ints for sizes.

    Layer 1 is the input layer ``i``; after it come ``c`` and ``s`` layers in
    any order, or none (the output layer then reads the pixels), then any
    number of fully connected ``f`` layers (an opt-in).  The
    original alternates them; any order and the input layer alone are
    opt-ins that its routines run too (the input alone) or fail on.  A key
    no routine reads is named in a warning (:func:`check_keys`); a missing
    required key, with the misspelling the layer has instead.

    Returns
    -------
    list of dict
        One dict per layer with ``type`` and, as ints, ``outputmaps`` and
        ``kernelsize`` (``c``), ``scale`` (``s``) or ``size`` (``f``);
        ``activation`` (``c``, ``f``) and ``method`` (``s``) when the layer
        has them.
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
            raise ValueError(f"{where} has no 'type'{missing_key(layer, 'type', 'layer')}")
        kind = layer["type"]
        if not isinstance(kind, str) or kind not in LAYER_TYPES:
            raise ValueError(f"{where} has unknown type {kind!r}; expected 'i', 'c', 's' or 'f'")
        if index == 0 and kind != "i":
            raise ValueError(f"{where} must be the input layer 'i', got {kind!r}")
        if index > 0 and kind == "i":
            raise ValueError(f"{where}: only the first layer may be an input layer 'i'")
        if kind in "cs" and specs and specs[-1]["type"] == "f":
            raise ValueError(f"{where}: a {kind!r} layer cannot follow a fully connected 'f' "
                             f"layer; the 'f' layers come after the last map layer")
        spec = {"type": kind}
        for field in REQUIRED_KEYS.get(kind, ()):
            if field not in layer:
                raise ValueError(f"{where} is {'an' if kind in 'sf' else 'a'} {kind!r} layer "
                                 f"without '{field}'{missing_key(layer, field, 'layer')}")
            spec[field] = as_int(layer[field], f"{where} '{field}'")
        check_keys(layer, "layer", where)
        _check_numbers_belong(layer, kind, where)
        for key, owners, values in ((ACTIVATION, "cf", ACTIVATIONS), (METHOD, "s", POOL_METHODS)):
            if key in layer:
                if kind not in owners:
                    raise ValueError(f"{where}: '{key}' belongs to "
                                     f"{' and '.join(repr(o) for o in owners)} layers, "
                                     f"not to a '{kind}' layer")
                spec[key] = _choice(layer[key], values, f"{where} '{key}'")
        specs.append(spec)
    return specs


def _check_numbers_belong(layer, kind, where):
    """Refuse ``size`` on a map layer and a map layer's number on an 'f' layer (opt-in kinds).

    Either would be ignored silently: a 'c' layer's ``size`` is no kernel
    size, an 'f' layer's ``outputmaps`` no number of units.
    """
    owners = {SIZE: "f", "outputmaps": "c", "kernelsize": "c", "scale": "s"}
    for key, owner in owners.items():
        if key in layer and "f" in (kind, owner) and kind != owner:
            raise ValueError(f"{where}: '{key}' belongs to '{owner}' layers, not to "
                             f"{'an' if kind in 'sfi' else 'a'} '{kind}' layer")


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


def check_dropout(net):
    """``net["dropoutFraction"]`` as a float in [0, 1); 0.0 when absent (no dropout)."""
    if DROPOUT not in net:
        return 0.0
    p = as_float(net[DROPOUT], f"net['{DROPOUT}']")
    if not 0 <= p < 1:
        raise ValueError(f"net['{DROPOUT}'] must be in [0, 1), got {p!r}")
    return p


def is_testing(net):
    """Whether ``net["testing"]`` is set (true, or a nonzero number as MATLAB stores it)."""
    value = net.get("testing", False)
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if not isinstance(value, (bool, np.bool_, numbers.Real)):
        raise TypeError(f"net['testing'] must be true or false, got {value!r}")
    return bool(value)


def map_sizes(specs, rows, cols, channels=1):
    """Map size and map count of every layer for an input of rows x cols x channels.

    Follows the size arithmetic of cnnsetup.m: a ``c`` layer shrinks the map
    by kernelsize - 1, an ``s`` layer divides it by scale.  The input layer
    has ``channels`` maps (1 in the original).  An ``f`` layer (an opt-in)
    is (1, 1, size): its units as maps of one pixel, so that the values of
    every layer are rows * cols * maps and ``sizes[-1]`` gives the columns
    of ``ffW`` in every net.

    Returns
    -------
    list of (int, int, int)
        (rows, cols, maps) of each layer.
    """
    sizes = [(rows, cols, channels)]
    for index, spec in enumerate(specs[1:], start=2):
        r, c, maps = sizes[-1]
        if spec["type"] == "f":
            sizes.append((1, 1, spec[SIZE]))
        elif spec["type"] == "c":
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


def last_map_layer(layers):
    """The index of the last layer with maps (not 'f'): the layer whose maps make ``fv``."""
    return max(l for l, layer in enumerate(layers) if layer["type"] != "f")


def full_layers(layers):
    """The indices of the fully connected 'f' layers (after ``last_map_layer``), bottom up."""
    return [l for l, layer in enumerate(layers) if layer["type"] == "f"]


def image_shape(x):
    """(rows, cols, channels) of a checked batch: channels is 1 for a 3-D ``x``."""
    return x.shape[0], x.shape[1], x.shape[2] if x.ndim == 4 else 1


def check_weights(stacked, sizes):
    """Check that a stacked net holds the weights ``cnnff`` needs, with the right shapes.

    Parameters
    ----------
    stacked : dict
        A net in the stacked layout (``stack_net``).
    sizes : list of (int, int, int)
        ``map_sizes`` for the input the net is given.
    """
    for index, layer in enumerate(stacked["layers"]):
        where = f"layer {index + 1} (net['layers'][{index}])"
        if layer["type"] == "f":
            _check_full_weights(layer, where, sizes[index - 1], sizes[index][2])
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
            raise ValueError(f"net has no '{field}'{missing_key(stacked, field, 'net')}; "
                             f"run cnnsetup first")
    onum = stacked["ffW"].shape[0]
    if stacked["ffW"].shape != (onum, fvnum) or onum == 0:
        source = (f"the {fvnum} units of the last 'f' layer" if stacked["layers"][-1]["type"] == "f"
                  else f"{maps} maps of {rows}x{cols}")
        raise ValueError(f"net['ffW'] must be (onum, {fvnum}) for this input "
                         f"({source}), got {stacked['ffW'].shape}")
    if stacked["ffb"].shape != (onum, 1):
        raise ValueError(f"net['ffb'] must be ({onum}, 1), got {stacked['ffb'].shape}")
    check_output(stacked, onum)


def _check_full_weights(layer, where, below, size):
    """An 'f' layer's ``W`` (size, inputs) and ``b`` (size, 1), inputs the values of the layer below."""
    inputs = below[0] * below[1] * below[2]
    for field, shape in (("W", (size, inputs)), ("b", (size, 1))):
        if field not in layer:
            raise ValueError(f"{where} has no '{field}'; run cnnsetup first")
        if layer[field].shape != shape:
            raise ValueError(f"{where} '{field}' must be {shape} for this input "
                             f"({inputs} values below), got {layer[field].shape}")


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
        if layer["type"] == "f":
            if layer["a"].shape != (maps, m):
                raise ValueError(f"layer {index + 1} (net['layers'][{index}]) 'a' must be "
                                 f"{(maps, m)}, got {layer['a'].shape}; run cnnff again")
        elif layer["a"].shape != (maps, r, c, m):
            got = layer["a"].shape
            raise ValueError(
                f"layer {index + 1} (net['layers'][{index}]) 'a' must hold {maps} maps of "
                f"{(r, c, m)} for the input batch of {(rows, cols, m)}, got {got[0]} maps of "
                f"{got[1:]}; run cnnff again")
    rows, cols, maps = sizes[last_map_layer(layers)]
    for field, nrows in (("fv", rows * cols * maps), ("o", stacked["ffW"].shape[0])):
        if stacked[field].shape != (nrows, m):
            raise ValueError(f"net['{field}'] must be ({nrows}, {m}) to match the layers' 'a', "
                             f"got {stacked[field].shape}; run cnnff again")
    if check_dropout(stacked) and not is_testing(stacked):
        check_masks(stacked, m)


def check_masks(stacked, m):
    """Check that a net with dropout holds the masks of a training pass of m samples."""
    fulls = full_layers(stacked["layers"])
    owners = [(stacked, "net", stacked["fv"].shape[0])]
    owners += [(stacked["layers"][l], f"layer {l + 1} (net['layers'][{l}])",
                stacked["layers"][l][SIZE]) for l in fulls]
    for owner, where, rows in owners:
        if MASK not in owner or owner[MASK].shape != (rows, m):
            got = owner[MASK].shape if MASK in owner else "none"
            raise ValueError(f"{where} '{MASK}' must be ({rows}, {m}), the mask of the training "
                             f"pass with net['{DROPOUT}'], got {got}; run cnnff again")


def check_gradients(stacked):
    """Check that a stacked net holds a gradient of each weight's shape (after ``cnnbp``).

    The pairs are ``k``/``dk`` and ``b``/``db`` of every 'c' layer, ``W``/``dW``
    and ``b``/``db`` of every 'f' layer, ``ffW``/``dffW`` and ``ffb``/``dffb``.

    Parameters
    ----------
    stacked : dict
        A net in the stacked layout.
    """
    pairs = []
    for index, layer in enumerate(stacked["layers"]):
        where = f"layer {index + 1} (net['layers'][{index}])"
        pairs += [(layer, field, where) for field in LAYER_WEIGHTS.get(layer["type"], ())]
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
            if owner["type"] == "f":
                raise ValueError(f"{where} 'd{field}' must be {weight} like '{field}', "
                                 f"got {gradient}")
            raise ValueError(f"{where} 'd{field}' must hold {_describe(field, weight)} like "
                             f"'{field}', got {_describe(field, gradient)}")


def _describe(field, shape):
    """Words for the expected nesting of a kernel or bias field, for messages."""
    if field == "k":
        inmaps, outmaps, ks, _ = shape
        return f"{inmaps} x {outmaps} kernels of {ks}x{ks}"
    return f"{shape[0]} biases"


# --- Matlab layout <-> stacked layout ------------------------------------------

def as_cell(value, name, empty=False):
    """A Matlab cell as a Python list: a list, a tuple or an object array.

    ``empty``: accept an empty cell (as loaded, an empty array of any type),
    else an empty one is a ValueError.
    """
    if isinstance(value, np.ndarray) and (value.dtype == object or value.size == 0):
        value = list(value.ravel())
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list (a Matlab cell), got {type(value).__name__}")
    if len(value) == 0 and not empty:
        raise ValueError(f"{name} is empty")
    return list(value)


def stack_maps(maps, name):
    """Stack a list of (rows, cols, m) maps into one (nmaps, rows, cols, m) array."""
    arrays = []
    for j, a in enumerate(as_cell(maps, name)):
        a = as_array(a, f"{name}[{j}]")
        if a.ndim == 2:          # Matlab drops the trailing 1 of a 1-sample batch
            a = a[:, :, np.newaxis]
        if a.ndim != 3 or (arrays and a.shape != arrays[0].shape):
            raise ValueError(f"{name}[{j}] must be (rows, cols, m) like {name}[0], got {a.shape}")
        arrays.append(a)
    return np.stack(arrays)


def stack_kernels(kernels, name):
    """Stack nested lists k[i][j] of (ks, ks) kernels into (inmaps, outmaps, ks, ks).

    Every row must hold as many kernels as the first, every kernel the first's
    shape; whether they fit the layer is ``check_weights``'s question.
    """
    rows = [as_cell(row, f"{name}[{i}]") for i, row in enumerate(as_cell(kernels, name))]
    outmaps, shape = len(rows[0]), np.shape(rows[0][0])
    stacked = []
    for i, row in enumerate(rows):
        if len(row) != outmaps:
            raise ValueError(
                f"{name}[{i}] must have {outmaps} kernels (one per output map), got {len(row)}")
        stacked.append([as_array(kernel, f"{name}[{i}][{j}]", ndim=2, shape=shape)
                        for j, kernel in enumerate(row)])
    single = any(kernel.dtype == SINGLE for row in stacked for kernel in row)
    return np.array(stacked, dtype=SINGLE if single else DOUBLE)


def stack_biases(biases, name):
    """A list of scalar biases as a (maps,) array: float32 if one of them is (single wins)."""
    biases = as_cell(biases, name)
    single = any(np.asarray(v).dtype == SINGLE for v in biases
                 if isinstance(v, (np.ndarray, np.generic)))
    values = [as_float(v, f"{name}[{j}]") for j, v in enumerate(biases)]
    return np.array(values, dtype=SINGLE if single else DOUBLE)    # float32 -> float: exact


def _stack_layer(layer, spec, index):
    """One layer of ``stack_net``: its spec (ints) and its stacked fields.

    An 'f' layer's fields (``FULL_FIELDS``) are arrays in both layouts.
    """
    out = dict(spec)
    for key, value in layer.items():
        name = f"net['layers'][{index}]['{key}']"
        if key in spec:
            continue
        if spec["type"] == "f" and key in FULL_FIELDS:
            out[key] = as_array(value, name, ndim=2)
        elif key in MAP_FIELDS:
            out[key] = stack_maps(value, name)
        elif key in KERNEL_FIELDS:
            out[key] = stack_kernels(value, name)
        elif key in BIAS_FIELDS:
            out[key] = stack_biases(value, name)
        else:
            out[key] = copy.deepcopy(value)
    return out


def stack_net(net):
    """Copy a public net into the stacked layout.

    Only the layer specs are required here; every other known field is
    stacked if present.  The routines check the fields they need.

    Parameters
    ----------
    net : dict
        A net in Matlab's layout (see the module docstring).

    Returns
    -------
    dict
        The same fields in the stacked layout, all arrays fresh copies, each
        in its precision (float32 if it was float32, else float64; ``cast_net``
        casts them to one).
    """
    specs = check_net(net)
    check_keys(net, "net")
    stacked = {}
    for key, value in net.items():
        if key == "layers":
            stacked[key] = [_stack_layer(layer, spec, index)
                            for index, (layer, spec) in enumerate(zip(value, specs))]
        elif key in ARRAY_FIELDS:
            stacked[key] = as_array(value, f"net['{key}']", ndim=2)
        elif key == "L":
            stacked[key] = as_float(value, "net['L']")
        elif key == "rL":
            stacked[key] = as_array(value, "net['rL']").ravel()
        else:
            stacked[key] = copy.deepcopy(value)
    return stacked


def stack_for_input(net, x):
    """``stack_net``, then check that the net's weights fit images like ``x``.

    Parameters
    ----------
    net : dict
        A public net.
    x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
        A checked batch (``checks.check_x``).

    Returns
    -------
    dict
        The net in the stacked layout.
    """
    stacked = stack_net(net)
    check_weights(stacked, map_sizes(stacked["layers"], *image_shape(x)))
    return stacked


def unstack_net(stacked):
    """Turn a stacked net into a public net (per-map views, no copies).

    Parameters
    ----------
    stacked : dict
        A net in the stacked layout, as ``stack_net`` or the routines make it.

    Returns
    -------
    dict
        The net in Matlab's layout: ``a[j]`` (rows, cols, m), ``k[i][j]``
        (ks, ks), ``b[j]`` float (a float32 scalar in a float32 net), and so on.
    """
    net = {}
    for key, value in stacked.items():
        if key == "layers":
            layers = []
            for layer in value:
                out = {}
                for field, item in layer.items():
                    if layer["type"] == "f":
                        out[field] = item
                    elif field in MAP_FIELDS:
                        out[field] = list(item)
                    elif field in KERNEL_FIELDS:
                        out[field] = [list(row) for row in item]
                    elif field in BIAS_FIELDS:
                        out[field] = (list(item) if item.dtype == SINGLE
                                      else [float(v) for v in item])
                    else:
                        out[field] = item
                layers.append(out)
            net["layers"] = layers
        else:
            net[key] = value
    return net
