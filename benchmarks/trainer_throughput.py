"""Training throughput of NASBoard's trainer against a plain PyTorch loop on the same network and data.

Goal (issue 16): the trainer trains at >= 0.95 x the samples/s of the plain loop.

The plain loop is written here on its own and uses nothing of the trainer but the network both train:
- its precision: it decides fp32 or bf16 autocast itself, from the CPU flags in /proc/cpuinfo (`amx_bf16`
  or `avx512_bf16`: bf16, else fp32) or, on cuda, from `torch.cuda.is_bf16_supported()` (bf16, else fp16
  with a GradScaler). It does not call the trainer's `cpu_has_fast_bf16`/`autocast_dtype`. The dtype the
  trainer picked is read from the trainer afterwards and printed beside it; when the two differ the
  comparison is not like for like, and `--check` fails. `--precision fp32|bf16` forces both.
- its data feeding: its own seeded `randperm` over the in-memory tensors, `split` into batches,
  `index_select`, channels_last (no trainer loader or augmentation; the trainer runs without augmentation).
- the same work: same initial weights, AdamW (lr 3e-3, weight decay 5e-4) with a one-cycle schedule over
  all steps, cross-entropy, same batch size, same samples and epochs.

Both run in this one process; the repeats alternate and swap which side goes first (plain, trainer,
trainer, plain, ...) so drift in machine load hits both. Each figure is samples/s over the wall time of the
whole training call; the median of the repeats is reported, with the ratio trainer / plain.

    .venv/bin/python benchmarks/trainer_throughput.py [--samples 10000] [--epochs 1] [--repeats 3] \
        [--threads 0] [--precision auto|fp32|bf16] [--device cpu|cuda] [--check]

`--check` exits 1 when the ratio is below the goal (or the two sides trained at different precisions);
the figures are printed either way.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from worker.nas.evaluation.datasets import load_dataset  # noqa: E402
from worker.nas.evaluation.trainer import TrainConfig, Trainer  # noqa: E402
from worker.nas.spec import DatasetSpec  # noqa: E402

GOAL = 0.95  # trainer samples/s over plain-loop samples/s
LR, WEIGHT_DECAY = 3e-3, 5e-4  # the trainer's defaults, passed to it explicitly below


def make_net(in_ch: int, n_classes: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(in_ch, 32, 3, stride=2, padding=1, bias=False),
        torch.nn.BatchNorm2d(32),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, padding=1, bias=False),
        torch.nn.BatchNorm2d(64),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2, ceil_mode=True),
        torch.nn.Conv2d(64, 64, 3, padding=1, bias=False),
        torch.nn.BatchNorm2d(64),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(64, n_classes),
    )


def cpu_flags() -> set[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def plain_dtype(device: str, precision: str = "auto") -> torch.dtype | None:
    """The plain loop's own precision choice (None = fp32): bf16 where the hardware has bf16 units."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if torch.device(device).type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_flags() & {"amx_bf16", "avx512_bf16"} else None


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def plain_loop(
    net: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    bs: int,
    lr: float,
    device: str = "cpu",
    precision: str = "auto",
) -> float:
    """Samples/s of a textbook loop: shuffle, batch, forward under autocast, backward, step."""
    dev = torch.device(device)
    dtype = plain_dtype(device, precision)
    net = net.to(dev, memory_format=torch.channels_last)
    x, y = x.to(dev), y.to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
    steps = -(-len(y) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    scaler = torch.amp.GradScaler(dev.type) if dtype == torch.float16 else None
    gen = torch.Generator().manual_seed(0)
    net.train()
    sync()
    t0 = time.perf_counter()
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=gen).to(dev).split(bs):
            xb = x.index_select(0, idx).contiguous(memory_format=torch.channels_last)
            yb = y.index_select(0, idx)
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
                loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            sched.step()
    sync()
    return epochs * len(y) / (time.perf_counter() - t0)


def trainer_loop(
    net: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    bs: int,
    lr: float,
    device: str = "cpu",
    precision: str = "auto",
    picked: list[str] | None = None,
) -> float:
    """Samples/s of NASBoard's Trainer.fit (no validation, no augmentation); appends its dtype to `picked`."""
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=bs,
        lr=lr,
        weight_decay=WEIGHT_DECAY,
        optimizer="adamw",
        schedule="onecycle",
        precision=precision,  # type: ignore[arg-type]
    )
    trainer = Trainer(net, cfg, n_classes=int(y.max()) + 1, device=device)
    if picked is not None:
        picked.append(dtype_name(trainer.amp_dtype))
    x, y = x.to(device), y.to(device)
    sync()
    t0 = time.perf_counter()
    run = trainer.fit(x, y)
    sync()
    assert run.status == "done", run.reason
    return epochs * len(y) / (time.perf_counter() - t0)


def dtype_name(dtype: torch.dtype | None) -> str:
    return "fp32" if dtype is None else str(dtype).removeprefix("torch.")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--samples", type=int, default=10_000, help="Fashion-MNIST subset (before the val split)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="both loops")
    ap.add_argument("--synthetic", type=int, default=0, help="N random 1x28x28 samples instead of a dataset")
    ap.add_argument("--check", action="store_true", help=f"exit 1 when the ratio is below {GOAL}")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    fmnist = Path("/usr/share/datasets/fashion-mnist").is_dir()
    if args.synthetic:  # same compute per sample as Fashion-MNIST; labels do not matter for speed
        name, g = "synthetic-1x28x28", torch.Generator().manual_seed(0)
        x, y = (
            torch.randn(args.synthetic, 1, 28, 28, generator=g),
            torch.randint(0, 10, (args.synthetic,), generator=g),
        )
    else:
        name = "fashion-mnist" if fmnist else "digits"
        data = load_dataset(DatasetSpec(name=name, train_subset=args.samples if fmnist else None))
        x, y = data.x_train, data.y_train
    base = make_net(x.shape[1], int(y.max()) + 1)
    run = (args.epochs, args.batch_size, LR, args.device, args.precision)
    picked: list[str] = []
    plain_loop(copy.deepcopy(base), x[:512], y[:512], 1, *run[1:])  # warm-up (kernels, allocator)
    trainer_loop(copy.deepcopy(base), x[:512], y[:512], 1, *run[1:], picked=picked)
    plain, ours = [], []
    for r in range(args.repeats):
        for side in ("plain", "trainer") if r % 2 == 0 else ("trainer", "plain"):
            if side == "plain":
                plain.append(plain_loop(copy.deepcopy(base), x, y, *run))
            else:
                ours.append(trainer_loop(copy.deepcopy(base), x, y, *run, picked=picked))
    ratio = statistics.median(ours) / statistics.median(plain)
    plain_prec = dtype_name(plain_dtype(args.device, args.precision))
    same_precision = set(picked) == {plain_prec}
    met = ratio >= GOAL and same_precision
    out = {
        "dataset": name,
        "samples": len(y),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "device": args.device,
        "cpu_bf16_flags": sorted(cpu_flags() & {"amx_bf16", "avx512_bf16"}),
        "precision_plain": plain_prec,
        "precision_trainer": sorted(set(picked)),
        "plain_samples_per_s": [round(v, 1) for v in plain],
        "trainer_samples_per_s": [round(v, 1) for v in ours],
        "plain_median": round(statistics.median(plain), 1),
        "trainer_median": round(statistics.median(ours), 1),
        "ratio_trainer_over_plain": round(ratio, 3),
        "goal": f">= {GOAL}",
        "goal_met": met,
    }
    print(json.dumps(out, indent=2))
    if not same_precision:
        print(f"precisions differ (plain {plain_prec}, trainer {sorted(set(picked))}): not like for like")
    print(f"trainer / plain = {ratio:.3f} — goal >= {GOAL}: {'met' if met else 'NOT met'}")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
