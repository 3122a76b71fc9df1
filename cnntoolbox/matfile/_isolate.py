"""Parse an untrusted MAT-file in a child process with OS limits, and take back only data.

libhdf5 (and in places scipy) can be crashed, hung or made to allocate
without bound by a crafted file; no list of checks written here can keep
up with that.  So every load runs :mod:`._child` in a new interpreter:

* started isolated: ``python -I`` (no ``PYTHON*`` variables, no user
  site-packages, not the user's folder on ``sys.path``: a ``numpy.py``
  there is never imported), a clean environment (no ``HDF5_PLUGIN_PATH``,
  one BLAS thread), an empty working folder of its own, no stdin;
* limited before it imports anything (``_boot``): address space
  ``MEMORY_BASE`` + 2 x the memory budget, CPU time ``CPU_BASE`` + one
  second per ``CPU_BYTES`` of the budget, the size of what it writes, no
  core file; and the parent kills it after ``WALL_FACTOR`` x that CPU time
  + ``WALL_BASE`` seconds of wall time;
* its answer is data, never a pickle (``_wire``): the parent checks it
  against the limits before it allocates, so a child the file took over
  cannot run code in the parent or make it allocate past the budget.

A child that dies, runs out of time or memory becomes a ``MatFileError``
naming what happened.  Linux gives all of this; macOS has no usable
``RLIMIT_AS`` (memory is then unbounded in the child, the rest holds);
Windows has no ``resource`` module (only the wall-clock timeout holds).
The child runs with the user's rights: it could read or write what the
user can, if a file took it over.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from . import _wire
from ._values import MatFileError, memory_budget

#: Address space of the child beyond twice the budget: the interpreter, numpy, scipy, h5py.
MEMORY_BASE = 512 * 2 ** 20
#: CPU seconds of the child: this, plus one per ``CPU_BYTES`` of the memory budget.
CPU_BASE = 10
CPU_BYTES = 64 * 2 ** 20
#: Wall-clock seconds after which the child is killed: WALL_FACTOR x its CPU limit + WALL_BASE
#: (the machine may be busy: a child waiting for a core uses no CPU time).
WALL_FACTOR, WALL_BASE = 3, 10
#: Bytes of the answer beyond the memory budget: the tree of up to 2^19 cell or struct elements.
ANSWER_EXTRA = 128 * 2 ** 20

_BOOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot.py")
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_LIBRARY = {"7.3": "the HDF5 library", "5": "scipy.io", "4": "scipy.io"}


def read(path, version, names):
    """The variables of the MAT-file ``path`` (version ``version``), read in a limited child.

    Parameters
    ----------
    path : str
        As the caller named it (messages name it so).
    version : {"4", "5", "7.3"}
    names : list of str or None

    Returns
    -------
    values : dict
        Variable name -> value in the generic mapping of ``_values``.
    all_names : list of str or None
        Every variable in the file when one of ``names`` is missing.

    Raises
    ------
    MatFileError
        What the reader refused, or what became of the child (crashed, out of
        time or memory, a damaged answer), naming ``path``.
    """
    absolute = os.path.abspath(path)
    budget = memory_budget(os.path.getsize(absolute))
    cpu = CPU_BASE + budget // CPU_BYTES
    request = {"path": absolute, "version": version, "names": names, "budget": budget,
               "memory": MEMORY_BASE + 2 * budget, "cpu": cpu, "output": budget + ANSWER_EXTRA}
    folder = tempfile.mkdtemp(prefix="cnntoolbox-read-")
    try:
        try:
            values, all_names = _run(request, folder, WALL_FACTOR * cpu + WALL_BASE, version)
        except MatFileError as error:
            message = str(error)
            if message.startswith(absolute + ": "):
                message = message[len(absolute) + 2:]
            raise MatFileError(f"{path}: {message}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return values, all_names


def _run(request, folder, wall, version):
    """Run the child on ``request`` in ``folder``; its decoded answer."""
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if os.name == "nt" and "SYSTEMROOT" in os.environ:      # Windows needs it to start Python
        env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
    with open(os.path.join(folder, "stderr"), "w+b") as errors:
        child = subprocess.Popen([sys.executable, "-I", _BOOT, _ROOT, json.dumps(request)],
                                 cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=errors, close_fds=True)
        try:
            code = child.wait(timeout=wall)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise MatFileError(f"reading it took longer than {wall} s; the reader was "
                               "stopped (a damaged file that makes it loop)") from None
        except BaseException:
            child.kill()
            child.wait()
            raise
        errors.seek(0, os.SEEK_END)
        errors.seek(max(0, errors.tell() - 2000))
        tail = errors.read().decode("utf-8", "replace").strip().splitlines()
    if code != 0:
        raise MatFileError(_death(code, request, version, tail[-1] if tail else ""))
    answer, size = _wire.open_answer(os.path.join(folder, "answer"), request["output"])
    with answer:
        return _wire.decode(answer, size)


def _death(code, request, version, last_line):
    """What to say of a child that ended with exit status ``code``."""
    if code > 0:
        return f"the reader failed on this file (exit status {code}: {last_line})"
    number = -code
    name = signal.Signals(number).name if number in signal.Signals._value2member_map_ \
        else f"signal {number}"
    if name == "SIGXCPU":
        return (f"reading it took more than {request['cpu']} s of CPU time (the limit for "
                "a file of its size); a damaged file that makes the reader loop")
    if name == "SIGXFSZ":
        return f"its contents come to more than {request['output']} bytes (damaged)"
    if name == "SIGKILL":
        return (f"the reader was killed (SIGKILL: past its CPU limit of {request['cpu']} s, "
                "or by the system for want of memory)")
    return f"{_LIBRARY[version]} crashed on this file ({name})"
