"""How service workers call the engine: the task shape of a spec's dataset, the training evaluator of a
search (cached per process, so a worker loads its data once), and the final stage.

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
    if spec.dataset.name == "table":  # built from the table's rows; no task shape
        return make_space(spec)
    return make_space(spec, task_shape(spec, settings))


def search_artefact_dir(settings: Settings, search_id: int) -> Path:
    return Path(settings.artefact_dir) / f"search-{search_id}"


def progress_path(settings: Settings, search_id: int, candidate_id: int) -> Path:
    """Where a candidate's running job keeps its per-epoch state, for an attempt that takes over."""
    return search_artefact_dir(settings, search_id) / "progress" / f"candidate-{candidate_id}.ckpt"


def training_evaluator(search_id: int, spec: SearchSpec, space: Any, settings: Settings) -> Any:
    """The real evaluator of a search, reused across the candidates one worker process trains (for a
    table search: the lookup in its table)."""
    if spec.dataset.name == "table":
        from worker.nas.evaluation.table_search import TableEvaluator

        return TableEvaluator(spec, space)
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
    return evaluator


def final_stage(
    search_id: int, spec: SearchSpec, ranked: list[Any], settings: Settings
) -> tuple[dict[str, Any], dict[str, str]]:
    """The engine's final stage (worker.nas.final_stage) on this search's data and artefact directory."""
    from worker.nas.evaluation.datasets import load_dataset
    from worker.nas.final_stage import run_final_stage

    table = spec.dataset.name == "table"  # nothing to load: the table's summary needs no data splits
    splits = None if table else load_dataset(spec.dataset, settings.dataset_dir, seed=spec.seed)

    def cancelled() -> bool:  # asked once per final epoch: a cancel ends the final training there
        from backend.db import repository as repo
        from backend.db.session import session_scope

        with session_scope(settings) as s:
            return repo.get_search(s, search_id).status == "cancelled"

    return run_final_stage(
        spec,
        space_for(spec, settings),
        splits,
        ranked,
        search_artefact_dir(settings, search_id),
        should_stop=cancelled,
    )
