"""Train fixed `layers` genomes with a spec's final recipe (train+val, augmentation) and report test accuracy.

Used to check, on a fast machine, that a spec's final recipe can reach its accuracy goal with the kind
of network its search space yields (accuracy barely depends on the device; time does).

    .venv/bin/python benchmarks/final_recipe_check.py benchmarks/fashion_mnist_60min.yaml \
        [--genomes NAME ...] [--epochs N] [--repeats N] [--seed N] [--device cuda] [--data-dir DIR] \
        [--check] [--goal ACC]

Goals: the spec's accuracy goal, from its header (fashion-mnist-60min: test accuracy >= 0.940;
fashion-mnist-small-mo: >= 0.920 with <= 25,000 params), or `--goal`. Each genome's line says whether it
met it (with `--repeats`, the mean over the seeds is what counts); `--check` exits 1 when any genome
missed. The 60-minute goal's time limit is the whole search's, not checked here.
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
# spec name -> (least test accuracy, most params or None), as the specs' headers state them
GOALS: dict[str, tuple[float, int | None]] = {
    "fashion-mnist-60min": (0.940, None),
    "fashion-mnist-small-mo": (0.920, 25_000),
}

from worker.nas.evaluation.datasets import load_dataset  # noqa: E402
from worker.nas.evaluation.final import final_train  # noqa: E402
from worker.nas.evaluation.metrics import count_flops, count_params  # noqa: E402
from worker.nas.factory import make_space  # noqa: E402
from worker.nas.spec import parse_spec  # noqa: E402
from worker.nas.types import TaskShape  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec")
    ap.add_argument("--genomes", nargs="*", default=list(GENOMES), help=f"from: {', '.join(ALL)}")
    ap.add_argument("--epochs", type=int, default=None, help="override final.epochs")
    ap.add_argument("--repeats", type=int, default=None, help="override final.repeats (seed+1000, ...)")
    ap.add_argument("--seed", type=int, default=None, help="override the spec's seed (0 in ours)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--goal", type=float, default=None, help="least test accuracy (default: the spec's)")
    ap.add_argument("--check", action="store_true", help="exit 1 when a genome misses the goal")
    args = ap.parse_args()
    raw = yaml.safe_load(Path(args.spec).read_text())
    if args.epochs:
        raw.setdefault("final", {})["epochs"] = args.epochs
    if args.repeats:
        raw.setdefault("final", {})["repeats"] = args.repeats
    if args.seed is not None:
        raw["seed"] = args.seed
    spec = parse_spec(raw)
    least, most_params = GOALS.get(spec.name, (None, None))
    if args.goal is not None:
        least = args.goal
    if args.check and least is None:
        ap.error(f"--check: no known goal for spec {spec.name!r}; give one with --goal")
    missed = []
    splits = load_dataset(spec.dataset, args.data_dir, seed=spec.seed)
    space = make_space(spec, TaskShape(splits.input_shape, splits.n_classes))
    for name in args.genomes:
        genome = space.validate({"layers": ALL[name]})
        t0 = time.monotonic()
        rep = final_train(spec, space, splits, genome, device=args.device)
        model = space.build(genome)
        params, acc = count_params(model), rep.summary()["test_accuracy"]
        met = None
        if least is not None:
            met = acc is not None and acc >= least and (most_params is None or params <= most_params)
            if not met:
                missed.append(name)
        print(
            json.dumps(
                {
                    "genome": name,
                    "params": params,
                    "mflops": round(count_flops(model, splits.input_shape) / 1e6, 2),
                    "epochs": rep.epochs,
                    "augment": spec.dataset.augment,
                    "seconds": round(time.monotonic() - t0, 1),
                    **{k: v for k, v in rep.summary().items() if k in KEPT},
                    "goal": None if least is None else {"test_accuracy": least, "max_params": most_params},
                    "goal_met": met,
                }
            ),
            flush=True,
        )
    if least is not None:
        print(
            f"goal test accuracy >= {least}"
            + (f", <= {most_params:,} params" if most_params else "")
            + (f": missed by {', '.join(missed)}" if missed else ": met by every genome")
        )
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
