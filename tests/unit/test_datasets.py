from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from worker.nas.evaluation import datasets
from worker.nas.evaluation.augment import Augmenter, random_erase, random_flip
from worker.nas.evaluation.datasets import DatasetError, load_dataset
from worker.nas.spec import DatasetSpec

FMNIST = Path("/usr/share/datasets/fashion-mnist")


def test_digits_split_is_normalised_nchw_and_disjoint():
    d = load_dataset(DatasetSpec(name="digits", validation_fraction=0.1), seed=0)
    assert d.input_shape == (1, 8, 8) and d.n_classes == 10
    assert d.x_train.dtype == torch.float32 and d.x_train.shape[1:] == (1, 8, 8)
    assert abs(float(d.x_train.mean())) < 1e-4 and abs(float(d.x_train.std()) - 1) < 1e-2
    assert len(d.y_val) == round(0.1 * (len(d.y_train) + len(d.y_val)))
    train_rows = {tuple(r) for r in d.x_train.flatten(1).tolist()}
    assert sum(tuple(r) in train_rows for r in d.x_val.flatten(1).tolist()) < 3  # digits has a few twins


def test_validation_split_depends_on_seed_only():
    a = load_dataset(DatasetSpec(name="digits"), seed=1)
    b = load_dataset(DatasetSpec(name="digits"), seed=1)
    c = load_dataset(DatasetSpec(name="digits"), seed=2)
    assert torch.equal(a.y_val, b.y_val) and not torch.equal(a.y_val, c.y_val)
    assert torch.equal(a.y_test, c.y_test)  # the test split never moves


def test_train_subset_limits_training_samples():
    d = load_dataset(DatasetSpec(name="digits", train_subset=200, validation_fraction=0.25))
    assert len(d.y_train) == 150 and len(d.y_val) == 50


def test_missing_idx_dataset_error_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", tmp_path / "system")
    monkeypatch.delenv("NASBOARD_DATA_DIR", raising=False)
    with pytest.raises(DatasetError) as err:
        load_dataset(DatasetSpec(name="fashion-mnist"), data_dir=tmp_path / "mine")
    msg = str(err.value)
    assert "dataset.name='fashion-mnist'" in msg and str(tmp_path / "mine") in msg
    assert "apt-get install dataset-fashion-mnist" in msg


def _write_idx(path: Path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def test_idx_files_found_in_data_dir_subfolder(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 300), ("t10k", 50)):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 6, 5)))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    d = load_dataset(DatasetSpec(name="mnist"), data_dir=tmp_path)
    assert d.input_shape == (1, 6, 5) and len(d.y_test) == 50 and len(d.y_train) + len(d.y_val) == 300


def test_npz_loads_nhwc_and_refuses_object_arrays(tmp_path):
    good = tmp_path / "good.npz"
    rng = np.random.default_rng(0)
    np.savez(
        good,
        x_train=rng.random((120, 4, 4, 3)),
        y_train=rng.integers(0, 3, 120),
        x_test=rng.random((20, 4, 4, 3)),
        y_test=rng.integers(0, 3, 20),
    )
    d = load_dataset(DatasetSpec(name="npz", path=str(good)))
    assert d.input_shape == (3, 4, 4) and d.n_classes == 3
    bad = tmp_path / "bad.npz"
    np.savez(
        bad,
        x_train=np.array([object()] * 3, dtype=object),
        y_train=np.zeros(3),
        x_test=np.zeros((1, 2, 2)),
        y_test=np.zeros(1),
    )
    with pytest.raises(ValueError):
        datasets.load_raw("npz", str(bad))


def test_npz_missing_arrays_named(tmp_path):
    f = tmp_path / "part.npz"
    np.savez(f, x_train=np.zeros((3, 2, 2)))
    with pytest.raises(DatasetError, match="y_train"):
        datasets.load_raw("npz", str(f))


def _cifar_bin(path: Path, n: int, rng: np.random.Generator) -> None:
    labels = rng.integers(0, 10, (n, 1)).astype(np.uint8)
    pixels = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    path.write_bytes(np.concatenate([labels, pixels], axis=1).tobytes())


def test_cifar_binary_batches_load_as_images_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for i in range(1, 6):
        _cifar_bin(folder / f"data_batch_{i}.bin", 20, rng)
    _cifar_bin(folder / "test_batch.bin", 10, rng)
    d = load_dataset(DatasetSpec(name="cifar10", path=str(tmp_path)))
    assert d.input_shape == (3, 32, 32) and len(d.y_train) + len(d.y_val) == 100 and len(d.y_test) == 10
    xtr, ytr, _, _ = datasets.load_raw("cifar10", str(folder))
    first = (folder / "data_batch_1.bin").read_bytes()
    assert ytr[0] == first[0] and xtr[0, 0, 0, 0] == first[1]  # label byte, then the red plane


def test_cifar_python_pickles_are_never_read(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps({b"data": b"x"}))
    with pytest.raises(DatasetError, match="binary version"):
        datasets.load_raw("cifar10", str(tmp_path))


def test_cifar_file_of_the_wrong_size_is_a_clear_error(tmp_path):
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        (tmp_path / name).write_bytes(b"\x01" * 100)
    with pytest.raises(DatasetError, match="3073-byte records"):
        datasets.load_raw("cifar10", str(tmp_path))


def test_augmenter_keeps_shape_and_changes_pixels():
    x = torch.randn(64, 1, 28, 28)
    out = Augmenter((1, 28, 28), flip=True, seed=0, device=torch.device("cpu"))(x)
    assert out.shape == x.shape and not torch.equal(out, x)


def test_flip_and_erase_act_per_sample():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3).repeat(50, 1, 1, 1)
    flipped = random_flip(x, g)
    same = (flipped == x).flatten(1).all(1)
    assert 0 < int(same.sum()) < len(x)  # some flipped, some not
    erased = random_erase(torch.ones(200, 1, 10, 10), g, p=0.5)
    zeros = (erased == 0).flatten(1).any(1)
    assert 50 < int(zeros.sum()) < 150


@pytest.mark.skipif(
    not FMNIST.is_dir(), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"
)
def test_fashion_mnist_loads_from_system_dir():
    d = load_dataset(DatasetSpec(name="fashion-mnist", train_subset=1000))
    assert d.input_shape == (1, 28, 28) and d.n_classes == 10 and len(d.y_test) == 10_000
    assert 0.2 < d.mean[0] < 0.4  # Fashion-MNIST's pixel mean is ~0.286


def test_augmenter_without_erasing_never_zeroes_a_box():
    # Inputs of all ones: crop padding can only zero whole edge rows/columns, never an inner pixel.
    x = torch.ones(200, 1, 28, 28)
    aug = Augmenter((1, 28, 28), flip=False, seed=0, device=torch.device("cpu"), erasing=0.0)
    assert bool((aug(x)[:, :, 4:-4, 4:-4] == 1).all())
    erased = Augmenter((1, 28, 28), flip=False, seed=0, device=torch.device("cpu"), erasing=1.0)(x)
    assert bool((erased[:, :, 4:-4, 4:-4] == 0).flatten(1).any(1).float().mean() > 0.5)


def test_erasing_outside_zero_to_one_is_rejected_by_field_name():
    from pydantic import ValidationError

    from worker.nas.spec import DatasetSpec

    with pytest.raises(ValidationError, match="erasing"):
        DatasetSpec(name="digits", erasing=1.5)
