"""cnntrain stops with DivergenceError where the loss becomes NaN or Inf (Matlab carries on).

With labels in [0, 1] the loss of a sigmoid output is at most onum / 2 and
stays finite even at alpha 1e6: what diverges is training on labels far
outside [0, 1] with a huge alpha, where a gradient step overflows a weight
to Inf and the next forward pass gives NaN.  The expected epoch and batch
come from the literal transcription of the .m files, which (like Matlab)
carries the NaN on.
"""

import re
import warnings

import numpy as np
import pytest

from cnntoolbox import DivergenceError, cnntrain, literal
from cnntoolbox.training.checkpoint import load_checkpoint

from helpers import random_net

M, EPOCHS, ALPHA = 8, 3, 1e300


def _problem():
    net, x, y = random_net("2c3-2s-2c3", 10, 10, M, 3, seed=1)
    kk = [np.random.default_rng(epoch).permutation(M) for epoch in range(EPOCHS)]
    return net, x, y * 1e100, kk


def _first_nonfinite_loss(net, x, y, kk, batchsize):
    """(epoch, batch, L) of the first non-finite loss, 1-based, training as the .m files do."""
    opts = {"alpha": ALPHA}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for epoch, order in enumerate(kk):
            for batch in range(M // batchsize):
                index = order[batch * batchsize:(batch + 1) * batchsize]
                net = literal.cnnapplygrads(literal.cnnbp(literal.cnnff(net, x[:, :, index]),
                                                          y[:, index]), opts)
                if not np.isfinite(net["L"]):
                    return epoch + 1, batch + 1, net["L"]
    raise AssertionError("the literal transcription did not diverge")


@pytest.mark.parametrize("batchsize", [M, 2])
def test_the_error_names_the_epoch_and_batch(batchsize):
    net, x, y, kk = _problem()
    epoch, batch, loss = _first_nonfinite_loss(net, x, y, kk, batchsize)
    opts = {"alpha": ALPHA, "batchsize": batchsize, "numepochs": EPOCHS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DivergenceError) as info:
            cnntrain(net, x, y, opts, kk=kk, verbose=False)
    assert str(info.value) == (f"loss became {loss} in epoch {epoch}, batch {batch} of "
                               f"{M // batchsize} (alpha = 1e+300); lower opts['alpha']")
    assert isinstance(info.value, FloatingPointError)


def test_labels_in_0_1_do_not_diverge_even_at_alpha_1e6():
    net, x, y = random_net("2c3-2s-2c3", 10, 10, M, 3, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        trained = cnntrain(net, x, y, {"alpha": 1e6, "batchsize": 2, "numepochs": EPOCHS},
                           rng=0, verbose=False)
    assert np.all(np.isfinite(trained["rL"])) and np.all(trained["rL"] <= 3 / 2)


def test_the_checkpoint_keeps_the_epoch_before_the_divergence(tmp_path):
    net, x, y, kk = _problem()
    epoch, batch, _ = _first_nonfinite_loss(net, x, y, kk, M)
    assert (epoch, batch) == (2, 1)
    path = tmp_path / "ck.npz"
    opts = {"alpha": ALPHA, "batchsize": M, "numepochs": EPOCHS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for attempt in range(2):                  # the second run resumes and diverges again
            with pytest.raises(DivergenceError, match=re.escape("in epoch 2, batch 1 of 1")):
                cnntrain(net, x, y, opts, kk=kk, verbose=False, checkpoint=path)
            assert load_checkpoint(path)["epochs"] == 1
