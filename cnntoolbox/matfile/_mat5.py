"""MAT-files of versions 4, 6 and 7 (the v5 format family), read and written through scipy.io."""

import io
import warnings

import numpy as np
import scipy.io
import scipy.sparse
from scipy.io.matlab import MatlabFunction, MatlabObject, MatlabOpaque

from . import _mat4_scan, _mat5_scan
from ._values import MatFileError, char_value, nest, numeric_value, sparse_value, subscripts


def read(path, names, budget):
    """Read the variables of a v4/v6/v7 MAT-file.

    A v6/v7 file is first checked by ``_mat5_scan.plain`` (declared sizes
    against the bytes there are, compressed data against ``budget``), a v4
    file by ``_mat4_scan.check``;
    scipy then reads it from memory, so no read asks for more than the file holds.

    Parameters
    ----------
    path : str or os.PathLike
    names : list of str or None
        Variables to read (all when None); missing ones are left out.
    budget : _values.Budget
        What the whole read may take (memory, cell and struct elements).

    Returns
    -------
    dict
        Variable name -> Python value (see ``_values``), in file order.

    Raises
    ------
    MatFileError
        If the file is damaged, asks for more than ``budget`` allows, or
        holds a function handle or an object.
    """
    with open(path, "rb") as fileobj:
        data = fileobj.read()
    try:
        if _is_v5(data):
            data = _mat5_scan.plain(data, names, budget)
        else:
            _mat4_scan.check(data, budget)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            raw = scipy.io.loadmat(io.BytesIO(data), mat_dtype=True, variable_names=names)
        _check_warnings(caught)
        if any(issubclass(w.category, np.exceptions.ComplexWarning) for w in caught):
            # scipy's mat_dtype=True casts complex doubles to real: take those from a raw read
            stored = scipy.io.loadmat(io.BytesIO(data), mat_dtype=False, variable_names=names)
            raw = {name: _with_complex(value, stored[name]) for name, value in raw.items()}
    except MatFileError as error:
        raise MatFileError(f"{path}: {error}") from None
    except Exception as error:  # noqa: BLE001 - scipy on untrusted bytes: struct.error, zlib.error...
        raise MatFileError(f"{path}: damaged or not a MAT-file ({type(error).__name__}: "
                           f"{error})") from None
    try:
        return {name: to_python(value, name) for name, value in raw.items()
                if not name.startswith("__")}
    except MatFileError as error:
        raise MatFileError(f"{path}: {error}") from None


def variable_names(path):
    """Names of the variables in a v4/v6/v7 file (for error messages)."""
    with open(path, "rb") as fileobj:
        data = fileobj.read()
    if _is_v5(data):
        return _mat5_scan.variable_names(data)
    return [entry[0] for entry in scipy.io.whosmat(io.BytesIO(data))]


def _is_v5(data):
    """Whether ``data`` starts with a v6/v7 header (else scipy reads it as v4)."""
    return len(data) >= 128 and data[126:128] in (b"IM", b"MI")


def _check_warnings(caught):
    """Raise for what scipy only warns about: a variable it could not read."""
    for warning in caught:
        if "Unreadable variable" in str(warning.message):
            raise MatFileError(f"damaged variable ({warning.message})")


def _with_complex(value, stored):
    """``value`` (read with mat_dtype) with every complex array taken from ``stored``."""
    if isinstance(stored, np.ndarray) and stored.dtype.kind == "c":
        return stored.astype(np.result_type(value.dtype, np.complex64))
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "OV":
        return value
    out = value.copy()
    for index in subscripts(value.shape):
        if value.dtype.names is None:
            out[index] = _with_complex(value[index], stored[index])
        else:
            for name in value.dtype.names:
                out[index][name] = _with_complex(value[index][name], stored[index][name])
    return out


def to_python(value, where):
    """Python value of what scipy.io.loadmat returned for ``where`` (a MATLAB-style path)."""
    if isinstance(value, (MatlabFunction, MatlabOpaque)):
        raise MatFileError(f"{where}: is a MATLAB function handle or opaque object, "
                           "which cannot be read")
    if isinstance(value, MatlabObject):
        raise MatFileError(f"{where}: is a MATLAB object of class {value.classname!r}, "
                           "which cannot be read")
    if value is None:
        return {}                      # scipy's element of a struct without fields
    if scipy.sparse.issparse(value):
        value = sparse_value(value, where)         # first: astype sorts damaged indices in C++
        if value.dtype.kind not in "bc":           # MATLAB's sparse class is double or logical
            value = value.astype(np.float64)
        return value
    if value.dtype.kind == "U":
        return char_value(value.reshape(-1))
    if value.dtype.names is not None:
        return _struct(value, where)
    if value.dtype == object and value.size and all(item is None for item in value.flat):
        return {} if value.size == 1 else nest(np.full(value.shape, {}, dtype=object))
    if value.dtype == object:
        elements = np.empty(value.shape, dtype=object)
        for index in subscripts(value.shape):
            elements[index] = to_python(value[index], f"{where}{{{_subscript(index)}}}")
        return nest(elements)
    return numeric_value(value)


def _struct(value, where):
    """A struct (dict) or struct array (list of dicts) from a structured ndarray."""
    elements = np.empty(value.shape, dtype=object)
    for index in subscripts(value.shape):
        label = where if value.size == 1 else f"{where}({_subscript(index)})"
        elements[index] = {name: to_python(value[index][name], f"{label}.{name}")
                           for name in value.dtype.names}
    if value.size == 1:
        return elements.reshape(-1)[0]
    return nest(elements)


def _subscript(index):
    return ",".join(str(i + 1) for i in index)


def write(fileobj, variables):
    """Write canonical variables (see ``_values.canonical``) as a compressed v7 MAT-file."""
    scipy.io.savemat(fileobj, {name: _to_scipy(value) for name, value in variables.items()},
                     do_compression=True, long_field_names=True, oned_as="row")


def _to_scipy(value):
    """A canonical value in the form scipy.io.savemat writes as the intended MATLAB class."""
    if isinstance(value, dict):
        record = np.empty((1, 1), dtype=[(name, object) for name in value])
        for name, item in value.items():
            record[0, 0][name] = _to_scipy(item)
        return record
    if isinstance(value, np.ndarray) and value.dtype == object:
        cell = np.empty(value.shape, dtype=object)
        for index in subscripts(value.shape):
            cell[index] = _to_scipy(value[index])
        return cell
    if isinstance(value, str):
        _check_bmp(value)
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind == "U":
        for row in value:
            _check_bmp(row)
    return value


def _check_bmp(text):
    if any(ord(char) > 0xFFFF or 0xD800 <= ord(char) <= 0xDFFF for char in text):
        raise ValueError(f"the string {text!r} has characters beyond U+FFFF or lone "
                         "surrogates, which a v7 MAT-file cannot hold; save with format='7.3'")
