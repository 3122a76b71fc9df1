"""Read MATLAB v7.3 MAT-files (HDF5 with MATLAB's layout) through h5py.

MATLAB's layout: every variable is a dataset or group named after it, with
a ``MATLAB_class`` attribute; arrays are stored with their dimensions
reversed; char is uint16 (``MATLAB_int_decode`` = 2), logical uint8; an
empty array is a dataset holding its dimensions, marked ``MATLAB_empty``; a
cell is a dataset of object references into ``/#refs#``; a 1x1 struct is a
group whose ``MATLAB_fields`` attribute gives the field order; a struct
array is a group whose fields are reference datasets without a class.

Everything read is checked: a reference cycle, an object other than an
empty array reached twice (a reference bomb), nesting deeper than
``MAX_DEPTH``, more data than ``max_bytes`` in memory, or an object that
is not what MATLAB writes raises ``MatFileError``; no h5py exception leaks.
"""

import mmap
import struct

import h5py
import numpy as np
import scipy.sparse

from ._values import DTYPE_OF_CLASS, MatFileError, char_value, nest, numeric_value, subscripts

#: Deepest nesting of cells and structs read (MATLAB nets need about 4).
MAX_DEPTH = 100

#: Cost in bytes charged for every object read, so that many tiny objects count too.
_OBJECT_COST = 64

#: Most bytes an inflated dataset may hold per byte stored (zlib's best ratio is about 1032).
_MAX_RATIO = 1100

#: The attributes MATLAB writes (and all that is read); each is a few bytes in MATLAB's files.
_ATTRIBUTES = ("MATLAB_class", "MATLAB_empty", "MATLAB_fields", "MATLAB_sparse",
               "MATLAB_object_decode")

#: MATLAB's user block before the HDF5 data: HDF5 addresses count from its end.
_USER_BLOCK = 512

#: Largest attribute read, in bytes (MATLAB_fields of a struct with thousands of fields fits).
_MAX_ATTRIBUTE = 2 ** 20

#: Exceptions h5py raises on a damaged file.
_H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError,
              AttributeError, UnicodeDecodeError, OverflowError, MemoryError, RecursionError)


def read(path, names, max_bytes):
    """Read the variables of a v7.3 MAT-file.

    Parameters
    ----------
    path : str or os.PathLike
    names : list of str or None
        Variables to read (all when None); missing ones are left out.
    max_bytes : int
        Most bytes of array data to hold in memory over the whole read.

    Returns
    -------
    dict
        Variable name -> Python value (see ``_matvalues``), in HDF5 link order.
    """
    try:
        try:
            _check_global_heaps(path)
        except MatFileError as error:
            raise MatFileError(f"{path}: {error}") from None
        with h5py.File(path, "r") as h5:
            reader = _Reader(max_bytes)
            wanted = [name for name in h5 if not name.startswith("#")]
            if names is not None:
                wanted = [name for name in wanted if name in names]
            return {name: reader.value(_member(h5, name, name), name, ()) for name in wanted}
    except MatFileError:
        raise
    except FileNotFoundError:
        raise
    except _H5_ERRORS as error:
        raise MatFileError(f"{path}: damaged v7.3 MAT-file ({type(error).__name__}: "
                           f"{error})") from None


class _Reader:
    """Turns the HDF5 objects of one file into Python values, within a memory budget."""

    def __init__(self, max_bytes):
        self.budget = max_bytes
        self.seen = set()

    def charge(self, nbytes, where):
        """Count ``nbytes`` against the budget; raise when it is spent."""
        self.budget -= nbytes + _OBJECT_COST
        if self.budget < 0:
            raise MatFileError(f"{where}: the file asks for more memory than the limit "
                               "(a damaged size, or a reference bomb)")

    def value(self, obj, where, path):
        """Python value of the HDF5 object ``obj``; ``path`` holds its ancestors' addresses."""
        address = h5py.h5o.get_info(obj.id).addr
        if address in path:
            raise MatFileError(f"{where}: a reference cycle (the object contains itself)")
        if len(path) >= MAX_DEPTH:
            raise MatFileError(f"{where}: cells or structs nested deeper than {MAX_DEPTH}")
        path = path + (address,)
        self.charge(0, where)
        attrs = _attributes(obj, where)
        empty = np.asarray(attrs.get("MATLAB_empty", 0)).any()
        if address in self.seen and not empty:
            raise MatFileError(f"{where}: an object read a second time (MATLAB shares only "
                               "empty arrays; a reference bomb)")
        self.seen.add(address)
        cls = _class(attrs, where)
        if "MATLAB_object_decode" in attrs or cls == "function_handle":
            raise MatFileError(f"{where}: is a MATLAB {cls or 'object'} (function handles "
                               "and objects cannot be read)")
        if isinstance(obj, h5py.Group):
            if "MATLAB_sparse" in attrs:
                return self.sparse(obj, attrs, where)
            if cls != "struct":
                raise MatFileError(f"{where}: a group of MATLAB class {cls!r} (only structs "
                                   "and sparse matrices are groups)")
            return self.struct(obj, attrs, where, path)
        if not isinstance(obj, h5py.Dataset):
            raise MatFileError(f"{where}: is neither a dataset nor a group")
        if empty:
            return self.empty(obj, cls, where)
        if cls == "cell":
            return nest(self.deref_all(obj, where, path, lambda index: f"{where}{{{index}}}"))
        if cls == "char":
            return self.char(obj, where)
        if cls in DTYPE_OF_CLASS:
            return numeric_value(self.array(obj, cls, where))
        raise MatFileError(f"{where}: unknown or missing MATLAB_class {cls!r}")

    def data(self, dataset, where, itemsize=0):
        """The dataset's contents in MATLAB's shape (dimensions un-reversed, at least 2-D).

        Its size is charged (at ``itemsize`` bytes a value if that is more than
        stored, for what it becomes) and checked against the bytes the file
        stores for it before anything is read.
        """
        if dataset.shape is None or len(dataset.shape) > 32:
            raise MatFileError(f"{where}: a dataset without a usable shape")
        dtype = dataset.dtype
        if dtype.kind not in "biufcV" and h5py.check_ref_dtype(dtype) is not h5py.Reference:
            raise MatFileError(f"{where}: data of type {dtype}, which MATLAB never writes")
        count = int(np.prod(dataset.shape, dtype=np.float64))
        self.charge(count * max(dtype.itemsize, itemsize), where)
        _check_stored(dataset, count * dtype.itemsize, where)
        raw = np.asarray(dataset[()])
        if raw.ndim < 2:
            raw = raw.reshape(-1, 1)
        return raw.T

    def array(self, dataset, cls, where):
        """A numeric or logical array of class ``cls``."""
        raw = self.data(dataset, where, 16)
        if raw.dtype.names is not None:
            if set(raw.dtype.names) != {"real", "imag"} or cls in ("logical",):
                raise MatFileError(f"{where}: a compound dataset that is not a complex number")
            return raw["real"] + 1j * raw["imag"].astype(raw["real"].dtype)
        if raw.dtype.kind not in "biuf":
            raise MatFileError(f"{where}: {cls} data stored as {raw.dtype}")
        return raw.astype(DTYPE_OF_CLASS[cls])

    def char(self, dataset, where):
        """A str (or an array of row strs) from uint16 UTF-16 code units."""
        codes = self.data(dataset, where)
        if codes.dtype.kind not in "ui" or codes.ndim != 2:
            raise MatFileError(f"{where}: char data stored as {codes.dtype}, "
                               f"{codes.ndim} dimensions")
        return char_value(row.astype("<u2").tobytes().decode("utf-16-le", "surrogatepass")
                          for row in codes)

    def empty(self, dataset, cls, where):
        """An empty array: the dataset holds the dimensions (MATLAB's order)."""
        dims = self.data(dataset, where).reshape(-1)
        if dims.dtype.kind not in "ui" or not 1 <= dims.size <= 32 or (dims < 0).any():
            raise MatFileError(f"{where}: an empty array with a damaged size {dims!r}")
        if dims.size == 1:
            dims = np.append(dims, 0)
        if np.prod(dims, dtype=np.float64) != 0:
            raise MatFileError(f"{where}: marked empty but sized {tuple(dims.tolist())}")
        if cls == "char":
            return ""
        if cls in ("cell", "struct"):
            return []
        if cls == "canonical empty":
            return np.zeros((0, 0))
        if cls in DTYPE_OF_CLASS:
            return np.zeros(tuple(int(n) for n in dims), dtype=DTYPE_OF_CLASS[cls])
        raise MatFileError(f"{where}: an empty array of unknown class {cls!r}")

    def deref_all(self, dataset, where, path, label):
        """Object array (MATLAB's shape) of the values a reference dataset points to."""
        if h5py.check_ref_dtype(dataset.dtype) is not h5py.Reference:
            raise MatFileError(f"{where}: expected object references, found {dataset.dtype}")
        refs = self.data(dataset, where)
        out = np.empty(refs.shape, dtype=object)
        for index in subscripts(refs.shape):
            name = label(",".join(str(i + 1) for i in index))
            if not refs[index]:
                raise MatFileError(f"{name}: a null reference")
            out[index] = self.value(dataset.file[refs[index]], name, path)
        return out

    def struct(self, group, attrs, where, path):
        """A dict (1x1 struct) or list of dicts (struct array) from a struct group."""
        fields = _field_names(group, attrs, where)
        members = {name: _member(group, name, f"{where}.{name}") for name in fields}
        arrays = [name for name, member in members.items() if isinstance(member, h5py.Dataset)
                  and h5py.check_ref_dtype(member.dtype) is h5py.Reference
                  and "MATLAB_class" not in member.attrs]
        if not arrays:
            return {name: self.value(member, f"{where}.{name}", path)
                    for name, member in members.items()}
        columns = {}
        for name, member in members.items():
            if name not in arrays:
                raise MatFileError(f"{where}: field {name!r} of a struct array is not a "
                                   "reference dataset")
            columns[name] = self.deref_all(member, where, path,
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
        jc = self.data(_member(group, "jc", where), where).reshape(-1).astype(np.int64)
        if "data" in group and "ir" in group:
            ir = self.data(_member(group, "ir", where), where).reshape(-1).astype(np.int64)
            values = self.array(_member(group, "data", where), cls, where).reshape(-1)
        else:
            ir = np.zeros(0, np.int64)
            values = np.zeros(0, DTYPE_OF_CLASS[cls])
        try:
            return scipy.sparse.csc_matrix((values, ir, jc), shape=(nrows, jc.size - 1))
        except ValueError as error:
            raise MatFileError(f"{where}: a damaged sparse matrix ({error})") from None


def _check_global_heaps(path):
    """Refuse a damaged global heap collection (where HDF5 keeps MATLAB_fields' names).

    HDF5 walks a collection's objects by their declared sizes; a free-space
    object of size 0 makes it loop forever (found by fuzzing).  Each
    collection ("GCOL", version 1, 8-byte lengths as h5py and MATLAB write)
    is walked the same way first, and must be walked to its end.
    """
    with open(path, "rb") as fileobj:
        if not fileobj.seek(0, 2):
            return
        with mmap.mmap(fileobj.fileno(), 0, access=mmap.ACCESS_READ) as data:
            objects = {}
            start = data.find(b"GCOL\x01")
            while start >= 0:
                if start + 16 <= len(data):
                    size = struct.unpack_from("<Q", data, start + 8)[0]
                    _walk_heap(data, start, start + size, objects)
                start = data.find(b"GCOL\x01", start + 1)
            _check_field_lists(data, objects)


def _walk_heap(data, start, end, objects):
    """Follow the objects of the global heap collection at ``start`` as HDF5 does.

    ``objects`` gets (collection address, index) -> size of each object, the
    address both absolute and relative to MATLAB's 512-byte user block.
    """
    end, pos = min(end, len(data)), start + 16
    while pos + 16 <= end:
        index, size = struct.unpack_from("<H6xQ", data, pos)
        step = 16 + (size + 7) // 8 * 8 if index else size       # index 0: the free space
        if step < 16 or pos + step > end:
            raise MatFileError("a damaged global heap (HDF5 would loop on it, or overrun it)")
        objects[start, index] = objects[start - _USER_BLOCK, index] = size
        pos += step


def _check_field_lists(data, objects):
    """Refuse a MATLAB_fields attribute whose names are not exactly a global heap object.

    HDF5 allocates the length a variable-length element declares and copies
    the heap object into it: a damaged length or heap address made it
    allocate gigabytes or write past the buffer (a segfault; found by fuzzing).
    Each attribute message named MATLAB_fields (versions 1-3) holding
    variable-length data is read here first: every element's (length,
    collection address, index) must be an object of that exact length.
    """
    name = b"MATLAB_fields\x00"
    at = data.find(name)
    while at >= 0:
        records = _field_records(data, at)
        for length, address, index in records or ():
            if objects.get((address, index)) != length:
                raise MatFileError("a damaged MATLAB_fields attribute (its names are not "
                                   "where it says)")
        at = data.find(name, at + 1)


def _field_records(data, at):
    """The (length, address, index) elements of the attribute message named at ``at``, or None."""
    for version, head, pad in ((1, 8, 8), (2, 8, 1), (3, 9, 1)):
        if at < head or data[at - head] != version:
            continue
        name_size, type_size, space_size = struct.unpack_from("<3H", data, at - head + 2 +
                                                              (version == 3))
        if name_size != 14:
            continue
        ptype = at + -(-name_size // pad) * pad
        pspace = ptype + -(-type_size // pad) * pad
        pdata = pspace + -(-space_size // pad) * pad
        if pdata > len(data) or data[ptype] & 0x0F != 9:       # not variable-length
            return None
        if data[ptype + 1:ptype + 8] != b"\0\0\0\x10\0\0\0" or \
                struct.unpack_from("<I", data, ptype + 12)[0] != 1:
            raise MatFileError("a MATLAB_fields attribute of a type MATLAB never writes (it "
                               "writes sequences of 1-byte characters)")
        ndims = data[pspace + 1]
        dims_at = pspace + (8 if data[pspace] == 1 else 4)
        if dims_at + 8 * ndims > len(data):
            return None
        count = int(np.prod(struct.unpack_from(f"<{ndims}Q", data, dims_at), dtype=object))
        count = min(count, (len(data) - pdata) // 16)
        return [struct.unpack_from("<IQI", data, pdata + 16 * i) for i in range(count)]
    return None


def _check_stored(dataset, nbytes, where):
    """Refuse a dataset of ``nbytes`` that its stored bytes cannot hold, or never written."""
    if nbytes == 0:
        return
    stored = dataset.id.get_storage_size()
    plist = dataset.id.get_create_plist()
    ratio = _MAX_RATIO if plist.get_nfilters() else 1
    if nbytes > stored * ratio:
        raise MatFileError(f"{where}: declares {nbytes} bytes of data, the file stores "
                           f"{stored} for it (damaged)")
    if plist.get_layout() == h5py.h5d.CHUNKED:
        chunks = plist.get_chunk()
        expected = int(np.prod([-(-n // c) for n, c in zip(dataset.shape, chunks)],
                               dtype=np.float64))
        if dataset.id.get_num_chunks() != expected:
            raise MatFileError(f"{where}: data partly missing (chunks never written)")


def _attributes(obj, where):
    """The MATLAB attributes of ``obj``, each checked for size before it is read."""
    attrs = {}
    for name in _ATTRIBUTES:
        if name not in obj.attrs:
            continue
        attr = h5py.h5a.open(obj.id, name.encode())
        count = int(np.prod(attr.shape or (), dtype=np.float64))
        nbytes = count * attr.get_type().get_size()
        if nbytes > _MAX_ATTRIBUTE or attr.get_storage_size() < nbytes:
            raise MatFileError(f"{where}: a damaged {name} attribute ({nbytes} bytes declared, "
                               f"{attr.get_storage_size()} stored)")
        attrs[name] = obj.attrs[name]
    return attrs


def _member(group, name, where):
    """``group[name]``, refusing what MATLAB never writes: missing, soft and external links."""
    link = group.get(name, getlink=True)
    if link is None:
        raise MatFileError(f"{where}: is listed but missing from the file")
    if not isinstance(link, h5py.HardLink):
        raise MatFileError(f"{where}: is a {type(link).__name__}, which MATLAB never writes")
    return group[name]


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
