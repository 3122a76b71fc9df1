"""Data and one timed training epoch per implementation, for bench/worker.py.

Each ``run_*`` function trains one epoch over the samples it is given, the
way ``cnntrain.m`` does (randperm, then ff, bp, applygrads per batch), and
times the training alone: data loading and conversion come before the clock
starts. With ``spec["warmup"]`` (cnntoolbox and PyTorch), two batches are
trained on a copy of the net first, so that one-off costs of the first calls
stay out of the timing of a short slice. Where a test set is given, the
trained net is then tested on it (timed separately), so that the peak memory
of the process covers the whole example, train and test, data included.
"""

import gzip
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
#: Places of the four MNIST IDX files: the repository's data/, then the
#: shared input folder next to the repository.
IDX_DIRS = (ROOT / "data", ROOT.parent / "shared" / "data" / "mnist")
IDX_NAMES = {"train_x": "train-images-idx3-ubyte.gz", "train_y": "train-labels-idx1-ubyte.gz",
             "test_x": "t10k-images-idx3-ubyte.gz", "test_y": "t10k-labels-idx1-ubyte.gz"}


def example_layers(maps=(6, 12), kernelsize=5, scale=2):
    """Layer specs of the MNIST example's net (i, c, s, c, s) with the given map counts."""
    return [{"type": "i"},
            {"type": "c", "outputmaps": maps[0], "kernelsize": kernelsize},
            {"type": "s", "scale": scale},
            {"type": "c", "outputmaps": maps[1], "kernelsize": kernelsize},
            {"type": "s", "scale": scale}]


def mnist_uint8():
    """MNIST as the toolbox's ``mnist_uint8`` variables.

    Uses ``cnntoolbox.datasets.mnist.load_mnist`` when the package has it, else reads
    the IDX files from :data:`IDX_DIRS`.

    Returns
    -------
    dict
        ``train_x`` (60000, 784), ``train_y`` (60000, 10) one-hot,
        ``test_x`` (10000, 784), ``test_y`` (10000, 10); uint8.
    """
    try:
        from cnntoolbox.datasets.mnist import load_mnist
    except ImportError:
        return _read_idx_dir()
    return load_mnist()


def _read_idx_dir():
    for folder in IDX_DIRS:
        if all((folder / name).is_file() for name in IDX_NAMES.values()):
            break
    else:
        raise FileNotFoundError(f"MNIST IDX files not found in {', '.join(map(str, IDX_DIRS))}")
    out = {}
    for key, name in IDX_NAMES.items():
        with gzip.open(folder / name, "rb") as f:
            raw = f.read()
        ndim = raw[3]
        dims = np.frombuffer(raw[4:4 + 4 * ndim], dtype=">u4")
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
        if key.endswith("_x"):
            out[key] = data.reshape(int(dims[0]), -1)
        else:
            out[key] = np.eye(10, dtype=np.uint8)[data]
    return out


def toolbox_x(rows):
    """(n, 784) uint8 -> (28, 28, n) float64, as ``test_example_CNN.m`` does.

    ``double(reshape(train_x', 28, 28, n)) / 255`` (column-major).
    """
    return rows.T.reshape(28, 28, -1, order="F") / 255


def toolbox_y(onehot):
    """(n, 10) uint8 -> (10, n) float64, ``double(train_y')``."""
    return onehot.T.astype(np.float64)


def random_data(size, samples, onum=10, seed=0):
    """Random images in [0, 1) (size, size, samples) and one-hot targets (onum, samples)."""
    rng = np.random.default_rng(seed)
    x = rng.random((size, size, samples))
    y = np.zeros((onum, samples))
    y[rng.integers(0, onum, samples), np.arange(samples)] = 1
    return x, y


def load(spec):
    """Training and test data for a worker spec.

    Parameters
    ----------
    spec : dict
        ``data`` ("mnist" or "random"), ``samples``, ``test_samples``,
        ``size`` (random data only), ``seed``.

    Returns
    -------
    tuple
        ``(x, y, test_x, test_y)`` in the toolbox layout ((rows, cols, m) and
        (onum, m), float64); the test pair is None when ``test_samples`` is 0.
    """
    n, t = spec["samples"], spec.get("test_samples", 0)
    if spec["data"] == "random":
        x, y = random_data(spec["size"], n + t, seed=spec["seed"])
        if not t:
            return x, y, None, None
        return (np.ascontiguousarray(x[:, :, :n]), y[:, :n],
                np.ascontiguousarray(x[:, :, n:]), y[:, n:])
    data = mnist_uint8()
    x, y = toolbox_x(data["train_x"][:n]), toolbox_y(data["train_y"][:n])
    if not t:
        return x, y, None, None
    return x, y, toolbox_x(data["test_x"][:t]), toolbox_y(data["test_y"][:t])


class Clock:
    """Wall and CPU seconds (all threads of this process) of a ``with`` block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        return False


def run_package(spec):
    """``cnnsetup``, one ``cnntrain`` epoch (timed) and ``cnntest``, as users call them.

    ``spec["dtype"]`` "float32" gives cnntrain and cnntest float32 x and y (the
    net from cnnsetup is float64, as Matlab's rand; training makes it float32).
    """
    from cnntoolbox import cnnsetup, cnntest, cnntrain
    x, y, test_x, test_y = load(spec)
    if spec.get("dtype", "float64") == "float32":
        x, y = x.astype(np.float32), y.astype(np.float32)
        if test_x is not None:
            test_x, test_y = test_x.astype(np.float32), test_y.astype(np.float32)
    rng = np.random.default_rng(spec["seed"])
    net = cnnsetup({"layers": spec["layers"]}, x, y, rng=rng)
    opts = {"alpha": spec["alpha"], "batchsize": spec["batchsize"], "numepochs": 1}
    if spec.get("warmup"):          # two batches on a throw-away copy (cnntrain copies)
        warm = 2 * spec["batchsize"]
        cnntrain(net, x[:, :, :warm], y[:, :warm], opts, rng=0)
    with Clock() as clock:
        net = cnntrain(net, x, y, opts, rng=rng)
    result = {"train_seconds": clock.wall, "train_cpu_seconds": clock.cpu}
    if test_x is not None:
        start = time.perf_counter()
        er, _ = cnntest(net, test_x, test_y)
        result.update(test_seconds=time.perf_counter() - start, test_error=float(er))
    return result


def run_literal(spec):
    """The package's literal transcription (``cnntoolbox.literal``), looped like ``cnntrain.m``."""
    import cnntoolbox
    from cnntoolbox import literal
    setup = getattr(literal, "cnnsetup", cnntoolbox.cnnsetup)
    x, y, _, _ = load(spec)
    rng = np.random.default_rng(spec["seed"])
    net = setup({"layers": spec["layers"]}, x, y, rng=rng)
    opts = {"alpha": spec["alpha"], "batchsize": spec["batchsize"], "numepochs": 1}
    m, bs = x.shape[2], spec["batchsize"]
    with Clock() as clock:
        kk = rng.permutation(m)
        for first in range(0, m, bs):
            idx = kk[first:first + bs]
            net = literal.cnnff(net, x[:, :, idx])
            net = literal.cnnbp(net, y[:, idx])
            net = literal.cnnapplygrads(net, opts)
    return {"train_seconds": clock.wall, "train_cpu_seconds": clock.cpu}


def run_torch(spec):
    """The PyTorch peer (bench/torch_peer.py) in ``spec["dtype"]``."""
    import torch
    import torch_peer
    torch.set_num_threads(spec["threads"])
    dtype = getattr(torch, spec["dtype"])
    x, y, test_x, test_y = load(spec)
    xt, yt = torch_peer.x_to_torch(x, dtype), torch_peer.y_to_torch(y, dtype)
    del x, y
    gen = torch.Generator().manual_seed(spec["seed"])
    params = torch_peer.init_params(spec["layers"], tuple(xt.shape[2:]), yt.shape[1], gen, dtype)
    if spec.get("warmup"):          # two batches on a throw-away copy of the weights
        warm = 2 * spec["batchsize"]
        copy = {key: [p.detach().clone() for p in value] if isinstance(value, list)
                else value.detach().clone() for key, value in params.items()}
        torch_peer.train_epoch(torch_peer.require_grad(copy), spec["layers"], xt[:warm],
                               yt[:warm], spec["alpha"], spec["batchsize"])
    with Clock() as clock:
        torch_peer.train_epoch(params, spec["layers"], xt, yt, spec["alpha"], spec["batchsize"],
                               generator=gen)
    result = {"train_seconds": clock.wall, "train_cpu_seconds": clock.cpu,
              "torch_backend": (f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
                                f"MKL {torch.backends.mkl.is_available()}, "
                                f"oneDNN {torch.backends.mkldnn.is_available()}")}
    if test_x is not None:
        tx, ty = torch_peer.x_to_torch(test_x, dtype), torch_peer.y_to_torch(test_y, dtype)
        start = time.perf_counter()
        er = torch_peer.predict_error(params, spec["layers"], tx, ty)
        result.update(test_seconds=time.perf_counter() - start, test_error=er)
    return result


OCTAVE_SCRIPT = """\
addpath(fullfile('{toolbox}', 'util'));
addpath(fullfile('{toolbox}', 'CNN'));
load('{data}');
rand('state', {seed});
cnn.layers = {{{layers}}};
opts.alpha = {alpha}; opts.batchsize = {batchsize}; opts.numepochs = 1;
cnn = cnnsetup(cnn, x, y);
t0 = tic; c0 = cputime();
cnn = cnntrain(cnn, x, y, opts);
printf('BENCH_SECONDS %.6f %.6f\\n', toc(t0), cputime() - c0);
"""


def _octave_layer(layer):
    if layer["type"] == "c":
        return (f"struct('type', 'c', 'outputmaps', {layer['outputmaps']}, "
                f"'kernelsize', {layer['kernelsize']})")
    if layer["type"] == "s":
        return f"struct('type', 's', 'scale', {layer['scale']})"
    return "struct('type', 'i')"


def run_octave(spec):
    """The original toolbox under GNU Octave on the same samples.

    Octave's own ``tic``/``toc`` and ``cputime`` time ``cnntrain``; the peak memory is
    Octave's (``RUSAGE_CHILDREN``), not this Python process's.
    """
    import scipy.io
    toolbox = Path(spec["octave_toolbox"]).resolve()
    if not (toolbox / "CNN" / "cnntrain.m").is_file():
        raise FileNotFoundError(f"--octave-toolbox {toolbox}: no CNN/cnntrain.m in it")
    x, y, _, _ = load(spec)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.mat")
        scipy.io.savemat(data, {"x": x, "y": y})
        layers = "; ".join(_octave_layer(layer) for layer in spec["layers"])
        script = OCTAVE_SCRIPT.format(toolbox=toolbox, data=data, seed=spec["seed"],
                                      layers=layers, alpha=spec["alpha"],
                                      batchsize=spec["batchsize"])
        proc = subprocess.run(["octave", "-q", "--no-gui", "--no-window-system", "--eval", script],
                              capture_output=True, text=True, check=False)
    seconds = [line.split()[1:] for line in proc.stdout.splitlines()
               if line.startswith("BENCH_SECONDS")]
    if proc.returncode or not seconds:
        raise RuntimeError(f"octave failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"train_seconds": float(seconds[0][0]), "train_cpu_seconds": float(seconds[0][1]),
            "peak_kib": peak,
            "octave_version": _octave_version()}


def _octave_version():
    proc = subprocess.run(["octave", "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.splitlines()[0] if proc.stdout else "unknown"


RUNNERS = {"package": run_package, "literal": run_literal, "torch": run_torch,
           "octave": run_octave}


def run(spec):
    """Run one implementation; add the peak memory of this process unless it has its own."""
    result = RUNNERS[spec["impl"]](spec)
    result.setdefault("peak_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return result

