"""GET /api/searches/{id}/hypervolume: the front's volume after each evaluation, with its reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import NB201_SPEC, Api, finish, make_api, seed_search

from backend.db import repository
from backend.db.session import session_scope
from worker.nas.objectives import hypervolume

MULTI = {**NB201_SPEC, "objectives": [{"metric": "val_accuracy"}, {"metric": "params"}]}


@pytest.fixture()
def api(tmp_path: Path) -> Api:
    return make_api(tmp_path)


def _fail(api: Api, candidate_id: int) -> None:
    with session_scope(api.settings, write=True) as s:
        repository.finish_candidate(s, candidate_id, "failed", error="boom")


def test_hypervolume_steps_with_each_finished_candidate_against_the_stated_reference(api: Api) -> None:
    search_id, cands = seed_search(api.settings, MULTI, n=4)
    finish(api.settings, cands[0], 0.6, params=3e5)
    _fail(api, cands[1])
    finish(api.settings, cands[2], 0.9, params=2e5)  # dominates the first
    finish(api.settings, cands[3], 0.5, params=4e5)  # dominated: the volume stays
    body = api.client.get(f"/api/searches/{search_id}/hypervolume").json()
    assert body["objectives"] == ["val_accuracy", "params"] and body["goals"] == ["maximize", "minimize"]
    assert body["n_evaluations"] == 4 and body["reason"] is None
    # Worst accuracy 0.5 and worst size 4e5, each 1% of its range further out.
    assert body["reference"] == pytest.approx([0.5 - 0.004, 4e5 + 2e3])
    assert "worst value of each objective" in body["reference_rule"]
    ref = (0.496, -4.02e5)
    first, best = hypervolume([(0.6, -3e5)], ref), hypervolume([(0.9, -2e5)], ref)
    points = [(p["evaluation"], p["hypervolume"]) for p in body["points"]]
    assert points == [(1, pytest.approx(first)), (3, pytest.approx(best)), (4, pytest.approx(best))]


def test_a_given_reference_in_the_metrics_units_is_used_and_a_bad_one_is_422(api: Api) -> None:
    search_id, cands = seed_search(api.settings, MULTI, n=1)
    finish(api.settings, cands[0], 0.8, params=1e5)
    body = api.client.get(f"/api/searches/{search_id}/hypervolume", params={"ref": "0.5,2e5"}).json()
    assert body["reference"] == pytest.approx([0.5, 2e5]) and "ref" in body["reference_rule"]
    assert body["points"][-1]["hypervolume"] == pytest.approx(0.3 * 1e5)
    for bad in ("0.5", "0.5,x", "0.5,inf"):
        r = api.client.get(f"/api/searches/{search_id}/hypervolume", params={"ref": bad})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "query.ref"


def test_single_objective_and_empty_searches_say_why_there_is_no_curve(api: Api) -> None:
    single, cands = seed_search(api.settings, n=1)
    finish(api.settings, cands[0], 0.8)
    body = api.client.get(f"/api/searches/{single}/hypervolume").json()
    assert body["points"] == [] and "single objective" in body["reason"]
    empty, _ = seed_search(api.settings, MULTI, n=1)
    body = api.client.get(f"/api/searches/{empty}/hypervolume").json()
    assert body["points"] == [] and body["reference"] is None and "no feasible" in body["reason"]
    assert api.client.get("/api/searches/999/hypervolume").status_code == 404


def test_an_unchanged_search_is_computed_once_and_a_finished_candidate_recomputes(api: Api) -> None:
    search_id, cands = seed_search(api.settings, MULTI, n=3)
    finish(api.settings, cands[0], 0.6, params=3e5)
    cache = api.client.app.state.hypervolumes
    url = f"/api/searches/{search_id}/hypervolume"
    first = api.client.get(url).json()
    assert api.client.get(url).json() == first and cache.computed == 1
    assert api.client.get(f"{url}?ref=0.1,1e6").json()["reference"] == [0.1, 1e6] and cache.computed == 2
    finish(api.settings, cands[1], 0.9, params=2e5)
    assert api.client.get(url).json()["n_evaluations"] == 2 and cache.computed == 3
