"""Checks of the routines' arguments other than the net: x, y, opts, rng.

Matlab fails deep inside ``cnnbp`` (or with an index error) on most bad
input; the port checks up front and raises ``ValueError`` (or ``TypeError``
for a wrong kind of object) with a message that names the argument at
fault.  The checks of the net's own fields are in ``netlayout``.
"""

import math

import numpy as np

from .netlayout import (BOUNDED_OUTPUTS, OUTPUTS, PENALTY, REQUIRED_KEYS, as_array, as_float,
                        as_int, check_keys, missing_key)


def as_rng(rng):
    """Return numpy's random Generator for ``rng``, naming ``rng`` if it is not one.

    Parameters
    ----------
    rng : numpy.random.Generator or int or None
        Anything ``numpy.random.default_rng`` takes: a Generator (returned
        as it is), a non-negative integer seed, or None (fresh entropy).
    """
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as error:
        raise type(error)(f"rng must be None, a non-negative integer seed or a numpy "
                          f"Generator, got {rng!r} ({error})") from None


def check_x(x, y=None):
    """Check a batch of images; return it as float, (rows, cols, m) or (rows, cols, channels, m).

    Float32 stays float32 (Matlab's ``single``), anything else becomes float64.

    A single 2-D image is accepted as a batch of one (m = 1); Matlab would
    drop that trailing singleton dimension and then fail.  A 4-D ``x`` is an
    input with channels (README, "Beyond the original"); a 3-D one has one
    channel, as in the original.  The batch is always the last axis.  A 2-D
    ``x`` whose first dimension is the number of samples the labels ``y``
    hold (their columns, or their rows when they have several columns) is
    Python's one-image-per-row layout (m, pixels) and is refused with the fix.
    Integer images (MNIST's uint8) are refused: the toolbox's example divides
    them by 255 first, and raw 0..255 values saturate the sigmoid of the
    first layer.
    """
    shape = _shape(x)          # before any conversion: a (60000, 784) x is not copied
    if len(shape) == 2 and shape[0] > 1 and shape[0] in _sample_counts(y):
        m, pixels = shape
        side = int(np.sqrt(pixels))
        rows, cols = (side, side) if side * side == pixels else ("rows", "cols")
        raise ValueError(
            f"x has shape {shape}, one image per row (m, pixels) for the {m} samples of y; "
            f"the toolbox's layout is (rows, cols, m): pass "
            f"x.T.reshape({rows}, {cols}, -1, order=\"F\") (as test_example_CNN.m's "
            f"reshape(train_x', {rows}, {cols}, m))")
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.integer) and x.size:
        raise ValueError(
            f"x is {x.dtype} in {x.min()}..{x.max()}; the toolbox's example divides by 255: "
            f"pass x / 255 (or x.astype(float) if you mean the raw values)")
    x = as_array(x, "x", copy=False)
    if x.ndim == 2:
        x = x[:, :, np.newaxis]
    if x.ndim not in (3, 4):
        raise ValueError(f"x must be 3-D (rows, cols, m), 4-D (rows, cols, channels, m) "
                         f"or one 2-D image, got shape {x.shape}")
    if x.shape[-1] == 0:
        raise ValueError("x holds no samples (m == 0)")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x has an empty image size {x.shape[:2]}")
    if x.ndim == 4 and x.shape[2] == 0:
        raise ValueError("x has no channels (x.shape[2] == 0)")
    return x


def check_y(y, m, onum=None, output=OUTPUTS[0]):
    """Check labels against the batch size and return them as float, shape (onum, m).

    Float32 stays float32 (Matlab's ``single``), anything else becomes float64.

    A 1-D ``y`` is accepted only for a batch of one (a column of onum labels).
    Class labels in place of one-hot columns (one row, one column or a 1-D
    ``y`` of m integers, some above 1) are refused with the line that makes
    them one-hot, for an output whose values lie in [0, 1]
    (``netlayout.BOUNDED_OUTPUTS``, ``output`` the net's).
    """
    y = as_array(y, "y", copy=False)
    if output in BOUNDED_OUTPUTS:
        _refuse_class_labels(y, m)
    if y.ndim == 1 and m == 1:
        y = y[:, np.newaxis]
    if y.ndim != 2:
        raise ValueError(f"y must be 2-D (onum, m), got shape {y.shape}")
    if y.shape[1] != m and y.shape[0] == m:
        raise ValueError(f"y has shape {y.shape}, one row per sample (m, onum); the toolbox's "
                         f"layout is (onum, m), one column per sample: pass y.T")
    if y.shape[1] != m:
        raise ValueError(f"y has {y.shape[1]} columns but x has m = {m} samples")
    if onum is not None and y.shape[0] != onum:
        raise ValueError(f"y has {y.shape[0]} rows but the net has {onum} outputs (rows of ffW)")
    if y.shape[0] == 0:
        raise ValueError("y has no rows (onum == 0)")
    return y


def _refuse_class_labels(y, m):
    """Refuse m class labels (integers, some above 1) given where one-hot columns belong.

    The toolbox's y holds one column per sample with a 1 in the row of its
    class; one row of labels 0..9 builds a one-output net whose sigmoid can
    never reach them, which trains without an error to a meaningless result.
    """
    if not (y.ndim == 1 and y.size == m > 1 or y.ndim == 2 and y.shape in ((1, m), (m, 1))):
        return
    values = y.ravel()
    if not np.all(values == np.floor(values)) or values.max() <= 1:
        return
    low, high = int(values.min()), int(values.max())
    index = "labels" if low == 0 else f"labels - {low}" if low > 0 else f"labels + {-low}"
    raise ValueError(
        f"y of shape {y.shape} holds class labels {low}..{high}, one per sample; the toolbox's y "
        f"is one-hot, (onum, m) with a 1 in the row of each sample's class: pass "
        f"y = np.eye({high - low + 1})[{index}].T with labels = y.ravel().astype(int) "
        f"(a one-output net takes targets in [0, 1])")


def _shape(value):
    """``numpy.shape`` of an array-like, () for ragged nested lists (``as_array`` names those)."""
    try:
        return np.shape(value)
    except ValueError:
        return ()


def _sample_counts(y):
    """The sample counts labels of ``y``'s shape could hold.

    Its columns, or its rows when it has several columns (y given as (m, onum)).
    """
    shape = _shape(y)
    if len(shape) != 2:
        return set()
    return {shape[1]} | ({shape[0]} if shape[1] > 1 else set())


def check_opts(opts):
    """Check training options and return (alphas, batchsize, numepochs, momentum).

    Parameters
    ----------
    opts : dict
        ``alpha``, ``batchsize`` and ``numepochs`` (positive integers;
        integer-valued floats accepted), and the opt-in keys:

        - ``alpha``: the learning rate (a float, as in the original), or a
          sequence of ``numepochs`` floats, one per epoch;
        - ``alpha_decay``: a positive float; the rate of each epoch is the
          previous epoch's times ``alpha_decay`` (with a float ``alpha`` only);
        - ``momentum``: a float in [0, 1) (see ``check_momentum``);
        - ``weightPenaltyL2``: a float >= 0 (see ``check_penalty``; read by
          ``cnntrain`` and ``cnnapplygrads`` beside this function).

        Any other key is named in a warning (``netlayout.check_keys``), and
        a missing required key with the misspelling opts has instead.

    Returns
    -------
    alphas : tuple of float
        The learning rate of each of the ``numepochs`` epochs:
        ``alpha``, ``alpha * alpha_decay``, ``(alpha * alpha_decay) * alpha_decay``, ...
        (one rounding per epoch, as multiplying after each epoch does).
    batchsize, numepochs : int
    momentum : float
        0.0 when ``opts`` has no ``momentum``.
    """
    if not isinstance(opts, dict):
        raise TypeError(f"opts must be a dict, got {type(opts).__name__}")
    for field in REQUIRED_KEYS["opts"]:
        if field not in opts:
            raise ValueError(f"opts has no '{field}'{missing_key(opts, field, 'opts')}")
    check_keys(opts, "opts")
    batchsize = as_int(opts["batchsize"], "opts['batchsize']")
    numepochs = as_int(opts["numepochs"], "opts['numepochs']")
    alpha = opts["alpha"]
    if isinstance(alpha, (list, tuple)) or isinstance(alpha, np.ndarray) and alpha.size > 1:
        if "alpha_decay" in opts:
            raise ValueError("opts has both 'alpha_decay' and a sequence of per-epoch 'alpha'; "
                             "give one of them")
        alphas = tuple(as_float(value, f"opts['alpha'][{e}]")
                       for e, value in enumerate(np.ravel(np.asarray(alpha, dtype=object))))
        if len(alphas) != numepochs:
            raise ValueError(f"opts['alpha'] holds {len(alphas)} per-epoch rates but "
                             f"opts['numepochs'] is {numepochs}")
    else:
        alphas, decay = [as_float(alpha, "opts['alpha']")], None
        if "alpha_decay" in opts:
            decay = as_float(opts["alpha_decay"], "opts['alpha_decay']")
            if decay <= 0:
                raise ValueError(f"opts['alpha_decay'] must be positive, got {decay!r}")
        while len(alphas) < numepochs:      # alpha = alpha * alpha_decay after each epoch
            alphas.append(alphas[-1] if decay is None else alphas[-1] * decay)
            if not math.isfinite(alphas[-1]):
                raise ValueError(f"opts['alpha_decay'] = {decay!r} makes the rate of epoch "
                                 f"{len(alphas)} {alphas[-1]!r}")
        alphas = tuple(alphas)
    return alphas, batchsize, numepochs, check_momentum(opts)


def check_momentum(opts):
    """``opts["momentum"]`` as a float in [0, 1); 0.0 when absent (plain gradient descent)."""
    if "momentum" not in opts:
        return 0.0
    momentum = as_float(opts["momentum"], "opts['momentum']")
    if not 0 <= momentum < 1:
        raise ValueError(f"opts['momentum'] must be in [0, 1), got {momentum!r}")
    return momentum


def check_penalty(opts):
    """``opts["weightPenaltyL2"]`` as a float >= 0; 0.0 when absent (no weight decay).

    NN/nnapplygrads.m reads it from the net (``nn.weightPenaltyL2``); the
    CNN part keeps its training parameters in opts, so the port reads it there.
    """
    if PENALTY not in opts:
        return 0.0
    penalty = as_float(opts[PENALTY], f"opts['{PENALTY}']")
    if penalty < 0:
        raise ValueError(f"opts['{PENALTY}'] must be >= 0, got {penalty!r}")
    return penalty
