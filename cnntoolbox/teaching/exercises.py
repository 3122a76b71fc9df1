"""Exercises for a class, with answers computed by the package.

Each function answers one exercise of the walkthrough's "Exercises"
section; ``tests/test_teaching.py`` checks every answer.  The mutated
backward passes run ``literal.py``'s ``cnnbp`` with one helper replaced
(the toolbox line itself stays as it is), and ``cnnnumgradcheck`` judges
the gradients they give.
"""

from contextlib import contextmanager
from fractions import Fraction

import numpy as np

from .. import literal
from ..cnnbp import cnnbp
from ..cnnff import cnnff
from ..cnnnumgradcheck import cnnnumgradcheck
from ..cnnsetup import cnnsetup
from ..errors import GradientCheckError
from . import hand
from .hand import C1, C2, S1
from .worked import POST_ERRORS

#: Seed of the exercises' nets and images.
SEED = 7


def weight_count(net):
    """How many weights ``cnnnumgradcheck`` checks: every kernel, bias, ffW and ffb element."""
    total = net["ffW"].size + net["ffb"].size
    for layer in net["layers"]:
        if layer["type"] == "c":
            total += sum(np.size(k) for row in layer["k"] for k in row) + len(layer["b"])
    return total


def exercise_net(layers, size, seed=SEED, onum=3):
    """A net of ``layers`` for one random ``size`` x ``size`` image, its image and class-1 labels."""
    rng = np.random.default_rng(seed)
    x = rng.random((size, size, 1))
    y = np.zeros((onum, 1))
    y[0, 0] = 1.0
    return cnnsetup({"layers": [dict(layer) for layer in layers]}, x, y, rng=rng), x, y


def gradcheck_message(net, x, y):
    """``None`` when cnnnumgradcheck accepts ``net``'s gradients, else its error message."""
    try:
        cnnnumgradcheck(net, x, y)
    except GradientCheckError as error:
        return str(error)
    return None


def fvd_by_hand(ex, k=1):
    """Exercise 1: fvd(k + 1) of the "o = e" state, term by term in exact fractions, next to cnnbp's.

    In that state the outputs are the post's errors e and the labels 0, so
    ``od = e .* e .* (1 - e)`` exactly (e as the post's decimals); the
    weights are on the 1/1024 grid.
    """
    errors = [Fraction(repr(e)) for e in POST_ERRORS]
    od = [e * e * (1 - e) for e in errors]
    W = hand.exactly(ex.setup["ffW"])
    terms = [(W[i, k], od[i]) for i in range(W.shape[0])]
    return {"k": k, "terms": terms, "sum": sum(w * d for w, d in terms),
            "cnnbp": float(ex.columns["o = e"]["fvd"][k, 0])}


@contextmanager
def _replaced(name, function):
    """``literal.<name>`` replaced by ``function`` while the block runs."""
    original = getattr(literal, name)
    setattr(literal, name, function)
    try:
        yield
    finally:
        setattr(literal, name, original)


MUTATIONS = {
    "no /scale^2": ("expand", lambda original: lambda A, S: original(A, S) * (S[0] * S[1])),
    "no rot180": ("rot180", lambda original: lambda X: X),
}


def mutated(state, what):
    """The gradients of ``literal.cnnbp`` with one trick left out, judged by cnnnumgradcheck.

    Parameters
    ----------
    state : cnntoolbox.teaching.worked.State
        A state of the example (its net after ``cnnff``, ``x``, ``y``).
    what : str
        A key of :data:`MUTATIONS`.

    Returns
    -------
    dict
        ``message``: cnnnumgradcheck's error (None if it passed);
        ``ratio``: the wrong gradients over the right ones for C2's and C1's bias;
        ``dk_error``: the largest relative error of C2's and C1's kernel gradient.
    """
    name, make = MUTATIONS[what]
    with _replaced(name, make(getattr(literal, name))):
        wrong = literal.cnnbp(state.net, state.y)
    right = state.bp["layers"]
    layers = wrong["layers"]
    ratio = {l: layers[l]["db"][0] / right[l]["db"][0] for l in (C2, C1)}
    dk_error = {l: float(np.max(np.abs(layers[l]["dk"][0][0] - right[l]["dk"][0][0]))
                         / np.max(np.abs(right[l]["dk"][0][0]))) for l in (C2, C1)}
    return {"message": gradcheck_message(wrong, state.x, state.y), "ratio": ratio,
            "dk_error": dk_error}


SCALE3_LAYERS = ({"type": "i"}, {"type": "c", "outputmaps": 1, "kernelsize": 3},
                 {"type": "s", "scale": 3}, {"type": "c", "outputmaps": 1, "kernelsize": 3},
                 {"type": "s", "scale": 2})
#: The input size of the scale-3 exercise (20 -> 18 -> 6 -> 4 -> 2).
SCALE3_SIZE = 20
LAST_C_LAYERS = ({"type": "i"}, {"type": "c", "outputmaps": 1, "kernelsize": 3},
                 {"type": "s", "scale": 2}, {"type": "c", "outputmaps": 1, "kernelsize": 3})
TWO_MAPS_LAYERS = ({"type": "i"}, {"type": "c", "outputmaps": 2, "kernelsize": 3},
                   {"type": "s", "scale": 2}, {"type": "c", "outputmaps": 2, "kernelsize": 3},
                   {"type": "s", "scale": 2})


def _checked(layers, size):
    net, x, y = exercise_net(layers, size)
    bp = cnnbp(cnnff(net, x), y)
    return bp, x, y


def _sizes(net):
    return [f"{a.shape[0]}x{a.shape[1]}" for a in (layer["a"][0] for layer in net["layers"])]


def scale3():
    """S1 with scale 3 on a 20x20 image: the C1 delta is divided by 9."""
    scale = SCALE3_LAYERS[2]["scale"]
    bp, x, y = _checked(SCALE3_LAYERS, SCALE3_SIZE)
    d_s1, a_c1 = bp["layers"][S1]["d"][0], bp["layers"][C1]["a"][0]
    spread = a_c1 * (1 - a_c1) * literal.expand(d_s1, [scale, scale, 1])
    return {"sizes": _sizes(bp), "divisor": float(np.median(spread / bp["layers"][C1]["d"][0])),
            "weights": weight_count(bp), "message": gradcheck_message(bp, x, y)}


def last_c():
    """A last 'c' layer: fvd gets the factor fv .* (1 - fv)."""
    bp, x, y = _checked(LAST_C_LAYERS, 14)
    plain = bp["ffW"].T @ bp["od"]
    factor = bp["fv"] * (1 - bp["fv"])
    return {"sizes": _sizes(bp), "fv": bp["fv"].shape[0],
            "plain": plain[:3, 0], "factor": factor[:3, 0], "fvd": bp["fvd"][:3, 0],
            "weights": weight_count(bp), "message": gradcheck_message(bp, x, y)}


def two_maps():
    """Two maps per conv layer: four C2 kernels k{i}{j}, and each S1 delta sums over j."""
    bp, x, y = _checked(TWO_MAPS_LAYERS, 14)
    c2 = bp["layers"][C2]
    d_s1 = sum(literal.convn(c2["d"][j], literal.rot180(c2["k"][0][j]), "full") for j in range(2))
    one_term = literal.convn(c2["d"][0], literal.rot180(c2["k"][0][0]), "full")
    given = bp["layers"][S1]["d"][0]
    scale = float(np.max(np.abs(given)))
    return {"sizes": _sizes(bp), "fv": bp["fv"].shape[0], "kernels": sum(map(len, c2["k"])),
            "sum_error": float(np.max(np.abs(d_s1 - given))) / scale,
            "one_term_error": float(np.max(np.abs(one_term - given))) / scale,
            "weights": weight_count(bp), "message": gradcheck_message(bp, x, y)}


def saturated(ex):
    """The saturated-and-wrong output: od next to the od of an output of 0.5 with the same label."""
    net = ex.columns["saturated"]
    half = 0.5 * (1 - 0.5) * 0.5
    od = net["od"][:, 0]
    return {"o": net["o"][:, 0], "y": ex.real.y[:, 0], "e": net["e"][:, 0], "od": od,
            "half": half, "ratio": half / float(np.max(np.abs(od)))}
