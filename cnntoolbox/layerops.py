"""The numerical building blocks of cnnff and cnnbp, forward next to backward.

Every function works on whole layers in the stacked layout (see
``netlayout.py``): maps as (maps, rows, cols, m) arrays (the batch last), kernels as
(inmaps, outmaps, ks, ks).  One matrix product replaces the per-map loops of
the ``.m`` files; the docstrings give the Matlab expression each one computes.

Notation (Bouvrie): ``u`` is a layer's input to its nonlinearity, ``x = f(u)``
its output (the toolbox's ``a``), ``delta = dE/du`` (the toolbox's ``d``),
``f'(u) = x .* (1 - x)`` for the sigmoid.  An 's' layer has no nonlinearity:
its delta is ``dE/dx``.

Precision: each block computes in the dtype of its maps or deltas,
float64 or float32 (Matlab's ``single``); weights of the other precision are
cast to it where they are used, as Matlab converts a ``double`` operand of
an operation on ``single`` data (``netlayout.working_dtype``).

Beyond the original (opt-in keys, README): the other activations
(``activate``, ``derivative``), max-pooling (``maxpool_forward``,
``maxpool_delta_back``), the mean-pool's delta without the sigmoid's
derivative, below any layer (``meanpool_delta_back``; the original's
``meanpool_sigm_delta_back`` includes it) and the softmax output (``softmax``).
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided


def sigm(P):
    """The sigmoid ``1 ./ (1 + exp(-P))`` (util/sigm.m), elementwise, in place.

    exp(-P) overflows to Inf for P < -709 and the result is then exactly 0,
    as in Matlab; numpy's overflow warning for that is silenced.

    Parameters
    ----------
    P : ndarray of float64 or float32
        Overwritten with the result (it is a temporary in every caller).
    """
    with np.errstate(over="ignore"):
        np.negative(P, out=P)
        np.exp(P, out=P)
        P += 1.0
        # 1 ./ P as a division: the same correctly rounded bits as np.reciprocal, in half
        # its time (numpy vectorises the division, not the reciprocal; bench/README.md)
        return np.divide(1.0, P, out=P)


def activate(U, activation):
    """The nonlinearity of a 'c' layer, elementwise, in place; returns ``U``.

    ``"sigm"`` (the original) ``1 ./ (1 + exp(-u))``, ``"relu"`` ``max(u, 0)``,
    ``"tanh"`` ``tanh(u)``, ``"linear"`` ``u``.

    Parameters
    ----------
    U : ndarray of float64 or float32
        Overwritten with the result.
    activation : str
        One of ``netlayout.ACTIVATIONS``.
    """
    if activation == "sigm":
        return sigm(U)
    if activation == "relu":
        return np.maximum(U, 0.0, out=U)
    if activation == "tanh":
        return np.tanh(U, out=U)
    return U                                                     # "linear"


def derivative(A, activation):
    """``f'(u)`` written with the layer's output ``a = f(u)``, or None for f' = 1.

    ``"sigm"``: ``a .* (1 - a)``; ``"tanh"``: ``1 - a.^2``; ``"relu"``:
    ``a > 0`` (1 where u > 0, 0 where u <= 0: at u = 0 the gradient is 0, as
    in PyTorch); ``"linear"``: None (multiplying by 1 is left out).

    Parameters
    ----------
    A : ndarray
        The layer's output (maps, or the feature vector of a last 'c' layer).
    activation : str

    Returns
    -------
    ndarray of A's shape, or None
    """
    if activation == "sigm":
        fprime = np.subtract(1.0, A)
        fprime *= A                                  # (1 - a) .* a: one temporary, the same bits
        return fprime
    if activation == "tanh":
        return 1 - A * A
    if activation == "relu":
        return (A > 0).astype(A.dtype)
    return None


def softmax(U):
    """``exp(u) ./ sum(exp(u))`` over each column, in place; returns ``U``.

    The column's maximum is subtracted first (the result is the same, and
    exp cannot overflow).

    Parameters
    ----------
    U : ndarray, shape (onum, m)
        Overwritten with the result.
    """
    U -= U.max(axis=0)
    np.exp(U, out=U)
    U /= U.sum(axis=0)
    return U


def im2col(A, ks):
    """Every ks x ks window of every map as one column.

    Parameters
    ----------
    A : ndarray, shape (inmaps, rows, cols, m)
    ks : int

    Returns
    -------
    ndarray, shape (inmaps * ks * ks, (rows-ks+1) * (cols-ks+1) * m)
        Row (i, u, v), column (y, x, n) holds ``A[i, y+u, x+v, n]``.  With
        the batch as the last axis the copy moves runs of m contiguous values.
    """
    inmaps, rows, cols, m = A.shape
    # the window view (inmaps, ks, ks, r', c', m), as sliding_window_view would give it
    # (transposed), built directly: that saves the checks of sliding_window_view on every batch
    step_map, step_row, step_col, step_sample = A.strides
    shape = (inmaps, ks, ks, rows - ks + 1, cols - ks + 1, m)
    view = as_strided(A, shape=shape,
                      strides=(step_map, step_row, step_col, step_row, step_col, step_sample),
                      writeable=False)
    windows = np.empty((inmaps * ks * ks, (rows - ks + 1) * (cols - ks + 1) * m), dtype=A.dtype)
    np.copyto(windows.reshape(shape), view)
    return windows


def flipped_kernels(K):
    """The kernels as one (outmaps, inmaps * ks * ks) matrix, each rotated by 180 degrees.

    ``convn`` is a true convolution: it applies ``k(end:-1:1, end:-1:1)`` to
    each window, which is what the rotation does here once for all kernels.
    """
    inmaps, outmaps, ks, _ = K.shape
    return K[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(outmaps, inmaps * ks * ks)


# --- convolution layer ---------------------------------------------------------

def conv_forward(windows, K, b, rows, cols, activation="sigm"):
    """Output maps of a convolution layer (cnnff.m, the 'c' branch).

    ``a{j} = sigm(sum_i convn(a_prev{i}, k{i}{j}, 'valid') + b{j})`` for all
    j at once: one product of the flipped kernels with the windows.  Another
    ``activation`` replaces sigm (see ``activate``).

    Parameters
    ----------
    windows : ndarray, shape (inmaps * ks * ks, rows * cols * m)
        ``im2col`` of the previous layer's maps; its dtype is the result's.
    K : ndarray, shape (inmaps, outmaps, ks, ks)
    b : ndarray, shape (outmaps,)
    rows, cols : int
        Output map size, (rows-ks+1) x (cols-ks+1) of the input.
    activation : str
        One of ``netlayout.ACTIVATIONS``.

    Returns
    -------
    ndarray, shape (outmaps, rows, cols, m)
    """
    outmaps = K.shape[1]
    dtype = windows.dtype
    # sum_i convn(a{i}, k{i}{j}, 'valid')
    u = flipped_kernels(K).astype(dtype, copy=False) @ windows
    u += b.astype(dtype, copy=False)[:, np.newaxis]            # + b{j}
    activate(u, activation)
    return u.reshape(outmaps, rows, cols, -1)


def conv_delta_back(D, K, rows, cols):
    """Delta of the subsampling layer below a convolution layer (cnnbp.m, the 's' branch).

    ``d{i} = sum_j convn(d_next{j}, rot180(k{i}{j}), 'full')``: the 'full'
    convolution with the kernel rotated by 180 degrees is the transpose of the
    forward 'valid' convolution, so each output delta is spread back over the
    ks x ks window it came from (a col2im).  This is ``dE/da`` of the layer
    below; below a 'c' layer (an opt-in) it is then multiplied by f'.

    Parameters
    ----------
    D : ndarray, shape (outmaps, rows-ks+1, cols-ks+1, m)
        The convolution layer's delta; its dtype is the result's.
    K : ndarray, shape (inmaps, outmaps, ks, ks)
    rows, cols : int
        Map size of the layer below.

    Returns
    -------
    ndarray, shape (inmaps, rows, cols, m)
    """
    outmaps, out_rows, out_cols, m = D.shape
    inmaps, ks = K.shape[0], K.shape[2]
    # what each output position gives back to every (u, v) of its window, for every i
    flipped = K[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(ks * ks * inmaps, outmaps)
    flipped = flipped.astype(D.dtype, copy=False)
    spread = (flipped @ D.reshape(outmaps, -1)).reshape(ks, ks, inmaps, out_rows, out_cols, m)
    delta = np.zeros((inmaps, rows, cols, m), dtype=spread.dtype)
    for u in range(ks):
        for v in range(ks):
            delta[:, u:u + out_rows, v:v + out_cols, :] += spread[u, v]
    return delta


def conv_kernel_grad(windows, D, ks):
    """Batch-summed kernel gradient of a convolution layer (cnnbp.m, 'calc gradients').

    ``convn(flipall(a_prev{i}), d{j}, 'valid')``, before the division by m:
    flipping the input in all three dimensions (rows, cols and the batch)
    turns the 3-D 'valid' convolution into a correlation summed over the
    batch, rotated by 180 degrees, i.e.
    ``dk(u, v) = sum_{y,x,n} a_prev(ks-u+y, ks-v+x, n) * d(y, x, n)`` (1-based).
    The correlation is one product with the forward pass's windows.

    Parameters
    ----------
    windows : ndarray, shape (inmaps * ks * ks, rows' * cols' * m)
        ``im2col`` of the previous layer's maps (``ff``'s cache).
    D : ndarray, shape (outmaps, rows', cols', m)
    ks : int

    Returns
    -------
    ndarray, shape (inmaps, outmaps, ks, ks)
    """
    outmaps = D.shape[0]
    summed = (windows @ D.reshape(outmaps, -1).T).T                 # (outmaps, inmaps*ks*ks);
    # this order of the product runs faster than D @ windows.T in OpenBLAS for these shapes
    summed = summed.reshape(outmaps, -1, ks, ks).transpose(1, 0, 2, 3)
    return summed[:, :, ::-1, ::-1]                              # undo the forward flip


# --- subsampling (mean-pool) layer ---------------------------------------------

def meanpool_forward(A, scale):
    """Mean of every scale x scale block (cnnff.m, the 's' branch).

    ``z = convn(a{j}, ones(scale) / scale^2, 'valid'); a{j} = z(1:scale:end, 1:scale:end, :)``:
    the valid convolution with the averaging kernel, kept at every scale-th
    position, is the mean of non-overlapping blocks.

    Parameters
    ----------
    A : ndarray, shape (maps, rows, cols, m)
    scale : int
        Divides rows and cols.

    Returns
    -------
    ndarray, shape (maps, rows/scale, cols/scale, m)
    """
    total = A[:, 0::scale, 0::scale, :].copy()
    for p in range(scale):
        for q in range(scale):
            if p or q:
                total += A[:, p::scale, q::scale, :]
    total *= 1.0 / scale ** 2
    return total


def meanpool_sigm_delta_back(A, D, scale):
    """Delta of the convolution layer below a subsampling layer (cnnbp.m, the 'c' branch).

    ``d{j} = a{j} .* (1 - a{j}) .* (expand(d_next{j}, [scale scale 1]) / scale^2)``:
    every input of a block got 1/scale^2 of its weight in the mean, so it gets
    1/scale^2 of the block's delta, times the sigmoid's derivative f'(u) = a(1-a).

    Parameters
    ----------
    A : ndarray, shape (maps, rows, cols, m)
        The convolution layer's maps.
    D : ndarray, shape (maps, rows/scale, cols/scale, m)
        The subsampling layer's delta.
    scale : int

    Returns
    -------
    ndarray, shape (maps, rows, cols, m)
    """
    maps, rows, cols, m = D.shape
    delta = np.subtract(1.0, A)
    delta *= A                                                   # a .* (1 - a)
    blocks = delta.reshape(maps, rows, scale, cols, scale, m)    # a view: every block's inputs
    blocks *= (D / scale ** 2)[:, :, np.newaxis, :, np.newaxis, :]   # .* expand(d / scale^2)
    return delta


def meanpool_delta_back(D, scale):
    """``dE/da`` of the layer below a mean-pool layer: ``expand(d_next, [scale scale 1]) / scale^2``.

    The mean-pool's part of ``meanpool_sigm_delta_back`` without the sigmoid's
    derivative: for an 's' layer below (no nonlinearity) or a 'c' layer with
    another activation (the caller multiplies by f').

    Parameters
    ----------
    D : ndarray, shape (maps, rows, cols, m)
        The mean-pool layer's delta.
    scale : int

    Returns
    -------
    ndarray, shape (maps, rows * scale, cols * scale, m)
    """
    maps, rows, cols, m = D.shape
    delta = np.empty((maps, rows * scale, cols * scale, m), dtype=D.dtype)
    blocks = delta.reshape(maps, rows, scale, cols, scale, m)
    blocks[...] = (D / scale ** 2)[:, :, np.newaxis, :, np.newaxis, :]
    return delta


def maxpool_forward(A, scale):
    """Maximum of every scale x scale block, and where it is.

    Ties: the first maximum in column-major order within the block (down the
    block's first column, then the next), Matlab's order for ``max`` of the
    block as a column; the position is ``q * scale + p`` for row offset p and
    column offset q.  Only that position receives the block's delta.

    Parameters
    ----------
    A : ndarray, shape (maps, rows, cols, m)
    scale : int
        Divides rows and cols.

    Returns
    -------
    pooled : ndarray, shape (maps, rows/scale, cols/scale, m)
    where : ndarray of intp, same shape
        The position of each block's maximum, ``q * scale + p``.
    """
    if A.dtype not in (np.float64, np.float32):
        A = A.astype(np.float64)
    bits_type = np.int64 if A.dtype == np.float64 else np.int32  # the floats' bits as integers
    maps, rows, cols, m = A.shape
    shape = (maps, rows // scale, cols // scale, m)
    best = A[:, 0::scale, 0::scale, :].copy()
    where = np.zeros(shape, dtype=np.intp)
    # The selections are bit operations on the floats seen as integers of their size
    # (float64 as int64, float32 as int32): a masked copy
    # (np.copyto(where=), where[mask] = k) took 3 to 4 times longer for these shapes
    # (bench/README.md).  They copy bits, so NaN and -0.0 are kept as a masked copy keeps them.
    bits = best.view(bits_type)
    larger = np.empty(shape, dtype=bits_type)
    change = np.empty(shape, dtype=bits_type)
    for q in range(scale):                                       # column-major: p runs fastest
        for p in range(scale):
            if p or q:
                candidate = A[:, p::scale, q::scale, :]
                np.greater(candidate, best, out=larger)          # strictly: the first maximum stays
                np.negative(larger, out=larger)                  # 1 -> all bits set
                np.bitwise_xor(candidate.view(bits_type), bits, out=change)
                change &= larger
                bits ^= change                                   # best = candidate where larger
                larger &= q * scale + p                          # the position where larger, else 0;
                np.maximum(where, larger, out=where)             # positions rise in this loop's order
    return best, where


def maxpool_delta_back(where, D, scale):
    """``dE/da`` of the layer below a max-pool layer: each block's delta at its maximum, 0 elsewhere.

    Parameters
    ----------
    where : ndarray of intp, shape (maps, rows, cols, m)
        From ``maxpool_forward``.
    D : ndarray, shape (maps, rows, cols, m)
        The max-pool layer's delta.
    scale : int

    Returns
    -------
    ndarray, shape (maps, rows * scale, cols * scale, m)
    """
    maps, rows, cols, m = D.shape
    delta = np.empty((maps, rows * scale, cols * scale, m), dtype=D.dtype)
    blocks = delta.reshape(maps, rows, scale, cols, scale, m)
    for q in range(scale):
        for p in range(scale):
            np.multiply(D, where == q * scale + p, out=blocks[:, :, p, :, q, :])
    return delta


# --- feature vector -------------------------------------------------------------

def maps_to_fv(A):
    """Concatenate the last layer's maps into the feature vector (cnnff.m, end).

    ``fv = [reshape(a{1}, rows*cols, m); reshape(a{2}, ...); ...]``, column-major.

    Parameters
    ----------
    A : ndarray, shape (maps, rows, cols, m)

    Returns
    -------
    ndarray, shape (maps * rows * cols, m)
    """
    return A.transpose(0, 2, 1, 3).reshape(-1, A.shape[3])


def fv_to_maps(fv, rows, cols):
    """Reshape a feature-vector delta back into maps (cnnbp.m, 'reshape feature vector deltas').

    The inverse of ``maps_to_fv``: ``d{j} = reshape(fvd(block j, :), rows, cols, m)``.

    Parameters
    ----------
    fv : ndarray, shape (maps * rows * cols, m)

    Returns
    -------
    ndarray, shape (maps, rows, cols, m)
    """
    return np.ascontiguousarray(fv.reshape(-1, cols, rows, fv.shape[1]).transpose(0, 2, 1, 3))
