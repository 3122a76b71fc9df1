"""Rewrite the numbers of docs/walkthrough.md from the worked example.

The walkthrough's prose is written by hand; every number in it sits between
two markers, ``<!-- begin:NAME -->`` and ``<!-- end:NAME -->``, and is
written here from :func:`cnntoolbox.teaching.run_example`.  A marker pair on
one line gets inline text, the others a fenced block.  Running

    python -m cnntoolbox.teaching.walkthrough            # rewrite docs/walkthrough*.md
    python -m cnntoolbox.teaching.walkthrough --check    # exit 1 if a file is out of date

keeps the document and the code in step; ``tests/test_teaching.py`` fails
when they differ.
"""

import argparse
import re
import sys
from pathlib import Path

from .. import atomic
from . import worked as teaching
from . import text as t

MARKER = re.compile(r"<!-- begin:(?P<name>[\w.:-]+) -->(?P<body>.*?)<!-- end:(?P=name) -->",
                    re.DOTALL)
#: The walkthroughs of a source checkout, relative to the repository root.
DOCS = ("docs/walkthrough.md", "docs/walkthrough.zh-TW.md")


def _join(values):
    return ", ".join(t.fmt(v) for v in values)


def contents(ex):
    """Everything the markers can hold: name -> lines (a block) or str (inline).

    Parameters
    ----------
    ex : cnntoolbox.teaching.Example
    """
    extra = ex.extra
    out = {f"step:{key}": t.step_block(ex, key) for key in t.STEPS}
    out.update({
        "net": t.render_net(ex), "loss": t.render_loss(ex), "slip": t.render_slip(ex),
        "scale": t.render_scale(ex), "convn": t.render_convn(ex),
        "rot180": t.render_transpose(ex), "flipall": t.render_flipall(ex),
        "sigmoid": t.render_sigmoid(ex), "gradcheck": t.render_gradcheck(ex),
        "hidden": t.render_hidden(ex),
        "post.errors": _join(t.POST_ERRORS),
        "post.output": t.fmt(t.POST_OUTPUT),
        "post.od": _join(ex.post.hand["od"]),
        "post.y": _join(ex.post.y[:, 0]),
        "post.L": t.fmt(extra["loss"]["post"]["L"]),
        "post.rms": t.fmt(extra["loss"]["post"]["rms"]),
        "real.o": _join(ex.real.net["o"][:, 0]),
        "real.od": _join(ex.real.hand["od"]),
        "real.fprime_o": _join(ex.real.hand["fprime_o"]),
        "scale.ratio": t.fmt(extra["scale"]["ratio"]),
        "gradcheck.count": str(sum(g[0].size for g in extra["gradcheck"].values())),
        "trained.steps": str(t.TRAIN_STEPS),
        "trained.o": _join(extra["trained"]["o"][:, 0]),
        "agreement": f"{t.AGREEMENT:g}",
        "epsilon": f"{t.EPSILON:g}",
        "tolerance": f"{t.TOLERANCE:g}",
    })
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
        A marker whose name ``values`` does not know, or a block marker whose
        begin and end share a line.
    """
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
            body = "\n```text\n" + "\n".join(value) + "\n```\n"
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
        values = contents(teaching.run_example())
        stale = []
        for path, text in texts.items():
            new, _ = fill(text, values)
            if new == text:
                continue
            stale.append(path)
            if not args.check:
                write_atomic(path, new)
    except (OSError, ValueError, LookupError, teaching.StepMismatchError) as error:
        print(f"cnntoolbox.walkthrough: error: {error}", file=sys.stderr)
        return 2
    for path in stale:
        print(f"{path}: {'out of date' if args.check else 'rewritten'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
