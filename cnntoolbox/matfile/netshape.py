"""Bring a net loaded from MATLAB (or built in Python) to the shapes of the port's net contract.

MATLAB drops trailing singleton dimensions and stores every number as a
1x1 double, so a net that went through a .mat file differs from the port's
layout in form only: ``a{j}`` of a one-sample batch is 2-D, ``ffb`` of a
one-output net is a scalar, ``rL`` is a 1xN row, and a 1x1 kernel is a
number.  :func:`as_net` undoes all of that; on a net already in the
contract it changes nothing (it returns the same arrays).  A ``single``
field stays float32 (a 1x1 ``single`` bias a NumPy float32 scalar), so a
float32 net is saved back as ``single``.
"""

import numpy as np

from ..netlayout import (BIAS_FIELDS, COLUMN_FIELDS, FULL_FIELDS, KERNEL_FIELDS, LAYER_NUMBERS,
                         MAP_FIELDS, MATRIX_FIELDS, OPTS_FIELDS, TOOLBOX_ORDER, as_array, as_cell,
                         as_float)


def is_net(value):
    """Whether ``value`` looks like a toolbox net: a dict whose 'layers' is a list of dicts."""
    return (isinstance(value, dict) and isinstance(value.get("layers"), list)
            and all(isinstance(layer, dict) for layer in value["layers"]))


def as_net(net: dict, name: str = "net") -> dict:
    """Return ``net`` with every toolbox field in the shape of the port's contract.

    Parameters
    ----------
    net : dict
        A net as MATLAB saved it (through :func:`cnntoolbox.matfile.loadmat`'s
        generic mapping) or as the port made it.
    name : str
        How error messages name the net.

    Returns
    -------
    dict
        A new dict (the input is not modified): ``layers`` a list of dicts
        with ``type`` str; ``a``/``d`` lists of (rows, cols, m) float64
        (or float32, MATLAB's single) arrays; ``k``/``dk`` lists [i][j] of
        (ks, ks) arrays; ``b``/``db`` lists of floats (float32 scalars for
        single; an 'f' layer's ``W``, ``b``, ``a``, ``d``, ``dW``, ``db``,
        ``vW``, ``vb`` 2-D arrays); ``outputmaps``/``kernelsize``/
        ``scale``/``size``, ``L`` floats; ``fv``, ``fvd``, ``o``, ``e``, ``od``, ``ffW``, ``dffW`` 2-D;
        ``ffb``, ``dffb`` (onum, 1); ``rL`` 1-D.  Other fields are kept as they are.

    Raises
    ------
    ValueError
        Naming the field (MATLAB style, e.g. ``net.layers{2}.k{1}{3}``) whose
        array cannot take the contract's shape, or when ``net`` is no net.
    TypeError
        Naming the field that holds the wrong kind of value (a string where a
        number belongs, a number where a cell belongs).
    """
    if not is_net(net):
        raise ValueError(f"{name}: not a toolbox net (a struct whose 'layers' is a cell "
                         "of structs)")
    out = dict(net)
    out["layers"] = [_layer(layer, f"{name}.layers{{{l + 1}}}")
                     for l, layer in enumerate(net["layers"])]
    for field in MATRIX_FIELDS:
        if field in out:
            out[field] = _array(out[field], 2, f"{name}.{field}")
    for field in COLUMN_FIELDS:
        if field in out:
            out[field] = _array(out[field], 2, f"{name}.{field}").reshape(-1, 1)
    if "L" in out:
        out["L"] = as_float(out["L"], f"{name}.L", finite=False)
    if "rL" in out:
        out["rL"] = _array(out["rL"], None, f"{name}.rL").reshape(-1)
    return out


def toolbox_struct(net: dict) -> dict:
    """The net as the toolbox's struct: its fields in the original's order, ``layers`` a column.

    The fields before the first one a routine creates (those the user
    makes: ``layers``; a layer's ``type``, ``outputmaps``, ``kernelsize``,
    ``scale``) stay first; then come the fields the routines create, in the
    order of :data:`cnntoolbox.netlayout.TOOLBOX_ORDER` (an 'f' layer's in
    that of ``FULL_FIELDS``); then any other field, in its order.  ``layers`` becomes an (n, 1) object array, which a
    MAT-file writer stores as the n x 1 cell that ``cnn.layers = {...}``
    makes in the toolbox's example.

    Parameters
    ----------
    net : dict
        A net whose ``layers`` is a list (or an object array) of dicts.

    Returns
    -------
    dict
        A new dict holding the same values (not copied).
    """
    out = _ordered(net, TOOLBOX_ORDER[0])
    layers = list(np.asarray(net["layers"], dtype=object).ravel()
                  if isinstance(net["layers"], np.ndarray) else net["layers"])
    column = np.empty((len(layers), 1), dtype=object)
    for index, layer in enumerate(layers):
        column[index, 0] = _ordered(layer, FULL_FIELDS if layer.get("type") == "f"
                                    else TOOLBOX_ORDER[1])
    out["layers"] = column
    return out


def _ordered(struct, made):
    """``struct`` with the fields of ``made`` in its order, after the fields that precede them."""
    keys = list(struct)
    first = next((i for i, key in enumerate(keys) if key in made), len(keys))
    order = (keys[:first] + [key for key in made if key in struct]
             + [key for key in keys[first:] if key not in made])
    return {key: struct[key] for key in order}


def as_opts(opts):
    """Return the options struct with ``alpha``, ``batchsize``, ``numepochs`` as Python numbers."""
    out = dict(opts)
    for field in OPTS_FIELDS:
        value = out.get(field)
        if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "biuf":
            out[field] = value.item()
    return out


def _layer(layer, where):
    """One layer dict in the contract's shapes."""
    if not isinstance(layer, dict):
        raise TypeError(f"{where}: a layer must be a struct")
    out = dict(layer)
    if "type" in out and not isinstance(out["type"], str):
        raise TypeError(f"{where}.type: must be a string, got {type(out['type']).__name__}")
    for field in LAYER_NUMBERS:
        if field in out:
            out[field] = as_float(out[field], f"{where}.{field}", finite=False)
    if out.get("type") == "f":                 # an opt-in: every field a matrix, none per map
        for field in FULL_FIELDS:
            if field in out:
                out[field] = _array(out[field], 2, f"{where}.{field}")
        return out
    for field in BIAS_FIELDS:
        if field in out:
            cell = as_cell(out[field], f"{where}.{field}", empty=True)
            out[field] = [_bias(value, f"{where}.{field}{{{j + 1}}}")
                          for j, value in enumerate(cell)]
    for field in MAP_FIELDS:
        if field in out:
            cell = as_cell(out[field], f"{where}.{field}", empty=True)
            out[field] = [_array(value, 3, f"{where}.{field}{{{j + 1}}}")
                          for j, value in enumerate(cell)]
    for field in KERNEL_FIELDS:
        if field in out:
            rows = [as_cell(row, f"{where}.{field}{{{i + 1}}}", empty=True)
                    for i, row in enumerate(as_cell(out[field], f"{where}.{field}", empty=True))]
            out[field] = [[_array(value, 2, f"{where}.{field}{{{i + 1}}}{{{j + 1}}}")
                           for j, value in enumerate(row)] for i, row in enumerate(rows)]
    return out


def _bias(value, where):
    """One bias: a float, or a float32 scalar when it is ``single`` (an array or a scalar)."""
    number = as_float(value, where, finite=False)
    single = isinstance(value, (np.ndarray, np.generic)) and np.asarray(value).dtype == np.float32
    return np.float32(number) if single else number


def _array(value, ndim, where):
    """A float64 (or float32) array with ``ndim`` dimensions.

    Trailing singletons are added back; ``ndim`` None: any.
    """
    arr = as_array(value, where, copy=False, finite=False)
    if ndim is None:
        return arr
    if arr.ndim > ndim:
        raise ValueError(f"{where}: must have {ndim} dimensions, got shape {arr.shape}")
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    if arr.ndim == 1:
        raise ValueError(f"{where}: must have {ndim} dimensions, got shape {arr.shape}")
    return arr.reshape(arr.shape + (1,) * (ndim - arr.ndim))
