"""The forward and backward pass of a batch, split over the machine's cores.

Every sample goes through ``cnnff`` and ``cnnbp`` on its own; only the
gradients (``dk``, ``db``, ``dffW``, ``dffb``) and the loss ``L`` sum over the
batch.  So ``cnntrain`` cuts each batch into one part per core, runs ``ff``
and ``bp`` on the parts in threads (numpy releases the GIL in its array
operations), and adds the parts' gradients.  Each part divides its sums by
the whole batch's size, so the parts add up to the batch's gradient; the
order of the additions differs from one product over the whole batch, which
moves results by rounding only (about 1e-16 relative).

While the parts run, the BLAS is held to one thread (threadpoolctl): two
parts that each start BLAS threads would ask for more threads than there
are cores.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from .cnnbp import bp
from .cnnff import ff
from .netfields import GRADIENT_FIELDS, OUTPUT, SAMPLE_FIELDS, SPEC_FIELDS

#: Fewest samples a part gets; smaller batches run in one piece.
MIN_PART = 8


def core_count():
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class BatchParallel:
    """``ff`` then ``bp`` of a stacked net, with the batch's parts on all cores.

    Use as a context manager around the training loop::

        with BatchParallel(net, batchsize) as parallel:
            for each batch:
                parallel.ffbp(batch_x, batch_y)   # ff(net, batch_x); bp(net, batch_y)
                applygrads(net, alpha)            # in place: the parts share the weights

    After the ``with`` block, the net holds the last batch's fields (``a``,
    ``d``, ``o``, ...) joined over the parts, as one ``ff`` and ``bp`` would
    have left them.

    Parameters
    ----------
    net : dict
        A stacked net.  Its weight arrays are shared with the parts, so the
        weights must be updated in place (``cnnapplygrads.applygrads`` does).
    batchsize : int
    parts : int, optional
        Parts per batch, 1 to ``batchsize``; default one per core, each of at
        least ``MIN_PART`` samples.
    """

    def __init__(self, net, batchsize, parts=None):
        self.net = net
        if parts is None:
            parts = max(1, min(core_count(), batchsize // MIN_PART))
        elif not 1 <= parts <= batchsize:
            raise ValueError(f"parts must be between 1 and the batch size {batchsize}, got {parts}")
        self.count = parts
        self.parts = [_share_weights(net) for _ in range(self.count)]
        self._pool = None
        self._limits = None

    def __enter__(self):
        if self.count > 1:
            self._limits = threadpool_limits(limits=1, user_api="blas")
            self._pool = ThreadPoolExecutor(self.count - 1)
        return self

    def __exit__(self, *exc_info):
        if self._pool is not None:
            self._pool.shutdown()
            self._limits.restore_original_limits()
            if exc_info[0] is None:
                self._join_parts()
        return False

    def ffbp(self, x, y):
        """``ff(net, x)`` and ``bp(net, y)``; the parts' gradients summed into the net.

        Parameters
        ----------
        x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
        y : ndarray, shape (onum, m)
        """
        if self.count == 1:
            ff(self.net, x)
            bp(self.net, y)
            return
        m = y.shape[1]
        bounds = np.linspace(0, m, self.count + 1).astype(int)
        jobs = [self._pool.submit(_ffbp, part, x[..., start:end], y[:, start:end], m)
                for part, start, end in zip(self.parts[1:], bounds[1:-1], bounds[2:])]
        _ffbp(self.parts[0], x[..., :bounds[1]], y[:, :bounds[1]], m)
        for job in jobs:
            job.result()
        first, rest = self.parts[0], self.parts[1:]
        for field in GRADIENT_FIELDS:
            self.net[field] = sum((part[field] for part in rest), first[field])
        for l, layer in enumerate(self.net["layers"]):
            if layer["type"] == "c":
                for field in ("dk", "db"):
                    layer[field] = sum((part["layers"][l][field] for part in rest),
                                       first["layers"][l][field])

    def _join_parts(self):
        """Put the last batch's per-sample fields of all parts into the net."""
        if "o" not in self.parts[0]:
            return
        for field in SAMPLE_FIELDS:
            self.net[field] = np.concatenate([part[field] for part in self.parts], axis=1)
        for l, layer in enumerate(self.net["layers"]):
            for field in ("a", "d"):
                if field in self.parts[0]["layers"][l]:
                    layer[field] = np.concatenate(
                        [part["layers"][l][field] for part in self.parts], axis=3)


def _share_weights(net):
    """A stacked net for one part: its own layer dicts, the same weight arrays."""
    part = {"ffW": net["ffW"], "ffb": net["ffb"], "layers": []}
    if OUTPUT in net:
        part[OUTPUT] = net[OUTPUT]
    for layer in net["layers"]:
        part["layers"].append({key: value for key, value in layer.items()
                               if key in SPEC_FIELDS or key in ("k", "b")})
    return part


def _ffbp(part, x, y, m):
    """One part: ``ff`` and ``bp``, sums divided by the whole batch's size m."""
    ff(part, x)
    bp(part, y, m)
