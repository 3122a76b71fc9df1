"""Read MATLAB v7.3 MAT-files (HDF5 with MATLAB's layout) through h5py.

MATLAB's layout: every variable is a dataset or group named after it, with
a ``MATLAB_class`` attribute; arrays are stored with their dimensions
reversed; char is uint16 (``MATLAB_int_decode`` = 2), logical uint8; an
empty array is a dataset holding its dimensions, marked ``MATLAB_empty``; a
cell is a dataset of object references into ``/#refs#``; a 1x1 struct is a
group whose ``MATLAB_fields`` attribute gives the field order; a struct
array is a group whose fields are reference datasets without a class.

A file from a stranger is hostile until checked; everything read is:

* it reads only the named file (HDF5's default ``sec2`` driver): a dataset
  with external raw storage, a virtual dataset, an external or soft link, a
  filter other than the three MATLAB uses (deflate, shuffle, fletcher32; so
  no HDF5 filter plugin is ever loaded) or data of a variable-length type
  is refused before its data is read;
* a reference cycle, an object other than an empty array reached twice,
  nesting deeper than ``MAX_DEPTH``, more cell or struct elements or more
  memory than the :class:`~._values.Budget` allows, or an object that is not
  what MATLAB writes raises ``MatFileError``; no h5py exception leaks;
* an empty array shared by many references (MATLAB's canonical empty) is
  read once: a million references to it cost a million elements of the
  budget, not a million HDF5 reads;
* whatever else a damaged file does to HDF5 (a crash, an endless loop, a
  runaway allocation) happens in the limited child process this runs in
  (``_isolate``) and becomes a ``MatFileError`` there; the hand-written
  walks of object headers and global heaps that once guarded against some
  of it are gone.
"""

import functools
import math

import h5py
import numpy as np
import scipy.sparse

from ._values import (DTYPE_OF_CLASS, MAX_DEPTH, MatFileError, char_value, nest, numeric_value,
                      sparse_value, subscripts)

#: Most bytes an inflated dataset may hold per byte stored (zlib's best ratio is about 1032).
_MAX_RATIO = 1100

#: The filters MATLAB writes: deflate (gzip), shuffle, fletcher32.  Any other is refused.
_FILTERS = {h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32}

#: The attributes MATLAB writes (and all that is read); each is a few bytes in MATLAB's files.
_ATTRIBUTES = ("MATLAB_class", "MATLAB_empty", "MATLAB_fields", "MATLAB_sparse",
               "MATLAB_object_decode")

#: Most attributes of one object (MATLAB writes up to 3, hdf5storage a few more).
_MAX_ATTRIBUTES = 64

#: Largest attribute read, in bytes (MATLAB_fields of a struct with thousands of fields fits).
_MAX_ATTRIBUTE = 2 ** 20

#: Exceptions h5py raises on a damaged file.
_H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError,
              AttributeError, UnicodeDecodeError, OverflowError, MemoryError, RecursionError)


def read(path, names, budget):
    """Read the variables of a v7.3 MAT-file.

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
        Variable name -> Python value (see ``_values``), in HDF5 link order.
    """
    try:
        with h5py.File(path, "r", driver="sec2") as h5:
            reader = _Reader(h5, budget)
            wanted = [name for name in h5 if not name.startswith("#")]
            if names is not None:
                wanted = [name for name in wanted if name in names]
            budget.elements(len(wanted), "the file's variables")
            return {name: reader.value(reader.member(h5, name, name).id, name, ())
                    for name in wanted}
    except MatFileError as error:
        if str(error).startswith(f"{path}: "):
            raise
        raise MatFileError(f"{path}: {error}") from None
    except FileNotFoundError:
        raise
    except _H5_ERRORS as error:
        raise MatFileError(f"{path}: damaged v7.3 MAT-file ({type(error).__name__}: "
                           f"{error})") from None


def variable_names(path):
    """Names of the variables in a v7.3 file (for error messages)."""
    try:
        with h5py.File(path, "r", driver="sec2") as h5:
            return [name for name in h5 if not name.startswith("#")]
    except _H5_ERRORS as error:
        raise MatFileError(f"{path}: damaged v7.3 MAT-file ({type(error).__name__}: "
                           f"{error})") from None


class _Reader:
    """Turns the HDF5 objects of one file into Python values, within a budget.

    Parameters
    ----------
    h5 : h5py.File
    budget : _values.Budget
    """

    def __init__(self, h5, budget):
        self.h5 = h5
        self.budget = budget
        self.seen = set()
        self.empties = {}                 # address -> maker of a shared empty array's value

    def value(self, oid, where, path):
        """Python value of the HDF5 object ``oid`` (a low-level h5py id, for speed).

        ``path`` holds the addresses of its ancestors.
        """
        info = h5py.h5o.get_info(oid)
        address = info.addr
        if address in path:
            raise MatFileError(f"{where}: a reference cycle (the object contains itself)")
        if len(path) >= MAX_DEPTH:
            raise MatFileError(f"{where}: cells or structs nested deeper than {MAX_DEPTH}")
        path = path + (address,)
        attrs = self.attributes(oid, info.num_attrs, where)
        empty = "MATLAB_empty" in attrs and attrs["MATLAB_empty"].any()
        if address in self.seen and not empty:
            raise MatFileError(f"{where}: an object read a second time (MATLAB shares only "
                               "empty arrays; a reference bomb)")
        self.seen.add(address)
        cls = _class(attrs, where)
        if "MATLAB_object_decode" in attrs or cls == "function_handle":
            raise MatFileError(f"{where}: is a MATLAB {cls or 'object'} (function handles "
                               "and objects cannot be read)")
        if isinstance(oid, h5py.h5g.GroupID):
            if "MATLAB_sparse" in attrs:
                return self.sparse(h5py.Group(oid), attrs, where)
            if cls != "struct":
                raise MatFileError(f"{where}: a group of MATLAB class {cls!r} (only structs "
                                   "and sparse matrices are groups)")
            return self.struct(h5py.Group(oid), attrs, where, path)
        if not isinstance(oid, h5py.h5d.DatasetID):
            raise MatFileError(f"{where}: is neither a dataset nor a group")
        if empty:
            self.empties[address] = self.empty(oid, cls, where)
            return self.empties[address]()
        if cls == "cell":
            return nest(self.deref_all(oid, where, path, lambda index: f"{where}{{{index}}}"))
        if cls == "char":
            return self.char(oid, where)
        if cls in DTYPE_OF_CLASS:
            return numeric_value(self.array(oid, cls, where))
        raise MatFileError(f"{where}: unknown or missing MATLAB_class {cls!r}")

    def data(self, dsid, where, itemsize=0):
        """The contents of dataset ``dsid`` in MATLAB's shape (dimensions un-reversed, >= 2-D).

        Its storage is checked (only this file, only MATLAB's filters), its
        size is charged (at ``itemsize`` bytes a value if that is more than
        stored, for what it becomes) and checked against the bytes the file
        stores for it, all before anything is read.
        """
        shape = dsid.shape
        if shape is None or len(shape) > 32:
            raise MatFileError(f"{where}: a dataset without a usable shape")
        dtype = dsid.dtype
        refs = h5py.check_ref_dtype(dtype) is h5py.Reference
        if (dtype.kind not in "biufcV" or dtype.hasobject) and not refs:
            raise MatFileError(f"{where}: data of type {dtype}, which MATLAB never writes")
        count = math.prod(shape)
        self.budget.charge(count * max(dtype.itemsize, itemsize), where)
        _check_stored(dsid, _check_storage(dsid, where), count * dtype.itemsize, shape, where)
        if refs:
            raw = np.asarray(h5py.Dataset(dsid)[()])
        else:
            raw = np.empty(shape, dtype=dtype)
            if raw.size:
                dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, raw)
        if raw.ndim < 2:
            raw = raw.reshape(-1, 1)
        return raw.T

    def array(self, dsid, cls, where):
        """A numeric or logical array of class ``cls``."""
        raw = self.data(dsid, where, 16)
        if raw.dtype.names is not None:
            if set(raw.dtype.names) != {"real", "imag"} or cls in ("logical",):
                raise MatFileError(f"{where}: a compound dataset that is not a complex number")
            return raw["real"] + 1j * raw["imag"].astype(raw["real"].dtype)
        if raw.dtype.kind not in "biuf":
            raise MatFileError(f"{where}: {cls} data stored as {raw.dtype}")
        return raw.astype(DTYPE_OF_CLASS[cls])

    def char(self, dsid, where):
        """A str (or an array of row strs) from uint16 UTF-16 code units."""
        codes = self.data(dsid, where)
        if codes.dtype.kind not in "ui" or codes.ndim != 2:
            raise MatFileError(f"{where}: char data stored as {codes.dtype}, "
                               f"{codes.ndim} dimensions")
        return char_value(row.astype("<u2").tobytes().decode("utf-16-le", "surrogatepass")
                          for row in codes)

    def empty(self, dsid, cls, where):
        """A maker of an empty array's value (a new one each call): the dataset holds its size."""
        dims = self.data(dsid, where).reshape(-1)
        if dims.dtype.kind not in "ui" or not 1 <= dims.size <= 32 or (dims < 0).any():
            raise MatFileError(f"{where}: an empty array with a damaged size {dims!r}")
        if dims.size == 1:
            dims = np.append(dims, 0)
        if np.prod(dims, dtype=np.float64) != 0:
            raise MatFileError(f"{where}: marked empty but sized {tuple(dims.tolist())}")
        if cls in ("char", "cell", "struct", "canonical empty") or cls in DTYPE_OF_CLASS:
            return functools.partial(_empty_value, cls, tuple(int(n) for n in dims))
        raise MatFileError(f"{where}: an empty array of unknown class {cls!r}")

    def deref_all(self, dsid, where, path, label):
        """Object array (MATLAB's shape) of the values a reference dataset points to.

        Each element is charged to the budget before any is read; an empty
        array reached again is made from what its first read found.
        """
        if h5py.check_ref_dtype(dsid.dtype) is not h5py.Reference or dsid.shape is None:
            raise MatFileError(f"{where}: expected object references, found {dsid.dtype}")
        self.budget.elements(math.prod(dsid.shape), where)
        refs = self.data(dsid, where)
        addresses = np.zeros(dsid.shape, dtype=np.uint64)
        if addresses.size:
            dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, addresses, mtype=h5py.h5t.STD_REF_OBJ)
        addresses = addresses.reshape(refs.T.shape).T
        out = np.empty(refs.shape, dtype=object)
        for index in subscripts(refs.shape):
            make = self.empties.get(int(addresses[index]))
            if make is not None:
                out[index] = make()
                continue
            name = label(",".join(str(i + 1) for i in index))
            if not refs[index]:
                raise MatFileError(f"{name}: a null reference")
            out[index] = self.value(h5py.h5r.dereference(refs[index], self.h5.id), name, path)
        return out

    def struct(self, group, attrs, where, path):
        """A dict (1x1 struct) or list of dicts (struct array) from a struct group."""
        fields = _field_names(group, attrs, where)
        self.budget.elements(len(fields), where)
        members = {name: self.member(group, name, f"{where}.{name}") for name in fields}
        arrays = [name for name, member in members.items() if isinstance(member, h5py.Dataset)
                  and h5py.check_ref_dtype(member.dtype) is h5py.Reference
                  and "MATLAB_class" not in member.attrs]
        if not arrays:
            return {name: self.value(member.id, f"{where}.{name}", path)
                    for name, member in members.items()}
        columns = {}
        for name, member in members.items():
            if name not in arrays:
                raise MatFileError(f"{where}: field {name!r} of a struct array is not a "
                                   "reference dataset")
            columns[name] = self.deref_all(member.id, where, path,
                                           lambda index, name=name: f"{where}({index}).{name}")
        shapes = {column.shape for column in columns.values()}
        if len(shapes) != 1:
            raise MatFileError(f"{where}: the fields of a struct array differ in size")
        shape = shapes.pop()
        elements = np.empty(shape, dtype=object)
        for index in subscripts(shape):
            elements[index] = {name: columns[name][index] for name in fields}
        if elements.size == 1:
            return elements.reshape(-1)[0]
        return nest(elements)

    def sparse(self, group, attrs, where):
        """A scipy.sparse.csc_matrix from MATLAB's data/ir/jc datasets."""
        cls = _class(attrs, where)
        if cls not in ("double", "logical"):
            raise MatFileError(f"{where}: a sparse matrix of class {cls!r}")
        nrows = int(np.asarray(attrs["MATLAB_sparse"]).reshape(-1)[0])
        if "jc" not in group:
            raise MatFileError(f"{where}: a sparse matrix without 'jc'")
        jc = self.data(self.member(group, "jc", where).id, where).reshape(-1).astype(np.int64)
        if "data" in group and "ir" in group:
            ir = self.data(self.member(group, "ir", where).id, where).reshape(-1).astype(np.int64)
            values = self.array(self.member(group, "data", where).id, cls, where).reshape(-1)
        else:
            ir = np.zeros(0, np.int64)
            values = np.zeros(0, DTYPE_OF_CLASS[cls])
        try:
            matrix = scipy.sparse.csc_matrix((values, ir, jc), shape=(nrows, jc.size - 1))
        except ValueError as error:
            raise MatFileError(f"{where}: a damaged sparse matrix ({error})") from None
        return sparse_value(matrix, where)

    def member(self, group, name, where):
        """``group[name]``, refusing what MATLAB never writes: missing, soft and external links."""
        try:
            link = group.id.links.get_info(name.encode())
        except KeyError:
            raise MatFileError(f"{where}: is listed but missing from the file") from None
        if link.type != h5py.h5l.TYPE_HARD:
            kind = {h5py.h5l.TYPE_SOFT: "SoftLink", h5py.h5l.TYPE_EXTERNAL: "ExternalLink"}
            raise MatFileError(f"{where}: is a {kind.get(link.type, 'user-defined link')}, "
                               "which MATLAB never writes")
        return group[name]

    def attributes(self, oid, count, where):
        """The MATLAB attributes of object ``oid`` (``count`` attributes).

        Each is checked before it is read: it must be small and stored in
        full, and of a fixed-size type, but for ``MATLAB_fields`` (variable-length names).
        """
        if count > _MAX_ATTRIBUTES:
            raise MatFileError(f"{where}: {count} attributes (MATLAB writes a few)")
        attrs = {}
        for name in _ATTRIBUTES:
            if len(attrs) == count:
                break
            if not h5py.h5a.exists(oid, name.encode()):
                continue
            attr = h5py.h5a.open(oid, name.encode())
            shape = attr.shape
            if shape is None or len(shape) > 32:
                raise MatFileError(f"{where}: a {name} attribute without a usable shape")
            kind = attr.get_type()
            nbytes = math.prod(shape) * kind.get_size()
            if nbytes > _MAX_ATTRIBUTE or attr.get_storage_size() < nbytes:
                raise MatFileError(f"{where}: a damaged {name} attribute ({nbytes} bytes "
                                   f"declared, {attr.get_storage_size()} stored)")
            fields = name == "MATLAB_fields" and kind.get_class() == h5py.h5t.VLEN
            if not (fields or kind.get_class() in (h5py.h5t.INTEGER, h5py.h5t.FLOAT) or
                    kind.get_class() == h5py.h5t.STRING and not kind.is_variable_str()):
                raise MatFileError(f"{where}: a {name} attribute of a type MATLAB never writes")
            if kind.get_class() == h5py.h5t.STRING:          # read as stored: no conversion
                value = np.empty(shape, dtype=f"S{kind.get_size()}")
                attr.read(value, mtype=kind)
            else:
                value = np.empty(shape, dtype=kind.dtype)
                attr.read(value)
            attrs[name] = value
        return attrs


def _empty_value(cls, dims):
    """A new value of the empty MATLAB array of class ``cls`` and size ``dims``."""
    if cls == "char":
        return ""
    if cls in ("cell", "struct"):
        return []
    if cls == "canonical empty":
        return np.zeros((0, 0))
    return np.zeros(dims, dtype=DTYPE_OF_CLASS[cls])


def _check_storage(dsid, where):
    """Refuse a dataset whose data HDF5 would take from elsewhere; return its creation plist.

    External raw storage and virtual datasets read other files; a filter
    other than MATLAB's three could load an HDF5 plugin (a shared library).
    """
    plist = dsid.get_create_plist()
    if plist.get_external_count():
        raise MatFileError(f"{where}: its data is stored in another file (HDF5 external "
                           "storage), which MATLAB never writes")
    if plist.get_layout() not in (h5py.h5d.COMPACT, h5py.h5d.CONTIGUOUS, h5py.h5d.CHUNKED):
        raise MatFileError(f"{where}: a virtual dataset (its data comes from other files), "
                           "which MATLAB never writes")
    for index in range(plist.get_nfilters()):
        code = plist.get_filter(index)[0]
        if code not in _FILTERS:
            raise MatFileError(f"{where}: stored through HDF5 filter {code}, which MATLAB never "
                               "uses (only deflate, shuffle and fletcher32 are read)")
    return plist


def _check_stored(dsid, plist, nbytes, shape, where):
    """Refuse dataset ``dsid`` of ``nbytes`` and ``shape`` if its stored bytes cannot hold it."""
    if nbytes == 0:
        return
    stored = dsid.get_storage_size()
    ratio = _MAX_RATIO if plist.get_nfilters() else 1
    if nbytes > stored * ratio:
        raise MatFileError(f"{where}: declares {nbytes} bytes of data, the file stores "
                           f"{stored} for it (damaged)")
    if plist.get_layout() == h5py.h5d.CHUNKED:
        chunks = plist.get_chunk()
        expected = int(np.prod([-(-n // c) for n, c in zip(shape, chunks)], dtype=np.float64))
        if dsid.get_num_chunks() != expected:
            raise MatFileError(f"{where}: data partly missing (chunks never written)")


def _class(attrs, where):
    """The MATLAB_class attribute (from an object's attributes) as a str, or None."""
    cls = attrs.get("MATLAB_class")
    if cls is None:
        return None
    if isinstance(cls, np.ndarray) and cls.size == 1:
        cls = cls.item()
    if isinstance(cls, bytes):
        cls = cls.decode("ascii", "replace")
    if not isinstance(cls, str):
        raise MatFileError(f"{where}: a MATLAB_class attribute that is not a string")
    return cls


def _field_names(group, attrs, where):
    """Field names from MATLAB_fields (vlen arrays of single chars), else the member names."""
    if "MATLAB_fields" not in attrs:
        return list(group)
    names = []
    for item in np.asarray(attrs["MATLAB_fields"], dtype=object).reshape(-1):
        if isinstance(item, np.ndarray):
            item = b"".join(np.asarray(item, dtype="S1").tolist())
        if isinstance(item, bytes):
            item = item.decode("ascii", "replace")
        if not isinstance(item, str):
            raise MatFileError(f"{where}: a damaged MATLAB_fields attribute")
        names.append(item)
    return names
