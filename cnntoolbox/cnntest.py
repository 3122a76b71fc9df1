"""cnntest: classification error on a labelled set (CNN/cnntest.m)."""

import numpy as np

from .checks import check_x, check_y
from .cnnff import cnnff


def cnntest(net, x, y):
    """Fraction of samples whose largest output is not at the label's largest entry.

    Like Matlab's ``max``, the first index of the maximum wins on ties.  With
    a single output (onum == 1) Matlab's ``max`` would run over the samples
    instead of per sample, which means nothing; the port then reads the
    output as a binary decision instead: a sample is wrong when
    ``(o > 0.5) != (y > 0.5)``.

    Parameters
    ----------
    net : dict
    x : ndarray, shape (rows, cols, m)
    y : ndarray, shape (onum, m)

    Returns
    -------
    er : float
        ``numel(bad) / m``.
    bad : ndarray of int, shape (nbad,)
        0-based indices of the misclassified samples (Matlab's ``find`` minus 1).
    """
    x = check_x(x)
    net = cnnff(net, x)
    o = net["o"]
    y = check_y(y, x.shape[2], o.shape[0])
    if o.shape[0] == 1:
        wrong = (o[0] > 0.5) != (y[0] > 0.5)
    else:
        wrong = np.argmax(o, axis=0) != np.argmax(y, axis=0)   # [~, h] = max(o); [~, a] = max(y)
    bad = np.flatnonzero(wrong)
    return len(bad) / y.shape[1], bad
