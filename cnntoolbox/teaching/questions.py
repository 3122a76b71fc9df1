"""The post's slips and readers' questions, answered with the example's numbers.

Each function takes the computed :class:`~cnntoolbox.teaching.worked.Example`
(or one of its states) and returns the numbers the walkthrough shows.
"""

import math

import numpy as np
from scipy.signal import correlate

from .. import literal
from ..cnnnumgradcheck import EPSILON
from . import hand
from .hand import C2, S1, S2


def identities(real):
    """The numerical identities behind rot180, flipall, expand / scale^2 and o(1 - o).

    Parameters
    ----------
    real : cnntoolbox.teaching.worked.State
        The example's real backward pass.

    Returns
    -------
    dict
        Each identity's two sides (and what the formula without the trick gives).
    """
    layers = real.net["layers"]
    k = np.asarray(layers[C2]["k"][0][0])
    a_s1 = layers[S1]["a"][0][:, :, 0]
    d_c2 = real.package["d_c2"]
    out = {}
    # convn flips its kernel: a 'valid' convolution is a correlation with rot180(k)
    out["convn_is_corr_rot180"] = (literal.convn(a_s1, k, "valid"),
                                   correlate(a_s1, literal.rot180(k), mode="valid"))
    # the forward map a_s1 -> conv(a_s1, k, 'valid') as a matrix V; V' d == full conv with rot180(k)
    V = hand.conv_matrix(k, a_s1.shape)
    out["transpose"] = ((V.T @ d_c2.ravel()).reshape(a_s1.shape),
                        literal.convn(d_c2, literal.rot180(k), "full"),
                        literal.convn(d_c2, k, "full"), V.shape)
    # dk: convn(flipall(a), d, 'valid') == rot180 of the correlation of a with d == the chain rule
    a3, d3 = layers[S1]["a"][0], real.bp["layers"][C2]["d"][0]
    out["flipall"] = (literal.convn(literal.flipall(a3), d3, "valid")[:, :, 0],
                      literal.rot180(correlate(a_s1, d_c2, mode="valid")),
                      real.hand["dk_c2"],
                      literal.convn(a3, d3, "valid")[:, :, 0])
    # expand / scale^2: the pooling matrix holds 1/scale^2 where a C2 value enters its S2 mean
    a_c2 = layers[C2]["a"][0][:, :, 0]
    P = hand.pool_matrix(layers[S2]["scale"], a_c2.shape)
    out["pool_slope"] = float(P[0, 0])
    # o(1 - o) against a central difference of the sigmoid at the real u^o
    u_o = real.net["ffW"] @ real.net["fv"][:, 0] + real.net["ffb"][:, 0]
    o = literal.sigm(u_o)
    h = EPSILON
    out["sigmoid"] = (u_o, o * (1 - o), (literal.sigm(u_o + h) - literal.sigm(u_o - h)) / (2 * h))
    return out


def scale_question(real):
    """The C2 bias gradient with and without the division by scale^2."""
    scale = real.net["layers"][S2]["scale"]
    with_division = real.package["db_c2"]
    without = float(np.sum(real.package["fprime_c2"]
                           * literal.expand(real.package["d_s2"], [scale, scale])))
    return {"with": with_division, "without": without, "ratio": without / with_division,
            "scale2": scale ** 2}


def loss_question(state):
    """The toolbox's loss next to the root-mean-square error the post names.

    Also the derivatives of both with respect to ``ffb(1)``: cnnbp's
    ``dffb(1)`` (checked by ``cnnnumgradcheck``) for ``net.L``, and
    ``od(1) / (onum * RMS)`` for the RMS error (m = 1).
    """
    e = state.shown["e"]
    rms = math.sqrt(float(np.mean(e ** 2)))
    return {"L": state.shown["L"], "rms": rms, "half_sse": np.sum(e ** 2) / 2,
            "dL": state.shown["dffb"][0],
            "dRMS": float(state.shown["od"][0]) / (e.size * rms)}


def fvd_slip(state):
    """The right element formula for fvd next to the post's, which repeats od(k).

    The post writes the weights as a 4x3 matrix w (w = ffW') and
    ``fvd(k) = w_k1 od(k) + w_k2 od(k) + w_k3 od(k)``; there is no od(4).
    """
    W, od = state.net["ffW"], state.shown["od"]
    if od.dtype == object:                      # exact values: the weights as exact Fractions too
        W = hand.exactly(W)
    onum, fvnum = W.shape
    right = [sum(W[i, k] * od[i] for i in range(onum)) for k in range(fvnum)]
    slip = [sum(W[i, k] for i in range(onum)) * od[k] if k < onum else None for k in range(fvnum)]
    return {"right": right, "slip": slip}


def hidden_columns(ex):
    """The columns of "what the 0.5 hides": label, outputs, e, f', od, C2's f' range, L.

    Returns
    -------
    list of (str, dict)
        Column name -> values ``y``, ``o``, ``e``, ``fprime``, ``od``,
        ``c2_fprime`` (min, max) and ``L``.
    """
    def column(net, y):
        o = net["o"][:, 0]
        a = net["layers"][C2]["a"][0]
        f = a * (1 - a)
        return {"y": y[:, 0], "o": o, "e": net["e"][:, 0], "fprime": o * (1 - o),
                "od": net["od"][:, 0], "c2_fprime": (float(f.min()), float(f.max())),
                "L": float(net["L"])}

    zeros = np.zeros_like(ex.real.y)
    return [("post", column(ex.post.bp, ex.post.y)),
            ("o = e", column(ex.columns["o = e"], zeros)),
            ("real", column(ex.real.bp, ex.real.y)),
            ("trained", column(ex.columns["trained"], ex.real.y))]


def reach(real):
    """How many C2 positions one S1 value reaches in the forward pass: (fewest, most).

    Counted from the valid convolution's matrix ``V`` (built from ``literal.convn``
    with a kernel of ones): a column's nonzeros are the C2 positions its S1 value enters.
    """
    layers = real.net["layers"]
    k = np.ones_like(layers[C2]["k"][0][0])
    counts = np.count_nonzero(hand.conv_matrix(k, layers[S1]["a"][0][:, :, 0].shape), axis=0)
    return int(counts.min()), int(counts.max())


def slowdown(ex):
    """How much e and f' each fell at the outputs over the training steps (largest |value|)."""
    before, after = ex.real.bp, ex.columns["trained"]

    def fprime(net):
        return net["o"] * (1 - net["o"])

    e_factor = float(np.max(np.abs(before["e"])) / np.max(np.abs(after["e"])))
    f_factor = float(np.max(fprime(before)) / np.max(fprime(after)))
    return {"e": e_factor, "fprime": f_factor}
