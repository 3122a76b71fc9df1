"""Run one benchmark row in a process of its own and print its result as JSON.

``python bench/worker.py SPEC`` with SPEC a JSON object (see
:func:`workloads.run`). Everything the row prints goes to stderr; the last
line on stdout is the JSON result, so that each row's peak memory
(``ru_maxrss``) is its own. The row runs on ``spec["threads"]`` cores, with
as many BLAS and torch threads.
"""

import contextlib
import json
import os
import sys

import workloads


def limit_threads(count):
    """Run this process on ``count`` cores, with numpy's BLAS on ``count`` threads.

    The process is pinned to ``count`` of the cores it may use (where the
    system allows), so that code which sizes its own thread pools by the
    cores it may run on follows too. Returns a context manager holding the
    BLAS limit (needs threadpoolctl).
    """
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        if count < len(cores):
            os.sched_setaffinity(0, cores[:count])
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=count, user_api="blas")


def main(argv):
    spec = json.loads(argv[1])
    with contextlib.redirect_stdout(sys.stderr), limit_threads(spec["threads"]):
        result = workloads.run(spec)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
