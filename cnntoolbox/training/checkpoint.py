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
import math
import os
import zipfile

import numpy as np

from ..files import atomic
from ..netlayout import (DROPOUT, OUTPUT, OUTPUTS, PENALTY, SPEC_FIELDS, VELOCITY_FIELDS,
                         WEIGHT_FIELDS, check_dropout, format_layers)

FORMAT = "cnntoolbox checkpoint"
VERSION = 1
#: Bit generators a checkpoint may name (nothing else is looked up in numpy.random).
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
#: The dtypes a checkpoint's arrays may have: the two precisions a run trains in (float64, or
#: float32 when x, y or the net is); ``_restore_arrays`` then requires the run's own.
ARRAY_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
#: Most members of a checkpoint, and most characters of its meta JSON (a net has a few dozen
#: arrays and a meta of a few thousand characters).
_MAX_MEMBERS = 10_000
_MAX_META = 2 ** 20
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
                f"{self.data['fingerprint']}: it covers the values and their precision, float32 "
                f"or float64); use another checkpoint path or delete it")
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
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        if not os.path.isfile(path):
            raise ValueError("not a regular file")
        with open(path, "rb") as fileobj:
            if fileobj.read(4) not in ZIP_MAGIC:
                raise ValueError("not a zip archive of arrays")
        arrays = _read_archive(path)
        if "meta" not in arrays or "rL" not in arrays:
            raise ValueError("no meta or rL array")
        meta = _read_meta(arrays.pop("meta"))
        saved = {field: meta[field] for field in
                 ("epochs", "numepochs", "opts", "layers", "data", "rng")}
        saved["start"] = meta.get("start")
        saved[OUTPUT] = meta.get(OUTPUT, OUTPUTS[0])
        saved[DROPOUT] = meta.get(DROPOUT, 0.0)
        saved["rL"] = arrays.pop("rL")
        if saved["rL"].ndim != 1 or "net.L" in arrays and arrays["net.L"].shape != ():
            raise ValueError("rL or L of a wrong shape")
    except (OSError, EOFError, KeyError, TypeError, ValueError, AttributeError, RecursionError,
            zipfile.BadZipFile) as error:
        detail = f"{type(error).__name__}: {error}"
        if "allow_pickle" in detail:            # numpy's advice to unpickle: never taken here
            detail = "it holds pickled Python objects, which are never loaded"
        raise CheckpointError(f"checkpoint {path} is damaged or not a cnntoolbox checkpoint "
                              f"({detail})") from None
    saved["arrays"] = arrays
    return saved


def _read_archive(path):
    """Name -> array of the .npz at ``path``, every size checked before anything is allocated.

    Members must be stored, not compressed (``np.savez`` writes them so):
    their declared sizes then add up to at most the file's size, so no
    member can inflate (a zip bomb is refused before a byte is inflated).
    Each .npy header is read first: no Python objects, a dtype of
    ``ARRAY_DTYPES`` (``meta``: text), and exactly the bytes its shape needs.
    """
    size = os.path.getsize(path)
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if len(infos) > _MAX_MEMBERS:
            raise ValueError(f"{len(infos)} members (a net has a few dozen arrays)")
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                raise ValueError(f"{info.filename}: a compressed member (np.savez stores them; "
                                 "a compressed one could be a zip bomb)")
        if sum(info.file_size for info in infos) > size:
            raise ValueError("its members declare more bytes than the file holds")
        for info in infos:
            name = info.filename[:-4] if info.filename.endswith(".npy") else None
            if not name or name in arrays:
                raise ValueError(f"a member {info.filename!r} that np.savez never writes")
            with archive.open(info) as member:
                arrays[name] = _read_npy(member, info.file_size, name)
    return arrays


def _read_npy(member, nbytes, name):
    """The array of the .npy member ``member`` (``nbytes`` long), its header checked first."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise ValueError(f"{name}: .npy format version {version}")
    if dtype.hasobject:
        raise ValueError("it holds pickled Python objects, which are never loaded")
    if name == "meta":
        if dtype.kind != "U" or shape != ():
            raise ValueError(f"meta: a {dtype} array of shape {shape}, not text")
    else:
        _check_dtype(name, dtype)
    if len(shape) > 8 or math.prod(shape) * dtype.itemsize != nbytes - member.tell():
        raise ValueError(f"{name}: declares {shape} values of {dtype}, the file stores "
                         f"{nbytes - member.tell()} bytes")
    out = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    flat = (out.T if fortran else out).reshape(-1).view(np.uint8)
    if flat.size and member.readinto(flat) != flat.size:
        raise ValueError(f"{name}: cut short")
    return out


def _check_dtype(name, dtype):
    """Refuse an array ``name`` whose dtype is neither precision (``ARRAY_DTYPES``)."""
    if dtype not in ARRAY_DTYPES:
        raise ValueError(f"{name}: an array of {dtype}, not "
                         f"{' or '.join(str(kind) for kind in ARRAY_DTYPES)}")


def _read_meta(text):
    """The checked ``meta`` dict of a checkpoint from its JSON text; a ValueError names the field."""
    text = str(text[()])
    if len(text) > _MAX_META:
        raise ValueError(f"meta: {len(text)} characters of JSON (a checkpoint's are a few thousand)")
    try:
        meta = json.loads(text)
    except RecursionError:
        raise ValueError("meta: JSON nested too deeply") from None
    if not isinstance(meta, dict):
        raise ValueError("meta: not a JSON object")
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"format {meta.get('format')!r} version {meta.get('version')!r}, "
                         f"expected {FORMAT!r} version {VERSION}")
    for field in ("epochs", "numepochs"):
        if not _is_int(meta.get(field)) or meta[field] < 1:
            raise ValueError(f"meta.{field}: {meta.get(field)!r}, not a count of epochs")
    opts = meta.get("opts")
    if not (isinstance(opts, dict) and _is_number(opts.get("alpha"))
            and _is_int(opts.get("batchsize")) and opts["batchsize"] >= 1):
        raise ValueError("meta.opts: no number 'alpha' and count 'batchsize'")
    if not (isinstance(opts.get("alphas", []), list)
            and all(_is_number(value) for value in opts.get("alphas", []))
            and _is_number(opts.get("momentum", 0.0)) and _is_number(opts.get(PENALTY, 0.0))):
        raise ValueError(f"meta.opts: 'alphas', 'momentum' or '{PENALTY}' not numbers")
    layers = meta.get("layers")
    if not (isinstance(layers, list) and all(
            isinstance(layer, dict) and set(layer) <= set(SPEC_FIELDS)
            and all(isinstance(value, str) or _is_int(value) for value in layer.values())
            for layer in layers)):
        raise ValueError("meta.layers: not a list of layer specs")
    data = meta.get("data")
    if not (isinstance(data, dict) and isinstance(data.get("fingerprint"), str)
            and all(isinstance(data.get(key), list) and len(data[key]) <= 8
                    and all(_is_int(n) and n >= 0 for n in data[key]) for key in ("x", "y"))):
        raise ValueError("meta.data: not a fingerprint and the shapes of x and y")
    if not (_is_number(meta.get(DROPOUT, 0.0)) and 0 <= meta.get(DROPOUT, 0.0) < 1):
        raise ValueError(f"meta.{DROPOUT}: {meta.get(DROPOUT)!r}, not a fraction in [0, 1)")
    if meta.get(OUTPUT, OUTPUTS[0]) not in OUTPUTS:
        raise ValueError(f"meta.{OUTPUT}: {meta.get(OUTPUT)!r}, not one of {OUTPUTS}")
    start = meta.get("start")
    if start is not None and not (
            isinstance(start, dict) and isinstance(start.get("weights"), str)
            and isinstance(start.get("generator"), (str, type(None)))
            and (start.get("seed") is None or _is_int(start.get("seed")))):
        raise ValueError(f"meta.start: {start!r}")
    _check_generator_state(meta.get("rng"))
    return meta


def _check_generator_state(state):
    """Refuse a generator state that numpy would not take (set on a new generator of its kind)."""
    if not isinstance(state, dict) or state.get("bit_generator") not in BIT_GENERATORS:
        kind = state.get("bit_generator") if isinstance(state, dict) else state
        raise ValueError(f"meta.rng: unknown bit generator {kind!r}")
    try:
        getattr(np.random, state["bit_generator"])().state = state
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as error:
        raise ValueError(f"meta.rng: a damaged generator state ({type(error).__name__}: "
                         f"{error})") from None


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


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
    """BLAKE2b (128 bits, hex) of the shapes, precisions and values of ``x`` and ``y``."""
    return _fingerprint((x, y))


def _fingerprint(arrays):
    """BLAKE2b (128 bits, hex) of the shapes, precisions and float64 values of the arrays.

    The precision enters as the dtype's name for any array not of float64
    (float64 arrays hash as they always did, so older checkpoints still match).
    """
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        digest.update(repr(array.shape).encode())
        if array.dtype != np.float64:
            digest.update(array.dtype.str.encode())
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
            raise CheckpointError(f"checkpoint {path}: {_owner(key)} '{key[1]}' is missing or "
                                  f"not of shape {shape} like the net's")
    # every float array in the run's precision: weights, velocities, maps, deltas, gradients,
    # an 'f' layer's fields and the dropout masks (L is a float64 number of every run)
    for key, value in restored.items():
        if key != (None, "L") and value.dtype.kind == "f" and value.dtype != dtype:
            raise CheckpointError(f"checkpoint {path}: {_owner(key)} '{key[1]}' is "
                                  f"{value.dtype}, but this run trains in {dtype} "
                                  f"(float32 if x, y or the net is)")
    for (index, field), value in restored.items():
        owner = stacked if index is None else layers[index]
        owner[field] = float(value) if (index, field) == (None, "L") else value


def _owner(key):
    """'net' or 'layers[l]': where the array of ``key`` (layer index or None, field) belongs."""
    return "net" if key[0] is None else f"layers[{key[0]}]"


def _check_writable(path):
    """Fail before training if no checkpoint can be written at ``path`` (the writer's own probe)."""
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path} is a folder, not a file")
    target = os.path.realpath(path)
    if not os.path.isdir(os.path.dirname(target)):
        link = f" ({path} is a link to {target})" if os.path.islink(path) else ""
        raise FileNotFoundError(f"checkpoint folder {os.path.dirname(target)} does not "
                                f"exist{link}")
    atomic.probe(path, "the checkpoint ")
