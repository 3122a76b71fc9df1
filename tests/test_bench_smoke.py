"""The benchmark in bench/: smoke runs (not timed) and the PyTorch peer's equivalence.

The torch tests are skipped when torch is not installed (it is no dependency
of cnntoolbox; bench/README.md says how to install its CPU build).
"""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnntoolbox import cnnbp, cnnff, cnnsetup, cnntrain

from helpers import rel_error

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import ab  # noqa: E402  (bench/ is not a package)
import epoch  # noqa: E402

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")

#: A small net of every kind of layer: non-square input, two conv and two
#: subsampling layers, 3 outputs.
LAYERS = [{"type": "i"},
          {"type": "c", "outputmaps": 2, "kernelsize": 3},
          {"type": "s", "scale": 2},
          {"type": "c", "outputmaps": 3, "kernelsize": 3},
          {"type": "s", "scale": 2}]


def run_script(*args):
    proc = subprocess.run([sys.executable, str(BENCH / args[0]), *args[1:]],
                          capture_output=True, text=True, cwd=BENCH.parent, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_epoch_quick_prints_every_row():
    out = run_script("epoch.py", "--quick", "--markdown")
    assert "| cnntoolbox cnntrain, float64 | 200 (scaled) |" in out
    assert "| cnntoolbox cnntrain, float32 | 200 (scaled) |" in out
    if HAS_TORCH:
        assert "| PyTorch CPU, float64 | 200 (scaled) |" in out
        assert "| PyTorch CPU, float32 | 200 (scaled) |" in out
        # Every row's ratio is its s/epoch over PyTorch float64's, as printed (2 decimals).
        rows = {cells[1]: (float(cells[3]), float(cells[4]))
                for cells in (line.split("|") for line in out.splitlines()
                              if line.startswith("| ") and "(scaled)" in line)}
        base = rows[" PyTorch CPU, float64 "][0]
        assert len(rows) == 5   # the package f64, f32, its literal transcription, PyTorch f64, f32
        assert "package-f32 / torch-f32, per round: " in out
        for seconds, ratio in rows.values():
            assert abs(ratio - seconds / base) <= 0.005 + 0.01 * seconds / base, (seconds, ratio)
    else:
        assert "skipped torch-f64, torch-f32: torch is not installed" in out
    assert "BLAS (numpy.libs):" in out and "OPENBLAS_CORETYPE" in out and "machine:" in out


def test_torch_rows_are_skipped_without_torch(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    rows, skipped = epoch.plan(epoch.parse_args(["--quick"]), threads=1)
    assert [key for key, _, _ in rows if key.startswith("torch")] == []
    assert any("torch is not installed" in msg for msg in skipped)


def test_table_ratio_and_failed_row():
    table = [{"key": "package", "label": "ours", "samples": 6000, "epoch_seconds": 2.0,
              "cpu_seconds": 3.0, "test_seconds": None, "test_error": None, "peak_mib": 100.0},
             {"key": "torch-f64", "label": "peer", "samples": 60000, "epoch_seconds": 4.0,
              "cpu_seconds": 7.5, "test_seconds": 0.5, "test_error": 0.11, "peak_mib": 300.0},
             {"key": "octave", "label": "orig", "error": "boom"}]
    lines = epoch.format_table(table, markdown=True)
    assert lines[2] == "| ours | 6000 (scaled) | 2.00 | 0.50 | 3.00 | - | - | 100 |"
    assert lines[3] == "| peer | 60000 | 4.00 | 1.00 | 7.50 | 0.50 | 0.1100 | 300 |"
    assert "failed: boom" in lines[4]


def test_epoch_rejects_a_slice_that_is_not_whole_batches():
    with pytest.raises(SystemExit):
        epoch.parse_args(["--samples", "125"])


def test_scaling_and_profile_quick():
    out = run_script("scaling.py", "--quick")
    assert "28x28" in out and "6-12" in out
    out = run_script("profile_batch.py", "--quick")
    for phase in ("forward conv", "pooling", "backward", "gradients", "update", "fixed per batch"):
        assert phase in out


def _slowed_copy(folder, seconds):
    """A copy of the package whose forward pass (``cnnff.ff``) sleeps ``seconds`` first."""
    import shutil

    package = folder / "cnntoolbox"
    shutil.copytree(BENCH.parent / "cnntoolbox", package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    if (BENCH.parent / "data").is_dir():           # the MNIST files beside the package
        (folder / "data").symlink_to(BENCH.parent / "data")
    source = (package / "cnnff.py").read_text()
    head = "\ndef ff(net, x, masks=None):\n"
    assert source.count(head) == 1
    body = source.index('"""', source.index('"""', source.index(head) + len(head)) + 3) + 3
    (package / "cnnff.py").write_text(
        source[:body] + f"\n    __import__('time').sleep({seconds})" + source[body:])
    return folder


def test_ab_detects_a_checkout_made_slower_on_purpose(tmp_path):
    # 2 batches of 50 per run, 0.05 to 0.1 s each on this loaded 2-core machine; the copy
    # sleeps 0.2 s more per batch: ratio 3 to 5, and still above 2 at three times the load.
    slow = _slowed_copy(tmp_path / "slow", 0.2)
    out = run_script("ab.py", ".", str(slow), "--rounds", "2", "--samples", "100")
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(".: ") and lines[1].startswith(f"{slow}: ")
    ratio = float(lines[1].split(" median round ratio to . ")[1].split()[0])
    assert ratio > 1.5, out
    assert lines[0].split("last rL ")[1] == lines[1].split("last rL ")[1]   # same results
    with pytest.raises(SystemExit):
        ab.parse_args([".", "--samples", "125"])


def test_ab_single_precision_trains_in_float32():
    # the same run as float64 and as float32: the last rL agrees to float32's precision, not
    # to the last digit (the option reaches the training)
    last = {}
    for precision in ("double", "single"):
        out = run_script("ab.py", ".", "--rounds", "1", "--samples", "100",
                         "--precision", precision)
        last[precision] = float(out.strip().split("last rL ")[1])
    assert last["double"] != last["single"]
    assert last["double"] == pytest.approx(last["single"], rel=1e-5)


def _small_net(seed):
    rng = np.random.default_rng(seed)
    x = rng.random((18, 14, 5))
    y = rng.random((3, 5))
    net = cnnsetup({"layers": LAYERS}, x, y, rng=rng)
    for layer in net["layers"]:                    # non-zero biases, so that db is exercised
        if layer["type"] == "c":
            layer["b"] = [float(v) for v in rng.uniform(-0.5, 0.5, len(layer["b"]))]
    net["ffb"] = rng.uniform(-0.5, 0.5, net["ffb"].shape)
    return net, x, y


@needs_torch
def test_peer_gradients_equal_cnnbp():
    import torch_peer
    net, x, y = _small_net(1)
    ours = cnnbp(cnnff(net, x), y)
    params = torch_peer.params_from_net(net)
    o = torch_peer.forward(params, LAYERS, torch_peer.x_to_torch(x))
    L = torch_peer.loss(o, torch_peer.y_to_torch(y))
    L.backward()
    peer = torch_peer.grads_as_net(params)
    assert abs(L.item() - ours["L"]) <= 1e-10 * ours["L"]
    np.testing.assert_allclose(o.detach().numpy().T, ours["o"], rtol=0, atol=1e-10)
    conv = [layer for layer in ours["layers"] if layer["type"] == "c"]
    for c, layer in enumerate(conv):
        for i, row in enumerate(layer["dk"]):
            for j, dk in enumerate(row):
                np.testing.assert_allclose(peer["dk"][c][i][j], dk, rtol=0, atol=1e-10)
        np.testing.assert_allclose(peer["db"][c], layer["db"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(peer["dffW"], ours["dffW"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(peer["dffb"], ours["dffb"], rtol=0, atol=1e-10)
    assert np.abs(ours["dffW"]).max() > 1e-3          # the comparison is not of zeros


@needs_torch
def test_peer_epoch_equals_cnntrain():
    import torch_peer
    net, x, y = _small_net(2)
    x, y = np.concatenate([x, x[::-1, ::-1]], axis=2), np.concatenate([y, y[::-1]], axis=1)
    perm = np.random.default_rng(3).permutation(10)
    opts = {"alpha": 1.0, "batchsize": 2, "numepochs": 1}
    ours = cnntrain(net, x, y, opts, kk=[perm])
    params = torch_peer.params_from_net(net)
    losses = torch_peer.train_epoch(params, LAYERS, torch_peer.x_to_torch(x),
                                    torch_peer.y_to_torch(y), 1.0, 2, perm=perm)
    trained = torch_peer.params_from_net(ours)
    for a, b in zip(torch_peer.parameters(params), torch_peer.parameters(trained)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(torch_peer.running_loss(losses), ours["rL"], rtol=1e-12)


REFERENCE = BENCH.parent / "matlab_reference"


@needs_torch
@pytest.mark.parametrize("path", sorted(REFERENCE.glob("case_*.mat")), ids=lambda p: p.stem)
def test_peer_matches_the_original(path):
    """Gradients and a recorded training run of the original (Octave) through the peer."""
    import torch_peer
    from cnntoolbox.matfile import loadmat
    case = loadmat(path)
    layers = case["net_setup"]["layers"]
    x, y = torch_peer.x_to_torch(case["x"]), torch_peer.y_to_torch(case["y"])
    params = torch_peer.params_from_net(case["net_setup"])
    torch_peer.loss(torch_peer.forward(params, layers, x), y).backward()
    peer, ref = torch_peer.grads_as_net(params), case["net_bp"]
    conv = [layer for layer in ref["layers"] if layer["type"] == "c"]
    errors = [rel_error(ref["dffW"], peer["dffW"]), rel_error(ref["dffb"], peer["dffb"])]
    for c, layer in enumerate(conv):
        errors.append(rel_error(layer["dk"], peer["dk"][c]))
        errors.append(rel_error(layer["db"], peer["db"][c]))
    assert max(errors) <= 1e-10

    params = torch_peer.params_from_net(case["net_setup"])
    losses = []
    for order in np.atleast_2d(case["kk"]):
        losses += torch_peer.train_epoch(params, layers, x, y, float(case["opts"]["alpha"]),
                                         int(case["opts"]["batchsize"]),
                                         perm=np.asarray(order, dtype=np.int64) - 1)
    trained = torch_peer.params_from_net(case["net_train"])
    for ours, theirs in zip(torch_peer.parameters(params), torch_peer.parameters(trained)):
        assert rel_error(theirs.detach().numpy(), ours.detach().numpy()) <= 1e-10
    assert rel_error(case["net_train"]["rL"], torch_peer.running_loss(losses)) <= 1e-10


def test_loadmat_isolation_bench_prints_both_tables():
    out = run_script("loadmat_isolation.py", "--repeat", "1", "--cells", "20")
    assert re.search(r"^\| v7, \d+ bytes \| \d+ \| \d+ \| -?\d+ \|$", out, re.M), out
    assert re.search(r"^\| v7\.3, \d+ bytes \| \d+ \| \d+ \| -?\d+ \|$", out, re.M), out
    assert re.search(r"^\| cnntoolbox loadmat \| \d+\.\d\d \| 1\.00 \|$", out, re.M), out
