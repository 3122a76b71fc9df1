"""Saves that cannot lie: cnntoolbox.files.atomic and every writer that uses it.

A failed save (disk full, a failed read-back, Ctrl-C, kill -9) must leave
the old file as it was, no temporary file, and an error naming the file; a
held Ctrl-C must not be lost; a symbolic link must stay a link.
"""

import errno
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnntoolbox.files import atomic
from cnntoolbox.training import checkpoint
from cnntoolbox.matfile import _mat73_write, loadmat, savemat

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ["7", "7.3"]


def _big_net():
    rng = np.random.default_rng(0)
    return {"layers": [{"type": "i"}, {"type": "c", "k": [[rng.random((5, 5))]]}],
            "ffW": rng.random((10, 4000)), "ffb": rng.random((10, 1))}


class _FullDisk(io.FileIO):
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    room = 2 ** 40

    def write(self, data):
        left = type(self).room - self.tell()
        if len(memoryview(data)) > left:
            if left > 0:
                super().write(memoryview(data)[:left])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


@pytest.fixture
def full_disk(monkeypatch):
    """Make atomic.write's files fail with ENOSPC after ``room`` bytes (set the returned class)."""
    real_open = open

    def fake_open(file, mode="r", *args, **kwargs):
        if isinstance(file, int) and mode == "wb":
            return io.BufferedWriter(_FullDisk(file, "wb"))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(atomic, "open", fake_open, raising=False)
    monkeypatch.setattr(_FullDisk, "room", 2 ** 40)
    return _FullDisk


def _others(folder, name):
    return sorted(p.name for p in Path(folder).iterdir() if p.name != name)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("room", [0, 100, 4000])
def test_full_disk_keeps_the_old_file_and_names_it(fmt, room, tmp_path, full_disk):
    path = tmp_path / "net.mat"
    savemat(path, {"x": 1.0}, format=fmt)
    before = path.read_bytes()
    full_disk.room = room
    with pytest.raises(OSError) as caught:
        savemat(path, {"cnn": _big_net()}, format=fmt)
    assert caught.value.errno == errno.ENOSPC
    assert str(path) in str(caught.value) and "kept" in str(caught.value)
    assert path.read_bytes() == before
    assert _others(tmp_path, "net.mat") == []
    assert loadmat(path) == {"x": 1.0}


def test_full_disk_checkpoint_error_names_the_file(tmp_path, full_disk):
    path = tmp_path / "ck.npz"
    full_disk.room = 1000
    with pytest.raises(OSError, match=r"No space left on device") as caught:
        checkpoint.write_atomic(str(path), {"epochs": 1}, {"net.big": np.zeros(10 ** 4)})
    assert str(path) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_save_that_reads_back_wrong_is_not_put_in_place(fmt, tmp_path, monkeypatch):
    # a writer that returns normally over a short file (what HDF5 did on a full disk)
    path = tmp_path / "net.mat"
    savemat(path, {"x": 1.0}, format=fmt)
    before = path.read_bytes()
    real = {"7": _mat5_write(), "7.3": _mat73_write.write}[fmt]

    def short(fileobj, values):
        whole = io.BytesIO()
        real(whole, values)
        fileobj.write(whole.getvalue()[:len(whole.getvalue()) // 2])

    monkeypatch.setattr({"7": _mat5_module(), "7.3": _mat73_write}[fmt], "write", short)
    with pytest.raises(OSError, match="read back") as caught:
        savemat(path, {"cnn": _big_net()}, format=fmt)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before
    assert _others(tmp_path, "net.mat") == []


def _mat5_module():
    from cnntoolbox.matfile import _mat5
    return _mat5


def _mat5_write():
    return _mat5_module().write


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_save_through_a_symlink_writes_its_target(fmt, tmp_path):
    real = tmp_path / "store" / "net.mat"
    real.parent.mkdir()
    savemat(real, {"x": 1.0}, format=fmt)
    link = tmp_path / "link.mat"
    link.symlink_to(real)
    savemat(link, {"x": 2.0}, format=fmt)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert loadmat(real) == {"x": 2.0}
    assert _others(real.parent, "net.mat") == []


def test_the_new_file_keeps_the_old_files_permissions(tmp_path):
    path = tmp_path / "net.mat"
    savemat(path, {"x": 1.0})
    path.chmod(0o640)
    savemat(path, {"x": 2.0}, format="7.3")
    assert path.stat().st_mode & 0o777 == 0o640


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_dead_saves_are_removed(tmp_path):
    path = tmp_path / "net.mat"
    dead = tmp_path / f".net.mat{atomic.TEMP_MARK}{_dead_pid()}-0badf00d"
    live = tmp_path / f".net.mat{atomic.TEMP_MARK}1-0badf00d"         # pid 1 always runs
    other = tmp_path / f".other.mat{atomic.TEMP_MARK}{_dead_pid()}-0badf00d"
    for stale in (dead, live, other):
        stale.write_bytes(b"half a save")
    savemat(path, {"x": 1.0})
    assert _others(tmp_path, "net.mat") == sorted([live.name, other.name])


def test_a_save_killed_midway_leaves_a_temporary_the_next_save_removes(tmp_path):
    path = tmp_path / "net.mat"
    code = textwrap.dedent(f"""
        import sys, time
        from cnntoolbox.matfile import _mat73_write, savemat

        def stuck(fileobj, values):
            fileobj.write(b"x" * 100000)
            fileobj.flush()
            print("writing", flush=True)
            time.sleep(60)

        _mat73_write.write = stuck
        savemat({str(path)!r}, {{"x": 1.0}}, format="7.3")
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert process.stdout.readline() == "writing\n"
    finally:
        process.kill()
        process.wait()
    assert len(_others(tmp_path, "net.mat")) == 1                 # what kill -9 leaves
    savemat(path, {"x": 2.0}, format="7.3")
    assert _others(tmp_path, "net.mat") == []
    assert loadmat(path) == {"x": 2.0}


@pytest.mark.parametrize("fmt", FORMATS)
def test_ctrl_c_during_a_save_is_raised_after_it_even_if_swallowed_inside(fmt, tmp_path,
                                                                          monkeypatch):
    # HDF5 swallowed a KeyboardInterrupt raised in its callbacks ("Exception ignored ...")
    # and the save returned normally; a held Ctrl-C is raised once the file is in place
    from cnntoolbox.matfile import _mat5

    module = {"7": _mat5, "7.3": _mat73_write}[fmt]
    real = module.write

    def swallowing(fileobj, values):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        except KeyboardInterrupt:
            pass
        real(fileobj, values)

    monkeypatch.setattr(module, "write", swallowing)
    path = tmp_path / "net.mat"
    with pytest.raises(KeyboardInterrupt):
        savemat(path, {"x": 2.0}, format=fmt)
    assert loadmat(path) == {"x": 2.0}                 # complete: Ctrl-C came after the save
    assert _others(tmp_path, "net.mat") == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_stops_the_save_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "net.mat"
    savemat(path, {"x": 1.0}, format="7.3")
    before = path.read_bytes()

    def interrupted_twice(fileobj, values):
        fileobj.write(b"half")
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
        raise AssertionError("the second Ctrl-C did not stop the save")

    monkeypatch.setattr(_mat73_write, "write", interrupted_twice)
    with pytest.raises(KeyboardInterrupt):
        savemat(path, {"x": 2.0}, format="7.3")
    assert path.read_bytes() == before
    assert _others(tmp_path, "net.mat") == []


def test_ctrl_c_in_a_real_v73_save_exits_with_keyboardinterrupt(tmp_path):
    # a child saving a 40 MB net in a loop gets SIGINT; it must end by KeyboardInterrupt
    # with a loadable file, never return normally from an interrupted save
    path = tmp_path / "net.mat"
    code = textwrap.dedent(f"""
        import numpy as np
        from cnntoolbox.matfile import savemat
        net = {{"ffW": np.random.default_rng(0).random((10, 500000))}}
        print("saving", flush=True)
        for i in range(1000):
            savemat({str(path)!r}, net, format="7.3")
        print("all saves returned", flush=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout.readline() == "saving\n"
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert "all saves returned" not in out
    assert "KeyboardInterrupt" in err and "Exception ignored" not in err, err[-2000:]
    assert loadmat(path)["ffW"].shape == (10, 500000)
    assert _others(tmp_path, "net.mat") == []


def _mount_tmpfs(folder, size):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                           capture_output=True, text=True, check=False)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_really_full_disk(fmt, tmp_path):
    # on a 2 MB tmpfs with 0, 64 KB or 1 MB left, saving 3.2 MB over a good file: the v7.3
    # save returned normally over a truncated file, then crashed at exit (rc 139)
    folder = tmp_path / "full"
    _mount_tmpfs(folder, "2m")
    try:
        code = textwrap.dedent(f"""
            import os
            import numpy as np
            from cnntoolbox.matfile import loadmat, savemat
            path = {str(folder / "net.mat")!r}
            filler = {str(folder / "filler")!r}
            savemat(path, {{"x": 1.0}}, format={fmt!r})
            net = {{"ffW": np.random.default_rng(0).random((10, 40000))}}
            for room in (0, 2 ** 16, 2 ** 20):
                try:
                    with open(filler, "wb", buffering=0) as fileobj:
                        fileobj.write(b"x" * (2 * 2 ** 20))
                except OSError:
                    pass
                free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
                os.truncate(filler, max(0, os.path.getsize(filler) + free - room))
                try:
                    savemat(path, net, format={fmt!r})
                    print("saved", flush=True)
                except OSError as error:
                    print("refused:", error, flush=True)
                print("kept:", loadmat(path), sorted(os.listdir({str(folder)!r})), flush=True)
                os.unlink(filler)
        """)
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert run.returncode == 0, (run.returncode, run.stdout, run.stderr[-2000:])
        assert run.stdout.count("refused: [Errno 28] cannot write") == 3, run.stdout
        assert run.stdout.count("kept: {'x': 1.0} ['filler', 'net.mat']") == 3, run.stdout
        assert "Exception ignored" not in run.stderr, run.stderr[-2000:]
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_every_writer_goes_through_atomic_write():
    # one atomic write in the package: no other module renames files into place
    hits = [str(path.relative_to(ROOT)) for path in (ROOT / "cnntoolbox").rglob("*.py")
            if "os.replace(" in path.read_text() or "mkstemp" in path.read_text()
            and path.name != "checkpoint.py"]
    assert hits == ["cnntoolbox/files/atomic.py"]


def test_checkpoint_read_back_checks_the_arrays(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    checkpoint.write_atomic(str(path), {"epochs": 1}, {"net.a": np.ones(3)})
    before = path.read_bytes()

    def meta_only(fileobj, **arrays):
        with zipfile.ZipFile(fileobj, "w") as archive:
            archive.writestr("meta.npy", b"")

    monkeypatch.setattr(np, "savez", meta_only)
    with pytest.raises(OSError, match="lacks arrays"):
        checkpoint.write_atomic(str(path), {"epochs": 2}, {"net.a": np.ones(3)})
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]
