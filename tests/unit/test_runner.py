from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from worker.nas.evaluation.evaluator import TrainingEvaluator
from worker.nas.runner import run_local_search
from worker.nas.sink import MemorySink
from worker.nas.spec import parse_spec

SMALL_SPACE = {
    "type": "layers",
    "max_depth": 4,
    "filters": [8, 16],
    "dense_units": [16, 32],
    "head": "flatten",
}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # shared cores: one thread keeps these tests quick under load
    yield
    torch.set_num_threads(before)


def spec_of(**over):
    base = {
        "name": "digits-test",
        "space": SMALL_SPACE,
        "strategy": {"type": "random"},
        "dataset": {"name": "digits"},
        "training": {"epochs": 6, "batch_size": 64, "lr": 0.01},
        "budget": {"max_candidates": 3},
        "final": {"top_k": 1, "epochs": 6},
        "seed": 0,
    }
    base.update(over)
    return parse_spec(base)


def test_local_search_on_digits_trains_reports_and_exports(tmp_path):
    sink = MemorySink()
    ticks = []
    summary = run_local_search(spec_of(), sink, artefact_dir=tmp_path, progress=lambda *a: ticks.append(a))
    assert summary["candidates"] == 3 and len(sink.candidates) == 3
    assert all(c["status"] == "done" and len(c["curve"]) == 6 for c in sink.candidates.values())
    assert [t[0] for t in ticks] == [1, 2, 3]
    # The stored state is small; the history is the candidates, each told once, in order.
    assert sink.state is not None and "history" not in sink.state["strategy"]
    assert sorted(c["told"] for c in sink.candidates.values()) == [0, 1, 2]
    status, finished = sink.finished
    assert status == "done" and finished is summary
    best = summary["best"]
    assert best["val_accuracy"] == max(c["result"].metrics["val_accuracy"] for c in sink.candidates.values())
    assert best["test_accuracy"] > 0.5  # chance is 0.1
    assert best["params"] > 0 and best["flops"] > 0 and best["latency_ms"] > 0
    assert summary["final"][0]["runs"][0]["status"] == "done"
    card = json.loads(Path(summary["artefacts"]["card"]).read_text())
    assert card["genome"] == best["genome"] and Path(summary["artefacts"]["onnx"]).is_file()


class _NanOutput(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) * float("nan")


def test_nan_candidate_is_recorded_failed_and_the_search_goes_on(tmp_path, monkeypatch):
    from worker.nas import factory
    from worker.nas.spaces.layers import LayersSpace

    class FirstBuildGivesNan(LayersSpace):
        builds = 0

        def build(self, genome):
            type(self).builds += 1
            net = super().build(genome)
            return _NanOutput(net) if type(self).builds == 1 else net

    monkeypatch.setattr(factory, "space_class", lambda name: FirstBuildGivesNan)
    sink = MemorySink()
    summary = run_local_search(spec_of(), sink, artefact_dir=tmp_path)
    first = sink.candidates[1]["result"]
    assert first.status == "failed" and first.error == "diverged: loss became nan at epoch 1 step 1"
    assert [sink.candidates[i]["status"] for i in (2, 3)] == ["done", "done"]
    assert sink.finished[0] == "done" and summary["failed"] == 1 and summary["best"]["candidate_id"] != 1


def test_duplicate_warm_start_genome_is_trained_once(tmp_path):
    genome = {"layers": [{"type": "conv", "filters": 8}, {"type": "pool"}]}
    sink = MemorySink()
    summary = run_local_search(
        spec_of(budget={"max_candidates": 2}, final={"top_k": 0}),
        sink,
        artefact_dir=tmp_path,
        warm_start=[genome, genome],
    )
    first, second = sink.candidates[1], sink.candidates[2]
    assert summary["candidates"] == 2 and first["canonical"] != second["canonical"]
    assert first["origin"]["operator"] == "warm-start" and second["origin"]["operator"] == "sample"
    assert summary["best"]["test_accuracy"] is not None  # top_k 0: the search's checkpoint is tested


def test_mutated_children_inherit_parent_weights(tmp_path):
    spec = spec_of(
        strategy={"type": "regularized-evolution", "population_size": 2, "sample_size": 2},
        budget={"max_candidates": 5},
        inherit_weights=True,
        final={"top_k": 0},
        training={"epochs": 1},
    )
    sink = MemorySink()
    run_local_search(spec, sink, artefact_dir=tmp_path)
    children = [c for c in sink.candidates.values() if c["result"].metrics.get("inherited_tensors")]
    assert children, "no mutated child started from its parent's weights"


def test_multi_objective_search_reports_a_feasible_front(tmp_path):
    spec = spec_of(
        objectives=[{"metric": "val_accuracy"}, {"metric": "params", "goal": "minimize"}],
        constraints={"max_params": 3000},
        budget={"max_candidates": 4},
        final={"top_k": 0},
        training={"epochs": 1},
    )
    summary = run_local_search(spec, MemorySink(), artefact_dir=tmp_path)
    assert summary["front"], "empty Pareto front"
    assert all(p["params"] <= 3000 for p in summary["front"])
    if summary["best"] is not None:
        assert summary["best"]["params"] <= 3000


def test_constraint_breaking_proposals_are_recorded_but_not_trained(tmp_path):
    spec = spec_of(
        constraints={"max_params": 1500},
        budget={"max_candidates": 2},
        final={"top_k": 0},
        training={"epochs": 1},
    )
    sink = MemorySink()
    summary = run_local_search(spec, sink, artefact_dir=tmp_path)
    skipped = [
        c for c in sink.candidates.values() if (c["result"].error or "").startswith("constraint: params")
    ]
    trained = [c for c in sink.candidates.values() if c["curve"]]
    assert summary["skipped_infeasible"] == len(skipped) > 0
    assert all(not c["curve"] and c["result"].metrics["params"] > 1500 for c in skipped)
    assert len(trained) == 2 and all(c["result"].metrics["params"] <= 1500 for c in trained)


def test_time_budget_stops_the_search(tmp_path):
    spec = spec_of(budget={"max_candidates": 50, "max_minutes": 0.0001}, final={"top_k": 0})
    summary = run_local_search(spec, MemorySink(), artefact_dir=tmp_path)
    assert summary["stopped_because"] == "max_minutes" and summary["candidates"] <= 1


class _BrokenSpace:
    """Any space whose network cannot be built: the evaluator must report, not raise."""

    def build(self, genome):
        raise ValueError("kernel 9 does not fit a 2x2 map")

    def canonical(self, genome):
        return "x"


def test_evaluator_turns_a_build_error_into_a_failed_result():
    out = TrainingEvaluator(spec_of(), _BrokenSpace()).evaluate({"any": 1})
    assert out.result.status == "failed" and out.result.fitness is None
    assert out.result.error.startswith("ValueError: kernel 9 does not fit a 2x2 map")


def test_missing_dataset_fails_the_search_with_a_clear_error(tmp_path, monkeypatch):
    from worker.nas.evaluation import datasets

    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", tmp_path)
    monkeypatch.delenv("NASBOARD_DATA_DIR", raising=False)
    datasets._RAW_CACHE.clear()
    sink = MemorySink()
    with pytest.raises(datasets.DatasetError):
        run_local_search(spec_of(dataset={"name": "mnist"}), sink, data_dir=tmp_path / "none")
    assert sink.finished[0] == "failed" and "mnist" in sink.finished[1]["error"]


def test_final_time_budget_shortens_final_training(tmp_path):
    spec = spec_of(final={"top_k": 1, "epochs": 50, "max_minutes": 0.001}, budget={"max_candidates": 1})
    summary = run_local_search(spec, MemorySink(), artefact_dir=tmp_path)
    assert summary["final"][0]["epochs"] == 1  # 0.06 s cannot hold more than one epoch at measured speed


def _ranked_stub(final: dict, speeds: list[float]):
    """Candidates of the given samples/s, best first (60,000 final training samples)."""
    from worker.nas.lifecycle import Trial
    from worker.nas.types import Result

    spec = spec_of(final=final, dataset={"name": "digits"})
    ranked = [
        Trial(i, {}, str(i), {}, "done", result=Result(fitness=1.0, metrics={"samples_per_second": sps}))
        for i, sps in enumerate(speeds)
    ]
    return spec, ranked


def test_final_prefers_the_best_candidate_that_gets_its_epochs_in_time():
    from worker.nas.final_stage import final_plan

    def order(spec, ranked):
        return [t.cid for t in final_plan(spec, ranked, 60_000)[0]]

    # 10 epochs of 60,000 in 10 minutes need 1,000 samples/s: the most accurate (500/s) would get 5.
    assert order(*_ranked_stub({"top_k": 1, "epochs": 10, "max_minutes": 10}, [500, 2_000, 4_000])) == [
        1,
        2,
        0,
    ]
    # Half the epochs are enough with min_epoch_share 0.5; 0 ranks by validation alone.
    for share in (0.5, 0.0):
        stub = _ranked_stub(
            {"top_k": 1, "epochs": 10, "max_minutes": 10, "min_epoch_share": share}, [500, 2_000]
        )
        assert order(*stub) == [0, 1]
    # Nothing fits: the order stays.
    assert order(*_ranked_stub({"top_k": 1, "epochs": 10, "max_minutes": 1}, [500, 600])) == [0, 1]
