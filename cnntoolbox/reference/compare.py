"""Compare two nets field by field: the package's one comparison.

:func:`compare` puts two nets (or any two structs) side by side, after both
went through the same shape reconciliation as
:func:`cnntoolbox.matfile.loadmat`. One row per net field (``layers{4}.k``
covers all its kernels ``k{i}{j}``), or per array with ``per="array"``,
gives the largest absolute error, the largest error relative to the largest
magnitude of the reference's values, and the element where it occurs
(``layers{4}.k{2}{3}(1,4)``, MATLAB's 1-based indices). NaN or Inf where the
reference holds a finite number, a field the reference has and the net
lacks, a shape, type or count that differs, and a precision that differs
(float32, MATLAB's single, against float64 or a Python float) all fail; a NaN (or Inf) in
the reference must be matched by the same value. Every comparison of nets
in the package (:mod:`cnntoolbox.reference.replay`, the teaching checks) and in the
tests goes through it.
"""

from dataclasses import dataclass, field

import numpy as np

from ..matfile.netshape import as_net, is_net

#: Default tolerance: largest error relative to the reference field's largest magnitude.
RTOL = 1e-10


@dataclass(frozen=True)
class FieldRow:
    """The comparison of one field (e.g. ``layers{4}.k``, all its cells together).

    ``max_rel`` is ``max_abs`` divided by the largest magnitude of the
    reference field (``max_abs`` itself when that is 0); ``worst`` names the
    element of the largest error; ``note`` says why a row failed without
    numbers (shapes or types differ).
    """

    name: str
    shape: str
    max_abs: float
    max_rel: float
    worst: str
    passed: bool
    note: str = ""


@dataclass
class Comparison:
    """All rows of one comparison, with the tolerance they were judged at."""

    rows: list
    rtol: float
    title: str = ""
    only_in_net: list = field(default_factory=list)

    @property
    def passed(self):
        """Whether every compared field is within the tolerance."""
        return all(row.passed for row in self.rows)

    @property
    def failures(self):
        """The rows that failed."""
        return [row for row in self.rows if not row.passed]

    def worst(self):
        """``(relative error, where)`` of the worst row: Inf and the note for a failed one.

        Inf also when there is no row at all.
        """
        if not self.rows:
            return np.inf, "no field to compare"
        row = max(self.rows, key=lambda row: np.inf if row.note else row.max_rel)
        return (np.inf, row.note) if row.note else (row.max_rel, row.worst)

    def verdict(self):
        """One line: PASS or FAIL, how many fields, the worst one."""
        label = f"{self.title}: " if self.title else ""
        if not self.rows:
            return f"{label}FAIL: no field to compare"
        if self.passed:
            worst = max(self.rows, key=lambda row: row.max_rel)
            return (f"{label}PASS: all {len(self.rows)} fields within rtol {self.rtol:g} "
                    f"(largest rel err {worst.max_rel:.3g} at {worst.worst})")
        bad = self.failures
        first = bad[0]
        detail = first.note or f"rel err {first.max_rel:.3g} at {first.worst}"
        return (f"{label}FAIL: {len(bad)} of {len(self.rows)} fields beyond rtol "
                f"{self.rtol:g}, first {first.name} ({detail})")

    def table(self):
        """The rows as a text table, then the verdict."""
        header = ("field", "shape", "max abs err", "max rel err", "worst at", "")
        cells = [header] + [(row.name, row.shape, _cell_text(row.max_abs), _cell_text(row.max_rel),
                             row.note or (row.worst if row.max_abs else "-"),
                             "ok" if row.passed else "FAIL")
                            for row in self.rows]
        widths = [max(len(cell[i]) for cell in cells) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(cell, widths)).rstrip() for cell in cells]
        if self.only_in_net:
            lines.append("only in the net (not compared): " + ", ".join(self.only_in_net))
        return "\n".join(lines + [self.verdict()])

    def __str__(self):
        return self.table()


def compare(reference, net, rtol=RTOL, fields=None, title="", per="field"):
    """Compare ``net`` with ``reference`` field by field.

    The one comparison of the package and its tests. A value that is not
    finite passes only where the reference holds the same value (NaN where
    the reference has NaN, +Inf where it has +Inf): NaN or Inf in ``net``
    against a finite reference is an error of Inf. A field of the reference
    that ``net`` lacks, a shape, type, text or cell count that differs, is a
    failing row with a note; a field only ``net`` has is listed
    (``only_in_net``) and does not fail.

    Parameters
    ----------
    reference, net : dict
        Two nets (a MATLAB-saved one as :func:`cnntoolbox.matfile.loadmat`
        returns it, or a port net), or any two structs of arrays, numbers
        and strings.
    rtol : float
        A row passes when its largest absolute error is at most ``rtol``
        times the largest finite magnitude of the reference's values in that
        row (or at most ``rtol`` when that is 0); strings must be equal and
        shapes the same.
    fields : set of str, optional
        Compare only these field names (top-level fields, or fields of each
        layer such as ``"k"``); all fields of the reference by default.
    title : str
        Names the comparison in the verdict.
    per : {"field", "array"}
        ``"field"``: one row per net field (``layers{4}.k`` holds all its
        kernels, judged against the largest magnitude of them all), as the
        ``compare`` command prints it. ``"array"``: one row per array or
        number (``layers{4}.k{2}{3}``, ``layers{2}.db{1}``), each against its
        own largest magnitude, which is stricter.

    Returns
    -------
    Comparison
        ``.rows`` (one :class:`FieldRow` per field or array), ``.passed``,
        ``.verdict()``, ``.table()``, ``.worst()``.
    """
    if not isinstance(reference, dict) or not isinstance(net, dict):
        raise TypeError("compare takes two dicts (nets or structs)")
    if per not in ("field", "array"):
        raise ValueError(f"per must be 'field' or 'array', got {per!r}")
    if is_net(reference):
        reference = as_net(reference, "reference")
    if is_net(net):
        net = as_net(net, "net")
    walker = _Walker(fields, per == "array")
    walker.struct(reference, net, "", top=True)
    rows = [group.row(rtol) for group in walker.groups.values()]
    return Comparison(rows, rtol, title, walker.only_in_net)


class _Group:
    """The leaves of one field: their errors, collected before the field's row is judged."""

    def __init__(self, name):
        self.name = name
        self.shapes = []
        self.scale = 0.0
        self.max_abs = 0.0
        self.worst = name
        self.note = ""

    def add_arrays(self, ref, got, path):
        if self.note:
            return
        if ref.shape != got.shape:
            self.note = f"{path}: shape {_shape(got.shape)} vs reference {_shape(ref.shape)}"
            return
        self.shapes.append(ref.shape)
        if ref.size == 0:
            return
        self.scale = max(self.scale, float(np.max(np.abs(np.where(np.isfinite(ref), ref, 0)))))
        with np.errstate(invalid="ignore"):
            error = np.abs(got - ref)
            same = (got == ref) | (np.isnan(got) & np.isnan(ref))
        error = np.where(same, 0.0, np.where(np.isnan(error), np.inf, error))
        index = np.unravel_index(int(np.argmax(error)), error.shape)
        if self.worst == self.name or error[index] > self.max_abs:
            self.max_abs = float(error[index])
            self.worst = path + _element(index, ref.shape)

    def add_mismatch(self, note):
        if not self.note:
            self.note = note

    def row(self, rtol):
        if self.note:
            return FieldRow(self.name, self._shape(), np.nan, np.nan, self.worst, False,
                            self.note)
        rel = self.max_abs / self.scale if self.scale > 0 else self.max_abs
        return FieldRow(self.name, self._shape(), self.max_abs, rel, self.worst,
                        bool(rel <= rtol))

    def _shape(self):
        if not self.shapes:
            return "-"
        if len(set(self.shapes)) > 1:
            return f"{len(self.shapes)} values"
        shape = self.shapes[0] if self.shapes[0] == "text" else _shape(self.shapes[0])
        return shape if len(self.shapes) == 1 else f"{len(self.shapes)} x {shape}"


class _Walker:
    """Walks two values in parallel, filing leaves under their field's group."""

    def __init__(self, fields, per_array):
        self.fields = fields
        self.per_array = per_array
        self.groups = {}
        self.only_in_net = []

    def group(self, name):
        if name not in self.groups:
            self.groups[name] = _Group(name)
        return self.groups[name]

    def wanted(self, key, value):
        return self.fields is None or key in self.fields or isinstance(value, dict)

    def struct(self, ref, got, prefix, top=False):
        for key in ref:
            path = f"{prefix}.{key}" if prefix else key
            layers = key == "layers" and top and isinstance(ref[key], list)
            if not (layers or self.wanted(key, ref[key])):
                continue
            if key not in got:
                self.group(path).add_mismatch(f"{path}: missing here (only in the reference)")
            elif layers:
                self.layers(ref[key], got[key], path)
            else:
                self.value(ref[key], got[key], path, path)
        self.only_in_net.extend(f"{prefix}.{key}" if prefix else key
                                for key in got if key not in ref and self.wanted(key, got[key]))

    def layers(self, ref, got, path):
        if not isinstance(got, list) or len(got) != len(ref):
            count = len(got) if isinstance(got, list) else type(got).__name__
            self.group(path).add_mismatch(f"{len(ref)} layers in the reference, {count} here")
            return
        for l, (ref_layer, got_layer) in enumerate(zip(ref, got)):
            self.struct(ref_layer, got_layer, f"{path}{{{l + 1}}}")

    def value(self, ref, got, name, path):
        """Compare one value; ``name`` is its field's group, ``path`` the full location."""
        if isinstance(ref, dict):
            if isinstance(got, dict):
                self.struct(ref, got, path)
            else:
                self.group(name).add_mismatch(f"{path}: a struct in the reference, "
                                              f"a {type(got).__name__} here")
        elif isinstance(ref, list):
            if not isinstance(got, list) or len(got) != len(ref):
                count = len(got) if isinstance(got, list) else type(got).__name__
                self.group(name).add_mismatch(f"{path}: {len(ref)} cells in the reference, "
                                              f"{count} here")
                return
            for i, (r, g) in enumerate(zip(ref, got)):
                cell = f"{path}{{{i + 1}}}"
                self.value(r, g, cell if self.per_array else name, cell)
        elif isinstance(ref, str):
            group = self.group(name)
            group.shapes.append("text")
            if got != ref:
                group.add_mismatch(f"{path}: {got!r} vs reference {ref!r}")
        else:
            ref_arr, got_arr = _numeric(ref), _numeric(got)
            if ref_arr is None or got_arr is None:
                self.group(name).add_mismatch(f"{path}: {type(got).__name__} vs reference "
                                              f"{type(ref).__name__}")
            elif _single(ref) != _single(got) and _floating(ref) and _floating(got):
                self.group(name).add_mismatch(f"{path}: {_precision(got)} vs reference "
                                              f"{_precision(ref)}")
            else:
                self.group(name).add_arrays(ref_arr, got_arr, path)


def _numeric(value):
    """``value`` as a float (or complex) ndarray, or None when it is not numeric."""
    if isinstance(value, (bool, int, float, complex, np.number, np.bool_)):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biufc":
        return None
    return value.astype(np.complex128 if value.dtype.kind == "c" else np.float64)


def _single(value):
    """Whether a numeric value is float32 (or complex64): MATLAB's single."""
    return np.asarray(value).dtype in (np.float32, np.complex64)


def _floating(value):
    """Whether a numeric value is a float (or complex): integers and bools have no precision."""
    return np.asarray(value).dtype.kind in "fc"


def _precision(value):
    """'single (float32)' or the value's other dtype, for messages."""
    return "single (float32)" if _single(value) else f"{np.asarray(value).dtype}"


def _element(index, shape):
    """MATLAB's 1-based subscript of an element, e.g. ``(1,4)``; empty for a scalar."""
    if len(shape) == 0 or all(n == 1 for n in shape):
        return ""
    return "(" + ",".join(str(i + 1) for i in index) + ")"


def _shape(shape):
    return "x".join(str(n) for n in shape) if shape else "1x1"


def _cell_text(value):
    return "-" if np.isnan(value) else f"{value:.3g}"
