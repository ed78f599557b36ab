"""Training throughput of NASBoard's trainer against a plain PyTorch loop on the same network and data.

Both train the same CNN (same initial weights, AdamW + one-cycle, same batch size) on the same in-memory
tensors; the plain loop is the textbook `for idx in randperm: forward, backward, step`, with the same
autocast dtype and channels_last layout the trainer picks (`--precision fp32` compares fp32 loops).
Runs alternate (plain, trainer, plain, ...) so drift in machine load hits both; the median of the
repeats is reported.

    .venv/bin/python benchmarks/trainer_throughput.py [--samples 10000] [--epochs 1] [--repeats 3] \
        [--precision auto|fp32|bf16]
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
from worker.nas.evaluation.trainer import TrainConfig, Trainer, autocast_dtype  # noqa: E402
from worker.nas.spec import DatasetSpec  # noqa: E402


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
    """The textbook loop, with the autocast dtype and channels_last layout the trainer uses."""
    dtype = autocast_dtype(torch.device(device), precision)
    net = net.to(device, memory_format=torch.channels_last)
    x, y = x.to(device), y.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    steps = -(-len(y) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    gen = torch.Generator().manual_seed(0)
    net.train()
    sync()
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=gen).to(device)
        for i in range(steps):
            idx = perm[i * bs : (i + 1) * bs]
            xb = x[idx].contiguous(memory_format=torch.channels_last)
            with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None):
                loss = F.cross_entropy(net(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    sync()
    return epochs * len(y) / (time.perf_counter() - t0)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def trainer_loop(
    net: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    bs: int,
    lr: float,
    device: str = "cpu",
    precision: str = "auto",
) -> float:
    cfg = TrainConfig(
        epochs=epochs, batch_size=bs, lr=lr, optimizer="adamw", schedule="onecycle", precision=precision
    )
    trainer = Trainer(net, cfg, n_classes=int(y.max()) + 1, device=device)
    x, y = x.to(device), y.to(device)
    sync()
    t0 = time.perf_counter()
    run = trainer.fit(x, y)  # no validation: the loop itself is what is compared
    sync()
    assert run.status == "done", run.reason
    return epochs * len(y) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="both loops")
    ap.add_argument("--synthetic", type=int, default=0, help="N random 1x28x28 samples instead of a dataset")
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
    plain, ours = [], []
    run = (args.epochs, args.batch_size, 3e-3, args.device, args.precision)
    trainer_loop(copy.deepcopy(base), x[:512], y[:512], 1, *run[1:])  # warm-up (kernels, allocator)
    for _ in range(args.repeats):
        plain.append(plain_loop(copy.deepcopy(base), x, y, *run))
        ours.append(trainer_loop(copy.deepcopy(base), x, y, *run))
    out = {
        "dataset": name,
        "samples": len(y),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "device": args.device,
        "autocast": str(autocast_dtype(torch.device(args.device), args.precision) or "fp32"),
        "plain_samples_per_s": [round(v, 1) for v in plain],
        "trainer_samples_per_s": [round(v, 1) for v in ours],
        "plain_median": round(statistics.median(plain), 1),
        "trainer_median": round(statistics.median(ours), 1),
        "ratio_trainer_over_plain": round(statistics.median(ours) / statistics.median(plain), 3),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
