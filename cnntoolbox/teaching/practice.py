"""The exercises as a student runs them: the nets to start from, starter code, and a checker.

::

    from cnntoolbox.teaching import practice
    net = practice.net("example")                  # Part 2 of the worked example, after cnnbp
    print(practice.check(net, "fvd", my_fvd))      # names the first element that differs from cnnbp's

:data:`EXERCISES` holds each exercise's starter code (it runs, and the
checker finds it wrong) and its answer (the checker finds it right); the
walkthroughs show both (the answers folded away) and ``tests/test_teaching.py``
runs both.  :func:`code` gives either with its comments in English or in
Traditional Chinese.
"""

import re
from dataclasses import dataclass

import numpy as np

from ..cnnbp import cnnbp
from ..cnnff import cnnff
from . import exercises, worked
from .text import fmt

#: The checker's tolerance: relative to the largest magnitude of cnnbp's field
#: (loose enough for a value typed from six printed digits, far below any slip).
RTOL = 1e-5


def _after_bp(net, x, y):
    return cnnbp(cnnff(net, x), y)


def net(name):
    """A net after ``cnnff`` and ``cnnbp``, to check an exercise against.

    Parameters
    ----------
    name : str
        ``"example"`` (Part 2 of the worked example), ``"o = e"`` (Part 1's net
        with ``ffb`` set so that the outputs are the post's errors, labels 0),
        ``"saturated"`` (Part 2's net with outputs 0.01, 0.99, 0.01, label of
        class 1), or an exercise net: ``"scale3"``, ``"last-c"``, ``"two-maps"``.

    Returns
    -------
    dict
        The net with every field of ``cnnbp`` (``e``, ``od``, ``fvd``, each
        layer's ``d``, ``dk``, ``db``, ``dffW``, ``dffb``).
    """
    if name in ("example", "o = e", "saturated"):
        setup, x, y = worked.example_net()
        if name == "example":
            return _after_bp(setup, x, y)
        if name == "saturated":
            return _after_bp(worked.with_outputs(setup, x, worked.SATURATED), x, y)
        post, post_x, post_y = worked.post_net(setup)
        return _after_bp(worked.with_outputs(post, post_x, worked.POST_ERRORS), post_x, np.zeros_like(post_y))
    layers = {"scale3": (exercises.SCALE3_LAYERS, exercises.SCALE3_SIZE),
              "last-c": (exercises.LAST_C_LAYERS, 14), "two-maps": (exercises.TWO_MAPS_LAYERS, 14)}
    if name not in layers:
        raise ValueError(f"no exercise net '{name}' (known: example, o = e, saturated, {', '.join(layers)})")
    return _after_bp(*exercises.exercise_net(*layers[name]))


_PART = re.compile(r"(?P<field>[A-Za-z]\w*)(?P<index>(?:\{\d+\})*)$")


def field(net, path):
    """The value at a Matlab-style path of a net: ``"fvd"``, ``"layers{3}.d{1}"``, ``"layers{2}.dk{1}{1}"``.

    Raises
    ------
    ValueError
        A path that is not of that form.
    KeyError, IndexError
        A field or index the net does not have.
    """
    value = net
    for part in path.split("."):
        match = _PART.match(part)
        if not match:
            raise ValueError(f"'{path}': expected fields with {{}} indices, like layers{{3}}.d{{1}}")
        value = value[match["field"]]
        for index in re.findall(r"\d+", match["index"]):
            value = value[int(index) - 1]
    return value


@dataclass(frozen=True)
class Verdict:
    """The checker's answer: ``ok``, and a sentence (``str(verdict)``)."""

    ok: bool
    text: str

    def __str__(self):
        return self.text


def _matlab_index(flat, shape):
    """The 1-based Matlab index of element ``flat`` (column order) of an array of ``shape``."""
    dims = list(shape)
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    if dims == [1] or not dims:
        return ""
    if len(dims) == 2 and 1 in dims:                   # a vector: one index
        return f"({flat + 1})"
    index = np.unravel_index(flat, dims, order="F")
    return "(" + ", ".join(str(i + 1) for i in index) + ")"


def check(net, path, mine, rtol=RTOL):
    """Your value of a field against cnnbp's; the verdict names the first wrong element.

    Parameters
    ----------
    net : dict
        A net after ``cnnbp`` (:func:`net`).
    path : str
        The field, in Matlab notation (:func:`field`).
    mine : array_like
        Your value; any shape with the same number of elements (a map may
        leave out the sample dimension).
    rtol : float
        Allowed difference, relative to the field's largest magnitude.

    Returns
    -------
    Verdict
        Right, or the first wrong element in Matlab's column order, yours
        and cnnbp's value, and how many are wrong.
    """
    expected = np.asarray(field(net, path), dtype=float)
    try:
        yours = np.asarray(mine, dtype=float)
    except (TypeError, ValueError) as error:
        return Verdict(False, f"{path}: yours is not an array of numbers ({error})")
    if yours.size != expected.size:
        return Verdict(False, f"{path}: yours has {yours.size} elements (shape {yours.shape}), "
                              f"cnnbp's {expected.size} (shape {expected.shape})")
    yours = yours.reshape(expected.shape)
    limit = rtol * float(np.max(np.abs(expected)))
    wrong = ~(np.abs(yours - expected) <= limit)                 # NaN counts as wrong
    if not wrong.any():
        which = "the value agrees" if expected.size == 1 else f"all {expected.size} elements agree"
        return Verdict(True, f"{path}: right: {which} with cnnbp's "
                             f"(within {rtol:g} of its largest magnitude)")
    flat = int(np.flatnonzero(wrong.ravel(order="F"))[0])
    first = np.unravel_index(flat, expected.shape, order="F")
    return Verdict(False, f"{path}{_matlab_index(flat, expected.shape)}: wrong: yours {fmt(yours[first])}, "
                          f"cnnbp's {fmt(expected[first])} ({int(wrong.sum())} of {expected.size} "
                          "elements wrong; the first in Matlab's column order)")


#: name -> (question's net, field checked, starter code, answer code).  The
#: starter runs and the checker finds it wrong; the answer is the starter
#: with its TODO line replaced.
EXERCISES = {
    "fvd": ("o = e", "fvd", '''\
from cnntoolbox.teaching import practice

net = practice.net("o = e")              # outputs = the post's errors, labels 0, after cnnbp
W, od = net["ffW"], net["od"]            # ffW: 3x4, od: 3x1
my_fvd = [0.0, 0.0, 0.0, 0.0]
for k in range(4):
    my_fvd[k] = W[0, k] * od[0, 0]       # TODO: every output's term, not only the first
print(practice.check(net, "fvd", my_fvd))
''', '''\
    my_fvd[k] = sum(W[i, k] * od[i, 0] for i in range(3))
'''),
    "no-rot180": ("example", "layers{3}.d{1}", '''\
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("example")            # Part 2 of the worked example, after cnnbp
k = net["layers"][3]["k"][0][0]          # C2's kernel, 3x3
d_c2 = net["layers"][3]["d"][0]          # C2's delta, 4x4x1
my_d_s1 = literal.convn(d_c2, k, "full")     # TODO: which way round must the kernel be?
print(practice.check(net, "layers{3}.d{1}", my_d_s1))
''', '''\
my_d_s1 = literal.convn(d_c2, literal.rot180(k), "full")
'''),
    "no-scale": ("example", "layers{4}.d{1}", '''\
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("example")
a_c2 = net["layers"][3]["a"][0]          # C2's output, 4x4x1
d_s2 = net["layers"][4]["d"][0]          # S2's delta, 2x2x1
my_d_c2 = a_c2 * (1 - a_c2) * literal.expand(d_s2, [2, 2, 1])     # TODO: each value's share of the mean
print(practice.check(net, "layers{4}.d{1}", my_d_c2))
''', '''\
my_d_c2 = a_c2 * (1 - a_c2) * literal.expand(d_s2, [2, 2, 1]) / 2 ** 2
'''),
    "scale3": ("scale3", "layers{2}.d{1}", '''\
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("scale3")             # maps 20x20 -> 18x18 -> 6x6 -> 4x4 -> 2x2
a_c1 = net["layers"][1]["a"][0]          # C1's output, 18x18x1
d_s1 = net["layers"][2]["d"][0]          # S1's delta, 6x6x1
my_d_c1 = a_c1 * (1 - a_c1) * literal.expand(d_s1, [3, 3, 1]) / 4     # TODO: divided by what now?
print(practice.check(net, "layers{2}.d{1}", my_d_c1))
''', '''\
my_d_c1 = a_c1 * (1 - a_c1) * literal.expand(d_s1, [3, 3, 1]) / 3 ** 2
'''),
    "last-c": ("last-c", "fvd", '''\
from cnntoolbox.teaching import practice

net = practice.net("last-c")             # the last layer is C2: fv is a sigmoid output
my_fvd = net["ffW"].T @ net["od"]        # TODO: one factor more than after an 's' layer
print(practice.check(net, "fvd", my_fvd))
''', '''\
my_fvd = net["ffW"].T @ net["od"] * (net["fv"] * (1 - net["fv"]))
'''),
    "two-maps": ("two-maps", "layers{3}.d{1}", '''\
from cnntoolbox import literal
from cnntoolbox.teaching import practice

net = practice.net("two-maps")           # two maps in C1, S1, C2, S2
c2 = net["layers"][3]                    # c2["k"][i][j]: from S1 map i to C2 map j
my_d_s1 = literal.convn(c2["d"][0], literal.rot180(c2["k"][0][0]), "full")  # TODO: and C2 map 2?
print(practice.check(net, "layers{3}.d{1}", my_d_s1))
''', '''\
my_d_s1 = sum(literal.convn(c2["d"][j], literal.rot180(c2["k"][0][j]), "full") for j in range(2))
'''),
    "saturated": ("saturated", "od", '''\
from cnntoolbox.teaching import practice

net = practice.net("saturated")          # outputs 0.01, 0.99, 0.01; label: the first class
my_od = net["e"]                         # TODO: the output delta is not the error itself
print(practice.check(net, "od", my_od))
''', '''\
my_od = net["e"] * net["o"] * (1 - net["o"])
'''),
}

#: The comments of the exercise code in Traditional Chinese.
COMMENTS_ZH = {
    "outputs = the post's errors, labels 0, after cnnbp": "輸出就是原文的誤差、標籤為 0，已跑過 cnnbp",
    "ffW: 3x4, od: 3x1": "ffW 是 3x4，od 是 3x1",
    "TODO: every output's term, not only the first": "TODO：要加上每個輸出的項，不只第一個",
    "Part 2 of the worked example, after cnnbp": "範例的第二部分，已跑過 cnnbp",
    "C2's kernel, 3x3": "C2 的 kernel，3x3",
    "C2's delta, 4x4x1": "C2 的敏感度，4x4x1",
    "TODO: which way round must the kernel be?": "TODO：kernel 要轉成哪個方向？",
    "C2's output, 4x4x1": "C2 的輸出，4x4x1",
    "S2's delta, 2x2x1": "S2 的敏感度，2x2x1",
    "TODO: each value's share of the mean": "TODO：每個值在平均裡占多少",
    "maps 20x20 -> 18x18 -> 6x6 -> 4x4 -> 2x2": "map 大小 20x20 -> 18x18 -> 6x6 -> 4x4 -> 2x2",
    "C1's output, 18x18x1": "C1 的輸出，18x18x1",
    "S1's delta, 6x6x1": "S1 的敏感度，6x6x1",
    "TODO: divided by what now?": "TODO：現在要除以多少？",
    "the last layer is C2: fv is a sigmoid output": "最後一層是 C2：fv 是 sigmoid 的輸出",
    "TODO: one factor more than after an 's' layer": "TODO：比接在 's' 層後面時多一個因子",
    "two maps in C1, S1, C2, S2": "C1、S1、C2、S2 各有兩張 map",
    "c2[\"k\"][i][j]: from S1 map i to C2 map j": "c2[\"k\"][i][j]：從 S1 第 i 張 map 到 C2 第 j 張 map",
    "TODO: and C2 map 2?": "TODO：C2 的第 2 張 map 呢？",
    "outputs 0.01, 0.99, 0.01; label: the first class": "輸出 0.01、0.99、0.01；標籤是第一類",
    "TODO: the output delta is not the error itself": "TODO：輸出層的敏感度不是誤差本身",
}


def code(name, part, lang="en"):
    """An exercise's code: ``part`` "starter", or "answer" (the starter with its TODO line replaced).

    Parameters
    ----------
    lang : str
        ``"en"``, or ``"zh-TW"`` for the comments in Traditional Chinese.

    Returns
    -------
    str
    """
    _, _, starter, answer = EXERCISES[name]
    text = starter
    if part == "answer":
        lines = starter.splitlines(keepends=True)
        todo = [n for n, line in enumerate(lines) if "# TODO" in line]
        if len(todo) != 1:
            raise ValueError(f"exercise '{name}': expected one TODO line, found {len(todo)}")
        lines[todo[0]] = answer
        text = "".join(lines)
    elif part != "starter":
        raise ValueError(f"part must be 'starter' or 'answer', not {part!r}")
    if lang == "zh-TW":
        def translate(match):
            return match["lead"] + COMMENTS_ZH[match["comment"]]
        text = re.sub(r"(?P<lead>#\s*)(?P<comment>[^\n]+)", translate, text)
    elif lang != "en":
        raise ValueError(f"lang must be 'en' or 'zh-TW', not {lang!r}")
    return text


def run(name, part):
    """Run an exercise's code; the checker's verdict it printed (the code's ``check`` call)."""
    source = code(name, part).replace("print(practice.check(", "verdict = (practice.check(")
    scope = {}
    exec(compile(source, f"<exercise {name} {part}>", "exec"), scope)     # noqa: S102 - our own code
    return scope["verdict"]
