"""The worked example as text: numbers in a fixed format, the blocks, the trace.

Every number is printed with :data:`DIGITS` significant digits, so the text
is the same on every platform; differences too small to print stably are
stated as bounds (``below 1e-12``) after checking them.  The blocks are
shared by the trace of ``python -m cnntoolbox.teaching`` and the numbered
parts of ``docs/walkthrough.md`` (see :mod:`cnntoolbox.walkthrough`).
"""

import numpy as np

from ..cnnnumgradcheck import EPSILON, TOLERANCE
from .worked import (
    AGREEMENT,
    ALPHA,
    BACKWARD_STEPS,
    C1,
    C2,
    FORWARD_STEPS,
    IMAGE_SIZE,
    ONUM,
    POST_ERRORS,
    POST_OUTPUT,
    S1,
    S2,
    SEED,
    STEPS,
    TRAIN_STEPS,
    UPDATE_STEPS,
    StepMismatchError,
    python_lines,
    statements,
)

#: Significant digits of every number printed (stable across platforms).
DIGITS = 6
#: Larger maps are shown by their top-left corner of this size.
CORNER = 4
#: Bounds the walkthrough states for differences too small to print stably.
AGREEMENT_SHOWN = 1e-12
GRADCHECK_SHOWN = 1e-9


def fmt(value):
    """A number with DIGITS significant digits ('-0' becomes '0')."""
    text = f"{float(value):.{DIGITS}g}"
    return "0" if text == "-0" else text


def fmt_vector(values):
    """A column vector in Matlab notation: ``[0.1; 0.2; 0.04]``."""
    return "[" + "; ".join(fmt(v) for v in np.ravel(values)) + "]"


def fmt_matrix(matrix, indent="    "):
    """A matrix as right-aligned rows (the top-left CORNER x CORNER of a larger one)."""
    matrix = np.asarray(matrix)
    shown = matrix[:CORNER, :CORNER] if max(matrix.shape) > 6 else matrix
    cells = [[fmt(v) for v in row] for row in shown]
    width = max(len(cell) for row in cells for cell in row)
    lines = [indent + "  ".join(cell.rjust(width) for cell in row) for row in cells]
    if shown.shape != matrix.shape:
        lines = [(f"{indent}({matrix.shape[0]}x{matrix.shape[1]}, top-left "
                 f"{shown.shape[0]}x{shown.shape[1]} shown)")] + lines
    return lines


def fmt_value(label, value, indent="  "):
    """``label: value`` on one line, or the label and a matrix below it."""
    value = np.asarray(value, dtype=float)
    if value.ndim == 2 and min(value.shape) > 1:
        return [f"{indent}{label}:"] + fmt_matrix(value, indent + "    ")
    text = fmt(value) if value.ndim == 0 else fmt_vector(value)
    return [f"{indent}{label}: {text}"]


def bound(value, limit):
    """'below <limit>' after checking that value is; the stable text of a tiny difference."""
    if not value <= limit:
        raise StepMismatchError(f"{value:.3g} is not below {limit:g}")
    return f"below {limit:g}"


POST_LABEL = "post's assumption"
REAL_LABEL = "real outputs"


def render_step(key, columns, checked=None):
    """A step's formula, toolbox statements, Python statements and values.

    Parameters
    ----------
    key : str
        A key of ``STEPS``.
    columns : list of (label, value)
    checked : str, optional
        What the values were checked against, printed last.
    """
    step = STEPS[key]
    lines = [f"{step.field}  ({step.what})", f"  Bouvrie:  {step.formula}"]
    for label, texts in (("Matlab:", statements(step.matlab)), ("Python:", python_lines(step))):
        lines += [f"  {label if n == 0 else '':<8}  {text}" for n, text in enumerate(texts)]
    for label, value in columns:
        lines += fmt_value(label, value)
    if checked:
        lines.append(f"  {checked}")
    return lines


def routine_of(key):
    """The package routine whose result a step is checked against."""
    if key in (step.key for step in FORWARD_STEPS):
        return "cnnff"
    if key in (step.key for step in UPDATE_STEPS):
        return "cnnapplygrads"
    return "cnnbp"


def checked_text(key):
    """What a step's loops were checked against, in words."""
    step = STEPS[key]
    if step.field.startswith("net.") and " " not in step.field:
        return f"loops of teaching.py == {routine_of(key)}'s {step.field}"
    return f"loops of teaching.py == this expression on {routine_of(key)}'s fields"


def step_block(ex, key):
    """The walkthrough's block of one step: the forward value, or both backward states."""
    if key in ex.forward:
        return render_step(key, [("forward pass", ex.forward_hand[key])], checked_text(key))
    return render_step(key, [(POST_LABEL, ex.post.hand[key]), (REAL_LABEL, ex.real.hand[key])],
                       checked_text(key) + ", in both states")


def render_net(ex):
    """The example net: layers, sizes, and the weights cnnsetup drew."""
    net = ex.setup
    rows = cols = IMAGE_SIZE
    lines = [f"seed {SEED}, one sample (m = 1), input {rows}x{cols} uniform in [0, 1)"]
    for number, layer in enumerate(net["layers"], start=1):
        if layer["type"] == "c":
            ks = layer["kernelsize"]
            rows, cols = rows - ks + 1, cols - ks + 1
            name = "C1" if number - 1 == C1 else "C2"
            text = f"'c'  {name}: {layer['outputmaps']} map, {ks}x{ks} kernel"
        elif layer["type"] == "s":
            rows, cols = rows // layer["scale"], cols // layer["scale"]
            name = "S1" if number - 1 == S1 else "S2"
            text = f"'s'  {name}: mean of {layer['scale']}x{layer['scale']} blocks"
        else:
            text = "'i'  input"
        lines.append(f"layer {number}  {text:<38} map {rows}x{cols}")
    onum, fvnum = net["ffW"].shape
    lines.append(f"fv   {fvnum} values (the {rows}x{cols} map, column by column)")
    lines.append(f"o    {onum} outputs: ffW {onum}x{fvnum}, ffb {onum}x1")
    lines.append("weights from cnnsetup:")
    lines += fmt_value("C1 kernel k{1}{1}", net["layers"][C1]["k"][0][0])
    lines += fmt_value("C2 kernel k{1}{1}", net["layers"][C2]["k"][0][0])
    lines += fmt_value("ffW", net["ffW"])
    lines += fmt_value("biases b (C1, C2) and ffb", [net["layers"][C1]["b"][0],
                                                     net["layers"][C2]["b"][0]]
                       + list(net["ffb"][:, 0]))
    lines += fmt_value("input x", ex.x[:, :, 0])
    lines += fmt_value("labels y of Part 2", ex.real.y[:, 0])
    return lines


def render_loss(ex):
    """The toolbox's loss next to the root-mean-square error, and whose gradient cnnbp gives."""
    lines = []
    for label, state in ((POST_LABEL, ex.post), (REAL_LABEL, ex.real)):
        loss = ex.extra["loss"]["post" if state is ex.post else "real"]
        lines += [f"{label}: e = {fmt_vector(state.hand['e'])}",
                  f"  net.L = 1/2 * sum(e.^2) / m   = {fmt(loss['L'])}",
                  f"  root-mean-square sqrt(mean(e.^2)) = {fmt(loss['rms'])}"]
    g = ex.extra["rms_gradient"]
    lines += ["central differences at ffb(1), real outputs:",
              f"  d(net.L)/d ffb(1) = {fmt(g['dL'])}",
              f"  d(RMS)/d ffb(1)   = {fmt(g['dRMS'])}",
              f"  cnnbp's net.dffb(1) = {fmt(g['dffb'])}"]
    return lines


def render_slip(ex):
    """fvd's element formula: the right sum next to the post's, which repeats od(k)."""
    lines = []
    for label, state, slip in ((POST_LABEL, ex.post, ex.extra["slip"]["post"]),
                               (REAL_LABEL, ex.real, ex.extra["slip"]["real"])):
        W, od = state.net["ffW"], state.hand["od"]
        onum, fvnum = W.shape
        lines.append(f"{label}: od = {fmt_vector(od)}")
        for k in range(fvnum):
            terms = " + ".join(f"({fmt(W[i, k])})({fmt(od[i])})" for i in range(onum))
            lines.append(f"  right  fvd({k + 1}) = {terms} = {fmt(slip['right'][k])}")
        for k in range(fvnum):
            if slip["slip"][k] is None:
                lines.append(f"  post   fvd({k + 1}) would need od({k + 1}); od has {onum} elements")
                continue
            terms = " + ".join(f"({fmt(W[i, k])})({fmt(od[k])})" for i in range(onum))
            lines.append(f"  post   fvd({k + 1}) = {terms} = {fmt(slip['slip'][k])}")
    return lines


def render_scale(ex):
    """Why the mean-pool delta is divided by scale^2, in numbers."""
    s = ex.extra["scale"]
    scale = ex.setup["layers"][S2]["scale"]
    slope = ex.extra["identities"]["pool_slope"]
    return [(f"change of an S2 value per unit change of one C2 output in its block: {fmt(slope)}"
            f"  (1/scale^2 = {fmt(1 / scale ** 2)})"),
            "C2 bias gradient, real outputs:",
            f"  with / scale^2 (cnnbp)      {fmt(s['with'])}",
            f"  without / scale^2           {fmt(s['without'])}  ({fmt(s['ratio'])} times as large)",
            f"  central difference of net.L {fmt(s['numerical'])}"]


def render_convn(ex):
    """convn is a true convolution: a sliding dot product with the kernel rotated."""
    left, right = ex.extra["identities"]["convn_is_corr_rot180"]
    diff = float(np.max(np.abs(left - right)))
    return ["convn(S1 map, k, 'valid') against the sliding dot product with rot180(k):",
            f"  max |difference| {bound(diff, AGREEMENT_SHOWN)}"]


def render_transpose(ex):
    """The S1 delta: the transpose of the forward map is the full convolution with rot180(k)."""
    spread, full_rot, full_plain = ex.extra["identities"]["transpose"]
    rows, cols = spread.shape
    n_out = ex.real.hand["d_c2"].size
    return [f"V = the forward map S1 -> C2 input, conv(., k, 'valid'), as a {n_out}x{rows * cols} matrix",
            "V' * delta^C2 against convn(delta^C2, rot180(k), 'full'), real outputs:",
            f"  max |difference| {bound(float(np.max(np.abs(spread - full_rot))), AGREEMENT_SHOWN)}",
            "V' * delta^C2 against convn(delta^C2, k, 'full') (no rotation):",
            f"  max |difference| {fmt(np.max(np.abs(spread - full_plain)))}"]


def render_flipall(ex):
    """dk: convn of the flipped input with the delta is the rotated correlation."""
    flipped, corr_rot, loops, plain = ex.extra["identities"]["flipall"]
    return ["convn(flipall(S1 map), delta^C2, 'valid') against rot180(correlation of S1 map and delta^C2):",
            f"  max |difference| {bound(float(np.max(np.abs(flipped - corr_rot))), AGREEMENT_SHOWN)}",
            "... against the chain-rule loops sum_(y,x) delta(y,x) a(y+2-p, x+2-q):",
            f"  max |difference| {bound(float(np.max(np.abs(flipped - loops))), AGREEMENT_SHOWN)}",
            "convn(S1 map, delta^C2, 'valid') (no flipall) against the loops:",
            f"  max |difference| {fmt(np.max(np.abs(plain - loops)))}"]


def render_sigmoid(ex):
    """o(1 - o) against a central difference of the sigmoid."""
    u, analytic, numerical = ex.extra["identities"]["sigmoid"]
    return [f"u^o of the real outputs      {fmt_vector(u)}",
            f"o .* (1 - o)                 {fmt_vector(analytic)}",
            f"(f(u + h) - f(u - h)) / 2h   {fmt_vector(numerical)}   (h = {EPSILON:g})",
            (f"at u = 0, o = {fmt(POST_OUTPUT)}:       o .* (1 - o) = "
            f"{fmt(POST_OUTPUT * (1 - POST_OUTPUT))}, the sigmoid's steepest slope")]


def render_gradcheck(ex, exact=False):
    """cnnnumgradcheck's central differences for every weight of the real pass."""
    lines = [f"epsilon {EPSILON:g}, tolerance {TOLERANCE:g}; cnnnumgradcheck(net, x, y) raised nothing"]
    total = 0
    for name, (numerical, analytic, diff) in ex.extra["gradcheck"].items():
        total += numerical.size
        shown = f"{diff:.2g}" if exact else bound(diff, GRADCHECK_SHOWN)
        noun = "weight " if numerical.size == 1 else "weights"
        lines.append(f"  {name:<18} {numerical.size:>2} {noun}  max |numerical - analytic| {shown}")
        if numerical.size <= ONUM:
            lines.append(f"    numerical {fmt_vector(numerical)}   cnnbp {fmt_vector(analytic)}")
    lines.append(f"  {total} weights in all")
    return lines


def render_hidden(ex):
    """What the convenient 0.5 hides: the post's state, the real one, and after training."""
    trained = ex.extra["trained"]

    def c2_fprime(net):
        a = net["layers"][C2]["a"][0]
        f = a * (1 - a)
        return f"{fmt(f.min())} .. {fmt(f.max())}"

    o_t = trained["o"][:, 0]
    columns = (
        ("labels y", ex.post.y[:, 0], ex.real.y[:, 0], ex.real.y[:, 0]),
        ("outputs o", ex.post.net["o"][:, 0], ex.real.net["o"][:, 0], o_t),
        ("e = o - y", ex.post.hand["e"], ex.real.hand["e"], trained["e"][:, 0]),
        ("f'(u^o) = o(1 - o)", ex.post.hand["fprime_o"], ex.real.hand["fprime_o"], o_t * (1 - o_t)),
        ("od", ex.post.hand["od"], ex.real.hand["od"], trained["od"][:, 0]),
    )
    lines = [(f"columns: {POST_LABEL} | {REAL_LABEL} | after {TRAIN_STEPS} steps "
             f"(alpha {ALPHA:g}) on this sample")]
    for label, *values in columns:
        lines.append(f"  {label:<20} " + " | ".join(fmt_vector(v) for v in values))
    lines.append(f"  {'C2 f(1 - f) range':<20} "
                 + " | ".join(c2_fprime(net) for net in (ex.post.net, ex.real.net, trained)))
    lines.append(f"  {'net.L':<20} " + " | ".join(
        fmt(v) for v in (ex.post.hand["L"], ex.real.hand["L"], trained["L"])))
    return lines


# --- the trace -------------------------------------------------------------------------

def _checked(diff, against):
    return f"  by hand == {against}: max |difference| {diff:.2g}"


def trace(ex):
    """The readable trace of the example, Part 1 to Part 3, as lines."""
    out = ["The worked example of 'Convolutional Neural Net 筆記', run through cnntoolbox",
           "", "== The example net =="] + render_net(ex)
    out += ["", "== Forward pass (cnnff), each map computed by loops and checked =="]
    for step in FORWARD_STEPS:
        out += render_step(step.key, [("value", ex.forward_hand[step.key])])
        out.append(_checked(ex.forward_diffs[step.key], "cnnff"))
    for title, state in (
            ("Part 1: the post's assumptions: C2 outputs and outputs 0.5, errors "
             + ", ".join(fmt(e) for e in POST_ERRORS), ex.post),
            ("Part 2: the same net with its real outputs", ex.real)):
        out += ["", f"== {title} =="]
        for step in BACKWARD_STEPS + UPDATE_STEPS:
            out += render_step(step.key, [("value", state.hand[step.key])])
            out.append(_checked(state.diffs[step.key], "cnnbp/cnnapplygrads"))
    out += ["", "== Part 3: the slips and the questions, in numbers =="]
    for title, lines in (
            ("The loss is 1/2 * sum(e.^2) / m, not a root-mean-square", render_loss(ex)),
            ("fvd's element formula (the post repeats od(k))", render_slip(ex)),
            ("Why the mean-pool delta is divided by scale^2", render_scale(ex)),
            ("convn flips its kernel", render_convn(ex)),
            ("Why rot180 in the full convolution", render_transpose(ex)),
            ("Why flipall in dk", render_flipall(ex)),
            ("o(1 - o) is the sigmoid's derivative", render_sigmoid(ex)),
            ("cnnnumgradcheck", render_gradcheck(ex, exact=True)),
            ("What the 0.5 hides", render_hidden(ex))):
        out += ["", f"-- {title} --"] + lines
    checks = len(ex.forward_diffs) + len(ex.post.diffs) + len(ex.real.diffs)
    out += ["", (f"All {checks} hand-computed quantities agree with the package "
                f"(relative {AGREEMENT:g}); every gradient passes cnnnumgradcheck.")]
    return out
