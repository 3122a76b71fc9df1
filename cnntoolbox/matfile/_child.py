"""The reader child's work: parse one untrusted MAT-file and write the values as data.

Run by ``_boot`` in a process of its own (see ``_isolate``), already
limited; :func:`parse` is also what the fuzzer calls directly, in its own
limited workers, so that long runs need no new interpreter per input.
"""

from . import _wire
from ._values import Budget, MatFileError

#: The file, in the child's own empty working folder, that its answer is written to.
ANSWER = "answer"


def main(request):
    """Parse the file ``request`` names and write the answer (or the refusal) to ``ANSWER``."""
    with open(ANSWER, "wb") as out:
        try:
            values, names = parse(request["path"], request["version"], request["names"],
                                  request["budget"])
        except MatFileError as error:
            _wire.write_error(out, str(error))
            return
        except OSError as error:                        # gone or unreadable since the check
            _wire.write_error(out, f"{request['path']}: cannot be read ({error.strerror})")
            return
        except MemoryError:
            _wire.write_error(out, f"{request['path']}: reading it needs more memory than its "
                              f"limit of {request['memory'] // 2 ** 20} MiB")
            return
        _wire.write(out, values, names)


def parse(path, version, names, budget):
    """The variables of the MAT-file ``path`` and, if any of ``names`` is missing, all names.

    Parameters
    ----------
    path : str
    version : {"4", "5", "7.3"}
        As ``_dispatch`` read it from the header.
    names : list of str or None
    budget : int
        Bytes of memory the read may take (:func:`~._values.memory_budget`).

    Returns
    -------
    values : dict
        Variable name -> value in the generic mapping of ``_values``.
    all_names : list of str or None
        Every variable name in the file when one of ``names`` is missing, else None.
    """
    values = _reader(version).read(path, names, Budget(budget))
    if any(name not in values for name in names or ()):
        return values, variable_names(path, version)
    return values, None


def variable_names(path, version):
    """Names of the variables in a file (for error messages)."""
    return _reader(version).variable_names(path)


def _reader(version):
    """The reader module of ``version``, imported when first needed: a child imports one
    library (h5py or scipy.io), not both."""
    if version == "7.3":
        from . import _mat73_read
        return _mat73_read
    from . import _mat5
    return _mat5
