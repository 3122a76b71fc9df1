"""What the benchmark ran on: machine, BLAS and its threads, library versions."""

import importlib.metadata
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

#: Environment variables that change which OpenBLAS kernel numpy runs.
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, or platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_info():
    """The BLAS libraries loaded, as threadpoolctl sees them, numpy's first.

    Returns
    -------
    list of dict
        One dict per BLAS library loaded (``internal_api``, ``version``,
        ``architecture``, ``num_threads``, ``threading_layer`` and ``owner``,
        the folder it was loaded from, e.g. ``numpy.libs``); empty without
        threadpoolctl.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    libs = [dict({key: lib.get(key) for key in
                  ("internal_api", "version", "architecture", "num_threads", "threading_layer")},
                 owner=Path(lib.get("filepath", "")).parent.name or "?")
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return sorted(libs, key=lambda lib: not lib["owner"].startswith("numpy"))


def blas_threads():
    """Thread count of numpy's BLAS, or the core count when it is unknown."""
    libs = blas_info()
    return int(libs[0]["num_threads"]) if libs else (os.cpu_count() or 1)


def describe(threads=None):
    """Lines describing machine, BLAS, environment and versions.

    Parameters
    ----------
    threads : int, optional
        The thread count every row was given (numpy's BLAS and
        ``torch.set_num_threads``); default numpy's BLAS thread count.

    Returns
    -------
    list of str
    """
    lines = [f"machine: {platform.platform()}, {cpu_model()}, {os.cpu_count()} logical cores",
             f"python {platform.python_version()}, numpy {np.__version__}"]
    for lib in blas_info():
        lines.append(f"BLAS ({lib['owner']}): {lib['internal_api']} {lib['version']}, "
                     f"kernel {lib['architecture']}, {lib['num_threads']} threads "
                     f"by default ({lib['threading_layer']})")
    if not blas_info():
        lines.append("BLAS: unknown (threadpoolctl not installed)")
    threads = blas_threads() if threads is None else threads
    lines.append(f"threads: {threads} (cores per run; numpy's BLAS through threadpoolctl, "
                 "torch.set_num_threads)")
    env = ", ".join(f"{name}={os.environ[name]!r}" if name in os.environ else f"{name} unset"
                    for name in BLAS_ENV)
    lines.append(f"environment: {env}")
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        lines.append("torch: not installed (torch rows skipped)")
    else:
        lines.append(f"torch {torch_version}")
    return lines


def _busy_cpu_seconds():
    """CPU seconds all processes spent busy since boot (/proc/stat), or None.

    Returns
    -------
    tuple of float or None
        (at normal priority, at low priority): user + system + irq + softirq
        + steal, and nice.
    """
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return (user + system + irq + softirq + steal) / tick, nice / tick


def _own_cpu_seconds():
    own = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(r.ru_utime + r.ru_stime for r in own)


class OtherLoad:
    """CPU time that processes other than this one and its children used meanwhile.

    Use as ``with OtherLoad() as load: ...``, then ``load.note()``: a line
    with the share of the machine's CPU time that others took at normal
    priority and at low priority (nice), and a warning when the first exceeds
    10% (timings on a shared machine are unreliable, and PyTorch's OpenMP
    threads, which wait for each other at every operation, lose far more than
    numpy). Low-priority processes yield the CPU to the benchmark.
    """

    def __enter__(self):
        self.start = (time.perf_counter(), _busy_cpu_seconds(), _own_cpu_seconds())
        return self

    def __exit__(self, *exc):
        self.end = (time.perf_counter(), _busy_cpu_seconds(), _own_cpu_seconds())
        return False

    def note(self):
        (w0, b0, o0), (w1, b1, o1) = self.start, self.end
        if b0 is None or b1 is None:
            return "CPU time of other processes: unknown (no /proc/stat)"
        machine = (w1 - w0) * (os.cpu_count() or 1)
        share = max(0.0, (b1[0] - b0[0]) - (o1 - o0)) / machine
        nice = (b1[1] - b0[1]) / machine
        text = (f"other processes used {share:.0%} of the machine's CPU time during the run "
                f"(and {nice:.0%} at low priority, nice)")
        if share > 0.10:
            text = "WARNING: " + text + ": the timings are unreliable, rerun on an idle machine"
        return text
