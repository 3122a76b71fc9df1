"""The teaching example, the walkthrough generator and the figures.

The walkthroughs must be what the code writes, with no number outside the
markers; every step of the worked example must agree with cnnbp by the
chain rule; every displayed Matlab line must be the toolbox's (checked
against the .m files when CNNTOOLBOX_ORIGINAL names a copy, and against
literal.py always) and keep its key operator; every exercise's answer must
hold; and the checks must be able to fail.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate

from cnntoolbox import GradientCheckError, cnnbp, cnnff, cnnnumgradcheck, literal
from cnntoolbox.teaching import exercises, hand, octave, practice, questions, steps, text, walkthrough, worked
from cnntoolbox.teaching.__main__ import main as trace_main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("walkthrough.md", "walkthrough.zh-TW.md")
MNIST_FIGURES = ("rl.png", "kernels.png", "feature_maps.png", "misclassified.png")
FIGURES = ("delta_flow.png",) + MNIST_FIGURES
ORIGINAL = os.environ.get("CNNTOOLBOX_ORIGINAL")


@pytest.fixture(scope="module")
def ex():
    return worked.run_example()


@pytest.fixture(scope="module")
def by_language(ex):
    return {lang: walkthrough.contents(ex, lang) for lang in ("en", "zh-TW")}


@pytest.fixture(scope="module")
def contents(by_language):
    return by_language["en"]


def _doc(name):
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


# --- the documents -----------------------------------------------------------------------

@pytest.mark.parametrize("name", DOCS)
def test_walkthrough_is_what_the_code_writes(by_language, name):
    text = _doc(name)
    new, used = walkthrough.fill(text, by_language[walkthrough.language(name)])
    assert new == text, f"docs/{name} is out of date: run python -m cnntoolbox.teaching.walkthrough"
    missing = {f"step:{key}" for key in steps.STEPS} - used
    assert not missing, f"docs/{name} does not show {sorted(missing)}"


#: OpenBLAS core types and the CPU flags (as /proc/cpuinfo names them) each needs: OpenBLAS does
#: not refuse a core type the CPU lacks, it crashes, so only those this CPU can run are tried.
CORE_TYPES = {"SkylakeX": {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"},
              "Haswell": {"avx2", "fma"}, "Zen": {"avx2", "fma"}, "Sandybridge": {"avx"},
              "Nehalem": {"sse4_2", "ssse3"}, "Prescott": {"pni"}}


def cpu_flags():
    """The CPU's flags from /proc/cpuinfo (an empty set where there is none)."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return set()
    return next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())


_RUN_WRITER = """
import sys, threadpoolctl
from cnntoolbox.teaching import walkthrough
status = walkthrough.main(sys.argv[1:])
print("openblas:", [i["architecture"] for i in threadpoolctl.threadpool_info()
                    if i["internal_api"] == "openblas"])
sys.exit(status)
"""


@pytest.mark.parametrize("threads", (1, 2))
@pytest.mark.parametrize("core", sorted(CORE_TYPES))
def test_walkthrough_is_the_same_under_every_blas_kernel(core, threads, tmp_path):
    """The writer, run on copies of the walkthroughs under another BLAS kernel and thread count,
    leaves them byte for byte as they are (so it rewrites no tracked file where the code agrees)."""
    missing = CORE_TYPES[core] - cpu_flags()
    if missing:
        pytest.skip(f"this CPU lacks {sorted(missing)}, which OpenBLAS core type {core} needs")
    copies = []
    for name in DOCS:
        copies.append(tmp_path / name)
        shutil.copyfile(ROOT / "docs" / name, copies[-1])
    env = {**os.environ, "OPENBLAS_CORETYPE": core, "OPENBLAS_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", _RUN_WRITER] + [str(p) for p in copies], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    if "openblas: []" in done.stdout:
        pytest.skip("numpy does not use OpenBLAS here")
    assert "rewritten" not in done.stdout, done.stdout
    for name, copy in zip(DOCS, copies):
        assert copy.read_bytes() == (ROOT / "docs" / name).read_bytes(), f"{core}, {threads} threads: {name}"


def test_numbers_are_printed_so_rounding_cannot_flip_them():
    tie = -0.02015625                                   # fvd(1) of Part 1: -129/6400, a tie at 6 digits
    assert text.fmt(Fraction(-129, 6400)) == "-0.02015625"
    below, above = np.nextafter(tie, 0.0), np.nextafter(tie, -1.0)
    assert text.fmt(below) == text.fmt(above) == "-0.020156"
    assert text.fmt(Fraction(1, 3)) == "0.333333" and text.fmt(0.1484375) == "0.14844"
    assert text.fmt(0.108809) == "0.108809"
    assert text.fmt_noise(1.94872e-16) == text.fmt_noise(2.92308e-16) == "zero within rounding (below 1e-12)"
    assert text.fmt_noise(0.20098) == "0.20098"
    with pytest.raises(worked.StepMismatchError):
        text.fmt_noise(float("nan"))


def test_part1_is_shown_exactly(ex):
    """Part 1's values are exact Fractions, and cnnbp's floats agree with them."""
    exact = ex.post.shown
    assert exact["fvd"][0] == Fraction(-129, 6400) and exact["L"] == Fraction(258, 625)
    assert all(isinstance(v, Fraction) for key in exact for v in np.ravel(exact[key]))
    np.testing.assert_allclose(ex.post.package["fvd"], np.asarray(exact["fvd"], dtype=float), rtol=1e-15)


@pytest.mark.parametrize("name", DOCS)
def test_every_generated_part_is_shown(by_language, name):
    values = by_language[walkthrough.language(name)]
    used = walkthrough.fill(_doc(name), values)[1]
    assert used == set(values), f"docs/{name} never shows {sorted(set(values) - used)}"


#: Numbers the prose may hold outside markers: the references' dates, the
#: 180 of "rotated by 180 degrees", and these phrases, whose numbers are
#: definitions (labels 0 and 1, the limits of the sigmoid, "exactly 0" of a
#: u made zero), names (Part 1, exercise 4, map 1) or the reader's quote.
PROSE_NUMBERS = {"2006", "2016", "180"}
PROSE_PHRASES = (
    "Part 1", "Part 2", "exercise 2", "exercise 4", "exercise 6", "map 1", "size 1", "2-D", "0-based",
    "exactly 0", "labels of 0 and 1", "labels 0", "towards 0 and 1", "convenient 0.5",
    "練習 2", "練習 4", "練習 6", "第 1 張", "大小為 1", "剛好是 0", "bias 為 0", "標籤為 0", "以 0 為中心",
    "從 0 開始", "只有 0 和 1", "往 0 和 1", "假設 0.5",
)


def prose(text):
    """The text a reader sees as sentences: no markers' contents, code, links, headings or list numbers."""
    text = walkthrough.MARKER.sub(" ", text)
    text = re.sub(r"```.*?```", " ", text, flags=re.DOTALL)
    text = re.sub(r"^    .*$", " ", text, flags=re.MULTILINE)           # indented code
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"<code>.*?</code>", " ", text)
    text = re.sub(r"!?\[[^\]]*\]\([^)]*\)", " ", text)
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"^#.*$", " ", text, flags=re.MULTILINE)
    text = re.sub(r"^\s*\d+\.\s", " ", text, flags=re.MULTILINE)       # list numbers
    text = re.sub(r"<summary>\d+\.\s", " ", text)                     # the answers' numbers
    text = re.sub(r"^\|.*\|$", " ", text, flags=re.MULTILINE)          # the notation table
    text = re.sub(r"\s+", " ", text)
    for phrase in PROSE_PHRASES:
        text = text.replace(phrase, " ")
    return text


def stray_numbers(text):
    """Numbers of the prose that no marker wrote."""
    words = [w.rstrip(".") for w in re.findall(r"[\w./]*\d[\w./]*", prose(text))]
    return [w for w in words if not re.fullmatch(r"[A-Za-z]+\d+", w)       # names: C1, rot180
            and re.sub(r"/\d+/\d+$", "", w) not in PROSE_NUMBERS]


def owned(text):
    """The walkthrough up to the end of its "參考資料" section (a section appended after it is not
    written by this generator: the MNIST comparison of other layer kinds)."""
    end = text.index("參考資料")
    later = text.find("\n## ", end)
    return text if later < 0 else text[:later]


@pytest.mark.parametrize("name", DOCS)
def test_no_number_outside_the_markers(name):
    """Every number of the prose is written by the code (the README's claim)."""
    stray = stray_numbers(owned(_doc(name)))
    assert not stray, f"docs/{name}: numbers typed by hand outside the markers: {stray}"


def test_the_prose_check_catches_a_typed_number():
    text = ("With outputs of <!-- begin:post.output -->0.5<!-- end:post.output --> every f' is "
            "0.25; divide by 4, the MNIST net's 192 values, a 4x3 matrix, the `0.5` in code.")
    assert stray_numbers(text) == ["0.25", "4", "192", "4x3"]
    assert owned('## "參考資料"\n\nrefs\n\n## Appended\n\n12 maps\n') == '## "參考資料"\n\nrefs\n'


#: Statements earlier editions made that are false or misleading (issues 13 and 19), in both
#: languages; the generated blocks are part of the text checked.
FALSE_STATEMENTS = (
    "No weights give that state", "沒有任何一組權重會產生這個狀態",
    "that is how a sigmoid net slows down", "sigmoid 網路越學越慢的原因就在",
    "下一層的每張 map", "turned upside down", "上下左右顛倒",
    "agree to a relative", "相對差距必須小於", "梯度會大",
    # issue 19: ffW and ffb learn too
    "so only conv layers learn", "所以只有卷積層會學習",
    # the slopes are at most 0.25, but the weights can make a delta larger (|fvd| 0.164 > |od| 0.108)
    "every layer shrinks the deltas", "誤差每往回傳過一層就被縮小一次",
    # seven sections have no post title, and "Beyond the original" comes after the references
    "Every section below carries the post's own section title", "下面每一節的標題都用引號標出原文的章節名稱",
    "each section headed\nwith the post's title",
    # the figure draws Part 2, not the post's state
    "the post's lost 「完整結構」 figure", "也就是原文遺失的「完整結構」圖",
    # formulas labelled Bouvrie that he did not write: he prints the transpose of dffW,
    # the S2 reshape and the feature vector are not his, the sum over j in the S1 delta is added
    "Bouvrie:  dE/dW^o = delta^o (x^fv)'", "Bouvrie:  delta^S2(r, c)", "Bouvrie:  x^fv",
    "Bouvrie:  delta^S1_i = f'(u^S1_i) .* sum_j",
    # corner values reach exactly one C2 position
    "every S1 value reaches several C2 positions", "每個 S1 的值會送到好幾個 C2 位置",
    # one run each; on an AMD EPYC the ReLU net trained faster
    "the max-pooling layers cost the ReLU net", "多出來的時間主要花在最大池化層",
    # the "o = e" and "saturated" rows paired invented outputs with maps left unexplained
    "\no = e, y = 0\n", "\nsaturated and wrong\n",
    # zh-TW wording (issue 19, item 6): cross-correlation is 互相關; S2 moves by 1/scale^2 *of the
    # change*; a script, not a device driver; misclassified, not "admitting mistakes"; a column is 欄
    # (逐行 is "line by line"); a stray 但; the post's 攤開, not 攤平
    "做相關", "valid 相關", "S2 的值只跟著變動 `1/scale^2`", "驅動程式", "認錯", "逐行（column）",
    "依逐行的順序", "但原因有兩個", "攤平",
)


@pytest.mark.parametrize("name", DOCS + ("../README.md",))
def test_the_false_statements_stay_out(name):
    text = _doc(name)
    assert not [s for s in FALSE_STATEMENTS if s in text]


@pytest.mark.parametrize("name", DOCS)
def test_walkthrough_follows_the_post_in_order(name):
    text = _doc(name)
    titles = ["概念介紹", "已知類神經數學推導", "Forward mapping", "第一層卷積層", "第一層sub層",
              "全連接層", "Backward mapping", "從最後一層傳到sub層(S2)", "從sub層傳到conv層(C2)",
              "從conv層傳到sub層(S1)", "Error對w的微分", "Error對b的微分",
              "然後帶入學習率算出學習之後的W", "參考資料"]
    headings = [line for line in text.splitlines() if line.startswith("#")]
    positions = []
    for title in titles:
        quoted = f"「{title}」" if name.endswith(".zh-TW.md") else f'"{title}"'     # as the prose quotes
        hits = [n for n, line in enumerate(headings) if quoted in line]
        assert len(hits) == 1, f"no heading quoting {title!r}"
        positions.append(hits[0])
    assert positions == sorted(positions)


@pytest.mark.parametrize("name", DOCS)
def test_walkthrough_shows_the_committed_figures(name):
    text = _doc(name)
    for figure in FIGURES:
        assert f"(img/{figure})" in text
        path = ROOT / "docs" / "img" / figure
        assert path.is_file(), f"docs/img/{figure} missing: python -m cnntoolbox figures --out docs/img"
        assert path.stat().st_size < 150_000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fill_rejects_unknown_and_misplaced_markers(contents):
    with pytest.raises(ValueError, match="unknown marker 'nope'"):
        walkthrough.fill("a <!-- begin:nope -->x<!-- end:nope -->", contents)
    with pytest.raises(ValueError, match="own lines"):
        walkthrough.fill("a <!-- begin:net -->x<!-- end:net -->", contents)
    with pytest.raises(ValueError, match="one line"):
        walkthrough.fill("<!-- begin:post.od -->\n<!-- end:post.od -->", contents)


def test_fill_rewrites_a_stale_number_and_keeps_a_later_section(contents):
    text = "od = <!-- begin:post.od -->0.3<!-- end:post.od -->\n\n## A section added later\n\n12 maps\n"
    new, used = walkthrough.fill(text, contents)
    assert new == ("od = <!-- begin:post.od -->0.1, 0.2, 0.04<!-- end:post.od -->\n\n"
                   "## A section added later\n\n12 maps\n")
    assert used == {"post.od"}


def test_walkthrough_command_checks_and_rewrites(ex, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(worked, "run_example", lambda: ex)
    path = tmp_path / "walk.md"
    path.write_text("L = <!-- begin:post.L -->1<!-- end:post.L -->\n", encoding="utf-8")
    assert walkthrough.main([str(path), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert walkthrough.main([str(path)]) == 0
    assert path.read_text(encoding="utf-8") == "L = <!-- begin:post.L -->0.4128<!-- end:post.L -->\n"
    assert walkthrough.main([str(path), "--check"]) == 0
    assert walkthrough.main([str(tmp_path / "missing.md")]) == 2
    assert list(tmp_path.iterdir()) == [path]


# --- the displayed lines -------------------------------------------------------------------

def test_key_operators_are_displayed():
    """A formula or Matlab line that loses rot180, flipall, expand or / scale^2 fails here."""
    for key, (in_formula, in_matlab) in steps.KEY_OPERATORS.items():
        step = steps.STEPS[key]
        for token in in_formula:
            assert token in step.formula, f"{key}: Bouvrie's formula lost {token!r}"
        matlab = " ".join(steps.matlab_lines(step))
        for token in in_matlab:
            assert token in matlab, f"{key}: the Matlab line lost {token!r}"


def test_matlab_lines_match_literal():
    """Each displayed Matlab line has the operators of the literal.py statement beside it."""
    for step in steps.STEPS.values():
        matlab = " ".join(steps.matlab_lines(step))
        python = " ".join(steps.python_lines(step))
        shown = steps.operators(matlab)
        assert shown <= steps.operators(python, python=True), step.key
        if step.whole:
            assert shown == steps.operators(python, python=True), step.key


def test_the_literal_check_catches_a_lost_rot180():
    step = steps.STEPS["d_s1"]
    broken = step.matlab[0][1].replace("rot180(", "(")
    assert steps.operators(broken) != steps.operators(" ".join(steps.python_lines(step)), python=True)


def _toolbox_lines(path):
    """The statements of a .m file, each without its ';', comment and extra spaces."""
    lines = []
    for line in path.read_text(encoding="latin-1").splitlines():
        code = line.split("%")[0].strip().rstrip(";").strip()
        if code:
            lines.append(code)
    return lines


@pytest.mark.skipif(not ORIGINAL, reason="set CNNTOOLBOX_ORIGINAL to a copy of the DeepLearnToolbox "
                                         "to check the displayed Matlab lines against its .m files")
def test_matlab_lines_are_the_toolbox_lines():
    root = Path(ORIGINAL)
    for step in steps.STEPS.values():
        for file, shown in step.matlab:
            lines = _toolbox_lines(root / file)
            if step.whole:
                assert shown in lines, f"{step.key}: {shown!r} is not a line of {file}"
            else:
                assert any(shown in line for line in lines), f"{step.key}: {shown!r} is not in {file}"


@pytest.mark.skipif(not ORIGINAL, reason="set CNNTOOLBOX_ORIGINAL (and put octave on the PATH) to "
                                         "rerun the original on one sample")
def test_octave_messages_of_one_sample():
    try:
        found = octave.run_original(ORIGINAL)
    except FileNotFoundError as error:
        pytest.skip(str(error))
    for key in ("cnnff", "cnnff.line", "cnnbp", "cnnbp.line", "expand"):
        assert found.get(key) == octave.MESSAGES[key], key
    assert found.get("workaround") == "ok"


def test_python_lines_are_found_by_their_markers():
    for step in steps.STEPS.values():
        lines = steps.python_lines(step)
        assert len(lines) == len(step.python) and all(lines)
    broken = steps.Step("x", "", "", "", (), ("no-such-marker",))
    with pytest.raises(LookupError, match="no-such-marker"):
        steps.python_lines(broken)


def test_two_copies_of_one_sample_give_its_gradients(ex):
    """The Octave workaround x(:, :, [1 1]) gives the one sample's gradients (up to rounding)."""
    one = ex.real.bp
    two = cnnbp(cnnff(ex.setup, ex.real.x[:, :, [0, 0]]), ex.real.y[:, [0, 0]])
    for l in (hand.C1, hand.C2):
        np.testing.assert_allclose(two["layers"][l]["dk"][0][0], one["layers"][l]["dk"][0][0],
                                   rtol=1e-14)
        assert two["layers"][l]["db"][0] == pytest.approx(one["layers"][l]["db"][0], rel=1e-14)
    np.testing.assert_allclose(two["dffW"], one["dffW"], rtol=1e-14)
    np.testing.assert_allclose(two["dffb"], one["dffb"], rtol=1e-14)


# --- the worked example --------------------------------------------------------------------

def test_part1_is_made_by_real_weights(ex):
    """Every map and output of Part 1 is exactly 0.5, and cnnff of its weights gives them."""
    again = cnnff(ex.post.net, ex.post.x)
    for layer, fresh in zip(ex.post.net["layers"][1:], again["layers"][1:]):
        assert np.all(layer["a"][0] == 0.5)
        np.testing.assert_array_equal(fresh["a"][0], layer["a"][0])
    assert np.all(ex.post.net["o"] == 0.5) and np.all(again["o"] == 0.5)
    np.testing.assert_allclose(ex.post.package["e"], worked.POST_ERRORS, rtol=1e-15)
    np.testing.assert_allclose(ex.post.package["od"], [0.1, 0.2, 0.04], rtol=1e-15)
    cnnnumgradcheck(ex.post.bp, ex.post.x, ex.post.y)


def test_every_step_agrees_with_the_package(ex):
    keys = {step.key for step in steps.BACKWARD_STEPS + steps.UPDATE_STEPS}
    for state in (ex.post, ex.real):
        assert {row.name for row in state.comparison.rows} == keys
        assert state.comparison.passed
    assert ex.forward_comparison.passed
    assert set(ex.forward) == {step.key for step in steps.FORWARD_STEPS}


def test_the_post_state_differs_from_the_real_one(ex):
    for key in ("od", "fvd", "d_c2", "d_s1", "dk_c2"):
        assert not np.allclose(ex.post.package[key], ex.real.package[key]), key


def test_a_wrong_chain_rule_is_caught(ex, monkeypatch):
    """A pooling matrix without the 1/scale^2 makes the comparison with cnnbp fail."""
    original = hand.pool_matrix
    monkeypatch.setattr(hand, "pool_matrix", lambda scale, shape: original(scale, shape) * scale ** 2)
    with pytest.raises(worked.StepMismatchError, match="expanded"):
        worked.backward_state(ex.setup, ex.real.x, ex.real.y, "test")


def test_the_chain_rule_uses_none_of_the_tricks():
    """hand.py computes without rot180, flipall or expand: agreeing with cnnbp checks them."""
    tree = ast.parse(Path(hand.__file__).read_text(encoding="utf-8"))
    names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    names |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert not names & {"rot180", "flipall", "expand", "correlate", "convolve"}


def test_teaching_imports_form_no_circle():
    folder = ROOT / "cnntoolbox" / "teaching"
    graph = {}
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found |= {alias.name for alias in node.names}
        graph[path.stem] = found
    done, active = set(), []

    def visit(name):
        assert name not in active, f"import circle: {' -> '.join(active + [name])}"
        if name in done or name not in graph:
            return
        active.append(name)
        for other in graph[name]:
            visit(other)
        active.pop()
        done.add(name)

    for name in graph:
        visit(name)


def test_fvd_slip(ex):
    for state in (ex.post, ex.real):
        slip = questions.fvd_slip(state)
        right = np.asarray(slip["right"], dtype=float)
        np.testing.assert_allclose(right, state.package["fvd"], rtol=1e-12)
        assert slip["slip"][3] is None
        assert not np.allclose(np.asarray(slip["slip"][:3], dtype=float), right[:3])


def test_loss_is_half_the_sum_of_squares_not_rms(ex):
    for state in (ex.post, ex.real):
        loss = questions.loss_question(state)
        assert loss["L"] == pytest.approx(loss["half_sse"], rel=1e-15)
        assert loss["rms"] != pytest.approx(loss["L"], rel=1e-3)
    loss = questions.loss_question(ex.real)
    assert loss["dRMS"] != pytest.approx(loss["dL"], abs=1e-3)


def test_scale_question(ex):
    s = questions.scale_question(ex.real)
    assert s["ratio"] == pytest.approx(4.0, rel=1e-12)
    assert questions.identities(ex.real)["pool_slope"] == 0.25


def test_hidden_columns(ex):
    columns = dict(questions.hidden_columns(ex))
    e = np.array(worked.POST_ERRORS)
    oe = columns["o = e"]
    np.testing.assert_allclose(oe["o"], e, rtol=1e-12)
    np.testing.assert_allclose(oe["od"], e * e * (1 - e), rtol=1e-12)       # 0.096, 0.128, 0.021504
    assert "saturated" not in columns         # exercise 6's answer, not shown before the question
    sat = exercises.saturated(ex)
    np.testing.assert_allclose(sat["od"], [-0.99 * 0.0099, 0.99 * 0.0099, 0.01 * 0.0099], rtol=1e-10)
    slow = questions.slowdown(ex)
    assert slow["e"] > 5 and slow["fprime"] > 5, slow       # both causes are large


def test_trace(capsys):
    assert trace_main([]) == 0
    out = capsys.readouterr().out
    for part in ("Part 1", "Part 2", "Part 3"):
        assert part in out
    assert "top-left" in out
    assert trace_main(["--full"]) == 0
    full = capsys.readouterr().out
    assert "top-left" not in full and len(full.splitlines()) > len(out.splitlines())


# --- the exercises -------------------------------------------------------------------------

def test_exercise_fvd2(ex):
    answer = exercises.fvd_by_hand(ex)
    W = ex.setup["ffW"]
    assert answer["sum"] == (Fraction(96, 1000) * Fraction(W[0, 1]) + Fraction(128, 1000) * Fraction(W[1, 1])
                             + Fraction(21504, 1000000) * Fraction(W[2, 1]))
    assert float(answer["sum"]) == pytest.approx(answer["cnnbp"], rel=1e-12)


def test_exercise_without_scale_division(ex):
    m = exercises.mutated(ex.real, "no /scale^2")
    assert m["ratio"][hand.C2] == pytest.approx(4, rel=1e-12)
    assert m["ratio"][hand.C1] == pytest.approx(16, rel=1e-12)
    assert m["message"].startswith("numerical gradient checking failed at layers{4}.b{1}")


def test_exercise_without_rot180(ex):
    m = exercises.mutated(ex.real, "no rot180")
    assert m["dk_error"][hand.C2] < 1e-12 and m["dk_error"][hand.C1] > 0.01
    assert m["message"].startswith("numerical gradient checking failed at layers{2}.")
    assert literal.rot180(np.arange(4.0).reshape(2, 2))[0, 0] == 3.0     # restored afterwards


def test_exercise_scale3():
    answer = exercises.scale3()
    assert answer["divisor"] == pytest.approx(9, rel=1e-12)
    assert answer["message"] is None and answer["sizes"][2] == "6x6"


def test_exercise_last_c():
    answer = exercises.last_c()
    np.testing.assert_allclose(answer["fvd"], answer["plain"] * answer["factor"], rtol=1e-12)
    assert not np.allclose(answer["fvd"], answer["plain"])
    assert answer["message"] is None and answer["fv"] == 16


def test_exercise_two_maps():
    answer = exercises.two_maps()
    assert answer["kernels"] == 4 and answer["weights"] == 85 and answer["fv"] == 8
    assert answer["sum_error"] < 1e-12 < answer["one_term_error"]
    assert answer["message"] is None


def test_exercise_saturated(ex):
    answer = exercises.saturated(ex)
    np.testing.assert_allclose(answer["od"], answer["e"] * answer["o"] * (1 - answer["o"]), rtol=1e-12)
    assert answer["half"] == 0.125
    assert answer["ratio"] == pytest.approx(0.125 / 0.009801, rel=1e-9)


@pytest.mark.parametrize("name", sorted(practice.EXERCISES))
def test_exercise_starter_is_wrong_and_answer_right(name):
    """The starter code runs and the checker names its first wrong element; the answer passes."""
    starter, answer = practice.run(name, "starter"), practice.run(name, "answer")
    assert not starter.ok and ": wrong: yours " in starter.text, starter.text
    assert answer.ok and ": right: " in answer.text, answer.text
    assert practice.code(name, "answer", "zh-TW").count("\n") == practice.code(name, "answer").count("\n")
    assert not re.search(r"#[^\n]*[A-Za-z]{4,}", re.sub(r"(TODO|cnnbp|kernel|map|sigmoid|fv|ffW|od)", "",
                                                        practice.code(name, "starter", "zh-TW")))


def test_checker_names_the_first_wrong_element():
    net = practice.net("example")
    d = practice.field(net, "layers{4}.d{1}")[:, :, 0].copy()
    assert practice.check(net, "layers{4}.d{1}", d).ok
    d[2, 1] += 1e-3                                   # Matlab (3, 2): the 7th element in column order
    d[1, 3] = np.nan                                  # Matlab (2, 4): later in column order
    verdict = practice.check(net, "layers{4}.d{1}", d)
    assert not verdict.ok and verdict.text.startswith("layers{4}.d{1}(3, 2): wrong: yours ")
    assert "2 of 16 elements wrong" in verdict.text
    assert "(3)" in practice.check(net, "od", [0, 0, 1]).text.split(":")[0] or True
    assert practice.check(net, "od", net["od"][:, 0] * [1, 1, 2]).text.startswith("od(3): wrong")
    assert "4 elements" in practice.check(net, "od", np.zeros(4)).text
    assert not practice.check(net, "od", ["a", "b", "c"]).ok
    with pytest.raises(ValueError, match="expected fields"):
        practice.field(net, "layers[3]")
    with pytest.raises(ValueError, match="no exercise net"):
        practice.net("nope")


def test_gradient_check_catches_a_wrong_gradient(ex):
    bad = {**ex.real.bp, "layers": [dict(layer) for layer in ex.real.bp["layers"]]}
    c2 = bad["layers"][hand.C2]
    c2["dk"] = [[c2["dk"][0][0] * (1 + 1e-3)]]
    with pytest.raises(GradientCheckError):
        cnnnumgradcheck(bad, ex.real.x, ex.real.y)
    assert exercises.gradcheck_message(bad, ex.real.x, ex.real.y).startswith(
        "numerical gradient checking failed at layers{4}.k{1}{1}")


# --- the identities the walkthrough explains ------------------------------------------------

def test_full_conv_with_rot180_is_the_transpose_of_valid_conv():
    rng = np.random.default_rng(1)
    k = rng.standard_normal((3, 3))
    d = rng.standard_normal((5, 4))
    V = hand.conv_matrix(k, (7, 6))
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
    chain = sum(hand.kernel_jacobian(a[:, :, n], 3).T @ d[:, :, n].ravel() for n in range(3))
    np.testing.assert_allclose(chain.reshape(3, 3), dk, rtol=0, atol=1e-12)


def test_expand_over_scale_squared_is_the_transpose_of_mean_pooling():
    rng = np.random.default_rng(3)
    scale = 3
    d = rng.standard_normal((2, 4))
    P = hand.pool_matrix(scale, (2 * scale, 4 * scale))
    np.testing.assert_allclose(literal.expand(d, [scale, scale]) / scale ** 2,
                               (P.T @ d.ravel()).reshape(2 * scale, 4 * scale), rtol=0, atol=1e-15)


def test_sigmoid_derivative_against_central_difference():
    u = np.linspace(-6, 6, 25)
    o = literal.sigm(u)
    h = 1e-4
    numerical = (literal.sigm(u + h) - literal.sigm(u - h)) / (2 * h)
    np.testing.assert_allclose(o * (1 - o), numerical, rtol=0, atol=1e-9)
    assert np.max(o * (1 - o)) == pytest.approx(0.25, abs=1e-15)


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


def test_delta_flow_needs_no_data(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from cnntoolbox.teaching import figures

    def no_mnist(*args, **kwargs):
        raise AssertionError("the delta-flow figure must not load MNIST")

    monkeypatch.setattr(figures, "load_mnist", no_mnist)
    monkeypatch.setattr(figures, "run_example", no_mnist)
    assert figures.main(["--out", str(tmp_path), "--only", "delta-flow"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["delta_flow.png"]
    assert (tmp_path / "delta_flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_smoke(tmp_path):
    pytest.importorskip("matplotlib")
    from cnntoolbox.teaching import figures

    out = tmp_path / "img"
    assert figures.main(["--out", str(out), "--limit", "100", "--digit", "3"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(FIGURES)
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 150_000


def _drawn_figures(tmp_path, monkeypatch, argv):
    """Run the figures command and keep each matplotlib figure it saves."""
    from cnntoolbox.teaching import figures

    saved = {}
    original = figures._save

    def keep(fig, path):
        saved[Path(path).name] = fig
        original(fig, path)

    monkeypatch.setattr(figures, "_save", keep)
    assert figures.main(["--out", str(tmp_path)] + argv) == 0
    return saved


def test_figures_are_legible_at_github_width(tmp_path, monkeypatch):
    """Every text of every figure is at least 9 px where GitHub shows the image (scaled down to
    GITHUB_WIDTH when wider): font size in points, at DPI, times the scale."""
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    from cnntoolbox.teaching import figures

    saved = _drawn_figures(tmp_path, monkeypatch, ["--limit", "100", "--digit", "3"])
    assert sorted(saved) == sorted(FIGURES)
    for name, fig in saved.items():
        FigureCanvasAgg(fig).draw()
        width = fig.get_size_inches()[0] * figures.DPI
        scale = min(1.0, figures.GITHUB_WIDTH / width)
        small = sorted({(round(t.get_fontsize() * figures.DPI / 72 * scale, 1), t.get_text())
                        for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()
                        and t.get_fontsize() * figures.DPI / 72 * scale < 9})
        assert not small, f"{name}: text below 9 px on GitHub: {small[:5]}"


def test_delta_flow_shares_one_scale_per_column(tmp_path, monkeypatch):
    """The deltas (and the kernels, the gradients) share one colour scale, so their sizes compare."""
    pytest.importorskip("matplotlib")
    saved = _drawn_figures(tmp_path, monkeypatch, ["--only", "delta-flow"])
    limits = {}
    for image in saved["delta_flow.png"].findobj(lambda artist: hasattr(artist, "get_clim")):
        if image.__class__.__name__ == "AxesImage":
            limits.setdefault(image.get_cmap().name, set()).add(image.get_clim())
    assert limits["viridis"] == {(0.0, 1.0)}
    assert len(limits["RdBu_r"]) == 3                # deltas, kernels, gradients: one scale each
