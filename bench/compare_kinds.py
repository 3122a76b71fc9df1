"""The same MNIST epoch with the original's kinds, with ReLU, max-pooling and softmax, and
with fully connected 'f' layers and dropout.

Usage (from the repository root)::

    python bench/compare_kinds.py              # one full epoch each (60000 training digits)
    python bench/compare_kinds.py --limit 600  # a quick run on the first 600 digits

Both rows run the toolbox's MNIST example (``cnntoolbox.cli.example.run_example``:
batches of 50, one epoch, seed 0, then ``cnntest`` on the 10000 test digits),
one after the other in this process:

* the original: ``6c5-2s-12c5-2s``, sigmoid convolutions, mean-pooling,
  sigmoid output with squared error, alpha 1 (test_example_CNN.m);
* the opt-in kinds: ``6c5r-2m-12c5r-2m``, ReLU convolutions, max-pooling,
  softmax output with cross-entropy, alpha 0.1 (on the first 6000 digits
  alpha 0.05, 0.1, 0.3 and 1 gave 14.2%, 9.7%, 9.4% and 89.7% test error:
  the original's alpha 1 is far too large for it);
* the original's net with a fully connected hidden layer of 100 sigmoid
  units (``6c5-2s-12c5-2s-100f``, NN's hidden layer), alpha 1, without and
  with ``dropoutFraction`` 0.5 (NN's dropout: masks in training, times
  0.5 in ``cnntest``);
* the ReLU net with 100 ReLU units and dropout 0.5, alpha 0.1.

It prints a markdown table: test error, training and test seconds.  Times
are wall-clock seconds on whatever else the machine is doing.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnntoolbox import cnntest  # noqa: E402
from cnntoolbox.datasets.mnist import load_mnist, prepare_data  # noqa: E402
from cnntoolbox.cli.example import run_example  # noqa: E402

#: (label, layers, output, alpha, dropoutFraction) of each row.
ROWS = [("original: sigmoid, mean-pool, squared error", "6c5-2s-12c5-2s", None, 1.0, None),
        ("ReLU, max-pool, softmax + cross-entropy", "6c5r-2m-12c5r-2m", "softmax", 0.1, None),
        ("original + 100 sigmoid units ('f')", "6c5-2s-12c5-2s-100f", None, 1.0, None),
        ("original + 100 sigmoid units, dropout 0.5", "6c5-2s-12c5-2s-100f", None, 1.0, 0.5),
        ("ReLU, max-pool, softmax + 100 ReLU units, dropout 0.5", "6c5r-2m-12c5r-2m-100fr",
         "softmax", 0.1, 0.5)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, metavar="N",
                        help="train and test on the first N digits only (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="initial weights and order (default 0)")
    args = parser.parse_args(argv)
    lines = ["| net | layers | output | alpha | dropout | test error | train s | test s |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    _, _, test_x, test_y = prepare_data(load_mnist(), args.limit)
    for label, layers, output, alpha, dropout in ROWS:
        result = run_example(layers=layers, alpha=alpha, output=output, seed=args.seed,
                             limit=args.limit, verbose=False, dropout=dropout)
        start = time.perf_counter()
        er, _ = cnntest(result["net"], test_x, test_y)
        test_seconds = time.perf_counter() - start
        assert er == result["er"]
        lines.append(f"| {label} | `{layers}` | {output or 'sigm'} | {alpha:g} | "
                     f"{dropout or '-'} | {100 * er:.2f}% | {result['train_seconds']:.1f} | "
                     f"{test_seconds:.1f} |")
        print(f"{label}: test error {100 * er:.2f}% ({result['m_train']} training, "
              f"{result['m_test']} test digits), {result['train_seconds']:.1f} s", file=sys.stderr)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
