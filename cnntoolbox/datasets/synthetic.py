"""A small synthetic colour data set: which colour is the bright square?

MNIST has one channel; this data set exercises input with channels (x of
shape (rows, cols, 3, m)) from the command line (``--data synthetic-rgb``).
Every image is dim noise in all three channels, uniform in [0, 0.4), with
one square of ``SQUARE`` x ``SQUARE`` pixels at a random place where one
channel, the class, is raised by 0.6.  The label is that channel (red, green
or blue, one-hot).  The sum of the channels shows the same square in every
class, so a net must tell the channels apart to do better than chance (2/3
test error).
"""

import numpy as np

from ..checks import as_rng
from ..netlayout import as_int

#: Classes: the channel that is bright in the square.
CLASSES = ("red", "green", "blue")
#: Side of the bright square, in pixels.
SQUARE = 5
#: Image size and sample counts of ``--data synthetic-rgb``.
ROWS = COLS = 16
TRAIN, TEST = 1500, 600


def colour_squares(m, rows=ROWS, cols=COLS, rng=None):
    """Draw ``m`` images of the data set and their one-hot labels.

    Parameters
    ----------
    m : int
        Number of samples.
    rows, cols : int
        Image size, at least ``SQUARE``.
    rng : numpy.random.Generator or int or None

    Returns
    -------
    x : ndarray, shape (rows, cols, 3, m), float64 in [0, 1)
    y : ndarray, shape (3, m), float64 one-hot; ``y[c, i] == 1`` when channel
        c is bright in the square of sample i.
    """
    m, rows, cols = (as_int(v, name) for v, name in ((m, "m"), (rows, "rows"), (cols, "cols")))
    if rows < SQUARE or cols < SQUARE:
        raise ValueError(f"images must be at least {SQUARE}x{SQUARE}, got {rows}x{cols}")
    rng = as_rng(rng)
    x = rng.uniform(0, 0.4, (rows, cols, len(CLASSES), m))
    labels = rng.integers(0, len(CLASSES), m)
    top = rng.integers(0, rows - SQUARE + 1, m)
    left = rng.integers(0, cols - SQUARE + 1, m)
    for i in range(m):
        x[top[i]:top[i] + SQUARE, left[i]:left[i] + SQUARE, labels[i], i] += 0.6
    y = np.zeros((len(CLASSES), m))
    y[labels, np.arange(m)] = 1.0
    return x, y


def synthetic_rgb(limit=None, seed=0):
    """Training and test set of the command line's ``--data synthetic-rgb``.

    Parameters
    ----------
    limit : int, optional
        Keep only ``limit`` training and ``min(limit, TEST)`` test samples.
    seed : int
        The data's own generator (independent of the net's seed).

    Returns
    -------
    train_x : ndarray, shape (ROWS, COLS, 3, m)
    train_y : ndarray, shape (3, m)
    test_x : ndarray, shape (ROWS, COLS, 3, mt)
    test_y : ndarray, shape (3, mt)
    """
    train, test = TRAIN, TEST
    if limit is not None:
        if not 1 <= limit <= TRAIN:
            raise ValueError(f"limit must be between 1 and {TRAIN}, got {limit}")
        train, test = limit, min(limit, TEST)
    rng = np.random.default_rng(seed)
    return (*colour_squares(train, rng=rng), *colour_squares(test, rng=rng))
