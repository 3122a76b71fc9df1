"""Each numerical block of layerops.py against the .m line it replaces, on random shapes.

In the spirit of cs231n's checked layers: every conv, pool and delta function
of ``cnntoolbox/layerops.py`` (whole layers in the stacked layout, one matrix
product) is held to the per-map Matlab expression it stands for, written
with the primitives of ``cnntoolbox/literal.py`` (``convn``, ``rot180``,
``flipall``, ``expand``, ``sigm``) map by map on Matlab's layout, as
``cnnff.m`` and ``cnnbp.m`` write it. The oracles are spelled out here,
one .m line each, because ``literal.cnnff``/``cnnbp`` keep them inline to
read line by line beside the ``.m`` files. The blocks of the opt-in keys
(activations, max pooling) are held to literal.py's naive ``activation``,
``fprime``, ``maxpool`` and ``maxpool_back``. On top, the convolution's
three products are checked to be each other's adjoints (a dot-product test
that needs no oracle at all).
"""

import numpy as np
import pytest

from cnntoolbox import layerops, literal
from cnntoolbox.reference.compare import compare
from cnntoolbox.netlayout import ACTIVATIONS

from helpers import max_rel_error

TOLERANCE = 1e-13
SEEDS = range(12)


def _maps(stacked):
    """A stacked (maps, rows, cols, m) array as Matlab's list of (rows, cols, m) maps."""
    return [np.array(stacked[j]) for j in range(stacked.shape[0])]


def _close(expected, actual):
    error, where = max_rel_error(expected, actual)
    assert error <= TOLERANCE, f"{where}: relative error {error:.3g}"


def _conv_problem(seed):
    """Random maps A (inmaps, rows, cols, m), kernels K (inmaps, outmaps, ks, ks), biases b
    and a delta D (outmaps, rows-ks+1, cols-ks+1, m) of the layer's output."""
    rng = np.random.default_rng(seed)
    inmaps, outmaps, ks, m = (int(v) for v in rng.integers(1, [4, 4, 6, 4], endpoint=True))
    rows, cols = (ks + int(v) for v in rng.integers(0, 6, 2))
    A = rng.random((inmaps, rows, cols, m))
    K = rng.uniform(-1, 1, (inmaps, outmaps, ks, ks))
    b = rng.uniform(-1, 1, outmaps)
    D = rng.uniform(-1, 1, (outmaps, rows - ks + 1, cols - ks + 1, m))
    return A, K, b, D


def _pool_problem(seed):
    """Random maps A (maps, rows, cols, m) in [0, 1), a scale dividing rows and cols,
    and a delta D (maps, rows/scale, cols/scale, m) of the pooled maps."""
    rng = np.random.default_rng(100 + seed)
    maps, scale, m = (int(v) for v in rng.integers(1, [4, 4, 4], endpoint=True))
    rows, cols = (scale * int(v) for v in rng.integers(1, 5, 2))
    D = rng.uniform(-1, 1, (maps, rows // scale, cols // scale, m))
    return rng.random((maps, rows, cols, m)), scale, D


@pytest.mark.parametrize("seed", SEEDS)
def test_im2col_holds_every_window(seed):
    A, K, _, _ = _conv_problem(seed)
    inmaps, rows, cols, m = A.shape
    ks = K.shape[2]
    got = layerops.im2col(A, ks)
    out_r, out_c = rows - ks + 1, cols - ks + 1
    assert got.shape == (inmaps * ks * ks, out_r * out_c * m)
    for i in range(inmaps):
        for u in range(ks):
            for v in range(ks):
                # row (i, u, v), column (y, x, n) holds A[i, y+u, x+v, n]
                window = A[i, u:u + out_r, v:v + out_c, :].reshape(-1)
                np.testing.assert_array_equal(got[(i * ks + u) * ks + v], window)


@pytest.mark.parametrize("seed", SEEDS)
def test_conv_forward(seed):
    A, K, b, _ = _conv_problem(seed)
    inmaps, outmaps, ks, _ = K.shape
    rows, cols = A.shape[1] - ks + 1, A.shape[2] - ks + 1
    got = layerops.conv_forward(layerops.im2col(A, ks), K, b, rows, cols)
    a = _maps(A)
    # cnnff.m: z = z + convn(net.layers{l - 1}.a{i}, net.layers{l}.k{i}{j}, 'valid');
    #          net.layers{l}.a{j} = sigm(z + net.layers{l}.b{j});
    expected = [literal.sigm(sum(literal.convn(a[i], K[i, j], "valid") for i in range(inmaps))
                             + b[j]) for j in range(outmaps)]
    _close(expected, _maps(got))


@pytest.mark.parametrize("seed", SEEDS)
def test_conv_delta_back(seed):
    A, K, _, D = _conv_problem(seed)
    inmaps, outmaps, ks, _ = K.shape
    rows, cols = A.shape[1:3]
    got = layerops.conv_delta_back(D, K, rows, cols)
    d = _maps(D)
    # cnnbp.m: z = z + convn(net.layers{l + 1}.d{j}, rot180(net.layers{l + 1}.k{i}{j}), 'full');
    expected = [sum(literal.convn(d[j], literal.rot180(K[i, j]), "full") for j in range(outmaps))
                for i in range(inmaps)]
    _close(expected, _maps(got))


@pytest.mark.parametrize("seed", SEEDS)
def test_conv_kernel_grad(seed):
    A, K, _, D = _conv_problem(seed)
    inmaps, outmaps, ks, _ = K.shape
    got = layerops.conv_kernel_grad(layerops.im2col(A, ks), D, ks)
    a, d = _maps(A), _maps(D)
    # cnnbp.m: net.layers{l}.dk{i}{j} = convn(flipall(net.layers{l - 1}.a{i}), net.layers{l}.d{j}, 'valid')
    #          / size(net.layers{l}.d{j}, 3);  (layerops leaves the division by m to its caller)
    expected = [[literal.convn(literal.flipall(a[i]), d[j], "valid")[:, :, 0]
                 for j in range(outmaps)] for i in range(inmaps)]
    # Each element sums rows' * cols' * m products of both signs, in another order here:
    # judged relative to the largest kernel gradient of the layer (compare's field row),
    # as a lone element may cancel to near zero.
    result = compare({"dk": expected}, {"dk": [list(row) for row in got]}, rtol=TOLERANCE)
    assert result.passed, result.verdict()


@pytest.mark.parametrize("seed", SEEDS)
def test_the_three_convolution_products_are_adjoint(seed):
    # u = conv(A, K) is linear in A and in K: <u, D> = <A, conv_delta_back(D)> = <K, dk(A, D)>
    A, K, _, D = _conv_problem(seed)
    inmaps, outmaps, ks, _ = K.shape
    rows, cols = A.shape[1:3]
    windows = layerops.im2col(A, ks)
    u = layerops.flipped_kernels(K) @ windows
    forward = float(np.sum(u * D.reshape(outmaps, -1)))
    back = float(np.sum(A * layerops.conv_delta_back(D, K, rows, cols)))
    grad = float(np.sum(K * layerops.conv_kernel_grad(windows, D, ks)))
    assert back == pytest.approx(forward, rel=1e-12, abs=1e-12)
    assert grad == pytest.approx(forward, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_meanpool_forward(seed):
    A, scale, _ = _pool_problem(seed)
    got = layerops.meanpool_forward(A, scale)
    # cnnff.m: z = convn(net.layers{l - 1}.a{j}, ones(net.layers{l}.scale) / (net.layers{l}.scale ^ 2), 'valid');
    #          net.layers{l}.a{j} = z(1 : net.layers{l}.scale : end, 1 : net.layers{l}.scale : end, :);
    expected = [literal.convn(a, np.ones((scale, scale)) / scale ** 2, "valid")[::scale, ::scale, :]
                for a in _maps(A)]
    _close(expected, _maps(got))


@pytest.mark.parametrize("seed", SEEDS)
def test_meanpool_sigm_delta_back(seed):
    A, scale, D = _pool_problem(seed)
    got = layerops.meanpool_sigm_delta_back(A, D, scale)
    # cnnbp.m: net.layers{l}.d{j} = net.layers{l}.a{j} .* (1 - net.layers{l}.a{j}) .*
    #          (expand(net.layers{l + 1}.d{j}, [net.layers{l + 1}.scale net.layers{l + 1}.scale 1]) / net.layers{l + 1}.scale ^ 2);
    expected = [a * (1 - a) * (literal.expand(d, [scale, scale, 1]) / scale ** 2)
                for a, d in zip(_maps(A), _maps(D))]
    _close(expected, _maps(got))


@pytest.mark.parametrize("seed", SEEDS)
def test_meanpool_delta_back(seed):
    # meanpool_sigm_delta_back without the sigmoid's derivative (an 's' layer below, or another
    # activation)
    _, scale, D = _pool_problem(seed)
    got = layerops.meanpool_delta_back(D, scale)
    expected = [literal.expand(d, [scale, scale, 1]) / scale ** 2 for d in _maps(D)]
    _close(expected, _maps(got))


@pytest.mark.parametrize("seed", SEEDS)
def test_maxpool_forward_and_back(seed):
    # values from a few levels, so that blocks hold ties: the first maximum in column-major
    # order (Matlab's max of block(:)) must be the one that gets the delta
    A, scale, D = _pool_problem(seed)
    A = np.floor(A * 3) / 3
    pooled, where = layerops.maxpool_forward(A, scale)
    _close([literal.maxpool(a, scale) for a in _maps(A)], _maps(pooled))
    got = layerops.maxpool_delta_back(where, D, scale)
    _close([literal.maxpool_back(a, d, scale) for a, d in zip(_maps(A), _maps(D))], _maps(got))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("seed", SEEDS[:4])
def test_conv_forward_with_an_activation_and_its_derivative(seed, activation):
    A, K, b, _ = _conv_problem(seed)
    inmaps, outmaps, ks, _ = K.shape
    rows, cols = A.shape[1] - ks + 1, A.shape[2] - ks + 1
    got = layerops.conv_forward(layerops.im2col(A, ks), K, b, rows, cols, activation=activation)
    a = _maps(A)
    expected = [literal.activation(sum(literal.convn(a[i], K[i, j], "valid")
                                       for i in range(inmaps)) + b[j], activation)
                for j in range(outmaps)]
    _close(expected, _maps(got))
    slope = layerops.derivative(got, activation)
    ones = np.ones_like(got)
    _close(literal.fprime(got, activation), ones if slope is None else slope)


@pytest.mark.parametrize("seed", SEEDS)
def test_feature_vector_and_back(seed):
    A, _, _ = _pool_problem(seed)
    maps, rows, cols, m = A.shape
    fv = layerops.maps_to_fv(A)
    # cnnff.m: net.fv = [net.fv; reshape(net.layers{n}.a{j}, sa(1) * sa(2), sa(3))];
    expected = np.concatenate([a.reshape(rows * cols, m, order="F") for a in _maps(A)])
    np.testing.assert_array_equal(fv, expected)
    # cnnbp.m: net.layers{n}.d{j} = reshape(net.fvd(((j - 1) * fvnum + 1) : j * fvnum, :), sa(1), sa(2), sa(3));
    back = layerops.fv_to_maps(fv, rows, cols)
    expected = [fv[j * rows * cols:(j + 1) * rows * cols].reshape((rows, cols, m), order="F")
                for j in range(maps)]
    _close(expected, _maps(back))
    np.testing.assert_array_equal(back, A)


def test_softmax_is_exp_over_its_sum_and_never_overflows():
    U = np.random.default_rng(3).uniform(-5, 5, (4, 6))
    expected = np.exp(U) / np.sum(np.exp(U), axis=0)
    _close(expected, layerops.softmax(U.copy()))
    big = layerops.softmax(np.array([[1000.0, -1000.0], [999.0, -1001.0]]))
    _close(np.array([[1, 1], [np.exp(-1), np.exp(-1)]]) / (1 + np.exp(-1)), big)


def test_sigm_is_the_toolboxs_and_saturates_like_matlab():
    P = np.array([-1000.0, -709.0, -30.0, -1.0, 0.0, 0.5, 30.0, 1000.0])
    expected = literal.sigm(P)
    got = layerops.sigm(P.copy())
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    assert got[0] == 0.0 and got[-1] == 1.0
