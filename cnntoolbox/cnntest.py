"""cnntest: classification error on a labelled set (CNN/cnntest.m)."""

import numpy as np

from .checks import check_x, check_y
from .cnnff import ff
from .netlayout import MAP_FIELDS, SAMPLE_FIELDS, stack_for_input

#: Samples per forward pass.  Matlab feeds the whole set at once; the port
#: feeds it in slices so that testing 10000 images needs tens of MB, not GB.
#: Every sample's output is computed the same way either way.
CHUNK = 500


def cnntest(net: dict, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Fraction of samples whose largest output is not at the label's largest entry.

    Like Matlab's ``max``, the first index of the maximum wins on ties.  With
    a single output (onum == 1) Matlab's ``max`` would run over the samples
    instead of per sample, which means nothing; the port then reads the
    output as a binary decision instead: a sample is wrong when
    ``(o > 0.5) != (y > 0.5)``.

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
    """
    x = check_x(x, y)
    stacked = stack_for_input(_without_batch(net), x)
    m = x.shape[-1]
    y = check_y(y, m, stacked["ffW"].shape[0])
    o = np.empty(y.shape)
    for start in range(0, m, CHUNK):                              # net = cnnff(net, x)
        ff(stacked, x[..., start:start + CHUNK])
        o[:, start:start + CHUNK] = stacked["o"]
    if o.shape[0] == 1:
        wrong = (o[0] > 0.5) != (y[0] > 0.5)
    else:
        wrong = np.argmax(o, axis=0) != np.argmax(y, axis=0)   # [~, h] = max(o); [~, a] = max(y)
    bad = np.flatnonzero(wrong)
    return len(bad) / y.shape[1], bad


def _without_batch(net):
    """The net without its last batch's per-sample fields, which ``ff`` writes anew.

    Stacking copies every field; a net trained on batches of 60000 MNIST
    images carries 5.6 GiB of them.
    """
    if not isinstance(net, dict) or not isinstance(net.get("layers"), list):
        return net                                     # stack_for_input names what is wrong
    lean = {key: value for key, value in net.items() if key not in SAMPLE_FIELDS}
    lean["layers"] = [{key: value for key, value in layer.items() if key not in MAP_FIELDS}
                      if isinstance(layer, dict) else layer for layer in net["layers"]]
    return lean
