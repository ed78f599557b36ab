"""Per-epoch validation scores of chosen genomes under a spec's *search* recipe, as the search saw them.

The search trains a candidate with the spec's seed and `training` section (same data share, same
initialisation for the same genome), so this reproduces a candidate's rung scores outside the search:
used to ask whether a longer first rung would have kept a network the 2-epoch rung dropped, and how
much the scores move between CPUs (run it under `ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16` on an AMX
machine to get the kernels of a CPU without AMX).
A measuring tool: it states no goal and has no `--check`.

    .venv/bin/python benchmarks/rung_scores.py benchmarks/fashion_mnist_60min.yaml \
        [--db DIR/nasboard.db --candidates 10 11 12] [--genomes NAME ...] [--epochs N] [--data-dir DIR]
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

from backend.db import repository  # noqa: E402
from backend.db.session import session_scope  # noqa: E402
from backend.settings import Settings  # noqa: E402
from worker.nas.evaluation.datasets import load_dataset  # noqa: E402
from worker.nas.evaluation.evaluator import TrainingEvaluator  # noqa: E402
from worker.nas.factory import make_space  # noqa: E402
from worker.nas.spec import parse_spec  # noqa: E402
from worker.nas.types import TaskShape  # noqa: E402

ALL = {**GENOMES, **SMALL_GENOMES}


def genomes_from_db(db: str, ids: list[int]) -> dict[str, dict]:
    """Genomes of the given candidate ids from a search database (a SQLite file or a database URL)."""
    url = db if "://" in db else f"sqlite:///{Path(db).resolve()}"
    with session_scope(Settings(database_url=url)) as s:
        try:
            return {f"candidate {cid}": dict(repository.get_candidate(s, cid).genome) for cid in ids}
        except repository.NotFound as exc:
            raise SystemExit(f"--candidates: {exc} in {db}") from exc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec")
    ap.add_argument("--db", help="a search's database (SQLite file or URL) to read --candidates from")
    ap.add_argument("--candidates", type=int, nargs="*", default=[])
    ap.add_argument("--genomes", nargs="*", default=[], help=f"from: {', '.join(ALL)}")
    ap.add_argument("--epochs", type=int, default=None, help="stop after this epoch (default: the spec's)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    if args.candidates and not args.db:
        ap.error("--candidates needs --db")
    spec = parse_spec(yaml.safe_load(Path(args.spec).read_text()))
    splits = load_dataset(spec.dataset, args.data_dir, seed=spec.seed)
    space = make_space(spec, TaskShape(splits.input_shape, splits.n_classes))
    chosen = genomes_from_db(args.db, args.candidates) if args.db else {}
    chosen.update({name: {"layers": ALL[name]} for name in args.genomes})
    if not chosen:
        ap.error("name genomes with --genomes or --db/--candidates")
    evaluator = TrainingEvaluator(spec, space, device=args.device, splits=splits)
    for name, raw in chosen.items():
        genome = space.validate(raw)
        t0 = time.monotonic()
        scores: list[float] = []
        out = evaluator.evaluate(
            genome,
            lambda epoch, m, scores=scores: scores.append(round(m["val_accuracy"], 4)),
            epochs=args.epochs,
        )
        r = out.result
        print(
            json.dumps(
                {
                    "genome": name,
                    "status": r.status,
                    "error": r.error,
                    "params": int(r.metrics.get("params", 0)),
                    "val_accuracy_by_epoch": scores,
                    "seconds": round(time.monotonic() - t0, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
