"""The end of a local search: rank by validation, retrain the top k, test once, export the best, summarise."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import torch

from worker.nas.evaluation.checkpoints import load_checkpoint
from worker.nas.evaluation.export import export_model
from worker.nas.evaluation.final import final_train
from worker.nas.evaluation.metrics import efficiency_metrics
from worker.nas.evaluation.trainer import TrainConfig, Trainer

if TYPE_CHECKING:
    from worker.nas.runner import Candidate, LocalSearch

SUMMARY_METRICS = ("val_accuracy", "val_f1", "val_loss", "params", "flops", "latency_ms", "epochs")


def rank(search: LocalSearch) -> list[Candidate]:
    """Feasible finished candidates, best first, by validation figures only.

    Single objective: fitness. Several objectives: the first objective (e.g. val_accuracy) among the
    feasible ones, so "best" is the most accurate network that meets the constraints.
    """
    ok = [c for c in search.candidates if c.result.ok and c.cid == search.by_key[c.key].cid]
    if search.objective.multi:
        ok = [c for c in ok if search.objective.vector(c.result.metrics) is not None]
        return sorted(ok, key=lambda c: -search.objective.vector(c.result.metrics)[0])  # type: ignore[index]
    return sorted(ok, key=lambda c: -float(c.result.fitness))  # type: ignore[arg-type]


def final_epochs(search: LocalSearch, cand: Candidate, slots: int) -> int:
    """The recipe's epochs, cut so `slots` trainings fit in final.max_minutes at the search's measured speed.

    The speed is the candidate's own training passes in the search (samples/s, validation left out: the
    final training has none); augmentation adds ~6 % per sample on CPU (measured with
    benchmarks/fashion_mnist_epoch_cost.py --augment), counted as 10 % to err on the slow side.
    """
    spec = search.spec
    epochs = spec.final.epochs or spec.training.epochs
    sps = cand.result.metrics.get("samples_per_second")
    if spec.final.max_minutes is None or not sps:
        return epochs
    n = len(search.splits.y_train) + len(search.splits.y_val)
    per_epoch = n / sps * (1.1 if spec.dataset.augment else 1.0)
    return max(1, min(epochs, int(spec.final.max_minutes * 60 / max(1, slots) // per_epoch)))


def fits_first(search: LocalSearch, ranked: list[Candidate], slots: int) -> list[Candidate]:
    """`ranked` with the candidates whose final training gets its epochs in final.max_minutes first.

    A network too slow to train fully in the time allowed ends undertrained and often behind a slightly
    less accurate (at the search's fidelity) but faster one.
    """
    final = search.spec.final
    if final.max_minutes is None or final.min_epoch_share <= 0:
        return ranked
    need = math.ceil(final.min_epoch_share * (final.epochs or search.spec.training.epochs))
    fits = {c.cid for c in ranked if final_epochs(search, c, slots) >= need}
    return [c for c in ranked if c.cid in fits] + [c for c in ranked if c.cid not in fits]


def _test_of_checkpoint(search: LocalSearch, cand: Candidate) -> tuple[float, torch.nn.Module]:
    """top_k = 0: score the search's own checkpoint once on the test set."""
    model = search.space.build(cand.genome)
    model.load_state_dict(load_checkpoint(cand.outcome.checkpoint)["model"])  # type: ignore[union-attr]
    cfg = TrainConfig.from_spec(search.spec.training, seed=search.spec.seed)
    trainer = Trainer(model, cfg, n_classes=search.splits.n_classes, device=search.evaluator.device)
    return trainer.evaluate(search.splits.x_test, search.splits.y_test)["accuracy"], trainer.model


def _entry(c: Candidate) -> dict[str, Any]:
    m = c.result.metrics
    return {"candidate_id": c.cid, "genome": c.genome, **{k: m.get(k) for k in SUMMARY_METRICS}}


def finish_search(search: LocalSearch, search_seconds: float) -> dict[str, Any]:
    spec = search.spec
    t0 = time.monotonic()
    ranked = rank(search)
    slots = min(spec.final.top_k, len(ranked)) * spec.final.repeats
    ranked = fits_first(search, ranked, slots)
    finals = []
    chosen = ranked[: spec.final.top_k]
    for c in chosen:
        epochs = final_epochs(search, c, slots)
        rep = final_train(
            spec, search.space, search.splits, c.genome, device=search.evaluator.device, epochs=epochs
        )
        finals.append((c, rep))
    best: dict[str, Any] | None = None
    artefacts: dict[str, str] = {}
    if ranked:
        top = ranked[0]
        if finals and finals[0][1].model is not None:
            summ = finals[0][1].summary()
            test_acc, test_std, model = summ["test_accuracy"], summ["test_accuracy_std"], finals[0][1].model
        elif top.outcome and top.outcome.checkpoint:
            test_acc, model = _test_of_checkpoint(search, top)
            test_std = None
        else:
            test_acc, test_std, model = None, None, None
        best = {**_entry(top), "test_accuracy": test_acc, "test_accuracy_std": test_std}
        if model is not None:
            eff = efficiency_metrics(model, search.splits.input_shape, search.evaluator.device)
            best["latency_ms"], best["latency_ms_b64"] = eff["latency_ms"], eff.get("latency_ms_b64")
            card = {
                "name": spec.name,
                "genome": top.genome,
                "canonical": top.key,
                "space": spec.space.model_dump(),
                "dataset": search.splits.card(),
                "n_classes": search.splits.n_classes,
                "metrics": {**top.result.metrics, "test_accuracy": test_acc, "test_accuracy_std": test_std},
                "final_training": finals[0][1].summary() | {"genome": None} if finals else None,
                "training": spec.training.model_dump(),
            }
            artefacts = export_model(
                model, search.artefact_dir / "best", input_shape=search.splits.input_shape, card=card
            )
    summary: dict[str, Any] = {
        "name": spec.name,
        "candidates": len(search.candidates),
        "done": sum(1 for c in search.candidates if c.result.status == "done"),
        "failed": sum(1 for c in search.candidates if c.result.status == "failed"),
        "skipped_infeasible": search.skipped,
        "stopped_because": search.stop_reason,
        "search_seconds": search_seconds,
        "final_seconds": time.monotonic() - t0,
        "wall_seconds": search.elapsed(),
        "best": best,
        "final": [{"candidate_id": c.cid, **rep.summary()} for c, rep in finals],
        "artefacts": artefacts,
        "artefact_dir": str(search.artefact_dir),
    }
    if search.objective.multi:
        summary["front"] = [_entry(c) for c in search.front()]
    search.sink.search_finished("done", summary)
    return summary
