"""Load and save MATLAB .mat files (v4/v6/v7 and v7.3), with nets in the port's layout.

Round trip::

    from cnntoolbox.matfile import loadmat, savemat
    savemat("cnn.mat", {"cnn": net}, format="7.3")     # MATLAB: load('cnn.mat'); cnn
    net = loadmat("cnn.mat")["cnn"]

The format of a file is read from its header bytes, never from its name:
v4/v6/v7 go through ``scipy.io`` (``mat_dtype=True``, so doubles MATLAB
stored as small integers come back as float64), v7.3 through ``h5py``.

Values map the same way for every format:

* struct -> ``dict`` (field order kept); struct array -> ``list`` of dicts
* cell -> ``list`` (a cell with more than one non-singleton dimension ->
  nested lists, ``c{i,j}`` = ``value[i-1][j-1]``)
* char -> ``str`` (several rows: 1-D ``ndarray`` of str)
* 1x1 double -> ``float`` (complex -> ``complex``), 1x1 logical -> ``bool``
* any other numeric or logical array -> ``ndarray`` with MATLAB's shape
  (at least 2-D) and class; sparse -> ``scipy.sparse.csc_matrix``

Any struct that is a toolbox net (has a ``layers`` cell of structs) is then
passed through :func:`cnntoolbox.matfile.netshape.as_net`, which restores the port's
shapes (``a{j}`` (rows, cols, m) also for m == 1, ``ffb`` (onum, 1), ``rL``
1-D, ...); a struct with ``layers`` whose fields do not fit a net keeps the
generic mapping.  Any struct with ``alpha``/``batchsize``/``numepochs``
gets those as Python numbers.

Saving maps back: dict -> struct, list/tuple -> 1xN cell (so a list of
dicts is a cell of structs), str -> char, float/int -> double, bool ->
logical, ndarray -> its class with its shape (1-D -> 1xN).  A net is saved
as the toolbox's struct (:func:`netshape.toolbox_struct`): ``layers`` an n x 1
cell, the fields in the order the original's routines create them.  Function
handles and MATLAB objects cannot be read (:class:`MatFileError`).

Inside, in the shape of ``scipy.io.matlab``: ``_dispatch`` (this face's
``loadmat``/``savemat``: the format from the header), ``_isolate``,
``_boot``, ``_child`` and ``_wire`` (every file is parsed in a child
process under OS limits, which hands back only data),
``_values`` (the value mapping and limits shared by every format),
``_mat5`` and ``_mat5_scan`` (v4/v6/v7 through ``scipy.io``, and the check
of a v5 file's declared sizes against its bytes), ``_mat73_read`` and
``_mat73_write`` (v7.3, HDF5 in MATLAB's layout, through ``h5py``), and
``netshape`` (a loaded net brought to the port's shapes).
"""

from ._dispatch import loadmat, savemat
from ._values import MatFileError
from .netshape import as_net

__all__ = ["MatFileError", "as_net", "loadmat", "savemat"]
