"""The data loaders: offline on small IDX files written here, then on the real data.

The real-data tests read ``$COMPARE_DATA_DIR`` (CI sets it to ``../shared/data``); they run
wherever it is set and are skipped only where it is not.
"""

import os
import stat
import struct

import numpy as np
import pytest

from compare.lab import data as data_module
from compare.lab.data import (
    N_TRAIN,
    RAW_FILES,
    DataMissingError,
    load_circles,
    load_dataset,
    load_image_dataset,
    make_circles,
    read_circles_file,
    resolve_data_dir,
)

REAL_DATA_DIR = os.environ.get("COMPARE_DATA_DIR")
needs_real_data = pytest.mark.skipif(not REAL_DATA_DIR, reason="COMPARE_DATA_DIR is not set")

N_VALID_SMALL, N_TEST_SMALL, ROWS, COLS = 7, 5, 2, 3


def write_idx_images(path, images: np.ndarray):
    """IDX3: magic 0x00000803 (unsigned byte, 3 dims), the dims big-endian, then the pixels."""
    n, rows, cols = images.shape
    path.write_bytes(struct.pack(">IIII", 0x803, n, rows, cols) + images.astype(np.uint8).tobytes())


def write_idx_labels(path, labels: np.ndarray):
    """IDX1: magic 0x00000801, the count, then one byte per label."""
    path.write_bytes(struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes())


def write_small_set(root, folder="MNIST", seed=0):
    """A tiny set in torchvision's layout: N_TRAIN + 7 training images of 2×3 pixels, 5 test."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    n_train = N_TRAIN + N_VALID_SMALL
    train_images = rng.integers(0, 256, size=(n_train, ROWS, COLS))
    train_images[0] = [[0, 255, 1], [2, 3, 4]]  # known pixels for the scaling check
    train_labels = np.arange(n_train) % 10
    test_images = rng.integers(0, 256, size=(N_TEST_SMALL, ROWS, COLS))
    test_labels = np.array([3, 1, 4, 1, 5])
    write_idx_images(raw / "train-images-idx3-ubyte", train_images)
    write_idx_labels(raw / "train-labels-idx1-ubyte", train_labels)
    write_idx_images(raw / "t10k-images-idx3-ubyte", test_images)
    write_idx_labels(raw / "t10k-labels-idx1-ubyte", test_labels)
    return train_images, train_labels, test_images, test_labels


def make_read_only(folder):
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --------------------------------------------------------------------------- offline, small files
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_idx_files_load_with_the_course_split(tmp_path, dtype):
    train_images, train_labels, test_images, test_labels = write_small_set(tmp_path)
    data = load_image_dataset("mnist", tmp_path, dtype=dtype, download=False)

    assert data.train.X.shape == (N_TRAIN, ROWS * COLS) and data.train.X.dtype == dtype
    assert data.valid.X.shape == (N_VALID_SMALL, ROWS * COLS) and data.valid.X.dtype == dtype
    assert data.test.X.shape == (N_TEST_SMALL, ROWS * COLS) and data.test.X.dtype == dtype
    # first 50,000 train, the rest validate, in file order
    np.testing.assert_array_equal(data.train.y, train_labels[:N_TRAIN])
    np.testing.assert_array_equal(data.valid.y, train_labels[N_TRAIN:])
    np.testing.assert_array_equal(data.test.y, test_labels)
    assert data.train.y.dtype == np.int64
    # pixels k/255 in [0, 1]
    np.testing.assert_array_equal(data.train.X[0], np.array([0, 255, 1, 2, 3, 4], dtype=dtype) / dtype(255))
    np.testing.assert_allclose(data.valid.X, train_images[N_TRAIN:].reshape(N_VALID_SMALL, -1) / 255, rtol=1e-6)
    np.testing.assert_allclose(data.test.X, test_images.reshape(N_TEST_SMALL, -1) / 255, rtol=1e-6)
    assert data.train.X.min() >= 0 and data.train.X.max() == 1
    # train and valid are views of one array, not copies
    assert data.train.X.base is not None and data.train.X.base is data.valid.X.base
    assert data.n_classes == 10 and data.n_features == ROWS * COLS


def test_fashion_mnist_reads_its_own_folder(tmp_path):
    write_small_set(tmp_path, folder="FashionMNIST", seed=1)
    data = load_dataset("fashion-mnist", data_dir=tmp_path, dtype=np.float32, download=False)
    assert len(data.train) == N_TRAIN and len(data.test) == N_TEST_SMALL
    assert data.source.endswith(os.path.join("FashionMNIST", "raw"))
    with pytest.raises(DataMissingError, match="MNIST/raw lacks train-images-idx3-ubyte"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_data_dir_flag_then_environment_then_dot_data(monkeypatch, tmp_path):
    monkeypatch.setenv("COMPARE_DATA_DIR", str(tmp_path / "from-env"))
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_dir() == tmp_path / "from-env"
    monkeypatch.delenv("COMPARE_DATA_DIR")
    assert str(resolve_data_dir()) == "data"


def test_missing_file_in_read_only_dir_says_what_and_writes_nothing(tmp_path, monkeypatch):
    write_small_set(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    make_read_only(tmp_path)
    before = listing(tmp_path)

    def no_download(*args, **kwargs):
        raise AssertionError("torchvision must not be asked to download into a read-only folder")

    monkeypatch.setattr(data_module, "_download", no_download)
    with pytest.raises(DataMissingError) as caught:
        load_dataset("mnist", data_dir=tmp_path)
    message = str(caught.value)
    assert "t10k-labels-idx1-ubyte" in message and "train-images-idx3-ubyte," not in message.split("(")[0]
    assert "read-only" in message and "--data-dir" in message and "\n" not in message
    assert listing(tmp_path) == before


def test_missing_data_message_is_short_and_names_the_absolute_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataMissingError) as caught:
        load_dataset("mnist", data_dir="here", download=False)
    message = str(caught.value)
    assert f"{tmp_path / 'here' / 'MNIST' / 'raw'} lacks" in message  # absolute, though given relative
    assert all(message.count(name) == 1 for name in RAW_FILES)  # each file named once
    assert len(message) < 320 and "\n" not in message


def test_offline_download_failure_is_one_clear_message_and_leaves_no_folders(tmp_path, monkeypatch):
    calls = []

    def offline(name, root, train, download):
        calls.append((name, train, download))
        (root / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)  # as torchvision does first
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://..., got: <urlopen error>")

    monkeypatch.setattr(data_module, "_torchvision_dataset", offline)
    root = tmp_path / "new" / "data"
    with pytest.raises(DataMissingError, match="download failed") as caught:
        load_dataset("mnist", data_dir=root)
    assert calls == [("mnist", True, True)]
    assert "\n" not in str(caught.value) and all(f in str(caught.value) for f in RAW_FILES)
    assert not (tmp_path / "new").exists()  # the folders made for the download are gone


def test_download_false_never_downloads(tmp_path):
    with pytest.raises(DataMissingError, match="download disabled"):
        load_dataset("mnist", data_dir=tmp_path, download=False)
    assert listing(tmp_path) == []


def test_unknown_dataset_and_dtype_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        load_dataset("cifar", data_dir=tmp_path)
    with pytest.raises(TypeError, match="float32 or float64"):
        load_dataset("circles", dtype=np.int32)


# --------------------------------------------------------------------------- circles
def test_circles_file_is_read_as_x1_x2_label(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("0.5 0.25 1\n-1.0 0.0 0\n0.0 -0.8 1\n")
    X, y = read_circles_file(path, dtype=np.float32)
    np.testing.assert_array_equal(X, np.array([[0.5, 0.25], [-1, 0], [0, -0.8]], dtype=np.float32))
    np.testing.assert_array_equal(y, [1, 0, 1])
    assert X.dtype == np.float32 and y.dtype == np.int64


def test_bad_circles_files_are_refused(tmp_path):
    with pytest.raises(DataMissingError, match="circles file not found"):
        read_circles_file(tmp_path / "nope.txt")
    two_columns = tmp_path / "two.txt"
    two_columns.write_text("1 2\n3 4\n")
    with pytest.raises(ValueError, match="3 numbers"):
        read_circles_file(two_columns)
    bad_label = tmp_path / "label.txt"
    bad_label.write_text("1 2 0\n3 4 7\n")
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        read_circles_file(bad_label)


def test_generated_circles_are_two_seeded_concentric_circles():
    X, y = make_circles(n_per_class=100, seed=3)
    assert X.shape == (200, 2) and np.bincount(y).tolist() == [100, 100]
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0)
    np.testing.assert_allclose(radius[y == 1], 0.8)
    again, _ = make_circles(n_per_class=100, seed=3)
    other, _ = make_circles(n_per_class=100, seed=4)
    np.testing.assert_array_equal(X, again)
    assert not np.allclose(X, other)


def test_circles_split_is_seeded_and_disjoint():
    data = load_circles(seed=0)
    sizes = (len(data.train), len(data.valid), len(data.test))
    assert sizes == (770, 165, 165)
    everything = np.concatenate([data.train.X, data.valid.X, data.test.X])
    assert len(np.unique(everything, axis=0)) == 1100
    assert data.n_classes == 2 and data.n_features == 2
    np.testing.assert_array_equal(load_circles(seed=0).train.X, data.train.X)


# --------------------------------------------------------------------------- the real data
@needs_real_data
def test_real_mnist_course_split_from_the_read_only_dir():
    root = resolve_data_dir()
    before = listing(root)
    data = load_dataset("mnist", dtype=np.float32)  # the data dir comes from $COMPARE_DATA_DIR
    assert (len(data.train), len(data.valid), len(data.test)) == (50_000, 10_000, 10_000)
    assert data.train.X.shape == (50_000, 784) and data.train.X.dtype == np.float32
    assert data.train.y[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]  # MNIST's famous first digits
    assert data.test.y[:5].tolist() == [7, 2, 1, 0, 4]
    assert data.train.X.min() == 0 and data.train.X.max() == 1
    assert np.bincount(data.valid.y, minlength=10).min() > 800  # every digit validates
    assert listing(root) == before  # nothing written


@needs_real_data
def test_real_fashion_mnist_and_course_circles():
    fashion = load_dataset("fashion-mnist", dtype=np.float64)
    assert (len(fashion.train), len(fashion.valid), len(fashion.test)) == (50_000, 10_000, 10_000)
    assert fashion.train.X.dtype == np.float64 and fashion.test.y[:4].tolist() == [9, 2, 1, 1]

    X, y = read_circles_file(resolve_data_dir() / "circles.txt")
    assert X.shape == (1100, 2) and np.bincount(y).tolist() == [550, 550]
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0, atol=1e-9)
    np.testing.assert_allclose(radius[y == 1], 0.8, atol=1e-9)
