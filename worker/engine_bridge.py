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


def export_best(
    search_id: int, spec: SearchSpec, space: Any, best: list[Any], settings: Settings
) -> tuple[dict[str, Any], dict[int, dict[str, str]]]:
    """Export the trained weights of the best candidates (ONNX, TorchScript, state_dict, card).

    `best` are done candidates, best first, each with a `checkpoint` artefact path in `checkpoints`.
    """
    import torch

    from worker.nas.evaluation.checkpoints import load_checkpoint
    from worker.nas.evaluation.export import export_model

    top = best[: max(1, spec.final.top_k)]
    files: dict[int, dict[str, str]] = {}
    exported = []
    for rank, cand in enumerate(top, start=1):
        ckpt = cand.checkpoint
        if not ckpt or not Path(ckpt).exists():
            continue
        model = space.build(cand.genome)
        model.load_state_dict(load_checkpoint(ckpt)["model"])
        card = {
            "search_id": search_id,
            "candidate_id": cand.id,
            "rank": rank,
            "genome": cand.genome,
            "metrics": cand.metrics,
            "dataset": spec.dataset.model_dump(),
        }
        with torch.no_grad():
            paths = export_model(
                model,
                search_artefact_dir(settings, search_id) / f"candidate-{cand.id}",
                input_shape=space.task.input_shape,
                card=card,
            )
        files[cand.id] = paths
        exported.append({"candidate_id": cand.id, "rank": rank, "formats": sorted(paths)})
    return {"exported": exported}, files
