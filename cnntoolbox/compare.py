"""Compare two nets field by field: the package's one comparison, and MATLAB replays.

:func:`compare` puts two nets (or any two structs) side by side, after both
went through the same shape reconciliation as
:func:`cnntoolbox.matfile.loadmat`. One row per net field (``layers{4}.k``
covers all its kernels ``k{i}{j}``), or per array with ``per="array"``,
gives the largest absolute error, the largest error relative to the largest
magnitude of the reference's values, and the element where it occurs
(``layers{4}.k{2}{3}(1,4)``, MATLAB's 1-based indices). NaN or Inf where the
reference holds a finite number, a field the reference has and the net
lacks, and a shape, type or count that differs all fail; a NaN (or Inf) in
the reference must be matched by the same value. Every comparison of nets
in the package (``replay``) and in the tests goes through it.

What the ``compare`` command (:mod:`cnntoolbox.__main__`) replays, by
:func:`replay_file`:

* a ``matlab_reference/case_*.mat`` file (``net_setup``, ``x``, ``y``,
  ``opts`` and the saved stages): ``cnnff``, ``cnnbp``, ``cnnapplygrads``,
  ``cnntrain`` (on the recorded permutations ``kk``) and ``cnntest``, each
  stage from the previous Python result, each compared with MATLAB's;
* a net saved after ``cnntrain`` (or ``cnnapplygrads``): the weights before
  the last update are ``k + alpha*dk``, ``b + alpha*db``,
  ``ffW + alpha*dffW``, ``ffb + alpha*dffb``, the last batch is
  ``layers{1}.a{1}`` (its channels ``a{i}`` stacked as x(:, :, i, :) when the
  input has several) and its labels ``o - e``; ``cnnff``, ``cnnbp`` and
  ``cnnapplygrads`` run from there and each stage's fields are compared.
"""

from dataclasses import dataclass, field

import numpy as np

from .matfile.netshape import as_net, is_net

#: Default tolerance: largest error relative to the reference field's largest magnitude.
RTOL = 1e-10

#: Net fields each replayed stage of a trained net produces (top-level and layer fields).
STAGE_FIELDS = {
    "cnnff": {"a", "fv", "o"},
    "cnnbp": {"e", "L", "od", "fvd", "d", "dk", "db", "dffW", "dffb"},
    "cnnapplygrads": {"k", "b", "ffW", "ffb"},
}

#: Variables of a matlab_reference/case_*.mat file.
CASE_VARIABLES = ("net_setup", "x", "y", "opts")


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
        cells = [header] + [(row.name, row.shape, _number(row.max_abs), _number(row.max_rel),
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
            else:
                self.group(name).add_arrays(ref_arr, got_arr, path)


def _numeric(value):
    """``value`` as a float (or complex) ndarray, or None when it is not numeric."""
    if isinstance(value, (bool, int, float, complex, np.number, np.bool_)):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biufc":
        return None
    return value.astype(np.complex128 if value.dtype.kind == "c" else np.float64)


def _element(index, shape):
    """MATLAB's 1-based subscript of an element, e.g. ``(1,4)``; empty for a scalar."""
    if len(shape) == 0 or all(n == 1 for n in shape):
        return ""
    return "(" + ",".join(str(i + 1) for i in index) + ")"


def _shape(shape):
    return "x".join(str(n) for n in shape) if shape else "1x1"


def _number(value):
    return "-" if np.isnan(value) else f"{value:.3g}"


def replay_file(path, var=None, alpha=1.0, rtol=RTOL):
    """Load a MAT-file and replay in Python what it allows (the ``compare`` command).

    Parameters
    ----------
    path : str or os.PathLike
        A ``matlab_reference/case_*.mat`` file, or a file holding a net saved
        after ``cnntrain`` (or ``cnnapplygrads``).
    var : str, optional
        The net variable; by default the stages of a case file, else the
        first net with gradients, else the first struct with ``layers``.
    alpha : float
        ``opts.alpha`` of the last update of a trained net.
    rtol : float
        Tolerance of :func:`compare`.

    Returns
    -------
    list of Comparison
        One per replayed stage.

    Raises
    ------
    ValueError
        When ``rtol`` is negative or NaN, or the file holds no usable net
        (naming what it holds).
    """
    from .matfile import loadmat

    if not rtol >= 0:
        raise ValueError(f"--rtol must be >= 0, got {rtol}")
    variables = loadmat(path, var) if var else loadmat(path)
    if var is None and all(name in variables for name in CASE_VARIABLES):
        return replay_case(variables, rtol)
    nets = [key for key, value in variables.items() if is_net(value)]
    trained = [key for key in nets if "dffW" in variables[key]]
    name = var or (trained + nets + [None])[0]
    if name is None:
        raise ValueError(f"{path} holds no net (a struct with 'layers'); it holds "
                         f"{', '.join(variables) or 'nothing'}")
    if not is_net(variables[name]):
        raise ValueError(f"{name} in {path} is not a net (a struct with 'layers')")
    return replay_trained(variables[name], name, alpha, rtol)


def replay_case(variables, rtol=RTOL):
    """Replay the stages of a matlab_reference case file, each from Python's previous result.

    Parameters
    ----------
    variables : dict
        From ``loadmat`` of the case file: ``net_setup``, ``x``, ``y``,
        ``opts`` and any of ``net_ff``, ``net_bp``, ``net_grads``,
        ``net_train`` (with ``kk``), ``er`` and ``bad`` (with ``test_x``,
        ``test_y``).

    Returns
    -------
    list of Comparison
    """
    from . import cnnapplygrads, cnnbp, cnnff, cnntest, cnntrain

    x, y, opts = variables["x"], variables["y"], variables["opts"]
    out = []
    ff = cnnff(variables["net_setup"], x)
    if "net_ff" in variables:
        out.append(compare(variables["net_ff"], ff, rtol, title="cnnff(net_setup, x) vs net_ff"))
    bp = cnnbp(ff, y)
    if "net_bp" in variables:
        out.append(compare(variables["net_bp"], bp, rtol, title="cnnbp(., y) vs net_bp"))
    if "net_grads" in variables:
        grads = cnnapplygrads(bp, opts)
        out.append(compare(variables["net_grads"], grads, rtol,
                           title="cnnapplygrads(., opts) vs net_grads"))
    if "net_train" in variables and "kk" in variables:
        kk = np.atleast_2d(np.asarray(variables["kk"], dtype=np.float64))
        trained = cnntrain(variables["net_setup"], x, y, opts,
                           kk=[row.astype(np.intp) - 1 for row in kk], verbose=False)
        out.append(compare(variables["net_train"], trained, rtol,
                           title="cnntrain(net_setup, x, y, opts, kk - 1) vs net_train"))
        if all(name in variables for name in ("er", "bad", "test_x", "test_y")):
            er, bad = cnntest(trained, variables["test_x"], variables["test_y"])
            reference = {"er": variables["er"],
                         "bad": np.asarray(variables["bad"], dtype=np.float64).reshape(-1)}
            out.append(compare(reference, {"er": er, "bad": np.asarray(bad) + 1.0}, rtol,
                               title="cnntest(trained, test_x, test_y) vs er, bad (1-based)"))
    return out


def replay_trained(saved, name="net", alpha=1.0, rtol=RTOL):
    """Replay the last batch of a net saved after ``cnntrain`` (or ``cnnapplygrads``).

    Parameters
    ----------
    saved : dict
        The net as loaded: weights after the last update, plus that batch's
        ``a``, ``d``, ``dk``, ``db``, ``fv``, ``o``, ``e``, ``dffW``, ``dffb``.
    name : str
        The variable's name, for titles and messages.
    alpha : float
        ``opts.alpha`` of the last update.

    Returns
    -------
    list of Comparison
        One per stage: cnnff, cnnbp, cnnapplygrads.

    Raises
    ------
    ValueError
        When the net lacks what the replay needs (naming the field).
    """
    from . import cnnapplygrads, cnnbp, cnnff

    net = as_net(saved, name)
    _require(net, name)
    before = dict(net)
    before["layers"] = [_undo_layer(layer, alpha) for layer in net["layers"]]
    before["ffW"] = net["ffW"] + alpha * net["dffW"]        # cnnapplygrads.m, undone
    before["ffb"] = net["ffb"] + alpha * net["dffb"]
    maps = net["layers"][0]["a"]                            # one map, or one per channel
    x = maps[0] if len(maps) == 1 else np.stack(maps, axis=2)
    y = net["o"] - net["e"]                                 # cnnbp.m: e = o - y
    ff = cnnff(before, x)
    bp = cnnbp(ff, y)
    after = cnnapplygrads(bp, {"alpha": alpha})
    return [compare(net, result, rtol, fields=STAGE_FIELDS[stage],
                    title=f"{stage} of the last batch vs {name}")
            for stage, result in (("cnnff", ff), ("cnnbp", bp), ("cnnapplygrads", after))]


def _undo_layer(layer, alpha):
    """A conv layer's kernels and biases before the last ``cnnapplygrads``."""
    if layer.get("type") != "c":
        return layer
    out = dict(layer)
    out["k"] = [[k + alpha * dk for k, dk in zip(row, drow)]
                for row, drow in zip(layer["k"], layer["dk"])]
    out["b"] = [b + alpha * db for b, db in zip(layer["b"], layer["db"])]
    return out


def _require(net, name):
    """Raise ValueError naming the first field a trained-net replay needs but lacks."""
    for field_name in ("o", "e", "ffW", "ffb", "dffW", "dffb"):
        if field_name not in net:
            raise ValueError(f"{name} has no '{field_name}': only a net saved after cnntrain "
                             "(or cnnbp and cnnapplygrads) can be replayed")
    if not net["layers"] or not net["layers"][0].get("a"):
        raise ValueError(f"{name}.layers{{1}} has no 'a' (the last batch)")
    for l, layer in enumerate(net["layers"]):
        if layer.get("type") == "c":
            for field_name in ("k", "b", "dk", "db"):
                if field_name not in layer:
                    raise ValueError(f"{name}.layers{{{l + 1}}} has no '{field_name}'")
