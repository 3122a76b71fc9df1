"""The first lines the isolated reader child runs (as a script: ``python -I _boot.py ROOT REQUEST``).

It imports nothing of the package before it has limited itself: address
space, CPU time, the size of files it writes, no core file (``resource``;
what a system does not offer is skipped).  Then it makes ``cnntoolbox``
the package folder under ``ROOT`` only, without running the package's
``__init__`` (the reader needs only :mod:`cnntoolbox.matfile`), and hands
over to :func:`cnntoolbox.matfile._child.main`.  ``-I`` keeps the user's
folder, ``PYTHON*`` variables and user site-packages out of ``sys.path``.
"""

import json
import os
import sys
import types


def limit(memory, cpu, output):
    """Limit this process: ``memory`` bytes of address space, ``cpu`` seconds, ``output`` bytes a file."""
    try:
        import resource
    except ImportError:                     # Windows: the parent's wall-clock timeout only
        return
    for kind, soft, hard in ((resource.RLIMIT_AS, memory, memory), (resource.RLIMIT_CPU, cpu, cpu + 2),
                             (resource.RLIMIT_FSIZE, output, output), (resource.RLIMIT_CORE, 0, 0)):
        current = resource.getrlimit(kind)[1]
        if current != resource.RLIM_INFINITY:
            soft, hard = min(soft, current), min(hard, current)
        try:
            resource.setrlimit(kind, (soft, hard))
        except (ValueError, OSError):         # macOS refuses an RLIMIT_AS below what is mapped
            pass


def main():
    root, request = sys.argv[1], json.loads(sys.argv[2])
    limit(request["memory"], request["cpu"], request["output"])
    package = types.ModuleType("cnntoolbox")
    package.__path__ = [os.path.join(root, "cnntoolbox")]
    sys.modules["cnntoolbox"] = package
    from cnntoolbox.matfile import _child
    _child.main(request)


if __name__ == "__main__":
    main()
