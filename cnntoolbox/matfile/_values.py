"""The mapping between MATLAB values and Python values, shared by every MAT-file format.

Reading (``to_python`` side):

========================  ==============================================
MATLAB                    Python
========================  ==============================================
1x1 double / logical      ``float`` (``complex`` if complex) / ``bool``
other numeric, logical    ``ndarray`` with MATLAB's shape (at least 2-D) and class
char row, ''              ``str`` (UTF-16, surrogate pairs joined)
char with several rows    ``ndarray`` of ``str``, one per row
cell, 1xN / Nx1 / 1x1     flat ``list``
cell with more than one   nested lists: ``c{i,j}`` is ``value[i-1][j-1]``
non-singleton dimension   (singleton dimensions dropped)
empty cell / struct array ``[]``
1x1 struct                ``dict`` in MATLAB's field order
struct array              ``list`` of ``dict`` (nested like a cell)
sparse                    ``scipy.sparse.csc_matrix``
========================  ==============================================

Writing accepts the Python side of the table plus: ``int`` (saved as a
double, exactly representable ints only), ``tuple`` (like ``list``), NumPy
scalars (1x1 of their class), 1-D arrays (1xN rows), object arrays (cells of
the same shape).  A ``list`` is always saved as a 1xN cell and a list of
dicts as a cell of structs, so a 2-D cell or a struct array comes back as
nested lists either way, and ``np.array([[2.0]])`` comes back as ``2.0``.
"""

import re

import numpy as np
import scipy.sparse

#: MATLAB class name of each NumPy dtype a MAT-file can hold.
CLASS_OF_DTYPE = {
    np.dtype(np.float64): "double", np.dtype(np.complex128): "double",
    np.dtype(np.float32): "single", np.dtype(np.complex64): "single",
    np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8",
    np.dtype(np.int16): "int16", np.dtype(np.uint16): "uint16",
    np.dtype(np.int32): "int32", np.dtype(np.uint32): "uint32",
    np.dtype(np.int64): "int64", np.dtype(np.uint64): "uint64",
    np.dtype(np.bool_): "logical",
}

#: NumPy dtype of each numeric MATLAB class.
DTYPE_OF_CLASS = {"double": np.float64, "single": np.float32, "int8": np.int8,
                  "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
                  "int32": np.int32, "uint32": np.uint32, "int64": np.int64,
                  "uint64": np.uint64, "logical": np.bool_}

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}\Z")


#: Most dimensions of an array saved (HDF5's limit, so that a v7 file can become v7.3).
MAX_DIMENSIONS = 32

#: Deepest nesting of cells and structs read, in every format (MATLAB nets need about 4).
MAX_DEPTH = 100

#: Smallest memory budget of a read; a larger file gets 1024 x its size (zlib's best ratio).
MIN_BUDGET = 256 * 2 ** 20

#: Bytes charged for each cell or struct element read, in every format: what one becomes in
#: memory (a Python object of 50-200 bytes, its slot in a list or dict, an object array's
#: slot while it is built), so that a million tiny or shared elements count as they cost.
ELEMENT_COST = 256

#: Most cell and struct elements one read may hold, whatever the budget: 2^19 loads in
#: about a second; a MATLAB net has fewer than 100.
MAX_ELEMENTS = 2 ** 19


class MatFileError(ValueError):
    """A file is not a usable MAT-file, or holds something this package cannot read."""


def memory_budget(file_size):
    """Bytes of memory a read of a file of ``file_size`` bytes may take: max(``MIN_BUDGET``, 1024 x size)."""
    return max(MIN_BUDGET, 1024 * file_size)


class Budget:
    """What one read may still take: bytes of memory and cell or struct elements.

    Parameters
    ----------
    nbytes : int
        The memory budget in bytes (:func:`memory_budget` of the file's size).
    """

    def __init__(self, nbytes):
        self.bytes = nbytes
        self.count = MAX_ELEMENTS

    def charge(self, nbytes, where):
        """Count ``nbytes`` of memory; raise ``MatFileError`` when the budget is spent."""
        self.bytes -= nbytes
        if self.bytes < 0:
            raise MatFileError(f"{where}: the file asks for more memory than the limit "
                               "(a damaged size, or a compression or reference bomb)")

    def elements(self, count, where):
        """Count ``count`` cell or struct elements (and ``ELEMENT_COST`` bytes for each)."""
        self.count -= count
        if self.count < 0:
            raise MatFileError(f"{where}: more than {MAX_ELEMENTS} cell or struct elements "
                               "in one file (a damaged size, or a reference bomb)")
        self.charge(count * ELEMENT_COST, where)


def check_name(name, where):
    """Raise ``ValueError`` unless ``name`` is a valid MATLAB variable or field name."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{where}: {name!r} is not a valid MATLAB name (a letter, then up to "
                         "62 letters, digits or underscores)")


def numeric_value(arr):
    """Python value of a numeric or logical MATLAB array ``arr`` (MATLAB's shape, >= 2-D)."""
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.shape == (1, 1) and arr.dtype in (np.float64, np.complex128, np.bool_):
        return arr.item()
    return arr


def sparse_value(matrix, where):
    """A sparse matrix as a ``csc_matrix`` whose index arrays are checked in full.

    scipy trusts them: a damaged one (``indptr`` decreasing, an index out of
    range) loaded quietly and crashed the interpreter when printed or used
    (a segmentation fault, found by fuzzing).  scipy's own full check skips
    ``indptr`` when the matrix holds no values, so the checks are made here.
    """
    try:
        matrix = scipy.sparse.csc_matrix(matrix)
    except ValueError as error:
        raise MatFileError(f"{where}: a damaged sparse matrix ({error})") from None
    indptr, indices = matrix.indptr, matrix.indices
    if (indptr.size != matrix.shape[1] + 1 or indptr[0] != 0 or (np.diff(indptr) < 0).any()
            or indptr[-1] != indices.size
            or indices.size and (indices.min() < 0 or indices.max() >= matrix.shape[0])):
        raise MatFileError(f"{where}: a damaged sparse matrix (its row indices or column "
                           "pointers are out of order or out of range)")
    return matrix


def char_value(rows):
    """Python value of a char array given as a 1-D array or list of its row strings."""
    rows = [str(row) for row in rows]
    if all(row == "" for row in rows):
        return ""
    if len(rows) == 1:
        return rows[0]
    return np.array(rows)


def subscripts(shape):
    """Every index of an array of ``shape`` in C order (like ``np.ndindex``).

    Nothing for an empty array: ``np.ndindex`` would first build a range of
    every dimension, a MemoryError for a damaged file's (2^31 - 1) x 0 cell.
    """
    if 0 in shape:
        return iter(())
    return np.ndindex(shape)


def nest(elements):
    """Lay out an object array of converted cell/struct elements (MATLAB's shape) as lists.

    Parameters
    ----------
    elements : ndarray of object, MATLAB's shape

    Returns
    -------
    list
        Flat when at most one dimension is not 1, else nested with MATLAB's
        subscripts in order (``c{i,j}`` is ``value[i-1][j-1]``).
    """
    if elements.size == 0:
        return []
    squeezed = elements.reshape([n for n in elements.shape if n != 1])
    if squeezed.ndim == 0:
        return [squeezed.item()]
    return squeezed.tolist()


def canonical(value, where):
    """Check a Python value and bring it to the form both MAT-file writers take.

    Parameters
    ----------
    value : see the module docstring
    where : str
        MATLAB-style path of ``value`` for error messages, e.g. ``net.layers{2}.k``.

    Returns
    -------
    dict, str, ndarray (numeric, logical, str, or object for a cell) or csc_matrix
        dicts with checked field names and canonical values; every ndarray at
        least 2-D; object arrays hold canonical values.

    Raises
    ------
    TypeError
        For a value no MATLAB class can hold (None, bytes, sets, ...).
    ValueError
        For a bad field name, an empty dict, an int a double cannot hold exactly, or a dtype
        MATLAB has no class for.
    """
    if isinstance(value, dict):
        if not value:
            raise ValueError(f"{where}: a struct without fields cannot be saved")
        out = {}
        for key, item in value.items():
            check_name(key, where)
            out[key] = canonical(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        cell = np.empty((1, len(value)) if value else (0, 0), dtype=object)
        for i, item in enumerate(value):
            cell[0, i] = canonical(item, f"{where}{{{i + 1}}}")
        return cell
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return np.array([[bool(value)]])
    if isinstance(value, int):
        if abs(value) > 2 ** 53:
            raise ValueError(f"{where}: the int {value} has no exact double; pass a NumPy "
                             "integer array to keep it as an integer class")
        return np.array([[float(value)]])
    if isinstance(value, float):
        return np.array([[float(value)]])
    if isinstance(value, complex):
        return np.array([[complex(value)]])
    if scipy.sparse.issparse(value):
        if value.ndim != 2 or value.dtype not in (np.float64, np.complex128, np.bool_):
            raise ValueError(f"{where}: a sparse matrix must be 2-D double, complex or bool")
        return scipy.sparse.csc_matrix(value)
    if isinstance(value, (np.ndarray, np.generic)):
        return _canonical_array(np.asarray(value), where)
    raise TypeError(f"{where}: a {type(value).__name__} cannot be stored in a MAT-file")


def _canonical_array(arr, where):
    """``canonical`` for an ndarray: at least 2-D (1-D -> 1xN), a MATLAB class.

    A str array is a char matrix, one string per row: it comes back 1-D
    with its rows padded with spaces to the same length.
    """
    if arr.dtype.kind == "U":
        if arr.ndim > 1:
            raise ValueError(f"{where}: a str array must be 1-D (the rows of a char matrix)")
        rows = arr.reshape(-1).tolist()
        width = max((len(row) for row in rows), default=0)
        return np.array([row.ljust(width) for row in rows], dtype=f"<U{max(width, 1)}")
    if arr.ndim < 2:
        arr = arr.reshape(1, -1) if arr.ndim == 1 else arr.reshape(1, 1)
    if arr.ndim > MAX_DIMENSIONS:
        raise ValueError(f"{where}: an array of {arr.ndim} dimensions; a MAT-file holds at most "
                         f"{MAX_DIMENSIONS} (HDF5's limit)")
    if arr.dtype == object:
        cell = np.empty(arr.shape, dtype=object)
        for index in subscripts(arr.shape):
            subscript = ",".join(str(i + 1) for i in index)
            cell[index] = canonical(arr[index], f"{where}{{{subscript}}}")
        return cell
    if arr.dtype not in CLASS_OF_DTYPE:
        raise ValueError(f"{where}: MATLAB has no class for dtype {arr.dtype}")
    return arr
