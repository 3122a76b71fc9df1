"""One exception rule for every public routine (issue 21).

A wrong kind of thing (a list where the net's dict belongs, None for the
options, a string for the images) is a ``TypeError``; the right kind with a
wrong value (a net without 'layers', options without 'alpha', an array of the
wrong shape) a ``ValueError``.  The table runs every routine with each of its
arguments replaced in turn, on a net and data for which the call succeeds.
"""

import numpy as np
import pytest

from cnntoolbox import cnnapplygrads, cnnbp, cnnff, cnnnumgradcheck, cnnsetup, cnntest, cnntrain
from helpers import parse_layers

ROUTINES = {
    "cnnsetup": (cnnsetup, ("net", "x", "y")),
    "cnnff": (cnnff, ("net", "x")),
    "cnnbp": (cnnbp, ("net_ff", "y")),
    "cnnapplygrads": (cnnapplygrads, ("net_bp", "opts")),
    "cnntrain": (cnntrain, ("net", "x", "y", "opts")),
    "cnntest": (cnntest, ("net", "x", "y")),
    "cnnnumgradcheck": (cnnnumgradcheck, ("net_bp", "x", "y")),
}

#: Replacements of an argument that are the wrong kind of thing: TypeError.
WRONG_KIND = {
    "net": [[], None, "net", 3.0],
    "x": [None, "x", {"x": 1}],
    "y": [None, "y", {"y": 1}],
    "opts": [None, [], "opts", 1.0],
}
#: Replacements of the right kind with a wrong value: ValueError.
WRONG_VALUE = {
    "net": [{}, {"layers": []}, {"layers": [{"type": "q"}]}],
    "x": [np.zeros(5), np.zeros((8, 8, 0)), np.full((8, 8, 2), np.nan)],
    "y": [np.zeros((2, 3, 4)), np.zeros((2, 5)), np.full((2, 2), np.inf)],
    "opts": [{}, {"alpha": np.inf, "batchsize": 2, "numepochs": 1},
             {"alpha": 1.0, "batchsize": 2, "numepochs": 1, "momentum": 2.0}],
}


@pytest.fixture(scope="module")
def valid():
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 8, 2)), rng.random((2, 2))
    net = cnnsetup({"layers": parse_layers("2c3-2s")}, x, y, rng=1)
    net_ff = cnnff(net, x)
    return {"net": net, "net_ff": net_ff, "net_bp": cnnbp(net_ff, y), "x": x, "y": y,
            "opts": {"alpha": 1.0, "batchsize": 2, "numepochs": 1}}


def _cases(table, error, label):
    for name, (_, arguments) in ROUTINES.items():
        for position, argument in enumerate(arguments):
            kind = argument.split("_")[0]
            for index, bad in enumerate(table[kind]):
                yield pytest.param(name, position, bad, error, id=f"{name}-{kind}-{label}{index}")


def _call(valid, name, position, bad):
    routine, arguments = ROUTINES[name]
    args = [valid[argument] for argument in arguments]
    args[position] = bad
    kwargs = {"verbose": False} if name == "cnntrain" else {}
    routine(*args, **kwargs)


def test_every_routine_runs_on_the_valid_arguments(valid):
    for name in ROUTINES:
        _call(valid, name, 0, valid[ROUTINES[name][1][0]])


@pytest.mark.parametrize("name, position, bad, error",
                         [*_cases(WRONG_KIND, TypeError, "kind"),
                          *_cases(WRONG_VALUE, ValueError, "value")])
def test_wrong_kind_is_a_type_error_and_wrong_value_a_value_error(valid, name, position, bad,
                                                                   error):
    with pytest.raises(Exception) as caught:
        _call(valid, name, position, bad)
    assert type(caught.value) is error, f"{type(caught.value).__name__}: {caught.value}"
