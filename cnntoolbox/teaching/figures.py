"""The teaching figures: ``python -m cnntoolbox figures --out docs/img``.

Draws the PNGs of ``docs/walkthrough*.md``.  First, without any data:

* ``delta_flow.png``: the worked example's tiny net (Part 2, see
  :mod:`.worked`): every map and its delta as a heatmap, the kernels and
  their gradients, arrows labelled with the operation that makes each.

Then (unless ``--only delta-flow``) it trains the toolbox's MNIST example
(``cnntoolbox.cli.example``, seeded) and draws:

* ``rl.png``: the running loss ``net.rL`` over the batches;
* ``kernels.png``: the first conv layer's learned 5x5 kernels;
* ``feature_maps.png``: the maps ``a{j}`` of every layer for one test digit;
* ``misclassified.png``: test digits the net gets wrong, true and predicted label.

The example's images are the transposes of the MNIST digits (as in the
original, see ``data.prepare_data``); the figures transpose every map
and kernel back so that the digits read upright.  Every heatmap has its
colour scale.  Needs matplotlib (the
``plot`` extra).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from ..files import atomic
from ..cnnff import cnnff
from ..datasets.mnist import load_mnist, prepare_data
from ..cli import PROG as COMMAND
from ..cli.example import DEFAULT_OPTS, run_example
from ..netlayout import DEFAULT_LAYERS
from .hand import C1, C2, S1, S2
from .worked import run_example as run_worked_example

PROG = f"{COMMAND} figures"
#: Misclassified digits shown (at most), as rows x columns.
GRID = (3, 8)
DPI = 80


def _save(fig, path):
    """Save a matplotlib figure as PNG through a temporary file in the same folder."""
    atomic.write(path, lambda f: fig.savefig(f, format="png", dpi=DPI))


def _image(ax, image, title=None, colorbar=False, cmap="gray", symmetric=False):
    """One map or kernel, transposed back to the digit's orientation, without axes.

    ``colorbar`` adds its colour scale; ``symmetric`` centres the scale on 0
    (for kernels and deltas, whose sign matters).
    """
    image = np.asarray(image)
    limits = {}
    if symmetric:
        top = float(np.max(np.abs(image))) or 1.0
        limits = {"vmin": -top, "vmax": top}
    shown = ax.imshow(image.T, cmap=cmap, interpolation="nearest", **limits)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    if colorbar:
        bar = ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
        bar.ax.tick_params(labelsize=6)
        bar.ax.yaxis.get_offset_text().set_fontsize(6)


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
    fig = Figure(figsize=(1.6 * len(kernels), 1.7))
    for j, kernel in enumerate(kernels):
        _image(fig.add_subplot(1, len(kernels), j + 1), kernel, f"k{{1}}{{{j + 1}}}",
               colorbar=True, cmap="RdBu_r", symmetric=True)
    fig.suptitle("layer 2 kernels after training (5x5; red positive, blue negative)", fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def plot_feature_maps(Figure, net, image, label, path):
    """``feature_maps.png``: a{j} of every layer for one digit, a row per layer.

    Each map is drawn at a size proportional to its own (a 4x4 map is a
    seventh of the 28x28 input), all on one grey scale from 0 to 1 (the
    input and every sigmoid output lie in it), with one colour bar.
    """
    out = cnnff(net, image[:, :, np.newaxis])
    layers = out["layers"]
    columns = max(len(layer["a"]) for layer in layers)
    side = 1.0                                        # inches of a 28x28 map
    full = layers[0]["a"][0].shape[0]
    width, height = 1.3 + columns * (side + 0.12) + 0.6, 0.5 + len(layers) * (side + 0.3)
    fig = Figure(figsize=(width, height))
    shown = None
    for l, layer in enumerate(layers):
        name = {"i": "input", "c": "conv", "s": "sub"}[layer["type"]]
        rows, cols = layer["a"][0].shape[:2]
        top = 1 - (0.45 + l * (side + 0.3)) / height
        fig.text(0.1 / width, top - 0.5 * side / height,
                 f"layer {l + 1} {name}\n{len(layer['a'])} x {rows}x{cols}", fontsize=8, va="center")
        for j, a in enumerate(layer["a"]):
            size = side * rows / full
            ax = fig.add_axes([(1.3 + j * (side + 0.12)) / width, top - size / height,
                               size / width, size / height])
            shown = ax.imshow(a[:, :, 0].T, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
    bar = fig.colorbar(shown, cax=fig.add_axes([(width - 0.45) / width, 0.15, 0.12 / width, 0.6]))
    bar.ax.tick_params(labelsize=7)
    predicted = int(np.argmax(out["o"][:, 0]))
    fig.suptitle(f"a{{j}} of layers 1-{len(layers)} for one test digit "
                 f"(label {label}, net says {predicted}), drawn to scale", fontsize=9)
    _save(fig, path)


def plot_delta_flow(Figure, ex, path):
    """``delta_flow.png``: the worked example's maps (top), deltas (middle), kernels and gradients.

    Parameters
    ----------
    Figure : matplotlib.figure.Figure
    ex : cnntoolbox.teaching.worked.Example
        Its real state (Part 2) is drawn.
    path : Path
    """
    from matplotlib.patches import ConnectionPatch

    net, values = ex.real.bp, ex.real.package
    layers = net["layers"]
    maps = [("input x", layers[0]["a"][0][:, :, 0]), ("C1 a", values_of(layers, C1)),
            ("S1 a", values_of(layers, S1)), ("C2 a", values_of(layers, C2)),
            ("S2 a", values_of(layers, S2)), ("fv", net["fv"]), ("o", net["o"])]
    deltas = [None, ("C1 d", values["d_c1"]), ("S1 d", values["d_s1"]), ("C2 d", values["d_c2"]),
              ("S2 d", values["d_s2"]), ("fvd", net["fvd"]), ("od", net["od"])]
    kernels = {0: (0, "C1 k", layers[C1]["k"][0][0]), 1: (1, "C1 dk", values["dk_c1"]),
               2: (2, "C2 k", layers[C2]["k"][0][0]), 3: (3, "C2 dk", values["dk_c2"])}
    fig = Figure(figsize=(17, 8.2))
    grid = fig.add_gridspec(3, 7, left=0.02, right=0.97, top=0.9, bottom=0.03,
                            wspace=1.25, hspace=0.8)

    def panel(row, col, title, value, symmetric):
        ax = fig.add_subplot(grid[row, col])
        value = np.asarray(value)
        size = "x".join(str(n) for n in value.shape)
        top = float(np.max(np.abs(value))) or 1.0
        image = ax.imshow(value, cmap="RdBu_r" if symmetric else "viridis", interpolation="nearest",
                          **({"vmin": -top, "vmax": top} if symmetric else {}))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{title}  {size}", fontsize=9)
        bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        bar.ax.tick_params(labelsize=6)
        bar.ax.yaxis.get_offset_text().set_fontsize(6)
        return ax, bar.ax

    top = [panel(0, n, title, value, False) for n, (title, value) in enumerate(maps)]
    mid = [None] + [panel(1, n, *deltas[n], True) for n in range(1, 7)]
    low = {key: panel(2, col, title, value, True) for key, (col, title, value) in kernels.items()}
    ax0 = fig.add_subplot(grid[1, 0])
    ax0.axis("off")
    ax0.text(0.5, 0.5, "the input layer\ngets no delta", ha="center", va="center", fontsize=9)
    ticks = 30                                         # points: room for a colour bar's labels

    def arrow(a, b, label, start, end, colour="black", shrink=(0, 0), below=False):
        fig.add_artist(ConnectionPatch(xyA=start, coordsA=a.transAxes, xyB=end, coordsB=b.transAxes,
                                       arrowstyle="-|>", color=colour, lw=1.3, mutation_scale=12,
                                       shrinkA=shrink[0], shrinkB=shrink[1]))
        pa, pb = a.transAxes.transform(start), b.transAxes.transform(end)
        pa[0] += np.sign(pb[0] - pa[0]) * shrink[0] * fig.dpi / 72
        pb[0] -= np.sign(pb[0] - pa[0]) * shrink[1] * fig.dpi / 72
        x, y = fig.transFigure.inverted().transform((pa + pb) / 2)
        if below == "left":
            fig.text(x - 0.005, y, label, fontsize=8, ha="right", va="center", color=colour)
        elif below:
            fig.text(x + 0.005, y, label, fontsize=8, ha="left", va="center", color=colour)
        else:
            fig.text(x, y + 0.01, label, fontsize=8, ha="center", va="bottom", color=colour)

    forward = ["convn(a, k, 'valid')\n+ b, sigm", "mean of 2x2\n(convn,\nevery 2nd)",
               "convn(a, k, 'valid')\n+ b, sigm", "mean of 2x2\n(convn,\nevery 2nd)",
               "reshape\n(column by\ncolumn)", "sigm(ffW * fv\n+ ffb)"]
    for n, label in enumerate(forward):
        arrow(top[n][1], top[n + 1][0], label, (1, 0.5), (0, 0.5), shrink=(ticks, 0))
    red = "#b2182b"
    backward = {6: "ffW' * od", 5: "reshape", 4: "expand\n/ scale^2\n.* f'(C2)",
                3: "convn(d,\nrot180(k),\n'full')", 2: "expand\n/ scale^2\n.* f'(C1)"}
    for n, label in backward.items():
        arrow(mid[n][0], mid[n - 1][1], label, (0, 0.5), (1, 0.5), colour=red, shrink=(0, ticks))
    arrow(top[6][0], mid[6][0], "od = e .* o .* (1 - o)", (0.5, 0), (0.5, 1.2), colour=red,
          below="left")
    for col, a_name in ((1, "x"), (3, "S1 a")):
        arrow(mid[col][0], low[col][0], f"dk = convn(flipall({a_name}), d, 'valid')",
              (0.5, 0), (0.5, 1.2), colour=red, below=True)
    fig.suptitle("The worked example (Part 2): maps a (top), their deltas d (middle, red arrows: "
                 "backward), kernels k and their gradients dk (bottom). Sizes in the titles.",
                 fontsize=11)
    _save(fig, path)


def values_of(layers, l):
    """The one map of layer ``l`` as a 2-D array."""
    return layers[l]["a"][0][:, :, 0]


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
        prog=PROG, description="Draw the walkthrough's figures: the worked example's delta flow "
                               "(no data needed), then train the MNIST example for the others.")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="folder for the PNGs (created if missing), e.g. docs/img")
    parser.add_argument("--only", choices=("delta-flow",),
                        help="draw only this figure (delta-flow: no MNIST, no training)")
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
        if args.only is None:
            _, _, test_x, test_y = prepare_data(load_mnist(args.data_dir), args.limit)
            if not 0 <= args.digit < test_x.shape[2]:
                raise ValueError(f"--digit must be between 0 and {test_x.shape[2] - 1}, "
                                 f"got {args.digit}")
        args.out.mkdir(parents=True, exist_ok=True)
        plot_delta_flow(Figure, run_worked_example(), args.out / "delta_flow.png")
        if args.only == "delta-flow":
            print(f"wrote delta_flow.png to {args.out}")
            return 0
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
          f"wrote delta_flow.png, rl.png, kernels.png, feature_maps.png, misclassified.png "
          f"to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
