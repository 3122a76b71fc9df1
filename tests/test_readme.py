"""Every Python block of README.md runs as written, in order, in one namespace.

Run in an empty folder, so that files a block writes land there and a block
cannot lean on the clone's files.  A block that starts with ``# not run`` is
skipped on purpose (one is: it reads a file that Octave writes).
"""

from pathlib import Path

import pytest

from readme_code import python_blocks

README = Path(__file__).resolve().parent.parent / "README.md"


def run_blocks(readme):
    """Execute the blocks of ``readme`` in the current folder, in one namespace.

    Returns
    -------
    list of dict
        A shallow copy of the shared namespace after each block.
    """
    namespace, after = {"__name__": "__readme__"}, []
    for line, code in python_blocks(readme):
        exec(compile(code, f"{readme}:{line}", "exec"), namespace)
        after.append(dict(namespace))
    return after


def test_readme_has_python_blocks():
    assert len(python_blocks(README)) >= 2


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    # the snippet trains the MNIST example's full epoch, like test_example_CNN.m
    monkeypatch.chdir(tmp_path)
    after = run_blocks(README)
    assert 0 <= after[0]["er"] < 0.2          # the first block: MNIST, one epoch
    assert (tmp_path / "cnn.mat").is_file()
    assert all(0 <= namespace.get("er", 0) <= 1 for namespace in after)


def test_a_broken_block_fails_and_a_marked_one_is_skipped(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("text\n```python\nx = 1\n```\n\n```python\n# not run: needs MATLAB\n"
                      "import matlab\n```\n\n```python\ny = x + undefined_name\n```\n",
                      encoding="utf-8")
    assert [line for line, _ in python_blocks(readme)] == [2, 11]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NameError, match="undefined_name"):
        run_blocks(readme)
