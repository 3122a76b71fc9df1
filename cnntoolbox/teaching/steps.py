"""What each step of the worked example is: Bouvrie's formula, the toolbox line, the port's line.

A :class:`Step` names one quantity of the example.  ``matlab`` holds the
expressions of the toolbox that compute it, each as ``(file, text)``: the
text is (a part of) one line of that ``.m`` file, spaces as there, without
the closing ``;``.  ``python`` names statements of ``cnntoolbox/literal.py``
by their ``# teach:NAME`` comment; :func:`python_lines` reads the statement
below each such comment.  ``tests/test_teaching.py`` holds the Matlab texts
to the ``.m`` files (when a copy of the toolbox is at hand) and to the
statements of ``literal.py`` (always), and requires the key operators of
:data:`KEY_OPERATORS`.

Bouvrie's notation ("Notes on Convolutional Neural Networks", 2006):
``u`` is the input of the nonlinearity, ``x = f(u)`` a layer's output,
``delta = dE/du``; his subsampling layer is ``x = f(beta down(x) + b)``,
where the toolbox has a plain mean (``beta = 1/scale^2``, no ``f``, no
``b``).
"""

from dataclasses import dataclass
from pathlib import Path

from .. import literal


@dataclass(frozen=True)
class Step:
    """One quantity of the example.

    Attributes
    ----------
    key : str
        Short name (``"d_s1"``).
    what : str
        In words.
    field : str
        Where the toolbox keeps it (Matlab notation) or the expression that gives it.
    formula : str
        Bouvrie's formula, with the toolbox's specialisation after ``;``
        (where ``bouvrie`` is False: the step's formula, which his notes do not write).
    matlab : tuple of (str, str)
        ``(file, text)``: the toolbox's expression, a part of one line of that file.
    python : tuple of str
        ``# teach:`` names of the ``literal.py`` statements that compute it.
    whole : bool
        True when ``matlab`` shows whole statements (the same ones as ``python``),
        False when it shows a part of a statement.
    bouvrie : bool
        True when ``formula`` (before any ``;``) is written as in Bouvrie's notes.
    """

    key: str
    what: str
    field: str
    formula: str
    matlab: tuple
    python: tuple
    whole: bool = True
    bouvrie: bool = True


_FF, _BP, _APPLY = "CNN/cnnff.m", "CNN/cnnbp.m", "CNN/cnnapplygrads.m"

_CONV = ((_FF, "z = z + convn(net.layers{l - 1}.a{i}, net.layers{l}.k{i}{j}, 'valid')"),
         (_FF, "net.layers{l}.a{j} = sigm(z + net.layers{l}.b{j})"))
_POOL = ((_FF, "z = convn(net.layers{l - 1}.a{j}, ones(net.layers{l}.scale) / "
               "(net.layers{l}.scale ^ 2), 'valid')"),
         (_FF, "net.layers{l}.a{j} = z(1 : net.layers{l}.scale : end, "
               "1 : net.layers{l}.scale : end, :)"))
_EXPAND = ("expand(net.layers{l + 1}.d{j}, [net.layers{l + 1}.scale net.layers{l + 1}.scale 1])"
           " / net.layers{l + 1}.scale ^ 2")
_C_DELTA = ((_BP, "net.layers{l}.d{j} = net.layers{l}.a{j} .* (1 - net.layers{l}.a{j}) .* ("
                  + _EXPAND + ")"),)
_DK = ((_BP, "net.layers{l}.dk{i}{j} = convn(flipall(net.layers{l - 1}.a{i}), "
             "net.layers{l}.d{j}, 'valid') / size(net.layers{l}.d{j}, 3)"),)
_DB = ((_BP, "net.layers{l}.db{j} = sum(net.layers{l}.d{j}(:)) / size(net.layers{l}.d{j}, 3)"),)
_APPLY_K = ((_APPLY, "net.layers{l}.k{ii}{j} = net.layers{l}.k{ii}{j} - "
                     "opts.alpha * net.layers{l}.dk{ii}{j}"),)
_APPLY_B = ((_APPLY, "net.layers{l}.b{j} = net.layers{l}.b{j} - opts.alpha * net.layers{l}.db{j}"),)

FORWARD_STEPS = (
    Step("a_c1", "C1 output map", "net.layers{2}.a{1}",
         "x^C1_j = f(u^C1_j),  u^C1_j = sum_i conv2(x^in_i, k_ij, 'valid') + b_j",
         _CONV, ("ff-conv", "ff-sigm")),
    Step("a_s1", "S1 output map", "net.layers{3}.a{1}",
         "x^S1_j = f(beta down(x^C1_j) + b_j);  toolbox: beta = 1/scale^2, no f, no b: "
         "the mean of each block",
         _POOL, ("ff-pool", "ff-subsample")),
    Step("a_c2", "C2 output map", "net.layers{4}.a{1}",
         "x^C2_j = f(u^C2_j),  u^C2_j = sum_i conv2(x^S1_i, k_ij, 'valid') + b_j",
         _CONV, ("ff-conv", "ff-sigm")),
    Step("a_s2", "S2 output map", "net.layers{5}.a{1}",
         "x^S2_j = f(beta down(x^C2_j) + b_j);  toolbox: beta = 1/scale^2, no f, no b: "
         "the mean of each block",
         _POOL, ("ff-pool", "ff-subsample")),
    Step("fv", "feature vector", "net.fv",
         "x^fv = the S2 maps read column by column (not in Bouvrie's notes)",
         ((_FF, "net.fv = [net.fv; reshape(net.layers{n}.a{j}, sa(1) * sa(2), sa(3))]"),),
         ("ff-fv",), bouvrie=False),
    Step("o", "outputs", "net.o",
         "x^o = f(u^o),  u^o = W^o x^fv + b^o",
         ((_FF, "net.o = sigm(net.ffW * net.fv + repmat(net.ffb, 1, size(net.fv, 2)))"),),
         ("ff-o",)),
)

BACKWARD_STEPS = (
    Step("e", "error", "net.e",
         "y^n - t^n;  toolbox: e = x^o - t (output minus label)",
         ((_BP, "net.e = net.o - y"),), ("bp-e",)),
    Step("L", "loss", "net.L",
         "E^n = 1/2 sum_k (t^n_k - y^n_k)^2;  toolbox: averaged over the m samples",
         ((_BP, "net.L = 1/2* sum(net.e(:) .^ 2) / size(net.e, 2)"),), ("bp-L",)),
    Step("fprime_o", "sigmoid derivative at the outputs", "net.o .* (1 - net.o)",
         "f'(u^o) = x^o .* (1 - x^o)",
         ((_BP, "net.o .* (1 - net.o)"),), ("bp-od",), whole=False),
    Step("od", "output delta", "net.od",
         "delta^o = f'(u^o) .* (y^n - t^n)",
         ((_BP, "net.od = net.e .* (net.o .* (1 - net.o))"),), ("bp-od",)),
    Step("fvd", "feature-vector delta", "net.fvd",
         "delta^fv = (W^o)' delta^o,  delta^fv_k = sum_i W^o_ik delta^o_i;  "
         "no f' here: S2 has no f",
         ((_BP, "net.fvd = (net.ffW' * net.od)"),), ("bp-fvd",)),
    Step("d_s2", "S2 delta: fvd reshaped into the 2x2 map", "net.layers{5}.d{1}",
         "delta^S2(r, c) = delta^fv(r + 2 (c - 1)), the flattening undone column by column "
         "(not in Bouvrie's notes)",
         ((_BP, "net.layers{n}.d{j} = reshape(net.fvd(((j - 1) * fvnum + 1) : j * fvnum, :), "
                "sa(1), sa(2), sa(3))"),),
         ("bp-reshape",), bouvrie=False),
    Step("expanded", "S2 delta spread back over its 2x2 blocks, divided by 2^2",
         "expand(net.layers{5}.d{1}, [2 2 1]) / 2 ^ 2",
         "beta up(delta^S2),  beta = 1/scale^2",
         ((_BP, _EXPAND),), ("bp-c-delta",), whole=False),
    Step("fprime_c2", "sigmoid derivative of C2", "net.layers{4}.a{1} .* (1 - net.layers{4}.a{1})",
         "f'(u^C2) = x^C2 .* (1 - x^C2)",
         ((_BP, "net.layers{l}.a{j} .* (1 - net.layers{l}.a{j})"),), ("bp-c-delta",), whole=False),
    Step("d_c2", "C2 delta", "net.layers{4}.d{1}",
         "delta^C2_j = beta (f'(u^C2_j) .* up(delta^S2_j)),  beta = 1/scale^2",
         _C_DELTA, ("bp-c-delta",)),
    Step("d_s1", "S1 delta", "net.layers{3}.d{1}",
         "delta^S1_j = f'(u^S1_j) .* conv2(delta^C2_j, rot180(k_j), 'full');  "
         "toolbox: no f in S1, so no f'; from S1 map i, the sum over the C2 maps j "
         "of convn(delta^C2_j, rot180(k_ij), 'full')",
         ((_BP, "z = z + convn(net.layers{l + 1}.d{j}, rot180(net.layers{l + 1}.k{i}{j}), 'full')"),),
         ("bp-s-delta",)),
    Step("d_c1", "C1 delta", "net.layers{2}.d{1}",
         "delta^C1_j = beta (f'(u^C1_j) .* up(delta^S1_j)),  beta = 1/scale^2",
         _C_DELTA, ("bp-c-delta",)),
    Step("dk_c2", "C2 kernel gradient", "net.layers{4}.dk{1}{1}",
         "dE/dk_ij = rot180(conv2(x^S1_i, rot180(delta^C2_j), 'valid'));  toolbox: / m",
         _DK, ("bp-dk",)),
    Step("dk_c1", "C1 kernel gradient", "net.layers{2}.dk{1}{1}",
         "dE/dk_ij = rot180(conv2(x^in_i, rot180(delta^C1_j), 'valid'));  toolbox: / m",
         _DK, ("bp-dk",)),
    Step("dffW", "output weight gradient", "net.dffW",
         "dE/dW^o = x^fv (delta^o)';  toolbox: its transpose delta^o (x^fv)' (ffW is onum x fvnum), / m",
         ((_BP, "net.dffW = net.od * (net.fv)' / size(net.od, 2)"),), ("bp-dffW",)),
    Step("db_c2", "C2 bias gradient", "net.layers{4}.db{1}",
         "dE/db_j = sum_(u,v) (delta^C2_j)_uv;  toolbox: / m",
         _DB, ("bp-db",)),
    Step("db_c1", "C1 bias gradient", "net.layers{2}.db{1}",
         "dE/db_j = sum_(u,v) (delta^C1_j)_uv;  toolbox: / m",
         _DB, ("bp-db",)),
    Step("dffb", "output bias gradient", "net.dffb",
         "dE/db^o = delta^o;  toolbox: the mean over the m samples",
         ((_BP, "net.dffb = mean(net.od, 2)"),), ("bp-dffb",)),
)

UPDATE_STEPS = (
    Step("k_c2", "C2 kernel after the step", "net.layers{4}.k{1}{1}",
         "k <- k - alpha dE/dk", _APPLY_K, ("apply-k",)),
    Step("b_c2", "C2 bias after the step", "net.layers{4}.b{1}",
         "b <- b - alpha dE/db", _APPLY_B, ("apply-b",)),
    Step("k_c1", "C1 kernel after the step", "net.layers{2}.k{1}{1}",
         "k <- k - alpha dE/dk", _APPLY_K, ("apply-k",)),
    Step("b_c1", "C1 bias after the step", "net.layers{2}.b{1}",
         "b <- b - alpha dE/db", _APPLY_B, ("apply-b",)),
    Step("ffW", "output weights after the step", "net.ffW",
         "W^o <- W^o - alpha dE/dW^o",
         ((_APPLY, "net.ffW = net.ffW - opts.alpha * net.dffW"),), ("apply-ffW",)),
    Step("ffb", "output biases after the step", "net.ffb",
         "b^o <- b^o - alpha dE/db^o",
         ((_APPLY, "net.ffb = net.ffb - opts.alpha * net.dffb"),), ("apply-ffb",)),
)

STEPS = {step.key: step for step in FORWARD_STEPS + BACKWARD_STEPS + UPDATE_STEPS}

#: The operators a step's displayed lines must keep: key -> (in formula, in matlab).
KEY_OPERATORS = {
    "a_s1": (("beta", "1/scale^2"), ("ones(", "/ (net.layers{l}.scale ^ 2)")),
    "a_s2": (("beta", "1/scale^2"), ("ones(", "/ (net.layers{l}.scale ^ 2)")),
    "od": (("f'(u^o)",), ("(1 - net.o)",)),
    "fvd": (("(W^o)'",), ("net.ffW'",)),
    "expanded": (("up(", "1/scale^2"), ("expand(", "/ net.layers{l + 1}.scale ^ 2")),
    "d_c2": (("up(", "1/scale^2", "f'(u^C2_j)"), ("expand(", "/ net.layers{l + 1}.scale ^ 2",
                                                   "(1 - net.layers{l}.a{j})")),
    "d_c1": (("up(", "1/scale^2", "f'(u^C1_j)"), ("expand(", "/ net.layers{l + 1}.scale ^ 2",
                                                   "(1 - net.layers{l}.a{j})")),
    "d_s1": (("rot180(k_j)", "rot180(k_ij)", "'full'"), ("rot180(", "'full'")),
    "dk_c2": (("rot180(conv2(", "rot180(delta"), ("flipall(", "'valid'")),
    "dk_c1": (("rot180(conv2(", "rot180(delta"), ("flipall(", "'valid'")),
}

#: Matlab names of the operators and their counterparts in literal.py.
MATLAB_TO_PYTHON = {
    "convn(": "convn(", "rot180(": "rot180(", "flipall(": "flipall(", "expand(": "expand(",
    "sigm(": "sigm(", "reshape(": "reshape(", "ones(": "np.ones(", "repmat(": "np.tile(",
    "sum(": "np.sum(", "mean(": "np.mean(", "scale ^ 2": "scale ** 2", ".^ 2": "] ** 2",
    "'valid'": '"valid"', "'full'": '"full"', "' *": ".T @", ")' /": ".T /", "opts.alpha": 'opts["alpha"]',
}


def operators(text, table=MATLAB_TO_PYTHON, python=False):
    """The operators of :data:`MATLAB_TO_PYTHON` that occur in ``text`` (by their Matlab names)."""
    return {name for name, py in table.items() if (py if python else name) in text}


def python_lines(step):
    """The statements of ``literal.py`` a step names, each on one line, without comments.

    Raises
    ------
    LookupError
        A ``# teach:`` name is not (or not exactly once) in ``literal.py``.
    """
    source = Path(literal.__file__).read_text(encoding="utf-8").splitlines()
    lines = []
    for name in step.python:
        hits = [n for n, line in enumerate(source) if line.strip() == f"# teach:{name}"]
        if len(hits) != 1:
            raise LookupError(f"literal.py: expected one '# teach:{name}' comment, found {len(hits)}")
        n = hits[0] + 1
        text = source[n].strip()
        while text.count("(") + text.count("[") > text.count(")") + text.count("]"):
            n += 1
            text += " " + source[n].strip()
        lines.append(text.replace("( ", "(").replace("[ ", "["))
    return lines


def matlab_lines(step):
    """The displayed Matlab texts of a step."""
    return [text for _, text in step.matlab]
