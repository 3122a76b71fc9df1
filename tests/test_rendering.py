"""The walkthroughs as GitHub shows them: parsed by cmark-gfm, GitHub's own Markdown parser.

A prose line that begins with an HTML comment (a ``<!-- begin:... -->``
marker) starts a raw-HTML block there: the paragraph is cut in two and the
line's code spans show their backticks. Rendered with raw HTML kept, such a
line is text outside every element; a backtick outside ``<code>`` and
``<pre>`` is one Markdown did not read.
"""

from html.parser import HTMLParser
from pathlib import Path

import pytest

from cnntoolbox.teaching import walkthrough

cmarkgfm = pytest.importorskip("cmarkgfm", reason="cmarkgfm (GitHub's Markdown parser) is in the 'test' extra")
from cmarkgfm.cmark import Options  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("walkthrough.md", "walkthrough.zh-TW.md")
VOID = {"br", "hr", "img", "input", "meta", "link", "col", "area", "base", "wbr", "source"}


class _Reader(HTMLParser):
    """Collects text outside every element (a cut paragraph) and backticks outside code."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open, self.loose, self.backticks = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.open:
            while self.open.pop() != tag:
                pass

    def handle_data(self, data):
        if (not self.open or self.open[-1] == "details") and data.strip():     # a block's loose text
            self.loose.append(data.strip())
        if "`" in data and not {"code", "pre"} & set(self.open):
            self.backticks.append(data.strip())


def problems(markdown):
    """(text outside every element, text with a literal backtick) of ``markdown`` as GitHub renders it."""
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.loose, reader.backticks


@pytest.mark.parametrize("name", DOCS)
def test_github_renders_every_paragraph_whole(name):
    loose, backticks = problems((ROOT / "docs" / name).read_text(encoding="utf-8"))
    assert not loose, f"docs/{name}: prose in a raw-HTML block (a line starting with a marker?): {loose}"
    assert not backticks, f"docs/{name}: backticks Markdown did not read: {backticks}"


def test_the_rendering_check_catches_a_marker_at_a_line_start():
    cut = "A map of\n<!-- begin:x -->2x2<!-- end:x -->, so `fv` has four values.\n"
    loose, backticks = problems(cut)
    assert loose and backticks
    assert problems("A map of <!-- begin:x -->2x2<!-- end:x -->,\nso `fv` has four values.\n") == ([], [])
    block = "Text.\n\n<!-- begin:net -->\n```text\na `b`\n```\n<!-- end:net -->\n\nMore.\n"
    assert problems(block) == ([], [])
    folded = "<details>\n<summary>1. <code>fvd</code></summary>\n\nA map of `x`\n<!-- begin:x -->2<!-- end:x -->.\n\n</details>\n"
    assert problems(folded)[0]
    assert problems(folded.replace("`x`\n<!--", "`x` <!--")) == ([], [])


def test_fill_refuses_an_inline_marker_at_a_line_start():
    values = {"x": "2x2"}
    with pytest.raises(ValueError, match="starts line 2"):
        walkthrough.fill("A map of\n<!-- begin:x -->1<!-- end:x --> values\n", values)
    assert walkthrough.fill("A map of <!-- begin:x -->1<!-- end:x -->\nvalues\n", values)[0] == \
        "A map of <!-- begin:x -->2x2<!-- end:x -->\nvalues\n"
