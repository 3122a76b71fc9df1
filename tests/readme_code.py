"""The Python code blocks of README.md, for tests/test_readme.py and .ci/run.

A block is the text between a line ```` ```python ```` and the next line
```` ``` ````.  A block whose first line is ``# not run`` is left out.

Run as a script, it prints the blocks that run, joined into one program:
``python tests/readme_code.py README.md > snippet.py``.
"""

import re
import sys
from pathlib import Path

SKIP = "# not run"
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(readme):
    """(line number, code) of every Python block of the Markdown file that is meant to run."""
    text = Path(readme).read_text(encoding="utf-8")
    blocks = []
    for match in _BLOCK.finditer(text):
        code = match.group(1)
        if not code.lstrip().startswith(SKIP):
            blocks.append((text.count("\n", 0, match.start()) + 1, code))
    return blocks


if __name__ == "__main__":
    print("\n".join(code for _, code in python_blocks(sys.argv[1])))
