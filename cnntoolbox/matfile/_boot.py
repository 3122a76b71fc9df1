"""The first lines the isolated reader child runs (as a script: ``python -I _boot.py ROOT REQUEST``).

It imports nothing of the package before it has limited itself: address
space, CPU time, the size of files it writes, no core file (``resource``;
what a system does not offer is skipped).  Then it makes ``cnntoolbox``
and ``cnntoolbox.matfile`` the package folders under ``ROOT`` only, without
running their ``__init__`` (the child needs only its reader, not the rest
of the package and its imports), and hands over to
:func:`cnntoolbox.matfile._child.main`.  ``-I`` keeps the user's
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
    for name, folder in (("cnntoolbox", ("cnntoolbox",)), ("cnntoolbox.matfile",
                                                          ("cnntoolbox", "matfile"))):
        package = types.ModuleType(name)
        package.__path__ = [os.path.join(root, *folder)]
        sys.modules[name] = package
    from cnntoolbox.matfile import _child
    _child.main(request)


if __name__ == "__main__":
    main()
