"""Write MATLAB v7.3 MAT-files with h5py, in the layout MATLAB itself writes.

The file is HDF5 with a 512-byte user block whose first 128 bytes are
MATLAB's header (text, then version 0x0200 and the 'IM' endian mark).
Every object carries ``MATLAB_class`` (a null-terminated ASCII string);
dimensions are reversed; char is uint16 UTF-16 with ``MATLAB_int_decode``
= 2; logical is uint8 with ``MATLAB_int_decode`` = 1; an empty array is a
uint64 dataset of its dimensions with ``MATLAB_empty`` = 1; a cell is a
dataset of object references into ``/#refs#``, whose ``a`` is MATLAB's
shared "canonical empty" (what a ``[]`` element points to); a struct is a
group with ``MATLAB_fields`` (variable-length arrays of single chars).
"""

import io
import platform
import sys
import time

import h5py
import numpy as np
import scipy.sparse

from ._values import CLASS_OF_DTYPE

#: Arrays of at least this many bytes are stored chunked and gzip-compressed (as MATLAB does).
_COMPRESS_BYTES = 8192

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def write(fileobj, variables):
    """Write canonical variables (see ``_values.canonical``) as a v7.3 MAT-file to ``fileobj``.

    The HDF5 file is built in memory and then written with one
    ``fileobj.write``: HDF5 never writes to disk itself, so a full disk is an
    ordinary ``OSError`` of that write (HDF5 writing to a full disk returned
    normally over a truncated file, and crashed the interpreter at exit).
    """
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", userblock_size=512, libver="earliest") as h5:
        writer = _Writer(h5)
        for name, value in variables.items():
            writer.write(h5, name, value)
    image = buffer.getbuffer()
    image[:128] = header()
    fileobj.write(image)


def header():
    """MATLAB's 128-byte v7.3 header: descriptive text, subsystem offset, version, endian."""
    text = (f"MATLAB 7.3 MAT-file, Platform: {_platform()}, Created on: {time.asctime()} "
            "HDF5 schema 1.00 .")
    return text.encode("ascii").ljust(116, b" ") + bytes(8) + b"\x00\x02" + b"IM"


def _platform():
    """MATLAB's name for this platform (what ``computer`` returns)."""
    if sys.platform.startswith("win"):
        return "PCWIN64"
    if sys.platform == "darwin":
        return "MACA64" if platform.machine() == "arm64" else "MACI64"
    return "GLNXA64"


class _Writer:
    """Writes canonical values into one open h5py file, naming ``/#refs#`` entries in turn."""

    def __init__(self, h5):
        self.h5 = h5
        self.refs = None
        self.count = 0

    def write(self, parent, name, value):
        """Store ``value`` as ``parent[name]``."""
        if isinstance(value, dict):
            group = parent.create_group(name)
            _str_attr(group, "MATLAB_class", "struct")
            fields = np.empty(len(value), dtype=object)
            for i, key in enumerate(value):
                fields[i] = np.frombuffer(key.encode("ascii"), "S1")
            group.attrs.create("MATLAB_fields", fields, dtype=h5py.vlen_dtype(np.dtype("S1")))
            for key, item in value.items():
                self.write(group, key, item)
        elif isinstance(value, str):
            self.char(parent, name, np.array([value]))
        elif scipy.sparse.issparse(value):
            self.sparse(parent, name, value)
        elif value.dtype.kind == "U":
            self.char(parent, name, value)
        elif value.dtype == object:
            self.cell(parent, name, value)
        else:
            self.numeric(parent, name, value)

    def numeric(self, parent, name, arr):
        """A numeric or logical array."""
        cls = CLASS_OF_DTYPE[arr.dtype]
        if arr.size == 0:
            _empty(parent, name, cls, arr.shape)
            return
        data = arr.T
        if arr.dtype == np.bool_:
            data = data.astype(np.uint8)
        elif arr.dtype.kind == "c":
            part = arr.real.dtype
            data = np.rec.fromarrays([data.real, data.imag],
                                     dtype=[("real", part), ("imag", part)])
        dataset = _dataset(parent, name, data)
        _str_attr(dataset, "MATLAB_class", cls)
        if cls == "logical":
            dataset.attrs.create("MATLAB_int_decode", 1, dtype=np.int32)

    def char(self, parent, name, rows):
        """A char matrix from a 1-D array of row strings (UTF-16 code units)."""
        codes = [np.frombuffer(row.encode("utf-16-le", "surrogatepass"), "<u2")
                 for row in rows.tolist()]
        width = max(len(row) for row in codes)
        if width == 0:
            _empty(parent, name, "char", (len(codes) if len(codes) > 1 else 0, 0))
            return
        matrix = np.full((len(codes), width), ord(" "), dtype=np.uint16)
        for i, row in enumerate(codes):
            matrix[i, :len(row)] = row
        dataset = _dataset(parent, name, matrix.T)
        _str_attr(dataset, "MATLAB_class", "char")
        dataset.attrs.create("MATLAB_int_decode", 2, dtype=np.int32)

    def cell(self, parent, name, cell):
        """A cell: a dataset of references to its elements, stored in ``/#refs#``."""
        if cell.size == 0:
            _empty(parent, name, "cell", cell.shape)
            return
        refs = np.empty(cell.shape, dtype=h5py.ref_dtype)
        for index in np.ndindex(cell.shape):
            refs[index] = self.element(cell[index])
        dataset = parent.create_dataset(name, data=refs.T, dtype=h5py.ref_dtype)
        _str_attr(dataset, "MATLAB_class", "cell")

    def element(self, value):
        """Store one cell element in ``/#refs#``; return its reference."""
        if self.refs is None:
            self.refs = self.h5.create_group("#refs#")
            _empty(self.refs, "a", "canonical empty", (0, 0))
        if (isinstance(value, np.ndarray) and value.dtype == np.float64
                and value.shape == (0, 0)):
            return self.refs["a"].ref
        self.count += 1
        name = _ref_name(self.count)
        self.write(self.refs, name, value)
        return self.refs[name].ref

    def sparse(self, parent, name, matrix):
        """A sparse matrix: a group with MATLAB_sparse (rows) and data, ir, jc."""
        group = parent.create_group(name)
        cls = CLASS_OF_DTYPE[matrix.dtype]
        _str_attr(group, "MATLAB_class", cls)
        group.attrs.create("MATLAB_sparse", matrix.shape[0], dtype=np.uint64)
        if cls == "logical":
            group.attrs.create("MATLAB_int_decode", 1, dtype=np.int32)
        data = matrix.data.astype(np.uint8) if cls == "logical" else matrix.data
        if matrix.dtype.kind == "c":
            data = np.rec.fromarrays([data.real, data.imag],
                                     dtype=[("real", np.float64), ("imag", np.float64)])
        group.create_dataset("data", data=data)
        group.create_dataset("ir", data=matrix.indices.astype(np.uint64))
        group.create_dataset("jc", data=matrix.indptr.astype(np.uint64))


def _dataset(parent, name, data):
    """A dataset of ``data`` (already in HDF5's reversed order), compressed when large."""
    if data.nbytes >= _COMPRESS_BYTES:
        return parent.create_dataset(name, data=data, chunks=True, compression="gzip",
                                     compression_opts=3)
    return parent.create_dataset(name, data=data)


def _empty(parent, name, cls, shape):
    """MATLAB's empty array: its dimensions as uint64 data, marked MATLAB_empty = 1."""
    dataset = parent.create_dataset(name, data=np.array(shape, dtype=np.uint64))
    _str_attr(dataset, "MATLAB_class", cls)
    dataset.attrs.create("MATLAB_empty", 1, dtype=np.uint8)


def _str_attr(obj, name, text):
    """A scalar null-terminated fixed-length ASCII string attribute, as MATLAB writes it."""
    string_type = h5py.h5t.C_S1.copy()
    string_type.set_size(len(text))
    string_type.set_strpad(h5py.h5t.STR_NULLTERM)
    attr = h5py.h5a.create(obj.id, name.encode("ascii"), string_type,
                           h5py.h5s.create(h5py.h5s.SCALAR))
    attr.write(np.array(text.encode("ascii"), dtype=f"S{len(text)}"), mtype=string_type)


def _ref_name(number):
    """The ``number``-th name in /#refs# after 'a': b, c, ..., Z, ba, bb, ..."""
    name = ""
    while True:
        number, digit = divmod(number, len(_LETTERS))
        name = _LETTERS[digit] + name
        if number == 0:
            return name
