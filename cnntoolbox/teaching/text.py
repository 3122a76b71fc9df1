"""The worked example as text: numbers in a fixed format, the blocks, the trace.

The text must be the same under every BLAS kernel and thread count, which
add in different orders.  So: a value the example makes exact (Part 1, a
:class:`fractions.Fraction`) is printed exactly when it has at most
:data:`EXACT_DIGITS` significant digits (``-0.02015625``), else rounded
from its exact value; a float is printed with :data:`DIGITS` significant
digits only if a relative change of :data:`STABLE` cannot change them
(else with fewer); a value at the level of rounding noise is printed as
what it is, zero within rounding, with the bound it was checked against
(``below 1e-12``).  The blocks are
shared by the trace of ``python -m cnntoolbox.teaching`` and the marked
parts of ``docs/walkthrough*.md`` (see :mod:`.walkthrough`).
"""

from decimal import Context, Decimal
from fractions import Fraction

import numpy as np

from ..cnnnumgradcheck import EPSILON, TOLERANCE
from . import exercises, questions
from .hand import C1, C2, S1, exactly
from .steps import BACKWARD_STEPS, FORWARD_STEPS, STEPS, UPDATE_STEPS, matlab_lines, python_lines
from .worked import (
    AGREEMENT,
    ALPHA,
    GRID,
    POST_ERRORS,
    POST_OUTPUT,
    SEED,
    TRAIN_STEPS,
    StepMismatchError,
)

#: Significant digits of a number printed (fewer when a rounding difference could change them).
DIGITS = 6
#: An exact value with at most this many significant digits is printed whole.
EXACT_DIGITS = 10
#: A float's printed digits must survive a relative change this large: the
#: BLAS kernels and thread counts differ near 1e-16 relative, the 100
#: training steps of "what the 0.5 hides" stay far below this.
STABLE = 1e-11
#: Larger maps are shown by their top-left corner of this size (unless the whole map is asked for).
CORNER = 4
#: Bounds stated for differences too small to print stably.
AGREEMENT_SHOWN = 1e-12

POST_LABEL = "post's assumption"
REAL_LABEL = "real outputs"


def fmt_exact(value):
    """A Fraction whole when it has at most EXACT_DIGITS significant digits, else rounded to DIGITS."""
    exact = Context(prec=80).divide(Decimal(value.numerator), Decimal(value.denominator))
    digits = len(exact.normalize().as_tuple().digits)
    if digits > EXACT_DIGITS:
        exact, digits = Context(prec=DIGITS).plus(exact), DIGITS
    return f"{float(exact):.{digits}g}"


def fmt(value):
    """A number as text that no BLAS kernel can change ('-0' becomes '0').

    A Fraction by :func:`fmt_exact`; a float with DIGITS significant digits,
    or fewer where a relative change of STABLE would change the last one.

    Raises
    ------
    StepMismatchError
        Not even one digit is stable (a value at the noise floor: print it
        with :func:`fmt_noise`).
    """
    if isinstance(value, Fraction):
        return fmt_exact(value)
    v = float(value)
    tol = STABLE * abs(v)
    for digits in range(DIGITS, 0, -1):
        text = f"{v:.{digits}g}"
        if f"{v - tol:.{digits}g}" == text == f"{v + tol:.{digits}g}":
            return "0" if text == "-0" else text
    raise StepMismatchError(f"{v!r}: no digit is stable under a relative change of {STABLE:g}")


def fmt_vector(values):
    """A column vector in Matlab notation: ``[0.1; 0.2; 0.04]``."""
    return "[" + "; ".join(fmt(v) for v in np.ravel(values)) + "]"


def fmt_list(values):
    """Numbers separated by commas, for a sentence: ``0.1, 0.2, 0.04``."""
    return ", ".join(fmt(v) for v in np.ravel(values))


def fmt_matrix(matrix, indent="    ", full=False):
    """A matrix as right-aligned rows; a map larger than 6x6 by its top-left CORNER x CORNER unless ``full``."""
    matrix = np.asarray(matrix)
    shown = matrix if full or max(matrix.shape) <= 6 else matrix[:CORNER, :CORNER]
    cells = [[fmt(v) for v in row] for row in shown]
    width = max(len(cell) for row in cells for cell in row)
    lines = [indent + "  ".join(cell.rjust(width) for cell in row) for row in cells]
    if shown.shape != matrix.shape:
        lines = [(f"{indent}({matrix.shape[0]}x{matrix.shape[1]}, top-left "
                 f"{shown.shape[0]}x{shown.shape[1]} shown)")] + lines
    return lines


def fmt_value(label, value, indent="  ", full=False):
    """``label: value`` on one line, or the label and a matrix below it (floats or Fractions)."""
    value = np.asarray(value)
    if value.dtype != object:
        value = value.astype(float)
    if value.ndim == 2 and min(value.shape) > 1:
        return [f"{indent}{label}:"] + fmt_matrix(value, indent + "    ", full)
    text = fmt(value) if value.ndim == 0 else fmt_vector(value)
    return [f"{indent}{label}: {text}"]


def bound(value, limit):
    """'below <limit>' after checking that value is; the stable text of a tiny difference."""
    if not value <= limit:
        raise StepMismatchError(f"{value:.3g} is not below {limit:g}")
    return f"below {limit:g}"


def fmt_noise(value, limit=AGREEMENT_SHOWN):
    """A relative error: 'zero within rounding (below <limit>)' at the noise floor, else :func:`fmt`."""
    if not np.isfinite(value):
        raise StepMismatchError(f"{value!r} is not a number")
    return f"zero within rounding ({bound(value, limit)})" if value <= limit else fmt(value)


def render_step(key, columns, checked=None, full=False):
    """A step's formula, toolbox statements, Python statements and values.

    Parameters
    ----------
    key : str
        A key of ``STEPS``.
    columns : list of (label, value)
    checked : str, optional
        What the values were checked against, printed last.
    full : bool
        Every map whole, not its top-left corner.
    """
    step = STEPS[key]
    source = "Bouvrie:" if step.bouvrie else "Formula:"
    lines = [f"{step.field}  ({step.what})", f"  {source}  {step.formula}"]
    for label, texts in (("Matlab:", matlab_lines(step)), ("Python:", python_lines(step))):
        lines += [f"  {label if n == 0 else '':<8}  {text}" for n, text in enumerate(texts)]
    for label, value in columns:
        lines += fmt_value(label, value, full=full)
    if checked:
        lines.append(f"  {checked}")
    return lines


def checked_text(key):
    """What a step's values were checked against, in words."""
    step = STEPS[key]
    if key in (s.key for s in FORWARD_STEPS):
        return f"literal.py (the .m lines, map by map) == cnnff's {step.field}"
    routine = "cnnapplygrads" if key in (s.key for s in UPDATE_STEPS) else "cnnbp"
    if step.field.startswith("net.") and " " not in step.field:
        return f"chain rule (teaching/hand.py) == {routine}'s {step.field}"
    return f"chain rule (teaching/hand.py) == this expression on {routine}'s fields"


def step_block(ex, key, full=False):
    """The walkthrough's block of one step: the forward value, or both backward states."""
    if key in ex.forward:
        return render_step(key, [("forward pass, real input", ex.forward[key])], checked_text(key), full)
    return render_step(key, [(POST_LABEL, ex.post.shown[key]), (REAL_LABEL, ex.real.shown[key])],
                       checked_text(key) + ", in both states", full)


def layer_sizes(net):
    """Each layer's map size as 'rows x cols', from a net after cnnff."""
    return [f"{layer['a'][0].shape[0]}x{layer['a'][0].shape[1]}" for layer in net["layers"]]


def render_net(ex, full=False):
    """The example net: layers, sizes, and the weights."""
    net = ex.setup
    sizes = layer_sizes(ex.real.net)
    lines = [f"seed {SEED}, one sample (m = 1), input {sizes[0]} uniform in [0, 1)"]
    for number, layer in enumerate(net["layers"], start=1):
        if layer["type"] == "c":
            ks = layer["kernelsize"]
            name = "C1" if number - 1 == C1 else "C2"
            text = f"'c'  {name}: {layer['outputmaps']} map, {ks}x{ks} kernel"
        elif layer["type"] == "s":
            name = "S1" if number - 1 == S1 else "S2"
            text = f"'s'  {name}: mean of {layer['scale']}x{layer['scale']} blocks"
        else:
            text = "'i'  input"
        lines.append(f"layer {number}  {text:<38} map {sizes[number - 1]}")
    onum, fvnum = net["ffW"].shape
    lines.append(f"fv   {fvnum} values (the {sizes[-1]} map, column by column)")
    lines.append(f"o    {onum} outputs: ffW {onum}x{fvnum}, ffb {onum}x1")
    lines.append(f"weights from cnnsetup, rounded to multiples of 1/{round(1 / GRID)} (shown exactly):")
    lines += fmt_value("C1 kernel k{1}{1}", exactly(net["layers"][C1]["k"][0][0]))
    lines += fmt_value("C2 kernel k{1}{1}", exactly(net["layers"][C2]["k"][0][0]))
    lines += fmt_value("ffW", exactly(net["ffW"]))
    lines += fmt_value("Part 2 biases b (C1, C2) and ffb", exactly([net["layers"][C1]["b"][0],
                                                                    net["layers"][C2]["b"][0]]
                                                                   + list(net["ffb"][:, 0])))
    post = ex.post.net
    lines += fmt_value("Part 1 biases b (C1, C2) and ffb", exactly([post["layers"][C1]["b"][0],
                                                                    post["layers"][C2]["b"][0]]
                                                                   + list(post["ffb"][:, 0])))
    lines += fmt_value("Part 2 input x", ex.real.x[:, :, 0], full=full)
    lines.append(f"  Part 1 input x: every pixel {fmt(POST_OUTPUT)}")
    lines += fmt_value("labels y of Part 1", ex.post.y[:, 0])
    lines += fmt_value("labels y of Part 2", ex.real.y[:, 0])
    return lines


def render_post_state(ex):
    """Part 1's maps and outputs: every one exactly 0.5."""
    lines = []
    for l, layer in enumerate(ex.post.net["layers"][1:], start=2):
        values = np.unique(layer["a"][0])
        lines.append(f"  layer {l} map a{{1}}: every value {' '.join(fmt(v) for v in values)}"
                     f" (exactly: {bool(np.all(layer['a'][0] == POST_OUTPUT))})")
    o = ex.post.net["o"][:, 0]
    lines.append(f"  outputs o: {fmt_vector(o)} (exactly: {bool(np.all(o == POST_OUTPUT))})")
    return lines


def render_loss(ex):
    """The toolbox's loss next to the root-mean-square error, and whose gradient cnnbp gives."""
    lines = []
    for label, state in ((POST_LABEL, ex.post), (REAL_LABEL, ex.real)):
        loss = questions.loss_question(state)
        lines += [f"{label}: e = {fmt_vector(state.shown['e'])}",
                  f"  net.L = 1/2 * sum(e.^2) / m       = {fmt(loss['L'])}",
                  f"  root-mean-square sqrt(mean(e.^2)) = {fmt(loss['rms'])}"]
    loss = questions.loss_question(ex.real)
    lines += ["derivatives with respect to ffb(1), real outputs:",
              f"  d(net.L)/d ffb(1) = cnnbp's net.dffb(1) = {fmt(loss['dL'])} "
              "(cnnnumgradcheck agrees)",
              f"  d(RMS)/d ffb(1) = od(1) / (3 RMS)       = {fmt(loss['dRMS'])}"]
    return lines


def render_slip(ex):
    """fvd's element formula: the right sum next to the post's, which repeats od(k)."""
    lines = []
    for label, state in ((POST_LABEL, ex.post), (REAL_LABEL, ex.real)):
        slip = questions.fvd_slip(state)
        W, od = exactly(state.net["ffW"]), state.shown["od"]          # weights on the grid: exact
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
    s = questions.scale_question(ex.real)
    slope = questions.identities(ex.real)["pool_slope"]
    return [(f"weight of one C2 value in its S2 mean (the pooling matrix P): {fmt(slope)}"
            f"  (1/scale^2 = {fmt(1 / s['scale2'])})"),
            "C2 bias gradient, real outputs:",
            f"  with / scale^2 (cnnbp; cnnnumgradcheck agrees)  {fmt(s['with'])}",
            f"  without / scale^2                               {fmt(s['without'])}"
            f"  ({fmt(s['ratio'])} times as large)"]


def render_convn(ex):
    """convn is a true convolution: a sliding dot product with the kernel rotated."""
    left, right = questions.identities(ex.real)["convn_is_corr_rot180"]
    diff = float(np.max(np.abs(left - right)))
    return ["convn(S1 map, k, 'valid') against the sliding dot product with rot180(k) (scipy's correlate):",
            f"  max |difference| {bound(diff, AGREEMENT_SHOWN)}"]


def render_transpose(ex):
    """The S1 delta: the transpose of the forward map is the full convolution with rot180(k)."""
    spread, full_rot, full_plain, shape = questions.identities(ex.real)["transpose"]
    return [f"V = the forward map S1 -> C2 input, convn(., k, 'valid'), as a {shape[0]}x{shape[1]} matrix",
            "V' * delta^C2 against convn(delta^C2, rot180(k), 'full'), real outputs:",
            f"  max |difference| {bound(float(np.max(np.abs(spread - full_rot))), AGREEMENT_SHOWN)}",
            "V' * delta^C2 against convn(delta^C2, k, 'full') (no rotation):",
            f"  max |difference| {fmt(np.max(np.abs(spread - full_plain)))}"]


def render_flipall(ex):
    """dk: convn of the flipped input with the delta is the rotated correlation."""
    flipped, corr_rot, chain, plain = questions.identities(ex.real)["flipall"]
    return ["convn(flipall(S1 map), delta^C2, 'valid') against rot180(correlation of S1 map and delta^C2):",
            f"  max |difference| {bound(float(np.max(np.abs(flipped - corr_rot))), AGREEMENT_SHOWN)}",
            "... against the chain rule J' * delta^C2 (J: d u^C2 / d k, teaching/hand.py):",
            f"  max |difference| {bound(float(np.max(np.abs(flipped - chain))), AGREEMENT_SHOWN)}",
            "convn(S1 map, delta^C2, 'valid') (no flipall) against the chain rule:",
            f"  max |difference| {fmt(np.max(np.abs(plain - chain)))}"]


def render_sigmoid(ex):
    """o(1 - o) against a central difference of the sigmoid."""
    u, analytic, numerical = questions.identities(ex.real)["sigmoid"]
    return [f"u^o of the real outputs      {fmt_vector(u)}",
            f"o .* (1 - o)                 {fmt_vector(analytic)}",
            f"(f(u + h) - f(u - h)) / 2h   {fmt_vector(numerical)}   (h = {EPSILON:g})",
            (f"at u = 0, o = {fmt(POST_OUTPUT)}:       o .* (1 - o) = "
            f"{fmt(POST_OUTPUT * (1 - POST_OUTPUT))}, the sigmoid's steepest slope")]


def render_gradcheck(ex):
    """cnnnumgradcheck on both states: what it checked."""
    count = exercises.weight_count(ex.setup)
    return [f"epsilon {EPSILON:g}, tolerance {TOLERANCE:g} (absolute)",
            f"  {POST_LABEL}: cnnnumgradcheck(net, x, y) raised nothing ({count} weights)",
            f"  {REAL_LABEL}: cnnnumgradcheck(net, x, y) raised nothing ({count} weights)",
            "  order: ffb (3), ffW (12), layers{4}.b{1} (1), layers{4}.k{1}{1} (9), "
            "layers{2}.b{1} (1), layers{2}.k{1}{1} (9)"]


HIDDEN_TITLES = {"post": POST_LABEL + " (labels forced)",
                 "o = e": ("o = e, y = 0 (Part 1's net with ffb = logit(e) - ffW * fv: "
                           "its maps, other outputs)"),
                 "real": REAL_LABEL, "trained": f"after {TRAIN_STEPS} steps (alpha {ALPHA:g}) on this sample"}


def render_hidden(ex):
    """What the convenient 0.5 hides: four states of the output layer."""
    lines = []
    for name, c in questions.hidden_columns(ex):
        lines += [HIDDEN_TITLES[name],
                  f"  y {fmt_vector(c['y'])}   o {fmt_vector(c['o'])}   e = o - y {fmt_vector(c['e'])}",
                  f"  f' = o(1 - o) {fmt_vector(c['fprime'])}   od {fmt_vector(c['od'])}",
                  f"  C2 f' from {fmt(c['c2_fprime'][0])} to {fmt(c['c2_fprime'][1])}   net.L {fmt(c['L'])}"]
    return lines


def render_mutation(ex, what):
    """Exercise: one trick left out, and what cnnnumgradcheck says."""
    m = exercises.mutated(ex.real, what)
    return [f"cnnbp of literal.py with {what}, real outputs:",
            f"  C2 bias gradient {fmt(m['ratio'][C2])} times the right one, "
            f"C1 bias gradient {fmt(m['ratio'][C1])} times",
            f"  largest relative error of dk: C2 {fmt_noise(m['dk_error'][C2])}, "
            f"C1 {fmt_noise(m['dk_error'][C1])}",
            f"  cnnnumgradcheck: {m['message']}"]


def _verdict(message):
    return "cnnnumgradcheck(net, x, y) raised nothing" if message is None else message


def render_exercises(ex):
    """The exercises' answers: name -> lines."""
    f = exercises.fvd_by_hand(ex)
    terms = " + ".join(f"({fmt(w)})({fmt(d)})" for w, d in f["terms"])
    s3, lc, tm, sat = exercises.scale3(), exercises.last_c(), exercises.two_maps(), exercises.saturated(ex)
    return {
        "exercise:fvd": [f"fvd({f['k'] + 1}) = {terms}", f"        = {fmt(f['sum'])}",
                         f"cnnbp's net.fvd({f['k'] + 1}) = {fmt(f['cnnbp'])}"],
        "exercise:no-scale": render_mutation(ex, "no /scale^2"),
        "exercise:no-rot180": render_mutation(ex, "no rot180"),
        "exercise:scale3": [f"map sizes {' -> '.join(s3['sizes'])}",
                            f"C1 delta: f' .* expand(S1 delta) divided by {fmt(s3['divisor'])}",
                            f"{s3['weights']} weights; {_verdict(s3['message'])}"],
        "exercise:last-c": [f"map sizes {' -> '.join(lc['sizes'])}, fv {lc['fv']} values",
                            f"ffW' * od, first 3       {fmt_vector(lc['plain'])}",
                            f"fv .* (1 - fv), first 3  {fmt_vector(lc['factor'])}",
                            f"net.fvd, first 3         {fmt_vector(lc['fvd'])}",
                            f"{lc['weights']} weights; {_verdict(lc['message'])}"],
        "exercise:two-maps": [f"map sizes {' -> '.join(tm['sizes'])}, fv {tm['fv']} values, "
                              f"{tm['kernels']} C2 kernels k{{i}}{{j}}",
                              "S1 delta d{1} against sum over j of convn(d{j}, rot180(k{1}{j}), 'full'):",
                              f"  relative difference {bound(tm['sum_error'], AGREEMENT_SHOWN)}",
                              f"  with the j = 1 term only: {fmt(tm['one_term_error'])}",
                              f"{tm['weights']} weights; {_verdict(tm['message'])}"],
        "exercise:saturated": [f"y {fmt_vector(sat['y'])}   o {fmt_vector(sat['o'])}   e {fmt_vector(sat['e'])}",
                               f"od = e .* o .* (1 - o) = {fmt_vector(sat['od'])}",
                               f"an output of 0.5 with y = 0: od = {fmt(sat['half'])}, "
                               f"{fmt(sat['ratio'])} times the largest |od| here"],
    }


def trace(ex, full=False):
    """The readable trace of the example, Part 1 to Part 3, as lines (every map whole if ``full``)."""
    out = ["The worked example of 'Convolutional Neural Net 筆記', run through cnntoolbox",
           "", "== The example net =="] + render_net(ex, full)
    out += ["", "== Forward pass (cnnff), real input; literal.py (the .m lines) == cnnff =="]
    for step in FORWARD_STEPS:
        out += render_step(step.key, [("value", ex.forward[step.key])], full=full)
    out.append("  " + ex.forward_comparison.verdict())
    for title, state in (
            ("Part 1: the post's assumptions from real weights: every map and output "
             f"{fmt(POST_OUTPUT)}, errors {fmt_list(POST_ERRORS)}", ex.post),
            ("Part 2: the same kernels and ffW, zero biases, a random image, label class 1", ex.real)):
        out += ["", f"== {title} =="]
        if state is ex.post:
            out += render_post_state(ex)
        for step in BACKWARD_STEPS + UPDATE_STEPS:
            out += render_step(step.key, [("value", state.shown[step.key])], full=full)
        out.append("  chain rule (teaching/hand.py) == cnnbp/cnnapplygrads: " + state.comparison.verdict())
    out += ["", "== Part 3: the slips and the questions, in numbers =="]
    for title, lines in (
            ("The loss is 1/2 * sum(e.^2) / m, not a root-mean-square", render_loss(ex)),
            ("fvd's element formula (the post repeats od(k))", render_slip(ex)),
            ("Why the mean-pool delta is divided by scale^2", render_scale(ex)),
            ("convn flips its kernel", render_convn(ex)),
            ("Why rot180 in the full convolution", render_transpose(ex)),
            ("Why flipall in dk", render_flipall(ex)),
            ("o(1 - o) is the sigmoid's derivative", render_sigmoid(ex)),
            ("cnnnumgradcheck", render_gradcheck(ex)),
            ("What the 0.5 hides", render_hidden(ex))):
        out += ["", f"-- {title} --"] + lines
    out += ["", (f"Every step agrees with the package (relative {AGREEMENT:g} of each field's "
                 "largest value); cnnnumgradcheck accepts both states.")]
    return out
