"""Replay of the Octave run of the MNIST example (matlab_reference/mnist_example.mat).

The reference is what the original toolbox computed under Octave from
``rand('state', 0)``; Python starts from its ``net_setup`` and its
permutation and must walk the same path: the first 40 batches, and the full
epoch of 1200 batches (marked slow, about half a minute; the default test run
includes it, ``-m 'not slow'`` skips it).
"""

from pathlib import Path

import numpy as np
import pytest

from cnntoolbox.__main__ import main
from cnntoolbox.datasets.mnist import load_mnist
from cnntoolbox.matfile import loadmat, savemat
from cnntoolbox.reference.replay import compare_replay, load_reference, replay

from helpers import max_rel_error

REFERENCE = Path(__file__).resolve().parent.parent / "matlab_reference" / "mnist_example.mat"
RTOL = 1e-9


def relative_error(got, ref):
    return max_rel_error(ref, got)[0]


@pytest.fixture(scope="module")
def reference():
    return load_reference(REFERENCE)


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def test_reference_holds_one_epoch(reference):
    assert reference["kk"].shape == (1, 60000)
    assert np.array_equal(np.sort(reference["kk"][0]), np.arange(60000))
    assert reference["rL"].shape == (1201,)
    assert len(reference["bad"]) == round(reference["er"] * 10000)
    assert reference["bad"].min() >= 0 and reference["bad"].max() < 10000


def test_first_40_batches_follow_the_recorded_loss(reference, mnist):
    net, er, bad = replay(reference, mnist, nsamples=40 * 50, verbose=False)
    assert er is None and bad is None
    assert net["rL"].shape == (41,)
    assert relative_error(net["rL"], reference["rL"][:41]) <= RTOL
    # The check can fail: the recorded loss moves by far more than RTOL.
    assert relative_error(net["rL"][1:], reference["rL"][:40]) > 1e3 * RTOL
    assert all(comparison.passed for comparison in compare_replay(reference, net))


def test_command_replays_a_prefix(capsys):
    assert main(["--replay", str(REFERENCE), "--limit", "500", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "exact match (the first 10 batches)" in out
    assert "FAIL" not in out


def test_command_reports_a_mismatch(tmp_path, capsys):
    variables = loadmat(REFERENCE)
    variables["net_setup"]["ffW"][3, 7] += 1e-6
    tampered = tmp_path / "tampered.mat"
    savemat(tampered, variables)
    assert main(["--replay", str(tampered), "--limit", "500", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "FAIL" in out


def test_compare_names_the_field_that_differs(reference):
    final = reference["net_final"]
    same = compare_replay(reference, final, reference["er"], reference["bad"])
    assert sorted(row.name for comparison in same for row in comparison.rows) == sorted([
        "rL", "ffW", "ffb", "layers{2}.k", "layers{2}.b", "layers{3}.b",
        "layers{4}.k", "layers{4}.b", "layers{5}.b", "er", "bad"])
    assert all(comparison.passed for comparison in same)

    changed = dict(final, layers=[dict(layer) for layer in final["layers"]])
    k = [[kernel.copy() for kernel in row] for row in final["layers"][3]["k"]]
    k[5][11][4, 4] += 1e-8          # the kernels are of order 1: above RTOL
    changed["layers"][3]["k"] = k
    rows = {row.name: row.passed
            for comparison in compare_replay(reference, changed, reference["er"],
                                             reference["bad"][1:])
            for row in comparison.rows}
    assert not rows["layers{4}.k"] and not rows["bad"]
    assert rows["ffW"] and rows["layers{2}.k"] and rows["er"]


@pytest.mark.slow
def test_full_epoch_replay(reference, mnist):
    net, er, bad = replay(reference, mnist, verbose=False)
    comparisons = compare_replay(reference, net, er, bad)
    for comparison in comparisons:
        print(comparison.verdict())
    assert all(comparison.passed for comparison in comparisons)
    assert {row.name for row in comparisons[0].rows} >= {"rL", "ffW", "ffb", "layers{2}.k",
                                                         "layers{4}.b"}
    assert er == reference["er"]
    assert np.array_equal(bad, reference["bad"])
