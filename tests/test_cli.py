"""The command `python -m cnntoolbox` and the pieces of the example (issue 4)."""

import importlib.util
import io
import re
import subprocess
import sys
import types

import numpy as np
import pytest

from cnntoolbox import cnntest
from cnntoolbox.__main__ import main
from cnntoolbox.datasets.mnist import DEFAULT_DATA_DIR, load_mnist
from cnntoolbox.datasets.mnist import prepare_data
from cnntoolbox.netlayout import format_layers, parse_layers
from cnntoolbox.matfile import loadmat
from cnntoolbox.cli.progress import BatchProgress, make_progress

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
SMALL = ["--limit", "200", "--batchsize", "50", "--quiet"]


def run_command(*args, cwd):
    return subprocess.run([sys.executable, "-m", "cnntoolbox", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("fmt", ["7", "7.3"])
def test_command_end_to_end(tmp_path, fmt):
    net_file = tmp_path / "net.mat"
    plot = ["--plot", tmp_path / "rl.png"] if HAVE_MATPLOTLIB else []
    # No subcommand: the default is `train`; without --quiet it says what it does.
    run = run_command(*SMALL[:-1], "--save", net_file, "--format", fmt, *plot, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "epoch 1/1" in run.stdout
    printed = re.search(r"^test error: (\d+\.\d\d)% \((\d+) of 200 wrong\)$", run.stdout, re.M)
    assert printed, run.stdout
    assert re.search(r"^elapsed: \d+\.\d s$", run.stdout, re.M)
    assert run.stderr == ""                      # not a terminal: no progress display

    net = loadmat(net_file)["cnn"]
    assert format_layers(net["layers"]) == "6c5-2s-12c5-2s"
    assert net["rL"].shape == (200 // 50 + 1,)
    assert net["ffW"].shape == (10, 192)
    # The saved net is the trained one: testing it again gives the printed error.
    _, _, test_x, test_y = prepare_data(load_mnist(), limit=200)
    er, bad = cnntest(net, test_x, test_y)
    assert len(bad) == int(printed[2])
    assert f"{100 * er:.2f}" == printed[1]
    if HAVE_MATPLOTLIB:
        assert (tmp_path / "rl.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["net.mat"] + (["rl.png"] if plot else []))


def test_same_seed_same_run(capsys):
    outputs = []
    for _ in range(2):
        assert main(["train", *SMALL, "--seed", "7", "--alpha", "0.5"]) == 0
        outputs.append(re.search(r"test error: .*", capsys.readouterr().out)[0])
    assert outputs[0] == outputs[1]


def test_bad_usage_exits_2_with_one_line(tmp_path):
    run = run_command("--epochs", "zero", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stdout == ""
    assert len(run.stderr.splitlines()) == 1 and "--epochs" in run.stderr


@pytest.mark.parametrize("argv, words", [
    (["--epochs", "0"], "--epochs"),
    (["--batchsize", "-5"], "--batchsize"),
    (["--alpha", "nan"], "--alpha"),
    (["--layers", "6c5-2x"], "'2x'"),
    (["--layers", ""], "layers spec"),
    (["--format", "7.4", "--save", "n.mat"], "--format"),
    (["--format", "7.3"], "--save"),
    (["--limit", "0"], "--limit"),
    (["--limit", "210"], "numbatches not integer: m / batchsize = 210 / 50 = 4.2"),
    (["--save", "nowhere/net.mat"], "nowhere"),
    (["--replay", "missing.mat"], "missing.mat"),
    (["--replay", "ref.mat", "--epochs", "2"], "--epochs"),
    (["--unknown"], "--unknown"),
    (["nosuchcommand"], "nosuchcommand"),
    (["mnist-mat", "nowhere/mnist_uint8.mat"], "nowhere"),
    (["compare", "absent.mat"], "absent.mat: No such file or directory"),
    (["compare", "absent.mat", "--rtol", "-1"], "--rtol"),
    (["compare", "absent.mat", "--alpha", "0"], "--alpha"),
])
def test_bad_input_exits_2_with_one_line(argv, words, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--quiet"] if argv[0].startswith("--") else argv) == 2
    out, err = capsys.readouterr()
    assert "epoch" not in out                   # nothing was trained
    assert len(err.splitlines()) == 1 and words in err
    assert "Traceback" not in err and "Errno" not in err


@pytest.mark.parametrize("argv, prog", [
    (["--epochs", "0"], "cnntoolbox train"),
    (["train", "--limit", "210"], "cnntoolbox train"),
    (["train", "--replay", "absent.mat"], "cnntoolbox train"),
    (["mnist-mat", "a", "b"], "cnntoolbox mnist-mat"),
    (["mnist-mat", "nowhere/mnist_uint8.mat"], "cnntoolbox mnist-mat"),
    (["compare"], "cnntoolbox compare"),
    (["compare", "absent.mat"], "cnntoolbox compare"),
    (["figures", "--limit", "7", "--out", "."], "cnntoolbox figures"),
    (["nosuchcommand"], "cnntoolbox"),
])
def test_every_command_names_itself_in_its_errors(argv, prog, capsys, monkeypatch, tmp_path):
    # One program name and one error prefix, `cnntoolbox <command>: error: ...`, for every command.
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{prog}: error: ") and len(err.splitlines()) == 1, err
    assert "Errno" not in err


@pytest.mark.parametrize("command", ["train", "mnist-mat", "compare", "figures"])
def test_every_command_names_itself_in_its_usage(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: cnntoolbox {command} ")


def test_quiet_prints_only_the_result(capsys):
    assert main(SMALL) == 0
    out, err = capsys.readouterr()
    assert re.fullmatch(r"test error: \d+\.\d\d% \(\d+ of 200 wrong\)\n", out), out
    assert err == ""


def test_corrupt_data_exits_2_naming_the_file(tmp_path, capsys):
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz"):
        (tmp_path / name).symlink_to(DEFAULT_DATA_DIR / name)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    assert main(["--data-dir", str(tmp_path), *SMALL]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "t10k-labels-idx1-ubyte.gz" in err


def test_debug_shows_the_traceback():
    with pytest.raises(ValueError, match="cannot read"):
        main(["--layers", "6q5", "--debug"])


@pytest.mark.skipif(not HAVE_MATPLOTLIB, reason="needs matplotlib")
@pytest.mark.parametrize("name", ["rl.txt", "rl.docx"])
def test_plot_format_is_checked_before_training(name, capsys, tmp_path):
    assert main([*SMALL, "--plot", str(tmp_path / name)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith("cnntoolbox train: error: --plot: ") and "png" in err
    assert list(tmp_path.iterdir()) == []


def test_plot_without_matplotlib_stops_before_training(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # import matplotlib fails
    assert main([*SMALL, "--plot", str(tmp_path / "rl.png")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "matplotlib" in err
    assert list(tmp_path.iterdir()) == []


def test_mnist_mat_subcommand(tmp_path, capsys):
    import scipy.io

    target = tmp_path / "mnist_uint8.mat"
    assert main(["mnist-mat", str(target)]) == 0
    assert str(target) in capsys.readouterr().out
    variables = {name: (shape, dtype) for name, shape, dtype in scipy.io.whosmat(target)}
    assert variables == {"train_x": ((60000, 784), "uint8"), "train_y": ((60000, 10), "uint8"),
                         "test_x": ((10000, 784), "uint8"), "test_y": ((10000, 10), "uint8")}


def test_the_figures_subcommand_gets_its_arguments(monkeypatch):
    seen = []
    from cnntoolbox.__main__ import FIGURES_MODULE

    module = types.ModuleType(FIGURES_MODULE)
    module.main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, FIGURES_MODULE, module)
    assert main(["figures", "a.mat", "--rtol", "1e-3"]) == 3
    assert seen == [["a.mat", "--rtol", "1e-3"]]


def test_progress_is_drawn_on_a_terminal(monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["--limit", "200", "--batchsize", "50"]) == 0
    drawn = terminal.getvalue()
    assert drawn.startswith("\r") and drawn.endswith("\n")
    assert "epoch 1/1" in drawn and "4/4" in drawn and "rL " in drawn
    # The progress line names the epoch: Matlab's `epoch 1/1` line is not printed a second time.
    out = capsys.readouterr().out
    assert "epoch" not in out and "Elapsed time" not in out and "test error: " in out
    terminal.seek(0)
    terminal.truncate()
    assert main(["--limit", "200", "--batchsize", "50", "--quiet"]) == 0
    assert terminal.getvalue() == ""


def test_progress_callback():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert make_progress(1, stream=io.StringIO()) is None          # not a terminal
    assert make_progress(1, quiet=True, stream=Terminal()) is None
    stream = Terminal()
    progress = make_progress(2, stream=stream)
    assert isinstance(progress, BatchProgress)
    progress.min_interval = 0.0
    for batch in range(1, 4):
        progress(2, batch, 3, 0.25 / batch)
    lines = stream.getvalue().split("\r")[1:]
    assert len(lines) == 3 and lines[-1].endswith("\n") and "\n" not in "".join(lines[:-1])
    assert "epoch 2/2" in lines[0] and "1/3" in lines[0] and "rL 0.2500" in lines[0]
    assert "3/3" in lines[-1] and "rL 0.0833" in lines[-1]


def test_parse_layers():
    assert parse_layers("6c5-2s-12c5-2s") == [
        {"type": "i"},
        {"type": "c", "outputmaps": 6, "kernelsize": 5}, {"type": "s", "scale": 2},
        {"type": "c", "outputmaps": 12, "kernelsize": 5}, {"type": "s", "scale": 2}]
    assert parse_layers("i-2s-3c3") == [
        {"type": "i"}, {"type": "s", "scale": 2}, {"type": "c", "outputmaps": 3, "kernelsize": 3}]
    assert format_layers(parse_layers("6c5-2s-12c5-2s")) == "6c5-2s-12c5-2s"
    for bad in ["", "i", "6c-2s", "0c5", "6c5--2s", "6c5-0s", "6C5", "6c5-2s-"]:
        with pytest.raises(ValueError, match="layers spec"):
            parse_layers(bad)
    with pytest.raises(TypeError):
        parse_layers(None)


def test_prepare_data_is_matlabs_column_major_reshape():
    # reshape(train_x', 28, 28, m): element (r, c, i) is train_x(i, r + 28 * c) (0-based).
    rng = np.random.default_rng(1)
    mnist = {"train_x": rng.integers(0, 256, (6, 784), dtype=np.uint8),
             "train_y": np.eye(10, dtype=np.uint8)[[3, 1, 4, 1, 5, 9]],
             "test_x": rng.integers(0, 256, (4, 784), dtype=np.uint8),
             "test_y": np.eye(10, dtype=np.uint8)[[2, 7, 1, 8]]}
    train_x, train_y, test_x, test_y = prepare_data(mnist)
    assert train_x.shape == (28, 28, 6) and test_x.shape == (28, 28, 4)
    assert train_x.dtype == np.float64 and train_y.dtype == np.float64
    for r, c, i in [(0, 0, 0), (27, 0, 1), (0, 27, 2), (5, 17, 5), (27, 27, 3)]:
        assert train_x[r, c, i] == mnist["train_x"][i, r + 28 * c] / 255
        assert test_x[r, c, i % 4] == mnist["test_x"][i % 4, r + 28 * c] / 255
    assert np.array_equal(train_y, mnist["train_y"].T) and np.array_equal(test_y, mnist["test_y"].T)
    limited = prepare_data(mnist, limit=5)
    assert limited[0].shape == (28, 28, 5) and limited[2].shape == (28, 28, 4)
    with pytest.raises(ValueError, match="limit"):
        prepare_data(mnist, limit=7)


@pytest.mark.parametrize("argv", [["figures", "--bogus"], ["figures"],
                                  ["figures", "--out", "x", "--seed", "y"]])
def test_figures_usage_error_is_one_line(argv, tmp_path):
    """`figures` parses its own arguments; a usage error is still the one line of every command."""
    result = run_command(*argv, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnntoolbox figures: error: "), result.stderr
