"""The backward pass of the example by the chain rule itself, not by the toolbox's tricks.

Every layer of the forward pass is linear in its input map before the
sigmoid: a 'valid' convolution ``u = V a``, a mean pool ``s = P a``.  The
chain rule hands a delta back through such a layer with the transpose,
``V' delta`` and ``P' delta``; a kernel weight's gradient is the delta
times the derivative of ``u`` with respect to that weight.  Here the
matrices ``V`` and ``P`` are built column by column by running the forward
operation of ``literal.py`` (``convn`` as in ``cnnff.m``) on unit maps, so
no convolution is written a third time; the toolbox's own shortcuts
(``rot180``, ``flipall``, ``expand / scale^2``) appear nowhere here, and
agreeing with ``cnnbp`` shows that they compute the chain rule.

The scalar steps (``e``, ``od``, ``fvd``, the reshape, ``dffW``, the
updates) are written as sums over explicit indices.  One map per layer and
one sample, the example's layout.

With ``exact=True`` every number is a :class:`fractions.Fraction`: the
example's weights are binary fractions (multiples of 1/1024), so they
convert exactly, and Part 1's labels are the post's decimals; the sums are
then exact, whatever order a BLAS kernel would add in.
"""

from fractions import Fraction

import numpy as np

from .. import literal

#: Layer numbers (0-based) of the example: input -> C1 -> S1 -> C2 -> S2.
C1, S1, C2, S2 = 1, 2, 3, 4


def exactly(values):
    """``values`` as an object array of Fractions (a binary float converts exactly)."""
    return np.vectorize(Fraction, otypes=[object])(np.asarray(values))


def linear_matrix(linear, shape):
    """The matrix of a linear map of arrays: column n is the image of the n-th unit array.

    Parameters
    ----------
    linear : callable
        Maps an array of ``shape`` to an array (any shape).
    shape : tuple of int

    Returns
    -------
    ndarray, shape (output size, prod(shape))
        Row-major (C order) flattening on both sides.
    """
    columns = []
    for n in range(int(np.prod(shape))):
        unit = np.zeros(shape)
        unit.flat[n] = 1.0
        columns.append(np.ravel(linear(unit)))
    return np.array(columns).T


def conv_matrix(k, shape):
    """V with ``V @ a.ravel() == convn(a, k, 'valid').ravel()`` for a map ``a`` of ``shape``."""
    return linear_matrix(lambda a: literal.convn(a, k, "valid"), shape)


def pool_matrix(scale, shape):
    """P with ``P @ a.ravel()`` the mean-pooled map (cnnff.m's convn with ones / scale^2, then every scale-th)."""
    def pool(a):
        return literal.convn(a, np.ones((scale, scale)) / scale ** 2, "valid")[::scale, ::scale]
    return linear_matrix(pool, shape)


def kernel_jacobian(a, ks):
    """J with ``J[:, p*ks + q] = d u / d k(p, q)`` for ``u = convn(a, k, 'valid')`` (flattened)."""
    return linear_matrix(lambda k: literal.convn(a, k, "valid"), (ks, ks))


def backward(net, y, alpha, exact=False):
    """Every backward and update quantity of the example, by the chain rule.

    Parameters
    ----------
    net : dict
        The example net after ``cnnff`` (one map per layer, m = 1).
    y : ndarray, shape (onum, 1)
        Floats, or Fractions when ``exact``.
    alpha : float
    exact : bool
        Compute in Fractions: the net's floats are taken as the exact binary
        fractions they are, ``y`` as given.

    Returns
    -------
    dict
        Keyed like :data:`cnntoolbox.teaching.steps.STEPS`; maps as 2-D arrays
        (object arrays of Fractions when ``exact``).
    """
    num = exactly if exact else np.asarray
    layers = net["layers"]
    m = y.shape[1]
    x = layers[0]["a"][0][:, :, 0]
    a_c1, a_s1, a_c2 = (num(layers[l]["a"][0][:, :, 0]) for l in (C1, S1, C2))
    k_c1, k_c2 = num(layers[C1]["k"][0][0]), num(layers[C2]["k"][0][0])
    o, t, fv, W = num(net["o"][:, 0]), y[:, 0], num(net["fv"][:, 0]), num(net["ffW"])
    alpha = Fraction(alpha) if exact else alpha
    onum, fvnum = W.shape
    h = {}
    h["e"] = np.array([o[i] - t[i] for i in range(onum)])
    h["L"] = sum(e ** 2 for e in h["e"]) / 2 / m
    h["fprime_o"] = np.array([o[i] * (1 - o[i]) for i in range(onum)])
    h["od"] = np.array([h["e"][i] * h["fprime_o"][i] for i in range(onum)])
    h["fvd"] = np.array([sum(W[i, k] * h["od"][i] for i in range(onum)) for k in range(fvnum)])
    rows, cols = layers[S2]["a"][0].shape[:2]
    h["d_s2"] = np.array([[h["fvd"][r + rows * c] for c in range(cols)] for r in range(rows)])
    P2 = num(pool_matrix(layers[S2]["scale"], a_c2.shape))
    h["expanded"] = (P2.T @ h["d_s2"].ravel()).reshape(a_c2.shape)
    h["fprime_c2"] = a_c2 * (1 - a_c2)
    h["d_c2"] = h["fprime_c2"] * h["expanded"]
    V2 = num(conv_matrix(layers[C2]["k"][0][0], a_s1.shape))
    h["d_s1"] = (V2.T @ h["d_c2"].ravel()).reshape(a_s1.shape)
    P1 = num(pool_matrix(layers[S1]["scale"], a_c1.shape))
    h["d_c1"] = a_c1 * (1 - a_c1) * (P1.T @ h["d_s1"].ravel()).reshape(a_c1.shape)
    ks2, ks1 = k_c2.shape[0], k_c1.shape[0]
    J2 = num(kernel_jacobian(layers[S1]["a"][0][:, :, 0], ks2))
    J1 = num(kernel_jacobian(x, ks1))
    h["dk_c2"] = (J2.T @ h["d_c2"].ravel()).reshape(ks2, ks2) / m
    h["dk_c1"] = (J1.T @ h["d_c1"].ravel()).reshape(ks1, ks1) / m
    h["dffW"] = np.array([[h["od"][i] * fv[k] for k in range(fvnum)] for i in range(onum)]) / m
    h["db_c2"] = h["d_c2"].sum() / m
    h["db_c1"] = h["d_c1"].sum() / m
    h["dffb"] = h["od"] / m
    h["k_c2"] = k_c2 - alpha * h["dk_c2"]
    h["b_c2"] = num(layers[C2]["b"][0])[()] - alpha * h["db_c2"]
    h["k_c1"] = k_c1 - alpha * h["dk_c1"]
    h["b_c1"] = num(layers[C1]["b"][0])[()] - alpha * h["db_c1"]
    h["ffW"] = W - alpha * h["dffW"]
    h["ffb"] = num(net["ffb"][:, 0]) - alpha * h["dffb"]
    return h
