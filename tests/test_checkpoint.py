"""cnntrain(checkpoint=...): nothing lost on kill -9, no half-written file, other data refused."""

import errno
import glob
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnntoolbox import cnntrain
from cnntoolbox.training import parallel
from cnntoolbox.__main__ import main
from cnntoolbox.matfile import loadmat
from cnntoolbox.training.checkpoint import Checkpoint, CheckpointError, interrupted_message, load_checkpoint

from helpers import assert_same_net, random_net

TESTS = str(Path(__file__).resolve().parent)
ROOT = str(Path(__file__).resolve().parent.parent)
SPEC, ROWS, COLS, M, ONUM, SEED = "3c3-2s-4c3", 12, 12, 40, 4, 11
OPTS = {"alpha": 1.0, "batchsize": 8}
EPOCHS = 8
#: Seconds slept per batch in the subprocess: 5 batches a epoch make every
#: epoch last at least 0.1 s however fast the machine, so a kill within
#: 0.4 s of the first checkpoint lands mid-training.
PAUSE = 0.02


def _run(function, *args):
    """Command line that runs ``function(*args)`` of this module in a fresh Python."""
    code = (f"import sys; sys.path.insert(0, {TESTS!r}); "
            f"from test_checkpoint import {function}; {function}(*sys.argv[1:])")
    return [sys.executable, "-c", code, *map(str, args)]


def train_worker(checkpoint, out, pause):
    """Subprocess: train the test net for EPOCHS epochs, write rL, ffW and every k to ``out``."""
    net, x, y = random_net(SPEC, ROWS, COLS, M, ONUM, seed=SEED)
    progress = (lambda *args: time.sleep(float(pause))) if float(pause) else None
    trained = cnntrain(net, x, y, dict(OPTS, numepochs=EPOCHS), rng=SEED, verbose=False,
                       progress=progress, checkpoint=checkpoint or None)
    np.savez(out, **_result(trained))


def save_worker(path, size):
    """Subprocess: overwrite the checkpoint ``path`` forever, save n holding an array full of n."""
    x, y = np.zeros((2, 2, 1)), np.zeros((1, 1))
    big = np.zeros(int(size))
    stacked = {"layers": [{"type": "i"}], "big": big}
    saver = Checkpoint(path, x, y, (1.0, 1, 10 ** 9), stacked)
    rng = np.random.default_rng(0)
    for n in range(1, 10 ** 9):
        big.fill(n)
        saver.save(stacked, n, [float(n)], rng)


def _result(net):
    arrays = {"rL": net["rL"], "ffW": net["ffW"], "ffb": net["ffb"]}
    for l, layer in enumerate(net["layers"]):
        if layer["type"] == "c":
            arrays[f"k{l}"] = np.array(layer["k"])
            arrays[f"b{l}"] = np.array(layer["b"])
    return arrays


def _wait_for(path, process, timeout=60):
    """Wait until ``path`` exists; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def test_resume_after_kill_9_is_bit_identical(tmp_path):
    checkpoint, reference, resumed = tmp_path / "ck.npz", tmp_path / "ref.npz", tmp_path / "res.npz"
    subprocess.run(_run("train_worker", "", reference, 0), check=True, timeout=300)

    process = subprocess.Popen(_run("train_worker", checkpoint, tmp_path / "never.npz", PAUSE))
    try:
        assert _wait_for(checkpoint, process), "the training subprocess ended before its first checkpoint"
        delay = random.uniform(0, 0.4)
        time.sleep(delay)
        process.kill()                                            # SIGKILL: no cleanup of any kind
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    done = load_checkpoint(checkpoint)["epochs"]
    assert 1 <= done < EPOCHS, f"killed {delay:.3f} s after the first checkpoint, {done} epochs saved"
    assert not (tmp_path / "never.npz").exists()

    subprocess.run(_run("train_worker", checkpoint, resumed, 0), check=True, timeout=300)
    with np.load(reference) as ref, np.load(resumed) as res:
        assert sorted(ref.files) == sorted(res.files)
        assert len(ref["rL"]) == EPOCHS * M // OPTS["batchsize"] + 1
        for name in ref.files:
            assert ref[name].tobytes() == res[name].tobytes(), (
                f"{name} differs after a kill -9 at epoch {done} (+{delay:.3f} s)")


def _kill_while_saving(path, count, aim=False):
    """Kill -9 a worker that saves ``path`` over and over (``count`` float64s a save).

    The kill lands 0.05 to 0.3 s after its first checkpoint exists or, with
    ``aim``, as soon as a save's temporary file is seen (so it lands inside
    a save, unless that save ends in between); returns the temporary files
    left beside ``path``.
    """
    pattern = str(path.parent / f".{path.name}.cnntoolbox-tmp-*")        # atomic.TEMP_MARK
    process = subprocess.Popen(_run("save_worker", path, count))
    try:
        assert _wait_for(path, process)
        time.sleep(random.uniform(0.05, 0.3))
        deadline = time.monotonic() + 5
        while aim and not glob.glob(pattern) and time.monotonic() < deadline:
            pass
    finally:
        process.kill()
        process.wait()
    return glob.glob(pattern)


def test_a_kill_during_a_save_leaves_the_old_checkpoint(tmp_path):
    path = tmp_path / "ck.npz"
    mid_save = 0
    for attempt in range(6):
        path.unlink(missing_ok=True)
        temps = _kill_while_saving(path, 2 ** 20)             # 8 MB a save
        saved = load_checkpoint(path)                          # complete, whatever the moment
        assert np.all(saved["arrays"]["net.big"] == saved["epochs"])
        assert saved["rL"].tolist() == [float(saved["epochs"])]
        mid_save += bool(temps)
        for temp in temps:
            os.unlink(temp)
    assert mid_save >= 1, "no kill landed during a save; the test proved nothing"


def _data():
    return random_net(SPEC, ROWS, COLS, M, ONUM, seed=SEED)


def test_the_temporary_file_of_a_killed_save_is_removed_by_the_next_save(tmp_path):
    """kill -9 in the middle of a save leaves its temporary file; the next save removes it."""
    path = tmp_path / "ck.npz"
    pattern = str(tmp_path / ".ck.npz.cnntoolbox-tmp-*")              # atomic.TEMP_MARK
    for attempt in range(10):
        left = _kill_while_saving(path, 2 ** 21, aim=True)    # 16 MB a save
        if left:
            break
    assert left, "no kill landed during a save in 10 tries; the test proved nothing"
    x, y = np.zeros((2, 2, 1)), np.zeros((1, 1))
    stacked = {"layers": [{"type": "i"}], "big": np.zeros(3)}
    Checkpoint(path, x, y, (1.0, 1, 10), stacked).save(stacked, 1, [1.0], np.random.default_rng(0))
    assert glob.glob(pattern) == [] and load_checkpoint(path)["epochs"] == 1


def test_a_full_disk_names_the_checkpoint_and_keeps_the_old_one(one_epoch, tmp_path, monkeypatch):
    path, net, x, y = one_epoch
    copy = tmp_path / "ck.npz"
    copy.write_bytes(path.read_bytes())

    def full_disk(fileobj, **arrays):
        fileobj.write(b"PK\x03\x04 the first bytes")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError, match=re.escape(str(copy))) as info:
        cnntrain(net, x, y, dict(OPTS, numepochs=2), rng=0, verbose=False, checkpoint=copy)
    assert info.value.errno == errno.ENOSPC
    assert copy.read_bytes() == path.read_bytes() and os.listdir(tmp_path) == ["ck.npz"]


def test_resume_in_process_with_given_permutations(tmp_path):
    net, x, y = _data()
    rng = np.random.default_rng(3)
    kk = [rng.permutation(M) for _ in range(3)]
    opts = dict(OPTS, numepochs=3)
    full = cnntrain(net, x, y, opts, kk=kk, verbose=False)
    path = tmp_path / "ck.npz"
    cnntrain(net, x, y, dict(opts, numepochs=1), kk=kk[:1], verbose=False, checkpoint=path)
    resumed = cnntrain(net, x, y, opts, kk=kk, verbose=False, checkpoint=path)
    assert load_checkpoint(path)["epochs"] == 3
    for name, value in _result(full).items():
        assert value.tobytes() == _result(resumed)[name].tobytes(), name


@pytest.mark.parametrize("parts, extra", [(None, {}), (2, {}), (2, {"momentum": 0.9})])
def test_a_finished_checkpoint_returns_the_same_net(tmp_path, capsys, monkeypatch, parts, extra):
    """Every field, also the last batch's a, d, fv, o, ... that the batch-parallel path joins."""
    monkeypatch.setattr(parallel, "PARTS", parts)
    net, x, y = _data()
    opts = dict(OPTS, numepochs=2, **extra)
    path = tmp_path / "ck.npz"
    uninterrupted = cnntrain(net, x, y, opts, rng=1, verbose=False)
    first = cnntrain(net, x, y, opts, rng=1, verbose=False, checkpoint=path)
    again = cnntrain(net, x, y, opts, rng=1, checkpoint=path)
    assert "resumed from" in capsys.readouterr().out
    assert "fvd" in uninterrupted and "d" in uninterrupted["layers"][1]
    assert_same_net(uninterrupted, first)
    assert_same_net(uninterrupted, again)


def test_the_command_run_again_after_it_finished_saves_the_same_net(tmp_path, monkeypatch, capsys):
    """Issue 14, item 4: the same --checkpoint --save command twice; the second save equals the first."""
    monkeypatch.setattr(parallel, "PARTS", 2)
    command = ["train", "--limit", "100", "--layers", "2c5-2s", "--epochs", "2",
               "--checkpoint", str(tmp_path / "ck.npz"), "--save", str(tmp_path / "b.mat")]
    assert main(command) == 0
    first = loadmat(tmp_path / "b.mat")["cnn"]
    assert main(command) == 0
    assert "resumed from" in capsys.readouterr().out
    assert_same_net(first, loadmat(tmp_path / "b.mat")["cnn"])


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    """A checkpoint after one epoch of the test net on the test data."""
    net, x, y = _data()
    path = tmp_path_factory.mktemp("ck") / "ck.npz"
    cnntrain(net, x, y, dict(OPTS, numepochs=1), rng=0, verbose=False, checkpoint=path)
    return path, net, x, y


def _refused(path, net, x, y, opts, match):
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=match):
        cnntrain(net, x, y, opts, rng=0, verbose=False, checkpoint=path)
    assert path.read_bytes() == before


def test_a_checkpoint_of_other_data_is_refused(one_epoch):
    path, net, x, y = one_epoch
    other = x.copy()
    other[3, 4, 5] += 1e-12
    _refused(path, net, other, y, dict(OPTS, numepochs=2), r"was made for other training data")
    _refused(path, net, x, 1 - y, dict(OPTS, numepochs=2), r"other training data")


def test_a_checkpoint_of_other_opts_or_net_is_refused(one_epoch):
    path, net, x, y = one_epoch
    _refused(path, net, x, y, dict(OPTS, alpha=0.5, numepochs=2), r"opts\['alpha'\] = 1\.0, not 0\.5")
    _refused(path, net, x, y, dict(OPTS, batchsize=4, numepochs=2), r"opts\['batchsize'\]")
    other, _, _ = random_net("3c3-2s-5c3", ROWS, COLS, M, ONUM, seed=SEED)
    _refused(path, other, x, y, dict(OPTS, numepochs=2),
             r"made for the net i-3c3-2s-4c3, not i-3c3-2s-5c3")


def test_a_checkpoint_of_another_seed_or_initial_net_is_refused(one_epoch):
    path, net, x, y = one_epoch                                   # made with rng=0
    opts = dict(OPTS, numepochs=2)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"was made with the random generator of seed 0, "
                                              r"not the random generator of seed 1; resume with "
                                              r"the same seed \(--seed, rng\)"):
        cnntrain(net, x, y, opts, rng=1, verbose=False, checkpoint=path)
    drawn = np.random.default_rng(0)
    drawn.random()
    with pytest.raises(CheckpointError, match=r"seed 0 in another state, not the random "
                                              r"generator of seed 0"):
        cnntrain(net, x, y, opts, rng=drawn, verbose=False, checkpoint=path)
    other, _, _ = random_net(SPEC, ROWS, COLS, M, ONUM, seed=SEED + 1)
    _refused(path, other, x, y, opts, r"was made from other initial weights")
    assert path.read_bytes() == before


def test_the_command_refuses_a_checkpoint_of_another_seed(tmp_path, capsys):
    command = ["train", "--limit", "100", "--layers", "2c5-2s", "--quiet",
               "--checkpoint", str(tmp_path / "ck.npz")]
    assert main(command + ["--seed", "3"]) == 0
    assert main(command + ["--seed", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cnntoolbox train: error: checkpoint ") and len(err.splitlines()) == 1
    assert "was made with the random generator of seed 3, not the random generator of seed 4" in err


@pytest.mark.parametrize("content", [b"\x80\x04garbage" + bytes(range(256)), b"PK\x03\x04 cut",
                                     "object array"])
def test_a_garbage_checkpoint_is_not_a_checkpoint_and_never_unpickled(tmp_path, content):
    path = tmp_path / "ck.npz"
    if content == "object array":
        np.savez(path, meta=np.array([{"epochs": 1}], dtype=object))   # pickled inside the zip
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a cnntoolbox checkpoint") as info:
        load_checkpoint(path)
    assert "allow_pickle" not in str(info.value)


def test_a_damaged_checkpoint_is_refused(one_epoch, tmp_path):
    path, net, x, y = one_epoch
    raw = path.read_bytes()
    for name, content in [("cut.npz", raw[:len(raw) // 2]), ("text.npz", b"epoch 3\n"),
                          ("empty.npz", b""), ("array.npz", None)]:
        damaged = tmp_path / name
        if content is None:
            np.save(damaged, np.arange(3))
            os.replace(f"{damaged}.npy", damaged)
        else:
            damaged.write_bytes(content)
        with pytest.raises(CheckpointError, match=f"checkpoint {damaged} is damaged"):
            cnntrain(net, x, y, dict(OPTS, numepochs=2), verbose=False, checkpoint=damaged)


def test_an_interrupted_write_keeps_the_old_checkpoint(one_epoch, tmp_path, monkeypatch):
    path, net, x, y = one_epoch
    copy = tmp_path / "ck.npz"
    copy.write_bytes(path.read_bytes())

    def broken_savez(fileobj, **arrays):
        fileobj.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        cnntrain(net, x, y, dict(OPTS, numepochs=2), verbose=False, checkpoint=copy)
    monkeypatch.undo()
    assert copy.read_bytes() == path.read_bytes()
    assert os.listdir(tmp_path) == ["ck.npz"]
    assert interrupted_message(copy) == f"epoch 1 of 1 is saved in {copy}"


def test_ctrl_c_during_a_save_is_held_until_the_save_is_done(one_epoch, tmp_path, monkeypatch):
    path, net, x, y = one_epoch
    copy = tmp_path / "ck.npz"
    copy.write_bytes(path.read_bytes())
    savez = np.savez

    def interrupted_savez(fileobj, **arrays):
        signal.raise_signal(signal.SIGINT)                     # Ctrl-C in the middle of the write
        savez(fileobj, **arrays)

    monkeypatch.setattr(np, "savez", interrupted_savez)
    with pytest.raises(KeyboardInterrupt):
        cnntrain(net, x, y, dict(OPTS, numepochs=3), verbose=False, checkpoint=copy)
    monkeypatch.undo()
    assert load_checkpoint(copy)["epochs"] == 2                # epoch 2 was finished and saved
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_command_line_ctrl_c_saves_and_exits_130(tmp_path):
    path = tmp_path / "ck.npz"
    command = [sys.executable, "-m", "cnntoolbox", "train", "--limit", "200", "--layers", "2c5-2s",
               "--epochs", "40", "--quiet", "--checkpoint", str(path)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        started = _wait_for(path, process)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert started, err
    assert process.returncode == 130
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(path) in err and f"epoch {load_checkpoint(path)['epochs']} of 40" in err
