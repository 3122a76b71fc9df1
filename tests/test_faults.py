"""Fault paths of training (issue 14): batches beyond memory, overlapping trainings, Ctrl-C at start-up."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from cnntoolbox import cnntrain
from cnntoolbox.training import parallel
from cnntoolbox.netlayout import map_sizes, stack_for_input

from helpers import max_rel_error, random_net

TESTS = str(Path(__file__).resolve().parent)
ROOT = str(Path(TESTS).parent)


def _working_bytes(net, x):
    stacked = stack_for_input(net, x)
    sizes = map_sizes(stacked["layers"], x.shape[0], x.shape[1])
    return parallel.sample_bytes(stacked["layers"], sizes, stacked["ffW"].shape[0])[0]


def _net_of_kind(spec, size, n, onum, options):
    """random_net, with opt-in keys set: (layer index, key, value), ('net', key, value), channels."""
    from cnntoolbox import cnnsetup
    from cnntoolbox.netlayout import parse_layers

    rng = np.random.default_rng(2)
    layers = parse_layers(spec)
    net = {"layers": layers}
    channels = 1
    for where, key, value in options:
        if where == "net":
            net[key] = value
        elif where == "channels":
            channels = value
        else:
            layers[where][key] = value
    x = rng.random((size, size, channels, n) if channels > 1 else (size, size, n))
    y = rng.random((onum, n))
    if net.get("output") == "softmax":
        y = y / y.sum(axis=0)
    return cnnsetup(net, x, y, rng=rng), x, y


@pytest.mark.parametrize("spec, size, options", [
    ("6c5-2s-12c5-2s", 28, []), ("2s-3c3-2s", 12, []), ("3c3-2s-4c3", 12, []), ("4c5", 9, []),
    ("2c3-2s-5c3-3s", 24, []),
    ("3c3-2s-4c3-2s", 18, [(1, "activation", "relu"), (3, "activation", "tanh")]),
    ("3c3-2s-4c3-2s", 18, [(2, "method", "max"), (4, "method", "max")]),
    ("3c3-3c3-2s-2s", 20, [(1, "activation", "relu"), ("net", "output", "softmax")]),
    ("3c3-2s", 12, [("channels", None, 3), (1, "activation", "linear")]),
])
def test_the_memory_estimate_bounds_what_a_piece_allocates(spec, size, options):
    """sample_bytes is an upper bound of ff + bp's peak (tracemalloc), and not a loose one."""
    n = 200
    net, x, y = _net_of_kind(spec, size, 2 * n, 3, options)
    stacked = stack_for_input(net, x)
    channels = x.shape[2] if x.ndim == 4 else 1
    sizes = map_sizes(stacked["layers"], x.shape[0], x.shape[1], channels)
    working = parallel.sample_bytes(stacked["layers"], sizes, stacked["ffW"].shape[0])[0]
    part = parallel._share_weights(stacked)
    tracemalloc.start()
    try:
        parallel._ffbp(part, x[..., :n], y[:, :n], 2 * n)          # a piece: a slice of the batch
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.6 * working * n <= peak <= working * n, (peak / n, working)


def _train_pieces(net, x, y, batchsize, monkeypatch, parts, budget):
    monkeypatch.setattr(parallel, "PARTS", parts)
    monkeypatch.setattr(parallel, "WORK_BUDGET", budget)
    sizes = map_sizes(stack_for_input(net, x)["layers"], x.shape[0], x.shape[1])
    pieces = parallel.BatchParallel(stack_for_input(net, x), batchsize, sizes).pieces
    opts = {"alpha": 0.7, "batchsize": batchsize, "numepochs": 2}
    return pieces, cnntrain(net, x, y, opts, rng=5, verbose=False)


@pytest.mark.parametrize("parts, per_piece, expected", [(1, 14, 3), (2, 10, 4), (2, 8, 5)])
def test_a_batch_beyond_the_budget_runs_in_pieces_with_the_one_piece_result(
        monkeypatch, parts, per_piece, expected):
    net, x, y = random_net("3c3-2s-4c3-2s", 18, 18, 80, 5, seed=4)
    working = _working_bytes(net, x)
    one_pieces, one = _train_pieces(net, x, y, 40, monkeypatch, 1, 2 ** 40)
    pieces, split = _train_pieces(net, x, y, 40, monkeypatch, parts, parts * per_piece * working)
    assert (one_pieces, pieces) == (1, expected)
    assert split["layers"][1]["a"][0].shape == (16, 16, 40)       # the last batch, joined
    error, where = max_rel_error(one, split)
    assert error <= 1e-12, where
    assert set(one) == set(split) and all(set(a) == set(b) for a, b in
                                          zip(one["layers"], split["layers"]))


def test_a_batch_whose_kept_fields_exceed_the_memory_is_refused_up_front(monkeypatch):
    net, x, y = random_net("3c3-2s", 12, 12, 600, 2, seed=0)
    monkeypatch.setattr(parallel, "available_memory", lambda: 2 ** 20)
    with pytest.raises(ValueError, match=r"a batch of 600 samples needs 0\.0 GiB .* more than "
                                         r"the 0\.0 GiB of memory available; lower opts\['batchsize'\]"):
        cnntrain(net, x, y, {"alpha": 1.0, "batchsize": 600, "numepochs": 1}, verbose=False)
    monkeypatch.setattr(parallel, "available_memory", lambda: 2 ** 40)
    monkeypatch.setattr(parallel, "WORK_BUDGET", 1000)
    with pytest.raises(ValueError, match=r"a batch of 600 samples cannot be processed: one "
                                         r"sample's working arrays need 0\.000 GiB"):
        cnntrain(net, x, y, {"alpha": 1.0, "batchsize": 600, "numepochs": 1}, verbose=False)


def _blas_threads():
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def overlapping_trainings():
    """Subprocess: two trainings in threads, the first to start ends first; print the BLAS threads."""
    parallel.PARTS = 2                                      # workers (and the limit) on any machine
    net, x, y = random_net("2c3-2s", 10, 10, 32, 2, seed=0)
    opts = {"alpha": 1.0, "batchsize": 16, "numepochs": 1}
    first_running, second_running, first_done = (threading.Event() for _ in range(3))

    def first_progress(*args):
        first_running.set()
        assert second_running.wait(60)

    def second_progress(*args):
        second_running.set()
        assert first_done.wait(60)

    before = _blas_threads()
    first = threading.Thread(target=cnntrain, args=(net, x, y, opts),
                             kwargs={"rng": 0, "verbose": False, "progress": first_progress})
    second = threading.Thread(target=cnntrain, args=(net, x, y, opts),
                              kwargs={"rng": 0, "verbose": False, "progress": second_progress})
    first.start()
    assert first_running.wait(60)
    second.start()
    first.join(60)
    first_done.set()
    second.join(60)
    print(json.dumps({"before": before, "after": _blas_threads()}))


def test_overlapping_trainings_leave_the_blas_threads_as_they_were():
    """Issue 14: threadpoolctl limits restored out of order left OpenBLAS at one thread for good.

    In a fresh process (the BLAS thread count is process-wide) whose BLAS
    starts with two threads.
    """
    code = (f"import sys; sys.path.insert(0, {TESTS!r}); "
            f"from test_faults import overlapping_trainings; overlapping_trainings()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, OPENBLAS_NUM_THREADS="2"))
    assert result.returncode == 0, result.stderr
    threads = json.loads(result.stdout.splitlines()[-1])
    assert threads["before"] == [2], threads
    assert threads["after"] == threads["before"], threads


def _before_the_handler(err):
    """A traceback of a Ctrl-C that came before ``cnntoolbox.cli.interrupt.install`` ran."""
    files = re.findall(r'File "([^"]+)"', err)
    ours = [name for name in files if "cnntoolbox" in name]
    return ("Traceback" in err and not any("numpy" in name or "scipy" in name for name in files)
            and all(name.endswith(("__init__.py", "interrupt.py")) for name in ours))


def test_ctrl_c_while_starting_up_prints_one_line_and_exits_130(tmp_path):
    """Ctrl-C at moments of the first half second: no traceback, exit status 130.

    A SIGINT that lands while the interpreter itself still starts, before
    the package's first line installs the handler (tens of milliseconds,
    more on a loaded machine), is Python's affair: such a run is not
    counted, and most runs must count.
    """
    command = [sys.executable, "-m", "cnntoolbox", "train", "--limit", "100", "--layers", "2c5-2s",
               "--quiet"]
    counted = 0
    for delay in (0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.0):   # later ones only on a slow start
        if counted >= 5:
            break
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(delay)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=120)
        finally:
            process.kill()
            process.wait()
        if _before_the_handler(err):
            continue
        counted += 1
        assert process.returncode == 130, (delay, err)
        # during the imports the command is not parsed yet; once main runs it is named
        assert err.strip() in ("cnntoolbox: interrupted", "cnntoolbox train: interrupted"), \
            (delay, err)
    assert counted >= 3, "the interpreter's start-up took most of the half second; nothing tested"


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_integer_images_are_refused_with_the_division_by_255(dtype):
    """Raw uint8 MNIST saturates the first layer's sigmoid; the toolbox divides by 255 first."""
    from cnntoolbox import cnnff, cnnsetup, cnntest

    net, x, y = random_net("2c3-2s", 10, 10, 4, 2, seed=0)
    raw = np.round(x * 255).astype(dtype)
    message = (rf"x is {np.dtype(dtype)} in {raw.min()}\.\.{raw.max()}; the toolbox's example "
               r"divides by 255: pass x / 255 \(or x\.astype\(float\) if you mean the raw values\)")
    for call in (lambda: cnnsetup({"layers": net["layers"]}, raw, y),
                 lambda: cnntrain(net, raw, y, {"alpha": 1.0, "batchsize": 2, "numepochs": 1},
                                  verbose=False),
                 lambda: cnnff(net, raw), lambda: cnntest(net, raw, y)):
        with pytest.raises(ValueError, match=message):
            call()
    assert np.array_equal(cnnff(net, raw / 255)["o"], cnnff(net, raw.astype(float) / 255)["o"])


def test_cnntest_does_not_copy_the_last_training_batch():
    """A net trained on one big batch carries its a, d, fv, ...; cnntest needs only the weights."""
    from cnntoolbox import cnntest

    net, x, y = random_net("2c3-2s", 12, 12, 400, 2, seed=0)
    trained = cnntrain(net, x, y, {"alpha": 1.0, "batchsize": 400, "numepochs": 1}, rng=0,
                       verbose=False)
    carried = sum(np.asarray(value).nbytes for layer in trained["layers"]
                  for field in ("a", "d") for value in layer.get(field, []))
    tracemalloc.start()
    try:
        er, _ = cnntest(trained, x[:, :, :10], y[:, :10])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < carried / 10, (peak, carried)
    assert er == cnntest({"layers": [{k: v for k, v in layer.items() if k not in ("a", "d")}
                                     for layer in trained["layers"]],
                          "ffW": trained["ffW"], "ffb": trained["ffb"]}, x[:, :, :10], y[:, :10])[0]
