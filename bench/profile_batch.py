"""Where the time of one training batch of cnntoolbox goes.

Usage (from the repository root)::

    python bench/profile_batch.py            # 200 batches of 50 from MNIST
    python bench/profile_batch.py --quick    # smoke run

Four measurements, none of which depends on how the package is organised
inside:

1. ``cnntrain`` per batch (time of an epoch over ``--batches`` batches).
2. The public ``cnnff``, ``cnnbp`` and ``cnnapplygrads`` on one batch of 50
   (median of many calls; they include the argument checks and the layout
   conversion that ``cnntrain`` does once per call, not per batch).
3. The fixed cost per batch: ``cnntrain``'s time per batch against batch
   size (1 to 50), fitted by a line; its intercept is the per-batch cost
   that does not grow with the batch (Python and numpy call overhead).
4. cProfile of ``cnntrain`` in every thread it uses (the package may split
   a batch over threads): the time of functions grouped into phases by
   their names (:data:`PHASES`, first match wins, a function's time counted
   once even when phase functions call each other), and the top functions.
   Times are summed over the threads.
"""

import argparse
import cProfile
import io
import pstats
import re
import statistics
import sys
import threading
import time

import numpy as np

import machine_info
import workloads

#: Phase of a function, by a regular expression on its name; first match wins.
PHASES = [
    ("waiting for threads", r"of '_thread\.lock'|of '_queue\.SimpleQueue'|^result$|^wait$"),
    ("update", r"applygrads"),
    ("gradients", r"kernel_grad|grad_k|dk\b|weight_grad"),
    ("backward", r"delta|backprop|_back\b|expand|unpool|fv_to_maps"),
    ("pooling", r"pool|subsampl|downsampl|mean_2x2"),
    ("forward conv", r"conv|im2col|corr"),
]
OPTS = {"alpha": 1.0, "batchsize": 50, "numepochs": 1}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, default=200,
                   help="batches of 50 timed and profiled (default %(default)s)")
    p.add_argument("--repeats", type=int, default=200,
                   help="calls per public routine for its median (default %(default)s)")
    p.add_argument("--quick", action="store_true", help="smoke run: 10 batches, 10 repeats")
    args = p.parse_args(argv)
    if args.quick:
        args.batches, args.repeats = 10, 10
    if args.batches < 2 or args.repeats < 1:
        p.error("--batches must be at least 2 and --repeats at least 1")
    return args


def quiet_train(net, x, y, opts, rng=0):
    """``cnntrain`` without its ``epoch i/n`` lines."""
    from cnntoolbox import cnntrain
    out = sys.stdout
    sys.stdout = io.StringIO()
    try:
        return cnntrain(net, x, y, opts, rng=rng)
    finally:
        sys.stdout = out


def per_batch(net, x, y, batchsize, batches):
    """Seconds per batch of ``cnntrain`` over ``batches`` batches of ``batchsize``."""
    m = batchsize * batches
    opts = dict(OPTS, batchsize=batchsize)
    quiet_train(net, x[:, :, :batchsize], y[:, :batchsize], opts)      # warm up
    start = time.perf_counter()
    quiet_train(net, x[:, :, :m], y[:, :m], opts)
    return (time.perf_counter() - start) / batches


def public_routines(net, x, y, repeats):
    """Median seconds of the public cnnff, cnnbp, cnnapplygrads on one batch."""
    from cnntoolbox import cnnapplygrads, cnnbp, cnnff
    times = {"cnnff": [], "cnnbp": [], "cnnapplygrads": []}
    bx, by = x[:, :, :50], y[:, :50]
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        ff = cnnff(net, bx)
        t1 = time.perf_counter()
        bp = cnnbp(ff, by)
        t2 = time.perf_counter()
        cnnapplygrads(bp, OPTS)
        t3 = time.perf_counter()
        for name, t in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
            times[name].append(t)
    return {name: statistics.median(t[1:]) for name, t in times.items()}


def fixed_cost(net, x, y, samples):
    """Intercept and slope of seconds per batch against batch size (1 to 50).

    Each size is timed on about ``samples`` samples (at least 2 batches).
    """
    sizes = [1, 2, 5, 10, 25, 50]
    seconds = [per_batch(net, x, y, b, max(2, samples // b)) for b in sizes]
    slope, intercept = np.polyfit(sizes, seconds, 1)
    return intercept, slope, dict(zip(sizes, seconds))


def phase_of(name):
    for phase, pattern in PHASES:
        if re.search(pattern, name):
            return phase
    return None


def profiled(function, *args):
    """Run ``function(*args)`` under cProfile in this thread and every thread it starts.

    Returns
    -------
    pstats.Stats
        The statistics of all threads, merged.
    """
    profilers = [cProfile.Profile()]

    def start_in_new_thread(frame, event, arg):
        sys.setprofile(None)
        profilers.append(cProfile.Profile())
        profilers[-1].enable()

    threading.setprofile(start_in_new_thread)
    profilers[0].enable()
    try:
        function(*args)
    finally:
        profilers[0].disable()
        threading.setprofile(None)
    return pstats.Stats(*profilers)


def profile_phases(net, x, y, batches):
    """cProfile of ``cnntrain`` over ``batches`` batches of 50.

    Returns
    -------
    tuple
        (seconds under the profiler summed over threads, {phase: seconds},
        pstats.Stats)
    """
    m = 50 * batches
    stats = profiled(quiet_train, net, x[:, :, :m], y[:, :m], OPTS)
    raw = stats.stats                      # {(file, line, name): (cc, nc, tt, ct, callers)}
    phases = {phase: 0.0 for phase, _ in PHASES}
    total = sum(tt for (_, _, tt, _, _) in raw.values())
    for (_, _, name), (_, _, _, ct, callers) in raw.items():
        phase = phase_of(name)
        if phase is None:
            continue
        # count only the calls made from outside any phase function
        phases[phase] += sum(c[3] for caller, c in callers.items() if phase_of(caller[2]) is None)
    return total, phases, stats


def top_functions(stats, count=15):
    """Lines 'tottime  cumtime  calls  function' of the functions with most own time."""
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:count]
    lines = [f"{'own s':>8} {'cum s':>8} {'calls':>8}  function"]
    for (file, line, name), (_, nc, tt, ct, _) in rows:
        where = name if file == "~" else f"{file.split('site-packages/')[-1]}:{line} {name}"
        lines.append(f"{tt:8.3f} {ct:8.3f} {nc:8d}  {where}")
    return lines


def ms(seconds):
    return f"{1e3 * seconds:7.3f} ms"


def main(argv=None):
    args = parse_args(argv)
    from cnntoolbox import cnnsetup
    m = 50 * args.batches if args.quick else max(50 * args.batches, 1000)
    try:
        data = workloads.mnist_uint8()
        x, y = workloads.toolbox_x(data["train_x"][:m]), workloads.toolbox_y(data["train_y"][:m])
        source = "MNIST"
    except FileNotFoundError:
        x, y = workloads.random_data(28, m)
        source = "random 28x28"
    net = cnnsetup({"layers": workloads.example_layers()}, x, y, rng=0)

    batch = per_batch(net, x, y, 50, args.batches)
    public = public_routines(net, x, y, args.repeats)
    intercept, slope, by_size = fixed_cost(net, x, y, min(m, 1000))
    total, phases, stats = profile_phases(net, x, y, args.batches)

    out = [f"cnntoolbox, one batch of 50 ({source}, 6c5-2s-12c5-2s, float64)", "",
           f"cnntrain per batch: {ms(batch)}  (x 1200 batches = {1200 * batch:.2f} s per epoch)",
           "", "public routines, one batch each (median of "
           f"{args.repeats}; include argument checks and layout conversion):"]
    out += [f"  {name:14s} {ms(t)}" for name, t in public.items()]
    out += ["", "cnntrain seconds per batch against batch size: "
            + ", ".join(f"{b}: {1e3 * t:.3f} ms" for b, t in by_size.items()),
            f"  fitted line: {ms(intercept)} fixed per batch + {1e3 * slope:.4f} ms per sample;"
            f" fixed share of a batch of 50: {intercept / by_size[50]:.0%}  (Python overhead)",
            "",
            f"phases under cProfile, per batch, summed over threads ({args.batches} batches, "
            f"{total:.3f} s in all; the profiler adds its own overhead per Python call):"]
    for phase, seconds in phases.items():
        out.append(f"  {phase:20s} {ms(seconds / args.batches)}  {seconds / total:6.1%}")
    rest = total - sum(phases.values())
    out.append(f"  {'rest':20s} {ms(rest / args.batches)}  {rest / total:6.1%}"
               "  (output layer, loss, batch indexing, loop)")
    out += ["", "top functions by own time under cProfile:", *top_functions(stats), "",
            *machine_info.describe()]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
