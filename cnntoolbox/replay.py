"""Replay the recorded Octave run of the MNIST example and compare, field by field.

``matlab_reference/make_mnist_example.m`` runs the original example under
Octave and saves ``mnist_example.mat`` with ``net_setup`` (the net after
``cnnsetup``), ``kk`` (the 1-based permutation(s) ``cnntrain`` drew, one row
per epoch), ``rL``, ``net_final`` (the trained net without the last batch's
``a`` and ``d``), ``er`` and ``bad`` (1-based). :func:`replay` starts from
``net_setup`` and ``kk - 1`` and trains again in Python; :func:`compare_replay`
puts the result next to the recording with the package's one comparison,
:func:`cnntoolbox.compare.compare`.
"""

import numpy as np

from .compare import compare
from .cnntest import cnntest
from .cnntrain import cnntrain
from .data import prepare_data
from .example import DEFAULT_OPTS

#: Largest error, relative to the largest magnitude of the reference field,
#: that still counts as the same number (a faithful port stays near 1e-14).
RTOL = 1e-9

#: The fields the replay's verdict compares within RTOL (``k`` and ``b`` of every conv layer).
WEIGHTS = {"rL", "ffW", "ffb", "k", "b"}

_VARIABLES = ("net_setup", "kk", "rL", "net_final", "er", "bad")


def load_reference(path):
    """Read ``mnist_example.mat`` into 0-based Python values.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        ``net_setup`` and ``net_final`` (nets), ``kk`` (numepochs, m) int
        0-based, ``rL`` (n,), ``er`` float, ``bad`` (nbad,) int 0-based.

    Raises
    ------
    ValueError
        The file lacks one of the variables, or ``kk`` is not a set of
        permutations.
    """
    from .matfile import loadmat

    variables = loadmat(path)
    missing = [name for name in _VARIABLES if name not in variables]
    if missing:
        raise ValueError(f"{path}: not a recording of the MNIST example, missing "
                         f"{', '.join(missing)} (made by matlab_reference/make_mnist_example.m)")
    kk = np.atleast_2d(np.asarray(variables["kk"], dtype=np.float64))
    m = kk.shape[1]
    if not all(np.array_equal(np.sort(order), np.arange(1, m + 1)) for order in kk):
        raise ValueError(f"{path}: kk is not one permutation of 1..{m} per epoch")
    return {
        "net_setup": variables["net_setup"],
        "net_final": variables["net_final"],
        "kk": kk.astype(np.intp) - 1,
        "rL": np.asarray(variables["rL"], dtype=np.float64).ravel(),
        "er": float(np.asarray(variables["er"]).item()),
        "bad": np.asarray(variables["bad"], dtype=np.float64).ravel().astype(np.intp) - 1,
    }


def replay(reference, mnist, nsamples=None, progress=None, verbose=True):
    """Train ``net_setup`` again on the recorded sample order.

    Parameters
    ----------
    reference : dict
        From :func:`load_reference`.
    mnist : dict
        From :func:`cnntoolbox.data.load_mnist`.
    nsamples : int, optional
        Replay only the first ``nsamples`` samples of the first epoch's
        order (a multiple of the batch size): the run then covers the first
        ``nsamples / batchsize`` batches, whose ``rL`` must equal the
        reference's first values; the net is not tested.
    progress : callable, optional
        Passed to ``cnntrain``.
    verbose : bool
        Passed to ``cnntrain`` (Matlab's ``epoch i/n`` lines).

    Returns
    -------
    net : dict
        The trained net.
    er : float or None
    bad : ndarray of int or None
        ``cnntest`` on the test set; None for a partial replay.
    """
    train_x, train_y, test_x, test_y = prepare_data(mnist)
    kk = reference["kk"]
    opts = dict(DEFAULT_OPTS, numepochs=len(kk))
    if kk.shape[1] != train_x.shape[2]:
        raise ValueError(f"the recorded permutation has {kk.shape[1]} samples, "
                         f"the training set {train_x.shape[2]}")
    if nsamples is not None:
        if not 1 <= nsamples <= kk.shape[1] or nsamples % opts["batchsize"]:
            raise ValueError(f"a partial replay needs a multiple of {opts['batchsize']} "
                             f"samples up to {kk.shape[1]}, got {nsamples}")
        order = kk[0, :nsamples]
        net = cnntrain(reference["net_setup"], train_x[:, :, order], train_y[:, order],
                       dict(opts, numepochs=1), kk=[np.arange(nsamples)],
                       progress=progress, verbose=verbose)
        return net, None, None
    net = cnntrain(reference["net_setup"], train_x, train_y, opts, kk=list(kk),
                   progress=progress, verbose=verbose)
    er, bad = cnntest(net, test_x, test_y)
    return net, er, bad


def compare_replay(reference, net, er=None, bad=None, rtol=RTOL):
    """Compare a replayed net with the recording, with :func:`cnntoolbox.compare.compare`.

    ``rL`` is compared over the replayed length (a prefix for a partial
    replay); the weights (every ``k`` and ``b`` of the convolution layers,
    ``ffW``, ``ffb``), ``er`` and ``bad`` only after a full replay (``er``
    given). ``rL`` and the weights pass when their largest error relative
    to the largest magnitude of the reference field is at most ``rtol``;
    ``er`` and ``bad`` (0-based) must be equal.

    Returns
    -------
    list of Comparison
        ``rL`` and the weights; then ``er`` and ``bad`` after a full replay.
    """
    rL = np.asarray(net["rL"], dtype=np.float64)
    if er is None:
        return [compare({"rL": reference["rL"][:len(rL)]}, {"rL": rL}, rtol,
                        title="rL of the replayed batches")]
    weights = compare(reference["net_final"], net, rtol, fields=WEIGHTS,
                      title="rL and weights after the replay")
    test = compare({"er": reference["er"], "bad": reference["bad"]},
                   {"er": er, "bad": np.asarray(bad)}, 0.0, title="cnntest: er and bad equal")
    return [weights, test]
