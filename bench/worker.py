"""Run one benchmark row in a process of its own and print its result as JSON.

``python bench/worker.py SPEC`` with SPEC a JSON object (see
:func:`workloads.run`). Everything the row prints goes to stderr; the last
line on stdout is the JSON result, so that each row's peak memory
(``ru_maxrss``) is its own. numpy's BLAS runs with ``spec["threads"]``
threads, as torch does.
"""

import contextlib
import json
import sys

import workloads


def blas_threads(count):
    """Limit numpy's BLAS to ``count`` threads while the row runs (needs threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=count, user_api="blas")


def main(argv):
    spec = json.loads(argv[1])
    with contextlib.redirect_stdout(sys.stderr), blas_threads(spec["threads"]):
        result = workloads.run(spec)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
