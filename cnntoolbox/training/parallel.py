"""The forward and backward pass of a batch, in parts: over the cores, and within a memory budget.

Every sample goes through ``cnnff`` and ``cnnbp`` on its own; only the
gradients (``dk``, ``db``, ``dffW``, ``dffb``) and the loss ``L`` sum over the
batch.  So ``cnntrain`` cuts each batch into pieces, runs ``ff`` and ``bp``
on them and adds the pieces' gradients, in the pieces' order.  Each piece
divides its sums by the whole batch's size, so the pieces add up to the
batch's gradient; the order of the additions differs from one product over
the whole batch, which moves results by rounding only (about 1e-16
relative).

Two things decide the pieces:

* the cores: one worker per core (at most one per ``MIN_PART`` samples),
  running in threads (numpy releases the GIL in its array operations).
  While they run, the BLAS is held to one thread (threadpoolctl): two
  workers that each start BLAS threads would ask for more threads than
  there are cores.  The limit is shared by every training in the process
  and lifted when the last one ends (``_BlasLimit``).  A float32 net runs
  in one piece instead, its products spread over the cores by the BLAS's
  own threads: faster there, as measured (``bench/README.md``, "Float32");
  float64 keeps its pieces, and with them the bits of its sums.
* memory: the working arrays of a piece (maps, deltas, im2col windows and
  the temporaries of ``cnnbp``, ``sample_bytes``) must fit ``WORK_BUDGET``
  together with the other workers' pieces.  A batch that does not is cut
  into more pieces, taken a round of one piece per worker at a time.

An ordinary batch (the MNIST example's 50, up to about 1400 MNIST samples)
is one round of one piece per worker, as it always was.  The last batch's
per-sample fields (``a``, ``d``, ``fv``, ``o``, ...) of the whole batch are
part of the trained net; they are copied piece by piece into the net, so
that the net holds them as one ``ff`` and ``bp`` would have left them.
"""

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from ..cnnbp import bp
from ..cnnff import ff
from ..netlayout import (ACTIVATION, DROPOUT, GRADIENT_FIELDS, LAYER_WEIGHTS, MAP_FIELDS, MASK,
                         METHOD, OUTPUT, SAMPLE_FIELDS, SPEC_FIELDS, last_map_layer)

#: Fewest samples a worker gets; smaller batches run in one piece.
MIN_PART = 8
#: Number of workers; None: one per core (tests set it to split batches on any machine).
PARTS = None
#: Bytes the working arrays of all workers' pieces may take together.
WORK_BUDGET = 512 * 2 ** 20


def core_count():
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def available_memory():
    """Bytes of memory the system can still give this process (Linux MemAvailable), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def sample_bytes(layers, sizes, onum, itemsize=8):
    """Memory per sample of ``ff`` and ``bp``: the working arrays, and the fields the net keeps.

    Parameters
    ----------
    layers : list of dict
        The layer specs.
    sizes : list of (rows, cols, maps)
        Map size and count of each layer (``netlayout.map_sizes``).
    onum : int
        Outputs.
    itemsize : int
        Bytes of one value: 8 (float64) or 4 (float32).

    Returns
    -------
    working : int
        Bytes that ``ff`` then ``bp`` on one piece hold at their peak, per
        sample: ``a`` and ``d`` of every layer; for a 'c' layer the im2col
        windows (``ff``'s cache) and, below it, the spread of ``conv_delta_back``;
        for an 's' layer the scaled delta (mean) or the maxima's positions
        and masks (max); ``f'`` of a 'c' layer whose delta is not the
        original's ``meanpool_sigm_delta_back``; ``fv`` and ``fvd`` with their
        temporaries, and the output's few rows.  An 'f' layer (sizes (1, 1,
        N)) counts its ``a`` and ``d``, f' and a dropout mask (whether or not
        there is dropout); fv's mask is left out (one row of ``top`` per
        feature, next to the maps below it).
    kept : int
        Bytes per sample of what the trained net keeps of its last batch:
        ``a`` and ``d`` of every layer, ``fv``, ``fvd``, ``o``, ``e``, ``od``,
        and the batch's copy of ``x``.
    """
    values = [rows * cols * maps for rows, cols, maps in sizes]
    maps_and_deltas = values[0] + 2 * sum(values[1:])
    extra = 0
    for l in range(1, len(layers)):
        layer, below = layers[l], layers[l - 1]
        if layer["type"] == "f":
            extra += 2 * values[l]                                 # f'(u), the mask
        elif layer["type"] == "c":
            windows = sizes[l - 1][2] * layer["kernelsize"] ** 2 * sizes[l][0] * sizes[l][1]
            extra += windows if l == 1 else 2 * windows            # the spread back to layer l-1
        else:
            extra += values[l] if layer.get(METHOD, "mean") == "mean" else 2 * values[l]
        original = (below["type"] == "c" and layer["type"] == "s" and below.get(ACTIVATION, "sigm")
                    == "sigm" and layer.get(METHOD, "mean") == "mean")
        if below["type"] == "c" and not original:
            extra += 2 * values[l - 1]                             # f'(u) and its temporary
    fvnum = values[last_map_layer(layers)]
    top = 4 * fvnum + 8 * onum            # fv, fvd and two temporaries; o, e, od and temporaries
    working = itemsize * (maps_and_deltas + extra + top)
    kept = itemsize * (maps_and_deltas + values[0] + 2 * fvnum + 3 * onum)
    return working, kept


class _BlasLimit:
    """The BLAS held to one thread while any training in the process runs its workers.

    ``threadpool_limits`` restores the limits it found; two trainings that
    overlap and end in the order they began would restore each other's
    limit of one thread for good.  This counts the trainings instead: the
    first sets the limit, the last restores what the first found.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._limits = None

    def acquire(self):
        with self._lock:
            if self._users == 0:
                self._limits = threadpool_limits(limits=1, user_api="blas")
            self._users += 1

    def release(self):
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._limits.restore_original_limits()
                self._limits = None


_BLAS_LIMIT = _BlasLimit()


class BatchParallel:
    """``ff`` then ``bp`` of a stacked net, a batch in pieces on all cores.

    Use as a context manager around the training loop::

        with BatchParallel(net, batchsize, sizes) as parallel:
            for each batch:
                parallel.ffbp(batch_x, batch_y, keep)   # ff(net, batch_x); bp(net, batch_y)
                applygrads(net, alpha)                  # in place: the pieces share the weights

    After ``ffbp(..., keep=True)`` the net holds the batch's per-sample
    fields (``a``, ``d``, ``fv``, ``o``, ...) joined over the pieces, as one
    ``ff`` and ``bp`` would have left them; after every ``ffbp`` it holds
    the batch's gradients and ``L``.

    Parameters
    ----------
    net : dict
        A stacked net.  Its weight arrays are shared with the pieces, so the
        weights must be updated in place (``cnnapplygrads.applygrads`` does).
    batchsize : int
    sizes : list of (rows, cols, maps)
        Map size and count of each layer (``netlayout.map_sizes``).
    parts : int, optional
        Workers, 1 to ``batchsize``; default ``PARTS``, or one per core, each
        of at least ``MIN_PART`` samples.

    Raises
    ------
    ValueError
        Before anything is allocated: the last batch's per-sample fields
        that the trained net keeps do not fit in the available memory, or
        one sample's working arrays do not fit the budget left; the message
        names the batch size and the GiB.  ``parts`` out of range.
    """

    def __init__(self, net, batchsize, sizes, parts=None):
        self.net = net
        if parts is None and PARTS is not None:
            parts = min(PARTS, batchsize)
        if parts is None and net["ffW"].dtype == np.float32:
            # float32: one piece, and the BLAS's own threads share its products (measured on
            # 2 cores: 3.7 s against 4.2-4.4 s per epoch in two pieces; bench/README.md,
            # "Float32").  float64 keeps its pieces, whose sums give today's bits.
            count = 1
        elif parts is None:
            count = max(1, min(core_count(), batchsize // MIN_PART))
        elif 1 <= parts <= batchsize:
            count = parts
        else:
            raise ValueError(f"parts must be between 1 and the batch size {batchsize}, got {parts}")
        working, kept = sample_bytes(net["layers"], sizes, net["ffW"].shape[0],
                                     net["ffW"].itemsize)
        budget, available = WORK_BUDGET, available_memory()
        if available is not None:
            if batchsize * kept + working > available:
                raise ValueError(
                    f"a batch of {batchsize} samples needs {batchsize * kept / 2**30:.1f} GiB for "
                    f"the maps and deltas of its samples that the trained net keeps (a, d, fv, o, "
                    f"... of the last batch), more than the {available / 2**30:.1f} GiB of memory "
                    f"available; lower opts['batchsize']")
            budget = min(budget, available - batchsize * kept)
        if working > budget:
            raise ValueError(
                f"a batch of {batchsize} samples cannot be processed: one sample's working "
                f"arrays need {working / 2**30:.3f} GiB, more than the {budget / 2**30:.3f} GiB "
                f"of memory left for them")
        count = min(count, budget // working)
        per_piece = budget // (count * working)
        self.count = count
        self.pieces = max(count, math.ceil(batchsize / per_piece))
        self.parts = [_share_weights(net) for _ in range(count)]
        self._pool = None

    def __enter__(self):
        if self.count > 1:
            _BLAS_LIMIT.acquire()
            self._pool = ThreadPoolExecutor(self.count - 1)
        return self

    def __exit__(self, *exc_info):
        if self._pool is not None:
            self._pool.shutdown()
            _BLAS_LIMIT.release()
        return False

    def ffbp(self, x, y, keep=True, masks=None):
        """``ff(net, x)`` and ``bp(net, y)``; the pieces' gradients summed into the net.

        Parameters
        ----------
        x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
        y : ndarray, shape (onum, m)
        keep : bool
            Put the per-sample fields of the whole batch into the net (for
            the last batch of an epoch); otherwise only the gradients and
            ``L`` are certain to be the batch's.
        masks : list of ndarray, optional
            The dropout masks of the whole batch (``cnnff.dropout_masks``);
            each piece takes its columns.
        """
        if self.pieces == 1:
            bp(self.net, y, ff(self.net, x, masks))
            return
        m = y.shape[1]
        bounds = np.linspace(0, m, self.pieces + 1).astype(int)
        pieces = list(zip(bounds[:-1], bounds[1:]))
        sums = {}
        for first in range(0, self.pieces, self.count):
            round_ = list(zip(self.parts, pieces[first:first + self.count]))
            jobs = [self._pool.submit(_ffbp, part, x[..., start:end], y[:, start:end], m,
                                      _columns(masks, start, end))
                    for part, (start, end) in round_[1:]]
            part, (start, end) = round_[0]
            _ffbp(part, x[..., start:end], y[:, start:end], m, _columns(masks, start, end))
            for job in jobs:
                job.result()
            for part, (start, end) in round_:
                _add_gradients(sums, part)
                if keep:
                    self._keep(part, start, end, m)
        for (l, field), value in sums.items():
            (self.net if l is None else self.net["layers"][l])[field] = value

    def _keep(self, part, start, end, m):
        """Copy a piece's per-sample fields into samples start:end of the net's whole-batch fields.

        The first piece (``start == 0``) makes the whole-batch arrays.
        """
        owners = [(self.net, part, SAMPLE_FIELDS)]
        owners += [(layer, piece, MAP_FIELDS + (MASK,))
                   for layer, piece in zip(self.net["layers"], part["layers"])]
        for owner, piece, fields in owners:
            for field in fields:
                if field in piece:
                    if start == 0:
                        owner[field] = np.empty(piece[field].shape[:-1] + (m,), piece[field].dtype)
                    owner[field][..., start:end] = piece[field]


def _add_gradients(sums, part):
    """Add a piece's gradients and loss to ``sums`` (keys (layer or None, field))."""
    items = [((None, field), part[field]) for field in GRADIENT_FIELDS]
    items += [((l, "d" + field), layer["d" + field]) for l, layer in enumerate(part["layers"])
              for field in LAYER_WEIGHTS.get(layer["type"], ())]
    for key, value in items:
        if key in sums:
            sums[key] += value                # in place: the first piece's copy is ours
        else:
            sums[key] = value.copy() if isinstance(value, np.ndarray) else value


def _share_weights(net):
    """A stacked net for one worker: its own layer dicts, the same weight arrays."""
    part = {"ffW": net["ffW"], "ffb": net["ffb"], "layers": []}
    for key in (OUTPUT, DROPOUT, "testing"):
        if key in net:
            part[key] = net[key]
    for layer in net["layers"]:
        part["layers"].append({key: value for key, value in layer.items()
                               if key in SPEC_FIELDS or key in ("k", "b", "W")})
    return part


def _columns(masks, start, end):
    """Samples start:end of each dropout mask (None without dropout)."""
    return None if masks is None else [mask[:, start:end] for mask in masks]


def _ffbp(part, x, y, m, masks=None):
    """One piece: ``ff`` and ``bp``, sums divided by the whole batch's size m."""
    bp(part, y, ff(part, x, masks), m)
