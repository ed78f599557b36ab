"""Static (calibrated QDQ) against dynamic int8 quantisation for `vit` networks, to choose
`deployment.int8_method`'s default for transformers.

Samples `--genomes` genomes of the default `vit` space (seeds 0, 1, ...), trains each briefly on a
Fashion-MNIST subset and quantises it both ways with worker/nas/evaluation/int8.py, on one thread.

    .venv/bin/python benchmarks/int8_vit_methods.py [--genomes 2] [--train 4000] [--epochs 2] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker.nas.evaluation import cpu_features  # noqa: E402
from worker.nas.evaluation.datasets import load_dataset  # noqa: E402
from worker.nas.evaluation.int8 import int8_report  # noqa: E402
from worker.nas.evaluation.trainer import TrainConfig, Trainer  # noqa: E402
from worker.nas.factory import make_space  # noqa: E402
from worker.nas.spec import parse_spec  # noqa: E402
from worker.nas.types import TaskShape  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genomes", type=int, default=2)
    ap.add_argument("--train", type=int, default=4000, help="training images")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec = parse_spec(
        {"space": {"type": "vit"}, "dataset": {"name": "fashion-mnist", "train_subset": args.train}}
    )
    splits = load_dataset(spec.dataset, args.data_dir, seed=0)
    space = make_space(spec, TaskShape(splits.input_shape, splits.n_classes))
    rows = []
    for seed in range(args.genomes):
        genome = space.sample(random.Random(seed))
        torch.manual_seed(0)
        model = space.build(genome)
        cfg = TrainConfig(epochs=args.epochs)
        Trainer(model, cfg, n_classes=splits.n_classes, device="cpu").fit(splits.x_train, splits.y_train)
        model.eval()
        row = {"genome": space.describe(genome), "params": sum(p.numel() for p in model.parameters())}
        for method in ("static", "dynamic"):
            m = int8_report(
                model,
                splits.input_shape,
                splits.x_train[:512],
                splits.x_test[:2000],
                splits.y_test[:2000],
                method=method,
                threads=1,
            ).metrics
            row[method] = {
                k: round(m[k], 4)
                for k in (
                    "ort_accuracy",
                    "int8_accuracy",
                    "latency_ms_ort",
                    "latency_ms_int8",
                    "int8_speedup",
                )
            }
        rows.append(row)
    print(json.dumps({"cpu": cpu_features.describe(), "networks": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
