"""How service workers call the engine: the task shape of a spec's dataset, the training evaluator of a
search (cached per process, so a worker loads its data once), and the final export of the best models.

Artefacts of each search live under `<artefact_dir>/search-<id>/`, so two searches that meet the same
genome never overwrite each other's checkpoints.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from backend.settings import Settings
from worker.nas.factory import make_space
from worker.nas.spec import SearchSpec
from worker.nas.types import TaskShape

_EVALUATORS: OrderedDict[tuple[int, str], Any] = OrderedDict()
_MAX_CACHED = 2


def task_shape(spec: SearchSpec, settings: Settings) -> TaskShape:
    """Input shape and class count of the spec's dataset (decoded arrays are cached by the loader)."""
    from worker.nas.evaluation.datasets import load_raw

    x_train, y_train, _, y_test = load_raw(spec.dataset.name, spec.dataset.path, settings.dataset_dir)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    return TaskShape(input_shape=tuple(int(s) for s in x_train.shape[1:]), n_classes=n_classes)  # type: ignore[arg-type]


def space_for(spec: SearchSpec, settings: Settings) -> Any:
    return make_space(spec, task_shape(spec, settings))


def search_artefact_dir(settings: Settings, search_id: int) -> Path:
    return Path(settings.artefact_dir) / f"search-{search_id}"


class _CheckpointOutcome:
    """The evaluator's outcome with its checkpoint exposed as the candidate's `checkpoint` artefact."""

    def __init__(self, outcome: Any) -> None:
        self.result = outcome.result
        self.artefacts = {"checkpoint": outcome.checkpoint} if outcome.checkpoint else {}


class _TrainingAdapter:
    def __init__(self, evaluator: Any) -> None:
        self.evaluator = evaluator

    def evaluate(self, genome: dict[str, Any], report: Any) -> _CheckpointOutcome:
        stop = {"now": False}

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            stop["now"] = bool(report(epoch, metrics))

        outcome = self.evaluator.evaluate(genome, on_epoch, should_stop=lambda *_: stop["now"])
        return _CheckpointOutcome(outcome)


def training_evaluator(search_id: int, spec: SearchSpec, space: Any, settings: Settings) -> _TrainingAdapter:
    """The real evaluator of a search, reused across the candidates one worker process trains."""
    from worker.nas.evaluation.evaluator import TrainingEvaluator

    key = (search_id, spec.model_dump_json())
    evaluator = _EVALUATORS.get(key)
    if evaluator is None:
        evaluator = TrainingEvaluator(
            spec, space, settings.dataset_dir, search_artefact_dir(settings, search_id)
        )
        _EVALUATORS[key] = evaluator
        while len(_EVALUATORS) > _MAX_CACHED:
            _EVALUATORS.popitem(last=False)
    return _TrainingAdapter(evaluator)


def _test_accuracy(spec: SearchSpec, model: Any, splits: Any) -> float:
    from worker.nas.evaluation.trainer import TrainConfig, Trainer

    trainer = Trainer(model, TrainConfig.from_spec(spec.training, seed=spec.seed), n_classes=splits.n_classes)
    return float(trainer.evaluate(splits.x_test, splits.y_test)["accuracy"])


def final_and_export(
    search_id: int, spec: SearchSpec, space: Any, best: list[Any], settings: Settings
) -> tuple[dict[str, Any], dict[int, dict[str, str]]]:
    """Retrain the best `final.top_k` on train+validation, test each once, export the best model.

    `best` are done candidates, best first (validation figures only), each with its `checkpoint` path.
    With `top_k: 0` the search's own checkpoint of the best is tested and exported instead.
    Returns the summary stored on the search and the exported files by candidate id.
    """
    from worker.nas.evaluation.checkpoints import load_checkpoint
    from worker.nas.evaluation.datasets import load_dataset
    from worker.nas.evaluation.export import export_model
    from worker.nas.evaluation.final import final_train

    splits = load_dataset(spec.dataset, settings.dataset_dir, seed=spec.seed)
    finals = []
    for cand in best[: spec.final.top_k]:
        report = final_train(spec, space, splits, cand.genome)
        finals.append(
            {"candidate_id": cand.id, **{**report.summary(), "genome": None}, "_model": report.model}
        )
    top = best[0]
    model = finals[0]["_model"] if finals and finals[0]["_model"] is not None else None
    test_accuracy = finals[0]["test_accuracy"] if model is not None else None
    if model is None and top.checkpoint and Path(top.checkpoint).exists():
        model = space.build(top.genome)
        model.load_state_dict(load_checkpoint(top.checkpoint)["model"])
        test_accuracy = _test_accuracy(spec, model, splits)
    summary: dict[str, Any] = {
        "final": [{k: v for k, v in f.items() if k != "_model"} for f in finals],
        "best": {"candidate_id": top.id, "genome": top.genome, "test_accuracy": test_accuracy, **top.metrics},
    }
    files: dict[int, dict[str, str]] = {}
    if model is not None:
        card = {
            "name": spec.name,
            "search_id": search_id,
            "candidate_id": top.id,
            "genome": top.genome,
            "space": spec.space.model_dump(),
            "dataset": splits.card(),
            "n_classes": splits.n_classes,
            "metrics": {**top.metrics, "test_accuracy": test_accuracy},
            "training": spec.training.model_dump(),
            "retrained_on_train_and_validation": bool(finals),
        }
        out = search_artefact_dir(settings, search_id) / "best"
        files[top.id] = export_model(model, out, input_shape=splits.input_shape, card=card)
        summary["artefacts"] = files[top.id]
    return summary, files
