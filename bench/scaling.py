"""How the time per epoch scales with batch size, input size and map counts.

Usage (from the repository root)::

    python bench/scaling.py                 # 3000 random samples per case
    python bench/scaling.py --markdown
    python bench/scaling.py --quick         # smoke run

Each case trains cnntoolbox (and the PyTorch float64 peer, when torch is
installed) on random images for one pass over ``--samples`` samples, in a
process of its own, after two warm-up batches, and reports the time scaled to
an epoch-equivalent of 60000 samples. The base case is the MNIST example's net: 28x28 input,
6c5-2s-12c5-2s, batch 50.
"""

import argparse
import importlib.util
import statistics
import sys

import machine_info
import workloads
from epoch import ALPHA, EPOCH, run_worker

#: (batch size, input side, map counts) per case; the first is the MNIST example.
CASES = [(50, 28, (6, 12)), (10, 28, (6, 12)), (250, 28, (6, 12)),
         (50, 56, (6, 12)), (50, 28, (12, 24))]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=3000,
                   help="random samples timed per case, a multiple of 250 (default %(default)s)")
    p.add_argument("--repeat", type=int, default=1, help="runs per case; median (default 1)")
    p.add_argument("--threads", type=int,
                   help="cores per case, as in bench/epoch.py (default: numpy's BLAS threads)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--markdown", action="store_true", help="print the table as markdown")
    p.add_argument("--quick", action="store_true", help="smoke run: 250 samples, two cases")
    args = p.parse_args(argv)
    if args.quick:
        args.samples = 250
    if args.samples < 250 or args.samples % 250:
        p.error(f"--samples must be a positive multiple of 250, got {args.samples}")
    if args.repeat < 1:
        p.error(f"--repeat must be at least 1, got {args.repeat}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be at least 1, got {args.threads}")
    return args


def time_case(impl, batchsize, side, maps, args, threads, dtype="float64"):
    """Median wall and CPU seconds per 60000-sample epoch-equivalent of one case."""
    spec = {"impl": impl, "dtype": dtype, "data": "random", "size": side,
            "samples": args.samples, "test_samples": 0, "batchsize": batchsize,
            "alpha": ALPHA, "layers": workloads.example_layers(maps), "seed": args.seed,
            "threads": threads, "warmup": True}
    runs = [run_worker(spec) for _ in range(args.repeat)]
    return tuple(statistics.median(run[key] for run in runs) * EPOCH / args.samples
                 for key in ("train_seconds", "train_cpu_seconds"))


def main(argv=None):
    args = parse_args(argv)
    threads = args.threads or machine_info.blas_threads()
    has_torch = importlib.util.find_spec("torch") is not None
    cases = CASES[:2] if args.quick else CASES
    head = ["batch", "input", "maps", "cnntoolbox s", "PyTorch f64 s", "ratio",
            "cnntoolbox CPU s", "PyTorch f64 CPU s"]
    body = []
    with machine_info.OtherLoad() as load:
        for batchsize, side, maps in cases:
            print(f"batch {batchsize}, {side}x{side}, maps {maps[0]}-{maps[1]} ...",
                  file=sys.stderr, flush=True)
            ours = time_case("package", batchsize, side, maps, args, threads)
            peer = time_case("torch", batchsize, side, maps, args, threads) if has_torch else None
            body.append([str(batchsize), f"{side}x{side}", f"{maps[0]}-{maps[1]}",
                         f"{ours[0]:.2f}", f"{peer[0]:.2f}" if peer else "-",
                         f"{ours[0] / peer[0]:.2f}" if peer else "-",
                         f"{ours[1]:.2f}", f"{peer[1]:.2f}" if peer else "-"])
    if args.markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|---|---|---:|---:|---:|---:|---:|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
    else:
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in [head, *body]]
    print("\n".join(lines))
    print()
    notes = [f"seconds per epoch-equivalent ({EPOCH} samples), timed on {args.samples} random "
             f"samples per case, median of {args.repeat}; 5x5 kernels, 2x2 mean pooling, "
             "10 outputs; ratio = cnntoolbox / PyTorch f64 (wall); CPU s = CPU seconds of "
             "the process, all threads",
             *machine_info.describe(threads)]
    notes.append(load.note())
    if not has_torch:
        notes.append("PyTorch column skipped: torch is not installed")
    print("\n".join(("- " if args.markdown else "") + note for note in notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
