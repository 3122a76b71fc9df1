"""The toolbox's MNIST example (tests/test_example_CNN.m) as a function.

:func:`run_example` loads the bundled MNIST, prepares it as the ``.m`` file
does, sets up the 6c5-2s-12c5-2s net, trains it (alpha 1, batch 50, one
epoch) and tests it. The original reaches a test error of 11.27% after one
epoch under Octave 7.3; Python cannot draw Matlab's random numbers, so a run
here lands near that value, and ``python -m cnntoolbox --replay`` reproduces
the Octave run exactly from its recorded start (see :mod:`cnntoolbox.reference.replay`).
"""

import time
from pathlib import Path

import numpy as np

from ..files import atomic
from ..cnnsetup import cnnsetup
from ..cnntest import cnntest
from ..cnntrain import cnntrain
from ..datasets.mnist import load_mnist
from ..netlayout import DEFAULT_LAYERS, DOUBLE, SINGLE, parse_layers
from ..datasets.synthetic import synthetic_rgb

#: Data sets of :func:`run_example` (the command line's ``--data``).
DATA_SOURCES = ("mnist", "synthetic-rgb")
#: The opts of test_example_CNN.m (lines 24-26).
DEFAULT_OPTS = {"alpha": 1.0, "batchsize": 50, "numepochs": 1}
#: The precisions of the data, by Matlab's names: ``x = single(x)`` trains in float32.
PRECISIONS = {"double": DOUBLE, "single": SINGLE}


def run_example(layers=DEFAULT_LAYERS, alpha=1.0, batchsize=50, numepochs=1, seed=0,
                limit=None, data_dir=None, progress=None, checkpoint=None, verbose=True,
                output=None, momentum=None, alpha_decay=None, data="mnist",
                weight_penalty=None, dropout=None, precision="double"):
    """Run test_example_CNN.m: set up, train and test the net on MNIST.

    The keyword arguments after ``verbose`` are opt-ins beyond the original
    (README, "Beyond the original"); left at None they are not set at all.

    Parameters
    ----------
    layers : str or list of dict
        A spec for :func:`cnntoolbox.netlayout.parse_layers` or ``net.layers`` itself.
    alpha, batchsize, numepochs : float, int, int
        The ``opts`` of ``cnntrain``.
    seed : int or numpy.random.Generator or None
        One generator draws the initial weights, then the permutations.
    limit : int, optional
        Use only the first ``limit`` training and test samples.
    data_dir : path, optional
        Folder of the MNIST files (default the files that come with the package).
    progress : callable, optional
        ``progress(epoch, batch, numbatches, rL_last)``, passed to ``cnntrain``.
    checkpoint : path, optional
        Checkpoint file of ``cnntrain``: saved after every epoch, resumed
        from if it exists.
    verbose : bool
        Passed to ``cnntrain`` (Matlab's ``epoch i/n`` and elapsed-time lines).
    output : str, optional
        ``net["output"]``: "sigm" or "softmax".
    momentum, alpha_decay : float, optional
        ``opts["momentum"]`` and ``opts["alpha_decay"]`` of ``cnntrain``.
    data : str
        One of :data:`DATA_SOURCES`: "mnist", or "synthetic-rgb", the colour
        squares of :mod:`cnntoolbox.datasets.synthetic` (x of shape (16, 16, 3, m),
        3 classes; drawn from a generator of its own, seed 0).
    weight_penalty : float, optional
        ``opts["weightPenaltyL2"]`` of ``cnntrain``.
    dropout : float, optional
        ``net["dropoutFraction"]``.
    precision : str
        "double" (the original's) or "single": x and y as float32, so that
        training and testing run in float32 (``cnnsetup``'s weights are
        float64, as Matlab's ``rand``; the first step makes them float32).

    Returns
    -------
    dict
        ``net`` (trained), ``er`` (float), ``bad`` (0-based indices of the
        misclassified test samples), ``train_seconds``, ``m_train``, ``m_test``.
    """
    net_layers = parse_layers(layers) if isinstance(layers, str) else layers
    if data not in DATA_SOURCES:
        raise ValueError(f"data must be one of {', '.join(DATA_SOURCES)}, got {data!r}")
    if data == "mnist":
        train_x, train_y, test_x, test_y = load_mnist(data_dir, "toolbox", limit)     # lines 2-7
    else:
        train_x, train_y, test_x, test_y = synthetic_rgb(limit)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'double' or 'single', got {precision!r}")
    dtype = PRECISIONS[precision]
    train_x, train_y, test_x, test_y = (v.astype(dtype, copy=False)
                                        for v in (train_x, train_y, test_x, test_y))
    rng = np.random.default_rng(seed)                  # line 13: rand('state', 0)
    net = {"layers": net_layers}
    if output is not None:
        net["output"] = output
    if dropout is not None:
        net["dropoutFraction"] = dropout
    net = cnnsetup(net, train_x, train_y, rng=rng)                                 # line 28
    opts = {"alpha": alpha, "batchsize": batchsize, "numepochs": numepochs}
    for key, value in (("momentum", momentum), ("alpha_decay", alpha_decay),
                       ("weightPenaltyL2", weight_penalty)):
        if value is not None:
            opts[key] = value
    start = time.perf_counter()
    net = cnntrain(net, train_x, train_y, opts, rng=rng, progress=progress,        # line 29
                   checkpoint=checkpoint, verbose=verbose)
    train_seconds = time.perf_counter() - start
    er, bad = cnntest(net, test_x, test_y)                                         # line 31
    return {"net": net, "er": er, "bad": bad, "train_seconds": train_seconds,
            "m_train": train_x.shape[-1], "m_test": test_x.shape[-1]}


def check_plot_path(path):
    """The image format of ``path`` (its suffix, ``png`` without one), checked before any work.

    Raises
    ------
    ImportError
        Without matplotlib.
    ValueError
        When matplotlib cannot write that format (naming the ones it can).
    """
    import matplotlib  # noqa: F401  (an ImportError here, not after training)
    from matplotlib.backend_bases import FigureCanvasBase

    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    formats = FigureCanvasBase.get_supported_filetypes()
    if fmt not in formats:
        raise ValueError(f"matplotlib cannot write '.{fmt}' images ({path}); use one of "
                         f"{', '.join(sorted(formats))}")
    return fmt


def plot_rl(rL, path):
    """Save the plot of the running loss, like the example's ``plot(cnn.rL)`` (line 34).

    Needs matplotlib (the ``plot`` extra); raises ImportError without it,
    ValueError for a suffix it cannot write (:func:`check_plot_path`).
    The image is written to a temporary file in the same folder and renamed.
    """
    from matplotlib.figure import Figure

    target = Path(path)
    fmt = check_plot_path(target)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(np.arange(len(rL)), rL)                   # rL(1) is the first batch's L
    ax.set_xlabel("batches trained")
    # test_example_CNN.m comments "mean squared error"; L is 1/2 sum(e.^2) / m (cnnbp.m),
    # or the cross-entropy with the opt-in softmax output
    ax.set_ylabel("rL: running loss\n(1/2 sum(e.^2)/m, or cross-entropy with softmax)")
    ax.set_title("cnntrain: running loss")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    atomic.write(target, lambda f: fig.savefig(f, format=fmt))
