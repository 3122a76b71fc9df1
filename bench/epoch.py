"""Seconds per MNIST epoch: cnntoolbox against PyTorch (and the original).

Usage (from the repository root)::

    python bench/epoch.py                      # the full table, 60000 samples
    python bench/epoch.py --samples 6000       # time 6000 samples, scale to 60000
    python bench/epoch.py --repeat 3 --markdown
    python bench/epoch.py --octave-toolbox ../DeepLearnToolbox
    python bench/epoch.py --quick              # a tiny smoke run, seconds

Every row trains the MNIST example's net (6c5-2s-12c5-2s, batch 50,
alpha 1) for one epoch in a process of its own, so that its peak memory is
its own; rows timed on fewer samples than an epoch are scaled to 60000.
See bench/README.md for what each row means.
"""

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import machine_info
import workloads

BENCH = Path(__file__).resolve().parent
#: Samples in one MNIST training epoch: every row is reported per epoch.
EPOCH = 60000
BATCHSIZE = 50
ALPHA = 1.0
REFERENCE = "torch-f64"
#: Each package row and its peer in the same precision: the note gives their ratio.
PEERS = (("package", "torch-f64"), ("package-f32", "torch-f32"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=EPOCH,
                   help="training samples timed per row (default %(default)s); scaled to 60000")
    p.add_argument("--test-samples", type=int, default=10000,
                   help="test samples for cnntest after training (default %(default)s, 0: none)")
    p.add_argument("--literal-samples", type=int, default=1000,
                   help="samples for the literal transcription, scaled (default %(default)s)")
    p.add_argument("--octave-toolbox", metavar="DIR",
                   help="folder of the original DeepLearnToolbox (with CNN/ and util/): "
                        "adds a row of the original under GNU Octave")
    p.add_argument("--octave-samples", type=int, default=1000,
                   help="samples for the Octave row, scaled (default %(default)s)")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per row, interleaved; the table shows the median (default 1)")
    p.add_argument("--only", metavar="ROWS",
                   help="comma-separated subset of rows: package, package-f32, literal, "
                        "torch-f64, torch-f32, octave")
    p.add_argument("--threads", type=int,
                   help="threads for numpy's BLAS and for torch in every row "
                        "(default: numpy's BLAS thread count)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--markdown", action="store_true", help="print the table as markdown")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 200 samples (100 for literal and Octave), 200 test samples")
    args = p.parse_args(argv)
    if args.quick:
        args.samples, args.test_samples = 200, 200
        args.literal_samples = args.octave_samples = 100
    for name in ("samples", "literal_samples", "octave_samples"):
        n = getattr(args, name)
        if n < BATCHSIZE or n % BATCHSIZE or n > EPOCH:
            p.error(f"--{name.replace('_', '-')} must be a multiple of {BATCHSIZE} "
                    f"between {BATCHSIZE} and {EPOCH}, got {n}")
    if not 0 <= args.test_samples <= 10000:
        p.error(f"--test-samples must be between 0 and 10000, got {args.test_samples}")
    if args.repeat < 1:
        p.error(f"--repeat must be at least 1, got {args.repeat}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be at least 1, got {args.threads}")
    return args


def literal_available():
    """True when the package keeps a literal transcription ``cnntoolbox.literal``."""
    if importlib.util.find_spec("cnntoolbox.literal") is None:
        return False
    from cnntoolbox import literal
    return all(hasattr(literal, name) for name in ("cnnff", "cnnbp", "cnnapplygrads"))


def plan(args, threads):
    """The rows to run: a list of (key, label, spec), and messages for rows skipped."""
    base = {"data": "mnist", "layers": workloads.example_layers(), "batchsize": BATCHSIZE,
            "alpha": ALPHA, "seed": args.seed, "threads": threads}
    rows, skipped = [], []
    full = dict(base, samples=args.samples, test_samples=args.test_samples)
    rows.append(("package", "cnntoolbox cnntrain, float64", dict(full, impl="package")))
    rows.append(("package-f32", "cnntoolbox cnntrain, float32",
                 dict(full, impl="package", dtype="float32")))
    if literal_available():
        rows.append(("literal", "cnntoolbox.literal (per-map loops), float64",
                     dict(base, impl="literal", samples=min(args.literal_samples, args.samples))))
    else:
        skipped.append("literal: the package has no cnntoolbox.literal")
    if importlib.util.find_spec("torch") is not None:
        for dtype in ("float64", "float32"):
            rows.append((f"torch-f{dtype[-2:]}", f"PyTorch CPU, {dtype}",
                         dict(full, impl="torch", dtype=dtype)))
    else:
        skipped.append("torch-f64, torch-f32: torch is not installed "
                       "(pip install torch==2.13.0, see bench/README.md)")
    if args.octave_toolbox:
        if shutil.which("octave"):
            rows.append(("octave", "original toolbox, GNU Octave, float64",
                         dict(base, impl="octave", octave_toolbox=args.octave_toolbox,
                              samples=min(args.octave_samples, args.samples))))
        else:
            skipped.append("octave: no octave on PATH")
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {"package", "package-f32", "literal", "torch-f64", "torch-f32",
                            "octave"}
        if unknown:
            raise ValueError(f"--only: unknown rows {sorted(unknown)}")
        rows = [row for row in rows if row[0] in wanted]
    return rows, skipped


def run_worker(spec):
    """Run one row in a fresh Python process; return its result dict or raise."""
    proc = subprocess.run([sys.executable, str(BENCH / "worker.py"), json.dumps(spec)],
                          capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip()
                           else f"exit code {proc.returncode}")
    return json.loads(lines[-1])


def summarise(key, label, spec, results):
    """One table row from the results of the repeated runs of a row."""
    seconds = statistics.median(r["train_seconds"] for r in results)
    last = results[-1]
    return {"key": key, "label": label, "samples": spec["samples"],
            "epoch_seconds": seconds * EPOCH / spec["samples"],
            "cpu_seconds": statistics.median(r["train_cpu_seconds"] for r in results)
            * EPOCH / spec["samples"],
            "runs": [r["train_seconds"] * EPOCH / spec["samples"] for r in results],
            "test_seconds": last.get("test_seconds"), "test_error": last.get("test_error"),
            "test_samples": spec.get("test_samples", 0), "backend": last.get("torch_backend"),
            "peak_mib": max(r["peak_kib"] for r in results) / 1024}


def peer_ratios(results, rows):
    """Notes: each package row's seconds over its peer's (``PEERS``), round by round.

    The rounds run the rows one after the other, so a round's two runs saw
    about the same load; the median of the per-round ratios is the figure.
    """
    samples = {key: spec["samples"] for key, _, spec in rows}
    notes = []
    for ours, peer in PEERS:
        pairs = list(zip(results.get(ours, []), results.get(peer, [])))
        if not pairs or samples[ours] != samples[peer]:
            continue
        ratios = [a["train_seconds"] / b["train_seconds"] for a, b in pairs]
        cpu = [a["train_cpu_seconds"] / b["train_cpu_seconds"] for a, b in pairs]
        notes.append(f"{ours} / {peer}, per round: " + ", ".join(f"{r:.2f}" for r in ratios)
                     + f" (median {statistics.median(ratios):.2f}; CPU seconds "
                     + f"{statistics.median(cpu):.2f})")
    return notes


def format_table(table, markdown):
    """The table as aligned text or markdown lines."""
    ref = next((row["epoch_seconds"] for row in table if row["key"] == REFERENCE), None)
    head = ["implementation", "timed on", "s / epoch", "x PyTorch f64", "CPU s / epoch",
            "test s", "test error", "peak MiB"]
    body = []
    for row in table:
        if "error" in row:
            body.append([row["label"], "", "failed: " + row["error"], "", "", "", "", ""])
            continue
        scaled = "" if row["samples"] == EPOCH else " (scaled)"
        body.append([
            row["label"], f"{row['samples']}{scaled}", f"{row['epoch_seconds']:.2f}",
            f"{row['epoch_seconds'] / ref:.2f}" if ref else "-", f"{row['cpu_seconds']:.2f}",
            f"{row['test_seconds']:.2f}" if row["test_seconds"] is not None else "-",
            f"{row['test_error']:.4f}" if row["test_error"] is not None else "-",
            f"{row['peak_mib']:.0f}"])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * 7) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return lines
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def fmt(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    return [fmt(head), fmt(["-" * w for w in widths]), *[fmt(cells) for cells in body]]


def main(argv=None):
    args = parse_args(argv)
    threads = args.threads or machine_info.blas_threads()
    rows, skipped = plan(args, threads)
    results = {key: [] for key, _, _ in rows}
    errors = {}
    with machine_info.OtherLoad() as load:
        for r in range(args.repeat):
            for key, label, spec in rows:
                if key in errors:
                    continue
                print(f"[{r + 1}/{args.repeat}] {label}: {spec['samples']} samples ...",
                      file=sys.stderr, flush=True)
                try:
                    results[key].append(run_worker(spec))
                except RuntimeError as exc:
                    errors[key] = str(exc)
    table = [dict(key=key, label=label, error=errors[key]) if key in errors
             else summarise(key, label, spec, results[key]) for key, label, spec in rows]
    command = "python bench/epoch.py " + " ".join(sys.argv[1:] if argv is None else argv)
    notes = [f"command: {command.strip()}",
             f"one epoch = {EPOCH} MNIST samples, 6c5-2s-12c5-2s, batch {BATCHSIZE}, "
             f"alpha {ALPHA:g}; median of {args.repeat} run(s) per row; "
             "each row in its own process (peak MiB = its ru_maxrss)",
             *machine_info.describe(threads),
             *[f"skipped {msg}" for msg in skipped]]
    notes += sorted({f"{row['key']} ran on {row['backend']}" for row in table
                     if row.get("backend")})
    notes.append(load.note())
    if args.repeat > 1:
        notes += [f"runs of {row['key']}: " + ", ".join(f"{s:.2f}" for s in row["runs"])
                  for row in table if "runs" in row]
    notes += peer_ratios(results, rows)
    print("\n".join(format_table(table, args.markdown)))
    print()
    print("\n".join(("- " if args.markdown else "") + note for note in notes))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
