"""Rewrite the marked parts of docs/walkthrough*.md from the worked example.

The walkthrough's prose is written by hand; every number in it sits between
two markers, ``<!-- begin:NAME -->`` and ``<!-- end:NAME -->``, and is
written here from :func:`cnntoolbox.teaching.worked.run_example`.  A marker
pair on one line gets inline text, the others a fenced block (the
exercises' code, :mod:`.practice`, in the file's language).  Text after
the last marker (a later section added by hand) is kept as it is.  Running

    python -m cnntoolbox.teaching.walkthrough            # rewrite docs/walkthrough*.md
    python -m cnntoolbox.teaching.walkthrough --check    # exit 1 if a file is out of date

keeps the documents and the code in step; ``tests/test_teaching.py`` fails
when they differ.
"""

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from ..files import atomic
from ..cnnsetup import cnnsetup
from ..errors import GradientCheckError
from ..netlayout import DEFAULT_LAYERS, parse_layers
from . import exercises, practice, questions
from . import text as t
from . import worked
from .hand import C1, C2, S2
from .octave import MESSAGES as OCTAVE_MESSAGES

MARKER = re.compile(r"<!-- begin:(?P<name>[\w.:=-]+) -->(?P<body>.*?)<!-- end:(?P=name) -->",
                    re.DOTALL)
#: An inline marker at the start of a line: cmark-gfm (GitHub's parser) starts a raw-HTML block
#: there, which cuts the paragraph and shows the line's code spans with their backticks.
LINE_START = re.compile(r"^ {0,3}<!-- begin:(?P<name>[\w.:=-]+) -->[^\n]*?<!-- end:(?P=name) -->",
                        re.MULTILINE)
#: The walkthroughs of a source checkout, relative to the repository root.
DOCS = ("docs/walkthrough.md", "docs/walkthrough.zh-TW.md")
#: The post's last map (section "全連接層"): 20x20.
POST_MAP = 20


def mnist_shape():
    """The toolbox's MNIST net (6c5-2s-12c5-2s on 28x28): last maps, their size, features, input size."""
    x, y = np.zeros((28, 28, 1)), np.zeros((10, 1))
    net = cnnsetup({"layers": parse_layers(DEFAULT_LAYERS)}, x, y,
                   rng=np.random.default_rng(0))
    rows = cols = x.shape[0]
    for layer in net["layers"][1:]:
        if layer["type"] == "c":
            rows, cols, maps = rows - layer["kernelsize"] + 1, cols - layer["kernelsize"] + 1, layer["outputmaps"]
        else:
            rows, cols = rows // layer["scale"], cols // layer["scale"]
    return {"maps": maps, "size": f"{rows}x{cols}", "fv": int(net["ffW"].shape[1]),
            "in": f"{x.shape[0]}x{x.shape[1]}"}


def language(path):
    """The language of a walkthrough file: "zh-TW" for ``*.zh-TW.md``, else "en"."""
    return "zh-TW" if Path(path).name.endswith(".zh-TW.md") else "en"


def contents(ex, lang="en"):
    """Everything the markers can hold: name -> lines (a text block), ("python", code) or str (inline).

    Parameters
    ----------
    ex : cnntoolbox.teaching.worked.Example
    lang : str
        "en" or "zh-TW": the language of the exercises' code comments.
    """
    join = t.fmt_list
    sizes = t.layer_sizes(ex.real.net)
    setup = ex.setup
    onum, fvnum = setup["ffW"].shape
    ks = setup["layers"][C1]["kernelsize"]
    scale = setup["layers"][S2]["scale"]
    hidden = dict(questions.hidden_columns(ex))
    slow = questions.slowdown(ex)
    sat = exercises.saturated(ex)
    reach = questions.reach(ex.real)
    mnist = mnist_shape()
    fvd2 = exercises.fvd_by_hand(ex)
    no_scale = exercises.mutated(ex.real, "no /scale^2")
    no_rot = exercises.mutated(ex.real, "no rot180")
    out = {f"step:{key}": t.step_block(ex, key) for key in t.STEPS}
    out.update(t.render_exercises(ex))
    out.update({
        "net": t.render_net(ex), "post.state": t.render_post_state(ex),
        "loss": t.render_loss(ex), "slip": t.render_slip(ex),
        "scale": t.render_scale(ex), "convn": t.render_convn(ex),
        "rot180": t.render_transpose(ex), "flipall": t.render_flipall(ex),
        "sigmoid": t.render_sigmoid(ex), "gradcheck": t.render_gradcheck(ex),
        "hidden": t.render_hidden(ex),
        "size.in": sizes[0], "size.c2": sizes[C2],
        "size.s2": sizes[S2], "ks": f"{ks}x{ks}", "scale.n": str(scale),
        "scale.sq": str(scale ** 2), "fvnum": str(fvnum),
        "ffW.shape": f"{onum}x{fvnum}", "post.W": f"{fvnum}x{onum}",
        "grid": f"1/{round(1 / worked.GRID)}",
        "post.map": f"{POST_MAP}x{POST_MAP}", "post.fv": str(POST_MAP * POST_MAP),
        "mnist.maps": str(mnist["maps"]), "mnist.size": mnist["size"], "mnist.fv": str(mnist["fv"]),
        "mnist.in": mnist["in"],
        "post.errors": join(worked.POST_ERRORS),
        "post.output": t.fmt(worked.POST_OUTPUT),
        "post.fprime": t.fmt(worked.POST_OUTPUT * (1 - worked.POST_OUTPUT)),
        "post.od": join(ex.post.shown["od"]),
        "post.y": join(ex.post.y[:, 0]),
        "post.L": t.fmt(ex.post.shown["L"]),
        "post.rms": t.fmt(questions.loss_question(ex.post)["rms"]),
        "real.o": join(ex.real.net["o"][:, 0]),
        "real.od": join(ex.real.package["od"]),
        "real.fprime_o": join(ex.real.package["fprime_o"]),
        "max.od": t.fmt(np.max(np.abs(ex.real.package["od"]))),
        "max.fvd": t.fmt(np.max(np.abs(ex.real.package["fvd"]))),
        "reach.min": str(reach[0]), "reach.max": str(reach[1]),
        "oe.o": join(hidden["o = e"]["o"]), "oe.fprime": join(hidden["o = e"]["fprime"]),
        "oe.od": join(hidden["o = e"]["od"]),
        "scale.ratio": t.fmt(questions.scale_question(ex.real)["ratio"]),
        "gradcheck.count": str(exercises.weight_count(setup)),
        "trained.steps": str(t.TRAIN_STEPS),
        "trained.o": join(ex.columns["trained"]["o"][:, 0]),
        "slow.e": t.fmt(round(slow["e"], 1)), "slow.fprime": t.fmt(round(slow["fprime"], 1)),
        "sat.o": join(sat["o"]), "sat.od": t.fmt(np.max(np.abs(sat["od"]))),
        "sat.half": t.fmt(sat["half"]), "sat.ratio": t.fmt(round(sat["ratio"])),
        "fvd2": t.fmt(fvd2["sum"]),
        "noscale.c2": t.fmt(no_scale["ratio"][C2]), "noscale.c1": t.fmt(no_scale["ratio"][C1]),
        "norot.c1": t.fmt(no_rot["dk_error"][C1]),
        "m": str(ex.real.y.shape[1]), "alpha": t.fmt(t.ALPHA),
        "ex.scale": str(exercises.SCALE3_LAYERS[2]["scale"]),
        "ex.size": f"{exercises.SCALE3_SIZE}x{exercises.SCALE3_SIZE}",
        "agreement": f"{t.AGREEMENT:g}",
        "epsilon": f"{t.EPSILON:g}",
        "tolerance": f"{t.TOLERANCE:g}",
    })
    out.update({f"octave.{name}": message for name, message in OCTAVE_MESSAGES.items()})
    out.update({f"code:{name}.{part}": ("python", practice.code(name, part, lang))
                for name in practice.EXERCISES for part in ("starter", "answer")})
    return out


def fill(text, values):
    """Put ``values`` between the markers of ``text``.

    Returns
    -------
    new_text : str
    used : set of str
        The marker names found.

    Raises
    ------
    ValueError
        A marker whose name ``values`` does not know, a block marker whose
        begin and end share a line, or an inline marker that starts a line.
    """
    start = LINE_START.search(text)
    if start:
        line = text.count("\n", 0, start.start()) + 1
        raise ValueError(f"inline marker '{start['name']}' starts line {line}: GitHub would show the line as "
                         "raw HTML and cut its paragraph; move a word in front of it")
    used = set()

    def replace(match):
        name = match["name"]
        if name not in values:
            raise ValueError(f"unknown marker '{name}' (known: {', '.join(sorted(values))})")
        used.add(name)
        value = values[name]
        inline = "\n" not in match["body"]
        if isinstance(value, str):
            if not inline:
                raise ValueError(f"marker '{name}' holds inline text: put begin and end on one line")
            body = value
        else:
            if inline:
                raise ValueError(f"marker '{name}' holds a block: put begin and end on their own lines")
            fence, lines = value if isinstance(value, tuple) else ("text", "\n".join(value))
            body = f"\n```{fence}\n" + lines.rstrip("\n") + "\n```\n"
        return f"<!-- begin:{name} -->{body}<!-- end:{name} -->"

    return MARKER.sub(replace, text), used


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    atomic.write(path, lambda f: f.write(text.encode("utf-8")))


def default_paths():
    """The walkthroughs of the source checkout this package sits in."""
    root = Path(__file__).resolve().parents[2]
    paths = [root / doc for doc in DOCS if (root / doc).is_file()]
    if not paths:
        raise FileNotFoundError(f"no {DOCS[0]} under {root}: pass the file to rewrite")
    return paths


def main(argv=None):
    """``python -m cnntoolbox.teaching.walkthrough [--check] [FILE ...]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m cnntoolbox.teaching.walkthrough",
        description="Rewrite the numbers between the markers of the walkthrough from the code.")
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE",
                        help="walkthrough files (default: docs/walkthrough*.md of this checkout)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a file differs from what the code gives")
    args = parser.parse_args(argv)
    try:
        paths = args.files or default_paths()
        texts = {path: path.read_text(encoding="utf-8") for path in paths}
        ex = worked.run_example()
        values = {lang: contents(ex, lang) for lang in ("en", "zh-TW")}
        stale = []
        for path, text in texts.items():
            new, _ = fill(text, values[language(path)])
            if new == text:
                continue
            stale.append(path)
            if not args.check:
                write_atomic(path, new)
    except (OSError, ValueError, LookupError, worked.StepMismatchError,
            GradientCheckError) as error:
        print(f"cnntoolbox.teaching.walkthrough: error: {error}", file=sys.stderr)
        return 2
    for path in stale:
        print(f"{path}: {'out of date' if args.check else 'rewritten'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
