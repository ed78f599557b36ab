"""Datasets as in-memory tensors: seeded train/validation split, test split kept for the final report.

Decoded arrays are cached per process (a worker trains many candidates on the same data). Nothing from
the user's files is ever unpickled: npz loads with `allow_pickle=False`, and CIFAR-10 is read from its
binary version (fixed-size records), not from the python version's pickles.
"""

from __future__ import annotations

import gzip
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from worker.nas.evaluation.dataset_files import find_idx
from worker.nas.spec import DatasetSpec

DATASET_NAMES = ("fashion-mnist", "mnist", "digits", "cifar10", "npz")
SYSTEM_DATA_DIR = Path("/usr/share/datasets")
_CACHE_SIZE = 4
# name, path -> (x_train uint8/float NHWC-or-NCHW, y_train, x_test, y_test) as numpy
_RAW_CACHE: OrderedDict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = (
    OrderedDict()
)


class DatasetError(ValueError):
    """A dataset could not be found or read; the message says where we looked and how to fix it."""


@dataclass
class DatasetSplits:
    name: str
    x_train: torch.Tensor  # float32, NCHW, normalised
    y_train: torch.Tensor  # int64
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    input_shape: tuple[int, int, int]
    mean: list[float]  # per channel, of the raw [0, 1] pixels of the training split
    std: list[float]
    # What the data as it ships is divided by before (x - mean) / std: 255 for 8-bit images, 16 for
    # scikit-learn's digits (0-16), 1 for float arrays already in [0, 1].
    divide_by: float = 255.0

    def train_and_val(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Training plus validation samples: what the final training uses."""
        return torch.cat([self.x_train, self.x_val]), torch.cat([self.y_train, self.y_val])

    def card(self) -> dict[str, object]:
        return {
            "name": self.name,
            "n_classes": self.n_classes,
            "input_shape": list(self.input_shape),
            "normalisation": {
                "divide_by": self.divide_by,
                "mean": self.mean,
                "std": self.std,
                "formula": "input = (x / divide_by - mean[c]) / std[c] per channel c, NCHW float32",
                "x": SOURCE_OF.get(self.name, "the images as the dataset files hold them"),
            },
            "sizes": {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)},
        }


# --- raw readers ------------------------------------------------------------------------------------------
def _read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim  # 16 for images (3 dims), 8 for labels (1 dim)
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _idx_dirs(name: str, path: str | None, data_dir: str | Path | None) -> list[Path]:
    dirs: list[Path] = []
    if path:
        dirs.append(Path(path).expanduser())
    for base in (data_dir, os.environ.get("NASBOARD_DATA_DIR")):
        if base:
            dirs += [Path(base).expanduser() / name, Path(base).expanduser()]
    dirs.append(SYSTEM_DATA_DIR / name)
    return dirs


def _load_idx(name: str, path: str | None, data_dir: str | Path | None):
    tried = _idx_dirs(name, path, data_dir)
    for folder in tried:
        files = [find_idx(folder, s) for s in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")]
        tests = [find_idx(folder, s) for s in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
        if all(files) and all(tests):
            xtr, ytr = (_read_idx(p) for p in files)  # type: ignore[arg-type]
            xte, yte = (_read_idx(p) for p in tests)  # type: ignore[arg-type]
            return xtr[:, None], ytr, xte[:, None], yte
    hint = "apt-get install dataset-fashion-mnist" if name == "fashion-mnist" else f"download {name}"
    raise DatasetError(
        f"dataset.name={name!r}: IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
        f"t10k-*) not found; looked in: {', '.join(str(d) for d in tried)}. Get them with `{hint}`, or put "
        f"the four IDX files in a directory and name it in dataset.path or NASBOARD_DATA_DIR."
    )


# What `x` in the model card's formula is, where it is not simply the dataset's 8-bit files.
SOURCE_OF = {
    "digits": "sklearn.datasets.load_digits().images[:, None] (values 0-16)",
    "npz": "the npz file's x_train / x_test arrays",
}
SOURCE_DIVISOR = {"digits": 16.0}  # its loader rescales 0-16 to 0-255; users hold the 0-16 values


def _load_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images * (255.0 / 16.0)).astype(np.float32)[:, None]  # 0..16 → 0..255 like 8-bit images
    y = d.target.astype(np.int64)
    order = np.random.default_rng(1234).permutation(len(y))  # fixed test split, independent of spec.seed
    n_test = len(y) // 5
    te, tr = order[:n_test], order[n_test:]
    return x[tr], y[tr], x[te], y[te]


CIFAR_RECORD = 1 + 3 * 32 * 32  # the binary version: one label byte, then 3072 pixel bytes (R, G, B planes)


def _read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % CIFAR_RECORD:
        raise DatasetError(
            f"dataset.path: {path} is not a CIFAR-10 binary batch ({CIFAR_RECORD}-byte records)"
        )
    records = raw.reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DatasetError(f"dataset.path: {path} has labels above 9; is it a CIFAR-10 binary batch?")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def _load_cifar10(path: str | None, data_dir: str | Path | None):
    # The binary version, not the python one: the python batches are pickles, and nothing a user can
    # point a search at is ever unpickled.
    tried = [Path(p).expanduser() for p in _idx_dirs("cifar10", path, data_dir)]
    tried += [d / "cifar-10-batches-bin" for d in list(tried)]
    for folder in tried:
        if (folder / "data_batch_1.bin").is_file() and (folder / "test_batch.bin").is_file():
            parts = [_read_cifar_bin(folder / f"data_batch_{i}.bin") for i in range(1, 6)]
            xte, yte = _read_cifar_bin(folder / "test_batch.bin")
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), xte, yte
    raise DatasetError(
        "dataset.name='cifar10': binary batches (data_batch_1.bin..5.bin, test_batch.bin) not found; "
        f"looked in: {', '.join(str(d) for d in tried)}. Unpack the CIFAR-10 binary version "
        "(cifar-10-binary.tar.gz) there or name it in dataset.path; the python version is a pickle and "
        "is not read."
    )


def _load_npz(path: str | None):
    if not path:
        raise DatasetError(
            "dataset.path: required for dataset.name='npz' (a .npz with x_train, y_train, ...)"
        )
    p = Path(path).expanduser()
    if not p.is_file():
        raise DatasetError(f"dataset.path: {p} does not exist")
    with np.load(p, allow_pickle=False) as f:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
        if missing:
            raise DatasetError(f"dataset.path: {p} lacks arrays {missing}; found {f.files}")
        xs = [np.asarray(f[k]) for k in ("x_train", "x_test")]
        ys = [np.asarray(f[k]).astype(np.int64).reshape(-1) for k in ("y_train", "y_test")]
    for i, x in enumerate(xs):
        if x.ndim == 3:  # N, H, W → one channel
            xs[i] = x[:, None]
        elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):  # NHWC → NCHW
            xs[i] = x.transpose(0, 3, 1, 2)
        elif x.ndim != 4:
            raise DatasetError(f"dataset.path: x arrays must be N×H×W or N×C×H×W, got shape {x.shape}")
    return xs[0], ys[0], xs[1], ys[1]


def load_raw(name: str, path: str | None = None, data_dir: str | Path | None = None):
    """Decoded (x_train, y_train, x_test, y_test) numpy arrays, cached per process."""
    if name not in DATASET_NAMES:
        raise DatasetError(f"dataset.name: unknown {name!r}; allowed: {', '.join(DATASET_NAMES)}")
    key = (name, f"{path}|{data_dir}|{os.environ.get('NASBOARD_DATA_DIR', '')}")
    if key in _RAW_CACHE:
        _RAW_CACHE.move_to_end(key)
        return _RAW_CACHE[key]
    if name in ("fashion-mnist", "mnist"):
        raw = _load_idx(name, path, data_dir)
    elif name == "digits":
        raw = _load_digits()
    elif name == "cifar10":
        raw = _load_cifar10(path, data_dir)
    else:
        raw = _load_npz(path)
    _RAW_CACHE[key] = raw
    while len(_RAW_CACHE) > _CACHE_SIZE:
        _RAW_CACHE.popitem(last=False)
    return raw


# --- splits -----------------------------------------------------------------------------------------------
def load_dataset(spec: DatasetSpec, data_dir: str | Path | None = None, seed: int = 0) -> DatasetSplits:
    """Normalised NCHW float tensors; validation carved from train with `seed` (test never touched)."""
    xtr, ytr, xte, yte = load_raw(spec.name, spec.path, data_dir)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ytr))
    if spec.train_subset is not None:
        order = order[: spec.train_subset]
    n_val = max(1, int(round(len(order) * spec.validation_fraction)))
    val_idx, tr_idx = order[:n_val], order[n_val:]
    scale = 255.0 if xtr.dtype == np.uint8 or xtr.max() > 1.5 else 1.0
    x_train = torch.from_numpy(np.ascontiguousarray(xtr[tr_idx], dtype=np.float32)) / scale
    mean = x_train.mean(dim=(0, 2, 3))
    std = x_train.std(dim=(0, 2, 3)).clamp_min(1e-6)

    def norm(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) / scale
        return ((t - mean[None, :, None, None]) / std[None, :, None, None]).contiguous()

    n_classes = int(max(ytr.max(), yte.max())) + 1
    return DatasetSplits(
        name=spec.name,
        x_train=(x_train - mean[None, :, None, None]) / std[None, :, None, None],
        y_train=torch.from_numpy(ytr[tr_idx].astype(np.int64)),
        x_val=norm(xtr[val_idx]),
        y_val=torch.from_numpy(ytr[val_idx].astype(np.int64)),
        x_test=norm(xte),
        y_test=torch.from_numpy(yte.astype(np.int64)),
        n_classes=n_classes,
        input_shape=tuple(int(s) for s in xtr.shape[1:]),  # type: ignore[arg-type]
        mean=[round(float(m), 6) for m in mean],
        std=[round(float(s), 6) for s in std],
        divide_by=SOURCE_DIVISOR.get(spec.name, scale),
    )
