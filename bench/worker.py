"""Run one benchmark row in a process of its own and print its result as JSON.

``python bench/worker.py SPEC`` with SPEC a JSON object (see
:func:`workloads.run`). Everything the row prints goes to stderr; the last
line on stdout is the JSON result, so that each row's peak memory
(``ru_maxrss``) is its own.
"""

import contextlib
import json
import sys

import workloads


def main(argv):
    spec = json.loads(argv[1])
    with contextlib.redirect_stdout(sys.stderr):
        result = workloads.run(spec)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
