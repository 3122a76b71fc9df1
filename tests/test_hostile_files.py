"""Files that are not what they seem: devices, FIFOs, /proc files, v4 size bombs, unwritable saves (issue 18)."""

import os
import stat
import struct
import threading

import numpy as np
import pytest

from cnntoolbox import CheckpointError, cnnsetup, cnntrain
from cnntoolbox.__main__ import main
from cnntoolbox.files import atomic
from cnntoolbox.matfile import MatFileError, loadmat, savemat

POSIX = pytest.mark.skipif(os.name != "posix", reason="devices and FIFOs are POSIX")


def _fifo(path):
    try:
        os.mkfifo(path)
    except (OSError, AttributeError) as error:
        pytest.skip(f"no FIFO here ({error})")
    return path


def _char_device(path):
    """A stand-in character device (the numbers of /dev/null) made in a temporary folder."""
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except (OSError, AttributeError) as error:
        pytest.skip(f"mknod of a character device is not allowed here ({error})")
    return path


def _unblock(path):
    """Open ``path`` (a FIFO) for writing after a while, so that a reader that blocks wakes up."""
    def opener():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass
    timer = threading.Timer(20, opener)
    timer.daemon = True
    timer.start()
    return timer


# --- loads refuse what is not a regular file, before reading it -----------------------------

@POSIX
@pytest.mark.parametrize("where, kind", [("/dev/zero", "a character device"),
                                         ("/proc/self/status", "kernel's proc folder")])
def test_loadmat_refuses_devices_and_proc_files(where, kind):
    if not os.path.exists(where):
        pytest.skip(f"no {where} here")
    with pytest.raises(MatFileError, match=f"^{where}: is .*{kind}"):
        loadmat(where)


@POSIX
def test_loadmat_refuses_a_fifo_without_blocking(tmp_path):
    fifo = _fifo(tmp_path / "pipe.mat")
    timer = _unblock(fifo)                 # before the fix, loadmat blocked here forever
    try:
        with pytest.raises(MatFileError, match=r"pipe\.mat: is a FIFO"):
            loadmat(fifo)
    finally:
        timer.cancel()


def test_loadmat_refuses_an_empty_file(tmp_path):
    (tmp_path / "e.mat").write_bytes(b"")
    with pytest.raises(MatFileError, match=r"e\.mat: is empty, not a MAT-file"):
        loadmat(tmp_path / "e.mat")


@POSIX
def test_compare_refuses_dev_zero_in_one_line(capsys):
    assert main(["compare", "/dev/zero"]) == 2
    err = capsys.readouterr().err
    assert "/dev/zero: is a character device, not a MAT-file" in err and "MemoryError" not in err
    assert len(err.strip().splitlines()) == 1


# --- saves refuse a target that exists and is not a regular file -----------------------------

@POSIX
@pytest.mark.parametrize("make", [_fifo, _char_device])
def test_savemat_leaves_a_device_or_fifo_in_place(make, tmp_path):
    target = make(tmp_path / "target.mat")
    link = tmp_path / "link.mat"
    link.symlink_to(target)
    for path in (target, link):
        with pytest.raises(OSError, match=f"cannot write {path}: it is a (FIFO|character "
                                          "device).*, not a regular file"):
            savemat(path, {"a": 1.0})
    assert not stat.S_ISREG(os.stat(target).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["link.mat", "target.mat"]        # no temporary left


@POSIX
@pytest.mark.parametrize("make", [_fifo, _char_device])
def test_save_and_mnist_mat_refuse_a_device_or_fifo_before_any_work(make, tmp_path, capsys):
    target = make(tmp_path / "target.mat")
    assert main(["--save", str(target), "--limit", "50", "--batchsize", "50", "--quiet",
                 "--data-dir", str(tmp_path / "nodata")]) == 2
    err = capsys.readouterr().err
    assert "--save: cannot write" in err and "not a regular file" in err, err
    assert main(["mnist-mat", str(target), "--data-dir", str(tmp_path / "nodata")]) != 0
    err = capsys.readouterr().err
    assert "not a regular file" in err, err
    assert not stat.S_ISREG(os.stat(target).st_mode)


@POSIX
def test_a_checkpoint_onto_a_fifo_is_refused_before_training(tmp_path):
    fifo = _fifo(tmp_path / "ck.npz")
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 8, 4)), np.eye(2)[:, [0, 1, 0, 1]]
    net = cnnsetup({"layers": [{"type": "i"}, {"type": "c", "outputmaps": 2, "kernelsize": 3},
                               {"type": "s", "scale": 2}]}, x, y, rng=np.random.default_rng(1))
    timer = _unblock(fifo)
    try:
        with pytest.raises(OSError, match="checkpoint .*ck.npz: .*FIFO"):
            cnntrain(net, x, y, {"alpha": 1.0, "batchsize": 2, "numepochs": 1}, verbose=False,
                     checkpoint=fifo)
    finally:
        timer.cancel()


# --- the probe is the writer ------------------------------------------------------------------

def test_a_name_too_long_for_the_temporary_file_fails_at_the_probe(tmp_path):
    name = "n" * 236 + ".npz"              # fits the folder, the temporary name does not
    with pytest.raises(OSError, match="File name too long|name too long"):
        atomic.probe(tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_a_250_character_save_name_fails_before_training(tmp_path, capsys):
    target = tmp_path / ("n" * 246 + ".mat")
    assert main(["--save", str(target), "--limit", "50", "--batchsize", "50", "--quiet",
                 "--data-dir", str(tmp_path / "nodata")]) == 2
    err = capsys.readouterr().err
    assert "--save: cannot write" in err and "too long" in err, err
    assert "epoch" not in err


def test_the_probe_writes_where_a_link_points(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "ck.npz").symlink_to(tmp_path / "real" / "ck.npz")
    (tmp_path / "real").chmod(0o500)
    try:
        if os.access(tmp_path / "real", os.W_OK):
            pytest.skip("running as a user who can write into a read-only folder (root)")
        with pytest.raises(PermissionError):
            atomic.probe(tmp_path / "ck.npz")
    finally:
        (tmp_path / "real").chmod(0o700)
    assert atomic.probe(tmp_path / "ck.npz") == str(tmp_path / "real" / "ck.npz")


def test_a_probe_killed_midway_leaves_a_file_the_next_save_removes(tmp_path):
    target = tmp_path / "ck.npz"
    stale = tmp_path / f".ck.npz{atomic.TEMP_MARK}999999999-0123abcd"     # as the probe names it
    stale.write_bytes(b"")
    atomic.probe(target)
    assert os.listdir(tmp_path) == []


def test_a_dangling_checkpoint_link_names_the_missing_folder(tmp_path, capsys):
    (tmp_path / "ck.npz").symlink_to(tmp_path / "gone" / "ck.npz")
    assert main(["--checkpoint", str(tmp_path / "ck.npz"), "--limit", "50", "--batchsize", "50",
                 "--quiet", "--data-dir", str(tmp_path / "nodata")]) == 2
    err = capsys.readouterr().err
    assert f"no folder {tmp_path / 'gone'}" in err and "is a link to" in err, err


# --- v4 gets the budget before scipy allocates -----------------------------------------------

def test_a_70_byte_v4_sparse_declaring_2e31_columns_is_refused_by_the_budget(tmp_path):
    # header: type 2 (double, sparse), 2 stored rows, 3 columns, real, name "s"; then the
    # stored (row, column, value) triples column by column: one value, and the size row
    values = struct.pack("<6d", 1, 1, 1, 2 ** 31 - 1, 5, 0)
    path = tmp_path / "v4.mat"
    path.write_bytes(struct.pack("<5i", 2, 2, 3, 0, 2) + b"s\0" + values)
    assert path.stat().st_size == 70
    with pytest.raises(MatFileError, match=r"v4\.mat: s: the file asks for more memory than "
                                           "the limit"):
        loadmat(path)


def test_a_v4_matrix_declaring_more_than_the_file_holds(tmp_path):
    path = tmp_path / "v4.mat"
    path.write_bytes(struct.pack("<5i", 0, 2 ** 20, 2 ** 10, 0, 2) + b"x\0" + bytes(64))
    with pytest.raises(MatFileError, match=r"x: declares 1048576 x 1024 values, more than"):
        loadmat(path)
    import scipy.io
    scipy.io.savemat(path, {"a": np.arange(6.0).reshape(2, 3)}, format="4")
    assert loadmat(path)["a"].tolist() == [[0, 1, 2], [3, 4, 5]]


# --- the smaller items of the issue ------------------------------------------------------------

def _tiny():
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 8, 4)), np.eye(2)[:, [0, 1, 0, 1]]
    spec = {"layers": [{"type": "i"}, {"type": "c", "outputmaps": 2, "kernelsize": 3},
                       {"type": "s", "scale": 2}]}
    return spec, x, y


@pytest.mark.parametrize("opts, message", [
    ({"numepochs": 10 ** 20}, r"opts\['numepochs'\] must be a positive integer, got "
                              r"100000000000000000000"),
    ({"batchsize": 2 ** 64}, r"opts\['batchsize'\] must be a positive integer"),
    ({"alpha": 10 ** 400}, r"opts\['alpha'\] must be finite"),
    ({"alpha_decay": 1e308, "numepochs": 3}, r"opts\['alpha_decay'\] = 1e\+308 makes the rate of "
                                             r"epoch 3 inf"),
])
def test_numbers_beyond_int64_or_float_are_value_errors(opts, message):
    spec, x, y = _tiny()
    net = cnnsetup(spec, x, y, rng=np.random.default_rng(1))
    with pytest.raises(ValueError, match=message):
        cnntrain(net, x, y, {"alpha": 1.0, "batchsize": 2, "numepochs": 1, **opts}, verbose=False)


def test_outputmaps_beyond_int64_is_a_value_error():
    spec, x, y = _tiny()
    spec["layers"][1]["outputmaps"] = 10 ** 20
    with pytest.raises(ValueError, match=r"'outputmaps' must be a positive integer, got "
                                         r"100000000000000000000"):
        cnnsetup(spec, x, y)


def test_epochs_beyond_int64_on_the_command_line_is_one_line(capsys):
    assert main(["--epochs", "99999999999999999999", "--data", "synthetic-rgb", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("cnntoolbox train: error: opts['numepochs'] must be a positive "
                           "integer, got 99999999999999999999")


def test_savemat_refuses_a_list_that_contains_itself(tmp_path):
    loop = [1.0]
    loop.append(loop)
    with pytest.raises(ValueError, match="loop: lists or dicts nested too deeply to save"):
        savemat(tmp_path / "l.mat", {"loop": loop})
    assert not (tmp_path / "l.mat").exists()


def test_a_lone_surrogate_is_a_value_error_in_v7_and_kept_in_v73(tmp_path):
    with pytest.raises(ValueError, match="lone surrogates, which a v7 MAT-file cannot hold"):
        savemat(tmp_path / "s.mat", {"s": "a\ud800b"})
    savemat(tmp_path / "s.mat", {"s": "a\ud800b"}, format="7.3")
    assert loadmat(tmp_path / "s.mat")["s"] == "a\ud800b"


@pytest.mark.parametrize("fmt", ["7", "7.3"])
def test_an_array_of_33_dimensions_is_a_value_error(fmt, tmp_path):
    with pytest.raises(ValueError, match=r"a: an array of 33 dimensions; a MAT-file holds at "
                                         r"most 32"):
        savemat(tmp_path / "d.mat", {"a": np.zeros((1,) * 33)}, format=fmt)


def test_top_level_variables_count_against_the_element_limit(tmp_path):
    import h5py
    from cnntoolbox.matfile._mat73_write import header
    from cnntoolbox.matfile._values import MAX_ELEMENTS
    path = tmp_path / "links.mat"
    with h5py.File(path, "w", userblock_size=512) as h5:
        empty = h5.create_group("#refs#").create_dataset("e", data=np.array([0, 0], np.uint64))
        empty.attrs["MATLAB_class"] = np.bytes_("double")
        empty.attrs["MATLAB_empty"] = np.uint8(1)
        cell = h5.create_dataset("c", data=np.array([empty.ref] * (MAX_ELEMENTS - 500),
                                                    dtype=h5py.ref_dtype))
        cell.attrs["MATLAB_class"] = np.bytes_("cell")
        for i in range(1000):              # 1000 variables, each a link to the empty array
            h5[f"v{i}"] = empty
    with open(path, "r+b") as fileobj:
        fileobj.write(header())
    with pytest.raises(MatFileError, match=f"more than {MAX_ELEMENTS} cell or struct elements"):
        loadmat(path)
