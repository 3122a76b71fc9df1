"""cnnsetup: initial kernels, biases and output weights (CNN/cnnsetup.m)."""

import copy
import os
import sys

import numpy as np

from .checks import as_rng, check_x, check_y
from .netlayout import (SIZE, check_dropout, check_keys, check_net, check_output, image_shape,
                        map_sizes)


def cnnsetup(net: dict, x: np.ndarray, y: np.ndarray,
             rng: np.random.Generator | int | None = None) -> dict:
    """Initialise a net for inputs like ``x`` and labels like ``y``.

    Kernels of a 'c' layer are drawn uniformly from
    ``(rand(ks) - 0.5) * 2 * sqrt(6 / (fan_in + fan_out))`` with
    ``fan_in = inputmaps * ks^2`` and ``fan_out = outputmaps * ks^2`` (the
    first 'c' layer's inputmaps are the channels of x, 1 for a 3-D x); the
    output weights likewise with ``sqrt(6 / (onum + fvnum))``; every bias 0.
    A fully connected 'f' layer (an opt-in) gets ``W`` (size, inputs) by the
    output weights' rule, ``sqrt(6 / (size + inputs))`` with inputs the
    values of the layer below (``fvnum`` for the first), and ``b`` zeros
    (size, 1); ``ffW`` then reads the last 'f' layer's units.
    Python cannot draw Matlab's random numbers: to reproduce a Matlab run,
    load the net Matlab set up (see ``matlab_reference/``).

    Parameters
    ----------
    net : dict
        ``{"layers": [{"type": "i"}, {"type": "c", "outputmaps": 6,
        "kernelsize": 5}, {"type": "s", "scale": 2}, ...]}``.
    x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
        Only its image size and channel count are used; a 4-D x has channels
        (an opt-in; ``x.ndim == 4``), a 3-D x one.
    y : ndarray, shape (onum, m)
        Its number of rows (onum) is used; its columns must be the m samples of ``x``.
    rng : numpy.random.Generator or int or None
        Source of the random initial weights.

    Returns
    -------
    dict
        A new net: the layer specs plus ``k[i][j]`` (ks, ks) and ``b[j]`` for
        'c' layers, ``b[j] = 0`` for 's' layers, ``W`` and ``b`` for 'f'
        layers, ``ffW`` (onum, fvnum or the last 'f' layer's size) and
        ``ffb`` (onum, 1).  The given net is not modified.
    """
    specs = check_net(net)
    check_keys(net, "net")
    x = check_x(x, y)
    y = check_y(y, x.shape[-1], output=check_output(net))
    check_output(net, y.shape[0])
    check_dropout(net)                                           # an opt-in's value, named early
    rng = as_rng(rng)
    sizes = map_sizes(specs, *image_shape(x))
    _check_net_fits_in_memory(specs, sizes, y.shape[0])

    layers = []
    inputmaps = sizes[0][2]                                      # 1, or x's channels
    for index, (layer, spec) in enumerate(zip(net["layers"], specs)):
        out = copy.deepcopy(layer)
        if spec["type"] == "f":
            # as ffW below: W = (rand(size, inputs) - 0.5) * 2 * sqrt(6 / (size + inputs))
            size, inputs = spec[SIZE], int(np.prod(sizes[index - 1]))
            out["W"] = (rng.random((size, inputs)) - 0.5) * 2 * np.sqrt(6 / (size + inputs))
            out["b"] = np.zeros((size, 1))
        elif spec["type"] == "s":                                   # cnnsetup.m: b{j} = 0
            out["b"] = [0.0] * inputmaps
        elif spec["type"] == "c":
            ks, outputmaps = spec["kernelsize"], spec["outputmaps"]
            fan_out = outputmaps * ks ** 2
            fan_in = inputmaps * ks ** 2
            bound = np.sqrt(6 / (fan_in + fan_out))
            k = [[None] * outputmaps for _ in range(inputmaps)]
            for j in range(outputmaps):                          # same draw order as the .m loops
                for i in range(inputmaps):
                    k[i][j] = (rng.random((ks, ks)) - 0.5) * 2 * bound
            out["k"] = k
            out["b"] = [0.0] * outputmaps
            inputmaps = outputmaps
        layers.append(out)

    rows, cols, maps = sizes[-1]
    fvnum = rows * cols * maps
    onum = y.shape[0]
    new = copy.deepcopy({key: value for key, value in net.items() if key != "layers"})
    new["layers"] = layers
    new["ffb"] = np.zeros((onum, 1))
    new["ffW"] = (rng.random((onum, fvnum)) - 0.5) * 2 * np.sqrt(6 / (onum + fvnum))
    return new


def _check_net_fits_in_memory(specs, sizes, onum):
    """Refuse an architecture whose weights alone would not fit in this machine's memory.

    Without this check, ``outputmaps = 1e9`` sets Python looping over 1e9
    kernels until memory runs out.  The estimate counts the kernels (values
    and array objects) and ``ffW``; machines that do not report their memory
    are not checked.
    """
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return
    rows, cols, maps = sizes[-1]
    needs = {f"ffW ({onum} x {rows * cols * maps})": 8 * onum * rows * cols * maps}
    for index, (spec, below, here) in enumerate(zip(specs[1:], sizes, sizes[1:]), start=2):
        if spec["type"] == "f":
            needs[f"W of layer {index}"] = 8 * here[2] * below[0] * below[1] * below[2]
        if spec["type"] == "c":
            # each k{i}{j} is a numpy array of its own in the Matlab layout's list of lists
            kernel = sys.getsizeof(np.empty((spec["kernelsize"],) * 2))
            needs[f"the kernels of layer {index}"] = below[2] * here[2] * kernel
    total = sum(needs.values())
    if total > memory:
        largest = max(needs, key=needs.get)
        raise ValueError(
            f"the net's weights would need {total / 2**30:.1f} GiB, more than this machine's "
            f"{memory / 2**30:.1f} GiB of memory; the largest part, {largest}, takes "
            f"{needs[largest] / 2**30:.1f} GiB: check 'outputmaps' and 'kernelsize'")
