"""The bundled MNIST data in the toolbox's ``mnist_uint8`` layout.

The repository's ``data/`` folder holds the four original MNIST IDX files,
gzip-compressed; the package carries them as ``cnntoolbox/mnist/`` (the
build maps ``data/`` there, see ``pyproject.toml``). :func:`load_mnist` reads
them, checks the MD5 sum of every decompressed file and its IDX header, and
returns the four variables that the toolbox's ``load mnist_uint8`` gives
``test_example_CNN.m``, or, with ``layout="toolbox"``, those variables as
``test_example_CNN.m`` prepares them (:func:`prepare_data`).
:func:`write_mnist_mat` writes the ``mnist_uint8`` variables to a MATLAB v7 file.
"""

import gzip
import hashlib
import importlib.resources
import os
import zlib
from pathlib import Path

import numpy as np
import scipy.io

from ..files import atomic


def _bundled_data_dir():
    """The folder of the bundled IDX files.

    Installed (a wheel, ``pip install .`` or ``pip install -e .``), they are
    the package resource ``cnntoolbox.mnist``; in a source tree used without
    installing, they are ``data/`` beside the package folder.
    """
    try:
        folder = importlib.resources.files("cnntoolbox.mnist")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "data"
    # a folder without __init__.py is a namespace package: files() may give a
    # MultiplexedPath, whose joinpath gives the real file's Path
    return Path(str(folder.joinpath(next(iter(IDX_FILES))))).parent


#: Per file: the MD5 of its decompressed bytes, its IDX magic number and
#: the dimensions its header must announce.
IDX_FILES = {
    "train-images-idx3-ubyte.gz": ("6bbc9ace898e44ae57da46a324031adb", 0x803, (60000, 28, 28)),
    "train-labels-idx1-ubyte.gz": ("a25bea736e30d166cdddb491f175f624", 0x801, (60000,)),
    "t10k-images-idx3-ubyte.gz": ("2646ac647ad5339dbf082846283269ea", 0x803, (10000, 28, 28)),
    "t10k-labels-idx1-ubyte.gz": ("27ae3e4e09519cfbb04c329615203637", 0x801, (10000,)),
}


#: Folder with the bundled IDX files (see :func:`_bundled_data_dir`).
DEFAULT_DATA_DIR = _bundled_data_dir()


class CorruptDataError(ValueError):
    """A data file exists but its content is not the expected one."""


def _read_idx(path, md5, magic, dims):
    """Read one gzip-compressed IDX file and check it.

    Parameters
    ----------
    path : pathlib.Path
        The ``.gz`` file.
    md5 : str
        Expected MD5 (hex) of the decompressed bytes.
    magic : int
        Expected IDX magic number (0x803 images, 0x801 labels).
    dims : tuple of int
        Expected dimensions from the header.

    Returns
    -------
    numpy.ndarray
        uint8 array of shape ``dims``, in file order.
    """
    if not path.is_file():
        raise FileNotFoundError(f"MNIST file not found: {path} (give the folder of the four "
                                "MNIST .gz files as data_dir, or --data-dir on the command line)")
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptDataError(f"{path}: not a readable gzip file ({exc})") from None
    digest = hashlib.md5(raw).hexdigest()
    if digest != md5:
        raise CorruptDataError(
            f"{path}: MD5 of the decompressed content is {digest}, expected {md5}"
            " (the file is damaged or not the original MNIST file)")
    header_len = 4 + 4 * len(dims)
    header = np.frombuffer(raw[:header_len], dtype=">u4")
    found = (int(header[0]), tuple(int(n) for n in header[1:]))
    if found != (magic, dims) or len(raw) != header_len + int(np.prod(dims)):
        raise CorruptDataError(
            f"{path}: IDX header says magic {found[0]:#x}, dimensions {found[1]}, "
            f"expected magic {magic:#x}, dimensions {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)


def _one_hot(labels):
    """(n,) digit labels -> (n, 10) uint8 rows with a 1 in column ``label``."""
    y = np.zeros((labels.size, 10), dtype=np.uint8)
    y[np.arange(labels.size), labels] = 1
    return y


def load_mnist(data_dir: str | os.PathLike[str] | None = None, layout: str = "mnist_uint8",
               limit: int | None = None
               ) -> dict | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load MNIST as the toolbox's ``mnist_uint8`` variables, or ready for ``cnnsetup``.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Folder with the four ``*-ubyte.gz`` files; default the files that
        come with the package (:data:`DEFAULT_DATA_DIR`).
    layout : {"mnist_uint8", "toolbox"}
        ``"mnist_uint8"``: the variables of the toolbox's ``mnist_uint8.mat``,
        one sample per row.  ``"toolbox"``: as ``test_example_CNN.m``
        prepares them for ``cnnsetup``, ``cnntrain`` and ``cnntest``
        (:func:`prepare_data`).
    limit : int, optional
        With ``layout="toolbox"``: keep only the first ``limit`` training and
        ``min(limit, 10000)`` test samples.

    Returns
    -------
    dict, for ``layout="mnist_uint8"``
        ``train_x`` (60000, 784) uint8, ``train_y`` (60000, 10) uint8,
        ``test_x`` (10000, 784) uint8, ``test_y`` (10000, 10) uint8. Each
        row of ``*_x`` holds the 784 bytes of one image in IDX file order
        (row by row); each row of ``*_y`` is one-hot, column ``d`` for
        digit ``d`` (Matlab column d+1).
    tuple, for ``layout="toolbox"``
        ``train_x`` (28, 28, 60000) float64 in [0, 1], ``train_y`` (10, 60000)
        one-hot float64, ``test_x`` (28, 28, 10000), ``test_y`` (10, 10000).

    Raises
    ------
    FileNotFoundError
        A file is missing (the message names it and ``data_dir``).
    CorruptDataError
        A file is not valid gzip, has the wrong MD5 or a wrong IDX header.
    """
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"data_dir must be a path, got {type(data_dir).__name__}")
    if layout not in ("mnist_uint8", "toolbox"):
        raise ValueError(f"layout must be 'mnist_uint8' or 'toolbox', got {layout!r}")
    if limit is not None and layout != "toolbox":
        raise ValueError("limit applies to layout='toolbox' only")
    folder = Path(DEFAULT_DATA_DIR if data_dir is None else data_dir)
    arrays = {name: _read_idx(folder / name, *spec) for name, spec in IDX_FILES.items()}
    mnist = {
        "train_x": arrays["train-images-idx3-ubyte.gz"].reshape(60000, 784),
        "train_y": _one_hot(arrays["train-labels-idx1-ubyte.gz"]),
        "test_x": arrays["t10k-images-idx3-ubyte.gz"].reshape(10000, 784),
        "test_y": _one_hot(arrays["t10k-labels-idx1-ubyte.gz"]),
    }
    return prepare_data(mnist, limit) if layout == "toolbox" else mnist


def prepare_data(mnist: dict, limit: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ``mnist_uint8`` variables as test_example_CNN.m prepares them (lines 4-7).

    ``double(reshape(train_x', 28, 28, 60000)) / 255`` is Matlab's
    column-major reshape of the transposed rows, so sample ``i`` is
    ``x[:, :, i]`` with ``x[r, c, i] = train_x[i, r + 28 * c] / 255`` (the
    image appears transposed, exactly as in the original).

    Parameters
    ----------
    mnist : dict
        As returned by :func:`load_mnist` (``layout="mnist_uint8"``).
    limit : int, optional
        Keep only the first ``limit`` training and the first
        ``min(limit, 10000)`` test samples.

    Returns
    -------
    train_x : ndarray, shape (28, 28, m), float64
    train_y : ndarray, shape (10, m), float64
    test_x : ndarray, shape (28, 28, mt), float64
    test_y : ndarray, shape (10, mt), float64
    """
    train_n, test_n = len(mnist["train_x"]), len(mnist["test_x"])
    if limit is not None:
        if not 1 <= limit <= train_n:
            raise ValueError(f"limit must be between 1 and {train_n}, got {limit}")
        train_n, test_n = limit, min(limit, test_n)

    def images(rows):
        return rows.T.reshape(28, 28, -1, order="F") / 255

    return (images(mnist["train_x"][:train_n]), mnist["train_y"][:train_n].T.astype(np.float64),
            images(mnist["test_x"][:test_n]), mnist["test_y"][:test_n].T.astype(np.float64))


def write_mnist_mat(path: str | os.PathLike[str] | None = None,
                    data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write ``mnist_uint8.mat`` (MATLAB v7, compressed) for the original example.

    The file holds ``train_x``, ``train_y``, ``test_x``, ``test_y`` as uint8
    arrays exactly as :func:`load_mnist` returns them, which is the layout
    ``test_example_CNN.m`` expects from ``load mnist_uint8``. The file is
    written to a temporary file in the same folder and then renamed, so an
    interrupted write never leaves a partial file at ``path``.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Output file; default ``mnist_uint8.mat`` in the current folder.
    data_dir : str or os.PathLike, optional
        Folder with the IDX files, as in :func:`load_mnist`.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"data_dir must be a path, got {type(data_dir).__name__}")
    target = Path("mnist_uint8.mat" if path is None else path)
    atomic.probe(target)                       # before the download: the writer's own checks
    data = load_mnist(data_dir)
    atomic.write(target, lambda f: scipy.io.savemat(f, data, format="5", do_compression=True))
    return target
