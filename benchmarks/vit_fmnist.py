"""Issue 18 item 5: does the `vit` search find a network that tests at least as high as a hand-designed small
ViT (patch 4, depth 6, 4 heads, width 64, MLP ratio 2, class token) at <= 0.5x its ONNX Runtime batch-1
latency, under the same final recipe?

Three steps (benchmarks/fashion_mnist_vit.yaml says the whole procedure):

    .venv/bin/python benchmarks/vit_fmnist.py --bound
        times the hand-designed ViT in ONNX Runtime and prints half its batch-1 latency: the spec's
        constraints.max_latency_ms_ort on this machine;
    nasboard up  +  nasboard submit benchmarks/fashion_mnist_vit.yaml --follow
        the search, through the service (its front is on the search page);
    .venv/bin/python benchmarks/vit_fmnist.py --search-id N [--data-dir DIR] [--baseline FILE] [--check]
        trains the hand-designed ViT with the stored search's own spec and final recipe (final_train: the
        same code, seed, epochs, augmentation as the search's final stage) and tests it; then times both
        networks' ONNX exports in this one process, alternating, and compares. `--baseline FILE` keeps the
        hand-designed ViT's figures (written once, read afterwards; `--baseline-only` just writes it, so it
        can train while the search runs).

`--check` exits 1 unless the found network's test accuracy >= the hand-designed one's and its latency
<= 0.5x. `--threads` (default: all cores) is the ONNX Runtime and torch thread count, as a worker uses.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker.nas.evaluation import cpu_features  # noqa: E402
from worker.nas.evaluation.ort_latency import batch1_latency_ms, make_session, onnx_bytes  # noqa: E402
from worker.nas.spaces import make_space  # noqa: E402
from worker.nas.spec import parse_spec  # noqa: E402
from worker.nas.types import TaskShape  # noqa: E402

SPEC = Path(__file__).resolve().parent / "fashion_mnist_vit.yaml"
HAND_DESIGNED = {
    "stem": {"type": "patch", "patch": 4},
    "dim": 64,
    "blocks": [{"mixer": "attention", "heads": 4, "mlp_ratio": 2}] * 6,
    "pool": "cls",
    "dropout": 0.0,
}
RATIO = 0.5
# the hand-designed side's figures in the comparison (test accuracy: the mean over final.repeats seeds)
HAND_FIELDS = (
    "describe",
    "test_accuracy",
    "test_accuracy_std",
    "test_accuracies",
    "epochs",
    "params",
    "flops",
)


def latency(space: Any, genome: dict, threads: int) -> float:
    """Batch-1 ONNX Runtime latency (ms) of the genome's net, by the worker's own `batch1_latency_ms`."""
    shape = space.task.input_shape
    session = make_session(onnx_bytes(space.build(genome).eval(), shape), threads=threads)
    return batch1_latency_ms(session, shape)


def alternating(nets: dict[str, tuple[Any, dict]], threads: int, rounds: int) -> dict[str, float]:
    """Median over `rounds` of each (space, genome)'s latency, timed in turn so load changes hit all alike."""
    seen: dict[str, list[float]] = {k: [] for k in nets}
    for _ in range(rounds):
        for name, (space, g) in nets.items():
            seen[name].append(latency(space, g, threads))
    return {k: statistics.median(v) for k, v in seen.items()}


def seeds(side: dict[str, Any]) -> str:
    """'mean ± std (each seed's)' of a side's test accuracy, or the one figure."""
    accs = side.get("test_accuracies") or []
    if len(accs) < 2:
        return f"{side['test_accuracy']:.4f}"
    each = ", ".join(f"{a:.4f}" for a in accs)
    return f"{side['test_accuracy']:.4f} ± {side.get('test_accuracy_std') or 0:.4f} ({each})"


def stored_search(search_id: int, data_dir: str | None) -> tuple[dict, dict]:
    """The search's spec document and summary, read from the service's database."""
    from backend.cli.service import apply_data_dir
    from backend.db import repository as repo
    from backend.db.session import session_scope
    from backend.settings import get_settings

    apply_data_dir(data_dir)
    with session_scope(get_settings()) as s:
        search = repo.get_search(s, search_id)
        if search.status != "completed" or not (search.summary or {}).get("best"):
            raise SystemExit(f"search {search_id} is {search.status}, without a final result yet")
        return dict(search.spec), dict(search.summary)


def final_recipe(spec_doc: dict) -> dict[str, Any]:
    """What final_train uses of a spec (not the search-only epochs and data fraction): a kept baseline
    counts only for a search with the same."""
    spec = parse_spec(spec_doc)
    training = spec.training.model_dump(mode="json", exclude={"epochs", "data_fraction"})
    data = spec.dataset.model_dump(mode="json", include={"name", "augment", "erasing", "validation_fraction"})
    final = spec.final.model_dump(mode="json")
    return {"training": training, "dataset": data, "final": final, "seed": spec.seed}


def train_hand_designed(spec_doc: dict, data_dir: str | None) -> dict[str, Any]:
    """The hand-designed ViT through final_train with the spec's final recipe; its test figures."""
    from worker.nas.evaluation.datasets import load_dataset
    from worker.nas.evaluation.final import final_train

    spec = parse_spec(spec_doc)
    splits = load_dataset(spec.dataset, data_dir, seed=spec.seed)
    # The default options allow its 6 blocks whatever the searched space's max_blocks.
    space = make_space("vit", {}, TaskShape(input_shape=splits.input_shape, n_classes=splits.n_classes))
    t0 = time.monotonic()
    report = final_train(spec, space, splits, HAND_DESIGNED)
    summ = report.summary()
    return {
        "genome": HAND_DESIGNED,
        "describe": space.describe(HAND_DESIGNED),
        "test_accuracy": summ["test_accuracy"],  # the mean over final.repeats seeds
        "test_accuracy_std": summ["test_accuracy_std"],
        "test_accuracies": [r.get("test_accuracy") for r in report.runs],
        "epochs": report.runs[0].get("epochs"),
        "seconds": round(time.monotonic() - t0, 1),
        "recipe": final_recipe(spec_doc),
        **space.cost(HAND_DESIGNED),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bound", action="store_true", help="print half the hand-designed ViT's latency")
    p.add_argument("--search-id", type=int)
    p.add_argument("--data-dir", default=None, help="the service's data dir (as given to nasboard up)")
    p.add_argument("--dataset-dir", default=None, help="where datasets are read (default: the settings')")
    p.add_argument("--baseline", type=Path, help="JSON file of the hand-designed ViT's trained figures")
    p.add_argument("--baseline-only", action="store_true", help="train the hand-designed ViT only")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--rounds", type=int, default=7, help="alternating latency rounds")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    machine = {"cpu": cpu_features.describe(), "threads": args.threads}

    if args.bound:
        space = make_space("vit", {}, TaskShape())
        ms = alternating({"hand": (space, HAND_DESIGNED)}, args.threads, args.rounds)["hand"]
        print(f"hand-designed ViT {space.describe(HAND_DESIGNED)}: {ms:.3f} ms batch 1 ({machine})")
        print(f"constraints.max_latency_ms_ort: {RATIO * ms:.3f}")
        return 0

    if args.baseline_only:
        if args.baseline is None:
            p.error("--baseline-only needs --baseline FILE")
        doc = yaml.safe_load(SPEC.read_text())
        base = train_hand_designed(doc, args.dataset_dir)
        args.baseline.write_text(json.dumps({**base, "machine": machine}, indent=2))
        print(json.dumps(base))
        return 0

    if args.search_id is None:
        p.error("give --bound, --baseline-only or --search-id")
    spec_doc, summary = stored_search(args.search_id, args.data_dir)
    best = summary["best"]
    if args.baseline is not None and args.baseline.exists():
        base = json.loads(args.baseline.read_text())
        if base.get("recipe", final_recipe(spec_doc)) != final_recipe(spec_doc):
            raise SystemExit(f"{args.baseline}: another final recipe than search {args.search_id}'s")
    else:
        base = train_hand_designed(spec_doc, args.dataset_dir)
        if args.baseline is not None:
            args.baseline.write_text(json.dumps({**base, "machine": machine}, indent=2))
    spec = parse_spec(spec_doc)
    space = make_space("vit", spec.space.model_dump(exclude={"type"}), TaskShape())
    nets = {"found": (space, best["genome"]), "hand": (make_space("vit", {}, TaskShape()), HAND_DESIGNED)}
    ms = alternating(nets, args.threads, args.rounds)
    found = {
        "candidate_id": best.get("candidate_id"),
        "describe": space.describe(best["genome"]),
        "test_accuracy": best.get("test_accuracy"),  # the mean over final.repeats seeds
        "test_accuracy_std": best.get("test_accuracy_std"),
        "test_accuracies": [r.get("test_accuracy") for f in summary.get("final", [])[:1] for r in f["runs"]],
        **space.cost(best["genome"]),
    }
    out = {
        "search_id": args.search_id,
        "found": found,
        "hand_designed": {k: base.get(k) for k in HAND_FIELDS},
        "latency_ms_ort": ms,
        "latency_ratio": ms["found"] / ms["hand"],
        "search_wall_seconds": summary.get("wall_seconds"),
        "candidates": summary.get("candidates"),
        "machine": machine,
    }
    ok = found["test_accuracy"] >= base["test_accuracy"] and out["latency_ratio"] <= RATIO
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"found {found['describe']}: test {seeds(found)}, {ms['found']:.3f} ms, "
            f"{found['params']:.0f} params\nhand-designed {base['describe']}: test "
            f"{seeds(base)}, {ms['hand']:.3f} ms, {base['params']:.0f} params\n"
            f"latency ratio {out['latency_ratio']:.2f} (goal <= {RATIO}), accuracy "
            f"{found['test_accuracy'] - base['test_accuracy']:+.4f} (goal >= 0): {'met' if ok else 'missed'}"
        )
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
