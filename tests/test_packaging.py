"""The package as installed: version, bundled MNIST, the wheel's contents.

The wheel test builds the wheel with pip (as a user would) from a copy of
the files the build reads, unpacks it into a folder with ``pip install
--no-deps --target`` and runs Python from another folder against it, so
that only what the wheel holds is found.
"""

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

import cnntoolbox
from cnntoolbox.__main__ import main
from cnntoolbox.datasets.mnist import IDX_FILES, load_mnist, prepare_data

ROOT = Path(__file__).resolve().parent.parent


def test_version_is_single_sourced_and_printed(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"cnntoolbox {cnntoolbox.__version__}\n"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cnntoolbox.__version__"}


def test_every_package_is_listed_in_pyproject():
    # pyproject lists the packages by hand (to map data/ to cnntoolbox.mnist): a new one must be added
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = sorted(".".join(init.parent.relative_to(ROOT).parts)
                   for init in (ROOT / "cnntoolbox").rglob("__init__.py"))
    assert sorted(set(listed) - {"cnntoolbox.mnist"}) == found


def test_toolbox_layout_is_test_example_cnn(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                      # found from any folder
    train_x, train_y, test_x, test_y = load_mnist(layout="toolbox")
    assert train_x.shape == (28, 28, 60000) and test_x.shape == (28, 28, 10000)
    assert train_y.shape == (10, 60000) and test_y.shape == (10, 10000)
    assert all(a.dtype == np.float64 for a in (train_x, train_y, test_x, test_y))
    assert train_x.min() == 0 and train_x.max() == 1
    assert np.array_equal(train_y.sum(axis=0), np.ones(60000))
    rows = load_mnist()
    for ours, theirs in zip(load_mnist(layout="toolbox", limit=300), prepare_data(rows, 300)):
        assert np.array_equal(ours, theirs)
    # x(:, :, i) = reshape(train_x(i, :), 28, 28) / 255, column-major
    assert np.array_equal(train_x[:, :, 7], rows["train_x"][7].reshape(28, 28, order="F") / 255)


@pytest.mark.parametrize("kwargs, message", [
    ({"layout": "rows"}, "layout must be"),
    ({"limit": 10}, "limit applies to layout='toolbox'"),
])
def test_load_mnist_bad_layout(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_mnist(**kwargs)


def test_missing_data_names_data_dir(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="data_dir, or --data-dir"):
        load_mnist(tmp_path)
    assert main(["--data-dir", str(tmp_path), "--limit", "100", "--quiet"]) == 2
    assert "--data-dir" in capsys.readouterr().err


def test_mnist_mat_writes_to_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["mnist-mat"]) == 0
    assert (tmp_path / "mnist_uint8.mat").is_file()
    assert capsys.readouterr().out == "wrote mnist_uint8.mat\n"


@pytest.mark.slow
def test_the_wheel_carries_data_license_and_py_typed(tmp_path):
    source, dist = tmp_path / "source", tmp_path / "dist"     # a copy: the build writes build/
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (source / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    for folder in ("cnntoolbox", "data"):
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "mnist_uint8.mat"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist),
                    str(source)], check=True, capture_output=True, timeout=600)
    wheel = next(dist.glob("cnntoolbox-*.whl"))
    assert wheel.name.startswith(f"cnntoolbox-{cnntoolbox.__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    for name in [*(f"cnntoolbox/mnist/{f}" for f in IDX_FILES), "cnntoolbox/mnist/README.md",
                 "cnntoolbox/py.typed", f"cnntoolbox-{cnntoolbox.__version__}.dist-info/licenses/LICENSE"]:
        assert name in names, name
    metadata = zipfile.ZipFile(wheel).read(
        f"cnntoolbox-{cnntoolbox.__version__}.dist-info/METADATA").decode()
    assert "License-Expression: BSD-2-Clause" in metadata
    assert not [n for n in names if n.startswith(("tests/", "data/", "matlab_reference/"))]

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import cnntoolbox.datasets.mnist as d; print(d.DEFAULT_DATA_DIR); "
            "x, y, tx, ty = d.load_mnist(layout='toolbox', limit=10); print(x.shape, ty.shape)")
    env = dict(os.environ, PYTHONPATH=str(target))
    run = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, check=True,
                         capture_output=True, text=True, timeout=300)
    folder, shapes = run.stdout.splitlines()
    assert Path(folder) == target / "cnntoolbox" / "mnist"
    assert shapes == "(28, 28, 10) (10, 10)"
