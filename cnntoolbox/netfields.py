"""The net's field names and the layer-spec string, in one place.

The toolbox's net is a struct whose field names every routine shares; the
port keeps them as Python dict keys.  This module names them once, grouped
by the shape they hold, and reads and writes the short layer spec used by
the command line and in messages (``"6c5-2s-12c5-2s"``: ``NcK`` is a
convolution layer of N maps with K x K kernels, ``Ns`` a subsampling layer
of scale N; the input layer ``i`` comes first and may be left out; the
opt-in kinds are ``NcKr``, ``NcKt``, ``NcKl`` and ``Nm``, see
:func:`parse_layers`).
"""

import re

#: Layer types: input, convolution, subsampling.
LAYER_TYPES = ("i", "c", "s")

# Opt-in keys beyond the original (README, "Beyond the original"); absent means
# the original's choice, the first of each tuple of values.
#: Key of a 'c' layer: its nonlinearity.
ACTIVATION = "activation"
#: Values of ``ACTIVATION``; "sigm" is the original's.
ACTIVATIONS = ("sigm", "relu", "tanh", "linear")
#: Key of an 's' layer: how a block is pooled.
METHOD = "method"
#: Values of ``METHOD``; "mean" is the original's.
POOL_METHODS = ("mean", "max")
#: Key of the net: the output layer and its loss.
OUTPUT = "output"
#: Values of ``OUTPUT``; "sigm" (squared error) is the original's.
OUTPUTS = ("sigm", "softmax")
#: Outputs whose values lie in [0, 1]: for them a y of class labels (integers above 1) is
#: a mistake, refused with the one-hot line (``checks.check_y``).
BOUNDED_OUTPUTS = ("sigm", "softmax")

#: Layer fields that describe the architecture (set by the user, not computed).
SPEC_FIELDS = ("type", "outputmaps", "kernelsize", "scale", ACTIVATION, METHOD)
#: Layer fields holding one number.
LAYER_NUMBERS = ("outputmaps", "kernelsize", "scale")

#: Per-layer fields that hold one entry per map: maps and deltas ``a{j}``, ``d{j}``.
MAP_FIELDS = ("a", "d")
#: Per-layer fields that hold one kernel per pair of maps ``k{i}{j}``, ``dk{i}{j}``
#: (and the opt-in momentum velocity ``vk{i}{j}``).
KERNEL_FIELDS = ("k", "dk", "vk")
#: Per-layer fields that hold one number per map ``b{j}``, ``db{j}`` (and the velocity ``vb{j}``).
BIAS_FIELDS = ("b", "db", "vb")
#: Top-level arrays of the net.
ARRAY_FIELDS = ("fv", "fvd", "o", "e", "od", "ffW", "ffb", "dffW", "dffb", "vffW", "vffb")
#: Top-level fields of shape (rows, m) or (onum, fvnum).
MATRIX_FIELDS = ("fv", "fvd", "o", "e", "od", "ffW", "dffW", "vffW")
#: Top-level fields of shape (onum, 1).
COLUMN_FIELDS = ("ffb", "dffb", "vffb")
#: Top-level fields that hold one column per sample of the last batch.
SAMPLE_FIELDS = ("fv", "fvd", "o", "e", "od")
#: Top-level fields that sum over the samples of a batch (gradients and loss).
GRADIENT_FIELDS = ("dffW", "dffb", "L")
#: The weights: what ``cnnapplygrads`` changes.
WEIGHT_FIELDS = ("k", "b", "ffW", "ffb")
#: The momentum velocity of each weight (opt-in: only with ``opts["momentum"]``).
VELOCITY_FIELDS = {"k": "vk", "b": "vb", "ffW": "vffW", "ffb": "vffb"}
#: Fields of the training options struct ``opts`` (the last two are opt-in).
OPTS_FIELDS = ("alpha", "batchsize", "numepochs", "momentum", "alpha_decay")

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
#: named in a warning (``checks.check_keys``); a new opt-in key is added here.
KNOWN_KEYS = {
    "net": ("layers",) + TOOLBOX_ORDER[0] + (OUTPUT, "testing"),
    "layer": SPEC_FIELDS + TOOLBOX_ORDER[1],
    "opts": OPTS_FIELDS,
}
#: Keys a layer of each type and ``cnntrain``'s opts cannot do without (beyond a
#: layer's ``type`` and the net's ``layers``).
REQUIRED_KEYS = {
    "c": ("outputmaps", "kernelsize"),
    "s": ("scale",),
    "opts": ("alpha", "batchsize", "numepochs"),
}
#: Other names for a known key, written as ``checks.nearest_key`` compares them (lower
#: case, without ``_`` and ``-``): the names other toolboxes and the NN part use.
KEY_SYNONYMS = {
    "learningrate": "alpha", "lr": "alpha", "eta": "alpha", "rate": "alpha",
    "epochs": "numepochs", "nepochs": "numepochs", "maxepochs": "numepochs",
    "batch": "batchsize", "minibatchsize": "batchsize", "minibatch": "batchsize",
    "mu": "momentum", "lrdecay": "alpha_decay", "learningratedecay": "alpha_decay",
    "scalinglearningrate": "alpha_decay", "decay": "alpha_decay",
    "maps": "outputmaps", "nmaps": "outputmaps", "filters": "outputmaps",
    "numfilters": "outputmaps", "kernel": "kernelsize", "ksize": "kernelsize",
    "filtersize": "kernelsize", "poolsize": "scale", "pool": "scale",
    "pooling": "method", "poolmethod": "method", "activationfunction": "activation",
    "nonlinearity": "activation", "act": "activation", "outputtype": "output",
}

#: The net of the toolbox's MNIST example (tests/test_example_CNN.m, lines 15-21).
DEFAULT_LAYERS = "6c5-2s-12c5-2s"

#: Suffix of a 'c' part of the spec -> its "activation" (no suffix: the original's sigmoid).
ACTIVATION_SUFFIXES = {"r": "relu", "t": "tanh", "l": "linear"}
#: Letter of an 's' part of the spec -> its "method" ("s": the original's mean).
POOL_LETTERS = {"s": "mean", "m": "max"}

_CONV = re.compile(r"(\d+)c(\d+)([rtl]?)")
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
          ``Nm`` the same with ``"method": "max"``.

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
        conv, sub = _CONV.fullmatch(part), _SUB.fullmatch(part)
        if conv and int(conv[1]) > 0 and int(conv[2]) > 0:
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
                f"max pooling, e.g. {DEFAULT_LAYERS!r} or '6c5r-2m-12c5r-2m')")
    if len(layers) == 1:
        raise ValueError(f"layers spec {spec!r} has no layers")
    return layers


def _number(value):
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
        if kind == "c":
            activation = layer.get("activation", "sigm")
            suffix = "" if activation == "sigm" else suffixes.get(activation, f"({activation})")
            parts.append(f"{_number(layer.get('outputmaps'))}c{_number(layer.get('kernelsize'))}"
                         f"{suffix}")
        elif kind == "s":
            method = layer.get("method", "mean")
            parts.append(f"{_number(layer.get('scale'))}{letters.get(method, f's({method})')}")
        elif kind != "i" or with_input:
            parts.append(str(kind))
    return "-".join(parts)
