"""The end of every search, local or in the service: retrain the best on train+validation within the final
budget, test once, export the best model with its card, and summarise.

Which candidates get retrained, and for how many epochs, is decided here only (`final_plan`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worker.nas.lifecycle import Lifecycle, Trial
from worker.nas.spaces.recipe import apply_recipe

SUMMARY_METRICS = ("val_accuracy", "val_f1", "val_loss", "params", "flops", "latency_ms", "epochs")
AUGMENT_COST = 1.1  # augmentation adds ~6 % per sample on CPU (fashion_mnist_epoch_cost.py); 10 % to be safe


def final_epochs(spec: Any, trial: Trial, n_samples: int, slots: int) -> int:
    """The recipe's epochs, cut so `slots` trainings fit in final.max_minutes at the speed the candidate's own
    search training measured (samples/s, validation excluded: the final training has none)."""
    epochs = spec.final.epochs or spec.training.epochs
    sps = (trial.result.metrics if trial.result else {}).get("samples_per_second")
    if spec.final.max_minutes is None or not sps:
        return epochs
    augment = apply_recipe(spec, trial.genome).dataset.augment is True
    per_epoch = n_samples / sps * (AUGMENT_COST if augment else 1.0)
    return max(1, min(epochs, int(spec.final.max_minutes * 60 / max(1, slots) // per_epoch)))


def final_plan(spec: Any, ranked: list[Trial], n_samples: int) -> tuple[list[Trial], list[tuple[Trial, int]]]:
    """(ranked with the ones whose final training fits first, [(trial, epochs)] to retrain).

    A network too slow to get `min_epoch_share` of its final epochs in final.max_minutes ends undertrained,
    often behind a slightly less accurate (at the search's fidelity) but faster one, so those rank after.
    """
    slots = min(spec.final.top_k, len(ranked)) * spec.final.repeats
    final = spec.final
    if final.max_minutes is not None and final.min_epoch_share > 0:
        need = math.ceil(final.min_epoch_share * (final.epochs or spec.training.epochs))
        fits = {t.cid for t in ranked if final_epochs(spec, t, n_samples, slots) >= need}
        ranked = [t for t in ranked if t.cid in fits] + [t for t in ranked if t.cid not in fits]
    return ranked, [(t, final_epochs(spec, t, n_samples, slots)) for t in ranked[: final.top_k]]


def _entry(t: Trial) -> dict[str, Any]:
    m = t.result.metrics if t.result else {}
    return {"candidate_id": t.cid, "genome": t.genome, **{k: m.get(k) for k in SUMMARY_METRICS}}


class FinalCancelled(Exception):
    """The search was cancelled during its final training: nothing is tested or exported."""


def run_final_stage(
    spec: Any,
    space: Any,
    splits: Any,
    ranked: list[Trial],
    out_dir: Path,
    *,
    device: Any = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Retrain per `final_plan`, test each once, export the best. Returns the summary part (`best`, `final`,
    `artefacts`) and the exported files of the best candidate (`summary['best']['candidate_id']`).
    A table search has nothing to retrain: its part is the best row and `table` (its front, hypervolume)."""
    if spec.dataset.name == "table":
        from worker.nas.evaluation.table_search import table_summary

        best = {**_entry(ranked[0]), "metrics": ranked[0].result.metrics} if ranked else None  # type: ignore[union-attr]
        return {"best": best, "final": [], "artefacts": {}, "table": table_summary(spec, space, ranked)}, {}
    from worker.nas.evaluation.checkpoints import load_checkpoint
    from worker.nas.evaluation.export import export_int8, export_model
    from worker.nas.evaluation.final import final_train
    from worker.nas.evaluation.metrics import efficiency_metrics
    from worker.nas.evaluation.trainer import TrainConfig, Trainer, pick_device

    device = pick_device(device)
    ranked, plan = final_plan(spec, ranked, len(splits.y_train) + len(splits.y_val))
    # Each training gets its share of final.max_minutes; a run slower than planned is shortened to fit.
    slots = max(1, len(plan) * spec.final.repeats)
    seconds = None if spec.final.max_minutes is None else spec.final.max_minutes * 60 / slots
    finals = []
    for t, e in plan:
        rep = final_train(
            apply_recipe(spec, t.genome),  # the winner trains with the recipe it won with
            space,
            splits,
            t.genome,
            device=device,
            epochs=e,
            seconds=seconds,
            should_stop=should_stop,
            # per-epoch state: a final stage dispatched again after its worker was lost continues from it
            progress_dir=out_dir / "progress" / f"final-{t.cid}",
        )
        if rep.cancelled:
            done = rep.runs[-1].get("epochs")
            raise FinalCancelled(
                f"the search was cancelled during the final training of candidate {t.cid}"
                f" (after {done} of {e} epochs)"
            )
        finals.append((t, rep))
    if not ranked:
        return {"best": None, "final": [], "artefacts": {}}, {}
    top = ranked[0]
    test_std = None
    if finals and finals[0][1].model is not None:
        summ = finals[0][1].summary()
        test_acc, test_std, model = summ["test_accuracy"], summ["test_accuracy_std"], finals[0][1].model
    elif top.checkpoint and Path(top.checkpoint).exists():  # top_k 0: the search's own weights, tested once
        model = space.build(top.genome)
        model.load_state_dict(load_checkpoint(top.checkpoint)["model"])
        cfg = TrainConfig.from_spec(apply_recipe(spec, top.genome).training, seed=spec.seed)
        trainer = Trainer(model, cfg, n_classes=splits.n_classes, device=device)
        test_acc, model = trainer.evaluate(splits.x_test, splits.y_test)["accuracy"], trainer.model
    else:
        test_acc, model = None, None
    best = {**_entry(top), "test_accuracy": test_acc, "test_accuracy_std": test_std}
    files: dict[str, str] = {}
    if model is not None:
        eff = efficiency_metrics(model, splits.input_shape, device)
        best["latency_ms"], best["latency_ms_b64"] = eff["latency_ms"], eff.get("latency_ms_b64")
        deployed, int8 = deployment_figures(spec, model, splits, device)
        best.update(deployed)
        card = {
            "name": spec.name,
            "candidate_id": top.cid,
            "genome": top.genome,
            "canonical": top.key,
            "space": spec.space.model_dump(),
            "dataset": splits.card(),
            "n_classes": splits.n_classes,
            "metrics": {**top.result.metrics, "test_accuracy": test_acc, "test_accuracy_std": test_std},  # type: ignore[union-attr]
            "deployment": deployed,
            "final_training": finals[0][1].summary() | {"genome": None} if finals else None,
            "training": apply_recipe(spec, top.genome).training.model_dump(),
            "recipe": top.genome.get("recipe"),  # the searched values the winner trained with (None: none)
        }
        files = export_model(model, out_dir / "best", input_shape=splits.input_shape, card=card)
        if int8 is not None and spec.deployment.export_int8:
            files |= export_int8(
                int8.model, out_dir / "best", input_shape=splits.input_shape, card=int8_card(card, int8)
            )
    final = [{"candidate_id": t.cid, **rep.summary(), "genome": None} for t, rep in finals]
    return {"best": best, "final": final, "artefacts": files}, files


def deployment_figures(spec: Any, model: Any, splits: Any, device: Any) -> tuple[dict[str, Any], Any]:
    """The best network as deployed (spec.deployment): ONNX Runtime latency, the CPU's int8/bf16 features
    and the int8 model's figures. Returns (figures for the summary and card, the Int8Report or None).
    A failed quantisation is reported (`int8_error`), never fatal: the fp32 model is still exported."""
    from worker.nas.evaluation import cpu_features
    from worker.nas.evaluation.int8 import int8_report
    from worker.nas.evaluation.ort_latency import ort_latency_metrics

    dep = spec.deployment
    out: dict[str, Any] = {}
    if not (dep.ort_latency or dep.int8):
        return out, None
    out["cpu_features"] = cpu_features.describe()
    out["int8_units"] = cpu_features.cpu_features()["int8_units"]
    if dep.ort_latency:
        out.update(ort_latency_metrics(model, splits.input_shape, batch=dep.batch, device=device))
    report = None
    if dep.int8:
        try:
            n = dep.calibration_samples
            report = int8_report(
                model,
                splits.input_shape,
                splits.x_train[:n],
                splits.x_test,
                splits.y_test,
                method=dep.int8_method,
            )
        except Exception as exc:  # noqa: BLE001 - e.g. an operator the quantiser cannot handle
            out["int8_error"] = f"{type(exc).__name__}: {exc}"
        else:
            out.update(
                report.metrics,
                int8_method=report.method,
                int8_calibration_samples=min(n, len(splits.x_train)),
            )
    return out, report


def int8_card(card: dict[str, Any], report: Any) -> dict[str, Any]:
    """The fp32 card, saying the file is int8, how it was made, and its own test accuracy."""
    m = report.metrics
    return {
        **card,
        "precision": "int8",
        "quantisation": {
            "tool": "onnxruntime.quantization",
            "method": report.method,
            "format": "QDQ (uint8 activations, int8 per-channel weights)"
            if report.method == "static"
            else "dynamic",
            "calibration": "the first deployment.calibration_samples images of the training split"
            if report.method == "static"
            else None,
        },
        "metrics": {
            "int8_accuracy": m["int8_accuracy"],
            "fp32_onnx_accuracy": m["ort_accuracy"],
            "test_accuracy_fp32_torch": card["metrics"].get("test_accuracy"),
            "latency_ms_int8": m["latency_ms_int8"],
            "latency_ms_ort_fp32": m["latency_ms_ort"],
            "int8_speedup": m["int8_speedup"],
            "size_bytes": m["size_bytes_int8"],
        },
    }


def search_summary(lc: Lifecycle, search_seconds: float) -> dict[str, Any]:
    """What every search reports about its search phase, whichever path ran it."""
    counts = lc.counts()
    out: dict[str, Any] = {
        "name": lc.spec.name,
        "candidates": len(lc.trials),
        "done": counts["done"],
        "failed": counts["failed"],
        "infeasible": counts["infeasible"],
        "skipped_infeasible": lc.skipped,
        "stopped_because": lc.stop_reason,
        "stop_reason": lc.stop_reason,
        "search_seconds": search_seconds,
    }
    if lc.objective.multi:
        names = lc.objective.names  # a table's objectives are columns SUMMARY_METRICS does not name
        out["front"] = [{**_entry(t), **{n: t.result.metrics.get(n) for n in names}} for t in lc.front()]  # type: ignore[union-attr]
    return out
