"""The walkthrough notebooks (docs/notebooks/*.py, jupytext py:percent): each runs top to bottom
in a fresh kernel, follows the post's sections in order, and holds the exercises' code as
cnntoolbox.teaching.practice gives it, starters found wrong and answers right by the checker.

Needs the 'notebook' extra (jupytext, nbclient, ipykernel, nbformat); README's test command
installs it, so CI runs these.
"""

from pathlib import Path

import pytest

from cnntoolbox.teaching import practice

jupytext = pytest.importorskip("jupytext", reason="the 'notebook' extra runs the notebooks")
nbclient = pytest.importorskip("nbclient", reason="the 'notebook' extra runs the notebooks")
pytest.importorskip("ipykernel", reason="the 'notebook' extra runs the notebooks")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"walkthrough.py": "en", "walkthrough.zh-TW.py": "zh-TW"}
TITLES = ("概念介紹", "已知類神經數學推導", "Forward mapping", "第一層卷積層", "第一層sub層", "全連接層",
          "Backward mapping", "從最後一層傳到sub層(S2)", "從sub層傳到conv層(C2)", "從conv層傳到sub層(S1)",
          "Error對w的微分", "Error對b的微分", "然後帶入學習率算出學習之後的W")


def _read(name):
    return jupytext.read(ROOT / "docs" / "notebooks" / name)


def _text(cell):
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(name, tmp_path):
    notebook = _read(name)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = {cell.source.strip(): _text(cell) for cell in notebook.cells if cell.cell_type == "code"}
    lang = NOTEBOOKS[name]
    for exercise in practice.EXERCISES:
        starter = outputs[practice.code(exercise, "starter", lang).strip()]
        answer = outputs[practice.code(exercise, "answer", lang).strip()]
        assert ": wrong: " in starter and ": right: " in answer, (exercise, starter, answer)
    steps = [text for source, text in outputs.items() if "practice.check(" in source]
    assert sum(text.count(": right: ") for text in steps) >= 20       # the live steps agree with cnnbp


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_follows_the_post_and_folds_the_answers(name):
    notebook = _read(name)
    headings = [line for cell in notebook.cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if line.startswith("#")]
    quote = "「{}」" if NOTEBOOKS[name] == "zh-TW" else '"{}"'
    positions = []
    for title in TITLES:
        hits = [n for n, line in enumerate(headings) if quote.format(title) in line]
        assert len(hits) == 1, f"{name}: no heading quoting {title!r}"
        positions.append(hits[0])
    assert positions == sorted(positions)
    answers = {practice.code(e, "answer", NOTEBOOKS[name]).strip() for e in practice.EXERCISES}
    folded = [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.strip() in answers]
    assert len(folded) == len(answers)
    assert all(cell.metadata.get("jupyter", {}).get("source_hidden") for cell in folded)
