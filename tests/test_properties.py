"""Properties over random valid architectures, image sizes and batches (hypothesis).

* ``cnnnumgradcheck`` passes: cnnbp's gradients are the loss's derivatives.
* A batch gives the same outputs, activations and deltas as its samples one
  by one, and splitting and reordering a batch changes nothing per sample;
  the gradients of the parts, weighted by their sizes, add up to the batch's.
* The fast routines equal the literal transcription of the .m files.

Sums over a batch may be added in another order (BLAS), so "the same" is
1e-12 relative to the largest magnitude of a field.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cnntoolbox import cnnapplygrads, cnnbp, cnnff, cnnnumgradcheck, cnnsetup, literal

from helpers import input_size, max_rel_error

TOLERANCE = 1e-12
SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def problems(draw, max_m=5):
    """A set-up net of 1 to 4 layers after the input, a batch x and labels y.

    The layer sequence is drawn first and the image size is worked out
    backwards from a 1x1 to 3x3 last map, so every draw is valid.
    """
    count = draw(st.integers(1, 4))
    kind = draw(st.sampled_from("cs"))
    layers = []
    for _ in range(count):
        if kind == "c":
            layers.append({"type": "c", "outputmaps": draw(st.integers(1, 3)),
                           "kernelsize": draw(st.integers(1, 4))})
        else:
            layers.append({"type": "s", "scale": draw(st.sampled_from([1, 2, 2, 3]))})
        kind = "s" if kind == "c" else "c"
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rows, cols = input_size(layers, rows, cols)
    m, onum = draw(st.integers(1, max_m)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    x = rng.random((rows, cols, m))
    y = rng.random((onum, m))
    net = cnnsetup({"layers": [{"type": "i"}] + layers}, x, y, rng=rng)
    return net, x, y


def _per_sample(net):
    """The fields of a net that hold one column or slice per sample: name -> (array, sample axis)."""
    fields = {name: (np.asarray(net[name]), 1) for name in ("fv", "o", "e", "od", "fvd") if name in net}
    for l, layer in enumerate(net["layers"]):
        for name in ("a", "d"):
            for j, array in enumerate(layer.get(name, [])):
                fields[f"layers[{l}].{name}[{j}]"] = (np.asarray(array), 2)
    return fields


def _gradients(net):
    """The gradients of a net after cnnbp: name -> array."""
    grads = {"dffW": net["dffW"], "dffb": net["dffb"]}
    for l, layer in enumerate(net["layers"]):
        if layer["type"] == "c":
            grads[f"layers[{l}].dk"] = np.array(layer["dk"])
            grads[f"layers[{l}].db"] = np.array(layer["db"])
    return grads


def _close(expected, actual, name):
    error, where = max_rel_error(expected, actual, name)
    assert error <= TOLERANCE, f"{where}: relative error {error:.3g}"


@SETTINGS
@given(problems(max_m=3))
def test_numgradcheck_passes(problem):
    net, x, y = problem
    cnnnumgradcheck(cnnbp(cnnff(net, x), y), x, y)


@SETTINGS
@given(problems())
def test_a_batch_equals_its_samples_one_by_one(problem):
    net, x, y = problem
    batch = _per_sample(cnnbp(cnnff(net, x), y))
    for i in range(x.shape[2]):
        single = _per_sample(cnnbp(cnnff(net, x[:, :, i]), y[:, i:i + 1]))
        assert single.keys() == batch.keys()
        for name, (array, axis) in batch.items():
            _close(np.take(array, [i], axis=axis), single[name][0], f"{name} of sample {i}")


@SETTINGS
@given(problems(), st.data())
def test_splitting_and_reordering_a_batch_changes_nothing_per_sample(problem, data):
    net, x, y = problem
    m = x.shape[2]
    order = np.array(data.draw(st.permutations(range(m))))
    cut = data.draw(st.integers(0, m - 1)) if m > 1 else 0
    parts = [part for part in (order[:cut], order[cut:]) if len(part)]
    whole = cnnbp(cnnff(net, x), y)
    batch = _per_sample(whole)
    summed = {name: 0.0 for name in _gradients(whole)}
    loss = 0.0
    for part in parts:
        piece = cnnbp(cnnff(net, x[:, :, part]), y[:, part])
        for name, (array, axis) in _per_sample(piece).items():
            _close(np.take(batch[name][0], part, axis=axis), array, name)
        for name, grad in _gradients(piece).items():
            summed[name] = summed[name] + len(part) * np.asarray(grad)
        loss += len(part) * piece["L"]
    for name, grad in _gradients(whole).items():
        _close(m * np.asarray(grad), summed[name], f"{name} summed over the parts")
    assert abs(loss - m * whole["L"]) <= TOLERANCE * max(loss, 1e-300)


@SETTINGS
@given(problems(), st.floats(0.01, 10))
def test_the_fast_routines_equal_the_literal_transcription(problem, alpha):
    net, x, y = problem
    opts = {"alpha": alpha}
    fast = cnnapplygrads(cnnbp(cnnff(net, x), y), opts)
    slow = literal.cnnapplygrads(literal.cnnbp(literal.cnnff(net, x), y), opts)
    _close(slow, fast, "net")
