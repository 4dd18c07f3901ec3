"""The data sets of the course, as NumPy arrays split the course's way.

- MNIST and Fashion-MNIST come through ``torchvision.datasets.MNIST`` / ``FashionMNIST``
  from ``<data dir>/MNIST/raw/`` (``FashionMNIST/raw/``). torchvision downloads the four
  raw files when they are missing and the directory is writable; offline, or when the
  directory is read-only, a missing file is a ``DataMissingError`` that says which file and
  how to fix it. Nothing is ever written into a read-only data directory.
- The course split: the first 50,000 training images train, the last 10,000 validate,
  t10k tests. Pixels are scaled to [0, 1] (k/255) in the run's dtype; with ``center=True``
  the mean training image (of the 50,000) is then subtracted from every image of the
  three parts (the Fashion-MNIST default: a large step trains stably on centred inputs).
- Circles (homework 3.5): the course's file, one ``x1 x2 label`` per line, or a seeded
  generator of the same kind of set (two concentric circles, evenly spaced points).

The data directory is ``--data-dir``, else ``$COMPARE_DATA_DIR``, else ``./data``.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_DIR_ENV = "COMPARE_DATA_DIR"
DEFAULT_DATA_DIR = "data"

# --dataset name -> torchvision class name (also the folder torchvision reads under the data dir).
IMAGE_DATASETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
DATASETS = (*IMAGE_DATASETS, "circles")

RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
N_TRAIN = 50_000  # the course split: first 50,000 of the 60,000 training images train
N_VALID = 10_000  # ... the last 10,000 validate

CIRCLES_SPLIT = (0.7, 0.15, 0.15)  # train / valid / test fractions of the shuffled circles


class DataMissingError(FileNotFoundError):
    """The data set's files are not there and cannot be downloaded into the data directory."""


@dataclass(frozen=True)
class Split:
    """One part of a data set: inputs X (n, d) in the run's dtype, labels y (n,) int64."""

    X: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class DataSet:
    name: str
    train: Split
    valid: Split
    test: Split
    n_classes: int
    source: str  # where it came from (folder or file), for the run's record

    @property
    def n_features(self) -> int:
        return self.train.X.shape[1]


def check_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def resolve_data_dir(data_dir=None) -> Path:
    """``data_dir`` if given, else ``$COMPARE_DATA_DIR`` if set, else ``./data``."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(data_dir)


def _is_writable(folder: Path) -> bool:
    """May we create files under ``folder``? Its nearest existing ancestor decides.

    A folder without any write permission bit counts as read-only even for root, who
    ``os.access`` would let write anyway: such a folder was made read-only on purpose.
    """
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            if not candidate.is_dir() or not os.access(candidate, os.W_OK | os.X_OK):
                return False
            return bool(candidate.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return False


def _download(name: str, root: Path) -> None:
    """Let torchvision fetch the raw files; on failure remove the empty folders it made."""
    raw = root / IMAGE_DATASETS[name] / "raw"
    created = [p for p in (raw, *raw.parents) if not p.exists()]  # deepest first
    try:
        _torchvision_dataset(name, root, train=True, download=True)
        _torchvision_dataset(name, root, train=False, download=True)
    except BaseException:
        for folder in created:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def _missing_message(name: str, folder: str, raw: Path, missing: list, why: str) -> str:
    """One line: which files are missing where (an absolute path), why nothing was downloaded, what to do."""
    return (f"{name} data not found: {raw.absolute()} lacks {', '.join(missing)} ({why}); point --data-dir "
            f"or ${DATA_DIR_ENV} at a folder that holds {folder}/raw/ with the four files")


def _download_reason(error: Exception) -> str:
    """The gist of torchvision's download error, on one short line (e.g. the urlopen error)."""
    text = " ".join(str(error).split())
    match = re.search(r"<urlopen error [^>]*>", text)
    if match:
        return f"no network? {match.group(0)}"
    return (text[:150] + "…" if len(text) > 150 else text) or type(error).__name__


def _torchvision_dataset(name: str, root: Path, train: bool, download: bool):
    import torchvision  # imported here: only the image data sets need it

    cls = getattr(torchvision.datasets, IMAGE_DATASETS[name])
    return cls(root=str(root), train=train, download=download)


def load_image_dataset(name: str, data_dir=None, dtype=np.float32, download: bool = True,
                       center: bool = False) -> DataSet:
    """MNIST or Fashion-MNIST through torchvision, split 50k/10k/10k, pixels in [0, 1].

    ``center=True`` subtracts the mean training image from the train, valid and test images.

    ``download=False`` never touches the network. With ``download=True`` torchvision fetches
    the files only if some are missing *and* the data directory is writable.
    """
    if name not in IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {name!r}; choose one of {', '.join(IMAGE_DATASETS)}")
    dtype = check_dtype(dtype)
    root = resolve_data_dir(data_dir)
    folder = IMAGE_DATASETS[name]
    raw = root / folder / "raw"
    missing = [f for f in RAW_FILES if not (raw / f).is_file()]
    if missing:
        if not download:
            raise DataMissingError(_missing_message(name, folder, raw, missing, "download disabled"))
        if not _is_writable(root):
            raise DataMissingError(
                _missing_message(name, folder, raw, missing, "the folder is read-only, so nothing was downloaded")
            )
        try:
            _download(name, root)
        except Exception as error:  # torchvision wraps network failures in RuntimeError
            raise DataMissingError(
                _missing_message(name, folder, raw, missing, f"download failed: {_download_reason(error)}")
            ) from error
    try:
        train_full = _torchvision_dataset(name, root, train=True, download=False)
        test = _torchvision_dataset(name, root, train=False, download=False)
    except RuntimeError as error:  # a file torchvision cannot read
        raise DataMissingError(f"{name} data in {raw} could not be read: {error}") from error

    X_all = _scale_pixels(train_full.data.numpy(), dtype)
    y_all = train_full.targets.numpy().astype(np.int64)
    if len(y_all) < N_TRAIN + 1:
        raise ValueError(f"{raw} holds {len(y_all)} training images; the course split needs more than {N_TRAIN}")
    X_test = _scale_pixels(test.data.numpy(), dtype)
    y_test = test.targets.numpy().astype(np.int64)
    if center:
        mean = X_all[:N_TRAIN].mean(axis=0, dtype=np.float64).astype(dtype)  # the training part's only
        X_all -= mean  # in place: train and valid are views of X_all
        X_test -= mean
    # Views, not copies: train and valid share X_all's memory.
    return DataSet(
        name=name,
        train=Split(X_all[:N_TRAIN], y_all[:N_TRAIN]),
        valid=Split(X_all[N_TRAIN:], y_all[N_TRAIN:]),
        test=Split(X_test, y_test),
        n_classes=10,
        source=str(raw) + (" (centred: mean training image subtracted)" if center else ""),
    )


def _scale_pixels(images: np.ndarray, dtype) -> np.ndarray:
    """uint8 images (n, 28, 28) → (n, 784) in [0, 1], one array of the run's dtype."""
    flat = images.reshape(len(images), -1)
    out = np.empty(flat.shape, dtype=dtype)
    np.divide(flat, dtype.type(255), out=out, dtype=dtype)
    return out


# --------------------------------------------------------------------------- circles
def read_circles_file(path, dtype=np.float64):
    """The course's circles file: one ``x1 x2 label`` per line → (X (n, 2), y (n,) int64)."""
    dtype = check_dtype(dtype)
    path = Path(path)
    if not path.is_file():
        raise DataMissingError(f"circles file not found: {path} (expected lines 'x1 x2 label')")
    try:
        table = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise ValueError(f"{path} is not a circles file of 'x1 x2 label' lines: {error}") from None
    if table.shape[1] != 3 or table.shape[0] == 0:
        raise ValueError(f"{path} must hold lines of 3 numbers 'x1 x2 label', got shape {table.shape}")
    labels = table[:, 2]
    if not np.all(np.isin(labels, (0, 1))):
        raise ValueError(f"{path}: labels must be 0 or 1, got {sorted(set(labels.tolist()))[:5]}")
    return table[:, :2].astype(dtype), labels.astype(np.int64)


def make_circles(n_per_class=550, radii=(1.0, 0.8), seed=0, dtype=np.float64):
    """Two concentric circles like the course's file: class 0 on radius 1, class 1 on 0.8.

    Each class has ``n_per_class`` evenly spaced points, starting at a seeded random angle;
    the rows come shuffled.
    """
    dtype = check_dtype(dtype)
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or n_per_class <= 0:
        raise ValueError(f"n_per_class must be a positive int, got {n_per_class!r}")
    rng = np.random.default_rng(seed)
    points, labels = [], []
    for label, radius in enumerate(radii):
        angles = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(n_per_class) / n_per_class
        points.append(radius * np.column_stack([np.cos(angles), np.sin(angles)]))
        labels.append(np.full(n_per_class, label, dtype=np.int64))
    order = rng.permutation(len(radii) * n_per_class)
    return np.concatenate(points)[order].astype(dtype), np.concatenate(labels)[order]


def load_circles(circles_file=None, seed=0, dtype=np.float64) -> DataSet:
    """Circles from the course file (or the generator), shuffled with ``seed`` and split 70/15/15."""
    dtype = check_dtype(dtype)
    if circles_file is not None:
        X, y = read_circles_file(circles_file, dtype)
        source = str(circles_file)
    else:
        X, y = make_circles(seed=seed, dtype=dtype)
        source = f"make_circles(seed={seed})"
    order = np.random.default_rng([seed, 2]).permutation(len(y))
    X, y = X[order], y[order]
    n_train = int(round(CIRCLES_SPLIT[0] * len(y)))
    n_valid = int(round(CIRCLES_SPLIT[1] * len(y)))
    if n_train == 0 or n_valid == 0 or n_train + n_valid >= len(y):
        raise ValueError(f"{source} has {len(y)} points, too few to split into train/valid/test")
    return DataSet(
        name="circles",
        train=Split(X[:n_train], y[:n_train]),
        valid=Split(X[n_train : n_train + n_valid], y[n_train : n_train + n_valid]),
        test=Split(X[n_train + n_valid :], y[n_train + n_valid :]),
        n_classes=2,
        source=source,
    )


def load_dataset(name: str, data_dir=None, circles_file=None, seed=0, dtype=np.float32,
                 download: bool = True, center: bool = False) -> DataSet:
    """Any of ``DATASETS`` by its ``--dataset`` name (``center``: image data sets only)."""
    if name == "circles":
        return load_circles(circles_file, seed=seed, dtype=dtype)
    if name in IMAGE_DATASETS:
        return load_image_dataset(name, data_dir, dtype=dtype, download=download, center=center)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
