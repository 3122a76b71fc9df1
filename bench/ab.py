"""A/B timing of cnntoolbox checkouts: is a change faster, beyond the noise?

Usage (from the repository root)::

    git worktree add ../cnn-before HEAD~1
    python bench/ab.py ../cnn-before . [--rounds 6] [--samples 12000] [--precision single]

Each round runs ``cnntrain`` (batch 50, alpha 1, one pass over the first
``--samples`` MNIST samples; x and y as float32 with ``--precision single``,
so that training runs in float32) once per checkout, each in a fresh process,
in alternating order (A B, then B A, ...), so that a slow spell of the
machine falls on all of them alike.  It prints per checkout the median
seconds per 60000-sample epoch, the median of the per-round ratios to the
first checkout, the median peak resident memory of the process
(``ru_maxrss``: the data, the warm-up and the training), and the last
``rL``, which must agree to the last digit when a change is meant to keep
every result.  On the 2-core virtual
machines of this project single runs vary by up to 20%; the round ratios
vary far less.
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
#: The dtype of x and y for each ``--precision`` (the package computes in float32 if they are).
DTYPES = {"double": "float64", "single": "float32"}

#: One timed run in a fresh process: argv[1] is the checkout, argv[2] the samples,
#: argv[3] this folder, argv[4] the dtype of x and y.
RUN = r"""
import resource, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[3])
import cnntoolbox, workloads
assert cnntoolbox.__file__.startswith(sys.argv[1]), cnntoolbox.__file__
from cnntoolbox import cnnsetup, cnntrain
n = int(sys.argv[2])
data = workloads.mnist_uint8()
x, y = workloads.toolbox_x(data["train_x"][:n]), workloads.toolbox_y(data["train_y"][:n])
x, y = x.astype(sys.argv[4]), y.astype(sys.argv[4])
net = cnnsetup({"layers": workloads.example_layers()}, x, y, rng=0)
opts = {"alpha": 1, "batchsize": 50, "numepochs": 1}
cnntrain(net, x[:, :, :100], y[:, :100], opts, verbose=False)     # warm-up
start = time.perf_counter()
trained = cnntrain(net, x, y, opts, rng=1, verbose=False)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024      # KiB on Linux
print(seconds, peak, repr(float(trained["rL"][-1])))
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkouts", nargs="+", help="folders holding a cnntoolbox/ package")
    p.add_argument("--rounds", type=int, default=6, help="runs per checkout (default %(default)s)")
    p.add_argument("--samples", type=int, default=12000,
                   help="training samples per run, a multiple of 50 (default %(default)s)")
    p.add_argument("--precision", choices=sorted(DTYPES), default="double",
                   help="x and y as float64 (double) or float32 (single); default %(default)s")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.samples < 100 or args.samples % 50 or args.samples > 60000:
        p.error(f"--samples must be a multiple of 50 from 100 to 60000, got {args.samples}")
    for folder in args.checkouts:
        if not (Path(folder) / "cnntoolbox" / "__init__.py").is_file():
            p.error(f"{folder} holds no cnntoolbox/ package")
    return args


def run_once(checkout, samples, precision="double"):
    """Seconds per 60000-sample epoch, peak MiB and the last rL of one run in a fresh process."""
    out = subprocess.run([sys.executable, "-c", RUN, str(Path(checkout).resolve()),
                          str(samples), str(BENCH), DTYPES[precision]],
                         capture_output=True, text=True, env=dict(os.environ))
    if out.returncode != 0:
        raise SystemExit(f"run of {checkout} failed:\n{out.stderr}")
    seconds, peak, last = out.stdout.split()
    return float(seconds) * 60000 / samples, float(peak), last


def main(argv=None):
    args = parse_args(argv)
    names = args.checkouts
    times = [[] for _ in names]
    peaks = [[] for _ in names]
    last = [None] * len(names)
    for round_ in range(args.rounds):
        order = range(len(names)) if round_ % 2 == 0 else reversed(range(len(names)))
        for i in order:
            seconds, peak, last[i] = run_once(names[i], args.samples, args.precision)
            times[i].append(seconds)
            peaks[i].append(peak)
            print(f"round {round_ + 1}/{args.rounds}: {names[i]} {seconds:.2f} s/epoch",
                  file=sys.stderr)
    for i, name in enumerate(names):
        ratios = [t / t0 for t, t0 in zip(times[i], times[0])]
        print(f"{name}: median {statistics.median(times[i]):.2f} s/epoch, "
              f"median round ratio to {names[0]} {statistics.median(ratios):.3f} "
              f"(range {min(ratios):.3f} to {max(ratios):.3f}), "
              f"median peak {statistics.median(peaks[i]):.0f} MiB, last rL {last[i]}")

if __name__ == "__main__":
    main()
