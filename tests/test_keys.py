"""No silent mistakes (issue 20): unknown keys named, class labels for y refused.

Matlab ignores a struct field that no routine reads; a misspelt option then
trains silently without it.  The port warns of every key it does not know,
naming the nearest known one, and refuses a missing required key naming the
misspelling it has instead.  Nets the routines, MATLAB or a checkpoint wrote
never warn.
"""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from cnntoolbox import (cnnapplygrads, cnnbp, cnnff, cnnnumgradcheck, cnnpredict, cnnsetup,
                        cnntest, cnntrain)
from cnntoolbox.errors import UnknownKeyWarning
from cnntoolbox.matfile import loadmat, savemat
from cnntoolbox.netlayout import KNOWN_KEYS

from helpers import parse_layers

ROOT = Path(__file__).resolve().parent.parent
OPTS = {"alpha": 1.0, "batchsize": 2, "numepochs": 1}
RNG = np.random.default_rng(0)
X = RNG.random((12, 12, 4))
Y = np.eye(3)[:, [0, 1, 2, 0]]


def setup(layers="2c5-2s", **net):
    return cnnsetup({"layers": parse_layers(layers), **net}, X, Y, rng=0)


def no_unknown_keys():
    """A context in which an UnknownKeyWarning is an error."""
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("error", UnknownKeyWarning)
    return context


@pytest.mark.parametrize("call,message", [
    (lambda: cnntrain(setup(), X, Y, dict(OPTS, momentun=0.9), verbose=False),
     r"^opts\['momentun'\] is not a key of the toolbox and is ignored: did you mean 'momentum'\?$"),
    (lambda: cnntrain(setup(), X, Y, dict(OPTS, learningrate=0.1), verbose=False),
     r"^opts\['learningrate'\] .* did you mean 'alpha'\?$"),
    (lambda: cnntrain(setup(), X, Y, dict(OPTS, alphaDecay=0.5), verbose=False),
     r"^opts\['alphaDecay'\] .* did you mean 'alpha_decay'\?$"),
    (lambda: cnnapplygrads(cnnbp(cnnff(setup(), X), Y), {"alpha": 1, "Momentum": 0.5}),
     r"^opts\['Momentum'\] .* did you mean 'momentum'\?$"),
    (lambda: cnnsetup({"layers": [{"type": "i"}, {"type": "c", "outputmaps": 2, "kernelsize": 5,
                                                  "activaton": "relu"}]}, X, Y),
     r"^layer 2 \(net\['layers'\]\[1\]\) 'activaton' is not a key of the toolbox and is "
     r"ignored: did you mean 'activation'\?$"),
    (lambda: cnnff(dict(setup(), Output="softmax"), X),
     r"^net\['Output'\] .* did you mean 'output'\?$"),
    (lambda: cnntrain(dict(setup(), momentum=0.9), X, Y, OPTS, verbose=False),
     r"^net\['momentum'\] .* did you mean opts\['momentum'\]\? it belongs in opts$"),
    (lambda: cnnsetup({"layers": parse_layers("2c5"), "learningRate": 2}, X, Y),
     r"^net\['learningRate'\] .* did you mean opts\['alpha'\]\? it belongs in opts$"),
    (lambda: cnnff(dict(setup(), activation="relu"), X),
     r"^net\['activation'\] .* did you mean 'activation'\? it is a key of a layer"),
    (lambda: cnntest(dict(setup(), foo=1), X, Y),
     r"^net\['foo'\] is not a key of the toolbox and is ignored: the known keys are 'layers', "
     r"'ffb', 'ffW', "),
])
def test_an_unknown_key_is_named_with_the_nearest_known_one(call, message):
    with pytest.warns(UnknownKeyWarning, match=message) as record:
        call()
    assert record[0].filename == __file__            # the warning points at the caller's line


@pytest.mark.parametrize("call,message", [
    (lambda: cnntrain(setup(), X, Y, {"learningrate": 1.0, "batchsize": 2, "numepochs": 1}),
     r"^opts has no 'alpha' \(it has 'learningrate': did you mean 'alpha'\?\)$"),
    (lambda: cnntrain(setup(), X, Y, {"alpha": 1.0, "batch_size": 2, "numepochs": 1}),
     r"^opts has no 'batchsize' \(it has 'batch_size': did you mean 'batchsize'\?\)$"),
    (lambda: cnnapplygrads(cnnbp(cnnff(setup(), X), Y), {"lr": 1.0}),
     r"^opts has no 'alpha' \(it has 'lr': did you mean 'alpha'\?\)$"),
    (lambda: cnnsetup({"layers": [{"type": "i"}, {"type": "c", "outputmaps": 2,
                                                  "kernalsize": 5}]}, X, Y),
     r"^layer 2 \(net\['layers'\]\[1\]\) is a 'c' layer without 'kernelsize' \(it has "
     r"'kernalsize': did you mean 'kernelsize'\?\)$"),
    (lambda: cnnsetup({"layers": [{"type": "i"}, {"type": "s", "Scale": 2}]}, X, Y),
     r"^layer 2 .* is an 's' layer without 'scale' \(it has 'Scale': did you mean 'scale'\?\)$"),
    (lambda: cnnsetup({"layers": [{"Type": "i"}]}, X, Y),
     r"^layer 1 .* has no 'type' \(it has 'Type': did you mean 'type'\?\)$"),
    (lambda: cnnsetup({"Layers": parse_layers("2c5")}, X, Y),
     r"^net has no 'layers' field \(it has 'Layers': did you mean 'layers'\?\)$"),
    (lambda: cnnff({"layer": parse_layers("2c5")}, X),
     r"^net has no 'layers' field \(it has 'layer': did you mean 'layers'\?\)$"),
])
def test_a_missing_required_key_names_its_likely_misspelling(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_nets_the_routines_wrote_never_warn(tmp_path):
    context = no_unknown_keys()
    try:
        for layers, output in (("2c5-2s", None), ("2c3r-2m-2c3t", "softmax")):
            net = setup(layers, **({"output": output} if output else {}))
            trained = cnntrain(net, X, Y, dict(OPTS, momentum=0.5, alpha_decay=0.9,
                                               numepochs=2), rng=0, verbose=False)
            assert "vk" in trained["layers"][1] and "vffW" in trained
            stepped = cnnapplygrads(cnnbp(cnnff(trained, X), Y), dict(OPTS, momentum=0.5))
            cnnnumgradcheck(cnnbp(cnnff(stepped, X[..., :1]), Y[:, :1]), X[..., :1], Y[:, :1])
            cnntest(stepped, X, Y)
            cnnpredict(dict(stepped, testing=1.0), X)    # nnpredict's field, as MATLAB saves it
            for version in ("7", "7.3"):
                path = tmp_path / f"net{version}.mat"
                savemat(path, {"cnn": stepped, "opts": OPTS}, format=version)
                loaded = loadmat(path)
                cnntrain(loaded["cnn"], X, Y, loaded["opts"], verbose=False)
            checkpoint = tmp_path / f"{layers}.npz"
            opts = dict(OPTS, momentum=0.5)
            cnntrain(net, X, Y, opts, rng=0, verbose=False, checkpoint=checkpoint)
            resumed = cnntrain(net, X, Y, dict(opts, numepochs=2), rng=0, verbose=False,
                               checkpoint=checkpoint)
            cnntest(resumed, X, Y)
    finally:
        context.__exit__(None, None, None)


@pytest.mark.parametrize("case", ["case_gradcheck", "case_epochs", "mnist_example"])
def test_nets_matlab_saved_never_warn(case):
    variables = loadmat(ROOT / "matlab_reference" / f"{case}.mat")
    context = no_unknown_keys()
    try:
        nets = [value for value in variables.values()
                if isinstance(value, dict) and "layers" in value]
        assert len(nets) >= 2
        for net in nets:
            rows, cols = 28, 28
            if "x" in variables:
                rows, cols = variables["x"].shape[:2]
            x = np.random.default_rng(0).random((rows, cols, 2))
            cnnff(net, x)
            if "opts" in variables:
                cnntrain(nets[0], variables["x"], variables["y"], variables["opts"],
                         verbose=False)
    finally:
        context.__exit__(None, None, None)


def test_the_known_keys_hold_every_field_a_trained_net_has():
    net = cnntrain(setup("2c3r-2m-2c3t", output="softmax"), X, Y, dict(OPTS, momentum=0.5),
                   verbose=False)
    assert set(net) <= set(KNOWN_KEYS["net"])
    assert set().union(*net["layers"]) <= set(KNOWN_KEYS["layer"])


# --- y as class labels -------------------------------------------------------------------

LABELS = np.array([3, 0, 9, 4])


@pytest.mark.parametrize("y,line", [
    (LABELS[np.newaxis, :].astype(float), "np.eye(10)[labels].T"),
    (LABELS.astype(float), "np.eye(10)[labels].T"),
    (LABELS[:, np.newaxis] + 1.0, r"np.eye(10)[labels - 1].T"),
    (np.array([[2, 1, 1, 2]]), "np.eye(2)[labels - 1].T"),
])
def test_class_labels_for_y_are_refused_with_the_one_hot_line(y, line):
    for call in (lambda: cnnsetup({"layers": parse_layers("2c5")}, X, y),
                 lambda: cnntrain(setup(), X, y, OPTS, verbose=False),
                 lambda: cnntest(setup(), X, y),
                 lambda: cnnbp(cnnff(setup(), X), y)):
        with pytest.raises(ValueError, match=r"^y of shape .* holds class labels .*one-hot.*: "
                                             r"pass y = " + re.escape(line) + " with labels = "):
            call()


@pytest.mark.parametrize("y", [
    np.array([[0.0, 1.0, 1.0, 0.0]]),            # binary labels of a one-output net
    np.array([[0.2, 0.9, 0.5, 0.0]]),            # targets in [0, 1]
    np.array([[-1.0, 1.0, 1.0, -1.0]]),          # no label above 1
])
def test_a_one_output_net_with_targets_up_to_1_stays_legal(y):
    net = cnnsetup({"layers": parse_layers("2c5-2s")}, X, y, rng=0)
    net = cnntrain(net, X, y, OPTS, verbose=False)
    cnntest(net, X, y)
