"""A saved net is the toolbox's struct: the original's field order, ``layers`` a column cell.

The reference is the net the original toolbox trained under Octave in
``matlab_reference/case_mnist.mat`` (``net_train``); the port's net is
trained from the same start, saved, and both files are read back with
``scipy.io.loadmat``, which keeps MATLAB's field order and shapes.
"""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from cnntoolbox import cnntrain
from cnntoolbox.matfile import loadmat, savemat

CASE = Path(__file__).resolve().parent.parent / "matlab_reference" / "case_mnist.mat"
OCTAVE = shutil.which("octave")


def skeleton(value, path="net"):
    """The layout of a value scipy read: struct field names in order, cell and array shapes.

    Returns a list of (path, description) pairs, one per struct, cell and array.
    """
    if isinstance(value, np.ndarray) and value.dtype.names:
        rows = [(path, ("struct", value.shape, value.dtype.names))]
        for index in np.ndindex(value.shape):
            for name in value.dtype.names:
                rows += skeleton(value[index][name], f"{path}{list(index)}.{name}")
        return rows
    if isinstance(value, np.ndarray) and value.dtype == object:
        rows = [(path, ("cell", value.shape))]
        for index in np.ndindex(value.shape):
            rows += skeleton(value[index], f"{path}{{{list(index)}}}")
        return rows
    return [(path, ("array", np.shape(value), np.asarray(value).dtype.kind))]


@pytest.fixture(scope="module")
def saved_port_net(tmp_path_factory):
    """The port's net trained from the case's start with the case's permutations, saved -v7."""
    case = loadmat(CASE)
    net = cnntrain(case["net_setup"], case["x"], case["y"], case["opts"],
                   kk=np.asarray(case["kk"], dtype=int) - 1, verbose=False)
    path = tmp_path_factory.mktemp("order") / "net.mat"
    savemat(path, {"cnn": net}, format="7")
    return path


def test_saved_net_has_the_toolbox_field_order_and_shapes(saved_port_net):
    ours = skeleton(scipy.io.loadmat(saved_port_net)["cnn"])
    theirs = skeleton(scipy.io.loadmat(CASE)["net_train"])
    assert theirs[0][1][2] == ("layers", "ffb", "ffW", "rL", "fv", "o", "e", "L", "od", "fvd",
                               "dffW", "dffb")
    assert [path for path, _ in ours] == [path for path, _ in theirs]
    for (path, mine), (_, original) in zip(ours, theirs):
        assert mine == original, f"{path}: port {mine}, original {original}"


def test_a_v73_net_has_the_toolbox_order_too(saved_port_net, tmp_path):
    import h5py

    net = loadmat(saved_port_net)["cnn"]
    savemat(tmp_path / "net73.mat", {"cnn": net}, format="7.3")
    with h5py.File(tmp_path / "net73.mat", "r") as h5:
        fields = [b"".join(name).decode() for name in h5["cnn"].attrs["MATLAB_fields"]]
        layers = h5["cnn"]["layers"]
        assert layers.shape[::-1] == (5, 1)          # HDF5 holds MATLAB's dimensions reversed
        conv = h5[layers[0, 1]]
        conv_fields = [b"".join(name).decode() for name in conv.attrs["MATLAB_fields"]]
    assert fields == ["layers", "ffb", "ffW", "rL", "fv", "o", "e", "L", "od", "fvd", "dffW", "dffb"]
    assert conv_fields == ["type", "outputmaps", "kernelsize", "k", "b", "a", "d", "dk", "db"]


@pytest.mark.skipif(OCTAVE is None, reason="GNU Octave is not installed")
def test_octave_fieldnames_of_a_saved_net_equal_the_originals(saved_port_net, tmp_path):
    shutil.copy(saved_port_net, tmp_path / "ours.mat")
    shutil.copy(CASE, tmp_path / "case.mat")
    script = ("ours = load('ours.mat'); theirs = load('case.mat'); "
              "a = ours.cnn; b = theirs.net_train; "
              "printf('%s\\n', strjoin(fieldnames(a)', ',')); "
              "assert(isequal(fieldnames(a), fieldnames(b))); "
              "assert(isequal(size(a.layers), size(b.layers), [5 1])); "
              "for l = 1:5, assert(isequal(fieldnames(a.layers{l}), fieldnames(b.layers{l}))); end; "
              "disp('same');")
    run = subprocess.run([OCTAVE, "-q", "--no-gui", "--eval", script], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split()
    assert lines[0] == "layers,ffb,ffW,rL,fv,o,e,L,od,fvd,dffW,dffb" and lines[-1] == "same"
