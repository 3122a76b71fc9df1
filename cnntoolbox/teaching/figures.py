"""The teaching figures: ``python -m cnntoolbox figures --out docs/img``.

Draws the PNGs of ``docs/walkthrough*.md``.  First, without any data:

* ``delta_flow.png``: the worked example's tiny net (Part 2, see
  :mod:`.worked`): every map and its delta as a heatmap, the kernels and
  their gradients, arrows labelled with the operation that makes each.

Then (unless ``--only delta-flow``) it trains the toolbox's MNIST example
(``cnntoolbox.cli.example``, seeded) and draws:

* ``rl.png``: the running loss ``net.rL`` over the batches;
* ``kernels.png``: the first conv layer's learned 5x5 kernels k, and rot180(k);
* ``feature_maps.png``: the maps ``a{j}`` of every layer for one test digit;
* ``misclassified.png``: test digits the net gets wrong, true and predicted label.

The example's images are the transposes of the MNIST digits (as in the
original, see ``data.prepare_data``); the figures transpose every map
and kernel back so that the digits read upright.  Every heatmap has a
colour scale, one per column or figure where the text compares magnitudes.
Text is :data:`FONT` points at :data:`DPI`: at least 9 pixels where GitHub
shows the image (at most :data:`GITHUB_WIDTH` wide).  Needs matplotlib (the
``plot`` extra).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from ..files import atomic
from ..cnnff import cnnff
from ..datasets.mnist import load_mnist, prepare_data
from ..cli import PROG as COMMAND, usage_error_line
from ..cli.example import DEFAULT_OPTS, run_example
from ..netlayout import DEFAULT_LAYERS
from .hand import C1, C2, S1, S2
from .worked import run_example as run_worked_example

PROG = f"{COMMAND} figures"
#: The width GitHub shows a README or .md image at, at most (its content column), in pixels.
GITHUB_WIDTH = 830
#: Font size of ticks and labels (points): at DPI, no figure here is scaled below 9 px on GitHub.
FONT = 9
RED = "#b2182b"
#: Maps to a row of feature_maps.png.
PER_ROW = 6
#: Misclassified digits shown (at most), as rows x columns.
GRID = (3, 8)
DPI = 80


def _save(fig, path):
    """Save a matplotlib figure as PNG through a temporary file in the same folder."""
    atomic.write(path, lambda f: fig.savefig(f, format="png", dpi=DPI))


def _image(ax, image, title=None):
    """One digit, transposed back to its orientation, on a grey scale, without axes."""
    ax.imshow(np.asarray(image).T, cmap="gray", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=FONT)


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
    """``kernels.png``: the first conv layer's kernels k{1}{j}, and below each rot180(k{1}{j}).

    ``convn`` slides the kernel rotated by 180 degrees, so rot180(k) is the
    pattern its map responds to most; both rows share one colour scale,
    centred on 0.
    """
    from .. import literal

    kernels = net["layers"][1]["k"][0]
    top = max(float(np.max(np.abs(k))) for k in kernels)
    cols = len(kernels)
    fig = Figure(figsize=(1.2 + 1.05 * cols + 0.9, 3.1))
    width, height = fig.get_size_inches()
    shown = None
    for row, (label, turn) in enumerate((("k{1}{j}\nas stored", False),
                                         ("rot180(k{1}{j}):\nwhat its map\nresponds to", True))):
        bottom = height - 0.55 - (row + 1) * 1.2
        fig.text(0.08 / width, (bottom + 0.45) / height, label, fontsize=FONT, va="center")
        for j, kernel in enumerate(kernels):
            ax = fig.add_axes([(1.25 + 1.05 * j) / width, bottom / height, 0.9 / width, 0.9 / height])
            shown = ax.imshow((literal.rot180(kernel) if turn else kernel).T, cmap="RdBu_r", vmin=-top,
                              vmax=top, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"j = {j + 1}", fontsize=FONT)
    bar = fig.colorbar(shown, cax=fig.add_axes([(width - 0.55) / width, 0.35 / height,
                                                0.12 / width, (height - 1.1) / height]))
    bar.ax.tick_params(labelsize=FONT)
    fig.suptitle("layer 2 kernels after training (5x5; red positive, blue negative, one scale)",
                 fontsize=FONT + 1)
    _save(fig, path)


def plot_feature_maps(Figure, net, image, label, path):
    """``feature_maps.png``: a{j} of every layer for one digit, each map at one size.

    Every map gets a panel of the same size, so a 4x4 map shows its 16
    values as clearly as the input its 784 (the row says each map's size);
    at most :data:`PER_ROW` maps to a row. One grey scale from 0 to 1 (the
    input and every sigmoid output lie in it), with one colour bar.
    """
    out = cnnff(net, image[:, :, np.newaxis])
    layers = out["layers"]
    box, gap, left = 0.9, 0.14, 1.45
    lines = [(l, j0) for l, layer in enumerate(layers) for j0 in range(0, len(layer["a"]), PER_ROW)]
    width = left + PER_ROW * (box + gap) + 0.8
    height = 0.6 + len(lines) * (box + 0.25) + 0.1
    fig = Figure(figsize=(width, height))
    shown = None
    for n, (l, j0) in enumerate(lines):
        layer = layers[l]
        bottom = height - 0.6 - (n + 1) * (box + 0.25) + 0.25
        if j0 == 0:
            name = {"i": "input", "c": "conv", "s": "sub"}[layer["type"]]
            rows, cols = layer["a"][0].shape[:2]
            fig.text(0.08 / width, (bottom + box / 2) / height,
                     f"layer {l + 1} {name}\n{len(layer['a'])} x {rows}x{cols}", fontsize=FONT, va="center")
        for j, a in enumerate(layer["a"][j0:j0 + PER_ROW]):
            ax = fig.add_axes([(left + j * (box + gap)) / width, bottom / height, box / width, box / height])
            shown = ax.imshow(a[:, :, 0].T, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
    bar = fig.colorbar(shown, cax=fig.add_axes([(width - 0.55) / width, 0.3 / height, 0.12 / width,
                                                (height - 1.0) / height]))
    bar.ax.tick_params(labelsize=FONT)
    predicted = int(np.argmax(out["o"][:, 0]))
    fig.suptitle(f"a{{j}} of layers 1-{len(layers)} for one test digit (label {label}, net says "
                 f"{predicted}); every map at one size", fontsize=FONT + 1)
    _save(fig, path)


def plot_delta_flow(Figure, ex, path):
    """``delta_flow.png``: the worked example, a row per layer: map, delta, kernel, kernel gradient.

    Forward arrows run down the map column, backward (red) arrows up the
    delta column.  Each column has one colour scale (the maps from 0 to 1,
    the deltas, the kernels and the gradients each centred on 0), so the
    deltas' magnitudes compare across layers; each delta's title gives its
    largest magnitude.

    Parameters
    ----------
    Figure : matplotlib.figure.Figure
    ex : cnntoolbox.teaching.worked.Example
        Its real state (Part 2) is drawn.
    path : Path
    """
    from matplotlib.patches import ConnectionPatch
    from matplotlib.ticker import MaxNLocator

    net, values = ex.real.bp, ex.real.package
    layers = net["layers"]
    rows = [("input x", layers[0]["a"][0][:, :, 0], None, None),
            ("C1", values_of(layers, C1), values["d_c1"], (layers[C1]["k"][0][0], values["dk_c1"])),
            ("S1", values_of(layers, S1), values["d_s1"], None),
            ("C2", values_of(layers, C2), values["d_c2"], (layers[C2]["k"][0][0], values["dk_c2"])),
            ("S2", values_of(layers, S2), values["d_s2"], None),
            ("fv", net["fv"], net["fvd"], None), ("o", net["o"], net["od"], None)]
    forward = ["convn(x, k, 'valid') + b, sigm", "mean of 2x2 blocks", "convn(a, k, 'valid') + b, sigm",
               "mean of 2x2 blocks", "reshape, column by column", "sigm(ffW * fv + ffb)"]
    backward = ["expand / scale^2 .* f'(C1)", "convn(d, rot180(k), 'full')", "expand / scale^2 .* f'(C2)",
                "reshape", "ffW' * od"]
    deltas = [r[2] for r in rows if r[2] is not None]
    kernels = [r[3] for r in rows if r[3] is not None]
    scale = {"d": max(float(np.max(np.abs(d))) for d in deltas),
             "k": max(float(np.max(np.abs(k))) for k, _ in kernels),
             "dk": max(float(np.max(np.abs(g))) for _, g in kernels)}
    width, pitch, box, head = 9.6, 1.22, 0.78, 0.9
    height = head + len(rows) * pitch + 0.9
    fig = Figure(figsize=(width, height))
    columns = {"a": 2.05, "d": 5.0, "k": 7.1, "dk": 8.45}          # left edges, inches
    style = {"a": ("viridis", 0.0, 1.0), "d": ("RdBu_r", -scale["d"], scale["d"]),
             "k": ("RdBu_r", -scale["k"], scale["k"]), "dk": ("RdBu_r", -scale["dk"], scale["dk"])}
    images = {}

    def panel(row, column, title, value):
        value = np.atleast_2d(np.asarray(value))
        rows_, cols_ = value.shape
        w, h = (box * cols_ / max(value.shape), box * rows_ / max(value.shape))
        top = height - head - row * pitch
        ax = fig.add_axes([(columns[column] + (box - w) / 2) / width, (top - box + (box - h) / 2) / height,
                           w / width, h / height])
        cmap, vmin, vmax = style[column]
        images[column] = ax.imshow(value, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if title:
            fig.text((columns[column] + box + 0.08) / width, (top - box / 2) / height, title,
                     fontsize=FONT, ha="left", va="center")
        return ax

    maps, dax = [], {}
    for n, (name, a, d, k) in enumerate(rows):
        size = "x".join(str(v) for v in np.asarray(a).shape)
        fig.text(0.1 / width, (height - head - n * pitch - box / 2) / height, f"{name}\n{size}",
                 fontsize=FONT + 1, va="center", weight="bold")
        maps.append(panel(n, "a", None, a))
        if d is not None:
            dax[n] = panel(n, "d", f"max |d|\n{float(np.max(np.abs(d))):.2g}", d)
        if k is not None:
            panel(n, "k", None, k[0])
            kax = panel(n, "dk", None, k[1])
            fig.add_artist(ConnectionPatch(xyA=(1, 0.95), coordsA=dax[n].transAxes, xyB=(0, 0.5),
                                           coordsB=kax.transAxes, arrowstyle="-|>", color=RED, lw=1.2,
                                           connectionstyle="arc3,rad=-0.35", mutation_scale=11))
    fig.text((columns["d"] + box / 2) / width, (height - head - 0.5 * box) / height,
             "the input\ngets no delta", fontsize=FONT, va="center", ha="center")
    for column, label in (("a", "map a"), ("d", "delta d"), ("k", "kernel k"), ("dk", "gradient dk")):
        fig.text((columns[column] + box / 2) / width, (height - head + 0.12) / height, label,
                 fontsize=FONT + 1, ha="center", va="bottom", weight="bold")

    def arrow(a, b, start, end, colour):
        fig.add_artist(ConnectionPatch(xyA=start, coordsA=a.transAxes, xyB=end, coordsB=b.transAxes,
                                       arrowstyle="-|>", color=colour, lw=1.2, mutation_scale=11,
                                       shrinkA=2, shrinkB=2))

    for n, label in enumerate(forward):
        arrow(maps[n], maps[n + 1], (0.5, 0), (0.5, 1), "black")
        fig.text((columns["a"] - 0.1) / width, (height - head - n * pitch - box - 0.22) / height, label,
                 fontsize=FONT, ha="right", va="center")
    for n, label in enumerate(backward, start=1):
        arrow(dax[n + 1], dax[n], (0.5, 1), (0.5, 0), RED)
        fig.text((columns["d"] - 0.1) / width, (height - head - n * pitch - box - 0.22) / height, label,
                 fontsize=FONT, ha="right", va="center", color=RED)
    arrow(maps[-1], dax[len(rows) - 1], (1, 0.5), (0, 0.5), RED)
    last = height - head - (len(rows) - 1) * pitch - box - 0.08
    fig.text((columns["a"] + box + 0.1) / width, last / height, "od = e .* o .* (1 - o)", fontsize=FONT,
             va="top", color=RED)
    fig.text((columns["k"] + box / 2) / width, (height - head - 2 * pitch + 0.1) / height,
             "dk = convn(flipall(a), d, 'valid')\n(a: the layer's input)", fontsize=FONT, ha="left",
             va="center", color=RED)
    for n, (column, label) in enumerate((("a", "maps a (0 to 1)"), ("d", "deltas d (one scale)"),
                                         ("k", "kernels k"), ("dk", "gradients dk"))):
        left = {"a": 1.3, "d": 4.25, "k": 6.55, "dk": 8.1}[column]
        bar = fig.colorbar(images[column], cax=fig.add_axes([left / width, 0.25 / height,
                                                             (1.45 if column in "ad" else 1.2) / width,
                                                             0.14 / height]), orientation="horizontal")
        bar.ax.tick_params(labelsize=FONT)
        bar.ax.xaxis.get_offset_text().set_fontsize(FONT)
        bar.locator = MaxNLocator(3)
        bar.update_ticks()
        bar.ax.set_title(label, fontsize=FONT)
    fig.text(0.1 / width, (height - 0.3) / height,
             "The worked example (Part 2): each layer's map, its delta (red: backward) and, "
             "for a conv layer, its kernel and gradient", fontsize=FONT + 1, va="center")
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
                 fontsize=FONT + 1)
    fig.tight_layout()
    _save(fig, path)


class _Parser(argparse.ArgumentParser):
    """argparse with the command line's one-line usage error (the usage itself is for --help)."""

    def error(self, message):
        self.exit(2, usage_error_line(self.prog, message) + "\n")


def build_parser():
    parser = _Parser(
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
