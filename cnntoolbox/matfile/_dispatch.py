"""Format dispatch: read a file's version from its header and hand it to the reader or writer of that format.

The public face is :mod:`cnntoolbox.matfile`; its docstring gives the mapping of values.
"""

import errno
import os

from ..files import atomic
from . import _child, _isolate, _mat5, _mat73_write
from ._values import MatFileError, canonical, check_name
from .netshape import OPTS_FIELDS, as_net, as_opts, is_net, toolbox_struct

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

#: Folders whose files are the kernel's: their sizes say nothing of what a read returns.
_KERNEL_FOLDERS = ("/proc", "/sys") if os.name == "posix" else ()

def loadmat(path: str | os.PathLike[str], names: str | list[str] | None = None) -> dict:
    """Read the variables of a MAT-file of any version.

    Parameters
    ----------
    path : str or os.PathLike
    names : str or list of str, optional
        Read only these variables; each must be in the file.

    Returns
    -------
    dict
        Variable name -> Python value, mapped as the module docstring says,
        with nets in the port's layout.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    MatFileError
        (a ``ValueError``) If ``path`` is not a regular file (a device, a
        FIFO, a folder, a file of ``/proc`` or ``/sys``: refused before any
        read), if the reader crashed, ran out of time or memory on it (it
        runs in a limited child process, see ``_isolate``), if the file is not a MAT-file, is damaged or
        truncated, declares more data than it holds or more than the memory
        budget (max(256 MiB, 1024 x its size), zlib's best ratio) allows,
        holds more than 2^19 cell or struct elements, reaches outside itself
        (v7.3 external storage or links, virtual datasets, filters other than
        deflate, shuffle and fletcher32),
        lacks a requested variable, or holds a function handle or MATLAB
        object where a value was asked for.  Nothing in a file is ever run;
        ``fuzz/fuzz_matfile.py`` checks all this on damaged files.
    """
    if isinstance(names, str):
        names = [names]
    _check_path(path)
    path = os.fspath(path)
    check_readable(path)
    version = _version(path)
    variables, all_names = _isolate.read(path, version, names)
    missing = [name for name in names or () if name not in variables]
    if missing:
        raise MatFileError(f"{path}: no variable {missing[0]!r} (it holds "
                           f"{', '.join(all_names or ()) or 'no variables'})")
    try:
        return {name: _reconcile(value, name) for name, value in variables.items()}
    except RecursionError:
        raise MatFileError(f"{path}: cells or structs nested too deeply") from None


def check_readable(path):
    """Refuse, before any read, a file that is not a regular file of a MAT-file's size.

    A device (``/dev/zero`` never ends), a FIFO (a read blocks forever), a
    folder, or a file of the kernel's ``/proc`` or ``/sys`` (regular files
    whose size says nothing of what a read returns) is not a MAT-file.

    Raises
    ------
    FileNotFoundError
        If nothing is at ``path`` (or a link there points nowhere).
    MatFileError
        For anything but a non-empty regular file outside ``/proc`` and ``/sys``.
    """
    info = os.stat(path)
    kind = atomic.file_kind(info.st_mode)
    if kind:
        raise MatFileError(f"{path}: is {kind}, not a MAT-file")
    real = os.path.realpath(path)
    if any(real == top or real.startswith(top + os.sep) for top in _KERNEL_FOLDERS):
        raise MatFileError(f"{path}: is a file of the kernel's {real.split(os.sep)[1]} "
                           "folder, not a MAT-file")
    if info.st_size == 0:
        raise MatFileError(f"{path}: is empty, not a MAT-file")


def savemat(path: str | os.PathLike[str], variables: dict, format: str = "7") -> None:
    """Write variables to a MAT-file that MATLAB loads back to the same values.

    The file is written through :func:`cnntoolbox.files.atomic.write`: to a
    temporary file in the same folder, synced, read back (its variable
    names) and only then renamed into place, so a failed or interrupted save
    leaves any existing file untouched and never a partial one.  A symbolic
    link is followed (its target is written).

    Parameters
    ----------
    path : str or os.PathLike
    variables : dict
        Variable name -> value (a net, opts, arrays, ...), mapped as the
        module docstring says.  Names must be valid MATLAB names.
    format : {"7", "7.3"}
        "7": compressed v7 through scipy.io; "7.3": HDF5 through h5py
        (for variables over 2 GB, or for HDF5 tools; the file is built in
        memory first, so it needs its size in free memory).

    Raises
    ------
    ValueError
        For an unknown format, a bad variable or field name, or a value
        MATLAB cannot hold (the message names it, e.g. ``net.layers{2}.k{1}{3}``).
    TypeError
        For a Python object with no MATLAB counterpart (None, bytes, ...).
    OSError
        If the file cannot be written (no folder, disk or quota full, the
        read-back differs); the message names the file, which is kept as it was.
    KeyboardInterrupt
        After the save is complete, if Ctrl-C was pressed during it.
    """
    writers = {"7": _write_v7, "7.3": _mat73_write.write}
    if format not in writers:
        raise ValueError(f"format must be '7' or '7.3', got {format!r}")
    if not isinstance(variables, dict):
        raise TypeError(f"variables must be a dict of name -> value, got "
                        f"{type(variables).__name__}")
    values = {}
    for name, value in variables.items():
        check_name(name, "variable name")
        try:
            values[name] = canonical(value, name)
        except RecursionError:
            raise ValueError(f"{name}: lists or dicts nested too deeply to save (or one that "
                             "contains itself)") from None
        if is_net(value):                    # the toolbox's field order and column of layers
            values[name] = toolbox_struct(values[name])
    _check_path(path)
    path = os.fspath(path)

    def produce(fileobj):
        writers[format](fileobj, values)

    def verify(temp):
        try:
            found = _child.variable_names(temp, _version(temp))
        except Exception as error:  # noqa: BLE001 - h5py and scipy on a damaged file
            raise OSError(errno.EIO, f"the file read back is damaged ({error})") from None
        if sorted(found) != sorted(values):          # HDF5 lists names sorted
            raise OSError(errno.EIO, f"the file read back holds the variables {found}, "
                          f"not {list(values)}")

    atomic.write(path, produce, verify)


def _check_path(path):
    """A file name must be a str or os.PathLike (an int would be read as a file descriptor)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file name (str or os.PathLike), got {type(path).__name__}")


def _write_v7(fileobj, values):
    _mat5.write(fileobj, values)


def _version(path):
    """'7.3' or '5' (v6/v7) from the header bytes; '4' when there is no v5 header."""
    with open(path, "rb") as fileobj:
        head = fileobj.read(128)
        if head[:8] == _HDF5_SIGNATURE:        # Octave's save -hdf5 (it cannot write v7.3)
            raise MatFileError(f"{path}: an HDF5 file without MATLAB's header, not a "
                               "MAT-file; Octave's 'save -hdf5' writes such files: in Octave, "
                               "save it with -v7 (save -v7 net.mat cnn), which loadmat reads")
        if len(head) < 128 or head[126:128] not in (b"IM", b"MI"):
            return "4"
        order = "little" if head[126:128] == b"IM" else "big"
        version = int.from_bytes(head[124:126], order)
        if version == 0x0200:
            fileobj.seek(512)
            if fileobj.read(8) != _HDF5_SIGNATURE:
                raise MatFileError(f"{path}: a v7.3 MAT-file header without HDF5 data "
                                   "(truncated or damaged)")
            return "7.3"
        if version != 0x0100:
            raise MatFileError(f"{path}: unknown MAT-file version {version:#06x}")
        return "5"


def _reconcile(value, where):
    """Apply the net and opts reconciliation to every struct in a loaded value."""
    if isinstance(value, list):
        return [_reconcile(item, f"{where}{{{i + 1}}}") for i, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    value = {key: _reconcile(item, f"{where}.{key}") for key, item in value.items()}
    if is_net(value):
        try:
            return as_net(value, where)
        except (ValueError, TypeError):
            return value           # has 'layers' but is no toolbox net: generic mapping only
    if any(field in value for field in OPTS_FIELDS):
        return as_opts(value)
    return value
