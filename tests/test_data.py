"""The bundled MNIST files and their loader (issue 4).

Expected values are the published facts of MNIST (data/README.md), not
values the loader produced.
"""

import gzip
import hashlib
import shutil

import numpy as np
import pytest
import scipy.io

from cnntoolbox.datasets.mnist import DEFAULT_DATA_DIR, CorruptDataError, load_mnist, write_mnist_mat

# The published MD5 sums of the four original (decompressed) MNIST files.
PUBLISHED_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
LABEL_FILE = "train-labels-idx1-ubyte.gz"


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.fixture
def data_copy(tmp_path):
    """A private copy of the data folder that a test may damage."""
    for name in PUBLISHED_MD5:
        shutil.copy(DEFAULT_DATA_DIR / (name + ".gz"), tmp_path)
    return tmp_path


def test_bundled_files_have_the_published_md5():
    for name, md5 in PUBLISHED_MD5.items():
        with gzip.open(DEFAULT_DATA_DIR / (name + ".gz")) as f:
            assert hashlib.md5(f.read()).hexdigest() == md5, name


def test_shapes_and_dtypes(mnist):
    assert sorted(mnist) == ["test_x", "test_y", "train_x", "train_y"]
    assert mnist["train_x"].shape == (60000, 784)
    assert mnist["train_y"].shape == (60000, 10)
    assert mnist["test_x"].shape == (10000, 784)
    assert mnist["test_y"].shape == (10000, 10)
    for value in mnist.values():
        assert value.dtype == np.uint8


def test_labels_are_one_hot_with_the_known_first_labels(mnist):
    for key in ("train_y", "test_y"):
        assert set(np.unique(mnist[key])) == {0, 1}
        assert np.all(mnist[key].sum(axis=1) == 1)
    assert list(mnist["train_y"][:10].argmax(axis=1)) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(mnist["test_y"][:10].argmax(axis=1)) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert list(mnist["train_y"].sum(axis=0)) == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_rows_are_the_idx_bytes_in_file_order(mnist):
    assert int(mnist["train_x"][0].sum(dtype=np.int64)) == 27525
    with gzip.open(DEFAULT_DATA_DIR / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read()
    last = np.frombuffer(raw[-784:], dtype=np.uint8)
    assert np.array_equal(mnist["test_x"][-1], last)
    first = np.frombuffer(raw[16:16 + 784], dtype=np.uint8)
    assert np.array_equal(mnist["test_x"][0], first)


def test_missing_file_is_named(data_copy):
    (data_copy / LABEL_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=LABEL_FILE):
        load_mnist(data_copy)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images"):
        load_mnist(tmp_path / "nowhere")


def test_flipped_compressed_byte_is_rejected(data_copy):
    path = data_copy / LABEL_FILE
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptDataError, match=LABEL_FILE):
        load_mnist(data_copy)


def test_flipped_content_byte_fails_the_md5(data_copy):
    path = data_copy / LABEL_FILE
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] = (raw[100] + 1) % 10          # still a valid label
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(CorruptDataError, match=f"{LABEL_FILE}.*MD5"):
        load_mnist(data_copy)


def test_truncated_gzip_is_rejected(data_copy):
    path = data_copy / LABEL_FILE
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptDataError, match=LABEL_FILE):
        load_mnist(data_copy)


def test_corrupt_data_error_is_a_value_error():
    assert issubclass(CorruptDataError, ValueError)


def test_wrong_idx_header_is_rejected(data_copy, monkeypatch):
    # A file whose MD5 is accepted but whose header announces other dimensions.
    import cnntoolbox.datasets.mnist as data

    path = data_copy / LABEL_FILE
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[4:8] = (59999).to_bytes(4, "big")
    path.write_bytes(gzip.compress(bytes(raw)))
    files = dict(data.IDX_FILES)
    _, magic, dims = files[LABEL_FILE]
    files[LABEL_FILE] = (hashlib.md5(raw).hexdigest(), magic, dims)
    monkeypatch.setattr(data, "IDX_FILES", files)
    with pytest.raises(CorruptDataError, match=f"{LABEL_FILE}.*header"):
        load_mnist(data_copy)


def test_write_mnist_mat(mnist, tmp_path):
    target = tmp_path / "mnist_uint8.mat"
    assert write_mnist_mat(target) == target
    assert [p.name for p in tmp_path.iterdir()] == ["mnist_uint8.mat"]
    saved = scipy.io.loadmat(target)
    for key, value in mnist.items():
        assert saved[key].dtype == np.uint8
        assert np.array_equal(saved[key], value), key


def test_write_mnist_mat_into_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        write_mnist_mat(tmp_path / "nowhere" / "mnist_uint8.mat")
    assert not (tmp_path / "nowhere").exists()
