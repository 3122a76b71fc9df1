"""Checkpoints of ``cnntrain``: save after every epoch, resume with nothing lost.

A checkpoint is one ``.npz`` file (numpy's zip of ``.npy`` arrays, read with
``allow_pickle=False``, so loading it never runs code) holding

* every array of the net as training left it after the epoch (``k``, ``b``,
  ``ffW``, ``ffb``, the last batch's ``a``, ``d``, ``o``, ... and ``L``),
  named ``layers.<l>.<field>`` (0-based l) and ``net.<field>``;
* ``rL`` so far;
* with ``opts["momentum"]``, the velocities ``vk``, ``vb``, ``vffW``, ``vffb``
  (arrays of the net like the others);
* ``meta``: a JSON text with the number of epochs done, the opts (``alpha``,
  ``batchsize``; ``alphas``, the rate of every epoch, when they differ;
  ``momentum`` and ``weightPenaltyL2`` when they are used), the net's
  ``output`` when it is not the original's and its ``dropoutFraction`` when
  it has one, the layer specs, a fingerprint (BLAKE2b) and the shapes of
  ``x`` and ``y``, the state of the generator that draws the permutations
  (and the dropout masks) (``bit_generator.state``), and how training started: fingerprints of the
  initial weights and of the generator's state, and its seed.

Resuming from it continues exactly where the uninterrupted run would be:
the net, ``rL`` and the generator state are those after the last completed
epoch, so the result is bit-identical.  A checkpoint made for other data,
other rates for the epochs it holds, another ``batchsize``, ``momentum``
or ``weightPenaltyL2``, another architecture, other initial weights or (when the
caller gives ``rng``) another seed is refused.

Every save writes a temporary file in the checkpoint's folder, syncs it to
disk and renames it over the old checkpoint (``os.replace``); a crash or
``kill -9`` at any moment leaves either the old or the new checkpoint,
never a partial one.  Ctrl-C during a save is held back until the save is
complete.
"""

import errno
import hashlib
import json
import os
import tempfile
import zipfile

import numpy as np

from ..files import atomic
from ..netlayout import (DROPOUT, OUTPUT, OUTPUTS, PENALTY, SPEC_FIELDS, VELOCITY_FIELDS,
                         WEIGHT_FIELDS, check_dropout, format_layers)

FORMAT = "cnntoolbox checkpoint"
VERSION = 1
#: Bit generators a checkpoint may name (nothing else is looked up in numpy.random).
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
#: The first bytes of a zip archive (an .npz file), also of an empty one.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: Bytes of x or y hashed per step of the fingerprint.
_CHUNK = 2 ** 24


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: damaged, or made for other data, opts or net."""


class Checkpoint:
    """The checkpoint file of one ``cnntrain`` call.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file; its folder must exist and be writable.
    x : ndarray, shape (rows, cols, m)
    y : ndarray, shape (onum, m)
        The checked training data (only their fingerprint is kept).
    opts : (float or sequence of float, int, int)
        ``alpha`` (one rate, or the rate of each epoch), ``batchsize``,
        ``numepochs`` of the run.
    stacked : dict
        The net to train, in the stacked layout (its specs and a
        fingerprint of its initial weights are kept).
    rng : numpy.random.Generator, optional
        The generator of the permutations as training starts, when the
        caller chose it (a seed or a Generator) and draws from it: a
        checkpoint made from another generator state is refused, naming
        the seeds.
    momentum : float
        ``opts["momentum"]`` of the run (0: none, no velocities).
    penalty : float
        ``opts["weightPenaltyL2"]`` of the run (0: none).

    Raises
    ------
    TypeError
        ``path`` is not a path.
    FileNotFoundError, PermissionError
        The folder does not exist or no file can be created in it.
    CheckpointError
        ``path`` is a folder.
    """

    def __init__(self, path, x, y, opts, stacked, rng=None, momentum=0.0, penalty=0.0):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"checkpoint must be a file path, got {type(path).__name__}")
        self.path = os.fspath(path)
        _check_writable(self.path)
        alpha, batchsize, self.numepochs = opts
        alphas = [float(a) for a in np.ravel(alpha)]
        self.opts = {"alpha": alphas[0], "batchsize": batchsize}
        if len(set(alphas)) > 1:
            self.opts["alphas"] = alphas
        if momentum:
            self.opts["momentum"] = momentum
        if penalty:
            self.opts[PENALTY] = penalty
        self.layers = [{key: layer[key] for key in SPEC_FIELDS if key in layer}
                       for layer in stacked["layers"]]
        self.output = stacked.get(OUTPUT, OUTPUTS[0])
        self.dropout = check_dropout(stacked)
        self.data = {"fingerprint": data_fingerprint(x, y),
                     "x": list(x.shape), "y": list(y.shape)}
        self.start = {"weights": _fingerprint(_weights(stacked)),
                      "seed": None if rng is None else _seed_of(rng),
                      "generator": None if rng is None else _state_fingerprint(rng)}

    def resume(self, stacked, rng):
        """Load the checkpoint, if the file exists, into ``stacked`` and ``rng``.

        Parameters
        ----------
        stacked : dict
            The net in the stacked layout; its arrays are replaced in place
            by the checkpoint's.
        rng : numpy.random.Generator
            The generator of the permutations; its state is set to the
            checkpoint's (a new generator is made if its kind differs).

        Returns
        -------
        epochs : int
            Epochs already done (0 without a checkpoint file).
        rL : list of float
            The running loss so far.
        rng : numpy.random.Generator
            The generator to draw the next permutations from.
        """
        if not os.path.exists(self.path):
            return 0, [], rng
        saved = load_checkpoint(self.path)
        self._check_match(saved)
        _restore_arrays(stacked, saved["arrays"], self.path, "momentum" in self.opts)
        state = saved["rng"]
        if type(rng.bit_generator).__name__ != state["bit_generator"]:
            rng = np.random.Generator(getattr(np.random, state["bit_generator"])())
        try:
            rng.bit_generator.state = state
        except (TypeError, ValueError, KeyError) as error:
            raise CheckpointError(f"checkpoint {self.path} holds a damaged generator state "
                                  f"({error})") from None
        return saved["epochs"], [float(v) for v in saved["rL"]], rng

    def save(self, stacked, epochs, rL, rng):
        """Write the state after ``epochs`` completed epochs, atomically."""
        meta = {"format": FORMAT, "version": VERSION, "epochs": epochs,
                "numepochs": self.numepochs, "opts": self.opts, "layers": self.layers,
                "data": self.data, "start": self.start, "rng": rng.bit_generator.state}
        if self.output != OUTPUTS[0]:
            meta[OUTPUT] = self.output
        if self.dropout:
            meta[DROPOUT] = self.dropout
        arrays = _net_arrays(stacked)
        arrays["rL"] = np.array(rL, dtype=np.float64)
        write_atomic(self.path, meta, arrays)

    def _check_match(self, saved):
        """Refuse a checkpoint made for other data, opts or architecture."""
        where = f"checkpoint {self.path}"
        if saved["data"] != self.data:
            raise CheckpointError(
                f"{where} was made for other training data (x {tuple(saved['data']['x'])}, "
                f"y {tuple(saved['data']['y'])}, fingerprint {saved['data']['fingerprint']}), "
                f"not this x {tuple(self.data['x'])}, y {tuple(self.data['y'])} (fingerprint "
                f"{self.data['fingerprint']}); use another checkpoint path or delete it")
        for field in ("batchsize", "momentum", PENALTY):
            value, was = self.opts.get(field, 0.0), saved["opts"].get(field, 0.0)
            if was != value:
                raise CheckpointError(
                    f"{where} was made with opts['{field}'] = {was!r}, not "
                    f"{value!r}; resume with the same opts or use another checkpoint path")
        done = min(saved["epochs"], self.numepochs)
        saved_rates, given_rates = (_rates(opts, done) for opts in (saved["opts"], self.opts))
        plain = "alphas" not in saved["opts"] and "alphas" not in self.opts
        if saved_rates != given_rates and plain:
            raise CheckpointError(
                f"{where} was made with opts['alpha'] = {saved['opts']['alpha']!r}, not "
                f"{self.opts['alpha']!r}; resume with the same opts or use another checkpoint path")
        if saved_rates != given_rates:
            raise CheckpointError(
                f"{where} was made with the learning rates {saved_rates!r} for its {done} epochs, "
                f"not {given_rates!r} (opts['alpha'], opts['alpha_decay']); resume with the same "
                f"opts or use another checkpoint path")
        if saved[OUTPUT] != self.output:
            raise CheckpointError(
                f"{where} was made for a net with net['{OUTPUT}'] = {saved[OUTPUT]!r}, not "
                f"{self.output!r}; use another checkpoint path")
        if saved[DROPOUT] != self.dropout:
            raise CheckpointError(
                f"{where} was made for a net with net['{DROPOUT}'] = {saved[DROPOUT]!r}, not "
                f"{self.dropout!r}; use another checkpoint path")
        if saved["layers"] != self.layers:
            raise CheckpointError(
                f"{where} was made for the net {format_layers(saved['layers'], with_input=True)}, not "
                f"{format_layers(self.layers, with_input=True)}; use another checkpoint path")
        start = saved["start"]
        if start is not None:                   # checkpoints written before it was kept lack it
            if None not in (start["generator"], self.start["generator"]) \
                    and start["generator"] != self.start["generator"]:
                made, given = _seed_text(start["seed"]), _seed_text(self.start["seed"])
                if made == given:
                    made += " in another state"
                raise CheckpointError(
                    f"{where} was made with {made}, not {given}; resume with the same seed "
                    f"(--seed, rng) or use another checkpoint path")
            if start["weights"] != self.start["weights"]:
                raise CheckpointError(
                    f"{where} was made from other initial weights (another seed of cnnsetup, "
                    f"or another net); resume from the same net or use another checkpoint path")
        if saved["epochs"] > self.numepochs:
            raise CheckpointError(
                f"{where} holds {saved['epochs']} epochs, more than opts['numepochs'] = "
                f"{self.numepochs}")


def _rates(opts, epochs):
    """The learning rates of the first ``epochs`` epochs of a checkpoint's opts."""
    return opts["alphas"][:epochs] if "alphas" in opts else [opts["alpha"]] * epochs


def load_checkpoint(path):
    """Read and check a checkpoint file (never unpickles anything).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        ``epochs``, ``numepochs``, ``opts``, ``layers``, ``data``, ``rng``
        (as in the module docstring), ``rL`` (1-D array) and ``arrays``
        (name -> array of the net).

    Raises
    ------
    FileNotFoundError
        There is no file at ``path``.
    CheckpointError
        The file is not a complete checkpoint of this format.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with open(path, "rb") as fileobj:
            if fileobj.read(4) not in ZIP_MAGIC:
                raise ValueError("not a zip archive of arrays")
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not a checkpoint")
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(str(arrays.pop("meta")[()]))
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError(f"format {meta.get('format')!r} version {meta.get('version')!r}, "
                             f"expected {FORMAT!r} version {VERSION}")
        saved = {field: meta[field] for field in
                 ("epochs", "numepochs", "opts", "layers", "data", "rng")}
        saved["start"] = meta.get("start")
        saved[OUTPUT] = meta.get(OUTPUT, OUTPUTS[0])
        saved[DROPOUT] = meta.get(DROPOUT, 0.0)
        saved["rL"] = arrays.pop("rL")
        if not isinstance(saved["epochs"], int) or saved["epochs"] < 1:
            raise ValueError(f"epochs {saved['epochs']!r}")
        if saved["rng"]["bit_generator"] not in BIT_GENERATORS:
            raise ValueError(f"unknown bit generator {saved['rng']['bit_generator']!r}")
        if not ({"alpha", "batchsize"} <= set(saved["opts"])
                and {"fingerprint", "x", "y"} <= set(saved["data"])):
            raise ValueError("opts or data fields missing")
        opts = saved["opts"]
        if not all(isinstance(value, (int, float)) and not isinstance(value, bool)
                   for value in [opts.get("momentum", 0.0), opts.get(PENALTY, 0.0),
                                 saved[DROPOUT], *opts.get("alphas", [])]) \
                or not isinstance(opts.get("alphas", []), list):
            raise ValueError(f"opts 'alphas', 'momentum' or '{PENALTY}', or '{DROPOUT}' "
                             f"not numbers")
        if saved["rL"].ndim != 1 or "net.L" in arrays and arrays["net.L"].shape != ():
            raise ValueError("rL or L of a wrong shape")
        start = saved["start"]
        if start is not None and not (
                isinstance(start, dict) and isinstance(start.get("weights"), str)
                and isinstance(start.get("generator"), (str, type(None)))
                and isinstance(start.get("seed"), (int, type(None)))):
            raise ValueError(f"start {start!r}")
    except (OSError, EOFError, KeyError, TypeError, ValueError, AttributeError,
            zipfile.BadZipFile) as error:
        detail = f"{type(error).__name__}: {error}"
        if "allow_pickle" in detail:            # numpy's advice to unpickle: never taken here
            detail = "it holds pickled Python objects, which are never loaded"
        raise CheckpointError(f"checkpoint {path} is damaged or not a cnntoolbox checkpoint "
                              f"({detail})") from None
    saved["arrays"] = arrays
    return saved


def interrupted_message(path):
    """One line on what an interrupted run left in the checkpoint ``path`` (for the CLI).

    Returns
    -------
    str
        E.g. ``"epoch 3 of 5 is saved in ck.npz"``, or that nothing was saved.
    """
    try:
        saved = load_checkpoint(path)
    except FileNotFoundError:
        return f"no epoch was completed, nothing is saved in {os.fspath(path)}"
    except CheckpointError as error:
        return str(error)
    return f"epoch {saved['epochs']} of {saved['numepochs']} is saved in {os.fspath(path)}"


def data_fingerprint(x, y):
    """BLAKE2b (128 bits, hex) of the shapes and float64 values of ``x`` and ``y``."""
    return _fingerprint((x, y))


def _fingerprint(arrays):
    """BLAKE2b (128 bits, hex) of the shapes and float64 values of the arrays."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        digest.update(repr(array.shape).encode())
        per_sample = max(1, array[..., :1].nbytes)
        step = max(1, _CHUNK // per_sample)
        for start in range(0, array.shape[-1], step):
            digest.update(np.ascontiguousarray(array[..., start:start + step], dtype=np.float64))
    return digest.hexdigest()


def write_atomic(path, meta, arrays):
    """Write ``meta`` (JSON) and ``arrays`` as an .npz to ``path`` through :func:`atomic.write`.

    The zip's table of contents is read back before the file replaces the
    old checkpoint; Ctrl-C is held back until the checkpoint is in place.
    """
    def verify(temp):
        try:
            with zipfile.ZipFile(temp) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile as error:
            raise OSError(errno.EIO, f"the checkpoint read back is damaged ({error})") from None
        if names != [f"{name}.npy" for name in ["meta", *arrays]]:
            raise OSError(errno.EIO, "the checkpoint read back lacks arrays")

    atomic.write(path, lambda fileobj: np.savez(fileobj, meta=np.array(json.dumps(meta)),
                                                **arrays), verify)


def _weights(stacked):
    """The weight arrays of a stacked net, in a fixed order."""
    arrays = [layer[field] for layer in stacked["layers"] for field in WEIGHT_FIELDS if field in layer]
    return arrays + [stacked[field] for field in WEIGHT_FIELDS if field in stacked]


def _seed_of(rng):
    """The integer seed a Generator was made from (``default_rng(seed)``), or None."""
    seed_seq = getattr(rng.bit_generator, "seed_seq", None)
    entropy = getattr(seed_seq, "entropy", None)
    if isinstance(entropy, int) and not getattr(seed_seq, "spawn_key", ()):
        return entropy
    return None


def _seed_text(seed):
    return "a random generator of unknown seed" if seed is None else f"the random generator of seed {seed}"


def _state_fingerprint(rng):
    """BLAKE2b (128 bits, hex) of a Generator's state (arrays in it as lists)."""
    text = json.dumps(rng.bit_generator.state, sort_keys=True,
                      default=lambda value: np.asarray(value).tolist())
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _net_arrays(stacked):
    """Every array of a stacked net (``rL`` left out), by name."""
    arrays = {}
    for index, layer in enumerate(stacked["layers"]):
        for field, value in layer.items():
            if isinstance(value, np.ndarray):
                arrays[f"layers.{index}.{field}"] = value
    for field, value in stacked.items():
        if isinstance(value, np.ndarray) and field != "rL":
            arrays[f"net.{field}"] = value
    if "L" in stacked:
        arrays["net.L"] = np.array(stacked["L"], dtype=np.float64)
    return arrays


def _restore_arrays(stacked, arrays, path, momentum=False):
    """Put a checkpoint's arrays into a stacked net, checking the weights' (and velocities') shapes."""
    layers = stacked["layers"]
    expected = {(index, field): layer[field].shape for index, layer in enumerate(layers)
                for field in WEIGHT_FIELDS if layer.get("type") in ("c", "f") and field in layer}
    expected.update({(None, field): stacked[field].shape for field in WEIGHT_FIELDS if field in stacked})
    if momentum:
        expected.update({(index, VELOCITY_FIELDS[field]): shape
                         for (index, field), shape in list(expected.items())})
    restored = {}
    for name, value in arrays.items():
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "layers" and parts[1].isdigit() \
                and int(parts[1]) < len(layers):
            restored[(int(parts[1]), parts[2])] = value
        elif len(parts) == 2 and parts[0] == "net":
            restored[(None, parts[1])] = value
        else:
            raise CheckpointError(f"checkpoint {path} holds an unknown array {name!r}")
    dtype = stacked["ffW"].dtype                   # the run's precision (netlayout.working_dtype)
    for key, shape in expected.items():
        if key not in restored or restored[key].shape != shape:
            where = "net" if key[0] is None else f"layers[{key[0]}]"
            raise CheckpointError(f"checkpoint {path}: {where} '{key[1]}' is missing or not of "
                                  f"shape {shape} like the net's")
    # every float array in the run's precision: weights, velocities, maps, deltas, gradients,
    # an 'f' layer's fields and the dropout masks (L is a float64 number of every run)
    for key, value in restored.items():
        if key != (None, "L") and value.dtype.kind == "f" and value.dtype != dtype:
            where = "net" if key[0] is None else f"layers[{key[0]}]"
            raise CheckpointError(f"checkpoint {path}: {where} '{key[1]}' is "
                                  f"{value.dtype}, but this run trains in {dtype} "
                                  f"(float32 if x, y or the net is)")
    for (index, field), value in restored.items():
        owner = stacked if index is None else layers[index]
        owner[field] = float(value) if (index, field) == (None, "L") else value


def _check_writable(path):
    """Fail before training if no checkpoint can be written at ``path``."""
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path} is a folder, not a file")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"checkpoint folder {folder} does not exist")
    try:
        handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                        suffix=".tmp")
    except OSError as error:
        raise type(error)(f"cannot write the checkpoint {path}: {error.strerror}") from None
    os.close(handle)
    os.unlink(temp)
