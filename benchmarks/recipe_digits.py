"""Does searching the recipe pay on a small budget? benchmarks/digits_quick.yaml as it is (lr fixed at 0.01,
batch 64) against the same spec with lr and batch_size searched, over several seeds: test accuracy of the
final model and wall time. One torch thread, so runs on a shared machine compare.

    PYTHONPATH=. python benchmarks/recipe_digits.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from worker.nas.runner import run_local_search  # noqa: E402
from worker.nas.sink import MemorySink  # noqa: E402
from worker.nas.spec import parse_spec  # noqa: E402

BASE = yaml.safe_load((Path(__file__).parent / "digits_quick.yaml").read_text())
SEARCHED = {"lr": {"log_uniform": [0.001, 0.1]}, "batch_size": {"choices": [32, 64, 128]}}


def run(raw: dict, seed: int) -> tuple[float, float, dict]:
    t0 = time.monotonic()
    summary = run_local_search(parse_spec({**raw, "seed": seed}), MemorySink())
    best = summary["best"]
    return best["test_accuracy"], time.monotonic() - t0, best["genome"].get("recipe") or {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    variants = {
        "fixed (lr 0.01, batch 64)": BASE,
        "searched (lr log-uniform 1e-3..1e-1, batch 32/64/128)": {
            **BASE,
            "training": {**BASE["training"], **SEARCHED},
        },
    }
    for name, raw in variants.items():
        accs, secs = [], []
        for seed in range(args.seeds):
            acc, sec, recipe = run(raw, seed)
            accs.append(acc)
            secs.append(sec)
            print(f"  {name} seed {seed}: test {acc:.4f} in {sec:.1f} s {recipe}", flush=True)
        print(
            f"{name}: test accuracy {statistics.fmean(accs):.4f} ± {statistics.stdev(accs):.4f}, "
            f"{statistics.fmean(secs):.1f} s per search"
        )


if __name__ == "__main__":
    main()
