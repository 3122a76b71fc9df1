"""The stacked layout: every map of a layer in one contiguous array.

The public net (Matlab's layout) keeps one array per map, ``a[j]`` of shape
(rows, cols, m), and one kernel per pair of maps, ``k[i][j]`` of shape
(ks, ks).  The numerical code works on the same net with the maps of a layer
stacked, so that one matrix product covers all maps at once:

==========  ============================  ================================
field       public net (Matlab)           stacked net
==========  ============================  ================================
a, d        list of (rows, cols, m)       (maps, rows, cols, m)
k, dk       list [i] of list [j] (ks, ks) (inmaps, outmaps, ks, ks)
b, db       list of float                 (maps,)
others      as they are                   as they are (float64 copies)
==========  ============================  ================================

With the batch as the last axis, ``a{j}`` of the public net is simply
``a[j]`` of the stacked array, a view.  ``stack_net`` copies a public net into
the stacked layout; ``unstack_net`` turns a stacked net back into a public
one whose per-map arrays are views into the stacked arrays (no copy).
Fields whose names start with ``_`` are the numerical code's scratch (the
windows of the last forward pass, kept for the kernel gradient) and are not
part of the public net.
"""

import copy

import numpy as np

from .checks import (as_array, as_float, check_keys, check_layers, check_weights, image_shape,
                     map_sizes, missing_key)
from .netfields import ARRAY_FIELDS, BIAS_FIELDS, KERNEL_FIELDS, MAP_FIELDS



def _cells(value, name):
    """A Matlab cell as a Python list (a 1-D object array is accepted too)."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        value = list(value.ravel())
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list (a Matlab cell), got {type(value).__name__}")
    if len(value) == 0:
        raise ValueError(f"{name} is empty")
    return list(value)


def stack_maps(maps, name):
    """Stack a list of (rows, cols, m) maps into one (nmaps, rows, cols, m) array."""
    arrays = []
    for j, a in enumerate(_cells(maps, name)):
        a = as_array(a, f"{name}[{j}]")
        if a.ndim == 2:          # Matlab drops the trailing 1 of a 1-sample batch
            a = a[:, :, np.newaxis]
        if a.ndim != 3 or (arrays and a.shape != arrays[0].shape):
            raise ValueError(f"{name}[{j}] must be (rows, cols, m) like {name}[0], got {a.shape}")
        arrays.append(a)
    return np.stack(arrays)


def stack_kernels(kernels, name):
    """Stack nested lists k[i][j] of (ks, ks) kernels into (inmaps, outmaps, ks, ks).

    Every row must hold as many kernels as the first, every kernel the first's
    shape; whether they fit the layer is ``checks.check_weights``'s question.
    """
    rows = [_cells(row, f"{name}[{i}]") for i, row in enumerate(_cells(kernels, name))]
    outmaps, shape = len(rows[0]), np.shape(rows[0][0])
    stacked = []
    for i, row in enumerate(rows):
        if len(row) != outmaps:
            raise ValueError(
                f"{name}[{i}] must have {outmaps} kernels (one per output map), got {len(row)}")
        stacked.append([as_array(kernel, f"{name}[{i}][{j}]", ndim=2, shape=shape)
                        for j, kernel in enumerate(row)])
    return np.array(stacked, dtype=np.float64)


def stack_biases(biases, name):
    """A list of scalar biases as a (maps,) array."""
    return np.array([as_float(v, f"{name}[{j}]") for j, v in enumerate(_cells(biases, name))])


def _stack_layer(layer, spec, index):
    """One layer of ``stack_net``: its spec (ints) and its stacked fields."""
    out = dict(spec)
    for key, value in layer.items():
        name = f"net['layers'][{index}]['{key}']"
        if key in spec:
            continue
        if key in MAP_FIELDS:
            out[key] = stack_maps(value, name)
        elif key in KERNEL_FIELDS:
            out[key] = stack_kernels(value, name)
        elif key in BIAS_FIELDS:
            out[key] = stack_biases(value, name)
        else:
            out[key] = copy.deepcopy(value)
    return out


def stack_net(net):
    """Copy a public net into the stacked layout.

    Only the layer specs are required here; every other known field is
    stacked if present.  The routines check the fields they need.

    Parameters
    ----------
    net : dict
        A net in Matlab's layout (see the module docstring).

    Returns
    -------
    dict
        The same fields in the stacked layout, all arrays fresh float64 copies.
    """
    if not isinstance(net, dict):
        raise TypeError(f"net must be a dict, got {type(net).__name__}")
    if "layers" not in net:
        raise ValueError(f"net has no 'layers' field{missing_key(net, 'layers', 'net')}")
    specs = check_layers(net["layers"])
    check_keys(net, "net")
    stacked = {}
    for key, value in net.items():
        if key == "layers":
            stacked[key] = [_stack_layer(layer, spec, index)
                            for index, (layer, spec) in enumerate(zip(value, specs))]
        elif key in ARRAY_FIELDS:
            stacked[key] = as_array(value, f"net['{key}']", ndim=2)
        elif key == "L":
            stacked[key] = as_float(value, "net['L']")
        elif key == "rL":
            stacked[key] = as_array(value, "net['rL']").ravel()
        else:
            stacked[key] = copy.deepcopy(value)
    return stacked


def stack_for_input(net, x):
    """``stack_net``, then check that the net's weights fit images like ``x``.

    Parameters
    ----------
    net : dict
        A public net.
    x : ndarray, shape (rows, cols, m) or (rows, cols, channels, m)
        A checked batch (``checks.check_x``).

    Returns
    -------
    dict
        The net in the stacked layout.
    """
    stacked = stack_net(net)
    check_weights(stacked, map_sizes(stacked["layers"], *image_shape(x)))
    return stacked


def unstack_net(stacked):
    """Turn a stacked net into a public net (per-map views, no copies).

    Parameters
    ----------
    stacked : dict
        A net in the stacked layout, as ``stack_net`` or the routines make it.

    Returns
    -------
    dict
        The net in Matlab's layout: ``a[j]`` (rows, cols, m), ``k[i][j]``
        (ks, ks), ``b[j]`` float, and so on.
    """
    net = {}
    for key, value in stacked.items():
        if key == "layers":
            layers = []
            for layer in value:
                out = {}
                for field, item in layer.items():
                    if field.startswith("_"):
                        continue
                    if field in MAP_FIELDS:
                        out[field] = list(item)
                    elif field in KERNEL_FIELDS:
                        out[field] = [list(row) for row in item]
                    elif field in BIAS_FIELDS:
                        out[field] = [float(v) for v in item]
                    else:
                        out[field] = item
                layers.append(out)
            net["layers"] = layers
        else:
            net[key] = value
    return net
