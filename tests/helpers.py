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
