"""Train fixed `layers` genomes with a spec's final recipe (train+val, augmentation) and report test accuracy.

Used to check, on a fast machine, that a spec's final recipe can reach its accuracy goal with the kind
of network its search space yields (accuracy barely depends on the device; time does).

    .venv/bin/python benchmarks/final_recipe_check.py benchmarks/fashion_mnist_60min.yaml \
        [--genomes NAME ...] [--epochs N] [--repeats N] [--seed N] [--device cuda] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fashion_mnist_epoch_cost import GENOMES, SMALL_GENOMES  # noqa: E402

ALL = {**GENOMES, **SMALL_GENOMES}
KEPT = ("test_accuracy", "test_accuracy_std", "runs")

from worker.nas.evaluation.datasets import load_dataset  # noqa: E402
from worker.nas.evaluation.final import final_train  # noqa: E402
from worker.nas.evaluation.metrics import count_flops, count_params  # noqa: E402
from worker.nas.factory import make_space  # noqa: E402
from worker.nas.spec import parse_spec  # noqa: E402
from worker.nas.types import TaskShape  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec")
    ap.add_argument("--genomes", nargs="*", default=list(GENOMES), help=f"from: {', '.join(ALL)}")
    ap.add_argument("--epochs", type=int, default=None, help="override final.epochs")
    ap.add_argument("--repeats", type=int, default=None, help="override final.repeats (seed+1000, ...)")
    ap.add_argument("--seed", type=int, default=None, help="override the spec's seed (0 in ours)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    raw = yaml.safe_load(Path(args.spec).read_text())
    if args.epochs:
        raw.setdefault("final", {})["epochs"] = args.epochs
    if args.repeats:
        raw.setdefault("final", {})["repeats"] = args.repeats
    if args.seed is not None:
        raw["seed"] = args.seed
    spec = parse_spec(raw)
    splits = load_dataset(spec.dataset, args.data_dir, seed=spec.seed)
    space = make_space(spec, TaskShape(splits.input_shape, splits.n_classes))
    for name in args.genomes:
        genome = space.validate({"layers": ALL[name]})
        t0 = time.monotonic()
        rep = final_train(spec, space, splits, genome, device=args.device)
        model = space.build(genome)
        print(
            json.dumps(
                {
                    "genome": name,
                    "params": count_params(model),
                    "mflops": round(count_flops(model, splits.input_shape) / 1e6, 2),
                    "epochs": rep.epochs,
                    "augment": spec.dataset.augment,
                    "seconds": round(time.monotonic() - t0, 1),
                    **{k: v for k, v in rep.summary().items() if k in KEPT},
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
