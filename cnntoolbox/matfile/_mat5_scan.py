"""Check the declared sizes of a v5 MAT-file against its bytes, before scipy.io reads it.

scipy.io trusts a file's declared sizes: a cell or struct array declaring
2^31 x 2^31 elements, or a data element declaring 4 GB, is allocated before
its bytes are read.  ``plain`` walks the file the way scipy's reader does
(a tag, then for a matrix: array flags, dimensions, name, then its class's
parts) and refuses, with ``MatFileError``, any element longer than what
holds it, any cell or struct declaring more elements than the bytes left
could describe (each needs at least an 8-byte tag), any numeric or char
array declaring more values than its data holds, nesting deeper than
``MAX_DEPTH``, function handles and objects, and inflated data beyond the
memory budget.  It returns the file with every compressed variable
inflated, so that scipy then reads from memory whose size bounds every
read; a variable not asked for is reduced to its header, which is all
scipy reads of it.
"""

import struct
import zlib

import numpy as np

from ._values import MAX_DEPTH, Budget, MatFileError, memory_budget

_MATRIX, _COMPRESSED = 14, 15
_CELL, _STRUCT, _OBJECT, _CHAR, _SPARSE, _FUNCTION, _OPAQUE = 1, 2, 3, 4, 5, 16, 17
_NUMERIC = range(6, 16)                                 # double ... uint64

#: Bytes per value of each v5 data type (miINT8 ... miUTF32; utf8: at least 1).
_ITEMSIZE = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1, 17: 2, 18: 4}
_INT8, _INT32, _UINT32 = 1, 5, 6
_NUMBERS = (1, 2, 3, 4, 5, 6, 7, 9, 12, 13)              # the numeric data types
_TEXT = (16, 17, 18)                                    # utf8, utf16, utf32

#: Most inflated bytes read to find the header (flags, dimensions, name) of a skipped variable.
_HEADER_BYTES = 2 ** 16


def plain(data, names, budget):
    """The v5 file ``data`` checked, with compressed variables inflated.

    Parameters
    ----------
    data : bytes
        The whole file, starting with its 128-byte header.
    names : list of str or None
        Variables to check in full (all when None); the others keep only their header.
    budget : _values.Budget
        What the whole read may take: bytes of inflated data and values, and
        cell and struct elements.

    Returns
    -------
    bytes
        An uncompressed v5 file that scipy.io reads to the same values.
    """
    scanner = _Scanner(data[126:128], budget)
    parts = [data[:128]]
    pos = 128
    while pos < len(data):
        kind, start, stop, _ = scanner.element(data, pos, len(data), "the file")
        pos, payload = stop, data[start:stop]        # scipy: no padding between variables
        budget.elements(1, "the file's variables")
        if kind == _COMPRESSED:
            payload = scanner.inflate(payload, names)
        elif kind == _MATRIX:
            payload = data[start - 8:stop]
        else:
            raise MatFileError(f"a top-level element of type {kind} where MATLAB puts "
                               "variables (damaged)")
        parts.append(scanner.variable(payload, names))
    return b"".join(parts)


def variable_names(data):
    """Names of the variables of the v5 file ``data`` (for error messages)."""
    found = []
    scanner = _Scanner(data[126:128], Budget(memory_budget(len(data))))
    pos = 128
    while pos < len(data):
        kind, start, stop, _ = scanner.element(data, pos, len(data), "the file")
        pos, payload = stop, data[start:stop]
        if kind == _COMPRESSED:
            payload = scanner.inflate(payload, [])
        elif kind == _MATRIX:
            payload = data[start - 8:stop]
        found.append(scanner.header(payload, 0, len(payload), "a variable", True)[3])
    return found


class _Scanner:
    """Walks v5 elements of one byte order, counting what they cost against a budget."""

    def __init__(self, mark, budget):
        if mark not in (b"IM", b"MI"):
            raise MatFileError("no v5 endian mark in the header")
        self.order = "<" if mark == b"IM" else ">"
        self.budget = budget
        self.charge = budget.charge

    def element(self, buf, pos, end, where, partial=False):
        """(type, payload start, payload stop, next position) of the data element at ``pos``.

        ``partial``: ``buf`` holds only the start of the element (its stop is cut to ``end``).
        """
        if pos + 8 > end:
            raise MatFileError(f"{where}: an element cut short (truncated or damaged)")
        first, second = struct.unpack_from(self.order + "II", buf, pos)
        if first >> 16:                                 # small element: size in the upper half
            if first >> 16 > 4:
                raise MatFileError(f"{where}: a small element of {first >> 16} bytes (damaged)")
            return first & 0xFFFF, pos + 4, pos + 4 + (first >> 16), pos + 8
        stop = pos + 8 + second
        if partial:
            stop = min(stop, end)
        if stop > end:
            raise MatFileError(f"{where}: an element declares {second} bytes, only "
                               f"{end - pos - 8} follow (truncated or damaged)")
        return first, pos + 8, stop, min(end, stop + (-second) % 8)

    def inflate(self, packed, names):
        """The matrix element a compressed element holds; only its head when not wanted.

        Nothing beyond the size the element declares is inflated, and that
        size is charged to the budget first: a bomb is refused before it goes off.
        """
        inflater = zlib.decompressobj()
        try:
            head = inflater.decompress(packed, _HEADER_BYTES)
            name = self.header(head, 0, len(head), "a compressed variable", True)[3]
            if names is not None and name not in names:
                return head
            first, second = struct.unpack_from(self.order + "II", head)
            declared = 8 if first >> 16 else 8 + second
            self.charge(declared, name or "a compressed variable")
            body = inflater.decompress(inflater.unconsumed_tail, max(declared - len(head), 0) + 1)
        except zlib.error as error:
            raise MatFileError(f"damaged compressed data ({error})") from None
        if not inflater.eof or len(head) + len(body) > declared:
            raise MatFileError(f"{name}: damaged compressed data (cut short, or longer than the "
                               f"{declared} bytes declared)")
        return head + body

    def header(self, buf, pos, end, where, partial=False):
        """Parts of the matrix element at ``pos``.

        Returns
        -------
        (cls, flags, dims, name, body, stop, after)
            class (None for an empty element), array flags, dimensions (list
            of int), name, where the class's parts start, where the element
            ends, and where the next element starts.
        """
        kind, start, stop, after = self.element(buf, pos, end, where, partial)
        if kind != _MATRIX:
            raise MatFileError(f"{where}: expected a matrix element, found type {kind}")
        if start == stop:
            return None, 0, [], "", stop, stop, after
        flags, flags_end, pos = self.part(buf, start, stop, where, "array flags", (_UINT32,))
        if flags_end - flags != 8:
            raise MatFileError(f"{where}: damaged array flags")
        flags = struct.unpack_from(self.order + "I", buf, flags)[0]
        dims, dims_end, pos = self.part(buf, pos, stop, where, "dimensions", (_INT32,))
        dims = list(struct.unpack_from(f"{self.order}{(dims_end - dims) // 4}i", buf, dims))
        if len(dims) < 2 or any(n < 0 for n in dims):
            raise MatFileError(f"{where}: damaged dimensions {dims}")
        name, name_end, pos = self.part(buf, pos, stop, where, "name", (_INT8,))
        name = bytes(buf[name:name_end]).decode("latin1")
        return flags & 0xFF, flags, dims, name, pos, stop, after

    def part(self, buf, pos, end, where, what, kinds):
        """(payload start, payload stop, next position) of an element of one of ``kinds``.

        scipy's reader trusts the type of each element (an unexpected one can
        crash it), and the length of its payload to be whole values.
        """
        kind, start, stop, after = self.element(buf, pos, end, where)
        if kind not in kinds or (stop - start) % _ITEMSIZE[kind]:
            raise MatFileError(f"{where}: {what} stored as type {kind}, {stop - start} bytes "
                               "(damaged)")
        return start, stop, after

    def room(self, count, left, where):
        """Refuse ``count`` elements that ``left`` bytes cannot hold (8 bytes each at least)."""
        if count * 8 > left:
            raise MatFileError(f"{where}: declares {count} elements, only {left} bytes follow "
                               "(damaged)")
        self.budget.elements(count, where)

    def variable(self, payload, names):
        """The top-level matrix element ``payload`` (tag included), checked if wanted."""
        _, _, _, name, body, stop, _ = self.header(payload, 0, len(payload), "a variable",
                                                   names is not None)
        if names is not None and name not in names:
            return _retag(payload[8:body], self.order)
        self.matrix(payload, 0, len(payload), name, 0)
        return payload[:stop]

    def matrix(self, buf, pos, end, where, depth):
        """Check the matrix element at ``pos``; return the position of the next element."""
        if depth > MAX_DEPTH:
            raise MatFileError(f"{where}: cells or structs nested deeper than {MAX_DEPTH}")
        cls, flags, dims, _, pos, stop, after = self.header(buf, pos, end, where)
        count = int(np.prod(dims, dtype=object)) if dims else 0
        if cls == _CELL:
            self.room(count, stop - pos, where)
            for i in range(count):
                pos = self.matrix(buf, pos, stop, f"{where}{{{i + 1}}}", depth + 1)
        elif cls == _OBJECT:
            classname, classname_end, pos = self.part(buf, pos, stop, where, "class name",
                                                      (_INT8,))
            classname = bytes(buf[classname:classname_end]).decode("latin1")
            raise MatFileError(f"{where}: is a MATLAB object of class {classname!r}, "
                               "which cannot be read")
        elif cls == _STRUCT:
            self.budget.elements(count, where)
            width, width_end, pos = self.part(buf, pos, stop, where, "field name length",
                                              (_INT32,))
            names, names_end, pos = self.part(buf, pos, stop, where, "field names", (_INT8,))
            width = struct.unpack_from(self.order + "i", buf, width)[0] \
                if width_end - width == 4 else 0
            if width <= 0:
                raise MatFileError(f"{where}: damaged field names (length {width})")
            fields = [bytes(buf[i:i + width]).split(b"\0")[0].decode("latin1")
                      for i in range(names, names_end - width + 1, width)]
            self.room(count * len(fields), stop - pos, where)
            for i in range(count * len(fields)):
                pos = self.matrix(buf, pos, stop, f"{where}.{fields[i % len(fields)]}",
                                  depth + 1)
        elif cls in (_FUNCTION, _OPAQUE):
            raise MatFileError(f"{where}: is a MATLAB function handle or opaque object, "
                               "which cannot be read")
        elif cls == _CHAR or cls in _NUMERIC:
            parts = 2 if flags & 0x800 else 1
            kinds = _NUMBERS + (_TEXT if cls == _CHAR else ())
            for _ in range(parts):
                kind = self.element(buf, pos, stop, where)[0]
                data, data_end, pos = self.part(buf, pos, stop, where, "data", kinds)
                if count * _ITEMSIZE[kind] > data_end - data:
                    raise MatFileError(f"{where}: declares {count} values, its data holds "
                                       f"{data_end - data} bytes (damaged)")
            self.charge(count * 8 * parts, where)
        elif cls == _SPARSE:
            if len(dims) != 2:
                raise MatFileError(f"{where}: a sparse matrix with {len(dims)} dimensions")
            stored = 0
            for _ in range(4 if flags & 0x800 else 3):          # ir, jc, real (, imaginary)
                data, data_end, pos = self.part(buf, pos, stop, where, "sparse data", _NUMBERS)
                stored += data_end - data
            if (dims[1] + 1) * 4 > stored:
                raise MatFileError(f"{where}: a sparse matrix declaring {dims[1]} columns, "
                                   f"its data holds {stored} bytes (damaged)")
            self.charge(8 * (dims[1] + 1) + 16 * stored, where)
        else:
            raise MatFileError(f"{where}: unknown MATLAB class number {cls} (damaged)")
        return after


def _retag(content, order):
    """A matrix element of ``content`` (its flags, dimensions and name only)."""
    return struct.pack(order + "II", _MATRIX, len(content)) + content
