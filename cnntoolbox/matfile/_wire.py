"""The data-only container in which the isolated reader hands its result back.

The reader child (``_child``) parses a hostile file; what it sends back is
treated as hostile too, since a file that took over the child could write
anything.  So the container holds only data, never serialized Python objects: a JSON tree
that describes the values, then the raw bytes of every array in the order
the tree names them::

    MAGIC (8 bytes) | JSON length (8 bytes, little-endian) | JSON | array bytes ...

Nodes of the tree (JSON lists): ``["d", keys, values]`` a dict,
``["l", items]`` a list, ``["s", text]`` a str, ``["f", hex]`` a float
(its 8 bytes, so every bit comes back), ``["c", hex, hex]`` a complex,
``["b", flag]`` a bool, ``["a", dtype, shape, order]`` an ndarray whose
bytes come next in the array section, ``["u", rows]`` a char matrix (its
row strings), ``["sp", shape, data, indices, indptr]`` a sparse matrix.

:func:`decode` checks everything before it allocates: the container's
size, the JSON's length and nesting, each dtype against the classes MATLAB
has, each shape and its byte count against the bytes left, every sparse
matrix in full (:func:`~._values.sparse_value`); anything else is a
``MatFileError``.
"""

import json
import math
import os
import stat
import struct

import numpy as np
import scipy.sparse

from ._values import CLASS_OF_DTYPE, MAX_DEPTH, MatFileError, char_value, sparse_value

MAGIC = b"CNNTBX\x01\n"

#: The dtypes an array in the container may have: MATLAB's classes (and sparse indices), native.
_DTYPES = {np.dtype(dtype).newbyteorder("=").str: np.dtype(dtype).newbyteorder("=")
           for dtype in CLASS_OF_DTYPE}

#: Deepest node nesting accepted (a MATLAB level is a dict or list node and its child).
_MAX_NESTING = 2 * MAX_DEPTH + 8


def write(fileobj, values, names=None):
    """Write the variables ``values`` (name -> value) to ``fileobj``; ``names``: all in the file."""
    arrays = []
    tree = {"values": [[name, _node(value, arrays)] for name, value in values.items()],
            "names": names}
    _write(fileobj, tree, arrays)


def write_error(fileobj, message):
    """Write a refusal: ``message`` becomes the ``MatFileError`` the caller sees."""
    _write(fileobj, {"error": message}, [])


def _write(fileobj, tree, arrays):
    text = json.dumps(tree, ensure_ascii=True, allow_nan=False).encode("ascii")
    fileobj.write(MAGIC + struct.pack("<Q", len(text)) + text)
    for array in arrays:
        if array.size:
            fileobj.write(array.reshape(-1).view(np.uint8).data)


def _node(value, arrays):
    """The JSON node of ``value``; its arrays (C-contiguous, in node order) go to ``arrays``."""
    if isinstance(value, dict):
        return ["d", list(value), [_node(item, arrays) for item in value.values()]]
    if isinstance(value, list):
        return ["l", [_node(item, arrays) for item in value]]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, float):
        return ["f", struct.pack("<d", value).hex()]
    if isinstance(value, complex):
        return ["c", struct.pack("<d", value.real).hex(), struct.pack("<d", value.imag).hex()]
    if scipy.sparse.issparse(value):
        value = scipy.sparse.csc_matrix(value)
        return ["sp", list(value.shape), _node(value.data, arrays),
                _node(value.indices, arrays), _node(value.indptr, arrays)]
    if isinstance(value, np.ndarray) and value.dtype.kind == "U":
        return ["u", [str(row) for row in value.reshape(-1)]]
    if isinstance(value, np.ndarray):
        order = "F" if value.flags.f_contiguous and not value.flags.c_contiguous else "C"
        arrays.append(np.ascontiguousarray(value.T if order == "F" else value))
        return ["a", value.dtype.str, list(value.shape), order]
    raise TypeError(f"no container node for a {type(value).__name__}")


def decode(fileobj, size):
    """The (values, names) of a container of ``size`` bytes read from ``fileobj``.

    Raises
    ------
    MatFileError
        If the container is not exactly what :func:`write` makes.
    """
    head = fileobj.read(16)
    if len(head) != 16 or head[:8] != MAGIC:
        raise MatFileError("the reader's answer is damaged (no container)")
    length = struct.unpack_from("<Q", head, 8)[0]
    if length > size - 16:
        raise MatFileError("the reader's answer is damaged (its tree is longer than it)")
    try:
        tree = json.loads(fileobj.read(length).decode("ascii"))
    except (ValueError, RecursionError) as error:
        raise MatFileError(f"the reader's answer is damaged ({error})") from None
    if not isinstance(tree, dict):
        raise MatFileError("the reader's answer is damaged (not a tree)")
    if "error" in tree:
        if not isinstance(tree["error"], str):
            raise MatFileError("the reader's answer is damaged (a refusal without text)")
        raise MatFileError(tree["error"][:4000])
    reader = _Reader(fileobj, size - 16 - length)
    values, names = tree.get("values"), tree.get("names")
    if not isinstance(values, list) or not (names is None or isinstance(names, list)
                                            and all(isinstance(name, str) for name in names)):
        raise MatFileError("the reader's answer is damaged (no variables)")
    out = {}
    for pair in values:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise MatFileError("the reader's answer is damaged (a variable without a name)")
        out[pair[0]] = reader.value(pair[1], 0)
    if reader.left:
        raise MatFileError("the reader's answer is damaged (bytes left over)")
    return out, names


class _Reader:
    """Builds values from nodes, taking each array's bytes in turn from the array section."""

    def __init__(self, fileobj, left):
        self.fileobj = fileobj
        self.left = left

    def value(self, node, depth):
        if depth > _MAX_NESTING or not isinstance(node, list) or not node:
            raise MatFileError("the reader's answer is damaged (a bad node)")
        kind, args = node[0], node[1:]
        if kind == "d" and _lists(args, 2) and len(args[0]) == len(args[1]) \
                and all(isinstance(key, str) for key in args[0]) \
                and len(set(args[0])) == len(args[0]):
            return {key: self.value(item, depth + 1) for key, item in zip(*args)}
        if kind == "l" and _lists(args, 1):
            return [self.value(item, depth + 1) for item in args[0]]
        if kind == "s" and len(args) == 1 and isinstance(args[0], str):
            return args[0]
        if kind == "b" and len(args) == 1 and isinstance(args[0], bool):
            return args[0]
        if kind == "f" and len(args) == 1:
            return _double(args[0])
        if kind == "c" and len(args) == 2:
            return complex(_double(args[0]), _double(args[1]))
        if kind == "u" and _lists(args, 1) and all(isinstance(row, str) for row in args[0]):
            return char_value(args[0])
        if kind == "a" and len(args) == 3:
            return self.array(*args)
        if kind == "sp" and len(args) == 4 and _shape(args[0]) and len(args[0]) == 2:
            parts = [self.value(part, depth + 1) for part in args[1:]]
            if not all(isinstance(part, np.ndarray) and part.ndim == 1 for part in parts):
                raise MatFileError("the reader's answer is damaged (a bad sparse matrix)")
            try:
                matrix = scipy.sparse.csc_matrix(tuple(parts), shape=tuple(args[0]))
            except (ValueError, TypeError) as error:
                raise MatFileError(f"the reader's answer is damaged ({error})") from None
            return sparse_value(matrix, "a sparse matrix")
        raise MatFileError("the reader's answer is damaged (a bad node)")

    def array(self, dtype, shape, order):
        """An array of ``dtype`` and ``shape``, filled from the next bytes of the array section."""
        if dtype not in _DTYPES or not _shape(shape) or order not in ("C", "F"):
            raise MatFileError("the reader's answer is damaged (a bad array)")
        dtype = _DTYPES[dtype]
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > self.left:
            raise MatFileError("the reader's answer is damaged (an array past its end)")
        self.left -= nbytes
        out = np.empty(shape, dtype=dtype, order=order)
        flat = (out.T if order == "F" else out).reshape(-1).view(np.uint8)
        filled = 0
        while filled < nbytes:
            count = self.fileobj.readinto(flat[filled:])
            if not count:
                raise MatFileError("the reader's answer is damaged (cut short)")
            filled += count
        return out


def _lists(args, count):
    return len(args) == count and all(isinstance(arg, list) for arg in args)


def _shape(shape):
    return (isinstance(shape, list) and len(shape) <= 32
            and all(type(n) is int and 0 <= n < 2 ** 62 for n in shape))


def _double(text):
    if not isinstance(text, str) or len(text) != 16:
        raise MatFileError("the reader's answer is damaged (a bad number)")
    try:
        return struct.unpack("<d", bytes.fromhex(text))[0]
    except ValueError:
        raise MatFileError("the reader's answer is damaged (a bad number)") from None


def open_answer(path, limit):
    """The container file ``path`` the child wrote, opened if it is a regular file of at most ``limit`` bytes.

    Returns
    -------
    (file object, size)
    """
    flags = os.O_RDONLY | (os.O_NOFOLLOW | os.O_NONBLOCK if os.name == "posix" else os.O_BINARY)
    try:
        handle = os.open(path, flags)
    except OSError:
        raise MatFileError("the reader gave no answer") from None
    info = os.fstat(handle)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(handle)
        raise MatFileError(f"the reader's answer is not a file of at most {limit} bytes")
    return open(handle, "rb"), info.st_size
