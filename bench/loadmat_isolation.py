"""The cost of parsing every MAT-file in a limited child process, and a 20,000-element cell against peers.

Two tables, each a median of ``--repeat`` runs, the contenders interleaved
within each run (the same file, the same order of reads every time):

1. ms per load of a small file (v7 and v7.3): ``loadmat`` (the child, its
   answer, the parent's checks) against the same parse run in this process
   (``_child.parse`` and the reconciliation, what ``loadmat`` did before
   the child), so the difference is the isolation's cost;
2. seconds to load a v7.3 file holding a 1 x 20,000 cell of 1 x 3 doubles:
   ``loadmat`` against ``pymatreader.read_mat`` and ``hdf5storage.loadmat``
   (each skipped if not installed).

    python bench/loadmat_isolation.py --repeat 7
"""

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine_info import cpu_model  # noqa: E402

from cnntoolbox.matfile import _child, _dispatch, loadmat, savemat  # noqa: E402
from cnntoolbox.matfile._values import memory_budget  # noqa: E402


def in_process(path):
    """What loadmat computes, without the child: the parse and the reconciliation."""
    version = _dispatch._version(path)
    values, _ = _child.parse(path, version, None, memory_budget(os.path.getsize(path)))
    return {name: _dispatch._reconcile(value, name) for name, value in values.items()}


def peers():
    """(name, reader) of the peers installed."""
    out = [("cnntoolbox loadmat", loadmat)]
    if importlib.util.find_spec("pymatreader"):
        import pymatreader
        out.append(("pymatreader read_mat", pymatreader.read_mat))
    if importlib.util.find_spec("hdf5storage"):
        import hdf5storage
        out.append(("hdf5storage loadmat", hdf5storage.loadmat))
    return out


def timed(read, path):
    start = time.perf_counter()
    read(path)
    return time.perf_counter() - start


def median_times(contenders, path, repeat):
    """Median seconds of each (name, reader) on ``path``, interleaved over ``repeat`` rounds."""
    times = {name: [] for name, _ in contenders}
    for _ in range(repeat):
        for name, read in contenders:
            times[name].append(timed(read, path))
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--cells", type=int, default=20000)
    args = parser.parse_args(argv)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores (shared: other work may run)")
    with tempfile.TemporaryDirectory() as folder:
        print("\n| small file | loadmat (child) ms | in-process parse ms | isolation cost ms |")
        print("|---|---|---|---|")
        for fmt in ("7", "7.3"):
            path = os.path.join(folder, f"small{fmt}.mat")
            savemat(path, {"net": {"a": np.arange(12.0).reshape(3, 4), "c": [1.0, "x"]}},
                    format=fmt)
            medians = median_times([("child", loadmat), ("here", in_process)], path, args.repeat)
            print(f"| v{fmt}, {os.path.getsize(path)} bytes | {1000 * medians['child']:.0f} | "
                  f"{1000 * medians['here']:.0f} | {1000 * (medians['child'] - medians['here']):.0f} |")
        path = os.path.join(folder, "cells.mat")
        savemat(path, {"c": [np.array([1.0, 2.0, float(i)]) for i in range(args.cells)]},
                format="7.3")
        medians = median_times(peers(), path, args.repeat)
        print(f"\n| 1 x {args.cells} cell, v7.3, {os.path.getsize(path)} bytes | median s | "
              "ratio to loadmat |")
        print("|---|---|---|")
        for name, seconds in medians.items():
            print(f"| {name} | {seconds:.2f} | {seconds / medians['cnntoolbox loadmat']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
