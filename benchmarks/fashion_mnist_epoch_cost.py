"""Seconds per Fashion-MNIST epoch for a few `layers` genomes, to plan the 60-minute benchmark.

Trains each genome for one pass over a slice (default 4096 samples, after a warm-up) with the real
trainer and prints samples/s and the implied seconds for one epoch of 54,000 (search) and 60,000 (final)
samples, plus params and FLOPs. Numbers depend on machine load: run it on a quiet machine.
A measuring tool: it states no goal and has no `--check` (its figures plan the specs' budgets).

    .venv/bin/python benchmarks/fashion_mnist_epoch_cost.py [--samples 4096] [--threads 2] \
        [--precision auto|fp32|bf16] [--augment] [--set large|small|all]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker.nas.evaluation.augment import Augmenter  # noqa: E402
from worker.nas.evaluation.datasets import load_dataset  # noqa: E402
from worker.nas.evaluation.metrics import count_flops, count_params  # noqa: E402
from worker.nas.evaluation.trainer import TrainConfig, Trainer  # noqa: E402
from worker.nas.spaces.layers import LayersOptions, LayersSpace  # noqa: E402
from worker.nas.spec import DatasetSpec  # noqa: E402
from worker.nas.types import TaskShape  # noqa: E402


def conv(f: int, stride: int = 1, **kw) -> dict:
    return {"type": "conv", "filters": f, "stride": stride, **kw}


POOL = {"type": "pool", "kind": "max"}
GENOMES = {
    "two-full-res-32 (reference)": [
        conv(32),
        conv(32),
        POOL,
        conv(64),
        conv(64),
        POOL,
        {"type": "dense", "units": 128},
    ],
    "c32-p-c64-p-c128-p": [conv(32), POOL, conv(64), POOL, conv(128), POOL, {"type": "dense", "units": 128}],
    "c32s2-c64-p-c128-p": [conv(32, 2), conv(64), POOL, conv(128), POOL, {"type": "dense", "units": 128}],
    "c64-p-c128-c128-p-c256-p": [conv(64), POOL, conv(128), conv(128), POOL, conv(256), POOL],
    "c24-p-c48-p-c96 (small)": [conv(24), POOL, conv(48), POOL, conv(96), POOL],
    # what the first full run of fashion_mnist_60min.yaml found (39 MFLOPs, like the reference)
    "c96-c24-c48s2-d64 (found)": [
        conv(96),
        conv(24),
        conv(48, 2),
        {"type": "dense", "units": 64, "activation": "silu"},
    ],
    # what runs 3 and 7 of fashion_mnist_60min.yaml picked on AMX machines (532,618 params, 25.3 MFLOPs)
    "c32-c64s2-c96k5s2-p-c128k5s2-c32s2-c96k1-c48k1-d128 (runs 3, 7)": [
        conv(32),
        conv(64, 2, activation="silu"),
        conv(96, 2, kernel=5),
        POOL,
        conv(128, 2, kernel=5, activation="silu"),
        conv(32, 2, activation="silu"),
        conv(96, kernel=1, activation="silu"),
        conv(48, kernel=1, activation="silu"),
        {"type": "dense", "units": 128},
    ],
}

# Candidates of the small multi-objective benchmark (<= 25,000 parameters with the flatten head).
SMALL_GENOMES = {
    "s-c16-p-c32-p-c32-p": [conv(16), POOL, conv(32), POOL, conv(32), POOL],
    "s-c24-p-c32-p-c32-p": [conv(24), POOL, conv(32), POOL, conv(32), POOL],
    "s-c16-p-c32-p-c48-p-d": [
        conv(16),
        POOL,
        conv(32),
        POOL,
        conv(48, separable=True),
        POOL,
        {"type": "dropout", "rate": 0.1},
    ],
    # two convs at full resolution: ~3x the FLOPs of the ones above at 26-27k params (just over the cap)
    "s-c24-c24-p-c32-p-c32-p": [conv(24), conv(24), POOL, conv(32), POOL, conv(32), POOL],
    "s-c16-c32-p-c48-p-p": [conv(16), conv(32), POOL, conv(48), POOL, POOL],
    # for a `gap` head (final_recipe_check with the small-MO spec): 21,562 params, 4.5 MFLOPs
    "s-gap-c32-p-sep64x2-p-sep80x2": [
        conv(32),
        POOL,
        conv(64, separable=True),
        conv(64, separable=True),
        POOL,
        conv(80, separable=True),
        conv(80, separable=True),
    ],
    # the small-MO search's best by validation in runs 8 and 9 (24,538 params, 5.4 MFLOPs, gap head)
    "s-gap-c80-p-sep80-p-sep96-sep64": [
        conv(80),
        POOL,
        conv(80, separable=True),
        POOL,
        conv(96, separable=True),
        conv(64, separable=True),
    ],
    # picked by small-MO run 10 (22,442 params, 2.7 MFLOPs, gap head): test 0.9217 after 50 epochs
    "s-gap-c48-p-p-sep64-sep80x2-sep48": [
        conv(48),
        POOL,
        POOL,
        conv(64, separable=True),
        conv(80, separable=True),
        conv(80, separable=True),
        conv(48, separable=True),
    ],
    # picked by small-MO run 11 (17,226 params, 2.9 MFLOPs, gap head): test 0.9179 after 64 epochs
    "s-gap-c96-p-p-sep64x2-sep48": [
        conv(96),
        POOL,
        POOL,
        conv(64, separable=True),
        conv(64, separable=True),
        conv(48, separable=True),
    ],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--head", default="flatten", choices=["gap", "flatten"])
    ap.add_argument("--data-dir", default=None, help="directory holding fashion-mnist/ IDX files")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--augment", action="store_true", help="with the final training's augmentation")
    ap.add_argument("--set", default="large", choices=["large", "small", "all"], help="which genomes")
    args = ap.parse_args()
    genomes = {"large": GENOMES, "small": SMALL_GENOMES, "all": {**GENOMES, **SMALL_GENOMES}}[args.set]
    torch.set_num_threads(args.threads)
    data = load_dataset(DatasetSpec(name="fashion-mnist", train_subset=args.samples + 512), args.data_dir)
    options = LayersOptions(head=args.head, filters=[24, 32, 48, 64, 96, 128, 256], max_depth=12)
    space = LayersSpace(options, TaskShape(data.input_shape, data.n_classes))
    rows = []
    for name, layers in genomes.items():
        genome = space.validate({"layers": layers})
        torch.manual_seed(0)
        model = space.build(genome)
        cfg = TrainConfig(epochs=2, batch_size=128, precision=args.precision)
        cpu = torch.device("cpu")
        aug = Augmenter(data.input_shape, flip=True, seed=0, device=cpu) if args.augment else None
        trainer = Trainer(model, cfg, n_classes=10, device="cpu", augment=aug)
        trainer.fit(data.x_train[:512], data.y_train[:512], until_epoch=1)  # warm-up
        t0 = time.perf_counter()
        trainer.fit(data.x_train[: args.samples], data.y_train[: args.samples], until_epoch=2)
        sps = args.samples / (time.perf_counter() - t0)
        rows.append(
            {
                "genome": name,
                "params": count_params(model),
                "mflops": round(count_flops(model, data.input_shape) / 1e6, 2),
                "precision": str(trainer.amp_dtype or "fp32").replace("torch.", ""),
                "augment": args.augment,
                "train_samples_per_s": round(sps, 1),
                "s_per_epoch_54k": round(54_000 / sps, 1),
                "s_per_epoch_60k": round(60_000 / sps, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
