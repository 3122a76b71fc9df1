"""Small builders shared by the tests, and the tests' use of the one comparison."""

import sys
from pathlib import Path

import numpy as np
import pytest

from cnntoolbox.reference.compare import compare
from cnntoolbox.netlayout import parse_layers


def torch_peer_or_skip(why):
    """The benchmark's PyTorch peer, ``bench/torch_peer.py``: the tests' one torch net.

    Skips the calling test module when torch is not installed (it is no
    dependency of cnntoolbox); ``why`` says what the module checks with it.
    Torch runs on one thread in the tests: their tensors are tiny, and on a
    busy machine torch's thread pool made the two torch test files about
    four times slower (about 30 s against 7 s, two cores).
    """
    reason = (f"torch is not installed; it is the independent reference for {why} "
              f"(pip install torch --index-url https://download.pytorch.org/whl/cpu)")
    torch = pytest.importorskip("torch", reason=reason)
    torch.set_num_threads(1)
    bench = str(Path(__file__).resolve().parent.parent / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    import torch_peer                        # bench/ is not a package

    return torch_peer


def input_size(layers, rows, cols):
    """The image size that gives a last map of rows x cols after ``layers`` (input layer left out).

    cnnsetup.m's size arithmetic run backwards: a 'c' layer adds
    kernelsize - 1, an 's' layer multiplies by its scale.
    """
    for layer in reversed(layers):
        if layer["type"] == "c":
            rows, cols = rows + layer["kernelsize"] - 1, cols + layer["kernelsize"] - 1
        else:
            rows, cols = rows * layer["scale"], cols * layer["scale"]
    return rows, cols


def random_net(spec, rows, cols, m, onum, seed=0):
    """A set-up net, a random batch and labels in [0, 1]."""
    from cnntoolbox import cnnsetup

    rng = np.random.default_rng(seed)
    x = rng.random((rows, cols, m))
    y = rng.random((onum, m))
    net = cnnsetup({"layers": parse_layers(spec)}, x, y, rng=rng)
    return net, x, y


def max_rel_error(expected, actual, path="net"):
    """Largest error of any array, relative to that array's largest magnitude.

    :func:`cnntoolbox.reference.compare.compare` with one row per array (``per="array"``);
    two arrays or numbers are compared as one field named ``path``.

    Returns
    -------
    error : float
        Inf when a value is NaN or Inf where the reference is not, a field
        of ``expected`` is missing from ``actual``, or a shape, type or
        count differs.
    where : str
        The worst element (``path:layers{2}.k{1}{3}(2,4)``) or the failure's note.
    """
    if not isinstance(expected, dict):
        expected, actual = {"value": expected}, {"value": actual}
    error, where = compare(expected, actual, per="array").worst()
    return error, f"{path}:{where}"


def rel_error(expected, actual):
    """:func:`max_rel_error` of two values each stacked into one float array (nested lists too).

    Inf for NaN or Inf where ``expected`` is finite, or another shape.
    """
    return max_rel_error(np.asarray(expected, dtype=float), np.asarray(actual, dtype=float))[0]


def assert_same_net(expected, actual, path="net"):
    """Assert two nets are equal bit for bit: the same fields, shapes and values, no NaN.

    Walks dicts and lists in parallel; a field missing on either side, a
    different shape or a NaN anywhere fails with the field's path.
    """
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: dict vs {type(actual).__name__}"
        assert set(expected) == set(actual), (
            f"{path}: fields {sorted(set(expected) ^ set(actual))} in only one of the nets")
        for key in expected:
            assert_same_net(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(expected) == len(actual), path
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_same_net(e, a, f"{path}[{i}]")
    elif isinstance(expected, str):
        assert expected == actual, path
    else:
        e, a = np.asarray(expected), np.asarray(actual)
        assert e.shape == a.shape, f"{path}: shape {e.shape} != {a.shape}"
        if e.dtype.kind == "f" or a.dtype.kind == "f":
            assert not np.isnan(e).any() and not np.isnan(a).any(), f"{path}: NaN"
        assert e.astype(np.float64).tobytes() == a.astype(np.float64).tobytes(), f"{path} differs"


ACTIVATIONS = ("sigm", "relu", "tanh", "linear")


def beyond_problem(seed, kinds=None, channels=None, output=None, m=None, activations=None,
                   methods=None, full=()):
    """A set-up net with the opt-in keys, a batch x and labels y, from a seed.

    Parameters
    ----------
    seed : int
    kinds : str, optional
        The layer types after the input, e.g. ``"ccs"``; drawn (1 to 4 layers
        in any order) when not given, ``""`` for the input layer alone.
    channels : int, optional
        Input channels; x is 4-D (rows, cols, channels, m) when channels > 1
        (and sometimes for 1 channel too).
    output : str, optional
        ``"sigm"`` or ``"softmax"``.
    m : int, optional
    activations, methods : sequence, optional
        The ``activation`` of the 'c' layers and the ``method`` of the 's'
        layers in order (``None`` entries leave the key out).
    full : sequence of (size, activation), optional
        Fully connected 'f' layers after the map layers (activation None:
        no key); their biases are drawn too.  None drawn when not given.

    The image size is worked out backwards from a 1x1 to 3x3 last map, so
    every draw is valid; biases are drawn too (cnnsetup sets them to 0).
    Labels: one-hot columns for softmax, uniform in [0, 1] for sigm.
    """
    from cnntoolbox import cnnsetup

    rng = np.random.default_rng(seed)
    if kinds is None:
        kinds = "".join(rng.choice(["c", "s"], size=int(rng.integers(1, 5))))
    acts = iter(activations) if activations is not None else None
    meths = iter(methods) if methods is not None else None
    layers = []
    for kind in kinds:
        if kind == "c":
            layer = {"type": "c", "outputmaps": int(rng.integers(1, 4)),
                     "kernelsize": int(rng.integers(1, 4))}
            act = next(acts) if acts else rng.choice(ACTIVATIONS + (None,))
            if act is not None:
                layer["activation"] = str(act)
        else:
            layer = {"type": "s", "scale": int(rng.choice([2, 2, 3]))}
            method = next(meths) if meths else rng.choice(["mean", "max", None])
            if method is not None:
                layer["method"] = str(method)
        layers.append(layer)
    rows, cols = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    rows, cols = input_size(layers, rows, cols)
    for size, act in full:
        layers.append({"type": "f", "size": size, **({"activation": act} if act else {})})
    channels = int(rng.integers(1, 4)) if channels is None else channels
    output = str(rng.choice(["sigm", "softmax"])) if output is None else output
    m = int(rng.integers(1, 6)) if m is None else m
    onum = int(rng.integers(2, 5))
    shape = (rows, cols, channels, m) if channels > 1 or rng.random() < 0.3 else (rows, cols, m)
    x = rng.random(shape)
    if output == "softmax":
        y = np.zeros((onum, m))
        y[rng.integers(0, onum, size=m), np.arange(m)] = 1.0
    else:
        y = rng.random((onum, m))
    net = cnnsetup({"layers": [{"type": "i"}] + layers, "output": output}, x, y, rng=rng)
    for layer in net["layers"]:
        if layer["type"] == "c":
            layer["b"] = [float(v) for v in rng.normal(0, 0.2, size=len(layer["b"]))]
        elif layer["type"] == "f":
            layer["b"] = rng.normal(0, 0.2, size=layer["b"].shape)
    net["ffb"] = rng.normal(0, 0.2, size=net["ffb"].shape)
    return net, x, y
