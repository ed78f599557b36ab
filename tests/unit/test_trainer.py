from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from sklearn.metrics import f1_score

from worker.nas.evaluation.checkpoints import inherit_weights, load_checkpoint, save_checkpoint
from worker.nas.evaluation.datasets import load_dataset
from worker.nas.evaluation.trainer import TrainConfig, Trainer, autocast_dtype, cpu_has_fast_bf16, macro_f1
from worker.nas.spec import DatasetSpec, TrainingSpec

FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # The machine's cores are shared: one thread per test process keeps timings steady.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DatasetSpec(name="digits"), seed=0)


def small_cnn(seed: int = 0, width: int = 16) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, width, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(width * 16, 10),
    )


def fit(data, cfg: TrainConfig, model=None, **kw):
    trainer = Trainer(model or small_cnn(), cfg, n_classes=10, device="cpu")
    return trainer, trainer.fit(data.x_train, data.y_train, data.x_val, data.y_val, **kw)


def test_training_on_digits_reaches_high_accuracy(digits):
    _, run = fit(digits, TrainConfig(epochs=4, batch_size=64))
    assert run.status == "done" and run.epochs_done == 4
    assert run.metrics["val_accuracy"] > 0.85  # chance is 0.1
    assert set(run.metrics) >= {"train_loss", "val_loss", "val_accuracy", "val_f1", "seconds", "lr"}


@pytest.mark.parametrize(
    "optimizer,schedule", [("sgd", "cosine"), ("adam", "constant"), ("adamw", "onecycle")]
)
def test_every_optimizer_and_schedule_learns(digits, optimizer, schedule):
    lr = 0.05 if optimizer == "sgd" else 3e-3
    _, run = fit(digits, TrainConfig(epochs=3, batch_size=64, optimizer=optimizer, schedule=schedule, lr=lr))
    assert run.metrics["val_accuracy"] > 0.7


def test_same_seed_gives_same_metrics(digits):
    a = fit(digits, TrainConfig(epochs=2, seed=3), small_cnn(1))[1].history
    b = fit(digits, TrainConfig(epochs=2, seed=3), small_cnn(1))[1].history
    c = fit(digits, TrainConfig(epochs=2, seed=4), small_cnn(1))[1].history
    strip = lambda h: [{k: v for k, v in m.items() if k != "seconds"} for m in h]  # noqa: E731
    assert strip(a) == strip(b) and strip(a) != strip(c)


def test_resume_from_checkpoint_continues_the_same_run(digits, tmp_path):
    cfg = TrainConfig(epochs=4, batch_size=64, seed=1)
    _, whole = fit(digits, cfg, small_cnn(2))
    first, part = fit(digits, cfg, small_cnn(2), until_epoch=2)
    assert part.epochs_done == 2
    path = save_checkpoint(first.state_dict(), tmp_path / "c.ckpt")
    second = Trainer(small_cnn(99), cfg, n_classes=10, device="cpu")
    second.load_state_dict(load_checkpoint(path))
    rest = second.fit(digits.x_train, digits.y_train, digits.x_val, digits.y_val)
    assert rest.epochs_done == 4 and len(rest.history) == 4
    assert rest.metrics["val_loss"] == pytest.approx(whole.metrics["val_loss"], rel=1e-6)


def test_early_stopping_ends_training_when_accuracy_stalls(digits):
    # lr 0 (constant): accuracy never improves after the first epoch, so patience 2 stops at epoch 3.
    _, run = fit(digits, TrainConfig(epochs=10, lr=1e-12, schedule="constant", patience=2))
    assert run.status == "done" and run.epochs_done == 3 and "early stopping" in run.stopped


def test_exploding_learning_rate_fails_with_divergence_reason(digits):
    _, run = fit(digits, TrainConfig(epochs=3, optimizer="sgd", lr=1e6, schedule="constant"))
    assert run.status == "failed" and re.match(
        r"diverged: loss became (nan|inf) at epoch 1 step \d+$", run.reason
    )


class _NanNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.lin(x.flatten(1)) * float("nan")


def test_nan_output_fails_at_first_step(digits):
    _, run = fit(digits, TrainConfig(epochs=2), _NanNet())
    assert run.status == "failed" and run.reason == "diverged: loss became nan at epoch 1 step 1"


class _OomNet(_NanNet):
    def forward(self, x):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")


class _HugeAllocNet(_NanNet):
    def forward(self, x):
        return torch.empty(2**50, dtype=torch.uint8)  # a real allocator failure (1 PiB)


@pytest.mark.parametrize("net", [_OomNet, _HugeAllocNet])
def test_out_of_memory_is_a_failure_not_a_crash(digits, net):
    _, run = fit(digits, TrainConfig(epochs=1), net())
    assert run.status == "failed" and run.reason.startswith("out of memory at epoch 1")


def test_time_limit_fails_with_reason(digits):
    _, run = fit(digits, TrainConfig(epochs=50, batch_size=8, max_seconds=0.2))
    assert run.status == "failed" and "max_seconds=0.2" in run.reason and run.epochs_done < 50


def test_epoch_callback_can_stop_training(digits):
    seen = []
    _, run = fit(digits, TrainConfig(epochs=5), on_epoch=lambda e, m: seen.append(e) or e == 2)
    assert seen == [1, 2] and run.status == "done" and run.epochs_done == 2


def test_config_from_spec_copies_every_training_field():
    spec = TrainingSpec(
        epochs=7,
        batch_size=32,
        optimizer="sgd",
        lr=0.1,
        momentum=0.8,
        weight_decay=0.01,
        schedule="cosine",
        label_smoothing=0.1,
        early_stopping_patience=3,
        max_seconds=9,
        precision="fp32",
    )
    cfg = TrainConfig.from_spec(spec, seed=5)
    assert cfg.precision == "fp32"
    assert (cfg.epochs, cfg.batch_size, cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay) == (
        7,
        32,
        "sgd",
        0.1,
        0.8,
        0.01,
    )
    assert (cfg.schedule, cfg.label_smoothing, cfg.patience, cfg.max_seconds, cfg.seed) == (
        "cosine",
        0.1,
        3,
        9,
        5,
    )


def test_precision_picks_the_autocast_dtype():
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu, "fp32") is None
    assert autocast_dtype(cpu, "bf16") is torch.bfloat16
    assert autocast_dtype(cpu, "fp16") is torch.float16
    # auto: bf16 only where the CPU has bf16 units (AMX or AVX512-BF16; elsewhere bf16 is emulated and slow)
    assert autocast_dtype(cpu, "auto") is (torch.bfloat16 if cpu_has_fast_bf16() else None)


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="needs Linux /proc/cpuinfo")
def test_fast_bf16_detection_agrees_with_the_kernel_cpu_flags():
    # torch's private probe against the flags the kernel reports (amx_bf16 also needs the kernel to allow
    # AMX state for this process, so only the AVX512-BF16 side is an equivalence)
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if "avx512_bf16" in flags:
        assert cpu_has_fast_bf16()
    if not {"avx512_bf16", "amx_bf16"} & flags:
        assert not cpu_has_fast_bf16()


def test_bad_precision_names_the_field_and_the_choices():
    with pytest.raises(ValueError, match=r"(?s)precision.*'auto', 'fp32', 'bf16' or 'fp16'"):
        TrainingSpec(precision="fp8")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_both_precisions_learn_digits(digits, precision):
    _, run = fit(digits, TrainConfig(epochs=4, batch_size=64, precision=precision))
    assert run.status == "done" and run.metrics["val_accuracy"] > 0.85


def test_throughput_counts_training_passes_not_validation(digits):
    # A validation set 20x the training slice: if its passes were counted the rate would be far lower.
    x_val, y_val = digits.x_train.repeat(20, 1, 1, 1), digits.y_train.repeat(20)
    trainer = Trainer(small_cnn(), TrainConfig(epochs=2, batch_size=64), n_classes=10, device="cpu")
    run = trainer.fit(digits.x_train[:64], digits.y_train[:64], x_val, y_val)
    wall_rate = 2 * 64 / run.seconds
    assert run.samples_per_second > 3 * wall_rate


def test_macro_f1_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 5, (300,), generator=g)
    p = torch.where(torch.rand(300, generator=g) < 0.6, y, torch.randint(0, 5, (300,), generator=g))
    assert float(macro_f1(p, y, 5)) == pytest.approx(f1_score(y, p, average="macro"), abs=1e-6)


def test_inherit_weights_copies_only_matching_tensors():
    parent, child = small_cnn(0, width=16), small_cnn(1, width=8)
    assert inherit_weights(child, parent.state_dict()) == 1  # only the classifier bias keeps its shape
    assert torch.equal(child[4].bias, parent[4].bias) and not torch.equal(child[0].bias, parent[0].bias[:8])
    same = small_cnn(5, width=16)
    assert inherit_weights(same, parent.state_dict()) == 4
    assert torch.equal(same[0].weight, parent[0].weight)


@pytest.mark.skipif(
    not FMNIST.is_dir(), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"
)
def test_fashion_mnist_slice_trains_well_above_chance():
    data = load_dataset(DatasetSpec(name="fashion-mnist", train_subset=3000), seed=0)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 7 * 7, 10),
    )
    run = Trainer(net, TrainConfig(epochs=3, batch_size=64), n_classes=10, device="cpu").fit(
        data.x_train, data.y_train, data.x_val, data.y_val
    )
    assert run.metrics["val_accuracy"] > 0.7  # chance is 0.1


def test_first_bad_loss_is_located_inside_a_checked_window():
    window = [torch.tensor(1.0), torch.tensor(2.0), torch.tensor(float("inf")), torch.tensor(float("nan"))]
    assert Trainer._first_bad(window) == (2, float("inf"))
    assert Trainer._first_bad(window[:2]) is None


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_shortened_run_ends_at_the_new_length_on_an_annealed_schedule(digits, schedule):
    # A final training cut to fit its time budget must still anneal: after `shorten` its last learning
    # rate is the one a run planned that short from the start ends on.
    cfg = lambda epochs: TrainConfig(epochs=epochs, batch_size=64, schedule=schedule)  # noqa: E731
    _, planned_short = fit(digits, cfg(3))
    trainer = Trainer(small_cnn(), cfg(8), n_classes=10, device="cpu")
    run = trainer.fit(
        digits.x_train, digits.y_train, on_epoch=lambda e, m: trainer.shorten(3) if e == 1 else None
    )
    assert run.status == "done" and run.epochs_done == 3 and trainer.cfg.epochs == 3
    assert run.history[-1]["lr"] == pytest.approx(planned_short.history[-1]["lr"], rel=1e-6, abs=1e-12)
    assert run.history[0]["lr"] != pytest.approx(planned_short.history[0]["lr"])  # it was an 8-epoch run


def test_shorten_never_goes_below_the_epochs_done_nor_lengthens(digits):
    trainer = Trainer(small_cnn(), TrainConfig(epochs=4, batch_size=64), n_classes=10, device="cpu")
    run = trainer.fit(
        digits.x_train, digits.y_train, on_epoch=lambda e, m: trainer.shorten(0 if e == 2 else 9)
    )
    assert run.epochs_done == 2 and trainer.cfg.epochs == 2
