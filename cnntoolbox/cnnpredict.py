"""cnnpredict: the label the net gives each sample (NN/nnpredict.m, for the CNN part).

The toolbox's CNN part has no predict routine; its NN part has
``nnpredict``, which sets ``nn.testing = 1``, runs the forward pass and
takes the index of the largest output per sample.  ``cnntest`` compares
these labels with the labels of y: both go through :func:`labels` here.
"""

import numpy as np

from .checks import check_x
from .cnnff import ff
from .netlayout import (MAP_FIELDS, MASK, SAMPLE_FIELDS, cast_net, check_output, stack_for_input,
                        working_dtype)

#: Samples per forward pass.  Matlab feeds the whole set at once; the port
#: feeds it in slices so that testing 10000 images needs tens of MB, not GB.
#: Every sample's output is computed the same way either way.  250, not 500:
#: the largest array of a slice, the first layer's im2col windows of MNIST,
#: is then 29 MB in float64; at 58 MB (500), above glibc malloc's 32 MiB
#: limit for reusing freed memory, every slice got fresh pages: 72 000
#: against 51 000 page faults, 2.1 against 1.6 CPU s for 10000 images
#: (bench/README.md).
CHUNK = 250


def cnnpredict(net: dict, x: np.ndarray) -> np.ndarray:
    """The label of each sample: the 0-based row of its largest output.

    As ``nnpredict.m`` (``[~, i] = max(nn.a{end}, [], 2)``, 1-based there,
    minus 1 here), with the net evaluated with ``net["testing"]`` set on a
    copy (``nn.testing = 1``).  Like Matlab's ``max``, the first row of the
    maximum wins on ties.  A one-output net (onum == 1) gives 1 where its
    output is above 0.5 and 0 elsewhere, the binary decision ``cnntest``
    reads there.  ``cnntest(net, x, y)``'s ``bad`` are the samples where
    these labels differ from ``y``'s (:func:`labels` of y).

    Parameters
    ----------
    net : dict
        A set-up or trained net; not modified.
    x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
        The images; a single 2-D image is a batch of one.

    Returns
    -------
    ndarray of int, shape (m,)
        One label per sample, in 0..onum-1 (0 or 1 for a one-output net).

    Raises
    ------
    ValueError
        For a net with ``net["output"] = "linear"`` (regression): it has no
        labels; its outputs are ``cnnff(net, x)["o"]``.
    """
    x = check_x(x)
    return labels(outputs(testing_copy(net, x, "cnnpredict"), x))


def testing_copy(net, x, routine):
    """The net in the stacked layout for images like ``x``, with ``testing`` set.

    In the precision of the forward pass (``netlayout.working_dtype`` of the
    net and x: float32 if either is, as Matlab's ``cnnff`` on ``single``);
    the labels y of ``cnntest`` take no part in it, as in ``cnntest.m``.

    The last batch's per-sample fields are left out (stacking copies every
    field; a net trained on batches of 60000 MNIST images carries 5.6 GiB
    of them, and the forward pass writes them anew), and ``testing`` is
    set as ``nnpredict.m`` sets ``nn.testing = 1``; the caller's net is not
    touched.

    Parameters
    ----------
    net : dict
        A public net.
    x : ndarray
        A checked batch (``checks.check_x``).
    routine : str
        ``"cnnpredict"`` or ``"cnntest"``, for the refusal of a linear-output
        net, whose outputs are no class scores.
    """
    if isinstance(net, dict) and isinstance(net.get("layers"), list):
        lean = {key: value for key, value in net.items() if key not in SAMPLE_FIELDS}
        lean["layers"] = [{key: value for key, value in layer.items()
                           if key not in MAP_FIELDS + (MASK,)}
                          if isinstance(layer, dict) else layer for layer in net["layers"]]
        lean["testing"] = True
        net = lean
    stacked = stack_for_input(net, x)       # names what is wrong with a net that is none
    if check_output(stacked) == "linear":
        raise ValueError(f"{routine} compares class labels, but net['output'] is 'linear' "
                         f"(regression): its outputs are cnnff(net, x)['o']")
    return cast_net(stacked, working_dtype(stacked, x))


def outputs(stacked, x):
    """The outputs ``o`` (onum, m) of a stacked net for ``x``, ``CHUNK`` samples per pass.

    In the net's precision (``testing_copy``): x is cast to it slice by slice.
    """
    m = x.shape[-1]
    dtype = stacked["ffW"].dtype
    o = np.empty((stacked["ffW"].shape[0], m), dtype)
    for start in range(0, m, CHUNK):                              # net = cnnff(net, x)
        ff(stacked, x[..., start:start + CHUNK].astype(dtype, copy=False))
        o[:, start:start + CHUNK] = stacked["o"]
    return o


def labels(o):
    """The label of each column of outputs (or targets) ``o`` (onum, m), shape (m,).

    ``[~, h] = max(o)`` of cnntest.m, 0-based: the first row of each
    column's largest value.  With one row, Matlab's ``max`` would run over
    the samples instead, which means nothing; the label is then
    ``o > 0.5`` (1 or 0), a binary decision.
    """
    if o.shape[0] == 1:
        return (o[0] > 0.5).astype(np.intp)
    return np.argmax(o, axis=0)
