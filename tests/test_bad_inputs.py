"""The catalogue of bad inputs: each gets a clear exception that names what is wrong.

Every entry calls a public routine, the .mat reader or writer, the MNIST
loader or the command line with one bad input and asserts the exception type
(ValueError, TypeError, FileNotFoundError or the package's subclasses of
them; IsADirectoryError where a folder is given for a file) and that the
message names the offending argument or field.  A raw IndexError, KeyError,
AttributeError, ZeroDivisionError or numpy broadcasting message fails the
entry.
"""

import copy
import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnntoolbox import cnnapplygrads, cnnbp, cnnff, cnnnumgradcheck, cnnsetup, cnntest, cnntrain
from cnntoolbox.training.checkpoint import CheckpointError
from cnntoolbox.datasets.mnist import CorruptDataError, load_mnist
from cnntoolbox.matfile import MatFileError, loadmat, savemat

from helpers import random_net

ROOT = Path(__file__).resolve().parent.parent
REAL_MAT = ROOT / "matlab_reference" / "case_onebyone.mat"
MNIST_FIRST = "train-images-idx3-ubyte.gz"        # the file load_mnist reads first

NET, X, Y = random_net("2c3-2s-2c3", 10, 10, 4, 3, seed=5)   # 2 + 2 maps, fvnum 8, onum 3
FF = cnnff(NET, X)
BP = cnnbp(FF, Y)
OPTS = {"alpha": 1.0, "batchsize": 2, "numepochs": 1}
C = {"type": "c", "outputmaps": 2, "kernelsize": 3}
S = {"type": "s", "scale": 2}
I = {"type": "i"}


def changed(net, path, value):
    """A deep copy of ``net`` with the field at ``path`` (keys and indices) set to ``value``."""
    net = copy.deepcopy(net)
    owner = net
    for key in path[:-1]:
        owner = owner[key]
    owner[path[-1]] = value
    return net


def without(net, path):
    """A deep copy of ``net`` without the field at ``path``."""
    net = copy.deepcopy(net)
    owner = net
    for key in path[:-1]:
        owner = owner[key]
    del owner[path[-1]]
    return net


def setup(*layers):
    return lambda files: cnnsetup({"layers": list(layers)}, X, Y)


def train(**kwargs):
    args = {"net": NET, "x": X, "y": Y, "opts": OPTS, "verbose": False}
    args.update(kwargs)
    return lambda files: cnntrain(**args)


# (id, call(files), exception type(s), regex the message must match)
CORE = [
    # cnnsetup: the net and its layer specs
    ("setup-net-not-a-dict", lambda f: cnnsetup([I, C], X, Y), TypeError, r"^net must be a dict"),
    ("setup-net-without-layers", lambda f: cnnsetup({}, X, Y), ValueError, r"'layers'"),
    ("setup-layers-a-string", lambda f: cnnsetup({"layers": "ics"}, X, Y), TypeError,
     r"net\['layers'\] must be a list"),
    ("setup-no-layers", setup(), ValueError, r"net\['layers'\] needs an input layer"),
    ("setup-first-layer-not-input", setup(C, S), ValueError,
     r"layer 1 \(net\['layers'\]\[0\]\) must be the input layer"),
    # cnnsetup: the opt-in keys beyond the original
    ("setup-unknown-activation", setup(I, dict(C, activation="softplus")), ValueError,
     r"layer 2 .*'activation' must be one of 'sigm', 'relu', 'tanh', 'linear', got 'softplus'"),
    ("setup-activation-an-array", setup(I, dict(C, activation=np.array(["relu"]))), ValueError,
     r"layer 2 .*'activation' must be one of"),
    ("setup-activation-on-an-s-layer", setup(I, C, dict(S, activation="relu")), ValueError,
     r"layer 3 .*'activation' belongs to 'c' and 'f' layers, not to a 's' layer"),
    ("setup-unknown-method", setup(I, C, dict(S, method="median")), ValueError,
     r"layer 3 .*'method' must be one of 'mean', 'max', got 'median'"),
    ("setup-method-on-a-c-layer", setup(I, dict(C, method="max")), ValueError,
     r"layer 2 .*'method' belongs to 's' layers"),
    ("setup-unknown-output", lambda f: cnnsetup({"layers": [I, C], "output": "logistic"}, X, Y),
     ValueError, r"net\['output'\] must be one of 'sigm', 'softmax', 'linear', got 'logistic'"),
    ("setup-softmax-of-one-output",
     lambda f: cnnsetup({"layers": [I, C], "output": "softmax"}, X, Y[:1]), ValueError,
     r"'softmax' needs at least 2 outputs .*got 1"),
    ("bp-softmax-labels-not-summing-to-1",
     lambda f: cnnbp(cnnff(dict(NET, output="softmax"), X), Y), ValueError,
     r"'softmax' needs labels whose columns sum to 1.*column \d+ sums to"),
    ("bp-softmax-negative-labels",
     lambda f: cnnbp(cnnff(dict(NET, output="softmax"), X), Y - 1), ValueError,
     r"'softmax' needs labels y >= 0"),
    ("ff-one-channel-net-on-three-channels",
     lambda f: cnnff(NET, np.stack([X] * 3, axis=2)), ValueError,
     r"layer 2 .*'k' must hold 3 x 2 kernels of 3x3, got 1 x 2 .*the input has 3 channel"),
    ("setup-input-layer-not-first", setup(I, C, I), ValueError,
     r"layer 3 .*only the first layer may be an input layer"),
    ("setup-unknown-layer-type", setup(I, {"type": "x", "outputmaps": 2}), ValueError,
     r"layer 2 .*unknown type 'x'; expected 'i', 'c', 's' or 'f'"),
    ("setup-layer-type-an-array", setup(I, dict(C, type=np.array(["c", "s"]))), ValueError,
     r"layer 2 .*unknown type"),
    ("setup-layer-without-type", setup(I, {"outputmaps": 2, "kernelsize": 3}), ValueError,
     r"layer 2 .*has no 'type'"),
    ("setup-layer-not-a-dict", setup(I, "c"), TypeError, r"layer 2 .*must be a dict"),
    ("setup-conv-without-kernelsize", setup(I, {"type": "c", "outputmaps": 2}), ValueError,
     r"layer 2 .*without 'kernelsize'"),
    ("setup-subsampling-without-scale", setup(I, C, {"type": "s"}), ValueError,
     r"layer 3 .*without 'scale'"),
    ("setup-zero-outputmaps", setup(I, dict(C, outputmaps=0)), ValueError,
     r"layer 2 .*'outputmaps' must be a positive integer, got 0"),
    ("setup-negative-kernelsize", setup(I, dict(C, kernelsize=-3)), ValueError,
     r"'kernelsize' must be a positive integer, got -3"),
    ("setup-non-integer-kernelsize", setup(I, dict(C, kernelsize=2.5)), ValueError,
     r"'kernelsize' must be a positive integer, got 2\.5"),
    ("setup-nan-outputmaps", setup(I, dict(C, outputmaps=float("nan"))), ValueError,
     r"'outputmaps' must be a positive integer, got nan"),
    ("setup-scale-a-string", setup(I, C, {"type": "s", "scale": "2"}), TypeError,
     r"layer 3 .*'scale' must be a positive integer, got '2'"),
    ("setup-outputmaps-a-bool", setup(I, dict(C, outputmaps=True)), TypeError,
     r"'outputmaps' must be a positive integer, got True"),
    ("setup-scale-does-not-divide", setup(I, C, {"type": "s", "scale": 3}), ValueError,
     r"^Layer 3 size must be integer\. Actual: 2\.66667 2\.66667$"),
    ("setup-absurd-outputmaps", setup(I, dict(C, outputmaps=10**9), {"type": "s", "scale": 2},
                                      dict(C, outputmaps=10**9)), ValueError,
     r"the net's weights would need .* GiB, more than this machine's .* the largest part, "
     r"the kernels of layer 4, takes"),
    ("setup-kernel-larger-than-image", setup(I, dict(C, kernelsize=11)), ValueError,
     r"layer 2: kernelsize 11 is larger than its input map 10x10"),
    # cnnsetup: x and y
    ("setup-x-1d", lambda f: cnnsetup(NET, np.zeros(100), Y), ValueError, r"^x must be 3-D"),
    ("setup-x-5d", lambda f: cnnsetup(NET, np.zeros((10, 10, 4, 1, 1)), Y), ValueError,
     r"^x must be 3-D \(rows, cols, m\), 4-D \(rows, cols, channels, m\) .*\(10, 10, 4, 1, 1\)"),
    ("setup-x-4d-without-channels", lambda f: cnnsetup(NET, np.zeros((10, 10, 0, 4)), Y),
     ValueError, r"^x has no channels"),
    ("setup-x-a-string", lambda f: cnnsetup(NET, "images", Y), TypeError,
     r"^x must be a numeric array, got str"),
    ("setup-x-object-array", lambda f: cnnsetup(NET, X.astype(object), Y), TypeError,
     r"^x must be a numeric array, got dtype object"),
    ("setup-x-complex", lambda f: cnnsetup(NET, X + 1j, Y), TypeError, r"^x must be real"),
    ("setup-x-empty-batch", lambda f: cnnsetup(NET, np.zeros((10, 10, 0)), Y[:, :0]), ValueError,
     r"^x holds no samples"),
    ("setup-x-empty-image", lambda f: cnnsetup(NET, np.zeros((0, 10, 4)), Y), ValueError,
     r"^x has an empty image size"),
    ("setup-x-nan", lambda f: cnnsetup(NET, changed(X, (1, 2, 3), np.nan), Y), ValueError,
     r"^x contains NaN or Inf"),
    ("setup-y-no-rows", lambda f: cnnsetup(NET, X, np.zeros((0, 4))), ValueError, r"^y has no rows"),
    ("setup-y-3d", lambda f: cnnsetup(NET, X, np.zeros((3, 4, 1))), ValueError, r"^y must be 2-D"),
    ("setup-y-strings", lambda f: cnnsetup(NET, X, np.array([["a"] * 4] * 3)), TypeError,
     r"^y must be a numeric array"),
    pytest.param("setup-rng-a-string", lambda f: cnnsetup(NET, X, Y, rng="seed"), TypeError,
                 r"^rng must be"),
    # cnnff: weights missing or of the wrong shape, bad batches
    ("ff-net-without-ffW", lambda f: cnnff(without(NET, ["ffW"]), X), ValueError,
     r"net has no 'ffW'; run cnnsetup first"),
    ("ff-layer-without-k", lambda f: cnnff(without(NET, ["layers", 1, "k"]), X), ValueError,
     r"layer 2 \(net\['layers'\]\[1\]\) has no 'k'"),
    ("ff-kernels-of-the-wrong-size", lambda f: cnnff(
        changed(NET, ["layers", 1, "k"], [[np.zeros((2, 2))] * 2]), X), ValueError,
     r"layer 2 .*'k' must hold 1 x 2 kernels of 3x3, got 1 x 2 kernels of 2x2"),
    ("ff-kernels-of-two-sizes", lambda f: cnnff(
        changed(NET, ["layers", 1, "k"], [[np.zeros((3, 3)), np.zeros((2, 2))]]), X), ValueError,
     r"net\['layers'\]\[1\]\['k'\]\[0\]\[1\] must have shape \(3, 3\), got \(2, 2\)"),
    ("ff-kernel-for-a-missing-output-map", lambda f: cnnff(
        changed(NET, ["layers", 3, "k"], [[np.zeros((3, 3))] * 2, [np.zeros((3, 3))]]), X),
     ValueError, r"net\['layers'\]\[3\]\['k'\]\[1\] must have 2 kernels"),
    ("ff-kernels-not-a-list", lambda f: cnnff(changed(NET, ["layers", 1, "k"], np.zeros((3, 3))), X),
     TypeError, r"net\['layers'\]\[1\]\['k'\] must be a list"),
    ("ff-too-many-biases", lambda f: cnnff(changed(NET, ["layers", 1, "b"], [0.0] * 3), X),
     ValueError, r"layer 2 .*'b' must hold 2 biases, got 3"),
    ("ff-bias-a-string", lambda f: cnnff(changed(NET, ["layers", 1, "b", 0], "0"), X), TypeError,
     r"net\['layers'\]\[1\]\['b'\]\[0\] must be a real number"),
    ("ff-bias-nan", lambda f: cnnff(changed(NET, ["layers", 3, "b", 1], np.nan), X), ValueError,
     r"net\['layers'\]\[3\]\['b'\]\[1\] must be finite"),
    ("ff-ffW-wrong-shape", lambda f: cnnff(changed(NET, ["ffW"], np.zeros((3, 9))), X), ValueError,
     r"net\['ffW'\] must be \(onum, 8\) for this input .*got \(3, 9\)"),
    ("ff-ffW-1d", lambda f: cnnff(changed(NET, ["ffW"], np.zeros(24)), X), ValueError,
     r"net\['ffW'\] must be 2-D"),
    ("ff-ffW-complex", lambda f: cnnff(changed(NET, ["ffW"], NET["ffW"] + 0j), X), TypeError,
     r"net\['ffW'\] must be real"),
    ("ff-ffW-object-array", lambda f: cnnff(changed(NET, ["ffW"], NET["ffW"].astype(object)), X),
     TypeError, r"net\['ffW'\] must be a numeric array, got dtype object"),
    ("ff-ffW-inf", lambda f: cnnff(changed(NET, ["ffW", 0, 0], np.inf), X), ValueError,
     r"net\['ffW'\] contains NaN or Inf"),
    ("ff-ffb-wrong-shape", lambda f: cnnff(changed(NET, ["ffb"], np.zeros((1, 3))), X), ValueError,
     r"net\['ffb'\] must be \(3, 1\), got \(1, 3\)"),
    ("ff-images-of-another-size", lambda f: cnnff(NET, np.zeros((12, 12, 2))), ValueError,
     r"net\['ffW'\] must be \(onum, 18\) for this input \(2 maps of 3x3\)"),
    ("ff-images-smaller-than-a-kernel", lambda f: cnnff(NET, np.zeros((2, 2, 1))), ValueError,
     r"layer 2: kernelsize 3 is larger than its input map 2x2"),
    ("ff-x-bytes", lambda f: cnnff(NET, b"\x00" * 400), TypeError, r"^x must be a numeric array"),
    ("ff-x-ragged-lists", lambda f: cnnff(NET, [[1.0, 2.0], [3.0]]), TypeError,
     r"^x must be a numeric array"),
    ("ff-net-L-a-string", lambda f: cnnff(changed(NET, ["L"], "low"), X), TypeError,
     r"net\['L'\] must be a real number"),
    ("ff-stale-activations-garbage", lambda f: cnnff(changed(NET, ["layers", 1, "a"], "junk"), X),
     TypeError, r"net\['layers'\]\[1\]\['a'\] must be a list"),
    ("ff-net-loaded-from-matlab-with-bad-ffW", lambda f: cnnff(
        changed(loadmat(REAL_MAT)["net_setup"], ["ffW"], np.zeros((2, 2))),
        loadmat(REAL_MAT)["x"]), ValueError, r"net\['ffW'\] must be \(onum, \d+\)"),
    # cnnbp
    ("bp-before-ff", lambda f: cnnbp(NET, Y), ValueError, r"net has no 'o'; run cnnff before cnnbp"),
    ("bp-y-wrong-rows", lambda f: cnnbp(FF, Y[:2]), ValueError,
     r"^y has 2 rows but the net has 3 outputs"),
    ("bp-y-wrong-columns", lambda f: cnnbp(FF, Y[:, :3]), ValueError,
     r"^y has 3 columns but x has m = 4 samples"),
    ("bp-y-nan", lambda f: cnnbp(FF, changed(Y, (0, 0), np.nan)), ValueError,
     r"^y contains NaN or Inf"),
    ("bp-layer-without-a", lambda f: cnnbp(without(FF, ["layers", 2, "a"]), Y), ValueError,
     r"layer 3 has no 'a'; run cnnff before cnnbp"),
    pytest.param("bp-o-of-another-batch", lambda f: cnnbp(changed(FF, ["o"], FF["o"][:, :2]), Y[:, :2]),
                 ValueError, r"net\['o'\] must be \(3, 4\)"),
    pytest.param("bp-a-with-a-map-missing", lambda f: cnnbp(
        changed(FF, ["layers", 2, "a"], FF["layers"][2]["a"][:1]), Y), ValueError,
        r"layer 3 .*'a' must hold 2 maps"),
    pytest.param("bp-kernels-replaced-after-ff", lambda f: cnnbp(
        changed(FF, ["layers", 3, "k"], [[np.zeros((2, 2))] * 2] * 2), Y), ValueError,
        r"layer 4 .*'k' must hold 2 x 2 kernels of 3x3"),
    pytest.param("bp-ffW-replaced-after-ff", lambda f: cnnbp(changed(FF, ["ffW"], FF["ffW"][:, :3]), Y),
                 ValueError, r"net\['ffW'\] must be \(onum, 8\)"),
    # cnnapplygrads
    ("applygrads-opts-not-a-dict", lambda f: cnnapplygrads(BP, [1.0]), TypeError,
     r"^opts must be a dict, got list"),
    ("applygrads-opts-without-alpha", lambda f: cnnapplygrads(BP, {"batchsize": 2}), ValueError,
     r"'alpha'"),
    ("applygrads-alpha-a-string", lambda f: cnnapplygrads(BP, {"alpha": "1"}), TypeError,
     r"^opts\['alpha'\] must be a real number"),
    ("applygrads-alpha-nan", lambda f: cnnapplygrads(BP, {"alpha": np.nan}), ValueError,
     r"^opts\['alpha'\] must be finite"),
    ("applygrads-alpha-an-array", lambda f: cnnapplygrads(BP, {"alpha": np.ones(2)}), TypeError,
     r"^opts\['alpha'\] must be a real number"),
    ("applygrads-before-bp", lambda f: cnnapplygrads(FF, OPTS), ValueError,
     r"layer 2 .*has no 'dk'; run cnnff and cnnbp first"),
    ("applygrads-dk-wrong-shape", lambda f: cnnapplygrads(
        changed(BP, ["layers", 3, "dk"], [[np.zeros((2, 2))] * 2] * 2), OPTS), ValueError,
     r"layer 4 .*'dk' must hold 2 x 2 kernels of 3x3 like 'k'"),
    ("applygrads-dffW-wrong-shape", lambda f: cnnapplygrads(changed(BP, ["dffW"], BP["dffW"].T), OPTS),
     ValueError, r"net\['dffW'\] must be \(3, 8\) like net\['ffW'\]"),
    ("applygrads-db-inf", lambda f: cnnapplygrads(changed(BP, ["layers", 1, "db", 0], np.inf), OPTS),
     ValueError, r"net\['layers'\]\[1\]\['db'\]\[0\] must be finite"),
    # cnntrain: opts, data, kk, rng, progress, checkpoint
    ("train-opts-none", train(opts=None), TypeError, r"^opts must be a dict, got NoneType"),
    ("train-opts-without-batchsize", train(opts={"alpha": 1.0, "numepochs": 1}), ValueError,
     r"^opts has no 'batchsize'"),
    ("train-batchsize-zero", train(opts=dict(OPTS, batchsize=0)), ValueError,
     r"^opts\['batchsize'\] must be a positive integer, got 0"),
    ("train-batchsize-not-an-integer", train(opts=dict(OPTS, batchsize=1.5)), ValueError,
     r"^opts\['batchsize'\] must be a positive integer, got 1\.5"),
    ("train-numepochs-a-string", train(opts=dict(OPTS, numepochs="2")), TypeError,
     r"^opts\['numepochs'\] must be a positive integer"),
    ("train-numepochs-negative", train(opts=dict(OPTS, numepochs=-1)), ValueError,
     r"^opts\['numepochs'\] must be a positive integer, got -1"),
    ("train-batchsize-does-not-divide-m", train(opts=dict(OPTS, batchsize=3)), ValueError,
     r"^numbatches not integer: m / batchsize = 4 / 3 = 1\.33333; "),   # the toolbox's words first
    ("train-x-and-y-of-different-m", train(y=Y[:, :3]), ValueError,
     r"^y has 3 columns but x has m = 4 samples"),
    ("train-y-for-another-net", train(y=np.zeros((5, 4))), ValueError,
     r"^y has 5 rows but the net has 3 outputs"),
    ("train-x-inf", train(x=changed(X, (0, 0, 0), -np.inf)), ValueError, r"^x contains NaN or Inf"),
    ("train-kk-not-a-sequence", train(kk=5), TypeError, r"^kk must be a sequence of permutations"),
    ("train-kk-too-few-epochs", train(kk=[np.arange(4)], opts=dict(OPTS, numepochs=2)), ValueError,
     r"^kk holds 1 permutations but opts\['numepochs'\] is 2"),
    ("train-kk-not-a-permutation", train(kk=[[0, 1, 1, 3]]), ValueError,
     r"^kk\[0\] must be a permutation of range\(4\) \(0-based\)"),
    ("train-kk-one-based", train(kk=[[1, 2, 3, 4]]), ValueError, r"^kk\[0\] must be a permutation"),
    ("train-rng-a-string", train(rng="seed"), TypeError, r"^rng must be None, a non-negative"),
    ("train-rng-negative", train(rng=-1), ValueError, r"^rng must be None, a non-negative"),
    ("train-progress-not-callable", train(progress=True), TypeError,
     r"^progress must be callable, got bool"),
    ("train-checkpoint-not-a-path", train(checkpoint=3), TypeError,
     r"^checkpoint must be a file path, got int"),
    ("train-checkpoint-folder-missing", lambda f: cnntrain(
        NET, X, Y, OPTS, verbose=False, checkpoint=f / "none" / "ck.npz"), FileNotFoundError,
     r"checkpoint folder .*none does not exist"),
    ("train-checkpoint-is-a-folder", lambda f: cnntrain(NET, X, Y, OPTS, verbose=False, checkpoint=f),
     CheckpointError, r"checkpoint .* is a folder"),
    ("train-checkpoint-damaged", lambda f: cnntrain(
        NET, X, Y, OPTS, verbose=False, checkpoint=f / "damaged.npz"), CheckpointError,
     r"checkpoint .*damaged\.npz is damaged or not a cnntoolbox checkpoint"),
    ("train-checkpoint-of-other-data", lambda f: cnntrain(
        NET, X, Y, OPTS, verbose=False, checkpoint=f / "other.npz"), CheckpointError,
     r"checkpoint .*other\.npz was made for other training data"),
    pytest.param("train-checkpoint-unwritable", lambda f: cnntrain(
        NET, X, Y, OPTS, verbose=False, checkpoint="/proc/ck.npz"), (FileNotFoundError, PermissionError),
        r"cannot write the checkpoint /proc/ck\.npz",
        marks=pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")),
    # cnntest
    ("test-y-wrong-rows", lambda f: cnntest(NET, X, Y[:1]), ValueError,
     r"^y has 1 rows but the net has 3 outputs"),
    ("test-y-1d", lambda f: cnntest(NET, X, Y[0]), ValueError, r"^y must be 2-D"),
    ("test-net-not-a-dict", lambda f: cnntest("net", X, Y), TypeError, r"^net must be a dict"),
    ("test-net-without-layers", lambda f: cnntest({"ffW": NET["ffW"]}, X, Y), ValueError,
     r"^net has no 'layers'"),
    ("test-x-a-list-of-strings", lambda f: cnntest(NET, ["a", "b"], Y), TypeError,
     r"^x must be a numeric array"),
    # cnnnumgradcheck
    ("numgradcheck-before-bp", lambda f: cnnnumgradcheck(FF, X, Y), ValueError,
     r"has no '(dffb|dk)'; run cnnff and cnnbp"),
    ("numgradcheck-y-wrong-columns", lambda f: cnnnumgradcheck(BP, X, Y[:, :2]), ValueError,
     r"^y has 2 columns but x has m = 4"),
    pytest.param("numgradcheck-dffW-wrong-shape", lambda f: cnnnumgradcheck(
        changed(BP, ["dffW"], BP["dffW"][:, :3]), X, Y), ValueError,
        r"net\['dffW'\] must be \(3, 8\) like net\['ffW'\]"),
    pytest.param("numgradcheck-dk-wrong-shape", lambda f: cnnnumgradcheck(
        changed(BP, ["layers", 3, "dk"], [[np.zeros((2, 2))] * 2] * 2), X, Y), ValueError,
        r"layer 4 .*'dk' must hold 2 x 2 kernels of 3x3"),
]

MATFILE = [
    ("loadmat-missing-file", lambda f: loadmat(f / "none.mat"), FileNotFoundError, r"none\.mat"),
    ("loadmat-a-folder", lambda f: loadmat(f), (IsADirectoryError, ValueError), r"bad\d+"),
    ("loadmat-empty-file", lambda f: loadmat(f / "empty.mat"), MatFileError, r"empty\.mat"),
    ("loadmat-truncated-real-file", lambda f: loadmat(f / "cut.mat"), MatFileError, r"cut\.mat"),
    ("loadmat-real-file-with-a-flipped-byte", lambda f: loadmat(f / "flip.mat"), MatFileError,
     r"flip\.mat"),
    ("loadmat-truncated-v7.3", lambda f: loadmat(f / "cut73.mat"), MatFileError, r"cut73\.mat"),
    ("loadmat-a-text-file", lambda f: loadmat(f / "text.mat"), MatFileError, r"text\.mat"),
    ("loadmat-missing-variable", lambda f: loadmat(REAL_MAT, names="cnn"), MatFileError, r"'cnn'"),
    ("loadmat-path-an-int", lambda f: loadmat(12345), TypeError, r"path"),
    ("savemat-bad-variable-name", lambda f: savemat(f / "a.mat", {"1x": 1.0}), ValueError, r"'1x'"),
    ("savemat-None", lambda f: savemat(f / "a.mat", {"weights": None}), TypeError, r"weights"),
    ("savemat-object-array", lambda f: savemat(f / "a.mat", {"cells": np.array([object()])}),
     TypeError, r"cells"),
    ("savemat-a-function", lambda f: savemat(f / "a.mat", {"handle": len}), TypeError, r"handle"),
    ("savemat-None-deep-in-a-net", lambda f: savemat(
        f / "a.mat", {"cnn": changed(NET, ["layers", 1, "k"], None)}), TypeError,
     r"^cnn\.layers\{2\}\.k: a NoneType"),
    ("savemat-datetime-array", lambda f: savemat(f / "a.mat", {"when": np.zeros(2, "M8[s]")}),
     (TypeError, ValueError), r"when"),
    ("savemat-unknown-format", lambda f: savemat(f / "a.mat", {"x": 1.0}, format="6"), ValueError,
     r"format.*'6'"),
    ("savemat-variables-not-a-dict", lambda f: savemat(f / "a.mat", [1.0]), TypeError, r"variables"),
    ("savemat-onto-a-folder", lambda f: savemat(f, {"x": 1.0}), (IsADirectoryError, ValueError),
     r"bad\d+"),
    ("savemat-folder-missing", lambda f: savemat(f / "none" / "a.mat", {"x": 1.0}),
     FileNotFoundError, r"^(?!.*\.tmp).*none"),
    ("savemat-path-an-int", lambda f: savemat(3, {"x": 1.0}), TypeError, r"path"),
]

MNIST = [
    ("mnist-folder-missing", lambda f: load_mnist(data_dir=f / "none"), FileNotFoundError,
     rf"MNIST file not found: .*none.{MNIST_FIRST}"),
    ("mnist-file-missing", lambda f: load_mnist(data_dir=f / "mnist_missing"), FileNotFoundError,
     rf"mnist_missing.{MNIST_FIRST}"),
    ("mnist-file-is-a-folder", lambda f: load_mnist(data_dir=f / "mnist_folder"), FileNotFoundError,
     rf"mnist_folder.{MNIST_FIRST}"),
    ("mnist-not-gzip", lambda f: load_mnist(data_dir=f / "mnist_notgzip"), CorruptDataError,
     rf"mnist_notgzip.{MNIST_FIRST}: not a readable gzip file"),
    ("mnist-truncated-gzip", lambda f: load_mnist(data_dir=f / "mnist_cut"), CorruptDataError,
     rf"mnist_cut.{MNIST_FIRST}: not a readable gzip file"),
    ("mnist-other-content", lambda f: load_mnist(data_dir=f / "mnist_other"), CorruptDataError,
     rf"mnist_other.{MNIST_FIRST}: MD5 of the decompressed content"),
    ("mnist-empty-file", lambda f: load_mnist(data_dir=f / "mnist_empty"), CorruptDataError,
     rf"mnist_empty.{MNIST_FIRST}"),
    ("mnist-data-dir-an-int", lambda f: load_mnist(data_dir=5), TypeError, r"data_dir"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A folder of bad files: damaged .mat files, MNIST folders, checkpoints."""
    folder = tmp_path_factory.mktemp("bad")
    real = REAL_MAT.read_bytes()
    (folder / "empty.mat").write_bytes(b"")
    (folder / "cut.mat").write_bytes(real[:len(real) // 2])
    flipped = bytearray(real)
    flipped[len(real) // 3] ^= 0xFF
    (folder / "flip.mat").write_bytes(bytes(flipped))
    savemat(folder / "ok73.mat", {"x": np.arange(6.0)}, format="7.3")
    (folder / "cut73.mat").write_bytes((folder / "ok73.mat").read_bytes()[:600])
    (folder / "text.mat").write_text("MATLAB 5.0 MAT-file, but not really\n" * 10)
    good = (ROOT / "data" / MNIST_FIRST).read_bytes()
    for name, content in [("mnist_notgzip", b"not gzip"), ("mnist_cut", good[:len(good) // 2]),
                          ("mnist_other", gzip.compress(b"\x00\x00\x08\x03" + bytes(100))),
                          ("mnist_empty", b""), ("mnist_missing", None), ("mnist_folder", None)]:
        (folder / name).mkdir()
        if content is not None:
            (folder / name / MNIST_FIRST).write_bytes(content)
    (folder / "mnist_folder" / MNIST_FIRST).mkdir()
    (folder / "damaged.npz").write_bytes(b"PK\x03\x04 not a whole checkpoint")
    cnntrain(NET, X * 0.5, Y, OPTS, verbose=False, checkpoint=folder / "other.npz")
    return folder


def _ids(cases):
    return [case.values[0] if hasattr(case, "values") else case[0] for case in cases]


@pytest.mark.parametrize("name,call,error,message", CORE + MATFILE + MNIST,
                         ids=_ids(CORE + MATFILE + MNIST))
def test_bad_input(name, call, error, message, files):
    with pytest.raises(error) as info:
        call(files)
    assert not isinstance(info.value, (IndexError, KeyError, AttributeError, ZeroDivisionError))
    text = str(info.value)
    assert "broadcast" not in text, text
    assert re.search(message, text), f"{name}: message {text!r} does not match {message!r}"


# The command line: one line on stderr, a non-zero exit, no traceback.
CLI = [
    ("cli-unknown-command", ["bogus"], r"invalid choice: 'bogus'"),
    ("cli-zero-epochs", ["--epochs", "0"], r"--epochs.*'0'"),
    ("cli-alpha-nan", ["--alpha", "nan"], r"--alpha.*'nan'"),
    ("cli-unreadable-layers", ["--layers", "6x5"], r"'6x5'"),
    ("cli-format-without-save", ["--format", "7.3"], r"--format.*--save"),
    ("cli-save-folder-missing", ["--save", "{files}/none/net.mat"], r"--save.*none"),
    ("cli-data-dir-missing", ["--data-dir", "{files}/none", "--limit", "100"],
     r"none"),
    ("cli-kernel-larger-than-image", ["--layers", "6c50", "--limit", "100"],
     r"layer 2: kernelsize 50"),
    ("cli-limit-too-large", ["--limit", "70000", "--layers", "2c5"], r"limit.*70000"),
    ("cli-replay-not-a-mat-file", ["--replay", "{files}/text.mat", "--limit", "50"], r"text\.mat"),
    ("cli-batchsize-does-not-divide", ["--batchsize", "7", "--limit", "100", "--layers", "2c5"],
     r"--batchsize.*--limit"),
    ("cli-negative-seed", ["--seed", "-1", "--limit", "50", "--layers", "2c5"], r"--seed"),
]


@pytest.mark.parametrize("name,argv,message", CLI, ids=_ids(CLI))
def test_command_line_bad_input(name, argv, message, files):
    argv = [arg.format(files=files) for arg in argv]
    result = subprocess.run([sys.executable, "-m", "cnntoolbox", *argv, "--quiet"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(message, lines[0]), lines[0]


def test_the_catalogue_is_long_enough():
    assert len(CORE) + len(MATFILE) + len(MNIST) + len(CLI) >= 40
