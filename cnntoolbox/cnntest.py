"""cnntest: classification error on a labelled set (CNN/cnntest.m)."""

import numpy as np

from .checks import check_x, check_y
from .netlayout import check_output
from .cnnpredict import labels, outputs, testing_copy


def cnntest(net: dict, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Fraction of samples whose largest output is not at the label's largest entry.

    The labels compared are ``cnnpredict``'s, the net evaluated with
    ``net["testing"]`` set on a copy: like Matlab's ``max``, the first index
    of the maximum wins on ties.  With a single output (onum == 1) Matlab's
    ``max`` would run over the samples instead of per sample, which means
    nothing; the port then reads the output as a binary decision instead: a
    sample is wrong when ``(o > 0.5) != (y > 0.5)``.

    Parameters
    ----------
    net : dict
    x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
    y : ndarray, shape (onum, m)

    Returns
    -------
    er : float
        ``numel(bad) / m``.
    bad : ndarray of int, shape (nbad,)
        0-based indices of the misclassified samples (Matlab's ``find`` minus 1).

    Raises
    ------
    ValueError
        For a linear-output net (regression), which has no labels to compare.
    """
    x = check_x(x, y)
    stacked = testing_copy(net, x, "cnntest")
    y = check_y(y, x.shape[-1], stacked["ffW"].shape[0], check_output(stacked))
    o = outputs(stacked, x)                                   # net = cnnff(net, x)
    bad = np.flatnonzero(labels(o) != labels(y))              # [~, h] = max(o); [~, a] = max(y)
    return len(bad) / y.shape[1], bad
