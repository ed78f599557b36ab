"""Scaling a finished candidate: the follow-up spec, a follow-up search run end to end, and the API."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from api_support import Api, finish, make_api

from backend.db import repository
from backend.db.session import session_scope
from worker.nas.runner import run_local_search
from worker.nas.scale_followup import scale_spec
from worker.nas.sink import MemorySink
from worker.nas.spaces import make_space
from worker.nas.spec import parse_spec
from worker.nas.types import TaskShape

DIGITS = TaskShape((1, 8, 8), 10)
GENOME = {"layers": [{"type": "conv", "filters": 8}, {"type": "pool"}, {"type": "conv", "filters": 16}]}
SPEC = {
    "name": "digits-base",
    "space": {"type": "layers", "max_depth": 4, "filters": [8, 16], "head": "flatten"},
    "strategy": {"type": "random"},
    "dataset": {"name": "digits"},
    "training": {"epochs": 2, "batch_size": 64, "lr": {"log_uniform": [0.001, 0.05]}},
    "budget": {"max_candidates": 3},
    "constraints": {"max_params": 100000},
    "final": {"top_k": 1, "epochs": 2},
    "deployment": {"ort_latency": False, "int8": False},
    "seed": 3,
}


def base_cost() -> dict[str, float]:
    return make_space("layers", {"max_depth": 4, "filters": [8, 16], "head": "flatten"}, DIGITS).cost(GENOME)


def candidate_metrics() -> dict[str, float]:
    return {"val_accuracy": 0.9, **base_cost(), "latency_ms": 0.5}


def stored_spec() -> dict:
    return parse_spec(SPEC).model_dump(mode="json")


# --- the spec ----------------------------------------------------------------------------------------------
def test_follow_up_keeps_dataset_final_and_the_candidates_own_recipe_and_sets_the_budget():
    genome = {**GENOME, "recipe": {"lr": 0.0123}}
    out = scale_spec(stored_spec(), genome, candidate_metrics(), factor=2.0, metric="flops")
    assert out["space"]["type"] == "scaled" and out["space"]["base_space"] == "layers"
    assert out["space"]["base_genome"] == GENOME  # the recipe is not part of the network
    assert out["space"]["base_options"]["filters"] == [8, 16]
    assert (out["space"]["budget_metric"], out["space"]["factor"]) == ("flops", 2.0)
    assert out["space"]["reference"] is True
    assert out["training"]["lr"] == 0.0123 and out["training"]["epochs"] == 2  # searched -> the winner's
    assert out["dataset"]["name"] == "digits" and out["final"]["epochs"] == 2 and out["seed"] == 3
    assert out["constraints"] == {"max_flops": 2.0 * base_cost()["flops"]}  # the old max_params is gone
    assert [o["metric"] for o in out["objectives"]] == ["val_accuracy", "flops"]
    assert out["objectives"][1]["weight"] == 0.0  # plotted against, not traded for accuracy
    parse_spec(out)


def test_params_and_latency_budgets_become_their_constraints():
    params = scale_spec(stored_spec(), GENOME, candidate_metrics(), factor=4.0, metric="params")
    assert params["constraints"] == {"max_params": int(4 * base_cost()["params"])}
    latency = scale_spec(stored_spec(), GENOME, candidate_metrics(), factor=2.0, metric="latency_ms")
    assert latency["constraints"] == {"max_latency_ms": 1.0}


def test_shrinking_uses_multipliers_below_one():
    out = scale_spec(stored_spec(), GENOME, candidate_metrics(), factor=0.5)
    assert max(out["space"]["widths"]) == 1.0 and min(out["space"]["widths"]) < 1.0
    space = make_space("scaled", {k: v for k, v in out["space"].items() if k != "type"}, DIGITS)
    assert all(space.cost(g)["flops"] <= 0.5 * base_cost()["flops"] for g in space.band)


def test_follow_up_refuses_what_cannot_be_scaled_naming_the_field():
    nb201 = {**stored_spec(), "space": {"type": "nb201"}}
    with pytest.raises(ValueError, match="space: a 'nb201' network cannot be scaled; allowed: layers, vit"):
        scale_spec(nb201, {"arch": "x"}, candidate_metrics())
    with pytest.raises(ValueError, match="metric: the candidate has no measured latency_ms"):
        scale_spec(stored_spec(), GENOME, {"flops": 1.0}, metric="latency_ms")
    with pytest.raises(ValueError, match="metric: expected one of flops, params, latency_ms"):
        scale_spec(stored_spec(), GENOME, candidate_metrics(), metric="val_loss")


def test_a_follow_up_search_trains_the_reference_first_then_scaled_networks_within_budget(tmp_path):
    torch.set_num_threads(1)
    genome = {**GENOME, "recipe": {"lr": 0.01}}
    spec = parse_spec(scale_spec(stored_spec(), genome, candidate_metrics(), factor=4.0, max_candidates=3))
    sink = MemorySink()
    summary = run_local_search(spec, sink, artefact_dir=tmp_path)
    first = sink.candidates[1]
    assert first["origin"] == {"operator": "reference"}
    assert first["genome"] == {"width": 1.0, "depth": 1.0, "resolution": 1.0}
    limit = 4.0 * base_cost()["flops"]
    trained = [c for c in sink.candidates.values() if c["status"] == "done"]
    assert len(trained) == 3
    assert first["result"].metrics["flops"] == base_cost()["flops"]
    assert all(c["result"].metrics["flops"] <= limit for c in trained)
    assert any(c["genome"] != first["genome"] for c in trained)
    assert summary["best"]["test_accuracy"] > 0.3  # chance is 0.1
    assert any(p.suffix == ".onnx" for p in tmp_path.rglob("*"))  # exported like any candidate


# --- the API -----------------------------------------------------------------------------------------------
@pytest.fixture()
def api(tmp_path: Path) -> Api:
    return make_api(tmp_path)


def seed_layers_candidate(api: Api, done: bool = True, spec: dict | None = None, genome=GENOME) -> int:
    with session_scope(api.settings, write=True) as s:
        search = repository.create_search(s, spec or stored_spec(), "digits-base")
        repository.start_search(s, search.id)
        (cand,) = repository.add_candidates(s, search.id, [(genome, "k", {"operator": "sample"})])
        cid = cand.id
    if done:
        finish(api.settings, cid, 0.9, params=base_cost()["params"], flops=base_cost()["flops"])
    return cid


def test_scale_spec_endpoint_prefills_the_follow_up(api: Api) -> None:
    cid = seed_layers_candidate(api)
    r = api.client.get(f"/api/candidates/{cid}/scale-spec", params={"factor": 4, "metric": "flops"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["candidate_id"], body["factor"], body["metric"]) == (cid, 4.0, "flops")
    spec = body["spec"]
    assert spec["space"]["type"] == "scaled" and spec["space"]["base_genome"] == GENOME
    assert spec["constraints"]["max_flops"] == 4 * base_cost()["flops"]
    assert f"candidate {cid} scaled ×4 flops" in spec["name"]
    assert api.client.post("/api/searches", json=spec).status_code == 201  # as the form would send it


def test_scale_endpoint_submits_the_follow_up_search(api: Api) -> None:
    cid = seed_layers_candidate(api)
    r = api.client.post(f"/api/candidates/{cid}/scale", json={"factor": 2, "metric": "params"})
    assert r.status_code == 201, r.text
    new_id = r.json()["id"]
    assert api.dispatcher.calls[-1] == ("start", new_id)
    stored = api.client.get(f"/api/searches/{new_id}").json()["spec"]
    assert stored["space"]["type"] == "scaled" and stored["constraints"]["max_params"] == int(
        2 * base_cost()["params"]
    )


def test_scale_endpoints_refuse_unfinished_unknown_and_unscalable_candidates(api: Api) -> None:
    queued = seed_layers_candidate(api, done=False)
    r = api.client.post(f"/api/candidates/{queued}/scale")
    assert r.status_code == 409 and "only a done one scales" in r.json()["detail"]
    assert api.client.get("/api/candidates/99999/scale-spec").status_code == 404
    nb201 = {"name": "nb", "space": {"type": "nb201"}, "budget": {"max_candidates": 2}}
    cid = seed_layers_candidate(api, spec=parse_spec(nb201).model_dump(mode="json"), genome={"arch": "x"})
    r = api.client.get(f"/api/candidates/{cid}/scale-spec")
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "space"
    r = api.client.get(f"/api/candidates/{queued}/scale-spec", params={"metric": "val_loss"})
    assert r.status_code == 422
    assert api.dispatcher.calls == []
