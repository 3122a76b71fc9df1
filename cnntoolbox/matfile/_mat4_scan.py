"""Check the declared sizes of a v4 MAT-file against its bytes and the budget, before scipy.io reads it.

A v4 file is a run of variables, each a 20-byte header (type code, rows,
columns, imaginary flag, name length; 4-byte integers in the file's byte
order), its name, then its values, column by column.  scipy allocates what
a header declares: a 70-byte file declaring a sparse matrix of 2^31 - 1
columns took 18.9 GB.  ``check`` walks the variables as scipy does and
refuses (``MatFileError``) a header scipy would misread, values longer
than the bytes left, and anything whose values in memory would pass the
memory ``Budget`` (for a sparse matrix: the size its last stored row
declares, whose column pointers scipy allocates).
"""

import math
import struct

from ._values import MatFileError

#: Bytes per stored value of each precision code P (double, single, int32, int16, uint16, uint8).
_ITEMSIZE = {0: 8, 1: 4, 2: 4, 3: 2, 4: 2, 5: 1}
_FULL, _TEXT, _SPARSE = 0, 1, 2
#: Bytes in memory per value of what scipy returns (complex double; a str's code point: 4).
_VALUE_BYTES = 16


def check(data, budget):
    """Refuse the v4 file ``data`` (bytes) if a variable declares more than it holds or ``budget`` allows."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < 20:
            raise MatFileError("a variable header cut short (truncated or damaged)")
        order = "<" if 0 <= struct.unpack_from("<i", data, pos)[0] <= 5000 else ">"
        mopt, rows, cols, imagf, namlen = struct.unpack_from(order + "5i", data, pos)
        order_code, rest = divmod(mopt, 1000)
        unused, rest = divmod(rest, 100)
        precision, kind = divmod(rest, 10)
        if not (0 <= mopt <= 5000 and order_code in (0, 1) and unused == 0
                and precision in _ITEMSIZE and kind in (_FULL, _TEXT, _SPARSE)):
            raise MatFileError(f"not a MAT-file (no v6/v7 header, and no v4 variable: type "
                               f"code {mopt})")
        if rows < 0 or cols < 0 or not 1 <= namlen <= len(data) - pos - 20:
            raise MatFileError(f"a v4 variable of {rows} x {cols} values and a {namlen}-byte "
                               "name (damaged)")
        pos += 20
        name = data[pos:pos + namlen].rstrip(b"\0").decode("latin-1")
        pos += namlen
        count = rows * cols
        stored = count * _ITEMSIZE[precision] * (2 if imagf == 1 and kind == _FULL else 1)
        if stored > len(data) - pos:
            raise MatFileError(f"{name}: declares {rows} x {cols} values, more than the "
                               f"{len(data) - pos} bytes left in the file")
        budget.charge(count * _VALUE_BYTES, name)
        if kind == _SPARSE:
            _check_sparse(data[pos:pos + stored], rows, cols, order, precision, name, budget)
        pos += stored


def _check_sparse(values, rows, cols, order, precision, name, budget):
    """Charge what scipy builds of a v4 sparse matrix: its last stored row declares the size."""
    if rows < 1 or cols not in (3, 4):
        raise MatFileError(f"{name}: a v4 sparse matrix stored as {rows} x {cols} (damaged)")
    code = {0: "d", 1: "f", 2: "i", 3: "h", 4: "H", 5: "B"}[precision]
    size = _ITEMSIZE[precision]
    last = [struct.unpack_from(order + code, values, (column * rows + rows - 1) * size)[0]
            for column in (0, 1)]
    if not all(math.isfinite(n) and n == int(n) and 0 <= n < 2 ** 31 for n in last):
        raise MatFileError(f"{name}: a v4 sparse matrix of size {last[0]} x {last[1]} (damaged)")
    budget.charge((int(last[1]) + 1) * 8 + (int(last[0]) + 1) * 8, name)
