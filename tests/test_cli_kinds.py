"""The command line's opt-in kinds (issue 15): the layer grammar, --output, --momentum,
--alpha-decay and the synthetic colour data."""

import re

import pytest

from cnntoolbox.netlayout import format_layers, parse_layers


def test_layer_grammar_reads_and_writes_every_kind():
    assert parse_layers("6c5r-2m-12c5t-2s-3c1l-1c1") == [
        {"type": "i"},
        {"type": "c", "outputmaps": 6, "kernelsize": 5, "activation": "relu"},
        {"type": "s", "scale": 2, "method": "max"},
        {"type": "c", "outputmaps": 12, "kernelsize": 5, "activation": "tanh"},
        {"type": "s", "scale": 2},
        {"type": "c", "outputmaps": 3, "kernelsize": 1, "activation": "linear"},
        {"type": "c", "outputmaps": 1, "kernelsize": 1}]
    for spec in ["6c5r-2m-12c5r-2m", "2m-2s-3c3l-3c3t", "6c5-2s-12c5-2s"]:
        assert format_layers(parse_layers(spec)) == spec
    explicit = [{"type": "c", "outputmaps": 6, "kernelsize": 5, "activation": "sigm"},
                {"type": "s", "scale": 2, "method": "mean"}]
    assert format_layers(explicit) == "6c5-2s"
    odd = [{"type": "c", "outputmaps": 2, "kernelsize": 3, "activation": "swish"},
           {"type": "s", "scale": 2, "method": "median"}]
    assert format_layers(odd) == "2c3(swish)-2s(median)"
    for bad in ["6c5x", "6c5rr", "6c5R", "2x", "2mm", "6r5", "0m", "6c0r"]:
        with pytest.raises(ValueError, match=r"NcKr/NcKt/NcKl for relu/tanh/linear.*Nm for max"):
            parse_layers(bad)


def test_a_colour_net_trains_end_to_end_from_the_command_line(tmp_path, capsys):
    from cnntoolbox import cnntest
    from cnntoolbox.__main__ import main
    from cnntoolbox.matfile import loadmat
    from cnntoolbox.datasets.synthetic import synthetic_rgb

    net_file = tmp_path / "net.mat"
    argv = ["train", "--data", "synthetic-rgb", "--layers", "6c5r-2m-12c5r-2m", "--output",
            "softmax", "--alpha", "0.1", "--momentum", "0.5", "--alpha-decay", "0.7",
            "--epochs", "3", "--quiet", "--save", str(net_file)]
    assert main(argv) == 0
    printed = re.search(r"^test error: (\d+\.\d\d)% \((\d+) of 600 wrong\)$",
                        capsys.readouterr().out, re.M)
    assert printed and float(printed[1]) < 20          # chance is 66.67% (3 classes)
    net = loadmat(net_file)["cnn"]
    assert net["output"] == "softmax"
    assert format_layers(net["layers"]) == "6c5r-2m-12c5r-2m"
    assert len(net["layers"][1]["k"]) == 3               # one row of kernels per colour channel
    assert len(net["layers"][1]["vk"]) == 3 and net["vffW"].shape == net["ffW"].shape
    _, _, test_x, test_y = synthetic_rgb()
    assert test_x.shape == (16, 16, 3, 600)
    er, bad = cnntest(net, test_x, test_y)
    assert len(bad) == int(printed[2]) and f"{100 * er:.2f}" == printed[1]


@pytest.mark.parametrize("argv, words", [
    (["--momentum", "1"], "--momentum: expected a number in [0, 1), got '1'"),
    (["--alpha-decay", "0"], "--alpha-decay: expected a positive number, got '0'"),
    (["--output", "relu"], "--output: invalid choice: 'relu'"),
    (["--data", "cifar"], "--data: invalid choice: 'cifar'"),
    (["--layers", "6c5q"], "cannot read '6c5q'"),
    (["--data", "synthetic-rgb", "--limit", "2000"], "limit must be between 1 and 1500"),
    (["--replay", "x.mat", "--momentum", "0.5", "--output", "softmax"],
     "drop --output, --momentum"),
])
def test_bad_opt_in_options_exit_2_with_one_line(argv, words, capsys):
    from cnntoolbox.__main__ import main

    assert main(["train", "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err


def test_compare_kinds_prints_every_row():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, str(root / "bench" / "compare_kinds.py"), "--limit", "100"],
                         capture_output=True, text=True, timeout=600, cwd=root)
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == 5 and "`6c5-2s-12c5-2s` | sigm | 1 | - |" in rows[0]
    assert "`6c5r-2m-12c5r-2m` | softmax | 0.1 | - |" in rows[1]
    assert "`6c5-2s-12c5-2s-100f` | sigm | 1 | - |" in rows[2]
    assert "`6c5-2s-12c5-2s-100f` | sigm | 1 | 0.5 |" in rows[3]
    assert "`6c5r-2m-12c5r-2m-100fr` | softmax | 0.1 | 0.5 |" in rows[4]
    assert all(re.search(r"\| \d+\.\d\d% \| \d+\.\d \| \d+\.\d \|$", row) for row in rows)
