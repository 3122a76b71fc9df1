"""The numerical building blocks of cnnff and cnnbp, forward next to backward.

Every function works on whole layers in the stacked layout (see
``stacked.py``): maps as (m, rows, cols, maps) arrays, kernels as
(inmaps, outmaps, ks, ks).  One matrix product replaces the per-map loops of
the ``.m`` files; the docstrings give the Matlab expression each one computes.

Notation (Bouvrie): ``u`` is a layer's input to its nonlinearity, ``x = f(u)``
its output (the toolbox's ``a``), ``delta = dE/du`` (the toolbox's ``d``),
``f'(u) = x .* (1 - x)`` for the sigmoid.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def sigm(P):
    """The sigmoid ``1 ./ (1 + exp(-P))`` (util/sigm.m), elementwise.

    exp(-P) overflows to Inf for P < -709 and the result is then exactly 0,
    as in Matlab; numpy's overflow warning for that is silenced.
    """
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-P))


def im2col(A, ks):
    """Every ks x ks window of every map as one row.

    Parameters
    ----------
    A : ndarray, shape (m, rows, cols, inmaps)
    ks : int

    Returns
    -------
    ndarray, shape (m * (rows-ks+1) * (cols-ks+1), inmaps * ks * ks)
        Row (n, y, x) holds ``A[n, y:y+ks, x:x+ks, i]`` for every i, in
        (i, u, v) order.
    """
    m, rows, cols, inmaps = A.shape
    windows = sliding_window_view(A, (ks, ks), axis=(1, 2))   # (m, r', c', inmaps, ks, ks)
    return windows.reshape(m * (rows - ks + 1) * (cols - ks + 1), inmaps * ks * ks)


# --- convolution layer ---------------------------------------------------------

def conv_forward(A, K, b):
    """Output maps of a convolution layer (cnnff.m, the 'c' branch).

    ``a{j} = sigm(sum_i convn(a_prev{i}, k{i}{j}, 'valid') + b{j})``.
    ``convn`` is a true convolution, so the kernel is flipped: as a
    correlation over the windows of ``im2col`` it is ``k(end:-1:1, end:-1:1)``.

    Parameters
    ----------
    A : ndarray, shape (m, rows, cols, inmaps)
        The previous layer's maps.
    K : ndarray, shape (inmaps, outmaps, ks, ks)
    b : ndarray, shape (outmaps,)

    Returns
    -------
    ndarray, shape (m, rows-ks+1, cols-ks+1, outmaps)
    """
    m, rows, cols, inmaps = A.shape
    outmaps, ks = K.shape[1], K.shape[2]
    flipped = K[:, :, ::-1, ::-1].transpose(0, 2, 3, 1).reshape(inmaps * ks * ks, outmaps)
    u = im2col(A, ks) @ flipped + b
    return sigm(u).reshape(m, rows - ks + 1, cols - ks + 1, outmaps)


def conv_delta_back(D, K, rows, cols):
    """Delta of the subsampling layer below a convolution layer (cnnbp.m, the 's' branch).

    ``d{i} = sum_j convn(d_next{j}, rot180(k{i}{j}), 'full')``: the 'full'
    convolution with the kernel rotated by 180 degrees is the transpose of the
    forward 'valid' convolution, so each output delta is spread back over the
    ks x ks window it came from (a col2im).

    Parameters
    ----------
    D : ndarray, shape (m, rows-ks+1, cols-ks+1, outmaps)
        The convolution layer's delta.
    K : ndarray, shape (inmaps, outmaps, ks, ks)
    rows, cols : int
        Map size of the layer below.

    Returns
    -------
    ndarray, shape (m, rows, cols, inmaps)
    """
    m, out_rows, out_cols, outmaps = D.shape
    inmaps, ks = K.shape[0], K.shape[2]
    flipped = K[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(outmaps, inmaps * ks * ks)
    spread = (D.reshape(-1, outmaps) @ flipped).reshape(m, out_rows, out_cols, inmaps, ks, ks)
    delta = np.zeros((m, rows, cols, inmaps))
    for u in range(ks):
        for v in range(ks):
            delta[:, u:u + out_rows, v:v + out_cols, :] += spread[:, :, :, :, u, v]
    return delta


def conv_kernel_grad(A, D):
    """Batch-summed kernel gradient of a convolution layer (cnnbp.m, 'calc gradients').

    ``convn(flipall(a_prev{i}), d{j}, 'valid')``, before the division by m:
    flipping the input in all three dimensions (rows, cols and the batch)
    turns the 3-D 'valid' convolution into a correlation summed over the
    batch, rotated by 180 degrees, i.e.
    ``dk(u, v) = sum_{y,x,n} a_prev(ks-u+y, ks-v+x, n) * d(y, x, n)`` (1-based).

    Parameters
    ----------
    A : ndarray, shape (m, rows, cols, inmaps)
        The previous layer's maps.
    D : ndarray, shape (m, rows-ks+1, cols-ks+1, outmaps)

    Returns
    -------
    ndarray, shape (inmaps, outmaps, ks, ks)
    """
    inmaps = A.shape[3]
    outmaps = D.shape[3]
    ks = A.shape[1] - D.shape[1] + 1
    summed = im2col(A, ks).T @ D.reshape(-1, outmaps)             # (inmaps*ks*ks, outmaps)
    return summed.reshape(inmaps, ks, ks, outmaps).transpose(0, 3, 1, 2)[:, :, ::-1, ::-1]


# --- subsampling (mean-pool) layer ---------------------------------------------

def pool_forward(A, scale):
    """Mean of every scale x scale block (cnnff.m, the 's' branch).

    ``z = convn(a{j}, ones(scale) / scale^2, 'valid'); a{j} = z(1:scale:end, 1:scale:end, :)``:
    the valid convolution with the averaging kernel, kept at every scale-th
    position, is the mean of non-overlapping blocks.

    Parameters
    ----------
    A : ndarray, shape (m, rows, cols, maps)
    scale : int
        Divides rows and cols.

    Returns
    -------
    ndarray, shape (m, rows/scale, cols/scale, maps)
    """
    total = 0.0
    for p in range(scale):
        for q in range(scale):
            total = total + A[:, p::scale, q::scale, :]
    return total / scale ** 2


def pool_delta_back(A, D, scale):
    """Delta of the convolution layer below a subsampling layer (cnnbp.m, the 'c' branch).

    ``d{j} = a{j} .* (1 - a{j}) .* (expand(d_next{j}, [scale scale 1]) / scale^2)``:
    every input of a block got 1/scale^2 of its weight in the mean, so it gets
    1/scale^2 of the block's delta, times the sigmoid's derivative f'(u) = a(1-a).

    Parameters
    ----------
    A : ndarray, shape (m, rows, cols, maps)
        The convolution layer's maps.
    D : ndarray, shape (m, rows/scale, cols/scale, maps)
        The subsampling layer's delta.
    scale : int

    Returns
    -------
    ndarray, shape (m, rows, cols, maps)
    """
    m, rows, cols, maps = D.shape
    expanded = np.broadcast_to(D[:, :, None, :, None, :], (m, rows, scale, cols, scale, maps))
    expanded = expanded.reshape(m, rows * scale, cols * scale, maps)
    return A * (1 - A) * (expanded / scale ** 2)


# --- feature vector -------------------------------------------------------------

def maps_to_fv(A):
    """Concatenate the last layer's maps into the feature vector (cnnff.m, end).

    ``fv = [reshape(a{1}, rows*cols, m); reshape(a{2}, ...); ...]``, column-major.

    Parameters
    ----------
    A : ndarray, shape (m, rows, cols, maps)

    Returns
    -------
    ndarray, shape (maps * rows * cols, m)
    """
    m = A.shape[0]
    return A.transpose(3, 2, 1, 0).reshape(-1, m)


def fv_to_maps(fv, rows, cols):
    """Reshape a feature-vector delta back into maps (cnnbp.m, 'reshape feature vector deltas').

    The inverse of ``maps_to_fv``: ``d{j} = reshape(fvd(block j, :), rows, cols, m)``.

    Parameters
    ----------
    fv : ndarray, shape (maps * rows * cols, m)

    Returns
    -------
    ndarray, shape (m, rows, cols, maps)
    """
    m = fv.shape[1]
    return np.ascontiguousarray(fv.reshape(-1, cols, rows, m).transpose(3, 2, 1, 0))
