"""Compound scaling against width-only and depth-only scaling at about 2x and 4x FLOPs (issue 20).

The base is the network runs 3 and 7 of `benchmarks/fashion_mnist_60min.yaml` picked (532,618 params,
25.3 MFLOPs; `GENOMES` in fashion_mnist_epoch_cost.py), in that spec's `layers` space. For each factor the
`scaled` space (worker/nas/spaces/scaled.py) gives three networks of about factor x its FLOPs:

- compound: the `scaled` space's band points that grow at least two of width, depth and resolution, the
  `--compound-tries` closest to the target FLOPs; with more than one, the best on validation is taken (a
  small compound search; 1 = EfficientNet-style grid pick);
- width-only and depth-only: the point of that axis's grid closest to the target FLOPs.

All are trained with the same recipe (the spec's optimiser, lr, schedule, label smoothing, precision, seed;
`--epochs` on the first `--train` training images, no augmentation) and tested on the whole test set.
`--check` exits 1 unless the compound network tests higher than both others at every factor.

    .venv/bin/python benchmarks/compound_scaling.py [--factors 2 4] [--epochs 3] [--train 6000] \
        [--val 2000] [--compound-tries 1] [--threads 1] [--data-dir DIR] [--json] [--check]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fashion_mnist_epoch_cost import GENOMES  # noqa: E402

from worker.nas.evaluation import cpu_features  # noqa: E402
from worker.nas.evaluation.datasets import load_dataset  # noqa: E402
from worker.nas.evaluation.trainer import TrainConfig, Trainer  # noqa: E402
from worker.nas.spaces import make_space  # noqa: E402
from worker.nas.spec import parse_spec  # noqa: E402
from worker.nas.types import TaskShape  # noqa: E402

SPEC = Path(__file__).resolve().parent / "fashion_mnist_60min.yaml"
BASE = "c32-c64s2-c96k5s2-p-c128k5s2-c32s2-c96k1-c48k1-d128 (runs 3, 7)"
IDENTITY = {"width": 1.0, "depth": 1.0, "resolution": 1.0}


def closest(space, points: list[dict], target: float, k: int = 1) -> list[dict]:
    """The k points whose FLOPs are nearest the target (relative), the more balanced first on ties."""

    def key(g: dict) -> tuple[float, float]:
        spread = max(g.values()) / min(g.values())
        return abs(math.log(space.cost(g)["flops"] / target)), spread

    return sorted(points, key=key)[:k]


def contenders(space, factor: float, tries: int) -> dict[str, list[dict]]:
    target = factor * space.base_cost()["flops"]
    grid = space.grid
    compound = [g for g in space.band if sum(v > 1.0 for v in g.values()) >= 2]
    only = {
        axis: [g for g in grid if all(v == 1.0 for a, v in g.items() if a != axis) and g[axis] > 1.0]
        for axis in ("width", "depth")
    }
    return {
        "compound": closest(space, compound, target, tries),
        "width-only": closest(space, only["width"], target),
        "depth-only": closest(space, only["depth"], target),
    }


def train(space, genome: dict, spec, splits, args) -> dict:
    torch.manual_seed(spec.seed)
    model = space.build(genome)
    cfg = TrainConfig.from_spec(spec.training, seed=spec.seed, epochs=args.epochs)
    trainer = Trainer(model, cfg, n_classes=splits.n_classes, device="cpu")
    t0 = time.monotonic()
    trainer.fit(splits.x_train[: args.train], splits.y_train[: args.train])
    seconds = time.monotonic() - t0
    val = trainer.evaluate(splits.x_val[: args.val], splits.y_val[: args.val])["accuracy"]
    test = trainer.evaluate(splits.x_test, splits.y_test)["accuracy"]
    cost = space.cost(genome)
    return {
        "genome": genome,
        "label": space.describe(genome),
        "flops": cost["flops"],
        "params": cost["params"],
        "val_accuracy": round(val, 4),
        "test_accuracy": round(test, 4),
        "train_seconds": round(seconds, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factors", type=float, nargs="+", default=[2.0, 4.0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train", type=int, default=6000, help="training images (the first n of the split)")
    ap.add_argument("--val", type=int, default=2000, help="validation images the compound pick uses")
    ap.add_argument("--compound-tries", type=int, default=1, help="compound points trained per factor")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true", help="exit 1 unless compound beats both at every factor")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    spec = parse_spec(yaml.safe_load(SPEC.read_text()))
    splits = load_dataset(spec.dataset, args.data_dir, seed=spec.seed)
    task = TaskShape(splits.input_shape, splits.n_classes)
    base_options = {k: v for k, v in spec.space.options_dict().items()}
    report: dict = {
        "cpu": cpu_features.describe(),
        "threads": args.threads,
        "base": BASE,
        "recipe": {
            "epochs": args.epochs,
            "train_images": args.train,
            "optimizer": spec.training.optimizer,
            "lr": spec.training.lr,
            "schedule": spec.training.schedule,
            "precision": spec.training.precision,
        },  # fmt: skip
        "factors": {},
    }
    ok = True
    reference = None
    for factor in args.factors:
        options = {
            "base_space": "layers",
            "base_options": base_options,
            "base_genome": {"layers": GENOMES[BASE]},
        }
        space = make_space("scaled", {**options, "factor": factor, "min_share": 0.8}, task)
        if reference is None:
            reference = train(space, IDENTITY, spec, splits, args)
            report["reference"] = reference
            print(f"base: {reference['label']} {reference['flops'] / 1e6:.1f} MFLOPs "
                  f"test {reference['test_accuracy']:.4f}", flush=True)  # fmt: skip
        rows: dict[str, dict] = {}
        for name, points in contenders(space, factor, args.compound_tries).items():
            runs = [train(space, g, spec, splits, args) for g in points]
            best = max(runs, key=lambda r: r["val_accuracy"])
            best["tried"] = len(runs)
            rows[name] = best
            ratio = best["flops"] / reference["flops"]
            print(f"{factor:g}x {name:10s} {best['label']:60s} {ratio:.2f}x FLOPs "
                  f"val {best['val_accuracy']:.4f} test {best['test_accuracy']:.4f} "
                  f"({best['train_seconds']:.0f} s)", flush=True)  # fmt: skip
        wins = all(
            rows["compound"]["test_accuracy"] > rows[o]["test_accuracy"] for o in ("width-only", "depth-only")
        )
        ok &= wins
        report["factors"][f"{factor:g}"] = {"rows": rows, "compound_wins": wins}
    report["goal_met"] = ok
    if args.json:
        print(json.dumps(report))
    print(f"compound tests higher than width-only and depth-only at every factor: {'yes' if ok else 'no'}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
