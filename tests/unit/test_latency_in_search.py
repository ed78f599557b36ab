"""The latency predictor inside the one search lifecycle: every `layers` candidate of a search that measures
ONNX Runtime latency is predicted before training, a max_latency_ms_ort broken by the prediction is not
trained, measured figures refine the regression, and a cold (replayed) lifecycle rebuilds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from service_drain import drain

from backend.db import repository as repo
from backend.db.migrate import upgrade_to_head
from backend.db.session import session_scope
from backend.settings import Settings
from worker.nas import latency_ops
from worker.nas.evaluation.evaluator import EvalOutcome
from worker.nas.factory import make_space
from worker.nas.latency_ops import MAX_PASSES, op_pairs
from worker.nas.latency_predictor import MIN_FIT, PRED_METRIC
from worker.nas.lifecycle import Lifecycle
from worker.nas.objectives import Objective
from worker.nas.runner import LocalSearch
from worker.nas.sink import MemorySink
from worker.nas.spec import parse_spec
from worker.nas.types import Result, TaskShape

pytest.importorskip("onnxruntime")

SPACE = {"type": "layers", "max_depth": 3, "filters": [4, 8], "dense_units": [16], "head": "flatten"}


def spec_of(**over: Any) -> Any:
    raw = {
        "name": "lat",
        "space": SPACE,
        "strategy": {"type": "random"},
        "dataset": {"name": "digits"},
        "training": {"epochs": 1},
        "budget": {"max_candidates": 10},
        "final": {"top_k": 0},
        "deployment": {"int8": False},
        "seed": 1,
    }
    raw.update(over)
    return parse_spec(raw)


class FakeMeasure:
    """No training: accuracy and a 'measured' latency from the parameter count (deterministic). It is
    above any prediction of these microsecond networks, so no candidate sends the shared operator table a
    real re-timing (OpTable.refine) that would make two runs' predictions differ."""

    def __init__(self, spec: Any, space: Any, base_ms: float = 5.0) -> None:
        self.objective, self.space, self.base_ms = Objective.from_spec(spec), space, base_ms
        self.genomes: list[dict] = []

    def evaluate(self, genome: dict, report: Any, **job: Any) -> EvalOutcome:
        self.genomes.append(genome)
        params = float(self.space.cost(genome)["params"])
        metrics = {"val_accuracy": 0.5, "params": params, "latency_ms_ort": self.base_ms + params * 1e-5}
        report(1, {"val_accuracy": 0.5})
        return EvalOutcome(Result(fitness=self.objective.fitness(metrics), metrics=metrics))


def local(spec: Any, base_ms: float = 5.0) -> tuple[LocalSearch, MemorySink, FakeMeasure]:
    sink = MemorySink()
    space = make_space(spec, TaskShape((1, 8, 8), 10))
    fake = FakeMeasure(spec, space, base_ms)
    search = LocalSearch(spec, sink, evaluator=fake, finalizer=lambda *a, **k: ({}, {}))
    search.run()
    return search, sink, fake


def test_every_candidate_gets_a_prediction_and_measured_ones_refine_the_regression():
    search, sink, _ = local(spec_of())
    cands = list(sink.candidates.values())
    assert len(cands) >= MIN_FIT
    assert all(c["result"].metrics[PRED_METRIC] > 0 for c in cands)
    assert len(search.lc.latency.rows) == len(cands)  # each measured candidate observed once
    assert search.lc.latency.coef is not None  # past MIN_FIT rows: the regression replaced the plain sum


def test_candidates_measured_well_under_their_prediction_give_their_operators_another_pass(monkeypatch):
    monkeypatch.setattr(latency_ops, "RETIME_AFTER_S", 0.0)  # the operators were timed moments ago
    search, sink, _ = local(spec_of(), base_ms=0.0)  # measured at ~0 ms: far under every prediction
    predictor = search.lc.latency
    first = predictor._ops(predictor._arch(min(sink.candidates.items())[1]["genome"]))
    keys = {k for k, _, _ in first + op_pairs(first)}  # `layers` is timed in pairs too
    assert predictor.table.refined_now >= len(keys)  # the first one's evidence alone sent each a pass
    assert all(predictor.table.passes[k] <= MAX_PASSES for k in keys)


def test_a_prediction_over_max_latency_ms_ort_is_recorded_infeasible_and_not_trained():
    search, sink, fake = local(spec_of(constraints={"max_latency_ms_ort": 1e-6}))
    skipped = [c for c in sink.candidates.values() if c["status"] == "infeasible"]
    assert skipped and not fake.genomes  # nothing predicted under a microsecond: nothing trained
    for c in skipped:
        error, pred = c["result"].error, c["result"].metrics[PRED_METRIC]
        assert error == (
            f"constraint: predicted latency_ms_ort {pred:.4g} > max_latency_ms_ort 1e-06 "
            "(latency_ms_pred, from the genome; not trained)"
        )
        assert not c["curve"]


def test_a_search_without_ort_latency_predicts_nothing():
    search, sink, _ = local(spec_of(deployment={"ort_latency": False, "int8": False}))
    assert search.lc.latency is None
    assert all(PRED_METRIC not in c["result"].metrics for c in sink.candidates.values())


def test_the_service_predicts_the_same_and_a_cold_lifecycle_rebuilds_the_regression(tmp_path: Path):
    spec = spec_of()
    settings = Settings(data_dir=tmp_path / "svc", broker_url="memory://")
    upgrade_to_head(settings)
    with session_scope(settings, write=True) as s:
        search_id = repo.create_search(s, spec.model_dump(mode="json"), "lat").id
    fake = FakeMeasure(spec, make_space(spec, TaskShape((1, 8, 8), 10)))
    drain(search_id, settings, lambda *a: fake, cold=True)  # every step replays the table, as after a restart
    _, local_sink, _ = local(spec)
    with session_scope(settings) as s:
        trials = [t for t, *_ in repo.search_trials(s, search_id)]
        cands = sorted(repo.candidates_after(s, search_id, 0, 1000)[0], key=lambda c: c.id)
        assert all(c.metrics[PRED_METRIC] > 0 for c in cands)
        local_preds = [c["result"].metrics[PRED_METRIC] for _, c in sorted(local_sink.candidates.items())]
        # The same genomes in the same order, predicted by the same rule (the table is shared; the
        # regression refits the same rows), so the same figures.
        assert [c.metrics[PRED_METRIC] for c in cands] == pytest.approx(local_preds, rel=1e-6)
        space = make_space(spec, TaskShape((1, 8, 8), 10))
        from worker.nas.factory import make_strategy

        cold = Lifecycle(spec, space, make_strategy(spec, space), None, trials=trials)  # type: ignore[arg-type]
        assert len(cold.latency.rows) == len(cands) and cold.latency.coef is not None
