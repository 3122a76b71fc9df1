"""What the original toolbox does with the example's one sample, as GNU Octave 7.3 reports it.

The walkthrough quotes these messages (``docs/walkthrough*.md``, section
"Running the original beside it").  :func:`run_original` reproduces them:
it runs the original ``cnnff`` and ``cnnbp`` under Octave on a net of the
example's shape with one sample, and on the workaround (the sample twice,
``x(:, :, [1 1])``).  ``tests/test_teaching.py`` calls it when
``CNNTOOLBOX_ORIGINAL`` names a copy of the toolbox and ``octave`` is on the
PATH.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

#: Octave's messages (GNU Octave 7.3.0, DeepLearnToolbox as of its last commit).
MESSAGES = {
    "version": "7.3",
    "cnnff": "operator -: nonconformant arguments (op1 is 1x2, op2 is 1x3)",
    "cnnff.line": "11",
    "cnnbp": "sa(3): out of bound 2 (dimensions are 1x2)",
    "cnnbp.line": "20",
    "expand": "Length of size vector must equal ndims(A).  See help.",
}

#: The driver: our own script (no toolbox code), run with the toolbox on the path.
_SCRIPT = r"""
addpath(fullfile('{root}', 'CNN')); addpath(fullfile('{root}', 'util'));
rand('seed', 1);
cnn.layers = {{struct('type', 'i'), struct('type', 'c', 'outputmaps', 1, 'kernelsize', 3), ...
  struct('type', 's', 'scale', 2), struct('type', 'c', 'outputmaps', 1, 'kernelsize', 3), ...
  struct('type', 's', 'scale', 2)}};
x = rand(14, 14, 1); y = [1; 0; 0];
cnn = cnnsetup(cnn, x, y);
try, cnnff(cnn, x); printf('cnnff|ok\n'); catch err, printf('cnnff|%s|%d\n', err.message, err.stack(1).line); end
two = cnnff(cnn, x(:, :, [1 1]));
one = two;
for l = 1 : numel(one.layers), for j = 1 : numel(one.layers{{l}}.a), one.layers{{l}}.a{{j}} = one.layers{{l}}.a{{j}}(:, :, 1); end, end
one.fv = one.fv(:, 1); one.o = one.o(:, 1);
try, cnnbp(one, y); printf('cnnbp|ok\n'); catch err, printf('cnnbp|%s|%d\n', err.message, err.stack(1).line); end
try, expand(ones(2, 2), [2 2 1]); printf('expand|ok\n'); catch err, printf('expand|%s|0\n', err.message); end
two = cnnbp(two, y(:, [1 1]));
cnnnumgradcheck(two, x(:, :, [1 1]), y(:, [1 1]));
printf('workaround|ok|0\n');
"""


def run_original(root, timeout=600):
    """Run the original under Octave; the messages keyed like :data:`MESSAGES`.

    Parameters
    ----------
    root : str or Path
        A copy of the DeepLearnToolbox (with ``CNN/`` and ``util/``).

    Returns
    -------
    dict
        ``"cnnff"``, ``"cnnff.line"``, ``"cnnbp"``, ``"cnnbp.line"``, ``"expand"``,
        and ``"workaround"`` (``"ok"`` when the two-copies net passed
        ``cnnnumgradcheck``).

    Raises
    ------
    FileNotFoundError
        No ``octave`` on the PATH.
    """
    octave = shutil.which("octave")
    if octave is None:
        raise FileNotFoundError("octave is not on the PATH")
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "one_sample.m"
        script.write_text(_SCRIPT.format(root=str(Path(root).resolve())), encoding="utf-8")
        done = subprocess.run([octave, "-q", "--no-gui", "--no-window-system", str(script)],
                              capture_output=True, text=True, timeout=timeout, check=False)
    out = {}
    for line in done.stdout.splitlines():
        parts = line.split("|")
        if len(parts) == 3:
            out[parts[0]] = parts[1]
            if parts[0] in ("cnnff", "cnnbp"):
                out[parts[0] + ".line"] = parts[2]
    return out
