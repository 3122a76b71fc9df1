"""Several SGD steps with momentum and a decaying rate against PyTorch float64.

PyTorch is the independent reference for what the original toolbox lacks:
the same weights (``bench/torch_peer.py`` builds the net with flipped
kernels), the same batches (``kk``), the same loss; after every epoch of
batches every weight (and velocity) must agree to 1e-12 relative to the
field's largest magnitude.

The momentum step here is ``v = mu * v - alpha * dw; w = w + v``
(``cnnapplygrads``).  ``torch.optim.SGD`` keeps ``buf = mu * buf + dw`` and
steps ``w -= lr * buf``: the same while the rate is constant (checked with
torch's own optimiser), but with a rate that changes between epochs torch
scales the whole accumulated velocity by the current rate.  So the schedule
is checked against the same formula written in torch, and a test shows that
torch's SGD with ``ExponentialLR`` does differ from it.
"""

import numpy as np
import pytest

from cnntoolbox import cnnsetup, cnntrain
from cnntoolbox.netlayout import parse_layers

from helpers import max_rel_error, random_net, torch_peer_or_skip

torch_peer = torch_peer_or_skip("momentum and schedules")
import torch  # noqa: E402  (after the skip)

RTOL = 1e-12
M, ONUM, BATCH, EPOCHS = 40, 4, 8, 3
#: (spec, rows, cols): the MNIST net's kinds of layer on small inputs.
NETS = [("3c3-2s-4c3-2s", 14, 14), ("2c5-2s", 12, 16), ("2s-3c3-2s-2c2", 16, 16)]
#: (spec, rows, cols, channels, output): the opt-in kinds (README, "Beyond the original").
KINDS = [("3c3r-2m-4c3r-2m", 14, 14, 3, "softmax"),
         ("2c3t-3c3l-2s-2c2", 12, 12, 2, "sigm"),
         ("2m-2s-3c3r-2c2t", 16, 16, 3, "softmax"),
         ("3c3l-2m-2m-2c1", 14, 18, 1, "softmax")]


def _cnntrain(net, x, y, kk, **opts):
    """The port's cnntrain with this module's batch size and epochs, on the orders ``kk``."""
    return cnntrain(net, x, y, {"batchsize": BATCH, "numepochs": EPOCHS, **opts}, kk=kk,
                    verbose=False)


def _orders(seed):
    rng = np.random.default_rng(seed)
    return [rng.permutation(M) for _ in range(EPOCHS)]


def _assert_agree(params, velocity, ours, velocity_note="velocity"):
    """The trained net's weights and velocities equal torch's (``velocity``: tensors in the
    order of ``torch_peer.parameters``) within RTOL of each array's largest magnitude."""
    theirs = torch_peer.as_net(torch_peer.unflatten(velocity, params))
    for what, expected, actual in (
            ("weights", torch_peer.as_net(params), torch_peer.net_weights(ours)),
            (velocity_note, theirs, torch_peer.net_weights(ours, velocity=True))):
        error, where = max_rel_error(expected, actual)
        assert error <= RTOL, f"{what} {where}: {error:.2e}"


def _kinds_net(spec, rows, cols, channels, output, seed):
    """A set-up net of the opt-in kinds, x (rows, cols, channels, m) and labels that sum to 1."""
    rng = np.random.default_rng(seed)
    x = rng.random((rows, cols, channels, M))
    y = rng.random((ONUM, M))
    y /= y.sum(axis=0)
    net = {"layers": parse_layers(spec), "output": output}
    net = cnnsetup(net, x, y, rng=rng)
    for layer in net["layers"]:              # biases away from 0, so that relu cuts somewhere
        if layer["type"] == "c":
            layer["b"] = list(rng.uniform(-0.3, 0.3, len(layer["b"])))
    return net, x, y


def _torch_run(net, x, y, kk, alphas, momentum, step):
    """Train the torch peer batch by batch; ``step(params, grads, alpha, state)`` updates in place."""
    params = torch_peer.params_from_net(net)
    flat = torch_peer.parameters(params)
    tx, ty = torch_peer.x_to_torch(x), torch_peer.y_to_torch(y)
    output = net.get("output", "sigm")
    state, losses = {}, []
    for order, alpha in zip(kk, alphas):
        for start in range(0, M, BATCH):
            idx = torch.as_tensor(order[start:start + BATCH])
            o = torch_peer.forward(params, net["layers"], tx[idx], output)
            L = torch_peer.loss(o, ty[idx], output)
            grads = torch.autograd.grad(L, flat)
            with torch.no_grad():
                step(flat, grads, alpha, state)
            losses.append(L.item())
    velocity = [state[n] for n in range(len(flat))] if state else None
    return params, flat, velocity, losses


def _our_formula(flat, grads, alpha, state, mu):
    """v = mu * v - alpha * g; w = w + v, written in torch."""
    for n, (p, g) in enumerate(zip(flat, grads)):
        v = state.get(n, torch.zeros_like(p))
        state[n] = mu * v - alpha * g
        p.add_(state[n])


@pytest.mark.parametrize("spec, rows, cols, channels, output",
                         [(*net, 1, None) for net in NETS] + KINDS)
def test_momentum_and_decay_agree_with_torch(spec, rows, cols, channels, output):
    if output is None:                       # the original's kinds, one channel, 3-D x
        net, x, y = random_net(spec, rows, cols, M, ONUM, seed=21)
    else:
        net, x, y = _kinds_net(spec, rows, cols, channels, output, seed=21)
    kk, mu, alpha, decay = _orders(1), 0.9, 0.8, 0.5
    ours = _cnntrain(net, x, y, kk, alpha=alpha, alpha_decay=decay, momentum=mu)
    alphas = [alpha]
    for _ in range(EPOCHS - 1):
        alphas.append(alphas[-1] * decay)                    # torch's ExponentialLR, step by step
    params, _, velocity, losses = _torch_run(
        net, x, y, kk, alphas, mu, lambda *a: _our_formula(*a, mu=mu))
    _assert_agree(params, velocity, ours)
    error, where = max_rel_error(torch_peer.running_loss(losses), ours["rL"])
    assert error <= RTOL, f"rL: {error:.2e}"
    before, after = torch_peer.net_weights(net), torch_peer.net_weights(ours)
    for field in ("ffW", "k"):                             # the weights did move
        assert max_rel_error(before[field], after[field])[0] > 0.01, field


def test_constant_rate_momentum_agrees_with_torch_sgd():
    spec, rows, cols = NETS[0]
    net, x, y = random_net(spec, rows, cols, M, ONUM, seed=22)
    kk, mu, alpha = _orders(2), 0.8, 0.6
    ours = _cnntrain(net, x, y, kk, alpha=alpha, momentum=mu)
    optimisers = {}

    def sgd(flat, grads, lr, state):
        if "sgd" not in optimisers:
            optimisers["sgd"] = torch.optim.SGD(flat, lr=lr, momentum=mu)
        for p, g in zip(flat, grads):
            p.grad = g
        optimisers["sgd"].step()

    params, flat, _, _ = _torch_run(net, x, y, kk, [alpha] * EPOCHS, mu, sgd)
    buffers = [-alpha * optimisers["sgd"].state[p]["momentum_buffer"] for p in flat]
    _assert_agree(params, buffers, ours, "velocity = -lr * momentum_buffer")


def test_torch_sgd_with_exponential_lr_is_another_formula():
    spec, rows, cols = NETS[0]
    net, x, y = random_net(spec, rows, cols, M, ONUM, seed=23)
    kk, mu, alpha, decay = _orders(3), 0.9, 0.8, 0.5
    ours = _cnntrain(net, x, y, kk, alpha=alpha, alpha_decay=decay, momentum=mu)
    params = torch_peer.params_from_net(net)
    flat = torch_peer.parameters(params)
    sgd = torch.optim.SGD(flat, lr=alpha, momentum=mu)
    schedule = torch.optim.lr_scheduler.ExponentialLR(sgd, gamma=decay)
    tx, ty = torch_peer.x_to_torch(x), torch_peer.y_to_torch(y)
    for order in kk:
        for start in range(0, M, BATCH):
            idx = torch.as_tensor(order[start:start + BATCH])
            sgd.zero_grad()
            torch_peer.loss(torch_peer.forward(params, net["layers"], tx[idx]), ty[idx]).backward()
            sgd.step()
        schedule.step()
    error, _ = max_rel_error(torch_peer.as_net(params), torch_peer.net_weights(ours))
    assert error > 1e-6      # torch rescales the old velocity by the new rate; cnnapplygrads does not


@pytest.mark.parametrize("mu", [0.0, 0.7])
@pytest.mark.parametrize("spec, rows, cols, channels, output",
                         [(*NETS[0], 1, None), KINDS[0], ("3c3t-2m-2c2", 12, 12, 2, "linear"),
                          ("3c3-2s-6f-4ft", 12, 12, 1, "softmax")])
def test_weight_penalty_agrees_with_torch_sgd_weight_decay(spec, rows, cols, channels, output,
                                                           mu):
    """opts['weightPenaltyL2'] = torch.optim.SGD's weight_decay on the kernels, 'f' W and ffW only.

    SGD steps ``buf = mu * buf + (dw + lam * w); w -= lr * buf`` (buf = dw + lam * w without
    momentum): at a constant rate, cnnapplygrads' ``v = mu * v - alpha * (dw + lam * w)``.
    """
    if output is None:
        net, x, y = random_net(spec, rows, cols, M, ONUM, seed=24)
    else:
        net, x, y = _kinds_net(spec, rows, cols, channels, output, seed=24)
    kk, alpha, lam = _orders(4), 0.5, 0.05
    opts = {"alpha": alpha, "weightPenaltyL2": lam, **({"momentum": mu} if mu else {})}
    ours = _cnntrain(net, x, y, kk, **opts)
    optimisers, like = {}, torch_peer.params_from_net(net)

    def sgd(flat, grads, lr, state):
        if "sgd" not in optimisers:
            params = torch_peer.unflatten(flat, like)
            optimisers["sgd"] = torch.optim.SGD(
                [{"params": [*params["W"], *params.get("fW", []), params["ffW"]],
                  "weight_decay": lam},
                 {"params": [*params["b"], *params.get("fb", []), params["ffb"]],
                  "weight_decay": 0.0}],
                lr=lr, momentum=mu)
        for p, g in zip(flat, grads):
            p.grad = g
        optimisers["sgd"].step()

    params, flat, _, losses = _torch_run(net, x, y, kk, [alpha] * EPOCHS, mu, sgd)
    error, where = max_rel_error(torch_peer.as_net(params), torch_peer.net_weights(ours))
    assert error <= RTOL, f"weights {where}: {error:.2e}"
    if mu:
        buffers = [-alpha * optimisers["sgd"].state[p]["momentum_buffer"] for p in flat]
        _assert_agree(params, buffers, ours, "velocity = -lr * momentum_buffer")
    error, where = max_rel_error(torch_peer.running_loss(losses), ours["rL"])
    assert error <= RTOL, f"rL (the loss without the penalty): {error:.2e}"
    plain = _cnntrain(net, x, y, kk, **{k: v for k, v in opts.items() if k != "weightPenaltyL2"})
    assert max_rel_error(plain["ffW"], ours["ffW"])[0] > 1e-3      # the penalty did act
    for layer, without in zip(ours["layers"], plain["layers"]):
        if layer["type"] in ("c", "f"):                          # on the kernels and W too
            field = "k" if layer["type"] == "c" else "W"
            assert max_rel_error(without[field], layer[field])[0] > 1e-4
