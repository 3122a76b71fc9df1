"""maxpool_forward's selection keeps the first maximum's bits, signed zeros included.

``layerops.maxpool_forward`` selects with bit operations on the float64s seen
as int64 (faster than a masked copy, bench/README.md).  The tie rule
(README, layerops) says the first maximum in column-major order stays: for
a block holding -0.0 and then 0.0 (equal under ``>``) that is -0.0, which
``np.maximum`` would not keep.  The reference here is the rule written out
block by block with a strict ``>``.
"""

import numpy as np
import pytest

from cnntoolbox import layerops


def _first_maximum(A, scale):
    """Block by block: the first value in column-major order not exceeded strictly later, and its position."""
    maps, rows, cols, m = A.shape
    pooled = np.empty((maps, rows // scale, cols // scale, m))
    where = np.empty(pooled.shape, dtype=np.intp)
    for index in np.ndindex(*pooled.shape):
        j, r, c, n = index
        best, at = A[j, r * scale, c * scale, n], 0
        for q in range(scale):
            for p in range(scale):
                value = A[j, r * scale + p, c * scale + q, n]
                if value > best:
                    best, at = value, q * scale + p
        pooled[index], where[index] = best, at
    return pooled, where


@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_maxpool_forward_keeps_the_first_maximums_bits(seed, scale):
    rng = np.random.default_rng(seed)
    # few levels, half of the zeros negative: many ties, many of them +0.0 against -0.0
    A = np.round(rng.normal(size=(3, 2 * scale, 3 * scale, 5)) - 1.0) / 2
    A[A == 0] = rng.choice([0.0, -0.0], size=int(np.sum(A == 0)))
    assert np.any(np.signbit(A) & (A == 0)) and np.any(~np.signbit(A) & (A == 0))
    pooled, where = layerops.maxpool_forward(A, scale)
    expected, expected_where = _first_maximum(A, scale)
    assert pooled.tobytes() == expected.tobytes()
    np.testing.assert_array_equal(where, expected_where)


def test_a_negative_zero_first_stays():
    A = np.array([-0.0, 0.0, 0.0, 0.0]).reshape(1, 2, 2, 1, order="F")    # column-major block
    pooled, where = layerops.maxpool_forward(A, 2)
    assert np.signbit(pooled[0, 0, 0, 0]) and where[0, 0, 0, 0] == 0
