"""cnntrain: plain minibatch gradient descent (CNN/cnntrain.m)."""

import os
import time
from collections.abc import Callable, Sequence

import numpy as np

from .training.checkpoint import Checkpoint
from .checks import as_rng, check_opts, check_penalty, check_x, check_y
from .netlayout import (cast_net, check_dropout, check_output, image_shape, is_testing, map_sizes,
                        stack_for_input, unstack_net, working_dtype)
from .cnnapplygrads import applygrads
from .cnnff import dropout_masks
from .errors import DivergenceError
from .training.parallel import BatchParallel


def cnntrain(net: dict, x: np.ndarray, y: np.ndarray, opts: dict,
             kk: Sequence[Sequence[int]] | np.ndarray | None = None,
             rng: np.random.Generator | int | None = None,
             progress: Callable[[int, int, int, float], object] | None = None,
             verbose: bool = True, checkpoint: str | os.PathLike[str] | None = None) -> dict:
    """Train the net for ``opts["numepochs"]`` epochs of minibatches.

    Each epoch draws a random permutation of the m samples (Matlab's
    ``randperm``) and takes the batches in that order; each batch is one
    ``cnnff``, ``cnnbp`` and ``cnnapplygrads``.  A batch of 16 or more
    samples is split over the machine's cores, and a batch whose working
    arrays would not fit a memory budget into more pieces (``parallel.py``);
    that changes results by rounding only.  ``rL`` is the running loss:
    the first batch's ``L``, then ``0.99 * rL(end) + 0.01 * L`` after every
    batch.

    Parameters
    ----------
    net : dict
        A net from ``cnnsetup`` (or loaded); not modified.
    x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
    y : ndarray, shape (onum, m)
        If x, y or a field of the net is float32, training runs in float32
        and the trained net is float32 (Matlab's ``single`` wins); else float64.
    opts : dict
        ``alpha`` (float), ``batchsize`` and ``numepochs`` (positive integers;
        batchsize must divide m).  Opt-in (see ``checks.check_opts``):
        ``alpha`` as a sequence of one rate per epoch, or ``alpha_decay``
        (the rate is multiplied by it after each epoch); ``momentum`` (the
        velocity step of ``cnnapplygrads``; the velocities stay in the net);
        ``weightPenaltyL2`` (``cnnapplygrads``' L2 weight decay).
    kk : sequence of numepochs permutations of range(m), optional
        0-based sample orders to use instead of drawing them, e.g. the
        permutations a recorded Matlab run drew (minus 1).
    rng : numpy.random.Generator or int or None
        Source of the permutations when ``kk`` is not given, and of the
        dropout masks (``net["dropoutFraction"]``, an opt-in): for each
        batch, after its epoch's permutation, the masks of the whole batch
        (``cnnff.dropout_masks``) before it is split over the cores.
    progress : callable, optional
        Called after every batch as ``progress(epoch, batch, numbatches, rL)``
        with 1-based epoch and batch and the latest running loss.
    verbose : bool
        Print ``epoch i/n`` and the elapsed time per epoch, as Matlab does.
    checkpoint : str or os.PathLike, optional
        A file to save the training state to after every epoch (atomically;
        see ``checkpoint.py``).  If it exists, training resumes from it: the
        net (with its momentum velocities), ``rL`` and the state of the
        permutations' generator after the last saved epoch, so that the result is bit-identical to an
        uninterrupted run; ``kk`` is still used by epoch index.

    Returns
    -------
    dict
        The trained net, with ``rL`` (numbatches * numepochs + 1,) and the
        fields of the last batch's forward and backward pass.

    Raises
    ------
    DivergenceError
        When the loss of a batch is NaN or Inf; the message names the epoch
        and the batch.
    checkpoint.CheckpointError
        When the checkpoint is damaged, or was made for other data, opts
        (``alpha``, ``batchsize``, ``alpha_decay``, ``momentum``,
        ``weightPenaltyL2``), another net
        or other initial weights, or from another seed of ``rng``.
    """
    alphas, batchsize, numepochs, momentum = check_opts(opts)
    penalty = check_penalty(opts)
    x = check_x(x, y)
    m = x.shape[-1]
    stacked = stack_for_input(net, x)
    y = check_y(y, m, stacked["ffW"].shape[0], check_output(stacked))
    # Matlab's single wins: with a float32 x, y or net the weights become float32
    # (after the first step in Matlab, before it here: its k - alpha * dk makes single(k))
    dtype = working_dtype(stacked, x, y)
    cast_net(stacked, dtype)
    x, y = x.astype(dtype, copy=False), y.astype(dtype, copy=False)
    if m % batchsize:                                      # cnntrain.m: rem(numbatches, 1) ~= 0
        raise ValueError(f"numbatches not integer: m / batchsize = {m} / {batchsize} = "
                         f"{m / batchsize:g}; the batch size must divide the number of samples")
    numbatches = m // batchsize
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable, got {type(progress).__name__}")
    seeded = rng is not None and kk is None               # the caller chose the permutations' source
    rng = as_rng(rng)
    first, rL = 0, []
    if checkpoint is not None:
        saver = Checkpoint(checkpoint, x, y, (alphas, batchsize, numepochs), stacked,
                           rng if seeded else None, momentum, penalty)
        first, rL, rng = saver.resume(stacked, rng)
        if verbose and first:
            print(f"resumed from {saver.path} after epoch {first}/{numepochs}")
    orders = _permutations(kk, numepochs, m, rng, first)

    sizes = map_sizes(stacked["layers"], *image_shape(x))
    dropout = check_dropout(stacked)
    dropout = dropout if dropout and not is_testing(stacked) else 0.0
    with BatchParallel(stacked, batchsize, sizes) as parallel:
        for epoch in range(first, numepochs):
            if verbose:
                print(f"epoch {epoch + 1}/{numepochs}")
            start = time.perf_counter()
            order, alpha = next(orders), alphas[epoch]
            for batch in range(numbatches):
                index = order[batch * batchsize:(batch + 1) * batchsize]
                batch_x = x[..., index]
                batch_y = y[:, index]
                # cnnff then cnnbp, pieces of the batch on all cores; the net keeps the
                # per-sample fields of an epoch's last batch (for the checkpoint and the result)
                masks = (dropout_masks(stacked["layers"], sizes, batchsize, dropout, rng)
                         if dropout else None)
                parallel.ffbp(batch_x, batch_y, keep=batch == numbatches - 1, masks=masks)
                applygrads(stacked, alpha, momentum, penalty)
                if not np.isfinite(stacked["L"]):
                    raise DivergenceError(
                        f"loss became {stacked['L']} in epoch {epoch + 1}, batch {batch + 1} "
                        f"of {numbatches} (alpha = {alpha:g}); lower opts['alpha']")
                if not rL:
                    rL.append(stacked["L"])
                rL.append(0.99 * rL[-1] + 0.01 * stacked["L"])
                if progress is not None:
                    progress(epoch + 1, batch + 1, numbatches, rL[-1])
            if verbose:
                print(f"Elapsed time is {time.perf_counter() - start:.6f} seconds.")
            if checkpoint is not None:
                saver.save(stacked, epoch + 1, rL, rng)
    stacked["rL"] = np.array(rL)
    return unstack_net(stacked)


def _permutations(kk, numepochs, m, rng, first=0):
    """Yield the 0-based sample order of each epoch from ``first`` on: ``kk[i]`` or ``randperm(m) - 1``."""
    if kk is None:
        rng = np.random.default_rng(rng)
        return (rng.permutation(m) for _ in range(first, numepochs))
    if isinstance(kk, np.ndarray) and kk.ndim == 1:
        kk = [kk]
    try:
        kk = [np.asarray(order) for order in kk]
    except TypeError:
        raise TypeError("kk must be a sequence of permutations of range(m)") from None
    if len(kk) != numepochs:
        raise ValueError(f"kk holds {len(kk)} permutations but opts['numepochs'] is {numepochs}")
    for epoch, order in enumerate(kk):
        if (order.shape != (m,) or not np.issubdtype(order.dtype, np.number)
                or not np.array_equal(np.sort(order), np.arange(m))):
            raise ValueError(f"kk[{epoch}] must be a permutation of range({m}) (0-based)")
    return (order.astype(np.intp) for order in kk[first:])
