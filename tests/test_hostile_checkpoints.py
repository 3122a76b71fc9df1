"""Hostile checkpoints (valid zip CRCs): every field is checked before use, a CheckpointError names it (issue 18)."""

import io
import json
import zipfile

import numpy as np
import pytest

from cnntoolbox import cnnsetup, cnntrain
from cnntoolbox.training.checkpoint import CheckpointError, data_fingerprint, load_checkpoint

RNG = np.random.default_rng(0)
X, Y = RNG.random((8, 8, 4)), np.eye(2)[:, [0, 1, 0, 1]]
SPEC = {"layers": [{"type": "i"}, {"type": "c", "outputmaps": 2, "kernelsize": 3},
                   {"type": "s", "scale": 2}]}
OPTS = {"alpha": 1.0, "batchsize": 2, "numepochs": 1}


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """The .npy members (name -> bytes) of a real checkpoint after one epoch."""
    path = tmp_path_factory.mktemp("ck") / "ck.npz"
    cnntrain(cnnsetup(SPEC, X, Y, rng=np.random.default_rng(1)), X, Y, OPTS, verbose=False,
             checkpoint=path, rng=3)
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _meta(members):
    return json.loads(str(np.load(io.BytesIO(members["meta.npy"]))[()]))


def _write(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _with_meta(members, edit):
    meta = _meta(members)
    edit(meta)
    return {**members, "meta.npy": _npy(np.array(json.dumps(meta)))}


def _nested(meta):
    meta["opts"]["deep"] = "@"


def _set(*keys, value):
    def edit(meta):
        owner = meta
        for key in keys[:-1]:
            owner = owner[key]
        owner[keys[-1]] = value
    return edit


@pytest.mark.parametrize("edit, field", [
    (_set("rng", "state", "state", value=10 ** 60), r"meta\.rng: a damaged generator state"),
    (_set("rng", value={"bit_generator": "MT19937", "state": {"key": [1, 2], "pos": 0}}),
     r"meta\.rng: a damaged generator state"),
    (_set("rng", "bit_generator", value="__class__"), r"meta\.rng: unknown bit generator"),
    (_set("data", value=["x"]), r"meta\.data: not a fingerprint"),
    (_set("layers", value=5), r"meta\.layers: not a list of layer specs"),
    (_set("layers", value=[{"type": "c", "kernelsize": [3]}]), r"meta\.layers"),
    (_set("epochs", value=True), r"meta\.epochs: True"),
    (_set("opts", "batchsize", value="2"), r"meta\.opts: no number 'alpha' and count 'batchsize'"),
    (_set("opts", "alphas", value=[1.0, "x"]), r"meta\.opts: 'alphas', 'momentum' or 'weightPenaltyL2'"),
    (_set("opts", "weightPenaltyL2", value="1e-3"), r"meta\.opts: 'alphas', 'momentum' or 'weightPenaltyL2'"),
    (_set("dropoutFraction", value=1.5), r"meta\.dropoutFraction: 1\.5, not a fraction"),
    (_set("dropoutFraction", value=[0.5]), r"meta\.dropoutFraction"),
    (_set("start", value=[1]), r"meta\.start"),
])
def test_a_damaged_meta_field_is_named(members, edit, field, tmp_path):
    path = _write(tmp_path / "ck.npz", _with_meta(members, edit))
    with pytest.raises(CheckpointError, match=f"ck.npz is damaged .*{field}"):
        load_checkpoint(path)


def test_meta_json_nested_100000_deep_is_refused(members, tmp_path):
    meta = json.dumps(_meta(members)).replace('"alpha"', '"deep": ' + "[" * 100_000 + "]" * 100_000
                                              + ', "alpha"', 1)
    path = _write(tmp_path / "ck.npz", {**members, "meta.npy": _npy(np.array(meta))})
    with pytest.raises(CheckpointError, match=r"ck.npz is damaged .*meta: JSON nested too deeply"):
        load_checkpoint(path)


def test_an_npy_member_declaring_2e40_doubles_is_refused_before_allocation(members, tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (2 ** 40,)})
    name = next(name for name in members if name.startswith("net.ffW"))
    path = _write(tmp_path / "ck.npz", {**members, name: header.getvalue() + bytes(8)})
    with pytest.raises(CheckpointError, match=r"net\.ffW: declares \(1099511627776,\) values of "
                                              r"float64, the file stores 8 bytes"):
        load_checkpoint(path)


@pytest.mark.parametrize("array", [np.zeros((2, 2), np.float16), np.array(["abcde"] * 4),
                                   np.zeros(4, ">f8"), np.zeros(4, np.int64)])
def test_an_array_of_another_dtype_is_refused(members, array, tmp_path):
    name = next(name for name in members if name.startswith("net.ffW"))
    path = _write(tmp_path / "ck.npz", {**members, name: _npy(array)})
    with pytest.raises(CheckpointError,
                       match=rf"net\.ffW: an array of {array.dtype}, not float64 or float32"):
        load_checkpoint(path)


def test_a_zip_bomb_is_refused_before_inflating(members, tmp_path):
    bomb = dict(members)
    bomb["net.ffW.npy"] = _npy(np.zeros(2 ** 24))       # 128 MiB of zeros, deflated to ~130 KB
    path = _write(tmp_path / "ck.npz", bomb, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 2 ** 20
    with pytest.raises(CheckpointError, match=r"a compressed member \(np.savez stores them"):
        load_checkpoint(path)


def test_resuming_from_a_hostile_checkpoint_is_a_checkpoint_error(members, tmp_path):
    path = _write(tmp_path / "ck.npz", _with_meta(members, _set("data", value=["x"])))
    with pytest.raises(CheckpointError, match=r"meta\.data"):
        cnntrain(cnnsetup(SPEC, X, Y, rng=np.random.default_rng(1)), X, Y,
                 {**OPTS, "numepochs": 2}, verbose=False, checkpoint=path, rng=3)


def test_the_data_fingerprint_tells_precisions_apart():
    assert data_fingerprint(X.astype(np.float32), Y) != data_fingerprint(X, Y)
    assert data_fingerprint(X, Y.astype(np.float32)) != data_fingerprint(X, Y)
    assert data_fingerprint(X.copy(), Y.copy()) == data_fingerprint(X, Y)


def test_an_honest_checkpoint_still_loads(members, tmp_path):
    saved = load_checkpoint(_write(tmp_path / "ck.npz", members))
    assert saved["epochs"] == 1 and saved["rng"]["bit_generator"] == "PCG64"
    assert all(array.dtype == np.float64 for array in saved["arrays"].values())
