"""The fast routines against the literal transcription of the .m files."""

import pytest

from cnntoolbox import cnnapplygrads, cnnbp, cnnff, literal

from helpers import max_rel_error, random_net

ARCHITECTURES = [
    ("2c5-2s-2c5-2s", 28, 28, 5, 10),
    ("6c5-2s-12c5-2s", 28, 28, 3, 10),
    ("3c5-2s-4c3-2s", 20, 16, 4, 3),
    ("2c5-2s-3c3", 16, 16, 3, 4),
    ("2s-3c5-2s", 28, 28, 2, 5),
    ("2c4-3s-2c3-2s", 21, 21, 1, 2),
    ("2c5-2s-3c3-2s", 12, 12, 3, 1),
    ("1c3", 5, 7, 2, 2),
]


@pytest.mark.parametrize("spec,rows,cols,m,onum", ARCHITECTURES)
def test_fast_matches_literal(spec, rows, cols, m, onum):
    net, x, y = random_net(spec, rows, cols, m, onum, seed=rows + m)
    opts = {"alpha": 0.7}
    fast = cnnapplygrads(cnnbp(cnnff(net, x), y), opts)
    slow = literal.cnnapplygrads(literal.cnnbp(literal.cnnff(net, x), y), opts)
    error, where = max_rel_error(slow, fast)
    assert error < 1e-13, where
