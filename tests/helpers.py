"""Small builders shared by the tests."""

import numpy as np

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
    """Largest error of any field, relative to the field's largest magnitude.

    Walks dicts and lists in parallel; returns (error, path of the worst field).
    """
    if isinstance(expected, dict):
        pairs = [(expected[k], actual[k], f"{path}.{k}") for k in expected if k in actual]
    elif isinstance(expected, (list, tuple)):
        assert len(expected) == len(actual), f"{path}: {len(expected)} != {len(actual)} entries"
        pairs = [(e, a, f"{path}[{i}]") for i, (e, a) in enumerate(zip(expected, actual))]
    elif isinstance(expected, str):
        assert expected == actual, path
        return 0.0, path
    else:
        e = np.asarray(expected, dtype=float)
        a = np.asarray(actual, dtype=float)
        assert e.shape == a.shape, f"{path}: shape {e.shape} != {a.shape}"
        if e.size == 0:
            return 0.0, path
        scale = max(float(np.max(np.abs(e))), np.finfo(float).tiny)
        return float(np.max(np.abs(e - a))) / scale, path
    worst = (0.0, path)
    for e, a, p in pairs:
        worst = max(worst, max_rel_error(e, a, p))
    return worst


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
