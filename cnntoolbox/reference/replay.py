"""Replay in Python what the original toolbox recorded, and compare it field by field.

Every comparison goes through :func:`cnntoolbox.reference.compare.compare`.

The MNIST example (``--replay``): ``matlab_reference/make_mnist_example.m``
runs the original example under Octave and saves ``mnist_example.mat`` with
``net_setup`` (the net after ``cnnsetup``), ``kk`` (the 1-based
permutation(s) ``cnntrain`` drew, one row per epoch), ``rL``, ``net_final``
(the trained net without the last batch's ``a`` and ``d``), ``er`` and
``bad`` (1-based). :func:`replay` starts from ``net_setup`` and ``kk - 1``
and trains again in Python; :func:`compare_replay` puts the result next to
the recording.

A MAT-file MATLAB saved (the ``compare`` command, :func:`replay_file`):

* a ``matlab_reference/case_*.mat`` file (``net_setup``, ``x``, ``y``,
  ``opts`` and the saved stages): ``cnnff``, ``cnnbp``, ``cnnapplygrads``,
  ``cnntrain`` (on the recorded permutations ``kk``) and ``cnntest``, each
  stage from the previous Python result, each compared with MATLAB's
  (:func:`replay_case`);
* a net saved after ``cnntrain`` (or ``cnnapplygrads``): the weights before
  the last update are ``k + alpha*dk``, ``b + alpha*db``,
  ``ffW + alpha*dffW``, ``ffb + alpha*dffb``, the last batch is
  ``layers{1}.a{1}`` (its channels ``a{i}`` stacked as x(:, :, i, :) when the
  input has several) and its labels ``o - e``; ``cnnff``, ``cnnbp`` and
  ``cnnapplygrads`` run from there and each stage's fields are compared
  (:func:`replay_trained`).
"""

import numpy as np

from ..cnnapplygrads import cnnapplygrads
from ..cnnbp import cnnbp
from ..cnnff import cnnff, ff as ff_stacked
from ..cnntest import cnntest
from ..cnntrain import cnntrain
from .compare import RTOL, compare
from ..datasets.mnist import prepare_data
from ..cli.example import DEFAULT_OPTS
from ..matfile import loadmat
from ..matfile.netshape import as_net, is_net
from ..netlayout import (LAYER_WEIGHTS, MASK, check_dropout, full_layers, is_testing,
                         stack_for_input, unstack_net)

#: Largest error of the MNIST example's replay, relative to the largest
#: magnitude of the reference field, that still counts as the same number
#: (a faithful port stays near 1e-14 after the 1200 batches of an epoch).
EPOCH_RTOL = 1e-9

#: The fields the epoch replay's verdict compares within EPOCH_RTOL (``k`` and ``b`` of every layer).
WEIGHTS = {"rL", "ffW", "ffb", "k", "b"}

#: Net fields each replayed stage of a trained net produces (top-level and layer fields).
STAGE_FIELDS = {
    "cnnff": {"a", "fv", "o"},
    "cnnbp": {"e", "L", "od", "fvd", "d", "dk", "db", "dW", "dffW", "dffb"},
    "cnnapplygrads": {"k", "b", "W", "ffW", "ffb"},
}

#: Variables of a matlab_reference/case_*.mat file.
CASE_VARIABLES = ("net_setup", "x", "y", "opts")

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
        From :func:`cnntoolbox.datasets.mnist.load_mnist`.
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


def compare_replay(reference, net, er=None, bad=None, rtol=EPOCH_RTOL):
    """Compare a replayed net with the recording, with :func:`cnntoolbox.reference.compare.compare`.

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


# --- a MAT-file MATLAB saved: the compare command ---------------------------------------

def replay_file(path, var=None, alpha=1.0, rtol=RTOL):
    """Load a MAT-file and replay in Python what it allows (the ``compare`` command).

    Parameters
    ----------
    path : str or os.PathLike
        A ``matlab_reference/case_*.mat`` file, or a file holding a net saved
        after ``cnntrain`` (or ``cnnapplygrads``).
    var : str, optional
        The net variable; by default the stages of a case file, else the
        first net with gradients, else the first struct with ``layers``.
    alpha : float
        ``opts.alpha`` of the last update of a trained net.
    rtol : float
        Tolerance of :func:`compare`.

    Returns
    -------
    list of Comparison
        One per replayed stage.

    Raises
    ------
    ValueError
        When ``rtol`` is negative or NaN, or the file holds no usable net
        (naming what it holds).
    """
    if not rtol >= 0:
        raise ValueError(f"--rtol must be >= 0, got {rtol}")
    variables = loadmat(path, var) if var else loadmat(path)
    if var is None and all(name in variables for name in CASE_VARIABLES):
        return replay_case(variables, rtol)
    nets = [key for key, value in variables.items() if is_net(value)]
    trained = [key for key in nets if "dffW" in variables[key]]
    name = var or (trained + nets + [None])[0]
    if name is None:
        raise ValueError(f"{path} holds no net (a struct with 'layers'); it holds "
                         f"{', '.join(variables) or 'nothing'}")
    if not is_net(variables[name]):
        raise ValueError(f"{name} in {path} is not a net (a struct with 'layers')")
    return replay_trained(variables[name], name, alpha, rtol)


def replay_case(variables, rtol=RTOL):
    """Replay the stages of a matlab_reference case file, each from Python's previous result.

    Parameters
    ----------
    variables : dict
        From ``loadmat`` of the case file: ``net_setup``, ``x``, ``y``,
        ``opts`` and any of ``net_ff``, ``net_bp``, ``net_grads``,
        ``net_train`` (with ``kk``), ``er`` and ``bad`` (with ``test_x``,
        ``test_y``).

    Returns
    -------
    list of Comparison
    """
    x, y, opts = variables["x"], variables["y"], variables["opts"]
    out = []
    ff = cnnff(variables["net_setup"], x)
    if "net_ff" in variables:
        out.append(compare(variables["net_ff"], ff, rtol, title="cnnff(net_setup, x) vs net_ff"))
    bp = cnnbp(ff, y)
    if "net_bp" in variables:
        out.append(compare(variables["net_bp"], bp, rtol, title="cnnbp(., y) vs net_bp"))
    if "net_grads" in variables:
        grads = cnnapplygrads(bp, opts)
        out.append(compare(variables["net_grads"], grads, rtol,
                           title="cnnapplygrads(., opts) vs net_grads"))
    if "net_train" in variables and "kk" in variables:
        kk = np.atleast_2d(np.asarray(variables["kk"], dtype=np.float64))
        trained = cnntrain(variables["net_setup"], x, y, opts,
                           kk=[row.astype(np.intp) - 1 for row in kk], verbose=False)
        out.append(compare(variables["net_train"], trained, rtol,
                           title="cnntrain(net_setup, x, y, opts, kk - 1) vs net_train"))
        if all(name in variables for name in ("er", "bad", "test_x", "test_y")):
            er, bad = cnntest(trained, variables["test_x"], variables["test_y"])
            reference = {"er": variables["er"],
                         "bad": np.asarray(variables["bad"], dtype=np.float64).reshape(-1)}
            out.append(compare(reference, {"er": er, "bad": np.asarray(bad) + 1.0}, rtol,
                               title="cnntest(trained, test_x, test_y) vs er, bad (1-based)"))
    return out


def replay_trained(saved, name="net", alpha=1.0, rtol=RTOL):
    """Replay the last batch of a net saved after ``cnntrain`` (or ``cnnapplygrads``).

    Parameters
    ----------
    saved : dict
        The net as loaded: weights after the last update, plus that batch's
        ``a``, ``d``, ``dk``, ``db``, ``fv``, ``o``, ``e``, ``dffW``, ``dffb``.
    name : str
        The variable's name, for titles and messages.
    alpha : float
        ``opts.alpha`` of the last update.

    Returns
    -------
    list of Comparison
        One per stage: cnnff, cnnbp, cnnapplygrads.

    Raises
    ------
    ValueError
        When the net lacks what the replay needs (naming the field).
    """
    net = as_net(saved, name)
    _require(net, name)
    before = dict(net)
    before["layers"] = [_undo_layer(layer, alpha) for layer in net["layers"]]
    before["ffW"] = net["ffW"] + alpha * net["dffW"]        # cnnapplygrads.m, undone
    before["ffb"] = net["ffb"] + alpha * net["dffb"]
    maps = net["layers"][0]["a"]                            # one map, or one per channel
    x = maps[0] if len(maps) == 1 else np.stack(maps, axis=2)
    y = net["o"] - net["e"]                                 # cnnbp.m: e = o - y
    ff = _forward(before, x)
    bp = cnnbp(ff, y)
    after = cnnapplygrads(bp, {"alpha": alpha})
    return [compare(net, result, rtol, fields=STAGE_FIELDS[stage],
                    title=f"{stage} of the last batch vs {name}")
            for stage, result in (("cnnff", ff), ("cnnbp", bp), ("cnnapplygrads", after))]


def _forward(net, x):
    """``cnnff(net, x)``; with dropout (an opt-in), with the masks the net kept, not new ones."""
    if not check_dropout(net) or is_testing(net):
        return cnnff(net, x)
    if MASK not in net:
        raise ValueError(f"the net has net['dropoutFraction'] but no '{MASK}' of its last batch")
    stacked = stack_for_input(net, x)
    masks = [stacked[MASK]] + [stacked["layers"][l].get(MASK)
                               for l in full_layers(stacked["layers"])]
    ff_stacked(stacked, x, masks)
    return unstack_net(stacked)


def _undo_layer(layer, alpha):
    """A conv layer's kernels and biases (an 'f' layer's W, b) before the last cnnapplygrads."""
    if layer.get("type") == "f":
        return dict(layer, W=layer["W"] + alpha * layer["dW"], b=layer["b"] + alpha * layer["db"])
    if layer.get("type") != "c":
        return layer
    out = dict(layer)
    out["k"] = [[k + alpha * dk for k, dk in zip(row, drow)]
                for row, drow in zip(layer["k"], layer["dk"])]
    out["b"] = [b + alpha * db for b, db in zip(layer["b"], layer["db"])]
    return out


def _require(net, name):
    """Raise ValueError naming the first field a trained-net replay needs but lacks."""
    for field_name in ("o", "e", "ffW", "ffb", "dffW", "dffb"):
        if field_name not in net:
            raise ValueError(f"{name} has no '{field_name}': only a net saved after cnntrain "
                             "(or cnnbp and cnnapplygrads) can be replayed")
    if not net["layers"] or not net["layers"][0].get("a"):
        raise ValueError(f"{name}.layers{{1}} has no 'a' (the last batch)")
    for l, layer in enumerate(net["layers"]):
        weights = LAYER_WEIGHTS.get(layer.get("type"), ())
        for field_name in weights + tuple("d" + field for field in weights):
            if field_name not in layer:
                raise ValueError(f"{name}.layers{{{l + 1}}} has no '{field_name}'")
