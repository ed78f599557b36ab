"""A searched recipe end to end, with real training on the digits set: `--local` and the service's
coordinator steps each train candidates with their own recipe, and the final stage trains and records
the winner's."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from api_support import make_api
from pydantic import ValidationError
from service_drain import drain

from worker import engine_bridge
from worker.nas.evaluation.evaluator import TrainingEvaluator
from worker.nas.factory import make_space
from worker.nas.runner import run_local_search
from worker.nas.sink import MemorySink
from worker.nas.spaces.recipe import apply_recipe
from worker.nas.spec import parse_spec

RAW: dict[str, Any] = {
    "name": "recipe",
    "space": {"type": "layers", "max_depth": 3, "filters": [8, 16], "dense_units": [16], "head": "flatten"},
    "strategy": {"type": "regularized-evolution", "population_size": 3, "sample_size": 2},
    "dataset": {"name": "digits"},
    # constant schedule: each epoch's recorded lr is the candidate's own lr
    "training": {
        "epochs": 1,
        "schedule": "constant",
        "lr": {"log_uniform": [1.0e-3, 3.0e-2]},
        "batch_size": {"choices": [32, 64]},
    },
    "budget": {"max_candidates": 4},
    "final": {"top_k": 1, "epochs": 1},
    "seed": 0,
}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # shared cores
    yield
    torch.set_num_threads(before)


def check_card(card_path: str, best_genome: dict[str, Any]) -> None:
    card = json.loads(Path(card_path).read_text())
    recipe = best_genome["recipe"]
    assert card["recipe"] == recipe and card["genome"] == best_genome
    assert card["training"]["lr"] == recipe["lr"] and card["training"]["batch_size"] == recipe["batch_size"]


def test_local_search_trains_each_candidate_with_its_recipe_and_the_winner_with_its_own(
    tmp_path: Path,
) -> None:
    sink = MemorySink()
    summary = run_local_search(parse_spec(RAW), sink, artefact_dir=tmp_path)
    cands = list(sink.candidates.values())
    assert all(c["status"] == "done" for c in cands)
    recipes = [c["genome"]["recipe"] for c in cands]
    assert len({json.dumps(r, sort_keys=True) for r in recipes}) == len(cands)
    assert len({r["lr"] for r in recipes}) > 1
    for c in cands:  # the trainer ran at the genome's lr, not the spec's domain
        assert c["curve"][-1]["lr"] == pytest.approx(c["genome"]["recipe"]["lr"])
    assert summary["final"][0]["runs"][0]["status"] == "done"
    check_card(summary["artefacts"]["card"], summary["best"]["genome"])


def test_a_candidate_trains_augmented_in_the_search_only_where_the_recipe_searches_augment() -> None:
    searched = parse_spec({**RAW, "dataset": {"name": "digits", "augment": {"choices": [True, False]}}})
    space = make_space(searched)
    evaluator = TrainingEvaluator(searched, space)
    g = space.sample(random.Random(0))
    on = {**g, "recipe": {**g["recipe"], "augment": True}}
    off = {**g, "recipe": {**g["recipe"], "augment": False}}
    assert evaluator._augment(on, apply_recipe(searched, on)) is not None
    assert evaluator._augment(off, apply_recipe(searched, off)) is None
    fixed = parse_spec({**RAW, "dataset": {"name": "digits", "augment": True}})  # final training only
    fixed_space = make_space(fixed)
    h = fixed_space.sample(random.Random(0))
    assert TrainingEvaluator(fixed, fixed_space)._augment(h, apply_recipe(fixed, h)) is None


def test_augment_in_search_trains_every_candidate_augmented_as_the_final_recipe_does() -> None:
    spec = parse_spec({**RAW, "dataset": {"name": "digits", "augment": True, "augment_in_search": True}})
    space = make_space(spec)
    g = space.sample(random.Random(0))
    assert TrainingEvaluator(spec, space)._augment(g, apply_recipe(spec, g)) is not None


@pytest.mark.parametrize("augment", [False, {"choices": [True, False]}])
def test_augment_in_search_without_a_fixed_augment_is_refused_naming_the_field(augment: object) -> None:
    with pytest.raises(ValidationError, match="augment_in_search: needs augment: true"):
        parse_spec({**RAW, "dataset": {"name": "digits", "augment": augment, "augment_in_search": True}})


def test_the_service_runs_the_same_recipe_search_and_shows_the_recipe(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    created = api.client.post("/api/searches", json=RAW)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    stored = api.client.get(f"/api/searches/{sid}").json()["spec"]
    assert stored["training"]["lr"] == {"log_uniform": [0.001, 0.03]}

    settings = api.settings
    drain(sid, settings, engine_bridge.training_evaluator, engine_bridge.final_stage)

    search = api.client.get(f"/api/searches/{sid}").json()
    assert search["status"] == "completed", search
    items = api.client.get(f"/api/searches/{sid}/candidates").json()["items"]
    assert len(items) == 4 and all("lr=" in c["label"] and "batch_size=" in c["label"] for c in items)
    assert len({c["genome"]["recipe"]["lr"] for c in items}) > 1
    names = [col["name"] for col in api.client.get(f"/api/searches/{sid}/decisions").json()["decisions"]]
    assert "lr" in names
    best = next(c for c in items if c["id"] == search["result"]["candidate_id"])
    assert "lr=" in search["result"]["label"]
    cards = list(engine_bridge.search_artefact_dir(settings, sid).glob("best/model.json"))
    assert len(cards) == 1
    check_card(str(cards[0]), best["genome"])
