"""Python's orientations (one sample per row) are recognised and refused with the fix.

``load_mnist()`` gives x as (m, 784) rows and y as (m, 10); the toolbox
wants (28, 28, m) and (10, m).  Each public routine that takes x and y says
so, naming the fix, before anything else (in ``cnnsetup``: before the
memory estimate, which would otherwise blame the layers).
"""

import numpy as np
import pytest

from cnntoolbox import cnnnumgradcheck, cnnsetup, cnntest, cnntrain
from cnntoolbox.netlayout import parse_layers

from helpers import random_net

MNIST_NET = {"layers": parse_layers("6c5-2s-12c5-2s")}
OPTS = {"alpha": 1.0, "batchsize": 2, "numepochs": 1}
NET, X, Y = random_net("2c3-2s", 6, 6, 4, 3, seed=1)   # x (6, 6, 4), y (3, 4)
X_ROWS = X.T.reshape(4, 36)                            # the (m, pixels) rows X came from
X_FIX = r'x\.T\.reshape\(6, 6, -1, order="F"\)'


def test_the_issue_case_names_the_layout_not_the_memory():
    # (60000, 784) rows and (60000, 10) labels: before, "the net's weights would need 15526.9 GiB"
    x = np.broadcast_to(np.uint8(0), (60000, 784))     # no memory behind it
    y = np.broadcast_to(np.uint8(0), (60000, 10))
    with pytest.raises(ValueError, match=r'x\.T\.reshape\(28, 28, -1, order="F"\)') as error:
        cnnsetup(MNIST_NET, x, y)
    assert "GiB" not in str(error.value) and "(60000, 784)" in str(error.value)


def test_the_fix_the_message_names_gives_the_toolbox_layout():
    assert np.array_equal(X_ROWS.T.reshape(6, 6, -1, order="F"), X)


@pytest.mark.parametrize("y", [Y, Y.T], ids=["y-columns", "y-rows"])
@pytest.mark.parametrize("call", [
    lambda x, y: cnnsetup({"layers": parse_layers("2c3-2s")}, x, y),
    lambda x, y: cnntrain(NET, x, y, OPTS, verbose=False),
    lambda x, y: cnntest(NET, x, y),
    lambda x, y: cnnnumgradcheck(NET, x, y),
], ids=["cnnsetup", "cnntrain", "cnntest", "cnnnumgradcheck"])
def test_x_given_as_rows(call, y):
    with pytest.raises(ValueError, match=r"^x has shape \(4, 36\), one image per row .*" + X_FIX):
        call(X_ROWS, y)


@pytest.mark.parametrize("call", [
    lambda y: cnnsetup({"layers": parse_layers("2c3-2s")}, X, y),
    lambda y: cnntrain(NET, X, y, OPTS, verbose=False),
    lambda y: cnntest(NET, X, y),
    lambda y: cnnnumgradcheck(NET, X, y),
], ids=["cnnsetup", "cnntrain", "cnntest", "cnnnumgradcheck"])
def test_y_given_as_rows(call):
    with pytest.raises(ValueError, match=r"^y has shape \(4, 3\), one row per sample .*pass y\.T"):
        call(Y.T)


def test_cnnsetup_no_longer_takes_m_outputs_from_transposed_labels():
    # before: cnnsetup built a net with m = 4 outputs and cnntrain failed later
    with pytest.raises(ValueError, match=r"pass y\.T"):
        cnnsetup({"layers": parse_layers("2c3-2s")}, X, Y.T)


def test_a_non_square_image_size_is_named_generally():
    x = np.zeros((4, 30))
    with pytest.raises(ValueError, match=r'x\.T\.reshape\(rows, cols, -1, order="F"\)'):
        cnnsetup({"layers": parse_layers("2c3")}, x, Y)


@pytest.mark.parametrize("rows", [3, 6])
def test_a_single_image_is_still_a_batch_of_one(rows):
    # a rows x 6 image with one label column, also when rows equals the number of outputs
    net, x, y = random_net("2c3", rows, 6, 1, 3, seed=2)
    er, _ = cnntest(net, x[:, :, 0], y)
    trained = cnntrain(net, x[:, :, 0], y, {"alpha": 1.0, "batchsize": 1, "numepochs": 1},
                       verbose=False)
    assert 0 <= er <= 1 and trained["rL"].shape == (2,)
