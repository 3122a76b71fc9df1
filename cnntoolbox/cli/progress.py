"""A live one-line progress display over the batches of an epoch.

``cnntrain(..., progress=callback)`` calls ``callback(epoch, batch,
numbatches, rL_last)`` after every batch (epoch and batch counted from 1,
like Matlab's loop variables). :class:`BatchProgress` is such a callback: it
redraws one line on a terminal with ``\\r``, showing the batch count, the
running loss ``rL`` and the time left in the epoch. :func:`make_progress`
returns one only when the stream is a terminal, so pipes and log files get
Matlab's plain ``epoch i/n`` lines and nothing else.
"""

import sys
import time


class BatchProgress:
    """Callback that redraws ``epoch 1/1 [####....] 600/1200 rL 0.1234 ...``.

    Parameters
    ----------
    numepochs : int
        Number of epochs of the run (for the ``epoch i/n`` label).
    stream : file-like, optional
        Where to draw; default ``sys.stderr``.
    min_interval : float
        Seconds between two redraws; the last batch of an epoch is always
        drawn and ends the line.
    width : int
        Characters of the bar.
    """

    def __init__(self, numepochs, stream=None, min_interval=0.1, width=30):
        self.numepochs = numepochs
        self.stream = sys.stderr if stream is None else stream
        self.min_interval = min_interval
        self.width = width
        self._epoch = None
        self._start = 0.0
        self._drawn = 0.0
        self._length = 0

    def __call__(self, epoch, batch, numbatches, rL_last):
        now = time.monotonic()
        if epoch != self._epoch:
            self._epoch, self._start, self._drawn = epoch, now, 0.0
        last = batch >= numbatches
        if not last and now - self._drawn < self.min_interval:
            return
        self._drawn = now
        elapsed = now - self._start
        left = elapsed / batch * (numbatches - batch)
        filled = self.width * batch // numbatches
        bar = "#" * filled + "." * (self.width - filled)
        line = (f"epoch {epoch}/{self.numepochs} [{bar}] {batch}/{numbatches}"
                f"  rL {rL_last:.4f}  {elapsed:.0f}s elapsed, {left:.0f}s left")
        self.stream.write("\r" + line.ljust(self._length))
        self._length = len(line)
        if last:
            self.stream.write("\n")
            self._length = 0
        self.stream.flush()


def make_progress(numepochs, quiet=False, stream=None):
    """The progress callback for ``cnntrain``, or None where it should not draw.

    Parameters
    ----------
    numepochs : int
        Number of epochs of the run.
    quiet : bool
        True turns the display off.
    stream : file-like, optional
        Default ``sys.stderr``; the display is on only if it is a terminal.

    Returns
    -------
    BatchProgress or None
    """
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if quiet or isatty is None or not isatty():
        return None
    return BatchProgress(numepochs, stream)
