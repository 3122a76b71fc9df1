"""The teaching figures: ``python -m cnntoolbox figures --out docs/img``.

Trains the toolbox's MNIST example (``cnntoolbox.example``, seeded) and
draws four small PNGs for ``docs/walkthrough.md``:

* ``rl.png``: the running loss ``net.rL`` over the batches;
* ``kernels.png``: the first conv layer's learned 5x5 kernels;
* ``feature_maps.png``: the maps ``a{j}`` of every layer for one test digit;
* ``misclassified.png``: test digits the net gets wrong, true and predicted label.

The example's images are the transposes of the MNIST digits (as in the
original, see ``data.prepare_data``); the figures transpose every map
and kernel back so that the digits read upright.  Needs matplotlib (the
``plot`` extra).
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from ..cnnff import cnnff
from ..data import load_mnist, prepare_data
from ..example import DEFAULT_OPTS, run_example
from ..netfields import DEFAULT_LAYERS

PROG = "cnntoolbox figures"
#: Misclassified digits shown (at most), as rows x columns.
GRID = (3, 8)
DPI = 80


def _save(fig, path):
    """Save a matplotlib figure as PNG through a temporary file in the same folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=DPI)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _image(ax, image, title=None):
    """One map or kernel, transposed back to the digit's orientation, without axes."""
    ax.imshow(np.asarray(image).T, cmap="gray", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def plot_rl(Figure, rL, path):
    """``rl.png``: the running loss of cnntrain, batch by batch."""
    fig = Figure(figsize=(5, 3))
    ax = fig.add_subplot()
    ax.plot(np.arange(1, len(rL) + 1), rL, linewidth=1)
    ax.set_xlabel("batch")
    ax.set_ylabel("net.rL")
    ax.set_title("running loss: rL = 0.99 rL + 0.01 L", fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


def plot_kernels(Figure, net, path):
    """``kernels.png``: the kernels k{1}{j} of the first conv layer, one panel each."""
    kernels = net["layers"][1]["k"][0]
    fig = Figure(figsize=(1.1 * len(kernels), 1.4))
    for j, kernel in enumerate(kernels):
        _image(fig.add_subplot(1, len(kernels), j + 1), kernel, f"k{{1}}{{{j + 1}}}")
    fig.suptitle("layer 2 kernels after training", fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def plot_feature_maps(Figure, net, image, label, path):
    """``feature_maps.png``: a{j} of every layer for one digit, a row per layer."""
    out = cnnff(net, image[:, :, np.newaxis])
    layers = out["layers"]
    columns = max(len(layer["a"]) for layer in layers)
    fig = Figure(figsize=(0.75 * columns, 0.85 * len(layers) + 0.4))
    for l, layer in enumerate(layers):
        name = {"i": "input", "c": "conv", "s": "sub"}[layer["type"]]
        for j, a in enumerate(layer["a"]):
            ax = fig.add_subplot(len(layers), columns, l * columns + j + 1)
            _image(ax, a[:, :, 0])
            if j == 0:
                ax.set_ylabel(f"{l + 1} {name}", fontsize=7)
    predicted = int(np.argmax(out["o"][:, 0]))
    fig.suptitle(f"a{{j}} of layers 1-{len(layers)} for one test digit "
                 f"(label {label}, net says {predicted})", fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def plot_misclassified(Figure, net, test_x, test_y, bad, er, path):
    """``misclassified.png``: the first wrongly classified test digits."""
    rows, cols = GRID
    shown = bad[:rows * cols]
    predicted = np.argmax(cnnff(net, test_x[:, :, shown])["o"], axis=0) if len(shown) else []
    fig = Figure(figsize=(0.9 * cols, 1.05 * rows + 0.3))
    for n, index in enumerate(shown):
        ax = fig.add_subplot(rows, cols, n + 1)
        _image(ax, test_x[:, :, index],
               f"{int(np.argmax(test_y[:, index]))} -> {int(predicted[n])}")
    fig.suptitle(f"misclassified test digits (true -> predicted); test error {100 * er:.2f}%",
                 fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Train the MNIST example and draw the walkthrough's figures.")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="folder for the PNGs (created if missing), e.g. docs/img")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="train and test on the first N samples only (a multiple of the "
                             f"batch size {DEFAULT_OPTS['batchsize']}; for quick runs)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training run (default 0)")
    parser.add_argument("--digit", type=int, default=0, metavar="I",
                        help="test digit (0-based) for feature_maps.png (default 0)")
    parser.add_argument("--data-dir", type=Path, metavar="DIR",
                        help="folder of the MNIST IDX files (default: the repository's data/)")
    return parser


def main(argv=None):
    """Entry point of ``python -m cnntoolbox figures``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print(f"{PROG}: error: needs matplotlib: pip install 'cnntoolbox[plot]'", file=sys.stderr)
        return 2
    try:
        if args.limit is not None and (args.limit < 1 or args.limit % DEFAULT_OPTS["batchsize"]):
            raise ValueError(f"--limit must be a positive multiple of {DEFAULT_OPTS['batchsize']}, "
                             f"got {args.limit}")
        _, _, test_x, test_y = prepare_data(load_mnist(args.data_dir), args.limit)
        if not 0 <= args.digit < test_x.shape[2]:
            raise ValueError(f"--digit must be between 0 and {test_x.shape[2] - 1}, got {args.digit}")
        args.out.mkdir(parents=True, exist_ok=True)
        result = run_example(layers=DEFAULT_LAYERS, seed=args.seed, limit=args.limit,
                             data_dir=args.data_dir, **DEFAULT_OPTS)
        net = result["net"]
        plot_rl(Figure, net["rL"], args.out / "rl.png")
        plot_kernels(Figure, net, args.out / "kernels.png")
        plot_feature_maps(Figure, net, test_x[:, :, args.digit],
                          int(np.argmax(test_y[:, args.digit])), args.out / "feature_maps.png")
        plot_misclassified(Figure, net, test_x, test_y, result["bad"], result["er"],
                           args.out / "misclassified.png")
    except (ValueError, OSError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    print(f"test error {100 * result['er']:.2f}% after {result['m_train']} training samples; "
          f"wrote rl.png, kernels.png, feature_maps.png, misclassified.png to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
