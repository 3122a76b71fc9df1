"""Small builders shared by the tests, and the tests' use of the one comparison."""

import numpy as np

from cnntoolbox.compare import compare
from cnntoolbox.netfields import parse_layers


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

    :func:`cnntoolbox.compare.compare` with one row per array (``per="array"``);
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
