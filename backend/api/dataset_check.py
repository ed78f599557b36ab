"""Submit-time dataset check: the data must be readable on this server before a search is stored.

A search whose data cannot be read would otherwise be accepted, queued, and fail in a worker minutes
later. Only headers are read (IDX magic numbers, CIFAR batch sizes, the `.npy` headers inside an npz),
so the check costs milliseconds whatever the dataset's size. The places searched mirror the engine's
loader (worker/nas/evaluation/datasets.py, not imported here: it pulls in torch).

`dataset.path` from the API is confined to the dataset directory: a relative path is taken relative to
it, symlinks are resolved before the check, and the stored spec carries the resolved absolute path so
the worker reads exactly the file that was checked.
"""

from __future__ import annotations

import gzip
import importlib.util
import zipfile
from pathlib import Path
from typing import Any

from backend.api import meta
from backend.settings import Settings
from worker.nas.evaluation.dataset_files import find_idx

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_STEMS = {  # file stem -> number of dimensions its header must declare
    "train-images-idx3-ubyte": 3,
    "train-labels-idx1-ubyte": 1,
    "t10k-images-idx3-ubyte": 3,
    "t10k-labels-idx1-ubyte": 1,
}
CIFAR_FILES = (*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin")
CIFAR_RECORD = 1 + 3 * 32 * 32
INPUT_SHAPES = {
    "fashion-mnist": (1, 28, 28),
    "mnist": (1, 28, 28),
    "digits": (1, 8, 8),
    "cifar10": (3, 32, 32),
}


class DatasetProblem(ValueError):
    """The dataset cannot be used; `field` is the spec field to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_dataset(dataset: dict[str, Any], settings: Settings) -> tuple[str | None, tuple[int, int, int]]:
    """Return (the resolved dataset.path or None, the input shape C×H×W); raise DatasetProblem."""
    name, raw = dataset.get("name", "digits"), dataset.get("path")
    root = Path(settings.dataset_dir).resolve()
    path = confine(raw, root) if raw else None
    if name == "npz":
        if path is None:
            raise DatasetProblem(
                "dataset.path", "required for dataset.name='npz': an .npz file in " + str(root)
            )
        return str(path), npz_input_shape(path, raw)
    if name == "digits":
        if importlib.util.find_spec("sklearn") is None:
            raise DatasetProblem("dataset.name", "digits needs scikit-learn, which this server lacks")
        return (str(path) if path else None), INPUT_SHAPES[name]
    dirs = _search_dirs(name, path, root, Path(settings.data_dir))
    finder = _idx_dir if name in ("fashion-mnist", "mnist") else _cifar_dir
    if finder(dirs) is None:
        where = f"dataset.path ({raw}) or {root / name}" if raw else str(root / name)
        kind = (
            "the four IDX files (train-images-idx3-ubyte ...)"
            if finder is _idx_dir
            else ("the CIFAR-10 binary batches (cifar-10-batches-bin)")
        )
        raise DatasetProblem(
            "dataset.path" if raw else "dataset.name",
            f"{name} is not available on this server: {kind} not found; put them in {where}",
        )
    return (str(path) if path else None), INPUT_SHAPES[name]


def confine(raw: str, root: Path, what: str = "dataset directory") -> Path:
    """`raw` resolved inside `root` (the dataset directory), or DatasetProblem saying it is outside."""
    try:
        candidate = Path(raw)
        resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    except (OSError, ValueError) as exc:  # a NUL byte, a symlink loop
        raise DatasetProblem("dataset.path", f"not a usable path: {exc}") from exc
    if not resolved.is_relative_to(root):
        raise DatasetProblem(
            "dataset.path",
            f"{raw!r} is outside this server's {what} ({root}); name a file or folder inside it",
        )
    return resolved


def _search_dirs(name: str, path: Path | None, root: Path, data_dir: Path) -> list[Path]:
    dirs = [path] if path else []
    for base in (root, data_dir):
        dirs += [base / name, base]
    return [*dirs, meta.SYSTEM_DATASET_DIR / name]


def _idx_ok(path: Path, ndim: int) -> bool:
    """The IDX magic: two zero bytes, 0x08 (unsigned bytes), then the number of dimensions."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            head = f.read(4)
    except (OSError, EOFError):
        return False
    return head == bytes([0, 0, 8, ndim])


def _idx_dir(dirs: list[Path]) -> Path | None:
    for folder in dirs:
        files = {stem: find_idx(folder, stem) for stem in IDX_STEMS}
        if all(files.values()) and all(_idx_ok(p, IDX_STEMS[s]) for s, p in files.items()):  # type: ignore[arg-type]
            return folder
    return None


def _cifar_dir(dirs: list[Path]) -> Path | None:
    for folder in [d for base in dirs for d in (base, base / "cifar-10-batches-bin")]:
        files = [folder / f for f in CIFAR_FILES]
        if all(p.is_file() and p.stat().st_size and p.stat().st_size % CIFAR_RECORD == 0 for p in files):
            return folder
    return None


def npz_input_shape(path: Path, raw: str) -> tuple[int, int, int]:
    """Read the four arrays' `.npy` headers (not their data) and derive the input shape as the loader does."""
    from numpy.lib import format as npy

    if not path.is_file():  # also refuses devices and FIFOs, which would block or never end
        raise DatasetProblem("dataset.path", f"{raw!r}: no such file in the dataset directory")
    shapes = {}
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [k for k in NPZ_KEYS if f"{k}.npy" not in names]
            if missing:
                raise DatasetProblem(
                    "dataset.path", f"{raw!r} lacks arrays {missing} (needs {list(NPZ_KEYS)})"
                )
            for key in NPZ_KEYS:
                with archive.open(f"{key}.npy") as f:
                    version = npy.read_magic(f)
                    read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                    shape, _, dtype = read(f)
                if dtype.hasobject:
                    raise DatasetProblem(
                        "dataset.path", f"{raw!r}: {key} holds Python objects (never unpickled)"
                    )
                shapes[key] = shape
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        if isinstance(exc, DatasetProblem):
            raise
        raise DatasetProblem("dataset.path", f"{raw!r} is not a readable .npz archive: {exc}") from exc
    return _npz_shape(shapes, raw)


def _npz_shape(shapes: dict[str, tuple[int, ...]], raw: str) -> tuple[int, int, int]:
    x, x_test = shapes["x_train"], shapes["x_test"]
    if len(x) not in (3, 4) or x[1:] != x_test[1:]:
        raise DatasetProblem(
            "dataset.path", f"{raw!r}: x arrays must be N×H×W or N×C×H×W alike; got {x} and {x_test}"
        )
    for xs, ys in (("x_train", "y_train"), ("x_test", "y_test")):
        n_labels = 1
        for dim in shapes[ys]:
            n_labels *= dim
        if n_labels != shapes[xs][0]:
            raise DatasetProblem(
                "dataset.path", f"{raw!r}: {ys} has {n_labels} labels for {shapes[xs][0]} samples"
            )
    if len(x) == 3:
        return 1, x[1], x[2]
    if x[-1] in (1, 3) and x[1] not in (1, 3):  # NHWC, transposed by the loader
        return x[3], x[1], x[2]
    return x[1], x[2], x[3]
