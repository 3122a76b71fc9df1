"""The teaching example, the walkthrough generator and the figures.

The walkthrough must be what the code writes; every step of the worked
example must agree with cnnbp; the identities the walkthrough explains
(rot180, flipall, expand / scale^2, o(1 - o)) must hold numerically; and the
checks must be able to fail.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate

from cnntoolbox import GradientCheckError, cnnbp, cnnff, cnnnumgradcheck, literal
from cnntoolbox.teaching import walkthrough
from cnntoolbox.teaching import worked as teaching

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("rl.png", "kernels.png", "feature_maps.png", "misclassified.png")


@pytest.fixture(scope="module")
def ex():
    return teaching.run_example()


@pytest.fixture(scope="module")
def contents(ex):
    return walkthrough.contents(ex)


# --- the document -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["walkthrough.md", "walkthrough.zh-TW.md"])
def test_walkthrough_is_what_the_code_writes(contents, name):
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    new, used = walkthrough.fill(text, contents)
    assert new == text, f"docs/{name} is out of date: run python -m cnntoolbox.teaching.walkthrough"
    missing = {f"step:{key}" for key in teaching.STEPS} - used
    assert not missing, f"docs/{name} does not show {sorted(missing)}"


def test_every_generated_part_is_shown(contents):
    used = set()
    for path in sorted((ROOT / "docs").glob("walkthrough*.md")):
        used |= walkthrough.fill(path.read_text(encoding="utf-8"), contents)[1]
    assert used == set(contents), f"never shown: {sorted(set(contents) - used)}"


@pytest.mark.parametrize("name", ["walkthrough.md", "walkthrough.zh-TW.md"])
def test_walkthrough_follows_the_post_in_order(name):
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    titles = ["概念介紹", "已知類神經數學推導", "Forward mapping", "第一層卷積層", "第一層sub層",
              "全連接層", "Backward mapping", "從最後一層傳到sub層(S2)", "從sub層傳到conv層(C2)",
              "從conv層傳到sub層(S1)", "Error對w的微分", "Error對b的微分",
              "然後帶入學習率算出學習之後的W", "參考資料"]
    headings = [line for line in text.splitlines() if line.startswith("#")]
    positions = []
    for title in titles:
        hits = [n for n, line in enumerate(headings) if f'"{title}"' in line]
        assert len(hits) == 1, f"no heading quoting {title!r}"
        positions.append(hits[0])
    assert positions == sorted(positions)


@pytest.mark.parametrize("name", ["walkthrough.md", "walkthrough.zh-TW.md"])
def test_walkthrough_shows_the_committed_figures(name):
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    for figure in FIGURES:
        assert f"(img/{figure})" in text
        path = ROOT / "docs" / "img" / figure
        assert path.is_file(), f"docs/img/{figure} missing: python -m cnntoolbox figures --out docs/img"
        assert path.stat().st_size < 100_000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fill_rejects_unknown_and_misplaced_markers(contents):
    with pytest.raises(ValueError, match="unknown marker 'nope'"):
        walkthrough.fill("<!-- begin:nope -->x<!-- end:nope -->", contents)
    with pytest.raises(ValueError, match="own lines"):
        walkthrough.fill("<!-- begin:net -->x<!-- end:net -->", contents)
    with pytest.raises(ValueError, match="one line"):
        walkthrough.fill("<!-- begin:post.od -->\n<!-- end:post.od -->", contents)


def test_fill_rewrites_a_stale_number(contents):
    new, used = walkthrough.fill("od = <!-- begin:post.od -->0.3<!-- end:post.od -->", contents)
    assert new == "od = <!-- begin:post.od -->0.1, 0.2, 0.04<!-- end:post.od -->"
    assert used == {"post.od"}


def test_walkthrough_command_checks_and_rewrites(ex, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(teaching, "run_example", lambda: ex)
    path = tmp_path / "walk.md"
    path.write_text("L = <!-- begin:post.L -->1<!-- end:post.L -->\n", encoding="utf-8")
    assert walkthrough.main([str(path), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert walkthrough.main([str(path)]) == 0
    assert path.read_text(encoding="utf-8") == "L = <!-- begin:post.L -->0.4128<!-- end:post.L -->\n"
    assert walkthrough.main([str(path), "--check"]) == 0
    assert walkthrough.main([str(tmp_path / "missing.md")]) == 2
    assert list(tmp_path.iterdir()) == [path]


# --- the worked example -------------------------------------------------------------------

def test_post_numbers(ex):
    """The post's assumptions give its numbers: f' = 0.25, od = e / 4."""
    errors = np.array(teaching.POST_ERRORS)
    np.testing.assert_allclose(ex.post.package["e"], errors, rtol=1e-15)
    np.testing.assert_allclose(ex.post.package["fprime_o"], 0.25, rtol=0)
    np.testing.assert_allclose(ex.post.package["od"], [0.1, 0.2, 0.04], rtol=1e-15)
    np.testing.assert_allclose(ex.post.package["L"], 0.5 * np.sum(errors ** 2), rtol=1e-15)
    np.testing.assert_allclose(ex.post.package["fprime_c2"], 0.25, rtol=0)


def test_every_step_agrees_with_the_package(ex):
    keys = {step.key for step in teaching.BACKWARD_STEPS + teaching.UPDATE_STEPS}
    for state in (ex.post, ex.real):
        assert set(state.diffs) == keys
        for key, diff in state.diffs.items():
            scale = max(1.0, float(np.max(np.abs(state.package[key]))))
            assert diff <= teaching.AGREEMENT * scale, key
    assert set(ex.forward_diffs) == {step.key for step in teaching.FORWARD_STEPS}


def test_the_post_state_differs_from_the_real_one(ex):
    """Part 2 is not Part 1 again: the real outputs change every delta."""
    for key in ("od", "fvd", "d_c2", "d_s1", "dk_c2"):
        assert not np.allclose(ex.post.hand[key], ex.real.hand[key]), key


def test_a_wrong_hand_step_is_caught(monkeypatch):
    """Forgetting the division by scale^2 in the loops makes the comparison fail."""
    net, x, y = teaching.example_net()
    net = cnnff(net, x)

    def upsample_without_division(d, scale):
        return np.kron(d, np.ones((scale, scale)))

    monkeypatch.setattr(teaching, "_upsample", upsample_without_division)
    with pytest.raises(teaching.StepMismatchError, match="expanded"):
        teaching.backward_state(net, y, "test")


def test_python_lines_are_found_in_literal():
    for step in teaching.STEPS.values():
        lines = teaching.python_lines(step)
        assert lines and all(line for line in lines)
    broken = teaching.Step("x", "", "", "", "", "no such statement")
    with pytest.raises(LookupError, match="no such statement"):
        teaching.python_lines(broken)


def test_fvd_slip(ex):
    for which in ("post", "real"):
        slip = ex.extra["slip"][which]
        state = ex.post if which == "post" else ex.real
        np.testing.assert_allclose(slip["right"], state.package["fvd"], rtol=1e-12)
        assert slip["slip"][3] is None
        assert not np.allclose(slip["slip"][:3], slip["right"][:3])


def test_loss_is_half_the_sum_of_squares_not_rms(ex):
    for which in ("post", "real"):
        loss = ex.extra["loss"][which]
        assert loss["L"] == pytest.approx(loss["half_sse"], rel=1e-15)
        assert loss["rms"] != pytest.approx(loss["L"], rel=1e-3)
    g = ex.extra["rms_gradient"]
    assert g["dL"] == pytest.approx(g["dffb"], abs=1e-9)
    assert g["dRMS"] != pytest.approx(g["dffb"], abs=1e-3)


def test_scale_question(ex):
    s = ex.extra["scale"]
    assert s["numerical"] == pytest.approx(s["with"], abs=1e-9)
    assert s["ratio"] == pytest.approx(4.0, rel=1e-12)
    assert ex.extra["identities"]["pool_slope"] == pytest.approx(0.25, abs=1e-9)


def test_gradient_check_of_the_example(ex):
    assert sum(g[0].size for g in ex.extra["gradcheck"].values()) == 35
    for name, (numerical, analytic, diff) in ex.extra["gradcheck"].items():
        assert diff <= teaching.TOLERANCE, name
    assert teaching.EPSILON == 1e-4 and teaching.TOLERANCE == 1e-8


def test_gradient_check_catches_a_wrong_gradient(ex):
    bad = ex.real.bp
    bad = {**bad, "layers": [dict(layer) for layer in bad["layers"]]}
    c2 = bad["layers"][teaching.C2]
    c2["dk"] = [[c2["dk"][0][0] * (1 + 1e-3)]]
    with pytest.raises(GradientCheckError):
        cnnnumgradcheck(bad, ex.x, ex.real.y)


def test_trace(capsys):
    assert teaching.main([]) == 0
    out = capsys.readouterr().out
    for part in ("Part 1", "Part 2", "Part 3"):
        assert part in out
    assert "agree with the package" in out


# --- the identities the walkthrough explains ------------------------------------------------

def _matrix_of(linear, shape):
    """The matrix of a linear map of arrays of the given shape (column n = image of unit n)."""
    columns = []
    for n in range(int(np.prod(shape))):
        unit = np.zeros(shape)
        unit.flat[n] = 1.0
        columns.append(np.ravel(linear(unit)))
    return np.array(columns).T


def test_full_conv_with_rot180_is_the_transpose_of_valid_conv():
    rng = np.random.default_rng(1)
    k = rng.standard_normal((3, 3))
    d = rng.standard_normal((5, 4))
    V = _matrix_of(lambda a: literal.convn(a, k, "valid"), (7, 6))
    transpose = (V.T @ d.ravel()).reshape(7, 6)
    np.testing.assert_allclose(literal.convn(d, literal.rot180(k), "full"), transpose,
                               rtol=0, atol=1e-13)
    assert not np.allclose(literal.convn(d, k, "full"), transpose)


def test_flipall_dk_is_the_rotated_correlation_summed_over_the_batch():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 7, 3))
    d = rng.standard_normal((4, 5, 3))
    dk = literal.convn(literal.flipall(a), d, "valid")[:, :, 0]
    corr = sum(correlate(a[:, :, n], d[:, :, n], mode="valid") for n in range(3))
    np.testing.assert_allclose(dk, literal.rot180(corr), rtol=0, atol=1e-12)
    # and that is dE/dk of E = sum(d .* conv(a, k, 'valid')) summed over the batch
    loss = lambda k: sum(np.sum(d[:, :, n] * literal.convn(a[:, :, n], k, "valid"))
                         for n in range(3))
    np.testing.assert_allclose(_matrix_of(loss, (3, 3)).reshape(3, 3), dk, rtol=0, atol=1e-12)


def test_expand_over_scale_squared_is_the_transpose_of_mean_pooling():
    rng = np.random.default_rng(3)
    scale = 3
    d = rng.standard_normal((2, 4))

    def pool(a):
        z = literal.convn(a, np.ones((scale, scale)) / scale ** 2, "valid")
        return z[::scale, ::scale]

    P = _matrix_of(pool, (2 * scale, 4 * scale))
    np.testing.assert_allclose(literal.expand(d, [scale, scale]) / scale ** 2,
                               (P.T @ d.ravel()).reshape(2 * scale, 4 * scale), rtol=0, atol=1e-15)


def test_sigmoid_derivative_against_central_difference():
    u = np.linspace(-6, 6, 25)
    o = literal.sigm(u)
    h = teaching.EPSILON
    numerical = (literal.sigm(u + h) - literal.sigm(u - h)) / (2 * h)
    np.testing.assert_allclose(o * (1 - o), numerical, rtol=0, atol=1e-9)
    assert np.max(o * (1 - o)) == pytest.approx(0.25, abs=1e-15)


def test_cnnbp_of_a_forced_state_uses_the_forced_values():
    """The post state works because cnnbp reads o, fv and the maps as given."""
    net, x, _ = teaching.example_net()
    forced, y_post = teaching.post_state(cnnff(net, x))
    bp = cnnbp(forced, y_post)
    np.testing.assert_allclose(bp["dffW"], np.outer([0.1, 0.2, 0.04], [0.5] * 4), rtol=1e-14)


# --- the figures --------------------------------------------------------------------------

def test_figures_without_matplotlib(monkeypatch, tmp_path, capsys):
    from cnntoolbox.teaching import figures

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert figures.main(["--out", str(tmp_path / "img")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "matplotlib" in err
    assert not (tmp_path / "img").exists()


def test_figures_rejects_a_bad_limit(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from cnntoolbox.teaching import figures

    assert figures.main(["--out", str(tmp_path), "--limit", "75"]) == 2
    assert "--limit" in capsys.readouterr().err
    assert figures.main(["--out", str(tmp_path / "img"), "--limit", "50", "--digit", "50"]) == 2
    assert "--digit" in capsys.readouterr().err
    assert not (tmp_path / "img").exists()


def test_figures_smoke(tmp_path):
    pytest.importorskip("matplotlib")
    from cnntoolbox.teaching import figures

    out = tmp_path / "img"
    assert figures.main(["--out", str(out), "--limit", "100", "--digit", "3"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(FIGURES)
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 100_000
